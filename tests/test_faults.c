/*
 * test_faults.c — the engine riding through broker faults on librdkafka's
 * mock cluster (rdkafka_mock.h, 3 brokers), wired as `cscflow run` wires it:
 * kafka_conf_from_config, kafka_sink_new, engine_open (replay clock),
 * kafka_consumer_new with engine_kafka_position, engine_run_kafka.
 *
 * The input is a generated history (gen: 2 LAs, 1 year, scale 0.1, mess
 * 0.02: ~11.6k events), produced to csc.events.v1 (3 partitions, keyed and
 * partitioned by LA; partition 2 stays empty). Every scenario runs on a
 * fresh cluster; a thread injects its faults, step by step, while the
 * engine consumes (consumption is paced by the steps, so faults meet it all
 * along), then puts everything back:
 *
 *   none      the fault-free run, the baseline of the others;
 *   brokers   brokers going down and coming back (one at a time and all at
 *             once), partition leaders moving (input and output topics), the
 *             group coordinator moving;
 *   consume   request errors on Fetch (OFFSET_OUT_OF_RANGE included, which
 *             resets the consumer's position), ListOffsets, OffsetFetch,
 *             FindCoordinator, JoinGroup, SyncGroup and Heartbeat (rejoins);
 *   produce   request errors (some answered late) and slow responses on
 *             Produce.
 * The producer's queue.buffering.max.messages is 10 in every scenario, so
 * publication meets a full queue and must wait, never drop.
 *
 * Request errors are pushed on the broker that serves the request, one
 * stack at a time, so what a scenario prints as hit is exact: pushed less
 * what is left on the brokers' stacks at the end.
 *
 * Each scenario must end with: every LA's stored snapshot byte-identical
 * (after packing) to the fault-free run's; events_applied equal to the
 * number of distinct events; the same distinct (key, value) alerts and
 * findings as the fault-free run, each key's in the same order (a repeat is
 * allowed, only as an exact one); every published snapshot one that the LA
 * really passed through (the per-event reference below), each LA's never
 * going back, the last one its final snapshot; the dead-letter topic empty;
 * nothing left in the outbox; no delivery failed.
 *
 * Snapshots are published once per LA per batch, and where batches end
 * depends on timing, so no two runs publish the same intermediate
 * snapshots. The reference is therefore a replay of the history with one
 * event per transaction (on tmpfs): the snapshot after every event, i.e.
 * every state an LA passes through, hashed. A lost or double-counted event
 * would publish a snapshot outside that set.
 *
 * What it found (fixed in ingest/kafka.c): an OFFSET_OUT_OF_RANGE on Fetch,
 * or UNKNOWN_TOPIC_OR_PART on the first ListOffsets, made librdkafka reset
 * the partition to its end (auto.offset.reset's default), skipping the
 * unread events (consume: "not caught up"); a Produce error made the
 * producer write a later request before the retried one, so an LA's
 * snapshots went back on csc.indicators.v1 (produce).
 *
 * Every loop is bounded in count and in time.
 */
#include "tests/testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "gen/gen.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

#define N_LAS 2
#define N_BROKERS 3
#define N_EVENT_PARTS 3
#define GROUP "cscflow-faults"
#define QUEUE_MAX 10 /* producer queue.buffering.max.messages */
#define BATCH_MAX                                                                                  \
  500                       /* engine batch. Every batch publishes a snapshot                      \
                               (~14 KB) of each LA it touches, even when all its                   \
                               events are duplicates (as after an offset reset,                    \
                               which reads a partition again), and the mock                        \
                               keeps only 5 MiB a partition: ~12k events must                      \
                               stay well under 370 batches */
#define SCENARIO_MAX_S 75.0 /* a scenario not done by then has hung */
#define STALL_S 12.0        /* after the faults, longer than any rejoin */

/* ---- time ------------------------------------------------------------------------ */

/* ---- hashing (sets of messages) ------------------------------------------------------ */

struct h128 {
  uint64_t a, b;
};

/* Two independent 64-bit hashes of key and value (length-prefixed, so that
 * the split between them counts). Used only to compare sets of messages. */
static struct h128 hash_kv(const void *key, size_t key_len, const void *value, size_t value_len) {
  uint64_t a = 0xcbf29ce484222325ULL, b = 0x9e3779b97f4a7c15ULL ^ (uint64_t)value_len;
  const uint8_t *parts[2] = {key, value};
  const size_t lens[2] = {key_len, value_len};
  for (int p = 0; p < 2; p++) {
    uint64_t n = lens[p];
    for (int i = 0; i < 8; i++, n >>= 8) {
      a = (a ^ (n & 0xff)) * 0x100000001b3ULL;
      b = (b ^ (n & 0xff)) * 0xff51afd7ed558ccdULL;
      b ^= b >> 29;
    }
    for (size_t i = 0; i < lens[p]; i++) {
      a = (a ^ parts[p][i]) * 0x100000001b3ULL;
      b = (b + parts[p][i] + 1) * 0xc4ceb9fe1a85ec53ULL;
      b ^= b >> 31;
    }
  }
  return (struct h128){a, b};
}

static int h128_cmp(const void *x, const void *y) {
  const struct h128 *p = x, *q = y;
  if (p->a != q->a)
    return p->a < q->a ? -1 : 1;
  if (p->b != q->b)
    return p->b < q->b ? -1 : 1;
  return 0;
}

struct hset {
  struct h128 *h;
  size_t n, cap;
};

static void hset_add(struct hset *s, struct h128 h) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1024;
    s->h = realloc(s->h, s->cap * sizeof *s->h);
    assert_non_null(s->h);
  }
  s->h[s->n++] = h;
}

/* Sorts and drops repeats: a set. */
static void hset_finish(struct hset *s) {
  if (s->n == 0)
    return;
  qsort(s->h, s->n, sizeof *s->h, h128_cmp);
  size_t m = 1;
  for (size_t i = 1; i < s->n; i++)
    if (h128_cmp(&s->h[i], &s->h[m - 1]) != 0)
      s->h[m++] = s->h[i];
  s->n = m;
}

static int hset_has(const struct hset *s, struct h128 h) {
  return s->n > 0 && bsearch(&h, s->h, s->n, sizeof *s->h, h128_cmp) != NULL;
}

static void hset_free(struct hset *s) {
  free(s->h);
  memset(s, 0, sizeof *s);
}

/* ---- deterministic choices of the fault thread ---------------------------------------- */

static uint64_t rnd_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dULL;
}

static int rnd(uint64_t *s, int n) { return (int)(rnd_next(s) % (uint64_t)n); }

/* ---- the history ------------------------------------------------------------------- */

struct history {
  uint8_t *bytes;
  size_t len, cap;
  size_t *off; /* n + 1 entries */
  uint8_t *la; /* LA index of each event */
  size_t n, cap_n;
  size_t per_la[N_LAS];   /* events (messages) of each LA */
  size_t distinct[N_LAS]; /* distinct event ids of each LA */
  size_t n_distinct;
  struct hset ids[N_LAS]; /* event ids of each LA */
  char codes[N_LAS][16];
};

static int history_add(void *ctx, const Cscflow__V1__CaseEvent *ev) {
  struct history *h = ctx;
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  if (h->len + n > h->cap) {
    h->cap = (h->cap ? h->cap * 2 : 1 << 21) + n;
    h->bytes = realloc(h->bytes, h->cap);
    assert_non_null(h->bytes);
  }
  if (h->n + 2 > h->cap_n) {
    h->cap_n = h->cap_n ? h->cap_n * 2 : 32768;
    h->off = realloc(h->off, h->cap_n * sizeof *h->off);
    h->la = realloc(h->la, h->cap_n);
    assert_non_null(h->off);
    assert_non_null(h->la);
  }
  int la = -1;
  for (int i = 0; i < N_LAS; i++)
    if (strcmp(ev->la_code, h->codes[i]) == 0)
      la = i;
  assert_true(la >= 0);
  cscflow__v1__case_event__pack(ev, h->bytes + h->len);
  h->off[h->n] = h->len;
  h->la[h->n] = (uint8_t)la;
  h->len += n;
  h->n++;
  h->off[h->n] = h->len;
  h->per_la[la]++;
  hset_add(&h->ids[la],
           hash_kv(ev->la_code, strlen(ev->la_code), ev->event_id, strlen(ev->event_id)));
  return CSC_OK;
}

