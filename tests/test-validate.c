/* Validation on simulated hosts: ValidateHost's checks against fake
 * /proc and /dev directories and testbed sysfs, Device.Validate on the
 * fixtures' devices, and ValidateConfig on AI-HOW cluster files, the
 * malformed and hostile ones included.  Must run under
 * libumockdev-preload. */
#include "config.h"

#include "pp-check.h"
#include "pp-config.h"
#include "pp-error.h"
#include "pp-hostcheck.h"
#include "pp-registry.h"
#include "pp-testbed.h"
#include "pp-validate.h"
#include "pp-yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <umockdev.h>

static UMockdevTestbed *testbed;

/* Every check name the validation may report: the README's table. */
static const char *const known_checks[] = {
  /* host */
  "architecture", "kvm", "cpu-virtualization", "iommu", "acs-override",
  "vfio-pci", "vfio-iommu-backend", "vfio-container", "vfio-noiommu",
  "hugepages",
  /* device */
  "address", "device-type", "bridge", "driver", "iommu-group", "group-viable",
  "sriov", "reset", "protected", "in-use", "numa-node",
  /* config */
  "passthrough", "schema", "duplicate", "exists", "ids", "group-complete", NULL
};

/* ---- helpers ---- */

static void
dump (GPtrArray *results)
{
  for (guint i = 0; i < results->len; i++)
    {
      const PpCheck *c = g_ptr_array_index (results, i);
      g_test_message ("%s %s %s: %s%s%s", c->subject, c->check,
                      pp_severity_to_string (c->severity), c->message,
                      *c->remedy ? " => " : "", c->remedy);
    }
}

/* What DESIGN.md promises of every result. */
static void
assert_well_formed (GPtrArray *results)
{
  for (guint i = 0; i < results->len; i++)
    {
      const PpCheck *c = g_ptr_array_index (results, i);

      g_assert_cmpstr (c->subject, !=, "");
      g_assert_cmpstr (c->message, !=, "");
      if (!g_strv_contains (known_checks, c->check))
        g_error ("undocumented check name \"%s\"", c->check);
      if (c->severity == PP_SEVERITY_WARN || c->severity == PP_SEVERITY_FAIL)
        g_assert_cmpstr (c->remedy, !=, "");
      else
        g_assert_cmpstr (c->remedy, ==, "");
      g_assert_true (g_utf8_validate (c->message, -1, NULL));
      g_assert_true (g_utf8_validate (c->remedy, -1, NULL));
    }
}

/* The result of @check for @subject; fails the test unless there is one
 * with @severity. */
static const PpCheck *
assert_check (GPtrArray *results,
              const char *subject,
              const char *check,
              PpSeverity severity)
{
  const PpCheck *c = pp_checks_find (results, subject, check);

  if (c == NULL || c->severity != severity)
    {
      dump (results);
      g_error ("expected %s %s to %s, got %s", subject, check,
               pp_severity_to_string (severity),
               c != NULL ? pp_severity_to_string (c->severity) : "nothing");
    }
  return c;
}

static void
assert_contains (const char *text, const char *part)
{
  if (strstr (text, part) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", text, part);
}

static void
assert_no_fail (GPtrArray *results)
{
  if (pp_checks_any_failed (results))
    {
      dump (results);
      g_error ("unexpected fail result");
    }
}

static guint
count_check (GPtrArray *results, const char *check)
{
  guint n = 0;

  for (guint i = 0; i < results->len; i++)
    if (g_str_equal (((PpCheck *) g_ptr_array_index (results, i))->check,
                     check))
      n++;
  return n;
}

/* The preload takes every open() of a path that starts with "/dev/" for
 * one of a device node, and TMPDIR=/dev/shm puts the testbed and the fake
 * host there: spelt through /proc/self/root, the same files are ordinary
 * ones. */
static char *
outside_dev (const char *path)
{
  if (g_str_has_prefix (path, "/dev/"))
    return g_strconcat ("/proc/self/root", path, NULL);
  return g_strdup (path);
}

static char *
testbed_path (const char *relative)
{
  g_autofree char *root = umockdev_testbed_get_root_dir (testbed);
  g_autofree char *path = g_build_filename (root, relative, NULL);
  return outside_dev (path);
}

/* Creates a file (and its directories) under the testbed's root. */
static void
testbed_file (const char *relative, const char *contents)
{
  g_autofree char *path = testbed_path (relative);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static void
testbed_dir (const char *relative)
{
  g_autofree char *path = testbed_path (relative);
  g_assert_cmpint (g_mkdir_with_parents (path, 0755), ==, 0);
}

static void
load_fixture (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path (name);

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);
}

static void
load_fixture_data (const char *data)
{
  g_autoptr (GError) error = NULL;

  pp_testbed_clear (testbed);
  pp_testbed_load_data (testbed, data, -1, "inline", &error);
  g_assert_no_error (error);
}

static PpRegistry *
new_registry (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpSysfs) sysfs = pp_sysfs_new (&error);
  g_autoptr (PpRegistry) registry = NULL;

  g_assert_no_error (error);
  registry = pp_registry_new (sysfs, NULL);
  pp_registry_enumerate (registry, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&registry);
}

static PpRegistry *
load_registry (const char *fixture)
{
  load_fixture (fixture);
  return new_registry ();
}

static GPtrArray *
validate_device (PpRegistry *registry, const char *address)
{
  PpDevice *device = pp_registry_lookup (registry, address);
  GPtrArray *results;

  g_assert_nonnull (device);
  results = pp_validate_device (registry, device);
  assert_well_formed (results);
  /* One result per check, whatever the device. */
  g_assert_cmpuint (results->len, ==, 11);
  return results;
}

static char *
config_path (const char *name)
{
  g_autofree char *topo = pp_testbed_fixture_path ("workstation");
  g_autofree char *dir = g_path_get_dirname (topo);
  return g_build_filename (dir, "configs", name, NULL);
}

static GPtrArray *
validate_config_file (PpRegistry *registry,
                      const char *name,
                      const char *node,
                      gboolean skip)
{
  g_autofree char *path = config_path (name);
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  gsize length;
  GPtrArray *results;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  results = pp_config_validate (registry, contents, length, node, skip, &error);
  g_assert_no_error (error);
  assert_well_formed (results);
  return results;
}

/* Asserts that @yaml is a Config error at @position ("LINE:COLUMN"). */
static void
assert_config_error (const char *yaml,
                     gssize length,
                     const char *position,
                     const char *part)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) results = NULL;
  g_autofree char *prefix = g_strconcat (position, ": ", NULL);

  results = pp_config_validate (NULL, yaml,
                                length < 0 ? strlen (yaml) : (gsize) length,
                                NULL, TRUE, &error);
  if (results != NULL)
    {
      dump (results);
      g_error ("expected a Config error at %s for:\n%s", position, yaml);
    }
  g_assert_error (error, PP_ERROR, PP_ERROR_CONFIG);
  if (!g_str_has_prefix (error->message, prefix))
    g_error ("\"%s\" does not start at %s", error->message, position);
  if (part != NULL)
    assert_contains (error->message, part);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
}

/* A Config error that starts with "LINE:COLUMN: ", both at least 1. */
static void
assert_positioned_error (const GError *error)
{
  g_autoptr (GRegex) regex
      = g_regex_new ("^[1-9][0-9]*:[1-9][0-9]*: .", 0, 0, NULL);

  g_assert_error (error, PP_ERROR, PP_ERROR_CONFIG);
  if (!g_regex_match (regex, error->message, 0, NULL))
    g_error ("no position in \"%s\"", error->message);
  g_assert_true (g_utf8_validate (error->message, -1, NULL));
}

/* ---- the fake /proc and /dev of ValidateHost ---- */

typedef struct
{
  char *dir;
  char *proc;
  char *dev;
  PpHostPaths paths;
} FakeHost;

#define INTEL_CPUINFO                                                          \
  "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"               \
  "model name\t: Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz\n"                   \
  "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic vmx ept sse4_2 avx2\n\n"
#define AMD_CPUINFO                                                            \
  "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"              \
  "model name\t: AMD Ryzen 7 5800X 8-Core Processor\n"                         \
  "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic svm npt avx2\n\n"
