/* The device catalog: the seed's format, matching, and every kind of bad
 * file rejected with its position. */
#include "pp-catalog.h"
#include "pp-error.h"

#include <glib/gstdio.h>

/* The example of ../shared/seeds/libvirt-provider-pci-devices.md. */
static const char seed[]
    = "vendors:\n"
      "  - id: \"0x10de\"  # NVIDIA vendor ID\n"
      "    name: nvidia\n"
      "    devices:\n"
      "      - id: \"0x030200\"  # Device ID for the NVIDIA GA100 GPU\n"
      "        name: ga100gl.rev.a1\n"
      "        type: gpu\n"
      "  - id: \"0x8086\"  # Intel vendor ID\n"
      "    name: intel\n"
      "    devices:\n"
      "      - id: \"0x100f\"  # Device ID for an Intel network adapter\n"
      "        name: x520-da2\n"
      "        type: network\n";

static PpCatalog *
parse (const char *text, GError **error)
{
  return pp_catalog_new_from_data (text, strlen (text), "devices.yaml", error);
}

static void
assert_match (PpCatalog *catalog,
              guint vendor,
              guint device,
              guint32 class_code,
              const char *resource,
              const char *type)
{
  const char *r = NULL;
  const char *t = NULL;
  gboolean found
      = pp_catalog_match (catalog, vendor, device, class_code, &r, &t);

  g_assert_cmpint (found, ==, resource != NULL);
  g_assert_cmpstr (r, ==, resource);
  g_assert_cmpstr (t, ==, type);
}

static void
test_seed (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpCatalog) catalog = parse (seed, &error);
  const char *const *warnings;

  g_assert_no_error (error);
  g_assert_cmpuint (pp_catalog_get_n_entries (catalog), ==, 2);
  /* The GA100's id is a class code: any NVIDIA 3D controller matches. */
  assert_match (catalog, 0x10de, 0x20b0, 0x030200, "gpu.nvidia/ga100gl.rev.a1",
                "gpu");
  assert_match (catalog, 0x10de, 0x2236, 0x030200, "gpu.nvidia/ga100gl.rev.a1",
                "gpu");
  /* Not a VGA controller (0x0300), not another vendor's 3D controller. */
  assert_match (catalog, 0x10de, 0x2236, 0x030000, NULL, NULL);
  assert_match (catalog, 0x1002, 0x2236, 0x030200, NULL, NULL);
  /* The X520 by device ID, whatever its class. */
  assert_match (catalog, 0x8086, 0x100f, 0x020000, "network.intel/x520-da2",
                "network");
  assert_match (catalog, 0x8086, 0x100e, 0x020000, NULL, NULL);

  warnings = pp_catalog_get_warnings (catalog);
  g_assert_cmpuint (g_strv_length ((char **) warnings), ==, 1);
  g_assert_true (g_str_has_prefix (warnings[0], "devices.yaml:5:13: "));
  g_assert_nonnull (strstr (warnings[0], "class code (0x030200)"));
}

static void
test_device_id_before_class (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (PpCatalog) catalog
      = parse ("vendors:\n"
               "  - id: 10de\n"
               "    name: nvidia\n"
               "    devices:\n"
               "      - {id: '0x030000', name: any-vga, type: gpu}\n"
               "      - {id: 0x2684, name: rtx4090, type: gpu}\n"
               "      - {id: 0x22ba, name: rtx4090, type: audio}\n"
               "      - {id: 0X2685, name: rtx4090, type: gpu}\n",
               &error);

  g_assert_no_error (error);
  assert_match (catalog, 0x10de, 0x2684, 0x030000, "gpu.nvidia/rtx4090", "gpu");
  /* Two ids, one resource: the pool has both. */
  assert_match (catalog, 0x10de, 0x2685, 0x030000, "gpu.nvidia/rtx4090", "gpu");
  assert_match (catalog, 0x10de, 0x1234, 0x030000, "gpu.nvidia/any-vga", "gpu");
  /* The catalog's type, not the class's. */
  assert_match (catalog, 0x10de, 0x22ba, 0x040300, "audio.nvidia/rtx4090",
                "audio");
}

static void
test_empty (void)
{
  const char *empty[] = { "",
                          "# nothing yet\n",
                          "vendors:\n",
                          "vendors: []\n",
                          "---\nvendors: ~\n",
                          "vendors:\n  - {id: '1af4', name: virtio}\n" };

  for (guint i = 0; i < G_N_ELEMENTS (empty); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (PpCatalog) catalog = parse (empty[i], &error);

      g_assert_no_error (error);
      g_assert_cmpuint (pp_catalog_get_n_entries (catalog), ==, 0);
      g_assert_cmpuint (
          g_strv_length ((char **) pp_catalog_get_warnings (catalog)), ==, 0);
    }
}

typedef struct
{
  const char *text;
  const char *message; /* "LINE:COLUMN: start of the message" */
} Bad;

