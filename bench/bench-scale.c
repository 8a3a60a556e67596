/* Every figure of bench/run for one simulated host (issue 9).
 *
 *   bench-scale HOST.topo [HOTPLUG.topo] [--runs N] [--idle S]
 *               [--processes N]            (under libumockdev-preload)
 *
 * Builds HOST as a plain sysfs tree, starts a private bus with the
 * polkitd mock, and measures, each timing over --runs runs:
 *   lspci       `lspci -nnk` on the same tree
 *   start       pcipassd's spawn to its bus name owned, every object
 *               exported (it exports before it asks for the name)
 *   list, groups, validate
 *               `pcipassctl list|groups|validate --json`, wall time and
 *               the client's peak RSS
 *   gmo         GetManagedObjects from this process: latency, reply size
 *   hwm         the daemon's VmHWM after start and after 10
 *               GetManagedObjects
 *   event       a "change" uevent to the client's PropertiesChanged
 *   hotplug     HOTPLUG's functions added at once: the loader's time (the
 *               simulated kernel) and the time until the last
 *               InterfacesAdded, with the signals counted
 *   idle        the daemon's syscalls (strace -c) and context switches
 *               over --idle seconds
 *   bind        Bind and Unbind of the first GPU's two-function group on
 *               the simulated kernel
 * and prints one JSON object.  --processes N runs N idle processes
 * meanwhile, for the daemon's /proc walk to meet.
 *
 * bench/run calls it per size; it is not a test and asserts nothing
 * beyond the daemon answering.
 */
#include "config.h"

#include "bench-stats.h"
#include "pp-address.h"
#include "pp-fake-kernel.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define WAIT_SECONDS 600
/* gen-host: the first GPU is the boot VGA, the second one is free. */
#define GPU_ADDRESS "0000:02:00.0"
#define GPU_PATH "/io/github/pcipassd/devices/pci_0000_02_00_0"

static double
now_ms (void)
{
  return (double) g_get_monotonic_time () / 1000.0;
}

static gboolean
on_timeout (gpointer data)
{
  g_error ("bench-scale: timed out waiting for %s", (const char *) data);
  return G_SOURCE_REMOVE;
}

/* Iterates the main context until *@counter reaches @target. */
static void
wait_count (const guint *counter, guint target, const char *what)
{
  guint id = g_timeout_add_seconds (WAIT_SECONDS, on_timeout, (gpointer) what);

  while (*counter < target)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (id);
}

/* Iterates the main context until *@counter reaches @target. */
/* Runs @argv to its end with stdout to /dev/null; returns the wall time
 * in ms and sets @maxrss_kib to the child's peak RSS.  An exit status
 * above @max_status is fatal ("validate" exits 1 when a check fails).
 *
 * The peak comes from GNU time: a child spawned from this process would
 * report this process's peak instead (exec records the old address
 * space's high-water mark, and posix_spawn shares it until then). */
static double
run_child (const char *const *argv, long *maxrss_kib, int max_status)
{
  g_autofree char *rss_file
      = g_build_filename (g_get_tmp_dir (), "bench-scale-rss.txt", NULL);
  g_autoptr (GPtrArray) full = g_ptr_array_new ();
  posix_spawn_file_actions_t actions;
  double start;
  double took;
  pid_t pid;
  int status;
  int err;

  g_ptr_array_add (full, "time");
  g_ptr_array_add (full, "-f");
  g_ptr_array_add (full, "%M");
  g_ptr_array_add (full, "-o");
  g_ptr_array_add (full, rss_file);
  for (const char *const *a = argv; *a != NULL; a++)
    g_ptr_array_add (full, (gpointer) *a);
  g_ptr_array_add (full, NULL);

  posix_spawn_file_actions_init (&actions);
  posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
  start = now_ms ();
  err = posix_spawnp (&pid, "time", &actions, NULL, (char *const *) full->pdata,
                      environ);
  posix_spawn_file_actions_destroy (&actions);
  if (err != 0)
    g_error ("cannot run GNU time (apt-get install time): %s",
             g_strerror (err));
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      g_error ("waitpid: %s", g_strerror (errno));
  took = now_ms () - start;
  if (!WIFEXITED (status) || WEXITSTATUS (status) > max_status)
    g_error ("%s %s failed with status %d", argv[0], argv[1], status);
  if (maxrss_kib != NULL)
    {
      g_autofree char *text = NULL;
      const char *last;

      if (!g_file_get_contents (rss_file, &text, NULL, NULL))
        g_error ("GNU time wrote no %s", rss_file);
      /* "Command exited with non-zero status 1" may come first. */
      g_strchomp (text);
      last = strrchr (text, '\n');
      *maxrss_kib = atol (last != NULL ? last + 1 : text);
    }
  g_unlink (rss_file);
  return took;
}

