#include "config.h"

#include "pp-test-bus.h"

#include "pp-address.h"

#include <errno.h>
#include <fcntl.h>

#include <signal.h>
#include <glib/gstdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#define POLKIT_NAME "org.freedesktop.PolicyKit1"

static void
die_with_parent (gpointer user_data)
{
  /* A test that fails aborts at once; its daemons must not outlive it
   * and hold the test runner's output pipes open. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static GSubprocess *
spawn_full (GSubprocessFlags flags,
            const char *stdout_path,
            const char *stderr_path,
            const char *const *argv)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr (GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  if (stdout_path != NULL)
    g_subprocess_launcher_set_stdout_file_path (launcher, stdout_path);
  if (stderr_path != NULL)
    g_subprocess_launcher_set_stderr_file_path (launcher, stderr_path);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  return proc;
}

GSubprocess *
pp_test_spawn (GSubprocessFlags flags, const char *const *argv)
{
  return spawn_full (flags, NULL, NULL, argv);
}

static gboolean
on_timeout (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterates the default context until *@done, or fails after the timeout
 * with @what in the message. */
void
pp_test_iterate_until (gboolean *done, const char *what)
{
  gboolean timed_out = FALSE;
  guint timeout_id
      = g_timeout_add_seconds (PP_TEST_TIMEOUT, on_timeout, &timed_out);

  while (!*done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (timed_out)
    g_error ("timed out after %d s waiting for %s", PP_TEST_TIMEOUT, what);
  g_source_remove (timeout_id);
}

char *
pp_test_require_program (const char *name)
{
  char *path = g_find_program_in_path (name);

  if (path == NULL)
    g_error ("%s is required by the tests but is not installed", name);
  return path;
}

const char *
pp_test_pcipassd_path (void)
{
  return PCIPASSD_PATH;
}

const char *
pp_test_pcipassctl_path (void)
{
  return PCIPASSCTL_PATH;
}

typedef struct
{
  gboolean owned;
  gboolean reached;
} NameWait;

static void
on_name_appeared (GDBusConnection *connection,
                  const char *name,
                  const char *owner,
                  gpointer user_data)
{
  NameWait *wait = user_data;

  if (wait->owned)
    wait->reached = TRUE;
}

static void
on_name_vanished (GDBusConnection *connection,
                  const char *name,
                  gpointer user_data)
{
  NameWait *wait = user_data;

  if (!wait->owned)
    wait->reached = TRUE;
}

void
pp_test_bus_wait_name (PpTestBus *tb, const char *name, gboolean owned)
{
  NameWait wait = { owned, FALSE };
  g_autofree char *what = g_strdup_printf ("%s to %s the bus", name,
                                           owned ? "appear on" : "leave");
  guint watch_id = g_bus_watch_name_on_connection (
      tb->connection, name, G_BUS_NAME_WATCHER_FLAGS_NONE, on_name_appeared,
      on_name_vanished, &wait, NULL);

  pp_test_iterate_until (&wait.reached, what);
  g_bus_unwatch_name (watch_id);
}

static void
on_process_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gboolean *exited = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *exited = TRUE;
}

int
pp_test_wait_process (GSubprocess *proc)
{
  gboolean exited = FALSE;

  g_subprocess_wait_async (proc, NULL, on_process_exited, &exited);
  pp_test_iterate_until (&exited, "a child process to exit");
  if (g_subprocess_get_if_signaled (proc))
    return 128 + g_subprocess_get_term_sig (proc);
  return g_subprocess_get_exit_status (proc);
}

PpTestBus *
pp_test_bus_new (gboolean with_polkit)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  PpTestBus *tb = g_new0 (PpTestBus, 1);
  /* Our own dbus-daemon rather than GTestDBus: it must die with a test
   * that aborts, or it holds the runner's output pipes open. */
  const char *const argv[] = {
    "dbus-daemon", "--session", "--nofork", "--print-address=1", NULL,
  };

  tb->bus = pp_test_spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE, argv);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (tb->bus));
  tb->address = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tb->address);
  g_strstrip (tb->address);

  /* Everything that asks for the system bus, here and in children, must
   * reach this one, never the host's. */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", tb->address, TRUE);

  tb->connection = g_dbus_connection_new_for_address_sync (
      tb->address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);

  if (with_polkit)
    {
      const char *const polkit_argv[] = {
        "/usr/bin/python3", "-m", "dbusmock", "--template", "polkitd", NULL,
      };
      g_autoptr (GError) tmp_error = NULL;
      int fd = g_file_open_tmp ("pp-polkitd-XXXXXX.log", &tb->polkit_log,
                                &tmp_error);

      g_assert_no_error (tmp_error);
      close (fd);
      /* The mock logs every call, subject and flags included, to stdout:
       * tests read it back to see what was asked. */
      tb->polkitd = spawn_full (G_SUBPROCESS_FLAGS_NONE, tb->polkit_log, NULL,
                                polkit_argv);
      pp_test_bus_wait_name (tb, POLKIT_NAME, TRUE);
    }
  return tb;
}

