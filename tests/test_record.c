/*
 * test_record: the DfE feed's documents folded (state/record.c): read as the
 * endpoint reads them (feeds/dfe.c), made the events it produces, and folded
 * with the child's other events. Expected states worked out by hand from
 * the merge rules of issue 19: "A partial-mode client's documents only add
 * and change. A full-mode client's document also retracts an item of that
 * child it no longer carries, unless the item could have left by the cohort
 * window (it ended before the window's start): ageing out is never a
 * retraction. A purge document stops the child being updated and retracts
 * nothing."
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "feeds/feeds.h"
#include "state/state.h"
#include "tests/testutil.h"

#define FULL CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL
#define PARTIAL CSCFLOW__V1__RECORD_MODE__RECORD_MODE_PARTIAL
#define MAXEV 16

struct child {
  struct arena a;
  CaseEvent *ev[MAXEV];
  size_t n;
  struct child_state st;
};

/* The event of one document (a JSON object) received at noon UTC on day. */
static void receive(struct child *c, Cscflow__V1__RecordMode mode, csc_date day, const char *doc) {
  char body[4096];
  snprintf(body, sizeof body, "[%s]", doc);
  struct dfe_document *d;
  size_t n;
  struct dfe_problem p;
  if (dfe_parse(body, strlen(body), mode, &c->a, &d, &n, &p) != CSC_OK)
    fail_msg("[%ld] %s: %s", p.index, p.field, p.reason);
  assert_int_equal(n, 1);
  assert_true(c->n < MAXEV);
  CaseEvent *ev = arena_alloc(&c->a, sizeof *ev);
  assert_non_null(ev);
  assert_int_equal(dfe_event("201", &d[0], (int64_t)day * 86400000 + 12 * 3600000, &c->a, ev),
                   CSC_OK);
  c->ev[c->n++] = ev;
}

static const struct child_state *fold(struct child *c) {
  CaseEvent *copy[MAXEV];
  memcpy(copy, c->ev, c->n * sizeof *copy);
  assert_int_equal(child_fold(copy, c->n, test_code_lists(), &c->a, &c->st), CSC_OK);
  return &c->st;
}

static struct child *child_new(void) {
  struct child *c = calloc(1, sizeof *c);
  assert_non_null(c);
  arena_init(&c->a, 1 << 16);
  return c;
}

static void child_free(struct child *c) {
  arena_free(&c->a);
  free(c);
}

#define DETAILS "\"child_details\":{\"date_of_birth\":\"2015-03-01\",\"sex\":\"F\",\"uasc_flag\":false}"

/* A referral with a CP plan: day 1, full. Day 2, a partial record ends the
 * plan (its start not repeated). Day 3, a full record without the plan: it
 * is retracted (it ended 1 March 2025, after the window's start, 1 April
 * 2023). */
static void test_partial_adds_full_retracts(void **state) {
  (void)state;
  struct child *c = child_new();
  receive(c, FULL, D(2025, 2, 1),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2025-01-06\","
          "\"referral_source\":\"1A\",\"child_protection_plans\":[{\"child_protection_plan_id\":"
          "\"P9\",\"start_date\":\"2025-01-20\"}]}]}");
  const struct child_state *st = fold(c);
  assert_int_equal(st->details.dob, D(2015, 3, 1));
  assert_int_equal(st->n_referrals, 1);
  assert_string_equal(st->referrals[0].id, "R20250106");
  assert_int_equal(st->n_plans[PLAN_CP], 1);
  assert_string_equal(st->plans[PLAN_CP][0].id, "CP20250120");
  assert_string_equal(st->plans[PLAN_CP][0].ref, "R20250106");
  assert_int_equal(st->plans[PLAN_CP][0].end, DATE_NEVER);

  receive(c, PARTIAL, D(2025, 3, 2),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"child_protection_plans\":[{"
          "\"child_protection_plan_id\":\"P9\",\"end_date\":\"2025-03-01\"}]}]}");
  st = fold(c);
  assert_int_equal(st->n_plans[PLAN_CP], 1);
  assert_int_equal(st->plans[PLAN_CP][0].start, D(2025, 1, 20)); /* kept from day 1 */
  assert_int_equal(st->plans[PLAN_CP][0].end, D(2025, 3, 1));
  assert_int_equal(st->n_referrals, 1);

  receive(c, FULL, D(2025, 3, 10),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2025-01-06\","
          "\"referral_source\":\"1A\"}]}");
  st = fold(c);
  assert_int_equal(st->n_plans[PLAN_CP], 0);
  assert_int_equal(st->n_referrals, 1);
  assert_int_equal(st->n_findings, 0);
  child_free(c);
}

/* An item that aged out of the window is not retracted: received on
 * 1 June 2026, the window starts 1 April 2024; a plan that ended on
 * 1 May 2023 and a plan that ended on 1 May 2024 are both left out of the
 * full record: the first stays, the second is retracted. */
