/* pcipassctl's commands for devices as resources: resources, reserve,
 * release, allocate, reload and hostdev.  Each prints a table or, with
 * json, the JSON of json-format.md, and returns FALSE with a message fit
 * for the user on failure. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  const char *argument; /* ADDR or RESOURCE, or NULL */
  const char *owner;    /* --owner */
  gboolean tied;        /* reserve --tied */
  int count;            /* allocate --count */
  int numa_node;        /* allocate --numa-node, -1 for any */
  gboolean json;
  gboolean no_ask_password;
} PpCtlResourceOptions;

gboolean pp_ctl_resources_run (const PpCtlResourceOptions *options,
                               GError **error);
gboolean pp_ctl_reserve_run (const PpCtlResourceOptions *options,
                             GError **error);
gboolean pp_ctl_release_run (const PpCtlResourceOptions *options,
                             GError **error);
gboolean pp_ctl_allocate_run (const PpCtlResourceOptions *options,
                              GError **error);
gboolean pp_ctl_reload_run (const PpCtlResourceOptions *options,
                            GError **error);

/* The libvirt <hostdev> elements and QEMU arguments for a device (with
 * the other endpoints of its IOMMU group), or for the devices leased to
 * an owner. */
gboolean pp_ctl_hostdev_run (const PpCtlResourceOptions *options,
                             GError **error);

G_END_DECLS
