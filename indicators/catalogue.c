/*
 * The indicator catalogue (docs/indicators.md) as rows over the measures
 * that facts feed. Each row names its numerator, its denominator if it is a
 * ratio, and how its value is formed; a distribution row expands into one
 * value per band and its percentiles. Adding an indicator is adding rows in
 * its group's catalogue_<group>.c and the facts that feed them in
 * state/facts_<group>.c.
 */
#include <stdlib.h>
#include <string.h>

#include "indicators/catalogue_internal.h"

struct row row_count(const char *id, const char *window, const char *breakdown, int measure,
                     int bucket, int per_10k) {
  struct row r;
  memset(&r, 0, sizeof r);
  r.id = id;
  r.window = window;
  snprintf(r.breakdown, sizeof r.breakdown, "%s", breakdown);
  r.measure = measure;
  r.bucket = bucket;
  r.den_measure = -1;
  r.kind = V_COUNT;
  r.per_10k = per_10k;
  r.within = -1;
  r.other_list = -1;
  return r;
}

struct row row_ratio(const char *id, const char *window, const char *breakdown, int measure,
                     int bucket, int den_measure, int den_bucket, double scale) {
  struct row r = row_count(id, window, breakdown, measure, bucket, 0);
  r.den_measure = den_measure;
  r.den_bucket = den_bucket;
  r.kind = V_RATIO;
  r.scale = scale;
  return r;
}

size_t catalogue_rows_core(struct row *rows, size_t n) {
  rows[n++] = row_count("referrals", "12m", "", M_REFERRALS_12M, 0, 1);
  rows[n++] = row_count("referrals", "FYTD", "", M_REFERRALS_FYTD, 0, 1);
  rows[n] = row_ratio("rereferrals", "12m", "", M_REREFERRALS_12M, 0, M_REFERRALS_12M, 0, 100);
  rows[n++].per_10k = 1;
  rows[n] = row_ratio("rereferrals", "FYTD", "", M_REREFERRALS_FYTD, 0, M_REFERRALS_FYTD, 0, 100);
  rows[n++].per_10k = 1;
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    rows[n++] = row_count("children_on_plan", "T", plan_kind_names[k], M_CHILDREN_ON_PLAN, k, 1);
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    for (int t = 0; t < N_THRESHOLDS; t++) {
      char bd[32];
      snprintf(bd, sizeof bd, "%s,%dm", plan_kind_names[k], plan_thresholds[t]);
      rows[n++] = row_ratio("open_plans_over", "T", bd, M_PLANS_OPEN_OVER, k * N_THRESHOLDS + t,
                            M_PLANS_OPEN, k, 100);
    }
  rows[n++] = row_ratio("placements_3plus", "FYTD", "", M_PLACEMENTS3_FYTD, 0, M_CHILDREN_ON_PLAN,
                        PLAN_LAC, 100);
  rows[n++] = row_ratio("placements_3plus", "12m", "", M_PLACEMENTS3_12M, 0, M_CHILDREN_ON_PLAN,
                        PLAN_LAC, 100);
  return n;
}

static Cscflow__V1__IndicatorValue *new_value(struct arena *a, const struct row *r,
                                              const char *breakdown) {
  Cscflow__V1__IndicatorValue *v = arena_alloc(a, sizeof *v);
  char *bd = arena_strdup(a, breakdown);
  if (v == NULL || bd == NULL)
    return NULL;
  cscflow__v1__indicator_value__init(v);
  v->id = (char *)r->id;
  v->window = (char *)r->window;
  v->breakdown = bd;
  v->has_provisional = 1;
  v->provisional = r->provisional != 0;
  return v;
}

/* "other" of a breakdown by code: what the list's rows leave of the measure. */
static int64_t other_sum(const struct agg_sums *sums, const struct code_lists *codes,
                         const struct row *r) {
  const char *names[CATALOGUE_MAX_CODES];
  const size_t n = code_list_codes(codes, (enum code_list)r->other_list, names,
                                   CATALOGUE_MAX_CODES);
  int64_t sum = agg_sums_measure_total(sums, r->measure, CODE_BUCKET_ALL);
  for (size_t i = 0; i < n; i++)
    if (code_bucket(names[i]) != CODE_BUCKET_OTHER)
      sum -= agg_sums_get(sums, r->measure, code_bucket(names[i]));
  return sum;
}

