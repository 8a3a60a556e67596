#include "bench-stats.h"

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return (x > y) - (x < y);
}

void
bench_sort (GArray *samples)
{
  g_array_sort (samples, compare_doubles);
}

double
bench_percentile (GArray *samples, double p)
{
  guint i = (guint) (p * (samples->len - 1) + 0.5);

  return g_array_index (samples, double, i);
}
