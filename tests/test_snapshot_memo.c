/*
 * test_snapshot_memo: a batch rebuilds only the snapshot values whose
 * aggregates changed (issue 17, item 2), and the snapshot is the same as
 * one built from nothing (indicators/snapshot_memo.c).
 *
 * Each check builds the LA's values twice from the same sums: through the
 * memo, which keeps the last build, and with catalogue_build and
 * coverage_mark, as a snapshot without a memo is built. The two are packed
 * and compared byte for byte; the memo's counts say how much it computed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "indicators/indicators.h"
#include "state/state.h"
#include "tests/testutil.h"

#define LA "E99000001"
#define MAX_SUMS 4096

/* The LA's sums as the store would hold them, and what a build is given. */
struct model {
  struct {
    int measure, bucket;
    int64_t sum;
  } s[MAX_SUMS];
  size_t n;
  int64_t children; /* -1: no population row */
  uint32_t carries;
  const struct code_lists *codes;
};

static void model_set(struct model *m, int measure, int bucket, int64_t sum) {
  for (size_t i = 0; i < m->n; i++)
    if (m->s[i].measure == measure && m->s[i].bucket == bucket) {
      m->s[i].sum = sum;
      return;
    }
  assert_true(m->n < MAX_SUMS);
  m->s[m->n].measure = measure;
  m->s[m->n].bucket = bucket;
  m->s[m->n++].sum = sum;
}

/* A sum the store no longer holds (its key deleted, not set to 0). */
static void model_drop(struct model *m, int measure, int bucket) {
  for (size_t i = 0; i < m->n; i++)
    if (m->s[i].measure == measure && m->s[i].bucket == bucket) {
      m->s[i] = m->s[--m->n];
      return;
    }
}

static struct agg_sums *model_sums(const struct model *m) {
  struct agg_sums *s;
  assert_int_equal(agg_sums_new(&s), CSC_OK);
  for (size_t i = 0; i < m->n; i++)
    assert_int_equal(agg_sums_add(s, m->s[i].measure, m->s[i].bucket, m->s[i].sum), CSC_OK);
  return s;
}

static uint8_t *pack_values(Cscflow__V1__IndicatorValue **v, size_t n, size_t *len) {
  IndicatorSnapshot snap = CSCFLOW__V1__INDICATOR_SNAPSHOT__INIT;
  snap.values = v;
  snap.n_values = n;
  *len = cscflow__v1__indicator_snapshot__get_packed_size(&snap);
  uint8_t *p = malloc(*len + 1);
  assert_non_null(p);
  cscflow__v1__indicator_snapshot__pack(&snap, p);
  return p;
}

/* The memo's values for m, checked against a build from nothing; they are
 * returned (the memo's) for the caller's own checks. */
static Cscflow__V1__IndicatorValue **build_and_compare(struct snapshot_memo *memo,
                                                       const struct model *m, size_t *n_out) {
  struct agg_sums *given = model_sums(m), *truth = model_sums(m);
  Cscflow__V1__IndicatorValue **mv, **fv;
  size_t mn, fn;
  assert_int_equal(snapshot_memo_values(memo, LA, given, m->codes, m->children, m->carries, &mv,
                                        &mn),
                   CSC_OK);
  struct population pop;
  population_init(&pop);
  if (m->children > 0)
    assert_int_equal(population_set(&pop, LA, 2024, m->children), CSC_OK);
  struct arena a;
  arena_init(&a, 65536);
  assert_int_equal(catalogue_build(truth, m->codes, LA, D(2024, 6, 1), &pop, &a, &fv, &fn),
                   CSC_OK);
  coverage_mark(m->carries, fv, fn);
  assert_int_equal(mn, fn);
  size_t ml, fl;
  uint8_t *mp = pack_values(mv, mn, &ml), *fp = pack_values(fv, fn, &fl);
  assert_int_equal(ml, fl);
  assert_memory_equal(mp, fp, ml);
  free(mp);
  free(fp);
  arena_free(&a);
  population_free(&pop);
  agg_sums_free(given);
  agg_sums_free(truth);
  *n_out = mn;
  return mv;
}

