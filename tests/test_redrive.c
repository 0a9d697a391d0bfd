/*
 * test_redrive.c — `cscflow redrive` (its path is argv[1]) against
 * librdkafka's mock cluster, hosted in this process:
 *
 *   1. selection and bytes: ten dead letters with two reasons (and two
 *      that share a prefix with one) and known timestamps on two partitions
 *      of csc.events.dlq.v1 (one with no key, values with NUL and high
 *      bytes); a run with --reason (a prefix) and a time window [from,
 *      until) sends exactly the five that match to the input topic, with
 *      identical key and value bytes, the redriven.from and redrive.*
 *      headers, on the partition murmur2 gives their key; its summary line
 *      counts read 10, redriven 5, left 5, failed 0, and per reason;
 *   2. memory: a second run with the same filter reads and sends nothing;
 *      two new dead letters (one matching) make a third run read 2 and send
 *      1; a run with another filter has a group of its own and sees all;
 *   3. failed delivery: with every Produce refused by the broker the run
 *      exits 1, counts the failures and commits nothing, and the next run,
 *      with the broker healthy again, sends them;
 *   4. the cycle with the engine: `cscflow run` dead-letters again what
 *      redrive sent and is still bad, with the same bytes; the DLQ does not
 *      grow without a run; a redrive selects those new dead letters once;
 *   5. bad arguments: a time without a zone and a window that ends before
 *      it starts exit 64, an unknown cscflow key 78, before any Kafka work;
 *   6. times and group names: each accepted form of --from/--until, and the
 *      refused ones (no zone, another zone, a bad date or hour);
 *   7. --rekey: after a mapping, an event keyed by its old code goes back
 *      keyed by the canonical one, on that key's partition, bytes unchanged;
 *   8. forty reasons: at most 32 named in the summary, the rest "other".
 *
 * Every wait is bounded in count and time; a child still running at its
 * bound is killed and the test fails.
 */
#include "tests/testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "ingest/redrive.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

#define RUN_BOUND_S 90.0 /* one redrive run must be over within this */
#define INPUT_PARTITIONS 4
#define PROBE_TOPIC "test.redrive.probe"
#define MAX_MSGS 64
#define API_PRODUCE 0 /* Kafka's ApiKey of Produce (not in the public headers) */

static const char *cscflow_bin;

#define REASON_X "la_code not in cscflow.las"
#define REASON_Y "identifier too long"

/* ---- small utilities ------------------------------------------------------------------ */

/* The whole file, which must exist; the caller frees it. */
static char *slurp(const char *path) {
  char *text = test_slurp(path, NULL);
  assert_non_null(text);
  return text;
}

/* Starts the binary with args (NULL-terminated, args[0] its name), stdout
 * to /dev/null and stderr to errf. */
static pid_t spawn(char *const args[], const char *errf) {
  return test_spawn(cscflow_bin, args, NULL, errf);
}

/* Its exit status once it exits within bound_s; else it is killed and the
 * test fails. */
