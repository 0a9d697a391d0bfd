/*
 * Hand-worked histories through the child state machine (child_fold) and the
 * child's facts (child_derive). Every expected value is worked out in the
 * comments from the state machine documented in state/fold.c, state/state.h,
 * docs/quality-rules.md and INDICATORS.md "Conventions"; none is copied from
 * the program's output.
 *
 * Events are protobuf-c structs built in place (no packing), one builder per
 * payload below; each is recorded at 14:00 London time on the day it
 * occurred unless a test says otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state.h"
#include "tests/testutil.h"

#define NEVER DATE_NEVER
#define MAXEV 64
#define S(x) ((char *)(x))
#define HOUR_MS (3600 * 1000)

/* ---- a history: its events, and its last fold and derivation --------------- */

struct hist {
  struct arena a; /* events, payloads, folded state, facts */
  CaseEvent *ev[MAXEV];
  size_t n;
  struct child_state st;
  struct derived d;
};

static void h_init(struct hist *h) {
  memset(h, 0, sizeof *h);
  arena_init(&h->a, 1 << 16);
}

static void h_reset(struct hist *h) {
  arena_free(&h->a);
  h_init(h);
}

/* A cmocka test given a fresh history h; main runs it between hist_setup and
 * hist_teardown (which cmocka runs even when the test fails). */
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
  e->la_code = "E99000001";
  e->child_id = "C1";
  e->occurred_on = date_to_yyyymmdd(d);
  e->recorded_at_ms = test_ms(d);
  return h->ev[h->n++] = e;
}

/* In a builder: e, the event (id, d), with payload p of Cscflow__V1__<Type>. */
#define EV2(CASE, INIT, field, Type)                                                               \
  CaseEvent *e = ev_new(h, id, d);                                                                 \
  Cscflow__V1__##Type *p = h_alloc(h, sizeof *p);                                                  \
  do {                                                                                             \
    const Cscflow__V1__##Type init_ = CSCFLOW__V1__##INIT##__INIT;                                 \
    *p = init_;                                                                                    \
    e->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_##CASE;                                     \
    e->field = p;                                                                                  \
  } while (0)
#define EV(UPPER, field, Type) EV2(UPPER, UPPER, field, Type)
#define HDR struct hist *h, const char *id, csc_date d

/* ---- builders, one per payload ------------------------------------------------ */

/* The body of a builder: the event, its payload p, then the assignments. */
#define BUILD(UPPER, field, Type, ...)                                                             \
  {                                                                                                \
    EV(UPPER, field, Type);                                                                        \
    __VA_ARGS__;                                                                                   \
    return e;                                                                                      \
  }

/* clang-format off */
static CaseEvent *details(HDR, uint32_t dob)
    BUILD(CHILD_DETAILS, child_details, ChildDetails, p->date_of_birth = dob)
static CaseEvent *ref_open(HDR, const char *ref, const char *source)
    BUILD(REFERRAL_OPENED, referral_opened, ReferralOpened, p->referral_id = S(ref),
          p->source = S(source))
static CaseEvent *ref_close(HDR, const char *ref, const char *reason, int nfa)
    BUILD(REFERRAL_CLOSED, referral_closed, ReferralClosed, p->referral_id = S(ref),
          p->closure_reason = S(reason), p->no_further_action = nfa)
static CaseEvent *eh_start(HDR, const char *episode)
    BUILD(EARLY_HELP_STARTED, early_help_started, EarlyHelpStarted, p->episode_id = S(episode))
static CaseEvent *eh_end(HDR, const char *episode, const char *reason)
    BUILD(EARLY_HELP_ENDED, early_help_ended, EarlyHelpEnded, p->episode_id = S(episode),
          p->reason = S(reason))
static CaseEvent *asmt_start(HDR, const char *assessment, const char *ref)
    BUILD(ASSESSMENT_STARTED, assessment_started, AssessmentStarted,
          p->assessment_id = S(assessment), p->referral_id = S(ref))
/* Up to two factors (NULL for none). */
static CaseEvent *asmt_done(HDR, const char *assessment, const char *ref, int outcome,
                            const char *f1, const char *f2)
    BUILD(ASSESSMENT_COMPLETED, assessment_completed, AssessmentCompleted,
          p->assessment_id = S(assessment), p->referral_id = S(ref),
          p->outcome = (Cscflow__V1__AssessmentOutcome)outcome,
          p->factors = h_alloc(h, 2 * sizeof *p->factors),
          p->n_factors = (f1 != NULL) + (f2 != NULL), p->factors[0] = S(f1 ? f1 : f2),
          p->factors[1] = S(f2))
static CaseEvent *strategy(HDR, const char *ref, int agreed)
    BUILD(STRATEGY_DISCUSSION, strategy_discussion, StrategyDiscussion, p->referral_id = S(ref),
          p->section47_agreed = agreed)
static CaseEvent *s47_start(HDR, const char *enquiry, const char *ref)
    BUILD(SECTION47_STARTED, section47_started, Section47Started, p->enquiry_id = S(enquiry),
          p->referral_id = S(ref))
static CaseEvent *s47_done(HDR, const char *enquiry, int outcome)
    BUILD(SECTION47_COMPLETED, section47_completed, Section47Completed,
          p->enquiry_id = S(enquiry), p->outcome = (Cscflow__V1__Section47Outcome)outcome)
static CaseEvent *icpc(HDR, const char *enquiry, int agreed)
    BUILD(ICPC_HELD, icpc_held, IcpcHeld, p->enquiry_id = S(enquiry), p->plan_agreed = agreed)
static CaseEvent *cin_start(HDR, const char *plan, const char *ref)
    BUILD(CIN_PLAN_STARTED, cin_plan_started, CinPlanStarted, p->plan_id = S(plan),
          p->referral_id = S(ref))
static CaseEvent *cin_end(HDR, const char *plan)
    BUILD(CIN_PLAN_ENDED, cin_plan_ended, CinPlanEnded, p->plan_id = S(plan))
static CaseEvent *cp_start(HDR, const char *plan, const char *ref, const char *category)
    BUILD(CP_PLAN_STARTED, cp_plan_started, CpPlanStarted, p->plan_id = S(plan),
          p->referral_id = S(ref), p->initial_category = S(category))
static CaseEvent *cp_end(HDR, const char *plan, const char *latest, const char *reason)
    BUILD(CP_PLAN_ENDED, cp_plan_ended, CpPlanEnded, p->plan_id = S(plan),
          p->latest_category = S(latest), p->reason = S(reason))
static CaseEvent *seen(HDR, const char *plan, int by, int alone)
    BUILD(CHILD_SEEN, child_seen, ChildSeen, p->plan_id = S(plan),
          p->seen_by = (Cscflow__V1__SeenBy)by, p->seen_alone = alone)
static CaseEvent *care_start(HDR, const char *period, const char *legal_status, const char *need,
                             int uasc, Cscflow__V1__Placement *pl)
    BUILD(PERIOD_OF_CARE_STARTED, period_of_care_started, PeriodOfCareStarted,
          p->period_id = S(period), p->legal_status = S(legal_status),
          p->category_of_need = S(need), p->uasc = uasc, p->placement = pl)
static CaseEvent *care_end(HDR, const char *period, const char *reason)
    BUILD(PERIOD_OF_CARE_ENDED, period_of_care_ended, PeriodOfCareEnded,
          p->period_id = S(period), p->reason_ceased = S(reason))
static CaseEvent *place(HDR, const char *period, Cscflow__V1__Placement *pl, const char *reason)
    BUILD(PLACEMENT_STARTED, placement_started, PlacementStarted, p->period_id = S(period),
          p->placement = pl, p->reason_for_change = S(reason))
static CaseEvent *legal(HDR, const char *period, const char *status)
    BUILD(LEGAL_STATUS_CHANGED, legal_status_changed, LegalStatusChanged,
          p->period_id = S(period), p->legal_status = S(status))
static CaseEvent *adopt(HDR, int stage, int early_permanence, int foster_carer)
    BUILD(ADOPTION_MILESTONE, adoption_milestone, AdoptionMilestone,
          p->stage = (Cscflow__V1__AdoptionStage)stage, p->early_permanence = early_permanence,
          p->placed_with_foster_carer = foster_carer)
static CaseEvent *leaver(HDR, int in_touch, const char *activity_code, int activity,
                         const char *accommodation, int suitable)
    BUILD(CARE_LEAVER_CONTACT, care_leaver_contact, CareLeaverContact, p->in_touch = in_touch,
          p->activity_code = S(activity_code),
          p->activity = (Cscflow__V1__CareLeaverActivity)activity,
          p->accommodation_code = S(accommodation), p->accommodation_suitable = suitable)
static CaseEvent *sdq(HDR, uint32_t score) BUILD(SDQ_SCORE, sdq_score, SdqScore, p->score = score)
static CaseEvent *court(HDR, int kind)
    BUILD(COURT_APPLICATION, court_application, CourtApplication,
          p->kind = (Cscflow__V1__CourtOrderKind)kind)
static CaseEvent *perm(HDR, int kind)
    BUILD(PERMANENCE_ORDER, permanence_order, PermanenceOrder,
          p->kind = (Cscflow__V1__PermanenceKind)kind)
static CaseEvent *alloc(HDR, const char *worker, int deallocated)
    BUILD(WORKER_ALLOCATED, worker_allocated, WorkerAllocated, p->worker_id = S(worker),
          p->deallocated = deallocated)
static CaseEvent *wf(HDR, const char *worker, const char *post, int change, uint32_t fte_x100);
/* clang-format on */

#define WF(x) CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_##x
#define AD(x) CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_##x

static Cscflow__V1__Placement *plc(struct hist *h, const char *type, const char *provider,
                                   int known, uint32_t miles_x10) {
  const Cscflow__V1__Placement init = CSCFLOW__V1__PLACEMENT__INIT;
  Cscflow__V1__Placement *p = h_alloc(h, sizeof *p);
  *p = init;
  p->placement_type = S(type), p->provider = S(provider);
  p->distance_known = known, p->distance_miles_x10 = miles_x10;
  return p;
}

/* A workforce event; other fields are set on e->workforce by the caller. */
static CaseEvent *wf(HDR, const char *worker, const char *post, int change, uint32_t fte_x100) {
  EV2(WORKFORCE, WORKFORCE_EVENT, workforce, WorkforceEvent);
  e->child_id = "";
  p->worker_id = S(worker), p->post_id = S(post), p->fte_x100 = fte_x100;
  p->change = (Cscflow__V1__WorkforceChange)change;
  return e;
}

/* A retraction: no payload. */
static CaseEvent *retract(HDR, const char *target) {
  CaseEvent *e = ev_new(h, id, d);
  e->retracts_event_id = S(target);
  return e;
}

static CaseEvent *supersedes(CaseEvent *e, const char *target) {
  e->supersedes_event_id = S(target);
  return e;
}

static CaseEvent *recorded(CaseEvent *e, csc_date d) {
  e->recorded_at_ms = test_ms(d);
  return e;
}

static void set_disability(struct hist *h, CaseEvent *e, const char *code) {
  e->child_details->disabilities = h_alloc(h, sizeof(char *));
  e->child_details->disabilities[0] = S(code);
  e->child_details->n_disabilities = 1;
}

/* ---- folding and checking ---------------------------------------------------- */

static const struct child_state *fold(struct hist *h) {
  assert_int_equal(child_fold(h->ev, h->n, test_code_lists(), &h->a, &h->st), CSC_OK);
  return &h->st;
}

static const struct derived *derive(struct hist *h) {
  assert_int_equal(child_derive(&h->st, NULL, &h->a, &h->d), CSC_OK);
  return &h->d;
}

static void ep_is(const struct episode *e, csc_date start, csc_date end, const char *id,
                  const char *ref, const char *code, const char *end_code, uint32_t flags) {
  assert_int_equal(e->start, start);
  assert_int_equal(e->end, end);
  assert_string_equal(e->id, id);
  assert_string_equal(e->ref, ref);
  assert_string_equal(e->code, code);
  assert_string_equal(e->end_code, end_code);
  assert_int_equal(e->flags, flags);
}

static void ep_more(const struct episode *e, const char *extra, const char *reason,
                    uint32_t value) {
  assert_string_equal(e->extra, extra);
  assert_string_equal(e->reason, reason);
  assert_int_equal(e->value, value);
}

static void mark_is(const struct mark *m, csc_date date, const char *id, uint32_t value,
                    uint32_t flags) {
  assert_int_equal(m->date, date);
  assert_string_equal(m->id, id);
  assert_int_equal(m->value, value);
  assert_int_equal(m->flags, flags);
}

static int has_finding(const struct child_state *st, int rule, const char *event_id) {
  for (size_t i = 0; i < st->n_findings; i++)
    if (st->findings[i].rule == rule && strcmp(st->findings[i].event_id, event_id) == 0)
      return 1;
  return 0;
}

/* Facts of measure (and bucket, unless -1). */
static size_t n_facts(const struct derived *d, int measure, int bucket) {
  size_t c = 0;
  for (size_t i = 0; i < d->n_facts; i++)
    c += d->facts[i].measure == measure && (bucket < 0 || d->facts[i].bucket == bucket);
  return c;
}

static int has_fact(const struct derived *d, int measure, int bucket, csc_date from, csc_date to) {
  for (size_t i = 0; i < d->n_facts; i++) {
    const struct fact *f = &d->facts[i];
    if (f->measure == measure && f->bucket == bucket && f->from == from && f->to == to &&
        f->weight == 1)
      return 1;
  }
  return 0;
}

/* h's last fold has exactly one finding, (rule, event_id), and its derived
 * record one M_QUALITY fact: bucket = rule, weight 1, on every as-of date
 * (from 1900-01-01, never ending). */
static void only_finding(struct hist *h, int rule, const char *event_id) {
  assert_int_equal(h->st.n_findings, 1);
  assert_int_equal(h->st.findings[0].rule, rule);
  assert_string_equal(h->st.findings[0].event_id, event_id);
  const struct derived *d = derive(h);
  assert_int_equal(d->n_findings, 1);
  assert_int_equal(n_facts(d, M_QUALITY, -1), 1);
  assert_true(has_fact(d, M_QUALITY, rule, D(1900, 1, 1), NEVER));
}

static void no_findings(struct hist *h) {
  assert_int_equal(h->st.n_findings, 0);
  assert_int_equal(n_facts(derive(h), M_QUALITY, -1), 0);
}

/* ---- comparing two folds: derived bytes and a text signature of the state ---- */

struct sbuf {
  char *p;
  size_t left;
};

static void sp(struct sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int n = vsnprintf(b->p, b->left, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < b->left);
  b->p += n, b->left -= (size_t)n;
}

static void sig_eps(struct sbuf *b, const char *name, const struct episode *e, size_t n) {
  for (size_t i = 0; i < n; i++) {
    sp(b, "%s %d %d %s|%s|%s|%s|%s|%s|%s %u %u", name, e[i].start, e[i].end, e[i].id, e[i].ref,
       e[i].code, e[i].end_code, e[i].extra, e[i].reason, e[i].start_event, e[i].value, e[i].flags);
    for (size_t f = 0; f < e[i].n_factors; f++)
      sp(b, " %s", e[i].factors[f]);
    sp(b, "\n");
  }
}

static void sig_marks(struct sbuf *b, const char *name, const struct mark *m, size_t n) {
  for (size_t i = 0; i < n; i++)
    sp(b, "%s %d %s|%s|%s %u %u\n", name, m[i].date, m[i].id, m[i].code, m[i].code2, m[i].value,
       m[i].flags);
}

static void signature(const struct child_state *st, char *buf, size_t len) {
  struct sbuf b = {buf, len};
  const struct child_details *d = &st->details;
  sp(&b, "details %d %d %d %d %s %d %d\n", d->dob, d->expected_dob, d->death, d->sex, d->ethnicity,
     d->disabled, d->uasc);
#define SIG(kind, name, list) sig_##kind(&b, name, st->list, st->n_##list)
  SIG(eps, "ref", referrals), SIG(eps, "asm", assessments), SIG(eps, "s47", enquiries);
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    sig_eps(&b, plan_kind_names[k], st->plans[k], st->n_plans[k]);
  SIG(eps, "plc", placements), SIG(eps, "span", care_spans), SIG(eps, "alloc", allocations);
  SIG(eps, "job", employments), SIG(marks, "strat", strategies), SIG(marks, "icpc", icpcs);
  SIG(marks, "visit", visits), SIG(marks, "legal", legal), SIG(marks, "court", court);
  SIG(marks, "perm", permanence), SIG(marks, "leaver", leaver_contacts), SIG(marks, "sdq", sdq);
  SIG(marks, "abs", absences), SIG(marks, "load", caseloads), SIG(marks, "post", post_status);
#undef SIG
  for (size_t i = 0; i < st->n_adoptions; i++) {
    const struct adoption *j = &st->adoptions[i];
    sp(&b, "adopt %d %d %d %d %d %d %u\n", j->decision, j->placement_order, j->matched, j->placed,
       j->adopted, j->reversed, j->flags);
  }
  for (size_t i = 0; i < st->n_findings; i++)
    sp(&b, "finding %s %s\n", quality_rule_ids[st->findings[i].rule], st->findings[i].event_id);
}

/* The result of one fold: the derived record's bytes and the state's
 * signature. The first call with r->len == 0 records it; later calls check
 * that a fold of evs (in the order given; a copy is sorted) gives the same. */
struct result {
  uint8_t bytes[16384];
  size_t len;
  char sig[8192];
};

static void same_result(struct result *r, CaseEvent *const *evs, size_t n, struct arena *a) {
  static struct result now;
  CaseEvent *copy[MAXEV];
  memcpy(copy, evs, n * sizeof *copy);
  struct child_state st;
  struct derived d;
  assert_int_equal(child_fold(copy, n, test_code_lists(), a, &st), CSC_OK);
  assert_int_equal(child_derive(&st, NULL, a, &d), CSC_OK);
  now.len = derived_size(&d);
  assert_true(now.len <= sizeof now.bytes);
  derived_write(&d, now.bytes);
  signature(&st, now.sig, sizeof now.sig);
  if (r->len == 0) {
    *r = now;
    return;
  }
  assert_string_equal(now.sig, r->sig);
  assert_int_equal(now.len, r->len);
  assert_memory_equal(now.bytes, r->bytes, r->len);
}

