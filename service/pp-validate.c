#include "pp-validate.h"

#include "pp-pci-class.h"

#include "pp-address.h"
#include "pp-check.h"
#include "pp-driver.h"
#include "pp-iommu.h"
#include "pp-protect.h"

/* What the well-known host drivers are, so that a result can say what a
 * user gives up by moving the device. */
static const struct
{
  const char *driver;
  const char *what;
} host_drivers[] = {
  { "nvidia", "NVIDIA's proprietary GPU driver" },
  { "nouveau", "the open-source NVIDIA GPU driver" },
  { "amdgpu", "AMD's GPU driver" },
  { "radeon", "AMD's legacy GPU driver" },
  { "i915", "Intel's GPU driver" },
  { "xe", "Intel's GPU driver" },
  { "ast", "the ASPEED BMC graphics driver" },
  { "snd_hda_intel", "the HD Audio driver" },
  { "xhci_hcd", "the USB 3 host controller driver" },
  { "ehci-pci", "the USB 2 host controller driver" },
  { "nvme", "the NVMe driver" },
  { "ahci", "the SATA driver" },
  { "e1000e", "a network driver" },
  { "igb", "a network driver" },
  { "ixgbe", "a network driver" },
  { "i40e", "a network driver" },
  { "ice", "a network driver" },
  { "iavf", "a network driver" },
  { "mlx5_core", "a network driver" },
  { "bnxt_en", "a network driver" },
  { "r8169", "a network driver" },
  { "pci-stub", "pci-stub, which only keeps host drivers away" },
};

static const char *
describe_driver (const char *driver)
{
  for (gsize i = 0; i < G_N_ELEMENTS (host_drivers); i++)
    if (g_str_equal (host_drivers[i].driver, driver))
      return host_drivers[i].what;
  return "a host driver";
}

char *
pp_validate_describe (PpDevice *device)
{
  const char *driver = pp_device_get_driver (device);

  return g_strdup_printf ("%s (%s, %s)", pp_device_get_address (device),
                          pp_device_get_device_type (device),
                          *driver != '\0' ? driver : "no driver");
}

gboolean
pp_validate_same_slot (const char *a, const char *b)
{
  PpAddress pa;
  PpAddress pb;

  return pp_address_parse (a, FALSE, &pa, NULL)
         && pp_address_parse (b, FALSE, &pb, NULL) && pa.domain == pb.domain
         && pa.bus == pb.bus && pa.slot == pb.slot;
}

/* Not something to give a VM: a PCI-to-PCI bridge, which vfio-pci
 * refuses, or the host bridge, the chipset itself.  An LPC or other
 * class 0x06 endpoint can be passed through (seen on a real kernel). */
static gboolean
is_bridge (PpDevice *device)
{
  guint32 class_code = pp_device_get_class_code (device);

  return pp_pci_class_is_pci_bridge (class_code) || (class_code >> 8) == 0x0600;
}

gboolean
pp_validate_bind_leaves (PpDevice *member)
{
  /* pp-binder.c's plan_bind: vfio-pci refuses PCI-to-PCI bridges, so a
   * group Bind moves every member but them.  Keep the two in step. */
  return pp_pci_class_is_pci_bridge (pp_device_get_class_code (member));
}

/* The strings of @items joined with ", ". */
static char *
join (GPtrArray *items)
{
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < items->len; i++)
    {
      if (i > 0)
        g_string_append (text, ", ");
      g_string_append (text, g_ptr_array_index (items, i));
    }
  return g_string_free (text, FALSE);
}

/* A result that does not apply to a bridge. */
static void
skip_bridge (GPtrArray *out, const char *subject, const char *check)
{
  pp_checks_add (out, subject, check, PP_SEVERITY_SKIP,
                 "does not apply: a bridge is not passed through", NULL);
}

static void
check_address (PpDevice *device, const char *subject, GPtrArray *out)
{
  const char *address = pp_device_get_address (device);
  g_autoptr (GError) error = NULL;
  PpAddress parsed;

  if (!pp_address_parse (address, FALSE, &parsed, &error))
    {
      pp_checks_take (out, subject, "address", PP_SEVERITY_FAIL,
                      g_strdup (error->message),
                      g_strdup ("name the device by its sysfs address, as "
                                "lspci -D prints it (DDDD:BB:SS.F)"));
      return;
    }
  pp_checks_take (
      out, subject, "address", PP_SEVERITY_PASS,
      g_strdup_printf ("%s is a valid PCI address (DDDD:BB:SS.F%s)", address,
                       parsed.domain > 0xffff ? ", a VMD domain" : ""),
      NULL);
}

