/* pcipassctl validate.
 *
 * The methods are called by name: Manager.ValidateHost(a{sv}),
 * Manager.ValidateConfig(s, a{sv}) and Device.Validate(a{sv}), each
 * answering a(sssss) of (subject, check, severity, message, remedy).
 */
#include "config.h"

#include "pp-ctl-validate.h"

#include "pp-address.h"
#include "pp-ctl-inventory.h"
#include "pp-ctl-json.h"
#include "pp-error.h"
#include "pp-table.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#define MANAGER_PATH PP_OBJECT_ROOT "/manager"
#define MANAGER_INTERFACE "io.github.pcipassd1.Manager"

/* Far above what pcipassd accepts (1 MiB): its Config error then says
 * where the limit falls; this only keeps a stray huge file off the bus. */
#define MAX_FILE_SIZE (16 * 1024 * 1024)

G_DEFINE_QUARK (pp - ctl - validate - error - quark, pp_ctl_validate_error)

/* One result; the strings belong to the reply they were read from. */
typedef struct
{
  const char *subject;
  const char *check;
  const char *severity;
  const char *message;
  const char *remedy;
} Result;

/* The results of a call, and what holds their strings. */
typedef struct
{
  GArray *items;         /* Result */
  sd_bus_message *reply; /* read with sd-bus, or NULL */
  GVariant *variant;     /* read with GDBus, or NULL */
} Results;

static Results *
results_new (void)
{
  Results *results = g_new0 (Results, 1);

  results->items = g_array_new (FALSE, FALSE, sizeof (Result));
  return results;
}

static void
results_free (Results *results)
{
  if (results == NULL)
    return;
  g_array_unref (results->items);
  sd_bus_message_unref (results->reply);
  g_clear_pointer (&results->variant, g_variant_unref);
  g_free (results);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Results, results_free)

/* Takes @array, an a(sssss). */
static Results *
results_from_variant (GVariant *array)
{
  Results *results = results_new ();
  gsize n = g_variant_n_children (array);

  results->variant = array;
  for (gsize i = 0; i < n; i++)
    {
      Result r;

      g_variant_get_child (array, i, "(&s&s&s&s&s)", &r.subject, &r.check,
                           &r.severity, &r.message, &r.remedy);
      g_array_append_val (results->items, r);
    }
  return results;
}

static guint
count_failed (Results *results)
{
  guint n = 0;

  for (guint i = 0; i < results->items->len; i++)
    if (g_str_equal (g_array_index (results->items, Result, i).severity,
                     "fail"))
      n++;
  return n;
}

/* SUBJECT, CHECK, RESULT and MESSAGE columns, the remedy of each warn and
 * fail on an indented line below it, and a summary line. */
static char *
format_table (Results *results)
{
  static const char *const headers[] = {
    "SUBJECT",
    "CHECK",
    "RESULT",
    "MESSAGE",
  };
  g_autoptr (PpTable) table = pp_table_new (G_N_ELEMENTS (headers), headers);
  g_autofree char *text = NULL;
  guint passed = 0;
  guint warned = 0;
  guint failed = 0;
  guint skipped = 0;

  for (guint i = 0; i < results->items->len; i++)
    {
      const Result *r = &g_array_index (results->items, Result, i);
      const char *row[] = { r->subject, r->check, r->severity, r->message };

      pp_table_add_row (table, row);
      /* The remedy under the result it belongs to, where the eye is. */
      if (*r->remedy != '\0'
          && (g_str_equal (r->severity, "warn")
              || g_str_equal (r->severity, "fail")))
        {
          g_autofree char *line = g_strconcat ("    remedy: ", r->remedy, NULL);
          pp_table_add_line (table, line);
        }

      if (g_str_equal (r->severity, "pass"))
        passed++;
      else if (g_str_equal (r->severity, "warn"))
        warned++;
      else if (g_str_equal (r->severity, "fail"))
        failed++;
      else
        skipped++;
    }

  text = pp_table_render (table, NULL);
  return g_strdup_printf ("%s\n%u passed, %u warning%s, %u failed, %u "
                          "skipped\n",
                          text, passed, warned, warned == 1 ? "" : "s", failed,
                          skipped);
}

