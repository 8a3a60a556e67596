#include "pp-catalog.h"

#include "pp-device-type.h"
#include "pp-error.h"
#include "pp-yaml.h"

#include <string.h>

typedef struct
{
  gint64 key; /* vendor << 32 | device ID, or | 1 << 31 | class code */
  char *resource_name;
  const char *type; /* static, from pp_device_types */
  guint line;
  guint column;
} Entry;

struct _PpCatalog
{
  GObject parent_instance;

  GHashTable *entries; /* &Entry.key -> Entry */
  GPtrArray *warnings; /* NULL-terminated */
};

G_DEFINE_TYPE (PpCatalog, pp_catalog, G_TYPE_OBJECT)

#define CLASS_KEY_BIT ((gint64) 1 << 31)

static void
entry_free (Entry *entry)
{
  g_free (entry->resource_name);
  g_free (entry);
}

static void
pp_catalog_finalize (GObject *object)
{
  PpCatalog *self = PP_CATALOG (object);

  g_hash_table_unref (self->entries);
  g_ptr_array_unref (self->warnings);
  G_OBJECT_CLASS (pp_catalog_parent_class)->finalize (object);
}

static void
pp_catalog_class_init (PpCatalogClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pp_catalog_finalize;
}

static void
pp_catalog_init (PpCatalog *self)
{
  self->entries = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL,
                                         (GDestroyNotify) entry_free);
  self->warnings = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (self->warnings, NULL);
}

PpCatalog *
pp_catalog_new_empty (void)
{
  return g_object_new (PP_TYPE_CATALOG, NULL);
}

/* ---- reading ---- */

typedef struct
{
  PpCatalog *catalog;
  GHashTable *vendors; /* vendor id -> its "id" value node */
} Reader;

static gboolean
check_keys (PpYamlNode *map,
            const char *what,
            const char *const *allowed,
            GError **error)
{
  for (guint i = 0; i < map->items->len; i += 2)
    {
      PpYamlNode *key = g_ptr_array_index (map->items, i);

      if (!g_strv_contains (allowed, key->value))
        {
          g_autofree char *shown = pp_yaml_quote (key->value);
          g_autofree char *list = g_strjoinv (", ", (char **) allowed);
          return pp_yaml_error (error, key->line, key->column,
                                "unknown key %s in %s (known: %s)", shown, what,
                                list);
        }
    }
  return TRUE;
}

/* The scalar value of required @key in @map. */
static PpYamlNode *
get_scalar (PpYamlNode *map, const char *key, const char *what, GError **error)
{
  PpYamlNode *value = pp_yaml_map_get (map, key, NULL);

  if (value == NULL || pp_yaml_is_null (value))
    {
      pp_yaml_error (error, map->line, map->column, "%s has no %s", what, key);
      return NULL;
    }
  if (value->kind != PP_YAML_SCALAR)
    {
      pp_yaml_error (error, value->line, value->column,
                     "%s of %s must be a scalar, not %s", key, what,
                     pp_yaml_kind_name (value));
      return NULL;
    }
  return value;
}

/* Hex digits after an optional "0x"; their count in @n_digits. */
static gboolean
parse_hex (const char *text, guint *out, guint *n_digits)
{
  guint64 value;

  if (g_ascii_strncasecmp (text, "0x", 2) == 0)
    text += 2;
  *n_digits = (guint) strlen (text);
  if (*n_digits == 0 || *n_digits > 8)
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  if (!g_ascii_string_to_unsigned (text, 16, 0, G_MAXUINT32, &value, NULL))
    return FALSE;
  *out = (guint) value;
  return TRUE;
}

/* A DNS label, as the domain part of a Kubernetes resource name wants. */
static gboolean
is_vendor_name (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > 63 || name[0] == '-' || name[len - 1] == '-')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-'))
      return FALSE;
  return TRUE;
}

/* A Kubernetes qualified name's name part. */
static gboolean
is_device_name (const char *name)
{
  gsize len = strlen (name);

  if (len == 0 || len > 63 || !g_ascii_isalnum (name[0])
      || !g_ascii_isalnum (name[len - 1]))
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!(g_ascii_isalnum (*p) || *p == '-' || *p == '_' || *p == '.'))
      return FALSE;
  return TRUE;
}

static const char *
valid_type (const char *type)
{
  for (guint i = 0; pp_device_types[i] != NULL; i++)
    if (g_str_equal (pp_device_types[i], type))
      return pp_device_types[i];
  return NULL;
}