/* ---- ChildDetails ---------------------------------------------------------------- */

TEST(test_child_details_merge) {
  /* Added latest first: the merge follows occurred_on, not arrival. */
  details(h, "d4", D(2025, 1, 10), 0)->child_details->uasc = 1; /* disabled false: unrecorded */
  /* d3b: the same day as d3c, saved an hour later (its id sorts first: the tie
   * goes by recorded_at, not by event id). */
  CaseEvent *d3b = details(h, "d3b", D(2024, 6, 1), 0);
  d3b->child_details->ethnicity = "AIND";
  d3b->recorded_at_ms += HOUR_MS;
  CaseEvent *d3c = details(h, "d3c", D(2024, 6, 1), 0);
  d3c->child_details->ethnicity = "MWBA";
  set_disability(h, d3c, "MOB");
  CaseEvent *d2 = details(h, "d2", D(2024, 3, 3), 20240302);
  d2->child_details->sex = CSCFLOW__V1__SEX__SEX_FEMALE;
  d2->child_details->ethnicity = "WBRI";
  details(h, "d1", D(2024, 1, 5), 0)->child_details->expected_date_of_birth = 20240301;
  const struct child_state *st = fold(h);
  /* dob: only d2 records one (2 Mar 2024); expected dob: only d1 (1 Mar).
   * sex: d2's FEMALE, later ones leave it unspecified. ethnicity: WBRI (d2),
   * then MWBA (d3c), then AIND (d3b: same day, saved later). disabled: d3c's
   * disability list; d4's false records nothing. uasc: d4. death: none. */
  assert_int_equal(st->details.dob, D(2024, 3, 2));
  assert_int_equal(st->details.expected_dob, D(2024, 3, 1));
  assert_int_equal(st->details.death, NEVER);
  assert_int_equal(st->details.sex, CSCFLOW__V1__SEX__SEX_FEMALE);
  assert_string_equal(st->details.ethnicity, "AIND");
  assert_int_equal(st->details.disabled, 1);
  assert_int_equal(st->details.uasc, 1);
  /* ChildDetails before the birth are not date_before_birth; codes are known. */
  no_findings(h);
}

/* ---- the CIN pathway -------------------------------------------------------------- */

TEST(test_referrals) {
  ref_open(h, "r1", D(2023, 4, 3), "R1", "1A");
  ref_close(h, "c1", D(2023, 5, 10), "R1", "RC1", 0);
  ref_open(h, "r2", D(2023, 9, 1), "R2", "5A");
  ref_close(h, "c2", D(2023, 9, 4), "R2", "RC8", 1);
  ref_open(h, "r3", D(2025, 1, 15), "R3", "10");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_referrals, 3);
  /* R1: the child's first referral. R2: the previous one (3 Apr 2023) is on
   * or after 1 Sep 2023 - 12 months = 1 Sep 2022: a re-referral; NFA. R3:
   * 1 Sep 2023 is before 15 Jan 2025 - 12 months = 15 Jan 2024: not; open. */
  ep_is(&st->referrals[0], D(2023, 4, 3), D(2023, 5, 10), "R1", "", "1A", "RC1", 0);
  assert_string_equal(st->referrals[0].start_event, "r1");
  ep_is(&st->referrals[1], D(2023, 9, 1), D(2023, 9, 4), "R2", "", "5A", "RC8",
        EP_REREFERRAL | EP_NFA);
  ep_is(&st->referrals[2], D(2025, 1, 15), NEVER, "R3", "", "10", "", 0);
  no_findings(h);
  /* A referral on d is in the 12m window of T while T - 12 months < d <= T:
   * for 3 Apr 2023 the first T outside is 3 Apr 2024. FYTD: to the next 1
   * April (1 Apr 2024 for both 2023 referrals, 1 Apr 2025 for R3). Re-referral
   * facts for R2 only: 12m [1 Sep 2023, 1 Sep 2024), FYTD to 1 Apr 2024. */
  const struct derived *d = derive(h);
  assert_int_equal(n_facts(d, M_REFERRALS_12M, 0), 3);
  assert_true(has_fact(d, M_REFERRALS_12M, 0, D(2023, 4, 3), D(2024, 4, 3)));
  assert_true(has_fact(d, M_REFERRALS_FYTD, 0, D(2023, 4, 3), D(2024, 4, 1)));
  assert_true(has_fact(d, M_REFERRALS_FYTD, 0, D(2025, 1, 15), D(2025, 4, 1)));
  assert_int_equal(n_facts(d, M_REREFERRALS_12M, -1) + n_facts(d, M_REREFERRALS_FYTD, -1), 2);
  assert_true(has_fact(d, M_REREFERRALS_12M, 0, D(2023, 9, 1), D(2024, 9, 1)));
  assert_true(has_fact(d, M_REREFERRALS_FYTD, 0, D(2023, 9, 1), D(2024, 4, 1)));
}

/* "Within n months before d" means on or after d - n months; months clamp. */
TEST(test_rereferral_boundaries) {
  static const struct {
    int py, pm, pd, ny, nm, nd, re;
  } cases[] = {
      {2023, 5, 15, 2024, 5, 15, 1}, /* exactly 12 months: 15 May 2023 >= 15 May 2023 */
      {2023, 5, 14, 2024, 5, 15, 0}, /* a day more */
      {2023, 2, 28, 2024, 2, 29, 1}, /* 29 Feb 2024 - 12 months clamps to 28 Feb 2023 */
      {2023, 2, 27, 2024, 2, 29, 0},
      {2024, 2, 29, 2025, 2, 28, 1}, /* 28 Feb 2025 - 12 months = 28 Feb 2024 <= 29 Feb */
      {2024, 2, 29, 2025, 3, 1, 0},  /* 1 Mar 2025 - 12 months = 1 Mar 2024 > 29 Feb */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    h_reset(h);
    const csc_date prev = D(cases[i].py, cases[i].pm, cases[i].pd);
    ref_open(h, "r1", prev, "R1", "1A");
    ref_close(h, "c1", prev + 3, "R1", "RC1", 0); /* closed 3 days later */
    ref_open(h, "r2", D(cases[i].ny, cases[i].nm, cases[i].nd), "R2", "1A");
    const struct child_state *st = fold(h);
    assert_int_equal(st->n_referrals, 2);
    assert_int_equal(st->referrals[1].flags, cases[i].re ? EP_REREFERRAL : 0u);
    assert_int_equal(st->n_findings, 0);
    if (i == 2) {
      /* A re-referral on 29 Feb 2024 is in T's 12m window while T - 12m <
       * 29 Feb 2024: on 28 Feb 2025 (window from 28 Feb 2024) it is in, on 1
       * Mar 2025 (from 1 Mar 2024) out. FYTD: to 1 Apr 2024. */
      const struct derived *d = derive(h);
      assert_true(has_fact(d, M_REREFERRALS_12M, 0, D(2024, 2, 29), D(2025, 3, 1)));
      assert_true(has_fact(d, M_REREFERRALS_FYTD, 0, D(2024, 2, 29), D(2024, 4, 1)));
    }
  }
}

TEST(test_early_help) {
  eh_start(h, "e1", D(2024, 1, 8), "EH1");
  eh_end(h, "e2", D(2024, 4, 30), "EH1", "NEEDS_MET");
  eh_start(h, "e3", D(2024, 7, 1), "EH2");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_EH], 2);
  ep_is(&st->plans[PLAN_EH][0], D(2024, 1, 8), D(2024, 4, 30), "EH1", "", "", "", 0);
  ep_more(&st->plans[PLAN_EH][0], "", "NEEDS_MET", 0);
  ep_is(&st->plans[PLAN_EH][1], D(2024, 7, 1), NEVER, "EH2", "", "", "", 0);
  ep_more(&st->plans[PLAN_EH][1], "", "", 0);
  /* Two separate episodes: two children_on_plan EH intervals. EH1's 6 months
   * (8 Jul) fall after its end: no alert. EH2 is open: alerts due 1 Jan 2025,
   * 1 Jul 2025 and 1 Jul 2026, pending until never. */
  const struct derived *d = derive(h);
  assert_int_equal(n_facts(d, M_CHILDREN_ON_PLAN, PLAN_EH), 2);
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_EH, D(2024, 1, 8), D(2024, 4, 30)));
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_EH, D(2024, 7, 1), NEVER));
  assert_int_equal(d->n_alerts, 3);
  const csc_date due[3] = {D(2025, 1, 1), D(2025, 7, 1), D(2026, 7, 1)};
  for (int t = 0; t < 3; t++) {
    const struct alert_fact *af = &d->alerts[t];
    assert_int_equal(af->plan_kind, PLAN_EH);
    assert_int_equal(af->months, plan_thresholds[t]);
    assert_int_equal(af->plan_start, D(2024, 7, 1));
    assert_int_equal(af->from, due[t]);
    assert_int_equal(af->to, NEVER);
    assert_string_equal(af->plan_id, "EH2");
  }
}

TEST(test_assessments) {
  asmt_start(h, "a1", D(2024, 2, 1), "A1", "R1");
  asmt_done(h, "a2", D(2024, 2, 20), "A1", "R1", 3 /* CIN */, "3A", "21");
  asmt_done(h, "a3", D(2024, 3, 5), "A2", "R1", 1 /* NFA */, "1A", NULL); /* never started */
  asmt_start(h, "a4", D(2024, 4, 1), "A3", "R2");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_assessments, 3);
  /* A1: 1 to 20 Feb, outcome CIN, factors 3A and 21. */
  const struct episode *a = st->assessments;
  ep_is(&a[0], D(2024, 2, 1), D(2024, 2, 20), "A1", "R1", "", "", 0);
  assert_int_equal(a[0].value, 3);
  assert_int_equal(a[0].n_factors, 2);
  assert_string_equal(a[0].factors[0], "3A");
  assert_string_equal(a[0].factors[1], "21");
  assert_string_equal(a[0].start_event, "a1");
  /* A2: kept as a 0-day assessment on its completion date, NFA, EP_NO_START,
   * and reported end_without_start. */
  ep_is(&a[1], D(2024, 3, 5), D(2024, 3, 5), "A2", "R1", "", "", EP_NO_START);
  assert_int_equal(a[1].value, 1);
  assert_int_equal(a[1].n_factors, 1);
  assert_string_equal(a[1].factors[0], "1A");
  /* A3: open, no outcome. */
  ep_is(&a[2], D(2024, 4, 1), NEVER, "A3", "R2", "", "", 0);
  assert_int_equal(a[2].value, 0);
  only_finding(h, Q_END_WITHOUT_START, "a3");
}

TEST(test_strategy_s47_icpc) {
  strategy(h, "x1", D(2024, 2, 2), "R1", 1);
  s47_start(h, "x2", D(2024, 2, 2), "S1", "R1");
  strategy(h, "x3", D(2024, 2, 9), "R1", 0);
  s47_done(h, "x4", D(2024, 2, 16), "S1", 2 /* ICPC */);
  icpc(h, "x5", D(2024, 3, 1), "S1", 1);
  s47_done(h, "x6", D(2024, 5, 1), "S2", 1 /* NFA */); /* never started */
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_strategies, 2);
  mark_is(&st->strategies[0], D(2024, 2, 2), "R1", 0, MK_AGREED);
  mark_is(&st->strategies[1], D(2024, 2, 9), "R1", 0, 0);
  /* S1: 2 to 16 Feb, outcome ICPC. S2: kept, 0 days, NFA, no referral known. */
  assert_int_equal(st->n_enquiries, 2);
  ep_is(&st->enquiries[0], D(2024, 2, 2), D(2024, 2, 16), "S1", "R1", "", "", 0);
  assert_int_equal(st->enquiries[0].value, 2);
  ep_is(&st->enquiries[1], D(2024, 5, 1), D(2024, 5, 1), "S2", "", "", "", EP_NO_START);
  assert_int_equal(st->enquiries[1].value, 1);
  assert_int_equal(st->n_icpcs, 1);
  mark_is(&st->icpcs[0], D(2024, 3, 1), "S1", 0, MK_AGREED);
  only_finding(h, Q_END_WITHOUT_START, "x6");
}

TEST(test_cin_plans) {
  cin_start(h, "p1", D(2024, 1, 15), "CIN1", "R1");
  cin_end(h, "p2", D(2024, 7, 15), "CIN1");
  cin_start(h, "p3", D(2024, 9, 1), "CIN2", "R2");
  cin_end(h, "p4", D(2024, 10, 1), ""); /* no id: the latest open, CIN2 */
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_CIN], 2);
  ep_is(&st->plans[PLAN_CIN][0], D(2024, 1, 15), D(2024, 7, 15), "CIN1", "R1", "", "", 0);
  ep_is(&st->plans[PLAN_CIN][1], D(2024, 9, 1), D(2024, 10, 1), "CIN2", "R2", "", "", 0);
  no_findings(h);
  /* CIN1 would have lasted 6 months on 15 Jul 2024, the day it ended, when it
   * is not open: no alert, no open_plans_over interval. */
  const struct derived *d = derive(h);
  assert_int_equal(d->n_alerts, 0);
  assert_int_equal(n_facts(d, M_PLANS_OPEN_OVER, -1), 0);
  assert_int_equal(n_facts(d, M_PLANS_OPEN, PLAN_CIN), 2);
}

TEST(test_cp_plans) {
  cp_start(h, "p1", D(2023, 6, 1), "CP1", "R1", "N");
  cp_end(h, "p2", D(2024, 1, 10), "", "E", "RP1"); /* the latest open: CP1 */
  cp_start(h, "p3", D(2024, 3, 1), "CP2", "R2", "P");
  cp_start(h, "p4", D(2024, 4, 1), "CP3", "R2", "S"); /* while CP2 is open */
  cp_end(h, "p5", D(2024, 5, 1), "", "M", "RP2");     /* the latest open: CP3 */
  seen(h, "v1", D(2024, 3, 8), "CP2", 1 /* social worker */, 1);
  seen(h, "v2", D(2024, 3, 22), "CP2", 2 /* other professional */, 0);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_visits, 2);
  mark_is(&st->visits[0], D(2024, 3, 8), "CP2", 1, MK_ALONE);
  mark_is(&st->visits[1], D(2024, 3, 22), "CP2", 2, 0);
  const struct episode *p = st->plans[PLAN_CP];
  assert_int_equal(st->n_plans[PLAN_CP], 3);
  ep_is(&p[0], D(2023, 6, 1), D(2024, 1, 10), "CP1", "R1", "N", "E", 0);
  ep_more(&p[0], "", "RP1", 0);
  ep_is(&p[1], D(2024, 3, 1), NEVER, "CP2", "R2", "P", "", 0);
  ep_more(&p[1], "", "", 0);
  ep_is(&p[2], D(2024, 4, 1), D(2024, 5, 1), "CP3", "R2", "S", "M", 0);
  ep_more(&p[2], "", "RP2", 0);
  only_finding(h, Q_OVERLAPPING_PLAN, "p4"); /* CP3 started while CP2 was open */
  /* On a CP plan: [1 Jun 2023, 10 Jan 2024) and from 1 Mar 2024 (CP3 lies
   * inside CP2); each plan open once. Alerts: CP1 at 6 months, 1 Dec 2023
   * (its 12 months, 1 Jun 2024, fall after its end); CP2 at 6, 12, 24 months;
   * CP3's 6 months (1 Oct 2024) fall after its end. */
  const struct derived *d = derive(h);
  assert_int_equal(n_facts(d, M_CHILDREN_ON_PLAN, PLAN_CP), 2);
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_CP, D(2023, 6, 1), D(2024, 1, 10)));
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_CP, D(2024, 3, 1), NEVER));
  assert_int_equal(n_facts(d, M_PLANS_OPEN, PLAN_CP), 3);
  assert_int_equal(d->n_alerts, 4);
  assert_string_equal(d->alerts[0].plan_id, "CP1");
  assert_int_equal(d->alerts[0].from, D(2023, 12, 1));
  assert_int_equal(d->alerts[0].to, D(2024, 1, 10));
  for (int i = 1; i < 4; i++)
    assert_string_equal(d->alerts[i].plan_id, "CP2");
}

/* ---- care ---------------------------------------------------------------------------- */

TEST(test_care_and_placements) {
  care_start(h, "c1", D(2024, 2, 1), "P1", "C2", "N1", 1, plc(h, "U1", "PR1", 1, 125));
  place(h, "m1", D(2024, 3, 15), "P1", plc(h, "U4", "PR2", 0, 0), "CARPL");
  place(h, "m2", D(2024, 6, 1), "P1", plc(h, "U1", "PR1", 1, 0), "CHILD");
  care_end(h, "c2", D(2024, 9, 30), "P1", "E13");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_LAC], 1);
  ep_is(&st->plans[PLAN_LAC][0], D(2024, 2, 1), D(2024, 9, 30), "P1", "", "C2", "E13", EP_UASC);
  ep_more(&st->plans[PLAN_LAC][0], "N1", "", 0);
  /* Each move ends the previous placement on its own date; the end of the
   * period ends the last one. Distance 12.5 miles; unknown; known to be 0. */
  const struct episode *pl = st->placements;
  assert_int_equal(st->n_placements, 3);
  ep_is(&pl[0], D(2024, 2, 1), D(2024, 3, 15), "", "P1", "U1", "", EP_DISTANCE);
  ep_more(&pl[0], "PR1", "", 125);
  ep_is(&pl[1], D(2024, 3, 15), D(2024, 6, 1), "", "P1", "U4", "", 0);
  ep_more(&pl[1], "PR2", "CARPL", 0);
  ep_is(&pl[2], D(2024, 6, 1), D(2024, 9, 30), "", "P1", "U1", "", EP_DISTANCE);
  ep_more(&pl[2], "PR1", "CHILD", 0);
  /* Legal status C2 from the start: looked after throughout. */
  assert_int_equal(st->n_legal, 1);
  mark_is(&st->legal[0], D(2024, 2, 1), "P1", 0, 0);
  assert_string_equal(st->legal[0].code, "C2");
  assert_int_equal(st->n_care_spans, 1);
  ep_is(&st->care_spans[0], D(2024, 2, 1), D(2024, 9, 30), "P1", "", "C2", "", 0);
  no_findings(h);
  const struct derived *d = derive(h);
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2024, 2, 1), D(2024, 9, 30)));
  assert_true(has_fact(d, M_PLANS_OPEN, PLAN_LAC, D(2024, 2, 1), D(2024, 9, 30)));
  /* placements_3plus, 12m: a placement counts from its start until the first
   * T whose 12m window misses its last day. Last days 14 Mar, 31 May, 29 Sep
   * 2024 give 14 Mar, 31 May, 29 Sep 2025: all three count from 1 Jun 2024
   * to 14 Mar 2025, cut to the looked-after span: [1 Jun, 30 Sep 2024).
   * FYTD: FY 2023-24 has placements 0 and 1, FY 2024-25 has 1 and 2: none. */
  assert_int_equal(n_facts(d, M_PLACEMENTS3_12M, -1), 1);
  assert_true(has_fact(d, M_PLACEMENTS3_12M, 0, D(2024, 6, 1), D(2024, 9, 30)));
  assert_int_equal(n_facts(d, M_PLACEMENTS3_FYTD, -1), 0);
}

