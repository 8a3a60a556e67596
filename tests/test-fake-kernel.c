/* Checks that pp-fake-kernel answers sysfs writes as Linux does, and the
 * fixture keys for disks, interfaces, mounts and routes.  The writes are
 * made the way pcipassd makes them (open, one write, close on /sys paths,
 * which the preload redirects into the testbed) and the results are
 * awaited as the daemon awaits them, on a libudev monitor with a timeout.
 * Must run under libumockdev-preload. */

#include "pp-fake-kernel.h"
#include "pp-testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libudev.h>

/* Far above the few milliseconds a step takes, for loaded CI machines. */
#define EVENT_TIMEOUT_MS 10000

typedef struct udev_device UdevDevice;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UdevDevice, udev_device_unref)

typedef struct
{
  UMockdevTestbed *tb;
  char *root;
  PpFakeKernel *kernel;
  struct udev *udev;
  struct udev_monitor *monitor;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *path = pp_testbed_fixture_path (data);
  g_autoptr (GError) error = NULL;

  f->tb = pp_testbed_new ();
  f->root = pp_testbed_get_root (f->tb);
  pp_testbed_load (f->tb, path, &error);
  g_assert_no_error (error);

  /* After loading, so only the fake kernel's events arrive, and before
   * the fake kernel's thread starts: the preload records netlink sockets
   * in a table without a lock, and a close() in another thread at that
   * moment can abort the process ("fd_map_remove(): did not find fd"). */
  f->udev = udev_new ();
  g_assert_nonnull (f->udev);
  f->monitor = udev_monitor_new_from_netlink (f->udev, "udev");
  g_assert_nonnull (f->monitor);
  g_assert_cmpint (
      udev_monitor_filter_add_match_subsystem_devtype (f->monitor, "pci", NULL),
      ==, 0);
  g_assert_cmpint (udev_monitor_filter_add_match_subsystem_devtype (
                       f->monitor, "vfio", NULL),
                   ==, 0);
  g_assert_cmpint (udev_monitor_enable_receiving (f->monitor), ==, 0);

  f->kernel = pp_fake_kernel_new (f->tb);
}

static void
fixture_teardown (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_clear_pointer (&f->kernel, pp_fake_kernel_free);
  g_clear_pointer (&f->monitor, udev_monitor_unref);
  g_clear_pointer (&f->udev, udev_unref);
  g_clear_pointer (&f->root, g_free);
  /* Last: dropping the testbed unsets UMOCKDEV_DIR. */
  g_clear_object (&f->tb);
}

/* ---- helpers ---- */

/* As pcipassd writes: one write(2) on a descriptor opened without
 * O_TRUNC (sysfs files cannot be truncated). */
static void
sys_write (const char *path, const char *value)
{
  int fd = g_open (path, O_WRONLY | O_CLOEXEC, 0);
  gssize length = (gssize) strlen (value);

  if (fd < 0)
    g_error ("open %s: %s", path, g_strerror (errno));
  if (length > 0 && write (fd, value, (size_t) length) != length)
    g_error ("write %s: %s", path, g_strerror (errno));
  g_assert_cmpint (close (fd), ==, 0);
}

static void
write_override (const char *address, const char *value)
{
  g_autofree char *path
      = g_strdup_printf ("/sys/bus/pci/devices/%s/driver_override", address);

  sys_write (path, value);
}

static void
write_unbind (const char *address)
{
  g_autofree char *path
      = g_strdup_printf ("/sys/bus/pci/devices/%s/driver/unbind", address);

  sys_write (path, address);
}

static void
write_bind (const char *driver, const char *address)
{
  g_autofree char *path
      = g_strdup_printf ("/sys/bus/pci/drivers/%s/bind", driver);

  sys_write (path, address);
}

static void
write_probe (const char *address)
{
  sys_write ("/sys/bus/pci/drivers_probe", address);
}

