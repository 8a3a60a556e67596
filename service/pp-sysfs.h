/* PpSysfs: the one module that touches PCI sysfs.
 *
 * Reading: a device's files are read once into a PpSysfsDevice snapshot,
 * which the model then applies.  Writing: every write the daemon makes to
 * sysfs goes through pp_sysfs_write(), which refuses in read-only mode and
 * refuses any file the kernel sequence does not need.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Everything pcipassd knows about a PCI function from sysfs, read once. */
typedef struct
{
  char *address; /* canonical, e.g. "0000:01:00.0" */
  char *syspath; /* /sys/devices/... */
  guint16 vendor_id;
  guint16 device_id;
  guint16 subsystem_vendor_id;
  guint16 subsystem_device_id;
  guint8 revision;
  guint32 class_code;
  char *driver;          /* "" when unbound */
  char *driver_override; /* "" when unset */
  int iommu_group;       /* -1 when none */
  int numa_node;         /* -1 when unknown */
  gboolean boot_vga;
  char **reset_methods; /* empty when the device cannot be reset */
  char *physfn;         /* address of the PF for a VF, "" otherwise */
  char **virtfns;       /* addresses of the VFs in VF order */
} PpSysfsDevice;

void pp_sysfs_device_free (PpSysfsDevice *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpSysfsDevice, pp_sysfs_device_free)

#define PP_TYPE_SYSFS (pp_sysfs_get_type ())
G_DECLARE_FINAL_TYPE (PpSysfs, pp_sysfs, PP, SYSFS, GObject)

/* @read_only: when TRUE every write is refused with PP_ERROR_READ_ONLY. */
PpSysfs *pp_sysfs_new (gboolean read_only, GError **error);

gboolean pp_sysfs_get_read_only (PpSysfs *self);

/* The libudev context, for the names database and (later) the monitor. */
struct udev *pp_sysfs_get_udev (PpSysfs *self);

/* Reads every PCI function the kernel lists.  Returns an array of
 * PpSysfsDevice, sorted by address.  A device that cannot be read (it went
 * away during the walk) is left out with a debug message. */
GPtrArray *pp_sysfs_enumerate (PpSysfs *self, GError **error);

/* Reads one device, by its /sys/devices path. */
PpSysfsDevice *
pp_sysfs_read_device (PpSysfs *self, const char *syspath, GError **error);

/* Writes @value to the sysfs file @path with a single write(2).  Only the
 * files the bind sequence uses are accepted (driver_override, bind,
 * unbind, drivers_probe).  Failures are PP_ERROR_KERNEL naming the file
 * and the errno text; read-only mode gives PP_ERROR_READ_ONLY. */
gboolean pp_sysfs_write (PpSysfs *self,
                         const char *path,
                         const char *value,
                         GError **error);

G_END_DECLS