#define NO_VIRT_CPUINFO                                                        \
  "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"               \
  "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sse4_2 avx2\n\n"
#define CMDLINE "BOOT_IMAGE=/vmlinuz-6.1.0-13-amd64 root=UUID=1234 ro quiet\n"
#define MEMINFO_HUGE                                                           \
  "MemTotal:       65768240 kB\nHugePages_Total:      16\n"                    \
  "HugePages_Free:       16\nHugepagesize:       2048 kB\n"
#define MEMINFO_NONE                                                           \
  "MemTotal:       65768240 kB\nHugePages_Total:       0\n"                    \
  "HugePages_Free:        0\nHugepagesize:       2048 kB\n"

static void
fake_write (FakeHost *h, const char *base, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (base, name, NULL);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
fake_remove (const char *base, const char *name)
{
  g_autofree char *path = g_build_filename (base, name, NULL);
  g_assert_cmpint (g_unlink (path), ==, 0);
}

/* A host ready for passthrough: Intel with VT-x, /dev/kvm, the VFIO
 * container node at mode 0666, 2 MiB huge pages reserved. */
static FakeHost *
fake_host_new (void)
{
  FakeHost *h = g_new0 (FakeHost, 1);
  g_autoptr (GError) error = NULL;
  g_autofree char *container = NULL;
  g_autofree char *dir = g_dir_make_tmp ("pp-validate-XXXXXX", &error);

  g_assert_no_error (error);
  h->dir = outside_dev (dir);
  h->proc = g_build_filename (h->dir, "proc", NULL);
  h->dev = g_build_filename (h->dir, "dev", NULL);
  fake_write (h, h->proc, "cpuinfo", INTEL_CPUINFO);
  fake_write (h, h->proc, "cmdline", CMDLINE);
  fake_write (h, h->proc, "meminfo", MEMINFO_HUGE);
  fake_write (h, h->dev, "kvm", "");
  fake_write (h, h->dev, "vfio/vfio", "");
  container = g_build_filename (h->dev, "vfio/vfio", NULL);
  g_assert_cmpint (g_chmod (container, 0666), ==, 0);
  h->paths.proc_dir = h->proc;
  h->paths.dev_dir = h->dev;
  h->paths.machine = "x86_64";
  return h;
}

static void
fake_host_free (FakeHost *h)
{
  /* Plain files in a directory of our own: remove them one by one. */
  const char *const files[] = {
    "proc/cpuinfo", "proc/cmdline", "proc/meminfo", "dev/kvm", "dev/vfio/vfio",
    "dev/iommu",    "dev/vfio",     "proc",         "dev",     NULL
  };
  for (guint i = 0; files[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (h->dir, files[i], NULL);
      if (g_remove (path) < 0 && errno != ENOENT)
        g_warning ("cannot remove %s: %s", path, g_strerror (errno));
    }
  g_rmdir (h->dir);
  g_free (h->dir);
  g_free (h->proc);
  g_free (h->dev);
  g_free (h);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FakeHost, fake_host_free)

/* The sysfs of a host with the VFIO stack loaded. */
static void
add_vfio_modules (void)
{
  testbed_dir ("sys/module/vfio_iommu_type1");
  testbed_file ("sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n");
}

/* The manager's properties agree with the checks they stand for. */
/* The manager's three properties, as the daemon derives them. */
static gboolean
host_property (const PpHostPaths *paths, guint which)
{
  g_autoptr (GPtrArray) results = pp_hostcheck_run (paths);
  gboolean values[3];

  pp_hostcheck_summarize (results, &values[0], &values[1], &values[2]);
  return values[which];
}

enum
{
  IOMMU_ENABLED,
  VFIO_AVAILABLE,
  KVM_AVAILABLE
};

static void
assert_properties_agree (const PpHostPaths *paths, GPtrArray *results)
{
  const char *const vfio[]
      = { "vfio-pci", "vfio-iommu-backend", "vfio-container", NULL };
  const char *const kvm[] = { "kvm", "cpu-virtualization", NULL };
  gboolean vfio_failed = FALSE;
  gboolean kvm_failed = FALSE;
  gboolean iommu;
  gboolean vfio_ok;
  gboolean kvm_ok;

  for (guint i = 0; i < results->len; i++)
    {
      const PpCheck *c = g_ptr_array_index (results, i);
      if (c->severity != PP_SEVERITY_FAIL)
        continue;
      vfio_failed |= g_strv_contains (vfio, c->check);
      kvm_failed |= g_strv_contains (kvm, c->check);
    }
  g_assert_cmpint (host_property (paths, IOMMU_ENABLED), ==,
                   pp_checks_find (results, "host", "iommu")->severity
                       == PP_SEVERITY_PASS);
  g_assert_cmpint (host_property (paths, VFIO_AVAILABLE), ==, !vfio_failed);
  g_assert_cmpint (host_property (paths, KVM_AVAILABLE), ==, !kvm_failed);

  /* The summary of one run says the same. */
  pp_hostcheck_summarize (results, &iommu, &vfio_ok, &kvm_ok);
  g_assert_cmpint (iommu, ==, host_property (paths, IOMMU_ENABLED));
  g_assert_cmpint (vfio_ok, ==, !vfio_failed);
  g_assert_cmpint (kvm_ok, ==, !kvm_failed);
}

static GPtrArray *
run_host (FakeHost *h)
{
  GPtrArray *results = pp_hostcheck_run (&h->paths);

  assert_well_formed (results);
  g_assert_cmpuint (results->len, ==, 10);
  for (guint i = 0; i < results->len; i++)
    g_assert_cmpstr (((PpCheck *) g_ptr_array_index (results, i))->subject, ==,
                     "host");
  assert_properties_agree (&h->paths, results);
  return results;
}

/* A host whose firmware has the IOMMU off: no /sys/class/iommu units, no
 * IOMMU groups. */
static const char no_iommu_topo[] = "[host]\n"
                                    "drivers=vfio-pci\n"
                                    "mounts=\n"
                                    "default_route=\n"
                                    "[0000:01:00.0]\n"
                                    "vendor=10de\n"
                                    "device=2684\n"
                                    "class=030000\n"
                                    "driver=nvidia\n"
                                    "reset_method=flr\n";

/* ---- host ---- */

static void
test_host_ready (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();
  g_autoptr (GPtrArray) results = NULL;
  const PpCheck *c;

  load_fixture ("workstation");
  add_vfio_modules ();
  results = run_host (h);
  for (guint i = 0; i < results->len; i++)
    if (((PpCheck *) g_ptr_array_index (results, i))->severity
        != PP_SEVERITY_PASS)
      {
        dump (results);
        g_error ("a ready host must pass every check");
      }
  c = assert_check (results, "host", "iommu", PP_SEVERITY_PASS);
  assert_contains (c->message, "dmar0, dmar1");
  c = assert_check (results, "host", "vfio-container", PP_SEVERITY_PASS);
  assert_contains (c->message, "0666 (-rw-rw-rw-)");
  assert_check (results, "host", "cpu-virtualization", PP_SEVERITY_PASS);
  g_assert_true (host_property (&h->paths, IOMMU_ENABLED));
  g_assert_true (host_property (&h->paths, VFIO_AVAILABLE));
  g_assert_true (host_property (&h->paths, KVM_AVAILABLE));
}

static void
test_host_architecture (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();
  const PpCheck *c;

  load_fixture ("workstation");
  add_vfio_modules ();
  {
    g_autoptr (GPtrArray) results = NULL;

    h->paths.machine = "aarch64";
    results = run_host (h);
    c = assert_check (results, "host", "architecture", PP_SEVERITY_WARN);
    assert_contains (c->remedy, "x86_64");
    /* No vmx/svm on Arm: /dev/kvm alone decides. */
    assert_check (results, "host", "cpu-virtualization", PP_SEVERITY_SKIP);
    g_assert_true (host_property (&h->paths, KVM_AVAILABLE));
  }
  {
    g_autoptr (GPtrArray) results = NULL;

    h->paths.machine = "mips";
    results = run_host (h);
    c = assert_check (results, "host", "architecture", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "x86_64");
  }
}

static void
test_host_no_kvm (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();
  const PpCheck *c;

  load_fixture ("workstation");
  add_vfio_modules ();

  /* Virtualization off in the firmware: no flag, no /dev/kvm. */
  fake_write (h, h->proc, "cpuinfo", NO_VIRT_CPUINFO);
  fake_remove (h->dev, "kvm");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "kvm", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "VT-x");
    assert_contains (c->remedy, "modprobe kvm_intel");
    c = assert_check (results, "host", "cpu-virtualization", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "firmware setup");
    g_assert_false (host_property (&h->paths, KVM_AVAILABLE));
  }

  /* The CPU can, the module is not loaded. */
  fake_write (h, h->proc, "cpuinfo", AMD_CPUINFO);
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "kvm", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "modprobe kvm_amd");
    c = assert_check (results, "host", "cpu-virtualization", PP_SEVERITY_PASS);
    assert_contains (c->message, "svm");
    g_assert_false (host_property (&h->paths, KVM_AVAILABLE));
  }

  /* /dev/kvm works without the flag (kvm_pvm, as on the machine these
   * tests were written on, or a hypervisor hiding it): usable, with a
   * warning. */
  fake_write (h, h->dev, "kvm", "");
  fake_write (h, h->proc, "cpuinfo", NO_VIRT_CPUINFO);
  {
    g_autoptr (GPtrArray) results = run_host (h);

    assert_check (results, "host", "kvm", PP_SEVERITY_PASS);
    c = assert_check (results, "host", "cpu-virtualization", PP_SEVERITY_WARN);
    assert_contains (c->message, "yet /dev/kvm works");
    g_assert_true (host_property (&h->paths, KVM_AVAILABLE));
  }
}

