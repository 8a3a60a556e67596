#include "config.h"

#include "pp-exporter.h"

#include "pp-address.h"
#include "pp-auth.h"
#include "pp-check.h"
#include "pp-config.h"
#include "pp-hostcheck.h"
#include "pp-validate.h"
#include "pp-dbus-generated.h"
#include "pp-error.h"
#include "pp-limits.h"
#include "pp-options.h"

#include <sys/utsname.h>

#define PP_MANAGER_PATH PP_OBJECT_ROOT "/manager"

struct _PpExporter
{
  GObject parent_instance;

  PpLimits *limits; /* per-caller shares of the connection */

  PpRegistry *registry;
  PpBinder *binder;
  PpAuth *auth;
  PpHostPaths paths;
  char *proc_dir;
  char *dev_dir;
  PpDbusManager *manager;
  GDBusObjectManagerServer *server;
  GHashTable *dirty; /* PpDbusDevice skeletons with unannounced changes */
  gulong added_id;
  gulong removed_id;
  gulong done_id;
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
  "original-driver",
  "state",
  "iommu-group",
  "group-viable",
  "numa-node",
  "boot-vga",
  "reset-methods",
  "protection-reason",
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

/* One Bind or Unbind call, from the handler to the reply. */
typedef struct
{
  PpExporter *exporter;
  GDBusMethodInvocation *invocation;
  PpOperation op;
  char *address;
} Call;

static void
call_free (Call *call)
{
  g_object_unref (call->exporter);
  g_object_unref (call->invocation);
  g_free (call->address);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static GVariant *
steps_to_variant (GPtrArray *steps)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(sss)"));
  for (guint i = 0; i < steps->len; i++)
    {
      PpStep *step = g_ptr_array_index (steps, i);
      g_variant_builder_add (&builder, "(sss)", step->address, step->from,
                             step->to);
    }
  return g_variant_new ("(@a(sss))", g_variant_builder_end (&builder));
}

static void
return_error (Call *call, GError *error)
{
  g_dbus_method_invocation_return_gerror (call->invocation, error);
}

static const PpOptionSpec bind_options[] = {
  { "group", "b" },
  { "force", "b" },
  { "dry_run", "b" },
  { NULL, NULL },
};
static const PpOptionSpec unbind_options[] = {
  { "group", "b" },
  { "dry_run", "b" },
  { NULL, NULL },
};
static const PpOptionSpec config_options[] = {
  { "node", "s" },
  { "skip_pcie_validation", "b" },
  { NULL, NULL },
};
static const PpOptionSpec no_options[] = { { NULL, NULL } };

static void
on_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) steps = NULL;

  steps = pp_binder_run_finish (PP_BINDER (source), result, &error);
  if (steps == NULL)
    {
      g_message ("%s of %s failed: %s",
                 call->op == PP_OPERATION_BIND ? "Bind" : "Unbind",
                 call->address, error->message);
      return_error (call, error);
      return;
    }
  g_message ("%s of %s: %u devices moved",
             call->op == PP_OPERATION_BIND ? "Bind" : "Unbind", call->address,
             steps->len);
  g_dbus_method_invocation_return_value (call->invocation,
                                         steps_to_variant (steps));
}

typedef struct
{
  Call *call;
  GPtrArray *plan;
} Authorizing;

static void
on_authorized (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Authorizing *auth = user_data;
  g_autoptr (Call) call = auth->call;
  g_autoptr (GPtrArray) plan = auth->plan;
  g_autoptr (GError) error = NULL;
  PpDevice *device;
  PpBinder *binder;
  PpOperation op;

  g_free (auth);
  if (!pp_auth_check_finish (PP_AUTH (source), result, &error))
    {
      return_error (call, error);
      return;
    }

  /* The device may have gone while polkit was asked. */
  device = pp_registry_lookup (call->exporter->registry, call->address);
  if (device == NULL)
    {
      g_set_error (&error, PP_ERROR, PP_ERROR_NOT_FOUND, "%s is gone",
                   call->address);
      return_error (call, error);
      return;
    }
  /* Arguments are evaluated in any order: take what is needed from the
   * call before handing it over. */
  binder = call->exporter->binder;
  op = call->op;
  pp_binder_run_async (binder, op, device, plan, on_run_done,
                       g_steal_pointer (&call));
}

