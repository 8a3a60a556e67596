#include "pp-hostcheck.h"

#include "pp-check.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define SUBJECT "host"

#define SYS_CLASS_IOMMU "/sys/class/iommu"
#define SYS_IOMMU_GROUPS "/sys/kernel/iommu_groups"
#define SYS_VFIO_PCI "/sys/bus/pci/drivers/vfio-pci"
#define SYS_MODULE "/sys/module"
#define SYS_NOIOMMU "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
#define SYS_HUGEPAGES "/sys/kernel/mm/hugepages"

typedef enum
{
  CPU_UNKNOWN,
  CPU_INTEL,
  CPU_AMD, /* AMD and Hygon: same SVM and AMD-Vi */
} CpuVendor;

/* What the checks read, once per run. */
typedef struct
{
  char *proc_dir;
  char *dev_dir;
  char *machine;
  char *cpuinfo;  /* NULL when unreadable */
  char **cmdline; /* words; NULL when unreadable */
  CpuVendor vendor;
} HostInfo;

static void
host_info_clear (HostInfo *info)
{
  g_free (info->proc_dir);
  g_free (info->dev_dir);
  g_free (info->machine);
  g_free (info->cpuinfo);
  g_strfreev (info->cmdline);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HostInfo, host_info_clear)

/* The value of the first "KEY : value" line of /proc/cpuinfo, or NULL. */
static char *
cpuinfo_field (const char *cpuinfo, const char *key)
{
  g_auto (GStrv) lines = NULL;

  if (cpuinfo == NULL)
    return NULL;
  lines = g_strsplit (cpuinfo, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      const char *colon = strchr (*l, ':');
      g_autofree char *name = NULL;

      if (colon == NULL)
        continue;
      name = g_strstrip (g_strndup (*l, (gsize) (colon - *l)));
      if (g_str_equal (name, key))
        return g_strstrip (g_strdup (colon + 1));
    }
  return NULL;
}

static void
host_info_load (HostInfo *info, const PpHostPaths *paths)
{
  g_autofree char *cmdline = NULL;
  g_autofree char *cmdline_path = NULL;
  g_autofree char *cpuinfo_path = NULL;
  g_autofree char *vendor = NULL;
  struct utsname uts;

  info->proc_dir
      = g_strdup (paths && paths->proc_dir ? paths->proc_dir : "/proc");
  info->dev_dir = g_strdup (paths && paths->dev_dir ? paths->dev_dir : "/dev");
  if (paths != NULL && paths->machine != NULL)
    info->machine = g_strdup (paths->machine);
  else
    info->machine = g_strdup (uname (&uts) == 0 ? uts.machine : "");

  cpuinfo_path = g_build_filename (info->proc_dir, "cpuinfo", NULL);
  if (!g_file_get_contents (cpuinfo_path, &info->cpuinfo, NULL, NULL))
    info->cpuinfo = NULL;

  cmdline_path = g_build_filename (info->proc_dir, "cmdline", NULL);
  if (g_file_get_contents (cmdline_path, &cmdline, NULL, NULL))
    {
      g_autoptr (GStrvBuilder) words = g_strv_builder_new ();
      g_auto (GStrv) parts = g_strsplit_set (cmdline, " \t\n", -1);

      for (char **p = parts; *p != NULL; p++)
        if (**p != '\0')
          g_strv_builder_add (words, *p);
      info->cmdline = g_strv_builder_end (words);
    }

  vendor = cpuinfo_field (info->cpuinfo, "vendor_id");
  if (g_strcmp0 (vendor, "GenuineIntel") == 0)
    info->vendor = CPU_INTEL;
  else if (g_strcmp0 (vendor, "AuthenticAMD") == 0
           || g_strcmp0 (vendor, "HygonGenuine") == 0)
    info->vendor = CPU_AMD;
  else
    info->vendor = CPU_UNKNOWN;
}