static void
test_host_no_iommu (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();
  const PpCheck *c;

  load_fixture_data (no_iommu_topo);
  add_vfio_modules ();

  /* Intel without the option: add it, and say how. */
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->message, "/sys/class/iommu");
    assert_contains (c->remedy,
                     "add intel_iommu=on to the kernel command line");
    assert_contains (c->remedy, "GRUB_CMDLINE_LINUX in /etc/default/grub");
    assert_contains (c->remedy, "update-grub");
    assert_contains (c->remedy, "grub2-mkconfig");
    assert_contains (c->remedy, "/boot/loader/entries");
    g_assert_false (host_property (&h->paths, IOMMU_ENABLED));
  }

  /* Turned off on the command line: remove that. */
  fake_write (h, h->proc, "cmdline", "root=/dev/sda1 intel_iommu=off quiet\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->remedy,
                     "remove intel_iommu=off from the kernel command line");
    assert_contains (c->remedy, "grubby --update-kernel=ALL "
                                "--remove-args=intel_iommu=off");
  }

  /* The kernel reads "off" by its first three letters, and the last
   * item wins; the remedy names the word as written. */
  fake_write (h, h->proc, "cmdline",
              "intel_iommu=on root=/dev/sda1 intel_iommu=sm_on,off1\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "remove intel_iommu=sm_on,off1 from the "
                                "kernel command line");
  }
  fake_write (h, h->proc, "cmdline",
              "intel_iommu=off root=/dev/sda1 intel_iommu=igfx_off,on\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "the kernel already has intel_iommu=on");
  }

  /* Asked for and still off: the firmware has VT-d off. */
  fake_write (h, h->proc, "cmdline",
              "root=/dev/sda1 intel_iommu=on iommu=pt\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "enable VT-d");
    assert_contains (c->remedy, "firmware setup");
  }

  /* AMD: AMD-Vi has no "on" option; amd_iommu=off is the one to drop. */
  fake_write (h, h->proc, "cpuinfo", AMD_CPUINFO);
  fake_write (h, h->proc, "cmdline", "root=/dev/sda1 quiet\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "AMD-Vi");
    assert_contains (c->remedy, "firmware setup");
  }
  fake_write (h, h->proc, "cmdline", "root=/dev/sda1 amd_iommu=off\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "remove amd_iommu=off");
  }
}

/* The command line never decides whether the IOMMU is on. */
static void
test_host_iommu_from_sysfs (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();

  /* No option at all, but units and groups: on (VT-d on by default). */
  load_fixture ("workstation");
  add_vfio_modules ();
  fake_write (h, h->proc, "cmdline", "root=/dev/nvme0n1p2\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);
    assert_check (results, "host", "iommu", PP_SEVERITY_PASS);
  }

  /* Units without groups (the IOMMU found but not in use): off. */
  load_fixture_data ("[host]\niommu=dmar0\nmounts=\ndefault_route=\n"
                     "[0000:01:00.0]\nvendor=10de\ndevice=2684\n"
                     "class=030000\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);
    const PpCheck *c
        = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->message, "has no group");
  }

  /* Groups without units: off too. */
  load_fixture_data ("[host]\nmounts=\ndefault_route=\n"
                     "[0000:01:00.0]\nvendor=10de\ndevice=2684\n"
                     "class=030000\niommu_group=1\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);
    const PpCheck *c
        = assert_check (results, "host", "iommu", PP_SEVERITY_FAIL);
    assert_contains (c->message, "lists no IOMMU unit");
  }
}

static void
test_host_vfio (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();
  g_autofree char *container = g_build_filename (h->dev, "vfio/vfio", NULL);
  const PpCheck *c;

  /* Nothing of VFIO: no driver, no backend, no container node. */
  load_fixture_data ("[host]\nmounts=\ndefault_route=\n"
                     "[0000:01:00.0]\nvendor=10de\ndevice=2684\n"
                     "class=030000\ndriver=nvidia\n");
  fake_remove (h->dev, "vfio/vfio");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "vfio-pci", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "modprobe vfio-pci");
    c = assert_check (results, "host", "vfio-iommu-backend", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "modprobe vfio_iommu_type1");
    c = assert_check (results, "host", "vfio-container", PP_SEVERITY_FAIL);
    assert_contains (c->remedy, "modprobe vfio");
    g_assert_false (host_property (&h->paths, VFIO_AVAILABLE));
  }

  /* vfio-pci built in (its driver directory only), iommufd instead of
   * type1 and no legacy container: usable, with a warning. */
  load_fixture ("workstation");
  fake_write (h, h->dev, "iommu", "");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    assert_check (results, "host", "vfio-pci", PP_SEVERITY_PASS);
    c = assert_check (results, "host", "vfio-iommu-backend", PP_SEVERITY_PASS);
    g_assert_cmpstr (c->message, ==, "iommufd");
    c = assert_check (results, "host", "vfio-container", PP_SEVERITY_WARN);
    assert_contains (c->message, "iommufd");
    g_assert_true (host_property (&h->paths, VFIO_AVAILABLE));
  }
  fake_remove (h->dev, "iommu");

  /* The container node with a mode a non-root VMM cannot open. */
  add_vfio_modules ();
  fake_write (h, h->dev, "vfio/vfio", "");
  g_assert_cmpint (g_chmod (container, 0600), ==, 0);
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "vfio-container", PP_SEVERITY_WARN);
    assert_contains (c->message, "0600 (-rw-------)");
    assert_contains (c->remedy, "chmod 0666");
    g_assert_true (host_property (&h->paths, VFIO_AVAILABLE));
  }
}