static void
append_member (GString *out, const char *key, const char *value, gboolean last)
{
  g_string_append (out, "    \"");
  g_string_append (out, key);
  g_string_append (out, "\" : ");
  /* As everywhere in pcipassctl's JSON, the bus's "" is null. */
  if (value == NULL)
    g_string_append (out, "null");
  else
    pp_ctl_json_append_string (out, value);
  g_string_append (out, last ? "\n" : ",\n");
}

/* A JSON array of {"subject", "check", "severity", "message", "remedy"}
 * objects (an empty remedy is null), laid out as json-glib lays out the
 * rest of pcipassctl's JSON.  Written directly: a whole host has tens of
 * thousands of results, and a node tree, or even a generator run, per
 * result costs more than the rest of the command. */
static void
print_json (Results *results, FILE *out)
{
  g_autoptr (GString) text = g_string_sized_new (65536);

  if (results->items->len == 0)
    {
      fputs ("[]\n", out);
      return;
    }
  g_string_append (text, "[\n");
  for (guint i = 0; i < results->items->len; i++)
    {
      const Result *r = &g_array_index (results->items, Result, i);

      g_string_append (text, "  {\n");
      append_member (text, "subject", r->subject, FALSE);
      append_member (text, "check", r->check, FALSE);
      append_member (text, "severity", r->severity, FALSE);
      append_member (text, "message", r->message, FALSE);
      append_member (text, "remedy", *r->remedy != '\0' ? r->remedy : NULL,
                     TRUE);
      g_string_append (text, i + 1 < results->items->len ? "  },\n" : "  }\n");
      if (text->len >= 60000)
        {
          fwrite (text->str, 1, text->len, out);
          g_string_truncate (text, 0);
        }
    }
  g_string_append (text, "]\n");
  fwrite (text->str, 1, text->len, out);
}

/* The reason in a "candidates" skip result's message, "not validated:
 * protected (REASON); ...", or NULL. */
static char *
protected_reason (const char *message)
{
  const char *start = strstr (message, "protected (");
  const char *end;

  if (start == NULL)
    return NULL;
  start += strlen ("protected (");
  end = strchr (start, ')');
  return end != NULL ? g_strndup (start, (gsize) (end - start)) : NULL;
}

/* Keeps @subject's "candidates" skip result out of the listing, for the
 * note; FALSE for any other result. */
static gboolean
note_not_validated (const char *subject,
                    const char *check,
                    const char *severity,
                    const char *message,
                    guint *bridges,
                    GPtrArray *protected)
{
  g_autofree char *reason = NULL;

  if (!g_str_equal (severity, "skip")
      || !g_str_has_prefix (message, "not validated: "))
    return FALSE;
  if (g_str_equal (check, "bridge"))
    {
      (*bridges)++;
      return TRUE;
    }
  if (g_str_equal (check, "protected")
      && (reason = protected_reason (message)) != NULL)
    {
      g_ptr_array_add (protected, g_strdup_printf ("%s (%s)", subject, reason));
      return TRUE;
    }
  return FALSE;
}

/* The host, then every device that could be passed through: one
 * ValidateHost call with the "candidates" option, made with sd-bus, whose
 * reader walks the reply in place where GDBus would first build a GVariant
 * of each of its hundreds of thousands of strings; the results point into
 * the reply.  Bridges and protected devices always
 * fail (that is what they are), so they would make the exit status say
 * nothing: the daemon answers one skip result for each, which @note names
 * instead of the listing. */
