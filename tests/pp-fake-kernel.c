/* A simulated kernel for the PCI binding files: see pp-fake-kernel.h.
 *
 * Every file operation goes through the testbed's root directory
 * ($root/sys/...): umockdev redirects open() and friends on "/sys/...",
 * but not unlink(), symlink() or rename(), which on "/sys/..." would reach
 * this machine's real sysfs.  The root is spelled as pp_testbed_get_root()
 * gives it, so that the preload's device emulation, which is not
 * thread-safe, leaves our files alone; for the same reason the only
 * umockdev call made here is umockdev_testbed_uevent().
 */

#define G_LOG_DOMAIN "pp-fake-kernel"

#include "pp-fake-kernel.h"

#include "pp-testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#define UNSET_OVERRIDE "(null)\n"

typedef enum
{
  WATCH_BUS,    /* sys/bus/pci: drivers_probe */
  WATCH_DRIVER, /* sys/bus/pci/drivers/X: bind, unbind */
  WATCH_DEVICE, /* a device directory: driver_override */
} WatchKind;

typedef struct
{
  WatchKind kind;
  char *name; /* driver name or device address; NULL for the bus */
} Watch;

static void
watch_free (Watch *w)
{
  g_free (w->name);
  g_free (w);
}

typedef struct
{
  char *address;
  char *devdir;   /* relative to sys/: "devices/pci0000:00/0000:01:00.0" */
  char *dir;      /* absolute, under the testbed root */
  char *devpath;  /* "/sys/devices/...", for the umockdev API */
  char *native;   /* driver when first seen; NULL: none */
  char *override; /* driver_override; NULL: unset */
  char *echo;     /* what we last wrote to driver_override, until its event */
  int wd;
} Device;

static void
device_free (Device *d)
{
  g_free (d->address);
  g_free (d->devdir);
  g_free (d->dir);
  g_free (d->devpath);
  g_free (d->native);
  g_free (d->override);
  g_free (d->echo);
  g_free (d);
}

struct _PpFakeKernel
{
  UMockdevTestbed *tb;
  char *root;
  char *sys; /* $root/sys */

  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;

  /* Kernel thread only. */
  int inotify_fd;
  GHashTable *watches; /* wd -> Watch */
  GHashTable *devices; /* address -> Device */

  /* Under lock: the kernel thread holds it while it handles writes. */
  GMutex lock;
  GCond cond;
  gboolean ready;
  GHashTable *stuck;  /* addresses */
  GHashTable *vanish; /* addresses */
  GHashTable *held;   /* address -> driver of the bind held back, or "" */
  guint n_writes;
  guint n_held; /* binds held back so far */
};

/* ---- reading the testbed ---- */

static char *
read_file (const char *dir, const char *name, gsize *length)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, length, NULL))
    return NULL;
  return contents;
}

/* The last component of the link @dir/@name, or NULL. */
static char *
read_link_name (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *target = g_file_read_link (path, NULL);

  if (target == NULL)
    return NULL;
  return g_path_get_basename (target);
}

/* Where the link @path points, worked out by hand: sysfs links are
 * relative and their targets hold no further links, so the result is a
 * path under the same root.  realpath() is not used, as the preload may
 * turn its answer into a "/sys/..." path, which must never be written. */
static char *
resolve_link (const char *path)
{
  g_autofree char *target = g_file_read_link (path, NULL);
  g_autofree char *dir = NULL;

  if (target == NULL)
    return NULL;
  dir = g_path_get_dirname (path);
  return g_canonicalize_filename (target, dir);
}

static char *
read_driver (const char *dir)
{
  return read_link_name (dir, "driver");
}

/* A decimal number, parsed here: g_ascii_string_to_signed() sets up a
 * locale under a mutex on first use, and umockdev's threads have been seen
 * to leak the futex's EAGAIN into the errno it checks. */
static gboolean
parse_number (const char *text, gint64 *out)
{
  gboolean negative = *text == '-';
  gint64 value = 0;
  guint digits = 0;

  if (negative)
    text++;
  for (; g_ascii_isdigit (*text) && digits < 18; text++, digits++)
    value = value * 10 + (*text - '0');
  if (digits == 0 || *text != '\0')
    return FALSE;
  *out = negative ? -value : value;
  return TRUE;
}

static int
read_group (const char *dir)
{
  g_autofree char *name = read_link_name (dir, "iommu_group");
  gint64 group;

  if (name == NULL || !parse_number (name, &group) || group < 0
      || group > G_MAXINT)
    return -1;
  return (int) group;
}

static gint64
read_number (const char *dir, const char *name, gint64 fallback)
{
  g_autofree char *text = read_file (dir, name, NULL);
  gint64 value;

  if (text == NULL || !parse_number (g_strstrip (text), &value))
    return fallback;
  return value;
}

/* vfio-pci only takes type 0 headers (vfio_pci_core_register_device):
 * not PCI-to-PCI bridges, not CardBus bridges. */
static gboolean
has_normal_header (const char *dir)
{
  gsize length = 0;
  g_autofree char *config = read_file (dir, "config", &length);

  if (config == NULL || length < 0x0f)
    return TRUE;
  return (config[0x0e] & 0x7f) == 0;
}

/* pci_device_can_probe(): a VF probes only with an override when its PF
 * has sriov_drivers_autoprobe off. */
static gboolean
vf_autoprobe_off (const Device *d)
{
  g_autofree char *physfn = g_build_filename (d->dir, "physfn", NULL);

  return g_file_test (physfn, G_FILE_TEST_IS_DIR)
         && read_number (physfn, "sriov_drivers_autoprobe", 1) == 0;
}

