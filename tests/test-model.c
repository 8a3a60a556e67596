/* The device model on simulated hosts: every property of every device of
 * each fixture, the IOMMU group rules, addresses, and sysfs writes. */
#include "config.h"

#include "pp-address.h"
#include "pp-device-type.h"
#include "pp-driver.h"
#include "pp-error.h"
#include "pp-iommu.h"
#include "pp-kernel.h"
#include "pp-pci-class.h"
#include "pp-protect.h"
#include "pp-registry.h"
#include "pp-testbed.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <umockdev.h>

static UMockdevTestbed *testbed;

/* What a device must look like.  Lists are space-separated addresses or
 * words; "" is an empty list. */
typedef struct
{
  const char *address;
  guint vendor, device, subsystem_vendor, subsystem_device, revision;
  guint class_code;
  const char *type, *driver, *driver_override, *state;
  int iommu_group;
  const char *group_devices;
  gboolean viable;
  int numa_node;
  const char *physfn, *virtfns;
  gboolean boot_vga;
  const char *reset_methods;
} Expected;

/* clang-format off */
static const Expected workstation[] = {
  { "0000:00:00.0", 0x8086, 0x3e30, 0x1043, 0x8694, 0x0d, 0x060000, "bridge", "skl_uncore", "", "host",
    1, "", FALSE, -1, "", "", FALSE, "" },
  { "0000:00:01.0", 0x8086, 0x1901, 0, 0, 0x0d, 0x060400, "bridge", "pcieport", "", "host",
    2, "0000:01:00.0 0000:01:00.1", FALSE, -1, "", "", FALSE, "" },
  { "0000:00:02.0", 0x8086, 0x3e98, 0x1043, 0x8694, 0x02, 0x030000, "gpu", "i915", "", "host",
    0, "", FALSE, -1, "", "", TRUE, "flr" },
  { "0000:00:14.0", 0x8086, 0xa36d, 0x1043, 0x8694, 0x10, 0x0c0330, "usb", "xhci_hcd", "", "host",
    3, "", FALSE, -1, "", "", FALSE, "pm" },
  { "0000:00:1b.0", 0x8086, 0xa340, 0, 0, 0xf0, 0x060400, "bridge", "pcieport", "", "host",
    4, "", TRUE, -1, "", "", FALSE, "" },
  { "0000:00:1f.0", 0x8086, 0xa305, 0x1043, 0x8694, 0x10, 0x060100, "bridge", "", "", "unbound",
    5, "0000:00:1f.6", FALSE, -1, "", "", FALSE, "" },
  { "0000:00:1f.6", 0x8086, 0x15bc, 0x1043, 0x8672, 0x10, 0x020000, "network", "e1000e", "", "host",
    5, "0000:00:1f.0", FALSE, -1, "", "", FALSE, "flr" },
  { "0000:01:00.0", 0x10de, 0x2684, 0x1458, 0x408e, 0xa1, 0x030000, "gpu", "nvidia", "", "host",
    2, "0000:00:01.0 0000:01:00.1", FALSE, -1, "", "", FALSE, "flr bus" },
  { "0000:01:00.1", 0x10de, 0x22bd, 0x1458, 0x408e, 0xa1, 0x040300, "audio", "snd_hda_intel", "", "host",
    2, "0000:00:01.0 0000:01:00.0", FALSE, -1, "", "", FALSE, "bus" },
  { "0000:02:00.0", 0x144d, 0xa808, 0x144d, 0xa801, 0x00, 0x010802, "storage", "nvme", "", "host",
    6, "", FALSE, -1, "", "", FALSE, "flr bus" },
  { .address = NULL }
};

