#include "pp-binder.h"

#include "pp-driver.h"
#include "pp-error.h"
#include "pp-iommu.h"
#include "pp-killpoint.h"
#include "pp-pci-class.h"

struct _PpBinder
{
  GObject parent_instance;

  PpRegistry *registry;
  PpKernel *kernel;
  PpStore *store;
  GHashTable *busy_groups; /* group numbers with an operation running */
  GPtrArray *reapply;      /* PpDevice held back until bound again */
};

G_DEFINE_TYPE (PpBinder, pp_binder, G_TYPE_OBJECT)

void
pp_step_free (PpStep *step)
{
  if (step == NULL)
    return;
  g_free (step->address);
  g_free (step->from);
  g_free (step->to);
  g_free (step->override);
  g_free (step);
}

static PpStep *
step_copy (const PpStep *step)
{
  PpStep *copy = g_new0 (PpStep, 1);

  copy->address = g_strdup (step->address);
  copy->from = g_strdup (step->from);
  copy->to = g_strdup (step->to);
  copy->override = g_strdup (step->override);
  copy->known = step->known;
  return copy;
}

static GPtrArray *
plan_copy (GPtrArray *plan)
{
  return g_ptr_array_copy (plan, (GCopyFunc) (void (*) (void)) step_copy, NULL);
}

static void
pp_binder_finalize (GObject *object)
{
  PpBinder *self = PP_BINDER (object);

  if (self->registry != NULL)
    g_signal_handlers_disconnect_by_data (self->registry, self);
  g_clear_pointer (&self->busy_groups, g_hash_table_unref);
  g_clear_pointer (&self->reapply, g_ptr_array_unref);
  g_clear_object (&self->store);
  g_clear_object (&self->kernel);
  g_clear_object (&self->registry);
  G_OBJECT_CLASS (pp_binder_parent_class)->finalize (object);
}

static void
pp_binder_class_init (PpBinderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pp_binder_finalize;
}

static void
pp_binder_init (PpBinder *self)
{
  self->busy_groups = g_hash_table_new (g_direct_hash, g_direct_equal);
  self->reapply = g_ptr_array_new_with_free_func (g_object_unref);
}

static void publish_original_driver (PpBinder *self, PpDevice *device);
static void
on_device_created (PpRegistry *registry, PpDevice *device, gpointer user_data);
static void on_changes_done (PpRegistry *registry, gpointer user_data);

PpBinder *
pp_binder_new (PpRegistry *registry, PpKernel *kernel, PpStore *store)
{
  PpBinder *self = g_object_new (PP_TYPE_BINDER, NULL);

  self->registry = g_object_ref (registry);
  self->kernel = g_object_ref (kernel);
  self->store = g_object_ref (store);
  g_signal_connect (registry, "device-created", G_CALLBACK (on_device_created),
                    self);
  g_signal_connect (registry, "changes-done", G_CALLBACK (on_changes_done),
                    self);
  return self;
}

static void
publish_original_driver (PpBinder *self, PpDevice *device)
{
  g_autofree char *driver = NULL;
  g_autofree char *override = NULL;

  if (pp_store_lookup (self->store, pp_device_get_address (device), &driver,
                       &override))
    pp_device_set_original_driver (device, driver);
  else
    pp_device_set_original_driver (device, "");
}

/* Gives @address back to its recorded driver and drops the record; on
 * failure keeps the record (not pending) so an Unbind can finish later. */
static void
restore_recorded (PpBinder *self, const char *address)
{
  g_autofree char *driver = NULL;
  g_autofree char *override = NULL;
  g_autoptr (GError) error = NULL;
  const char *const one[] = { address, NULL };

  pp_store_lookup (self->store, address, &driver, &override);
  if (pp_kernel_restore (self->kernel, address, driver, override, &error)
      && pp_store_remove (self->store, address, &error))
    {
      g_message ("%s is back on %s", address,
                 *driver != '\0' ? driver : "no driver");
    }
  else
    {
      g_warning ("%s", error->message);
      g_clear_error (&error);
      if (!pp_store_end (self->store, one, &error))
        g_warning ("%s", error->message);
    }
  pp_registry_refresh_device (self->registry, address);
}

