/*
 * The plans group of docs/indicators.md (children_in_need, ended_plans_over,
 * repeat_plan, seen_per_plan, cin_closed_after_step_down): hand-worked
 * histories through the whole engine (tests/harness.h), and through
 * child_fold + child_derive where a fact's interval or the derive_ref
 * (inclusive working days) is the point. Every expected value is worked out
 * in the comments from docs/indicators.md and docs/indicators.md;
 * none is copied from the program's output.
 *
 * Working days use the shipped bank holidays (2023-12-25, 2023-12-26,
 * 2024-01-01 among them) unless a test says otherwise. Weekdays used below:
 * 2023-12-04 Mon, 2023-12-15 Fri, 2024-01-03 Wed, 2024-01-04 Thu,
 * 2024-01-06 Sat, 2024-01-08 Mon, 2024-01-18 Thu, 2024-01-22 Mon,
 * 2024-01-23 Tue, 2024-02-06 Tue.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "state/state.h"
#include "tests/harness.h"
#include "tests/testutil.h"

/* ---- a stream of events and when they happened ---------------------------------- */

/* Events are recorded on the day they occur; advance() applies, in one
 * batch, every event not yet applied that occurred on or before T, and a
 * tick that moves the LA's replay clock to T. */
struct stream {
  struct evs b;
  csc_date when[512];
  uint8_t applied[512];
  int next_id;
  char id[16];
};

/* An envelope for child on d with a fresh event id. */
static Cscflow__V1__CaseEvent at(struct stream *s, const char *child, csc_date d) {
  snprintf(s->id, sizeof s->id, "e%d", ++s->next_id);
  return envelope(s->id, child, d, d);
}

static void put(struct stream *s, const Cscflow__V1__CaseEvent *ev) {
  add(&s->b, ev);
  assert_int_equal(date_from_yyyymmdd(ev->occurred_on, &s->when[s->b.n - 1]), CSC_OK);
}

static void referral(struct stream *s, const char *child, const char *ref, csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  r.referral_id = (char *)ref;
  r.source = "3F";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  put(s, &ev);
}

static void ref_close(struct stream *s, const char *child, const char *ref, csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__ReferralClosed r = CSCFLOW__V1__REFERRAL_CLOSED__INIT;
  r.referral_id = (char *)ref;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED;
  ev.referral_closed = &r;
  put(s, &ev);
}

/* A CIN or CP plan starting (end = 0) or ending (end = 1). */
static void plan(struct stream *s, int kind, int end, const char *child, const char *id,
                 csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__CinPlanStarted cin_s = CSCFLOW__V1__CIN_PLAN_STARTED__INIT;
  Cscflow__V1__CinPlanEnded cin_e = CSCFLOW__V1__CIN_PLAN_ENDED__INIT;
  Cscflow__V1__CpPlanStarted cp_s = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  Cscflow__V1__CpPlanEnded cp_e = CSCFLOW__V1__CP_PLAN_ENDED__INIT;
  cin_s.plan_id = cin_e.plan_id = cp_s.plan_id = cp_e.plan_id = (char *)id;
  cp_s.initial_category = "N";
  assert_true(kind == PLAN_CIN || kind == PLAN_CP);
  if (kind == PLAN_CIN && !end) {
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED;
    ev.cin_plan_started = &cin_s;
  } else if (kind == PLAN_CIN) {
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED;
    ev.cin_plan_ended = &cin_e;
  } else if (!end) {
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
    ev.cp_plan_started = &cp_s;
  } else {
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED;
    ev.cp_plan_ended = &cp_e;
  }
  put(s, &ev);
}

/* A CP plan starting on d whose record gives NumberOfPreviousCPP: previous
 * (recorded 1) or none (recorded 0, previous ignored). */
static void cp_start_counted(struct stream *s, const char *child, const char *id, csc_date d,
                             int recorded, uint32_t previous) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__CpPlanStarted cp = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  cp.plan_id = (char *)id;
  cp.initial_category = "N";
  cp.previous_cp_plans_recorded = recorded;
  cp.previous_cp_plans = previous;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  ev.cp_plan_started = &cp;
  put(s, &ev);
}

/* A plan of kind from s to e (e = 0: still open). */
static void plan_span(struct stream *s, int kind, const char *child, const char *id,
                      csc_date from, csc_date to) {
  plan(s, kind, 0, child, id, from);
  if (to != 0)
    plan(s, kind, 1, child, id, to);
}

static void care_start(struct stream *s, const char *child, const char *period,
                       const char *legal, csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__PeriodOfCareStarted p = CSCFLOW__V1__PERIOD_OF_CARE_STARTED__INIT;
  p.period_id = (char *)period;
  p.legal_status = (char *)legal;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED;
  ev.period_of_care_started = &p;
  put(s, &ev);
}

static void care_end(struct stream *s, const char *child, const char *period, csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__PeriodOfCareEnded p = CSCFLOW__V1__PERIOD_OF_CARE_ENDED__INIT;
  p.period_id = (char *)period;
  p.reason_ceased = "E13";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED;
  ev.period_of_care_ended = &p;
  put(s, &ev);
}

static void legal_status(struct stream *s, const char *child, const char *period,
                         const char *legal, csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__LegalStatusChanged p = CSCFLOW__V1__LEGAL_STATUS_CHANGED__INIT;
  p.period_id = (char *)period;
  p.legal_status = (char *)legal;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED;
  ev.legal_status_changed = &p;
  put(s, &ev);
}

/* The child seen, on a visit for plan (any id counts). */
static void seen(struct stream *s, const char *child, const char *plan_id, csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__ChildSeen c = CSCFLOW__V1__CHILD_SEEN__INIT;
  c.plan_id = (char *)plan_id;
  c.seen_by = CSCFLOW__V1__SEEN_BY__SEEN_BY_SOCIAL_WORKER;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN;
  ev.child_seen = &c;
  put(s, &ev);
}

/* An event of a child with no plans, only to move the clock to d. */
static void tick(struct stream *s, csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, "CLOCK", d);
  Cscflow__V1__ChildDetails c = CSCFLOW__V1__CHILD_DETAILS__INIT;
  c.date_of_birth = 20100101;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
  ev.child_details = &c;
  put(s, &ev);
}

/* ChildDetails recording the child's date of death d, dated d. */
static void death(struct stream *s, const char *child, csc_date d) {
  Cscflow__V1__CaseEvent ev = at(s, child, d);
  Cscflow__V1__ChildDetails c = CSCFLOW__V1__CHILD_DETAILS__INIT;
  c.date_of_death = date_to_yyyymmdd(d);
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
  ev.child_details = &c;
  put(s, &ev);
}

/* ---- the engine: each test opens its fixture; teardown closes it ------------------ */

struct ctx {
  struct fixture f;
  int open;
  struct stream s;
};

static int setup(void **state) {
  struct ctx *c = calloc(1, sizeof *c);
  *state = c;
  return c == NULL ? -1 : 0;
}

static int teardown(void **state) {
  struct ctx *c = *state;
  if (c->open)
    close_fixture(&c->f);
  free(c);
  return 0;
}

static struct ctx *open_ctx(void **state, const char *name) {
  struct ctx *c = *state;
  open_fixture(&c->f, name);
  c->open = 1;
  return c;
}

/* Applies what happened on or before T (not applied yet) and moves the
 * clock to T. */
