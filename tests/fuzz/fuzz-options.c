/* A method's a{sv} options as they come off the bus: any serialized
 * GVariant (GDBus checks the type signature, not the contents' sanity),
 * read against option lists of every type the daemon uses. */
#include "fuzz.h"
#include "pp-options.h"

static const PpOptionSpec specs[] = {
  { "group", "b" }, { "force", "b" },     { "dry_run", "b" },
  { "node", "s" },  { "numa_node", "i" }, { NULL, NULL },
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GBytes) bytes = g_bytes_new (data, size);
  g_autoptr (GVariant) options = g_variant_ref_sink (
      g_variant_new_from_bytes (G_VARIANT_TYPE_VARDICT, bytes, FALSE));
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GError) error = NULL;

  pp_fuzz_init ();
  values = pp_options_parse (options, specs, &error);
  g_assert ((values == NULL) != (error == NULL));
  if (values != NULL)
    {
      pp_options_get_bool (values, "group", TRUE);
      pp_options_get_bool (values, "dry_run", FALSE);
      pp_options_get_string (values, "node");
    }
  return 0;
}
