/*
 * Rows of the Activity and Timeliness groups of docs/indicators.md, over
 * the measures of state/facts_activity.c.
 */
#include "indicators/catalogue_internal.h"

static const char *const outcome_names[OUT_COUNT] = {
    [OUT_NFA] = "NFA", [OUT_EH] = "EH",   [OUT_CIN] = "CIN",
    [OUT_CP] = "CP",   [OUT_LAC] = "LAC", [OUT_PENDING] = "pending"};

/* Working-day bands; the last runs to DIST_MAX, where longer spans are kept. */
static const struct band referral_to_assessment_bands[] = {
    {"0-10", 0, 10}, {"11-20", 11, 20}, {"21-30", 21, 30}, {"31-45", 31, 45}, {"46+", 46, DIST_MAX}};
static const struct band s47_to_icpc_bands[] = {
    {"0-10", 0, 10}, {"11-15", 11, 15}, {"16-20", 16, 20}, {"21+", 21, DIST_MAX}};

/* One band per bucket of enum duration_band. */
static const struct band duration_bands[DUR_COUNT] = {
    [DUR_UNDER_3M] = {"<3m", DUR_UNDER_3M, DUR_UNDER_3M},
    [DUR_3_6M] = {"3-6m", DUR_3_6M, DUR_3_6M},
    [DUR_6_12M] = {"6-12m", DUR_6_12M, DUR_6_12M},
    [DUR_1_2Y] = {"1-2y", DUR_1_2Y, DUR_1_2Y},
    [DUR_2Y_PLUS] = {"2y+", DUR_2Y_PLUS, DUR_2Y_PLUS}};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct row row_dist(const char *id, const char *window, int measure,
                           const struct band *bands, int n_bands, int n_buckets, int percentiles,
                           int within) {
  struct row r = row_count(id, window, "", measure, 0, 0);
  r.kind = V_DIST;
  r.bands = bands;
  r.n_bands = n_bands;
  r.n_buckets = n_buckets;
  r.percentiles = percentiles;
  r.within = within;
  return r;
}

/* One % row per code of list (and "other") over the measure's buckets. */
static size_t rows_by_code(struct row *rows, size_t n, const char *id, enum code_list list,
                           int measure, int den_measure) {
  for (size_t i = 0; i <= code_count(list); i++)
    rows[n++] = row_ratio(id, "12m", code_name(list, i), measure, (int)i, den_measure, 0, 100);
  return n;
}

static size_t rows_activity(struct row *rows, size_t n) {
  n = rows_by_code(rows, n, "referrals_by_source", CODE_REFERRAL_SOURCE,
                   M_REFERRALS_BY_SOURCE_12M, M_REFERRALS_12M);
  for (int o = 0; o < OUT_COUNT; o++)
    rows[n++] = row_ratio("referral_outcome", "12m", outcome_names[o], M_REFERRAL_OUTCOME_12M, o,
                          M_REFERRALS_12M, 0, 100);
  rows[n++] = row_count("assessments", "12m", "", M_ASSESSMENTS_12M, 0, 1);
  rows[n++] = row_count("s47_enquiries", "12m", "", M_S47_12M, 0, 1);
  rows[n++] = row_count("icpcs", "12m", "", M_ICPCS_12M, 0, 1);
  /* Buckets: each initial category, "other", then all plans (facts_activity.c). */
  const size_t categories = code_count(CODE_ABUSE_CATEGORY);
  rows[n++] = row_count("cp_plan_starts", "12m", "", M_CP_STARTS_12M, (int)categories + 1, 1);
  for (size_t i = 0; i <= categories; i++)
    rows[n++] = row_count("cp_plan_starts", "12m", code_name(CODE_ABUSE_CATEGORY, i),
                          M_CP_STARTS_12M, (int)i, 1);
  n = rows_by_code(rows, n, "assessment_factors", CODE_ASSESSMENT_FACTOR,
                   M_ASSESSMENT_FACTORS_12M, M_ASSESSMENTS_12M);
  for (int b = 0; b < 2; b++) {
    rows[n] = row_ratio("nfa_reassessed", "12m", b == 0 ? "6m" : "12m", M_NFA_REASSESSED_12M, b,
                        M_NFA_ASSESSMENTS_12M, 0, 100);
    rows[n++].provisional = 1;
  }
  return n;
}

static size_t rows_timeliness(struct row *rows, size_t n) {
  rows[n++] = row_dist("referral_to_assessment_wd", "12m", M_REFERRAL_TO_ASSESSMENT_WD,
                       referral_to_assessment_bands, N_OF(referral_to_assessment_bands),
                       DIST_MAX + 1, 1, 45);
  rows[n++] = row_dist("s47_to_icpc_wd", "12m", M_S47_TO_ICPC_WD, s47_to_icpc_bands,
                       N_OF(s47_to_icpc_bands), DIST_MAX + 1, 1, 15);
  rows[n++] = row_dist("cin_episode_duration", "T", M_CIN_DURATION_OPEN, duration_bands, DUR_COUNT,
                       DUR_COUNT, 0, -1);
  rows[n++] = row_dist("cin_episode_duration", "12m", M_CIN_DURATION_CLOSED_12M, duration_bands,
                       DUR_COUNT, DUR_COUNT, 0, -1);
  return n;
}

size_t catalogue_rows_activity(struct row *rows, size_t n) {
  return rows_timeliness(rows, rows_activity(rows, n));
}
