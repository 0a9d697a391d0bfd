/*
 * test_kafka.c — the engine against librdkafka's own mock cluster
 * (rdkafka_mock.h), wired as `cscflow run` wires it: kafka_conf_from_config,
 * kafka_sink_new, engine_open, kafka_consumer_new with engine_kafka_position,
 * engine_run_kafka.
 *
 *   1. end to end: a hand-written history of one LA, exact indicator values
 *      in the last snapshot on csc.indicators.v1 and exactly the expected
 *      plan_duration alerts on csc.alerts.v1;
 *   2. dead letters: undecodable input goes to csc.events.dlq.v1 with its
 *      original bytes and the reason/source headers, and the stream goes on;
 *   3. restart: two engines one after the other on one state dir give the
 *      same snapshots and alerts, byte for byte, as one uninterrupted run,
 *      and nothing is consumed or counted twice.
 *
 * Every loop is bounded in count and in time. Mock limits of librdkafka 2.0.2
 * taken into account: no CreateTopics (topics made with
 * rd_kafka_mock_topic_create), an empty fetch waits fetch.wait.max.ms (set to
 * 10 ms on every consumer).
 */
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

#define LA_A "E99000001"
#define LA_B "E99000002"

/* Engine runs: at most RUN_MS in all, leaving after IDLE_MS with nothing to
 * read. The idle clock of engine_run_kafka starts before the consumer group
 * has assigned anything, and the mock coordinator holds the first join of a
 * group for 3 s (its group.initial.rebalance.delay.ms), so the idle bound
 * must be longer than that join (1.5 s would leave before reading anything).
 *
 * Each engine run uses a group of its own: after a member leaves, the 2.0.2
 * mock keeps the group "Joining" for session.timeout.ms - 1 s (44 s) before
 * it admits a new member. The group's committed offsets play no part here
 * anyway: positions come from the state store. */
#define RUN_MS 20000
#define IDLE_MS 4500

#define MAX_READ 256

/* ---- time ----------------------------------------------------------------------- */

/* ---- the mock cluster and the test's producer -------------------------------------- */

struct delivery {
  int done;
  rd_kafka_resp_err_t err;
  int32_t partition;
  int64_t offset;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  struct delivery *d = m->_private;
  if (d == NULL)
    return;
  d->done = 1;
  d->err = m->err;
  d->partition = m->partition;
  d->offset = m->offset;
}

struct cluster {
  rd_kafka_t *producer; /* owns the mock cluster (test.mock.num.brokers) */
  rd_kafka_mock_cluster_t *mock;
  char bootstraps[256];
};

