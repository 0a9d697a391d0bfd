/*
 * The Outcomes group of docs/indicators.md (docs/indicators.md for
 * the choices beyond it), except rereferrals and placements_3plus (see
 * test_engine.c): hand-worked child histories.
 *
 * Most tests fold one child (child_fold + child_derive) and read the sum of
 * its facts on chosen as-of dates T, as an aggregate would (a fact counts
 * on T when from <= T < to): that pins every window edge to the day. The
 * engine tests at the end run several children through the whole engine
 * and read the published rows (ratios, means, per 10,000, provisional).
 * Every expected value is worked out in the comments, never copied from the
 * program's output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "state/state.h"
#include "tests/harness.h"
#include "tests/testutil.h"

#define MAXEV 64
#define S(x) ((char *)(x))

/* ---- a history of one child (or several, for the engine) ------------------------- */

struct hist {
  struct arena a;
  CaseEvent *ev[MAXEV];
  size_t n;
  const char *child; /* the child of the events built next */
  struct child_state st;
  struct derived d;
};

static int hist_setup(void **state) {
  struct hist *h = calloc(1, sizeof *h);
  if (h == NULL)
    return -1;
  arena_init(&h->a, 1 << 16);
  h->child = "C1";
  *state = h;
  return 0;
}

static int hist_teardown(void **state) {
  struct hist *h = *state;
  arena_free(&h->a);
  free(h);
  return 0;
}

#define TEST(name)                                                                                 \
  static void name##_(struct hist *h);                                                             \
  static void name(void **state) { name##_(*state); }                                              \
  static void name##_(struct hist *h)

static void *h_alloc(struct hist *h, size_t size) {
  void *p = arena_alloc(&h->a, size);
  assert_non_null(p);
  return memset(p, 0, size);
}

/* An event of h->child on d, recorded at 14:00 that day. */
static CaseEvent *ev_new(struct hist *h, const char *id, csc_date d) {
  assert_true(h->n < MAXEV);
  const CaseEvent init = CSCFLOW__V1__CASE_EVENT__INIT;
  CaseEvent *e = h_alloc(h, sizeof *e);
  *e = init;
  e->event_id = S(id);
  e->la_code = LA;
  e->child_id = S(h->child);
  e->occurred_on = date_to_yyyymmdd(d);
  e->recorded_at_ms = test_ms(d);
  return h->ev[h->n++] = e;
}

#define BUILD(CASE, INIT, field, Type, ...)                                                        \
  {                                                                                                \
    CaseEvent *e = ev_new(h, id, d);                                                               \
    Cscflow__V1__##Type *p = h_alloc(h, sizeof *p);                                                \
    const Cscflow__V1__##Type init_ = CSCFLOW__V1__##INIT##__INIT;                                 \
    *p = init_;                                                                                    \
    e->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_##CASE;                                     \
    e->field = p;                                                                                  \
    __VA_ARGS__;                                                                                   \
    return e;                                                                                      \
  }
#define HDR struct hist *h, const char *id, csc_date d

/* clang-format off */
static CaseEvent *details(HDR, csc_date dob, int uasc)
    BUILD(CHILD_DETAILS, CHILD_DETAILS, child_details, ChildDetails,
          p->date_of_birth = dob == DATE_NEVER ? 0 : date_to_yyyymmdd(dob), p->uasc = uasc)
static CaseEvent *care_start(HDR, const char *legal, int uasc, Cscflow__V1__Placement *pl)
    BUILD(PERIOD_OF_CARE_STARTED, PERIOD_OF_CARE_STARTED, period_of_care_started,
          PeriodOfCareStarted, p->period_id = S(id), p->legal_status = S(legal),
          p->category_of_need = "N1", p->uasc = uasc, p->placement = pl)
static CaseEvent *care_end(HDR, const char *period, const char *reason)
    BUILD(PERIOD_OF_CARE_ENDED, PERIOD_OF_CARE_ENDED, period_of_care_ended, PeriodOfCareEnded,
          p->period_id = S(period), p->reason_ceased = S(reason))
static CaseEvent *place(HDR, const char *period, Cscflow__V1__Placement *pl)
    BUILD(PLACEMENT_STARTED, PLACEMENT_STARTED, placement_started, PlacementStarted,
          p->period_id = S(period), p->placement = pl, p->reason_for_change = "CARPL")
/* A move whose 903 reason for new episode is rne (P, T, U or B). */
static CaseEvent *move(HDR, const char *period, Cscflow__V1__Placement *pl, const char *rne)
    BUILD(PLACEMENT_STARTED, PLACEMENT_STARTED, placement_started, PlacementStarted,
          p->period_id = S(period), p->placement = pl, p->reason_for_change = "CARPL",
          p->reason_for_new_episode = S(rne))
static CaseEvent *legal(HDR, const char *period, const char *status)
    BUILD(LEGAL_STATUS_CHANGED, LEGAL_STATUS_CHANGED, legal_status_changed, LegalStatusChanged,
          p->period_id = S(period), p->legal_status = S(status))
static CaseEvent *adopt(HDR, int stage, int early_permanence, int foster_carer)
    BUILD(ADOPTION_MILESTONE, ADOPTION_MILESTONE, adoption_milestone, AdoptionMilestone,
          p->stage = (Cscflow__V1__AdoptionStage)stage, p->early_permanence = early_permanence,
          p->placed_with_foster_carer = foster_carer)
static CaseEvent *leaver(HDR, int in_touch, const char *code, int activity, int suitable)
    BUILD(CARE_LEAVER_CONTACT, CARE_LEAVER_CONTACT, care_leaver_contact, CareLeaverContact,
          p->in_touch = in_touch, p->activity_code = S(code),
          p->activity = (Cscflow__V1__CareLeaverActivity)activity,
          p->accommodation_code = "B", p->accommodation_suitable = suitable)
static CaseEvent *sdq(HDR, uint32_t score)
    BUILD(SDQ_SCORE, SDQ_SCORE, sdq_score, SdqScore, p->score = score)
static CaseEvent *court(HDR, int kind)
    BUILD(COURT_APPLICATION, COURT_APPLICATION, court_application, CourtApplication,
          p->kind = (Cscflow__V1__CourtOrderKind)kind)
/* clang-format on */

#define AD(x) CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_##x
#define ACT(x) CSCFLOW__V1__CARE_LEAVER_ACTIVITY__CARE_LEAVER_ACTIVITY_##x
#define COURT(x) CSCFLOW__V1__COURT_ORDER_KIND__COURT_ORDER_KIND_##x
#define NO_DISTANCE (-1)

/* A placement of type; miles_x10 NO_DISTANCE when the distance is unknown. */
static Cscflow__V1__Placement *plc(struct hist *h, const char *type, int miles_x10) {
  const Cscflow__V1__Placement init = CSCFLOW__V1__PLACEMENT__INIT;
  Cscflow__V1__Placement *p = h_alloc(h, sizeof *p);
  *p = init;
  p->placement_type = S(type);
  p->provider = "PR1";
  p->distance_known = miles_x10 >= 0;
  p->distance_miles_x10 = miles_x10 >= 0 ? (uint32_t)miles_x10 : 0;
  return p;
}

/* Folds and derives h's events (one child). */
static void derive(struct hist *h) {
  assert_int_equal(child_fold(h->ev, h->n, test_code_lists(), &h->a, &h->st), CSC_OK);
  assert_int_equal(child_derive(&h->st, NULL, &h->a, &h->d), CSC_OK);
}

/* What the child adds to (measure, bucket) on as-of date t. */
static int64_t at(const struct hist *h, int measure, int bucket, csc_date t) {
  int64_t sum = 0;
  for (size_t i = 0; i < h->d.n_facts; i++) {
    const struct fact *f = &h->d.facts[i];
    if (f->measure == measure && f->bucket == bucket && f->from <= t && t < f->to)
      sum += f->weight;
  }
  return sum;
}

/* Starts h over for another child. */
static void next_child(struct hist *h, const char *child) {
  arena_free(&h->a);
  memset(h, 0, sizeof *h);
  arena_init(&h->a, 1 << 16);
  h->child = child;
}

/* ---- placements_3plus: placements open for years ----------------------------------- */

/*
 * Three overlapping periods of care (bad data, but folded as recorded),
 * each with its placement still open: three placements open from
 * 2022-07-01. In FY 2022-23 the count starts that day; in every later year
 * all three are open on 1 April, so the child counts from 1 April on,
 * years after the last placement started.
 */
TEST(test_placements_open_for_years) {
  care_start(h, "P1", D(2022, 5, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_start(h, "P2", D(2022, 6, 1), "C2", 0, plc(h, "U2", NO_DISTANCE));
  care_start(h, "P3", D(2022, 7, 1), "C2", 0, plc(h, "U3", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2022, 6, 30)), 0);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2022, 7, 1)), 1);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2023, 3, 31)), 1);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2023, 4, 1)), 1);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2026, 9, 1)), 1);
}

/* ---- placement_stability_long ------------------------------------------------------- */

