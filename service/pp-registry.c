#include "pp-registry.h"

#include "pp-catalog.h"
#include "pp-driver.h"
#include "pp-iommu.h"
#include "pp-monitor.h"
#include "pp-protect.h"
#include "pp-vfio-watch.h"
#include "pp-vfio.h"

#include <string.h>

struct _PpRegistry
{
  GObject parent_instance;

  PpSysfs *sysfs;
  PpHwdb *hwdb;        /* not owned */
  GHashTable *devices; /* address -> PpDevice */
  PpIommuGroups *groups;
  PpCatalog *catalog;
  char *catalog_file;  /* NULL: none */
  char *catalog_error; /* "" when the last load succeeded */

  /* A batch (pp_registry_begin_batch): work that every event of a burst
   * would repeat is queued here and done once at its end. */
  guint batch_depth;
  GPtrArray *batch_added;   /* PpDevice (strong), not announced yet */
  GHashTable *batch_pfs;    /* addresses of PFs whose VFs came or went */
  GHashTable *batch_groups; /* IOMMU group numbers to refresh */
  GHashTable *batch_in_use; /* PpDevice (strong) to look at in /proc */
  GHashTable *held;         /* PpDevice (strong) not to announce yet */

  /* Groups with a member on vfio-pci, whose nodes are watched: a VM
   * opening one changes State without a uevent. */
  GHashTable *vfio_groups;
  PpVfioWatch *vfio_watch;
};

