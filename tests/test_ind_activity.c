/*
 * The Activity and Timeliness indicators (docs/indicators.md, sections
 * "Activity" and "Timeliness"; docs/indicators.md for the choices
 * beyond it), hand-worked.
 *
 * Two levels: the child's facts (child_fold + child_derive, read back as
 * "the child's contribution to (measure, bucket) on T"), and the published
 * rows through the whole engine (tests/harness.h). Every expected value is
 * worked out in the comments; working days use the shipped bank-holiday
 * file, whose dates near each span are quoted where they matter.
 *
 * Windows: an event on d is in the 12m window of T when
 * add_months(T, -12) < d <= T, i.e. for T in [d, window_end(d, 12)).
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
#define HOLIDAYS CSCFLOW_SOURCE_DIR "/reference/bank-holidays-england-and-wales.txt"

#define OUTCOME(x) CSCFLOW__V1__ASSESSMENT_OUTCOME__ASSESSMENT_OUTCOME_##x

/* ---- one child's history, folded and derived ------------------------------------ */

struct hist {
  struct arena a;
  CaseEvent *ev[MAXEV];
  size_t n;
  struct child_state st;
  struct derived d;
};

static struct workdays holidays; /* the shipped file, loaded once by main */

static void h_init(struct hist *h) {
  memset(h, 0, sizeof *h);
  arena_init(&h->a, 1 << 16);
}

static void h_reset(struct hist *h) {
  arena_free(&h->a);
  h_init(h);
}

