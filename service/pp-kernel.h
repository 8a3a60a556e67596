/* PpKernel: the only code that writes to sysfs.
 *
 * It carries out the kernel's sequences for moving one PCI function to
 * vfio-pci and back (../shared/notes/kernel.md §1): driver_override, the
 * device's driver/unbind, vfio-pci's bind, drivers_probe, with values it
 * generates itself.  After each write it confirms the new state (re-reads
 * the driver link or the override) before the next one, waiting on
 * uevents with a timeout, because bindings may complete after the write
 * returns.  The sequences block: run them in a worker thread.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PP_VFIO_DRIVER "vfio-pci"

#define PP_TYPE_KERNEL (pp_kernel_get_type ())
G_DECLARE_FINAL_TYPE (PpKernel, pp_kernel, PP, KERNEL, GObject)

/* @read_only refuses every write with PP_ERROR_READ_ONLY.  @step_timeout_ms
 * bounds the wait for each step's confirmation. */
PpKernel *pp_kernel_new (gboolean read_only, guint step_timeout_ms);

gboolean pp_kernel_get_read_only (PpKernel *self);

/* The bound on each step's confirmation, in ms. */
guint pp_kernel_get_step_timeout (PpKernel *self);

/* TRUE when @name can be a driver's name in a sysfs path: only
 * [A-Za-z0-9_.-], not "." or "..", at most 64 bytes, and "" only with
 * @allow_empty.  Checked before any name read back from a file becomes
 * part of a path or a written value. */
gboolean pp_kernel_driver_name_is_valid (const char *name,
                                         gboolean allow_empty);

/* TRUE when vfio-pci is registered with the PCI bus (module or built-in). */
gboolean pp_kernel_vfio_registered (PpKernel *self);

/* The device's current driver ("" when unbound) and driver_override
 * ("" when unset), read now. */
char *pp_kernel_read_driver (const char *address);
char *pp_kernel_read_override (const char *address);

/* Moves @address to vfio-pci: override, unbind, bind, each confirmed.
 * Does nothing for a device already on vfio-pci.  Errors: VfioUnavailable,
 * Kernel (names the file and the errno text, or the timeout), NotFound
 * (the device went away), ReadOnly. */
gboolean
pp_kernel_bind_vfio (PpKernel *self, const char *address, GError **error);

/* Gives @address back: restores @override ("" clears it), unbinds from
 * its current driver, and reprobes until @driver is bound (for "" the
 * device is left unbound; for NULL, the original is unknown and whatever
 * the kernel probes is accepted).  Does nothing for a device already
 * there. */
gboolean pp_kernel_restore (PpKernel *self,
                            const char *address,
                            const char *driver,
                            const char *override,
                            GError **error);

/* Writes @value to @path with one write(2).  Only the files of the
 * sequences are accepted (driver_override, bind, unbind, drivers_probe
 * under /sys). */
gboolean pp_kernel_write (PpKernel *self,
                          const char *path,
                          const char *value,
                          GError **error);

G_END_DECLS
