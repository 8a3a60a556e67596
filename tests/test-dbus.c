/* The daemon as a client sees it: pcipassd runs as its own process on a
 * private bus against a simulated host, and what it publishes is checked
 * against the model built in-process from the same host. */
#include "config.h"

#include "pp-address.h"
#include "pp-dbus-generated.h"
#include "pp-registry.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <signal.h>
#include <string.h>
#include <sys/utsname.h>
#include <umockdev.h>

#define MANAGER_PATH PP_OBJECT_ROOT "/manager"
#define DEVICE_IFACE "io.github.pcipassd1.Device"
#define MANAGER_IFACE "io.github.pcipassd1.Manager"

static UMockdevTestbed *testbed;

typedef struct
{
  PpTestBus *bus;
  PpHwdb *hwdb;
  PpRegistry *registry;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path (data);
  g_autoptr (PpSysfs) sysfs = NULL;

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);

  sysfs = pp_sysfs_new (&error);
  g_assert_no_error (error);
  fx->hwdb = pp_hwdb_new ();
  fx->registry = pp_registry_new (sysfs, fx->hwdb);
  pp_registry_enumerate (fx->registry, &error);
  g_assert_no_error (error);

  fx->bus = pp_test_bus_new (TRUE);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_pointer (&fx->bus, pp_test_bus_free);
  g_clear_object (&fx->registry);
  g_clear_pointer (&fx->hwdb, pp_hwdb_free);
}

static GVariant *
call (Fixture *fx,
      const char *path,
      const char *iface,
      const char *method,
      GVariant *args,
      const char *reply_type)
{
  g_autoptr (GError) error = NULL;
  GVariant *reply;

  /* The daemon is another process: a blocking call cannot deadlock. */
  reply = g_dbus_connection_call_sync (
      fx->bus->connection, "io.github.pcipassd", path, iface, method, args,
      G_VARIANT_TYPE (reply_type), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
  return reply;
}

/* The value the model holds for a bus property, in the bus's type. */
static GVariant *
expected_value (PpDevice *device, GDBusPropertyInfo *info)
{
  g_autofree char *name = NULL;
  g_auto (GValue) value = G_VALUE_INIT;
  GParamSpec *pspec;

  /* Bus names are CamelCase, model properties the same words in
   * dash-case: VendorId -> vendor-id. */
  {
    GString *s = g_string_new (NULL);
    for (const char *c = info->name; *c != '\0'; c++)
      {
        if (g_ascii_isupper (*c) && c != info->name)
          g_string_append_c (s, '-');
        g_string_append_c (s, g_ascii_tolower (*c));
      }
    name = g_string_free (s, FALSE);
  }

  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (device), name);
  g_assert_nonnull (pspec);
  g_value_init (&value, pspec->value_type);
  g_object_get_property (G_OBJECT (device), name, &value);

  if (g_str_equal (info->signature, "s"))
    return g_variant_new_string (g_value_get_string (&value));
  if (g_str_equal (info->signature, "q"))
    return g_variant_new_uint16 ((guint16) g_value_get_uint (&value));
  if (g_str_equal (info->signature, "u"))
    return g_variant_new_uint32 (g_value_get_uint (&value));
  if (g_str_equal (info->signature, "y"))
    return g_variant_new_byte (g_value_get_uchar (&value));
  if (g_str_equal (info->signature, "i"))
    return g_variant_new_int32 (g_value_get_int (&value));
  if (g_str_equal (info->signature, "b"))
    return g_variant_new_boolean (g_value_get_boolean (&value));
  if (g_str_equal (info->signature, "as"))
    return g_variant_new_strv (g_value_get_boxed (&value), -1);
  if (g_str_equal (info->signature, "o"))
    {
      const char *address = g_value_get_string (&value);
      g_autofree char *path = NULL;

      if (address == NULL || *address == '\0')
        return g_variant_new_object_path ("/");
      path = pp_address_to_object_path (address);
      return g_variant_new_object_path (path);
    }
  if (g_str_equal (info->signature, "ao"))
    {
      const char *const *addresses = g_value_get_boxed (&value);
      GVariantBuilder b;

      g_variant_builder_init (&b, G_VARIANT_TYPE ("ao"));
      for (; addresses != NULL && *addresses != NULL; addresses++)
        {
          g_autofree char *path = pp_address_to_object_path (*addresses);
          g_variant_builder_add (&b, "o", path);
        }
      return g_variant_builder_end (&b);
    }
  g_error ("property %s has an unexpected type %s", info->name,
           info->signature);
}

