/* Devices as resources: how long Manager.Allocate takes, and a restart of
 * a daemon that holds leases and persistent bindings.
 *
 * Allocate: the simulated gpu-server (eight A10s, a group each but one
 * pair), its catalog naming them gpu.nvidia/a10; Allocate of 1 and of 8
 * devices, each ROUNDS times (default 20), timed as the client sees it,
 * and given back between rounds (Unbind, Release, not timed).
 *
 * Restart: a generated host of 256 functions (bench/gen-host), its 230
 * E810 VFs named network.intel/e810-vf; 100 of them allocated (leased,
 * bound) and bound persistently; then the time from starting pcipassd to
 * its owning the bus name, (a) as it finds them, on vfio-pci, and (b)
 * after a "reboot" that put them back on their host drivers, when it
 * binds all 100 again before it owns the name.
 *
 *   meson test -C build --benchmark bench-allocate
 *   build/bench/bench-allocate [ROUNDS]     (under the umockdev preload)
 */
#include "config.h"

#include "bench-stats.h"
#include "pp-address.h"
#include "pp-fake-kernel.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#define MANAGER_PATH "/io/github/pcipassd/manager"

static const char gpu_catalog[]
    = "vendors:\n"
      "  - id: '10de'\n"
      "    name: nvidia\n"
      "    devices:\n"
      "      - {id: '2236', name: a10, type: gpu}\n";
static const char vf_catalog[]
    = "vendors:\n"
      "  - id: '8086'\n"
      "    name: intel\n"
      "    devices:\n"
      "      - {id: '1889', name: e810-vf, type: network}\n";

static const char *const allowed[] = {
  "io.github.pcipassd.bind",
  "io.github.pcipassd.unbind",
  "io.github.pcipassd.reserve",
  "io.github.pcipassd.manage",
  NULL,
};

