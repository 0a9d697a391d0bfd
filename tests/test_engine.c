/*
 * Hand-worked child histories through the whole engine (decode, history,
 * fold, facts, aggregates, calendar, alerts, snapshot) with a file sink.
 * Every expected value is worked out in the comments from INDICATORS.md.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "tests/harness.h"
#include "tests/testutil.h"

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

/* A correction of event i of b: a copy with event_id id, recorded on rec, on
 * date occurred (its own when 0), superseding event_id supersedes. */
static void amend(struct evs *b, size_t i, const char *id, csc_date occurred, csc_date rec,
                  const char *supersedes) {
  Cscflow__V1__CaseEvent *ev =
      cscflow__v1__case_event__unpack(NULL, b->off[i + 1] - b->off[i], b->data + b->off[i]);
  assert_non_null(ev);
  char *const own_id = ev->event_id, *const own_supersedes = ev->supersedes_event_id;
  ev->event_id = (char *)id;
  ev->supersedes_event_id = (char *)supersedes;
  if (occurred != 0)
    ev->occurred_on = date_to_yyyymmdd(occurred);
  ev->recorded_at_ms = test_ms(rec);
  add(b, ev);
  ev->event_id = own_id; /* freed with the message, not the literals */
  ev->supersedes_event_id = own_supersedes;
  cscflow__v1__case_event__free_unpacked(ev, NULL);
}

/* A retraction of event target of child (no payload), recorded on rec. */
static void retraction(struct evs *b, const char *id, const char *child, const char *target,
                       csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, rec, rec);
  ev.retracts_event_id = (char *)target;
  add(b, &ev);
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
  add_reversed(&r, &b);
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
#define FINDING_OPEN CSCFLOW__V1__FINDING_STATUS__FINDING_STATUS_OPEN
#define FINDING_RESOLVED CSCFLOW__V1__FINDING_STATUS__FINDING_STATUS_RESOLVED

/* The messages on csc.quality.v1, in the order published. */
struct findings_seen {
  char key[16][128], id[16][128], la[16][16], child[16][16], rule[16][32], event[16][32];
  int status[16];
  uint32_t as_of[16];
  size_t n;
};

static void read_findings(struct fixture *f, struct findings_seen *q) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.bin", f->out, TOPIC_QUALITY);
  assert_int_equal(f->sink->flush(f->sink, 0), CSC_OK);
  memset(q, 0, sizeof *q);
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return;
  static uint8_t buf[1 << 16];
  const size_t len = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  size_t pos = 0;
  struct sink_record rec;
  while (sink_file_read_record(buf, len, &pos, &rec) == CSC_OK) {
    Cscflow__V1__QualityFinding *x =
        cscflow__v1__quality_finding__unpack(NULL, rec.value_len, rec.value);
    assert_non_null(x);
    assert_true(q->n < 16 && rec.key_len < sizeof q->key[0]);
    memcpy(q->key[q->n], rec.key, rec.key_len);
    snprintf(q->id[q->n], sizeof q->id[0], "%s", x->finding_id);
    snprintf(q->la[q->n], sizeof q->la[0], "%s", x->la_code);
    snprintf(q->child[q->n], sizeof q->child[0], "%s", x->child_id);
    snprintf(q->rule[q->n], sizeof q->rule[0], "%s", x->rule);
    snprintf(q->event[q->n], sizeof q->event[0], "%s", x->event_id);
    q->status[q->n] = x->status;
    q->as_of[q->n++] = x->as_of;
    cscflow__v1__quality_finding__free_unpacked(x, NULL);
  }
}

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

  /* Alerts (indicators/alerts.c): an alert is true on T when its plan was
   * open on the day it crossed the threshold and that day is <= T, whatever
   * order the plan's events arrive in. Q 6m (2024-07-31); R 6m, 12m, 24m
   * (2024-06-15). P's plan, 2023-01-10 .. 2024-02-01, was open on 2023-07-10
   * (6m) and 2024-01-10 (12m): both true although it has ended, and they
   * would be with its end applied before its start. Not 24m (2025-01-10,
   * after its end). 6 alerts. */
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

/* ---- corrections ---------------------------------------------------------------------- */

/*
 * Supersession. A: referral a1 on 2024-03-10, amended (a1m, recorded
 * 2024-03-20) to 2024-02-10. B: referral b1 on 2024-03-10, never amended: the
 * control. A counts once, on the amended date.
 */
