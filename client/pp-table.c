/* Plain-text tables for pcipassctl. */
#include "pp-table.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NO_FLEXIBLE G_MAXUINT
#define MIN_FLEXIBLE 8

typedef struct
{
  gboolean is_line; /* a free-standing line: cells[0] is its text */
  GStrv cells;
} PpTableRow;

struct _PpTable
{
  guint n_columns;
  guint flexible; /* NO_FLEXIBLE: none */
  GArray *rows;   /* (element-type PpTableRow) */
};

static void
row_clear (gpointer data)
{
  PpTableRow *row = data;

  g_strfreev (row->cells);
}

/* Terminal-safe copy of a cell: control characters become '?', so that a
 * name from the hardware database cannot move the cursor or break a row. */
static char *
sanitize (const char *text)
{
  char *copy;

  if (text == NULL || *text == '\0')
    return g_strdup ("-");

  copy = g_strdup (text);
  for (char *p = copy; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      *p = '?';
  return copy;
}

PpTable *
pp_table_new (guint n_columns, const char *const *headers)
{
  PpTable *table;

  g_return_val_if_fail (n_columns > 0, NULL);

  table = g_new0 (PpTable, 1);
  table->n_columns = n_columns;
  table->flexible = NO_FLEXIBLE;
  table->rows = g_array_new (FALSE, TRUE, sizeof (PpTableRow));
  g_array_set_clear_func (table->rows, row_clear);
  if (headers != NULL)
    pp_table_add_row (table, headers);
  return table;
}

void
pp_table_free (PpTable *table)
{
  if (table == NULL)
    return;
  g_array_unref (table->rows);
  g_free (table);
}

void
pp_table_add_row (PpTable *table, const char *const *cells)
{
  PpTableRow row = { FALSE, g_new0 (char *, table->n_columns + 1) };

  for (guint i = 0; i < table->n_columns; i++)
    row.cells[i] = sanitize (cells[i]);
  g_array_append_val (table->rows, row);
}

void
pp_table_add_line (PpTable *table, const char *line)
{
  PpTableRow row = { TRUE, g_new0 (char *, 2) };

  row.cells[0] = sanitize (line);
  g_array_append_val (table->rows, row);
}

void
pp_table_set_flexible (PpTable *table, guint column)
{
  g_return_if_fail (column < table->n_columns);
  table->flexible = column;
}

/* @text, cut to @width characters with an ellipsis if longer. */
static void
append_cut (GString *out, const char *text, gsize width)
{
  gsize len = (gsize) g_utf8_strlen (text, -1);

  if (width == 0 || len <= width)
    {
      g_string_append (out, text);
      return;
    }
  g_string_append_len (
      out, text, g_utf8_offset_to_pointer (text, (glong) width - 1) - text);
  g_string_append (out, "…");
}

/* @line, wrapped at spaces to @width characters, each continuation
 * indented two more than the line; a word longer than that is cut. */
static void
append_wrapped (GString *out, const char *line, gsize width)
{
  gsize lead = strspn (line, " ");
  g_auto (GStrv) words = g_strsplit (line + lead, " ", -1);
  gsize col = 0;

  if (width == 0 || (gsize) g_utf8_strlen (line, -1) <= width)
    {
      g_string_append_printf (out, "%s\n", line);
      return;
    }
  for (char **w = words; *w != NULL; w++)
    {
      gsize len = (gsize) g_utf8_strlen (*w, -1);

      if (**w == '\0')
        continue;
      if (col > 0 && col + 1 + len > width)
        {
          g_string_append_c (out, '\n');
          col = 0;
        }
      if (col == 0)
        {
          gsize indent = lead + (w == words ? 0 : 2);

          for (gsize i = 0; i < indent; i++)
            g_string_append_c (out, ' ');
          col = indent;
        }
      else
        {
          g_string_append_c (out, ' ');
          col++;
        }
      append_cut (out, *w, width > col ? width - col : 1);
      col += MIN (len, width > col ? width - col : 1);
    }
  g_string_append_c (out, '\n');
}

guint
pp_table_output_width (void)
{
  struct winsize ws;
  const char *columns = g_getenv ("COLUMNS");
  guint64 n = 0;

  if (isatty (STDOUT_FILENO) && ioctl (STDOUT_FILENO, TIOCGWINSZ, &ws) == 0
      && ws.ws_col > 0)
    return ws.ws_col;
  if (columns != NULL
      && g_ascii_string_to_unsigned (columns, 10, 1, 10000, &n, NULL))
    return (guint) n;
  return 0;
}

char *
pp_table_render (PpTable *table, const char *indent)
{
  return pp_table_render_width (table, indent, 0);
}

char *
pp_table_render_width (PpTable *table, const char *indent, guint max_width)
{
  g_autofree gsize *widths = g_new0 (gsize, table->n_columns);
  g_autoptr (GString) out = g_string_new (NULL);
  gsize flexible_width = 0; /* 0: not cut */

  /* Widths in characters, not bytes: names may hold non-ASCII text. */
  for (guint r = 0; r < table->rows->len; r++)
    {
      PpTableRow *row = &g_array_index (table->rows, PpTableRow, r);

      if (row->is_line)
        continue;
      for (guint c = 0; c < table->n_columns; c++)
        widths[c] = MAX (widths[c], (gsize) g_utf8_strlen (row->cells[c], -1));
    }
  if (max_width > 0 && table->flexible != NO_FLEXIBLE)
    {
      gsize total = indent != NULL ? (gsize) g_utf8_strlen (indent, -1) : 0;

      for (guint c = 0; c < table->n_columns; c++)
        total += widths[c] + (c + 1 < table->n_columns ? 2 : 0);
      if (total > max_width)
        {
          gsize over = total - max_width;
          gsize w = widths[table->flexible];

          flexible_width = w > over + MIN_FLEXIBLE ? w - over : MIN_FLEXIBLE;
          widths[table->flexible] = MIN (w, flexible_width);
        }
    }

  for (guint r = 0; r < table->rows->len; r++)
    {
      PpTableRow *row = &g_array_index (table->rows, PpTableRow, r);

      if (row->is_line)
        {
          append_wrapped (out, row->cells[0], max_width);
          continue;
        }

      g_string_append (out, indent != NULL ? indent : "");
      for (guint c = 0; c < table->n_columns; c++)
        {
          const char *cell = row->cells[c];
          gsize shown = (gsize) g_utf8_strlen (cell, -1);

          if (c == table->flexible && flexible_width > 0)
            {
              append_cut (out, cell, flexible_width);
              shown = MIN (shown, flexible_width);
            }
          else
            {
              g_string_append (out, cell);
            }
          if (c + 1 == table->n_columns)
            break;
          for (gsize pad = shown; pad < widths[c] + 2; pad++)
            g_string_append_c (out, ' ');
        }
      g_string_append_c (out, '\n');
    }

  return g_string_free (g_steal_pointer (&out), FALSE);
}

void
pp_table_print (PpTable *table, const char *indent)
{
  g_autofree char *text
      = pp_table_render_width (table, indent, pp_table_output_width ());

  g_print ("%s", text);
}
