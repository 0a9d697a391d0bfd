/*
 * test_store.c — the store's contracts that the fast replay relies on:
 *   - an event_id already stored, or repeated within the batch, is not
 *     appended; folding n events at once leaves the same derived record as
 *     n single appends;
 *   - a history reads back as the events received, in order, whatever
 *     batches appended them (the fields a record leaves out set back, an
 *     unknown field kept), and its chunks waste no overflow page: each is
 *     a sealed chunk filling one overflow page or, at the end, small enough
 *     for a leaf page;
 *   - store_release_memory hands the map's pages back without losing any;
 *   - store_grow_early doubles the map before it is three quarters full.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/harness.h"
#include "tests/testutil.h"

static struct store *fresh_store(const char *name, size_t map_size) {
  char dir[256], err[512];
  test_tmpdir(dir, sizeof dir, name);
  struct store *st;
  assert_int_equal(store_open_sized(dir, 0, map_size, &st, err, sizeof err), CSC_OK);
  return st;
}

/* Referrals of child C on day 19000 + i, ids R<i>, packed into b. */
static void referrals(struct evs *b, const int *days, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char id[16], ref[16];
    snprintf(id, sizeof id, "R%d", days[i]);
    snprintf(ref, sizeof ref, "REF%d", days[i]);
    Cscflow__V1__CaseEvent ev = envelope(id, "C", 19000 + days[i], 19000 + days[i]);
    Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
    r.referral_id = ref;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
    ev.referral_opened = &r;
    add(b, &ev);
  }
}

/* Applies events idx[0..n) of b to the store in one transaction, committed
 * or (commit 0) aborted; returns the number appended and fills dup and the
 * derived record. */
static size_t apply_in_transaction(struct store *st, const struct evs *b, const size_t *idx,
                                   size_t n, uint8_t *dup, struct arena *a, uint8_t *derived,
                                   size_t *derived_len, int commit) {
  CaseEvent *evs[64];
  const uint8_t *pbs[64];
  size_t lens[64];
  const char *reason;
  assert_true(n <= 64);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(ingest_decode(b->data + b->off[idx[i]], b->off[idx[i] + 1] - b->off[idx[i]],
                                   a, &evs[i], &pbs[i], &lens[i], &reason),
                     CSC_OK);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
  struct child_change ch;
  assert_int_equal(history_apply_events(st, txn, evs, pbs, lens, n, NULL, a, dup, &ch), CSC_OK);
  *derived_len = derived_size(&ch.after);
  derived_write(&ch.after, derived);
  if (commit)
    assert_int_equal(mdb_txn_commit(txn), 0);
  else
    mdb_txn_abort(txn);
  return ch.appended;
}

static size_t apply_events(struct store *st, const struct evs *b, const size_t *idx, size_t n,
                           uint8_t *dup, struct arena *a, uint8_t *derived, size_t *derived_len) {
  return apply_in_transaction(st, b, idx, n, dup, a, derived, derived_len, 1);
}

/* apply_events, but the transaction is aborted: nothing of it is kept. */
static void apply_events_aborted(struct store *st, const struct evs *b, const size_t *idx,
                                 size_t n, struct arena *a) {
  static uint8_t derived[1 << 16];
  uint8_t dup[64];
  size_t len;
  assert_int_equal(apply_in_transaction(st, b, idx, n, dup, a, derived, &len, 0), n);
}

static size_t count_chunks(struct store *st) {
  MDB_txn *txn;
  MDB_stat ms;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(mdb_stat(txn, st->history, &ms), 0);
  mdb_txn_abort(txn);
  return ms.ms_entries;
}

