#include "config.h"

#include "pp-sysfs.h"

#include "pp-address.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#define PCI_DEVICES "/sys/bus/pci/devices"

/* Every file of a device is read relative to its directory's descriptor:
 * one path lookup per device instead of one per attribute, the way lspci
 * reads sysfs (and, under umockdev, one redirected path instead of a
 * dozen). */
struct _PpSysfs
{
  GObject parent_instance;
};

G_DEFINE_TYPE (PpSysfs, pp_sysfs, G_TYPE_OBJECT)

void
pp_sysfs_device_free (PpSysfsDevice *info)
{
  if (info == NULL)
    return;
  g_free (info->address);
  g_free (info->syspath);
  g_free (info->driver);
  g_free (info->driver_override);
  g_strfreev (info->reset_methods);
  g_free (info->physfn);
  g_strfreev (info->virtfns);
  g_free (info);
}

static void
pp_sysfs_class_init (PpSysfsClass *klass)
{
}

static void
pp_sysfs_init (PpSysfs *self)
{
}

PpSysfs *
pp_sysfs_new (GError **error)
{
  return g_object_new (PP_TYPE_SYSFS, NULL);
}

char *
pp_sysfs_parse_override (const char *contents)
{
  g_autofree char *value = NULL;
  char *newline;

  if (contents == NULL)
    return g_strdup ("");
  value = g_strdup (contents);
  /* Only the first line counts: the kernel ends the value there. */
  newline = strchr (value, '\n');
  if (newline != NULL)
    *newline = '\0';
  g_strstrip (value);
  /* The kernel shows an unset override as "(null)". */
  if (g_str_equal (value, "(null)"))
    return g_strdup ("");
  return g_steal_pointer (&value);
}

gboolean
pp_sysfs_parse_number (
    const char *text, guint base, gint64 min, gint64 max, gint64 *out)
{
  g_autofree char *stripped = NULL;
  gint64 value;
  char *end = NULL;

  if (text == NULL)
    return FALSE;
  stripped = g_strstrip (g_strdup (text));
  if (base == 16 && g_str_has_prefix (stripped, "0x"))
    memmove (stripped, stripped + 2, strlen (stripped + 2) + 1);
  if (*stripped == '\0')
    return FALSE;

  /* Only ERANGE means failure: GLib's first call can leave an unrelated
   * errno behind while it sets up its C locale. */
  errno = 0;
  value = g_ascii_strtoll (stripped, &end, base);
  if (errno == ERANGE || *end != '\0' || value < min || value > max)
    return FALSE;
  *out = value;
  return TRUE;
}

/* The contents of attribute @name of the device at @dirfd without the
 * trailing newline, or NULL when it cannot be read (absent, or refused). */
static char *
read_attr (int dirfd, const char *name)
{
  char buf[4096];
  gssize n;
  int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd < 0)
    return NULL;
  do
    n = read (fd, buf, sizeof buf - 1);
  while (n < 0 && errno == EINTR);
  close (fd);
  if (n < 0)
    return NULL;
  buf[n] = '\0';
  return g_strchomp (g_strdup (buf));
}

static gboolean
read_required_hex (int dirfd,
                   const char *syspath,
                   const char *attr,
                   gint64 max,
                   gint64 *out,
                   GError **error)
{
  g_autofree char *value = read_attr (dirfd, attr);

  if (pp_sysfs_parse_number (value, 16, 0, max, out))
    return TRUE;

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s/%s: %s%s%s",
               syspath, attr,
               value == NULL ? "missing" : "not a hex number: \"",
               value == NULL ? "" : value, value == NULL ? "" : "\"");
  return FALSE;
}

static gint64
read_optional_number (int dirfd,
                      const char *attr,
                      guint base,
                      gint64 min,
                      gint64 max,
                      gint64 fallback)
{
  g_autofree char *text = read_attr (dirfd, attr);
  gint64 value;

  if (pp_sysfs_parse_number (text, base, min, max, &value))
    return value;
  return fallback;
}

/* The name of the file a sysfs link points at (driver, iommu_group,
 * physfn, virtfnN), or NULL when there is no such link. */
static char *
read_link_basename (int dirfd, const char *link)
{
  char target[PATH_MAX];
  gssize n = readlinkat (dirfd, link, target, sizeof target - 1);

  if (n <= 0)
    return NULL;
  target[n] = '\0';
  return g_path_get_basename (target);
}

