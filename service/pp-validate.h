/* Device.Validate: can this PCI function be passed to a virtual machine?
 *
 * Reads the model only (PpDevice and the registry's IOMMU group table),
 * never sysfs: the registry is what Bind acts on, so the answer matches
 * what Bind would do.  Results have the device's address as subject,
 * unless a caller (ValidateConfig) names another.
 */
#pragma once

#include "pp-registry.h"

G_BEGIN_DECLS

/* Which device checks to run; the names are the check identifiers. */
typedef enum
{
  PP_VALIDATE_ADDRESS = 1 << 0,      /* "address" */
  PP_VALIDATE_TYPE = 1 << 1,         /* "device-type" */
  PP_VALIDATE_BRIDGE = 1 << 2,       /* "bridge" */
  PP_VALIDATE_DRIVER = 1 << 3,       /* "driver" */
  PP_VALIDATE_IOMMU_GROUP = 1 << 4,  /* "iommu-group" */
  PP_VALIDATE_GROUP_VIABLE = 1 << 5, /* "group-viable" */
  PP_VALIDATE_SRIOV = 1 << 6,        /* "sriov" */
  PP_VALIDATE_RESET = 1 << 7,        /* "reset" */
  PP_VALIDATE_PROTECTED = 1 << 8,    /* "protected" */
  PP_VALIDATE_IN_USE = 1 << 9,       /* "in-use" */
  PP_VALIDATE_NUMA = 1 << 10,        /* "numa-node" */
  PP_VALIDATE_ALL = (1 << 11) - 1,
} PpValidateChecks;

/* Every device check of @device, in the order above.  First refreshes
 * what sysfs events do not announce (protection, VFIO groups in use), as
 * Bind does before it plans. */
GPtrArray *pp_validate_device (PpRegistry *registry, PpDevice *device);

/* Appends the checks in @which for @device to @out with @subject (NULL:
 * the device's address).  Does not refresh the registry. */
void pp_validate_device_checks (PpRegistry *registry,
                                PpDevice *device,
                                const char *subject,
                                PpValidateChecks which,
                                GPtrArray *out);

/* "0000:01:00.1 (audio, snd_hda_intel)": how results name a device;
 * "no driver" for an unbound one. */
char *pp_validate_describe (PpDevice *device);

/* TRUE for a group member that a group Bind leaves where it is (a
 * bridge): it need not be listed in a config, and on a host driver it
 * keeps the group from being viable. */
gboolean pp_validate_bind_leaves (PpDevice *member);

/* TRUE when @a and @b are functions of one physical device: same
 * domain, bus and slot. */
gboolean pp_validate_same_slot (const char *a, const char *b);

G_END_DECLS