#define TEST(name)                                                                                 \
  static void name##_(struct hist *h);                                                             \
  static void name(void **state) { name##_(*state); }                                              \
  static void name##_(struct hist *h)

static int hist_setup(void **state) {
  struct hist *h = malloc(sizeof *h);
  if (h == NULL)
    return -1;
  h_init(h);
  *state = h;
  return 0;
}

static int hist_teardown(void **state) {
  struct hist *h = *state;
  arena_free(&h->a);
  free(h);
  return 0;
}

static void *h_alloc(struct hist *h, size_t size) {
  void *p = arena_alloc(&h->a, size);
  assert_non_null(p);
  return memset(p, 0, size);
}

static CaseEvent *ev_new(struct hist *h, const char *id, csc_date d) {
  assert_true(h->n < MAXEV);
  const CaseEvent init = CSCFLOW__V1__CASE_EVENT__INIT;
  CaseEvent *e = h_alloc(h, sizeof *e);
  *e = init;
  e->event_id = S(id);
  e->la_code = LA;
  e->child_id = "C1";
  e->occurred_on = date_to_yyyymmdd(d);
  e->recorded_at_ms = test_ms(d);
  return h->ev[h->n++] = e;
}

/* The body of a builder: event e (id, d) with payload p, then the assignments. */
#define BUILD(UPPER, field, Type, ...)                                                             \
  {                                                                                                \
    CaseEvent *e = ev_new(h, id, d);                                                               \
    Cscflow__V1__##Type *p = h_alloc(h, sizeof *p);                                                \
    const Cscflow__V1__##Type init_ = CSCFLOW__V1__##UPPER##__INIT;                                \
    *p = init_;                                                                                    \
    e->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_##UPPER;                                    \
    e->field = p;                                                                                  \
    __VA_ARGS__;                                                                                   \
  }
#define HDR struct hist *h, const char *id, csc_date d

/* clang-format off */
static void ref_open(HDR, const char *ref, const char *source)
    BUILD(REFERRAL_OPENED, referral_opened, ReferralOpened, p->referral_id = S(ref),
          p->source = S(source))
static void ref_close(HDR, const char *ref)
    BUILD(REFERRAL_CLOSED, referral_closed, ReferralClosed, p->referral_id = S(ref))
static void eh_start(HDR, const char *episode)
    BUILD(EARLY_HELP_STARTED, early_help_started, EarlyHelpStarted, p->episode_id = S(episode))
static void asmt_start(HDR, const char *assessment, const char *ref)
    BUILD(ASSESSMENT_STARTED, assessment_started, AssessmentStarted,
          p->assessment_id = S(assessment), p->referral_id = S(ref))
/* Up to two factors (NULL for none). */
static void asmt_done(HDR, const char *assessment, const char *ref, int outcome, const char *f1,
                      const char *f2)
    BUILD(ASSESSMENT_COMPLETED, assessment_completed, AssessmentCompleted,
          p->assessment_id = S(assessment), p->referral_id = S(ref),
          p->outcome = (Cscflow__V1__AssessmentOutcome)outcome,
          p->factors = h_alloc(h, 2 * sizeof *p->factors),
          p->n_factors = (f1 != NULL) + (f2 != NULL), p->factors[0] = S(f1 ? f1 : f2),
          p->factors[1] = S(f2))
static void s47_start(HDR, const char *enquiry, const char *ref)
    BUILD(SECTION47_STARTED, section47_started, Section47Started, p->enquiry_id = S(enquiry),
          p->referral_id = S(ref))
static void s47_done(HDR, const char *enquiry)
    BUILD(SECTION47_COMPLETED, section47_completed, Section47Completed,
          p->enquiry_id = S(enquiry))
static void icpc(HDR, const char *enquiry)
    BUILD(ICPC_HELD, icpc_held, IcpcHeld, p->enquiry_id = S(enquiry), p->plan_agreed = 1)
static void cin_start(HDR, const char *plan)
    BUILD(CIN_PLAN_STARTED, cin_plan_started, CinPlanStarted, p->plan_id = S(plan))
static void cp_start(HDR, const char *plan, const char *category)
    BUILD(CP_PLAN_STARTED, cp_plan_started, CpPlanStarted, p->plan_id = S(plan),
          p->initial_category = S(category))
static void cp_end(HDR, const char *plan)
    BUILD(CP_PLAN_ENDED, cp_plan_ended, CpPlanEnded, p->plan_id = S(plan))
static void care_start(HDR, const char *period, const char *legal_status)
    BUILD(PERIOD_OF_CARE_STARTED, period_of_care_started, PeriodOfCareStarted,
          p->period_id = S(period), p->legal_status = S(legal_status))
/* clang-format on */

/* Folds and derives h with the shipped bank holidays (ref NULL: weekends only). */
static const struct derived *derive_with(struct hist *h, const struct workdays *wd) {
  struct derive_ref ref;
  derive_ref_default(&ref);
  ref.wd = wd;
  assert_int_equal(child_fold(h->ev, h->n, test_code_lists(), &h->a, &h->st), CSC_OK);
  assert_int_equal(child_derive(&h->st, &ref, &h->a, &h->d), CSC_OK);
  return &h->d;
}

static const struct derived *derive(struct hist *h) { return derive_with(h, &holidays); }

/* The child's contribution to (measure, bucket) on as-of date t. */
static int64_t at(const struct derived *d, int measure, int bucket, csc_date t) {
  int64_t sum = 0;
  for (size_t i = 0; i < d->n_facts; i++) {
    const struct fact *f = &d->facts[i];
    if (f->measure == measure && f->bucket == bucket && f->from <= t && t < f->to)
      sum += f->weight;
  }
  return sum;
}

/* Its contribution to every bucket of measure on t. */
static int64_t at_all(const struct derived *d, int measure, csc_date t) {
  int64_t sum = 0;
  for (size_t i = 0; i < d->n_facts; i++)
    if (d->facts[i].measure == measure && d->facts[i].from <= t && t < d->facts[i].to)
      sum += d->facts[i].weight;
  return sum;
}

static size_t facts_of(const struct derived *d, int measure) {
  size_t n = 0;
  for (size_t i = 0; i < d->n_facts; i++)
    n += d->facts[i].measure == measure;
  return n;
}

/* Breakdowns by code are keyed by the code itself (code_bucket). */
static int src(const char *code) { return code_bucket(code); }
static int factor(const char *code) { return code_bucket(code); }
static int category(const char *code) { return code_bucket(code); }

/* The outcome buckets of referral_outcome always add up to the referrals
 * in the window: checked on every day from before the first referral to
 * past the last window. */
static void outcomes_add_up(const struct derived *d, csc_date from, csc_date to) {
  for (csc_date t = from; t <= to; t++)
    assert_int_equal(at_all(d, M_REFERRAL_OUTCOME_12M, t), at(d, M_REFERRALS_12M, 0, t));
}

/* ---- referrals_by_source --------------------------------------------------------- */

/*
 * Referrals 2023-05-01 "1A" (closed 2023-06-01), 2023-09-01 "3F" (closed
 * 2023-09-30), 2024-01-10 "XX" (not a CIN census code; closed 2024-02-01),
 * 2024-03-01 "" (not recorded). Each code keeps its own bucket, the code
 * packed (base 37: "1A" = 2*37^2 + 11*37 = 3145); unrecorded goes to
 * CODE_BUCKET_OTHER. The catalogue puts XX in "other" (test_rows).
 */
TEST(test_referrals_by_source) {
  assert_int_equal(src("1A"), 2 * 37 * 37 + 11 * 37);
  assert_int_equal(src("10"), 2 * 37 * 37 + 1 * 37);
  assert_int_equal(src("3F"), 4 * 37 * 37 + 16 * 37);
  assert_int_equal(src(""), CODE_BUCKET_OTHER);
  assert_int_equal(src("ABCD"), CODE_BUCKET_OTHER);
  ref_open(h, "r1", D(2023, 5, 1), "R1", "1A");
  ref_close(h, "r1c", D(2023, 6, 1), "R1");
  ref_open(h, "r2", D(2023, 9, 1), "R2", "3F");
  ref_close(h, "r2c", D(2023, 9, 30), "R2");
  ref_open(h, "r3", D(2024, 1, 10), "R3", "XX");
  ref_close(h, "r3c", D(2024, 2, 1), "R3");
  ref_open(h, "r4", D(2024, 3, 1), "R4", "");
  const struct derived *d = derive(h);
  /* T = 2024-03-01, window (2023-03-01, 2024-03-01]: all four. 1A 1, 3F 1,
   * XX 1, "" 1; together the 4 referrals of the denominator. */
  const csc_date t = D(2024, 3, 1);
  assert_int_equal(at(d, M_REFERRALS_BY_SOURCE_12M, src("1A"), t), 1);
  assert_int_equal(at(d, M_REFERRALS_BY_SOURCE_12M, src("3F"), t), 1);
  assert_int_equal(at(d, M_REFERRALS_BY_SOURCE_12M, src("XX"), t), 1);
  assert_int_equal(at(d, M_REFERRALS_BY_SOURCE_12M, CODE_BUCKET_OTHER, t), 1);
  assert_int_equal(at(d, M_REFERRALS_12M, 0, t), 4);
  assert_int_equal(at_all(d, M_REFERRALS_BY_SOURCE_12M, t), 4);
  /* The 1A referral of 2023-05-01 is in the window of 2024-04-30 (which
   * starts after 2023-04-30) and not of 2024-05-01 (after 2023-05-01). */
  assert_int_equal(at(d, M_REFERRALS_BY_SOURCE_12M, src("1A"), D(2024, 4, 30)), 1);
  assert_int_equal(at(d, M_REFERRALS_BY_SOURCE_12M, src("1A"), D(2024, 5, 1)), 0);
  /* Nothing before the referral itself. */
  assert_int_equal(at(d, M_REFERRALS_BY_SOURCE_12M, src("1A"), D(2023, 4, 30)), 0);
}

/* ---- referral_outcome ------------------------------------------------------------- */

/*
 * Child 1: referral 2023-06-01; early help 2023-06-20, CIN plan 2023-07-15,
 * CP plan 2023-09-01; closed 2023-12-01; a period of care 2024-01-05 starts
 * after the closure and is no stage of it. window_end(2023-06-01) =
 * 2024-06-01. Stages: pending [06-01, 06-20), EH [06-20, 07-15), CIN
 * [07-15, 09-01), CP [09-01, 2024-06-01).
 */
TEST(test_referral_outcome_stages) {
  ref_open(h, "r1", D(2023, 6, 1), "R1", "1A");
  eh_start(h, "e1", D(2023, 6, 20), "EH1");
  cin_start(h, "c1", D(2023, 7, 15), "CIN1");
  cp_start(h, "p1", D(2023, 9, 1), "CP1", "N");
  ref_close(h, "r1c", D(2023, 12, 1), "R1");
  care_start(h, "l1", D(2024, 1, 5), "LAC1", "C2");
  const struct derived *d = derive(h);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2023, 6, 1)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2023, 6, 19)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_EH, D(2023, 6, 20)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_EH, D(2023, 7, 14)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CIN, D(2023, 7, 15)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2023, 9, 1)), 1);
  /* Closed with a stage: stays CP, not NFA; the later care is not LAC. */
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2024, 2, 1)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_LAC, D(2024, 2, 1)), 0);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2024, 5, 31)), 1);
  assert_int_equal(at_all(d, M_REFERRAL_OUTCOME_12M, D(2024, 6, 1)), 0);
  assert_int_equal(facts_of(d, M_REFERRAL_OUTCOME_12M), 4);
  outcomes_add_up(d, D(2023, 5, 30), D(2024, 6, 2));

  /* Child 2: referral 2023-06-01 closed 2023-08-01 with no stage: pending
   * [06-01, 08-01), NFA from the closure [08-01, 2024-06-01). */
  h_reset(h);
  ref_open(h, "r1", D(2023, 6, 1), "R1", "1A");
  ref_close(h, "r1c", D(2023, 8, 1), "R1");
  d = derive(h);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2023, 7, 31)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_NFA, D(2023, 7, 31)), 0);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_NFA, D(2023, 8, 1)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_NFA, D(2024, 5, 31)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_NFA, D(2024, 6, 1)), 0);
  outcomes_add_up(d, D(2023, 5, 30), D(2024, 6, 2));

  /* Child 3: referral 2024-01-10 closed 2024-02-01; a short-breaks period
   * (V3) 2024-01-20 is no stage; a period of care (C2) starting on the
   * closure date is ([s, e] includes e): pending [01-10, 02-01), LAC
   * [02-01, 2025-01-10). */
  h_reset(h);
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  care_start(h, "v1", D(2024, 1, 20), "SB1", "V3");
  ref_close(h, "r1c", D(2024, 2, 1), "R1");
  care_start(h, "l1", D(2024, 2, 1), "LAC1", "C2");
  d = derive(h);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2024, 1, 31)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_LAC, D(2024, 2, 1)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_LAC, D(2025, 1, 9)), 1);
  assert_int_equal(at_all(d, M_REFERRAL_OUTCOME_12M, D(2025, 1, 10)), 0);
  outcomes_add_up(d, D(2024, 1, 1), D(2025, 1, 11));

  /* Child 4: referral 2023-03-01, CP plan 2023-03-20 ended 2023-05-01 and
   * a CIN plan from 2023-05-01 (step-down), still open: the furthest stage
   * stays CP (precedence), never back to CIN. window_end = 2024-03-01. */
  h_reset(h);
  ref_open(h, "r1", D(2023, 3, 1), "R1", "1A");
  cp_start(h, "p1", D(2023, 3, 20), "CP1", "P");
  cp_end(h, "p1e", D(2023, 5, 1), "CP1");
  cin_start(h, "c1", D(2023, 5, 1), "CIN1");
  d = derive(h);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2023, 6, 1)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CIN, D(2023, 6, 1)), 0);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2024, 2, 29)), 1);
  outcomes_add_up(d, D(2023, 2, 27), D(2024, 3, 2));

  /* Child 5: referral Thu 2024-02-29 closed 2024-03-10, no stage. The
   * window of 2025-02-28 is (2024-02-28, 2025-02-28]: it still holds the
   * referral, which leaves on 2025-03-01 (not on add_months(2024-02-29,
   * 12) = 2025-02-28). NFA [2024-03-10, 2025-03-01). */
  h_reset(h);
  ref_open(h, "r1", D(2024, 2, 29), "R1", "1A");
  ref_close(h, "r1c", D(2024, 3, 10), "R1");
  d = derive(h);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2024, 3, 9)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_NFA, D(2024, 3, 10)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_NFA, D(2025, 2, 28)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_NFA, D(2025, 3, 1)), 0);
  outcomes_add_up(d, D(2024, 2, 27), D(2025, 3, 2));
}