/*
 * Born 2010-06-15 (16 on 2026-06-15). Care from 2021-08-31 (C2, U1);
 * moved to U2 on 2022-03-15.
 * Denominator from the first T with add_months(T, -30) >= 2021-08-31:
 * add_months(2024-02-29, -30) = 2021-08-29 (too early), add_months(2024-03-01,
 * -30) = 2021-09-01: from 2024-03-01, although add_months(2021-08-31, 30) =
 * 2024-02-29 (month-end clamping: the spec's form is the one that counts).
 * Numerator: U2 started 2022-03-15 <= add_months(T, -24) from T = 2024-03-15.
 * Both end on the 16th birthday.
 */
TEST(test_stability_month_end) {
  details(h, "dob", D(2024, 1, 1), D(2010, 6, 15), 0);
  care_start(h, "P1", D(2021, 8, 31), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2022, 3, 15), "P1", plc(h, "U2", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2024, 2, 29)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2024, 3, 1)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2024, 3, 1)), 0); /* 2022-03-01 < 03-15 */
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2024, 3, 14)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2024, 3, 15)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2026, 6, 14)), 1); /* aged 15 */
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2026, 6, 14)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2026, 6, 15)), 0); /* aged 16 */
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2026, 6, 15)), 0);
}

/*
 * Leap day: placement started 2020-02-29 counts once add_months(T, -24) >=
 * 2020-02-29: add_months(2022-02-28, -24) = 2020-02-28, add_months(2022-03-01,
 * -24) = 2020-03-01: from 2022-03-01. Care (and that placement) from
 * 2019-06-01: the denominator from 2021-12-01 (add_months(2021-12-01, -30)
 * = 2019-06-01). Born 2015-01-01.
 */
TEST(test_stability_leap_day) {
  details(h, "dob", D(2020, 1, 1), D(2015, 1, 1), 0);
  care_start(h, "P1", D(2019, 6, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2020, 2, 29), "P1", plc(h, "U3", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2021, 11, 30)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2021, 12, 1)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2022, 2, 28)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2022, 3, 1)), 1);
}

/*
 * The adoption rule. Born 2019-01-10; care from 2020-01-10 (C2, U1). On
 * 2021-06-01 placed in A5 (child B) or U2 (child C). T = 2022-07-10:
 * add_months(T, -30) = 2020-01-10: both in the denominator. add_months(T,
 * -24) = 2020-07-10: U2 (2021-06-01) is too recent: C is 0 of 1. B's A5 is an
 * adoption placement, and it and the previous placement (U1 from 2020-01-10,
 * ended 2021-06-01) started 2020-01-10 <= 2020-07-10: 1 of 1.
 */
static void adoption_rule_child(struct hist *h, const char *type) {
  details(h, "dob", D(2020, 1, 1), D(2019, 1, 10), 0);
  care_start(h, "P1", D(2020, 1, 10), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2021, 6, 1), "P1", plc(h, type, NO_DISTANCE));
  derive(h);
}

TEST(test_stability_adoption_rule) {
  adoption_rule_child(h, "A5");
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2022, 7, 10)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2022, 7, 10)), 1);
  next_child(h, "C");
  adoption_rule_child(h, "U2");
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2022, 7, 10)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2022, 7, 10)), 0);
  /* U2 alone: 2021-06-01 <= add_months(T, -24) from 2023-06-01. */
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2023, 5, 31)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2023, 6, 1)), 1);
}

/*
 * INDICATORS.md, placement_stability_long: "'continuously' follows the
 * period's chain of episodes, so a change of legal status inside a period
 * (to or from V3/V4 included) does not break it" and "(not under V3/V4 on
 * T)". A period from 2020-01-01 under V3 that becomes C2 on 2021-01-01 has
 * been in care continuously since 2020-01-01, so the child (aged 10, under
 * 16) is in the denominator from 2022-07-01 (add_months(2022-07-01, -30) =
 * 2020-01-01; on 2022-06-30 it is 2019-12-30, before the start). Its one
 * placement (U1 from 2020-01-01) is 2 years old by then: numerator 1 of 1.
 * No date of birth: no age, so a second child with the same care is out.
 */
TEST(test_stability_short_breaks_and_no_dob) {
  details(h, "dob", D(2020, 1, 1), D(2012, 1, 1), 0);
  care_start(h, "P1", D(2020, 1, 1), "V3", 0, plc(h, "U1", NO_DISTANCE));
  legal(h, "l1", D(2021, 1, 1), "P1", "C2");
  derive(h);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2022, 6, 30)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2022, 7, 1)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2022, 7, 1)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2023, 7, 1)), 1);
  next_child(h, "NODOB");
  care_start(h, "P1", D(2020, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2023, 7, 1)), 0);
  assert_int_equal(at(h, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2023, 7, 1)), 1); /* still looked after */
}

/*
 * placement_stability_long (INDICATORS.md): "of children under 16 on T (not
 * under V3/V4 on T) looked after continuously for 2.5 years or more ...
 * 'continuously' follows the period's chain of episodes, so a change of
 * legal status inside a period (to or from V3/V4 included) does not break
 * it". Born 2012-01-01; P1 from 2020-01-01 under C2 (U1 throughout), V3
 * from 2021-01-01, C2 again from 2021-06-01, V4 from 2023-01-01.
 * On 2022-07-01 (add_months(T, -30) = 2020-01-01) the V3 stretch does not
 * break the chain: 1 of 1 (U1 since 2020-01-01, 2 years). On 2022-06-30:
 * 0 (the period is 29 months old). On 2023-01-01 the child is under V4:
 * out of the denominator (0). (By care spans, the span from 2021-06-01
 * would have kept it out on 2022-07-01: 0 of 0.)
 */
TEST(test_stability_chain_of_episodes) {
  details(h, "dob", D(2020, 1, 1), D(2012, 1, 1), 0);
  care_start(h, "P1", D(2020, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  legal(h, "l1", D(2021, 1, 1), "P1", "V3");
  legal(h, "l2", D(2021, 6, 1), "P1", "C2");
  legal(h, "l3", D(2023, 1, 1), "P1", "V4");
  derive(h);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2022, 6, 30)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2022, 7, 1)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2022, 7, 1)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2022, 12, 31)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2023, 1, 1)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_NUM, 0, D(2023, 1, 1)), 0);
}

/*
 * "In a care span started on or before add_months(T, -30)": one span. P1
 * 2019-01-01 to 2020-07-01, P2 from 2020-07-01 (the same day): on
 * 2021-07-01 (30 months after P1's start) the child is in P2's span, which
 * started 2020-07-01: not in the denominator until 2023-01-01
 * (add_months(2023-01-01, -30) = 2020-07-01). Born 2015-01-01.
 */
TEST(test_stability_one_span) {
  details(h, "dob", D(2019, 1, 1), D(2015, 1, 1), 0);
  care_start(h, "P1", D(2019, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2020, 7, 1), "P1", "E8");
  care_start(h, "P2", D(2020, 7, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2021, 7, 1)), 1);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2021, 7, 1)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2022, 12, 31)), 0);
  assert_int_equal(at(h, M_STABILITY_LONG_DEN, 0, D(2023, 1, 1)), 1);
}

/* ---- placement_changes_avg -------------------------------------------------------------- */

/*
 * Care P1 2023-01-10 (U1) to 2023-10-01, moves on 2023-05-01 (U2) and
 * 2023-09-01 (R1); P2 from 2024-03-01 (U1: a period's first placement, no
 * change).
 * Looked after in the window (add_months(T, -12), T]: P1's last day
 * 2023-09-30 is in it while add_months(T, -12) < 2023-09-30, i.e. T <
 * 2024-09-30; P2 from 2024-03-01 on: one child throughout [2023-01-10, ...).
 * Changes: 2023-05-01 over [2023-05-01, 2024-05-01), 2023-09-01 over
 * [2023-09-01, 2024-09-01).
 *   T = 2023-04-30: 0 changes, 1 child.  T = 2023-12-31: 2 changes, 1 child.
 *   T = 2024-05-01: 1 (2023-05-01 has left the window).  T = 2024-09-01: 0.
 */
TEST(test_placement_changes) {
  details(h, "dob", D(2023, 1, 1), D(2010, 1, 1), 0);
  care_start(h, "P1", D(2023, 1, 10), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2023, 5, 1), "P1", plc(h, "U2", NO_DISTANCE));
  place(h, "m2", D(2023, 9, 1), "P1", plc(h, "R1", NO_DISTANCE));
  care_end(h, "e1", D(2023, 10, 1), "P1", "E13");
  care_start(h, "P2", D(2024, 3, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, D(2023, 1, 9)), 0);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, D(2023, 1, 10)), 1);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, D(2023, 4, 30)), 0);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, D(2023, 12, 31)), 2);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, D(2023, 12, 31)), 1);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, D(2024, 4, 30)), 2);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, D(2024, 5, 1)), 1);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, D(2024, 9, 1)), 0);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, D(2024, 9, 1)), 1);
}

/*
 * Without P2: looked after in the window until 2024-09-29 (add_months(
 * 2024-09-29, -12) = 2023-09-29 < 2023-09-30), not on 2024-09-30.
 * A child under V3 throughout (short breaks) with a move is never looked
 * after: neither a child nor a change.
 */
