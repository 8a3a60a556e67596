#include "pp-yaml.h"

#include "pp-error.h"

#include <string.h>
#include <yaml.h>

static void
node_free (PpYamlNode *node)
{
  g_free (node->value);
  if (node->items != NULL)
    g_ptr_array_unref (node->items);
  g_free (node);
}

/* A parsed document.  Aliases share the anchored node instead of copying
 * it, so "billion laughs" input stays as small as its text. */
struct _PpYamlDoc
{
  GPtrArray *pool; /* owns every PpYamlNode */
  PpYamlNode *root;
  GHashTable *anchors; /* name -> PpYamlNode (borrowed) */
  guint n_nodes;       /* nodes and aliases seen, against the limit */
  const char *text;
  gsize length;
  const char *what; /* "a cluster config": for messages */
};

/* A collection being built. */
typedef struct
{
  PpYamlNode *node;
  char *anchor;
  GHashTable *keys; /* mappings: key text -> key PpYamlNode, for duplicates */
} Frame;

static void
frame_clear (gpointer data)
{
  Frame *frame = data;

  g_free (frame->anchor);
  if (frame->keys != NULL)
    g_hash_table_unref (frame->keys);
}

/* Sets a Config error "LINE:COLUMN: message".  Messages quote the input,
 * and only valid UTF-8 may travel in a D-Bus error. */
gboolean
pp_yaml_error (
    GError **error, guint line, guint column, const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autofree char *valid = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  valid = g_utf8_make_valid (message, -1);
  g_set_error (error, PP_ERROR, PP_ERROR_CONFIG, "%u:%u: %s", line, column,
               valid);
  return FALSE;
}

/* Line and column (1-based, the column in characters) of byte @offset. */
static void
offset_position (const PpYamlDoc *doc, gsize offset, guint *line, guint *column)
{
  *line = 1;
  *column = 1;
  for (gsize i = 0; i < offset && i < doc->length; i++)
    {
      guchar c = (guchar) doc->text[i];

      if (c == '\n')
        {
          (*line)++;
          *column = 1;
        }
      else if ((c & 0xc0) != 0x80)
        {
          (*column)++;
        }
    }
}

