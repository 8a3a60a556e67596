#include "config.h"

#include "pp-ctl-resources.h"

#include "pp-address.h"
#include "pp-ctl-agent.h"
#include "pp-ctl-inventory.h"
#include "pp-ctl-json.h"
#include "pp-table.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <unistd.h>

#define MANAGER_PATH PP_OBJECT_ROOT "/manager"
#define MANAGER_IFACE "io.github.pcipassd1.Manager"

static void
print_json (JsonBuilder *builder)
{
  g_autoptr (JsonNode) root = json_builder_get_root (builder);

  pp_ctl_json_print (root);
}

static GDBusConnection *
system_bus (GError **error)
{
  g_autoptr (GError) local = NULL;
  GDBusConnection *bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local);

  if (bus == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                 "cannot connect to the system bus: %s", local->message);
  return bus;
}

/* A call that may need a password: the flag and no timeout, unless the
 * user said not to ask.  A text agent answers on a terminal. */
static GVariant *
call_authorized (GDBusConnection *bus,
                 const char *path,
                 const char *interface,
                 const char *method,
                 GVariant *parameters,
                 const GVariantType *reply_type,
                 gboolean no_ask_password,
                 GError **error)
{
  g_autoptr (PpCtlAgent) agent = NULL;
  GVariant *reply;

  fflush (stdout);
  if (!no_ask_password && isatty (STDIN_FILENO))
    agent = pp_ctl_agent_register ();
  reply = g_dbus_connection_call_sync (
      bus, PP_BUS_NAME, path, interface, method, parameters, reply_type,
      no_ask_password ? G_DBUS_CALL_FLAGS_NONE
                      : G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
      no_ask_password ? -1 : G_MAXINT, NULL, error);
  pp_ctl_gdbus_not_running (error);
  return reply;
}

/* The manager's properties, a{sv}. */
static GVariant *
manager_properties (GDBusConnection *bus, GError **error)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      bus, PP_BUS_NAME, MANAGER_PATH, "org.freedesktop.DBus.Properties",
      "GetAll", g_variant_new ("(s)", MANAGER_IFACE),
      G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);

  pp_ctl_gdbus_not_running (error);
  if (reply == NULL)
    return NULL;
  return g_variant_get_child_value (reply, 0);
}

static gboolean
require_owner (const PpCtlResourceOptions *options, GError **error)
{
  if (options->owner != NULL)
    return TRUE;
  g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                       "--owner NAME is required");
  return FALSE;
}

/* ---- resources ---- */

