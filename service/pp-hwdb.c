#include "pp-hwdb.h"

#include <libudev.h>

typedef struct
{
  const char *vendor; /* interned */
  const char *model;  /* interned */
} Names;

struct _PpHwdb
{
  struct udev *udev;
  struct udev_hwdb *hwdb; /* NULL when released or absent */
  gboolean available;
  /* vendor << 16 | device -> Names: a host of thousands of functions has
   * a handful of distinct IDs, and a database lookup is hundreds of
   * fnmatch() calls. */
  GHashTable *cache;
};

PpHwdb *
pp_hwdb_new (void)
{
  PpHwdb *self = g_new0 (PpHwdb, 1);

  self->cache
      = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);

  self->udev = udev_new ();
  if (self->udev != NULL)
    self->hwdb = udev_hwdb_new (self->udev);
  self->available = self->hwdb != NULL;
  if (!self->available)
    g_message ("no udev hardware database: device names will be empty");
  return self;
}

void
pp_hwdb_free (PpHwdb *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->cache, g_hash_table_unref);
  g_clear_pointer (&self->hwdb, udev_hwdb_unref);
  g_clear_pointer (&self->udev, udev_unref);
  g_free (self);
}

gboolean
pp_hwdb_is_available (PpHwdb *self)
{
  return self->available;
}

void
pp_hwdb_release (PpHwdb *self)
{
  g_clear_pointer (&self->hwdb, udev_hwdb_unref);
}

void
pp_hwdb_lookup (PpHwdb *self,
                guint16 vendor_id,
                guint16 device_id,
                const char **vendor_name,
                const char **device_name)
{
  gpointer key = GUINT_TO_POINTER ((guint) vendor_id << 16 | device_id);
  Names *names = g_hash_table_lookup (self->cache, key);

  if (names == NULL)
    {
      const char *vendor = NULL;
      const char *model = NULL;

      if (self->hwdb == NULL && self->available)
        self->hwdb = udev_hwdb_new (self->udev);
      if (self->hwdb != NULL)
        {
          struct udev_list_entry *entry;
          /* A modalias prefix, as the kernel spells it: the database's
           * keys are upper-case hex patterns ("pci:v000010DEd00002684*"). */
          g_autofree char *modalias
              = g_strdup_printf ("pci:v%08Xd%08X", vendor_id, device_id);

          udev_list_entry_foreach (entry, udev_hwdb_get_properties_list_entry (
                                              self->hwdb, modalias, 0))
          {
            const char *name = udev_list_entry_get_name (entry);

            if (g_str_equal (name, "ID_VENDOR_FROM_DATABASE"))
              vendor = udev_list_entry_get_value (entry);
            else if (g_str_equal (name, "ID_MODEL_FROM_DATABASE"))
              model = udev_list_entry_get_value (entry);
          }
        }
      names = g_new (Names, 1);
      names->vendor = g_intern_string (vendor != NULL ? vendor : "");
      names->model = g_intern_string (model != NULL ? model : "");
      g_hash_table_insert (self->cache, key, names);
    }
  *vendor_name = names->vendor;
  *device_name = names->model;
}
