/* A simulated kernel for the PCI binding files of a pp-testbed.
 *
 * The code under test (pcipassd, usually another process under the same
 * UMOCKDEV_DIR) writes driver_override, drivers/X/bind, drivers/X/unbind
 * and drivers_probe as on a real host; those writes land in plain files of
 * the testbed.  The fake kernel watches them with inotify in its own
 * thread, and answers each one by the rules of Linux 6.12
 * (/work/shared/notes/kernel.md, sections 1-4): it moves the driver links,
 * edits DRIVER= in the uevent file, sends "bind" and "unbind" uevents, and
 * creates and removes the VFIO group nodes /dev/vfio/N with their "add"
 * and "remove" uevents.  Everything happens a moment after the write
 * returns, so the code under test must wait for the new state (a uevent,
 * or the driver link) as it must on a real kernel.
 *
 * The rules:
 * - driver_override is stored and reads back as the kernel shows it
 *   ("vfio-pci\n", "(null)\n" when unset); "\n" clears it.  It neither
 *   binds nor unbinds.
 * - drivers/X/unbind with ADDR unbinds ADDR when X drives it.  When X is
 *   vfio-pci (or a variant) and no other member of the IOMMU group is left
 *   on one, the group's /dev/vfio/N goes first, with its "remove" uevent.
 * - drivers/X/bind with ADDR binds when ADDR is unbound and X matches it:
 *   X is its driver_override, or, with no override, X is its "native"
 *   driver, the one it had when the fake kernel first saw it (vfio-pci's
 *   own table matches nothing; a device the fixture puts on vfio-pci
 *   without an override behaves as if vfio-pci had a new_id for it).
 *   vfio-pci and its variants refuse a device without the normal header
 *   type (bridges), without an IOMMU group, or a PF with VFs enabled.  A
 *   driver that does not leave DMA to VFIO (anything but vfio-pci and
 *   variants, pci-stub, pcieport) does not bind while the group's
 *   /dev/vfio/N is open in some process: that is DMA ownership.  A VF
 *   whose PF has sriov_drivers_autoprobe 0 binds only with an override.
 *   Binding vfio-pci creates /dev/vfio/N with an "add" uevent of
 *   subsystem vfio before the device's "bind" uevent.
 * - drivers_probe with ADDR binds an unbound device to its override, or
 *   without one to its native driver, by the same rules.
 * A write that the kernel would refuse changes nothing (the errno cannot be
 * returned to the writer; the write itself always succeeds).
 *
 * Threads: the fake kernel uses the testbed from its own thread, so the
 * test must not call the UMockdevTestbed or pp_testbed API while it runs
 * without calling pp_fake_kernel_sync() first (and must not write to the
 * testbed through the API while the code under test may be writing).
 * Devices added afterwards need pp_fake_kernel_rescan().  Free the fake
 * kernel before the testbed.
 *
 * libumockdev-preload (0.17) keeps the descriptors it wraps (netlink
 * sockets, opened /dev nodes of the testbed) in tables without a lock: a
 * thread registering one while another thread close()s a descriptor can
 * abort the process with "fd_map_remove(): did not find fd N".  The fake
 * kernel's thread closes files all the time, so in the process that runs
 * it create libudev monitors before pp_fake_kernel_new() (or after
 * pp_fake_kernel_free()), and open VFIO nodes with
 * pp_fake_kernel_open_group(), which bypasses the preload.  The code under
 * test in another process is not affected by this thread.
 */
#pragma once

#include <glib.h>
#include <umockdev.h>

G_BEGIN_DECLS

typedef struct _PpFakeKernel PpFakeKernel;

/* Starts the kernel thread on @tb (which it keeps a reference to) and
 * returns once every file is watched, so no write made afterwards is
 * missed.  Each device's current driver becomes its native driver.
 * Aborts unless the process runs under libumockdev-preload. */
PpFakeKernel *pp_fake_kernel_new (UMockdevTestbed *tb);

void pp_fake_kernel_free (PpFakeKernel *k);

/* Returns once the kernel thread has handled every write that completed
 * before the call, and the uevents of those writes have been sent.  Must
 * not be called from the kernel thread. */
void pp_fake_kernel_sync (PpFakeKernel *k);

/* Picks up devices and drivers added to the testbed since the last scan
 * (snapshotting the new devices' native drivers), and forgets removed
 * ones.  Synchronous. */
void pp_fake_kernel_rescan (PpFakeKernel *k);

/* While @stuck, writes that would bind @address (drivers/X/bind,
 * drivers_probe) are consumed and counted but never complete, as when a
 * probe hangs: for the code under test's timeouts and rollback.  Unbind
 * still works.  Takes effect for writes handled after the call. */
void
pp_fake_kernel_set_stuck (PpFakeKernel *k, const char *address, gboolean stuck);

/* Binds of @address (drivers/X/bind, drivers_probe) are held back, as a
 * slow probe would hold them, until pp_fake_kernel_release(): for tests
 * that need an operation to be running while they act. */
void pp_fake_kernel_hold (PpFakeKernel *k, const char *address);

/* How many binds have been held back so far, after a
 * pp_fake_kernel_sync(). */
guint pp_fake_kernel_get_n_held (PpFakeKernel *k);

/* Carries out every bind held back, and holds nothing from then on. */
void pp_fake_kernel_release (PpFakeKernel *k);

/* The next write naming @address (its driver_override, or ADDR written
 * to a bind, unbind or drivers_probe file) removes the device instead of
 * acting, as a hot-unplug in the middle of an operation would: it is
 * unbound (with its "unbind" uevent and VFIO group teardown), "remove"
 * uevents go out for it and the devices below it, deepest first, and the
 * testbed drops it, with every link that pointed at it and its IOMMU group
 * if it was the last member. */
void pp_fake_kernel_set_vanish_on_bind (PpFakeKernel *k, const char *address);

/* How many writes to the watched files the kernel has handled, refused
 * and stuck ones included, after a pp_fake_kernel_sync().  Its own
 * rewrites of driver_override do not count. */
guint pp_fake_kernel_get_n_writes (PpFakeKernel *k);

/* Opens IOMMU group @group's node /dev/vfio/N in the testbed, as a VM
 * would, after a pp_fake_kernel_sync(): while the descriptor is open the
 * group counts as in use (for the daemon's scan of /proc/PID/fd and for
 * DMA ownership here).  Returns the descriptor (O_CLOEXEC), or -1 with
 * errno set (ENOENT when the group has no node).  Close it with close(). */
int pp_fake_kernel_open_group (PpFakeKernel *k, int group);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpFakeKernel, pp_fake_kernel_free)

G_END_DECLS
