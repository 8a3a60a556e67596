#include "pp-config.h"

#include "pp-address.h"
#include "pp-check.h"
#include "pp-driver.h"
#include "pp-error.h"
#include "pp-iommu.h"
#include "pp-validate.h"
#include "pp-yaml.h"

#include <string.h>

/* Device types of the AI-HOW format: the Type property's, less "usb" and
 * "bridge", which the format calls "other". */
static const char *const config_types[] = {
  "gpu", "network", "storage", "audio", "other", NULL,
};

static const char *const device_keys[] = {
  "pci_address", "device_type", "vendor_id", "device_id", "iommu_group", NULL,
};

/* ---- the config ---- */

typedef struct
{
  char *name;
  PpYamlNode *node;
  PpYamlNode *passthrough; /* NULL when absent */
  PpYamlNode *passthrough_key;
  PpYamlNode *devices; /* a sequence, or NULL */
  gboolean enabled;
  gboolean enabled_given;
  GHashTable *addresses; /* canonical address -> Entry (its first) */
} ComputeNode;

typedef struct
{
  ComputeNode *owner;
  PpYamlNode *node; /* the entry */
  char *subject;
  char *address; /* canonical, or NULL */
  PpYamlNode *address_node;
  char *device_type; /* valid, or NULL */
  gboolean has_vendor;
  gboolean has_device;
  guint vendor_id;
  guint device_id;
  const PpYamlNode *vendor_node;
  const PpYamlNode *device_node;
  gboolean has_group;
  int iommu_group;
  GPtrArray *problems; /* PpCheck: "schema" fails and warns */
} Entry;

static void
compute_node_free (ComputeNode *cn)
{
  g_free (cn->name);
  g_hash_table_unref (cn->addresses);
  g_free (cn);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ComputeNode, compute_node_free)

static void
entry_free (Entry *e)
{
  g_free (e->subject);
  g_free (e->address);
  g_free (e->device_type);
  g_ptr_array_unref (e->problems);
  g_free (e);
}

typedef struct
{
  GPtrArray *nodes;   /* ComputeNode */
  GPtrArray *entries; /* Entry, in file order */
  /* canonical address -> Entry, the first over all enabled nodes */
  GHashTable *assigned;
} Config;

