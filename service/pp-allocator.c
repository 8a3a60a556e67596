#include "pp-allocator.h"

#include "pp-error.h"

struct _PpAllocator
{
  GObject parent_instance;

  PpRegistry *registry;
  PpBinder *binder;
  PpLeases *leases;
};

G_DEFINE_TYPE (PpAllocator, pp_allocator, G_TYPE_OBJECT)

static void
pp_allocator_dispose (GObject *object)
{
  PpAllocator *self = PP_ALLOCATOR (object);

  g_clear_object (&self->registry);
  g_clear_object (&self->binder);
  g_clear_object (&self->leases);
  G_OBJECT_CLASS (pp_allocator_parent_class)->dispose (object);
}

static void
pp_allocator_class_init (PpAllocatorClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = pp_allocator_dispose;
}

static void
pp_allocator_init (PpAllocator *self)
{
}

PpAllocator *
pp_allocator_new (PpRegistry *registry, PpBinder *binder, PpLeases *leases)
{
  PpAllocator *self = g_object_new (PP_TYPE_ALLOCATOR, NULL);

  self->registry = g_object_ref (registry);
  self->binder = g_object_ref (binder);
  self->leases = g_object_ref (leases);
  return self;
}

/* Why devices of the resource were passed over, for the message. */
typedef struct
{
  guint leased;
  guint other_node;
  guint unfit; /* protected, in use, no group, busy, a group that cannot
                  move or that another owner has a lease in */
} Passed;

typedef struct
{
  PpDevice *device;
  gboolean shares_lease; /* its group has a leased member */
} Candidate;

/* Whether the whole group of @device can go to @owner now. */
static gboolean
group_fits (PpAllocator *self,
            PpDevice *device,
            const char *owner,
            gboolean *shares_lease)
{
  g_autoptr (GPtrArray) plan = NULL;
  GPtrArray *members;
  int group = pp_device_get_iommu_group (device);

  if (group < 0)
    return FALSE;
  plan = pp_binder_plan_current (self->binder, PP_OPERATION_BIND, device, TRUE,
                                 NULL);
  if (plan == NULL || pp_binder_find_protected (self->binder, plan) != NULL)
    return FALSE;

  *shares_lease = FALSE;
  members = pp_registry_get_group_members (self->registry, group);
  for (guint i = 0; members != NULL && i < members->len; i++)
    if (*pp_device_get_owner (g_ptr_array_index (members, i)) != '\0')
      *shares_lease = TRUE;
  return pp_leases_check_group (self->leases, pp_device_get_address (device),
                                owner, NULL);
}

static int
compare_candidates (gconstpointer a, gconstpointer b)
{
  const Candidate *x = a;
  const Candidate *y = b;

  if (x->shares_lease != y->shares_lease)
    return x->shares_lease ? 1 : -1;
  return pp_device_compare_by_address (&x->device, &y->device);
}