static gboolean
is_x86 (const HostInfo *info)
{
  return g_str_equal (info->machine, "x86_64")
         || (g_str_has_prefix (info->machine, "i")
             && g_str_has_suffix (info->machine, "86"));
}

/* The value of the last KEY= word of the command line, as the kernel
 * lets a later parameter override an earlier one; NULL when absent. */
static const char *
cmdline_value (const HostInfo *info, const char *key)
{
  const char *value = NULL;
  gsize len = strlen (key);

  for (char **w = info->cmdline; w != NULL && *w != NULL; w++)
    if (strncmp (*w, key, len) == 0 && (*w)[len] == '=')
      value = *w + len + 1;
  return value;
}

typedef enum
{
  OPTION_UNSET,
  OPTION_ON,
  OPTION_OFF,
} OptionState;

/* What the KEY= words (intel_iommu=, amd_iommu=) ask of the IOMMU.  The
 * kernel reads their comma-separated items in order, "on", and "off"
 * by its first three characters, the last one winning; other items
 * ("igfx_off", "sm_on", "pt") leave it be.  @word is set to the word
 * that turned it off, which a remedy must name exactly. */
static OptionState
iommu_option (const HostInfo *info, const char *key, const char **word)
{
  OptionState state = OPTION_UNSET;
  gsize len = strlen (key);

  for (char **w = info->cmdline; w != NULL && *w != NULL; w++)
    {
      g_auto (GStrv) items = NULL;

      if (strncmp (*w, key, len) != 0 || (*w)[len] != '=')
        continue;
      items = g_strsplit (*w + len + 1, ",", -1);
      for (char **item = items; *item != NULL; item++)
        {
          if (g_str_has_prefix (*item, "off"))
            {
              state = OPTION_OFF;
              *word = *w;
            }
          else if (g_str_equal (*item, "on"))
            {
              state = OPTION_ON;
            }
        }
    }
  return state;
}

/* The first word that starts with @prefix, or NULL. */
static const char *
cmdline_word (const HostInfo *info, const char *prefix)
{
  for (char **w = info->cmdline; w != NULL && *w != NULL; w++)
    if (g_str_has_prefix (*w, prefix))
      return *w;
  return NULL;
}

/* How to change the kernel command line with the common boot loaders;
 * which one a host uses is not visible from /proc, so name them all. */
static char *
cmdline_howto (gboolean add, const char *option)
{
  return g_strdup_printf (
      "%s %s %s the kernel command line: edit GRUB_CMDLINE_LINUX in "
      "/etc/default/grub, then run update-grub (Debian, Ubuntu) or "
      "grub2-mkconfig -o /boot/grub2/grub.cfg (Fedora, RHEL, SUSE), or run "
      "grubby --update-kernel=ALL --%s=%s; with systemd-boot edit the "
      "options line of /boot/loader/entries/*.conf (Pop!_OS: kernelstub %s "
      "%s); then reboot",
      add ? "add" : "remove", option, add ? "to" : "from",
      add ? "args" : "remove-args", option, add ? "-a" : "-d", option);
}

/* GCompareFunc for a GPtrArray of strings. */
static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

static guint
count_entries (const char *path, char **names)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (g_free);
  guint n = 0;
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      if (names != NULL && n < 8)
        g_ptr_array_add (list, g_strdup (name));
      n++;
    }
  if (names != NULL)
    {
      g_ptr_array_sort (list, compare_strings);
      g_ptr_array_add (list, NULL);
      *names = g_strjoinv (", ", (char **) list->pdata);
      if (n > 8)
        {
          char *longer = g_strconcat (*names, ", ...", NULL);
          g_free (*names);
          *names = longer;
        }
    }
  return n;
}

static gboolean
path_is_dir (const char *path)
{
  return g_file_test (path, G_FILE_TEST_IS_DIR);
}

static char *
dev_path (const HostInfo *info, const char *name)
{
  return g_build_filename (info->dev_dir, name, NULL);
}

/* ---- architecture ---- */

