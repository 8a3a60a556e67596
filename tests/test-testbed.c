/* Checks that the simulated hosts look like real ones to libudev, to plain
 * file reads and to lspci.  Must run under libumockdev-preload. */

#include "pp-testbed.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <libudev.h>

typedef struct udev_enumerate UdevEnumerate;
typedef struct udev_device UdevDevice;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UdevEnumerate, udev_enumerate_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UdevDevice, udev_device_unref)

typedef struct
{
  UMockdevTestbed *tb;
  struct udev *udev;
  GKeyFile *topo; /* the fixture as written, the tests' reference */
} Fixture;

static void
fixture_setup_empty (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  f->tb = pp_testbed_new ();
  f->udev = udev_new ();
  g_assert_nonnull (f->udev);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *name = data;
  g_autofree char *path = pp_testbed_fixture_path (name);
  g_autoptr (GError) error = NULL;

  fixture_setup_empty (f, data);
  pp_testbed_load (f->tb, path, &error);
  g_assert_no_error (error);

  f->topo = g_key_file_new ();
  g_key_file_load_from_file (f->topo, path, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_clear_pointer (&f->topo, g_key_file_unref);
  g_clear_pointer (&f->udev, udev_unref);
  /* Last: dropping the testbed unsets UMOCKDEV_DIR. */
  g_clear_object (&f->tb);
}

/* ---- helpers ---- */

static char *sys_read (const char *format, ...) G_GNUC_PRINTF (1, 2);

static char *
sys_read (const char *format, ...)
{
  g_autofree char *path = NULL;
  char *contents = NULL;
  va_list args;

  va_start (args, format);
  path = g_strdup_vprintf (format, args);
  va_end (args);

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

static char *sys_link (const char *format, ...) G_GNUC_PRINTF (1, 2);

static char *
sys_link (const char *format, ...)
{
  g_autofree char *path = NULL;
  va_list args;

  va_start (args, format);
  path = g_strdup_vprintf (format, args);
  va_end (args);

  return g_file_read_link (path, NULL);
}

static gboolean
sys_lexists (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0;
}

static void
assert_attr (const char *address, const char *attr, const char *expected)
{
  g_autofree char *value
      = sys_read ("/sys/bus/pci/devices/%s/%s", address, attr);

  g_assert_cmpstr (value, ==, expected);
}

/* The fixture's value with any trailing comment removed, as the loader
 * reads it. */
static char *
topo_value (Fixture *f, const char *group, const char *key)
{
  char *value = g_key_file_get_value (f->topo, group, key, NULL);
  char *hash;

  if (value == NULL)
    return NULL;
  hash = strstr (value, " #");
  if (hash != NULL)
    *hash = '\0';
  return g_strstrip (value);
}

static GPtrArray *
topo_addresses (Fixture *f)
{
  g_auto (GStrv) groups = g_key_file_get_groups (f->topo, NULL);
  GPtrArray *addresses = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      if (!g_str_equal (groups[i], "host"))
        g_ptr_array_add (addresses, g_strdup (groups[i]));
    }
  return addresses;
}

static struct udev_device *
get_device (Fixture *f, const char *address)
{
  struct udev_device *dev
      = udev_device_new_from_subsystem_sysname (f->udev, "pci", address);

  if (dev == NULL)
    g_error ("libudev does not find pci device %s", address);
  return dev;
}

static GHashTable *
enumerate_pci (Fixture *f)
{
  g_autoptr (UdevEnumerate) e = udev_enumerate_new (f->udev);
  GHashTable *found
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  struct udev_list_entry *entry;

  g_assert_cmpint (udev_enumerate_add_match_subsystem (e, "pci"), ==, 0);
  g_assert_cmpint (udev_enumerate_scan_devices (e), ==, 0);
  udev_list_entry_foreach (entry, udev_enumerate_get_list_entry (e))
  {
    const char *syspath = udev_list_entry_get_name (entry);

    g_hash_table_insert (found, g_path_get_basename (syspath),
                         g_strdup (syspath));
  }
  return found;
}

static void
assert_group_members (guint group, const char *const *expected)
{
  g_autofree char *dir
      = g_strdup_printf ("/sys/kernel/iommu_groups/%u/devices", group);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) members = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *type = NULL;
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (members, g_strdup (name));
  g_assert_cmpuint (members->len, ==, g_strv_length ((char **) expected));

  for (guint i = 0; expected[i] != NULL; i++)
    {
      g_autofree char *link = g_strdup_printf ("%s/%s", dir, expected[i]);
      g_autofree char *device
          = g_strdup_printf ("/sys/bus/pci/devices/%s", expected[i]);
      g_autofree char *member_real = NULL;
      g_autofree char *device_real = NULL;
      g_autofree char *group_link = NULL;
      g_autofree char *want
          = g_strdup_printf ("/kernel/iommu_groups/%u", group);

      /* group -> device */
      g_assert_true (g_file_test (link, G_FILE_TEST_IS_SYMLINK));
      member_real = realpath (link, NULL);
      device_real = realpath (device, NULL);
      g_assert_nonnull (member_real);
      g_assert_cmpstr (member_real, ==, device_real);

      /* device -> group */
      group_link
          = sys_link ("/sys/bus/pci/devices/%s/iommu_group", expected[i]);
      g_assert_nonnull (group_link);
      g_assert_true (g_str_has_prefix (group_link, "../"));
      g_assert_true (g_str_has_suffix (group_link, want));
    }

  type = sys_read ("/sys/kernel/iommu_groups/%u/type", group);
  g_assert_cmpstr (type, ==, "DMA\n");
}

