/*
 * Rows of the Outcomes group of docs/indicators.md over the measures of
 * state/facts_outcomes.c (rereferrals and placements_3plus are core rows,
 * in catalogue.c).
 */
#include <stdio.h>

#include "indicators/catalogue_internal.h"

static const char *const group_names[PG_COUNT] = {
    [PG_FOSTER] = "foster",       [PG_ADOPTION] = "adoption", [PG_RESIDENTIAL] = "residential",
    [PG_SECURE] = "secure",       [PG_PARENTS] = "parents",   [PG_INDEPENDENT] = "independent",
    [PG_OTHER] = "other"};

/* Buckets 1..3 of M_CARE_EXITS_* (bucket 0: every exit). */
static const char *const exit_names[3] = {"adoption", "special_guardianship",
                                          "child_arrangements"};

/* Buckets 1..3 of M_CARE_LEAVERS_12M (bucket 0: contacted). */
static const char *const leaver_names[3] = {"in_touch", "eet", "suitable_accommodation"};

/* Buckets 1..3 of M_SDQ_COUNT (bucket 0: every child with a score). */
static const char *const sdq_band_names[3] = {"0-13", "14-16", "17+"};

/* Buckets 0..2 of M_ADOPTION_COUNT_12M and M_ADOPTION_DAYS_12M. */
static const char *const adoption_names[3] = {"A1", "A2", "A10"};

static size_t rows_placements(struct row *rows, size_t n) {
  rows[n++] = row_ratio("placement_stability_long", "T", "", M_STABILITY_LONG_NUM, 0,
                        M_STABILITY_LONG_DEN, 0, 100);
  rows[n++] = row_ratio("placement_changes_avg", "12m", "", M_PLACEMENT_CHANGES_12M, 0,
                        M_LAC_IN_12M, 0, 1);
  for (int g = 0; g < PG_COUNT; g++)
    rows[n++] = row_ratio("placement_type_mix", "T", group_names[g], M_PLACEMENT_GROUP, g,
                          M_CHILDREN_ON_PLAN, PLAN_LAC, 100);
  /* Of all children looked after on T: a distance not known stays in the
   * denominator and is its own value, `unknown` (INDICATORS.md). */
  rows[n++] = row_ratio("placement_distance", "T", "over_20_miles", M_DISTANCE_OVER_20, 0,
                        M_CHILDREN_ON_PLAN, PLAN_LAC, 100);
  rows[n++] = row_ratio("placement_distance", "T", "unknown", M_DISTANCE_UNKNOWN, 0,
                        M_CHILDREN_ON_PLAN, PLAN_LAC, 100);
  /* The sum is stored in tenths of a mile and published in miles. */
  rows[n] = row_ratio("placement_distance", "T", "mean_miles", M_DISTANCE_SUM, 0,
                      M_DISTANCE_KNOWN, 0, 1);
  rows[n++].num_scale = 0.1;
  return n;
}

static size_t rows_entries_exits(struct row *rows, size_t n) {
  static const char *const windows[2] = {"12m", "FYTD"};
  static const int entries[2] = {M_CARE_ENTRIES_12M, M_CARE_ENTRIES_FYTD};
  static const int exits[2] = {M_CARE_EXITS_12M, M_CARE_EXITS_FYTD};
  for (int w = 0; w < 2; w++) {
    /* Buckets: 0 UASC, 1 not UASC, 2 every entry (the total row). */
    rows[n++] = row_count("care_entries", windows[w], "", entries[w], 2, 1);
    rows[n++] = row_count("care_entries", windows[w], "UASC", entries[w], 0, 1);
    rows[n++] = row_count("care_entries", windows[w], "not_UASC", entries[w], 1, 1);
    for (int g = 0; g < 3; g++)
      rows[n++] = row_ratio("care_exits_permanence", windows[w], exit_names[g], exits[w], g + 1,
                            exits[w], 0, 100);
  }
  rows[n] = row_ratio("reunification_sustained", "12m", "", M_REUNIFICATIONS_12M, 1,
                      M_REUNIFICATIONS_12M, 0, 100);
  rows[n++].provisional = 1;
  return n;
}

static size_t rows_adoption(struct row *rows, size_t n) {
  for (int b = 0; b < 3; b++)
    rows[n++] = row_ratio("adoption_timeliness", "12m", adoption_names[b], M_ADOPTION_DAYS_12M, b,
                          M_ADOPTION_COUNT_12M, b, 1);
  rows[n++] = row_ratio("early_permanence", "12m", "", M_PLACED_FOR_ADOPTION_12M, 1,
                        M_PLACED_FOR_ADOPTION_12M, 0, 100);
  return n;
}

static size_t rows_children(struct row *rows, size_t n) {
  for (int b = 0; b < 3; b++)
    rows[n++] = row_ratio("care_leavers", "12m", leaver_names[b], M_CARE_LEAVERS_12M, b + 1,
                          M_CARE_LEAVERS_12M, 0, 100);
  /* The share of each 903 IN_TOUCH value among the care leavers contacted. */
  for (int v = 0; v < LEAVER_IN_TOUCH_COUNT; v++) {
    char bd[32];
    snprintf(bd, sizeof bd, "in_touch,%s", leaver_in_touch_codes[v]);
    rows[n++] = row_ratio("care_leavers", "12m", bd, M_CARE_LEAVERS_12M,
                          LEAVER_IN_TOUCH_VALUES + v, M_CARE_LEAVERS_12M, 0, 100);
  }
  rows[n++] = row_ratio("sdq_mean", "T", "mean", M_SDQ_SUM, 0, M_SDQ_COUNT, 0, 1);
  for (int b = 0; b < 3; b++)
    rows[n++] = row_ratio("sdq_mean", "T", sdq_band_names[b], M_SDQ_COUNT, b + 1, M_SDQ_COUNT, 0,
                          100);
  rows[n++] = row_count("court_applications", "6m", "", M_COURT_APPLICATIONS_6M, 0, 1);
  return n;
}

/* missing_from_care (state/facts_missing.c), by kind (bucket 0 missing, 1
 * away) and window: the % of children looked after in the window who had
 * an incident (the numerator is the count), the incidents, and incidents
 * per child who had one. */
static size_t rows_missing(struct row *rows, size_t n) {
  static const char *const windows[2] = {"12m", "FYTD"};
  static const int lac[2] = {M_LAC_IN_12M, M_LAC_IN_FYTD};
  static const int children[2] = {M_MISSING_CHILDREN_12M, M_MISSING_CHILDREN_FYTD};
  static const int incidents[2] = {M_MISSING_INCIDENTS_12M, M_MISSING_INCIDENTS_FYTD};
  static const char *const kinds[2] = {"missing", "away"};
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < 2; k++) {
      char bd[32];
      rows[n++] = row_ratio("missing_from_care", windows[w], kinds[k], children[w], k, lac[w], 0,
                            100);
      snprintf(bd, sizeof bd, "%s,incidents", kinds[k]);
      rows[n++] = row_count("missing_from_care", windows[w], bd, incidents[w], k, 0);
      snprintf(bd, sizeof bd, "%s,per_child", kinds[k]);
      rows[n++] = row_ratio("missing_from_care", windows[w], bd, incidents[w], k, children[w], k, 1);
    }
  return n;
}

size_t catalogue_rows_outcomes(struct row *rows, size_t n) {
  n = rows_placements(rows, n);
  n = rows_entries_exits(rows, n);
  n = rows_adoption(rows, n);
  n = rows_missing(rows, n);
  return rows_children(rows, n);
}
