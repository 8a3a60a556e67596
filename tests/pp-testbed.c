/* Simulated PCI hosts for the test rig: see pp-testbed.h for the format. */

#include "pp-testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#ifndef PP_FIXTURES_DIR
#error "PP_FIXTURES_DIR must be defined to the fixtures directory"
#endif

#define HOST_GROUP "host"
/* VMD domains start here (drivers/pci/controller/vmd.c). */
#define VMD_DOMAIN_BASE 0x10000u
#define MAX_DOMAIN 0xfffffu
#define CONFIG_HEADER_SIZE 64
/* MINORBITS and the 12 bits left for the major (include/linux/kdev_t.h). */
#define MAX_MAJOR 4095
#define MAX_MINOR 1048575
/* DISK_NAME_LEN and IFNAMSIZ, both counting the terminating NUL. */
#define MAX_DISK_NAME 31
#define MAX_IFNAME 15
/* The VFIO group node's major is dynamic; this is a typical one.  Its
 * minor is the group number, so that two groups never share one. */
#define VFIO_GROUP_MAJOR 243

static const char *const device_keys[] = {
  "parent",       "vendor",          "device",
  "class",        "revision",        "subsystem",
  "driver",       "driver_override", "iommu_group",
  "numa_node",    "boot_vga",        "reset_method",
  "physfn",       "vf_index",        "sriov_totalvfs",
  "sriov_numvfs", "block",           "net",
  NULL,
};

static const char *const host_keys[] = {
  "drivers", "iommu",          "mounts", "default_route", "stacked", "lowers",
  "bridges", "default_route6", NULL,
};

/* The kernel's list in pci_reset_fn_methods[] (drivers/pci/pci.c). */
static const char *const reset_methods[] = {
  "device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus", NULL,
};

typedef struct
{
  char *name; /* "nvme0n1" */
  guint major;
  guint minor;
} BlockDev;

static void
block_dev_free (BlockDev *b)
{
  g_free (b->name);
  g_free (b);
}

typedef struct
{
  guint major;
  guint minor;
  char *mountpoint;
} Mount;

static void
mount_free (Mount *m)
{
  g_free (m->mountpoint);
  g_free (m);
}

/* A device stacked on others: a dm or md disk on its slaves, a bond or
 * VLAN on its lower interfaces, a bridge on its ports. */
typedef struct
{
  char *name;
  guint major; /* disks only */
  guint minor;
  GStrv below;
} Stacked;

static void
stacked_free (Stacked *st)
{
  g_free (st->name);
  g_strfreev (st->below);
  g_free (st);
}

typedef enum
{
  MARK_NONE,
  MARK_VISITING,
  MARK_DONE,
} Mark;

typedef struct
{
  char *address; /* canonical, also the group name */
  guint32 domain;
  guint bus;
  guint slot;
  guint function;

  char *parent; /* canonical address or NULL */
  char *physfn; /* canonical address or NULL */
  int vf_index;

  guint32 vendor;
  guint32 device;
  guint32 subsystem_vendor;
  guint32 subsystem_device;
  guint32 revision;
  guint32 class_code;

  char *driver;
  char *driver_override;
  gint64 iommu_group; /* -1: none */
  gint64 numa_node;
  gint64 boot_vga;       /* -1: no file */
  char *reset_method;    /* NULL: no file */
  gint64 sriov_totalvfs; /* -1: not a PF */
  gint64 sriov_numvfs;
  GPtrArray *blocks; /* BlockDev, children of this function */
  GPtrArray *nets;   /* interface names */

  /* Derived from the whole file. */
  char *devdir;       /* relative to sys/, "devices/pci0000:00/0000:00:01.0" */
  GPtrArray *virtfns; /* PF only: Device per vf_index, not owned */
  guint secondary_bus;
  guint subordinate_bus;
  gboolean multifunction;
  Mark mark;
} Device;

static void
device_free (Device *d)
{
  g_free (d->address);
  g_free (d->parent);
  g_free (d->physfn);
  g_free (d->driver);
  g_free (d->driver_override);
  g_free (d->reset_method);
  g_free (d->devdir);
  g_clear_pointer (&d->virtfns, g_ptr_array_unref);
  g_clear_pointer (&d->blocks, g_ptr_array_unref);
  g_clear_pointer (&d->nets, g_ptr_array_unref);
  g_free (d);
}

typedef struct
{
  char *source;
  GKeyFile *keyfile;
  GHashTable *devices; /* address -> Device, owned */
  GPtrArray *listed;   /* Device in file order */
  GPtrArray *order;    /* Device, every one after its parent and PF */
  GHashTable *drivers; /* set of driver names to register */
  GPtrArray *iommus;   /* IOMMU unit names */
  GPtrArray *mounts;   /* Mount; NULL: no mounts key, no mountinfo file */
  GPtrArray *routes;   /* interface names; NULL: no default_route key */
  GPtrArray *routes6;  /* interface names; NULL: no default_route6 key */
  GPtrArray *stacked;  /* Stacked disks */
  GPtrArray *lowers;   /* Stacked interfaces with lower_* links */
  GPtrArray *bridges;  /* Stacked interfaces with brif/ */
  gboolean quiet;      /* no "add" uevents for PCI functions */
} Loader;

static void
loader_free (Loader *l)
{
  g_free (l->source);
  g_clear_pointer (&l->keyfile, g_key_file_unref);
  g_clear_pointer (&l->order, g_ptr_array_unref);
  g_clear_pointer (&l->listed, g_ptr_array_unref);
  g_clear_pointer (&l->devices, g_hash_table_unref);
  g_clear_pointer (&l->drivers, g_hash_table_unref);
  g_clear_pointer (&l->iommus, g_ptr_array_unref);
  g_clear_pointer (&l->mounts, g_ptr_array_unref);
  g_clear_pointer (&l->routes, g_ptr_array_unref);
  g_clear_pointer (&l->routes6, g_ptr_array_unref);
  g_clear_pointer (&l->stacked, g_ptr_array_unref);
  g_clear_pointer (&l->lowers, g_ptr_array_unref);
  g_clear_pointer (&l->bridges, g_ptr_array_unref);
  g_free (l);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Loader, loader_free)

static Loader *
loader_new (const char *source)
{
  Loader *l = g_new0 (Loader, 1);

  l->source = g_strdup (source);
  l->keyfile = g_key_file_new ();
  l->devices = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                      (GDestroyNotify) device_free);
  l->listed = g_ptr_array_new ();
  l->order = g_ptr_array_new ();
  l->drivers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  l->iommus = g_ptr_array_new_with_free_func (g_free);
  l->stacked = g_ptr_array_new_with_free_func ((GDestroyNotify) stacked_free);
  l->lowers = g_ptr_array_new_with_free_func ((GDestroyNotify) stacked_free);
  l->bridges = g_ptr_array_new_with_free_func ((GDestroyNotify) stacked_free);
  return l;
}

static gboolean fixture_error (GError **error,
                               GKeyFileError code,
                               const Loader *l,
                               const char *group,
                               const char *key,
                               const char *format,
                               ...) G_GNUC_PRINTF (6, 7);

/* Every message names the file, then the group, then the key, so that a
 * broken fixture can be fixed without reading this code. */
static gboolean
fixture_error (GError **error,
               GKeyFileError code,
               const Loader *l,
               const char *group,
               const char *key,
               const char *format,
               ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);

  if (group != NULL && key != NULL)
    g_set_error (error, G_KEY_FILE_ERROR, code, "%s: [%s] %s: %s", l->source,
                 group, key, what);
  else if (group != NULL)
    g_set_error (error, G_KEY_FILE_ERROR, code, "%s: [%s]: %s", l->source,
                 group, what);
  else
    g_set_error (error, G_KEY_FILE_ERROR, code, "%s: %s", l->source, what);
  return FALSE;
}

/* GKeyFile has no trailing comments, but fixtures read better with them;
 * no value we accept contains '#'. */
static char *
get_value (GKeyFile *keyfile, const char *group, const char *key)
{
  char *value = g_key_file_get_value (keyfile, group, key, NULL);
  char *p;

  if (value == NULL)
    return NULL;

  for (p = value; *p != '\0'; p++)
    {
      if (*p == '#' && (p == value || g_ascii_isspace (p[-1])))
        {
          *p = '\0';
          break;
        }
    }
  return g_strstrip (value);
}

static gboolean
parse_hex (const char *text, guint max_digits, guint32 *out)
{
  guint32 value = 0;
  guint digits = 0;

  if (g_str_has_prefix (text, "0x") || g_str_has_prefix (text, "0X"))
    text += 2;

  for (; *text != '\0'; text++, digits++)
    {
      int digit = g_ascii_xdigit_value (*text);

      if (digit < 0 || digits == max_digits)
        return FALSE;
      value = value * 16 + (guint32) digit;
    }

  if (digits == 0)
    return FALSE;
  *out = value;
  return TRUE;
}

/* Not g_ascii_string_to_signed(): its first call sets up a C locale under
 * a GLib mutex, and when umockdev's threads contend for that mutex the
 * futex's EAGAIN leaks into errno, which it then reports as a bad number
 * (seen here about once in 600 runs). */
static gboolean
parse_decimal (const char *text, gint64 min, gint64 max, gint64 *out)
{
  gboolean negative = FALSE;
  gint64 value = 0;
  guint digits = 0;

  if (*text == '-')
    {
      negative = TRUE;
      text++;
    }

  /* 18 digits cannot overflow a gint64. */
  for (; *text != '\0'; text++, digits++)
    {
      if (!g_ascii_isdigit (*text) || digits == 18)
        return FALSE;
      value = value * 10 + (*text - '0');
    }

  if (digits == 0)
    return FALSE;
  if (negative)
    value = -value;
  if (value < min || value > max)
    return FALSE;
  *out = value;
  return TRUE;
}

/* "DDDD:BB:SS.F" with a 4- or 5-digit domain, any case. */
static gboolean
parse_address (const char *text, Device *out)
{
  g_auto (GStrv) parts = g_strsplit_set (text, ":.", -1);
  guint32 domain;
  guint32 bus;
  guint32 slot;
  guint32 function;
  gsize domain_len;

  if (g_strv_length (parts) != 4)
    return FALSE;
  /* The separators must be exactly ':' ':' '.' in that order. */
  domain_len = strlen (parts[0]);
  if (text[domain_len] != ':' || text[domain_len + 3] != ':'
      || text[domain_len + 6] != '.')
    return FALSE;
  if (domain_len < 4 || domain_len > 5 || strlen (parts[1]) != 2
      || strlen (parts[2]) != 2 || strlen (parts[3]) != 1)
    return FALSE;
  if (!parse_hex (parts[0], 5, &domain) || !parse_hex (parts[1], 2, &bus)
      || !parse_hex (parts[2], 2, &slot) || !parse_hex (parts[3], 1, &function))
    return FALSE;
  if (domain > MAX_DOMAIN || slot > 0x1f || function > 7)
    return FALSE;

  out->domain = domain;
  out->bus = bus;
  out->slot = slot;
  out->function = function;
  return TRUE;
}

static char *
format_address (const Device *d)
{
  return g_strdup_printf ("%04x:%02x:%02x.%x", d->domain, d->bus, d->slot,
                          d->function);
}

/* Driver names end up in paths, so keep them to what the kernel uses. */
static gboolean
is_valid_name (const char *name)
{
  const char *p;

  if (*name == '\0' || strlen (name) > 64 || g_str_equal (name, ".")
      || g_str_equal (name, ".."))
    return FALSE;
  for (p = name; *p != '\0'; p++)
    {
      if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
        return FALSE;
    }
  return TRUE;
}

