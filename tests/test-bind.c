/* Bind and Unbind end to end: pcipassd runs as its own process on a
 * private bus, against a simulated host whose kernel (pp-fake-kernel.c)
 * follows the real kernel's binding rules; polkit is python3-dbusmock's
 * polkitd.  Every state-changing action is tried denied first. */
#include "config.h"

#include "pp-address.h"
#include "pp-fake-kernel.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/stat.h>
#include <umockdev.h>
#include <unistd.h>

#define DEVICE_IFACE "io.github.pcipassd1.Device"
#define GPU "0000:01:00.0"
#define AUDIO "0000:01:00.1"
#define ROOT_PORT "0000:00:01.0"

#define STATE_HEADER                                                           \
  "# pcipassd state: see the README, \"The state file\".\n[pcipassd]\n"        \
  "version=2\n"

static UMockdevTestbed *testbed;

typedef struct
{
  const char *fixture;
  const char *step_timeout; /* seconds, as the daemon option takes it */
} Setup;

typedef struct
{
  PpFakeKernel *kernel;
  PpTestBus *bus;
  char *state_dir;
} Fixture;

static const Setup workstation = { "workstation", "5" };
static const Setup workstation_fast = { "workstation", "0.5" };
static const Setup server = { "server", "5" };
static const Setup stub_variants = { "stub-variants", "5" };
static const Setup server_fast = { "server", "0.5" };

static void
start_daemon (Fixture *fx, const Setup *setup, const char *extra)
{
  g_autofree char *state = g_strdup_printf ("--state-dir=%s", fx->state_dir);
  g_autofree char *timeout
      = g_strdup_printf ("--step-timeout=%s", setup->step_timeout);
  const char *const args[] = { state, timeout, extra, NULL };

  pp_test_bus_start_daemon (fx->bus, args);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  const Setup *setup = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path (setup->fixture);

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);
  fx->kernel = pp_fake_kernel_new (testbed);

  fx->state_dir = pp_test_make_state_dir ();
  fx->bus = pp_test_bus_new (TRUE);
  start_daemon (fx, setup, NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *bindings
      = g_build_filename (fx->state_dir, "bindings", NULL);

  g_clear_pointer (&fx->bus, pp_test_bus_free);
  g_clear_pointer (&fx->kernel, pp_fake_kernel_free);
  g_unlink (bindings);
  g_rmdir (fx->state_dir);
  g_free (fx->state_dir);
}

static char *
path_of (const char *address)
{
  return pp_address_to_object_path (address);
}

/* Calls Bind or Unbind; returns the steps as "addr:from>to" lines, or NULL
 * with @error set. */
static char *
call_full (Fixture *fx,
           const char *address,
           const char *method,
           GVariant *options,
           GDBusCallFlags flags,
           GError **error)
{
  g_autofree char *path = path_of (address);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantIter) iter = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  const char *a;
  const char *from;
  const char *to;

  g_autoptr (GVariant) owned = NULL;

  /* Floating or not (g_variant_parse's are not), the call owns it. */
  owned = g_variant_take_ref (options != NULL ? options
                                              : g_variant_new ("a{sv}", NULL));
  /* pcipassd is another process and the fake kernel has its own thread:
   * a blocking call cannot deadlock. */
  reply = g_dbus_connection_call_sync (
      fx->bus->connection, "io.github.pcipassd", path, DEVICE_IFACE, method,
      g_variant_new_tuple (&owned, 1), G_VARIANT_TYPE ("(a(sss))"), flags, -1,
      NULL, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(a(sss))", &iter);
  while (g_variant_iter_next (iter, "(&s&s&s)", &a, &from, &to))
    g_string_append_printf (out, "%s%s:%s>%s", out->len ? " " : "", a, from,
                            to);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static char *
call (Fixture *fx,
      const char *address,
      const char *method,
      GVariant *options,
      GError **error)
{
  return call_full (fx, address, method, options, G_DBUS_CALL_FLAGS_NONE,
                    error);
}

static GVariant *
opts (const char *text)
{
  g_autoptr (GError) error = NULL;
  GVariant *v
      = g_variant_parse (G_VARIANT_TYPE ("a{sv}"), text, NULL, NULL, &error);

  g_assert_no_error (error);
  return v;
}

static void
assert_string_property (Fixture *fx,
                        const char *address,
                        const char *name,
                        const char *expected)
{
  g_autoptr (GVariant) value
      = pp_test_bus_get_property (fx->bus, address, name);

  if (g_strcmp0 (g_variant_get_string (value, NULL), expected) != 0)
    g_error ("%s %s is \"%s\", expected \"%s\"", address, name,
             g_variant_get_string (value, NULL), expected);
}

static gboolean
bool_property (Fixture *fx, const char *address, const char *name)
{
  g_autoptr (GVariant) value
      = pp_test_bus_get_property (fx->bus, address, name);

  return g_variant_get_boolean (value);
}

/* The driver sysfs shows, read through the testbed. */
static char *
sysfs_driver (const char *address)
{
  g_autofree char *link
      = g_build_filename ("/sys/bus/pci/devices", address, "driver", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);

  return target != NULL ? g_path_get_basename (target) : g_strdup ("");
}

static void
assert_driver_in_sysfs (const char *address, const char *driver)
{
  g_autofree char *actual = sysfs_driver (address);

  g_assert_cmpstr (actual, ==, driver);
}

static void
assert_driver (Fixture *fx, const char *address, const char *driver)
{
  g_autofree char *actual = NULL;

  pp_fake_kernel_sync (fx->kernel);
  actual = sysfs_driver (address);
  if (!g_str_equal (actual, driver))
    g_error ("%s is on \"%s\" in sysfs, expected \"%s\"", address, actual,
             driver);
  assert_string_property (fx, address, "Driver", driver);
}

static char *
read_records (Fixture *fx)
{
  g_autofree char *path = g_build_filename (fx->state_dir, "bindings", NULL);
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return g_strdup ("");
  /* The records without the version header every save starts with. */
  if (g_str_has_prefix (contents, STATE_HEADER))
    {
      char *records = g_strdup (contents + strlen (STATE_HEADER)
                                + (contents[strlen (STATE_HEADER)] == '\n'));
      g_free (contents);
      return records;
    }
  return contents;
}

static void
assert_remote_error (const GError *error, const char *name)
{
  g_autofree char *remote = NULL;

  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  if (g_strcmp0 (remote, name) != 0)
    g_error ("expected %s, got %s", name, error->message);
}

static void
allow (Fixture *fx, const char *action1, const char *action2)
{
  const char *const actions[] = { action1, action2, NULL };

  pp_test_bus_set_allowed (fx->bus, actions);
}

static void
test_bind_denied_then_allowed (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;
  g_autofree char *records = NULL;

  /* Denied: nothing written, nothing recorded. */
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_null (steps);
  g_assert_true (g_dbus_error_is_remote_error (error));
  assert_remote_error (error, "io.github.pcipassd.Error.NotAuthorized");
  g_clear_error (&error);
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);
  assert_driver (fx, GPU, "nvidia");
  records = read_records (fx);
  g_assert_cmpstr (records, ==, "");
  g_clear_pointer (&records, g_free);

  /* Allowed: the GPU and its audio function move, the root port stays. */
  allow (fx, "io.github.pcipassd.bind", NULL);
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==,
                   GPU ":nvidia>vfio-pci " AUDIO ":snd_hda_intel>vfio-pci");
  assert_driver (fx, GPU, "vfio-pci");
  assert_driver (fx, AUDIO, "vfio-pci");
  assert_driver (fx, ROOT_PORT, "pcieport");
  assert_string_property (fx, GPU, "State", "vfio");
  assert_string_property (fx, GPU, "DriverOverride", "vfio-pci");
  assert_string_property (fx, GPU, "OriginalDriver", "nvidia");
  assert_string_property (fx, AUDIO, "OriginalDriver", "snd_hda_intel");
  assert_string_property (fx, ROOT_PORT, "OriginalDriver", "");
  g_assert_true (bool_property (fx, GPU, "GroupViable"));
  g_assert_true (bool_property (fx, ROOT_PORT, "GroupViable"));
  g_assert_true (g_file_test ("/dev/vfio/2", G_FILE_TEST_EXISTS));

  records = read_records (fx);
  g_assert_nonnull (strstr (records, "[" GPU "]\ndriver=nvidia\n"));
  g_assert_nonnull (strstr (records, "[" AUDIO "]\ndriver=snd_hda_intel\n"));
}

