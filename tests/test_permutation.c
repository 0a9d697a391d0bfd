/*
 * test_permutation.c — the "done when": replaying a generated history
 * with --mess 0.05 twice, and once with the events of each child shuffled,
 * gives identical snapshots.
 *
 * One messy history (2 LAs, 2 years, scale 0.15, mess 0.05: ~45k events with
 * back-dated events, duplicates, supersessions, retractions, overlapping
 * plans, unknown codes and bad dates) is generated in process and replayed
 * through the whole engine (CLOCK_REPLAY, file sink) into fresh state stores:
 *
 *   - twice with the same batch size: every output stream (snapshots, alerts,
 *     findings) and every stored table that the outputs come from is byte for
 *     byte the same;
 *   - with each child's events shuffled among that child's positions
 *     (gen_shuffle_children, three seeds): the streams may differ (alerts and
 *     findings can be raised and withdrawn on the way), but the end state may
 *     not: each LA's final stored snapshot, every child's derived record
 *     (facts, alert candidates, findings) and the set of alerts whose last
 *     status is RAISED are byte for byte those of the unshuffled replay;
 *   - with other batch sizes: the same end state.
 *
 * The history is checked to be messy (supersessions, retractions and
 * duplicates present, alerts raised, findings counted) and the shuffles to
 * differ from it, so that none of this can pass vacuously.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "gen/gen.h"
#include "tests/testutil.h"

#define BATCH 500

/* ---- files and directories ------------------------------------------------------ */