static gboolean
read_hex (const Loader *l,
          const char *group,
          const char *key,
          gboolean required,
          guint max_digits,
          guint32 fallback,
          guint32 *out,
          GError **error)
{
  g_autofree char *value = get_value (l->keyfile, group, key);

  if (value == NULL)
    {
      if (required)
        return fixture_error (error, G_KEY_FILE_ERROR_KEY_NOT_FOUND, l, group,
                              key, "required key is missing");
      *out = fallback;
      return TRUE;
    }

  if (!parse_hex (value, max_digits, out))
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group, key,
                          "\"%s\" is not a hex number of at most %u digits",
                          value, max_digits);
  return TRUE;
}

static gboolean
read_int (const Loader *l,
          const char *group,
          const char *key,
          gint64 min,
          gint64 max,
          gint64 fallback,
          gint64 *out,
          GError **error)
{
  g_autofree char *value = get_value (l->keyfile, group, key);

  if (value == NULL)
    {
      *out = fallback;
      return TRUE;
    }

  if (!parse_decimal (value, min, max, out))
    return fixture_error (
        error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group, key,
        "\"%s\" is not a decimal number from %" G_GINT64_FORMAT
        " to %" G_GINT64_FORMAT,
        value, min, max);
  return TRUE;
}

/* Accepts any spelling of an address and returns the canonical one. */
static gboolean
read_address (const Loader *l,
              const char *group,
              const char *key,
              char **out,
              GError **error)
{
  g_autofree char *value = get_value (l->keyfile, group, key);
  Device parsed = { 0 };

  if (value == NULL)
    {
      *out = NULL;
      return TRUE;
    }
  if (!parse_address (value, &parsed))
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group, key,
                          "\"%s\" is not a PCI address (DDDD:BB:SS.F)", value);
  *out = format_address (&parsed);
  return TRUE;
}

static gboolean
read_name (const Loader *l,
           const char *group,
           const char *key,
           char **out,
           GError **error)
{
  g_autofree char *value = get_value (l->keyfile, group, key);

  if (value != NULL && !is_valid_name (value))
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group, key,
                          "\"%s\" is not a driver name (letters, digits, "
                          "'_', '-', '.')",
                          value);
  *out = g_steal_pointer (&value);
  return TRUE;
}

static gboolean
check_keys (const Loader *l,
            const char *group,
            const char *const *known,
            GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (l->keyfile, group, NULL, NULL);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      if (!g_strv_contains (known, keys[i]))
        {
          g_autofree char *list = g_strjoinv (", ", (char **) known);

          return fixture_error (error, G_KEY_FILE_ERROR_PARSE, l, group,
                                keys[i], "unknown key (known keys: %s)", list);
        }
    }
  return TRUE;
}

/* Splits a ';' list; blanks are skipped so a trailing ';' is harmless. */
static GStrv
split_list (const char *value)
{
  g_auto (GStrv) items = g_strsplit (value, ";", -1);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; items[i] != NULL; i++)
    {
      char *item = g_strstrip (items[i]);

      if (*item != '\0')
        g_ptr_array_add (out, g_strdup (item));
    }
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (out, FALSE);
}

/* A ';' list of names of at most @max_length characters, for drivers,
 * IOMMU units and network interfaces. */
static gboolean
read_name_list (const Loader *l,
                const char *group,
                const char *key,
                gsize max_length,
                GPtrArray *out,
                GError **error)
{
  g_autofree char *value = get_value (l->keyfile, group, key);
  g_auto (GStrv) items = NULL;

  if (value == NULL)
    return TRUE;

  items = split_list (value);
  for (guint i = 0; items[i] != NULL; i++)
    {
      if (!is_valid_name (items[i]) || strlen (items[i]) > max_length)
        return fixture_error (
            error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group, key,
            "\"%s\" is not a valid name (at most %" G_GSIZE_FORMAT
            " letters, digits, '_', '-', '.')",
            items[i], max_length);
      g_ptr_array_add (out, g_strdup (items[i]));
    }
  return TRUE;
}

/* "MAJ:MIN" in decimal, as the dev attribute and mountinfo spell it. */
static gboolean
parse_devnum (const char *text, guint *major, guint *minor)
{
  const char *colon = strchr (text, ':');
  g_autofree char *major_text = NULL;
  gint64 major_value;
  gint64 minor_value;

  if (colon == NULL)
    return FALSE;
  major_text = g_strndup (text, (gsize) (colon - text));
  if (!parse_decimal (major_text, 0, MAX_MAJOR, &major_value)
      || !parse_decimal (colon + 1, 0, MAX_MINOR, &minor_value))
    return FALSE;
  *major = (guint) major_value;
  *minor = (guint) minor_value;
  return TRUE;
}

/* Splits "WORD REST" at the first blank; REST keeps inner blanks, which a
 * mount point may have. */
static gboolean
split_pair (const char *item, char **first, char **rest)
{
  const char *blank = strpbrk (item, " \t");

  if (blank == NULL)
    return FALSE;
  *first = g_strndup (item, (gsize) (blank - item));
  *rest = g_strstrip (g_strdup (blank));
  return **rest != '\0';
}

static gboolean
parse_mounts (Loader *l, GError **error)
{
  g_autofree char *value = get_value (l->keyfile, HOST_GROUP, "mounts");
  g_auto (GStrv) items = NULL;

  /* Present but empty still writes mountinfo: a host with no disk
   * mounted, instead of this machine's mounts. */
  if (!g_key_file_has_key (l->keyfile, HOST_GROUP, "mounts", NULL))
    return TRUE;

  l->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) mount_free);
  items = split_list (value != NULL ? value : "");
  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autofree char *devnum = NULL;
      g_autofree char *mountpoint = NULL;
      Mount *m = g_new0 (Mount, 1);

      g_ptr_array_add (l->mounts, m);
      if (!split_pair (items[i], &devnum, &mountpoint)
          || !parse_devnum (devnum, &m->major, &m->minor)
          || !g_path_is_absolute (mountpoint))
        return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                              HOST_GROUP, "mounts",
                              "\"%s\" is not MAJ:MIN MOUNTPOINT (e.g. "
                              "\"259:2 /\")",
                              items[i]);
      m->mountpoint = g_steal_pointer (&mountpoint);
    }
  return TRUE;
}

/* "NAME MAJ:MIN BELOW,BELOW" (disks, @with_devnum) or "NAME BELOW,BELOW"
 * (interfaces), ';'-separated. */
static gboolean
parse_stacked (Loader *l,
               const char *key,
               gboolean with_devnum,
               GPtrArray *out,
               GError **error)
{
  g_autofree char *value = get_value (l->keyfile, HOST_GROUP, key);
  g_auto (GStrv) items = split_list (value != NULL ? value : "");

  for (guint i = 0; items[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit_set (items[i], " \t", -1);
      g_autoptr (GPtrArray) words = g_ptr_array_new ();
      Stacked *st = g_new0 (Stacked, 1);
      const char *below;
      gboolean ok;

      g_ptr_array_add (out, st);
      for (char **f = fields; *f != NULL; f++)
        if (**f != '\0')
          g_ptr_array_add (words, *f);
      ok = words->len == (with_devnum ? 3u : 2u)
           && is_valid_name (words->pdata[0])
           && (!with_devnum
               || parse_devnum (words->pdata[1], &st->major, &st->minor));
      if (ok)
        {
          st->name = g_strdup (words->pdata[0]);
          below = words->pdata[words->len - 1];
          st->below = g_strsplit (below, ",", -1);
          for (char **b = st->below; *b != NULL; b++)
            ok = ok && is_valid_name (*b);
        }
      if (!ok)
        return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                              HOST_GROUP, key, "\"%s\" is not %s", items[i],
                              with_devnum ? "NAME MAJ:MIN BELOW[,BELOW]"
                                          : "NAME BELOW[,BELOW]");
    }
  return TRUE;
}

static gboolean
parse_host (Loader *l, GError **error)
{
  g_autoptr (GPtrArray) drivers = g_ptr_array_new_with_free_func (g_free);

  if (!check_keys (l, HOST_GROUP, host_keys, error)
      || !read_name_list (l, HOST_GROUP, "drivers", 64, drivers, error)
      || !read_name_list (l, HOST_GROUP, "iommu", 64, l->iommus, error)
      || !parse_mounts (l, error))
    return FALSE;

  if (g_key_file_has_key (l->keyfile, HOST_GROUP, "default_route", NULL))
    {
      l->routes = g_ptr_array_new_with_free_func (g_free);
      if (!read_name_list (l, HOST_GROUP, "default_route", MAX_IFNAME,
                           l->routes, error))
        return FALSE;
    }

  if (g_key_file_has_key (l->keyfile, HOST_GROUP, "default_route6", NULL))
    {
      l->routes6 = g_ptr_array_new_with_free_func (g_free);
      if (!read_name_list (l, HOST_GROUP, "default_route6", MAX_IFNAME,
                           l->routes6, error))
        return FALSE;
      /* Without it the host's IPv4 routes would show through. */
      if (l->routes == NULL)
        l->routes = g_ptr_array_new_with_free_func (g_free);
    }

  if (!parse_stacked (l, "stacked", TRUE, l->stacked, error)
      || !parse_stacked (l, "lowers", FALSE, l->lowers, error)
      || !parse_stacked (l, "bridges", FALSE, l->bridges, error))
    return FALSE;

  for (guint i = 0; i < drivers->len; i++)
    g_hash_table_add (l->drivers, g_strdup (drivers->pdata[i]));
  return TRUE;
}

/* block=NAME MAJ:MIN[;NAME MAJ:MIN...] */
static gboolean
parse_blocks (const Loader *l, Device *d, GError **error)
{
  g_autofree char *value = get_value (l->keyfile, d->address, "block");
  g_auto (GStrv) items = NULL;

  if (value == NULL)
    return TRUE;

  d->blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) block_dev_free);
  items = split_list (value);
  for (guint i = 0; items[i] != NULL; i++)
    {
      g_autofree char *devnum = NULL;
      BlockDev *b = g_new0 (BlockDev, 1);

      g_ptr_array_add (d->blocks, b);
      if (!split_pair (items[i], &b->name, &devnum)
          || !parse_devnum (devnum, &b->major, &b->minor))
        return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                              d->address, "block",
                              "\"%s\" is not NAME MAJ:MIN (e.g. "
                              "\"nvme0n1 259:0\")",
                              items[i]);
      if (!is_valid_name (b->name) || strlen (b->name) > MAX_DISK_NAME)
        return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                              d->address, "block",
                              "\"%s\" is not a disk name (at most %d "
                              "letters, digits, '_', '-', '.')",
                              b->name, MAX_DISK_NAME);
      /* Major 0 is the unnamed devices' (tmpfs, proc): never a disk. */
      if (b->major == 0)
        return fixture_error (
            error, G_KEY_FILE_ERROR_INVALID_VALUE, l, d->address, "block",
            "%s: major 0 is not a block device major", b->name);
    }
  if (d->blocks->len == 0)
    g_clear_pointer (&d->blocks, g_ptr_array_unref);
  return TRUE;
}

static gboolean
parse_nets (const Loader *l, Device *d, GError **error)
{
  g_autoptr (GPtrArray) nets = g_ptr_array_new_with_free_func (g_free);

  if (!read_name_list (l, d->address, "net", MAX_IFNAME, nets, error))
    return FALSE;
  if (nets->len > 0)
    d->nets = g_steal_pointer (&nets);
  return TRUE;
}