static char *
read_sys (const char *path)
{
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

static char *
read_override (const char *address)
{
  g_autofree char *path
      = g_strdup_printf ("/sys/bus/pci/devices/%s/driver_override", address);

  return read_sys (path);
}

/* The driver's name, or NULL when unbound. */
static char *
read_driver (const char *address)
{
  g_autofree char *path
      = g_strdup_printf ("/sys/bus/pci/devices/%s/driver", address);
  g_autofree char *target = g_file_read_link (path, NULL);

  return target != NULL ? g_path_get_basename (target) : NULL;
}

static gboolean
sys_lexists (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0;
}

/* Checked in the testbed itself: a /dev or /proc path missing from the
 * testbed would show this machine's file through the preload. */
static gboolean
testbed_has (Fixture *f, const char *relative)
{
  g_autofree char *path = g_build_filename (f->root, relative, NULL);

  return sys_lexists (path);
}

static gboolean
group_node_exists (Fixture *f, int group)
{
  g_autofree char *node = g_strdup_printf ("dev/vfio/%d", group);

  return testbed_has (f, node);
}

static UdevDevice *
next_event (Fixture *f)
{
  struct pollfd pfd = { udev_monitor_get_fd (f->monitor), POLLIN, 0 };
  UdevDevice *dev;
  int r;

  do
    r = poll (&pfd, 1, EVENT_TIMEOUT_MS);
  while (r < 0 && errno == EINTR);
  if (r == 0)
    g_error ("no uevent within %d ms", EVENT_TIMEOUT_MS);
  g_assert_cmpint (r, ==, 1);
  dev = udev_monitor_receive_device (f->monitor);
  g_assert_nonnull (dev);
  return dev;
}

/* The next event must be @action on @sysname of @subsystem. */
static UdevDevice *
expect_event (Fixture *f,
              const char *subsystem,
              const char *action,
              const char *sysname)
{
  UdevDevice *dev = next_event (f);

  g_test_message ("uevent %s %s %s", udev_device_get_action (dev),
                  udev_device_get_subsystem (dev),
                  udev_device_get_sysname (dev));
  g_assert_cmpstr (udev_device_get_subsystem (dev), ==, subsystem);
  g_assert_cmpstr (udev_device_get_action (dev), ==, action);
  g_assert_cmpstr (udev_device_get_sysname (dev), ==, sysname);
  return dev;
}

/* After a sync every uevent of the handled writes is in the socket. */
static void
assert_no_event (Fixture *f)
{
  struct pollfd pfd = { udev_monitor_get_fd (f->monitor), POLLIN, 0 };

  pp_fake_kernel_sync (f->kernel);
  if (poll (&pfd, 1, 0) != 0)
    {
      g_autoptr (UdevDevice) dev = udev_monitor_receive_device (f->monitor);

      g_error ("unexpected uevent %s %s",
               dev ? udev_device_get_action (dev) : "?",
               dev ? udev_device_get_syspath (dev) : "?");
    }
}

static void
assert_driver (const char *address, const char *expected)
{
  g_autofree char *driver = read_driver (address);

  g_assert_cmpstr (driver, ==, expected);
}

static void
expect_bind (Fixture *f, const char *address, const char *driver)
{
  g_autoptr (UdevDevice) dev = expect_event (f, "pci", "bind", address);

  g_assert_cmpstr (udev_device_get_property_value (dev, "DRIVER"), ==, driver);
  g_assert_cmpstr (udev_device_get_driver (dev), ==, driver);
  assert_driver (address, driver);
}

static void
expect_unbind (Fixture *f, const char *address)
{
  g_autoptr (UdevDevice) dev = expect_event (f, "pci", "unbind", address);

  /* The kernel clears dev->driver before KOBJ_UNBIND. */
  g_assert_null (udev_device_get_property_value (dev, "DRIVER"));
  /* Nor MODALIAS, on a real kernel. */
  g_assert_null (udev_device_get_property_value (dev, "MODALIAS"));
  assert_driver (address, NULL);
}

static void
expect_group_added (Fixture *f, int group)
{
  g_autofree char *name = g_strdup_printf ("%d", group);
  g_autofree char *devname = g_strdup_printf ("/dev/vfio/%d", group);
  g_autoptr (UdevDevice) dev = expect_event (f, "vfio", "add", name);

  g_assert_cmpstr (udev_device_get_devnode (dev), ==, devname);
  g_assert_true (group_node_exists (f, group));
}

static void
expect_group_removed (Fixture *f, int group)
{
  g_autofree char *name = g_strdup_printf ("%d", group);
  g_autofree char *devname = g_strdup_printf ("/dev/vfio/%d", group);
  g_autoptr (UdevDevice) dev = expect_event (f, "vfio", "remove", name);
  g_autofree char *devdir
      = g_strdup_printf ("sys/devices/virtual/vfio/%d", group);
  g_autofree char *char_link = g_strdup_printf ("sys/dev/char/243:%d", group);

  /* libudev shows DEVNAME with /dev/ in front. */
  g_assert_cmpstr (udev_device_get_property_value (dev, "DEVNAME"), ==,
                   devname);
  /* Gone before the uevent; the class directory only after it. */
  g_assert_false (group_node_exists (f, group));
  g_assert_false (testbed_has (f, char_link));
  pp_fake_kernel_sync (f->kernel);
  g_assert_false (testbed_has (f, devdir));
}

/* pcipassd's sequence: override, unbind if bound, bind, each awaited. */
static void
move_to_vfio (Fixture *f, const char *address, int new_group)
{
  g_autofree char *override = NULL;
  g_autofree char *driver = read_driver (address);

  write_override (address, "vfio-pci");
  pp_fake_kernel_sync (f->kernel);
  override = read_override (address);
  g_assert_cmpstr (override, ==, "vfio-pci\n");
  if (driver != NULL)
    {
      write_unbind (address);
      expect_unbind (f, address);
    }
  write_bind ("vfio-pci", address);
  if (new_group >= 0)
    expect_group_added (f, new_group);
  expect_bind (f, address, "vfio-pci");
}

static void
assert_links_to (const char *link, const char *device_path)
{
  g_autofree char *a = realpath (link, NULL);
  g_autofree char *b = realpath (device_path, NULL);

  g_assert_nonnull (a);
  g_assert_cmpstr (a, ==, b);
}

/* ---- binding ---- */

static void
test_bind_vfio (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *gpu = "0000:01:00.0";
  g_autofree char *override = NULL;
  g_autofree char *link = NULL;
  g_autofree char *uevent = NULL;

  /* The override alone moves nothing. */
  write_override (gpu, "vfio-pci");
  assert_no_event (f);
  override = read_override (gpu);
  g_assert_cmpstr (override, ==, "vfio-pci\n");
  assert_driver (gpu, "nvidia");

  write_unbind (gpu);
  expect_unbind (f, gpu);
  g_assert_false (sys_lexists ("/sys/bus/pci/drivers/nvidia/0000:01:00.0"));
  uevent = read_sys ("/sys/bus/pci/devices/0000:01:00.0/uevent");
  g_assert_null (strstr (uevent, "DRIVER="));
  g_assert_false (group_node_exists (f, 2));

  /* The group node comes before the device's bind, as in really_probe(). */
  write_bind ("vfio-pci", gpu);
  expect_group_added (f, 2);
  expect_bind (f, gpu, "vfio-pci");
  link = g_file_read_link ("/sys/bus/pci/devices/0000:01:00.0/driver", NULL);
  g_assert_cmpstr (link, ==, "../../../../bus/pci/drivers/vfio-pci");
  assert_links_to ("/sys/bus/pci/drivers/vfio-pci/0000:01:00.0",
                   "/sys/bus/pci/devices/0000:01:00.0");
  g_assert_true (testbed_has (f, "sys/class/vfio/2"));
  g_assert_true (testbed_has (f, "sys/dev/char/243:2"));
  g_clear_pointer (&uevent, g_free);
  uevent = read_sys ("/sys/bus/pci/devices/0000:01:00.0/uevent");
  g_assert_nonnull (strstr (uevent, "\nDRIVER=vfio-pci\n"));

  /* The bind files are emptied for the next write. */
  {
    g_autofree char *bind = read_sys ("/sys/bus/pci/drivers/vfio-pci/bind");
    g_autofree char *unbind = read_sys ("/sys/bus/pci/drivers/nvidia/unbind");

    g_assert_cmpstr (bind, ==, "");
    g_assert_cmpstr (unbind, ==, "");
  }
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (f->kernel), ==, 3);
  assert_no_event (f);
}

