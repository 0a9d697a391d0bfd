/*
 * catalogue_internal.h — the catalogue as rows over the measures facts feed.
 * Each group of docs/indicators.md lists its rows in its own file
 * (catalogue_<group>.c); catalogue.c turns rows into published values.
 * Private to indicators/.
 */
#ifndef CSCFLOW_CATALOGUE_INTERNAL_H
#define CSCFLOW_CATALOGUE_INTERNAL_H

#include "indicators/indicators.h"

enum value_kind {
  V_COUNT, /* value = numerator (per_10k when asked) */
  V_RATIO, /* value = scale * numerator / denominator: 100 for a %, 1 for a mean */
  V_DIST   /* one value per band of the measure's buckets, then percentiles */
};

/* Buckets lo..hi (inclusive) of a distribution's measure. */
struct band {
  const char *label;
  int lo, hi;
};

struct row {
  const char *id, *window;
  char breakdown[64]; /* "senior_practitioner_team_manager,not_known" fits */
  int measure, bucket;
  int den_measure, den_bucket; /* den_measure -1: no denominator */
  enum value_kind kind;
  double scale;
  double num_scale; /* the published numerator is num_scale x the stored sum (a
                       unit change, e.g. tenths of a mile to miles); 0 means 1 */
  int per_10k;     /* publish the numerator per 10,000 children */
  int provisional; /* the window looks forward */
  /* Breakdowns by code (bucket code_bucket(code)): other_list >= 0 makes
   * this the "other" row of that enum code_list, whose numerator is every
   * bucket of the measure but the list's codes and CODE_BUCKET_ALL. */
  int other_list;
  /* V_DIST: the bands over buckets 0..n_buckets-1; percentiles of the
   * bucket values when `percentiles`; "within_<within>" when within >= 0. */
  const struct band *bands;
  int n_bands, n_buckets, percentiles, within;
};

#define CATALOGUE_MAX_ROWS 1024
/* Rows of one breakdown by code, at most (the rest count in "other"). */
#define CATALOGUE_MAX_CODES 128

/* Each appends its rows at rows[n..] and returns the new n. */
size_t catalogue_rows_core(struct row *rows, size_t n);
size_t catalogue_rows_activity(struct row *rows, size_t n, const struct code_lists *codes);
size_t catalogue_rows_plans(struct row *rows, size_t n);
size_t catalogue_rows_outcomes(struct row *rows, size_t n);
size_t catalogue_rows_workforce(struct row *rows, size_t n);

/* Every row of the catalogue, in publication order, at rows[0..)
 * (CATALOGUE_MAX_ROWS of them at most); their number. The rows depend on
 * codes alone (a breakdown by code has a row per code of its list). */
size_t catalogue_rows(struct row *rows, const struct code_lists *codes);
/* The most values row r publishes (a distribution: its bands, p25..p75
 * and within_N, some of which it may leave out; any other row: one). */
size_t catalogue_row_width(const struct row *r);
/* Appends row r's values at out[*n..] (from a): a pure function of r, the
 * sums of r's measure and denominator measure, codes (for "other") and,
 * for per 10,000 rates, children (-1: unknown). CSC_ENOMEM. */
int catalogue_row_values(const struct row *r, const struct agg_sums *sums,
                         const struct code_lists *codes, int64_t children, struct arena *a,
                         Cscflow__V1__IndicatorValue **out, size_t *n);

/* Row builders. */
struct row row_count(const char *id, const char *window, const char *breakdown, int measure,
                     int bucket, int per_10k);
struct row row_ratio(const char *id, const char *window, const char *breakdown, int measure,
                     int bucket, int den_measure, int den_bucket, double scale);

#endif