TEST(test_placement_changes_window_end_and_short_breaks) {
  details(h, "dob", D(2023, 1, 1), D(2010, 1, 1), 0);
  care_start(h, "P1", D(2023, 1, 10), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2023, 5, 1), "P1", plc(h, "U2", NO_DISTANCE));
  care_end(h, "e1", D(2023, 10, 1), "P1", "E13");
  derive(h);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, D(2024, 9, 29)), 1);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, D(2024, 9, 30)), 0);
  next_child(h, "SB");
  details(h, "dob", D(2023, 1, 1), D(2010, 1, 1), 0);
  care_start(h, "P1", D(2023, 1, 10), "V3", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2023, 5, 1), "P1", plc(h, "U2", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, D(2023, 6, 1)), 0);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, D(2023, 6, 1)), 0);
}

/* A period of care with no id (the fold names it ""). */
static CaseEvent *care_start_no_id(HDR, const char *legal, Cscflow__V1__Placement *pl) {
  CaseEvent *e = care_start(h, id, d, legal, 0, pl);
  e->period_of_care_started->period_id = "";
  return e;
}

/*
 * Periods without ids: the first placement of the second period (U1 on
 * 2023-06-01) is not a change although an earlier placement has the same
 * (empty) period reference: only placements started in the same period
 * count before it. Changes in (2022-07-01, 2023-07-01]: 2023-03-01 only.
 */
TEST(test_placement_changes_periods_without_ids) {
  care_start_no_id(h, "p1", D(2023, 1, 10), "C2", plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2023, 3, 1), "", plc(h, "U2", NO_DISTANCE));
  care_end(h, "e1", D(2023, 4, 1), "", "E13");
  care_start_no_id(h, "p2", D(2023, 6, 1), "C2", plc(h, "U1", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, D(2023, 7, 1)), 1);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, D(2023, 7, 1)), 1);
}

/* ---- "Same carer": placed for adoption with the foster carer --------------------------- */

/*
 * The issue's child: care from 2023-04-10 in U4 (P1), moved 2023-06-01 to
 * another U4, placed for adoption on 2023-09-01 (A6) with that foster
 * carer (the PLACED milestone says placed_with_foster_carer). T = 2024-03-31:
 * 12m window (2023-03-31, 2024-03-31], FYTD 2023-04-01 to T.
 * INDICATORS.md, "Same carer": "a child placed for adoption with their
 * existing foster carer has not changed placement (`placements_3plus`,
 * `placement_changes_avg`)"; DfE: "a child being placed for adoption with
 * their existing foster carer is not included as a change of placement".
 *   placement_changes_avg: the move of 2023-06-01 is a change, the A6 of
 *     2023-09-01 is not: 1 change of 1 child (2 before the rule).
 *   placements_3plus: the second U4 and the A6 are one placement: 2
 *     placements in the FYTD and in the 12m: not 3 or more, 0 (1 before).
 * foster_carer 0 (the journey not placed with the foster carer): the A6 is
 * a change of placement like any other: 2 changes, 3 placements: 1.
 */
static void same_carer_child(struct hist *h, int foster_carer) {
  details(h, "dob", D(2023, 4, 10), D(2021, 1, 1), 0);
  care_start(h, "P1", D(2023, 4, 10), "C2", 0, plc(h, "U4", NO_DISTANCE));
  place(h, "m1", D(2023, 6, 1), "P1", plc(h, "U4", NO_DISTANCE));
  adopt(h, "a1", D(2023, 7, 1), AD(DECISION), 0, 0);
  place(h, "m2", D(2023, 9, 1), "P1", plc(h, "A6", NO_DISTANCE));
  adopt(h, "a2", D(2023, 9, 1), AD(PLACED), 0, foster_carer);
  derive(h);
}

TEST(test_same_carer_placed_for_adoption) {
  const csc_date t = D(2024, 3, 31);
  same_carer_child(h, 1);
  assert_int_equal(at(h, M_LAC_IN_12M, 0, t), 1);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, t), 1);
  assert_int_equal(at(h, M_CHILDREN_ON_PLAN, PLAN_LAC, t), 1);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, t), 0);
  assert_int_equal(at(h, M_PLACEMENTS3_12M, 0, t), 0);
  next_child(h, "NOTCARER");
  same_carer_child(h, 0);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, t), 2);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, t), 1);
  assert_int_equal(at(h, M_PLACEMENTS3_12M, 0, t), 1);
  /* The 3rd placement counts from the day it starts without the rule. */
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2023, 8, 31)), 0);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2023, 9, 1)), 1);
}

/*
 * How the placement with the foster carer is recognised (docs/indicators.md):
 * an A3-A6 placement starting on the placed date of a journey placed with
 * the foster carer, on the day a foster placement (U1-U6) ended.
 *   - R1 then A5 on the placed date, flag set: the carer before was not a
 *     foster carer ("existing foster carer"): a change; U1, R1, A5 are 3
 *     placements.
 *   - U1, U2, then A5 on 2023-09-15 while the journey was placed on
 *     2023-09-01 (the A5 is not the placement it was placed in): a change,
 *     3 placements.
 *   - After it: U1, U2, A6 with the carer, then the adoption breaks down and
 *     the child moves to U3 on 2024-01-15: that move is a change (the rule
 *     excuses only the placement for adoption): changes 2023-06-01 and
 *     2024-01-15 = 2; placements U1, U2+A6, U3 = 3.
 */
TEST(test_same_carer_recognised) {
  const csc_date t = D(2024, 3, 31);
  details(h, "dob", D(2023, 4, 10), D(2021, 1, 1), 0);
  care_start(h, "P1", D(2023, 4, 10), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2023, 6, 1), "P1", plc(h, "R1", NO_DISTANCE));
  place(h, "m2", D(2023, 9, 1), "P1", plc(h, "A5", NO_DISTANCE));
  adopt(h, "a1", D(2023, 9, 1), AD(PLACED), 0, 1);
  derive(h);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, t), 2);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, t), 1);

  next_child(h, "LATER");
  details(h, "dob", D(2023, 4, 10), D(2021, 1, 1), 0);
  care_start(h, "P1", D(2023, 4, 10), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2023, 6, 1), "P1", plc(h, "U2", NO_DISTANCE));
  adopt(h, "a1", D(2023, 9, 1), AD(PLACED), 0, 1);
  place(h, "m2", D(2023, 9, 15), "P1", plc(h, "A5", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, t), 2);
  assert_int_equal(at(h, M_PLACEMENTS3_12M, 0, t), 1);

  next_child(h, "BROKE");
  details(h, "dob", D(2023, 4, 10), D(2021, 1, 1), 0);
  care_start(h, "P1", D(2023, 4, 10), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "m1", D(2023, 6, 1), "P1", plc(h, "U2", NO_DISTANCE));
  place(h, "m2", D(2023, 9, 1), "P1", plc(h, "A6", NO_DISTANCE));
  adopt(h, "a1", D(2023, 9, 1), AD(PLACED), 0, 1);
  place(h, "m3", D(2024, 1, 15), "P1", plc(h, "U3", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_PLACEMENT_CHANGES_12M, 0, t), 2);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2024, 1, 14)), 0);
  assert_int_equal(at(h, M_PLACEMENTS3_FYTD, 0, D(2024, 1, 15)), 1);
}

/* ---- placement_type_mix, placement_distance ------------------------------------------- */

/*
 * Care from 2023-01-01: U3 at 25.0 miles, K2 at 12.5 miles from 2023-06-01,
 * P1 (distance unknown) from 2023-09-01.
 *   2023-03-01: foster; distance known, over 20, sum 250 tenths.
 *   2023-07-01: residential; known, not over, sum 125.
 *   2023-10-01: parents; distance unknown: not known, sum nothing; counted
 *     as unknown (INDICATORS.md: "distance not known stays in the
 *     denominator, and its share is its own value").
 * A second child looked after from 2023-02-01 with no placement recorded:
 * `other` (so the groups add up to the children looked after), and its
 * distance is not known: unknown from 2023-02-01.
 */
TEST(test_type_mix_and_distance) {
  details(h, "dob", D(2023, 1, 1), D(2010, 1, 1), 0);
  care_start(h, "P1", D(2023, 1, 1), "C2", 0, plc(h, "U3", 250));
  place(h, "m1", D(2023, 6, 1), "P1", plc(h, "K2", 125));
  place(h, "m2", D(2023, 9, 1), "P1", plc(h, "P1", NO_DISTANCE));
  derive(h);
  const csc_date t1 = D(2023, 3, 1), t2 = D(2023, 7, 1), t3 = D(2023, 10, 1);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_FOSTER, t1), 1);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_OTHER, t1), 0);
  assert_int_equal(at(h, M_DISTANCE_KNOWN, 0, t1), 1);
  assert_int_equal(at(h, M_DISTANCE_OVER_20, 0, t1), 1);
  assert_int_equal(at(h, M_DISTANCE_SUM, 0, t1), 250);
  assert_int_equal(at(h, M_DISTANCE_UNKNOWN, 0, t1), 0);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_FOSTER, t2), 0);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_RESIDENTIAL, t2), 1);
  assert_int_equal(at(h, M_DISTANCE_OVER_20, 0, t2), 0);
  assert_int_equal(at(h, M_DISTANCE_SUM, 0, t2), 125);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_PARENTS, t3), 1);
  assert_int_equal(at(h, M_DISTANCE_KNOWN, 0, t3), 0);
  assert_int_equal(at(h, M_DISTANCE_SUM, 0, t3), 0);
  assert_int_equal(at(h, M_DISTANCE_UNKNOWN, 0, t2), 0);
  assert_int_equal(at(h, M_DISTANCE_UNKNOWN, 0, D(2023, 8, 31)), 0);
  assert_int_equal(at(h, M_DISTANCE_UNKNOWN, 0, t3), 1);
  next_child(h, "NOPLACE");
  care_start(h, "P1", D(2023, 2, 1), "C2", 0, NULL);
  derive(h);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_OTHER, D(2023, 1, 31)), 0);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_OTHER, D(2023, 2, 1)), 1);
  assert_int_equal(at(h, M_DISTANCE_UNKNOWN, 0, D(2023, 1, 31)), 0);
  assert_int_equal(at(h, M_DISTANCE_UNKNOWN, 0, D(2023, 2, 1)), 1);
  assert_int_equal(at(h, M_DISTANCE_KNOWN, 0, D(2023, 2, 1)), 0);
}

