/* IOMMU groups: which devices share one, and whether it can be handed to
 * a VM (the kernel's DMA-ownership rule, ../shared/notes/kernel.md §4). */
#pragma once

#include "pp-device.h"

G_BEGIN_DECLS

typedef struct _PpIommuGroups PpIommuGroups;

PpIommuGroups *pp_iommu_groups_new (void);
void pp_iommu_groups_free (PpIommuGroups *groups);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpIommuGroups, pp_iommu_groups_free)

/* Files @device under its "iommu-group", or removes it from the group it
 * was filed under.  Both leave the members' group properties stale until
 * pp_iommu_groups_refresh(): a batch of changes is then published once. */
void pp_iommu_groups_add (PpIommuGroups *groups, PpDevice *device);
void pp_iommu_groups_remove (PpIommuGroups *groups, PpDevice *device);

/* Members of @group sorted by address (borrowed), NULL if it has none. */
GPtrArray *pp_iommu_groups_get_members (PpIommuGroups *groups, int group);

/* Recomputes GroupViable of every member of @group;
 * for -1, nothing (devices without a group are handled on add). */
void pp_iommu_groups_refresh (PpIommuGroups *groups, int group);

/* Refreshes every group. */
void pp_iommu_groups_refresh_all (PpIommuGroups *groups);

G_END_DECLS