static void cluster_start(struct cluster *c) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err), RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  c->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(c->producer);
  c->mock = rd_kafka_handle_mock_cluster(c->producer);
  assert_non_null(c->mock);
  const char *bs = rd_kafka_mock_cluster_bootstraps(c->mock);
  assert_non_null(bs);
  assert_true(strlen(bs) < sizeof c->bootstraps);
  snprintf(c->bootstraps, sizeof c->bootstraps, "%s", bs);
  assert_int_equal(rd_kafka_mock_topic_create(c->mock, TOPIC_EVENTS, 2, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(c->mock, TOPIC_INDICATORS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(c->mock, TOPIC_ALERTS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(c->mock, TOPIC_QUALITY, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(c->mock, TOPIC_DLQ, 1, 1), 0);
}

static void cluster_stop(struct cluster *c) {
  rd_kafka_flush(c->producer, 5000);
  rd_kafka_destroy(c->producer); /* destroys the mock cluster with it */
  c->producer = NULL;
  c->mock = NULL;
}

/* Produces one message to csc.events.v1 and waits for its delivery report:
 * returns where it landed. */
static void produce(struct cluster *c, const char *key, const void *value, size_t len,
                    int32_t *partition, int64_t *offset) {
  struct delivery d = {0, RD_KAFKA_RESP_ERR_NO_ERROR, -1, -1};
  rd_kafka_resp_err_t err = rd_kafka_producev(
      c->producer, RD_KAFKA_V_TOPIC(TOPIC_EVENTS), RD_KAFKA_V_KEY(key, strlen(key)),
      RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END);
  assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
  const double deadline = test_now_s() + 10.0;
  for (int i = 0; i < 1000 && !d.done && test_now_s() < deadline; i++)
    rd_kafka_poll(c->producer, 20);
  assert_true(d.done);
  assert_int_equal(d.err, RD_KAFKA_RESP_ERR_NO_ERROR);
  if (partition)
    *partition = d.partition;
  if (offset)
    *offset = d.offset;
}

/* ---- events ------------------------------------------------------------------------ */

enum ev_kind { K_REF_OPEN, K_REF_CLOSE, K_CP_START, K_CP_END, K_POC_START, K_PLACEMENT };

enum framing {
  F_RAW,
  F_CONFLUENT_SHORT,  /* 0, schema id, 0x00 (count 0 = [0]), protobuf */
  F_CONFLUENT_PATH0,  /* 0, schema id, 0x02 0x00 (count 1, index 0), protobuf */
  F_CONFLUENT_INDEX1, /* 0, schema id, 0x02 0x02 (count 1, index 1): not CaseEvent */
};

/* One event. a, b, c are the payload's strings in proto field order:
 *   K_REF_OPEN   referral_id, source
 *   K_REF_CLOSE  referral_id
 *   K_CP_START   plan_id, referral_id, initial_category
 *   K_CP_END     plan_id
 *   K_POC_START  period_id, legal_status, placement_type
 *   K_PLACEMENT  period_id, placement_type
 * Recorded at 14:00 London time on the day it occurred. */
struct ev {
  const char *id, *la, *child;
  csc_date on;
  enum ev_kind kind;
  const char *a, *b, *c;
  enum framing framing;
};

static size_t pack_ev(const struct ev *x, uint8_t *buf, size_t cap) {
  Cscflow__V1__CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__ReferralOpened ro = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  Cscflow__V1__ReferralClosed rc = CSCFLOW__V1__REFERRAL_CLOSED__INIT;
  Cscflow__V1__CpPlanStarted cs = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  Cscflow__V1__CpPlanEnded ce = CSCFLOW__V1__CP_PLAN_ENDED__INIT;
  Cscflow__V1__PeriodOfCareStarted ps = CSCFLOW__V1__PERIOD_OF_CARE_STARTED__INIT;
  Cscflow__V1__PlacementStarted pl = CSCFLOW__V1__PLACEMENT_STARTED__INIT;
  Cscflow__V1__Placement place = CSCFLOW__V1__PLACEMENT__INIT;
  ev.event_id = (char *)x->id;
  ev.la_code = (char *)x->la;
  ev.child_id = (char *)x->child;
  ev.occurred_on = date_to_yyyymmdd(x->on);
  ev.recorded_at_ms = test_ms(x->on);
  ev.source_system = "test";
  switch (x->kind) {
  case K_REF_OPEN:
    ro.referral_id = (char *)x->a;
    ro.source = (char *)x->b;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
    ev.referral_opened = &ro;
    break;
  case K_REF_CLOSE:
    rc.referral_id = (char *)x->a;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED;
    ev.referral_closed = &rc;
    break;
  case K_CP_START:
    cs.plan_id = (char *)x->a;
    cs.referral_id = (char *)x->b;
    cs.initial_category = (char *)x->c;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
    ev.cp_plan_started = &cs;
    break;
  case K_CP_END:
    ce.plan_id = (char *)x->a;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED;
    ev.cp_plan_ended = &ce;
    break;
  case K_POC_START:
    ps.period_id = (char *)x->a;
    ps.legal_status = (char *)x->b;
    place.placement_type = (char *)x->c;
    ps.placement = &place;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED;
    ev.period_of_care_started = &ps;
    break;
  case K_PLACEMENT:
    pl.period_id = (char *)x->a;
    place.placement_type = (char *)x->b;
    pl.placement = &place;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED;
    ev.placement_started = &pl;
    break;
  }
  size_t hdr = 0;
  if (x->framing != F_RAW) {
    const uint8_t schema[5] = {0x00, 0x00, 0x00, 0x01, 0x2c}; /* magic, schema id 300 */
    memcpy(buf, schema, sizeof schema);
    hdr = sizeof schema;
    if (x->framing == F_CONFLUENT_SHORT) {
      buf[hdr++] = 0x00;
    } else {
      buf[hdr++] = 0x02; /* zigzag(1): one index */
      buf[hdr++] = x->framing == F_CONFLUENT_PATH0 ? 0x00 : 0x02; /* zigzag(0) / zigzag(1) */
    }
  }
  const size_t n = cscflow__v1__case_event__get_packed_size(&ev);
  assert_true(hdr + n <= cap);
  cscflow__v1__case_event__pack(&ev, buf + hdr);
  return hdr + n;
}

static void produce_ev(struct cluster *c, const struct ev *x, int32_t *partition, int64_t *offset) {
  uint8_t buf[1024];
  const size_t n = pack_ev(x, buf, sizeof buf);
  produce(c, x->la, buf, n, partition, offset);
}

/* ---- running the engine, as cmd_run does --------------------------------------------- */

static void run_engine(const struct cluster *c, const char *state_dir, const char *group,
                       const struct population *pop, struct engine_stats *stats) {
  struct config cfg;
  char err[512];
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "bootstrap.servers", c->bootstraps), CSC_OK);
  assert_int_equal(config_set(&cfg, "consumer.group.id", group), CSC_OK);
  assert_int_equal(config_set(&cfg, "consumer.fetch.wait.max.ms", "10"), CSC_OK);
  assert_int_equal(config_set(&cfg, "consumer.auto.offset.reset", "earliest"), CSC_OK);
  assert_int_equal(config_set(&cfg, "producer.linger.ms", "1"), CSC_OK);
  rd_kafka_conf_t *pconf = kafka_conf_from_config(&cfg, "producer", err, sizeof err);
  assert_non_null(pconf);
  rd_kafka_conf_t *cconf = kafka_conf_from_config(&cfg, "consumer", err, sizeof err);
  assert_non_null(cconf);

  struct sink *sink = NULL;
  assert_int_equal(kafka_sink_new(pconf, &sink, err, sizeof err), CSC_OK);
  struct engine_options eo = {state_dir, CLOCK_REPLAY, pop, sink, 100, 5};
  struct engine *e = NULL;
  int rc = engine_open(&eo, &e, err, sizeof err);
  if (rc != CSC_OK)
    fail_msg("engine_open: %s", err);
  rd_kafka_t *rk = NULL;
  rc = kafka_consumer_new(cconf, TOPIC_EVENTS, engine_kafka_position, e, &rk, err, sizeof err);
  if (rc != CSC_OK)
    fail_msg("kafka_consumer_new: %s", err);
  volatile sig_atomic_t stop = 0;
  const double t0 = test_now_s();
  rc = engine_run_kafka(e, rk, &stop, RUN_MS, IDLE_MS);
  const double took = test_now_s() - t0;
  *stats = *engine_stats(e);
  kafka_consumer_destroy(rk);
  engine_close(e);
  sink->destroy(sink);
  config_free(&cfg);
  if (rc != CSC_OK)
    fail_msg("engine_run_kafka returned %d (%s) after consuming %llu, dead-lettering %llu", rc,
             csc_strerror(rc), (unsigned long long)stats->consumed,
             (unsigned long long)stats->dead_lettered);
  assert_true(took < RUN_MS / 1000.0 + 2.0);
}

/* Opens and closes an engine on state_dir without consuming: engine_open
 * republishes whatever the outbox still holds. */
static void reopen_engine(const struct cluster *c, const char *state_dir,
                          const struct population *pop) {
  struct config cfg;
  char err[512];
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "bootstrap.servers", c->bootstraps), CSC_OK);
  rd_kafka_conf_t *pconf = kafka_conf_from_config(&cfg, "producer", err, sizeof err);
  assert_non_null(pconf);
  struct sink *sink = NULL;
  assert_int_equal(kafka_sink_new(pconf, &sink, err, sizeof err), CSC_OK);
  struct engine_options eo = {state_dir, CLOCK_REPLAY, pop, sink, 100, 5};
  struct engine *e = NULL;
  const int rc = engine_open(&eo, &e, err, sizeof err);
  if (rc == CSC_OK)
    engine_close(e);
  sink->destroy(sink);
  config_free(&cfg);
  if (rc != CSC_OK)
    fail_msg("engine_open again on %s: %s", state_dir, err);
}