static gboolean
fully_on_vfio (PpDevice *device)
{
  return g_str_equal (pp_device_get_driver (device), PP_VFIO_DRIVER)
         && g_str_equal (pp_device_get_driver_override (device),
                         PP_VFIO_DRIVER);
}

/* A Bind the daemon did not live to finish: if every device it was moving
 * got there (or a VM already holds the group), it is done; otherwise the
 * group goes back to the host, so the host is in the state before the
 * Bind or after it, never between. */
static void
settle_interrupted_bind (PpBinder *self, int group, GPtrArray *addresses)
{
  gboolean complete = TRUE;
  gboolean in_use = FALSE;

  g_ptr_array_add (addresses, NULL);
  for (guint i = 0; addresses->pdata[i] != NULL; i++)
    {
      PpDevice *device
          = pp_registry_lookup (self->registry, addresses->pdata[i]);
      complete = complete && fully_on_vfio (device);
      in_use = in_use
               || g_str_equal (pp_device_get_state (device),
                               PP_DEVICE_STATE_IN_USE);
    }

  if (complete || in_use)
    {
      g_autoptr (GError) error = NULL;

      g_message ("finishing the Bind of IOMMU group %d that was interrupted: "
                 "%s",
                 group,
                 complete ? "every device reached vfio-pci"
                          : "its VFIO group is in use");
      if (!pp_store_end (self->store, (const char *const *) addresses->pdata,
                         &error))
        g_warning ("%s", error->message);
      return;
    }

  g_message ("undoing the Bind of IOMMU group %d that was interrupted: "
             "giving its devices back",
             group);
  /* Last first, as a rollback does. */
  for (guint i = addresses->len - 1; i > 0; i--)
    restore_recorded (self, addresses->pdata[i - 1]);
}

void
pp_binder_reconcile (PpBinder *self)
{
  g_auto (GStrv) records = pp_store_list (self->store);
  g_autoptr (GHashTable) binds = g_hash_table_new_full (
      g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) g_ptr_array_unref);
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  /* In use or not decides what an interrupted Bind becomes. */
  pp_registry_update_host_state (self->registry);

  for (char **a = records; *a != NULL; a++)
    {
      PpDevice *device = pp_registry_lookup (self->registry, *a);
      g_autofree char *driver = NULL;
      g_autofree char *override = NULL;
      g_autofree char *pending = NULL;
      g_autoptr (GError) error = NULL;

      if (device == NULL)
        {
          /* It may come back (hotplug); keep what we know. */
          g_message ("record for %s, which is not present: kept", *a);
          continue;
        }
      pp_store_lookup (self->store, *a, &driver, &override);
      pending = pp_store_get_pending (self->store, *a);

      if (g_strcmp0 (pending, PP_STORE_PENDING_UNBIND) == 0)
        {
          /* Giving back was what the user asked for: finish it. */
          g_message ("finishing the Unbind of %s that was interrupted", *a);
          restore_recorded (self, *a);
          continue;
        }
      if (g_strcmp0 (pending, PP_STORE_PENDING_BIND) == 0)
        {
          int group = pp_device_get_iommu_group (device);
          GPtrArray *members
              = g_hash_table_lookup (binds, GINT_TO_POINTER (group));

          if (members == NULL)
            {
              members = g_ptr_array_new_with_free_func (g_free);
              g_hash_table_insert (binds, GINT_TO_POINTER (group), members);
            }
          g_ptr_array_add (members, g_strdup (*a));
          continue;
        }

      if (g_str_equal (pp_device_get_driver (device), driver)
          && g_str_equal (pp_device_get_driver_override (device), override))
        {
          g_message ("%s is back on %s: dropping its record", *a,
                     *driver != '\0' ? driver : "no driver");
          if (!pp_store_remove (self->store, *a, &error))
            g_warning ("%s", error->message);
          continue;
        }
      g_message ("%s was moved from %s by pcipassd and is now on %s", *a,
                 *driver != '\0' ? driver : "no driver",
                 *pp_device_get_driver (device) != '\0'
                     ? pp_device_get_driver (device)
                     : "no driver");
    }

  g_hash_table_iter_init (&iter, binds);
  while (g_hash_table_iter_next (&iter, &key, &value))
    settle_interrupted_bind (self, GPOINTER_TO_INT (key), value);

  {
    g_autoptr (GPtrArray) devices = pp_registry_get_devices (self->registry);
    for (guint i = 0; i < devices->len; i++)
      {
        PpDevice *device = g_ptr_array_index (devices, i);

        publish_original_driver (self, device);
        pp_device_set_persistent (
            device, pp_store_get_persistent (self->store,
                                             pp_device_get_address (device)));
      }
  }
}

