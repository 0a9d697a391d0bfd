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

/* One row per code of list, as spelt in output, keyed by the code
 * (code_bucket), then "other": the rest of the measure (catalogue.c). The
 * rows follow the lists the state was built with; the stored counts do not. */
static size_t rows_by_code(struct row *rows, size_t n, const struct code_lists *codes,
                           const char *id, enum code_list list, int measure, int den_measure) {
  const char *names[CATALOGUE_MAX_CODES];
  const size_t k = code_list_codes(codes, list, names, CATALOGUE_MAX_CODES);
  for (size_t i = 0; i < k; i++)
    if (code_bucket(names[i]) != CODE_BUCKET_OTHER) /* too long to key: counted in other */
      rows[n++] = row_ratio(id, "12m", names[i], measure, code_bucket(names[i]), den_measure,
                            0, den_measure >= 0 ? 100 : 1);
  rows[n] = row_ratio(id, "12m", "other", measure, CODE_BUCKET_OTHER, den_measure, 0,
                      den_measure >= 0 ? 100 : 1);
  rows[n++].other_list = (int)list;
  return n;
}

/* rows_by_code as counts (no denominator). */
static size_t counts_by_code(struct row *rows, size_t n, const struct code_lists *codes,
                             const char *id, enum code_list list, int measure) {
  const size_t first = n;
  n = rows_by_code(rows, n, codes, id, list, measure, -1);
  for (size_t i = first; i < n; i++) {
    rows[i].kind = V_COUNT;
    rows[i].per_10k = 1;
  }
  return n;
}

static size_t rows_activity(struct row *rows, size_t n, const struct code_lists *codes) {
  n = rows_by_code(rows, n, codes, "referrals_by_source", CODE_REFERRAL_SOURCE,
                   M_REFERRALS_BY_SOURCE_12M, M_REFERRALS_12M);
  for (int o = 0; o < OUT_COUNT; o++)
    rows[n++] = row_ratio("referral_outcome", "12m", outcome_names[o], M_REFERRAL_OUTCOME_12M, o,
                          M_REFERRALS_12M, 0, 100);
  rows[n++] = row_count("assessments", "12m", "", M_ASSESSMENTS_12M, 0, 1);
  rows[n++] = row_count("s47_enquiries", "12m", "", M_S47_12M, 0, 1);
  rows[n++] = row_count("icpcs", "12m", "", M_ICPCS_12M, 0, 1);
  /* Buckets: each initial category, keyed by the code, and all plans. */
  rows[n++] = row_count("cp_plan_starts", "12m", "", M_CP_STARTS_12M, CODE_BUCKET_ALL, 1);
  n = counts_by_code(rows, n, codes, "cp_plan_starts", CODE_ABUSE_CATEGORY, M_CP_STARTS_12M);
  n = rows_by_code(rows, n, codes, "assessment_factors", CODE_ASSESSMENT_FACTOR,
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

size_t catalogue_rows_activity(struct row *rows, size_t n, const struct code_lists *codes) {
  return rows_timeliness(rows, rows_activity(rows, n, codes));
}