static void
test_unbind_denied_then_allowed (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;
  g_autofree char *records = NULL;
  guint writes;

  allow (fx, "io.github.pcipassd.bind", NULL);
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&steps, g_free);
  pp_fake_kernel_sync (fx->kernel);
  writes = pp_fake_kernel_get_n_writes (fx->kernel);

  steps = call (fx, GPU, "Unbind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.NotAuthorized");
  g_clear_error (&error);
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, writes);
  assert_driver (fx, GPU, "vfio-pci");

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  steps = call (fx, GPU, "Unbind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==,
                   GPU ":vfio-pci>nvidia " AUDIO ":vfio-pci>snd_hda_intel");
  assert_driver (fx, GPU, "nvidia");
  assert_driver (fx, AUDIO, "snd_hda_intel");
  assert_string_property (fx, GPU, "DriverOverride", "");
  assert_string_property (fx, GPU, "OriginalDriver", "");
  assert_string_property (fx, GPU, "State", "host");
  g_assert_false (bool_property (fx, GPU, "GroupViable"));
  g_assert_false (g_file_test ("/dev/vfio/2", G_FILE_TEST_EXISTS));
  records = read_records (fx);
  g_assert_null (strstr (records, GPU));
}

static void
test_dry_run (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *plan = NULL;

  /* A plan changes nothing, so it needs no authorization. */
  plan = call (fx, AUDIO, "Bind", opts ("{'dry_run': <true>}"), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plan, ==,
                   GPU ":nvidia>vfio-pci " AUDIO ":snd_hda_intel>vfio-pci");
  g_clear_pointer (&plan, g_free);
  plan = call (fx, GPU, "Bind", opts ("{'dry_run': <true>, 'group': <false>}"),
               &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plan, ==, GPU ":nvidia>vfio-pci");
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);
  assert_driver (fx, GPU, "nvidia");
}

static void
test_no_group (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  allow (fx, "io.github.pcipassd.bind", NULL);
  steps = call (fx, GPU, "Bind", opts ("{'group': <false>}"), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, GPU ":nvidia>vfio-pci");
  assert_driver (fx, GPU, "vfio-pci");
  assert_driver (fx, AUDIO, "snd_hda_intel");
  /* The audio function still holds the group for the host. */
  g_assert_false (bool_property (fx, GPU, "GroupViable"));
}

static void
test_idempotent (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;
  guint writes;

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");

  /* Already on its host driver: Unbind changes nothing. */
  steps = call (fx, GPU, "Unbind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, "");
  g_clear_pointer (&steps, g_free);
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);

  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&steps, g_free);
  pp_fake_kernel_sync (fx->kernel);
  writes = pp_fake_kernel_get_n_writes (fx->kernel);

  /* Already on vfio-pci: Bind succeeds and changes nothing. */
  steps = call (fx, AUDIO, "Bind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, "");
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, writes);
  assert_driver (fx, GPU, "vfio-pci");
}

static void
test_rollback (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;
  g_autofree char *records = NULL;

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  /* The audio function never completes a bind, whichever driver: the
   * GPU, already moved, goes back; the audio function cannot, and says
   * so, and keeps its record so that a later Unbind can finish the job. */
  pp_fake_kernel_set_stuck (fx->kernel, AUDIO, TRUE);
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.Kernel");
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "binding " AUDIO " to vfio-pci"));
  g_assert_nonnull (strstr (error->message, "timed out"));
  g_assert_nonnull (strstr (error->message, "rolled back: " GPU));
  g_assert_nonnull (strstr (error->message, "could not give " AUDIO " back"));
  g_clear_error (&error);

  assert_driver (fx, GPU, "nvidia");
  assert_string_property (fx, GPU, "DriverOverride", "");
  assert_string_property (fx, GPU, "OriginalDriver", "");
  assert_driver (fx, AUDIO, "");
  assert_string_property (fx, AUDIO, "OriginalDriver", "snd_hda_intel");
  records = read_records (fx);
  g_assert_null (strstr (records, GPU));
  g_assert_nonnull (strstr (records, AUDIO));

  /* Once the device behaves, Unbind puts it back where it was. */
  pp_fake_kernel_set_stuck (fx->kernel, AUDIO, FALSE);
  steps = call (fx, AUDIO, "Unbind", opts ("{'group': <false>}"), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, AUDIO ":>snd_hda_intel");
  assert_driver (fx, AUDIO, "snd_hda_intel");
  assert_string_property (fx, AUDIO, "OriginalDriver", "");
}

