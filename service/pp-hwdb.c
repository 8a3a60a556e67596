#include "pp-hwdb.h"

#include <libudev.h>

struct _PpHwdb
{
  struct udev *udev;
  struct udev_hwdb *hwdb;
};

PpHwdb *
pp_hwdb_new (void)
{
  PpHwdb *self = g_new0 (PpHwdb, 1);

  self->udev = udev_new ();
  if (self->udev != NULL)
    self->hwdb = udev_hwdb_new (self->udev);
  if (self->hwdb == NULL)
    g_message ("no udev hardware database: device names will be empty");
  return self;
}

void
pp_hwdb_free (PpHwdb *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->hwdb, udev_hwdb_unref);
  g_clear_pointer (&self->udev, udev_unref);
  g_free (self);
}

gboolean
pp_hwdb_is_available (PpHwdb *self)
{
  return self->hwdb != NULL;
}

void
pp_hwdb_lookup (PpHwdb *self,
                guint16 vendor_id,
                guint16 device_id,
                char **vendor_name,
                char **device_name)
{
  const char *vendor = NULL;
  const char *model = NULL;

  if (self->hwdb != NULL)
    {
      struct udev_list_entry *entry;
      /* The database keys are upper-case hex; lower case never matches. */
      g_autofree char *modalias
          = g_strdup_printf ("pci:v%08Xd%08X*", vendor_id, device_id);

      udev_list_entry_foreach (
          entry, udev_hwdb_get_properties_list_entry (self->hwdb, modalias, 0))
      {
        const char *key = udev_list_entry_get_name (entry);

        if (g_str_equal (key, "ID_VENDOR_FROM_DATABASE"))
          vendor = udev_list_entry_get_value (entry);
        else if (g_str_equal (key, "ID_MODEL_FROM_DATABASE"))
          model = udev_list_entry_get_value (entry);
      }
    }

  *vendor_name = g_strdup (vendor != NULL ? vendor : "");
  *device_name = g_strdup (model != NULL ? model : "");
}
