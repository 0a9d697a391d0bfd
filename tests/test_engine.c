/*
 * Hand-worked child histories through the whole engine (decode, history,
 * fold, facts, aggregates, calendar, alerts, snapshot) with a file sink.
 * Every expected value is worked out in the comments from INDICATORS.md.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "tests/testutil.h"

#define LA "E99000001"

/* ---- building events ------------------------------------------------------------ */

struct evs {
  uint8_t data[1 << 16];
  size_t len, off[512], n;
};

static Cscflow__V1__CaseEvent envelope(const char *id, const char *child, csc_date occurred,
                                       csc_date recorded) {
  Cscflow__V1__CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  ev.event_id = (char *)id;
  ev.la_code = LA;
  ev.child_id = (char *)child;
  ev.occurred_on = date_to_yyyymmdd(occurred);
  ev.recorded_at_ms = test_ms(recorded);
  return ev;
}

static void add(struct evs *b, const Cscflow__V1__CaseEvent *ev) {
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  assert_true(b->len + n <= sizeof b->data && b->n < 511);
  cscflow__v1__case_event__pack(ev, b->data + b->len);
  b->off[b->n++] = b->len;
  b->len += n;
  b->off[b->n] = b->len;
}

static void referral(struct evs *b, const char *id, const char *child, csc_date d, csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, rec);
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  r.referral_id = (char *)id;
  r.source = "3F";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  add(b, &ev);
}

static void closure(struct evs *b, const char *id, const char *child, csc_date d, csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, rec);
  Cscflow__V1__ReferralClosed r = CSCFLOW__V1__REFERRAL_CLOSED__INIT;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED;
  ev.referral_closed = &r;
  add(b, &ev);
}

static void cp_start(struct evs *b, const char *id, const char *child, const char *plan,
                     csc_date d, csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, rec);
  Cscflow__V1__CpPlanStarted p = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  p.plan_id = (char *)plan;
  p.initial_category = "N";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  ev.cp_plan_started = &p;
  add(b, &ev);
}

static void cp_end(struct evs *b, const char *id, const char *child, const char *plan, csc_date d,
                   csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, rec);
  Cscflow__V1__CpPlanEnded p = CSCFLOW__V1__CP_PLAN_ENDED__INIT;
  p.plan_id = (char *)plan;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED;
  ev.cp_plan_ended = &p;
  add(b, &ev);
}

static void care_start(struct evs *b, const char *id, const char *child, const char *legal,
                       csc_date d, csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, rec);
  Cscflow__V1__PeriodOfCareStarted p = CSCFLOW__V1__PERIOD_OF_CARE_STARTED__INIT;
  Cscflow__V1__Placement pl = CSCFLOW__V1__PLACEMENT__INIT;
  pl.placement_type = "U1";
  p.period_id = (char *)id;
  p.legal_status = (char *)legal;
  p.placement = &pl;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED;
  ev.period_of_care_started = &p;
  add(b, &ev);
}

static void care_end(struct evs *b, const char *id, const char *child, csc_date d, csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, rec);
  Cscflow__V1__PeriodOfCareEnded p = CSCFLOW__V1__PERIOD_OF_CARE_ENDED__INIT;
  p.reason_ceased = "E13";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED;
  ev.period_of_care_ended = &p;
  add(b, &ev);
}

static void move(struct evs *b, const char *id, const char *child, const char *type, csc_date d,
                 csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, rec);
  Cscflow__V1__PlacementStarted p = CSCFLOW__V1__PLACEMENT_STARTED__INIT;
  Cscflow__V1__Placement pl = CSCFLOW__V1__PLACEMENT__INIT;
  pl.placement_type = (char *)type;
  p.placement = &pl;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED;
  ev.placement_started = &p;
  add(b, &ev);
}