/*
 * Referral 2024-01-10, still open, and a CP plan from 2024-03-05: pending
 * [2024-01-10, 2024-03-05), then CP until the referral leaves the window:
 * window_end(2024-01-10) = 2025-01-10 (on 2025-01-10 the window starts
 * after 2024-01-10). Exactly two facts.
 */
TEST(test_referral_outcome_pending_to_cp) {
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  cp_start(h, "p1", D(2024, 3, 5), "CP1", "N");
  const struct derived *d = derive(h);
  assert_int_equal(facts_of(d, M_REFERRAL_OUTCOME_12M), 2);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2024, 1, 9)), 0);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2024, 1, 10)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2024, 3, 4)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2024, 3, 4)), 0);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2024, 3, 5)), 0);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2024, 3, 5)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2025, 1, 9)), 1);
  assert_int_equal(at(d, M_REFERRAL_OUTCOME_12M, OUT_CP, D(2025, 1, 10)), 0);
  outcomes_add_up(d, D(2024, 1, 1), D(2025, 1, 11));
}

/* ---- assessments, s47_enquiries, icpcs: counts and 29 February ------------------ */

/*
 * Assessments: A1 started 2024-02-01, completed 2024-02-29; A2 completed
 * 2024-06-30 with no start (counts); A3 started 2024-05-01, never completed
 * (does not count). Enquiries: Q1 started 2024-02-29 (completed
 * 2024-03-10); Q2 recorded only by its completion 2024-04-15 (counts on that
 * date); Q3 started 2024-06-01, open. ICPC 2024-03-14 naming Q1.
 *
 * 29 February: the window of 2025-02-28 is (2024-02-28, 2025-02-28], so it
 * still holds 2024-02-29; that of 2025-03-01 starts after 2024-03-01.
 */
TEST(test_counts_and_29_february) {
  asmt_start(h, "a1s", D(2024, 2, 1), "A1", "");
  asmt_done(h, "a1", D(2024, 2, 29), "A1", "", OUTCOME(CIN), NULL, NULL);
  asmt_done(h, "a2", D(2024, 6, 30), "A2", "", OUTCOME(CIN), NULL, NULL);
  asmt_start(h, "a3s", D(2024, 5, 1), "A3", "");
  s47_start(h, "q1s", D(2024, 2, 29), "Q1", "");
  s47_done(h, "q1", D(2024, 3, 10), "Q1");
  s47_done(h, "q2", D(2024, 4, 15), "Q2");
  s47_start(h, "q3s", D(2024, 6, 1), "Q3", "");
  icpc(h, "i1", D(2024, 3, 14), "Q1");
  const struct derived *d = derive(h);
  /* assessments: 2024-06-29: A1 = 1; 2024-06-30: A1, A2 = 2; 2025-02-28:
   * A1 (29 Feb) and A2 = 2; 2025-03-01: A2 = 1. */
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2024, 2, 28)), 0);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2024, 6, 29)), 1);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2024, 6, 30)), 2);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2025, 2, 28)), 2);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2025, 3, 1)), 1);
  /* s47_enquiries by start: 2024-04-14: Q1 = 1; 2024-04-15: Q1, Q2 = 2;
   * 2025-02-28: Q1, Q2, Q3 = 3; 2025-03-01: Q2, Q3 = 2. */
  assert_int_equal(at(d, M_S47_12M, 0, D(2024, 4, 14)), 1);
  assert_int_equal(at(d, M_S47_12M, 0, D(2024, 4, 15)), 2);
  assert_int_equal(at(d, M_S47_12M, 0, D(2025, 2, 28)), 3);
  assert_int_equal(at(d, M_S47_12M, 0, D(2025, 3, 1)), 2);
  /* icpcs: in the window of [2024-03-14, 2025-03-14). */
  assert_int_equal(at(d, M_ICPCS_12M, 0, D(2024, 3, 13)), 0);
  assert_int_equal(at(d, M_ICPCS_12M, 0, D(2024, 3, 14)), 1);
  assert_int_equal(at(d, M_ICPCS_12M, 0, D(2025, 3, 13)), 1);
  assert_int_equal(at(d, M_ICPCS_12M, 0, D(2025, 3, 14)), 0);
  /* s47_to_icpc_wd: wd(Thu 2024-02-29, Thu 2024-03-14) = Fri 1 Mar, 4-8,
   * 11-14 Mar = 1 + 5 + 4 = 10 (no bank holiday). */
  assert_int_equal(at(d, M_S47_TO_ICPC_WD, 10, D(2024, 3, 14)), 1);
  assert_int_equal(at_all(d, M_S47_TO_ICPC_WD, D(2024, 3, 14)), 1);
}

/* ---- Completions: once per id --------------------------------------------------- */

/*
 * INDICATORS.md, Conventions, "Completions": "an assessment or a Section 47
 * enquiry counts once per id. [...] a completion dated before its start
 * counts as completed but is left out of timeliness. A second completion of
 * the same id is a data-quality finding and counts nothing more."
 *
 * Referral R1 Mon 2022-08-01. Q1 started 2022-08-15, completions saved
 * 08-18 and 08-23 (the case). A1 (R1) started 08-02, completed NFA
 * Wed 08-10 with factor 1A, and again NFA 08-20 with factor 21.
 */
TEST(test_completions_once_per_id) {
  ref_open(h, "r1", D(2022, 8, 1), "R1", "1A");
  s47_start(h, "qs", D(2022, 8, 15), "Q1", "R1");
  s47_done(h, "q1", D(2022, 8, 18), "Q1");
  s47_done(h, "q2", D(2022, 8, 23), "Q1");
  asmt_start(h, "as", D(2022, 8, 2), "A1", "R1");
  asmt_done(h, "a1", D(2022, 8, 10), "A1", "R1", OUTCOME(NFA), "1A", NULL);
  asmt_done(h, "a2", D(2022, 8, 20), "A1", "R1", OUTCOME(NFA), "21", NULL);
  const struct derived *d = derive(h);
  const csc_date t = D(2022, 8, 31);
  /* s47_enquiries ("Section 47 enquiries started"): 1, not 2. */
  assert_int_equal(at(d, M_S47_12M, 0, t), 1);
  /* assessments ("assessments completed"): 1, on its first completion. */
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2022, 8, 10)), 1);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, t), 1);
  /* assessment_factors ("% of completed assessments recording each factor
   * code"): the first completion's 1A, nothing from the second. */
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("1A"), t), 1);
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("21"), t), 0);
  /* nfa_reassessed ("each assessment once, on its first completion"): 1 in
   * the denominator, and the repeat is no reassessment. */
  assert_int_equal(at(d, M_NFA_ASSESSMENTS_12M, 0, t), 1);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, t), 0);
  /* referral_to_assessment_wd: timed once, wd(Mon 1 Aug, Wed 10 Aug) = 7. */
  assert_int_equal(at_all(d, M_REFERRAL_TO_ASSESSMENT_WD, t), 1);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 7, t), 1);
}

/*
 * A2 (R1) started 2022-09-20 but completed 2022-09-12, factor 1A: "counts as
 * completed but is left out of timeliness" — in assessments and the
 * assessment_factors denominators from 09-12, not in referral_to_assessment_wd.
 */
TEST(test_completion_before_start) {
  ref_open(h, "r1", D(2022, 8, 1), "R1", "1A");
  asmt_start(h, "as", D(2022, 9, 20), "A2", "R1");
  asmt_done(h, "a", D(2022, 9, 12), "A2", "R1", OUTCOME(CIN), "1A", NULL);
  const struct derived *d = derive(h);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2022, 9, 11)), 0);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2022, 9, 12)), 1);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2022, 9, 30)), 1);
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("1A"), D(2022, 9, 30)), 1);
  assert_int_equal(facts_of(d, M_REFERRAL_TO_ASSESSMENT_WD), 0);
}

/* ---- cp_plan_starts ------------------------------------------------------------------ */

/*
 * CP plans: 2024-01-15 "N" (ended 2024-06-01), 2024-07-01 "" (not
 * recorded), 2024-08-01 "Q" (not a category; it overlaps the July plan,
 * and still counts once). Buckets: each category keyed by its code,
 * "" CODE_BUCKET_OTHER, all plans CODE_BUCKET_ALL.
 */