TEST(test_legal_status_spans) {
  care_start(h, "c1", D(2024, 1, 1), "P1", "C2", "N2", 0, NULL);
  legal(h, "l1", D(2024, 3, 1), "P1", "V3");
  legal(h, "l2", D(2024, 5, 1), "P1", "C2");
  legal(h, "l3", D(2024, 7, 1), "P1", "C1");
  care_end(h, "c2", D(2024, 10, 1), "P1", "E11");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_legal, 4);
  const char *codes[4] = {"C2", "V3", "C2", "C1"};
  const csc_date from[4] = {D(2024, 1, 1), D(2024, 3, 1), D(2024, 5, 1), D(2024, 7, 1)};
  for (int i = 0; i < 4; i++) {
    mark_is(&st->legal[i], from[i], "P1", 0 /* the period's index */, 0);
    assert_string_equal(st->legal[i].code, codes[i]);
  }
  /* Looked after: C2 [1 Jan, 1 Mar); the V3 days are not; C2 from 1 May, and
   * the change to C1 on 1 Jul continues that span to the end, 1 Oct. */
  assert_int_equal(st->n_care_spans, 2);
  ep_is(&st->care_spans[0], D(2024, 1, 1), D(2024, 3, 1), "P1", "", "C2", "", 0);
  ep_is(&st->care_spans[1], D(2024, 5, 1), D(2024, 10, 1), "P1", "", "C2", "", 0);
  assert_int_equal(st->plans[PLAN_LAC][0].flags, 0); /* not short breaks */
  no_findings(h);
  const struct derived *d = derive(h);
  assert_int_equal(n_facts(d, M_CHILDREN_ON_PLAN, PLAN_LAC), 2);
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2024, 1, 1), D(2024, 3, 1)));
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2024, 5, 1), D(2024, 10, 1)));
}

/*
 * Two periods of care with no id: P1 (C2, 1 Jan to 1 Mar) and P2 (C1, from
 * 1 Mar) give one span each, as two periods with ids do. (Every empty id is
 * protobuf-c's one shared empty string: a span must not be merged across
 * periods because their ids compare equal.)
 */
TEST(test_care_spans_of_periods_without_id) {
  care_start(h, "c1", D(2024, 1, 1), "", "C2", "N1", 0, NULL);
  care_end(h, "c2", D(2024, 3, 1), "", "E11");
  care_start(h, "c3", D(2024, 3, 1), "", "C1", "N1", 0, NULL);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_LAC], 2);
  no_findings(h);
  /* The child is looked after without a break from 1 Jan: one interval. */
  assert_int_equal(n_facts(&h->d, M_CHILDREN_ON_PLAN, PLAN_LAC), 1);
  assert_true(has_fact(&h->d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2024, 1, 1), NEVER));
  assert_int_equal(st->n_care_spans, 2);
  ep_is(&st->care_spans[0], D(2024, 1, 1), D(2024, 3, 1), "", "", "C2", "", 0);
  assert_string_equal(st->care_spans[0].start_event, "c1");
  ep_is(&st->care_spans[1], D(2024, 3, 1), NEVER, "", "", "C1", "", 0);
  assert_string_equal(st->care_spans[1].start_event, "c3");
}

TEST(test_short_breaks) {
  care_start(h, "c1", D(2024, 1, 1), "P1", "V3", "N1", 0, plc(h, "U1", "PR1", 0, 0));
  legal(h, "l1", D(2024, 4, 1), "P1", "V4");
  care_end(h, "c2", D(2025, 6, 1), "P1", "E8");
  const struct child_state *st = fold(h);
  /* V3, then V4, throughout: not a looked-after day, a short-breaks period. */
  assert_int_equal(st->n_plans[PLAN_LAC], 1);
  ep_is(&st->plans[PLAN_LAC][0], D(2024, 1, 1), D(2025, 6, 1), "P1", "", "V3", "E8",
        EP_SHORT_BREAKS);
  assert_int_equal(st->n_care_spans, 0);
  assert_int_equal(st->n_legal, 2);
  no_findings(h);
  /* 17 months long, yet no LAC fact of any kind and no alert (it would have
   * crossed 6 and 12 months had it counted). */
  const struct derived *d = derive(h);
  assert_int_equal(n_facts(d, M_CHILDREN_ON_PLAN, PLAN_LAC), 0);
  assert_int_equal(d->n_facts, 0);
  assert_int_equal(d->n_alerts, 0);
}

static void adoption_is(const struct adoption *j, csc_date decision, csc_date order,
                        csc_date matched, csc_date placed, csc_date adopted, csc_date reversed,
                        uint32_t flags) {
  assert_int_equal(j->decision, decision);
  assert_int_equal(j->placement_order, order);
  assert_int_equal(j->matched, matched);
  assert_int_equal(j->placed, placed);
  assert_int_equal(j->adopted, adopted);
  assert_int_equal(j->reversed, reversed);
  assert_int_equal(j->flags, flags);
}

TEST(test_adoption) {
  adopt(h, "a1", D(2023, 1, 10), AD(DECISION), 0, 0);
  adopt(h, "a2", D(2023, 3, 1), AD(PLACEMENT_ORDER), 0, 0);
  adopt(h, "a3", D(2023, 5, 1), AD(DECISION_REVERSED), 0, 0);
  adopt(h, "a4", D(2023, 8, 1), AD(DECISION), 1, 0); /* after a reversal: a second journey */
  adopt(h, "a5", D(2023, 10, 1), AD(PLACEMENT_ORDER), 0, 0);
  adopt(h, "a6", D(2024, 1, 5), AD(MATCHED), 0, 0);
  adopt(h, "a7", D(2024, 2, 1), AD(PLACED), 0, 1);
  adopt(h, "a8", D(2024, 9, 1), AD(ADOPTED), 0, 0);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_adoptions, 2);
  adoption_is(&st->adoptions[0], D(2023, 1, 10), D(2023, 3, 1), NEVER, NEVER, NEVER, D(2023, 5, 1),
              0);
  adoption_is(&st->adoptions[1], D(2023, 8, 1), D(2023, 10, 1), D(2024, 1, 5), D(2024, 2, 1),
              D(2024, 9, 1), NEVER, MK_EARLY_PERMANENCE | MK_FOSTER_CARER);
  no_findings(h);
}

TEST(test_leaver_sdq_court_permanence) {
  leaver(h, "l1", D(2024, 5, 1), 1, "F1", 1 /* education */, "B", 1);
  leaver(h, "l2", D(2024, 8, 1), 0, "G6", 3 /* NEET */, "", 0);
  sdq(h, "s1", D(2024, 3, 1), 17);
  sdq(h, "s2", D(2025, 3, 1), 12);
  court(h, "k1", D(2023, 11, 1), 1 /* care order */);
  perm(h, "o1", D(2024, 6, 1), 1 /* special guardianship */);
  perm(h, "o2", D(2024, 7, 1), 2 /* child arrangements */);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_leaver_contacts, 2);
  mark_is(&st->leaver_contacts[0], D(2024, 5, 1), "", 1, MK_IN_TOUCH | MK_SUITABLE);
  assert_string_equal(st->leaver_contacts[0].code, "F1");
  assert_string_equal(st->leaver_contacts[0].code2, "B");
  mark_is(&st->leaver_contacts[1], D(2024, 8, 1), "", 3, 0);
  assert_string_equal(st->leaver_contacts[1].code, "G6");
  assert_string_equal(st->leaver_contacts[1].code2, "");
  assert_int_equal(st->n_sdq, 2);
  mark_is(&st->sdq[0], D(2024, 3, 1), "", 17, 0);
  mark_is(&st->sdq[1], D(2025, 3, 1), "", 12, 0);
  assert_int_equal(st->n_court, 1);
  mark_is(&st->court[0], D(2023, 11, 1), "", 1, 0);
  assert_int_equal(st->n_permanence, 2);
  mark_is(&st->permanence[0], D(2024, 6, 1), "", 1, 0);
  mark_is(&st->permanence[1], D(2024, 7, 1), "", 2, 0);
  no_findings(h);
}

/* ---- allocations and the workforce ------------------------------------------------- */

TEST(test_allocations) {
  alloc(h, "w1", D(2024, 1, 5), "W1", 0);
  alloc(h, "w2", D(2024, 2, 1), "W1", 0); /* already allocated: changes nothing */
  alloc(h, "w3", D(2024, 3, 1), "W2", 0);
  alloc(h, "w4", D(2024, 4, 1), "W1", 1);
  alloc(h, "w5", D(2024, 4, 2), "W3", 1); /* W3 was never allocated */
  alloc(h, "w6", D(2024, 6, 1), "W1", 0);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_allocations, 3);
  ep_is(&st->allocations[0], D(2024, 1, 5), D(2024, 4, 1), "W1", "", "", "", 0);
  assert_string_equal(st->allocations[0].start_event, "w1");
  ep_is(&st->allocations[1], D(2024, 3, 1), NEVER, "W2", "", "", "", 0);
  ep_is(&st->allocations[2], D(2024, 6, 1), NEVER, "W1", "", "", "", 0);
  only_finding(h, Q_END_WITHOUT_START, "w5");
}

TEST(test_workforce_worker) {
  wf(h, "f1", D(2023, 9, 4), "SW1", "", WF(STARTED), 100);
  Cscflow__V1__WorkforceEvent *change =
      wf(h, "f2", D(2024, 1, 1), "SW1", "", WF(STARTED), 80)->workforce;
  change->agency = 1, change->case_holding = 1;
  wf(h, "f3", D(2024, 2, 12), "SW1", "", WF(ABSENCE), 0)->workforce->sickness_days = 3;
  Cscflow__V1__WorkforceEvent *load =
      wf(h, "f4", D(2024, 3, 31), "SW1", "", WF(CASELOAD), 0)->workforce;
  load->caseload = 18, load->case_holding = 1;
  wf(h, "f5", D(2024, 6, 30), "SW1", "", WF(LEFT), 0);
  const struct child_state *st = fold(h);
  /* The second STARTED ends the first employment (1.00 FTE) and starts one at
   * 0.80 FTE through an agency, which LEFT ends. */
  assert_int_equal(st->n_employments, 2);
  ep_is(&st->employments[0], D(2023, 9, 4), D(2024, 1, 1), "SW1", "", "", "", 0);
  assert_int_equal(st->employments[0].value, 100);
  ep_is(&st->employments[1], D(2024, 1, 1), D(2024, 6, 30), "SW1", "", "", "", EP_AGENCY);
  assert_int_equal(st->employments[1].value, 80);
  assert_int_equal(st->n_absences, 1);
  mark_is(&st->absences[0], D(2024, 2, 12), "SW1", 3, 0);
  /* Each STARTED is a caseload mark too, with its case_holding and no
   * count (sw_caseload: "their latest start or caseload report"). */
  assert_int_equal(st->n_caseloads, 3);
  mark_is(&st->caseloads[0], D(2023, 9, 4), "SW1", 0, 0);
  mark_is(&st->caseloads[1], D(2024, 1, 1), "SW1", 0, MK_CASE_HOLDING);
  mark_is(&st->caseloads[2], D(2024, 3, 31), "SW1", 18, MK_CASE_HOLDING);
  assert_int_equal(st->n_post_status, 0);
  no_findings(h);
}

TEST(test_workforce_post) {
  wf(h, "f1", D(2023, 4, 1), "", "PST1", WF(POST_ESTABLISHED), 100);
  wf(h, "f2", D(2023, 10, 1), "", "PST1", WF(POST_VACANT), 100);
  wf(h, "f3", D(2024, 1, 15), "SW9", "PST1", WF(POST_FILLED), 100);
  const struct child_state *st = fold(h);
  /* Dated marks: value = FTE x 100, flags = the WorkforceChange (4, 5, 6). */
  assert_int_equal(st->n_post_status, 3);
  mark_is(&st->post_status[0], D(2023, 4, 1), "PST1", 100, 4);
  mark_is(&st->post_status[1], D(2023, 10, 1), "PST1", 100, 5);
  mark_is(&st->post_status[2], D(2024, 1, 15), "PST1", 100, 6);
  assert_int_equal(st->n_employments, 0);
  no_findings(h);
}

/* ---- quality rules: each one fired, and its clean variant -------------------------- */

/*
 * end_before_start: an end dated before the start of what it ends. Events
 * fold in date order, so the end comes first; the fold looks ahead for its
 * start (same kind, same id). The end is ignored: the episode stays open.
 * For a completion (C) the early completion is not kept as a no-start
 * assessment either. Expected: end_before_start on "e", one episode, open.
 */
TEST(test_q_end_before_start) {
  static const char *const what[3] = {"referral closed 1 Mar, opened 10 Mar",
                                      "CP plan ended 1 May, started 10 May",
                                      "assessment completed 2 May, started 10 May"};
  int failures = 0;
  for (int which = 0; which < 3; which++) {
    h_reset(h);
    if (which == 0) {
      ref_open(h, "s", D(2024, 3, 10), "R1", "1A");
      recorded(ref_close(h, "e", D(2024, 3, 1), "R1", "RC1", 0), D(2024, 3, 12));
    } else if (which == 1) {
      cp_start(h, "s", D(2024, 5, 10), "CP1", "R1", "N");
      recorded(cp_end(h, "e", D(2024, 5, 1), "CP1", "N", "RP1"), D(2024, 5, 12));
    } else {
      asmt_start(h, "s", D(2024, 5, 10), "A1", "R1");
      recorded(asmt_done(h, "e", D(2024, 5, 2), "A1", "R1", 1, NULL, NULL), D(2024, 5, 12));
    }
    const struct child_state *st = fold(h);
    const struct episode *e = which == 0   ? st->referrals
                              : which == 1 ? st->plans[PLAN_CP]
                                           : st->assessments;
    const size_t n = which == 0   ? st->n_referrals
                     : which == 1 ? st->n_plans[PLAN_CP]
                                  : st->n_assessments;
    /* INDICATORS.md, Completions: "a completion dated before its start
     * counts as completed but is left out of timeliness": the assessment is
     * the one episode, started 10 May and completed 2 May. */
    const csc_date end = which == 2 ? D(2024, 5, 2) : NEVER;
    if (st->n_findings != 1 || !has_finding(st, Q_END_BEFORE_START, "e") || n != 1 ||
        e[0].end != end || (which == 2 && (e[0].start != D(2024, 5, 10) ||
                                           !(e[0].flags & EP_END_BEFORE_START)))) {
      failures++;
      print_message("end_before_start, %s: expected end_before_start(e) and one episode "
                    "(open, or the assessment completed); got %zu episode(s), findings:",
                    what[which], n);
      for (size_t i = 0; i < st->n_findings; i++)
        print_message(" %s(%s)", quality_rule_ids[st->findings[i].rule], st->findings[i].event_id);
      print_message("\n");
    }
  }
  /* Clean: a closure on the day of the referral, or 10 days after. */
  for (int gap = 0; gap <= 10; gap += 10) {
    h_reset(h);
    ref_open(h, "s", D(2024, 3, 10), "R1", "1A");
    ref_close(h, "e", D(2024, 3, 10) + gap, "R1", "RC1", 0);
    assert_int_equal(fold(h)->referrals[0].end, D(2024, 3, 10) + gap);
    no_findings(h);
  }
  assert_int_equal(failures, 0);
}

TEST(test_q_end_without_start) {
  ref_close(h, "c9", D(2024, 2, 1), "R9", "RC1", 0);
  assert_int_equal(fold(h)->n_referrals, 0); /* the end is ignored */
  only_finding(h, Q_END_WITHOUT_START, "c9");

  /* Clean: the referral it closes was opened before. */
  h_reset(h);
  ref_open(h, "r9", D(2024, 1, 20), "R9", "1A");
  ref_close(h, "c9", D(2024, 2, 1), "R9", "RC1", 0);
  ep_is(&fold(h)->referrals[0], D(2024, 1, 20), D(2024, 2, 1), "R9", "", "1A", "RC1", 0);
  no_findings(h);

  /* The rule's other ends of nothing: a legal status with no period, a
   * reversal with no decision, LEFT of a worker never started, a CP plan end
   * with no plan, a period of care ended with none open. Each is ignored. */
  h_reset(h);
  legal(h, "x1", D(2024, 3, 1), "P1", "C2");
  adopt(h, "x2", D(2024, 3, 2), AD(DECISION_REVERSED), 0, 0);
  wf(h, "x3", D(2024, 3, 3), "SW1", "", WF(LEFT), 0);
  cp_end(h, "x4", D(2024, 3, 4), "", "N", "RP1");
  care_end(h, "x5", D(2024, 3, 5), "", "E11");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_findings, 5);
  static const char *const ends[5] = {"x1", "x2", "x3", "x4", "x5"};
  for (int i = 0; i < 5; i++)
    assert_true(has_finding(st, Q_END_WITHOUT_START, ends[i]));
  assert_int_equal(st->n_legal + st->n_adoptions + st->n_employments + st->n_plans[PLAN_CP] +
                       st->n_plans[PLAN_LAC],
                   0);
}