/* ---- reading an output topic ------------------------------------------------------- */

struct rmsg {
  int64_t offset;
  uint8_t *key, *value;
  size_t key_len, len;
  rd_kafka_headers_t *headers; /* detached copy, or NULL */
};

struct rtopic {
  struct rmsg m[MAX_READ];
  size_t n;
};

static uint8_t *dup_bytes(const void *p, size_t n) {
  uint8_t *d = malloc(n ? n : 1);
  assert_non_null(d);
  if (n)
    memcpy(d, p, n);
  return d;
}

/* Reads partition 0 of topic from the beginning to its high watermark, with
 * a plain assigned consumer (no group subscription). */
static void read_topic(const struct cluster *c, const char *topic, struct rtopic *out) {
  char err[512];
  out->n = 0;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *props[][2] = {{"bootstrap.servers", c->bootstraps},
                            {"group.id", "test-reader"},
                            {"enable.auto.commit", "false"},
                            {"enable.partition.eof", "true"},
                            {"fetch.wait.max.ms", "10"},
                            {"auto.offset.reset", "earliest"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    assert_int_equal(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err),
                     RD_KAFKA_CONF_OK);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  assert_non_null(rk);
  rd_kafka_poll_set_consumer(rk);
  int64_t lo = -1, hi = -1;
  assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 5000),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(lo, 0);
  assert_true(hi >= 0 && hi <= MAX_READ);
  if (hi > 0) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    const double deadline = test_now_s() + 10.0;
    int64_t next = 0;
    for (int i = 0; i < 2000 && next < hi && test_now_s() < deadline; i++) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
      if (m == NULL)
        continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        assert_true(out->n < MAX_READ);
        struct rmsg *r = &out->m[out->n++];
        r->offset = m->offset;
        r->key = dup_bytes(m->key, m->key_len);
        r->key_len = m->key_len;
        r->value = dup_bytes(m->payload, m->len);
        r->len = m->len;
        rd_kafka_headers_t *h = NULL;
        r->headers = rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR
                         ? rd_kafka_headers_copy(h)
                         : NULL;
        next = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  assert_int_equal((int64_t)out->n, hi);
}

static void rtopic_free(struct rtopic *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->m[i].key);
    free(t->m[i].value);
    if (t->m[i].headers)
      rd_kafka_headers_destroy(t->m[i].headers);
  }
  t->n = 0;
}

static int key_is(const struct rmsg *m, const char *key) {
  return m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0;
}

/* The last message with key at or after index from; NULL when none. */
static const struct rmsg *last_with_key(const struct rtopic *t, size_t from, const char *key) {
  const struct rmsg *found = NULL;
  for (size_t i = from; i < t->n; i++)
    if (key_is(&t->m[i], key))
      found = &t->m[i];
  return found;
}

/* The header's value as a string ("" when absent, which no assertion expects). */
static void header(const struct rmsg *m, const char *name, char *buf, size_t len) {
  const void *v = NULL;
  size_t n = 0;
  buf[0] = '\0';
  if (m->headers == NULL || rd_kafka_header_get_last(m->headers, name, &v, &n) != 0 || v == NULL)
    return;
  if (n >= len)
    n = len - 1;
  memcpy(buf, v, n);
  buf[n] = '\0';
}

