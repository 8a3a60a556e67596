/* PpAuth: the polkit check behind every state-changing call.
 *
 * Asynchronous, with the caller's bus name as the subject.  Interaction
 * (a password prompt) is allowed only when the caller's message carries
 * the allow-interactive-authorization flag.  No polkit, a failing polkit
 * or a dismissed prompt all deny: PP_ERROR_NOT_AUTHORIZED.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PP_ACTION_BIND "io.github.pcipassd.bind"
#define PP_ACTION_UNBIND "io.github.pcipassd.unbind"
#define PP_ACTION_BIND_PROTECTED "io.github.pcipassd.bind-protected"
#define PP_ACTION_RESERVE "io.github.pcipassd.reserve"
#define PP_ACTION_MANAGE "io.github.pcipassd.manage"

#define PP_TYPE_AUTH (pp_auth_get_type ())
G_DECLARE_FINAL_TYPE (PpAuth, pp_auth, PP, AUTH, GObject)

PpAuth *pp_auth_new (void);

/* Asks polkit whether the bus name @sender may do @action_id, with a
 * password prompt only if @allow_interaction (the caller's message said it
 * can wait for one).  @details (string -> string) name the device in the
 * prompt. */
void pp_auth_check_async (PpAuth *self,
                          const char *sender,
                          gboolean allow_interaction,
                          const char *action_id,
                          GHashTable *details,
                          GAsyncReadyCallback callback,
                          gpointer user_data);

gboolean
pp_auth_check_finish (PpAuth *self, GAsyncResult *result, GError **error);

G_END_DECLS