TEST(test_q_referral_while_open) {
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  ref_open(h, "r2", D(2024, 2, 1), "R2", "1B");
  const struct child_state *st = fold(h);
  /* R2 opens nothing and counts nowhere. */
  assert_int_equal(st->n_referrals, 1);
  ep_is(&st->referrals[0], D(2024, 1, 10), NEVER, "R1", "", "1A", "", 0);
  only_finding(h, Q_REFERRAL_WHILE_OPEN, "r2");
  assert_int_equal(n_facts(&h->d, M_REFERRALS_12M, 0), 1);

  /* Clean: R1 closes on the day R2 opens (ends of earlier episodes go
   * first), though saved after R2's opening. R2 is a re-referral. */
  h_reset(h);
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  ref_open(h, "r2", D(2024, 2, 1), "R2", "1B");
  ref_close(h, "c1", D(2024, 2, 1), "R1", "RC2", 0)->recorded_at_ms += HOUR_MS;
  st = fold(h);
  assert_int_equal(st->n_referrals, 2);
  ep_is(&st->referrals[0], D(2024, 1, 10), D(2024, 2, 1), "R1", "", "1A", "RC2", 0);
  ep_is(&st->referrals[1], D(2024, 2, 1), NEVER, "R2", "", "1B", "", EP_REREFERRAL);
  no_findings(h);
}

TEST(test_q_placement_outside_care) {
  place(h, "m1", D(2024, 2, 1), "P1", plc(h, "U1", "PR1", 0, 0), "");
  assert_int_equal(fold(h)->n_placements, 0); /* not counted */
  only_finding(h, Q_PLACEMENT_OUTSIDE_CARE, "m1");

  /* After its period ended (31 Jan), outside care too. */
  h_reset(h);
  care_start(h, "c1", D(2024, 1, 15), "P1", "C2", "N1", 0, NULL);
  care_end(h, "c2", D(2024, 1, 31), "P1", "E11");
  place(h, "m1", D(2024, 2, 1), "P1", plc(h, "U1", "PR1", 0, 0), "");
  assert_int_equal(fold(h)->n_placements, 0);
  only_finding(h, Q_PLACEMENT_OUTSIDE_CARE, "m1");

  /* Clean: the period is open. */
  h_reset(h);
  care_start(h, "c1", D(2024, 1, 15), "P1", "C2", "N1", 0, NULL);
  place(h, "m1", D(2024, 2, 1), "P1", plc(h, "U1", "PR1", 0, 0), "");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_placements, 1);
  ep_is(&st->placements[0], D(2024, 2, 1), NEVER, "", "P1", "U1", "", 0);
  no_findings(h);
}

TEST(test_q_overlapping_plan) {
  cp_start(h, "p1", D(2024, 1, 1), "CP1", "R1", "N");
  cp_start(h, "p2", D(2024, 3, 1), "CP2", "R1", "P");
  cin_start(h, "n1", D(2024, 2, 1), "CIN1", "R1"); /* another kind: no overlap */
  assert_int_equal(fold(h)->n_plans[PLAN_CP], 2);  /* both kept */
  only_finding(h, Q_OVERLAPPING_PLAN, "p2");
  /* The child counts once from 1 Jan; each plan once. */
  assert_int_equal(n_facts(&h->d, M_CHILDREN_ON_PLAN, PLAN_CP), 1);
  assert_true(has_fact(&h->d, M_CHILDREN_ON_PLAN, PLAN_CP, D(2024, 1, 1), NEVER));
  assert_int_equal(n_facts(&h->d, M_PLANS_OPEN, PLAN_CP), 2);

  /* Clean: CP1 ends on the day CP2 starts; the end is saved after the start. */
  h_reset(h);
  cp_start(h, "p1", D(2024, 1, 1), "CP1", "R1", "N");
  cp_start(h, "p2", D(2024, 3, 1), "CP2", "R1", "P");
  cp_end(h, "p3", D(2024, 3, 1), "CP1", "N", "RP1")->recorded_at_ms += HOUR_MS;
  const struct child_state *st = fold(h);
  ep_is(&st->plans[PLAN_CP][0], D(2024, 1, 1), D(2024, 3, 1), "CP1", "R1", "N", "N", 0);
  ep_is(&st->plans[PLAN_CP][1], D(2024, 3, 1), NEVER, "CP2", "R1", "P", "", 0);
  no_findings(h);
}

TEST(test_q_date_before_birth) {
  /* Born 1 Jun 2024. 280 days before is 26 Aug 2023 (6 days to 31 Aug, then
   * 30+31+30+31+31+29+31+30+31 to 31 May, +1 = 280); 400 before, 28 Apr 2023. */
  assert_int_equal(D(2024, 6, 1) - D(2023, 8, 26), 280);
  assert_int_equal(D(2024, 6, 1) - D(2023, 4, 28), 400);
  static const struct {
    int y, m, d, care, finding;
  } cases[] = {
      {2023, 8, 26, 0, 0}, /* a referral 280 days before birth: pre-birth work */
      {2023, 8, 25, 0, 1}, /* 281 days */
      {2023, 4, 28, 0, 1}, /* 400 days */
      {2024, 5, 20, 1, 1}, /* a period of care is never pre-birth work */
      {2024, 6, 1, 1, 0},  /* a period of care on the day of birth */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    h_reset(h);
    details(h, "d1", D(2024, 6, 5), 20240601);
    const csc_date d = D(cases[i].y, cases[i].m, cases[i].d);
    if (cases[i].care)
      care_start(h, "x", d, "P1", "C2", "N1", 0, NULL);
    else
      ref_open(h, "x", d, "R1", "1A");
    fold(h);
    if (cases[i].finding)
      only_finding(h, Q_DATE_BEFORE_BIRTH, "x");
    else
      no_findings(h);
  }
}

TEST(test_q_date_after_recorded) {
  recorded(ref_open(h, "r1", D(2024, 3, 5), "R1", "1A"), D(2024, 3, 4));
  assert_int_equal(fold(h)->referrals[0].start, D(2024, 3, 5)); /* kept as dated */
  only_finding(h, Q_DATE_AFTER_RECORDED, "r1");
  /* 23:30 UTC on 30 Jun 2024 is 00:30 BST on 1 Jul: an event of 1 Jul
   * recorded then is not after its recording day; one of 2 Jul is. */
  const int64_t ms = (int64_t)D(2024, 6, 30) * 86400000 + (23 * 60 + 30) * 60000LL;
  for (int day = 1; day <= 2; day++) {
    h_reset(h);
    ref_open(h, "r1", D(2024, 7, day), "R1", "1A")->recorded_at_ms = ms;
    fold(h);
    if (day == 1)
      no_findings(h);
    else
      only_finding(h, Q_DATE_AFTER_RECORDED, "r1");
  }
}

TEST(test_q_unknown_code) {
  ref_open(h, "r1", D(2024, 1, 10), "R1", "Z9");
  assert_string_equal(fold(h)->referrals[0].code, "Z9"); /* kept as sent */
  only_finding(h, Q_UNKNOWN_CODE, "r1");
  /* Two unknown codes in one event: one finding. */
  h_reset(h);
  CaseEvent *e = details(h, "d1", D(2024, 1, 10), 20200101);
  e->child_details->ethnicity = "XXXX";
  set_disability(h, e, "FOO");
  fold(h);
  only_finding(h, Q_UNKNOWN_CODE, "d1");
  /* Clean: known codes, and empty ones (not recorded). */
  h_reset(h);
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  ref_close(h, "c1", D(2024, 1, 20), "R1", "", 0);
  ref_open(h, "r2", D(2024, 2, 10), "R2", "");
  fold(h);
  no_findings(h);
}

/* The value of (measure, bucket) on as-of date t, counted by hand: the sum
 * of the weights of the facts open on t. */
static int64_t value_on(const struct derived *d, int measure, int bucket, csc_date t) {
  int64_t sum = 0;
  for (size_t i = 0; i < d->n_facts; i++) {
    const struct fact *f = &d->facts[i];
    if (f->measure == measure && f->bucket == bucket && f->from <= t && t < f->to)
      sum += f->weight;
  }
  return sum;
}

#define MAXFACTS 64

/* d's facts other than M_QUALITY, copied (they live in h's arena). */
static size_t counted_facts(const struct derived *d, struct fact *out) {
  size_t n = 0;
  for (size_t i = 0; i < d->n_facts; i++)
    if (d->facts[i].measure != M_QUALITY) {
      assert_true(n < MAXFACTS);
      out[n++] = d->facts[i];
    }
  return n;
}

/* The good events of test_q_implausible_date: a referral on 1 Feb 2024 and a
 * period of care from 1 Mar 2024. */
static void good_events(struct hist *h) {
  ref_open(h, "r1", D(2024, 2, 1), "R1", "1A");
  care_start(h, "c1", D(2024, 3, 1), "P1", "C2", "N1", 0, NULL);
}

TEST(test_q_implausible_date) {
  /* What the good events count on their own. */
  good_events(h);
  fold(h);
  no_findings(h);
  struct fact want[MAXFACTS];
  const size_t n_want = counted_facts(&h->d, want);
  assert_true(n_want > 0);

  /* Dates mistyped before 1900, each saved in 2024: a referral (still open,
   * were it folded R1 would be referral_while_open), a CP plan, and child
   * details whose date of birth (1 May 2024) would make the period of care
   * date_before_birth. */
  h_reset(h);
  good_events(h);
  recorded(ref_open(h, "r0", D(1899, 12, 31), "R0", "1A"), D(2024, 1, 5));
  recorded(cp_start(h, "p0", D(1899, 6, 1), "CP0", "R0", "N"), D(2024, 1, 5));
  recorded(details(h, "d0", D(1899, 12, 1), 20240501), D(2024, 1, 5));
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_findings, 3);
  assert_true(has_finding(st, Q_IMPLAUSIBLE_DATE, "r0"));
  assert_true(has_finding(st, Q_IMPLAUSIBLE_DATE, "p0"));
  assert_true(has_finding(st, Q_IMPLAUSIBLE_DATE, "d0"));
  /* None of them is folded: one referral (R1, not a re-referral), no CP
   * plan, no date of birth. */
  assert_int_equal(st->n_referrals, 1);
  ep_is(&st->referrals[0], D(2024, 2, 1), NEVER, "R1", "", "1A", "", 0);
  assert_int_equal(st->n_plans[PLAN_CP], 0);
  assert_int_equal(st->details.dob, NEVER);
  /* In no count: the facts are the good events' alone, and the referrals
   * in the 12 months to 1 Jun 2024 are 1 (R1), not 2. */
  const struct derived *d = derive(h);
  struct fact got[MAXFACTS];
  assert_int_equal(counted_facts(d, got), n_want);
  assert_memory_equal(got, want, n_want * sizeof *want);
  assert_int_equal(value_on(d, M_REFERRALS_12M, 0, D(2024, 6, 1)), 1);
  assert_int_equal(value_on(d, M_QUALITY, Q_IMPLAUSIBLE_DATE, D(2024, 6, 1)), 3);

  /* An unknown code in an implausible event is a finding of its own. */
  h_reset(h);
  recorded(ref_open(h, "r0", D(1899, 12, 31), "R0", "Z9"), D(2024, 1, 5));
  st = fold(h);
  assert_int_equal(st->n_findings, 2);
  assert_true(has_finding(st, Q_IMPLAUSIBLE_DATE, "r0"));
  assert_true(has_finding(st, Q_UNKNOWN_CODE, "r0"));
}

TEST(test_q_implausible_date_boundary) {
  /* 1 Jan 1900 is not before 1900: kept as dated, counted for 12 months. */
  recorded(ref_open(h, "r0", D(1900, 1, 1), "R0", "1A"), D(2024, 1, 5));
  assert_int_equal(fold(h)->n_referrals, 1);
  no_findings(h);
  assert_true(has_fact(&h->d, M_REFERRALS_12M, 0, D(1900, 1, 1), D(1901, 1, 1)));
  assert_int_equal(value_on(&h->d, M_REFERRALS_12M, 0, D(1900, 6, 1)), 1);
}

TEST(test_q_implausible_date_and_birth) {
  /* Before birth, from 1900 on: date_before_birth as before, not implausible. */
  details(h, "d1", D(2024, 6, 5), 20240601);
  care_start(h, "x", D(2024, 5, 20), "P1", "C2", "N1", 0, NULL);
  fold(h);
  only_finding(h, Q_DATE_BEFORE_BIRTH, "x");
  /* Before 1900: implausible_date alone. The date is mistyped, one thing to
   * fix, not also a period of care before the birth. */
  h_reset(h);
  details(h, "d1", D(2024, 6, 5), 20240601);
  recorded(care_start(h, "x", D(1824, 5, 20), "P1", "C2", "N1", 0, NULL), D(2024, 6, 5));
  assert_int_equal(fold(h)->n_plans[PLAN_LAC], 0);
  only_finding(h, Q_IMPLAUSIBLE_DATE, "x");
}

TEST(test_q_implausible_date_corrected) {
  recorded(ref_open(h, "r0", D(1899, 12, 31), "R0", "1A"), D(2024, 1, 5));
  assert_int_equal(fold(h)->n_referrals, 0);
  only_finding(h, Q_IMPLAUSIBLE_DATE, "r0");
  assert_int_equal(value_on(&h->d, M_REFERRALS_12M, 0, D(2024, 6, 1)), 0);
  /* The LA fixes it at source: an amendment dated 31 Dec 2023 resolves the
   * finding, and the referral counts from that day for 12 months. */
  supersedes(recorded(ref_open(h, "r0b", D(2023, 12, 31), "R0", "1A"), D(2024, 1, 8)), "r0");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_referrals, 1);
  ep_is(&st->referrals[0], D(2023, 12, 31), NEVER, "R0", "", "1A", "", 0);
  no_findings(h);
  assert_int_equal(n_facts(&h->d, M_REFERRALS_12M, 0), 1);
  assert_true(has_fact(&h->d, M_REFERRALS_12M, 0, D(2023, 12, 31), D(2024, 12, 31)));
  assert_int_equal(value_on(&h->d, M_REFERRALS_12M, 0, D(2024, 6, 1)), 1);

  /* An amendment with an implausible date still corrects: what it replaces
   * is gone, and it counts nowhere until it is fixed in turn. */
  h_reset(h);
  ref_open(h, "r1", D(2024, 2, 1), "R1", "1A");
  supersedes(recorded(ref_open(h, "r1b", D(1824, 2, 1), "R1", "1A"), D(2024, 2, 3)), "r1");
  assert_int_equal(fold(h)->n_referrals, 0);
  only_finding(h, Q_IMPLAUSIBLE_DATE, "r1b");
}

/*
 * after_death. INDICATORS.md, Conventions, "After death": "a child with a
 * date of death d is not counted in any point-in-time measure on T > d (open
 * plans, looked after, allocations), nor as a member of any denominator for
 * days after d. An event dated after d is a data-quality finding
 * (`after_death`) and counts in no window."
 */

static size_t check_arrival_orders(struct hist *h);

/* ChildDetails recording the date of death (and nothing else). */
static CaseEvent *died(struct hist *h, const char *id, csc_date d, csc_date death) {
  CaseEvent *e = details(h, id, d, 0);
  e->child_details->date_of_death = date_to_yyyymmdd(death);
  return e;
}

/* The history of test_q_after_death but the death: born 4 Jul 2015;
 * referral R1 10 Jan 2024; CIN plan CIN1 1 Feb 2024; worker W1 allocated
 * 10 Jan 2024; seen 15 Mar 2024 (the day of death below) and 20 Mar 2024;
 * a referral R2 on 1 Apr 2024; CIN1 ended and R1 closed 10 Apr 2024;
 * details (ethnicity) 20 Apr 2024. */
static void death_history(struct hist *h) {
  details(h, "d1", D(2023, 1, 10), 20150704);
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  cin_start(h, "p1", D(2024, 2, 1), "CIN1", "R1");
  alloc(h, "w1", D(2024, 1, 10), "W1", 0);
  seen(h, "v1", D(2024, 3, 15), "CIN1", 1, 1);
  seen(h, "v2", D(2024, 3, 20), "CIN1", 1, 1);
  ref_open(h, "r2", D(2024, 4, 1), "R2", "1A");
  cin_end(h, "p2", D(2024, 4, 10), "CIN1");
  ref_close(h, "c1", D(2024, 4, 10), "R1", "RC1", 0);
  details(h, "d2", D(2024, 4, 20), 0)->child_details->ethnicity = S("WBRI");
}

TEST(test_q_after_death) {
  death_history(h);
  /* The child died on 15 Mar 2024; the LA recorded it on 18 Mar. */
  recorded(died(h, "dd", D(2024, 3, 15), D(2024, 3, 15)), D(2024, 3, 18));
  const struct child_state *st = fold(h);
  assert_int_equal(st->details.death, D(2024, 3, 15));
  /* "An event dated after d is a data-quality finding (after_death)": v2
   * (20 Mar), r2 (1 Apr), p2 and c1 (10 Apr) = 4. Not v1, dated on d itself
   * (after d means > d), nor d2 (details record the child, not the care),
   * nor dd. r2 is not also referral_while_open: it takes no part. */
  assert_int_equal(st->n_findings, 4);
  assert_true(has_finding(st, Q_AFTER_DEATH, "v2"));
  assert_true(has_finding(st, Q_AFTER_DEATH, "r2"));
  assert_true(has_finding(st, Q_AFTER_DEATH, "p2"));
  assert_true(has_finding(st, Q_AFTER_DEATH, "c1"));
  /* "... and counts in no window": none of the four is folded. One referral,
   * still open; CIN1 still open; one visit (v1). */
  assert_int_equal(st->n_referrals, 1);
  ep_is(&st->referrals[0], D(2024, 1, 10), NEVER, "R1", "", "1A", "", 0);
  assert_int_equal(st->n_plans[PLAN_CIN], 1);
  assert_int_equal(st->plans[PLAN_CIN][0].end, NEVER);
  assert_int_equal(st->n_visits, 1);
  assert_int_equal(st->details.ethnicity[0], 'W'); /* d2 merged */
  const struct derived *d = derive(h);
  /* Referrals in the 12 months to 1 Jun 2024: R1 (10 Jan, before d) = 1;
   * R2 (1 Apr, after d) is in no window. */
  assert_int_equal(value_on(d, M_REFERRALS_12M, 0, D(2024, 6, 1)), 1);
  /* No CIN plan ended: p2 is after d. */
  assert_int_equal(n_facts(d, M_PLANS_ENDED_12M, PLAN_CIN), 0);
  /* "not counted in any point-in-time measure on T > d": on plan, in need,
   * allocated up to and including 15 Mar 2024 (T = d is not > d), from
   * 16 Mar never, though nothing dated on or before d ends them. */
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_CIN, D(2024, 2, 1), D(2024, 3, 16)));
  assert_true(has_fact(d, M_PLANS_OPEN, PLAN_CIN, D(2024, 2, 1), D(2024, 3, 16)));
  assert_true(has_fact(d, M_CHILDREN_IN_NEED, 0, D(2024, 1, 10), D(2024, 3, 16)));
  assert_true(has_fact(d, M_CHILDREN_ALLOCATED, 0, D(2024, 1, 10), D(2024, 3, 16)));
  assert_int_equal(value_on(d, M_CHILDREN_ON_PLAN, PLAN_CIN, D(2024, 3, 15)), 1);
  assert_int_equal(value_on(d, M_CHILDREN_ON_PLAN, PLAN_CIN, D(2024, 3, 16)), 0);
  assert_int_equal(value_on(d, M_CHILDREN_IN_NEED, 0, D(2024, 3, 16)), 0);
  assert_int_equal(value_on(d, M_CHILDREN_ALLOCATED, 0, D(2024, 3, 16)), 0);
  /* The open-episode duration (point in time) stops too. */
  assert_int_equal(value_on(d, M_CIN_DURATION_OPEN, DUR_UNDER_3M, D(2024, 3, 15)), 1);
  for (int b = 0; b < DUR_COUNT; b++)
    assert_int_equal(value_on(d, M_CIN_DURATION_OPEN, b, D(2024, 3, 16)), 0);
  assert_int_equal(value_on(d, M_QUALITY, Q_AFTER_DEATH, D(2024, 6, 1)), 4);
  /* The order the events arrive in does not matter, the death included. */
  assert_true(check_arrival_orders(h) > 0);
}

