/*
 * Output ids cannot collide (issue 13, item 3): composite keys escape '%'
 * and ':' inside each id (base.h, key_append), so two different tuples
 * never give the same alert id, finding id or history key, and ids holding
 * neither byte keep the bytes they always had. The collisions of the issue
 * go through the real engine; the LA one through quality_emit_changes,
 * since ingest refuses such an LA code at the door.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "indicators/indicators.h"
#include "tests/harness.h"
#include "tests/testutil.h"

/* ---- key_append, key_unescape, key_fields ------------------------------------------- */

static void test_key_append_edges(void **state) {
  (void)state;
  char k[16];
  size_t n = 0;
  k[0] = '\0';
  /* The first component has no separator before it; an empty one is
   * empty; '%' and ':' are escaped, '/', '-' and ' ' are not. */
  assert_int_equal(key_append(k, sizeof k, &n, ':', ""), CSC_OK);
  assert_int_equal(n, 0);
  assert_int_equal(key_append(k, sizeof k, &n, ':', "a/b -"), CSC_OK);
  assert_string_equal(k, "a/b -");
  assert_int_equal(key_append(k, sizeof k, &n, ':', "%:"), CSC_OK);
  assert_string_equal(k, "a/b -:%25%3A");
  assert_int_equal(n, 12);
  /* 12 + ':' + "ab" + NUL = 16 fits exactly; one more byte does not, and
   * leaves the key as it was. */
  char full[16];
  memcpy(full, k, sizeof k);
  size_t m = n;
  assert_int_equal(key_append(full, sizeof full, &m, ':', "abc"), CSC_EFULL);
  assert_int_equal(m, 12);
  assert_string_equal(full, "a/b -:%25%3A");
  assert_int_equal(key_append(full, sizeof full, &m, ':', "ab"), CSC_OK);
  assert_int_equal(m, 15);
  assert_string_equal(full, "a/b -:%25%3A:ab");
  /* A component that would fit unescaped but not escaped. */
  m = 12;
  full[12] = '\0';
  assert_int_equal(key_append(full, sizeof full, &m, ':', "%"), CSC_EFULL);
  assert_string_equal(full, "a/b -:%25%3A");
  /* Another separator escapes itself and leaves ':' alone. */
  char s[32];
  size_t sn = 0;
  assert_int_equal(key_append(s, sizeof s, &sn, '/', "x"), CSC_OK);
  assert_int_equal(key_append(s, sizeof s, &sn, '/', "a/b:c"), CSC_OK);
  assert_string_equal(s, "x/a%2Fb:c");
  assert_int_equal(key_append(s, sizeof s, &sn, '%', "x"), CSC_EINVAL);
  assert_int_equal(key_append(s, sizeof s, &sn, '\0', "x"), CSC_EINVAL);
  /* A subject goes in as it is. */
  assert_int_equal(key_append_key(s, sizeof s, &sn, ':', "worker:W%3A1"), CSC_OK);
  assert_string_equal(s, "x/a%2Fb:c:worker:W%3A1");

  char out[16];
  assert_int_equal(key_unescape("Y%3AZ%25%2F", out, sizeof out), CSC_OK);
  assert_string_equal(out, "Y:Z%/");
  assert_int_equal(key_unescape("plain", out, sizeof out), CSC_OK);
  assert_string_equal(out, "plain");
  assert_int_equal(key_unescape("a%3", out, sizeof out), CSC_EINVAL);
  assert_int_equal(key_unescape("a%3a", out, sizeof out), CSC_EINVAL);
  assert_int_equal(key_unescape("a%00", out, sizeof out), CSC_EINVAL);
  assert_int_equal(key_unescape("0123456789abcdef", out, sizeof out), CSC_EFULL);

  assert_int_equal(key_fields("a:b%3Ac:d%25", ':'), 3);
  assert_int_equal(key_fields("", ':'), 1);
  assert_int_equal(key_fields("a%b:c", ':'), -1);
  assert_int_equal(key_fields("a%2F:c", ':'), -1);
}

