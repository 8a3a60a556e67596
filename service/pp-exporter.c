#include "config.h"

#include "pp-exporter.h"

#include "pp-address.h"
#include "pp-dbus-generated.h"

#include <sys/utsname.h>

#define PP_MANAGER_PATH PP_OBJECT_ROOT "/manager"

struct _PpExporter
{
  GObject parent_instance;

  PpRegistry *registry;
  GDBusObjectManagerServer *server;
  gulong added_id;
};

G_DEFINE_TYPE (PpExporter, pp_exporter, G_TYPE_OBJECT)

/* Properties that travel with the same name and type on both sides. */
static const char *const plain_properties[] = {
  "address",
  "vendor-id",
  "device-id",
  "subsystem-vendor-id",
  "subsystem-device-id",
  "revision",
  "class-code",
  "vendor-name",
  "device-name",
  "type",
  "driver",
  "driver-override",
  "state",
  "iommu-group",
  "group-viable",
  "numa-node",
  "boot-vga",
  "reset-methods",
  NULL,
};

/* The model names related devices by address; the bus by object path. */
static const char *const address_list_properties[] = {
  "iommu-group-devices",
  "virtual-functions",
  NULL,
};

static gboolean
address_to_path (GBinding *binding,
                 const GValue *from,
                 GValue *to,
                 gpointer user_data)
{
  const char *address = g_value_get_string (from);

  if (address == NULL || *address == '\0')
    g_value_set_string (to, "/");
  else
    g_value_take_string (to, pp_address_to_object_path (address));
  return TRUE;
}

static gboolean
addresses_to_paths (GBinding *binding,
                    const GValue *from,
                    GValue *to,
                    gpointer user_data)
{
  const char *const *addresses = g_value_get_boxed (from);
  g_autoptr (GStrvBuilder) paths = g_strv_builder_new ();

  for (; addresses != NULL && *addresses != NULL; addresses++)
    {
      g_autofree char *path = pp_address_to_object_path (*addresses);
      g_strv_builder_add (paths, path);
    }
  g_value_take_boxed (to, g_strv_builder_end (paths));
  return TRUE;
}

static void
export_device (PpExporter *self, PpDevice *device)
{
  const char *address = pp_device_get_address (device);
  g_autofree char *path = pp_address_to_object_path (address);
  g_autoptr (PpDbusObjectSkeleton) object = pp_dbus_object_skeleton_new (path);
  g_autoptr (PpDbusDevice) iface = pp_dbus_device_skeleton_new ();

  for (const char *const *p = plain_properties; *p != NULL; p++)
    g_object_bind_property (device, *p, iface, *p, G_BINDING_SYNC_CREATE);
  for (const char *const *p = address_list_properties; *p != NULL; p++)
    g_object_bind_property_full (device, *p, iface, *p, G_BINDING_SYNC_CREATE,
                                 addresses_to_paths, NULL, NULL, NULL);
  g_object_bind_property_full (device, "physical-function", iface,
                               "physical-function", G_BINDING_SYNC_CREATE,
                               address_to_path, NULL, NULL, NULL);

  pp_dbus_object_skeleton_set_device (object, iface);
  g_dbus_object_manager_server_export (self->server,
                                       G_DBUS_OBJECT_SKELETON (object));
}

static void
on_device_added (PpRegistry *registry, PpDevice *device, gpointer user_data)
{
  export_device (PP_EXPORTER (user_data), device);
}

static void
export_manager (PpExporter *self)
{
  g_autoptr (PpDbusObjectSkeleton) object
      = pp_dbus_object_skeleton_new (PP_MANAGER_PATH);
  g_autoptr (PpDbusManager) iface = pp_dbus_manager_skeleton_new ();
  struct utsname uts;

  pp_dbus_manager_set_version (iface, PACKAGE_VERSION);
  pp_dbus_manager_set_architecture (iface,
                                    uname (&uts) == 0 ? uts.machine : "");
  pp_dbus_object_skeleton_set_manager (object, iface);
  g_dbus_object_manager_server_export (self->server,
                                       G_DBUS_OBJECT_SKELETON (object));
}

void
pp_exporter_export (PpExporter *self, GDBusConnection *connection)
{
  g_autoptr (GPtrArray) devices = NULL;

  g_return_if_fail (PP_IS_EXPORTER (self));
  g_return_if_fail (self->server == NULL);

  self->server = g_dbus_object_manager_server_new (PP_OBJECT_ROOT);
  export_manager (self);

  devices = pp_registry_get_devices (self->registry);
  for (guint i = 0; i < devices->len; i++)
    export_device (self, g_ptr_array_index (devices, i));

  self->added_id = g_signal_connect (self->registry, "device-added",
                                     G_CALLBACK (on_device_added), self);

  /* Going on the bus last: the tree appears whole. */
  g_dbus_object_manager_server_set_connection (self->server, connection);
}

void
pp_exporter_unexport (PpExporter *self)
{
  g_return_if_fail (PP_IS_EXPORTER (self));

  g_clear_signal_handler (&self->added_id, self->registry);
  if (self->server != NULL)
    g_dbus_object_manager_server_set_connection (self->server, NULL);
  g_clear_object (&self->server);
}

static void
pp_exporter_dispose (GObject *object)
{
  PpExporter *self = PP_EXPORTER (object);

  if (self->registry != NULL)
    pp_exporter_unexport (self);
  g_clear_object (&self->registry);
  G_OBJECT_CLASS (pp_exporter_parent_class)->dispose (object);
}

static void
pp_exporter_class_init (PpExporterClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pp_exporter_dispose;
}

static void
pp_exporter_init (PpExporter *self)
{
}

PpExporter *
pp_exporter_new (PpRegistry *registry)
{
  PpExporter *self = g_object_new (PP_TYPE_EXPORTER, NULL);

  self->registry = g_object_ref (registry);
  return self;
}