static int wait_exit(pid_t pid, double bound_s) {
  const int status = test_wait_pid(pid, bound_s, NULL);
  if (status < 0)
    fail_msg("cscflow still running after %.0f s", bound_s);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run_cscflow(char *const args[], const char *errf) {
  return wait_exit(spawn(args, errf), RUN_BOUND_S);
}

/* The number after "\"name\":" in the summary line of text, or -1. */
static long json_number(const char *text, const char *name) {
  char needle[96];
  snprintf(needle, sizeof needle, "\"%s\":", name);
  const char *line = strstr(text, "\"event\":\"redrive_summary\"");
  const char *p = line ? strstr(line, needle) : NULL;
  return p ? strtol(p + strlen(needle), NULL, 10) : -1;
}

/* ---- the cluster ------------------------------------------------------------------------ */

struct cluster {
  rd_kafka_t *producer; /* owns the mock cluster; partitioner murmur2_random */
  rd_kafka_mock_cluster_t *mock;
  char bootstraps[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  struct {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
  } *d = m->_private;
  d->done = 1;
  d->err = m->err;
  d->partition = m->partition;
  d->offset = m->offset;
}

static void cluster_start(struct cluster *c) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err), RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  c->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(c->producer);
  c->mock = rd_kafka_handle_mock_cluster(c->producer);
  assert_non_null(c->mock);
  snprintf(c->bootstraps, sizeof c->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(c->mock));
  assert_int_equal(rd_kafka_mock_topic_create(c->mock, TOPIC_EVENTS, INPUT_PARTITIONS, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(c->mock, PROBE_TOPIC, INPUT_PARTITIONS, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(c->mock, TOPIC_DLQ, 2, 1), 0);
}

static void cluster_stop(struct cluster *c) {
  rd_kafka_flush(c->producer, 5000);
  rd_kafka_destroy(c->producer);
}

/* ---- dead letters -------------------------------------------------------------------------- */

struct dead {
  const char *key; /* NULL: no key */
  uint8_t value[48];
  size_t value_len;
  const char *reason;
  const char *at; /* message timestamp, ISO UTC */
  int32_t partition;
  int selected; /* by --reason REASON_X --from 2026-01-10 --until 2026-01-12T00:00:00Z */
  int64_t offset; /* where it landed on the DLQ */
};

static int64_t iso_ms(const char *s) {
  int y, mo, d, h, mi, sec, ms;
  assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &sec, &ms), 7);
  return (((int64_t)date_from_ymd(y, mo, d) * 24 + h) * 60 + mi) * 60000 + sec * 1000 + ms;
}

/* Produces one message and waits for its delivery; returns its partition
 * and offset. */
static void produce(struct cluster *c, const char *topic, int32_t partition, const char *key,
                    const void *value, size_t len, int64_t ts, rd_kafka_headers_t *h,
                    int32_t *out_partition, int64_t *out_offset) {
  struct {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
  } d = {0, 0, -1, -1};
  rd_kafka_resp_err_t err =
      h ? rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_TIMESTAMP(ts),
                            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE(&d), RD_KAFKA_V_END)
        : rd_kafka_producev(c->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_TIMESTAMP(ts),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&d),
                            RD_KAFKA_V_END);
  assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
  const double deadline = test_now_s() + 10.0;
  for (int i = 0; i < 1000 && !d.done && test_now_s() < deadline; i++)
    rd_kafka_poll(c->producer, 20);
  assert_true(d.done);
  assert_int_equal(d.err, RD_KAFKA_RESP_ERR_NO_ERROR);
  if (out_partition)
    *out_partition = d.partition;
  if (out_offset)
    *out_offset = d.offset;
}

/* A dead letter as engine.c's dead_letter() writes it. */
static void produce_dead(struct cluster *c, struct dead *x, int64_t source_offset) {
  rd_kafka_headers_t *h = rd_kafka_headers_new(4);
  char off[24];
  snprintf(off, sizeof off, "%lld", (long long)source_offset);
  rd_kafka_header_add(h, "reason", -1, x->reason, -1);
  rd_kafka_header_add(h, "source.topic", -1, TOPIC_EVENTS, -1);
  rd_kafka_header_add(h, "source.partition", -1, "3", -1);
  rd_kafka_header_add(h, "source.offset", -1, off, -1);
  produce(c, TOPIC_DLQ, x->partition, x->key, x->value, x->value_len, iso_ms(x->at), h, NULL,
          &x->offset);
}

/* The partition a murmur2_random producer picks for key on a topic of
 * INPUT_PARTITIONS partitions (-1 for no key: any). */
static int32_t murmur2_partition(struct cluster *c, const char *key) {
  if (key == NULL)
    return -1;
  int32_t p = -1;
  produce(c, PROBE_TOPIC, RD_KAFKA_PARTITION_UA, key, "probe", 5, 0, NULL, &p, NULL);
  return p;
}

/* ---- what arrived on the input topic -------------------------------------------------------- */