static void
test_host_noiommu_mode (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();
  g_autoptr (GPtrArray) results = NULL;
  const PpCheck *c;

  load_fixture ("workstation");
  add_vfio_modules ();
  testbed_file ("sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
  results = run_host (h);
  c = assert_check (results, "host", "vfio-noiommu", PP_SEVERITY_WARN);
  assert_contains (c->remedy, "echo N > "
                              "/sys/module/vfio/parameters/"
                              "enable_unsafe_noiommu_mode");
}

static void
test_host_acs_override (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();
  g_autoptr (GPtrArray) results = NULL;
  const PpCheck *c;

  load_fixture ("workstation");
  add_vfio_modules ();
  fake_write (h, h->proc, "cmdline",
              "root=/dev/sda1 intel_iommu=on "
              "pcie_acs_override=downstream,multifunction\n");
  results = run_host (h);
  c = assert_check (results, "host", "acs-override", PP_SEVERITY_WARN);
  assert_contains (c->message, "pcie_acs_override=downstream,multifunction");
  assert_contains (c->remedy, "remove pcie_acs_override=downstream,"
                              "multifunction from the kernel command line");
}

static void
test_host_hugepages (void)
{
  g_autoptr (FakeHost) h = fake_host_new ();
  const PpCheck *c;

  load_fixture ("workstation");
  add_vfio_modules ();
  fake_write (h, h->proc, "meminfo", MEMINFO_NONE);
  testbed_file ("sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "hugepages", PP_SEVERITY_WARN);
    assert_contains (c->remedy, "vm.nr_hugepages");
    assert_contains (c->remedy, "hugepages=N");
  }

  /* 1 GiB pages do not show in HugePages_Total (the default size). */
  testbed_file ("sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
                "8\n");
  {
    g_autoptr (GPtrArray) results = run_host (h);

    c = assert_check (results, "host", "hugepages", PP_SEVERITY_PASS);
    assert_contains (c->message, "8 in hugepages-1048576kB");
  }
}

/* ---- devices ---- */

static void
test_device_gpu_with_audio (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  g_autoptr (GPtrArray) gpu = validate_device (registry, "0000:01:00.0");
  g_autoptr (GPtrArray) audio = validate_device (registry, "0000:01:00.1");
  const PpCheck *c;

  assert_no_fail (gpu);
  assert_check (gpu, "0000:01:00.0", "address", PP_SEVERITY_PASS);
  c = assert_check (gpu, "0000:01:00.0", "device-type", PP_SEVERITY_PASS);
  assert_contains (c->message, "gpu, class 0x030000, ID 10de:2684");
  assert_check (gpu, "0000:01:00.0", "bridge", PP_SEVERITY_PASS);
  c = assert_check (gpu, "0000:01:00.0", "driver", PP_SEVERITY_WARN);
  assert_contains (c->message, "nvidia");
  assert_contains (c->remedy, "pcipassctl bind 0000:01:00.0");
  c = assert_check (gpu, "0000:01:00.0", "iommu-group", PP_SEVERITY_PASS);
  assert_contains (c->message, "IOMMU group 2, shared with 0000:00:01.0, "
                               "0000:01:00.1");
  /* The root port is on pcieport and stays; the audio function blocks. */
  c = assert_check (gpu, "0000:01:00.0", "group-viable", PP_SEVERITY_WARN);
  assert_contains (c->message, "0000:01:00.1 (audio, snd_hda_intel)");
  g_assert_null (strstr (c->message, "0000:00:01.0"));
  assert_contains (c->remedy, "pcipassctl bind 0000:01:00.0");
  c = assert_check (gpu, "0000:01:00.0", "reset", PP_SEVERITY_PASS);
  assert_contains (c->message, "flr, bus");
  assert_check (gpu, "0000:01:00.0", "sriov", PP_SEVERITY_PASS);
  assert_check (gpu, "0000:01:00.0", "protected", PP_SEVERITY_PASS);
  assert_check (gpu, "0000:01:00.0", "in-use", PP_SEVERITY_PASS);
  c = assert_check (gpu, "0000:01:00.0", "numa-node", PP_SEVERITY_PASS);
  assert_contains (c->message, "no NUMA node");

  c = assert_check (audio, "0000:01:00.1", "driver", PP_SEVERITY_WARN);
  assert_contains (c->message, "snd_hda_intel");
  c = assert_check (audio, "0000:01:00.1", "group-viable", PP_SEVERITY_WARN);
  assert_contains (c->message, "0000:01:00.0 (gpu, nvidia)");
}

static void
test_device_protected (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  g_autoptr (GPtrArray) igpu = validate_device (registry, "0000:00:02.0");
  g_autoptr (GPtrArray) nvme = validate_device (registry, "0000:02:00.0");
  g_autoptr (GPtrArray) nic = validate_device (registry, "0000:00:1f.6");
  const PpCheck *c;

  c = assert_check (igpu, "0000:00:02.0", "protected", PP_SEVERITY_FAIL);
  assert_contains (c->message, "boot-vga");
  assert_contains (c->remedy, "pcipassctl bind 0000:00:02.0 --force");
  assert_contains (c->remedy, "choose another device");
  c = assert_check (nvme, "0000:02:00.0", "protected", PP_SEVERITY_FAIL);
  assert_contains (c->message, "mounted-filesystem");
  c = assert_check (nic, "0000:00:1f.6", "protected", PP_SEVERITY_FAIL);
  assert_contains (c->message, "default-route");
  /* Its group mate is the LPC bridge, unbound: viable. */
  assert_check (nic, "0000:00:1f.6", "group-viable", PP_SEVERITY_PASS);
}

static void
test_device_bridge (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  g_autoptr (GPtrArray) port = validate_device (registry, "0000:00:01.0");
  g_autoptr (GPtrArray) host = validate_device (registry, "0000:00:00.0");
  const PpCheck *c;

  c = assert_check (port, "0000:00:01.0", "bridge", PP_SEVERITY_FAIL);
  assert_contains (c->message, "PCI-to-PCI bridge");
  assert_contains (c->remedy, "pcipassctl groups");
  assert_check (port, "0000:00:01.0", "driver", PP_SEVERITY_SKIP);
  assert_check (port, "0000:00:01.0", "group-viable", PP_SEVERITY_SKIP);
  assert_check (port, "0000:00:01.0", "reset", PP_SEVERITY_SKIP);
  c = assert_check (host, "0000:00:00.0", "bridge", PP_SEVERITY_FAIL);
  assert_contains (c->message, "class 0x060000");
}

/* A GPU in a chipset slot shares its group with the chipset's USB
 * controller: passing it takes the USB ports from the host. */
static void
test_device_shared_with_usb (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("shared-group");
  g_autoptr (GPtrArray) gpu = validate_device (registry, "0000:04:00.0");
  g_autoptr (GPtrArray) usb = validate_device (registry, "0000:02:00.0");
  g_autoptr (GPtrArray) primary = validate_device (registry, "0000:0a:00.0");
  const PpCheck *c;

  c = assert_check (gpu, "0000:04:00.0", "group-viable", PP_SEVERITY_FAIL);
  assert_contains (c->message, "0000:02:00.0 (usb, xhci_hcd)");
  assert_contains (c->message, "0000:04:00.1 (audio, snd_hda_intel)");
  /* The switch ports are on pcieport: they do not block. */
  g_assert_null (strstr (c->message, "0000:02:00.2"));
  g_assert_null (strstr (c->message, "0000:03:04.0"));
  assert_contains (c->remedy, "pcipassctl bind 0000:04:00.0");
  assert_contains (c->remedy, "pcipassctl groups");
  c = assert_check (gpu, "0000:04:00.0", "driver", PP_SEVERITY_WARN);
  assert_contains (c->message, "nouveau");

  /* The USB controller has no reset method. */
  c = assert_check (usb, "0000:02:00.0", "reset", PP_SEVERITY_WARN);
  assert_contains (c->remedy, "reboot");

  /* The boot GPU is alone with its audio function, and protected. */
  c = assert_check (primary, "0000:0a:00.0", "group-viable", PP_SEVERITY_WARN);
  assert_contains (c->message, "0000:0a:00.1");
  assert_check (primary, "0000:0a:00.0", "protected", PP_SEVERITY_FAIL);
}

static void
test_device_server (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("server");
  const PpCheck *c;

  /* Two GPUs behind one switch without ACS share a group with its
   * ports: the ports stay on pcieport, the other GPU blocks. */
  {
    g_autoptr (GPtrArray) r = validate_device (registry, "0000:1a:00.0");

    c = assert_check (r, "0000:1a:00.0", "group-viable", PP_SEVERITY_FAIL);
    assert_contains (c->message, "0000:1b:00.0 (gpu, nvidia)");
    g_assert_null (strstr (c->message, "0000:18:00.0"));
    c = assert_check (r, "0000:1a:00.0", "numa-node", PP_SEVERITY_PASS);
    assert_contains (c->message, "NUMA node 0");
  }
  /* A PF with VFs enabled. */
  {
    g_autoptr (GPtrArray) r = validate_device (registry, "0000:3b:00.0");

    c = assert_check (r, "0000:3b:00.0", "sriov", PP_SEVERITY_FAIL);
    assert_contains (c->message, "4 VFs");
    assert_contains (c->remedy, "echo 0 > "
                                "/sys/bus/pci/devices/0000:3b:00.0/"
                                "sriov_numvfs");
    assert_contains (c->remedy, "0000:3b:02.0");
  }
  /* A VF on vfio-pci: ready. */
  {
    g_autoptr (GPtrArray) r = validate_device (registry, "0000:3b:02.1");

    assert_no_fail (r);
    c = assert_check (r, "0000:3b:02.1", "sriov", PP_SEVERITY_PASS);
    assert_contains (c->message, "virtual function of 0000:3b:00.0");
    assert_check (r, "0000:3b:02.1", "driver", PP_SEVERITY_PASS);
    assert_check (r, "0000:3b:02.1", "group-viable", PP_SEVERITY_PASS);
  }
  /* Unbound, with the override set. */
  {
    g_autoptr (GPtrArray) r = validate_device (registry, "0000:3b:02.2");

    c = assert_check (r, "0000:3b:02.2", "driver", PP_SEVERITY_WARN);
    assert_contains (c->message, "driver_override is \"vfio-pci\"");
    assert_contains (c->remedy, "pcipassctl bind 0000:3b:02.2");
  }
  /* Behind VMD: no IOMMU group. */
  {
    g_autoptr (GPtrArray) r = validate_device (registry, "10000:01:00.0");

    c = assert_check (r, "10000:01:00.0", "iommu-group", PP_SEVERITY_FAIL);
    assert_contains (c->message, "VMD");
    assert_contains (c->remedy, "VMD");
    assert_check (r, "10000:01:00.0", "group-viable", PP_SEVERITY_SKIP);
    c = assert_check (r, "10000:01:00.0", "address", PP_SEVERITY_PASS);
    assert_contains (c->message, "VMD domain");
  }
  /* The BMC's VGA: protected, no reset method, and its group mate is a
   * PCIe-to-PCI bridge without a driver, which does not block. */
  {
    g_autoptr (GPtrArray) r = validate_device (registry, "0000:02:00.0");

    assert_check (r, "0000:02:00.0", "protected", PP_SEVERITY_FAIL);
    assert_check (r, "0000:02:00.0", "reset", PP_SEVERITY_WARN);
    assert_check (r, "0000:02:00.0", "group-viable", PP_SEVERITY_PASS);
  }
}

/* A member on a driver that keeps the group from ever being viable. */
static void
test_device_stuck_member (void)
{
  g_autoptr (PpRegistry) registry = NULL;
  g_autoptr (GPtrArray) r = NULL;
  const PpCheck *c;

  load_fixture_data ("[host]\ndrivers=vfio-pci\niommu=dmar0\nmounts=\n"
                     "default_route=enp1s0f1\n"
                     "[0000:00:1c.0]\nvendor=8086\ndevice=a190\n"
                     "class=060400\ndriver=shpchp\niommu_group=9\n"
                     "[0000:01:00.0]\nparent=0000:00:1c.0\nvendor=10de\n"
                     "device=1c82\nclass=030000\ndriver=nouveau\n"
                     "iommu_group=9\nreset_method=bus\n"
                     "[0000:01:00.1]\nparent=0000:00:1c.0\nvendor=8086\n"
                     "device=1521\nclass=020000\ndriver=igb\n"
                     "iommu_group=9\nnet=enp1s0f1\nreset_method=flr\n");
  registry = new_registry ();
  r = validate_device (registry, "0000:01:00.0");
  c = assert_check (r, "0000:01:00.0", "group-viable", PP_SEVERITY_FAIL);
  assert_contains (c->message, "0000:00:1c.0 is a bridge on a host driver");
  assert_contains (c->message, "0000:01:00.1 is protected (default-route)");
  assert_contains (c->remedy, "pcipassctl bind 0000:01:00.0 --force");
  assert_contains (c->remedy, "if the host can do without shpchp, unbind "
                              "it: echo 0000:00:1c.0 > "
                              "/sys/bus/pci/devices/0000:00:1c.0/driver/"
                              "unbind");
}

static void
test_device_in_use (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("server");
  g_autofree char *node = testbed_path ("dev/vfio/43");
  int fd;
  const PpCheck *c;

  /* A "VM" holds the VF's group open.  Through its file in the testbed:
   * opening /dev/vfio/43 itself would ask umockdev for ioctl emulation,
   * which this node does not have. */
  fd = open (node, O_RDWR | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  {
    g_autoptr (GPtrArray) r = validate_device (registry, "0000:3b:02.1");

    c = assert_check (r, "0000:3b:02.1", "in-use", PP_SEVERITY_WARN);
    assert_contains (c->message, "/dev/vfio/43");
    assert_contains (c->remedy, "fuser -v /dev/vfio/43");
  }
  close (fd);
  {
    g_autoptr (GPtrArray) r = validate_device (registry, "0000:3b:02.1");
    assert_check (r, "0000:3b:02.1", "in-use", PP_SEVERITY_PASS);
  }
}

/* ---- configs against hosts ---- */

static void
test_config_seed_example (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  g_autoptr (GPtrArray) r
      = validate_config_file (registry, "seed-example.yaml", NULL, FALSE);
  const PpCheck *c;

  assert_no_fail (r);
  assert_check (r, "gpu-node-01", "passthrough", PP_SEVERITY_PASS);
  for (guint i = 0; i < 2; i++)
    {
      const char *subject
          = i == 0 ? "gpu-node-01/0000:01:00.0" : "gpu-node-01/0000:01:00.1";

      assert_check (r, subject, "schema", PP_SEVERITY_PASS);
      assert_check (r, subject, "exists", PP_SEVERITY_PASS);
      assert_check (r, subject, "ids", PP_SEVERITY_PASS);
      assert_check (r, subject, "device-type", PP_SEVERITY_PASS);
      assert_check (r, subject, "iommu-group", PP_SEVERITY_PASS);
      /* Both endpoints are listed; the root port need not be. */
      c = assert_check (r, subject, "group-complete", PP_SEVERITY_PASS);
      g_assert_null (strstr (c->message, "0000:00:01.0"));
      c = assert_check (r, subject, "driver", PP_SEVERITY_WARN);
      assert_contains (c->remedy, "pcipassctl bind");
      assert_check (r, subject, "protected", PP_SEVERITY_PASS);
    }
  g_assert_null (pp_checks_find (r, NULL, "duplicate"));

  /* Schema only: nothing about this host. */
  {
    g_autoptr (GPtrArray) schema
        = validate_config_file (NULL, "seed-example.yaml", NULL, TRUE);

    assert_no_fail (schema);
    assert_check (schema, "gpu-node-01/0000:01:00.0", "schema",
                  PP_SEVERITY_PASS);
    assert_check (schema, "gpu-node-01/0000:01:00.0", "exists",
                  PP_SEVERITY_SKIP);
    g_assert_null (pp_checks_find (schema, NULL, "driver"));
    g_assert_cmpuint (schema->len, ==, 5);
  }
}

static void
test_config_incomplete_group (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  g_autoptr (GPtrArray) r
      = validate_config_file (registry, "incomplete-group.yaml", NULL, FALSE);
  const PpCheck *c;

  c = assert_check (r, "gpu-node-01/0000:01:00.0", "group-complete",
                    PP_SEVERITY_FAIL);
  assert_contains (c->message, "0000:01:00.1 (audio, snd_hda_intel) is not "
                               "listed for gpu-node-01");
  g_assert_null (strstr (c->message, "0000:00:01.0"));
  assert_contains (c->remedy,
                   "add to gpu-node-01's pcie_passthrough.devices: - { "
                   "pci_address: \"0000:01:00.1\", device_type: \"audio\", "
                   "vendor_id: \"10de\", device_id: \"22bd\" }");
}

static void
test_config_shared_with_usb (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("shared-group");
  g_autoptr (GPtrArray) r
      = validate_config_file (registry, "shared-group.yaml", NULL, FALSE);
  const PpCheck *c;

  c = assert_check (r, "gpu-node-01/0000:04:00.0", "group-complete",
                    PP_SEVERITY_FAIL);
  assert_contains (c->message, "0000:02:00.0 (usb, xhci_hcd) is not listed");
  /* Bridges on pcieport stay with the host and need no entry. */
  g_assert_null (strstr (c->message, "0000:02:00.2"));
  g_assert_null (strstr (c->message, "0000:03:04.0"));
  g_assert_null (strstr (c->message, "0000:00:08.2"));
  assert_contains (c->remedy, "pci_address: \"0000:02:00.0\", device_type: "
                              "\"other\"");
  c = assert_check (r, "gpu-node-01/0000:04:00.0", "driver", PP_SEVERITY_WARN);
  assert_contains (c->message, "nouveau");
  /* No device_id in the config: only the vendor is compared. */
  assert_check (r, "gpu-node-01/0000:04:00.0", "ids", PP_SEVERITY_PASS);
  assert_check (r, "gpu-node-01/0000:04:00.1", "ids", PP_SEVERITY_SKIP);
}

static void
test_config_mismatch (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  g_autoptr (GPtrArray) r
      = validate_config_file (registry, "mismatch.yaml", NULL, FALSE);
  const PpCheck *c;

  c = assert_check (r, "gpu-node-01/0000:01:00.0", "ids", PP_SEVERITY_FAIL);
  assert_contains (c->message, "12:22: the config says 10de:2704, but "
                               "0000:01:00.0 is 10de:2684");
  assert_contains (c->remedy, "device_id: \"2684\"");
  c = assert_check (r, "gpu-node-01/0000:01:00.0", "iommu-group",
                    PP_SEVERITY_FAIL);
  assert_contains (c->message, "13:24: the config says IOMMU group 7");
  assert_contains (c->remedy, "iommu_group: 2");
  c = assert_check (r, "gpu-node-01/0000:01:00.1", "device-type",
                    PP_SEVERITY_WARN);
  assert_contains (c->message, "15:24: device_type is network");
  assert_contains (c->remedy, "device_type: \"audio\"");
  c = assert_check (r, "gpu-node-01/0000:05:00.0", "exists", PP_SEVERITY_FAIL);
  assert_contains (c->message, "16:24: this host has no PCI device "
                               "0000:05:00.0");
  assert_contains (c->remedy, "lspci -D");
  /* Nothing else is said about a device that is not there. */
  g_assert_null (pp_checks_find (r, "gpu-node-01/0000:05:00.0", "driver"));
}

static void
test_config_bad_fields (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  g_autoptr (GPtrArray) r
      = validate_config_file (registry, "bad-fields.yaml", NULL, FALSE);
  const PpCheck *c;

  dump (r);
  c = assert_check (r, "gpu-node-01/devices[0]", "schema", PP_SEVERITY_FAIL);
  assert_contains (c->message, "9:11: the device has no pci_address");
  assert_check (r, "gpu-node-01/devices[0]", "exists", PP_SEVERITY_SKIP);
  c = assert_check (r, "gpu-node-01/devices[1]", "schema", PP_SEVERITY_FAIL);
  assert_contains (c->message, "10:24: pci_address \"01:00.0\" is not a PCI "
                               "address");

  /* One entry, three problems, three results; the address is fine, so
   * the host checks still run. */
  g_assert_cmpuint (count_check (r, "schema"), >=, 7);
  c = assert_check (r, "gpu-node-01/0000:01:00.1", "schema", PP_SEVERITY_FAIL);
  assert_contains (c->message, "13:24: device_type \"sound\" is not one of");
  {
    guint fails = 0;
    for (guint i = 0; i < r->len; i++)
      {
        const PpCheck *x = g_ptr_array_index (r, i);
        if (g_str_equal (x->subject, "gpu-node-01/0000:01:00.1")
            && g_str_equal (x->check, "schema"))
          {
            fails++;
            g_assert_cmpint (x->severity, ==, PP_SEVERITY_FAIL);
          }
      }
    g_assert_cmpuint (fails, ==, 3);
  }
  assert_check (r, "gpu-node-01/0000:01:00.1", "exists", PP_SEVERITY_PASS);

  /* A misspelt key is a warning; the right one is there too. */
  c = assert_check (r, "gpu-node-01/0000:02:00.0", "schema", PP_SEVERITY_WARN);
  assert_contains (c->message, "16:11: unknown key \"pci_adress\"");
  c = assert_check (r, "gpu-node-01/devices[4]", "schema", PP_SEVERITY_FAIL);
  assert_contains (c->message, "19:11: a device must be a mapping");
}

static void
test_config_nodes (void)
{
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  const PpCheck *c;

  {
    g_autoptr (GPtrArray) r
        = validate_config_file (registry, "two-nodes.yaml", NULL, FALSE);

    /* Listed twice for one node, and once more for another. */
    c = assert_check (r, "gpu-node-01/0000:02:00.0", "duplicate",
                      PP_SEVERITY_FAIL);
    assert_contains (c->message, "is listed twice for gpu-node-01 (first at "
                                 "13:28)");
    c = assert_check (r, "gpu-node-02/0000:02:00.0", "duplicate",
                      PP_SEVERITY_FAIL);
    assert_contains (c->message, "also assigned to gpu-node-01");
    /* The GPU's group is split between two nodes. */
    c = assert_check (r, "gpu-node-01/0000:01:00.0", "group-complete",
                      PP_SEVERITY_FAIL);
    assert_contains (c->message, "0000:01:00.1 (assigned to gpu-node-02");
    assert_contains (c->remedy, "move 0000:01:00.1 from gpu-node-02 to "
                                "gpu-node-01");
    assert_check (r, "cpu-node-01", "passthrough", PP_SEVERITY_SKIP);
  }
  {
    g_autoptr (GPtrArray) r = validate_config_file (registry, "two-nodes.yaml",
                                                    "gpu-node-02", FALSE);

    for (guint i = 0; i < r->len; i++)
      g_assert_true (g_str_has_prefix (
          ((PpCheck *) g_ptr_array_index (r, i))->subject, "gpu-node-02"));
    assert_check (r, "gpu-node-02/0000:02:00.0", "duplicate", PP_SEVERITY_FAIL);
  }
  {
    g_autofree char *path = config_path ("two-nodes.yaml");
    g_autofree char *text = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) r = NULL;

    g_file_get_contents (path, &text, NULL, &error);
    g_assert_no_error (error);
    r = pp_config_validate (registry, text, strlen (text), "gpu-node-03", FALSE,
                            &error);
    g_assert_null (r);
    assert_positioned_error (error);
    assert_contains (error->message, "no compute node is named "
                                     "\"gpu-node-03\" (the config has: "
                                     "gpu-node-01, gpu-node-02, cpu-node-01)");
  }
}

static void
test_config_node_level (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) r = NULL;
  const PpCheck *c;
  const char *yaml = "compute_nodes:\n"
                     "  - name: a\n"
                     "    pcie_passthrough:\n"
                     "      enabled: true\n"
                     "  - name: b\n"
                     "    pcie_passthrough:\n"
                     "      devices:\n"
                     "        - {pci_address: \"0000:01:00.0\", "
                     "device_type: gpu}\n"
                     "  - name: c\n"
                     "    pcie_passthrough:\n"
                     "      enabled: no\n"
                     "      devices: []\n";

  r = pp_config_validate (NULL, yaml, strlen (yaml), NULL, TRUE, &error);
  g_assert_no_error (error);
  assert_well_formed (r);
  c = assert_check (r, "a", "passthrough", PP_SEVERITY_FAIL);
  assert_contains (c->message, "3:5: pcie_passthrough is enabled but lists "
                               "no devices");
  c = assert_check (r, "b", "passthrough", PP_SEVERITY_WARN);
  assert_contains (c->remedy, "enabled: true");
  assert_check (r, "c", "passthrough", PP_SEVERITY_SKIP);
  g_assert_cmpuint (r->len, ==, 3);
}