static void
test_managed_objects (Fixture *fx, gconstpointer data)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GPtrArray) devices = pp_registry_get_devices (fx->registry);
  GDBusInterfaceInfo *info = pp_dbus_device_interface_info ();
  GVariantIter iter;
  const char *path;
  GVariant *ifaces;
  guint n_devices = 0;
  gboolean saw_manager = FALSE;

  g_assert_cmpuint (devices->len, >, 0);
  pp_test_bus_start_daemon (fx->bus, NULL);

  reply = call (fx, PP_OBJECT_ROOT, "org.freedesktop.DBus.ObjectManager",
                "GetManagedObjects", NULL, "(a{oa{sa{sv}}})");
  objects = g_variant_get_child_value (reply, 0);

  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_loop (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) props = NULL;
      PpDevice *device = NULL;

      if (g_str_equal (path, MANAGER_PATH))
        {
          saw_manager = TRUE;
          g_assert_true (
              g_variant_lookup (ifaces, MANAGER_IFACE, "@a{sv}", &props));
          continue;
        }

      for (guint i = 0; i < devices->len; i++)
        {
          g_autofree char *p = pp_address_to_object_path (
              pp_device_get_address (g_ptr_array_index (devices, i)));
          if (g_str_equal (p, path))
            device = g_ptr_array_index (devices, i);
        }
      g_test_message ("object %s", path);
      g_assert_nonnull (device);
      n_devices++;

      g_assert_cmpuint (g_variant_n_children (ifaces), ==, 1);
      g_assert_true (g_variant_lookup (ifaces, DEVICE_IFACE, "@a{sv}", &props));
      g_assert_cmpuint (g_variant_n_children (props), ==,
                        g_strv_length ((char **) info->properties));

      for (GDBusPropertyInfo **p = info->properties; *p != NULL; p++)
        {
          g_autoptr (GVariant) got = g_variant_lookup_value (
              props, (*p)->name, G_VARIANT_TYPE ((*p)->signature));
          g_autoptr (GVariant) want
              = g_variant_ref_sink (expected_value (device, *p));

          if (got == NULL)
            g_error ("%s: no property %s of type %s", path, (*p)->name,
                     (*p)->signature);
          if (!g_variant_equal (got, want))
            {
              g_autofree char *g = g_variant_print (got, TRUE);
              g_autofree char *w = g_variant_print (want, TRUE);
              g_error ("%s.%s is %s, the model says %s", path, (*p)->name, g,
                       w);
            }
        }
    }

  g_assert_true (saw_manager);
  g_assert_cmpuint (n_devices, ==, devices->len);
}

static void
test_manager_properties (Fixture *fx, gconstpointer data)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) props = NULL;
  const char *version = NULL;
  const char *arch = NULL;
  struct utsname uts;

  pp_test_bus_start_daemon (fx->bus, NULL);
  reply = call (fx, MANAGER_PATH, "org.freedesktop.DBus.Properties", "GetAll",
                g_variant_new ("(s)", MANAGER_IFACE), "(a{sv})");
  props = g_variant_get_child_value (reply, 0);
  g_assert_true (g_variant_lookup (props, "Version", "&s", &version));
  g_assert_cmpstr (version, ==, PACKAGE_VERSION);
  g_assert_true (g_variant_lookup (props, "Architecture", "&s", &arch));
  g_assert_cmpint (uname (&uts), ==, 0);
  g_assert_cmpstr (arch, ==, uts.machine);
}

static char *
run_busctl (Fixture *fx, const char *const *args)
{
  g_autofree char *busctl = pp_test_require_program ("busctl");
  g_autofree char *address_arg
      = g_strdup_printf ("--address=%s", fx->bus->address);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  char *out = NULL;

  g_ptr_array_add (argv, busctl);
  g_ptr_array_add (argv, address_arg);
  g_ptr_array_add (argv, (gpointer) "--no-pager");
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);

  proc = pp_test_spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE,
                        (const char *const *) argv->pdata);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (pp_test_wait_process (proc), ==, 0);
  return out;
}

