/* PpAllocator: Manager.Allocate as the model sees it.
 *
 * Picks free devices of a catalog resource whose IOMMU groups can move to
 * vfio-pci whole and hold nothing the host depends on, and whose groups
 * no other owner has a lease in (two VMs cannot share a group); devices
 * whose groups hold no lease at all come first, then by address.  Then
 * leases them, binds their groups and returns them: all or nothing, so on
 * a failure every group it moved goes back and every lease it took ends.
 * It knows nothing of D-Bus or polkit.
 */
#pragma once

#include "pp-binder.h"
#include "pp-leases.h"

G_BEGIN_DECLS

#define PP_ALLOCATOR_MAX_COUNT 1024

#define PP_TYPE_ALLOCATOR (pp_allocator_get_type ())
G_DECLARE_FINAL_TYPE (PpAllocator, pp_allocator, PP, ALLOCATOR, GObject)

PpAllocator *
pp_allocator_new (PpRegistry *registry, PpBinder *binder, PpLeases *leases);

/* @count devices of @resource for @owner, on NUMA node @numa_node (-1:
 * any), as PpDevice references in the order chosen.  Errors: NotFound
 * (no present device has the resource), Reserved (fewer than @count can
 * be handed out; the message says how many and why the others cannot). */
GPtrArray *pp_allocator_pick (PpAllocator *self,
                              const char *resource,
                              guint count,
                              int numa_node,
                              const char *owner,
                              GError **error);

/* Leases @devices (from pp_allocator_pick(), in the same main-loop turn)
 * to @owner, then binds each one's group.  The result is the devices'
 * addresses. */
void pp_allocator_run_async (PpAllocator *self,
                             GPtrArray *devices,
                             const char *owner,
                             GAsyncReadyCallback callback,
                             gpointer user_data);

GStrv pp_allocator_run_finish (PpAllocator *self,
                               GAsyncResult *result,
                               GError **error);

G_END_DECLS
