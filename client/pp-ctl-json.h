/* pcipassctl's --json output; the format is documented in json-format.md. */
#pragma once

#include "pp-ctl-inventory.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* One device object. */
JsonNode *pp_ctl_json_device (PpCtlInventory *inventory, PpDbusDevice *device);

/* An array of device objects. */
JsonNode *pp_ctl_json_devices (PpCtlInventory *inventory, GPtrArray *devices);

/* An array of group objects, from pp_ctl_inventory_groups(). */
JsonNode *pp_ctl_json_groups (PpCtlInventory *inventory, GPtrArray *groups);

/* {"KEY": [{"address": .., "from": .., "to": ..}, ..]} for the a(sss)
 * @steps of Device.Bind and Unbind; an unbound end ("") is null. */
JsonNode *pp_ctl_json_steps (const char *key, GVariant *steps);

/* @root pretty-printed with a 2-space indent, ending with a newline. */
char *pp_ctl_json_to_data (JsonNode *root);

G_END_DECLS