static void
test_busctl (Fixture *fx, gconstpointer data)
{
  const char *gpu = PP_OBJECT_ROOT "/devices/pci_0000_01_00_0";
  const char *const introspect[]
      = { "introspect", "io.github.pcipassd", gpu, NULL };
  const char *const get_driver[] = {
    "get-property", "io.github.pcipassd", gpu, DEVICE_IFACE, "Driver", NULL,
  };
  const char *const get_group[] = {
    "get-property", "io.github.pcipassd", gpu, DEVICE_IFACE, "IommuGroup", NULL,
  };
  const char *const tree[] = { "tree", "io.github.pcipassd", NULL };
  g_autofree char *out = NULL;

  pp_test_bus_start_daemon (fx->bus, NULL);

  out = run_busctl (fx, introspect);
  g_assert_nonnull (strstr (out, DEVICE_IFACE));
  g_assert_true (g_regex_match_simple ("^\\.Address +property +s +"
                                       "\"0000:01:00.0\" +emits-change",
                                       out, G_REGEX_MULTILINE, 0));
  g_assert_true (g_regex_match_simple ("^\\.VendorId +property +q +4318 ", out,
                                       G_REGEX_MULTILINE, 0));
  g_clear_pointer (&out, g_free);

  out = run_busctl (fx, get_driver);
  g_assert_cmpstr (out, ==, "s \"nvidia\"\n");
  g_clear_pointer (&out, g_free);

  out = run_busctl (fx, get_group);
  g_assert_cmpstr (out, ==, "i 2\n");
  g_clear_pointer (&out, g_free);

  out = run_busctl (fx, tree);
  g_assert_nonnull (strstr (out, "/io/github/pcipassd/manager"));
  g_assert_nonnull (
      strstr (out, "/io/github/pcipassd/devices/pci_0000_01_00_1"));
}

static GSubprocess *
spawn_daemon (const char *arg)
{
  const char *const argv[] = { pp_test_pcipassd_path (), arg, NULL };

  return pp_test_spawn (G_SUBPROCESS_FLAGS_STDERR_SILENCE, argv);
}

static char *
name_owner (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
      fx->bus->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
      "org.freedesktop.DBus", "GetNameOwner",
      g_variant_new ("(s)", "io.github.pcipassd"), G_VARIANT_TYPE ("(s)"),
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  char *owner = NULL;

  g_assert_no_error (error);
  g_variant_get (reply, "(s)", &owner);
  return owner;
}

static void
test_name_owner (Fixture *fx, gconstpointer data)
{
  g_autoptr (GSubprocess) second = NULL;
  g_autoptr (GSubprocess) first = NULL;
  g_autofree char *owner = NULL;
  g_autofree char *owner_after = NULL;

  pp_test_bus_start_daemon (fx->bus, NULL);
  owner = name_owner (fx);

  /* A second daemon without --replace gives up and leaves the first. */
  second = spawn_daemon (NULL);
  g_assert_cmpint (pp_test_wait_process (second), ==, 1);
  g_clear_object (&second);
  owner_after = name_owner (fx);
  g_assert_cmpstr (owner, ==, owner_after);

  /* With --replace it takes over, and the first exits cleanly. */
  first = g_steal_pointer (&fx->bus->daemon);
  second = spawn_daemon ("--replace");
  g_assert_cmpint (pp_test_wait_process (first), ==, 0);
  pp_test_bus_wait_name (fx->bus, "io.github.pcipassd", TRUE);

  g_subprocess_send_signal (second, SIGINT);
  g_assert_cmpint (pp_test_wait_process (second), ==, 0);
}

static void
test_bad_option (Fixture *fx, gconstpointer data)
{
  g_autoptr (GSubprocess) proc = spawn_daemon ("--no-such-option");

  g_assert_cmpint (pp_test_wait_process (proc), ==, 2);
}

typedef struct
{
  guint n;
  GVariant *changed; /* the last PropertiesChanged's a{sv} */
} Changes;

static void
on_properties_changed (GDBusConnection *connection,
                       const char *sender,
                       const char *path,
                       const char *iface,
                       const char *signal,
                       GVariant *params,
                       gpointer user_data)
{
  Changes *c = user_data;

  c->n++;
  g_clear_pointer (&c->changed, g_variant_unref);
  c->changed = g_variant_get_child_value (params, 1);
}