static gboolean
check_not_busy (PpBinder *self, int group, GError **error)
{
  if (group >= 0
      && g_hash_table_contains (self->busy_groups, GINT_TO_POINTER (group)))
    {
      g_set_error (error, PP_ERROR, PP_ERROR_BUSY,
                   "another operation on IOMMU group %d is running", group);
      return FALSE;
    }
  return TRUE;
}

static GPtrArray *
plan_bind (PpBinder *self, PpDevice *device, GPtrArray *members, GError **error)
{
  g_autoptr (GPtrArray) plan
      = g_ptr_array_new_with_free_func ((GDestroyNotify) pp_step_free);

  if (pp_device_get_iommu_group (device) < 0)
    {
      /* Why depends on the host (IOMMU off, or behind VMD): the host and
       * device checks know, and say what to do. */
      g_set_error (error, PP_ERROR, PP_ERROR_IOMMU_DISABLED,
                   "%s has no IOMMU group, so VFIO cannot take it: run "
                   "\"pcipassctl validate %s\" for the reason and the remedy",
                   pp_device_get_address (device),
                   pp_device_get_address (device));
      return NULL;
    }
  if (!pp_kernel_vfio_registered (self->kernel))
    {
      g_set_error (error, PP_ERROR, PP_ERROR_VFIO_UNAVAILABLE,
                   "vfio-pci is not loaded: run \"modprobe vfio-pci\"");
      return NULL;
    }

  for (guint i = 0; i < members->len; i++)
    {
      PpDevice *member = g_ptr_array_index (members, i);
      PpStep *step;

      /* vfio-pci refuses PCI-to-PCI bridges; they stay (on pcieport or
       * unbound, which keeps the group viable).  Other class 0x06
       * functions, an LPC bridge on lpc_ich say, are endpoints that would
       * hold the group for the host: they move too.  The device asked for
       * is always tried, so the kernel can say why not. */
      if (member != device
          && pp_pci_class_is_pci_bridge (pp_device_get_class_code (member)))
        continue;
      if (pp_driver_is_vfio (pp_device_get_driver (member)))
        continue;
      /* What is recorded must be given back verbatim later: only a driver
       * name can be (the kernel takes any text as an override). */
      if (!pp_kernel_driver_name_is_valid (
              pp_device_get_driver_override (member), TRUE))
        {
          g_autofree char *shown
              = g_strescape (pp_device_get_driver_override (member), NULL);
          g_set_error (error, PP_ERROR, PP_ERROR_KERNEL,
                       "%s has driver_override \"%.64s\", which is not a "
                       "driver name: clear it first (echo > "
                       "/sys/bus/pci/devices/%s/driver_override)",
                       pp_device_get_address (member), shown,
                       pp_device_get_address (member));
          return NULL;
        }

      step = g_new0 (PpStep, 1);
      step->address = g_strdup (pp_device_get_address (member));
      step->from = g_strdup (pp_device_get_driver (member));
      step->to = g_strdup (PP_VFIO_DRIVER);
      step->override = g_strdup (pp_device_get_driver_override (member));
      g_ptr_array_add (plan, step);
    }
  return g_steal_pointer (&plan);
}

