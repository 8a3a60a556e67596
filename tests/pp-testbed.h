/* Simulated PCI hosts for the test rig, built on umockdev.
 *
 * A fixture (tests/fixtures/NAME.topo) is a GKeyFile describing one host.
 * Each group is one PCI function, named by its canonical address
 * ("%04x:%02x:%02x.%x"; a VMD domain has five digits, "10000:01:00.0"):
 *
 *   [0000:01:00.0]
 *   parent=0000:00:01.0      upstream bridge; absent = on root bus pciDDDD:BB.
 *                            A parent in another domain is a VMD controller:
 *                            the domain's root bus sits inside its directory.
 *   vendor=10de              required, hex
 *   device=2684              required, hex
 *   class=030000             required, 24-bit hex with prog-if
 *   revision=a1              default 00
 *   subsystem=1458:408e      default 0000:0000
 *   driver=nvidia            absent = unbound
 *   driver_override=vfio-pci absent = "(null)"
 *   iommu_group=12           absent = no IOMMU group (devices behind VMD)
 *   numa_node=0              default -1
 *   boot_vga=1               absent = no boot_vga file (non-VGA devices)
 *   reset_method=flr bus     absent = no reset_method file
 *   physfn=0000:3b:00.0      SR-IOV VF only, with vf_index=N
 *   sriov_totalvfs=64        SR-IOV PF only, with sriov_numvfs=N (must match
 *                            the number of VFs naming it as physfn)
 *
 *   [host]
 *   drivers=vfio-pci;pci-stub  registered drivers that have no device
 *   iommu=dmar0;dmar1          IOMMU units listed in /sys/class/iommu
 *
 * Comments start with '#', also after a value ("vendor=10de  # NVIDIA").
 * Unknown groups and keys are errors, so typos do not pass silently.
 *
 * Devices are created parents first whatever their order in the file, with
 * the attributes, uevent properties, 64-byte config header and links
 * (driver, iommu_group, physfn, virtfnN, subsystem, bus/pci/devices/ADDR)
 * the kernel would show, so libudev and lspci see a believable host.
 * Driver directories also get a link per bound device, like the kernel's;
 * a fake kernel that rebinds must keep those in step.
 */
#pragma once

#include <glib.h>
#include <umockdev.h>

G_BEGIN_DECLS

/* Creates a testbed with the static parts of a PCI sysfs (drivers_probe,
 * drivers/, kernel/iommu_groups/).  Aborts with g_error() unless the
 * process runs under libumockdev-preload: without it every /sys access
 * would reach this machine's real sysfs. */
UMockdevTestbed *pp_testbed_new (void);

/* Removes every device, driver and group but keeps the testbed (and so
 * UMOCKDEV_DIR, which hides the real /sys) alive; recreates the static
 * parts.  Lets one process run many tests on one testbed. */
void pp_testbed_clear (UMockdevTestbed *tb);

/* Adds the host described by the fixture at @fixture_path.  The file is
 * validated completely before anything is created, so on failure the
 * testbed is unchanged and @error, in the G_KEY_FILE_ERROR domain for
 * problems in the file, names the file, group and key. */
gboolean
pp_testbed_load (UMockdevTestbed *tb, const char *fixture_path, GError **error);

/* Same as pp_testbed_load() for a fixture held in memory; @source_name is
 * used in error messages. */
gboolean pp_testbed_load_data (UMockdevTestbed *tb,
                               const char *data,
                               gssize length,
                               const char *source_name,
                               GError **error);

/* Absolute path of tests/fixtures/NAME.topo (".topo" is optional in
 * @name).  The directory comes from the environment variable
 * PP_FIXTURES_DIR when set, else from the build. */
char *pp_testbed_fixture_path (const char *name);

/* The device path of @address as umockdev wants it
 * ("/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0"), or NULL when the
 * testbed has no such device. */
char *pp_testbed_get_devpath (UMockdevTestbed *tb, const char *address);

G_END_DECLS
