/*
 * The door (issue 13): what the engine does with input that is well formed
 * but must not be applied as it stands, and with batches no fixed limit may
 * refuse. Every case was once a reproduced fault:
 *   - a batch naming more than 256 LAs, or more than 256 partitions, failed
 *     whole (CSC_EFULL), and `run` failed again after every restart;
 *   - a Kafka message with no key skipped the key = la_code check;
 *   - an LA keyed by its DfE number and by its ONS code was two LAs;
 *   - one event recorded in 2199 moved its LA's replay clock there for good.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "tests/harness.h"
#include "tests/testutil.h"

struct door {
  char dir[256], out[300];
  struct sink *sink;
  struct engine *e;
  struct la_registry las;
  struct population pop; /* empty: rates are null */
};

static void open_door(struct door *d, const char *name, int grouped, const struct config *cfg,
                      int64_t tolerance_ms) {
  char err[512];
  test_tmpdir(d->dir, sizeof d->dir, name);
  snprintf(d->out, sizeof d->out, "%s/out", d->dir);
  assert_int_equal(mkdir(d->out, 0750), 0);
  assert_int_equal(sink_file_open(d->out, &d->sink), CSC_OK);
  struct config empty;
  config_init(&empty);
  assert_int_equal(la_registry_load(&d->las, cfg ? cfg : &empty, err, sizeof err), CSC_OK);
  config_free(&empty);
  population_init(&d->pop);
  struct engine_options eo = {d->dir, CLOCK_REPLAY, &d->pop, d->sink, 1000, 0, NULL};
  eo.group_by_subject = grouped;
  eo.las = &d->las;
  eo.clock_tolerance_ms = tolerance_ms;
  assert_int_equal(engine_open(&eo, &d->e, err, sizeof err), CSC_OK);
}

static void close_door(struct door *d) {
  engine_close(d->e);
  d->sink->destroy(d->sink);
  la_registry_free(&d->las);
  population_free(&d->pop);
}

/* A referral of child in la, recorded (and occurring) on day, packed into b. */
static void referral_in(struct evs *b, const char *id, const char *la, const char *child,
                        csc_date day, int64_t recorded_ms) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, day, day);
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  ev.la_code = (char *)la;
  ev.recorded_at_ms = recorded_ms ? recorded_ms : test_ms(day);
  r.referral_id = (char *)id;
  r.source = "3F";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  add(b, &ev);
}

static struct engine_input input_of(const struct evs *b, size_t i, int32_t partition,
                                    const char *key, int64_t timestamp_ms, int keyed) {
  return (struct engine_input){"test",       partition, (int64_t)i, (int64_t)i + 1, key,
                               key ? strlen(key) : 0,   b->data + b->off[i],
                               b->off[i + 1] - b->off[i], timestamp_ms, keyed};
}

static struct la_state la_state_of(struct door *d, const char *la, int *found) {
  struct store *st = engine_store(d->e);
  MDB_txn *txn;
  struct la_state ls;
  memset(&ls, 0, sizeof ls);
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  *found = store_get_la(st, txn, la, &ls) == CSC_OK;
  mdb_txn_abort(txn);
  return ls;
}

/* The reason headers of the dead letters written so far, in order, joined
 * by '|'. */
static void dead_letter_reasons(struct door *d, char *buf, size_t len) {
  d->sink->flush(d->sink, 1000);
  char path[400];
  snprintf(path, sizeof path, "%s/%s.bin", d->out, TOPIC_DLQ);
  buf[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return;
  static uint8_t data[1 << 20];
  const size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  size_t pos = 0;
  struct sink_record r;
  while (sink_file_read_record(data, n, &pos, &r) == CSC_OK) {
    /* The headers follow the value: a count, then name and value pairs. */
    const uint8_t *p = r.value + r.value_len;
    size_t at = 0, left = (size_t)(data + pos - p);
    uint64_t count, l;
    at += varint_decode(p + at, left - at, &count);
    for (uint64_t h = 0; h < count; h++) {
      at += varint_decode(p + at, left - at, &l);
      const int is_reason = l == 6 && memcmp(p + at, "reason", 6) == 0;
      at += l;
      at += varint_decode(p + at, left - at, &l);
      if (is_reason)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%.*s", buf[0] ? "|" : "", (int)l,
                 (const char *)p + at);
      at += l;
    }
  }
}