struct got {
  int32_t partition;
  int has_key;
  char key[64];
  uint8_t value[64];
  size_t value_len;
  char from[48], reason[64], src_topic[64], src_offset[24];
};

static void header_copy(rd_kafka_headers_t *h, const char *name, char *buf, size_t len) {
  const void *v;
  size_t n;
  buf[0] = '\0';
  if (h && rd_kafka_header_get_last(h, name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR && n < len) {
    memcpy(buf, v, n);
    buf[n] = '\0';
  }
}

/* Every message on the input topic, read from the start to the high
 * watermarks. Returns how many. */
static size_t read_input(struct cluster *c, struct got *out, size_t cap) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstraps, err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "group.id", "test-redrive-reader", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  assert_non_null(rk);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(INPUT_PARTITIONS);
  size_t total = 0;
  for (int32_t p = 0; p < INPUT_PARTITIONS; p++) {
    int64_t lo, hi;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, TOPIC_EVENTS, p, &lo, &hi, 10000), 0);
    total += (size_t)(hi - lo);
    rd_kafka_topic_partition_list_add(l, TOPIC_EVENTS, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  assert_true(total <= cap);
  assert_int_equal(rd_kafka_assign(rk, l), 0);
  rd_kafka_topic_partition_list_destroy(l);
  size_t n = 0;
  const double deadline = test_now_s() + 20.0;
  for (int i = 0; i < 2000 && n < total && test_now_s() < deadline; i++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
    if (m == NULL)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      struct got *g = &out[n++];
      memset(g, 0, sizeof *g);
      g->partition = m->partition;
      g->has_key = m->key != NULL;
      assert_true(m->key_len < sizeof g->key && m->len <= sizeof g->value);
      if (m->key)
        memcpy(g->key, m->key, m->key_len);
      memcpy(g->value, m->payload, m->len);
      g->value_len = m->len;
      rd_kafka_headers_t *h = NULL;
      rd_kafka_message_headers(m, &h);
      header_copy(h, "redriven.from", g->from, sizeof g->from);
      header_copy(h, "redrive.reason", g->reason, sizeof g->reason);
      header_copy(h, "redrive.source.topic", g->src_topic, sizeof g->src_topic);
      header_copy(h, "redrive.source.offset", g->src_offset, sizeof g->src_offset);
    }
    rd_kafka_message_destroy(m);
  }
  assert_int_equal(n, total);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return n;
}

/* ---- the program ------------------------------------------------------------------------------ */

struct world {
  struct cluster c;
  char dir[256], conf[320], errf[320];
};

static void write_conf(struct world *w, const char *extra) {
  FILE *f = fopen(w->conf, "w");
  assert_non_null(f);
  fprintf(f,
          "bootstrap.servers=%s\ncscflow.redrive.group=test-redrive-%d\n"
          "consumer.fetch.wait.max.ms=10\nproducer.linger.ms=1\n"
          "producer.message.timeout.ms=5000\n%s",
          w->c.bootstraps, (int)getpid(), extra ? extra : "");
  assert_int_equal(fclose(f), 0);
}

/* One run with the filter of args (NULL-terminated); returns the exit
 * status and leaves its summary line in *summary (malloc'd). */
static int redrive(struct world *w, const char *const *filter, char **summary) {
  char *args[16] = {"cscflow", "redrive", "--config", w->conf};
  size_t n = 4;
  for (size_t i = 0; filter[i] != NULL && n < 15; i++)
    args[n++] = (char *)filter[i];
  args[n] = NULL;
  const int status = run_cscflow(args, w->errf);
  char *log = slurp(w->errf);
  /* The reason lines come before the summary: keep them all. */
  char *line = strstr(log, "\"event\":\"redrive_");
  *summary = strdup(line ? line : "");
  if (line == NULL)
    print_message("stderr of cscflow redrive:\n%s\n", log);
  else
    print_message("%s", line); /* the summary, for a failing assertion's reader */
  free(log);
  return status;
}

static const char *const FILTER_X[] = {"--reason", REASON_X, "--from", "2026-01-10",
                                       "--until", "2026-01-12T00:00:00Z", NULL};