TEST(test_q_after_death_recorded_late) {
  /* Everything above is folded as dated while no death is recorded: the
   * episode closes and the plan ends 10 Apr; r2 is referral_while_open. */
  death_history(h);
  const struct child_state *st = fold(h);
  only_finding(h, Q_REFERRAL_WHILE_OPEN, "r2");
  assert_int_equal(st->plans[PLAN_CIN][0].end, D(2024, 4, 10));
  assert_int_equal(value_on(&h->d, M_CHILDREN_IN_NEED, 0, D(2024, 3, 20)), 1);
  /* The date of death, recorded on 1 May after all of them, turns the four
   * events after it into findings and resolves referral_while_open (r2 is
   * no longer folded): the whole history is re-folded. */
  recorded(died(h, "dd", D(2024, 3, 15), D(2024, 3, 15)), D(2024, 5, 1));
  st = fold(h);
  assert_int_equal(st->n_findings, 4);
  assert_false(has_finding(st, Q_REFERRAL_WHILE_OPEN, "r2"));
  assert_true(has_finding(st, Q_AFTER_DEATH, "r2"));
  assert_int_equal(value_on(derive(h), M_CHILDREN_IN_NEED, 0, D(2024, 3, 20)), 0);
}

/*
 * INDICATORS.md, Conventions, "Completions": "an assessment or a Section 47
 * enquiry counts once per id. [...] A second completion of the same id is a
 * data-quality finding and counts nothing more." The issue's enquiry: started
 * 2022-08-15, completions saved 08-18 and 08-23: one enquiry, completed
 * 08-18 (the first), and repeated_completion on the second. The same for an
 * assessment: its first completion's outcome and factors are kept.
 */
TEST(test_q_repeated_completion) {
  s47_start(h, "qs", D(2022, 8, 15), "Q1", "");
  s47_done(h, "q1", D(2022, 8, 18), "Q1", 1);
  s47_done(h, "q2", D(2022, 8, 23), "Q1", 2);
  asmt_start(h, "as", D(2022, 8, 15), "A1", "");
  asmt_done(h, "a1", D(2022, 8, 18), "A1", "", 1, "1A", NULL);
  asmt_done(h, "a2", D(2022, 8, 23), "A1", "", 2, "21", NULL);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_enquiries, 1);                 /* "counts once per id" */
  assert_int_equal(st->enquiries[0].end, D(2022, 8, 18)); /* the first counts */
  assert_int_equal(st->enquiries[0].value, 1);
  assert_int_equal(st->n_assessments, 1);
  assert_int_equal(st->assessments[0].end, D(2022, 8, 18));
  assert_int_equal(st->assessments[0].value, 1);
  assert_string_equal(st->assessments[0].factors[0], "1A");
  /* "a data-quality finding": one on each second completion, nothing else. */
  assert_int_equal(st->n_findings, 2);
  assert_true(has_finding(st, Q_REPEATED_COMPLETION, "q2"));
  assert_true(has_finding(st, Q_REPEATED_COMPLETION, "a2"));
  assert_string_equal(quality_rule_ids[Q_REPEATED_COMPLETION], "repeated_completion");
}

TEST(test_q_after_death_corrected) {
  death_history(h);
  recorded(died(h, "dd", D(2024, 3, 15), D(2024, 3, 15)), D(2024, 3, 18));
  assert_int_equal(fold(h)->n_findings, 4);
  /* The death was recorded against the wrong child: the LA retracts it. The
   * four after_death findings resolve and the events fold as dated (and r2
   * is referral_while_open, as with no death). */
  retract(h, "x1", D(2024, 5, 2), "dd");
  const struct child_state *st = fold(h);
  assert_int_equal(st->details.death, NEVER);
  only_finding(h, Q_REFERRAL_WHILE_OPEN, "r2");
  assert_int_equal(st->plans[PLAN_CIN][0].end, D(2024, 4, 10));
  assert_true(has_fact(&h->d, M_CHILDREN_ON_PLAN, PLAN_CIN, D(2024, 2, 1), D(2024, 4, 10)));
  /* A later death date, 5 Apr 2024, amending it: only c1 and p2 (10 Apr)
   * are after it; v2 and r2 fold (r2 is referral_while_open again). */
  h_reset(h);
  death_history(h);
  recorded(died(h, "dd", D(2024, 3, 15), D(2024, 3, 15)), D(2024, 3, 18));
  supersedes(recorded(died(h, "dd2", D(2024, 4, 5), D(2024, 4, 5)), D(2024, 4, 8)), "dd");
  st = fold(h);
  assert_int_equal(st->details.death, D(2024, 4, 5));
  assert_int_equal(st->n_findings, 3);
  assert_true(has_finding(st, Q_AFTER_DEATH, "p2"));
  assert_true(has_finding(st, Q_AFTER_DEATH, "c1"));
  assert_true(has_finding(st, Q_REFERRAL_WHILE_OPEN, "r2"));
  assert_int_equal(value_on(derive(h), M_CHILDREN_IN_NEED, 0, D(2024, 4, 5)), 1);
  assert_int_equal(value_on(&h->d, M_CHILDREN_IN_NEED, 0, D(2024, 4, 6)), 0);
}

TEST(test_q_after_death_care) {
  /* Looked after from 1 Jan 2024 (placement U1), moved 1 Feb 2024 (U3),
   * died 15 Mar 2024; the period "ended" 20 Mar 2024, after the death. */
  care_start(h, "k1", D(2024, 1, 1), "P1", "C2", "N1", 0, plc(h, "U1", "PR1", 0, 0));
  place(h, "k2", D(2024, 2, 1), "P1", plc(h, "U3", "PR1", 0, 0), "CARPL");
  died(h, "dd", D(2024, 3, 15), D(2024, 3, 15));
  care_end(h, "k3", D(2024, 3, 20), "P1", "E2");
  const struct child_state *st = fold(h);
  only_finding(h, Q_AFTER_DEATH, "k3");
  assert_int_equal(st->plans[PLAN_LAC][0].end, NEVER); /* k3 ends nothing */
  const struct derived *d = &h->d;
  /* Looked after (point in time) up to 15 Mar, not from 16 Mar. */
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2024, 1, 1), D(2024, 3, 16)));
  assert_int_equal(value_on(d, M_PLACEMENT_GROUP, PG_FOSTER, D(2024, 3, 15)), 1);
  assert_int_equal(value_on(d, M_PLACEMENT_GROUP, PG_FOSTER, D(2024, 3, 16)), 0);
  /* placement_changes_avg's children "looked after on some day of the
   * window": the days up to d only, "nor as a member of any denominator for
   * days after d". The 12 months to T hold 15 Mar 2024 while
   * add_months(T, -12) < 15 Mar 2024, i.e. up to T = 14 Mar 2025:
   * [1 Jan 2024, 15 Mar 2025), not for ever. */
  assert_true(has_fact(d, M_LAC_IN_12M, 0, D(2024, 1, 1), D(2025, 3, 15)));
  assert_int_equal(n_facts(d, M_LAC_IN_12M, 0), 1);
  /* The move of 1 Feb 2024, before the death, counts for 12 months. */
  assert_true(has_fact(d, M_PLACEMENT_CHANGES_12M, 0, D(2024, 2, 1), D(2025, 2, 1)));
  /* No exit: k3 is after d. */
  assert_int_equal(n_facts(d, M_CARE_EXITS_12M, -1), 0);
}

/* ---- corrections and order ------------------------------------------------------- */

TEST(test_supersede) {
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  supersedes(recorded(ref_open(h, "r1b", D(2024, 1, 12), "R1", "1B"), D(2024, 1, 15)), "r1");
  ref_close(h, "c1", D(2024, 2, 1), "R1", "RC1", 0);
  supersedes(recorded(ref_close(h, "c1b", D(2024, 2, 20), "R1", "RC2", 1), D(2024, 2, 21)), "c1");
  cp_start(h, "p1", D(2024, 1, 20), "CP1", "R1", "Q"); /* unknown category */
  supersedes(cp_start(h, "p1b", D(2024, 1, 20), "CP1", "R1", "N"), "p1");
  const struct child_state *st = fold(h);
  /* The corrections stand in place of the originals, on their own dates:
   * the referral runs 12 Jan to 20 Feb, 1B, RC2, NFA; the plan is N, and
   * p1's unknown code went with it. */
  assert_int_equal(st->n_referrals, 1);
  ep_is(&st->referrals[0], D(2024, 1, 12), D(2024, 2, 20), "R1", "", "1B", "RC2", EP_NFA);
  assert_string_equal(st->referrals[0].start_event, "r1b");
  assert_int_equal(st->n_plans[PLAN_CP], 1);
  ep_is(&st->plans[PLAN_CP][0], D(2024, 1, 20), NEVER, "CP1", "R1", "N", "", 0);
  assert_string_equal(st->plans[PLAN_CP][0].start_event, "p1b");
  no_findings(h);
  assert_int_equal(n_facts(&h->d, M_REFERRALS_12M, 0), 1);
  assert_true(has_fact(&h->d, M_REFERRALS_12M, 0, D(2024, 1, 12), D(2025, 1, 12)));
}

TEST(test_retract) {
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  ref_close(h, "c1", D(2024, 2, 1), "R1", "RC1", 0);
  retract(h, "x1", D(2024, 2, 5), "c1");
  cp_start(h, "p1", D(2024, 1, 20), "CP1", "R1", "N");
  retract(h, "x2", D(2024, 1, 25), "p1");
  ref_close(h, "c9", D(2024, 3, 1), "R9", "RC1", 0); /* end_without_start ... */
  retract(h, "x3", D(2024, 3, 2), "c9");             /* ... withdrawn */
  const struct child_state *st = fold(h);
  /* Without c1 the referral is open; without p1 there is no plan. */
  assert_int_equal(st->n_referrals, 1);
  ep_is(&st->referrals[0], D(2024, 1, 10), NEVER, "R1", "", "1A", "", 0);
  assert_int_equal(st->n_plans[PLAN_CP], 0);
  no_findings(h);
}

TEST(test_supersede_then_retract) {
  cp_start(h, "a", D(2024, 2, 1), "CP1", "R1", "N");
  supersedes(cp_start(h, "b", D(2024, 2, 3), "CP1", "R1", "E"), "a");
  /* A superseded by B: B's plan, from B's date. */
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_CP], 1);
  ep_is(&st->plans[PLAN_CP][0], D(2024, 2, 3), NEVER, "CP1", "R1", "E", "", 0);
  /* B retracted: neither stands, and nothing is derived. */
  retract(h, "c", D(2024, 2, 10), "b");
  assert_int_equal(fold(h)->n_plans[PLAN_CP], 0);
  const struct derived *d = derive(h);
  assert_int_equal(d->n_facts + d->n_alerts + d->n_findings, 0);
}

TEST(test_correction_target_absent) {
  static struct result base, sup;
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  ref_close(h, "c1", D(2024, 3, 1), "R1", "RC1", 0);  /* ev[0..1]: the base history */
  retract(h, "x1", D(2024, 2, 2), "t1");              /* ev[2]: of an absent event */
  cp_start(h, "t1", D(2024, 2, 1), "CP1", "R1", "N"); /* ev[3]: its target, late */
  /* With the retraction alone, and once the target has arrived: the base. */
  same_result(&base, h->ev, 2, &h->a);
  same_result(&base, h->ev, 3, &h->a);
  same_result(&base, h->ev, 4, &h->a);
  /* (which is one closed referral, no plan, no finding) */
  const struct child_state *st = fold(h);
  ep_is(&st->referrals[0], D(2024, 1, 10), D(2024, 3, 1), "R1", "", "1A", "RC1", 0);
  assert_int_equal(st->n_plans[PLAN_CP] + st->n_findings, 0);

  /* A supersession of an absent event stands as itself (CP2 from 5 Feb, E);
   * when the original (1 Feb, N) arrives nothing changes. */
  h_reset(h);
  ref_open(h, "r1", D(2024, 1, 10), "R1", "1A");
  supersedes(recorded(cp_start(h, "s1", D(2024, 2, 5), "CP2", "R1", "E"), D(2024, 2, 6)), "t2");
  cp_start(h, "t2", D(2024, 2, 1), "CP2", "R1", "N");
  same_result(&sup, h->ev, 2, &h->a);
  same_result(&sup, h->ev, 3, &h->a);
  st = fold(h);
  assert_int_equal(st->n_plans[PLAN_CP], 1);
  ep_is(&st->plans[PLAN_CP][0], D(2024, 2, 5), NEVER, "CP2", "R1", "E", "", 0);
}

TEST(test_same_day) {
  /* A referral closed and opened on 4 Apr, the closure saved first. */
  ref_close(h, "c1", D(2024, 4, 4), "R1", "RC7", 1)->recorded_at_ms -= HOUR_MS;
  ref_open(h, "r1", D(2024, 4, 4), "R1", "2A");
  /* CP1 ends on 1 Jun, CP2 starts on 1 Jun, the end saved last. */
  cp_start(h, "p1", D(2024, 1, 1), "CP1", "R0", "N");
  cp_start(h, "p2", D(2024, 6, 1), "CP2", "R0", "E");
  cp_end(h, "p3", D(2024, 6, 1), "CP1", "P", "RP1")->recorded_at_ms += HOUR_MS;
  const struct child_state *st = fold(h);
  /* A 0-day closed episode, no finding; two plans that do not overlap. */
  assert_int_equal(st->n_referrals, 1);
  ep_is(&st->referrals[0], D(2024, 4, 4), D(2024, 4, 4), "R1", "", "2A", "RC7", EP_NFA);
  assert_int_equal(st->n_plans[PLAN_CP], 2);
  ep_is(&st->plans[PLAN_CP][0], D(2024, 1, 1), D(2024, 6, 1), "CP1", "R0", "N", "P", 0);
  ep_is(&st->plans[PLAN_CP][1], D(2024, 6, 1), NEVER, "CP2", "R0", "E", "", 0);
  no_findings(h);
  /* The 0-day referral was still received: in its 12m window. The child is on
   * a CP plan without a break from 1 Jan (one interval), under two plans. */
  const struct derived *d = &h->d;
  assert_true(has_fact(d, M_REFERRALS_12M, 0, D(2024, 4, 4), D(2025, 4, 4)));
  assert_int_equal(n_facts(d, M_CHILDREN_ON_PLAN, PLAN_CP), 1);
  assert_true(has_fact(d, M_CHILDREN_ON_PLAN, PLAN_CP, D(2024, 1, 1), NEVER));
  assert_int_equal(n_facts(d, M_PLANS_OPEN, PLAN_CP), 2);
}

/* ---- permutations ------------------------------------------------------------------ */

/* The next lexicographic permutation of idx; 0 after the last. */
static int next_perm(size_t *idx, size_t n) {
  size_t i = n - 1, j = n - 1, t;
  while (i > 0 && idx[i - 1] >= idx[i])
    i--;
  if (i == 0)
    return 0;
  while (idx[j] <= idx[i - 1])
    j--;
  t = idx[i - 1], idx[i - 1] = idx[j], idx[j] = t;
  for (size_t a = i, b = n - 1; a < b; a++, b--)
    t = idx[a], idx[a] = idx[b], idx[b] = t;
  return 1;
}

/*
 * Every arrival order of h's events (all of them up to 7 events, else 200
 * orders shuffled from a fixed seed) gives the same derived bytes and state.
 * Returns how many orders were checked.
 */
static size_t check_arrival_orders(struct hist *h) {
  static struct result r;
  r.len = 0;
  struct arena a;
  arena_init(&a, 1 << 16);
  size_t idx[MAXEV], checked = 0;
  CaseEvent *order[MAXEV];
  uint32_t seed = 0x2545F491u;
  for (size_t i = 0; i < h->n; i++)
    idx[i] = i;
  for (int more = 1; more; checked++) {
    for (size_t i = 0; i < h->n; i++)
      order[i] = h->ev[idx[i]];
    arena_reset(&a);
    same_result(&r, order, h->n, &a);
    if (h->n <= 7) {
      more = next_perm(idx, h->n);
      continue;
    }
    for (size_t i = h->n - 1; i > 0; i--) { /* Fisher-Yates, xorshift32 */
      seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
      const size_t j = seed % (i + 1), t = idx[i];
      idx[i] = idx[j], idx[j] = t;
    }
    more = checked + 1 < 200;
  }
  arena_free(&a);
  return checked;
}

