/* The a{sv} options argument every method takes (DESIGN.md, "Methods").
 *
 * Read strictly: an unknown key or a value of the wrong type is
 * org.freedesktop.DBus.Error.InvalidArgs naming it, never ignored, so a
 * caller's typo cannot silently change what a call does.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* An option a method accepts: its name and GVariant type string. */
typedef struct
{
  const char *name;
  const char *type;
} PpOptionSpec;

/* Reads @options (type a{sv}) against @specs (ended by a { NULL, NULL }
 * entry) into a table of name -> GVariant. */
GHashTable *
pp_options_parse (GVariant *options, const PpOptionSpec *specs, GError **error);

/* The value of a "b" option, or @fallback when it was not given. */
gboolean
pp_options_get_bool (GHashTable *values, const char *key, gboolean fallback);

/* The value of an "i" option, or @fallback when it was not given. */
int pp_options_get_int (GHashTable *values, const char *key, int fallback);

/* The value of an "s" option, or NULL when it was not given. */
const char *pp_options_get_string (GHashTable *values, const char *key);

/* The value of an "as" option as a NULL-terminated array to g_free()
 * whose strings belong to @values, or NULL when it was not given. */
const char **pp_options_get_strv (GHashTable *values, const char *key);

G_END_DECLS
