/* pcipassctl's --json output; the format is documented in json-format.md.
 *
 * Keys are the snake_case D-Bus property names.  IDs are lower-case hex
 * strings, as lspci and sysfs spell them; the "none" values of the bus
 * ("" / -1 / "/") become null, except in arrays, which are just empty.
 */
#include "pp-ctl-json.h"

#include <string.h>

static void
add_hex (JsonBuilder *builder, const char *key, int digits, guint value)
{
  g_autofree char *text = g_strdup_printf ("%0*x", digits, value);

  json_builder_set_member_name (builder, key);
  json_builder_add_string_value (builder, text);
}

static void
add_string (JsonBuilder *builder, const char *key, const char *value)
{
  json_builder_set_member_name (builder, key);
  json_builder_add_string_value (builder, value != NULL ? value : "");
}

/* "" (the bus's "none") becomes null. */
/* "@key": [{"address", "driver"}] of @devices (PpCtlDevice). */
static void
add_drivers (JsonBuilder *builder,
             const char *key,
             PpCtlInventory *inventory,
             GPtrArray *devices)
{
  json_builder_set_member_name (builder, key);
  json_builder_begin_array (builder);
  for (guint i = 0; i < devices->len; i++)
    {
      PpCtlDevice *device = g_ptr_array_index (devices, i);

      json_builder_begin_object (builder);
      add_string (builder, "address",
                  pp_ctl_inventory_address (inventory, device));
      add_string (builder, "driver", pp_ctl_device_get_driver (device));
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
}

static void
add_string_or_null (JsonBuilder *builder, const char *key, const char *value)
{
  json_builder_set_member_name (builder, key);
  if (value == NULL || *value == '\0')
    json_builder_add_null_value (builder);
  else
    json_builder_add_string_value (builder, value);
}

/* -1 (the bus's "none") becomes null. */
static void
add_int_or_null (JsonBuilder *builder, const char *key, int value)
{
  json_builder_set_member_name (builder, key);
  if (value < 0)
    json_builder_add_null_value (builder);
  else
    json_builder_add_int_value (builder, value);
}

static void
add_boolean (JsonBuilder *builder, const char *key, gboolean value)
{
  json_builder_set_member_name (builder, key);
  json_builder_add_boolean_value (builder, value);
}

static void
add_strings (JsonBuilder *builder, const char *key, const char *const *values)
{
  json_builder_set_member_name (builder, key);
  json_builder_begin_array (builder);
  for (gsize i = 0; values != NULL && values[i] != NULL; i++)
    json_builder_add_string_value (builder, values[i]);
  json_builder_end_array (builder);
}

/* Object paths as the addresses of the devices they name. */
static void
add_addresses (JsonBuilder *builder,
               PpCtlInventory *inventory,
               const char *key,
               const char *const *paths)
{
  json_builder_set_member_name (builder, key);
  json_builder_begin_array (builder);
  for (gsize i = 0; paths != NULL && paths[i] != NULL; i++)
    json_builder_add_string_value (
        builder, pp_ctl_inventory_path_address (inventory, paths[i]));
  json_builder_end_array (builder);
}

static void
add_device (JsonBuilder *builder,
            PpCtlInventory *inventory,
            PpCtlDevice *device)
{
  const char *pf = pp_ctl_device_get_physical_function (device);

  json_builder_begin_object (builder);
  add_string (builder, "address", pp_ctl_inventory_address (inventory, device));
  add_hex (builder, "vendor_id", 4, pp_ctl_device_get_vendor_id (device));
  add_hex (builder, "device_id", 4, pp_ctl_device_get_device_id (device));
  add_hex (builder, "subsystem_vendor_id", 4,
           pp_ctl_device_get_subsystem_vendor_id (device));
  add_hex (builder, "subsystem_device_id", 4,
           pp_ctl_device_get_subsystem_device_id (device));
  add_hex (builder, "revision", 2, pp_ctl_device_get_revision (device));
  add_hex (builder, "class_code", 6,
           pp_ctl_device_get_class_code (device) & 0xffffff);
  add_string (builder, "vendor_name", pp_ctl_device_get_vendor_name (device));
  add_string (builder, "device_name", pp_ctl_device_get_device_name (device));
  add_string (builder, "type", pp_ctl_device_get_type_ (device));
  add_string_or_null (builder, "driver", pp_ctl_device_get_driver (device));
  add_string_or_null (builder, "driver_override",
                      pp_ctl_device_get_driver_override (device));
  add_string_or_null (builder, "original_driver",
                      pp_ctl_device_get_original_driver (device));
  add_string (builder, "state", pp_ctl_device_get_state (device));
  add_int_or_null (builder, "iommu_group",
                   pp_ctl_device_get_iommu_group (device));
  add_addresses (builder, inventory, "iommu_group_devices",
                 pp_ctl_device_get_iommu_group_devices (device));
  add_boolean (builder, "group_viable",
               pp_ctl_device_get_group_viable (device));
  add_int_or_null (builder, "numa_node", pp_ctl_device_get_numa_node (device));
  add_string_or_null (builder, "physical_function",
                      pf == NULL || g_str_equal (pf, "/")
                          ? NULL
                          : pp_ctl_inventory_path_address (inventory, pf));
  add_addresses (builder, inventory, "virtual_functions",
                 pp_ctl_device_get_virtual_functions (device));
  add_boolean (builder, "boot_vga", pp_ctl_device_get_boot_vga (device));
  add_strings (builder, "reset_methods",
               pp_ctl_device_get_reset_methods (device));
  add_string_or_null (builder, "protection_reason",
                      pp_ctl_device_get_protection_reason (device));
  add_string_or_null (builder, "resource_name",
                      pp_ctl_device_get_resource_name (device));
  add_string_or_null (builder, "owner", pp_ctl_device_get_owner (device));
  add_boolean (builder, "persistent", pp_ctl_device_get_persistent (device));
  json_builder_end_object (builder);
}

JsonNode *
pp_ctl_json_device (PpCtlInventory *inventory, PpCtlDevice *device)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  add_device (builder, inventory, device);
  return json_builder_get_root (builder);
}