static void chunks_append_and_dedupe(void **state) {
  (void)state;
  static const int days[] = {10, 400, 30};
  struct evs *b = calloc(1, sizeof *b);
  assert_non_null(b);
  referrals(b, days, 3);
  struct arena a;
  arena_init(&a, 1 << 16);
  static uint8_t grouped[1 << 16], single[1 << 16];
  size_t grouped_len, single_len;
  uint8_t dup[8];

  /* Two batches: [R10, R400, R10 again], then [R30, R400 again]. */
  struct store *st = fresh_store("store-chunks", 0);
  const size_t first[] = {0, 1, 0}, second[] = {2, 1};
  assert_int_equal(apply_events(st, b, first, 3, dup, &a, grouped, &grouped_len), 2);
  assert_int_equal(dup[0], 0);
  assert_int_equal(dup[1], 0);
  assert_int_equal(dup[2], 1);
  arena_reset(&a);
  assert_int_equal(apply_events(st, b, second, 2, dup, &a, grouped, &grouped_len), 1);
  assert_int_equal(dup[0], 0);
  assert_int_equal(dup[1], 1);
  assert_int_equal(count_chunks(st), 1); /* a small history is one chunk, rewritten */
  store_close(st);

  /* One event at a time: the same derived record. */
  st = fresh_store("store-single", 0);
  for (size_t i = 0; i < 3; i++) {
    arena_reset(&a);
    assert_int_equal(apply_events(st, b, &i, 1, dup, &a, single, &single_len), 1);
  }
  assert_int_equal(count_chunks(st), 1);
  assert_int_equal(single_len, grouped_len);
  assert_memory_equal(single, grouped, grouped_len);
  /* R30 is within 12 months of R10, R400 is not of R30 (370 days): the
   * record holds facts, so the comparison above compared something. */
  assert_true(grouped_len > 12);
  store_close(st);
  arena_free(&a);
  free(b);
}

/* Many new events at once (a backfill's batch) are checked for duplicates
 * by a table of ids, not a scan: the same answers, against the history and
 * within the batch. */
static void dedupe_by_table(void **state) {
  (void)state;
  int days[40];
  for (int i = 0; i < 40; i++)
    days[i] = 10 * i;
  struct evs *b = calloc(1, sizeof *b);
  assert_non_null(b);
  referrals(b, days, 40);
  struct arena a;
  arena_init(&a, 1 << 16);
  static uint8_t derived[1 << 16];
  size_t derived_len, idx[64];
  uint8_t dup[64];
  struct store *st = fresh_store("store-table", 0);

  /* Events 0..29, each of 0..9 twice in a row: 40 inputs, 30 new. */
  size_t n = 0;
  for (size_t i = 0; i < 30; i++) {
    idx[n++] = i;
    if (i < 10)
      idx[n++] = i;
  }
  assert_int_equal(apply_events(st, b, idx, n, dup, &a, derived, &derived_len), 30);
  for (size_t i = 0, k = 0; i < 30; i++) {
    assert_int_equal(dup[k++], 0);
    if (i < 10)
      assert_int_equal(dup[k++], 1);
  }
  /* Then 20..39: 20..29 are in the history, 30..39 new. */
  arena_reset(&a);
  for (n = 0; n < 20; n++)
    idx[n] = 20 + n;
  assert_int_equal(apply_events(st, b, idx, n, dup, &a, derived, &derived_len), 10);
  for (size_t i = 0; i < 20; i++)
    assert_int_equal(dup[i], i < 10);
  store_close(st);
  arena_free(&a);
  free(b);
}

/* Event i of the long history: child "C/x:1" (escaped in its key), a
 * referral with a long id, from source "sysA" but every seventh from
 * "sysB" (so that source_system is left out of some records, not others). */
static void long_history(struct evs *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char id[64], ref[64];
    snprintf(id, sizeof id, "event-%04zu-%s", i, "abcdefghijklmnopqrstuvwxyz");
    snprintf(ref, sizeof ref, "REF%zu", i);
    Cscflow__V1__CaseEvent ev = envelope(id, "C/x:1", 19000 + (int)i, 19000 + (int)i);
    ev.source_system = i % 7 == 3 ? "sysB" : "sysA";
    Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
    r.referral_id = ref;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
    ev.referral_opened = &r;
    add(b, &ev);
    if (i == 5) { /* an unknown field (99, varint 1) the history keeps */
      const uint8_t unknown[3] = {0x98, 0x06, 0x01};
      memcpy(b->data + b->len, unknown, sizeof unknown);
      b->len += sizeof unknown;
      b->off[b->n] = b->len;
    }
  }
}

/* The history's events read back are b's first n, byte for byte when
 * packed again (protobuf-c packs known fields in order, then unknown
 * ones, as the harness packed them). */
