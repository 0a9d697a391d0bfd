/*
 * test_ops.c — what an operator watches: /metrics and /readyz of an engine
 * that consumes from librdkafka's mock cluster, served in the same process
 * from the engine's own store, as `cscflow run` serves them, and read over
 * HTTP on loopback.
 *
 *   1. /readyz is 503 while the state is restored and while the consumer
 *      has no partitions (the mock coordinator holds a group's first join
 *      for 3 s), 200 once it has them and has applied everything;
 *   2. /metrics takes the operator token only (401 without a token, 403
 *      with an LA's) and counts exactly what was produced: 4 events applied,
 *      1 duplicate, 1 message dead-lettered, 6 consumed; a histogram of as
 *      many batches as the engine committed; the LA's open findings by rule;
 *   3. after a restart on the same state the counters go on from where they
 *      were, and count what the new engine consumes on top;
 *   4. /readyz?format=json, what the dashboard reads (no token): the time of
 *      the last batch that applied an event (not moved by a batch of
 *      duplicates only), the writer "running" and live; once the writer has
 *      closed, a separate read-only server says "stopped", not live, with the
 *      same last-applied time; a new writer carries that time over;
 *   5. the same document from hand-made status records and clocks: no
 *      record ("none"), a record older than 30 s without a close
 *      ("not_responding"), a finished replay (ready but not live).
 *
 * Every wait is bounded in count and in time; the whole runs in about 10 s.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve.h"
#include "tests/harness.h"
#include "tests/testutil.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

#define LA_TOKEN "la-secret"
#define OP_TOKEN "op-secret"

struct world {
  rd_kafka_t *producer; /* owns the mock cluster */
  char bootstraps[256];
  char dir[256];
  struct population pop;
  struct api_tokens tokens;
  /* The writer: engine, its producer sink, consumer and server. */
  struct sink *sink;
  struct engine *e;
  rd_kafka_t *consumer;
  struct server *srv;
  int port;
};

/* ---- the mock cluster --------------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  int *done = m->_private;
  *done = m->err ? -1 : 1;
}

static void cluster_start(struct world *w) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err), RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(w->producer);
  rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(w->producer);
  assert_non_null(mock);
  snprintf(w->bootstraps, sizeof w->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock));
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_EVENTS, 2, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_INDICATORS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_ALERTS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_QUALITY, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_DLQ, 1, 1), 0);
}

/* Produces one message, keyed by the LA, and waits for its delivery. */
static void produce(struct world *w, const void *value, size_t len) {
  int done = 0;
  assert_int_equal(rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(TOPIC_EVENTS),
                                     RD_KAFKA_V_KEY(LA, strlen(LA)),
                                     RD_KAFKA_V_VALUE((void *)value, len),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_OPAQUE(&done), RD_KAFKA_V_END),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  const double deadline = test_now_s() + 10.0;
  for (int i = 0; i < 1000 && done == 0 && test_now_s() < deadline; i++)
    rd_kafka_poll(w->producer, 10);
  assert_int_equal(done, 1);
}

/* A referral of child opened on date. */
static void produce_referral(struct world *w, const char *id, const char *child,
                             const char *referral, csc_date on) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, on, on);
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  r.referral_id = (char *)referral;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  uint8_t buf[512];
  const size_t n = cscflow__v1__case_event__get_packed_size(&ev);
  assert_true(n <= sizeof buf);
  cscflow__v1__case_event__pack(&ev, buf);
  produce(w, buf, n);
}

/* ---- the writer, as cmd_run wires it ------------------------------------------------- */

