#include "pp-store.h"

#include "pp-address.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#define BINDINGS_FILE "bindings"
#define KEY_DRIVER "driver"
#define KEY_OVERRIDE "driver-override"

struct _PpStore
{
  GObject parent_instance;

  GMutex lock;
  char *path;
  GKeyFile *records; /* group = address */
};

G_DEFINE_TYPE (PpStore, pp_store, G_TYPE_OBJECT)

static void
pp_store_finalize (GObject *object)
{
  PpStore *self = PP_STORE (object);

  g_clear_pointer (&self->records, g_key_file_unref);
  g_free (self->path);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (pp_store_parent_class)->finalize (object);
}

static void
pp_store_class_init (PpStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pp_store_finalize;
}

static void
pp_store_init (PpStore *self)
{
  g_mutex_init (&self->lock);
  self->records = g_key_file_new ();
}

PpStore *
pp_store_new (const char *state_dir, GError **error)
{
  g_autoptr (PpStore) self = g_object_new (PP_TYPE_STORE, NULL);
  g_autoptr (GError) local_error = NULL;
  g_auto (GStrv) groups = NULL;

  if (g_mkdir_with_parents (state_dir, 0755) < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot create the state directory %s: %s", state_dir,
                   g_strerror (err));
      return NULL;
    }
  self->path = g_build_filename (state_dir, BINDINGS_FILE, NULL);

  if (!g_key_file_load_from_file (self->records, self->path,
                                  G_KEY_FILE_KEEP_COMMENTS, &local_error))
    {
      if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "cannot read %s: %s", self->path, local_error->message);
          return NULL;
        }
    }

  groups = g_key_file_get_groups (self->records, NULL);
  for (char **g = groups; *g != NULL; g++)
    {
      if (!pp_address_parse (*g, FALSE, NULL, NULL)
          || !g_key_file_has_key (self->records, *g, KEY_DRIVER, NULL))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "%s: bad record [%s]", self->path, *g);
          return NULL;
        }
    }
  return g_steal_pointer (&self);
}

gboolean
pp_store_lookup (PpStore *self,
                 const char *address,
                 char **driver,
                 char **override)
{
  gboolean found;

  g_mutex_lock (&self->lock);
  found = g_key_file_has_group (self->records, address);
  if (found)
    {
      *driver
          = g_key_file_get_string (self->records, address, KEY_DRIVER, NULL);
      *override
          = g_key_file_get_string (self->records, address, KEY_OVERRIDE, NULL);
      if (*override == NULL)
        *override = g_strdup ("");
    }
  g_mutex_unlock (&self->lock);
  return found;
}

/* Called with the lock held. */
static gboolean
save (PpStore *self, GError **error)
{
  g_autofree char *data = g_key_file_to_data (self->records, NULL, NULL);

  /* CONSISTENT|DURABLE: write to a temporary file, fsync, rename. */
  return g_file_set_contents_full (self->path, data, -1,
                                   G_FILE_SET_CONTENTS_CONSISTENT
                                       | G_FILE_SET_CONTENTS_DURABLE,
                                   0644, error);
}

gboolean
pp_store_put (PpStore *self,
              const char *address,
              const char *driver,
              const char *override,
              GError **error)
{
  gboolean ok;

  g_mutex_lock (&self->lock);
  g_key_file_set_string (self->records, address, KEY_DRIVER, driver);
  g_key_file_set_string (self->records, address, KEY_OVERRIDE, override);
  ok = save (self, error);
  if (!ok)
    g_key_file_remove_group (self->records, address, NULL);
  g_mutex_unlock (&self->lock);
  return ok;
}

gboolean
pp_store_remove (PpStore *self, const char *address, GError **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&self->lock);
  if (g_key_file_remove_group (self->records, address, NULL))
    ok = save (self, error);
  g_mutex_unlock (&self->lock);
  return ok;
}

static int
compare_addresses (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return pp_address_str_compare (*(char *const *) a, *(char *const *) b);
}

char **
pp_store_list (PpStore *self)
{
  char **groups;

  g_mutex_lock (&self->lock);
  groups = g_key_file_get_groups (self->records, NULL);
  g_mutex_unlock (&self->lock);
  g_qsort_with_data (groups, (int) g_strv_length (groups), sizeof (char *),
                     compare_addresses, NULL);
  return groups;
}