static void
test_restore_after_restart (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&steps, g_free);

  /* A new daemon knows the original drivers from the state directory. */
  pp_test_bus_stop_daemon (fx->bus);
  start_daemon (fx, &workstation, NULL);
  assert_string_property (fx, GPU, "OriginalDriver", "nvidia");
  assert_string_property (fx, AUDIO, "OriginalDriver", "snd_hda_intel");

  steps = call (fx, GPU, "Unbind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==,
                   GPU ":vfio-pci>nvidia " AUDIO ":vfio-pci>snd_hda_intel");
  assert_driver (fx, GPU, "nvidia");
  assert_driver (fx, AUDIO, "snd_hda_intel");
}

static void
test_crash_between_steps (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (fx->state_dir, "bindings", NULL);
  g_autofree char *steps = NULL;

  /* As if pcipassd died after recording the GPU, writing the override
   * and unbinding, but before binding it to vfio-pci. */
  pp_test_bus_stop_daemon (fx->bus);
  g_file_set_contents (path, "[" GPU "]\ndriver=nvidia\ndriver-override=\n", -1,
                       &error);
  g_assert_no_error (error);
  pp_test_write_sysfs ("/sys/bus/pci/devices/" GPU "/driver_override",
                       "vfio-pci");
  pp_test_write_sysfs ("/sys/bus/pci/devices/" GPU "/driver/unbind", GPU);
  pp_fake_kernel_sync (fx->kernel);
  assert_driver_in_sysfs (GPU, "");

  start_daemon (fx, &workstation, NULL);
  assert_string_property (fx, GPU, "State", "unbound");
  assert_string_property (fx, GPU, "OriginalDriver", "nvidia");

  allow (fx, "io.github.pcipassd.unbind", NULL);
  steps = call (fx, GPU, "Unbind", opts ("{'group': <false>}"), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, GPU ":>nvidia");
  assert_driver (fx, GPU, "nvidia");
  assert_string_property (fx, GPU, "DriverOverride", "");
  assert_string_property (fx, GPU, "OriginalDriver", "");
}

/* driver and override of the GPU and its audio function, from sysfs. */
static char *
host_state (Fixture *fx)
{
  const char *const devices[] = { GPU, AUDIO, NULL };
  g_autoptr (GString) out = g_string_new (NULL);

  pp_fake_kernel_sync (fx->kernel);
  for (const char *const *d = devices; *d != NULL; d++)
    {
      g_autofree char *driver = sysfs_driver (*d);
      g_autofree char *path = g_build_filename ("/sys/bus/pci/devices", *d,
                                                "driver_override", NULL);
      g_autofree char *override = NULL;

      g_assert_true (g_file_get_contents (path, &override, NULL, NULL));
      g_strstrip (override);
      g_string_append_printf (out, "%s%s/%s", out->len ? " " : "", driver,
                              g_str_equal (override, "(null)") ? "" : override);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

#define HOST_BEFORE "nvidia/ snd_hda_intel/"
#define HOST_AFTER "vfio-pci/vfio-pci vfio-pci/vfio-pci"
#define RECORDS_AFTER                                                          \
  "[" GPU "]\ndriver=nvidia\ndriver-override=\n\n"                             \
  "[" AUDIO "]\ndriver=snd_hda_intel\ndriver-override=\n"

/* The state directory holds the records file and nothing else. */
static void
assert_state_dir_clean (Fixture *fx)
{
  g_autoptr (GDir) dir = g_dir_open (fx->state_dir, 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (dir)) != NULL)
    if (!g_str_equal (name, "bindings"))
      g_error ("%s left in the state directory", name);
}

/* Runs @method on the GPU's group with the daemon set to die at its
 * @at-th kill point; FALSE once it gets through alive. */
static gboolean
kill_during (Fixture *fx, const char *method, guint at, const char *log)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) daemon = NULL;
  g_autofree char *steps = NULL;
  g_autofree char *n = g_strdup_printf ("%u", at);
  g_autofree char *records = NULL;
  g_autofree char *logged = NULL;
  g_autofree char *state = NULL;
  const char *tail;

  pp_test_bus_stop_daemon (fx->bus);
  g_setenv ("PCIPASSD_TEST_KILL_AT", n, TRUE);
  start_daemon (fx, &workstation, NULL);
  g_unsetenv ("PCIPASSD_TEST_KILL_AT");

  steps = call (fx, GPU, method, NULL, &error);
  if (steps != NULL)
    return FALSE;
  daemon = g_steal_pointer (&fx->bus->daemon);
  g_assert_cmpint (pp_test_wait_process (daemon), ==, 128 + SIGKILL);
  pp_fake_kernel_sync (fx->kernel);
  records = read_records (fx);

  /* The next daemon settles what the dead one left, before it serves. */
  {
    g_autofree char *state_arg
        = g_strdup_printf ("--state-dir=%s", fx->state_dir);
    const char *const args[] = { state_arg, "--step-timeout=5", NULL };
    pp_test_bus_start_daemon_logged (fx->bus, args, log);
  }
  state = host_state (fx);
  g_assert_true (g_file_get_contents (log, &logged, NULL, NULL));
  tail = strstr (records, "pending=") != NULL
             ? (strstr (logged, "finishing the") != NULL ? "finished"
                : strstr (logged, "undoing the") != NULL ? "undone"
                                                         : NULL)
             : "nothing pending";
  g_test_message ("%s, killed at point %u: %s; %s", method, at, state,
                  tail != NULL ? tail : "NO LOG LINE");
  if (tail == NULL)
    g_error ("an interrupted %s was settled without a word: %s", method,
             logged);

  g_clear_pointer (&records, g_free);
  records = read_records (fx);
  if (g_str_equal (state, HOST_BEFORE))
    g_assert_cmpstr (records, ==, "");
  else if (g_str_equal (state, HOST_AFTER))
    g_assert_cmpstr (records, ==, RECORDS_AFTER);
  else
    g_error ("%s killed at point %u left the host between states: %s", method,
             at, state);
  assert_state_dir_clean (fx);
  assert_string_property (fx, GPU, "Driver",
                          g_str_equal (state, HOST_BEFORE) ? "nvidia"
                                                           : "vfio-pci");
  return TRUE;
}

