/*
 * Rows of the plans group of docs/indicators.md (children_on_plan and
 * open_plans_over are rows of catalogue_rows_core). Facts: state/facts_plans.c.
 */
#include <stdio.h>

#include "indicators/catalogue_internal.h"

static const char *const windows[2] = {"12m", "FYTD"};

/* ended_plans_over: kind x 6m/12m/24m over the plans of the kind ended in
 * the window. */
static size_t ended_plans_over(struct row *rows, size_t n) {
  static const int num[2] = {M_PLANS_ENDED_OVER_12M, M_PLANS_ENDED_OVER_FYTD};
  static const int den[2] = {M_PLANS_ENDED_12M, M_PLANS_ENDED_FYTD};
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < PLAN_KIND_COUNT; k++)
      for (int t = 0; t < N_THRESHOLDS; t++) {
        char bd[32];
        snprintf(bd, sizeof bd, "%s,%dm", plan_kind_names[k], plan_thresholds[t]);
        rows[n++] = row_ratio("ended_plans_over", windows[w], bd, num[w], k * N_THRESHOLDS + t,
                              den[w], k, 100);
      }
  return n;
}

/* repeat_plan: kind x 12m/24m/ever over the plans of the kind started in
 * the window. */
static size_t repeat_plan(struct row *rows, size_t n) {
  static const int num[2] = {M_REPEAT_PLAN_12M, M_REPEAT_PLAN_FYTD};
  static const int den[2] = {M_PLANS_STARTED_12M, M_PLANS_STARTED_FYTD};
  static const char *const within[3] = {"12m", "24m", "ever"};
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < PLAN_KIND_COUNT; k++)
      for (int r = 0; r < 3; r++) {
        char bd[32];
        snprintf(bd, sizeof bd, "%s,%s", plan_kind_names[k], within[r]);
        rows[n++] = row_ratio("repeat_plan", windows[w], bd, num[w], k * 3 + r, den[w], k, 100);
      }
  return n;
}

size_t catalogue_rows_plans(struct row *rows, size_t n) {
  rows[n++] = row_count("children_in_need", "T", "", M_CHILDREN_IN_NEED, 0, 1);
  n = ended_plans_over(rows, n);
  n = repeat_plan(rows, n);
  /* seen_per_plan: visits on time over the plans of the kind open on T. */
  static const int seen_kinds[3] = {PLAN_CIN, PLAN_CP, PLAN_LAC};
  for (int i = 0; i < 3; i++)
    rows[n++] = row_ratio("seen_per_plan", "T", plan_kind_names[seen_kinds[i]], M_SEEN_ON_TIME,
                          seen_kinds[i], M_PLANS_OPEN, seen_kinds[i], 100);
  /* cin_closed_after_step_down: bucket 0 after CP, 1 after LAC. */
  static const char *const after[2] = {"after_CP", "after_LAC"};
  for (int b = 0; b < 2; b++) {
    rows[n] = row_ratio("cin_closed_after_step_down", "12m", after[b], M_STEP_DOWN_CLOSED_12M, b,
                        M_STEP_DOWN_ENDS_12M, b, 100);
    rows[n++].provisional = 1;
  }
  /* Reviews held in time (state/facts_reviews.c), children on T. */
  rows[n++] = row_ratio("cp_reviews_timely", "T", "", M_CP_REVIEWS_TIMELY, 0, M_CP_REVIEWS_DUE, 0,
                        100);
  rows[n++] = row_ratio("lac_reviews_timely", "T", "", M_LAC_REVIEWS_TIMELY, 0,
                        M_LAC_REVIEWS_DUE, 0, 100);
  return n;
}
