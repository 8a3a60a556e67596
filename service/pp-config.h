/* ValidateConfig: an AI-HOW cluster config checked against this host.
 *
 * The format (../shared/seeds/ai-how-pcie-validation.md):
 *
 *   compute_nodes:                  or clusters: {NAME: {compute_nodes: ..}}
 *     - name: "gpu-node-01"
 *       pcie_passthrough:
 *         enabled: true
 *         devices:
 *           - pci_address: "0000:01:00.0"      required, DDDD:BB:SS.F
 *             device_type: "gpu"               required: gpu network
 *                                              storage audio other
 *             vendor_id: "10de"                optional hex, "0x" allowed
 *             device_id: "2684"                optional hex
 *             iommu_group: 2                   optional integer
 *
 * Parsed with PpYaml (pp-yaml.h), which limits size, depth and counts.
 *
 * Two kinds of problem, two ways of reporting them:
 * - the file cannot be read as such a config (YAML syntax, limits, a
 *   wrong shape above the device entries: root, compute_nodes, a node,
 *   its name, pcie_passthrough, enabled, devices): a PP_ERROR_CONFIG
 *   GError whose message starts with "LINE:COLUMN: " (1-based);
 * - a bad value inside a device entry: "schema" fail (or warn) results
 *   whose message starts with "LINE:COLUMN: ", so that every other device
 *   is still checked.
 */
#pragma once

#include "pp-registry.h"

G_BEGIN_DECLS

#define PP_CONFIG_MAX_SIZE (1024 * 1024) /* bytes */
#define PP_CONFIG_MAX_COMPUTE_NODES 1024
#define PP_CONFIG_MAX_DEVICES 4096 /* device entries over all nodes */

/* Validates @length bytes of @yaml.  @node (NULL: every node) picks one
 * compute node by name; an unknown name is a Config error.  Unless
 * @skip_pcie_validation, each device is then checked against @registry
 * (which may be NULL only with @skip_pcie_validation).  Results have
 * subject "NODE" (node-level) or "NODE/ADDRESS" ("NODE/devices[N]" for
 * an entry without a usable address, N from 0). */
GPtrArray *pp_config_validate (PpRegistry *registry,
                               const char *yaml,
                               gsize length,
                               const char *node,
                               gboolean skip_pcie_validation,
                               GError **error);

G_END_DECLS
