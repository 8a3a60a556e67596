/* Validation through the bus: pcipassd's ValidateHost, ValidateConfig and
 * Device.Validate, and pcipassctl validate's output and exit status, on
 * simulated hosts.  Hostile configs must come back as Config errors with
 * a position while the daemon stays up.  Must run under
 * libumockdev-preload. */
#include "config.h"

#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <umockdev.h>

#define MANAGER_PATH PP_OBJECT_ROOT "/manager"
#define MANAGER_INTERFACE "io.github.pcipassd1.Manager"
#define DEVICE_INTERFACE "io.github.pcipassd1.Device"

static UMockdevTestbed *testbed;

typedef struct
{
  PpTestBus *bus;
} Fixture;

static void
load_fixture (const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path (name);

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  load_fixture (data);
  fx->bus = pp_test_bus_new (TRUE);
  pp_test_bus_start_daemon (fx->bus, NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  /* A clean exit after everything the test threw at it. */
  pp_test_bus_stop_daemon (fx->bus);
  g_clear_pointer (&fx->bus, pp_test_bus_free);
}

static char *
config_path (const char *name)
{
  return g_build_filename (g_getenv ("PP_FIXTURES_DIR"), "configs", name, NULL);
}

/* Calls a validation method; returns its a(sssss) or NULL with @error. */
static GVariant *
call (Fixture *fx,
      const char *path,
      const char *interface,
      const char *method,
      GVariant *parameters,
      GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  GVariant *results = NULL;

  reply = g_dbus_connection_call_sync (
      fx->bus->connection, PP_BUS_NAME, path, interface, method, parameters,
      G_VARIANT_TYPE ("(a(sssss))"), G_DBUS_CALL_FLAGS_NONE,
      PP_TEST_TIMEOUT * 1000, NULL, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(@a(sssss))", &results);
  return results;
}

static GVariant *
validate_config (Fixture *fx,
                 const char *yaml,
                 GVariant *options,
                 GError **error)
{
  if (options == NULL)
    options = g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0);
  return call (fx, MANAGER_PATH, MANAGER_INTERFACE, "ValidateConfig",
               g_variant_new ("(s@a{sv})", yaml, options), error);
}

/* The severity of (subject, check) in @results, or NULL. */
static const char *
severity_of (GVariant *results, const char *subject, const char *check)
{
  GVariantIter iter;
  const char *s;
  const char *c;
  const char *severity;

  g_variant_iter_init (&iter, results);
  while (g_variant_iter_next (&iter, "(&s&s&s&s&s)", &s, &c, &severity, NULL,
                              NULL))
    if (g_str_equal (s, subject) && g_str_equal (c, check))
      return severity;
  return NULL;
}

static void
assert_remote_error (GError *error, const char *name)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);

  g_assert_nonnull (error);
  g_assert_cmpstr (remote, ==, name);
}

/* The daemon still answers. */
static void
assert_alive (Fixture *fx)
{
  g_autoptr (GVariant) value = NULL;
  g_autoptr (GError) error = NULL;

  value = g_dbus_connection_call_sync (
      fx->bus->connection, PP_BUS_NAME, MANAGER_PATH,
      "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", MANAGER_INTERFACE, "Version"), NULL,
      G_DBUS_CALL_FLAGS_NONE, PP_TEST_TIMEOUT * 1000, NULL, &error);
  g_assert_no_error (error);
}

static gboolean
manager_property (Fixture *fx, const char *name)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) value = NULL;
  g_autoptr (GError) error = NULL;

  reply = g_dbus_connection_call_sync (
      fx->bus->connection, PP_BUS_NAME, MANAGER_PATH,
      "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", MANAGER_INTERFACE, name), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NONE, PP_TEST_TIMEOUT * 1000, NULL, &error);
  g_assert_no_error (error);
  g_variant_get (reply, "(v)", &value);
  return g_variant_get_boolean (value);
}

/* ---- the methods ---- */

