/*
 * test_offset_gap.c — no event is skipped without a decision (issue 14),
 * through the cscflow binary itself (its path is argv[1]) as an operator
 * runs it, against librdkafka's mock cluster hosted in this process.
 *
 * The mock keeps about 5 MiB a partition: 24 messages of 256 KiB produced
 * to partition 0 of csc.events.v1 move its log start past the few events
 * before them, as retention.ms does on a real broker. Partition 1 keeps
 * every event. Then:
 *
 *   a. the reported fault: a run stores position 5 on partition 0 and
 *      stops; the log start moves past it; a new run does not consume
 *      partition 0 (its stored position stays 5), logs one `offset_gap`
 *      line with the topic, partition, stored position and log start,
 *      counts cscflow_offset_gaps_total 1, answers /readyz 503 naming the
 *      partition and both offsets (and so does `cscflow serve`, a process
 *      of its own reading the state), and still consumes partition 1;
 *   b. a fresh state (nothing stored) on the trimmed partition is a gap:
 *      stored position 0, "stored":false;
 *   c. with cscflow.on_offset_gap=skip, a state at position 5 is consumed
 *      from the log start to the end, logged as `offset_gap_skipped` and
 *      counted (gaps 1, skipped 1), and /readyz turns 200;
 *   d. a state whose stored position equals the log start is no gap: no
 *      line, counter 0, everything consumed, /readyz 200;
 *   e. a gap the check before consuming could not see (its ListOffsets
 *      failed) is found when the fetch is out of range: librdkafka reports
 *      it instead of resetting, and the partition stops as in a.
 *
 * Before the change, librdkafka reset partition 0 to its log start
 * (auto.offset.reset=earliest) with no cscflow line, counter or 503: a
 * and b then fail on the missing line and the consumed partition.
 *
 * Every wait is bounded in count and time; a daemon still running at its
 * bound is killed and the test fails. About 40 s in all (the mock holds a
 * group's first join 3 s).
 */
#include "tests/testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "serve/serve.h"
#include "tests/harness.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

#define OP_TOKEN "gap-operator"
#define JUNK_SIZE (256 * 1024)
#define JUNK_COUNT 24   /* 6 MiB: past the mock's 5 MiB a partition */
#define P0_EVENTS 5     /* valid events on partition 0 before the junk */
#define P1_EVENTS 3     /* on partition 1 at first; 2 more come later */
#define WAIT_BOUND_S 40 /* the longest wait for what a daemon must do */

struct world {
  const char *cscflow; /* the binary under test */
  char dir[256];
  rd_kafka_t *owner; /* a producer that owns the mock cluster */
  rd_kafka_mock_cluster_t *mock;
  char bootstraps[256];
  int64_t lo, hi; /* partition 0's watermarks once trimmed */
  int runs;
};

static struct world *the_world;

/* ---- the mock cluster ---------------------------------------------------------------- */

