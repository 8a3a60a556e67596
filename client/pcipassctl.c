/* pcipassctl: the command-line client of pcipassd.
 *
 * list, show and groups read the device objects pcipassd publishes on the
 * system bus and print them as an aligned table or, with --json, as the
 * JSON described in json-format.md.  bind and unbind call Device.Bind and
 * Device.Unbind: first as a dry run for the plan, then for real.
 *
 * Exit status: 0 on success, 1 when the command failed (daemon not
 * running, unknown device, refused, bus error), 2 on bad usage.  Usage
 * errors travel as G_OPTION_ERROR, whatever detected them.
 */
#include "config.h"

#include "pp-address.h"
#include "pp-device-type.h"
#include "pp-ctl-agent.h"
#include "pp-ctl-inventory.h"
#include "pp-ctl-json.h"
#include "pp-ctl-monitor.h"
#include "pp-ctl-resources.h"
#include "pp-ctl-validate.h"
#include "pp-error.h"
#include "pp-table.h"

#include <gio/gio.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PP_CTL_EXIT_FAILURE 1
#define PP_CTL_EXIT_USAGE 2

/* What the command line asked for, once parsed. */
/* Whether the command was run with --no-ask-password: a refusal's advice
 * must fit what the user did. */
static gboolean ran_without_asking;

typedef struct
{
  gboolean json;
  char *type;               /* list --type */
  gboolean no_group;        /* bind, unbind --no-group */
  gboolean dry_run;         /* bind, unbind --dry-run */
  gboolean force;           /* bind --force */
  gboolean no_ask_password; /* bind, unbind --no-ask-password */
  char *node;               /* validate FILE --node */
  gboolean skip_pcie;       /* validate FILE --skip-pcie-validation */
  char *owner;              /* --owner */
  gboolean persistent;      /* bind --persistent */
  gboolean tied;            /* reserve --tied */
  int count;                /* allocate --count */
  int numa_node;            /* allocate --numa-node */
  const char *argument;     /* the positional argument, or NULL */
} PpCtlOptions;

typedef enum
{
  PP_CTL_OPT_JSON = 1 << 0,       /* takes --json */
  PP_CTL_OPT_TYPE = 1 << 1,       /* takes --type */
  PP_CTL_OPT_MOVE = 1 << 2,       /* --no-group, --dry-run, --no-ask-password */
  PP_CTL_OPT_FORCE = 1 << 3,      /* takes --force */
  PP_CTL_OPT_CONFIG = 1 << 4,     /* --node, --skip-pcie-validation */
  PP_CTL_OPT_ASK = 1 << 5,        /* --no-ask-password */
  PP_CTL_OPT_OWNER = 1 << 6,      /* --owner */
  PP_CTL_OPT_PERSISTENT = 1 << 7, /* bind --persistent */
  PP_CTL_OPT_TIED = 1 << 8,       /* reserve --tied */
  PP_CTL_OPT_ALLOCATE = 1 << 9,   /* --count, --numa-node */
} PpCtlOptionFlags;

typedef struct
{
  const char *name;
  gboolean (*run) (const PpCtlOptions *options, GError **error);
  const char *parameters; /* "ADDR": one required, "[X]": optional */
  PpCtlOptionFlags flags;
  const char *description;
} PpCtlCommand;

