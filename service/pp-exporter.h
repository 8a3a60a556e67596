/* PpExporter: publishes the registry on D-Bus.
 *
 * With PpObjectTree, the only module that knows the bus: it exports the
 * manager object and hands the device objects and the ObjectManager at
 * /io/github/pcipassd to PpObjectTree, which answers them from the
 * model.  Method calls are checked (options, polkit) here and carried
 * out by PpBinder, PpValidate and PpConfig.  It never reads sysfs.
 */
#pragma once

#include "pp-binder.h"
#include "pp-leases.h"
#include "pp-registry.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define PP_TYPE_EXPORTER (pp_exporter_get_type ())
G_DECLARE_FINAL_TYPE (PpExporter, pp_exporter, PP, EXPORTER, GObject)

/* @proc_dir and @dev_dir (NULL: /proc, /dev) are where the host checks
 * look, for tests where a testbed cannot hide the real ones. */
PpExporter *pp_exporter_new (PpRegistry *registry,
                             PpBinder *binder,
                             PpLeases *leases,
                             const char *proc_dir,
                             const char *dev_dir);

/* Exports the whole tree on @connection at once.  Call it before owning
 * the bus name, so a client never sees a half-built tree. */
void pp_exporter_export (PpExporter *self, GDBusConnection *connection);

/* Removes every object from the bus. */
void pp_exporter_unexport (PpExporter *self);

G_END_DECLS