static void advance(struct ctx *c, csc_date T) {
  struct stream *s = &c->s;
  tick(s, T);
  static struct engine_input in[512];
  size_t n = 0;
  for (size_t i = 0; i < s->b.n; i++)
    if (!s->applied[i] && s->when[i] <= T) {
      s->applied[i] = 1;
      in[n++] = (struct engine_input){"test", 0, (int64_t)i, (int64_t)i + 1, NULL, 0,
                                      s->b.data + s->b.off[i], s->b.off[i + 1] - s->b.off[i]};
    }
  assert_int_equal(engine_apply_batch(c->f.e, in, n), CSC_OK);
  assert_int_equal(get(&c->f, "children_in_need", "T", "").as_of, date_to_yyyymmdd(T));
}

struct flag {
  const char *id, *window, *breakdown;
  int found, provisional;
};

static int read_flag(void *ctx, const IndicatorSnapshot *snap) {
  struct flag *fl = ctx;
  const Cscflow__V1__IndicatorValue *v = snapshot_find(snap, fl->id, fl->window, fl->breakdown);
  if (v != NULL) {
    fl->found = 1;
    fl->provisional = v->has_provisional && v->provisional;
  }
  return CSC_OK;
}

static int is_provisional(struct fixture *f, const char *id, const char *window, const char *bd) {
  struct flag fl = {id, window, bd, 0, 0};
  struct store *st = engine_store(f->e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, LA, read_flag, &fl), CSC_OK);
  mdb_txn_abort(txn);
  assert_true(fl.found);
  return fl.provisional;
}

/* ---- one child through child_fold and child_derive --------------------------------- */

struct folded {
  struct arena a;
  struct child_state st;
  struct derived d;
};

/* Folds and derives the events of child in s, with ref (NULL: defaults). */
static void derive_child(const struct stream *s, const char *child, const struct derive_ref *ref,
                         struct folded *out) {
  arena_init(&out->a, 1 << 16);
  ProtobufCAllocator alloc = arena_protobuf_allocator(&out->a);
  CaseEvent **evs = arena_alloc(&out->a, (s->b.n + 1) * sizeof *evs);
  assert_non_null(evs);
  size_t n = 0;
  for (size_t i = 0; i < s->b.n; i++) {
    CaseEvent *ev = cscflow__v1__case_event__unpack(&alloc, s->b.off[i + 1] - s->b.off[i],
                                                    s->b.data + s->b.off[i]);
    assert_non_null(ev);
    if (strcmp(ev->child_id, child) == 0)
      evs[n++] = ev;
  }
  assert_int_equal(child_fold(evs, n, test_code_lists(), &out->a, &out->st), CSC_OK);
  assert_int_equal(child_derive(&out->st, ref, &out->a, &out->d), CSC_OK);
}

/* The child's contribution to (measure, bucket) on as-of date T. */
static int64_t value_on(const struct folded *x, int measure, int bucket, csc_date T) {
  int64_t sum = 0;
  for (size_t i = 0; i < x->d.n_facts; i++) {
    const struct fact *f = &x->d.facts[i];
    if (f->measure == measure && f->bucket == bucket && f->from <= T && T < f->to)
      sum += f->weight;
  }
  return sum;
}

#define OVER(kind, t) ((kind) * N_THRESHOLDS + (t)) /* t: 0 = 6m, 1 = 12m, 2 = 24m */
#define REPEAT(kind, r) ((kind) * 3 + (r))          /* r: 0 = 12m, 1 = 24m, 2 = ever */

/* ---- children_in_need ------------------------------------------------------------- */

/*
 * A: episode 2024-01-10 closed 2024-03-01, and another opened 2024-03-01.
 * B: episode 2024-02-01 closed 2024-02-20.
 * C: episode 2024-02-10; a referral on 2024-02-15 while it is open opens
 *    nothing (referral_while_open).
 * D: a CP plan from 2024-01-15 and no CIN episode: not a child in need here.
 * E: an episode opened and closed on 2024-02-15: open on no day.
 */
static void test_children_in_need(void **state) {
  struct ctx *c = open_ctx(state, "plans_cin");
  struct stream *s = &c->s;
  referral(s, "A", "A1", D(2024, 1, 10));
  ref_close(s, "A", "A1", D(2024, 3, 1));
  referral(s, "A", "A2", D(2024, 3, 1));
  referral(s, "B", "B1", D(2024, 2, 1));
  ref_close(s, "B", "B1", D(2024, 2, 20));
  referral(s, "C", "C1", D(2024, 2, 10));
  referral(s, "C", "C2", D(2024, 2, 15));
  plan_span(s, PLAN_CP, "D", "D1", D(2024, 1, 15), 0);
  referral(s, "E", "E1", D(2024, 2, 15));
  ref_close(s, "E", "E1", D(2024, 2, 15));

  /* T = 2024-02-15: A (A1), B, C open = 3; per 10,000 of 10,000: 3. */
  advance(c, D(2024, 2, 15));
  expect_count(&c->f, "children_in_need", "T", "", 3, 3);
  /* T = 2024-02-20: B closed that day: A, C = 2. */
  advance(c, D(2024, 2, 20));
  expect_count(&c->f, "children_in_need", "T", "", 2, 2);
  /* T = 2024-03-01: A's first episode closed, its second opened: A once, C = 2. */
  advance(c, D(2024, 3, 1));
  expect_count(&c->f, "children_in_need", "T", "", 2, 2);
  /* The CP plan of D is counted by children_on_plan, not here. */
  expect_count(&c->f, "children_on_plan", "T", "CP", 1, 1);
}

/* The union of a child's episodes is one fact per run of days: A's two
 * episodes meeting on 2024-03-01 make one interval from 2024-01-10. */
static void test_children_in_need_facts(void **state) {
  struct stream *s = &((struct ctx *)*state)->s;
  referral(s, "A", "A1", D(2024, 1, 10));
  ref_close(s, "A", "A1", D(2024, 3, 1));
  referral(s, "A", "A2", D(2024, 3, 1));
  ref_close(s, "A", "A2", D(2024, 6, 1));
  struct folded x;
  derive_child(s, "A", NULL, &x);
  size_t n = 0;
  for (size_t i = 0; i < x.d.n_facts; i++)
    if (x.d.facts[i].measure == M_CHILDREN_IN_NEED) {
      n++;
      assert_int_equal(x.d.facts[i].from, D(2024, 1, 10));
      assert_int_equal(x.d.facts[i].to, D(2024, 6, 1));
    }
  assert_int_equal(n, 1);
  arena_free(&x.a);
}

/* ---- after death ------------------------------------------------------------------- */

/*
 * INDICATORS.md, Conventions, "After death": "a child with a date of death d
 * is not counted in any point-in-time measure on T > d (open plans, looked
 * after, allocations), nor as a member of any denominator for days after d.
 * An event dated after d is a data-quality finding (`after_death`) and
 * counts in no window."
 *
 * A: referral A1 2024-01-10, CIN plan AP 2024-02-01, died 2024-03-15; the
 *    plan ended and the episode closed 2024-04-10, after the death.
 * B: referral B1 2024-02-01, CIN plan BP 2024-02-01, both still open.
 */