gboolean
pp_ctl_resources_run (const PpCtlResourceOptions *options, GError **error)
{
  g_autoptr (GDBusConnection) bus = system_bus (error);
  g_autoptr (GVariant) properties = NULL;
  g_autoptr (GVariant) resources = NULL;
  g_autoptr (GVariant) leases = NULL;
  g_autoptr (PpCtlInventory) inventory = NULL;
  const char *catalog_error = "";
  GVariantIter iter;
  const char *name;
  const char *address;
  const char *owner;
  guint total;
  guint free;

  if (bus == NULL)
    return FALSE;
  properties = manager_properties (bus, error);
  if (properties == NULL)
    return FALSE;
  resources = g_variant_lookup_value (properties, "Resources",
                                      G_VARIANT_TYPE ("a{s(uu)}"));
  leases
      = g_variant_lookup_value (properties, "Leases", G_VARIANT_TYPE ("a{ss}"));
  g_variant_lookup (properties, "CatalogError", "&s", &catalog_error);
  if (resources == NULL || leases == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "this pcipassd has no Resources or Leases: it is "
                           "older than pcipassctl");
      return FALSE;
    }
  /* Which leased devices are here. */
  inventory = pp_ctl_inventory_load (error);
  if (inventory == NULL)
    return FALSE;

  if (options->json)
    {
      g_autoptr (JsonBuilder) builder = json_builder_new ();

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "resources");
      json_builder_begin_array (builder);
      g_variant_iter_init (&iter, resources);
      while (g_variant_iter_next (&iter, "{&s(uu)}", &name, &total, &free))
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "name");
          json_builder_add_string_value (builder, name);
          json_builder_set_member_name (builder, "total");
          json_builder_add_int_value (builder, total);
          json_builder_set_member_name (builder, "free");
          json_builder_add_int_value (builder, free);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "leases");
      json_builder_begin_array (builder);
      g_variant_iter_init (&iter, leases);
      while (g_variant_iter_next (&iter, "{&s&s}", &address, &owner))
        {
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "address");
          json_builder_add_string_value (builder, address);
          json_builder_set_member_name (builder, "owner");
          json_builder_add_string_value (builder, owner);
          json_builder_set_member_name (builder, "present");
          json_builder_add_boolean_value (
              builder, pp_ctl_inventory_lookup (inventory, address) != NULL);
          json_builder_end_object (builder);
        }
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "catalog_error");
      if (*catalog_error != '\0')
        json_builder_add_string_value (builder, catalog_error);
      else
        json_builder_add_null_value (builder);
      json_builder_end_object (builder);
      print_json (builder);
      return TRUE;
    }

  if (*catalog_error != '\0')
    g_print ("Catalog error (the previous catalog is in force):\n  %s\n\n",
             catalog_error);
  if (g_variant_n_children (resources) == 0)
    g_print ("No resources: the device catalog names none of the devices "
             "present.\n");
  else
    {
      static const char *const headers[] = { "RESOURCE", "TOTAL", "FREE" };
      g_autoptr (PpTable) table = pp_table_new (3, headers);

      g_variant_iter_init (&iter, resources);
      while (g_variant_iter_next (&iter, "{&s(uu)}", &name, &total, &free))
        {
          g_autofree char *t = g_strdup_printf ("%u", total);
          g_autofree char *f = g_strdup_printf ("%u", free);
          const char *row[] = { name, t, f };

          pp_table_add_row (table, row);
        }
      pp_table_print (table, NULL);
    }
  if (g_variant_n_children (leases) > 0)
    {
      g_autoptr (PpTable) table = pp_table_new (2, NULL);

      g_print ("\nLeases:\n");
      g_variant_iter_init (&iter, leases);
      while (g_variant_iter_next (&iter, "{&s&s}", &address, &owner))
        {
          g_autofree char *holder
              = pp_ctl_inventory_lookup (inventory, address) != NULL
                    ? g_strdup (owner)
                    : g_strdup_printf ("%s (not present: leased again when "
                                       "it comes back)",
                                       owner);
          const char *row[] = { address, holder };

          pp_table_add_row (table, row);
        }
      pp_table_print (table, "  ");
    }
  return TRUE;
}

/* ---- reserve, release ---- */

static void
print_lease_json (const char *address, const char *owner, gboolean tied)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "address");
  json_builder_add_string_value (builder, address);
  json_builder_set_member_name (builder, "owner");
  if (owner != NULL)
    json_builder_add_string_value (builder, owner);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "tied");
  json_builder_add_boolean_value (builder, tied);
  json_builder_end_object (builder);
  print_json (builder);
}

static gboolean
on_stop_signal (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_CONTINUE;
}