static gboolean
read_device (Reader *r,
             PpYamlNode *node,
             guint vendor_id,
             const char *vendor_name,
             guint index,
             const char *filename,
             GError **error)
{
  static const char *const keys[] = { "id", "name", "type", NULL };
  g_autofree char *what
      = g_strdup_printf ("%s devices[%u]", vendor_name, index);
  PpYamlNode *id;
  PpYamlNode *name;
  PpYamlNode *type;
  g_autoptr (GString) resource = NULL;
  guint value;
  guint digits;
  Entry *entry;
  Entry *first;

  if (node->kind != PP_YAML_MAPPING)
    return pp_yaml_error (error, node->line, node->column,
                          "%s must be a mapping with id, name and type, not %s",
                          what, pp_yaml_kind_name (node));
  if (!check_keys (node, what, keys, error)
      || (id = get_scalar (node, "id", what, error)) == NULL
      || (name = get_scalar (node, "name", what, error)) == NULL
      || (type = get_scalar (node, "type", what, error)) == NULL)
    return FALSE;

  if (!parse_hex (id->value, &value, &digits) || (digits != 4 && digits != 6))
    {
      g_autofree char *shown = pp_yaml_quote (id->value);
      return pp_yaml_error (error, id->line, id->column,
                            "id %s of %s is not 4 hex digits (a device ID) "
                            "or 6 (a class code)",
                            shown, what);
    }
  if (!is_device_name (name->value))
    {
      g_autofree char *shown = pp_yaml_quote (name->value);
      return pp_yaml_error (error, name->line, name->column,
                            "name %s of %s is not 1 to 63 letters, digits, "
                            "'.', '-' or '_', starting and ending with a "
                            "letter or digit",
                            shown, what);
    }
  if (valid_type (type->value) == NULL)
    {
      g_autofree char *shown = pp_yaml_quote (type->value);
      g_autofree char *list = g_strjoinv (", ", (char **) pp_device_types);
      return pp_yaml_error (error, type->line, type->column,
                            "type %s of %s is not one of %s", shown, what,
                            list);
    }

  entry = g_new0 (Entry, 1);
  entry->key = (gint64) vendor_id << 32 | value;
  if (digits == 6)
    entry->key |= CLASS_KEY_BIT;
  entry->type = valid_type (type->value);
  entry->line = id->line;
  entry->column = id->column;
  resource = g_string_new (entry->type);
  g_string_append_printf (resource, ".%s/%s", vendor_name, name->value);
  entry->resource_name = g_string_free (g_steal_pointer (&resource), FALSE);

  first = g_hash_table_lookup (r->catalog->entries, &entry->key);
  if (first != NULL)
    {
      g_autofree char *shown = pp_yaml_quote (id->value);
      entry_free (entry);
      return pp_yaml_error (error, id->line, id->column,
                            "%s %s of vendor %s is listed twice (first at "
                            "%u:%u)",
                            digits == 6 ? "class code" : "device id", shown,
                            vendor_name, first->line, first->column);
    }
  if (g_hash_table_size (r->catalog->entries) >= PP_CATALOG_MAX_ENTRIES)
    {
      entry_free (entry);
      return pp_yaml_error (error, node->line, node->column,
                            "more than %u device entries",
                            PP_CATALOG_MAX_ENTRIES);
    }
  g_hash_table_insert (r->catalog->entries, &entry->key, entry);

  if (digits == 6)
    g_ptr_array_insert (
        r->catalog->warnings, (int) r->catalog->warnings->len - 1,
        g_strdup_printf ("%s:%u:%u: id %s of %s/%s has 6 hex digits: it is "
                         "matched against the class code (0x%06x), not the "
                         "device ID",
                         filename, id->line, id->column, id->value, vendor_name,
                         name->value, value));
  return TRUE;
}