static IndicatorSnapshot *unpack_snapshot(const struct rmsg *m) {
  assert_non_null(m);
  IndicatorSnapshot *s = cscflow__v1__indicator_snapshot__unpack(NULL, m->len, m->value);
  assert_non_null(s);
  return s;
}

static const Cscflow__V1__IndicatorValue *value_of(const IndicatorSnapshot *s, const char *id,
                                                   const char *window, const char *breakdown) {
  const Cscflow__V1__IndicatorValue *v = snapshot_find(s, id, window, breakdown);
  if (v != NULL)
    return v;
  fail_msg("no value %s %s %s in the snapshot", id, window, breakdown);
  return NULL;
}

#define ABSENT (-1.0e300)
/* Checks one figure; ABSENT means it must be unset (null, never 0). */
static void check_num(const char *what, int has, double x, double expected) {
  if (expected == ABSENT) {
    if (has)
      fail_msg("%s: expected null, got %g", what, x);
    return;
  }
  if (!has)
    fail_msg("%s: expected %g, got null", what, expected);
  if (fabs(x - expected) > 1e-9)
    fail_msg("%s: expected %g, got %g", what, expected, x);
}

static void check_value(const IndicatorSnapshot *s, const char *id, const char *window,
                        const char *breakdown, double num, double den, double value,
                        double per_10k) {
  const Cscflow__V1__IndicatorValue *v = value_of(s, id, window, breakdown);
  char what[128];
  snprintf(what, sizeof what, "%s %s [%s] numerator", id, window, breakdown);
  check_num(what, v->has_numerator, v->numerator, num);
  snprintf(what, sizeof what, "%s %s [%s] denominator", id, window, breakdown);
  check_num(what, v->has_denominator, v->denominator, den);
  snprintf(what, sizeof what, "%s %s [%s] value", id, window, breakdown);
  check_num(what, v->has_value, v->value, value);
  snprintf(what, sizeof what, "%s %s [%s] per_10k", id, window, breakdown);
  check_num(what, v->has_per_10k, v->per_10k, per_10k);
}

/* ---- 1. end to end ------------------------------------------------------------------ */

/*
 * LA E99000001, 10,000 children in 2024. Every event is recorded at 14:00 on
 * the day it occurred, so the LA's as-of date T under the replay clock is the
 * date of the last event: 2024-07-15.
 *
 *   C1  referral R1 2023-09-01, closed 2023-10-15; referral R2 2024-02-01
 *       (5 months after R1: a re-referral), closed 2024-07-15.
 *   C2  referral R3 2023-12-01; CP plan P1 from 2024-01-10, still open.
 *   C3  referral R4 2024-03-05; CP plan P2 from 2024-03-20 to 2024-06-20.
 *   C4  period of care L1 from 2024-05-01 (C2, placed U1), moved to U3 on
 *       2024-06-01; still looked after.
 *
 * P1's start is Confluent-framed with the short index form [0] (0x00), R4's
 * with the explicit path [0] (0x02 0x00); the rest is raw protobuf.
 */
static const struct ev e2e_events[] = {
    {"e01", LA_A, "C1", 0, K_REF_OPEN, "R1", "1A", NULL, F_RAW},
    {"e02", LA_A, "C1", 0, K_REF_CLOSE, "R1", NULL, NULL, F_RAW},
    {"e03", LA_A, "C2", 0, K_REF_OPEN, "R3", "3A", NULL, F_RAW},
    {"e04", LA_A, "C2", 0, K_CP_START, "P1", "R3", "N", F_CONFLUENT_SHORT},
    {"e05", LA_A, "C1", 0, K_REF_OPEN, "R2", "1A", NULL, F_RAW},
    {"e06", LA_A, "C3", 0, K_REF_OPEN, "R4", "5B", NULL, F_CONFLUENT_PATH0},
    {"e07", LA_A, "C3", 0, K_CP_START, "P2", "R4", "P", F_RAW},
    {"e08", LA_A, "C4", 0, K_POC_START, "L1", "C2", "U1", F_RAW},
    {"e09", LA_A, "C4", 0, K_PLACEMENT, "L1", "U3", NULL, F_RAW},
    {"e10", LA_A, "C3", 0, K_CP_END, "P2", NULL, NULL, F_RAW},
    {"e11", LA_A, "C1", 0, K_REF_CLOSE, "R2", NULL, NULL, F_RAW},
};
#define N_E2E (sizeof e2e_events / sizeof e2e_events[0])

static csc_date e2e_date(size_t i) {
  static const int ymd[N_E2E][3] = {{2023, 9, 1}, {2023, 10, 15}, {2023, 12, 1}, {2024, 1, 10},
                                    {2024, 2, 1}, {2024, 3, 5},   {2024, 3, 20}, {2024, 5, 1},
                                    {2024, 6, 1}, {2024, 6, 20},  {2024, 7, 15}};
  return D(ymd[i][0], ymd[i][1], ymd[i][2]);
}

