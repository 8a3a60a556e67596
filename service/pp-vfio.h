/* Whether a VFIO group is open: a VM (or any VFIO user) holds it.
 *
 * There is no event for a process opening /dev/vfio/N, so callers ask
 * when it matters: before Unbind, whose unbind would otherwise block in
 * the kernel until the user lets go, and when refreshing State. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when some process has /dev/vfio/@group, or the per-device cdev of
 * @address (/dev/vfio/devices/vfioX), open.  Compares device and inode
 * numbers of every open file descriptor under /proc with the nodes', so
 * paths do not matter. */
gboolean pp_vfio_in_use (int group, const char *address);

G_END_DECLS
