/* sysfs attribute values as the daemon reads them: a uevent file, ids and
 * class (hex),
 * numa_node and boot_vga (decimal), reset_method (words),
 * driver_override, and the driver names it would write back. */
#include "fuzz.h"
#include "pp-kernel.h"
#include "pp-sysfs.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = pp_fuzz_string (data, size);
  g_autofree char *override = NULL;
  g_auto (GStrv) words = NULL;
  PpSysfsUevent uevent;
  gint64 value;

  pp_fuzz_init ();
  pp_sysfs_parse_uevent (text, &uevent);
  g_assert_true (!uevent.has_class || uevent.class_code <= 0xffffff);
  if (pp_sysfs_parse_number (text, 16, 0, G_MAXUINT16, &value))
    g_assert_true (value >= 0 && value <= G_MAXUINT16);
  if (pp_sysfs_parse_number (text, 16, 0, 0xffffff, &value))
    g_assert_true (value >= 0 && value <= 0xffffff);
  if (pp_sysfs_parse_number (text, 10, -1, G_MAXINT, &value))
    g_assert_true (value >= -1 && value <= G_MAXINT);

  words = pp_sysfs_split_words (text);
  for (char **w = words; *w != NULL; w++)
    g_assert_true (**w != '\0' && strpbrk (*w, " \t\n") == NULL);

  override = pp_sysfs_parse_override (text);
  g_assert_null (strchr (override, '\n'));
  pp_kernel_driver_name_is_valid (override, TRUE);
  if (pp_kernel_driver_name_is_valid (text, FALSE))
    g_assert_true (strchr (text, '/') == NULL && strcmp (text, "..") != 0);
  return 0;
}
