#include "pp-array-writer.h"

#include <string.h>

struct _PpArrayWriter
{
  GVariantType *element_type;
  gsize alignment; /* of an element: 1, 2, 4 or 8 */
  GByteArray *data;
  GArray *ends; /* gsize: where each element ends, from the start */
};

/* The alignment of @type in the serialization format. */
static gsize
type_alignment (const GVariantType *type)
{
  /* Only basic, variant, array, maybe and tuple types reach here; the
   * alignment of a container is the largest of its parts'. */
  if (g_variant_type_is_basic (type))
    {
      switch (*(const char *) type)
        {
          case 'n':
          case 'q':
            return 2;
          case 'i':
          case 'u':
          case 'h':
            return 4;
          case 'x':
          case 't':
          case 'd':
            return 8;
          default:
            return 1;
        }
    }
  if (g_variant_type_is_variant (type))
    return 8;
  if (g_variant_type_is_array (type) || g_variant_type_is_maybe (type))
    return type_alignment (g_variant_type_element (type));
  {
    gsize alignment = 1;

    for (const GVariantType *item = g_variant_type_first (type); item != NULL;
         item = g_variant_type_next (item))
      alignment = MAX (alignment, type_alignment (item));
    return alignment;
  }
}

PpArrayWriter *
pp_array_writer_new (const GVariantType *element_type, gsize reserve)
{
  PpArrayWriter *self = g_new0 (PpArrayWriter, 1);

  self->element_type = g_variant_type_copy (element_type);
  self->alignment = type_alignment (element_type);
  self->data = g_byte_array_sized_new (reserve);
  self->ends = g_array_new (FALSE, FALSE, sizeof (gsize));
  return self;
}

void
pp_array_writer_free (PpArrayWriter *self)
{
  if (self == NULL)
    return;
  g_variant_type_free (self->element_type);
  if (self->data != NULL)
    g_byte_array_unref (self->data);
  g_array_unref (self->ends);
  g_free (self);
}

void
pp_array_writer_add (PpArrayWriter *self, GVariant *element)
{
  g_autoptr (GVariant) value = g_variant_ref_sink (element);
  static const guint8 zeros[8] = { 0 };
  gsize pad
      = (self->alignment - self->data->len % self->alignment) % self->alignment;
  gsize end;

  g_return_if_fail (g_variant_is_of_type (value, self->element_type));

  g_byte_array_append (self->data, zeros, pad);
  /* Serializes the element alone if it is a tree; its bytes are only
   * borrowed until they are copied in. */
  g_byte_array_append (self->data, g_variant_get_data (value),
                       g_variant_get_size (value));
  end = self->data->len;
  g_array_append_val (self->ends, end);
}

static gsize offset_size (gsize body, gsize n);

void
pp_array_writer_add_strings (PpArrayWriter *self,
                             const char *const *strings,
                             guint n)
{
  gsize start = self->data->len;
  gsize ends[16];
  gsize size;
  gsize end;

  g_return_if_fail (n > 0 && n <= G_N_ELEMENTS (ends));
  g_return_if_fail (self->alignment == 1);

  /* A tuple of strings: each string and its NUL, then the end of every
   * string but the last, in reverse order, as framing offsets sized for
   * the whole tuple. */
  for (guint i = 0; i < n; i++)
    {
      g_byte_array_append (self->data, (const guint8 *) strings[i],
                           strlen (strings[i]) + 1);
      ends[i] = self->data->len - start;
    }
  size = offset_size (ends[n - 1], n - 1);
  for (guint i = n - 1; i > 0; i--)
    {
      guint64 le = GUINT64_TO_LE (ends[i - 1]);

      g_byte_array_append (self->data, (const guint8 *) &le, size);
    }
  end = self->data->len;
  g_array_append_val (self->ends, end);
}

/* How many bytes each framing offset takes for @body bytes and @n
 * offsets (the format's rule: the smallest that can address the whole). */
static gsize
offset_size (gsize body, gsize n)
{
  if (n == 0)
    return 0;
  if (body + n <= G_MAXUINT8)
    return 1;
  if (body + 2 * n <= G_MAXUINT16)
    return 2;
  if (body + 4 * n <= G_MAXUINT32)
    return 4;
  return 8;
}

GVariant *
pp_array_writer_end (PpArrayWriter *self, const GVariantType *type)
{
  gsize n = self->ends->len;
  gsize size = offset_size (self->data->len, n);
  GBytes *bytes;
  GVariant *result;

  for (gsize i = 0; i < n; i++)
    {
      guint64 le = GUINT64_TO_LE (g_array_index (self->ends, gsize, i));

      /* Little-endian, truncated to @size bytes. */
      g_byte_array_append (self->data, (const guint8 *) &le, size);
    }
  bytes = g_byte_array_free_to_bytes (self->data);
  self->data = NULL;
  result = g_variant_ref_sink (g_variant_new_from_bytes (type, bytes, TRUE));
  g_bytes_unref (bytes);
  pp_array_writer_free (self);
  return result;
}
