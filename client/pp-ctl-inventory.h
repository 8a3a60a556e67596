/* What pcipassctl knows about the devices pcipassd publishes.
 *
 * One GetManagedObjects call, read with sd-bus in place; every property
 * is then read from its reply.  No proxy, property cache or signal subscription
 * per device: a host of thousands of functions costs the client little more
 * than the reply itself.
 */
#pragma once

#include <gio/gio.h>
#include <systemd/sd-bus.h>

G_BEGIN_DECLS

/* One device object as GetManagedObjects described it. */
typedef struct _PpCtlDevice PpCtlDevice;

typedef struct
{
  GDBusConnection *bus;
  gpointer reply;           /* the sd_bus_message GetManagedObjects gave */
  GPtrArray *devices;       /* (element-type PpCtlDevice): by address */
  GHashTable *path_address; /* object path -> canonical address */
} PpCtlInventory;

/* An IOMMU group and its members, as seen through the devices. */
typedef struct
{
  int number;         /* -1: the devices that have no IOMMU group */
  gboolean viable;    /* every member reports GroupViable */
  GPtrArray *devices; /* (element-type PpCtlDevice): by address */
} PpCtlGroup;

/* A connection to the system bus for a call read with sd-bus, or NULL
 * with an error fit for the user. */
sd_bus *pp_ctl_sd_bus_open (GError **error);

/* TRUE, with the error pcipassctl gives for it, when @bus_error says
 * nobody owns pcipassd's name. */
gboolean pp_ctl_sd_bus_not_running (const sd_bus_error *bus_error,
                                    GError **error);

/* The same for a GDBus call's *@error: replaced by that error when it
 * says nobody owns pcipassd's name, else left alone. */
void pp_ctl_gdbus_not_running (GError **error);

/* Connects to the system bus and reads all device objects.  Fails with a
 * message fit for the user when the bus or the daemon is not there. */
PpCtlInventory *pp_ctl_inventory_load (GError **error);

void pp_ctl_inventory_free (PpCtlInventory *inventory);

/* Loads the inventory and finds the device @text names (DDDD:BB:SS.F or
 * BB:SS.F): a bad address is a G_OPTION_ERROR (usage), an unknown one
 * G_IO_ERROR_NOT_FOUND.  *@inventory is set whenever it loaded. */
PpCtlDevice *pp_ctl_inventory_load_device (const char *text,
                                           PpCtlInventory **inventory,
                                           GError **error);

/* The device at canonical @address, or NULL (no new reference). */
PpCtlDevice *pp_ctl_inventory_lookup (PpCtlInventory *inventory,
                                      const char *address);

/* The address of the device at @path: its Address property when the
 * object is known, else the address spelled by the path, else @path
 * itself.  Never NULL; valid as long as @inventory. */
const char *pp_ctl_inventory_path_address (PpCtlInventory *inventory,
                                           const char *path);

/* The address of @device (see pp_ctl_inventory_path_address()). */
const char *pp_ctl_inventory_address (PpCtlInventory *inventory,
                                      PpCtlDevice *device);

/* The IOMMU groups by number, then one entry with number -1 for the
 * devices without a group (only if there are any). */
GPtrArray *pp_ctl_inventory_groups (PpCtlInventory *inventory);

/* Why @group is not viable: its members on a host driver (one that does
 * not manage DMA, pp-driver.h), by address, borrowed.  Empty for a
 * viable group and for the devices without a group. */
GPtrArray *pp_ctl_group_blocking (PpCtlGroup *group);

/* What would make @group viable, as a sentence, or NULL when nothing
 * would: @blocking (from pp_ctl_group_blocking()) is empty. */
char *pp_ctl_group_remedy (PpCtlInventory *inventory,
                           PpCtlGroup *group,
                           GPtrArray *blocking);

/* NULL-safe: "" for NULL. */
const char *pp_ctl_str (const char *value);
const char *pp_ctl_device_name (PpCtlDevice *device);

/* The device's object path, and its properties as the daemon sent them.
 * A property the daemon did not send reads as "", 0, -1 (IommuGroup,
 * NumaNode), FALSE or an empty array.  Strings are valid as long as the
 * inventory. */
const char *pp_ctl_device_get_path (PpCtlDevice *device);

/* Calls @method of the device's io.github.pcipassd1.Device interface, as
 * g_dbus_connection_call_sync() does. */
GVariant *pp_ctl_device_call (PpCtlDevice *device,
                              const char *method,
                              GVariant *parameters,
                              GDBusCallFlags flags,
                              int timeout_msec,
                              GCancellable *cancellable,
                              GError **error);
const char *pp_ctl_device_get_address (PpCtlDevice *device);
guint16 pp_ctl_device_get_vendor_id (PpCtlDevice *device);
guint16 pp_ctl_device_get_device_id (PpCtlDevice *device);
guint16 pp_ctl_device_get_subsystem_vendor_id (PpCtlDevice *device);
guint16 pp_ctl_device_get_subsystem_device_id (PpCtlDevice *device);
guchar pp_ctl_device_get_revision (PpCtlDevice *device);
guint pp_ctl_device_get_class_code (PpCtlDevice *device);
const char *pp_ctl_device_get_vendor_name (PpCtlDevice *device);
const char *pp_ctl_device_get_device_name (PpCtlDevice *device);
const char *pp_ctl_device_get_type_ (PpCtlDevice *device);
const char *pp_ctl_device_get_driver (PpCtlDevice *device);
const char *pp_ctl_device_get_driver_override (PpCtlDevice *device);
const char *pp_ctl_device_get_original_driver (PpCtlDevice *device);
const char *pp_ctl_device_get_state (PpCtlDevice *device);
gint pp_ctl_device_get_iommu_group (PpCtlDevice *device);
const char *const *pp_ctl_device_get_iommu_group_devices (PpCtlDevice *device);
gboolean pp_ctl_device_get_group_viable (PpCtlDevice *device);
gint pp_ctl_device_get_numa_node (PpCtlDevice *device);
const char *pp_ctl_device_get_physical_function (PpCtlDevice *device);
const char *const *pp_ctl_device_get_virtual_functions (PpCtlDevice *device);
gboolean pp_ctl_device_get_boot_vga (PpCtlDevice *device);
const char *const *pp_ctl_device_get_reset_methods (PpCtlDevice *device);
const char *pp_ctl_device_get_protection_reason (PpCtlDevice *device);
const char *pp_ctl_device_get_resource_name (PpCtlDevice *device);
const char *pp_ctl_device_get_owner (PpCtlDevice *device);
gboolean pp_ctl_device_get_persistent (PpCtlDevice *device);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpCtlInventory, pp_ctl_inventory_free)

G_END_DECLS