static void
pp_ctl_options_clear (PpCtlOptions *options)
{
  g_clear_pointer (&options->type, g_free);
  g_clear_pointer (&options->node, g_free);
  g_clear_pointer (&options->owner, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PpCtlOptions, pp_ctl_options_clear)

static char *
format_id (PpCtlDevice *device)
{
  return g_strdup_printf ("%04x:%04x", pp_ctl_device_get_vendor_id (device),
                          pp_ctl_device_get_device_id (device));
}

static char *
format_number (int value)
{
  return value < 0 ? g_strdup ("-") : g_strdup_printf ("%d", value);
}

static gboolean
cmd_list (const PpCtlOptions *options, GError **error)
{
  /* What matters first, never cut; the name last, cut to fit. */
  static const char *const headers[] = {
    "ADDRESS", "TYPE", "DRIVER", "GROUP", "STATE", "ID",
  };
  g_autoptr (PpCtlInventory) inventory = NULL;
  g_autoptr (GPtrArray) devices = g_ptr_array_new ();
  g_autoptr (GPtrArray) columns = g_ptr_array_new ();
  g_autoptr (PpTable) table = NULL;
  gboolean resources = FALSE;
  gboolean owners = FALSE;
  gboolean persistent = FALSE;

  if (options->type != NULL && !pp_device_type_is_valid (options->type))
    {
      g_autofree char *known = g_strjoinv (", ", (char **) pp_device_types);
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "unknown device type \"%s\" (expected one of: %s)",
                   options->type, known);
      return FALSE;
    }

  inventory = pp_ctl_inventory_load (error);
  if (inventory == NULL)
    return FALSE;

  for (guint i = 0; i < inventory->devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (inventory->devices, i);

      if (options->type == NULL
          || g_strcmp0 (pp_ctl_device_get_type_ (device), options->type) == 0)
        g_ptr_array_add (devices, device);
    }

  if (options->json)
    {
      pp_ctl_json_print_devices (inventory, devices, stdout);
      return TRUE;
    }

  /* The catalog's and the leases' columns only where they say something:
   * a host without them reads as it always did. */
  for (guint i = 0; i < devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (devices, i);

      resources |= *pp_ctl_device_get_resource_name (device) != '\0';
      owners |= *pp_ctl_device_get_owner (device) != '\0';
      persistent |= pp_ctl_device_get_persistent (device);
    }
  for (guint i = 0; i < G_N_ELEMENTS (headers); i++)
    g_ptr_array_add (columns, (gpointer) headers[i]);
  if (resources)
    g_ptr_array_add (columns, "RESOURCE");
  if (owners)
    g_ptr_array_add (columns, "OWNER");
  if (persistent)
    g_ptr_array_add (columns, "PERSISTENT");
  g_ptr_array_add (columns, "NAME");

  table = pp_table_new (columns->len, (const char *const *) columns->pdata);
  pp_table_set_flexible (table, columns->len - 1);
  for (guint i = 0; i < devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (devices, i);
      g_autofree char *id = format_id (device);
      g_autofree char *group
          = format_number (pp_ctl_device_get_iommu_group (device));
      g_autoptr (GPtrArray) row = g_ptr_array_new ();

      g_ptr_array_add (row,
                       (gpointer) pp_ctl_inventory_address (inventory, device));
      g_ptr_array_add (row, (gpointer) pp_ctl_device_get_type_ (device));
      g_ptr_array_add (row, (gpointer) pp_ctl_device_get_driver (device));
      g_ptr_array_add (row, group);
      g_ptr_array_add (row, (gpointer) pp_ctl_device_get_state (device));
      g_ptr_array_add (row, id);
      if (resources)
        g_ptr_array_add (row,
                         (gpointer) pp_ctl_device_get_resource_name (device));
      if (owners)
        g_ptr_array_add (row, (gpointer) pp_ctl_device_get_owner (device));
      if (persistent)
        g_ptr_array_add (row,
                         pp_ctl_device_get_persistent (device) ? "yes" : "");
      g_ptr_array_add (row, (gpointer) pp_ctl_device_name (device));
      pp_table_add_row (table, (const char *const *) row->pdata);
    }
  pp_table_print (table, NULL);
  return TRUE;
}

