/* PpRegistry: every PCI function of the host, as PpDevice objects.
 *
 * The model's root: it reads sysfs through PpSysfs, names devices from
 * the hardware database, and keeps the IOMMU group table current.  It
 * knows nothing of D-Bus; exporters follow its "device-added" signal.
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

/* Reads every device from sysfs, once each, and builds the group table.
 * Emits "device-added" for each new device. */
gboolean pp_registry_enumerate (PpRegistry *self, GError **error);

/* All devices sorted by address; the array holds references. */
GPtrArray *pp_registry_get_devices (PpRegistry *self);

/* The device at canonical @address, or NULL (borrowed). */
PpDevice *pp_registry_lookup (PpRegistry *self, const char *address);

guint pp_registry_get_n_devices (PpRegistry *self);

G_END_DECLS