static void test_supersede(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "supersede");
  static struct evs b;
  memset(&b, 0, sizeof b);
  referral(&b, "a1", "A", D(2024, 3, 10), D(2024, 3, 10));
  referral(&b, "b1", "B", D(2024, 3, 10), D(2024, 3, 10));
  apply(&f, &b, 0, b.n);
  /* T = 2024-03-10: A and B, in the 12 months and in FY 2023-24. */
  expect_count(&f, "referrals", "12m", "", 2, 2);
  expect_count(&f, "referrals", "FYTD", "", 2, 2);

  size_t first = b.n;
  amend(&b, 0, "a1m", D(2024, 2, 10), D(2024, 3, 20), "a1");
  apply(&f, &b, first, b.n);
  /* T = 2024-03-20, window (2023-03-20, 2024-03-20]: A (2024-02-10) and B =
   * 2, not 3: a1 takes no part. Not referral_while_open either (a1 is not
   * open when the amendment, its replacement, is folded). FYTD 2023-24: 2. */
  expect_count(&f, "referrals", "12m", "", 2, 2);
  expect_count(&f, "referrals", "FYTD", "", 2, 2);
  struct value v = get(&f, "referrals", "12m", "");
  assert_int_equal(v.as_of, 20240320);
  assert_int_equal(v.events_applied, 3);
  for (int r = 0; r < Q_RULE_COUNT; r++)
    assert_int_equal(v.quality[r], 0);

  /* The clock then shows which date A's referral has. 2025-02-09, window
   * (2024-02-09, 2025-02-09]: A (2024-02-10) and B: 2. FYTD 2024-25: none. */
  first = b.n;
  tick(&b, "t1", D(2025, 2, 9));
  apply(&f, &b, first, b.n);
  expect_count(&f, "referrals", "12m", "", 2, 2);
  expect_count(&f, "referrals", "FYTD", "", 0, 0);
  /* 2025-02-10, window (2024-02-10, 2025-02-10]: A's amended date has left
   * it; B (2024-03-10) has not. 1; on A's original date it would be 2 until
   * 2025-03-10. */
  first = b.n;
  tick(&b, "t2", D(2025, 2, 10));
  apply(&f, &b, first, b.n);
  expect_count(&f, "referrals", "12m", "", 1, 1);
  /* 2025-03-10, window (2024-03-10, 2025-03-10]: B has left: 0. */
  first = b.n;
  tick(&b, "t3", D(2025, 3, 10));
  apply(&f, &b, first, b.n);
  expect_count(&f, "referrals", "12m", "", 0, 0);
  close_fixture(&f);
}

/*
 * Retraction. P: CP plan CP1 from 2024-01-10 (6-month mark 2024-07-10); Q:
 * CP plan CP2 from 2024-03-01 (6-month mark 2024-09-01, 12-month mark
 * 2025-03-01). P's start is retracted on 2024-07-15, after its alert was
 * raised.
 */
static void test_retract(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "retract");
  static struct evs b;
  memset(&b, 0, sizeof b);
  cp_start(&b, "p1", "P", "CP1", D(2024, 1, 10), D(2024, 1, 10));
  cp_start(&b, "q1", "Q", "CP2", D(2024, 3, 1), D(2024, 3, 1));
  tick(&b, "t1", D(2024, 7, 10));
  apply(&f, &b, 0, b.n);
  /* T = 2024-07-10: P and Q on a plan: 2. Past 6 months: P only: 1 of 2. */
  expect_count(&f, "children_on_plan", "T", "CP", 2, 2);
  expect_ratio(&f, "open_plans_over", "T", "CP,6m", 1, 2, 50.0);
  struct alerts_seen a;
  read_alerts(&f, &a);
  assert_int_equal(a.n, 1);
  assert_true(has_alert(&a, "plan_duration:" LA ":P:CP:CP1:6m", RAISED));

  size_t first = b.n;
  retraction(&b, "p1x", "P", "p1", D(2024, 7, 15));
  apply(&f, &b, first, b.n);
  /* T = 2024-07-15: Q only: 1 (down by one); past 6 months: 0 of 1. The
   * alert is withdrawn under the id it was raised with. */
  expect_count(&f, "children_on_plan", "T", "CP", 1, 1);
  expect_ratio(&f, "open_plans_over", "T", "CP,6m", 0, 1, 0.0);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 2);
  assert_string_equal(a.ids[1], "plan_duration:" LA ":P:CP:CP1:6m");
  assert_int_equal(a.status[1], WITHDRAWN);

  /* 2025-01-10 would be P's 12-month mark: nothing is left of it. Q's 6m
   * (2024-09-01) falls due on the way: 3 messages. */
  first = b.n;
  tick(&b, "t2", D(2025, 1, 10));
  apply(&f, &b, first, b.n);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 3);
  assert_true(has_alert(&a, "plan_duration:" LA ":Q:CP:CP2:6m", RAISED));
  assert_false(has_alert(&a, "plan_duration:" LA ":P:CP:CP1:12m", RAISED));
  close_fixture(&f);
}

