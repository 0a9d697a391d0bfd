/*
 * test_api.c — the API's documents as `cscflow run` serves them: the server
 * borrows the engine's own store (serve_options.store) and answers between
 * batches, so each answer can be compared with a hand-worked history.
 *
 * The history (LA E99000001, replay clock; dates are when events happened,
 * "recorded" when the case system wrote them):
 *   recorded 2024-01-10
 *     C1  referral REF1 on 2024-01-10
 *     C2  CIN plan CIN2 from 2023-06-01, open: passed 6 months on
 *         2023-12-01 (an open alert), 12 months due on 2024-06-01
 *     C3  CP plan CP3 from 2023-08-10, open: 6 months due on 2024-02-10
 *     C5  CIN plan CIN5 from 2023-01-05 to 2023-09-01: passed 6 months,
 *         but has ended, so not open
 *     C6  a CP plan CP6 ended on 2024-01-05 that never started: one
 *         end_without_start finding
 *   recorded 2024-01-20  C7's details (moves the clock only)
 *   recorded 2024-01-25  C4 referral REF4 on 2024-01-15, late
 *   recorded 2024-02-12  C7's details again
 * Worked by hand:
 *   - referrals in 12 months, 2024-01-08..2024-01-20, on 2024-01-20:
 *     0 0, then 1 on each of 11 days (REF1);
 *   - the same days asked on 2024-01-25: 0 0, 1 x5 (10th to 14th), then 2
 *     from the 15th: REF4 restates days already served as 1;
 *   - open alerts on 2024-01-20: C2 CIN 6m past by 50 days (1 Dec to 20
 *     Jan), C3 CP 6m due in 21 days; C2's 12 months (133 days off) and C5
 *     (ended) are not listed. On 2024-01-25: C3 due in 16 days. On
 *     2024-02-12: C3 past by 2 days, C2 past by 73;
 *   - quality: end_without_start 1, every other rule 0, total 1.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"
#include "tests/harness.h"
#include "tests/testutil_serve.h"

struct world {
  struct fixture f;
  struct api_tokens tokens;
  struct server *srv;
  int port;
  struct evs b;
};

static char response[1 << 18];

/* GET path with LA's token; asserts the status, returns the parsed body
 * (NULL when status is not 200). */
static json_t *get_json(struct world *w, const char *path, int status) {
  assert_int_equal(test_http_get(w->port, path, "Bearer la1-secret", response, sizeof response),
                   status);
  if (status != 200)
    return NULL;
  json_error_t err;
  json_t *doc = json_loads(test_http_body(response), 0, &err);
  if (doc == NULL)
    fail_msg("%s: not JSON: %s", path, err.text);
  return doc;
}

static void referral(struct evs *b, const char *id, const char *child, const char *ref,
                     csc_date on, csc_date recorded) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, on, recorded);
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  r.referral_id = (char *)ref;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  add(b, &ev);
}

/* A CIN or CP plan event: start (end = 0) or end (end = 1). */
static void plan(struct evs *b, const char *id, const char *child, int kind, int end,
                 const char *plan_id, csc_date on, csc_date recorded) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, on, recorded);
  Cscflow__V1__CinPlanStarted cin_s = CSCFLOW__V1__CIN_PLAN_STARTED__INIT;
  Cscflow__V1__CinPlanEnded cin_e = CSCFLOW__V1__CIN_PLAN_ENDED__INIT;
  Cscflow__V1__CpPlanStarted cp_s = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  Cscflow__V1__CpPlanEnded cp_e = CSCFLOW__V1__CP_PLAN_ENDED__INIT;
  cin_s.plan_id = cin_e.plan_id = cp_s.plan_id = cp_e.plan_id = (char *)plan_id;
  cp_s.initial_category = "N";
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
  add(b, &ev);
}

/* An event that changes no indicator: the LA's clock moves to recorded. */
static void details(struct evs *b, const char *id, csc_date recorded) {
  Cscflow__V1__CaseEvent ev = envelope(id, "C7", recorded, recorded);
  Cscflow__V1__ChildDetails cd = CSCFLOW__V1__CHILD_DETAILS__INIT;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
  ev.child_details = &cd;
  add(b, &ev);
}

/* Applies the events added since the last call in one batch. */
static void apply_new(struct world *w, size_t *done) {
  apply(&w->f, &w->b, *done, w->b.n);
  *done = w->b.n;
}

static int setup(void **state) {
  struct world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  open_fixture(&w->f, "api");
  struct config cfg;
  config_init(&cfg);
  char err[256];
  test_config_set_hash(&cfg, "cscflow.api.token." LA, "la1-secret");
  test_config_set_hash(&cfg, "cscflow.api.token.E99000002", "la2-secret");
  assert_int_equal(api_tokens_load(&w->tokens, &cfg, err, sizeof err), CSC_OK);
  config_free(&cfg);
  const struct serve_options so = {.store = engine_store(w->f.e), .tokens = &w->tokens};
  assert_int_equal(serve_start(&so, &w->srv, err, sizeof err), CSC_OK);
  w->port = serve_port(w->srv);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  struct world *w = *state;
  serve_stop(w->srv); /* before the engine: the server borrows its store */
  close_fixture(&w->f);
  api_tokens_free(&w->tokens);
  free(w);
  return 0;
}

