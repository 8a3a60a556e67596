/* PpSysfs: reads PCI sysfs.
 *
 * A device's files are read once into a PpSysfsDevice snapshot, which the
 * model then applies.  Nothing here writes: writes are PpKernel's alone.
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

PpSysfs *pp_sysfs_new (GError **error);

/* The parsers of attribute values, for any text.  A number such as
 * "0x10de\n" or "-1" in @base within [@min, @max]; FALSE for anything
 * else, NULL included. */
gboolean pp_sysfs_parse_number (
    const char *text, guint base, gint64 min, gint64 max, gint64 *out);

/* driver_override's contents as a value: its first line, trimmed; ""
 * for "(null)" (unset) and for NULL. */
char *pp_sysfs_parse_override (const char *contents);

/* The blank-separated words of @text (reset_method); empty for NULL. */
char **pp_sysfs_split_words (const char *text);

/* What a PCI device's uevent file says of it (pci_uevent: PCI_ID,
 * PCI_SUBSYS_ID, PCI_CLASS); each has_ flag says whether that line was
 * there and valid. */
typedef struct
{
  gboolean has_id;
  guint16 vendor_id;
  guint16 device_id;
  gboolean has_subsys;
  guint16 subsystem_vendor_id;
  guint16 subsystem_device_id;
  gboolean has_class;
  guint32 class_code;
} PpSysfsUevent;

/* Parses @contents (any text, or NULL) into @out. */
void pp_sysfs_parse_uevent (const char *contents, PpSysfsUevent *out);

/* Reads every PCI function the kernel lists.  Returns an array of
 * PpSysfsDevice, sorted by address.  A device that cannot be read (it went
 * away during the walk) is left out with a debug message. */
GPtrArray *pp_sysfs_enumerate (PpSysfs *self, GError **error);

/* Reads one device, by its /sys/devices path. */
PpSysfsDevice *
pp_sysfs_read_device (PpSysfs *self, const char *syspath, GError **error);

G_END_DECLS