/* A "Key:  value" line of `show`; an empty value reads "-". */
static void field (PpTable *table, const char *key, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static void
field (PpTable *table, const char *key, const char *format, ...)
{
  g_autofree char *label = g_strconcat (key, ":", NULL);
  g_autofree char *value = NULL;
  const char *row[2];
  va_list args;

  va_start (args, format);
  value = g_strdup_vprintf (format, args);
  va_end (args);
  row[0] = label;
  row[1] = value;
  pp_table_add_row (table, row);
}

/* Object paths as a comma-separated list of addresses; "/" is left out. */
static char *
format_paths (PpCtlInventory *inventory, const char *const *paths)
{
  g_autoptr (GPtrArray) addresses = g_ptr_array_new ();

  for (gsize i = 0; paths != NULL && paths[i] != NULL; i++)
    if (!g_str_equal (paths[i], "/"))
      g_ptr_array_add (addresses, (char *) pp_ctl_inventory_path_address (
                                      inventory, paths[i]));
  g_ptr_array_add (addresses, NULL);
  return g_strjoinv (", ", (char **) addresses->pdata);
}

static void
show_device (PpCtlInventory *inventory, PpCtlDevice *d)
{
  const char *pf[] = { pp_ctl_device_get_physical_function (d), NULL };
  const char *const *resets = pp_ctl_device_get_reset_methods (d);
  g_autofree char *members
      = format_paths (inventory, pp_ctl_device_get_iommu_group_devices (d));
  g_autofree char *physical_function
      = format_paths (inventory, pf[0] != NULL ? pf : NULL);
  g_autofree char *virtual_functions
      = format_paths (inventory, pp_ctl_device_get_virtual_functions (d));
  g_autofree char *reset_methods
      = resets != NULL ? g_strjoinv (", ", (char **) resets) : NULL;
  g_autofree char *group = format_number (pp_ctl_device_get_iommu_group (d));
  g_autofree char *numa = format_number (pp_ctl_device_get_numa_node (d));
  g_autoptr (PpTable) table = pp_table_new (2, NULL);

  pp_table_set_flexible (table, 1);
  /* Every property of io.github.pcipassd1.Device, in the XML's order. */
  field (table, "Address", "%s", pp_ctl_inventory_address (inventory, d));
  field (table, "VendorId", "0x%04x", pp_ctl_device_get_vendor_id (d));
  field (table, "DeviceId", "0x%04x", pp_ctl_device_get_device_id (d));
  field (table, "SubsystemVendorId", "0x%04x",
         pp_ctl_device_get_subsystem_vendor_id (d));
  field (table, "SubsystemDeviceId", "0x%04x",
         pp_ctl_device_get_subsystem_device_id (d));
  field (table, "Revision", "0x%02x", pp_ctl_device_get_revision (d));
  field (table, "ClassCode", "0x%06x",
         pp_ctl_device_get_class_code (d) & 0xffffff);
  field (table, "VendorName", "%s",
         pp_ctl_str (pp_ctl_device_get_vendor_name (d)));
  field (table, "DeviceName", "%s",
         pp_ctl_str (pp_ctl_device_get_device_name (d)));
  field (table, "Type", "%s", pp_ctl_str (pp_ctl_device_get_type_ (d)));
  field (table, "Driver", "%s", pp_ctl_str (pp_ctl_device_get_driver (d)));
  field (table, "DriverOverride", "%s",
         pp_ctl_str (pp_ctl_device_get_driver_override (d)));
  field (table, "OriginalDriver", "%s",
         pp_ctl_str (pp_ctl_device_get_original_driver (d)));
  field (table, "State", "%s", pp_ctl_str (pp_ctl_device_get_state (d)));
  field (table, "IommuGroup", "%s", group);
  field (table, "IommuGroupDevices", "%s", members);
  field (table, "GroupViable", "%s",
         pp_ctl_device_get_group_viable (d) ? "yes" : "no");
  field (table, "NumaNode", "%s", numa);
  field (table, "PhysicalFunction", "%s", physical_function);
  field (table, "VirtualFunctions", "%s", virtual_functions);
  field (table, "BootVga", "%s", pp_ctl_device_get_boot_vga (d) ? "yes" : "no");
  field (table, "ResetMethods", "%s", pp_ctl_str (reset_methods));
  field (table, "ProtectionReason", "%s",
         pp_ctl_str (pp_ctl_device_get_protection_reason (d)));
  field (table, "ResourceName", "%s",
         pp_ctl_str (pp_ctl_device_get_resource_name (d)));
  field (table, "Owner", "%s", pp_ctl_str (pp_ctl_device_get_owner (d)));
  field (table, "Persistent", "%s",
         pp_ctl_device_get_persistent (d) ? "yes" : "no");
  pp_table_print (table, NULL);
}

static gboolean
cmd_show (const PpCtlOptions *options, GError **error)
{
  g_autoptr (PpCtlInventory) inventory = NULL;
  PpCtlDevice *device;

  device = pp_ctl_inventory_load_device (options->argument, &inventory, error);
  if (device == NULL)
    return FALSE;

  if (options->json)
    {
      g_autoptr (JsonNode) root = pp_ctl_json_device (inventory, device);
      pp_ctl_json_print (root);
    }
  else
    {
      show_device (inventory, device);
    }
  return TRUE;
}

static gboolean
cmd_groups (const PpCtlOptions *options, GError **error)
{
  g_autoptr (PpCtlInventory) inventory = NULL;
  g_autoptr (GPtrArray) groups = NULL;
  g_autoptr (PpTable) table = NULL;

  inventory = pp_ctl_inventory_load (error);
  if (inventory == NULL)
    return FALSE;
  groups = pp_ctl_inventory_groups (inventory);

  if (options->json)
    {
      g_autoptr (JsonNode) root = pp_ctl_json_groups (inventory, groups);
      pp_ctl_json_print (root);
      return TRUE;
    }

  /* One table for all members, so that columns line up across groups. */
  table = pp_table_new (5, NULL);
  pp_table_set_flexible (table, 4);
  for (guint i = 0; i < groups->len; i++)
    {
      PpCtlGroup *group = g_ptr_array_index (groups, i);
      g_autofree char *heading = NULL;

      if (group->number < 0)
        heading = g_strdup ("No IOMMU group");
      else
        heading = g_strdup_printf ("Group %d (%s)", group->number,
                                   group->viable ? "viable" : "not viable");
      pp_table_add_line (table, heading);
      {
        /* Why not, and what would do. */
        g_autoptr (GPtrArray) blocking = pp_ctl_group_blocking (group);
        g_autofree char *remedy
            = pp_ctl_group_remedy (inventory, group, blocking);

        if (blocking->len > 0)
          {
            g_autoptr (GString) held = g_string_new ("  held by the host:");

            for (guint j = 0; j < blocking->len; j++)
              g_string_append_printf (
                  held, "%s %s (%s)", j > 0 ? "," : "",
                  pp_ctl_inventory_address (inventory,
                                            g_ptr_array_index (blocking, j)),
                  pp_ctl_device_get_driver (g_ptr_array_index (blocking, j)));
            pp_table_add_line (table, held->str);
          }
        if (remedy != NULL)
          {
            g_autofree char *line = g_strdup_printf ("  remedy: %s", remedy);

            pp_table_add_line (table, line);
          }
      }

      for (guint j = 0; j < group->devices->len; j++)
        {
          PpCtlDevice *device = g_ptr_array_index (group->devices, j);
          g_autofree char *id = format_id (device);
          const char *row[] = {
            pp_ctl_inventory_address (inventory, device),
            pp_ctl_device_get_type_ (device),
            id,
            pp_ctl_device_get_driver (device),
            pp_ctl_device_name (device),
          };

          pp_table_add_row (table, row);
        }
    }
  pp_table_print (table, "  ");
  return TRUE;
}

/* A driver name of a step; "" is an unbound device. */
static const char *
format_driver (const char *driver)
{
  return *driver != '\0' ? driver : "(none)";
}

/* Calls Device.@method ("Bind" or "Unbind") with the options of the
 * command line, and returns its a(sss) steps. */
static GVariant *
call_move (PpCtlDevice *device,
           const char *method,
           const PpCtlOptions *options,
           gboolean dry_run,
           GError **error)
{
  g_auto (GVariantBuilder) builder
      = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr (GVariant) reply = NULL;
  GDBusCallFlags flags = G_DBUS_CALL_FLAGS_NONE;
  GVariant *steps = NULL;

  /* Only what differs from the daemon's defaults. */
  if (options->no_group)
    g_variant_builder_add (&builder, "{sv}", "group",
                           g_variant_new_boolean (FALSE));
  if (options->force)
    g_variant_builder_add (&builder, "{sv}", "force",
                           g_variant_new_boolean (TRUE));
  if (dry_run)
    g_variant_builder_add (&builder, "{sv}", "dry_run",
                           g_variant_new_boolean (TRUE));
  if (options->owner != NULL)
    g_variant_builder_add (&builder, "{sv}", "owner",
                           g_variant_new_string (options->owner));
  if (options->persistent)
    g_variant_builder_add (&builder, "{sv}", "persistent",
                           g_variant_new_boolean (TRUE));

  /* Without the flag polkit may not ask for a password: a call that
   * needs one fails with NotAuthorized. */
  if (!options->no_ask_password)
    flags |= G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION;

  /* A password prompt takes as long as the user does: no timeout for the
   * real call.  A dry run asks nobody. */
  reply = pp_ctl_device_call (
      device, method,
      g_variant_new ("(@a{sv})", g_variant_builder_end (&builder)), flags,
      dry_run ? -1 : G_MAXINT, NULL, error);
  if (reply == NULL)
    return NULL;

  if (!g_variant_is_of_type (reply, G_VARIANT_TYPE ("(a(sss))")))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "pcipassd answered %s with %s instead of (a(sss))", method,
                   g_variant_get_type_string (reply));
      return NULL;
    }
  g_variant_get (reply, "(@a(sss))", &steps);
  return steps;
}

