#include "pp-store.h"

#include "pp-address.h"
#include "pp-kernel.h"
#include "pp-killpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define TEMP_EXTENSION "tmp"
#define TEMP_SUFFIX "." TEMP_EXTENSION
#define KEY_DRIVER "driver"
#define KEY_OVERRIDE "driver-override"
#define KEY_PENDING "pending"
#define KEY_OWNER "owner"
#define KEY_PERSISTENT "persistent"
#define HEADER_GROUP "pcipassd"
#define KEY_VERSION "version"

struct _PpStore
{
  GObject parent_instance;

  GMutex lock;
  char *dir;
  char *path;
  GKeyFile *records; /* group = address */
};

G_DEFINE_TYPE (PpStore, pp_store, G_TYPE_OBJECT)

static void
pp_store_finalize (GObject *object)
{
  PpStore *self = PP_STORE (object);

  g_clear_pointer (&self->records, g_key_file_unref);
  g_free (self->path);
  g_free (self->dir);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (pp_store_parent_class)->finalize (object);
}

static void
pp_store_class_init (PpStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = pp_store_finalize;
}

static void
pp_store_init (PpStore *self)
{
  g_mutex_init (&self->lock);
  self->records = g_key_file_new ();
  /* First, so that every save starts with it. */
  g_key_file_set_integer (self->records, HEADER_GROUP, KEY_VERSION,
                          PP_STORE_VERSION);
  g_key_file_set_comment (self->records, HEADER_GROUP, NULL,
                          " pcipassd state: see the README, \"The state "
                          "file\".",
                          NULL);
}