static GPtrArray *
plan_unbind (PpBinder *self, GPtrArray *members, GError **error)
{
  g_autoptr (GPtrArray) plan
      = g_ptr_array_new_with_free_func ((GDestroyNotify) pp_step_free);

  for (guint i = 0; i < members->len; i++)
    {
      PpDevice *member = g_ptr_array_index (members, i);
      const char *address = pp_device_get_address (member);
      g_autofree char *driver = NULL;
      g_autofree char *override = NULL;
      gboolean known
          = pp_store_lookup (self->store, address, &driver, &override);
      PpStep *step;

      /* On vfio-pci, or left half-way by a crash: both need giving back. */
      if (!pp_driver_is_vfio (pp_device_get_driver (member)) && !known)
        continue;
      if (known && g_str_equal (pp_device_get_driver (member), driver)
          && g_str_equal (pp_device_get_driver_override (member), override))
        continue;

      if (g_str_equal (pp_device_get_state (member), PP_DEVICE_STATE_IN_USE))
        {
          g_set_error (error, PP_ERROR, PP_ERROR_BUSY,
                       "%s is in use: its VFIO group /dev/vfio/%d is open "
                       "(a running VM?); stop the user first",
                       address, pp_device_get_iommu_group (member));
          return NULL;
        }

      step = g_new0 (PpStep, 1);
      step->address = g_strdup (address);
      step->from = g_strdup (pp_device_get_driver (member));
      step->known = known;
      step->to = g_strdup (known ? driver : "");
      step->override = g_strdup (known ? override : "");
      g_ptr_array_add (plan, step);
    }
  return g_steal_pointer (&plan);
}

GPtrArray *
pp_binder_plan (PpBinder *self,
                PpOperation op,
                PpDevice *device,
                gboolean whole_group,
                GError **error)
{
  int group = pp_device_get_iommu_group (device);

  if (!check_not_busy (self, group, error))
    return NULL;
  /* What we plan on must be current: mounts, routes and VFIO users
   * change without uevents. */
  pp_registry_update_host_state (self->registry);
  return pp_binder_plan_current (self, op, device, whole_group, error);
}

GPtrArray *
pp_binder_plan_current (PpBinder *self,
                        PpOperation op,
                        PpDevice *device,
                        gboolean whole_group,
                        GError **error)
{
  g_autoptr (GPtrArray) members = g_ptr_array_new ();
  int group = pp_device_get_iommu_group (device);
  GPtrArray *group_members
      = group >= 0 ? pp_registry_get_group_members (self->registry, group)
                   : NULL;

  if (!check_not_busy (self, group, error))
    return NULL;

  if (whole_group && group_members != NULL)
    g_ptr_array_extend (members, group_members, NULL, NULL);
  else
    g_ptr_array_add (members, device);

  if (op == PP_OPERATION_BIND)
    return plan_bind (self, device, members, error);
  return plan_unbind (self, members, error);
}

PpDevice *
pp_binder_find_protected (PpBinder *self, GPtrArray *plan)
{
  for (guint i = 0; i < plan->len; i++)
    {
      PpStep *step = g_ptr_array_index (plan, i);
      PpDevice *device = pp_registry_lookup (self->registry, step->address);

      if (device != NULL && *pp_device_get_protection_reason (device) != '\0')
        return device;
    }
  return NULL;
}

typedef struct
{
  PpOperation op;
  int group;
  GPtrArray *plan; /* worker's copy */
  char *address;   /* the device asked for */
  gboolean persistent;
} RunData;

static void
run_data_free (RunData *data)
{
  g_ptr_array_unref (data->plan);
  g_free (data->address);
  g_free (data);
}

/* @address and the plan's, once each. */
static GPtrArray *
persistence_addresses (const char *address, GPtrArray *plan)
{
  GPtrArray *out = g_ptr_array_new ();

  g_ptr_array_add (out, (gpointer) address);
  for (guint i = 0; i < plan->len; i++)
    {
      PpStep *step = g_ptr_array_index (plan, i);

      if (!g_str_equal (step->address, address))
        g_ptr_array_add (out, step->address);
    }
  return out;
}

/* Sets the persistence of @addresses to @persistent; what each had before
 * goes to @before (one gboolean each), for set_persistence_back(). */
static gboolean
set_persistence (PpBinder *self,
                 GPtrArray *addresses,
                 gboolean persistent,
                 gboolean *before,
                 GError **error)
{
  for (guint i = 0; i < addresses->len; i++)
    {
      const char *address = g_ptr_array_index (addresses, i);

      before[i] = pp_store_get_persistent (self->store, address);
      if (!pp_store_set_persistent (self->store, address, persistent, error))
        {
          while (i-- > 0)
            pp_store_set_persistent (
                self->store, g_ptr_array_index (addresses, i), before[i], NULL);
          return FALSE;
        }
    }
  return TRUE;
}

