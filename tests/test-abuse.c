/* Abuse by a caller with no rights at all: floods of 1 MiB configs, of
 * calls with huge option dictionaries, and a caller that never reads its
 * replies.  None may grow the daemon past its documented bound (README
 * "Limits", pp-limits.h) or keep another client's Bind from completing.
 * The polkit mock allows only Bind and Unbind, as a group member's rules
 * would; the abuser needs nothing it grants. */
#include "config.h"

#include "pp-fake-kernel.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#define GPU_PATH "/io/github/pcipassd/devices/pci_0000_01_00_0"
#define MANAGER_PATH "/io/github/pcipassd/manager"

/* What the daemon may grow by under any of these floods: every caller's
 * unanswered calls together (PP_LIMITS_TOTAL_BYTES, 32 MiB) and what
 * parsing one config may take beside it. */
#define GROWTH_BOUND_KIB (48 * 1024)

static UMockdevTestbed *testbed;

typedef struct
{
  PpFakeKernel *kernel;
  PpTestBus *bus;
  char *state_dir;
  GDBusConnection *abuser;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path ("workstation");
  g_autofree char *state_arg = NULL;
  const char *const allowed[]
      = { "io.github.pcipassd.bind", "io.github.pcipassd.unbind", NULL };

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);
  fx->kernel = pp_fake_kernel_new (testbed);
  fx->state_dir = pp_test_make_state_dir ();
  state_arg = g_strdup_printf ("--state-dir=%s", fx->state_dir);
  fx->bus = pp_test_bus_new (TRUE);
  pp_test_bus_set_allowed (fx->bus, allowed);
  {
    const char *const args[] = { state_arg, NULL };
    pp_test_bus_start_daemon (fx->bus, args);
  }
  fx->abuser = g_dbus_connection_new_for_address_sync (
      fx->bus->address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *bindings
      = g_build_filename (fx->state_dir, "bindings", NULL);

  g_clear_object (&fx->abuser);
  g_clear_pointer (&fx->bus, pp_test_bus_free);
  g_clear_pointer (&fx->kernel, pp_fake_kernel_free);
  g_unlink (bindings);
  g_rmdir (fx->state_dir);
  g_free (fx->state_dir);
}

static guint64
status_kib (Fixture *fx, const char *field)
{
  g_autofree char *path = g_strdup_printf (
      "/proc/%s/status", g_subprocess_get_identifier (fx->bus->daemon));
  g_autofree char *status = NULL;
  const char *line;

  g_assert_true (g_file_get_contents (path, &status, NULL, NULL));
  line = strstr (status, field);
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen (field), NULL, 10);
}

/* Another client, the test's own connection, binds and gives back the
 * GPU: it must get through whatever the abuser does. */
static double
bind_from_other_client (Fixture *fx)
{
  gint64 start = g_get_monotonic_time ();

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
          fx->bus->connection, "io.github.pcipassd", GPU_PATH,
          "io.github.pcipassd1.Device", i == 0 ? "Bind" : "Unbind",
          g_variant_new ("(a{sv})", NULL), G_VARIANT_TYPE ("(a(sss))"),
          G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

      g_assert_no_error (error);
      {
        g_autoptr (GVariant) steps = g_variant_get_child_value (reply, 0);

        /* Both moved the group's two functions. */
        g_assert_cmpuint (g_variant_n_children (steps), ==, 2);
      }
    }
  return (double) (g_get_monotonic_time () - start) / 1000.0;
}

typedef struct
{
  guint pending;
  guint ok;
  GHashTable *errors; /* remote error name -> count */
} Tally;

static void
on_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Tally *t = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (
      G_DBUS_CONNECTION (source), result, &error);

  t->pending--;
  if (reply != NULL)
    {
      t->ok++;
      return;
    }
  {
    g_autofree char *remote = g_dbus_error_get_remote_error (error);
    guint n;

    if (remote == NULL)
      g_error ("a call was not answered: %s", error->message);
    n = GPOINTER_TO_UINT (g_hash_table_lookup (t->errors, remote));
    g_hash_table_insert (t->errors, g_steal_pointer (&remote),
                         GUINT_TO_POINTER (n + 1));
  }
}

