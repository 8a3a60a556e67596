/* PpLimits: what one caller may ask of the daemon at a time.
 *
 * A filter on the bus connection, run in GDBus's worker thread as each
 * message arrives, before it is queued for the main loop: a call that
 * would take its caller (a unique bus name) past its share is answered at
 * once with org.freedesktop.DBus.Error.LimitsExceeded and dropped, so a
 * flood costs one small error each and never waits in line ahead of other
 * clients.  A call counts from its arrival until its reply goes out.
 *
 * Per caller: PP_LIMITS_CALLS calls and PP_LIMITS_BYTES bytes of
 * arguments unanswered; any one call at most PP_LIMITS_MESSAGE bytes.  For
 * all callers together: PP_LIMITS_TOTAL_BYTES.  README "Limits" says the
 * same.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PP_LIMITS_CALLS 32
#define PP_LIMITS_BYTES (4 * 1024 * 1024)
#define PP_LIMITS_MESSAGE (1024 * 1024 + 64 * 1024) /* a 1 MiB config */
#define PP_LIMITS_TOTAL_BYTES (32 * 1024 * 1024)

typedef struct _PpLimits PpLimits;

/* Starts guarding @connection. */
PpLimits *pp_limits_new (GDBusConnection *connection);

/* Stops, and forgets every caller. */
void pp_limits_free (PpLimits *limits);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpLimits, pp_limits_free)

G_END_DECLS
