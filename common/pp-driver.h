/* What a PCI driver's name says about passthrough: the kernel's rules,
 * with no state.  The device model (State) and the IOMMU group logic
 * (GroupViable) both ask; neither asks the other. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* vfio-pci or one of its variant drivers (mlx5_vfio_pci, ...). */
gboolean pp_driver_is_vfio (const char *driver);

/* TRUE when @driver leaves the group's DMA to VFIO: unbound (NULL or ""),
 * vfio-pci and variants, pci-stub, pcieport (../shared/notes/kernel.md
 * §4, driver_managed_dma). */
gboolean pp_driver_manages_dma (const char *driver);

G_END_DECLS