/* Every tuple of 1 to 3 components, each of up to 2 bytes over {a, %, :}:
 * two different tuples of one length never give the same key. (Keys of
 * different lengths may: ("", "a") and ("a") are both "a"; every key form in
 * cscflow has a fixed number of components.) */
static void test_key_append_injective(void **state) {
  (void)state;
  static const char *const comps[] = {"", "a", "%", ":", "aa", "a%", "a:", "%a", "%%",
                                      "%:", ":a", ":%", "::"};
  enum { NC = sizeof comps / sizeof comps[0], MAXK = NC * NC * NC };
  static char keys[MAXK][32];
  for (int parts = 1; parts <= 3; parts++) {
    const int nk = parts == 1 ? NC : parts == 2 ? NC * NC : MAXK;
    for (int t = 0; t < nk; t++) {
      size_t n = 0;
      keys[t][0] = '\0';
      for (int p = 0, c = t; p < parts; p++, c /= NC)
        assert_int_equal(key_append(keys[t], sizeof keys[t], &n, ':', comps[c % NC]), CSC_OK);
    }
    for (int i = 0; i < nk; i++)
      for (int j = i + 1; j < nk; j++)
        if (strcmp(keys[i], keys[j]) == 0)
          fail_msg("tuples %d and %d of %d components both give \"%s\"", i, j, parts, keys[i]);
  }
}

/* ---- through the engine ------------------------------------------------------------- */

static void referral(struct evs *b, const char *id, const char *child, csc_date d) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, d);
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  r.referral_id = (char *)id;
  r.source = "3F";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  add(b, &ev);
}

static void cin_start(struct evs *b, const char *id, const char *child, const char *plan,
                      csc_date d, csc_date rec) {
  Cscflow__V1__CaseEvent ev = envelope(id, child, d, rec);
  Cscflow__V1__CinPlanStarted p = CSCFLOW__V1__CIN_PLAN_STARTED__INIT;
  p.plan_id = (char *)plan;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED;
  ev.cin_plan_started = &p;
  add(b, &ev);
}

static void worker_started(struct evs *b, const char *id, const char *worker, csc_date d) {
  Cscflow__V1__CaseEvent ev = envelope(id, "", d, d);
  Cscflow__V1__WorkforceEvent w = CSCFLOW__V1__WORKFORCE_EVENT__INIT;
  w.worker_id = (char *)worker;
  w.change = CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED;
  w.fte_x100 = 100;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
  ev.workforce = &w;
  add(b, &ev);
}

/* The records of one topic of the fixture's sink file: key, and whether the
 * value is a tombstone (empty). */
struct seen {
  char key[16][256];
  uint8_t value[16][1024];
  size_t value_len[16], n;
};

static void read_topic(struct fixture *f, const char *topic, struct seen *s) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.bin", f->out, topic);
  assert_int_equal(f->sink->flush(f->sink, 0), CSC_OK);
  memset(s, 0, sizeof *s);
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return;
  static uint8_t buf[1 << 16];
  const size_t len = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  size_t pos = 0;
  struct sink_record rec;
  while (sink_file_read_record(buf, len, &pos, &rec) == CSC_OK) {
    assert_true(s->n < 16 && rec.key_len < sizeof s->key[0] && rec.value_len <= 1024);
    memcpy(s->key[s->n], rec.key, rec.key_len);
    memcpy(s->value[s->n], rec.value, rec.value_len);
    s->value_len[s->n++] = rec.value_len;
  }
}

/* The index of the non-tombstone record keyed key, or -1. */
static int find_key(const struct seen *s, const char *key) {
  for (size_t i = 0; i < s->n; i++)
    if (s->value_len[i] > 0 && strcmp(s->key[i], key) == 0)
      return (int)i;
  return -1;
}

static int has_tombstone(const struct seen *s, const char *key) {
  for (size_t i = 0; i < s->n; i++)
    if (s->value_len[i] == 0 && strcmp(s->key[i], key) == 0)
      return 1;
  return 0;
}

