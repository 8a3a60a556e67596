/* Devices as resources, end to end: the catalog names them, the manager
 * counts them, and reloads change names without touching anything else.
 * pcipassd runs as its own process on a private bus against a simulated
 * host (pp-fake-kernel.c); polkit is python3-dbusmock's polkitd. */
#include "config.h"

#include "pp-address.h"
#include "pp-fake-kernel.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <glib/gstdio.h>
#include <signal.h>

#define MANAGER_IFACE "io.github.pcipassd1.Manager"
#define MANAGER_PATH "/io/github/pcipassd/manager"
/* server.topo: two A100s (10de:20b0, class 030200) in group 31. */
#define GPU0 "0000:1a:00.0"
#define GPU1 "0000:1b:00.0"
#define CX5 "0000:af:00.0"

static UMockdevTestbed *testbed;

/* The seed's example (libvirt-provider), whose GA100 id is a class code. */
static const char seed_catalog[]
    = "vendors:\n"
      "  - id: \"0x10de\"  # NVIDIA vendor ID\n"
      "    name: nvidia\n"
      "    devices:\n"
      "      - id: \"0x030200\"  # Device ID for the NVIDIA GA100 GPU\n"
      "        name: ga100gl.rev.a1\n"
      "        type: gpu\n"
      "  - id: \"0x8086\"  # Intel vendor ID\n"
      "    name: intel\n"
      "    devices:\n"
      "      - id: \"0x100f\"  # Device ID for an Intel network adapter\n"
      "        name: x520-da2\n"
      "        type: network\n";

typedef struct
{
  PpFakeKernel *kernel;
  PpTestBus *bus;
  char *state_dir;
  char *catalog;
  char *log;
} Fixture;

static void
write_catalog (Fixture *fx, const char *text)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (fx->catalog, text, -1, &error);
  g_assert_no_error (error);
}

static void
start_daemon (Fixture *fx)
{
  g_autofree char *state = g_strdup_printf ("--state-dir=%s", fx->state_dir);
  g_autofree char *catalog = g_strdup_printf ("--catalog=%s", fx->catalog);
  const char *const args[] = { state, catalog, "--step-timeout=5", NULL };

  pp_test_bus_start_daemon_logged (fx->bus, args, fx->log);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  const char *catalog = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path ("server");

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);
  fx->kernel = pp_fake_kernel_new (testbed);

  fx->state_dir = pp_test_make_state_dir ();
  fx->catalog = g_build_filename (fx->state_dir, "devices.yaml", NULL);
  fx->log = g_build_filename (fx->state_dir, "daemon.log", NULL);
  if (catalog != NULL)
    write_catalog (fx, catalog);
  fx->bus = pp_test_bus_new (TRUE);
  start_daemon (fx);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autoptr (GDir) dir = NULL;
  const char *name;

  g_clear_pointer (&fx->bus, pp_test_bus_free);
  g_clear_pointer (&fx->kernel, pp_fake_kernel_free);
  dir = g_dir_open (fx->state_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *file = g_build_filename (fx->state_dir, name, NULL);
      g_unlink (file);
    }
  g_rmdir (fx->state_dir);
  g_free (fx->state_dir);
  g_free (fx->catalog);
  g_free (fx->log);
}

static char *
property_text (Fixture *fx, const char *address, const char *name)
{
  g_autoptr (GVariant) value
      = pp_test_bus_get_property (fx->bus, address, name);

  return g_variant_print (value, FALSE);
}

static void
assert_property (Fixture *fx,
                 const char *address,
                 const char *name,
                 const char *expected)
{
  g_autofree char *text = property_text (fx, address, name);

  if (!g_str_equal (text, expected))
    g_error ("%s %s is %s, expected %s", address, name, text, expected);
}

static char *
manager_text (Fixture *fx, const char *name)
{
  g_autoptr (GVariant) value = pp_test_bus_get_manager_property (fx->bus, name);

  return g_variant_print (value, FALSE);
}

static void
assert_manager (Fixture *fx, const char *name, const char *expected)
{
  g_autofree char *text = manager_text (fx, name);

  if (!g_str_equal (text, expected))
    g_error ("Manager %s is %s, expected %s", name, text, expected);
}

static gboolean
reload (Fixture *fx, GError **error)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      fx->bus->connection, "io.github.pcipassd", MANAGER_PATH, MANAGER_IFACE,
      "ReloadCatalog", g_variant_new ("(a{sv})", NULL), G_VARIANT_TYPE ("()"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);

  return reply != NULL;
}

static void
allow (Fixture *fx, const char *action)
{
  const char *const actions[] = { action, NULL };

  pp_test_bus_set_allowed (fx->bus, actions);
}

static char *
read_log (Fixture *fx)
{
  char *text = NULL;

  g_assert_true (g_file_get_contents (fx->log, &text, NULL, NULL));
  return text;
}

static void
test_seed_catalog (Fixture *fx, gconstpointer data)
{
  g_autofree char *log = NULL;

  assert_property (fx, GPU0, "ResourceName", "'gpu.nvidia/ga100gl.rev.a1'");
  assert_property (fx, GPU1, "ResourceName", "'gpu.nvidia/ga100gl.rev.a1'");
  assert_property (fx, GPU0, "Type", "'gpu'");
  /* Not in the catalog. */
  assert_property (fx, CX5, "ResourceName", "''");
  assert_property (fx, "0000:19:00.0", "ResourceName", "''");
  assert_manager (fx, "Resources", "{'gpu.nvidia/ga100gl.rev.a1': (2, 2)}");
  assert_manager (fx, "CatalogError", "''");

  /* The class-code id is taken, and the log says how. */
  log = read_log (fx);
  g_assert_nonnull (strstr (log, "devices.yaml:5:13: id 0x030200 of "
                                 "nvidia/ga100gl.rev.a1 has 6 hex digits: "
                                 "it is matched against the class code"));
}

