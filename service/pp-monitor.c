#include "pp-monitor.h"

#include "pp-address.h"

#include <errno.h>
#include <glib-unix.h>
#include <libudev.h>
#include <poll.h>
#include <string.h>

/* As bolt does: far more than a burst of hotplug events needs. */
#define RECEIVE_BUFFER_SIZE (128 * 1024 * 1024)

/* Events read in one wakeup at most, so that a flood cannot keep the
 * main loop from everything else. */
#define MAX_BURST 256

struct _PpMonitor
{
  GObject parent_instance;

  struct udev *udev;
  struct udev_monitor *monitor;
  guint watch_id;
};

enum
{
  SIGNAL_UEVENT,
  SIGNAL_OVERFLOW,
  SIGNAL_BURST_BEGIN,
  SIGNAL_BURST_END,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PpMonitor, pp_monitor, G_TYPE_OBJECT)

static void
pp_monitor_finalize (GObject *object)
{
  PpMonitor *self = PP_MONITOR (object);

  g_clear_handle_id (&self->watch_id, g_source_remove);
  g_clear_pointer (&self->monitor, udev_monitor_unref);
  g_clear_pointer (&self->udev, udev_unref);
  G_OBJECT_CLASS (pp_monitor_parent_class)->finalize (object);
}

static void
pp_monitor_class_init (PpMonitorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pp_monitor_finalize;

  signals[SIGNAL_UEVENT]
      = g_signal_new ("uevent", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                      NULL, NULL, NULL, G_TYPE_NONE, 4, G_TYPE_STRING,
                      G_TYPE_STRING, G_TYPE_STRING, G_TYPE_STRING);
  signals[SIGNAL_BURST_BEGIN]
      = g_signal_new ("burst-begin", G_TYPE_FROM_CLASS (klass),
                      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_BURST_END]
      = g_signal_new ("burst-end", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                      0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_OVERFLOW]
      = g_signal_new ("overflow", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                      0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
pp_monitor_init (PpMonitor *self)
{
}

/* TRUE when another event is waiting, without blocking. */
static gboolean
more_queued (int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };

  return poll (&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer user_data)
{
  PpMonitor *self = user_data;

  /* Everything already queued is one burst (a PF creating its VFs
   * queues hundreds), so the owner can publish it as one. */
  g_signal_emit (self, signals[SIGNAL_BURST_BEGIN], 0);
  for (guint n = 0; n < MAX_BURST && (n == 0 || more_queued (fd)); n++)
    {
      struct udev_device *dev;

      errno = 0;
      dev = udev_monitor_receive_device (self->monitor);
      if (dev == NULL)
        {
          if (errno == ENOBUFS)
            {
              g_warning ("uevent buffer overflowed: events were lost");
              g_signal_emit (self, signals[SIGNAL_OVERFLOW], 0);
            }
          continue;
        }
      g_signal_emit (
          self, signals[SIGNAL_UEVENT], 0, udev_device_get_action (dev),
          udev_device_get_subsystem (dev), udev_device_get_sysname (dev),
          udev_device_get_syspath (dev));
      udev_device_unref (dev);
    }
  g_signal_emit (self, signals[SIGNAL_BURST_END], 0);
  return G_SOURCE_CONTINUE;
}

PpMonitor *
pp_monitor_new (GError **error)
{
  g_autoptr (PpMonitor) self = g_object_new (PP_TYPE_MONITOR, NULL);
  int r;

  self->udev = udev_new ();
  if (self->udev != NULL)
    /* The kernel's own events: they need no udevd, and we read sysfs
     * ourselves rather than udev's database. */
    self->monitor = udev_monitor_new_from_netlink (self->udev, "kernel");
  if (self->monitor == NULL)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot listen to uevents: %s", g_strerror (err));
      return NULL;
    }

  r = udev_monitor_filter_add_match_subsystem_devtype (self->monitor, "pci",
                                                       NULL);
  if (r >= 0)
    r = udev_monitor_filter_add_match_subsystem_devtype (self->monitor, "vfio",
                                                         NULL);
  if (r >= 0)
    r = udev_monitor_enable_receiving (self->monitor);
  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                   "cannot listen to uevents: %s", g_strerror (-r));
      return NULL;
    }
  if (udev_monitor_set_receive_buffer_size (self->monitor, RECEIVE_BUFFER_SIZE)
      < 0)
    g_debug ("could not enlarge the uevent buffer: %s", g_strerror (errno));

  self->watch_id = g_unix_fd_add (udev_monitor_get_fd (self->monitor), G_IO_IN,
                                  on_readable, self);
  return g_steal_pointer (&self);
}

PpUeventKind
pp_monitor_classify (const char *action,
                     const char *subsystem,
                     const char *sysname,
                     char **address,
                     int *group)
{
  *address = NULL;
  *group = -1;
  if (action == NULL || subsystem == NULL || sysname == NULL)
    return PP_UEVENT_IGNORE;

  if (g_str_equal (subsystem, "vfio"))
    {
      const char *number = g_str_has_prefix (sysname, "noiommu-")
                               ? sysname + strlen ("noiommu-")
                               : sysname;
      guint64 n;

      if (!g_ascii_string_to_unsigned (number, 10, 0, G_MAXINT, &n, NULL))
        return PP_UEVENT_IGNORE;
      *group = (int) n;
      return PP_UEVENT_VFIO_GROUP;
    }
  if (!g_str_equal (subsystem, "pci"))
    return PP_UEVENT_IGNORE;

  *address = pp_address_normalize (sysname, FALSE, NULL);
  if (*address == NULL || !g_str_equal (*address, sysname))
    {
      g_clear_pointer (address, g_free);
      return PP_UEVENT_IGNORE;
    }
  if (g_str_equal (action, "add"))
    return PP_UEVENT_PCI_ADD;
  if (g_str_equal (action, "remove"))
    return PP_UEVENT_PCI_REMOVE;
  return PP_UEVENT_PCI_CHANGE;
}