TEST(test_cp_plan_starts) {
  const int all = CODE_BUCKET_ALL;
  cp_start(h, "p1", D(2024, 1, 15), "CP1", "N");
  cp_end(h, "p1e", D(2024, 6, 1), "CP1");
  cp_start(h, "p2", D(2024, 7, 1), "CP2", "");
  cp_start(h, "p3", D(2024, 8, 1), "CP3", "Q");
  const struct derived *d = derive(h);
  /* 2024-08-01: N 1, P 0, "" 1, Q 1, all 3. */
  const csc_date t = D(2024, 8, 1);
  assert_int_equal(at(d, M_CP_STARTS_12M, category("N"), t), 1);
  assert_int_equal(at(d, M_CP_STARTS_12M, category("P"), t), 0);
  assert_int_equal(at(d, M_CP_STARTS_12M, CODE_BUCKET_OTHER, t), 1);
  assert_int_equal(at(d, M_CP_STARTS_12M, category("Q"), t), 1);
  assert_int_equal(at(d, M_CP_STARTS_12M, all, t), 3);
  /* 2024-07-31: N 1, "" 1 (July), all 2. */
  assert_int_equal(at(d, M_CP_STARTS_12M, all, D(2024, 7, 31)), 2);
  /* 2025-01-15: the window starts after 2024-01-15: N 0, all 2. */
  assert_int_equal(at(d, M_CP_STARTS_12M, category("N"), D(2025, 1, 15)), 0);
  assert_int_equal(at(d, M_CP_STARTS_12M, all, D(2025, 1, 15)), 2);
  assert_int_equal(at(d, M_CP_STARTS_12M, all, D(2025, 1, 14)), 3);
}

/* ---- assessment_factors ------------------------------------------------------------ */

/*
 * Completed: A1 2024-03-01 {1A, 21}; A2 2024-04-01 {21, 21} (21 once);
 * A3 2024-04-02 {ZZ, YY}: two unknown codes, each in its own bucket (the
 * catalogue's "other" sums both: it counts codes, not assessments); A4 2024-04-03
 * with none.
 */
TEST(test_assessment_factors) {
  asmt_done(h, "a1", D(2024, 3, 1), "A1", "", OUTCOME(CIN), "1A", "21");
  asmt_done(h, "a2", D(2024, 4, 1), "A2", "", OUTCOME(CIN), "21", "21");
  asmt_done(h, "a3", D(2024, 4, 2), "A3", "", OUTCOME(CIN), "ZZ", "YY");
  asmt_done(h, "a4", D(2024, 4, 3), "A4", "", OUTCOME(CIN), NULL, NULL);
  const struct derived *d = derive(h);
  /* On 2024-04-03: denominator 4 completed; 1A 1 (25%), 21 2 (50%),
   * ZZ 1, YY 1, 3A 0. */
  const csc_date t = D(2024, 4, 3);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, t), 4);
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("1A"), t), 1);
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("21"), t), 2);
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("ZZ"), t), 1);
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("YY"), t), 1);
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("3A"), t), 0);
  /* On 2025-03-01 A1 (2024-03-01) has left the window: 21 1, 1A 0. */
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("21"), D(2025, 3, 1)), 1);
  assert_int_equal(at(d, M_ASSESSMENT_FACTORS_12M, factor("1A"), D(2025, 3, 1)), 0);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2025, 3, 1)), 3);
}

/* ---- nfa_reassessed: month-end clamping ------------------------------------------- */

TEST(test_nfa_reassessed_month_end) {
  /* Child 1: NFA completed 2023-08-31; next completion 2024-02-29.
   * add_months(2023-08-31, 6) = 2024-02-29 (clamped; leap year), so within
   * 6m and 12m. Denominator [2023-08-31, 2024-08-31) (window_end: the window
   * of 2024-08-31 starts after 2023-08-31); numerators from the day of the
   * reassessment: [2024-02-29, 2024-08-31). */
  asmt_done(h, "a1", D(2023, 8, 31), "A1", "", OUTCOME(NFA), NULL, NULL);
  asmt_done(h, "a2", D(2024, 2, 29), "A2", "", OUTCOME(CIN), NULL, NULL);
  const struct derived *d = derive(h);
  assert_int_equal(at(d, M_NFA_ASSESSMENTS_12M, 0, D(2023, 8, 31)), 1);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2024, 2, 28)), 0); /* not yet */
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2024, 2, 29)), 1);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 1, D(2024, 2, 29)), 1);
  assert_int_equal(at(d, M_NFA_ASSESSMENTS_12M, 0, D(2024, 8, 30)), 1);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2024, 8, 30)), 1);
  assert_int_equal(at(d, M_NFA_ASSESSMENTS_12M, 0, D(2024, 8, 31)), 0);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2024, 8, 31)), 0);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 1, D(2024, 8, 31)), 0);

  /* Child 2: the same NFA, next completion 2024-03-01: after 2024-02-29,
   * so not within 6m; within 12m (<= 2024-08-31): [2024-03-01, 2024-08-31). */
  h_reset(h);
  asmt_done(h, "a1", D(2023, 8, 31), "A1", "", OUTCOME(NFA), NULL, NULL);
  asmt_done(h, "a2", D(2024, 3, 1), "A2", "", OUTCOME(CIN), NULL, NULL);
  d = derive(h);
  assert_int_equal(facts_of(d, M_NFA_REASSESSED_12M), 1);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2024, 3, 1)), 0);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 1, D(2024, 2, 29)), 0);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 1, D(2024, 3, 1)), 1);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 1, D(2024, 8, 30)), 1);

  /* Child 3: NFA 2024-01-10; another completion the same day (not after
   * it) and one on 2025-01-11 (after add_months(2024-01-10, 12) =
   * 2025-01-10): never reassessed. Denominator [2024-01-10, 2025-01-10). */
  h_reset(h);
  asmt_done(h, "a1", D(2024, 1, 10), "A1", "", OUTCOME(NFA), NULL, NULL);
  asmt_done(h, "a2", D(2024, 1, 10), "A2", "", OUTCOME(CIN), NULL, NULL);
  asmt_done(h, "a3", D(2025, 1, 11), "A3", "", OUTCOME(CIN), NULL, NULL);
  d = derive(h);
  assert_int_equal(facts_of(d, M_NFA_REASSESSED_12M), 0);
  assert_int_equal(at(d, M_NFA_ASSESSMENTS_12M, 0, D(2025, 1, 9)), 1);
  assert_int_equal(at(d, M_NFA_ASSESSMENTS_12M, 0, D(2025, 1, 10)), 0);
}

/* ---- nfa_reassessed: a new assessment *started* ----------------------------------- */

/*
 * INDICATORS.md: "of assessments completed with no further action ..., %
 * where the child had a new assessment *started* within 6 / 12 months of
 * that completion".
 */
TEST(test_nfa_reassessed_started) {
  /* Child 1: NFA completed 2024-01-10 (add_months 6 = 2024-07-10); a new
   * assessment started 2024-06-01 and completed 2024-08-01, after
   * 2024-07-10. Started within 6 months: in both numerators from the start,
   * 2024-06-01, until the NFA leaves its window (2025-01-10). */
  asmt_done(h, "a1", D(2024, 1, 10), "A1", "", OUTCOME(NFA), NULL, NULL);
  asmt_start(h, "a2", D(2024, 6, 1), "A2", "");
  asmt_done(h, "a2b", D(2024, 8, 1), "A2", "", OUTCOME(CIN), NULL, NULL);
  const struct derived *d = derive(h);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2024, 5, 31)), 0);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2024, 6, 1)), 1); /* "started within 6" */
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 1, D(2024, 6, 1)), 1); /* "... / 12 months" */
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2025, 1, 9)), 1);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2025, 1, 10)), 0);

  /* Child 2: NFA completed 2024-01-10; a new assessment started 2024-03-01
   * and still open: "a new assessment *started*" whether or not completed:
   * in both numerators from 2024-03-01. */
  h_reset(h);
  asmt_done(h, "a1", D(2024, 1, 10), "A1", "", OUTCOME(NFA), NULL, NULL);
  asmt_start(h, "a2", D(2024, 3, 1), "A2", "");
  d = derive(h);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 0, D(2024, 3, 1)), 1);
  assert_int_equal(at(d, M_NFA_REASSESSED_12M, 1, D(2024, 3, 1)), 1);

  /* Child 3: NFA completed 2024-01-10 while another assessment, started
   * 2023-12-01, was under way and completes 2024-02-01: not a *new*
   * assessment started after the completion: never. */
  h_reset(h);
  asmt_start(h, "a2", D(2023, 12, 1), "A2", "");
  asmt_done(h, "a1", D(2024, 1, 10), "A1", "", OUTCOME(NFA), NULL, NULL);
  asmt_done(h, "a2b", D(2024, 2, 1), "A2", "", OUTCOME(CIN), NULL, NULL);
  d = derive(h);
  assert_int_equal(facts_of(d, M_NFA_REASSESSED_12M), 0);
}