static void
test_bind_needs_override (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *gpu = "0000:01:00.0";

  write_unbind (gpu);
  expect_unbind (f, gpu);

  /* vfio-pci's id table is override-only: ENODEV. */
  write_bind ("vfio-pci", gpu);
  assert_no_event (f);
  assert_driver (gpu, NULL);
  g_assert_false (group_node_exists (f, 2));

  /* Without an override drivers_probe finds the native driver. */
  write_probe (gpu);
  expect_bind (f, gpu, "nvidia");
  g_assert_true (sys_lexists ("/sys/bus/pci/drivers/nvidia/0000:01:00.0"));
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (f->kernel), ==, 3);
}

static void
test_bind_wrong_driver (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *gpu = "0000:01:00.0";

  write_override (gpu, "vfio-pci");
  write_unbind (gpu);
  expect_unbind (f, gpu);

  /* Only the driver the override names may bind, even the native one. */
  write_bind ("nvidia", gpu);
  write_bind ("snd_hda_intel", gpu);
  assert_no_event (f);
  assert_driver (gpu, NULL);

  /* A bound device refuses another bind: EBUSY. */
  move_to_vfio (f, gpu, 2);
  write_bind ("vfio-pci", gpu);
  assert_no_event (f);
  assert_driver (gpu, "vfio-pci");
}

static void
test_refuse_bridge (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *port = "0000:19:00.0";

  write_override (port, "vfio-pci");
  write_unbind (port);
  expect_unbind (f, port);

  /* vfio-pci takes type 0 headers only: EINVAL from probe. */
  write_bind ("vfio-pci", port);
  write_probe (port);
  assert_no_event (f);
  assert_driver (port, NULL);
  g_assert_false (group_node_exists (f, 31));

  write_override (port, "\n");
  write_probe (port);
  expect_bind (f, port, "pcieport");
}