/* Disk names, their numbers and interface names are global. */
static gboolean
check_children (const Loader *l, GError **error)
{
  g_autoptr (GHashTable) names
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (guint i = 0; i < l->listed->len; i++)
    {
      const Device *d = l->listed->pdata[i];

      for (guint n = 0; d->blocks != NULL && n < d->blocks->len; n++)
        {
          const BlockDev *b = d->blocks->pdata[n];
          g_autofree char *name = g_strconcat ("block ", b->name, NULL);
          g_autofree char *devnum
              = g_strdup_printf ("block %u:%u", b->major, b->minor);
          const char *keys[] = { name, devnum };

          for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
            {
              const char *owner = g_hash_table_lookup (names, keys[k]);

              if (owner != NULL)
                return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                                      d->address, "block",
                                      "%s is already used by [%s]",
                                      keys[k] + strlen ("block "), owner);
              g_hash_table_insert (names, g_strdup (keys[k]),
                                   g_strdup (d->address));
            }
        }
      for (guint n = 0; d->nets != NULL && n < d->nets->len; n++)
        {
          g_autofree char *name
              = g_strconcat ("net ", (char *) d->nets->pdata[n], NULL);
          const char *owner = g_hash_table_lookup (names, name);

          if (owner != NULL)
            return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                                  d->address, "net",
                                  "%s is already used by [%s]",
                                  (char *) d->nets->pdata[n], owner);
          g_hash_table_insert (names, g_steal_pointer (&name),
                               g_strdup (d->address));
        }
    }
  return TRUE;
}

static gboolean
parse_reset_method (const Loader *l, Device *d, GError **error)
{
  g_autofree char *value = get_value (l->keyfile, d->address, "reset_method");
  g_auto (GStrv) words = NULL;
  g_autoptr (GString) normalized = g_string_new (NULL);

  if (value == NULL)
    return TRUE;

  /* An empty value is legal: the file exists with resets disabled. */
  words = g_strsplit_set (value, " \t", -1);
  for (guint i = 0; words[i] != NULL; i++)
    {
      if (*words[i] == '\0')
        continue;
      if (!g_strv_contains (reset_methods, words[i]))
        {
          g_autofree char *list = g_strjoinv (" ", (char **) reset_methods);

          return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                                d->address, "reset_method",
                                "unknown method \"%s\" (the kernel knows: %s)",
                                words[i], list);
        }
      if (normalized->len > 0)
        g_string_append_c (normalized, ' ');
      g_string_append (normalized, words[i]);
    }

  d->reset_method = g_string_free (g_steal_pointer (&normalized), FALSE);
  return TRUE;
}

static gboolean
parse_subsystem (const Loader *l, Device *d, GError **error)
{
  g_autofree char *value = get_value (l->keyfile, d->address, "subsystem");
  g_auto (GStrv) parts = NULL;

  if (value == NULL)
    return TRUE;

  parts = g_strsplit (value, ":", -1);
  if (g_strv_length (parts) != 2
      || !parse_hex (parts[0], 4, &d->subsystem_vendor)
      || !parse_hex (parts[1], 4, &d->subsystem_device))
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, d->address,
                          "subsystem", "\"%s\" is not VVVV:DDDD in hex", value);
  return TRUE;
}

static gboolean
parse_device (Loader *l, const char *group, GError **error)
{
  Device *d = g_new0 (Device, 1);
  g_autofree char *canonical = NULL;

  /* Owned by the table from here on, so early returns do not leak it. */
  d->address = g_strdup (group);
  g_hash_table_replace (l->devices, d->address, d);
  g_ptr_array_add (l->listed, d);

  if (!parse_address (group, d))
    return fixture_error (error, G_KEY_FILE_ERROR_PARSE, l, group, NULL,
                          "group name is neither \"" HOST_GROUP
                          "\" nor a PCI address (DDDD:BB:SS.F)");

  /* One spelling only, so that the sysfs names and the links agree. */
  canonical = format_address (d);
  if (!g_str_equal (canonical, group))
    return fixture_error (error, G_KEY_FILE_ERROR_PARSE, l, group, NULL,
                          "write the address as the kernel does: [%s]",
                          canonical);

  if (!check_keys (l, group, device_keys, error)
      || !read_hex (l, group, "vendor", TRUE, 4, 0, &d->vendor, error)
      || !read_hex (l, group, "device", TRUE, 4, 0, &d->device, error)
      || !read_hex (l, group, "class", TRUE, 6, 0, &d->class_code, error)
      || !read_hex (l, group, "revision", FALSE, 2, 0, &d->revision, error)
      || !parse_subsystem (l, d, error)
      || !read_address (l, group, "parent", &d->parent, error)
      || !read_address (l, group, "physfn", &d->physfn, error)
      || !read_name (l, group, "driver", &d->driver, error)
      || !read_name (l, group, "driver_override", &d->driver_override, error)
      || !read_int (l, group, "iommu_group", 0, G_MAXINT, -1, &d->iommu_group,
                    error)
      || !read_int (l, group, "numa_node", -1, 1023, -1, &d->numa_node, error)
      || !read_int (l, group, "boot_vga", 0, 1, -1, &d->boot_vga, error)
      || !parse_reset_method (l, d, error)
      || !read_int (l, group, "sriov_totalvfs", 1, 65535, -1,
                    &d->sriov_totalvfs, error)
      || !read_int (l, group, "sriov_numvfs", 0, 65535, -1, &d->sriov_numvfs,
                    error)
      || !parse_blocks (l, d, error) || !parse_nets (l, d, error))
    return FALSE;

  {
    gint64 vf_index;

    if (!read_int (l, group, "vf_index", 0, 65535, -1, &vf_index, error))
      return FALSE;
    d->vf_index = (int) vf_index;
  }

  if (d->vendor == 0xffff || d->vendor == 0)
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group,
                          "vendor", "0x%04x is not a real vendor ID",
                          d->vendor);

  /* pci-sysfs.c only shows boot_vga on VGA-class devices. */
  if (d->boot_vga >= 0 && (d->class_code >> 8) != 0x0300)
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group,
                          "boot_vga",
                          "only VGA devices (class 0300xx) have boot_vga");

  if ((d->physfn == NULL) != (d->vf_index < 0))
    return fixture_error (error, G_KEY_FILE_ERROR_KEY_NOT_FOUND, l, group,
                          d->physfn == NULL ? "physfn" : "vf_index",
                          "a VF needs both physfn and vf_index");

  if (d->sriov_numvfs >= 0 && d->sriov_totalvfs < 0)
    return fixture_error (error, G_KEY_FILE_ERROR_KEY_NOT_FOUND, l, group,
                          "sriov_totalvfs",
                          "sriov_numvfs needs sriov_totalvfs");
  if (d->sriov_totalvfs >= 0)
    {
      if (d->sriov_numvfs < 0)
        d->sriov_numvfs = 0;
      if (d->sriov_numvfs > d->sriov_totalvfs)
        return fixture_error (
            error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group, "sriov_numvfs",
            "%" G_GINT64_FORMAT
            " is more than sriov_totalvfs (%" G_GINT64_FORMAT ")",
            d->sriov_numvfs, d->sriov_totalvfs);
      d->virtfns = g_ptr_array_new ();
      g_ptr_array_set_size (d->virtfns, (guint) d->sriov_numvfs);
    }
  if (d->physfn != NULL && d->sriov_totalvfs >= 0)
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, group,
                          "physfn", "a VF cannot be a PF itself");

  if (d->driver != NULL)
    g_hash_table_add (l->drivers, g_strdup (d->driver));
  return TRUE;
}

static gboolean
is_bridge (const Device *d)
{
  /* PCI-to-PCI and semi-transparent bridges have a type 1 header. */
  return (d->class_code >> 8) == 0x0604 || (d->class_code >> 8) == 0x0609;
}

static gboolean
check_parent (const Loader *l, const Device *d, GError **error)
{
  const Device *parent;

  if (d->parent == NULL)
    {
      if (d->domain >= VMD_DOMAIN_BASE)
        return fixture_error (
            error, G_KEY_FILE_ERROR_KEY_NOT_FOUND, l, d->address, "parent",
            "a device in a VMD domain (5 digits) needs a parent: its VMD "
            "controller, or a bridge inside the domain");
      return TRUE;
    }

  parent = g_hash_table_lookup (l->devices, d->parent);
  if (parent == NULL)
    return fixture_error (
        error, G_KEY_FILE_ERROR_GROUP_NOT_FOUND, l, d->address, "parent",
        "%s is not in the file (add a [%s] group)", d->parent, d->parent);

  if (parent->domain != d->domain)
    {
      /* Only a VMD controller hosts another domain, and its domains are
       * the 5-digit ones. */
      if (d->domain < VMD_DOMAIN_BASE)
        return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                              d->address, "parent",
                              "%s is in another domain; only devices in a "
                              "VMD domain (5 digits) may hang off a device "
                              "of another domain",
                              d->parent);
      return TRUE;
    }

  if (!is_bridge (parent))
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, d->address,
                          "parent",
                          "%s is not a bridge (its class is %06x, a bridge "
                          "is 0604xx)",
                          d->parent, parent->class_code);
  if (d->bus <= parent->bus)
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, d->address,
                          "parent",
                          "a device behind bridge %s must sit on a higher "
                          "bus than %02x",
                          d->parent, parent->bus);
  return TRUE;
}

static gboolean
check_physfn (const Loader *l, Device *vf, GError **error)
{
  Device *pf;

  if (vf->physfn == NULL)
    return TRUE;

  pf = g_hash_table_lookup (l->devices, vf->physfn);
  if (pf == NULL)
    return fixture_error (error, G_KEY_FILE_ERROR_GROUP_NOT_FOUND, l,
                          vf->address, "physfn", "%s is not in the file",
                          vf->physfn);
  if (pf->virtfns == NULL)
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, vf->address,
                          "physfn", "%s is not a PF (it has no sriov_totalvfs)",
                          vf->physfn);

  /* The kernel puts a VF's directory beside its PF's. */
  if (g_strcmp0 (vf->parent, pf->parent) != 0
      || (vf->parent == NULL && vf->bus != pf->bus))
    return fixture_error (
        error, G_KEY_FILE_ERROR_INVALID_VALUE, l, vf->address, "parent",
        "a VF sits beside its PF: use the parent of %s (%s)", pf->address,
        pf->parent != NULL ? pf->parent : "none");

  if ((guint) vf->vf_index >= pf->virtfns->len)
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, vf->address,
                          "vf_index", "%d is not below sriov_numvfs of %s (%u)",
                          vf->vf_index, pf->address, pf->virtfns->len);
  if (pf->virtfns->pdata[vf->vf_index] != NULL)
    return fixture_error (
        error, G_KEY_FILE_ERROR_INVALID_VALUE, l, vf->address, "vf_index",
        "%d is already used by %s", vf->vf_index,
        ((Device *) pf->virtfns->pdata[vf->vf_index])->address);

  pf->virtfns->pdata[vf->vf_index] = vf;
  return TRUE;
}

static gboolean
check_virtfns (const Loader *l, const Device *pf, GError **error)
{
  if (pf->virtfns == NULL)
    return TRUE;

  for (guint i = 0; i < pf->virtfns->len; i++)
    {
      if (pf->virtfns->pdata[i] == NULL)
        return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l,
                              pf->address, "sriov_numvfs",
                              "no VF in the file has physfn=%s and "
                              "vf_index=%u",
                              pf->address, i);
    }
  return TRUE;
}

/* Orders devices so that each comes after its parent (its directory holds
 * the child's) and after its PF (the physfn link must have a target). */
