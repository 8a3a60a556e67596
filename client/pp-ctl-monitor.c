#include "config.h"

#include "pp-ctl-monitor.h"

#include "pp-address.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

#define DEVICE_IFACE "io.github.pcipassd1.Device"

typedef struct
{
  GDBusConnection *bus;
  GMainLoop *loop;
  gboolean json;
  gboolean announced;
  /* object path -> (property -> GVariant): the last values seen, so a
   * change can be shown as old -> new. */
  GHashTable *objects;
} Monitor;

static GHashTable *
new_properties (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                (GDestroyNotify) g_variant_unref);
}

static const char *
address_of (Monitor *m, const char *path)
{
  GHashTable *props = g_hash_table_lookup (m->objects, path);
  GVariant *address = props ? g_hash_table_lookup (props, "Address") : NULL;

  return address != NULL ? g_variant_get_string (address, NULL) : path;
}

/* Object paths in values are shown as the devices' addresses. */
static char *
format_value (Monitor *m, GVariant *value)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    {
      const char *s = g_variant_get_string (value, NULL);
      return g_strdup (*s != '\0' ? s : "-");
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    return g_strdup (g_variant_get_boolean (value) ? "yes" : "no");
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_OBJECT_PATH))
    {
      const char *p = g_variant_get_string (value, NULL);
      return g_strdup (g_str_equal (p, "/") ? "-" : address_of (m, p));
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE ("ao"))
      || g_variant_is_of_type (value, G_VARIANT_TYPE_STRING_ARRAY))
    {
      g_autoptr (GString) s = g_string_new (NULL);
      gboolean paths = g_variant_is_of_type (value, G_VARIANT_TYPE ("ao"));
      GVariantIter iter;
      const char *item;

      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, paths ? "&o" : "&s", &item))
        g_string_append_printf (s, "%s%s", s->len ? ", " : "",
                                paths ? address_of (m, item) : item);
      return g_strdup (s->len ? s->str : "-");
    }
  return g_variant_print (value, FALSE);
}

static void
print_json (JsonBuilder *builder)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = NULL;

  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  /* One object per line, flushed: readers act on each line at once. */
  fprintf (stdout, "%s\n", text);
  fflush (stdout);
}

static void
report_presence (Monitor *m, const char *event, const char *path)
{
  if (m->json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "event");
      json_builder_add_string_value (b, event);
      json_builder_set_member_name (b, "address");
      json_builder_add_string_value (b, address_of (m, path));
      json_builder_end_object (b);
      print_json (b);
    }
  else
    {
      g_print ("%s %s\n", address_of (m, path), event);
      fflush (stdout);
    }
}

static void
report_change (Monitor *m,
               const char *path,
               const char *property,
               GVariant *old_value,
               GVariant *new_value)
{
  if (m->json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "event");
      json_builder_add_string_value (b, "changed");
      json_builder_set_member_name (b, "address");
      json_builder_add_string_value (b, address_of (m, path));
      json_builder_set_member_name (b, "property");
      json_builder_add_string_value (b, property);
      json_builder_set_member_name (b, "old");
      if (old_value != NULL)
        json_builder_add_value (b, json_gvariant_serialize (old_value));
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "new");
      json_builder_add_value (b, json_gvariant_serialize (new_value));
      json_builder_end_object (b);
      print_json (b);
    }
  else
    {
      g_autofree char *old_text
          = old_value != NULL ? format_value (m, old_value) : g_strdup ("?");
      g_autofree char *new_text = format_value (m, new_value);

      g_print ("%s %s: %s -> %s\n", address_of (m, path), property, old_text,
               new_text);
      fflush (stdout);
    }
}

static void
remember (Monitor *m, const char *path, GVariant *properties)
{
  GHashTable *props = g_hash_table_lookup (m->objects, path);
  GVariantIter iter;
  const char *name;
  GVariant *value;

  if (props == NULL)
    {
      props = new_properties ();
      g_hash_table_insert (m->objects, g_strdup (path), props);
    }
  g_variant_iter_init (&iter, properties);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    g_hash_table_insert (props, g_strdup (name), value);
}