void
pp_test_bus_start_daemon (PpTestBus *tb, const char *const *args)
{
  pp_test_bus_start_daemon_logged (tb, args, NULL);
}

void
pp_test_bus_start_daemon_logged (PpTestBus *tb,
                                 const char *const *args,
                                 const char *log_path)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  const char *wrapper_env = g_getenv ("PP_DAEMON_WRAPPER");
  g_auto (GStrv) wrapper = wrapper_env != NULL && *wrapper_env != '\0'
                               ? g_strsplit (wrapper_env, " ", -1)
                               : NULL;

  gboolean has_catalog = FALSE;

  g_assert_null (tb->daemon);

  /* PP_DAEMON_WRAPPER="valgrind -q --error-exitcode=3" runs the daemon
   * under a tool. */
  if (wrapper != NULL)
    for (char **w = wrapper; *w != NULL; w++)
      g_ptr_array_add (argv, *w);
  g_ptr_array_add (argv, (gpointer) pp_test_pcipassd_path ());
  for (const char *const *a = args; a != NULL && *a != NULL; a++)
    {
      if (g_str_has_prefix (*a, "--catalog"))
        has_catalog = TRUE;
      g_ptr_array_add (argv, (gpointer) *a);
    }
  /* Never this machine's own catalog. */
  if (!has_catalog)
    g_ptr_array_add (argv, "--catalog=");
  g_ptr_array_add (argv, NULL);

  /* GLib opens it without O_TRUNC: an old, longer log would show through. */
  if (log_path != NULL)
    g_assert_true (g_file_set_contents (log_path, "", 0, NULL));
  tb->daemon = spawn_full (G_SUBPROCESS_FLAGS_NONE, NULL, log_path,
                           (const char *const *) argv->pdata);
  pp_test_bus_wait_name (tb, "io.github.pcipassd", TRUE);
}

void
pp_test_bus_stop_daemon (PpTestBus *tb)
{
  g_autoptr (GSubprocess) daemon = g_steal_pointer (&tb->daemon);

  if (daemon == NULL)
    return;
  g_subprocess_send_signal (daemon, SIGTERM);
  g_assert_cmpint (pp_test_wait_process (daemon), ==, 0);
}

void
pp_test_bus_free (PpTestBus *tb)
{
  if (tb == NULL)
    return;
  pp_test_bus_stop_daemon (tb);
  if (tb->polkitd != NULL)
    {
      g_subprocess_send_signal (tb->polkitd, SIGTERM);
      pp_test_wait_process (tb->polkitd);
      g_clear_object (&tb->polkitd);
    }
  if (tb->connection != NULL)
    g_dbus_connection_close_sync (tb->connection, NULL, NULL);
  g_clear_object (&tb->connection);
  g_subprocess_send_signal (tb->bus, SIGTERM);
  pp_test_wait_process (tb->bus);
  g_clear_object (&tb->bus);
  g_free (tb->address);
  if (tb->polkit_log != NULL)
    g_unlink (tb->polkit_log);
  g_free (tb->polkit_log);
  g_unsetenv ("DBUS_SYSTEM_BUS_ADDRESS");
  g_free (tb);
}