/* An event that only moves the LA's replay clock to the day it is recorded. */
static void tick(struct evs *b, const char *id, csc_date d) {
  Cscflow__V1__CaseEvent ev = envelope(id, "CLOCK", d, d);
  Cscflow__V1__ChildDetails c = CSCFLOW__V1__CHILD_DETAILS__INIT;
  c.date_of_birth = 20100101;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
  ev.child_details = &c;
  add(b, &ev);
}

/* ---- running the engine ------------------------------------------------------------ */

struct fixture {
  char dir[256], out[300];
  struct sink *sink;
  struct engine *e;
  struct population pop;
};

static void open_fixture(struct fixture *f, const char *name) {
  char err[512];
  test_tmpdir(f->dir, sizeof f->dir, name);
  snprintf(f->out, sizeof f->out, "%s/out", f->dir);
  assert_int_equal(mkdir(f->out, 0750), 0);
  assert_int_equal(sink_file_open(f->out, &f->sink), CSC_OK);
  population_init(&f->pop);
  assert_int_equal(population_set(&f->pop, LA, 2023, 10000), CSC_OK);
  struct engine_options eo = {f->dir, CLOCK_REPLAY, &f->pop, f->sink, 100, 0};
  assert_int_equal(engine_open(&eo, &f->e, err, sizeof err), CSC_OK);
}

static void close_fixture(struct fixture *f) {
  engine_close(f->e);
  f->sink->destroy(f->sink);
  population_free(&f->pop);
}

/* Applies events [from, to) of b, one batch. */
static void apply(struct fixture *f, const struct evs *b, size_t from, size_t to) {
  struct engine_input in[512];
  for (size_t i = from; i < to; i++)
    in[i - from] = (struct engine_input){"test", 0, (int64_t)i, (int64_t)i + 1, NULL, 0,
                                         b->data + b->off[i], b->off[i + 1] - b->off[i]};
  assert_int_equal(engine_apply_batch(f->e, in, to - from), CSC_OK);
}

struct value {
  const char *id, *window, *breakdown;
  int found, has_den, has_value, has_per_10k;
  double num, den, value, per_10k;
  uint32_t as_of;
  uint64_t quality[16];
};

static int capture(void *ctx, const IndicatorSnapshot *snap) {
  struct value *v = ctx;
  v->as_of = snap->as_of;
  for (size_t i = 0; i < snap->n_quality && i < 16; i++)
    v->quality[i] = snap->quality[i]->count;
  const Cscflow__V1__IndicatorValue *x = snapshot_find(snap, v->id, v->window, v->breakdown);
  if (x != NULL) {
    v->found = 1;
    v->num = x->numerator;
    v->has_den = x->has_denominator;
    v->den = x->denominator;
    v->has_value = x->has_value;
    v->value = x->value;
    v->has_per_10k = x->has_per_10k;
    v->per_10k = x->per_10k;
  }
  return CSC_OK;
}

static struct value get(struct fixture *f, const char *id, const char *window, const char *bd) {
  struct value v = {id, window, bd, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0}};
  struct store *st = engine_store(f->e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, LA, capture, &v), CSC_OK);
  mdb_txn_abort(txn);
  assert_true(v.found);
  return v;
}

static void expect_ratio(struct fixture *f, const char *id, const char *window, const char *bd,
                         double num, double den, double pct) {
  struct value v = get(f, id, window, bd);
  assert_float_equal(v.num, num, 1e-9);
  assert_true(v.has_den);
  assert_float_equal(v.den, den, 1e-9);
  if (den == 0) {
    assert_false(v.has_value); /* null, never 0 */
  } else {
    assert_true(v.has_value);
    assert_float_equal(v.value, pct, 1e-6);
  }
}

static void expect_count(struct fixture *f, const char *id, const char *window, const char *bd,
                         double count, double per_10k) {
  struct value v = get(f, id, window, bd);
  assert_float_equal(v.num, count, 1e-9);
  assert_true(v.has_value);
  assert_float_equal(v.value, count, 1e-9);
  assert_true(v.has_per_10k);
  assert_float_equal(v.per_10k, per_10k, 1e-9);
}

