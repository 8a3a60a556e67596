#include "config.h"

#include "pp-kernel.h"

#include "pp-error.h"
#include "pp-killpoint.h"
#include "pp-sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define DEVICES_DIR "/sys/bus/pci/devices"
#define DRIVERS_DIR "/sys/bus/pci/drivers"

/* The only files the sequences write to (DESIGN.md, "Kernel
 * interaction"). */
static const char *const writable_files[] = {
  "driver_override", "bind", "unbind", "drivers_probe", NULL,
};

struct _PpKernel
{
  GObject parent_instance;

  gboolean read_only;
  guint step_timeout_ms;
};

G_DEFINE_TYPE (PpKernel, pp_kernel, G_TYPE_OBJECT)

static void
pp_kernel_class_init (PpKernelClass *klass)
{
}

static void
pp_kernel_init (PpKernel *self)
{
}

PpKernel *
pp_kernel_new (gboolean read_only, guint step_timeout_ms)
{
  PpKernel *self = g_object_new (PP_TYPE_KERNEL, NULL);

  self->read_only = read_only;
  self->step_timeout_ms = step_timeout_ms;
  return self;
}

gboolean
pp_kernel_get_read_only (PpKernel *self)
{
  g_return_val_if_fail (PP_IS_KERNEL (self), TRUE);
  return self->read_only;
}

gboolean
pp_kernel_driver_name_is_valid (const char *name, gboolean allow_empty)
{
  gsize len = strlen (name);

  if (len == 0)
    return allow_empty;
  if (len > 64 || g_str_equal (name, ".") || g_str_equal (name, ".."))
    return FALSE;
  for (const char *c = name; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '_' && *c != '.' && *c != '-')
      return FALSE;
  return TRUE;
}

guint
pp_kernel_get_step_timeout (PpKernel *self)
{
  g_return_val_if_fail (PP_IS_KERNEL (self), 0);
  return self->step_timeout_ms;
}

gboolean
pp_kernel_vfio_registered (PpKernel *self)
{
  return g_file_test (DRIVERS_DIR "/" PP_VFIO_DRIVER, G_FILE_TEST_IS_DIR);
}

char *
pp_kernel_read_driver (const char *address)
{
  g_autofree char *link
      = g_build_filename (DEVICES_DIR, address, "driver", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);

  return target != NULL ? g_path_get_basename (target) : g_strdup ("");
}

char *
pp_kernel_read_override (const char *address)
{
  g_autofree char *path
      = g_build_filename (DEVICES_DIR, address, "driver_override", NULL);
  g_autofree char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, NULL);
  return pp_sysfs_parse_override (contents);
}

gboolean
pp_kernel_write (PpKernel *self,
                 const char *path,
                 const char *value,
                 GError **error)
{
  g_autofree char *name = NULL;
  g_autofree char *shown = NULL;
  gsize len;
  gssize written;
  int fd;
  int err;

  g_return_val_if_fail (PP_IS_KERNEL (self), FALSE);
  g_return_val_if_fail (path != NULL && value != NULL, FALSE);

  shown = g_strescape (value, NULL);
  if (self->read_only)
    {
      g_set_error (error, PP_ERROR, PP_ERROR_READ_ONLY,
                   "pcipassd runs with --read-only: not writing \"%s\" to %s",
                   shown, path);
      return FALSE;
    }

  name = g_path_get_basename (path);
  if (!g_str_has_prefix (path, "/sys/")
      || !g_strv_contains (writable_files, name))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "refusing to write to %s: not a file of the bind sequence",
                   path);
      return FALSE;
    }

  fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    {
      err = errno;
      g_set_error (error, PP_ERROR, PP_ERROR_KERNEL, "opening %s: %s", path,
                   g_strerror (err));
      return FALSE;
    }

  /* A sysfs store takes the whole value in one write. */
  len = strlen (value);
  do
    written = write (fd, value, len);
  while (written < 0 && errno == EINTR);
  err = errno;
  close (fd);

  if (written < 0)
    {
      g_set_error (error, PP_ERROR, PP_ERROR_KERNEL, "writing \"%s\" to %s: %s",
                   shown, path, g_strerror (err));
      return FALSE;
    }
  if ((gsize) written != len)
    {
      g_set_error (error, PP_ERROR, PP_ERROR_KERNEL,
                   "writing \"%s\" to %s: short write (%" G_GSSIZE_FORMAT
                   " of %" G_GSIZE_FORMAT " bytes)",
                   shown, path, written, len);
      return FALSE;
    }
  pp_killpoint (path);
  return TRUE;
}

