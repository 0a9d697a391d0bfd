/*
 * test_coverage: which values an LA's feeds support (indicators/coverage.c).
 * The DfE CSC API document, by issue 19: it "lacks fields that some
 * indicators need (CP categories, legal status, period-of-care start and
 * reason ceased, visits, reviews, early help, workforce)".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "indicators/indicators.h"
#include "ingest/ingest.h"
#include "tests/testutil.h"

static int unavailable(uint32_t carries, const char *id, const char *breakdown) {
  Cscflow__V1__IndicatorValue v = CSCFLOW__V1__INDICATOR_VALUE__INIT, *p = &v;
  v.id = (char *)id;
  v.breakdown = (char *)breakdown;
  coverage_mark(carries, &p, 1);
  return v.has_unavailable && v.unavailable;
}

static void test_what_the_feeds_carry(void **state) {
  (void)state;
  static struct coverage c;
  struct config cfg;
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.feeds.E99000001", "dfe_csc_api"), CSC_OK);
  assert_int_equal(config_set(&cfg, "cscflow.feeds.E99000002", "dfe_csc_api, ssda903"), CSC_OK);
  assert_int_equal(config_set(&cfg, "cscflow.feeds.E99000003", "ssda903,cin_census"), CSC_OK);
  char err[256];
  assert_int_equal(coverage_load(&c, &cfg, NULL, err, sizeof err), CSC_OK);
  config_free(&cfg);
  const uint32_t dfe = coverage_for(&c, "E99000001"), both = coverage_for(&c, "E99000002"),
                 returns = coverage_for(&c, "E99000003"), all = coverage_for(&c, "E99000009");
  assert_int_equal(all, COVERAGE_ALL); /* no key: a feed of events, everything */

  /* The feed alone: referrals, assessments, CP plan counts, adoption A1. */
  assert_false(unavailable(dfe, "referrals", ""));
  assert_false(unavailable(dfe, "assessments", ""));
  assert_false(unavailable(dfe, "cp_plan_starts", ""));
  assert_false(unavailable(dfe, "children_on_plan", "CP"));
  assert_false(unavailable(dfe, "adoption_timeliness", "A1"));
  /* ... but not CP categories, early help, visits, reviews, legal status
   * (looked-after counts exclude V3/V4), the placement order (A2) or the
   * workforce. */
  assert_true(unavailable(dfe, "cp_plan_starts", "N"));
  assert_true(unavailable(dfe, "children_on_plan", "EH"));
  assert_true(unavailable(dfe, "open_plans_over", "EH,12m"));
  assert_false(unavailable(dfe, "open_plans_over", "CIN,12m"));
  assert_true(unavailable(dfe, "seen_per_plan", "CP"));
  assert_true(unavailable(dfe, "cp_reviews_timely", ""));
  assert_true(unavailable(dfe, "children_on_plan", "LAC"));
  assert_true(unavailable(dfe, "adoption_timeliness", "A2"));
  assert_true(unavailable(dfe, "sw_vacancy_rate", ""));
  /* With the SSDA903 too: legal status, LAC reviews, the placement order. */
  assert_false(unavailable(both, "children_on_plan", "LAC"));
  assert_false(unavailable(both, "lac_reviews_timely", ""));
  assert_false(unavailable(both, "adoption_timeliness", "A2"));
  assert_true(unavailable(both, "cp_plan_starts", "N"));
  /* Both returns: CP categories and reviews, no visits or workforce. */
  assert_false(unavailable(returns, "cp_plan_starts", "N"));
  assert_false(unavailable(returns, "cp_reviews_timely", ""));
  assert_true(unavailable(returns, "seen_per_plan", "LAC"));
  assert_true(unavailable(returns, "sw_caseload", ""));
  /* What the round trip (test_feed_roundtrip) found the document cannot
   * give: assessments' outcomes (nfa_reassessed's denominator is the
   * assessments "with outcome NFA"), the CP plans before the window (a CP
   * plan repeats "ever" also "when its start records previous_cp_plans >=
   * 1"), legal status in the average placement changes and in a period's
   * last day "not under V3/V4", and whether a care leaver is in touch. */
  assert_true(unavailable(dfe, "nfa_reassessed", "6m"));
  assert_true(unavailable(returns, "nfa_reassessed", "6m")); /* the CIN census has none either */
  assert_true(unavailable(dfe, "repeat_plan", "CP,ever"));
  assert_false(unavailable(dfe, "repeat_plan", "CP,12m"));
  assert_false(unavailable(returns, "repeat_plan", "CP,ever")); /* NumberOfPreviousCPP */
  assert_true(unavailable(dfe, "placement_changes_avg", ""));
  assert_false(unavailable(both, "placement_changes_avg", ""));
  assert_true(unavailable(dfe, "cin_closed_after_step_down", "after_LAC"));
  assert_false(unavailable(dfe, "cin_closed_after_step_down", "after_CP"));
  assert_true(unavailable(dfe, "care_leavers", "in_touch"));
  assert_false(unavailable(both, "care_leavers", "in_touch"));
  assert_false(unavailable(dfe, "adoption_timeliness", "A10"));
  /* Everything: nothing flagged. */
  assert_false(unavailable(all, "sw_caseload", ""));
  assert_false(unavailable(all, "seen_per_plan", "CIN"));
}