/* Architectures with KVM and VFIO upstream: passthrough can work, but the
 * AI-HOW tooling this validation serves supports x86_64 only. */
static const char *const vfio_architectures[] = {
  "aarch64", "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64", NULL,
};

static void
check_architecture (const HostInfo *info, GPtrArray *out)
{
  if (g_str_equal (info->machine, "x86_64"))
    pp_checks_add (out, SUBJECT, "architecture", PP_SEVERITY_PASS,
                   "x86_64: PCI passthrough with KVM and VFIO is supported",
                   NULL);
  else if (g_strv_contains (vfio_architectures, info->machine))
    pp_checks_take (
        out, SUBJECT, "architecture", PP_SEVERITY_WARN,
        g_strdup_printf ("%s: the kernel supports VFIO here, but AI-HOW "
                         "clusters and their VM images are built for x86_64 "
                         "only",
                         info->machine),
        g_strdup ("run AI-HOW clusters on an x86_64 host; for other VMs "
                  "here, make sure the platform's IOMMU (Arm: SMMUv3) is "
                  "enabled in the firmware"));
  else
    pp_checks_take (
        out, SUBJECT, "architecture", PP_SEVERITY_FAIL,
        g_strdup_printf ("%s: not an architecture on which pcipassd and "
                         "AI-HOW support PCI passthrough (x86_64; VFIO also "
                         "works on aarch64, ppc64le and s390x)",
                         *info->machine ? info->machine : "unknown"),
        g_strdup ("use an x86_64 host (uname -m must print x86_64: a "
                  "64-bit kernel on a 64-bit CPU)"));
}

/* ---- KVM ---- */

/* vmx or svm among the CPU flags; FALSE with *known FALSE when cpuinfo
 * cannot tell (unreadable, or not x86). */
static gboolean
cpu_has_virtualization (const HostInfo *info,
                        gboolean *known,
                        const char **flag)
{
  g_autofree char *flags = cpuinfo_field (info->cpuinfo, "flags");
  g_auto (GStrv) words = NULL;

  *known = is_x86 (info) && info->cpuinfo != NULL;
  *flag = NULL;
  if (!*known || flags == NULL)
    return FALSE;
  words = g_strsplit (flags, " ", -1);
  if (g_strv_contains ((const char *const *) words, "vmx"))
    *flag = "vmx";
  else if (g_strv_contains ((const char *const *) words, "svm"))
    *flag = "svm";
  return *flag != NULL;
}

static const char *
firmware_virtualization_remedy (const HostInfo *info)
{
  switch (info->vendor)
    {
      case CPU_INTEL:
        return "enable Intel Virtualization Technology (VT-x) in the "
               "firmware setup; inside a VM, give it nested virtualization "
               "(on its host: kvm_intel nested=1 and CPU mode "
               "host-passthrough)";
      case CPU_AMD:
        return "enable SVM Mode (AMD-V) in the firmware setup; inside a VM, "
               "give it nested virtualization (on its host: kvm_amd "
               "nested=1 and CPU mode host-passthrough)";
      case CPU_UNKNOWN:
      default:
        return "enable hardware virtualization (Intel VT-x or AMD-V/SVM) in "
               "the firmware setup";
    }
}

static const char *
kvm_module (const HostInfo *info)
{
  switch (info->vendor)
    {
      case CPU_INTEL:
        return "kvm_intel";
      case CPU_AMD:
        return "kvm_amd";
      case CPU_UNKNOWN:
      default:
        return is_x86 (info) ? "kvm_intel (Intel) or kvm_amd (AMD)" : "kvm";
    }
}

/* Opening /dev/kvm is what a VMM does first: the one test that counts.
 * Sets @saved_errno on failure. */
static gboolean
kvm_opens (const HostInfo *info, int *saved_errno)
{
  g_autofree char *path = dev_path (info, "kvm");
  int fd = open (path, O_RDWR | O_CLOEXEC);

  if (fd < 0)
    {
      *saved_errno = errno;
      return FALSE;
    }
  close (fd);
  return TRUE;
}