static void
config_clear (Config *config)
{
  g_clear_pointer (&config->nodes, g_ptr_array_unref);
  g_clear_pointer (&config->entries, g_ptr_array_unref);
  g_clear_pointer (&config->assigned, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Config, config_clear)

static void problem (Entry *e,
                     const PpYamlNode *at,
                     PpSeverity severity,
                     char *remedy,
                     const char *format,
                     ...) G_GNUC_PRINTF (5, 6);

/* Records a "schema" result for @e at @at's position; takes @remedy. */
static void
problem (Entry *e,
         const PpYamlNode *at,
         PpSeverity severity,
         char *remedy,
         const char *format,
         ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  pp_checks_take (e->problems, "", "schema", severity,
                  g_strdup_printf ("%u:%u: %s", at->line, at->column, text),
                  remedy);
}

/* PyYAML (YAML 1.1) reads an unquoted 0000:01:00.0 as the sexagesimal
 * float 60.0, so ai-how would see a number where the file shows an
 * address. */
static gboolean
looks_sexagesimal (const char *text)
{
  return g_regex_match_simple ("^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*$",
                               text, 0, 0);
}

/* "10de", "0x10de", "0X10DE": at most four hex digits. */
static gboolean
parse_hex_id (const char *text, guint *out)
{
  guint64 value;

  if (g_ascii_strncasecmp (text, "0x", 2) == 0)
    text += 2;
  if (*text == '\0' || strlen (text) > 4)
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  if (!g_ascii_string_to_unsigned (text, 16, 0, 0xffff, &value, NULL))
    return FALSE;
  *out = (guint) value;
  return TRUE;
}

static void
read_id (Entry *e,
         const char *key,
         gboolean *has,
         guint *id,
         const PpYamlNode **where)
{
  PpYamlNode *key_node;
  PpYamlNode *value = pp_yaml_map_get (e->node, key, &key_node);
  g_autofree char *shown = NULL;

  if (pp_yaml_is_null (value))
    return;
  if (value->kind != PP_YAML_SCALAR)
    {
      problem (e, value, PP_SEVERITY_FAIL,
               g_strdup_printf ("write %s as a hex string, e.g. %s: \"10de\"",
                                key, key),
               "%s must be a hex string such as \"10de\", not %s", key,
               pp_yaml_kind_name (value));
      return;
    }
  shown = pp_yaml_quote (value->value);
  if (!parse_hex_id (value->value, id))
    {
      problem (e, value, PP_SEVERITY_FAIL,
               g_strdup_printf ("write %s as four hex digits, e.g. %s: "
                                "\"10de\" (lspci -nn shows [vendor:device])",
                                key, key),
               "%s %s is not a PCI ID (one to four hex digits, \"0x\" "
               "allowed)",
               key, shown);
      return;
    }
  *has = TRUE;
  *where = value;
  /* An unquoted 2684 is the decimal number 2684 to every YAML reader
   * but pcipassd, which takes the digits as hex. */
  if (value->plain
      && strspn (value->value, "0123456789") == strlen (value->value))
    problem (e, value, PP_SEVERITY_WARN,
             g_strdup_printf ("quote it: %s: \"%s\"", key, value->value),
             "%s %s is not quoted: YAML reads it as the decimal number %s, "
             "not as hex",
             key, shown, value->value);
}

static void
read_entry (Entry *e)
{
  PpYamlNode *value;
  PpYamlNode *key_node;
  guint64 group;

  if (e->node->kind != PP_YAML_MAPPING)
    {
      problem (e, e->node, PP_SEVERITY_FAIL,
               g_strdup ("write each device as a mapping: - pci_address: "
                         "\"0000:01:00.0\" with device_type: \"gpu\" on the "
                         "next line"),
               "a device must be a mapping with pci_address and "
               "device_type, not %s",
               pp_yaml_kind_name (e->node));
      return;
    }

  /* Unknown keys first: a misspelt pci_address then explains why the
   * address is missing. */
  for (guint i = 0; i + 1 < e->node->items->len; i += 2)
    {
      PpYamlNode *k = g_ptr_array_index (e->node->items, i);
      g_autofree char *shown = NULL;

      if (g_strv_contains (device_keys, k->value))
        continue;
      shown = pp_yaml_quote (k->value);
      problem (e, k, PP_SEVERITY_WARN,
               g_strdup_printf ("remove it, or fix its spelling (a device "
                                "takes %s, %s, %s, %s and %s)",
                                device_keys[0], device_keys[1], device_keys[2],
                                device_keys[3], device_keys[4]),
               "unknown key %s in a device%s", shown,
               g_str_equal (k->value, "<<")
                   ? " (merge keys are not supported: write the keys out)"
                   : "");
    }

  value = pp_yaml_map_get (e->node, "pci_address", &key_node);
  if (pp_yaml_is_null (value))
    problem (e, key_node != NULL ? key_node : e->node, PP_SEVERITY_FAIL,
             g_strdup ("add pci_address: \"DDDD:BB:SS.F\" to the device "
                       "(lspci -D or pcipassctl list shows this host's "
                       "addresses)"),
             "the device has no pci_address");
  else if (value->kind != PP_YAML_SCALAR)
    problem (e, value, PP_SEVERITY_FAIL,
             g_strdup ("write pci_address as a string, e.g. pci_address: "
                       "\"0000:01:00.0\""),
             "pci_address must be a string, not %s", pp_yaml_kind_name (value));
  else
    {
      g_autofree char *shown = pp_yaml_quote (value->value);

      e->address_node = value;
      e->address = pp_address_normalize (value->value, FALSE, NULL);
      if (e->address == NULL)
        problem (e, value, PP_SEVERITY_FAIL,
                 g_strdup ("write the full address DDDD:BB:SS.F, e.g. "
                           "\"0000:01:00.0\" (lspci -D shows them)"),
                 "pci_address %s is not a PCI address DDDD:BB:SS.F", shown);
      else if (value->plain && looks_sexagesimal (value->value))
        problem (
            e, value, PP_SEVERITY_WARN,
            g_strdup_printf ("quote it: pci_address: \"%s\"", value->value),
            "pci_address %s is not quoted: YAML 1.1 readers such as "
            "PyYAML (used by ai-how) read it as a number",
            shown);
    }

  value = pp_yaml_map_get (e->node, "device_type", &key_node);
  if (pp_yaml_is_null (value))
    problem (e, key_node != NULL ? key_node : e->node, PP_SEVERITY_FAIL,
             g_strdup ("add device_type: gpu, network, storage, audio or "
                       "other"),
             "the device has no device_type");
  else if (value->kind != PP_YAML_SCALAR
           || !g_strv_contains (config_types, value->value))
    {
      g_autofree char *shown = value->kind == PP_YAML_SCALAR
                                   ? pp_yaml_quote (value->value)
                                   : g_strdup (pp_yaml_kind_name (value));
      problem (e, value, PP_SEVERITY_FAIL,
               g_strdup ("set device_type to one of gpu, network, storage, "
                         "audio, other"),
               "device_type %s is not one of gpu, network, storage, audio, "
               "other",
               shown);
    }
  else
    e->device_type = g_strdup (value->value);

  read_id (e, "vendor_id", &e->has_vendor, &e->vendor_id, &e->vendor_node);
  read_id (e, "device_id", &e->has_device, &e->device_id, &e->device_node);

  value = pp_yaml_map_get (e->node, "iommu_group", &key_node);
  if (!pp_yaml_is_null (value))
    {
      if (pp_yaml_uint (value, &group))
        {
          e->has_group = TRUE;
          e->iommu_group = (int) group;
        }
      else
        {
          g_autofree char *shown = value->kind == PP_YAML_SCALAR
                                       ? pp_yaml_quote (value->value)
                                       : g_strdup (pp_yaml_kind_name (value));
          problem (e, value, PP_SEVERITY_FAIL,
                   g_strdup ("write iommu_group as a plain number, e.g. "
                             "iommu_group: 2 (pcipassctl groups lists them), "
                             "or remove it"),
                   "iommu_group %s is not a non-negative integer", shown);
        }
    }
}

/* Reads one compute node; everything wrong here is a Config error. */
static gboolean
read_compute_node (Config *config,
                   PpYamlNode *node,
                   guint index,
                   guint *n_devices,
                   GError **error)
{
  g_autoptr (ComputeNode) cn = NULL;
  PpYamlNode *key;
  PpYamlNode *name = pp_yaml_map_get (node, "name", &key);
  PpYamlNode *value;

  if (node->kind != PP_YAML_MAPPING)
    return pp_yaml_error (error, node->line, node->column,
                          "compute_nodes[%u] must be a mapping with a name and "
                          "pcie_passthrough, not %s",
                          index, pp_yaml_kind_name (node));
  if (name == NULL || name->kind != PP_YAML_SCALAR || pp_yaml_is_null (name)
      || *name->value == '\0')
    return pp_yaml_error (error, name != NULL ? name->line : node->line,
                          name != NULL ? name->column : node->column,
                          "compute_nodes[%u] needs a name (a non-empty string)",
                          index);
  if (strchr (name->value, '/') != NULL)
    {
      g_autofree char *shown = pp_yaml_quote (name->value);
      return pp_yaml_error (error, name->line, name->column,
                            "node name %s contains \"/\", which results use "
                            "to separate node and device",
                            shown);
    }
  for (guint i = 0; i < config->nodes->len; i++)
    {
      ComputeNode *other = g_ptr_array_index (config->nodes, i);
      PpYamlNode *other_name = pp_yaml_map_get (other->node, "name", NULL);

      if (g_str_equal (other->name, name->value))
        {
          g_autofree char *shown = pp_yaml_quote (name->value);
          return pp_yaml_error (error, name->line, name->column,
                                "node name %s is used twice (first at %u:%u)",
                                shown, other_name->line, other_name->column);
        }
    }

  cn = g_new0 (ComputeNode, 1);
  cn->name = g_strdup (name->value);
  cn->node = node;
  cn->addresses = g_hash_table_new (g_str_hash, g_str_equal);

  cn->passthrough
      = pp_yaml_map_get (node, "pcie_passthrough", &cn->passthrough_key);
  if (pp_yaml_is_null (cn->passthrough))
    cn->passthrough = NULL;
  else if (cn->passthrough->kind != PP_YAML_MAPPING)
    return pp_yaml_error (error, cn->passthrough->line, cn->passthrough->column,
                          "pcie_passthrough must be a mapping with enabled and "
                          "devices, not %s",
                          pp_yaml_kind_name (cn->passthrough));

  if (cn->passthrough != NULL)
    {
      if (pp_yaml_map_get (cn->passthrough, "<<", &key) != NULL)
        return pp_yaml_error (
            error, key->line, key->column,
            "merge keys (<<) are not supported in "
            "pcie_passthrough: write enabled and devices out");
      value = pp_yaml_map_get (cn->passthrough, "enabled", &key);
      if (!pp_yaml_is_null (value))
        {
          if (!pp_yaml_bool (value, &cn->enabled))
            {
              g_autofree char *shown
                  = value->kind == PP_YAML_SCALAR
                        ? pp_yaml_quote (value->value)
                        : g_strdup (pp_yaml_kind_name (value));
              return pp_yaml_error (error, value->line, value->column,
                                    "enabled must be true or false, not %s",
                                    shown);
            }
          cn->enabled_given = TRUE;
        }

      cn->devices = pp_yaml_map_get (cn->passthrough, "devices", &key);
      if (pp_yaml_is_null (cn->devices))
        cn->devices = NULL;
      else if (cn->devices->kind != PP_YAML_SEQUENCE)
        return pp_yaml_error (error, cn->devices->line, cn->devices->column,
                              "devices must be a sequence of devices, not %s",
                              pp_yaml_kind_name (cn->devices));
    }

  for (guint i = 0; cn->devices != NULL && i < cn->devices->items->len; i++)
    {
      PpYamlNode *item = g_ptr_array_index (cn->devices->items, i);
      Entry *e;

      if (++*n_devices > PP_CONFIG_MAX_DEVICES)
        return pp_yaml_error (error, item->line, item->column,
                              "more than %u devices in the config",
                              PP_CONFIG_MAX_DEVICES);
      /* Entries of a node that does not pass anything through are not
       * read: ai-how ignores them too. */
      if (!cn->enabled)
        continue;

      e = g_new0 (Entry, 1);
      e->owner = cn;
      e->node = item;
      e->problems = pp_checks_new ();
      read_entry (e);
      e->subject = e->address != NULL
                       ? g_strdup_printf ("%s/%s", cn->name, e->address)
                       : g_strdup_printf ("%s/devices[%u]", cn->name, i);
      if (e->address != NULL)
        {
          if (!g_hash_table_contains (cn->addresses, e->address))
            g_hash_table_insert (cn->addresses, e->address, e);
          if (!g_hash_table_contains (config->assigned, e->address))
            g_hash_table_insert (config->assigned, e->address, e);
        }
      g_ptr_array_add (config->entries, e);
    }

  g_ptr_array_add (config->nodes, g_steal_pointer (&cn));
  return TRUE;
}

static gboolean
read_node_list (Config *config,
                PpYamlNode *list,
                guint *n_devices,
                GError **error)
{
  if (list->kind != PP_YAML_SEQUENCE)
    return pp_yaml_error (error, list->line, list->column,
                          "compute_nodes must be a sequence of nodes, not %s",
                          pp_yaml_kind_name (list));
  for (guint i = 0; i < list->items->len; i++)
    {
      PpYamlNode *item = g_ptr_array_index (list->items, i);

      if (config->nodes->len >= PP_CONFIG_MAX_COMPUTE_NODES)
        return pp_yaml_error (error, item->line, item->column,
                              "more than %u compute nodes",
                              PP_CONFIG_MAX_COMPUTE_NODES);
      if (!read_compute_node (config, item, i, n_devices, error))
        return FALSE;
    }
  return TRUE;
}

/* compute_nodes at the top, as DESIGN.md and the seed show it, and under
 * clusters.NAME, as ai-how's own cluster files have it. */
static gboolean
read_config (Config *config, PpYamlNode *root, GError **error)
{
  PpYamlNode *clusters;
  PpYamlNode *list;
  guint n_devices = 0;
  gboolean found = FALSE;

  if (root == NULL || pp_yaml_is_null (root))
    return pp_yaml_error (error, 1, 1,
                          "the config is empty: expected compute_nodes");
  if (root->kind != PP_YAML_MAPPING)
    return pp_yaml_error (error, root->line, root->column,
                          "the config must be a mapping with compute_nodes, "
                          "not %s",
                          pp_yaml_kind_name (root));

  list = pp_yaml_map_get (root, "compute_nodes", NULL);
  if (!pp_yaml_is_null (list))
    {
      found = TRUE;
      if (!read_node_list (config, list, &n_devices, error))
        return FALSE;
    }

  clusters = pp_yaml_map_get (root, "clusters", NULL);
  if (clusters != NULL && clusters->kind == PP_YAML_MAPPING)
    for (guint i = 0; i + 1 < clusters->items->len; i += 2)
      {
        PpYamlNode *cluster = g_ptr_array_index (clusters->items, i + 1);

        list = pp_yaml_map_get (cluster, "compute_nodes", NULL);
        if (pp_yaml_is_null (list))
          continue;
        found = TRUE;
        if (!read_node_list (config, list, &n_devices, error))
          return FALSE;
      }

  if (!found)
    return pp_yaml_error (error, root->line, root->column,
                          "no compute_nodes: expected compute_nodes[] (or "
                          "clusters.NAME.compute_nodes[]) of the AI-HOW "
                          "format");
  return TRUE;
}

/* ---- results ---- */

/* The config's name for a device of Type @type. */
static const char *
config_type_of (const char *type)
{
  return g_strv_contains (config_types, type) ? type : "other";
}

/* "- { pci_address: ..., device_type: ... }": an entry to paste. */
static char *
entry_snippet (PpDevice *device)
{
  guint vendor_id;
  guint device_id;

  g_object_get (device, "vendor-id", &vendor_id, "device-id", &device_id, NULL);
  return g_strdup_printf ("- { pci_address: \"%s\", device_type: \"%s\", "
                          "vendor_id: \"%04x\", device_id: \"%04x\" }",
                          pp_device_get_address (device),
                          config_type_of (pp_device_get_device_type (device)),
                          vendor_id, device_id);
}

static void
add_node_result (const ComputeNode *cn, GPtrArray *out)
{
  guint n = cn->devices != NULL ? cn->devices->items->len : 0;
  /* The key: a block mapping's own position is that of its first key. */
  const PpYamlNode *at
      = cn->passthrough_key != NULL ? cn->passthrough_key : cn->node;

  if (cn->passthrough == NULL)
    pp_checks_add (out, cn->name, "passthrough", PP_SEVERITY_SKIP,
                   "no pcie_passthrough: nothing to check", NULL);
  else if (!cn->enabled && n > 0 && !cn->enabled_given)
    pp_checks_take (
        out, cn->name, "passthrough", PP_SEVERITY_WARN,
        g_strdup_printf ("%u:%u: pcie_passthrough lists %u device%s but has "
                         "no enabled: true, so ai-how ignores them",
                         at->line, at->column, n, n == 1 ? "" : "s"),
        g_strdup_printf ("add enabled: true under pcie_passthrough (line "
                         "%u), or remove the devices",
                         at->line));
  else if (!cn->enabled)
    pp_checks_take (
        out, cn->name, "passthrough", PP_SEVERITY_SKIP,
        g_strdup_printf ("pcie_passthrough is not enabled%s",
                         n > 0 ? ": its devices are not checked" : ""),
        NULL);
  else if (n == 0)
    pp_checks_take (
        out, cn->name, "passthrough", PP_SEVERITY_FAIL,
        g_strdup_printf ("%u:%u: pcie_passthrough is enabled but lists no "
                         "devices (ai-how refuses this)",
                         at->line, at->column),
        g_strdup_printf ("list the devices under pcie_passthrough.devices "
                         "(line %u), or set enabled: false",
                         at->line));
  else
    pp_checks_take (out, cn->name, "passthrough", PP_SEVERITY_PASS,
                    g_strdup_printf ("pcie_passthrough enabled with %u "
                                     "device%s",
                                     n, n == 1 ? "" : "s"),
                    NULL);
}

static void
add_duplicate_results (const Config *config, const Entry *e, GPtrArray *out)
{
  const Entry *first_here
      = g_hash_table_lookup (e->owner->addresses, e->address);
  const Entry *first = g_hash_table_lookup (config->assigned, e->address);

  if (first_here != e)
    pp_checks_take (
        out, e->subject, "duplicate", PP_SEVERITY_FAIL,
        g_strdup_printf ("%u:%u: %s is listed twice for %s (first at %u:%u)",
                         e->address_node->line, e->address_node->column,
                         e->address, e->owner->name,
                         first_here->address_node->line,
                         first_here->address_node->column),
        g_strdup_printf ("remove one of the two entries (lines %u and %u)",
                         first_here->address_node->line,
                         e->address_node->line));
  /* Report the clash on every node but the first, once per node. */
  else if (first->owner != e->owner)
    pp_checks_take (out, e->subject, "duplicate", PP_SEVERITY_FAIL,
                    g_strdup_printf (
                        "%u:%u: %s is also assigned to %s (%u:%u): a device "
                        "goes to one VM only",
                        e->address_node->line, e->address_node->column,
                        e->address, first->owner->name,
                        first->address_node->line, first->address_node->column),
                    g_strdup_printf ("remove it from %s or from %s",
                                     first->owner->name, e->owner->name));
}

static void
add_ids_result (const Entry *e, PpDevice *device, GPtrArray *out)
{
  guint vendor_id;
  guint device_id;
  g_autofree char *want = NULL;
  const PpYamlNode *at;

  g_object_get (device, "vendor-id", &vendor_id, "device-id", &device_id, NULL);
  if (!e->has_vendor && !e->has_device)
    {
      pp_checks_take (out, e->subject, "ids", PP_SEVERITY_SKIP,
                      g_strdup_printf ("no vendor_id or device_id in the "
                                       "config; the device is %04x:%04x",
                                       vendor_id, device_id),
                      NULL);
      return;
    }

  /* What the config asks for; an ID it leaves out matches anything. */
  {
    g_autofree char *v = e->has_vendor ? g_strdup_printf ("%04x", e->vendor_id)
                                       : g_strdup ("any vendor");
    g_autofree char *d = e->has_device ? g_strdup_printf ("%04x", e->device_id)
                                       : g_strdup ("any device");
    want = g_strdup_printf ("%s:%s", v, d);
  }

  if ((!e->has_vendor || e->vendor_id == vendor_id)
      && (!e->has_device || e->device_id == device_id))
    {
      pp_checks_take (out, e->subject, "ids", PP_SEVERITY_PASS,
                      g_strdup_printf ("%04x:%04x matches the config",
                                       vendor_id, device_id),
                      NULL);
      return;
    }
  /* Point at the ID that is wrong. */
  at = e->has_vendor && e->vendor_id != vendor_id ? e->vendor_node
                                                  : e->device_node;
  pp_checks_take (
      out, e->subject, "ids", PP_SEVERITY_FAIL,
      g_strdup_printf (
          "%u:%u: the config says %s, but %s is %04x:%04x (%s%s%s)", at->line,
          at->column, want, e->address, vendor_id, device_id,
          pp_device_get_vendor_name (device),
          *pp_device_get_vendor_name (device) ? " " : "",
          pp_device_get_device_name (device)),
      g_strdup_printf ("fix pci_address (line %u) if the config means "
                       "another device, or set vendor_id: \"%04x\" and "
                       "device_id: \"%04x\" (line %u)",
                       e->address_node->line, vendor_id, device_id, at->line));
}

static void
add_type_result (const Entry *e, PpDevice *device, GPtrArray *out)
{
  const char *actual = config_type_of (pp_device_get_device_type (device));
  PpYamlNode *value = pp_yaml_map_get (e->node, "device_type", NULL);

  if (e->device_type == NULL)
    return; /* reported by schema */
  if (g_str_equal (actual, e->device_type))
    {
      pp_checks_take (out, e->subject, "device-type", PP_SEVERITY_PASS,
                      g_strdup_printf ("type %s, as the config says", actual),
                      NULL);
      return;
    }
  pp_checks_take (
      out, e->subject, "device-type", PP_SEVERITY_WARN,
      g_strdup_printf ("%u:%u: device_type is %s, but %s is of type %s "
                       "(from its class code)",
                       value->line, value->column, e->device_type, e->address,
                       pp_device_get_device_type (device)),
      g_strdup_printf ("set device_type: \"%s\" (line %u), or fix "
                       "pci_address if the config means another device",
                       actual, value->line));
}

static void
add_group_result (const Entry *e,
                  PpRegistry *registry,
                  PpDevice *device,
                  GPtrArray *out)
{
  int group = pp_device_get_iommu_group (device);
  PpYamlNode *value = pp_yaml_map_get (e->node, "iommu_group", NULL);

  if (group < 0)
    {
      /* The device check explains why and what to do. */
      pp_validate_device_checks (registry, device, e->subject,
                                 PP_VALIDATE_IOMMU_GROUP, out);
      return;
    }
  if (!e->has_group)
    pp_checks_take (out, e->subject, "iommu-group", PP_SEVERITY_PASS,
                    g_strdup_printf ("IOMMU group %d (the config does not "
                                     "say)",
                                     group),
                    NULL);
  else if (e->iommu_group == group)
    pp_checks_take (
        out, e->subject, "iommu-group", PP_SEVERITY_PASS,
        g_strdup_printf ("IOMMU group %d, as the config says", group), NULL);
  else
    pp_checks_take (
        out, e->subject, "iommu-group", PP_SEVERITY_FAIL,
        g_strdup_printf ("%u:%u: the config says IOMMU group %d, but %s is in "
                         "group %d",
                         value->line, value->column, e->iommu_group, e->address,
                         group),
        g_strdup_printf ("set iommu_group: %d (line %u); groups change with "
                         "the firmware, the kernel and the slot (pcipassctl "
                         "groups lists them)",
                         group, value->line));
}

/* The strings of @items joined with @separator. */
static char *
join (GPtrArray *items, const char *separator)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < items->len; i++)
    {
      if (i > 0)
        g_string_append (text, separator);
      g_string_append (text, g_ptr_array_index (items, i));
    }
  return g_string_free (text, FALSE);
}