#define SWITCH "0000:18:00.0 0000:19:00.0 0000:19:01.0 0000:1a:00.0 0000:1b:00.0"
static const Expected server[] = {
  { "0000:00:1c.0", 0x8086, 0xa190, 0, 0, 0xf9, 0x060400, "bridge", "pcieport", "", "host",
    10, "", TRUE, 0, "", "", FALSE, "" },
  { "0000:01:00.0", 0x1a03, 0x1150, 0, 0, 0x04, 0x060400, "bridge", "", "", "unbound",
    11, "0000:02:00.0", FALSE, 0, "", "", FALSE, "" },
  { "0000:02:00.0", 0x1a03, 0x2000, 0x15d9, 0x095d, 0x41, 0x030000, "gpu", "ast", "", "host",
    11, "0000:01:00.0", FALSE, 0, "", "", TRUE, "" },
  { "0000:17:00.0", 0x8086, 0x2030, 0, 0, 0x07, 0x060400, "bridge", "pcieport", "", "host",
    30, "", TRUE, 0, "", "", FALSE, "" },
  { "0000:18:00.0", 0x1000, 0xc010, 0x1000, 0xa096, 0xb0, 0x060400, "bridge", "pcieport", "", "host",
    31, "0000:19:00.0 0000:19:01.0 0000:1a:00.0 0000:1b:00.0", FALSE, 0, "", "", FALSE, "" },
  { "0000:19:00.0", 0x1000, 0xc010, 0x1000, 0xa096, 0xb0, 0x060400, "bridge", "pcieport", "", "host",
    31, "0000:18:00.0 0000:19:01.0 0000:1a:00.0 0000:1b:00.0", FALSE, 0, "", "", FALSE, "" },
  { "0000:19:01.0", 0x1000, 0xc010, 0x1000, 0xa096, 0xb0, 0x060400, "bridge", "pcieport", "", "host",
    31, "0000:18:00.0 0000:19:00.0 0000:1a:00.0 0000:1b:00.0", FALSE, 0, "", "", FALSE, "" },
  { "0000:1a:00.0", 0x10de, 0x20b0, 0x10de, 0x134f, 0xa1, 0x030200, "gpu", "nvidia", "", "host",
    31, "0000:18:00.0 0000:19:00.0 0000:19:01.0 0000:1b:00.0", FALSE, 0, "", "", FALSE, "flr bus" },
  { "0000:1b:00.0", 0x10de, 0x20b0, 0x10de, 0x134f, 0xa1, 0x030200, "gpu", "nvidia", "", "host",
    31, "0000:18:00.0 0000:19:00.0 0000:19:01.0 0000:1a:00.0", FALSE, 0, "", "", FALSE, "flr bus" },
  { "0000:3a:00.0", 0x8086, 0x2030, 0, 0, 0x07, 0x060400, "bridge", "pcieport", "", "host",
    40, "", TRUE, 0, "", "", FALSE, "" },
  { "0000:3b:00.0", 0x8086, 0x1572, 0x8086, 0x0000, 0x02, 0x020000, "network", "i40e", "", "host",
    41, "", FALSE, 0, "", "0000:3b:02.0 0000:3b:02.1 0000:3b:02.2 0000:3b:02.3", FALSE, "flr" },
  { "0000:3b:02.0", 0x8086, 0x154c, 0x8086, 0x0000, 0x02, 0x020000, "network", "iavf", "", "host",
    42, "", FALSE, 0, "0000:3b:00.0", "", FALSE, "flr" },
  { "0000:3b:02.1", 0x8086, 0x154c, 0x8086, 0x0000, 0x02, 0x020000, "network", "vfio-pci", "", "vfio",
    43, "", TRUE, 0, "0000:3b:00.0", "", FALSE, "flr" },
  { "0000:3b:02.2", 0x8086, 0x154c, 0x8086, 0x0000, 0x02, 0x020000, "network", "", "vfio-pci", "unbound",
    44, "", TRUE, 0, "0000:3b:00.0", "", FALSE, "flr" },
  { "0000:3b:02.3", 0x8086, 0x154c, 0x8086, 0x0000, 0x02, 0x020000, "network", "", "", "unbound",
    45, "", TRUE, 0, "0000:3b:00.0", "", FALSE, "flr" },
  { "0000:5d:05.5", 0x8086, 0x201d, 0x8086, 0x0000, 0x07, 0x010400, "storage", "vmd", "", "host",
    50, "", FALSE, 0, "", "", FALSE, "" },
  { "0000:ae:00.0", 0x8086, 0x2030, 0, 0, 0x07, 0x060400, "bridge", "pcieport", "", "host",
    80, "", TRUE, 1, "", "", FALSE, "" },
  { "0000:af:00.0", 0x15b3, 0x1017, 0x15b3, 0x0007, 0x00, 0x020000, "network", "mlx5_core", "", "host",
    81, "", FALSE, 1, "", "", FALSE, "flr" },
  { "0000:af:00.1", 0x15b3, 0x1017, 0x15b3, 0x0007, 0x00, 0x020000, "network", "mlx5_core", "", "host",
    82, "", FALSE, 1, "", "", FALSE, "flr" },
  { "10000:00:02.0", 0x8086, 0x2032, 0, 0, 0x07, 0x060400, "bridge", "pcieport", "", "host",
    -1, "", FALSE, 0, "", "", FALSE, "" },
  { "10000:01:00.0", 0x8086, 0x0a54, 0x8086, 0x4802, 0x00, 0x010802, "storage", "nvme", "", "host",
    -1, "", FALSE, 0, "", "", FALSE, "flr" },
  { .address = NULL }
};
/* clang-format on */