/* The last snapshot published for la (NULL if none); free_unpacked it. */
static IndicatorSnapshot *last_snapshot(struct door *d, const char *la) {
  d->sink->flush(d->sink, 1000);
  char path[400];
  snprintf(path, sizeof path, "%s/%s.bin", d->out, TOPIC_INDICATORS);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static uint8_t data[1 << 22];
  const size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  size_t pos = 0;
  struct sink_record r, last = {0};
  while (sink_file_read_record(data, n, &pos, &r) == CSC_OK)
    if (r.key_len == strlen(la) && memcmp(r.key, la, r.key_len) == 0)
      last = r;
  return last.value ? cscflow__v1__indicator_snapshot__unpack(NULL, last.value_len, last.value)
                    : NULL;
}

/* ---- no fixed limit on what a batch names ----------------------------------------- */

/* 300 LAs in one batch: each applied, each with its own state. Event by
 * event and grouped by child alike. */
static void many_las(int grouped) {
  struct door d;
  open_door(&d, grouped ? "many_las_grouped" : "many_las", grouped, NULL, 0);
  static struct evs b;
  memset(&b, 0, sizeof b);
  static char las[300][16], ids[300][16];
  struct engine_input in[300];
  for (int i = 0; i < 300; i++) {
    snprintf(las[i], sizeof las[i], "E99%06d", i + 1);
    snprintf(ids[i], sizeof ids[i], "r%d", i);
    referral_in(&b, ids[i], las[i], "A", D(2024, 5, 1), 0);
  }
  for (int i = 0; i < 300; i++)
    in[i] = input_of(&b, (size_t)i, 0, NULL, 0, 0);
  assert_int_equal(engine_apply_batch(d.e, in, 300), CSC_OK);
  const struct engine_stats *s = engine_stats(d.e);
  assert_int_equal(s->applied, 300);
  assert_int_equal(s->dead_lettered, 0);
  assert_int_equal(s->snapshots, 300);
  const int probe[] = {0, 255, 256, 299};
  for (size_t i = 0; i < 4; i++) {
    int found;
    struct la_state ls = la_state_of(&d, las[probe[i]], &found);
    assert_true(found);
    assert_int_equal(ls.events_applied, 1);
    assert_int_equal(ls.as_of, D(2024, 5, 1));
  }
  close_door(&d);
}

static void test_many_las_in_one_batch(void **state) {
  (void)state;
  many_las(0);
  many_las(1);
}

/* 300 partitions in one batch: the next position of each is stored. */
static void test_many_partitions_in_one_batch(void **state) {
  (void)state;
  struct door d;
  open_door(&d, "many_partitions", 1, NULL, 0);
  static struct evs b;
  memset(&b, 0, sizeof b);
  static char ids[300][16];
  struct engine_input in[300];
  for (int i = 0; i < 300; i++) {
    snprintf(ids[i], sizeof ids[i], "p%d", i);
    referral_in(&b, ids[i], LA, ids[i], D(2024, 5, 1), 0);
  }
  for (int i = 0; i < 300; i++)
    in[i] = input_of(&b, (size_t)i, i, LA, 0, 1);
  assert_int_equal(engine_apply_batch(d.e, in, 300), CSC_OK);
  assert_int_equal(engine_stats(d.e)->applied, 300);
  for (int p = 0; p < 300; p += 37) {
    int64_t next;
    assert_int_equal(engine_position(d.e, "test", p, &next), CSC_OK);
    assert_int_equal(next, p + 1); /* input p sits at offset p */
  }
  close_door(&d);
}

/* ---- keys and LA codes ------------------------------------------------------------- */

/* On Kafka the key must be the canonical code of the event's LA: missing
 * or other keys are dead-lettered, and said so. A file has no keys. */
static void test_kafka_key_rule(void **state) {
  (void)state;
  struct door d;
  open_door(&d, "key_rule", 0, NULL, 0);
  static struct evs b;
  memset(&b, 0, sizeof b);
  for (int i = 0; i < 5; i++) {
    char id[8];
    snprintf(id, sizeof id, "k%d", i);
    referral_in(&b, id, LA, id, D(2024, 5, 1), 0);
  }
  struct engine_input in[5] = {
      input_of(&b, 0, 0, LA, 0, 1),          /* keyed right: applied */
      input_of(&b, 1, 0, NULL, 0, 1),        /* no key */
      input_of(&b, 2, 0, "", 0, 1),          /* an empty key */
      input_of(&b, 3, 0, "E99000002", 0, 1), /* another LA's key */
      input_of(&b, 4, 0, NULL, 0, 0),        /* a file's record: no key to check */
  };
  in[2].key_len = 0;
  assert_int_equal(engine_apply_batch(d.e, in, 5), CSC_OK);
  assert_int_equal(engine_stats(d.e)->applied, 2);
  assert_int_equal(engine_stats(d.e)->dead_lettered, 3);
  char reasons[512];
  dead_letter_reasons(&d, reasons, sizeof reasons);
  assert_string_equal(reasons, "key: missing|key: missing|key: not the canonical code of la_code");
  close_door(&d);
}

