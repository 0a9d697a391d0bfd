#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"

const char *csc_strerror(int err) {
  switch (err) {
  case CSC_OK: return "ok";
  case CSC_ENOMEM: return "out of memory";
  case CSC_EINVAL: return "invalid input";
  case CSC_EIO: return "I/O error";
  case CSC_ENOTFOUND: return "not found";
  case CSC_ESTATE: return "state store error";
  case CSC_EKAFKA: return "Kafka error";
  case CSC_EFULL: return "full";
  case CSC_EMAPFULL: return "state map full";
  case CSC_ETXNFULL: return "state transaction too large";
  default: return "unknown error";
  }
}

void log_json(enum log_level level, const char *event, const char *fields_fmt, ...) {
  static const char *const names[] = {"info", "warn", "error"};
  char line[2048];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line,
                   "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"event\":\"%s\"",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000, names[level], event);
  if (fields_fmt != NULL && n > 0 && (size_t)n < sizeof line - 1) {
    line[n++] = ',';
    va_list ap;
    va_start(ap, fields_fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fields_fmt, ap);
    va_end(ap);
    n = m < 0 ? n - 1 : n + m;
  }
  if (n < 0 || (size_t)n > sizeof line - 3)
    n = (int)sizeof line - 3; /* truncated fields: still one line */
  line[n++] = '}';
  line[n++] = '\n';
  /* One write(2) so that concurrent writers never interleave within a line. */
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}

void json_write_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}
