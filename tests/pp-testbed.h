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
 *   block=nvme0n1 259:0      disks the function's driver registered, NAME
 *                            MAJ:MIN, ';'-separated; see "Children" below
 *   net=eno1                 network interfaces, ';'-separated
 *
 *   [host]
 *   drivers=vfio-pci;pci-stub  registered drivers that have no device
 *   iommu=dmar0;dmar1          IOMMU units listed in /sys/class/iommu
 *   mounts=259:2 /;259:1 /boot  mounted file systems, MAJ:MIN MOUNTPOINT,
 *                            ';'-separated: writes /proc/self/mountinfo
 *   default_route=eno1       interfaces carrying an IPv4 default route,
 *                            ';'-separated: writes /proc/net/route and
 *                            /proc/net/ipv6_route (link-local routes only)
 *   default_route6=eno1      interfaces carrying an IPv6 default route
 *                            (::/0 in /proc/net/ipv6_route); writes both
 *                            files too
 *   stacked=dm-0 253:0 nvme0n1;dm-1 253:1 dm-0
 *                            dm/md disks in devices/virtual/block, NAME
 *                            MAJ:MIN SLAVE[,SLAVE], each a slaves/ link to
 *                            a disk above or an earlier stacked one
 *   lowers=bond0 eno1,eno2   bonds and VLANs in devices/virtual/net with a
 *                            lower_IF link per interface below
 *   bridges=br0 eno1         bridges in devices/virtual/net, a brif/IF link
 *                            per port
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
 *
 * Children.  A disk named nvmeXnY sits below its NVMe controller,
 * PCIDEV/nvme/nvmeX/nvmeXnY (the controller is a device of subsystem nvme
 * whose "device" link points at the function); any other disk sits in
 * PCIDEV/block/NAME.  A disk has SUBSYSTEM=block, DEVTYPE=disk, DEVNAME,
 * MAJOR, MINOR, a "dev" attribute "259:0\n", empty holders/ and slaves/,
 * and the links /sys/dev/block/259:0, /sys/class/block/NAME and
 * /sys/block/NAME.  Readlink of /sys/dev/block/259:0 gives
 * "../../devices/pci0000:00/0000:00:1b.0/0000:02:00.0/nvme/nvme0/nvme0n1",
 * whose components name every PCI function on the way.  An interface is
 * PCIDEV/net/IFNAME with SUBSYSTEM=net, INTERFACE, IFINDEX, the usual
 * attributes (address, mtu, operstate...), a "device" link
 * ("../../../0000:00:1f.6") and /sys/class/net/IFNAME.  Disk names, their
 * numbers and interface names must be unique in the file.
 *
 * Host files.  umockdev redirects a /proc path only when the testbed has
 * that file, so without the key the host's real file shows through.
 * mountinfo lists the fixture's mounts in the kernel's format ("ID PARENT
 * MAJ:MIN / MOUNTPOINT OPTIONS - ext4 SOURCE SUPEROPTIONS") next to
 * sysfs, proc, devtmpfs and tmpfs mounts of major 0; the mount on "/"
 * comes first, and without one the root is an overlay of major 0.
 * SOURCE is /dev/NAME of the fixture's disk with that number, else
 * /dev/block/MAJ:MIN.  An empty "mounts=" still writes the file.  route has the
 * kernel's header, and per interface N (from 1) a default route via 192.168.N.1
 * and the non-default route of 192.168.N.0/24; ipv6_route has only link-local
 * routes, so that no default route of this machine shows through.
 *
 * VFIO groups.  An IOMMU group with a device bound to vfio-pci (or a
 * variant) has its node /dev/vfio/N, as on a real host; see
 * pp_testbed_add_vfio_group().
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

/* Same as pp_testbed_load() without the PCI functions' "add" uevents
 * (each costs umockdev a round trip): for a host built before anything
 * listens, such as a benchmark's thousands of functions. */
gboolean pp_testbed_load_quietly (UMockdevTestbed *tb,
                                  const char *fixture_path,
                                  GError **error);

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

/* The testbed's root directory, for working on its files directly (which
 * must never be done through "/sys/..." paths: the preload redirects
 * open() but not unlink(), symlink() or rename()).  When the root lies
 * under /dev (TMPDIR=/dev/shm) it is spelled /proc/self/root/dev/...,
 * because the preload treats every open() of a path starting with
 * "/dev/" as one of a device node, in a way that is not thread-safe. */
char *pp_testbed_get_root (UMockdevTestbed *tb);

/* TRUE for "vfio-pci" and its variant drivers ("mlx5_vfio_pci"...), the
 * drivers that give an IOMMU group a VFIO node. */
gboolean pp_testbed_is_vfio_driver (const char *driver);

/* Creates IOMMU group @group's VFIO node as vfio-pci does when it binds
 * the group's first device: the class device /sys/devices/virtual/vfio/N
 * (SUBSYSTEM=vfio, DEVNAME=vfio/N, MAJOR 243, MINOR N) with its "dev"
 * attribute, /sys/class/vfio/N, /sys/dev/char/243:N and /dev/vfio/N, all
 * before the "add" uevent.  The node is an empty regular file
 * (stat() through the preload reports a character device, /proc/PID/fd
 * the regular file, with the same device and inode numbers), so a
 * process can hold it open and another can find it the way the daemon
 * does.  Does nothing when the group already has its node. */
gboolean
pp_testbed_add_vfio_group (UMockdevTestbed *tb, int group, GError **error);

/* Sends the "remove" uevent of group @group's VFIO node, then deletes
 * what pp_testbed_add_vfio_group() made.  Does nothing when it is absent.
 * An open file descriptor of the node stays valid, as on Linux. */
void pp_testbed_remove_vfio_group (UMockdevTestbed *tb, int group);

G_END_DECLS