static void writer_open(struct world *w, const char *group) {
  struct config cfg;
  char err[512];
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "bootstrap.servers", w->bootstraps), CSC_OK);
  assert_int_equal(config_set(&cfg, "consumer.group.id", group), CSC_OK);
  assert_int_equal(config_set(&cfg, "consumer.fetch.wait.max.ms", "10"), CSC_OK);
  assert_int_equal(config_set(&cfg, "producer.linger.ms", "1"), CSC_OK);
  rd_kafka_conf_t *pconf = kafka_conf_from_config(&cfg, "producer", err, sizeof err);
  rd_kafka_conf_t *cconf = kafka_conf_from_config(&cfg, "consumer", err, sizeof err);
  assert_non_null(pconf);
  assert_non_null(cconf);
  config_free(&cfg);
  assert_int_equal(kafka_sink_new(pconf, &w->sink, err, sizeof err), CSC_OK);
  struct engine_options eo = {w->dir, CLOCK_REPLAY, &w->pop, w->sink, 100, 5};
  if (engine_open(&eo, &w->e, err, sizeof err) != CSC_OK)
    fail_msg("engine_open: %s", err);
  const struct serve_options so = {
      .store = engine_store(w->e), .tokens = &w->tokens, .ready_max_lag = 1000};
  if (serve_start(&so, &w->srv, err, sizeof err) != CSC_OK)
    fail_msg("serve_start: %s", err);
  w->port = serve_port(w->srv);
  if (kafka_consumer_new(cconf, TOPIC_EVENTS, engine_kafka_position, w->e, &w->consumer, err,
                         sizeof err) != CSC_OK)
    fail_msg("kafka_consumer_new: %s", err);
}

static void writer_close(struct world *w) {
  kafka_consumer_destroy(w->consumer);
  serve_stop(w->srv); /* it reads the engine's store */
  engine_close(w->e);
  w->sink->destroy(w->sink);
  w->consumer = NULL;
  w->srv = NULL;
  w->e = NULL;
  w->sink = NULL;
}

static void run_for(struct world *w, int ms) {
  volatile sig_atomic_t stop = 0;
  assert_int_equal(engine_run_kafka(w->e, w->consumer, &stop, ms, 0), CSC_OK);
}

/* Runs until this engine has consumed n messages (at most 15 s). */
static void run_until_consumed(struct world *w, uint64_t n) {
  const double deadline = test_now_s() + 15.0;
  for (int i = 0; i < 100 && engine_stats(w->e)->consumed < n && test_now_s() < deadline; i++)
    run_for(w, 250);
  assert_int_equal(engine_stats(w->e)->consumed, n);
}

/* ---- requests ---------------------------------------------------------------------- */

static char body[1 << 16];

/* GET path with "Authorization: Bearer <token>" (none when token is NULL);
 * the response in body; returns the status. */
static int request(const struct world *w, const char *path, const char *token) {
  char auth[128];
  snprintf(auth, sizeof auth, "Bearer %s", token ? token : "");
  return test_http_get(w->port, path, token ? auth : NULL, body, sizeof body);
}

/* The value of the sample "name value" (name with its labels, if any). */
static double sample(const char *name) {
  const size_t n = strlen(name);
  for (const char *p = body; (p = strstr(p, name)) != NULL; p += n)
    if ((p == body || p[-1] == '\n') && p[n] == ' ')
      return strtod(p + n + 1, NULL);
  fail_msg("no sample %s in:\n%s", name, body);
  return 0;
}

static void expect_sample(const char *name, double expected) {
  const double v = sample(name);
  if (v != expected)
    fail_msg("%s is %g, expected %g", name, v, expected);
}

static int64_t wall_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET /readyz?format=json on port, without a token: the parsed document,
 * after checking that the status (200 or 503) is what "ready" says. */
static json_t *readiness_on(int port) {
  const int status = test_http_get(port, "/readyz?format=json", NULL, body, sizeof body);
  assert_non_null(strstr(body, "application/json"));
  json_error_t err;
  json_t *doc = json_loads(test_http_body(body), 0, &err);
  if (doc == NULL)
    fail_msg("/readyz?format=json: not JSON (%s): %s", err.text, body);
  assert_int_equal(status, json_is_true(json_object_get(doc, "ready")) ? 200 : 503);
  return doc;
}

static const char *jstr(const json_t *doc, const char *key) {
  const char *v = json_string_value(json_object_get(doc, key));
  if (v == NULL)
    fail_msg("no string %s", key);
  return v;
}

/* A time field: its value, or 0 when null. */
static int64_t jms(const json_t *doc, const char *key) {
  const json_t *v = json_object_get(doc, key);
  if (json_is_null(v))
    return 0;
  if (!json_is_integer(v))
    fail_msg("%s is neither an integer nor null", key);
  return json_integer_value(v);
}