/* One sequence on one device: a uevent monitor opened before the first
 * write, so no confirmation can be missed, and the deadline bookkeeping. */
typedef struct
{
  PpKernel *kernel;
  const char *address;
  struct udev_monitor *monitor; /* the thread's, borrowed */
  gint64 started;
  guint64 waited;
} Sequence;

/* A worker thread's uevent monitor, kept for the thread's life: the
 * GTask pool reuses its threads, so sockets are not opened and closed for
 * every step. */
typedef struct
{
  struct udev *udev;
  struct udev_monitor *monitor;
} ThreadMonitor;

static void
thread_monitor_free (gpointer data)
{
  ThreadMonitor *tm = data;

  g_clear_pointer (&tm->monitor, udev_monitor_unref);
  g_clear_pointer (&tm->udev, udev_unref);
  g_free (tm);
}

static GPrivate thread_monitor = G_PRIVATE_INIT (thread_monitor_free);

static struct udev_monitor *
get_thread_monitor (void)
{
  ThreadMonitor *tm = g_private_get (&thread_monitor);
  struct udev_device *stale;

  if (tm == NULL)
    {
      tm = g_new0 (ThreadMonitor, 1);
      tm->udev = udev_new ();
      if (tm->udev != NULL)
        tm->monitor = udev_monitor_new_from_netlink (tm->udev, "kernel");
      if (tm->monitor != NULL
          && (udev_monitor_filter_add_match_subsystem_devtype (tm->monitor,
                                                               "pci", NULL)
                  < 0
              || udev_monitor_enable_receiving (tm->monitor) < 0))
        g_clear_pointer (&tm->monitor, udev_monitor_unref);
      g_private_set (&thread_monitor, tm);
    }

  /* Events from earlier sequences mean nothing now. */
  while (tm->monitor != NULL
         && (stale = udev_monitor_receive_device (tm->monitor)) != NULL)
    udev_device_unref (stale);
  return tm->monitor;
}

static void
sequence_begin (Sequence *seq, PpKernel *kernel, const char *address)
{
  memset (seq, 0, sizeof *seq);
  seq->kernel = kernel;
  seq->address = address;
  seq->started = g_get_monotonic_time ();
  seq->monitor = get_thread_monitor ();
  if (seq->monitor == NULL)
    g_debug ("%s: no uevent monitor, confirming by re-reading only", address);
}

static void
sequence_end (Sequence *seq)
{
  guint64 busy = (guint64) (g_get_monotonic_time () - seq->started);

  g_debug ("%s: sequence took %" G_GUINT64_FORMAT " us, %" G_GUINT64_FORMAT
           " us of it waiting for the kernel",
           seq->address, busy, seq->waited);
}

static gboolean
device_exists (const char *address)
{
  g_autofree char *path = g_build_filename (DEVICES_DIR, address, NULL);

  return g_file_test (path, G_FILE_TEST_EXISTS);
}

typedef gboolean (*StatePredicate) (const char *address, const char *want);

static gboolean
driver_is (const char *address, const char *want)
{
  g_autofree char *driver = pp_kernel_read_driver (address);

  return g_str_equal (driver, want);
}

static gboolean
override_is (const char *address, const char *want)
{
  g_autofree char *override = pp_kernel_read_override (address);

  return g_str_equal (override, want);
}

