/* The state file, read back as a daemon starts: any bytes load into good
 * records or are moved aside, and whatever loads can be saved again. */
#include "fuzz.h"
#include "pp-kernel.h"
#include "pp-store.h"

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
  if (list[0] != NULL)
    g_assert_true (pp_store_remove (store, list[0], &error));
  g_clear_object (&store);

  /* What was saved reads back without a complaint. */
  store = pp_store_new (dir, &error);
  g_assert_no_error (error);
  return 0;
}
