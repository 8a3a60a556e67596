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
#include <string.h>

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
  char *added_owner; /* Owner (or Driver) in the last InterfacesAdded */
  gboolean added;    /* such a signal came */
  const char *step_timeout;
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
  g_autofree char *timeout = g_strdup_printf (
      "--step-timeout=%s", fx->step_timeout != NULL ? fx->step_timeout : "5");
  const char *const args[] = { state, catalog, timeout, NULL };

  pp_test_bus_start_daemon_logged (fx->bus, args, fx->log);
}

typedef struct
{
  const char *fixture;
  const char *catalog;
  const char *step_timeout;
} Setup;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  const Setup *setup = data;
  const char *catalog = setup->catalog;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path (setup->fixture);

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);
  fx->kernel = pp_fake_kernel_new (testbed);

  fx->state_dir = pp_test_make_state_dir ();
  fx->catalog = g_build_filename (fx->state_dir, "devices.yaml", NULL);
  fx->log = g_build_filename (fx->state_dir, "daemon.log", NULL);
  if (catalog != NULL)
    write_catalog (fx, catalog);
  fx->step_timeout = setup->step_timeout;
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
  g_free (fx->added_owner);
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

static GVariant *call_on (GDBusConnection *connection,
                          const char *address,
                          const char *method,
                          GVariant *parameters,
                          GError **error);
static gboolean reserve_on (GDBusConnection *connection,
                            const char *address,
                            const char *owner,
                            const char *options,
                            GError **error);
static void allow2 (Fixture *fx, const char *action1, const char *action2);

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
  {
    g_autofree char *polkit = pp_test_bus_polkit_log (fx->bus);
    g_assert_nonnull (strstr (polkit, "io.github.pcipassd.manage"));
  }

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

  /* A good one, while a device is leased: new names and types, the
   * error gone, the lease untouched. */
  allow2 (fx, "io.github.pcipassd.manage", "io.github.pcipassd.reserve");
  g_assert_true (reserve_on (fx->bus->connection, GPU1, "vm-1", NULL, &error));
  g_assert_no_error (error);
  write_catalog (fx, other_catalog);
  g_assert_true (reload (fx, &error));
  g_assert_no_error (error);
  assert_property (fx, GPU1, "Owner", "'vm-1'");
  assert_manager (fx, "Leases", "{'0000:1b:00.0': 'vm-1'}");
  {
    g_autoptr (GVariant) released
        = call_on (fx->bus->connection, GPU1, "Release",
                   g_variant_new ("(@a{sv})", pp_test_options ("{}")), &error);
    g_assert_no_error (error);
    g_assert_nonnull (released);
  }
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

static char *ctl (int expected_status, char **err, const char *first, ...)
    G_GNUC_NULL_TERMINATED;

/* A connection of its own to the test bus: another client. */
static GDBusConnection *
new_connection (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *c = g_dbus_connection_new_for_address_sync (
      fx->bus->address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);

  g_assert_no_error (error);
  return c;
}

/* ---- leases ---- */

#define DEVICE_IFACE "io.github.pcipassd1.Device"
/* server.topo: the ConnectX-5's second port, alone in group 82. */
#define CX5_1 "0000:af:00.1"

