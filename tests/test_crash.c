/*
 * test_crash.c — `cscflow replay` and `cscflow run`, as child processes of
 * this test (argv[1] is the built binary), killed with SIGKILL again and
 * again and restarted on the same state, must end exactly where an
 * uninterrupted run ends:
 *
 *   - every LA's final snapshot (`cscflow snapshot --json`) byte for byte;
 *   - every state table (positions, histories, facts, aggregates, calendars,
 *     alerts with their status, snapshots) key for key and byte for byte,
 *     the outbox aside (it holds what is not yet acknowledged);
 *   - the output streams (replay: the file sink's files, which must stay
 *     readable to the end; run: the topics of the mock cluster): a message
 *     published more than once after a restart must be an exact repeat (same
 *     key, same bytes); alerts, findings and dead letters form the same set
 *     as in the uninterrupted run, none lost and none new (in replay so do
 *     the snapshots, its batch boundaries being fixed); the last message per
 *     key is the uninterrupted run's, and the last snapshot per LA is the
 *     stored one. Repeats are counted and printed per topic.
 *
 * The history is generated (gen/, with 2% messy records) with an undecodable
 * message every 997 events, so that dead letters cross the crashes too.
 *
 * Kills land at chosen points through the engine's test-only fault hook
 * (CSCFLOW_TEST_KILL_AT, engine.h): inside a batch's transaction just before
 * its commit, just after a commit before its publication, and after the Nth
 * message handed to the sink (which is also the republication of the outbox
 * on start); and at random points, after a random delay scaled to the work
 * left. A kill that lands inside LMDB's commit itself is only ever a random
 * one.
 *
 * `run` consumes from librdkafka's mock cluster hosted in this process (one
 * cluster for the uninterrupted run, a fresh one for the crashed runs, each
 * fed the same generated history). It exits only on SIGTERM: the test sends
 * it once the positions stored in the state show every produced message
 * consumed. Each start uses a new group.id (the 2.0.2 mock keeps a killed
 * member's group for ~44 s); positions come from the state store anyway.
 *
 * Bounds: at most 10 kills per command (20 in all), every wait bounded in
 * time, every loop in count. The seed of the random delays is printed;
 * CSCFLOW_TEST_SEED=N draws the same ones again. The scratch directory is
 * removed when every test passed, kept (with each start's log) otherwise.
 */
#define _XOPEN_SOURCE 700 /* nftw, to remove the scratch directory */

#include "tests/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "gen/gen.h"
#include "state/state.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

extern char **environ;

#define BATCH "200"
#define MAX_KILLS 10        /* per command */
#define CHILD_TIMEOUT_S 60.0 /* one child process, start to exit */

struct crash {
  const char *cscflow; /* the binary under test */
  char dir[256];       /* this test's scratch directory */
  uint64_t rng;
  int kills;           /* children that died of SIGKILL, both commands */
};

/* ---- small things ------------------------------------------------------------------ */

