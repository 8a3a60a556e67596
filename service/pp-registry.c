#include "pp-registry.h"

#include "pp-iommu.h"
#include "pp-protect.h"
#include "pp-vfio.h"

struct _PpRegistry
{
  GObject parent_instance;

  PpSysfs *sysfs;
  PpHwdb *hwdb;        /* not owned */
  GHashTable *devices; /* address -> PpDevice */
  PpIommuGroups *groups;
};

enum
{
  SIGNAL_DEVICE_ADDED,
  SIGNAL_DEVICE_REMOVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PpRegistry, pp_registry, G_TYPE_OBJECT)

static void
pp_registry_finalize (GObject *object)
{
  PpRegistry *self = PP_REGISTRY (object);

  g_clear_pointer (&self->groups, pp_iommu_groups_free);
  g_clear_pointer (&self->devices, g_hash_table_unref);
  g_clear_object (&self->sysfs);
  G_OBJECT_CLASS (pp_registry_parent_class)->finalize (object);
}

static void
pp_registry_class_init (PpRegistryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pp_registry_finalize;

  /* Emitted once a device is complete: properties and group set. */
  signals[SIGNAL_DEVICE_ADDED] = g_signal_new (
      "device-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, G_TYPE_NONE, 1, PP_TYPE_DEVICE);
  /* Emitted after the device left the registry and its group. */
  signals[SIGNAL_DEVICE_REMOVED] = g_signal_new (
      "device-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, G_TYPE_NONE, 1, PP_TYPE_DEVICE);
}

static void
pp_registry_init (PpRegistry *self)
{
  self->devices
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  self->groups = pp_iommu_groups_new ();
}

PpRegistry *
pp_registry_new (PpSysfs *sysfs, PpHwdb *hwdb)
{
  PpRegistry *self = g_object_new (PP_TYPE_REGISTRY, NULL);

  self->sysfs = g_object_ref (sysfs);
  self->hwdb = hwdb;
  return self;
}

static PpDevice *
create_device (PpRegistry *self, const PpSysfsDevice *info)
{
  g_autofree char *vendor_name = NULL;
  g_autofree char *device_name = NULL;

  if (self->hwdb != NULL)
    pp_hwdb_lookup (self->hwdb, info->vendor_id, info->device_id, &vendor_name,
                    &device_name);
  return pp_device_new (info, vendor_name ? vendor_name : "",
                        device_name ? device_name : "");
}

gboolean
pp_registry_enumerate (PpRegistry *self, GError **error)
{
  g_autoptr (GPtrArray) infos = NULL;
  g_autoptr (GPtrArray) added = g_ptr_array_new ();

  g_return_val_if_fail (PP_IS_REGISTRY (self), FALSE);

  infos = pp_sysfs_enumerate (self->sysfs, error);
  if (infos == NULL)
    return FALSE;

  for (guint i = 0; i < infos->len; i++)
    {
      const PpSysfsDevice *info = g_ptr_array_index (infos, i);
      PpDevice *device = g_hash_table_lookup (self->devices, info->address);

      if (device != NULL)
        {
          pp_device_update (device, info);
          continue;
        }

      device = create_device (self, info);
      g_hash_table_insert (self->devices,
                           (gpointer) pp_device_get_address (device), device);
      pp_iommu_groups_add (self->groups, device);
      g_ptr_array_add (added, device);
    }

  /* Groups are computed from what every member reported, once the whole
   * walk is done, rather than by re-reading each group's directory. */
  pp_iommu_groups_refresh_all (self->groups);
  pp_registry_update_host_state (self);

  for (guint i = 0; i < added->len; i++)
    g_signal_emit (self, signals[SIGNAL_DEVICE_ADDED], 0,
                   g_ptr_array_index (added, i));

  g_debug ("enumerated %u PCI devices", infos->len);
  return TRUE;
}

GPtrArray *
pp_registry_get_devices (PpRegistry *self)
{
  GPtrArray *devices = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (PP_IS_REGISTRY (self), NULL);

  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (devices, g_object_ref (value));
  g_ptr_array_sort (devices, pp_device_compare_by_address);
  return devices;
}

PpDevice *
pp_registry_lookup (PpRegistry *self, const char *address)
{
  g_return_val_if_fail (PP_IS_REGISTRY (self), NULL);
  return g_hash_table_lookup (self->devices, address);
}

guint
pp_registry_get_n_devices (PpRegistry *self)
{
  g_return_val_if_fail (PP_IS_REGISTRY (self), 0);
  return g_hash_table_size (self->devices);
}

GPtrArray *
pp_registry_get_group_members (PpRegistry *self, int group)
{
  g_return_val_if_fail (PP_IS_REGISTRY (self), NULL);
  return pp_iommu_groups_get_members (self->groups, group);
}

void
pp_registry_update_host_state (PpRegistry *self)
{
  g_autoptr (GHashTable) protected = pp_protect_scan ();
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (PP_IS_REGISTRY (self));

  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      PpDevice *device = value;
      const char *address = pp_device_get_address (device);
      const char *reason = g_hash_table_lookup (protected, address);

      /* The firmware console's GPU comes first: losing it blanks the
       * screen even when nothing else depends on it. */
      if (pp_device_get_boot_vga (device))
        reason = PP_PROTECT_BOOT_VGA;
      pp_device_set_protection_reason (device, reason);

      pp_device_set_in_use (
          device,
          pp_iommu_driver_is_vfio (pp_device_get_driver (device))
              && pp_vfio_in_use (pp_device_get_iommu_group (device), address));
    }
}

void
pp_registry_refresh_device (PpRegistry *self, const char *address)
{
  g_autoptr (PpSysfsDevice) info = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (PpDevice) device = NULL;
  g_autofree char *syspath = NULL;
  int old_group;

  g_return_if_fail (PP_IS_REGISTRY (self));

  device = g_hash_table_lookup (self->devices, address);
  if (device == NULL)
    return;
  g_object_ref (device);
  old_group = pp_device_get_iommu_group (device);
  syspath = g_strdup (pp_device_get_syspath (device));

  info = pp_sysfs_read_device (self->sysfs, syspath, &error);
  if (info == NULL)
    {
      g_debug ("%s is gone: %s", address, error->message);
      pp_iommu_groups_remove (self->groups, device);
      pp_iommu_groups_refresh (self->groups, old_group);
      g_hash_table_remove (self->devices, address);
      g_signal_emit (self, signals[SIGNAL_DEVICE_REMOVED], 0, device);
      return;
    }

  pp_device_update (device, info);
  if (pp_device_get_iommu_group (device) != old_group)
    {
      pp_iommu_groups_remove (self->groups, device);
      pp_iommu_groups_add (self->groups, device);
      pp_iommu_groups_refresh (self->groups, old_group);
    }
  pp_iommu_groups_refresh (self->groups, pp_device_get_iommu_group (device));
  pp_device_set_in_use (
      device,
      pp_iommu_driver_is_vfio (pp_device_get_driver (device))
          && pp_vfio_in_use (pp_device_get_iommu_group (device), address));
}
