/* PpCatalog: the device catalog, which names devices as resources.
 *
 * The libvirt-provider format (../shared/seeds/), read with PpYaml:
 *
 *   vendors:
 *     - id: "0x10de"              4 hex digits, "0x" optional
 *       name: nvidia              [a-z0-9-], starting with a letter or digit
 *       devices:
 *         - id: "0x2236"          4 hex digits: the device ID;
 *                                 6 ("0x030200"): a class code, prog-if
 *                                 included, matched with a warning
 *           name: a10             [A-Za-z0-9._-], starting alphanumeric
 *           type: gpu             one of the Type property's values
 *
 * A device matches an entry of its vendor by device ID, or else by class
 * code; it then has ResourceName "<type>.<vendor>/<name>" (a Kubernetes
 * extended resource name) and the entry's Type.  Two entries may name
 * the same resource: it pools their devices.
 *
 * Any problem (YAML syntax, an unknown or missing key, a wrong type, an
 * id that is not hex, a vendor id or a device id given twice) rejects
 * the whole file with a PP_ERROR_CONFIG "FILE:LINE:COLUMN: message".
 * An immutable object: safe to share between threads once loaded.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define PP_CATALOG_MAX_SIZE (1024 * 1024) /* bytes */
#define PP_CATALOG_MAX_ENTRIES 65536      /* devices over all vendors */

#define PP_TYPE_CATALOG (pp_catalog_get_type ())
G_DECLARE_FINAL_TYPE (PpCatalog, pp_catalog, PP, CATALOG, GObject)

/* A catalog that names nothing: the daemon's before any file loads. */
PpCatalog *pp_catalog_new_empty (void);

/* Parses @length bytes of @text; @filename only names it in messages. */
PpCatalog *pp_catalog_new_from_data (const char *text,
                                     gsize length,
                                     const char *filename,
                                     GError **error);

/* Reads @path; a file that does not exist is an empty catalog. */
PpCatalog *pp_catalog_new_from_file (const char *path, GError **error);

/* What was accepted but deserves a word in the log, such as an id
 * matched as a class code: "FILE:LINE:COLUMN: message" each. */
const char *const *pp_catalog_get_warnings (PpCatalog *self);

/* Number of device entries. */
guint pp_catalog_get_n_entries (PpCatalog *self);

/* The resource name and type of a device, borrowed from the catalog;
 * FALSE (and NULLs) when no entry matches. */
gboolean pp_catalog_match (PpCatalog *self,
                           guint vendor_id,
                           guint device_id,
                           guint32 class_code,
                           const char **resource_name,
                           const char **type);

G_END_DECLS
