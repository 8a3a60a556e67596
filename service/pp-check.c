#include "pp-check.h"

static const char *const severity_names[] = {
  [PP_SEVERITY_PASS] = "pass",
  [PP_SEVERITY_WARN] = "warn",
  [PP_SEVERITY_FAIL] = "fail",
  [PP_SEVERITY_SKIP] = "skip",
};

const char *
pp_severity_to_string (PpSeverity severity)
{
  g_return_val_if_fail ((guint) severity < G_N_ELEMENTS (severity_names),
                        "fail");
  return severity_names[severity];
}

gboolean
pp_severity_from_string (const char *text, PpSeverity *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (severity_names); i++)
    if (g_strcmp0 (text, severity_names[i]) == 0)
      {
        *out = (PpSeverity) i;
        return TRUE;
      }
  return FALSE;
}

PpCheck *
pp_check_new (const char *subject,
              const char *check,
              PpSeverity severity,
              const char *message,
              const char *remedy)
{
  PpCheck *self = g_new0 (PpCheck, 1);

  self->subject = g_strdup (subject);
  self->check = g_strdup (check);
  self->severity = severity;
  self->message = g_strdup (message != NULL ? message : "");
  self->remedy = g_strdup (remedy != NULL ? remedy : "");
  return self;
}

void
pp_check_free (PpCheck *check)
{
  if (check == NULL)
    return;
  g_free (check->subject);
  g_free (check->check);
  g_free (check->message);
  g_free (check->remedy);
  g_free (check);
}

GPtrArray *
pp_checks_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) pp_check_free);
}

void
pp_checks_add (GPtrArray *checks,
               const char *subject,
               const char *check,
               PpSeverity severity,
               const char *message,
               const char *remedy)
{
  g_return_if_fail (checks != NULL);
  g_return_if_fail (subject != NULL && check != NULL);

  /* DESIGN.md promises a remedy with every warn and fail; a result
   * without one is a bug here, not something to hide from the user. */
  if ((severity == PP_SEVERITY_WARN || severity == PP_SEVERITY_FAIL)
      && (remedy == NULL || *remedy == '\0'))
    g_critical ("validation result %s/%s (%s) has no remedy", subject, check,
                pp_severity_to_string (severity));
  g_ptr_array_add (checks,
                   pp_check_new (subject, check, severity, message, remedy));
}

void
pp_checks_take (GPtrArray *checks,
                const char *subject,
                const char *check,
                PpSeverity severity,
                char *message,
                char *remedy)
{
  g_autofree char *owned_message = message;
  g_autofree char *owned_remedy = remedy;

  pp_checks_add (checks, subject, check, severity, owned_message, owned_remedy);
}

void
pp_checks_extend (GPtrArray *checks, GPtrArray *from)
{
  for (guint i = 0; i < from->len; i++)
    {
      const PpCheck *c = g_ptr_array_index (from, i);
      g_ptr_array_add (checks, pp_check_new (c->subject, c->check, c->severity,
                                             c->message, c->remedy));
    }
}

const PpCheck *
pp_checks_find (GPtrArray *checks, const char *subject, const char *check)
{
  for (guint i = 0; i < checks->len; i++)
    {
      const PpCheck *c = g_ptr_array_index (checks, i);

      if ((subject == NULL || g_str_equal (c->subject, subject))
          && g_str_equal (c->check, check))
        return c;
    }
  return NULL;
}

gboolean
pp_checks_any_failed (GPtrArray *checks)
{
  for (guint i = 0; i < checks->len; i++)
    if (((const PpCheck *) g_ptr_array_index (checks, i))->severity
        == PP_SEVERITY_FAIL)
      return TRUE;
  return FALSE;
}

/* Messages quote file contents and sysfs names: only valid UTF-8 may go
 * on the bus, or GVariant would refuse the whole reply. */
static const char *
valid_utf8 (const char *text, char **copy)
{
  if (g_utf8_validate (text, -1, NULL))
    return text;
  *copy = g_utf8_make_valid (text, -1);
  return *copy;
}

void
pp_checks_write (GPtrArray *checks, PpArrayWriter *writer)
{
  for (guint i = 0; i < checks->len; i++)
    {
      const PpCheck *c = g_ptr_array_index (checks, i);
      g_autofree char *subject = NULL;
      g_autofree char *check = NULL;
      g_autofree char *message = NULL;
      g_autofree char *remedy = NULL;

      const char *strings[] = {
        valid_utf8 (c->subject, &subject),   valid_utf8 (c->check, &check),
        pp_severity_to_string (c->severity), valid_utf8 (c->message, &message),
        valid_utf8 (c->remedy, &remedy),
      };

      pp_array_writer_add_strings (writer, strings, G_N_ELEMENTS (strings));
    }
}

GVariant *
pp_checks_to_variant (GPtrArray *checks)
{
  PpArrayWriter *writer = pp_array_writer_new (G_VARIANT_TYPE ("(sssss)"), 0);

  pp_checks_write (checks, writer);
  return pp_array_writer_end (writer, G_VARIANT_TYPE ("a(sssss)"));
}