static void
set_persistence_back (PpBinder *self, GPtrArray *addresses, gboolean *before)
{
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < addresses->len; i++)
    if (!pp_store_set_persistent (self->store, g_ptr_array_index (addresses, i),
                                  before[i], &error))
      {
        g_warning ("%s", error->message);
        g_clear_error (&error);
      }
}

/* Gives the devices of @done back, last first; failures are added to
 * @error's message, which already says what went wrong. */
static void
roll_back (PpBinder *self, GPtrArray *done, GError **error)
{
  g_autoptr (GString) failures = g_string_new (NULL);
  g_autoptr (GString) restored = g_string_new (NULL);

  for (guint i = done->len; i > 0; i--)
    {
      PpStep *step = g_ptr_array_index (done, i - 1);
      g_autoptr (GError) local_error = NULL;

      if (pp_kernel_restore (self->kernel, step->address, step->from,
                             step->override, &local_error)
          && pp_store_remove (self->store, step->address, &local_error))
        g_string_append_printf (restored, "%s%s", restored->len ? ", " : "",
                                step->address);
      else
        g_string_append_printf (failures, "; could not give %s back: %s",
                                step->address, local_error->message);
    }

  if (error != NULL && *error != NULL)
    {
      char *message = g_strdup_printf (
          "%s (rolled back: %s)%s", (*error)->message,
          restored->len > 0 ? restored->str : "nothing", failures->str);

      g_free ((*error)->message);
      (*error)->message = message;
    }
}

/* The addresses of @plan, NULL-terminated; the strings are the plan's. */
static const char **
plan_addresses (GPtrArray *plan)
{
  const char **addresses = g_new0 (const char *, plan->len + 1);

  for (guint i = 0; i < plan->len; i++)
    addresses[i] = ((PpStep *) g_ptr_array_index (plan, i))->address;
  return addresses;
}

static gboolean
run_bind (PpBinder *self,
          const char *address,
          GPtrArray *plan,
          gboolean persistent,
          GError **error)
{
  g_autoptr (GPtrArray) persistence = persistence_addresses (address, plan);
  g_autofree gboolean *was_persistent = g_new0 (gboolean, persistence->len);
  g_autoptr (GPtrArray) done = g_ptr_array_new ();
  g_autofree const char **addresses = plan_addresses (plan);
  g_autofree PpRecord *records = g_new0 (PpRecord, plan->len);
  g_autofree gboolean *had_record = g_new0 (gboolean, plan->len);
  g_autoptr (GError) end_error = NULL;

  for (guint i = 0; i < plan->len; i++)
    {
      PpStep *step = g_ptr_array_index (plan, i);
      g_autofree char *driver = NULL;
      g_autofree char *override = NULL;

      had_record[i]
          = pp_store_lookup (self->store, step->address, &driver, &override);
      records[i].address = step->address;
      records[i].driver = step->from;
      records[i].override = step->override;
    }

  /* Persistence first: a crash from here on binds again at the next
   * start, which is what was asked for. */
  if (persistent
      && !set_persistence (self, persistence, TRUE, was_persistent, error))
    {
      g_prefix_error (error, "recording the persistent binding: ");
      return FALSE;
    }
  /* On disk before the first write: a crash from here on still knows
   * where each device belongs, and that a Bind was under way. */
  if (!pp_store_begin (self->store, PP_STORE_PENDING_BIND, records, plan->len,
                       error))
    {
      g_prefix_error (error, "recording the plan: ");
      if (persistent)
        set_persistence_back (self, persistence, was_persistent);
      return FALSE;
    }
  pp_killpoint ("Bind recorded, nothing written");

  for (guint i = 0; i < plan->len; i++)
    {
      PpStep *step = g_ptr_array_index (plan, i);

      g_ptr_array_add (done, step);
      if (!pp_kernel_bind_vfio (self->kernel, step->address, error))
        {
          roll_back (self, done, error);
          for (guint j = i + 1; j < plan->len; j++)
            if (!had_record[j])
              pp_store_remove (self->store, addresses[j], NULL);
          if (!pp_store_end (self->store, addresses, &end_error))
            g_warning ("%s", end_error->message);
          if (persistent)
            set_persistence_back (self, persistence, was_persistent);
          return FALSE;
        }
    }

  /* The devices are on vfio-pci whatever happens to this write; a
   * restart would find them there and finish the job. */
  if (!pp_store_end (self->store, addresses, &end_error))
    g_warning ("%s", end_error->message);
  return TRUE;
}