static Results *
validate_all (GString *note, GError **error)
{
  g_autoptr (GPtrArray) protected = g_ptr_array_new_with_free_func (g_free);
  guint bridges = 0;
  sd_bus *bus = NULL;
  sd_bus_message *call = NULL;
  sd_bus_message *reply = NULL;
  sd_bus_error bus_error = SD_BUS_ERROR_NULL;
  g_autoptr (Results) results = results_new ();
  Result one;
  int r;

  bus = pp_ctl_sd_bus_open (error);
  if (bus == NULL)
    return NULL;
  r = sd_bus_message_new_method_call (bus, &call, PP_BUS_NAME, MANAGER_PATH,
                                      MANAGER_INTERFACE, "ValidateHost");
  if (r >= 0)
    r = sd_bus_message_append (call, "a{sv}", 1, "candidates", "b", 1);
  if (r >= 0)
    r = sd_bus_call (bus, call, 0, &bus_error, &reply);
  if (r < 0)
    {
      if (!sd_bus_error_is_set (&bus_error))
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                     "cannot call ValidateHost: %s", g_strerror (-r));
      else if (!pp_ctl_sd_bus_not_running (&bus_error, error))
        {
          /* pcipassd's own errors keep their domain and code. */
          g_autoptr (GError) remote = g_dbus_error_new_for_dbus_error (
              bus_error.name, bus_error.message);

          g_dbus_error_strip_remote_error (remote);
          g_propagate_error (error, g_steal_pointer (&remote));
        }
      goto out;
    }

  results->reply = sd_bus_message_ref (reply);
  r = sd_bus_message_enter_container (reply, 'a', "(sssss)");
  while (
      r >= 0
      && (r = sd_bus_message_read (reply, "(sssss)", &one.subject, &one.check,
                                   &one.severity, &one.message, &one.remedy))
             > 0)
    if (!note_not_validated (one.subject, one.check, one.severity, one.message,
                             &bridges, protected))
      g_array_append_val (results->items, one);
  if (r >= 0)
    r = sd_bus_message_exit_container (reply);
  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "pcipassd answered ValidateHost with a malformed reply: %s",
                   g_strerror (-r));
      g_clear_pointer (&results, results_free);
      goto out;
    }

  if (bridges > 0 || protected->len > 0)
    {
      g_string_append (note, "Not validated:");
      if (bridges > 0)
        g_string_append_printf (note, " %u bridge%s (never passed through)%s",
                                bridges, bridges == 1 ? "" : "s",
                                protected->len > 0 ? ";" : "");
      for (guint i = 0; i < protected->len; i++)
        g_string_append_printf (note, "%s %s", i == 0 ? " protected:" : ",",
                                (const char *) protected->pdata[i]);
      g_string_append (note, ".\nRun \"pcipassctl validate ADDR\" to "
                             "validate one of them anyway.\n");
    }

  sd_bus_message_unref (reply);
  sd_bus_message_unref (call);
  sd_bus_flush_close_unref (bus);
  return g_steal_pointer (&results);

out:
  sd_bus_error_free (&bus_error);
  sd_bus_message_unref (reply);
  sd_bus_message_unref (call);
  sd_bus_flush_close_unref (bus);
  return NULL;
}

/* The a(sssss) of a (a(sssss)) reply, or an error naming the method. */
static GVariant *
unpack_results (GVariant *reply, const char *method, GError **error)
{
  GVariant *results = NULL;

  if (!g_variant_is_of_type (reply, G_VARIANT_TYPE ("(a(sssss))")))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "pcipassd answered %s with %s instead of (a(sssss))", method,
                   g_variant_get_type_string (reply));
      return NULL;
    }
  g_variant_get (reply, "(@a(sssss))", &results);
  return results;
}

static GVariant *
empty_options (void)
{
  return g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0);
}