/* ---- referrals and re-referrals -------------------------------------------------------- */

/*
 * Child A: referrals 2023-03-15, 2023-09-10 (within 12 months of the first:
 *          a re-referral), 2024-10-01 (previous 2023-09-10 is before
 *          2024-10-01 - 12m = 2023-10-01: not a re-referral).
 * Child B: referral 2024-02-29, open.
 * Child C: referral 2024-03-20, and 2024-04-02 while it is still open: a
 *          data-quality finding, not a referral.
 * Child D: referrals 2024-01-05 (closed 2024-01-20) and 2024-06-01: a
 *          re-referral.
 */
static void build_referrals(struct evs *b) {
  const csc_date rec = D(2024, 10, 1);
  referral(b, "a1", "A", D(2023, 3, 15), D(2023, 3, 15));
  closure(b, "a1c", "A", D(2023, 4, 1), D(2023, 4, 1));
  referral(b, "a2", "A", D(2023, 9, 10), D(2023, 9, 10));
  closure(b, "a2c", "A", D(2023, 10, 1), D(2023, 10, 1));
  referral(b, "b1", "B", D(2024, 2, 29), D(2024, 2, 29));
  referral(b, "c1", "C", D(2024, 3, 20), D(2024, 3, 20));
  referral(b, "c2", "C", D(2024, 4, 2), D(2024, 4, 2));
  referral(b, "d1", "D", D(2024, 1, 5), D(2024, 1, 5));
  closure(b, "d1c", "D", D(2024, 1, 20), D(2024, 1, 20));
  referral(b, "d2", "D", D(2024, 6, 1), D(2024, 6, 1));
  referral(b, "a3", "A", D(2024, 10, 1), rec);
}

static void test_referrals(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "referrals");
  static struct evs b;
  memset(&b, 0, sizeof b);
  build_referrals(&b);
  tick(&b, "t1", D(2025, 2, 28));
  tick(&b, "t2", D(2025, 3, 1));
  apply(&f, &b, 0, b.n - 2);

  /* T = 2024-10-01, window (2023-10-01, 2024-10-01]: A 2024-10-01, B 2024-02-29,
   * C 2024-03-20, D 2024-01-05, D 2024-06-01 = 5 referrals; re-referrals: D
   * 2024-06-01 = 1 (A 2023-09-10 is outside): 20%. Per 10,000 of 10,000: 5. */
  expect_count(&f, "referrals", "12m", "", 5, 5);
  expect_ratio(&f, "rereferrals", "12m", "", 1, 5, 20.0);
  /* FYTD from 2024-04-01: A 2024-10-01, D 2024-06-01 = 2; re-referral D: 50%. */
  expect_count(&f, "referrals", "FYTD", "", 2, 2);
  expect_ratio(&f, "rereferrals", "FYTD", "", 1, 2, 50.0);
  /* One referral_while_open finding (C 2024-04-02); rule index 2. */
  struct value q = get(&f, "referrals", "12m", "");
  assert_int_equal(q.as_of, 20241001);
  assert_int_equal(q.quality[Q_REFERRAL_WHILE_OPEN], 1);

  /* The clock moves to 2025-02-28 through the calendar alone: window
   * (2024-02-28, 2025-02-28] still holds B's 29 Feb 2024 referral, so A
   * 2024-10-01, B, C 2024-03-20, D 2024-06-01 = 4; re-referral D: 25%. */
  apply(&f, &b, b.n - 2, b.n - 1);
  expect_count(&f, "referrals", "12m", "", 4, 4);
  expect_ratio(&f, "rereferrals", "12m", "", 1, 4, 25.0);
  /* 2025-03-01: window (2024-03-01, 2025-03-01] drops B: 3; 1 of 3. */
  apply(&f, &b, b.n - 1, b.n);
  expect_count(&f, "referrals", "12m", "", 3, 3);
  expect_ratio(&f, "rereferrals", "12m", "", 1, 3, 100.0 / 3);
  /* FYTD of 2024-25 on 2025-03-01: A 2024-10-01, D 2024-06-01. */
  expect_count(&f, "referrals", "FYTD", "", 2, 2);
  close_fixture(&f);
}