static const Bad bad[] = {
  /* YAML syntax */
  { "vendors:\n  - id: \"10de\n",
    "3:1: found unexpected end of stream (while scanning a quoted scalar that "
    "starts at 2:9)" },
  { "vendors: [\n", "2:1: did not find expected node content" },
  /* unknown keys, at every level */
  { "vendor:\n", "1:1: unknown key \"vendor\" in the catalog" },
  { "vendors:\n  - {id: '10de', name: nvidia, device: []}\n",
    "2:32: unknown key \"device\" in vendors[0] (known: id, name, devices)" },
  { "vendors:\n  - id: '10de'\n    name: nvidia\n    devices:\n"
    "      - {id: '2684', name: x, type: gpu, vendor: '10de'}\n",
    "5:42: unknown key \"vendor\" in nvidia devices[0]" },
  /* duplicates */
  { "vendors:\n  - {id: '10de', name: nvidia}\n  - {id: '0x10DE', name: nv}\n",
    "3:10: vendor id \"0x10DE\" is listed twice (first at 2:10)" },
  { "vendors:\n  - id: '10de'\n    name: nvidia\n    devices:\n"
    "      - {id: '2684', name: a, type: gpu}\n"
    "      - {id: '0x2684', name: b, type: gpu}\n",
    "6:14: device id \"0x2684\" of vendor nvidia is listed twice (first at "
    "5:14)" },
  { "vendors:\n  - {id: '10de', id: '10df'}\n",
    "2:18: key \"id\" appears twice in this mapping (first at 2:6)" },
  /* wrong types */
  { "- vendors\n", "1:1: a catalog is a mapping with vendors, not a sequence" },
  { "vendors: nvidia\n", "1:10: vendors must be a sequence, not a scalar" },
  { "vendors:\n  - nvidia\n", "2:5: vendors[0] must be a mapping with id, name "
                              "and devices, not a scalar" },
  { "vendors:\n  - {id: [10de], name: nvidia}\n",
    "2:10: id of vendors[0] must be a scalar, not a sequence" },
  { "vendors:\n  - {id: '10de', name: nvidia, devices: {id: '2684'}}\n",
    "2:41: devices of nvidia must be a sequence, not a mapping" },
  { "vendors:\n  - {id: '10de', name: nvidia, devices: [{id: '2684', name: "
    "a, type: fpga}]}\n",
    "2:70: type \"fpga\" of nvidia devices[0] is not one of gpu, network" },
  /* ids that are not hex, or not the right length */
  { "vendors:\n  - {id: 'nvidia', name: nvidia}\n",
    "2:10: id \"nvidia\" of vendors[0] is not a vendor ID" },
  { "vendors:\n  - {id: '0x10de0', name: nvidia}\n",
    "2:10: id \"0x10de0\" of vendors[0] is not a vendor ID" },
  { "vendors:\n  - {id: '10de', name: nvidia, devices: [{id: '0x26g4', name: "
    "a, type: gpu}]}\n",
    "2:47: id \"0x26g4\" of nvidia devices[0] is not 4 hex digits" },
  { "vendors:\n  - {id: '10de', name: nvidia, devices: [{id: '0x02684', name: "
    "a, type: gpu}]}\n",
    "2:47: id \"0x02684\" of nvidia devices[0] is not 4 hex digits" },
  /* missing keys and names that cannot be resource names */
  { "vendors:\n  - {name: nvidia}\n", "2:5: vendors[0] has no id" },
  { "vendors:\n  - {id: '10de', name: nvidia, devices: [{id: '2684', type: "
    "gpu}]}\n",
    "2:42: nvidia devices[0] has no name" },
  { "vendors:\n  - {id: '10de', name: NVIDIA}\n",
    "2:24: name \"NVIDIA\" of vendors[0] is not 1 to 63 lower-case letters" },
  { "vendors:\n  - {id: '10de', name: nvidia, devices: [{id: '2684', name: "
    "'a/b', type: gpu}]}\n",
    "2:61: name \"a/b\" of nvidia devices[0] is not 1 to 63 letters" },
};

static void
test_bad (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (PpCatalog) catalog = parse (bad[i].text, &error);
      g_autofree char *expected
          = g_strconcat ("devices.yaml:", bad[i].message, NULL);

      g_test_message ("bad catalog %u: %s", i, bad[i].text);
      g_assert_null (catalog);
      g_assert_error (error, PP_ERROR, PP_ERROR_CONFIG);
      if (!g_str_has_prefix (error->message, expected))
        g_error ("catalog %u: \"%s\" does not start with \"%s\"", i,
                 error->message, expected);
    }
}

static void
test_files (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("test-catalog-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "devices.yaml", NULL);
  g_autoptr (PpCatalog) none = pp_catalog_new_from_file (missing, &error);
  g_autoptr (PpCatalog) catalog = NULL;

  /* No catalog file is not an error. */
  g_assert_no_error (error);
  g_assert_cmpuint (pp_catalog_get_n_entries (none), ==, 0);

  /* A directory where the file should be is. */
  catalog = pp_catalog_new_from_file (dir, &error);
  g_assert_null (catalog);
  g_assert_error (error, PP_ERROR, PP_ERROR_CONFIG);
  g_assert_nonnull (strstr (error->message, dir));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (missing, seed, -1, NULL));
  catalog = pp_catalog_new_from_file (missing, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pp_catalog_get_n_entries (catalog), ==, 2);
  g_clear_object (&catalog);

  g_assert_true (g_file_set_contents (missing, "vendors: [", -1, NULL));
  catalog = pp_catalog_new_from_file (missing, &error);
  g_assert_null (catalog);
  g_assert_true (g_str_has_prefix (error->message, missing));
  g_assert_true (
      g_str_has_prefix (error->message + strlen (missing), ":2:1: "));

  g_unlink (missing);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/catalog/seed", test_seed);
  g_test_add_func ("/catalog/device-id-before-class",
                   test_device_id_before_class);
  g_test_add_func ("/catalog/empty", test_empty);
  g_test_add_func ("/catalog/bad", test_bad);
  g_test_add_func ("/catalog/files", test_files);
  return g_test_run ();
}