static GVariant *
call_manager (GDBusConnection *bus,
              const char *method,
              GVariant *parameters,
              GError **error)
{
  g_autoptr (GVariant) reply = NULL;

  /* Validation reads sysfs and /proc only: no password, so no
   * interactive authorization and the default timeout. */
  reply = g_dbus_connection_call_sync (
      bus, PP_BUS_NAME, MANAGER_PATH, MANAGER_INTERFACE, method, parameters,
      NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
  if (reply == NULL)
    return NULL;
  return unpack_results (reply, method, error);
}

static GVariant *
call_device (PpCtlDevice *device, GError **error)
{
  g_autoptr (GVariant) reply = NULL;

  reply = pp_ctl_device_call (device, "Validate",
                              g_variant_new ("(@a{sv})", empty_options ()),
                              G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
  if (reply == NULL)
    return NULL;
  return unpack_results (reply, "Device.Validate", error);
}

static GVariant *
validate_device (const char *address, GError **error)
{
  g_autoptr (PpCtlInventory) inventory = pp_ctl_inventory_load (error);
  PpCtlDevice *device;

  if (inventory == NULL)
    return NULL;
  device = pp_ctl_inventory_lookup (inventory, address);
  if (device == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "no PCI device at %s", address);
      return NULL;
    }
  return call_device (device, error);
}

/* Reads all of @stream, refusing more than MAX_FILE_SIZE bytes. */
static GBytes *
read_bounded (GInputStream *stream, const char *name, GError **error)
{
  g_autoptr (GByteArray) data = g_byte_array_new ();
  guint8 buffer[65536];

  for (;;)
    {
      gsize n;

      if (!g_input_stream_read_all (stream, buffer, sizeof buffer, &n, NULL,
                                    error))
        return NULL;
      if (n == 0)
        break;
      if (data->len + n > MAX_FILE_SIZE)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       "%s is larger than %u bytes: not a cluster config", name,
                       MAX_FILE_SIZE);
          return NULL;
        }
      g_byte_array_append (data, buffer, (guint) n);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

static GBytes *
read_config (const char *path, GError **error)
{
  g_autoptr (GInputStream) stream = NULL;

  if (g_str_equal (path, "-"))
    {
      stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);
      return read_bounded (stream, "standard input", error);
    }

  {
    /* The errno text alone: GIO's message would name the file again. */
    int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);

    if (fd < 0)
      {
        int saved = errno;

        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                     "cannot read %s: %s", path, g_strerror (saved));
        return NULL;
      }
    stream = g_unix_input_stream_new (fd, TRUE);
  }
  return read_bounded (stream, path, error);
}

static GVariant *
validate_config (const PpCtlValidateOptions *options, GError **error)
{
  const char *name = g_str_equal (options->argument, "-") ? "(standard input)"
                                                          : options->argument;
  g_auto (GVariantBuilder) builder
      = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr (GBytes) bytes = read_config (options->argument, error);
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *text = NULL;
  const char *end;
  gsize length;
  GVariant *results;

  if (bytes == NULL)
    return NULL;
  text
      = g_strndup (g_bytes_get_data (bytes, &length), g_bytes_get_size (bytes));
  /* D-Bus strings are UTF-8 without NUL: say so here rather than have
   * the bus refuse the message. */
  if (!g_utf8_validate_len (text, length, &end))
    {
      gsize offset = (gsize) (end - text);
      guint line = 1;
      guint column = 1;

      for (gsize i = 0; i < offset; i++)
        {
          if (text[i] == '\n')
            {
              line++;
              column = 1;
            }
          else if (((guchar) text[i] & 0xc0) != 0x80)
            {
              column++;
            }
        }
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s:%u:%u: not UTF-8 text (byte 0x%02x)", name, line, column,
                   (guchar) text[offset]);
      return NULL;
    }

  if (options->node != NULL)
    g_variant_builder_add (&builder, "{sv}", "node",
                           g_variant_new_string (options->node));
  if (options->skip_pcie_validation)
    g_variant_builder_add (&builder, "{sv}", "skip_pcie_validation",
                           g_variant_new_boolean (TRUE));

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local);
  if (bus == NULL)
    {
      g_dbus_error_strip_remote_error (local);
      g_set_error (error, local->domain, local->code,
                   "cannot connect to the system bus: %s", local->message);
      return NULL;
    }

  results = call_manager (
      bus, "ValidateConfig",
      g_variant_new ("(s@a{sv})", text, g_variant_builder_end (&builder)),
      &local);
  if (results == NULL)
    {
      g_dbus_error_strip_remote_error (local);
      /* "cluster.yaml:3:7: ...", as compilers report positions. */
      if (g_error_matches (local, PP_ERROR, PP_ERROR_CONFIG))
        g_set_error (error, local->domain, local->code, "%s:%s", name,
                     local->message);
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  return results;
}

