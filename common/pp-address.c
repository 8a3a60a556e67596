#include "config.h"

#include "pp-address.h"

#include <gio/gio.h>
#include <string.h>

#define PP_DEVICES_PATH PP_OBJECT_ROOT "/devices"

static gboolean
parse_hex_field (const char *start, gsize len, guint32 max, guint32 *out)
{
  guint32 value = 0;

  if (len == 0)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    {
      int digit = g_ascii_xdigit_value (start[i]);
      if (digit < 0)
        return FALSE;
      value = value * 16 + (guint32) digit;
    }

  if (value > max)
    return FALSE;

  *out = value;
  return TRUE;
}

gboolean
pp_address_parse (const char *text,
                  gboolean allow_short,
                  PpAddress *out,
                  GError **error)
{
  const char *p;
  const char *colon1;
  const char *colon2;
  const char *dot;
  guint32 domain = 0;
  guint32 bus;
  guint32 slot;
  guint32 function;
  gsize len;

  g_return_val_if_fail (text != NULL, FALSE);

  len = strlen (text);
  if (len > PP_ADDRESS_MAX_LEN)
    goto invalid;

  colon1 = strchr (text, ':');
  if (colon1 == NULL)
    goto invalid;
  colon2 = strchr (colon1 + 1, ':');
  dot = strrchr (text, '.');
  if (dot == NULL)
    goto invalid;

  if (colon2 != NULL)
    {
      gsize dlen = (gsize) (colon1 - text);
      if (dlen < 4 || dlen > 5
          || !parse_hex_field (text, dlen, PP_ADDRESS_MAX_DOMAIN, &domain))
        goto invalid;
      p = colon1 + 1;
    }
  else if (allow_short)
    {
      p = text;
    }
  else
    {
      goto invalid;
    }

  /* p points at "BB:SS.F" */
  if (strlen (p) != 7 || p[2] != ':' || p[5] != '.')
    goto invalid;
  if (!parse_hex_field (p, 2, 0xff, &bus)
      || !parse_hex_field (p + 3, 2, 0x1f, &slot)
      || !parse_hex_field (p + 6, 1, 7, &function))
    goto invalid;

  if (out != NULL)
    {
      out->domain = domain;
      out->bus = (guint8) bus;
      out->slot = (guint8) slot;
      out->function = (guint8) function;
    }
  return TRUE;

invalid:
  {
    /* Quote at most a screenful of the input: it may be huge. */
    g_autofree char *head = g_strndup (text, 64);
    g_autofree char *escaped = g_strescape (head, NULL);

    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "invalid PCI address \"%s\"%s: expected DDDD:BB:SS.F%s",
                 escaped, len > 64 ? "... (truncated)" : "",
                 allow_short ? " or BB:SS.F" : "");
  }
  return FALSE;
}

char *
pp_address_to_string (const PpAddress *address)
{
  return g_strdup_printf ("%04x:%02x:%02x.%x", address->domain, address->bus,
                          address->slot, address->function);
}

char *
pp_address_normalize (const char *text, gboolean allow_short, GError **error)
{
  PpAddress address;

  if (!pp_address_parse (text, allow_short, &address, error))
    return NULL;
  return pp_address_to_string (&address);
}

int
pp_address_compare (const PpAddress *a, const PpAddress *b)
{
  if (a->domain != b->domain)
    return a->domain < b->domain ? -1 : 1;
  if (a->bus != b->bus)
    return a->bus < b->bus ? -1 : 1;
  if (a->slot != b->slot)
    return a->slot < b->slot ? -1 : 1;
  if (a->function != b->function)
    return a->function < b->function ? -1 : 1;
  return 0;
}

int
pp_address_str_compare (const char *a, const char *b)
{
  PpAddress pa;
  PpAddress pb;
  gboolean ok_a = pp_address_parse (a, FALSE, &pa, NULL);
  gboolean ok_b = pp_address_parse (b, FALSE, &pb, NULL);

  if (ok_a && ok_b)
    return pp_address_compare (&pa, &pb);
  if (ok_a != ok_b)
    return ok_a ? -1 : 1;
  return g_strcmp0 (a, b);
}

char *
pp_address_to_object_path (const char *address)
{
  g_autofree char *escaped = g_strdup (address);

  g_strdelimit (escaped, ":.", '_');
  return g_strconcat (PP_DEVICES_PATH "/pci_", escaped, NULL);
}

char *
pp_address_from_object_path (const char *path)
{
  g_autofree char *text = NULL;
  char *last;

  if (!g_str_has_prefix (path, PP_DEVICES_PATH "/pci_"))
    return NULL;
  text = g_strdup (path + strlen (PP_DEVICES_PATH "/pci_"));
  /* DDDD_BB_SS_F: the last separator was the '.', the others ':'. */
  last = strrchr (text, '_');
  if (last == NULL)
    return NULL;
  *last = '.';
  g_strdelimit (text, "_", ':');
  return pp_address_normalize (text, FALSE, NULL);
}