static gboolean
read_vendor (Reader *r,
             PpYamlNode *node,
             guint index,
             const char *filename,
             GError **error)
{
  static const char *const keys[] = { "id", "name", "devices", NULL };
  g_autofree char *what = g_strdup_printf ("vendors[%u]", index);
  PpYamlNode *id;
  PpYamlNode *name;
  PpYamlNode *devices;
  PpYamlNode *first;
  guint value;
  guint digits;

  if (node->kind != PP_YAML_MAPPING)
    return pp_yaml_error (error, node->line, node->column,
                          "%s must be a mapping with id, name and devices, "
                          "not %s",
                          what, pp_yaml_kind_name (node));
  if (!check_keys (node, what, keys, error)
      || (id = get_scalar (node, "id", what, error)) == NULL
      || (name = get_scalar (node, "name", what, error)) == NULL)
    return FALSE;

  if (!parse_hex (id->value, &value, &digits) || digits != 4)
    {
      g_autofree char *shown = pp_yaml_quote (id->value);
      return pp_yaml_error (error, id->line, id->column,
                            "id %s of %s is not a vendor ID (4 hex digits, "
                            "\"0x\" optional)",
                            shown, what);
    }
  first = g_hash_table_lookup (r->vendors, GUINT_TO_POINTER (value));
  if (first != NULL)
    {
      g_autofree char *shown = pp_yaml_quote (id->value);
      return pp_yaml_error (error, id->line, id->column,
                            "vendor id %s is listed twice (first at %u:%u)",
                            shown, first->line, first->column);
    }
  g_hash_table_insert (r->vendors, GUINT_TO_POINTER (value), id);
  if (!is_vendor_name (name->value))
    {
      g_autofree char *shown = pp_yaml_quote (name->value);
      return pp_yaml_error (error, name->line, name->column,
                            "name %s of %s is not 1 to 63 lower-case letters, "
                            "digits or '-', starting and ending with a letter "
                            "or digit",
                            shown, what);
    }

  devices = pp_yaml_map_get (node, "devices", NULL);
  if (pp_yaml_is_null (devices))
    return TRUE;
  if (devices->kind != PP_YAML_SEQUENCE)
    return pp_yaml_error (error, devices->line, devices->column,
                          "devices of %s must be a sequence, not %s",
                          name->value, pp_yaml_kind_name (devices));
  for (guint i = 0; i < devices->items->len; i++)
    if (!read_device (r, g_ptr_array_index (devices->items, i), value,
                      name->value, i, filename, error))
      return FALSE;
  return TRUE;
}

static gboolean
read_catalog (Reader *r, PpYamlNode *root, const char *filename, GError **error)
{
  static const char *const keys[] = { "vendors", NULL };
  PpYamlNode *vendors;

  if (pp_yaml_is_null (root))
    return TRUE;
  if (root->kind != PP_YAML_MAPPING)
    return pp_yaml_error (error, root->line, root->column,
                          "a catalog is a mapping with vendors, not %s",
                          pp_yaml_kind_name (root));
  if (!check_keys (root, "the catalog", keys, error))
    return FALSE;
  vendors = pp_yaml_map_get (root, "vendors", NULL);
  if (pp_yaml_is_null (vendors))
    return TRUE;
  if (vendors->kind != PP_YAML_SEQUENCE)
    return pp_yaml_error (error, vendors->line, vendors->column,
                          "vendors must be a sequence, not %s",
                          pp_yaml_kind_name (vendors));
  for (guint i = 0; i < vendors->items->len; i++)
    if (!read_vendor (r, g_ptr_array_index (vendors->items, i), i, filename,
                      error))
      return FALSE;
  return TRUE;
}

PpCatalog *
pp_catalog_new_from_data (const char *text,
                          gsize length,
                          const char *filename,
                          GError **error)
{
  g_autoptr (PpCatalog) self = pp_catalog_new_empty ();
  g_autoptr (PpYamlDoc) doc = NULL;
  g_autoptr (GHashTable) vendors = g_hash_table_new (NULL, NULL);
  Reader r = { self, vendors };

  g_return_val_if_fail (text != NULL || length == 0, NULL);
  g_return_val_if_fail (filename != NULL, NULL);

  doc = pp_yaml_parse (text != NULL ? text : "", length, PP_CATALOG_MAX_SIZE,
                       "a device catalog", error);
  if (doc == NULL
      || !read_catalog (&r, pp_yaml_doc_root (doc), filename, error))
    {
      g_prefix_error (error, "%s:", filename);
      return NULL;
    }
  return g_steal_pointer (&self);
}

PpCatalog *
pp_catalog_new_from_file (const char *path, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *text = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &text, &length, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return pp_catalog_new_empty ();
      g_set_error (error, PP_ERROR, PP_ERROR_CONFIG, "%s", local->message);
      return NULL;
    }
  return pp_catalog_new_from_data (text, length, path, error);
}

const char *const *
pp_catalog_get_warnings (PpCatalog *self)
{
  return (const char *const *) self->warnings->pdata;
}

guint
pp_catalog_get_n_entries (PpCatalog *self)
{
  return g_hash_table_size (self->entries);
}

gboolean
pp_catalog_match (PpCatalog *self,
                  guint vendor_id,
                  guint device_id,
                  guint32 class_code,
                  const char **resource_name,
                  const char **type)
{
  gint64 key = (gint64) vendor_id << 32 | device_id;
  Entry *entry = g_hash_table_lookup (self->entries, &key);

  if (entry == NULL)
    {
      key = (gint64) vendor_id << 32 | CLASS_KEY_BIT | class_code;
      entry = g_hash_table_lookup (self->entries, &key);
    }
  *resource_name = entry != NULL ? entry->resource_name : NULL;
  *type = entry != NULL ? entry->type : NULL;
  return entry != NULL;
}