static void test_end_to_end(void **state) {
  (void)state;
  struct cluster c;
  cluster_start(&c);
  for (size_t i = 0; i < N_E2E; i++) {
    struct ev x = e2e_events[i];
    x.on = e2e_date(i);
    produce_ev(&c, &x, NULL, NULL);
  }

  char dir[256];
  test_tmpdir(dir, sizeof dir, "kafka-e2e");
  struct population pop;
  population_init(&pop);
  assert_int_equal(population_set(&pop, LA_A, 2024, 10000), CSC_OK);
  struct engine_stats stats;
  run_engine(&c, dir, "cscflow-e2e", &pop, &stats);
  assert_int_equal(stats.consumed, N_E2E);
  assert_int_equal(stats.applied, N_E2E);
  assert_int_equal(stats.dead_lettered, 0);
  assert_int_equal(stats.duplicates, 0);

  struct rtopic *t = calloc(1, sizeof *t);
  assert_non_null(t);

  /* ---- the last snapshot of the LA ---- */
  read_topic(&c, TOPIC_INDICATORS, t);
  assert_true(t->n >= 1);
  IndicatorSnapshot *s = unpack_snapshot(last_with_key(t, 0, LA_A));
  assert_string_equal(s->la_code, LA_A);
  assert_int_equal(s->as_of, 20240715);
  assert_int_equal(s->events_applied, N_E2E);

  /* referrals 12m: referral dates in (2023-07-15, 2024-07-15]: R1 2023-09-01,
   * R3 2023-12-01, R2 2024-02-01, R4 2024-03-05 = 4; per 10k 4/10000*10000 = 4. */
  check_value(s, "referrals", "12m", "", 4, ABSENT, 4, 4.0);
  /* referrals FYTD: 2024-04-01..2024-07-15 has none: 0 (a count is 0, not null). */
  check_value(s, "referrals", "FYTD", "", 0, ABSENT, 0, 0.0);
  /* rereferrals 12m: of those 4, R2 came 5 months after C1's previous
   * referral R1 (on or after 2024-02-01 - 12m = 2023-02-01): 1 / 4 = 25 %;
   * per 10k of the numerator 1. R1, R3, R4 are each the child's first. */
  check_value(s, "rereferrals", "12m", "", 1, 4, 25.0, 1.0);
  /* rereferrals FYTD: 0 / 0: the value is null, not 0. */
  check_value(s, "rereferrals", "FYTD", "", 0, 0, ABSENT, 0.0);
  /* children_on_plan CP on T: P1 [2024-01-10, never) is open; P2
   * [2024-03-20, 2024-06-20) is not (ended before T): 1; per 10k 1. */
  check_value(s, "children_on_plan", "T", "CP", 1, ABSENT, 1, 1.0);
  /* children_on_plan LAC: C4's period of care from 2024-05-01: 1. */
  check_value(s, "children_on_plan", "T", "LAC", 1, ABSENT, 1, 1.0);
  check_value(s, "children_on_plan", "T", "CIN", 0, ABSENT, 0, 0.0);
  /* open_plans_over CP,6m: plans open on T = {P1} (denominator 1); P1 has
   * lasted 6 months since 2024-07-10 <= T: 1 / 1 = 100 %. No per 10k. */
  check_value(s, "open_plans_over", "T", "CP,6m", 1, 1, 100.0, ABSENT);
  /* CP,12m: P1 reaches 12 months on 2025-01-10 > T: 0 / 1 = 0 %. */
  check_value(s, "open_plans_over", "T", "CP,12m", 0, 1, 0.0, ABSENT);
  /* LAC,6m: L1 reaches 6 months on 2024-11-01 > T: 0 / 1 = 0 %. */
  check_value(s, "open_plans_over", "T", "LAC,6m", 0, 1, 0.0, ABSENT);
  /* No case rule broken. */
  for (size_t i = 0; i < s->n_quality; i++)
    assert_int_equal(s->quality[i]->count, 0);
  cscflow__v1__indicator_snapshot__free_unpacked(s, NULL);
  rtopic_free(t);

  /* ---- alerts: exactly one ----
   * P1 (CP, from 2024-01-10) passes 6 months on 2024-07-10 while open; the
   * clock reaches it with the event of 2024-07-15: raised, as of 2024-07-15.
   * Its 12 months fall on 2025-01-10 > T: nothing. P2 ended 2024-06-20,
   * before its 6 months (2024-09-20): never a candidate. L1 passes 6 months
   * on 2024-11-01 > T: nothing yet. */
  read_topic(&c, TOPIC_ALERTS, t);
  assert_int_equal(t->n, 1);
  const char *want_id = "plan_duration:" LA_A ":C2:CP:P1:6m";
  assert_true(key_is(&t->m[0], want_id));
  Alert *a = cscflow__v1__alert__unpack(NULL, t->m[0].len, t->m[0].value);
  assert_non_null(a);
  assert_string_equal(a->alert_id, want_id);
  assert_string_equal(a->kind, "plan_duration");
  assert_string_equal(a->la_code, LA_A);
  assert_string_equal(a->child_id, "C2");
  assert_string_equal(a->plan_kind, "CP");
  assert_string_equal(a->plan_id, "P1");
  assert_int_equal(a->threshold_months, 6);
  assert_int_equal(a->plan_start, 20240110);
  assert_int_equal(a->date_crossed, 20240710);
  assert_int_equal(a->status, CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED);
  assert_int_equal(a->status, 1);
  assert_int_equal(a->as_of, 20240715);
  cscflow__v1__alert__free_unpacked(a, NULL);
  rtopic_free(t);

  /* Nothing dead-lettered, no data-quality finding. */
  read_topic(&c, TOPIC_DLQ, t);
  assert_int_equal(t->n, 0);
  read_topic(&c, TOPIC_QUALITY, t);
  assert_int_equal(t->n, 0);

  free(t);
  population_free(&pop);
  cluster_stop(&c);
}