static void
check_kvm (const HostInfo *info, GPtrArray *out)
{
  g_autofree char *path = dev_path (info, "kvm");
  gboolean known;
  const char *flag;
  gboolean has_flag = cpu_has_virtualization (info, &known, &flag);
  int saved = 0;

  if (kvm_opens (info, &saved))
    {
      pp_checks_take (
          out, SUBJECT, "kvm", PP_SEVERITY_PASS,
          g_strdup_printf ("%s opens for reading and writing", path), NULL);
      return;
    }

  if (saved == EACCES || saved == EPERM)
    pp_checks_take (
        out, SUBJECT, "kvm", PP_SEVERITY_FAIL,
        g_strdup_printf ("%s exists but cannot be opened: %s", path,
                         g_strerror (saved)),
        g_strdup_printf ("give it the usual owner and mode: chgrp kvm %s && "
                         "chmod 0660 %s (systemd's udev rules do this; check "
                         "/etc/udev/rules.d for a rule that changes it)",
                         path, path));
  else if (known && !has_flag)
    pp_checks_take (out, SUBJECT, "kvm", PP_SEVERITY_FAIL,
                    g_strdup_printf ("%s: %s; the CPU does not offer hardware "
                                     "virtualization (see cpu-virtualization)",
                                     path, g_strerror (saved)),
                    g_strdup_printf ("%s, then run modprobe %s",
                                     firmware_virtualization_remedy (info),
                                     kvm_module (info)));
  else
    pp_checks_take (
        out, SUBJECT, "kvm", PP_SEVERITY_FAIL,
        g_strdup_printf ("%s: %s: KVM is not loaded", path, g_strerror (saved)),
        g_strdup_printf ("run modprobe %s (it loads kvm as well); if it "
                         "fails, dmesg tells why (\"disabled by bios\": %s)",
                         kvm_module (info),
                         firmware_virtualization_remedy (info)));
}

static void
check_cpu_virtualization (const HostInfo *info, GPtrArray *out)
{
  gboolean known;
  const char *flag;
  int saved = 0;
  g_autofree char *cpuinfo_path
      = g_build_filename (info->proc_dir, "cpuinfo", NULL);

  if (cpu_has_virtualization (info, &known, &flag))
    {
      pp_checks_take (
          out, SUBJECT, "cpu-virtualization", PP_SEVERITY_PASS,
          g_strdup_printf ("the CPU has %s (%s)", flag,
                           g_str_equal (flag, "vmx") ? "Intel VT-x" : "AMD-V"),
          NULL);
      return;
    }
  if (!is_x86 (info))
    pp_checks_take (out, SUBJECT, "cpu-virtualization", PP_SEVERITY_SKIP,
                    g_strdup_printf ("%s CPUs have no vmx/svm flag; the kvm "
                                     "check decides",
                                     *info->machine ? info->machine : "these"),
                    NULL);
  else if (!known)
    pp_checks_take (out, SUBJECT, "cpu-virtualization", PP_SEVERITY_SKIP,
                    g_strdup_printf ("cannot read %s", cpuinfo_path), NULL);
  else if (kvm_opens (info, &saved))
    /* KVM without VT-x or AMD-V: kvm_pvm, or a hypervisor that hides the
     * flags.  Guests run, slowly and without the hardware assists that
     * device assignment is usually paired with. */
    pp_checks_take (
        out, SUBJECT, "cpu-virtualization", PP_SEVERITY_WARN,
        g_strdup_printf ("no vmx or svm flag in %s, yet /dev/kvm works: KVM "
                         "runs without hardware virtualization (kvm_pvm, or "
                         "a hypervisor that hides the flags)",
                         cpuinfo_path),
        g_strdup (firmware_virtualization_remedy (info)));
  else
    pp_checks_take (out, SUBJECT, "cpu-virtualization", PP_SEVERITY_FAIL,
                    g_strdup_printf ("no vmx or svm flag in %s: hardware "
                                     "virtualization is off or absent",
                                     cpuinfo_path),
                    g_strdup (firmware_virtualization_remedy (info)));
}

