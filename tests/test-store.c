/* PpStore: records survive restarts, bad ones are moved aside with their
 * line named and never crash or steer the daemon, and a crash at any point
 * of a save leaves the old file or the new one, with no temporary file
 * once the next daemon has started. */
#include "config.h"

#include "pp-store.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

typedef struct
{
  char *dir;
  char *file;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fx->dir = g_dir_make_tmp ("pp-store-XXXXXX", &error);
  g_assert_no_error (error);
  fx->file = g_build_filename (fx->dir, PP_STORE_FILE, NULL);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autoptr (GDir) dir = g_dir_open (fx->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fx->dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (fx->dir);
  g_free (fx->dir);
  g_free (fx->file);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The names in the state directory, sorted, space-separated. */
static char *
list_dir (Fixture *fx)
{
  g_autoptr (GDir) dir = g_dir_open (fx->dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* Every record as "addr=driver/override[/pending]", then every lease as
 * "addr@owner" and every persistent binding as "addr+", space-separated. */
static char *
describe (PpStore *store)
{
  g_auto (GStrv) list = pp_store_list (store);
  g_auto (GStrv) owned = pp_store_list_owned (store);
  g_auto (GStrv) persistent = pp_store_list_persistent (store);
  g_autoptr (GString) out = g_string_new (NULL);

  for (char **a = owned; *a != NULL; a++)
    {
      g_autofree char *owner = pp_store_get_owner (store, *a);

      g_assert_nonnull (owner);
      g_assert_true (pp_store_owner_is_valid (owner));
    }

  for (char **a = list; *a != NULL; a++)
    {
      g_autofree char *driver = NULL;
      g_autofree char *override = NULL;
      g_autofree char *pending = pp_store_get_pending (store, *a);

      g_assert_true (pp_store_lookup (store, *a, &driver, &override));
      g_string_append_printf (out, "%s%s=%s/%s%s%s", out->len ? " " : "", *a,
                              driver, override, pending ? "/" : "",
                              pending ? pending : "");
    }
  for (char **a = owned; *a != NULL; a++)
    {
      g_autofree char *owner = pp_store_get_owner (store, *a);

      g_string_append_printf (out, "%s%s@%s", out->len ? " " : "", *a, owner);
    }
  for (char **a = persistent; *a != NULL; a++)
    {
      g_assert_true (pp_store_get_persistent (store, *a));
      g_string_append_printf (out, "%s%s+", out->len ? " " : "", *a);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
write_file (Fixture *fx, const char *contents, gssize len)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (fx->file, contents, len, &error);
  g_assert_no_error (error);
}

static void
test_round_trip (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpStore) store = pp_store_new (fx->dir, &error);
  g_autoptr (PpStore) reloaded = NULL;
  g_autofree char *text = NULL;
  const PpRecord gpu[] = {
    { "0000:01:00.0", "nvidia", "" },
    { "0000:01:00.1", "snd_hda_intel", "" },
  };
  const PpRecord vmd[] = { { "10000:01:00.0", "", "vfio-pci" } };
  const char *const gpu_addresses[] = { "0000:01:00.0", "0000:01:00.1", NULL };

  g_assert_no_error (error);
  text = describe (store);
  g_assert_cmpstr (text, ==, "");
  g_clear_pointer (&text, g_free);

  g_assert_true (pp_store_begin (store, PP_STORE_PENDING_BIND, gpu, 2, &error));
  g_assert_true (pp_store_begin (store, PP_STORE_PENDING_BIND, vmd, 1, &error));
  g_assert_no_error (error);

  /* What a daemon that crashed now would find. */
  reloaded = pp_store_new (fx->dir, &error);
  g_assert_no_error (error);
  text = describe (reloaded);
  g_assert_cmpstr (text, ==,
                   "0000:01:00.0=nvidia//bind 0000:01:00.1=snd_hda_intel//bind "
                   "10000:01:00.0=/vfio-pci/bind");
  g_clear_pointer (&text, g_free);
  g_clear_object (&reloaded);

  /* A record already on file keeps its original driver when a later
   * operation marks it. */
  g_assert_true (pp_store_end (store, gpu_addresses, &error));
  {
    const PpRecord again[] = { { "0000:01:00.0", "vfio-pci", "vfio-pci" } };
    g_assert_true (
        pp_store_begin (store, PP_STORE_PENDING_UNBIND, again, 1, &error));
  }
  g_assert_true (pp_store_remove (store, "0000:01:00.1", &error));
  g_assert_no_error (error);

  reloaded = pp_store_new (fx->dir, &error);
  text = describe (reloaded);
  g_assert_cmpstr (text, ==,
                   "0000:01:00.0=nvidia//unbind 10000:01:00.0=/vfio-pci/bind");
  g_clear_pointer (&text, g_free);

  text = list_dir (fx);
  g_assert_cmpstr (text, ==, PP_STORE_FILE);
}

static void
test_leases (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpStore) store = pp_store_new (fx->dir, &error);
  g_autoptr (PpStore) reloaded = NULL;
  g_autofree char *text = NULL;
  g_autofree char *contents = NULL;
  const PpRecord gpu[] = { { "0000:01:00.0", "nvidia", "" } };
  const char *const addresses[] = { "0000:01:00.0", NULL };

  g_assert_no_error (error);
  g_assert_true (pp_store_set_owner (store, "0000:01:00.0", "vm-1", &error));
  g_assert_true (
      pp_store_set_owner (store, "0000:af:00.0", "k8s/ns/pod:1", &error));
  g_assert_true (pp_store_set_persistent (store, "0000:01:00.0", TRUE, &error));
  g_assert_true (pp_store_begin (store, PP_STORE_PENDING_BIND, gpu, 1, &error));
  g_assert_true (pp_store_end (store, addresses, &error));
  g_assert_no_error (error);

  /* Version 2, with its header first. */
  g_assert_true (g_file_get_contents (fx->file, &contents, NULL, NULL));
  g_assert_true (g_str_has_prefix (
      contents, "# pcipassd state: see the README, \"The state file\".\n"
                "[pcipassd]\nversion=2\n"));

  reloaded = pp_store_new (fx->dir, &error);
  g_assert_no_error (error);
  text = describe (reloaded);
  g_assert_cmpstr (
      text, ==,
      "0000:01:00.0=nvidia/ 0000:01:00.0@vm-1 0000:af:00.0@k8s/ns/pod:1 "
      "0000:01:00.0+");
  g_clear_pointer (&text, g_free);
  g_clear_object (&reloaded);

  /* Giving the device back keeps the lease and the persistence. */
  g_assert_true (pp_store_remove (store, "0000:01:00.0", &error));
  g_assert_true (pp_store_set_owner (store, "0000:af:00.0", NULL, &error));
  reloaded = pp_store_new (fx->dir, &error);
  text = describe (reloaded);
  g_assert_cmpstr (text, ==, "0000:01:00.0@vm-1 0000:01:00.0+");
}

static void
test_version_1 (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpStore) store = NULL;
  g_autofree char *text = NULL;
  g_autofree char *names = NULL;

  /* What pcipassd wrote before format 2: read as it is, nothing aside. */
  write_file (fx,
              "[0000:01:00.0]\ndriver=nvidia\ndriver-override=\n"
              "pending=bind\n",
              -1);
  store = pp_store_new (fx->dir, &error);
  g_assert_no_error (error);
  text = describe (store);
  g_assert_cmpstr (text, ==, "0000:01:00.0=nvidia//bind");
  names = list_dir (fx);
  g_assert_cmpstr (names, ==, PP_STORE_FILE);
}

static void
test_newer_version (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpStore) store = NULL;
  g_autofree char *names = NULL;
  g_autofree char *contents = NULL;
  const char *newer = "[pcipassd]\nversion=3\n[0000:01:00.0]\ndriver=nvidia\n"
                      "colour=blue\n";

  /* Refused, named, and left exactly as it is for the daemon that
   * wrote it. */
  write_file (fx, newer, -1);
  store = pp_store_new (fx->dir, &error);
  g_assert_null (store);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, fx->file));
  g_assert_nonnull (strstr (error->message, "format version 3, newer than "
                                            "this pcipassd reads (2)"));
  names = list_dir (fx);
  g_assert_cmpstr (names, ==, PP_STORE_FILE);
  g_assert_true (g_file_get_contents (fx->file, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, newer);
}