/*
 * A repeated event_id is ignored, whatever it carries: a1 (A's referral on
 * 2024-05-01) sent again byte for byte, and an event a1 that is a CP plan
 * start, in a later batch with B's referral b1 (2024-06-01).
 */
static void test_duplicate_event_id(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "dupid");
  static struct evs b;
  memset(&b, 0, sizeof b);
  referral(&b, "a1", "A", D(2024, 5, 1), D(2024, 5, 1));
  apply(&f, &b, 0, b.n);
  referral(&b, "a1", "A", D(2024, 5, 1), D(2024, 5, 1));
  cp_start(&b, "a1", "A", "CP1", D(2024, 6, 1), D(2024, 6, 1));
  referral(&b, "b1", "B", D(2024, 6, 1), D(2024, 6, 1));
  apply(&f, &b, 1, b.n);
  /* Applied: a1 and b1; duplicates: the two other a1s. */
  const struct engine_stats *s = engine_stats(f.e);
  assert_int_equal(s->consumed, 4);
  assert_int_equal(s->applied, 2);
  assert_int_equal(s->duplicates, 2);
  /* T = 2024-06-01: referrals A and B; nobody on a plan. */
  struct value v = get(&f, "referrals", "12m", "");
  assert_int_equal(v.events_applied, 2);
  assert_int_equal(v.as_of, 20240601);
  expect_count(&f, "referrals", "12m", "", 2, 2);
  expect_count(&f, "children_on_plan", "T", "CP", 0, 0);
  close_fixture(&f);
}

/*
 * Corrections that arrive before what they correct.
 * R: the retraction of r1 (recorded 2024-08-01) arrives first, then r1: CP
 *    plan CP9 from 2024-01-10, recorded back then (it does not move the
 *    clock). Counted, it would be past its 6-month mark (2024-07-10) on
 *    arrival and raise an alert at once.
 * S: the amendment s1m moving S's CP plan CP8 to 2024-03-01 (recorded
 *    2024-08-01) arrives before s1, the start on 2023-12-01 it supersedes.
 */
static void test_correction_before_original(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "early-correction");
  static struct evs b;
  memset(&b, 0, sizeof b);
  cp_start(&b, "r1", "R", "CP9", D(2024, 1, 10), D(2024, 1, 10));
  cp_start(&b, "s1", "S", "CP8", D(2023, 12, 1), D(2023, 12, 1));
  amend(&b, 1, "s1m", D(2024, 3, 1), D(2024, 8, 1), "s1");
  retraction(&b, "r1x", "R", "r1", D(2024, 8, 1));
  /* Arrival order: r1x, s1m, then r1, s1 (events 3, 2, 0, 1). */
  apply(&f, &b, 3, 4);
  apply(&f, &b, 2, 3);
  apply(&f, &b, 0, 2);
  assert_int_equal(engine_stats(f.e)->applied, 4);
  /* T = 2024-08-01 (the first event's day). R: retracted, never counts. S:
   * on a plan since 2024-03-01, 6-month mark 2024-09-01, not yet (from
   * 2023-12-01 it would have passed 6 months on 2024-06-01). */
  expect_count(&f, "children_on_plan", "T", "CP", 1, 1);
  expect_ratio(&f, "open_plans_over", "T", "CP,6m", 0, 1, 0.0);
  struct alerts_seen a;
  read_alerts(&f, &a);
  assert_int_equal(a.n, 0);

  /* 2024-09-01: S's 6m. 2025-01-10, R's 12-month mark had it counted:
   * still nothing for R; S's 12m is 2025-03-01. One alert in all. */
  size_t first = b.n;
  tick(&b, "t1", D(2024, 9, 1));
  tick(&b, "t2", D(2025, 1, 10));
  apply(&f, &b, first, first + 1);
  apply(&f, &b, first + 1, b.n);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 1);
  assert_true(has_alert(&a, "plan_duration:" LA ":S:CP:CP8:6m", RAISED));
  expect_count(&f, "children_on_plan", "T", "CP", 1, 1);
  expect_ratio(&f, "open_plans_over", "T", "CP,6m", 1, 1, 100.0);
  close_fixture(&f);
}

