#include "pp-killpoint.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Dies as SIGKILL leaves a process, but frozen for a moment first.
 * Under umockdev, uevents reach the daemon on unix datagram sockets, and
 * umockdev's sender aborts the whole test when a socket it has connected
 * to is gone by the time it sends: what a death right after a sysfs
 * write does while the simulated kernel answers the write.  Stopped, the
 * process changes nothing more, yet its sockets take what is in flight;
 * a child kills it a moment later, and later senders find no listener,
 * which umockdev takes in its stride. */
static void
die_frozen (void)
{
  pid_t self = getpid ();
  pid_t child = fork ();

  if (child == 0)
    {
      /* Only async-signal-safe calls in the child of a threaded process. */
      const struct timespec pause = { 0, 200 * 1000 * 1000 };

      nanosleep (&pause, NULL);
      kill (self, SIGKILL);
      _exit (0);
    }
  if (child > 0)
    raise (SIGSTOP);
  raise (SIGKILL);
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
  die_frozen ();
}