/* Arrival order must not matter: the same events in reverse give the same
 * figures once the clock is at the same date. */
static void test_referrals_any_order(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "reverse");
  static struct evs b, r;
  memset(&b, 0, sizeof b);
  memset(&r, 0, sizeof r);
  build_referrals(&b);
  for (size_t i = b.n; i-- > 0;) {
    Cscflow__V1__CaseEvent *ev =
        cscflow__v1__case_event__unpack(NULL, b.off[i + 1] - b.off[i], b.data + b.off[i]);
    assert_non_null(ev);
    add(&r, ev);
    cscflow__v1__case_event__free_unpacked(ev, NULL);
  }
  apply(&f, &r, 0, r.n);
  expect_count(&f, "referrals", "12m", "", 5, 5);
  expect_ratio(&f, "rereferrals", "12m", "", 1, 5, 20.0);
  expect_ratio(&f, "rereferrals", "FYTD", "", 1, 2, 50.0);
  close_fixture(&f);
}

/* ---- CP plans, durations and alerts ---------------------------------------------------- */

struct alerts_seen {
  char ids[32][128];
  int status[32];
  size_t n;
};

static void read_alerts(struct fixture *f, struct alerts_seen *a) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.bin", f->out, TOPIC_ALERTS);
  assert_int_equal(f->sink->flush(f->sink, 0), CSC_OK);
  memset(a, 0, sizeof *a);
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return;
  static uint8_t buf[1 << 16];
  const size_t len = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  size_t pos = 0;
  struct sink_record rec;
  while (sink_file_read_record(buf, len, &pos, &rec) == CSC_OK) {
    Alert *al = cscflow__v1__alert__unpack(NULL, rec.value_len, rec.value);
    assert_non_null(al);
    assert_true(a->n < 32);
    assert_int_equal(rec.key_len, strlen(al->alert_id));
    snprintf(a->ids[a->n], sizeof a->ids[0], "%s", al->alert_id);
    a->status[a->n++] = al->status;
    cscflow__v1__alert__free_unpacked(al, NULL);
  }
}

static int has_alert(const struct alerts_seen *a, const char *id, int status) {
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->ids[i], id) == 0 && a->status[i] == status)
      return 1;
  return 0;
}

#define RAISED CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED
#define WITHDRAWN CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_WITHDRAWN

