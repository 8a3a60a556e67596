#include "config.h"

#include "pp-object-tree.h"

#include "pp-address.h"
#include "pp-array-writer.h"
#include "pp-dbus-generated.h"

#include <string.h>

#define DEVICES_PATH PP_OBJECT_ROOT "/devices"
#define DEVICE_IFACE "io.github.pcipassd1.Device"
#define NODE_PREFIX "pci_"

typedef enum
{
  KIND_STRING,
  KIND_UINT16,
  KIND_BYTE,
  KIND_UINT32,
  KIND_INT,
  KIND_BOOL,
  KIND_STRV,
  KIND_PATH,  /* an address in the model, an object path on the bus */
  KIND_PATHS, /* addresses in the model, object paths on the bus */
} Kind;

/* Every property of io.github.pcipassd1.Device and the PpDevice
 * property it is read from; export checks it covers the XML. */
static const struct
{
  const char *name;
  const char *model;
  Kind kind;
} properties[] = {
  { "Address", "address", KIND_STRING },
  { "VendorId", "vendor-id", KIND_UINT16 },
  { "DeviceId", "device-id", KIND_UINT16 },
  { "SubsystemVendorId", "subsystem-vendor-id", KIND_UINT16 },
  { "SubsystemDeviceId", "subsystem-device-id", KIND_UINT16 },
  { "Revision", "revision", KIND_BYTE },
  { "ClassCode", "class-code", KIND_UINT32 },
  { "VendorName", "vendor-name", KIND_STRING },
  { "DeviceName", "device-name", KIND_STRING },
  { "Type", "type", KIND_STRING },
  { "Driver", "driver", KIND_STRING },
  { "DriverOverride", "driver-override", KIND_STRING },
  { "OriginalDriver", "original-driver", KIND_STRING },
  { "State", "state", KIND_STRING },
  { "IommuGroup", "iommu-group", KIND_INT },
  { "GroupViable", "group-viable", KIND_BOOL },
  { "NumaNode", "numa-node", KIND_INT },
  { "PhysicalFunction", "physical-function", KIND_PATH },
  { "VirtualFunctions", "virtual-functions", KIND_PATHS },
  { "BootVga", "boot-vga", KIND_BOOL },
  { "ResetMethods", "reset-methods", KIND_STRV },
  { "ProtectionReason", "protection-reason", KIND_STRING },
  { "ResourceName", "resource-name", KIND_STRING },
  { "Owner", "owner", KIND_STRING },
  { "Persistent", "persistent", KIND_BOOL },
};

#define N_PROPERTIES G_N_ELEMENTS (properties)

/* The PpDevice pspec of each entry, found once. */
static GParamSpec *pspecs[N_PROPERTIES];

typedef struct
{
  PpObjectTree *tree;
  PpDevice *device; /* strong */
  char *path;       /* DEVICES_PATH "/pci_0000_01_00_0" */
  const char *node; /* its last element, in @path */
  gulong notify_id;
  guint32 dirty; /* bit i: properties[i] changed, not yet announced */
  int index;     /* its {oa{sa{sv}}} in the cached reply, -1: not current */
} Entry;

struct _PpObjectTree
{
  PpRegistry *registry;
  GDBusInterfaceSkeleton *manager;
  char *manager_path;
  PpDeviceMethodFunc handler;
  gpointer handler_data;

  GDBusConnection *connection;
  guint subtree_id;
  guint root_id;
  gulong added_id;
  gulong removed_id;
  gulong done_id;
  gulong manager_notify_id;
  guint flush_id; /* idle flush of changes outside a batch */

  GHashTable *entries; /* node name -> Entry */
  GHashTable *dirty;   /* set of Entry with unannounced changes */
  GVariant *reply;     /* last GetManagedObjects reply built, or NULL */
  gboolean stale;      /* @reply no longer says what the tree holds */
};

static const char object_manager_xml[]
    = "<node>"
      "  <interface name='org.freedesktop.DBus.ObjectManager'>"
      "    <method name='GetManagedObjects'>"
      "      <arg type='a{oa{sa{sv}}}' name='objects' direction='out'/>"
      "    </method>"
      "    <signal name='InterfacesAdded'>"
      "      <arg type='o' name='object_path'/>"
      "      <arg type='a{sa{sv}}' name='interfaces_and_properties'/>"
      "    </signal>"
      "    <signal name='InterfacesRemoved'>"
      "      <arg type='o' name='object_path'/>"
      "      <arg type='as' name='interfaces'/>"
      "    </signal>"
      "  </interface>"
      "</node>";