static gboolean
resolve (Loader *l, Device *d, GError **error)
{
  Device *parent = NULL;

  if (d->mark == MARK_DONE)
    return TRUE;
  if (d->mark == MARK_VISITING)
    return fixture_error (error, G_KEY_FILE_ERROR_INVALID_VALUE, l, d->address,
                          "parent", "%s is its own ancestor", d->address);
  d->mark = MARK_VISITING;

  if (d->parent != NULL)
    {
      parent = g_hash_table_lookup (l->devices, d->parent);
      if (!resolve (l, parent, error))
        return FALSE;
    }
  if (d->physfn != NULL
      && !resolve (l, g_hash_table_lookup (l->devices, d->physfn), error))
    return FALSE;

  if (parent == NULL)
    d->devdir = g_strdup_printf ("devices/pci%04x:%02x/%s", d->domain, d->bus,
                                 d->address);
  else if (parent->domain != d->domain)
    /* The VMD driver registers the domain's root bus below itself. */
    d->devdir = g_strdup_printf ("%s/pci%04x:%02x/%s", parent->devdir,
                                 d->domain, d->bus, d->address);
  else
    d->devdir = g_strdup_printf ("%s/%s", parent->devdir, d->address);

  d->mark = MARK_DONE;
  g_ptr_array_add (l->order, d);
  return TRUE;
}

/* Bus numbers for the bridge headers and the multifunction bits, which
 * lspci decodes from config space. */
static void
derive_config (Loader *l)
{
  g_autoptr (GHashTable) slots
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < l->order->len; i++)
    {
      Device *d = l->order->pdata[i];
      Device *child = d;

      /* Up to the root bus, or to the VMD controller hosting the domain. */
      while (child->parent != NULL)
        {
          Device *up = g_hash_table_lookup (l->devices, child->parent);

          if (up->domain != d->domain)
            break;
          if (child == d)
            up->secondary_bus = up->secondary_bus == 0
                                    ? d->bus
                                    : MIN (up->secondary_bus, d->bus);
          up->subordinate_bus = MAX (up->subordinate_bus, d->bus);
          child = up;
        }
    }

  /* VFs are never multifunction (pci_iov_add_virtfn clears the flag). */
  for (guint pass = 0; pass < 2; pass++)
    {
      for (guint i = 0; i < l->order->len; i++)
        {
          Device *d = l->order->pdata[i];
          g_autofree char *key = NULL;
          guint functions;

          if (d->physfn != NULL)
            continue;
          key = g_strdup_printf ("%x:%x:%x", d->domain, d->bus, d->slot);
          functions = GPOINTER_TO_UINT (g_hash_table_lookup (slots, key));
          if (pass == 0)
            g_hash_table_insert (slots, g_steal_pointer (&key),
                                 GUINT_TO_POINTER (functions + 1));
          else
            d->multifunction = functions > 1;
        }
    }
}

static gboolean
parse_fixture (Loader *l, const char *data, gssize length, GError **error)
{
  g_auto (GStrv) groups = NULL;

  if (length < 0)
    length = (gssize) strlen (data);
  if (!g_key_file_load_from_data (l->keyfile, data, (gsize) length,
                                  G_KEY_FILE_NONE, error))
    {
      g_prefix_error (error, "%s: ", l->source);
      return FALSE;
    }

  groups = g_key_file_get_groups (l->keyfile, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      gboolean ok = g_str_equal (groups[i], HOST_GROUP)
                        ? parse_host (l, error)
                        : parse_device (l, groups[i], error);
      if (!ok)
        return FALSE;
    }

  for (guint i = 0; i < l->listed->len; i++)
    {
      if (!check_parent (l, l->listed->pdata[i], error)
          || !check_physfn (l, l->listed->pdata[i], error))
        return FALSE;
    }
  for (guint i = 0; i < l->listed->len; i++)
    {
      if (!check_virtfns (l, l->listed->pdata[i], error)
          || !resolve (l, l->listed->pdata[i], error))
        return FALSE;
    }
  if (!check_children (l, error))
    return FALSE;

  derive_config (l);
  return TRUE;
}

/* ---- Writing the tree ---- */

static gboolean
set_errno_error (GError **error, int errsv, const char *what, const char *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
               "cannot %s %s: %s", what, path, g_strerror (errsv));
  return FALSE;
}

static gboolean
make_dir (const char *path, GError **error)
{
  if (g_mkdir_with_parents (path, 0755) < 0)
    return set_errno_error (error, errno, "create directory", path);
  return TRUE;
}

/* Leaves existing files alone: a fake kernel may already be using them. */
static gboolean
make_file (const char *path, const char *contents, GError **error)
{
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;
  return g_file_set_contents (path, contents, -1, error);
}

static gboolean
make_file_in (const char *dir,
              const char *name,
              const char *contents,
              GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return make_file (path, contents, error);
}

static gboolean
make_link (const char *target, const char *path, GError **error)
{
  if (symlink (target, path) < 0)
    return set_errno_error (error, errno, "create link", path);
  return TRUE;
}

/* The relative link target from directory @from to @to, both relative
 * to the same root, as the kernel writes its sysfs links: like
 * kernfs_get_target_path(), it climbs to an ancestor of @to's parent, so
 * a link to an ancestor reads "../../../0000:00:1f.6", never "../..". */
static char *
relative_path (const char *from, const char *to)
{
  g_auto (GStrv) from_parts = g_strsplit (from, "/", -1);
  g_auto (GStrv) to_parts = g_strsplit (to, "/", -1);
  guint n_to = g_strv_length (to_parts);
  GString *result = g_string_new (NULL);
  guint common = 0;

  while (from_parts[common] != NULL && common + 1 < n_to
         && g_str_equal (from_parts[common], to_parts[common]))
    common++;

  for (guint i = common; from_parts[i] != NULL; i++)
    g_string_append (result, "../");
  for (guint i = common; to_parts[i] != NULL; i++)
    {
      if (i > common)
        g_string_append_c (result, '/');
      g_string_append (result, to_parts[i]);
    }
  return g_string_free (result, FALSE);
}

static char *
get_root (UMockdevTestbed *tb)
{
  g_autofree char *root = umockdev_testbed_get_root_dir (tb);

  /* Every path below is built on this; never let it be the real root. */
  if (root == NULL || !g_path_is_absolute (root) || g_str_equal (root, "/"))
    g_error ("pp-testbed: unusable testbed root \"%s\"", root ? root : "");

  /* With TMPDIR=/dev/shm the root is /dev/shm/umockdev.XXXXXX, and the
   * preload takes every open() of a path starting with "/dev/" for a
   * device node: it connects to umockdev's ioctl thread and records the
   * descriptor in a table without a lock.  Threads opening and closing
   * such files then race on that table and the preload aborts ("did not
   * find fd").  The same directory through /proc/self/root is left
   * alone. */
  if (g_str_has_prefix (root, "/dev/"))
    return g_strconcat ("/proc/self/root", root, NULL);
  return g_steal_pointer (&root);
}

static gboolean
add_static_parts (UMockdevTestbed *tb, GError **error)
{
  g_autofree char *root = get_root (tb);
  g_autofree char *pci = g_build_filename (root, "sys/bus/pci", NULL);
  g_autofree char *devices = g_build_filename (pci, "devices", NULL);
  g_autofree char *drivers = g_build_filename (pci, "drivers", NULL);
  g_autofree char *probe = g_build_filename (pci, "drivers_probe", NULL);
  g_autofree char *autoprobe
      = g_build_filename (pci, "drivers_autoprobe", NULL);
  g_autofree char *groups
      = g_build_filename (root, "sys/kernel/iommu_groups", NULL);

  return make_dir (devices, error) && make_dir (drivers, error)
         && make_file (probe, "", error) && make_file (autoprobe, "1\n", error)
         && make_dir (groups, error);
}

