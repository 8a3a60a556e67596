/* PpAuth fails closed: with no polkit authority to be had at all (no
 * system bus to reach it on), every check is refused, including the ones
 * queued while the authority was being fetched. */
#include "config.h"

#include "pp-auth.h"
#include "pp-error.h"

typedef struct
{
  guint pending;
  GError *errors[3];
  gboolean allowed[3];
} Answers;

typedef struct
{
  Answers *answers;
  guint index;
} Slot;

static void
on_checked (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Slot *slot = user_data;

  slot->answers->allowed[slot->index] = pp_auth_check_finish (
      PP_AUTH (source), result, &slot->answers->errors[slot->index]);
  slot->answers->pending--;
}

static gboolean
on_timeout (gpointer user_data)
{
  g_error ("polkit checks did not answer");
  return G_SOURCE_REMOVE;
}

static void
test_no_authority (void)
{
  g_autoptr (PpAuth) auth = NULL;
  Answers answers = { 3, { NULL }, { FALSE } };
  Slot slots[3];
  const char *const actions[]
      = { "io.github.pcipassd.bind", "io.github.pcipassd.unbind",
          "io.github.pcipassd.bind-protected" };
  guint timeout_id;

  g_test_expect_message (NULL, G_LOG_LEVEL_WARNING, "polkit is unavailable*");
  auth = pp_auth_new ();
  /* All three wait behind the fetch of the authority, which fails. */
  for (guint i = 0; i < 3; i++)
    {
      slots[i].answers = &answers;
      slots[i].index = i;
      pp_auth_check_async (auth, ":1.42", i == 0, actions[i], NULL, on_checked,
                           &slots[i]);
    }
  timeout_id = g_timeout_add_seconds (20, on_timeout, NULL);
  while (answers.pending > 0)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout_id);
  g_test_assert_expected_messages ();

  for (guint i = 0; i < 3; i++)
    {
      g_assert_false (answers.allowed[i]);
      g_assert_error (answers.errors[i], PP_ERROR, PP_ERROR_NOT_AUTHORIZED);
      g_assert_nonnull (strstr (answers.errors[i]->message, actions[i]));
      g_assert_nonnull (
          strstr (answers.errors[i]->message, "polkit is unavailable"));
      g_clear_error (&answers.errors[i]);
    }
}

int
main (int argc, char **argv)
{
  /* Before anything asks for the system bus: one nobody listens on. */
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/pcipassd-test-no-bus", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/auth/no-authority", test_no_authority);
  return g_test_run ();
}
