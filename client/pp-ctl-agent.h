/* A text polkit authentication agent for pcipassctl's own process.
 *
 * pcipassd asks polkit about every state-changing call, with the caller as
 * subject.  When polkit wants a password and no graphical agent serves the
 * caller's session (ssh, a text console), this agent asks for it on the
 * terminal, as pkexec and systemctl do.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PpCtlAgent PpCtlAgent;

/* Registers a text agent for this process as a fallback: an agent of the
 * caller's session, such as a desktop's, still takes precedence.  The
 * agent runs in a thread of its own, so the caller may block in a
 * synchronous D-Bus call meanwhile.  Returns NULL, after a debug message,
 * when there is no agent to be had (no terminal, no polkitd, another
 * agent for this process): the call then simply cannot authenticate
 * interactively. */
PpCtlAgent *pp_ctl_agent_register (void);

/* Unregisters and frees @agent; NULL is ignored. */
void pp_ctl_agent_free (PpCtlAgent *agent);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpCtlAgent, pp_ctl_agent_free)

G_END_DECLS