static void plain_value(const struct agg_sums *sums, const struct code_lists *codes,
                        int64_t children, const struct row *r, Cscflow__V1__IndicatorValue *v) {
  const int64_t num = r->other_list >= 0 ? other_sum(sums, codes, r)
                                         : agg_sums_get(sums, r->measure, r->bucket),
                den = r->den_measure >= 0 ? agg_sums_get(sums, r->den_measure, r->den_bucket) : 0;
  const double nscale = r->num_scale != 0 ? r->num_scale : 1.0;
  v->has_numerator = 1;
  v->numerator = nscale * (double)num;
  if (r->den_measure >= 0) {
    v->has_denominator = 1;
    v->denominator = (double)den;
  }
  if (r->kind == V_COUNT) {
    v->has_value = 1;
    v->value = (double)num;
  } else if (den > 0) {
    v->has_value = 1;
    v->value = r->scale * nscale * (double)num / (double)den;
  }
  if (r->per_10k && children > 0) {
    v->has_per_10k = 1;
    v->per_10k = (double)num * 10000.0 / (double)children;
  }
}

/* The smallest bucket x with at least q of the items at or below it. */
static int percentile(const int64_t *counts, int n, int64_t total, double q) {
  int64_t seen = 0;
  for (int x = 0; x < n; x++) {
    seen += counts[x];
    if ((double)seen >= q * (double)total)
      return x;
  }
  return n - 1;
}

/* Appends a distribution's values at out[*n..]. */
static int dist_values(const struct agg_sums *sums, const struct row *r, struct arena *a,
                       Cscflow__V1__IndicatorValue **out, size_t *n) {
  int64_t *counts = arena_alloc(a, (size_t)r->n_buckets * sizeof *counts);
  if (counts == NULL)
    return CSC_ENOMEM;
  for (int x = 0; x < r->n_buckets; x++)
    counts[x] = agg_sums_get(sums, r->measure, x);
  int64_t total = 0, within = 0;
  for (int x = 0; x < r->n_buckets; x++) {
    total += counts[x];
    if (x <= r->within)
      within += counts[x];
  }
  for (int b = 0; b < r->n_bands + 3 + 1; b++) {
    const int is_band = b < r->n_bands, pct = b - r->n_bands; /* 0..2: p25..p75, 3: within */
    if (!is_band && ((pct < 3 && !r->percentiles) || (pct == 3 && r->within < 0)))
      continue;
    char label[32];
    static const char *const pnames[3] = {"p25", "p50", "p75"};
    if (is_band)
      snprintf(label, sizeof label, "%s", r->bands[b].label);
    else if (pct < 3)
      snprintf(label, sizeof label, "%s", pnames[pct]);
    else
      snprintf(label, sizeof label, "within_%d", r->within);
    Cscflow__V1__IndicatorValue *v = new_value(a, r, label);
    if (v == NULL)
      return CSC_ENOMEM;
    int64_t num = 0;
    if (is_band || pct == 3) {
      if (is_band)
        for (int x = r->bands[b].lo; x <= r->bands[b].hi && x < r->n_buckets; x++)
          num += counts[x];
      else
        num = within;
      v->has_numerator = v->has_denominator = 1;
      v->numerator = (double)num;
      v->denominator = (double)total;
      if (total > 0) {
        v->has_value = 1;
        v->value = 100.0 * (double)num / (double)total;
      }
    } else if (total > 0) {
      v->has_value = 1;
      v->value = percentile(counts, r->n_buckets, total, 0.25 * (pct + 1));
    }
    out[(*n)++] = v;
  }
  return CSC_OK;
}

size_t catalogue_rows(struct row *rows, const struct code_lists *codes) {
  size_t n = catalogue_rows_core(rows, 0);
  n = catalogue_rows_activity(rows, n, codes);
  n = catalogue_rows_plans(rows, n);
  n = catalogue_rows_outcomes(rows, n);
  return catalogue_rows_workforce(rows, n);
}

