/* pcipassd: process setup.  Everything else is in the pp-daemon library. */
#include "config.h"

#include "pp-daemon.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>

typedef struct
{
  GMainLoop *loop;
  PpDaemon *daemon;
  gboolean name_acquired;
  int status;
} Context;

static void
stop (Context *ctx, int status)
{
  ctx->status = status;
  g_main_loop_quit (ctx->loop);
}

static void
on_bus_acquired (GDBusConnection *connection,
                 const char *name,
                 gpointer user_data)
{
  Context *ctx = user_data;

  pp_daemon_export (ctx->daemon, connection);
}

static void
on_name_acquired (GDBusConnection *connection,
                  const char *name,
                  gpointer user_data)
{
  Context *ctx = user_data;

  ctx->name_acquired = TRUE;
  g_message ("pcipassd %s owns %s with %u devices", PACKAGE_VERSION, name,
             pp_registry_get_n_devices (pp_daemon_get_registry (ctx->daemon)));
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Context *ctx = user_data;

  if (connection == NULL)
    {
      g_printerr ("pcipassd: cannot connect to the system bus\n");
      stop (ctx, EXIT_FAILURE);
    }
  else if (!ctx->name_acquired)
    {
      g_printerr ("pcipassd: %s is owned by another process "
                  "(use --replace to take it over)\n",
                  name);
      stop (ctx, EXIT_FAILURE);
    }
  else
    {
      g_message ("replaced by another pcipassd: exiting");
      stop (ctx, EXIT_SUCCESS);
    }
}

static gboolean
on_sighup (gpointer user_data)
{
  Context *ctx = user_data;

  pp_daemon_reconcile (ctx->daemon);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_signal (gpointer user_data)
{
  Context *ctx = user_data;

  g_message ("exiting on signal");
  stop (ctx, EXIT_SUCCESS);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) options = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (PpDaemon) daemon = NULL;
  gboolean replace = FALSE;
  gboolean read_only = FALSE;
  gboolean verbose = FALSE;
  gboolean version = FALSE;
  g_autofree char *state_dir = NULL;
  g_autofree char *catalog = NULL;
  double step_timeout = 10.0;
  g_autofree char *proc_dir = NULL;
  g_autofree char *dev_dir = NULL;
  PpDaemonOptions daemon_options = { 0 };
  Context ctx = { 0 };
  guint owner_id;
  guint sigterm_id;
  guint sigint_id;
  guint sighup_id;
  const GOptionEntry entries[] = {
    { "replace", 'r', 0, G_OPTION_ARG_NONE, &replace,
      "Replace a running pcipassd", NULL },
    { "read-only", 0, 0, G_OPTION_ARG_NONE, &read_only,
      "Never write to sysfs: only publish devices", NULL },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir,
      "Where to keep records of moved devices (" PP_STATE_DIR ")", "DIR" },
    { "catalog", 0, 0, G_OPTION_ARG_FILENAME, &catalog,
      "The device catalog (" PP_CATALOG_FILE "; \"\" for none)", "FILE" },
    { "step-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &step_timeout,
      "Seconds to wait for the kernel to confirm each step (10)", "SECONDS" },
    /* For tests, where a testbed cannot hide the host's /dev/kvm. */
    { "proc-dir", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &proc_dir,
      "Where the host checks read /proc", "DIR" },
    { "dev-dir", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &dev_dir,
      "Where the host checks look for /dev nodes", "DIR" },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Print debug messages",
      NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    G_OPTION_ENTRY_NULL,
  };

  setlocale (LC_ALL, "");
  /* A thread-pool worker with nothing left to do waits 15 s for more and
   * then exits, waking the otherwise idle daemon to do it.  Idle workers
   * wait without a timeout instead, a few of them kept: each keeps its
   * uevent monitor (pp-kernel.c), so operations do not open and close a
   * netlink socket each, which under umockdev also raced its uevent
   * sender (a socket gone between its glob and its connect aborts it). */
  g_thread_pool_set_max_unused_threads (4);
  g_thread_pool_set_max_idle_time (0);

  options = g_option_context_new (NULL);
  g_option_context_set_summary (options,
                                "Publishes the host's PCI devices on the "
                                "system bus as io.github.pcipassd.");
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("pcipassd: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("pcipassd %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  if (verbose)
    g_log_set_debug_enabled (TRUE);

  if (step_timeout <= 0 || step_timeout > 3600)
    {
      g_printerr ("pcipassd: --step-timeout must be between 0 and 3600\n");
      return 2;
    }
  daemon_options.read_only = read_only;
  daemon_options.state_dir = state_dir != NULL ? state_dir : PP_STATE_DIR;
  daemon_options.catalog = catalog == NULL    ? PP_CATALOG_FILE
                           : *catalog == '\0' ? NULL
                                              : catalog;
  daemon_options.step_timeout_ms = (guint) (step_timeout * 1000);
  daemon_options.proc_dir = proc_dir;
  daemon_options.dev_dir = dev_dir;

  daemon = pp_daemon_new (&daemon_options, &error);
  if (daemon == NULL)
    {
      g_printerr ("pcipassd: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (read_only)
    g_message ("read-only: sysfs will not be written");

  loop = g_main_loop_new (NULL, FALSE);
  ctx.loop = loop;
  ctx.daemon = daemon;
  ctx.status = EXIT_SUCCESS;

  sigterm_id = g_unix_signal_add (SIGTERM, on_signal, &ctx);
  sigint_id = g_unix_signal_add (SIGINT, on_signal, &ctx);
  sighup_id = g_unix_signal_add (SIGHUP, on_sighup, &ctx);

  owner_id = g_bus_own_name (G_BUS_TYPE_SYSTEM, PP_BUS_NAME,
                             G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT
                                 | (replace ? G_BUS_NAME_OWNER_FLAGS_REPLACE
                                            : G_BUS_NAME_OWNER_FLAGS_NONE),
                             on_bus_acquired, on_name_acquired, on_name_lost,
                             &ctx, NULL);

  g_main_loop_run (loop);

  g_bus_unown_name (owner_id);
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);
  g_source_remove (sighup_id);
  return ctx.status;
}