enum
{
  SIGNAL_DEVICE_CREATED,
  SIGNAL_DEVICE_ADDED,
  SIGNAL_DEVICE_REMOVED,
  SIGNAL_CHANGES_DONE,
  SIGNAL_CATALOG_LOADED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void on_vfio_nodes (GHashTable *groups, gpointer user_data);

G_DEFINE_TYPE (PpRegistry, pp_registry, G_TYPE_OBJECT)

static void
pp_registry_finalize (GObject *object)
{
  PpRegistry *self = PP_REGISTRY (object);

  g_clear_pointer (&self->batch_added, g_ptr_array_unref);
  g_clear_pointer (&self->batch_pfs, g_hash_table_unref);
  g_clear_pointer (&self->batch_groups, g_hash_table_unref);
  g_clear_pointer (&self->batch_in_use, g_hash_table_unref);
  g_clear_pointer (&self->held, g_hash_table_unref);
  g_clear_pointer (&self->vfio_watch, pp_vfio_watch_free);
  g_clear_pointer (&self->vfio_groups, g_hash_table_unref);
  g_clear_pointer (&self->groups, pp_iommu_groups_free);
  g_clear_pointer (&self->devices, g_hash_table_unref);
  g_clear_object (&self->sysfs);
  g_clear_object (&self->catalog);
  g_free (self->catalog_file);
  g_free (self->catalog_error);
  G_OBJECT_CLASS (pp_registry_parent_class)->finalize (object);
}

static void
pp_registry_class_init (PpRegistryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pp_registry_finalize;

  /* Emitted as a device enters the registry, before its group is known
   * and long before it is announced: where other parts of the model give
   * it what they know of its address (a lease, a persistent binding). */
  signals[SIGNAL_DEVICE_CREATED] = g_signal_new (
      "device-created", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, G_TYPE_NONE, 1, PP_TYPE_DEVICE);
  /* Emitted once a device is complete: properties and group set. */
  signals[SIGNAL_DEVICE_ADDED] = g_signal_new (
      "device-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, G_TYPE_NONE, 1, PP_TYPE_DEVICE);
  /* Emitted after the device left the registry and its group. */
  signals[SIGNAL_DEVICE_REMOVED] = g_signal_new (
      "device-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
      NULL, NULL, G_TYPE_NONE, 1, PP_TYPE_DEVICE);
  /* Emitted when a batch of changes (one uevent, one operation) is
   * complete, so that observers can announce it as one. */
  signals[SIGNAL_CHANGES_DONE]
      = g_signal_new ("changes-done", G_TYPE_FROM_CLASS (klass),
                      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* Emitted after every attempt to load the catalog, good or bad. */
  signals[SIGNAL_CATALOG_LOADED]
      = g_signal_new ("catalog-loaded", G_TYPE_FROM_CLASS (klass),
                      G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
pp_registry_init (PpRegistry *self)
{
  self->devices
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_object_unref);
  self->groups = pp_iommu_groups_new ();
  self->catalog = pp_catalog_new_empty ();
  self->catalog_error = g_strdup ("");
  self->batch_added = g_ptr_array_new_with_free_func (g_object_unref);
  self->batch_pfs
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->batch_groups = g_hash_table_new (g_direct_hash, g_direct_equal);
  self->batch_in_use = g_hash_table_new_full (g_direct_hash, g_direct_equal,
                                              g_object_unref, NULL);
  self->vfio_groups = g_hash_table_new (g_direct_hash, g_direct_equal);
  self->vfio_watch = pp_vfio_watch_new (on_vfio_nodes, self);
  self->held = g_hash_table_new_full (g_direct_hash, g_direct_equal,
                                      g_object_unref, NULL);
}

PpRegistry *
pp_registry_new (PpSysfs *sysfs, PpHwdb *hwdb)
{
  PpRegistry *self = g_object_new (PP_TYPE_REGISTRY, NULL);

  self->sysfs = g_object_ref (sysfs);
  self->hwdb = hwdb;
  return self;
}

static PpDevice *
create_device (PpRegistry *self, const PpSysfsDevice *info)
{
  const char *vendor_name = "";
  const char *device_name = "";

  if (self->hwdb != NULL)
    pp_hwdb_lookup (self->hwdb, info->vendor_id, info->device_id, &vendor_name,
                    &device_name);
  return pp_device_new (info, vendor_name, device_name);
}

static void
apply_catalog (PpRegistry *self, PpDevice *device)
{
  const char *resource_name;
  const char *type;
  guint vendor_id;
  guint device_id;

  g_object_get (device, "vendor-id", &vendor_id, "device-id", &device_id, NULL);
  pp_catalog_match (self->catalog, vendor_id, device_id,
                    pp_device_get_class_code (device), &resource_name, &type);
  pp_device_set_catalog_entry (device, resource_name, type);
}

static PpDevice *
add_device (PpRegistry *self, const PpSysfsDevice *info)
{
  PpDevice *device = create_device (self, info);

  apply_catalog (self, device);
  g_signal_emit (self, signals[SIGNAL_DEVICE_CREATED], 0, device);
  g_hash_table_insert (self->devices, (gpointer) pp_device_get_address (device),
                       device);
  pp_iommu_groups_add (self->groups, device);
  return device;
}

static void
queue_group (PpRegistry *self, int group)
{
  if (group >= 0)
    g_hash_table_add (self->batch_groups, GINT_TO_POINTER (group));
}

static void
queue_pf (PpRegistry *self, const char *physfn)
{
  if (physfn != NULL && *physfn != '\0')
    g_hash_table_add (self->batch_pfs, g_strdup (physfn));
}

static void
queue_in_use (PpRegistry *self, PpDevice *device)
{
  if (!g_hash_table_contains (self->batch_in_use, device))
    g_hash_table_add (self->batch_in_use, g_object_ref (device));
}

/* Applies a new snapshot; the caller refreshes the groups it returns. */
static int
apply_info (PpRegistry *self, PpDevice *device, const PpSysfsDevice *info)
{
  int old_group = pp_device_get_iommu_group (device);

  pp_device_update (device, info);
  apply_catalog (self, device);
  if (pp_device_get_iommu_group (device) != old_group)
    {
      pp_iommu_groups_remove (self->groups, device);
      pp_iommu_groups_add (self->groups, device);
    }
  return old_group;
}

/* Whether @group has a member on vfio-pci, from the group's members. */
static gboolean
group_has_vfio (PpRegistry *self, int group)
{
  GPtrArray *members = pp_iommu_groups_get_members (self->groups, group);

  for (guint i = 0; members != NULL && i < members->len; i++)
    if (pp_driver_is_vfio (
            pp_device_get_driver (g_ptr_array_index (members, i))))
      return TRUE;
  return FALSE;
}

/* Keeps the watched groups those of @devices' groups that have a member on
 * vfio-pci (only the groups of devices that may have changed are looked
 * at, not every device); a node that was missing is tried again. */
static void
update_vfio_watch (PpRegistry *self, GPtrArray *devices)
{
  for (guint i = 0; i < devices->len; i++)
    {
      int group = pp_device_get_iommu_group (g_ptr_array_index (devices, i));
      gpointer key = GINT_TO_POINTER (group);

      if (group < 0)
        continue;
      if (group_has_vfio (self, group))
        g_hash_table_add (self->vfio_groups, key);
      else
        g_hash_table_remove (self->vfio_groups, key);
    }
  pp_vfio_watch_set_groups (self->vfio_watch, self->vfio_groups);
}

/* A group node was opened or closed: its members' State. */
static void
on_vfio_nodes (GHashTable *groups, gpointer user_data)
{
  PpRegistry *self = user_data;
  GHashTableIter iter;
  gpointer key;

  pp_registry_begin_batch (self);
  g_hash_table_iter_init (&iter, groups);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      GPtrArray *members
          = pp_iommu_groups_get_members (self->groups, GPOINTER_TO_INT (key));

      for (guint i = 0; members != NULL && i < members->len; i++)
        queue_in_use (self, g_ptr_array_index (members, i));
    }
  pp_registry_end_batch (self);
}

/* In use or not, for each of @devices (PpDevice), with one look at
 * /proc for all of them. */
static void
refresh_in_use_all (PpRegistry *self, GPtrArray *devices)
{
  g_autoptr (PpVfioUsers) users = pp_vfio_users_new ();

  for (guint i = 0; i < devices->len; i++)
    {
      PpDevice *device = g_ptr_array_index (devices, i);

      if (pp_driver_is_vfio (pp_device_get_driver (device)))
        pp_vfio_users_add (users, pp_device_get_iommu_group (device),
                           pp_device_get_address (device));
    }
  pp_vfio_users_scan (users);
  for (guint i = 0; i < devices->len; i++)
    {
      PpDevice *device = g_ptr_array_index (devices, i);

      pp_device_set_in_use (device,
                            pp_driver_is_vfio (pp_device_get_driver (device))
                                && pp_vfio_users_in_use (
                                    users, pp_device_get_iommu_group (device),
                                    pp_device_get_address (device)));
    }
  update_vfio_watch (self, devices);
}

static void
remove_device (PpRegistry *self, PpDevice *device)
{
  g_autofree char *physfn = NULL;
  int group = pp_device_get_iommu_group (device);
  gboolean announced;

  /* The table holds the last reference: keep it for the signal. */
  g_object_ref (device);

  g_object_get (device, "physical-function", &physfn, NULL);
  pp_iommu_groups_remove (self->groups, device);
  queue_group (self, group);
  g_hash_table_remove (self->batch_in_use, device);
  /* Both, whatever the first says. */
  announced = !g_ptr_array_remove (self->batch_added, device);
  announced = !g_hash_table_remove (self->held, device) && announced;
  g_hash_table_remove (self->devices, pp_device_get_address (device));
  if (announced)
    g_signal_emit (self, signals[SIGNAL_DEVICE_REMOVED], 0, device);

  g_object_unref (device);

  /* A VF that goes changes its PF's VirtualFunctions. */
  queue_pf (self, physfn);
}

gboolean
pp_registry_enumerate (PpRegistry *self, GError **error)
{
  g_autoptr (GPtrArray) infos = NULL;
  g_autoptr (GPtrArray) added = g_ptr_array_new ();
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (PP_IS_REGISTRY (self), FALSE);

  infos = pp_sysfs_enumerate (self->sysfs, error);
  if (infos == NULL)
    return FALSE;

  pp_registry_begin_batch (self);
  for (guint i = 0; i < infos->len; i++)
    {
      const PpSysfsDevice *info = g_ptr_array_index (infos, i);
      PpDevice *device = g_hash_table_lookup (self->devices, info->address);

      g_hash_table_add (seen, info->address);
      if (device != NULL)
        apply_info (self, device, info);
      else
        g_ptr_array_add (added, add_device (self, info));
    }

  /* On a re-read (lost events), whatever is not there any more goes. */
  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (!g_hash_table_contains (seen, pp_device_get_address (value)))
      g_ptr_array_add (gone, g_object_ref (value));
  for (guint i = 0; i < gone->len; i++)
    remove_device (self, g_ptr_array_index (gone, i));

  /* Groups are computed from what every member reported, once the whole
   * walk is done, rather than by re-reading each group's directory. */
  pp_iommu_groups_refresh_all (self->groups);
  pp_registry_update_host_state (self);

  for (guint i = 0; i < added->len; i++)
    if (!g_hash_table_contains (self->held, g_ptr_array_index (added, i)))
      g_signal_emit (self, signals[SIGNAL_DEVICE_ADDED], 0,
                     g_ptr_array_index (added, i));
  pp_registry_end_batch (self);

  g_debug ("enumerated %u PCI devices: %u new, %u gone", infos->len, added->len,
           gone->len);
  return TRUE;
}

GPtrArray *
pp_registry_get_devices (PpRegistry *self)
{
  GPtrArray *devices = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (PP_IS_REGISTRY (self), NULL);

  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (devices, g_object_ref (value));
  g_ptr_array_sort (devices, pp_device_compare_by_address);
  return devices;
}

PpDevice *
pp_registry_lookup (PpRegistry *self, const char *address)
{
  g_return_val_if_fail (PP_IS_REGISTRY (self), NULL);
  return g_hash_table_lookup (self->devices, address);
}

guint
pp_registry_get_n_devices (PpRegistry *self)
{
  g_return_val_if_fail (PP_IS_REGISTRY (self), 0);
  return g_hash_table_size (self->devices);
}

GPtrArray *
pp_registry_get_group_members (PpRegistry *self, int group)
{
  g_return_val_if_fail (PP_IS_REGISTRY (self), NULL);
  return pp_iommu_groups_get_members (self->groups, group);
}

static void
apply_protection (PpDevice *device, GHashTable *protected)
{
  const char *reason
      = g_hash_table_lookup (protected, pp_device_get_address (device));

  /* The firmware console's GPU comes first: losing it blanks the screen
   * even when nothing else depends on it. */
  if (pp_device_get_boot_vga (device))
    reason = PP_PROTECT_BOOT_VGA;
  pp_device_set_protection_reason (device, reason);
}

void
pp_registry_update_host_state (PpRegistry *self)
{
  g_autoptr (GHashTable) protected = pp_protect_scan ();
  g_autoptr (GPtrArray) devices = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (PP_IS_REGISTRY (self));

  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      apply_protection (value, protected);
      g_ptr_array_add (devices, value);
    }
  refresh_in_use_all (self, devices);
}

/* Re-reads @device; queues its groups and the in-use look. */
static void
reread_device (PpRegistry *self, PpDevice *device)
{
  g_autoptr (PpSysfsDevice) info = NULL;
  g_autoptr (GError) error = NULL;
  int old_group;

  info = pp_sysfs_read_device (self->sysfs, pp_device_get_syspath (device),
                               &error);
  if (info == NULL)
    {
      g_debug ("%s is gone: %s", pp_device_get_address (device),
               error->message);
      remove_device (self, device);
      return;
    }
  old_group = apply_info (self, device, info);
  queue_group (self, old_group);
  queue_group (self, pp_device_get_iommu_group (device));
  queue_in_use (self, device);
}

void
pp_registry_begin_batch (PpRegistry *self)
{
  g_return_if_fail (PP_IS_REGISTRY (self));
  self->batch_depth++;
}

/* Does what the batch queued: PFs first (re-reading one can queue its
 * group), then groups, then one look at the host for every new device and
 * one walk of /proc for every device that may have changed its state. */
static void
finish_batch (PpRegistry *self)
{
  g_autoptr (GPtrArray) added = NULL;
  g_autoptr (GPtrArray) in_use
      = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer key;

  while (g_hash_table_size (self->batch_pfs) > 0)
    {
      g_autofree char *address = NULL;
      PpDevice *pf;

      g_hash_table_iter_init (&iter, self->batch_pfs);
      g_hash_table_iter_next (&iter, &key, NULL);
      g_hash_table_iter_steal (&iter);
      address = key;
      pf = g_hash_table_lookup (self->devices, address);
      if (pf != NULL)
        reread_device (self, pf);
    }

  g_hash_table_iter_init (&iter, self->batch_groups);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    pp_iommu_groups_refresh (self->groups, GPOINTER_TO_INT (key));
  g_hash_table_remove_all (self->batch_groups);

  added = g_steal_pointer (&self->batch_added);
  self->batch_added = g_ptr_array_new_with_free_func (g_object_unref);
  if (added->len > 0)
    {
      g_autoptr (GHashTable) protected = pp_protect_scan ();

      for (guint i = 0; i < added->len; i++)
        {
          apply_protection (g_ptr_array_index (added, i), protected);
          queue_in_use (self, g_ptr_array_index (added, i));
        }
    }

  g_hash_table_iter_init (&iter, self->batch_in_use);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_ptr_array_add (in_use, key);
      g_hash_table_iter_steal (&iter);
    }
  refresh_in_use_all (self, in_use);

  /* The batch's new devices are named: the database need not stay mapped
   * until IDs not seen yet come. */
  if (self->hwdb != NULL)
    pp_hwdb_release (self->hwdb);

  /* Complete before they are announced: properties, group, host state. */
  for (guint i = 0; i < added->len; i++)
    if (!g_hash_table_contains (self->held, g_ptr_array_index (added, i)))
      g_signal_emit (self, signals[SIGNAL_DEVICE_ADDED], 0,
                     g_ptr_array_index (added, i));
  g_signal_emit (self, signals[SIGNAL_CHANGES_DONE], 0);
}

void
pp_registry_end_batch (PpRegistry *self)
{
  g_return_if_fail (PP_IS_REGISTRY (self));
  g_return_if_fail (self->batch_depth > 0);
  if (--self->batch_depth == 0)
    finish_batch (self);
}

void
pp_registry_refresh_device (PpRegistry *self, const char *address)
{
  PpDevice *device;

  g_return_if_fail (PP_IS_REGISTRY (self));

  device = g_hash_table_lookup (self->devices, address);
  if (device == NULL)
    return;
  pp_registry_begin_batch (self);
  reread_device (self, device);
  pp_registry_end_batch (self);
}

static void
handle_pci_add (PpRegistry *self, const char *syspath)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpSysfsDevice) info
      = pp_sysfs_read_device (self->sysfs, syspath, &error);
  PpDevice *device;

  if (info == NULL)
    {
      /* Gone again before we looked: its remove event follows. */
      g_debug ("added device not readable: %s", error->message);
      return;
    }

  device = g_hash_table_lookup (self->devices, info->address);
  if (device != NULL)
    {
      reread_device (self, device);
      return;
    }

  /* Announced when the batch ends, complete. */
  device = add_device (self, info);
  g_ptr_array_add (self->batch_added, g_object_ref (device));
  queue_group (self, pp_device_get_iommu_group (device));
  /* A new VF changes its PF's VirtualFunctions. */
  queue_pf (self, info->physfn);
}

