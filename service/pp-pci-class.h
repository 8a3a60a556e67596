/* What a PCI class code says a device is. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One of pp_device_types: the strings DESIGN.md fixes for the Type
 * property. */
const char *pp_pci_class_to_type (guint32 class_code);

/* PCI-to-PCI and CardBus bridges (class 0x0604, 0x0609, 0x0607): their
 * header is not type 0, so vfio-pci refuses them and they stay where
 * they are when a group moves.  Other class 0x06 functions (host, ISA/LPC
 * bridges) are ordinary endpoints and move with their group. */
gboolean pp_pci_class_is_pci_bridge (guint32 class_code);

G_END_DECLS