static void
check_type (PpDevice *device, const char *subject, GPtrArray *out)
{
  const char *name = pp_device_get_device_name (device);
  const char *vendor = pp_device_get_vendor_name (device);
  g_autofree char *names = NULL;
  guint vendor_id;
  guint device_id;
  guint class_code;

  g_object_get (device, "vendor-id", &vendor_id, "device-id", &device_id,
                "class-code", &class_code, NULL);
  if (*vendor != '\0' || *name != '\0')
    names = g_strdup_printf (" (%s%s%s)", vendor,
                             *vendor != '\0' && *name != '\0' ? " " : "", name);
  pp_checks_take (out, subject, "device-type", PP_SEVERITY_PASS,
                  g_strdup_printf ("%s, class 0x%06x, ID %04x:%04x%s",
                                   pp_device_get_device_type (device),
                                   class_code, vendor_id, device_id,
                                   names != NULL ? names : ""),
                  NULL);
}

static void
check_bridge (PpDevice *device, const char *subject, GPtrArray *out)
{
  const char *address = pp_device_get_address (device);
  guint class_code;

  if (!is_bridge (device))
    {
      pp_checks_add (out, subject, "bridge", PP_SEVERITY_PASS,
                     "an endpoint, not a bridge", NULL);
      return;
    }

  g_object_get (device, "class-code", &class_code, NULL);
  pp_checks_take (
      out, subject, "bridge", PP_SEVERITY_FAIL,
      (class_code >> 8) == 0x0604 || (class_code >> 8) == 0x0609
          ? g_strdup_printf ("%s is a PCI-to-PCI bridge: vfio-pci refuses "
                             "devices without a type 0 header",
                             address)
          : g_strdup_printf ("%s is a bridge (class 0x%06x) the host's "
                             "chipset needs: it cannot be passed through",
                             address, class_code),
      g_strdup_printf ("pass the endpoint devices instead: pcipassctl groups "
                       "shows what shares IOMMU group %d with it",
                       pp_device_get_iommu_group (device)));
}

static void
check_driver (PpDevice *device, const char *subject, GPtrArray *out)
{
  const char *address = pp_device_get_address (device);
  const char *driver = pp_device_get_driver (device);
  const char *override = pp_device_get_driver_override (device);

  if (is_bridge (device))
    {
      skip_bridge (out, subject, "driver");
      return;
    }
  if (pp_driver_is_vfio (driver))
    {
      pp_checks_take (out, subject, "driver", PP_SEVERITY_PASS,
                      g_str_equal (driver, "vfio-pci")
                          ? g_strdup ("on vfio-pci: ready for a VM")
                          : g_strdup_printf ("on %s, a vfio-pci variant "
                                             "driver: ready for a VM",
                                             driver),
                      NULL);
      return;
    }
  if (*driver == '\0')
    {
      pp_checks_take (
          out, subject, "driver", PP_SEVERITY_WARN,
          *override != '\0'
              ? g_strdup_printf ("no driver (driver_override is \"%s\"): a "
                                 "VMM needs it on vfio-pci",
                                 override)
              : g_strdup ("no driver: a VMM needs it on vfio-pci"),
          g_strdup_printf ("run pcipassctl bind %s", address));
      return;
    }
  pp_checks_take (
      out, subject, "driver", PP_SEVERITY_WARN,
      g_strdup_printf ("on %s (%s), not on vfio-pci", driver,
                       describe_driver (driver)),
      g_str_equal (driver, "nvidia")
          ? g_strdup_printf ("run pcipassctl bind %s (stop "
                             "nvidia-persistenced and whatever uses the GPU "
                             "first: the unbind waits for them)",
                             address)
          : g_strdup_printf ("run pcipassctl bind %s", address));
}