static gboolean
run_unbind (PpBinder *self,
            const char *address,
            GPtrArray *plan,
            GError **error)
{
  g_autoptr (GPtrArray) persistence = persistence_addresses (address, plan);
  g_autofree gboolean *was_persistent = g_new0 (gboolean, persistence->len);
  g_autofree const char **addresses = plan_addresses (plan);
  g_autofree PpRecord *records = g_new0 (PpRecord, plan->len);
  g_autoptr (GError) end_error = NULL;
  gboolean ok = TRUE;

  for (guint i = 0; i < plan->len; i++)
    {
      PpStep *step = g_ptr_array_index (plan, i);

      records[i].address = step->address;
      records[i].driver = step->known ? step->to : NULL;
      records[i].override = step->override;
    }
  /* Unbind ends persistence, before anything moves: a crash from here
   * on must not bind the devices again at the next start. */
  if (!set_persistence (self, persistence, FALSE, was_persistent, error))
    {
      g_prefix_error (error, "ending the persistent binding: ");
      return FALSE;
    }
  /* A restart after a crash finishes what was begun. */
  if (!pp_store_begin (self->store, PP_STORE_PENDING_UNBIND, records, plan->len,
                       error))
    {
      g_prefix_error (error, "recording the plan: ");
      set_persistence_back (self, persistence, was_persistent);
      return FALSE;
    }
  pp_killpoint ("Unbind recorded, nothing written");

  for (guint i = 0; ok && i < plan->len; i++)
    {
      PpStep *step = g_ptr_array_index (plan, i);

      ok = pp_kernel_restore (self->kernel, step->address,
                              step->known ? step->to : NULL, step->override,
                              error)
           && pp_store_remove (self->store, step->address, error);
    }
  if (!ok && !pp_store_end (self->store, addresses, &end_error))
    g_warning ("%s", end_error->message);
  /* Still bound, still persistent. */
  if (!ok)
    set_persistence_back (self, persistence, was_persistent);
  return ok;
}

static void
run_in_thread (GTask *task,
               gpointer source,
               gpointer task_data,
               GCancellable *cancellable)
{
  PpBinder *self = source;
  RunData *data = task_data;
  GError *error = NULL;
  gboolean ok;

  if (data->op == PP_OPERATION_BIND)
    ok = run_bind (self, data->address, data->plan, data->persistent, &error);
  else
    ok = run_unbind (self, data->address, data->plan, &error);

  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* The caller's side of a run: answered when the worker is done, or by the
 * watchdog if the kernel holds the worker longer than any step may take
 * (a write(2) that never returns, as an unbind does while nvidia's
 * remove() waits for its users). */
typedef struct
{
  PpBinder *binder;
  GTask *caller; /* NULL once answered */
  RunData *data; /* the worker task's */
  guint watchdog_id;
  guint budget_ms;
} Run;

static void
run_free (Run *run)
{
  g_clear_handle_id (&run->watchdog_id, g_source_remove);
  g_clear_object (&run->caller);
  g_object_unref (run->binder);
  g_free (run);
}

static gboolean
on_watchdog (gpointer user_data)
{
  Run *run = user_data;
  g_autoptr (GTask) caller = g_steal_pointer (&run->caller);

  run->watchdog_id = 0;
  g_warning ("%s of IOMMU group %d: the kernel has not returned after %u ms",
             run->data->op == PP_OPERATION_BIND ? "Bind" : "Unbind",
             run->data->group, run->budget_ms);
  g_task_return_new_error (
      caller, PP_ERROR, PP_ERROR_KERNEL,
      "the kernel has not finished after %u ms: a sysfs write to a driver "
      "has not returned, which happens when the driver waits for its users "
      "(for a GPU: stop the display server, nvidia-persistenced and "
      "anything using it) or is stuck (see \"dmesg\"); IOMMU group %d "
      "stays busy until the kernel returns, and pcipassd then shows where "
      "its devices are",
      run->budget_ms, run->data->group);
  return G_SOURCE_REMOVE;
}

/* Main loop, once the worker is done, however late: the group is free
 * again and the devices show what sysfs says now. */
static void
on_run_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Run *run = user_data;
  PpBinder *self = PP_BINDER (source);
  RunData *data = run->data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) steps = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);

  g_hash_table_remove (self->busy_groups, GINT_TO_POINTER (data->group));

  {
    g_autoptr (GPtrArray) persistence
        = persistence_addresses (data->address, data->plan);

    for (guint i = 0; i < persistence->len; i++)
      {
        PpDevice *device = pp_registry_lookup (
            self->registry, g_ptr_array_index (persistence, i));

        if (device != NULL)
          pp_device_set_persistent (
              device, pp_store_get_persistent (
                          self->store, g_ptr_array_index (persistence, i)));
      }
  }
  steps = plan_copy (data->plan);
  for (guint i = 0; i < steps->len; i++)
    {
      PpStep *step = g_ptr_array_index (steps, i);
      PpDevice *device;

      pp_registry_refresh_device (self->registry, step->address);
      device = pp_registry_lookup (self->registry, step->address);
      if (device == NULL)
        continue;
      publish_original_driver (self, device);
      g_free (step->to);
      step->to = g_strdup (pp_device_get_driver (device));
    }

  if (run->caller == NULL)
    g_message ("IOMMU group %d: the kernel returned at last (%s); the group "
               "is free again",
               data->group, ok ? "done" : error->message);
  else if (ok)
    g_task_return_pointer (run->caller, g_steal_pointer (&steps),
                           (GDestroyNotify) g_ptr_array_unref);
  else
    g_task_return_error (run->caller, g_steal_pointer (&error));
  run_free (run);
}