static void
on_signal (GDBusConnection *connection,
           const char *sender,
           const char *path,
           const char *iface,
           const char *signal,
           GVariant *params,
           gpointer user_data)
{
  Monitor *m = user_data;

  if (g_str_equal (signal, "InterfacesAdded"))
    {
      const char *object;
      g_autoptr (GVariant) ifaces = NULL;
      g_autoptr (GVariant) props = NULL;

      g_variant_get (params, "(&o@a{sa{sv}})", &object, &ifaces);
      if (!g_variant_lookup (ifaces, DEVICE_IFACE, "@a{sv}", &props))
        return;
      remember (m, object, props);
      report_presence (m, "added", object);
    }
  else if (g_str_equal (signal, "InterfacesRemoved"))
    {
      const char *object;
      g_autofree const char **names = NULL;

      g_variant_get (params, "(&o^a&s)", &object, &names);
      if (!g_strv_contains (names, DEVICE_IFACE))
        return;
      report_presence (m, "removed", object);
      g_hash_table_remove (m->objects, object);
    }
  else if (g_str_equal (signal, "PropertiesChanged"))
    {
      const char *changed_iface;
      g_autoptr (GVariant) changed = NULL;
      GHashTable *props = g_hash_table_lookup (m->objects, path);
      GVariantIter iter;
      const char *name;
      GVariant *value;

      g_variant_get (params, "(&s@a{sv}@as)", &changed_iface, &changed, NULL);
      if (!g_str_equal (changed_iface, DEVICE_IFACE))
        return;
      if (props == NULL)
        {
          props = new_properties ();
          g_hash_table_insert (m->objects, g_strdup (path), props);
        }
      g_variant_iter_init (&iter, changed);
      while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
        {
          report_change (m, path, name, g_hash_table_lookup (props, name),
                         value);
          g_hash_table_insert (props, g_strdup (name), value);
        }
    }
}

static void
on_name_owner (GDBusConnection *connection,
               const char *name,
               const char *owner,
               gpointer user_data)
{
  Monitor *m = user_data;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) objects = NULL;
  GVariantIter iter;
  const char *path;
  GVariant *ifaces;

  /* A (re)started daemon: take its whole tree as the new baseline. */
  g_hash_table_remove_all (m->objects);
  reply = g_dbus_connection_call_sync (connection, PP_BUS_NAME, PP_OBJECT_ROOT,
                                       "org.freedesktop.DBus.ObjectManager",
                                       "GetManagedObjects", NULL,
                                       G_VARIANT_TYPE ("(a{oa{sa{sv}}})"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  if (reply == NULL)
    return;
  objects = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_loop (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) props = NULL;

      if (g_variant_lookup (ifaces, DEVICE_IFACE, "@a{sv}", &props))
        remember (m, path, props);
    }

  /* On stderr, so scripts reading stdout see only events; and after the
   * baseline, so that whoever waits for it misses nothing. */
  if (!m->announced)
    g_printerr ("pcipassctl: monitoring %u devices; Ctrl-C to stop\n",
                g_hash_table_size (m->objects));
  m->announced = TRUE;
}

static void
on_name_vanished (GDBusConnection *connection,
                  const char *name,
                  gpointer user_data)
{
  Monitor *m = user_data;

  if (m->json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "event");
      json_builder_add_string_value (b, "daemon-gone");
      json_builder_end_object (b);
      print_json (b);
    }
  else
    {
      g_printerr ("pcipassctl: pcipassd is not running; waiting for it\n");
    }
}

static gboolean
on_quit (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

gboolean
pp_ctl_monitor_run (gboolean json, GError **error)
{
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Monitor m = { NULL, loop, json, FALSE, NULL };
  guint subscriptions[3];
  guint watch;
  const char *signals[] = { "InterfacesAdded", "InterfacesRemoved" };

  m.bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, error);
  if (m.bus == NULL)
    {
      g_prefix_error (error, "cannot connect to the system bus: ");
      return FALSE;
    }
  m.objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                     (GDestroyNotify) g_hash_table_unref);

  /* Subscribed before the baseline is read: no change falls between. */
  for (guint i = 0; i < G_N_ELEMENTS (signals); i++)
    subscriptions[i] = g_dbus_connection_signal_subscribe (
        m.bus, PP_BUS_NAME, "org.freedesktop.DBus.ObjectManager", signals[i],
        PP_OBJECT_ROOT, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &m, NULL);
  subscriptions[2] = g_dbus_connection_signal_subscribe (
      m.bus, PP_BUS_NAME, "org.freedesktop.DBus.Properties",
      "PropertiesChanged", NULL, DEVICE_IFACE, G_DBUS_SIGNAL_FLAGS_NONE,
      on_signal, &m, NULL);
  watch = g_bus_watch_name_on_connection (
      m.bus, PP_BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE, on_name_owner,
      on_name_vanished, &m, NULL);

  g_unix_signal_add (SIGINT, on_quit, loop);
  g_unix_signal_add (SIGTERM, on_quit, loop);
  g_main_loop_run (loop);

  g_bus_unwatch_name (watch);
  for (guint i = 0; i < G_N_ELEMENTS (subscriptions); i++)
    g_dbus_connection_signal_unsubscribe (m.bus, subscriptions[i]);
  g_hash_table_unref (m.objects);
  g_object_unref (m.bus);
  return TRUE;
}