static void
load_testbed (const char *fixture)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path (fixture);

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);
}

static PpRegistry *
load_registry (const char *fixture, PpHwdb *hwdb)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpSysfs) sysfs = NULL;
  g_autoptr (PpRegistry) registry = NULL;

  load_testbed (fixture);

  sysfs = pp_sysfs_new (&error);
  g_assert_no_error (error);
  registry = pp_registry_new (sysfs, hwdb);
  pp_registry_enumerate (registry, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&registry);
}

static void
assert_strv_is (const char *const *got, const char *want)
{
  g_auto (GStrv) words = g_strsplit (want, " ", -1);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) expected = NULL;
  g_autofree char *got_text = g_strjoinv (" ", (char **) got);

  for (char **w = words; *w != NULL; w++)
    if (**w != '\0')
      g_strv_builder_add (b, *w);
  expected = g_strv_builder_end (b);
  if (!g_strv_equal (got, (const char *const *) expected))
    g_error ("got [%s], expected [%s]", got_text, want);
}

/* The other members of @device's group, from the registry's table. */
static GStrv
group_peers (PpRegistry *registry, PpDevice *device)
{
  GPtrArray *members = pp_registry_get_group_members (
      registry, pp_device_get_iommu_group (device));
  g_autoptr (GStrvBuilder) peers = g_strv_builder_new ();

  for (guint i = 0; members != NULL && i < members->len; i++)
    if (g_ptr_array_index (members, i) != device)
      g_strv_builder_add (
          peers, pp_device_get_address (g_ptr_array_index (members, i)));
  return g_strv_builder_end (peers);
}

static void
check_device (PpRegistry *registry, PpDevice *device, const Expected *e)
{
  g_autofree char *address = NULL, *type = NULL, *driver = NULL;
  g_autofree char *override = NULL, *state = NULL, *physfn = NULL;
  g_auto (GStrv) group_devices = NULL, virtfns = NULL, resets = NULL;
  guint vendor, dev, svendor, sdevice, class_code;
  guchar revision;
  int group, numa;
  gboolean viable, boot_vga;

  g_test_message ("checking %s", e->address);
  g_object_get (device, "address", &address, "vendor-id", &vendor, "device-id",
                &dev, "subsystem-vendor-id", &svendor, "subsystem-device-id",
                &sdevice, "revision", &revision, "class-code", &class_code,
                "type", &type, "driver", &driver, "driver-override", &override,
                "state", &state, "iommu-group", &group, "group-viable", &viable,
                "numa-node", &numa, "physical-function", &physfn,
                "virtual-functions", &virtfns, "boot-vga", &boot_vga,
                "reset-methods", &resets, NULL);

  g_assert_cmpstr (address, ==, e->address);
  g_assert_cmphex (vendor, ==, e->vendor);
  g_assert_cmphex (dev, ==, e->device);
  g_assert_cmphex (svendor, ==, e->subsystem_vendor);
  g_assert_cmphex (sdevice, ==, e->subsystem_device);
  g_assert_cmphex (revision, ==, e->revision);
  g_assert_cmphex (class_code, ==, e->class_code);
  g_assert_cmpstr (type, ==, e->type);
  g_assert_cmpstr (driver, ==, e->driver);
  g_assert_cmpstr (override, ==, e->driver_override);
  g_assert_cmpstr (state, ==, e->state);
  g_assert_cmpint (group, ==, e->iommu_group);
  group_devices = group_peers (registry, device);
  assert_strv_is ((const char *const *) group_devices, e->group_devices);
  g_assert_cmpint (viable, ==, e->viable);
  g_assert_cmpint (numa, ==, e->numa_node);
  g_assert_cmpstr (physfn, ==, e->physfn);
  assert_strv_is ((const char *const *) virtfns, e->virtfns);
  g_assert_cmpint (boot_vga, ==, e->boot_vga);
  assert_strv_is ((const char *const *) resets, e->reset_methods);
}