/* The drivers that leave DMA to VFIO (driver_managed_dma). */
static gboolean
is_dma_managed (const char *driver)
{
  return pp_testbed_is_vfio_driver (driver) || g_str_equal (driver, "pci-stub")
         || g_str_equal (driver, "pcieport");
}

static char *
driver_dir (PpFakeKernel *k, const char *driver)
{
  return g_build_filename (k->sys, "bus/pci/drivers", driver, NULL);
}

static gboolean
driver_registered (PpFakeKernel *k, const char *driver)
{
  g_autofree char *dir = driver_dir (k, driver);

  return g_file_test (dir, G_FILE_TEST_IS_DIR);
}

static char *
group_devices_dir (PpFakeKernel *k, int group)
{
  g_autofree char *name = g_strdup_printf ("%d", group);

  return g_build_filename (k->sys, "kernel/iommu_groups", name, "devices",
                           NULL);
}

/* Whether a member of @group other than @except is on a VFIO driver. */
static gboolean
group_has_vfio_member (PpFakeKernel *k, int group, const char *except)
{
  g_autofree char *dir = group_devices_dir (k, group);
  g_autoptr (GDir) members = g_dir_open (dir, 0, NULL);
  const char *name;

  while (members != NULL && (name = g_dir_read_name (members)) != NULL)
    {
      g_autofree char *member = NULL;
      g_autofree char *driver = NULL;

      if (g_str_equal (name, except))
        continue;
      member = g_build_filename (dir, name, NULL);
      driver = read_driver (member);
      if (pp_testbed_is_vfio_driver (driver))
        return TRUE;
    }
  return FALSE;
}

/* A group is owned by userspace (iommu_group_claim_dma_owner) while a
 * VM has it open; opening /dev/vfio/N stands for that here.  Found as
 * the daemon finds it: by comparing each /proc/PID/fd entry with the node. */
static gboolean
group_claimed (PpFakeKernel *k, int group)
{
  g_autofree char *node = g_strdup_printf ("%s/dev/vfio/%d", k->root, group);
  g_autoptr (GDir) proc = NULL;
  struct stat want;
  const char *pid;

  if (stat (node, &want) < 0)
    return FALSE;
  proc = g_dir_open ("/proc", 0, NULL);
  while (proc != NULL && (pid = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *fd_dir = NULL;
      g_autoptr (GDir) fds = NULL;
      const char *fd;

      if (!g_ascii_isdigit (pid[0]))
        continue;
      fd_dir = g_build_filename ("/proc", pid, "fd", NULL);
      fds = g_dir_open (fd_dir, 0, NULL);
      while (fds != NULL && (fd = g_dir_read_name (fds)) != NULL)
        {
          g_autofree char *path = g_build_filename (fd_dir, fd, NULL);
          struct stat st;

          if (stat (path, &st) == 0 && st.st_dev == want.st_dev
              && st.st_ino == want.st_ino)
            return TRUE;
        }
    }
  return FALSE;
}

/* "../" for every component of @from, then @to: @from and @to are
 * relative to sys/ and share no leading component, as with the driver
 * links, so this is what the kernel writes. */
static char *
link_target (const char *from, const char *to)
{
  g_auto (GStrv) parts = g_strsplit (from, "/", -1);
  GString *target = g_string_new (NULL);

  for (guint i = 0; parts[i] != NULL; i++)
    g_string_append (target, "../");
  g_string_append (target, to);
  return g_string_free (target, FALSE);
}

/* ---- changing the testbed ---- */

static void
replace_file (const char *path, const char *contents)
{
  g_autoptr (GError) error = NULL;

  /* Atomically: readers (libudev) may read it any time. */
  if (!g_file_set_contents (path, contents, -1, &error))
    g_critical ("fake kernel: %s", error->message);
}

/* Removes the line of the device's uevent file that starts with @prefix
 * and returns it (NULL if there is none). */
static char *
uevent_take_line (const Device *d, const char *prefix)
{
  g_autofree char *path = g_build_filename (d->dir, "uevent", NULL);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  char *taken = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (*lines[i] == '\0')
        continue;
      if (taken == NULL && g_str_has_prefix (lines[i], prefix))
        taken = g_strdup (lines[i]);
      else
        g_string_append_printf (out, "%s\n", lines[i]);
    }
  if (taken != NULL)
    replace_file (path, out->str);
  return taken;
}

static void
uevent_add_line (const Device *d, const char *line)
{
  g_autofree char *path = g_build_filename (d->dir, "uevent", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *joined = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return;
  joined = g_strconcat (contents, line, "\n", NULL);
  replace_file (path, joined);
}

/* DRIVER= goes where pp-testbed puts it, after SUBSYSTEM=; the file is
 * replaced atomically, as readers (libudev) may read it any time. */
static void
set_uevent_driver (const Device *d, const char *driver)
{
  g_autofree char *path = g_build_filename (d->dir, "uevent", NULL);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  gboolean added = driver == NULL;

  if (!g_file_get_contents (path, &contents, NULL, &error))
    {
      g_critical ("fake kernel: %s", error->message);
      return;
    }
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (*lines[i] == '\0' || g_str_has_prefix (lines[i], "DRIVER="))
        continue;
      g_string_append_printf (out, "%s\n", lines[i]);
      if (!added && g_str_has_prefix (lines[i], "SUBSYSTEM="))
        {
          g_string_append_printf (out, "DRIVER=%s\n", driver);
          added = TRUE;
        }
    }
  if (!added)
    {
      g_autofree char *line = g_strdup_printf ("DRIVER=%s\n", driver);

      g_string_prepend (out, line);
    }

  if (!g_file_set_contents (path, out->str, (gssize) out->len, &error))
    g_critical ("fake kernel: %s", error->message);
}