static void test_after_death(void **state) {
  struct ctx *c = open_ctx(state, "plans_death");
  struct stream *s = &c->s;
  referral(s, "A", "A1", D(2024, 1, 10));
  plan(s, PLAN_CIN, 0, "A", "AP", D(2024, 2, 1));
  referral(s, "B", "B1", D(2024, 2, 1));
  plan(s, PLAN_CIN, 0, "B", "BP", D(2024, 2, 1));
  death(s, "A", D(2024, 3, 15));
  plan(s, PLAN_CIN, 1, "A", "AP", D(2024, 4, 10));
  ref_close(s, "A", "A1", D(2024, 4, 10));

  /* T = 2024-03-15, the day of death: T > d is false, A still counts.
   * children_in_need: A, B = 2; children_on_plan CIN: A, B = 2. */
  advance(c, D(2024, 3, 15));
  expect_count(&c->f, "children_in_need", "T", "", 2, 2);
  expect_count(&c->f, "children_on_plan", "T", "CIN", 2, 2);
  /* T = 2024-03-16 > d: "not counted in any point-in-time measure": B alone,
   * 1 and 1, though nothing recorded yet ends A's episode or plan. */
  advance(c, D(2024, 3, 16));
  expect_count(&c->f, "children_in_need", "T", "", 1, 1);
  expect_count(&c->f, "children_on_plan", "T", "CIN", 1, 1);
  assert_int_equal(get(&c->f, "children_in_need", "T", "").quality[Q_AFTER_DEATH], 0);
  /* T = 2024-04-10: the end of AP and the closure of A1 are dated after d:
   * 2 after_death findings, and they "count in no window": no CIN plan
   * ended in the 12 months (ended_plans_over CIN,6m: 0 of 0). The referral
   * A1, dated before d, still counts in the 12 months to T: A1 and B1 = 2. */
  advance(c, D(2024, 4, 10));
  assert_int_equal(get(&c->f, "children_in_need", "T", "").quality[Q_AFTER_DEATH], 2);
  expect_count(&c->f, "children_in_need", "T", "", 1, 1);
  expect_count(&c->f, "children_on_plan", "T", "CIN", 1, 1);
  expect_count(&c->f, "referrals", "12m", "", 2, 2);
  expect_ratio(&c->f, "ended_plans_over", "12m", "CIN,6m", 0, 0, 0);
}

/* ---- ended_plans_over --------------------------------------------------------------- */

/*
 * CP plans:
 *   P1 2023-08-31 -> 2024-02-29: s + 6m = 2024-02-29 (31 Aug clamped): not
 *      open that day (e > s + 6m is false): not over 6m.
 *   P2 2023-08-31 -> 2024-03-01: over 6m; s + 12m = 2024-08-31: not over 12m.
 *   P3 2022-03-15 -> 2024-03-20: over 6m, 12m, 24m (s + 24m = 2024-03-15).
 *   P4 2023-09-01 -> 2024-04-02, across 31 March: over 6m (2024-03-01), not 12m.
 * CIN plan P5 2023-01-01 -> 2024-01-15: over 6m and 12m (2024-01-01), not 24m.
 * Periods of care: L1 C2 2023-05-01 -> 2024-03-31: over 6m (2023-11-01), not
 *   12m (2024-05-01). L2 V3 (short breaks) 2023-01-01 -> 2024-01-31: not a plan.
 */
static void test_ended_plans_over(void **state) {
  struct ctx *c = open_ctx(state, "plans_ended");
  struct stream *s = &c->s;
  plan_span(s, PLAN_CP, "P1", "P1", D(2023, 8, 31), D(2024, 2, 29));
  plan_span(s, PLAN_CP, "P2", "P2", D(2023, 8, 31), D(2024, 3, 1));
  plan_span(s, PLAN_CP, "P3", "P3", D(2022, 3, 15), D(2024, 3, 20));
  plan_span(s, PLAN_CP, "P4", "P4", D(2023, 9, 1), D(2024, 4, 2));
  plan_span(s, PLAN_CIN, "P5", "P5", D(2023, 1, 1), D(2024, 1, 15));
  care_start(s, "L1", "L1", "C2", D(2023, 5, 1));
  care_end(s, "L1", "L1", D(2024, 3, 31));
  care_start(s, "L2", "L2", "V3", D(2023, 1, 1));
  care_end(s, "L2", "L2", D(2024, 1, 31));

  /* T = 2024-03-31, 12m window (2023-03-31, 2024-03-31]. CP ended: P1, P2,
   * P3 = 3 (P4 still open); over 6m: P2, P3 = 2; over 12m: P3; over 24m: P3. */
  advance(c, D(2024, 3, 31));
  expect_ratio(&c->f, "ended_plans_over", "12m", "CP,6m", 2, 3, 200.0 / 3);
  expect_ratio(&c->f, "ended_plans_over", "12m", "CP,12m", 1, 3, 100.0 / 3);
  expect_ratio(&c->f, "ended_plans_over", "12m", "CP,24m", 1, 3, 100.0 / 3);
  /* FYTD 2023-24 [2023-04-01, 2024-03-31]: the same three. */
  expect_ratio(&c->f, "ended_plans_over", "FYTD", "CP,6m", 2, 3, 200.0 / 3);
  expect_ratio(&c->f, "ended_plans_over", "FYTD", "CP,24m", 1, 3, 100.0 / 3);
  /* CIN: P5 over 6m and 12m, not 24m: 1/1, 1/1, 0/1. */
  expect_ratio(&c->f, "ended_plans_over", "12m", "CIN,6m", 1, 1, 100.0);
  expect_ratio(&c->f, "ended_plans_over", "12m", "CIN,12m", 1, 1, 100.0);
  expect_ratio(&c->f, "ended_plans_over", "12m", "CIN,24m", 0, 1, 0.0);
  /* LAC: L1 ended on T counts; L2 is short breaks: 1/1 over 6m, 0/1 over 12m. */
  expect_ratio(&c->f, "ended_plans_over", "12m", "LAC,6m", 1, 1, 100.0);
  expect_ratio(&c->f, "ended_plans_over", "12m", "LAC,12m", 0, 1, 0.0);
  expect_ratio(&c->f, "ended_plans_over", "FYTD", "LAC,6m", 1, 1, 100.0);
  /* No early help: 0/0, null. */
  expect_ratio(&c->f, "ended_plans_over", "12m", "EH,6m", 0, 0, 0);

  /* T = 2024-04-02, 12m window (2023-04-02, 2024-04-02]: P1, P2, P3, P4 = 4;
   * over 6m: P2, P3, P4 = 3 (75%); over 12m: P3 (25%). */
  advance(c, D(2024, 4, 2));
  expect_ratio(&c->f, "ended_plans_over", "12m", "CP,6m", 3, 4, 75.0);
  expect_ratio(&c->f, "ended_plans_over", "12m", "CP,12m", 1, 4, 25.0);
  /* FYTD 2024-25 [2024-04-01, 2024-04-02]: P4 alone (it started in 2023-24
   * and counts in the year it ended): over 6m 1/1, over 12m 0/1. */
  expect_ratio(&c->f, "ended_plans_over", "FYTD", "CP,6m", 1, 1, 100.0);
  expect_ratio(&c->f, "ended_plans_over", "FYTD", "CP,12m", 0, 1, 0.0);
  /* L1 ended 2024-03-31: out of FYTD 2024-25 (null), still in the 12m. */
  expect_ratio(&c->f, "ended_plans_over", "FYTD", "LAC,6m", 0, 0, 0);
  expect_ratio(&c->f, "ended_plans_over", "12m", "LAC,6m", 1, 1, 100.0);
}

/*
 * Month-end clamping in a year without 29 February: s = 2024-08-31, s + 6m =
 * 2025-02-28. Q1 ends 2025-02-28 (not over 6m), Q2 ends 2025-03-01 (over).
 * And the 12m window of a plan ended 2024-02-29 (R1, s = 2023-08-31): on
 * 2025-02-28 the window is (2024-02-28, 2025-02-28], still holding it; on
 * 2025-03-01 it is (2024-03-01, ...]: gone.
 */
