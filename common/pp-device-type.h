/* The values of a device's Type property, shared by daemon and client. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "gpu", "network", "storage", "audio", "usb", "bridge", "other"; NULL
 * terminated. */
extern const char *const pp_device_types[];

/* TRUE for one of pp_device_types. */
gboolean pp_device_type_is_valid (const char *type);

G_END_DECLS