static void
test_fixture_properties (gconstpointer data)
{
  const char *fixture = data;
  const Expected *expected
      = g_str_equal (fixture, "workstation") ? workstation : server;
  g_autoptr (PpRegistry) registry = load_registry (fixture, NULL);
  g_autoptr (GPtrArray) devices = pp_registry_get_devices (registry);
  guint n = 0;

  for (const Expected *e = expected; e->address != NULL; e++, n++)
    {
      PpDevice *device = pp_registry_lookup (registry, e->address);

      if (device == NULL)
        g_error ("%s is missing", e->address);
      check_device (registry, device, e);
      /* get_devices() is sorted by address, as the table is. */
      g_assert_true (g_ptr_array_index (devices, n) == device);
    }
  g_assert_cmpuint (devices->len, ==, n);
}

static void
test_names (void)
{
  g_autoptr (PpHwdb) hwdb = pp_hwdb_new ();
  g_autoptr (PpRegistry) registry = NULL;
  g_autofree char *vendor = NULL;
  g_autofree char *name = NULL;

  /* CI installs udev for hwdb.bin: a missing database is a failure. */
  g_assert_true (pp_hwdb_is_available (hwdb));
  registry = load_registry ("workstation", hwdb);

  g_object_get (pp_registry_lookup (registry, "0000:01:00.0"), "vendor-name",
                &vendor, "device-name", &name, NULL);
  g_assert_cmpstr (vendor, ==, "NVIDIA Corporation");
  g_assert_cmpstr (name, ==, "AD102 [GeForce RTX 4090]");
  g_clear_pointer (&vendor, g_free);
  g_clear_pointer (&name, g_free);

  g_object_get (pp_registry_lookup (registry, "0000:02:00.0"), "vendor-name",
                &vendor, "device-name", &name, NULL);
  g_assert_cmpstr (vendor, ==, "Samsung Electronics Co Ltd");
  g_assert_cmpstr (name, ==, "NVMe SSD Controller SM981/PM981/PM983");

  /* The walk unmapped the database; IDs first seen later (a hot-added
   * device) open it again. */
  {
    const char *v = NULL;
    const char *d = NULL;

    pp_hwdb_lookup (hwdb, 0x8086, 0x1592, &v, &d);
    g_assert_cmpstr (v, ==, "Intel Corporation");
    g_assert_cmpstr (d, ==, "Ethernet Controller E810-C for QSFP");
  }
}

/* The IDs and class come from the uevent file, each attribute file being
 * the fallback for a line it lacks or spells wrong. */
static void
test_uevent_ids (void)
{
  g_autofree char *root = umockdev_testbed_get_root_dir (testbed);
  g_autofree char *gpu = NULL;
  g_autofree char *vendor = NULL;
  g_autoptr (PpSysfs) sysfs = NULL;
  g_autoptr (PpSysfsDevice) info = NULL;
  g_autoptr (GError) error = NULL;
  PpSysfsUevent u;

  pp_sysfs_parse_uevent ("DRIVER=nvidia\nPCI_CLASS=30000\nPCI_ID=10DE:2684\n"
                         "PCI_SUBSYS_ID=1458:408E\nPCI_SLOT_NAME=0000:01:00.0",
                         &u);
  g_assert_true (u.has_id && u.has_subsys && u.has_class);
  g_assert_cmphex (u.vendor_id, ==, 0x10de);
  g_assert_cmphex (u.device_id, ==, 0x2684);
  g_assert_cmphex (u.subsystem_vendor_id, ==, 0x1458);
  g_assert_cmphex (u.subsystem_device_id, ==, 0x408e);
  g_assert_cmphex (u.class_code, ==, 0x030000);

  pp_sysfs_parse_uevent ("PCI_ID=10DE\nPCI_SUBSYS_ID=1:2:3\nPCI_CLASS=1000000\n"
                         "PCI_ID=:1\n",
                         &u);
  g_assert_false (u.has_id || u.has_subsys || u.has_class);
  pp_sysfs_parse_uevent (NULL, &u);
  g_assert_false (u.has_id || u.has_subsys || u.has_class);

  /* The GPU reads without its vendor file: the uevent file said it. */
  load_testbed ("workstation");
  gpu = pp_testbed_get_devpath (testbed, "0000:01:00.0");
  vendor = g_build_filename (root, gpu, "vendor", NULL);
  g_assert_cmpint (g_unlink (vendor), ==, 0);
  sysfs = pp_sysfs_new (&error);
  g_assert_no_error (error);
  info = pp_sysfs_read_device (sysfs, gpu, &error);
  g_assert_no_error (error);
  g_assert_cmphex (info->vendor_id, ==, 0x10de);
  g_assert_cmphex (info->class_code, ==, 0x030000);
  g_assert_cmphex (info->subsystem_vendor_id, ==, 0x1458);
}