static void
handle_vfio (PpRegistry *self, int group)
{
  GPtrArray *members = pp_iommu_groups_get_members (self->groups, group);

  for (guint i = 0; members != NULL && i < members->len; i++)
    queue_in_use (self, g_ptr_array_index (members, i));
}

void
pp_registry_handle_uevent (PpRegistry *self,
                           const char *action,
                           const char *subsystem,
                           const char *sysname,
                           const char *syspath)
{
  g_autofree char *address = NULL;
  int group;
  PpDevice *device;

  g_return_if_fail (PP_IS_REGISTRY (self));

  pp_registry_begin_batch (self);
  switch (pp_monitor_classify (action, subsystem, sysname, &address, &group))
    {
      case PP_UEVENT_IGNORE:
        break;
      case PP_UEVENT_VFIO_GROUP:
        handle_vfio (self, group);
        break;
      case PP_UEVENT_PCI_ADD:
        handle_pci_add (self, syspath);
        break;
      case PP_UEVENT_PCI_REMOVE:
        /* The directory is gone already: drop what we know, read nothing. */
        device = g_hash_table_lookup (self->devices, address);
        if (device != NULL)
          remove_device (self, device);
        break;
      case PP_UEVENT_PCI_CHANGE:
        device = g_hash_table_lookup (self->devices, address);
        if (device != NULL)
          {
            /* bind, unbind, change...: an unbind event names no driver, so
             * re-read what sysfs says now rather than trust the event. */
            reread_device (self, device);
          }
        else
          {
            g_autoptr (GError) error = NULL;

            /* An event for a device we never saw: we missed its add. */
            g_message ("uevent %s for unknown device %s: re-reading sysfs",
                       action, address);
            if (!pp_registry_enumerate (self, &error))
              g_warning ("re-reading sysfs failed: %s", error->message);
          }
        break;
    }
  g_debug ("uevent %s %s %s", action, subsystem, sysname);
  pp_registry_end_batch (self);
}

