/* pcipass-testbed: run a command on a simulated PCI host.
 *
 *   pcipass-testbed [--print-root] FIXTURE -- COMMAND [ARGS...]
 *
 * Builds the host described by FIXTURE (a .topo file, or the name of one
 * in the fixtures directory such as "server"), runs COMMAND in it with
 * libumockdev-preload so that its /sys is the simulated one, and removes
 * the testbed when COMMAND ends.  Exits with COMMAND's status, or 128 plus
 * the signal number when COMMAND was killed.  stdin, stdout and stderr are
 * inherited, so `pcipass-testbed server -- bash` gives an interactive shell.
 *
 * With --control FIFO, it makes FIFO and reads commands from it, one a
 * line, for tests outside the testbed (such as the Cockpit page's):
 *   add FIXTURE     adds the fixture file's functions to the running host,
 *                   with their "add" uevents, as if plugged in;
 *   open-group N    opens /dev/vfio/N and holds it, as a VM would;
 *   close-group N   lets it go;
 *   stick ADDR      (with --kernel) binds of ADDR never complete, as when
 *                   a probe hangs; unstick ADDR ends that.
 * The holder is this process: COMMAND (in the private user namespace of
 * --kernel) may look at its descriptors, which it may not do for a
 * process outside that namespace.
 */

#include "pp-fake-kernel.h"
#include "pp-testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRELOAD_LIB "libumockdev-preload.so.0"
#define EXIT_USAGE 2

typedef struct
{
  GMainLoop *loop;
  GPid pid;
  int wait_status;
} Child;

typedef struct
{
  Child *child;
  int signum;
} Forward;

static void
usage (FILE *out)
{
  fputs ("Usage: pcipass-testbed [--print-root] [--kernel] FIXTURE -- COMMAND "
         "[ARGS...]\n"
         "\n"
         "Builds the simulated PCI host FIXTURE (a .topo file, or a name\n"
         "such as \"server\" from the fixtures directory), runs COMMAND on\n"
         "it under " PRELOAD_LIB ", then removes it.\n"
         "Exits with COMMAND's status (128 + N if signal N killed it).\n"
         "\n"
         "  --print-root   print the testbed's root directory first\n"
         "  --kernel       run a simulated kernel that carries out binding\n"
         "                 writes (driver_override, bind, unbind, probe)\n"
         "  --control FIFO make FIFO and read commands from it: add FIXTURE,\n"
         "                 open-group N, close-group N, stick ADDR,\n"
         "                 unstick ADDR (see the source)\n",
         out);
}

static gboolean
have_preload (void)
{
  const char *preload = g_getenv ("LD_PRELOAD");

  return preload != NULL && strstr (preload, "libumockdev-preload") != NULL;
}

#define NAMESPACE_ENV "PP_TESTBED_NAMESPACE"

/* umockdev sends uevents over unix datagram sockets and aborts when a
 * receiver's queue is full; the queue is net.unix.max_dgram_qlen long (10
 * on most hosts) where the kernel's netlink socket holds megabytes.  With
 * a simulated kernel, a burst of binds would stop it, so it runs in a
 * private user and network namespace whose queue is 4096 long (as the
 * tests that load it do), leaving the host's setting alone.  Where user
 * namespaces are not allowed it says so and runs as it is. */
static void
reexec_in_namespace (char **argv)
{
  const char *const probe[]
      = { "unshare", "--map-root-user", "--net", "true", NULL };
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  int status = -1;

  g_setenv (NAMESPACE_ENV, "1", TRUE);
  if (!g_spawn_sync (NULL, (char **) probe, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL
                         | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, NULL)
      || !g_spawn_check_wait_status (status, NULL))
    {
      fprintf (stderr, "pcipass-testbed: no private network namespace here "
                       "(unshare --map-root-user --net failed): a burst of "
                       "more than 10 uevents may stop the simulated kernel\n");
      return;
    }

  g_ptr_array_add (args, (gpointer) "unshare");
  g_ptr_array_add (args, (gpointer) "--map-root-user");
  g_ptr_array_add (args, (gpointer) "--net");
  g_ptr_array_add (args, (gpointer) "--");
  g_ptr_array_add (args, (gpointer) "sh");
  g_ptr_array_add (args, (gpointer) "-c");
  g_ptr_array_add (args,
                   (gpointer) "echo 4096 > /proc/sys/net/unix/max_dgram_qlen "
                              "&& exec \"$0\" \"$@\"");
  g_ptr_array_add (args, (gpointer) "/proc/self/exe");
  for (int i = 1; argv[i] != NULL; i++)
    g_ptr_array_add (args, argv[i]);
  g_ptr_array_add (args, NULL);
  {
    /* sh's $0 must name this program, not sh's own /proc/self/exe. */
    g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
    if (self != NULL)
      args->pdata[7] = self;
    execvp ("unshare", (char **) args->pdata);
  }
  fprintf (stderr, "pcipass-testbed: cannot run unshare: %s\n",
           g_strerror (errno));
  exit (EXIT_FAILURE);
}

/* The preload must be in place before the process starts, so the only way
 * to add it is to start again. */