static void check_read_back(struct store *st, const struct evs *b, size_t n, struct arena *a) {
  MDB_txn *txn;
  CaseEvent **evs;
  size_t got;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(history_read_events(st, txn, LA, "C/x%3A1", a, &evs, &got), CSC_OK);
  assert_int_equal(got, n);
  static uint8_t buf[4096];
  for (size_t i = 0; i < n; i++) {
    const size_t len = cscflow__v1__case_event__get_packed_size(evs[i]);
    assert_int_equal(len, b->off[i + 1] - b->off[i]);
    assert_true(len <= sizeof buf);
    cscflow__v1__case_event__pack(evs[i], buf);
    assert_memory_equal(buf, b->data + b->off[i], len);
  }
  /* The chunks: sealed ones fill one overflow page each; the tail's fit a
   * leaf page (LMDB's largest node on a page: half a page less headers). */
  MDB_cursor *cur;
  MDB_val k, v;
  MDB_stat ms;
  assert_int_equal(mdb_cursor_open(txn, st->history, &cur), 0);
  const size_t full = st->page_size - (sizeof(size_t) + 8);
  size_t sealed = 0, chunks = 0, tail = 0, stored = 0;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), chunks++) {
    stored += v.mv_size;
    if (v.mv_size == full) {
      assert_int_equal(tail, 0); /* no sealed chunk after the tail's */
      sealed++;
    } else {
      assert_true(8 + k.mv_size + v.mv_size <= (full / 2 & ~(size_t)1) - 2);
      tail++;
    }
  }
  mdb_cursor_close(cur);
  assert_int_equal(mdb_stat(txn, st->history, &ms), 0);
  assert_int_equal(ms.ms_overflow_pages, sealed);
  assert_int_equal(ms.ms_entries, chunks);
  /* Every record but the first leaves out la_code and child_id at least
   * (2 + 9 and 2 + 5 bytes), and the stream spans pages once long. */
  if (n > 1)
    assert_true(stored + (n - 1) * (11 + 7) <= b->off[n]);
  if (n == 400)
    assert_true(sealed >= 3);
  mdb_txn_abort(txn);
}

static void history_reads_back(void **state) {
  (void)state;
  struct evs *b = calloc(1, sizeof *b);
  assert_non_null(b);
  long_history(b, 400); /* about 30 KB: several pages */
  struct arena a;
  arena_init(&a, 1 << 16);
  static uint8_t derived[1 << 16], whole[1 << 16];
  size_t derived_len, whole_len;
  uint8_t dup[8];
  struct store *st = fresh_store("store-stream", 0);
  /* Batches of 1 to 8 events, each appended to the tail; event 0 again
   * from time to time (a duplicate: nothing appended). */
  size_t next = 0;
  for (size_t batch = 0; next < b->n; batch++) {
    size_t idx[8], k = 0;
    const size_t size = 1 + batch % 8;
    for (; k < size && next < b->n; k++)
      idx[k] = next++;
    if (batch % 5 == 4 && k < 8)
      idx[k++] = 0;
    arena_reset(&a);
    apply_events(st, b, idx, k, dup, &a, derived, &derived_len);
    if (batch % 9 == 0 || next == b->n)
      check_read_back(st, b, next, &a);
  }
  store_close(st);
  /* In batches of 8: the same events read back, the same derived record. */
  st = fresh_store("store-stream-whole", 0);
  for (size_t i = 0; i < b->n; i += 8) {
    size_t idx[8], k = 0;
    for (; k < 8 && i + k < b->n; k++)
      idx[k] = i + k;
    arena_reset(&a);
    apply_events(st, b, idx, k, dup, &a, whole, &whole_len);
  }
  check_read_back(st, b, b->n, &a);
  assert_int_equal(whole_len, derived_len);
  assert_memory_equal(whole, derived, whole_len);
  store_close(st);
  arena_free(&a);
  free(b);
}

static size_t mapped_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0, shared = 0;
  assert_non_null(f);
  assert_int_equal(fscanf(f, "%lu %lu %lu", &size, &resident, &shared), 3);
  fclose(f);
  return shared * 4;
}

/* Reads the 4096 values of release_keeps_every_page back, byte for byte
 * (which maps their pages). */
