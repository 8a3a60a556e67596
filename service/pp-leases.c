#include "pp-leases.h"

#include "pp-error.h"

typedef struct
{
  char *owner;
  char *tie; /* NULL: in the state file */
} Lease;

struct _PpLeases
{
  GObject parent_instance;

  PpRegistry *registry;
  PpStore *store;
  GHashTable *leases; /* address -> Lease */
};

enum
{
  SIGNAL_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (PpLeases, pp_leases, G_TYPE_OBJECT)

static void
lease_free (Lease *lease)
{
  g_free (lease->owner);
  g_free (lease->tie);
  g_free (lease);
}

static void
pp_leases_dispose (GObject *object)
{
  PpLeases *self = PP_LEASES (object);

  if (self->registry != NULL)
    g_signal_handlers_disconnect_by_data (self->registry, self);
  g_clear_object (&self->registry);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (pp_leases_parent_class)->dispose (object);
}

static void
pp_leases_finalize (GObject *object)
{
  PpLeases *self = PP_LEASES (object);

  g_hash_table_unref (self->leases);
  G_OBJECT_CLASS (pp_leases_parent_class)->finalize (object);
}

static void
pp_leases_class_init (PpLeasesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pp_leases_dispose;
  object_class->finalize = pp_leases_finalize;

  /* Emitted after a lease begins or ends. */
  signals[SIGNAL_CHANGED]
      = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                      0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
pp_leases_init (PpLeases *self)
{
  self->leases = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify) lease_free);
}

static void
on_device_created (PpRegistry *registry, PpDevice *device, gpointer user_data)
{
  PpLeases *self = user_data;

  pp_device_set_owner (
      device, pp_leases_get_owner (self, pp_device_get_address (device)));
}

static void
on_device_removed (PpRegistry *registry, PpDevice *device, gpointer user_data)
{
  PpLeases *self = user_data;
  const char *address = pp_device_get_address (device);
  const char *owner = pp_leases_get_owner (self, address);

  if (owner != NULL)
    g_message ("%s is gone while leased to %s: the lease stays for when it "
               "comes back",
               address, owner);
}

PpLeases *
pp_leases_new (PpRegistry *registry, PpStore *store)
{
  PpLeases *self = g_object_new (PP_TYPE_LEASES, NULL);
  g_auto (GStrv) owned = pp_store_list_owned (store);

  self->registry = g_object_ref (registry);
  self->store = g_object_ref (store);
  for (char **a = owned; *a != NULL; a++)
    {
      Lease *lease = g_new0 (Lease, 1);

      lease->owner = pp_store_get_owner (store, *a);
      g_hash_table_insert (self->leases, g_strdup (*a), lease);
    }
  g_signal_connect (registry, "device-created", G_CALLBACK (on_device_created),
                    self);
  g_signal_connect (registry, "device-removed", G_CALLBACK (on_device_removed),
                    self);

  /* Devices read before the leases were. */
  {
    g_autoptr (GPtrArray) devices = pp_registry_get_devices (registry);

    pp_registry_begin_batch (registry);
    for (guint i = 0; i < devices->len; i++)
      on_device_created (registry, g_ptr_array_index (devices, i), self);
    pp_registry_end_batch (registry);
  }
  return self;
}

const char *
pp_leases_get_owner (PpLeases *self, const char *address)
{
  Lease *lease;

  g_return_val_if_fail (PP_IS_LEASES (self), NULL);
  lease = g_hash_table_lookup (self->leases, address);
  return lease != NULL ? lease->owner : NULL;
}

const char *
pp_leases_get_tie (PpLeases *self, const char *address)
{
  Lease *lease;

  g_return_val_if_fail (PP_IS_LEASES (self), NULL);
  lease = g_hash_table_lookup (self->leases, address);
  return lease != NULL ? lease->tie : NULL;
}

/* Shows the new holder on the device, if present, as one change. */
static void
publish (PpLeases *self, const char *address)
{
  PpDevice *device = pp_registry_lookup (self->registry, address);

  pp_registry_begin_batch (self->registry);
  if (device != NULL)
    pp_device_set_owner (device, pp_leases_get_owner (self, address));
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
  pp_registry_end_batch (self->registry);
}

static gboolean
reserved_error (GError **error, const char *address, const char *owner)
{
  g_set_error (error, PP_ERROR, PP_ERROR_RESERVED, "%s is leased to %s",
               address, owner);
  return FALSE;
}

