/*
 * Working days: weekdays that are not bank holidays. Counting is done a
 * week at a time and the holidays by binary search, so a span of years
 * costs a few operations, not one per day: timeliness facts count spans for
 * every child on every event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static int date_cmp(const void *a, const void *b) {
  const csc_date x = *(const csc_date *)a, y = *(const csc_date *)b;
  return x < y ? -1 : x > y;
}

int workdays_load(struct workdays *w, const char *path, char *err, size_t errlen) {
  memset(w, 0, sizeof *w);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return CSC_EIO;
  }
  char line[256];
  size_t cap = 0;
  int lineno = 0, rc = CSC_OK;
  while (rc == CSC_OK && fgets(line, sizeof line, f) != NULL) {
    lineno++;
    char *p = line + strspn(line, " \t");
    p[strcspn(p, "#\r\n")] = '\0';
    for (size_t n = strlen(p); n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'); n--)
      p[n - 1] = '\0';
    if (p[0] == '\0')
      continue;
    csc_date d;
    if (date_parse(p, &d) != CSC_OK) {
      snprintf(err, errlen, "%s:%d: not a YYYY-MM-DD date", path, lineno);
      rc = CSC_EINVAL;
    } else if (w->n == cap) {
      cap = cap ? cap * 2 : 128;
      csc_date *v = realloc(w->holidays, cap * sizeof *v);
      if (v == NULL)
        rc = CSC_ENOMEM;
      else
        w->holidays = v;
    }
    if (rc == CSC_OK)
      w->holidays[w->n++] = d;
  }
  fclose(f);
  if (rc != CSC_OK) {
    workdays_free(w);
    return rc;
  }
  if (w->n > 1)
    qsort(w->holidays, w->n, sizeof *w->holidays, date_cmp);
  size_t u = 0;
  for (size_t i = 0; i < w->n; i++)
    if (u == 0 || w->holidays[u - 1] != w->holidays[i])
      w->holidays[u++] = w->holidays[i];
  w->n = u;
  return CSC_OK;
}

void workdays_free(struct workdays *w) {
  free(w->holidays);
  memset(w, 0, sizeof *w);
}

/* Holidays in [0, d): the index of the first holiday >= d. */
static size_t holidays_before(const struct workdays *w, csc_date d) {
  size_t lo = 0, hi = w ? w->n : 0;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (w->holidays[mid] < d)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

int workdays_is_working(const struct workdays *w, csc_date d) {
  if (date_weekday(d) >= 5)
    return 0;
  const size_t i = holidays_before(w, d);
  return !(w && i < w->n && w->holidays[i] == d);
}

/* Weekdays in [a, b), a <= b. */
static int64_t weekdays(csc_date a, csc_date b) {
  const int64_t days = (int64_t)b - a, weeks = days / 7;
  int64_t n = weeks * 5;
  for (csc_date d = a + (csc_date)(weeks * 7); d < b; d++)
    n += date_weekday(d) < 5;
  return n;
}

/* Holidays on weekdays in [a, b). */
static int64_t weekday_holidays(const struct workdays *w, csc_date a, csc_date b) {
  int64_t n = 0;
  for (size_t i = holidays_before(w, a); w && i < w->n && w->holidays[i] < b; i++)
    n += date_weekday(w->holidays[i]) < 5;
  return n;
}

int workdays_between(const struct workdays *w, csc_date start, csc_date end) {
  if (end < start)
    return 0;
  const csc_date from = w && w->inclusive ? start : start + 1;
  if (end + 1 <= from)
    return 0;
  return (int)(weekdays(from, end + 1) - weekday_holidays(w, from, end + 1));
}

csc_date workdays_add(const struct workdays *w, csc_date d, int n) {
  while (n > 0) {
    d++;
    if (workdays_is_working(w, d))
      n--;
  }
  return d;
}