/* ---- referral_to_assessment_wd across Christmas ----------------------------------- */

/*
 * Referral Fri 2023-12-22, assessment started 2023-12-27, completed Wed
 * 2024-01-03. The days after the referral up to the completion: Sat 23,
 * Sun 24, Mon 25 (bank holiday), Tue 26 (bank holiday), Wed 27, Thu 28,
 * Fri 29, Sat 30, Sun 31 Dec, Mon 1 Jan (bank holiday), Tue 2, Wed 3:
 * working days 27, 28, 29 Dec, 2, 3 Jan = 5.
 */
static void christmas(struct hist *h) {
  ref_open(h, "r1", D(2023, 12, 22), "R1", "1A");
  asmt_start(h, "a1s", D(2023, 12, 27), "A1", "R1");
  asmt_done(h, "a1", D(2024, 1, 3), "A1", "R1", OUTCOME(CIN), NULL, NULL);
}

TEST(test_referral_to_assessment_christmas) {
  christmas(h);
  const struct derived *d = derive(h);
  assert_int_equal(facts_of(d, M_REFERRAL_TO_ASSESSMENT_WD), 1);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 5, D(2024, 1, 2)), 0);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 5, D(2024, 1, 3)), 1);
  /* In the window of the completion: until 2025-01-03. */
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 5, D(2025, 1, 2)), 1);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 5, D(2025, 1, 3)), 0);

  /* Weekends only (no calendar): 25, 26, 27, 28, 29 Dec, 1, 2, 3 Jan = 8. */
  h_reset(h);
  christmas(h);
  d = derive_with(h, NULL);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 8, D(2024, 1, 3)), 1);

  /* cscflow.calendar.inclusive: Fri 22 Dec, a working day, counts too: 6. */
  h_reset(h);
  christmas(h);
  struct workdays inclusive = holidays;
  inclusive.inclusive = 1;
  d = derive_with(h, &inclusive);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 6, D(2024, 1, 3)), 1);
}

/* ---- which referral, which enquiry -------------------------------------------------- */

TEST(test_timeliness_owners) {
  /* R1 Mon 2024-01-08 (closed 2024-01-31), R2 Mon 2024-02-05, open.
   * A1 names R1, completed Fri 2024-02-09 (after R2 started): R1 counts:
   *   wd = 9-12 Jan (4), 15-19 (5), 22-26 (5), 29 Jan-2 Feb (5), 5-9 Feb (5) = 24.
   * A2 names none, completed 2024-02-09: the latest started on or before, R2:
   *   wd = 6, 7, 8, 9 Feb = 4.
   * A3 names "NOPE", no such episode, completed Fri 2024-02-16: R2 again:
   *   wd = 6-9 Feb (4), 12-16 (5) = 9. */
  ref_open(h, "r1", D(2024, 1, 8), "R1", "1A");
  ref_close(h, "r1c", D(2024, 1, 31), "R1");
  ref_open(h, "r2", D(2024, 2, 5), "R2", "1A");
  asmt_done(h, "a1", D(2024, 2, 9), "A1", "R1", OUTCOME(CIN), NULL, NULL);
  asmt_done(h, "a2", D(2024, 2, 9), "A2", "", OUTCOME(CIN), NULL, NULL);
  asmt_done(h, "a3", D(2024, 2, 16), "A3", "NOPE", OUTCOME(CIN), NULL, NULL);
  /* Enquiries: Q1 Thu 2024-02-01, Q2 Mon 2024-02-12, Q3 known only by its
   * completion 2024-02-20 (no start date). ICPC naming Q1 Thu 2024-02-15:
   *   wd = 2 Feb (1), 5-9 (5), 12-15 (4) = 10.
   * ICPC naming none Thu 2024-02-22: the latest enquiry with a start, Q2
   * (Q3 has none): wd = 13-16 Feb (4), 19-22 (4) = 8.
   * ICPC naming Q3 Mon 2024-02-26: its start is unknown: left out. */
  s47_start(h, "q1s", D(2024, 2, 1), "Q1", "R2");
  s47_start(h, "q2s", D(2024, 2, 12), "Q2", "R2");
  s47_done(h, "q3", D(2024, 2, 20), "Q3");
  icpc(h, "i1", D(2024, 2, 15), "Q1");
  icpc(h, "i2", D(2024, 2, 22), "");
  icpc(h, "i3", D(2024, 2, 26), "Q3");
  const struct derived *d = derive(h);
  const csc_date t = D(2024, 2, 26);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 24, t), 1);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 4, t), 1);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 9, t), 1);
  assert_int_equal(at_all(d, M_REFERRAL_TO_ASSESSMENT_WD, t), 3);
  assert_int_equal(at(d, M_ICPCS_12M, 0, t), 3);
  assert_int_equal(at(d, M_S47_TO_ICPC_WD, 10, t), 1);
  assert_int_equal(at(d, M_S47_TO_ICPC_WD, 8, t), 1);
  assert_int_equal(at_all(d, M_S47_TO_ICPC_WD, t), 2);

  /* A child with an assessment and an ICPC but no referral and no
   * enquiry: both counted, neither timed. */
  h_reset(h);
  asmt_done(h, "a1", D(2024, 2, 9), "A1", "", OUTCOME(CIN), NULL, NULL);
  icpc(h, "i1", D(2024, 2, 9), "");
  d = derive(h);
  assert_int_equal(at(d, M_ASSESSMENTS_12M, 0, D(2024, 2, 9)), 1);
  assert_int_equal(at(d, M_ICPCS_12M, 0, D(2024, 2, 9)), 1);
  assert_int_equal(facts_of(d, M_REFERRAL_TO_ASSESSMENT_WD), 0);
  assert_int_equal(facts_of(d, M_S47_TO_ICPC_WD), 0);

  /* Named episodes dated after the item: still theirs, 0 working days
   * (wd(a, b) = 0 for b <= a). Assessment completed 2024-03-01 naming R1,
   * opened 2024-03-04; ICPC 2024-03-01 naming Q1, started 2024-03-04. */
  h_reset(h);
  asmt_done(h, "a1", D(2024, 3, 1), "A1", "R1", OUTCOME(CIN), NULL, NULL);
  ref_open(h, "r1", D(2024, 3, 4), "R1", "1A");
  icpc(h, "i1", D(2024, 3, 1), "Q1");
  s47_start(h, "q1s", D(2024, 3, 4), "Q1", "R1");
  d = derive(h);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, 0, D(2024, 3, 1)), 1);
  assert_int_equal(at(d, M_S47_TO_ICPC_WD, 0, D(2024, 3, 1)), 1);

  /* Referral Tue 2022-01-04, assessment completed 2024-04-02: over two
   * years of working days (2 x 52 weeks x 5 = 520 less holidays > 400):
   * kept in the last bucket, DIST_MAX. */
  h_reset(h);
  ref_open(h, "r1", D(2022, 1, 4), "R1", "1A");
  asmt_done(h, "a1", D(2024, 4, 2), "A1", "R1", OUTCOME(CIN), NULL, NULL);
  d = derive(h);
  assert_int_equal(at(d, M_REFERRAL_TO_ASSESSMENT_WD, DIST_MAX, D(2024, 4, 2)), 1);
}

/* ---- cin_episode_duration ---------------------------------------------------------- */