/* ---- IOMMU ---- */

static gboolean
iommu_enabled (guint *n_units, char **units, guint *n_groups)
{
  *n_units = count_entries (SYS_CLASS_IOMMU, units);
  *n_groups = count_entries (SYS_IOMMU_GROUPS, NULL);
  return *n_units > 0 && *n_groups > 0;
}

/* The command line says why the IOMMU is off, or what to add; it never
 * decides whether it is on (VT-d may be on by default, AMD-Vi always
 * is, and iommu=pt alone enables nothing). */
static char *
iommu_remedy (const HostInfo *info)
{
  const char *intel_word = NULL;
  const char *amd_word = NULL;
  OptionState intel = iommu_option (info, "intel_iommu", &intel_word);
  OptionState amd = iommu_option (info, "amd_iommu", &amd_word);

  if (intel == OPTION_OFF)
    return cmdline_howto (FALSE, intel_word);
  if (amd == OPTION_OFF)
    return cmdline_howto (FALSE, amd_word);
  if (g_strcmp0 (cmdline_value (info, "iommu"), "off") == 0)
    return cmdline_howto (FALSE, "iommu=off");

  switch (info->vendor)
    {
      case CPU_INTEL:
        if (intel == OPTION_ON)
          return g_strdup ("enable VT-d (Intel Virtualization Technology "
                           "for Directed I/O) in the firmware setup, then "
                           "reboot: the kernel already has intel_iommu=on, "
                           "so the firmware has VT-d off or no DMAR table");
        {
          g_autofree char *howto = cmdline_howto (TRUE, "intel_iommu=on");
          return g_strconcat ("enable VT-d in the firmware setup if it is "
                              "off, and ",
                              howto, NULL);
        }
      case CPU_AMD:
        /* The kernel has no amd_iommu=on (it logs "Unknown option"):
         * AMD-Vi comes up whenever the firmware describes it. */
        return g_strdup ("enable the IOMMU (\"IOMMU\" or \"AMD-Vi\", often "
                         "under the chipset or NBIO settings) in the "
                         "firmware setup, then reboot; AMD-Vi needs no "
                         "kernel option (amd_iommu=on from older guides does "
                         "nothing)");
      case CPU_UNKNOWN:
      default:
        if (is_x86 (info))
          {
            g_autofree char *howto = cmdline_howto (TRUE, "intel_iommu=on");
            return g_strconcat ("enable VT-d (Intel) or the IOMMU/AMD-Vi "
                                "(AMD) in the firmware setup; on Intel also ",
                                howto, NULL);
          }
        return g_strdup ("enable the platform's IOMMU in the firmware setup "
                         "(Arm: the SMMU, described by the ACPI IORT table or "
                         "the device tree) and make sure the kernel has its "
                         "driver (arm-smmu-v3), then reboot");
    }
}

static void
check_iommu (const HostInfo *info, GPtrArray *out)
{
  g_autofree char *units = NULL;
  guint n_units;
  guint n_groups;

  if (iommu_enabled (&n_units, &units, &n_groups))
    {
      pp_checks_take (out, SUBJECT, "iommu", PP_SEVERITY_PASS,
                      g_strdup_printf ("%u IOMMU unit%s (%s), %u IOMMU "
                                       "group%s",
                                       n_units, n_units == 1 ? "" : "s", units,
                                       n_groups, n_groups == 1 ? "" : "s"),
                      NULL);
      return;
    }

  pp_checks_take (
      out, SUBJECT, "iommu", PP_SEVERITY_FAIL,
      g_strdup_printf ("the IOMMU is off: %s and %s",
                       n_units == 0 ? SYS_CLASS_IOMMU " lists no IOMMU unit"
                                    : SYS_CLASS_IOMMU " lists IOMMU units",
                       n_groups == 0 ? SYS_IOMMU_GROUPS " has no group"
                                     : SYS_IOMMU_GROUPS " has groups"),
      iommu_remedy (info));
}