static void
make_link (const char *target, const char *path)
{
  /* A stale link would make symlink() fail. */
  g_unlink (path);
  if (symlink (target, path) < 0)
    g_critical ("fake kernel: cannot create link %s: %s", path,
                g_strerror (errno));
}

/* really_probe(): the links and DRIVER= first, then the driver's probe
 * (vfio-pci makes the group node, with its "add" uevent), then
 * driver_bound()'s "bind" uevent. */
static void
do_bind (PpFakeKernel *k, Device *d, const char *driver, int group)
{
  g_autofree char *drivers_rel = g_strconcat ("bus/pci/drivers/", driver, NULL);
  g_autofree char *target = link_target (d->devdir, drivers_rel);
  g_autofree char *link = g_build_filename (d->dir, "driver", NULL);
  g_autofree char *back_target = link_target (drivers_rel, d->devdir);
  g_autofree char *dir = driver_dir (k, driver);
  g_autofree char *back_link = g_build_filename (dir, d->address, NULL);

  g_debug ("bind %s to %s", d->address, driver);
  make_link (target, link);
  make_link (back_target, back_link);
  set_uevent_driver (d, driver);

  if (pp_testbed_is_vfio_driver (driver) && group >= 0)
    {
      g_autoptr (GError) error = NULL;

      if (!pp_testbed_add_vfio_group (k->tb, group, &error))
        g_critical ("fake kernel: cannot create /dev/vfio/%d: %s", group,
                    error->message);
    }
  umockdev_testbed_uevent (k->tb, d->devpath, "bind");
}

/* __device_release_driver(): the driver's remove (vfio-pci drops the
 * group node when this was its last device), then the links, then the
 * "unbind" uevent, which has no DRIVER= any more. */
static void
do_unbind (PpFakeKernel *k, Device *d, const char *driver)
{
  g_autofree char *link = g_build_filename (d->dir, "driver", NULL);
  g_autofree char *dir = driver_dir (k, driver);
  g_autofree char *back_link = g_build_filename (dir, d->address, NULL);
  int group = read_group (d->dir);

  g_debug ("unbind %s from %s", d->address, driver);
  if (pp_testbed_is_vfio_driver (driver) && group >= 0
      && !group_has_vfio_member (k, group, d->address))
    pp_testbed_remove_vfio_group (k->tb, group);

  g_unlink (link);
  g_unlink (back_link);
  /* The real unbind event carries neither DRIVER= nor MODALIAS=: send it
   * from a uevent file without them, then put MODALIAS back, which
   * reading the file still shows. */
  {
    g_autofree char *modalias = uevent_take_line (d, "MODALIAS=");

    set_uevent_driver (d, NULL);
    umockdev_testbed_uevent (k->tb, d->devpath, "unbind");
    if (modalias != NULL)
      uevent_add_line (d, modalias);
  }
}

/* device_driver_attach() and __device_attach_driver(), for an explicit
 * bind and for drivers_probe alike.  Each refusal is the errno noted. */
static gboolean
try_bind (PpFakeKernel *k, Device *d, const char *driver)
{
  g_autofree char *current = read_driver (d->dir);
  int group;

  if (!driver_registered (k, driver))
    return FALSE;
  if (current != NULL)
    return FALSE; /* EBUSY */
  if (d->override != NULL ? !g_str_equal (d->override, driver)
                          : g_strcmp0 (d->native, driver) != 0)
    return FALSE; /* ENODEV: pci_match_device() */
  if (d->override == NULL && vf_autoprobe_off (d))
    return FALSE; /* ENODEV: pci_device_can_probe() */

  group = read_group (d->dir);
  if (pp_testbed_is_vfio_driver (driver))
    {
      /* vfio_pci_core_register_device() and vfio_group_find_or_alloc() */
      if (!has_normal_header (d->dir) || group < 0)
        return FALSE; /* EINVAL */
      if (read_number (d->dir, "sriov_numvfs", 0) > 0)
        return FALSE; /* EBUSY */
    }
  else if (!is_dma_managed (driver) && group >= 0 && group_claimed (k, group))
    {
      return FALSE; /* EBUSY: iommu_device_use_default_domain() */
    }

  do_bind (k, d, driver, group);
  return TRUE;
}

