#include "bench-stats.h"

#include <string.h>

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

guint64
bench_status_kib (const char *pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", pid);
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents (path, &status, NULL, NULL)
      || (line = strstr (status, field)) == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen (field), NULL, 10);
}
