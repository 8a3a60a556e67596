/* /proc/self/mountinfo and /proc/net/route and ipv6_route, as the host
 * guard reads them: the input is mountinfo and, after a NUL, the route
 * table and, after another, the IPv6 one. */
#include "fuzz.h"
#include "pp-protect.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *copy = g_malloc (size + 3);
  const char *parts[3];
  const char *p = copy;
  g_autoptr (GPtrArray) devnums = NULL;
  g_autoptr (GPtrArray) names = NULL;

  pp_fuzz_init ();
  memcpy (copy, data, size);
  memset (copy + size, 0, 3);
  for (guint i = 0; i < 3; i++)
    {
      parts[i] = p;
      p += strlen (p) + (p < copy + size ? 1 : 0);
    }

  devnums = pp_protect_parse_mountinfo (parts[0]);
  for (guint i = 0; i < devnums->len; i++)
    g_assert_nonnull (strchr (devnums->pdata[i], ':'));

  names = pp_protect_parse_default_routes (parts[1], parts[2]);
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = names->pdata[i];

      /* Each becomes part of a /sys/class/net path. */
      g_assert_true (*name != '\0' && strlen (name) <= 15);
      g_assert_null (strchr (name, '/'));
      g_assert_cmpstr (name, !=, "..");
    }
  return 0;
}