char **
pp_sysfs_split_words (const char *text)
{
  g_auto (GStrv) words = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  if (text != NULL)
    {
      words = g_strsplit_set (text, " \t\n", -1);
      for (char **w = words; *w != NULL; w++)
        if (**w != '\0')
          g_strv_builder_add (builder, *w);
    }
  return g_strv_builder_end (builder);
}

/* "VVVV:DDDD" as two 16-bit hex numbers. */
static gboolean
parse_id_pair (const char *text, guint16 *first, guint16 *second)
{
  g_autofree char *left = NULL;
  const char *colon = strchr (text, ':');
  gint64 a;
  gint64 b;

  if (colon == NULL)
    return FALSE;
  left = g_strndup (text, (gsize) (colon - text));
  if (!pp_sysfs_parse_number (left, 16, 0, G_MAXUINT16, &a)
      || !pp_sysfs_parse_number (colon + 1, 16, 0, G_MAXUINT16, &b))
    return FALSE;
  *first = (guint16) a;
  *second = (guint16) b;
  return TRUE;
}

void
pp_sysfs_parse_uevent (const char *contents, PpSysfsUevent *out)
{
  g_auto (GStrv) lines = NULL;

  memset (out, 0, sizeof *out);
  if (contents == NULL)
    return;
  lines = g_strsplit (contents, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    {
      gint64 value;

      if (g_str_has_prefix (*line, "PCI_ID="))
        out->has_id = parse_id_pair (*line + strlen ("PCI_ID="),
                                     &out->vendor_id, &out->device_id);
      else if (g_str_has_prefix (*line, "PCI_SUBSYS_ID="))
        out->has_subsys = parse_id_pair (*line + strlen ("PCI_SUBSYS_ID="),
                                         &out->subsystem_vendor_id,
                                         &out->subsystem_device_id);
      else if (g_str_has_prefix (*line, "PCI_CLASS=")
               && pp_sysfs_parse_number (*line + strlen ("PCI_CLASS="), 16, 0,
                                         0xffffff, &value))
        {
          out->has_class = TRUE;
          out->class_code = (guint32) value;
        }
    }
}

static PpSysfsDevice *
read_device_at (int dirfd, const char *syspath, GError **error)
{
  g_autoptr (PpSysfsDevice) info = g_new0 (PpSysfsDevice, 1);
  g_autoptr (GStrvBuilder) vfs = g_strv_builder_new ();
  g_autofree char *name = g_path_get_basename (syspath);
  g_autofree char *group = NULL;
  g_autofree char *driver = NULL;
  g_autofree char *override = NULL;
  g_autofree char *reset = NULL;
  g_autofree char *uevent_text = NULL;
  PpSysfsUevent uevent;
  gint64 value;
  gint64 numvfs;

  info->address = pp_address_normalize (name, FALSE, error);
  if (info->address == NULL)
    {
      g_prefix_error (error, "%s: ", syspath);
      return NULL;
    }
  info->syspath = g_strdup (syspath);

  /* The uevent file has the IDs and the class in one read, where the
   * attributes take five opens; each file is the fallback for what it
   * lacks. */
  uevent_text = read_attr (dirfd, "uevent");
  pp_sysfs_parse_uevent (uevent_text, &uevent);
  if (uevent.has_id)
    {
      info->vendor_id = uevent.vendor_id;
      info->device_id = uevent.device_id;
    }
  else
    {
      if (!read_required_hex (dirfd, syspath, "vendor", G_MAXUINT16, &value,
                              error))
        return NULL;
      info->vendor_id = (guint16) value;
      if (!read_required_hex (dirfd, syspath, "device", G_MAXUINT16, &value,
                              error))
        return NULL;
      info->device_id = (guint16) value;
    }
  if (uevent.has_class)
    info->class_code = uevent.class_code;
  else if (!read_required_hex (dirfd, syspath, "class", 0xffffff, &value,
                               error))
    return NULL;
  else
    info->class_code = (guint32) value;

  if (uevent.has_subsys)
    {
      info->subsystem_vendor_id = uevent.subsystem_vendor_id;
      info->subsystem_device_id = uevent.subsystem_device_id;
    }
  else
    {
      info->subsystem_vendor_id = (guint16) read_optional_number (
          dirfd, "subsystem_vendor", 16, 0, G_MAXUINT16, 0);
      info->subsystem_device_id = (guint16) read_optional_number (
          dirfd, "subsystem_device", 16, 0, G_MAXUINT16, 0);
    }
  info->revision
      = (guint8) read_optional_number (dirfd, "revision", 16, 0, G_MAXUINT8, 0);
  info->numa_node
      = (int) read_optional_number (dirfd, "numa_node", 10, -1, G_MAXINT, -1);

  driver = read_link_basename (dirfd, "driver");
  info->driver = g_strdup (driver != NULL ? driver : "");

  override = read_attr (dirfd, "driver_override");
  info->driver_override = pp_sysfs_parse_override (override);

  /* Only VGA devices have boot_vga, only PFs sriov_numvfs. */
  if (info->class_code >> 8 == 0x0300)
    info->boot_vga = read_optional_number (dirfd, "boot_vga", 10, 0, 1, 0) == 1;

  reset = read_attr (dirfd, "reset_method");
  info->reset_methods = pp_sysfs_split_words (reset);

  group = read_link_basename (dirfd, "iommu_group");
  info->iommu_group = -1;
  if (group != NULL && pp_sysfs_parse_number (group, 10, 0, G_MAXINT, &value))
    info->iommu_group = (int) value;

  info->physfn = read_link_basename (dirfd, "physfn");
  if (info->physfn == NULL)
    info->physfn = g_strdup ("");

  /* Only a PF with VFs enabled has virtfnN links, numbered 0..numvfs-1;
   * a VF has no sriov_numvfs. */
  numvfs = *info->physfn != '\0' ? 0
                                 : read_optional_number (dirfd, "sriov_numvfs",
                                                         10, 0, G_MAXUINT16, 0);
  for (gint64 i = 0; i < numvfs; i++)
    {
      char link[32];
      g_autofree char *vf = NULL;

      g_snprintf (link, sizeof link, "virtfn%" G_GINT64_FORMAT, i);
      vf = read_link_basename (dirfd, link);
      if (vf != NULL)
        g_strv_builder_add (vfs, vf);
    }
  info->virtfns = g_strv_builder_end (vfs);

  return g_steal_pointer (&info);
}

PpSysfsDevice *
pp_sysfs_read_device (PpSysfs *self, const char *syspath, GError **error)
{
  PpSysfsDevice *info;
  int dirfd;

  g_return_val_if_fail (PP_IS_SYSFS (self), NULL);

  dirfd = open (syspath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s",
                   syspath, g_strerror (err));
      return NULL;
    }
  info = read_device_at (dirfd, syspath, error);
  close (dirfd);
  return info;
}