static void sleep_s(double s) {
  if (s <= 0)
    return;
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* splitmix64: a seeded stream of its own, no global state. */
static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(next_rand(s) >> 11) / 9007199254740992.0; }

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    *len = 0;
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  assert_non_null(buf);
  for (;;) {
    const size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

/* Whether the file at path contains text. */
static int file_has(const char *path, const char *text) {
  size_t n;
  uint8_t *b = read_file(path, &n);
  int found = 0;
  const size_t tl = strlen(text);
  for (size_t i = 0; b != NULL && !found && i + tl <= n; i++)
    found = memcmp(b + i, text, tl) == 0;
  free(b);
  return found;
}

/* Prints the last lines of a child's log, to say why it failed. */
static void print_tail(const char *log) {
  size_t n;
  uint8_t *b = read_file(log, &n);
  if (b == NULL)
    return;
  const size_t from = n > 3000 ? n - 3000 : 0;
  fprintf(stderr, "---- last lines of %s ----\n%.*s\n----\n", log, (int)(n - from),
          (const char *)b + from);
  free(b);
}

/* ---- child processes --------------------------------------------------------------- */

/* Starts bin with argv, stdin from /dev/null, stdout appended to log and
 * stderr to errlog (or to log too when errlog is NULL), and
 * CSCFLOW_TEST_KILL_AT=kill_at when kill_at is not NULL. posix_spawn, not
 * fork: this process runs librdkafka's threads. */
static pid_t spawn(const char *bin, char *const argv[], const char *kill_at, const char *log,
                   const char *errlog) {
  char *envp[1024], spec[64];
  size_t n = 0;
  for (char **e = environ; *e != NULL && n < 1020; e++)
    if (strncmp(*e, "CSCFLOW_TEST_KILL_AT=", 21) != 0)
      envp[n++] = *e;
  if (kill_at != NULL) {
    snprintf(spec, sizeof spec, "CSCFLOW_TEST_KILL_AT=%s", kill_at);
    envp[n++] = spec;
  }
  envp[n] = NULL;
  posix_spawn_file_actions_t fa;
  assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
  assert_int_equal(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
  assert_int_equal(
      posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0640), 0);
  if (errlog != NULL)
    assert_int_equal(
        posix_spawn_file_actions_addopen(&fa, 2, errlog, O_WRONLY | O_CREAT | O_APPEND, 0640), 0);
  else
    assert_int_equal(posix_spawn_file_actions_adddup2(&fa, 1, 2), 0);
  pid_t pid;
  const int rc = posix_spawn(&pid, bin, &fa, NULL, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    fail_msg("posix_spawn %s: %s", bin, strerror(rc));
  return pid;
}

/* 1 with *status when pid ended within timeout_s, else 0. */
static int wait_child(pid_t pid, double timeout_s, int *status) {
  const double deadline = test_now_s() + timeout_s;
  for (int i = 0; i < 1000000; i++) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      return 1;
    assert_int_equal(r, 0);
    if (test_now_s() >= deadline)
      break;
    sleep_s(0.002);
  }
  return 0;
}

enum outcome { ENDED_OK, KILLED };

/* Waits for pid; fails the test unless it exited 0 or died of SIGKILL. */
static enum outcome reap(pid_t pid, double timeout_s, const char *log) {
  int status = 0;
  if (!wait_child(pid, timeout_s, &status)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    print_tail(log);
    fail_msg("child %d did not end within %.0f s", (int)pid, timeout_s);
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
    return KILLED;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return ENDED_OK;
  print_tail(log);
  if (WIFSIGNALED(status))
    fail_msg("child %d died of signal %d", (int)pid, WTERMSIG(status));
  fail_msg("child %d exited with status %d", (int)pid, WEXITSTATUS(status));
  return KILLED; /* not reached */
}

/* Runs `cscflow snapshot --state dir --json` into out (a file; its log
 * lines go to out.log). */
static void snapshot_json(const struct crash *c, const char *dir, const char *out) {
  char *const argv[] = {(char *)c->cscflow, "snapshot", "--state", (char *)dir, "--json", NULL};
  char errlog[600];
  snprintf(errlog, sizeof errlog, "%s.log", out);
  unlink(out);
  const pid_t pid = spawn(c->cscflow, argv, NULL, out, errlog);
  assert_int_equal(reap(pid, CHILD_TIMEOUT_S, errlog), ENDED_OK);
}

/* ---- the state store ----------------------------------------------------------------- */

/* The stored next position of (source, partition); 0 when none (or when the
 * store does not exist yet). The store is opened and closed each time: a
 * child may grow its map in between. */
static int64_t stored_position(const char *dir, const char *source, int32_t partition) {
  struct store *st;
  char err[512];
  int64_t next = 0;
  if (store_open(dir, 1, &st, err, sizeof err) != CSC_OK)
    return 0;
  MDB_txn *txn;
  if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) == 0) {
    if (store_get_position(st, txn, source, partition, &next) != CSC_OK)
      next = 0;
    mdb_txn_abort(txn);
  }
  store_close(st);
  return next;
}

struct table_counts {
  size_t entries[11]; /* per table, in compare_stores' order */
  size_t alerts_raised, alerts_withdrawn, outbox;
};

/* meta "status": the writer's counters and clocks, which a crash changes
 * (a restart consumes again what the killed process had not committed). */
static int is_status(const MDB_val *k) {
  return k->mv_size == 6 && memcmp(k->mv_data, "status", 6) == 0;
}

/* Asserts that every table of stores a and b but the outbox (and the status
 * record) holds the same keys and the same bytes; counts them, and the
 * alerts by final status. */
static void compare_stores(const char *a_dir, const char *b_dir, struct table_counts *counts) {
  static const char *const names[] = {"meta",     "history",  "derived", "las",
                                      "aggs",     "calendar", "ledger",  "alertcal",
                                      "alerts",   "snapshots", "outbox"};
  struct store *a, *b;
  char err[512];
  if (store_open(a_dir, 1, &a, err, sizeof err) != CSC_OK)
    fail_msg("open %s: %s", a_dir, err);
  if (store_open(b_dir, 1, &b, err, sizeof err) != CSC_OK)
    fail_msg("open %s: %s", b_dir, err);
  const MDB_dbi adbi[] = {a->meta,   a->history,  a->derived, a->las,       a->aggs,   a->calendar,
                          a->ledger, a->alertcal, a->alerts,  a->snapshots, a->outbox};
  const MDB_dbi bdbi[] = {b->meta,   b->history,  b->derived, b->las,       b->aggs,   b->calendar,
                          b->ledger, b->alertcal, b->alerts,  b->snapshots, b->outbox};
  MDB_txn *at, *bt;
  assert_int_equal(mdb_txn_begin(a->env, NULL, MDB_RDONLY, &at), 0);
  assert_int_equal(mdb_txn_begin(b->env, NULL, MDB_RDONLY, &bt), 0);
  memset(counts, 0, sizeof *counts);
  for (size_t t = 0; t < sizeof names / sizeof names[0]; t++) {
    MDB_cursor *ac, *bc;
    assert_int_equal(mdb_cursor_open(at, adbi[t], &ac), 0);
    assert_int_equal(mdb_cursor_open(bt, bdbi[t], &bc), 0);
    MDB_val ak, av, bk, bv;
    int ar = mdb_cursor_get(ac, &ak, &av, MDB_FIRST);
    int br = mdb_cursor_get(bc, &bk, &bv, MDB_FIRST);
    if (strcmp(names[t], "outbox") == 0) { /* only counted, in b */
      for (; br == 0; br = mdb_cursor_get(bc, &bk, &bv, MDB_NEXT))
        counts->outbox++;
      ar = br = MDB_NOTFOUND;
    }
    for (size_t i = 0; ar == 0 && br == 0; i++) {
      if (t == 0 && (is_status(&ak) || is_status(&bk))) {
        if (is_status(&ak))
          ar = mdb_cursor_get(ac, &ak, &av, MDB_NEXT);
        if (is_status(&bk))
          br = mdb_cursor_get(bc, &bk, &bv, MDB_NEXT);
        continue;
      }
      if (ak.mv_size != bk.mv_size || memcmp(ak.mv_data, bk.mv_data, ak.mv_size) != 0)
        fail_msg("table %s: entry %zu has different keys in %s and %s", names[t], i, a_dir, b_dir);
      if (av.mv_size != bv.mv_size || memcmp(av.mv_data, bv.mv_data, av.mv_size) != 0)
        fail_msg("table %s: entry %zu (key %.*s) differs between %s and %s", names[t], i,
                 (int)strnlen(ak.mv_data, ak.mv_size), (const char *)ak.mv_data, a_dir, b_dir);
      if (strcmp(names[t], "alerts") == 0) {
        Cscflow__V1__Alert *al = cscflow__v1__alert__unpack(NULL, av.mv_size, av.mv_data);
        assert_non_null(al);
        if (al->status == CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED)
          counts->alerts_raised++;
        else
          counts->alerts_withdrawn++;
        cscflow__v1__alert__free_unpacked(al, NULL);
      }
      counts->entries[t]++;
      ar = mdb_cursor_get(ac, &ak, &av, MDB_NEXT);
      br = mdb_cursor_get(bc, &bk, &bv, MDB_NEXT);
    }
    if (ar != MDB_NOTFOUND || br != MDB_NOTFOUND)
      fail_msg("table %s: %s has %s entries than %s", names[t], b_dir,
               ar == 0 ? "fewer" : "more", a_dir);
    mdb_cursor_close(ac);
    mdb_cursor_close(bc);
  }
  mdb_txn_abort(at);
  mdb_txn_abort(bt);
  store_close(a);
  store_close(b);
}