/* ---- 2. dead letters ------------------------------------------------------------------ */

/*
 * In order, all keyed by the LA: the bytes "not a protobuf" ('n' = 0x6e is
 * field 13 with wire type 6, which does not exist: undecodable); a good
 * referral for C1; a well-formed CaseEvent in Confluent framing whose message
 * index path is [1] (not CaseEvent); a good referral for C2. Two dead
 * letters, with the original key and bytes, and headers naming the reason
 * and where the message came from; both good events applied.
 */
static void test_dead_letter(void **state) {
  (void)state;
  struct cluster c;
  cluster_start(&c);
  static const char garbage[] = "not a protobuf";
  const size_t garbage_len = sizeof garbage - 1;
  int32_t bad_part, idx_part;
  int64_t bad_off, idx_off;
  produce(&c, LA_A, garbage, garbage_len, &bad_part, &bad_off);
  struct ev good1 = {"g1", LA_A, "C1", D(2024, 3, 1), K_REF_OPEN, "R1", "1A", NULL, F_RAW};
  produce_ev(&c, &good1, NULL, NULL);
  struct ev wrong = {"g2", LA_A, "C9", D(2024, 3, 2), K_REF_OPEN, "R9", "1A", NULL,
                     F_CONFLUENT_INDEX1};
  uint8_t wrong_bytes[1024];
  const size_t wrong_len = pack_ev(&wrong, wrong_bytes, sizeof wrong_bytes);
  produce(&c, LA_A, wrong_bytes, wrong_len, &idx_part, &idx_off);
  struct ev good2 = {"g3", LA_A, "C2", D(2024, 3, 3), K_REF_OPEN, "R2", "1A", NULL, F_RAW};
  produce_ev(&c, &good2, NULL, NULL);

  char dir[256];
  test_tmpdir(dir, sizeof dir, "kafka-dlq");
  struct population pop;
  population_init(&pop);
  assert_int_equal(population_set(&pop, LA_A, 2024, 10000), CSC_OK);
  struct engine_stats stats;
  run_engine(&c, dir, "cscflow-dlq", &pop, &stats);
  assert_int_equal(stats.consumed, 4);
  assert_int_equal(stats.dead_lettered, 2);
  assert_int_equal(stats.applied, 2);

  struct rtopic *t = calloc(1, sizeof *t);
  assert_non_null(t);
  read_topic(&c, TOPIC_DLQ, t);
  assert_int_equal(t->n, 2);
  char h[256], want[32];

  /* The garbage: its bytes and key unchanged, where it came from. */
  const struct rmsg *m = &t->m[0];
  assert_true(key_is(m, LA_A));
  assert_int_equal(m->len, garbage_len);
  assert_memory_equal(m->value, garbage, garbage_len);
  header(m, "reason", h, sizeof h);
  assert_string_equal(h, "protobuf decode failed");
  header(m, "source.topic", h, sizeof h);
  assert_string_equal(h, TOPIC_EVENTS);
  header(m, "source.partition", h, sizeof h);
  snprintf(want, sizeof want, "%d", (int)bad_part);
  assert_string_equal(h, want);
  header(m, "source.offset", h, sizeof h);
  snprintf(want, sizeof want, "%lld", (long long)bad_off);
  assert_string_equal(h, want);

  /* The Confluent message with index path [1]. */
  m = &t->m[1];
  assert_true(key_is(m, LA_A));
  assert_int_equal(m->len, wrong_len);
  assert_memory_equal(m->value, wrong_bytes, wrong_len);
  header(m, "reason", h, sizeof h);
  assert_true(h[0] != '\0');
  assert_non_null(strstr(h, "index"));
  header(m, "source.topic", h, sizeof h);
  assert_string_equal(h, TOPIC_EVENTS);
  header(m, "source.partition", h, sizeof h);
  snprintf(want, sizeof want, "%d", (int)idx_part);
  assert_string_equal(h, want);
  header(m, "source.offset", h, sizeof h);
  snprintf(want, sizeof want, "%lld", (long long)idx_off);
  assert_string_equal(h, want);
  rtopic_free(t);

  /* The good events around them were applied: 2 events, 2 referrals (C1 on
   * 2024-03-01, C2 on 2024-03-03); the dead letters count for nothing (C9 is
   * nowhere). T = 2024-03-03, the last good event's date. */
  read_topic(&c, TOPIC_INDICATORS, t);
  IndicatorSnapshot *s = unpack_snapshot(last_with_key(t, 0, LA_A));
  assert_int_equal(s->events_applied, 2);
  assert_int_equal(s->as_of, 20240303);
  check_value(s, "referrals", "12m", "", 2, ABSENT, 2, 2.0);
  check_value(s, "rereferrals", "12m", "", 0, 2, 0.0, 0.0);
  cscflow__v1__indicator_snapshot__free_unpacked(s, NULL);
  rtopic_free(t);

  /* Every output was acknowledged and cleared from the outbox: opening the
   * state again republishes nothing, so the DLQ still holds 2 messages. */
  reopen_engine(&c, dir, &pop);
  read_topic(&c, TOPIC_DLQ, t);
  assert_int_equal(t->n, 2);
  rtopic_free(t);

  free(t);
  population_free(&pop);
  cluster_stop(&c);
}