JsonNode *
pp_ctl_json_devices (PpCtlInventory *inventory, GPtrArray *devices)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_array (builder);
  for (guint i = 0; i < devices->len; i++)
    add_device (builder, inventory, g_ptr_array_index (devices, i));
  json_builder_end_array (builder);
  return json_builder_get_root (builder);
}

JsonNode *
pp_ctl_json_groups (PpCtlInventory *inventory, GPtrArray *groups)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_array (builder);
  for (guint i = 0; i < groups->len; i++)
    {
      PpCtlGroup *group = g_ptr_array_index (groups, i);

      json_builder_begin_object (builder);
      add_int_or_null (builder, "group", group->number);
      add_boolean (builder, "viable", group->viable);
      json_builder_set_member_name (builder, "devices");
      json_builder_begin_array (builder);
      for (guint j = 0; j < group->devices->len; j++)
        json_builder_add_string_value (
            builder, pp_ctl_inventory_address (
                         inventory, g_ptr_array_index (group->devices, j)));
      json_builder_end_array (builder);
      {
        g_autoptr (GPtrArray) blocking = pp_ctl_group_blocking (group);
        g_autofree char *remedy
            = pp_ctl_group_remedy (inventory, group, blocking);

        add_drivers (builder, "blocking", inventory, blocking);
        json_builder_set_member_name (builder, "remedy");
        if (remedy != NULL)
          json_builder_add_string_value (builder, remedy);
        else
          json_builder_add_null_value (builder);
      }
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  return json_builder_get_root (builder);
}

JsonNode *
pp_ctl_json_steps (const char *key,
                   GVariant *steps,
                   PpCtlInventory *inventory,
                   GPtrArray *left_behind)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  GVariantIter iter;
  const char *address;
  const char *from;
  const char *to;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, key);
  json_builder_begin_array (builder);
  g_variant_iter_init (&iter, steps);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &address, &from, &to))
    {
      json_builder_begin_object (builder);
      add_string (builder, "address", address);
      add_string_or_null (builder, "from", from);
      add_string_or_null (builder, "to", to);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  if (left_behind != NULL)
    add_drivers (builder, "left_behind", inventory, left_behind);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

void
pp_ctl_json_append_string (GString *out, const char *value)
{
  g_string_append_c (out, '"');
  for (const char *p = value; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      switch (c)
        {
          case '"':
            g_string_append (out, "\\\"");
            break;
          case '\\':
            g_string_append (out, "\\\\");
            break;
          case '\b':
            g_string_append (out, "\\b");
            break;
          case '\f':
            g_string_append (out, "\\f");
            break;
          case '\n':
            g_string_append (out, "\\n");
            break;
          case '\r':
            g_string_append (out, "\\r");
            break;
          case '\t':
            g_string_append (out, "\\t");
            break;
          default:
            /* UTF-8 passes as it is, as json-glib leaves it. */
            if (c < 0x20 || c == 0x7f)
              g_string_append_printf (out, "\\u%04x", c);
            else
              g_string_append_c (out, (char) c);
        }
    }
  g_string_append_c (out, '"');
}

char *
pp_ctl_json_to_data (JsonNode *root)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *text = NULL;

  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_indent_char (generator, ' ');
  text = json_generator_to_data (generator, NULL);
  return g_strconcat (text, "\n", NULL);
}

/* Prints @element as pp_ctl_json_to_data() would print it inside an
 * array, followed by "," unless it is the @last. */
static void
print_element (JsonNode *element, gboolean last, FILE *out)
{
  g_autofree char *text = pp_ctl_json_to_data (element);
  char *line = g_strchomp (text);

  /* Each line indented by one level, as the generator would inside the
   * array. */
  while (line != NULL)
    {
      char *next = strchr (line, '\n');

      if (next != NULL)
        *next++ = '\0';
      fputs ("  ", out);
      fputs (line, out);
      if (next != NULL)
        fputc ('\n', out);
      line = next;
    }
  fputs (last ? "\n" : ",\n", out);
}

void
pp_ctl_json_print_devices (PpCtlInventory *inventory,
                           GPtrArray *devices,
                           FILE *out)
{
  if (devices->len == 0)
    {
      g_autoptr (JsonNode) root = pp_ctl_json_devices (inventory, devices);
      g_autofree char *text = pp_ctl_json_to_data (root);

      fputs (text, out);
      return;
    }

  /* One device at a time, indented as it would be inside the array: the
   * same text as pp_ctl_json_devices(), without thousands of nodes held
   * at once. */
  fputs ("[\n", out);
  for (guint i = 0; i < devices->len; i++)
    {
      g_autoptr (JsonNode) root
          = pp_ctl_json_device (inventory, g_ptr_array_index (devices, i));

      print_element (root, i + 1 == devices->len, out);
    }
  fputs ("]\n", out);
}

void
pp_ctl_json_print (JsonNode *root)
{
  g_autofree char *text = pp_ctl_json_to_data (root);

  /* No g_print: it would convert to the locale's charset. */
  fputs (text, stdout);
}