/*
 * V3/V4 days: care from 2023-01-01 in U1 under C2; V4 from 2023-04-01;
 * C2 again from 2023-05-01. On 2023-04-15 the child is not looked after:
 * no group, no distance, in no denominator.
 */
TEST(test_type_mix_short_breaks) {
  care_start(h, "P1", D(2023, 1, 1), "C2", 0, plc(h, "U1", 300));
  legal(h, "l1", D(2023, 4, 1), "P1", "V4");
  legal(h, "l2", D(2023, 5, 1), "P1", "C2");
  derive(h);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_FOSTER, D(2023, 3, 31)), 1);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_FOSTER, D(2023, 4, 15)), 0);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_OTHER, D(2023, 4, 15)), 0);
  assert_int_equal(at(h, M_DISTANCE_KNOWN, 0, D(2023, 4, 15)), 0);
  assert_int_equal(at(h, M_DISTANCE_UNKNOWN, 0, D(2023, 4, 15)), 0); /* not looked after */
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_FOSTER, D(2023, 5, 1)), 1);
  assert_int_equal(at(h, M_DISTANCE_OVER_20, 0, D(2023, 5, 1)), 1);
}

/*
 * Two periods open at once (overlapping_plan): P1 from 2023-01-01 in U1, P2
 * from 2023-03-01 in R1. The child counts once: on 2023-04-01 the current
 * placement is the latest started, R1: residential 1, foster 0, of 1 child
 * looked after.
 */
TEST(test_type_mix_overlapping_periods) {
  care_start(h, "P1", D(2023, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_start(h, "P2", D(2023, 3, 1), "C2", 0, plc(h, "R1", NO_DISTANCE));
  derive(h);
  const csc_date t = D(2023, 4, 1);
  assert_int_equal(at(h, M_CHILDREN_ON_PLAN, PLAN_LAC, t), 1);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_RESIDENTIAL, t), 1);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_FOSTER, t), 0);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_OTHER, t), 0);
  assert_int_equal(at(h, M_PLACEMENT_GROUP, PG_FOSTER, D(2023, 2, 28)), 1);
}

/* ---- care_entries, care_exits_permanence ------------------------------------------------- */

/*
 * A period crossing 31 March: started 2024-03-20 (UASC on the period), ended
 * 2024-04-10 with E41 (child arrangements order).
 * Entries: 12m over [2024-03-20, 2025-03-20); FYTD over [2024-03-20,
 * 2024-04-01) (the 2023-24 year). Exits: from 2024-04-10, in the 2024-25
 * year (FYTD to 2025-04-01), 12m to 2025-04-10.
 */
TEST(test_entries_exits_fy_boundary) {
  care_start(h, "P1", D(2024, 3, 20), "C2", 1, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2024, 4, 10), "P1", "E41");
  derive(h);
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 0, D(2024, 3, 31)), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 2, D(2024, 3, 31)), 1); /* total */
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 1, D(2024, 3, 31)), 0); /* not UASC */
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 0, D(2024, 4, 1)), 0);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 0, D(2024, 4, 1)), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 0, D(2025, 3, 19)), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 0, D(2025, 3, 20)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 0, D(2024, 3, 31)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 0, D(2024, 4, 9)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 0, D(2024, 4, 10)), 1);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 3, D(2024, 4, 10)), 1); /* E41 */
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 1, D(2024, 4, 10)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 3, D(2025, 3, 31)), 1);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 3, D(2025, 4, 1)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 3, D(2025, 4, 1)), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 3, D(2025, 4, 10)), 0);
}

/*
 * UASC from the child's details (period not flagged); a short-breaks period
 * (V3 throughout) is neither an entry nor an exit; exits by reason group:
 * E12 adoption, E45 special guardianship, E2 (died) only in the total.
 * INDICATORS.md, "Children, not periods": "counts each child once in the
 * window: on the first start (the last exit)". So on 2022-12-31 the child
 * is 1 entry (P1, the first start in the window, UASC) and 1 exit, P4's
 * (E2, the last exit): adoption 0, special guardianship 0. The group is
 * the last exit's on each T: 2022-03-05 (P2's V3 end is no exit, so still
 * P1's E12): adoption 1 of 1; 2022-06-01 (P3's E45): SGO 1, adoption 0.
 */
TEST(test_entries_exits_groups) {
  details(h, "dob", D(2022, 1, 1), D(2010, 1, 1), 1);
  care_start(h, "P1", D(2022, 1, 10), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2022, 2, 10), "P1", "E12");
  care_start(h, "P2", D(2022, 3, 1), "V3", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e2", D(2022, 3, 5), "P2", "E45");
  care_start(h, "P3", D(2022, 5, 1), "V2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e3", D(2022, 6, 1), "P3", "E45");
  care_start(h, "P4", D(2022, 7, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e4", D(2022, 8, 1), "P4", "E2");
  derive(h);
  const csc_date t = D(2022, 12, 31);
  /* Entries in (2021-12-31, 2022-12-31]: P1, P3, P4 (not P2): 1 child. */
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 0, t), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 1, t), 0);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 2, t), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 2, t), 1); /* FY from 2022-04-01: P3 first */
  /* Exits: P1 E12, P3 E45, P4 E2: 1 child, on P4's E2. */
  assert_int_equal(at(h, M_CARE_EXITS_12M, 0, t), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 1, t), 0);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 2, t), 0);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 3, t), 0);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 0, D(2022, 3, 5)), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 1, D(2022, 3, 5)), 1); /* P1's E12 */
  assert_int_equal(at(h, M_CARE_EXITS_12M, 0, D(2022, 6, 1)), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 1, D(2022, 6, 1)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 2, D(2022, 6, 1)), 1); /* P3's E45 */
}

/*
 * Issue 15's example. INDICATORS.md, Conventions, "Children, not periods":
 * "a count of children who started (or ceased) to be looked after counts
 * each child once in the window: on the first start (the last exit), as
 * DfE's children-looked-after tables do"; care_entries: "each child once, on
 * the first start in the window"; care_exits_permanence: "each child once,
 * on the last exit in the window".
 * P1 2023-06-01 (not UASC) to 2023-08-01 (E8); P2 2023-10-01 (UASC on the
 * period) to 2024-01-10 (E11, adoption).
 * Entries 12m: P1 over [2023-06-01, 2024-06-01); P2 from
 *   max(2023-10-01, window_end(2023-06-01, 12) = 2024-06-01) to 2024-10-01.
 *   T = 2024-03-31: 1 (not 2), not UASC (P1's); 2024-06-01: 1, UASC (P2's);
 *   2024-10-01: 0. FYTD 2023-24: P1 from 2023-06-01, P2 never (P1 is in
 *   its year): 1 on 2024-03-31, 0 on 2024-04-01.
 * Exits 12m: P1 over [2023-08-01, 2024-01-10) (P2's later exit takes
 *   over); P2 over [2024-01-10, 2025-01-10). T = 2024-03-31: 1 exit,
 *   adoption 1: 1/1 (not 1/2); T = 2024-01-09: 1 exit, adoption 0 (P1's
 *   E8). FYTD: P2 to 2024-04-01.
 */
TEST(test_entries_exits_children_not_periods) {
  care_start(h, "P1", D(2023, 6, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2023, 8, 1), "P1", "E8");
  care_start(h, "P2", D(2023, 10, 1), "C2", 1, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e2", D(2024, 1, 10), "P2", "E11");
  derive(h);
  const csc_date t = D(2024, 3, 31);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 2, t), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 1, t), 1); /* not UASC: P1 */
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 0, t), 0);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 2, D(2024, 5, 31)), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 1, D(2024, 5, 31)), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 2, D(2024, 6, 1)), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 0, D(2024, 6, 1)), 1); /* UASC: P2 */
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 1, D(2024, 6, 1)), 0);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 2, D(2024, 9, 30)), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 2, D(2024, 10, 1)), 0);
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 2, t), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 1, t), 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 2, D(2024, 4, 1)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 0, t), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 1, t), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 0, D(2024, 1, 9)), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 1, D(2024, 1, 9)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 0, t), 1);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 1, t), 1);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 0, D(2024, 4, 1)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 1, D(2025, 1, 9)), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 0, D(2025, 1, 10)), 0);
}

