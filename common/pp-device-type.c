#include "pp-device-type.h"

const char *const pp_device_types[] = {
  "gpu", "network", "storage", "audio", "usb", "bridge", "other", NULL,
};

gboolean
pp_device_type_is_valid (const char *type)
{
  return type != NULL && g_strv_contains (pp_device_types, type);
}