static void
test_unreadable (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpStore) store = NULL;
  g_autofree char *names = NULL;
  g_autofree char *glob = NULL;

  /* A directory where the file should be cannot be read; it is moved
   * aside rather than replaced by the next save. */
  g_assert_cmpint (g_mkdir (fx->file, 0700), ==, 0);
  glob = g_strdup_printf ("%s:*starting with no records (the file is moved "
                          "aside to %s.bad-*",
                          fx->file, fx->file);
  g_test_expect_message (NULL, G_LOG_LEVEL_WARNING, glob);
  store = pp_store_new (fx->dir, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_true (pp_store_set_owner (store, "0000:01:00.0", "vm-1", &error));
  names = list_dir (fx);
  g_assert_true (
      g_str_has_prefix (names, PP_STORE_FILE " " PP_STORE_FILE ".bad-"));
  {
    g_autofree char *aside
        = g_build_filename (fx->dir, strchr (names, ' ') + 1, NULL);
    g_assert_true (g_file_test (aside, G_FILE_TEST_IS_DIR));
    g_rmdir (aside);
  }
}

typedef struct
{
  const char *name;
  const char *contents;
  gssize len;
  const char *message; /* the warning, as a g_test_expect_message glob */
  const char *kept;    /* describe() of what loads */
} BadCase;