/* {"median", "min", "max"} of @samples, in ms. */
static void
add_timing (JsonBuilder *b, const char *name, GArray *samples)
{
  bench_sort (samples);
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "median");
  json_builder_add_double_value (b, bench_percentile (samples, 0.5));
  json_builder_set_member_name (b, "min");
  json_builder_add_double_value (b, g_array_index (samples, double, 0));
  json_builder_set_member_name (b, "max");
  json_builder_add_double_value (
      b, g_array_index (samples, double, samples->len - 1));
  if (samples->len >= 20)
    {
      json_builder_set_member_name (b, "p99");
      json_builder_add_double_value (b, bench_percentile (samples, 0.99));
    }
  json_builder_end_object (b);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_double (JsonBuilder *b, const char *name, double value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, value);
}

static guint64
status_kib (GPid pid, const char *field)
{
  g_autofree char *id = g_strdup_printf ("%d", pid);
  guint64 kib = bench_status_kib (id, field);

  if (kib == 0)
    g_error ("cannot read %s of process %d", field, pid);
  return kib;
}

/* Voluntary and involuntary context switches of all of @pid's threads. */
static guint64
context_switches (GPid pid)
{
  g_autofree char *task_dir = g_strdup_printf ("/proc/%d/task", pid);
  g_autoptr (GDir) dir = g_dir_open (task_dir, 0, NULL);
  const char *tid;
  guint64 total = 0;

  while (dir != NULL && (tid = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (task_dir, tid, "status", NULL);
      g_autofree char *status = NULL;
      const char *line;

      if (!g_file_get_contents (path, &status, NULL, NULL))
        continue;
      if ((line = strstr (status, "voluntary_ctxt_switches:")) != NULL)
        total += g_ascii_strtoull (strchr (line, ':') + 1, NULL, 10);
      if ((line = strstr (status, "nonvoluntary_ctxt_switches:")) != NULL)
        total += g_ascii_strtoull (strchr (line, ':') + 1, NULL, 10);
    }
  return total;
}

typedef struct
{
  guint owned; /* times the name appeared */
} NameWait;

static void
on_name_appeared (GDBusConnection *c,
                  const char *name,
                  const char *owner,
                  gpointer data)
{
  ((NameWait *) data)->owned++;
}

static GSubprocess *
start_daemon (PpTestBus *bus, const char *state_dir, double *took_ms)
{
  g_autofree char *state_arg = g_strdup_printf ("--state-dir=%s", state_dir);
  const char *const argv[]
      = { pp_test_pcipassd_path (), state_arg, "--step-timeout=30", NULL };
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      g_getenv ("BENCH_VERBOSE") != NULL ? G_SUBPROCESS_FLAGS_NONE
                                         : G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_autoptr (GError) error = NULL;
  NameWait wait = { 0 };
  GSubprocess *daemon;
  guint watch;
  double start;

  watch = g_bus_watch_name_on_connection (bus->connection, "io.github.pcipassd",
                                          G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, NULL, &wait, NULL);
  start = now_ms ();
  daemon = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  wait_count (&wait.owned, 1, "pcipassd to own its name");
  *took_ms = now_ms () - start;
  g_bus_unwatch_name (watch);
  return daemon;
}

static void
stop_daemon (GSubprocess *daemon)
{
  g_subprocess_send_signal (daemon, SIGTERM);
  g_subprocess_wait (daemon, NULL, NULL);
}

static GPid
daemon_pid (GSubprocess *daemon)
{
  return (GPid) atoi (g_subprocess_get_identifier (daemon));
}

typedef struct
{
  const char *path;
  guint changes; /* PropertiesChanged on path */
  guint added;   /* InterfacesAdded */
  guint pf_changes;
  const char *pf_path;
} Signals;

static void
on_signal (GDBusConnection *connection,
           const char *sender,
           const char *path,
           const char *iface,
           const char *signal,
           GVariant *params,
           gpointer user_data)
{
  Signals *s = user_data;

  if (g_str_equal (signal, "InterfacesAdded"))
    s->added++;
  else if (g_str_equal (signal, "PropertiesChanged"))
    {
      if (s->path != NULL && g_str_equal (path, s->path))
        s->changes++;
      if (s->pf_path != NULL && g_str_equal (path, s->pf_path))
        s->pf_changes++;
    }
}

static void
time_ctl (JsonBuilder *b,
          const char *name,
          const char *command,
          guint runs,
          int max_status)
{
  g_autoptr (GArray) wall = g_array_new (FALSE, FALSE, sizeof (double));
  const char *const argv[]
      = { pp_test_pcipassctl_path (), command, "--json", NULL };
  long peak = 0;

  for (guint i = 0; i < runs; i++)
    {
      long rss;
      double ms = run_child (argv, &rss, max_status);

      g_array_append_val (wall, ms);
      peak = MAX (peak, rss);
    }
  add_timing (b, name, wall);
  {
    g_autofree char *key = g_strconcat (name, "_client_peak_kib", NULL);
    add_int (b, key, peak);
  }
}

static void
measure_gmo (JsonBuilder *b, PpTestBus *bus, guint n)
{
  g_autoptr (GArray) ms = g_array_new (FALSE, FALSE, sizeof (double));
  gsize size = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) reply = NULL;
      double start = now_ms ();
      double took;

      reply = g_dbus_connection_call_sync (
          bus->connection, "io.github.pcipassd", "/io/github/pcipassd",
          "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, NULL,
          G_DBUS_CALL_FLAGS_NONE, WAIT_SECONDS * 1000, NULL, &error);
      took = now_ms () - start;
      g_assert_no_error (error);
      size = g_variant_get_size (reply);
      g_array_append_val (ms, took);
    }
  add_timing (b, "gmo", ms);
  add_int (b, "gmo_reply_bytes", (gint64) size);
}

