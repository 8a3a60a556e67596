/* What pcipassctl knows about the devices pcipassd publishes. */
#include "config.h"

#include "pp-ctl-inventory.h"

#include "pp-address.h"

#include <string.h>

#define PP_DEVICE_PATH_PREFIX PP_OBJECT_ROOT "/devices/pci_"
#define PP_DEVICE_INTERFACE "io.github.pcipassd1.Device"

static void
group_free (gpointer data)
{
  PpCtlGroup *group = data;

  g_ptr_array_unref (group->devices);
  g_free (group);
}

struct _PpCtlDevice
{
  GDBusConnection *bus; /* the inventory's */
  const char *path;     /* borrowed from the inventory's reply, as below */
  const char *address;
  guint16 vendor_id;
  guint16 device_id;
  guint16 subsystem_vendor_id;
  guint16 subsystem_device_id;
  guchar revision;
  guint32 class_code;
  const char *vendor_name;
  const char *device_name;
  const char *type;
  const char *driver;
  const char *driver_override;
  const char *original_driver;
  const char *state;
  gint32 iommu_group;
  const char **iommu_group_devices; /* shallow: the strings are the reply's */
  gboolean group_viable;
  gint32 numa_node;
  const char *physical_function;
  const char **virtual_functions;
  gboolean boot_vga;
  const char **reset_methods;
  const char *protection_reason;
};

static void
device_free (PpCtlDevice *device)
{
  g_free (device->iommu_group_devices);
  g_free (device->virtual_functions);
  g_free (device->reset_methods);
  g_free (device);
}

static const char *
lookup_string (GVariant *props, const char *name, const char *type)
{
  const char *value = "";

  g_variant_lookup (props, name, type, &value);
  return value;
}

static const char **
lookup_strv (GVariant *props, const char *name, const char *type)
{
  g_autoptr (GVariant) value
      = g_variant_lookup_value (props, name, G_VARIANT_TYPE (type));

  if (value == NULL)
    return g_new0 (const char *, 1);
  return g_str_equal (type, "ao") ? g_variant_get_objv (value, NULL)
                                  : g_variant_get_strv (value, NULL);
}

/* Reads @props, an a{sv} that stays alive (in the reply) as long as the
 * device: strings are borrowed from it. */
static PpCtlDevice *
device_new (GDBusConnection *bus, const char *path, GVariant *props)
{
  PpCtlDevice *d = g_new0 (PpCtlDevice, 1);

  d->bus = bus;
  d->path = path;
  d->address = lookup_string (props, "Address", "&s");
  g_variant_lookup (props, "VendorId", "q", &d->vendor_id);
  g_variant_lookup (props, "DeviceId", "q", &d->device_id);
  g_variant_lookup (props, "SubsystemVendorId", "q", &d->subsystem_vendor_id);
  g_variant_lookup (props, "SubsystemDeviceId", "q", &d->subsystem_device_id);
  g_variant_lookup (props, "Revision", "y", &d->revision);
  g_variant_lookup (props, "ClassCode", "u", &d->class_code);
  d->vendor_name = lookup_string (props, "VendorName", "&s");
  d->device_name = lookup_string (props, "DeviceName", "&s");
  d->type = lookup_string (props, "Type", "&s");
  d->driver = lookup_string (props, "Driver", "&s");
  d->driver_override = lookup_string (props, "DriverOverride", "&s");
  d->original_driver = lookup_string (props, "OriginalDriver", "&s");
  d->state = lookup_string (props, "State", "&s");
  d->iommu_group = -1;
  g_variant_lookup (props, "IommuGroup", "i", &d->iommu_group);
  d->iommu_group_devices = lookup_strv (props, "IommuGroupDevices", "ao");
  g_variant_lookup (props, "GroupViable", "b", &d->group_viable);
  d->numa_node = -1;
  g_variant_lookup (props, "NumaNode", "i", &d->numa_node);
  d->physical_function = lookup_string (props, "PhysicalFunction", "&o");
  d->virtual_functions = lookup_strv (props, "VirtualFunctions", "ao");
  g_variant_lookup (props, "BootVga", "b", &d->boot_vga);
  d->reset_methods = lookup_strv (props, "ResetMethods", "as");
  d->protection_reason = lookup_string (props, "ProtectionReason", "&s");
  return d;
}

