/* Hotplug: the objects on the bus follow the kernel, live.  pcipassd runs
 * in its own process; the test changes the simulated host (adds, removes,
 * rebinds behind the daemon's back) and asserts the exact signals a
 * client subscribed beforehand receives. */
#include "config.h"

#include "pp-address.h"
#include "pp-fake-kernel.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <umockdev.h>
#include <unistd.h>

#define DEVICE_IFACE "io.github.pcipassd1.Device"
#define DEVICES PP_OBJECT_ROOT "/devices/"

static UMockdevTestbed *testbed;

typedef struct
{
  PpFakeKernel *kernel;
  PpTestBus *bus;
  char *state_dir;
  /* What the client saw, one line per signal:
   *   "added pci_X", "removed pci_X", "changed pci_X Prop1,Prop2" */
  GPtrArray *signals;
  guint subscriptions[3];
} Fixture;

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
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
  Fixture *fx = user_data;

  if (g_str_equal (signal, "InterfacesAdded")
      || g_str_equal (signal, "InterfacesRemoved"))
    {
      const char *object;

      g_variant_get_child (params, 0, "&o", &object);
      g_ptr_array_add (fx->signals,
                       g_strdup_printf ("%s %s",
                                        signal[10] == 'A' ? "added" : "removed",
                                        object + strlen (DEVICES)));
    }
  else
    {
      g_autoptr (GVariant) changed = g_variant_get_child_value (params, 1);
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      g_autofree char *joined = NULL;
      GVariantIter iter;
      const char *name;

      g_variant_iter_init (&iter, changed);
      while (g_variant_iter_next (&iter, "{&sv}", &name, NULL))
        g_ptr_array_add (names, (gpointer) name);
      g_ptr_array_sort (names, compare_strings);
      g_ptr_array_add (names, NULL);
      joined = g_strjoinv (",", (char **) names->pdata);
      g_ptr_array_add (
          fx->signals,
          g_strdup_printf ("changed %s %s", path + strlen (DEVICES), joined));
    }
}

static void
subscribe (Fixture *fx)
{
  GDBusConnection *c = fx->bus->connection;

  fx->subscriptions[0] = g_dbus_connection_signal_subscribe (
      c, "io.github.pcipassd", "org.freedesktop.DBus.ObjectManager",
      "InterfacesAdded", PP_OBJECT_ROOT, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_signal, fx, NULL);
  fx->subscriptions[1] = g_dbus_connection_signal_subscribe (
      c, "io.github.pcipassd", "org.freedesktop.DBus.ObjectManager",
      "InterfacesRemoved", PP_OBJECT_ROOT, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_signal, fx, NULL);
  fx->subscriptions[2] = g_dbus_connection_signal_subscribe (
      c, "io.github.pcipassd", "org.freedesktop.DBus.Properties",
      "PropertiesChanged", NULL, DEVICE_IFACE, G_DBUS_SIGNAL_FLAGS_NONE,
      on_signal, fx, NULL);
}