static void test_ended_month_end(void **state) {
  struct stream *s = &((struct ctx *)*state)->s;
  plan_span(s, PLAN_CP, "Q1", "Q1", D(2024, 8, 31), D(2025, 2, 28));
  plan_span(s, PLAN_CP, "Q2", "Q2", D(2024, 8, 31), D(2025, 3, 1));
  plan_span(s, PLAN_CP, "R1", "R1", D(2023, 8, 31), D(2024, 2, 29));
  struct folded q1, q2, r1;
  derive_child(s, "Q1", NULL, &q1);
  derive_child(s, "Q2", NULL, &q2);
  derive_child(s, "R1", NULL, &r1);
  const csc_date T = D(2025, 3, 1);
  assert_int_equal(value_on(&q1, M_PLANS_ENDED_12M, PLAN_CP, T), 1);
  assert_int_equal(value_on(&q1, M_PLANS_ENDED_OVER_12M, OVER(PLAN_CP, 0), T), 0);
  assert_int_equal(value_on(&q2, M_PLANS_ENDED_12M, PLAN_CP, T), 1);
  assert_int_equal(value_on(&q2, M_PLANS_ENDED_OVER_12M, OVER(PLAN_CP, 0), T), 1);
  assert_int_equal(value_on(&q2, M_PLANS_ENDED_OVER_FYTD, OVER(PLAN_CP, 0), T), 1);
  assert_int_equal(value_on(&r1, M_PLANS_ENDED_12M, PLAN_CP, D(2025, 2, 28)), 1);
  assert_int_equal(value_on(&r1, M_PLANS_ENDED_12M, PLAN_CP, D(2025, 3, 1)), 0);
  /* Not in the window before it ended. */
  assert_int_equal(value_on(&r1, M_PLANS_ENDED_12M, PLAN_CP, D(2024, 2, 28)), 0);
  arena_free(&q1.a);
  arena_free(&q2.a);
  arena_free(&r1.a);
}

/* ---- repeat_plan ------------------------------------------------------------------- */

/*
 * CP plans (a: the previous one, b: the one started in the window):
 *   R1 a 2022-01-10 -> 2023-05-10, b 2024-05-10: b - 12m = 2023-05-10 <= a's
 *      end, exactly 12 months: within 12m, 24m, ever.
 *   R2 a 2022-01-10 -> 2023-05-10, b 2024-05-11: b - 12m = 2023-05-11 > a's
 *      end: not 12m; b - 24m = 2022-05-11 <= a's end: 24m; ever.
 *   R3 2024-06-01, the first: started, no repeat.
 *   R4 a 2020-01-01 -> 2021-01-01, b 2024-07-01: b - 24m = 2022-07-01 > a's
 *      end: ever only.
 *   R5 a 2023-01-01 -> 2023-02-28, b 2024-02-29: b - 12m = 2023-02-28 (29
 *      Feb clamped) <= a's end: 12m, 24m, ever.
 * Periods of care: R6 V3 2023-09-01 -> 2023-09-03 (short breaks: neither a
 *   start nor a previous plan), then C2 from 2024-03-01: a first plan.
 */
static void test_repeat_plan(void **state) {
  struct ctx *c = open_ctx(state, "plans_repeat");
  struct stream *s = &c->s;
  plan_span(s, PLAN_CP, "R1", "R1a", D(2022, 1, 10), D(2023, 5, 10));
  plan_span(s, PLAN_CP, "R1", "R1b", D(2024, 5, 10), 0);
  plan_span(s, PLAN_CP, "R2", "R2a", D(2022, 1, 10), D(2023, 5, 10));
  plan_span(s, PLAN_CP, "R2", "R2b", D(2024, 5, 11), 0);
  plan_span(s, PLAN_CP, "R3", "R3", D(2024, 6, 1), 0);
  plan_span(s, PLAN_CP, "R4", "R4a", D(2020, 1, 1), D(2021, 1, 1));
  plan_span(s, PLAN_CP, "R4", "R4b", D(2024, 7, 1), 0);
  plan_span(s, PLAN_CP, "R5", "R5a", D(2023, 1, 1), D(2023, 2, 28));
  plan_span(s, PLAN_CP, "R5", "R5b", D(2024, 2, 29), 0);
  care_start(s, "R6", "R6v", "V3", D(2023, 9, 1));
  care_end(s, "R6", "R6v", D(2023, 9, 3));
  care_start(s, "R6", "R6c", "C2", D(2024, 3, 1));

  /* T = 2024-05-10, window (2023-05-10, 2024-05-10]: R5b, R1b = 2, both
   * within 12m: 100%. */
  advance(c, D(2024, 5, 10));
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,12m", 2, 2, 100.0);

  /* T = 2024-07-01, window (2023-07-01, 2024-07-01]: R1b, R2b, R3, R4b, R5b
   * = 5. 12m: R1b, R5b = 2 (40%); 24m: R1b, R2b, R5b = 3 (60%); ever: all
   * but R3 = 4 (80%). */
  advance(c, D(2024, 7, 1));
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,12m", 2, 5, 40.0);
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,24m", 3, 5, 60.0);
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,ever", 4, 5, 80.0);
  /* FYTD [2024-04-01, 2024-07-01]: R1b, R2b, R3, R4b = 4 (R5b is 2023-24).
   * 12m: R1b (25%); 24m: R1b, R2b (50%); ever: R1b, R2b, R4b (75%). */
  expect_ratio(&c->f, "repeat_plan", "FYTD", "CP,12m", 1, 4, 25.0);
  expect_ratio(&c->f, "repeat_plan", "FYTD", "CP,24m", 2, 4, 50.0);
  expect_ratio(&c->f, "repeat_plan", "FYTD", "CP,ever", 3, 4, 75.0);
  /* LAC: R6's C2 period is the only start (the V3 one on 2023-09-01 is in
   * the window but not a plan) and has no previous plan: 0/1. FYTD: none. */
  expect_ratio(&c->f, "repeat_plan", "12m", "LAC,ever", 0, 1, 0.0);
  expect_ratio(&c->f, "repeat_plan", "FYTD", "LAC,ever", 0, 0, 0);
  /* No CIN plans: null. */
  expect_ratio(&c->f, "repeat_plan", "12m", "CIN,ever", 0, 0, 0);
}

/*
 * repeat_plan on messy histories. INDICATORS.md: "% of plans started in the
 * window where the child's previous plan of the same kind ended within 12 /
 * 24 months before the start (a plan that starts while another of its kind
 * is still open is a data-quality finding, not a repeat within 12 / 24
 * months); and `ever` (second or subsequent time: any earlier plan of the
 * kind)". The previous plan is the earlier plan that ended last.
 *
 *   O1 a 2022-01-10 -> 2023-06-10, a' 2022-02-01 -> 2022-03-15 (the
 *      generator's "overlap" mess: a second plan while a is open,
 *      overlapping_plan), b 2024-05-10. The previous plan ended 2023-06-10,
 *      11 months before b: b - 12m = 2023-05-10 <= 2023-06-10, so a repeat
 *      within 12m, 24m and ever. (Taking a', the latest start, as the
 *      previous plan gave ever only: a' ended 2022-03-15 < b - 24m.)
 *   O2 a 2021-01-10 -> 2023-04-10, a' 2021-02-01 -> 2021-03-01
 *      (overlapping_plan), b 2024-05-10: a ended 13 months before b:
 *      b - 12m = 2023-05-10 > 2023-04-10, not 12m; b - 24m = 2022-05-10
 *      <= 2023-04-10: 24m; ever.
 *   O3 a 2023-09-01 still open, b 2024-03-01: b starts while a is open,
 *      overlapping_plan, "not a repeat within 12 / 24 months"; ever ("any
 *      earlier plan of the kind").
 *   O4 a 2023-01-01 -> 2024-06-01, b 2024-04-01: a is still open on b's
 *      start (it ends later): overlapping_plan; ever only.
 * Without the catalogue's rule, O3b and O4b were repeats within 12m and 24m
 * (their previous plan "had not ended"), and O1b, O2b ever only.
 */