/* ---- alerts: withdrawal, and plans learned of late ------------------------------------------ */

/* The last message published for an alert id (the alerts table). */
struct stored_alert {
  int found, status, has_plan_end;
  uint32_t plan_start, date_crossed, plan_end, as_of;
};

static struct stored_alert stored_alert(struct fixture *f, const char *id) {
  struct stored_alert out = {0};
  struct store *st = engine_store(f->e);
  MDB_txn *txn;
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {store_key(key, LA, id, strlen(id)), key}, v;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  if (mdb_get(txn, st->alerts, &k, &v) == 0) {
    Alert *a = cscflow__v1__alert__unpack(NULL, v.mv_size, v.mv_data);
    assert_non_null(a);
    assert_string_equal(a->alert_id, id);
    out = (struct stored_alert){1, a->status, a->has_plan_end, a->plan_start, a->date_crossed,
                                a->plan_end, a->as_of};
    cscflow__v1__alert__free_unpacked(a, NULL);
  }
  mdb_txn_abort(txn);
  return out;
}

/* Every id in the alerts table with its last status, in id order. */
static void alert_table(struct fixture *f, struct alerts_seen *a) {
  struct store *st = engine_store(f->e);
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  memset(a, 0, sizeof *a);
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(mdb_cursor_open(txn, st->alerts, &cur), 0);
  while (mdb_cursor_get(cur, &k, &v, a->n ? MDB_NEXT : MDB_FIRST) == 0) {
    Alert *al = cscflow__v1__alert__unpack(NULL, v.mv_size, v.mv_data);
    assert_non_null(al);
    assert_true(a->n < 32);
    snprintf(a->ids[a->n], sizeof a->ids[0], "%s", al->alert_id);
    a->status[a->n++] = al->status;
    cscflow__v1__alert__free_unpacked(al, NULL);
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
}

/*
 * W: CP plan CPW from 2024-01-15; its 6m alert is raised when the clock
 * reaches 2024-07-15. A correction recorded 2024-07-20 dates the plan's end
 * 2024-06-30, before the mark: the plan was not open when it would have
 * crossed 6 months, so the alert is withdrawn under the same id.
 */
static void test_alert_withdrawn_by_backdated_end(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "withdraw");
  static struct evs b;
  memset(&b, 0, sizeof b);
  const char *id = "plan_duration:" LA ":W:CP:CPW:6m";
  cp_start(&b, "w1", "W", "CPW", D(2024, 1, 15), D(2024, 1, 15));
  apply(&f, &b, 0, b.n);
  struct alerts_seen a;
  read_alerts(&f, &a);
  assert_int_equal(a.n, 0); /* T = 2024-01-15: due 2024-07-15 */

  size_t first = b.n;
  tick(&b, "t1", D(2024, 7, 14));
  apply(&f, &b, first, b.n);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 0);
  first = b.n;
  tick(&b, "t2", D(2024, 7, 15));
  apply(&f, &b, first, b.n);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 1);
  assert_string_equal(a.ids[0], id);
  assert_int_equal(a.status[0], RAISED);
  struct stored_alert s = stored_alert(&f, id);
  assert_int_equal(s.date_crossed, 20240715);
  assert_int_equal(s.as_of, 20240715);
  assert_false(s.has_plan_end);
  expect_ratio(&f, "open_plans_over", "T", "CP,6m", 1, 1, 100.0);

  first = b.n;
  cp_end(&b, "w2", "W", "CPW", D(2024, 6, 30), D(2024, 7, 20));
  apply(&f, &b, first, b.n);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 2);
  assert_string_equal(a.ids[1], id);
  assert_int_equal(a.status[1], WITHDRAWN);
  s = stored_alert(&f, id);
  assert_int_equal(s.status, WITHDRAWN);
  /* T = 2024-07-20: W is on no plan; no plan open: the ratio has no value. */
  expect_count(&f, "children_on_plan", "T", "CP", 0, 0);
  expect_ratio(&f, "open_plans_over", "T", "CP,6m", 0, 0, 0);

  /* 2025-01-15, the 12-month mark: nothing. */
  first = b.n;
  tick(&b, "t3", D(2025, 1, 15));
  apply(&f, &b, first, b.n);
  read_alerts(&f, &a);
  assert_int_equal(a.n, 2);
  close_fixture(&f);
}