/* 0..5 on partition 0, 6..9 on partition 1; the window is [10 Jan, 12 Jan). */
static struct dead DEAD[] = {
    {"E99000001", {0x0a, 0x01, 0x00, 0xff}, 4, REASON_X, "2026-01-09T23:59:59.999Z", 0, 0, -1},
    {"E99000001", {0x0a, 0x02, 0x00, 0xfe, 0x80}, 5, REASON_X, "2026-01-10T00:00:00.000Z", 0, 1, -1},
    {"E99000002", {0x0a, 0x03}, 2, REASON_Y, "2026-01-10T12:00:00.000Z", 0, 0, -1},
    {"E99000003", {0x00, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x0a}, 7, REASON_X,
     "2026-01-11T08:30:00.000Z", 0, 1, -1},
    {"E99000002", {0x0a, 0x05}, 2, REASON_X, "2026-01-12T00:00:00.000Z", 0, 0, -1},
    {"E99000004", {0x0a, 0x06}, 2, REASON_X " (and more)", "2026-01-11T00:00:00.000Z", 0, 1, -1},
    {NULL, {0x0a, 0x07, 0x00}, 3, REASON_X, "2026-01-10T06:00:00.000Z", 1, 1, -1},
    {"E99000005", {0x0a, 0x08}, 2, REASON_Y, "2026-01-11T00:00:00.000Z", 1, 0, -1},
    {"E99000006", {0x0a, 0x09}, 2, REASON_X, "2026-01-11T23:59:59.999Z", 1, 1, -1},
    {"E99000006", {0x0a, 0x0a}, 2, "la_code", "2026-01-11T00:00:00.000Z", 1, 0, -1},
};
#define N_DEAD (sizeof DEAD / sizeof DEAD[0])

static int setup(void **state) {
  struct world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  test_tmpdir(w->dir, sizeof w->dir, "redrive");
  snprintf(w->conf, sizeof w->conf, "%s/redrive.conf", w->dir);
  snprintf(w->errf, sizeof w->errf, "%s/stderr.log", w->dir);
  cluster_start(&w->c);
  write_conf(w, NULL);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  struct world *w = *state;
  cluster_stop(&w->c);
  free(w);
  return 0;
}

/* The sent message that came from DLQ partition p, offset o, or NULL. */
static const struct got *find_from(const struct got *g, size_t n, int32_t p, int64_t o) {
  char from[48];
  snprintf(from, sizeof from, "%d:%lld", (int)p, (long long)o);
  for (size_t i = 0; i < n; i++)
    if (strcmp(g[i].from, from) == 0)
      return &g[i];
  return NULL;
}

static void check_sent(struct world *w, const struct got *got, size_t n) {
  size_t expected = 0;
  for (size_t i = 0; i < N_DEAD; i++) {
    const struct dead *x = &DEAD[i];
    const struct got *g = find_from(got, n, x->partition, x->offset);
    if (!x->selected) {
      assert_null(g);
      continue;
    }
    expected++;
    assert_non_null(g);
    assert_int_equal(g->has_key, x->key != NULL);
    if (x->key != NULL) {
      assert_string_equal(g->key, x->key);
      assert_int_equal(g->partition, murmur2_partition(&w->c, x->key));
    }
    assert_int_equal(g->value_len, x->value_len);
    assert_memory_equal(g->value, x->value, x->value_len);
    assert_string_equal(g->reason, x->reason);
    assert_string_equal(g->src_topic, TOPIC_EVENTS);
    char off[24];
    snprintf(off, sizeof off, "%d", (int)(100 + i));
    assert_string_equal(g->src_offset, off);
  }
  assert_int_equal(n, expected);
}