/* Waits until @check holds, re-checking after every uevent, for at most
 * the step timeout.  Real sysfs stores are synchronous, so the first
 * check usually passes; simulated kernels and deferred probes are not. */
static gboolean
wait_for_state (Sequence *seq,
                StatePredicate check,
                const char *want,
                const char *what,
                const char *after_write,
                GError **error)
{
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + (gint64) seq->kernel->step_timeout_ms * 1000;
  gboolean reached;

  pp_killpoint (what);
  for (;;)
    {
      gint64 now;
      struct pollfd pfd;
      int timeout_ms;
      int r;

      reached = check (seq->address, want);
      now = g_get_monotonic_time ();
      /* A removed device never gets there: fail now, not at the timeout. */
      if (reached || now >= deadline || !device_exists (seq->address))
        break;

      timeout_ms = (int) ((deadline - now + 999) / 1000);
      if (seq->monitor == NULL)
        {
          /* Without uevents there is nothing to wait on but time. */
          g_usleep (MIN (timeout_ms, 10) * 1000);
          continue;
        }
      pfd.fd = udev_monitor_get_fd (seq->monitor);
      pfd.events = POLLIN;
      r = poll (&pfd, 1, timeout_ms);
      if (r > 0)
        {
          struct udev_device *dev;
          while ((dev = udev_monitor_receive_device (seq->monitor)) != NULL)
            udev_device_unref (dev);
        }
      else if (r < 0 && errno != EINTR)
        {
          break;
        }
    }
  seq->waited += (guint64) (g_get_monotonic_time () - start);

  if (reached)
    return TRUE;
  if (!device_exists (seq->address))
    {
      g_set_error (error, PP_ERROR, PP_ERROR_NOT_FOUND,
                   "%s was removed while waiting for it to %s", seq->address,
                   what);
      return FALSE;
    }
  g_set_error (error, PP_ERROR, PP_ERROR_KERNEL,
               "timed out after %u ms waiting for %s to %s (after writing %s)",
               seq->kernel->step_timeout_ms, seq->address, what, after_write);
  return FALSE;
}