/* Removes the links in @dir that resolve to @target. */
static void
remove_links_in (const char *dir, const char *target)
{
  g_autoptr (GDir) entries = g_dir_open (dir, 0, NULL);
  const char *name;

  while (entries != NULL && (name = g_dir_read_name (entries)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *resolved = resolve_link (path);

      if (resolved != NULL && g_str_equal (resolved, target))
        g_unlink (path);
    }
}

/* remove_links_in() on @parent/NAME/@sub for every NAME in @parent. */
static void
remove_links_below (const char *parent, const char *sub, const char *target)
{
  g_autoptr (GDir) entries = g_dir_open (parent, 0, NULL);
  const char *name;

  while (entries != NULL && (name = g_dir_read_name (entries)) != NULL)
    {
      g_autofree char *dir = g_build_filename (parent, name, sub, NULL);

      remove_links_in (dir, target);
    }
}

/* The kernel releases an IOMMU group with its last device. */
static void
remove_empty_groups (PpFakeKernel *k)
{
  g_autofree char *groups
      = g_build_filename (k->sys, "kernel/iommu_groups", NULL);
  g_autoptr (GDir) entries = g_dir_open (groups, 0, NULL);
  const char *name;

  while (entries != NULL && (name = g_dir_read_name (entries)) != NULL)
    {
      g_autofree char *dir = g_build_filename (groups, name, NULL);
      g_autofree char *devices = g_build_filename (dir, "devices", NULL);
      g_autofree char *type = g_build_filename (dir, "type", NULL);
      g_autofree char *regions
          = g_build_filename (dir, "reserved_regions", NULL);

      if (g_rmdir (devices) == 0)
        {
          g_unlink (type);
          g_unlink (regions);
          g_rmdir (dir);
        }
    }
}

/* What device_del() removes before its "remove" uevent: every link that
 * points at the device (bus, class, /sys/dev, /sys/block, the IOMMU
 * group's, the PF's virtfnN; the driver's went with the unbind), and the
 * IOMMU group it was the last member of. */
static void
remove_links_to (PpFakeKernel *k, const char *target)
{
  g_autofree char *physfn_link = g_build_filename (target, "physfn", NULL);
  g_autofree char *physfn = resolve_link (physfn_link);
  const char *const link_dirs[]
      = { "bus/pci/devices", "block", "dev/block", "dev/char" };
  const char *const link_parents[][2] = {
    { "class", NULL },
    { "bus/pci/drivers", NULL },
    { "kernel/iommu_groups", "devices" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (link_dirs); i++)
    {
      g_autofree char *path = g_build_filename (k->sys, link_dirs[i], NULL);

      remove_links_in (path, target);
    }
  for (guint i = 0; i < G_N_ELEMENTS (link_parents); i++)
    {
      g_autofree char *path
          = g_build_filename (k->sys, link_parents[i][0], NULL);

      remove_links_below (path, link_parents[i][1], target);
    }
  if (physfn != NULL)
    remove_links_in (physfn, target);
  remove_empty_groups (k);
}

/* rm -r without following links. */
static void
remove_tree (const char *path)
{
  struct stat st;

  if (lstat (path, &st) < 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GDir) entries = g_dir_open (path, 0, NULL);
      const char *name;

      while (entries != NULL && (name = g_dir_read_name (entries)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          remove_tree (child);
        }
      g_rmdir (path);
    }
  else
    {
      g_unlink (path);
    }
}

/* Device directories (those with a uevent file) in @dir and below, not
 * following links. */
static void
collect_device_dirs (const char *dir, GPtrArray *out)
{
  g_autofree char *uevent = g_build_filename (dir, "uevent", NULL);
  g_autoptr (GDir) entries = g_dir_open (dir, 0, NULL);
  const char *name;

  if (g_file_test (uevent, G_FILE_TEST_IS_REGULAR))
    g_ptr_array_add (out, g_strdup (dir));
  while (entries != NULL && (name = g_dir_read_name (entries)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st;

      if (lstat (path, &st) == 0 && S_ISDIR (st.st_mode))
        collect_device_dirs (path, out);
    }
}

static gint
compare_deepest_first (gconstpointer a, gconstpointer b)
{
  const char *path_a = *(const char *const *) a;
  const char *path_b = *(const char *const *) b;
  size_t len_a = strlen (path_a);
  size_t len_b = strlen (path_b);

  /* A child's path is longer than its parent's. */
  return len_a < len_b ? 1 : len_a > len_b ? -1 : strcmp (path_a, path_b);
}

static Device *
find_device_by_dir (PpFakeKernel *k, const char *dir)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, k->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Device *d = value;

      if (g_str_equal (d->dir, dir))
        return d;
    }
  return NULL;
}

/* Hot removal (pci_stop_and_remove_bus_device()): deepest first, each
 * device loses its driver (with the disks and interfaces the driver made
 * going first, being deeper), then the links to it, then it sends its
 * "remove" uevent; the directories go last, as the uevent needs them. */
static void
vanish (PpFakeKernel *k, Device *gone)
{
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *top = g_strdup (gone->dir);

  g_debug ("remove %s", gone->address);
  collect_device_dirs (gone->dir, dirs);
  g_ptr_array_sort (dirs, compare_deepest_first);
  for (guint i = 0; i < dirs->len; i++)
    {
      const char *dir = dirs->pdata[i];
      g_autofree char *path = g_strconcat ("/sys", dir + strlen (k->sys), NULL);
      Device *d = find_device_by_dir (k, dir);
      g_autofree char *driver = d != NULL ? read_driver (d->dir) : NULL;

      if (driver != NULL)
        do_unbind (k, d, driver);
      remove_links_to (k, dir);
      umockdev_testbed_uevent (k->tb, path, "remove");
      if (d != NULL)
        g_hash_table_remove (k->devices, d->address);
    }
  /* @gone is freed by now.  Not umockdev_testbed_remove_device(): it
   * works on the root as umockdev spells it (see pp_testbed_get_root()),
   * and everything pointing here is gone already. */
  remove_tree (top);
}

/* ---- handling writes ---- */

/* Reads a bind-like file and empties it for the next write.  truncate()
 * raises no IN_CLOSE_WRITE, so this is not seen as a write. */
static char *
take_write (const char *path)
{
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  if (*contents != '\0' && truncate (path, 0) < 0)
    g_critical ("fake kernel: cannot empty %s: %s", path, g_strerror (errno));
  return contents;
}

/* bus_find_device_by_name() compares with sysfs_streq(): one trailing
 * newline does not matter, anything else does. */
static Device *
device_named (PpFakeKernel *k, const char *contents)
{
  g_autofree char *name = NULL;

  if (contents == NULL)
    return NULL;
  name = g_strdup (contents);
  if (g_str_has_suffix (name, "\n"))
    name[strlen (name) - 1] = '\0';
  return g_hash_table_lookup (k->devices, name);
}

/* TRUE when the device was removed instead: the write has no effect. */
static gboolean
vanishes (PpFakeKernel *k, Device *d)
{
  if (!g_hash_table_remove (k->vanish, d->address))
    return FALSE;
  vanish (k, d);
  return TRUE;
}

static gboolean
is_stuck (PpFakeKernel *k, const Device *d)
{
  if (!g_hash_table_contains (k->stuck, d->address))
    return FALSE;
  g_debug ("%s is stuck: the write never completes", d->address);
  return TRUE;
}

/* A held device's bind waits, as a slow probe would, until
 * pp_fake_kernel_release() lets it go. */
static gboolean
is_held (PpFakeKernel *k, const Device *d, const char *driver)
{
  const char *pending = g_hash_table_lookup (k->held, d->address);

  if (pending == NULL)
    return FALSE;
  g_debug ("%s is held: binding %s waits for a release", d->address, driver);
  g_hash_table_insert (k->held, g_strdup (d->address), g_strdup (driver));
  k->n_held++;
  return TRUE;
}

static void
log_write (const char *file, const char *owner, const char *contents)
{
  g_autofree char *escaped = g_strescape (contents ? contents : "", NULL);

  g_debug ("%s%s%s <- \"%s\"", owner ? owner : "", owner ? "/" : "", file,
           escaped);
}

static void
on_bind_write (PpFakeKernel *k, const char *driver)
{
  g_autofree char *dir = driver_dir (k, driver);
  g_autofree char *path = g_build_filename (dir, "bind", NULL);
  g_autofree char *contents = take_write (path);
  Device *d = device_named (k, contents);

  k->n_writes++;
  log_write ("bind", driver, contents);
  if (d == NULL || vanishes (k, d) || is_stuck (k, d) || is_held (k, d, driver))
    return;
  try_bind (k, d, driver);
}

static void
on_unbind_write (PpFakeKernel *k, const char *driver)
{
  g_autofree char *dir = driver_dir (k, driver);
  g_autofree char *path = g_build_filename (dir, "unbind", NULL);
  g_autofree char *contents = take_write (path);
  Device *d = device_named (k, contents);
  g_autofree char *current = NULL;

  k->n_writes++;
  log_write ("unbind", driver, contents);
  if (d == NULL || vanishes (k, d))
    return;
  current = read_driver (d->dir);
  /* ENODEV unless @driver drives it. */
  if (g_strcmp0 (current, driver) == 0)
    do_unbind (k, d, driver);
}

static void
on_probe_write (PpFakeKernel *k)
{
  g_autofree char *path
      = g_build_filename (k->sys, "bus/pci/drivers_probe", NULL);
  g_autofree char *contents = take_write (path);
  Device *d = device_named (k, contents);
  g_autofree char *current = NULL;
  const char *driver;

  k->n_writes++;
  log_write ("drivers_probe", NULL, contents);
  if (d == NULL || vanishes (k, d) || is_stuck (k, d))
    return;
  current = read_driver (d->dir);
  if (current != NULL)
    return;
  /* With an override only that driver is tried ("none" names none). */
  driver = d->override != NULL ? d->override : d->native;
  if (driver != NULL && !is_held (k, d, driver))
    try_bind (k, d, driver);
}

static char *
format_override (const char *override)
{
  return override != NULL ? g_strconcat (override, "\n", NULL)
                          : g_strdup (UNSET_OVERRIDE);
}

/* The bytes of the last write, as far as they can be told apart from
 * what the file held before (@previous, which we normalised it to).
 * Writers open without O_TRUNC, so a shorter write leaves the end of the
 * old value behind: the write is the shortest prefix after which the old
 * bytes are intact.  NULL when the file is unchanged: a write of the same
 * value, or of nothing. */
static char *
written_part (const char *contents, gsize length, const char *previous)
{
  gsize previous_length = strlen (previous);
  gsize n;

  if (length == previous_length && memcmp (contents, previous, length) == 0)
    return NULL;
  if (length != previous_length)
    return g_strndup (contents, length);
  for (n = 0; n < length; n++)
    {
      if (memcmp (contents + n, previous + n, length - n) == 0)
        break;
    }
  return g_strndup (contents, n);
}

/* driver_set_override() (drivers/base/driver.c): up to the first newline;
 * empty or "\n" clears. */
static void
store_override (Device *d, const char *written)
{
  const char *newline = strchr (written, '\n');
  gsize length
      = newline != NULL ? (gsize) (newline - written) : strlen (written);

  g_clear_pointer (&d->override, g_free);
  if (length > 0)
    d->override = g_strndup (written, length);
  g_debug ("%s: driver_override is %s", d->address,
           d->override != NULL ? d->override : "(null)");
}

/* The file as the kernel's show() prints it.  Only rewritten when it
 * differs, and the rewrite's own event is recognised by d->echo, or we
 * would loop on our own writes. */
static void
normalise_override (Device *d, const char *contents, gsize length)
{
  g_autofree char *path = g_build_filename (d->dir, "driver_override", NULL);
  g_autofree char *normal = format_override (d->override);
  gsize normal_length = strlen (normal);
  int fd;

  if (length == normal_length && memcmp (contents, normal, length) == 0)
    return;

  /* In place, like a sysfs write, so an open descriptor stays valid. */
  fd = g_open (path, O_WRONLY | O_TRUNC | O_CLOEXEC, 0);
  if (fd < 0 || write (fd, normal, normal_length) != (ssize_t) normal_length)
    g_critical ("fake kernel: cannot write %s: %s", path, g_strerror (errno));
  if (fd >= 0)
    {
      g_free (d->echo);
      d->echo = g_steal_pointer (&normal);
      close (fd);
    }
}

static void
on_override_write (PpFakeKernel *k, Device *d)
{
  gsize length = 0;
  g_autofree char *contents = read_file (d->dir, "driver_override", &length);
  g_autofree char *previous = NULL;
  g_autofree char *written = NULL;

  if (contents == NULL)
    return;
  if (d->echo != NULL && g_str_equal (contents, d->echo))
    {
      g_clear_pointer (&d->echo, g_free);
      return;
    }
  g_clear_pointer (&d->echo, g_free);

  k->n_writes++;
  log_write ("driver_override", d->address, contents);
  if (vanishes (k, d))
    return;

  previous = format_override (d->override);
  written = written_part (contents, length, previous);
  /* As the real kernel does: a zero-length write never reaches the store
   * (so it does not clear, only "\n" does), and a value of PAGE_SIZE - 1
   * bytes or more is refused with EINVAL (seen in the real-kernel tier). */
  if (written != NULL && *written != '\0' && strlen (written) < 4095)
    store_override (d, written);
  normalise_override (d, contents, length);
}

/* The file was replaced through the testbed API (a test setting it up),
 * not written: take the value, count nothing. */
static void
on_override_replaced (Device *d)
{
  g_autofree char *contents = read_file (d->dir, "driver_override", NULL);

  g_clear_pointer (&d->echo, g_free);
  g_clear_pointer (&d->override, g_free);
  if (contents != NULL && !g_str_equal (contents, UNSET_OVERRIDE))
    store_override (d, contents);
}

/* ---- watching ---- */

static void
add_watch (PpFakeKernel *k, const char *dir, WatchKind kind, const char *name)
{
  Watch *w;
  int wd;

  /* IN_MOVED_TO: a file replaced by rename(), as umockdev writes. */
  wd = inotify_add_watch (k->inotify_fd, dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_ONLYDIR);
  if (wd < 0)
    {
      /* Gone since the directory was listed: nothing to watch. */
      if (errno != ENOENT)
        g_critical ("fake kernel: cannot watch %s: %s", dir,
                    g_strerror (errno));
      return;
    }
  w = g_new0 (Watch, 1);
  w->kind = kind;
  w->name = g_strdup (name);
  g_hash_table_replace (k->watches, GINT_TO_POINTER (wd), w);

  if (kind == WATCH_DEVICE)
    {
      Device *d = g_hash_table_lookup (k->devices, name);

      if (d != NULL)
        d->wd = wd;
    }
}

static void
add_device (PpFakeKernel *k, const char *address)
{
  g_autofree char *devices = g_build_filename (k->sys, "bus/pci/devices", NULL);
  g_autofree char *link = g_build_filename (devices, address, NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  g_autofree char *dir = NULL;
  g_autofree char *prefix = g_strconcat (k->sys, "/", NULL);
  Device *d;

  if (target == NULL)
    return;
  dir = g_canonicalize_filename (target, devices);
  if (!g_str_has_prefix (dir, prefix) || !g_file_test (dir, G_FILE_TEST_IS_DIR))
    return;

  d = g_new0 (Device, 1);
  d->address = g_strdup (address);
  d->devdir = g_strdup (dir + strlen (prefix));
  d->dir = g_steal_pointer (&dir);
  d->devpath = g_strconcat ("/sys/", d->devdir, NULL);
  d->native = read_driver (d->dir);
  d->wd = -1;
  g_hash_table_replace (k->devices, d->address, d);
  on_override_replaced (d);

  add_watch (k, d->dir, WATCH_DEVICE, address);
}

/* Called with the lock held, in the kernel thread. */
static void
scan (PpFakeKernel *k)
{
  g_autofree char *bus = g_build_filename (k->sys, "bus/pci", NULL);
  g_autofree char *drivers = g_build_filename (bus, "drivers", NULL);
  g_autofree char *devices = g_build_filename (bus, "devices", NULL);
  g_autoptr (GDir) driver_entries = NULL;
  g_autoptr (GDir) device_entries = NULL;
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;
  const char *name;

  add_watch (k, bus, WATCH_BUS, NULL);

  /* Watching a directory twice is harmless: same wd, same Watch. */
  driver_entries = g_dir_open (drivers, 0, NULL);
  while (driver_entries != NULL
         && (name = g_dir_read_name (driver_entries)) != NULL)
    {
      g_autofree char *dir = g_build_filename (drivers, name, NULL);

      if (g_file_test (dir, G_FILE_TEST_IS_DIR))
        add_watch (k, dir, WATCH_DRIVER, name);
    }

  g_hash_table_iter_init (&iter, k->devices);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autofree char *link = g_build_filename (devices, key, NULL);

      if (!g_file_test (link, G_FILE_TEST_IS_DIR))
        g_ptr_array_add (gone, g_strdup (key));
    }
  for (guint i = 0; i < gone->len; i++)
    g_hash_table_remove (k->devices, gone->pdata[i]);

  device_entries = g_dir_open (devices, 0, NULL);
  while (device_entries != NULL
         && (name = g_dir_read_name (device_entries)) != NULL)
    {
      if (!g_hash_table_contains (k->devices, name))
        add_device (k, name);
    }
}

static void
forget_watch (PpFakeKernel *k, int wd)
{
  Watch *w = g_hash_table_lookup (k->watches, GINT_TO_POINTER (wd));

  if (w->kind == WATCH_DEVICE)
    {
      Device *d = g_hash_table_lookup (k->devices, w->name);

      /* The test removed the device through the testbed. */
      if (d != NULL && d->wd == wd)
        g_hash_table_remove (k->devices, w->name);
    }
  g_hash_table_remove (k->watches, GINT_TO_POINTER (wd));
}

static void
handle_event (PpFakeKernel *k, const struct inotify_event *event)
{
  Watch *w;

  if (event->mask & IN_Q_OVERFLOW)
    g_critical ("fake kernel: inotify queue overflow, writes were lost");
  w = g_hash_table_lookup (k->watches, GINT_TO_POINTER (event->wd));
  if (w == NULL)
    return;
  if (event->mask & IN_IGNORED)
    {
      forget_watch (k, event->wd);
      return;
    }
  if (event->len == 0)
    return;

  switch (w->kind)
    {
      case WATCH_BUS:
        if ((event->mask & IN_CLOSE_WRITE)
            && g_str_equal (event->name, "drivers_probe"))
          on_probe_write (k);
        break;
      case WATCH_DRIVER:
        if (!(event->mask & IN_CLOSE_WRITE))
          break;
        if (g_str_equal (event->name, "bind"))
          on_bind_write (k, w->name);
        else if (g_str_equal (event->name, "unbind"))
          on_unbind_write (k, w->name);
        break;
      case WATCH_DEVICE:
        {
          Device *d = g_hash_table_lookup (k->devices, w->name);

          if (d == NULL || d->wd != event->wd
              || !g_str_equal (event->name, "driver_override"))
            break;
          if (event->mask & IN_CLOSE_WRITE)
            on_override_write (k, d);
          else if (event->mask & IN_MOVED_TO)
            on_override_replaced (d);
        }
        break;
      default:
        g_assert_not_reached ();
    }
}

/* Handles every queued event, and those our handling queues, until none
 * is left.  A write's IN_CLOSE_WRITE is queued before close() returns to
 * the writer, so after this every completed write is handled.  One
 * inotify instance keeps the events of all files in order, so a daemon's
 * override, unbind and bind are seen in the order it wrote them. */
static void
drain (PpFakeKernel *k)
{
  char buffer[16 * (sizeof (struct inotify_event) + NAME_MAX + 1)]
      __attribute__ ((aligned (__alignof__(struct inotify_event))));

  for (;;)
    {
      ssize_t length = read (k->inotify_fd, buffer, sizeof buffer);
      const char *p;

      if (length < 0 && errno == EINTR)
        continue;
      if (length < 0 && errno == EAGAIN)
        return;
      if (length <= 0)
        g_error ("fake kernel: cannot read inotify events: %s",
                 g_strerror (errno));

      for (p = buffer; p < buffer + length;)
        {
          const struct inotify_event *event = (const void *) p;

          handle_event (k, event);
          p += sizeof (struct inotify_event) + event->len;
        }
    }
}

static gboolean
on_inotify (gint fd G_GNUC_UNUSED,
            GIOCondition condition G_GNUC_UNUSED,
            gpointer data)
{
  PpFakeKernel *k = data;

  g_mutex_lock (&k->lock);
  drain (k);
  g_mutex_unlock (&k->lock);
  return G_SOURCE_CONTINUE;
}

static gpointer
kernel_thread (gpointer data)
{
  PpFakeKernel *k = data;
  GSource *source;

  /* Before any source exists, so that everything lands in our context. */
  g_main_context_push_thread_default (k->context);

  k->inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (k->inotify_fd < 0)
    g_error ("fake kernel: inotify_init1: %s", g_strerror (errno));
  source = g_unix_fd_source_new (k->inotify_fd, G_IO_IN);
  g_source_set_callback (source, G_SOURCE_FUNC (on_inotify), k, NULL);
  g_source_attach (source, k->context);

  g_mutex_lock (&k->lock);
  scan (k);
  k->ready = TRUE;
  g_cond_broadcast (&k->cond);
  g_mutex_unlock (&k->lock);

  g_main_loop_run (k->loop);

  g_source_destroy (source);
  g_source_unref (source);
  close (k->inotify_fd);
  k->inotify_fd = -1;
  g_main_context_pop_thread_default (k->context);
  return NULL;
}

/* ---- calls into the kernel thread ---- */

typedef void (*KernelFunc) (PpFakeKernel *k);

typedef struct
{
  PpFakeKernel *k;
  KernelFunc func;
  gboolean done;
} Call;

static gboolean
call_cb (gpointer data)
{
  Call *call = data;
  PpFakeKernel *k = call->k;

  g_mutex_lock (&k->lock);
  drain (k);
  if (call->func != NULL)
    {
      call->func (k);
      drain (k);
    }
  call->done = TRUE;
  g_cond_broadcast (&k->cond);
  g_mutex_unlock (&k->lock);
  return G_SOURCE_REMOVE;
}

/* Runs @func (may be NULL) in the kernel thread after every pending
 * write, and waits for it: a ping answered through a GCond. */
static void
call_in_thread (PpFakeKernel *k, KernelFunc func)
{
  Call call = { k, func, FALSE };
  GSource *source;

  if (g_thread_self () == k->thread)
    g_error ("fake kernel: called from its own thread");

  source = g_idle_source_new ();
  g_source_set_callback (source, call_cb, &call, NULL);
  g_source_attach (source, k->context);
  g_source_unref (source);

  g_mutex_lock (&k->lock);
  while (!call.done)
    g_cond_wait (&k->cond, &k->lock);
  g_mutex_unlock (&k->lock);
}

static void
quit (PpFakeKernel *k)
{
  g_main_loop_quit (k->loop);
}

/* ---- public API ---- */

PpFakeKernel *
pp_fake_kernel_new (UMockdevTestbed *tb)
{
  PpFakeKernel *k;

  g_return_val_if_fail (UMOCKDEV_IS_TESTBED (tb), NULL);

  /* umockdev_testbed_uevent() needs it, and the writes we watch would go
   * to the real sysfs without it. */
  if (!umockdev_in_mock_environment ())
    g_error ("pp-fake-kernel: not running under libumockdev-preload");

  k = g_new0 (PpFakeKernel, 1);
  k->tb = g_object_ref (tb);
  /* Checked there not to be "/", and spelled so that the preload leaves
   * our file operations alone. */
  k->root = pp_testbed_get_root (tb);
  k->sys = g_build_filename (k->root, "sys", NULL);
  k->inotify_fd = -1;
  k->context = g_main_context_new ();
  k->loop = g_main_loop_new (k->context, FALSE);
  k->watches
      = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) watch_free);
  k->devices = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                      (GDestroyNotify) device_free);
  k->stuck = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  k->vanish = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  k->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init (&k->lock);
  g_cond_init (&k->cond);

  k->thread = g_thread_new ("pp-fake-kernel", kernel_thread, k);
  g_mutex_lock (&k->lock);
  while (!k->ready)
    g_cond_wait (&k->cond, &k->lock);
  g_mutex_unlock (&k->lock);
  return k;
}