static void test_redrive(void **state) {
  struct world *w = *state;
  for (size_t i = 0; i < N_DEAD; i++)
    produce_dead(&w->c, &DEAD[i], (int64_t)(100 + i));

  /* 1. the selected four, byte for byte. */
  char *s;
  assert_int_equal(redrive(w, FILTER_X, &s), 0);
  assert_int_equal(json_number(s, "partitions"), 2);
  assert_int_equal(json_number(s, "read"), 10);
  assert_int_equal(json_number(s, "redriven"), 5);
  assert_int_equal(json_number(s, "left"), 5);
  assert_int_equal(json_number(s, "failed"), 0);
  assert_non_null(strstr(s, "\"committed\":true"));
  assert_non_null(strstr(s, "\"reason\":\"" REASON_X "\",\"sent\":4,\"left\":2}"));
  assert_non_null(strstr(s, "\"reason\":\"" REASON_Y "\",\"sent\":0,\"left\":2}"));
  assert_non_null(strstr(s, "\"reason\":\"" REASON_X " (and more)\",\"sent\":1,\"left\":0}"));
  free(s);
  struct got got[MAX_MSGS];
  size_t n = read_input(&w->c, got, MAX_MSGS);
  check_sent(w, got, n);

  /* 2. the same filter again: nothing read, nothing sent. */
  assert_int_equal(redrive(w, FILTER_X, &s), 0);
  assert_int_equal(json_number(s, "read"), 0);
  assert_int_equal(json_number(s, "redriven"), 0);
  free(s);
  assert_int_equal(read_input(&w->c, got, MAX_MSGS), n);

  /* Two new dead letters: only they are read, the matching one sent. */
  struct dead more[] = {
      {"E99000007", {0x0a, 0x0b}, 2, REASON_X, "2026-01-11T10:00:00.000Z", 0, 1, -1},
      {"E99000007", {0x0a, 0x0c}, 2, REASON_X, "2026-01-13T10:00:00.000Z", 1, 0, -1},
  };
  produce_dead(&w->c, &more[0], 200);
  produce_dead(&w->c, &more[1], 201);
  assert_int_equal(redrive(w, FILTER_X, &s), 0);
  assert_int_equal(json_number(s, "read"), 2);
  assert_int_equal(json_number(s, "redriven"), 1);
  assert_int_equal(json_number(s, "left"), 1);
  free(s);
  assert_int_equal(read_input(&w->c, got, MAX_MSGS), n + 1);
  const struct got *g = find_from(got, n + 1, 0, more[0].offset);
  assert_non_null(g);
  assert_memory_equal(g->value, more[0].value, 2);

  /* Another filter has a group of its own: it reads all twelve. */
  const char *const filter_y[] = {"--reason", REASON_Y, NULL};
  assert_int_equal(redrive(w, filter_y, &s), 0);
  assert_int_equal(json_number(s, "read"), 12);
  assert_int_equal(json_number(s, "redriven"), 2);
  free(s);
  assert_int_equal(read_input(&w->c, got, MAX_MSGS), n + 3);
}

/* 3. The broker refuses every Produce: exit 1, nothing committed; then a
 * healthy run sends them. */
static void test_failed_delivery(void **state) {
  struct world *w = *state;
  struct dead x = {"E99000008", {0x0a, 0x0d}, 2, "failing reason", "2026-02-01T00:00:00.000Z",
                   0, 1, -1};
  produce_dead(&w->c, &x, 300);
  struct got got[MAX_MSGS];
  const size_t before = read_input(&w->c, got, MAX_MSGS);
  rd_kafka_resp_err_t errs[64];
  for (size_t i = 0; i < 64; i++)
    errs[i] = RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
  rd_kafka_mock_push_request_errors_array(w->c.mock, API_PRODUCE, 64, errs);
  const char *const filter[] = {"--reason", "failing", NULL};
  char *s;
  assert_int_equal(redrive(w, filter, &s), 1);
  assert_int_equal(json_number(s, "read"), 13); /* a new filter: a new group */
  assert_int_equal(json_number(s, "redriven"), 0);
  assert_int_equal(json_number(s, "failed"), 1);
  assert_non_null(strstr(s, "\"committed\":false"));
  free(s);
  assert_int_equal(read_input(&w->c, got, MAX_MSGS), before);

  /* The refusals this run did not use up must not reach the next one. */
  rd_kafka_mock_clear_request_errors(w->c.mock, API_PRODUCE);
  assert_int_equal(redrive(w, filter, &s), 0);
  assert_int_equal(json_number(s, "read"), 13); /* nothing was committed */
  assert_int_equal(json_number(s, "redriven"), 1);
  free(s);
  assert_int_equal(read_input(&w->c, got, MAX_MSGS), before + 1);
}