static void
test_methods (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) host = NULL;
  g_autoptr (GVariant) device = NULL;
  g_autoptr (GVariant) config = NULL;
  g_autofree char *path = config_path ("seed-example.yaml");
  g_autofree char *yaml = NULL;
  /* Spelt out: this test links neither the daemon nor common/. */
  const char *gpu = PP_OBJECT_ROOT "/devices/pci_0000_01_00_0";

  host = call (fx, MANAGER_PATH, MANAGER_INTERFACE, "ValidateHost",
               g_variant_new_parsed ("(@a{sv} {},)"), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (host), ==, 10);
  /* The simulated workstation has its IOMMU on; the properties say what
   * the checks said. */
  g_assert_cmpstr (severity_of (host, "host", "iommu"), ==, "pass");
  g_assert_true (manager_property (fx, "IommuEnabled"));
  g_assert_cmpint (
      manager_property (fx, "KvmAvailable"), ==,
      g_strcmp0 (severity_of (host, "host", "kvm"), "fail") != 0
          && g_strcmp0 (severity_of (host, "host", "cpu-virtualization"),
                        "fail")
                 != 0);

  device = call (fx, gpu, DEVICE_INTERFACE, "Validate",
                 g_variant_new_parsed ("(@a{sv} {},)"), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_variant_n_children (device), ==, 11);
  g_assert_cmpstr (severity_of (device, "0000:01:00.0", "driver"), ==, "warn");

  g_file_get_contents (path, &yaml, NULL, &error);
  g_assert_no_error (error);
  config = validate_config (fx, yaml, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (
      severity_of (config, "gpu-node-01/0000:01:00.0", "group-complete"), ==,
      "pass");

  /* Options are checked like Bind's. */
  g_assert_null (call (fx, MANAGER_PATH, MANAGER_INTERFACE, "ValidateHost",
                       g_variant_new_parsed ("({'force': <true>},)"), &error));
  assert_remote_error (error, "org.freedesktop.DBus.Error.InvalidArgs");
  g_clear_error (&error);
  g_assert_null (validate_config (
      fx, yaml, g_variant_new_parsed ("{'node': <42>}"), &error));
  assert_remote_error (error, "org.freedesktop.DBus.Error.InvalidArgs");
  g_clear_error (&error);
  g_assert_null (validate_config (
      fx, yaml, g_variant_new_parsed ("{'node': <'gpu-node-09'>}"), &error));
  assert_remote_error (error, "io.github.pcipassd.Error.Config");
  g_clear_error (&error);
  assert_alive (fx);
}

/* Hostile input: each a Config error with a position, the daemon alive
 * after every one. */
static void
test_hostile_configs (Fixture *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) inputs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GRegex) position
      = g_regex_new ("^[1-9][0-9]*:[1-9][0-9]*: ", 0, 0, NULL);
  g_autoptr (GString) deep = g_string_new ("compute_nodes: ");
  g_autoptr (GString) big = g_string_new ("compute_nodes: []\n");
  g_autoptr (GString) laughs = g_string_new ("a: &a [x, x, x, x, x, x, x]\n");

  for (guint i = 0; i < 50000; i++)
    g_string_append_c (deep, '[');
  while (big->len <= 1024 * 1024)
    g_string_append (big, "# padding padding padding padding padding\n");
  for (char c = 'b'; c <= 'z'; c++)
    g_string_append_printf (laughs, "%c: &%c [*%c, *%c, *%c, *%c, *%c]\n", c, c,
                            c - 1, c - 1, c - 1, c - 1, c - 1);
  g_string_append (laughs, "compute_nodes: *z\n");

  g_ptr_array_add (inputs, g_strdup ("compute_nodes: [\n  - name: a\n"));
  g_ptr_array_add (inputs, g_strdup ("compute_nodes:\n  - name: \"gpu"));
  g_ptr_array_add (inputs, g_string_free (g_steal_pointer (&deep), FALSE));
  g_ptr_array_add (inputs, g_string_free (g_steal_pointer (&big), FALSE));
  g_ptr_array_add (inputs, g_string_free (g_steal_pointer (&laughs), FALSE));
  g_ptr_array_add (inputs, g_strdup ("- just\n- a\n- list\n"));

  for (guint i = 0; i < inputs->len; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GVariant) results = NULL;

      results = validate_config (fx, inputs->pdata[i], NULL, &error);
      g_assert_null (results);
      assert_remote_error (error, "io.github.pcipassd.Error.Config");
      g_dbus_error_strip_remote_error (error);
      g_test_message ("input %u: %s", i, error->message);
      g_assert_true (g_regex_match (position, error->message, 0, NULL));
      assert_alive (fx);
    }
}

/* ---- pcipassctl validate ---- */

static char *
run_ctl (const char *const *args, char **err, int *status)
{
  return pp_test_run_ctl (args, err, status);
}