#define NUL_CASE "[0000:01:00.0]\ndriver=nvi\0dia\n[0000:02:00.0]\ndriver=igb\n"

static const BadCase bad_cases[] = {
  /* The crash that was reported: invalid UTF-8 made the daemon segfault. */
  { "utf8", "[0000:01:00.0]\ndriver=\xff\xfe\n[0000:02:00.0]\ndriver=igb\n", -1,
    "*line 2: text that is not valid UTF-8*[0000:01:00.0]*",
    "0000:02:00.0=igb/" },
  /* A driver name that would climb out of drivers/. */
  { "traversal",
    "[0000:01:00.0]\ndriver=../../../../tmp/x\n[0000:02:00.0]\ndriver=igb\n",
    -1, "*line 2: driver \"../../../../tmp/x\" is not a driver name*",
    "0000:02:00.0=igb/" },
  { "dot-dot", "[0000:01:00.0]\ndriver=..\n", -1,
    "*line 2: driver \"..\" is not a driver name*", "" },
  { "override-newline",
    "[0000:01:00.0]\ndriver=nvidia\ndriver-override=vfio-pci\\nnvidia\n", -1,
    "*line 3: driver-override*is not a driver name*", "" },
  /* A value cut at a NUL byte. */
  { "nul", NUL_CASE, sizeof (NUL_CASE) - 1, "*line 2: a NUL byte*",
    "0000:02:00.0=igb/" },
  { "unknown-key", "[0000:01:00.0]\ndriver=nvidia\ncolour=blue\n", -1,
    "*line 3: unknown key \"colour\"*", "" },
  { "bad-address", "[0000:01:00.0]\ndriver=nvidia\n[01:00.0]\ndriver=igb\n", -1,
    "*line 3: \"01:00.0\" is not a PCI address*", "0000:01:00.0=nvidia/" },
  { "uppercase-address", "[0000:0A:00.0]\ndriver=nvidia\n", -1,
    "*line 1: \"0000:0A:00.0\" is not a PCI address*", "" },
  { "duplicate", "[0000:01:00.0]\ndriver=nvidia\n[0000:01:00.0]\ndriver=igb\n",
    -1, "*line 3: a second record for 0000:01:00.0*", "0000:01:00.0=nvidia/" },
  { "no-driver", "[0000:01:00.0]\ndriver-override=\n", -1,
    "*line 1: no driver*", "" },
  { "bad-pending", "[0000:01:00.0]\ndriver=nvidia\npending=maybe\n", -1,
    "*line 3: pending is \"maybe\"*", "" },
  { "twice", "[0000:01:00.0]\ndriver=nvidia\ndriver=igb\n", -1,
    "*line 3: driver given twice*", "" },
  { "not-key-value", "[0000:01:00.0]\ndriver=nvidia\njunk\n", -1,
    "*line 3: not a \"key=value\" line*", "" },
  /* Format 2: leases and persistent bindings. */
  { "bad-owner", "[0000:01:00.0]\nowner=vm 1\n[0000:02:00.0]\nowner=vm-2\n", -1,
    "*line 2: owner \"vm 1\" is not an owner name*", "0000:02:00.0@vm-2" },
  { "bad-persistent", "[pcipassd]\nversion=2\n[0000:01:00.0]\npersistent=yes\n",
    -1, "*line 4: persistent is \"yes\", not true*", "" },
  { "override-without-driver",
    "[0000:01:00.0]\ndriver-override=vfio-pci\nowner=vm-1\n", -1,
    "*line 1: no driver*", "" },
  { "bad-version", "[pcipassd]\nversion=two\n[0000:01:00.0]\ndriver=igb\n", -1,
    "*line 2: not \"version=N\", the only key of the header*", "" },
  { "no-version", "[pcipassd]\n[0000:01:00.0]\ndriver=igb\n", -1,
    "*line 2: [pcipassd] has no version*", "" },
  { "late-header", "[0000:01:00.0]\ndriver=igb\n[pcipassd]\nversion=2\n", -1,
    "*line 3: [pcipassd] is not the first group*", "" },
  /* Not a state file at all: nothing is kept, nothing is lost. */
  { "truncated-header", "[0000:01:00.0\ndriver=nvidia\n", -1,
    "*line 1: not a \"[address]\" line*", "" },
  { "garbage",
    "\x7f"
    "ELF\x02\x01\x01",
    -1, "*line 1: text before the first record*", "" },
};

