/* Vendor and device names from the udev hardware database. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PpHwdb PpHwdb;

/* Never fails: without a database (no hwdb.bin) every lookup returns "". */
PpHwdb *pp_hwdb_new (void);
void pp_hwdb_free (PpHwdb *hwdb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpHwdb, pp_hwdb_free)

gboolean pp_hwdb_is_available (PpHwdb *hwdb);

/* Sets the names, "" for what the database does not know.  They are
 * interned strings: valid for the life of the process, shared by every
 * device with the same IDs.  Each pair of IDs is looked up once. */
void pp_hwdb_lookup (PpHwdb *hwdb,
                     guint16 vendor_id,
                     guint16 device_id,
                     const char **vendor_name,
                     const char **device_name);

/* Unmaps the database (13 MB, of which a walk of a host leaves 2 MB
 * resident) until a lookup of IDs not seen yet opens it again; the names
 * found so far stay. */
void pp_hwdb_release (PpHwdb *hwdb);

G_END_DECLS