TEST(test_permutations_small) {
  ref_open(h, "a1", D(2024, 2, 1), "R1", "3A");
  ref_close(h, "a2", D(2024, 2, 1), "R1", "RC7", 1);
  ref_open(h, "a3", D(2024, 3, 1), "R2", "1A");
  cp_start(h, "a4", D(2024, 3, 5), "CP1", "R2", "N");
  supersedes(recorded(cp_start(h, "a5", D(2024, 3, 6), "CP1", "R2", "P"), D(2024, 3, 7)), "a4");
  cp_end(h, "a6", D(2024, 6, 1), "CP1", "P", "RP1");
  cp_start(h, "a7", D(2024, 6, 1), "CP2", "R2", "E");
  assert_int_equal(check_arrival_orders(h), 5040); /* 7! */
  /* The result, by hand: R1 0 days with NFA; R2 a re-referral (1 Feb 2024 >=
   * 1 Mar 2023); CP1 from a5's 6 Mar, P, to 1 Jun; CP2 from 1 Jun; no finding. */
  const struct child_state *st = fold(h);
  ep_is(&st->referrals[0], D(2024, 2, 1), D(2024, 2, 1), "R1", "", "3A", "RC7", EP_NFA);
  ep_is(&st->referrals[1], D(2024, 3, 1), NEVER, "R2", "", "1A", "", EP_REREFERRAL);
  assert_int_equal(st->n_plans[PLAN_CP], 2);
  ep_is(&st->plans[PLAN_CP][0], D(2024, 3, 6), D(2024, 6, 1), "CP1", "R2", "P", "P", 0);
  ep_is(&st->plans[PLAN_CP][1], D(2024, 6, 1), NEVER, "CP2", "R2", "E", "", 0);
  assert_int_equal(st->n_findings, 0);
}

TEST(test_permutations_long) {
  details(h, "b00", D(2023, 3, 1), 20150704);
  ref_open(h, "b01", D(2023, 3, 1), "R1", "1A");
  asmt_start(h, "b02", D(2023, 3, 2), "A1", "R1");
  asmt_done(h, "b03", D(2023, 4, 2), "A1", "R1", 4, "2A", "3A");
  s47_start(h, "b04", D(2023, 4, 2), "S1", "R1");
  s47_done(h, "b05", D(2023, 4, 20), "S1", 2);
  cp_start(h, "b06", D(2023, 5, 1), "CP1", "R1", "N");
  cp_start(h, "b07", D(2023, 7, 1), "CP2", "R1", "X"); /* overlapping; unknown code */
  cp_end(h, "b08", D(2024, 1, 15), "CP1", "N", "RP1");
  care_start(h, "b09", D(2024, 1, 15), "P1", "C2", "N1", 0, plc(h, "U1", "PR1", 1, 40));
  place(h, "b10", D(2024, 1, 15), "P1", plc(h, "U3", "PR1", 0, 0), "PLACE");
  place(h, "b11", D(2024, 4, 1), "P1", plc(h, "K2", "PR4", 0, 0), "CARPL");
  legal(h, "b12", D(2024, 4, 1), "P1", "V3");
  legal(h, "b13", D(2024, 6, 1), "P1", "C1");
  supersedes(recorded(legal(h, "b14", D(2024, 6, 3), "P1", "C2"), D(2024, 6, 4)), "b13");
  retract(h, "b15", D(2024, 6, 5), "b14"); /* neither b13 nor b14 stands */
  retract(h, "b16", D(2024, 6, 6), "b99"); /* of an absent event */
  adopt(h, "b17", D(2024, 7, 1), AD(DECISION), 0, 0);
  adopt(h, "b18", D(2024, 7, 1), AD(DECISION_REVERSED), 0, 0);
  alloc(h, "b19", D(2023, 3, 1), "W1", 0);
  alloc(h, "b20", D(2024, 1, 15), "W1", 1);
  alloc(h, "b21", D(2024, 1, 15), "W2", 0);
  ref_close(h, "b22", D(2024, 8, 1), "R1", "RC3", 0);
  care_end(h, "b23", D(2024, 8, 1), "P1", "E4A");
  assert_int_equal(check_arrival_orders(h), 200);
  /* By hand: b07 overlaps CP1 and has an unknown code; the legal statuses are
   * C2 and V3 (b13, b14 gone): one looked-after span [15 Jan, 1 Apr 2024). */
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_findings, 2);
  assert_true(has_finding(st, Q_UNKNOWN_CODE, "b07"));
  assert_true(has_finding(st, Q_OVERLAPPING_PLAN, "b07"));
  assert_int_equal(st->n_legal, 2);
  assert_int_equal(st->n_care_spans, 1);
  ep_is(&st->care_spans[0], D(2024, 1, 15), D(2024, 4, 1), "P1", "", "C2", "", 0);
}

/* The order in which a worker saved one day's events never matters: every
 * order of recorded_at among seven events of 3 Jun 2024 (ends of what was
 * open before, starts, a same-day opening and closure) gives one result. */
TEST(test_permutations_save_order) {
  static struct result r;
  ref_open(h, "s1", D(2024, 1, 10), "R1", "1A");
  cp_start(h, "s2", D(2024, 1, 15), "CP1", "R1", "N");
  alloc(h, "s3", D(2024, 1, 10), "W1", 0);
  const csc_date d = D(2024, 6, 3);
  CaseEvent *day[7] = {ref_close(h, "d1", d, "R1", "RC1", 0),
                       ref_open(h, "d2", d, "R2", "3A"),
                       ref_close(h, "d3", d, "R2", "RC7", 1),
                       cp_end(h, "d4", d, "CP1", "N", "RP1"),
                       cp_start(h, "d5", d, "CP2", "R2", "P"),
                       alloc(h, "d6", d, "W1", 1),
                       alloc(h, "d7", d, "W1", 0)};
  struct arena a;
  arena_init(&a, 1 << 16);
  size_t idx[7] = {0, 1, 2, 3, 4, 5, 6}, checked = 0;
  do {
    for (int i = 0; i < 7; i++)
      day[i]->recorded_at_ms = test_ms(d) + (int64_t)idx[i] * 60000;
    arena_reset(&a);
    same_result(&r, h->ev, h->n, &a);
    checked++;
  } while (next_perm(idx, 7));
  assert_int_equal(checked, 5040);
  arena_free(&a);
  /* By hand: R1 ends 3 Jun; R2 opens and closes 3 Jun (a re-referral, NFA);
   * CP1 ends and CP2 starts 3 Jun; W1's allocation ends and a new one starts
   * 3 Jun. No finding. */
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_referrals, 2);
  ep_is(&st->referrals[0], D(2024, 1, 10), d, "R1", "", "1A", "RC1", 0);
  ep_is(&st->referrals[1], d, d, "R2", "", "3A", "RC7", EP_REREFERRAL | EP_NFA);
  ep_is(&st->plans[PLAN_CP][0], D(2024, 1, 15), d, "CP1", "R1", "N", "N", 0);
  ep_is(&st->plans[PLAN_CP][1], d, NEVER, "CP2", "R2", "P", "", 0);
  assert_int_equal(st->n_allocations, 2);
  ep_is(&st->allocations[0], D(2024, 1, 10), d, "W1", "", "", "", 0);
  ep_is(&st->allocations[1], d, NEVER, "W1", "", "", "", 0);
  assert_int_equal(st->n_findings, 0);
}

/*
 * referral_outcome's LAC stage starts on the period's first looked-after
 * day (INDICATORS.md, "Exclusions": "a day is looked after when its status
 * is not V3/V4"), and belongs to the episode when that day is in [s, e]
 * ("a stage that starts on the closure date belongs to the episode").
 * R1 opened 10 Jan 2024 (open). P1 from 1 Feb 2024 under V3, C2 from 1 Mar:
 * pending on 15 Feb (no stage yet: the V3 days are not looked after), LAC
 * from 1 Mar. A referral of another child R2, 10 Jan 2024, with a period
 * under V4 since 1 Dec 2023 (before the referral) that turns C2 on 1 Feb:
 * LAC from 1 Feb, its first looked-after day, in the episode.
 */
TEST(test_referral_outcome_lac_stage_by_status) {
  ref_open(h, "o1", D(2024, 1, 10), "R1", "1A");
  care_start(h, "o2", D(2024, 2, 1), "P1", "V3", "N1", 0, NULL);
  legal(h, "o3", D(2024, 3, 1), "P1", "C2");
  const struct derived *d = (fold(h), derive(h));
  assert_int_equal(value_on(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2024, 2, 15)), 1);
  assert_int_equal(value_on(d, M_REFERRAL_OUTCOME_12M, OUT_LAC, D(2024, 2, 15)), 0);
  assert_int_equal(value_on(d, M_REFERRAL_OUTCOME_12M, OUT_LAC, D(2024, 3, 1)), 1);
  h_reset(h);
  care_start(h, "o4", D(2023, 12, 1), "P2", "V4", "N1", 0, NULL);
  ref_open(h, "o5", D(2024, 1, 10), "R2", "1A");
  legal(h, "o6", D(2024, 2, 1), "P2", "C2");
  d = (fold(h), derive(h));
  assert_int_equal(value_on(d, M_REFERRAL_OUTCOME_12M, OUT_PENDING, D(2024, 1, 31)), 1);
  assert_int_equal(value_on(d, M_REFERRAL_OUTCOME_12M, OUT_LAC, D(2024, 2, 1)), 1);
}

/* ---- what the returns record (issue 16) ---------------------------------------- */

/* Payloads with no builder above, built in place. */
static CaseEvent *need_change(HDR, const char *period, const char *need)
    BUILD(CATEGORY_OF_NEED_CHANGED, category_of_need_changed, CategoryOfNeedChanged,
          p->period_id = S(period), p->category_of_need = S(need))
static CaseEvent *review(HDR, const char *plan, int kind, const char *participation)
    BUILD(REVIEW_HELD, review_held, ReviewHeld, p->plan_id = S(plan),
          p->kind = (Cscflow__V1__ReviewKind)kind, p->participation_code = S(participation))
static CaseEvent *missing_start(HDR, const char *episode, int kind)
    BUILD(MISSING_STARTED, missing_started, MissingStarted, p->episode_id = S(episode),
          p->kind = (Cscflow__V1__MissingKind)kind)
static CaseEvent *missing_end(HDR, const char *episode)
    BUILD(MISSING_ENDED, missing_ended, MissingEnded, p->episode_id = S(episode))
static CaseEvent *prev_perm(HDR, const char *code, const char *la, uint32_t date)
    BUILD(PREVIOUS_PERMANENCE, previous_permanence, PreviousPermanence, p->kind_code = S(code),
          p->la_code = S(la), p->order_date = date)

#define RK(x) CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_##x
#define MK(x) CSCFLOW__V1__MISSING_KIND__MISSING_KIND_##x

/* Every field the SSDA903 and CIN census add lands where state.h says, in
 * every arrival order. By hand, from the events: */
TEST(test_returns_fields) {
  CaseEvent *c = details(h, "f01", D(2023, 1, 2), 20070301);
  c->child_details->uasc = 1;
  c->child_details->uasc_ceased_on = 20250301; /* DUC: the 18th birthday */
  CaseEvent *r = ref_open(h, "f02", D(2023, 1, 3), "R1", "1A");
  r->referral_opened->primary_need = S("N1");
  r->referral_opened->no_further_action = 1; /* ReferralNFA while still open */
  CaseEvent *s = s47_start(h, "f03", D(2023, 1, 4), "S1", "R1");
  s->section47_started->icpc_target_date = 20230125;
  s47_done(h, "f04", D(2023, 1, 9), "S1", 2)->section47_completed->icpc_not_required = 1;
  CaseEvent *cp = cp_start(h, "f05", D(2023, 1, 10), "CP1", "R1", "N");
  cp->cp_plan_started->previous_cp_plans = 2;
  cp->cp_plan_started->previous_cp_plans_recorded = 1;
  care_start(h, "f06", D(2023, 2, 1), "P1", "C2", "N1", 1, plc(h, "U1", "PR1", 0, 0));
  need_change(h, "f07", D(2023, 3, 1), "P1", "N4");
  place(h, "f08", D(2023, 4, 1), "P1", plc(h, "U4", "PR1", 0, 0), "OTHER")
      ->placement_started->reason_for_new_episode = S("T");
  legal(h, "f09", D(2023, 5, 1), "P1", "C1")->legal_status_changed->reason_for_new_episode =
      S("L");
  leaver(h, "f10", D(2023, 6, 1), 0, "G4", 3, "B", 0)->care_leaver_contact->in_touch_code =
      S("RHOM");
  alloc(h, "f11", D(2023, 1, 3), "W1", 0)->worker_allocated->team_id = S("T7");
  alloc(h, "f12", D(2023, 7, 1), "W1", 1)->worker_allocated->end_reason = S("LEFTRL");
  prev_perm(h, "f13", D(2023, 2, 1), "P2", "E09000001", 20190402);
  assert_int_equal(check_arrival_orders(h), 200);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_findings, 0);
  assert_int_equal(st->details.uasc_ceased, D(2025, 3, 1));
  assert_string_equal(st->referrals[0].extra, "N1");
  assert_int_equal(st->referrals[0].flags, EP_NFA_AT_REFERRAL);
  assert_int_equal(st->enquiries[0].due, D(2023, 1, 25));
  assert_int_equal(st->enquiries[0].flags, EP_ICPC_NOT_REQUIRED);
  assert_int_equal(st->plans[PLAN_CP][0].value, 2);
  assert_int_equal(st->plans[PLAN_CP][0].flags, EP_PREVIOUS_RECORDED);
  /* The need at the start, then N4 from 1 Mar; the period keeps its start need. */
  assert_int_equal(st->n_needs, 2);
  assert_string_equal(st->needs[0].code, "N1");
  assert_int_equal(st->needs[1].date, D(2023, 3, 1));
  assert_string_equal(st->needs[1].code, "N4");
  assert_string_equal(st->plans[PLAN_LAC][0].extra, "N1");
  /* The first placement starts the period (RNE S); the move keeps the carer (T). */
  assert_int_equal(st->n_placements, 2);
  assert_string_equal(st->placements[0].rne, "S");
  assert_string_equal(st->placements[1].rne, "T");
  assert_string_equal(st->legal[0].code2, "S");
  assert_string_equal(st->legal[1].code2, "L");
  assert_string_equal(st->leaver_contacts[0].code3, "RHOM");
  ep_is(&st->allocations[0], D(2023, 1, 3), D(2023, 7, 1), "W1", "T7", "", "", 0);
  assert_string_equal(st->allocations[0].reason, "LEFTRL");
  assert_int_equal(st->n_prev_permanence, 1);
  assert_string_equal(st->prev_permanence[0].code, "P2");
  assert_string_equal(st->prev_permanence[0].code2, "E09000001");
  assert_int_equal(st->prev_permanence[0].value, 20190402);
}

/* review_outside_plan (docs/quality-rules.md): a review is held on a day of
 * the plan it names, start to end with the end date included. CP1 runs
 * 10 Jan to 1 Jun 2023; P1 (care) from 1 Feb 2023, open. */
TEST(test_q_review_outside_plan) {
  cp_start(h, "v01", D(2023, 1, 10), "CP1", "R1", "N");
  cp_end(h, "v02", D(2023, 6, 1), "CP1", "N", "RP1");
  care_start(h, "v03", D(2023, 2, 1), "P1", "C2", "N1", 0, NULL);
  review(h, "v04", D(2023, 1, 10), "CP1", RK(CP), "");    /* the plan's first day: held */
  review(h, "v05", D(2023, 6, 1), "CP1", RK(CP), "");     /* the review that ends it: held */
  review(h, "v06", D(2023, 7, 3), "CP1", RK(CP), "");     /* after the end: outside */
  review(h, "v07", D(2023, 3, 1), "CP9", RK(CP), "");     /* of a plan never started */
  review(h, "v08", D(2023, 2, 22), "P1", RK(LAC), "PN1");  /* in care: held */
  review(h, "v09", D(2023, 1, 31), "P1", RK(LAC), "PN1");  /* the day before care: outside */
  review(h, "v10", D(2023, 3, 1), "", RK(LAC), "PN0");     /* no id: any period open */
  assert_int_equal(check_arrival_orders(h), 200);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_reviews, 7);
  assert_int_equal(st->n_findings, 3);
  assert_true(has_finding(st, Q_REVIEW_OUTSIDE_PLAN, "v06"));
  assert_true(has_finding(st, Q_REVIEW_OUTSIDE_PLAN, "v07"));
  assert_true(has_finding(st, Q_REVIEW_OUTSIDE_PLAN, "v09"));
  assert_string_equal(quality_rule_ids[Q_REVIEW_OUTSIDE_PLAN], "review_outside_plan");
}

/* Missing episodes: kept in or out of care; outside care is
 * missing_outside_care; a return before its start end_before_start; a
 * return from nothing end_without_start. Care P1: 1 Jan to 1 May 2023. */
TEST(test_q_missing) {
  care_start(h, "m01", D(2023, 1, 1), "P1", "C2", "N1", 0, NULL);
  care_end(h, "m02", D(2023, 5, 1), "P1", "E4A");
  missing_start(h, "m03", D(2023, 1, 1), "M1", MK(MISSING)); /* the first day of care */
  missing_end(h, "m04", D(2023, 1, 3), "M1");
  missing_start(h, "m05", D(2023, 3, 1), "M2", MK(AWAY)); /* still away */
  missing_start(h, "m06", D(2023, 5, 1), "M3", MK(MISSING)); /* the day care ended: outside */
  missing_end(h, "m07", D(2023, 6, 1), "M4");                 /* its start is later */
  missing_start(h, "m08", D(2023, 6, 5), "M4", MK(MISSING));  /* outside care too */
  missing_end(h, "m09", D(2023, 6, 9), "M9");                 /* of nothing */
  assert_int_equal(check_arrival_orders(h), 200);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_missing, 4);
  ep_is(&st->missing[0], D(2023, 1, 1), D(2023, 1, 3), "M1", "", "", "", 0);
  assert_int_equal(st->missing[0].value, MK(MISSING));
  ep_is(&st->missing[1], D(2023, 3, 1), NEVER, "M2", "", "", "", 0);
  assert_int_equal(st->missing[1].value, MK(AWAY));
  ep_is(&st->missing[3], D(2023, 6, 5), NEVER, "M4", "", "", "", 0);
  assert_int_equal(st->n_findings, 4);
  assert_true(has_finding(st, Q_MISSING_OUTSIDE_CARE, "m06"));
  assert_true(has_finding(st, Q_MISSING_OUTSIDE_CARE, "m08"));
  assert_true(has_finding(st, Q_END_BEFORE_START, "m07"));
  assert_true(has_finding(st, Q_END_WITHOUT_START, "m09"));
}

