/*
 * The workforce group of docs/indicators.md through the whole engine:
 * hand-worked worker, post and allocation histories. Workforce events have
 * no child_id; a post's carry its post_id, the others their worker_id.
 * FTE is in hundredths throughout (100 = 1.0 FTE). Every expected value is
 * worked out in the comments.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tests/harness.h"
#include "tests/testutil.h"

/* A worker's event (STARTED, LEFT, ABSENCE, CASELOAD), recorded on the day. */
struct wf {
  uint32_t fte, days, caseload;
  int agency, case_holding;
};

static void worker_event(struct evs *b, const char *id, const char *worker,
                         Cscflow__V1__WorkforceChange change, csc_date d, struct wf x) {
  Cscflow__V1__CaseEvent ev = envelope(id, "", d, d);
  Cscflow__V1__WorkforceEvent w = CSCFLOW__V1__WORKFORCE_EVENT__INIT;
  w.worker_id = (char *)worker;
  w.change = change;
  w.fte_x100 = x.fte;
  w.agency = x.agency;
  w.sickness_days = x.days;
  w.caseload = x.caseload;
  w.case_holding = x.case_holding;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
  ev.workforce = &w;
  add(b, &ev);
}

static void started(struct evs *b, const char *id, const char *worker, csc_date d, uint32_t fte,
                    int agency) {
  worker_event(b, id, worker, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED, d,
               (struct wf){.fte = fte, .agency = agency});
}

static void left(struct evs *b, const char *id, const char *worker, csc_date d) {
  worker_event(b, id, worker, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_LEFT, d,
               (struct wf){0});
}

static void absence(struct evs *b, const char *id, const char *worker, csc_date d, uint32_t days) {
  worker_event(b, id, worker, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_ABSENCE, d,
               (struct wf){.days = days});
}

static void caseload(struct evs *b, const char *id, const char *worker, csc_date d,
                     int case_holding, uint32_t n) {
  worker_event(b, id, worker, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_CASELOAD, d,
               (struct wf){.caseload = n, .case_holding = case_holding});
}

/* A post's status change with the post's FTE, recorded at rec. */
static void post(struct evs *b, const char *id, const char *post_id,
                 Cscflow__V1__WorkforceChange change, csc_date d, csc_date rec, uint32_t fte) {
  Cscflow__V1__CaseEvent ev = envelope(id, "", d, rec);
  Cscflow__V1__WorkforceEvent w = CSCFLOW__V1__WORKFORCE_EVENT__INIT;
  w.post_id = (char *)post_id;
  w.change = change;
  w.fte_x100 = fte;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
  ev.workforce = &w;
  add(b, &ev);
}

#define ESTABLISHED CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED
#define VACANT CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT
#define FILLED CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED

/* A child allocated to (or, deallocated, no longer allocated to) a worker. */
static void allocation(struct evs *b, const char *id, const char *child, const char *worker,
                       int deallocated, csc_date d) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, d);
  Cscflow__V1__WorkerAllocated w = CSCFLOW__V1__WORKER_ALLOCATED__INIT;
  w.worker_id = (char *)worker;
  w.deallocated = deallocated;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED;
  ev.worker_allocated = &w;
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

/* Applies b's events from *next up to (not including) event `to`. */
static void apply_to(struct fixture *f, const struct evs *b, size_t *next, size_t to) {
  apply(f, b, *next, to);
  *next = to;
}

/* ---- sw_vacancy_rate ------------------------------------------------------------------- */

/*
 * P1 (1.00 FTE): established 2024-01-10 (vacant until filled), filled
 *     2024-03-01 by a mark that gives no FTE (the post keeps its 1.00).
 * P2 (0.50 FTE): established and filled the same day, 2024-01-10 (the
 *     filling recorded after the establishing).
 * P3 (0.80 FTE): established and filled 2023-06-01, vacant 2024-02-01.
 */