/* A short, printable rendering of a scalar for messages. */
char *
pp_yaml_quote (const char *value)
{
  g_autofree char *valid = g_utf8_make_valid (value, -1);
  g_autofree char *cut = NULL;

  if (g_utf8_strlen (valid, -1) > 40)
    {
      g_autofree char *head = g_utf8_substring (valid, 0, 40);
      cut = g_strconcat (head, "...", NULL);
    }
  else
    {
      cut = g_strdup (valid);
    }
  for (char *p = cut; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = '?';
  return g_strdup_printf ("\"%s\"", cut);
}

static gboolean
parser_error (const PpYamlDoc *doc, yaml_parser_t *parser, GError **error)
{
  guint line;
  guint column;

  switch (parser->error)
    {
      case YAML_MEMORY_ERROR:
        return pp_yaml_error (error, 1, 1, "out of memory parsing YAML");
      case YAML_READER_ERROR:
        /* The reader reports a byte offset, not a mark. */
        offset_position (doc, parser->problem_offset, &line, &column);
        if (parser->problem_value >= 0)
          return pp_yaml_error (error, line, column, "%s (byte 0x%02x)",
                                parser->problem, parser->problem_value);
        return pp_yaml_error (error, line, column, "%s", parser->problem);
      case YAML_NO_ERROR:
      case YAML_SCANNER_ERROR:
      case YAML_PARSER_ERROR:
      case YAML_COMPOSER_ERROR:
      case YAML_WRITER_ERROR:
      case YAML_EMITTER_ERROR:
      default:
        break;
    }

  line = (guint) parser->problem_mark.line + 1;
  column = (guint) parser->problem_mark.column + 1;
  if (parser->context != NULL)
    return pp_yaml_error (error, line, column, "%s (%s that starts at %u:%u)",
                          parser->problem ? parser->problem : "syntax error",
                          parser->context,
                          (guint) parser->context_mark.line + 1,
                          (guint) parser->context_mark.column + 1);
  return pp_yaml_error (error, line, column, "%s",
                        parser->problem ? parser->problem : "syntax error");
}

static PpYamlNode *
doc_new_node (PpYamlDoc *doc, PpYamlKind kind, const yaml_mark_t *mark)
{
  PpYamlNode *node = g_new0 (PpYamlNode, 1);

  node->kind = kind;
  node->line = (guint) mark->line + 1;
  node->column = (guint) mark->column + 1;
  if (kind != PP_YAML_SCALAR)
    node->items = g_ptr_array_new ();
  g_ptr_array_add (doc->pool, node);
  return node;
}

/* Counts one more node against the limit. */
static gboolean
doc_count (PpYamlDoc *doc, const yaml_mark_t *mark, GError **error)
{
  if (++doc->n_nodes > PP_YAML_MAX_NODES)
    return pp_yaml_error (
        error, (guint) mark->line + 1, (guint) mark->column + 1,
        "more than %u YAML nodes: not %s", PP_YAML_MAX_NODES, doc->what);
  return TRUE;
}

/* Adds @node to the collection being built, or makes it the root. */
static gboolean
doc_attach (PpYamlDoc *doc, GArray *stack, PpYamlNode *node, GError **error)
{
  Frame *frame;
  PpYamlNode *parent;

  if (stack->len == 0)
    {
      doc->root = node;
      return TRUE;
    }

  frame = &g_array_index (stack, Frame, stack->len - 1);
  parent = frame->node;
  if (parent->kind == PP_YAML_MAPPING && parent->items->len % 2 == 0)
    {
      PpYamlNode *first;

      if (node->kind != PP_YAML_SCALAR)
        return pp_yaml_error (error, node->line, node->column,
                              "mapping keys must be scalars");
      first = g_hash_table_lookup (frame->keys, node->value);
      if (first != NULL)
        {
          g_autofree char *key = pp_yaml_quote (node->value);
          return pp_yaml_error (error, node->line, node->column,
                                "key %s appears twice in this mapping (first "
                                "at %u:%u)",
                                key, first->line, first->column);
        }
      g_hash_table_insert (frame->keys, node->value, node);
    }
  g_ptr_array_add (parent->items, node);
  return TRUE;
}

static gboolean
doc_handle_event (PpYamlDoc *doc,
                  GArray *stack,
                  yaml_event_t *event,
                  guint *documents,
                  GError **error)
{
  const yaml_mark_t *mark = &event->start_mark;
  PpYamlNode *node;

  switch (event->type)
    {
      case YAML_DOCUMENT_START_EVENT:
        if (++*documents > 1)
          return pp_yaml_error (error, (guint) mark->line + 1,
                                (guint) mark->column + 1,
                                "a second YAML document starts here; %s "
                                "is one document",
                                doc->what);
        return TRUE;

      case YAML_ALIAS_EVENT:
        if (!doc_count (doc, mark, error))
          return FALSE;
        /* Collections are registered when complete, so an alias inside
         * its own anchor finds nothing: no cycles in the tree. */
        node = g_hash_table_lookup (doc->anchors,
                                    (const char *) event->data.alias.anchor);
        if (node == NULL)
          {
            g_autofree char *name
                = pp_yaml_quote ((const char *) event->data.alias.anchor);
            return pp_yaml_error (error, (guint) mark->line + 1,
                                  (guint) mark->column + 1,
                                  "alias *%s does not name a complete anchor "
                                  "above it",
                                  name);
          }
        return doc_attach (doc, stack, node, error);

      case YAML_SCALAR_EVENT:
        if (!doc_count (doc, mark, error))
          return FALSE;
        /* "\0" in a double-quoted scalar: the C string would end early
         * and say something the file does not. */
        if (memchr (event->data.scalar.value, '\0', event->data.scalar.length)
            != NULL)
          return pp_yaml_error (error, (guint) mark->line + 1,
                                (guint) mark->column + 1,
                                "a NUL character in a scalar");
        node = doc_new_node (doc, PP_YAML_SCALAR, mark);
        node->value = g_strndup ((const char *) event->data.scalar.value,
                                 event->data.scalar.length);
        node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                      && event->data.scalar.plain_implicit;
        if (event->data.scalar.anchor != NULL)
          g_hash_table_replace (
              doc->anchors, g_strdup ((const char *) event->data.scalar.anchor),
              node);
        return doc_attach (doc, stack, node, error);

      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT:
        {
          gboolean mapping = event->type == YAML_MAPPING_START_EVENT;
          const yaml_char_t *anchor = mapping
                                          ? event->data.mapping_start.anchor
                                          : event->data.sequence_start.anchor;
          Frame frame = { NULL, NULL, NULL };

          if (!doc_count (doc, mark, error))
            return FALSE;
          if (stack->len >= PP_YAML_MAX_DEPTH)
            return pp_yaml_error (
                error, (guint) mark->line + 1, (guint) mark->column + 1,
                "nested more than %u levels deep", PP_YAML_MAX_DEPTH);
          node = doc_new_node (
              doc, mapping ? PP_YAML_MAPPING : PP_YAML_SEQUENCE, mark);
          if (!doc_attach (doc, stack, node, error))
            return FALSE;
          frame.node = node;
          frame.anchor = g_strdup ((const char *) anchor);
          if (mapping)
            frame.keys = g_hash_table_new (g_str_hash, g_str_equal);
          g_array_append_val (stack, frame);
          return TRUE;
        }

      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        {
          Frame *frame;

          if (stack->len == 0)
            return TRUE;
          frame = &g_array_index (stack, Frame, stack->len - 1);
          if (frame->anchor != NULL)
            g_hash_table_replace (
                doc->anchors, g_steal_pointer (&frame->anchor), frame->node);
          g_array_set_size (stack, stack->len - 1);
          return TRUE;
        }

      case YAML_NO_EVENT:
      case YAML_STREAM_START_EVENT:
      case YAML_STREAM_END_EVENT:
      case YAML_DOCUMENT_END_EVENT:
      default:
        return TRUE;
    }
}

static gboolean
doc_parse (PpYamlDoc *doc, GError **error)
{
  g_autoptr (GArray) stack = g_array_new (FALSE, TRUE, sizeof (Frame));
  yaml_parser_t parser;
  guint documents = 0;
  gboolean ok = TRUE;
  gboolean done = FALSE;

  g_array_set_clear_func (stack, frame_clear);
  if (!yaml_parser_initialize (&parser))
    return pp_yaml_error (error, 1, 1, "cannot initialize the YAML parser");
  yaml_parser_set_input_string (&parser, (const unsigned char *) doc->text,
                                doc->length);
  /* D-Bus strings are UTF-8: no guessing from a byte order mark. */
  yaml_parser_set_encoding (&parser, YAML_UTF8_ENCODING);

  while (ok && !done)
    {
      yaml_event_t event;

      if (!yaml_parser_parse (&parser, &event))
        {
          ok = parser_error (doc, &parser, error);
          break;
        }
      done = event.type == YAML_STREAM_END_EVENT;
      ok = doc_handle_event (doc, stack, &event, &documents, error);
      yaml_event_delete (&event);
    }

  yaml_parser_delete (&parser);
  return ok;
}

/* ---- reading the tree ---- */

/* The value of @key in @map, and the key node for positions. */
PpYamlNode *
pp_yaml_map_get (PpYamlNode *map, const char *key, PpYamlNode **key_node)
{
  if (key_node != NULL)
    *key_node = NULL;
  if (map == NULL || map->kind != PP_YAML_MAPPING)
    return NULL;
  for (guint i = 0; i + 1 < map->items->len; i += 2)
    {
      PpYamlNode *k = g_ptr_array_index (map->items, i);

      if (g_str_equal (k->value, key))
        {
          if (key_node != NULL)
            *key_node = k;
          return g_ptr_array_index (map->items, i + 1);
        }
    }
  return NULL;
}

gboolean
pp_yaml_is_null (const PpYamlNode *node)
{
  static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };

  return node == NULL
         || (node->kind == PP_YAML_SCALAR && node->plain
             && g_strv_contains (nulls, node->value));
}