static void
setup_with (Fixture *fx, const char *fixture)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = pp_testbed_fixture_path (fixture);
  g_autofree char *state = NULL;
  const char *args[] = { NULL, "--step-timeout=5", NULL };

  pp_testbed_clear (testbed);
  pp_testbed_load (testbed, path, &error);
  g_assert_no_error (error);
  fx->kernel = pp_fake_kernel_new (testbed);
  fx->state_dir = pp_test_make_state_dir ();
  state = g_strdup_printf ("--state-dir=%s", fx->state_dir);
  args[0] = state;

  fx->bus = pp_test_bus_new (TRUE);
  fx->signals = g_ptr_array_new_with_free_func (g_free);
  /* Subscribed before the daemon exists: nothing can be missed. */
  subscribe (fx);
  pp_test_bus_start_daemon (fx->bus, args);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  setup_with (fx, data);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autofree char *bindings
      = g_build_filename (fx->state_dir, "bindings", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (fx->subscriptions); i++)
    g_dbus_connection_signal_unsubscribe (fx->bus->connection,
                                          fx->subscriptions[i]);
  g_clear_pointer (&fx->bus, pp_test_bus_free);
  g_clear_pointer (&fx->kernel, pp_fake_kernel_free);
  g_clear_pointer (&fx->signals, g_ptr_array_unref);
  g_unlink (bindings);
  g_rmdir (fx->state_dir);
  g_free (fx->state_dir);
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Waits until the client has seen @n signals (more is an error found by
 * the caller's comparison), round-tripping to the daemon at the end so
 * that a signal it sent after those is seen too. */
static void
wait_signals (Fixture *fx, guint n)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add_seconds (PP_TEST_TIMEOUT, on_timeout, &timed_out);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  while (fx->signals->len < n && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (timed_out)
    g_error ("got %u signals, expected %u", fx->signals->len, n);
  g_source_remove (id);

  /* The daemon's reply comes after every signal it sent before. */
  reply = g_dbus_connection_call_sync (
      fx->bus->connection, "io.github.pcipassd", PP_OBJECT_ROOT "/manager",
      "org.freedesktop.DBus.Peer", "Ping", NULL, NULL, G_DBUS_CALL_FLAGS_NONE,
      -1, NULL, &error);
  g_assert_no_error (error);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* @expected must be sorted. */
static void
assert_signals (Fixture *fx, const char *const *expected)
{
  guint n = g_strv_length ((char **) expected);
  g_autoptr (GString) got = g_string_new (NULL);

  wait_signals (fx, n);
  /* Objects are announced in no particular order; what each gets is
   * exact. */
  g_ptr_array_sort (fx->signals, compare_strings);
  for (guint i = 0; i < fx->signals->len; i++)
    g_string_append_printf (got, "  %s\n",
                            (char *) g_ptr_array_index (fx->signals, i));
  if (fx->signals->len != n)
    g_error ("expected %u signals, got:\n%s", n, got->str);
  for (guint i = 0; i < n; i++)
    if (!g_str_equal (g_ptr_array_index (fx->signals, i), expected[i]))
      g_error ("signal %u is not \"%s\"; got:\n%s", i, expected[i], got->str);
  g_ptr_array_set_size (fx->signals, 0);
}

static void
assert_property (Fixture *fx,
                 const char *address,
                 const char *name,
                 const char *expected)
{
  g_autoptr (GVariant) value
      = pp_test_bus_get_property (fx->bus, address, name);
  g_autofree char *text = g_variant_print (value, FALSE);

  if (!g_str_equal (text, expected))
    g_error ("%s %s is %s, expected %s", address, name, text, expected);
}

static void
test_hot_add_gpu (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  /* Each function is announced complete; the group was not viable with
   * the GPU alone (nvidia), so the audio function joining it changes
   * nothing the GPU says. */
  const char *const expected[]
      = { "added pci_0000_c1_00_0", "added pci_0000_c1_00_1", NULL };

  /* An eGPU arrives with its HDMI audio, both in a new group. */
  pp_testbed_load_data (testbed,
                        "[0000:c1:00.0]\nvendor=10de\ndevice=2684\n"
                        "class=030000\ndriver=nvidia\niommu_group=90\n"
                        "boot_vga=0\nreset_method=flr bus\n"
                        "[0000:c1:00.1]\nvendor=10de\ndevice=22ba\n"
                        "class=040300\ndriver=snd_hda_intel\niommu_group=90\n",
                        -1, "egpu", &error);
  g_assert_no_error (error);
  assert_signals (fx, expected);

  /* Complete from the first moment: names, driver, group. */
  assert_property (fx, "0000:c1:00.0", "DeviceName",
                   "'AD102 [GeForce RTX 4090]'");
  assert_property (fx, "0000:c1:00.0", "Driver", "'nvidia'");
  assert_property (fx, "0000:c1:00.0", "IommuGroup", "90");
  assert_property (fx, "0000:c1:00.1", "IommuGroup", "90");
  assert_property (fx, "0000:c1:00.0", "GroupViable", "false");
  assert_property (fx, "0000:c1:00.1", "GroupViable", "false");
}

static void
test_driver_changed_behind_back (Fixture *fx, gconstpointer data)
{
  /* driverctl-style, by hand: override, unbind, bind. */
  const char *const after_bind[] = {
    "changed pci_0000_01_00_1 Driver,State",
    NULL,
  };

  pp_test_write_sysfs ("/sys/bus/pci/devices/0000:01:00.1/driver_override",
                       "vfio-pci");
  pp_fake_kernel_sync (fx->kernel);
  /* No uevent for an override: it shows with the next event. */
  pp_test_write_sysfs ("/sys/bus/pci/drivers/snd_hda_intel/unbind",
                       "0000:01:00.1");
  assert_signals (
      fx, (const char *const[]){
              "changed pci_0000_01_00_1 Driver,DriverOverride,State", NULL });

  pp_test_write_sysfs ("/sys/bus/pci/drivers/vfio-pci/bind", "0000:01:00.1");
  assert_signals (fx, after_bind);
  assert_property (fx, "0000:01:00.1", "Driver", "'vfio-pci'");
  assert_property (fx, "0000:01:00.1", "State", "'vfio'");
  /* The GPU still holds the group for the host. */
  assert_property (fx, "0000:01:00.1", "GroupViable", "false");

  /* The GPU follows: now every member changes GroupViable, each in one
   * signal of its own. */
  pp_test_write_sysfs ("/sys/bus/pci/devices/0000:01:00.0/driver_override",
                       "vfio-pci");
  pp_test_write_sysfs ("/sys/bus/pci/drivers/nvidia/unbind", "0000:01:00.0");
  assert_signals (fx, (const char *const[]){
                          "changed pci_0000_00_01_0 GroupViable",
                          "changed pci_0000_01_00_0 Driver,DriverOverride,"
                          "GroupViable,State",
                          "changed pci_0000_01_00_1 GroupViable", NULL });
}

/* A VM opening the group's node is no uevent: State follows all the
 * same, and goes back when the VM lets go. */
static void
test_vm_opens_group (Fixture *fx, gconstpointer data)
{
  int fd;

  /* The GPU and its audio function on vfio-pci, by hand. */
  const char *const moves[][2]
      = { { "0000:01:00.1", "snd_hda_intel" }, { "0000:01:00.0", "nvidia" } };

  for (guint i = 0; i < G_N_ELEMENTS (moves); i++)
    {
      g_autofree char *override = g_strdup_printf (
          "/sys/bus/pci/devices/%s/driver_override", moves[i][0]);
      g_autofree char *unbind
          = g_strdup_printf ("/sys/bus/pci/drivers/%s/unbind", moves[i][1]);

      pp_test_write_sysfs (override, "vfio-pci");
      pp_fake_kernel_sync (fx->kernel);
      pp_test_write_sysfs (unbind, moves[i][0]);
      pp_test_write_sysfs ("/sys/bus/pci/drivers/vfio-pci/bind", moves[i][0]);
      pp_test_bus_wait_property (fx->bus, moves[i][0], "State", "'vfio'");
    }
  wait_signals (fx, 0);
  g_ptr_array_set_size (fx->signals, 0);

  fd = pp_fake_kernel_open_group (fx->kernel, 2);
  g_assert_cmpint (fd, >=, 0);
  assert_signals (fx, (const char *const[]){ "changed pci_0000_01_00_0 State",
                                             "changed pci_0000_01_00_1 State",
                                             NULL });
  assert_property (fx, "0000:01:00.0", "State", "'in-use'");
  assert_property (fx, "0000:01:00.1", "State", "'in-use'");

  close (fd);
  assert_signals (fx, (const char *const[]){ "changed pci_0000_01_00_0 State",
                                             "changed pci_0000_01_00_1 State",
                                             NULL });
  assert_property (fx, "0000:01:00.0", "State", "'vfio'");
}

typedef struct
{
  gboolean done;
  GError *error;
} Pending;

static void
on_bind_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *p = user_data;
  GVariant *reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source),
                                                   result, &p->error);

  g_clear_pointer (&reply, g_variant_unref);
  p->done = TRUE;
}