void
pp_binder_run_async (PpBinder *self,
                     PpOperation op,
                     PpDevice *device,
                     GPtrArray *plan,
                     gboolean persistent,
                     GAsyncReadyCallback callback,
                     gpointer user_data)
{
  g_autoptr (GTask) caller = g_task_new (self, NULL, callback, user_data);
  g_autoptr (GTask) worker = NULL;
  g_autoptr (GError) error = NULL;
  RunData *data;
  Run *run;
  int group = pp_device_get_iommu_group (device);

  g_task_set_source_tag (caller, pp_binder_run_async);

  /* The group may have become busy while polkit was asked. */
  if (!check_not_busy (self, group, &error))
    {
      g_task_return_error (caller, g_steal_pointer (&error));
      return;
    }
  if (pp_kernel_get_read_only (self->kernel) && plan->len > 0)
    {
      g_set_error (&error, PP_ERROR, PP_ERROR_READ_ONLY,
                   "pcipassd runs with --read-only: not moving %s",
                   pp_device_get_address (device));
      g_task_return_error (caller, g_steal_pointer (&error));
      return;
    }

  data = g_new0 (RunData, 1);
  data->op = op;
  data->group = group;
  data->plan = plan_copy (plan);
  data->address = g_strdup (pp_device_get_address (device));
  data->persistent = persistent;

  run = g_new0 (Run, 1);
  run->binder = g_object_ref (self);
  run->caller = g_steal_pointer (&caller);
  run->data = data;
  /* Each device takes at most three confirmed steps (override, unbind,
   * bind), and a rollback as many again; one more step of slack. */
  run->budget_ms = pp_kernel_get_step_timeout (self->kernel)
                   * (6 * MAX (plan->len, 1) + 1);
  run->watchdog_id = g_timeout_add (run->budget_ms, on_watchdog, run);

  worker = g_task_new (self, NULL, on_run_done, run);
  g_task_set_task_data (worker, data, (GDestroyNotify) run_data_free);
  if (group >= 0)
    g_hash_table_add (self->busy_groups, GINT_TO_POINTER (group));
  g_task_run_in_thread (worker, run_in_thread);
}