static void test_bad_configuration(void **state) {
  (void)state;
  static struct coverage c;
  struct config cfg;
  char err[256];
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.feeds.E99000001", "dfe_csc_api,mosaic"), CSC_OK);
  assert_int_equal(coverage_load(&c, &cfg, NULL, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "cscflow.feeds.E99000001"));
  assert_non_null(strstr(err, "mosaic"));
  config_free(&cfg);
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.feeds.not-an-la", "events"), CSC_OK);
  assert_int_equal(coverage_load(&c, &cfg, NULL, err, sizeof err), CSC_EINVAL);
  config_free(&cfg);
}

/* cscflow.feeds.<LA> by the DfE number a feed client names (an alias):
 * filed under the canonical code, the one the engine asks about. Before,
 * it was filed under the alias, which no snapshot is ever made under, and
 * every value of the LA stayed unflagged without a word. */
static void test_alias(void **state) {
  (void)state;
  static struct coverage c;
  struct config cfg;
  struct la_registry las;
  char err[256];
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.la.alias.990", "E99000001"), CSC_OK);
  assert_int_equal(config_set(&cfg, "cscflow.feeds.990", "dfe_csc_api"), CSC_OK);
  assert_int_equal(la_registry_load(&las, &cfg, err, sizeof err), CSC_OK);
  assert_int_equal(coverage_load(&c, &cfg, &las, err, sizeof err), CSC_OK);
  uint32_t dfe;
  assert_int_equal(coverage_feed("dfe_csc_api", &dfe), CSC_OK);
  assert_int_equal(coverage_for(&c, "E99000001"), dfe);
  assert_true(unavailable(coverage_for(&c, "E99000001"), "seen_per_plan", "CIN"));
  /* The alias and its canonical code both set: one LA, set twice. */
  assert_int_equal(config_set(&cfg, "cscflow.feeds.E99000001", "events"), CSC_OK);
  assert_int_equal(coverage_load(&c, &cfg, &las, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "the feeds of E99000001 are set twice"));
  la_registry_free(&las);
  config_free(&cfg);
  /* With cscflow.las, an LA it does not name is refused, not ignored. */
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.las", "E99000001"), CSC_OK);
  assert_int_equal(config_set(&cfg, "cscflow.feeds.E99000002", "dfe_csc_api"), CSC_OK);
  assert_int_equal(la_registry_load(&las, &cfg, err, sizeof err), CSC_OK);
  assert_int_equal(coverage_load(&c, &cfg, &las, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "cscflow.feeds.E99000002: la_code: not in cscflow.las"));
  la_registry_free(&las);
  config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_what_the_feeds_carry),
      cmocka_unit_test(test_bad_configuration),
      cmocka_unit_test(test_alias),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