/* The whole file at path (malloc'd), or NULL with *len 0 when it is absent. */
static uint8_t *slurp(const char *path, size_t *len) {
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  const long n = ftell(f);
  assert_true(n >= 0);
  assert_int_equal(fseek(f, 0, SEEK_SET), 0);
  uint8_t *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void write_file(const char *path, const uint8_t *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* Removes dir and everything under it (a state store and its out/ folder). */
static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
      remove_tree(path);
    else
      unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

/* ---- the history ---------------------------------------------------------------- */

struct history {
  char dir[256], path[320], population[320];
  uint8_t *data;
  size_t len;
  size_t n_events, n_supersedes, n_retracts;
  struct gen_stats stats;
  struct population pop;
};

struct gen_ctx {
  FILE *f;
  struct history *h;
};

static int emit(void *vctx, const Cscflow__V1__CaseEvent *ev) {
  struct gen_ctx *c = vctx;
  c->h->n_events++;
  if (ev->supersedes_event_id[0] != '\0')
    c->h->n_supersedes++;
  if (ev->retracts_event_id[0] != '\0')
    c->h->n_retracts++;
  return ingest_write_delimited(c->f, ev);
}

static void options(struct gen_options *o, double mess) {
  gen_options_default(o);
  o->seed = 20240401;
  o->n_las = 2;
  o->years = 2;
  o->scale = 0.15;
  o->mess = mess;
}

/* The history (generated with mess, in directory name). */
static void make_history(struct history *h, const char *name, double mess) {
  memset(h, 0, sizeof *h);
  test_tmpdir(h->dir, sizeof h->dir, name);
  snprintf(h->path, sizeof h->path, "%s/history.bin", h->dir);
  snprintf(h->population, sizeof h->population, "%s/population.csv", h->dir);
  struct gen_options o;
  options(&o, mess);

  /* The delimited history into memory, then to its file. */
  char *mem = NULL;
  size_t mem_len = 0;
  struct gen_ctx c = {open_memstream(&mem, &mem_len), h};
  assert_non_null(c.f);
  assert_int_equal(gen_run_stats(&o, emit, &c, &h->stats), CSC_OK);
  assert_int_equal(fclose(c.f), 0);
  h->data = (uint8_t *)mem;
  h->len = mem_len;
  write_file(h->path, h->data, h->len);

  /* The population table the generator assumed, through the CSV loader. */
  FILE *pf = fopen(h->population, "w");
  assert_non_null(pf);
  assert_int_equal(gen_write_population(&o, pf), CSC_OK);
  assert_int_equal(fclose(pf), 0);
  char err[512];
  population_init(&h->pop);
  assert_int_equal(population_load_csv(&h->pop, h->population, err, sizeof err), CSC_OK);
  assert_true(h->pop.n >= 2 * 2); /* 2 LAs, calendar years 2021..2023 */
}

/* ---- a replay ------------------------------------------------------------------- */

struct run {
  char dir[256], out[320];
  struct engine_stats stats;
};

/* group: the engine's group_by_subject (cscflow replay's way). */
/* How a replay runs: the engine's options the tests vary. */
struct replay_way {
  size_t batch;
  int group;          /* group_by_subject (cscflow replay --batch's way) */
  int backfill;       /* into an empty state, a backfill (cscflow replay's way) */
  size_t segment;     /* backfill_segment (0: the default) */
  int no_scratch;     /* a directory where the backfill's first bucket file would go,
                         so that the fold reads the input in place */
  size_t bucket_bytes; /* backfill_bucket_bytes (0: the default) */
};

static void replay_way(struct run *r, const struct history *h, const char *name,
                       const char *input, const struct replay_way *w) {
  char err[512];
  memset(r, 0, sizeof *r);
  test_tmpdir(r->dir, sizeof r->dir, name);
  snprintf(r->out, sizeof r->out, "%s/out", r->dir);
  assert_int_equal(mkdir(r->out, 0750), 0);
  if (w->no_scratch) {
    char scratch[400];
    snprintf(scratch, sizeof scratch, "%s/backfill.bucket.0", r->dir);
    assert_int_equal(mkdir(scratch, 0750), 0);
  }
  struct sink *sink;
  assert_int_equal(sink_file_open(r->out, &sink), CSC_OK);
  struct engine *e;
  struct engine_options eo = {r->dir, CLOCK_REPLAY, &h->pop, sink, w->batch, 0};
  eo.group_by_subject = w->group;
  eo.backfill = w->backfill;
  eo.backfill_segment = w->segment;
  eo.backfill_bucket_bytes = w->bucket_bytes;
  eo.reset_unfinished_backfill = 1;
  assert_int_equal(engine_open(&eo, &e, err, sizeof err), CSC_OK);
  volatile sig_atomic_t stop = 0;
  assert_int_equal(engine_replay_file(e, input, &stop), CSC_OK);
  r->stats = *engine_stats(e);
  engine_close(e);
  sink->destroy(sink);
  assert_int_equal(r->stats.consumed, h->n_events);
  assert_int_equal(r->stats.dead_lettered, 0);
}

static void replay_as(struct run *r, const struct history *h, const char *name, const char *input,
                      size_t batch, int group) {
  const struct replay_way w = {batch, group, 0, 0, 0, 0};
  replay_way(r, h, name, input, &w);
}

/* A replay as cscflow replay runs it into an empty state: a backfill
 * (engine/backfill.c), in segments of `segment` records and gather buckets
 * of `bucket_bytes` (0: the defaults). */
static void backfill_as(struct run *r, const struct history *h, const char *name,
                        const char *input, size_t segment, int no_scratch, size_t bucket_bytes) {
  const struct replay_way w = {BATCH, 1, 1, segment, no_scratch, bucket_bytes};
  replay_way(r, h, name, input, &w);
}

static void replay(struct run *r, const struct history *h, const char *name, const char *input,
                   size_t batch) {
  replay_as(r, h, name, input, batch, 0);
}

static struct store *open_store(const struct run *r) {
  char err[512];
  struct store *st;
  const int rc = store_open(r->dir, 1, &st, err, sizeof err);
  if (rc != CSC_OK) {
    print_error("store %s: %s\n", r->dir, err);
    fail();
  }
  return st;
}

/* ---- what a replay leaves ----------------------------------------------------- */

/* Byte blobs with a name, in order. */
struct blob {
  char name[160];
  uint8_t *data;
  size_t len;
};

struct blobs {
  struct blob *v;
  size_t n, cap;
};

static void blobs_add(struct blobs *b, const char *name, size_t name_len, const void *data,
                      size_t len) {
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 256;
    b->v = realloc(b->v, b->cap * sizeof *b->v);
    assert_non_null(b->v);
  }
  struct blob *x = &b->v[b->n++];
  memset(x->name, 0, sizeof x->name);
  assert_true(name_len + 2 <= sizeof x->name); /* room for a NUL after each part */
  memcpy(x->name, name, name_len);
  x->data = malloc(len ? len : 1);
  assert_non_null(x->data);
  if (len)
    memcpy(x->data, data, len);
  x->len = len;
}

static void blobs_free(struct blobs *b) {
  for (size_t i = 0; i < b->n; i++)
    free(b->v[i].data);
  free(b->v);
  memset(b, 0, sizeof *b);
}

/* The name of the first entry that differs, so that a failure says where. */
static void blobs_expect_equal(const struct blobs *a, const struct blobs *b, const char *what) {
  for (size_t i = 0; i < a->n && i < b->n; i++) {
    const struct blob *x = &a->v[i], *y = &b->v[i];
    if (memcmp(x->name, y->name, sizeof x->name) != 0 || x->len != y->len ||
        memcmp(x->data, y->data, x->len) != 0) {
      /* NUL bytes separate the LA from the rest of a key: print both parts. */
      print_error("%s differ at entry %zu: %s/%s (%zu bytes) vs %s/%s (%zu bytes)\n", what, i,
                  x->name, x->name + strlen(x->name) + 1, x->len, y->name,
                  y->name + strlen(y->name) + 1, y->len);
      fail();
    }
  }
  if (a->n != b->n) {
    print_error("%s: %zu entries vs %zu\n", what, a->n, b->n);
    fail();
  }
}

/* Each LA's stored snapshot, through snapshot_each, packed again. */
static int collect_snapshot(void *ctx, const IndicatorSnapshot *snap) {
  struct blobs *b = ctx;
  const size_t len = cscflow__v1__indicator_snapshot__get_packed_size(snap);
  uint8_t *buf = malloc(len ? len : 1);
  assert_non_null(buf);
  cscflow__v1__indicator_snapshot__pack(snap, buf);
  blobs_add(b, snap->la_code, strlen(snap->la_code), buf, len);
  free(buf);
  return CSC_OK;
}

static void snapshots(const struct run *r, struct blobs *b) {
  struct store *st = open_store(r);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, NULL, collect_snapshot, b), CSC_OK);
  mdb_txn_abort(txn);
  store_close(st);
  assert_int_equal(b->n, 2); /* one per LA */
}