gboolean
pp_ctl_reserve_run (const PpCtlResourceOptions *options, GError **error)
{
  g_autoptr (GMainLoop) loop = NULL;
  guint signals[3] = { 0, 0, 0 };
  gboolean ok = TRUE;
  g_autoptr (PpCtlInventory) inventory = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantBuilder) builder = NULL;
  PpCtlDevice *device;
  const char *address;

  if (!require_owner (options, error))
    return FALSE;
  device = pp_ctl_inventory_load_device (options->argument, &inventory, error);
  if (device == NULL)
    return FALSE;
  address = pp_ctl_inventory_address (inventory, device);

  builder = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  if (options->tied)
    {
      g_variant_builder_add (builder, "{sv}", "tied_to_caller",
                             g_variant_new_boolean (TRUE));
      /* Before the lease exists: a signal the moment it does ends the
       * wait below, not the process. */
      loop = g_main_loop_new (NULL, FALSE);
      signals[0] = g_unix_signal_add (SIGINT, on_stop_signal, loop);
      signals[1] = g_unix_signal_add (SIGTERM, on_stop_signal, loop);
      signals[2] = g_unix_signal_add (SIGHUP, on_stop_signal, loop);
    }
  reply = call_authorized (inventory->bus, pp_ctl_device_get_path (device),
                           "io.github.pcipassd1.Device", "Reserve",
                           g_variant_new ("(sa{sv})", options->owner, builder),
                           G_VARIANT_TYPE ("()"), options->no_ask_password,
                           error);
  if (reply == NULL)
    ok = FALSE;
  for (guint i = 0; !ok && i < G_N_ELEMENTS (signals); i++)
    g_clear_handle_id (&signals[i], g_source_remove);
  if (!ok)
    return FALSE;

  if (options->json)
    print_lease_json (address, options->owner, options->tied);
  else if (options->tied)
    g_print ("%s is leased to %s while this command runs: interrupt it "
             "(Ctrl-C) to release it\n",
             address, options->owner);
  else
    g_print ("%s is leased to %s\n", address, options->owner);

  if (options->tied)
    {
      /* The lease lasts as long as this connection: wait to be told. */
      fflush (stdout);
      g_main_loop_run (loop);
      for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
        g_clear_handle_id (&signals[i], g_source_remove);
    }
  return TRUE;
}

gboolean
pp_ctl_release_run (const PpCtlResourceOptions *options, GError **error)
{
  g_autoptr (PpCtlInventory) inventory = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantBuilder) builder = NULL;
  g_autofree char *holder = NULL;
  PpCtlDevice *device;
  const char *address;

  device = pp_ctl_inventory_load_device (options->argument, &inventory, error);
  if (device == NULL)
    return FALSE;
  address = pp_ctl_inventory_address (inventory, device);
  holder = g_strdup (pp_ctl_device_get_owner (device));

  builder = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  if (options->owner != NULL)
    g_variant_builder_add (builder, "{sv}", "owner",
                           g_variant_new_string (options->owner));
  reply = call_authorized (inventory->bus, pp_ctl_device_get_path (device),
                           "io.github.pcipassd1.Device", "Release",
                           g_variant_new ("(a{sv})", builder),
                           G_VARIANT_TYPE ("()"), options->no_ask_password,
                           error);
  if (reply == NULL)
    return FALSE;

  if (options->json)
    print_lease_json (address, NULL, FALSE);
  else if (*holder != '\0')
    g_print ("%s is released (it was leased to %s)\n", address, holder);
  else
    g_print ("%s was not leased\n", address);
  return TRUE;
}

/* ---- allocate ---- */

gboolean
pp_ctl_allocate_run (const PpCtlResourceOptions *options, GError **error)
{
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantBuilder) builder = NULL;
  g_autoptr (GVariantIter) iter = NULL;
  g_autoptr (GPtrArray) addresses = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (PpCtlInventory) inventory = NULL;
  const char *path;

  if (!require_owner (options, error))
    return FALSE;
  if (options->count < 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--count must be at least 1, not %d", options->count);
      return FALSE;
    }
  bus = system_bus (error);
  if (bus == NULL)
    return FALSE;

  builder = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  if (options->numa_node >= 0)
    g_variant_builder_add (builder, "{sv}", "numa_node",
                           g_variant_new_int32 (options->numa_node));
  reply = call_authorized (
      bus, MANAGER_PATH, MANAGER_IFACE, "Allocate",
      g_variant_new ("(susa{sv})", options->argument, (guint) options->count,
                     options->owner, builder),
      G_VARIANT_TYPE ("(ao)"), options->no_ask_password, error);
  if (reply == NULL)
    return FALSE;

  /* The objects' addresses, as they are now. */
  inventory = pp_ctl_inventory_load (error);
  if (inventory == NULL)
    return FALSE;
  g_variant_get (reply, "(ao)", &iter);
  while (g_variant_iter_next (iter, "&o", &path))
    g_ptr_array_add (
        addresses, g_strdup (pp_ctl_inventory_path_address (inventory, path)));

  if (options->json)
    {
      g_autoptr (JsonBuilder) out = json_builder_new ();

      json_builder_begin_object (out);
      json_builder_set_member_name (out, "resource");
      json_builder_add_string_value (out, options->argument);
      json_builder_set_member_name (out, "owner");
      json_builder_add_string_value (out, options->owner);
      json_builder_set_member_name (out, "devices");
      json_builder_begin_array (out);
      for (guint i = 0; i < addresses->len; i++)
        json_builder_add_string_value (out, g_ptr_array_index (addresses, i));
      json_builder_end_array (out);
      json_builder_end_object (out);
      print_json (out);
      return TRUE;
    }
  g_print ("Leased to %s and on vfio-pci:\n", options->owner);
  for (guint i = 0; i < addresses->len; i++)
    g_print ("  %s\n", (const char *) g_ptr_array_index (addresses, i));
  g_print ("\"pcipassctl hostdev --owner %s\" prints them for libvirt and "
           "QEMU.\n",
           options->owner);
  return TRUE;
}

