/* PCI addresses as callers and sysfs give them: parsing, the canonical
 * form, and the object path made from it. */
#include "fuzz.h"
#include "pp-address.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = pp_fuzz_string (data, size);

  pp_fuzz_init ();
  for (int allow_short = 0; allow_short <= 1; allow_short++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *canonical
          = pp_address_normalize (text, allow_short, &error);
      PpAddress parsed;

      if (canonical == NULL)
        {
          g_assert_nonnull (error);
          /* The message quotes the input, but never all of a huge one. */
          g_assert_cmpuint (strlen (error->message), <, 400);
          continue;
        }
      g_assert_cmpuint (strlen (canonical), <=, PP_ADDRESS_MAX_LEN);
      g_assert_true (pp_address_parse (canonical, FALSE, &parsed, NULL));
      {
        g_autofree char *again = pp_address_to_string (&parsed);
        g_autofree char *path = pp_address_to_object_path (canonical);

        g_assert_cmpstr (again, ==, canonical);
        g_assert_true (g_variant_is_object_path (path));
      }
    }
  return 0;
}