/* A seeded stream (splitmix64), the test's own. */
static uint64_t test_rand(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static const Cscflow__V1__IndicatorValue *find(Cscflow__V1__IndicatorValue **v, size_t n,
                                               const char *id, const char *window,
                                               const char *breakdown) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i]->id, id) == 0 && strcmp(v[i]->window, window) == 0 &&
        strcmp(v[i]->breakdown, breakdown) == 0)
      return v[i];
  fail_msg("no value %s %s %s", id, window, breakdown);
  return NULL;
}

static struct snapshot_memo_stats stats_of(const struct snapshot_memo *memo) {
  struct snapshot_memo_stats s;
  snapshot_memo_stats(memo, &s);
  return s;
}

/* Worked by hand, with no code lists (a breakdown by code is then "other"
 * alone). The rows that read M_REFERRALS_12M: referrals 12m (its
 * numerator), rereferrals 12m, referrals_by_source "other" and the six
 * referral outcomes (their denominator): 9 values. */
static void test_only_what_changed(void **state) {
  (void)state;
  static struct model m;
  memset(&m, 0, sizeof m);
  m.children = 20000;
  m.carries = COVERAGE_ALL;
  model_set(&m, M_REFERRALS_12M, 0, 40);
  model_set(&m, M_REREFERRALS_12M, 0, 10);
  struct snapshot_memo *memo;
  assert_int_equal(snapshot_memo_new(&memo), CSC_OK);
  size_t n;

  /* The first build computes every value. */
  Cscflow__V1__IndicatorValue **v = build_and_compare(memo, &m, &n);
  struct snapshot_memo_stats s = stats_of(memo);
  assert_int_equal(s.builds, 1);
  assert_int_equal(s.full_builds, 1);
  assert_int_equal(s.values_computed, n);
  assert_int_equal(s.values_reused, 0);
  assert_true(n > 100);
  assert_float_equal(find(v, n, "referrals", "12m", "")->value, 40, 1e-9);
  assert_float_equal(find(v, n, "referrals", "12m", "")->per_10k, 20, 1e-9); /* 40 x 10^4 / 20,000 */
  assert_float_equal(find(v, n, "rereferrals", "12m", "")->value, 25, 1e-9); /* 10 / 40 */

  /* One more referral: the 9 values that read referrals, and no other. */
  model_set(&m, M_REFERRALS_12M, 0, 41);
  v = build_and_compare(memo, &m, &n);
  s = stats_of(memo);
  assert_int_equal(s.full_builds, 1);
  assert_int_equal(s.values_computed, n + 9);
  assert_int_equal(s.values_reused, n - 9);
  assert_float_equal(find(v, n, "rereferrals", "12m", "")->value, 1000.0 / 41, 1e-9);

  /* Nothing changed: nothing computed. */
  v = build_and_compare(memo, &m, &n);
  s = stats_of(memo);
  assert_int_equal(s.values_computed, n + 9);
  assert_int_equal(s.values_reused, 2 * n - 9);

  /* A sum the store deleted reads as 0: rereferrals 12m alone changes. */
  model_drop(&m, M_REREFERRALS_12M, 0);
  v = build_and_compare(memo, &m, &n);
  s = stats_of(memo);
  assert_int_equal(s.values_computed, n + 10);
  assert_float_equal(find(v, n, "rereferrals", "12m", "")->value, 0, 1e-9);

  /* A new year's population: the rates per 10,000, not the rest. */
  m.children = 25000;
  v = build_and_compare(memo, &m, &n);
  s = stats_of(memo);
  assert_int_equal(s.full_builds, 1);
  assert_true(s.values_computed > n + 10 && s.values_computed < 2 * n);
  assert_float_equal(find(v, n, "referrals", "12m", "")->per_10k, 16.4, 1e-9); /* 41 x 10^4 / 25,000 */

  /* No population row: the rates are null again. */
  m.children = -1;
  v = build_and_compare(memo, &m, &n);
  assert_false(find(v, n, "referrals", "12m", "")->has_per_10k);

  /* Other feeds: every value again, flagged as a build from nothing is. */
  assert_int_equal(coverage_feed("dfe_csc_api", &m.carries), CSC_OK);
  const uint64_t full = stats_of(memo).full_builds;
  v = build_and_compare(memo, &m, &n);
  assert_int_equal(stats_of(memo).full_builds, full + 1);
  assert_true(find(v, n, "sw_caseload", "T", "")->unavailable);
  snapshot_memo_free(memo);
}