/*
 * INDICATORS.md, "Exclusions": "an entry counts when the status at entry is
 * not V3/V4; an exit when the status on the last day is not V3/V4".
 * Child F: 2023-01-01 under V3, C2 from 2023-03-01, ended 2023-05-01 (E13):
 *   no entry (V3 at entry); an exit (last day 2023-04-30 under C2), and an
 *   exit home for reunification_sustained, not looked after again: 1 of 1
 *   on 2023-06-01.
 * Child R: 2023-01-01 under C2, V3 from 2023-03-01, ended 2023-05-01 (E4A):
 *   an entry (1 on 2023-06-01); no exit (last day under V3): exits 0 and
 *   reunification 0 of 0 on 2023-06-01.
 */
TEST(test_entries_exits_by_legal_status) {
  care_start(h, "P1", D(2023, 1, 1), "V3", 0, plc(h, "U1", NO_DISTANCE));
  legal(h, "l1", D(2023, 3, 1), "P1", "C2");
  care_end(h, "e1", D(2023, 5, 1), "P1", "E13");
  derive(h);
  const csc_date t = D(2023, 6, 1);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 2, t), 0);
  assert_int_equal(at(h, M_CARE_ENTRIES_FYTD, 2, D(2023, 3, 31)), 0);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 0, t), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, t), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, t), 1);
  next_child(h, "R");
  care_start(h, "P1", D(2023, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  legal(h, "l1", D(2023, 3, 1), "P1", "V3");
  care_end(h, "e1", D(2023, 5, 1), "P1", "E4A");
  derive(h);
  assert_int_equal(at(h, M_CARE_ENTRIES_12M, 2, t), 1);
  assert_int_equal(at(h, M_CARE_EXITS_12M, 0, t), 0);
  assert_int_equal(at(h, M_CARE_EXITS_FYTD, 0, t), 0);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, t), 0);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, t), 0);
}

/* ---- reunification_sustained ------------------------------------------------------------ */

/*
 * Home on 2023-06-01 (E13), back in care on 2024-02-01, within
 * add_months(2023-06-01, 12) = 2024-06-01. Denominator over [2023-06-01,
 * 2024-06-01); numerator while not yet back: [2023-06-01, 2024-02-01).
 */
TEST(test_reunification_return) {
  care_start(h, "P1", D(2023, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2023, 6, 1), "P1", "E13");
  care_start(h, "P2", D(2024, 2, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2023, 5, 31)), 0);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2023, 6, 1)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2023, 6, 1)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2024, 1, 31)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2024, 2, 1)), 0); /* drops on return */
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2024, 2, 1)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2024, 5, 31)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2024, 6, 1)), 0);
}

/*
 * Home on 2023-06-01 (E4A); short breaks (V3 throughout) from 2023-08-01 are
 * not being looked after again; care again from 2024-07-01 is after
 * 2024-06-01: sustained on every T of the window [2023-06-01, 2024-06-01).
 */
TEST(test_reunification_sustained) {
  care_start(h, "P1", D(2023, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2023, 6, 1), "P1", "E4A");
  care_start(h, "P2", D(2023, 8, 1), "V3", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e2", D(2023, 8, 5), "P2", "E13");
  care_start(h, "P3", D(2024, 7, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2023, 8, 2)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2023, 8, 5)), 1); /* not P2's end */
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2024, 5, 31)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2024, 6, 1)), 0);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2024, 6, 1)), 0);
}

/* Home on 2023-06-01 (E4B) and a new period the same day: looked after
 * again on the exit date itself, so never sustained: 0 of 1. */
TEST(test_reunification_same_day_return) {
  care_start(h, "P1", D(2023, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2023, 6, 1), "P1", "E4B");
  care_start(h, "P2", D(2023, 6, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  derive(h);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2023, 6, 1)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2023, 6, 1)), 0);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2023, 12, 1)), 0);
}

/*
 * A failed return home followed by another (issue 15: "counts twice in
 * reunification's denominator (1/3 where the catalogue gives 1/2)").
 * INDICATORS.md, reunification_sustained: "of children ceasing care to
 * return home (E4A, E4B, E13; each child once, on the last such exit in
 * the window), % not looked after again within 12 months of it".
 * P1 2023-01-01 to 2023-03-01 (E4A); P2 2023-05-01 to 2023-07-01 (E4B),
 * then home for good.
 * Exit 1: denominator [2023-03-01, 2023-07-01) (exit 2 is the last from
 *   then); numerator [2023-03-01, 2023-05-01) (back in care 05-01).
 * Exit 2: denominator and numerator [2023-07-01, 2024-07-01).
 * T = 2023-06-30: 0 of 1; T = 2023-12-31: 1 of 1 (per period: 1 of 2).
 */
TEST(test_reunification_failed_return_once) {
  care_start(h, "P1", D(2023, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2023, 3, 1), "P1", "E4A");
  care_start(h, "P2", D(2023, 5, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e2", D(2023, 7, 1), "P2", "E4B");
  derive(h);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2023, 4, 30)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2023, 4, 30)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2023, 6, 30)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2023, 6, 30)), 0);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2023, 12, 31)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 1, D(2023, 12, 31)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2024, 6, 30)), 1);
  assert_int_equal(at(h, M_REUNIFICATIONS_12M, 0, D(2024, 7, 1)), 0);
}

/* ---- adoption_timeliness, early_permanence ------------------------------------------------ */

/*
 * Child Q: care from 2021-03-01 (U1); placement order 2021-12-01, matched
 * 2022-04-01, placed 2022-05-01 (A5), adopted 2022-11-01.
 *   A1 = 2022-05-01 - 2021-03-01 = 365 + 31 + 30 = 426 days;
 *   A2 = 2022-04-01 - 2021-12-01 = 31 + 31 + 28 + 31 = 121;
 *   A10 = A1 (not adopted by the foster carer) = 426.
 * Child R: care from 2021-01-01 (U1), U4 from 2021-06-01, placed for
 * adoption with the foster carer 2022-06-01 (A5 from that day, early
 * permanence), placement order 2022-01-10, matched 2022-03-10, adopted
 * 2023-01-15.
 *   A1 = 2022-06-01 - 2021-01-01 = 365 + 31 + 28 + 31 + 30 + 31 = 516;
 *   A10: from the care span start to the start of the placement adopted
 *   from (U4, continued by the A5 that began on the placed date) =
 *   2021-06-01 - 2021-01-01 = 151;
 *   A2 = 2022-03-10 - 2022-01-10 = 31 + 28 = 59.
 */