static gboolean
handle_operation (PpExporter *self,
                  GDBusMethodInvocation *invocation,
                  PpOperation op,
                  const char *address,
                  GVariant *options)
{
  g_autoptr (Call) call = g_new0 (Call, 1);
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GHashTable) details = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) plan = NULL;
  PpDevice *device;
  PpDevice *protected = NULL;
  Authorizing *auth;
  const char *action;

  call->exporter = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  call->op = op;
  call->address = g_strdup (address);

  values = pp_options_parse (
      options, op == PP_OPERATION_BIND ? bind_options : unbind_options, &error);
  if (values == NULL)
    goto fail;

  device = pp_registry_lookup (self->registry, address);
  if (device == NULL)
    {
      g_set_error (&error, PP_ERROR, PP_ERROR_NOT_FOUND, "%s is gone", address);
      goto fail;
    }

  plan = pp_binder_plan (self->binder, op, device,
                         pp_options_get_bool (values, "group", TRUE), &error);
  if (plan == NULL)
    goto fail;

  if (op == PP_OPERATION_BIND)
    {
      protected = pp_binder_find_protected (self->binder, plan);
      if (protected != NULL && !pp_options_get_bool (values, "force", FALSE))
        {
          g_set_error (&error, PP_ERROR, PP_ERROR_PROTECTED,
                       "%s is protected (%s): the host depends on it; pass "
                       "the force option to move it anyway",
                       pp_device_get_address (protected),
                       pp_device_get_protection_reason (protected));
          goto fail;
        }
    }

  /* A plan changes nothing: reading needs no authorization, and neither
   * does a call with nothing to do. */
  if (pp_options_get_bool (values, "dry_run", FALSE) || plan->len == 0)
    {
      g_dbus_method_invocation_return_value (invocation,
                                             steps_to_variant (plan));
      return TRUE;
    }

  if (op == PP_OPERATION_UNBIND)
    action = PP_ACTION_UNBIND;
  else if (protected != NULL)
    action = PP_ACTION_BIND_PROTECTED;
  else
    action = PP_ACTION_BIND;

  g_hash_table_insert (details, "device", (gpointer) address);
  g_hash_table_insert (details, "vendor",
                       (gpointer) pp_device_get_vendor_name (device));
  g_hash_table_insert (details, "name",
                       *pp_device_get_device_name (device) != '\0'
                           ? (gpointer) pp_device_get_device_name (device)
                           : (gpointer) "PCI device");

  auth = g_new0 (Authorizing, 1);
  auth->call = g_steal_pointer (&call);
  auth->plan = g_steal_pointer (&plan);
  /* Prompt only a caller that said it can wait for one. */
  pp_auth_check_async (self->auth,
                       g_dbus_method_invocation_get_sender (invocation),
                       (g_dbus_message_get_flags (
                            g_dbus_method_invocation_get_message (invocation))
                        & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
                           != 0,
                       action, details, on_authorized, auth);
  return TRUE;

fail:
  return_error (call, error);
  return TRUE;
}

/* The results of a validation as the a(sssss) reply. */
static void
return_checks (GDBusMethodInvocation *invocation, GPtrArray *checks)
{
  g_dbus_method_invocation_return_value (
      invocation,
      g_variant_new_tuple ((GVariant *[]){ pp_checks_to_variant (checks) }, 1));
}

