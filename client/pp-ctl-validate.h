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
  PP_CTL_VALIDATE_ERROR_FAILED,   /* at least one check failed */
  PP_CTL_VALIDATE_ERROR_REPORTED, /* the same, already said in the table */
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
 * the results were printed as JSON (_REPORTED after the table, whose last
 * line says it: nothing more to print), and with any other error when it could
 * not validate at all (both exit status 1).  A Config error of the daemon is
 * prefixed with the file name, "FILE:LINE:COLUMN: ...", as compilers do. */
gboolean pp_ctl_validate_run (const PpCtlValidateOptions *options,
                              GError **error);

G_END_DECLS