static void test_repeat_plan_overlap(void **state) {
  struct ctx *c = open_ctx(state, "plans_repeat_overlap");
  struct stream *s = &c->s;
  plan_span(s, PLAN_CP, "O1", "a", D(2022, 1, 10), D(2023, 6, 10));
  plan_span(s, PLAN_CP, "O1", "a2", D(2022, 2, 1), D(2022, 3, 15));
  plan_span(s, PLAN_CP, "O1", "b", D(2024, 5, 10), 0);
  plan_span(s, PLAN_CP, "O2", "a", D(2021, 1, 10), D(2023, 4, 10));
  plan_span(s, PLAN_CP, "O2", "a2", D(2021, 2, 1), D(2021, 3, 1));
  plan_span(s, PLAN_CP, "O2", "b", D(2024, 5, 10), 0);
  plan_span(s, PLAN_CP, "O3", "a", D(2023, 9, 1), 0);
  plan_span(s, PLAN_CP, "O3", "b", D(2024, 3, 1), 0);
  plan_span(s, PLAN_CP, "O4", "a", D(2023, 1, 1), D(2024, 6, 1));
  plan_span(s, PLAN_CP, "O4", "b", D(2024, 4, 1), 0);

  /* One child at a time, on b's start: the repeat facts are b's alone (a
   * and a' have no earlier plan but a, and O3a none). */
  const struct {
    const char *child;
    csc_date T;
    int repeat[3]; /* 12m, 24m, ever */
  } want[] = {
      {"O1", D(2024, 5, 10), {1, 1, 1}},
      {"O2", D(2024, 5, 10), {0, 1, 1}},
      {"O3", D(2024, 3, 1), {0, 0, 1}},
      {"O4", D(2024, 4, 1), {0, 0, 1}},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    struct folded x;
    derive_child(s, want[i].child, NULL, &x);
    for (int r = 0; r < 3; r++)
      if (value_on(&x, M_REPEAT_PLAN_12M, REPEAT(PLAN_CP, r), want[i].T) != want[i].repeat[r])
        fail_msg("%s: repeat bucket %d is %lld, expected %d", want[i].child, r,
                 (long long)value_on(&x, M_REPEAT_PLAN_12M, REPEAT(PLAN_CP, r), want[i].T),
                 want[i].repeat[r]);
    /* The overlap is reported: one overlapping_plan finding each (O1, O2 on
     * a', O3, O4 on b). */
    size_t found = 0;
    for (size_t f = 0; f < x.st.n_findings; f++)
      found += x.st.findings[f].rule == Q_OVERLAPPING_PLAN;
    assert_int_equal(found, 1);
    arena_free(&x.a);
  }

  /* The whole engine on 2024-05-10, window (2023-05-10, 2024-05-10]:
   * started O1b, O2b, O3a, O3b, O4b = 5 (O4a is 2023-01-01). 12m: O1b
   * (20%); 24m: O1b, O2b (40%); ever: O1b, O2b, O3b, O4b (80%). */
  advance(c, D(2024, 5, 10));
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,12m", 1, 5, 20.0);
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,24m", 2, 5, 40.0);
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,ever", 4, 5, 80.0);
}

/*
 * repeat_plan `ever` and the record's count of previous CP plans (CIN
 * census NumberOfPreviousCPP, CpPlanStarted.previous_cp_plans). DASH:
 * "Percentage of Child Protection Plans (CPP) starting during year, which
 * were a second or subsequent plan"; INDICATORS.md: "`ever` (second or
 * subsequent time: any earlier plan of the kind)". A first import of a
 * census year holds only that year's plans: the record's count says what
 * the history cannot.
 *   N1 2024-05-10, records 2 previous plans, none in the history: ever (the
 *      record says second or subsequent); not 12m nor 24m (the count
 *      carries no end dates).
 *   N2 2024-05-10, records 0, none in the history: a first plan.
 *   N3 a 2023-06-01 -> 2023-12-01, b 2024-05-10 recording 0: the history
 *      wins: b - 12m = 2023-05-10 <= a's end: 12m, 24m, ever.
 *   N4 2024-05-10, previous_cp_plans 3 but not recorded: a first plan.
 * Before the rule N1 was a first plan (ever 0).
 */
static void test_repeat_plan_previous_recorded(void **state) {
  struct ctx *c = open_ctx(state, "plans_repeat_previous");
  struct stream *s = &c->s;
  cp_start_counted(s, "N1", "N1", D(2024, 5, 10), 1, 2);
  cp_start_counted(s, "N2", "N2", D(2024, 5, 10), 1, 0);
  plan_span(s, PLAN_CP, "N3", "N3a", D(2023, 6, 1), D(2023, 12, 1));
  cp_start_counted(s, "N3", "N3b", D(2024, 5, 10), 1, 0);
  cp_start_counted(s, "N4", "N4", D(2024, 5, 10), 0, 3);

  const struct {
    const char *child;
    int repeat[3]; /* 12m, 24m, ever, on 2024-05-10 */
  } want[] = {
      {"N1", {0, 0, 1}},
      {"N2", {0, 0, 0}},
      {"N3", {1, 1, 1}},
      {"N4", {0, 0, 0}},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    struct folded x;
    derive_child(s, want[i].child, NULL, &x);
    for (int r = 0; r < 3; r++)
      if (value_on(&x, M_REPEAT_PLAN_12M, REPEAT(PLAN_CP, r), D(2024, 5, 10)) !=
          want[i].repeat[r])
        fail_msg("%s: repeat bucket %d is %lld, expected %d", want[i].child, r,
                 (long long)value_on(&x, M_REPEAT_PLAN_12M, REPEAT(PLAN_CP, r), D(2024, 5, 10)),
                 want[i].repeat[r]);
    arena_free(&x.a);
  }

  /* The whole engine on 2024-05-10, window (2023-05-10, 2024-05-10]:
   * started N1, N2, N3a, N3b, N4 = 5. 12m: N3b (20%); 24m: N3b (20%);
   * ever: N1, N3b (40%). FYTD [2024-04-01, 2024-05-10]: N1, N2, N3b, N4 =
   * 4; ever N1, N3b (50%); 12m N3b (25%). */
  advance(c, D(2024, 5, 10));
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,12m", 1, 5, 20.0);
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,24m", 1, 5, 20.0);
  expect_ratio(&c->f, "repeat_plan", "12m", "CP,ever", 2, 5, 40.0);
  expect_ratio(&c->f, "repeat_plan", "FYTD", "CP,ever", 2, 4, 50.0);
  expect_ratio(&c->f, "repeat_plan", "FYTD", "CP,12m", 1, 4, 25.0);
}

/* ---- seen_per_plan ------------------------------------------------------------------ */

/*
 * CP (10 working days), across Christmas 2023 (25, 26 Dec and 1 Jan are bank
 * holidays):
 *   S1 CP from 2023-12-04; seen 2023-12-15 (on a visit for another plan:
 *      any plan id counts) and 2024-01-03.
 *      wd(12-04, 12-15) = 9. wd(12-15, 01-03) = Dec 18-22 (5) + 27-29 (3)
 *      + Jan 2-3 (2) = 10: on time. The 11th working day after 01-03 is
 *      2024-01-18 (Jan 4-5, 8-12, 15-17 = 10): late from then.
 *   S2 CP from 2023-12-04; seen 2023-12-15 and 2024-01-04: wd(12-15, 01-04)
 *      = 11 > 10: late from 2024-01-04 (the visit comes a day too late).
 *   With weekends only, both would be late from 2024-01-01 (Dec 18-22, 25-29
 *   = 10, Jan 1 the 11th).
 * CIN (20 working days): S3 CIN plan from 2024-01-08, never seen: wd(01-08,
 *   02-05) = 20, wd(01-08, 02-06) = 21: late from 2024-02-06.
 * LAC (42 days): S4 C2 from 2024-01-01, seen 2024-02-12 (42 days): on time;
 *   late from 2024-02-12 + 43 = 2024-03-26. S5 V3 from 2024-01-01: short
 *   breaks, not a plan.
 */