static void
check_iommu_group (PpRegistry *registry,
                   PpDevice *device,
                   const char *subject,
                   GPtrArray *out)
{
  int group = pp_device_get_iommu_group (device);
  g_autoptr (GPtrArray) others = g_ptr_array_new ();
  g_autofree char *list = NULL;
  GPtrArray *members;
  PpAddress parsed;

  if (group < 0)
    {
      gboolean vmd = pp_address_parse (pp_device_get_address (device), FALSE,
                                       &parsed, NULL)
                     && parsed.domain > 0xffff;

      pp_checks_add (
          out, subject, "iommu-group", PP_SEVERITY_FAIL,
          vmd ? "no IOMMU group: the device sits behind an Intel VMD "
                "controller, whose DMA the IOMMU sees as the controller's"
              : "no IOMMU group: VFIO cannot take a device the IOMMU does "
                "not isolate",
          vmd ? "turn VMD off (\"VMD controller\" or \"Intel RST\" in the "
                "firmware setup) so that the NVMe drives appear as ordinary "
                "PCI devices with IOMMU groups"
              : "enable the IOMMU: pcipassctl validate (check iommu) says "
                "how on this host (VT-d or AMD-Vi in the firmware setup, "
                "intel_iommu=on on Intel)");
      return;
    }

  members = pp_registry_get_group_members (registry, group);
  for (guint i = 0; members != NULL && i < members->len; i++)
    if (g_ptr_array_index (members, i) != device)
      g_ptr_array_add (others, (gpointer) pp_device_get_address (
                                   g_ptr_array_index (members, i)));
  list = join (others);
  pp_checks_take (
      out, subject, "iommu-group", PP_SEVERITY_PASS,
      others->len == 0
          ? g_strdup_printf ("IOMMU group %d, alone in it", group)
          : g_strdup_printf ("IOMMU group %d, shared with %s", group, list),
      NULL);
}

static void
check_group_viable (PpRegistry *registry,
                    PpDevice *device,
                    const char *subject,
                    GPtrArray *out)
{
  const char *address = pp_device_get_address (device);
  int group = pp_device_get_iommu_group (device);
  GPtrArray *members;
  /* Members on host drivers, by what it takes to free them. */
  g_autoptr (GPtrArray) siblings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) strangers = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) stuck = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) stuck_reasons = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) message = g_string_new (NULL);
  /* What frees the stuck ones: unbinding a bridge, --force. */
  g_autoptr (GString) unstick = g_string_new (NULL);
  gboolean protected_member = FALSE;
  PpSeverity severity;
  char *remedy;

  if (is_bridge (device))
    {
      skip_bridge (out, subject, "group-viable");
      return;
    }
  if (group < 0)
    {
      pp_checks_add (out, subject, "group-viable", PP_SEVERITY_SKIP,
                     "no IOMMU group (see iommu-group)", NULL);
      return;
    }

  members = pp_registry_get_group_members (registry, group);
  for (guint i = 0; members != NULL && i < members->len; i++)
    {
      PpDevice *member = g_ptr_array_index (members, i);
      const char *member_address = pp_device_get_address (member);
      const char *reason = pp_device_get_protection_reason (member);

      if (member == device
          || pp_driver_manages_dma (pp_device_get_driver (member)))
        continue;

      /* Bind leaves bridges where they are and refuses protected
       * devices: those keep the group from becoming viable by Bind
       * alone.  A bridge with no driver at all does not block. */
      if (pp_validate_bind_leaves (member))
        {
          g_ptr_array_add (stuck, pp_validate_describe (member));
          g_ptr_array_add (stuck_reasons,
                           g_strdup_printf ("%s is a bridge on a host driver",
                                            member_address));
          g_string_append_printf (unstick,
                                  "; if the host can do without %s, unbind "
                                  "it: echo %s > "
                                  "/sys/bus/pci/devices/%s/driver/unbind",
                                  pp_device_get_driver (member), member_address,
                                  member_address);
        }
      else if (*reason != '\0')
        {
          protected_member = TRUE;
          g_ptr_array_add (stuck, pp_validate_describe (member));
          g_ptr_array_add (
              stuck_reasons,
              g_strdup_printf ("%s is protected (%s)", member_address, reason));
        }
      else if (pp_validate_same_slot (address, member_address))
        g_ptr_array_add (siblings, pp_validate_describe (member));
      else
        g_ptr_array_add (strangers, pp_validate_describe (member));
    }

  if (stuck->len + siblings->len + strangers->len == 0)
    {
      pp_checks_take (
          out, subject, "group-viable", PP_SEVERITY_PASS,
          pp_driver_manages_dma (pp_device_get_driver (device))
              ? g_strdup_printf ("IOMMU group %d is viable: no member is on "
                                 "a driver that does DMA for the host",
                                 group)
              : g_strdup_printf ("IOMMU group %d becomes viable once this "
                                 "device is on vfio-pci (see driver)",
                                 group),
          NULL);
      return;
    }

  g_string_append_printf (message, "IOMMU group %d is not viable:", group);
  if (stuck->len > 0)
    {
      g_autofree char *list = join (stuck);
      g_autofree char *why = join (stuck_reasons);
      g_string_append_printf (
          message, " %s cannot be moved by a plain bind (%s);", list, why);
    }
  if (strangers->len > 0)
    {
      g_autofree char *list = join (strangers);
      g_string_append_printf (message,
                              " %s %s on the host: passing this device "
                              "takes %s from the host to the same VM;",
                              list, strangers->len == 1 ? "is" : "are",
                              strangers->len == 1 ? "it" : "them");
    }
  if (siblings->len > 0)
    {
      g_autofree char *list = join (siblings);
      g_string_append_printf (message,
                              " %s, another function of this device, %s on "
                              "the host;",
                              list, siblings->len == 1 ? "is" : "are");
    }
  g_string_truncate (message, message->len - 1);

  if (stuck->len > 0)
    {
      severity = PP_SEVERITY_FAIL;
      remedy = g_strdup_printf (
          "pass a device whose IOMMU group holds nothing the host needs, or "
          "put the card in another slot (pcipassctl groups shows the "
          "groups)%s%s%s%s",
          unstick->str,
          protected_member ? "; to take the protected member from the host "
                             "anyway: pcipassctl bind "
                           : "",
          protected_member ? address : "", protected_member ? " --force" : "");
    }
  else if (strangers->len > 0)
    {
      severity = PP_SEVERITY_FAIL;
      remedy = g_strdup_printf (
          "give the whole group to one VM: pcipassctl bind %s moves every "
          "member with it; or put the card in a slot with an IOMMU group of "
          "its own (pcipassctl groups shows the groups)",
          address);
    }
  else
    {
      severity = PP_SEVERITY_WARN;
      remedy = g_strdup_printf ("run pcipassctl bind %s: it moves the other "
                                "functions with it",
                                address);
    }
  pp_checks_take (out, subject, "group-viable", severity,
                  g_string_free (g_steal_pointer (&message), FALSE), remedy);
}