/* Writes, and maps a failure on a device that has gone to NotFound. */
static gboolean
sequence_write (Sequence *seq,
                const char *path,
                const char *value,
                GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (pp_kernel_write (seq->kernel, path, value, &local_error))
    return TRUE;
  if (g_error_matches (local_error, PP_ERROR, PP_ERROR_KERNEL)
      && !device_exists (seq->address))
    {
      g_set_error (error, PP_ERROR, PP_ERROR_NOT_FOUND, "%s was removed: %s",
                   seq->address, local_error->message);
      return FALSE;
    }
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

static gboolean
write_override (Sequence *seq, const char *override, GError **error)
{
  g_autofree char *path
      = g_build_filename (DEVICES_DIR, seq->address, "driver_override", NULL);

  /* "\n" is how an override is cleared: an empty write is accepted but
   * leaves it set (seen on a real kernel). */
  if (!sequence_write (seq, path, *override != '\0' ? override : "\n", error))
    return FALSE;
  return wait_for_state (seq, override_is, override,
                         *override != '\0' ? "take the override"
                                           : "drop its override",
                         "driver_override", error);
}

static gboolean
unbind_current (Sequence *seq, GError **error)
{
  g_autofree char *path
      = g_build_filename (DEVICES_DIR, seq->address, "driver", "unbind", NULL);

  if (!sequence_write (seq, path, seq->address, error))
    return FALSE;
  return wait_for_state (seq, driver_is, "", "unbind", path, error);
}

gboolean
pp_kernel_bind_vfio (PpKernel *self, const char *address, GError **error)
{
  g_autofree char *driver = NULL;
  g_autofree char *bind = NULL;
  Sequence seq;
  gboolean ok;

  g_return_val_if_fail (PP_IS_KERNEL (self), FALSE);

  driver = pp_kernel_read_driver (address);
  if (g_str_equal (driver, PP_VFIO_DRIVER))
    return TRUE;
  if (!pp_kernel_vfio_registered (self))
    {
      g_set_error (error, PP_ERROR, PP_ERROR_VFIO_UNAVAILABLE,
                   "vfio-pci is not loaded (%s missing): run "
                   "\"modprobe vfio-pci\"",
                   DRIVERS_DIR "/" PP_VFIO_DRIVER);
      return FALSE;
    }

  bind = g_build_filename (DRIVERS_DIR, PP_VFIO_DRIVER, "bind", NULL);
  sequence_begin (&seq, self, address);
  /* Override first: from then on only vfio-pci may bind, so no other
   * driver grabs the device between unbind and bind. */
  ok = write_override (&seq, PP_VFIO_DRIVER, error)
       && (*driver == '\0' || unbind_current (&seq, error))
       && sequence_write (&seq, bind, address, error)
       && wait_for_state (&seq, driver_is, PP_VFIO_DRIVER, "bind to vfio-pci",
                          bind, error);
  sequence_end (&seq);

  if (!ok)
    g_prefix_error (error, "binding %s to vfio-pci: ", address);
  return ok;
}

gboolean
pp_kernel_restore (PpKernel *self,
                   const char *address,
                   const char *driver,
                   const char *override,
                   GError **error)
{
  g_autofree char *current = NULL;
  g_autofree char *current_override = NULL;
  Sequence seq;
  gboolean ok = TRUE;

  g_return_val_if_fail (PP_IS_KERNEL (self), FALSE);

  if ((driver != NULL && !pp_kernel_driver_name_is_valid (driver, TRUE))
      || !pp_kernel_driver_name_is_valid (override, TRUE))
    {
      g_autofree char *shown = g_strescape (
          driver != NULL && !pp_kernel_driver_name_is_valid (driver, TRUE)
              ? driver
              : override,
          NULL);
      g_set_error (error, PP_ERROR, PP_ERROR_KERNEL,
                   "giving %s back: \"%s\" is not a driver name", address,
                   shown);
      return FALSE;
    }

  current = pp_kernel_read_driver (address);
  current_override = pp_kernel_read_override (address);
  if (driver != NULL && g_str_equal (current, driver)
      && g_str_equal (current_override, override))
    return TRUE;

  sequence_begin (&seq, self, address);
  if (!g_str_equal (current_override, override))
    ok = write_override (&seq, override, error);
  if (ok && *current != '\0' && g_strcmp0 (current, driver) != 0)
    ok = unbind_current (&seq, error);

  if (ok && driver == NULL)
    {
      /* Not moved by us: nothing recorded to wait for, the kernel picks. */
      ok = sequence_write (&seq, "/sys/bus/pci/drivers_probe", address, error);
    }
  else if (ok && *driver != '\0' && !g_str_equal (current, driver))
    {
      g_autofree char *driver_dir
          = g_build_filename (DRIVERS_DIR, driver, NULL);
      g_autofree char *what = g_strdup_printf ("bind to %s", driver);

      /* drivers_probe never loads modules: the kernel only tries the
       * drivers already registered. */
      if (!g_file_test (driver_dir, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, PP_ERROR, PP_ERROR_KERNEL,
                       "driver %s is not loaded (%s missing): run "
                       "\"modprobe %s\"",
                       driver, driver_dir, driver);
          ok = FALSE;
        }
      else
        {
          ok = sequence_write (&seq, "/sys/bus/pci/drivers_probe", address,
                               error)
               && wait_for_state (&seq, driver_is, driver, what,
                                  "/sys/bus/pci/drivers_probe", error);
        }
    }
  sequence_end (&seq);

  if (!ok)
    g_prefix_error (error, "giving %s back to %s: ", address,
                    driver == NULL    ? "the kernel's choice"
                    : *driver != '\0' ? driver
                                      : "no driver");
  return ok;
}