/* Every endpoint of the device's group must go to the same VM: listed for
 * the same node.  Bridges stay on the host, fine when DMA-managed. */
static void
add_group_complete_result (const Config *config,
                           const Entry *e,
                           PpRegistry *registry,
                           PpDevice *device,
                           GPtrArray *out)
{
  int group = pp_device_get_iommu_group (device);
  GPtrArray *members;
  g_autoptr (GPtrArray) missing = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) snippets = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) elsewhere = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) moves = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) stuck = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) listed = g_ptr_array_new ();
  g_autoptr (GString) message = NULL;
  g_autoptr (GString) remedy = NULL;

  if (group < 0)
    {
      pp_checks_add (out, e->subject, "group-complete", PP_SEVERITY_SKIP,
                     "no IOMMU group (see iommu-group)", NULL);
      return;
    }

  members = pp_registry_get_group_members (registry, group);
  for (guint i = 0; members != NULL && i < members->len; i++)
    {
      PpDevice *member = g_ptr_array_index (members, i);
      const char *address = pp_device_get_address (member);
      const Entry *assigned;

      if (member == device)
        continue;
      if (pp_validate_bind_leaves (member))
        {
          if (!pp_driver_manages_dma (pp_device_get_driver (member)))
            g_ptr_array_add (stuck, pp_validate_describe (member));
          continue;
        }
      if (g_hash_table_contains (e->owner->addresses, address))
        {
          g_ptr_array_add (listed, (gpointer) address);
          continue;
        }
      assigned = g_hash_table_lookup (config->assigned, address);
      if (assigned != NULL)
        {
          g_ptr_array_add (elsewhere,
                           g_strdup_printf ("%s (assigned to %s at %u:%u)",
                                            address, assigned->owner->name,
                                            assigned->address_node->line,
                                            assigned->address_node->column));
          g_ptr_array_add (
              moves, g_strdup_printf ("move %s from %s to %s", address,
                                      assigned->owner->name, e->owner->name));
          continue;
        }
      g_ptr_array_add (missing, pp_validate_describe (member));
      g_ptr_array_add (snippets, entry_snippet (member));
    }

  if (missing->len + elsewhere->len + stuck->len == 0)
    {
      g_autofree char *list = join (listed, ", ");
      pp_checks_take (out, e->subject, "group-complete", PP_SEVERITY_PASS,
                      listed->len > 0
                          ? g_strdup_printf ("IOMMU group %d is complete: "
                                             "%s %s listed for %s too",
                                             group, list,
                                             listed->len > 1 ? "are" : "is",
                                             e->owner->name)
                          : g_strdup_printf ("IOMMU group %d holds no other "
                                             "endpoint",
                                             group),
                      NULL);
      return;
    }

  message = g_string_new (NULL);
  remedy = g_string_new (NULL);
  g_string_append_printf (message,
                          "IOMMU group %d must go to one VM whole:", group);
  if (missing->len > 0)
    {
      g_autofree char *list = join (missing, ", ");
      g_autofree char *paste = join (snippets, " ");

      g_string_append_printf (message, " %s %s not listed for %s;", list,
                              missing->len == 1 ? "is" : "are", e->owner->name);
      g_string_append_printf (remedy,
                              "add to %s's pcie_passthrough.devices: %s; ",
                              e->owner->name, paste);
    }
  if (elsewhere->len > 0)
    {
      g_autofree char *list = join (elsewhere, ", ");
      g_autofree char *what = join (moves, "; ");

      g_string_append_printf (message, " %s;", list);
      g_string_append_printf (remedy, "%s; ", what);
    }
  if (stuck->len > 0)
    {
      g_autofree char *list = join (stuck, ", ");

      g_string_append_printf (message,
                              " the bridge %s on a host driver keeps the "
                              "group from being viable;",
                              list);
      g_string_append (remedy,
                       "put the card in a slot whose IOMMU group has no "
                       "bridge on a host driver (pcipassctl groups); ");
    }
  g_string_truncate (message, message->len - 1);
  g_string_truncate (remedy, remedy->len - 2);
  pp_checks_take (out, e->subject, "group-complete", PP_SEVERITY_FAIL,
                  g_string_free (g_steal_pointer (&message), FALSE),
                  g_string_free (g_steal_pointer (&remedy), FALSE));
}