/* ---- a sink that hashes what the reference engine publishes ---------------------------- */

struct hash_sink {
  struct sink base;
  struct hset snapshots, alerts, quality;
  size_t dlq, published;
};

static int hash_sink_publish(struct sink *s, const struct sink_message *m) {
  struct hash_sink *hs = (struct hash_sink *)s;
  const struct h128 h = hash_kv(m->key, m->key_len, m->value, m->value_len);
  if (strcmp(m->topic, TOPIC_INDICATORS) == 0)
    hset_add(&hs->snapshots, h);
  else if (strcmp(m->topic, TOPIC_ALERTS) == 0)
    hset_add(&hs->alerts, h);
  else if (strcmp(m->topic, TOPIC_QUALITY) == 0)
    hset_add(&hs->quality, h);
  else
    hs->dlq++;
  hs->published++;
  if (s->on_ack)
    s->on_ack(s->ack_ctx, m->seq, CSC_OK);
  return CSC_OK;
}

static void hash_sink_poll(struct sink *s, int timeout_ms) {
  (void)s;
  (void)timeout_ms;
}

static int hash_sink_flush(struct sink *s, int timeout_ms) {
  (void)s;
  (void)timeout_ms;
  return CSC_OK;
}

static void hash_sink_destroy(struct sink *s) { (void)s; }

static void hash_sink_init(struct hash_sink *hs) {
  memset(hs, 0, sizeof *hs);
  hs->base.publish = hash_sink_publish;
  hs->base.poll = hash_sink_poll;
  hs->base.flush = hash_sink_flush;
  hs->base.destroy = hash_sink_destroy;
}

/* ---- a sink around the Kafka sink that counts ------------------------------------------ */

/* Forwards to kafka_sink's publish and counts: publications, those that met
 * the producer's queue at its limit (kafka_sink must then wait for room, not
 * drop), refusals, and the delivery reports routed back to the engine. */
struct counting_sink {
  struct sink base;
  struct sink *inner;
  rd_kafka_t *rk;
  uint64_t published, met_full_queue, refused, acked, ack_failed;
};

static int counting_publish(struct sink *s, const struct sink_message *m) {
  struct counting_sink *cs = (struct counting_sink *)s;
  cs->published++;
  if (rd_kafka_outq_len(cs->rk) >= QUEUE_MAX)
    cs->met_full_queue++;
  const int rc = cs->inner->publish(cs->inner, m);
  if (rc != CSC_OK)
    cs->refused++;
  return rc;
}

static void counting_on_ack(void *ctx, uint64_t seq, int err) {
  struct counting_sink *cs = ctx;
  if (err == CSC_OK)
    cs->acked++;
  else
    cs->ack_failed++;
  if (cs->base.on_ack)
    cs->base.on_ack(cs->base.ack_ctx, seq, err);
}

static void counting_poll(struct sink *s, int timeout_ms) {
  struct counting_sink *cs = (struct counting_sink *)s;
  cs->inner->poll(cs->inner, timeout_ms);
}

static int counting_flush(struct sink *s, int timeout_ms) {
  struct counting_sink *cs = (struct counting_sink *)s;
  return cs->inner->flush(cs->inner, timeout_ms);
}

static void counting_destroy(struct sink *s) {
  struct counting_sink *cs = (struct counting_sink *)s;
  cs->inner->destroy(cs->inner);
  cs->inner = NULL;
}

static void counting_init(struct counting_sink *cs, struct sink *inner) {
  memset(cs, 0, sizeof *cs);
  cs->inner = inner;
  cs->rk = kafka_sink_handle(inner);
  inner->on_ack = counting_on_ack;
  inner->ack_ctx = cs;
  cs->base.publish = counting_publish;
  cs->base.poll = counting_poll;
  cs->base.flush = counting_flush;
  cs->base.destroy = counting_destroy;
}

/* ---- what a run leaves behind ------------------------------------------------------- */

struct msg {
  uint8_t *key, *value;
  size_t key_len, value_len;
};

struct topic_data {
  struct msg *m;
  size_t n, cap;
};

static void topic_add(struct topic_data *t, const void *key, size_t kl, const void *value,
                      size_t vl) {
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 256;
    t->m = realloc(t->m, t->cap * sizeof *t->m);
    assert_non_null(t->m);
  }
  struct msg *m = &t->m[t->n++];
  m->key = malloc(kl ? kl : 1);
  m->value = malloc(vl ? vl : 1);
  assert_non_null(m->key);
  assert_non_null(m->value);
  if (kl)
    memcpy(m->key, key, kl);
  if (vl)
    memcpy(m->value, value, vl);
  m->key_len = kl;
  m->value_len = vl;
}

static void topic_free(struct topic_data *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->m[i].key);
    free(t->m[i].value);
  }
  free(t->m);
  memset(t, 0, sizeof *t);
}

struct outcome {
  uint8_t *final[N_LAS]; /* stored snapshot of each LA, packed */
  size_t final_len[N_LAS];
  uint64_t events_applied[N_LAS];
  struct topic_data snapshots, alerts, quality, dlq;
  struct engine_stats stats;
  uint64_t republished; /* what the outbox still held after the run */
};

static void outcome_free(struct outcome *o) {
  for (int i = 0; i < N_LAS; i++)
    free(o->final[i]);
  topic_free(&o->snapshots);
  topic_free(&o->alerts);
  topic_free(&o->quality);
  topic_free(&o->dlq);
  memset(o, 0, sizeof *o);
}

/* ---- the shared fixture ------------------------------------------------------------- */

struct fixture {
  struct gen_options gen;
  struct history h;
  struct population pop;
  struct refdata ref;
  struct hash_sink reference; /* the per-event replay's publications */
  uint8_t *ref_final[N_LAS];
  size_t ref_final_len[N_LAS];
  uint64_t ref_applied[N_LAS];
  struct outcome baseline;
  int have_baseline;
};

/* Removes a state directory made by this test (flat: LMDB's two files). */
static void remove_dir(const char *dir) {
  char path[512];
  const char *files[] = {"data.mdb", "lock.mdb"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

/* A state directory on tmpfs when there is one: the reference commits one
 * transaction per event, and its fsyncs would dominate on a disk. */
static void fast_tmpdir(char *dir, size_t len, const char *name) {
  struct stat st;
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) {
    snprintf(dir, len, "/dev/shm/%s-%d-XXXXXX", name, (int)getpid());
    if (mkdtemp(dir) != NULL)
      return;
  }
  test_tmpdir(dir, len, name);
}

struct collect_ctx {
  const struct history *h;
  uint8_t **bytes;
  size_t *lens;
  uint64_t *applied;
};

/* Packs an LA's stored snapshot: the bytes the comparison is made on. */
static int collect_snapshot(void *ctx, const IndicatorSnapshot *snap) {
  struct collect_ctx *c = ctx;
  for (int i = 0; i < N_LAS; i++)
    if (strcmp(snap->la_code, c->h->codes[i]) == 0) {
      const size_t n = cscflow__v1__indicator_snapshot__get_packed_size(snap);
      free(c->bytes[i]);
      c->bytes[i] = malloc(n ? n : 1);
      assert_non_null(c->bytes[i]);
      cscflow__v1__indicator_snapshot__pack(snap, c->bytes[i]);
      c->lens[i] = n;
      c->applied[i] = snap->events_applied;
    }
  return CSC_OK;
}

static void read_stored(struct engine *e, struct collect_ctx *c) {
  struct store *st = engine_store(e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, NULL, collect_snapshot, c), CSC_OK);
  mdb_txn_abort(txn);
  for (int i = 0; i < N_LAS; i++)
    assert_non_null(c->bytes[i]);
}