/* Without the preload lspci would read this machine's real /sys. */
static void
assert_child_env_is_mocked (void)
{
  const char *preload = g_getenv ("LD_PRELOAD");

  g_assert_nonnull (g_getenv ("UMOCKDEV_DIR"));
  g_assert_nonnull (preload);
  g_assert_nonnull (strstr (preload, "libumockdev-preload"));
}

static void
gstring_free (gpointer data)
{
  g_string_free (data, TRUE);
}

/* `lspci -nnk -D` run as a child under the same UMOCKDEV_DIR and preload,
 * split into one block of lines per device address.  NULL when there is
 * no lspci. */
static GHashTable *
run_lspci (void)
{
  const char *lspci = g_getenv ("PP_LSPCI");
  g_autofree char *in_path = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) envp = g_get_environ ();
  g_auto (GStrv) lines = NULL;
  const char *argv[4];
  GHashTable *blocks;
  GString *block = NULL;
  int status = 0;

  if (lspci == NULL || *lspci == '\0')
    lspci = in_path = g_find_program_in_path ("lspci");
  if (lspci == NULL)
    return NULL;

  assert_child_env_is_mocked ();
  argv[0] = lspci;
  argv[1] = "-nnk";
  argv[2] = "-D";
  argv[3] = NULL;
  g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &out,
                &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, &error))
    g_error ("%s failed: %s\n%s", lspci, error->message, err);
  g_test_message ("lspci -nnk -D:\n%s", out);

  blocks
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, gstring_free);
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];

      if (*line == '\0')
        continue;
      if (!g_ascii_isspace (*line))
        {
          const char *space = strchr (line, ' ');

          g_assert_nonnull (space);
          block = g_string_new (line);
          g_hash_table_insert (blocks, g_strndup (line, space - line), block);
        }
      else
        {
          g_assert_nonnull (block);
          g_string_append_printf (block, "\n%s", line);
        }
    }
  return blocks;
}

static guint
topo_hex (Fixture *f, const char *group, const char *key)
{
  g_autofree char *value = topo_value (f, group, key);

  g_assert_nonnull (value);
  return (guint) g_ascii_strtoull (value, NULL, 16);
}

/* Every device of the fixture, with its IDs and its driver, and nothing
 * else: lspci must see exactly the simulated host. */
static void
assert_lspci_matches_fixture (Fixture *f)
{
  g_autoptr (GHashTable) blocks = run_lspci ();
  g_autoptr (GPtrArray) addresses = topo_addresses (f);

  /* The rig needs lspci: its absence fails the test, never skips it. */
  if (blocks == NULL)
    g_error ("lspci is not installed (PP_LSPCI is unset)");

  g_assert_cmpuint (g_hash_table_size (blocks), ==, addresses->len);
  for (guint i = 0; i < addresses->len; i++)
    {
      const char *address = addresses->pdata[i];
      GString *block = g_hash_table_lookup (blocks, address);
      g_autofree char *ids
          = g_strdup_printf ("[%04x:%04x]", topo_hex (f, address, "vendor"),
                             topo_hex (f, address, "device"));
      g_autofree char *driver = topo_value (f, address, "driver");

      if (block == NULL)
        g_error ("lspci does not list %s", address);
      if (strstr (block->str, ids) == NULL)
        g_error ("lspci shows %s without %s:\n%s", address, ids, block->str);

      if (driver != NULL)
        {
          g_autofree char *in_use
              = g_strdup_printf ("Kernel driver in use: %s\n", driver);
          g_autofree char *text = g_strconcat (block->str, "\n", NULL);

          if (strstr (text, in_use) == NULL)
            g_error ("lspci shows %s without driver %s:\n%s", address, driver,
                     block->str);
        }
      else
        {
          g_assert_null (strstr (block->str, "Kernel driver in use"));
        }
    }
}

static void
assert_enumeration (Fixture *f, guint expected)
{
  g_autoptr (GHashTable) found = enumerate_pci (f);
  g_autoptr (GPtrArray) addresses = topo_addresses (f);

  /* Guards the fixture itself against losing devices. */
  g_assert_cmpuint (addresses->len, ==, expected);
  g_assert_cmpuint (g_hash_table_size (found), ==, expected);
  for (guint i = 0; i < addresses->len; i++)
    {
      g_autoptr (UdevDevice) dev = get_device (f, addresses->pdata[i]);
      g_autofree char *vendor = topo_value (f, addresses->pdata[i], "vendor");

      g_assert_true (g_hash_table_contains (found, addresses->pdata[i]));
      g_assert_cmpstr (udev_device_get_subsystem (dev), ==, "pci");
      g_assert_cmpstr (udev_device_get_property_value (dev, "PCI_SLOT_NAME"),
                       ==, addresses->pdata[i]);
      g_assert_cmpuint (
          g_ascii_strtoull (udev_device_get_sysattr_value (dev, "vendor"), NULL,
                            16),
          ==, g_ascii_strtoull (vendor, NULL, 16));
    }
}

static guint8 *
read_config (const char *address, gsize *length)
{
  g_autofree char *path
      = g_strdup_printf ("/sys/bus/pci/devices/%s/config", address);
  char *data = NULL;

  g_assert_true (g_file_get_contents (path, &data, length, NULL));
  return (guint8 *) data;
}

static void
assert_bridge_buses (const char *address,
                     guint primary,
                     guint secondary,
                     guint subordinate)
{
  gsize length;
  g_autofree guint8 *config = read_config (address, &length);

  g_assert_cmpuint (length, ==, 64);
  g_assert_cmpuint (config[0x0e] & 0x7f, ==, 1);
  g_assert_cmpuint (config[0x18], ==, primary);
  g_assert_cmpuint (config[0x19], ==, secondary);
  g_assert_cmpuint (config[0x1a], ==, subordinate);
}