static GDBusNodeInfo *object_manager_info;

static void
init_tables (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      GObjectClass *klass = g_type_class_ref (PP_TYPE_DEVICE);
      GDBusInterfaceInfo *info = pp_dbus_device_interface_info ();
      g_autoptr (GError) error = NULL;

      for (guint i = 0; i < N_PROPERTIES; i++)
        {
          pspecs[i] = g_object_class_find_property (klass, properties[i].model);
          if (pspecs[i] == NULL)
            g_critical ("PpDevice has no property %s", properties[i].model);
        }
      /* The table and the XML must agree, or the bus and the model drift
       * apart silently. */
      for (guint i = 0; info->properties[i] != NULL; i++)
        {
          gboolean found = FALSE;

          for (guint j = 0; j < N_PROPERTIES && !found; j++)
            found = g_str_equal (info->properties[i]->name, properties[j].name);
          if (!found)
            g_critical ("Device property %s is not exported",
                        info->properties[i]->name);
        }
      object_manager_info
          = g_dbus_node_info_new_for_xml (object_manager_xml, &error);
      g_assert_no_error (error);
      g_once_init_leave (&done, 1);
    }
}

static GVariant *
path_variant (const char *address)
{
  g_autofree char *path = NULL;

  if (address == NULL || *address == '\0')
    return g_variant_new_object_path ("/");
  path = pp_address_to_object_path (address);
  return g_variant_new_object_path (path);
}

static GVariant *
paths_variant (const char *const *addresses)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_OBJECT_PATH_ARRAY);
  for (; addresses != NULL && *addresses != NULL; addresses++)
    {
      g_autofree char *path = pp_address_to_object_path (*addresses);

      g_variant_builder_add (&builder, "o", path);
    }
  return g_variant_builder_end (&builder);
}

/* Property @i of @device as the bus carries it (floating). */
static GVariant *
property_value (PpDevice *device, guint i)
{
  g_auto (GValue) value = G_VALUE_INIT;

  g_value_init (&value, G_PARAM_SPEC_VALUE_TYPE (pspecs[i]));
  g_object_get_property (G_OBJECT (device), properties[i].model, &value);
  switch (properties[i].kind)
    {
      case KIND_STRING:
        return g_variant_new_string (
            g_value_get_string (&value) ? g_value_get_string (&value) : "");
      case KIND_UINT16:
        return g_variant_new_uint16 ((guint16) g_value_get_uint (&value));
      case KIND_BYTE:
        return g_variant_new_byte (g_value_get_uchar (&value));
      case KIND_UINT32:
        return g_variant_new_uint32 (g_value_get_uint (&value));
      case KIND_INT:
        return g_variant_new_int32 (g_value_get_int (&value));
      case KIND_BOOL:
        return g_variant_new_boolean (g_value_get_boolean (&value));
      case KIND_STRV:
        {
          const char *const *strv = g_value_get_boxed (&value);

          return g_variant_new_strv (strv, -1);
        }
      case KIND_PATH:
        return path_variant (g_value_get_string (&value));
      case KIND_PATHS:
        return paths_variant (g_value_get_boxed (&value));
      default:
        g_assert_not_reached ();
    }
}

/* a{sv} of the properties in @mask (floating). */
static GVariant *
properties_variant (PpDevice *device, guint32 mask)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; i < N_PROPERTIES; i++)
    if (mask & (1u << i))
      g_variant_builder_add (
          &builder, "{s@v}", properties[i].name,
          g_variant_new_variant (property_value (device, i)));
  return g_variant_builder_end (&builder);
}

#define ALL_PROPERTIES ((guint32) ((1u << N_PROPERTIES) - 1))

/* a{sa{sv}}: the one interface of a device object (floating). */
static GVariant *
interfaces_variant (PpDevice *device)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_variant_builder_add (&builder, "{s@a{sv}}", DEVICE_IFACE,
                         properties_variant (device, ALL_PROPERTIES));
  return g_variant_builder_end (&builder);
}

static void
entry_free (Entry *entry)
{
  g_clear_signal_handler (&entry->notify_id, entry->device);
  g_object_unref (entry->device);
  g_free (entry->path);
  g_free (entry);
}

/* The reply is rebuilt on the next call, from the entries of this one
 * that are still current. */
static void
invalidate_reply (PpObjectTree *self)
{
  self->stale = TRUE;
}