static GVariant *
call_on (GDBusConnection *connection,
         const char *address,
         const char *method,
         GVariant *parameters,
         GError **error)
{
  g_autofree char *path = pp_address_to_object_path (address);

  return g_dbus_connection_call_sync (connection, "io.github.pcipassd", path,
                                      DEVICE_IFACE, method, parameters, NULL,
                                      G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
}

static gboolean
reserve_on (GDBusConnection *connection,
            const char *address,
            const char *owner,
            const char *options,
            GError **error)
{
  g_autoptr (GVariant) reply = call_on (
      connection, address, "Reserve",
      g_variant_new ("(s@a{sv})", owner,
                     pp_test_options (options != NULL ? options : "{}")),
      error);

  return reply != NULL;
}

static gboolean
reserve (Fixture *fx, const char *address, const char *owner, GError **error)
{
  return reserve_on (fx->bus->connection, address, owner, NULL, error);
}

static gboolean
release (Fixture *fx, const char *address, const char *options, GError **error)
{
  g_autoptr (GVariant) reply = call_on (
      fx->bus->connection, address, "Release",
      g_variant_new ("(@a{sv})",
                     pp_test_options (options != NULL ? options : "{}")),
      error);

  return reply != NULL;
}

static gboolean
bind (Fixture *fx, const char *address, const char *options, GError **error)
{
  g_autoptr (GVariant) reply = call_on (
      fx->bus->connection, address, "Bind",
      g_variant_new ("(@a{sv})",
                     pp_test_options (options != NULL ? options : "{}")),
      error);

  return reply != NULL;
}

static void
allow2 (Fixture *fx, const char *action1, const char *action2)
{
  const char *const actions[] = { action1, action2, NULL };

  pp_test_bus_set_allowed (fx->bus, actions);
}

static void
expect_error (gboolean ok, GError **error, const char *name)
{
  g_assert_false (ok);
  pp_test_assert_remote_error (*error, name);
  g_clear_error (error);
}

#define RESERVED "io.github.pcipassd.Error.Reserved"
#define NOT_AUTHORIZED "io.github.pcipassd.Error.NotAuthorized"
#define INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"

static void
test_reserve_release (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *log = NULL;

  /* Denied: nothing leased. */
  expect_error (reserve (fx, GPU0, "vm-1", &error), &error, NOT_AUTHORIZED);
  assert_property (fx, GPU0, "Owner", "''");

  allow (fx, "io.github.pcipassd.reserve");
  g_assert_true (reserve (fx, GPU0, "vm-1", &error));
  g_assert_no_error (error);
  assert_property (fx, GPU0, "Owner", "'vm-1'");
  assert_manager (fx, "Resources", "{'gpu.nvidia/ga100gl.rev.a1': (2, 1)}");
  assert_manager (fx, "Leases", "{'0000:1a:00.0': 'vm-1'}");
  /* The prompt can name the owner. */
  log = pp_test_bus_polkit_log (fx->bus);
  g_assert_nonnull (strstr (log, "vm-1"));

  /* Again for the same owner: fine; for another: Reserved. */
  g_assert_true (reserve (fx, GPU0, "vm-1", &error));
  expect_error (reserve (fx, GPU0, "vm-2", &error), &error, RESERVED);
  /* Nor the rest of its IOMMU group: VFIO gives a group to one user. */
  expect_error (reserve (fx, GPU1, "vm-2", &error), &error, RESERVED);
  /* Bad owners never reach polkit. */
  expect_error (reserve (fx, GPU1, "", &error), &error, INVALID_ARGS);
  expect_error (reserve (fx, GPU1, "vm 1", &error), &error, INVALID_ARGS);
  expect_error (reserve_on (fx->bus->connection, GPU1, "vm-1",
                            "{'tied': <true>}", &error),
                &error, INVALID_ARGS);

  /* Bind and Unbind of the leased device, or of its group, are the
   * holder's alone. */
  allow2 (fx, "io.github.pcipassd.reserve", "io.github.pcipassd.bind");
  expect_error (bind (fx, GPU0, NULL, &error), &error, RESERVED);
  expect_error (bind (fx, GPU0, "{'owner': <'vm-2'>}", &error), &error,
                RESERVED);
  expect_error (bind (fx, GPU1, NULL, &error), &error, RESERVED);
  expect_error (bind (fx, GPU0, "{'dry_run': <true>}", &error), &error,
                RESERVED);
  g_assert_true (bind (fx, GPU1, "{'owner': <'vm-1'>}", &error));
  g_assert_no_error (error);
  assert_property (fx, GPU0, "Driver", "'vfio-pci'");
  /* Leases survive what binding does. */
  assert_property (fx, GPU0, "Owner", "'vm-1'");
  {
    g_autoptr (GVariant) reply = call_on (
        fx->bus->connection, GPU0, "Unbind",
        g_variant_new ("(@a{sv})", pp_test_options ("{'owner': <'vm-2'>}")),
        &error);
    expect_error (reply != NULL, &error, RESERVED);
  }

  /* Release: naming someone else is Reserved; naming nobody is managing
   * (denied here); naming the holder is the holder's right. */
  expect_error (release (fx, GPU0, "{'owner': <'vm-2'>}", &error), &error,
                RESERVED);
  expect_error (release (fx, GPU0, NULL, &error), &error, NOT_AUTHORIZED);
  assert_property (fx, GPU0, "Owner", "'vm-1'");
  g_assert_true (release (fx, GPU0, "{'owner': <'vm-1'>}", &error));
  g_assert_no_error (error);
  assert_property (fx, GPU0, "Owner", "''");
  assert_manager (fx, "Leases", "{}");
  /* Nothing to release: fine. */
  g_assert_true (release (fx, GPU0, NULL, &error));

  /* An administrator ends anybody's lease. */
  g_assert_true (reserve (fx, GPU1, "vm-3", &error));
  allow (fx, "io.github.pcipassd.manage");
  g_assert_true (release (fx, GPU1, NULL, &error));
  g_assert_no_error (error);
  assert_property (fx, GPU1, "Owner", "''");
  assert_manager (fx, "Resources", "{'gpu.nvidia/ga100gl.rev.a1': (2, 2)}");
}

static void
test_lease_survives_restart (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) other = NULL;

  allow (fx, "io.github.pcipassd.reserve");
  g_assert_true (reserve (fx, GPU0, "vm-1", &error));
  other = new_connection (fx);
  g_assert_true (
      reserve_on (other, CX5, "vm-2", "{'tied_to_caller': <true>}", &error));
  g_assert_no_error (error);

  pp_test_bus_stop_daemon (fx->bus);
  start_daemon (fx);
  /* The lasting lease is back; the tied one ended with its daemon. */
  assert_property (fx, GPU0, "Owner", "'vm-1'");
  assert_property (fx, CX5, "Owner", "''");
  assert_manager (fx, "Resources", "{'gpu.nvidia/ga100gl.rev.a1': (2, 1)}");
}

static void
test_tied_lease (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) other = NULL;
  g_autofree char *state = NULL;
  g_autofree char *state_path
      = g_build_filename (fx->state_dir, "bindings", NULL);

  allow (fx, "io.github.pcipassd.reserve");
  other = new_connection (fx);
  g_assert_true (
      reserve_on (other, GPU0, "vm-1", "{'tied_to_caller': <true>}", &error));
  g_assert_no_error (error);
  assert_property (fx, GPU0, "Owner", "'vm-1'");
  /* Not on disk. */
  if (g_file_get_contents (state_path, &state, NULL, NULL))
    g_assert_null (strstr (state, "vm-1"));

  /* Its caller leaves: the lease ends. */
  g_dbus_connection_close_sync (other, NULL, &error);
  g_assert_no_error (error);
  pp_test_bus_wait_property (fx->bus, GPU0, "Owner", "''");
  assert_manager (fx, "Resources", "{'gpu.nvidia/ga100gl.rev.a1': (2, 2)}");
}

typedef struct
{
  guint done;
  guint won;
  guint reserved;
} Race;

static void
on_race_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Race *race = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (
      G_DBUS_CONNECTION (source), result, &error);

  race->done++;
  if (reply != NULL)
    race->won++;
  else
    {
      pp_test_assert_remote_error (error, RESERVED);
      race->reserved++;
    }
}

static void
test_two_owners_race (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) a = NULL;
  g_autoptr (GDBusConnection) b = NULL;
  g_autofree char *path = pp_address_to_object_path (CX5_1);
  g_autoptr (GVariant) owner = NULL;
  Race race = { 0 };

  allow (fx, "io.github.pcipassd.reserve");
  for (guint round = 0; round < 10; round++)
    {
      g_autofree char *owner_a = g_strdup_printf ("a-%u", round);
      g_autofree char *owner_b = g_strdup_printf ("b-%u", round);

      a = new_connection (fx);
      b = new_connection (fx);
      memset (&race, 0, sizeof race);
      /* Both sent before either is answered. */
      g_dbus_connection_call (
          a, "io.github.pcipassd", path, DEVICE_IFACE, "Reserve",
          g_variant_new ("(sa{sv})", owner_a, NULL), NULL,
          G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_race_reply, &race);
      g_dbus_connection_call (
          b, "io.github.pcipassd", path, DEVICE_IFACE, "Reserve",
          g_variant_new ("(sa{sv})", owner_b, NULL), NULL,
          G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_race_reply, &race);
      while (race.done < 2)
        g_main_context_iteration (NULL, TRUE);
      g_assert_cmpuint (race.won, ==, 1);
      g_assert_cmpuint (race.reserved, ==, 1);

      owner = pp_test_bus_get_property (fx->bus, CX5_1, "Owner");
      g_assert_true (
          g_str_equal (g_variant_get_string (owner, NULL), owner_a)
          || g_str_equal (g_variant_get_string (owner, NULL), owner_b));
      g_clear_pointer (&owner, g_variant_unref);
      allow (fx, "io.github.pcipassd.manage");
      g_assert_true (release (fx, CX5_1, NULL, &error));
      allow (fx, "io.github.pcipassd.reserve");
      g_clear_object (&a);
      g_clear_object (&b);
    }
}