static void
check_sriov (PpDevice *device, const char *subject, GPtrArray *out)
{
  const char *address = pp_device_get_address (device);
  g_auto (GStrv) vfs = NULL;
  g_autofree char *pf = NULL;

  if (is_bridge (device))
    {
      skip_bridge (out, subject, "sriov");
      return;
    }

  g_object_get (device, "virtual-functions", &vfs, "physical-function", &pf,
                NULL);
  if (vfs != NULL && vfs[0] != NULL)
    {
      guint n = g_strv_length (vfs);
      pp_checks_take (
          out, subject, "sriov", PP_SEVERITY_FAIL,
          g_strdup_printf ("an SR-IOV physical function with %u VF%s "
                           "enabled: vfio-pci refuses it while they exist",
                           n, n == 1 ? "" : "s"),
          g_strdup_printf ("pass one of its VFs (%s%s) instead, or remove "
                           "them: echo 0 > "
                           "/sys/bus/pci/devices/%s/sriov_numvfs (stop "
                           "their users first)",
                           vfs[0], n > 1 ? ", ..." : "", address));
      return;
    }
  if (pf != NULL && *pf != '\0')
    pp_checks_take (out, subject, "sriov", PP_SEVERITY_PASS,
                    g_strdup_printf ("an SR-IOV virtual function of %s (the "
                                     "PF stays on the host)",
                                     pf),
                    NULL);
  else
    pp_checks_add (out, subject, "sriov", PP_SEVERITY_PASS,
                   "no SR-IOV virtual functions enabled", NULL);
}

static void
check_reset (PpDevice *device, const char *subject, GPtrArray *out)
{
  g_auto (GStrv) methods = NULL;
  g_autofree char *list = NULL;

  if (is_bridge (device))
    {
      skip_bridge (out, subject, "reset");
      return;
    }
  g_object_get (device, "reset-methods", &methods, NULL);
  if (methods != NULL && methods[0] != NULL)
    {
      list = g_strjoinv (", ", methods);
      pp_checks_take (out, subject, "reset", PP_SEVERITY_PASS,
                      g_strdup_printf ("can be reset (%s)", list), NULL);
      return;
    }
  pp_checks_add (
      out, subject, "reset", PP_SEVERITY_WARN,
      "no reset method (reset_method is empty or absent): the device keeps "
      "its state when a VM stops and may fail in the next VM",
      "reboot the host before giving it to another VM, and look for a "
      "firmware update that adds FLR; for AMD GPUs the vendor-reset module "
      "adds a device-specific reset");
}