/* A DfE number mapped to an ONS code is one LA, filed and keyed under the
 * ONS code; an LA off the allow-list, and a message keyed by the alias,
 * are dead-lettered. One child named under both codes is one child. */
static void test_la_alias_and_allow_list(void **state) {
  (void)state;
  struct config cfg;
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.las", LA), CSC_OK);
  assert_int_equal(config_set(&cfg, "cscflow.la.alias.201", LA), CSC_OK);
  for (int grouped = 0; grouped <= 1; grouped++) {
    struct door d;
    open_door(&d, grouped ? "alias_grouped" : "alias", grouped, &cfg, 0);
    static struct evs b;
    memset(&b, 0, sizeof b);
    referral_in(&b, "a1", "201", "A", D(2024, 5, 1), 0);
    referral_in(&b, "a2", LA, "A", D(2024, 6, 1), 0);
    referral_in(&b, "a3", "201", "B", D(2024, 6, 1), 0);
    referral_in(&b, "a4", "E99000002", "C", D(2024, 6, 1), 0);
    struct engine_input in[4] = {input_of(&b, 0, 0, LA, 0, 1), input_of(&b, 1, 0, LA, 0, 1),
                                 input_of(&b, 2, 0, "201", 0, 1),
                                 input_of(&b, 3, 0, "E99000002", 0, 1)};
    assert_int_equal(engine_apply_batch(d.e, in, 4), CSC_OK);
    assert_int_equal(engine_stats(d.e)->applied, 2);
    assert_int_equal(engine_stats(d.e)->dead_lettered, 2);
    char reasons[512];
    dead_letter_reasons(&d, reasons, sizeof reasons);
    assert_string_equal(reasons,
                        "key: not the canonical code of la_code|la_code: not in cscflow.las");
    int found;
    struct la_state ls = la_state_of(&d, LA, &found);
    assert_true(found);
    assert_int_equal(ls.events_applied, 2);
    la_state_of(&d, "201", &found);
    assert_false(found);
    la_state_of(&d, "E99000002", &found);
    assert_false(found);
    /* Child A's two referrals, a month apart and the first never closed,
     * are one child's only if both codes name one LA: the second is then
     * a referral while one is open (a finding), and B's is not. */
    IndicatorSnapshot *snap = last_snapshot(&d, LA);
    assert_non_null(snap);
    uint64_t while_open = 0;
    for (size_t i = 0; i < snap->n_quality; i++)
      if (strcmp(snap->quality[i]->rule, "referral_while_open") == 0)
        while_open = snap->quality[i]->count;
    assert_int_equal(while_open, 1);
    cscflow__v1__indicator_snapshot__free_unpacked(snap, NULL);
    close_door(&d);
  }
  config_free(&cfg);
}

/* ---- a batch that cannot be applied whole --------------------------------------------- */

static void cp_plan_in(struct evs *b, const char *id, const char *child, const char *plan,
                       csc_date day) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, day, day);
  Cscflow__V1__CpPlanStarted p = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  p.plan_id = (char *)plan;
  p.initial_category = "N";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  ev.cp_plan_started = &p;
  add(b, &ev);
}

/*
 * Ids of 128 ':' each are valid, but escaped ("%3A") inside an alert id
 * they no longer fit a store key: the plan's alert cannot be booked. The
 * batch is split down to that event, which is dead-lettered; the events
 * around it are applied, and every position is passed.
 */