void
pp_fake_kernel_free (PpFakeKernel *k)
{
  if (k == NULL)
    return;

  /* Handles what is pending first, then stops the loop from inside:
   * g_main_loop_quit() before g_main_loop_run() would be lost. */
  call_in_thread (k, quit);
  g_thread_join (k->thread);

  g_hash_table_unref (k->watches);
  g_hash_table_unref (k->devices);
  g_hash_table_unref (k->stuck);
  g_hash_table_unref (k->vanish);
  g_hash_table_unref (k->held);
  g_main_loop_unref (k->loop);
  g_main_context_unref (k->context);
  g_mutex_clear (&k->lock);
  g_cond_clear (&k->cond);
  g_free (k->sys);
  g_free (k->root);
  g_object_unref (k->tb);
  g_free (k);
}

void
pp_fake_kernel_sync (PpFakeKernel *k)
{
  g_return_if_fail (k != NULL);

  call_in_thread (k, NULL);
}

void
pp_fake_kernel_rescan (PpFakeKernel *k)
{
  g_return_if_fail (k != NULL);

  call_in_thread (k, scan);
}

void
pp_fake_kernel_set_stuck (PpFakeKernel *k, const char *address, gboolean stuck)
{
  g_return_if_fail (k != NULL);
  g_return_if_fail (address != NULL);

  g_mutex_lock (&k->lock);
  if (stuck)
    g_hash_table_add (k->stuck, g_strdup (address));
  else
    g_hash_table_remove (k->stuck, address);
  g_mutex_unlock (&k->lock);
}

