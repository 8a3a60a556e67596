/* Percentiles of a benchmark's samples, and what a process holds. */
#pragma once

#include <glib.h>

/* Sorts @samples (doubles) in place. */
void bench_sort (GArray *samples);

/* The @p quantile (0..1) of sorted @samples, nearest rank. */
double bench_percentile (GArray *samples, double p);

/* A "VmRSS:"-style @field of /proc/@pid/status in KiB, 0 if unreadable. */
guint64 bench_status_kib (const char *pid, const char *field);
