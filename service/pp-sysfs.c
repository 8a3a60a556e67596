#include "config.h"

#include "pp-sysfs.h"

#include "pp-address.h"

#include <errno.h>
#include <libudev.h>
#include <string.h>

typedef struct udev_enumerate PpUdevEnumerate;
typedef struct udev_device PpUdevDevice;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpUdevEnumerate, udev_enumerate_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpUdevDevice, udev_device_unref)

struct _PpSysfs
{
  GObject parent_instance;

  struct udev *udev;
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
pp_sysfs_finalize (GObject *object)
{
  PpSysfs *self = PP_SYSFS (object);

  g_clear_pointer (&self->udev, udev_unref);
  G_OBJECT_CLASS (pp_sysfs_parent_class)->finalize (object);
}

static void
pp_sysfs_class_init (PpSysfsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pp_sysfs_finalize;
}

static void
pp_sysfs_init (PpSysfs *self)
{
}

PpSysfs *
pp_sysfs_new (GError **error)
{
  g_autoptr (PpSysfs) self = g_object_new (PP_TYPE_SYSFS, NULL);

  self->udev = udev_new ();
  if (self->udev == NULL)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "could not create a libudev context: %s", g_strerror (err));
      return NULL;
    }
  return g_steal_pointer (&self);
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

static gboolean
read_required_hex (struct udev_device *dev,
                   const char *attr,
                   gint64 max,
                   gint64 *out,
                   GError **error)
{
  const char *value = udev_device_get_sysattr_value (dev, attr);

  if (pp_sysfs_parse_number (value, 16, 0, max, out))
    return TRUE;

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s/%s: %s%s%s",
               udev_device_get_syspath (dev), attr,
               value == NULL ? "missing" : "not a hex number: \"",
               value == NULL ? "" : value, value == NULL ? "" : "\"");
  return FALSE;
}

static gint64
read_optional_number (struct udev_device *dev,
                      const char *attr,
                      guint base,
                      gint64 min,
                      gint64 max,
                      gint64 fallback)
{
  gint64 value;

  if (pp_sysfs_parse_number (udev_device_get_sysattr_value (dev, attr), base,
                             min, max, &value))
    return value;
  return fallback;
}

/* The name of the file a sysfs link points at: iommu_group, physfn and
 * virtfnN are links that libudev does not resolve as attributes. */
static char *
read_link_basename (const char *syspath, const char *link)
{
  g_autofree char *path = g_build_filename (syspath, link, NULL);
  g_autofree char *target = g_file_read_link (path, NULL);

  if (target == NULL)
    return NULL;
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

static PpSysfsDevice *
read_udev_device (struct udev_device *dev, GError **error)
{
  g_autoptr (PpSysfsDevice) info = g_new0 (PpSysfsDevice, 1);
  g_autoptr (GStrvBuilder) vfs = g_strv_builder_new ();
  g_autofree char *group = NULL;
  const char *syspath = udev_device_get_syspath (dev);
  const char *driver;
  const char *override;
  gint64 value;
  gint64 numvfs;

  info->address
      = pp_address_normalize (udev_device_get_sysname (dev), FALSE, error);
  if (info->address == NULL)
    {
      g_prefix_error (error, "%s: ", syspath);
      return NULL;
    }
  info->syspath = g_strdup (syspath);

  if (!read_required_hex (dev, "vendor", G_MAXUINT16, &value, error))
    return NULL;
  info->vendor_id = (guint16) value;
  if (!read_required_hex (dev, "device", G_MAXUINT16, &value, error))
    return NULL;
  info->device_id = (guint16) value;
  if (!read_required_hex (dev, "class", 0xffffff, &value, error))
    return NULL;
  info->class_code = (guint32) value;

  info->subsystem_vendor_id = (guint16) read_optional_number (
      dev, "subsystem_vendor", 16, 0, G_MAXUINT16, 0);
  info->subsystem_device_id = (guint16) read_optional_number (
      dev, "subsystem_device", 16, 0, G_MAXUINT16, 0);
  info->revision
      = (guint8) read_optional_number (dev, "revision", 16, 0, G_MAXUINT8, 0);
  info->numa_node
      = (int) read_optional_number (dev, "numa_node", 10, -1, G_MAXINT, -1);

  driver = udev_device_get_driver (dev);
  info->driver = g_strdup (driver != NULL ? driver : "");

  override = udev_device_get_sysattr_value (dev, "driver_override");
  info->driver_override = pp_sysfs_parse_override (override);

  info->boot_vga = read_optional_number (dev, "boot_vga", 10, 0, 1, 0) == 1;

  info->reset_methods = pp_sysfs_split_words (
      udev_device_get_sysattr_value (dev, "reset_method"));

  group = read_link_basename (syspath, "iommu_group");
  info->iommu_group = -1;
  if (group != NULL && pp_sysfs_parse_number (group, 10, 0, G_MAXINT, &value))
    info->iommu_group = (int) value;

  info->physfn = read_link_basename (syspath, "physfn");
  if (info->physfn == NULL)
    info->physfn = g_strdup ("");

  /* Only a PF with VFs enabled has virtfnN links, numbered 0..numvfs-1. */
  numvfs = read_optional_number (dev, "sriov_numvfs", 10, 0, G_MAXUINT16, 0);
  for (gint64 i = 0; i < numvfs; i++)
    {
      g_autofree char *link = g_strdup_printf ("virtfn%" G_GINT64_FORMAT, i);
      g_autofree char *vf = read_link_basename (syspath, link);
      if (vf != NULL)
        g_strv_builder_add (vfs, vf);
    }
  info->virtfns = g_strv_builder_end (vfs);

  return g_steal_pointer (&info);
}

PpSysfsDevice *
pp_sysfs_read_device (PpSysfs *self, const char *syspath, GError **error)
{
  g_autoptr (PpUdevDevice) dev = NULL;

  g_return_val_if_fail (PP_IS_SYSFS (self), NULL);

  dev = udev_device_new_from_syspath (self->udev, syspath);
  if (dev == NULL)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s",
                   syspath, g_strerror (err));
      return NULL;
    }
  return read_udev_device (dev, error);
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
  g_autoptr (PpUdevEnumerate) enumerate = NULL;
  g_autoptr (GPtrArray) devices = NULL;
  struct udev_list_entry *entry;
  int r;

  g_return_val_if_fail (PP_IS_SYSFS (self), NULL);

  enumerate = udev_enumerate_new (self->udev);
  if (enumerate == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "could not create a udev enumerator: %s",
                   g_strerror (errno));
      return NULL;
    }

  r = udev_enumerate_add_match_subsystem (enumerate, "pci");
  if (r >= 0)
    r = udev_enumerate_scan_devices (enumerate);
  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                   "could not list PCI devices in /sys: %s", g_strerror (-r));
      return NULL;
    }

  devices
      = g_ptr_array_new_with_free_func ((GDestroyNotify) pp_sysfs_device_free);
  udev_list_entry_foreach (entry, udev_enumerate_get_list_entry (enumerate))
  {
    g_autoptr (GError) local_error = NULL;
    PpSysfsDevice *info;

    info = pp_sysfs_read_device (self, udev_list_entry_get_name (entry),
                                 &local_error);
    if (info == NULL)
      {
        /* A device can go away between listing and reading it. */
        g_debug ("skipping PCI device: %s", local_error->message);
        continue;
      }
    g_ptr_array_add (devices, info);
  }

  g_ptr_array_sort (devices, compare_by_address);
  return g_steal_pointer (&devices);
}