typedef enum
{
  TARGET_ALL,
  TARGET_DEVICE,
  TARGET_FILE,
} Target;

/* What the argument names: an existing file wins over an address, so
 * that a file called "01:00.0" can still be validated as "./01:00.0". */
static gboolean
classify (const PpCtlValidateOptions *options,
          Target *target,
          char **address,
          GError **error)
{
  const char *arg = options->argument;

  *address = NULL;
  if (arg == NULL)
    *target = TARGET_ALL;
  else if (g_str_equal (arg, "-") || g_file_test (arg, G_FILE_TEST_EXISTS))
    *target = TARGET_FILE;
  else if ((*address = pp_address_normalize (arg, TRUE, NULL)) != NULL)
    *target = TARGET_DEVICE;
  else if (strchr (arg, '/') != NULL || g_str_has_suffix (arg, ".yaml")
           || g_str_has_suffix (arg, ".yml"))
    *target = TARGET_FILE; /* reading it says what is wrong */
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "\"%s\" is neither a PCI address (DDDD:BB:SS.F or "
                   "BB:SS.F) nor a file",
                   arg);
      return FALSE;
    }

  if (*target != TARGET_FILE
      && (options->node != NULL || options->skip_pcie_validation))
    {
      g_clear_pointer (address, g_free);
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           "--node and --skip-pcie-validation apply to a "
                           "cluster config FILE only");
      return FALSE;
    }
  if (options->node != NULL && *options->node == '\0')
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           "--node needs a node name");
      return FALSE;
    }
  return TRUE;
}

gboolean
pp_ctl_validate_run (const PpCtlValidateOptions *options, GError **error)
{
  g_autoptr (GString) note = g_string_new (NULL);
  g_autoptr (Results) results = NULL;
  GVariant *array = NULL;
  guint n_failed;
  g_autofree char *address = NULL;
  Target target;

  if (!classify (options, &target, &address, error))
    return FALSE;

  switch (target)
    {
      case TARGET_ALL:
        results = validate_all (note, error);
        break;
      case TARGET_DEVICE:
        array = validate_device (address, error);
        break;
      case TARGET_FILE:
      default:
        array = validate_config (options, error);
        break;
    }
  if (array != NULL)
    results = results_from_variant (array);
  if (results == NULL)
    return FALSE;

  if (options->json)
    {
      /* JSON is UTF-8 whatever the locale: no g_print conversion. */
      print_json (results, stdout);
    }
  else
    {
      g_autofree char *text = format_table (results);

      g_print ("%s", text);
      if (note->len > 0)
        g_print ("%s", note->str);
    }

  n_failed = count_failed (results);
  if (n_failed > 0)
    {
      g_set_error (error, PP_CTL_VALIDATE_ERROR,
                   options->json ? PP_CTL_VALIDATE_ERROR_FAILED
                                 : PP_CTL_VALIDATE_ERROR_REPORTED,
                   "%u check%s failed", n_failed, n_failed == 1 ? "" : "s");
      return FALSE;
    }
  return TRUE;
}