static void
test_killed_at_every_point (Fixture *fx, gconstpointer data)
{
  const char *const methods[] = { "Bind", "Unbind" };
  const char *const starts[] = { HOST_BEFORE, HOST_AFTER };
  g_autofree char *log_path = NULL;

  log_path = g_strdup_printf ("%s.log", fx->state_dir);
  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  for (guint m = 0; m < G_N_ELEMENTS (methods); m++)
    {
      guint at;

      for (at = 1; at < 100; at++)
        {
          g_autofree char *state = host_state (fx);

          /* Each round starts where the operation starts. */
          if (!g_str_equal (state, starts[m]))
            {
              g_autoptr (GError) error = NULL;
              g_autofree char *steps
                  = call (fx, GPU, m == 0 ? "Unbind" : "Bind", NULL, &error);
              g_assert_no_error (error);
              g_assert_nonnull (steps);
              g_clear_pointer (&state, g_free);
              state = host_state (fx);
              g_assert_cmpstr (state, ==, starts[m]);
            }
          if (!kill_during (fx, methods[m], at, log_path))
            break;
        }
      /* It got through: every point before was tried. */
      g_test_message ("%s: %u kill points", methods[m], at - 1);
      g_assert_cmpuint (at, >, 10);
      g_assert_cmpuint (at, <, 100);
    }
  g_unlink (log_path);
}

/* A state file a crash or a hand made bad starts the daemon all the
 * same, with the good records, and a word about the bad ones. */
static void
test_bad_state_file (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (fx->state_dir, "bindings", NULL);
  g_autofree char *log_path = g_strdup_printf ("%s.log", fx->state_dir);
  g_autofree char *state_arg
      = g_strdup_printf ("--state-dir=%s", fx->state_dir);
  const char *const args[] = { state_arg, NULL };
  g_autofree char *logged = NULL;
  g_autofree char *steps = NULL;

  pp_test_bus_stop_daemon (fx->bus);
  g_file_set_contents (path,
                       "[" GPU "]\ndriver=\xff\xfe\n"
                       "[" AUDIO "]\ndriver=../../../../tmp/x\n",
                       -1, &error);
  g_assert_no_error (error);
  pp_test_bus_start_daemon_logged (fx->bus, args, log_path);
  assert_string_property (fx, GPU, "Driver", "nvidia");
  assert_string_property (fx, GPU, "OriginalDriver", "");
  assert_string_property (fx, AUDIO, "OriginalDriver", "");
  g_assert_true (g_file_get_contents (log_path, &logged, NULL, NULL));
  g_assert_nonnull (strstr (logged, "line 2: text that is not valid UTF-8"));
  g_assert_nonnull (strstr (logged, "line 4: driver \"../../../../tmp/x\""));

  /* The daemon works on. */
  allow (fx, "io.github.pcipassd.bind", NULL);
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_no_error (error);
  assert_driver (fx, AUDIO, "vfio-pci");
  g_unlink (log_path);
  {
    g_autoptr (GDir) dir = g_dir_open (fx->state_dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name (dir)) != NULL)
      if (g_str_has_prefix (name, "bindings.bad-"))
        {
          g_autofree char *aside = g_build_filename (fx->state_dir, name, NULL);
          g_unlink (aside);
        }
  }
}

static void
test_protected (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  assert_string_property (fx, "0000:00:02.0", "ProtectionReason", "boot-vga");
  assert_string_property (fx, "0000:02:00.0", "ProtectionReason",
                          "mounted-filesystem");
  /* The root port above the root disk is on its path too. */
  assert_string_property (fx, "0000:00:1b.0", "ProtectionReason",
                          "mounted-filesystem");
  assert_string_property (fx, "0000:00:1f.6", "ProtectionReason",
                          "default-route");
  assert_string_property (fx, GPU, "ProtectionReason", "");

  allow (fx, "io.github.pcipassd.bind", NULL);
  steps = call (fx, "0000:00:02.0", "Bind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.Protected");
  g_assert_nonnull (strstr (error->message, "boot-vga"));
  g_clear_error (&error);

  /* force needs its own, stricter action. */
  steps = call (fx, "0000:00:02.0", "Bind", opts ("{'force': <true>}"), &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.NotAuthorized");
  g_clear_error (&error);
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);

  allow (fx, "io.github.pcipassd.bind-protected", NULL);
  steps = call (fx, "0000:00:02.0", "Bind", opts ("{'force': <true>}"), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, "0000:00:02.0:i915>vfio-pci");
  assert_driver (fx, "0000:00:02.0", "vfio-pci");
  g_clear_pointer (&steps, g_free);

  /* The NVMe holding / is refused the same way. */
  steps = call (fx, "0000:02:00.0", "Bind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.Protected");
  g_assert_nonnull (strstr (error->message, "mounted-filesystem"));
}

static void
test_busy_when_in_use (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;
  int fd;

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&steps, g_free);

  /* A VM holds the group open. */
  fd = pp_fake_kernel_open_group (fx->kernel, 2);
  g_assert_cmpint (fd, >=, 0);
  steps = call (fx, AUDIO, "Unbind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.Busy");
  g_assert_nonnull (strstr (error->message, "in use"));
  g_clear_error (&error);
  assert_string_property (fx, GPU, "State", "in-use");
  assert_driver (fx, GPU, "vfio-pci");

  /* Once it lets go, Unbind goes through. */
  close (fd);
  steps = call (fx, AUDIO, "Unbind", NULL, &error);
  g_assert_no_error (error);
  assert_driver (fx, GPU, "nvidia");
  assert_driver (fx, AUDIO, "snd_hda_intel");
}

/* Since 6.6 a VM can hold one device through iommufd, opening its cdev
 * /dev/vfio/devices/vfioN and never the group node: that is in use too.
 * The simulated kernel does not make the cdev, so the test does, as the
 * kernel would on a vfio-pci bind (sysfs DEV/vfio-dev/vfioN and the node). */
static void
test_busy_when_in_use_iommufd (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;
  g_autofree char *root = pp_testbed_get_root (testbed);
  g_autofree char *devpath = pp_testbed_get_devpath (testbed, GPU);
  g_autofree char *cdev_dir
      = g_strconcat (root, devpath, "/vfio-dev/vfio0", NULL);
  g_autofree char *node_dir = g_build_filename (root, "dev/vfio/devices", NULL);
  g_autofree char *node = g_build_filename (node_dir, "vfio0", NULL);
  int fd;

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&steps, g_free);

  g_assert_cmpint (g_mkdir_with_parents (cdev_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (node_dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (node, "", 0, NULL));
  fd = g_open (node, O_RDWR | O_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);

  steps = call (fx, GPU, "Unbind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.Busy");
  g_assert_nonnull (strstr (error->message, "in use"));
  g_clear_error (&error);
  assert_string_property (fx, GPU, "State", "in-use");
  assert_driver (fx, GPU, "vfio-pci");
  assert_driver (fx, AUDIO, "vfio-pci");

  close (fd);
  steps = call (fx, GPU, "Unbind", NULL, &error);
  g_assert_no_error (error);
  assert_driver (fx, GPU, "nvidia");
  g_unlink (node);
  g_rmdir (cdev_dir);
}

/* One asynchronous Bind's answer. */
typedef struct
{
  gboolean done;
  GVariant *reply;
  GError *error;
} Reply;

static void
on_reply (GObject *source, GAsyncResult *result, gpointer data)
{
  Reply *r = data;

  r->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result,
                                            &r->error);
  r->done = TRUE;
}