static void test_vacancy(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "wf_vacancy");
  static struct evs b;
  memset(&b, 0, sizeof b);
  size_t next = 0;
  post(&b, "p3e", "P3", ESTABLISHED, D(2023, 6, 1), D(2023, 6, 1), 80);
  post(&b, "p3f", "P3", FILLED, D(2023, 6, 1), D(2023, 6, 2), 80);
  tick(&b, "t1", D(2024, 1, 5));
  apply_to(&f, &b, &next, b.n);
  /* 2024-01-05: only P3, filled: vacant 0 of 80. */
  expect_ratio(&f, "sw_vacancy_rate", "T", "", 0, 80, 0.0);

  post(&b, "p1e", "P1", ESTABLISHED, D(2024, 1, 10), D(2024, 1, 10), 100);
  post(&b, "p2e", "P2", ESTABLISHED, D(2024, 1, 10), D(2024, 1, 10), 50);
  post(&b, "p2f", "P2", FILLED, D(2024, 1, 10), D(2024, 1, 11), 50);
  apply_to(&f, &b, &next, b.n);
  /* 2024-01-11: P1 vacant (established, not filled) 100; P2 filled 50; P3
   * filled 80. Vacant 100 of 230: 43.478%. */
  expect_ratio(&f, "sw_vacancy_rate", "T", "", 100, 230, 100.0 * 100 / 230);

  post(&b, "p3v", "P3", VACANT, D(2024, 2, 1), D(2024, 2, 1), 80);
  tick(&b, "t2", D(2024, 2, 15));
  apply_to(&f, &b, &next, b.n);
  /* 2024-02-15: P1 100 and P3 80 vacant of 230: 78.261%. */
  expect_ratio(&f, "sw_vacancy_rate", "T", "", 180, 230, 100.0 * 180 / 230);

  post(&b, "p1f", "P1", FILLED, D(2024, 3, 1), D(2024, 3, 1), 0);
  apply_to(&f, &b, &next, b.n);
  /* 2024-03-01: P1 filled (its FTE from its establishment, 100): only P3's
   * 80 vacant of 230: 34.783%. */
  expect_ratio(&f, "sw_vacancy_rate", "T", "", 80, 230, 100.0 * 80 / 230);
  close_fixture(&f);
}

/* ---- sw_turnover_rate and sw_agency_rate ----------------------------------------------- */

/*
 * W1: 1.00 FTE from 2023-01-01, left 2024-03-15.
 * W2: 0.50 FTE agency from 2023-01-01.
 * W3: 1.00 FTE from 2023-01-01, 0.80 FTE from 2023-09-01 (a change of hours
 *     is a new employment from that day, not a leaving).
 * W4: 1.00 FTE from 2024-01-01.
 */
static void build_turnover(struct evs *b) {
  started(b, "w1s", "W1", D(2023, 1, 1), 100, 0);
  started(b, "w2s", "W2", D(2023, 1, 1), 50, 1);
  started(b, "w3s", "W3", D(2023, 1, 1), 100, 0);
  started(b, "w3c", "W3", D(2023, 9, 1), 80, 0);
  started(b, "w4s", "W4", D(2024, 1, 1), 100, 0);
  tick(b, "t1", D(2024, 3, 14));
}

static void test_turnover_and_agency(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "wf_turnover");
  static struct evs b;
  memset(&b, 0, sizeof b);
  size_t next = 0;
  build_turnover(&b);
  apply_to(&f, &b, &next, b.n);
  /* 2024-03-14: employed W1 100 + W2 50 + W3 80 + W4 100 = 330. No leaver
   * in (2023-03-14, 2024-03-14] (W3's change of hours is not one): 0 of
   * 330. Agency: W2 50 of 330 = 15.152%. */
  expect_ratio(&f, "sw_turnover_rate", "12m", "", 0, 330, 0.0);
  expect_ratio(&f, "sw_agency_rate", "T", "", 50, 330, 100.0 * 50 / 330);

  left(&b, "w1l", "W1", D(2024, 3, 15));
  apply_to(&f, &b, &next, b.n);
  /* 2024-03-15: W1 is no longer employed: 50 + 80 + 100 = 230. Leavers in
   * (2023-03-15, 2024-03-15]: W1's 100. 100 of 230 = 43.478%. Agency 50 of
   * 230 = 21.739%. */
  expect_ratio(&f, "sw_turnover_rate", "12m", "", 100, 230, 100.0 * 100 / 230);
  expect_ratio(&f, "sw_agency_rate", "T", "", 50, 230, 100.0 * 50 / 230);

  tick(&b, "t2", D(2025, 3, 14));
  apply_to(&f, &b, &next, b.n);
  /* 2025-03-14: window (2024-03-14, 2025-03-14] still holds 2024-03-15. */
  expect_ratio(&f, "sw_turnover_rate", "12m", "", 100, 230, 100.0 * 100 / 230);

  tick(&b, "t3", D(2025, 3, 15));
  apply_to(&f, &b, &next, b.n);
  /* 2025-03-15: window (2024-03-15, 2025-03-15] no longer does: 0 of 230. */
  expect_ratio(&f, "sw_turnover_rate", "12m", "", 0, 230, 0.0);
  close_fixture(&f);
}