static guint
tally_errors (Tally *t, const char *name)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (t->errors, name));
}

static gboolean
on_timeout (gpointer user_data)
{
  g_error ("the abuser's calls were not all answered");
  return G_SOURCE_REMOVE;
}

static void
wait_all (Tally *t)
{
  guint id = g_timeout_add_seconds (120, on_timeout, NULL);

  while (t->pending > 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (id);
}

static void
report (
    Fixture *fx, const char *what, Tally *t, guint64 hwm_before, double bind_ms)
{
  guint64 hwm = status_kib (fx, "VmHWM:");
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  g_test_message ("%s: %u answered with success", what, t->ok);
  g_hash_table_iter_init (&iter, t->errors);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_test_message ("  %s: %u", (const char *) key, GPOINTER_TO_UINT (value));
  g_test_message ("  daemon VmHWM %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT
                  " KiB (+%" G_GUINT64_FORMAT " KiB, bound %u KiB); the other "
                  "client's Bind and Unbind took %.0f ms",
                  hwm_before, hwm, hwm - hwm_before, GROWTH_BOUND_KIB, bind_ms);
  g_assert_cmpuint (hwm - hwm_before, <, GROWTH_BOUND_KIB);
}

/* 100 ValidateConfig calls of 1 MiB each, all at once. */
static void
test_config_flood (Fixture *fx, gconstpointer data)
{
  Tally t
      = { 0, 0, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  g_autoptr (GString) yaml = g_string_new ("compute_nodes:\n"
                                           "  - name: flood\n"
                                           "    pcie_passthrough:\n"
                                           "      enabled: false\n");
  guint64 hwm = status_kib (fx, "VmHWM:");
  double bind_ms;

  while (yaml->len < 1024 * 1024 - 80)
    g_string_append (yaml, "# padding padding padding padding padding\n");
  for (guint i = 0; i < 100; i++)
    {
      t.pending++;
      g_dbus_connection_call (fx->abuser, "io.github.pcipassd", MANAGER_PATH,
                              "io.github.pcipassd1.Manager", "ValidateConfig",
                              g_variant_new ("(sa{sv})", yaml->str, NULL), NULL,
                              G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_reply, &t);
    }
  g_dbus_connection_flush_sync (fx->abuser, NULL, NULL);
  bind_ms = bind_from_other_client (fx);
  wait_all (&t);

  report (fx, "100 x 1 MiB ValidateConfig", &t, hwm, bind_ms);
  /* How many wait at once depends on how fast the daemon parses; that a
   * share runs out is shown by /abuse/calls-waiting-on-polkit. */
  g_assert_cmpuint (t.ok, >=, 1);
  g_assert_cmpuint (t.ok
                        + tally_errors (&t, "org.freedesktop.DBus.Error."
                                            "LimitsExceeded"),
                    ==, 100);
  g_hash_table_unref (t.errors);
}

/* Calls that cannot be answered, because polkit does not answer: the
 * caller's share (PP_LIMITS_CALLS) fills and the rest are refused at
 * once, while polkit is stopped; once it answers, so does the daemon. */
static void
test_calls_waiting_on_polkit (Fixture *fx, gconstpointer data)
{
  Tally t
      = { 0, 0, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  guint id;

  g_subprocess_send_signal (fx->bus->polkitd, SIGSTOP);
  for (guint i = 0; i < 40; i++)
    {
      t.pending++;
      g_dbus_connection_call (fx->abuser, "io.github.pcipassd", GPU_PATH,
                              "io.github.pcipassd1.Device", "Bind",
                              g_variant_new ("(a{sv})", NULL), NULL,
                              G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_reply, &t);
    }
  id = g_timeout_add_seconds (60, on_timeout, NULL);
  while (t.pending > 32)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (id);
  g_assert_cmpuint (tally_errors (&t, "org.freedesktop.DBus.Error."
                                      "LimitsExceeded"),
                    ==, 8);
  g_assert_cmpuint (t.ok, ==, 0);

  g_subprocess_send_signal (fx->bus->polkitd, SIGCONT);
  wait_all (&t);
  /* One moved the group; the others found it moving or moved. */
  g_assert_cmpuint (t.ok, >=, 1);
  g_assert_cmpuint (tally_errors (&t, "org.freedesktop.DBus.Error."
                                      "LimitsExceeded"),
                    ==, 8);
  g_hash_table_unref (t.errors);
}

/* 10000 Binds, each with 200 options nobody knows, 500 in flight. */
static void
test_options_flood (Fixture *fx, gconstpointer data)
{
  Tally t
      = { 0, 0, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  g_autoptr (GVariant) options = NULL;
  GVariantBuilder builder;
  guint64 hwm = status_kib (fx, "VmHWM:");
  guint sent = 0;
  double bind_ms = 0;
  guint id = g_timeout_add_seconds (300, on_timeout, NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *key = g_strdup_printf ("option-%u-padding-padding", i);
      g_variant_builder_add (&builder, "{sv}", key,
                             g_variant_new_string ("a value nobody reads"));
    }
  options = g_variant_ref_sink (g_variant_builder_end (&builder));

  while (sent < 10000 || t.pending > 0)
    {
      while (sent < 10000 && t.pending < 500)
        {
          t.pending++;
          sent++;
          g_dbus_connection_call (fx->abuser, "io.github.pcipassd", GPU_PATH,
                                  "io.github.pcipassd1.Device", "Bind",
                                  g_variant_new ("(@a{sv})", options), NULL,
                                  G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_reply,
                                  &t);
          if (sent == 5000)
            {
              g_dbus_connection_flush_sync (fx->abuser, NULL, NULL);
              bind_ms = bind_from_other_client (fx);
            }
        }
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (id);

  report (fx, "10000 Binds with 200 unknown options", &t, hwm, bind_ms);
  g_assert_cmpuint (t.ok, ==, 0);
  g_assert_cmpuint (tally_errors (&t, "org.freedesktop.DBus.Error.InvalidArgs"),
                    >=, 1);
  g_assert_cmpuint (
      tally_errors (&t, "org.freedesktop.DBus.Error.InvalidArgs")
          + tally_errors (&t, "org.freedesktop.DBus.Error.LimitsExceeded"),
      ==, 10000);
  g_hash_table_unref (t.errors);
}

/* A caller that sends 5000 GetManagedObjects and never reads a reply. */
static void
test_deaf_client (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  const char *script = PP_DEAF_CLIENT;
  g_autofree char *python = pp_test_require_program ("/usr/bin/python3");
  const char *const argv[] = { python,
                               script,
                               fx->bus->address,
                               "io.github.pcipassd",
                               "/io/github/pcipassd",
                               "5000",
                               NULL };
  g_autoptr (GSubprocess) deaf = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  guint64 hwm = status_kib (fx, "VmHWM:");
  Tally t
      = { 0, 0, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL) };
  double bind_ms;

  deaf = pp_test_spawn (
      G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, argv);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (deaf));
  line = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (line, ==, "sent");

  /* Everyone else is served meanwhile, reads included. */
  bind_ms = bind_from_other_client (fx);
  {
    g_autoptr (GVariant) objects = g_dbus_connection_call_sync (
        fx->bus->connection, "io.github.pcipassd", "/io/github/pcipassd",
        "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, NULL,
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_no_error (error);
    g_assert_nonnull (objects);
  }
  report (fx, "a caller that never reads 5000 replies", &t, hwm, bind_ms);

  g_output_stream_close (g_subprocess_get_stdin_pipe (deaf), NULL, NULL);
  g_assert_cmpint (pp_test_wait_process (deaf), ==, 0);
  g_hash_table_unref (t.errors);
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

#define ADD(name, func)                                                        \
  g_test_add (name, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/abuse/config-flood", test_config_flood);
  ADD ("/abuse/calls-waiting-on-polkit", test_calls_waiting_on_polkit);
  ADD ("/abuse/options-flood", test_options_flood);
  ADD ("/abuse/deaf-client", test_deaf_client);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