static void adoption_children(struct hist *h) {
  h->child = "Q";
  care_start(h, "QP", D(2021, 3, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  adopt(h, "q1", D(2021, 9, 1), AD(DECISION), 0, 0);
  adopt(h, "q2", D(2021, 12, 1), AD(PLACEMENT_ORDER), 0, 0);
  adopt(h, "q3", D(2022, 4, 1), AD(MATCHED), 0, 0);
  adopt(h, "q4", D(2022, 5, 1), AD(PLACED), 0, 0);
  place(h, "q5", D(2022, 5, 1), "QP", plc(h, "A5", NO_DISTANCE));
  adopt(h, "q6", D(2022, 11, 1), AD(ADOPTED), 0, 0);
  care_end(h, "q7", D(2022, 11, 1), "QP", "E11");
  h->child = "R";
  care_start(h, "RP", D(2021, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  place(h, "r1", D(2021, 6, 1), "RP", plc(h, "U4", NO_DISTANCE));
  adopt(h, "r2", D(2021, 11, 1), AD(DECISION), 1, 0);
  adopt(h, "r3", D(2022, 1, 10), AD(PLACEMENT_ORDER), 0, 0);
  adopt(h, "r4", D(2022, 3, 10), AD(MATCHED), 0, 0);
  adopt(h, "r5", D(2022, 6, 1), AD(PLACED), 0, 1);
  place(h, "r6", D(2022, 6, 1), "RP", plc(h, "A5", NO_DISTANCE));
  adopt(h, "r7", D(2023, 1, 15), AD(ADOPTED), 0, 0);
  care_end(h, "r8", D(2023, 1, 15), "RP", "E11");
}

/* The events of one child of h, folded and derived into g (sharing h's
 * arena). */
static void derive_one(struct hist *h, const char *child, struct hist *g) {
  g->n = 0;
  for (size_t i = 0; i < h->n; i++)
    if (strcmp(h->ev[i]->child_id, child) == 0)
      g->ev[g->n++] = h->ev[i];
  assert_int_equal(child_fold(g->ev, g->n, test_code_lists(), &h->a, &g->st), CSC_OK);
  assert_int_equal(child_derive(&g->st, NULL, &h->a, &g->d), CSC_OK);
}

TEST(test_adoption_times) {
  adoption_children(h);
  struct hist q, r;
  derive_one(h, "Q", &q);
  derive_one(h, "R", &r);
  const csc_date t = D(2023, 1, 15);
  /* Q adopted 2022-11-01: in the window from then to 2023-11-01. */
  assert_int_equal(at(&q, M_ADOPTION_COUNT_12M, 0, D(2022, 10, 31)), 0);
  assert_int_equal(at(&q, M_ADOPTION_COUNT_12M, 0, t), 1);
  assert_int_equal(at(&q, M_ADOPTION_DAYS_12M, 0, t), 426);
  assert_int_equal(at(&q, M_ADOPTION_DAYS_12M, 1, t), 121);
  assert_int_equal(at(&q, M_ADOPTION_DAYS_12M, 2, t), 426);
  assert_int_equal(at(&q, M_ADOPTION_COUNT_12M, 0, D(2023, 11, 1)), 0);
  assert_int_equal(at(&r, M_ADOPTION_COUNT_12M, 2, t), 1);
  assert_int_equal(at(&r, M_ADOPTION_DAYS_12M, 0, t), 516);
  assert_int_equal(at(&r, M_ADOPTION_DAYS_12M, 1, t), 59);
  assert_int_equal(at(&r, M_ADOPTION_DAYS_12M, 2, t), 151);
  /* Placed for adoption: R on 2022-06-01 with early permanence (flagged on
   * its decision), over [2022-06-01, 2023-06-01). */
  assert_int_equal(at(&r, M_PLACED_FOR_ADOPTION_12M, 0, D(2022, 6, 1)), 1);
  assert_int_equal(at(&r, M_PLACED_FOR_ADOPTION_12M, 1, D(2023, 5, 31)), 1);
  assert_int_equal(at(&r, M_PLACED_FOR_ADOPTION_12M, 1, D(2023, 6, 1)), 0);
  assert_int_equal(at(&q, M_PLACED_FOR_ADOPTION_12M, 1, D(2022, 6, 1)), 0);
}

/*
 * A journey missing a date is left out of that mean only: matched before
 * any placement order (none recorded) has no A2, but A1 and A10 stand; a
 * journey not yet adopted is in no mean.
 */
TEST(test_adoption_missing_dates) {
  care_start(h, "P1", D(2021, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  adopt(h, "a1", D(2021, 3, 1), AD(DECISION), 0, 0);
  adopt(h, "a2", D(2021, 5, 1), AD(MATCHED), 0, 0);
  adopt(h, "a3", D(2021, 6, 1), AD(PLACED), 0, 0);
  derive(h);
  /* Not adopted yet: nothing in the means; placed 2021-06-01 counts. */
  assert_int_equal(at(h, M_ADOPTION_COUNT_12M, 0, D(2021, 7, 1)), 0);
  assert_int_equal(at(h, M_PLACED_FOR_ADOPTION_12M, 0, D(2021, 7, 1)), 1);
  adopt(h, "a4", D(2021, 12, 1), AD(ADOPTED), 0, 0);
  derive(h);
  /* A1 = A10 = 2021-06-01 - 2021-01-01 = 151; no A2. */
  assert_int_equal(at(h, M_ADOPTION_COUNT_12M, 0, D(2021, 12, 1)), 1);
  assert_int_equal(at(h, M_ADOPTION_DAYS_12M, 0, D(2021, 12, 1)), 151);
  assert_int_equal(at(h, M_ADOPTION_COUNT_12M, 2, D(2021, 12, 1)), 1);
  assert_int_equal(at(h, M_ADOPTION_COUNT_12M, 1, D(2021, 12, 1)), 0);
  /* A placement order dated after the match (2021-05-20 > 2021-05-01) is
   * kept as dated: A2 = 2021-05-01 - 2021-05-20 = -19 days. */
  adopt(h, "a5", D(2021, 5, 20), AD(PLACEMENT_ORDER), 0, 0);
  derive(h);
  assert_int_equal(at(h, M_ADOPTION_COUNT_12M, 1, D(2021, 12, 1)), 1);
  assert_int_equal(at(h, M_ADOPTION_DAYS_12M, 1, D(2021, 12, 1)), -19);
  assert_int_equal(at(h, M_ADOPTION_COUNT_12M, 0, D(2021, 12, 1)), 1);
}

/*
 * A1 counts from the care span the child was placed in, not from an earlier
 * one: care 2019-01-01 to 2019-06-01, again from 2020-01-01; placed
 * 2020-09-01, adopted 2021-03-01. A1 = 2020-09-01 - 2020-01-01 = 31 + 29 +
 * 31 + 30 + 31 + 30 + 31 + 31 = 244 days (2020 is a leap year).
 */
TEST(test_adoption_latest_span) {
  care_start(h, "P1", D(2019, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  care_end(h, "e1", D(2019, 6, 1), "P1", "E13");
  care_start(h, "P2", D(2020, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  adopt(h, "a1", D(2020, 3, 1), AD(DECISION), 0, 0);
  adopt(h, "a2", D(2020, 9, 1), AD(PLACED), 0, 0);
  adopt(h, "a3", D(2021, 3, 1), AD(ADOPTED), 0, 0);
  derive(h);
  assert_int_equal(at(h, M_ADOPTION_COUNT_12M, 0, D(2021, 3, 1)), 1);
  assert_int_equal(at(h, M_ADOPTION_DAYS_12M, 0, D(2021, 3, 1)), 244);
}

/*
 * A10 with the 903 reason for new episode (RNE). INDICATORS.md, "Same
 * carer": "a change of placement counts as one whoever the carer is (903
 * reason for new episode P, B, T or U; T and U say the carer stayed the
 * same), [...] and A10 dates from the day the child moved in with the carer
 * who adopts them (the start of the run of T/U moves)".
 * Each child: care from 2021-07-01 in U1 (the period's first placement,
 * RNE S), placed for adoption 2023-01-10 (A6 from that day, RNE T: the
 * carer's placement re-recorded), adopted 2023-09-01.
 *   A1 = 2023-01-10 - 2021-07-01 = 365 + 184 (2022-07-01 to 2023-01-01) +
 *   9 = 558 days for each.
 *   F: U4 from 2022-01-10 (RNE P, a new carer), U5 from 2022-06-01 (RNE T,
 *      same carer), placed with the foster carer. The run of T/U moves back
 *      from U5 (the placement the A6 continues) starts at U4: A10 =
 *      2022-01-10 - 2021-07-01 = 184 + 9 = 193. (Without RNE, as before
 *      issue 16, from U5: 2022-06-01 - 2021-07-01 = 335.)
 *   G: U4 from 2021-10-01 (RNE T), U5 from 2022-03-01 (RNE P), U6 from
 *      2022-06-01 (RNE U), placed with the foster carer. Back from U6: U6
 *      came by U (same carer), U5 by P (a new carer): the run starts at U5,
 *      after the P move; the T move into U4 before it does not join it:
 *      A10 = 2022-03-01 - 2021-07-01 = 184 + 31 + 28 = 243 (not 0, from
 *      U1, nor 335, from U6).
 *   H: as F, but not placed with the foster carer: A10 = A1 = 558 (RNE
 *      changes nothing for a child adopted by a new family).
 */
static void rne_adoption(struct hist *h, const char *child, int foster_carer) {
  h->child = child;
  care_start(h, "P", D(2021, 7, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  if (strcmp(child, "G") == 0) {
    move(h, "m1", D(2021, 10, 1), "P", plc(h, "U4", NO_DISTANCE), "T");
    move(h, "m2", D(2022, 3, 1), "P", plc(h, "U5", NO_DISTANCE), "P");
    move(h, "m3", D(2022, 6, 1), "P", plc(h, "U6", NO_DISTANCE), "U");
  } else {
    move(h, "m1", D(2022, 1, 10), "P", plc(h, "U4", NO_DISTANCE), "P");
    move(h, "m2", D(2022, 6, 1), "P", plc(h, "U5", NO_DISTANCE), "T");
  }
  adopt(h, "a1", D(2022, 7, 1), AD(DECISION), 0, 0);
  adopt(h, "a2", D(2023, 1, 10), AD(PLACED), 0, foster_carer);
  move(h, "m4", D(2023, 1, 10), "P", plc(h, "A6", NO_DISTANCE), "T");
  adopt(h, "a3", D(2023, 9, 1), AD(ADOPTED), 0, 0);
  care_end(h, "e", D(2023, 9, 1), "P", "E11");
}

TEST(test_adoption_a10_same_carer_run) {
  rne_adoption(h, "F", 1);
  rne_adoption(h, "G", 1);
  rne_adoption(h, "H", 0);
  const csc_date t = D(2023, 9, 1);
  const struct {
    const char *child;
    int a10;
  } want[] = {{"F", 193}, {"G", 243}, {"H", 558}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    struct hist g;
    derive_one(h, want[i].child, &g);
    assert_int_equal(at(&g, M_ADOPTION_COUNT_12M, 0, t), 1);
    assert_int_equal(at(&g, M_ADOPTION_DAYS_12M, 0, t), 558);
    assert_int_equal(at(&g, M_ADOPTION_COUNT_12M, 2, t), 1);
    if (at(&g, M_ADOPTION_DAYS_12M, 2, t) != want[i].a10)
      fail_msg("%s: A10 is %lld days, expected %d", want[i].child,
               (long long)at(&g, M_ADOPTION_DAYS_12M, 2, t), want[i].a10);
  }
}

/* ---- care_leavers ------------------------------------------------------------------------ */

/*
 * Born 2005-05-20: aged 17-21 from 2022-05-20 to 2027-05-19.
 * Contacts: 2022-03-01 in touch, in education (aged 16 then; counts once
 * aged 17 while it is the latest and in the window); 2023-01-10 twice: c2a
 * in touch, F1, suitable, then c2b (saved later) in touch, NEET, not
 * suitable: the latest is c2b; 2024-06-01 not in touch; 2027-01-01 in touch.
 */
TEST(test_care_leavers) {
  details(h, "dob", D(2022, 1, 1), D(2005, 5, 20), 0);
  leaver(h, "c1", D(2022, 3, 1), 1, "", ACT(EDUCATION), 0);
  leaver(h, "c2a", D(2023, 1, 10), 1, "F1", ACT(EDUCATION), 1);
  leaver(h, "c2b", D(2023, 1, 10), 1, "G4", ACT(NEET), 0)->recorded_at_ms += 3600000;
  leaver(h, "c3", D(2024, 6, 1), 0, "G4", ACT(NEET), 1);
  leaver(h, "c4", D(2027, 1, 1), 1, "F3", 0, 1); /* no activity: F3 is training/employment */
  derive(h);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 0, D(2022, 5, 19)), 0); /* aged 16 */
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 0, D(2022, 5, 20)), 1);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 1, D(2022, 5, 20)), 1);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 2, D(2022, 5, 20)), 1);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 3, D(2022, 5, 20)), 0);
  /* 2023-01-10: c2b. */
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 0, D(2023, 1, 10)), 1);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 1, D(2023, 1, 10)), 1);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 2, D(2023, 1, 10)), 0);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 3, D(2023, 1, 10)), 0);
  /* c2b leaves the window when add_months(T, -12) >= 2023-01-10: on 2024-01-10. */
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 0, D(2024, 1, 9)), 1);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 0, D(2024, 1, 10)), 0);
  /* 2024-06-01: c3, not in touch, suitable. */
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 0, D(2024, 6, 1)), 1);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 1, D(2024, 6, 1)), 0);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 3, D(2024, 6, 1)), 1);
  /* c4 while aged 21; not on the 22nd birthday. */
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 2, D(2027, 5, 19)), 1);
  assert_int_equal(at(h, M_CARE_LEAVERS_12M, 0, D(2027, 5, 20)), 0);
}