static gboolean
on_handle_validate (PpDbusDevice *iface,
                    GDBusMethodInvocation *invocation,
                    GVariant *options,
                    gpointer user_data)
{
  PpExporter *self = g_object_get_data (G_OBJECT (iface), "pp-exporter");
  const char *address = pp_dbus_device_get_address (iface);
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GPtrArray) checks = NULL;
  g_autoptr (GError) error = NULL;
  PpDevice *device;

  values = pp_options_parse (options, no_options, &error);
  device = pp_registry_lookup (self->registry, address);
  if (values != NULL && device == NULL)
    g_set_error (&error, PP_ERROR, PP_ERROR_NOT_FOUND, "%s is gone", address);
  if (error != NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  checks = pp_validate_device (self->registry, device);
  return_checks (invocation, checks);
  return TRUE;
}

static void
publish_host_state (PpExporter *self, GPtrArray *checks)
{
  gboolean iommu;
  gboolean vfio;
  gboolean kvm;

  pp_hostcheck_summarize (checks, &iommu, &vfio, &kvm);
  pp_dbus_manager_set_iommu_enabled (self->manager, iommu);
  pp_dbus_manager_set_vfio_available (self->manager, vfio);
  pp_dbus_manager_set_kvm_available (self->manager, kvm);
}

static gboolean
on_handle_validate_host (PpDbusManager *iface,
                         GDBusMethodInvocation *invocation,
                         GVariant *options,
                         gpointer user_data)
{
  PpExporter *self = user_data;
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GPtrArray) checks = NULL;
  g_autoptr (GError) error = NULL;

  values = pp_options_parse (options, no_options, &error);
  if (values == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  checks = pp_hostcheck_run (&self->paths);
  /* The properties say what the last look saw. */
  publish_host_state (self, checks);
  return_checks (invocation, checks);
  return TRUE;
}

static gboolean
on_handle_validate_config (PpDbusManager *iface,
                           GDBusMethodInvocation *invocation,
                           const char *yaml,
                           GVariant *options,
                           gpointer user_data)
{
  PpExporter *self = user_data;
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GPtrArray) checks = NULL;
  g_autoptr (GError) error = NULL;

  values = pp_options_parse (options, config_options, &error);
  if (values != NULL)
    checks = pp_config_validate (
        self->registry, yaml, strlen (yaml),
        pp_options_get_string (values, "node"),
        pp_options_get_bool (values, "skip_pcie_validation", FALSE), &error);
  if (checks == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  return_checks (invocation, checks);
  return TRUE;
}

static gboolean
on_handle_bind (PpDbusDevice *iface,
                GDBusMethodInvocation *invocation,
                GVariant *options,
                gpointer user_data)
{
  PpExporter *self = g_object_get_data (G_OBJECT (iface), "pp-exporter");

  return handle_operation (self, invocation, PP_OPERATION_BIND,
                           pp_dbus_device_get_address (iface), options);
}

static gboolean
on_handle_unbind (PpDbusDevice *iface,
                  GDBusMethodInvocation *invocation,
                  GVariant *options,
                  gpointer user_data)
{
  PpExporter *self = g_object_get_data (G_OBJECT (iface), "pp-exporter");

  return handle_operation (self, invocation, PP_OPERATION_UNBIND,
                           pp_dbus_device_get_address (iface), options);
}

static void
on_skeleton_notify (GObject *iface, GParamSpec *pspec, gpointer user_data)
{
  PpExporter *self = user_data;

  g_hash_table_add (self->dirty, g_object_ref (iface));
}

/* Announces what one uevent or operation changed now, as one
 * PropertiesChanged per object, rather than whenever the skeletons'
 * idle handlers run and merge it with the next change. */