static void
mock_call (Fixture *fx, const char *method, GVariant *args)
{
  g_autoptr (GError) error = NULL;
  GVariant *reply = g_dbus_connection_call_sync (
      fx->bus->connection, "org.freedesktop.PolicyKit1",
      "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.DBus.Mock",
      method, args, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

  g_assert_no_error (error);
  g_variant_unref (reply);
}

static void
test_removed_during_bind (Fixture *fx, gconstpointer data)
{
  g_autofree char *gpu = pp_testbed_get_devpath (testbed, "0000:01:00.0");
  g_autofree char *remote = NULL;
  const char *const allowed[] = { "io.github.pcipassd.bind", NULL };
  /* Its group loses a member; the audio function still keeps it from
   * being viable, so the others have nothing new to say. */
  const char *const removed[] = {
    "removed pci_0000_01_00_0",
    NULL,
  };
  Pending pending = { FALSE, NULL };
  gboolean timed_out = FALSE;
  guint id;

  pp_test_bus_set_allowed (fx->bus, allowed);
  /* polkit takes its time: the Bind is pending while the GPU goes. */
  mock_call (fx, "SimulateHang", g_variant_new ("(b)", TRUE));
  g_dbus_connection_call (fx->bus->connection, "io.github.pcipassd",
                          PP_OBJECT_ROOT "/devices/pci_0000_01_00_0",
                          DEVICE_IFACE, "Bind", g_variant_new ("(a{sv})", NULL),
                          G_VARIANT_TYPE ("(a(sss))"), G_DBUS_CALL_FLAGS_NONE,
                          -1, NULL, on_bind_reply, &pending);
  /* Messages are handled in order: once the daemon answers the ping in
   * here, it has handled the Bind and waits for polkit. */
  /* The Bind is waiting for polkit once the mock has the question. */
  pp_test_bus_wait_polkit_log (fx->bus, "CheckAuthorization");
  g_assert_false (pending.done);

  pp_fake_kernel_sync (fx->kernel);
  umockdev_testbed_uevent (testbed, gpu, "remove");
  umockdev_testbed_remove_device (testbed, gpu);
  assert_signals (fx, removed);

  mock_call (fx, "ReleaseHangingCalls", NULL);
  id = g_timeout_add_seconds (PP_TEST_TIMEOUT, on_timeout, &timed_out);
  while (!pending.done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (timed_out);
  g_source_remove (id);

  remote = g_dbus_error_get_remote_error (pending.error);
  g_assert_cmpstr (remote, ==, "io.github.pcipassd.Error.NotFound");
  g_clear_error (&pending.error);
  pp_fake_kernel_sync (fx->kernel);
  g_assert_cmpuint (pp_fake_kernel_get_n_writes (fx->kernel), ==, 0);
}

static void
test_reconcile (Fixture *fx, gconstpointer data)
{
  g_autofree char *root = umockdev_testbed_get_root_dir (testbed);
  g_autofree char *gpu = pp_testbed_get_devpath (testbed, "0000:01:00.0");
  g_autofree char *numa = g_build_filename (root, gpu, "numa_node", NULL);
  g_autoptr (GError) error = NULL;
  const char *const expected[] = { "changed pci_0000_01_00_0 NumaNode", NULL };

  /* Changed without a uevent, as after lost events: only a re-read
   * sees it, and then announces exactly the difference. */
  g_file_set_contents (numa, "1\n", -1, &error);
  g_assert_no_error (error);
  g_subprocess_send_signal (fx->bus->daemon, SIGHUP);
  assert_signals (fx, expected);
  assert_property (fx, "0000:01:00.0", "NumaNode", "1");

  /* Nothing changed: nothing announced. */
  g_subprocess_send_signal (fx->bus->daemon, SIGHUP);
  assert_signals (fx, (const char *const[]){ NULL });
}

static void
test_unknown_device (Fixture *fx, gconstpointer data)
{
  g_autofree char *gpu = pp_testbed_get_devpath (testbed, "0000:01:00.0");
  const char *const gone[] = {
    "removed pci_0000_01_00_0",
    NULL,
  };
  const char *const back[] = {
    "added pci_0000_01_00_0",
    NULL,
  };

  /* A "remove" the kernel did not mean (the device is still there), then
   * an event for a device the daemon no longer knows: it must have missed
   * something, so it re-reads sysfs and finds the GPU again. */
  umockdev_testbed_uevent (testbed, gpu, "remove");
  assert_signals (fx, gone);
  umockdev_testbed_uevent (testbed, gpu, "change");
  assert_signals (fx, back);
  assert_property (fx, "0000:01:00.0", "Driver", "'nvidia'");
}

static GVariant *
managed_objects (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  GVariant *reply = g_dbus_connection_call_sync (
      fx->bus->connection, "io.github.pcipassd", PP_OBJECT_ROOT,
      "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
      G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
      &error);

  g_assert_no_error (error);
  return reply;
}

static void
test_burst (Fixture *fx, gconstpointer data)
{
  g_autoptr (GString) topo = g_string_new (NULL);
  g_autoptr (GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GVariant) live = NULL;
  g_autoptr (GVariant) fresh = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *state = g_strdup_printf ("--state-dir=%s", fx->state_dir);
  const char *const args[] = { state, NULL };
  const guint n = 1000;

  /* 1000 NICs on four root buses, each in a group of its own. */
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *address = g_strdup_printf (
          "0000:%02x:%02x.%u", 0x40 + i / 256, (i / 8) % 32, i % 8);

      g_string_append_printf (topo,
                              "[%s]\nvendor=8086\ndevice=1572\n"
                              "class=020000\ndriver=i40e\n"
                              "iommu_group=%u\n",
                              address, 1000 + i);
      g_strdelimit (address, ":.", '_');
      g_ptr_array_add (expected, g_strdup_printf ("added pci_%s", address));
    }
  g_ptr_array_sort (expected, compare_strings);
  g_ptr_array_add (expected, NULL);

  pp_testbed_load_data (testbed, topo->str, -1, "burst", &error);
  g_assert_no_error (error);
  /* Every device announced once: none lost, none doubled. */
  assert_signals (fx, (const char *const *) expected->pdata);

  /* The tree built event by event is what a fresh start reads. */
  live = managed_objects (fx);
  pp_test_bus_stop_daemon (fx->bus);
  pp_test_bus_start_daemon (fx->bus, args);
  fresh = managed_objects (fx);
  g_assert_cmpuint (g_variant_n_children (g_variant_get_child_value (live, 0)),
                    ==, 10 + n + 1);
  g_assert_true (g_variant_equal (live, fresh));
}

/* Enables @n VFs of the PF 0000:c3:00.0 as the kernel does on a write
 * to sriov_numvfs: one after the other, each with its physfn link, in a
 * group of its own (200 + i) or all in @shared_group; the PF's virtfnN
 * links first.  Adds to @expected the signals that must follow, the
 * PF's included; appends the VFs' paths to @vfs as a printed "ao". */
static void
add_vfs (guint n, int shared_group, GPtrArray *expected, GString *vfs)
{
  g_autofree char *root = umockdev_testbed_get_root_dir (testbed);
  g_autofree char *pf = pp_testbed_get_devpath (testbed, "0000:c3:00.0");
  g_autofree char *parent = g_path_get_dirname (pf);
  g_autofree char *numvfs = g_build_filename (root, pf, "sriov_numvfs", NULL);
  g_autofree char *count = g_strdup_printf ("%u\n", n);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (numvfs, count, -1, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *address
          = g_strdup_printf ("0000:c3:%02x.%u", 2 + i / 8, i % 8);
      g_autofree char *link_name = g_strdup_printf ("virtfn%u", i);
      g_autofree char *link = g_build_filename (root, pf, link_name, NULL);
      g_autofree char *target = g_strdup_printf ("../%s", address);

      g_assert_cmpint (symlink (target, link), ==, 0);
    }
  g_string_append (vfs, "[");
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *address
          = g_strdup_printf ("0000:c3:%02x.%u", 2 + i / 8, i % 8);
      guint group = shared_group >= 0 ? (guint) shared_group : 200 + i;
      g_autofree char *group_dir = g_strdup_printf (
          "%s/sys/kernel/iommu_groups/%u/devices", root, group);
      g_autofree char *desc = g_strdup_printf (
          "P: %s/%s\nE: SUBSYSTEM=pci\nE: PCI_SLOT_NAME=%s\n"
          "E: PCI_ID=8086:154C\nE: PCI_CLASS=20000\n"
          "A: vendor=0x8086\\n\nA: device=0x154c\\n\n"
          "A: class=0x020000\\n\nA: driver_override=(null)\\n\n"
          "L: physfn=../0000:c3:00.0\n"
          "L: iommu_group=../../../../kernel/iommu_groups/%u\n",
          parent + strlen ("/sys"), address, address, group);
      g_autofree char *mangled = g_strdup (address);

      g_assert_cmpint (g_mkdir_with_parents (group_dir, 0755), ==, 0);
      umockdev_testbed_add_from_string (testbed, desc, &error);
      g_assert_no_error (error);
      g_strdelimit (mangled, ":.", '_');
      g_ptr_array_add (expected, g_strdup_printf ("added pci_%s", mangled));
      g_string_append_printf (vfs, "%s'/io/github/pcipassd/devices/pci_%s'",
                              i ? ", " : "", mangled);
    }
  g_string_append (vfs, "]");
  g_ptr_array_add (expected, g_strdup ("changed pci_0000_c3_00_0 "
                                       "VirtualFunctions"));
  g_ptr_array_sort (expected, compare_strings);
  g_ptr_array_add (expected, NULL);
}