/* Every entry of one table of the store (dbi picks it from the struct). */
static void table(const struct run *r, size_t dbi_offset, struct blobs *b) {
  struct store *st = open_store(r);
  const MDB_dbi dbi = *(const MDB_dbi *)((const char *)st + dbi_offset);
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
  int rc;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    blobs_add(b, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
  assert_int_equal(rc, MDB_NOTFOUND);
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  store_close(st);
}

/* The ids of the alerts whose last published status is RAISED (the alerts
 * table holds the last message published per id), in id order. */
static void raised_alerts(const struct run *r, struct blobs *b) {
  struct blobs all = {0};
  table(r, offsetof(struct store, alerts), &all);
  for (size_t i = 0; i < all.n; i++) {
    Alert *a = cscflow__v1__alert__unpack(NULL, all.v[i].len, all.v[i].data);
    assert_non_null(a);
    if (a->status == CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED)
      blobs_add(b, a->alert_id, strlen(a->alert_id), NULL, 0);
    cscflow__v1__alert__free_unpacked(a, NULL);
  }
  blobs_free(&all);
}

/* The final snapshots, derived records and raised alerts of two replays are
 * the same. */
static void expect_same_end_state(const struct run *a, const struct run *b) {
  struct blobs x = {0}, y = {0};
  snapshots(a, &x);
  snapshots(b, &y);
  blobs_expect_equal(&x, &y, "final snapshots");
  blobs_free(&x);
  blobs_free(&y);

  table(a, offsetof(struct store, derived), &x);
  table(b, offsetof(struct store, derived), &y);
  assert_true(x.n > 1000); /* every child (and nothing else) has one */
  blobs_expect_equal(&x, &y, "derived records");
  blobs_free(&x);
  blobs_free(&y);

  raised_alerts(a, &x);
  raised_alerts(b, &y);
  assert_true(x.n > 0);
  blobs_expect_equal(&x, &y, "raised alerts");
  blobs_free(&x);
  blobs_free(&y);

  assert_int_equal(a->stats.applied, b->stats.applied);
  assert_int_equal(a->stats.duplicates, b->stats.duplicates);
}

static void expect_same_file(const struct run *a, const struct run *b, const char *topic) {
  char pa[400], pb[400];
  snprintf(pa, sizeof pa, "%s/%s.bin", a->out, topic);
  snprintf(pb, sizeof pb, "%s/%s.bin", b->out, topic);
  size_t la, lb;
  uint8_t *x = slurp(pa, &la), *y = slurp(pb, &lb);
  if (la != lb || (la && memcmp(x, y, la) != 0)) {
    print_error("%s: %zu bytes vs %zu\n", topic, la, lb);
    fail();
  }
  free(x);
  free(y);
}

/* Messages in a sink file. */
static size_t count_records(const struct run *r, const char *topic) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.bin", r->out, topic);
  size_t len, pos = 0, n = 0;
  uint8_t *buf = slurp(path, &len);
  struct sink_record rec;
  int rc;
  while ((rc = sink_file_read_record(buf, len, &pos, &rec)) == CSC_OK)
    n++;
  assert_int_equal(rc, CSC_ENOTFOUND);
  free(buf);
  return n;
}