GPtrArray *
pp_binder_run_finish (PpBinder *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- persistent bindings ---- */

/* Whether @device's persistent binding must be applied again; says why
 * not when the host depends on the device now. */
static gboolean
needs_reapply (PpBinder *self, PpDevice *device)
{
  const char *address = pp_device_get_address (device);

  if (!pp_store_get_persistent (self->store, address)
      || pp_driver_is_vfio (pp_device_get_driver (device)))
    return FALSE;
  /* Forced once, perhaps; but at boot nobody is there to say so again,
   * and the host may need it now (its console, its root disk). */
  if (*pp_device_get_protection_reason (device) != '\0')
    {
      g_warning ("%s has a persistent binding but is protected (%s) now: "
                 "left on the host; Bind it with force to move it",
                 address, pp_device_get_protection_reason (device));
      return FALSE;
    }
  return TRUE;
}

void
pp_binder_apply_persistent (PpBinder *self)
{
  g_auto (GStrv) persistent = pp_store_list_persistent (self->store);

  g_return_if_fail (PP_IS_BINDER (self));

  pp_registry_update_host_state (self->registry);
  for (char **a = persistent; *a != NULL; a++)
    {
      PpDevice *device = pp_registry_lookup (self->registry, *a);
      g_autoptr (GPtrArray) plan = NULL;
      g_autoptr (GError) error = NULL;

      if (device == NULL)
        {
          g_message ("persistent binding of %s, which is not present: kept for "
                     "when it appears",
                     *a);
          continue;
        }
      if (!needs_reapply (self, device))
        continue;
      plan = pp_binder_plan (self, PP_OPERATION_BIND, device, FALSE, &error);
      if (plan != NULL && run_bind (self, *a, plan, FALSE, &error))
        g_message ("%s: persistent binding applied again: on vfio-pci", *a);
      else
        g_warning ("%s: cannot apply its persistent binding again: %s", *a,
                   error->message);
      pp_registry_refresh_device (self->registry, *a);
      publish_original_driver (self, device);
    }
}

static void
on_device_created (PpRegistry *registry, PpDevice *device, gpointer user_data)
{
  PpBinder *self = user_data;

  publish_original_driver (self, device);
  pp_device_set_persistent (
      device,
      pp_store_get_persistent (self->store, pp_device_get_address (device)));
  /* Until bound again, the bus does not see it: what a client sees first
   * is the device on vfio-pci. */
  if (pp_device_get_persistent (device)
      && !pp_driver_is_vfio (pp_device_get_driver (device)))
    {
      pp_registry_hold_device (registry, device);
      g_ptr_array_add (self->reapply, g_object_ref (device));
    }
}

static void
on_reapplied (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PpDevice) device = user_data;
  PpBinder *self = PP_BINDER (source);
  g_autoptr (GPtrArray) steps = NULL;
  g_autoptr (GError) error = NULL;

  steps = pp_binder_run_finish (self, result, &error);
  if (steps != NULL)
    g_message ("%s appeared: persistent binding applied again: on vfio-pci",
               pp_device_get_address (device));
  else
    g_warning ("%s appeared: cannot apply its persistent binding again: %s",
               pp_device_get_address (device), error->message);
  pp_registry_release_device (self->registry, device);
}

/* The batch that created them is complete (groups, host state): bind the
 * held devices, each alone. */
static void
on_changes_done (PpRegistry *registry, gpointer user_data)
{
  PpBinder *self = user_data;
  g_autoptr (GPtrArray) devices = NULL;

  if (self->reapply->len == 0)
    return;
  devices = g_steal_pointer (&self->reapply);
  self->reapply = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < devices->len; i++)
    {
      PpDevice *device = g_ptr_array_index (devices, i);
      g_autoptr (GPtrArray) plan = NULL;
      g_autoptr (GError) error = NULL;

      if (pp_registry_lookup (registry, pp_device_get_address (device))
          != device)
        continue;
      if (needs_reapply (self, device))
        plan = pp_binder_plan (self, PP_OPERATION_BIND, device, FALSE, &error);
      if (plan == NULL)
        {
          if (error != NULL)
            g_warning ("%s appeared: cannot apply its persistent binding "
                       "again: %s",
                       pp_device_get_address (device), error->message);
          pp_registry_release_device (registry, device);
          continue;
        }
      pp_binder_run_async (self, PP_OPERATION_BIND, device, plan, FALSE,
                           on_reapplied, g_object_ref (device));
    }
}