/* ---- output streams -------------------------------------------------------------------- */

/* One output message as the file sink writes it: varint key length, key,
 * varint value length, value, headers. A Kafka message is put in the same
 * form, so that both commands' outputs compare alike. */
struct msg {
  uint8_t *rec;
  size_t len;
  const uint8_t *key;
  size_t key_len;
  uint64_t hash;
};

struct stream {
  struct msg *m;
  size_t n, cap;
};

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static void stream_add(struct stream *s, const uint8_t *rec, size_t len) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->m = realloc(s->m, s->cap * sizeof *s->m);
    assert_non_null(s->m);
  }
  struct msg *m = &s->m[s->n++];
  m->rec = malloc(len);
  assert_non_null(m->rec);
  memcpy(m->rec, rec, len);
  m->len = len;
  size_t pos = 0;
  struct sink_record r;
  assert_int_equal(sink_file_read_record(m->rec, len, &pos, &r), CSC_OK);
  assert_int_equal(pos, len);
  m->key = r.key;
  m->key_len = r.key_len;
  m->hash = fnv1a(rec, len);
}

static void stream_free(struct stream *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->m[i].rec);
  free(s->m);
  memset(s, 0, sizeof *s);
}

static int same_msg(const struct msg *a, const struct msg *b) {
  return a->hash == b->hash && a->len == b->len && memcmp(a->rec, b->rec, a->len) == 0;
}

static int same_key(const struct msg *a, const struct msg *b) {
  return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* Index of the first message of s[0..before) equal to m, or before. */
static size_t find_msg(const struct stream *s, const struct msg *m, size_t before) {
  for (size_t i = 0; i < before; i++)
    if (same_msg(&s->m[i], m))
      return i;
  return before;
}

/* Reads a file sink's topic file. A record cut short or malformed fails
 * the test: a reader of the file could not get past it. */
static void read_sink_file(const char *dir, const char *topic, struct stream *s) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.bin", dir, topic);
  size_t len;
  uint8_t *buf = read_file(path, &len);
  size_t pos = 0;
  for (size_t i = 0; buf != NULL && i < 10000000; i++) {
    struct sink_record r;
    const size_t at = pos;
    const int rc = sink_file_read_record(buf, len, &pos, &r);
    if (rc == CSC_ENOTFOUND)
      break;
    if (rc != CSC_OK)
      fail_msg("%s: record %zu at byte %zu of %zu is cut short or malformed (a torn write "
               "left by a kill, then appended to by the restarted run)",
               path, i, at, len);
    stream_add(s, buf + at, pos - at);
  }
  free(buf);
}

/* Appends varint length + bytes. */
static size_t put_field(uint8_t *p, const void *data, size_t n) {
  size_t used = varint_encode(n, p);
  if (n)
    memcpy(p + used, data, n);
  return used + n;
}