static void
test_many_vfs (Fixture *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) vfs = g_string_new (NULL);

  add_vfs (64, -1, expected, vfs);
  assert_signals (fx, (const char *const *) expected->pdata);
  assert_property (fx, "0000:c3:00.0", "VirtualFunctions", vfs->str);
  assert_property (fx, "0000:c3:05.7", "PhysicalFunction",
                   "'/io/github/pcipassd/devices/pci_0000_c3_00_0'");
  assert_property (fx, "0000:c3:05.7", "IommuGroup", "231");
}

/* 64 VFs in one group (no ACS), their events queued while the daemon
 * cannot run: handled as one burst, the PF is re-read once, after every
 * VF is in, so its one PropertiesChanged comes last.  One event at a
 * time, it would come right after the first VF. */
static void
test_vf_burst_one_group (Fixture *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) expected = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) vfs = g_string_new (NULL);
  GPid pid = (GPid) atoi (g_subprocess_get_identifier (fx->bus->daemon));

  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  add_vfs (64, 300, expected, vfs);
  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  wait_signals (fx, 65);
  g_assert_cmpstr (g_ptr_array_index (fx->signals, 64), ==,
                   "changed pci_0000_c3_00_0 VirtualFunctions");
  assert_signals (fx, (const char *const *) expected->pdata);

  assert_property (fx, "0000:c3:00.0", "VirtualFunctions", vfs->str);
  assert_property (fx, "0000:c3:02.0", "IommuGroup", "300");
  assert_property (fx, "0000:c3:09.7", "IommuGroup", "300");
}

