#include "config.h"

#include "pp-test-bus.h"

#include <signal.h>
#include <sys/prctl.h>

#define POLKIT_NAME "org.freedesktop.PolicyKit1"

static void
die_with_parent (gpointer user_data)
{
  /* A test that fails aborts at once; its daemons must not outlive it
   * and hold the test runner's output pipes open. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

GSubprocess *
pp_test_spawn (GSubprocessFlags flags, const char *const *argv)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr (GError) error = NULL;
  GSubprocess *proc;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  return proc;
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
static void
iterate_until (gboolean *done, const char *what)
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

  iterate_until (&wait.reached, what);
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
  iterate_until (&exited, "a child process to exit");
  if (g_subprocess_get_if_signaled (proc))
    return 128 + g_subprocess_get_term_sig (proc);
  return g_subprocess_get_exit_status (proc);
}

PpTestBus *
pp_test_bus_new (gboolean with_polkit)
{
  g_autoptr (GError) error = NULL;
  PpTestBus *tb = g_new0 (PpTestBus, 1);
  const char *address;

  tb->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (tb->bus);
  address = g_test_dbus_get_bus_address (tb->bus);
  /* Everything that asks for the system bus, here and in children, must
   * reach this one, never the host's. */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", address, TRUE);

  tb->connection = g_dbus_connection_new_for_address_sync (
      address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);

  if (with_polkit)
    {
      /* The python3 on PATH may be a private one without dbusmock. */
      const char *const argv[] = {
        "/usr/bin/python3", "-m", "dbusmock", "--template", "polkitd", NULL,
      };
      tb->polkitd = pp_test_spawn (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, argv);
      pp_test_bus_wait_name (tb, POLKIT_NAME, TRUE);
    }
  return tb;
}

void
pp_test_bus_start_daemon (PpTestBus *tb, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();

  g_assert_null (tb->daemon);

  g_ptr_array_add (argv, (gpointer) pp_test_pcipassd_path ());
  for (; args != NULL && *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);

  tb->daemon = pp_test_spawn (G_SUBPROCESS_FLAGS_NONE,
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
  g_clear_object (&tb->connection);
  g_test_dbus_down (tb->bus);
  g_clear_object (&tb->bus);
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
