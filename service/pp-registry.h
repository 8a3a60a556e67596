/* PpRegistry: every PCI function of the host, as PpDevice objects.
 *
 * The model's root: it reads sysfs through PpSysfs, names devices from
 * the hardware database, and keeps the IOMMU group table current.  It
 * knows nothing of D-Bus; exporters follow its "device-added",
 * "device-removed" and "changes-done" signals, and the model's other
 * parts give each new device what they know with "device-created".
 */
#pragma once

#include "pp-device.h"
#include "pp-hwdb.h"
#include "pp-sysfs.h"

G_BEGIN_DECLS

#define PP_TYPE_REGISTRY (pp_registry_get_type ())
G_DECLARE_FINAL_TYPE (PpRegistry, pp_registry, PP, REGISTRY, GObject)

/* Takes its own reference on @sysfs; @hwdb may be NULL (no names). */
PpRegistry *pp_registry_new (PpSysfs *sysfs, PpHwdb *hwdb);

/* Reads every device from sysfs, once each, and builds the group table;
 * again later, reconciles: updates what changed, adds what is new
 * ("device-added"), drops what is gone ("device-removed"). */
gboolean pp_registry_enumerate (PpRegistry *self, GError **error);

/* All devices sorted by address; the array holds references. */
GPtrArray *pp_registry_get_devices (PpRegistry *self);

/* The device at canonical @address, or NULL (borrowed). */
PpDevice *pp_registry_lookup (PpRegistry *self, const char *address);

guint pp_registry_get_n_devices (PpRegistry *self);

/* Members of IOMMU group @group sorted by address (borrowed), or NULL. */
GPtrArray *pp_registry_get_group_members (PpRegistry *self, int group);

/* Re-reads one device from sysfs and publishes what changed, its group's
 * included; a device that is gone is removed ("device-removed"). */
void pp_registry_refresh_device (PpRegistry *self, const char *address);

/* Follows one uevent (from PpMonitor): add and remove create and drop
 * devices, bind, unbind and change re-read the device, vfio events update
 * which groups are open; an event for an unknown device re-reads all. */
void pp_registry_handle_uevent (PpRegistry *self,
                                const char *action,
                                const char *subsystem,
                                const char *sysname,
                                const char *syspath);

/* Uevents handled between begin and end (they nest) are published at the
 * end, with what each would repeat done once for all: re-reading a PF
 * whose VFs came or went, refreshing a group, looking at mounts, routes
 * and /proc.  A burst of events (a PF creating 255 VFs) costs about as
 * much as its events, not their square. */
void pp_registry_begin_batch (PpRegistry *self);
void pp_registry_end_batch (PpRegistry *self);

/* Re-evaluates what sysfs events do not announce: which devices the host
 * depends on (ProtectionReason) and which VFIO groups are open (State
 * "in-use"). */
void pp_registry_update_host_state (PpRegistry *self);

/* The device catalog (pp-catalog.h) read from @path (NULL: none). */
void pp_registry_set_catalog_file (PpRegistry *self, const char *path);

/* (Re)reads the catalog file and gives every device its ResourceName and
 * Type, in one batch.  A bad file leaves the previous catalog in force
 * and its message as the catalog error until a good one loads; either
 * way "catalog-loaded" is emitted.  Leases are not touched. */
gboolean pp_registry_reload_catalog (PpRegistry *self, GError **error);

/* The last load's error message, "" after a good load. */
const char *pp_registry_get_catalog_error (PpRegistry *self);

typedef struct
{
  guint total; /* devices present with the resource name */
  guint free;  /* of them, what Allocate may hand out (pp_device_is_free) */
} PpResourceCount;

/* Resource name (borrowed from the devices) -> PpResourceCount. */
GHashTable *pp_registry_count_resources (PpRegistry *self);

/* From a "device-created" handler: @device is not announced
 * ("device-added") until pp_registry_release_device(), so that clients
 * never see it in a state it is about to leave.  A held device that goes
 * meanwhile is never announced, nor its removal. */
void pp_registry_hold_device (PpRegistry *self, PpDevice *device);
void pp_registry_release_device (PpRegistry *self, PpDevice *device);

G_END_DECLS