static const char *
protection_text (const char *reason)
{
  if (g_str_equal (reason, PP_PROTECT_BOOT_VGA))
    return "the boot VGA device: the firmware console and the host's "
           "display run on it";
  if (g_str_equal (reason, PP_PROTECT_MOUNTED))
    return "a mounted file system is on a disk behind it";
  if (g_str_equal (reason, PP_PROTECT_DEFAULT_ROUTE))
    return "it carries the host's default route";
  return reason;
}

static void
check_protected (PpDevice *device, const char *subject, GPtrArray *out)
{
  const char *reason = pp_device_get_protection_reason (device);
  const char *address = pp_device_get_address (device);

  if (*reason == '\0')
    {
      pp_checks_add (out, subject, "protected", PP_SEVERITY_PASS,
                     "the host does not depend on it", NULL);
      return;
    }
  pp_checks_take (
      out, subject, "protected", PP_SEVERITY_FAIL,
      g_strdup_printf ("protected (%s): %s", reason, protection_text (reason)),
      g_strdup_printf ("choose another device%s; to take it from the host "
                       "anyway: pcipassctl bind %s --force",
                       g_str_equal (reason, PP_PROTECT_BOOT_VGA)
                           ? " (or make another GPU the primary display in "
                             "the firmware setup)"
                           : "",
                       address));
}

static void
check_in_use (PpDevice *device, const char *subject, GPtrArray *out)
{
  int group = pp_device_get_iommu_group (device);

  if (!g_str_equal (pp_device_get_state (device), PP_DEVICE_STATE_IN_USE))
    {
      pp_checks_add (out, subject, "in-use", PP_SEVERITY_PASS,
                     "no process holds its VFIO group", NULL);
      return;
    }
  pp_checks_take (out, subject, "in-use", PP_SEVERITY_WARN,
                  g_strdup_printf ("in use: /dev/vfio/%d is open (a running "
                                   "VM?); another VM cannot have it",
                                   group),
                  g_strdup_printf ("stop the VM that has it first; fuser -v "
                                   "/dev/vfio/%d names the process",
                                   group));
}

static void
check_numa (PpDevice *device, const char *subject, GPtrArray *out)
{
  int node;

  g_object_get (device, "numa-node", &node, NULL);
  pp_checks_take (out, subject, "numa-node", PP_SEVERITY_PASS,
                  node >= 0
                      ? g_strdup_printf ("NUMA node %d: keep the VM's vCPUs "
                                         "and memory on node %d",
                                         node, node)
                      : g_strdup ("no NUMA node reported (a single-node "
                                  "host)"),
                  NULL);
}

void
pp_validate_device_checks (PpRegistry *registry,
                           PpDevice *device,
                           const char *subject,
                           PpValidateChecks which,
                           GPtrArray *out)
{
  g_return_if_fail (PP_IS_REGISTRY (registry));
  g_return_if_fail (PP_IS_DEVICE (device));

  if (subject == NULL)
    subject = pp_device_get_address (device);

  if (which & PP_VALIDATE_ADDRESS)
    check_address (device, subject, out);
  if (which & PP_VALIDATE_TYPE)
    check_type (device, subject, out);
  if (which & PP_VALIDATE_BRIDGE)
    check_bridge (device, subject, out);
  if (which & PP_VALIDATE_DRIVER)
    check_driver (device, subject, out);
  if (which & PP_VALIDATE_IOMMU_GROUP)
    check_iommu_group (registry, device, subject, out);
  if (which & PP_VALIDATE_GROUP_VIABLE)
    check_group_viable (registry, device, subject, out);
  if (which & PP_VALIDATE_SRIOV)
    check_sriov (device, subject, out);
  if (which & PP_VALIDATE_RESET)
    check_reset (device, subject, out);
  if (which & PP_VALIDATE_PROTECTED)
    check_protected (device, subject, out);
  if (which & PP_VALIDATE_IN_USE)
    check_in_use (device, subject, out);
  if (which & PP_VALIDATE_NUMA)
    check_numa (device, subject, out);
}

GPtrArray *
pp_validate_device (PpRegistry *registry, PpDevice *device)
{
  GPtrArray *out = pp_checks_new ();

  g_return_val_if_fail (PP_IS_REGISTRY (registry), out);
  g_return_val_if_fail (PP_IS_DEVICE (device), out);

  /* Mounts, routes and VFIO users change without uevents. */
  pp_registry_update_host_state (registry);
  pp_validate_device_checks (registry, device, NULL, PP_VALIDATE_ALL, out);
  return out;
}