/* A device's numa_node flips and a "change" uevent follows, @n times. */
static void
measure_events (JsonBuilder *b,
                UMockdevTestbed *tb,
                PpTestBus *bus,
                const char *address,
                guint n)
{
  g_autofree char *devpath = pp_testbed_get_devpath (tb, address);
  g_autofree char *root = pp_testbed_get_root (tb);
  g_autofree char *numa = g_strconcat (root, devpath, "/numa_node", NULL);
  g_autofree char *path = NULL;
  g_autoptr (GArray) ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *was = NULL;
  gboolean one;
  Signals s = { 0 };
  guint sub;

  path = pp_address_to_object_path (address);
  s.path = path;
  sub = g_dbus_connection_signal_subscribe (
      bus->connection, NULL, "org.freedesktop.DBus.Properties",
      "PropertiesChanged", path, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &s,
      NULL);
  g_assert_true (g_file_get_contents (numa, &was, NULL, NULL));
  one = was[0] == '1';
  for (guint i = 0; i < n; i++)
    {
      double start;
      double took;

      /* A different value each time, or nothing changes. */
      one = !one;
      g_assert_true (g_file_set_contents (numa, one ? "1\n" : "0\n", -1, NULL));
      start = now_ms ();
      umockdev_testbed_uevent (tb, devpath, "change");
      wait_count (&s.changes, i + 1, "PropertiesChanged");
      took = now_ms () - start;
      g_array_append_val (ms, took);
    }
  g_dbus_connection_signal_unsubscribe (bus->connection, sub);
  add_timing (b, "event", ms);
}

