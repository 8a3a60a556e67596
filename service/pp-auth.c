#include "pp-auth.h"

#include "pp-error.h"

#include <polkit/polkit.h>

struct _PpAuth
{
  GObject parent_instance;

  PolkitAuthority *authority; /* NULL until polkit answered */
  gboolean fetching;
  GPtrArray *waiting; /* GTasks queued while the authority is fetched */
};

G_DEFINE_TYPE (PpAuth, pp_auth, G_TYPE_OBJECT)

static void
pp_auth_dispose (GObject *object)
{
  g_clear_object (&PP_AUTH (object)->authority);
  g_clear_pointer (&PP_AUTH (object)->waiting, g_ptr_array_unref);
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
  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
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

/* The one place a check is sent: without an authority there is nobody
 * to ask, and that is never a reason to allow. */
static void
check (PpAuth *self, GTask *task, const char *why_none)
{
  CheckData *data = g_task_get_task_data (task);

  if (self->authority == NULL)
    {
      deny (task, data->action_id, why_none);
      return;
    }
  polkit_authority_check_authorization (
      self->authority, data->subject, data->action_id, data->details,
      data->flags, NULL, on_checked, g_object_ref (task));
}

static void
on_authority (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PpAuth) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) waiting = NULL;
  g_autofree char *why = NULL;

  self->fetching = FALSE;
  self->authority = polkit_authority_get_finish (result, &error);
  if (self->authority == NULL)
    {
      g_warning ("polkit is unavailable: %s", error->message);
      why = g_strdup_printf ("polkit is unavailable: %s", error->message);
    }

  waiting = g_steal_pointer (&self->waiting);
  self->waiting = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < waiting->len; i++)
    check (self, g_ptr_array_index (waiting, i), why);
}

static void
fetch_authority (PpAuth *self)
{
  if (self->fetching)
    return;
  self->fetching = TRUE;
  polkit_authority_get_async (NULL, on_authority, g_object_ref (self));
}

PpAuth *
pp_auth_new (void)
{
  PpAuth *self = g_object_new (PP_TYPE_AUTH, NULL);

  /* Connect now, so the first call does not wait for it. */
  fetch_authority (self);
  return self;
}

void
pp_auth_check_async (PpAuth *self,
                     const char *sender,
                     gboolean allow_interaction,
                     const char *action_id,
                     GHashTable *details,
                     GAsyncReadyCallback callback,
                     gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);
  CheckData *data = g_new0 (CheckData, 1);
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  g_task_set_source_tag (task, pp_auth_check_async);
  data->action_id = g_strdup (action_id);
  data->subject = polkit_system_bus_name_new (sender);
  data->details = polkit_details_new ();
  if (details != NULL)
    {
      g_hash_table_iter_init (&iter, details);
      while (g_hash_table_iter_next (&iter, &key, &value))
        polkit_details_insert (data->details, key, value);
    }
  data->flags = allow_interaction
                    ? POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION
                    : POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE;
  g_task_set_task_data (task, data, (GDestroyNotify) check_data_free);

  if (self->authority != NULL)
    {
      check (self, task, NULL);
      return;
    }
  /* Not there yet, or it failed before: (re)try, and answer then. */
  g_ptr_array_add (self->waiting, g_steal_pointer (&task));
  fetch_authority (self);
}

gboolean
pp_auth_check_finish (PpAuth *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