static void test_cp_plans_and_alerts(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "cp");
  static struct evs b;
  memset(&b, 0, sizeof b);
  /* All recorded on 2024-08-31, the LA's first day in cscflow:
   * P: CP1 2023-01-10 .. 2024-02-01 (ended); Q: CP2 from 2024-01-31;
   * R: CP3 from 2022-06-15. */
  const csc_date load = D(2024, 8, 31);
  cp_start(&b, "p1", "P", "CP1", D(2023, 1, 10), load);
  cp_end(&b, "p2", "P", "CP1", D(2024, 2, 1), load);
  cp_start(&b, "q1", "Q", "CP2", D(2024, 1, 31), load);
  cp_start(&b, "r1", "R", "CP3", D(2022, 6, 15), load);
  apply(&f, &b, 0, b.n);

  /* On 2024-08-31: Q and R on a plan: 2, per 10k 2. Open plans 2; over 6m:
   * Q (2024-07-31 <= T) and R: 100%; over 12m: R only (Q's is 2025-01-31):
   * 50%; over 24m: R (2024-06-15): 50%. */
  expect_count(&f, "children_on_plan", "T", "CP", 2, 2);
  expect_ratio(&f, "open_plans_over", "T", "CP,6m", 2, 2, 100.0);
  expect_ratio(&f, "open_plans_over", "T", "CP,12m", 1, 2, 50.0);
  expect_ratio(&f, "open_plans_over", "T", "CP,24m", 1, 2, 50.0);
  /* LAC: nobody; placements_3plus has denominator 0: value null. */
  expect_ratio(&f, "placements_3plus", "FYTD", "", 0, 0, 0);

  /* Alerts: plans past a threshold and open on T: Q 6m; R 6m, 12m, 24m.
   * P's start is applied before its end (same batch, event order), so when
   * it is applied the plan looks open and past 6 and 12 months: both are
   * raised, and the end (2024-02-01, after both marks) does not make them
   * untrue: the plan did last 12 months. 6 alerts. */
  struct alerts_seen a;
  read_alerts(&f, &a);
  assert_int_equal(a.n, 6);
  assert_true(has_alert(&a, "plan_duration:" LA ":P:CP:CP1:6m", RAISED));
  assert_true(has_alert(&a, "plan_duration:" LA ":P:CP:CP1:12m", RAISED));
  assert_true(has_alert(&a, "plan_duration:" LA ":Q:CP:CP2:6m", RAISED));
  assert_true(has_alert(&a, "plan_duration:" LA ":R:CP:CP3:6m", RAISED));
  assert_true(has_alert(&a, "plan_duration:" LA ":R:CP:CP3:12m", RAISED));
  assert_true(has_alert(&a, "plan_duration:" LA ":R:CP:CP3:24m", RAISED));

  /* S starts a plan on 2024-09-02 (recorded that day); its 6-month mark,
   * 2025-03-02, waits in the alert calendar. */
  size_t first = b.n;
  cp_start(&b, "s1", "S", "CP4", D(2024, 9, 2), D(2024, 9, 2));
  /* A correction recorded 2024-09-03 back-dates the end of Q's plan to
   * 2024-06-30, before its 6-month mark (2024-07-31): the 6m alert is
   * withdrawn under the same id. */
  cp_end(&b, "q2", "Q", "CP2", D(2024, 6, 30), D(2024, 9, 3));
  apply(&f, &b, first, b.n);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 7);
  assert_true(has_alert(&a, "plan_duration:" LA ":Q:CP:CP2:6m", WITHDRAWN));
  /* Now R only on a plan (S's started 2024-09-02, so 2 children): R and S. */
  expect_count(&f, "children_on_plan", "T", "CP", 2, 2);
  expect_ratio(&f, "open_plans_over", "T", "CP,6m", 1, 2, 50.0);

  first = b.n;
  tick(&b, "t1", D(2025, 3, 1));
  apply(&f, &b, first, b.n);
  read_alerts(&f, &a);
  /* R's plan is still open; nothing else falls due by 2025-03-01 (Q's 12m
   * mark, 2025-01-31, went with the back-dated end). S's is due 2025-03-02. */
  assert_int_equal(a.n, 7);
  first = b.n;
  tick(&b, "t2", D(2025, 3, 2));
  apply(&f, &b, first, b.n);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 8);
  assert_true(has_alert(&a, "plan_duration:" LA ":S:CP:CP4:6m", RAISED));
  close_fixture(&f);
}

/* ---- looked after and placement stability --------------------------------------------------- */