/*
 * A plan learned of late: the clock is at 2024-09-01 when E's CP plan CPE,
 * 2024-01-10 .. 2024-08-01, arrives (start and end both recorded
 * 2024-09-02, each in its own batch). It was open on its 6-month mark,
 * 2024-07-10, so that alert is true: raised, with the plan's end. Its
 * 12-month mark (2025-01-10) is after its end: no alert. end_first picks
 * the arrival order.
 */
static void late_plan(struct fixture *f, const char *name, int end_first) {
  open_fixture(f, name);
  static struct evs b;
  memset(&b, 0, sizeof b);
  tick(&b, "t0", D(2024, 9, 1));
  cp_start(&b, "e1", "E", "CPE", D(2024, 1, 10), D(2024, 9, 2));
  cp_end(&b, "e2", "E", "CPE", D(2024, 8, 1), D(2024, 9, 2));
  apply(f, &b, 0, 1);
  apply(f, &b, end_first ? 2 : 1, end_first ? 3 : 2);
  apply(f, &b, end_first ? 1 : 2, end_first ? 2 : 3);
  /* T = 2024-09-02: the plan has ended: nobody on a plan. */
  expect_count(f, "children_on_plan", "T", "CP", 0, 0);
  struct value v = get(f, "children_on_plan", "T", "CP");
  assert_int_equal(v.quality[Q_END_WITHOUT_START], 0); /* resolved if it was ever open */
}

static const char *const late_id = "plan_duration:" LA ":E:CP:CPE:6m";

/* Either order: the same final alert set, one alert RAISED, crossed on
 * 2024-07-10; end first, it is raised knowing the end (plan_end 2024-08-01). */
static void test_alert_late_plan_either_order(void **state) {
  (void)state;
  struct fixture f, g;
  late_plan(&f, "late-start-first", 0);
  late_plan(&g, "late-end-first", 1);
  struct alerts_seen x, y;
  alert_table(&f, &x);
  alert_table(&g, &y);
  assert_int_equal(x.n, 1);
  assert_int_equal(y.n, 1);
  assert_string_equal(x.ids[0], late_id);
  assert_string_equal(y.ids[0], late_id);
  assert_int_equal(x.status[0], RAISED);
  assert_int_equal(y.status[0], RAISED);
  for (int i = 0; i < 2; i++) {
    const struct stored_alert s = stored_alert(i ? &g : &f, late_id);
    assert_int_equal(s.plan_start, 20240110);
    assert_int_equal(s.date_crossed, 20240710);
    assert_int_equal(s.as_of, 20240902);
  }
  const struct stored_alert s = stored_alert(&g, late_id);
  assert_true(s.has_plan_end);
  assert_int_equal(s.plan_end, 20240801);
  /* End first: the end alone was end_without_start, then resolved. */
  struct findings_seen q;
  read_findings(&g, &q);
  assert_int_equal(q.n, 2);
  assert_int_equal(q.status[0], FINDING_OPEN);
  assert_int_equal(q.status[1], FINDING_RESOLVED);
  close_fixture(&f);
  close_fixture(&g);
}

/* Start first: when the alert is raised the processor knows of no end, so
 * the published alert has no plan_end; the end arriving afterwards does not
 * republish it (one message per status change, indicators/alerts.c). */
static void test_alert_late_plan_start_first_has_no_plan_end(void **state) {
  static struct fixture f;
  late_plan(&f, "late-start-first-end", 0);
  *state = &f; /* closed by teardown_fixture, pass or fail */
  const struct stored_alert s = stored_alert(&f, late_id);
  assert_true(s.found);
  assert_int_equal(s.status, RAISED);
  assert_false(s.has_plan_end);
}

/* ---- data-quality findings ------------------------------------------------------------------ */

/*
 * F: the end of CP plan CPF (f2, 2024-05-01) arrives with no start:
 * end_without_start, published OPEN as "E99000001:F:end_without_start:f2"
 * and counted in the snapshot. The start (f1, 2024-02-01, recorded
 * 2024-05-03) arrives: the plan is 2024-02-01 .. 2024-05-01, the finding is
 * published RESOLVED under the same id and the count is 0 again.
 */