static gint32
managed_numa_node (Fixture *fx, const char *path)
{
  g_autoptr (GVariant) reply
      = call (fx, PP_OBJECT_ROOT, "org.freedesktop.DBus.ObjectManager",
              "GetManagedObjects", NULL, "(a{oa{sa{sv}}})");
  g_autoptr (GVariant) objects = g_variant_get_child_value (reply, 0);
  g_autoptr (GVariant) ifaces = NULL;
  g_autoptr (GVariant) props = NULL;
  gint32 numa;

  g_assert_true (g_variant_lookup (objects, path, "@a{sa{sv}}", &ifaces));
  g_assert_true (g_variant_lookup (ifaces, DEVICE_IFACE, "@a{sv}", &props));
  g_assert_true (g_variant_lookup (props, "NumaNode", "i", &numa));
  return numa;
}

/* The GetManagedObjects reply is built once and kept: a change must
 * show in the next one, and go out as one PropertiesChanged with only
 * what changed. */
static void
test_reply_follows_changes (Fixture *fx, gconstpointer data)
{
  g_autofree char *devpath = pp_testbed_get_devpath (testbed, "0000:01:00.0");
  g_autofree char *root = pp_testbed_get_root (testbed);
  g_autofree char *numa = g_strconcat (root, devpath, "/numa_node", NULL);
  g_autofree char *path = pp_address_to_object_path ("0000:01:00.0");
  Changes c = { 0, NULL };
  guint sub;
  gint32 before;

  pp_test_bus_start_daemon (fx->bus, NULL);
  sub = g_dbus_connection_signal_subscribe (
      fx->bus->connection, NULL, "org.freedesktop.DBus.Properties",
      "PropertiesChanged", path, DEVICE_IFACE, G_DBUS_SIGNAL_FLAGS_NONE,
      on_properties_changed, &c, NULL);
  before = managed_numa_node (fx, path);
  g_assert_cmpint (managed_numa_node (fx, path), ==, before);

  g_assert_true (
      g_file_set_contents (numa, before == 1 ? "0\n" : "1\n", -1, NULL));
  umockdev_testbed_uevent (testbed, devpath, "change");
  {
    gint64 deadline
        = g_get_monotonic_time () + PP_TEST_TIMEOUT * G_USEC_PER_SEC;

    while (c.n == 0 && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
  }
  g_assert_cmpuint (c.n, ==, 1);
  g_assert_cmpuint (g_variant_n_children (c.changed), ==, 1);
  {
    gint32 now;

    g_assert_true (g_variant_lookup (c.changed, "NumaNode", "i", &now));
    g_assert_cmpint (now, ==, before == 1 ? 0 : 1);
  }
  g_assert_cmpint (managed_numa_node (fx, path), ==, before == 1 ? 0 : 1);

  g_dbus_connection_signal_unsubscribe (fx->bus->connection, sub);
  g_clear_pointer (&c.changed, g_variant_unref);
}

/* ValidateHost with "devices": the host's checks, then each device's,
 * the same as Device.Validate gives; an unknown address is NotFound. */
static void
test_validate_host_devices (Fixture *fx, gconstpointer data)
{
  const char *const addresses[] = { "0000:01:00.0", "0000:01:00.1", NULL };
  g_autoptr (GVariant) host = NULL;
  g_autoptr (GVariant) all = NULL;
  g_autoptr (GVariant) host_results = NULL;
  g_autoptr (GVariant) all_results = NULL;
  g_autoptr (GError) error = NULL;
  GVariantBuilder options;
  gsize n;

  pp_test_bus_start_daemon (fx->bus, NULL);
  host = call (fx, MANAGER_PATH, MANAGER_IFACE, "ValidateHost",
               g_variant_new ("(a{sv})", NULL), "(a(sssss))");
  host_results = g_variant_get_child_value (host, 0);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "devices",
                         g_variant_new_strv (addresses, -1));
  all = call (fx, MANAGER_PATH, MANAGER_IFACE, "ValidateHost",
              g_variant_new ("(@a{sv})", g_variant_builder_end (&options)),
              "(a(sssss))");
  all_results = g_variant_get_child_value (all, 0);

  n = g_variant_n_children (host_results);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) a = g_variant_get_child_value (host_results, i);
      g_autoptr (GVariant) b = g_variant_get_child_value (all_results, i);

      g_assert_true (g_variant_equal (a, b));
    }
  for (guint d = 0; addresses[d] != NULL; d++)
    {
      g_autofree char *path = pp_address_to_object_path (addresses[d]);
      g_autoptr (GVariant) one
          = call (fx, path, DEVICE_IFACE, "Validate",
                  g_variant_new ("(a{sv})", NULL), "(a(sssss))");
      g_autoptr (GVariant) device_results = g_variant_get_child_value (one, 0);

      for (gsize i = 0; i < g_variant_n_children (device_results); i++)
        {
          g_autoptr (GVariant) a
              = g_variant_get_child_value (device_results, i);
          g_autoptr (GVariant) b = g_variant_get_child_value (all_results, n);

          g_assert_true (g_variant_equal (a, b));
          n++;
        }
    }
  g_assert_cmpuint (n, ==, g_variant_n_children (all_results));

  {
    const char *const unknown[] = { "0000:99:00.0", NULL };
    g_autoptr (GVariant) reply = NULL;

    g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&options, "{sv}", "devices",
                           g_variant_new_strv (unknown, -1));
    reply = g_dbus_connection_call_sync (
        fx->bus->connection, "io.github.pcipassd", MANAGER_PATH, MANAGER_IFACE,
        "ValidateHost",
        g_variant_new ("(@a{sv})", g_variant_builder_end (&options)), NULL,
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_null (reply);
    g_assert_true (g_dbus_error_is_remote_error (error));
    {
      g_autofree char *name = g_dbus_error_get_remote_error (error);

      g_assert_cmpstr (name, ==, "io.github.pcipassd.Error.NotFound");
    }
  }
}

