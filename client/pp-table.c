/* Plain-text tables for pcipassctl. */
#include "pp-table.h"

typedef struct
{
  gboolean is_line; /* a free-standing line: cells[0] is its text */
  GStrv cells;
} PpTableRow;

struct _PpTable
{
  guint n_columns;
  GArray *rows; /* (element-type PpTableRow) */
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

char *
pp_table_render (PpTable *table, const char *indent)
{
  g_autofree gsize *widths = g_new0 (gsize, table->n_columns);
  g_autoptr (GString) out = g_string_new (NULL);

  /* Widths in characters, not bytes: names may hold non-ASCII text. */
  for (guint r = 0; r < table->rows->len; r++)
    {
      PpTableRow *row = &g_array_index (table->rows, PpTableRow, r);

      if (row->is_line)
        continue;
      for (guint c = 0; c < table->n_columns; c++)
        widths[c] = MAX (widths[c], (gsize) g_utf8_strlen (row->cells[c], -1));
    }

  for (guint r = 0; r < table->rows->len; r++)
    {
      PpTableRow *row = &g_array_index (table->rows, PpTableRow, r);

      if (row->is_line)
        {
          g_string_append_printf (out, "%s\n", row->cells[0]);
          continue;
        }

      g_string_append (out, indent != NULL ? indent : "");
      for (guint c = 0; c < table->n_columns; c++)
        {
          const char *cell = row->cells[c];

          g_string_append (out, cell);
          if (c + 1 == table->n_columns)
            break;
          for (gsize pad = (gsize) g_utf8_strlen (cell, -1);
               pad < widths[c] + 2; pad++)
            g_string_append_c (out, ' ');
        }
      g_string_append_c (out, '\n');
    }

  return g_string_free (g_steal_pointer (&out), FALSE);
}

void
pp_table_print (PpTable *table, const char *indent)
{
  g_autofree char *text = pp_table_render (table, indent);

  g_print ("%s", text);
}
