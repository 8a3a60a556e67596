/* Whether VFIO groups are open: a VM (or any VFIO user) holds them.
 *
 * There is no event for a process opening /dev/vfio/N, so callers ask
 * when it matters: before Unbind, whose unbind would otherwise block in
 * the kernel until the user lets go, and when refreshing State.  One
 * question covers any number of devices with a single walk of /proc, so
 * its cost does not grow with the number of devices on vfio-pci.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PpVfioUsers PpVfioUsers;

PpVfioUsers *pp_vfio_users_new (void);
void pp_vfio_users_free (PpVfioUsers *users);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpVfioUsers, pp_vfio_users_free)

/* Asks about @address in IOMMU group @group: its group node /dev/vfio/N
 * and, since 6.6, its own cdev /dev/vfio/devices/vfioX (iommufd). */
void pp_vfio_users_add (PpVfioUsers *users, int group, const char *address);

/* Looks, once, at every open file descriptor under /proc, comparing
 * device and inode numbers with the nodes', so paths do not matter.
 * Nothing is read when no node was found. */
void pp_vfio_users_scan (PpVfioUsers *users);

/* After the scan: TRUE when some process holds a node of @address. */
gboolean
pp_vfio_users_in_use (PpVfioUsers *users, int group, const char *address);

G_END_DECLS
