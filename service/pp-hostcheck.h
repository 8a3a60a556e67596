/* ValidateHost: can this machine pass PCI devices to virtual machines?
 *
 * Architecture, KVM, the IOMMU, the VFIO stack and the settings that make
 * passthrough unsafe or slow, judged the robust way
 * (../shared/notes/kernel.md §5): the IOMMU from /sys/class/iommu and
 * /sys/kernel/iommu_groups, vfio-pci from its driver directory (module or
 * built-in alike).  The kernel command line only chooses the remedy.
 *
 * /sys is read as it is (the tests' umockdev preload redirects it).  /dev
 * and /proc are taken from PpHostPaths, because a testbed cannot hide the
 * host's own /dev/kvm or /proc/cpuinfo.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const char *proc_dir; /* NULL: "/proc" (cpuinfo, cmdline, meminfo) */
  const char *dev_dir;  /* NULL: "/dev" (kvm, vfio/vfio, iommu) */
  const char *machine;  /* NULL: uname(2)'s machine, e.g. "x86_64" */
} PpHostPaths;

/* Every host check, subject "host", in a fixed order.  @paths may be
 * NULL for the real host. */
GPtrArray *pp_hostcheck_run (const PpHostPaths *paths);

/* The manager's IommuEnabled, VfioAvailable and KvmAvailable properties
 * from the results of one pp_hostcheck_run(), so that properties and
 * results describe one and the same moment.  Each is TRUE exactly when
 * none of the checks it stands for fails: "iommu"; "vfio-pci",
 * "vfio-iommu-backend", "vfio-container"; "kvm", "cpu-virtualization".
 * Any argument but @results may be NULL. */
void pp_hostcheck_summarize (GPtrArray *results,
                             gboolean *iommu_enabled,
                             gboolean *vfio_available,
                             gboolean *kvm_available);

G_END_DECLS