static void G_GNUC_NORETURN
reexec_with_preload (char **argv)
{
  const char *old = g_getenv ("LD_PRELOAD");
  const char *asan = g_getenv ("ASAN_OPTIONS");
  g_autofree char *preload = NULL;

  preload = old != NULL && *old != '\0'
                ? g_strconcat (PRELOAD_LIB ":", old, NULL)
                : g_strdup (PRELOAD_LIB);
  g_setenv ("LD_PRELOAD", preload, TRUE);

  /* A sanitizer build refuses to start when the preload precedes its
   * runtime; without sanitizers the option is ignored. */
  if (asan == NULL || strstr (asan, "verify_asan_link_order") == NULL)
    {
      g_autofree char *options
          = asan != NULL && *asan != '\0'
                ? g_strconcat (asan, ":verify_asan_link_order=0", NULL)
                : g_strdup ("verify_asan_link_order=0");

      g_setenv ("ASAN_OPTIONS", options, TRUE);
    }

  execv ("/proc/self/exe", argv);
  fprintf (stderr, "pcipass-testbed: cannot restart with %s: %s\n", PRELOAD_LIB,
           g_strerror (errno));
  exit (EXIT_FAILURE);
}

static gboolean
on_signal (gpointer user_data)
{
  Forward *forward = user_data;

  /* The child decides what the signal means; we go when it goes. */
  if (forward->child->pid > 0)
    kill (forward->child->pid, forward->signum);
  return G_SOURCE_CONTINUE;
}

static void
on_child_exit (GPid pid, int wait_status, gpointer user_data)
{
  Child *child = user_data;

  child->wait_status = wait_status;
  child->pid = 0;
  g_spawn_close_pid (pid);
  g_main_loop_quit (child->loop);
}

typedef struct
{
  UMockdevTestbed *tb;
  PpFakeKernel *kernel; /* NULL without --kernel */
  GString *line;
  GHashTable *held; /* group -> fd + 1 */
} Hotplug;

/* One command; a bad one is reported and skipped, the host stays as it
 * was. */
static void
run_command (Hotplug *hotplug, const char *command)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *root = umockdev_testbed_get_root_dir (hotplug->tb);
  gint64 group = -1;

  if (g_str_has_prefix (command, "add "))
    {
      if (!pp_testbed_load (hotplug->tb, command + 4, &error))
        fprintf (stderr, "pcipass-testbed: %s: %s\n", command, error->message);
    }
  else if (g_str_has_prefix (command, "open-group ")
           && g_ascii_string_to_signed (command + 11, 10, 0, G_MAXINT, &group,
                                        NULL))
    {
      g_autofree char *node
          = g_strdup_printf ("%s/dev/vfio/%d", root, (int) group);
      int fd = open (node, O_RDWR | O_CLOEXEC);

      if (fd < 0)
        fprintf (stderr, "pcipass-testbed: %s: %s\n", command,
                 g_strerror (errno));
      else
        g_hash_table_insert (hotplug->held, GINT_TO_POINTER (group),
                             GINT_TO_POINTER (fd + 1));
    }
  else if (g_str_has_prefix (command, "close-group ")
           && g_ascii_string_to_signed (command + 12, 10, 0, G_MAXINT, &group,
                                        NULL))
    {
      int fd = GPOINTER_TO_INT (
                   g_hash_table_lookup (hotplug->held, GINT_TO_POINTER (group)))
               - 1;

      if (fd >= 0)
        close (fd);
      g_hash_table_remove (hotplug->held, GINT_TO_POINTER (group));
    }
  else if ((g_str_has_prefix (command, "stick ")
            || g_str_has_prefix (command, "unstick "))
           && hotplug->kernel != NULL)
    {
      gboolean stuck = command[0] == 's';

      pp_fake_kernel_set_stuck (hotplug->kernel, command + (stuck ? 6 : 8),
                                stuck);
    }
  else if (*command != '\0')
    {
      fprintf (stderr, "pcipass-testbed: unknown command \"%s\"\n", command);
    }
}

static gboolean
on_hotplug (gint fd, GIOCondition condition, gpointer user_data)
{
  Hotplug *hotplug = user_data;
  char buf[4096];
  ssize_t n = read (fd, buf, sizeof buf);
  char *newline;

  if (n <= 0)
    return G_SOURCE_CONTINUE; /* O_RDWR: no EOF when a writer leaves */
  g_string_append_len (hotplug->line, buf, n);
  while ((newline = strchr (hotplug->line->str, '\n')) != NULL)
    {
      g_autofree char *command
          = g_strndup (hotplug->line->str, newline - hotplug->line->str);

      g_string_erase (hotplug->line, 0, newline - hotplug->line->str + 1);
      run_command (hotplug, command);
    }
  return G_SOURCE_CONTINUE;
}

/* A bare name like "server" means a fixture from the fixtures directory. */
static char *
find_fixture (const char *arg)
{
  if (strchr (arg, '/') != NULL || g_file_test (arg, G_FILE_TEST_EXISTS))
    return g_strdup (arg);
  return pp_testbed_fixture_path (arg);
}