TEST(test_cin_episode_duration) {
  /* Open from Thu 2023-11-30: add_months 3 = 2024-02-29 (clamped), 6 =
   * 2024-05-30, 12 = 2024-11-30, 24 = 2025-11-30. */
  ref_open(h, "r1", D(2023, 11, 30), "R1", "1A");
  const struct derived *d = derive(h);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_UNDER_3M, D(2023, 11, 29)), 0);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_UNDER_3M, D(2023, 11, 30)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_UNDER_3M, D(2024, 2, 28)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_3_6M, D(2024, 2, 29)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_UNDER_3M, D(2024, 2, 29)), 0);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_3_6M, D(2024, 5, 29)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_6_12M, D(2024, 5, 30)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_6_12M, D(2024, 11, 29)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_1_2Y, D(2024, 11, 30)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_1_2Y, D(2025, 11, 29)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_2Y_PLUS, D(2025, 11, 30)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_2Y_PLUS, D(2030, 1, 1)), 1);
  assert_int_equal(facts_of(d, M_CIN_DURATION_CLOSED_12M), 0);

  /* 2022-01-31 .. 2022-04-30: add_months(2022-01-31, 3) = 2022-04-30, not
   * after the closure: closed in 3-6m, over [2022-04-30, 2023-04-30).
   * Open <3m [2022-01-31, 2022-04-30), then nothing open. */
  h_reset(h);
  ref_open(h, "r1", D(2022, 1, 31), "R1", "1A");
  ref_close(h, "r1c", D(2022, 4, 30), "R1");
  d = derive(h);
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_UNDER_3M, D(2022, 4, 29)), 1);
  assert_int_equal(at_all(d, M_CIN_DURATION_OPEN, D(2022, 4, 30)), 0);
  assert_int_equal(at(d, M_CIN_DURATION_CLOSED_12M, DUR_3_6M, D(2022, 4, 29)), 0);
  assert_int_equal(at(d, M_CIN_DURATION_CLOSED_12M, DUR_3_6M, D(2022, 4, 30)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_CLOSED_12M, DUR_3_6M, D(2023, 4, 29)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_CLOSED_12M, DUR_3_6M, D(2023, 4, 30)), 0);
  assert_int_equal(facts_of(d, M_CIN_DURATION_CLOSED_12M), 1);

  /* One child, three episodes, each checked on its closure date:
   * 2019-01-01 .. 2020-12-31: before add_months 24 = 2021-01-01: 1-2y.
   * 2021-01-04 .. 2023-01-04: on add_months 24 = 2023-01-04: 2y+.
   * 2023-02-01 .. 2023-04-30: before add_months 3 = 2023-05-01: <3m. */
  h_reset(h);
  ref_open(h, "r1", D(2019, 1, 1), "R1", "1A");
  ref_close(h, "r1c", D(2020, 12, 31), "R1");
  ref_open(h, "r2", D(2021, 1, 4), "R2", "1A");
  ref_close(h, "r2c", D(2023, 1, 4), "R2");
  ref_open(h, "r3", D(2023, 2, 1), "R3", "1A");
  ref_close(h, "r3c", D(2023, 4, 30), "R3");
  d = derive(h);
  assert_int_equal(at(d, M_CIN_DURATION_CLOSED_12M, DUR_1_2Y, D(2020, 12, 31)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_CLOSED_12M, DUR_2Y_PLUS, D(2023, 1, 4)), 1);
  assert_int_equal(at(d, M_CIN_DURATION_CLOSED_12M, DUR_UNDER_3M, D(2023, 4, 30)), 1);
  /* On 2023-04-30 the closure of 2023-01-04 is still in the window: 2
   * closures; the one of 2020-12-31 is not. */
  assert_int_equal(at_all(d, M_CIN_DURATION_CLOSED_12M, D(2023, 4, 30)), 2);
  /* The second episode was open in 1-2y on its last day, 2023-01-03. */
  assert_int_equal(at(d, M_CIN_DURATION_OPEN, DUR_1_2Y, D(2023, 1, 3)), 1);
}

/* ---- the published rows, through the engine ---------------------------------------- */

static void e_referral(struct evs *b, const char *id, const char *child, const char *ref,
                       const char *source, csc_date d) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, d);
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  r.referral_id = (char *)ref;
  r.source = (char *)source;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  add(b, &ev);
}

static void e_closure(struct evs *b, const char *id, const char *child, const char *ref,
                      csc_date d) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, d);
  Cscflow__V1__ReferralClosed r = CSCFLOW__V1__REFERRAL_CLOSED__INIT;
  r.referral_id = (char *)ref;
  r.no_further_action = 1;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED;
  ev.referral_closed = &r;
  add(b, &ev);
}

static void e_assessment(struct evs *b, const char *id, const char *child, const char *ref,
                         csc_date started, csc_date done, int outcome, const char *f1,
                         const char *f2) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, started, started);
  char sid[64];
  snprintf(sid, sizeof sid, "%s-start", id);
  Cscflow__V1__AssessmentStarted s = CSCFLOW__V1__ASSESSMENT_STARTED__INIT;
  s.assessment_id = (char *)id;
  s.referral_id = (char *)ref;
  ev.event_id = sid;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED;
  ev.assessment_started = &s;
  add(b, &ev);
  ev = envelope(id, child, done, done);
  Cscflow__V1__AssessmentCompleted c = CSCFLOW__V1__ASSESSMENT_COMPLETED__INIT;
  char *factors[2] = {(char *)(f1 ? f1 : f2), (char *)f2};
  c.assessment_id = (char *)id;
  c.referral_id = (char *)ref;
  c.outcome = (Cscflow__V1__AssessmentOutcome)outcome;
  c.factors = factors;
  c.n_factors = (f1 != NULL) + (f2 != NULL);
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED;
  ev.assessment_completed = &c;
  add(b, &ev);
}

/* An enquiry started on `started` (none when 0) and its ICPC on `held`. */
static void e_enquiry_icpc(struct evs *b, const char *id, const char *child, const char *enquiry,
                           csc_date started, csc_date held) {
  Cscflow__V1__CaseEvent ev;
  char sid[64];
  snprintf(sid, sizeof sid, "%s-start", id);
  if (started != 0) {
    ev = envelope(sid, child, started, started);
    Cscflow__V1__Section47Started s = CSCFLOW__V1__SECTION47_STARTED__INIT;
    s.enquiry_id = (char *)enquiry;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED;
    ev.section47_started = &s;
    add(b, &ev);
  }
  ev = envelope(id, child, held, held);
  Cscflow__V1__IcpcHeld i = CSCFLOW__V1__ICPC_HELD__INIT;
  i.enquiry_id = (char *)enquiry;
  i.plan_agreed = 1;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD;
  ev.icpc_held = &i;
  add(b, &ev);
}

static void e_cp_start(struct evs *b, const char *id, const char *child, const char *category,
                       csc_date d, csc_date recorded) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, recorded);
  Cscflow__V1__CpPlanStarted p = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  p.plan_id = (char *)id;
  p.initial_category = (char *)category;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  ev.cp_plan_started = &p;
  add(b, &ev);
}

/* An event that only moves the LA's replay clock to d. */
static void e_tick(struct evs *b, const char *id, csc_date d) {
  Cscflow__V1__CaseEvent ev = envelope(id, "CLOCK", d, d);
  Cscflow__V1__ChildDetails c = CSCFLOW__V1__CHILD_DETAILS__INIT;
  c.date_of_birth = 20100101;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
  ev.child_details = &c;
  add(b, &ev);
}

struct flag_probe {
  const char *id, *window, *breakdown;
  int found, provisional;
};

static int probe_flag(void *ctx, const IndicatorSnapshot *snap) {
  struct flag_probe *p = ctx;
  const Cscflow__V1__IndicatorValue *v = snapshot_find(snap, p->id, p->window, p->breakdown);
  if (v != NULL) {
    p->found = 1;
    p->provisional = v->has_provisional && v->provisional;
  }
  return CSC_OK;
}

static int provisional(struct fixture *f, const char *id, const char *window, const char *bd) {
  struct flag_probe p = {id, window, bd, 0, 0};
  struct store *st = engine_store(f->e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, LA, probe_flag, &p), CSC_OK);
  mdb_txn_abort(txn);
  assert_true(p.found);
  return p.provisional;
}

/* A percentile value (no numerator or denominator). */
static void expect_percentile(struct fixture *f, const char *id, const char *window, const char *bd,
                         double value) {
  struct value v = get(f, id, window, bd);
  assert_true(v.has_value);
  assert_float_equal(v.value, value, 1e-9);
}