static void
test_config_quoting (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) r = NULL;
  const PpCheck *c;
  const char *yaml = "compute_nodes:\n"
                     "  - name: n\n"
                     "    pcie_passthrough:\n"
                     "      enabled: yes\n"
                     "      devices:\n"
                     "        - pci_address: 0000:01:00.0\n"
                     "          device_type: gpu\n"
                     "          vendor_id: 0x10DE\n"
                     "          device_id: 2684\n"
                     "          iommu_group: 2\n";

  r = pp_config_validate (NULL, yaml, strlen (yaml), NULL, TRUE, &error);
  g_assert_no_error (error);
  assert_well_formed (r);
  /* PyYAML reads it as 60.0; ai-how would see a number. */
  c = assert_check (r, "n/0000:01:00.0", "schema", PP_SEVERITY_WARN);
  assert_contains (c->message, "6:24: pci_address \"0000:01:00.0\" is not "
                               "quoted");
  assert_contains (c->remedy, "pci_address: \"0000:01:00.0\"");
  g_assert_cmpuint (count_check (r, "schema"), ==, 2);
  g_assert_false (pp_checks_any_failed (r));
}

/* ---- configs that are not configs ---- */

static void
test_config_shape_errors (void)
{
  /* clang-format off */
  static const struct { const char *yaml, *position, *part; } cases[] = {
    { "", "1:1", "empty" },
    { "# nothing but a comment\n", "1:1", "empty" },
    { "- a\n- b\n", "1:1", "must be a mapping" },
    { "cluster:\n  name: x\n", "1:1", "no compute_nodes" },
    { "compute_nodes:\n  name: x\n", "2:3", "must be a sequence" },
    { "compute_nodes:\n  - 42\n", "2:5", "compute_nodes[0] must be a mapping" },
    { "compute_nodes:\n  - pcie_passthrough: {}\n", "2:5", "needs a name" },
    { "compute_nodes:\n  - name: [a]\n", "2:11", "needs a name" },
    { "compute_nodes:\n  - name: a/b\n", "2:11", "contains \"/\"" },
    { "compute_nodes:\n  - name: a\n  - name: a\n", "3:11",
      "used twice (first at 2:11)" },
    { "compute_nodes:\n  - name: a\n    pcie_passthrough: on\n", "3:23",
      "pcie_passthrough must be a mapping" },
    { "compute_nodes:\n  - name: a\n    pcie_passthrough:\n      enabled: "
      "maybe\n", "4:16", "enabled must be true or false, not \"maybe\"" },
    { "compute_nodes:\n  - name: a\n    pcie_passthrough:\n      enabled: "
      "\"true\"\n", "4:16", "enabled must be true or false" },
    { "compute_nodes:\n  - name: a\n    pcie_passthrough:\n      devices: "
      "{a: 1}\n", "4:16", "devices must be a sequence" },
    { "compute_nodes: []\ncompute_nodes: []\n", "2:1",
      "key \"compute_nodes\" appears twice in this mapping (first at 1:1)" },
    { "compute_nodes: []\n---\ncompute_nodes: []\n", "2:1",
      "second YAML document" },
    { "compute_nodes: *nodes\n", "1:16", "alias *\"nodes\"" },
    { "compute_nodes: &x [*x]\n", "1:20", "does not name a complete anchor" },
    { "compute_nodes:\n  ? [a]\n  : b\n", "2:5", "keys must be scalars" },
    { "compute_nodes:\n  - name: \"a\\0b\"\n", "2:11", "NUL" },
    { "compute_nodes:\n  - name: a\n    pcie_passthrough:\n      <<: {}\n",
      "4:7", "merge keys" },
  };
  /* clang-format on */

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("case %u: %s", i, cases[i].yaml);
      assert_config_error (cases[i].yaml, -1, cases[i].position, cases[i].part);
    }
}