/* The same history arriving newest first gives the same figures. */
static void test_turnover_any_order(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "wf_reverse");
  static struct evs b, r;
  memset(&b, 0, sizeof b);
  memset(&r, 0, sizeof r);
  build_turnover(&b);
  left(&b, "w1l", "W1", D(2024, 3, 15));
  add_reversed(&r, &b);
  apply(&f, &r, 0, r.n);
  /* As on 2024-03-15 above: 100 of 230; agency 50 of 230. */
  expect_ratio(&f, "sw_turnover_rate", "12m", "", 100, 230, 100.0 * 100 / 230);
  expect_ratio(&f, "sw_agency_rate", "T", "", 50, 230, 100.0 * 50 / 230);
  close_fixture(&f);
}

/* ---- sw_sickness --------------------------------------------------------------------------- */

/*
 * W5: 1.00 FTE from 2023-01-01; absences 2023-05-10 (10 days), 2024-02-01
 *     (4 days).
 * W6: 0.50 FTE from 2023-01-01; absence 2024-01-15 (3 days); left
 *     2024-04-01 (their absence still counts in the window; their FTE no
 *     longer does).
 */
static void test_sickness(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "wf_sickness");
  static struct evs b;
  memset(&b, 0, sizeof b);
  size_t next = 0;
  started(&b, "w5s", "W5", D(2023, 1, 1), 100, 0);
  started(&b, "w6s", "W6", D(2023, 1, 1), 50, 0);
  absence(&b, "w5a1", "W5", D(2023, 5, 10), 10);
  absence(&b, "w6a1", "W6", D(2024, 1, 15), 3);
  absence(&b, "w5a2", "W5", D(2024, 2, 1), 4);
  tick(&b, "t1", D(2024, 3, 1));
  apply_to(&f, &b, &next, b.n);
  /* 2024-03-01: window (2023-03-01, 2024-03-01]: 10 + 3 + 4 = 17 days; FTE
   * 100 + 50 = 150 hundredths = 1.5 FTE: 17 / 1.5 = 11.333 days per FTE. */
  expect_ratio(&f, "sw_sickness", "12m", "", 17, 150, 17 / 1.5);

  left(&b, "w6l", "W6", D(2024, 4, 1));
  tick(&b, "t2", D(2024, 5, 9));
  apply_to(&f, &b, &next, b.n);
  /* 2024-05-09: window (2023-05-09, 2024-05-09] still holds all 17 days;
   * FTE is W5's alone, 1.0: 17 days per FTE. */
  expect_ratio(&f, "sw_sickness", "12m", "", 17, 100, 17.0);

  tick(&b, "t3", D(2024, 5, 10));
  apply_to(&f, &b, &next, b.n);
  /* 2024-05-10: window (2023-05-10, 2024-05-10] drops 2023-05-10: 3 + 4 =
   * 7 days per 1.0 FTE. */
  expect_ratio(&f, "sw_sickness", "12m", "", 7, 100, 7.0);
  close_fixture(&f);
}

/* ---- sw_caseload ------------------------------------------------------------------------- */

/*
 * Workers, all 1.00 FTE from 2024-01-01:
 *   W1 reports case-holding on 2024-01-01, not case-holding on 2024-02-01.
 *   W2 reports case-holding on 2024-01-15, leaves 2024-03-01, and a report
 *      dated 2024-03-05, after leaving, counts for nothing.
 *   W3 has no report until 2024-03-10 (case-holding): not case-holding
 *      before it.
 * Children:
 *   A allocated to W1 2024-01-05, deallocated 2024-02-20.
 *   B allocated to W2 2024-01-10 and to W1 2024-01-20 (counted once),
 *     deallocated from W2 2024-03-01: still allocated to W1.
 *   C allocated to W2 2024-01-20, never deallocated.
 */