static int
compare_addresses (gconstpointer a, gconstpointer b)
{
  return pp_address_str_compare (*(const char *const *) a,
                                 *(const char *const *) b);
}

/* Option "candidates": the host, then each device's checks, except a
 * bridge or a protected device, which gets one skip result saying why
 * (what pcipassctl validate lists as "Not validated"). */
static void
test_validate_host_candidates (Fixture *fx, gconstpointer data)
{
  g_autoptr (GVariant) host_results = NULL;
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GVariant) host = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) results = NULL;
  g_autoptr (GError) error = NULL;
  GVariantBuilder options;
  GVariantIter iter;
  const char *path;
  GVariant *ifaces;
  guint bridges = 0;
  guint protected = 0;
  gsize n;

  pp_test_bus_start_daemon (fx->bus, NULL);
  host = call (fx, MANAGER_PATH, MANAGER_IFACE, "ValidateHost",
               g_variant_new ("(a{sv})", NULL), "(a(sssss))");
  host_results = g_variant_get_child_value (host, 0);
  n = g_variant_n_children (host_results);
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&options, "{sv}", "candidates",
                         g_variant_new_boolean (TRUE));
  reply = call (fx, MANAGER_PATH, MANAGER_IFACE, "ValidateHost",
                g_variant_new ("(@a{sv})", g_variant_builder_end (&options)),
                "(a(sssss))");
  results = g_variant_get_child_value (reply, 0);

  /* Devices come in address order, as GetManagedObjects describes them. */
  objects = call (fx, PP_OBJECT_ROOT, "org.freedesktop.DBus.ObjectManager",
                  "GetManagedObjects", NULL, "(a{oa{sa{sv}}})");
  {
    g_autoptr (GPtrArray) addresses = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GHashTable) props = g_hash_table_new_full (
        g_str_hash, g_str_equal, NULL, (GDestroyNotify) g_variant_unref);

    g_autoptr (GVariant) list = g_variant_get_child_value (objects, 0);

    g_variant_iter_init (&iter, list);
    while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
      {
        g_autoptr (GVariant) device
            = g_variant_lookup_value (ifaces, DEVICE_IFACE, NULL);
        const char *address;

        g_variant_unref (ifaces);
        if (device == NULL)
          continue;
        g_variant_lookup (device, "Address", "&s", &address);
        g_ptr_array_add (addresses, g_strdup (address));
        g_hash_table_insert (props,
                             g_ptr_array_index (addresses, addresses->len - 1),
                             g_variant_ref (device));
      }
    g_ptr_array_sort (addresses, compare_addresses);

    for (guint d = 0; d < addresses->len; d++)
      {
        const char *address = g_ptr_array_index (addresses, d);
        GVariant *device = g_hash_table_lookup (props, address);
        const char *type;
        const char *reason;

        g_variant_lookup (device, "Type", "&s", &type);
        g_variant_lookup (device, "ProtectionReason", "&s", &reason);
        if (g_str_equal (type, "bridge") || *reason != '\0')
          {
            const char *subject, *check, *severity, *message, *remedy;

            g_variant_get_child (results, n++, "(&s&s&s&s&s)", &subject, &check,
                                 &severity, &message, &remedy);
            g_assert_cmpstr (subject, ==, address);
            g_assert_cmpstr (severity, ==, "skip");
            g_assert_true (g_str_has_prefix (message, "not validated: "));
            if (g_str_equal (type, "bridge"))
              {
                g_assert_cmpstr (check, ==, "bridge");
                bridges++;
              }
            else
              {
                g_autofree char *named = g_strdup_printf ("(%s)", reason);

                g_assert_cmpstr (check, ==, "protected");
                g_assert_nonnull (strstr (message, named));
                protected++;
              }
          }
        else
          {
            g_autofree char *object = pp_address_to_object_path (address);
            g_autoptr (GVariant) one
                = call (fx, object, DEVICE_IFACE, "Validate",
                        g_variant_new ("(a{sv})", NULL), "(a(sssss))");
            g_autoptr (GVariant) own = g_variant_get_child_value (one, 0);

            for (gsize i = 0; i < g_variant_n_children (own); i++)
              {
                g_autoptr (GVariant) a = g_variant_get_child_value (own, i);
                g_autoptr (GVariant) b
                    = g_variant_get_child_value (results, n++);

                g_assert_true (g_variant_equal (a, b));
              }
          }
      }
  }
  g_assert_cmpuint (n, ==, g_variant_n_children (results));
  /* The fixture has both, or this test would show nothing. */
  g_assert_cmpuint (bridges, >, 0);
  g_assert_cmpuint (protected, >, 0);

  /* Both ways of choosing devices at once is a caller's mistake. */
  {
    const char *const one[] = { "0000:01:00.0", NULL };
    g_autoptr (GVariant) both = NULL;

    g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add (&options, "{sv}", "candidates",
                           g_variant_new_boolean (TRUE));
    g_variant_builder_add (&options, "{sv}", "devices",
                           g_variant_new_strv (one, -1));
    both = g_dbus_connection_call_sync (
        fx->bus->connection, "io.github.pcipassd", MANAGER_PATH, MANAGER_IFACE,
        "ValidateHost",
        g_variant_new ("(@a{sv})", g_variant_builder_end (&options)), NULL,
        G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
    g_assert_null (both);
    g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS);
  }
}