#define EGPU "0000:c1:00.0"
#define EGPU_TOPO                                                              \
  "[0000:c1:00.0]\nvendor=10de\ndevice=20b0\nclass=030200\n"                   \
  "iommu_group=90\nnuma_node=0\n"

static void
on_interfaces_added (GDBusConnection *connection,
                     const char *sender,
                     const char *path,
                     const char *interface,
                     const char *signal,
                     GVariant *parameters,
                     gpointer user_data)
{
  Fixture *fx = user_data;
  g_autoptr (GVariant) interfaces = g_variant_get_child_value (parameters, 1);
  g_autoptr (GVariant) properties
      = g_variant_lookup_value (interfaces, DEVICE_IFACE, NULL);
  const char *owner = NULL;

  if (properties != NULL
      && g_variant_lookup (properties, "Owner", "&s", &owner))
    {
      g_free (fx->added_owner);
      fx->added_owner = g_strdup (owner);
      fx->added = TRUE;
    }
}

static void
test_lease_of_removed_device (Fixture *fx, gconstpointer data)
{
  guint sub;
  g_autoptr (GError) error = NULL;
  g_autofree char *egpu = NULL;

  pp_fake_kernel_sync (fx->kernel);
  pp_testbed_load_data (testbed, EGPU_TOPO, -1, "egpu", &error);
  g_assert_no_error (error);
  pp_fake_kernel_rescan (fx->kernel);
  pp_test_bus_wait_device (fx->bus, EGPU, TRUE);
  allow (fx, "io.github.pcipassd.reserve");
  g_assert_true (reserve (fx, EGPU, "vm-9", &error));
  g_assert_no_error (error);
  assert_manager (fx, "Resources", "{'gpu.nvidia/ga100gl.rev.a1': (3, 2)}");

  /* Unplugged: the lease stays, and says so. */
  egpu = pp_testbed_get_devpath (testbed, EGPU);
  pp_fake_kernel_sync (fx->kernel);
  umockdev_testbed_uevent (testbed, egpu, "remove");
  umockdev_testbed_remove_device (testbed, egpu);
  pp_test_bus_wait_device (fx->bus, EGPU, FALSE);
  assert_manager (fx, "Leases", "{'0000:c1:00.0': 'vm-9'}");
  {
    g_autofree char *out = ctl (0, NULL, "resources", NULL);

    g_assert_nonnull (strstr (out, "  0000:c1:00.0  vm-9 (not present: leased "
                                   "again when it comes back)\n"));
  }
  assert_manager (fx, "Resources", "{'gpu.nvidia/ga100gl.rev.a1': (2, 2)}");

  {
    /* umockdev leaves the group's link to the removed device behind. */
    g_autofree char *root = pp_testbed_get_root (testbed);
    g_autofree char *link = g_build_filename (
        root, "sys/kernel/iommu_groups/90/devices", EGPU, NULL);
    g_unlink (link);
  }
  /* Back: still leased, from the moment it appears. */
  sub = g_dbus_connection_signal_subscribe (
      fx->bus->connection, NULL, "org.freedesktop.DBus.ObjectManager",
      "InterfacesAdded", "/io/github/pcipassd", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_interfaces_added, fx, NULL);
  pp_testbed_load_data (testbed, EGPU_TOPO, -1, "egpu", &error);
  g_assert_no_error (error);
  pp_fake_kernel_rescan (fx->kernel);
  pp_test_bus_wait_device (fx->bus, EGPU, TRUE);
  /* Announced with its lease, not given it afterwards.  The signal came
   * before the object could be read: it is in the queue. */
  pp_test_iterate_until (&fx->added, "InterfacesAdded of " EGPU);
  g_assert_cmpstr (fx->added_owner, ==, "vm-9");
  assert_property (fx, EGPU, "Owner", "'vm-9'");
  g_dbus_connection_signal_unsubscribe (fx->bus->connection, sub);
}

/* ---- allocation ---- */

static const char gpu_catalog[]
    = "vendors:\n"
      "  - id: '10de'\n"
      "    name: nvidia\n"
      "    devices:\n"
      "      - {id: '2236', name: a10, type: gpu}\n";

#define A10 "gpu.nvidia/a10"
#define MANAGER_DEST "io.github.pcipassd"

static const Setup seed_server = { "server", seed_catalog, NULL };
static const Setup no_catalog_server = { "server", NULL, NULL };
static const Setup bad_catalog_server
    = { "server", "vendors:\n  - id: 1\n   name: x\n", NULL };
static const Setup gpu_server = { "gpu-server", gpu_catalog, NULL };
static const Setup gpu_server_fast = { "gpu-server", gpu_catalog, "0.5" };