static void
assert_no_file (const char *address, const char *attr)
{
  g_autofree char *path
      = g_strdup_printf ("/sys/bus/pci/devices/%s/%s", address, attr);

  if (sys_lexists (path))
    g_error ("%s should not exist", path);
}

static void
assert_dir_entries (const char *dir, const char *const *expected)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint count = 0;
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      if (!g_strv_contains (expected, name))
        g_error ("unexpected %s/%s", dir, name);
      count++;
    }
  g_assert_cmpuint (count, ==, g_strv_length ((char **) expected));
}

/* ---- workstation ---- */

static void
test_workstation_enumerate (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  assert_enumeration (f, 10);
}

static void
test_workstation_gpu (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (UdevDevice) gpu = get_device (f, "0000:01:00.0");
  struct udev_device *port;
  struct udev_device *root;
  g_autofree char *bus_link = sys_link ("/sys/bus/pci/devices/0000:01:00.0");
  g_autofree char *devpath = pp_testbed_get_devpath (f->tb, "0000:01:00.0");
  g_autofree guint8 *config = NULL;
  gsize length;

  g_assert_cmpstr (udev_device_get_syspath (gpu), ==,
                   "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0");
  g_assert_cmpstr (bus_link, ==,
                   "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0");
  g_assert_cmpstr (devpath, ==,
                   "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0");

  /* Parents as on a real host, up to the root bus. */
  port = udev_device_get_parent (gpu);
  g_assert_nonnull (port);
  g_assert_cmpstr (udev_device_get_sysname (port), ==, "0000:00:01.0");
  root = udev_device_get_parent (port);
  g_assert_nonnull (root);
  g_assert_cmpstr (udev_device_get_sysname (root), ==, "pci0000:00");

  g_assert_cmpstr (udev_device_get_driver (gpu), ==, "nvidia");
  g_assert_cmpstr (udev_device_get_sysattr_value (gpu, "vendor"), ==, "0x10de");
  g_assert_cmpstr (udev_device_get_property_value (gpu, "PCI_ID"), ==,
                   "10DE:2684");
  g_assert_cmpstr (udev_device_get_property_value (gpu, "PCI_CLASS"), ==,
                   "30000");
  g_assert_cmpstr (udev_device_get_property_value (gpu, "PCI_SUBSYS_ID"), ==,
                   "1458:408E");
  g_assert_cmpstr (udev_device_get_property_value (gpu, "MODALIAS"), ==,
                   "pci:v000010DEd00002684sv00001458sd0000408Ebc03sc00i00");

  assert_attr ("0000:01:00.0", "vendor", "0x10de\n");
  assert_attr ("0000:01:00.0", "device", "0x2684\n");
  assert_attr ("0000:01:00.0", "subsystem_vendor", "0x1458\n");
  assert_attr ("0000:01:00.0", "subsystem_device", "0x408e\n");
  assert_attr ("0000:01:00.0", "revision", "0xa1\n");
  assert_attr ("0000:01:00.0", "class", "0x030000\n");
  assert_attr ("0000:01:00.0", "numa_node", "-1\n");
  assert_attr ("0000:01:00.0", "driver_override", "(null)\n");
  assert_attr ("0000:01:00.0", "boot_vga", "0\n");
  assert_attr ("0000:01:00.0", "reset_method", "flr bus\n");
  assert_attr ("0000:01:00.1", "device", "0x22bd\n");
  assert_attr ("0000:01:00.1", "class", "0x040300\n");

  assert_attr ("0000:00:02.0", "boot_vga", "1\n");
  assert_no_file ("0000:02:00.0", "boot_vga");
  assert_no_file ("0000:00:00.0", "reset_method");
  assert_no_file ("0000:01:00.0", "sriov_totalvfs");

  /* Function 0 of a two-function slot carries the multifunction bit. */
  config = read_config ("0000:01:00.0", &length);
  g_assert_cmpuint (length, ==, 64);
  g_assert_cmpuint (config[0x00] | config[0x01] << 8, ==, 0x10de);
  g_assert_cmpuint (config[0x02] | config[0x03] << 8, ==, 0x2684);
  g_assert_cmpuint (config[0x08], ==, 0xa1);
  g_assert_cmpuint (config[0x0b], ==, 0x03);
  g_assert_cmpuint (config[0x0e], ==, 0x80);
  g_assert_cmpuint (config[0x2c] | config[0x2d] << 8, ==, 0x1458);
  g_assert_cmpuint (config[0x2e] | config[0x2f] << 8, ==, 0x408e);

  assert_bridge_buses ("0000:00:01.0", 0x00, 0x01, 0x01);
  assert_bridge_buses ("0000:00:1b.0", 0x00, 0x02, 0x02);
}

static void
test_workstation_drivers (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const char *const driver_files[]
      = { "bind", "unbind", "new_id", "remove_id", NULL };
  static const char *const nvidia_entries[] = {
    "bind", "unbind", "new_id", "remove_id", "0000:01:00.0", NULL,
  };
  g_autoptr (UdevDevice) lpc = get_device (f, "0000:00:1f.0");
  g_autoptr (UdevDevice) igpu = get_device (f, "0000:00:02.0");
  g_autofree char *gpu_driver
      = sys_link ("/sys/bus/pci/devices/0000:01:00.0/driver");
  g_autofree char *igpu_driver
      = sys_link ("/sys/bus/pci/devices/0000:00:02.0/driver");
  g_autofree char *probe = sys_read ("/sys/bus/pci/drivers_probe");
  g_autofree char *bound
      = realpath ("/sys/bus/pci/drivers/nvidia/0000:01:00.0", NULL);

  /* Relative, one "../" per directory level, like the kernel's. */
  g_assert_cmpstr (gpu_driver, ==, "../../../../bus/pci/drivers/nvidia");
  g_assert_cmpstr (igpu_driver, ==, "../../../bus/pci/drivers/i915");
  g_assert_cmpstr (udev_device_get_driver (igpu), ==, "i915");

  g_assert_null (udev_device_get_driver (lpc));
  assert_no_file ("0000:00:1f.0", "driver");
  g_assert_null (udev_device_get_property_value (lpc, "DRIVER"));

  /* vfio-pci is registered but drives nothing. */
  assert_dir_entries ("/sys/bus/pci/drivers/vfio-pci", driver_files);
  assert_dir_entries ("/sys/bus/pci/drivers/nvidia", nvidia_entries);
  g_assert_cmpstr (bound, ==,
                   "/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0");
  g_assert_cmpstr (probe, ==, "");
  g_assert_true (g_file_test ("/sys/kernel/iommu_groups", G_FILE_TEST_IS_DIR));
  g_assert_true (g_file_test ("/sys/class/iommu/dmar1", G_FILE_TEST_EXISTS));
}