/* Dead letters on the DLQ, all partitions. */
static int64_t dlq_total(struct cluster *c) {
  int64_t total = 0;
  for (int32_t p = 0; p < 2; p++) {
    int64_t lo, hi;
    assert_int_equal(rd_kafka_query_watermark_offsets(c->producer, TOPIC_DLQ, p, &lo, &hi, 10000),
                     0);
    total += hi;
  }
  return total;
}

/* 4. The cycle with the real engine: `cscflow run` reads what redrive sent,
 * and the ones still bad (all of them: none decodes) come back to the DLQ
 * as new dead letters with the same bytes. Nothing more happens until an
 * explicit run: the DLQ stays as it is, a run with a new filter selects the
 * new dead letters once, and the same run again sends nothing. */
static void test_engine_cycle(void **state) {
  struct world *w = *state;
  struct got got[MAX_MSGS];
  const size_t sent = read_input(&w->c, got, MAX_MSGS);
  assert_true(sent > 0);
  const int64_t dlq_before = dlq_total(&w->c);
  char conf[320], state_dir[320], errf[320], text[1024], since[32];
  snprintf(conf, sizeof conf, "%s/run.conf", w->dir);
  snprintf(state_dir, sizeof state_dir, "%s/state", w->dir);
  snprintf(errf, sizeof errf, "%s/run.log", w->dir);
  snprintf(text, sizeof text,
           "bootstrap.servers=%s\ncscflow.state.dir=%s\nconsumer.group.id=test-redrive-run-%d\n"
           "consumer.fetch.wait.max.ms=10\nproducer.linger.ms=1\n",
           w->c.bootstraps, state_dir, (int)getpid());
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
  /* The engine's dead letters are stamped now; the earlier ones in 2026's
   * first weeks. One second back covers the clock's rounding. */
  const time_t t0 = time(NULL) - 1;
  struct tm tm;
  gmtime_r(&t0, &tm);
  strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);

  char *run_args[] = {"cscflow", "run", "--config", conf, NULL};
  const pid_t pid = spawn(run_args, errf);
  const double deadline = test_now_s() + 60.0;
  int64_t dlq = dlq_before;
  for (int i = 0; i < 1000 && dlq < dlq_before + (int64_t)sent && test_now_s() < deadline; i++) {
    test_sleep_ms(100);
    dlq = dlq_total(&w->c);
  }
  kill(pid, SIGTERM);
  assert_int_equal(wait_exit(pid, 20.0), 0);
  assert_int_equal(dlq, dlq_before + (int64_t)sent);

  /* No run, no change: nothing redrives by itself. */
  test_sleep_ms(500);
  assert_int_equal(dlq_total(&w->c), dlq);

  const char *const filter[] = {"--from", since, NULL};
  char *s;
  assert_int_equal(redrive(w, filter, &s), 0);
  assert_int_equal(json_number(s, "read"), dlq);
  assert_int_equal(json_number(s, "redriven"), (long)sent);
  assert_int_equal(json_number(s, "left"), dlq_before);
  free(s);
  /* The new copies carry the bytes and keys of the first ones. */
  assert_int_equal(read_input(&w->c, got, MAX_MSGS), 2 * sent);
  size_t copies = 0;
  for (size_t i = 0; i < 2 * sent; i++) {
    assert_true(got[i].from[0] != '\0');
    for (size_t j = 0; j < 2 * sent; j++)
      /* Key bytes only: the engine dead-letters a message without a key
       * with an empty one (engine.c), so the copy of a keyless dead letter
       * has an empty key. */
      if (j != i && strcmp(got[j].key, got[i].key) == 0 && got[j].value_len == got[i].value_len &&
          memcmp(got[j].value, got[i].value, got[i].value_len) == 0) {
        copies++;
        break;
      }
  }
  assert_int_equal(copies, 2 * sent);
  assert_int_equal(redrive(w, filter, &s), 0);
  assert_int_equal(json_number(s, "read"), 0);
  assert_int_equal(json_number(s, "redriven"), 0);
  free(s);
  assert_int_equal(dlq_total(&w->c), dlq);
}