static void
setup_sriov (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  setup_with (fx, "workstation");
  /* A PF with SR-IOV and no VFs enabled yet. */
  pp_testbed_load_data (testbed,
                        "[0000:c2:00.0]\nvendor=8086\ndevice=1901\n"
                        "class=060400\ndriver=pcieport\niommu_group=98\n"
                        "[0000:c3:00.0]\nparent=0000:c2:00.0\nvendor=8086\n"
                        "device=1572\nclass=020000\ndriver=i40e\n"
                        "iommu_group=99\nsriov_totalvfs=64\n"
                        "sriov_numvfs=0\n",
                        -1, "sriov", &error);
  g_assert_no_error (error);
  wait_signals (fx, 2);
  g_ptr_array_set_size (fx->signals, 0);
}

static char *
read_line (GDataInputStream *in)
{
  g_autoptr (GError) error = NULL;
  gsize length;
  /* The client writes whole lines and flushes each: a blocking read of
   * one line returns as soon as it is written.  The test's timeout is
   * meson's. */
  char *line = g_data_input_stream_read_line (in, &length, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (line);
  return line;
}

static void
test_ctl_monitor (Fixture *fx, gconstpointer data)
{
  const char *const argv[]
      = { pp_test_pcipassctl_path (), "monitor", "--json", NULL };
  g_autoptr (GSubprocess) monitor = pp_test_spawn (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, argv);
  g_autoptr (GDataInputStream) out
      = g_data_input_stream_new (g_subprocess_get_stdout_pipe (monitor));
  g_autoptr (GDataInputStream) err
      = g_data_input_stream_new (g_subprocess_get_stderr_pipe (monitor));
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *ready = read_line (err);
  const char *const expected[] = {
    "{\"event\":\"changed\",\"address\":\"0000:01:00.1\",\"property\":"
    "\"Driver\",\"old\":\"snd_hda_intel\",\"new\":\"\"}",
    "{\"event\":\"changed\",\"address\":\"0000:01:00.1\",\"property\":"
    "\"State\",\"old\":\"host\",\"new\":\"unbound\"}",
    "{\"event\":\"added\",\"address\":\"0000:c1:00.0\"}",
    "{\"event\":\"removed\",\"address\":\"0000:c1:00.0\"}",
  };
  g_autoptr (GError) error = NULL;
  g_autofree char *egpu = NULL;

  g_assert_true (g_str_has_prefix (ready, "pcipassctl: monitoring 10 devices"));

  pp_test_write_sysfs ("/sys/bus/pci/drivers/snd_hda_intel/unbind",
                       "0000:01:00.1");
  for (guint i = 0; i < 2; i++)
    g_ptr_array_add (lines, read_line (out));
  g_ptr_array_sort (lines, compare_strings);
  for (guint i = 0; i < 2; i++)
    g_assert_cmpstr (g_ptr_array_index (lines, i), ==, expected[i]);
  g_ptr_array_set_size (lines, 0);

  pp_testbed_load_data (testbed,
                        "[0000:c1:00.0]\nvendor=10de\ndevice=2684\n"
                        "class=030000\niommu_group=90\n",
                        -1, "egpu", &error);
  g_assert_no_error (error);
  g_ptr_array_add (lines, read_line (out));
  g_assert_cmpstr (g_ptr_array_index (lines, 0), ==, expected[2]);

  egpu = pp_testbed_get_devpath (testbed, "0000:c1:00.0");
  pp_fake_kernel_sync (fx->kernel);
  umockdev_testbed_uevent (testbed, egpu, "remove");
  umockdev_testbed_remove_device (testbed, egpu);
  g_ptr_array_add (lines, read_line (out));
  g_assert_cmpstr (g_ptr_array_index (lines, 1), ==, expected[3]);

  g_subprocess_send_signal (monitor, SIGINT);
  g_assert_cmpint (pp_test_wait_process (monitor), ==, 0);
}

int
main (int argc, char **argv)
{
  int status;

  testbed = pp_testbed_new ();
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/hotplug/add-gpu", Fixture, "workstation", fixture_setup,
              test_hot_add_gpu, fixture_teardown);
  g_test_add ("/hotplug/driver-changed-behind-back", Fixture, "workstation",
              fixture_setup, test_driver_changed_behind_back, fixture_teardown);

  g_test_add ("/hotplug/vm-opens-group", Fixture, "workstation", fixture_setup,
              test_vm_opens_group, fixture_teardown);
  g_test_add ("/hotplug/removed-during-bind", Fixture, "workstation",
              fixture_setup, test_removed_during_bind, fixture_teardown);
  g_test_add ("/hotplug/reconcile", Fixture, "workstation", fixture_setup,
              test_reconcile, fixture_teardown);
  g_test_add ("/hotplug/unknown-device", Fixture, "workstation", fixture_setup,
              test_unknown_device, fixture_teardown);
  g_test_add ("/hotplug/burst-1000", Fixture, "workstation", fixture_setup,
              test_burst, fixture_teardown);
  g_test_add ("/hotplug/64-vfs-one-burst-one-group", Fixture, NULL, setup_sriov,
              test_vf_burst_one_group, fixture_teardown);
  g_test_add ("/hotplug/64-vfs", Fixture, NULL, setup_sriov, test_many_vfs,
              fixture_teardown);

  g_test_add ("/hotplug/pcipassctl-monitor", Fixture, "workstation",
              fixture_setup, test_ctl_monitor, fixture_teardown);

  status = g_test_run ();
  g_object_unref (testbed);
  return status;
}