static void test_quality_end_without_start(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "quality");
  static struct evs b;
  memset(&b, 0, sizeof b);
  const char *id = LA ":F:end_without_start:f2";
  cp_end(&b, "f2", "F", "CPF", D(2024, 5, 1), D(2024, 5, 1));
  apply(&f, &b, 0, b.n);
  struct findings_seen q;
  read_findings(&f, &q);
  assert_int_equal(q.n, 1);
  assert_string_equal(q.key[0], id);
  assert_string_equal(q.id[0], id);
  assert_string_equal(q.rule[0], "end_without_start");
  assert_string_equal(q.event[0], "f2");
  assert_string_equal(q.child[0], "F");
  assert_string_equal(q.la[0], LA);
  assert_int_equal(q.status[0], FINDING_OPEN);
  assert_int_equal(q.as_of[0], 20240501);
  struct value v = get(&f, "children_on_plan", "T", "CP");
  assert_int_equal(v.quality[Q_END_WITHOUT_START], 1);
  assert_float_equal(v.num, 0, 0); /* the end is ignored */

  size_t first = b.n;
  cp_start(&b, "f1", "F", "CPF", D(2024, 2, 1), D(2024, 5, 3));
  apply(&f, &b, first, b.n);
  read_findings(&f, &q);
  assert_int_equal(q.n, 2);
  assert_string_equal(q.key[1], id);
  assert_string_equal(q.id[1], id);
  assert_string_equal(q.rule[1], "end_without_start");
  assert_string_equal(q.event[1], "f2");
  assert_int_equal(q.status[1], FINDING_RESOLVED);
  assert_int_equal(q.as_of[1], 20240503);
  v = get(&f, "children_on_plan", "T", "CP");
  for (int r = 0; r < Q_RULE_COUNT; r++)
    assert_int_equal(v.quality[r], 0);
  /* T = 2024-05-03: the plan ended 2024-05-01: nobody on a plan; it never
   * reached 6 months (2024-08-01): no alert. */
  assert_float_equal(v.num, 0, 0);
  struct alerts_seen a;
  read_alerts(&f, &a);
  assert_int_equal(a.n, 0);
  close_fixture(&f);
}

/* engine_stats counts alerts raised and withdrawn and findings published
 * (engine.h: struct engine_stats). One alert raised then withdrawn (W, as
 * in test_alert_withdrawn_by_backdated_end); one finding opened (F). */
static void test_stats_count_alerts_and_findings(void **state) {
  static struct fixture f;
  open_fixture(&f, "stats");
  *state = &f; /* closed by teardown_fixture, pass or fail */
  static struct evs b;
  memset(&b, 0, sizeof b);
  cp_start(&b, "w1", "W", "CPW", D(2024, 1, 15), D(2024, 1, 15));
  tick(&b, "t1", D(2024, 7, 15));
  cp_end(&b, "w2", "W", "CPW", D(2024, 6, 30), D(2024, 7, 20));
  cp_end(&b, "f2", "F", "CPF", D(2024, 5, 1), D(2024, 7, 20));
  apply(&f, &b, 0, 2);
  apply(&f, &b, 2, b.n);
  struct alerts_seen a;
  read_alerts(&f, &a);
  assert_int_equal(a.n, 2);
  const struct engine_stats *s = engine_stats(f.e);
  assert_int_equal(s->alerts_raised, 1);
  assert_int_equal(s->alerts_withdrawn, 1);
  assert_int_equal(s->findings, 1);
}

/* Closes the fixture a test left in *state, also when an assertion failed. */
static int teardown_fixture(void **state) {
  if (*state != NULL)
    close_fixture(*state);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_referrals),
      cmocka_unit_test(test_referrals_any_order),
      cmocka_unit_test(test_cp_plans_and_alerts),
      cmocka_unit_test(test_placements),
      cmocka_unit_test(test_duplicates_and_dead_letters),
      cmocka_unit_test(test_supersede),
      cmocka_unit_test(test_retract),
      cmocka_unit_test(test_duplicate_event_id),
      cmocka_unit_test(test_correction_before_original),
      cmocka_unit_test(test_alert_withdrawn_by_backdated_end),
      cmocka_unit_test(test_alert_late_plan_either_order),
      cmocka_unit_test_teardown(test_alert_late_plan_start_first_has_no_plan_end, teardown_fixture),
      cmocka_unit_test(test_quality_end_without_start),
      cmocka_unit_test_teardown(test_stats_count_alerts_and_findings, teardown_fixture),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
