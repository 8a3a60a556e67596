/* PpCheck: one result of a validation.
 *
 * ValidateHost, Device.Validate and ValidateConfig all answer with a list
 * of (subject, check, severity, message, remedy), DESIGN.md's a(sssss).
 * The subject is "host", a device address, "NODE" or "NODE/ADDRESS" for a
 * cluster config; the check is a stable identifier (see
 * VALIDATE-INTEGRATION.md for the table); every warn and fail carries a
 * remedy a user can act on: a command to run or a file to edit.
 */
#pragma once

#include "pp-array-writer.h"

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  PP_SEVERITY_PASS,
  PP_SEVERITY_WARN,
  PP_SEVERITY_FAIL,
  PP_SEVERITY_SKIP, /* the check does not apply, or could not run */
} PpSeverity;

typedef struct
{
  char *subject;
  char *check;
  PpSeverity severity;
  char *message;
  char *remedy; /* "" for pass and skip */
} PpCheck;

/* "pass", "warn", "fail" or "skip": the strings that travel on the bus. */
const char *pp_severity_to_string (PpSeverity severity);

/* The reverse of pp_severity_to_string(); FALSE for anything else. */
gboolean pp_severity_from_string (const char *text, PpSeverity *out);

/* Copies every string; a NULL @remedy is "". */
PpCheck *pp_check_new (const char *subject,
                       const char *check,
                       PpSeverity severity,
                       const char *message,
                       const char *remedy);

void pp_check_free (PpCheck *check);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpCheck, pp_check_free)

/* An empty list of results: a GPtrArray of PpCheck that frees them. */
GPtrArray *pp_checks_new (void);

/* Appends a result, copying the strings.  A warn or fail without a remedy
 * is a programming error: it is reported with g_critical() and still
 * added, so that nothing a user should see is lost. */
void pp_checks_add (GPtrArray *checks,
                    const char *subject,
                    const char *check,
                    PpSeverity severity,
                    const char *message,
                    const char *remedy);

/* Same, taking ownership of @message and @remedy (either may be NULL),
 * so that callers can pass g_strdup_printf() results directly. */
void pp_checks_take (GPtrArray *checks,
                     const char *subject,
                     const char *check,
                     PpSeverity severity,
                     char *message,
                     char *remedy);

/* Appends copies of every result of @from. */
void pp_checks_extend (GPtrArray *checks, GPtrArray *from);

/* The first result of @check for @subject (NULL: any subject), or NULL. */
const PpCheck *
pp_checks_find (GPtrArray *checks, const char *subject, const char *check);

/* TRUE when some result is a fail. */
gboolean pp_checks_any_failed (GPtrArray *checks);

/* The results as the a(sssss) DESIGN.md fixes (a full reference). */
GVariant *pp_checks_to_variant (GPtrArray *checks);

/* Appends the results to @writer, an array of (sssss): a reply of many
 * can be written a part at a time. */
void pp_checks_write (GPtrArray *checks, PpArrayWriter *writer);

G_END_DECLS