/* Runs (at most 10 s) until /readyz says 200. */
static void run_until_ready(struct world *w) {
  const double deadline = test_now_s() + 10.0;
  int status = 0;
  for (int i = 0; i < 40 && test_now_s() < deadline; i++) {
    run_for(w, 250);
    if ((status = request(w, "/readyz", NULL)) == 200)
      break;
  }
  if (status != 200)
    fail_msg("not ready: %d %s", status, body);
}

static void expect_counts(uint64_t consumed, uint64_t applied, uint64_t duplicates,
                          uint64_t dead_lettered, uint64_t batches) {
  expect_sample("cscflow_events_consumed_total", (double)consumed);
  expect_sample("cscflow_events_applied_total", (double)applied);
  expect_sample("cscflow_events_duplicate_total", (double)duplicates);
  expect_sample("cscflow_events_dead_lettered_total", (double)dead_lettered);
  expect_sample("cscflow_batch_duration_seconds_count", (double)batches);
  expect_sample("cscflow_batch_duration_seconds_bucket{le=\"+Inf\"}", (double)batches);
  expect_sample("cscflow_quality_findings{la=\"" LA "\",rule=\"referral_while_open\"}", 1);
  expect_sample("cscflow_quality_findings{la=\"" LA "\",rule=\"unknown_code\"}", 0);
}

/* ---- the test ---------------------------------------------------------------------- */

static void metrics_and_readiness(void **state) {
  struct world *w = *state;
  /* C1 is referred again while its first referral is open: one finding.
   * e2 comes twice, and one message is not a CaseEvent at all. */
  produce_referral(w, "e1", "C1", "R1", D(2024, 1, 10));
  produce_referral(w, "e2", "C2", "R2", D(2024, 1, 11));
  produce_referral(w, "e3", "C1", "R3", D(2024, 2, 1));
  produce_referral(w, "e2", "C2", "R2", D(2024, 1, 11));
  produce(w, "not a case event", 16);
  produce_referral(w, "e4", "C3", "R4", D(2024, 2, 2));

  const int64_t opened_ms = wall_now_ms();
  writer_open(w, "ops-1");
  assert_int_equal(request(w, "/readyz", NULL), 503);
  assert_non_null(strstr(body, "restored"));
  /* Running, but the group's first join takes 3 s. */
  run_for(w, 1300);
  assert_int_equal(request(w, "/readyz", NULL), 503);
  assert_non_null(strstr(body, "partitions"));

  run_until_consumed(w, 6);
  run_until_ready(w);
  const struct engine_stats first = *engine_stats(w->e);
  assert_int_equal(first.applied, 4);
  assert_int_equal(first.duplicates, 1);
  assert_int_equal(first.dead_lettered, 1);

  assert_int_equal(request(w, "/metrics", NULL), 401);
  assert_int_equal(request(w, "/metrics", "wrong"), 401);
  assert_int_equal(request(w, "/metrics", LA_TOKEN), 403);
  assert_int_equal(request(w, "/metrics", OP_TOKEN), 200);
  assert_non_null(strstr(body, "text/plain; version=0.0.4"));
  assert_non_null(strstr(body, "# TYPE cscflow_events_consumed_total counter\n"));
  assert_non_null(strstr(body, "# TYPE cscflow_batch_duration_seconds histogram\n"));
  expect_counts(6, 4, 1, 1, first.batches);
  expect_sample("cscflow_findings_opened_total", 1);
  expect_sample("cscflow_partitions_assigned", 2);
  expect_sample("cscflow_consumer_lag", 0);
  assert_true(sample("cscflow_status_age_seconds") < 5);
  assert_true(sample("cscflow_snapshot_age_seconds") < 15);

  /* What the dashboard reads: live, and when the last event was applied. */
  json_t *doc = readiness_on(w->port);
  assert_true(json_is_true(json_object_get(doc, "ready")));
  assert_true(json_is_true(json_object_get(doc, "live")));
  assert_string_equal(jstr(doc, "writer"), "running");
  assert_string_equal(jstr(doc, "mode"), "run");
  assert_string_equal(jstr(doc, "reason"), "ready");
  const int64_t applied_ms = jms(doc, "last_applied_ms");
  assert_true(applied_ms >= opened_ms && applied_ms <= jms(doc, "now_ms"));
  assert_true(applied_ms <= jms(doc, "updated_ms"));
  assert_int_equal(jms(doc, "stopped_ms"), 0);
  json_decref(doc);
  writer_close(w);

  /* The writer gone, a separate read-only server (cscflow serve) says so at
   * once, with the same last-applied time. */
  char err[256];
  struct server *reader;
  const struct serve_options ro = {.state_dir = w->dir, .tokens = &w->tokens};
  if (serve_start(&ro, &reader, err, sizeof err) != CSC_OK)
    fail_msg("serve_start: %s", err);
  doc = readiness_on(serve_port(reader));
  assert_false(json_is_true(json_object_get(doc, "live")));
  assert_string_equal(jstr(doc, "writer"), "stopped");
  assert_int_equal(jms(doc, "last_applied_ms"), applied_ms);
  assert_true(jms(doc, "stopped_ms") >= applied_ms);
  json_decref(doc);
  serve_stop(reader);

  /* A new engine on the same state: the counts carry over ... */
  writer_open(w, "ops-2");
  assert_int_equal(request(w, "/readyz", NULL), 503);
  assert_int_equal(request(w, "/metrics", OP_TOKEN), 200);
  expect_counts(6, 4, 1, 1, first.batches);
  expect_sample("cscflow_partitions_assigned", 0);
  doc = readiness_on(w->port); /* a writer again; the last-applied time carried over */
  assert_string_equal(jstr(doc, "writer"), "running");
  assert_int_equal(jms(doc, "stopped_ms"), 0);
  assert_int_equal(jms(doc, "last_applied_ms"), applied_ms);
  json_decref(doc);

  /* ... and go on with what it consumes (it resumes after what was applied):
   * a duplicate alone applies nothing, so the last-applied time stays. */
  produce_referral(w, "e1", "C1", "R1", D(2024, 1, 10));
  run_until_consumed(w, 1);
  doc = readiness_on(w->port);
  assert_int_equal(jms(doc, "last_applied_ms"), applied_ms);
  json_decref(doc);
  const int64_t before_e5 = wall_now_ms();
  produce_referral(w, "e5", "C4", "R5", D(2024, 2, 5));
  run_until_consumed(w, 2);
  run_until_ready(w);
  doc = readiness_on(w->port);
  assert_true(jms(doc, "last_applied_ms") >= before_e5);
  json_decref(doc);
  /* A batch's time reaches the record at the record's next write (engine.h:
   * its own record cannot hold it); idle, a changed record is written after
   * a second. Ready can be said before that, so wait for the write. */
  run_for(w, 1300);
  const struct engine_stats second = *engine_stats(w->e);
  assert_int_equal(request(w, "/metrics", OP_TOKEN), 200);
  expect_counts(8, 5, 2, 1, first.batches + second.batches);
  writer_close(w);
}