static void
check_acs_override (const HostInfo *info, GPtrArray *out)
{
  const char *word = cmdline_word (info, "pcie_acs_override=");

  if (info->cmdline == NULL)
    {
      pp_checks_add (out, SUBJECT, "acs-override", PP_SEVERITY_SKIP,
                     "cannot read the kernel command line", NULL);
      return;
    }
  if (word == NULL)
    {
      pp_checks_add (out, SUBJECT, "acs-override", PP_SEVERITY_PASS,
                     "no pcie_acs_override= on the kernel command line: IOMMU "
                     "groups are what the hardware isolates",
                     NULL);
      return;
    }
  pp_checks_take (
      out, SUBJECT, "acs-override", PP_SEVERITY_WARN,
      g_strdup_printf ("%s is on the kernel command line: an out-of-tree "
                       "patch that splits IOMMU groups the hardware cannot "
                       "isolate, so a VM may reach devices outside its group",
                       word),
      cmdline_howto (FALSE, word));
}

/* ---- VFIO ---- */

static void
check_vfio_pci (const HostInfo *info, GPtrArray *out)
{
  if (path_is_dir (SYS_VFIO_PCI))
    {
      pp_checks_add (
          out, SUBJECT, "vfio-pci", PP_SEVERITY_PASS,
          "vfio-pci is registered with the PCI bus (" SYS_VFIO_PCI ")", NULL);
      return;
    }
  pp_checks_add (out, SUBJECT, "vfio-pci", PP_SEVERITY_FAIL,
                 "vfio-pci is not registered: no " SYS_VFIO_PCI,
                 "run modprobe vfio-pci; to load it at every boot: echo "
                 "vfio-pci > /etc/modules-load.d/vfio-pci.conf");
}

static void
check_vfio_iommu_backend (const HostInfo *info, GPtrArray *out)
{
  g_autofree char *dev_iommu = dev_path (info, "iommu");
  gboolean type1 = path_is_dir (SYS_MODULE "/vfio_iommu_type1");
  gboolean iommufd = path_is_dir (SYS_MODULE "/iommufd")
                     || g_file_test (dev_iommu, G_FILE_TEST_EXISTS);

  if (type1 || iommufd)
    {
      pp_checks_take (out, SUBJECT, "vfio-iommu-backend", PP_SEVERITY_PASS,
                      g_strdup_printf ("%s%s%s",
                                       type1 ? "vfio_iommu_type1" : "",
                                       type1 && iommufd ? " and " : "",
                                       iommufd ? "iommufd" : ""),
                      NULL);
      return;
    }
  pp_checks_add (out, SUBJECT, "vfio-iommu-backend", PP_SEVERITY_FAIL,
                 "neither vfio_iommu_type1 nor iommufd is present: VFIO "
                 "cannot map guest memory for DMA",
                 "run modprobe vfio_iommu_type1 (or modprobe iommufd on "
                 "kernels built with CONFIG_IOMMUFD); to load it at every "
                 "boot: echo vfio_iommu_type1 > "
                 "/etc/modules-load.d/vfio.conf");
}

/* "crw-rw-rw-", as ls shows it. */
static char *
format_mode (mode_t mode)
{
  char text[11];

  text[0] = S_ISCHR (mode) ? 'c' : S_ISDIR (mode) ? 'd' : '-';
  for (int i = 0; i < 9; i++)
    text[1 + i] = (mode & (1u << (8 - i))) ? "rwx"[i % 3] : '-';
  text[10] = '\0';
  return g_strdup (text);
}