static void read_back(struct store *st) {
  static uint8_t value[4096];
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  for (uint32_t i = 0; i < 4096; i++) {
    uint8_t kb[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
    MDB_val k = {4, kb}, v;
    assert_int_equal(mdb_get(txn, st->meta, &k, &v), 0);
    assert_int_equal(v.mv_size, sizeof value);
    memset(value, (int)(i & 0xff), sizeof value);
    assert_memory_equal(v.mv_data, value, sizeof value);
  }
  mdb_txn_abort(txn);
}

/* 16 MiB of values, read back after the release byte for byte. The writer
 * writes its pages with write(2), not through the map (no MDB_WRITEMAP), so
 * a first read is what maps them. */
/* The cache of decoded long histories (state/history_cache.h) follows the
 * store: a history appended to one event at a time through the cache reads
 * back and derives as one built without it, though one of its transactions
 * was aborted after the cache had taken its event, and two events were
 * appended behind the cache's back. */
static void cached_history_follows_the_store(void **state) {
  (void)state;
  struct evs *b = calloc(1, sizeof *b);
  assert_non_null(b);
  long_history(b, 302); /* 300 applied one at a time, then 300 and 301 with resends */
  struct arena a;
  arena_init(&a, 1 << 16);
  static uint8_t cached[1 << 16], plain[1 << 16];
  size_t cached_len = 0, plain_len = 0;
  uint8_t dup[8];
  struct store *st = fresh_store("store-cache", 0), *ref = fresh_store("store-cache-ref", 0);
  assert_int_equal(store_history_cache(st, 1 << 20), CSC_OK);
  for (size_t i = 0; i < 300; i++) {
    store_history_cache_trim(st); /* between transactions, as the engine does */
    arena_reset(&a);
    if (i == 100) /* the cache takes event 100, the store does not keep it */
      apply_events_aborted(st, b, &i, 1, &a);
    struct history_cache *saved = st->cache;
    if (i == 150 || i == 151)
      st->cache = NULL; /* an append the cache does not see */
    assert_int_equal(apply_events(st, b, &i, 1, dup, &a, cached, &cached_len), 1);
    st->cache = saved;
    assert_int_equal(apply_events(ref, b, &i, 1, dup, &a, plain, &plain_len), 1);
    assert_int_equal(cached_len, plain_len);
    assert_memory_equal(cached, plain, plain_len);
  }
  /* Duplicates checked by the cache's table of ids: resends of old events
   * (0, 100 once aborted, 299 the last) and the batch's own (300 twice) are
   * found; 300 and 301 are appended once, as without a cache. */
  const size_t resent[][4] = {{0, 300, 300, 299}, {100, 301, 300, 5}};
  const uint8_t dups[][4] = {{1, 0, 1, 1}, {1, 0, 1, 1}};
  for (size_t r = 0; r < 2; r++) {
    store_history_cache_trim(st);
    arena_reset(&a);
    assert_int_equal(apply_events(st, b, resent[r], 4, dup, &a, cached, &cached_len), 1);
    assert_memory_equal(dup, dups[r], 4);
    assert_int_equal(apply_events(ref, b, resent[r], 4, dup, &a, plain, &plain_len), 1);
    assert_memory_equal(dup, dups[r], 4);
    assert_int_equal(cached_len, plain_len);
    assert_memory_equal(cached, plain, plain_len);
  }
  arena_reset(&a);
  check_read_back(st, b, b->n, &a);
  uint64_t hits, stale;
  store_history_cache_stats(st, &hits, &stale);
  /* Cached when event 64 came (CACHE_MIN_EVENTS: a history of 64 read);
   * used for events 65..299 (235), the aborted 100 (236) and the two
   * batches of resends (238), but not for 150 and 151 (applied without it)
   * and not when out of date: event 100 after the abort, and 152 after the
   * two appends it did not see (each read again and cached anew). */
  assert_int_equal(stale, 2);
  assert_int_equal(hits, 238 - 2 - 2);
  store_close(st);
  store_close(ref);
  arena_free(&a);
  free(b);
}

/* One child's history for resumed_fold_equals_whole: three events a day
 * from day 19000, visits to a CP plan with a review, an assessment begun and
 * completed the next day every tenth day, another begun and completed on
 * one day, an event dated after its recording (a finding of its own
 * checks, which a whole fold lists before those of the days) and, at
 * chosen events, what a resumed fold cannot take (see the test). */
#define RESUME_EVENTS 450

/* ev becomes the start (or the completion) of assessment id of REF1. */
static void assessment_event(Cscflow__V1__CaseEvent *ev, int started, const char *id,
                             Cscflow__V1__AssessmentStarted *as,
                             Cscflow__V1__AssessmentCompleted *ac) {
  as->assessment_id = ac->assessment_id = (char *)id;
  as->referral_id = ac->referral_id = "REF1";
  if (started) {
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED;
    ev->assessment_started = as;
  } else {
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED;
    ev->assessment_completed = ac;
  }
}

static void resume_history(struct evs *b) {
  static char ids[RESUME_EVENTS][24], refs[RESUME_EVENTS][24];
  for (size_t i = 0; i < RESUME_EVENTS; i++) {
    snprintf(ids[i], sizeof ids[i], "E%04zu", i);
    const csc_date day = 19000 + (csc_date)(i / 3);
    Cscflow__V1__CaseEvent ev = envelope(ids[i], "C", day, day);
    Cscflow__V1__ChildDetails d = CSCFLOW__V1__CHILD_DETAILS__INIT;
    Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
    Cscflow__V1__CpPlanStarted p = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
    Cscflow__V1__ChildSeen v = CSCFLOW__V1__CHILD_SEEN__INIT;
    Cscflow__V1__ReviewHeld rv = CSCFLOW__V1__REVIEW_HELD__INIT;
    Cscflow__V1__AssessmentStarted as = CSCFLOW__V1__ASSESSMENT_STARTED__INIT;
    Cscflow__V1__AssessmentCompleted ac = CSCFLOW__V1__ASSESSMENT_COMPLETED__INIT;
    const size_t cycle = (i / 3) % 10;
    const int window = i > 150 && i <= 180; /* no start while the orphan end waits */
    if (i == 0 || i == 260) {
      d.date_of_birth = i == 0 ? 20150301 : 20150302; /* a correction of the birth date */
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
      ev.child_details = &d;
    } else if (i == 1) {
      r.referral_id = "REF1";
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
      ev.referral_opened = &r;
    } else if (i == 2) {
      p.plan_id = "CP1";
      p.referral_id = "REF1";
      p.initial_category = "NEG";
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
      ev.cp_plan_started = &p;
    } else if (i == 150 || i == 180) { /* completed before it was started */
      assessment_event(&ev, i == 180, "LATE", &as, &ac);
    } else if (i % 3 == 2 && (cycle == 1 || cycle == 2) && !window) {
      snprintf(refs[i], sizeof refs[i], "A%zu", (i / 3 - cycle + 1) / 10);
      assessment_event(&ev, cycle == 1, refs[i], &as, &ac);
    } else if (i % 3 != 0 && cycle == 7 && !window) { /* begun and completed one day */
      snprintf(refs[i], sizeof refs[i], "S%zu", i / 30);
      assessment_event(&ev, i % 3 == 1, refs[i], &as, &ac);
    } else if (i % 3 == 2 && cycle == 5) {
      rv.plan_id = "CP1";
      rv.kind = CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_CP;
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD;
      ev.review_held = &rv;
    } else {
      v.plan_id = "CP1";
      v.seen_alone = i % 2;
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN;
      ev.child_seen = &v;
    }
    if (i == 300) /* dated after its recording (date_after_recorded): a finding of its own */
      ev.recorded_at_ms = test_ms(day - 1);
    if (i == 200) /* recorded today, dated 30 days back */
      ev.occurred_on = date_to_yyyymmdd(day - 30);
    if (i == 400) /* corrects event 390 */
      ev.supersedes_event_id = ids[390];
    add(b, &ev);
  }
}

/* A long history applied one event per transaction through the cache, its
 * folds starting from where the last one left off (child_fold_from),
 * derives as it does folded whole each time, event after event. The events
 * a resumed fold cannot take fold the whole history, each once:
 *   - the first fold of the cache (event 64: CACHE_MIN_EVENTS) has no
 *     checkpoint yet;
 *   - 180, the start of an assessment completed at 150: that completion's
 *     end_without_start becomes end_before_start (fold.c, starts_later);
 *   - 200, dated 30 days back: after it the history is not in stored order,
 *     and later folds start from the checkpoint's folding order;
 *   - 260, ChildDetails: every event's checks read the date of birth;
 *   - 400, a correction, and every fold after it (a correction may name an
 *     event still to come: a history with one keeps no checkpoint).
 * So of the 450 - 64 = 386 folds, 386 - 4 - 50 = 332 resume. */
static void resumed_fold_equals_whole(void **state) {
  (void)state;
  struct evs *b = calloc(1, sizeof *b);
  assert_non_null(b);
  resume_history(b);
  struct arena a;
  arena_init(&a, 1 << 16);
  static uint8_t cached[1 << 16], plain[1 << 16];
  size_t cached_len = 0, plain_len = 0;
  uint8_t dup[8];
  struct store *st = fresh_store("store-resume", 0), *ref = fresh_store("store-resume-ref", 0);
  assert_int_equal(store_history_cache(st, 1 << 22), CSC_OK);
  for (size_t i = 0; i < RESUME_EVENTS; i++) {
    store_history_cache_trim(st);
    arena_reset(&a);
    assert_int_equal(apply_events(st, b, &i, 1, dup, &a, cached, &cached_len), 1);
    assert_int_equal(apply_events(ref, b, &i, 1, dup, &a, plain, &plain_len), 1);
    assert_int_equal(cached_len, plain_len);
    assert_memory_equal(cached, plain, plain_len);
  }
  uint64_t folds, resumed;
  store_history_cache_folds(st, &folds, &resumed);
  assert_int_equal(folds, RESUME_EVENTS - 64);
  assert_int_equal(resumed, 332);
  store_close(st);
  store_close(ref);
  arena_free(&a);
  free(b);
}

static void release_keeps_every_page(void **state) {
  (void)state;
  struct store *st = fresh_store("store-release", 0);
  static uint8_t value[4096];
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
  for (uint32_t i = 0; i < 4096; i++) {
    memset(value, (int)(i & 0xff), sizeof value);
    uint8_t kb[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
    MDB_val k = {4, kb}, v = {sizeof value, value};
    assert_int_equal(mdb_put(txn, st->meta, &k, &v, 0), 0);
  }
  assert_int_equal(mdb_txn_commit(txn), 0);
  read_back(st);
  const size_t before = mapped_kb();
  assert_int_equal(store_release_memory(st), CSC_OK);
  const size_t after = mapped_kb();
  assert_true(before >= 16 * 1024); /* the values were mapped ... */
  assert_true(after + 8 * 1024 < before); /* ... and are no longer */
  read_back(st);
  store_close(st);
}

static size_t map_size(struct store *st) {
  MDB_envinfo info;
  assert_int_equal(mdb_env_info(st->env, &info), 0);
  return info.me_mapsize;
}

static void grows_before_full(void **state) {
  (void)state;
  struct store *st = fresh_store("store-grow", 1 << 20);
  assert_int_equal(store_grow_early(st), CSC_OK); /* nearly empty: stays */
  assert_int_equal(map_size(st), 1 << 20);
  static uint8_t value[4096];
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
  for (uint32_t i = 0; i < 100; i++) { /* 200 overflow pages of 256 */
    uint8_t kb[4] = {0, 0, (uint8_t)(i >> 8), (uint8_t)i};
    MDB_val k = {4, kb}, v = {sizeof value, value};
    assert_int_equal(mdb_put(txn, st->meta, &k, &v, 0), 0);
  }
  assert_int_equal(mdb_txn_commit(txn), 0);
  assert_int_equal(store_grow_early(st), CSC_OK);
  assert_int_equal(map_size(st), 2 << 20);
  uint64_t bytes, histories;
  assert_int_equal(store_usage(st, &bytes, &histories), CSC_OK);
  assert_true(bytes >= 200 * 4096 && bytes <= 1 << 20);
  assert_int_equal(histories, 0);
  store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(chunks_append_and_dedupe),
      cmocka_unit_test(dedupe_by_table),
      cmocka_unit_test(cached_history_follows_the_store),
      cmocka_unit_test(resumed_fold_equals_whole),
      cmocka_unit_test(history_reads_back),
      cmocka_unit_test(release_keeps_every_page),
      cmocka_unit_test(grows_before_full),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
