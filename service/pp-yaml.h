/* PpYaml: a YAML document read with libyaml into a small tree whose
 * nodes remember where they start (line:column, 1-based, the column in
 * characters), so that every message about a file can point into it.
 *
 * One document per text; mapping keys are scalars and appear once; an
 * alias shares its anchor's node instead of copying it, and there are
 * limits on size, depth and node count, so no input can exhaust the
 * daemon.  Errors are PP_ERROR_CONFIG with a "LINE:COLUMN: " prefix.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PP_YAML_MAX_DEPTH 64     /* nested collections */
#define PP_YAML_MAX_NODES 100000 /* scalars, collections, aliases */

typedef enum
{
  PP_YAML_SCALAR,
  PP_YAML_SEQUENCE,
  PP_YAML_MAPPING,
} PpYamlKind;

typedef struct _PpYamlNode PpYamlNode;
struct _PpYamlNode
{
  PpYamlKind kind;
  guint line;
  guint column;
  char *value; /* scalars */
  /* A plain scalar without a tag: YAML gives it a type (null, bool,
   * int) by its spelling; quoted ones are always strings. */
  gboolean plain;
  GPtrArray *items; /* sequences: the items; mappings: key, value, ... */
};

typedef struct _PpYamlDoc PpYamlDoc;

/* Parses @length bytes of @text, at most @max_size.  @what names the
 * document in messages ("a cluster config"). */
PpYamlDoc *pp_yaml_parse (const char *text,
                          gsize length,
                          gsize max_size,
                          const char *what,
                          GError **error);

/* NULL for an empty document. */
PpYamlNode *pp_yaml_doc_root (PpYamlDoc *doc);
void pp_yaml_doc_free (PpYamlDoc *doc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpYamlDoc, pp_yaml_doc_free)

/* The value of @key in @map (NULL if @map is not a mapping or lacks the
 * key), and the key's node for positions. */
PpYamlNode *
pp_yaml_map_get (PpYamlNode *map, const char *key, PpYamlNode **key_node);

/* Absent, or a plain null ("", "~", "null"). */
gboolean pp_yaml_is_null (const PpYamlNode *node);

/* YAML booleans, the 1.1 spellings ("yes", "on") included. */
gboolean pp_yaml_bool (const PpYamlNode *node, gboolean *out);

/* A plain decimal integer without sign, at most G_MAXINT. */
gboolean pp_yaml_uint (const PpYamlNode *node, guint64 *out);

/* "a mapping", "a sequence", "a scalar", "null" or "nothing". */
const char *pp_yaml_kind_name (const PpYamlNode *node);

/* A short, printable, quoted rendering of @value for messages. */
char *pp_yaml_quote (const char *value);

/* Sets a PP_ERROR_CONFIG "LINE:COLUMN: message" (made valid UTF-8, so it
 * can travel in a D-Bus error) and returns FALSE. */
gboolean pp_yaml_error (GError **error,
                        guint line,
                        guint column,
                        const char *format,
                        ...) G_GNUC_PRINTF (4, 5);

G_END_DECLS