/* ---- the fixture: the history and its unshuffled replay, made once ------------- */

struct world {
  struct history h;
  struct run base;
};

static int setup(void **state) {
  static struct world w;
  make_history(&w.h, "perm", 0.05);
  replay(&w.base, &w.h, "perm-base", w.h.path, BATCH);
  *state = &w;
  return 0;
}

static int teardown(void **state) {
  struct world *w = *state;
  remove_tree(w->base.dir);
  remove_tree(w->h.dir);
  free(w->h.data);
  population_free(&w->h.pop);
  return 0;
}

/* ---- the tests -------------------------------------------------------------------- */

/* The history has what the other tests need to mean something. */
static void test_history_is_messy(void **state) {
  const struct world *w = *state;
  const struct history *h = &w->h;
  assert_true(h->n_events > 20000);
  assert_true(h->n_supersedes > 50);
  assert_true(h->n_retracts > 50);
  assert_true(h->stats.mess[GEN_MESS_DUPLICATE] > 50);
  assert_true(h->stats.mess[GEN_MESS_BACKDATED] > 50);
  assert_true(h->stats.mess[GEN_MESS_OVERLAP] > 0);
  /* Every duplicate the generator sent (and recorded in time) is caught. */
  assert_true(w->base.stats.duplicates > 50);
  assert_int_equal(w->base.stats.applied + w->base.stats.duplicates, h->n_events);
  /* Alerts raised (and some withdrawn by corrections), findings published. */
  assert_true(count_records(&w->base, TOPIC_ALERTS) > 100);
  assert_true(count_records(&w->base, TOPIC_QUALITY) > 100);
  assert_true(count_records(&w->base, TOPIC_INDICATORS) > 0);

  /* Findings counted in the final snapshots: some rules have open findings. */
  struct blobs s = {0};
  snapshots(&w->base, &s);
  uint64_t findings = 0;
  for (size_t i = 0; i < s.n; i++) {
    IndicatorSnapshot *snap = cscflow__v1__indicator_snapshot__unpack(NULL, s.v[i].len, s.v[i].data);
    assert_non_null(snap);
    assert_int_equal(snap->n_quality, Q_RULE_COUNT);
    for (size_t q = 0; q < snap->n_quality; q++)
      findings += snap->quality[q]->count;
    cscflow__v1__indicator_snapshot__free_unpacked(snap, NULL);
  }
  blobs_free(&s);
  assert_true(findings > 10);

  struct blobs raised = {0};
  raised_alerts(&w->base, &raised);
  assert_true(raised.n > 50);
  blobs_free(&raised);
}

/* The same file twice, the same batch size: the same bytes out, the same
 * tables. */
static void test_replay_twice_is_identical(void **state) {
  const struct world *w = *state;
  struct run again;
  replay(&again, &w->h, "perm-again", w->h.path, BATCH);
  expect_same_file(&w->base, &again, TOPIC_INDICATORS);
  expect_same_file(&w->base, &again, TOPIC_ALERTS);
  expect_same_file(&w->base, &again, TOPIC_QUALITY);
  expect_same_file(&w->base, &again, TOPIC_DLQ);
  expect_same_end_state(&w->base, &again);
  /* Everything the outputs come from, not only the end state. */
  static const size_t tables[] = {offsetof(struct store, snapshots), offsetof(struct store, alerts),
                                  offsetof(struct store, aggs), offsetof(struct store, calendar),
                                  offsetof(struct store, alertcal), offsetof(struct store, las)};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    struct blobs x = {0}, y = {0};
    table(&w->base, tables[i], &x);
    table(&again, tables[i], &y);
    blobs_expect_equal(&x, &y, "tables");
    blobs_free(&x);
    blobs_free(&y);
  }
  remove_tree(again.dir);
}

