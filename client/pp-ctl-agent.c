/* A text polkit authentication agent for pcipassctl's own process. */
#define POLKIT_AGENT_I_KNOW_API_IS_SUBJECT_TO_CHANGE

#include "pp-ctl-agent.h"

#include <fcntl.h>
#include <polkit/polkit.h>
#include <polkitagent/polkitagent.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

struct _PpCtlAgent
{
  PolkitAgentListener *listener;
  gpointer handle; /* from polkit_agent_listener_register_with_options() */
};

/* polkit's text listener turns echo off while it reads a password and
 * only turns it back on when the line is read.  A Ctrl-C at the prompt
 * would leave the terminal without echo, so, as pkttyagent does, the
 * terminal's settings are put back before the signal ends the process.
 * Signal handlers need static storage: there is one agent at a time. */
static const int tty_signals[] = { SIGINT, SIGQUIT, SIGTERM };
static int tty_fd = -1;
static struct termios tty_saved;
static struct sigaction tty_old_actions[G_N_ELEMENTS (tty_signals)];

static void
tty_restore_and_die (int signo)
{
  /* Async-signal-safe only.  SA_RESETHAND has put the default action
   * back; the raised signal is delivered once this handler returns. */
  tcsetattr (tty_fd, TCSAFLUSH, &tty_saved);
  raise (signo);
}

static void
tty_guard_install (void)
{
  struct sigaction action;

  tty_fd = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty_fd < 0)
    return;
  if (tcgetattr (tty_fd, &tty_saved) != 0)
    {
      close (tty_fd);
      tty_fd = -1;
      return;
    }

  memset (&action, 0, sizeof action);
  action.sa_handler = tty_restore_and_die;
  action.sa_flags = SA_RESETHAND;
  sigemptyset (&action.sa_mask);
  for (gsize i = 0; i < G_N_ELEMENTS (tty_signals); i++)
    sigaction (tty_signals[i], &action, &tty_old_actions[i]);
}

static void
tty_guard_remove (void)
{
  if (tty_fd < 0)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (tty_signals); i++)
    sigaction (tty_signals[i], &tty_old_actions[i], NULL);
  close (tty_fd);
  tty_fd = -1;
}

PpCtlAgent *
pp_ctl_agent_register (void)
{
  g_autoptr (PolkitSubject) subject = NULL;
  g_autoptr (PolkitAgentListener) listener = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GVariantBuilder) options
      = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  PpCtlAgent *agent;
  gpointer handle;

  g_return_val_if_fail (tty_fd < 0, NULL);

  subject = polkit_unix_process_new_for_owner (getpid (), 0, getuid ());

  /* Opens /dev/tty: fails without a controlling terminal. */
  listener = polkit_agent_text_listener_new (NULL, &error);
  if (listener == NULL)
    {
      g_debug ("no polkit text agent: %s", error->message);
      return NULL;
    }

  /* As systemctl's pkttyagent --fallback: serve only where the session
   * has no agent of its own. */
  g_variant_builder_add (&options, "{sv}", "fallback",
                         g_variant_new_boolean (TRUE));
  handle = polkit_agent_listener_register_with_options (
      listener, POLKIT_AGENT_REGISTER_FLAGS_RUN_IN_THREAD, subject, NULL,
      g_variant_builder_end (&options), NULL, &error);
  if (handle == NULL)
    {
      g_debug ("cannot register a polkit text agent: %s", error->message);
      return NULL;
    }

  tty_guard_install ();
  agent = g_new0 (PpCtlAgent, 1);
  agent->listener = g_steal_pointer (&listener);
  agent->handle = handle;
  return agent;
}

void
pp_ctl_agent_free (PpCtlAgent *agent)
{
  if (agent == NULL)
    return;
  /* Stops and joins the agent's thread. */
  polkit_agent_listener_unregister (agent->handle);
  g_object_unref (agent->listener);
  tty_guard_remove ();
  g_free (agent);
}