static void
test_refuse_no_group (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *nvme = "10000:01:00.0";

  /* Behind VMD there is no IOMMU group: vfio-pci fails to probe. */
  write_override (nvme, "vfio-pci");
  write_unbind (nvme);
  expect_unbind (f, nvme);
  write_bind ("vfio-pci", nvme);
  assert_no_event (f);
  assert_driver (nvme, NULL);
}

static void
test_refuse_sriov_pf (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *pf = "0000:3b:00.0";

  /* A PF with VFs enabled: EBUSY from vfio-pci. */
  write_override (pf, "vfio-pci");
  write_unbind (pf);
  expect_unbind (f, pf);
  write_bind ("vfio-pci", pf);
  assert_no_event (f);
  assert_driver (pf, NULL);
  g_assert_false (group_node_exists (f, 41));
}

static void
test_restore (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *gpu = "0000:01:00.0";
  const char *audio = "0000:01:00.1";
  g_autofree char *override = NULL;

  move_to_vfio (f, gpu, 2);
  move_to_vfio (f, audio, -1);

  /* libvirt's way back: clear the override, unbind, reprobe. */
  write_override (gpu, "\n");
  pp_fake_kernel_sync (f->kernel);
  override = read_override (gpu);
  g_assert_cmpstr (override, ==, "(null)\n");
  write_unbind (gpu);
  expect_unbind (f, gpu);
  /* The audio function still holds the group. */
  g_assert_true (group_node_exists (f, 2));
  write_probe (gpu);
  expect_bind (f, gpu, "nvidia");
  g_assert_false (sys_lexists ("/sys/bus/pci/drivers/vfio-pci/0000:01:00.0"));

  /* The last member takes the node with it, before its unbind event. */
  write_override (audio, "\n");
  write_unbind (audio);
  expect_group_removed (f, 2);
  expect_unbind (f, audio);
  g_assert_false (testbed_has (f, "sys/class/vfio/2"));
  g_assert_false (testbed_has (f, "sys/dev/char/243:2"));
  write_probe (audio);
  expect_bind (f, audio, "snd_hda_intel");
  assert_no_event (f);
}

static void
test_stuck (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *gpu = "0000:01:00.0";

  pp_fake_kernel_set_stuck (f->kernel, gpu, TRUE);
  write_override (gpu, "vfio-pci");
  /* Unbinding still works. */
  write_unbind (gpu);
  expect_unbind (f, gpu);

  write_bind ("vfio-pci", gpu);
  write_probe (gpu);
  assert_no_event (f);
  assert_driver (gpu, NULL);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (f->kernel), ==, 4);

  pp_fake_kernel_set_stuck (f->kernel, gpu, FALSE);
  write_bind ("vfio-pci", gpu);
  expect_group_added (f, 2);
  expect_bind (f, gpu, "vfio-pci");
}

/* ---- groups in use ---- */

static void
test_open_group (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *fd_path = NULL;
  g_autofree char *pid_path = NULL;
  struct stat node;
  struct stat through_self;
  struct stat through_pid;
  struct stat opened;
  int fd;

  fd = pp_fake_kernel_open_group (f->kernel, 6);
  g_assert_cmpint (fd, ==, -1);
  g_assert_cmpint (errno, ==, ENOENT);

  move_to_vfio (f, "0000:02:00.0", 6);
  fd = pp_fake_kernel_open_group (f->kernel, 6);
  g_assert_cmpint (fd, >=, 0);

  /* What the daemon compares: the node through the preload, and every
   * /proc/PID/fd entry. */
  fd_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  pid_path = g_strdup_printf ("/proc/%d/fd/%d", (int) getpid (), fd);
  g_assert_cmpint (stat ("/dev/vfio/6", &node), ==, 0);
  g_assert_cmpint (stat (fd_path, &through_self), ==, 0);
  g_assert_cmpint (stat (pid_path, &through_pid), ==, 0);
  g_assert_cmpint (fstat (fd, &opened), ==, 0);
  g_assert_cmpuint (node.st_dev, ==, through_self.st_dev);
  g_assert_cmpuint (node.st_ino, ==, through_self.st_ino);
  g_assert_cmpuint (node.st_dev, ==, through_pid.st_dev);
  g_assert_cmpuint (node.st_ino, ==, through_pid.st_ino);
  g_assert_cmpuint (node.st_ino, ==, opened.st_ino);
  g_assert_cmpint (close (fd), ==, 0);
}