static void
test_workstation_groups (Fixture *f G_GNUC_UNUSED,
                         gconstpointer data G_GNUC_UNUSED)
{
  static const char *const gpu_group[]
      = { "0000:00:01.0", "0000:01:00.0", "0000:01:00.1", NULL };
  static const char *const host_bridge[] = { "0000:00:00.0", NULL };
  static const char *const igpu[] = { "0000:00:02.0", NULL };
  static const char *const pch_port[] = { "0000:00:1b.0", NULL };
  static const char *const nvme[] = { "0000:02:00.0", NULL };
  static const char *const groups[]
      = { "0", "1", "2", "3", "4", "5", "6", NULL };

  assert_group_members (2, gpu_group);
  assert_group_members (1, host_bridge);
  assert_group_members (0, igpu);
  assert_group_members (4, pch_port);
  assert_group_members (6, nvme);
  assert_dir_entries ("/sys/kernel/iommu_groups", groups);
}

static void
test_workstation_lspci (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  assert_lspci_matches_fixture (f);
}

/* ---- server ---- */

static void
test_server_enumerate (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  assert_enumeration (f, 21);
}

static void
test_server_gpus (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const char *const switch_group[] = {
    "0000:18:00.0", "0000:19:00.0", "0000:19:01.0",
    "0000:1a:00.0", "0000:1b:00.0", NULL,
  };
  static const char *const root_port[] = { "0000:17:00.0", NULL };
  static const char *const bmc[] = { "0000:01:00.0", "0000:02:00.0", NULL };
  g_autoptr (UdevDevice) gpu = get_device (f, "0000:1b:00.0");
  g_autofree char *driver
      = sys_link ("/sys/bus/pci/devices/0000:1a:00.0/driver");

  g_assert_cmpstr (udev_device_get_syspath (gpu), ==,
                   "/sys/devices/pci0000:17/0000:17:00.0/0000:18:00.0/"
                   "0000:19:01.0/0000:1b:00.0");
  g_assert_cmpstr (driver, ==, "../../../../../../bus/pci/drivers/nvidia");
  g_assert_cmpstr (udev_device_get_driver (gpu), ==, "nvidia");
  assert_attr ("0000:1a:00.0", "numa_node", "0\n");
  assert_attr ("0000:1a:00.0", "class", "0x030200\n");
  assert_no_file ("0000:1a:00.0", "boot_vga");

  assert_group_members (31, switch_group);
  assert_group_members (30, root_port);
  assert_bridge_buses ("0000:17:00.0", 0x17, 0x18, 0x1b);
  assert_bridge_buses ("0000:18:00.0", 0x18, 0x19, 0x1b);
  assert_bridge_buses ("0000:19:01.0", 0x19, 0x1b, 0x1b);

  /* The BMC's VGA behind its PCIe-to-PCI bridge. */
  assert_group_members (11, bmc);
  assert_attr ("0000:02:00.0", "boot_vga", "1\n");
  assert_no_file ("0000:01:00.0", "driver");
}

static void
test_server_sriov (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  static const char *const vfio_entries[] = {
    "bind", "unbind", "new_id", "remove_id", "0000:3b:02.1", NULL,
  };
  static const char *const stub_entries[]
      = { "bind", "unbind", "new_id", "remove_id", NULL };
  g_autofree char *pf_real
      = realpath ("/sys/bus/pci/devices/0000:3b:00.0", NULL);

  assert_attr ("0000:3b:00.0", "sriov_totalvfs", "64\n");
  assert_attr ("0000:3b:00.0", "sriov_numvfs", "4\n");
  assert_attr ("0000:3b:00.0", "reset_method", "flr\n");
  assert_no_file ("0000:3b:00.0", "virtfn4");
  assert_no_file ("0000:3b:00.0", "physfn");

  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *vf = g_strdup_printf ("0000:3b:02.%u", i);
      g_autofree char *virtfn
          = sys_link ("/sys/bus/pci/devices/0000:3b:00.0/virtfn%u", i);
      g_autofree char *physfn = sys_link ("/sys/bus/pci/devices/%s/physfn", vf);
      g_autofree char *physfn_path
          = g_strdup_printf ("/sys/bus/pci/devices/%s/physfn", vf);
      g_autofree char *physfn_real = realpath (physfn_path, NULL);
      g_autofree char *want = g_strconcat ("../", vf, NULL);
      g_autofree guint8 *config = NULL;
      const char *members[] = { vf, NULL };
      gsize length;

      g_assert_cmpstr (virtfn, ==, want);
      g_assert_cmpstr (physfn, ==, "../0000:3b:00.0");
      g_assert_cmpstr (physfn_real, ==, pf_real);
      assert_group_members (42 + i, members);
      assert_no_file (vf, "sriov_totalvfs");

      /* Four VFs in one slot are still not a multifunction device. */
      config = read_config (vf, &length);
      g_assert_cmpuint (config[0x0e], ==, 0x00);
    }

  {
    g_autoptr (UdevDevice) vf0 = get_device (f, "0000:3b:02.0");
    g_autoptr (UdevDevice) vf1 = get_device (f, "0000:3b:02.1");
    g_autoptr (UdevDevice) vf2 = get_device (f, "0000:3b:02.2");
    g_autoptr (UdevDevice) vf3 = get_device (f, "0000:3b:02.3");

    g_assert_cmpstr (udev_device_get_driver (vf0), ==, "iavf");
    g_assert_cmpstr (udev_device_get_driver (vf1), ==, "vfio-pci");
    g_assert_null (udev_device_get_driver (vf2));
    g_assert_null (udev_device_get_driver (vf3));
  }
  assert_attr ("0000:3b:02.1", "driver_override", "(null)\n");
  assert_attr ("0000:3b:02.2", "driver_override", "vfio-pci\n");
  assert_attr ("0000:3b:02.3", "driver_override", "(null)\n");
  assert_no_file ("0000:3b:02.2", "driver");
  assert_no_file ("0000:3b:02.3", "driver");

  assert_dir_entries ("/sys/bus/pci/drivers/vfio-pci", vfio_entries);
  assert_dir_entries ("/sys/bus/pci/drivers/pci-stub", stub_entries);
}