int
main (int argc, char **argv)
{
  const char *const fixtures[] = { "workstation", "server" };
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (fixtures); i++)
    {
      g_autofree char *name
          = g_strdup_printf ("/dbus/%s/managed-objects", fixtures[i]);
      g_test_add (name, Fixture, fixtures[i], fixture_setup,
                  test_managed_objects, fixture_teardown);
    }
  g_test_add ("/dbus/manager-properties", Fixture, "workstation", fixture_setup,
              test_manager_properties, fixture_teardown);
  g_test_add ("/dbus/busctl", Fixture, "workstation", fixture_setup,
              test_busctl, fixture_teardown);
  g_test_add ("/dbus/name-owner", Fixture, "workstation", fixture_setup,
              test_name_owner, fixture_teardown);
  g_test_add ("/dbus/bad-option", Fixture, "workstation", fixture_setup,
              test_bad_option, fixture_teardown);
  g_test_add ("/dbus/validate-host-devices", Fixture, "workstation",
              fixture_setup, test_validate_host_devices, fixture_teardown);
  g_test_add ("/dbus/validate-host-candidates", Fixture, "workstation",
              fixture_setup, test_validate_host_candidates, fixture_teardown);
  g_test_add ("/dbus/reply-follows-changes", Fixture, "workstation",
              fixture_setup, test_reply_follows_changes, fixture_teardown);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
