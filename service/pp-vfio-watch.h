/* PpVfioWatch: tells when a VFIO group node is opened or closed.
 *
 * The kernel sends no uevent when a VM opens /dev/vfio/N, so State would
 * stay "vfio" until the next event.  inotify reports every open and
 * close of a node it watches; the watch says which group's node it was,
 * after a short pause that lets a burst settle and lets the opener's
 * descriptor appear in /proc (inotify reports the open before it is
 * installed).  The caller then looks again (pp-vfio.h).  Runs on the
 * thread-default main context of its creation.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PpVfioWatch PpVfioWatch;

/* Called with the groups whose nodes were opened or closed (a set of
 * GINT_TO_POINTER (group)), once per settled burst. */
typedef void (*PpVfioWatchFunc) (GHashTable *groups, gpointer user_data);

/* NULL, with a debug message, when inotify is not available: State then
 * changes only with the next event, as before. */
PpVfioWatch *pp_vfio_watch_new (PpVfioWatchFunc func, gpointer user_data);
void pp_vfio_watch_free (PpVfioWatch *watch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpVfioWatch, pp_vfio_watch_free)

/* Watches exactly the nodes /dev/vfio/N of @groups (a set of
 * GINT_TO_POINTER (N)); a node that does not exist yet is tried again at
 * the next call, and a node made anew is followed. */
void pp_vfio_watch_set_groups (PpVfioWatch *watch, GHashTable *groups);

G_END_DECLS
