#include "pp-protect.h"

#include "pp-address.h"

#include <gio/gio.h>
#include <string.h>

/* Stacked devices (dm, md, bonds, bridges) are followed this deep. */
#define MAX_DEPTH 8

/* Marks every PCI function whose directory is on the sysfs path that
 * @link resolves to. */
static void
mark_path (GHashTable *protected, const char *link, const char *reason)
{
  g_autofree char *target = g_file_read_link (link, NULL);
  g_auto (GStrv) parts = NULL;

  if (target == NULL)
    return;
  parts = g_strsplit (target, "/", -1);
  for (char **p = parts; *p != NULL; p++)
    {
      if (pp_address_parse (*p, FALSE, NULL, NULL)
          && !g_hash_table_contains (protected, *p))
        g_hash_table_insert (protected, g_strdup (*p), (gpointer) reason);
    }
}

static void
mark_block (GHashTable *protected, const char *sysdir, int depth)
{
  g_autofree char *slaves = g_build_filename (sysdir, "slaves", NULL);
  g_autoptr (GDir) dir = NULL;
  const char *name;

  mark_path (protected, sysdir, PP_PROTECT_MOUNTED);

  /* A device-mapper or md device lives on its "slaves". */
  if (depth >= MAX_DEPTH)
    return;
  dir = g_dir_open (slaves, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *slave
          = g_build_filename ("/sys/class/block", name, NULL);
      mark_block (protected, slave, depth + 1);
    }
}

static gboolean
is_devnum (const char *text)
{
  const char *colon = strchr (text, ':');
  guint64 n;

  if (colon == NULL)
    return FALSE;
  {
    g_autofree char *major = g_strndup (text, (gsize) (colon - text));
    return g_ascii_string_to_unsigned (major, 10, 1, G_MAXUINT32, &n, NULL)
           && g_ascii_string_to_unsigned (colon + 1, 10, 0, G_MAXUINT32, &n,
                                          NULL);
  }
}

GPtrArray *
pp_protect_parse_mountinfo (const char *mountinfo)
{
  GPtrArray *devnums = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_auto (GStrv) lines = g_strsplit (mountinfo, "\n", -1);

  for (char **line = lines; *line != NULL; line++)
    {
      /* "36 35 259:2 / / rw - ext4 /dev/nvme0n1p2 rw": the third field is
       * the mounted device's major:minor; major 0 is no device. */
      g_auto (GStrv) fields = g_strsplit (*line, " ", 4);

      if (g_strv_length (fields) < 3 || !is_devnum (fields[2])
          || g_hash_table_contains (seen, fields[2]))
        continue;
      g_ptr_array_add (devnums, g_strdup (fields[2]));
      g_hash_table_add (seen, devnums->pdata[devnums->len - 1]);
    }
  return devnums;
}

static void
scan_mounts (GHashTable *protected)
{
  g_autofree char *contents = NULL;
  g_autoptr (GPtrArray) devnums = NULL;

  if (!g_file_get_contents ("/proc/self/mountinfo", &contents, NULL, NULL))
    return;
  devnums = pp_protect_parse_mountinfo (contents);
  for (guint i = 0; i < devnums->len; i++)
    {
      g_autofree char *link
          = g_build_filename ("/sys/dev/block", devnums->pdata[i], NULL);
      mark_block (protected, link, 0);
    }
}

static void
mark_interface (GHashTable *protected, const char *ifname, int depth)
{
  g_autofree char *sysdir = g_build_filename ("/sys/class/net", ifname, NULL);
  g_autofree char *brif = g_build_filename (sysdir, "brif", NULL);
  g_autoptr (GDir) dir = NULL;
  const char *name;

  /* Names below come from sysfs listings: still never a path. */
  if (strchr (ifname, '/') != NULL || g_str_equal (ifname, "..")
      || g_str_equal (ifname, "."))
    return;
  mark_path (protected, sysdir, PP_PROTECT_DEFAULT_ROUTE);
  if (depth >= MAX_DEPTH)
    return;

  /* Bonds, VLANs and macvlans name their lower devices "lower_<if>";
   * bridges list their ports in brif/. */
  dir = g_dir_open (sysdir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "lower_"))
      mark_interface (protected, name + strlen ("lower_"), depth + 1);
  g_clear_pointer (&dir, g_dir_close);
  dir = g_dir_open (brif, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    mark_interface (protected, name, depth + 1);
}

/* The whitespace-separated fields of a /proc table line. */
static GPtrArray *
split_fields (const char *line)
{
  g_auto (GStrv) words = g_strsplit_set (line, " \t", -1);
  GPtrArray *fields = g_ptr_array_new_with_free_func (g_free);

  for (char **w = words; *w != NULL; w++)
    if (**w != '\0')
      g_ptr_array_add (fields, g_strdup (*w));
  return fields;
}

static gboolean
is_ifname (const char *name)
{
  gsize len = strlen (name);

  return len > 0 && len <= 15 && strchr (name, '/') == NULL
         && !g_str_equal (name, ".") && !g_str_equal (name, "..");
}

static void
add_ifname (GPtrArray *names, const char *name)
{
  if (!is_ifname (name))
    return;
  for (guint i = 0; i < names->len; i++)
    if (g_str_equal (names->pdata[i], name))
      return;
  g_ptr_array_add (names, g_strdup (name));
}

GPtrArray *
pp_protect_parse_default_routes (const char *route, const char *ipv6_route)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  /* "eno1 00000000 0102A8C0 0003 0 0 100 00000000 0 0 0": the interface
   * of each line whose destination and mask are 0; a header first. */
  if (route != NULL)
    {
      g_auto (GStrv) lines = g_strsplit (route, "\n", -1);
      for (char **line = lines + (lines[0] != NULL); *line != NULL; line++)
        {
          g_autoptr (GPtrArray) fields = split_fields (*line);

          if (fields->len >= 8
              && g_str_equal (g_ptr_array_index (fields, 1), "00000000")
              && g_str_equal (g_ptr_array_index (fields, 7), "00000000"))
            add_ifname (names, g_ptr_array_index (fields, 0));
        }
    }

  /* "00000000000000000000000000000000 00 ... eno1": destination ::/0,
   * interface last. */
  if (ipv6_route != NULL)
    {
      g_auto (GStrv) lines = g_strsplit (ipv6_route, "\n", -1);
      for (char **line = lines; *line != NULL; line++)
        {
          g_autoptr (GPtrArray) fields = split_fields (*line);

          if (fields->len >= 10
              && g_str_equal (g_ptr_array_index (fields, 0),
                              "00000000000000000000000000000000")
              && g_str_equal (g_ptr_array_index (fields, 1), "00")
              && !g_str_equal (g_ptr_array_index (fields, fields->len - 1),
                               "lo"))
            add_ifname (names, g_ptr_array_index (fields, fields->len - 1));
        }
    }
  return names;
}

static void
scan_routes (GHashTable *protected)
{
  g_autofree char *v4 = NULL;
  g_autofree char *v6 = NULL;
  g_autoptr (GPtrArray) names = NULL;

  g_file_get_contents ("/proc/net/route", &v4, NULL, NULL);
  g_file_get_contents ("/proc/net/ipv6_route", &v6, NULL, NULL);
  names = pp_protect_parse_default_routes (v4, v6);
  for (guint i = 0; i < names->len; i++)
    mark_interface (protected, names->pdata[i], 0);
}

GHashTable *
pp_protect_scan (void)
{
  GHashTable *protected
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  scan_mounts (protected);
  scan_routes (protected);
  return protected;
}
