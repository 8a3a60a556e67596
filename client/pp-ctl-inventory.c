/* What pcipassctl knows about the devices pcipassd publishes. */
#include "config.h"

#include "pp-ctl-inventory.h"

#include "pp-address.h"
#include "pp-driver.h"

#include <systemd/sd-bus.h>

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
  /* Paths of the other members of its group, shallow: the daemon lists no
   * peers per device, the inventory works them out from IommuGroup. */
  const char **iommu_group_devices;
  gboolean group_viable;
  gint32 numa_node;
  const char *physical_function;
  const char **virtual_functions;
  gboolean boot_vga;
  const char **reset_methods;
  const char *protection_reason;
  const char *resource_name;
  const char *owner;
  gboolean persistent;
};

static void
device_free (PpCtlDevice *device)
{
  g_free (device->iommu_group_devices);
  g_free (device->virtual_functions);
  g_free (device->reset_methods);
  g_free (device);
}

/* A NULL-terminated array of the strings in the array (ao or as) the
 * message is at; they stay the message's. */
static int
read_string_array (sd_bus_message *m, char type, const char ***out)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new ();
  char signature[2] = { type, '\0' };
  const char *item;
  int r;

  r = sd_bus_message_enter_container (m, 'a', signature);
  if (r < 0)
    return r;
  while ((r = sd_bus_message_read_basic (m, type, &item)) > 0)
    g_ptr_array_add (items, (gpointer) item);
  if (r < 0)
    return r;
  g_ptr_array_add (items, NULL);
  g_free (*out);
  *out = (const char **) g_ptr_array_free (g_steal_pointer (&items), FALSE);
  return sd_bus_message_exit_container (m);
}

/* One property of a device, the message being at its variant; a property
 * of another type than expected (or unknown) is skipped. */
static int
read_property (sd_bus_message *m, PpCtlDevice *d, const char *name)
{
  static const struct
  {
    const char *name;
    const char *type;
    gsize offset;
  } fields[] = {
#define F(n, t, f) { n, t, G_STRUCT_OFFSET (PpCtlDevice, f) }
    F ("Address", "s", address),
    F ("VendorId", "q", vendor_id),
    F ("DeviceId", "q", device_id),
    F ("SubsystemVendorId", "q", subsystem_vendor_id),
    F ("SubsystemDeviceId", "q", subsystem_device_id),
    F ("Revision", "y", revision),
    F ("ClassCode", "u", class_code),
    F ("VendorName", "s", vendor_name),
    F ("DeviceName", "s", device_name),
    F ("Type", "s", type),
    F ("Driver", "s", driver),
    F ("DriverOverride", "s", driver_override),
    F ("OriginalDriver", "s", original_driver),
    F ("State", "s", state),
    F ("IommuGroup", "i", iommu_group),
    F ("GroupViable", "b", group_viable),
    F ("NumaNode", "i", numa_node),
    F ("PhysicalFunction", "o", physical_function),
    F ("VirtualFunctions", "ao", virtual_functions),
    F ("BootVga", "b", boot_vga),
    F ("ResetMethods", "as", reset_methods),
    F ("ProtectionReason", "s", protection_reason),
    F ("ResourceName", "s", resource_name),
    F ("Owner", "s", owner),
    F ("Persistent", "b", persistent),
#undef F
  };
  const char *contents = NULL;
  char type;
  int r;

  r = sd_bus_message_peek_type (m, &type, &contents);
  if (r < 0)
    return r;
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      gpointer field;

      if (!g_str_equal (fields[i].name, name)
          || g_strcmp0 (fields[i].type, contents) != 0)
        continue;
      field = G_STRUCT_MEMBER_P (d, fields[i].offset);
      r = sd_bus_message_enter_container (m, 'v', contents);
      if (r < 0)
        return r;
      if (contents[0] == 'a')
        r = read_string_array (m, contents[1], field);
      else if (contents[0] == 'b')
        {
          int value;

          r = sd_bus_message_read_basic (m, 'b', &value);
          *(gboolean *) field = value != 0;
        }
      else
        r = sd_bus_message_read_basic (m, contents[0], field);
      if (r < 0)
        return r;
      return sd_bus_message_exit_container (m);
    }
  return sd_bus_message_skip (m, "v");
}

static int
read_device (sd_bus_message *m, PpCtlDevice *d)
{
  const char *name;
  int r;

  r = sd_bus_message_enter_container (m, 'a', "{sv}");
  if (r < 0)
    return r;
  while ((r = sd_bus_message_enter_container (m, 'e', "sv")) > 0)
    {
      r = sd_bus_message_read_basic (m, 's', &name);
      if (r >= 0)
        r = read_property (m, d, name);
      if (r >= 0)
        r = sd_bus_message_exit_container (m);
      if (r < 0)
        return r;
    }
  if (r < 0)
    return r;
  return sd_bus_message_exit_container (m);
}