/* "Plan:" and a line per step, or why there is nothing to do. */
static void
print_plan (GVariant *plan, const char *nothing)
{
  g_autoptr (PpTable) table = pp_table_new (2, NULL);
  GVariantIter iter;
  const char *address;
  const char *from;
  const char *to;

  g_print ("Plan:\n");
  if (g_variant_n_children (plan) == 0)
    {
      g_print ("  (nothing to do: %s)\n", nothing);
      return;
    }

  g_variant_iter_init (&iter, plan);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &address, &from, &to))
    {
      g_autofree char *move = g_strdup_printf ("%s -> %s", format_driver (from),
                                               format_driver (to));
      const char *row[] = { address, move };

      pp_table_add_row (table, row);
    }
  pp_table_print (table, "  ");
}

static void
print_steps (GVariant *steps)
{
  GVariantIter iter;
  const char *address;
  const char *from;
  const char *to;

  g_variant_iter_init (&iter, steps);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &address, &from, &to))
    g_print ("moved %s: %s -> %s\n", address, format_driver (from),
             format_driver (to));
}

/* After a Bind of @device that made @steps: the members of its group that
 * blocked it (as the inventory, read before, had them) and were not moved,
 * which keep the group from a VM.  Empty unless the group was split
 * (--no-group). */
static GPtrArray *
members_left_behind (PpCtlInventory *inventory,
                     PpCtlDevice *device,
                     GVariant *steps)
{
  GPtrArray *left = g_ptr_array_new ();
  g_autoptr (GPtrArray) groups = pp_ctl_inventory_groups (inventory);
  int number = pp_ctl_device_get_iommu_group (device);

  if (number < 0)
    return left;
  for (guint i = 0; i < groups->len; i++)
    {
      PpCtlGroup *group = g_ptr_array_index (groups, i);

      g_autoptr (GPtrArray) blocking = NULL;

      if (group->number != number)
        continue;
      blocking = pp_ctl_group_blocking (group);
      for (guint j = 0; j < blocking->len; j++)
        {
          PpCtlDevice *member = g_ptr_array_index (blocking, j);
          const char *address = pp_ctl_inventory_address (inventory, member);
          gboolean moved = member == device;
          GVariantIter iter;
          const char *step;

          g_variant_iter_init (&iter, steps);
          while (!moved
                 && g_variant_iter_next (&iter, "(&s&s&s)", &step, NULL, NULL))
            moved = g_str_equal (step, address);
          if (!moved)
            g_ptr_array_add (left, member);
        }
    }
  return left;
}