static void
add_entry_results (const Config *config,
                   const Entry *e,
                   PpRegistry *registry,
                   gboolean skip_host,
                   GPtrArray *out)
{
  PpDevice *device;

  for (guint i = 0; i < e->problems->len; i++)
    {
      const PpCheck *c = g_ptr_array_index (e->problems, i);
      pp_checks_add (out, e->subject, c->check, c->severity, c->message,
                     c->remedy);
    }
  if (e->problems->len == 0)
    pp_checks_take (out, e->subject, "schema", PP_SEVERITY_PASS,
                    g_strdup_printf ("%u:%u: a well-formed device entry",
                                     e->node->line, e->node->column),
                    NULL);

  if (e->address != NULL)
    add_duplicate_results (config, e, out);

  if (skip_host)
    {
      pp_checks_add (out, e->subject, "exists", PP_SEVERITY_SKIP,
                     "not checked against this host (skip_pcie_validation)",
                     NULL);
      return;
    }
  if (e->address == NULL)
    {
      pp_checks_add (out, e->subject, "exists", PP_SEVERITY_SKIP,
                     "no usable pci_address (see schema)", NULL);
      return;
    }

  device = pp_registry_lookup (registry, e->address);
  if (device == NULL)
    {
      pp_checks_take (
          out, e->subject, "exists", PP_SEVERITY_FAIL,
          g_strdup_printf ("%u:%u: this host has no PCI device %s",
                           e->address_node->line, e->address_node->column,
                           e->address),
          g_strdup_printf ("fix pci_address (line %u): lspci -D or "
                           "pcipassctl list shows this host's devices",
                           e->address_node->line));
      return;
    }
  {
    g_autofree char *what = pp_validate_describe (device);
    pp_checks_take (out, e->subject, "exists", PP_SEVERITY_PASS,
                    g_strdup_printf ("%s exists", what), NULL);
  }

  add_ids_result (e, device, out);
  add_type_result (e, device, out);
  add_group_result (e, registry, device, out);
  add_group_complete_result (config, e, registry, device, out);
  pp_validate_device_checks (registry, device, e->subject,
                             PP_VALIDATE_BRIDGE | PP_VALIDATE_DRIVER
                                 | PP_VALIDATE_SRIOV | PP_VALIDATE_RESET
                                 | PP_VALIDATE_PROTECTED | PP_VALIDATE_IN_USE
                                 | PP_VALIDATE_NUMA,
                             out);
}

