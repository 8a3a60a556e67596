#include "pp-device.h"

#include "pp-address.h"
#include "pp-driver.h"
#include "pp-pci-class.h"

struct _PpDevice
{
  GObject parent_instance;

  char *address;
  /* The address as a number, for sorting thousands of devices without
   * parsing their addresses at every comparison; 0 if unparsable. */
  guint64 sort_key;
  char *syspath;
  guint vendor_id;
  guint device_id;
  guint subsystem_vendor_id;
  guint subsystem_device_id;
  guchar revision;
  guint class_code;
  char *vendor_name;
  char *device_name;
  char *device_type;
  const char *class_type; /* static: what the class code says */
  char *catalog_type;     /* NULL when the catalog names nothing */
  char *resource_name;
  char *owner;
  gboolean persistent;
  char *driver;
  char *driver_override;
  char *original_driver;
  gboolean in_use;
  char *state;
  int iommu_group;
  gboolean group_viable;
  int numa_node;
  char *physical_function;
  char **virtual_functions;
  gboolean boot_vga;
  char **reset_methods;
  char *protection_reason;
};

enum
{
  PROP_0,
  PROP_ADDRESS,
  PROP_SYSPATH,
  PROP_VENDOR_ID,
  PROP_DEVICE_ID,
  PROP_SUBSYSTEM_VENDOR_ID,
  PROP_SUBSYSTEM_DEVICE_ID,
  PROP_REVISION,
  PROP_CLASS_CODE,
  PROP_VENDOR_NAME,
  PROP_DEVICE_NAME,
  PROP_DEVICE_TYPE,
  PROP_DRIVER,
  PROP_DRIVER_OVERRIDE,
  PROP_ORIGINAL_DRIVER,
  PROP_STATE,
  PROP_IOMMU_GROUP,
  PROP_GROUP_VIABLE,
  PROP_NUMA_NODE,
  PROP_PHYSICAL_FUNCTION,
  PROP_VIRTUAL_FUNCTIONS,
  PROP_BOOT_VGA,
  PROP_RESET_METHODS,
  PROP_PROTECTION_REASON,
  PROP_RESOURCE_NAME,
  PROP_OWNER,
  PROP_PERSISTENT,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_TYPE (PpDevice, pp_device, G_TYPE_OBJECT)

static void
pp_device_finalize (GObject *object)
{
  PpDevice *self = PP_DEVICE (object);

  g_free (self->address);
  g_free (self->syspath);
  g_free (self->vendor_name);
  g_free (self->device_name);
  g_free (self->device_type);
  g_free (self->catalog_type);
  g_free (self->resource_name);
  g_free (self->owner);
  g_free (self->driver);
  g_free (self->driver_override);
  g_free (self->original_driver);
  g_free (self->state);
  g_free (self->physical_function);
  g_strfreev (self->virtual_functions);
  g_strfreev (self->reset_methods);
  g_free (self->protection_reason);
  G_OBJECT_CLASS (pp_device_parent_class)->finalize (object);
}

static void
pp_device_get_property (GObject *object,
                        guint prop_id,
                        GValue *value,
                        GParamSpec *pspec)
{
  PpDevice *self = PP_DEVICE (object);

  switch (prop_id)
    {
      case PROP_ADDRESS:
        g_value_set_string (value, self->address);
        break;
      case PROP_SYSPATH:
        g_value_set_string (value, self->syspath);
        break;
      case PROP_VENDOR_ID:
        g_value_set_uint (value, self->vendor_id);
        break;
      case PROP_DEVICE_ID:
        g_value_set_uint (value, self->device_id);
        break;
      case PROP_SUBSYSTEM_VENDOR_ID:
        g_value_set_uint (value, self->subsystem_vendor_id);
        break;
      case PROP_SUBSYSTEM_DEVICE_ID:
        g_value_set_uint (value, self->subsystem_device_id);
        break;
      case PROP_REVISION:
        g_value_set_uchar (value, self->revision);
        break;
      case PROP_CLASS_CODE:
        g_value_set_uint (value, self->class_code);
        break;
      case PROP_VENDOR_NAME:
        g_value_set_string (value, self->vendor_name);
        break;
      case PROP_DEVICE_NAME:
        g_value_set_string (value, self->device_name);
        break;
      case PROP_DEVICE_TYPE:
        g_value_set_string (value, self->device_type);
        break;
      case PROP_DRIVER:
        g_value_set_string (value, self->driver);
        break;
      case PROP_DRIVER_OVERRIDE:
        g_value_set_string (value, self->driver_override);
        break;
      case PROP_ORIGINAL_DRIVER:
        g_value_set_string (value, self->original_driver);
        break;
      case PROP_STATE:
        g_value_set_string (value, self->state);
        break;
      case PROP_IOMMU_GROUP:
        g_value_set_int (value, self->iommu_group);
        break;
      case PROP_GROUP_VIABLE:
        g_value_set_boolean (value, self->group_viable);
        break;
      case PROP_NUMA_NODE:
        g_value_set_int (value, self->numa_node);
        break;
      case PROP_PHYSICAL_FUNCTION:
        g_value_set_string (value, self->physical_function);
        break;
      case PROP_VIRTUAL_FUNCTIONS:
        g_value_set_boxed (value, self->virtual_functions);
        break;
      case PROP_BOOT_VGA:
        g_value_set_boolean (value, self->boot_vga);
        break;
      case PROP_RESET_METHODS:
        g_value_set_boxed (value, self->reset_methods);
        break;
      case PROP_PROTECTION_REASON:
        g_value_set_string (value, self->protection_reason);
        break;
      case PROP_RESOURCE_NAME:
        g_value_set_string (value, self->resource_name);
        break;
      case PROP_OWNER:
        g_value_set_string (value, self->owner);
        break;
      case PROP_PERSISTENT:
        g_value_set_boolean (value, self->persistent);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static GParamSpec *
string_prop (const char *name)
{
  return g_param_spec_string (name, NULL, NULL, "",
                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
uint_prop (const char *name, guint max)
{
  return g_param_spec_uint (name, NULL, NULL, 0, max, 0,
                            G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
int_prop (const char *name)
{
  return g_param_spec_int (name, NULL, NULL, -1, G_MAXINT, -1,
                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
bool_prop (const char *name)
{
  return g_param_spec_boolean (name, NULL, NULL, FALSE,
                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
strv_prop (const char *name)
{
  return g_param_spec_boxed (name, NULL, NULL, G_TYPE_STRV,
                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
}

static void
pp_device_class_init (PpDeviceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = pp_device_finalize;
  object_class->get_property = pp_device_get_property;

  /* Names and types match the generated D-Bus skeleton's properties so
   * that the export layer can bind them one to one. */
  props[PROP_ADDRESS] = string_prop ("address");
  props[PROP_SYSPATH] = string_prop ("syspath");
  props[PROP_VENDOR_ID] = uint_prop ("vendor-id", G_MAXUINT16);
  props[PROP_DEVICE_ID] = uint_prop ("device-id", G_MAXUINT16);
  props[PROP_SUBSYSTEM_VENDOR_ID]
      = uint_prop ("subsystem-vendor-id", G_MAXUINT16);
  props[PROP_SUBSYSTEM_DEVICE_ID]
      = uint_prop ("subsystem-device-id", G_MAXUINT16);
  props[PROP_REVISION]
      = g_param_spec_uchar ("revision", NULL, NULL, 0, G_MAXUINT8, 0,
                            G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_CLASS_CODE] = uint_prop ("class-code", 0xffffff);
  props[PROP_VENDOR_NAME] = string_prop ("vendor-name");
  props[PROP_DEVICE_NAME] = string_prop ("device-name");
  props[PROP_DEVICE_TYPE] = string_prop ("type");
  props[PROP_DRIVER] = string_prop ("driver");
  props[PROP_DRIVER_OVERRIDE] = string_prop ("driver-override");
  props[PROP_ORIGINAL_DRIVER] = string_prop ("original-driver");
  props[PROP_STATE] = string_prop ("state");
  props[PROP_IOMMU_GROUP] = int_prop ("iommu-group");
  props[PROP_GROUP_VIABLE] = bool_prop ("group-viable");
  props[PROP_NUMA_NODE] = int_prop ("numa-node");
  props[PROP_PHYSICAL_FUNCTION] = string_prop ("physical-function");
  props[PROP_VIRTUAL_FUNCTIONS] = strv_prop ("virtual-functions");
  props[PROP_BOOT_VGA] = bool_prop ("boot-vga");
  props[PROP_RESET_METHODS] = strv_prop ("reset-methods");
  props[PROP_PROTECTION_REASON] = string_prop ("protection-reason");
  props[PROP_RESOURCE_NAME] = string_prop ("resource-name");
  props[PROP_OWNER] = string_prop ("owner");
  props[PROP_PERSISTENT] = bool_prop ("persistent");

  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
pp_device_init (PpDevice *self)
{
  self->iommu_group = -1;
  self->numa_node = -1;
  self->virtual_functions = g_new0 (char *, 1);
  self->reset_methods = g_new0 (char *, 1);
  self->original_driver = g_strdup ("");
  self->protection_reason = g_strdup ("");
  self->resource_name = g_strdup ("");
  self->owner = g_strdup ("");
}

static void
set_string (PpDevice *self, char **field, const char *value, guint prop)
{
  if (g_strcmp0 (*field, value) == 0)
    return;
  g_free (*field);
  *field = g_strdup (value);
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
set_strv (PpDevice *self, char ***field, const char *const *value, guint prop)
{
  if (g_strv_equal ((const char *const *) *field, value))
    return;
  g_strfreev (*field);
  *field = g_strdupv ((char **) value);
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
set_uint (PpDevice *self, guint *field, guint value, guint prop)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
set_int (PpDevice *self, int *field, int value, guint prop)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
set_bool (PpDevice *self, gboolean *field, gboolean value, guint prop)
{
  value = !!value;
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), props[prop]);
}

static void
update_state (PpDevice *self)
{
  const char *state;

  if (self->driver == NULL || *self->driver == '\0')
    state = PP_DEVICE_STATE_UNBOUND;
  else if (!pp_driver_is_vfio (self->driver))
    state = PP_DEVICE_STATE_HOST;
  else if (self->in_use)
    state = PP_DEVICE_STATE_IN_USE;
  else
    state = PP_DEVICE_STATE_VFIO;
  set_string (self, &self->state, state, PROP_STATE);
}

void
pp_device_update (PpDevice *self, const PpSysfsDevice *info)
{
  g_return_if_fail (PP_IS_DEVICE (self));
  g_return_if_fail (g_strcmp0 (self->address, info->address) == 0);

  g_object_freeze_notify (G_OBJECT (self));

  set_string (self, &self->syspath, info->syspath, PROP_SYSPATH);
  set_uint (self, &self->vendor_id, info->vendor_id, PROP_VENDOR_ID);
  set_uint (self, &self->device_id, info->device_id, PROP_DEVICE_ID);
  set_uint (self, &self->subsystem_vendor_id, info->subsystem_vendor_id,
            PROP_SUBSYSTEM_VENDOR_ID);
  set_uint (self, &self->subsystem_device_id, info->subsystem_device_id,
            PROP_SUBSYSTEM_DEVICE_ID);
  if (self->revision != info->revision)
    {
      self->revision = info->revision;
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_REVISION]);
    }
  set_uint (self, &self->class_code, info->class_code, PROP_CLASS_CODE);
  self->class_type = pp_pci_class_to_type (info->class_code);
  set_string (self, &self->device_type,
              self->catalog_type != NULL ? self->catalog_type
                                         : self->class_type,
              PROP_DEVICE_TYPE);
  set_string (self, &self->driver, info->driver, PROP_DRIVER);
  set_string (self, &self->driver_override, info->driver_override,
              PROP_DRIVER_OVERRIDE);
  update_state (self);
  set_int (self, &self->iommu_group, info->iommu_group, PROP_IOMMU_GROUP);
  set_int (self, &self->numa_node, info->numa_node, PROP_NUMA_NODE);
  set_string (self, &self->physical_function, info->physfn,
              PROP_PHYSICAL_FUNCTION);
  set_strv (self, &self->virtual_functions, (const char *const *) info->virtfns,
            PROP_VIRTUAL_FUNCTIONS);
  set_bool (self, &self->boot_vga, info->boot_vga, PROP_BOOT_VGA);
  set_strv (self, &self->reset_methods,
            (const char *const *) info->reset_methods, PROP_RESET_METHODS);

  g_object_thaw_notify (G_OBJECT (self));
}

PpDevice *
pp_device_new (const PpSysfsDevice *info,
               const char *vendor_name,
               const char *device_name)
{
  PpDevice *self = g_object_new (PP_TYPE_DEVICE, NULL);

  self->address = g_strdup (info->address);
  {
    PpAddress parsed;

    if (pp_address_parse (self->address, FALSE, &parsed, NULL))
      self->sort_key = 1
                       + ((guint64) parsed.domain << 24 | parsed.bus << 16
                          | parsed.slot << 8 | parsed.function);
  }
  self->vendor_name = g_strdup (vendor_name);
  self->device_name = g_strdup (device_name);
  pp_device_update (self, info);
  return self;
}

const char *
pp_device_get_address (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->address;
}

const char *
pp_device_get_syspath (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->syspath;
}

const char *
pp_device_get_driver (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->driver;
}

int
pp_device_get_iommu_group (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), -1);
  return self->iommu_group;
}

void
pp_device_set_group_viable (PpDevice *self, gboolean viable)
{
  g_return_if_fail (PP_IS_DEVICE (self));
  set_bool (self, &self->group_viable, viable, PROP_GROUP_VIABLE);
}

int
pp_device_compare_by_address (gconstpointer a, gconstpointer b)
{
  PpDevice *da = *(PpDevice *const *) a;
  PpDevice *db = *(PpDevice *const *) b;

  if (da->sort_key != 0 && db->sort_key != 0)
    return da->sort_key < db->sort_key ? -1 : da->sort_key > db->sort_key;
  return pp_address_str_compare (da->address, db->address);
}

void
pp_device_set_original_driver (PpDevice *self, const char *driver)
{
  g_return_if_fail (PP_IS_DEVICE (self));
  set_string (self, &self->original_driver, driver ? driver : "",
              PROP_ORIGINAL_DRIVER);
}

void
pp_device_set_protection_reason (PpDevice *self, const char *reason)
{
  g_return_if_fail (PP_IS_DEVICE (self));
  set_string (self, &self->protection_reason, reason ? reason : "",
              PROP_PROTECTION_REASON);
}

void
pp_device_set_in_use (PpDevice *self, gboolean in_use)
{
  g_return_if_fail (PP_IS_DEVICE (self));
  self->in_use = !!in_use;
  update_state (self);
}

const char *
pp_device_get_driver_override (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->driver_override;
}

const char *
pp_device_get_original_driver (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->original_driver;
}

const char *
pp_device_get_state (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->state;
}

const char *
pp_device_get_device_type (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->device_type;
}

const char *
pp_device_get_vendor_name (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->vendor_name;
}

const char *
pp_device_get_device_name (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->device_name;
}

gboolean
pp_device_get_boot_vga (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), FALSE);
  return self->boot_vga;
}

const char *
pp_device_get_protection_reason (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->protection_reason;
}

guint32
pp_device_get_class_code (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), 0);
  return self->class_code;
}

void
pp_device_set_catalog_entry (PpDevice *self,
                             const char *resource_name,
                             const char *type)
{
  g_return_if_fail (PP_IS_DEVICE (self));
  g_object_freeze_notify (G_OBJECT (self));
  g_free (self->catalog_type);
  self->catalog_type = g_strdup (type);
  set_string (self, &self->resource_name,
              resource_name != NULL ? resource_name : "", PROP_RESOURCE_NAME);
  set_string (self, &self->device_type, type != NULL ? type : self->class_type,
              PROP_DEVICE_TYPE);
  g_object_thaw_notify (G_OBJECT (self));
}

const char *
pp_device_get_resource_name (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->resource_name;
}

void
pp_device_set_owner (PpDevice *self, const char *owner)
{
  g_return_if_fail (PP_IS_DEVICE (self));
  set_string (self, &self->owner, owner != NULL ? owner : "", PROP_OWNER);
}

const char *
pp_device_get_owner (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), NULL);
  return self->owner;
}

void
pp_device_set_persistent (PpDevice *self, gboolean persistent)
{
  g_return_if_fail (PP_IS_DEVICE (self));
  set_bool (self, &self->persistent, persistent, PROP_PERSISTENT);
}

gboolean
pp_device_get_persistent (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), FALSE);
  return self->persistent;
}

gboolean
pp_device_is_free (PpDevice *self)
{
  g_return_val_if_fail (PP_IS_DEVICE (self), FALSE);
  return *self->owner == '\0' && *self->protection_reason == '\0'
         && !self->in_use;
}