void
pp_registry_set_catalog_file (PpRegistry *self, const char *path)
{
  g_return_if_fail (PP_IS_REGISTRY (self));
  g_free (self->catalog_file);
  self->catalog_file = g_strdup (path);
}

gboolean
pp_registry_reload_catalog (PpRegistry *self, GError **error)
{
  g_autoptr (PpCatalog) catalog = NULL;
  g_autoptr (GError) local = NULL;
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (PP_IS_REGISTRY (self), FALSE);

  catalog = self->catalog_file != NULL
                ? pp_catalog_new_from_file (self->catalog_file, &local)
                : pp_catalog_new_empty ();
  if (catalog == NULL)
    {
      /* The devices keep the names of the last good file. */
      g_warning ("%s; the previous catalog stays in force", local->message);
      g_free (self->catalog_error);
      self->catalog_error = g_strdup (local->message);
      g_signal_emit (self, signals[SIGNAL_CATALOG_LOADED], 0);
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }

  for (const char *const *w = pp_catalog_get_warnings (catalog); *w; w++)
    g_warning ("%s", *w);
  if (self->catalog_file != NULL)
    g_message ("catalog %s: %u device entries", self->catalog_file,
               pp_catalog_get_n_entries (catalog));
  g_set_object (&self->catalog, catalog);
  g_free (self->catalog_error);
  self->catalog_error = g_strdup ("");

  pp_registry_begin_batch (self);
  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    apply_catalog (self, value);
  g_signal_emit (self, signals[SIGNAL_CATALOG_LOADED], 0);
  pp_registry_end_batch (self);
  return TRUE;
}

