/* The state file, read back as a daemon starts: any bytes load into good
 * records or are moved aside, and whatever loads can be saved again. */
#include "fuzz.h"
#include "pp-kernel.h"
#include "pp-store.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;

static void
clear_dir (void)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
    }
}

static void
remove_dir (void)
{
  clear_dir ();
  g_rmdir (dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpStore) store = NULL;
  g_autofree char *path = NULL;
  g_auto (GStrv) list = NULL;
  g_auto (GStrv) owned = NULL;
  g_auto (GStrv) persistent = NULL;

  pp_fuzz_init ();
  if (dir == NULL)
    {
      dir = g_dir_make_tmp ("pp-fuzz-store-XXXXXX", &error);
      g_assert_no_error (error);
      atexit (remove_dir);
    }
  clear_dir ();
  path = g_build_filename (dir, PP_STORE_FILE, NULL);
  g_assert_true (
      g_file_set_contents (path, (const char *) data, (gssize) size, NULL));

  store = pp_store_new (dir, &error);
  /* A newer format is refused, never read. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    return 0;
  g_assert_no_error (error);
  list = pp_store_list (store);
  for (char **a = list; *a != NULL; a++)
    {
      g_autofree char *driver = NULL;
      g_autofree char *override = NULL;
      g_autofree char *pending = pp_store_get_pending (store, *a);

      /* Only what could be written back to sysfs ever loads. */
      g_assert_true (pp_store_lookup (store, *a, &driver, &override));
      g_assert_true (pp_kernel_driver_name_is_valid (driver, TRUE));
      g_assert_true (pp_kernel_driver_name_is_valid (override, TRUE));
      g_assert_true (pending == NULL
                     || g_str_equal (pending, PP_STORE_PENDING_BIND)
                     || g_str_equal (pending, PP_STORE_PENDING_UNBIND));
    }
  owned = pp_store_list_owned (store);
  for (char **a = owned; *a != NULL; a++)
    {
      g_autofree char *owner = pp_store_get_owner (store, *a);

      g_assert_true (owner != NULL && pp_store_owner_is_valid (owner));
    }
  persistent = pp_store_list_persistent (store);
  for (char **a = persistent; *a != NULL; a++)
    g_assert_true (pp_store_get_persistent (store, *a));
  if (list[0] != NULL)
    g_assert_true (pp_store_remove (store, list[0], &error));
  if (owned[0] != NULL)
    g_assert_true (pp_store_set_owner (store, owned[0], NULL, &error));
  g_clear_object (&store);

  /* What was saved reads back without a complaint. */
  store = pp_store_new (dir, &error);
  g_assert_no_error (error);
  return 0;
}