static gboolean
write_all (int fd, const char *data, gsize len)
{
  while (len > 0)
    {
      gssize n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* Replaces @path with @data so that a crash at any instant leaves the old
 * file or the new one: a temporary file beside it, fsync, rename, and an
 * fsync of the directory so the rename itself is on disk. */
static gboolean
replace_file (const char *dir,
              const char *path,
              const char *data,
              GError **error)
{
  g_autofree char *temp = g_strconcat (path, TEMP_SUFFIX, NULL);
  int fd;
  int err;

  fd = open (temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    {
      err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot write %s: %s", temp, g_strerror (err));
      return FALSE;
    }
  if (!write_all (fd, data, strlen (data)) || fsync (fd) < 0)
    {
      err = errno;
      close (fd);
      g_unlink (temp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot write %s: %s", temp, g_strerror (err));
      return FALSE;
    }
  close (fd);
  pp_killpoint ("state written to the temporary file, not renamed");

  if (rename (temp, path) < 0)
    {
      err = errno;
      g_unlink (temp);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot replace %s: %s", path, g_strerror (err));
      return FALSE;
    }

  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
  pp_killpoint ("state file replaced");
  return TRUE;
}

/* Called with the lock held. */
static gboolean
save (PpStore *self, GError **error)
{
  g_autofree char *data = g_key_file_to_data (self->records, NULL, NULL);

  return replace_file (self->dir, self->path, data, error);
}

/* Reading back: a line-by-line check of what GKeyFile would accept without
 * a word, so that every problem is named with its line. */

typedef struct
{
  char *address;
  guint line;
  char *driver;
  char *override;
  char *pending;
  char *owner;
  char *persistent;
  char *problem; /* NULL when the record is good */
} ParsedRecord;

static void
parsed_record_free (ParsedRecord *r)
{
  g_free (r->address);
  g_free (r->driver);
  g_free (r->override);
  g_free (r->pending);
  g_free (r->owner);
  g_free (r->persistent);
  g_free (r->problem);
  g_free (r);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ParsedRecord, parsed_record_free)

static void set_problem (ParsedRecord *r, guint line, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static void
set_problem (ParsedRecord *r, guint line, const char *format, ...)
{
  va_list args;
  g_autofree char *what = NULL;

  if (r->problem != NULL)
    return; /* the first one says enough */
  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  r->problem = g_strdup_printf ("line %u: %s", line, what);
}

static gboolean
is_blank_or_comment (const char *line)
{
  while (*line == ' ' || *line == '\t' || *line == '\r')
    line++;
  return *line == '\0' || *line == '#';
}

static void
parse_entry (ParsedRecord *r, guint n, const char *line)
{
  const char *eq = strchr (line, '=');
  g_autofree char *key = NULL;
  const char *value;
  char **slot;

  if (eq == NULL)
    {
      set_problem (r, n, "not a \"key=value\" line");
      return;
    }
  key = g_strndup (line, (gsize) (eq - line));
  value = eq + 1;
  g_strstrip (key);

  if (g_str_equal (key, KEY_DRIVER))
    slot = &r->driver;
  else if (g_str_equal (key, KEY_OVERRIDE))
    slot = &r->override;
  else if (g_str_equal (key, KEY_PENDING))
    slot = &r->pending;
  else if (g_str_equal (key, KEY_OWNER))
    slot = &r->owner;
  else if (g_str_equal (key, KEY_PERSISTENT))
    slot = &r->persistent;
  else
    {
      g_autofree char *shown = g_strescape (key, NULL);
      set_problem (r, n, "unknown key \"%s\"", shown);
      return;
    }
  if (*slot != NULL)
    {
      set_problem (r, n, "%s given twice", key);
      return;
    }
  if (slot == &r->pending)
    {
      if (!g_str_equal (value, PP_STORE_PENDING_BIND)
          && !g_str_equal (value, PP_STORE_PENDING_UNBIND))
        {
          g_autofree char *shown = g_strescape (value, NULL);
          set_problem (r, n, "pending is \"%s\", not bind or unbind", shown);
          return;
        }
    }
  else if (slot == &r->owner)
    {
      if (!pp_store_owner_is_valid (value))
        {
          g_autofree char *shown = g_strescape (value, NULL);
          set_problem (r, n, "owner \"%s\" is not an owner name", shown);
          return;
        }
    }
  else if (slot == &r->persistent)
    {
      if (!g_str_equal (value, "true"))
        {
          g_autofree char *shown = g_strescape (value, NULL);
          set_problem (r, n, "persistent is \"%s\", not true", shown);
          return;
        }
    }
  else if (!pp_kernel_driver_name_is_valid (value, TRUE))
    {
      g_autofree char *shown = g_strescape (value, NULL);
      set_problem (r, n, "%s \"%s\" is not a driver name ([A-Za-z0-9_.-])", key,
                   shown);
      return;
    }
  *slot = g_strdup (value);
}

/* The header's "version=N" line; 0 when it is not one. */
static guint
parse_version (const char *line)
{
  guint64 version;

  if (!g_str_has_prefix (line, KEY_VERSION "=")
      || !g_ascii_string_to_unsigned (line + strlen (KEY_VERSION "="), 10, 1,
                                      G_MAXUINT, &version, NULL))
    return 0;
  return (guint) version;
}

/* Splits @data into records.  Lines before the first record that are not
 * blank, comments or the [pcipassd] header make the whole file unreadable
 * (@file_problem), and so does a header that is not "version=N".  A file
 * without a header is version 1, which version 2 extends. */
static GPtrArray *
parse_records (const char *data, gsize len, guint *version, char **file_problem)
{
  gboolean in_header = FALSE;
  gboolean header_seen = FALSE;

  g_autoptr (GPtrArray) records
      = g_ptr_array_new_with_free_func ((GDestroyNotify) parsed_record_free);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  ParsedRecord *current = NULL;
  const char *p = data;
  const char *end = data + len;
  guint n = 0;

  while (p < end)
    {
      const char *eol = memchr (p, '\n', (gsize) (end - p));
      gsize line_len = (gsize) ((eol != NULL ? eol : end) - p);
      g_autofree char *line = NULL;
      const char *bad = NULL;

      n++;
      if (memchr (p, '\0', line_len) != NULL)
        bad = "a NUL byte";
      else if (!g_utf8_validate (p, (gssize) line_len, NULL))
        bad = "text that is not valid UTF-8";
      line = g_strndup (p, line_len);
      p = eol != NULL ? eol + 1 : end;

      if (bad == NULL && g_str_equal (line, "[" HEADER_GROUP "]"))
        {
          if (header_seen || current != NULL)
            {
              *file_problem = g_strdup_printf (
                  "line %u: [%s] is not the first group", n, HEADER_GROUP);
              return NULL;
            }
          in_header = header_seen = TRUE;
          *version = 0;
          continue;
        }
      if (bad == NULL && line[0] == '[' && in_header && *version == 0)
        {
          *file_problem = g_strdup_printf ("line %u: [%s] has no version", n,
                                           HEADER_GROUP);
          return NULL;
        }
      if (bad == NULL && line[0] == '[')
        {
          g_autofree char *canonical = NULL;
          char *close = strchr (line, ']');

          in_header = FALSE;

          current = g_new0 (ParsedRecord, 1);
          current->line = n;
          g_ptr_array_add (records, current);
          if (close == NULL || close[1] != '\0')
            {
              current->address = g_strdup ("");
              set_problem (current, n, "not a \"[address]\" line");
              continue;
            }
          *close = '\0';
          current->address = g_strdup (line + 1);
          canonical = pp_address_normalize (line + 1, FALSE, NULL);
          if (canonical == NULL || !g_str_equal (canonical, line + 1))
            {
              g_autofree char *shown = g_strescape (line + 1, NULL);
              set_problem (current, n, "\"%s\" is not a PCI address", shown);
            }
          else if (g_hash_table_contains (seen, current->address))
            set_problem (current, n, "a second record for %s",
                         current->address);
          else
            g_hash_table_add (seen, current->address);
          continue;
        }

      if (in_header)
        {
          if (bad != NULL || is_blank_or_comment (line))
            ;
          else if (*version == 0 && (*version = parse_version (line)) != 0)
            continue;
          else
            bad = "not \"version=N\", the only key of the header";
          if (bad != NULL)
            {
              *file_problem = g_strdup_printf ("line %u: %s", n, bad);
              return NULL;
            }
          continue;
        }
      if (current == NULL)
        {
          if (bad != NULL)
            *file_problem = g_strdup_printf ("line %u: %s", n, bad);
          else if (!is_blank_or_comment (line))
            *file_problem
                = g_strdup_printf ("line %u: text before the first record", n);
          if (*file_problem != NULL)
            return NULL;
          continue;
        }
      if (bad != NULL)
        set_problem (current, n, "%s", bad);
      else if (!is_blank_or_comment (line))
        parse_entry (current, n, line);
    }

  if (in_header && *version == 0)
    {
      *file_problem
          = g_strdup_printf ("line %u: [%s] has no version", n, HEADER_GROUP);
      return NULL;
    }
  for (guint i = 0; i < records->len; i++)
    {
      ParsedRecord *r = g_ptr_array_index (records, i);

      /* A lease or a persistent binding stands alone; what restores a
       * driver needs the driver. */
      if (r->driver == NULL
          && (r->override != NULL || r->pending != NULL
              || (r->owner == NULL && r->persistent == NULL)))
        set_problem (r, r->line, "no driver");
    }
  return g_steal_pointer (&records);
}

/* A name beside the file for what could not be read, never one in use. */
static char *
aside_path (const char *path)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%dT%H%M%SZ");

  for (guint i = 0;; i++)
    {
      char *candidate = i == 0
                            ? g_strdup_printf ("%s.bad-%s", path, stamp)
                            : g_strdup_printf ("%s.bad-%s-%u", path, stamp, i);
      if (!g_file_test (candidate, G_FILE_TEST_EXISTS))
        return candidate;
      g_free (candidate);
    }
}

/* Temporary files of saves a crash interrupted: this version's fixed name
 * and GLib's "bindings.XXXXXX", which earlier versions used. */
static void
remove_stale_temporaries (PpStore *self)
{
  g_autoptr (GDir) dir = g_dir_open (self->dir, 0, NULL);
  g_autofree char *prefix = g_strconcat (PP_STORE_FILE, ".", NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      const char *suffix;
      gboolean glib_temp = FALSE;

      if (!g_str_has_prefix (name, prefix))
        continue;
      suffix = name + strlen (prefix);
      if (strlen (suffix) == 6)
        {
          glib_temp = TRUE;
          for (const char *c = suffix; *c != '\0'; c++)
            glib_temp = glib_temp && g_ascii_isalnum (*c);
        }
      if (glib_temp || g_str_equal (suffix, TEMP_EXTENSION))
        {
          g_autofree char *full = g_build_filename (self->dir, name, NULL);
          g_message ("removing %s, left by an interrupted save", full);
          g_unlink (full);
        }
    }
}

/* Moves the file aside, so that the next save cannot replace what could
 * not be read; the new name, or NULL if it stays where it is. */
static char *
move_aside (PpStore *self)
{
  g_autofree char *aside = aside_path (self->path);

  if (rename (self->path, aside) < 0)
    {
      int err = errno;
      g_warning ("%s: cannot move it aside to %s: %s", self->path, aside,
                 g_strerror (err));
      return NULL;
    }
  return g_steal_pointer (&aside);
}

static gboolean
load (PpStore *self, GError **load_error)
{
  guint version = 1;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) records = NULL;
  g_autofree char *data = NULL;
  g_autofree char *file_problem = NULL;
  g_autofree char *aside = NULL;
  gsize len = 0;
  guint n_bad = 0;

  if (!g_file_get_contents (self->path, &data, &len, &error))
    {
      if (g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      aside = move_aside (self);
      g_warning ("%s: %s: starting with no records (the file is %s%s)",
                 self->path, error->message,
                 aside != NULL ? "moved aside to " : "left in place",
                 aside != NULL ? aside : "");
      return TRUE;
    }

  records = parse_records (data, len, &version, &file_problem);
  if (records != NULL && version > PP_STORE_VERSION)
    {
      /* Read by the rules of version 2 it might say something else; and
       * saved, it would lose what the newer daemon wrote. */
      g_set_error (load_error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "%s is state file format version %u, newer than this "
                   "pcipassd reads (%u): run the pcipassd that wrote it, or "
                   "move the file away to start without its records",
                   self->path, version, PP_STORE_VERSION);
      return FALSE;
    }
  for (guint i = 0; records != NULL && i < records->len; i++)
    {
      ParsedRecord *r = g_ptr_array_index (records, i);

      if (r->problem != NULL)
        {
          n_bad++;
          continue;
        }
      if (r->driver != NULL)
        {
          g_key_file_set_string (self->records, r->address, KEY_DRIVER,
                                 r->driver);
          g_key_file_set_string (self->records, r->address, KEY_OVERRIDE,
                                 r->override != NULL ? r->override : "");
        }
      if (r->pending != NULL)
        g_key_file_set_string (self->records, r->address, KEY_PENDING,
                               r->pending);
      if (r->owner != NULL)
        g_key_file_set_string (self->records, r->address, KEY_OWNER, r->owner);
      if (r->persistent != NULL)
        g_key_file_set_boolean (self->records, r->address, KEY_PERSISTENT,
                                TRUE);
    }
  if (file_problem == NULL && n_bad == 0)
    return TRUE;

  /* Never dropped in silence: the file as it was stays beside the new
   * one for whoever looks into it. */
  aside = move_aside (self);
  if (file_problem != NULL)
    g_warning ("%s: %s: not a pcipassd state file; starting with no records "
               "(the file is %s%s)",
               self->path, file_problem,
               aside != NULL ? "moved aside to " : "left in place",
               aside != NULL ? aside : "");
  for (guint i = 0; records != NULL && i < records->len; i++)
    {
      ParsedRecord *r = g_ptr_array_index (records, i);

      if (r->problem != NULL)
        g_warning ("%s: %s: bad record [%s] %s%s", self->path, r->problem,
                   r->address, aside != NULL ? "moved aside to " : "ignored",
                   aside != NULL ? aside : "");
    }
  if (aside != NULL && !save (self, &error))
    g_warning ("%s", error->message);
  return TRUE;
}

PpStore *
pp_store_new (const char *state_dir, GError **error)
{
  g_autoptr (PpStore) self = g_object_new (PP_TYPE_STORE, NULL);

  if (g_mkdir_with_parents (state_dir, 0755) < 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot create the state directory %s: %s", state_dir,
                   g_strerror (err));
      return NULL;
    }
  self->dir = g_strdup (state_dir);
  self->path = g_build_filename (state_dir, PP_STORE_FILE, NULL);
  remove_stale_temporaries (self);
  if (!load (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

gboolean
pp_store_lookup (PpStore *self,
                 const char *address,
                 char **driver,
                 char **override)
{
  gboolean found;

  g_mutex_lock (&self->lock);
  found = g_key_file_has_key (self->records, address, KEY_DRIVER, NULL);
  if (found)
    {
      *driver
          = g_key_file_get_string (self->records, address, KEY_DRIVER, NULL);
      *override
          = g_key_file_get_string (self->records, address, KEY_OVERRIDE, NULL);
      if (*override == NULL)
        *override = g_strdup ("");
    }
  g_mutex_unlock (&self->lock);
  return found;
}

char *
pp_store_get_pending (PpStore *self, const char *address)
{
  char *pending;

  g_mutex_lock (&self->lock);
  pending = g_key_file_get_string (self->records, address, KEY_PENDING, NULL);
  g_mutex_unlock (&self->lock);
  return pending;
}

/* Called with the lock held: saves, or puts the records back as they were
 * so memory never claims what the disk does not. */
static gboolean
save_or_revert (PpStore *self, const char *before, GError **error)
{
  if (save (self, error))
    return TRUE;
  g_key_file_load_from_data (self->records, before, (gsize) -1, G_KEY_FILE_NONE,
                             NULL);
  return FALSE;
}

gboolean
pp_store_begin (PpStore *self,
                const char *operation,
                const PpRecord *records,
                guint n_records,
                GError **error)
{
  g_autofree char *before = NULL;
  gboolean ok;

  g_mutex_lock (&self->lock);
  before = g_key_file_to_data (self->records, NULL, NULL);
  for (guint i = 0; i < n_records; i++)
    {
      const PpRecord *r = &records[i];

      if (!g_key_file_has_key (self->records, r->address, KEY_DRIVER, NULL))
        {
          if (r->driver == NULL)
            continue;
          g_key_file_set_string (self->records, r->address, KEY_DRIVER,
                                 r->driver);
          g_key_file_set_string (self->records, r->address, KEY_OVERRIDE,
                                 r->override);
        }
      g_key_file_set_string (self->records, r->address, KEY_PENDING, operation);
    }
  ok = save_or_revert (self, before, error);
  g_mutex_unlock (&self->lock);
  return ok;
}

gboolean
pp_store_end (PpStore *self, const char *const *addresses, GError **error)
{
  g_autofree char *before = NULL;
  gboolean changed = FALSE;
  gboolean ok = TRUE;

  g_mutex_lock (&self->lock);
  before = g_key_file_to_data (self->records, NULL, NULL);
  for (const char *const *a = addresses; *a != NULL; a++)
    changed |= g_key_file_remove_key (self->records, *a, KEY_PENDING, NULL);
  if (changed)
    ok = save_or_revert (self, before, error);
  g_mutex_unlock (&self->lock);
  return ok;
}

/* Called with the lock held: drops @address's group once it says
 * nothing. */
static void
drop_if_empty (PpStore *self, const char *address)
{
  gsize n_keys = 0;
  g_auto (GStrv) keys
      = g_key_file_get_keys (self->records, address, &n_keys, NULL);

  if (keys != NULL && n_keys == 0)
    g_key_file_remove_group (self->records, address, NULL);
}

gboolean
pp_store_remove (PpStore *self, const char *address, GError **error)
{
  g_autofree char *before = NULL;
  gboolean ok = TRUE;

  g_mutex_lock (&self->lock);
  if (g_key_file_has_key (self->records, address, KEY_DRIVER, NULL))
    {
      before = g_key_file_to_data (self->records, NULL, NULL);
      g_key_file_remove_key (self->records, address, KEY_DRIVER, NULL);
      g_key_file_remove_key (self->records, address, KEY_OVERRIDE, NULL);
      g_key_file_remove_key (self->records, address, KEY_PENDING, NULL);
      drop_if_empty (self, address);
      ok = save_or_revert (self, before, error);
    }
  g_mutex_unlock (&self->lock);
  return ok;
}

static int
compare_addresses (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return pp_address_str_compare (*(char *const *) a, *(char *const *) b);
}

/* Addresses whose group has @key, sorted. */
static char **
list_with (PpStore *self, const char *key)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new ();
  g_auto (GStrv) groups = NULL;

  g_mutex_lock (&self->lock);
  groups = g_key_file_get_groups (self->records, NULL);
  for (char **g = groups; *g != NULL; g++)
    if (!g_str_equal (*g, HEADER_GROUP)
        && g_key_file_has_key (self->records, *g, key, NULL))
      g_ptr_array_add (out, g_strdup (*g));
  g_mutex_unlock (&self->lock);
  g_ptr_array_sort_with_data (out, compare_addresses, NULL);
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

char **
pp_store_list (PpStore *self)
{
  return list_with (self, KEY_DRIVER);
}

gboolean
pp_store_owner_is_valid (const char *owner)
{
  gsize len = strlen (owner);

  if (len == 0 || len > PP_STORE_MAX_OWNER)
    return FALSE;
  for (const char *p = owner; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._:@/+-", *p) == NULL)
      return FALSE;
  return TRUE;
}

char *
pp_store_get_owner (PpStore *self, const char *address)
{
  char *owner;

  g_mutex_lock (&self->lock);
  owner = g_key_file_get_string (self->records, address, KEY_OWNER, NULL);
  g_mutex_unlock (&self->lock);
  return owner;
}

/* Called with the lock held: sets or removes @key of @address and saves,
 * unless nothing changes. */
static gboolean
set_or_remove (PpStore *self,
               const char *address,
               const char *key,
               const char *value,
               GError **error)
{
  g_autofree char *old
      = g_key_file_get_value (self->records, address, key, NULL);
  g_autofree char *before = NULL;

  /* Every Unbind asks to end persistence: most of the time there is
   * none, and nothing to serialize. */
  if (g_strcmp0 (old, value) == 0)
    return TRUE;
  before = g_key_file_to_data (self->records, NULL, NULL);
  if (value != NULL)
    g_key_file_set_value (self->records, address, key, value);
  else
    {
      g_key_file_remove_key (self->records, address, key, NULL);
      drop_if_empty (self, address);
    }
  return save_or_revert (self, before, error);
}

gboolean
pp_store_set_owner (PpStore *self,
                    const char *address,
                    const char *owner,
                    GError **error)
{
  gboolean ok;

  g_return_val_if_fail (owner == NULL || pp_store_owner_is_valid (owner),
                        FALSE);
  g_mutex_lock (&self->lock);
  ok = set_or_remove (self, address, KEY_OWNER, owner, error);
  g_mutex_unlock (&self->lock);
  return ok;
}

char **
pp_store_list_owned (PpStore *self)
{
  return list_with (self, KEY_OWNER);
}

gboolean
pp_store_get_persistent (PpStore *self, const char *address)
{
  gboolean persistent;

  g_mutex_lock (&self->lock);
  persistent
      = g_key_file_has_key (self->records, address, KEY_PERSISTENT, NULL);
  g_mutex_unlock (&self->lock);
  return persistent;
}

gboolean
pp_store_set_persistent (PpStore *self,
                         const char *address,
                         gboolean persistent,
                         GError **error)
{
  gboolean ok;

  g_mutex_lock (&self->lock);
  ok = set_or_remove (self, address, KEY_PERSISTENT, persistent ? "true" : NULL,
                      error);
  g_mutex_unlock (&self->lock);
  return ok;
}

char **
pp_store_list_persistent (PpStore *self)
{
  return list_with (self, KEY_PERSISTENT);
}
