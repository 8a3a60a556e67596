#include "pp-vfio.h"

#include <gio/gio.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  dev_t dev;
  ino_t ino;
} NodeId;

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

static gboolean
process_holds (const char *pid, const NodeId *nodes, guint n_nodes)
{
  g_autofree char *fd_dir = g_build_filename ("/proc", pid, "fd", NULL);
  g_autoptr (GDir) dir = g_dir_open (fd_dir, 0, NULL);
  const char *fd;

  while (dir != NULL && (fd = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fd_dir, fd, NULL);
      NodeId id;

      if (!node_id (path, &id))
        continue;
      for (guint i = 0; i < n_nodes; i++)
        if (id.dev == nodes[i].dev && id.ino == nodes[i].ino)
          return TRUE;
    }
  return FALSE;
}

gboolean
pp_vfio_in_use (int group, const char *address)
{
  NodeId nodes[2];
  guint n_nodes = 0;
  g_autofree char *group_node = NULL;
  g_autofree char *cdev_dir = NULL;
  g_autoptr (GDir) proc = NULL;
  const char *name;

  if (group < 0)
    return FALSE;

  group_node = g_strdup_printf ("/dev/vfio/%d", group);
  if (node_id (group_node, &nodes[n_nodes]))
    n_nodes++;

  /* Since 6.6 a device can also be opened alone, through iommufd. */
  cdev_dir
      = g_build_filename ("/sys/bus/pci/devices", address, "vfio-dev", NULL);
  {
    g_autoptr (GDir) dir = g_dir_open (cdev_dir, 0, NULL);
    const char *cdev = dir != NULL ? g_dir_read_name (dir) : NULL;

    if (cdev != NULL)
      {
        g_autofree char *path
            = g_build_filename ("/dev/vfio/devices", cdev, NULL);
        if (node_id (path, &nodes[n_nodes]))
          n_nodes++;
      }
  }
  if (n_nodes == 0)
    return FALSE;

  proc = g_dir_open ("/proc", 0, NULL);
  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      if (!g_ascii_isdigit (name[0]))
        continue;
      if (process_holds (name, nodes, n_nodes))
        return TRUE;
    }
  return FALSE;
}
