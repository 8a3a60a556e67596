/* How long a Bind of a two-device IOMMU group takes, and how much of it
 * is waiting for the kernel to confirm each step.
 *
 * pcipassd runs as its own process on a private bus against the
 * simulated workstation; its GPU and HDMI audio function share group 2.
 * The benchmark binds and unbinds that group N times (default 50),
 * timing each Bind call as a client sees it, and reads the daemon's own
 * per-sequence accounting ("sequence took X us, Y us of it waiting")
 * from its debug log.
 *
 *   meson test -C build --benchmark bench-bind
 *   build/bench/bench-bind [ROUNDS]      (under the umockdev preload)
 */
#include "config.h"

#include "pp-fake-kernel.h"
#include "bench-stats.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define GPU_PATH "/io/github/pcipassd/devices/pci_0000_01_00_0"

/* File descriptors @pid holds: a leak would show as growth. */
static guint
count_fds (GSubprocess *daemon)
{
  g_autofree char *fd_dir
      = g_strdup_printf ("/proc/%s/fd", g_subprocess_get_identifier (daemon));
  g_autoptr (GDir) dir = g_dir_open (fd_dir, 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* The daemon's resident set now, in KiB (VmRSS). */
static guint64
rss_kib (GSubprocess *daemon)
{
  return bench_status_kib (g_subprocess_get_identifier (daemon), "VmRSS:");
}

static void
call (PpTestBus *bus, const char *method)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      bus->connection, "io.github.pcipassd", GPU_PATH,
      "io.github.pcipassd1.Device", method, g_variant_new ("(a{sv})", NULL),
      G_VARIANT_TYPE ("(a(sss))"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

  if (reply == NULL)
    g_error ("%s failed: %s", method, error->message);
  if (g_variant_n_children (g_variant_get_child_value (reply, 0)) != 2)
    g_error ("%s did not move two devices", method);
}

int
main (int argc, char **argv)
{
  g_autoptr (UMockdevTestbed) testbed = pp_testbed_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *fixture = pp_testbed_fixture_path ("workstation");
  g_autofree char *state_dir = NULL;
  g_autofree char *state_arg = NULL;
  g_autofree char *log_path = NULL;
  g_autofree char *log = NULL;
  g_autoptr (PpFakeKernel) kernel = NULL;
  g_autoptr (PpTestBus) bus = NULL;
  g_autoptr (GArray) bind_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GRegex) sequence_re = NULL;
  g_autoptr (GMatchInfo) match = NULL;
  const char *const allowed[]
      = { "io.github.pcipassd.bind", "io.github.pcipassd.unbind", NULL };
  guint rounds = argc > 1 ? (guint) atoi (argv[1]) : 50;
  guint64 busy_us = 0;
  guint64 wait_us = 0;
  guint sequences = 0;
  guint daemon_fds = 0;
  guint warm_fds = 0;
  guint64 warm_rss = 0;
  guint64 end_rss = 0;
  guint warm_rounds = MIN (rounds, 100);
  double total = 0;
  int log_fd;

  if (rounds == 0)
    g_error ("usage: bench-bind [ROUNDS]");

  pp_testbed_load (testbed, fixture, &error);
  g_assert_no_error (error);
  kernel = pp_fake_kernel_new (testbed);
  state_dir = pp_test_make_state_dir ();
  state_arg = g_strdup_printf ("--state-dir=%s", state_dir);

  bus = pp_test_bus_new (TRUE);
  pp_test_bus_set_allowed (bus, allowed);

  /* The daemon's debug log carries its own timing of each sequence. */
  log_fd = g_file_open_tmp ("pp-bench-XXXXXX.log", &log_path, &error);
  g_assert_no_error (error);
  close (log_fd);
  {
    const char *const args[] = { state_arg, "--verbose", NULL };
    g_autofree char *stderr_path = g_strdup (log_path);

    /* The daemon inherits our stdout and stderr (GLib prints debug
     * messages on stdout): point both at the log while it starts. */
    int saved_out = dup (STDOUT_FILENO);
    int saved_err = dup (STDERR_FILENO);
    int fd = open (stderr_path, O_WRONLY | O_TRUNC);

    dup2 (fd, STDOUT_FILENO);
    dup2 (fd, STDERR_FILENO);
    close (fd);
    pp_test_bus_start_daemon (bus, args);
    dup2 (saved_out, STDOUT_FILENO);
    dup2 (saved_err, STDERR_FILENO);
    close (saved_out);
    close (saved_err);
  }

  for (guint i = 0; i < rounds; i++)
    {
      gint64 start = g_get_monotonic_time ();
      double ms;

      call (bus, "Bind");
      ms = (double) (g_get_monotonic_time () - start) / 1000.0;
      g_array_append_val (bind_ms, ms);
      total += ms;
      call (bus, "Unbind");
      /* Growth is measured from a warmed-up daemon: its pools and caches
       * are full by then. */
      if (i + 1 == warm_rounds)
        {
          warm_fds = count_fds (bus->daemon);
          warm_rss = rss_kib (bus->daemon);
        }
    }
  daemon_fds = count_fds (bus->daemon);
  end_rss = rss_kib (bus->daemon);
  pp_test_bus_stop_daemon (bus);

  g_file_get_contents (log_path, &log, NULL, &error);
  g_assert_no_error (error);
  sequence_re = g_regex_new (
      "(0000:01:00\\.[01]): sequence took (\\d+) us, (\\d+) us of it waiting",
      0, 0, NULL);
  /* Sequences alternate bind (2), restore (2): count only the binds. */
  g_regex_match (sequence_re, log, 0, &match);
  for (guint n = 0; g_match_info_matches (match); n++)
    {
      g_autofree char *busy = g_match_info_fetch (match, 2);
      g_autofree char *wait = g_match_info_fetch (match, 3);

      if (n % 4 < 2)
        {
          busy_us += g_ascii_strtoull (busy, NULL, 10);
          wait_us += g_ascii_strtoull (wait, NULL, 10);
          sequences++;
        }
      g_match_info_next (match, NULL);
    }
  if (sequences != 2 * rounds)
    g_error ("expected %u bind sequences in the daemon log, found %u",
             2 * rounds, sequences);

  bench_sort (bind_ms);
  g_print ("Bind of a 2-device group, %u rounds on the simulated kernel:\n",
           rounds);
  g_print ("  client-side: mean %.2f ms, median %.2f ms, p90 %.2f ms, "
           "max %.2f ms\n",
           total / rounds, bench_percentile (bind_ms, 0.5),
           bench_percentile (bind_ms, 0.9), bench_percentile (bind_ms, 1.0));
  g_print ("  in the daemon's kernel sequences: %.2f ms per Bind, of which "
           "%.2f ms (%.0f%%) waiting for confirmations\n",
           (double) busy_us / rounds / 1000.0,
           (double) wait_us / rounds / 1000.0,
           busy_us ? 100.0 * (double) wait_us / (double) busy_us : 0.0);

  g_print ("  daemon file descriptors after %u binds and unbinds: %u "
           "(%u after %u)\n",
           rounds, daemon_fds, warm_fds, warm_rounds);
  g_print ("  daemon VmRSS after %u: %" G_GUINT64_FORMAT
           " KiB, after %u: %" G_GUINT64_FORMAT " KiB (%+" G_GINT64_FORMAT
           " KiB)\n",
           warm_rounds, warm_rss, rounds, end_rss,
           (gint64) end_rss - (gint64) warm_rss);

  g_unlink (log_path);
  {
    g_autofree char *bindings = g_build_filename (state_dir, "bindings", NULL);
    g_unlink (bindings);
  }
  g_rmdir (state_dir);
  g_clear_pointer (&kernel, pp_fake_kernel_free);
  g_clear_pointer (&bus, pp_test_bus_free);
  return 0;
}