static void test_seen_per_plan(void **state) {
  struct ctx *c = open_ctx(state, "plans_seen");
  struct stream *s = &c->s;
  plan_span(s, PLAN_CP, "S1", "S1", D(2023, 12, 4), 0);
  seen(s, "S1", "S1-CIN", D(2023, 12, 15));
  seen(s, "S1", "S1", D(2024, 1, 3));
  plan_span(s, PLAN_CP, "S2", "S2", D(2023, 12, 4), 0);
  seen(s, "S2", "S2", D(2023, 12, 15));
  seen(s, "S2", "S2", D(2024, 1, 4));
  plan_span(s, PLAN_CIN, "S3", "S3", D(2024, 1, 8), 0);
  care_start(s, "S4", "S4", "C2", D(2024, 1, 1));
  seen(s, "S4", "S4", D(2024, 2, 12));
  care_start(s, "S5", "S5", "V3", D(2024, 1, 1));

  /* 2024-01-02: S1, S2 on time (wd(12-15, 01-02) = 9): 2/2. LAC S4: 1/1. */
  advance(c, D(2024, 1, 2));
  expect_ratio(&c->f, "seen_per_plan", "T", "CP", 2, 2, 100.0);
  expect_ratio(&c->f, "seen_per_plan", "T", "LAC", 1, 1, 100.0);
  expect_ratio(&c->f, "seen_per_plan", "T", "CIN", 0, 0, 0);
  /* 2024-01-04: S1 seen 01-03; S2's gap is 11: 1/2. */
  advance(c, D(2024, 1, 4));
  expect_ratio(&c->f, "seen_per_plan", "T", "CP", 1, 2, 50.0);
  /* 2024-01-17: wd(01-03, 01-17) = 10: S1 still on time. 2024-01-18: 11. */
  advance(c, D(2024, 1, 17));
  expect_ratio(&c->f, "seen_per_plan", "T", "CP", 1, 2, 50.0);
  advance(c, D(2024, 1, 18));
  expect_ratio(&c->f, "seen_per_plan", "T", "CP", 0, 2, 0.0);
  /* CIN S3: on time 2024-02-05, late 2024-02-06. */
  advance(c, D(2024, 2, 5));
  expect_ratio(&c->f, "seen_per_plan", "T", "CIN", 1, 1, 100.0);
  advance(c, D(2024, 2, 6));
  expect_ratio(&c->f, "seen_per_plan", "T", "CIN", 0, 1, 0.0);
  /* LAC S4: 2024-03-25 is 42 days after the visit, 2024-03-26 is 43. */
  advance(c, D(2024, 3, 25));
  expect_ratio(&c->f, "seen_per_plan", "T", "LAC", 1, 1, 100.0);
  advance(c, D(2024, 3, 26));
  expect_ratio(&c->f, "seen_per_plan", "T", "LAC", 0, 1, 0.0);
}

/*
 * The inclusive working-day convention (cscflow.calendar.inclusive) and
 * weekends only (no holidays), CP interval 10:
 *   U1 CP from Mon 2024-01-08, never seen. Exclusive: wd(01-08, b) counts
 *      Jan 9-12 (4), 15-19 (9), 22 (10), 23 (11): late from 01-23.
 *      Inclusive: 01-08 counts too: 22 Jan makes 11: late from 01-22.
 *   U2 CP from Sat 2024-01-06: a Saturday does not count even when
 *      inclusive: Jan 8-12 (5), 15-19 (10), 22 (11): late from 01-22 both ways.
 * The plan's fact is [s, first late day).
 */
static void test_seen_inclusive(void **state) {
  struct stream *s = &((struct ctx *)*state)->s;
  plan_span(s, PLAN_CP, "U1", "U1", D(2024, 1, 8), 0);
  plan_span(s, PLAN_CP, "U2", "U2", D(2024, 1, 6), 0);
  struct workdays wd = {NULL, 0, 0};
  struct derive_ref ref;
  derive_ref_default(&ref);
  ref.wd = &wd;
  for (int inclusive = 0; inclusive <= 1; inclusive++) {
    wd.inclusive = inclusive;
    struct folded u1, u2;
    derive_child(s, "U1", &ref, &u1);
    derive_child(s, "U2", &ref, &u2);
    const csc_date late1 = inclusive ? D(2024, 1, 22) : D(2024, 1, 23);
    assert_int_equal(value_on(&u1, M_SEEN_ON_TIME, PLAN_CP, D(2024, 1, 8)), 1);
    assert_int_equal(value_on(&u1, M_SEEN_ON_TIME, PLAN_CP, late1 - 1), 1);
    assert_int_equal(value_on(&u1, M_SEEN_ON_TIME, PLAN_CP, late1), 0);
    assert_int_equal(value_on(&u2, M_SEEN_ON_TIME, PLAN_CP, D(2024, 1, 19)), 1);
    assert_int_equal(value_on(&u2, M_SEEN_ON_TIME, PLAN_CP, D(2024, 1, 22)), 0);
    arena_free(&u1.a);
    arena_free(&u2.a);
  }
}

/*
 * Visits outside the plan do not count: V1 CP from 2024-01-08 to 2024-01-31,
 * seen 2024-01-05 (before it) and 2024-01-31 (its end date): the gap from
 * the start runs to 01-23 (as U1 above, with the shipped holidays: none in
 * January after the 1st), so the fact is [01-08, 01-23). A later CP plan
 * V2 from 2024-02-01 is seen 2024-02-14: wd(02-01, 02-14) = 9, next due the
 * 11th working day after 02-14: Feb 15-16 (2), 19-23 (7), 26-29 (11):
 * [02-01, 02-29).
 */
static void test_seen_visits_outside_plan(void **state) {
  struct ctx *c = open_ctx(state, "plans_seen_outside");
  struct stream *s = &c->s;
  seen(s, "V", "V1", D(2024, 1, 5));
  plan_span(s, PLAN_CP, "V", "V1", D(2024, 1, 8), D(2024, 1, 31));
  seen(s, "V", "V1", D(2024, 1, 31));
  plan_span(s, PLAN_CP, "V", "V2", D(2024, 2, 1), 0);
  seen(s, "V", "V2", D(2024, 2, 14));
  struct folded x;
  derive_child(s, "V", refdata_for(&c->f.ref, LA), &x);
  size_t n = 0;
  for (size_t i = 0; i < x.d.n_facts; i++) {
    const struct fact *f = &x.d.facts[i];
    if (f->measure != M_SEEN_ON_TIME)
      continue;
    assert_int_equal(f->bucket, PLAN_CP);
    if (n++ == 0) {
      assert_int_equal(f->from, D(2024, 1, 8));
      assert_int_equal(f->to, D(2024, 1, 23));
    } else {
      assert_int_equal(f->from, D(2024, 2, 1));
      assert_int_equal(f->to, D(2024, 2, 29));
    }
  }
  assert_int_equal(n, 2);
  arena_free(&x.a);
}

/* ---- cin_closed_after_step_down ------------------------------------------------------ */

