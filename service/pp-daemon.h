/* PpDaemon: the daemon's parts wired together, without the process
 * concerns of main.c (options, signals, exit status), so tests can run a
 * whole daemon in-process. */
#pragma once

#include "pp-exporter.h"
#include "pp-registry.h"

G_BEGIN_DECLS

#define PP_TYPE_DAEMON (pp_daemon_get_type ())
G_DECLARE_FINAL_TYPE (PpDaemon, pp_daemon, PP, DAEMON, GObject)

typedef struct
{
  gboolean read_only;    /* refuse every sysfs write */
  const char *state_dir; /* where records of moved devices live */
  const char *catalog;   /* the device catalog, NULL for none */
  guint step_timeout_ms; /* wait for each kernel step's confirmation */
  const char *proc_dir;  /* NULL: /proc, for the host checks */
  const char *dev_dir;   /* NULL: /dev, for the host checks */
} PpDaemonOptions;

/* Reads the host's devices and the records of the state directory. */
PpDaemon *pp_daemon_new (const PpDaemonOptions *options, GError **error);

PpRegistry *pp_daemon_get_registry (PpDaemon *self);

/* Exports every object on @connection; call before owning the name. */
void pp_daemon_export (PpDaemon *self, GDBusConnection *connection);

/* Re-reads sysfs and publishes the differences, and reloads the device
 * catalog (SIGHUP). */
void pp_daemon_reconcile (PpDaemon *self);

G_END_DECLS
