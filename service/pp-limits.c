#include "pp-limits.h"

#include <string.h>

typedef struct
{
  guint calls;
  gsize bytes;
} Share;

struct _PpLimits
{
  GDBusConnection *connection;
  guint filter_id;

  GMutex lock;         /* the worker thread and the main loop both count */
  GHashTable *shares;  /* sender -> Share */
  GHashTable *pending; /* "sender serial" -> body size, unanswered */
  gsize total_bytes;
};

static gsize
body_size (GDBusMessage *message)
{
  GVariant *body = g_dbus_message_get_body (message);

  return body != NULL ? g_variant_get_size (body) : 0;
}

static char *
pending_key (const char *sender, guint32 serial)
{
  return g_strdup_printf ("%s %" G_GUINT32_FORMAT, sender, serial);
}

/* Called with the lock held.  NULL when @message may go on, else why
 * not. */
static char *
admit (PpLimits *self, GDBusMessage *message)
{
  const char *sender = g_dbus_message_get_sender (message);
  gsize size = body_size (message);
  Share *share;

  if (sender == NULL)
    return NULL; /* a peer connection, not the bus: nothing to share */
  if (size > PP_LIMITS_MESSAGE)
    return g_strdup_printf ("a call of %" G_GSIZE_FORMAT " bytes; pcipassd "
                            "takes at most %u",
                            size, PP_LIMITS_MESSAGE);
  share = g_hash_table_lookup (self->shares, sender);
  if (share == NULL)
    {
      share = g_new0 (Share, 1);
      g_hash_table_insert (self->shares, g_strdup (sender), share);
    }
  if (share->calls + 1 > PP_LIMITS_CALLS)
    return g_strdup_printf ("%s has %u calls unanswered, the most one caller "
                            "may have: wait for their replies",
                            sender, share->calls);
  if (share->bytes + size > PP_LIMITS_BYTES)
    return g_strdup_printf ("%s has %" G_GSIZE_FORMAT " bytes of calls "
                            "unanswered; one caller may have %u: wait for "
                            "their replies",
                            sender, share->bytes, PP_LIMITS_BYTES);
  if (self->total_bytes + size > PP_LIMITS_TOTAL_BYTES)
    return g_strdup_printf ("pcipassd has %" G_GSIZE_FORMAT " bytes of calls "
                            "unanswered from all callers: try again soon",
                            self->total_bytes);

  /* Nothing will answer such a call, so nothing would release it. */
  if (g_dbus_message_get_flags (message)
      & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED)
    return NULL;
  share->calls++;
  share->bytes += size;
  self->total_bytes += size;
  g_hash_table_insert (
      self->pending, pending_key (sender, g_dbus_message_get_serial (message)),
      GSIZE_TO_POINTER (size));
  return NULL;
}

/* Called with the lock held: a reply to @destination's call @serial is
 * going out. */
static void
release (PpLimits *self, const char *destination, guint32 serial)
{
  g_autofree char *key = pending_key (destination, serial);
  gpointer size;
  Share *share;

  if (!g_hash_table_lookup_extended (self->pending, key, NULL, &size))
    return;
  g_hash_table_remove (self->pending, key);
  share = g_hash_table_lookup (self->shares, destination);
  if (share != NULL)
    {
      share->calls--;
      share->bytes -= GPOINTER_TO_SIZE (size);
      if (share->calls == 0)
        g_hash_table_remove (self->shares, destination);
    }
  self->total_bytes -= GPOINTER_TO_SIZE (size);
}

static GDBusMessage *
filter (GDBusConnection *connection,
        GDBusMessage *message,
        gboolean incoming,
        gpointer user_data)
{
  PpLimits *self = user_data;
  GDBusMessageType type = g_dbus_message_get_message_type (message);
  g_autofree char *refusal = NULL;

  if (!incoming)
    {
      if (type == G_DBUS_MESSAGE_TYPE_METHOD_RETURN
          || type == G_DBUS_MESSAGE_TYPE_ERROR)
        {
          const char *destination = g_dbus_message_get_destination (message);

          if (destination != NULL)
            {
              g_mutex_lock (&self->lock);
              release (self, destination,
                       g_dbus_message_get_reply_serial (message));
              g_mutex_unlock (&self->lock);
            }
        }
      return message;
    }
  if (type != G_DBUS_MESSAGE_TYPE_METHOD_CALL)
    return message;

  g_mutex_lock (&self->lock);
  refusal = admit (self, message);
  g_mutex_unlock (&self->lock);
  if (refusal == NULL)
    return message;

  if (!(g_dbus_message_get_flags (message)
        & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED))
    {
      g_autoptr (GDBusMessage) reply = g_dbus_message_new_method_error (
          message, "org.freedesktop.DBus.Error.LimitsExceeded", "%s", refusal);

      g_dbus_connection_send_message (
          connection, reply, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, NULL);
    }
  g_object_unref (message);
  return NULL;
}

PpLimits *
pp_limits_new (GDBusConnection *connection)
{
  PpLimits *self = g_new0 (PpLimits, 1);

  g_mutex_init (&self->lock);
  self->shares
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->connection = g_object_ref (connection);
  self->filter_id
      = g_dbus_connection_add_filter (connection, filter, self, NULL);
  return self;
}

void
pp_limits_free (PpLimits *self)
{
  if (self == NULL)
    return;
  /* After this returns the filter runs no more, in any thread. */
  g_dbus_connection_remove_filter (self->connection, self->filter_id);
  g_object_unref (self->connection);
  g_hash_table_unref (self->shares);
  g_hash_table_unref (self->pending);
  g_mutex_clear (&self->lock);
  g_free (self);
}
