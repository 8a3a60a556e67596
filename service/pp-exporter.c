#include "config.h"

#include "pp-exporter.h"

#include "pp-address.h"
#include "pp-allocator.h"
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
  PpLeases *leases;
  PpAllocator *allocator;
  GHashTable *tie_watches; /* unique bus name -> watch id */
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
  char *owner; /* the lease holder the caller acts for, or NULL */
  gboolean persistent;
} Call;

static void
call_free (Call *call)
{
  g_object_unref (call->exporter);
  g_object_unref (call->invocation);
  g_free (call->address);
  g_free (call->owner);
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

/* What names @device in a polkit prompt (borrowed strings). */
static void
add_device_details (GHashTable *details, PpDevice *device)
{
  const char *name = pp_device_get_device_name (device);

  g_hash_table_insert (details, "device",
                       (gpointer) pp_device_get_address (device));
  g_hash_table_insert (details, "vendor",
                       (gpointer) pp_device_get_vendor_name (device));
  g_hash_table_insert (details, "name",
                       *name != '\0' ? (gpointer) name
                                     : (gpointer) "PCI device");
}

static const PpOptionSpec bind_options[] = {
  { "group", "b" }, { "force", "b" },      { "dry_run", "b" },
  { "owner", "s" }, { "persistent", "b" }, { NULL, NULL },
};
static const PpOptionSpec unbind_options[] = {
  { "group", "b" },
  { "dry_run", "b" },
  { "owner", "s" },
  { NULL, NULL },
};
static const PpOptionSpec reserve_options[] = {
  { "tied_to_caller", "b" },
  { NULL, NULL },
};
static const PpOptionSpec release_options[] = {
  { "owner", "s" },
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
static const PpOptionSpec allocate_options[] = {
  { "numa_node", "i" },
  { NULL, NULL },
};
static const PpOptionSpec no_options[] = { { NULL, NULL } };

/* Reserved unless @address and every device of @plan are free or
 * @owner's. */
static gboolean
check_plan_leases (PpExporter *self,
                   const char *address,
                   GPtrArray *plan,
                   const char *owner,
                   GError **error)
{
  g_autoptr (GPtrArray) addresses = g_ptr_array_new ();

  g_ptr_array_add (addresses, (gpointer) address);
  for (guint i = 0; i < plan->len; i++)
    g_ptr_array_add (addresses,
                     ((PpStep *) g_ptr_array_index (plan, i))->address);
  g_ptr_array_add (addresses, NULL);
  return pp_leases_check (self->leases, (const char *const *) addresses->pdata,
                          owner, error);
}

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
  gboolean persistent;

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
  /* Someone may have leased a device of the plan meanwhile. */
  if (!check_plan_leases (call->exporter, call->address, plan, call->owner,
                          &error))
    {
      return_error (call, error);
      return;
    }
  /* Arguments are evaluated in any order: take what is needed from the
   * call before handing it over. */
  binder = call->exporter->binder;
  op = call->op;
  persistent = call->persistent;
  pp_binder_run_async (binder, op, device, plan, persistent, on_run_done,
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
  call->owner = g_strdup (pp_options_get_string (values, "owner"));
  if (!check_plan_leases (self, address, plan, call->owner, &error))
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

  call->persistent = op == PP_OPERATION_BIND
                     && pp_options_get_bool (values, "persistent", FALSE);
  /* A plan changes nothing: reading needs no authorization, and neither
   * does a call with nothing to do: no device to move, and persistence as
   * asked (a Bind's kept, an Unbind's ended). */
  if (pp_options_get_bool (values, "dry_run", FALSE)
      || (plan->len == 0
          && (op == PP_OPERATION_BIND
                  ? !call->persistent || pp_device_get_persistent (device)
                  : !pp_device_get_persistent (device))))
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

  add_device_details (details, device);

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

/* A Reserve or Release waiting for polkit. */
typedef struct
{
  PpExporter *exporter;
  GDBusMethodInvocation *invocation;
  char *address;
  char *owner; /* Reserve: the new holder; Release: the one authorized */
  char *tie;   /* Reserve with tied_to_caller: the caller's name */
  gboolean reserve;
} LeaseCall;

static void
lease_call_free (LeaseCall *call)
{
  g_object_unref (call->exporter);
  g_object_unref (call->invocation);
  g_free (call->address);
  g_free (call->owner);
  g_free (call->tie);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LeaseCall, lease_call_free)

static void
on_tie_vanished (GDBusConnection *connection,
                 const char *name,
                 gpointer user_data)
{
  PpExporter *self = user_data;
  guint n = pp_leases_release_tied (self->leases, name);

  g_debug ("%s left the bus: %u tied leases released", name, n);
  /* Unwatches it. */
  g_hash_table_remove (self->tie_watches, name);
}

/* Releases @name's tied leases when it leaves the bus (at once, if it
 * already has). */
static void
watch_tie (PpExporter *self, GDBusConnection *connection, const char *name)
{
  guint id;

  if (g_hash_table_contains (self->tie_watches, name))
    return;
  id = g_bus_watch_name_on_connection (connection, name,
                                       G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                       on_tie_vanished, self, NULL);
  g_hash_table_insert (self->tie_watches, g_strdup (name),
                       GUINT_TO_POINTER (id));
}

static void
on_lease_authorized (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LeaseCall) call = user_data;
  PpExporter *self = call->exporter;
  g_autoptr (GError) error = NULL;
  const char *holder;

  if (!pp_auth_check_finish (PP_AUTH (source), result, &error))
    goto fail;
  if (pp_registry_lookup (self->registry, call->address) == NULL)
    {
      g_set_error (&error, PP_ERROR, PP_ERROR_NOT_FOUND, "%s is gone",
                   call->address);
      goto fail;
    }

  if (call->reserve)
    {
      /* Another caller may have won the device meanwhile: Reserved. */
      if (!pp_leases_reserve (self->leases, call->address, call->owner,
                              call->tie, &error))
        goto fail;
      if (call->tie != NULL)
        watch_tie (self,
                   g_dbus_method_invocation_get_connection (call->invocation),
                   call->tie);
    }
  else
    {
      /* What was authorized is the release of this holder's lease. */
      holder = pp_leases_get_owner (self->leases, call->address);
      if (holder != NULL && !g_str_equal (holder, call->owner))
        {
          g_set_error (&error, PP_ERROR, PP_ERROR_RESERVED,
                       "%s is leased to %s now", call->address, holder);
          goto fail;
        }
      if (!pp_leases_release (self->leases, call->address, &error))
        goto fail;
    }
  g_dbus_method_invocation_return_value (call->invocation, NULL);
  return;

fail:
  g_dbus_method_invocation_return_gerror (call->invocation, error);
}

/* A short, printable form of a string from a caller, for messages. */
static char *
shown (const char *text)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (const char *p = text; *p != '\0' && out->len < 64; p++)
    if (g_ascii_isprint (*p))
      g_string_append_c (out, *p);
    else
      g_string_append_printf (out, "\\x%02x", (guchar) *p);
  if (strlen (text) > 64)
    g_string_append (out, "...");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* InvalidArgs, quoting it, unless @owner can be a lease holder. */
static gboolean
check_owner (const char *owner, GError **error)
{
  g_autofree char *text = NULL;

  if (pp_store_owner_is_valid (owner))
    return TRUE;
  text = shown (owner);
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
               "owner \"%s\" is not 1 to %u of A-Z a-z 0-9 . _ : @ / + -", text,
               PP_STORE_MAX_OWNER);
  return FALSE;
}

static void
handle_lease (PpExporter *self,
              GDBusMethodInvocation *invocation,
              PpDevice *device,
              gboolean reserve,
              GVariant *parameters)
{
  g_autoptr (LeaseCall) call = g_new0 (LeaseCall, 1);
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GHashTable) details = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  g_autofree char *what = NULL;
  const char *address = pp_device_get_address (device);
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  const char *holder = pp_leases_get_owner (self->leases, address);
  const char *action;

  call->exporter = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  call->address = g_strdup (address);
  call->reserve = reserve;

  options = g_variant_get_child_value (parameters, reserve ? 1 : 0);
  values = pp_options_parse (
      options, reserve ? reserve_options : release_options, &error);
  if (values == NULL)
    goto fail;

  if (reserve)
    {
      g_variant_get_child (parameters, 0, "s", &call->owner);
      if (!check_owner (call->owner, &error))
        goto fail;
      if (pp_options_get_bool (values, "tied_to_caller", FALSE))
        call->tie = g_strdup (sender);
      if (holder != NULL && !g_str_equal (holder, call->owner))
        {
          g_set_error (&error, PP_ERROR, PP_ERROR_RESERVED,
                       "%s is leased to %s", address, holder);
          goto fail;
        }
      /* Nothing to change: nothing to authorize. */
      if (holder != NULL
          && g_strcmp0 (pp_leases_get_tie (self->leases, address), call->tie)
                 == 0)
        {
          g_dbus_method_invocation_return_value (invocation, NULL);
          return;
        }
      action = PP_ACTION_RESERVE;
      what = g_strdup_printf ("reserve %s for %s", address, call->owner);
    }
  else
    {
      const char *claimed = pp_options_get_string (values, "owner");

      if (holder == NULL)
        {
          g_dbus_method_invocation_return_value (invocation, NULL);
          return;
        }
      if (claimed != NULL && !g_str_equal (claimed, holder))
        {
          g_set_error (&error, PP_ERROR, PP_ERROR_RESERVED,
                       "%s is leased to %s, not to the owner given", address,
                       holder);
          goto fail;
        }
      call->owner = g_strdup (holder);
      /* Ending someone else's lease is managing the service. */
      action = claimed != NULL ? PP_ACTION_RESERVE : PP_ACTION_MANAGE;
      what
          = g_strdup_printf ("end the lease of %s held by %s", address, holder);
    }

  add_device_details (details, device);
  g_hash_table_insert (details, "owner", call->owner);
  g_hash_table_insert (details, "what", what);
  pp_auth_check_async (self->auth, sender, allows_interaction (invocation),
                       action, details, on_lease_authorized,
                       g_steal_pointer (&call));
  return;

fail:
  g_dbus_method_invocation_return_gerror (invocation, error);
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
  g_autoptr (GVariant) options = NULL;
  const char *address = pp_device_get_address (device);

  if (g_str_equal (method, "Reserve") || g_str_equal (method, "Release"))
    {
      handle_lease (self, invocation, device, g_str_equal (method, "Reserve"),
                    parameters);
      return;
    }
  options = g_variant_get_child_value (parameters, 0);
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

/* One Allocate call, through its two authorizations. */
typedef struct
{
  PpExporter *exporter;
  GDBusMethodInvocation *invocation;
  char *resource;
  guint count;
  char *owner;
  int numa_node;
  GHashTable *details;
} AllocateCall;

static void
allocate_call_free (AllocateCall *call)
{
  g_object_unref (call->exporter);
  g_object_unref (call->invocation);
  g_free (call->resource);
  g_free (call->owner);
  g_hash_table_unref (call->details);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AllocateCall, allocate_call_free)

static void
on_allocated (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (AllocateCall) call = user_data;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) addresses = NULL;
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

  addresses = pp_allocator_run_finish (PP_ALLOCATOR (source), result, &error);
  if (addresses == NULL)
    {
      g_message ("Allocate of %u %s for %s failed: %s", call->count,
                 call->resource, call->owner, error->message);
      g_dbus_method_invocation_return_gerror (call->invocation, error);
      return;
    }
  for (char **a = addresses; *a != NULL; a++)
    g_ptr_array_add (paths, pp_address_to_object_path (*a));
  g_ptr_array_add (paths, NULL);
  g_message ("Allocate of %u %s for %s: done", call->count, call->resource,
             call->owner);
  pp_dbus_manager_complete_allocate (call->exporter->manager, call->invocation,
                                     (const char *const *) paths->pdata);
}

