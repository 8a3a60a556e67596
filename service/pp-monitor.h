/* PpMonitor: the kernel's uevents for PCI devices and VFIO groups,
 * delivered on the main loop.
 *
 * Created before the first enumeration, so that nothing happening during
 * it is lost, with a large receive buffer; a socket that overflowed all
 * the same is reported, so the owner can re-read everything.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PP_TYPE_MONITOR (pp_monitor_get_type ())
G_DECLARE_FINAL_TYPE (PpMonitor, pp_monitor, PP, MONITOR, GObject)

/* Signals:
 *   "uevent" (const char *action, const char *subsystem,
 *             const char *sysname, const char *syspath)
 *       sysname is the PCI address, or the VFIO group ("12", "noiommu-3").
 *   "overflow" ()
 *       events were lost: the receive buffer overflowed. */
PpMonitor *pp_monitor_new (GError **error);

G_END_DECLS