static void
test_dma_ownership (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *gpu = "0000:01:00.0";
  const char *audio = "0000:01:00.1";
  const char *port = "0000:00:01.0";
  int fd;

  move_to_vfio (f, gpu, 2);
  move_to_vfio (f, audio, -1);
  fd = pp_fake_kernel_open_group (f->kernel, 2);
  g_assert_cmpint (fd, >=, 0);

  /* While a VM owns the group, a kernel-DMA driver cannot bind. */
  write_override (audio, "\n");
  write_unbind (audio);
  expect_unbind (f, audio);
  g_assert_true (group_node_exists (f, 2));
  write_probe (audio);
  assert_no_event (f);
  assert_driver (audio, NULL);

  /* pcieport leaves DMA alone, so the root port may come and go. */
  write_unbind (port);
  expect_unbind (f, port);
  write_probe (port);
  expect_bind (f, port, "pcieport");

  /* Once the VM lets go, the audio driver binds. */
  g_assert_cmpint (close (fd), ==, 0);
  write_probe (audio);
  expect_bind (f, audio, "snd_hda_intel");
}

/* ---- removal ---- */

static void
test_vanish (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *gpu = "0000:01:00.0";
  g_autoptr (UdevDevice) removed = NULL;

  pp_fake_kernel_set_vanish_on_bind (f->kernel, gpu);
  write_override (gpu, "vfio-pci");
  expect_unbind (f, gpu);
  removed = expect_event (f, "pci", "remove", gpu);
  g_assert_cmpstr (udev_device_get_property_value (removed, "PCI_SLOT_NAME"),
                   ==, gpu);

  /* The links go before the uevent, the directory after it. */
  g_assert_false (sys_lexists ("/sys/bus/pci/devices/0000:01:00.0"));
  g_assert_false (sys_lexists ("/sys/bus/pci/drivers/nvidia/0000:01:00.0"));
  g_assert_false (
      sys_lexists ("/sys/kernel/iommu_groups/2/devices/0000:01:00.0"));
  pp_fake_kernel_sync (f->kernel);
  g_assert_false (
      sys_lexists ("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0"));
  g_assert_true (
      sys_lexists ("/sys/kernel/iommu_groups/2/devices/0000:01:00.1"));
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (f->kernel), ==, 1);

  /* Writes naming it now find nothing. */
  write_probe (gpu);
  assert_no_event (f);
}

static void
test_vanish_on_vfio (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *nvme = "0000:02:00.0";
  g_autoptr (UdevDevice) removed = NULL;

  move_to_vfio (f, nvme, 6);
  pp_fake_kernel_set_vanish_on_bind (f->kernel, nvme);
  write_override (nvme, "\n");
  expect_group_removed (f, 6);
  expect_unbind (f, nvme);
  removed = expect_event (f, "pci", "remove", nvme);

  /* Its disk went with it, and its group, of which it was the last. */
  pp_fake_kernel_sync (f->kernel);
  g_assert_false (sys_lexists ("/sys/dev/block/259:0"));
  g_assert_false (sys_lexists ("/sys/class/block/nvme0n1"));
  g_assert_false (sys_lexists ("/sys/block/nvme0n1"));
  g_assert_false (sys_lexists ("/sys/class/nvme/nvme0"));
  g_assert_false (sys_lexists ("/sys/kernel/iommu_groups/6"));
  g_assert_false (sys_lexists ("/sys/bus/pci/drivers/vfio-pci/0000:02:00.0"));
  g_assert_true (sys_lexists ("/sys/kernel/iommu_groups/5"));
  assert_no_event (f);
}

/* ---- driver_override ---- */

static void
test_override_values (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *long_value = g_strnfill (5000, 'x');
  const struct
  {
    const char *write;
    const char *reads;
  } steps[] = {
    { "vfio-pci", "vfio-pci\n" },
    /* Shorter, without newline: the old tail must not stick. */
    { "nvme", "nvme\n" },
    { "\n", "(null)\n" },
    { "pci-stub\n", "pci-stub\n" },
    { "pci-stub\n", "pci-stub\n" },
    /* An empty write does not clear (seen on a real kernel). */
    { "", "pci-stub\n" },
    { "none", "none\n" },
    { "\n", "(null)\n" },
    /* PAGE_SIZE - 1 bytes or more: EINVAL, nothing stored. */
    { long_value, "(null)\n" },
  };
  const char *gpu = "0000:01:00.0";

  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      g_autofree char *value = NULL;

      write_override (gpu, steps[i].write);
      pp_fake_kernel_sync (f->kernel);
      value = read_override (gpu);
      g_assert_cmpstr (value, ==, steps[i].reads);
    }
  /* Our own rewrites are not counted; an override never rebinds. */
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (f->kernel), ==,
                    G_N_ELEMENTS (steps));
  assert_no_event (f);
  assert_driver (gpu, "nvidia");
}