static void
send_bind (Fixture *fx, const char *address, Reply *r)
{
  g_autofree char *path = path_of (address);

  g_dbus_connection_call (fx->bus->connection, "io.github.pcipassd", path,
                          DEVICE_IFACE, "Bind", g_variant_new ("(a{sv})", NULL),
                          G_VARIANT_TYPE ("(a(sss))"), G_DBUS_CALL_FLAGS_NONE,
                          -1, NULL, on_reply, r);
}

static gboolean
on_reply_timeout (gpointer data)
{
  g_error ("a Bind did not answer");
  return G_SOURCE_REMOVE;
}

static void
wait_reply (Reply *r)
{
  guint timeout_id
      = g_timeout_add_seconds (PP_TEST_TIMEOUT, on_reply_timeout, NULL);

  while (!r->done)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout_id);
}

static void
test_concurrent_binds (Fixture *fx, gconstpointer data)
{
  Reply first = { FALSE, NULL, NULL };
  Reply second = { FALSE, NULL, NULL };
  gint64 deadline = g_get_monotonic_time () + PP_TEST_TIMEOUT * G_USEC_PER_SEC;
  g_autofree char *steps = NULL;

  allow (fx, "io.github.pcipassd.bind", NULL);
  /* The first Bind is held inside the kernel, binding the GPU, while the
   * second asks for the same group through the audio function. */
  pp_fake_kernel_hold (fx->kernel, GPU);
  send_bind (fx, GPU, &first);
  while (pp_fake_kernel_get_n_held (fx->kernel) == 0)
    {
      g_main_context_iteration (NULL, FALSE);
      if (g_get_monotonic_time () > deadline)
        g_error ("the first Bind never reached the kernel");
    }
  send_bind (fx, AUDIO, &second);
  wait_reply (&second);
  g_assert_null (second.reply);
  assert_remote_error (second.error, "io.github.pcipassd.Error.Busy");
  g_assert_nonnull (strstr (second.error->message, "IOMMU group 2"));
  g_assert_false (first.done);

  /* Once the kernel lets go, the first moves the whole group: exactly one
   * success, never a half-moved group. */
  pp_fake_kernel_release (fx->kernel);
  wait_reply (&first);
  g_assert_no_error (first.error);
  steps = g_variant_print (first.reply, FALSE);
  g_assert_cmpstr (steps, ==,
                   "([('" GPU "', 'nvidia', 'vfio-pci'), ('" AUDIO
                   "', 'snd_hda_intel', 'vfio-pci')],)");
  g_variant_unref (first.reply);
  g_clear_error (&second.error);
  assert_driver (fx, GPU, "vfio-pci");
  assert_driver (fx, AUDIO, "vfio-pci");
  g_assert_true (bool_property (fx, GPU, "GroupViable"));
}

static void
assert_invalid_args (Fixture *fx, const char *method, GVariant *params)
{
  g_autofree char *path = path_of (GPU);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      fx->bus->connection, "io.github.pcipassd", path, DEVICE_IFACE, method,
      params, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

  g_assert_null (reply);
  assert_remote_error (error, "org.freedesktop.DBus.Error.InvalidArgs");
  g_assert_cmpuint (strlen (error->message), <, 400);
}

static void
test_bad_arguments (Fixture *fx, gconstpointer data)
{
  g_autofree char *huge = g_strnfill (1 << 20, 'x');
  g_autofree char *steps = NULL;
  g_autoptr (GError) error = NULL;
  GVariantBuilder b;

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  assert_invalid_args (fx, "Bind",
                       g_variant_new_parsed ("({'grup': <true>},)"));
  assert_invalid_args (fx, "Bind",
                       g_variant_new_parsed ("({'group': <'yes'>},)"));
  assert_invalid_args (fx, "Unbind",
                       g_variant_new_parsed ("({'force': <true>},)"));
  assert_invalid_args (fx, "Bind", g_variant_new_parsed ("('0000:01:00.0',)"));
  assert_invalid_args (fx, "Bind", NULL);
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", huge, g_variant_new_boolean (TRUE));
  assert_invalid_args (fx, "Bind", g_variant_new ("(a{sv})", &b));

  /* Nothing moved and the daemon still answers. */
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==,
                   GPU ":nvidia>vfio-pci " AUDIO ":snd_hda_intel>vfio-pci");
}

static gboolean
object_exists (Fixture *fx, const char *address)
{
  g_autofree char *path = path_of (address);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      fx->bus->connection, "io.github.pcipassd", "/io/github/pcipassd",
      "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
      G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
      &error);
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GVariant) found = NULL;

  g_assert_no_error (error);
  objects = g_variant_get_child_value (reply, 0);
  found = g_variant_lookup_value (objects, path, NULL);
  return found != NULL;
}

static void
test_removed_mid_operation (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  allow (fx, "io.github.pcipassd.bind", NULL);
  pp_fake_kernel_set_vanish_on_bind (fx->kernel, AUDIO);
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.NotFound");
  g_assert_nonnull (strstr (error->message, AUDIO));
  g_assert_nonnull (strstr (error->message, "rolled back"));

  /* The GPU went back; the audio function's object is gone with it. */
  assert_driver (fx, GPU, "nvidia");
  g_assert_false (object_exists (fx, AUDIO));
  g_assert_true (object_exists (fx, GPU));
}