static void
on_changes_done (PpRegistry *registry, gpointer user_data)
{
  PpExporter *self = user_data;
  GHashTableIter iter;
  gpointer iface;

  g_hash_table_iter_init (&iter, self->dirty);
  while (g_hash_table_iter_next (&iter, &iface, NULL))
    {
      g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (iface));
      g_hash_table_iter_remove (&iter);
    }
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

  g_object_set_data (G_OBJECT (iface), "pp-exporter", self);
  g_signal_connect (iface, "handle-bind", G_CALLBACK (on_handle_bind), NULL);
  g_signal_connect (iface, "handle-unbind", G_CALLBACK (on_handle_unbind),
                    NULL);
  g_signal_connect (iface, "handle-validate", G_CALLBACK (on_handle_validate),
                    NULL);
  pp_dbus_object_skeleton_set_device (object, iface);
  g_signal_connect_object (iface, "notify", G_CALLBACK (on_skeleton_notify),
                           self, 0);
  g_dbus_object_manager_server_export (self->server,
                                       G_DBUS_OBJECT_SKELETON (object));
}

static void
on_device_added (PpRegistry *registry, PpDevice *device, gpointer user_data)
{
  export_device (PP_EXPORTER (user_data), device);
}

static void
on_device_removed (PpRegistry *registry, PpDevice *device, gpointer user_data)
{
  PpExporter *self = PP_EXPORTER (user_data);
  g_autofree char *path
      = pp_address_to_object_path (pp_device_get_address (device));

  g_dbus_object_manager_server_unexport (self->server, path);
}

static void
export_manager (PpExporter *self)
{
  g_autoptr (PpDbusObjectSkeleton) object
      = pp_dbus_object_skeleton_new (PP_MANAGER_PATH);
  g_autoptr (PpDbusManager) iface = pp_dbus_manager_skeleton_new ();
  struct utsname uts;

  g_autoptr (GPtrArray) checks = pp_hostcheck_run (&self->paths);

  pp_dbus_manager_set_version (iface, PACKAGE_VERSION);
  pp_dbus_manager_set_architecture (iface,
                                    uname (&uts) == 0 ? uts.machine : "");
  self->manager = g_object_ref (iface);
  publish_host_state (self, checks);
  g_signal_connect (iface, "handle-validate-host",
                    G_CALLBACK (on_handle_validate_host), self);
  g_signal_connect (iface, "handle-validate-config",
                    G_CALLBACK (on_handle_validate_config), self);
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
  self->removed_id = g_signal_connect (self->registry, "device-removed",
                                       G_CALLBACK (on_device_removed), self);
  self->done_id = g_signal_connect (self->registry, "changes-done",
                                    G_CALLBACK (on_changes_done), self);

  /* Before the first call can arrive: every one is counted. */
  self->limits = pp_limits_new (connection);
  /* Going on the bus last: the tree appears whole. */
  g_dbus_object_manager_server_set_connection (self->server, connection);
}

void
pp_exporter_unexport (PpExporter *self)
{
  g_return_if_fail (PP_IS_EXPORTER (self));

  g_clear_signal_handler (&self->added_id, self->registry);
  g_clear_signal_handler (&self->removed_id, self->registry);
  g_clear_signal_handler (&self->done_id, self->registry);
  g_hash_table_remove_all (self->dirty);
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
  g_clear_object (&self->binder);
  g_clear_object (&self->auth);
  g_clear_pointer (&self->limits, pp_limits_free);
  g_clear_pointer (&self->dirty, g_hash_table_unref);
  g_clear_object (&self->manager);
  g_clear_pointer (&self->proc_dir, g_free);
  g_clear_pointer (&self->dev_dir, g_free);
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
  self->dirty = g_hash_table_new_full (g_direct_hash, g_direct_equal,
                                       g_object_unref, NULL);
}

PpExporter *
pp_exporter_new (PpRegistry *registry,
                 PpBinder *binder,
                 const char *proc_dir,
                 const char *dev_dir)
{
  PpExporter *self = g_object_new (PP_TYPE_EXPORTER, NULL);

  self->proc_dir = g_strdup (proc_dir);
  self->dev_dir = g_strdup (dev_dir);
  self->paths.proc_dir = self->proc_dir;
  self->paths.dev_dir = self->dev_dir;
  self->registry = g_object_ref (registry);
  self->binder = g_object_ref (binder);
  self->auth = pp_auth_new ();
  return self;
}