static void
test_bad_record (Fixture *fx, gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (PpStore) store = NULL;
  g_autoptr (PpStore) reloaded = NULL;
  g_autofree char *text = NULL;
  g_autofree char *names = NULL;
  g_autofree char *aside = NULL;
  g_autofree char *aside_contents = NULL;
  gsize aside_len = 0;
  gsize len = c->len >= 0 ? (gsize) c->len : strlen (c->contents);
  g_autofree char *glob = g_strdup_printf ("%s:*%s", fx->file, c->message);

  write_file (fx, c->contents, (gssize) len);
  g_test_expect_message (NULL, G_LOG_LEVEL_WARNING, glob);
  store = pp_store_new (fx->dir, &error);
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_nonnull (store);
  text = describe (store);
  g_assert_cmpstr (text, ==, c->kept);
  g_clear_pointer (&text, g_free);

  /* The file as it was sits beside the new one, byte for byte. */
  names = list_dir (fx);
  g_assert_true (
      g_str_has_prefix (names, PP_STORE_FILE " " PP_STORE_FILE ".bad-"));
  aside = g_build_filename (fx->dir, strchr (names, ' ') + 1, NULL);
  g_assert_true (
      g_file_get_contents (aside, &aside_contents, &aside_len, NULL));
  g_assert_cmpmem (aside_contents, aside_len, c->contents, len);

  /* And the next start finds nothing wrong. */
  reloaded = pp_store_new (fx->dir, &error);
  g_assert_no_error (error);
  text = describe (reloaded);
  g_assert_cmpstr (text, ==, c->kept);
}

static void
test_stale_temporaries (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpStore) store = NULL;
  g_autofree char *names = NULL;
  g_autofree char *temp = g_strconcat (fx->file, ".tmp", NULL);
  g_autofree char *glib_temp = g_strconcat (fx->file, ".Ab12Cd", NULL);
  g_autofree char *aside
      = g_strconcat (fx->file, ".bad-20261203T000000Z", NULL);

  write_file (fx, "[0000:01:00.0]\ndriver=nvidia\n", -1);
  g_assert_true (g_file_set_contents (temp, "[0000:01:00.0]\ndri", -1, NULL));
  g_assert_true (g_file_set_contents (glib_temp, "", -1, NULL));
  g_assert_true (g_file_set_contents (aside, "kept", -1, NULL));

  store = pp_store_new (fx->dir, &error);
  g_assert_no_error (error);
  names = list_dir (fx);
  g_assert_cmpstr (names, ==,
                   PP_STORE_FILE " " PP_STORE_FILE ".bad-20261203T000000Z");
}

/* The states the writer below goes through, one per save. */
static const char *const writer_states[] = {
  "",
  "0000:01:00.0=nvidia//bind 0000:01:00.1=snd_hda_intel//bind",
  "0000:01:00.0=nvidia/ 0000:01:00.1=snd_hda_intel/",
  "0000:01:00.0=nvidia/ 0000:01:00.1=snd_hda_intel/ 0000:01:00.0@vm-1",
  "0000:01:00.0=nvidia/ 0000:01:00.1=snd_hda_intel/ 0000:01:00.0@vm-1 "
  "0000:01:00.0+",
  "0000:01:00.0=nvidia//unbind 0000:01:00.1=snd_hda_intel//unbind "
  "0000:01:00.0@vm-1 0000:01:00.0+",
  "0000:01:00.1=snd_hda_intel//unbind 0000:01:00.0@vm-1 0000:01:00.0+",
  "0000:01:00.0@vm-1 0000:01:00.0+",
  "0000:01:00.0+",
  "",
  NULL,
};

