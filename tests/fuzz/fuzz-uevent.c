/* The fields of a uevent as libudev hands them over (ACTION, SUBSYSTEM,
 * the sysname), NUL-separated in the input: what the daemon makes of
 * them.  libudev itself parses the netlink datagram and checks that the
 * kernel sent it. */
#include "fuzz.h"
#include "pp-address.h"
#include "pp-monitor.h"

#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *copy = g_malloc (size + 3);
  const char *fields[3];
  const char *p = copy;
  g_autofree char *address = NULL;
  int group;
  PpUeventKind kind;

  pp_fuzz_init ();
  memcpy (copy, data, size);
  memset (copy + size, 0, 3);
  for (guint i = 0; i < 3; i++)
    {
      fields[i] = p;
      p += strlen (p) + (p < copy + size ? 1 : 0);
    }

  kind
      = pp_monitor_classify (fields[0], fields[1], fields[2], &address, &group);
  switch (kind)
    {
      case PP_UEVENT_PCI_ADD:
      case PP_UEVENT_PCI_REMOVE:
      case PP_UEVENT_PCI_CHANGE:
        /* Only a canonical address reaches the model. */
        g_assert_nonnull (address);
        g_assert_cmpstr (address, ==, fields[2]);
        g_free (pp_address_to_object_path (address));
        break;
      case PP_UEVENT_VFIO_GROUP:
        g_assert_cmpint (group, >=, 0);
        g_assert_null (address);
        break;
      case PP_UEVENT_IGNORE:
        g_assert_null (address);
        break;
    }
  return 0;
}