static int
compare_by_address (gconstpointer a, gconstpointer b)
{
  const PpSysfsDevice *da = *(PpSysfsDevice *const *) a;
  const PpSysfsDevice *db = *(PpSysfsDevice *const *) b;

  return pp_address_str_compare (da->address, db->address);
}

GPtrArray *
pp_sysfs_enumerate (PpSysfs *self, GError **error)
{
  g_autoptr (GPtrArray) devices = NULL;
  DIR *dir;
  struct dirent *entry;

  g_return_val_if_fail (PP_IS_SYSFS (self), NULL);

  dir = opendir (PCI_DEVICES);
  if (dir == NULL)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "could not list PCI devices in %s: %s", PCI_DEVICES,
                   g_strerror (err));
      return NULL;
    }

  devices
      = g_ptr_array_new_with_free_func ((GDestroyNotify) pp_sysfs_device_free);
  while ((entry = readdir (dir)) != NULL)
    {
      g_autoptr (GError) local_error = NULL;
      g_autofree char *syspath = NULL;
      char target[PATH_MAX];
      gssize n;
      PpSysfsDevice *info;

      if (entry->d_name[0] == '.')
        continue;
      /* The kernel's canonical path, as uevents name it: the link
       * resolved ("../../../devices/pci0000:00/..."). */
      n = readlinkat (dirfd (dir), entry->d_name, target, sizeof target - 1);
      if (n <= 0)
        continue;
      target[n] = '\0';
      syspath = g_canonicalize_filename (target, PCI_DEVICES);
      info = pp_sysfs_read_device (self, syspath, &local_error);
      if (info == NULL)
        {
          /* A device can go away between listing and reading it. */
          g_debug ("skipping PCI device: %s", local_error->message);
          continue;
        }
      g_ptr_array_add (devices, info);
    }
  closedir (dir);

  g_ptr_array_sort (devices, compare_by_address);
  return g_steal_pointer (&devices);
}