static void
emit (PpObjectTree *self,
      const char *path,
      const char *iface,
      const char *signal,
      GVariant *params)
{
  g_autoptr (GError) error = NULL;

  /* Only called while exported: the handlers that lead here are
   * connected with the connection and disconnected before it goes. */
  if (!g_dbus_connection_emit_signal (self->connection, NULL, path, iface,
                                      signal, params, &error))
    g_warning ("cannot emit %s: %s", signal, error->message);
}

/* Announces every pending change, one PropertiesChanged per device. */
static void
flush (PpObjectTree *self)
{
  GHashTableIter iter;
  gpointer key;

  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_hash_table_iter_init (&iter, self->dirty);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      Entry *entry = key;
      guint32 mask = entry->dirty;

      entry->dirty = 0;
      g_hash_table_iter_remove (&iter);
      emit (self, entry->path, "org.freedesktop.DBus.Properties",
            "PropertiesChanged",
            g_variant_new ("(s@a{sv}@as)", DEVICE_IFACE,
                           properties_variant (entry->device, mask),
                           g_variant_new_strv (NULL, 0)));
    }
}

static gboolean
on_flush_idle (gpointer user_data)
{
  PpObjectTree *self = user_data;

  self->flush_id = 0;
  flush (self);
  return G_SOURCE_REMOVE;
}

static void
on_device_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  Entry *entry = user_data;
  PpObjectTree *self = entry->tree;

  for (guint i = 0; i < N_PROPERTIES; i++)
    if (pspecs[i] == pspec)
      {
        entry->dirty |= 1u << i;
        entry->index = -1;
        g_hash_table_add (self->dirty, entry);
        invalidate_reply (self);
        /* A change outside a registry batch still goes out, soon. */
        if (self->flush_id == 0)
          self->flush_id = g_idle_add (on_flush_idle, self);
        return;
      }
}

static Entry *
add_entry (PpObjectTree *self, PpDevice *device)
{
  Entry *entry = g_new0 (Entry, 1);

  entry->tree = self;
  entry->device = g_object_ref (device);
  entry->index = -1;
  entry->path = pp_address_to_object_path (pp_device_get_address (device));
  entry->node = entry->path + strlen (DEVICES_PATH "/");
  entry->notify_id = g_signal_connect (device, "notify",
                                       G_CALLBACK (on_device_notify), entry);
  g_hash_table_replace (self->entries, (gpointer) entry->node, entry);
  return entry;
}

static void
on_device_added (PpRegistry *registry, PpDevice *device, gpointer user_data)
{
  PpObjectTree *self = user_data;
  Entry *entry = add_entry (self, device);

  invalidate_reply (self);
  emit (self, PP_OBJECT_ROOT, "org.freedesktop.DBus.ObjectManager",
        "InterfacesAdded",
        g_variant_new ("(o@a{sa{sv}})", entry->path,
                       interfaces_variant (device)));
}

static void
on_device_removed (PpRegistry *registry, PpDevice *device, gpointer user_data)
{
  PpObjectTree *self = user_data;
  g_autofree char *path
      = pp_address_to_object_path (pp_device_get_address (device));
  const char *node = path + strlen (DEVICES_PATH "/");
  Entry *entry = g_hash_table_lookup (self->entries, node);
  const char *ifaces[] = { DEVICE_IFACE, NULL };

  if (entry == NULL)
    return;
  g_hash_table_remove (self->dirty, entry);
  g_hash_table_remove (self->entries, node);
  invalidate_reply (self);
  emit (self, PP_OBJECT_ROOT, "org.freedesktop.DBus.ObjectManager",
        "InterfacesRemoved", g_variant_new ("(o^as)", path, ifaces));
}

static void
on_changes_done (PpRegistry *registry, gpointer user_data)
{
  flush (user_data);
}

static void
on_manager_notify (GObject *object, GParamSpec *pspec, gpointer user_data)
{
  invalidate_reply (user_data);
}

/* ---- the subtree of devices ---- */

static char **
subtree_enumerate (GDBusConnection *connection,
                   const char *sender,
                   const char *object_path,
                   gpointer user_data)
{
  PpObjectTree *self = user_data;
  GPtrArray *nodes = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (nodes, g_strdup (key));
  g_ptr_array_add (nodes, NULL);
  return (char **) g_ptr_array_free (nodes, FALSE);
}

