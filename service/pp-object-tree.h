/* PpObjectTree: the device objects and their ObjectManager on the bus.
 *
 * No skeleton, binding or property cache per device: the devices are one
 * subtree registration whose properties are read from the PpDevice when
 * asked, and org.freedesktop.DBus.ObjectManager at PP_OBJECT_ROOT is
 * answered from the registry, its GetManagedObjects reply built once per
 * change.  A batch of model changes ("changes-done") goes out as one
 * PropertiesChanged per changed device carrying only what changed, and
 * InterfacesAdded/InterfacesRemoved as devices come and go.  The manager
 * object stays a generated skeleton; it is listed in the reply too.
 *
 * Method calls on a device are handed to @handler with the PpDevice.
 */
#pragma once

#include "pp-registry.h"

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _PpObjectTree PpObjectTree;

typedef void (*PpDeviceMethodFunc) (PpDevice *device,
                                    const char *method,
                                    GVariant *parameters,
                                    GDBusMethodInvocation *invocation,
                                    gpointer user_data);

/* @manager is exported by the caller at @manager_path; it is only read. */
PpObjectTree *pp_object_tree_new (PpRegistry *registry,
                                  GDBusInterfaceSkeleton *manager,
                                  const char *manager_path,
                                  PpDeviceMethodFunc handler,
                                  gpointer user_data);

/* Registers the tree on @connection and starts following the registry. */
gboolean pp_object_tree_export (PpObjectTree *tree,
                                GDBusConnection *connection,
                                GError **error);

/* Unregisters it; no more signals. */
void pp_object_tree_unexport (PpObjectTree *tree);

void pp_object_tree_free (PpObjectTree *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpObjectTree, pp_object_tree_free)

G_END_DECLS
