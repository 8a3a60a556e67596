#include "pp-error.h"

static const GDBusErrorEntry pp_error_entries[] = {
  { PP_ERROR_NOT_AUTHORIZED, "io.github.pcipassd.Error.NotAuthorized" },
  { PP_ERROR_NOT_FOUND, "io.github.pcipassd.Error.NotFound" },
  { PP_ERROR_BUSY, "io.github.pcipassd.Error.Busy" },
  { PP_ERROR_PROTECTED, "io.github.pcipassd.Error.Protected" },
  { PP_ERROR_GROUP_NOT_VIABLE, "io.github.pcipassd.Error.GroupNotViable" },
  { PP_ERROR_VFIO_UNAVAILABLE, "io.github.pcipassd.Error.VfioUnavailable" },
  { PP_ERROR_IOMMU_DISABLED, "io.github.pcipassd.Error.IommuDisabled" },
  { PP_ERROR_RESERVED, "io.github.pcipassd.Error.Reserved" },
  { PP_ERROR_KERNEL, "io.github.pcipassd.Error.Kernel" },
  { PP_ERROR_CONFIG, "io.github.pcipassd.Error.Config" },
  { PP_ERROR_READ_ONLY, "io.github.pcipassd.Error.ReadOnly" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (pp_error_entries) == PP_ERROR_READ_ONLY + 1);

GQuark
pp_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("pcipassd-error-quark", &quark,
                                      pp_error_entries,
                                      G_N_ELEMENTS (pp_error_entries));
  return (GQuark) quark;
}
