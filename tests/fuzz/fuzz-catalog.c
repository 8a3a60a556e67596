/* The device catalog parser, alone: any bytes, never a crash, a hang or
 * a leak; an error names the file and its line:column. */
#include "fuzz.h"
#include "pp-catalog.h"
#include "pp-error.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpCatalog) catalog = NULL;
  const char *resource;
  const char *type;

  pp_fuzz_init ();
  if (size > PP_CATALOG_MAX_SIZE + 16)
    return 0;
  catalog = pp_catalog_new_from_data ((const char *) data, size, "fuzz.yaml",
                                      &error);
  g_assert ((catalog == NULL) != (error == NULL));
  if (error != NULL)
    {
      g_assert_true (g_error_matches (error, PP_ERROR, PP_ERROR_CONFIG));
      g_assert_true (g_str_has_prefix (error->message, "fuzz.yaml:"));
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      return 0;
    }
  for (const char *const *w = pp_catalog_get_warnings (catalog); *w; w++)
    g_assert_true (g_str_has_prefix (*w, "fuzz.yaml:"));
  pp_catalog_match (catalog, 0x10de, 0x2236, 0x030200, &resource, &type);
  return 0;
}