/* Asserts the series' values from its first point on, one per day. */
static void expect_series(json_t *doc, const char *from, const char *to, const int *want,
                          size_t n) {
  assert_string_equal(json_string_value(json_object_get(doc, "from")), from);
  assert_string_equal(json_string_value(json_object_get(doc, "to")), to);
  json_t *points = json_object_get(doc, "points");
  assert_int_equal(json_array_size(points), n);
  for (size_t i = 0; i < n; i++) {
    json_t *p = json_array_get(points, i);
    if (json_integer_value(json_object_get(p, "value")) != want[i] ||
        json_integer_value(json_object_get(p, "numerator")) != want[i])
      fail_msg("point %zu (%s): value %lld, want %d", i,
               json_string_value(json_object_get(p, "date")),
               (long long)json_integer_value(json_object_get(p, "value")), want[i]);
    assert_true(json_is_null(json_object_get(p, "denominator"))); /* a count */
  }
}

/* Asserts the open alerts are exactly want[0..n), in any order:
 * "CHILD KIND MONTHS STATE DAYS DUE". */
static void expect_alerts(json_t *doc, const char *const *want, size_t n) {
  json_t *alerts = json_object_get(doc, "alerts");
  assert_int_equal(json_array_size(alerts), n);
  for (size_t i = 0; i < n; i++) {
    json_t *a = json_array_get(alerts, i);
    char line[256];
    snprintf(line, sizeof line, "%s %s %lld %s %lld %s",
             json_string_value(json_object_get(a, "child_id")),
             json_string_value(json_object_get(a, "plan_kind")),
             (long long)json_integer_value(json_object_get(a, "months")),
             json_string_value(json_object_get(a, "state")),
             (long long)json_integer_value(json_object_get(a, "days")),
             json_string_value(json_object_get(a, "due")));
    size_t k = 0;
    while (k < n && strcmp(want[k], line) != 0)
      k++;
    if (k == n)
      fail_msg("unexpected alert: %s", line);
  }
}

