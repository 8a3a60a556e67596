/* PpArrayWriter: a GVariant array of variable-size elements, written one
 * element at a time into a single buffer.
 *
 * GLib serializes only a whole tree of GVariants, so a large array of
 * serialized elements exists twice while it is built: once as its
 * elements, once as the result.  The writer appends each element's bytes
 * as it comes (in the GVariant serialization format: elements at their
 * alignment, zero padding, framing offsets at the end), so that the
 * array is the only copy.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PpArrayWriter PpArrayWriter;

/* An array of @element_type, which must not be of fixed size; @reserve
 * is a guess of its final size in bytes (0: none). */
PpArrayWriter *pp_array_writer_new (const GVariantType *element_type,
                                    gsize reserve);

/* Appends @element (of the element type; a floating reference is sunk). */
void pp_array_writer_add (PpArrayWriter *writer, GVariant *element);

/* Appends a tuple of @n (at most 16) strings, valid UTF-8, to an array
 * whose element type is that tuple ("(sssss)" for 5), without building
 * it as a GVariant first. */
void pp_array_writer_add_strings (PpArrayWriter *writer,
                                  const char *const *strings,
                                  guint n);

/* The array, as a GVariant of @type: the array type itself, or a tuple
 * whose only member is the array (they serialize alike).  Frees @writer. */
GVariant *pp_array_writer_end (PpArrayWriter *writer, const GVariantType *type);

void pp_array_writer_free (PpArrayWriter *writer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpArrayWriter, pp_array_writer_free)

G_END_DECLS