/* Generates the history, then replays it one event per transaction: the
 * snapshot after every event, the alerts and findings, the final state. */
static int setup(void **state) {
  struct fixture *fx = calloc(1, sizeof *fx);
  assert_non_null(fx);
  gen_options_default(&fx->gen);
  fx->gen.seed = 5;
  fx->gen.n_las = N_LAS;
  fx->gen.years = 1;
  fx->gen.scale = 0.1;
  fx->gen.mess = 0.02;
  population_init(&fx->pop);
  int y0, m0, d0;
  date_to_ymd(fx->gen.start, &y0, &m0, &d0);
  for (int i = 0; i < N_LAS; i++) {
    int64_t children;
    gen_la(&fx->gen, i, fx->h.codes[i], &children);
    /* Open cases bring their earlier events (recorded on their day), so
     * the clock starts years before the history's first day. */
    for (int y = y0 - 12; y <= y0 + fx->gen.years; y++)
      assert_int_equal(
          population_set(&fx->pop, fx->h.codes[i], y, gen_la_population(&fx->gen, i, y)), CSC_OK);
  }
  assert_int_equal(gen_run(&fx->gen, history_add, &fx->h), CSC_OK);
  /* Distinct events: event ids are unique within an LA; a repeated id is
   * one event sent again. */
  fx->h.n_distinct = 0;
  for (int la = 0; la < N_LAS; la++) {
    hset_finish(&fx->h.ids[la]);
    fx->h.distinct[la] = fx->h.ids[la].n;
    fx->h.n_distinct += fx->h.ids[la].n;
  }

  struct config cfg;
  char err[512];
  config_init(&cfg);
  assert_int_equal(refdata_load(&fx->ref, &cfg,
                                CSCFLOW_SOURCE_DIR "/reference/bank-holidays-england-and-wales.txt",
                                err, sizeof err),
                   CSC_OK);
  config_free(&cfg);

  const double t0 = test_now_s();
  char dir[256];
  fast_tmpdir(dir, sizeof dir, "faults-reference");
  hash_sink_init(&fx->reference);
  struct engine_options eo = {dir, CLOCK_REPLAY, &fx->pop, &fx->reference.base, 1, 5, &fx->ref};
  struct engine *e = NULL;
  if (engine_open(&eo, &e, err, sizeof err) != CSC_OK)
    fail_msg("engine_open (reference): %s", err);
  for (size_t i = 0; i < fx->h.n; i++) {
    const char *la = fx->h.codes[fx->h.la[i]];
    const struct engine_input in = {"reference",
                                    fx->h.la[i],
                                    (int64_t)i,
                                    (int64_t)i + 1,
                                    la,
                                    strlen(la),
                                    fx->h.bytes + fx->h.off[i],
                                    fx->h.off[i + 1] - fx->h.off[i]};
    assert_int_equal(engine_apply_batch(e, &in, 1), CSC_OK);
  }
  struct collect_ctx cc = {&fx->h, fx->ref_final, fx->ref_final_len, fx->ref_applied};
  read_stored(e, &cc);
  assert_int_equal(engine_stats(e)->dead_lettered, 0);
  assert_int_equal(engine_stats(e)->applied, fx->h.n_distinct);
  engine_close(e);
  remove_dir(dir);
  assert_int_equal(fx->reference.dlq, 0);
  hset_finish(&fx->reference.snapshots);
  hset_finish(&fx->reference.alerts);
  hset_finish(&fx->reference.quality);
  for (int i = 0; i < N_LAS; i++)
    assert_int_equal(fx->ref_applied[i], fx->h.distinct[i]);
  printf("history: %zu events (%s %zu, %s %zu), %zu distinct; reference replay, one event per "
         "transaction: %zu distinct snapshots, %zu alerts, %zu findings (%.1f s)\n",
         fx->h.n, fx->h.codes[0], fx->h.per_la[0], fx->h.codes[1], fx->h.per_la[1],
         fx->h.n_distinct, fx->reference.snapshots.n, fx->reference.alerts.n,
         fx->reference.quality.n, test_now_s() - t0);
  fflush(stdout);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  struct fixture *fx = *state;
  free(fx->h.bytes);
  free(fx->h.off);
  free(fx->h.la);
  for (int la = 0; la < N_LAS; la++)
    hset_free(&fx->h.ids[la]);
  hset_free(&fx->reference.snapshots);
  hset_free(&fx->reference.alerts);
  hset_free(&fx->reference.quality);
  for (int i = 0; i < N_LAS; i++)
    free(fx->ref_final[i]);
  outcome_free(&fx->baseline);
  population_free(&fx->pop);
  refdata_free(&fx->ref);
  free(fx);
  return 0;
}

/* ---- the cluster ------------------------------------------------------------------- */

/* Partitions whose leaders the faults move: csc.events.v1 0..2, then the
 * output topics' single partitions. */
#define N_PARTS 7
static const char *part_topic(int p) {
  static const char *const t[] = {TOPIC_EVENTS, TOPIC_EVENTS,  TOPIC_EVENTS, TOPIC_INDICATORS,
                                  TOPIC_ALERTS, TOPIC_QUALITY, TOPIC_DLQ};
  return t[p];
}
static int32_t part_index(int p) { return p < N_EVENT_PARTS ? p : 0; }

struct cluster {
  rd_kafka_t *holder;
  rd_kafka_mock_cluster_t *mc;
  char bootstraps[256];
  int leader[N_PARTS];
  int coordinator;
  int64_t ends[N_EVENT_PARTS]; /* messages produced to each input partition */
};

static void cluster_start(struct cluster *c) {
  char err[512];
  memset(c, 0, sizeof *c);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  c->holder = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(c->holder);
  c->mc = rd_kafka_mock_cluster_new(c->holder, N_BROKERS);
  assert_non_null(c->mc);
  snprintf(c->bootstraps, sizeof c->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(c->mc));
  assert_int_equal(rd_kafka_mock_topic_create(c->mc, TOPIC_EVENTS, N_EVENT_PARTS, N_BROKERS), 0);
  for (int p = N_EVENT_PARTS; p < N_PARTS; p++)
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, part_topic(p), 1, N_BROKERS), 0);
  /* Input partition p on broker p + 1 (partition 2, empty, on broker 3);
   * outputs on brokers 1 and 2; the group's coordinator on broker 3. */
  static const int leaders[N_PARTS] = {1, 2, 3, 1, 2, 1, 2};
  for (int p = 0; p < N_PARTS; p++) {
    assert_int_equal(
        rd_kafka_mock_partition_set_leader(c->mc, part_topic(p), part_index(p), leaders[p]), 0);
    c->leader[p] = leaders[p];
  }
  c->coordinator = 3;
  assert_int_equal(rd_kafka_mock_coordinator_set(c->mc, "group", GROUP, c->coordinator), 0);
}

static void cluster_stop(struct cluster *c) {
  rd_kafka_mock_cluster_destroy(c->mc);
  rd_kafka_destroy(c->holder);
}

struct produced {
  size_t delivered, failed;
};

static void on_input_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct produced *p = opaque;
  if (m->err)
    p->failed++;
  else
    p->delivered++;
}

/* Produces the history to csc.events.v1 before the engine starts, with no
 * fault: LA i's events to partition i, keyed by the LA, in order (the
 * idempotent producer keeps each partition's order through retries). */