GPtrArray *
pp_config_validate (PpRegistry *registry,
                    const char *yaml,
                    gsize length,
                    const char *node,
                    gboolean skip_pcie_validation,
                    GError **error)
{
  g_autoptr (PpYamlDoc) doc = NULL;
  PpYamlNode *root;
  g_auto (Config) config = { 0 };
  g_autoptr (GPtrArray) out = NULL;
  const ComputeNode *selected = NULL;

  g_return_val_if_fail (yaml != NULL || length == 0, NULL);
  g_return_val_if_fail (skip_pcie_validation || PP_IS_REGISTRY (registry),
                        NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  doc = pp_yaml_parse (yaml != NULL ? yaml : "", length, PP_CONFIG_MAX_SIZE,
                       "a cluster config", error);
  if (doc == NULL)
    return NULL;
  root = pp_yaml_doc_root (doc);

  config.nodes
      = g_ptr_array_new_with_free_func ((GDestroyNotify) compute_node_free);
  config.entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  config.assigned = g_hash_table_new (g_str_hash, g_str_equal);
  if (!read_config (&config, root, error))
    return NULL;

  if (node != NULL)
    {
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      g_autofree char *list = NULL;

      for (guint i = 0; i < config.nodes->len; i++)
        {
          const ComputeNode *cn = g_ptr_array_index (config.nodes, i);
          if (g_str_equal (cn->name, node))
            selected = cn;
          g_ptr_array_add (names, cn->name);
        }
      if (selected == NULL)
        {
          g_autofree char *shown = pp_yaml_quote (node);
          list = join (names, ", ");
          pp_yaml_error (error, root != NULL ? root->line : 1,
                         root != NULL ? root->column : 1,
                         "no compute node is named %s (the config has: %s)",
                         shown, *list != '\0' ? list : "none");
          return NULL;
        }
    }

  /* Mounts, routes and VFIO users change without uevents. */
  if (!skip_pcie_validation)
    pp_registry_update_host_state (registry);

  out = pp_checks_new ();
  for (guint i = 0; i < config.nodes->len; i++)
    {
      const ComputeNode *cn = g_ptr_array_index (config.nodes, i);

      if (selected != NULL && cn != selected)
        continue;
      add_node_result (cn, out);
      for (guint j = 0; j < config.entries->len; j++)
        {
          const Entry *e = g_ptr_array_index (config.entries, j);

          if (e->owner == cn)
            add_entry_results (&config, e, registry, skip_pcie_validation, out);
        }
    }
  return g_steal_pointer (&out);
}