static void
test_groups_from_device_links (void)
{
  g_autofree char *root = umockdev_testbed_get_root_dir (testbed);
  g_autoptr (PpRegistry) registry = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (PpSysfs) sysfs = NULL;
  g_autofree char *link = NULL;
  g_auto (GStrv) members = NULL;

  load_testbed ("workstation");

  /* Membership comes from each device's own iommu_group link, read once
   * during the walk: the group directories are never listed. */
  link = g_build_filename (root, "sys/kernel/iommu_groups/2/devices",
                           "0000:01:00.1", NULL);
  g_assert_cmpint (g_unlink (link), ==, 0);

  sysfs = pp_sysfs_new (&error);
  g_assert_no_error (error);
  registry = pp_registry_new (sysfs, NULL);
  pp_registry_enumerate (registry, &error);
  g_assert_no_error (error);
  members
      = group_peers (registry, pp_registry_lookup (registry, "0000:01:00.0"));
  assert_strv_is ((const char *const *) members, "0000:00:01.0 0000:01:00.1");
}

static void
on_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  g_ptr_array_add (user_data, g_strdup (pspec->name));
}

static void
test_update_notifies_changes_only (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation", NULL);
  PpDevice *gpu = pp_registry_lookup (registry, "0000:01:00.0");
  g_autoptr (GError) error = NULL;
  g_autoptr (PpSysfs) sysfs = pp_sysfs_new (NULL);
  g_autoptr (PpSysfsDevice) info = NULL;
  g_autoptr (GPtrArray) notified = g_ptr_array_new_with_free_func (g_free);

  info = pp_sysfs_read_device (sysfs, pp_device_get_syspath (gpu), &error);
  g_assert_no_error (error);
  g_signal_connect (gpu, "notify", G_CALLBACK (on_notify), notified);

  /* The same state again: nothing to announce. */
  pp_device_update (gpu, info);
  g_assert_cmpuint (notified->len, ==, 0);

  /* A rebind changes the driver and, with it, the state: exactly those. */
  g_free (info->driver);
  info->driver = g_strdup ("vfio-pci");
  pp_device_update (gpu, info);
  g_assert_cmpuint (notified->len, ==, 2);
  g_assert_true (
      g_ptr_array_find_with_equal_func (notified, "driver", g_str_equal, NULL));
  g_assert_true (
      g_ptr_array_find_with_equal_func (notified, "state", g_str_equal, NULL));
  g_assert_cmpstr (pp_device_get_driver (gpu), ==, "vfio-pci");

  g_signal_handlers_disconnect_by_data (gpu, notified);
}