static void
test_bad_writes (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *probe = NULL;

  /* No such device, and a name that only sysfs_streq() would not match. */
  write_probe ("0000:ff:00.0");
  write_bind ("vfio-pci", " 0000:01:00.0");
  /* Unbinding from a driver that does not drive it: ENODEV. */
  sys_write ("/sys/bus/pci/drivers/nvidia/unbind", "0000:01:00.1");
  sys_write ("/sys/bus/pci/drivers/snd_hda_intel/unbind", "0000:01:00.0");
  assert_no_event (f);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (f->kernel), ==, 4);
  assert_driver ("0000:01:00.0", "nvidia");
  assert_driver ("0000:01:00.1", "snd_hda_intel");
  probe = read_sys ("/sys/bus/pci/drivers_probe");
  g_assert_cmpstr (probe, ==, "");

  /* A trailing newline is fine. */
  sys_write ("/sys/bus/pci/drivers/snd_hda_intel/unbind", "0000:01:00.1\n");
  expect_unbind (f, "0000:01:00.1");
}

static void
test_vf_autoprobe (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *vf = "0000:3b:02.0";
  g_autofree char *pf = pp_testbed_get_devpath (f->tb, "0000:3b:00.0");

  /* The testbed API only after a sync, while nothing else writes. */
  pp_fake_kernel_sync (f->kernel);
  umockdev_testbed_set_attribute (f->tb, pf, "sriov_drivers_autoprobe", "0\n");

  write_unbind (vf);
  expect_unbind (f, vf);
  write_probe (vf);
  assert_no_event (f);
  assert_driver (vf, NULL);

  write_override (vf, "iavf");
  write_probe (vf);
  expect_bind (f, vf, "iavf");
}

static void
test_fixture_vfio_group (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *vf1 = "0000:3b:02.1";
  const char *vf2 = "0000:3b:02.2";
  g_autofree char *uevent = NULL;

  /* VF1 is on vfio-pci in the fixture, so its group has a node. */
  g_assert_true (group_node_exists (f, 43));
  uevent = read_sys ("/sys/class/vfio/43/uevent");
  g_assert_nonnull (strstr (uevent, "DEVNAME=vfio/43\n"));

  /* VF1 came with no override: vfio-pci behaves as with a new_id. */
  write_unbind (vf1);
  expect_group_removed (f, 43);
  expect_unbind (f, vf1);
  write_probe (vf1);
  expect_group_added (f, 43);
  expect_bind (f, vf1, "vfio-pci");

  /* VF2 is half-way: override set, unbound. */
  write_probe (vf2);
  expect_group_added (f, 44);
  expect_bind (f, vf2, "vfio-pci");
}

/* ---- rescan ---- */

static const char extra_topo[]
    = "[00f0:00:1c.0]\n"
      "vendor=8086\ndevice=a190\nclass=060400\ndriver=pcieport\n"
      "iommu_group=900\n"
      "[00f0:01:00.0]\n"
      "parent=00f0:00:1c.0\nvendor=8086\ndevice=1533\nclass=020000\n"
      "driver=igb\niommu_group=901\nnet=enp240s0\n";

static void
test_rescan (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  const char *nic = "00f0:01:00.0";
  g_autoptr (GError) error = NULL;
  g_autoptr (UdevDevice) port = NULL;
  g_autoptr (UdevDevice) added = NULL;

  pp_fake_kernel_sync (f->kernel);
  pp_testbed_load_data (f->tb, extra_topo, -1, "extra", &error);
  g_assert_no_error (error);
  /* The loader's own "add" events. */
  port = expect_event (f, "pci", "add", "00f0:00:1c.0");
  added = expect_event (f, "pci", "add", nic);
  pp_fake_kernel_rescan (f->kernel);

  /* igb is a new driver directory: its unbind file is watched now. */
  move_to_vfio (f, nic, 901);
  write_override (nic, "\n");
  write_unbind (nic);
  expect_group_removed (f, 901);
  expect_unbind (f, nic);
  write_probe (nic);
  expect_bind (f, nic, "igb");
}

/* ---- fixture keys ---- */

static GStrv
fields (const char *line)
{
  g_auto (GStrv) words = g_strsplit_set (line, " \t", -1);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; words[i] != NULL; i++)
    if (*words[i] != '\0')
      g_ptr_array_add (out, g_strdup (words[i]));
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (out, FALSE);
}