static void
warn_left_behind (PpCtlInventory *inventory,
                  PpCtlDevice *device,
                  GPtrArray *left_behind)
{
  if (left_behind == NULL || left_behind->len == 0)
    return;
  g_printerr ("pcipassctl: warning: IOMMU group %d is split, so no VM can use "
              "it:\n",
              pp_ctl_device_get_iommu_group (device));
  for (guint i = 0; i < left_behind->len; i++)
    g_printerr ("  %s stays on %s\n",
                pp_ctl_inventory_address (inventory,
                                          g_ptr_array_index (left_behind, i)),
                pp_ctl_device_get_driver (g_ptr_array_index (left_behind, i)));
  g_printerr ("pcipassctl: bind without --no-group to move the whole group.\n");
}

/* bind and unbind: the plan from a dry run, then, unless --dry-run, the
 * real call.  The dry run reports most refusals (protected device, no
 * IOMMU group, ...) before anybody is asked for a password, and shows the
 * user what the password is for. */
static gboolean
move_device (const PpCtlOptions *options,
             const char *method,
             const char *nothing,
             GError **error)
{
  g_autoptr (PpCtlInventory) inventory = NULL;
  g_autoptr (PpCtlAgent) agent = NULL;
  g_autoptr (GVariant) plan = NULL;
  g_autoptr (GVariant) steps = NULL;
  g_autoptr (GPtrArray) left_behind = NULL;
  PpCtlDevice *device;

  device = pp_ctl_inventory_load_device (options->argument, &inventory, error);
  if (device == NULL)
    return FALSE;

  plan = call_move (device, method, options, TRUE, error);
  if (plan == NULL)
    return FALSE;

  if (options->dry_run)
    {
      if (options->json)
        {
          g_autoptr (JsonNode) root
              = pp_ctl_json_steps ("plan", plan, inventory, NULL);
          pp_ctl_json_print (root);
        }
      else
        {
          print_plan (plan, nothing);
        }
      return TRUE;
    }

  if (!options->json)
    print_plan (plan, nothing);

  /* Nothing to move: no password for nothing (but a persistence to
   * record is something). */
  if (g_variant_n_children (plan) == 0 && !options->persistent)
    {
      steps = g_variant_ref (plan);
    }
  else
    {
      /* The plan must be out before a password prompt on the terminal. */
      fflush (stdout);
      if (!options->no_ask_password && isatty (STDIN_FILENO))
        agent = pp_ctl_agent_register ();

      steps = call_move (device, method, options, FALSE, error);
      g_clear_pointer (&agent, pp_ctl_agent_free);
      if (steps == NULL)
        return FALSE;
    }

  if (g_str_equal (method, "Bind"))
    left_behind = members_left_behind (inventory, device, steps);
  if (options->json)
    {
      g_autoptr (JsonNode) root
          = pp_ctl_json_steps ("steps", steps, inventory, left_behind);
      pp_ctl_json_print (root);
    }
  else
    {
      print_steps (steps);
    }
  warn_left_behind (inventory, device, left_behind);
  return TRUE;
}

static gboolean
cmd_bind (const PpCtlOptions *options, GError **error)
{
  return move_device (options, "Bind", "already on vfio-pci", error);
}

static gboolean
cmd_unbind (const PpCtlOptions *options, GError **error)
{
  return move_device (options, "Unbind", "not on vfio-pci", error);
}

static gboolean cmd_help (const PpCtlOptions *options, GError **error);

static gboolean
cmd_validate (const PpCtlOptions *options, GError **error)
{
  PpCtlValidateOptions validate = {
    options->argument,
    options->node,
    options->skip_pcie,
    options->json,
  };

  return pp_ctl_validate_run (&validate, error);
}

static gboolean
cmd_monitor (const PpCtlOptions *options, GError **error)
{
  return pp_ctl_monitor_run (options->json, error);
}

static void
resource_options (const PpCtlOptions *options, PpCtlResourceOptions *out)
{
  out->argument = options->argument;
  out->owner = options->owner;
  out->tied = options->tied;
  out->count = options->count;
  out->numa_node = options->numa_node;
  out->json = options->json;
  out->no_ask_password = options->no_ask_password;
}

#define RESOURCE_COMMAND(name, function)                                       \
  static gboolean name (const PpCtlOptions *options, GError **error)           \
  {                                                                            \
    PpCtlResourceOptions o;                                                    \
                                                                               \
    resource_options (options, &o);                                            \
    return function (&o, error);                                               \
  }