static void
test_bridge_refused_by_kernel (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  /* vfio-pci refuses bridges; asked for one explicitly, the error comes
   * from the kernel step and the bridge is given back. */
  allow (fx, "io.github.pcipassd.bind", NULL);
  steps = call (fx, ROOT_PORT, "Bind", opts ("{'group': <false>}"), &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.Kernel");
  g_assert_nonnull (strstr (error->message, ROOT_PORT));
  assert_driver (fx, ROOT_PORT, "pcieport");
  assert_string_property (fx, ROOT_PORT, "DriverOverride", "");
}

static void
test_lpc_moves_with_group (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  /* ICH9's functions share a group; its LPC bridge (class 0x0601) is an
   * endpoint on lpc_ich: left behind it keeps the group from a VM, so it
   * moves with the AHCI controller asked for (seen on a real kernel). */
  pp_testbed_load_data (testbed,
                        "[0000:c5:1f.0]\nvendor=8086\ndevice=2918\n"
                        "class=060100\ndriver=lpc_ich\niommu_group=95\n"
                        "[0000:c5:1f.2]\nvendor=8086\ndevice=2922\n"
                        "class=010601\ndriver=ahci\niommu_group=95\n"
                        "[0000:c5:1f.3]\nvendor=8086\ndevice=2930\n"
                        "class=0c0500\ndriver=i801_smbus\niommu_group=95\n",
                        -1, "ich9", &error);
  g_assert_no_error (error);
  pp_fake_kernel_rescan (fx->kernel);
  allow (fx, "io.github.pcipassd.bind", NULL);

  steps = call (fx, "0000:c5:1f.2", "Bind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==,
                   "0000:c5:1f.0:lpc_ich>vfio-pci 0000:c5:1f.2:ahci>vfio-pci "
                   "0000:c5:1f.3:i801_smbus>vfio-pci");
  assert_driver (fx, "0000:c5:1f.0", "vfio-pci");
  g_assert_true (bool_property (fx, "0000:c5:1f.2", "GroupViable"));
}

static void
test_no_iommu_group (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  allow (fx, "io.github.pcipassd.bind", NULL);
  steps
      = call (fx, "10000:01:00.0", "Bind", opts ("{'force': <true>}"), &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.IommuDisabled");
}

static void
test_sriov_vf (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  /* VF2 has the override already and no driver: binding completes it;
   * Unbind gives it back as it was (override vfio-pci, no driver). */
  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  steps = call (fx, "0000:3b:02.2", "Bind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, "0000:3b:02.2:>vfio-pci");
  assert_driver (fx, "0000:3b:02.2", "vfio-pci");
  g_clear_pointer (&steps, g_free);

  steps = call (fx, "0000:3b:02.2", "Unbind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, "0000:3b:02.2:vfio-pci>");
  assert_driver (fx, "0000:3b:02.2", "");
  assert_string_property (fx, "0000:3b:02.2", "DriverOverride", "vfio-pci");
  g_clear_pointer (&steps, g_free);

  /* VF1 was put on vfio-pci by someone else, with no record of its host
   * driver: Unbind lets the kernel pick, and the kernel's own matching
   * picks vfio-pci again (its id table has the VF, as after new_id). */
  steps = call (fx, "0000:3b:02.1", "Unbind", NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (steps, "0000:3b:02.1:vfio-pci>"));
  pp_fake_kernel_sync (fx->kernel);
  g_clear_pointer (&steps, g_free);
  steps = sysfs_driver ("0000:3b:02.1");
  g_assert_cmpstr (steps, ==, "vfio-pci");
}

static void
test_interactive_flag (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;
  g_autofree char *log = NULL;
  g_auto (GStrv) lines = NULL;
  guint checks = 0;

  steps = call_full (fx, GPU, "Bind", NULL, G_DBUS_CALL_FLAGS_NONE, &error);
  g_assert_null (steps);
  g_clear_error (&error);
  steps = call_full (fx, GPU, "Bind", NULL,
                     G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, &error);
  g_assert_null (steps);

  /* The mock logs "CheckAuthorization (subject) "action" {details} flags
   * "cancellation_id"": interaction (flag 1) only for the second call,
   * and the subject is the caller's bus name. */
  log = pp_test_bus_polkit_log (fx->bus);
  lines = g_strsplit (log, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      if (strstr (*l, "CheckAuthorization") == NULL)
        continue;
      g_test_message ("%s", *l);
      g_assert_nonnull (strstr (*l, "io.github.pcipassd.bind"));
      g_assert_nonnull (
          strstr (*l, g_dbus_connection_get_unique_name (fx->bus->connection)));
      g_assert_nonnull (strstr (*l, "\"device\": \"" GPU "\""));
      g_assert_true (
          g_str_has_suffix (*l, checks == 0 ? " 0 \"\"" : " 1 \"\""));
      checks++;
    }
  g_assert_cmpuint (checks, ==, 2);
}

static void
test_read_only (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  pp_test_bus_stop_daemon (fx->bus);
  start_daemon (fx, &workstation, "--read-only");
  allow (fx, "io.github.pcipassd.bind", NULL);

  steps = call (fx, GPU, "Bind", opts ("{'dry_run': <true>}"), &error);
  g_assert_no_error (error);
  g_clear_pointer (&steps, g_free);
  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.ReadOnly");
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);
}

static void
test_no_polkit (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *steps = NULL;

  /* No polkitd at all: deny, write nothing. */
  g_subprocess_send_signal (fx->bus->polkitd, SIGTERM);
  pp_test_wait_process (fx->bus->polkitd);
  g_clear_object (&fx->bus->polkitd);
  pp_test_bus_wait_name (fx->bus, "org.freedesktop.PolicyKit1", FALSE);

  steps = call (fx, GPU, "Bind", NULL, &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.NotAuthorized");
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);
}

/* A daemon that never had a polkitd to ask: every state-changing call is
 * refused and nothing is written, records included. */
static void
test_no_polkit_from_start (Fixture *fx, gconstpointer data)
{
  const char *const methods[] = { "Bind", "Unbind" };
  g_autofree char *records = NULL;

  pp_test_bus_stop_daemon (fx->bus);
  g_subprocess_send_signal (fx->bus->polkitd, SIGTERM);
  pp_test_wait_process (fx->bus->polkitd);
  g_clear_object (&fx->bus->polkitd);
  pp_test_bus_wait_name (fx->bus, "org.freedesktop.PolicyKit1", FALSE);
  start_daemon (fx, &workstation, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *steps = NULL;

      /* Unbind has nothing to do on the host driver: use the force option
       * on the boot VGA for a third action instead. */
      steps = call (fx, GPU, methods[i], NULL, &error);
      if (i == 1)
        {
          g_assert_no_error (error); /* nothing to do, nothing asked */
          g_assert_cmpstr (steps, ==, "");
          continue;
        }
      g_assert_null (steps);
      assert_remote_error (error, "io.github.pcipassd.Error.NotAuthorized");
    }
  {
    g_autoptr (GError) error = NULL;
    g_autofree char *steps
        = call (fx, "0000:00:02.0", "Bind", opts ("{'force': <true>}"), &error);
    g_assert_null (steps);
    assert_remote_error (error, "io.github.pcipassd.Error.NotAuthorized");
  }
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);
  records = read_records (fx);
  g_assert_cmpstr (records, ==, "");
}

/* pci-stub, a vfio-pci variant and pcieport all leave DMA to VFIO, so
 * their groups are viable; a host driver in the group is not. */
static void
test_stub_and_variants_viable (Fixture *fx, gconstpointer data)
{
  static const struct
  {
    const char *address;
    gboolean viable;
    const char *state;
  } expected[] = {
    { "0000:f1:00.0", TRUE, "vfio" },  { "0000:f1:00.1", TRUE, "host" },
    { "0000:f2:00.0", TRUE, "vfio" },  { "0000:f3:00.0", FALSE, "vfio" },
    { "0000:f3:00.1", FALSE, "host" }, { "0000:f5:00.0", TRUE, "vfio" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      if (bool_property (fx, expected[i].address, "GroupViable")
          != expected[i].viable)
        g_error ("%s: GroupViable is not %s", expected[i].address,
                 expected[i].viable ? "true" : "false");
      assert_string_property (fx, expected[i].address, "State",
                              expected[i].state);
    }

  /* Unbind gives the variant's device back like any vfio device: it has
   * no record, so the kernel picks its driver. */
  {
    g_autoptr (GError) error = NULL;
    g_autofree char *steps = call (fx, "0000:f2:00.0", "Unbind",
                                   opts ("{'dry_run': <true>}"), &error);
    g_assert_no_error (error);
    g_assert_cmpstr (steps, ==, "0000:f2:00.0:mlx5_vfio_pci>");
  }
}

/* A driver whose unbind never returns, as nvidia's does while its users
 * hold the GPU: the write(2) blocks in the kernel.  The GPU at @address is
 * moved to it; its unbind file is a FIFO that the test holds open for
 * reading (@reader) and has filled, so the daemon's open(2) returns and its
 * write(2) blocks until the test drains the pipe.  (A blocked open(2)
 * would not do: the umockdev preload holds one lock across every open.)
 * Returns the FIFO's path. */
static char *
hang_unbind (const char *address, int *reader, int *filler)
{
  g_autofree char *root = pp_testbed_get_root (testbed);
  g_autofree char *dir
      = g_build_filename (root, "sys/bus/pci/drivers/hung", NULL);
  g_autofree char *bind = g_build_filename (dir, "bind", NULL);
  char *fifo = g_build_filename (dir, "unbind", NULL);
  g_autofree char *devpath = pp_testbed_get_devpath (testbed, address);
  g_autofree char *link = g_strconcat (root, devpath, "/driver", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  g_autofree char *parent = NULL;
  g_autofree char *hung = NULL;

  g_assert_nonnull (target);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_assert_true (g_file_set_contents (bind, "", 0, NULL));
  g_assert_cmpint (mkfifo (fifo, 0644), ==, 0);
  *reader = open (fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  g_assert_cmpint (*reader, >=, 0);
  *filler = open (fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  g_assert_cmpint (*filler, >=, 0);
  {
    char block[4096] = { 0 };
    while (write (*filler, block, sizeof block) > 0)
      ;
    g_assert_cmpint (errno, ==, EAGAIN);
  }
  parent = g_path_get_dirname (target);
  hung = g_build_filename (parent, "hung", NULL);
  g_assert_cmpint (g_unlink (link), ==, 0);
  g_assert_cmpint (symlink (hung, link), ==, 0);
  return fifo;
}

/* While one Bind is stuck in the kernel, other groups bind and reads
 * answer; the stuck call ends with a Kernel error that says what to do,
 * and its group stays busy until the kernel returns. */
static void
test_hung_step (Fixture *fx, gconstpointer data)
{
  const char *stuck_gpu = "0000:1a:00.0";
  g_autofree char *fifo = NULL;
  g_autofree char *steps = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) objects = NULL;
  Reply stuck = { FALSE, NULL, NULL };
  gint64 deadline;
  int reader;
  int filler;

  pp_test_bus_stop_daemon (fx->bus);
  fifo = hang_unbind (stuck_gpu, &reader, &filler);
  start_daemon (fx, &server_fast, NULL);
  assert_string_property (fx, stuck_gpu, "Driver", "hung");
  allow (fx, "io.github.pcipassd.bind", NULL);

  {
    g_autofree char *path = path_of (stuck_gpu);
    g_dbus_connection_call (fx->bus->connection, "io.github.pcipassd", path,
                            DEVICE_IFACE, "Bind",
                            g_variant_new_parsed ("({'group': <false>},)"),
                            G_VARIANT_TYPE ("(a(sss))"), G_DBUS_CALL_FLAGS_NONE,
                            -1, NULL, on_reply, &stuck);
  }

  /* Another group moves, and the whole tree can be read, meanwhile. */
  steps = call (fx, "0000:af:00.0", "Bind", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (steps, ==, "0000:af:00.0:mlx5_core>vfio-pci");
  objects = g_dbus_connection_call_sync (
      fx->bus->connection, "io.github.pcipassd", "/io/github/pcipassd",
      "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL, NULL,
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (stuck.done);

  wait_reply (&stuck);
  g_assert_null (stuck.reply);
  assert_remote_error (stuck.error, "io.github.pcipassd.Error.Kernel");
  g_test_message ("%s", stuck.error->message);
  g_assert_nonnull (strstr (stuck.error->message, "has not returned"));
  g_assert_nonnull (strstr (stuck.error->message, "dmesg"));
  g_assert_nonnull (strstr (stuck.error->message, "IOMMU group 31"));
  g_clear_pointer (&steps, g_free);

  /* Its group is still in the kernel's hands. */
  steps
      = call (fx, "0000:1b:00.0", "Bind", opts ("{'group': <false>}"), &error);
  g_assert_null (steps);
  assert_remote_error (error, "io.github.pcipassd.Error.Busy");
  g_clear_error (&error);

  /* The kernel returns at last: the group is free again.  The rollback
   * writes the unbind file again; keep the pipe drained meanwhile. */
  close (filler);
  deadline = g_get_monotonic_time () + PP_TEST_TIMEOUT * G_USEC_PER_SEC;
  for (;;)
    {
      steps = call (fx, "0000:1b:00.0", "Bind",
                    opts ("{'group': <false>, 'dry_run': <true>}"), &error);
      if (steps != NULL)
        break;
      assert_remote_error (error, "io.github.pcipassd.Error.Busy");
      g_clear_error (&error);
      if (g_get_monotonic_time () > deadline)
        g_error ("IOMMU group 31 stayed busy after the kernel returned");
      {
        char drain[65536];
        while (read (reader, drain, sizeof drain) > 0)
          ;
      }
      g_main_context_iteration (NULL, FALSE);
    }
  close (reader);
  g_unlink (fifo);
}

static char *
run_ctl (const char *const *args, char **err, int expected_status)
{
  int status;
  char *out = pp_test_run_ctl (args, err, &status);

  if (status != expected_status)
    g_error ("pcipassctl exited %d, expected %d; stderr: %s", status,
             expected_status, *err);
  return out;
}

static void
test_ctl_bind_unbind (Fixture *fx, gconstpointer data)
{
  const char *const plan_args[] = { "bind", "01:00.0", "--dry-run", NULL };
  const char *const bind_args[] = { "bind", "01:00.0", NULL };
  /* Options before the command go to the command. */
  const char *const json_args[] = { "--json", "unbind", "01:00.1", NULL };
  const char *const vga_args[] = { "bind", "00:02.0", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  out = run_ctl (plan_args, &err, 0);
  g_assert_cmpstr (out, ==,
                   "Plan:\n"
                   "  0000:01:00.0  nvidia -> vfio-pci\n"
                   "  0000:01:00.1  snd_hda_intel -> vfio-pci\n");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Denied: exit 1, polkit named, nothing moved. */
  out = run_ctl (bind_args, &err, 1);
  g_assert_nonnull (strstr (err, "pcipassctl: error: "));
  g_assert_nonnull (strstr (err, "not authorized"));
  assert_driver (fx, GPU, "nvidia");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  out = run_ctl (bind_args, &err, 0);
  g_assert_cmpstr (out, ==,
                   "Plan:\n"
                   "  0000:01:00.0  nvidia -> vfio-pci\n"
                   "  0000:01:00.1  snd_hda_intel -> vfio-pci\n"
                   "moved 0000:01:00.0: nvidia -> vfio-pci\n"
                   "moved 0000:01:00.1: snd_hda_intel -> vfio-pci\n");
  assert_driver (fx, AUDIO, "vfio-pci");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  out = run_ctl (json_args, &err, 0);
  g_assert_cmpstr (out, ==,
                   "{\n"
                   "  \"steps\" : [\n"
                   "    {\n"
                   "      \"address\" : \"0000:01:00.0\",\n"
                   "      \"from\" : \"vfio-pci\",\n"
                   "      \"to\" : \"nvidia\"\n"
                   "    },\n"
                   "    {\n"
                   "      \"address\" : \"0000:01:00.1\",\n"
                   "      \"from\" : \"vfio-pci\",\n"
                   "      \"to\" : \"snd_hda_intel\"\n"
                   "    }\n"
                   "  ]\n"
                   "}\n");
  assert_driver (fx, GPU, "nvidia");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A protected device: exit 1 with the reason and a hint. */
  out = run_ctl (vga_args, &err, 1);
  g_assert_nonnull (strstr (err, "boot-vga"));
  g_assert_nonnull (strstr (err, "--force"));
}

/* bind --no-group that splits the group: done, rc 0, but the members left
 * on their host driver are named, on stderr and in the JSON. */
static void
test_ctl_split_bind (Fixture *fx, gconstpointer data)
{
  const char *const split_args[] = { "bind", "01:00.1", "--no-group", NULL };
  const char *const json_args[]
      = { "bind", "01:00.1", "--no-group", "--json", NULL };
  const char *const unbind_args[] = { "unbind", "01:00.1", NULL };
  const char *const whole_args[] = { "bind", "01:00.0", "--json", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  allow (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  out = run_ctl (split_args, &err, 0);
  assert_driver (fx, AUDIO, "vfio-pci");
  g_assert_cmpstr (err, ==,
                   "pcipassctl: warning: IOMMU group 2 is split, so no VM "
                   "can use it:\n"
                   "  0000:01:00.0 stays on nvidia\n"
                   "pcipassctl: bind without --no-group to move the whole "
                   "group.\n");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_free (run_ctl (unbind_args, &err, 0));
  g_clear_pointer (&err, g_free);
  out = run_ctl (json_args, &err, 0);
  g_assert_nonnull (strstr (out, "\"left_behind\" : [\n"
                                 "    {\n"
                                 "      \"address\" : \"0000:01:00.0\",\n"
                                 "      \"driver\" : \"nvidia\"\n"));
  g_assert_nonnull (strstr (err, "0000:01:00.0 stays on nvidia"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* The whole group: nothing left behind, no warning. */
  g_free (run_ctl (unbind_args, &err, 0));
  g_clear_pointer (&err, g_free);
  out = run_ctl (whole_args, &err, 0);
  g_assert_nonnull (strstr (out, "\"left_behind\" : []"));
  g_assert_cmpstr (err, ==, "");
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

#define ADD(name, setup, func)                                                 \
  g_test_add (name, Fixture, &setup, fixture_setup, func, fixture_teardown)

  ADD ("/bind/denied-then-allowed", workstation, test_bind_denied_then_allowed);
  ADD ("/unbind/denied-then-allowed", workstation,
       test_unbind_denied_then_allowed);
  ADD ("/bind/dry-run", workstation, test_dry_run);
  ADD ("/bind/no-group", workstation, test_no_group);
  ADD ("/bind/idempotent", workstation, test_idempotent);
  ADD ("/bind/rollback", workstation_fast, test_rollback);
  ADD ("/bind/restore-after-restart", workstation, test_restore_after_restart);
  ADD ("/bind/crash-between-steps", workstation, test_crash_between_steps);
  ADD ("/bind/killed-at-every-point", workstation, test_killed_at_every_point);
  ADD ("/bind/bad-state-file", workstation, test_bad_state_file);
  ADD ("/bind/protected", workstation, test_protected);
  ADD ("/unbind/busy-when-in-use", workstation, test_busy_when_in_use);
  ADD ("/unbind/busy-when-in-use-iommufd", workstation,
       test_busy_when_in_use_iommufd);
  ADD ("/bind/concurrent", workstation, test_concurrent_binds);
  ADD ("/bind/bad-arguments", workstation, test_bad_arguments);
  ADD ("/bind/removed-mid-operation", workstation_fast,
       test_removed_mid_operation);
  ADD ("/bind/bridge-refused", workstation_fast, test_bridge_refused_by_kernel);
  ADD ("/bind/no-iommu-group", server, test_no_iommu_group);
  ADD ("/bind/lpc-moves-with-group", workstation, test_lpc_moves_with_group);
  ADD ("/bind/sriov-vf", server, test_sriov_vf);
  ADD ("/bind/hung-step", server_fast, test_hung_step);
  ADD ("/bind/stub-and-variants-viable", stub_variants,
       test_stub_and_variants_viable);
  ADD ("/polkit/interactive-flag", workstation, test_interactive_flag);
  ADD ("/polkit/absent", workstation, test_no_polkit);
  ADD ("/polkit/absent-from-start", workstation, test_no_polkit_from_start);
  ADD ("/bind/read-only", workstation, test_read_only);
  ADD ("/client/bind-unbind", workstation, test_ctl_bind_unbind);
  ADD ("/client/split-bind", workstation, test_ctl_split_bind);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