static void test_ageing_out_is_no_retraction(void **state) {
  (void)state;
  struct child *c = child_new();
  receive(c, FULL, D(2024, 6, 1),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2022-09-01\","
          "\"child_in_need_plans\":[{\"child_in_need_plan_id\":\"A\",\"start_date\":\"2022-10-01\","
          "\"end_date\":\"2023-05-01\"},{\"child_in_need_plan_id\":\"B\",\"start_date\":"
          "\"2023-06-01\",\"end_date\":\"2024-05-01\"}]}]}");
  assert_int_equal(fold(c)->n_plans[PLAN_CIN], 2);
  receive(c, FULL, D(2026, 6, 1),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2022-09-01\"}]}");
  const struct child_state *st = fold(c);
  assert_int_equal(st->n_plans[PLAN_CIN], 1);
  assert_string_equal(st->plans[PLAN_CIN][0].id, "CIN20221001");
  child_free(c);
}

/* A purge stops the child being updated and retracts nothing: the full
 * record after it, without the plan, changes nothing. */
static void test_purge(void **state) {
  (void)state;
  struct child *c = child_new();
  receive(c, FULL, D(2025, 2, 1),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2025-01-06\","
          "\"child_in_need_plans\":[{\"child_in_need_plan_id\":\"A\",\"start_date\":"
          "\"2025-01-20\"}]}]}");
  receive(c, PARTIAL, D(2025, 2, 2), "{\"la_child_id\":\"C1\",\"mis_child_id\":null,\"purge\":true}");
  receive(c, FULL, D(2025, 2, 3), "{\"la_child_id\":\"C1\"," DETAILS "}");
  const struct child_state *st = fold(c);
  assert_int_equal(st->n_plans[PLAN_CIN], 1);
  assert_int_equal(st->n_referrals, 1);
  child_free(c);
}

/* Placements read as the 903's episodes: S starts a period, P moves within
 * it, E4A on the end ends it. The same period imported from the SSDA903
 * (named P20230510, recorded on 31 March 2024) is the feed's period, not a
 * second one: the later-recorded, the feed's, holds. */
static void test_placements_and_the_same_period_from_a_return(void **state) {
  (void)state;
  struct child *c = child_new();
  CaseEvent *imported = arena_alloc(&c->a, sizeof *imported);
  Cscflow__V1__PeriodOfCareStarted *ps = arena_alloc(&c->a, sizeof *ps);
  assert_non_null(imported);
  assert_non_null(ps);
  const CaseEvent init = CSCFLOW__V1__CASE_EVENT__INIT;
  *imported = init;
  cscflow__v1__period_of_care_started__init(ps);
  imported->event_id = "903-import";
  imported->la_code = "201";
  imported->child_id = "C1";
  imported->source_system = "ssda903";
  imported->occurred_on = 20230510;
  imported->recorded_at_ms = (int64_t)D(2024, 3, 31) * 86400000 + 12 * 3600000;
  imported->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED;
  imported->period_of_care_started = ps;
  ps->period_id = "P20230510";
  ps->legal_status = "C2";
  c->ev[c->n++] = imported;
  receive(c, FULL, D(2024, 6, 1),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2023-04-02\","
          "\"child_looked_after_placements\":[{\"child_looked_after_placement_id\":\"L1\","
          "\"start_date\":\"2023-05-10\",\"start_reason\":\"S\",\"postcode\":\"LS6 2AB\","
          "\"placement_type\":\"U1\",\"end_date\":\"2023-09-01\",\"end_reason\":\"X1\"},"
          "{\"child_looked_after_placement_id\":\"L2\",\"start_date\":\"2023-09-01\","
          "\"start_reason\":\"P\",\"placement_type\":\"U3\",\"end_date\":\"2024-02-01\","
          "\"end_reason\":\"E4A\",\"change_reason\":\"CARPL\"}]}]}");
  const struct child_state *st = fold(c);
  assert_int_equal(st->n_plans[PLAN_LAC], 1);
  assert_string_equal(st->plans[PLAN_LAC][0].id, "P20230510");
  assert_int_equal(st->plans[PLAN_LAC][0].start, D(2023, 5, 10));
  assert_int_equal(st->plans[PLAN_LAC][0].end, D(2024, 2, 1));
  assert_string_equal(st->plans[PLAN_LAC][0].end_code, "E4A");
  assert_int_equal(st->n_placements, 2);
  assert_string_equal(st->placements[0].code, "U1");
  assert_string_equal(st->placements[1].code, "U3");
  assert_int_equal(st->n_findings, 0);
  child_free(c);
}

/* A record retracted (sent in error) takes what it said with it: the plan
 * it alone carried is gone; the referral, restated by a later record, is
 * not. */
