#include "pp-auth.h"

#include "pp-error.h"

#include <polkit/polkit.h>

struct _PpAuth
{
  GObject parent_instance;

  PolkitAuthority *authority; /* NULL until the first check */
};

G_DEFINE_TYPE (PpAuth, pp_auth, G_TYPE_OBJECT)

static void
pp_auth_dispose (GObject *object)
{
  g_clear_object (&PP_AUTH (object)->authority);
  G_OBJECT_CLASS (pp_auth_parent_class)->dispose (object);
}

static void
pp_auth_class_init (PpAuthClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pp_auth_dispose;
}

static void
pp_auth_init (PpAuth *self)
{
}

PpAuth *
pp_auth_new (void)
{
  return g_object_new (PP_TYPE_AUTH, NULL);
}

typedef struct
{
  char *action_id;
  PolkitSubject *subject;
  PolkitDetails *details;
  PolkitCheckAuthorizationFlags flags;
} CheckData;

static void
check_data_free (CheckData *data)
{
  g_free (data->action_id);
  g_clear_object (&data->subject);
  g_clear_object (&data->details);
  g_free (data);
}

static void
deny (GTask *task, const char *action_id, const char *why)
{
  g_task_return_new_error (task, PP_ERROR, PP_ERROR_NOT_AUTHORIZED,
                           "not authorized for %s: %s", action_id, why);
}

static void
on_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  CheckData *data = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthorizationResult) answer = NULL;

  answer = polkit_authority_check_authorization_finish (
      POLKIT_AUTHORITY (source), result, &error);
  if (answer == NULL)
    {
      /* polkitd missing or failing: never a reason to allow. */
      g_warning ("polkit check for %s failed: %s", data->action_id,
                 error->message);
      deny (task, data->action_id, error->message);
      return;
    }
  if (polkit_authorization_result_get_is_authorized (answer))
    g_task_return_boolean (task, TRUE);
  else if (polkit_authorization_result_get_is_challenge (answer))
    deny (task, data->action_id,
          "authentication is required (call with interactive authorization "
          "allowed, or from a session with a polkit agent)");
  else
    deny (task, data->action_id, "denied by polkit policy");
}

static void
check (PpAuth *self, GTask *task)
{
  CheckData *data = g_task_get_task_data (task);

  polkit_authority_check_authorization (
      self->authority, data->subject, data->action_id, data->details,
      data->flags, NULL, on_checked, g_object_ref (task));
}

static void
on_authority (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  PpAuth *self = g_task_get_source_object (task);
  CheckData *data = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  PolkitAuthority *authority = polkit_authority_get_finish (result, &error);

  if (authority == NULL)
    {
      g_warning ("polkit is unavailable: %s", error->message);
      deny (task, data->action_id, error->message);
      return;
    }
  if (self->authority == NULL)
    self->authority = authority;
  else
    g_object_unref (authority);
  check (self, task);
}

void
pp_auth_check_async (PpAuth *self,
                     GDBusMethodInvocation *invocation,
                     const char *action_id,
                     GHashTable *details,
                     GAsyncReadyCallback callback,
                     gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);
  GDBusMessage *message = g_dbus_method_invocation_get_message (invocation);
  CheckData *data = g_new0 (CheckData, 1);
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  g_task_set_source_tag (task, pp_auth_check_async);
  data->action_id = g_strdup (action_id);
  data->subject = polkit_system_bus_name_new (
      g_dbus_method_invocation_get_sender (invocation));
  data->details = polkit_details_new ();
  if (details != NULL)
    {
      g_hash_table_iter_init (&iter, details);
      while (g_hash_table_iter_next (&iter, &key, &value))
        polkit_details_insert (data->details, key, value);
    }
  /* Prompt only a caller that said it can wait for one. */
  data->flags = (g_dbus_message_get_flags (message)
                 & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
                    ? POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION
                    : POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
  g_task_set_task_data (task, data, (GDestroyNotify) check_data_free);

  if (self->authority != NULL)
    check (self, task);
  else
    polkit_authority_get_async (NULL, on_authority, g_steal_pointer (&task));
}

gboolean
pp_auth_check_finish (PpAuth *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