/*
 * CP plans 2024-02-01 -> 2024-05-01 (e + 6m = 2024-11-01) of:
 *   D1 CIN episode from 2024-01-05 closed 2024-09-15: in the numerator from 09-15.
 *   D2 episode closed 2024-11-02, a day past e + 6m: never.
 *   D3 episode closed 2024-05-01, the day the plan ended ("closed when the
 *      plan ends"): INDICATORS.md, "whose CIN episode closed within 6 months
 *      of that end (on the end date itself included)": from 05-01.
 *   D4 episode 2024-01-05 -> 2024-04-01, and one opened on the end date
 *      2024-05-01 closed 2024-07-01: from 07-01.
 * Period of care D5 C2 2023-06-01 -> 2024-04-15 (e + 6m = 2024-10-15), CIN
 *   episode from 2023-01-05 closed 2024-10-15 (on e + 6m): from 10-15.
 * D6 V3 period 2024-03-01 -> 2024-03-05 with an open episode: not a plan.
 * D7 C2 period 2023-08-01 -> 2024-05-01, CIN episode from 2023-01-05 closed
 *   the same day 2024-05-01 ("on the end date itself included"): from 05-01.
 */
static void test_step_down(void **state) {
  struct ctx *c = open_ctx(state, "plans_step_down");
  struct stream *s = &c->s;
  const char *cp[4] = {"D1", "D2", "D3", "D4"};
  for (int i = 0; i < 4; i++) {
    referral(s, cp[i], cp[i], D(2024, 1, 5));
    plan_span(s, PLAN_CP, cp[i], cp[i], D(2024, 2, 1), D(2024, 5, 1));
  }
  ref_close(s, "D1", "D1", D(2024, 9, 15));
  ref_close(s, "D2", "D2", D(2024, 11, 2));
  ref_close(s, "D3", "D3", D(2024, 5, 1));
  ref_close(s, "D4", "D4", D(2024, 4, 1));
  referral(s, "D4", "D4b", D(2024, 5, 1));
  ref_close(s, "D4", "D4b", D(2024, 7, 1));
  referral(s, "D5", "D5", D(2023, 1, 5));
  care_start(s, "D5", "D5", "C2", D(2023, 6, 1));
  care_end(s, "D5", "D5", D(2024, 4, 15));
  ref_close(s, "D5", "D5", D(2024, 10, 15));
  referral(s, "D6", "D6", D(2024, 1, 5));
  care_start(s, "D6", "D6", "V3", D(2024, 3, 1));
  care_end(s, "D6", "D6", D(2024, 3, 5));
  referral(s, "D7", "D7", D(2023, 1, 5));
  care_start(s, "D7", "D7", "C2", D(2023, 8, 1));
  care_end(s, "D7", "D7", D(2024, 5, 1));
  ref_close(s, "D7", "D7", D(2024, 5, 1));

  /* 2024-06-01: four CP ends, D3's episode closed on the end date itself
   * ("on the end date itself included"): 1/4; two periods ended, D7's
   * episode closed on its end date: 1/2. */
  advance(c, D(2024, 6, 1));
  expect_ratio(&c->f, "cin_closed_after_step_down", "12m", "after_CP", 1, 4, 25.0);
  expect_ratio(&c->f, "cin_closed_after_step_down", "12m", "after_LAC", 1, 2, 50.0);
  assert_true(is_provisional(&c->f, "cin_closed_after_step_down", "12m", "after_CP"));
  /* 2024-07-01: D3 and D4 closed: 2/4. */
  advance(c, D(2024, 7, 1));
  expect_ratio(&c->f, "cin_closed_after_step_down", "12m", "after_CP", 2, 4, 50.0);
  /* 2024-11-02: D1, D3 (on the end date, included) and D4 (D2 closed too
   * late): 3/4; D5 on e + 6m and D7 on e: 2/2. */
  advance(c, D(2024, 11, 2));
  expect_ratio(&c->f, "cin_closed_after_step_down", "12m", "after_CP", 3, 4, 75.0);
  expect_ratio(&c->f, "cin_closed_after_step_down", "12m", "after_LAC", 2, 2, 100.0);
  /* 2025-05-01: window (2024-05-01, 2025-05-01] no longer holds the CP ends
   * (2024-05-01) nor D5's (2024-04-15) and D7's (2024-05-01): null. */
  advance(c, D(2025, 5, 1));
  expect_ratio(&c->f, "cin_closed_after_step_down", "12m", "after_CP", 0, 0, 0);
  expect_ratio(&c->f, "cin_closed_after_step_down", "12m", "after_LAC", 0, 0, 0);
}

/* ---- choices of docs/indicators.md ---------------------------------------------- */

/*
 * W1: CP plan a from 2024-01-01, still open when b starts 2024-03-01
 *     (overlapping_plan): "a plan that starts while another of its kind is
 *     still open is a data-quality finding, not a repeat within 12 / 24
 *     months" (INDICATORS.md), but a is an earlier plan of the kind, so b
 *     counts in `ever`. Started in the 12m window on 2024-03-01: a and
 *     b = 2; repeats: 12m 0, 24m 0, ever b = 1.
 *     A CIN plan started and ended 2024-02-01 is started and ended (1 each
 *     on 2024-02-01) but never open, so never seen on time.
 * W2: period P from 2024-01-10 under V3, C2 from 2024-02-01, ended
 *     2024-03-01. INDICATORS.md, "Exclusions": "a day is looked after when
 *     its status is not V3/V4; an entry counts when the status at entry is
 *     not V3/V4; an exit when the status on the last day is not V3/V4".
 *     Entry under V3: not a LAC plan started (0 on 03-01). Last day
 *     2024-02-29 under C2: ended on 03-01 (1). Open (M_PLANS_OPEN) on its
 *     C2 days only: 0 on 01-20, 1 on 02-01. seen_per_plan times the
 *     looked-after run from its first day (docs/indicators.md):
 *     due 02-01 + 43 = 03-15, after the end: on time on 02-01 .. 02-29,
 *     0 on 01-20 (not open). (From the period's start it would have been
 *     due 01-10 + 43 = 02-22.)
 */
static void test_choices(void **state) {
  struct stream *s = &((struct ctx *)*state)->s;
  plan_span(s, PLAN_CP, "W1", "a", D(2024, 1, 1), 0);
  plan_span(s, PLAN_CP, "W1", "b", D(2024, 3, 1), 0);
  plan_span(s, PLAN_CIN, "W1", "z", D(2024, 2, 1), D(2024, 2, 1));
  care_start(s, "W2", "P", "V3", D(2024, 1, 10));
  legal_status(s, "W2", "P", "C2", D(2024, 2, 1));
  care_end(s, "W2", "P", D(2024, 3, 1));
  struct folded w1, w2;
  derive_child(s, "W1", NULL, &w1);
  derive_child(s, "W2", NULL, &w2);
  const csc_date T = D(2024, 3, 1);
  assert_int_equal(value_on(&w1, M_PLANS_STARTED_12M, PLAN_CP, T), 2);
  assert_int_equal(value_on(&w1, M_REPEAT_PLAN_12M, REPEAT(PLAN_CP, 0), T), 0);
  assert_int_equal(value_on(&w1, M_REPEAT_PLAN_12M, REPEAT(PLAN_CP, 1), T), 0);
  assert_int_equal(value_on(&w1, M_REPEAT_PLAN_12M, REPEAT(PLAN_CP, 2), T), 1);
  assert_int_equal(value_on(&w1, M_PLANS_STARTED_12M, PLAN_CIN, D(2024, 2, 1)), 1);
  assert_int_equal(value_on(&w1, M_PLANS_ENDED_12M, PLAN_CIN, D(2024, 2, 1)), 1);
  assert_int_equal(value_on(&w1, M_PLANS_OPEN, PLAN_CIN, D(2024, 2, 1)), 0);
  assert_int_equal(value_on(&w1, M_SEEN_ON_TIME, PLAN_CIN, D(2024, 2, 1)), 0);
  assert_int_equal(value_on(&w2, M_PLANS_ENDED_12M, PLAN_LAC, T), 1);
  assert_int_equal(value_on(&w2, M_PLANS_STARTED_12M, PLAN_LAC, T), 0);
  assert_int_equal(value_on(&w2, M_PLANS_OPEN, PLAN_LAC, D(2024, 1, 20)), 0);
  assert_int_equal(value_on(&w2, M_PLANS_OPEN, PLAN_LAC, D(2024, 2, 1)), 1);
  assert_int_equal(value_on(&w2, M_SEEN_ON_TIME, PLAN_LAC, D(2024, 1, 20)), 0);
  assert_int_equal(value_on(&w2, M_SEEN_ON_TIME, PLAN_LAC, D(2024, 2, 1)), 1);
  assert_int_equal(value_on(&w2, M_SEEN_ON_TIME, PLAN_LAC, D(2024, 2, 22)), 1);
  assert_int_equal(value_on(&w2, M_SEEN_ON_TIME, PLAN_LAC, D(2024, 2, 29)), 1);
  arena_free(&w1.a);
  arena_free(&w2.a);
}