static void produce_history(struct cluster *c, const struct history *h) {
  char err[512];
  struct produced p = {0, 0};
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *props[][2] = {{"bootstrap.servers", c->bootstraps},
                            {"enable.idempotence", "true"},
                            {"linger.ms", "5"},
                            {"batch.num.messages", "100"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    assert_int_equal(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err),
                     RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_dr_msg_cb(conf, on_input_delivery);
  rd_kafka_conf_set_opaque(conf, &p);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(rk);
  const double deadline = test_now_s() + 30.0;
  for (size_t i = 0; i < h->n; i++) {
    const char *la = h->codes[h->la[i]];
    for (int tries = 0;; tries++) {
      rd_kafka_resp_err_t e =
          rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC_EVENTS), RD_KAFKA_V_PARTITION(h->la[i]),
                            RD_KAFKA_V_KEY(la, strlen(la)),
                            RD_KAFKA_V_VALUE(h->bytes + h->off[i], h->off[i + 1] - h->off[i]),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        break;
      assert_int_equal(e, RD_KAFKA_RESP_ERR__QUEUE_FULL);
      assert_true(tries < 1000 && test_now_s() < deadline);
      rd_kafka_poll(rk, 10);
    }
    c->ends[h->la[i]]++;
  }
  assert_int_equal(rd_kafka_flush(rk, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_destroy(rk);
  assert_int_equal(p.failed, 0);
  assert_int_equal(p.delivered, h->n);
}

/* ---- reading an output topic ---------------------------------------------------------- */

/* Reads partition 0 of topic from offset 0 to its high watermark, with an
 * assigned consumer. Offsets are taken in order once each, so a Fetch error
 * left on a broker's stack (a reset, a retry) cannot double a message. */
static void read_topic(const struct cluster *c, const char *topic, struct topic_data *out) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *props[][2] = {{"bootstrap.servers", c->bootstraps},
                            {"group.id", "faults-reader"},
                            {"enable.auto.commit", "false"},
                            {"fetch.wait.max.ms", "10"},
                            {"auto.offset.reset", "earliest"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    assert_int_equal(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err),
                     RD_KAFKA_CONF_OK);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  assert_non_null(rk);
  rd_kafka_poll_set_consumer(rk);
  int64_t lo = -1, hi = -1;
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__FAIL;
  for (int tries = 0; tries < 10 && e != RD_KAFKA_RESP_ERR_NO_ERROR; tries++)
    e = rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 3000);
  assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
  if (lo != 0)
    fail_msg("%s: the mock dropped its first %lld messages (over 5 MiB): publish less", topic,
             (long long)lo);
  if (hi > 0) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = 0;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    const double deadline = test_now_s() + 30.0;
    int64_t next = 0;
    for (int i = 0; i < 20000 && next < hi && test_now_s() < deadline; i++) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
      if (m == NULL)
        continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset == next) {
        topic_add(out, m->key, m->key_len, m->payload, m->len);
        next++;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  assert_int_equal((int64_t)out->n, hi);
}

/* ---- faults -------------------------------------------------------------------------- */

enum scenario { SC_NONE, SC_BROKERS, SC_CONSUME, SC_PRODUCE };

/* Kafka protocol request types (ApiKey), which rdkafka.h does not export. */
enum {
  API_PRODUCE = 0,
  API_FETCH = 1,
  API_LIST_OFFSETS = 2,
  API_OFFSET_FETCH = 9,
  API_FIND_COORDINATOR = 10,
  API_JOIN_GROUP = 11,
  API_HEARTBEAT = 12,
  API_SYNC_GROUP = 14
};

static const char *scenario_name(enum scenario sc) {
  static const char *const n[] = {"none", "brokers", "consume", "produce"};
  return n[sc];
}

/* The request types errors are pushed on, in the order they are printed. */
static const int16_t api_keys[] = {
    API_FETCH,      API_LIST_OFFSETS, API_OFFSET_FETCH, API_FIND_COORDINATOR,
    API_JOIN_GROUP, API_SYNC_GROUP,   API_HEARTBEAT,    API_PRODUCE};
static const char *const api_names[] = {"Fetch",           "ListOffsets", "OffsetFetch",
                                        "FindCoordinator", "JoinGroup",   "SyncGroup",
                                        "Heartbeat",       "Produce"};
#define N_API (sizeof api_keys / sizeof api_keys[0])

struct faults {
  struct cluster *c;
  enum scenario sc;
  uint64_t rng;
  double started;
  atomic_int consuming, progress, stop, done;
  _Atomic int64_t applied_to[N_EVENT_PARTS]; /* stored positions, from the engine's thread */
  double window; /* seconds from the first fault to the last one taken */
  pthread_t thread;
  /* what was injected */
  unsigned downs, outages, leader_moves, coordinator_moves, slow_responses, offset_resets;
  unsigned pushed[N_API], left[N_API];
  unsigned mock_failures; /* mock calls that failed (no cmocka asserts off the main thread) */
};

static size_t api_index(int16_t key) {
  for (size_t i = 0; i < N_API; i++)
    if (api_keys[i] == key)
      return i;
  return 0; /* every key pushed is in api_keys */
}

/* Sleeps ms, in steps, returning early when asked to stop. */
static void fault_sleep(struct faults *f, int ms) {
  for (int slept = 0; slept < ms && !atomic_load(&f->stop); slept += 20)
    test_sleep_ms(ms - slept < 20 ? ms - slept : 20);
}

static size_t stack_cnt(struct faults *f, int broker, int16_t key) {
  size_t cnt = 0;
  if (rd_kafka_mock_broker_error_stack_cnt(f->c->mc, broker, key, &cnt) != 0)
    return 0;
  return cnt;
}

/* Pushes errs[0..n) (with rtts) on broker's stack for key once that stack
 * is empty (waiting up to 2 s for it): one stack of faults at a time, so
 * that every pushed error is either consumed by a request or counted as
 * left at the end. */
static int push(struct faults *f, int broker, int16_t key, size_t n,
                const rd_kafka_resp_err_t *errs, const int *rtts) {
  for (int waited = 0; waited < 2000 && !atomic_load(&f->stop) && stack_cnt(f, broker, key) > 0;
       waited += 20)
    test_sleep_ms(20);
  if (stack_cnt(f, broker, key) > 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (rd_kafka_mock_broker_push_request_error_rtts(f->c->mc, broker, key, 1, errs[i],
                                                     rtts ? rtts[i] : 0) != 0)
      return (int)i;
    f->pushed[api_index(key)]++;
  }
  return (int)n;
}

static int push1(struct faults *f, int broker, int16_t key, rd_kafka_resp_err_t err) {
  return push(f, broker, key, 1, &err, NULL);
}

#define PICK(f, arr) ((arr)[rnd(&(f)->rng, (int)(sizeof(arr) / sizeof((arr)[0])))])

/* Brokers down and up, leaders and the coordinator moving. */
static void step_brokers(struct faults *f) {
  struct cluster *c = f->c;
  const int r = rnd(&f->rng, 100);
  if (r < 35) {
    const int p = rnd(&f->rng, N_PARTS);
    const int b = 1 + (c->leader[p] + rnd(&f->rng, N_BROKERS - 1)) % N_BROKERS;
    if (rd_kafka_mock_partition_set_leader(c->mc, part_topic(p), part_index(p), b) == 0) {
      c->leader[p] = b;
      f->leader_moves++;
    }
  } else if (r < 65) {
    const int b = 1 + rnd(&f->rng, N_BROKERS);
    f->mock_failures += rd_kafka_mock_broker_set_down(c->mc, b) != 0;
    f->downs++;
    fault_sleep(f, 200 + rnd(&f->rng, 1000));
    f->mock_failures += rd_kafka_mock_broker_set_up(c->mc, b) != 0;
  } else if (r < 80) {
    /* Fail-over: the broker's partitions move to the others, then it
     * goes down for a while. */
    const int b = 1 + rnd(&f->rng, N_BROKERS);
    for (int p = 0; p < N_PARTS; p++)
      if (c->leader[p] == b) {
        const int to = 1 + (b + rnd(&f->rng, N_BROKERS - 1)) % N_BROKERS;
        if (rd_kafka_mock_partition_set_leader(c->mc, part_topic(p), part_index(p), to) == 0) {
          c->leader[p] = to;
          f->leader_moves++;
        }
      }
    f->mock_failures += rd_kafka_mock_broker_set_down(c->mc, b) != 0;
    f->downs++;
    fault_sleep(f, 300 + rnd(&f->rng, 900));
    f->mock_failures += rd_kafka_mock_broker_set_up(c->mc, b) != 0;
  } else if (r < 90) {
    const int b = 1 + (c->coordinator + rnd(&f->rng, N_BROKERS - 1)) % N_BROKERS;
    if (rd_kafka_mock_coordinator_set(c->mc, "group", GROUP, b) == 0) {
      c->coordinator = b;
      f->coordinator_moves++;
    }
  } else {
    /* Every broker at once: the whole cluster away, shorter than the
     * group session (3.5 s). */
    f->mock_failures += rd_kafka_mock_broker_set_down(c->mc, -1) != 0;
    f->outages++;
    fault_sleep(f, 300 + rnd(&f->rng, 600));
    f->mock_failures += rd_kafka_mock_broker_set_up(c->mc, -1) != 0;
  }
}

/* Waits (bounded) until broker's stack for key is empty: the request it
 * waits for has come. */
static void wait_consumed(struct faults *f, int broker, int16_t key, int max_ms) {
  for (int waited = 0; waited < max_ms && !atomic_load(&f->stop) && stack_cnt(f, broker, key) > 0;
       waited += 20)
    test_sleep_ms(20);
}

/* Request errors of the consumer, as a script (CONSUME_SCRIPT): leaders and
 * the coordinator do not move in this scenario, so each error goes to the
 * broker that serves the request.
 *   F  a Fetch error on the leader of input partition 0 or 1
 *   O  OFFSET_OUT_OF_RANGE on Fetch (as after an unclean leader election):
 *      with auto.offset.reset=error the client stops the partition and
 *      reports it; the engine checks the watermarks and, the position being
 *      in the log, assigns again at the stored positions (engine/gaps.c)
 *   C  the coordinator lost (Heartbeat): FindCoordinator, which may go to
 *      any broker, meets an error on each
 *   J  a rejoin (Heartbeat REBALANCE_IN_PROGRESS) whose JoinGroup and
 *      SyncGroup meet errors
 *   R  a rejoin with nothing else (ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID)
 *   X  an OffsetFetch error (the engine never asks the group for committed
 *      offsets, so none is expected to be hit)
 * The mock keeps a rejoining group waiting session.timeout.ms - 1 s, so a
 * rejoin step waits for the group to be back before the script goes on.
 * ListOffsets is asked only when a partition is first assigned (later
 * resets use the log start the last Fetch gave), so its errors are pushed
 * before the engine starts (startup_faults). */
#define CONSUME_SCRIPT "FFCFJFFRFOFFOFXFF"
static void step_consume(struct faults *f, int step) {
  struct cluster *c = f->c;
  static const rd_kafka_resp_err_t fetch_errs[] = {
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
      RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,      RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH,
      RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE,     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,     RD_KAFKA_RESP_ERR__TRANSPORT};
  static const rd_kafka_resp_err_t join_errs[] = {RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                                  RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                                  RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE};
  static const rd_kafka_resp_err_t sync_errs[] = {
      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
      RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID};
  static const rd_kafka_resp_err_t rejoin_errs[] = {RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION,
                                                    RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID};
  static const rd_kafka_resp_err_t coord_errs[] = {RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                                   RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE};
  const int coord = c->coordinator;
  switch (CONSUME_SCRIPT[step]) {
  case 'F':
    push1(f, c->leader[rnd(&f->rng, 2)], API_FETCH, PICK(f, fetch_errs));
    break;
  case 'O': {
    /* On the partition with the most left to apply: its fetch position is
     * then short of the end, and a reset there skips or reads again. */
    const int p =
        c->ends[0] - atomic_load(&f->applied_to[0]) >= c->ends[1] - atomic_load(&f->applied_to[1])
            ? 0
            : 1;
    if (push1(f, c->leader[p], API_FETCH, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE))
      f->offset_resets++;
    break;
  }
  case 'C':
    push1(f, coord, API_HEARTBEAT, PICK(f, coord_errs));
    for (int b = 1; b <= N_BROKERS; b++)
      push1(f, b, API_FIND_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
    wait_consumed(f, coord, API_HEARTBEAT, 3000);
    break;
  case 'J':
    push1(f, coord, API_JOIN_GROUP, PICK(f, join_errs));
    push1(f, coord, API_SYNC_GROUP, PICK(f, sync_errs));
    push1(f, coord, API_HEARTBEAT, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    wait_consumed(f, coord, API_SYNC_GROUP, 15000);
    break;
  case 'R':
    push1(f, coord, API_HEARTBEAT, PICK(f, rejoin_errs));
    wait_consumed(f, coord, API_HEARTBEAT, 3000);
    break;
  case 'X':
    push1(f, coord, API_OFFSET_FETCH, PICK(f, coord_errs));
    break;
  }
}

/* Request errors and slow responses of the producer, on the leader of an
 * output topic. */
static void step_produce(struct faults *f) {
  struct cluster *c = f->c;
  static const rd_kafka_resp_err_t produce_errs[] = {
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
      RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,      RD_KAFKA_RESP_ERR__TRANSPORT};
  const int r = rnd(&f->rng, 100);
  const int p = r < 50 ? 3 : r < 80 ? 4 : 5; /* indicators, alerts, quality */
  const int b = c->leader[p];
  if (rnd(&f->rng, 100) < 60) {
    /* 1-3 errors in a row, half of them answered late (100-400 ms): the
     * requests sent meanwhile are handled before the failed one is sent
     * again, which must not reorder the partition. */
    rd_kafka_resp_err_t errs[3];
    int rtts[3];
    const size_t n = 1 + (size_t)rnd(&f->rng, 3);
    for (size_t i = 0; i < n; i++) {
      errs[i] = PICK(f, produce_errs);
      rtts[i] =
          errs[i] != RD_KAFKA_RESP_ERR__TRANSPORT && rnd(&f->rng, 2) ? 100 + rnd(&f->rng, 300) : 0;
    }
    push(f, b, API_PRODUCE, n, errs, rtts);
  } else {
    /* A slow broker: the producer's queue (10 messages) fills up. */
    const rd_kafka_resp_err_t ok = RD_KAFKA_RESP_ERR_NO_ERROR;
    const int rtt = 300 + rnd(&f->rng, 500);
    if (push(f, b, API_PRODUCE, 1, &ok, &rtt) == 1) {
      f->pushed[api_index(API_PRODUCE)]--; /* counted as a slow response */
      f->slow_responses++;
    }
  }
}

/* Errors waiting for the consumer's first requests: the first ListOffsets
 * of each input partition (partition 0's answered UNKNOWN_TOPIC_OR_PART,
 * which librdkafka takes as final and resolves by auto.offset.reset), the
 * first FindCoordinator on each broker, the first JoinGroup. */
static void startup_faults(struct faults *f) {
  struct cluster *c = f->c;
  push1(f, c->leader[0], API_LIST_OFFSETS, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  push1(f, c->leader[1], API_LIST_OFFSETS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
  push1(f, c->leader[2], API_LIST_OFFSETS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  for (int b = 1; b <= N_BROKERS; b++)
    push1(f, b, API_FIND_COORDINATOR, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
  push1(f, c->coordinator, API_JOIN_GROUP, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS);
}

/* Steps of each scenario. Consumption is paced by them: from step k of n
 * on, the engine may have consumed (k + 1) / (n + 1) of the history (and
 * one batch every 250 ms beyond that), so the faults meet it all along,
 * whatever the timing. */
#define BROKER_STEPS 16
#define PRODUCE_STEPS 30
static int scenario_steps(enum scenario sc) {
  switch (sc) {
  case SC_BROKERS:
    return BROKER_STEPS;
  case SC_CONSUME:
    return (int)strlen(CONSUME_SCRIPT);
  case SC_PRODUCE:
    return PRODUCE_STEPS;
  case SC_NONE:
    break;
  }
  return 0;
}

static void *fault_thread(void *arg) {
  struct faults *f = arg;
  /* Faults start with consumption (the mock holds a new group's first join
   * for 3 s). */
  for (int i = 0; i < 1500 && !atomic_load(&f->consuming) && !atomic_load(&f->stop); i++)
    test_sleep_ms(20);
  f->started = test_now_s();
  const int n = scenario_steps(f->sc);
  for (int step = 0; step < n && !atomic_load(&f->stop); step++) {
    /* Announced first: the engine may take the next share while this step
     * waits for its requests. */
    atomic_store(&f->progress, step + 1);
    switch (f->sc) {
    case SC_BROKERS:
      step_brokers(f);
      break;
    case SC_CONSUME:
      step_consume(f, step);
      break;
    case SC_PRODUCE:
      step_produce(f);
      break;
    case SC_NONE:
      break;
    }
    fault_sleep(f, 150 + rnd(&f->rng, 250));
  }
  rd_kafka_mock_broker_set_up(f->c->mc, -1);
  /* Give the requests that come all the time (Fetch, Heartbeat, Produce)
   * a moment to take what was pushed last. */
  for (int i = 0; i < 150 && !atomic_load(&f->stop); i++) {
    size_t left = 0;
    for (int b = 1; b <= N_BROKERS; b++)
      left += stack_cnt(f, b, API_FETCH) + stack_cnt(f, b, API_HEARTBEAT) +
              stack_cnt(f, b, API_PRODUCE);
    if (left == 0)
      break;
    test_sleep_ms(20);
  }
  f->window = test_now_s() - f->started;
  atomic_store(&f->done, 1);
  return NULL;
}

/* ---- one scenario -------------------------------------------------------------------- */

/* Every input partition with data consumed to its end and committed. */
static int caught_up(struct engine *e, const struct cluster *c) {
  for (int p = 0; p < N_EVENT_PARTS; p++) {
    int64_t next = -1;
    if (c->ends[p] > 0 &&
        (engine_position(e, TOPIC_EVENTS, p, &next) != CSC_OK || next != c->ends[p]))
      return 0;
  }
  return 1;
}

static void describe_faults(const struct faults *f, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
#define ADD(...)                                                                                   \
  do {                                                                                             \
    if (n < len)                                                                                   \
      n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__);                                        \
  } while (0)
  if (f->sc != SC_NONE)
    ADD("over %.1f s: ", f->window);
  if (f->downs)
    ADD("%u broker downs, ", f->downs);
  if (f->outages)
    ADD("%u outages of all brokers, ", f->outages);
  if (f->leader_moves)
    ADD("%u leader changes, ", f->leader_moves);
  if (f->coordinator_moves)
    ADD("%u coordinator moves, ", f->coordinator_moves);
  if (f->slow_responses)
    ADD("%u slow Produce responses (300-800 ms), ", f->slow_responses);
  for (size_t i = 0; i < N_API; i++)
    if (f->pushed[i])
      ADD("%s errors %u hit (%u pushed), ", api_names[i],
          f->pushed[i] > f->left[i] ? f->pushed[i] - f->left[i] : 0, f->pushed[i]);
  if (f->offset_resets)
    ADD("of which OFFSET_OUT_OF_RANGE %u, ", f->offset_resets);
#undef ADD
  if (n >= 2 && n < len)
    buf[n - 2] = '\0';
  else if (n == 0)
    snprintf(buf, len, "none");
}

static void run_scenario(struct fixture *fx, enum scenario sc, struct outcome *out,
                         struct faults *f, struct counting_sink *cs) {
  char err[512], dir[256], name[64];
  struct cluster c;
  cluster_start(&c);
  produce_history(&c, &fx->h);
  memset(f, 0, sizeof *f);
  f->c = &c;
  f->sc = sc;
  f->rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)sc << 32);
  f->started = test_now_s();
  atomic_init(&f->consuming, 0);
  atomic_init(&f->progress, 0);
  atomic_init(&f->stop, 0);
  atomic_init(&f->done, sc == SC_NONE);
  for (int p = 0; p < N_EVENT_PARTS; p++)
    atomic_init(&f->applied_to[p], 0);
  if (sc == SC_CONSUME)
    startup_faults(f);

  /* The engine's configuration: nothing about offsets is set here, so the
   * test holds for what cscflow itself sets. A short group session keeps
   * the mock's rejoins short (it waits session.timeout.ms - 1 s for members
   * to join), yet longer than its 3 s wait on a new group's first join,
   * which would otherwise expire the member it waits for; reconnects are
   * retried within 0.5 s of a broker's return. The consumer reads ahead at
   * most ~256 KB a partition (of ~0.8 MB), so that, as in a live stream,
   * its fetch position is short of the end when a fault moves it. */
  struct config cfg;
  config_init(&cfg);
  const char *props[][2] = {{"bootstrap.servers", c.bootstraps},
                            {"reconnect.backoff.max.ms", "500"},
                            {"consumer.group.id", GROUP},
                            {"consumer.fetch.wait.max.ms", "10"},
                            {"consumer.session.timeout.ms", "3500"},
                            {"consumer.heartbeat.interval.ms", "300"},
                            {"consumer.max.partition.fetch.bytes", "65536"},
                            {"consumer.queued.max.messages.kbytes", "256"},
                            {"producer.linger.ms", "5"},
                            {"producer.queue.buffering.max.messages", "10"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    assert_int_equal(config_set(&cfg, props[i][0], props[i][1]), CSC_OK);
  rd_kafka_conf_t *pconf = kafka_conf_from_config(&cfg, "producer", err, sizeof err);
  assert_non_null(pconf);
  rd_kafka_conf_t *cconf = kafka_conf_from_config(&cfg, "consumer", err, sizeof err);
  assert_non_null(cconf);
  struct sink *inner = NULL;
  assert_int_equal(kafka_sink_new(pconf, &inner, err, sizeof err), CSC_OK);
  counting_init(cs, inner);
  snprintf(name, sizeof name, "faults-%s", scenario_name(sc));
  test_tmpdir(dir, sizeof dir, name);
  struct engine_options eo = {dir, CLOCK_REPLAY, &fx->pop, &cs->base, BATCH_MAX, 20, &fx->ref};
  struct engine *e = NULL;
  if (engine_open(&eo, &e, err, sizeof err) != CSC_OK)
    fail_msg("engine_open: %s", err);
  rd_kafka_t *rk = NULL;
  if (kafka_consumer_new(cconf, TOPIC_EVENTS, engine_kafka_position, e, &rk, err, sizeof err) !=
      CSC_OK)
    fail_msg("kafka_consumer_new: %s", err);

  if (sc != SC_NONE)
    assert_int_equal(pthread_create(&f->thread, NULL, fault_thread, f), 0);

  /* One batch per engine_run_kafka call (run_ms 1). While faults are being
   * injected, consumption follows the fault thread's steps (see
   * scenario_steps), but the consumer is polled at least every 250 ms (a
   * rebalance is served only by a poll, as in `cscflow run`, which polls
   * all the time); after that, and in the fault-free run, it goes at full
   * speed. */
  volatile sig_atomic_t stop = 0;
  double first = 0, last_run = 0;
  int done = 0, rc = CSC_OK;
  const double t0 = test_now_s();
  double moved = t0; /* when something was last consumed */
  uint64_t last_consumed = 0;
  for (int iter = 0; iter < 100000 && test_now_s() - t0 < SCENARIO_MAX_S; iter++) {
    if (atomic_load(&f->done) && caught_up(e, &c)) {
      done = 1;
      break;
    }
    const uint64_t consumed = engine_stats(e)->consumed;
    if (consumed != last_consumed) {
      last_consumed = consumed;
      moved = test_now_s();
    }
    /* Faults over and nothing to read for STALL_S, yet not at the end: the
     * consumer's position has left the events behind. */
    if (atomic_load(&f->done) && test_now_s() - moved > STALL_S)
      break;
    if (consumed > 0 && first == 0) {
      first = test_now_s();
      atomic_store(&f->consuming, 1);
    }
    const int steps = scenario_steps(sc);
    if (first > 0 && !atomic_load(&f->done) &&
        (double)consumed >
            (double)(atomic_load(&f->progress) + 1) / (steps + 1) * (double)fx->h.n &&
        test_now_s() - last_run < 0.25) {
      test_sleep_ms(10);
      continue;
    }
    last_run = test_now_s();
    rc = engine_run_kafka(e, rk, &stop, 1, 0);
    if (rc != CSC_OK)
      break;
    for (int p = 0; p < N_EVENT_PARTS; p++) {
      int64_t next;
      if (engine_position(e, TOPIC_EVENTS, p, &next) == CSC_OK)
        atomic_store(&f->applied_to[p], next);
    }
  }
  atomic_store(&f->stop, 1);
  if (sc != SC_NONE)
    pthread_join(f->thread, NULL);
  if (rc != CSC_OK)
    fail_msg("[%s] engine_run_kafka: %s", scenario_name(sc), csc_strerror(rc));
  if (!done) {
    int64_t pos[N_EVENT_PARTS] = {-1, -1, -1};
    for (int p = 0; p < N_EVENT_PARTS; p++)
      engine_position(e, TOPIC_EVENTS, p, &pos[p]);
    fail_msg("[%s] not caught up after %.0f s (%.0f s without a message): positions "
             "%lld/%lld %lld/%lld %lld/%lld",
             scenario_name(sc), test_now_s() - t0, test_now_s() - moved, (long long)pos[0],
             (long long)c.ends[0], (long long)pos[1], (long long)c.ends[1], (long long)pos[2],
             (long long)c.ends[2]);
  }
  assert_int_equal(f->mock_failures, 0);
  out->stats = *engine_stats(e);
  kafka_consumer_destroy(rk);
  engine_close(e);
  cs->base.destroy(&cs->base);
  for (size_t k = 0; k < N_API; k++)
    for (int b = 1; b <= N_BROKERS; b++)
      f->left[k] += (unsigned)stack_cnt(f, b, api_keys[k]);

  /* The state left behind: opening it again republishes whatever the
   * outbox still holds (it must hold nothing), and gives the stored
   * snapshots. */
  struct hash_sink again;
  hash_sink_init(&again);
  eo.sink = &again.base;
  if (engine_open(&eo, &e, err, sizeof err) != CSC_OK)
    fail_msg("engine_open again: %s", err);
  out->republished = again.published;
  struct collect_ctx cc = {&fx->h, out->final, out->final_len, out->events_applied};
  read_stored(e, &cc);
  engine_close(e);
  hset_free(&again.snapshots);
  hset_free(&again.alerts);
  hset_free(&again.quality);
  remove_dir(dir);

  read_topic(&c, TOPIC_INDICATORS, &out->snapshots);
  read_topic(&c, TOPIC_ALERTS, &out->alerts);
  read_topic(&c, TOPIC_QUALITY, &out->quality);
  read_topic(&c, TOPIC_DLQ, &out->dlq);
  config_free(&cfg);
  cluster_stop(&c);
}

/* ---- the checks ---------------------------------------------------------------------- */

static struct hset topic_set(const struct topic_data *t) {
  struct hset s = {0};
  for (size_t i = 0; i < t->n; i++)
    hset_add(&s, hash_kv(t->m[i].key, t->m[i].key_len, t->m[i].value, t->m[i].value_len));
  hset_finish(&s);
  return s;
}

static int same_bytes(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
  return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

/* The last message of t with m's key, or NULL. */
static const struct msg *last_with_key(const struct topic_data *t, const struct msg *m) {
  for (size_t i = t->n; i-- > 0;)
    if (same_bytes(t->m[i].key, t->m[i].key_len, m->key, m->key_len))
      return &t->m[i];
  return NULL;
}

static int same_msg(const struct msg *a, const struct msg *b) {
  return same_bytes(a->key, a->key_len, b->key, b->key_len) &&
         same_bytes(a->value, a->value_len, b->value, b->value_len);
}

/* Whether key's messages in got, with repeats of the message just before
 * (of that key) dropped, are exactly key's messages in want, in order. A
 * retried request may repeat a message, but never move one. */
static int same_key_sequence(const struct topic_data *got, const struct topic_data *want,
                             const struct msg *key) {
  size_t j = 0;
  const struct msg *prev = NULL;
  for (size_t i = 0; i < got->n; i++) {
    const struct msg *m = &got->m[i];
    if (!same_bytes(m->key, m->key_len, key->key, key->key_len))
      continue;
    if (prev != NULL && same_msg(m, prev))
      continue;
    prev = m;
    while (j < want->n && !same_bytes(want->m[j].key, want->m[j].key_len, key->key, key->key_len))
      j++;
    if (j == want->n || !same_msg(m, &want->m[j]))
      return 0;
    j++;
  }
  while (j < want->n && !same_bytes(want->m[j].key, want->m[j].key_len, key->key, key->key_len))
    j++;
  return j == want->n;
}

/* The same distinct (key, value) messages as the baseline, and for every key
 * the same messages in the same order (so the same last one, which a reader
 * of a compacted topic ends with), exact repeats aside. */
static void check_same_messages(const char *sc, const char *topic, const struct topic_data *got,
                                const struct topic_data *want, size_t *repeats) {
  struct hset g = topic_set(got), w = topic_set(want);
  size_t missing = 0, extra = 0;
  for (size_t i = 0; i < w.n; i++)
    missing += !hset_has(&g, w.h[i]);
  for (size_t i = 0; i < g.n; i++)
    extra += !hset_has(&w, g.h[i]);
  *repeats = got->n - g.n;
  hset_free(&g);
  hset_free(&w);
  if (missing || extra)
    fail_msg("[%s] %s: %zu messages of the fault-free run missing, %zu messages it never published",
             sc, topic, missing, extra);
  for (size_t i = 0; i < want->n; i++)
    if (!same_key_sequence(got, want, &want->m[i]))
      fail_msg("[%s] %s: the messages of key %.*s are not in the fault-free run's order", sc, topic,
               (int)want->m[i].key_len, (const char *)want->m[i].key);
}

struct report {
  size_t snapshot_repeats, alert_repeats, finding_repeats;
};

static void check_outcome(const struct fixture *fx, const char *sc, const struct outcome *o,
                          const struct outcome *base, struct report *r) {
  /* Every LA's stored snapshot: byte for byte the reference's (and so the
   * fault-free run's), counting each distinct event once. */
  for (int la = 0; la < N_LAS; la++) {
    if (!same_bytes(o->final[la], o->final_len[la], fx->ref_final[la], fx->ref_final_len[la]))
      fail_msg("[%s] %s: the stored snapshot differs from the fault-free one", sc, fx->h.codes[la]);
    if (o->events_applied[la] != fx->h.distinct[la])
      fail_msg("[%s] %s: events_applied %llu, distinct events %zu", sc, fx->h.codes[la],
               (unsigned long long)o->events_applied[la], fx->h.distinct[la]);
  }
  assert_int_equal(o->stats.applied, fx->h.n_distinct);
  assert_int_equal(o->stats.dead_lettered, 0);
  assert_int_equal(o->stats.consumed, o->stats.applied + o->stats.duplicates);
  /* Nothing left unpublished, nothing dead-lettered. */
  if (o->republished != 0)
    fail_msg("[%s] the outbox still held %llu messages after the run", sc,
             (unsigned long long)o->republished);
  if (o->dlq.n != 0)
    fail_msg("[%s] %zu messages on the dead-letter topic", sc, o->dlq.n);

  /* Snapshots: each one a state the LA really passed through; the last
   * one of each LA its final state. */
  size_t outside = 0;
  for (size_t i = 0; i < o->snapshots.n; i++) {
    const struct msg *m = &o->snapshots.m[i];
    outside +=
        !hset_has(&fx->reference.snapshots, hash_kv(m->key, m->key_len, m->value, m->value_len));
  }
  if (outside)
    fail_msg("[%s] %zu of %zu published snapshots match no state the LAs passed through", sc,
             outside, o->snapshots.n);
  for (int la = 0; la < N_LAS; la++) {
    const struct msg key = {(uint8_t *)fx->h.codes[la], NULL, strlen(fx->h.codes[la]), 0};
    const struct msg *last = last_with_key(&o->snapshots, &key);
    if (last == NULL)
      fail_msg("[%s] %s: no snapshot published", sc, fx->h.codes[la]);
    IndicatorSnapshot *s =
        cscflow__v1__indicator_snapshot__unpack(NULL, last->value_len, last->value);
    assert_non_null(s);
    const size_t n = cscflow__v1__indicator_snapshot__get_packed_size(s);
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    cscflow__v1__indicator_snapshot__pack(s, b);
    cscflow__v1__indicator_snapshot__free_unpacked(s, NULL);
    const int same = same_bytes(b, n, o->final[la], o->final_len[la]);
    free(b);
    if (!same)
      fail_msg("[%s] %s: the last snapshot on %s is not the final one", sc, fx->h.codes[la],
               TOPIC_INDICATORS);
  }
  /* In publication order, each LA's snapshots never go back: a snapshot
   * after a later one would be what a compacted topic keeps. */
  uint64_t seen[N_LAS] = {0};
  for (size_t i = 0; i < o->snapshots.n; i++) {
    const struct msg *m = &o->snapshots.m[i];
    IndicatorSnapshot *s = cscflow__v1__indicator_snapshot__unpack(NULL, m->value_len, m->value);
    assert_non_null(s);
    for (int la = 0; la < N_LAS; la++)
      if (strcmp(s->la_code, fx->h.codes[la]) == 0) {
        if (s->events_applied < seen[la])
          fail_msg("[%s] %s: a snapshot of %llu events published after one of %llu", sc,
                   fx->h.codes[la], (unsigned long long)s->events_applied,
                   (unsigned long long)seen[la]);
        seen[la] = s->events_applied;
      }
    cscflow__v1__indicator_snapshot__free_unpacked(s, NULL);
  }
  struct hset snaps = topic_set(&o->snapshots);
  r->snapshot_repeats = o->snapshots.n - snaps.n;
  hset_free(&snaps);

  /* Alerts and findings: those of the fault-free run. */
  if (base != NULL) {
    check_same_messages(sc, TOPIC_ALERTS, &o->alerts, &base->alerts, &r->alert_repeats);
    check_same_messages(sc, TOPIC_QUALITY, &o->quality, &base->quality, &r->finding_repeats);
  } else {
    /* The fault-free run itself: the reference's alerts and findings. */
    struct hset a = topic_set(&o->alerts), q = topic_set(&o->quality);
    r->alert_repeats = o->alerts.n - a.n;
    r->finding_repeats = o->quality.n - q.n;
    const int same_a = a.n == fx->reference.alerts.n &&
                       (a.n == 0 || memcmp(a.h, fx->reference.alerts.h, a.n * sizeof *a.h) == 0);
    const int same_q = q.n == fx->reference.quality.n &&
                       (q.n == 0 || memcmp(q.h, fx->reference.quality.h, q.n * sizeof *q.h) == 0);
    hset_free(&a);
    hset_free(&q);
    if (!same_a || !same_q)
      fail_msg("[%s] the alerts (%s) or findings (%s) differ from the per-event replay's", sc,
               same_a ? "same" : "differ", same_q ? "same" : "differ");
  }
}

static void scenario(void **state, enum scenario sc) {
  struct fixture *fx = *state;
  const char *name = scenario_name(sc);
  if (sc != SC_NONE && !fx->have_baseline)
    fail_msg("[%s] the fault-free run did not complete", name);
  const double t0 = test_now_s();
  struct outcome o;
  memset(&o, 0, sizeof o);
  struct faults *f = calloc(1, sizeof *f);
  assert_non_null(f);
  struct counting_sink cs;
  run_scenario(fx, sc, &o, f, &cs);
  struct report r = {0, 0, 0};
  check_outcome(fx, name, &o, sc == SC_NONE ? NULL : &fx->baseline, &r);

  char faults[1024];
  describe_faults(f, faults, sizeof faults);
  printf("[%s] %.1f s. Faults injected: %s.\n"
         "  engine: %llu messages consumed (%llu again after a fault), %llu applied = distinct "
         "events, %llu duplicates, 0 dead-lettered, %llu batches\n"
         "  publication: %llu messages, %llu met the producer queue full (%d) and waited, %llu "
         "refused, %llu delivered, %llu failed, %llu left in the outbox\n"
         "  outputs: %zu snapshots (every one a state of the per-event replay; %zu exact repeats), "
         "%zu alerts (%zu repeats), %zu findings (%zu repeats), %zu dead letters; final snapshots "
         "and events_applied (%llu, %llu) equal the fault-free run's\n",
         name, test_now_s() - t0, faults, (unsigned long long)o.stats.consumed,
         (unsigned long long)(o.stats.consumed - fx->h.n), (unsigned long long)o.stats.applied,
         (unsigned long long)o.stats.duplicates, (unsigned long long)o.stats.batches,
         (unsigned long long)cs.published, (unsigned long long)cs.met_full_queue, QUEUE_MAX,
         (unsigned long long)cs.refused, (unsigned long long)cs.acked,
         (unsigned long long)cs.ack_failed, (unsigned long long)o.republished, o.snapshots.n,
         r.snapshot_repeats, o.alerts.n, r.alert_repeats, o.quality.n, r.finding_repeats, o.dlq.n,
         (unsigned long long)o.events_applied[0], (unsigned long long)o.events_applied[1]);
  fflush(stdout);
  assert_int_equal(cs.refused, 0);
  assert_int_equal(cs.ack_failed, 0);
  assert_int_equal(cs.acked, cs.published);
  free(f);
  if (sc == SC_NONE) {
    fx->baseline = o;
    fx->have_baseline = 1;
  } else {
    outcome_free(&o);
  }
}

static void test_none(void **state) { scenario(state, SC_NONE); }
static void test_brokers(void **state) { scenario(state, SC_BROKERS); }
static void test_consume(void **state) { scenario(state, SC_CONSUME); }
static void test_produce(void **state) { scenario(state, SC_PRODUCE); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_none),
      cmocka_unit_test(test_brokers),
      cmocka_unit_test(test_consume),
      cmocka_unit_test(test_produce),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