static void test_placements(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "lac");
  static struct evs b;
  memset(&b, 0, sizeof b);
  const csc_date rec = D(2024, 10, 1);
  /* L: looked after from 2023-05-01 (U1), moves 2024-05-10 and 2024-09-01. */
  care_start(&b, "l1", "L", "C2", D(2023, 5, 1), rec);
  move(&b, "l2", "L", "U3", D(2024, 5, 10), rec);
  move(&b, "l3", "L", "U4", D(2024, 9, 1), rec);
  /* M: short breaks (V3) with three placements: excluded everywhere. */
  care_start(&b, "m1", "M", "V3", D(2024, 1, 1), rec);
  move(&b, "m2", "M", "U2", D(2024, 5, 1), rec);
  move(&b, "m3", "M", "U3", D(2024, 6, 1), rec);
  /* N: looked after from 2024-06-01, one placement. */
  care_start(&b, "n1", "N", "C2", D(2024, 6, 1), rec);
  /* K: three placements this year but left care 2024-07-01: not on T. */
  care_start(&b, "k1", "K", "C2", D(2023, 1, 1), rec);
  move(&b, "k2", "K", "U2", D(2024, 4, 10), rec);
  move(&b, "k3", "K", "U3", D(2024, 5, 10), rec);
  care_end(&b, "k4", "K", D(2024, 7, 1), rec);
  /* L2: from 2022-01-01; moves 2023-11-01 and 2024-03-01. */
  care_start(&b, "x1", "L2", "C2", D(2022, 1, 1), rec);
  move(&b, "x2", "L2", "U2", D(2023, 11, 1), rec);
  move(&b, "x3", "L2", "U3", D(2024, 3, 1), rec);
  /* A placement with no period of care: a finding, not a placement. */
  move(&b, "z1", "Z", "U1", D(2024, 5, 1), rec);
  apply(&f, &b, 0, b.n);

  /* On 2024-10-01 looked after (not V3/V4): L, N, L2 = 3.
   * FYTD (from 2024-04-01), placements open on some day of it:
   *   L: U1 (open to 2024-05-09), U3, U4 = 3 -> counts;
   *   L2: U3 only (U2 ended 2024-03-01) = 1; N: 1.   1 of 3.
   * 12 months (2023-10-01, 2024-10-01]:
   *   L: 3; L2: U1 (last day 2023-10-31), U2, U3 = 3 -> counts.   2 of 3. */
  expect_count(&f, "children_on_plan", "T", "LAC", 3, 3);
  expect_ratio(&f, "placements_3plus", "FYTD", "", 1, 3, 100.0 / 3);
  expect_ratio(&f, "placements_3plus", "12m", "", 2, 3, 200.0 / 3);
  struct value q = get(&f, "children_on_plan", "T", "LAC");
  assert_int_equal(q.quality[Q_PLACEMENT_OUTSIDE_CARE], 1);
  close_fixture(&f);
}

/* ---- duplicates, bad input, restart ------------------------------------------------------- */

static void test_duplicates_and_dead_letters(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "dup");
  static struct evs b;
  memset(&b, 0, sizeof b);
  referral(&b, "a1", "A", D(2024, 5, 1), D(2024, 5, 1));
  referral(&b, "a1", "A", D(2024, 5, 1), D(2024, 5, 1)); /* the same event twice */
  struct engine_input in[3];
  for (size_t i = 0; i < 2; i++)
    in[i] = (struct engine_input){"test", 0, (int64_t)i, (int64_t)i + 1, NULL, 0,
                                  b.data + b.off[i], b.off[i + 1] - b.off[i]};
  static const uint8_t garbage[] = "not a protobuf message";
  in[2] = (struct engine_input){"test", 0, 2, 3, LA, strlen(LA), garbage, sizeof garbage};
  assert_int_equal(engine_apply_batch(f.e, in, 3), CSC_OK);
  const struct engine_stats *s = engine_stats(f.e);
  assert_int_equal(s->applied, 1);
  assert_int_equal(s->duplicates, 1);
  assert_int_equal(s->dead_lettered, 1);
  expect_count(&f, "referrals", "12m", "", 1, 1);
  int64_t next;
  assert_int_equal(engine_position(f.e, "test", 0, &next), CSC_OK);
  assert_int_equal(next, 3);
  close_fixture(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_referrals),
      cmocka_unit_test(test_referrals_any_order),
      cmocka_unit_test(test_cp_plans_and_alerts),
      cmocka_unit_test(test_placements),
      cmocka_unit_test(test_duplicates_and_dead_letters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