/* Each child's events in a random order (three seeds): the same end state. */
static void test_shuffled_children_same_end_state(void **state) {
  const struct world *w = *state;
  static const uint64_t seeds[] = {1, 77, 20250331};
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    uint8_t *shuffled;
    size_t len;
    assert_int_equal(gen_shuffle_children(w->h.data, w->h.len, seeds[i], &shuffled, &len), CSC_OK);
    assert_int_equal(len, w->h.len);
    assert_true(memcmp(shuffled, w->h.data, len) != 0); /* not vacuous */
    char path[400];
    snprintf(path, sizeof path, "%s/shuffled-%llu.bin", w->h.dir, (unsigned long long)seeds[i]);
    write_file(path, shuffled, len);
    free(shuffled);

    struct run r;
    replay(&r, &w->h, "perm-shuffled", path, BATCH);
    /* The order shows in the streams... */
    char pa[400], pb[400];
    snprintf(pa, sizeof pa, "%s/%s.bin", w->base.out, TOPIC_QUALITY);
    snprintf(pb, sizeof pb, "%s/%s.bin", r.out, TOPIC_QUALITY);
    size_t la, lb;
    uint8_t *x = slurp(pa, &la), *y = slurp(pb, &lb);
    assert_true(la != lb || memcmp(x, y, la) != 0);
    free(x);
    free(y);
    /* ...never in where they end. */
    expect_same_end_state(&w->base, &r);
    remove_tree(r.dir);
    unlink(path);
  }
}

/*
 * Other batch sizes: the stream may differ (one snapshot per batch), the end
 * state may not. (Batch 1 gives the same end state too, but costs a synced
 * LMDB commit per event: ~25 s for this history on a plain build. 61 and 997
 * split the stream at other events than 500 does, in small and large
 * batches, in about a second each.)
 */
static void test_batch_size_same_end_state(void **state) {
  const struct world *w = *state;
  static const size_t sizes[] = {61, 997};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    struct run r;
    replay(&r, &w->h, "perm-batch", w->h.path, sizes[i]);
    assert_true(r.stats.batches != w->base.stats.batches);
    expect_same_end_state(&w->base, &r);
    remove_tree(r.dir);
  }
}

/*
 * Batches applied child by child (each child folded once per batch, as
 * cscflow replay does): the end state of the event-by-event run, for small
 * and large batches, with the shuffled file too; and the same bytes out
 * when the same file is replayed twice this way.
 */
static void test_grouped_same_end_state(void **state) {
  const struct world *w = *state;
  static const size_t sizes[] = {61, 997, 100000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    struct run r;
    replay_as(&r, &w->h, "perm-group", w->h.path, sizes[i], 1);
    assert_int_equal(r.stats.applied, w->base.stats.applied);
    assert_int_equal(r.stats.duplicates, w->base.stats.duplicates);
    expect_same_end_state(&w->base, &r);
    remove_tree(r.dir);
  }
}

/* Each subject's history as one blob: its chunks' events concatenated in
 * chunk order (how a batch cuts them into chunks is the path's, not the
 * history's). */
static void histories(const struct run *r, struct blobs *out) {
  struct blobs chunks = {0};
  table(r, offsetof(struct store, history), &chunks);
  for (size_t i = 0; i < chunks.n; i++) {
    const struct blob *c = &chunks.v[i];
    /* name: la\0 subject\0 chunk (4 bytes); the subject's key without it */
    const size_t la_len = strlen(c->name), subject_len = strlen(c->name + la_len + 1);
    const size_t key_len = la_len + 1 + subject_len + 1;
    struct blob *last = out->n ? &out->v[out->n - 1] : NULL;
    if (last && memcmp(last->name, c->name, key_len) == 0 && last->name[key_len] == '\0') {
      last->data = realloc(last->data, last->len + c->len);
      assert_non_null(last->data);
      memcpy(last->data + last->len, c->data, c->len);
      last->len += c->len;
    } else {
      blobs_add(out, c->name, key_len, c->data, c->len);
    }
  }
  blobs_free(&chunks);
}

/* Every table that holds what was computed is the same in two states:
 * histories (as event sequences), derived records, aggregates, calendars,
 * the ledger, the allocation index, the LAs, the stored snapshots and the
 * raised alerts. Not compared: the outbox and the status (what was
 * published and when), and the alerts table's withdrawn entries (an alert
 * raised and withdrawn within a backfill is never published). */