char *
pp_test_run_ctl (const char *const *args, char **out_stderr, int *out_status)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_ptr_array_add (argv, (gpointer) pp_test_pcipassctl_path ());
  for (; args != NULL && *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);

  proc = pp_test_spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                            | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                        (const char *const *) argv->pdata);
  /* The daemon runs in another process, so blocking here is safe. */
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  *out_status = pp_test_wait_process (proc);
  if (out_stderr != NULL)
    *out_stderr = g_steal_pointer (&err);
  return g_steal_pointer (&out);
}

char *
pp_test_bus_polkit_log (PpTestBus *tb)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;

  g_assert_nonnull (tb->polkit_log);
  g_file_get_contents (tb->polkit_log, &contents, NULL, &error);
  g_assert_no_error (error);
  return contents;
}

void
pp_test_bus_set_allowed (PpTestBus *tb, const char *const *actions)
{
  g_autoptr (GError) error = NULL;
  GVariant *reply = g_dbus_connection_call_sync (
      tb->connection, POLKIT_NAME, "/org/freedesktop/PolicyKit1/Authority",
      "org.freedesktop.DBus.Mock", "SetAllowed",
      g_variant_new ("(^as)", actions), NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
      &error);

  g_assert_no_error (error);
  g_variant_unref (reply);
}

typedef struct
{
  const char *path;
  const char *needle;
  gboolean found;
} LogWait;

static gboolean
log_contains (LogWait *w)
{
  g_autofree char *contents = NULL;

  if (g_file_get_contents (w->path, &contents, NULL, NULL)
      && strstr (contents, w->needle) != NULL)
    w->found = TRUE;
  return w->found;
}

static void
on_log_changed (GFileMonitor *monitor,
                GFile *file,
                GFile *other,
                GFileMonitorEvent event,
                gpointer user_data)
{
  log_contains (user_data);
}

void
pp_test_bus_wait_polkit_log (PpTestBus *tb, const char *needle)
{
  g_autoptr (GFile) file = g_file_new_for_path (tb->polkit_log);
  g_autoptr (GError) error = NULL;
  g_autoptr (GFileMonitor) monitor = NULL;
  g_autofree char *what = g_strdup_printf ("polkitd to log \"%s\"", needle);
  LogWait w = { tb->polkit_log, needle, FALSE };

  monitor = g_file_monitor_file (file, G_FILE_MONITOR_NONE, NULL, &error);
  g_assert_no_error (error);
  /* Every write is an event; check once first for what came before. */
  g_file_monitor_set_rate_limit (monitor, 0);
  g_signal_connect (monitor, "changed", G_CALLBACK (on_log_changed), &w);
  if (!log_contains (&w))
    pp_test_iterate_until (&w.found, what);
  g_signal_handlers_disconnect_by_data (monitor, &w);
}

GVariant *
pp_test_bus_get_property (PpTestBus *tb, const char *address, const char *name)
{
  g_autofree char *path = pp_address_to_object_path (address);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      tb->connection, "io.github.pcipassd", path,
      "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", "io.github.pcipassd1.Device", name),
      G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  GVariant *value;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

void
pp_test_write_sysfs (const char *path, const char *value)
{
  /* One open(O_WRONLY) and write(), as the kernel's files want: no
   * O_APPEND, no O_TRUNC, no rename. */
  int fd = open (path, O_WRONLY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, value, strlen (value)), ==, strlen (value));
  close (fd);
}

char *
pp_test_make_state_dir (void)
{
  g_autofree char *dir = g_strdup ("/tmp/pp-state-XXXXXX");

  /* Not under TMPDIR=/dev/shm: the daemon writes its state from worker
   * threads, and the umockdev preload tracks every open() of a /dev/ path
   * in a table without a lock. */
  if (g_mkdtemp (dir) == NULL)
    g_error ("cannot create a state directory: %s", g_strerror (errno));
  return g_steal_pointer (&dir);
}