static void test_retracted_record(void **state) {
  (void)state;
  struct child *c = child_new();
  receive(c, PARTIAL, D(2025, 2, 1),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2025-01-06\","
          "\"child_in_need_plans\":[{\"child_in_need_plan_id\":\"A\",\"start_date\":"
          "\"2025-01-20\"}]}]}");
  receive(c, PARTIAL, D(2025, 2, 2),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E2\",\"referral_date\":\"2025-02-01\"}]}");
  assert_int_equal(fold(c)->n_plans[PLAN_CIN], 1);
  CaseEvent *retract = arena_alloc(&c->a, sizeof *retract);
  assert_non_null(retract);
  const CaseEvent init = CSCFLOW__V1__CASE_EVENT__INIT;
  *retract = init;
  retract->event_id = "retract-1";
  retract->la_code = "201";
  retract->child_id = "C1";
  retract->occurred_on = 20250203;
  retract->recorded_at_ms = (int64_t)D(2025, 2, 3) * 86400000;
  retract->retracts_event_id = c->ev[0]->event_id;
  c->ev[c->n++] = retract;
  const struct child_state *st = fold(c);
  assert_int_equal(st->n_plans[PLAN_CIN], 0);
  assert_int_equal(st->n_referrals, 1);
  assert_string_equal(st->referrals[0].id, "R20250201");
  child_free(c);
}

/* Whether the event id names the document doc's event (its id, "#", a number). */
static int from_document(const char *event_id, const CaseEvent *doc) {
  const size_t n = strlen(doc->event_id);
  return strncmp(event_id, doc->event_id, n) == 0 && event_id[n] == '#';
}

/* A finding stays on its event while the item is restated unchanged: the
 * referral's source ZZ (in no code list: unknown_code), sent on day 1, is
 * restated by day 2's full record, which ends the plan and adds an SDQ (a
 * plan's end is one more event), and by day 3's partial record, which names
 * only the plan: the finding is still on day 1's event, the same id (none
 * resolved and opened again). Day 4's record changes the source to YY: the
 * finding is then on day 4's event. */
static void test_findings_stay_on_unchanged_items(void **state) {
  (void)state;
  struct child *c = child_new();
  receive(c, FULL, D(2025, 2, 1),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2025-01-06\","
          "\"referral_source\":\"ZZ\",\"child_in_need_plans\":[{\"child_in_need_plan_id\":"
          "\"A\",\"start_date\":\"2025-01-20\"}]}]}");
  const struct child_state *st = fold(c);
  assert_int_equal(st->n_findings, 1);
  assert_int_equal(st->findings[0].rule, Q_UNKNOWN_CODE);
  assert_true(from_document(st->findings[0].event_id, c->ev[0]));
  char first[STATE_ID_MAX + 1];
  snprintf(first, sizeof first, "%s", st->findings[0].event_id);

  receive(c, FULL, D(2025, 3, 2),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"health_and_wellbeing\":{\"sdq_assessments\":"
          "[{\"date\":\"2025-03-01\",\"score\":12}]},\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2025-01-06\","
          "\"referral_source\":\"ZZ\",\"child_in_need_plans\":[{\"child_in_need_plan_id\":"
          "\"A\",\"start_date\":\"2025-01-20\",\"end_date\":\"2025-03-01\"}]}]}");
  st = fold(c);
  assert_int_equal(st->plans[PLAN_CIN][0].end, D(2025, 3, 1));
  assert_int_equal(st->n_sdq, 1);
  assert_int_equal(st->n_findings, 1);
  assert_string_equal(st->findings[0].event_id, first);

  receive(c, PARTIAL, D(2025, 3, 3),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"child_in_need_plans\":[{"
          "\"child_in_need_plan_id\":\"A\",\"end_date\":\"2025-03-02\"}]}]}");
  st = fold(c);
  assert_int_equal(st->plans[PLAN_CIN][0].end, D(2025, 3, 2));
  assert_int_equal(st->n_findings, 1);
  assert_string_equal(st->findings[0].event_id, first);

  receive(c, FULL, D(2025, 3, 4),
          "{\"la_child_id\":\"C1\"," DETAILS ",\"social_care_episodes\":[{"
          "\"social_care_episode_id\":\"E1\",\"referral_date\":\"2025-01-06\","
          "\"referral_source\":\"YY\"}]}");
  st = fold(c);
  assert_int_equal(st->n_findings, 1);
  assert_int_equal(st->findings[0].rule, Q_UNKNOWN_CODE);
  assert_true(from_document(st->findings[0].event_id, c->ev[3]));
  child_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_partial_adds_full_retracts),
      cmocka_unit_test(test_ageing_out_is_no_retraction),
      cmocka_unit_test(test_purge),
      cmocka_unit_test(test_placements_and_the_same_period_from_a_return),
      cmocka_unit_test(test_retracted_record),
      cmocka_unit_test(test_findings_stay_on_unchanged_items),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
