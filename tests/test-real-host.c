/* The one test that reads this machine's real /sys: pcipassd --read-only
 * on a private bus must report what lspci reports.  It runs without the
 * umockdev preload and must never write anything. */
#include "config.h"

#include "pp-test-bus.h"

#include <json-glib/json-glib.h>

typedef struct
{
  char *vendor;
  char *device;
  char *class_code; /* base class and subclass, as lspci -nn shows them */
  char *driver;
} LspciDevice;

static void
lspci_device_free (LspciDevice *dev)
{
  g_free (dev->vendor);
  g_free (dev->device);
  g_free (dev->class_code);
  g_free (dev->driver);
  g_free (dev);
}

/* address -> LspciDevice, from `lspci -nnk -D`. */
static GHashTable *
run_lspci (void)
{
  g_autofree char *lspci = pp_test_require_program ("lspci");
  const char *argv[] = { lspci, "-nnk", "-D", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GRegex) device_re = NULL;
  GHashTable *devices;
  LspciDevice *current = NULL;

  proc = pp_test_spawn (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, argv);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (pp_test_wait_process (proc), ==, 0);

  /* "0000:00:03.0 Ethernet controller [0200]: Red Hat, Inc. Virtio 1.0
   * network device [1af4:1041] (rev 01)": the last [vvvv:dddd] is the ID. */
  device_re = g_regex_new ("^([0-9a-f]{4,5}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]) "
                           ".*\\[([0-9a-f]{4})\\]: "
                           ".*\\[([0-9a-f]{4}):([0-9a-f]{4})\\]",
                           0, 0, &error);
  g_assert_no_error (error);

  devices = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                   (GDestroyNotify) lspci_device_free);
  lines = g_strsplit (out, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    {
      g_autoptr (GMatchInfo) match = NULL;

      if (g_regex_match (device_re, *line, 0, &match))
        {
          current = g_new0 (LspciDevice, 1);
          current->class_code = g_match_info_fetch (match, 2);
          current->vendor = g_match_info_fetch (match, 3);
          current->device = g_match_info_fetch (match, 4);
          g_hash_table_insert (devices, g_match_info_fetch (match, 1), current);
        }
      else if (current != NULL
               && g_str_has_prefix (*line, "\tKernel driver in use: "))
        {
          current->driver
              = g_strdup (*line + strlen ("\tKernel driver in use: "));
        }
    }
  return devices;
}

static void
test_real_host_matches_lspci (void)
{
  g_autoptr (PpTestBus) bus = NULL;
  g_autoptr (GHashTable) lspci = run_lspci ();
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  const char *const daemon_args[] = { "--read-only", NULL };
  const char *const ctl_args[] = { "list", "--json", NULL };
  JsonArray *list;
  int status;

  g_assert_cmpuint (g_hash_table_size (lspci), >, 0);

  bus = pp_test_bus_new (FALSE);
  pp_test_bus_start_daemon (bus, daemon_args);

  out = pp_test_run_ctl (ctl_args, &err, &status);
  g_assert_cmpstr (err, ==, "");
  g_assert_cmpint (status, ==, 0);

  json_parser_load_from_data (parser, out, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)));
  list = json_node_get_array (json_parser_get_root (parser));
  g_assert_cmpuint (json_array_get_length (list), ==,
                    g_hash_table_size (lspci));

  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *dev = json_array_get_object_element (list, i);
      const char *address = json_object_get_string_member (dev, "address");
      LspciDevice *expected = g_hash_table_lookup (lspci, address);
      g_autofree char *class16 = NULL;
      const char *driver = NULL;

      g_test_message ("checking %s", address);
      g_assert_nonnull (expected);
      g_assert_cmpstr (json_object_get_string_member (dev, "vendor_id"), ==,
                       expected->vendor);
      g_assert_cmpstr (json_object_get_string_member (dev, "device_id"), ==,
                       expected->device);
      class16
          = g_strndup (json_object_get_string_member (dev, "class_code"), 4);
      g_assert_cmpstr (class16, ==, expected->class_code);
      if (!json_object_get_null_member (dev, "driver"))
        driver = json_object_get_string_member (dev, "driver");
      g_assert_cmpstr (driver, ==, expected->driver);
    }

  pp_test_bus_stop_daemon (bus);
}

int
main (int argc, char **argv)
{
  /* This test must see the real /sys: refuse to run under the preload,
   * where it would be checking a testbed instead. */
  if (g_getenv ("UMOCKDEV_DIR") != NULL
      || strstr (g_getenv ("LD_PRELOAD") ? g_getenv ("LD_PRELOAD") : "",
                 "umockdev")
             != NULL)
    g_error ("test-real-host must run without the umockdev preload");

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/real-host/matches-lspci", test_real_host_matches_lspci);
  return g_test_run ();
}
