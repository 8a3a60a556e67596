/* Kill points: where a crash test may stop the daemon dead.
 *
 * The code that changes the host (the state file, the sysfs writes, the
 * waits for the kernel) calls pp_killpoint() at each point a power cut or
 * a SIGKILL could fall.  With PCIPASSD_TEST_KILL_AT=N in the environment,
 * the Nth call stops the process and has it SIGKILLed 0.2 s later (see
 * pp-killpoint.c for why not at once), so a test can walk through every
 * point of an operation and check that a restarted daemon leaves the host
 * whole.
 * Without the variable it costs one load of a cached integer.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @what names the point in the log line written just before the kill. */
void pp_killpoint (const char *what);

G_END_DECLS
