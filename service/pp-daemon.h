/* PpDaemon: the daemon's parts wired together, without the process
 * concerns of main.c (options, signals, exit status), so tests can run a
 * whole daemon in-process. */
#pragma once

#include "pp-exporter.h"
#include "pp-registry.h"

G_BEGIN_DECLS

#define PP_TYPE_DAEMON (pp_daemon_get_type ())
G_DECLARE_FINAL_TYPE (PpDaemon, pp_daemon, PP, DAEMON, GObject)

/* Reads the host's devices.  @read_only refuses every sysfs write. */
PpDaemon *pp_daemon_new (gboolean read_only, GError **error);

PpRegistry *pp_daemon_get_registry (PpDaemon *self);

/* Exports every object on @connection; call before owning the name. */
void pp_daemon_export (PpDaemon *self, GDBusConnection *connection);

G_END_DECLS