static void
check_vfio_container (const HostInfo *info, GPtrArray *out)
{
  g_autofree char *path = dev_path (info, "vfio/vfio");
  g_autofree char *dev_iommu = dev_path (info, "iommu");
  g_autofree char *mode = NULL;
  struct stat st;

  if (stat (path, &st) == 0)
    {
      mode = format_mode (st.st_mode);
      /* The kernel makes the container node 0666: it grants nothing by
       * itself, the group nodes do.  A VMM that runs as its own user
       * (libvirt's qemu) needs it so. */
      if ((st.st_mode & 0666) == 0666)
        pp_checks_take (out, SUBJECT, "vfio-container", PP_SEVERITY_PASS,
                        g_strdup_printf ("%s exists, mode %04o (%s)", path,
                                         (guint) (st.st_mode & 07777), mode),
                        NULL);
      else
        pp_checks_take (
            out, SUBJECT, "vfio-container", PP_SEVERITY_WARN,
            g_strdup_printf ("%s has mode %04o (%s): a VMM running as an "
                             "unprivileged user (libvirt's qemu) cannot open "
                             "it",
                             path, (guint) (st.st_mode & 07777), mode),
            g_strdup_printf ("run chmod 0666 %s (the kernel creates it so; "
                             "look for a udev rule in /etc/udev/rules.d "
                             "that changes it)",
                             path));
      return;
    }

  if (g_file_test (dev_iommu, G_FILE_TEST_EXISTS))
    pp_checks_take (
        out, SUBJECT, "vfio-container", PP_SEVERITY_WARN,
        g_strdup_printf ("no %s: only VMMs that use iommufd (%s) and the "
                         "VFIO device nodes under /dev/vfio/devices can "
                         "use passthrough",
                         path, dev_iommu),
        g_strdup ("run modprobe vfio_iommu_type1 for the legacy container "
                  "(kernels with CONFIG_VFIO_CONTAINER), or use a VMM with "
                  "iommufd support (QEMU 8.2 or later, -object iommufd)"));
  else
    pp_checks_take (
        out, SUBJECT, "vfio-container", PP_SEVERITY_FAIL,
        g_strdup_printf ("no %s: the VFIO core is not loaded", path),
        g_strdup ("run modprobe vfio vfio_iommu_type1 (the kernel "
                  "then creates /dev/vfio/vfio)"));
}

static void
check_vfio_noiommu (const HostInfo *info, GPtrArray *out)
{
  g_autofree char *value = NULL;

  if (!g_file_get_contents (SYS_NOIOMMU, &value, NULL, NULL))
    {
      pp_checks_add (
          out, SUBJECT, "vfio-noiommu", PP_SEVERITY_PASS,
          "vfio's unsafe no-IOMMU mode is not available (no " SYS_NOIOMMU ")",
          NULL);
      return;
    }
  g_strstrip (value);
  if (g_str_equal (value, "Y") || g_str_equal (value, "1"))
    pp_checks_add (
        out, SUBJECT, "vfio-noiommu", PP_SEVERITY_WARN,
        "vfio's enable_unsafe_noiommu_mode is on: devices can be given to "
        "userspace without an IOMMU, which lets them DMA anywhere in host "
        "memory",
        "run echo N > " SYS_NOIOMMU " (it refuses while a noiommu group is "
        "open), and remove vfio.enable_unsafe_noiommu_mode=1 from the "
        "kernel command line and from /etc/modprobe.d/*.conf");
  else
    pp_checks_add (out, SUBJECT, "vfio-noiommu", PP_SEVERITY_PASS,
                   "vfio's unsafe no-IOMMU mode is off", NULL);
}

/* ---- hugepages ---- */

