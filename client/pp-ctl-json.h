/* pcipassctl's --json output; the format is documented in json-format.md. */
#pragma once

#include "pp-ctl-inventory.h"

#include <json-glib/json-glib.h>
#include <stdio.h>

G_BEGIN_DECLS

/* One device object. */
JsonNode *pp_ctl_json_device (PpCtlInventory *inventory, PpCtlDevice *device);

/* An array of device objects. */
JsonNode *pp_ctl_json_devices (PpCtlInventory *inventory, GPtrArray *devices);

/* Prints pp_ctl_json_devices() as pp_ctl_json_to_data() would, one
 * device at a time. */
void pp_ctl_json_print_devices (PpCtlInventory *inventory,
                                GPtrArray *devices,
                                FILE *out);

/* Appends @value to @out as a JSON string, quoted and escaped as
 * json-glib writes it (control characters as \uXXXX, or \b \f \n \r \t),
 * so that text written piecemeal matches the rest. */
void pp_ctl_json_append_string (GString *out, const char *value);

/* An array of group objects, from pp_ctl_inventory_groups(). */
JsonNode *pp_ctl_json_groups (PpCtlInventory *inventory, GPtrArray *groups);

/* {"KEY": [{"address": .., "from": .., "to": ..}, ..]} for the a(sss)
 * @steps of Device.Bind and Unbind; an unbound end ("") is null. */
/* {"KEY": [steps]}, and with @left_behind (PpCtlDevice, may be NULL for
 * none: the key is left out) "left_behind": [{"address", "driver"}]. */
JsonNode *pp_ctl_json_steps (const char *key,
                             GVariant *steps,
                             PpCtlInventory *inventory,
                             GPtrArray *left_behind);

/* @root pretty-printed with a 2-space indent, ending with a newline. */
char *pp_ctl_json_to_data (JsonNode *root);

/* Prints pp_ctl_json_to_data() on stdout, as UTF-8 whatever the locale. */
void pp_ctl_json_print (JsonNode *root);

G_END_DECLS