/* Adds a Kafka message to s in the file sink's record form. */
static void stream_add_kafka(struct stream *s, const rd_kafka_message_t *m) {
  rd_kafka_headers_t *h = NULL;
  size_t nh = 0, cap = 40 + m->key_len + m->len;
  if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char *name;
    const void *value;
    size_t size;
    for (; rd_kafka_header_get_all(h, nh, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         nh++)
      cap += 20 + strlen(name) + size;
  }
  uint8_t *rec = malloc(cap);
  assert_non_null(rec);
  size_t used = put_field(rec, m->key, m->key_len);
  used += put_field(rec + used, m->payload, m->len);
  used += varint_encode(nh, rec + used);
  for (size_t i = 0; i < nh; i++) {
    const char *name;
    const void *value;
    size_t size;
    assert_int_equal(rd_kafka_header_get_all(h, i, &name, &value, &size),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    used += put_field(rec + used, name, strlen(name));
    used += put_field(rec + used, value, size);
  }
  assert_true(used <= cap);
  stream_add(s, rec, used);
  free(rec);
}

/* Checks the crashed run's stream of one topic against the uninterrupted
 * run's. Every message published more than once must be an exact repeat;
 * with exact_set, the distinct messages must be those of the uninterrupted
 * run, none missing and none new (true of alerts and findings, which follow
 * events one by one; and of snapshots when the batch boundaries cannot move,
 * as in replay, which resumes at the boundary it committed). The last
 * message per key must be the uninterrupted run's last one for that key.
 * Returns the number of repeats. */
static size_t compare_streams(const char *topic, const struct stream *ref,
                              const struct stream *got, int exact_set) {
  size_t repeats = 0, distinct = 0;
  for (size_t i = 0; i < got->n; i++) {
    const struct msg *m = &got->m[i];
    if (find_msg(got, m, i) < i) {
      repeats++; /* an exact repeat: same key, same bytes */
      continue;
    }
    distinct++;
    if (exact_set && find_msg(ref, m, ref->n) == ref->n)
      fail_msg("%s: message %zu (key %.*s) is in no uninterrupted run's output", topic, i,
               (int)m->key_len, (const char *)m->key);
  }
  size_t ref_distinct = 0;
  for (size_t i = 0; i < ref->n; i++)
    if (find_msg(ref, &ref->m[i], i) == i) {
      ref_distinct++;
      if (exact_set && find_msg(got, &ref->m[i], got->n) == got->n)
        fail_msg("%s: message %zu of the uninterrupted run (key %.*s) was never published", topic,
                 i, (int)ref->m[i].key_len, (const char *)ref->m[i].key);
    }
  if (exact_set)
    assert_int_equal(distinct, ref_distinct);
  /* The last message per key, which a compacted topic keeps. */
  size_t keys = 0;
  for (size_t i = ref->n; i-- > 0;) {
    int later = 0;
    for (size_t j = i + 1; j < ref->n && !later; j++)
      later = same_key(&ref->m[i], &ref->m[j]);
    if (later)
      continue;
    keys++;
    size_t last = got->n;
    for (size_t j = got->n; j-- > 0 && last == got->n;)
      if (same_key(&ref->m[i], &got->m[j]))
        last = j;
    if (last == got->n || !same_msg(&ref->m[i], &got->m[last]))
      fail_msg("%s: the last message of key %.*s differs from the uninterrupted run's", topic,
               (int)ref->m[i].key_len, (const char *)ref->m[i].key);
  }
  printf("  %-20s uninterrupted %5zu messages, %4zu keys; crashed %5zu messages, %5zu distinct, "
         "%4zu exact repeats\n",
         topic, ref->n, keys, got->n, distinct, repeats);
  return repeats;
}

/* The stored snapshot of every LA must be the last one published. */
static void expect_last_is_stored(const char *dir, const struct stream *indicators) {
  struct store *st;
  char err[512];
  if (store_open(dir, 1, &st, err, sizeof err) != CSC_OK)
    fail_msg("open %s: %s", dir, err);
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(mdb_cursor_open(txn, st->snapshots, &cur), 0);
  size_t las = 0;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const size_t la_len = strnlen(k.mv_data, k.mv_size);
    const struct msg *last = NULL;
    for (size_t i = indicators->n; i-- > 0 && last == NULL;)
      if (indicators->m[i].key_len == la_len &&
          memcmp(indicators->m[i].key, k.mv_data, la_len) == 0)
        last = &indicators->m[i];
    assert_non_null(last);
    size_t pos = 0;
    struct sink_record r;
    assert_int_equal(sink_file_read_record(last->rec, last->len, &pos, &r), CSC_OK);
    assert_int_equal(r.value_len, v.mv_size);
    assert_memory_equal(r.value, v.mv_data, v.mv_size);
    las++;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  store_close(st);
  assert_true(las > 0);
}

static void expect_same_files(const char *a, const char *b) {
  size_t na, nb;
  uint8_t *pa = read_file(a, &na), *pb = read_file(b, &nb);
  assert_non_null(pa);
  assert_non_null(pb);
  if (na != nb || memcmp(pa, pb, na) != 0)
    fail_msg("%s and %s differ", a, b);
  assert_true(na > 0);
  free(pa);
  free(pb);
}

static void print_tables(const struct table_counts *t) {
  printf("  state equal: %zu histories, %zu aggregates, %zu calendar entries, %zu ledger "
         "entries, %zu snapshots, %zu alerts (%zu raised, %zu withdrawn); outbox left %zu\n",
         t->entries[1], t->entries[4], t->entries[5], t->entries[6], t->entries[9], t->entries[8],
         t->alerts_raised, t->alerts_withdrawn, t->outbox);
}

/* ---- the generated history ------------------------------------------------------------ */

static void gen_opts(struct gen_options *o, int n_las) {
  gen_options_default(o);
  o->seed = 5;
  o->n_las = n_las;
  o->years = 1;
  o->scale = 0.1;
  o->mess = 0.02;
}

/* Every BAD_EVERY-th event is followed by a message that cannot be decoded,
 * so that dead letters (with their source headers) go through the crashes
 * too. */
#define BAD_EVERY 997
static const char bad_message[] = "\x08\xff\xff not a CaseEvent";

struct history_file {
  FILE *f;
  size_t n;
};

static int write_event(void *ctx, const CaseEvent *ev) {
  struct history_file *h = ctx;
  int rc = ingest_write_delimited(h->f, ev);
  if (rc == CSC_OK && ++h->n % BAD_EVERY == 0) {
    uint8_t v[10];
    const size_t vn = varint_encode(sizeof bad_message - 1, v);
    if (fwrite(v, 1, vn, h->f) != vn || fwrite(bad_message, 1, sizeof bad_message - 1, h->f) !=
                                            sizeof bad_message - 1)
      rc = CSC_EIO;
  }
  return rc;
}

static void write_population(const struct gen_options *o, const char *path) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(gen_write_population(o, f), CSC_OK);
  assert_int_equal(fclose(f), 0);
}