/*
 * Three children, on T = Fri 2024-06-28 (population 10,000: per_10k =
 * count):
 * A: referral RA Fri 2023-12-22 "1A"; assessment (started 2023-12-27)
 *    completed Wed 2024-01-03, outcome S47, no factors; enquiry QA Fri
 *    2024-01-05, ICPC Fri 2024-01-26 and a CP plan "N" the same day.
 * B: referral RB1 Fri 2024-03-01 "3F"; assessment (started 2024-03-04)
 *    completed Fri 2024-05-10, outcome NFA, factors 1A, 21; RB1 closed
 *    2024-05-10. Referral RB2 Fri 2024-06-14 "3F"; assessment started the
 *    same day, completed Thu 2024-06-20, outcome CIN, factor 21.
 * C: referral RC Mon 2024-06-03, source "ZZ" (unknown), open.
 */
static void build_three(struct evs *b) {
  e_referral(b, "ra", "A", "RA", "1A", D(2023, 12, 22));
  e_assessment(b, "aa", "A", "RA", D(2023, 12, 27), D(2024, 1, 3), OUTCOME(SECTION47), NULL, NULL);
  e_enquiry_icpc(b, "ia", "A", "QA", D(2024, 1, 5), D(2024, 1, 26));
  e_cp_start(b, "cpa", "A", "N", D(2024, 1, 26), D(2024, 1, 26));
  e_referral(b, "rb1", "B", "RB1", "3F", D(2024, 3, 1));
  e_assessment(b, "ab1", "B", "RB1", D(2024, 3, 4), D(2024, 5, 10), OUTCOME(NFA), "1A", "21");
  e_closure(b, "rb1c", "B", "RB1", D(2024, 5, 10));
  e_referral(b, "rb2", "B", "RB2", "3F", D(2024, 6, 14));
  e_assessment(b, "ab2", "B", "RB2", D(2024, 6, 14), D(2024, 6, 20), OUTCOME(CIN), "21", NULL);
  e_referral(b, "rc", "C", "RC", "ZZ", D(2024, 6, 3));
  e_tick(b, "t1", D(2024, 6, 28));
}

static void test_rows_activity(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "ind_activity_rows");
  static struct evs b;
  memset(&b, 0, sizeof b);
  build_three(&b);
  apply(&f, &b, 0, b.n);
  assert_int_equal(get(&f, "referrals", "12m", "").as_of, 20240628);

  /* Referrals in (2023-06-28, 2024-06-28]: RA, RB1, RB2, RC = 4.
   * By source: 1A 1 (25%), 3F 2 (50%), other 1 (ZZ; 25%), 1B 0 (0%). */
  expect_ratio(&f, "referrals_by_source", "12m", "1A", 1, 4, 25.0);
  expect_ratio(&f, "referrals_by_source", "12m", "3F", 2, 4, 50.0);
  expect_ratio(&f, "referrals_by_source", "12m", "other", 1, 4, 25.0);
  expect_ratio(&f, "referrals_by_source", "12m", "1B", 0, 4, 0.0);

  /* Outcomes: RA reached CP (plan 2024-01-26, episode open): CP; RB1
   * closed 2024-05-10 with no plan in [03-01, 05-10]: NFA; RB2 and RC open
   * with no plan: pending. NFA 1/4, CP 1/4, pending 2/4, EH 0/4. */
  expect_ratio(&f, "referral_outcome", "12m", "NFA", 1, 4, 25.0);
  expect_ratio(&f, "referral_outcome", "12m", "CP", 1, 4, 25.0);
  expect_ratio(&f, "referral_outcome", "12m", "pending", 2, 4, 50.0);
  expect_ratio(&f, "referral_outcome", "12m", "EH", 0, 4, 0.0);
  expect_ratio(&f, "referral_outcome", "12m", "LAC", 0, 4, 0.0);

  /* Completed in the window: 2024-01-03, 2024-05-10, 2024-06-20 = 3.
   * Enquiries started: QA = 1. ICPCs: 1. CP plans: 1, category N. */
  expect_count(&f, "assessments", "12m", "", 3, 3);
  expect_count(&f, "s47_enquiries", "12m", "", 1, 1);
  expect_count(&f, "icpcs", "12m", "", 1, 1);
  expect_count(&f, "cp_plan_starts", "12m", "", 1, 1);
  expect_count(&f, "cp_plan_starts", "12m", "N", 1, 1);
  expect_count(&f, "cp_plan_starts", "12m", "P", 0, 0);
  expect_count(&f, "cp_plan_starts", "12m", "other", 0, 0);

  /* Factors of the 3 completed: 1A in 1 (33.3%), 21 in 2 (66.7%). */
  expect_ratio(&f, "assessment_factors", "12m", "1A", 1, 3, 100.0 / 3);
  expect_ratio(&f, "assessment_factors", "12m", "21", 2, 3, 200.0 / 3);
  expect_ratio(&f, "assessment_factors", "12m", "3A", 0, 3, 0.0);

  /* NFA completions: B's of 2024-05-10 = 1; reassessed 2024-06-20, within
   * 6m (<= 2024-11-10) and 12m: 1/1 each; provisional. */
  expect_ratio(&f, "nfa_reassessed", "12m", "6m", 1, 1, 100.0);
  expect_ratio(&f, "nfa_reassessed", "12m", "12m", 1, 1, 100.0);
  assert_true(provisional(&f, "nfa_reassessed", "12m", "6m"));
  assert_false(provisional(&f, "assessments", "12m", ""));

  /* referral_to_assessment_wd, completions in the window:
   *   A: wd(2023-12-22, 2024-01-03) = 5 (Christmas: 27, 28, 29 Dec, 2, 3 Jan).
   *   B1: wd(Fri 2024-03-01, Fri 2024-05-10): 4-8 Mar 5, 11-15 5, 18-22 5,
   *       25-29 4 (Good Friday 29), 1-5 Apr 4 (Easter Monday 1), 8-12 5,
   *       15-19 5, 22-26 5, 29 Apr-3 May 5, 6-10 May 4 (bank holiday 6) = 47.
   *   B2: wd(Fri 2024-06-14, Thu 2024-06-20) = 17, 18, 19, 20 = 4.
   * Values {4, 5, 47}: 0-10 2/3, 46+ 1/3, others 0. Percentiles: p25 the
   * smallest x with >= 0.75 items <= x: 4; p50 (>= 1.5): 5; p75 (>= 2.25):
   * 47. within_45: 2/3. */
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "0-10", 2, 3, 200.0 / 3);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "11-20", 0, 3, 0.0);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "31-45", 0, 3, 0.0);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "46+", 1, 3, 100.0 / 3);
  expect_percentile(&f, "referral_to_assessment_wd", "12m", "p25", 4);
  expect_percentile(&f, "referral_to_assessment_wd", "12m", "p50", 5);
  expect_percentile(&f, "referral_to_assessment_wd", "12m", "p75", 47);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "within_45", 2, 3, 200.0 / 3);

  /* s47_to_icpc_wd: wd(Fri 2024-01-05, Fri 2024-01-26) = 8-12 Jan, 15-19,
   * 22-26 = 15: band 11-15, within_15; every percentile 15. */
  expect_ratio(&f, "s47_to_icpc_wd", "12m", "11-15", 1, 1, 100.0);
  expect_ratio(&f, "s47_to_icpc_wd", "12m", "0-10", 0, 1, 0.0);
  expect_ratio(&f, "s47_to_icpc_wd", "12m", "within_15", 1, 1, 100.0);
  expect_percentile(&f, "s47_to_icpc_wd", "12m", "p50", 15);

  /* cin_episode_duration on T: open RA (2023-12-22 + 6m = 2024-06-22 <= T,
   * + 12m later): 6-12m; RB2 and RC: <3m. 3 open: <3m 2/3, 6-12m 1/3.
   * Closed in the window: RB1 2024-03-01 .. 2024-05-10, before
   * add_months 3 = 2024-06-01: <3m, 1/1. */
  expect_ratio(&f, "cin_episode_duration", "T", "<3m", 2, 3, 200.0 / 3);
  expect_ratio(&f, "cin_episode_duration", "T", "6-12m", 1, 3, 100.0 / 3);
  expect_ratio(&f, "cin_episode_duration", "T", "2y+", 0, 3, 0.0);
  expect_ratio(&f, "cin_episode_duration", "12m", "<3m", 1, 1, 100.0);
  expect_ratio(&f, "cin_episode_duration", "12m", "3-6m", 0, 1, 0.0);
  close_fixture(&f);
}