static void
test_no_catalog (Fixture *fx, gconstpointer data)
{
  assert_property (fx, GPU0, "ResourceName", "''");
  assert_property (fx, GPU0, "Type", "'gpu'");
  assert_manager (fx, "Resources", "{}");
  assert_manager (fx, "CatalogError", "''");
}

static void
test_bad_catalog_at_start (Fixture *fx, gconstpointer data)
{
  g_autoptr (GVariant) error
      = pp_test_bus_get_manager_property (fx->bus, "CatalogError");
  g_autofree char *expected = g_strdup_printf (
      "%s:3:4: did not find expected '-' indicator (while parsing a block "
      "collection that starts at 2:3)",
      fx->catalog);

  /* It started, with nothing named, and says why. */
  g_assert_cmpstr (g_variant_get_string (error, NULL), ==, expected);
  assert_property (fx, GPU0, "ResourceName", "''");
  assert_manager (fx, "Resources", "{}");
}

static const char other_catalog[]
    = "vendors:\n"
      "  - id: '10de'\n"
      "    name: nvidia\n"
      "    devices:\n"
      "      - {id: '20b0', name: a100-sxm4-40gb, type: gpu}\n"
      "  - id: '15b3'\n"
      "    name: mellanox\n"
      "    devices:\n"
      "      - {id: '1017', name: connectx-5, type: other}\n";

static void
test_reload (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *message = NULL;
  g_autofree char *published = NULL;

  /* Not authorized: nothing read, nothing changed. */
  write_catalog (fx, other_catalog);
  g_assert_false (reload (fx, &error));
  pp_test_assert_remote_error (error, "io.github.pcipassd.Error.NotAuthorized");
  g_clear_error (&error);
  assert_property (fx, GPU0, "ResourceName", "'gpu.nvidia/ga100gl.rev.a1'");
  g_assert_nonnull (
      strstr (pp_test_bus_polkit_log (fx->bus), "io.github.pcipassd.manage"));

  /* A bad file: the error names file, line and column, the old catalog
   * stays, and the manager shows the error until a good file loads. */
  allow (fx, "io.github.pcipassd.manage");
  write_catalog (fx, "vendors:\n"
                     "  - id: '10de'\n"
                     "    name: nvidia\n"
                     "    devices:\n"
                     "      - {id: '20b0', name: a100, type: gpu, slot: 3}\n");
  g_assert_false (reload (fx, &error));
  pp_test_assert_remote_error (error, "io.github.pcipassd.Error.Config");
  message = g_strdup_printf ("%s:5:45: unknown key \"slot\"", fx->catalog);
  if (strstr (error->message, message) == NULL)
    g_error ("\"%s\" does not say \"%s\"", error->message, message);
  g_clear_error (&error);
  assert_property (fx, GPU0, "ResourceName", "'gpu.nvidia/ga100gl.rev.a1'");
  published = manager_text (fx, "CatalogError");
  g_assert_nonnull (strstr (published, message));
  assert_manager (fx, "Resources", "{'gpu.nvidia/ga100gl.rev.a1': (2, 2)}");

  /* A good one: new names and types, the error gone. */
  write_catalog (fx, other_catalog);
  g_assert_true (reload (fx, &error));
  g_assert_no_error (error);
  assert_property (fx, GPU0, "ResourceName", "'gpu.nvidia/a100-sxm4-40gb'");
  assert_property (fx, CX5, "ResourceName", "'other.mellanox/connectx-5'");
  /* The catalog's type, not the class's (network). */
  assert_property (fx, CX5, "Type", "'other'");
  assert_manager (fx, "CatalogError", "''");
  assert_manager (fx, "Resources",
                  "{'gpu.nvidia/a100-sxm4-40gb': (2, 2), "
                  "'other.mellanox/connectx-5': (2, 2)}");

  /* SIGHUP does the same, with no one to tell but the bus. */
  write_catalog (fx, seed_catalog);
  g_subprocess_send_signal (fx->bus->daemon, SIGHUP);
  pp_test_bus_wait_property (fx->bus, CX5, "ResourceName", "''");
  assert_property (fx, CX5, "Type", "'network'");
  assert_property (fx, GPU0, "ResourceName", "'gpu.nvidia/ga100gl.rev.a1'");

  /* Bad options are refused before polkit is asked. */
  {
    g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
        fx->bus->connection, "io.github.pcipassd", MANAGER_PATH, MANAGER_IFACE,
        "ReloadCatalog",
        g_variant_new ("(@a{sv})", pp_test_options ("{'force': <true>}")),
        G_VARIANT_TYPE ("()"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

    g_assert_null (reply);
    pp_test_assert_remote_error (error,
                                 "org.freedesktop.DBus.Error.InvalidArgs");
  }
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

#define ADD(name, catalog, func)                                               \
  g_test_add (name, Fixture, catalog, fixture_setup, func, fixture_teardown)

  ADD ("/catalog/seed", seed_catalog, test_seed_catalog);
  ADD ("/catalog/none", NULL, test_no_catalog);
  ADD ("/catalog/bad-at-start", "vendors:\n  - id: 1\n   name: x\n",
       test_bad_catalog_at_start);
  ADD ("/catalog/reload", seed_catalog, test_reload);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