/* A category of need change with no open period changes nothing and is
 * end_without_start, like a legal status. */
TEST(test_q_need_change_outside_care) {
  care_start(h, "n01", D(2023, 1, 1), "P1", "C2", "N1", 0, NULL);
  care_end(h, "n02", D(2023, 3, 1), "P1", "E13");
  need_change(h, "n03", D(2023, 4, 1), "P1", "N2");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_needs, 1);
  assert_int_equal(st->n_findings, 1);
  assert_true(has_finding(st, Q_END_WITHOUT_START, "n03"));
}

/* The worker's ethnicity, seniority and team ride on the employment. */
TEST(test_workforce_diversity_fields) {
  CaseEvent *w = wf(h, "w01", D(2023, 1, 2), "W1", "", WF(STARTED), 100);
  w->workforce->ethnicity = S("ABAN");
  w->workforce->seniority = CSCFLOW__V1__SENIORITY__SENIORITY_SENIOR_PRACTITIONER_OR_TEAM_MANAGER;
  w->workforce->team_id = S("T7");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_employments, 1);
  assert_string_equal(st->employments[0].code, "ABAN");
  assert_string_equal(st->employments[0].extra, "T7");
  assert_int_equal(EP_SENIORITY(st->employments[0].flags), 2);
  assert_int_equal(st->employments[0].flags & EP_AGENCY, 0);
}

/* ---- cp_reviews_timely, lac_reviews_timely (state/facts_reviews.c) --------------- */

/* The child's (den, num) of a review indicator on T. */
static void reviews_on(struct hist *h, int due, int timely, csc_date t, int den, int num) {
  const struct derived *d = derive(h);
  assert_int_equal(value_on(d, due, 0, t), den);
  assert_int_equal(value_on(d, timely, 0, t), num);
}

/*
 * INDICATORS.md, cp_reviews_timely: "of children on a CP plan on T that has
 * lasted at least 3 months, % whose reviews were all held in time: the
 * first within 3 months of the plan's start (the ICPC), each later one
 * within 6 months of the previous review (Working Together)". Working
 * Together: "The first review conference is normally convened three months
 * after a Child Protection Plan is first drawn up, then at intervals of not
 * more than six months."
 * CP1: 10 Jan 2023 to 1 Jun 2024. Due 10 Apr 2023; reviewed 5 Apr (in
 * time), due 5 Oct 2023; reviewed 5 Oct (on the day: in time), due 5 Apr
 * 2024; none after, so late from 6 Apr 2024. A review naming another plan
 * (CP9, 1 Mar 2024) reviews CP9, not CP1.
 */
TEST(test_cp_reviews_timely) {
  cp_start(h, "c1", D(2023, 1, 10), "CP1", "R1", "N");
  review(h, "c2", D(2023, 4, 5), "CP1", RK(CP), "");
  review(h, "c3", D(2023, 10, 5), "", RK(CP), "");
  review(h, "c4", D(2024, 3, 1), "CP9", RK(CP), "");
  cp_end(h, "c5", D(2024, 6, 1), "CP1", "N", "RP1");
  fold(h);
  reviews_on(h, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, D(2023, 4, 9), 0, 0); /* under 3 months */
  reviews_on(h, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, D(2023, 4, 10), 1, 1);
  reviews_on(h, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, D(2024, 4, 5), 1, 1);
  reviews_on(h, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, D(2024, 4, 6), 1, 0);
  reviews_on(h, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, D(2024, 6, 1), 0, 0); /* ended */
}

/* A first review one day late: not in time from the day after the due
 * date, and a later timely review does not make "all held in time" true
 * again. CP1 from 10 Jan 2023: due 10 Apr; reviewed 11 Apr, then 1 May. */
TEST(test_cp_reviews_late_stays_late) {
  cp_start(h, "c1", D(2023, 1, 10), "CP1", "R1", "P");
  review(h, "c2", D(2023, 4, 11), "CP1", RK(CP), "");
  review(h, "c3", D(2023, 5, 1), "CP1", RK(CP), "");
  fold(h);
  reviews_on(h, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, D(2023, 4, 10), 1, 1);
  reviews_on(h, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, D(2023, 4, 11), 1, 0);
  reviews_on(h, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, D(2023, 6, 1), 1, 0);
}

/*
 * INDICATORS.md, lac_reviews_timely: "of children looked after on T (not
 * V3/V4) for at least 20 working days, % whose reviews of the current period
 * were all held in time: the first within 20 working days of the start, the
 * second within 3 months of the first, each later one within 6 months of
 * the previous". CPR 2010 reg. 33: "The responsible authority must first
 * review C's case within 20 working days of the date on which C becomes
 * looked after. (2) The second review must be carried out not more than
 * three months after the first, and subsequent reviews must be carried out
 * at intervals of not more than six months."
 * P1 from Mon 4 Sep 2023 (no bank holiday in Sep or Oct 2023): the 20th
 * working day after it is Mon 2 Oct (5-8 Sep 4, 11-15 9, 18-22 14, 25-29 19,
 * 2 Oct 20). Reviewed 29 Sep (in time), next due 29 Dec; reviewed 20 Dec,
 * next due 20 Jun 2024; none after: late from 21 Jun 2024. Under V3 from
 * 1 Mar to 1 Apr 2024 the child is not looked after: in neither count.
 */
TEST(test_lac_reviews_timely) {
  care_start(h, "l1", D(2023, 9, 4), "P1", "C2", "N1", 0, NULL);
  review(h, "l2", D(2023, 9, 29), "P1", RK(LAC), "PN1");
  review(h, "l3", D(2023, 12, 20), "P1", RK(LAC), "PN1");
  review(h, "l4", D(2023, 11, 1), "P1", RK(CP), ""); /* another kind: not a LAC review */
  legal(h, "l5", D(2024, 3, 1), "P1", "V3");
  legal(h, "l6", D(2024, 4, 1), "P1", "C2");
  fold(h);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2023, 10, 1), 0, 0);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2023, 10, 2), 1, 1);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2023, 12, 29), 1, 1);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2024, 3, 15), 0, 0); /* V3 */
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2024, 6, 20), 1, 1);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2024, 6, 21), 1, 0);
}

/* The second review is due 3 months after the first: reviewed 29 Sep 2023
 * (in time), the next on 2 Jan 2024 is 4 days past 29 Dec: late from 30 Dec.
 * A death on 15 Feb 2024 ends both counts after that day. */
TEST(test_lac_reviews_second_late) {
  care_start(h, "l1", D(2023, 9, 4), "P1", "C2", "N1", 0, NULL);
  review(h, "l2", D(2023, 9, 29), "P1", RK(LAC), "PN1");
  review(h, "l3", D(2024, 1, 2), "P1", RK(LAC), "PN1");
  details(h, "l4", D(2024, 2, 16), 20100101)->child_details->date_of_death = 20240215;
  fold(h);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2023, 12, 29), 1, 1);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2023, 12, 30), 1, 0);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2024, 2, 15), 1, 0);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2024, 2, 16), 0, 0);
}

/*
 * missing_from_care (INDICATORS.md): "children looked after in the window
 * (not V3/V4) who had at least one missing episode, count and % of children
 * looked after in the window; incidents, and incidents per child who went
 * missing". The 903's two kinds (DfE): "Missing from care: a looked-after
 * child who is not at their placement or the place they are expected to be
 * ... and their whereabouts is not known"; "Away from placement without
 * authorisation: ... whose whereabouts is known".
 * P1 1 May 2023 to 1 Feb 2024. Missing 10 Jun and 1 Aug 2023, away 1 Sep
 * 2023; missing 20 Apr 2023, before care: missing_outside_care, counted in
 * nothing.
 */
TEST(test_missing_from_care) {
  care_start(h, "x1", D(2023, 5, 1), "P1", "C2", "N1", 0, NULL);
  care_end(h, "x2", D(2024, 2, 1), "P1", "E13");
  missing_start(h, "x3", D(2023, 6, 10), "M1", MK(MISSING));
  missing_end(h, "x4", D(2023, 6, 11), "M1");
  missing_start(h, "x5", D(2023, 8, 1), "M2", MK(MISSING));
  missing_start(h, "x6", D(2023, 9, 1), "A1", MK(AWAY));
  missing_start(h, "x7", D(2023, 4, 20), "M0", MK(MISSING));
  const struct derived *d = (fold(h), derive(h));
  /* 31 Mar 2024, 12m (31 Mar 2023, 31 Mar 2024]: every incident in care. */
  const csc_date t = D(2024, 3, 31);
  assert_int_equal(value_on(d, M_MISSING_INCIDENTS_12M, 0, t), 2);
  assert_int_equal(value_on(d, M_MISSING_CHILDREN_12M, 0, t), 1);
  assert_int_equal(value_on(d, M_MISSING_INCIDENTS_12M, 1, t), 1);
  assert_int_equal(value_on(d, M_MISSING_CHILDREN_12M, 1, t), 1);
  assert_int_equal(value_on(d, M_LAC_IN_12M, 0, t), 1);
  assert_int_equal(value_on(d, M_MISSING_INCIDENTS_FYTD, 0, t), 2);
  assert_int_equal(value_on(d, M_MISSING_CHILDREN_FYTD, 0, t), 1);
  assert_int_equal(value_on(d, M_LAC_IN_FYTD, 0, t), 1);
  /* 10 Jun 2024: the window (10 Jun 2023, 10 Jun 2024] no longer holds 10 Jun 2023. */
  assert_int_equal(value_on(d, M_MISSING_INCIDENTS_12M, 0, D(2024, 6, 10)), 1);
  assert_int_equal(value_on(d, M_MISSING_CHILDREN_12M, 0, D(2024, 6, 10)), 1);
  assert_int_equal(value_on(d, M_MISSING_CHILDREN_12M, 0, D(2024, 8, 1)), 0);
  assert_int_equal(value_on(d, M_MISSING_CHILDREN_12M, 1, D(2024, 8, 1)), 1);
  /* 1 Apr 2024, a new year: nothing in its FYTD; the last day in care, 31 Jan
   * 2024, was in the year before. */
  assert_int_equal(value_on(d, M_MISSING_CHILDREN_FYTD, 0, D(2024, 4, 1)), 0);
  assert_int_equal(value_on(d, M_LAC_IN_FYTD, 0, D(2024, 4, 1)), 0);
  assert_int_equal(value_on(d, M_LAC_IN_FYTD, 0, D(2023, 4, 30)), 0); /* before care */
  assert_true(has_finding(&h->st, Q_MISSING_OUTSIDE_CARE, "x7"));
}

/*
 * care_leavers' in-touch values (INDICATORS.md: "the share of each in-touch
 * value the 903 records (in touch, not in touch, refused, no longer requires
 * services, returned home, died)"). The 903's IN_TOUCH codes: YES "Yes - in
 * touch", NO, DIED "Died after leaving care", REFU "Young person refuses
 * contact", NREQ "Young person no longer requires children's social care
 * services", RHOM "Young person returned to live with parents ...": only
 * YES is in touch. Born 1 Jun 2004 (19 in 2023). 1 Jul 2023: RHOM with the
 * in_touch flag set (the code wins: not in touch); 1 Oct 2023: the flag
 * only (YES).
 */
TEST(test_care_leaver_in_touch_values) {
  details(h, "k1", D(2004, 6, 1), 20040601);
  leaver(h, "k2", D(2023, 7, 1), 1, "F1", 1, "B", 1)->care_leaver_contact->in_touch_code =
      S("RHOM");
  leaver(h, "k3", D(2023, 10, 1), 1, "F1", 1, "B", 1);
  const struct derived *d = (fold(h), derive(h));
  const int rhom = LEAVER_IN_TOUCH_VALUES + 4, yes = LEAVER_IN_TOUCH_VALUES;
  assert_string_equal(leaver_in_touch_codes[4], "RHOM");
  assert_int_equal(value_on(d, M_CARE_LEAVERS_12M, 0, D(2023, 8, 1)), 1); /* contacted */
  assert_int_equal(value_on(d, M_CARE_LEAVERS_12M, 1, D(2023, 8, 1)), 0); /* in touch */
  assert_int_equal(value_on(d, M_CARE_LEAVERS_12M, rhom, D(2023, 8, 1)), 1);
  assert_int_equal(value_on(d, M_CARE_LEAVERS_12M, yes, D(2023, 8, 1)), 0);
  assert_int_equal(value_on(d, M_CARE_LEAVERS_12M, 1, D(2023, 11, 1)), 1);
  assert_int_equal(value_on(d, M_CARE_LEAVERS_12M, yes, D(2023, 11, 1)), 1);
  assert_int_equal(value_on(d, M_CARE_LEAVERS_12M, rhom, D(2023, 11, 1)), 0);
}

/*
 * sw_diversity (INDICATORS.md: "% of social worker FTE by ethnic group
 * (CSWW census groups), overall and by seniority (practitioner, senior
 * practitioner / team manager, service manager and above) on T"). A worker
 * ABAN (Asian), senior practitioner, 0.8 FTE from 2 Jan 2023; from 1 Jul
 * 2023 1.0 FTE as a service manager (a STARTED while employed changes the
 * hours: the first employment ends that day).
 */
TEST(test_sw_diversity) {
  CaseEvent *w = wf(h, "w01", D(2023, 1, 2), "W1", "", WF(STARTED), 80);
  w->workforce->ethnicity = S("ABAN");
  w->workforce->seniority = CSCFLOW__V1__SENIORITY__SENIORITY_SENIOR_PRACTITIONER_OR_TEAM_MANAGER;
  w = wf(h, "w02", D(2023, 7, 1), "W1", "", WF(STARTED), 100);
  w->workforce->ethnicity = S("ABAN");
  w->workforce->seniority = CSCFLOW__V1__SENIORITY__SENIORITY_SERVICE_MANAGER_OR_ABOVE;
  const struct derived *d = (fold(h), derive(h));
  assert_int_equal(ethnic_group_of("ABAN"), EG_ASIAN);
  assert_int_equal(ethnic_group_of("CHNE"), EG_ASIAN);
  assert_int_equal(ethnic_group_of("REFU"), EG_UNKNOWN);
  assert_int_equal(ethnic_group_of(""), EG_UNKNOWN);
  assert_int_equal(ethnic_group_of("WXYZ"), EG_UNKNOWN); /* in no list: not known */
  const csc_date before = D(2023, 6, 30), after = D(2023, 7, 1);
  assert_int_equal(value_on(d, M_DIVERSITY_FTE, DIVERSITY_BUCKET(0, EG_ASIAN), before), 80);
  assert_int_equal(value_on(d, M_DIVERSITY_FTE, DIVERSITY_BUCKET(2, EG_ASIAN), before), 80);
  assert_int_equal(value_on(d, M_DIVERSITY_FTE, DIVERSITY_BUCKET(2, DIVERSITY_ALL_GROUPS), before),
                   80);
  assert_int_equal(value_on(d, M_DIVERSITY_FTE, DIVERSITY_BUCKET(3, EG_ASIAN), before), 0);
  assert_int_equal(value_on(d, M_DIVERSITY_FTE, DIVERSITY_BUCKET(0, EG_ASIAN), after), 100);
  assert_int_equal(value_on(d, M_DIVERSITY_FTE, DIVERSITY_BUCKET(2, EG_ASIAN), after), 0);
  assert_int_equal(value_on(d, M_DIVERSITY_FTE, DIVERSITY_BUCKET(3, EG_ASIAN), after), 100);
  assert_int_equal(value_on(d, M_WORKERS_FTE, 0, after), 100); /* the overall denominator */
}

/* unknown_code covers the fields issue 16 added, by the lists of
 * reference/code-lists.csv (RNE S L P T B U; IN_TOUCH YES NO DIED REFU NREQ
 * RHOM; PrimaryNeedCode N0-N9; REVIEW_CODE PN0-PN7; PREV_PERM P1-P4 Z1;
 * SW_REASON; ethnicity): one bad code each, and the event still folds. */
TEST(test_q_unknown_code_returns_fields) {
  care_start(h, "u01", D(2023, 1, 2), "P1", "C2", "N1", 0, plc(h, "U1", "PR1", 0, 0));
  place(h, "u02", D(2023, 2, 1), "P1", plc(h, "U4", "PR1", 0, 0), "OTHER")
      ->placement_started->reason_for_new_episode = S("X");
  legal(h, "u03", D(2023, 3, 1), "P1", "C1")->legal_status_changed->reason_for_new_episode = S("Q");
  leaver(h, "u04", D(2023, 4, 1), 1, "F1", 1, "B", 1)->care_leaver_contact->in_touch_code =
      S("MAYBE");
  ref_open(h, "u05", D(2023, 1, 3), "R1", "1A")->referral_opened->primary_need = S("N10");
  need_change(h, "u06", D(2023, 5, 1), "P1", "N9");
  review(h, "u07", D(2023, 1, 20), "P1", RK(LAC), "PN8");
  prev_perm(h, "u08", D(2023, 1, 2), "P5", "", 0);
  alloc(h, "u09", D(2023, 1, 3), "W1", 0);
  alloc(h, "u10", D(2023, 6, 1), "W1", 1)->worker_allocated->end_reason = S("GONE");
  review(h, "u11", D(2023, 7, 1), "P1", RK(LAC), "PN7"); /* valid: no finding */
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_placements, 2); /* folded all the same */
  const char *bad[] = {"u02", "u03", "u04", "u05", "u06", "u07", "u08", "u10"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_true(has_finding(st, Q_UNKNOWN_CODE, bad[i]));
  assert_int_equal(st->n_findings, 8);
}

/* A statutory return restates (fold.c, RESTATEMENTS): year N's SSDA903
 * import ends the period on 1 Feb 2023 with E4A; year N+1's, recorded a
 * year later, says 3 Feb 2023 and E13. One period, ended as the later
 * return says, and no finding (the earlier end takes no part). The placement
 * move both returns record on 1 Aug (type U1, then corrected to U2) is one
 * move, of type U2. The same
 * two ends from a CMS (another source, no correction named) are two ends of
 * one period: the second is reported, as before. */