static GDBusInterfaceInfo **
subtree_introspect (GDBusConnection *connection,
                    const char *sender,
                    const char *object_path,
                    const char *node,
                    gpointer user_data)
{
  PpObjectTree *self = user_data;
  GPtrArray *infos = g_ptr_array_new ();

  if (node != NULL && g_hash_table_contains (self->entries, node))
    g_ptr_array_add (
        infos, g_dbus_interface_info_ref (pp_dbus_device_interface_info ()));
  g_ptr_array_add (infos, NULL);
  return (GDBusInterfaceInfo **) g_ptr_array_free (infos, FALSE);
}

static Entry *
entry_for_path (PpObjectTree *self, const char *object_path)
{
  if (!g_str_has_prefix (object_path, DEVICES_PATH "/"))
    return NULL;
  return g_hash_table_lookup (self->entries,
                              object_path + strlen (DEVICES_PATH "/"));
}

static void
device_method_call (GDBusConnection *connection,
                    const char *sender,
                    const char *object_path,
                    const char *interface_name,
                    const char *method_name,
                    GVariant *parameters,
                    GDBusMethodInvocation *invocation,
                    gpointer user_data)
{
  PpObjectTree *self = user_data;
  Entry *entry = entry_for_path (self, object_path);

  if (entry == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, G_DBUS_ERROR,
                                             G_DBUS_ERROR_UNKNOWN_OBJECT,
                                             "no object %s", object_path);
      return;
    }
  self->handler (entry->device, method_name, parameters, invocation,
                 self->handler_data);
}

static GVariant *
device_get_property (GDBusConnection *connection,
                     const char *sender,
                     const char *object_path,
                     const char *interface_name,
                     const char *property_name,
                     GError **error,
                     gpointer user_data)
{
  PpObjectTree *self = user_data;
  Entry *entry = entry_for_path (self, object_path);

  if (entry == NULL)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT,
                   "no object %s", object_path);
      return NULL;
    }
  for (guint i = 0; i < N_PROPERTIES; i++)
    if (g_str_equal (properties[i].name, property_name))
      return property_value (entry->device, i);
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY,
               "no property %s", property_name);
  return NULL;
}

static const GDBusInterfaceVTable device_vtable = {
  device_method_call,
  device_get_property,
  NULL,
  { 0 },
};

static const GDBusInterfaceVTable *
subtree_dispatch (GDBusConnection *connection,
                  const char *sender,
                  const char *object_path,
                  const char *interface_name,
                  const char *node,
                  gpointer *out_user_data,
                  gpointer user_data)
{
  PpObjectTree *self = user_data;

  if (node == NULL || !g_hash_table_contains (self->entries, node)
      || g_strcmp0 (interface_name, DEVICE_IFACE) != 0)
    return NULL;
  *out_user_data = self;
  return &device_vtable;
}

static const GDBusSubtreeVTable subtree_vtable = {
  subtree_enumerate,
  subtree_introspect,
  subtree_dispatch,
  { 0 },
};

/* ---- the ObjectManager ---- */

/* Keeps only the reply, not a copy of each device's entry besides it,
 * and writes it entry by entry so that no second copy exists while it is
 * built: a device that did not change keeps its entry of the last reply,
 * copied; one that did is serialized alone and appended. */
static void
update_reply (PpObjectTree *self)
{
  g_autoptr (GVariant) old_objects = NULL;
  g_autoptr (PpArrayWriter) writer = NULL;
  GHashTableIter iter;
  gpointer value;
  int index = 0;

  if (self->reply != NULL && !self->stale)
    return;
  if (self->reply != NULL)
    old_objects = g_variant_get_child_value (self->reply, 0);

  writer = pp_array_writer_new (
      G_VARIANT_TYPE ("{oa{sa{sv}}}"),
      self->reply != NULL ? g_variant_get_size (self->reply) : 0);
  {
    GVariantBuilder manager;

    g_variant_builder_init (&manager, G_VARIANT_TYPE ("a{sa{sv}}"));
    g_variant_builder_add (
        &manager, "{s@a{sv}}",
        g_dbus_interface_skeleton_get_info (self->manager)->name,
        g_dbus_interface_skeleton_get_properties (self->manager));
    pp_array_writer_add (writer,
                         g_variant_new_dict_entry (
                             g_variant_new_object_path (self->manager_path),
                             g_variant_builder_end (&manager)));
    index++;
  }
  g_hash_table_iter_init (&iter, self->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *entry = value;

      if (old_objects != NULL && entry->index >= 0)
        pp_array_writer_add (
            writer, g_variant_get_child_value (old_objects, entry->index));
      else
        pp_array_writer_add (
            writer,
            g_variant_new_dict_entry (g_variant_new_object_path (entry->path),
                                      interfaces_variant (entry->device)));
      entry->index = index++;
    }
  g_clear_pointer (&old_objects, g_variant_unref);
  g_clear_pointer (&self->reply, g_variant_unref);
  self->reply = pp_array_writer_end (g_steal_pointer (&writer),
                                     G_VARIANT_TYPE ("(a{oa{sa{sv}}})"));
  self->stale = FALSE;
}