/* ---- sdq_mean ---------------------------------------------------------------------------- */

/*
 * Born 2015-03-01; care from 2022-01-15: 12 months+ from 2023-01-15. Scores
 * 12 on 2022-06-01, 18 on 2023-02-01.
 *   2023-01-14: not yet 12 months in care: nothing.
 *   2023-01-15: score 12, band 0-13.   2023-02-01: score 18, band 17+.
 * A child born 2006-02-01 (same care and scores) is 17 on 2023-02-01:
 * counted on 2023-01-31, not on 2023-02-01. No date of birth: never.
 */
static void sdq_child(struct hist *h, csc_date dob) {
  details(h, "dob", D(2022, 1, 1), dob, 0);
  care_start(h, "P1", D(2022, 1, 15), "C2", 0, plc(h, "U1", NO_DISTANCE));
  sdq(h, "s1", D(2022, 6, 1), 12);
  sdq(h, "s2", D(2023, 2, 1), 18);
  derive(h);
}

TEST(test_sdq) {
  sdq_child(h, D(2015, 3, 1));
  assert_int_equal(at(h, M_SDQ_COUNT, 0, D(2023, 1, 14)), 0);
  assert_int_equal(at(h, M_SDQ_COUNT, 0, D(2023, 1, 15)), 1);
  assert_int_equal(at(h, M_SDQ_COUNT, 1, D(2023, 1, 15)), 1);
  assert_int_equal(at(h, M_SDQ_SUM, 0, D(2023, 1, 15)), 12);
  assert_int_equal(at(h, M_SDQ_COUNT, 1, D(2023, 2, 1)), 0);
  assert_int_equal(at(h, M_SDQ_COUNT, 3, D(2023, 2, 1)), 1);
  assert_int_equal(at(h, M_SDQ_SUM, 0, D(2023, 2, 1)), 18);
  next_child(h, "OLD");
  sdq_child(h, D(2006, 2, 1));
  assert_int_equal(at(h, M_SDQ_COUNT, 0, D(2023, 1, 31)), 1);
  assert_int_equal(at(h, M_SDQ_COUNT, 0, D(2023, 2, 1)), 0);
  next_child(h, "NODOB");
  sdq_child(h, DATE_NEVER);
  assert_int_equal(at(h, M_SDQ_COUNT, 0, D(2023, 2, 1)), 0);
}

/* ---- court_applications ------------------------------------------------------------------ */

/*
 * Applications 2023-01-10 (care) and 2023-03-01 (supervision): one child,
 * counted from 2023-01-10 until the later one leaves the 6m window
 * (add_months(2023-09-01, -6) = 2023-03-01): not on 2023-09-01. An
 * application of no kind does not count.
 * Month end: 2023-08-31 is in the window of 2024-02-29 (add_months(
 * 2024-02-29, -6) = 2023-08-29 < 2023-08-31), not of 2024-03-01.
 */
TEST(test_court) {
  court(h, "a1", D(2023, 1, 10), COURT(CARE));
  court(h, "a2", D(2023, 3, 1), COURT(SUPERVISION));
  court(h, "a3", D(2023, 10, 1), COURT(UNSPECIFIED));
  derive(h);
  assert_int_equal(at(h, M_COURT_APPLICATIONS_6M, 0, D(2023, 1, 9)), 0);
  assert_int_equal(at(h, M_COURT_APPLICATIONS_6M, 0, D(2023, 3, 1)), 1);
  assert_int_equal(at(h, M_COURT_APPLICATIONS_6M, 0, D(2023, 8, 31)), 1);
  assert_int_equal(at(h, M_COURT_APPLICATIONS_6M, 0, D(2023, 9, 1)), 0);
  assert_int_equal(at(h, M_COURT_APPLICATIONS_6M, 0, D(2023, 10, 1)), 0);
  next_child(h, "C2");
  court(h, "a1", D(2023, 8, 31), COURT(CARE));
  derive(h);
  assert_int_equal(at(h, M_COURT_APPLICATIONS_6M, 0, D(2024, 2, 29)), 1);
  assert_int_equal(at(h, M_COURT_APPLICATIONS_6M, 0, D(2024, 3, 1)), 0);
}

/* ---- through the engine: the published rows ------------------------------------------------ */

/* An event only moving the LA's replay clock to d. */
static void tick(struct hist *h, const char *id, csc_date d) {
  const char *own = h->child;
  h->child = "CLOCK";
  details(h, id, d, D(2000, 1, 1), 0);
  h->child = own;
}

/* Packs events [from, h->n) into b and applies them as one batch. */
static size_t apply_from(struct fixture *f, struct hist *h, struct evs *b, size_t from) {
  const size_t first = b->n;
  for (size_t i = from; i < h->n; i++)
    add(b, h->ev[i]);
  apply(f, b, first, b->n);
  return h->n;
}

struct flag {
  const char *id, *window, *bd;
  int found, provisional;
};

static int find_flag(void *ctx, const IndicatorSnapshot *snap) {
  struct flag *x = ctx;
  const Cscflow__V1__IndicatorValue *v = snapshot_find(snap, x->id, x->window, x->bd);
  if (v != NULL) {
    x->found = 1;
    x->provisional = v->provisional;
  }
  return CSC_OK;
}

static int provisional(struct fixture *f, const char *id, const char *window, const char *bd) {
  struct flag x = {id, window, bd, 0, 0};
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(engine_store(f->e)->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(engine_store(f->e), txn, LA, find_flag, &x), CSC_OK);
  mdb_txn_abort(txn);
  assert_true(x.found);
  return x.provisional;
}

static struct evs packed;

/*
 * Adoption rows, children Q and R above. T = 2023-01-15: both adopted in
 * (2022-01-15, 2023-01-15]:
 *   A1 = (426 + 516) / 2 = 471; A2 = (121 + 59) / 2 = 90; A10 = (426 + 151) / 2 = 288.5.
 * Placed for adoption in the window: Q 2022-05-01, R 2022-06-01; early
 * permanence R: 1 of 2 = 50%.
 * T = 2023-05-01: window (2022-05-01, 2023-05-01]: Q's placement has left it:
 * 1 of 1 = 100%; both adoptions are still in it.
 */
TEST(test_engine_adoption_rows) {
  struct fixture f;
  open_fixture(&f, "ind_outcomes_adoption");
  memset(&packed, 0, sizeof packed);
  adoption_children(h);
  size_t done = apply_from(&f, h, &packed, 0);
  expect_ratio(&f, "adoption_timeliness", "12m", "A1", 426 + 516, 2, 471);
  expect_ratio(&f, "adoption_timeliness", "12m", "A2", 121 + 59, 2, 90);
  expect_ratio(&f, "adoption_timeliness", "12m", "A10", 426 + 151, 2, 288.5);
  expect_ratio(&f, "early_permanence", "12m", "", 1, 2, 50);
  tick(h, "t1", D(2023, 5, 1));
  done = apply_from(&f, h, &packed, done);
  expect_ratio(&f, "early_permanence", "12m", "", 1, 1, 100);
  expect_ratio(&f, "adoption_timeliness", "12m", "A1", 942, 2, 471);
  close_fixture(&f);
}

