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

static void
scan_mounts (GHashTable *protected)
{
  g_autofree char *contents = NULL;
  g_autoptr (GHashTable) seen
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents ("/proc/self/mountinfo", &contents, NULL, NULL))
    return;
  lines = g_strsplit (contents, "\n", -1);
  for (char **line = lines; *line != NULL; line++)
    {
      /* "36 35 259:2 / / rw - ext4 /dev/nvme0n1p2 rw": the third field is
       * the mounted device's major:minor. */
      g_auto (GStrv) fields = g_strsplit (*line, " ", 4);
      g_autofree char *link = NULL;

      if (g_strv_length (fields) < 3 || g_str_has_prefix (fields[2], "0:")
          || g_hash_table_contains (seen, fields[2]))
        continue;
      g_hash_table_add (seen, g_strdup (fields[2]));
      link = g_build_filename ("/sys/dev/block", fields[2], NULL);
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

  if (strchr (ifname, '/') != NULL || g_str_equal (ifname, ".."))
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

static void
scan_routes (GHashTable *protected)
{
  g_autofree char *v4 = NULL;
  g_autofree char *v6 = NULL;

  /* "eno1 00000000 0102A8C0 0003 0 0 100 00000000 0 0 0": the interface
   * of each line whose destination and mask are 0. */
  if (g_file_get_contents ("/proc/net/route", &v4, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (v4, "\n", -1);
      for (char **line = lines + (lines[0] != NULL); *line != NULL; line++)
        {
          g_autoptr (GPtrArray) fields = split_fields (*line);

          if (fields->len >= 8
              && g_str_equal (g_ptr_array_index (fields, 1), "00000000")
              && g_str_equal (g_ptr_array_index (fields, 7), "00000000"))
            mark_interface (protected, g_ptr_array_index (fields, 0), 0);
        }
    }

  /* "00000000000000000000000000000000 00 ... eno1": destination ::/0,
   * interface last. */
  if (g_file_get_contents ("/proc/net/ipv6_route", &v6, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (v6, "\n", -1);
      for (char **line = lines; *line != NULL; line++)
        {
          g_autoptr (GPtrArray) fields = split_fields (*line);

          if (fields->len >= 10
              && g_str_equal (g_ptr_array_index (fields, 0),
                              "00000000000000000000000000000000")
              && g_str_equal (g_ptr_array_index (fields, 1), "00")
              && !g_str_equal (g_ptr_array_index (fields, fields->len - 1),
                               "lo"))
            mark_interface (protected,
                            g_ptr_array_index (fields, fields->len - 1), 0);
        }
    }
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