/* 7. --rekey (in this process, through redrive_run: the CLI's config check
 * knows cscflow.la.alias.* once the engine does): after a mapping
 * 201 -> E09000001, an event of LA 201 keyed "201" goes back keyed by the
 * canonical code, on its partition, its bytes unchanged; a value that does
 * not unpack keeps its key. */
static void test_rekey(void **state) {
  struct world *w = *state;
  Cscflow__V1__CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  ev.event_id = "rekey-1";
  ev.la_code = "201";
  ev.child_id = "C1";
  ev.occurred_on = 20260110;
  struct dead good = {"201", {0}, 0, "rekey test", "2026-03-01T00:00:00.000Z", 0, 1, -1};
  good.value_len = cscflow__v1__case_event__get_packed_size(&ev);
  assert_true(good.value_len <= sizeof good.value);
  cscflow__v1__case_event__pack(&ev, good.value);
  struct dead bad = {"202", {0x0a, 0x7f}, 2, "rekey test", "2026-03-01T00:00:00.000Z", 1, 1, -1};
  produce_dead(&w->c, &good, 400);
  produce_dead(&w->c, &bad, 401);
  struct got got[MAX_MSGS];
  const size_t before = read_input(&w->c, got, MAX_MSGS);

  struct config cfg;
  struct la_registry las = {0};
  char err[512], group[64];
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "bootstrap.servers", w->c.bootstraps), CSC_OK);
  assert_int_equal(config_set(&cfg, "consumer.fetch.wait.max.ms", "10"), CSC_OK);
  assert_int_equal(config_set(&cfg, "cscflow.la.alias.201", "E09000001"), CSC_OK);
  assert_int_equal(la_registry_load(&las, &cfg, err, sizeof err), CSC_OK);
  snprintf(group, sizeof group, "test-redrive-rekey-%d", (int)getpid());
  const struct redrive_options o = {.cfg = &cfg,
                                    .dlq_topic = TOPIC_DLQ,
                                    .input_topic = TOPIC_EVENTS,
                                    .group = group,
                                    .filter = {"rekey test", INT64_MIN, INT64_MAX},
                                    .rekey = &las};
  struct redrive_stats st;
  assert_int_equal(redrive_run(&o, &st, err, sizeof err), CSC_OK);
  assert_int_equal(st.redriven, 2);
  assert_int_equal(st.rekeyed, 1);
  assert_int_equal(st.failed, 0);
  assert_true(st.committed);
  la_registry_free(&las);
  config_free(&cfg);

  const size_t n = read_input(&w->c, got, MAX_MSGS);
  assert_int_equal(n, before + 2);
  const struct got *g = find_from(got, n, good.partition, good.offset);
  assert_non_null(g);
  assert_string_equal(g->key, "E09000001");
  assert_int_equal(g->partition, murmur2_partition(&w->c, "E09000001"));
  assert_int_equal(g->value_len, good.value_len);
  assert_memory_equal(g->value, good.value, good.value_len);
  g = find_from(got, n, bad.partition, bad.offset);
  assert_non_null(g);
  assert_string_equal(g->key, "202");
}

