/*
 * The indicator catalogue (INDICATORS.md) as rows over the measures that
 * facts feed. Each row names its numerator, its denominator if it is a
 * ratio, and how its value is formed. Adding an indicator is adding rows
 * here and the facts that feed them in state/facts.c.
 */
#include <string.h>

#include "indicators/indicators.h"

enum value_kind {
  V_COUNT,   /* value = numerator */
  V_PERCENT, /* value = 100 * numerator / denominator */
};

struct row {
  const char *id, *window;
  int measure, bucket;
  int den_measure, den_bucket; /* den_measure -1: no denominator */
  enum value_kind kind;
  int per_10k; /* publish numerator per 10,000 children */
  char breakdown[16];
};

static size_t catalogue_rows(struct row *rows) {
  size_t n = 0;
  rows[n++] = (struct row){"referrals", "12m", M_REFERRALS_12M, 0, -1, 0, V_COUNT, 1, ""};
  rows[n++] = (struct row){"referrals", "FYTD", M_REFERRALS_FYTD, 0, -1, 0, V_COUNT, 1, ""};
  rows[n++] = (struct row){"rereferrals", "12m", M_REREFERRALS_12M, 0, M_REFERRALS_12M, 0,
                           V_PERCENT, 1, ""};
  rows[n++] = (struct row){"rereferrals", "FYTD", M_REREFERRALS_FYTD, 0, M_REFERRALS_FYTD, 0,
                           V_PERCENT, 1, ""};
  for (int k = 0; k < PLAN_KIND_COUNT; k++) {
    struct row r = {"children_on_plan", "T", M_CHILDREN_ON_PLAN, k, -1, 0, V_COUNT, 1, ""};
    snprintf(r.breakdown, sizeof r.breakdown, "%s", plan_kind_names[k]);
    rows[n++] = r;
  }
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    for (int t = 0; t < N_THRESHOLDS; t++) {
      struct row r = {"open_plans_over", "T", M_PLANS_OPEN_OVER, k * N_THRESHOLDS + t,
                      M_PLANS_OPEN, k, V_PERCENT, 0, ""};
      snprintf(r.breakdown, sizeof r.breakdown, "%s,%dm", plan_kind_names[k], plan_thresholds[t]);
      rows[n++] = r;
    }
  rows[n++] = (struct row){"placements_3plus", "FYTD", M_PLACEMENTS3_FYTD, 0, M_CHILDREN_ON_PLAN,
                           PLAN_LAC, V_PERCENT, 0, ""};
  rows[n++] = (struct row){"placements_3plus", "12m", M_PLACEMENTS3_12M, 0, M_CHILDREN_ON_PLAN,
                           PLAN_LAC, V_PERCENT, 0, ""};
  return n;
}

int catalogue_build(struct store *st, MDB_txn *txn, const char *la, csc_date as_of,
                    const struct population *pop, struct arena *a,
                    Cscflow__V1__IndicatorValue ***out, size_t *n_out) {
  struct row rows[CATALOGUE_MAX_VALUES];
  const size_t n = catalogue_rows(rows);
  Cscflow__V1__IndicatorValue **values = arena_alloc(a, n * sizeof *values);
  if (values == NULL)
    return CSC_ENOMEM;
  const int64_t children = population_lookup(pop, la, as_of);
  for (size_t i = 0; i < n; i++) {
    const struct row *r = &rows[i];
    Cscflow__V1__IndicatorValue *v = arena_alloc(a, sizeof *v);
    char *breakdown = arena_strdup(a, r->breakdown);
    if (v == NULL || breakdown == NULL)
      return CSC_ENOMEM;
    cscflow__v1__indicator_value__init(v);
    v->id = (char *)r->id;
    v->window = (char *)r->window;
    v->breakdown = breakdown;
    int64_t num, den = 0;
    int rc = agg_get(st, txn, la, r->measure, r->bucket, &num);
    if (rc == CSC_OK && r->den_measure >= 0)
      rc = agg_get(st, txn, la, r->den_measure, r->den_bucket, &den);
    if (rc != CSC_OK)
      return rc;
    v->has_numerator = 1;
    v->numerator = (double)num;
    if (r->den_measure >= 0) {
      v->has_denominator = 1;
      v->denominator = (double)den;
    }
    if (r->kind == V_COUNT) {
      v->has_value = 1;
      v->value = (double)num;
    } else if (den > 0) {
      v->has_value = 1;
      v->value = 100.0 * (double)num / (double)den;
    }
    if (r->per_10k && children > 0) {
      v->has_per_10k = 1;
      v->per_10k = (double)num * 10000.0 / (double)children;
    }
    v->has_provisional = 1;
    v->provisional = 0;
    values[i] = v;
  }
  *out = values;
  *n_out = n;
  return CSC_OK;
}