static void test_unappliable_event_is_dead_lettered(void **state) {
  (void)state;
  static char colons[129];
  memset(colons, ':', 128);
  for (int grouped = 0; grouped <= 1; grouped++) {
    struct door d;
    open_door(&d, grouped ? "split_grouped" : "split", grouped, NULL, 0);
    static struct evs b;
    memset(&b, 0, sizeof b);
    referral_in(&b, "s1", LA, "A", D(2024, 1, 1), 0);
    cp_plan_in(&b, "s2", colons, colons, D(2024, 1, 2));
    referral_in(&b, "s3", LA, "B", D(2024, 1, 3), 0);
    referral_in(&b, "s4", LA, "C", D(2024, 8, 1), 0); /* the plan passes 6 months */
    struct engine_input in[4];
    for (size_t i = 0; i < 4; i++)
      in[i] = input_of(&b, i, 0, LA, 0, 1);
    assert_int_equal(engine_apply_batch(d.e, in, 4), CSC_OK);
    assert_int_equal(engine_stats(d.e)->applied, 3);
    assert_int_equal(engine_stats(d.e)->dead_lettered, 1);
    assert_int_equal(engine_stats(d.e)->consumed, 4);
    char reasons[512];
    dead_letter_reasons(&d, reasons, sizeof reasons);
    assert_string_equal(reasons, "not applied: invalid input");
    int found;
    struct la_state ls = la_state_of(&d, LA, &found);
    assert_int_equal(ls.events_applied, 3);
    assert_int_equal(ls.as_of, D(2024, 8, 1));
    int64_t next;
    assert_int_equal(engine_position(d.e, "test", 0, &next), CSC_OK);
    assert_int_equal(next, 4);
    close_door(&d);
  }
}

/* ---- a clock from the future ------------------------------------------------------- */

/*
 * Messages written on 2024-06-01 at 14:00 London. An event recorded then
 * moves the clock to 2024-06-01; one recorded in 2199 is dead-lettered and
 * the clock stays; the tolerance (a day by default) decides at its edge:
 * 23 hours later is admitted, 25 hours later is not, unless the tolerance
 * is longer.
 */
static void test_recorded_in_the_future(void **state) {
  (void)state;
  const int64_t written = test_ms(D(2024, 6, 1)), hour = 3600 * 1000LL;
  for (int longer = 0; longer <= 1; longer++) {
    struct door d;
    open_door(&d, longer ? "future_3d" : "future", 1, NULL, longer ? 3 * 24 * hour : 0);
    static struct evs b;
    memset(&b, 0, sizeof b);
    referral_in(&b, "f1", LA, "A", D(2024, 6, 1), written);
    referral_in(&b, "f2", LA, "B", D(2024, 6, 1), 7258032000000LL); /* 2199-12-31 */
    referral_in(&b, "f3", LA, "C", D(2024, 6, 1), written + 23 * hour);
    referral_in(&b, "f4", LA, "D", D(2024, 6, 1), written + 25 * hour);
    struct engine_input in[4];
    for (size_t i = 0; i < 4; i++)
      in[i] = input_of(&b, i, 0, LA, written, 1);
    assert_int_equal(engine_apply_batch(d.e, in, 4), CSC_OK);
    const uint64_t rejected = longer ? 1 : 2;
    assert_int_equal(engine_stats(d.e)->dead_lettered, rejected);
    assert_int_equal(engine_stats(d.e)->applied, 4 - rejected);
    int found;
    struct la_state ls = la_state_of(&d, LA, &found);
    assert_true(found);
    /* f3 (or f4) recorded the next day, London time, moves the clock a day. */
    assert_int_equal(ls.as_of, D(2024, 6, 2));
    char reasons[512];
    dead_letter_reasons(&d, reasons, sizeof reasons);
    const char *one =
        "recorded_at_ms: later than the message's timestamp by more than the clock tolerance";
    char want[512];
    snprintf(want, sizeof want, longer ? "%s" : "%s|%s", one, one);
    assert_string_equal(reasons, want);
    close_door(&d);
  }
}

/* A replayed file's events are checked against --now (file_now_ms): the
 * same file admits an event recorded in 2030 with --now in 2030, and not
 * with --now in 2024. */