static guint64
meminfo_hugepages_total (const HostInfo *info)
{
  g_autofree char *path = g_build_filename (info->proc_dir, "meminfo", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *value = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return 0;
  value = cpuinfo_field (contents, "HugePages_Total");
  return value != NULL ? g_ascii_strtoull (value, NULL, 10) : 0;
}

static void
check_hugepages (const HostInfo *info, GPtrArray *out)
{
  g_autoptr (GDir) dir = g_dir_open (SYS_HUGEPAGES, 0, NULL);
  g_autoptr (GPtrArray) sizes = g_ptr_array_new_with_free_func (g_free);
  guint64 total = meminfo_hugepages_total (info);
  const char *name;

  /* HugePages_Total counts the default size only; 1 GiB pages reserved
   * next to 2 MiB ones show up in sysfs alone. */
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path
          = g_build_filename (SYS_HUGEPAGES, name, "nr_hugepages", NULL);
      g_autofree char *value = NULL;
      guint64 n;

      if (!g_file_get_contents (path, &value, NULL, NULL))
        continue;
      n = g_ascii_strtoull (value, NULL, 10);
      if (n > 0)
        g_ptr_array_add (
            sizes, g_strdup_printf ("%" G_GUINT64_FORMAT " in %s", n, name));
    }

  if (sizes->len > 0 || total > 0)
    {
      g_autofree char *list = NULL;

      g_ptr_array_sort (sizes, compare_strings);
      g_ptr_array_add (sizes, NULL);
      list = g_strjoinv (", ", (char **) sizes->pdata);
      pp_checks_take (
          out, SUBJECT, "hugepages", PP_SEVERITY_PASS,
          *list != '\0' ? g_strdup_printf ("huge pages reserved: %s", list)
                        : g_strdup_printf (
                            "%" G_GUINT64_FORMAT " huge pages reserved", total),
          NULL);
      return;
    }

  pp_checks_add (
      out, SUBJECT, "hugepages", PP_SEVERITY_WARN,
      "no huge pages are reserved: guest memory is backed by 4 KiB pages "
      "(transparent huge pages at best), which costs GPU and network "
      "throughput",
      "reserve them for the guests' memory: sysctl -w vm.nr_hugepages=N "
      "(2 MiB pages; keep it in /etc/sysctl.d/80-hugepages.conf), or add "
      "default_hugepagesz=1G hugepagesz=1G hugepages=N to the kernel "
      "command line (/etc/default/grub, then update-grub or grub2-mkconfig "
      "and reboot); size N to the VMs' memory");
}

/* ---- entry points ---- */

/* Which checks each manager property stands for. */
static const char *const iommu_checks[] = { "iommu", NULL };
static const char *const vfio_checks[] = {
  "vfio-pci",
  "vfio-iommu-backend",
  "vfio-container",
  NULL,
};
static const char *const kvm_checks[] = { "kvm", "cpu-virtualization", NULL };

static gboolean
none_failed (GPtrArray *results, const char *const *checks)
{
  for (guint i = 0; i < results->len; i++)
    {
      const PpCheck *c = g_ptr_array_index (results, i);

      if (c->severity == PP_SEVERITY_FAIL && g_strv_contains (checks, c->check))
        return FALSE;
    }
  return TRUE;
}

void
pp_hostcheck_summarize (GPtrArray *results,
                        gboolean *iommu_enabled,
                        gboolean *vfio_available,
                        gboolean *kvm_available)
{
  g_return_if_fail (results != NULL);

  if (iommu_enabled != NULL)
    *iommu_enabled = none_failed (results, iommu_checks);
  if (vfio_available != NULL)
    *vfio_available = none_failed (results, vfio_checks);
  if (kvm_available != NULL)
    *kvm_available = none_failed (results, kvm_checks);
}

GPtrArray *
pp_hostcheck_run (const PpHostPaths *paths)
{
  g_auto (HostInfo) info = { 0 };
  GPtrArray *out = pp_checks_new ();

  host_info_load (&info, paths);
  check_architecture (&info, out);
  check_kvm (&info, out);
  check_cpu_virtualization (&info, out);
  check_iommu (&info, out);
  check_acs_override (&info, out);
  check_vfio_pci (&info, out);
  check_vfio_iommu_backend (&info, out);
  check_vfio_container (&info, out);
  check_vfio_noiommu (&info, out);
  check_hugepages (&info, out);
  return out;
}