/* YAML booleans, the 1.1 spellings included: ai-how reads the file with
 * PyYAML, which takes "yes" and "on" for true. */
gboolean
pp_yaml_bool (const PpYamlNode *node, gboolean *out)
{
  static const char *const yes[]
      = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", NULL };
  static const char *const no[] = { "false", "False", "FALSE", "no",  "No",
                                    "NO",    "off",   "Off",   "OFF", NULL };

  if (node->kind != PP_YAML_SCALAR || !node->plain)
    return FALSE;
  if (g_strv_contains (yes, node->value))
    *out = TRUE;
  else if (g_strv_contains (no, node->value))
    *out = FALSE;
  else
    return FALSE;
  return TRUE;
}

/* A plain decimal integer (YAML core schema, without sign for groups). */
gboolean
pp_yaml_uint (const PpYamlNode *node, guint64 *out)
{
  if (node->kind != PP_YAML_SCALAR || !node->plain || node->value[0] == '\0')
    return FALSE;
  for (const char *p = node->value; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return g_ascii_string_to_unsigned (node->value, 10, 0, G_MAXINT, out, NULL);
}

const char *
pp_yaml_kind_name (const PpYamlNode *node)
{
  if (node == NULL)
    return "nothing";
  switch (node->kind)
    {
      case PP_YAML_SEQUENCE:
        return "a sequence";
      case PP_YAML_MAPPING:
        return "a mapping";
      case PP_YAML_SCALAR:
      default:
        return pp_yaml_is_null (node) ? "null" : "a scalar";
    }
}

PpYamlDoc *
pp_yaml_parse (const char *text,
               gsize length,
               gsize max_size,
               const char *what,
               GError **error)
{
  g_autoptr (PpYamlDoc) doc = g_new0 (PpYamlDoc, 1);

  doc->text = text;
  doc->length = length;
  doc->what = what;
  doc->pool = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  doc->anchors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (length > max_size)
    {
      guint line;
      guint column;

      /* Where the limit falls, so that the position means something. */
      offset_position (doc, max_size, &line, &column);
      pp_yaml_error (error, line, column,
                     "%s of %" G_GSIZE_FORMAT " bytes: more than the limit "
                     "of %" G_GSIZE_FORMAT " bytes",
                     what, length, max_size);
      return NULL;
    }
  if (!doc_parse (doc, error))
    return NULL;
  /* Messages should not point into a text the caller may free. */
  doc->text = NULL;
  doc->length = 0;
  return g_steal_pointer (&doc);
}

PpYamlNode *
pp_yaml_doc_root (PpYamlDoc *doc)
{
  return doc->root;
}

void
pp_yaml_doc_free (PpYamlDoc *doc)
{
  g_clear_pointer (&doc->pool, g_ptr_array_unref);
  g_clear_pointer (&doc->anchors, g_hash_table_unref);
  g_free (doc);
}