static void
on_allocate_bind_authorized (GObject *source,
                             GAsyncResult *result,
                             gpointer user_data)
{
  g_autoptr (AllocateCall) call = user_data;
  PpExporter *self = call->exporter;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) devices = NULL;
  const char *owner;

  if (!pp_auth_check_finish (PP_AUTH (source), result, &error))
    {
      g_dbus_method_invocation_return_gerror (call->invocation, error);
      return;
    }
  /* Chosen and leased in this one turn of the main loop: a rival that
   * was authorized first has its devices already, this one gets
   * others or Reserved. */
  devices = pp_allocator_pick (self->allocator, call->resource, call->count,
                               call->numa_node, call->owner, &error);
  if (devices == NULL)
    {
      g_dbus_method_invocation_return_gerror (call->invocation, error);
      return;
    }
  /* Arguments are evaluated in any order: not through @call. */
  owner = call->owner;
  pp_allocator_run_async (self->allocator, devices, owner, on_allocated,
                          g_steal_pointer (&call));
}

static void
on_allocate_reserve_authorized (GObject *source,
                                GAsyncResult *result,
                                gpointer user_data)
{
  g_autoptr (AllocateCall) call = user_data;
  PpExporter *self = call->exporter;
  g_autoptr (GError) error = NULL;
  GDBusMethodInvocation *invocation = call->invocation;
  /* Arguments are evaluated in any order: not through @call. */
  GHashTable *details = call->details;

  if (!pp_auth_check_finish (PP_AUTH (source), result, &error))
    {
      g_dbus_method_invocation_return_gerror (invocation, error);
      return;
    }
  pp_auth_check_async (self->auth,
                       g_dbus_method_invocation_get_sender (invocation),
                       allows_interaction (invocation), PP_ACTION_BIND, details,
                       on_allocate_bind_authorized, g_steal_pointer (&call));
}