/*
 * Three children (born 2010-01-01) and the rows of placements and care.
 *   A: care from 2023-01-10 (U1, 25.0 miles), moved 2023-05-01 (U2, 10.0
 *      miles); still looked after.
 *   B: care from 2023-02-01 (R1, distance unknown), home 2023-06-01 (E13);
 *      back in care (K1) on 2023-09-01.
 *   C: care from 2023-03-01 (UASC; P1, 30.0 miles), ended 2023-07-01 with
 *      E43 (special guardianship).
 * T = 2023-07-15:
 *   placement_changes_avg: children looked after in (2022-07-15, 2023-07-15]:
 *     A, B, C = 3; changes: A's 2023-05-01 = 1: mean 1/3.
 *   placement_type_mix: looked after on T: A only (U2, foster): 1 of 1.
 *   placement_distance: A known 10.0: over 20: 0 of 1 (of the children
 *     looked after on T); unknown 0 of 1; mean 100 tenths / 1 = 10.0 miles.
 *   care_entries 12m: A, B not UASC, C UASC: total 3 (per 10,000 of
 *     10,000: 3), UASC 1, not_UASC 2.
 *   care_exits_permanence 12m: B (E13), C (E43): special guardianship 1 of
 *     2 = 50%; adoption 0 of 2.
 *   reunification_sustained: B home 2023-06-01, not back by T: 1 of 1,
 *     provisional.
 * T = 2023-09-01: B back in care on T: 0 of 1. Type mix: A foster, B secure:
 *   1 of 2 each; distance known for A only: mean 10.0 (over the known
 *   distances); B's distance is not known: over 20 is 0 of the 2 children
 *   looked after ("of all children looked after on T (distance not known
 *   stays in the denominator, and its share is its own value ...)"), and
 *   unknown 1 of 2 = 50%.
 */
TEST(test_engine_care_rows) {
  struct fixture f;
  open_fixture(&f, "ind_outcomes_care");
  memset(&packed, 0, sizeof packed);
  h->child = "A";
  details(h, "Ad", D(2023, 1, 1), D(2010, 1, 1), 0);
  care_start(h, "AP", D(2023, 1, 10), "C2", 0, plc(h, "U1", 250));
  place(h, "Am", D(2023, 5, 1), "AP", plc(h, "U2", 100));
  h->child = "B";
  details(h, "Bd", D(2023, 1, 1), D(2010, 1, 1), 0);
  care_start(h, "BP", D(2023, 2, 1), "C2", 0, plc(h, "R1", NO_DISTANCE));
  care_end(h, "Be", D(2023, 6, 1), "BP", "E13");
  h->child = "C";
  details(h, "Cd", D(2023, 1, 1), D(2010, 1, 1), 0);
  care_start(h, "CP", D(2023, 3, 1), "C2", 1, plc(h, "P1", 300));
  care_end(h, "Ce", D(2023, 7, 1), "CP", "E43");
  tick(h, "t1", D(2023, 7, 15));
  size_t done = apply_from(&f, h, &packed, 0);

  expect_ratio(&f, "placement_changes_avg", "12m", "", 1, 3, 1.0 / 3);
  expect_ratio(&f, "placement_type_mix", "T", "foster", 1, 1, 100);
  expect_ratio(&f, "placement_type_mix", "T", "other", 0, 1, 0);
  expect_ratio(&f, "placement_distance", "T", "over_20_miles", 0, 1, 0);
  expect_ratio(&f, "placement_distance", "T", "unknown", 0, 1, 0);
  expect_ratio(&f, "placement_distance", "T", "mean_miles", 10, 1, 10.0); /* in miles */
  expect_count(&f, "care_entries", "12m", "", 3, 3);
  expect_count(&f, "care_entries", "12m", "UASC", 1, 1);
  expect_count(&f, "care_entries", "12m", "not_UASC", 2, 2);
  expect_ratio(&f, "care_exits_permanence", "12m", "special_guardianship", 1, 2, 50);
  expect_ratio(&f, "care_exits_permanence", "12m", "adoption", 0, 2, 0);
  expect_ratio(&f, "reunification_sustained", "12m", "", 1, 1, 100);
  assert_true(provisional(&f, "reunification_sustained", "12m", ""));
  assert_false(provisional(&f, "care_entries", "12m", ""));

  h->child = "B";
  care_start(h, "BP2", D(2023, 9, 1), "C2", 0, plc(h, "K1", NO_DISTANCE));
  done = apply_from(&f, h, &packed, done);
  expect_ratio(&f, "reunification_sustained", "12m", "", 0, 1, 0);
  expect_ratio(&f, "placement_type_mix", "T", "foster", 1, 2, 50);
  expect_ratio(&f, "placement_type_mix", "T", "secure", 1, 2, 50);
  expect_ratio(&f, "placement_distance", "T", "mean_miles", 10, 1, 10.0); /* in miles */
  expect_ratio(&f, "placement_distance", "T", "over_20_miles", 0, 2, 0);
  expect_ratio(&f, "placement_distance", "T", "unknown", 1, 2, 50);
  (void)done;
  close_fixture(&f);
}

/*
 * The rows of children outside care too. T = 2023-06-01:
 *   care_leavers: L born 2005-01-01 (18), contact 2023-05-01 in touch, in
 *     training/employment, accommodation not suitable: in_touch 1 of 1 =
 *     100%, eet 100%, suitable_accommodation 0%.
 *   sdq_mean: S born 2014-01-01, in care since 2022-01-01, scores 10 (on
 *     2022-03-01) and S2 born 2013-01-01 likewise with 20: mean (10 + 20) / 2
 *     = 15; bands 0-13: 1 of 2, 17+: 1 of 2, 14-16: 0 of 2.
 *   court_applications: L (2023-01-01) and S (2022-11-01): within (2022-12-01,
 *     2023-06-01]: L only: 1, per 10,000 of 10,000: 1.
 */
TEST(test_engine_children_rows) {
  struct fixture f;
  open_fixture(&f, "ind_outcomes_children");
  memset(&packed, 0, sizeof packed);
  h->child = "L";
  details(h, "Ld", D(2023, 1, 1), D(2005, 1, 1), 0);
  leaver(h, "Lc", D(2023, 5, 1), 1, "F3", ACT(TRAINING_EMPLOYMENT), 0);
  court(h, "La", D(2023, 1, 1), COURT(CARE));
  h->child = "S";
  details(h, "Sd", D(2022, 1, 1), D(2014, 1, 1), 0);
  care_start(h, "SP", D(2022, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  sdq(h, "Ss", D(2022, 3, 1), 10);
  court(h, "Sa", D(2022, 11, 1), COURT(SUPERVISION));
  h->child = "S2";
  details(h, "S2d", D(2022, 1, 1), D(2013, 1, 1), 0);
  care_start(h, "S2P", D(2022, 1, 1), "C2", 0, plc(h, "U1", NO_DISTANCE));
  sdq(h, "S2s", D(2022, 3, 1), 20);
  tick(h, "t1", D(2023, 6, 1));
  apply_from(&f, h, &packed, 0);
  expect_ratio(&f, "care_leavers", "12m", "in_touch", 1, 1, 100);
  expect_ratio(&f, "care_leavers", "12m", "eet", 1, 1, 100);
  expect_ratio(&f, "care_leavers", "12m", "suitable_accommodation", 0, 1, 0);
  expect_ratio(&f, "sdq_mean", "T", "mean", 30, 2, 15);
  expect_ratio(&f, "sdq_mean", "T", "0-13", 1, 2, 50);
  expect_ratio(&f, "sdq_mean", "T", "14-16", 0, 2, 0);
  expect_ratio(&f, "sdq_mean", "T", "17+", 1, 2, 50);
  expect_count(&f, "court_applications", "6m", "", 1, 1);
  /* placement_stability_long: S and S2 in care 17 months: none in the
   * denominator: null value. */
  expect_ratio(&f, "placement_stability_long", "T", "", 0, 0, 0);
  close_fixture(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, hist_setup, hist_teardown)
      T(test_placements_open_for_years),
      T(test_stability_month_end),
      T(test_stability_leap_day),
      T(test_stability_adoption_rule),
      T(test_stability_short_breaks_and_no_dob),
      T(test_stability_one_span),
      T(test_placement_changes),
      T(test_placement_changes_window_end_and_short_breaks),
      T(test_placement_changes_periods_without_ids),
      T(test_same_carer_placed_for_adoption),
      T(test_same_carer_recognised),
      T(test_type_mix_and_distance),
      T(test_type_mix_short_breaks),
      T(test_type_mix_overlapping_periods),
      T(test_entries_exits_fy_boundary),
      T(test_entries_exits_groups),
      T(test_entries_exits_children_not_periods),
      T(test_entries_exits_by_legal_status),
      T(test_reunification_failed_return_once),
      T(test_stability_chain_of_episodes),
      T(test_reunification_return),
      T(test_reunification_sustained),
      T(test_reunification_same_day_return),
      T(test_adoption_times),
      T(test_adoption_missing_dates),
      T(test_adoption_latest_span),
      T(test_adoption_a10_same_carer_run),
      T(test_care_leavers),
      T(test_sdq),
      T(test_court),
      T(test_engine_adoption_rows),
      T(test_engine_care_rows),
      T(test_engine_children_rows),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
