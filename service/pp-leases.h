/* PpLeases: who holds each device.
 *
 * A lease gives a device to one owner (a VM, a provisioning tool: a name
 * the caller chooses, see pp_store_owner_is_valid()) until it is
 * released.  Leases are by address, so a device that is hot-removed keeps
 * its lease and is still leased when it comes back.  A lease is kept in
 * the state file, unless it is tied: then it carries a tag (the D-Bus
 * layer uses the caller's unique bus name) and lives in memory only,
 * until pp_leases_release_tied() or the daemon's end.  Devices show their
 * holder as their Owner, set here.  Main thread only.
 */
#pragma once

#include "pp-registry.h"
#include "pp-store.h"

G_BEGIN_DECLS

#define PP_TYPE_LEASES (pp_leases_get_type ())
G_DECLARE_FINAL_TYPE (PpLeases, pp_leases, PP, LEASES, GObject)

/* Loads the leases of @store and follows @registry's devices. */
PpLeases *pp_leases_new (PpRegistry *registry, PpStore *store);

/* The holder of @address, or NULL. */
const char *pp_leases_get_owner (PpLeases *self, const char *address);

/* Gives @address to @owner; @tie NULL for a lasting lease.  Leasing it
 * again to its holder changes nothing but the tie.  Errors: Reserved (it
 * is another owner's, or another owner holds a member of its IOMMU group,
 * which VFIO gives to one user only), or the state file's. */
gboolean pp_leases_reserve (PpLeases *self,
                            const char *address,
                            const char *owner,
                            const char *tie,
                            GError **error);

/* The tag of @address's lease, NULL when it is lasting or absent. */
const char *pp_leases_get_tie (PpLeases *self, const char *address);

/* Ends @address's lease, if any. */
gboolean
pp_leases_release (PpLeases *self, const char *address, GError **error);

/* Ends every lease tied to @tie; returns how many. */
guint pp_leases_release_tied (PpLeases *self, const char *tie);

/* Reserved, naming the holder, unless every device of @addresses is free
 * or held by @owner (which may be NULL: none claimed). */
gboolean pp_leases_check (PpLeases *self,
                          const char *const *addresses,
                          const char *owner,
                          GError **error);

/* Reserved, naming the member and its holder, when another owner than
 * @owner holds a member of @address's IOMMU group (VFIO gives a group to
 * one user); TRUE for a device without a group or not present. */
gboolean pp_leases_check_group (PpLeases *self,
                                const char *address,
                                const char *owner,
                                GError **error);

/* Every lease, present device or not: address -> owner (borrowed). */
GHashTable *pp_leases_get_all (PpLeases *self);

G_END_DECLS