#define GETTER(type, name, field)                                              \
  type pp_ctl_device_get_##name (PpCtlDevice *device)                          \
  {                                                                            \
    return device->field;                                                      \
  }

GVariant *
pp_ctl_device_call (PpCtlDevice *device,
                    const char *method,
                    GVariant *parameters,
                    GDBusCallFlags flags,
                    int timeout_msec,
                    GCancellable *cancellable,
                    GError **error)
{
  return g_dbus_connection_call_sync (
      device->bus, PP_BUS_NAME, device->path, PP_DEVICE_INTERFACE, method,
      parameters, NULL, flags, timeout_msec, cancellable, error);
}

GETTER (const char *, path, path)
GETTER (const char *, address, address)
GETTER (guint16, vendor_id, vendor_id)
GETTER (guint16, device_id, device_id)
GETTER (guint16, subsystem_vendor_id, subsystem_vendor_id)
GETTER (guint16, subsystem_device_id, subsystem_device_id)
GETTER (guchar, revision, revision)
GETTER (guint, class_code, class_code)
GETTER (const char *, vendor_name, vendor_name)
GETTER (const char *, device_name, device_name)
GETTER (const char *, type_, type)
GETTER (const char *, driver, driver)
GETTER (const char *, driver_override, driver_override)
GETTER (const char *, original_driver, original_driver)
GETTER (const char *, state, state)
GETTER (gint, iommu_group, iommu_group)
GETTER (const char *const *, iommu_group_devices, iommu_group_devices)
GETTER (gboolean, group_viable, group_viable)
GETTER (gint, numa_node, numa_node)
GETTER (const char *, physical_function, physical_function)
GETTER (const char *const *, virtual_functions, virtual_functions)
GETTER (gboolean, boot_vga, boot_vga)
GETTER (const char *const *, reset_methods, reset_methods)
GETTER (const char *, protection_reason, protection_reason)

const char *
pp_ctl_str (const char *value)
{
  return value != NULL ? value : "";
}

const char *
pp_ctl_device_name (PpCtlDevice *device)
{
  const char *name = pp_ctl_str (pp_ctl_device_get_device_name (device));

  if (*name == '\0')
    name = pp_ctl_str (pp_ctl_device_get_vendor_name (device));
  return name;
}

/* "…/pci_0000_01_00_0" -> "0000:01:00.0", or NULL if @path is not one. */
static char *
address_from_path (const char *path)
{
  g_autofree char *text = NULL;
  char *last;

  if (!g_str_has_prefix (path, PP_DEVICE_PATH_PREFIX))
    return NULL;
  text = g_strdup (path + strlen (PP_DEVICE_PATH_PREFIX));
  last = strrchr (text, '_');
  if (last == NULL)
    return NULL;
  *last = '.';
  g_strdelimit (text, "_", ':');
  return pp_address_normalize (text, FALSE, NULL);
}

static int
compare_devices (gconstpointer a, gconstpointer b, gpointer user_data)
{
  PpCtlInventory *inventory = user_data;
  PpCtlDevice *da = *(PpCtlDevice *const *) a;
  PpCtlDevice *db = *(PpCtlDevice *const *) b;

  return pp_address_str_compare (pp_ctl_inventory_address (inventory, da),
                                 pp_ctl_inventory_address (inventory, db));
}

