/* pcipassctl validate: pcipassd's validation results, as a table or JSON.
 *
 *   validate                  Manager.ValidateHost, then Device.Validate of
 *                             every device but bridges and protected ones
 *   validate ADDR             Device.Validate of one device
 *   validate FILE [--node NAME] [--skip-pcie-validation]
 *                             Manager.ValidateConfig of an AI-HOW cluster
 *                             config ("-" reads standard input)
 */
#pragma once

#include <json-glib/json-glib.h>
#include <stdio.h>

G_BEGIN_DECLS

/* Raised when the validation ran and a check failed: exit status 1. */
#define PP_CTL_VALIDATE_ERROR (pp_ctl_validate_error_quark ())
GQuark pp_ctl_validate_error_quark (void);

typedef enum
{
  PP_CTL_VALIDATE_ERROR_FAILED, /* at least one check failed */
} PpCtlValidateError;

typedef struct
{
  const char *argument;          /* NULL, ADDR or FILE */
  const char *node;              /* --node NAME, FILE only */
  gboolean skip_pcie_validation; /* FILE only */
  gboolean json;
} PpCtlValidateOptions;

/* Runs the validation the options ask for and prints the results on
 * standard output.  Fails with a G_OPTION_ERROR for bad usage (exit
 * status 2), with PP_CTL_VALIDATE_ERROR_FAILED when a check failed after
 * the results were printed, and with any other error when it could not
 * validate at all (both exit status 1).  A Config error of the daemon is
 * prefixed with the file name, "FILE:LINE:COLUMN: ...", as compilers do. */
gboolean pp_ctl_validate_run (const PpCtlValidateOptions *options,
                              GError **error);

/* The a(sssss) @results as the table pcipassctl prints: SUBJECT, CHECK,
 * RESULT and MESSAGE columns, the remedy of each warn and fail on an
 * indented line below it, and a summary line. */
char *pp_ctl_validate_format_table (GVariant *results);

/* Prints the a(sssss) @results on @out as a JSON array of {"subject",
 * "check", "severity", "message", "remedy"} objects, one at a time; an
 * empty remedy is null. */
void pp_ctl_validate_print_json (GVariant *results, FILE *out);

/* TRUE when some result of @results has severity "fail"; sets @n_failed
 * (may be NULL) to their number. */
gboolean pp_ctl_validate_any_failed (GVariant *results, guint *n_failed);

G_END_DECLS