static void
root_method_call (GDBusConnection *connection,
                  const char *sender,
                  const char *object_path,
                  const char *interface_name,
                  const char *method_name,
                  GVariant *parameters,
                  GDBusMethodInvocation *invocation,
                  gpointer user_data)
{
  PpObjectTree *self = user_data;

  /* Only GetManagedObjects exists; GDBus checked name and arguments. */
  update_reply (self);
  g_dbus_method_invocation_return_value (invocation, self->reply);
}

static const GDBusInterfaceVTable root_vtable = {
  root_method_call,
  NULL,
  NULL,
  { 0 },
};

PpObjectTree *
pp_object_tree_new (PpRegistry *registry,
                    GDBusInterfaceSkeleton *manager,
                    const char *manager_path,
                    PpDeviceMethodFunc handler,
                    gpointer user_data)
{
  PpObjectTree *self = g_new0 (PpObjectTree, 1);

  init_tables ();
  self->registry = g_object_ref (registry);
  self->manager = g_object_ref (manager);
  self->manager_path = g_strdup (manager_path);
  self->handler = handler;
  self->handler_data = user_data;
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) entry_free);
  self->dirty = g_hash_table_new (g_direct_hash, g_direct_equal);
  return self;
}

gboolean
pp_object_tree_export (PpObjectTree *self,
                       GDBusConnection *connection,
                       GError **error)
{
  g_autoptr (GPtrArray) devices = NULL;

  g_return_val_if_fail (self->connection == NULL, FALSE);

  devices = pp_registry_get_devices (self->registry);
  for (guint i = 0; i < devices->len; i++)
    add_entry (self, g_ptr_array_index (devices, i));

  self->root_id = g_dbus_connection_register_object (
      connection, PP_OBJECT_ROOT, object_manager_info->interfaces[0],
      &root_vtable, self, NULL, error);
  if (self->root_id == 0)
    return FALSE;
  /* Dispatched to nodes it does not enumerate: otherwise GDBus lists
   * every device on each call to find out whether the node exists. */
  self->subtree_id = g_dbus_connection_register_subtree (
      connection, DEVICES_PATH, &subtree_vtable,
      G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES, self, NULL, error);
  if (self->subtree_id == 0)
    {
      g_dbus_connection_unregister_object (connection, self->root_id);
      self->root_id = 0;
      return FALSE;
    }
  self->connection = g_object_ref (connection);

  self->added_id = g_signal_connect (self->registry, "device-added",
                                     G_CALLBACK (on_device_added), self);
  self->removed_id = g_signal_connect (self->registry, "device-removed",
                                       G_CALLBACK (on_device_removed), self);
  self->done_id = g_signal_connect (self->registry, "changes-done",
                                    G_CALLBACK (on_changes_done), self);
  self->manager_notify_id = g_signal_connect (
      self->manager, "notify", G_CALLBACK (on_manager_notify), self);
  return TRUE;
}

void
pp_object_tree_unexport (PpObjectTree *self)
{
  g_clear_signal_handler (&self->added_id, self->registry);
  g_clear_signal_handler (&self->removed_id, self->registry);
  g_clear_signal_handler (&self->done_id, self->registry);
  g_clear_signal_handler (&self->manager_notify_id, self->manager);
  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_hash_table_remove_all (self->dirty);
  g_hash_table_remove_all (self->entries);
  g_clear_pointer (&self->reply, g_variant_unref);
  if (self->connection != NULL)
    {
      g_dbus_connection_unregister_subtree (self->connection, self->subtree_id);
      g_dbus_connection_unregister_object (self->connection, self->root_id);
      self->subtree_id = 0;
      self->root_id = 0;
    }
  g_clear_object (&self->connection);
}

void
pp_object_tree_free (PpObjectTree *self)
{
  if (self == NULL)
    return;
  pp_object_tree_unexport (self);
  g_hash_table_unref (self->dirty);
  g_hash_table_unref (self->entries);
  g_object_unref (self->manager);
  g_object_unref (self->registry);
  g_free (self->manager_path);
  g_free (self);
}
