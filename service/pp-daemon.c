#include "pp-daemon.h"

#include "pp-monitor.h"

struct _PpDaemon
{
  GObject parent_instance;

  PpMonitor *monitor;
  PpSysfs *sysfs;
  PpHwdb *hwdb;
  PpRegistry *registry;
  PpKernel *kernel;
  PpStore *store;
  PpBinder *binder;
  PpLeases *leases;
  PpExporter *exporter;
};

G_DEFINE_TYPE (PpDaemon, pp_daemon, G_TYPE_OBJECT)

static void
pp_daemon_dispose (GObject *object)
{
  PpDaemon *self = PP_DAEMON (object);

  /* The exporter and registry refer to the database and sysfs: drop them
   * first. */
  if (self->monitor != NULL)
    g_signal_handlers_disconnect_by_data (self->monitor, self);
  g_clear_object (&self->monitor);
  g_clear_object (&self->exporter);
  g_clear_object (&self->binder);
  g_clear_object (&self->leases);
  g_clear_object (&self->store);
  g_clear_object (&self->kernel);
  g_clear_object (&self->registry);
  g_clear_pointer (&self->hwdb, pp_hwdb_free);
  g_clear_object (&self->sysfs);
  G_OBJECT_CLASS (pp_daemon_parent_class)->dispose (object);
}

static void
pp_daemon_class_init (PpDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pp_daemon_dispose;
}

static void
pp_daemon_init (PpDaemon *self)
{
}

static void
on_uevent (PpMonitor *monitor,
           const char *action,
           const char *subsystem,
           const char *sysname,
           const char *syspath,
           gpointer user_data)
{
  PpDaemon *self = user_data;

  pp_registry_handle_uevent (self->registry, action, subsystem, sysname,
                             syspath);
}

static void
on_burst_begin (PpMonitor *monitor, gpointer user_data)
{
  PpDaemon *self = user_data;

  pp_registry_begin_batch (self->registry);
}

static void
on_burst_end (PpMonitor *monitor, gpointer user_data)
{
  PpDaemon *self = user_data;

  pp_registry_end_batch (self->registry);
}

static void
on_overflow (PpMonitor *monitor, gpointer user_data)
{
  PpDaemon *self = user_data;
  g_autoptr (GError) error = NULL;

  /* Events were lost: what sysfs says now is the truth. */
  if (!pp_registry_enumerate (self->registry, &error))
    g_warning ("re-reading sysfs failed: %s", error->message);
}

PpDaemon *
pp_daemon_new (const PpDaemonOptions *options, GError **error)
{
  g_autoptr (PpDaemon) self = g_object_new (PP_TYPE_DAEMON, NULL);

  self->store = pp_store_new (options->state_dir, error);
  if (self->store == NULL)
    return NULL;
  /* Listening before the first read: a change during it is not lost. */
  self->monitor = pp_monitor_new (error);
  if (self->monitor == NULL)
    return NULL;
  self->sysfs = pp_sysfs_new (error);
  if (self->sysfs == NULL)
    return NULL;
  self->hwdb = pp_hwdb_new ();
  self->registry = pp_registry_new (self->sysfs, self->hwdb);
  pp_registry_set_catalog_file (self->registry, options->catalog);
  /* A bad catalog is not fatal: its error is published, and the daemon
   * starts with none until a good one loads. */
  pp_registry_reload_catalog (self->registry, NULL);
  if (!pp_registry_enumerate (self->registry, error))
    return NULL;
  self->kernel = pp_kernel_new (options->read_only, options->step_timeout_ms);
  self->binder = pp_binder_new (self->registry, self->kernel, self->store);
  pp_binder_reconcile (self->binder);
  pp_binder_apply_persistent (self->binder);
  self->leases = pp_leases_new (self->registry, self->store);
  self->exporter = pp_exporter_new (self->registry, self->binder, self->leases,
                                    options->proc_dir, options->dev_dir);
  g_signal_connect (self->monitor, "burst-begin", G_CALLBACK (on_burst_begin),
                    self);
  g_signal_connect (self->monitor, "uevent", G_CALLBACK (on_uevent), self);
  g_signal_connect (self->monitor, "burst-end", G_CALLBACK (on_burst_end),
                    self);
  g_signal_connect (self->monitor, "overflow", G_CALLBACK (on_overflow), self);
  return g_steal_pointer (&self);
}

PpRegistry *
pp_daemon_get_registry (PpDaemon *self)
{
  g_return_val_if_fail (PP_IS_DAEMON (self), NULL);
  return self->registry;
}

void
pp_daemon_export (PpDaemon *self, GDBusConnection *connection)
{
  g_return_if_fail (PP_IS_DAEMON (self));
  pp_exporter_export (self->exporter, connection);
}

void
pp_daemon_reconcile (PpDaemon *self)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (PP_IS_DAEMON (self));
  g_message ("re-reading sysfs and the catalog on request");
  if (!pp_registry_enumerate (self->registry, &error))
    g_warning ("re-reading sysfs failed: %s", error->message);
  /* Its error is logged and published. */
  pp_registry_reload_catalog (self->registry, NULL);
}
