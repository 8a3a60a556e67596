/* What pcipassctl knows about the devices pcipassd publishes. */
#include "config.h"

#include "pp-ctl-inventory.h"

#include "pp-address.h"

#include <string.h>

#define PP_DEVICE_PATH_PREFIX PP_OBJECT_ROOT "/devices/pci_"

static void
group_free (gpointer data)
{
  PpCtlGroup *group = data;

  g_ptr_array_unref (group->devices);
  g_free (group);
}

const char *
pp_ctl_str (const char *value)
{
  return value != NULL ? value : "";
}

const char *
pp_ctl_device_name (PpDbusDevice *device)
{
  const char *name = pp_ctl_str (pp_dbus_device_get_device_name (device));

  if (*name == '\0')
    name = pp_ctl_str (pp_dbus_device_get_vendor_name (device));
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
  PpDbusDevice *da = *(PpDbusDevice *const *) a;
  PpDbusDevice *db = *(PpDbusDevice *const *) b;

  return pp_address_str_compare (pp_ctl_inventory_address (inventory, da),
                                 pp_ctl_inventory_address (inventory, db));
}

PpCtlInventory *
pp_ctl_inventory_load (GError **error)
{
  g_autoptr (PpCtlInventory) inventory = g_new0 (PpCtlInventory, 1);
  g_autoptr (GDBusConnection) bus = NULL;
  g_autofree char *owner = NULL;
  g_autolist (GDBusObject) objects = NULL;
  g_autoptr (GError) local = NULL;

  inventory->devices = g_ptr_array_new_with_free_func (g_object_unref);
  inventory->path_address
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local);
  if (bus == NULL)
    {
      g_dbus_error_strip_remote_error (local);
      g_set_error (error, local->domain, local->code,
                   "cannot connect to the system bus: %s", local->message);
      return NULL;
    }

  /* No DO_NOT_AUTO_START: a D-Bus activatable daemon is started here. */
  inventory->manager = pp_dbus_object_manager_client_new_sync (
      bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE, PP_BUS_NAME, PP_OBJECT_ROOT,
      NULL, &local);
  if (inventory->manager == NULL)
    {
      g_dbus_error_strip_remote_error (local);
      g_set_error (error, local->domain, local->code,
                   "cannot talk to pcipassd: %s", local->message);
      return NULL;
    }

  owner = g_dbus_object_manager_client_get_name_owner (
      G_DBUS_OBJECT_MANAGER_CLIENT (inventory->manager));
  if (owner == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                   "pcipassd is not running on the system bus "
                   "(nobody owns %s)",
                   PP_BUS_NAME);
      return NULL;
    }

  objects = g_dbus_object_manager_get_objects (inventory->manager);
  for (GList *l = objects; l != NULL; l = l->next)
    {
      PpDbusDevice *device = pp_dbus_object_get_device (l->data);
      const char *path;
      const char *address;
      char *derived;

      if (device == NULL)
        continue;

      path = g_dbus_proxy_get_object_path (G_DBUS_PROXY (device));
      address = pp_ctl_str (pp_dbus_device_get_address (device));
      derived = address_from_path (path);
      g_hash_table_insert (inventory->path_address, g_strdup (path),
                           *address != '\0'  ? g_strdup (address)
                           : derived != NULL ? g_strdup (derived)
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
  g_clear_object (&inventory->manager);
  g_free (inventory);
}

PpDbusDevice *
pp_ctl_inventory_lookup (PpCtlInventory *inventory, const char *address)
{
  g_autofree char *path = pp_address_to_object_path (address);

  for (guint i = 0; i < inventory->devices->len; i++)
    {
      PpDbusDevice *device = g_ptr_array_index (inventory->devices, i);

      if (g_strcmp0 (g_dbus_proxy_get_object_path (G_DBUS_PROXY (device)), path)
          == 0)
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
pp_ctl_inventory_address (PpCtlInventory *inventory, PpDbusDevice *device)
{
  return pp_ctl_inventory_path_address (
      inventory, g_dbus_proxy_get_object_path (G_DBUS_PROXY (device)));
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
      PpDbusDevice *device = g_ptr_array_index (inventory->devices, i);
      int number = MAX (pp_dbus_device_get_iommu_group (device), -1);
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
      if (!pp_dbus_device_get_group_viable (device))
        group->viable = FALSE;
    }

  g_ptr_array_sort (groups, compare_groups);
  return groups;
}