static void
test_ctl_device (Fixture *fx, gconstpointer data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  {
    const char *const args[] = { "validate", "01:00.0", NULL };

    out = run_ctl (args, &err, &status);
    g_assert_cmpint (status, ==, 0);
    g_assert_cmpstr (err, ==, "");
    g_assert_true (g_str_has_prefix (out, "SUBJECT       CHECK         "
                                          "RESULT  MESSAGE\n"));
    /* The remedy on the line under its warning. */
    g_assert_nonnull (strstr (out, "0000:01:00.0  driver        warn    on "
                                   "nvidia (NVIDIA's proprietary GPU "
                                   "driver), not on vfio-pci\n"
                                   "    remedy: run pcipassctl bind "
                                   "0000:01:00.0"));
    g_assert_nonnull (
        strstr (out, "\n9 passed, 2 warnings, 0 failed, 0 skipped\n"));
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* The boot GPU is protected: a failed check is exit status 1. */
  {
    const char *const args[] = { "validate", "0000:00:02.0", NULL };

    out = run_ctl (args, &err, &status);
    g_assert_cmpint (status, ==, 1);
    g_assert_nonnull (strstr (out, "protected     fail"));
    g_assert_nonnull (strstr (out, "--force"));
    /* Said once: the table's last line counts the failure. */
    g_assert_nonnull (strstr (out, ", 1 failed, "));
    g_assert_cmpstr (err, ==, "");
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* --json: one object per result, null for no remedy. */
  {
    const char *const args[] = { "validate", "01:00.1", "--json", NULL };
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autoptr (GError) error = NULL;
    JsonArray *array;
    JsonObject *first;

    out = run_ctl (args, &err, &status);
    g_assert_cmpint (status, ==, 0);
    json_parser_load_from_data (parser, out, -1, &error);
    g_assert_no_error (error);
    array = json_node_get_array (json_parser_get_root (parser));
    g_assert_cmpuint (json_array_get_length (array), ==, 11);
    first = json_array_get_object_element (array, 0);
    g_assert_cmpuint (json_object_get_size (first), ==, 5);
    g_assert_cmpstr (json_object_get_string_member (first, "subject"), ==,
                     "0000:01:00.1");
    g_assert_cmpstr (json_object_get_string_member (first, "check"), ==,
                     "address");
    g_assert_cmpstr (json_object_get_string_member (first, "severity"), ==,
                     "pass");
    g_assert_true (json_object_get_null_member (first, "remedy"));
  }
}

static void
test_ctl_config (Fixture *fx, gconstpointer data)
{
  g_autofree char *seed = config_path ("seed-example.yaml");
  g_autofree char *incomplete = config_path ("incomplete-group.yaml");
  g_autofree char *two = config_path ("two-nodes.yaml");
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  {
    const char *const args[] = { "validate", seed, NULL };

    out = run_ctl (args, &err, &status);
    g_assert_cmpint (status, ==, 0);
    g_assert_nonnull (strstr (out, "gpu-node-01/0000:01:00.1  "
                                   "group-complete  pass"));
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  {
    const char *const args[] = { "validate", incomplete, NULL };

    out = run_ctl (args, &err, &status);
    g_assert_cmpint (status, ==, 1);
    g_assert_nonnull (strstr (out, "group-complete  fail"));
    g_assert_nonnull (strstr (out, "    remedy: add to gpu-node-01's "
                                   "pcie_passthrough.devices: "));
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  {
    const char *const args[]
        = { "validate", two, "--node", "gpu-node-02", "--skip-pcie-validation",
            "--json",   NULL };

    out = run_ctl (args, &err, &status);
    /* The NVMe drive is assigned to both nodes: a fail even unchecked
     * against the host. */
    g_assert_cmpint (status, ==, 1);
    g_assert_nonnull (
        strstr (out, "\"subject\" : \"gpu-node-02/0000:02:00.0\""));
    g_assert_null (strstr (out, "gpu-node-01/"));
    g_assert_null (strstr (out, "\"check\" : \"driver\""));
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A Config error reads like a compiler's: FILE:LINE:COLUMN. */
  {
    const char *const args[] = { "validate", two, "--node", "nope", NULL };
    g_autofree char *expected
        = g_strdup_printf ("pcipassctl: error: %s:4:1: no compute node is "
                           "named \"nope\"",
                           two);

    out = run_ctl (args, &err, &status);
    g_assert_cmpint (status, ==, 1);
    g_assert_cmpstr (out, ==, "");
    g_assert_true (g_str_has_prefix (err, expected));
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Standard input. */
  {
    const char *const argv[]
        = { pp_test_pcipassctl_path (), "validate", "-", NULL };
    g_autoptr (GSubprocess) proc = pp_test_spawn (
        G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
            | G_SUBPROCESS_FLAGS_STDERR_PIPE,
        argv);
    g_autoptr (GError) error = NULL;

    g_subprocess_communicate_utf8 (proc, "compute_nodes:\n  - name: [x\n", NULL,
                                   &out, &err, &error);
    g_assert_no_error (error);
    g_assert_cmpint (pp_test_wait_process (proc), ==, 1);
    g_assert_true (
        g_str_has_prefix (err, "pcipassctl: error: (standard input):"));
  }
}

static void
test_ctl_all (Fixture *fx, gconstpointer data)
{
  const char *const args[] = { "validate", "--json", NULL };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  JsonArray *array;
  int status;

  out = run_ctl (args, &err, &status);
  /* The host checks read this machine's /proc and /dev: either. */
  g_assert_true (status == 0 || status == 1);
  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  array = json_node_get_array (json_parser_get_root (parser));
  /* 10 host checks, 11 per device but the 4 bridges and the 3 protected
   * devices: the USB controller, the GPU and its audio function. */
  g_assert_cmpuint (json_array_get_length (array), ==, 10 + 3 * 11);
  g_assert_null (strstr (out, "\"subject\" : \"0000:00:01.0\""));
  g_assert_null (strstr (out, "\"subject\" : \"0000:00:02.0\""));
  g_assert_nonnull (strstr (out, "\"subject\" : \"0000:00:14.0\""));
}

/* pcipassctl writes validation results as JSON itself, a result at a
 * time: what it writes must parse back to the same strings and read
 * exactly as json-glib would write the same array. */
static void
test_ctl_json_text (Fixture *fx, gconstpointer data)
{
  /* A node name with every kind of character JSON escapes, and UTF-8
   * (not "/": node names may not have one). */
  const char *const name = "q\"b\\s t\tn\nr\rc\001d\177\303\251";
  const char *yaml
      = "compute_nodes:\n"
        "  - name: \"q\\\"b\\\\s t\\tn\\nr\\rc\\x01d\\x7f\303\251\"\n"
        "    pcie_passthrough:\n"
        "      enabled: true\n"
        "      devices:\n"
        "        - pci_address: \"0000:01:00.0\"\n"
        "          device_type: \"gpu\"\n";
  g_autofree char *dir = g_dir_make_tmp ("pp-ctl-json-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "hostile.yaml", NULL);
  const char *const args[]
      = { "validate", file, "--skip-pcie-validation", "--json", NULL };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *expected_subject = g_strdup_printf ("%s/0000:01:00.0", name);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *again = NULL;
  g_autofree char *again_line = NULL;
  JsonArray *array;
  gboolean found = FALSE;
  int status;

  g_assert_true (g_file_set_contents (file, yaml, -1, &error));
  out = run_ctl (args, &err, &status);
  g_unlink (file);
  g_rmdir (dir);
  g_assert_true (status == 0 || status == 1);

  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  array = json_node_get_array (json_parser_get_root (parser));
  for (guint i = 0; i < json_array_get_length (array); i++)
    found = found
            || g_strcmp0 (
                   json_object_get_string_member (
                       json_array_get_object_element (array, i), "subject"),
                   expected_subject)
                   == 0;
  g_assert_true (found);

  json_generator_set_root (generator, json_parser_get_root (parser));
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_indent_char (generator, ' ');
  again = json_generator_to_data (generator, NULL);
  again_line = g_strconcat (again, "\n", NULL);
  g_assert_cmpstr (out, ==, again_line);
}

static void
test_ctl_usage (void)
{
  /* clang-format off */
  static const struct { const char *args[5]; const char *pattern; } cases[] = {
    { { "validate", "01:00.0", "--node", "a", NULL }, "FILE only" },
    { { "validate", "--skip-pcie-validation", NULL }, "FILE only" },
    { { "validate", "toaster", NULL }, "neither a PCI address" },
    { { "validate", "01:00.0", "01:00.1", NULL }, "unexpected argument" },
    { { "validate", "--frobnicate", NULL }, "." },
  };
  /* clang-format on */

  load_fixture ("workstation");
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      int status;

      out = run_ctl (cases[i].args, &err, &status);
      g_assert_cmpint (status, ==, 2);
      g_assert_cmpstr (out, ==, "");
      if (!g_regex_match_simple (cases[i].pattern, err, 0, 0))
        g_error ("stderr \"%s\" does not match /%s/", err, cases[i].pattern);
    }
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/ctl-validate/methods", Fixture, "workstation", fixture_setup,
              test_methods, fixture_teardown);
  g_test_add ("/ctl-validate/hostile-configs", Fixture, "workstation",
              fixture_setup, test_hostile_configs, fixture_teardown);
  g_test_add ("/ctl-validate/device", Fixture, "workstation", fixture_setup,
              test_ctl_device, fixture_teardown);
  g_test_add ("/ctl-validate/config", Fixture, "workstation", fixture_setup,
              test_ctl_config, fixture_teardown);
  g_test_add ("/ctl-validate/all", Fixture, "workstation", fixture_setup,
              test_ctl_all, fixture_teardown);
  g_test_add ("/ctl-validate/json-text", Fixture, "workstation", fixture_setup,
              test_ctl_json_text, fixture_teardown);
  g_test_add_func ("/ctl-validate/usage", test_ctl_usage);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
