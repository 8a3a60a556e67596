/* How fast pcipassd follows the kernel.
 *
 * 1. Latency: 1000 "change" uevents, one at a time, each after changing
 *    the GPU's numa_node in the simulated sysfs; measured from just before
 *    the uevent is sent to the client receiving the PropertiesChanged.
 * 2. Burst: 1000 devices hot-added at once; measured from the first add
 *    to the client receiving the 1000th InterfacesAdded.
 *
 *   meson test -C build --benchmark bench-hotplug
 *
 * Like test-hotplug it runs in a private user+network namespace where the
 * unix datagram queue umockdev sends uevents through is long enough for a
 * burst (see tests/meson.build).
 */
#include "config.h"

#include "bench-stats.h"
#include "pp-test-bus.h"
#include "pp-testbed.h"

#include <glib/gstdio.h>
#include <stdlib.h>

typedef struct
{
  guint changes;
  guint added;
} Counts;

static void
on_signal (GDBusConnection *connection,
           const char *sender,
           const char *path,
           const char *iface,
           const char *signal,
           GVariant *params,
           gpointer user_data)
{
  Counts *counts = user_data;

  if (g_str_equal (signal, "PropertiesChanged"))
    counts->changes++;
  else
    counts->added++;
}

static gboolean
on_timeout (gpointer data)
{
  g_error ("timed out waiting for pcipassd's signals");
  return G_SOURCE_REMOVE;
}

static void
wait_for (guint *counter, guint target)
{
  guint id = g_timeout_add_seconds (120, on_timeout, NULL);

  while (*counter < target)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (id);
}

int
main (int argc, char **argv)
{
  g_autoptr (UMockdevTestbed) testbed = pp_testbed_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *fixture = pp_testbed_fixture_path ("workstation");
  g_autofree char *state_dir = pp_test_make_state_dir ();
  g_autofree char *state_arg = g_strdup_printf ("--state-dir=%s", state_dir);
  g_autofree char *gpu = NULL;
  g_autoptr (PpTestBus) bus = NULL;
  g_autoptr (GArray) latency = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GString) topo = g_string_new (NULL);
  const char *const args[] = { state_arg, NULL };
  guint n = argc > 1 ? (guint) atoi (argv[1]) : 1000;
  Counts counts = { 0, 0 };
  gint64 start;
  double burst_ms;
  double load_ms;

  pp_testbed_load (testbed, fixture, &error);
  g_assert_no_error (error);
  gpu = pp_testbed_get_devpath (testbed, "0000:01:00.0");

  bus = pp_test_bus_new (FALSE);
  g_dbus_connection_signal_subscribe (
      bus->connection, "io.github.pcipassd", "org.freedesktop.DBus.Properties",
      "PropertiesChanged", NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_signal,
      &counts, NULL);
  g_dbus_connection_signal_subscribe (
      bus->connection, "io.github.pcipassd",
      "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", NULL, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &counts, NULL);
  pp_test_bus_start_daemon (bus, args);

  for (guint i = 0; i < n; i++)
    {
      gint64 sent;
      double ms;

      umockdev_testbed_set_attribute (testbed, gpu, "numa_node",
                                      i % 2 ? "1" : "0");
      sent = g_get_monotonic_time ();
      umockdev_testbed_uevent (testbed, gpu, "change");
      wait_for (&counts.changes, i + 1);
      ms = (double) (g_get_monotonic_time () - sent) / 1000.0;
      g_array_append_val (latency, ms);
    }
  bench_sort (latency);

  for (guint i = 0; i < n; i++)
    g_string_append_printf (topo,
                            "[0000:%02x:%02x.%u]\nvendor=8086\ndevice=1572\n"
                            "class=020000\ndriver=i40e\niommu_group=%u\n",
                            0x40 + i / 256, (i / 8) % 32, i % 8, 1000 + i);
  start = g_get_monotonic_time ();
  pp_testbed_load_data (testbed, topo->str, -1, "burst", &error);
  g_assert_no_error (error);
  load_ms = (double) (g_get_monotonic_time () - start) / 1000.0;
  wait_for (&counts.added, n);
  burst_ms = (double) (g_get_monotonic_time () - start) / 1000.0;

  g_print ("uevent -> PropertiesChanged, %u events: median %.3f ms, p99 "
           "%.3f ms, max %.3f ms\n",
           n, bench_percentile (latency, 0.5), bench_percentile (latency, 0.99),
           bench_percentile (latency, 1.0));
  g_print ("burst of %u hot-added devices: all announced %.0f ms after the "
           "first add (the simulated kernel took %.0f ms to create them)\n",
           n, burst_ms, load_ms);

  pp_test_bus_stop_daemon (bus);
  g_rmdir (state_dir);
  return 0;
}
