/* What a PCI class code says a device is. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "gpu", "network", "storage", "audio", "usb", "bridge" or "other"; the
 * strings DESIGN.md fixes for the Type property. */
const char *pp_pci_class_to_type (guint32 class_code);

/* TRUE for a known Type string. */
gboolean pp_pci_type_is_valid (const char *type);

G_END_DECLS