/* ---- reload ---- */

gboolean
pp_ctl_reload_run (const PpCtlResourceOptions *options, GError **error)
{
  g_autoptr (GDBusConnection) bus = system_bus (error);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) properties = NULL;
  g_autoptr (GVariant) resources = NULL;

  if (bus == NULL)
    return FALSE;
  reply
      = call_authorized (bus, MANAGER_PATH, MANAGER_IFACE, "ReloadCatalog",
                         g_variant_new ("(a{sv})", NULL), G_VARIANT_TYPE ("()"),
                         options->no_ask_password, error);
  if (reply == NULL)
    return FALSE;
  properties = manager_properties (bus, error);
  if (properties == NULL)
    return FALSE;
  resources = g_variant_lookup_value (properties, "Resources",
                                      G_VARIANT_TYPE ("a{s(uu)}"));

  if (options->json)
    {
      g_autoptr (JsonBuilder) out = json_builder_new ();

      json_builder_begin_object (out);
      json_builder_set_member_name (out, "resources");
      json_builder_add_int_value (
          out, resources != NULL ? g_variant_n_children (resources) : 0);
      json_builder_end_object (out);
      print_json (out);
      return TRUE;
    }
  g_print ("Catalog reloaded: %" G_GSIZE_FORMAT " resources on this host\n",
           resources != NULL ? g_variant_n_children (resources) : 0);
  return TRUE;
}

/* ---- hostdev ---- */

/* The devices to hand over: @device's group's endpoints, bridges left
 * out (they stay on the host, as Bind leaves them). */
static void
add_with_group (PpCtlInventory *inventory,
                GPtrArray *groups,
                PpCtlDevice *device,
                GPtrArray *out)
{
  int number = pp_ctl_device_get_iommu_group (device);

  for (guint i = 0; number >= 0 && i < groups->len; i++)
    {
      PpCtlGroup *group = g_ptr_array_index (groups, i);

      if (group->number != number)
        continue;
      for (guint j = 0; j < group->devices->len; j++)
        {
          PpCtlDevice *member = g_ptr_array_index (group->devices, j);

          if ((member == device
               || g_strcmp0 (pp_ctl_device_get_type_ (member), "bridge") != 0)
              && !g_ptr_array_find (out, member, NULL))
            g_ptr_array_add (out, member);
        }
      return;
    }
  if (!g_ptr_array_find (out, device, NULL))
    g_ptr_array_add (out, device);
}

static int
compare_by_address (gconstpointer a, gconstpointer b)
{
  return pp_address_str_compare (
      pp_ctl_device_get_address (*(PpCtlDevice *const *) a),
      pp_ctl_device_get_address (*(PpCtlDevice *const *) b));
}

/* <hostdev> for one function, as libvirt's domain XML takes it. */
static char *
libvirt_hostdev (const char *address)
{
  PpAddress a;

  if (!pp_address_parse (address, FALSE, &a, NULL))
    return NULL;
  return g_strdup_printf ("<hostdev mode='subsystem' type='pci' "
                          "managed='no'>\n"
                          "  <source>\n"
                          "    <address domain='0x%04x' bus='0x%02x' "
                          "slot='0x%02x' function='0x%x'/>\n"
                          "  </source>\n"
                          "</hostdev>",
                          a.domain, a.bus, a.slot, a.function);
}

