/* pcipassctl monitor: pcipassd's changes as they happen. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Prints one line per device added or removed and per property changed
 * (old -> new), or with @json one JSON object per line, until SIGINT or
 * SIGTERM.  Fails only when the bus cannot be reached. */
gboolean pp_ctl_monitor_run (gboolean json, GError **error);

G_END_DECLS