GVariant *
pp_test_bus_get_manager_property (PpTestBus *tb, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      tb->connection, "io.github.pcipassd", "/io/github/pcipassd/manager",
      "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", "io.github.pcipassd1.Manager", name),
      G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  GVariant *value;

  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return value;
}

static void
on_any_signal (GDBusConnection *connection,
               const char *sender,
               const char *path,
               const char *interface,
               const char *signal,
               GVariant *parameters,
               gpointer user_data)
{
  guint *count = user_data;

  (*count)++;
}

static gboolean
on_wait_timeout (gpointer user_data)
{
  gboolean *timed_out = user_data;

  *timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

void
pp_test_bus_wait_property (PpTestBus *tb,
                           const char *address,
                           const char *name,
                           const char *expected)
{
  g_autofree char *path = pp_address_to_object_path (address);
  g_autofree char *text = NULL;
  gboolean timed_out = FALSE;
  guint signals = 0;
  guint seen = G_MAXUINT;
  guint sub;
  guint timeout;

  /* Subscribed before the first read: a change after it is not missed. */
  sub = g_dbus_connection_signal_subscribe (
      tb->connection, NULL, "org.freedesktop.DBus.Properties",
      "PropertiesChanged", path, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_any_signal,
      &signals, NULL);
  timeout
      = g_timeout_add_seconds (PP_TEST_TIMEOUT, on_wait_timeout, &timed_out);
  for (;;)
    {
      if (seen != signals)
        {
          g_autoptr (GVariant) value
              = pp_test_bus_get_property (tb, address, name);

          seen = signals;
          g_free (text);
          text = g_variant_print (value, FALSE);
          if (g_str_equal (text, expected))
            break;
        }
      if (timed_out)
        g_error ("%s %s is %s after %d s, expected %s", address, name, text,
                 PP_TEST_TIMEOUT, expected);
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (timeout);
  g_dbus_connection_signal_unsubscribe (tb->connection, sub);
}

static gboolean
device_present (PpTestBus *tb, const char *path)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      tb->connection, "io.github.pcipassd", path,
      "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", "io.github.pcipassd1.Device", "Address"), NULL,
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);

  return reply != NULL;
}

void
pp_test_bus_wait_device (PpTestBus *tb, const char *address, gboolean present)
{
  g_autofree char *path = pp_address_to_object_path (address);
  gboolean timed_out = FALSE;
  guint signals = 0;
  guint seen = G_MAXUINT;
  guint sub;
  guint timeout;

  sub = g_dbus_connection_signal_subscribe (
      tb->connection, NULL, "org.freedesktop.DBus.ObjectManager", NULL,
      "/io/github/pcipassd", NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_any_signal,
      &signals, NULL);
  timeout
      = g_timeout_add_seconds (PP_TEST_TIMEOUT, on_wait_timeout, &timed_out);
  for (;;)
    {
      if (seen != signals)
        {
          seen = signals;
          if (device_present (tb, path) == present)
            break;
        }
      if (timed_out)
        g_error ("%s is %s after %d s", address,
                 present ? "still not there" : "still there", PP_TEST_TIMEOUT);
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (timeout);
  g_dbus_connection_signal_unsubscribe (tb->connection, sub);
}

void
pp_test_assert_remote_error (const GError *error, const char *name)
{
  g_autofree char *remote = NULL;

  if (error == NULL)
    g_error ("expected %s, got success", name);
  remote = g_dbus_error_get_remote_error (error);
  if (g_strcmp0 (remote, name) != 0)
    g_error ("expected %s, got %s", name, error->message);
}

GVariant *
pp_test_options (const char *text)
{
  g_autoptr (GError) error = NULL;
  GVariant *v
      = g_variant_parse (G_VARIANT_TYPE ("a{sv}"), text, NULL, NULL, &error);

  g_assert_no_error (error);
  return v;
}