/* ---- driving one start of a command ------------------------------------------------------- */

/* How one start of a command ends. */
enum how {
  TO_END, /* runs until everything is consumed (run: then SIGTERM) */
  EARLY,  /* SIGKILL after a random delay from the start (opening, joining the group, reading) */
  RANDOM  /* SIGKILL a random delay after its first commit, scaled to the work left */
};

struct start {
  const char *kill_at; /* the fault hook, or NULL */
  enum how how;
};

static const char *start_name(const struct start *s) {
  if (s->kill_at)
    return s->kill_at;
  return s->how == EARLY ? "random delay from the start"
                         : s->how == RANDOM ? "random delay once consuming" : "to the end";
}

/* What one command consumes: progress(ctx, state) of total. */
struct work {
  int64_t (*progress)(const void *ctx, const char *state);
  const void *ctx;
  int64_t total;
  int needs_sigterm; /* run: it never ends by itself */
};

/* Times of the uninterrupted start, which scale the random delays. */
struct timing {
  double startup; /* from the start to its first commit */
  double took;    /* from its first commit to its last */
};

/* Drives a started child as s says, and returns how it ended (failing the
 * test on anything but SIGKILL or exit 0). *out, when not NULL, gets this
 * start's timing. */
static enum outcome drive(struct crash *c, pid_t pid, const char *log, const char *state,
                          const struct work *w, const struct start *s, const struct timing *tm,
                          struct timing *out) {
  const int64_t at = w->progress(w->ctx, state);
  const double t0 = test_now_s(), left = (double)(w->total - at) / (double)w->total;
  double first = 0, last = 0, kill_time = 0;
  if (s->how == EARLY) /* during the start, or the first half of the work left */
    kill_time = t0 + uniform(&c->rng) * (tm->startup + 0.5 * tm->took * left);
  int status = 0, killed = 0, termed = 0;
  for (int i = 0; i < 1000000; i++) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      break;
    assert_int_equal(r, 0);
    const double t = test_now_s();
    if (t - t0 > CHILD_TIMEOUT_S) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      print_tail(log);
      fail_msg("child %d (%s) did not end within %.0f s", (int)pid, start_name(s),
               CHILD_TIMEOUT_S);
    }
    if (!killed && kill_time > 0 && t >= kill_time) {
      kill(pid, SIGKILL);
      killed = 1;
    }
    const int64_t n = w->progress(w->ctx, state);
    if (last == 0 && n == w->total)
      last = t;
    if (first == 0 && n > at) {
      first = t;
      if (s->how == RANDOM)
        kill_time = t + uniform(&c->rng) * tm->took * (double)(w->total - n) / (double)w->total;
    }
    /* SIGTERM only once cscflow has set its handler (and republished its
     * outbox): it says run_started after both. */
    if (w->needs_sigterm && !termed && !killed && kill_time == 0 && n == w->total &&
        file_has(log, "\"event\":\"run_started\"")) {
      kill(pid, SIGTERM);
      termed = 1;
    }
    sleep_s(0.001);
  }
  if (out != NULL) {
    const double t = test_now_s();
    out->startup = (first > 0 ? first : t) - t0;
    out->took = (last > 0 ? last : t) - (first > 0 ? first : t0);
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
    return KILLED;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && (termed || !w->needs_sigterm))
    return ENDED_OK;
  print_tail(log);
  fail_msg("child %d (%s) ended with status 0x%x", (int)pid, start_name(s), status);
  return KILLED; /* not reached */
}

/* Starts from the plan (up to MAX_KILLS, while work is left), then one start
 * to the end; returns the kills survived. */
typedef pid_t (*spawn_fn)(struct crash *c, const void *ctx, const char *state, int start,
                          const char *kill_at, char *log, size_t loglen);