/*
 * Child K1 with CIN plan "P1:CIN:Q" and child "K1:CIN:P1" with CIN plan "Q"
 * both had the alert id plan_duration:E99000001:K1:CIN:P1:CIN:Q:6m, so the
 * second alert was never raised. Both plans start 2024-01-10 and are
 * recorded 2024-08-31: their 6-month alerts are due on 2024-07-10.
 */
static void test_alert_ids_distinct(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "ids_alerts");
  static struct evs b;
  memset(&b, 0, sizeof b);
  cin_start(&b, "k1", "K1", "P1:CIN:Q", D(2024, 1, 10), D(2024, 8, 31));
  cin_start(&b, "k2", "K1:CIN:P1", "Q", D(2024, 1, 10), D(2024, 8, 31));
  apply(&f, &b, 0, b.n);

  struct seen s;
  read_topic(&f, TOPIC_ALERTS, &s);
  const char *ids[2] = {"plan_duration:" LA ":K1:CIN:P1%3ACIN%3AQ:6m",
                        "plan_duration:" LA ":K1%3ACIN%3AP1:CIN:Q:6m"};
  const char *child[2] = {"K1", "K1:CIN:P1"}, *plan[2] = {"P1:CIN:Q", "Q"};
  for (int i = 0; i < 2; i++) {
    const int at = find_key(&s, ids[i]);
    assert_true(at >= 0);
    Alert *a = cscflow__v1__alert__unpack(NULL, s.value_len[at], s.value[at]);
    assert_non_null(a);
    assert_string_equal(a->alert_id, ids[i]);
    assert_int_equal(a->status, CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED);
    assert_string_equal(a->child_id, child[i]); /* raw ids in the message */
    assert_string_equal(a->plan_id, plan[i]);
    cscflow__v1__alert__free_unpacked(a, NULL);
  }
  /* Two alerts raised (one before); the id both had before is deleted from
   * the compacted topic. */
  size_t raised = 0;
  for (size_t i = 0; i < s.n; i++)
    raised += s.value_len[i] > 0;
  assert_int_equal(raised, 2);
  assert_true(has_tombstone(&s, "plan_duration:" LA ":K1:CIN:P1:CIN:Q:6m"));
  close_fixture(&f);
}

/*
 * Within one LA: child "A:referral_while_open:x" whose second referral is
 * event "e1", and child "A" whose second referral is event
 * "x:referral_while_open:e1", both had the finding id
 * E99000001:A:referral_while_open:x:referral_while_open:e1.
 */
static void test_finding_ids_distinct(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "ids_findings");
  static struct evs b;
  memset(&b, 0, sizeof b);
  referral(&b, "r1", "A:referral_while_open:x", D(2024, 3, 1));
  referral(&b, "e1", "A:referral_while_open:x", D(2024, 3, 2));
  referral(&b, "r2", "A", D(2024, 3, 1));
  referral(&b, "x:referral_while_open:e1", "A", D(2024, 3, 2));
  apply(&f, &b, 0, b.n);

  struct seen s;
  read_topic(&f, TOPIC_QUALITY, &s);
  const char *ids[2] = {LA ":A%3Areferral_while_open%3Ax:referral_while_open:e1",
                        LA ":A:referral_while_open:x%3Areferral_while_open%3Ae1"};
  const char *child[2] = {"A:referral_while_open:x", "A"};
  const char *event[2] = {"e1", "x:referral_while_open:e1"};
  for (int i = 0; i < 2; i++) {
    const int at = find_key(&s, ids[i]);
    assert_true(at >= 0);
    Cscflow__V1__QualityFinding *q =
        cscflow__v1__quality_finding__unpack(NULL, s.value_len[at], s.value[at]);
    assert_non_null(q);
    assert_string_equal(q->finding_id, ids[i]);
    assert_string_equal(q->child_id, child[i]);
    assert_string_equal(q->event_id, event[i]);
    assert_int_equal(q->status, CSCFLOW__V1__FINDING_STATUS__FINDING_STATUS_OPEN);
    cscflow__v1__quality_finding__free_unpacked(q, NULL);
  }
  assert_true(has_tombstone(&s, LA ":A:referral_while_open:x:referral_while_open:e1"));
  struct value v = get(&f, "referrals", "12m", "");
  assert_int_equal(v.quality[Q_REFERRAL_WHILE_OPEN], 2);
  close_fixture(&f);
}

