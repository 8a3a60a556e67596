/* A private bus standing in for the system bus, with python3-dbusmock's
 * polkitd on it, and helpers to run pcipassd and pcipassctl against it.
 *
 * Waiting is always on an event (a name appearing, a process exiting)
 * with a timeout that fails the test, never a sleep.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Seconds any wait may take before the test fails. */
#define PP_TEST_TIMEOUT 20

typedef struct
{
  GSubprocess *bus; /* dbus-daemon */
  char *address;
  GDBusConnection *connection;
  GSubprocess *polkitd;
  char *polkit_log;
  GSubprocess *daemon;
} PpTestBus;

/* Starts the bus and points DBUS_SYSTEM_BUS_ADDRESS at it.  With
 * @with_polkit, also starts the polkitd mock and waits for it. */
PpTestBus *pp_test_bus_new (gboolean with_polkit);

/* What the polkitd mock logged so far: every CheckAuthorization with its
 * subject and flags. */
char *pp_test_bus_polkit_log (PpTestBus *tb);

/* Waits until the polkitd mock's log contains @needle: a call reached
 * it. */
void pp_test_bus_wait_polkit_log (PpTestBus *tb, const char *needle);

/* Tells the polkitd mock which actions to allow from now on (none by
 * default). */
void pp_test_bus_set_allowed (PpTestBus *tb, const char *const *actions);

/* Stops the daemon if running, the mock and the bus. */
void pp_test_bus_free (PpTestBus *tb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PpTestBus, pp_test_bus_free)

/* Starts the built pcipassd with @args (NULL-terminated, may be NULL) and
 * waits until it owns io.github.pcipassd. */
void pp_test_bus_start_daemon (PpTestBus *tb, const char *const *args);

/* The same, with the daemon's stderr written to @log_path (replaced). */
void pp_test_bus_start_daemon_logged (PpTestBus *tb,
                                      const char *const *args,
                                      const char *log_path);

/* Sends SIGTERM and asserts a clean exit (status 0). */
void pp_test_bus_stop_daemon (PpTestBus *tb);

/* Waits until @name has an owner (@owned) or none; asserts on timeout. */
void pp_test_bus_wait_name (PpTestBus *tb, const char *name, gboolean owned);

/* Iterates the main context until *@done, failing the test after
 * PP_TEST_TIMEOUT seconds with a message naming @what. */
void pp_test_iterate_until (gboolean *done, const char *what);

/* Waits for @proc to exit, asserting on timeout; returns its exit status
 * (or 128 + signal). */
int pp_test_wait_process (GSubprocess *proc);

/* Runs the built pcipassctl with @args; returns stdout, sets @out_stderr
 * and @out_status. */
char *
pp_test_run_ctl (const char *const *args, char **out_stderr, int *out_status);

/* Spawns @argv; the child gets SIGTERM when the test process dies. */
GSubprocess *pp_test_spawn (GSubprocessFlags flags, const char *const *argv);

/* A property of the device at @address, as pcipassd publishes it. */
GVariant *
pp_test_bus_get_property (PpTestBus *tb, const char *address, const char *name);

/* A property of the manager object. */
GVariant *pp_test_bus_get_manager_property (PpTestBus *tb, const char *name);

/* Waits until the device at @address has property @name equal to
 * @expected (compared as text, g_variant_print), following
 * PropertiesChanged; asserts on timeout. */
void pp_test_bus_wait_property (PpTestBus *tb,
                                const char *address,
                                const char *name,
                                const char *expected);

/* Waits until the device at @address is published (@present) or not,
 * following InterfacesAdded and InterfacesRemoved; asserts on timeout. */
void
pp_test_bus_wait_device (PpTestBus *tb, const char *address, gboolean present);

/* Asserts @error is the D-Bus error @name (a remote error's name). */
void pp_test_assert_remote_error (const GError *error, const char *name);

/* An a{sv} parsed from GVariant text ("{'group': <false>}"), floating. */
GVariant *pp_test_options (const char *text);

/* Writes @value to a (simulated) sysfs file the way the kernel wants. */
void pp_test_write_sysfs (const char *path, const char *value);

/* A new, empty directory for a daemon's --state-dir. */
char *pp_test_make_state_dir (void);

/* Path of a built program: PCIPASSD_PATH or PCIPASSCTL_PATH. */
const char *pp_test_pcipassd_path (void);
const char *pp_test_pcipassctl_path (void);

/* The built program, or a fatal test error naming what is missing: a test
 * never skips for want of a tool. */
char *pp_test_require_program (const char *name);

G_END_DECLS
