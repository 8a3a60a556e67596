#include "pp-pci-class.h"

const char *
pp_pci_class_to_type (guint32 class_code)
{
  guint base = (class_code >> 16) & 0xff;
  guint sub = (class_code >> 8) & 0xff;

  switch (base)
    {
      case 0x01: /* mass storage controller */
        return "storage";
      case 0x02: /* network controller */
        return "network";
      case 0x03: /* display controller: VGA, XGA, 3D (compute GPUs) */
        return "gpu";
      case 0x04: /* multimedia: only audio (0x01) and HD audio (0x03) */
        return sub == 0x01 || sub == 0x03 ? "audio" : "other";
      case 0x06: /* bridge device */
        return "bridge";
      case 0x0c: /* serial bus controller: 0x03 is USB */
        return sub == 0x03 ? "usb" : "other";
      default:
        return "other";
    }
}

gboolean
pp_pci_class_is_pci_bridge (guint32 class_code)
{
  guint base = (class_code >> 16) & 0xff;
  guint sub = (class_code >> 8) & 0xff;

  return base == 0x06 && (sub == 0x04 || sub == 0x07 || sub == 0x09);
}
