/*
 * The daily series of one catalogue value. Nothing is stored per day: the
 * LA's sums on its as-of date T, less the ledger's changes dated after D,
 * are its sums on D. Walking the ledger back from T therefore yields every
 * past day as the state now knows it, so a late event or a correction
 * restates the days it changes without any bookkeeping of its own.
 *
 * Between two ledger dates the sums do not change, nor then does the value:
 * the catalogue is built once per run of equal days, not once per day.
 */
#include <stdlib.h>

#include "indicators/indicators.h"

struct series_walk {
  struct agg_sums *sums;
  const struct code_lists *codes; /* the state's; NULL when it records none */
  const char *la, *id, *window, *breakdown;
  const struct population *pop;
  csc_date from, to;
  csc_date day;         /* the sums are those of every day in (day of the last change, day] */
  csc_date last_change; /* the date of the change last taken out; day + 1 before any */
  struct series_point *points;
  int found; /* the catalogue has the value */
  struct arena arena;
};

/* Sets the points of days lo..hi (clipped to from..to) from the sums. */
static int fill_days(struct series_walk *w, csc_date lo, csc_date hi) {
  if (lo < w->from)
    lo = w->from;
  if (hi > w->to)
    hi = w->to;
  if (lo > hi)
    return CSC_OK;
  arena_reset(&w->arena);
  Cscflow__V1__IndicatorValue **values;
  size_t n;
  int rc = catalogue_build(w->sums, w->codes, w->la, hi, w->pop, &w->arena, &values, &n);
  if (rc != CSC_OK)
    return rc;
  IndicatorSnapshot day = CSCFLOW__V1__INDICATOR_SNAPSHOT__INIT;
  day.values = values;
  day.n_values = n;
  const Cscflow__V1__IndicatorValue *v = snapshot_find(&day, w->id, w->window, w->breakdown);
  if (v == NULL)
    return CSC_ENOTFOUND;
  w->found = 1;
  for (csc_date d = lo; d <= hi; d++) {
    struct series_point *p = &w->points[d - w->from];
    p->date = d;
    p->has_numerator = v->has_numerator;
    p->has_denominator = v->has_denominator;
    p->has_value = v->has_value;
    p->numerator = v->numerator;
    p->denominator = v->denominator;
    p->value = v->value;
  }
  return CSC_OK;
}

/* A change dated date: the days from date to the current day share the
 * sums held now; taking the change out gives the sums of the day before. */
static int take_out(void *ctx, csc_date date, int measure, int bucket, int64_t delta) {
  struct series_walk *w = ctx;
  if (date != w->last_change) {
    int rc = fill_days(w, date, w->day);
    if (rc != CSC_OK)
      return rc;
    w->day = date - 1;
    w->last_change = date;
  }
  return agg_sums_add(w->sums, measure, bucket, -delta);
}

int series_build(struct store *st, MDB_txn *txn, const char *la, const char *id,
                 const char *window, const char *breakdown, csc_date from, csc_date to,
                 const struct population *pop, struct series_point **points, size_t *n_points,
                 csc_date *as_of) {
  struct la_state ls;
  int rc = store_get_la(st, txn, la, &ls);
  if (rc != CSC_OK)
    return rc;
  *as_of = ls.as_of;
  if (to > ls.as_of)
    to = ls.as_of;
  if (from > to || to - from + 1 > SERIES_MAX_DAYS)
    return CSC_EINVAL;
  struct series_walk w = {.la = la, .id = id, .window = window, .breakdown = breakdown,
                          .pop = pop, .from = from, .to = to, .day = ls.as_of,
                          .last_change = ls.as_of + 1};
  w.points = calloc((size_t)(to - from + 1), sizeof *w.points);
  if (w.points == NULL)
    return CSC_ENOMEM;
  struct code_lists codes;
  rc = store_get_code_lists(st, txn, &codes);
  w.codes = rc == CSC_OK ? &codes : NULL;
  if (rc == CSC_ENOTFOUND)
    rc = CSC_OK; /* breakdowns by code are "other" only */
  if (rc != CSC_OK) {
    free(w.points);
    return rc;
  }
  arena_init(&w.arena, 16384);
  rc = agg_sums_new(&w.sums);
  if (rc == CSC_OK)
    rc = agg_sums_load(w.sums, st, txn, la);
  if (rc == CSC_OK)
    rc = agg_ledger_walk_back(st, txn, la, from, ls.as_of, take_out, &w);
  if (rc == CSC_OK)
    rc = fill_days(&w, from, w.day); /* the days before the earliest change walked */
  arena_free(&w.arena);
  agg_sums_free(w.sums);
  if (w.codes != NULL)
    code_lists_free(&codes);
  if (rc != CSC_OK) {
    free(w.points);
    return rc;
  }
  *points = w.points;
  *n_points = (size_t)(to - from + 1);
  return CSC_OK;
}