static void
measure_hotplug (JsonBuilder *b,
                 UMockdevTestbed *tb,
                 PpTestBus *bus,
                 const char *topo)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  g_autofree char *pf_path = NULL;
  Signals s = { 0 };
  guint n = 0;
  guint sub_added;
  guint sub_changed;
  double start;
  double kernel_ms;
  double bus_ms;

  g_assert_true (g_file_get_contents (topo, &data, NULL, &error));
  /* The port's PF is the second function in the file. */
  for (const char *p = data; (p = strstr (p, "\n[")) != NULL; p++)
    {
      n++;
      if (n == 2)
        {
          g_autofree char *address = g_strndup (p + 2, 12);

          pf_path = pp_address_to_object_path (address);
        }
    }
  s.pf_path = pf_path;
  sub_added = g_dbus_connection_signal_subscribe (
      bus->connection, NULL, "org.freedesktop.DBus.ObjectManager",
      "InterfacesAdded", "/io/github/pcipassd", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_signal, &s, NULL);
  sub_changed = g_dbus_connection_signal_subscribe (
      bus->connection, NULL, "org.freedesktop.DBus.Properties",
      "PropertiesChanged", NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &s,
      NULL);

  start = now_ms ();
  if (!pp_testbed_load_data (tb, data, -1, topo, &error))
    g_error ("%s", error->message);
  kernel_ms = now_ms () - start;
  wait_count (&s.added, n, "InterfacesAdded of every hot-added function");
  bus_ms = now_ms () - start;
  /* Late extra signals would show in the counts below. */
  g_dbus_connection_signal_unsubscribe (bus->connection, sub_added);
  g_dbus_connection_signal_unsubscribe (bus->connection, sub_changed);

  add_int (b, "hotplug_functions", n);
  add_double (b, "hotplug_kernel_ms", kernel_ms);
  add_double (b, "hotplug_bus_ms", bus_ms);
  add_int (b, "hotplug_interfaces_added", s.added);
  add_int (b, "hotplug_pf_properties_changed", s.pf_changes);
}

static void
measure_idle (JsonBuilder *b, GPid pid, guint seconds)
{
  g_autofree char *strace = g_find_program_in_path ("strace");
  g_autofree char *pid_arg = g_strdup_printf ("%d", pid);
  g_autofree char *out
      = g_build_filename (g_get_tmp_dir (), "bench-scale-strace.txt", NULL);
  g_autofree char *duration = g_strdup_printf ("%u", seconds);
  g_autofree char *summary = NULL;
  guint64 switches;
  gint64 calls = 0;

  if (strace == NULL)
    g_error ("strace is needed for the idle figure: apt-get install strace");
  /* Context switches first, alone: attaching strace causes some. */
  switches = context_switches (pid);
  g_usleep (seconds * G_USEC_PER_SEC);
  switches = context_switches (pid) - switches;
  {
    const char *const argv[]
        = { "timeout", "-s", "INT", duration, strace,  "-f",
            "-c",      "-o", out,   "-p",     pid_arg, NULL };
    posix_spawn_file_actions_t actions;
    pid_t child;
    int status;

    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp (&child, argv[0], &actions, NULL, (char *const *) argv,
                      environ)
        != 0)
      g_error ("cannot run strace");
    posix_spawn_file_actions_destroy (&actions);
    waitpid (child, &status, 0);
  }
  /* strace -c writes nothing at all when there was no call. */
  if (g_file_get_contents (out, &summary, NULL, NULL))
    {
      /* The "total" line: "100.00  0.000010  5  2  total". */
      g_auto (GStrv) lines = g_strsplit (summary, "\n", -1);

      for (char **l = lines; *l != NULL; l++)
        if (strstr (*l, "total") != NULL)
          {
            g_auto (GStrv) words = g_strsplit_set (g_strstrip (*l), " ", -1);
            guint k = 0;

            for (char **w = words; *w != NULL; w++)
              if (**w != '\0' && k++ == 3)
                calls = g_ascii_strtoll (*w, NULL, 10);
          }
      g_unlink (out);
    }
  add_int (b, "idle_seconds", seconds);
  add_int (b, "idle_syscalls", calls);
  add_int (b, "idle_context_switches", (gint64) switches);
}

static void
measure_bind (JsonBuilder *b, PpTestBus *bus, guint runs)
{
  g_autoptr (GArray) bind = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) unbind = g_array_new (FALSE, FALSE, sizeof (double));

  for (guint i = 0; i < runs * 2; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) reply = NULL;
      double start = now_ms ();
      double took;

      reply = g_dbus_connection_call_sync (
          bus->connection, "io.github.pcipassd", GPU_PATH,
          "io.github.pcipassd1.Device", i % 2 == 0 ? "Bind" : "Unbind",
          g_variant_new ("(a{sv})", NULL), G_VARIANT_TYPE ("(a(sss))"),
          G_DBUS_CALL_FLAGS_NONE, WAIT_SECONDS * 1000, NULL, &error);
      took = now_ms () - start;
      g_assert_no_error (error);
      g_array_append_val (i % 2 == 0 ? bind : unbind, took);
    }
  add_timing (b, "bind", bind);
  add_timing (b, "unbind", unbind);
}