static void
test_config_malformed (void)
{
  /* clang-format off */
  static const struct { const char *yaml, *position; } cases[] = {
    /* Unclosed flow sequence, bad indentation, a tab, an unclosed
     * quote, a stray mapping value, an undefined tag handle. */
    { "compute_nodes: [\n  - name: a\n", "2:3" },
    { "compute_nodes:\n  - name: a\n   bad: 1\n", "3:4" },
    { "compute_nodes:\n\t- name: a\n", "2:1" },
    { "compute_nodes:\n  - name: \"a\n", "3:1" },
    { "compute_nodes:\n  - name: a: b\n", "2:12" },
    { "compute_nodes: !x!y []\n", "1:16" },
    { "%YAML 9.9\n---\ncompute_nodes: []\n", "1:1" },
  };
  /* clang-format on */

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GPtrArray) r = NULL;

      r = pp_config_validate (NULL, cases[i].yaml, strlen (cases[i].yaml), NULL,
                              TRUE, &error);
      g_test_message ("case %u: %s", i,
                      error != NULL ? error->message : "(no error)");
      g_assert_null (r);
      assert_positioned_error (error);
      if (!g_str_has_prefix (error->message, cases[i].position))
        g_error ("\"%s\" is not at %s", error->message, cases[i].position);
    }

  /* Not UTF-8, and a control character: the reader's errors, with the
   * position computed from the byte offset. */
  assert_config_error ("compute_nodes:\n  - name: \xff\xfe\n", -1, "2:11",
                       "invalid");
  assert_config_error ("compute_nodes:\n  - name: a\x01\n", -1, "2:12",
                       "control characters are not allowed");
  /* A NUL byte in the middle of the input. */
  assert_config_error ("compute_nodes: []\n\0garbage", 26, "2:1", NULL);
}

