/* PpDevice: the model of one PCI function.
 *
 * A plain GObject whose properties mirror DESIGN.md's device model; the
 * D-Bus layer binds them to the exported interface, so nothing here knows
 * about D-Bus.  Related devices (group members, PF, VFs) are named by
 * address.  Setters notify only when a value really changes, so each
 * notification is a real change worth announcing.
 */
#pragma once

#include "pp-sysfs.h"

#include <glib-object.h>

G_BEGIN_DECLS

#define PP_TYPE_DEVICE (pp_device_get_type ())
G_DECLARE_FINAL_TYPE (PpDevice, pp_device, PP, DEVICE, GObject)

/* Values of the "state" property. */
#define PP_DEVICE_STATE_HOST "host"
#define PP_DEVICE_STATE_UNBOUND "unbound"
#define PP_DEVICE_STATE_VFIO "vfio"
#define PP_DEVICE_STATE_IN_USE "in-use"

/* Creates the device from a sysfs snapshot and its database names. */
PpDevice *pp_device_new (const PpSysfsDevice *info,
                         const char *vendor_name,
                         const char *device_name);

/* Applies a newer snapshot of the same device. */
void pp_device_update (PpDevice *self, const PpSysfsDevice *info);

const char *pp_device_get_address (PpDevice *self);
const char *pp_device_get_syspath (PpDevice *self);
const char *pp_device_get_driver (PpDevice *self);
const char *pp_device_get_driver_override (PpDevice *self);
const char *pp_device_get_original_driver (PpDevice *self);
const char *pp_device_get_state (PpDevice *self);
const char *pp_device_get_device_type (PpDevice *self);
const char *pp_device_get_vendor_name (PpDevice *self);
const char *pp_device_get_device_name (PpDevice *self);
const char *pp_device_get_protection_reason (PpDevice *self);
gboolean pp_device_get_boot_vga (PpDevice *self);
guint32 pp_device_get_class_code (PpDevice *self);
int pp_device_get_iommu_group (PpDevice *self);

/* The host driver Unbind restores, "" when pcipassd did not move it. */
void pp_device_set_original_driver (PpDevice *self, const char *driver);

/* "" or one of the PP_PROTECT_* reasons. */
void pp_device_set_protection_reason (PpDevice *self, const char *reason);

/* Whether the VFIO group is open by a process: State "in-use". */
void pp_device_set_in_use (PpDevice *self, gboolean in_use);

/* From the catalog: the resource the device belongs to and the type the
 * catalog gives it; NULLs when no entry matches (Type from the class). */
void pp_device_set_catalog_entry (PpDevice *self,
                                  const char *resource_name,
                                  const char *type);
const char *pp_device_get_resource_name (PpDevice *self);

/* The lease holder, "" for none. */
void pp_device_set_owner (PpDevice *self, const char *owner);
const char *pp_device_get_owner (PpDevice *self);

/* Whether a persistent binding is on record for the device. */
void pp_device_set_persistent (PpDevice *self, gboolean persistent);
gboolean pp_device_get_persistent (PpDevice *self);

/* Not leased, not protected and not in use by a process: a device
 * Allocate may hand out. */
gboolean pp_device_is_free (PpDevice *self);

/* GCompareFunc for a GPtrArray of PpDevice: by address. */
int pp_device_compare_by_address (gconstpointer a, gconstpointer b);

/* Set by the IOMMU group table, which knows the other members. */
void pp_device_set_group_viable (PpDevice *self, gboolean viable);

G_END_DECLS
