/* Which PCI functions the host itself depends on.
 *
 * Reads /proc/self/mountinfo and /proc/net/route (and ipv6_route), and
 * follows each mounted block device and each default-route interface
 * through sysfs to the PCI functions on its path: the controller and
 * every bridge above it.  Moving any of them to vfio-pci takes the root
 * disk or the network away from the host.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PP_PROTECT_BOOT_VGA "boot-vga"
#define PP_PROTECT_MOUNTED "mounted-filesystem"
#define PP_PROTECT_DEFAULT_ROUTE "default-route"

/* address -> reason (static strings) for every function on the path to a
 * mounted block device or a default-route NIC.  Boot VGA is a device
 * property, not found here.  Unreadable files count as "nothing there". */
GHashTable *pp_protect_scan (void);

/* The parsers behind it, for any text: the distinct MAJ:MIN of the
 * mounted file systems backed by a device (major not 0) in @mountinfo,
 * and the interfaces carrying a default route in @route (/proc/net/route)
 * and @ipv6_route, either of which may be NULL.  Fields are not trusted:
 * a MAJ:MIN that is not two numbers and an interface name that could not
 * be one (empty, over 15 bytes, "/", ".", "..") are left out. */
GPtrArray *pp_protect_parse_mountinfo (const char *mountinfo);
GPtrArray *pp_protect_parse_default_routes (const char *route,
                                            const char *ipv6_route);

G_END_DECLS