/* VFIO gives a group to one container: two owners cannot share one. */
gboolean
pp_leases_check_group (PpLeases *self,
                       const char *address,
                       const char *owner,
                       GError **error)
{
  PpDevice *device = pp_registry_lookup (self->registry, address);
  GPtrArray *members;

  if (device == NULL || pp_device_get_iommu_group (device) < 0)
    return TRUE;
  members = pp_registry_get_group_members (self->registry,
                                           pp_device_get_iommu_group (device));
  for (guint i = 0; members != NULL && i < members->len; i++)
    {
      const char *member
          = pp_device_get_address (g_ptr_array_index (members, i));
      const char *holder = pp_leases_get_owner (self, member);

      if (holder != NULL && !g_str_equal (holder, owner))
        {
          g_set_error (error, PP_ERROR, PP_ERROR_RESERVED,
                       "%s shares IOMMU group %d with %s, which is leased to "
                       "%s: a group can only go to one owner",
                       address, pp_device_get_iommu_group (device), member,
                       holder);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
pp_leases_reserve (PpLeases *self,
                   const char *address,
                   const char *owner,
                   const char *tie,
                   GError **error)
{
  Lease *lease;

  g_return_val_if_fail (PP_IS_LEASES (self), FALSE);
  g_return_val_if_fail (pp_store_owner_is_valid (owner), FALSE);

  lease = g_hash_table_lookup (self->leases, address);
  if (lease != NULL && !g_str_equal (lease->owner, owner))
    return reserved_error (error, address, lease->owner);
  if (lease != NULL && g_strcmp0 (lease->tie, tie) == 0)
    return TRUE;
  if (!pp_leases_check_group (self, address, owner, error))
    return FALSE;

  /* On disk first: memory never claims a lease the file does not keep. */
  if (!pp_store_set_owner (self->store, address, tie == NULL ? owner : NULL,
                           error))
    return FALSE;
  if (lease == NULL)
    {
      lease = g_new0 (Lease, 1);
      lease->owner = g_strdup (owner);
      g_hash_table_insert (self->leases, g_strdup (address), lease);
    }
  g_free (lease->tie);
  lease->tie = g_strdup (tie);
  g_message ("%s leased to %s%s%s", address, owner,
             tie != NULL ? " while it stays on the bus as " : "",
             tie != NULL ? tie : "");
  publish (self, address);
  return TRUE;
}

gboolean
pp_leases_release (PpLeases *self, const char *address, GError **error)
{
  Lease *lease;

  g_return_val_if_fail (PP_IS_LEASES (self), FALSE);

  lease = g_hash_table_lookup (self->leases, address);
  if (lease == NULL)
    return TRUE;
  if (lease->tie == NULL
      && !pp_store_set_owner (self->store, address, NULL, error))
    return FALSE;
  g_message ("%s released by %s", address, lease->owner);
  g_hash_table_remove (self->leases, address);
  publish (self, address);
  return TRUE;
}

guint
pp_leases_release_tied (PpLeases *self, const char *tie)
{
  g_autoptr (GPtrArray) tied = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  g_return_val_if_fail (PP_IS_LEASES (self), 0);

  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (g_strcmp0 (((Lease *) value)->tie, tie) == 0)
      g_ptr_array_add (tied, g_strdup (key));
  for (guint i = 0; i < tied->len; i++)
    {
      const char *address = g_ptr_array_index (tied, i);

      g_message ("%s: its lease holder %s left the bus", address,
                 pp_leases_get_owner (self, address));
      /* Tied leases are not on disk: nothing can fail. */
      pp_leases_release (self, address, NULL);
    }
  return tied->len;
}

gboolean
pp_leases_check (PpLeases *self,
                 const char *const *addresses,
                 const char *owner,
                 GError **error)
{
  g_return_val_if_fail (PP_IS_LEASES (self), FALSE);

  for (const char *const *a = addresses; *a != NULL; a++)
    {
      const char *holder = pp_leases_get_owner (self, *a);

      if (holder != NULL && g_strcmp0 (holder, owner) != 0)
        return reserved_error (error, *a, holder);
    }
  return TRUE;
}

GHashTable *
pp_leases_get_all (PpLeases *self)
{
  GHashTable *all = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  gpointer key;
  gpointer value;

  g_return_val_if_fail (PP_IS_LEASES (self), NULL);

  g_hash_table_iter_init (&iter, self->leases);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_hash_table_insert (all, key, ((Lease *) value)->owner);
  return all;
}