/* 5. Refused before any Kafka work. */
static void test_bad_arguments(void **state) {
  struct world *w = *state;
  char *s;
  const char *const no_zone[] = {"--from", "2026-01-10T00:00:00", NULL};
  assert_int_equal(redrive(w, no_zone, &s), 64);
  free(s);
  const char *const backwards[] = {"--from", "2026-01-12", "--until", "2026-01-10", NULL};
  assert_int_equal(redrive(w, backwards, &s), 64);
  free(s);
  write_conf(w, "cscflow.redrive.grup=typo\n");
  const char *const none[] = {NULL};
  assert_int_equal(redrive(w, none, &s), 78);
  free(s);
  write_conf(w, NULL);
}

/* 6. Times: the forms the README names, and what is refused. */
static void test_parse_time(void **state) {
  (void)state;
  int64_t ms = 0;
  const int64_t day = (int64_t)date_from_ymd(2026, 1, 10) * 86400000;
  assert_int_equal(redrive_parse_time("2026-01-10", &ms), CSC_OK);
  assert_int_equal(ms, day);
  assert_int_equal(redrive_parse_time("2026-01-10T06:30Z", &ms), CSC_OK);
  assert_int_equal(ms, day + (6 * 60 + 30) * 60000);
  assert_int_equal(redrive_parse_time("2026-01-10T06:30:15.250Z", &ms), CSC_OK);
  assert_int_equal(ms, day + (6 * 60 + 30) * 60000 + 15250);
  assert_int_equal(redrive_parse_time("2026-01-10T06:30:15+00:00", &ms), CSC_OK);
  assert_int_equal(ms, day + (6 * 60 + 30) * 60000 + 15000);
  static const char *const bad[] = {"",
                                    "2026-01-10T06:30",
                                    "2026-01-10T06:30:15",
                                    "2026-01-10T06:30+01:00",
                                    "2026-01-10 06:30Z",
                                    "2026-01-10T24:00Z",
                                    "2026-01-10T06:60Z",
                                    "2026-02-30",
                                    "2026-1-10",
                                    "2026-01-10T06:30:15.5Z",
                                    "2026-01-10Z",
                                    "yesterday"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (redrive_parse_time(bad[i], &ms) != CSC_EINVAL)
      fail_msg("accepted %s", bad[i]);
  char group[128];
  const struct redrive_filter none = {NULL, INT64_MIN, INT64_MAX};
  const struct redrive_filter both = {"la_code", day, day + 1};
  assert_int_equal(redrive_group_name("g", &none, group, sizeof group), CSC_OK);
  assert_string_equal(group, "g");
  assert_int_equal(redrive_group_name("g", &both, group, sizeof group), CSC_OK);
  assert_string_equal(group, "g/reason=la_code/from=1768003200000/until=1768003200001");
  assert_int_equal(redrive_group_name("g", &both, group, 20), CSC_EFULL);
}

/* 8. Many reasons: at most REDRIVE_MAX_REASONS are named, the rest are
 * counted as "other", and every dead letter is still sent. */
static void test_many_reasons(void **state) {
  struct world *w = *state;
  char reasons[40][16];
  for (int i = 0; i < 40; i++) {
    snprintf(reasons[i], sizeof reasons[i], "many-%02d", i);
    struct dead x = {"E99000009", {0x0a, 0x01}, 2, reasons[i], "2026-04-01T00:00:00.000Z", i % 2,
                     1, -1};
    produce_dead(&w->c, &x, 500 + i);
  }
  const char *const filter[] = {"--reason", "many-", NULL};
  char *s;
  assert_int_equal(redrive(w, filter, &s), 0);
  assert_int_equal(json_number(s, "redriven"), 40);
  size_t lines = 0;
  for (const char *p = s; (p = strstr(p, "\"event\":\"redrive_reason\"")) != NULL; p++)
    lines++;
  assert_true(lines <= REDRIVE_MAX_REASONS + 1);
  assert_non_null(strstr(s, "\"reason\":\"other\""));
  free(s);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_redrive PATH_TO_CSCFLOW\n");
    return 2;
  }
  cscflow_bin = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redrive),
      cmocka_unit_test(test_failed_delivery),
      cmocka_unit_test(test_engine_cycle),
      cmocka_unit_test(test_rekey),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_parse_time),
      cmocka_unit_test(test_many_reasons),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