/* Cut anywhere, the seed example is either still a config or a Config
 * error with a position: never a crash, never an error without one. */
static void
test_config_truncated (void)
{
  g_autofree char *path = config_path ("seed-example.yaml");
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  gsize length;
  guint errors = 0;

  g_file_get_contents (path, &text, &length, &error);
  g_assert_no_error (error);
  for (gsize cut = 0; cut <= length; cut++)
    {
      g_autoptr (GPtrArray) r = NULL;
      g_autofree char *copy = g_strndup (text, cut);

      /* Unterminated on purpose: the length bounds the read. */
      r = pp_config_validate (NULL, copy, cut, NULL, TRUE, &error);
      if (r == NULL)
        {
          assert_positioned_error (error);
          g_clear_error (&error);
          errors++;
        }
      else
        {
          assert_well_formed (r);
        }
    }
  g_assert_cmpuint (errors, >, 0);

  /* In the middle of a quoted address. */
  {
    const char *cut = strstr (text, "\"0000:01:00.1") + 6;
    g_autoptr (GPtrArray) r = pp_config_validate (
        NULL, text, (gsize) (cut - text), NULL, TRUE, &error);
    g_assert_null (r);
    assert_positioned_error (error);
    assert_contains (error->message, "found unexpected end of stream");
  }
}

static void
test_config_deep (void)
{
  g_autoptr (GString) flow = g_string_new ("compute_nodes: ");
  g_autoptr (GString) block = g_string_new ("compute_nodes:\n");

  /* 100000 levels of flow sequences: stopped at level 65. */
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (flow, '[');
  for (guint i = 0; i < 100000; i++)
    g_string_append_c (flow, ']');
  assert_config_error (flow->str, (gssize) flow->len, "1:79",
                       "nested more than 64 levels deep");

  /* Block mappings nest just as deep. */
  for (guint i = 0; i < 70; i++)
    g_string_append_printf (block, "%*sk:\n", (int) (i + 1) * 2, "");
  assert_config_error (block->str, (gssize) block->len, "65:129",
                       "nested more than 64 levels deep");
}

static void
test_config_oversized (void)
{
  const char *head = "compute_nodes: []\n";
  gsize size = PP_CONFIG_MAX_SIZE + 1;
  g_autofree char *big = g_malloc (size);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) r = NULL;

  /* Exactly at the limit: a config with a long comment is fine. */
  memcpy (big, head, strlen (head));
  memset (big + strlen (head), ' ', size - strlen (head));
  big[strlen (head)] = '#';
  r = pp_config_validate (NULL, big, PP_CONFIG_MAX_SIZE, NULL, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (r->len, ==, 0);

  /* One byte more is refused before parsing; the position is where the
   * limit falls (line 2, after the first line's 18 bytes). */
  assert_config_error (big, (gssize) size, "2:1048559",
                       "more than the limit of 1048576 bytes");
}

