/* PpArrayWriter writes exactly the bytes GLib's own serializer writes, at
 * every framing-offset size and element alignment. */
#include "pp-array-writer.h"

#include <string.h>

typedef GVariant *(*MakeElement) (guint i);

static GVariant *
make_string (guint i)
{
  g_autofree char *s = g_strnfill (i % 7, 'a' + i % 26);

  return g_variant_new_string (s);
}

/* 8-aligned elements after elements of odd size: padding matters. */
static GVariant *
make_variant (guint i)
{
  if (i % 2)
    return g_variant_new_variant (g_variant_new_uint64 (i));
  return g_variant_new_variant (g_variant_new_string ("x"));
}

/* The shape of a GetManagedObjects entry. */
static GVariant *
make_managed (guint i)
{
  g_autofree char *path = g_strdup_printf ("/o/d%u", i);
  GVariantBuilder props;
  GVariantBuilder ifaces;

  g_variant_builder_init (&props, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&props, "{sv}", "N", g_variant_new_int32 (i));
  if (i % 3)
    g_variant_builder_add (&props, "{sv}", "Name",
                           g_variant_new_string (&"abc"[i % 4]));
  g_variant_builder_init (&ifaces, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_variant_builder_add (&ifaces, "{sa{sv}}", "i.D", &props);
  return g_variant_new_dict_entry (g_variant_new_object_path (path),
                                   g_variant_builder_end (&ifaces));
}

/* Validation results; also written with pp_array_writer_add_strings. */
#define TEN_WORDS "one two three four five six seven eight nine ten "
/* The last is long enough for 2-byte framing offsets inside a tuple. */
static const char *const words[]
    = { "", "a", "host", "0000:01:00.0",
        TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS TEN_WORDS };

static GVariant *
make_result (guint i)
{
  return g_variant_new ("(sssss)", words[i % 5], words[(i + 1) % 5],
                        words[(i * 7) % 5], words[(i / 3) % 5],
                        words[(i / 5) % 5]);
}

typedef struct
{
  const char *element_type;
  MakeElement make;
} Case;

static void
compare (const Case *c, guint n, gboolean tuple)
{
  const GVariantType *element = G_VARIANT_TYPE (c->element_type);
  g_autoptr (GVariantType) array_type = g_variant_type_new_array (element);
  g_autoptr (GVariantType) type = tuple ? g_variant_type_new_tuple (
                                      (const GVariantType *[]){ array_type }, 1)
                                        : g_variant_type_copy (array_type);
  g_autoptr (PpArrayWriter) writer = pp_array_writer_new (element, 0);
  g_autoptr (GVariant) ours = NULL;
  g_autoptr (GVariant) theirs = NULL;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, array_type);
  for (guint i = 0; i < n; i++)
    {
      g_variant_builder_add_value (&builder, c->make (i));
      if (c->make == make_result && i % 2)
        {
          const char *strings[] = {
            words[i % 5],       words[(i + 1) % 5], words[(i * 7) % 5],
            words[(i / 3) % 5], words[(i / 5) % 5],
          };

          pp_array_writer_add_strings (writer, strings, 5);
        }
      else
        pp_array_writer_add (writer, c->make (i));
    }
  theirs = g_variant_builder_end (&builder);
  if (tuple)
    theirs = g_variant_new_tuple (&theirs, 1);
  theirs = g_variant_ref_sink (theirs);
  ours = pp_array_writer_end (g_steal_pointer (&writer), type);

  g_assert_true (g_variant_is_of_type (ours, type));
  g_assert_cmpuint (g_variant_get_size (ours), ==, g_variant_get_size (theirs));
  g_assert_cmpmem (g_variant_get_data (ours), g_variant_get_size (ours),
                   g_variant_get_data (theirs), g_variant_get_size (theirs));
  g_assert_true (g_variant_equal (ours, theirs));
  /* Read back element by element, as a client would. */
  {
    g_autoptr (GVariant) array
        = tuple ? g_variant_get_child_value (ours, 0) : g_variant_ref (ours);

    g_assert_cmpuint (g_variant_n_children (array), ==, n);
    if (n > 0)
      {
        g_autoptr (GVariant) last = g_variant_get_child_value (array, n - 1);
        g_autoptr (GVariant) expected = g_variant_ref_sink (c->make (n - 1));

        g_assert_true (g_variant_equal (last, expected));
      }
  }
}

static void
test_matches_glib (gconstpointer data)
{
  const Case *c = data;
  /* 0 and 1 element, then sizes whose framing offsets take 1, 2 and 4
   * bytes, with the boundaries between them crossed. */
  const guint sizes[] = { 0, 1, 2, 20, 60, 100, 2000, 12000, 70000 };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      compare (c, sizes[i], FALSE);
      compare (c, sizes[i], TRUE);
    }
}

int
main (int argc, char **argv)
{
  static const Case cases[] = {
    { "s", make_string },
    { "v", make_variant },
    { "{oa{sa{sv}}}", make_managed },
    { "(sssss)", make_result },
  };

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/array-writer/matches-glib/%s",
                                               cases[i].element_type);

      g_test_add_data_func (name, &cases[i], test_matches_glib);
    }
  return g_test_run ();
}