static gboolean
on_handle_allocate (PpDbusManager *iface,
                    GDBusMethodInvocation *invocation,
                    const char *resource,
                    guint count,
                    const char *owner,
                    GVariant *options,
                    gpointer user_data)
{
  PpExporter *self = user_data;
  g_autoptr (AllocateCall) call = g_new0 (AllocateCall, 1);
  g_autoptr (GHashTable) values = NULL;
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (GError) error = NULL;
  GHashTable *details;

  call->exporter = g_object_ref (self);
  call->invocation = g_object_ref (invocation);
  call->resource = g_strdup (resource);
  call->count = count;
  call->owner = g_strdup (owner);
  call->details = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);

  values = pp_options_parse (options, allocate_options, &error);
  if (values == NULL)
    goto fail;
  call->numa_node = pp_options_get_int (values, "numa_node", -1);
  if (*resource == '\0')
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "resource is empty");
      goto fail;
    }
  if (count == 0 || count > PP_ALLOCATOR_MAX_COUNT)
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "count is %u, not 1 to %u", count, PP_ALLOCATOR_MAX_COUNT);
      goto fail;
    }
  if (!check_owner (owner, &error))
    goto fail;
  if (call->numa_node < -1)
    {
      g_set_error (&error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
                   "numa_node is %d, not a node number", call->numa_node);
      goto fail;
    }

  /* What cannot succeed now is said before anyone is asked for a
   * password. */
  devices = pp_allocator_pick (self->allocator, resource, count,
                               call->numa_node, owner, &error);
  if (devices == NULL)
    goto fail;

  g_hash_table_insert (call->details, "device", g_strdup ("any free"));
  g_hash_table_insert (call->details, "vendor", g_strdup (""));
  g_hash_table_insert (call->details, "name",
                       g_strdup_printf ("%u × %s", count, resource));
  g_hash_table_insert (call->details, "owner", g_strdup (owner));
  details = call->details;
  pp_auth_check_async (
      self->auth, g_dbus_method_invocation_get_sender (invocation),
      allows_interaction (invocation), PP_ACTION_RESERVE, details,
      on_allocate_reserve_authorized, g_steal_pointer (&call));
  return TRUE;