static void
test_server_vmd (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (UdevDevice) nvme = get_device (f, "10000:01:00.0");
  g_autoptr (GDir) groups = g_dir_open ("/sys/kernel/iommu_groups", 0, NULL);
  const char *sysnames[]
      = { "10000:00:02.0", "pci10000:00", "0000:5d:05.5", "pci0000:5d" };
  struct udev_device *up = nvme;
  const char *group;

  g_assert_cmpstr (udev_device_get_syspath (nvme), ==,
                   "/sys/devices/pci0000:5d/0000:5d:05.5/pci10000:00/"
                   "10000:00:02.0/10000:01:00.0");
  g_assert_cmpstr (udev_device_get_driver (nvme), ==, "nvme");
  g_assert_cmpstr (udev_device_get_property_value (nvme, "PCI_SLOT_NAME"), ==,
                   "10000:01:00.0");
  assert_attr ("10000:01:00.0", "numa_node", "0\n");

  /* The domain's root bus hangs below the VMD endpoint. */
  for (guint i = 0; i < G_N_ELEMENTS (sysnames); i++)
    {
      up = udev_device_get_parent (up);
      g_assert_nonnull (up);
      g_assert_cmpstr (udev_device_get_sysname (up), ==, sysnames[i]);
    }

  /* The kernel gives devices behind VMD no IOMMU group. */
  assert_no_file ("10000:00:02.0", "iommu_group");
  assert_no_file ("10000:01:00.0", "iommu_group");
  g_assert_nonnull (groups);
  while ((group = g_dir_read_name (groups)) != NULL)
    {
      g_autofree char *member = g_strdup_printf (
          "/sys/kernel/iommu_groups/%s/devices/10000:01:00.0", group);

      g_assert_false (sys_lexists (member));
    }
  {
    static const char *const vmd[] = { "0000:5d:05.5", NULL };

    assert_group_members (50, vmd);
  }
}

static void
test_server_numa (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (UdevDevice) nic = get_device (f, "0000:af:00.1");
  gsize length;
  g_autofree guint8 *config = read_config ("0000:af:00.0", &length);

  g_assert_cmpstr (udev_device_get_sysattr_value (nic, "numa_node"), ==, "1");
  g_assert_cmpstr (udev_device_get_driver (nic), ==, "mlx5_core");
  assert_attr ("0000:af:00.0", "numa_node", "1\n");
  assert_attr ("0000:3b:00.0", "numa_node", "0\n");
  g_assert_cmpuint (config[0x0e], ==, 0x80);
}

static void
test_server_lspci (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  assert_lspci_matches_fixture (f);
}

/* ---- loader behaviour ---- */

/* Children before parents and VFs before their PF, in a domain no real
 * host uses. */
static const char reversed_topo[]
    = "[00f0:02:10.0]\n"
      "parent=00f0:01:00.0\nphysfn=00f0:02:00.0\nvf_index=0\n"
      "vendor=8086\ndevice=154c\nclass=020000\ndriver=iavf\niommu_group=902\n"
      "[00f0:02:00.0]\n"
      "parent=00f0:01:00.0\nsriov_totalvfs=8\nsriov_numvfs=1\n"
      "vendor=8086\ndevice=1572\nclass=020000\ndriver=i40e\niommu_group=901\n"
      "[00f0:01:00.0]\n"
      "parent=00f0:00:1c.0\nvendor=8086\ndevice=a190\nclass=060400\n"
      "iommu_group=900\n"
      "[00f0:00:1c.0]\n"
      "vendor=8086   # trailing comments are allowed\n"
      "device=a190\nclass=060400\ndriver=pcieport\niommu_group=900\n";

static void
test_parents_first (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (UdevDevice) vf = NULL;
  g_autofree char *physfn = NULL;
  g_autofree char *virtfn = NULL;

  pp_testbed_load_data (f->tb, reversed_topo, -1, "reversed", &error);
  g_assert_no_error (error);

  vf = get_device (f, "00f0:02:10.0");
  g_assert_cmpstr (udev_device_get_syspath (vf), ==,
                   "/sys/devices/pci00f0:00/00f0:00:1c.0/00f0:01:00.0/"
                   "00f0:02:10.0");
  physfn = sys_link ("/sys/bus/pci/devices/00f0:02:10.0/physfn");
  virtfn = sys_link ("/sys/bus/pci/devices/00f0:02:00.0/virtfn0");
  g_assert_cmpstr (physfn, ==, "../00f0:02:00.0");
  g_assert_cmpstr (virtfn, ==, "../00f0:02:10.0");
  assert_attr ("00f0:00:1c.0", "vendor", "0x8086\n");
  assert_bridge_buses ("00f0:00:1c.0", 0x00, 0x01, 0x02);
  assert_bridge_buses ("00f0:01:00.0", 0x01, 0x02, 0x02);
}