/* ---- 3. restart without loss ------------------------------------------------------------ */

/*
 * Two LAs (keys hash them to one partition or to both). The first half is
 * consumed by one engine, which then closes; the second half by a new
 * engine on the same state dir. Each half holds a duplicate (same event_id,
 * same bytes): a3 again in the first half, a1 again in the second, so the
 * dedupe must hold across the restart. a2 starts C1's CP plan P1 on
 * 2023-12-01 in the first half; its 6 months (2024-06-01) are crossed by
 * a6 in the second. D1's third placement (b5) comes in the second half.
 */
static const struct ev restart_events[] = {
    /* first half */
    {"a1", LA_A, "C1", 0, K_REF_OPEN, "R1", "1A", NULL, F_RAW},
    {"b1", LA_B, "D1", 0, K_REF_OPEN, "S1", "2A", NULL, F_RAW},
    {"a2", LA_A, "C1", 0, K_CP_START, "P1", "R1", "P", F_RAW},
    {"a3", LA_A, "C2", 0, K_REF_OPEN, "R2", "1A", NULL, F_RAW},
    {"b2", LA_B, "D1", 0, K_POC_START, "L1", "C2", "U1", F_RAW},
    {"a4", LA_A, "C2", 0, K_REF_CLOSE, "R2", NULL, NULL, F_RAW},
    {"a3", LA_A, "C2", 0, K_REF_OPEN, "R2", "1A", NULL, F_RAW},
    {"b3", LA_B, "D2", 0, K_REF_OPEN, "S2", "3A", NULL, F_RAW},
    /* second half */
    {"a5", LA_A, "C2", 0, K_REF_OPEN, "R3", "1A", NULL, F_RAW},
    {"b6", LA_B, "D2", 0, K_CP_START, "Q1", "S2", "E", F_RAW},
    {"b4", LA_B, "D1", 0, K_PLACEMENT, "L1", "U3", NULL, F_RAW},
    {"b5", LA_B, "D1", 0, K_PLACEMENT, "L1", "U4", NULL, F_RAW},
    {"a6", LA_A, "C3", 0, K_REF_OPEN, "R4", "1A", NULL, F_RAW},
    {"a1", LA_A, "C1", 0, K_REF_OPEN, "R1", "1A", NULL, F_RAW},
    {"a7", LA_A, "C2", 0, K_REF_CLOSE, "R3", NULL, NULL, F_RAW},
    {"b7", LA_B, "D2", 0, K_CP_END, "Q1", NULL, NULL, F_CONFLUENT_SHORT},
};
#define N_RESTART (sizeof restart_events / sizeof restart_events[0])
#define N_FIRST_HALF 8

static csc_date restart_date(size_t i) {
  static const int ymd[N_RESTART][3] = {
      {2023, 11, 1}, {2024, 1, 5},  {2023, 12, 1}, {2024, 1, 15}, {2024, 2, 10}, {2024, 2, 1},
      {2024, 1, 15}, {2024, 3, 1},  {2024, 4, 10}, {2024, 4, 20}, {2024, 5, 1},  {2024, 6, 1},
      {2024, 6, 15}, {2023, 11, 1}, {2024, 7, 1},  {2024, 8, 1}};
  return D(ymd[i][0], ymd[i][1], ymd[i][2]);
}

static void produce_restart(struct cluster *c, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    struct ev x = restart_events[i];
    x.on = restart_date(i);
    produce_ev(c, &x, NULL, NULL);
  }
}

/* The last message with key in t->m[from_a, to_a) (the restarted runs) and
 * the last in t->m[from_b..] (the uninterrupted run) have the same bytes. */
static void assert_same_last(const struct rtopic *t, size_t from_a, size_t to_a, size_t from_b,
                             const char *key) {
  const struct rmsg *a = NULL, *b = last_with_key(t, from_b, key);
  for (size_t i = from_a; i < to_a; i++)
    if (key_is(&t->m[i], key))
      a = &t->m[i];
  if (a == NULL || b == NULL)
    fail_msg("%s: missing in the %s", key, a == NULL ? "restarted run" : "uninterrupted run");
  if (a->len != b->len || memcmp(a->value, b->value, a->len) != 0)
    fail_msg("%s: the restarted run's last message differs from the uninterrupted run's", key);
}