int
main (int argc, char **argv)
{
  guint runs = 5;
  guint idle = 10;
  guint processes = 0;
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  GOptionEntry entries[] = {
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "runs per timing", "N" },
    { "idle", 0, 0, G_OPTION_ARG_INT, &idle, "idle seconds to watch", "S" },
    { "processes", 0, 0, G_OPTION_ARG_INT, &processes,
      "idle processes to run meanwhile", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (UMockdevTestbed) tb = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GArray) lspci_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) start_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GPtrArray) sleepers
      = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *state_dir = NULL;
  g_autofree char *lspci = NULL;
  g_autoptr (GSubprocess) daemon = NULL;
  PpTestBus *bus;
  PpFakeKernel *kernel;
  const char *const allowed[]
      = { "io.github.pcipassd.bind", "io.github.pcipassd.unbind", NULL };
  long lspci_rss = 0;
  double load_ms;
  GPid pid;

  context = g_option_context_new ("HOST.topo [HOTPLUG.topo]");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || argc < 2
      || runs < 1)
    {
      fprintf (stderr, "bench-scale: %s\n",
               error ? error->message : "usage: HOST.topo [HOTPLUG.topo]");
      return 2;
    }

  tb = pp_testbed_new ();
  load_ms = now_ms ();
  if (!pp_testbed_load_quietly (tb, argv[1], &error))
    g_error ("%s", error->message);
  load_ms = now_ms () - load_ms;
  state_dir = pp_test_make_state_dir ();
  bus = pp_test_bus_new (TRUE);
  pp_test_bus_set_allowed (bus, allowed);

  for (guint i = 0; i < processes; i++)
    {
      const char *const sleep_argv[] = { "sleep", "3600", NULL };

      g_ptr_array_add (sleepers,
                       pp_test_spawn (G_SUBPROCESS_FLAGS_NONE, sleep_argv));
    }

  json_builder_begin_object (b);
  add_double (b, "tree_build_ms", load_ms);

  lspci = g_find_program_in_path (g_getenv ("PP_LSPCI") ? g_getenv ("PP_LSPCI")
                                                        : "lspci");
  if (lspci == NULL)
    g_error ("lspci is needed: apt-get install pciutils");
  for (guint i = 0; i < runs; i++)
    {
      const char *const lspci_argv[] = { lspci, "-nnk", NULL };
      double ms = run_child (lspci_argv, &lspci_rss, 0);

      g_array_append_val (lspci_ms, ms);
    }
  add_timing (b, "lspci", lspci_ms);
  add_int (b, "lspci_peak_kib", lspci_rss);

  for (guint i = 0; i < runs; i++)
    {
      double ms;

      g_clear_pointer (&daemon, stop_daemon);
      daemon = start_daemon (bus, state_dir, &ms);
      g_array_append_val (start_ms, ms);
    }
  pid = daemon_pid (daemon);
  add_timing (b, "start", start_ms);
  add_int (b, "hwm_start_kib", (gint64) status_kib (pid, "VmHWM:"));

  measure_gmo (b, bus, 10);
  add_int (b, "hwm_queries_kib", (gint64) status_kib (pid, "VmHWM:"));

  time_ctl (b, "list", "list", runs, 0);
  time_ctl (b, "groups", "groups", runs, 0);
  time_ctl (b, "validate", "validate", runs, 1);
  add_int (b, "hwm_ctl_kib", (gint64) status_kib (pid, "VmHWM:"));

  measure_events (b, tb, bus, GPU_ADDRESS, 200);
  if (argc > 2)
    measure_hotplug (b, tb, bus, argv[2]);
  measure_idle (b, pid, idle);

  kernel = pp_fake_kernel_new (tb);
  measure_bind (b, bus, runs);
  add_int (b, "hwm_end_kib", (gint64) status_kib (pid, "VmHWM:"));
  json_builder_end_object (b);

  {
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    g_autofree char *text = NULL;

    json_generator_set_root (gen, root);
    json_generator_set_pretty (gen, TRUE);
    text = json_generator_to_data (gen, NULL);
    printf ("%s\n", text);
  }

  g_clear_pointer (&daemon, stop_daemon);
  pp_fake_kernel_free (kernel);
  for (guint i = 0; i < sleepers->len; i++)
    g_subprocess_force_exit (g_ptr_array_index (sleepers, i));
  pp_test_bus_free (bus);
  return 0;
}