static void
test_pci_class (void)
{
  const struct
  {
    guint32 class_code;
    const char *type;
  } cases[] = {
    { 0x030000, "gpu" },     { 0x030200, "gpu" },     { 0x038000, "gpu" },
    { 0x020000, "network" }, { 0x028000, "network" }, { 0x010802, "storage" },
    { 0x010601, "storage" }, { 0x040300, "audio" },   { 0x040100, "audio" },
    { 0x040000, "other" },   { 0x0c0330, "usb" },     { 0x0c0500, "other" },
    { 0x060400, "bridge" },  { 0x060000, "bridge" },  { 0x120000, "other" },
    { 0xff0000, "other" },   { 0x000000, "other" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("class %06x", cases[i].class_code);
      g_assert_cmpstr (pp_pci_class_to_type (cases[i].class_code), ==,
                       cases[i].type);
      g_assert_true (pp_device_type_is_valid (cases[i].type));
    }
  g_assert_false (pp_device_type_is_valid ("toaster"));

  /* Only bridges with a type 1 or 2 header stay behind in a group move. */
  g_assert_true (pp_pci_class_is_pci_bridge (0x060400));
  g_assert_true (pp_pci_class_is_pci_bridge (0x060401));
  g_assert_true (pp_pci_class_is_pci_bridge (0x060700));
  g_assert_true (pp_pci_class_is_pci_bridge (0x060900));
  g_assert_false (pp_pci_class_is_pci_bridge (0x060000));
  g_assert_false (pp_pci_class_is_pci_bridge (0x060100));
  g_assert_false (pp_pci_class_is_pci_bridge (0x068000));
  g_assert_false (pp_pci_class_is_pci_bridge (0x030000));
  g_assert_false (pp_device_type_is_valid (NULL));
}

static void
test_iommu_drivers (void)
{
  const char *const manage[] = {
    "",         "vfio-pci", "mlx5_vfio_pci", "nvgrace_gpu_vfio_pci", "pci-stub",
    "pcieport", NULL,
  };
  const char *const claim[] = {
    "nvidia", "nouveau",       "snd_hda_intel", "xhci_hcd", "i915",
    "vfio",   "vfio_pci_core", "ast",           NULL,
  };

  g_assert_true (pp_driver_manages_dma (NULL));
  for (const char *const *d = manage; *d != NULL; d++)
    g_assert_true (pp_driver_manages_dma (*d));
  for (const char *const *d = claim; *d != NULL; d++)
    {
      g_test_message ("driver %s", *d);
      g_assert_false (pp_driver_manages_dma (*d));
      g_assert_false (pp_driver_is_vfio (*d));
    }
  g_assert_true (pp_driver_is_vfio ("vfio-pci"));
  g_assert_true (pp_driver_is_vfio ("hisi_acc_vfio_pci"));
  g_assert_false (pp_driver_is_vfio ("pci-stub"));
  g_assert_false (pp_driver_is_vfio (""));
  g_assert_false (pp_driver_is_vfio (NULL));
}

static void
test_address (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *huge = g_strnfill (100000, '0');
  g_autofree char *text = NULL;
  g_autofree char *path = NULL;
  PpAddress a;
  PpAddress b;
  const char *const invalid[] = {
    "",
    "0000:01:00",
    "0000:01:00.8",
    "0000:01:20.0",
    "000:01:00.0",
    "100000:01:00.0",
    "0000:1:00.0",
    "0000:01:00.0 ",
    "0000:01:00.0\n",
    "zzzz:01:00.0",
    "0000:01.00.0",
    ":01:00.0",
    "0000::01:00.0",
    "0000:01:00.-1",
    NULL,
  };

  g_assert_true (pp_address_parse ("0000:01:00.1", FALSE, &a, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (a.domain, ==, 0);
  g_assert_cmpuint (a.bus, ==, 1);
  g_assert_cmpuint (a.slot, ==, 0);
  g_assert_cmpuint (a.function, ==, 1);

  g_assert_true (pp_address_parse ("10000:E1:1F.7", FALSE, &b, &error));
  g_assert_cmpuint (b.domain, ==, 0x10000);
  g_assert_cmpuint (b.bus, ==, 0xe1);
  g_assert_cmpuint (b.slot, ==, 0x1f);
  g_assert_cmpuint (b.function, ==, 7);
  text = pp_address_to_string (&b);
  g_assert_cmpstr (text, ==, "10000:e1:1f.7");
  path = pp_address_to_object_path (text);
  g_assert_cmpstr (path, ==, "/io/github/pcipassd/devices/pci_10000_e1_1f_7");
  g_clear_pointer (&path, g_free);
  path = pp_address_to_object_path ("0000:01:00.0");
  g_assert_cmpstr (path, ==, "/io/github/pcipassd/devices/pci_0000_01_00_0");
  {
    g_autofree char *back = pp_address_from_object_path (path);
    g_autofree char *vmd = pp_address_from_object_path (
        "/io/github/pcipassd/devices/pci_10000_e1_1f_7");

    g_assert_cmpstr (back, ==, "0000:01:00.0");
    g_assert_cmpstr (vmd, ==, "10000:e1:1f.7");
    g_assert_null (pp_address_from_object_path ("/io/github/pcipassd/manager"));
    g_assert_null (
        pp_address_from_object_path ("/io/github/pcipassd/devices/pci_x"));
  }
  g_assert_cmpint (pp_address_compare (&a, &b), <, 0);
  g_assert_cmpint (pp_address_str_compare ("0000:02:00.0", "0000:01:00.1"), >,
                   0);

  /* lspci's short form means domain 0, only where asked for. */
  g_clear_pointer (&text, g_free);
  text = pp_address_normalize ("01:00.0", TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (text, ==, "0000:01:00.0");
  g_assert_false (pp_address_parse ("01:00.0", FALSE, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  for (const char *const *t = invalid; *t != NULL; t++)
    {
      g_test_message ("invalid: \"%s\"", *t);
      g_assert_false (pp_address_parse (*t, TRUE, NULL, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "invalid PCI address"));
      g_clear_error (&error);
    }

  /* A huge input is refused with a message of bounded size. */
  g_assert_false (pp_address_parse (huge, FALSE, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (strlen (error->message), <, 200);
  g_assert_nonnull (strstr (error->message, "truncated"));
}

static char *
read_attribute (const char *address, const char *name)
{
  g_autofree char *root = umockdev_testbed_get_root_dir (testbed);
  g_autofree char *path
      = g_build_filename (root, "sys/bus/pci/devices", address, name, NULL);
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

static void
test_kernel_write (void)
{
  g_autoptr (PpKernel) read_only = NULL;
  g_autoptr (PpKernel) writable = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  const char *override = "/sys/bus/pci/devices/0000:01:00.0/driver_override";

  load_testbed ("workstation");
  read_only = pp_kernel_new (TRUE, 1000);
  writable = pp_kernel_new (FALSE, 1000);
  before = read_attribute ("0000:01:00.0", "driver_override");

  g_assert_cmpstr (before, ==, "(null)\n");

  /* --read-only: refused with its own error, nothing written. */
  g_assert_false (pp_kernel_write (read_only, override, "vfio-pci", &error));
  g_assert_error (error, PP_ERROR, PP_ERROR_READ_ONLY);
  g_assert_nonnull (strstr (error->message, "--read-only"));
  g_assert_nonnull (strstr (error->message, override));
  g_clear_error (&error);
  after = read_attribute ("0000:01:00.0", "driver_override");
  g_assert_cmpstr (after, ==, before);
  g_clear_pointer (&after, g_free);

  /* Only the files of the bind sequence may be written. */
  g_assert_false (pp_kernel_write (
      writable, "/sys/bus/pci/devices/0000:01:00.0/remove", "1", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);
  g_assert_false (
      pp_kernel_write (writable, "/etc/driver_override", "x", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_clear_error (&error);

  /* A failing write names the file and the errno text. */
  g_assert_false (pp_kernel_write (
      writable, "/sys/bus/pci/devices/0000:09:00.0/driver_override", "vfio-pci",
      &error));
  g_assert_error (error, PP_ERROR, PP_ERROR_KERNEL);
  g_assert_nonnull (strstr (error->message, "0000:09:00.0/driver_override"));
  g_assert_nonnull (strstr (error->message, g_strerror (ENOENT)));
  g_clear_error (&error);

  /* Writable mode reaches the (simulated) file. */
  g_assert_true (pp_kernel_write (writable, override, "vfio-pci\n", &error));
  g_assert_no_error (error);
  after = read_attribute ("0000:01:00.0", "driver_override");
  g_assert_true (g_str_has_prefix (after, "vfio-pci\n"));
}

static void
test_enumerate_empty_host (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpSysfs) sysfs = NULL;
  g_autoptr (PpRegistry) registry = NULL;

  pp_testbed_clear (testbed);
  sysfs = pp_sysfs_new (&error);
  registry = pp_registry_new (sysfs, NULL);
  g_assert_true (pp_registry_enumerate (registry, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (pp_registry_get_n_devices (registry), ==, 0);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* A host with three NVMe disks and four NICs, one per function, for the
 * stacked-device cases below; each case adds its [host] section. */
#define STACK_HOST_DEVICES                                                     \
  "[0000:f1:00.0]\nvendor=144d\ndevice=a808\nclass=010802\ndriver=nvme\n"      \
  "iommu_group=1\nblock=nvme0n1 259:0\n"                                       \
  "[0000:f2:00.0]\nvendor=144d\ndevice=a808\nclass=010802\ndriver=nvme\n"      \
  "iommu_group=2\nblock=nvme1n1 259:1\n"                                       \
  "[0000:f3:00.0]\nvendor=144d\ndevice=a808\nclass=010802\ndriver=nvme\n"      \
  "iommu_group=3\nblock=nvme2n1 259:2\n"                                       \
  "[0000:f4:00.0]\nvendor=8086\ndevice=1533\nclass=020000\ndriver=igb\n"       \
  "iommu_group=4\nnet=eno1\n"                                                  \
  "[0000:f5:00.0]\nvendor=8086\ndevice=1533\nclass=020000\ndriver=igb\n"       \
  "iommu_group=5\nnet=eno2\n"                                                  \
  "[0000:f6:00.0]\nvendor=8086\ndevice=1533\nclass=020000\ndriver=igb\n"       \
  "iommu_group=6\nnet=eno3\n"                                                  \
  "[0000:f7:00.0]\nvendor=8086\ndevice=1533\nclass=020000\ndriver=igb\n"       \
  "iommu_group=7\nnet=eno4\n"

typedef struct
{
  const char *name;
  const char *host;      /* the [host] section's keys */
  const char *protected; /* "address=reason ...", sorted */
} StackCase;

static const StackCase stack_cases[] = {
  /* LUKS (dm-crypt) on an LVM volume (dm) on an NVMe disk. */
  { "dm-crypt-on-lvm-on-nvme",
    "stacked=dm-0 253:0 nvme1n1;dm-1 253:1 dm-0\nmounts=253:1 /\n",
    "0000:f2:00.0=mounted-filesystem" },
  { "mdraid-on-two-nvme", "stacked=md0 9:0 nvme0n1,nvme2n1\nmounts=9:0 /\n",
    "0000:f1:00.0=mounted-filesystem 0000:f3:00.0=mounted-filesystem" },
  { "bond-of-two-nics", "lowers=bond0 eno2,eno3\ndefault_route=bond0\n",
    "0000:f5:00.0=default-route 0000:f6:00.0=default-route" },
  { "bridge", "bridges=br0 eno4\ndefault_route=br0\n",
    "0000:f7:00.0=default-route" },
  { "vlan", "lowers=eno1.100 eno1\ndefault_route=eno1.100\n",
    "0000:f4:00.0=default-route" },
  /* A bridge on a bond on a VLAN: followed all the way down. */
  { "bridge-on-bond-on-vlan",
    "lowers=eno3.7 eno3;bond1 eno3.7,eno2\nbridges=br1 bond1\n"
    "default_route=br1\n",
    "0000:f5:00.0=default-route 0000:f6:00.0=default-route" },
  { "ipv6-only", "default_route6=eno4\n", "0000:f7:00.0=default-route" },
};

static void
test_protect_stacked (gconstpointer data)
{
  const StackCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *fixture
      = g_strconcat (STACK_HOST_DEVICES "[host]\n", c->host, NULL);
  g_autoptr (GHashTable) protected = NULL;
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *joined = NULL;
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  pp_testbed_clear (testbed);
  pp_testbed_load_data (testbed, fixture, -1, c->name, &error);
  g_assert_no_error (error);

  protected = pp_protect_scan ();
  g_hash_table_iter_init (&iter, protected);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_ptr_array_add (got, g_strdup_printf ("%s=%s", (const char *) key,
                                           (const char *) value));
  g_ptr_array_sort (got, compare_strings);
  g_ptr_array_add (got, NULL);
  joined = g_strjoinv (" ", (char **) got->pdata);
  g_assert_cmpstr (joined, ==, c->protected);
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/model/workstation/properties", "workstation",
                        test_fixture_properties);
  g_test_add_data_func ("/model/server/properties", "server",
                        test_fixture_properties);
  g_test_add_func ("/model/names", test_names);
  g_test_add_func ("/model/uevent-ids", test_uevent_ids);
  g_test_add_func ("/model/groups-from-device-links",
                   test_groups_from_device_links);
  g_test_add_func ("/model/update-notifies-changes-only",
                   test_update_notifies_changes_only);
  g_test_add_func ("/model/pci-class", test_pci_class);
  g_test_add_func ("/model/iommu-drivers", test_iommu_drivers);
  g_test_add_func ("/model/address", test_address);
  g_test_add_func ("/model/kernel-write", test_kernel_write);
  g_test_add_func ("/model/empty-host", test_enumerate_empty_host);
  for (guint i = 0; i < G_N_ELEMENTS (stack_cases); i++)
    {
      g_autofree char *name
          = g_strdup_printf ("/model/protect/%s", stack_cases[i].name);
      g_test_add_data_func (name, &stack_cases[i], test_protect_stacked);
    }

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