static int crash_and_restart(struct crash *c, const char *what, spawn_fn sp, const void *ctx,
                             const char *state, const struct work *w, const struct start *plan,
                             const struct timing *tm) {
  int kills = 0, ended = 0, starts = 0;
  char log[512];
  for (int i = 0; i < MAX_KILLS && w->progress(w->ctx, state) < w->total; i++) {
    const int64_t before = w->progress(w->ctx, state);
    const pid_t pid = sp(c, ctx, state, ++starts, plan[i].kill_at, log, sizeof log);
    const enum outcome out = drive(c, pid, log, state, w, &plan[i], tm, NULL);
    if (out == KILLED)
      kills++;
    else
      ended++;
    const int64_t after = w->progress(w->ctx, state);
    assert_true(after >= before);
    printf("  %s start %d (%s): %s at %lld of %lld\n", what, starts, start_name(&plan[i]),
           out == KILLED ? "killed" : "ran to the end", (long long)after, (long long)w->total);
  }
  static const struct start to_end = {NULL, TO_END};
  const pid_t pid = sp(c, ctx, state, ++starts, NULL, log, sizeof log);
  assert_int_equal(drive(c, pid, log, state, w, &to_end, tm, NULL), ENDED_OK);
  assert_int_equal(w->progress(w->ctx, state), w->total);
  printf("%s: %d starts, %d SIGKILLs survived, %d ran to the end before their kill\n", what,
         starts, kills, ended);
  c->kills += kills;
  return kills;
}

/* ---- replay ---------------------------------------------------------------------------- */

/* Chosen points first, so that they land while there is work left.
 * "publish:N" right after "committed:N" kills inside the republication of
 * the outbox on start. */
static const struct start replay_plan[MAX_KILLS] = {
    {"commit:3", TO_END},    {"committed:4", TO_END}, {"publish:2", TO_END},
    {"publish:9", TO_END},   {"commit:1", TO_END},    {"committed:1", TO_END},
    {NULL, RANDOM},          {NULL, EARLY},           {NULL, RANDOM},
    {NULL, RANDOM}};

struct replay_input {
  char input[512], pop[512], source[4200];
};

static int64_t replay_progress(const void *ctx, const char *state) {
  const struct replay_input *ri = ctx;
  return stored_position(state, ri->source, 0);
}

static pid_t spawn_replay(struct crash *c, const void *ctx, const char *state, int start,
                          const char *kill_at, char *log, size_t loglen) {
  const struct replay_input *ri = ctx;
  if (snprintf(log, loglen, "%s/replay-%d.log", state, start) >= (int)loglen)
    fail_msg("log path too long: %s", state);
  char *const argv[] = {(char *)c->cscflow, "replay", "--input", (char *)ri->input, "--state",
                        (char *)state, "--population", (char *)ri->pop, "--batch", BATCH, NULL};
  mkdir(state, 0750);
  return spawn(c->cscflow, argv, kill_at, log, NULL);
}

static void test_replay_killed(void **state) {
  struct crash *c = *state;
  struct replay_input ri;
  char ref[512], got[512], a[512], b[512], log[512];
  snprintf(ri.input, sizeof ri.input, "%s/replay-history.bin", c->dir);
  snprintf(ri.pop, sizeof ri.pop, "%s/replay-population.csv", c->dir);
  snprintf(ref, sizeof ref, "%s/replay-uninterrupted", c->dir);
  snprintf(got, sizeof got, "%s/replay-crashed", c->dir);

  struct gen_options o;
  gen_opts(&o, 2);
  struct history_file h = {fopen(ri.input, "wb"), 0};
  assert_non_null(h.f);
  assert_int_equal(gen_run(&o, write_event, &h), CSC_OK);
  assert_int_equal(fclose(h.f), 0);
  write_population(&o, ri.pop);
  struct stat sb;
  assert_int_equal(stat(ri.input, &sb), 0);
  char real[4096];
  assert_non_null(realpath(ri.input, real));
  snprintf(ri.source, sizeof ri.source, "file:%s", real);
  const struct work w = {replay_progress, &ri, sb.st_size, 0};

  /* The uninterrupted run, timed to scale the random delays. */
  static const struct start to_end = {NULL, TO_END};
  struct timing tm = {0, 0};
  const pid_t pid = spawn_replay(c, &ri, ref, 0, NULL, log, sizeof log);
  assert_int_equal(drive(c, pid, log, ref, &w, &to_end, &tm, &tm), ENDED_OK);
  assert_int_equal(replay_progress(&ri, ref), sb.st_size);
  printf("replay: %zu events and %zu undecodable messages, %lld bytes; uninterrupted run "
         "started in %.2f s, consumed in %.2f s\n",
         h.n, h.n / BAD_EVERY, (long long)sb.st_size, tm.startup, tm.took);

  /* Chosen points cannot miss: each leaves work for the next. */
  assert_true(crash_and_restart(c, "replay", spawn_replay, &ri, got, &w, replay_plan, &tm) >= 6);

  snprintf(a, sizeof a, "%s/replay-uninterrupted.json", c->dir);
  snprintf(b, sizeof b, "%s/replay-crashed.json", c->dir);
  snapshot_json(c, ref, a);
  snapshot_json(c, got, b);
  expect_same_files(a, b);
  struct table_counts t;
  compare_stores(ref, got, &t);
  print_tables(&t);
  assert_int_equal(t.entries[9], 2); /* two LAs' snapshots */
  assert_int_equal(t.outbox, 0);     /* replay's end flushes and clears the outbox */

  /* The file sink's streams. Replay resumes at the batch boundary it
   * committed, so even the snapshots are the uninterrupted run's. */
  static const char *const topics[] = {TOPIC_INDICATORS, TOPIC_ALERTS, TOPIC_QUALITY, TOPIC_DLQ};
  char ref_out[600], got_out[600];
  snprintf(ref_out, sizeof ref_out, "%s/out", ref);
  snprintf(got_out, sizeof got_out, "%s/out", got);
  for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
    struct stream rs = {0}, gs = {0};
    read_sink_file(ref_out, topics[i], &rs);
    read_sink_file(got_out, topics[i], &gs);
    compare_streams(topics[i], &rs, &gs, 1);
    if (i == 0)
      expect_last_is_stored(got, &gs);
    if (i == 3)
      assert_int_equal(rs.n, h.n / BAD_EVERY);
    stream_free(&rs);
    stream_free(&gs);
  }
}