static void test_caseload(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "wf_caseload");
  static struct evs b;
  memset(&b, 0, sizeof b);
  size_t next = 0;
  started(&b, "w1s", "W1", D(2024, 1, 1), 100, 0);
  started(&b, "w2s", "W2", D(2024, 1, 1), 100, 0);
  started(&b, "w3s", "W3", D(2024, 1, 1), 100, 0);
  caseload(&b, "w1c1", "W1", D(2024, 1, 1), 1, 12);
  allocation(&b, "a1", "A", "W1", 0, D(2024, 1, 5));
  allocation(&b, "b1", "B", "W2", 0, D(2024, 1, 10));
  caseload(&b, "w2c1", "W2", D(2024, 1, 15), 1, 14);
  allocation(&b, "b2", "B", "W1", 0, D(2024, 1, 20));
  allocation(&b, "c1", "C", "W2", 0, D(2024, 1, 20));
  apply_to(&f, &b, &next, b.n);
  /* 2024-01-20: case-holding W1 (since 01-01) and W2 (since 01-15); W3 has
   * reported nothing: 2 workers. Children A, B, C: 3. Mean 1.5. */
  expect_ratio(&f, "sw_caseload", "T", "", 3, 2, 1.5);

  caseload(&b, "w1c2", "W1", D(2024, 2, 1), 0, 0);
  apply_to(&f, &b, &next, b.n);
  /* 2024-02-01: W1 no longer case-holding: W2 alone; 3 children: 3.0. */
  expect_ratio(&f, "sw_caseload", "T", "", 3, 1, 3.0);

  allocation(&b, "a2", "A", "W1", 1, D(2024, 2, 20));
  allocation(&b, "b3", "B", "W2", 1, D(2024, 3, 1));
  left(&b, "w2l", "W2", D(2024, 3, 1));
  apply_to(&f, &b, &next, b.n);
  /* 2024-03-01: A deallocated; B still allocated to W1; C to W2, who has
   * left: "a worker's allocations end when they leave, and children still
   * allocated to a leaver count as unallocated": 1 child (B). No
   * case-holding worker: the mean is null. */
  expect_ratio(&f, "sw_caseload", "T", "", 1, 0, 0);

  caseload(&b, "w2c2", "W2", D(2024, 3, 5), 1, 14);
  caseload(&b, "w3c1", "W3", D(2024, 3, 10), 1, 9);
  apply_to(&f, &b, &next, b.n);
  /* 2024-03-10: W2's report after leaving counts nothing; W3 case-holding
   * from 03-10: 1 worker, 1 child (B): 1.0. */
  expect_ratio(&f, "sw_caseload", "T", "", 1, 1, 1.0);
  close_fixture(&f);
}

/* A STARTED that says whether the worker holds cases. */
static void started_holding(struct evs *b, const char *id, const char *worker, csc_date d,
                            int case_holding) {
  worker_event(b, id, worker, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED, d,
               (struct wf){.fte = 100, .case_holding = case_holding});
}

/*
 * INDICATORS.md, sw_caseload: "a worker is case-holding when their latest
 * start or caseload report says so". Workers, 1.00 FTE from 2024-01-01:
 *   W1 starts case-holding and never reports: case-holding from the start.
 *   W2 starts not case-holding; reports case-holding on 2024-02-01.
 *   W3 starts case-holding; a report of the same day says not: the report
 *      holds (of a start and a report of one day, the report is the later).
 *   W4 starts case-holding; reports not case-holding on 2024-02-10; starts
 *      again (a change of hours, still employed) on 2024-03-01 case-holding.
 * Child A allocated to W1 on 2024-01-05.
 *   2024-01-10: W1, W4 = 2 case-holding workers; 1 child: 0.5.
 *     (Before the rule only reports counted: W2 and W3 said nothing
 *     case-holding, W1 and W4 had no report: 0 workers, a null mean.)
 *   2024-02-10: W1, W2 (report 02-01) = 2; W4's report of the day says
 *     not: 1 child of 2 workers: 0.5.
 *   2024-03-01: W1, W2, W4 (its latest start says so) = 3: 1/3.
 */
static void test_caseload_from_start(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "wf_caseload_start");
  static struct evs b;
  memset(&b, 0, sizeof b);
  size_t next = 0;
  started_holding(&b, "w1s", "W1", D(2024, 1, 1), 1);
  started_holding(&b, "w2s", "W2", D(2024, 1, 1), 0);
  started_holding(&b, "w3s", "W3", D(2024, 1, 1), 1);
  caseload(&b, "w3c", "W3", D(2024, 1, 1), 0, 0);
  started_holding(&b, "w4s", "W4", D(2024, 1, 1), 1);
  allocation(&b, "a1", "A", "W1", 0, D(2024, 1, 5));
  tick(&b, "t1", D(2024, 1, 10));
  apply_to(&f, &b, &next, b.n);
  expect_ratio(&f, "sw_caseload", "T", "", 1, 2, 0.5);

  caseload(&b, "w2c", "W2", D(2024, 2, 1), 1, 11);
  caseload(&b, "w4c", "W4", D(2024, 2, 10), 0, 0);
  tick(&b, "t2", D(2024, 2, 10));
  apply_to(&f, &b, &next, b.n);
  expect_ratio(&f, "sw_caseload", "T", "", 1, 2, 0.5);

  started_holding(&b, "w4s2", "W4", D(2024, 3, 1), 1);
  apply_to(&f, &b, &next, b.n);
  expect_ratio(&f, "sw_caseload", "T", "", 1, 3, 1.0 / 3);
  close_fixture(&f);
}