static void
run_writer (void)
{
  g_autoptr (PpStore) store = pp_store_new (g_getenv ("PP_STORE_DIR"), NULL);
  const PpRecord gpu[] = {
    { "0000:01:00.0", "nvidia", "" },
    { "0000:01:00.1", "snd_hda_intel", "" },
  };
  const char *const addresses[] = { "0000:01:00.0", "0000:01:00.1", NULL };

  g_assert_true (pp_store_begin (store, PP_STORE_PENDING_BIND, gpu, 2, NULL));
  g_assert_true (pp_store_end (store, addresses, NULL));
  g_assert_true (pp_store_set_owner (store, "0000:01:00.0", "vm-1", NULL));
  /* Saying it again saves nothing: no kill point. */
  g_assert_true (pp_store_set_owner (store, "0000:01:00.0", "vm-1", NULL));
  g_assert_true (pp_store_set_persistent (store, "0000:01:00.0", TRUE, NULL));
  g_assert_true (pp_store_begin (store, PP_STORE_PENDING_UNBIND, gpu, 2, NULL));
  g_assert_true (pp_store_remove (store, "0000:01:00.0", NULL));
  g_assert_true (pp_store_remove (store, "0000:01:00.1", NULL));
  g_assert_true (pp_store_set_owner (store, "0000:01:00.0", NULL, NULL));
  g_assert_true (pp_store_set_persistent (store, "0000:01:00.0", FALSE, NULL));
}

static void
test_killed_while_saving (Fixture *fx, gconstpointer data)
{
  guint survived = 0;

  if (g_test_subprocess ())
    {
      run_writer ();
      return;
    }

  g_setenv ("PP_STORE_DIR", fx->dir, TRUE);
  /* Two kill points a save (temporary written; renamed), nine saves: the
   * nineteenth run gets through. */
  for (guint at = 1; survived == 0 && at <= 30; at++)
    {
      g_autofree char *n = g_strdup_printf ("%u", at);
      g_autoptr (PpStore) store = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *text = NULL;
      g_autofree char *names = NULL;
      guint save = (at - 1) / 2;

      g_unlink (fx->file);
      g_setenv ("PCIPASSD_TEST_KILL_AT", n, TRUE);
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_unsetenv ("PCIPASSD_TEST_KILL_AT");
      if (g_test_trap_has_passed ())
        {
          survived = at;
          break;
        }
      g_test_trap_assert_failed ();

      store = pp_store_new (fx->dir, &error);
      g_assert_no_error (error);
      text = describe (store);
      /* Killed before the rename of save k: the state before it; after: the
       * state after it.  Never anything else. */
      g_test_message ("kill point %u: %s", at, text);
      g_assert_cmpstr (text, ==, writer_states[at % 2 == 1 ? save : save + 1]);
      names = list_dir (fx);
      /* Before the first rename there was never a file. */
      g_assert_cmpstr (names, ==, at == 1 ? "" : PP_STORE_FILE);
    }
  g_unsetenv ("PP_STORE_DIR");
  g_assert_cmpuint (survived, ==, 19);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(name, data, func)                                                  \
  g_test_add (name, Fixture, data, fixture_setup, func, fixture_teardown)

  ADD ("/store/round-trip", NULL, test_round_trip);
  ADD ("/store/stale-temporaries", NULL, test_stale_temporaries);
  ADD ("/store/leases", NULL, test_leases);
  ADD ("/store/version-1", NULL, test_version_1);
  ADD ("/store/newer-version", NULL, test_newer_version);
  ADD ("/store/unreadable", NULL, test_unreadable);
  ADD ("/store/killed-while-saving", NULL, test_killed_while_saving);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name
          = g_strdup_printf ("/store/bad-record/%s", bad_cases[i].name);
      ADD (name, &bad_cases[i], test_bad_record);
    }
  return g_test_run ();
}