/* ---- run, on the mock cluster ----------------------------------------------------------- */

struct cluster {
  rd_kafka_t *producer; /* owns the mock cluster (test.mock.num.brokers) */
  char bootstraps[256];
  const char *pop;
  int64_t end[2]; /* per partition of csc.events.v1: offset after the last message */
  size_t delivered, failed, events;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct cluster *k = opaque;
  if (m->err || m->partition < 0 || m->partition > 1) {
    k->failed++;
    return;
  }
  k->delivered++;
  if (m->offset + 1 > k->end[m->partition])
    k->end[m->partition] = m->offset + 1;
}

static void cluster_start(struct cluster *k, const char *pop) {
  char err[512];
  memset(k, 0, sizeof *k);
  k->pop = pop;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err), RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, k);
  k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(k->producer);
  rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(k->producer);
  assert_non_null(mock);
  snprintf(k->bootstraps, sizeof k->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock));
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_EVENTS, 2, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_INDICATORS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_ALERTS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_QUALITY, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_DLQ, 1, 1), 0);
}

static void cluster_stop(struct cluster *k) {
  rd_kafka_flush(k->producer, 5000);
  rd_kafka_destroy(k->producer);
  k->producer = NULL;
}

static int produce_one(struct cluster *k, const char *key, const void *value, size_t len) {
  for (int tries = 0; tries < 1000; tries++) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        k->producer, RD_KAFKA_V_TOPIC(TOPIC_EVENTS), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      return CSC_OK;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return CSC_EKAFKA;
    rd_kafka_poll(k->producer, 10);
  }
  return CSC_EKAFKA;
}

static int produce_event(void *ctx, const CaseEvent *ev) {
  struct cluster *k = ctx;
  uint8_t buf[4096];
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  if (n > sizeof buf)
    return CSC_EINVAL;
  cscflow__v1__case_event__pack(ev, buf);
  int rc = produce_one(k, ev->la_code, buf, n);
  if (rc == CSC_OK && ++k->events % BAD_EVERY == 0)
    rc = produce_one(k, ev->la_code, bad_message, sizeof bad_message - 1);
  return rc;
}

/* Produces the history to csc.events.v1, keyed by LA, and waits for every
 * delivery. Returns the number of messages. */
static size_t produce_history(struct cluster *k, const struct gen_options *o) {
  assert_int_equal(gen_run(o, produce_event, k), CSC_OK);
  assert_int_equal(rd_kafka_flush(k->producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(k->failed, 0);
  assert_int_equal(k->delivered, k->events + k->events / BAD_EVERY);
  return k->delivered;
}

/* Reads all of partition 0 of topic into s. */
static void read_topic(const struct cluster *k, const char *topic, struct stream *s) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *props[][2] = {{"bootstrap.servers", k->bootstraps},
                            {"group.id", "crash-test-reader"},
                            {"enable.auto.commit", "false"},
                            {"fetch.wait.max.ms", "10"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    assert_int_equal(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err),
                     RD_KAFKA_CONF_OK);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  assert_non_null(rk);
  rd_kafka_poll_set_consumer(rk);
  int64_t lo = -1, hi = -1;
  assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 5000),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  if (lo != 0) /* the mock keeps ~5 MiB a partition */
    fail_msg("%s: the mock dropped the first %lld messages (keep the history small)", topic,
             (long long)lo);
  if (hi > lo) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = lo;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    const double deadline = test_now_s() + 30.0;
    int64_t next = lo;
    for (int i = 0; i < 100000 && next < hi && test_now_s() < deadline; i++) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
      if (m == NULL)
        continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        assert_int_equal(m->offset, next);
        stream_add_kafka(s, m);
        next = m->offset + 1;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  assert_int_equal((int64_t)s->n, hi - lo);
}

/* Messages of csc.events.v1 the state has consumed, over both partitions. */
static int64_t run_progress(const void *ctx, const char *state) {
  const struct cluster *k = ctx;
  int64_t n = 0;
  for (int32_t p = 0; p < 2; p++)
    if (k->end[p] > 0)
      n += stored_position(state, TOPIC_EVENTS, p);
  return n;
}

/* A config of its own per start: a new group.id each time (the mock keeps a
 * killed member's group ~44 s). */
static pid_t spawn_run(struct crash *c, const void *ctx, const char *state, int start,
                       const char *kill_at, char *log, size_t loglen) {
  const struct cluster *k = ctx;
  char conf[600];
  mkdir(state, 0750);
  snprintf(conf, sizeof conf, "%s/run-%d.conf", state, start);
  snprintf(log, loglen, "%s/run-%d.log", state, start);
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f,
          "bootstrap.servers=%s\n"
          "consumer.group.id=crash-%d-%s-%d\n"
          "consumer.fetch.wait.max.ms=10\n"
          "producer.linger.ms=1\n"
          "cscflow.state.dir=%s\n"
          "cscflow.clock=replay\n"
          "cscflow.batch.max=" BATCH "\n"
          "cscflow.batch.ms=20\n"
          "cscflow.population.file=%s\n",
          k->bootstraps, (int)getpid(), strrchr(state, '/') + 1, start, state, k->pop);
  assert_int_equal(fclose(f), 0);
  char *const argv[] = {(char *)c->cscflow, "run", "--config", conf, NULL};
  return spawn(c->cscflow, argv, kill_at, log, NULL);
}