static PpCtlDevice *
device_new (GDBusConnection *bus, const char *path)
{
  PpCtlDevice *d = g_new0 (PpCtlDevice, 1);

  d->bus = bus;
  d->path = path;
  d->address = d->vendor_name = d->device_name = d->type = "";
  d->driver = d->driver_override = d->original_driver = d->state = "";
  d->physical_function = d->protection_reason = "";
  d->resource_name = d->owner = "";
  d->iommu_group = -1;
  d->numa_node = -1;
  d->iommu_group_devices = g_new0 (const char *, 1);
  d->virtual_functions = g_new0 (const char *, 1);
  d->reset_methods = g_new0 (const char *, 1);
  return d;
}

/* Every device object of the reply: the object path, then its
 * interfaces; only io.github.pcipassd1.Device is read. */
static int
read_objects (PpCtlInventory *inventory, sd_bus_message *m)
{
  const char *path;
  const char *iface;
  int r;

  r = sd_bus_message_enter_container (m, 'a', "{oa{sa{sv}}}");
  if (r < 0)
    return r;
  while ((r = sd_bus_message_enter_container (m, 'e', "oa{sa{sv}}")) > 0)
    {
      r = sd_bus_message_read_basic (m, 'o', &path);
      if (r >= 0)
        r = sd_bus_message_enter_container (m, 'a', "{sa{sv}}");
      while (r >= 0
             && (r = sd_bus_message_enter_container (m, 'e', "sa{sv}")) > 0)
        {
          r = sd_bus_message_read_basic (m, 's', &iface);
          if (r >= 0 && g_str_equal (iface, PP_DEVICE_INTERFACE))
            {
              PpCtlDevice *device = device_new (inventory->bus, path);

              g_ptr_array_add (inventory->devices, device);
              r = read_device (m, device);
            }
          else if (r >= 0)
            r = sd_bus_message_skip (m, "a{sv}");
          if (r >= 0)
            r = sd_bus_message_exit_container (m);
        }
      if (r >= 0)
        r = sd_bus_message_exit_container (m);
      if (r >= 0)
        r = sd_bus_message_exit_container (m);
      if (r < 0)
        return r;
    }
  if (r < 0)
    return r;
  return sd_bus_message_exit_container (m);
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

#define GETTER(type, name, field)                                              \
  type pp_ctl_device_get_##name (PpCtlDevice *device)                          \
  {                                                                            \
    return device->field;                                                      \
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
GETTER (const char *, resource_name, resource_name)
GETTER (const char *, owner, owner)
GETTER (gboolean, persistent, persistent)

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

/* Each device's group peers, from the groups the devices' IommuGroup
 * numbers make; members are in address order, so the peers are too. */
static void
fill_group_peers (PpCtlInventory *inventory)
{
  g_autoptr (GPtrArray) groups = pp_ctl_inventory_groups (inventory);

  for (guint g = 0; g < groups->len; g++)
    {
      PpCtlGroup *group = g_ptr_array_index (groups, g);
      GPtrArray *members = group->devices;

      if (group->number < 0)
        continue;
      for (guint i = 0; i < members->len; i++)
        {
          PpCtlDevice *device = g_ptr_array_index (members, i);
          guint n = 0;

          g_free (device->iommu_group_devices);
          device->iommu_group_devices = g_new0 (const char *, members->len);
          for (guint j = 0; j < members->len; j++)
            if (j != i)
              device->iommu_group_devices[n++]
                  = ((PpCtlDevice *) g_ptr_array_index (members, j))->path;
        }
    }
}

sd_bus *
pp_ctl_sd_bus_open (GError **error)
{
  sd_bus *bus = NULL;
  int r = sd_bus_open_system (&bus);

  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                   "cannot connect to the system bus: %s", g_strerror (-r));
      return NULL;
    }
  return bus;
}

#define SERVICE_UNKNOWN "org.freedesktop.DBus.Error.ServiceUnknown"
#define NAME_HAS_NO_OWNER "org.freedesktop.DBus.Error.NameHasNoOwner"

static void
set_not_running (GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
               "pcipassd is not running on the system bus (nobody owns %s)",
               PP_BUS_NAME);
}

gboolean
pp_ctl_sd_bus_not_running (const sd_bus_error *bus_error, GError **error)
{
  if (!sd_bus_error_has_names (bus_error, SERVICE_UNKNOWN, NAME_HAS_NO_OWNER))
    return FALSE;
  set_not_running (error);
  return TRUE;
}