/* The code lists cscflow ships (reference/code-lists.csv). */
static void load_shipped_codes(struct code_lists *codes) {
  char err[256];
  assert_int_equal(
      code_lists_load(codes, CSCFLOW_SOURCE_DIR "/reference/" REFDATA_CODES_FILE, err, sizeof err),
      CSC_OK);
}

/* Other code lists change the rows: every value again. */
static void test_other_code_lists(void **state) {
  (void)state;
  struct code_lists codes;
  load_shipped_codes(&codes);
  static struct model m;
  memset(&m, 0, sizeof m);
  m.children = 30000;
  m.carries = COVERAGE_ALL;
  model_set(&m, M_REFERRALS_12M, 0, 7);
  model_set(&m, M_REFERRALS_BY_SOURCE_12M, (int)code_bucket("1A"), 3);
  struct snapshot_memo *memo;
  assert_int_equal(snapshot_memo_new(&memo), CSC_OK);
  size_t n_none, n_codes;
  build_and_compare(memo, &m, &n_none); /* no lists */
  m.codes = &codes;
  Cscflow__V1__IndicatorValue **v = build_and_compare(memo, &m, &n_codes);
  assert_int_equal(stats_of(memo).full_builds, 2);
  assert_true(n_codes > n_none);
  /* 2026-12-04: 368,896 bytes (about 220 KB the memo's own, 150 KB the LA's). */
  assert_true(stats_of(memo).bytes < 512 * 1024);
  assert_float_equal(find(v, n_codes, "referrals_by_source", "12m", "1A")->value, 300.0 / 7, 1e-9);
  assert_float_equal(find(v, n_codes, "referrals_by_source", "12m", "other")->numerator, 0, 1e-9);
  snapshot_memo_free(memo);
  code_lists_free(&codes);
}

/* Many rounds of random changes, with code lists, some to the population:
 * every build equals a build from nothing. Bounded: 400 rounds. */
static void test_random_rounds(void **state) {
  (void)state;
  struct code_lists codes;
  load_shipped_codes(&codes);
  const char *some_codes[] = {"1A", "2B", "3C", "N1", "N4", "A1", "P1", "R1"};
  static struct model m;
  memset(&m, 0, sizeof m);
  m.children = 50000;
  m.carries = COVERAGE_ALL;
  m.codes = &codes;
  struct snapshot_memo *memo;
  assert_int_equal(snapshot_memo_new(&memo), CSC_OK);
  uint64_t seed = 17;
  size_t n;
  for (int round = 0; round < 400; round++) {
    const int changes = 1 + (int)(test_rand(&seed) % 3);
    for (int c = 0; c < changes; c++) {
      const int measure = (int)(test_rand(&seed) % M_COUNT);
      const unsigned kind = (unsigned)(test_rand(&seed) % 4);
      const int bucket = kind == 0   ? (int)(test_rand(&seed) % 8)
                         : kind == 1 ? (int)(test_rand(&seed) % (DIST_MAX + 1))
                         : kind == 2 ? (int)code_bucket(some_codes[test_rand(&seed) % 8])
                                     : (int)CODE_BUCKET_ALL;
      if (test_rand(&seed) % 10 == 0)
        model_drop(&m, measure, bucket);
      else
        model_set(&m, measure, bucket, (int64_t)(test_rand(&seed) % 200));
    }
    if (test_rand(&seed) % 25 == 0)
      m.children = test_rand(&seed) % 5 == 0 ? -1 : 40000 + (int64_t)(test_rand(&seed) % 20000);
    build_and_compare(memo, &m, &n);
  }
  const struct snapshot_memo_stats s = stats_of(memo);
  assert_int_equal(s.builds, 400);
  assert_int_equal(s.full_builds, 1);
  assert_true(s.values_reused > s.values_computed); /* most rows read none of the changes */
  snapshot_memo_free(memo);
  code_lists_free(&codes);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_only_what_changed),
      cmocka_unit_test(test_other_code_lists),
      cmocka_unit_test(test_random_rounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
