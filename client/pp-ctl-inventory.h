/* What pcipassctl knows about the devices pcipassd publishes.
 *
 * One GetManagedObjects round trip through the generated ObjectManager
 * client; after that every property is read from the proxies' cache.
 */
#pragma once

#include "pp-dbus-generated.h"

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  GDBusObjectManager *manager;
  GPtrArray *devices;       /* (element-type PpDbusDevice): by address */
  GHashTable *path_address; /* object path -> canonical address */
} PpCtlInventory;

/* An IOMMU group and its members, as seen through the devices. */
typedef struct
{
  int number;         /* -1: the devices that have no IOMMU group */
  gboolean viable;    /* every member reports GroupViable */
  GPtrArray *devices; /* (element-type PpDbusDevice): by address */
} PpCtlGroup;

/* Connects to the system bus and reads all device objects.  Fails with a
 * message fit for the user when the bus or the daemon is not there. */
PpCtlInventory *pp_ctl_inventory_load (GError **error);

void pp_ctl_inventory_free (PpCtlInventory *inventory);

/* The device at canonical @address, or NULL (no new reference). */
PpDbusDevice *pp_ctl_inventory_lookup (PpCtlInventory *inventory,
                                       const char *address);

/* The address of the device at @path: its Address property when the
 * object is known, else the address spelled by the path, else @path
 * itself.  Never NULL; valid as long as @inventory. */
const char *pp_ctl_inventory_path_address (PpCtlInventory *inventory,
                                           const char *path);

/* The address of @device (see pp_ctl_inventory_path_address()). */
const char *pp_ctl_inventory_address (PpCtlInventory *inventory,
                                      PpDbusDevice *device);

/* The IOMMU groups by number, then one entry with number -1 for the
 * devices without a group (only if there are any). */
GPtrArray *pp_ctl_inventory_groups (PpCtlInventory *inventory);

/* NULL-safe property helpers: the generated getters return NULL for a
 * property the daemon did not send. */
const char *pp_ctl_str (const char *value);
const char *pp_ctl_device_name (PpDbusDevice *device);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpCtlInventory, pp_ctl_inventory_free)

G_END_DECLS