TEST(test_return_restatements) {
  const csc_date start = date_from_ymd(2022, 6, 1), moved = date_from_ymd(2022, 8, 1);
  const int64_t year_n = test_ms(date_from_ymd(2023, 3, 31));
  const int64_t year_n1 = test_ms(date_from_ymd(2024, 3, 31));
  Cscflow__V1__Placement u1 = CSCFLOW__V1__PLACEMENT__INIT, u2 = CSCFLOW__V1__PLACEMENT__INIT;
  u1.placement_type = "U1";
  u2.placement_type = "U2";
  for (int cms = 0; cms < 2; cms++) {
    h_reset(h);
    CaseEvent *e[] = {
        care_start(h, "s", start, "P20220601", "C2", "N1", 0, NULL),
        place(h, "m1", moved, "P20220601", &u1, "CARPL"),
        care_end(h, "x1", date_from_ymd(2023, 2, 1), "P20220601", "E4A"),
        place(h, "m2", moved, "P20220601", &u2, "CARPL"),
        care_end(h, "x2", date_from_ymd(2023, 2, 3), "P20220601", "E13"),
    };
    for (size_t i = 0; i < sizeof e / sizeof *e; i++) {
      e[i]->source_system = cms ? "liquidlogic" : "ssda903";
      e[i]->recorded_at_ms = i < 3 ? year_n : year_n1;
    }
    const struct child_state *st = fold(h);
    assert_int_equal(st->n_plans[PLAN_LAC], 1);
    if (!cms) {
      assert_int_equal(st->plans[PLAN_LAC][0].end, date_from_ymd(2023, 2, 3));
      assert_string_equal(st->plans[PLAN_LAC][0].end_code, "E13");
      assert_int_equal(st->n_placements, 1); /* one move: the later return's */
      assert_string_equal(st->placements[0].code, "U2");
      assert_int_equal(st->n_findings, 0);
    } else {
      assert_int_equal(st->plans[PLAN_LAC][0].end, date_from_ymd(2023, 2, 1));
      assert_int_equal(st->n_placements, 2);
      assert_true(has_finding(st, Q_END_WITHOUT_START, "x2"));
    }
  }
}

/* ---- continuing periods of care (PeriodOfCareStarted.continuing) --------------- */

/* A continuing start (events.proto): the period began before occurred_on, on
 * a day the source does not know. */
static CaseEvent *continuing(CaseEvent *e) {
  e->period_of_care_started->continuing = 1;
  return e;
}

/*
 * state/fold.c: "none --PeriodOfCareStarted(continuing)--> looked after,
 * start unknown (EP_START_UNKNOWN; period_start_unknown)"; "with none open
 * its period is looked after from occurred_on but is no entry to care".
 * K1 from 3 Apr 2023 (a Monday), C2, N1, in U1 foster care: one period,
 * flagged, the finding on k01 and nothing else. Its first legal status and
 * placement carry no RNE S (the return had no S row).
 */
TEST(test_continuing_start_unknown) {
  details(h, "k00", D(2015, 6, 1), 20150601);
  continuing(care_start(h, "k01", D(2023, 4, 3), "K1", "C2", "N1", 0, plc(h, "U1", "PR1", 0, 0)));
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_LAC], 1);
  ep_is(&st->plans[PLAN_LAC][0], D(2023, 4, 3), NEVER, "K1", "", "C2", "", EP_START_UNKNOWN);
  only_finding(h, Q_PERIOD_START_UNKNOWN, "k01");
  assert_string_equal(quality_rule_ids[Q_PERIOD_START_UNKNOWN], "period_start_unknown");
  assert_int_equal(st->n_legal, 1);
  assert_string_equal(st->legal[0].code2, "");
  assert_int_equal(st->n_placements, 1);
  assert_string_equal(st->placements[0].rne, "");
  const struct derived *d = derive(h);
  /* "That period is NOT an entry to care": no care_entries fact in either
   * window, no LAC start in repeat_plan's denominator. */
  assert_int_equal(n_facts(d, M_CARE_ENTRIES_12M, -1), 0);
  assert_int_equal(n_facts(d, M_CARE_ENTRIES_FYTD, -1), 0);
  assert_int_equal(n_facts(d, M_PLANS_STARTED_12M, PLAN_LAC), 0);
  assert_int_equal(n_facts(d, M_PLANS_STARTED_FYTD, PLAN_LAC), 0);
  /* Looked after from occurred_on: counted on 1 Oct 2023, not on 2 Apr. */
  assert_int_equal(value_on(d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2023, 4, 2)), 0);
  assert_int_equal(value_on(d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2023, 10, 1)), 1);
  assert_int_equal(value_on(d, M_PLACEMENT_GROUP, PG_FOSTER, D(2023, 10, 1)), 1);
  /* Durations from the known days (docs/indicators.md): lasted 6 months on
   * 3 Oct 2023, 6 months after the first recorded day. */
  const int over6 = PLAN_LAC * N_THRESHOLDS + 0;
  assert_int_equal(value_on(d, M_PLANS_OPEN_OVER, over6, D(2023, 10, 2)), 0);
  assert_int_equal(value_on(d, M_PLANS_OPEN_OVER, over6, D(2023, 10, 3)), 1);
  /* placement_stability_long's 2.5 years: from the first T with
   * add_months(T, -30) >= 3 Apr 2023, i.e. 3 Oct 2025 (aged 10). */
  assert_int_equal(value_on(d, M_STABILITY_LONG_DEN, 0, D(2025, 10, 2)), 0);
  assert_int_equal(value_on(d, M_STABILITY_LONG_DEN, 0, D(2025, 10, 3)), 1);
  assert_int_equal(check_arrival_orders(h), 2);
}

/*
 * The same start without `continuing` keeps today's behaviour: no flag, no
 * finding, RNE S, an entry counted on its day (care_entries, bucket 2 = all;
 * not UASC: bucket 1), and a LAC plan started.
 */
TEST(test_continuing_normal_start_unchanged) {
  care_start(h, "n01", D(2023, 4, 3), "K1", "C2", "N1", 0, plc(h, "U1", "PR1", 0, 0));
  const struct child_state *st = fold(h);
  ep_is(&st->plans[PLAN_LAC][0], D(2023, 4, 3), NEVER, "K1", "", "C2", "", 0);
  no_findings(h);
  assert_string_equal(st->legal[0].code2, "S");
  assert_string_equal(st->placements[0].rne, "S");
  const struct derived *d = derive(h);
  assert_int_equal(value_on(d, M_CARE_ENTRIES_12M, 2, D(2023, 4, 3)), 1);
  assert_int_equal(value_on(d, M_CARE_ENTRIES_12M, 1, D(2023, 4, 3)), 1);
  assert_int_equal(value_on(d, M_PLANS_STARTED_12M, PLAN_LAC, D(2023, 4, 3)), 1);
}

/*
 * state/fold.c: "looked after --PeriodOfCareStarted(continuing)--> looked
 * after (joined: its legal status, need and placement are changes within
 * the period where they differ; the period also answers to its period_id,
 * an alias)"; "joined to the period open on its day, it raises nothing".
 * P1 starts 10 Jun 2022 (S row of an earlier import), C1, N2, in U1/PR1.
 * The next import's first record of the child, j02 on 3 Apr 2023, calls
 * the period S2023, C2, N2, U4/PR2: one period; C2 from 3 Apr (a change,
 * RNE not known); N2 unchanged (no need mark); U1 ends and U4 starts on
 * 3 Apr. The import's later events name S2023 and reach P1: U5 from 1 Aug
 * (j03), a LAC review on 1 May (j04: no review_outside_plan), and the end
 * on 15 Jan 2024, E4A (j05). One entry (10 Jun 2022), one exit.
 */
static void joined_history(struct hist *h) {
  care_start(h, "j01", D(2022, 6, 10), "P1", "C1", "N2", 0, plc(h, "U1", "PR1", 0, 0));
  continuing(
      care_start(h, "j02", D(2023, 4, 3), "S2023", "C2", "N2", 0, plc(h, "U4", "PR2", 0, 0)));
  place(h, "j03", D(2023, 8, 1), "S2023", plc(h, "U5", "PR2", 0, 0), "CARPL");
  review(h, "j04", D(2023, 5, 1), "S2023", RK(LAC), "PN1");
  care_end(h, "j05", D(2024, 1, 15), "S2023", "E4A");
}

TEST(test_continuing_joins_open_period) {
  joined_history(h);
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_LAC], 1);
  ep_is(&st->plans[PLAN_LAC][0], D(2022, 6, 10), D(2024, 1, 15), "P1", "", "C1", "E4A", 0);
  no_findings(h);
  assert_int_equal(st->n_legal, 2);
  mark_is(&st->legal[0], D(2022, 6, 10), "P1", 0, 0);
  mark_is(&st->legal[1], D(2023, 4, 3), "P1", 0, 0);
  assert_string_equal(st->legal[1].code, "C2");
  assert_string_equal(st->legal[1].code2, "");
  assert_int_equal(st->n_needs, 1);
  assert_int_equal(st->n_placements, 3);
  ep_is(&st->placements[0], D(2022, 6, 10), D(2023, 4, 3), "", "P1", "U1", "", 0);
  ep_is(&st->placements[1], D(2023, 4, 3), D(2023, 8, 1), "", "P1", "U4", "", 0);
  ep_is(&st->placements[2], D(2023, 8, 1), D(2024, 1, 15), "", "P1", "U5", "", 0);
  assert_string_equal(st->reviews[0].id, "P1");
  /* C1 then C2: one care span over the whole period. */
  assert_int_equal(st->n_care_spans, 1);
  ep_is(&st->care_spans[0], D(2022, 6, 10), D(2024, 1, 15), "P1", "", "C1", "", 0);
  const struct derived *d = derive(h);
  assert_int_equal(n_facts(d, M_CARE_ENTRIES_12M, 2), 1);
  assert_int_equal(value_on(d, M_CARE_ENTRIES_12M, 2, D(2022, 6, 10)), 1);
  assert_int_equal(value_on(d, M_CARE_EXITS_12M, 0, D(2024, 1, 15)), 1);
  assert_int_equal(value_on(d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2024, 1, 14)), 1);
  assert_int_equal(value_on(d, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2024, 1, 15)), 0);
  /* Arrival order never matters: 5! orders. */
  assert_int_equal(check_arrival_orders(h), 120);
}

/*
 * A continuing start that says what the period already says changes
 * nothing: the same status, need and placement (type and provider) add no
 * mark and no placement. Its alias still names the period: a legal status
 * change naming it (1 Jun, C2) reaches P1.
 */
TEST(test_continuing_join_same_changes_nothing) {
  care_start(h, "s01", D(2022, 6, 10), "P1", "C1", "N2", 0, plc(h, "U1", "PR1", 0, 0));
  continuing(
      care_start(h, "s02", D(2023, 4, 3), "S2023", "C1", "N2", 0, plc(h, "U1", "PR1", 0, 0)));
  legal(h, "s03", D(2023, 6, 1), "S2023", "C2");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_LAC], 1);
  no_findings(h);
  assert_int_equal(st->n_needs, 1);
  assert_int_equal(st->n_placements, 1);
  assert_int_equal(st->n_legal, 2);
  mark_is(&st->legal[1], D(2023, 6, 1), "P1", 0, 0);
  assert_int_equal(check_arrival_orders(h), 6);
}

/*
 * A normal start and a continuing start on the same day: "Continuing starts
 * fold after the day's other starts (PASS_JOINS), so that a normal start of
 * the same day is joined whatever the order of the two". x01 is recorded an
 * hour after x02, so x02 sorts first: still joined, one period, no
 * finding. Ended through the alias on 1 Sep 2023.
 */
TEST(test_continuing_same_day_as_start) {
  care_start(h, "x01", D(2023, 4, 3), "P1", "C2", "N1", 0, NULL)->recorded_at_ms += HOUR_MS;
  continuing(care_start(h, "x02", D(2023, 4, 3), "S2023", "C2", "N1", 0, NULL));
  care_end(h, "x03", D(2023, 9, 1), "S2023", "E13");
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_LAC], 1);
  ep_is(&st->plans[PLAN_LAC][0], D(2023, 4, 3), D(2023, 9, 1), "P1", "", "C2", "E13", 0);
  no_findings(h);
  assert_int_equal(check_arrival_orders(h), 6);
}

/*
 * A continuing start the day after a period ended opens a new period: the
 * ended one is not open on that day (s <= T < e). Its start is unknown, so
 * the second period is no entry: care_entries counts the first only.
 */
TEST(test_continuing_after_end_starts_unknown) {
  care_start(h, "y01", D(2022, 6, 10), "P1", "C2", "N1", 0, NULL);
  care_end(h, "y02", D(2023, 3, 1), "P1", "E13");
  continuing(care_start(h, "y03", D(2023, 4, 3), "S2023", "C2", "N1", 0, NULL));
  const struct child_state *st = fold(h);
  assert_int_equal(st->n_plans[PLAN_LAC], 2);
  assert_int_equal(st->plans[PLAN_LAC][1].flags, EP_START_UNKNOWN);
  only_finding(h, Q_PERIOD_START_UNKNOWN, "y03");
  const struct derived *d = derive(h);
  assert_int_equal(n_facts(d, M_CARE_ENTRIES_12M, 2), 1);
  assert_int_equal(value_on(d, M_CARE_ENTRIES_12M, 2, D(2023, 4, 3)), 1); /* P1's, still in 12m */
  assert_int_equal(value_on(d, M_CARE_ENTRIES_FYTD, 2, D(2023, 4, 3)), 0); /* new year: none */
  assert_int_equal(check_arrival_orders(h), 6);
}

/*
 * lac_reviews_timely of a period whose start is unknown (state/facts_reviews.c,
 * late_day): in the denominator from 20 working days into its known days
 * (3 Apr 2023, a Monday: weekends only, 1 May 2023); its first review seen
 * is due within 6 months of its first recorded day (3 Oct 2023), each later
 * one 6 months after the previous. Reviewed 1 Sep 2023: due 1 Mar 2024,
 * none after, late from 2 Mar 2024. (A known start would be late from
 * 2 May 2023: its first review due 20 working days after the start.)
 */
TEST(test_continuing_lac_reviews) {
  continuing(care_start(h, "v01", D(2023, 4, 3), "K1", "C2", "N1", 0, NULL));
  review(h, "v02", D(2023, 9, 1), "K1", RK(LAC), "PN1");
  fold(h);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2023, 4, 30), 0, 0);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2023, 5, 1), 1, 1);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2023, 6, 1), 1, 1);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2024, 3, 1), 1, 1);
  reviews_on(h, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, D(2024, 3, 2), 1, 0);
}

/*
 * adoption_timeliness A1 and A10 count from entering care: a child placed
 * for adoption in a span that begins on its period's unknown start has no
 * known entry date and is left out of both (care_span_start); A2 (placement
 * order to match) does not need it and counts: 1 Jul to 1 Sep 2023, 62 days.
 */
TEST(test_continuing_adoption_left_out_of_a1) {
  continuing(care_start(h, "w01", D(2023, 4, 3), "K1", "C2", "N1", 0, NULL));
  adopt(h, "w02", D(2023, 5, 1), AD(DECISION), 0, 0);
  adopt(h, "w03", D(2023, 7, 1), AD(PLACEMENT_ORDER), 0, 0);
  adopt(h, "w04", D(2023, 9, 1), AD(MATCHED), 0, 0);
  adopt(h, "w05", D(2023, 10, 1), AD(PLACED), 0, 0);
  adopt(h, "w06", D(2024, 3, 1), AD(ADOPTED), 0, 0);
  const struct derived *d = (fold(h), derive(h));
  assert_int_equal(n_facts(d, M_ADOPTION_COUNT_12M, 0), 0);
  assert_int_equal(n_facts(d, M_ADOPTION_COUNT_12M, 2), 0);
  assert_int_equal(value_on(d, M_ADOPTION_COUNT_12M, 1, D(2024, 3, 1)), 1);
  assert_int_equal(value_on(d, M_ADOPTION_DAYS_12M, 1, D(2024, 3, 1)), 62);
}

#define T(name) cmocka_unit_test_setup_teardown(name, hist_setup, hist_teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      /* clang-format off */
      T(test_return_restatements),
      T(test_child_details_merge), T(test_referrals), T(test_rereferral_boundaries),
      T(test_early_help), T(test_assessments), T(test_strategy_s47_icpc), T(test_cin_plans),
      T(test_cp_plans), T(test_care_and_placements), T(test_legal_status_spans),
      T(test_care_spans_of_periods_without_id), T(test_short_breaks), T(test_adoption),
      T(test_leaver_sdq_court_permanence), T(test_allocations), T(test_workforce_worker),
      T(test_workforce_post), T(test_q_end_before_start), T(test_q_end_without_start),
      T(test_q_referral_while_open), T(test_q_placement_outside_care), T(test_q_overlapping_plan),
      T(test_q_date_before_birth), T(test_q_date_after_recorded), T(test_q_unknown_code),
      T(test_q_implausible_date), T(test_q_implausible_date_boundary),
      T(test_q_implausible_date_and_birth), T(test_q_implausible_date_corrected),
      T(test_q_after_death), T(test_q_after_death_recorded_late), T(test_q_after_death_corrected), T(test_q_repeated_completion),
      T(test_q_after_death_care),
      T(test_supersede), T(test_retract), T(test_supersede_then_retract),
      T(test_correction_target_absent), T(test_same_day), T(test_permutations_small),
      T(test_permutations_long), T(test_permutations_save_order),
      T(test_referral_outcome_lac_stage_by_status),
      T(test_returns_fields), T(test_q_review_outside_plan), T(test_q_missing),
      T(test_q_need_change_outside_care), T(test_workforce_diversity_fields),
      T(test_cp_reviews_timely), T(test_cp_reviews_late_stays_late), T(test_lac_reviews_timely),
      T(test_lac_reviews_second_late), T(test_missing_from_care), T(test_care_leaver_in_touch_values), T(test_sw_diversity), T(test_q_unknown_code_returns_fields),
      T(test_continuing_start_unknown), T(test_continuing_normal_start_unchanged),
      T(test_continuing_joins_open_period), T(test_continuing_join_same_changes_nothing),
      T(test_continuing_same_day_as_start), T(test_continuing_after_end_starts_unknown),
      T(test_continuing_lac_reviews), T(test_continuing_adoption_left_out_of_a1),
      /* clang-format on */
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