void
pp_fake_kernel_hold (PpFakeKernel *k, const char *address)
{
  g_return_if_fail (k != NULL);
  g_return_if_fail (address != NULL);

  g_mutex_lock (&k->lock);
  g_hash_table_insert (k->held, g_strdup (address), g_strdup (""));
  g_mutex_unlock (&k->lock);
}

guint
pp_fake_kernel_get_n_held (PpFakeKernel *k)
{
  guint n;

  g_return_val_if_fail (k != NULL, 0);
  pp_fake_kernel_sync (k);
  g_mutex_lock (&k->lock);
  n = k->n_held;
  g_mutex_unlock (&k->lock);
  return n;
}

/* Kernel thread: the binds held back go through now. */
static void
release_held (PpFakeKernel *k)
{
  GHashTableIter iter;
  gpointer address;
  gpointer driver;
  g_autoptr (GHashTable) held = k->held;

  k->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_iter_init (&iter, held);
  while (g_hash_table_iter_next (&iter, &address, &driver))
    {
      Device *d = g_hash_table_lookup (k->devices, address);

      if (d != NULL && *(const char *) driver != '\0')
        try_bind (k, d, driver);
    }
}

void
pp_fake_kernel_release (PpFakeKernel *k)
{
  g_return_if_fail (k != NULL);
  call_in_thread (k, release_held);
}

void
pp_fake_kernel_set_vanish_on_bind (PpFakeKernel *k, const char *address)
{
  g_return_if_fail (k != NULL);
  g_return_if_fail (address != NULL);

  g_mutex_lock (&k->lock);
  g_hash_table_add (k->vanish, g_strdup (address));
  g_mutex_unlock (&k->lock);
}

guint
pp_fake_kernel_get_n_writes (PpFakeKernel *k)
{
  guint n;

  g_return_val_if_fail (k != NULL, 0);

  pp_fake_kernel_sync (k);
  g_mutex_lock (&k->lock);
  n = k->n_writes;
  g_mutex_unlock (&k->lock);
  return n;
}

int
pp_fake_kernel_open_group (PpFakeKernel *k, int group)
{
  g_autofree char *node = NULL;

  g_return_val_if_fail (k != NULL, -1);
  g_return_val_if_fail (group >= 0, -1);

  pp_fake_kernel_sync (k);
  node = g_strdup_printf ("%s/dev/vfio/%d", k->root, group);
  return g_open (node, O_RDWR | O_CLOEXEC, 0);
}
