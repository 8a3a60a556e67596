#include "pp-vfio-watch.h"

#include <errno.h>
#include <glib-unix.h>
#include <sys/inotify.h>
#include <unistd.h>

/* Long enough for the opener's descriptor to be installed and for a VMM
 * that opens and closes a group several times while it starts; short
 * enough that a page shows the change within a second. */
#define SETTLE_MS 100

struct _PpVfioWatch
{
  int fd;
  guint fd_source;
  guint settle_source;
  GHashTable *by_wd;    /* watch descriptor -> group */
  GHashTable *by_group; /* group -> watch descriptor */
  GHashTable *pending;  /* groups seen since the last report */
  PpVfioWatchFunc func;
  gpointer user_data;
};

/* Watches the node of @group if it is there; if not, the next
 * pp_vfio_watch_set_groups() tries again. */
static void
watch_group (PpVfioWatch *watch, gpointer group)
{
  g_autofree char *node
      = g_strdup_printf ("/dev/vfio/%d", GPOINTER_TO_INT (group));
  int w = inotify_add_watch (watch->fd, node,
                             IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);

  if (w < 0)
    {
      g_debug ("cannot watch %s yet: %s", node, g_strerror (errno));
      return;
    }
  g_hash_table_insert (watch->by_group, group, GINT_TO_POINTER (w));
  g_hash_table_insert (watch->by_wd, GINT_TO_POINTER (w), group);
}

static gboolean
on_settled (gpointer user_data)
{
  PpVfioWatch *watch = user_data;
  g_autoptr (GHashTable) groups = g_steal_pointer (&watch->pending);

  watch->settle_source = 0;
  g_debug ("%u VFIO group nodes opened or closed", g_hash_table_size (groups));
  watch->pending = g_hash_table_new (g_direct_hash, g_direct_equal);
  watch->func (groups, watch->user_data);
  return G_SOURCE_REMOVE;
}

static gboolean
on_events (int fd, GIOCondition condition, gpointer user_data)
{
  PpVfioWatch *watch = user_data;
  char buf[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  ssize_t n = read (fd, buf, sizeof buf);

  for (char *p = buf; n > 0 && p < buf + n;)
    {
      const struct inotify_event *event = (const struct inotify_event *) p;
      gpointer group;

      if (g_hash_table_lookup_extended (
              watch->by_wd, GINT_TO_POINTER (event->wd), NULL, &group))
        {
          /* The node went, or was made anew: watch what is there now
           * (nothing, for a group that left vfio-pci). */
          if (event->mask & IN_IGNORED)
            {
              g_hash_table_remove (watch->by_group, group);
              g_hash_table_remove (watch->by_wd, GINT_TO_POINTER (event->wd));
              watch_group (watch, group);
            }
          g_hash_table_add (watch->pending, group);
        }
      p += sizeof *event + event->len;
    }
  if (g_hash_table_size (watch->pending) > 0 && watch->settle_source == 0)
    watch->settle_source = g_timeout_add (SETTLE_MS, on_settled, watch);
  return G_SOURCE_CONTINUE;
}

PpVfioWatch *
pp_vfio_watch_new (PpVfioWatchFunc func, gpointer user_data)
{
  PpVfioWatch *watch;
  int fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);

  if (fd < 0)
    {
      g_debug ("no inotify (%s): a VM opening a group shows with the next "
               "event",
               g_strerror (errno));
      return NULL;
    }
  watch = g_new0 (PpVfioWatch, 1);
  watch->fd = fd;
  watch->by_wd = g_hash_table_new (g_direct_hash, g_direct_equal);
  watch->by_group = g_hash_table_new (g_direct_hash, g_direct_equal);
  watch->pending = g_hash_table_new (g_direct_hash, g_direct_equal);
  watch->func = func;
  watch->user_data = user_data;
  watch->fd_source = g_unix_fd_add (fd, G_IO_IN, on_events, watch);
  return watch;
}

void
pp_vfio_watch_free (PpVfioWatch *watch)
{
  if (watch == NULL)
    return;
  g_source_remove (watch->fd_source);
  if (watch->settle_source != 0)
    g_source_remove (watch->settle_source);
  close (watch->fd);
  g_hash_table_unref (watch->by_wd);
  g_hash_table_unref (watch->by_group);
  g_hash_table_unref (watch->pending);
  g_free (watch);
}

void
pp_vfio_watch_set_groups (PpVfioWatch *watch, GHashTable *groups)
{
  GHashTableIter iter;
  gpointer group;
  gpointer wd;

  if (watch == NULL)
    return;
  g_hash_table_iter_init (&iter, watch->by_group);
  while (g_hash_table_iter_next (&iter, &group, &wd))
    if (!g_hash_table_contains (groups, group))
      {
        inotify_rm_watch (watch->fd, GPOINTER_TO_INT (wd));
        g_hash_table_remove (watch->by_wd, wd);
        g_hash_table_iter_remove (&iter);
      }

  g_hash_table_iter_init (&iter, groups);
  while (g_hash_table_iter_next (&iter, &group, NULL))
    if (!g_hash_table_contains (watch->by_group, group))
      watch_group (watch, group);
}