static void expect_same_computed_state(const struct run *a, const struct run *b) {
  static const struct {
    size_t dbi;
    const char *name;
  } tables[] = {{offsetof(struct store, derived), "derived"},
                {offsetof(struct store, aggs), "aggs"},
                {offsetof(struct store, calendar), "calendar"},
                {offsetof(struct store, ledger), "ledger"},
                {offsetof(struct store, alertcal), "alertcal"},
                {offsetof(struct store, allocidx), "allocidx"},
                {offsetof(struct store, las), "las"},
                {offsetof(struct store, snapshots), "snapshots"}};
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    struct blobs x = {0}, y = {0};
    table(a, tables[i].dbi, &x);
    table(b, tables[i].dbi, &y);
    assert_true(x.n > 0); /* not vacuous */
    blobs_expect_equal(&x, &y, tables[i].name);
    blobs_free(&x);
    blobs_free(&y);
  }
  struct blobs x = {0}, y = {0};
  histories(a, &x);
  histories(b, &y);
  assert_true(x.n > 1000);
  blobs_expect_equal(&x, &y, "histories");
  blobs_free(&x);
  blobs_free(&y);
  expect_same_end_state(a, b);
}

/*
 * The equivalence: a backfill of a messy shuffled history (every
 * child folded once, in key order) leaves every table that holds what was
 * computed byte for byte as the streaming path (event by event, batches of
 * 500) leaves it from the same file; in one segment and in many. What a
 * backfill publishes differs, by design (DESIGN, Two paths): one snapshot
 * per LA, and of the alerts only those still raised.
 */
static void test_backfill_same_state(void **state) {
  const struct world *w = *state;
  uint8_t *shuffled;
  size_t len;
  assert_int_equal(gen_shuffle_children(w->h.data, w->h.len, 99, &shuffled, &len), CSC_OK);
  char path[400];
  snprintf(path, sizeof path, "%s/shuffled-backfill.bin", w->h.dir);
  write_file(path, shuffled, len);
  free(shuffled);

  struct run streamed, filled, segmented;
  replay(&streamed, &w->h, "perm-bf-stream", path, BATCH);
  /* Buckets of a sixteenth of the file: the fold crosses from one to the
   * next about 16 times. */
  backfill_as(&filled, &w->h, "perm-bf", path, 0, 0, len / 16 + 1);
  assert_int_equal(filled.stats.applied, streamed.stats.applied);
  assert_int_equal(filled.stats.duplicates, streamed.stats.duplicates);
  expect_same_computed_state(&streamed, &filled);
  /* One snapshot per LA, not one per batch. */
  assert_int_equal(count_records(&filled, TOPIC_INDICATORS), 2);
  assert_true(count_records(&streamed, TOPIC_INDICATORS) > 2);
  /* Alerts: the ones still raised, not those raised and withdrawn. */
  struct blobs raised = {0};
  raised_alerts(&filled, &raised);
  assert_int_equal(count_records(&filled, TOPIC_ALERTS), raised.n);
  assert_true(count_records(&streamed, TOPIC_ALERTS) > raised.n);
  blobs_free(&raised);

  /* Segments of 5,000 records (~9 of them): each folds into what the
   * earlier left, as batches do; the same state. With no bucket file
   * (the fold reads the input in place), too. */
  backfill_as(&segmented, &w->h, "perm-bf-seg", path, 5000, 1, 0);
  assert_true(segmented.stats.batches > filled.stats.batches);
  expect_same_computed_state(&streamed, &segmented);
  remove_tree(segmented.dir);
  /* Segments, each gathered into buckets of a hundredth of the file (a
   * segment of 5,000 records spans about 5 of them). */
  backfill_as(&segmented, &w->h, "perm-bf-seg-buckets", path, 5000, 0, len / 100 + 1);
  expect_same_computed_state(&streamed, &segmented);

  remove_tree(streamed.dir);
  remove_tree(filled.dir);
  remove_tree(segmented.dir);
  unlink(path);
}

/*
 * The resumable fold (state/fold_resume.h) on generated histories of every
 * kind of event: a history without mess (so that its children's folds can
 * start from the day the last one reached: no corrections, few back-dated
 * events) streamed event by event, each event folding its child from the
 * cache's checkpoint where it can, leaves every computed table as a
 * backfill (each child folded whole, once) leaves it.
 */
