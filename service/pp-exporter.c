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
#include "pp-object-tree.h"
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
  PpObjectTree *tree; /* the devices and the ObjectManager */
};

G_DEFINE_TYPE (PpExporter, pp_exporter, G_TYPE_OBJECT)

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

/* Whether @invocation's caller said it can wait for a password prompt. */
static gboolean
allows_interaction (GDBusMethodInvocation *invocation)
{
  return (g_dbus_message_get_flags (
              g_dbus_method_invocation_get_message (invocation))
          & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
         != 0;
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
static const PpOptionSpec host_options[] = {
  { "devices", "as" },
  { "candidates", "b" },
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
  pp_auth_check_async (
      self->auth, g_dbus_method_invocation_get_sender (invocation),
      allows_interaction (invocation), action, details, on_authorized, auth);
  return TRUE;

fail:
  return_error (call, error);
  return TRUE;
}

/* Ends @writer (of (sssss)) as the (a(sssss)) reply. */
static void
return_written (GDBusMethodInvocation *invocation, PpArrayWriter *writer)
{
  g_autoptr (GVariant) reply
      = pp_array_writer_end (writer, G_VARIANT_TYPE ("(a(sssss))"));

  g_dbus_method_invocation_return_value (invocation, reply);
}

/* The results of a validation as the a(sssss) reply. */
static void
return_checks (GDBusMethodInvocation *invocation, GPtrArray *checks)
{
  PpArrayWriter *writer = pp_array_writer_new (G_VARIANT_TYPE ("(sssss)"), 0);

  pp_checks_write (checks, writer);
  return_written (invocation, writer);
}

static void
handle_validate (PpExporter *self,
                 GDBusMethodInvocation *invocation,
                 PpDevice *device,
                 GVariant *options)
{
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GPtrArray) checks = NULL;
  g_autoptr (GError) error = NULL;

  values = pp_options_parse (options, no_options, &error);
  if (values == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  checks = pp_validate_device (self->registry, device);
  return_checks (invocation, checks);
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

/* A device's results for the "candidates" option: its checks, or, for a
 * bridge or a protected device, which are never passed through as they
 * are, one skip result saying why. */
static void
add_candidate_checks (PpExporter *self, PpDevice *device, GPtrArray *out)
{
  const char *address = pp_device_get_address (device);
  const char *reason = pp_device_get_protection_reason (device);

  if (g_strcmp0 (pp_device_get_device_type (device), "bridge") == 0)
    pp_checks_add (out, address, "bridge", PP_SEVERITY_SKIP,
                   "not validated: a bridge is never passed through", NULL);
  else if (reason != NULL && *reason != '\0')
    pp_checks_take (out, address, "protected", PP_SEVERITY_SKIP,
                    g_strdup_printf ("not validated: protected (%s); "
                                     "validate it by address to see every "
                                     "check",
                                     reason),
                    NULL);
  else
    pp_validate_device_checks (self->registry, device, NULL, PP_VALIDATE_ALL,
                               out);
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
  g_autofree const char **addresses = NULL;
  g_autoptr (GPtrArray) devices = g_ptr_array_new ();
  gboolean candidates;
  PpArrayWriter *writer;

  values = pp_options_parse (options, host_options, &error);
  if (values == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  addresses = pp_options_get_strv (values, "devices");
  candidates = pp_options_get_bool (values, "candidates", FALSE);
  if (candidates && addresses != NULL)
    {
      g_dbus_method_invocation_return_error (
          invocation, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
          "options devices and candidates exclude each other");
      return TRUE;
    }
  for (guint i = 0; addresses != NULL && addresses[i] != NULL; i++)
    {
      PpDevice *device = pp_registry_lookup (self->registry, addresses[i]);

      if (device == NULL)
        {
          g_dbus_method_invocation_return_error (
              invocation, PP_ERROR, PP_ERROR_NOT_FOUND,
              "no PCI device at \"%s\" (option devices)", addresses[i]);
          return TRUE;
        }
      g_ptr_array_add (devices, device);
    }
  if (candidates)
    {
      g_ptr_array_unref (devices);
      devices = pp_registry_get_devices (self->registry);
    }

  checks = pp_hostcheck_run (&self->paths);
  /* The properties say what the last look saw. */
  publish_host_state (self, checks);
  writer = pp_array_writer_new (G_VARIANT_TYPE ("(sssss)"), 0);
  pp_checks_write (checks, writer);
  if (devices->len > 0)
    {
      /* One look at mounts, routes and VFIO users for all of them, not
       * one per device: a whole host of thousands of functions.  Each
       * device's results are written out as they come, so that tens of
       * thousands of them are never held at once. */
      pp_registry_update_host_state (self->registry);
      for (guint i = 0; i < devices->len; i++)
        {
          g_autoptr (GPtrArray) device_checks = pp_checks_new ();
          PpDevice *device = g_ptr_array_index (devices, i);

          if (candidates)
            add_candidate_checks (self, device, device_checks);
          else
            pp_validate_device_checks (self->registry, device, NULL,
                                       PP_VALIDATE_ALL, device_checks);
          pp_checks_write (device_checks, writer);
        }
    }
  return_written (invocation, writer);
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

/* A method call on a device object, from PpObjectTree. */
static void
on_device_method (PpDevice *device,
                  const char *method,
                  GVariant *parameters,
                  GDBusMethodInvocation *invocation,
                  gpointer user_data)
{
  PpExporter *self = user_data;
  g_autoptr (GVariant) options = g_variant_get_child_value (parameters, 0);
  const char *address = pp_device_get_address (device);

  if (g_str_equal (method, "Bind"))
    handle_operation (self, invocation, PP_OPERATION_BIND, address, options);
  else if (g_str_equal (method, "Unbind"))
    handle_operation (self, invocation, PP_OPERATION_UNBIND, address, options);
  else
    handle_validate (self, invocation, device, options);
}

static void
on_reload_authorized (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GDBusMethodInvocation) invocation = user_data;
  PpExporter *self = g_object_get_data (G_OBJECT (invocation), "exporter");
  g_autoptr (GError) error = NULL;

  if (!pp_auth_check_finish (PP_AUTH (source), result, &error)
      || !pp_registry_reload_catalog (self->registry, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  pp_dbus_manager_complete_reload_catalog (self->manager,
                                           g_steal_pointer (&invocation));
}

static gboolean
on_handle_reload_catalog (PpDbusManager *iface,
                          GDBusMethodInvocation *invocation,
                          GVariant *options,
                          gpointer user_data)
{
  PpExporter *self = user_data;
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GHashTable) details = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;

  values = pp_options_parse (options, no_options, &error);
  if (values == NULL)
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return TRUE;
    }
  g_hash_table_insert (details, "what", "reload the PCI device catalog");
  g_object_set_data_full (G_OBJECT (invocation), "exporter",
                          g_object_ref (self), g_object_unref);
  pp_auth_check_async (
      self->auth, g_dbus_method_invocation_get_sender (invocation),
      allows_interaction (invocation), PP_ACTION_MANAGE, details,
      on_reload_authorized, g_object_ref (invocation));
  return TRUE;
}

/* Resources as the registry counts them now; the skeleton announces it
 * only when it differs from what it had. */
static void
publish_resources (PpExporter *self)
{
  g_autoptr (GHashTable) counts = pp_registry_count_resources (self->registry);
  g_autoptr (GList) names = g_hash_table_get_keys (counts);
  GVariantBuilder builder;

  names = g_list_sort (names, (GCompareFunc) g_strcmp0);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{s(uu)}"));
  for (GList *l = names; l != NULL; l = l->next)
    {
      const PpResourceCount *count = g_hash_table_lookup (counts, l->data);
      g_variant_builder_add (&builder, "{s(uu)}", l->data, count->total,
                             count->free);
    }
  pp_dbus_manager_set_resources (self->manager,
                                 g_variant_builder_end (&builder));
}

static void
on_changes_done (PpRegistry *registry, gpointer user_data)
{
  publish_resources (user_data);
}

static void
on_catalog_loaded (PpRegistry *registry, gpointer user_data)
{
  PpExporter *self = user_data;

  pp_dbus_manager_set_catalog_error (
      self->manager, pp_registry_get_catalog_error (self->registry));
}

static void
export_manager (PpExporter *self)
{
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
  g_signal_connect (iface, "handle-reload-catalog",
                    G_CALLBACK (on_handle_reload_catalog), self);
  pp_dbus_manager_set_catalog_error (
      iface, pp_registry_get_catalog_error (self->registry));
  publish_resources (self);
  g_signal_connect_object (self->registry, "changes-done",
                           G_CALLBACK (on_changes_done), self, 0);
  g_signal_connect_object (self->registry, "catalog-loaded",
                           G_CALLBACK (on_catalog_loaded), self, 0);
}

void
pp_exporter_export (PpExporter *self, GDBusConnection *connection)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (PP_IS_EXPORTER (self));
  g_return_if_fail (self->tree == NULL);

  export_manager (self);
  /* Registered before the bus name is owned, so no client sees it half
   * built; the manager's properties reach the bus only once exported. */
  if (!g_dbus_interface_skeleton_export (
          G_DBUS_INTERFACE_SKELETON (self->manager), connection,
          PP_MANAGER_PATH, &error))
    g_error ("cannot export %s: %s", PP_MANAGER_PATH, error->message);
  self->tree = pp_object_tree_new (self->registry,
                                   G_DBUS_INTERFACE_SKELETON (self->manager),
                                   PP_MANAGER_PATH, on_device_method, self);
  if (!pp_object_tree_export (self->tree, connection, &error))
    g_error ("cannot export the device tree: %s", error->message);

  /* Before the first call can arrive: every one is counted. */
  self->limits = pp_limits_new (connection);
}

void
pp_exporter_unexport (PpExporter *self)
{
  g_return_if_fail (PP_IS_EXPORTER (self));

  g_clear_pointer (&self->tree, pp_object_tree_free);
  if (self->manager != NULL
      && g_dbus_interface_skeleton_get_connection (
             G_DBUS_INTERFACE_SKELETON (self->manager))
             != NULL)
    g_dbus_interface_skeleton_unexport (
        G_DBUS_INTERFACE_SKELETON (self->manager));
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