const char *
pp_registry_get_catalog_error (PpRegistry *self)
{
  g_return_val_if_fail (PP_IS_REGISTRY (self), NULL);
  return self->catalog_error;
}

GHashTable *
pp_registry_count_resources (PpRegistry *self)
{
  GHashTable *counts
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (PP_IS_REGISTRY (self), NULL);

  /* Counted after every batch of changes: on a host without a catalog,
   * where no device has a name, that need not be a walk of them all. */
  if (pp_catalog_get_n_entries (self->catalog) == 0)
    return counts;
  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      PpDevice *device = value;
      const char *name = pp_device_get_resource_name (device);
      PpResourceCount *count;

      if (*name == '\0')
        continue;
      count = g_hash_table_lookup (counts, name);
      if (count == NULL)
        {
          count = g_new0 (PpResourceCount, 1);
          g_hash_table_insert (counts, (gpointer) name, count);
        }
      count->total++;
      if (pp_device_is_free (device))
        count->free++;
    }
  return counts;
}

void
pp_registry_hold_device (PpRegistry *self, PpDevice *device)
{
  g_return_if_fail (PP_IS_REGISTRY (self));
  g_hash_table_add (self->held, g_object_ref (device));
}

void
pp_registry_release_device (PpRegistry *self, PpDevice *device)
{
  g_return_if_fail (PP_IS_REGISTRY (self));

  if (!g_hash_table_remove (self->held, device)
      || g_hash_table_lookup (self->devices, pp_device_get_address (device))
             != device)
    return;
  /* Announced as any new device is, at the end of a batch. */
  pp_registry_begin_batch (self);
  g_ptr_array_add (self->batch_added, g_object_ref (device));
  pp_registry_end_batch (self);
}