/* The mock holds a group's first join ~3 s: "EARLY" kills mostly land in it. */
static const struct start run_plan[MAX_KILLS] = {
    {"commit:2", TO_END},   {"committed:3", TO_END}, {"publish:3", TO_END},
    {"publish:20", TO_END}, {"commit:1", TO_END},    {NULL, EARLY},
    {NULL, RANDOM},         {NULL, RANDOM},          {NULL, RANDOM},
    {NULL, RANDOM}};

static void read_outputs(const struct cluster *k, struct stream out[4]) {
  static const char *const topics[] = {TOPIC_INDICATORS, TOPIC_ALERTS, TOPIC_QUALITY, TOPIC_DLQ};
  for (size_t i = 0; i < 4; i++)
    read_topic(k, topics[i], &out[i]);
}

static void test_run_killed(void **state) {
  struct crash *c = *state;
  char pop[512], ref[512], got[512], a[512], b[512], log[512];
  snprintf(pop, sizeof pop, "%s/run-population.csv", c->dir);
  snprintf(ref, sizeof ref, "%s/run-uninterrupted", c->dir);
  snprintf(got, sizeof got, "%s/run-crashed", c->dir);
  struct gen_options o;
  gen_opts(&o, 1);
  write_population(&o, pop);
  struct stream ref_out[4] = {{0}}, got_out[4] = {{0}};

  /* The uninterrupted run, on a cluster of its own. */
  struct cluster k;
  cluster_start(&k, pop);
  const size_t messages = produce_history(&k, &o);
  const size_t bad = k.events / BAD_EVERY;
  struct work w = {run_progress, &k, (int64_t)messages, 1};
  static const struct start to_end = {NULL, TO_END};
  struct timing tm = {0, 0};
  const pid_t pid = spawn_run(c, &k, ref, 0, NULL, log, sizeof log);
  assert_int_equal(drive(c, pid, log, ref, &w, &to_end, &tm, &tm), ENDED_OK);
  printf("run: %zu events and %zu undecodable messages; uninterrupted run started in %.2f s, "
         "consumed in %.2f s\n",
         messages - bad, bad, tm.startup, tm.took);
  read_outputs(&k, ref_out);
  cluster_stop(&k);

  /* Killed and restarted, on a new cluster fed the same history. */
  cluster_start(&k, pop);
  assert_int_equal(produce_history(&k, &o), messages);
  assert_true(crash_and_restart(c, "run", spawn_run, &k, got, &w, run_plan, &tm) >= 5);
  read_outputs(&k, got_out);
  cluster_stop(&k);

  snprintf(a, sizeof a, "%s/run-uninterrupted.json", c->dir);
  snprintf(b, sizeof b, "%s/run-crashed.json", c->dir);
  snapshot_json(c, ref, a);
  snapshot_json(c, got, b);
  expect_same_files(a, b);
  struct table_counts t;
  compare_stores(ref, got, &t);
  print_tables(&t);
  assert_int_equal(t.entries[9], 1); /* one LA's snapshot */
  assert_int_equal(t.outbox, 0); /* a stop by SIGTERM flushes and clears the outbox */

  /* Batch boundaries move with timing in run: snapshots must only repeat
   * exactly and end on the uninterrupted run's. */
  static const char *const topics[] = {TOPIC_INDICATORS, TOPIC_ALERTS, TOPIC_QUALITY, TOPIC_DLQ};
  for (size_t i = 0; i < 4; i++) {
    compare_streams(topics[i], &ref_out[i], &got_out[i], i != 0);
    if (i == 0)
      expect_last_is_stored(got, &got_out[0]);
    if (i == 3)
      assert_int_equal(ref_out[i].n, bad);
    stream_free(&ref_out[i]);
    stream_free(&got_out[i]);
  }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* ---- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_crash PATH-TO-cscflow\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* in order with cmocka's messages */
  struct crash c = {argv[1], "", 0, 0};
  const char *seed = getenv("CSCFLOW_TEST_SEED");
  c.rng = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
  printf("test_crash: seed %llu (CSCFLOW_TEST_SEED=N draws the same delays)\n",
         (unsigned long long)c.rng);
  test_tmpdir(c.dir, sizeof c.dir, "crash");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_prestate(test_replay_killed, &c),
      cmocka_unit_test_prestate(test_run_killed, &c),
  };
  const int failed = cmocka_run_group_tests(tests, NULL, NULL);
  printf("test_crash: %d SIGKILLs survived in all\n", c.kills);
  if (failed == 0)
    nftw(c.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return failed;
}