static void test_resumed_folds_same_state(void **state) {
  (void)state;
  struct history clean;
  make_history(&clean, "perm-clean", 0);
  struct run streamed, filled;
  replay(&streamed, &clean, "perm-resume-stream", clean.path, BATCH);
  backfill_as(&filled, &clean, "perm-resume-bf", clean.path, 0, 0, 0);
  /* Not vacuous: many folds started from a checkpoint (2026-12-04:
   * 5,216 of the 5,514 folds of cached histories). */
  assert_true(streamed.stats.folds_resumed > 1000);
  assert_true(streamed.stats.folds_resumed < streamed.stats.folds_cached);
  assert_int_equal(filled.stats.folds_resumed, 0);
  expect_same_computed_state(&streamed, &filled);
  remove_tree(streamed.dir);
  remove_tree(filled.dir);
  remove_tree(clean.dir);
  free(clean.data);
  population_free(&clean.pop);
}

/* Stops a backfill at the first commit it passes (its scan's). */
struct stop_at_commit {
  volatile sig_atomic_t *stop;
};

static void stop_after_commit(void *ctx, enum engine_fault_point point) {
  struct stop_at_commit *s = ctx;
  if (point == ENGINE_FAULT_COMMITTED)
    *s->stop = 1;
}

/*
 * A backfill stopped after its scan leaves the state marked unfinished:
 * run (reset_unfinished_backfill 0) refuses it, naming what to do; a
 * replay empties it and starts again, to the state of an uninterrupted
 * backfill; nothing of the unfinished one was published.
 */
static void test_backfill_unfinished(void **state) {
  const struct world *w = *state;
  char err[512];
  struct run r, clean;
  memset(&r, 0, sizeof r);
  test_tmpdir(r.dir, sizeof r.dir, "perm-bf-stop");
  snprintf(r.out, sizeof r.out, "%s/out", r.dir);
  assert_int_equal(mkdir(r.out, 0750), 0);
  struct sink *sink;
  assert_int_equal(sink_file_open(r.out, &sink), CSC_OK);
  volatile sig_atomic_t stop = 0;
  struct stop_at_commit hook = {&stop};
  struct engine *e;
  struct engine_options eo = {r.dir, CLOCK_REPLAY, &w->h.pop, sink, BATCH, 0};
  eo.backfill = 1;
  eo.reset_unfinished_backfill = 1;
  eo.fault = stop_after_commit;
  eo.fault_ctx = &hook;
  assert_int_equal(engine_open(&eo, &e, err, sizeof err), CSC_OK);
  assert_int_equal(engine_replay_file(e, w->h.path, &stop), CSC_OK);
  assert_int_equal(engine_stats(e)->applied, 0); /* stopped before any fold */
  engine_close(e);
  assert_int_equal(count_records(&r, TOPIC_INDICATORS), 0);

  /* run refuses the marked state. */
  eo.fault = NULL;
  eo.backfill = 0;
  eo.reset_unfinished_backfill = 0;
  assert_int_equal(engine_open(&eo, &e, err, sizeof err), CSC_ESTATE);
  assert_non_null(strstr(err, "did not finish"));

  /* replay empties it and starts again. */
  eo.backfill = 1;
  eo.reset_unfinished_backfill = 1;
  assert_int_equal(engine_open(&eo, &e, err, sizeof err), CSC_OK);
  stop = 0;
  assert_int_equal(engine_replay_file(e, w->h.path, &stop), CSC_OK);
  r.stats = *engine_stats(e);
  engine_close(e);
  sink->destroy(sink);
  backfill_as(&clean, &w->h, "perm-bf-clean", w->h.path, 0, 0, 0);
  assert_int_equal(r.stats.applied, clean.stats.applied);
  expect_same_computed_state(&clean, &r);
  assert_int_equal(count_records(&r, TOPIC_INDICATORS), 2);
  remove_tree(r.dir);
  remove_tree(clean.dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_history_is_messy),
      cmocka_unit_test(test_replay_twice_is_identical),
      cmocka_unit_test(test_shuffled_children_same_end_state),
      cmocka_unit_test(test_batch_size_same_end_state),
      cmocka_unit_test(test_grouped_same_end_state),
      cmocka_unit_test(test_backfill_same_state),
      cmocka_unit_test(test_resumed_folds_same_state),
      cmocka_unit_test(test_backfill_unfinished),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
