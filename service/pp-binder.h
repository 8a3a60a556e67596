/* PpBinder: Bind and Unbind as the model sees them.
 *
 * Plans which devices move (the whole IOMMU group's endpoints by default;
 * bridges stay), serializes operations per group, records each device's
 * original driver in the store before touching it, runs PpKernel's
 * sequences in a worker thread, and rolls a failed Bind back so it is all
 * or nothing.  It knows nothing of D-Bus or polkit.
 */
#pragma once

#include "pp-kernel.h"
#include "pp-registry.h"
#include "pp-store.h"

G_BEGIN_DECLS

typedef enum
{
  PP_OPERATION_BIND,
  PP_OPERATION_UNBIND,
} PpOperation;

/* One device's move. */
typedef struct
{
  char *address;
  char *from;     /* driver before, "" when unbound */
  char *to;       /* driver after; for Unbind of a device pcipassd did not
                     move, "" until done (whatever the kernel probes) */
  char *override; /* driver_override before (Bind) or to restore (Unbind) */
  gboolean known; /* Unbind: the original driver is on record */
} PpStep;

void pp_step_free (PpStep *step);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpStep, pp_step_free)

#define PP_TYPE_BINDER (pp_binder_get_type ())
G_DECLARE_FINAL_TYPE (PpBinder, pp_binder, PP, BINDER, GObject)

PpBinder *
pp_binder_new (PpRegistry *registry, PpKernel *kernel, PpStore *store);

/* Matches the records with what sysfs shows, after a restart or a crash.
 * An operation the daemon died in is settled first, so the host ends in
 * the state before it or after it: an interrupted Unbind is finished; an
 * interrupted Bind is finished if every device reached vfio-pci (or its
 * group is in use), else undone.  Then a device back on its original
 * driver drops its record; any other keeps it, so Unbind can still
 * restore it.  Blocks on sysfs: call before the name is owned.  Publishes
 * OriginalDriver. */
void pp_binder_reconcile (PpBinder *self);

/* The steps @op would take for @device, changing nothing.  Errors:
 * IommuDisabled (no group), VfioUnavailable, Busy (an operation on the
 * group is running, or for Unbind the VFIO group is open). */
GPtrArray *pp_binder_plan (PpBinder *self,
                           PpOperation op,
                           PpDevice *device,
                           gboolean whole_group,
                           GError **error);

/* As pp_binder_plan(), against the host state the registry holds now
 * (protection, VFIO users): to plan for many devices after one
 * pp_registry_update_host_state(), which walks /proc. */
GPtrArray *pp_binder_plan_current (PpBinder *self,
                                   PpOperation op,
                                   PpDevice *device,
                                   gboolean whole_group,
                                   GError **error);

/* The first device of @plan the host depends on, or NULL. */
PpDevice *pp_binder_find_protected (PpBinder *self, GPtrArray *plan);

/* Carries out @plan off the main loop.  The result is the steps as done,
 * each device's properties refreshed from sysfs.  A Bind with @persistent
 * records @device and every device of the plan as bound persistently
 * (before the first write; forgotten again if the Bind fails); an Unbind
 * ends the persistence of @device and the plan's devices, whatever
 * @persistent says.  An empty plan just does that. */
void pp_binder_run_async (PpBinder *self,
                          PpOperation op,
                          PpDevice *device,
                          GPtrArray *plan,
                          gboolean persistent,
                          GAsyncReadyCallback callback,
                          gpointer user_data);

/* Binds to vfio-pci every present device with a persistent binding that
 * is not there, one by one, each alone.  Blocks on sysfs: call at start,
 * after pp_binder_reconcile() and before the name is owned.  Later, a
 * device with a persistent binding that appears (hotplug, a PF creating
 * VFs) is held back from the bus until it is bound again. */
void pp_binder_apply_persistent (PpBinder *self);

GPtrArray *
pp_binder_run_finish (PpBinder *self, GAsyncResult *result, GError **error);

G_END_DECLS