size_t catalogue_row_width(const struct row *r) {
  return r->kind == V_DIST ? (size_t)r->n_bands + 4 : 1;
}

int catalogue_row_values(const struct row *r, const struct agg_sums *sums,
                         const struct code_lists *codes, int64_t children, struct arena *a,
                         Cscflow__V1__IndicatorValue **out, size_t *n) {
  if (r->kind == V_DIST)
    return dist_values(sums, r, a, out, n);
  Cscflow__V1__IndicatorValue *v = new_value(a, r, r->breakdown);
  if (v == NULL)
    return CSC_ENOMEM;
  plain_value(sums, codes, children, r, v);
  out[(*n)++] = v;
  return CSC_OK;
}

int catalogue_build(const struct agg_sums *sums, const struct code_lists *codes, const char *la,
                    csc_date as_of,
                    const struct population *pop, struct arena *a,
                    Cscflow__V1__IndicatorValue ***out, size_t *n_out) {
  struct row *rows = arena_alloc(a, CATALOGUE_MAX_ROWS * sizeof *rows);
  if (rows == NULL)
    return CSC_ENOMEM;
  const size_t n = catalogue_rows(rows, codes);
  size_t cap = 0;
  for (size_t i = 0; i < n; i++)
    cap += catalogue_row_width(&rows[i]);
  Cscflow__V1__IndicatorValue **values = arena_alloc(a, (cap ? cap : 1) * sizeof *values);
  if (values == NULL)
    return CSC_ENOMEM;
  const int64_t children = population_lookup(pop, la, as_of);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const int rc = catalogue_row_values(&rows[i], sums, codes, children, a, values, &m);
    if (rc != CSC_OK)
      return rc;
  }
  *out = values;
  *n_out = m;
  return CSC_OK;
}

/* The group of each id: the section of docs/indicators.md that lists it,
 * with Timeliness under Activity (its distributions time the referral and
 * assessment flow). Every id of the catalogue is here: test_api fails on a
 * snapshot value without a group. */
const char *catalogue_group(const char *id) {
  static const struct {
    const char *id, *group;
  } groups[] = {
      {"referrals", "Activity"},
      {"referrals_by_source", "Activity"},
      {"referral_outcome", "Activity"},
      {"assessments", "Activity"},
      {"s47_enquiries", "Activity"},
      {"icpcs", "Activity"},
      {"cp_plan_starts", "Activity"},
      {"assessment_factors", "Activity"},
      {"nfa_reassessed", "Activity"},
      {"referral_to_assessment_wd", "Activity"},
      {"s47_to_icpc_wd", "Activity"},
      {"cin_episode_duration", "Activity"},
      {"children_in_need", "Plans"},
      {"children_on_plan", "Plans"},
      {"open_plans_over", "Plans"},
      {"ended_plans_over", "Plans"},
      {"repeat_plan", "Plans"},
      {"seen_per_plan", "Plans"},
      {"cin_closed_after_step_down", "Plans"},
      {"cp_reviews_timely", "Plans"},
      {"lac_reviews_timely", "Plans"},
      {"rereferrals", "Outcomes"},
      {"placements_3plus", "Outcomes"},
      {"placement_stability_long", "Outcomes"},
      {"placement_changes_avg", "Outcomes"},
      {"placement_type_mix", "Outcomes"},
      {"placement_distance", "Outcomes"},
      {"care_entries", "Outcomes"},
      {"care_exits_permanence", "Outcomes"},
      {"reunification_sustained", "Outcomes"},
      {"missing_from_care", "Outcomes"},
      {"adoption_timeliness", "Outcomes"},
      {"early_permanence", "Outcomes"},
      {"care_leavers", "Outcomes"},
      {"sdq_mean", "Outcomes"},
      {"court_applications", "Outcomes"},
      {"sw_vacancy_rate", "Workforce"},
      {"sw_turnover_rate", "Workforce"},
      {"sw_sickness", "Workforce"},
      {"sw_agency_rate", "Workforce"},
      {"sw_caseload", "Workforce"},
      {"sw_diversity", "Workforce"},
  };
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    if (strcmp(groups[i].id, id) == 0)
      return groups[i].group;
  return NULL;
}
