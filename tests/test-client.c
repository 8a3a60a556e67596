/* pcipassctl against pcipassd on a simulated host: each command's output
 * must match the reviewed golden file in tests/fixtures/expected/ exactly,
 * and errors must give the documented exit codes.
 *
 * To regenerate golden files after an intended change, run the test with
 * PP_UPDATE_GOLDEN=1 and review the diff before committing it. */
#include "config.h"

#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <umockdev.h>

static UMockdevTestbed *testbed;

typedef struct
{
  const char *fixture;
  const char *golden; /* NULL: only the exit status is checked */
  int status;
  const char *stderr_pattern; /* regex the error output must match */
  const char *args[6];
} Case;

static const Case cases[] = {
  { "workstation", "workstation-list.txt", 0, NULL, { "list" } },
  { "workstation", "workstation-list.json", 0, NULL, { "list", "--json" } },
  { "workstation",
    "workstation-list-gpu.txt",
    0,
    NULL,
    { "list", "--type", "gpu" } },
  { "workstation", "workstation-groups.txt", 0, NULL, { "groups" } },
  { "workstation", "workstation-groups.json", 0, NULL, { "groups", "--json" } },
  { "workstation",
    "workstation-show-gpu.txt",
    0,
    NULL,
    { "show", "0000:01:00.0" } },
  { "workstation", "workstation-show-gpu.txt", 0, NULL, { "show", "01:00.0" } },
  { "workstation",
    "workstation-show-audio.json",
    0,
    NULL,
    { "show", "01:00.1", "--json" } },
  { "server", "server-list.txt", 0, NULL, { "list" } },
  { "server", "server-list.json", 0, NULL, { "list", "--json" } },
  { "server", "server-groups.txt", 0, NULL, { "groups" } },
  { "server", "server-groups.json", 0, NULL, { "groups", "--json" } },
  { "server", "server-show-pf.txt", 0, NULL, { "show", "0000:3b:00.0" } },
  { "server",
    "server-show-vf.json",
    0,
    NULL,
    { "show", "0000:3b:02.2", "--json" } },
  { "server",
    "server-show-vmd-nvme.txt",
    0,
    NULL,
    { "show", "10000:01:00.0" } },
  /* errors */
  { "workstation",
    NULL,
    1,
    "no PCI device at 0000:07:00\\.0",
    { "show", "0000:07:00.0" } },
  { "workstation",
    NULL,
    2,
    "invalid PCI address \"01:00\"",
    { "show", "01:00" } },
  { "workstation", NULL, 2, "invalid PCI address", { "show", "0000:01:20.0" } },
  { "workstation", NULL, 2, "unknown command", { "frobnicate" } },
  { "workstation", NULL, 2, "gpu|type", { "list", "--type", "toaster" } },
  { "workstation", NULL, 2, ".", { "list", "--no-such-option" } },
  { "workstation", NULL, 2, ".", { NULL } },
  { "workstation", NULL, 2, ".", { "show" } },
};

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
check_golden (const char *golden, const char *out)
{
  g_autofree char *path = g_build_filename (g_getenv ("PP_FIXTURES_DIR"),
                                            "expected", golden, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *expected = NULL;

  if (g_getenv ("PP_UPDATE_GOLDEN") != NULL)
    {
      g_file_set_contents (path, out, -1, &error);
      g_assert_no_error (error);
      return;
    }

  g_file_get_contents (path, &expected, NULL, &error);
  g_assert_no_error (error);
  if (g_strcmp0 (expected, out) != 0)
    g_error ("output differs from %s; got:\n%s", path, out);
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  g_autoptr (PpTestBus) bus = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  int status;

  load_fixture (c->fixture);
  bus = pp_test_bus_new (TRUE);
  pp_test_bus_start_daemon (bus, NULL);

  out = pp_test_run_ctl (c->args, &err, &status);
  if (status != c->status)
    g_error ("exit status %d, expected %d; stderr: %s", status, c->status, err);

  if (c->golden != NULL)
    {
      g_assert_cmpstr (err, ==, "");
      check_golden (c->golden, out);
    }
  else
    {
      g_assert_cmpstr (out, ==, "");
      g_assert_true (g_str_has_prefix (err, "pcipassctl: "));
      if (!g_regex_match_simple (c->stderr_pattern, err, 0, 0))
        g_error ("stderr \"%s\" does not match /%s/", err, c->stderr_pattern);
    }
}

static void
test_not_running (void)
{
  g_autoptr (PpTestBus) bus = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  const char *const args[] = { "list", NULL };
  int status;

  load_fixture ("workstation");
  bus = pp_test_bus_new (FALSE);

  out = pp_test_run_ctl (args, &err, &status);
  g_assert_cmpint (status, ==, 1);
  g_assert_cmpstr (out, ==, "");
  g_assert_nonnull (strstr (err, "pcipassd is not running"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* validate asks the daemon otherwise (sd-bus, one ValidateHost call),
   * with the same answer. */
  {
    const char *const validate[] = { "validate", NULL };

    out = pp_test_run_ctl (validate, &err, &status);
    g_assert_cmpint (status, ==, 1);
    g_assert_cmpstr (out, ==, "");
    g_assert_nonnull (strstr (err, "pcipassd is not running"));
  }
}

/* At 80 columns (COLUMNS, as when piped from an 80-column terminal): no
 * line is longer, and the columns that matter are whole in every row;
 * only names are cut, with an ellipsis. */
static void
test_width_80 (void)
{
  g_autoptr (PpTestBus) bus = NULL;
  const char *const commands[][3] = {
    { "list", NULL },
    { "groups", NULL },
    { "show", "0000:3b:00.0", NULL },
  };
  gboolean cut = FALSE;

  load_fixture ("server");
  bus = pp_test_bus_new (TRUE);
  pp_test_bus_start_daemon (bus, NULL);
  g_setenv ("COLUMNS", "80", TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;
      g_auto (GStrv) lines = NULL;
      int status;

      out = pp_test_run_ctl (commands[i], &err, &status);
      g_assert_cmpint (status, ==, 0);
      lines = g_strsplit (out, "\n", -1);
      for (char **l = lines; *l != NULL; l++)
        {
          if (g_utf8_strlen (*l, -1) > 80)
            g_error ("%s: a line of %ld columns: %s", commands[i][0],
                     g_utf8_strlen (*l, -1), *l);
          cut |= strstr (*l, "…") != NULL;
        }
    }
  g_unsetenv ("COLUMNS");
  g_assert_true (cut); /* the server's names are long: the limit bit */

  /* Every list row still has its driver, group and state whole. */
  {
    const char *const list[] = { "list", NULL };
    g_autofree char *out = NULL;
    int status;

    g_setenv ("COLUMNS", "80", TRUE);
    out = pp_test_run_ctl (list, NULL, &status);
    g_unsetenv ("COLUMNS");
    g_assert_nonnull (
        strstr (out, "0000:3b:02.1   network  vfio-pci   43     vfio"));
    g_assert_nonnull (
        strstr (out, "0000:af:00.1   network  mlx5_core  82     host"));
  }
}

static void
test_version (void)
{
  const char *const args[] = { "--version", NULL };
  g_autofree char *out = NULL;
  int status;

  out = pp_test_run_ctl (args, NULL, &status);
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpstr (out, ==, "pcipassctl " PACKAGE_VERSION "\n");
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *joined = g_strjoinv (
          " ",
          (char **) (cases[i].args[0] ? cases[i].args
                                      : (const char *[]){ "(none)", NULL }));
      g_autofree char *name = NULL;

      g_strdelimit (joined, " /", '_');
      name = g_strdup_printf ("/client/%s/%s", cases[i].fixture, joined);
      g_test_add_data_func (name, &cases[i], test_case);
    }
  g_test_add_func ("/client/not-running", test_not_running);
  g_test_add_func ("/client/version", test_version);
  g_test_add_func ("/client/server/width-80", test_width_80);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
