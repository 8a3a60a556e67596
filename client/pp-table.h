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

/* The table as text: cell rows start with @indent (may be NULL), columns
 * are two spaces apart, the last column is not padded, every line ends
 * with a newline. */
char *pp_table_render (PpTable *table, const char *indent);

/* Prints pp_table_render() on stdout. */
void pp_table_print (PpTable *table, const char *indent);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpTable, pp_table_free)

G_END_DECLS