static void
test_load_twice (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *path = pp_testbed_fixture_path ("workstation");
  g_autoptr (GError) error = NULL;

  g_assert_false (pp_testbed_load (f->tb, path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_assert_nonnull (strstr (error->message, "[0000:00:00.0]"));
}

/* Disks and interfaces in a domain no real host uses: a generic disk, two
 * namespaces of one NVMe controller, two ports of one NIC. */
static const char children_topo[]
    = "[host]\n"
      "mounts=8:1 /;259:1 /srv/my data;253:0 /var\n"
      "default_route=enp240s0f1\n"
      "[00f0:00:17.0]\n"
      "vendor=8086\ndevice=a352\nclass=010601\ndriver=ahci\n"
      "iommu_group=910\nblock=sda 8:0\n"
      "[00f0:00:1d.0]\n"
      "vendor=144d\ndevice=a808\nclass=010802\ndriver=nvme\n"
      "iommu_group=911\nblock=nvme0n1 259:0; nvme0n2 259:1\n"
      "[00f0:00:1f.0]\n"
      "vendor=8086\ndevice=1521\nclass=020000\ndriver=igb\n"
      "iommu_group=912\nnet=enp240s0f0;enp240s0f1\n";

static void
test_children (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *sda = NULL;
  g_autofree char *n1 = NULL;
  g_autofree char *n2 = NULL;
  g_autofree char *port0 = NULL;
  g_autofree char *port1 = NULL;
  g_autofree char *mountinfo = NULL;
  g_autofree char *ifindex0 = NULL;
  g_autofree char *ifindex1 = NULL;
  g_autofree char *sda_dev = NULL;
  g_autofree char *sda_device = NULL;
  g_autofree char *n2_device = NULL;
  g_autofree char *controller = NULL;
  static const char *const n1_entries[]
      = { "dev", "uevent",    "subsystem", "device", "size",
          "ro",  "removable", "holders",   "slaves", NULL };

  pp_testbed_load_data (f->tb, children_topo, -1, "children", &error);
  g_assert_no_error (error);

  /* A disk outside NVMe sits in the function's block/ directory. */
  sda = sys_link ("/sys/dev/block/8:0");
  g_assert_cmpstr (sda, ==, "../../devices/pci00f0:00/00f0:00:17.0/block/sda");
  sda_device = sys_link ("/sys/class/block/sda/device");
  g_assert_cmpstr (sda_device, ==, "../../../00f0:00:17.0");
  sda_dev = sys_read ("/sys/block/sda/dev");
  g_assert_cmpstr (sda_dev, ==, "8:0\n");

  /* Two namespaces, one controller. */
  n1 = sys_link ("/sys/dev/block/259:0");
  n2 = sys_link ("/sys/dev/block/259:1");
  g_assert_cmpstr (n1, ==,
                   "../../devices/pci00f0:00/00f0:00:1d.0/nvme/nvme0/nvme0n1");
  g_assert_cmpstr (n2, ==,
                   "../../devices/pci00f0:00/00f0:00:1d.0/nvme/nvme0/nvme0n2");
  n2_device = sys_link ("/sys/class/block/nvme0n2/device");
  g_assert_cmpstr (n2_device, ==, "../../nvme0");
  controller = sys_link ("/sys/class/nvme/nvme0/device");
  g_assert_cmpstr (controller, ==, "../../../00f0:00:1d.0");
  assert_dir_entries ("/sys/dev/block/259:0", n1_entries);
  g_assert_false (sys_lexists ("/sys/dev/char/259:0"));

  /* Interfaces, numbered after lo. */
  port0 = sys_link ("/sys/class/net/enp240s0f0");
  port1 = sys_link ("/sys/class/net/enp240s0f1");
  g_assert_cmpstr (port0, ==,
                   "../../devices/pci00f0:00/00f0:00:1f.0/net/enp240s0f0");
  g_assert_cmpstr (port1, ==,
                   "../../devices/pci00f0:00/00f0:00:1f.0/net/enp240s0f1");
  ifindex0 = sys_read ("/sys/class/net/enp240s0f0/ifindex");
  ifindex1 = sys_read ("/sys/class/net/enp240s0f1/ifindex");
  g_assert_cmpstr (ifindex0, ==, "2\n");
  g_assert_cmpstr (ifindex1, ==, "3\n");

  /* The root first; a blank in a mount point in octal, as the kernel
   * writes it; a device-mapper number the fixture has no disk for. */
  mountinfo = sys_read ("/proc/self/mountinfo");
  g_assert_true (g_str_has_prefix (
      mountinfo, "21 1 8:1 / / rw,relatime shared:21 - ext4 /dev/block/8:1 "));
  g_assert_nonnull (strstr (mountinfo, " 259:1 / /srv/my\\040data rw,"));
  g_assert_nonnull (strstr (mountinfo, " 253:0 / /var rw,"));
  g_assert_nonnull (strstr (mountinfo, " 0:22 / /sys rw,"));
}

/* Without mounts= and default_route= the testbed has no /proc files. */
static void
test_no_host_files (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *root = pp_testbed_get_root (f->tb);
  g_autofree char *proc = g_build_filename (root, "proc", NULL);

  pp_testbed_load_data (f->tb, reversed_topo, -1, "reversed", &error);
  g_assert_no_error (error);
  g_assert_false (sys_lexists (proc));
}

/* A group whose device the fixture puts on vfio-pci has its node. */
static void
test_server_vfio_node (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autofree char *root = pp_testbed_get_root (f->tb);
  g_autofree char *node = g_build_filename (root, "dev/vfio/43", NULL);
  g_autofree char *other = g_build_filename (root, "dev/vfio/44", NULL);
  g_autofree char *uevent = sys_read ("/sys/class/vfio/43/uevent");
  g_autofree char *dev = sys_read ("/sys/class/vfio/43/dev");
  g_autofree char *char_link = sys_link ("/sys/dev/char/243:43");
  struct stat st;

  g_assert_true (g_file_test (node, G_FILE_TEST_IS_REGULAR));
  g_assert_false (sys_lexists (other));
  g_assert_nonnull (strstr (uevent, "DEVNAME=vfio/43\n"));
  g_assert_cmpstr (dev, ==, "243:43\n");
  g_assert_cmpstr (char_link, ==, "../../devices/virtual/vfio/43");
  /* Through the preload it looks like the character device it stands for. */
  g_assert_cmpint (stat ("/dev/vfio/43", &st), ==, 0);
  g_assert_true (S_ISCHR (st.st_mode));
}

static void
test_clear (Fixture *f, gconstpointer data G_GNUC_UNUSED)
{
  g_autoptr (GHashTable) found = NULL;

  pp_testbed_clear (f->tb);
  found = enumerate_pci (f);
  g_assert_cmpuint (g_hash_table_size (found), ==, 0);
  g_assert_nonnull (g_getenv ("UMOCKDEV_DIR"));
  g_assert_true (
      g_file_test ("/sys/bus/pci/drivers_probe", G_FILE_TEST_IS_REGULAR));
  g_assert_false (
      g_file_test ("/sys/bus/pci/drivers/nvidia", G_FILE_TEST_EXISTS));
}

static void
test_fixture_path (void)
{
  g_autofree char *saved = g_strdup (g_getenv ("PP_FIXTURES_DIR"));
  g_autofree char *built_in = NULL;
  g_autofree char *from_env = NULL;
  g_autofree char *with_suffix = NULL;

  g_unsetenv ("PP_FIXTURES_DIR");
  built_in = pp_testbed_fixture_path ("server");
  g_assert_true (g_path_is_absolute (built_in));
  g_assert_true (g_str_has_suffix (built_in, "/fixtures/server.topo"));
  g_assert_true (g_file_test (built_in, G_FILE_TEST_IS_REGULAR));

  g_setenv ("PP_FIXTURES_DIR", "/nonexistent/topos", TRUE);
  from_env = pp_testbed_fixture_path ("server");
  with_suffix = pp_testbed_fixture_path ("server.topo");
  g_assert_cmpstr (from_env, ==, "/nonexistent/topos/server.topo");
  g_assert_cmpstr (with_suffix, ==, from_env);

  if (saved != NULL)
    g_setenv ("PP_FIXTURES_DIR", saved, TRUE);
  else
    g_unsetenv ("PP_FIXTURES_DIR");
}

/* ---- bad fixtures ---- */

typedef struct
{
  const char *name;
  const char *data;
  GKeyFileError code;
  const char *needles[3];
} BadCase;

#define DEV "vendor=8086\ndevice=1572\nclass=020000\n"

static const BadCase bad_cases[] = {
  { "missing-vendor",
    "[0000:f1:00.0]\ndevice=1572\nclass=020000\n",
    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
    { "[0000:f1:00.0] vendor", "missing" } },
  { "bad-group-name",
    "[gpu0]\n" DEV,
    G_KEY_FILE_ERROR_PARSE,
    { "[gpu0]", "PCI address" } },
  { "short-address",
    "[f1:00.0]\n" DEV,
    G_KEY_FILE_ERROR_PARSE,
    { "[f1:00.0]" } },
  { "non-canonical-address",
    "[0000:F1:00.0]\n" DEV,
    G_KEY_FILE_ERROR_PARSE,
    { "[0000:F1:00.0]", "[0000:f1:00.0]" } },
  { "parent-not-in-file",
    "[0000:f1:00.0]\nparent=0000:f0:01.0\n" DEV,
    G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
    { "[0000:f1:00.0] parent", "0000:f0:01.0 is not in the file" } },
  { "parent-not-a-bridge",
    "[0000:f0:01.0]\n" DEV "[0000:f1:00.0]\nparent=0000:f0:01.0\n" DEV,
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] parent", "not a bridge" } },
  { "bad-hex",
    "[0000:f1:00.0]\nvendor=10dg\ndevice=1572\nclass=020000\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] vendor", "\"10dg\"" } },
  { "unknown-key",
    "[0000:f1:00.0]\n" DEV "vender=10de\n",
    G_KEY_FILE_ERROR_PARSE,
    { "[0000:f1:00.0] vender", "unknown key" } },
  { "vmd-without-parent",
    "[10000:01:00.0]\n" DEV,
    G_KEY_FILE_ERROR_KEY_NOT_FOUND,
    { "[10000:01:00.0] parent", "VMD" } },
  { "missing-vf",
    "[0000:f1:00.0]\n" DEV "sriov_totalvfs=8\nsriov_numvfs=2\n"
    "[0000:f1:02.0]\nphysfn=0000:f1:00.0\nvf_index=0\n" DEV,
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] sriov_numvfs", "vf_index=1" } },
  { "unknown-reset-method",
    "[0000:f1:00.0]\n" DEV "reset_method=flr warm\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] reset_method", "\"warm\"" } },
  { "numa-node-out-of-range",
    "[0000:f1:00.0]\n" DEV "numa_node=-2\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] numa_node", "\"-2\"" } },
  { "boot-vga-not-vga",
    "[0000:f1:00.0]\n" DEV "boot_vga=1\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] boot_vga" } },
  { "parent-loop",
    "[10000:01:00.0]\nparent=10001:01:00.0\n" DEV
    "[10001:01:00.0]\nparent=10000:01:00.0\n" DEV,
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "own ancestor" } },
  { "not-a-key-file",
    "vendor=8086\n",
    G_KEY_FILE_ERROR_GROUP_NOT_FOUND,
    { NULL } },
  { "block-without-devnum",
    "[0000:f1:00.0]\n" DEV "block=nvme0n1\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] block", "NAME MAJ:MIN" } },
  { "block-major-zero",
    "[0000:f1:00.0]\n" DEV "block=sda 0:1\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] block", "major 0" } },
  { "block-bad-name",
    "[0000:f1:00.0]\n" DEV "block=sd/a 8:0\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] block", "\"sd/a\"" } },
  { "block-twice",
    "[0000:f1:00.0]\n" DEV "block=sda 8:0\n"
    "[0000:f2:00.0]\n" DEV "block=sdb 8:0\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f2:00.0] block", "8:0 is already used by [0000:f1:00.0]" } },
  { "net-too-long",
    "[0000:f1:00.0]\n" DEV "net=enp241s0f0np0v12\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f1:00.0] net", "at most 15" } },
  { "net-twice",
    "[0000:f1:00.0]\n" DEV "net=eth0\n[0000:f2:00.0]\n" DEV "net=eth0\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[0000:f2:00.0] net", "eth0 is already used by [0000:f1:00.0]" } },
  { "mount-relative",
    "[host]\nmounts=259:0 boot\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[host] mounts", "\"259:0 boot\"" } },
  { "mount-bad-devnum",
    "[host]\nmounts=259 /\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[host] mounts", "MAJ:MIN MOUNTPOINT" } },
  { "route-bad-name",
    "[host]\ndefault_route=eth 0\n",
    G_KEY_FILE_ERROR_INVALID_VALUE,
    { "[host] default_route", "\"eth 0\"" } },
};