static void
test_config_counts (void)
{
  g_autoptr (GString) nodes = g_string_new ("compute_nodes:\n");
  g_autoptr (GString) devices = g_string_new (
      "compute_nodes:\n- name: a\n  pcie_passthrough:\n    devices:\n");
  g_autoptr (GString) scalars = g_string_new ("x: [");

  for (guint i = 0; i <= PP_CONFIG_MAX_COMPUTE_NODES; i++)
    g_string_append_printf (nodes, "- name: n%u\n", i);
  assert_config_error (nodes->str, -1, "1026:3",
                       "more than 1024 compute "
                       "nodes");

  for (guint i = 0; i <= PP_CONFIG_MAX_DEVICES; i++)
    g_string_append (devices, "    - {}\n");
  assert_config_error (devices->str, -1, "4101:7", "more than 4096 devices");

  for (guint i = 0; i < PP_YAML_MAX_NODES; i++)
    g_string_append (scalars, "1,");
  g_string_append (scalars, "1]\n");
  assert_config_error (scalars->str, -1, "1:199999",
                       "more than 100000 YAML nodes");
}

/* Aliases share the anchored node: a "billion laughs" file costs what
 * its text costs. */
static void
test_config_aliases (void)
{
  g_autoptr (GString) yaml = g_string_new ("a: &a [x, x, x, x, x, x, x, x]\n");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) r = NULL;
  gint64 start = g_get_monotonic_time ();

  for (char c = 'b'; c <= 'z'; c++)
    g_string_append_printf (yaml,
                            "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, "
                            "*%c]\n",
                            c, c, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1,
                            c - 1, c - 1);
  g_string_append (yaml, "compute_nodes: []\n");
  r = pp_config_validate (NULL, yaml->str, yaml->len, NULL, TRUE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (r->len, ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_clear_pointer (&r, g_ptr_array_unref);

  /* An aliased device entry counts once per use, and is checked once
   * per node that uses it. */
  {
    const char *shared = "defaults: &gpu {pci_address: \"0000:01:00.0\", "
                         "device_type: gpu}\n"
                         "compute_nodes:\n"
                         "  - name: a\n"
                         "    pcie_passthrough: {enabled: true, devices: "
                         "[*gpu]}\n"
                         "  - name: b\n"
                         "    pcie_passthrough: {enabled: true, devices: "
                         "[*gpu]}\n";

    r = pp_config_validate (NULL, shared, strlen (shared), NULL, TRUE, &error);
    g_assert_no_error (error);
    assert_well_formed (r);
    assert_check (r, "b/0000:01:00.0", "duplicate", PP_SEVERITY_FAIL);
  }
}

/* Random damage to a valid config: a Config error with a position or
 * well-formed results, every time. */
static void
test_config_fuzz (void)
{
  g_autofree char *path = config_path ("two-nodes.yaml");
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (PpRegistry) registry = load_registry ("workstation");
  static const char noise[] = "[]{}:-,&*!|>'\"%@`#?\n\t \\0x";
  gsize length;

  g_file_get_contents (path, &text, &length, &error);
  g_assert_no_error (error);
  for (guint round = 0; round < 3000; round++)
    {
      g_autofree char *copy = g_memdup2 (text, length);
      g_autoptr (GPtrArray) r = NULL;
      guint n = (guint) g_test_rand_int_range (1, 6);

      for (guint i = 0; i < n; i++)
        {
          gsize at = (gsize) g_test_rand_int_range (0, (gint32) length);
          copy[at] = g_test_rand_bit ()
                         ? noise[g_test_rand_int_range (0, sizeof noise - 1)]
                         : (char) g_test_rand_int_range (1, 256);
        }
      r = pp_config_validate (registry, copy, length, NULL, FALSE, &error);
      if (r == NULL)
        {
          assert_positioned_error (error);
          g_clear_error (&error);
        }
      else
        {
          assert_well_formed (r);
        }
    }
}

/* ---- results ---- */

static void
test_checks_variant (void)
{
  g_autoptr (GPtrArray) checks = pp_checks_new ();
  g_autoptr (GVariant) v = NULL;
  PpSeverity severity;

  pp_checks_add (checks, "host", "iommu", PP_SEVERITY_FAIL, "off",
                 "turn it on");
  pp_checks_take (checks, "0000:01:00.0", "driver", PP_SEVERITY_PASS,
                  g_strdup ("bad \xff text"), NULL);
  v = pp_checks_to_variant (checks);
  g_assert_cmpstr (g_variant_get_type_string (v), ==, "a(sssss)");
  g_assert_cmpuint (g_variant_n_children (v), ==, 2);
  {
    const char *subject, *check, *sev, *message, *remedy;

    g_variant_get_child (v, 0, "(&s&s&s&s&s)", &subject, &check, &sev, &message,
                         &remedy);
    g_assert_cmpstr (sev, ==, "fail");
    g_assert_cmpstr (remedy, ==, "turn it on");
    g_variant_get_child (v, 1, "(&s&s&s&s&s)", &subject, &check, &sev, &message,
                         &remedy);
    g_assert_cmpstr (sev, ==, "pass");
    g_assert_cmpstr (remedy, ==, "");
    g_assert_true (g_utf8_validate (message, -1, NULL));
  }
  g_assert_true (pp_checks_any_failed (checks));
  g_assert_true (pp_severity_from_string ("skip", &severity));
  g_assert_cmpint (severity, ==, PP_SEVERITY_SKIP);
  g_assert_false (pp_severity_from_string ("info", &severity));
  g_assert_cmpstr (pp_severity_to_string (PP_SEVERITY_WARN), ==, "warn");
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/validate/checks/variant", test_checks_variant);

  g_test_add_func ("/validate/host/ready", test_host_ready);
  g_test_add_func ("/validate/host/architecture", test_host_architecture);
  g_test_add_func ("/validate/host/no-kvm", test_host_no_kvm);
  g_test_add_func ("/validate/host/no-iommu", test_host_no_iommu);
  g_test_add_func ("/validate/host/iommu-from-sysfs",
                   test_host_iommu_from_sysfs);
  g_test_add_func ("/validate/host/vfio", test_host_vfio);
  g_test_add_func ("/validate/host/noiommu-mode", test_host_noiommu_mode);
  g_test_add_func ("/validate/host/acs-override", test_host_acs_override);
  g_test_add_func ("/validate/host/hugepages", test_host_hugepages);

  g_test_add_func ("/validate/device/gpu-with-audio",
                   test_device_gpu_with_audio);
  g_test_add_func ("/validate/device/protected", test_device_protected);
  g_test_add_func ("/validate/device/bridge", test_device_bridge);
  g_test_add_func ("/validate/device/shared-with-usb",
                   test_device_shared_with_usb);
  g_test_add_func ("/validate/device/server", test_device_server);
  g_test_add_func ("/validate/device/stuck-member", test_device_stuck_member);
  g_test_add_func ("/validate/device/in-use", test_device_in_use);

  g_test_add_func ("/validate/config/seed-example", test_config_seed_example);
  g_test_add_func ("/validate/config/incomplete-group",
                   test_config_incomplete_group);
  g_test_add_func ("/validate/config/shared-with-usb",
                   test_config_shared_with_usb);
  g_test_add_func ("/validate/config/mismatch", test_config_mismatch);
  g_test_add_func ("/validate/config/bad-fields", test_config_bad_fields);
  g_test_add_func ("/validate/config/nodes", test_config_nodes);
  g_test_add_func ("/validate/config/node-level", test_config_node_level);
  g_test_add_func ("/validate/config/quoting", test_config_quoting);
  g_test_add_func ("/validate/config/shape-errors", test_config_shape_errors);
  g_test_add_func ("/validate/config/malformed", test_config_malformed);
  g_test_add_func ("/validate/config/truncated", test_config_truncated);
  g_test_add_func ("/validate/config/deep", test_config_deep);
  g_test_add_func ("/validate/config/oversized", test_config_oversized);
  g_test_add_func ("/validate/config/counts", test_config_counts);
  g_test_add_func ("/validate/config/aliases", test_config_aliases);
  g_test_add_func ("/validate/config/fuzz", test_config_fuzz);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