PpCtlInventory *
pp_ctl_inventory_load (GError **error)
{
  g_autoptr (PpCtlInventory) inventory = g_new0 (PpCtlInventory, 1);
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GError) local = NULL;
  GVariantIter iter;
  const char *path;
  GVariant *ifaces;

  inventory->devices
      = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  inventory->path_address
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  inventory->bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local);
  if (inventory->bus == NULL)
    {
      g_dbus_error_strip_remote_error (local);
      g_set_error (error, local->domain, local->code,
                   "cannot connect to the system bus: %s", local->message);
      return NULL;
    }

  /* Auto-start allowed: a D-Bus activatable daemon is started here. */
  inventory->reply = g_dbus_connection_call_sync (
      inventory->bus, PP_BUS_NAME, PP_OBJECT_ROOT,
      "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
      G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
      &local);
  if (inventory->reply == NULL)
    {
      if (g_error_matches (local, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
          || g_error_matches (local, G_DBUS_ERROR,
                              G_DBUS_ERROR_NAME_HAS_NO_OWNER))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                       "pcipassd is not running on the system bus "
                       "(nobody owns %s)",
                       PP_BUS_NAME);
          return NULL;
        }
      g_dbus_error_strip_remote_error (local);
      g_set_error (error, local->domain, local->code,
                   "cannot talk to pcipassd: %s", local->message);
      return NULL;
    }

  objects = g_variant_get_child_value (inventory->reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) owned = ifaces;
      g_autoptr (GVariant) props = g_variant_lookup_value (
          ifaces, PP_DEVICE_INTERFACE, G_VARIANT_TYPE_VARDICT);
      PpCtlDevice *device;
      char *derived;

      if (props == NULL)
        continue;
      /* The reply keeps the a{sv} alive; the device borrows from it. */
      device = device_new (inventory->bus, path, props);
      derived = address_from_path (path);
      g_hash_table_insert (inventory->path_address, g_strdup (path),
                           *device->address != '\0' ? g_strdup (device->address)
                           : derived != NULL        ? g_strdup (derived)
                                                    : g_strdup (path));
      g_free (derived);
      g_ptr_array_add (inventory->devices, device);
    }

  g_ptr_array_sort_with_data (inventory->devices, compare_devices, inventory);
  return g_steal_pointer (&inventory);
}

void
pp_ctl_inventory_free (PpCtlInventory *inventory)
{
  if (inventory == NULL)
    return;
  g_clear_pointer (&inventory->devices, g_ptr_array_unref);
  g_clear_pointer (&inventory->path_address, g_hash_table_unref);
  g_clear_pointer (&inventory->reply, g_variant_unref);
  g_clear_object (&inventory->bus);
  g_free (inventory);
}

PpCtlDevice *
pp_ctl_inventory_lookup (PpCtlInventory *inventory, const char *address)
{
  g_autofree char *path = pp_address_to_object_path (address);

  for (guint i = 0; i < inventory->devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (inventory->devices, i);

      if (g_strcmp0 (pp_ctl_device_get_path (device), path) == 0)
        return device;
    }
  return NULL;
}

const char *
pp_ctl_inventory_path_address (PpCtlInventory *inventory, const char *path)
{
  const char *known = g_hash_table_lookup (inventory->path_address, path);
  char *derived;

  if (known != NULL)
    return known;

  /* A member the daemon named but did not publish (yet): spell its
   * address from the path, and remember the answer. */
  derived = address_from_path (path);
  if (derived == NULL)
    derived = g_strdup (path);
  g_hash_table_insert (inventory->path_address, g_strdup (path), derived);
  return derived;
}

const char *
pp_ctl_inventory_address (PpCtlInventory *inventory, PpCtlDevice *device)
{
  return pp_ctl_inventory_path_address (inventory,
                                        pp_ctl_device_get_path (device));
}

static int
compare_groups (gconstpointer a, gconstpointer b)
{
  const PpCtlGroup *ga = *(const PpCtlGroup *const *) a;
  const PpCtlGroup *gb = *(const PpCtlGroup *const *) b;

  /* Numbered groups ascending, the no-group entry (-1) last. */
  if (ga->number < 0 || gb->number < 0)
    return (ga->number < 0) - (gb->number < 0);
  return (ga->number > gb->number) - (ga->number < gb->number);
}

GPtrArray *
pp_ctl_inventory_groups (PpCtlInventory *inventory)
{
  g_autoptr (GHashTable) by_number = g_hash_table_new (NULL, NULL);
  GPtrArray *groups = g_ptr_array_new_with_free_func (group_free);

  /* Devices are sorted, so each group's members come out sorted too. */
  for (guint i = 0; i < inventory->devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (inventory->devices, i);
      int number = MAX (pp_ctl_device_get_iommu_group (device), -1);
      PpCtlGroup *group
          = g_hash_table_lookup (by_number, GINT_TO_POINTER (number));

      if (group == NULL)
        {
          group = g_new0 (PpCtlGroup, 1);
          group->number = number;
          group->viable = number >= 0;
          group->devices = g_ptr_array_new ();
          g_hash_table_insert (by_number, GINT_TO_POINTER (number), group);
          g_ptr_array_add (groups, group);
        }
      g_ptr_array_add (group->devices, device);
      if (!pp_ctl_device_get_group_viable (device))
        group->viable = FALSE;
    }

  g_ptr_array_sort (groups, compare_groups);
  return groups;
}
