/* What every harness shares: libFuzzer's entry point, and quiet logs (a
 * parser that warns about bad input is doing its job, not failing). */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static inline GLogWriterOutput
pp_fuzz_drop_log (GLogLevelFlags level,
                  const GLogField *fields,
                  gsize n_fields,
                  gpointer user_data)
{
  /* Criticals mean a broken precondition in our code: let them abort. */
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
    return g_log_writer_standard_streams (level, fields, n_fields, user_data);
  return G_LOG_WRITER_HANDLED;
}

static inline void
pp_fuzz_init (void)
{
  static gboolean done;

  if (done)
    return;
  done = TRUE;
  g_log_set_writer_func (pp_fuzz_drop_log, NULL, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
}

/* @data as a NUL-terminated string (a parser of text gets text). */
static inline char *
pp_fuzz_string (const uint8_t *data, size_t size)
{
  return g_strndup ((const char *) data, size);
}
