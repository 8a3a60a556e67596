#include "pp-options.h"

GHashTable *
pp_options_parse (GVariant *options, const PpOptionSpec *specs, GError **error)
{
  g_autoptr (GHashTable) values = g_hash_table_new_full (
      g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_return_val_if_fail (g_variant_is_of_type (options, G_VARIANT_TYPE_VARDICT),
                        NULL);

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      const PpOptionSpec *spec = specs;

      while (spec->name != NULL && !g_str_equal (spec->name, key))
        spec++;
      if (spec->name == NULL)
        {
          g_autoptr (GString) known = g_string_new (NULL);
          g_autofree char *shown = g_strescape (key, NULL);

          for (spec = specs; spec->name != NULL; spec++)
            g_string_append_printf (known, "%s%s", known->len ? ", " : "",
                                    spec->name);
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       "unknown option \"%.64s\" (known: %s)", shown,
                       known->len ? known->str : "none");
          return NULL;
        }
      if (!g_variant_is_of_type (owned, G_VARIANT_TYPE (spec->type)))
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       "option \"%s\" must be of type %s, not %.64s", key,
                       spec->type, g_variant_get_type_string (owned));
          return NULL;
        }
      /* A key given twice would otherwise mean whichever came last. */
      if (g_hash_table_contains (values, key))
        {
          g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                       "option \"%s\" given twice", key);
          return NULL;
        }
      g_hash_table_insert (values, g_strdup (key), g_steal_pointer (&owned));
    }
  return g_steal_pointer (&values);
}

gboolean
pp_options_get_bool (GHashTable *values, const char *key, gboolean fallback)
{
  GVariant *value = g_hash_table_lookup (values, key);

  return value != NULL ? g_variant_get_boolean (value) : fallback;
}

int
pp_options_get_int (GHashTable *values, const char *key, int fallback)
{
  GVariant *value = g_hash_table_lookup (values, key);

  return value != NULL ? g_variant_get_int32 (value) : fallback;
}

const char *
pp_options_get_string (GHashTable *values, const char *key)
{
  GVariant *value = g_hash_table_lookup (values, key);

  return value != NULL ? g_variant_get_string (value, NULL) : NULL;
}

const char **
pp_options_get_strv (GHashTable *values, const char *key)
{
  GVariant *value = g_hash_table_lookup (values, key);

  return value != NULL ? g_variant_get_strv (value, NULL) : NULL;
}
