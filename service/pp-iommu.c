#include "pp-iommu.h"

#include "pp-driver.h"

struct _PpIommuGroups
{
  /* group number -> GPtrArray of PpDevice (strong refs), sorted */
  GHashTable *groups;
};

PpIommuGroups *
pp_iommu_groups_new (void)
{
  PpIommuGroups *self = g_new0 (PpIommuGroups, 1);

  self->groups = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                        (GDestroyNotify) g_ptr_array_unref);
  return self;
}

void
pp_iommu_groups_free (PpIommuGroups *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->groups);
  g_free (self);
}

void
pp_iommu_groups_add (PpIommuGroups *self, PpDevice *device)
{
  int group = pp_device_get_iommu_group (device);
  GPtrArray *members;

  if (group < 0)
    {
      /* Without a group VFIO cannot take the device at all. */
      pp_device_set_group_viable (device, FALSE);
      return;
    }

  members = g_hash_table_lookup (self->groups, GINT_TO_POINTER (group));
  if (members == NULL)
    {
      members = g_ptr_array_new_with_free_func (g_object_unref);
      g_hash_table_insert (self->groups, GINT_TO_POINTER (group), members);
    }
  if (!g_ptr_array_find (members, device, NULL))
    {
      g_ptr_array_add (members, g_object_ref (device));
      g_ptr_array_sort (members, pp_device_compare_by_address);
    }
}

void
pp_iommu_groups_remove (PpIommuGroups *self, PpDevice *device)
{
  GHashTableIter iter;
  GPtrArray *members;

  /* Search every group: the device's group number may already have
   * changed by the time it is removed. */
  g_hash_table_iter_init (&iter, self->groups);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &members))
    {
      if (g_ptr_array_remove (members, device) && members->len == 0)
        g_hash_table_iter_remove (&iter);
    }
}

GPtrArray *
pp_iommu_groups_get_members (PpIommuGroups *self, int group)
{
  return g_hash_table_lookup (self->groups, GINT_TO_POINTER (group));
}

void
pp_iommu_groups_refresh (PpIommuGroups *self, int group)
{
  GPtrArray *members = pp_iommu_groups_get_members (self, group);
  gboolean viable = TRUE;

  if (members == NULL)
    return;

  for (guint i = 0; i < members->len; i++)
    viable = viable
             && pp_driver_manages_dma (
                 pp_device_get_driver (g_ptr_array_index (members, i)));

  for (guint i = 0; i < members->len; i++)
    pp_device_set_group_viable (g_ptr_array_index (members, i), viable);
}

void
pp_iommu_groups_refresh_all (PpIommuGroups *self)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->groups);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    pp_iommu_groups_refresh (self, GPOINTER_TO_INT (key));
}
