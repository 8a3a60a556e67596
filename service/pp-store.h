/* PpStore: what pcipassd must remember across restarts and crashes.
 *
 * For every device the daemon moved to vfio-pci, the driver and
 * driver_override it had before, written to the state directory before
 * the first sysfs write and removed once the device is back.  The file is
 * replaced atomically (write, fsync, rename), so a crash leaves either the
 * old or the new version, never a torn one.  Safe to use from any thread.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define PP_TYPE_STORE (pp_store_get_type ())
G_DECLARE_FINAL_TYPE (PpStore, pp_store, PP, STORE, GObject)

/* Creates @state_dir if needed and loads its records.  A corrupt file is
 * an error: silently forgetting records would strand devices on vfio-pci. */
PpStore *pp_store_new (const char *state_dir, GError **error);

/* The record of @address: TRUE and newly allocated strings if there is
 * one. */
gboolean pp_store_lookup (PpStore *self,
                          const char *address,
                          char **driver,
                          char **override);

gboolean pp_store_put (PpStore *self,
                       const char *address,
                       const char *driver,
                       const char *override,
                       GError **error);

gboolean pp_store_remove (PpStore *self, const char *address, GError **error);

/* Addresses with a record, sorted. */
char **pp_store_list (PpStore *self);

G_END_DECLS