static gboolean
add_driver (const char *root, const char *name, GError **error)
{
  static const char *const files[]
      = { "bind", "unbind", "new_id", "remove_id" };
  g_autofree char *dir
      = g_build_filename (root, "sys/bus/pci/drivers", name, NULL);

  if (!make_dir (dir, error))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);

      if (!make_file (path, "", error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
add_iommu_group (const char *root, gint64 group, GError **error)
{
  g_autofree char *name = g_strdup_printf ("%" G_GINT64_FORMAT, group);
  g_autofree char *dir
      = g_build_filename (root, "sys/kernel/iommu_groups", name, NULL);
  g_autofree char *devices = g_build_filename (dir, "devices", NULL);
  g_autofree char *type = g_build_filename (dir, "type", NULL);
  g_autofree char *regions = g_build_filename (dir, "reserved_regions", NULL);

  /* Every x86 group reserves the MSI window. */
  return make_dir (devices, error) && make_file (type, "DMA\n", error)
         && make_file (regions, "0x00000000fee00000 0x00000000feefffff msi\n",
                       error);
}

static gboolean
add_iommu_unit (UMockdevTestbed *tb,
                const char *root,
                const char *name,
                GError **error)
{
  g_autofree char *class_link
      = g_build_filename (root, "sys/class/iommu", name, NULL);
  g_autofree char *record = NULL;

  if (g_file_test (class_link, G_FILE_TEST_EXISTS))
    return TRUE;
  record = g_strdup_printf ("P: /devices/virtual/iommu/%s\n"
                            "E: SUBSYSTEM=iommu\n",
                            name);
  return umockdev_testbed_add_from_string (tb, record, error);
}

static void
build_config (const Device *d, guint8 config[CONFIG_HEADER_SIZE])
{
  gboolean bridge = is_bridge (d);
  /* Memory and bus master on; VGA and bridges also decode I/O. */
  guint16 command = bridge || (d->class_code >> 8) == 0x0300 ? 0x0007 : 0x0006;

  memset (config, 0, CONFIG_HEADER_SIZE);
  config[0x00] = d->vendor & 0xff;
  config[0x01] = (d->vendor >> 8) & 0xff;
  config[0x02] = d->device & 0xff;
  config[0x03] = (d->device >> 8) & 0xff;
  config[0x04] = command & 0xff;
  config[0x05] = (command >> 8) & 0xff;
  /* Status stays 0: no capability list, as the header has no room for one. */
  config[0x08] = d->revision & 0xff;
  config[0x09] = d->class_code & 0xff;
  config[0x0a] = (d->class_code >> 8) & 0xff;
  config[0x0b] = (d->class_code >> 16) & 0xff;
  config[0x0e] = (bridge ? 0x01 : 0x00) | (d->multifunction ? 0x80 : 0x00);

  if (bridge)
    {
      config[0x18] = d->bus & 0xff;
      config[0x19] = d->secondary_bus & 0xff;
      config[0x1a] = d->subordinate_bus & 0xff;
      /* Closed windows (base above limit) read as "[disabled]" in lspci. */
      config[0x1c] = 0xf0;
      config[0x1d] = 0x00;
      config[0x20] = 0xf0;
      config[0x21] = 0xff;
      config[0x24] = 0xf1;
      config[0x25] = 0xff;
      config[0x26] = 0x01;
    }
  else
    {
      /* Bridges keep their subsystem in a capability, endpoints here. */
      config[0x2c] = d->subsystem_vendor & 0xff;
      config[0x2d] = (d->subsystem_vendor >> 8) & 0xff;
      config[0x2e] = d->subsystem_device & 0xff;
      config[0x2f] = (d->subsystem_device >> 8) & 0xff;
    }
}

static char *
build_record (const Device *d, const Loader *l)
{
  GString *r = g_string_new (NULL);
  g_autofree char *modalias = NULL;
  guint8 config[CONFIG_HEADER_SIZE];

  /* As pci_uevent() in drivers/pci/pci-driver.c spells it. */
  modalias = g_strdup_printf (
      "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", d->vendor, d->device,
      d->subsystem_vendor, d->subsystem_device, (d->class_code >> 16) & 0xff,
      (d->class_code >> 8) & 0xff, d->class_code & 0xff);

  g_string_append_printf (r, "P: /%s\n", d->devdir);
  g_string_append (r, "E: SUBSYSTEM=pci\n");
  if (d->driver != NULL)
    g_string_append_printf (r, "E: DRIVER=%s\n", d->driver);
  g_string_append_printf (r, "E: PCI_CLASS=%04X\n", d->class_code);
  g_string_append_printf (r, "E: PCI_ID=%04X:%04X\n", d->vendor, d->device);
  g_string_append_printf (r, "E: PCI_SUBSYS_ID=%04X:%04X\n",
                          d->subsystem_vendor, d->subsystem_device);
  g_string_append_printf (r, "E: PCI_SLOT_NAME=%s\n", d->address);
  g_string_append_printf (r, "E: MODALIAS=%s\n", modalias);

  /* A: values are C-escaped, hence the literal backslash-n. */
  g_string_append_printf (r, "A: vendor=0x%04x\\n\n", d->vendor);
  g_string_append_printf (r, "A: device=0x%04x\\n\n", d->device);
  g_string_append_printf (r, "A: subsystem_vendor=0x%04x\\n\n",
                          d->subsystem_vendor);
  g_string_append_printf (r, "A: subsystem_device=0x%04x\\n\n",
                          d->subsystem_device);
  g_string_append_printf (r, "A: revision=0x%02x\\n\n", d->revision);
  g_string_append_printf (r, "A: class=0x%06x\\n\n", d->class_code);
  g_string_append_printf (r, "A: modalias=%s\\n\n", modalias);
  /* No interrupt and no BARs assigned, but lspci -v needs both files.
   * The kernel lists 7 resources for endpoints and all 17 for bridges. */
  g_string_append (r, "A: irq=0\\n\n");
  g_string_append (r, "A: resource=");
  for (guint i = 0; i < (is_bridge (d) ? 17u : 7u); i++)
    g_string_append (r, "0x0000000000000000 0x0000000000000000 "
                        "0x0000000000000000\\n");
  g_string_append_c (r, '\n');
  g_string_append_printf (r, "A: numa_node=%" G_GINT64_FORMAT "\\n\n",
                          d->numa_node);
  g_string_append_printf (r, "A: driver_override=%s\\n\n",
                          d->driver_override ? d->driver_override : "(null)");
  if (d->boot_vga >= 0)
    g_string_append_printf (r, "A: boot_vga=%" G_GINT64_FORMAT "\\n\n",
                            d->boot_vga);
  if (d->reset_method != NULL)
    g_string_append_printf (r, "A: reset_method=%s\\n\n", d->reset_method);
  if (d->sriov_totalvfs >= 0)
    {
      g_string_append_printf (r, "A: sriov_totalvfs=%" G_GINT64_FORMAT "\\n\n",
                              d->sriov_totalvfs);
      g_string_append_printf (r, "A: sriov_numvfs=%" G_GINT64_FORMAT "\\n\n",
                              d->sriov_numvfs);
      g_string_append (r, "A: sriov_drivers_autoprobe=1\\n\n");
    }

  build_config (d, config);
  g_string_append (r, "H: config=");
  for (guint i = 0; i < CONFIG_HEADER_SIZE; i++)
    g_string_append_printf (r, "%02X", config[i]);
  g_string_append_c (r, '\n');

  /* Links go in the record so they exist before umockdev's "add" uevent. */
  if (d->driver != NULL)
    {
      g_autofree char *target
          = g_strconcat ("bus/pci/drivers/", d->driver, NULL);
      g_autofree char *rel = relative_path (d->devdir, target);

      g_string_append_printf (r, "L: driver=%s\n", rel);
    }
  if (d->iommu_group >= 0)
    {
      g_autofree char *target = g_strdup_printf (
          "kernel/iommu_groups/%" G_GINT64_FORMAT, d->iommu_group);
      g_autofree char *rel = relative_path (d->devdir, target);

      g_string_append_printf (r, "L: iommu_group=%s\n", rel);
    }
  if (d->physfn != NULL)
    {
      const Device *pf = g_hash_table_lookup (l->devices, d->physfn);
      g_autofree char *rel = relative_path (d->devdir, pf->devdir);

      g_string_append_printf (r, "L: physfn=%s\n", rel);
    }

  return g_string_free (r, FALSE);
}

/* Writes @len bytes to a new file at @path in place: no temporary file
 * and rename per attribute, which is what makes umockdev's own writer
 * slow for hosts of thousands of functions (../shared/notes/testing.md
 * section 8). */
static gboolean
write_file (const char *path, const char *data, gsize len, GError **error)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  gboolean ok;

  if (fd < 0)
    return set_errno_error (error, errno, "create", path);
  ok = write (fd, data, len) == (gssize) len;
  if (!ok)
    set_errno_error (error, errno, "write", path);
  close (fd);
  return ok;
}

/* What umockdev_testbed_add_from_string() makes of a PCI function's
 * record (P:, E:, A:, H: and L: lines), written as plain files, then,
 * when @announce, the "add" uevent it would send. */
static gboolean
write_record (UMockdevTestbed *tb,
              const char *root,
              const char *record,
              gboolean announce,
              GError **error)
{
  g_auto (GStrv) lines = g_strsplit (record, "\n", -1);
  g_autoptr (GString) uevent = g_string_new (NULL);
  g_autofree char *devpath = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *subsystem = NULL;

  for (char **line = lines; *line != NULL; line++)
    {
      const char *value;
      const char *eq;
      g_autofree char *name = NULL;
      g_autofree char *path = NULL;

      if (**line == '\0')
        continue;
      if (strlen (*line) < 3 || (*line)[1] != ':' || (*line)[2] != ' ')
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "bad record line \"%s\"", *line);
          return FALSE;
        }
      value = *line + 3;
      eq = strchr (value, '=');
      name = eq ? g_strndup (value, eq - value) : NULL;
      if (g_str_has_prefix (*line, "P: "))
        {
          devpath = g_strconcat ("/sys", value, NULL);
          dir = g_build_filename (root, devpath, NULL);
          if (!make_dir (dir, error))
            return FALSE;
          continue;
        }
      if (dir == NULL || name == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "bad record line \"%s\"", *line);
          return FALSE;
        }
      path = g_build_filename (dir, name, NULL);
      switch (**line)
        {
          case 'E':
            g_string_append_printf (uevent, "%s\n", value);
            if (g_str_equal (name, "SUBSYSTEM"))
              subsystem = g_strdup (eq + 1);
            break;
          case 'A':
            {
              g_autofree char *text = g_strcompress (eq + 1);

              if (!write_file (path, text, strlen (text), error))
                return FALSE;
            }
            break;
          case 'H':
            {
              gsize n = strlen (eq + 1) / 2;
              g_autofree guint8 *bytes = g_malloc (n + 1);

              for (gsize i = 0; i < n; i++)
                bytes[i] = (g_ascii_xdigit_value (eq[1 + 2 * i]) << 4)
                           | g_ascii_xdigit_value (eq[2 + 2 * i]);
              if (!write_file (path, (const char *) bytes, n, error))
                return FALSE;
            }
            break;
          case 'L':
            if (!make_link (eq + 1, path, error))
              return FALSE;
            break;
          default:
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         "bad record line \"%s\"", *line);
            return FALSE;
        }
    }
  if (devpath == NULL || g_strcmp0 (subsystem, "pci") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "not a PCI function's record");
      return FALSE;
    }
  {
    g_autofree char *uevent_path = g_build_filename (dir, "uevent", NULL);
    g_autofree char *link = g_build_filename (dir, "subsystem", NULL);
    g_autofree char *target = relative_path (devpath + 5, "bus/pci");
    g_autofree char *name = g_path_get_basename (devpath);
    g_autofree char *bus_link
        = g_build_filename (root, "sys/bus/pci/devices", name, NULL);
    g_autofree char *bus_target
        = relative_path ("bus/pci/devices", devpath + 5);

    /* Like umockdev, the bus's link before the "add" uevent. */
    if (!write_file (uevent_path, uevent->str, uevent->len, error)
        || !make_link (target, link, error)
        || !make_link (bus_target, bus_link, error))
      return FALSE;
  }
  if (announce)
    umockdev_testbed_uevent (tb, devpath, "add");
  return TRUE;
}