/* ready_json on a hand-made status record, at a chosen now. */
static json_t *judge(struct store *st, const struct store_status *rec, int64_t now_ms) {
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
  if (rec)
    assert_int_equal(store_put_status(st, txn, rec), CSC_OK);
  json_t *doc = NULL;
  assert_int_equal(ready_json(st, txn, now_ms, 1000, &doc), CSC_OK);
  mdb_txn_abort(txn); /* nothing kept: each case starts from an empty state */
  return doc;
}

static void writer_states_from_the_record(void **state) {
  (void)state;
  char dir[256], err[256];
  struct store *st;
  test_tmpdir(dir, sizeof dir, "ops-record");
  assert_int_equal(store_open(dir, 0, &st, err, sizeof err), CSC_OK);
  const int64_t t = 1800000000000; /* 2027-01-15 */

  /* No record: no writer has started. */
  json_t *doc = judge(st, NULL, t);
  assert_string_equal(jstr(doc, "writer"), "none");
  assert_false(json_is_true(json_object_get(doc, "ready")));
  assert_false(json_is_true(json_object_get(doc, "live")));
  assert_true(json_is_null(json_object_get(doc, "mode")));
  assert_int_equal(jms(doc, "updated_ms"), 0);
  assert_int_equal(jms(doc, "last_applied_ms"), 0);
  assert_int_equal(jms(doc, "now_ms"), t);
  json_decref(doc);

  /* A run that is consuming, recorded 10 s ago: live. */
  struct store_status r = {.mode = STATUS_MODE_RUN, .restored = 1, .partitions_assigned = 2,
                           .consumer_lag = 0, .updated_ms = t - 10000,
                           .last_applied_ms = t - 60000, .last_snapshot_ms = t - 60000};
  doc = judge(st, &r, t);
  assert_true(json_is_true(json_object_get(doc, "live")));
  assert_string_equal(jstr(doc, "writer"), "running");
  assert_int_equal(jms(doc, "last_applied_ms"), t - 60000);
  json_decref(doc);

  /* The same record 31 s old, never closed (killed, or hung): not
   * responding, not ready, not live. */
  doc = judge(st, &r, r.updated_ms + 31000);
  assert_string_equal(jstr(doc, "writer"), "not_responding");
  assert_false(json_is_true(json_object_get(doc, "ready")));
  assert_false(json_is_true(json_object_get(doc, "live")));
  assert_non_null(strstr(jstr(doc, "reason"), "not running"));
  assert_int_equal(jms(doc, "last_applied_ms"), t - 60000);
  json_decref(doc);

  /* Running but lagging: the writer runs, not ready, not live. */
  r.consumer_lag = 5000;
  doc = judge(st, &r, t);
  assert_string_equal(jstr(doc, "writer"), "running");
  assert_false(json_is_true(json_object_get(doc, "live")));
  assert_string_equal(jstr(doc, "reason"), "consumer lag 5000 over 1000");
  json_decref(doc);

  /* A replay that finished and closed: /readyz says ready (its state is
   * complete), but nothing is applied any more: stopped, not live. */
  struct store_status done = {.mode = STATUS_MODE_REPLAY, .restored = 1, .consumer_lag = -1,
                              .updated_ms = t - 5000, .last_applied_ms = t - 6000,
                              .stopped_ms = t - 5000};
  doc = judge(st, &done, t);
  assert_true(json_is_true(json_object_get(doc, "ready")));
  assert_false(json_is_true(json_object_get(doc, "live")));
  assert_string_equal(jstr(doc, "writer"), "stopped");
  assert_string_equal(jstr(doc, "mode"), "replay");
  assert_int_equal(jms(doc, "stopped_ms"), t - 5000);
  assert_int_equal(jms(doc, "last_applied_ms"), t - 6000);
  json_decref(doc);

  /* A record of the earlier layout (version 1, without the two new time
   * fields) is absent, never misread. */
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
  uint8_t old[sizeof(struct store_status) - 2 * sizeof(int64_t)] = {0};
  const uint32_t v1 = 1;
  memcpy(old, &v1, sizeof v1);
  MDB_val k = {6, "status"}, v = {sizeof old, old};
  assert_int_equal(mdb_put(txn, st->meta, &k, &v, 0), 0);
  json_t *stale = NULL;
  assert_int_equal(ready_json(st, txn, t, 1000, &stale), CSC_OK);
  assert_string_equal(jstr(stale, "writer"), "none");
  json_decref(stale);
  mdb_txn_abort(txn);
  store_close(st);
}

static int setup(void **state) {
  struct world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  test_tmpdir(w->dir, sizeof w->dir, "ops");
  population_init(&w->pop);
  cluster_start(w);
  struct config cfg;
  char hex[2 * TOKEN_HASH_SIZE + 1], err[256];
  config_init(&cfg);
  api_token_hash_hex(LA_TOKEN, hex);
  assert_int_equal(config_set(&cfg, "cscflow.api.token." LA, hex), CSC_OK);
  api_token_hash_hex(OP_TOKEN, hex);
  assert_int_equal(config_set(&cfg, "cscflow.api.operator_token", hex), CSC_OK);
  assert_int_equal(api_tokens_load(&w->tokens, &cfg, err, sizeof err), CSC_OK);
  config_free(&cfg);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  struct world *w = *state;
  rd_kafka_flush(w->producer, 5000);
  rd_kafka_destroy(w->producer);
  api_tokens_free(&w->tokens);
  population_free(&w->pop);
  free(w);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(metrics_and_readiness),
      cmocka_unit_test(writer_states_from_the_record),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
