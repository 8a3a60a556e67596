/* Plain-text tables for pcipassctl: columns as wide as their widest cell.
 *
 * A table holds rows of cells and, between them, free-standing lines (such
 * as group headings) that are printed as they are and do not count towards
 * the column widths.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PpTable PpTable;

/* A table of @n_columns columns; @headers (n_columns strings) may be NULL
 * for a table without a heading row. */
PpTable *pp_table_new (guint n_columns, const char *const *headers);

void pp_table_free (PpTable *table);

/* Appends a row of n_columns cells; a NULL or empty cell reads "-". */
void pp_table_add_row (PpTable *table, const char *const *cells);

/* Appends a line printed verbatim, outside the columns. */
void pp_table_add_line (PpTable *table, const char *line);

/* Makes @column the one that gives way when the table is wider than the
 * output: its cells are cut, with an ellipsis, so that the others never
 * are.  Without one, nothing is cut. */
void pp_table_set_flexible (PpTable *table, guint column);

/* The table as text: cell rows start with @indent (may be NULL), columns
 * are two spaces apart, the last column is not padded, every line ends
 * with a newline.  With @max_width > 0, the flexible column and the
 * free-standing lines are cut to fit it. */
char *
pp_table_render_width (PpTable *table, const char *indent, guint max_width);

/* pp_table_render_width() without a limit. */
char *pp_table_render (PpTable *table, const char *indent);

/* The width to fit on standard output: the terminal's, else $COLUMNS,
 * else 0 (no limit: a pipe gets whole lines). */
guint pp_table_output_width (void);

/* Prints the table on stdout, fitted to pp_table_output_width(). */
void pp_table_print (PpTable *table, const char *indent);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpTable, pp_table_free)

G_END_DECLS