static void test_restart(void **state) {
  (void)state;
  struct cluster c;
  cluster_start(&c);
  struct population pop;
  population_init(&pop);
  assert_int_equal(population_set(&pop, LA_A, 2024, 10000), CSC_OK);
  assert_int_equal(population_set(&pop, LA_B, 2024, 20000), CSC_OK);
  char dir1[256], dir2[256];
  test_tmpdir(dir1, sizeof dir1, "kafka-restart");
  test_tmpdir(dir2, sizeof dir2, "kafka-fresh");
  struct engine_stats stats;

  /* Run 1: the first half: 8 messages, 7 distinct events, a3 twice. */
  produce_restart(&c, 0, N_FIRST_HALF);
  run_engine(&c, dir1, "cscflow-restart-1", &pop, &stats);
  assert_int_equal(stats.consumed, N_FIRST_HALF);
  assert_int_equal(stats.applied, 7);
  assert_int_equal(stats.duplicates, 1);

  /* Run 2, same state dir: resumes from the stored positions, so it consumes
   * exactly the 8 new messages (not the 16 from the start): 7 applied, and
   * a1, applied in run 1, is a duplicate. */
  produce_restart(&c, N_FIRST_HALF, N_RESTART);
  run_engine(&c, dir1, "cscflow-restart-2", &pop, &stats);
  assert_int_equal(stats.consumed, N_RESTART - N_FIRST_HALF);
  assert_int_equal(stats.applied, 7);
  assert_int_equal(stats.duplicates, 1);
  assert_int_equal(stats.dead_lettered, 0);

  struct rtopic *snaps = calloc(1, sizeof *snaps), *alerts = calloc(1, sizeof *alerts);
  assert_non_null(snaps);
  assert_non_null(alerts);
  read_topic(&c, TOPIC_INDICATORS, snaps);
  const size_t snaps_restarted = snaps->n;
  read_topic(&c, TOPIC_ALERTS, alerts);
  const size_t alerts_restarted = alerts->n;
  rtopic_free(snaps);
  rtopic_free(alerts);

  /* Run 3: one uninterrupted run over all 16 messages on a fresh state dir
   * (and a third group): 14 distinct events, 2 duplicates. */
  run_engine(&c, dir2, "cscflow-fresh", &pop, &stats);
  assert_int_equal(stats.consumed, N_RESTART);
  assert_int_equal(stats.applied, 14);
  assert_int_equal(stats.duplicates, 2);

  /* Messages [0, *_restarted) come from runs 1-2, the rest from run 3. */
  read_topic(&c, TOPIC_INDICATORS, snaps);
  assert_true(snaps->n > snaps_restarted);
  assert_same_last(snaps, 0, snaps_restarted, snaps_restarted, LA_A);
  assert_same_last(snaps, 0, snaps_restarted, snaps_restarted, LA_B);

  /* events_applied counts each distinct event once: A has a1..a7, B b1..b7. */
  IndicatorSnapshot *s = unpack_snapshot(last_with_key(snaps, snaps_restarted, LA_A));
  assert_int_equal(s->events_applied, 7);
  assert_int_equal(s->as_of, 20240701);
  /* A on 2024-07-01: referrals in (2023-07-01, 2024-07-01]: R1 2023-11-01, R2
   * 2024-01-15, R3 2024-04-10, R4 2024-06-15 = 4; R3 is C2's re-referral
   * (R2 under 3 months before): 1 / 4 = 25 %. P1 open since 2023-12-01 has
   * lasted 6 months since 2024-06-01: open_plans_over CP,6m = 1 / 1. */
  check_value(s, "referrals", "12m", "", 4, ABSENT, 4, 4.0);
  check_value(s, "rereferrals", "12m", "", 1, 4, 25.0, 1.0);
  check_value(s, "open_plans_over", "T", "CP,6m", 1, 1, 100.0, ABSENT);
  cscflow__v1__indicator_snapshot__free_unpacked(s, NULL);
  s = unpack_snapshot(last_with_key(snaps, snaps_restarted, LA_B));
  assert_int_equal(s->events_applied, 7);
  assert_int_equal(s->as_of, 20240801);
  /* B on 2024-08-01, 20,000 children: referrals S1 2024-01-05, S2 2024-03-01
   * = 2, per 10k 2 / 20000 * 10000 = 1; Q1 [2024-04-20, 2024-08-01) is not
   * open on its end date: 0 children on a CP plan; D1 looked after since
   * 2024-02-10: 1, per 10k 0.5. D1 was in U1, U3 and U4 during FYTD
   * (2024-04-01..): placements_3plus FYTD 1 / 1 = 100 %. */
  check_value(s, "referrals", "12m", "", 2, ABSENT, 2, 1.0);
  check_value(s, "children_on_plan", "T", "CP", 0, ABSENT, 0, 0.0);
  check_value(s, "children_on_plan", "T", "LAC", 1, ABSENT, 1, 0.5);
  check_value(s, "placements_3plus", "FYTD", "", 1, 1, 100.0, ABSENT);
  cscflow__v1__indicator_snapshot__free_unpacked(s, NULL);

  /* Alerts: the same last message per alert id. The only one due is P1's
   * 6 months (2024-06-01, crossed by a6 on 2024-06-15); L1's 6 months fall
   * on 2024-08-10 > 2024-08-01, and Q1 ended before its 6 months. */
  read_topic(&c, TOPIC_ALERTS, alerts);
  assert_int_equal(alerts_restarted, 1);
  assert_int_equal(alerts->n, 2);
  const char *p1_6m = "plan_duration:" LA_A ":C1:CP:P1:6m";
  assert_same_last(alerts, 0, alerts_restarted, alerts_restarted, p1_6m);
  Alert *a = cscflow__v1__alert__unpack(NULL, alerts->m[1].len, alerts->m[1].value);
  assert_non_null(a);
  assert_int_equal(a->status, CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED);
  assert_int_equal(a->date_crossed, 20240601);
  assert_int_equal(a->as_of, 20240615);
  cscflow__v1__alert__free_unpacked(a, NULL);

  rtopic_free(snaps);
  rtopic_free(alerts);
  free(snaps);
  free(alerts);
  population_free(&pop);
  cluster_stop(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_end_to_end),
      cmocka_unit_test(test_dead_letter),
      cmocka_unit_test(test_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
