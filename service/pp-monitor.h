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
 *       events were lost: the receive buffer overflowed.
 *   "burst-begin" (), "burst-end" ()
 *       around the events of one wakeup: all those queued at once. */
PpMonitor *pp_monitor_new (GError **error);

/* What an event's fields ask of the model. */
typedef enum
{
  PP_UEVENT_IGNORE,     /* not ours, or fields no kernel would send */
  PP_UEVENT_PCI_ADD,    /* read the new device */
  PP_UEVENT_PCI_REMOVE, /* drop it: its directory is gone */
  PP_UEVENT_PCI_CHANGE, /* bind, unbind, change...: re-read it */
  PP_UEVENT_VFIO_GROUP, /* a VFIO group node came or went */
} PpUeventKind;

/* Classifies an event from its fields, which may be any text or NULL.  A
 * PCI event's sysname must be a canonical address (set in @address); a
 * VFIO event's must be "N" or "noiommu-N" (N in @group). */
PpUeventKind pp_monitor_classify (const char *action,
                                  const char *subsystem,
                                  const char *sysname,
                                  char **address,
                                  int *group);

G_END_DECLS
