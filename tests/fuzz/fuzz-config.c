/* The cluster config parser (ValidateConfig's YAML), alone: any bytes,
 * never a crash, a hang or a leak; an error names its line:column. */
#include "fuzz.h"
#include "pp-config.h"
#include "pp-error.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) results = NULL;

  pp_fuzz_init ();
  if (size > PP_CONFIG_MAX_SIZE + 16)
    return 0;
  results = pp_config_validate (NULL, (const char *) data, size, NULL, TRUE,
                                &error);
  g_assert ((results == NULL) != (error == NULL));
  if (error != NULL)
    g_assert_true (g_error_matches (error, PP_ERROR, PP_ERROR_CONFIG));
  return 0;
}