static GVariant *
call (PpTestBus *bus,
      const char *path,
      const char *interface,
      const char *method,
      GVariant *parameters)
{
  g_autoptr (GError) error = NULL;
  GVariant *reply = g_dbus_connection_call_sync (
      bus->connection, "io.github.pcipassd", path, interface, method,
      parameters, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

  if (reply == NULL)
    g_error ("%s failed: %s", method, error->message);
  return reply;
}

/* Allocate; returns the object paths given. */
static GStrv
allocate (PpTestBus *bus, const char *resource, guint count, const char *owner)
{
  g_autoptr (GVariant) reply
      = call (bus, MANAGER_PATH, "io.github.pcipassd1.Manager", "Allocate",
              g_variant_new ("(susa{sv})", resource, count, owner, NULL));
  GStrv paths = NULL;

  g_variant_get (reply, "(^ao)", &paths);
  if (g_strv_length (paths) != count)
    g_error ("Allocate gave %u devices, not %u", g_strv_length (paths), count);
  return paths;
}

static void
device_call (PpTestBus *bus,
             const char *path,
             const char *method,
             const char *options)
{
  /* Not floating: the tuple takes a reference of its own. */
  g_autoptr (GVariant) parsed
      = g_variant_parse (G_VARIANT_TYPE_VARDICT, options, NULL, NULL, NULL);
  GVariant *opts = parsed;

  g_variant_unref (call (bus, path, "io.github.pcipassd1.Device", method,
                         g_variant_new_tuple (&opts, 1)));
}

static char *
start (PpTestBus *bus, const char *state_dir, const char *catalog)
{
  g_autofree char *state = g_strdup_printf ("--state-dir=%s", state_dir);
  g_autofree char *catalog_arg = g_strdup_printf ("--catalog=%s", catalog);
  const char *const args[] = { state, catalog_arg, NULL };
  gint64 t0 = g_get_monotonic_time ();

  pp_test_bus_start_daemon (bus, args);
  return g_strdup_printf ("%.1f", (g_get_monotonic_time () - t0) / 1000.0);
}

static void
bench_allocate (guint rounds)
{
  g_autoptr (UMockdevTestbed) testbed = pp_testbed_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *fixture = pp_testbed_fixture_path ("gpu-server");
  g_autofree char *state_dir = pp_test_make_state_dir ();
  g_autofree char *catalog = g_build_filename (state_dir, "devices.yaml", NULL);
  g_autoptr (PpFakeKernel) kernel = NULL;
  g_autoptr (PpTestBus) bus = NULL;
  g_autofree char *started = NULL;
  const guint counts[] = { 1, 8 };

  pp_testbed_load (testbed, fixture, &error);
  g_assert_no_error (error);
  kernel = pp_fake_kernel_new (testbed);
  g_assert_true (g_file_set_contents (catalog, gpu_catalog, -1, NULL));
  bus = pp_test_bus_new (TRUE);
  pp_test_bus_set_allowed (bus, allowed);
  started = start (bus, state_dir, catalog);

  for (guint c = 0; c < G_N_ELEMENTS (counts); c++)
    {
      g_autoptr (GArray) ms = g_array_new (FALSE, FALSE, sizeof (double));

      for (guint i = 0; i < rounds; i++)
        {
          gint64 t0 = g_get_monotonic_time ();
          g_auto (GStrv) paths
              = allocate (bus, "gpu.nvidia/a10", counts[c], "vm-bench");
          double elapsed = (g_get_monotonic_time () - t0) / 1000.0;

          g_array_append_val (ms, elapsed);
          for (char **p = paths; *p != NULL; p++)
            {
              device_call (bus, *p, "Unbind", "{'owner': <'vm-bench'>}");
              device_call (bus, *p, "Release", "{'owner': <'vm-bench'>}");
            }
        }
      bench_sort (ms);
      g_print ("Allocate of %u (gpu-server, %u rounds): median %.2f ms, "
               "p90 %.2f ms, min %.2f ms, max %.2f ms\n",
               counts[c], rounds, bench_percentile (ms, 0.5),
               bench_percentile (ms, 0.9), bench_percentile (ms, 0.0),
               bench_percentile (ms, 1.0));
    }
  pp_test_bus_stop_daemon (bus);
  g_clear_pointer (&bus, pp_test_bus_free);
  g_clear_pointer (&kernel, pp_fake_kernel_free);
}

static void
reboot (GStrv paths)
{
  for (char **p = paths; *p != NULL; p++)
    {
      g_autofree char *address = pp_address_from_object_path (*p);
      g_autofree char *override = NULL;

      g_assert_nonnull (address);
      override = g_strdup_printf ("/sys/bus/pci/devices/%s/driver_override",
                                  address);
      pp_test_write_sysfs (override, "\n");
      pp_test_write_sysfs ("/sys/bus/pci/drivers/vfio-pci/unbind", address);
      pp_test_write_sysfs ("/sys/bus/pci/drivers_probe", address);
    }
}

static void
bench_restart (const char *gen_host, guint rounds)
{
  g_autoptr (UMockdevTestbed) testbed = pp_testbed_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *state_dir = pp_test_make_state_dir ();
  g_autofree char *catalog = g_build_filename (state_dir, "devices.yaml", NULL);
  g_autofree char *topo = g_build_filename (state_dir, "host.topo", NULL);
  g_autoptr (PpFakeKernel) kernel = NULL;
  g_autoptr (PpTestBus) bus = NULL;
  g_autoptr (GArray) plain = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) rebooted = g_array_new (FALSE, FALSE, sizeof (double));
  g_auto (GStrv) paths = NULL;
  g_autofree char *first = NULL;
  const char *const gen[]
      = { "/usr/bin/python3", gen_host, "256", "-o", topo, NULL };
  int status;

  g_assert_true (g_spawn_sync (NULL, (char **) gen, NULL,
                               G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL,
                               NULL, &status, &error));
  g_assert_no_error (error);
  pp_testbed_load (testbed, topo, &error);
  g_assert_no_error (error);
  kernel = pp_fake_kernel_new (testbed);
  g_assert_true (g_file_set_contents (catalog, vf_catalog, -1, NULL));
  bus = pp_test_bus_new (TRUE);
  pp_test_bus_set_allowed (bus, allowed);
  first = start (bus, state_dir, catalog);

  paths = allocate (bus, "network.intel/e810-vf", 100, "vm-bench");
  for (char **p = paths; *p != NULL; p++)
    device_call (bus, *p, "Bind",
                 "{'persistent': <true>, 'owner': <'vm-bench'>}");

  for (guint i = 0; i < rounds; i++)
    {
      g_autofree char *ms = NULL;
      double value;

      pp_test_bus_stop_daemon (bus);
      ms = start (bus, state_dir, catalog);
      value = g_ascii_strtod (ms, NULL);
      g_array_append_val (plain, value);

      pp_test_bus_stop_daemon (bus);
      pp_fake_kernel_sync (kernel);
      reboot (paths);
      pp_fake_kernel_sync (kernel);
      g_clear_pointer (&ms, g_free);
      ms = start (bus, state_dir, catalog);
      value = g_ascii_strtod (ms, NULL);
      g_array_append_val (rebooted, value);
      /* Bound again, every one, before the name was owned. */
      for (char **p = paths; *p != NULL; p++)
        {
          g_autoptr (GVariant) reply = call (
              bus, *p, "org.freedesktop.DBus.Properties", "Get",
              g_variant_new ("(ss)", "io.github.pcipassd1.Device", "Driver"));
          g_autoptr (GVariant) driver = NULL;

          g_variant_get (reply, "(v)", &driver);
          if (!g_str_equal (g_variant_get_string (driver, NULL), "vfio-pci"))
            g_error ("%s is on %s after the restart", *p,
                     g_variant_get_string (driver, NULL));
        }
    }
  bench_sort (plain);
  bench_sort (rebooted);
  g_print ("Start with 100 leases and 100 persistent bindings (256 "
           "functions, %u rounds; first start without them %s ms):\n",
           rounds, first);
  g_print ("  devices still on vfio-pci: median %.1f ms, max %.1f ms\n",
           bench_percentile (plain, 0.5), bench_percentile (plain, 1.0));
  g_print ("  after a reboot, all 100 bound again before the name is "
           "owned: median %.1f ms, max %.1f ms\n",
           bench_percentile (rebooted, 0.5), bench_percentile (rebooted, 1.0));
  pp_test_bus_stop_daemon (bus);
}

int
main (int argc, char **argv)
{
  guint rounds = argc > 1 ? (guint) atoi (argv[1]) : 20;

  if (rounds == 0)
    g_error ("usage: bench-allocate [ROUNDS]");
  bench_allocate (rounds);
  bench_restart (PP_GEN_HOST, MIN (rounds, 5));
  return EXIT_SUCCESS;
}
