/* Percentiles of a benchmark's samples. */
#pragma once

#include <glib.h>

/* Sorts @samples (doubles) in place. */
void bench_sort (GArray *samples);

/* The @p quantile (0..1) of sorted @samples, nearest rank. */
double bench_percentile (GArray *samples, double p);