void
pp_ctl_gdbus_not_running (GError **error)
{
  g_autofree char *remote = NULL;

  if (error == NULL || *error == NULL || !g_dbus_error_is_remote_error (*error))
    return;
  remote = g_dbus_error_get_remote_error (*error);
  if (g_strcmp0 (remote, SERVICE_UNKNOWN) == 0
      || g_strcmp0 (remote, NAME_HAS_NO_OWNER) == 0)
    {
      g_clear_error (error);
      set_not_running (error);
    }
}

PpCtlInventory *
pp_ctl_inventory_load (GError **error)
{
  g_autoptr (PpCtlInventory) inventory = g_new0 (PpCtlInventory, 1);
  g_autoptr (GError) local = NULL;

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

  /* The reply is read with sd-bus, which walks the message in place:
   * GDBus would first turn it into a tree of a GVariant per value,
   * hundreds of thousands on a large host.  Auto-start is allowed, so a
   * D-Bus activatable daemon is started here. */
  {
    sd_bus *sdbus = pp_ctl_sd_bus_open (error);
    sd_bus_message *reply = NULL;
    sd_bus_error bus_error = SD_BUS_ERROR_NULL;
    int r;

    if (sdbus == NULL)
      return NULL;
    r = sd_bus_call_method (sdbus, PP_BUS_NAME, PP_OBJECT_ROOT,
                            "org.freedesktop.DBus.ObjectManager",
                            "GetManagedObjects", &bus_error, &reply, "");
    sd_bus_flush_close_unref (sdbus);
    if (r < 0)
      {
        if (!pp_ctl_sd_bus_not_running (&bus_error, error))
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "cannot talk to pcipassd: %s",
                       bus_error.message ? bus_error.message : g_strerror (-r));
        sd_bus_error_free (&bus_error);
        return NULL;
      }
    inventory->reply = reply;
    r = read_objects (inventory, reply);
    if (r < 0)
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "pcipassd's GetManagedObjects reply is malformed: %s",
                     g_strerror (-r));
        return NULL;
      }
  }

  for (guint i = 0; i < inventory->devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (inventory->devices, i);
      /* The path is spelled out only when the Address property is not. */
      char *address = *device->address != '\0'
                          ? g_strdup (device->address)
                          : address_from_path (device->path);

      g_hash_table_insert (inventory->path_address, g_strdup (device->path),
                           address != NULL ? address : g_strdup (device->path));
    }

  g_ptr_array_sort_with_data (inventory->devices, compare_devices, inventory);
  fill_group_peers (inventory);
  return g_steal_pointer (&inventory);
}

void
pp_ctl_inventory_free (PpCtlInventory *inventory)
{
  if (inventory == NULL)
    return;
  g_clear_pointer (&inventory->devices, g_ptr_array_unref);
  g_clear_pointer (&inventory->path_address, g_hash_table_unref);
  g_clear_pointer ((sd_bus_message **) &inventory->reply, sd_bus_message_unref);
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

PpCtlDevice *
pp_ctl_inventory_load_device (const char *text,
                              PpCtlInventory **inventory,
                              GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *address = pp_address_normalize (text, TRUE, &local);
  PpCtlDevice *device;

  if (address == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           local->message);
      return NULL;
    }

  *inventory = pp_ctl_inventory_load (error);
  if (*inventory == NULL)
    return NULL;

  device = pp_ctl_inventory_lookup (*inventory, address);
  if (device == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no PCI device at %s",
                 address);
  return device;
}

GPtrArray *
pp_ctl_group_blocking (PpCtlGroup *group)
{
  GPtrArray *blocking = g_ptr_array_new ();

  if (group->number < 0 || group->viable)
    return blocking;
  for (guint i = 0; i < group->devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (group->devices, i);

      if (!pp_driver_manages_dma (pp_ctl_device_get_driver (device)))
        g_ptr_array_add (blocking, device);
    }
  return blocking;
}

char *
pp_ctl_group_remedy (PpCtlInventory *inventory,
                     PpCtlGroup *group,
                     GPtrArray *blocking)
{
  PpCtlDevice *first;

  if (blocking->len == 0)
    return NULL;
  /* A protected member is refused without --force: say so first. */
  for (guint i = 0; i < group->devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (group->devices, i);
      const char *reason = pp_ctl_device_get_protection_reason (device);

      if (reason != NULL && *reason != '\0')
        return g_strdup_printf (
            "%s is protected (%s): the group stays with the host unless "
            "\"pcipassctl bind %s --force\"",
            pp_ctl_inventory_address (inventory, device), reason,
            pp_ctl_inventory_address (inventory, device));
    }
  first = g_ptr_array_index (blocking, 0);
  return g_strdup_printf ("\"pcipassctl bind %s\" moves the whole group to "
                          "vfio-pci",
                          pp_ctl_inventory_address (inventory, first));
}