/*
 * Band edges and the cap, T = Fri 2024-06-28. Referrals Tue 2024-04-02,
 * the working days after it (bank holidays 6 and 27 May): 3-5 Apr 3, 8-12
 * Apr 8, 15-19 13, 22-26 18, 29 Apr-3 May 23, 7-10 May 27, 13-17 32,
 * 20-24 37, 28-31 May 41, 3-6 Jun 45, 7 Jun 46; and 15, 16 Apr = 9, 10;
 * 17 Apr 11; 22, 23, 24 Apr 14, 15, 16.
 *   F: completed Tue 2024-04-16: 10.   G: Wed 2024-04-17: 11.
 *   D: Thu 2024-06-06: 45.             E: Fri 2024-06-07: 46.
 *   H: referral 2022-01-04, completed 2024-04-02: over 400, kept as 400.
 * Values {10, 11, 45, 46, 400}: 0-10 1 (20%), 11-20 1, 21-30 0, 31-45 1,
 * 46+ 2 (40%); within_45 3/5 = 60%; p25 (>= 1.25 items): 11; p50 (>= 2.5):
 * 45; p75 (>= 3.75): 46.
 * Enquiries started 2024-04-02: I's ICPC Tue 2024-04-23 (15), J's Wed
 * 2024-04-24 (16); K's ICPC names an enquiry never started; L has an ICPC
 * and no enquiry. ICPCs 4; timed 2: 11-15 1, 16-20 1 (50% each); within_15
 * 50%; p25 (>= 0.5): 15, p50 (>= 1): 15, p75 (>= 1.5): 16.
 */
static void test_rows_timeliness_bands(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "ind_activity_bands");
  static struct evs b;
  memset(&b, 0, sizeof b);
  const char *kids[4] = {"F", "G", "D", "E"};
  const csc_date done[4] = {D(2024, 4, 16), D(2024, 4, 17), D(2024, 6, 6), D(2024, 6, 7)};
  char ids[4][2][16];
  for (int i = 0; i < 4; i++) {
    snprintf(ids[i][0], sizeof ids[i][0], "r%s", kids[i]);
    snprintf(ids[i][1], sizeof ids[i][1], "a%s", kids[i]);
    e_referral(&b, ids[i][0], kids[i], ids[i][0], "1A", D(2024, 4, 2));
    e_assessment(&b, ids[i][1], kids[i], ids[i][0], D(2024, 4, 2), done[i], OUTCOME(CIN), NULL,
                 NULL);
  }
  e_referral(&b, "rH", "H", "rH", "1A", D(2022, 1, 4));
  e_assessment(&b, "aH", "H", "rH", D(2024, 3, 1), D(2024, 4, 2), OUTCOME(CIN), NULL, NULL);
  e_enquiry_icpc(&b, "iI", "I", "QI", D(2024, 4, 2), D(2024, 4, 23));
  e_enquiry_icpc(&b, "iJ", "J", "QJ", D(2024, 4, 2), D(2024, 4, 24));
  e_enquiry_icpc(&b, "iK", "K", "QK", 0, D(2024, 4, 24));
  e_enquiry_icpc(&b, "iL", "L", "", 0, D(2024, 4, 24));
  e_tick(&b, "t1", D(2024, 6, 28));
  apply(&f, &b, 0, b.n);

  expect_ratio(&f, "referral_to_assessment_wd", "12m", "0-10", 1, 5, 20.0);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "11-20", 1, 5, 20.0);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "21-30", 0, 5, 0.0);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "31-45", 1, 5, 20.0);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "46+", 2, 5, 40.0);
  expect_ratio(&f, "referral_to_assessment_wd", "12m", "within_45", 3, 5, 60.0);
  expect_percentile(&f, "referral_to_assessment_wd", "12m", "p25", 11);
  expect_percentile(&f, "referral_to_assessment_wd", "12m", "p50", 45);
  expect_percentile(&f, "referral_to_assessment_wd", "12m", "p75", 46);

  expect_count(&f, "icpcs", "12m", "", 4, 4);
  expect_ratio(&f, "s47_to_icpc_wd", "12m", "11-15", 1, 2, 50.0);
  expect_ratio(&f, "s47_to_icpc_wd", "12m", "16-20", 1, 2, 50.0);
  expect_ratio(&f, "s47_to_icpc_wd", "12m", "21+", 0, 2, 0.0);
  expect_ratio(&f, "s47_to_icpc_wd", "12m", "within_15", 1, 2, 50.0);
  expect_percentile(&f, "s47_to_icpc_wd", "12m", "p25", 15);
  expect_percentile(&f, "s47_to_icpc_wd", "12m", "p50", 15);
  expect_percentile(&f, "s47_to_icpc_wd", "12m", "p75", 16);
  close_fixture(&f);
}

/*
 * Referral outcome as the clock and the events move on. Child K: referral
 * Wed 2024-01-10, open.
 *   T = 2024-02-01: pending 1/1.
 *   A CP plan starts Tue 2024-03-05 (recorded that day): CP 1/1, pending 0/1.
 *   T = 2025-01-09: still CP 1/1 (the window of 2025-01-09 starts after
 *   2024-01-09). T = 2025-01-10: the referral has left the window: 0/0, no
 *   value. Nothing but the calendar moves the figures in the last two steps.
 */
static void test_rows_outcome_over_time(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "ind_activity_outcome");
  static struct evs b;
  memset(&b, 0, sizeof b);
  e_referral(&b, "rk", "K", "RK", "1A", D(2024, 1, 10));
  e_tick(&b, "t1", D(2024, 2, 1));
  e_cp_start(&b, "cpk", "K", "S", D(2024, 3, 5), D(2024, 3, 5));
  e_tick(&b, "t2", D(2025, 1, 9));
  e_tick(&b, "t3", D(2025, 1, 10));
  apply(&f, &b, 0, 2);
  expect_ratio(&f, "referral_outcome", "12m", "pending", 1, 1, 100.0);
  expect_ratio(&f, "referral_outcome", "12m", "CP", 0, 1, 0.0);
  apply(&f, &b, 2, 3);
  expect_ratio(&f, "referral_outcome", "12m", "pending", 0, 1, 0.0);
  expect_ratio(&f, "referral_outcome", "12m", "CP", 1, 1, 100.0);
  expect_count(&f, "cp_plan_starts", "12m", "S", 1, 1);
  apply(&f, &b, 3, 4);
  expect_ratio(&f, "referral_outcome", "12m", "CP", 1, 1, 100.0);
  apply(&f, &b, 4, 5);
  expect_ratio(&f, "referral_outcome", "12m", "CP", 0, 0, 0);
  expect_ratio(&f, "referral_outcome", "12m", "pending", 0, 0, 0);
  /* The CP plan of 2024-03-05 is still in the window of 2025-01-10. */
  expect_count(&f, "cp_plan_starts", "12m", "S", 1, 1);
  close_fixture(&f);
}

int main(void) {
  char err[512];
  if (workdays_load(&holidays, HOLIDAYS, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
#define T(name) cmocka_unit_test_setup_teardown(name, hist_setup, hist_teardown)
  const struct CMUnitTest tests[] = {
      T(test_referrals_by_source),
      T(test_referral_outcome_stages),
      T(test_referral_outcome_pending_to_cp),
      T(test_counts_and_29_february), T(test_completions_once_per_id),
      T(test_completion_before_start),
      T(test_cp_plan_starts),
      T(test_assessment_factors),
      T(test_nfa_reassessed_month_end),
      T(test_nfa_reassessed_started),
      T(test_referral_to_assessment_christmas),
      T(test_timeliness_owners),
      T(test_cin_episode_duration),
      cmocka_unit_test(test_rows_activity),
      cmocka_unit_test(test_rows_timeliness_bands),
      cmocka_unit_test(test_rows_outcome_over_time),
  };
  const int failed = cmocka_run_group_tests(tests, NULL, NULL);
  workdays_free(&holidays);
  return failed;
}
