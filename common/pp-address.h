/* PCI addresses and the object paths derived from them.
 *
 * Shared by the daemon and the client so that both agree on what a valid
 * address is and where its object lives on the bus.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* VMD domains start at 0x10000, so a domain may have five hex digits. */
#define PP_ADDRESS_MAX_DOMAIN 0xfffffu
/* Longest valid text form: "DDDDD:BB:SS.F". */
#define PP_ADDRESS_MAX_LEN 13

typedef struct
{
  guint32 domain;
  guint8 bus;
  guint8 slot;
  guint8 function;
} PpAddress;

/* Parses "DDDD:BB:SS.F" (4 or 5 domain digits) or, when @allow_short is
 * TRUE, also lspci's "BB:SS.F" meaning domain 0.  Case-insensitive.  On
 * failure sets a G_IO_ERROR_INVALID_ARGUMENT error that quotes the input. */
gboolean pp_address_parse (const char *text,
                           gboolean allow_short,
                           PpAddress *out,
                           GError **error);

/* The kernel's canonical spelling, "%04x:%02x:%02x.%x". */
char *pp_address_to_string (const PpAddress *address);

/* Returns the canonical form of @text, or NULL with @error set. */
char *
pp_address_normalize (const char *text, gboolean allow_short, GError **error);

/* Orders addresses by domain, bus, slot, function. */
int pp_address_compare (const PpAddress *a, const PpAddress *b);

/* GCompareFunc over canonical address strings; unparsable ones sort last
 * by plain string order. */
int pp_address_str_compare (const char *a, const char *b);

/* "/io/github/pcipassd/devices/pci_0000_01_00_0" for "0000:01:00.0".
 * @address must be canonical. */
char *pp_address_to_object_path (const char *address);

/* The canonical address a device object path spells, or NULL when @path
 * is not one. */
char *pp_address_from_object_path (const char *path);

G_END_DECLS