fail:
  g_dbus_method_invocation_return_gerror (invocation, error);
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
publish_leases (PpExporter *self)
{
  g_autoptr (GHashTable) all = pp_leases_get_all (self->leases);
  g_autoptr (GList) addresses = g_hash_table_get_keys (all);
  GVariantBuilder builder;

  addresses = g_list_sort (addresses, (GCompareFunc) pp_address_str_compare);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  for (GList *l = addresses; l != NULL; l = l->next)
    g_variant_builder_add (&builder, "{ss}", l->data,
                           g_hash_table_lookup (all, l->data));
  pp_dbus_manager_set_leases (self->manager, g_variant_builder_end (&builder));
}

static void
on_leases_changed (PpLeases *leases, gpointer user_data)
{
  publish_leases (user_data);
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
  g_signal_connect (iface, "handle-allocate", G_CALLBACK (on_handle_allocate),
                    self);
  g_signal_connect (iface, "handle-reload-catalog",
                    G_CALLBACK (on_handle_reload_catalog), self);
  pp_dbus_manager_set_catalog_error (
      iface, pp_registry_get_catalog_error (self->registry));
  publish_resources (self);
  publish_leases (self);
  g_signal_connect_object (self->leases, "changed",
                           G_CALLBACK (on_leases_changed), self, 0);
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
  g_clear_object (&self->leases);
  g_clear_object (&self->allocator);
  g_clear_object (&self->auth);
  g_clear_pointer (&self->tie_watches, g_hash_table_unref);
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
unwatch (gpointer id)
{
  g_bus_unwatch_name (GPOINTER_TO_UINT (id));
}

static void
pp_exporter_init (PpExporter *self)
{
  self->tie_watches
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, unwatch);
}

PpExporter *
pp_exporter_new (PpRegistry *registry,
                 PpBinder *binder,
                 PpLeases *leases,
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
  self->leases = g_object_ref (leases);
  self->allocator = pp_allocator_new (registry, binder, leases);
  self->auth = pp_auth_new ();
  return self;
}
