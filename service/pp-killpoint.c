#include "pp-killpoint.h"

#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

static gint kill_at = -1; /* 0 = never */
static gint hits;

static int
get_kill_at (void)
{
  int value = g_atomic_int_get (&kill_at);

  if (value < 0)
    {
      const char *env = g_getenv ("PCIPASSD_TEST_KILL_AT");
      guint64 n = 0;

      if (env == NULL
          || !g_ascii_string_to_unsigned (env, 10, 1, G_MAXINT, &n, NULL))
        n = 0;
      value = (int) n;
      g_atomic_int_set (&kill_at, value);
    }
  return value;
}

void
pp_killpoint (const char *what)
{
  int at = get_kill_at ();

  if (at == 0 || g_atomic_int_add (&hits, 1) + 1 != at)
    return;
  /* Written with one write(2) so it is out before the process is gone. */
  {
    g_autofree char *line
        = g_strdup_printf ("pcipassd: killed at point %d: %s\n", at, what);
    ssize_t r = write (STDERR_FILENO, line, strlen (line));
    (void) r;
  }
  raise (SIGKILL);
}