/* The links that point back at a device, made once its directory exists. */
static gboolean
add_back_links (const char *root, const Device *d, GError **error)
{
  if (d->iommu_group >= 0)
    {
      g_autofree char *dir = g_strdup_printf (
          "kernel/iommu_groups/%" G_GINT64_FORMAT "/devices", d->iommu_group);
      g_autofree char *rel = relative_path (dir, d->devdir);
      g_autofree char *path
          = g_build_filename (root, "sys", dir, d->address, NULL);

      if (!make_link (rel, path, error))
        return FALSE;
    }
  if (d->driver != NULL)
    {
      g_autofree char *dir = g_strconcat ("bus/pci/drivers/", d->driver, NULL);
      g_autofree char *rel = relative_path (dir, d->devdir);
      g_autofree char *path
          = g_build_filename (root, "sys", dir, d->address, NULL);

      if (!make_link (rel, path, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
add_device (UMockdevTestbed *tb,
            const char *root,
            const Loader *l,
            const Device *d,
            GError **error)
{
  g_autofree char *record = build_record (d, l);
  g_autofree char *devdir = g_build_filename (root, "sys", d->devdir, NULL);
  g_autofree char *bus_dir = g_path_get_dirname (devdir);
  g_autofree char *bus_name = g_path_get_basename (bus_dir);
  g_autofree char *bus_uevent = g_build_filename (bus_dir, "uevent", NULL);

  /* A root bus directory (pci0000:00) is a device to libudev only when
   * it has a uevent file; with it, udev_device_get_parent() walks up as on
   * a real host. */
  if (g_str_has_prefix (bus_name, "pci"))
    {
      if (!make_dir (bus_dir, error) || !make_file (bus_uevent, "", error))
        return FALSE;
    }

  if (!write_record (tb, root, record, !l->quiet, error))
    {
      g_prefix_error (error, "%s: [%s]: ", l->source, d->address);
      return FALSE;
    }

  return add_back_links (root, d, error);
}

/* Adds one device from a umockdev record, naming the fixture on error. */
static gboolean
add_record (UMockdevTestbed *tb,
            const Loader *l,
            const char *group,
            const char *record,
            GError **error)
{
  if (umockdev_testbed_add_from_string (tb, record, error))
    return TRUE;
  if (l != NULL)
    g_prefix_error (error, "%s: [%s]: ", l->source, group);
  return FALSE;
}

/* "nvme0n1" -> "nvme0": an NVMe namespace hangs below its controller. */
static char *
nvme_controller (const char *disk)
{
  const char *p = disk + strlen ("nvme");
  const char *n;

  if (!g_str_has_prefix (disk, "nvme") || !g_ascii_isdigit (*p))
    return NULL;
  while (g_ascii_isdigit (*p))
    p++;
  n = p;
  if (*p++ != 'n' || !g_ascii_isdigit (*p))
    return NULL;
  while (g_ascii_isdigit (*p))
    p++;
  if (*p != '\0')
    return NULL;
  return g_strndup (disk, (gsize) (n - disk));
}

static gboolean
add_nvme_controller (UMockdevTestbed *tb,
                     const char *root,
                     const Loader *l,
                     const Device *d,
                     const char *devdir,
                     GError **error)
{
  g_autofree char *uevent
      = g_build_filename (root, "sys", devdir, "uevent", NULL);
  g_autofree char *device = relative_path (devdir, d->devdir);
  g_autofree char *record = NULL;

  /* The second namespace of a controller finds it there. */
  if (g_file_test (uevent, G_FILE_TEST_EXISTS))
    return TRUE;
  record = g_strdup_printf ("P: /%s\n"
                            "E: SUBSYSTEM=nvme\n"
                            "E: NVME_TRTYPE=pcie\n"
                            "A: transport=pcie\\n\n"
                            "A: address=%s\\n\n"
                            "L: device=%s\n",
                            devdir, d->address, device);
  return add_record (tb, l, d->address, record, error);
}

/* A disk as its driver registers it: NVMe namespaces below their
 * controller (PCIDEV/nvme/nvme0/nvme0n1), anything else in PCIDEV/block/.
 * umockdev would file the "dev" of a disk outside a block/ directory
 * under /sys/dev/char, so the dev attribute and the /sys/dev/block link
 * are made here, before umockdev's "add" uevent. */
static gboolean
add_block (UMockdevTestbed *tb,
           const char *root,
           const Loader *l,
           const Device *d,
           const BlockDev *b,
           GError **error)
{
  g_autofree char *controller = nvme_controller (b->name);
  g_autofree char *parent
      = controller != NULL
            ? g_strdup_printf ("%s/nvme/%s", d->devdir, controller)
            : g_strdup_printf ("%s/block", d->devdir);
  g_autofree char *devdir = g_strdup_printf ("%s/%s", parent, b->name);
  g_autofree char *dir = g_build_filename (root, "sys", devdir, NULL);
  g_autofree char *holders = g_build_filename (dir, "holders", NULL);
  g_autofree char *slaves = g_build_filename (dir, "slaves", NULL);
  g_autofree char *dev = g_build_filename (dir, "dev", NULL);
  g_autofree char *dev_value = g_strdup_printf ("%u:%u\n", b->major, b->minor);
  g_autofree char *devnum = g_strdup_printf ("%u:%u", b->major, b->minor);
  g_autofree char *dev_dir = g_build_filename (root, "sys/dev/block", NULL);
  g_autofree char *dev_link = g_build_filename (dev_dir, devnum, NULL);
  g_autofree char *dev_target = relative_path ("dev/block", devdir);
  g_autofree char *block_link
      = g_build_filename (root, "sys/block", b->name, NULL);
  g_autofree char *block_target = relative_path ("block", devdir);
  g_autofree char *device = NULL;
  g_autofree char *record = NULL;

  if (controller != NULL
      && !add_nvme_controller (tb, root, l, d, parent, error))
    return FALSE;
  device = relative_path (devdir, controller != NULL ? parent : d->devdir);

  /* holders/ and slaves/ are where dm and md stack on a disk. */
  if (!make_dir (holders, error) || !make_dir (slaves, error)
      || !make_file (dev, dev_value, error) || !make_dir (dev_dir, error)
      || !make_link (dev_target, dev_link, error))
    return FALSE;

  record = g_strdup_printf ("P: /%s\n"
                            "E: SUBSYSTEM=block\n"
                            "E: DEVTYPE=disk\n"
                            "E: DEVNAME=/dev/%s\n"
                            "E: MAJOR=%u\n"
                            "E: MINOR=%u\n"
                            "A: size=1953525168\\n\n"
                            "A: ro=0\\n\n"
                            "A: removable=0\\n\n"
                            "L: device=%s\n",
                            devdir, b->name, b->major, b->minor, device);
  if (!add_record (tb, l, d->address, record, error))
    return FALSE;

  /* umockdev 0.17 makes /sys/block/NAME itself; be sure of it. */
  if (!g_file_test (block_link, G_FILE_TEST_IS_SYMLINK))
    {
      g_autofree char *block_dir = g_path_get_dirname (block_link);

      if (!make_dir (block_dir, error)
          || !make_link (block_target, block_link, error))
        return FALSE;
    }
  return TRUE;
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint count = 0;

  while (d != NULL && g_dir_read_name (d) != NULL)
    count++;
  return count;
}

static gboolean
add_net (UMockdevTestbed *tb,
         const char *root,
         const Loader *l,
         const Device *d,
         guint index,
         GError **error)
{
  const char *ifname = d->nets->pdata[index];
  g_autofree char *devdir = g_strdup_printf ("%s/net/%s", d->devdir, ifname);
  g_autofree char *device = relative_path (devdir, d->devdir);
  g_autofree char *class_dir = g_build_filename (root, "sys/class/net", NULL);
  /* 1 is lo; count what earlier loads made too. */
  guint ifindex = 2 + count_entries (class_dir);
  g_autofree char *mac = NULL;
  g_autofree char *record = NULL;

  /* Locally administered, and different for every function and port. */
  mac = g_strdup_printf ("02:%02x:%02x:%02x:%02x:%02x", d->domain & 0xff,
                         d->bus, d->slot, d->function, index & 0xff);
  record = g_strdup_printf ("P: /%s\n"
                            "E: SUBSYSTEM=net\n"
                            "E: INTERFACE=%s\n"
                            "E: IFINDEX=%u\n"
                            "A: ifindex=%u\\n\n"
                            "A: iflink=%u\\n\n"
                            "A: address=%s\\n\n"
                            "A: addr_len=6\\n\n"
                            "A: type=1\\n\n"
                            "A: mtu=1500\\n\n"
                            "A: operstate=up\\n\n"
                            "A: carrier=1\\n\n"
                            "L: device=%s\n",
                            devdir, ifname, ifindex, ifindex, ifindex, mac,
                            device);
  return add_record (tb, l, d->address, record, error);
}

static gboolean
add_children (UMockdevTestbed *tb,
              const char *root,
              const Loader *l,
              const Device *d,
              GError **error)
{
  for (guint n = 0; d->blocks != NULL && n < d->blocks->len; n++)
    {
      if (!add_block (tb, root, l, d, d->blocks->pdata[n], error))
        return FALSE;
    }
  for (guint n = 0; d->nets != NULL && n < d->nets->len; n++)
    {
      if (!add_net (tb, root, l, d, n, error))
        return FALSE;
    }
  return TRUE;
}

/* Where /sys/class/CLASS/NAME leads, relative to sys/ ("devices/..."). */
static char *
class_target (const char *root,
              const char *class,
              const char *name,
              GError **error)
{
  g_autofree char *link
      = g_build_filename (root, "sys/class", class, name, NULL);
  g_autofree char *target = g_file_read_link (link, error);

  if (target == NULL)
    return NULL;
  /* The kernel's class links read "../../devices/...". */
  return g_strdup (g_str_has_prefix (target, "../../") ? target + 6 : target);
}

/* The class link of a virtual device, if umockdev did not make it. */
static gboolean
add_class_link (const char *root,
                const char *class,
                const char *name,
                const char *devdir,
                GError **error)
{
  g_autofree char *dir = g_build_filename (root, "sys/class", class, NULL);
  g_autofree char *link = g_build_filename (dir, name, NULL);
  g_autofree char *class_rel = g_strconcat ("class/", class, NULL);
  g_autofree char *target = relative_path (class_rel, devdir);

  if (g_file_test (link, G_FILE_TEST_IS_SYMLINK))
    return TRUE;
  return make_dir (dir, error) && make_link (target, link, error);
}

/* A dm or md disk: devices/virtual/block/NAME with its slaves/ links to
 * the disks below, /sys/dev/block/MAJ:MIN and /sys/class/block/NAME. */
static gboolean
add_stacked_disk (UMockdevTestbed *tb,
                  const char *root,
                  const Loader *l,
                  const Stacked *st,
                  GError **error)
{
  g_autofree char *devdir
      = g_strdup_printf ("devices/virtual/block/%s", st->name);
  g_autofree char *dir = g_build_filename (root, "sys", devdir, NULL);
  g_autofree char *slaves = g_build_filename (dir, "slaves", NULL);
  g_autofree char *holders = g_build_filename (dir, "holders", NULL);
  g_autofree char *dev = g_build_filename (dir, "dev", NULL);
  g_autofree char *dev_value
      = g_strdup_printf ("%u:%u\n", st->major, st->minor);
  g_autofree char *devnum = g_strdup_printf ("%u:%u", st->major, st->minor);
  g_autofree char *dev_dir = g_build_filename (root, "sys/dev/block", NULL);
  g_autofree char *dev_link = g_build_filename (dev_dir, devnum, NULL);
  g_autofree char *dev_target = relative_path ("dev/block", devdir);
  g_autofree char *slaves_rel = g_strconcat (devdir, "/slaves", NULL);
  g_autofree char *record = NULL;

  if (!make_dir (slaves, error) || !make_dir (holders, error)
      || !make_file (dev, dev_value, error) || !make_dir (dev_dir, error)
      || !make_link (dev_target, dev_link, error))
    return FALSE;
  for (char **b = st->below; *b != NULL; b++)
    {
      g_autofree char *target = class_target (root, "block", *b, error);
      g_autofree char *rel = NULL;
      g_autofree char *path = g_build_filename (slaves, *b, NULL);

      if (target == NULL)
        {
          g_prefix_error (error, "%s: [host] stacked: %s on %s: ", l->source,
                          st->name, *b);
          return FALSE;
        }
      rel = relative_path (slaves_rel, target);
      if (!make_link (rel, path, error))
        return FALSE;
    }
  record = g_strdup_printf ("P: /%s\n"
                            "E: SUBSYSTEM=block\n"
                            "E: DEVTYPE=disk\n"
                            "E: DEVNAME=/dev/%s\n"
                            "E: MAJOR=%u\n"
                            "E: MINOR=%u\n"
                            "A: ro=0\\n\n",
                            devdir, st->name, st->major, st->minor);
  return add_record (tb, l, HOST_GROUP, record, error)
         && add_class_link (root, "block", st->name, devdir, error);
}

/* A bond, VLAN or bridge: devices/virtual/net/NAME with lower_IF links
 * (@links_dir NULL) or brif/IF links to the interfaces below. */
static gboolean
add_stacked_net (UMockdevTestbed *tb,
                 const char *root,
                 const Loader *l,
                 const Stacked *st,
                 const char *links_dir,
                 GError **error)
{
  g_autofree char *devdir
      = g_strdup_printf ("devices/virtual/net/%s", st->name);
  g_autofree char *record = g_strdup_printf ("P: /%s\n"
                                             "E: SUBSYSTEM=net\n"
                                             "E: INTERFACE=%s\n"
                                             "A: operstate=up\\n\n",
                                             devdir, st->name);
  g_autofree char *from = links_dir != NULL
                              ? g_build_filename (devdir, links_dir, NULL)
                              : g_strdup (devdir);
  g_autofree char *from_dir = g_build_filename (root, "sys", from, NULL);

  if (!add_record (tb, l, HOST_GROUP, record, error)
      || !add_class_link (root, "net", st->name, devdir, error)
      || !make_dir (from_dir, error))
    return FALSE;
  for (char **b = st->below; *b != NULL; b++)
    {
      g_autofree char *target = class_target (root, "net", *b, error);
      g_autofree char *name = links_dir != NULL
                                  ? g_strdup (*b)
                                  : g_strconcat ("lower_", *b, NULL);
      g_autofree char *path = g_build_filename (from_dir, name, NULL);
      g_autofree char *rel = NULL;

      if (target == NULL)
        {
          g_prefix_error (error, "%s: [host] %s on %s: ", l->source, st->name,
                          *b);
          return FALSE;
        }
      rel = relative_path (from, target);
      if (!make_link (rel, path, error))
        return FALSE;
    }
  return TRUE;
}

/* Stacked ones in file order, so one may sit on an earlier one. */
static gboolean
add_stacked (UMockdevTestbed *tb,
             const char *root,
             const Loader *l,
             GError **error)
{
  for (guint i = 0; i < l->stacked->len; i++)
    if (!add_stacked_disk (tb, root, l, l->stacked->pdata[i], error))
      return FALSE;
  for (guint i = 0; i < l->lowers->len; i++)
    if (!add_stacked_net (tb, root, l, l->lowers->pdata[i], NULL, error))
      return FALSE;
  for (guint i = 0; i < l->bridges->len; i++)
    if (!add_stacked_net (tb, root, l, l->bridges->pdata[i], "brif", error))
      return FALSE;
  return TRUE;
}

/* As the kernel's mangle() in fs/proc_namespace.c: blanks and backslashes
 * in octal. */
static void
append_escaped (GString *out, const char *path)
{
  for (const char *p = path; *p != '\0'; p++)
    {
      if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\')
        g_string_append_printf (out, "\\%03o", (guint) (guchar) *p);
      else
        g_string_append_c (out, *p);
    }
}

static const char *
block_name (const Loader *l, guint major, guint minor)
{
  for (guint i = 0; i < l->listed->len; i++)
    {
      const Device *d = l->listed->pdata[i];

      for (guint n = 0; d->blocks != NULL && n < d->blocks->len; n++)
        {
          const BlockDev *b = d->blocks->pdata[n];

          if (b->major == major && b->minor == minor)
            return b->name;
        }
    }
  return NULL;
}

static void
append_mount (
    GString *out, const Loader *l, guint id, guint parent, const Mount *m)
{
  const char *name = block_name (l, m->major, m->minor);

  g_string_append_printf (out, "%u %u %u:%u / ", id, parent, m->major,
                          m->minor);
  append_escaped (out, m->mountpoint);
  g_string_append_printf (out, " rw,relatime shared:%u - ext4 ", id);
  if (name != NULL)
    g_string_append_printf (out, "/dev/%s", name);
  else
    g_string_append_printf (out, "/dev/block/%u:%u", m->major, m->minor);
  g_string_append (out, " rw,errors=remount-ro\n");
}

/* /proc/self/mountinfo (Documentation/filesystems/proc.rst): "ID PARENT
 * MAJ:MIN ROOT MOUNTPOINT OPTIONS OPTIONAL... - FSTYPE SOURCE SUPER".
 * Around the fixture's mounts come the virtual file systems every host
 * has, whose major 0 marks them as backed by no disk. */
static char *
build_mountinfo (const Loader *l)
{
  static const struct
  {
    const char *devnum;
    const char *mountpoint;
    const char *options;
    const char *fstype_source_super;
  } virtual_mounts[] = {
    { "0:22", "/sys", "rw,nosuid,nodev,noexec,relatime", "sysfs sysfs rw" },
    { "0:23", "/proc", "rw,nosuid,nodev,noexec,relatime", "proc proc rw" },
    { "0:5", "/dev", "rw,nosuid,relatime",
      "devtmpfs udev rw,size=16318012k,nr_inodes=4079503,mode=755" },
    { "0:24", "/run", "rw,nosuid,nodev,noexec,relatime",
      "tmpfs tmpfs rw,size=3266788k,mode=755" },
  };
  GString *out = g_string_new (NULL);
  const guint root_id = 21;
  guint id = root_id + 1;
  const Mount *root = NULL;

  for (guint i = 0; i < l->mounts->len && root == NULL; i++)
    {
      const Mount *m = l->mounts->pdata[i];

      if (g_str_equal (m->mountpoint, "/"))
        root = m;
    }
  /* Some root is always mounted; without a disk, a container's. */
  if (root != NULL)
    append_mount (out, l, root_id, 1, root);
  else
    g_string_append_printf (out,
                            "%u 1 0:32 / / rw,relatime shared:1 - overlay "
                            "overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n",
                            root_id);

  for (guint i = 0; i < G_N_ELEMENTS (virtual_mounts); i++, id++)
    {
      g_string_append_printf (
          out, "%u %u %s / %s %s shared:%u - %s\n", id, root_id,
          virtual_mounts[i].devnum, virtual_mounts[i].mountpoint,
          virtual_mounts[i].options, id, virtual_mounts[i].fstype_source_super);
    }
  for (guint i = 0; i < l->mounts->len; i++)
    {
      if (l->mounts->pdata[i] != root)
        append_mount (out, l, id++, root_id, l->mounts->pdata[i]);
    }
  return g_string_free (out, FALSE);
}

/* A /proc/net/route line: fib_route_seq_show() pads each to 127. */
static void
append_route_line (GString *out, const char *line)
{
  g_string_append_printf (out, "%-127s\n", line);
}

/* /proc/net/route as net/ipv4/fib_trie.c prints it: addresses are the
 * network-order words printed as host-order hex, so on x86 192.168.1.1
 * reads 0101A8C0.  Each interface gets its own 192.168.N.0/24 and a
 * default route through 192.168.N.1. */
static char *
build_route (const Loader *l)
{
  GString *out = g_string_new (NULL);

  append_route_line (out, "Iface\tDestination\tGateway "
                          "\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU"
                          "\tWindow\tIRTT");
  for (guint i = 0; i < l->routes->len; i++)
    {
      const char *ifname = l->routes->pdata[i];
      guint net = (i + 1) & 0xff;
      guint32 gateway = (1u << 24) | (net << 16) | (168u << 8) | 192u;
      guint32 subnet = (net << 16) | (168u << 8) | 192u;
      g_autofree char *route = NULL;
      g_autofree char *local = NULL;

      /* RTF_UP | RTF_GATEWAY, metric 100 as NetworkManager sets it. */
      route = g_strdup_printf ("%s\t00000000\t%08X\t0003\t0\t0\t%u\t00000000"
                               "\t0\t0\t0",
                               ifname, gateway, 100 + i);
      local = g_strdup_printf ("%s\t%08X\t00000000\t0001\t0\t0\t%u\t00FFFFFF"
                               "\t0\t0\t0",
                               ifname, subnet, 100 + i);
      append_route_line (out, route);
      append_route_line (out, local);
    }
  return g_string_free (out, FALSE);
}

/* /proc/net/ipv6_route with link-local routes only and no default, so
 * that this machine's IPv6 routes do not show through either. */
static char *
build_ipv6_route (const Loader *l)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < l->routes->len; i++)
    g_string_append_printf (
        out,
        "fe800000000000000000000000000000 40 "
        "00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000001 00000000 "
        "00000001 %8s\n",
        (const char *) l->routes->pdata[i]);
  /* RTF_UP | RTF_GATEWAY | RTF_ADDRCONF | RTF_DEFAULT... via fe80::1. */
  for (guint i = 0; l->routes6 != NULL && i < l->routes6->len; i++)
    g_string_append_printf (
        out,
        "00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00 "
        "fe800000000000000000000000000001 00000400 00000001 00000000 "
        "00450003 %8s\n",
        (const char *) l->routes6->pdata[i]);
  g_string_append_printf (out,
                          "00000000000000000000000000000001 80 "
                          "00000000000000000000000000000000 00 "
                          "00000000000000000000000000000000 00000000 "
                          "00000001 00000000 80200001 %8s\n",
                          "lo");
  return g_string_free (out, FALSE);
}

/* umockdev redirects a /proc path only when the testbed has the file, so
 * these shadow the host's exactly when the fixture asks for them. */
static gboolean
add_host_files (const char *root, const Loader *l, GError **error)
{
  if (l->mounts != NULL)
    {
      g_autofree char *dir = g_build_filename (root, "proc/self", NULL);
      g_autofree char *path = g_build_filename (dir, "mountinfo", NULL);
      g_autofree char *contents = build_mountinfo (l);

      if (!make_dir (dir, error)
          || !g_file_set_contents (path, contents, -1, error))
        return FALSE;
    }
  if (l->routes != NULL)
    {
      g_autofree char *dir = g_build_filename (root, "proc/net", NULL);
      g_autofree char *v4 = g_build_filename (dir, "route", NULL);
      g_autofree char *v6 = g_build_filename (dir, "ipv6_route", NULL);
      g_autofree char *v4_contents = build_route (l);
      g_autofree char *v6_contents = build_ipv6_route (l);

      if (!make_dir (dir, error)
          || !g_file_set_contents (v4, v4_contents, -1, error)
          || !g_file_set_contents (v6, v6_contents, -1, error))
        return FALSE;
    }
  return TRUE;
}

static char *
vfio_group_devdir (int group)
{
  return g_strdup_printf ("devices/virtual/vfio/%d", group);
}

static gboolean
vfio_group_exists (const char *root, int group)
{
  g_autofree char *devdir = vfio_group_devdir (group);
  g_autofree char *uevent
      = g_build_filename (root, "sys", devdir, "uevent", NULL);

  return g_file_test (uevent, G_FILE_TEST_EXISTS);
}

/* The groups of devices the fixture puts on a VFIO driver already have
 * their node, as vfio-pci would have made it. */
static gboolean
add_vfio_groups (UMockdevTestbed *tb, const Loader *l, GError **error)
{
  for (guint i = 0; i < l->order->len; i++)
    {
      const Device *d = l->order->pdata[i];

      if (d->driver != NULL && d->iommu_group >= 0
          && pp_testbed_is_vfio_driver (d->driver)
          && !pp_testbed_add_vfio_group (tb, (int) d->iommu_group, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean check_absent (const char *root,
                              const Loader *l,
                              const char *group,
                              GError **error,
                              const char *first,
                              ...) G_GNUC_NULL_TERMINATED;

/* Fails when the path under @root made of the NULL-terminated elements
 * exists, even as a dangling link. */
static gboolean
check_absent (const char *root,
              const Loader *l,
              const char *group,
              GError **error,
              const char *first,
              ...)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new ();
  g_autofree char *path = NULL;
  struct stat st;
  const char *part;
  va_list args;

  g_ptr_array_add (parts, (gpointer) root);
  va_start (args, first);
  for (part = first; part != NULL; part = va_arg (args, const char *))
    g_ptr_array_add (parts, (gpointer) part);
  va_end (args);
  g_ptr_array_add (parts, NULL);
  path = g_build_filenamev ((char **) parts->pdata);

  if (lstat (path, &st) < 0)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
               "%s: [%s]: the testbed already has %s", l->source, group,
               path + strlen (root));
  return FALSE;
}

static gboolean
check_not_present (const char *root, const Loader *l, GError **error)
{
  for (guint i = 0; i < l->order->len; i++)
    {
      const Device *d = l->order->pdata[i];
      g_autofree char *bus_link
          = g_build_filename (root, "sys/bus/pci/devices", d->address, NULL);
      struct stat st;

      if (lstat (bus_link, &st) == 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                       "%s: [%s]: the testbed already has this device",
                       l->source, d->address);
          return FALSE;
        }
      for (guint n = 0; d->blocks != NULL && n < d->blocks->len; n++)
        {
          const BlockDev *b = d->blocks->pdata[n];
          g_autofree char *devnum
              = g_strdup_printf ("%u:%u", b->major, b->minor);

          if (!check_absent (root, l, d->address, error, "sys/class/block",
                             b->name, NULL)
              || !check_absent (root, l, d->address, error, "sys/dev/block",
                                devnum, NULL))
            return FALSE;
        }
      for (guint n = 0; d->nets != NULL && n < d->nets->len; n++)
        {
          if (!check_absent (root, l, d->address, error, "sys/class/net",
                             d->nets->pdata[n], NULL))
            return FALSE;
        }
    }
  if (l->mounts != NULL
      && !check_absent (root, l, HOST_GROUP, error, "proc/self/mountinfo",
                        NULL))
    return FALSE;
  if (l->routes != NULL
      && !check_absent (root, l, HOST_GROUP, error, "proc/net/route", NULL))
    return FALSE;
  return TRUE;
}

static gboolean
build (UMockdevTestbed *tb, Loader *l, GError **error)
{
  g_autofree char *root = get_root (tb);
  GHashTableIter iter;
  gpointer name;

  /* Refuse, like pp_testbed_new(), in case the testbed came from elsewhere. */
  if (!umockdev_in_mock_environment ())
    g_error ("pp-testbed: not running under libumockdev-preload");

  if (!check_not_present (root, l, error))
    return FALSE;

  /* Link targets first: drivers, groups, IOMMU units, then devices. */
  g_hash_table_iter_init (&iter, l->drivers);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    {
      if (!add_driver (root, name, error))
        return FALSE;
    }
  for (guint i = 0; i < l->order->len; i++)
    {
      const Device *d = l->order->pdata[i];

      if (d->iommu_group >= 0 && !add_iommu_group (root, d->iommu_group, error))
        return FALSE;
    }
  for (guint i = 0; i < l->iommus->len; i++)
    {
      if (!add_iommu_unit (tb, root, l->iommus->pdata[i], error))
        return FALSE;
    }

  for (guint i = 0; i < l->order->len; i++)
    {
      if (!add_device (tb, root, l, l->order->pdata[i], error))
        return FALSE;
    }

  /* virtfnN last: the VFs are their targets. */
  for (guint i = 0; i < l->order->len; i++)
    {
      const Device *pf = l->order->pdata[i];

      if (pf->virtfns == NULL)
        continue;
      for (guint n = 0; n < pf->virtfns->len; n++)
        {
          const Device *vf = pf->virtfns->pdata[n];
          g_autofree char *attr = g_strdup_printf ("virtfn%u", n);
          g_autofree char *rel = relative_path (pf->devdir, vf->devdir);
          g_autofree char *path
              = g_build_filename (root, "sys", pf->devdir, attr, NULL);

          if (!make_link (rel, path, error))
            return FALSE;
        }
    }

  /* Disks and interfaces once every function is in place. */
  for (guint i = 0; i < l->order->len; i++)
    {
      if (!add_children (tb, root, l, l->order->pdata[i], error))
        return FALSE;
    }
  return add_stacked (tb, root, l, error) && add_vfio_groups (tb, l, error)
         && add_host_files (root, l, error);
}

/* ---- Public API ---- */

gboolean
pp_testbed_is_vfio_driver (const char *driver)
{
  /* vfio-pci and its variants (mlx5_vfio_pci, nvgrace_gpu_vfio_pci...). */
  return driver != NULL
         && (g_str_equal (driver, "vfio-pci")
             || g_str_has_suffix (driver, "_vfio_pci")
             || g_str_has_suffix (driver, "-vfio-pci"));
}

gboolean
pp_testbed_add_vfio_group (UMockdevTestbed *tb, int group, GError **error)
{
  g_autofree char *root = NULL;
  g_autofree char *devdir = NULL;
  g_autofree char *devpath = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *subsystem = NULL;
  g_autofree char *name = g_strdup_printf ("%d", group);
  g_autofree char *class_dir = NULL;
  g_autofree char *class_link = NULL;
  g_autofree char *class_target = NULL;
  g_autofree char *node_dir = NULL;
  g_autofree char *node = NULL;
  g_autofree char *char_dir = NULL;
  g_autofree char *char_link = NULL;
  g_autofree char *char_target = NULL;
  g_autofree char *dev_value = NULL;
  g_autofree char *uevent = NULL;
  int fd;

  g_return_val_if_fail (UMOCKDEV_IS_TESTBED (tb), FALSE);
  g_return_val_if_fail (group >= 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  root = get_root (tb);
  if (vfio_group_exists (root, group))
    return TRUE;

  devdir = vfio_group_devdir (group);
  devpath = g_strconcat ("/sys/", devdir, NULL);
  dir = g_build_filename (root, "sys", devdir, NULL);
  subsystem = g_build_filename (dir, "subsystem", NULL);
  class_dir = g_build_filename (root, "sys/class/vfio", NULL);
  class_link = g_build_filename (class_dir, name, NULL);
  class_target = relative_path ("class/vfio", devdir);
  node_dir = g_build_filename (root, "dev/vfio", NULL);
  node = g_build_filename (node_dir, name, NULL);
  char_dir = g_build_filename (root, "sys/dev/char", NULL);
  char_link = g_strdup_printf ("%s/%d:%d", char_dir, VFIO_GROUP_MAJOR, group);
  char_target = relative_path ("dev/char", devdir);
  dev_value = g_strdup_printf ("%d:%d\n", VFIO_GROUP_MAJOR, group);
  uevent = g_strdup_printf ("SUBSYSTEM=vfio\nMAJOR=%d\nMINOR=%d\n"
                            "DEVNAME=vfio/%d\nDEVMODE=0600\n",
                            VFIO_GROUP_MAJOR, group, group);

  /* Made by hand rather than with umockdev_testbed_add_from_string(),
   * whose files under the root would go through the preload's device
   * emulation (see get_root()), and which would make the node a pty.
   * Everything exists before the "add" uevent, so a listener can stat
   * the node at once.  The node is a plain file: stat() through the
   * preload and through /proc/PID/fd agree on its device and inode,
   * which is what in-use detection compares. */
  if (!make_dir (dir, error) || !make_file_in (dir, "dev", dev_value, error)
      || !make_file_in (dir, "uevent", uevent, error)
      || !make_link ("../../../../class/vfio", subsystem, error)
      || !make_dir (class_dir, error)
      || !make_link (class_target, class_link, error)
      || !make_dir (node_dir, error) || !make_dir (char_dir, error))
    return FALSE;
  fd = g_open (node, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return set_errno_error (error, errno, "create", node);
  close (fd);
  if (!make_link (char_target, char_link, error))
    return FALSE;

  umockdev_testbed_uevent (tb, devpath, "add");
  return TRUE;
}

void
pp_testbed_remove_vfio_group (UMockdevTestbed *tb, int group)
{
  static const char *const files[] = { "dev", "uevent", "subsystem" };
  g_autofree char *root = NULL;
  g_autofree char *devdir = NULL;
  g_autofree char *devpath = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *node = NULL;
  g_autofree char *class_link = NULL;
  g_autofree char *char_link = NULL;

  g_return_if_fail (UMOCKDEV_IS_TESTBED (tb));
  g_return_if_fail (group >= 0);

  root = get_root (tb);
  if (!vfio_group_exists (root, group))
    return;

  devdir = vfio_group_devdir (group);
  devpath = g_strconcat ("/sys/", devdir, NULL);
  dir = g_build_filename (root, "sys", devdir, NULL);
  node = g_strdup_printf ("%s/dev/vfio/%d", root, group);
  class_link = g_strdup_printf ("%s/sys/class/vfio/%d", root, group);
  char_link = g_strdup_printf ("%s/sys/dev/char/%d:%d", root, VFIO_GROUP_MAJOR,
                               group);

  /* As device_del() orders it: the node and the links go before the
   * "remove" uevent, the directory after it (the uevent needs it). */
  g_unlink (node);
  g_unlink (char_link);
  g_unlink (class_link);
  umockdev_testbed_uevent (tb, devpath, "remove");
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);

      g_unlink (path);
    }
  g_rmdir (dir);
}

char *
pp_testbed_get_root (UMockdevTestbed *tb)
{
  g_return_val_if_fail (UMOCKDEV_IS_TESTBED (tb), NULL);

  return get_root (tb);
}

void
pp_testbed_clear (UMockdevTestbed *tb)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (UMOCKDEV_IS_TESTBED (tb));

  umockdev_testbed_clear (tb);
  if (!add_static_parts (tb, &error))
    g_error ("pp-testbed: cannot create the PCI sysfs skeleton: %s",
             error->message);
}

UMockdevTestbed *
pp_testbed_new (void)
{
  UMockdevTestbed *tb = umockdev_testbed_new ();
  g_autoptr (GError) error = NULL;

  /* Only meaningful after umockdev_testbed_new(): the answer is cached on
   * the first call.  Without the preload, /sys is the machine's own. */
  if (!umockdev_in_mock_environment ())
    {
      /* Removes only the fresh temporary directory, not /sys. */
      g_object_unref (tb);
      g_error ("pp-testbed: not running under libumockdev-preload; refusing "
               "to go on, as /sys would be this machine's real sysfs (run "
               "under umockdev-wrapper or with "
               "LD_PRELOAD=libumockdev-preload.so.0)");
    }

  if (!add_static_parts (tb, &error))
    g_error ("pp-testbed: cannot create the PCI sysfs skeleton: %s",
             error->message);
  return tb;
}

static gboolean
load_data (UMockdevTestbed *tb,
           const char *data,
           gssize length,
           const char *source_name,
           gboolean quiet,
           GError **error)
{
  g_autoptr (Loader) l = NULL;

  g_return_val_if_fail (UMOCKDEV_IS_TESTBED (tb), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  l = loader_new (source_name != NULL ? source_name : "(fixture)");
  l->quiet = quiet;
  if (!parse_fixture (l, data, length, error))
    return FALSE;
  return build (tb, l, error);
}

gboolean
pp_testbed_load_data (UMockdevTestbed *tb,
                      const char *data,
                      gssize length,
                      const char *source_name,
                      GError **error)
{
  return load_data (tb, data, length, source_name, FALSE, error);
}

static gboolean
load_file (UMockdevTestbed *tb,
           const char *fixture_path,
           gboolean quiet,
           GError **error)
{
  g_autofree char *data = NULL;
  gsize length;

  g_return_val_if_fail (UMOCKDEV_IS_TESTBED (tb), FALSE);
  g_return_val_if_fail (fixture_path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!g_file_get_contents (fixture_path, &data, &length, error))
    return FALSE;
  return load_data (tb, data, (gssize) length, fixture_path, quiet, error);
}

gboolean
pp_testbed_load (UMockdevTestbed *tb, const char *fixture_path, GError **error)
{
  return load_file (tb, fixture_path, FALSE, error);
}

gboolean
pp_testbed_load_quietly (UMockdevTestbed *tb,
                         const char *fixture_path,
                         GError **error)
{
  return load_file (tb, fixture_path, TRUE, error);
}

char *
pp_testbed_fixture_path (const char *name)
{
  const char *dir = g_getenv ("PP_FIXTURES_DIR");
  g_autofree char *file = NULL;
  g_autofree char *path = NULL;

  g_return_val_if_fail (name != NULL, NULL);

  if (dir == NULL || *dir == '\0')
    dir = PP_FIXTURES_DIR;
  file = g_str_has_suffix (name, ".topo") ? g_strdup (name)
                                          : g_strconcat (name, ".topo", NULL);
  path = g_build_filename (dir, file, NULL);
  return g_canonicalize_filename (path, NULL);
}

char *
pp_testbed_get_devpath (UMockdevTestbed *tb, const char *address)
{
  g_autofree char *root = NULL;
  g_autofree char *devices = NULL;
  g_autofree char *link = NULL;
  g_autofree char *target = NULL;
  g_autofree char *absolute = NULL;

  g_return_val_if_fail (UMOCKDEV_IS_TESTBED (tb), NULL);
  g_return_val_if_fail (address != NULL, NULL);

  root = get_root (tb);
  devices = g_build_filename (root, "sys/bus/pci/devices", NULL);
  link = g_build_filename (devices, address, NULL);
  target = g_file_read_link (link, NULL);
  if (target == NULL)
    return NULL;

  absolute = g_canonicalize_filename (target, devices);
  if (!g_str_has_prefix (absolute, root) || absolute[strlen (root)] != '/')
    return NULL;
  return g_strdup (absolute + strlen (root));
}
