#include "pp-driver.h"

/* Drivers with driver_managed_dma set in the kernel besides vfio-pci's
 * family: binding them keeps a group viable. */
static const char *const dma_managed_drivers[] = {
  "pci-stub",
  "pcieport",
  NULL,
};

gboolean
pp_driver_is_vfio (const char *driver)
{
  if (driver == NULL)
    return FALSE;
  /* Variant drivers register as <vendor>[_<chip>]_vfio_pci
   * (drivers/vfio/pci/<vendor>/). */
  return g_str_equal (driver, "vfio-pci")
         || g_str_has_suffix (driver, "_vfio_pci");
}

gboolean
pp_driver_manages_dma (const char *driver)
{
  if (driver == NULL || *driver == '\0')
    return TRUE;
  return pp_driver_is_vfio (driver)
         || g_strv_contains (dma_managed_drivers, driver);
}