static void
assert_root_mount (const char *source)
{
  g_autofree char *mountinfo = read_sys ("/proc/self/mountinfo");
  g_auto (GStrv) lines = NULL;
  gboolean found = FALSE;

  g_assert_nonnull (mountinfo);
  lines = g_strsplit (mountinfo, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) f = fields (lines[i]);
      guint n = g_strv_length (f);
      guint dash;

      if (n == 0)
        continue;
      /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - ... */
      g_assert_cmpuint (n, >=, 10);
      for (dash = 6; dash < n && !g_str_equal (f[dash], "-"); dash++)
        ;
      /* FSTYPE SOURCE SUPEROPTIONS after the separator. */
      g_assert_cmpuint (dash + 3, <, n);
      if (g_str_equal (f[2], "259:0"))
        {
          g_assert_cmpstr (f[4], ==, "/");
          g_assert_cmpstr (f[dash + 1], ==, "ext4");
          g_assert_cmpstr (f[dash + 2], ==, source);
          found = TRUE;
        }
      else
        {
          /* Everything else is virtual. */
          g_assert_true (g_str_has_prefix (f[2], "0:"));
        }
    }
  g_assert_true (found);
}

static void
assert_default_route (const char *ifname)
{
  g_autofree char *route = read_sys ("/proc/net/route");
  g_autofree char *ipv6 = read_sys ("/proc/net/ipv6_route");
  g_auto (GStrv) lines = NULL;
  guint defaults = 0;
  guint others = 0;

  g_assert_nonnull (route);
  lines = g_strsplit (route, "\n", -1);
  g_assert_true (g_str_has_prefix (lines[0], "Iface\tDestination\tGateway"));
  for (guint i = 0; lines[i] != NULL && *lines[i] != '\0'; i++)
    {
      g_auto (GStrv) f = fields (lines[i]);

      /* fib_route_seq_show() pads every line to 127 characters. */
      g_assert_cmpuint (strlen (lines[i]), ==, 127);
      if (i == 0)
        continue;
      g_assert_cmpuint (g_strv_length (f), ==, 11);
      g_assert_cmpstr (f[0], ==, ifname);
      if (g_str_equal (f[1], "00000000") && g_str_equal (f[7], "00000000"))
        defaults++;
      else
        others++;
    }
  g_assert_cmpuint (defaults, ==, 1);
  g_assert_cmpuint (others, ==, 1);

  /* No IPv6 default route (destination ::/0) from this machine either. */
  g_assert_nonnull (ipv6);
  g_assert_nonnull (strstr (ipv6, ifname));
  g_strfreev (lines);
  lines = g_strsplit (ipv6, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    g_assert_false (
        g_str_has_prefix (lines[i], "00000000000000000000000000000000 00 "));
}

static void
assert_disk (Fixture *f,
             const char *pci_address,
             const char *expected_link,
             const char *source)
{
  g_autofree char *link = g_file_read_link ("/sys/dev/block/259:0", NULL);
  g_autofree char *real = realpath ("/sys/dev/block/259:0", NULL);
  g_autofree char *want_real = g_strconcat ("/sys/", expected_link + 6, NULL);
  g_autoptr (UdevDevice) disk
      = udev_device_new_from_subsystem_sysname (f->udev, "block", "nvme0n1");
  struct udev_device *pci;
  g_autofree char *dev = read_sys ("/sys/class/block/nvme0n1/dev");

  /* Relative, with every PCI function on the way in it. */
  g_assert_cmpstr (link, ==, expected_link);
  g_assert_nonnull (strstr (link, pci_address));
  /* realpath() under the preload answers with /sys paths. */
  g_assert_cmpstr (real, ==, want_real);
  g_assert_cmpstr (dev, ==, "259:0\n");
  g_assert_false (sys_lexists ("/sys/dev/char/259:0"));
  g_assert_true (g_file_test ("/sys/block/nvme0n1", G_FILE_TEST_IS_DIR));
  g_assert_true (
      g_file_test ("/sys/dev/block/259:0/slaves", G_FILE_TEST_IS_DIR));

  g_assert_nonnull (disk);
  g_assert_cmpuint (major (udev_device_get_devnum (disk)), ==, 259);
  g_assert_cmpuint (minor (udev_device_get_devnum (disk)), ==, 0);
  g_assert_cmpstr (udev_device_get_devtype (disk), ==, "disk");
  g_assert_cmpstr (udev_device_get_devnode (disk), ==, "/dev/nvme0n1");
  pci = udev_device_get_parent_with_subsystem_devtype (disk, "pci", NULL);
  g_assert_nonnull (pci);
  g_assert_cmpstr (udev_device_get_sysname (pci), ==, pci_address);

  assert_root_mount (source);
}

static void
assert_interface (Fixture *f,
                  const char *ifname,
                  const char *pci_address,
                  const char *expected_link)
{
  g_autofree char *class_path = g_strconcat ("/sys/class/net/", ifname, NULL);
  g_autofree char *device_path
      = g_strconcat ("/sys/class/net/", ifname, "/device", NULL);
  g_autofree char *device = g_file_read_link (device_path, NULL);
  g_autofree char *want_device = g_strconcat ("../../../", pci_address, NULL);
  g_autofree char *link = g_file_read_link (class_path, NULL);
  g_autofree char *bus_path
      = g_strconcat ("/sys/bus/pci/devices/", pci_address, NULL);
  g_autoptr (UdevDevice) net
      = udev_device_new_from_subsystem_sysname (f->udev, "net", ifname);
  struct udev_device *pci;

  g_assert_cmpstr (link, ==, expected_link);
  g_assert_cmpstr (device, ==, want_device);
  assert_links_to (device_path, bus_path);

  g_assert_nonnull (net);
  g_assert_cmpstr (udev_device_get_property_value (net, "INTERFACE"), ==,
                   ifname);
  pci = udev_device_get_parent_with_subsystem_devtype (net, "pci", NULL);
  g_assert_nonnull (pci);
  g_assert_cmpstr (udev_device_get_sysname (pci), ==, pci_address);
}

static void
test_workstation_keys (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  assert_disk (f, "0000:02:00.0",
               "../../devices/pci0000:00/0000:00:1b.0/0000:02:00.0/nvme/"
               "nvme0/nvme0n1",
               "/dev/nvme0n1");
  assert_interface (f, "eno1", "0000:00:1f.6",
                    "../../devices/pci0000:00/0000:00:1f.6/net/eno1");
  assert_default_route ("eno1");
}

static void
test_server_keys (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  assert_disk (f, "10000:01:00.0",
               "../../devices/pci0000:5d/0000:5d:05.5/pci10000:00/"
               "10000:00:02.0/10000:01:00.0/nvme/nvme0/nvme0n1",
               "/dev/nvme0n1");
  assert_interface (f, "enp59s0f0", "0000:3b:00.0",
                    "../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/net/"
                    "enp59s0f0");
  assert_interface (f, "enp59s0f0v0", "0000:3b:02.0",
                    "../../devices/pci0000:3a/0000:3a:00.0/0000:3b:02.0/net/"
                    "enp59s0f0v0");
  assert_default_route ("enp59s0f0");
}

/* Without the keys the files stay out of the testbed, so the host's
 * show through. */
static void
test_no_host_keys (void)
{
  g_autoptr (UMockdevTestbed) tb = pp_testbed_new ();
  g_autofree char *root = pp_testbed_get_root (tb);
  g_autofree char *mountinfo
      = g_build_filename (root, "proc/self/mountinfo", NULL);
  g_autofree char *route = g_build_filename (root, "proc/net/route", NULL);
  g_autoptr (GError) error = NULL;

  pp_testbed_load_data (tb, extra_topo, -1, "extra", &error);
  g_assert_no_error (error);
  g_assert_false (sys_lexists (mountinfo));
  g_assert_false (sys_lexists (route));
  g_assert_true (sys_lexists ("/sys/class/net/enp240s0"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fixture, func)                                               \
  g_test_add ("/fake-kernel/" path, Fixture, fixture, fixture_setup, func,     \
              fixture_teardown)

  ADD ("bind/vfio", "workstation", test_bind_vfio);
  ADD ("bind/needs-override", "workstation", test_bind_needs_override);
  ADD ("bind/wrong-driver", "workstation", test_bind_wrong_driver);
  ADD ("bind/refuse-bridge", "server", test_refuse_bridge);
  ADD ("bind/refuse-no-group", "server", test_refuse_no_group);
  ADD ("bind/refuse-sriov-pf", "server", test_refuse_sriov_pf);
  ADD ("bind/vf-autoprobe", "server", test_vf_autoprobe);
  ADD ("bind/fixture-vfio-group", "server", test_fixture_vfio_group);
  ADD ("restore", "workstation", test_restore);
  ADD ("stuck", "workstation", test_stuck);
  ADD ("group/open", "workstation", test_open_group);
  ADD ("group/dma-ownership", "workstation", test_dma_ownership);
  ADD ("vanish/bound", "workstation", test_vanish);
  ADD ("vanish/on-vfio", "workstation", test_vanish_on_vfio);
  ADD ("override/values", "workstation", test_override_values);
  ADD ("writes/bad", "workstation", test_bad_writes);
  ADD ("rescan", "workstation", test_rescan);
  ADD ("fixture/workstation", "workstation", test_workstation_keys);
  ADD ("fixture/server", "server", test_server_keys);
  g_test_add_func ("/fake-kernel/fixture/no-host-keys", test_no_host_keys);

#undef ADD

  return g_test_run ();
}