/* What quality_emit_changes emits, captured. */
struct capture_out {
  struct output base;
  char key[8][256];
  size_t value_len[8], n;
  char child[8][64];
};

static int capture_emit(struct output *o, const char *topic, const char *key, const void *value,
                        size_t value_len) {
  struct capture_out *c = (struct capture_out *)o;
  assert_string_equal(topic, TOPIC_QUALITY);
  assert_true(c->n < 8);
  snprintf(c->key[c->n], sizeof c->key[0], "%s", key);
  c->value_len[c->n] = value_len;
  if (value_len) {
    Cscflow__V1__QualityFinding *q = cscflow__v1__quality_finding__unpack(NULL, value_len, value);
    assert_non_null(q);
    snprintf(c->child[c->n], sizeof c->child[0], "%s", q->child_id);
    cscflow__v1__quality_finding__free_unpacked(q, NULL);
  } else {
    assert_null(value);
  }
  c->n++;
  return CSC_OK;
}

/*
 * The issue's own case: LA "E99000009:Y" with child "Z" and LA "E99000009"
 * with child "Y:Z" both gave E99000009:Y:Z:referral_while_open:ev1. Ingest
 * now refuses such an LA code, so this goes to the emitter directly, with
 * the child's history subject as the engine passes it.
 */
static void test_finding_ids_la_and_child(void **state) {
  (void)state;
  struct finding fi = {Q_REFERRAL_WHILE_OPEN, "ev1"};
  const char *la[2] = {"E99000009:Y", "E99000009"}, *child[2] = {"Z", "Y:Z"};
  const char *want[2] = {"E99000009%3AY:Z:referral_while_open:ev1",
                         "E99000009:Y%3AZ:referral_while_open:ev1"};
  for (int i = 0; i < 2; i++) {
    struct capture_out c = {.base = {.emit = capture_emit}};
    char subject[HISTORY_SUBJECT_MAX];
    assert_true(history_child_subject(child[i], subject, sizeof subject) > 0);
    assert_int_equal(quality_emit_changes(la[i], subject, D(2024, 3, 2), NULL, 0, &fi, 1, &c.base),
                     CSC_OK);
    /* The tombstone of the old id, then the finding under its new id. */
    assert_int_equal(c.n, 2);
    assert_string_equal(c.key[0], "E99000009:Y:Z:referral_while_open:ev1");
    assert_int_equal(c.value_len[0], 0);
    assert_string_equal(c.key[1], want[i]);
    assert_string_equal(c.child[1], child[i]);
  }
}

/* A child whose id is "worker:W1" and worker W1 shared the history key
 * E99000001\0worker:W1\0. */
static void test_worker_and_child_histories(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "ids_histories");
  static struct evs b;
  memset(&b, 0, sizeof b);
  worker_started(&b, "w1", "W1", D(2024, 3, 1));
  referral(&b, "c1", "worker:W1", D(2024, 3, 1));
  apply(&f, &b, 0, b.n);

  struct store *st = engine_store(f.e);
  uint64_t bytes, histories;
  assert_int_equal(store_usage(st, &bytes, &histories), CSC_OK);
  assert_int_equal(histories, 2);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  const char *subjects[2] = {"worker:W1", "worker%3AW1"};
  for (int i = 0; i < 2; i++) {
    uint8_t key[STATE_MAX_KEY];
    MDB_val k = {store_key(key, LA, subjects[i], strlen(subjects[i]) + 1), key}, v;
    assert_int_equal(mdb_get(txn, st->derived, &k, &v), 0);
  }
  mdb_txn_abort(txn);
  /* One referral and one worker, each counted once. */
  struct value r = get(&f, "referrals", "12m", "");
  assert_int_equal((int)r.num, 1);
  close_fixture(&f);
}

