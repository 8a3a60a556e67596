#include "pp-vfio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  dev_t dev;
  ino_t ino;
} NodeId;

static guint
node_hash (gconstpointer key)
{
  const NodeId *id = key;

  return g_int64_hash (&(gint64){ (gint64) id->ino })
         ^ g_int64_hash (&(gint64){ (gint64) id->dev });
}

static gboolean
node_equal (gconstpointer a, gconstpointer b)
{
  const NodeId *x = a;
  const NodeId *y = b;

  return x->dev == y->dev && x->ino == y->ino;
}

struct _PpVfioUsers
{
  GHashTable *nodes;   /* NodeId -> path: what to look for */
  GHashTable *held;    /* paths found open */
  GHashTable *devices; /* address -> cdev path ("" without one) */
};

PpVfioUsers *
pp_vfio_users_new (void)
{
  PpVfioUsers *users = g_new0 (PpVfioUsers, 1);

  users->nodes = g_hash_table_new_full (node_hash, node_equal, g_free, g_free);
  users->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  users->devices
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return users;
}

void
pp_vfio_users_free (PpVfioUsers *users)
{
  if (users == NULL)
    return;
  g_hash_table_unref (users->nodes);
  g_hash_table_unref (users->held);
  g_hash_table_unref (users->devices);
  g_free (users);
}

static gboolean
node_id (const char *path, NodeId *out)
{
  struct stat st;

  if (stat (path, &st) < 0)
    return FALSE;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  return TRUE;
}

static void
watch_node (PpVfioUsers *users, const char *path)
{
  NodeId id;

  if (node_id (path, &id))
    g_hash_table_replace (users->nodes, g_memdup2 (&id, sizeof id),
                          g_strdup (path));
}

static char *
group_node (int group)
{
  return g_strdup_printf ("/dev/vfio/%d", group);
}

void
pp_vfio_users_add (PpVfioUsers *users, int group, const char *address)
{
  g_autofree char *group_path = NULL;
  g_autofree char *cdev_dir = NULL;
  g_autoptr (GDir) dir = NULL;
  const char *cdev;
  char *cdev_path = NULL;

  if (group < 0 || g_hash_table_contains (users->devices, address))
    return;
  group_path = group_node (group);
  watch_node (users, group_path);

  /* Since 6.6 a device can also be opened alone, through iommufd. */
  cdev_dir
      = g_build_filename ("/sys/bus/pci/devices", address, "vfio-dev", NULL);
  dir = g_dir_open (cdev_dir, 0, NULL);
  cdev = dir != NULL ? g_dir_read_name (dir) : NULL;
  if (cdev != NULL && strchr (cdev, '/') == NULL)
    {
      cdev_path = g_build_filename ("/dev/vfio/devices", cdev, NULL);
      watch_node (users, cdev_path);
    }
  g_hash_table_insert (users->devices, g_strdup (address),
                       cdev_path != NULL ? cdev_path : g_strdup (""));
}

static gboolean
is_denied (int saved_errno)
{
  return saved_errno == EACCES || saved_errno == EPERM;
}

/* Relative to the directory's descriptor: the kernel looks up one name,
 * not the whole /proc/PID/fd/N path, for each of thousands of fds.
 * FALSE when the process's descriptors may not be listed (root without
 * CAP_DAC_READ_SEARCH, for another user's process): what it holds is
 * unknown.  A process that is gone holds nothing.  A descriptor that may
 * not be followed is skipped without a word: some hosts deny that even to
 * a root with every capability for their own supervisor (PID 1 of this
 * project's CI machines). */
static gboolean
scan_process (PpVfioUsers *users, int proc_fd, const char *pid)
{
  g_autofree char *fd_dir = g_build_filename (pid, "fd", NULL);
  int dir_fd = openat (proc_fd, fd_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir;
  struct dirent *entry;

  if (dir_fd < 0)
    return !is_denied (errno);
  dir = fdopendir (dir_fd);
  if (dir == NULL)
    {
      close (dir_fd);
      return TRUE;
    }
  while ((entry = readdir (dir)) != NULL)
    {
      struct stat st;
      NodeId id;
      const char *node;

      if (entry->d_name[0] == '.'
          || fstatat (dir_fd, entry->d_name, &st, 0) < 0)
        continue;
      id.dev = st.st_dev;
      id.ino = st.st_ino;
      node = g_hash_table_lookup (users->nodes, &id);
      if (node != NULL)
        g_hash_table_add (users->held, g_strdup (node));
    }
  closedir (dir);
  return TRUE;
}

void
pp_vfio_users_scan (PpVfioUsers *users)
{
  static gint warned = 0; /* scans run in worker threads */
  DIR *proc;
  struct dirent *entry;
  guint hidden = 0;

  if (g_hash_table_size (users->nodes) == 0)
    return;
  proc = opendir ("/proc");
  if (proc == NULL)
    return;
  while ((entry = readdir (proc)) != NULL)
    {
      if (!g_ascii_isdigit (entry->d_name[0]))
        continue;
      if (!scan_process (users, dirfd (proc), entry->d_name))
        hidden++;
      if (g_hash_table_size (users->held) == g_hash_table_size (users->nodes))
        break; /* everything asked about is held: nothing more to learn */
    }
  closedir (proc);
  /* Once: the daemon runs so, or not (as root under a unit without
   * CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, or as a user in a demo). */
  if (hidden > 0 && g_atomic_int_compare_and_exchange (&warned, 0, 1))
    g_warning ("the open files of %u processes cannot be read: a VM among "
               "them does not keep its VFIO group from being unbound "
               "(pcipassd needs root with CAP_DAC_READ_SEARCH and "
               "CAP_SYS_PTRACE)",
               hidden);
}

gboolean
pp_vfio_users_in_use (PpVfioUsers *users, int group, const char *address)
{
  g_autofree char *group_path = NULL;
  const char *cdev_path = g_hash_table_lookup (users->devices, address);

  if (group < 0)
    return FALSE;
  group_path = group_node (group);
  return g_hash_table_contains (users->held, group_path)
         || (cdev_path != NULL && *cdev_path != '\0'
             && g_hash_table_contains (users->held, cdev_path));
}