gboolean
pp_ctl_hostdev_run (const PpCtlResourceOptions *options, GError **error)
{
  g_autoptr (PpCtlInventory) inventory = NULL;
  g_autoptr (GPtrArray) groups = NULL;
  g_autoptr (GPtrArray) chosen = g_ptr_array_new ();
  g_autoptr (GPtrArray) devices = g_ptr_array_new ();
  g_autoptr (GString) qemu = g_string_new (NULL);

  if ((options->argument == NULL) == (options->owner == NULL))
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "give either ADDR or --owner NAME");
      return FALSE;
    }
  if (options->argument != NULL)
    {
      PpCtlDevice *device
          = pp_ctl_inventory_load_device (options->argument, &inventory, error);

      if (device == NULL)
        return FALSE;
      g_ptr_array_add (chosen, device);
    }
  else
    {
      inventory = pp_ctl_inventory_load (error);
      if (inventory == NULL)
        return FALSE;
      for (guint i = 0; i < inventory->devices->len; i++)
        {
          PpCtlDevice *device = g_ptr_array_index (inventory->devices, i);

          if (g_str_equal (pp_ctl_device_get_owner (device), options->owner))
            g_ptr_array_add (chosen, device);
        }
      if (chosen->len == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                       "no device present is leased to %s", options->owner);
          return FALSE;
        }
    }

  groups = pp_ctl_inventory_groups (inventory);
  for (guint i = 0; i < chosen->len; i++)
    add_with_group (inventory, groups, g_ptr_array_index (chosen, i), devices);
  g_ptr_array_sort (devices, compare_by_address);

  /* managed='no': libvirt will not bind them, so they must be ready. */
  for (guint i = 0; i < devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (devices, i);
      const char *state = pp_ctl_device_get_state (device);

      if (!g_str_equal (state, "vfio") && !g_str_equal (state, "in-use"))
        {
          const char *driver = pp_ctl_device_get_driver (device);

          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "%s is on %s, not vfio-pci: run \"pcipassctl bind %s\" "
                       "first (it moves the whole IOMMU group)",
                       pp_ctl_device_get_address (device),
                       *driver != '\0' ? driver : "no driver",
                       pp_ctl_device_get_address (device));
          return FALSE;
        }
      g_string_append_printf (qemu, "%s-device vfio-pci,host=%s",
                              qemu->len ? " " : "",
                              pp_ctl_device_get_address (device));
    }

  if (options->json)
    {
      g_autoptr (JsonBuilder) out = json_builder_new ();

      json_builder_begin_object (out);
      json_builder_set_member_name (out, "devices");
      json_builder_begin_array (out);
      for (guint i = 0; i < devices->len; i++)
        {
          const char *address
              = pp_ctl_device_get_address (g_ptr_array_index (devices, i));
          g_autofree char *xml = libvirt_hostdev (address);
          g_autofree char *host = g_strdup_printf ("vfio-pci,host=%s", address);

          json_builder_begin_object (out);
          json_builder_set_member_name (out, "address");
          json_builder_add_string_value (out, address);
          json_builder_set_member_name (out, "libvirt");
          json_builder_add_string_value (out, xml);
          json_builder_set_member_name (out, "qemu");
          json_builder_begin_array (out);
          json_builder_add_string_value (out, "-device");
          json_builder_add_string_value (out, host);
          json_builder_end_array (out);
          json_builder_end_object (out);
        }
      json_builder_end_array (out);
      json_builder_end_object (out);
      print_json (out);
      return TRUE;
    }

  g_print ("<!-- libvirt: in <devices> of the domain XML (virsh edit) -->\n");
  for (guint i = 0; i < devices->len; i++)
    {
      g_autofree char *xml = libvirt_hostdev (
          pp_ctl_device_get_address (g_ptr_array_index (devices, i)));
      g_print ("%s\n", xml);
    }
  g_print ("\n# QEMU:\n%s\n", qemu->str);
  return TRUE;
}