/* Ids holding neither '%' nor ':' keep their bytes: alert, finding and
 * history keys already on the compacted topics and in the state stay valid.
 * The literals are worked out by hand from the old formats. */
static void test_plain_ids_keep_bytes(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "ids_plain");
  static struct evs b;
  memset(&b, 0, sizeof b);
  cin_start(&b, "p 1", "C-1/2 x", "PLAN-7/a b", D(2024, 1, 10), D(2024, 8, 31));
  referral(&b, "r1", "C-1/2 x", D(2024, 8, 1));
  referral(&b, "r-2/b c", "C-1/2 x", D(2024, 8, 2));
  apply(&f, &b, 0, b.n);

  struct seen s;
  read_topic(&f, TOPIC_ALERTS, &s);
  assert_int_equal(s.n, 1); /* no tombstone: nothing changed */
  assert_string_equal(s.key[0], "plan_duration:E99000001:C-1/2 x:CIN:PLAN-7/a b:6m");
  read_topic(&f, TOPIC_QUALITY, &s);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.key[0], "E99000001:C-1/2 x:referral_while_open:r-2/b c");

  char subject[HISTORY_SUBJECT_MAX];
  Cscflow__V1__CaseEvent ev = envelope("w", "", D(2024, 1, 1), D(2024, 1, 1));
  Cscflow__V1__WorkforceEvent w = CSCFLOW__V1__WORKFORCE_EVENT__INIT;
  w.worker_id = "W-1/a";
  w.change = CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
  ev.workforce = &w;
  assert_int_equal(history_subject(&ev, subject, sizeof subject), 12);
  assert_string_equal(subject, "worker:W-1/a");
  w.worker_id = "W:1%";
  assert_int_equal(history_subject(&ev, subject, sizeof subject), 15);
  assert_string_equal(subject, "worker:W%3A1%25");
  ev.child_id = "C-1/2 x";
  assert_int_equal(history_subject(&ev, subject, sizeof subject), 7);
  assert_string_equal(subject, "C-1/2 x");
  /* A subject that does not fit is refused, never cut. */
  assert_int_equal(history_subject(&ev, subject, 7), 0);
  close_fixture(&f);
}

/* A store of schema version 4 keyed ids unescaped and held 63-byte ids in
 * its derived records: it is refused at open, and left as it was. */
static void test_schema_4_refused(void **state) {
  (void)state;
  char dir[256], err[1024];
  test_tmpdir(dir, sizeof dir, "ids_schema4");
  struct store *st;
  assert_int_equal(store_open(dir, 0, &st, err, sizeof err), CSC_OK);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
  uint32_t v4 = 4;
  MDB_val k = {14, "schema_version"}, v = {sizeof v4, &v4};
  assert_int_equal(mdb_put(txn, st->meta, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  store_close(st);

  err[0] = '\0';
  assert_int_equal(store_open(dir, 0, &st, err, sizeof err), CSC_EDAMAGED);
  assert_non_null(strstr(err, "schema version 4"));
  assert_non_null(strstr(err, "empty state directory"));
  err[0] = '\0';
  assert_int_equal(store_open(dir, 1, &st, err, sizeof err), CSC_EDAMAGED);
  assert_non_null(strstr(err, "schema version 4"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_append_edges),
      cmocka_unit_test(test_key_append_injective),
      cmocka_unit_test(test_alert_ids_distinct),
      cmocka_unit_test(test_finding_ids_distinct),
      cmocka_unit_test(test_finding_ids_la_and_child),
      cmocka_unit_test(test_worker_and_child_histories),
      cmocka_unit_test(test_plain_ids_keep_bytes),
      cmocka_unit_test(test_schema_4_refused),
  };
  return cmocka_run_group_tests_name("ids", tests, NULL, NULL);
}