GPtrArray *
pp_allocator_pick (PpAllocator *self,
                   const char *resource,
                   guint count,
                   int numa_node,
                   const char *owner,
                   GError **error)
{
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (GArray) candidates
      = g_array_new (FALSE, FALSE, sizeof (Candidate));
  g_autoptr (GPtrArray) picked
      = g_ptr_array_new_with_free_func (g_object_unref);
  Passed passed = { 0 };
  guint total = 0;

  g_return_val_if_fail (PP_IS_ALLOCATOR (self), NULL);
  g_return_val_if_fail (count > 0, NULL);

  /* One look at mounts, routes and /proc for every candidate's plan. */
  pp_registry_update_host_state (self->registry);
  devices = pp_registry_get_devices (self->registry);
  for (guint i = 0; i < devices->len; i++)
    {
      PpDevice *device = g_ptr_array_index (devices, i);
      Candidate c = { device, FALSE };
      int node;

      if (!g_str_equal (pp_device_get_resource_name (device), resource))
        continue;
      total++;
      g_object_get (device, "numa-node", &node, NULL);
      if (*pp_device_get_owner (device) != '\0')
        passed.leased++;
      else if (numa_node >= 0 && node != numa_node)
        passed.other_node++;
      else if (!pp_device_is_free (device)
               || !group_fits (self, device, owner, &c.shares_lease))
        passed.unfit++;
      else
        g_array_append_val (candidates, c);
    }

  if (total == 0)
    {
      g_set_error (error, PP_ERROR, PP_ERROR_NOT_FOUND,
                   "no device has resource \"%s\"", resource);
      return NULL;
    }
  if (candidates->len < count)
    {
      g_autofree char *node_text
          = numa_node >= 0 ? g_strdup_printf (" on NUMA node %d", numa_node)
                           : g_strdup ("");
      g_set_error (error, PP_ERROR, PP_ERROR_RESERVED,
                   "%s: %u asked for, %u can be handed out%s (of %u: %u "
                   "leased, %u on another NUMA node, %u protected, in use, "
                   "busy or in a group that cannot move to %s)",
                   resource, count, candidates->len, node_text, total,
                   passed.leased, passed.other_node, passed.unfit, owner);
      return NULL;
    }

  g_array_sort (candidates, compare_candidates);
  for (guint i = 0; i < count; i++)
    g_ptr_array_add (
        picked, g_object_ref (g_array_index (candidates, Candidate, i).device));
  return g_steal_pointer (&picked);
}

/* ---- running ---- */

typedef struct
{
  GPtrArray *devices; /* PpDevice, strong */
  char *owner;
  GPtrArray *pending; /* PpDevice: one per group still to bind */
  GPtrArray *bound;   /* PpDevice: one per group this run moved */
  guint undo_index;
  GError *error; /* the failure being undone */
} Run;

static void
run_free (Run *run)
{
  g_ptr_array_unref (run->devices);
  g_free (run->owner);
  g_ptr_array_unref (run->pending);
  g_ptr_array_unref (run->bound);
  g_clear_error (&run->error);
  g_free (run);
}

static void bind_next (GTask *task);
static void undo_next (GTask *task);

static void
release_all (PpAllocator *self, Run *run)
{
  for (guint i = 0; i < run->devices->len; i++)
    {
      g_autoptr (GError) error = NULL;
      const char *address
          = pp_device_get_address (g_ptr_array_index (run->devices, i));

      if (g_strcmp0 (pp_leases_get_owner (self->leases, address), run->owner)
              == 0
          && !pp_leases_release (self->leases, address, &error))
        g_warning ("Allocate for %s: %s", run->owner, error->message);
    }
}

static void
finish_failed (GTask *task)
{
  PpAllocator *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);

  release_all (self, run);
  g_task_return_error (task, g_steal_pointer (&run->error));
  g_object_unref (task);
}

static void
on_undone (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr (GPtrArray) steps = NULL;
  g_autoptr (GError) error = NULL;

  steps = pp_binder_run_finish (PP_BINDER (source), result, &error);
  if (steps == NULL)
    g_warning ("Allocate: giving a group back failed: %s", error->message);
  undo_next (task);
}

/* Gives back the groups this run moved, last first. */
static void
undo_next (GTask *task)
{
  PpAllocator *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autoptr (GPtrArray) plan = NULL;
  g_autoptr (GError) error = NULL;
  PpDevice *device;

  if (run->undo_index == 0)
    {
      finish_failed (task);
      return;
    }
  device = g_ptr_array_index (run->bound, --run->undo_index);
  plan = pp_binder_plan (self->binder, PP_OPERATION_UNBIND, device, TRUE,
                         &error);
  if (plan == NULL)
    {
      g_warning ("Allocate: cannot give %s back: %s",
                 pp_device_get_address (device), error->message);
      undo_next (task);
      return;
    }
  pp_binder_run_async (self->binder, PP_OPERATION_UNBIND, device, plan, FALSE,
                       on_undone, task);
}