static void test_replay_now(void **state) {
  (void)state;
  for (int later = 0; later <= 1; later++) {
    struct door d;
    open_door(&d, later ? "now_2030" : "now_2024", 1, NULL, 0);
    static struct evs b;
    memset(&b, 0, sizeof b);
    referral_in(&b, "n1", LA, "A", D(2024, 5, 1), 0);
    referral_in(&b, "n2", LA, "B", D(2030, 5, 1), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/events.bin", d.dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < b.n; i++) { /* length-delimited, as cscflow-gen writes */
      uint8_t v[10];
      const size_t vn = varint_encode(b.off[i + 1] - b.off[i], v);
      assert_int_equal(fwrite(v, 1, vn, f), vn);
      assert_int_equal(fwrite(b.data + b.off[i], 1, b.off[i + 1] - b.off[i], f),
                       b.off[i + 1] - b.off[i]);
    }
    fclose(f);
    engine_close(d.e);
    char err[512];
    struct engine_options eo = {d.dir, CLOCK_REPLAY, &d.pop, d.sink, 1000, 0, NULL};
    eo.group_by_subject = 1;
    eo.las = &d.las;
    eo.file_now_ms = test_ms(later ? D(2030, 5, 2) : D(2024, 5, 2));
    assert_int_equal(engine_open(&eo, &d.e, err, sizeof err), CSC_OK);
    volatile sig_atomic_t stop = 0;
    assert_int_equal(engine_replay_file(d.e, path, &stop), CSC_OK);
    assert_int_equal(engine_stats(d.e)->applied, later ? 2 : 1);
    assert_int_equal(engine_stats(d.e)->dead_lettered, later ? 0 : 1);
    int found;
    struct la_state ls = la_state_of(&d, LA, &found);
    assert_int_equal(ls.as_of, later ? D(2030, 5, 1) : D(2024, 5, 1));
    close_door(&d);
  }
}

/* A sink that remembers, for each dead letter, whether its key was null. */
struct key_sink {
  struct sink base;
  int null_keys, empty_keys, keyed;
};

static int key_sink_publish(struct sink *s, const struct sink_message *m) {
  struct key_sink *k = (struct key_sink *)s;
  if (strcmp(m->topic, TOPIC_DLQ) == 0)
    (m->key == NULL ? &k->null_keys : m->key_len == 0 ? &k->empty_keys : &k->keyed)[0]++;
  if (s->on_ack)
    s->on_ack(s->ack_ctx, m->seq, CSC_OK);
  return CSC_OK;
}
static void key_sink_poll(struct sink *s, int timeout_ms) { (void)s, (void)timeout_ms; }
static int key_sink_flush(struct sink *s, int timeout_ms) { return (void)s, (void)timeout_ms, CSC_OK; }
static void key_sink_destroy(struct sink *s) { (void)s; }

/* A dead letter keeps its message's key as it was: none stays none (a
 * redrive sends it keyless again), empty stays empty. */
static void test_dead_letter_keeps_a_null_key(void **state) {
  (void)state;
  struct door d;
  open_door(&d, "null_key", 0, NULL, 0);
  engine_close(d.e);
  struct key_sink ks = {{key_sink_publish, key_sink_poll, key_sink_flush, key_sink_destroy, NULL,
                         NULL},
                        0, 0, 0};
  char err[512];
  struct engine_options eo = {d.dir, CLOCK_REPLAY, &d.pop, &ks.base, 1000, 0, NULL};
  assert_int_equal(engine_open(&eo, &d.e, err, sizeof err), CSC_OK);
  static struct evs b;
  memset(&b, 0, sizeof b);
  referral_in(&b, "k1", LA, "A", D(2024, 5, 1), 0);
  referral_in(&b, "k2", LA, "B", D(2024, 5, 1), 0);
  referral_in(&b, "k3", LA, "C", D(2024, 5, 1), 0);
  struct engine_input in[3] = {input_of(&b, 0, 0, NULL, 0, 1), input_of(&b, 1, 0, "", 0, 1),
                               input_of(&b, 2, 0, "E99000002", 0, 1)};
  assert_int_equal(engine_apply_batch(d.e, in, 3), CSC_OK);
  assert_int_equal(ks.null_keys, 1);
  assert_int_equal(ks.empty_keys, 1);
  assert_int_equal(ks.keyed, 1);
  engine_close(d.e);
  d.e = NULL;
  la_registry_free(&d.las);
  population_free(&d.pop);
  d.sink->destroy(d.sink);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_many_las_in_one_batch),
      cmocka_unit_test(test_many_partitions_in_one_batch),
      cmocka_unit_test(test_kafka_key_rule),
      cmocka_unit_test(test_la_alias_and_allow_list),
      cmocka_unit_test(test_recorded_in_the_future),
      cmocka_unit_test(test_unappliable_event_is_dead_lettered),
      cmocka_unit_test(test_replay_now),
      cmocka_unit_test(test_dead_letter_keeps_a_null_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