/* The addresses Allocate gave, space-separated, or NULL with @error. */
static char *
allocate_on (GDBusConnection *connection,
             const char *resource,
             guint count,
             const char *owner,
             const char *options,
             GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantIter) iter = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  const char *path;

  reply = g_dbus_connection_call_sync (
      connection, MANAGER_DEST, MANAGER_PATH, MANAGER_IFACE, "Allocate",
      g_variant_new ("(sus@a{sv})", resource, count, owner,
                     pp_test_options (options != NULL ? options : "{}")),
      G_VARIANT_TYPE ("(ao)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(ao)", &iter);
  while (g_variant_iter_next (iter, "&o", &path))
    {
      g_autofree char *address = pp_address_from_object_path (path);

      g_assert_nonnull (address);
      g_string_append_printf (out, "%s%s", out->len ? " " : "", address);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static char *
allocate (Fixture *fx,
          guint count,
          const char *owner,
          const char *options,
          GError **error)
{
  return allocate_on (fx->bus->connection, A10, count, owner, options, error);
}

static void
assert_allocated (char *got, const char *expected)
{
  g_autofree char *owned = got;

  g_assert_cmpstr (owned, ==, expected);
}

/* Each listed device on vfio-pci and leased to @owner. */
static void
assert_given (Fixture *fx, const char *addresses, const char *owner)
{
  g_auto (GStrv) list = g_strsplit (addresses, " ", -1);
  g_autofree char *quoted = g_strdup_printf ("'%s'", owner);

  for (char **a = list; *a != NULL; a++)
    {
      assert_property (fx, *a, "Driver", "'vfio-pci'");
      assert_property (fx, *a, "Owner", quoted);
    }
}

static void
test_allocate_numa (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *leases = NULL;

  assert_manager (fx, "Resources", "{'gpu.nvidia/a10': (8, 8)}");

  /* Both authorizations are needed, and nothing is leased before. */
  allow (fx, "io.github.pcipassd.reserve");
  g_assert_null (allocate (fx, 1, "vm-1", NULL, &error));
  pp_test_assert_remote_error (error, NOT_AUTHORIZED);
  g_clear_error (&error);
  assert_manager (fx, "Leases", "{}");
  allow2 (fx, "io.github.pcipassd.reserve", "io.github.pcipassd.bind");

  /* On node 1, lowest addresses first. */
  assert_allocated (allocate (fx, 2, "vm-1", "{'numa_node': <1>}", &error),
                    "0000:98:00.0 0000:b1:00.0");
  g_assert_no_error (error);
  assert_given (fx, "0000:98:00.0 0000:b1:00.0", "vm-1");
  assert_property (fx, "0000:ca:00.0", "Driver", "'nvidia'");
  assert_manager (fx, "Resources", "{'gpu.nvidia/a10': (8, 6)}");

  assert_allocated (allocate (fx, 3, "vm-2", "{'numa_node': <0>}", &error),
                    "0000:17:00.0 0000:31:00.0 0000:4b:00.0");
  assert_given (fx, "0000:17:00.0 0000:31:00.0 0000:4b:00.0", "vm-2");

  /* Anywhere: the last of node 0 comes before node 1's shared group. */
  assert_allocated (allocate (fx, 1, "vm-3", NULL, &error), "0000:65:00.0");

  /* Too few: refused, and nothing changes. */
  leases = manager_text (fx, "Leases");
  g_assert_null (allocate (fx, 3, "vm-4", NULL, &error));
  pp_test_assert_remote_error (error, RESERVED);
  g_assert_nonnull (
      strstr (error->message, "3 asked for, 2 can be handed out"));
  g_clear_error (&error);
  g_assert_null (allocate (fx, 1, "vm-4", "{'numa_node': <0>}", &error));
  pp_test_assert_remote_error (error, RESERVED);
  g_clear_error (&error);
  assert_manager (fx, "Leases", leases);
  assert_property (fx, "0000:ca:00.0", "Driver", "'nvidia'");
  assert_property (fx, "0000:e3:00.0", "Driver", "'nvidia'");

  /* A group another owner has a lease in is not handed out; its holder
   * may have the rest of it. */
  g_assert_true (reserve (fx, "0000:ca:00.0", "vm-5", &error));
  g_assert_null (allocate (fx, 1, "vm-6", NULL, &error));
  pp_test_assert_remote_error (error, RESERVED);
  g_clear_error (&error);
  assert_allocated (allocate (fx, 1, "vm-5", NULL, &error), "0000:e3:00.0");
  assert_given (fx, "0000:e3:00.0", "vm-5");
  /* Its group moved whole. */
  assert_property (fx, "0000:ca:00.0", "Driver", "'vfio-pci'");
  assert_manager (fx, "Resources", "{'gpu.nvidia/a10': (8, 0)}");
}

static void
test_allocate_all_or_nothing (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  allow2 (fx, "io.github.pcipassd.reserve", "io.github.pcipassd.bind");
  /* The second group's bind never completes: the first goes back. */
  pp_fake_kernel_set_stuck (fx->kernel, "0000:b1:00.0", TRUE);
  g_assert_null (allocate (fx, 2, "vm-1", "{'numa_node': <1>}", &error));
  pp_test_assert_remote_error (error, "io.github.pcipassd.Error.Kernel");
  g_clear_error (&error);
  pp_fake_kernel_set_stuck (fx->kernel, "0000:b1:00.0", FALSE);
  /* The group Allocate moved is back; the stuck one never got to
   * vfio-pci (its own rollback waits on the same hung probe). */
  pp_test_bus_wait_property (fx->bus, "0000:98:00.0", "Driver", "'nvidia'");
  {
    g_autofree char *driver = property_text (fx, "0000:b1:00.0", "Driver");
    g_assert_cmpstr (driver, !=, "'vfio-pci'");
  }
  assert_property (fx, "0000:98:00.0", "Owner", "''");
  assert_property (fx, "0000:b1:00.0", "Owner", "''");
  assert_manager (fx, "Leases", "{}");
  assert_manager (fx, "Resources", "{'gpu.nvidia/a10': (8, 8)}");

  /* And the devices can be had again. */
  assert_allocated (allocate (fx, 2, "vm-1", "{'numa_node': <1>}", &error),
                    "0000:98:00.0 0000:b1:00.0");
}

typedef struct
{
  guint done;
  guint won;
  guint reserved;
} AllocateRace;

static void
on_allocate_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AllocateRace *race = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (
      G_DBUS_CONNECTION (source), result, &error);

  race->done++;
  if (reply != NULL)
    race->won++;
  else
    {
      pp_test_assert_remote_error (error, RESERVED);
      race->reserved++;
    }
}

static void
test_allocate_race (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) a = new_connection (fx);
  g_autoptr (GDBusConnection) b = new_connection (fx);
  AllocateRace race = { 0 };
  g_autofree char *taken = NULL;

  allow2 (fx, "io.github.pcipassd.reserve", "io.github.pcipassd.bind");
  /* Everything but 0000:b1:00.0 goes to vm-0: one device is left for
   * the two callers. */
  taken = allocate (fx, 5, "vm-0", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (taken, ==,
                   "0000:17:00.0 0000:31:00.0 0000:4b:00.0 0000:65:00.0 "
                   "0000:98:00.0");
  g_assert_true (reserve (fx, "0000:ca:00.0", "vm-0", &error));
  g_assert_true (reserve (fx, "0000:e3:00.0", "vm-0", &error));
  assert_manager (fx, "Resources", "{'gpu.nvidia/a10': (8, 1)}");

  g_dbus_connection_call (a, MANAGER_DEST, MANAGER_PATH, MANAGER_IFACE,
                          "Allocate",
                          g_variant_new ("(susa{sv})", A10, 1, "vm-a", NULL),
                          G_VARIANT_TYPE ("(ao)"), G_DBUS_CALL_FLAGS_NONE, -1,
                          NULL, on_allocate_reply, &race);
  g_dbus_connection_call (b, MANAGER_DEST, MANAGER_PATH, MANAGER_IFACE,
                          "Allocate",
                          g_variant_new ("(susa{sv})", A10, 1, "vm-b", NULL),
                          G_VARIANT_TYPE ("(ao)"), G_DBUS_CALL_FLAGS_NONE, -1,
                          NULL, on_allocate_reply, &race);
  while (race.done < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (race.won, ==, 1);
  g_assert_cmpuint (race.reserved, ==, 1);
  {
    g_autofree char *owner = property_text (fx, "0000:b1:00.0", "Owner");
    g_assert_true (g_str_equal (owner, "'vm-a'")
                   || g_str_equal (owner, "'vm-b'"));
  }
  assert_property (fx, "0000:b1:00.0", "Driver", "'vfio-pci'");
  assert_manager (fx, "Resources", "{'gpu.nvidia/a10': (8, 0)}");
}

static void
test_allocate_bad_arguments (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  allow2 (fx, "io.github.pcipassd.reserve", "io.github.pcipassd.bind");
  g_assert_null (allocate (fx, 0, "vm-1", NULL, &error));
  pp_test_assert_remote_error (error, INVALID_ARGS);
  g_clear_error (&error);
  g_assert_null (allocate (fx, 1025, "vm-1", NULL, &error));
  pp_test_assert_remote_error (error, INVALID_ARGS);
  g_clear_error (&error);
  g_assert_null (allocate (fx, 1, "vm 1", NULL, &error));
  pp_test_assert_remote_error (error, INVALID_ARGS);
  g_clear_error (&error);
  g_assert_null (allocate (fx, 1, "vm-1", "{'numa_node': <'1'>}", &error));
  pp_test_assert_remote_error (error, INVALID_ARGS);
  g_clear_error (&error);
  g_assert_null (allocate (fx, 1, "vm-1", "{'numa_node': <-2>}", &error));
  pp_test_assert_remote_error (error, INVALID_ARGS);
  g_clear_error (&error);
  g_assert_null (allocate (fx, 1, "vm-1", "{'count': <1>}", &error));
  pp_test_assert_remote_error (error, INVALID_ARGS);
  g_clear_error (&error);
  g_assert_null (allocate_on (fx->bus->connection, "gpu.amd/mi300", 1, "vm-1",
                              NULL, &error));
  pp_test_assert_remote_error (error, "io.github.pcipassd.Error.NotFound");
  g_clear_error (&error);
  g_assert_null (
      allocate_on (fx->bus->connection, "", 1, "vm-1", NULL, &error));
  pp_test_assert_remote_error (error, INVALID_ARGS);
  g_clear_error (&error);
  /* Nothing was leased or moved on the way. */
  assert_manager (fx, "Leases", "{}");
  assert_manager (fx, "Resources", "{'gpu.nvidia/a10': (8, 8)}");
}

/* ---- persistent bindings ---- */

#define GPU_A "0000:17:00.0"

/* What a reboot does to a device pcipassd bound: it comes up on its
 * host driver, no override. */
static void
reboot_device (Fixture *fx, const char *address)
{
  g_autofree char *override
      = g_strdup_printf ("/sys/bus/pci/devices/%s/driver_override", address);

  pp_test_write_sysfs (override, "\n");
  pp_test_write_sysfs ("/sys/bus/pci/drivers/vfio-pci/unbind", address);
  pp_test_write_sysfs ("/sys/bus/pci/drivers_probe", address);
  pp_fake_kernel_sync (fx->kernel);
}

static void
test_persistent_restart (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  allow2 (fx, "io.github.pcipassd.bind", "io.github.pcipassd.unbind");
  g_assert_true (bind (fx, GPU_A, "{'persistent': <true>}", &error));
  g_assert_no_error (error);
  assert_property (fx, GPU_A, "Driver", "'vfio-pci'");
  assert_property (fx, GPU_A, "Persistent", "true");
  /* Only the device asked for (its group has no other member). */
  assert_property (fx, "0000:31:00.0", "Persistent", "false");

  /* A reboot: the device is back on nvidia when pcipassd starts, and on
   * vfio-pci again by the time anyone can ask. */
  pp_test_bus_stop_daemon (fx->bus);
  reboot_device (fx, GPU_A);
  {
    g_autofree char *link
        = g_file_read_link ("/sys/bus/pci/devices/" GPU_A "/driver", NULL);
    g_assert_nonnull (strstr (link, "nvidia"));
  }
  start_daemon (fx);
  assert_property (fx, GPU_A, "Driver", "'vfio-pci'");
  assert_property (fx, GPU_A, "Persistent", "true");
  assert_property (fx, GPU_A, "OriginalDriver", "'nvidia'");

  /* Bind again without the option keeps it; Unbind ends it. */
  g_assert_true (bind (fx, GPU_A, NULL, &error));
  assert_property (fx, GPU_A, "Persistent", "true");
  {
    g_autoptr (GVariant) reply
        = call_on (fx->bus->connection, GPU_A, "Unbind",
                   g_variant_new ("(a{sv})", NULL), &error);
    g_assert_no_error (error);
    g_assert_nonnull (reply);
  }
  assert_property (fx, GPU_A, "Driver", "'nvidia'");
  assert_property (fx, GPU_A, "Persistent", "false");
  pp_test_bus_stop_daemon (fx->bus);
  start_daemon (fx);
  assert_property (fx, GPU_A, "Driver", "'nvidia'");

  /* A device already on vfio-pci: Bind with persistent records it, and
   * that is a change to authorize. */
  g_assert_true (bind (fx, GPU_A, NULL, &error));
  allow (fx, "io.github.pcipassd.unbind");
  g_assert_false (bind (fx, GPU_A, "{'persistent': <true>}", &error));
  pp_test_assert_remote_error (error, NOT_AUTHORIZED);
  g_clear_error (&error);
  assert_property (fx, GPU_A, "Persistent", "false");
  allow (fx, "io.github.pcipassd.bind");
  g_assert_true (bind (fx, GPU_A, "{'persistent': <true>}", &error));
  g_assert_no_error (error);
  assert_property (fx, GPU_A, "Persistent", "true");
}

/* A device the host depends on is never taken at start, whatever was
 * forced before: nobody is there to say so again. */
static void
test_persistent_protected (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *log = NULL;
  const char *nic = "0000:02:00.0";

  allow2 (fx, "io.github.pcipassd.bind", "io.github.pcipassd.bind-protected");
  g_assert_true (
      bind (fx, nic, "{'persistent': <true>, 'force': <true>}", &error));
  g_assert_no_error (error);
  assert_property (fx, nic, "Persistent", "true");

  pp_test_bus_stop_daemon (fx->bus);
  reboot_device (fx, nic);
  start_daemon (fx);
  assert_property (fx, nic, "Driver", "'igb'");
  assert_property (fx, nic, "Persistent", "true");
  log = read_log (fx);
  g_assert_nonnull (strstr (log, "0000:02:00.0 has a persistent binding but "
                                 "is protected (default-route) now"));
}

#define EGPU_A10_TOPO                                                          \
  "[0000:c1:00.0]\nvendor=10de\ndevice=2236\nclass=030200\n"                   \
  "driver=nvidia\niommu_group=90\nnuma_node=1\n"

static void
on_added_driver (GDBusConnection *connection,
                 const char *sender,
                 const char *path,
                 const char *interface,
                 const char *signal,
                 GVariant *parameters,
                 gpointer user_data)
{
  Fixture *fx = user_data;
  g_autoptr (GVariant) interfaces = g_variant_get_child_value (parameters, 1);
  g_autoptr (GVariant) properties
      = g_variant_lookup_value (interfaces, DEVICE_IFACE, NULL);
  const char *driver = NULL;

  /* The Driver the device is first published with, in added_owner. */
  if (properties != NULL
      && g_variant_lookup (properties, "Driver", "&s", &driver))
    {
      g_free (fx->added_owner);
      fx->added_owner = g_strdup (driver);
      fx->added = TRUE;
    }
}

static void
test_persistent_hotplug (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *egpu = NULL;
  g_autofree char *root = pp_testbed_get_root (testbed);
  g_autofree char *link = g_build_filename (
      root, "sys/kernel/iommu_groups/90/devices", EGPU, NULL);
  guint sub;

  pp_fake_kernel_sync (fx->kernel);
  pp_testbed_load_data (testbed, EGPU_A10_TOPO, -1, "egpu", &error);
  g_assert_no_error (error);
  pp_fake_kernel_rescan (fx->kernel);
  pp_test_bus_wait_device (fx->bus, EGPU, TRUE);
  allow (fx, "io.github.pcipassd.bind");
  g_assert_true (bind (fx, EGPU, "{'persistent': <true>}", &error));
  g_assert_no_error (error);

  /* Unplugged, and plugged in again on its host driver. */
  egpu = pp_testbed_get_devpath (testbed, EGPU);
  pp_fake_kernel_sync (fx->kernel);
  umockdev_testbed_uevent (testbed, egpu, "remove");
  umockdev_testbed_remove_device (testbed, egpu);
  pp_test_bus_wait_device (fx->bus, EGPU, FALSE);
  g_unlink (link);

  sub = g_dbus_connection_signal_subscribe (
      fx->bus->connection, NULL, "org.freedesktop.DBus.ObjectManager",
      "InterfacesAdded", "/io/github/pcipassd", NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_added_driver, fx, NULL);
  pp_testbed_load_data (testbed, EGPU_A10_TOPO, -1, "egpu", &error);
  g_assert_no_error (error);
  pp_fake_kernel_rescan (fx->kernel);
  pp_test_bus_wait_device (fx->bus, EGPU, TRUE);
  pp_test_iterate_until (&fx->added, "InterfacesAdded of " EGPU);
  /* Its first appearance on the bus is on vfio-pci. */
  g_assert_cmpstr (fx->added_owner, ==, "vfio-pci");
  assert_property (fx, EGPU, "Persistent", "true");
  assert_property (fx, EGPU, "OriginalDriver", "'nvidia'");
  g_dbus_connection_signal_unsubscribe (fx->bus->connection, sub);
}

/* A daemon killed at each point of the saves a Reserve and a persistent
 * Bind make, and started again: each save happened whole or not at all.
 * Points 1-6 are the lease's save, the persistence's and the Bind's
 * record, two each (temporary written; renamed), all before the first
 * sysfs write; /bind/killed-at-every-point (test-bind) kills at the
 * kernel steps after them. */
#define STATE_KILL_POINTS 6

static void
test_killed_while_saving_leases (Fixture *fx, gconstpointer data)
{
  guint survived = 0;

  for (guint at = 1; survived == 0 && at <= STATE_KILL_POINTS; at++)
    {
      g_autofree char *n = g_strdup_printf ("%u", at);
      g_autoptr (GError) error = NULL;
      g_autoptr (GSubprocess) daemon = NULL;
      g_autofree char *owner = NULL;
      g_autofree char *persistent = NULL;
      g_autoptr (GDir) dir = NULL;
      const char *name;
      gboolean done;

      pp_test_bus_stop_daemon (fx->bus);
      /* Each run from the same start: nothing leased, on nvidia. */
      {
        g_autofree char *state
            = g_build_filename (fx->state_dir, "bindings", NULL);
        g_unlink (state);
      }
      pp_fake_kernel_sync (fx->kernel);
      {
        g_autofree char *link
            = g_file_read_link ("/sys/bus/pci/devices/" GPU_A "/driver", NULL);

        if (link == NULL || !g_str_has_suffix (link, "/nvidia"))
          reboot_device (fx, GPU_A);
      }
      g_setenv ("PCIPASSD_TEST_KILL_AT", n, TRUE);
      start_daemon (fx);
      g_unsetenv ("PCIPASSD_TEST_KILL_AT");
      allow2 (fx, "io.github.pcipassd.reserve", "io.github.pcipassd.bind");

      done = reserve (fx, GPU_A, "vm-1", &error)
             && bind (fx, GPU_A, "{'persistent': <true>, 'owner': <'vm-1'>}",
                      &error);
      if (done)
        {
          survived = at;
          break;
        }
      daemon = g_steal_pointer (&fx->bus->daemon);
      g_assert_cmpint (pp_test_wait_process (daemon), ==, 128 + SIGKILL);

      start_daemon (fx);
      owner = property_text (fx, GPU_A, "Owner");
      persistent = property_text (fx, GPU_A, "Persistent");
      g_test_message ("killed at point %u: Owner %s, Persistent %s", at, owner,
                      persistent);
      /* Saves in order: the lease (points 1, 2: before and after its
       * rename), the persistence (3, 4), then the Bind's own.  Each is
       * there whole after its rename, and absent before; a persistent
       * binding, once on disk, is applied again by the next daemon,
       * whatever point of the Bind the last one died at. */
      g_assert_cmpstr (owner, ==, at == 1 ? "''" : "'vm-1'");
      g_assert_cmpstr (persistent, ==, at <= 3 ? "false" : "true");
      assert_property (fx, GPU_A, "Driver",
                       at <= 3 ? "'nvidia'" : "'vfio-pci'");
      /* Never a file moved aside: nothing half-written. */
      dir = g_dir_open (fx->state_dir, 0, NULL);
      while ((name = g_dir_read_name (dir)) != NULL)
        g_assert_false (g_str_has_prefix (name, "bindings.bad-"));
    }
  /* Every one of them was a kill point. */
  g_assert_cmpuint (survived, ==, 0);
}

/* ---- pcipassctl ---- */

static char *
ctl (int expected_status, char **err, const char *first, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autofree char *out = NULL;
  g_autofree char *stderr_text = NULL;
  int status = -1;
  va_list ap;

  va_start (ap, first);
  for (const char *a = first; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  out = pp_test_run_ctl ((const char *const *) args->pdata, &stderr_text,
                         &status);
  if (status != expected_status)
    g_error ("pcipassctl %s exited %d, not %d:\n%s%s", first, status,
             expected_status, out, stderr_text);
  if (err != NULL)
    *err = g_steal_pointer (&stderr_text);
  return g_steal_pointer (&out);
}

static void
assert_text (char *got, const char *expected)
{
  g_autofree char *owned = got;

  if (!g_str_equal (owned, expected))
    g_error ("got:\n%s\nexpected:\n%s", owned, expected);
}

static void
test_ctl_resources (Fixture *fx, gconstpointer data)
{
  g_autofree char *err = NULL;
  g_autofree char *out = NULL;

  allow2 (fx, "io.github.pcipassd.reserve", "io.github.pcipassd.bind");
  assert_text (ctl (0, NULL, "resources", NULL), "RESOURCE        TOTAL  FREE\n"
                                                 "gpu.nvidia/a10  8      8\n");

  assert_text (ctl (0, NULL, "allocate", A10, "--count", "2", "--owner", "vm-1",
                    "--numa-node", "1", "--no-ask-password", NULL),
               "Leased to vm-1 and on vfio-pci:\n"
               "  0000:98:00.0\n"
               "  0000:b1:00.0\n"
               "\"pcipassctl hostdev --owner vm-1\" prints them for libvirt "
               "and QEMU.\n");
  assert_text (ctl (0, NULL, "allocate", A10, "--owner", "vm-2", "--json",
                    "--no-ask-password", NULL),
               "{\n"
               "  \"resource\" : \"gpu.nvidia/a10\",\n"
               "  \"owner\" : \"vm-2\",\n"
               "  \"devices\" : [\n"
               "    \"0000:17:00.0\"\n"
               "  ]\n"
               "}\n");

  /* What to paste into the VM's definition. */
  assert_text (ctl (0, NULL, "hostdev", "--owner", "vm-1", NULL),
               "<!-- libvirt: in <devices> of the domain XML (virsh edit) "
               "-->\n"
               "<hostdev mode='subsystem' type='pci' managed='no'>\n"
               "  <source>\n"
               "    <address domain='0x0000' bus='0x98' slot='0x00' "
               "function='0x0'/>\n"
               "  </source>\n"
               "</hostdev>\n"
               "<hostdev mode='subsystem' type='pci' managed='no'>\n"
               "  <source>\n"
               "    <address domain='0x0000' bus='0xb1' slot='0x00' "
               "function='0x0'/>\n"
               "  </source>\n"
               "</hostdev>\n"
               "\n"
               "# QEMU:\n"
               "-device vfio-pci,host=0000:98:00.0 "
               "-device vfio-pci,host=0000:b1:00.0\n");
  /* A device with the rest of its group. */
  assert_text (ctl (0, NULL, "allocate", A10, "--owner", "vm-3", "--numa-node",
                    "1", "--json", "--no-ask-password", NULL),
               "{\n"
               "  \"resource\" : \"gpu.nvidia/a10\",\n"
               "  \"owner\" : \"vm-3\",\n"
               "  \"devices\" : [\n"
               "    \"0000:ca:00.0\"\n"
               "  ]\n"
               "}\n");
  assert_text (ctl (0, NULL, "hostdev", "0000:ca:00.0", "--json", NULL),
               "{\n"
               "  \"devices\" : [\n"
               "    {\n"
               "      \"address\" : \"0000:ca:00.0\",\n"
               "      \"libvirt\" : \"<hostdev mode='subsystem' type='pci' "
               "managed='no'>\\n  <source>\\n    <address domain='0x0000' "
               "bus='0xca' slot='0x00' function='0x0'/>\\n  "
               "</source>\\n</hostdev>\",\n"
               "      \"qemu\" : [\n"
               "        \"-device\",\n"
               "        \"vfio-pci,host=0000:ca:00.0\"\n"
               "      ]\n"
               "    },\n"
               "    {\n"
               "      \"address\" : \"0000:e3:00.0\",\n"
               "      \"libvirt\" : \"<hostdev mode='subsystem' type='pci' "
               "managed='no'>\\n  <source>\\n    <address domain='0x0000' "
               "bus='0xe3' slot='0x00' function='0x0'/>\\n  "
               "</source>\\n</hostdev>\",\n"
               "      \"qemu\" : [\n"
               "        \"-device\",\n"
               "        \"vfio-pci,host=0000:e3:00.0\"\n"
               "      ]\n"
               "    }\n"
               "  ]\n"
               "}\n");
  /* Not on vfio-pci: said, with what to do. */
  g_free (ctl (1, &err, "hostdev", "0000:31:00.0", NULL));
  g_assert_nonnull (strstr (err, "0000:31:00.0 is on nvidia, not vfio-pci: "
                                 "run \"pcipassctl bind 0000:31:00.0\" "
                                 "first"));
  g_clear_pointer (&err, g_free);
  g_free (ctl (1, &err, "hostdev", "--owner", "nobody", NULL));
  g_assert_nonnull (strstr (err, "no device present is leased to nobody"));
  g_clear_pointer (&err, g_free);
  g_free (ctl (2, &err, "hostdev", NULL));
  g_clear_pointer (&err, g_free);

  /* list shows who has what. */
  out = ctl (0, NULL, "list", "--type", "gpu", NULL);
  g_assert_nonnull (strstr (out, "  GROUP  STATE  ID         RESOURCE        "
                                 "OWNER  NAME\n"));
  g_assert_nonnull (strstr (out, "  30     vfio   10de:2236  gpu.nvidia/a10  "
                                 "vm-1   "));
  g_assert_nonnull (strstr (out, "  21     host   10de:2236  gpu.nvidia/a10  "
                                 "-      "));
  g_clear_pointer (&out, g_free);

  assert_text (ctl (0, NULL, "resources", NULL), "RESOURCE        TOTAL  FREE\n"
                                                 "gpu.nvidia/a10  8      4\n"
                                                 "\n"
                                                 "Leases:\n"
                                                 "  0000:17:00.0  vm-2\n"
                                                 "  0000:98:00.0  vm-1\n"
                                                 "  0000:b1:00.0  vm-1\n"
                                                 "  0000:ca:00.0  vm-3\n");

  /* reserve and release by hand. */
  assert_text (ctl (0, NULL, "reserve", "31:00.0", "--owner", "vm-4",
                    "--no-ask-password", NULL),
               "0000:31:00.0 is leased to vm-4\n");
  g_free (ctl (1, &err, "reserve", "31:00.0", "--owner", "vm-5",
               "--no-ask-password", NULL));
  g_assert_nonnull (strstr (err, "0000:31:00.0 is leased to vm-4"));
  g_clear_pointer (&err, g_free);
  g_free (ctl (2, &err, "reserve", "31:00.0", NULL));
  g_assert_nonnull (strstr (err, "--owner NAME is required"));
  g_clear_pointer (&err, g_free);
  assert_text (ctl (0, NULL, "release", "31:00.0", "--owner", "vm-4",
                    "--no-ask-password", NULL),
               "0000:31:00.0 is released (it was leased to vm-4)\n");
  assert_text (ctl (0, NULL, "resources", "--json", NULL),
               "{\n"
               "  \"resources\" : [\n"
               "    {\n"
               "      \"name\" : \"gpu.nvidia/a10\",\n"
               "      \"total\" : 8,\n"
               "      \"free\" : 4\n"
               "    }\n"
               "  ],\n"
               "  \"leases\" : [\n"
               "    {\n"
               "      \"address\" : \"0000:17:00.0\",\n"
               "      \"owner\" : \"vm-2\",\n"
               "      \"present\" : true\n"
               "    },\n"
               "    {\n"
               "      \"address\" : \"0000:98:00.0\",\n"
               "      \"owner\" : \"vm-1\",\n"
               "      \"present\" : true\n"
               "    },\n"
               "    {\n"
               "      \"address\" : \"0000:b1:00.0\",\n"
               "      \"owner\" : \"vm-1\",\n"
               "      \"present\" : true\n"
               "    },\n"
               "    {\n"
               "      \"address\" : \"0000:ca:00.0\",\n"
               "      \"owner\" : \"vm-3\",\n"
               "      \"present\" : true\n"
               "    }\n"
               "  ],\n"
               "  \"catalog_error\" : null\n"
               "}\n");

  /* Too few: exit 1 and why. */
  g_free (ctl (1, &err, "allocate", A10, "--count", "4", "--owner", "vm-6",
               "--no-ask-password", NULL));
  g_assert_nonnull (strstr (err, "4 asked for, 3 can be handed out"));
  g_clear_pointer (&err, g_free);
}

static void
test_ctl_tied_and_reload (Fixture *fx, gconstpointer data)
{
  const char *const argv[] = { pp_test_pcipassctl_path (),
                               "reserve",
                               "0000:4b:00.0",
                               "--owner",
                               "vm-7",
                               "--tied",
                               "--no-ask-password",
                               NULL };
  g_autoptr (GSubprocess) holder = NULL;
  g_autofree char *err = NULL;

  allow2 (fx, "io.github.pcipassd.reserve", "io.github.pcipassd.manage");
  /* The lease lasts while the command runs. */
  holder = pp_test_spawn (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, argv);
  pp_test_bus_wait_property (fx->bus, "0000:4b:00.0", "Owner", "'vm-7'");
  g_subprocess_send_signal (holder, SIGINT);
  g_assert_cmpint (pp_test_wait_process (holder), ==, 0);
  pp_test_bus_wait_property (fx->bus, "0000:4b:00.0", "Owner", "''");

  assert_text (ctl (0, NULL, "reload", "--no-ask-password", NULL),
               "Catalog reloaded: 1 resources on this host\n");
  write_catalog (fx, "vendors: [\n");
  g_free (ctl (1, &err, "reload", "--no-ask-password", NULL));
  g_assert_nonnull (strstr (err, "devices.yaml:2:1: did not find expected "
                                 "node content"));
  g_clear_pointer (&err, g_free);
  {
    g_autofree char *out = ctl (0, NULL, "resources", NULL);

    g_assert_true (g_str_has_prefix (
        out, "Catalog error (the previous catalog is in force):\n  "));
    g_assert_nonnull (strstr (out, "gpu.nvidia/a10  8      8\n"));
  }
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

#define ADD(name, setup, func)                                                 \
  g_test_add (name, Fixture, setup, fixture_setup, func, fixture_teardown)

  ADD ("/catalog/seed", &seed_server, test_seed_catalog);
  ADD ("/catalog/none", &no_catalog_server, test_no_catalog);
  ADD ("/catalog/bad-at-start", &bad_catalog_server, test_bad_catalog_at_start);
  ADD ("/catalog/reload", &seed_server, test_reload);
  ADD ("/lease/reserve-release", &seed_server, test_reserve_release);
  ADD ("/lease/survives-restart", &seed_server, test_lease_survives_restart);
  ADD ("/lease/tied", &seed_server, test_tied_lease);
  ADD ("/lease/two-owners-race", &seed_server, test_two_owners_race);
  ADD ("/lease/removed-device", &seed_server, test_lease_of_removed_device);
  ADD ("/allocate/numa", &gpu_server, test_allocate_numa);
  ADD ("/allocate/all-or-nothing", &gpu_server_fast,
       test_allocate_all_or_nothing);
  ADD ("/allocate/race", &gpu_server, test_allocate_race);
  ADD ("/allocate/bad-arguments", &gpu_server, test_allocate_bad_arguments);
  ADD ("/persistent/restart", &gpu_server, test_persistent_restart);
  ADD ("/persistent/hotplug", &gpu_server, test_persistent_hotplug);
  ADD ("/persistent/protected", &gpu_server, test_persistent_protected);
  ADD ("/client/resources", &gpu_server, test_ctl_resources);
  ADD ("/client/tied-and-reload", &gpu_server, test_ctl_tied_and_reload);
  ADD ("/persistent/killed-while-saving", &gpu_server,
       test_killed_while_saving_leases);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