static void
fail (GTask *task, GError *error)
{
  Run *run = g_task_get_task_data (task);

  run->error = error;
  run->undo_index = run->bound->len;
  undo_next (task);
}

static void
on_bound (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);
  g_autoptr (GPtrArray) steps = NULL;
  GError *error = NULL;
  PpDevice *device = g_ptr_array_steal_index (run->pending, 0);

  steps = pp_binder_run_finish (PP_BINDER (source), result, &error);
  if (steps == NULL)
    {
      g_object_unref (device);
      fail (task, error);
      return;
    }
  /* Bind undoes itself when it fails; a group it moved is ours to give
   * back if a later one fails. */
  if (steps->len > 0)
    g_ptr_array_add (run->bound, device);
  else
    g_object_unref (device);
  bind_next (task);
}

static void
bind_next (GTask *task)
{
  PpAllocator *self = g_task_get_source_object (task);
  Run *run = g_task_get_task_data (task);
  g_autoptr (GPtrArray) plan = NULL;
  GError *error = NULL;
  PpDevice *device;

  if (run->pending->len == 0)
    {
      g_autoptr (GPtrArray) addresses = g_ptr_array_new ();

      for (guint i = 0; i < run->devices->len; i++)
        g_ptr_array_add (addresses, g_strdup (pp_device_get_address (
                                        g_ptr_array_index (run->devices, i))));
      g_ptr_array_add (addresses, NULL);
      g_task_return_pointer (
          task, g_ptr_array_free (g_steal_pointer (&addresses), FALSE),
          (GDestroyNotify) g_strfreev);
      g_object_unref (task);
      return;
    }
  device = g_ptr_array_index (run->pending, 0);
  /* The host state of the run's start (pp_allocator_run_async): one walk
   * of /proc for the run, not one a group. */
  plan = pp_binder_plan_current (self->binder, PP_OPERATION_BIND, device, TRUE,
                                 &error);
  if (plan == NULL)
    {
      g_object_unref (g_ptr_array_steal_index (run->pending, 0));
      fail (task, error);
      return;
    }
  pp_binder_run_async (self->binder, PP_OPERATION_BIND, device, plan, FALSE,
                       on_bound, task);
}

void
pp_allocator_run_async (PpAllocator *self,
                        GPtrArray *devices,
                        const char *owner,
                        GAsyncReadyCallback callback,
                        gpointer user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_autoptr (GHashTable) groups = g_hash_table_new (NULL, NULL);
  Run *run = g_new0 (Run, 1);

  g_task_set_source_tag (task, pp_allocator_run_async);
  run->devices = g_ptr_array_ref (devices);
  run->owner = g_strdup (owner);
  run->pending = g_ptr_array_new_with_free_func (g_object_unref);
  run->bound = g_ptr_array_new_with_free_func (g_object_unref);
  g_task_set_task_data (task, run, (GDestroyNotify) run_free);

  pp_registry_update_host_state (self->registry);
  /* Leased before anything moves: nobody else can take them meanwhile. */
  for (guint i = 0; i < devices->len; i++)
    {
      PpDevice *device = g_ptr_array_index (devices, i);
      int group = pp_device_get_iommu_group (device);
      GError *error = NULL;

      if (!pp_leases_reserve (self->leases, pp_device_get_address (device),
                              owner, NULL, &error))
        {
          fail (task, error);
          return;
        }
      if (!g_hash_table_contains (groups, GINT_TO_POINTER (group)))
        {
          g_hash_table_add (groups, GINT_TO_POINTER (group));
          g_ptr_array_add (run->pending, g_object_ref (device));
        }
    }
  bind_next (task);
}

GStrv
pp_allocator_run_finish (PpAllocator *self,
                         GAsyncResult *result,
                         GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