static int
run (const char *fixture,
     gboolean print_root,
     gboolean with_kernel,
     const char *hotplug_fifo,
     char **command)
{
  Hotplug hotplug = { NULL, NULL, NULL, NULL };
  int hotplug_fd = -1;
  guint hotplug_source = 0;
  g_autoptr (UMockdevTestbed) tb = NULL;
  g_autoptr (PpFakeKernel) kernel = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autofree char *path = NULL;
  g_auto (GStrv) envp = NULL;
  Child child = { 0 };
  Forward forwards[] = {
    { &child, SIGINT },
    { &child, SIGTERM },
    { &child, SIGHUP },
  };
  guint sources[G_N_ELEMENTS (forwards)];

  /* Testbeds left behind by a crash should land in RAM, not on disk. */
  if (g_getenv ("TMPDIR") == NULL)
    g_setenv ("TMPDIR", "/dev/shm", TRUE);

  tb = pp_testbed_new ();
  path = find_fixture (fixture);
  /* Nothing listens yet: no "add" uevent per function. */
  if (!pp_testbed_load_quietly (tb, path, &error))
    {
      fprintf (stderr, "pcipass-testbed: %s\n", error->message);
      return EXIT_FAILURE;
    }

  /* A kernel that acts on binding writes, so that pcipassd can bind and
   * unbind in a demo. */
  if (with_kernel)
    kernel = pp_fake_kernel_new (tb);

  if (hotplug_fifo != NULL)
    {
      if (mkfifo (hotplug_fifo, 0600) < 0
          || (hotplug_fd = open (hotplug_fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC))
                 < 0)
        {
          fprintf (stderr, "pcipass-testbed: cannot make %s: %s\n",
                   hotplug_fifo, g_strerror (errno));
          return EXIT_FAILURE;
        }
      hotplug.tb = tb;
      hotplug.kernel = kernel;
      hotplug.line = g_string_new (NULL);
      hotplug.held = g_hash_table_new (g_direct_hash, g_direct_equal);
      hotplug_source
          = g_unix_fd_add (hotplug_fd, G_IO_IN, on_hotplug, &hotplug);
    }

  if (print_root)
    {
      g_autofree char *root = umockdev_testbed_get_root_dir (tb);

      printf ("%s\n", root);
      fflush (stdout);
    }

  /* UMOCKDEV_DIR was set by the testbed and LD_PRELOAD is ours, so the
   * child sees the same simulated /sys. */
  envp = g_get_environ ();
  if (!g_spawn_async (NULL, command, envp,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD
                          | G_SPAWN_CHILD_INHERITS_STDIN,
                      NULL, NULL, &child.pid, &error))
    {
      fprintf (stderr, "pcipass-testbed: cannot run %s: %s\n", command[0],
               error->message);
      return 127;
    }

  loop = g_main_loop_new (NULL, FALSE);
  child.loop = loop;
  for (guint i = 0; i < G_N_ELEMENTS (forwards); i++)
    sources[i]
        = g_unix_signal_add (forwards[i].signum, on_signal, &forwards[i]);
  g_child_watch_add (child.pid, on_child_exit, &child);
  g_main_loop_run (loop);
  for (guint i = 0; i < G_N_ELEMENTS (sources); i++)
    g_source_remove (sources[i]);
  if (hotplug_fd >= 0)
    {
      g_source_remove (hotplug_source);
      close (hotplug_fd);
      unlink (hotplug_fifo);
      g_string_free (hotplug.line, TRUE);
      g_hash_table_unref (hotplug.held);
    }

  if (WIFEXITED (child.wait_status))
    return WEXITSTATUS (child.wait_status);
  if (WIFSIGNALED (child.wait_status))
    return 128 + WTERMSIG (child.wait_status);
  return EXIT_FAILURE;
}

int
main (int argc, char **argv)
{
  gboolean print_root = FALSE;
  gboolean with_kernel = FALSE;
  const char *hotplug_fifo = NULL;
  const char *fixture;
  int i;

  for (i = 1; i < argc && argv[i][0] == '-'; i++)
    {
      if (g_str_equal (argv[i], "--print-root"))
        {
          print_root = TRUE;
        }
      else if (g_str_equal (argv[i], "--kernel"))
        {
          with_kernel = TRUE;
        }
      else if (g_str_equal (argv[i], "--control") && i + 1 < argc)
        {
          hotplug_fifo = argv[++i];
        }
      else if (g_str_equal (argv[i], "-h") || g_str_equal (argv[i], "--help"))
        {
          usage (stdout);
          return EXIT_SUCCESS;
        }
      else
        {
          fprintf (stderr, "pcipass-testbed: unknown option %s\n", argv[i]);
          usage (stderr);
          return EXIT_USAGE;
        }
    }

  if (i + 2 >= argc || !g_str_equal (argv[i + 1], "--"))
    {
      usage (stderr);
      return EXIT_USAGE;
    }
  fixture = argv[i];

  if (with_kernel && g_getenv (NAMESPACE_ENV) == NULL)
    reexec_in_namespace (argv);
  if (!have_preload ())
    reexec_with_preload (argv);

  return run (fixture, print_root, with_kernel, hotplug_fifo, argv + i + 2);
}
