/* PpStore: what pcipassd must remember across restarts and crashes.
 *
 * One file, format version 2 (the README's "The state file"), a group per
 * device address.  For every device the daemon moved to vfio-pci, the
 * driver and
 * driver_override it had before, written to the state directory before
 * the first sysfs write and removed once the device is back.  While an
 * operation runs, its devices' records also say which operation
 * ("pending"), so a daemon that restarts after a crash knows what it was
 * doing and can finish or undo it.
 *
 * The file is replaced atomically (temporary file, fsync, rename, fsync
 * of the directory), so a crash leaves either the old or the new version,
 * never a torn one.  Everything read back is checked: a record that is not
 * valid UTF-8, names a driver outside [A-Za-z0-9_.-], has an unknown key
 * or a bad address is logged with its line and moved aside with the rest
 * of the file, and the good records are kept; a file that cannot be read
 * at all is moved aside too.  Version 1 files (no header) read as they
 * are; a newer version than this code knows makes pp_store_new() fail
 * rather than misread it.  The same group holds the device's lease holder
 * ("owner") and whether its binding is persistent, whether or not the
 * device is present.  Safe to use from any thread.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define PP_STORE_FILE "bindings"
#define PP_STORE_PENDING_BIND "bind"
#define PP_STORE_PENDING_UNBIND "unbind"
#define PP_STORE_VERSION 2
#define PP_STORE_MAX_OWNER 128 /* bytes */

#define PP_TYPE_STORE (pp_store_get_type ())
G_DECLARE_FINAL_TYPE (PpStore, pp_store, PP, STORE, GObject)

/* One device's record. */
typedef struct
{
  const char *address;
  const char *driver;   /* before pcipassd moved it, "" when unbound */
  const char *override; /* driver_override before, "" when unset */
} PpRecord;

/* Creates @state_dir if needed and loads its records.  Bad records are
 * moved aside (see above), never dropped in silence; only a directory
 * that cannot be created and a file of a newer version are errors. */
PpStore *pp_store_new (const char *state_dir, GError **error);

/* The record of @address: TRUE and newly allocated strings if there is
 * one. */
gboolean pp_store_lookup (PpStore *self,
                          const char *address,
                          char **driver,
                          char **override);

/* The operation in progress on @address (PP_STORE_PENDING_*), or NULL. */
char *pp_store_get_pending (PpStore *self, const char *address);

/* Before the first write of @operation: adds the records of @records that
 * are not on file yet (a NULL driver adds none) and marks every one of
 * them pending, in one atomic save. */
gboolean pp_store_begin (PpStore *self,
                         const char *operation,
                         const PpRecord *records,
                         guint n_records,
                         GError **error);

/* The operation on @addresses is over: their records, if any, are no
 * longer pending. */
gboolean
pp_store_end (PpStore *self, const char *const *addresses, GError **error);

gboolean pp_store_remove (PpStore *self, const char *address, GError **error);

/* Addresses with a binding record, sorted. */
char **pp_store_list (PpStore *self);

/* 1 to PP_STORE_MAX_OWNER of [A-Za-z0-9._:@/+-]: what an owner may be. */
gboolean pp_store_owner_is_valid (const char *owner);

/* The lease holder of @address, NULL for none. */
char *pp_store_get_owner (PpStore *self, const char *address);

/* Records @owner (NULL: none) as @address's lease holder. */
gboolean pp_store_set_owner (PpStore *self,
                             const char *address,
                             const char *owner,
                             GError **error);

/* Addresses with a lease holder, sorted. */
char **pp_store_list_owned (PpStore *self);

gboolean pp_store_get_persistent (PpStore *self, const char *address);
gboolean pp_store_set_persistent (PpStore *self,
                                  const char *address,
                                  gboolean persistent,
                                  GError **error);

/* Addresses with a persistent binding, sorted. */
char **pp_store_list_persistent (PpStore *self);

G_END_DECLS
