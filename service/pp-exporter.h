/* PpExporter: publishes the registry on D-Bus.
 *
 * The only module that knows the bus: it creates the ObjectManager at
 * /io/github/pcipassd, the manager object, and one object per PpDevice
 * whose properties are bound to the model's, so a change in the model is
 * a PropertiesChanged on the bus.  Bind and Unbind calls are checked
 * (options, polkit) here and carried out by PpBinder.  It never reads
 * sysfs.
 */
#pragma once

#include "pp-binder.h"
#include "pp-registry.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define PP_TYPE_EXPORTER (pp_exporter_get_type ())
G_DECLARE_FINAL_TYPE (PpExporter, pp_exporter, PP, EXPORTER, GObject)

/* @proc_dir and @dev_dir (NULL: /proc, /dev) are where the host checks
 * look, for tests where a testbed cannot hide the real ones. */
PpExporter *pp_exporter_new (PpRegistry *registry,
                             PpBinder *binder,
                             const char *proc_dir,
                             const char *dev_dir);

/* Exports the whole tree on @connection at once.  Call it before owning
 * the bus name, so a client never sees a half-built tree. */
void pp_exporter_export (PpExporter *self, GDBusConnection *connection);

/* Removes every object from the bus. */
void pp_exporter_unexport (PpExporter *self);

G_END_DECLS