/*
 * The LAC plan by the legal status on the day (INDICATORS.md, Conventions,
 * "Exclusions": "a day is looked after when its status is not V3/V4; an
 * entry counts when the status at entry is not V3/V4; an exit when the
 * status on the last day is not V3/V4").
 * F (forward): period from 2023-01-01 under V3, C2 from 2023-08-01, open.
 *   children_on_plan LAC and M_PLANS_OPEN: 0 on 2023-07-31, 1 on
 *   2023-08-01. open_plans_over: the plan is the period and lasts from its
 *   start, 2023-01-01 (docs/indicators.md): over 6 months on 2023-08-01
 *   (2023-07-01 <= T) = 1, although its first looked-after day is 08-01;
 *   over 12 months from 2024-01-01 (0 on 2023-12-31). Not started (entry
 *   under V3): M_PLANS_STARTED_12M 0 on 2023-08-01.
 * R (reverse): period from 2023-01-01 under C2, V3 from 2023-03-01, ended
 *   2023-04-01; CIN episode from 2022-12-01 closed 2023-04-01. Started
 *   2023-01-01 (1 on 2023-01-01); open 1 on 2023-02-28, 0 on 2023-03-01;
 *   its last day 2023-03-31 is under V3, so no LAC plan ended: ended 0 and
 *   cin_closed_after_step_down after LAC 0 on 2023-04-01 (the episode
 *   closed with it would otherwise make it 1 of 1).
 * plan_duration (INDICATORS.md, Alerts: "when T reaches start + 6, 12 or 24
 * months of a ... LAC plan that is still open"): F's 6-month date
 * 2023-07-01 falls under V3, when no LAC plan is open; it is raised on the
 * plan's first open day after it, 2023-08-01 (docs/indicators.md); the
 * 12-month one on 2024-01-01. G: from 2023-01-01 under C2, V4 from
 * 2023-06-01 and still open: never open again after 2023-07-01, so no
 * 6-month alert (nor 12 or 24).
 */
static csc_date lac_alert_from(const struct folded *x, int months) {
  for (size_t i = 0; i < x->d.n_alerts; i++)
    if (x->d.alerts[i].plan_kind == PLAN_LAC && x->d.alerts[i].months == months)
      return x->d.alerts[i].from;
  return DATE_NEVER;
}

static void test_lac_by_legal_status(void **state) {
  struct stream *s = &((struct ctx *)*state)->s;
  care_start(s, "F", "P", "V3", D(2023, 1, 1));
  legal_status(s, "F", "P", "C2", D(2023, 8, 1));
  referral(s, "R", "r", D(2022, 12, 1));
  care_start(s, "R", "Q", "C2", D(2023, 1, 1));
  legal_status(s, "R", "Q", "V3", D(2023, 3, 1));
  care_end(s, "R", "Q", D(2023, 4, 1));
  ref_close(s, "R", "r", D(2023, 4, 1));
  care_start(s, "G", "P", "C2", D(2023, 1, 1));
  legal_status(s, "G", "P", "V4", D(2023, 6, 1));
  struct folded f, r, g;
  derive_child(s, "F", NULL, &f);
  derive_child(s, "R", NULL, &r);
  derive_child(s, "G", NULL, &g);
  assert_int_equal(lac_alert_from(&f, 6), D(2023, 8, 1));
  assert_int_equal(lac_alert_from(&f, 12), D(2024, 1, 1));
  assert_int_equal(lac_alert_from(&r, 6), DATE_NEVER);
  assert_int_equal(lac_alert_from(&g, 6), DATE_NEVER);
  assert_int_equal(lac_alert_from(&g, 12), DATE_NEVER);
  assert_int_equal(g.d.n_alerts, 0);
  const int over6 = PLAN_LAC * N_THRESHOLDS + 0, over12 = PLAN_LAC * N_THRESHOLDS + 1;
  assert_int_equal(value_on(&f, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2023, 7, 31)), 0);
  assert_int_equal(value_on(&f, M_PLANS_OPEN, PLAN_LAC, D(2023, 7, 31)), 0);
  assert_int_equal(value_on(&f, M_PLANS_OPEN_OVER, over6, D(2023, 7, 31)), 0);
  assert_int_equal(value_on(&f, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2023, 8, 1)), 1);
  assert_int_equal(value_on(&f, M_PLANS_OPEN, PLAN_LAC, D(2023, 8, 1)), 1);
  assert_int_equal(value_on(&f, M_PLANS_OPEN_OVER, over6, D(2023, 8, 1)), 1);
  assert_int_equal(value_on(&f, M_PLANS_OPEN_OVER, over12, D(2023, 12, 31)), 0);
  assert_int_equal(value_on(&f, M_PLANS_OPEN_OVER, over12, D(2024, 1, 1)), 1);
  assert_int_equal(value_on(&f, M_PLANS_STARTED_12M, PLAN_LAC, D(2023, 8, 1)), 0);
  assert_int_equal(value_on(&r, M_PLANS_STARTED_12M, PLAN_LAC, D(2023, 1, 1)), 1);
  assert_int_equal(value_on(&r, M_PLANS_OPEN, PLAN_LAC, D(2023, 2, 28)), 1);
  assert_int_equal(value_on(&r, M_PLANS_OPEN, PLAN_LAC, D(2023, 3, 1)), 0);
  assert_int_equal(value_on(&r, M_CHILDREN_ON_PLAN, PLAN_LAC, D(2023, 3, 1)), 0);
  assert_int_equal(value_on(&r, M_PLANS_ENDED_12M, PLAN_LAC, D(2023, 4, 1)), 0);
  assert_int_equal(value_on(&r, M_STEP_DOWN_ENDS_12M, 1, D(2023, 4, 1)), 0);
  assert_int_equal(value_on(&r, M_STEP_DOWN_CLOSED_12M, 1, D(2023, 4, 1)), 0);
  arena_free(&f.a);
  arena_free(&r.a);
  arena_free(&g.a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_children_in_need, setup, teardown),
      cmocka_unit_test_setup_teardown(test_children_in_need_facts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_after_death, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ended_plans_over, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ended_month_end, setup, teardown),
      cmocka_unit_test_setup_teardown(test_repeat_plan, setup, teardown),
      cmocka_unit_test_setup_teardown(test_repeat_plan_overlap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_repeat_plan_previous_recorded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seen_per_plan, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seen_inclusive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_seen_visits_outside_plan, setup, teardown),
      cmocka_unit_test_setup_teardown(test_step_down, setup, teardown),
      cmocka_unit_test_setup_teardown(test_choices, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lac_by_legal_status, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