/* One message to partition of csc.events.v1, keyed by the LA, delivered. */
static void produce(struct world *w, int32_t partition, const void *value, size_t len) {
  assert_int_equal(rd_kafka_producev(w->owner, RD_KAFKA_V_TOPIC(TOPIC_EVENTS),
                                     RD_KAFKA_V_PARTITION(partition),
                                     RD_KAFKA_V_KEY(LA, strlen(LA)),
                                     RD_KAFKA_V_VALUE((void *)value, len),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  /* One message set each: the mock trims whole message sets. */
  assert_int_equal(rd_kafka_flush(w->owner, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* A referral of its own child, event id id. */
static void produce_referral(struct world *w, int32_t partition, const char *id) {
  Cscflow__V1__CaseEvent ev = envelope(id, id, D(2024, 1, 10), D(2024, 1, 10));
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  r.referral_id = (char *)id;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  uint8_t buf[512];
  const size_t n = cscflow__v1__case_event__get_packed_size(&ev);
  assert_true(n <= sizeof buf);
  cscflow__v1__case_event__pack(&ev, buf);
  produce(w, partition, buf, n);
}

static void watermarks(struct world *w, int32_t partition, int64_t *lo, int64_t *hi) {
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__FAIL;
  for (int tries = 0; tries < 10 && e != RD_KAFKA_RESP_ERR_NO_ERROR; tries++)
    e = rd_kafka_query_watermark_offsets(w->owner, TOPIC_EVENTS, partition, lo, hi, 3000);
  assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* Junk (not a CaseEvent: dead-lettered when read) past the mock's 5 MiB. */
static void trim_partition0(struct world *w) {
  char *junk = malloc(JUNK_SIZE);
  assert_non_null(junk);
  memset(junk, 'x', JUNK_SIZE);
  for (int i = 0; i < JUNK_COUNT; i++)
    produce(w, 0, junk, JUNK_SIZE);
  free(junk);
  watermarks(w, 0, &w->lo, &w->hi);
  if (w->lo <= P0_EVENTS)
    fail_msg("the mock kept partition 0 from %lld: not trimmed past the events",
             (long long)w->lo);
}

/* ---- the state, read from outside ------------------------------------------------------- */

/* The stored next position of partition, or -1 (none, or no store yet). */
static int64_t position(const char *state, int32_t partition) {
  struct store *st;
  char err[512];
  int64_t next = -1;
  if (store_open(state, 1, &st, err, sizeof err) != CSC_OK)
    return -1;
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  if (store_get_position(st, txn, TOPIC_EVENTS, partition, &next) != CSC_OK)
    next = -1;
  mdb_txn_abort(txn);
  store_close(st);
  return next;
}

/* A new state whose only content is partition's stored position. */
static void state_at(const char *state, int32_t partition, int64_t next) {
  struct store *st;
  char err[512];
  if (store_open(state, 0, &st, err, sizeof err) != CSC_OK)
    fail_msg("store_open: %s", err);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
  assert_int_equal(store_put_position(st, txn, TOPIC_EVENTS, partition, next), CSC_OK);
  assert_int_equal(mdb_txn_commit(txn), 0);
  store_close(st);
}

/* ---- the daemon ------------------------------------------------------------------------ */

struct daemon {
  pid_t pid;
  char state[400], conf[400], errf[400];
  int port;
};

/* Starts the binary with args, stderr to d->errf, and waits (at most 10 s)
 * for the port of its `serving` line. */
static void spawn(const struct world *w, struct daemon *d, char *const args[]) {
  d->pid = test_spawn(w->cscflow, args, NULL, d->errf);
  d->port = test_wait_serving(d->pid, d->errf, 10);
}

/* `cscflow run` on state with a consumer group of its own (the mock holds a
 * group a while after its member leaves), serving on a free port. */
static void daemon_start(struct world *w, struct daemon *d, const char *state, const char *tag,
                         const char *extra) {
  char hex[2 * TOKEN_HASH_SIZE + 1], text[2048];
  api_token_hash_hex(OP_TOKEN, hex);
  snprintf(d->state, sizeof d->state, "%s", state);
  snprintf(d->conf, sizeof d->conf, "%s/%s.conf", w->dir, tag);
  snprintf(d->errf, sizeof d->errf, "%s/%s.err", w->dir, tag);
  snprintf(text, sizeof text,
           "bootstrap.servers=%s\n"
           "cscflow.state.dir=%s\n"
           "cscflow.clock=replay\n"
           "cscflow.api.port=0\n"
           "cscflow.api.operator_token=%s\n"
           "consumer.group.id=gap-%d-%d-%s\n"
           "consumer.fetch.wait.max.ms=10\n"
           "producer.linger.ms=5\n%s",
           w->bootstraps, state, hex, (int)getpid(), ++w->runs, tag, extra);
  test_write_text(d->conf, text);
  char *args[] = {"cscflow", "run", "--config", d->conf, NULL};
  spawn(w, d, args);
}

/* `cscflow serve` as a process of its own, reading state read-only. */
static void serve_process_start(struct world *w, struct daemon *d, const char *state,
                                const char *tag) {
  snprintf(d->state, sizeof d->state, "%s", state);
  snprintf(d->errf, sizeof d->errf, "%s/%s.err", w->dir, tag);
  char *args[] = {"cscflow", "serve", "--state", d->state, "--port", "0", NULL};
  spawn(w, d, args);
}

/* SIGTERM; it must exit 0 within 15 s. */
static void daemon_stop(struct daemon *d) {
  assert_int_equal(kill(d->pid, SIGTERM), 0);
  const int status = test_wait_pid(d->pid, 15, NULL);
  if (status < 0)
    fail_msg("cscflow run did not stop within 15 s");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char *log = test_slurp_text(d->errf);
    fail_msg("cscflow run exited with status %d: %s", status, log);
  }
}

static char body[1 << 16];

static int http_get(const struct daemon *d, const char *path, int auth) {
  return test_http_get(d->port, path, auth ? "Bearer " OP_TOKEN : NULL, body, sizeof body);
}

/* The value of the unlabelled sample name in the last /metrics body. */
static double sample(const char *name) {
  const size_t n = strlen(name);
  for (const char *p = body; (p = strstr(p, name)) != NULL; p += n)
    if ((p == body || p[-1] == '\n') && p[n] == ' ')
      return strtod(p + n + 1, NULL);
  fail_msg("no sample %s in:\n%s", name, body);
  return 0;
}

static void expect_metrics(const struct daemon *d, double gaps, double skipped, double stopped) {
  assert_int_equal(http_get(d, "/metrics", 1), 200);
  if (sample("cscflow_offset_gaps_total") != gaps ||
      sample("cscflow_offset_gaps_skipped_total") != skipped ||
      sample("cscflow_partitions_stopped") != stopped)
    fail_msg("expected gaps %g, skipped %g, stopped %g in:\n%s", gaps, skipped, stopped, body);
}

/* Waits (bounded) until the daemon's log holds needle and the stored
 * positions of partitions 0 and 1 are p0 and p1 (-1: none); the log. */
static char *wait_for(const struct daemon *d, const char *needle, int64_t p0, int64_t p1) {
  const double t0 = test_now_s();
  for (int i = 0; i < 100000 && test_now_s() - t0 < WAIT_BOUND_S; i++) {
    char *log = test_slurp_text(d->errf);
    if ((needle == NULL || strstr(log, needle) != NULL) && position(d->state, 0) == p0 &&
        position(d->state, 1) == p1)
      return log;
    int status;
    if (waitpid(d->pid, &status, WNOHANG) == d->pid)
      fail_msg("cscflow run exited early (status %d): %s", status, log);
    free(log);
    test_sleep_ms(50);
  }
  char *log = test_slurp_text(d->errf);
  kill(d->pid, SIGKILL);
  waitpid(d->pid, NULL, 0);
  fail_msg("within %d s: wanted %s, partition 0 at %lld (want %lld), 1 at %lld (want %lld); "
           "log:\n%s",
           WAIT_BOUND_S, needle ? needle : "-", (long long)position(d->state, 0), (long long)p0,
           (long long)position(d->state, 1), (long long)p1, log);
  return NULL;
}

/* Polls /readyz (bounded) until its status is want and its body holds
 * needle (NULL: anything). */
static void wait_ready(const struct daemon *d, int want, const char *needle) {
  const double t0 = test_now_s();
  int status = 0;
  for (int i = 0; i < 1000 && test_now_s() - t0 < WAIT_BOUND_S; i++) {
    status = http_get(d, "/readyz", 0);
    if (status == want && (needle == NULL || strstr(body, needle) != NULL))
      return;
    test_sleep_ms(100);
  }
  fail_msg("/readyz: %d %s (wanted %d with \"%s\")", status, body, want, needle ? needle : "");
}

/* The one line of event in log, which must hold each of the members. */
static void expect_line(const char *log, const char *event, const char *const *members) {
  char tag[128];
  snprintf(tag, sizeof tag, "\"event\":\"%s\"", event);
  if (test_count(log, tag) != 1)
    fail_msg("%zu %s lines, expected 1:\n%s", test_count(log, tag), event, log);
  const char *start = strstr(log, tag);
  const char *end = strchr(start, '\n');
  for (size_t i = 0; members[i] != NULL; i++) {
    const char *m = strstr(start, members[i]);
    if (m == NULL || (end != NULL && m > end))
      fail_msg("%s line without %s: %.*s", event, members[i], (int)(end ? end - start : 200),
               start);
  }
}

/* ---- the cases -------------------------------------------------------------------------- */

/* The members every gap line holds: the topic, partition 0, the stored
 * position and the log start. */
#define GAP_MEMBERS(stored_member, log_start_member)                                             \
  {"\"topic\":\"" TOPIC_EVENTS "\"", "\"partition\":0,", stored_member, log_start_member, NULL}

/* a. The reported fault. Runs first: it makes the trim the others meet. */
static void gap_stops_partition(void **state) {
  struct world *w = *state;
  char st[300], log_start[64], why[256];
  snprintf(st, sizeof st, "%s/state-a", w->dir);

  /* A run stores position 5 on partition 0 and 3 on 1, and stops ... */
  char id[16];
  for (int i = 1; i <= P0_EVENTS; i++)
    produce_referral(w, 0, (snprintf(id, sizeof id, "p0-%d", i), id));
  for (int i = 1; i <= P1_EVENTS; i++)
    produce_referral(w, 1, (snprintf(id, sizeof id, "p1-%d", i), id));
  struct daemon d;
  daemon_start(w, &d, st, "a-before", "");
  free(wait_for(&d, NULL, P0_EVENTS, P1_EVENTS));
  daemon_stop(&d);

  /* ... the log start of partition 0 moves past 5, partition 1 grows ... */
  trim_partition0(w);
  produce_referral(w, 1, "p1-4");
  produce_referral(w, 1, "p1-5");
  snprintf(log_start, sizeof log_start, "\"log_start\":%lld", (long long)w->lo);

  /* ... and the next run stops partition 0 and consumes partition 1. */
  daemon_start(w, &d, st, "a-after", "");
  char *log = wait_for(&d, "\"event\":\"offset_gap\"", P0_EVENTS, P1_EVENTS + 2);
  const char *const members[] = GAP_MEMBERS("\"stored_position\":5,", log_start);
  expect_line(log, "offset_gap", members);
  assert_int_equal(test_count(log, "offset_gap_skipped"), 0);
  snprintf(why, sizeof why,
           "offset gap: partition 0 of " TOPIC_EVENTS " stopped: stored position 5, log start "
           "%lld: events 5 to %lld are gone",
           (long long)w->lo, (long long)w->lo - 1);
  wait_ready(&d, 503, why);
  expect_metrics(&d, 1, 0, 1);
  /* The lag is that of the partitions consumed: partition 1's, none. */
  const double t0 = test_now_s();
  while (sample("cscflow_consumer_lag") != 0 && test_now_s() - t0 < 10) {
    test_sleep_ms(200);
    expect_metrics(&d, 1, 0, 1);
  }
  assert_true(sample("cscflow_consumer_lag") == 0);
  /* `cscflow serve`, reading the state beside the writer, says the same. */
  struct daemon reader;
  serve_process_start(w, &reader, st, "a-serve");
  wait_ready(&reader, 503, why);
  daemon_stop(&reader);
  /* Still stopped a while later: nothing of partition 0 was applied. */
  test_sleep_ms(1500);
  assert_int_equal(position(st, 0), P0_EVENTS);
  assert_int_equal(http_get(&d, "/readyz", 0), 503);
  daemon_stop(&d);
  free(log);
  printf("a: log start %lld, high watermark %lld: partition 0 stopped at 5, partition 1 "
         "consumed; /readyz: %s",
         (long long)w->lo, (long long)w->hi, body);
}

/* b. A fresh state on the trimmed partition: events 0 to lo - 1 are gone. */
static void fresh_state_is_gap(void **state) {
  struct world *w = *state;
  char st[300], log_start[64], why[256];
  snprintf(st, sizeof st, "%s/state-b", w->dir);
  snprintf(log_start, sizeof log_start, "\"log_start\":%lld", (long long)w->lo);
  struct daemon d;
  daemon_start(w, &d, st, "b", "");
  char *log = wait_for(&d, "\"event\":\"offset_gap\"", -1, P1_EVENTS + 2);
  const char *const members[] = GAP_MEMBERS("\"stored_position\":0,\"stored\":false", log_start);
  expect_line(log, "offset_gap", members);
  snprintf(why, sizeof why, "stored position 0, log start %lld: events 0 to %lld are gone",
           (long long)w->lo, (long long)w->lo - 1);
  wait_ready(&d, 503, why);
  expect_metrics(&d, 1, 0, 1);
  assert_int_equal(position(st, 0), -1);
  daemon_stop(&d);
  free(log);
}

/* c. cscflow.on_offset_gap=skip: the decision to go on, logged and counted. */
static void skip_goes_on(void **state) {
  struct world *w = *state;
  char st[300], log_start[64];
  snprintf(st, sizeof st, "%s/state-c", w->dir);
  snprintf(log_start, sizeof log_start, "\"log_start\":%lld", (long long)w->lo);
  state_at(st, 0, P0_EVENTS);
  struct daemon d;
  daemon_start(w, &d, st, "c", "cscflow.on_offset_gap=skip\n");
  /* Every message from the log start on is read (the junk dead-lettered). */
  char *log = wait_for(&d, "\"event\":\"offset_gap_skipped\"", w->hi, P1_EVENTS + 2);
  const char *const members[] = GAP_MEMBERS("\"stored_position\":5,\"stored\":true", log_start);
  expect_line(log, "offset_gap_skipped", members);
  assert_null(strstr(log, "\"event\":\"offset_gap\""));
  expect_metrics(&d, 1, 1, 0);
  wait_ready(&d, 200, NULL);
  daemon_stop(&d);
  free(log);
  log = test_slurp_text(d.errf);
  /* From the log start, not from the end: each message read once. */
  char consumed[64];
  snprintf(consumed, sizeof consumed, "\"consumed\":%lld,",
           (long long)(w->hi - w->lo + P1_EVENTS + 2));
  if (strstr(log, consumed) == NULL)
    fail_msg("run_stopping without %s:\n%s", consumed, log);
  free(log);
}

/* d. A stored position equal to the log start: nothing is missing. */
static void no_false_alarm(void **state) {
  struct world *w = *state;
  char st[300];
  snprintf(st, sizeof st, "%s/state-d", w->dir);
  state_at(st, 0, w->lo);
  struct daemon d;
  daemon_start(w, &d, st, "d", "");
  char *log = wait_for(&d, NULL, w->hi, P1_EVENTS + 2);
  wait_ready(&d, 200, NULL);
  expect_metrics(&d, 0, 0, 0);
  daemon_stop(&d);
  free(log);
  log = test_slurp_text(d.errf);
  assert_null(strstr(log, "offset_gap"));
  assert_null(strstr(log, "offset_out_of_range"));
  free(log);
}

/* e. The check on assignment fails (ListOffsets errors), so the partition
 * is assigned at 5; the broker answers its fetch OFFSET_OUT_OF_RANGE, and
 * the error, not a reset, leads to the same decision. */
static void gap_found_by_fetch(void **state) {
  struct world *w = *state;
  char st[300], log_start[64];
  snprintf(st, sizeof st, "%s/state-e", w->dir);
  snprintf(log_start, sizeof log_start, "\"log_start\":%lld", (long long)w->lo);
  state_at(st, 0, P0_EVENTS);
  /* ListOffsets (API key 2): the first four answers fail for good. */
  rd_kafka_mock_push_request_errors(w->mock, 2, 4, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                                    RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  struct daemon d;
  daemon_start(w, &d, st, "e", "");
  char *log = wait_for(&d, "\"event\":\"offset_gap\"", P0_EVENTS, P1_EVENTS + 2);
  assert_non_null(strstr(log, "\"event\":\"offset_check_failed\""));
  assert_non_null(strstr(log, "\"event\":\"offset_reset_refused\""));
  const char *const members[] = GAP_MEMBERS("\"stored_position\":5,", log_start);
  expect_line(log, "offset_gap", members);
  wait_ready(&d, 503, "offset gap: partition 0 of " TOPIC_EVENTS " stopped: stored position 5");
  expect_metrics(&d, 1, 0, 1);
  test_sleep_ms(1500);
  assert_int_equal(position(st, 0), P0_EVENTS);
  daemon_stop(&d);
  free(log);
}

static int setup(void **state) {
  struct world *w = the_world;
  test_tmpdir(w->dir, sizeof w->dir, "offset_gap");
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err), RD_KAFKA_CONF_OK);
  w->owner = test_mock_owner(conf, &w->mock);
  snprintf(w->bootstraps, sizeof w->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(w->mock));
  test_mock_topics(w->mock, 2);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  struct world *w = *state;
  rd_kafka_destroy(w->owner);
  return 0;
}

int main(int argc, char **argv) {
  static struct world w;
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH_TO_CSCFLOW\n", argv[0]);
    return 2;
  }
  w.cscflow = argv[1];
  the_world = &w;
  const struct CMUnitTest tests[] = {
      /* In this order: a makes the trim the others meet. */
      cmocka_unit_test(gap_stops_partition),
      cmocka_unit_test(fresh_state_is_gap),
      cmocka_unit_test(skip_goes_on),
      cmocka_unit_test(no_false_alarm),
      cmocka_unit_test(gap_found_by_fetch),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