RESOURCE_COMMAND (cmd_resources, pp_ctl_resources_run)
RESOURCE_COMMAND (cmd_reserve, pp_ctl_reserve_run)
RESOURCE_COMMAND (cmd_release, pp_ctl_release_run)
RESOURCE_COMMAND (cmd_allocate, pp_ctl_allocate_run)
RESOURCE_COMMAND (cmd_reload, pp_ctl_reload_run)
RESOURCE_COMMAND (cmd_hostdev, pp_ctl_hostdev_run)

static const PpCtlCommand commands[] = {
  { "list", cmd_list, NULL, PP_CTL_OPT_JSON | PP_CTL_OPT_TYPE,
    "List PCI devices, one per line" },
  { "show", cmd_show, "ADDR", PP_CTL_OPT_JSON,
    "Show all properties of one device" },
  { "groups", cmd_groups, NULL, PP_CTL_OPT_JSON,
    "List IOMMU groups with their members and whether they are viable" },
  { "bind", cmd_bind, "ADDR",
    PP_CTL_OPT_MOVE | PP_CTL_OPT_ASK | PP_CTL_OPT_FORCE | PP_CTL_OPT_OWNER
        | PP_CTL_OPT_PERSISTENT | PP_CTL_OPT_JSON,
    "Give a device, with its IOMMU group, to vfio-pci for virtual machines" },
  { "unbind", cmd_unbind, "ADDR",
    PP_CTL_OPT_MOVE | PP_CTL_OPT_ASK | PP_CTL_OPT_OWNER | PP_CTL_OPT_JSON,
    "Give a device, with its IOMMU group, back to its host driver" },
  { "resources", cmd_resources, NULL, PP_CTL_OPT_JSON,
    "List the catalog's resources with their free devices, and the leases" },
  { "reserve", cmd_reserve, "ADDR",
    PP_CTL_OPT_OWNER | PP_CTL_OPT_TIED | PP_CTL_OPT_ASK | PP_CTL_OPT_JSON,
    "Lease a device to an owner (--owner NAME)" },
  { "release", cmd_release, "ADDR",
    PP_CTL_OPT_OWNER | PP_CTL_OPT_ASK | PP_CTL_OPT_JSON,
    "End a device's lease" },
  { "allocate", cmd_allocate, "RESOURCE",
    PP_CTL_OPT_OWNER | PP_CTL_OPT_ALLOCATE | PP_CTL_OPT_ASK | PP_CTL_OPT_JSON,
    "Lease and bind free devices of a resource to an owner" },
  { "hostdev", cmd_hostdev, "[ADDR]", PP_CTL_OPT_OWNER | PP_CTL_OPT_JSON,
    "Print libvirt <hostdev> elements and QEMU arguments for devices" },
  { "reload", cmd_reload, NULL, PP_CTL_OPT_ASK | PP_CTL_OPT_JSON,
    "Make pcipassd read its device catalog again" },
  { "validate", cmd_validate, "[ADDR|FILE]",
    PP_CTL_OPT_JSON | PP_CTL_OPT_CONFIG,
    "Check the host and all devices, one device, or a cluster config file" },
  { "monitor", cmd_monitor, NULL, PP_CTL_OPT_JSON,
    "Print devices added and removed and properties changed, as it happens" },
  { "help", cmd_help, "[COMMAND]", 0,
    "Show help for pcipassctl or for one command" },
};

static const PpCtlCommand *
find_command (const char *name, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (commands[i].name, name))
      return &commands[i];

  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
               "unknown command \"%s\"", name);
  return NULL;
}

/* Parses a command's options and arguments and runs it.  -h/--help is an
 * ordinary option, so that GOption never exits the process on its own. */