static void
test_bad_fixture (Fixture *f, gconstpointer data)
{
  const BadCase *bad = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) found = NULL;
  g_autofree char *path = NULL;
  int fd;

  fd = g_file_open_tmp ("pp-bad-XXXXXX.topo", &path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (path, bad->data, -1, &error);
  g_assert_no_error (error);

  g_assert_false (pp_testbed_load (f->tb, path, &error));
  g_unlink (path);
  g_assert_error (error, G_KEY_FILE_ERROR, (int) bad->code);
  g_test_message ("%s", error->message);

  /* The file, then where in it. */
  g_assert_true (g_str_has_prefix (error->message, path));
  for (guint i = 0; i < G_N_ELEMENTS (bad->needles) && bad->needles[i]; i++)
    {
      if (strstr (error->message, bad->needles[i]) == NULL)
        g_error ("error \"%s\" does not mention \"%s\"", error->message,
                 bad->needles[i]);
    }

  /* Validation comes first: nothing of the bad file was built. */
  found = enumerate_pci (f);
  g_assert_cmpuint (g_hash_table_size (found), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/testbed/workstation/enumerate", Fixture, "workstation",
              fixture_setup, test_workstation_enumerate, fixture_teardown);
  g_test_add ("/testbed/workstation/gpu", Fixture, "workstation", fixture_setup,
              test_workstation_gpu, fixture_teardown);
  g_test_add ("/testbed/workstation/drivers", Fixture, "workstation",
              fixture_setup, test_workstation_drivers, fixture_teardown);
  g_test_add ("/testbed/workstation/iommu-groups", Fixture, "workstation",
              fixture_setup, test_workstation_groups, fixture_teardown);
  g_test_add ("/testbed/workstation/lspci", Fixture, "workstation",
              fixture_setup, test_workstation_lspci, fixture_teardown);

  g_test_add ("/testbed/server/enumerate", Fixture, "server", fixture_setup,
              test_server_enumerate, fixture_teardown);
  g_test_add ("/testbed/server/gpus", Fixture, "server", fixture_setup,
              test_server_gpus, fixture_teardown);
  g_test_add ("/testbed/server/sriov", Fixture, "server", fixture_setup,
              test_server_sriov, fixture_teardown);
  g_test_add ("/testbed/server/vmd", Fixture, "server", fixture_setup,
              test_server_vmd, fixture_teardown);
  g_test_add ("/testbed/server/numa", Fixture, "server", fixture_setup,
              test_server_numa, fixture_teardown);
  g_test_add ("/testbed/server/lspci", Fixture, "server", fixture_setup,
              test_server_lspci, fixture_teardown);

  g_test_add ("/testbed/loader/parents-first", Fixture, NULL,
              fixture_setup_empty, test_parents_first, fixture_teardown);
  g_test_add ("/testbed/loader/load-twice", Fixture, "workstation",
              fixture_setup, test_load_twice, fixture_teardown);
  g_test_add ("/testbed/loader/clear", Fixture, "workstation", fixture_setup,
              test_clear, fixture_teardown);
  g_test_add ("/testbed/loader/children", Fixture, NULL, fixture_setup_empty,
              test_children, fixture_teardown);
  g_test_add ("/testbed/loader/no-host-files", Fixture, NULL,
              fixture_setup_empty, test_no_host_files, fixture_teardown);
  g_test_add ("/testbed/server/vfio-node", Fixture, "server", fixture_setup,
              test_server_vfio_node, fixture_teardown);
  g_test_add_func ("/testbed/loader/fixture-path", test_fixture_path);

  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name
          = g_strdup_printf ("/testbed/bad/%s", bad_cases[i].name);

      g_test_add (name, Fixture, &bad_cases[i], fixture_setup_empty,
                  test_bad_fixture, fixture_teardown);
    }

  return g_test_run ();
}
