/* The io.github.pcipassd.Error D-Bus error domain. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define PP_ERROR (pp_error_quark ())

/* Each maps to "io.github.pcipassd.Error.<Name>" on the bus. */
typedef enum
{
  PP_ERROR_NOT_AUTHORIZED,   /* NotAuthorized */
  PP_ERROR_NOT_FOUND,        /* NotFound: the device is gone */
  PP_ERROR_BUSY,             /* Busy */
  PP_ERROR_PROTECTED,        /* Protected */
  PP_ERROR_GROUP_NOT_VIABLE, /* GroupNotViable */
  PP_ERROR_VFIO_UNAVAILABLE, /* VfioUnavailable */
  PP_ERROR_IOMMU_DISABLED,   /* IommuDisabled */
  PP_ERROR_RESERVED,         /* Reserved */
  PP_ERROR_KERNEL,           /* Kernel: a sysfs write failed */
  PP_ERROR_CONFIG,           /* Config: a file has an error at line:column */
  PP_ERROR_READ_ONLY,        /* ReadOnly: the daemon runs with --read-only */
} PpError;

GQuark pp_error_quark (void);

G_END_DECLS