static void documents_follow_the_history(void **state) {
  struct world *w = *state;
  size_t done = 0;
  referral(&w->b, "E1", "C1", "REF1", D(2024, 1, 10), D(2024, 1, 10));
  plan(&w->b, "E2", "C2", PLAN_CIN, 0, "CIN2", D(2023, 6, 1), D(2024, 1, 10));
  plan(&w->b, "E3", "C3", PLAN_CP, 0, "CP3", D(2023, 8, 10), D(2024, 1, 10));
  plan(&w->b, "E5", "C5", PLAN_CIN, 0, "CIN5", D(2023, 1, 5), D(2024, 1, 10));
  plan(&w->b, "E6", "C5", PLAN_CIN, 1, "CIN5", D(2023, 9, 1), D(2024, 1, 10));
  plan(&w->b, "E7", "C6", PLAN_CP, 1, "CP6", D(2024, 1, 5), D(2024, 1, 10));
  apply_new(w, &done);
  details(&w->b, "E8", D(2024, 1, 20));
  apply_new(w, &done);

  const char *range = "/v1/las/" LA "/series?indicator=referrals&window=12m&from=2024-01-08";
  json_t *doc = get_json(w, range, 200);
  assert_string_equal(json_string_value(json_object_get(doc, "as_of")), "2024-01-20");
  static const int before[13] = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  expect_series(doc, "2024-01-08", "2024-01-20", before, 13);
  json_decref(doc);

  doc = get_json(w, "/v1/las/" LA "/alerts?status=open", 200);
  static const char *const on_20th[] = {"C2 CIN 6 past 50 2023-12-01",
                                        "C3 CP 6 due_soon 21 2024-02-10"};
  expect_alerts(doc, on_20th, 2);
  json_decref(doc);

  doc = get_json(w, "/v1/las/" LA "/quality", 200);
  assert_int_equal(json_integer_value(json_object_get(doc, "total")), 1);
  json_t *rules = json_object_get(doc, "rules");
  assert_int_equal(json_array_size(rules), Q_RULE_COUNT);
  for (size_t i = 0; i < json_array_size(rules); i++) {
    json_t *r = json_array_get(rules, i);
    const int is_it = strcmp(json_string_value(json_object_get(r, "rule")), "end_without_start") == 0;
    assert_int_equal(json_integer_value(json_object_get(r, "count")), is_it ? 1 : 0);
  }
  json_decref(doc);

  /* A late referral restates days already served. */
  referral(&w->b, "E9", "C4", "REF4", D(2024, 1, 15), D(2024, 1, 25));
  apply_new(w, &done);
  doc = get_json(w, "/v1/las/" LA "/series?indicator=referrals&window=12m&from=2024-01-08&to=2024-01-25", 200);
  static const int after[18] = {0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
  expect_series(doc, "2024-01-08", "2024-01-25", after, 18);
  json_decref(doc);
  doc = get_json(w, "/v1/las/" LA "/alerts", 200);
  static const char *const on_25th[] = {"C2 CIN 6 past 55 2023-12-01",
                                        "C3 CP 6 due_soon 16 2024-02-10"};
  expect_alerts(doc, on_25th, 2);
  json_decref(doc);

  /* The clock passes C3's six months: due soon becomes past. */
  details(&w->b, "E10", D(2024, 2, 12));
  apply_new(w, &done);
  doc = get_json(w, "/v1/las/" LA "/alerts?status=open", 200);
  static const char *const on_12th[] = {"C2 CIN 6 past 73 2023-12-01",
                                        "C3 CP 6 past 2 2024-02-10"};
  expect_alerts(doc, on_12th, 2);
  json_decref(doc);

  /* The default range: a year of days ending on the as-of date. */
  doc = get_json(w, "/v1/las/" LA "/series?indicator=children_on_plan&window=T&breakdown=CP", 200);
  json_t *points = json_object_get(doc, "points");
  assert_int_equal(json_array_size(points), 365);
  assert_string_equal(json_string_value(json_object_get(doc, "to")), "2024-02-12");
  assert_string_equal(json_string_value(json_object_get(doc, "from")), "2023-02-13");
  /* CP3 from 2023-08-10 (CP6 never started): 0 on the 9th, 1 from the 10th. */
  const csc_date from = D(2023, 2, 13);
  for (size_t i = 0; i < 365; i++)
    assert_int_equal(json_integer_value(json_object_get(json_array_get(points, i), "value")),
                     (csc_date)i + from >= D(2023, 8, 10) ? 1 : 0);
  json_decref(doc);

  /* The snapshot names each value's group. */
  doc = get_json(w, "/v1/las/" LA "/snapshot", 200);
  json_t *values = json_object_get(doc, "indicators");
  size_t grouped = 0;
  for (size_t i = 0; i < json_array_size(values); i++) {
    json_t *v = json_array_get(values, i);
    const char *id = json_string_value(json_object_get(v, "id")),
               *group = json_string_value(json_object_get(v, "group"));
    assert_non_null(group);
    if (strcmp(id, "referrals") == 0)
      assert_string_equal(group, "Activity");
    if (strcmp(id, "sw_caseload") == 0)
      assert_string_equal(group, "Workforce");
    grouped++;
  }
  assert_true(grouped > 100);
  json_decref(doc);
}

static void bad_queries_are_refused(void **state) {
  struct world *w = *state;
  const char *const bad[] = {
      "/v1/las/" LA "/series?window=12m",                                  /* no indicator */
      "/v1/las/" LA "/series?indicator=referrals",                         /* no window */
      "/v1/las/" LA "/series?indicator=referrals&window=12m&from=2024-1-1", /* not a date */
      "/v1/las/" LA "/series?indicator=referrals&window=12m&from=2024-02-01&to=2024-01-01",
      "/v1/las/" LA "/series?indicator=referrals&window=12m&from=1990-01-01",  /* > 3660 days */
      "/v1/las/" LA "/alerts?status=closed",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    get_json(w, bad[i], 400);
  get_json(w, "/v1/las/" LA "/series?indicator=nope&window=12m", 404);
  get_json(w, "/v1/las/" LA "/series?indicator=referrals&window=12m&breakdown=nope", 404);
  /* An LA with a token but no events yet. */
  assert_int_equal(test_http_get(w->port, "/v1/las/E99000002/quality", "Bearer la2-secret",
                                 response, sizeof response),
                   404);
}

static void every_route_is_the_las_alone(void **state) {
  struct world *w = *state;
  const char *const routes[] = {"snapshot", "series?indicator=referrals&window=12m", "alerts",
                                "quality"};
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    char path[256];
    snprintf(path, sizeof path, "/v1/las/" LA "/%s", routes[i]);
    assert_int_equal(test_http_get(w->port, path, NULL, response, sizeof response), 401);
    assert_int_equal(test_http_get(w->port, path, "Bearer wrong", response, sizeof response), 401);
    assert_int_equal(test_http_get(w->port, path, "Bearer la2-secret", response, sizeof response),
                     403);
    assert_null(strstr(test_http_body(response), "C2")); /* nothing of the LA's data */
    assert_int_equal(test_http_get(w->port, path, "Bearer la1-secret", response, sizeof response),
                     200);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(documents_follow_the_history),
      cmocka_unit_test(bad_queries_are_refused),
      cmocka_unit_test(every_route_is_the_las_alone),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