/*
 * "A worker's allocations end when they leave, and children still
 * allocated to a leaver count as unallocated, not in this mean" (INDICATORS.md,
 * sw_caseload). W1 and W2 start case-holding on 2024-01-01; W2 leaves
 * 2024-02-01 and starts again (case-holding) 2024-03-01.
 *   A allocated to W2 2024-01-10: ends when W2 leaves, and stays ended
 *     (W2's return does not reallocate A).
 *   B allocated to W2 2024-02-10, while W2 has left: allocated to a leaver:
 *     unallocated from the start, and after the return too.
 *   C allocated to W2 2024-03-05, after the return: allocated.
 *   D allocated to W1 and to W2 on 2024-01-10: still allocated to W1.
 *   E allocated to W1 2024-03-05.
 *   2024-01-20: W1, W2; A, D: 2 / 2 = 1.0.
 *   2024-02-15: W1 only; D only (A's and B's worker has left): 1 / 1.
 *   2024-03-10: W1, W2; C, D, E: 3 / 2 = 1.5.
 * The same events in reverse order (every LEFT before the allocations it
 * ends) give 3 / 2 on 2024-03-10 too.
 */
static void leaver_history(struct evs *b, size_t *marks) {
  started_holding(b, "w1s", "W1", D(2024, 1, 1), 1);
  started_holding(b, "w2s", "W2", D(2024, 1, 1), 1);
  allocation(b, "a1", "A", "W2", 0, D(2024, 1, 10));
  allocation(b, "d1", "D", "W1", 0, D(2024, 1, 10));
  allocation(b, "d2", "D", "W2", 0, D(2024, 1, 10));
  tick(b, "t1", D(2024, 1, 20));
  marks[0] = b->n;
  left(b, "w2l", "W2", D(2024, 2, 1));
  allocation(b, "b1", "B", "W2", 0, D(2024, 2, 10));
  tick(b, "t2", D(2024, 2, 15));
  marks[1] = b->n;
  started_holding(b, "w2s2", "W2", D(2024, 3, 1), 1);
  allocation(b, "c1", "C", "W2", 0, D(2024, 3, 5));
  allocation(b, "e1", "E", "W1", 0, D(2024, 3, 5));
  tick(b, "t3", D(2024, 3, 10));
  marks[2] = b->n;
}

static void test_caseload_leavers(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "wf_caseload_leavers");
  static struct evs b, r;
  memset(&b, 0, sizeof b);
  memset(&r, 0, sizeof r);
  size_t marks[3], next = 0;
  leaver_history(&b, marks);
  apply_to(&f, &b, &next, marks[0]);
  expect_ratio(&f, "sw_caseload", "T", "", 2, 2, 1.0);
  apply_to(&f, &b, &next, marks[1]);
  expect_ratio(&f, "sw_caseload", "T", "", 1, 1, 1.0);
  apply_to(&f, &b, &next, marks[2]);
  expect_ratio(&f, "sw_caseload", "T", "", 3, 2, 1.5);
  close_fixture(&f);

  open_fixture(&f, "wf_caseload_leavers_reverse");
  add_reversed(&r, &b);
  apply(&f, &r, 0, r.n);
  expect_ratio(&f, "sw_caseload", "T", "", 3, 2, 1.5);
  close_fixture(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vacancy),
      cmocka_unit_test(test_turnover_and_agency),
      cmocka_unit_test(test_turnover_any_order),
      cmocka_unit_test(test_sickness),
      cmocka_unit_test(test_caseload),
      cmocka_unit_test(test_caseload_from_start),
      cmocka_unit_test(test_caseload_leavers),
  };
  return cmocka_run_group_tests_name("ind_workforce", tests, NULL, NULL);
}