static gboolean
run_command (const PpCtlCommand *command, int argc, char **argv, GError **error)
{
  g_auto (PpCtlOptions) options = { 0 };
  gboolean help = FALSE;
  const GOptionEntry json_entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &options.json,
      "Print JSON (see " PP_JSON_FORMAT_DOC ")", NULL },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry type_entries[] = {
    { "type", 't', 0, G_OPTION_ARG_STRING, &options.type,
      "Only devices of TYPE: gpu, network, storage, audio, usb, bridge or "
      "other",
      "TYPE" },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry move_entries[] = {
    { "no-group", 0, 0, G_OPTION_ARG_NONE, &options.no_group,
      "Move only this device, not the rest of its IOMMU group", NULL },
    { "dry-run", 0, 0, G_OPTION_ARG_NONE, &options.dry_run,
      "Print the plan and change nothing", NULL },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry ask_entries[] = {
    { "no-ask-password", 0, 0, G_OPTION_ARG_NONE, &options.no_ask_password,
      "Never ask for a password: fail when authorization needs one", NULL },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry owner_entries[] = {
    { "owner", 0, 0, G_OPTION_ARG_STRING, &options.owner,
      "The lease holder: who the devices are for (a VM's name)", "NAME" },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry persistent_entries[] = {
    { "persistent", 0, 0, G_OPTION_ARG_NONE, &options.persistent,
      "Bind it again after a daemon restart, a reboot or a hotplug", NULL },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry tied_entries[] = {
    { "tied", 0, 0, G_OPTION_ARG_NONE, &options.tied,
      "Hold the lease only while this command runs", NULL },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry allocate_entries[] = {
    { "count", 'n', 0, G_OPTION_ARG_INT, &options.count, "How many devices (1)",
      "N" },
    { "numa-node", 0, 0, G_OPTION_ARG_INT, &options.numa_node,
      "Only devices on this NUMA node", "NODE" },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry force_entries[] = {
    { "force", 0, 0, G_OPTION_ARG_NONE, &options.force,
      "Move a protected device too (asks for an administrator's password)",
      NULL },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry config_entries[] = {
    { "node", 0, 0, G_OPTION_ARG_STRING, &options.node,
      "Check only this compute node of FILE", "NAME" },
    { "skip-pcie-validation", 0, 0, G_OPTION_ARG_NONE, &options.skip_pcie,
      "Check FILE's schema only, not against this host", NULL },
    G_OPTION_ENTRY_NULL,
  };
  const GOptionEntry help_entries[] = {
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show this help", NULL },
    G_OPTION_ENTRY_NULL,
  };
  g_autofree char *prgname = g_strdup_printf ("pcipassctl %s", command->name);
  g_autoptr (GOptionContext) context = NULL;
  const char *parameters = command->parameters;
  int wanted = parameters == NULL ? 0 : 1;

  options.count = 1;
  options.numa_node = -1;

  /* So that the usage line reads "pcipassctl show [OPTION…] ADDR". */
  g_set_prgname (prgname);
  context = g_option_context_new (parameters);
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_set_summary (context, command->description);
  if (command->flags & PP_CTL_OPT_TYPE)
    g_option_context_add_main_entries (context, type_entries, NULL);
  if (command->flags & PP_CTL_OPT_MOVE)
    g_option_context_add_main_entries (context, move_entries, NULL);
  if (command->flags & PP_CTL_OPT_OWNER)
    g_option_context_add_main_entries (context, owner_entries, NULL);
  if (command->flags & PP_CTL_OPT_PERSISTENT)
    g_option_context_add_main_entries (context, persistent_entries, NULL);
  if (command->flags & PP_CTL_OPT_TIED)
    g_option_context_add_main_entries (context, tied_entries, NULL);
  if (command->flags & PP_CTL_OPT_ALLOCATE)
    g_option_context_add_main_entries (context, allocate_entries, NULL);
  if (command->flags & PP_CTL_OPT_ASK)
    g_option_context_add_main_entries (context, ask_entries, NULL);
  if (command->flags & PP_CTL_OPT_FORCE)
    g_option_context_add_main_entries (context, force_entries, NULL);
  if (command->flags & PP_CTL_OPT_CONFIG)
    g_option_context_add_main_entries (context, config_entries, NULL);
  if (command->flags & PP_CTL_OPT_JSON)
    g_option_context_add_main_entries (context, json_entries, NULL);
  g_option_context_add_main_entries (context, help_entries, NULL);

  if (!g_option_context_parse (context, &argc, &argv, error))
    return FALSE;
  ran_without_asking = options.no_ask_password;

  if (help)
    {
      g_autofree char *text = g_option_context_get_help (context, TRUE, NULL);
      g_print ("%s", text);
      return TRUE;
    }

  if (argc - 1 > wanted)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "unexpected argument \"%s\"", argv[wanted + 1]);
      return FALSE;
    }
  if (argc - 1 < wanted && parameters[0] != '[')
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "missing argument %s", parameters);
      return FALSE;
    }
  options.argument = argc > 1 ? argv[1] : NULL;
  return command->run (&options, error);
}

static GOptionContext *
main_context (gboolean *help, gboolean *version)
{
  const GOptionEntry entries[] = {
    { "help", 'h', 0, G_OPTION_ARG_NONE, help, "Show this help", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, version, "Print the version", NULL },
    G_OPTION_ENTRY_NULL,
  };
  GOptionContext *context = g_option_context_new ("COMMAND [ARGUMENT…]");

  g_option_context_set_help_enabled (context, FALSE);
  /* Stop at the command: the options after it are the command's. */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_set_summary (
      context, "Inspect the PCI devices that pcipassd publishes, and give "
               "them to virtual machines.");
  g_option_context_add_main_entries (context, entries, NULL);
  return context;
}

/* "pcipassctl --json list" means "pcipassctl list --json": when the
 * command comes after options that are not pcipassctl's own (-h, --help,
 * --version), it is moved in front of them, so that they go to it.  A
 * word is the command only if it names one: "--type gpu list" finds
 * "list", not "gpu". */
static void
command_first (int argc, char **argv)
{
  gboolean foreign = FALSE;
  int i;

  for (i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--"))
        return;
      if (argv[i][0] != '-')
        {
          if (find_command (argv[i], NULL) != NULL)
            break;
          continue;
        }
      if (!g_str_equal (argv[i], "-h") && !g_str_equal (argv[i], "--help")
          && !g_str_equal (argv[i], "--version"))
        foreign = TRUE;
    }
  if (i == argc || !foreign)
    return;
  {
    char *command = argv[i];

    memmove (argv + 2, argv + 1, (i - 1) * sizeof *argv);
    argv[1] = command;
  }
}

static void
print_main_help (void)
{
  gboolean unused = FALSE;
  g_autoptr (GOptionContext) context = main_context (&unused, &unused);
  g_autoptr (PpTable) table = pp_table_new (2, NULL);
  g_autofree char *help = NULL;
  g_autofree char *list = NULL;

  g_set_prgname ("pcipassctl");
  help = g_option_context_get_help (context, TRUE, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      const char *row[] = { commands[i].name, commands[i].description };
      pp_table_add_row (table, row);
    }
  list = pp_table_render (table, "  ");
  g_print ("%sCommands:\n%s\n"
           "Run \"pcipassctl COMMAND --help\" for the options of COMMAND.\n",
           help, list);
}

#define GROUP_ADVICE                                                           \
  "join the group " PP_PRIVILEGED_GROUP ", which the example polkit rules\n"   \
  "(" PP_RULES_EXAMPLE ") let bind, unbind\n"                                  \
  "and reserve without a password."

/* Advice after the error message, or NULL: what the message does not
 * say already, for what the user just did. */
static const char *
error_hint (const GError *error)
{
  if (g_error_matches (error, PP_ERROR, PP_ERROR_PROTECTED))
    return "pcipassctl: the force option is --force, and it asks for an "
           "administrator's password every time.";
  if (!g_error_matches (error, PP_ERROR, PP_ERROR_NOT_AUTHORIZED))
    return NULL;
  if (ran_without_asking)
    return "pcipassctl: without --no-ask-password polkit may ask for an "
           "administrator's password;\nor " GROUP_ADVICE;
  if (!isatty (STDIN_FILENO))
    return "pcipassctl: on a terminal, or with an authentication agent such "
           "as pkttyagent running,\npolkit may ask for an administrator's "
           "password; or " GROUP_ADVICE;
  /* Asked, and refused all the same. */
  return "pcipassctl: to be allowed without an administrator, " GROUP_ADVICE;
}

static gboolean
cmd_help (const PpCtlOptions *options, GError **error)
{
  const PpCtlCommand *topic;
  char *help_argv[] = { NULL, (char *) "--help", NULL };

  if (options->argument == NULL)
    {
      print_main_help ();
      return TRUE;
    }

  topic = find_command (options->argument, error);
  if (topic == NULL)
    return FALSE;
  help_argv[0] = (char *) topic->name;
  return run_command (topic, 2, help_argv, error);
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  const PpCtlCommand *command;
  gboolean help = FALSE;
  gboolean version = FALSE;

  setlocale (LC_ALL, "");
  g_set_prgname ("pcipassctl");
  /* Registers the io.github.pcipassd.Error names, so that the daemon's
   * errors arrive as PP_ERROR codes. */
  (void) pp_error_quark ();

  command_first (argc, argv);
  context = main_context (&help, &version);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    goto out;

  if (version)
    {
      g_print ("pcipassctl %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  if (help)
    {
      print_main_help ();
      return EXIT_SUCCESS;
    }
  if (argc < 2)
    {
      g_set_error_literal (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "missing command");
      goto out;
    }

  command = find_command (argv[1], &error);
  if (command != NULL && run_command (command, argc - 1, argv + 1, &error)
      && (fflush (stdout) != 0 || ferror (stdout)))
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                         "cannot write the output");

out:
  if (error == NULL)
    return EXIT_SUCCESS;

  /* validate's table already said how many checks failed. */
  if (g_error_matches (error, PP_CTL_VALIDATE_ERROR,
                       PP_CTL_VALIDATE_ERROR_REPORTED))
    return PP_CTL_EXIT_FAILURE;
  g_dbus_error_strip_remote_error (error);
  g_printerr ("pcipassctl: error: %s\n", error->message);
  if (error_hint (error) != NULL)
    g_printerr ("%s\n", error_hint (error));
  if (error->domain == G_OPTION_ERROR)
    {
      /* An unknown command is the main help's business, whatever command
       * (help) found it. */
      g_printerr ("Run \"%s --help\" for usage.\n",
                  g_str_has_prefix (error->message, "unknown command")
                      ? "pcipassctl"
                      : g_get_prgname ());
      return PP_CTL_EXIT_USAGE;
    }
  return PP_CTL_EXIT_FAILURE;
}
