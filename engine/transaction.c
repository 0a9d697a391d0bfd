/*
 * transaction.c — a batch in one write transaction: applied whole, or split
 * down to the one input that fails alone and is refused; the LAs it touched
 * written back with their snapshots, the status record, the commit, then
 * what follows a commit (dead letters logged, memory released, the outbox
 * published). The daily tick runs in the same machinery.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/internal.h"

/* File-backed pages (the state's map, a replayed file) this process may
 * keep mapped before it hands them back to the page cache. */
#define MAPPED_BUDGET ((uint64_t)256 << 20)

/* Bytes of this process's resident memory that map files (the rest,
 * anonymous, in *anon), or 0 if unknown. */
static uint64_t mapped_resident_bytes(uint64_t *anon) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long size, resident, shared;
  int n = f ? fscanf(f, "%llu %llu %llu", &size, &resident, &shared) : 0;
  if (f)
    fclose(f);
  const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  *anon = n == 3 && resident > shared ? (resident - shared) * page : 0;
  return n == 3 ? (uint64_t)shared * page : 0;
}

/* Hands the state's mapped pages back to the page cache when they exceed
 * the budget (see store_release_memory). Safe at any time, inside a
 * transaction too: the map is read-only (written pages are heap copies
 * until the commit writes them), and a page read again is faulted back in. */
void release_mapped_memory_now(struct engine *e) {
  uint64_t anon;
  const uint64_t mapped = mapped_resident_bytes(&anon);
  if (anon > e->stats.peak_anon_bytes)
    e->stats.peak_anon_bytes = anon;
  if (mapped > MAPPED_BUDGET && store_release_memory(e->st) != CSC_OK)
    log_json(LOG_WARN, "state_release_failed", "\"note\":\"resident memory may grow\"");
}

/* Keeps the resident size from growing with the state: after a commit, at
 * most ten times a second, releases what exceeds the budget. What one
 * transaction reads between two such calls is therefore the floor of the
 * resident size: batch size bounds memory. Long reads inside one
 * transaction (an outbox of a backfill's alerts) call
 * release_mapped_memory_now as they go. */
void release_mapped_memory(struct engine *e, double now) {
  if (now - e->memory_checked < 0.1)
    return;
  e->memory_checked = now;
  release_mapped_memory_now(e);
}

/* A rate with no population is null, never 0; say so once per LA and year,
 * so that an operator can add the missing row. */
static void note_population(struct engine *e, const struct batch_la *b) {
  if (e->opt.population == NULL || population_lookup(e->opt.population, b->la, b->ls.as_of) >= 0)
    return;
  int y, m, d;
  date_to_ymd(b->ls.as_of, &y, &m, &d);
  for (size_t i = 0; i < e->n_no_population; i++)
    if (e->no_population[i].year == y && strcmp(e->no_population[i].la, b->la) == 0)
      return;
  log_json(LOG_WARN, "population_missing",
           "\"la_code\":\"%s\",\"year\":%d,\"note\":\"per 10,000 rates are null\"", b->la, y);
  if (grow((void **)&e->no_population, &e->cap_no_population, e->n_no_population + 1,
           sizeof *e->no_population) == CSC_OK) {
    struct no_population *np = &e->no_population[e->n_no_population++];
    memcpy(np->la, b->la, sizeof np->la);
    np->year = y;
  } /* else: logged again next time, which is harmless */
}

/* Writes back the LAs the batch touched, with a new snapshot of each. */
int finish_batch(struct engine *e, MDB_txn *txn, struct output *out) {
  /* The writer's lists are the state's (adopt_code_lists); with none, the
   * state's own, if it records any, are read. */
  const struct code_lists *state_codes =
      e->opt.ref != NULL && e->opt.ref->codes.n > 0 ? &e->opt.ref->codes : NULL;
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < e->n_positions; i++)
    rc = store_put_position(e->st, txn, e->positions[i].source, e->positions[i].partition,
                            e->positions[i].next);
  for (size_t i = 0; rc == CSC_OK && i < e->n_las; i++) {
    struct batch_la *b = e->las[i];
    uint8_t *buf;
    size_t len;
    rc = store_put_la(e->st, txn, b->la, &b->ls);
    if (rc == CSC_OK && b->sources_loaded)
      rc = store_put_sources(e->st, txn, b->la, &b->sources);
    note_population(e, b);
    if (rc == CSC_OK)
      rc = snapshot_build(e->st, txn, b->la, &b->ls, e->opt.population, state_codes,
                          coverage_for(e->opt.coverage, b->la), e->memo, &buf, &len);
    if (rc == CSC_OK) {
      rc = out->emit(out, TOPIC_INDICATORS, b->la, buf, len);
      free(buf);
      e->stats.snapshots++;
    }
  }
  store_history_cache_folds(e->st, &e->stats.folds_cached, &e->stats.folds_resumed);
  if (e->memo != NULL) {
    struct snapshot_memo_stats ms;
    snapshot_memo_stats(e->memo, &ms);
    e->stats.snapshot_values_computed = ms.values_computed;
    e->stats.snapshot_values_reused = ms.values_reused;
    e->stats.snapshot_memo_bytes = ms.bytes;
  }
  return rc;
}

/* Logs the dead letters a transaction committed. */
void log_dead_letters(struct engine *e) {
  for (size_t i = 0; i < e->n_dl_notes; i++)
    log_json(LOG_WARN, "dead_letter", "\"reason\":\"%s\",\"partition\":%d,\"offset\":%lld",
             e->dl_notes[i].reason, (int)e->dl_notes[i].partition,
             (long long)e->dl_notes[i].offset);
  e->n_dl_notes = 0;
}

void count_outputs(struct engine *e, const struct output *o) {
  e->stats.alerts_raised += o->alerts_raised;
  e->stats.alerts_withdrawn += o->alerts_withdrawn;
  e->stats.findings += o->findings_opened;
  e->stats.findings_resolved += o->findings_resolved;
  e->stats.batches++;
}

int commit_or_abort(struct engine *e, MDB_txn *txn, int err) {
  if (err == CSC_OK && e->opt.fault)
    e->opt.fault(e->opt.fault_ctx, ENGINE_FAULT_COMMIT);
  int rc;
  if (err == CSC_OK && (rc = mdb_txn_commit(txn)) != 0)
    err = store_error(rc, "commit");
  else if (err != CSC_OK)
    mdb_txn_abort(txn);
  return err;
}

/* Runs body inside one write transaction and publishes what it emitted. */
static int in_transaction_once(struct engine *e,
                               int (*body)(struct engine *, MDB_txn *, struct output *, void *),
                               void *arg) {
  MDB_txn *txn;
  store_history_cache_trim(e->st); /* between transactions: nothing points into it */
  int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
  if (rc != 0)
    return store_error(rc, "begin");
  struct outbox ob = {{outbox_emit, 0, 0, 0, 0}, e, txn};
  const uint64_t first_seq = e->next_seq, snapshots = e->stats.snapshots,
                 applied = e->stats.applied;
  struct store_status status;
  e->n_las = 0;
  e->n_dl_notes = 0;
  e->n_positions = 0;
  int err = outbox_delete_acked_in(e, txn);
  if (err == CSC_OK)
    err = body(e, txn, &ob.base, arg);
  if (err == CSC_OK)
    err = finish_batch(e, txn, &ob.base);
  /* Counted before the commit, so that the status record in it says so
   * (in_transaction undoes the counts of a transaction that failed). */
  count_outputs(e, &ob.base);
  if (err == CSC_OK) {
    status_record(e, &status);
    if (e->stats.snapshots != snapshots)
      status.last_snapshot_ms = status.updated_ms;
    if (e->stats.applied != applied)
      status.last_applied_ms = status.updated_ms;
    err = store_put_status(e->st, txn, &status);
  }
  err = commit_or_abort(e, txn, err);
  if (err != CSC_OK) {
    e->n_dl_notes = 0; /* rolled back: they were never dead letters */
    e->next_seq = first_seq;
    return err;
  }
  e->n_acked = 0; /* deleted for good with the commit */
  log_dead_letters(e);
  const double now = now_seconds();
  e->status.last_snapshot_ms = status.last_snapshot_ms;
  e->status.last_applied_ms = status.last_applied_ms;
  e->status_dirty = 0;
  e->status_written = now;
  release_mapped_memory(e, now);
  if (store_grow_early(e->st) != CSC_OK)
    log_json(LOG_WARN, "state_grow_failed", "\"note\":\"the next batch may grow the map\"");
  if (e->opt.fault)
    e->opt.fault(e->opt.fault_ctx, ENGINE_FAULT_COMMITTED);
  publish_pending(e);
  return CSC_OK; /* committed: a publication that failed is retried, not lost */
}

/* A full map is not an error: grow it and run the transaction again from
 * scratch (nothing of the failed attempt was kept, so neither are its
 * counts). */
static int in_transaction(struct engine *e,
                          int (*body)(struct engine *, MDB_txn *, struct output *, void *),
                          void *arg) {
  const struct engine_stats saved = e->stats;
  for (int attempt = 0;; attempt++) {
    int rc = in_transaction_once(e, body, arg);
    if (rc != CSC_OK)
      e->stats = saved;
    if (rc != CSC_EMAPFULL || attempt == 16)
      return rc;
    if ((rc = store_grow(e->st)) != CSC_OK)
      return rc;
  }
}

struct batch_arg {
  const struct engine_input *in;
  size_t n;
};

static int apply_body(struct engine *e, MDB_txn *txn, struct output *out, void *arg) {
  const struct batch_arg *ba = arg;
  if (e->opt.group_by_subject)
    return apply_grouped(e, txn, ba->in, ba->n, out);
  for (size_t i = 0; i < ba->n; i++) {
    int rc = apply_one(e, txn, &ba->in[i], out);
    if (rc == CSC_OK)
      rc = note_position(e, &ba->in[i]);
    if (rc != CSC_OK)
      return rc;
  }
  return CSC_OK;
}

/* A transaction of one input that could not be applied: it goes to the
 * dead-letter topic, and its position is passed. */
struct refused_arg {
  const struct engine_input *in;
  const char *reason;
};

static int refuse_body(struct engine *e, MDB_txn *txn, struct output *out, void *arg) {
  (void)out;
  const struct refused_arg *ra = arg;
  e->stats.consumed++;
  int rc = dead_letter(e, txn, ra->in, ra->reason);
  return rc == CSC_OK ? note_position(e, ra->in) : rc;
}

/* Faults input can cause (a key the store cannot hold, a value out of any
 * range the fold expects, a transaction too large), as opposed to faults of
 * the store or the machine, which splitting cannot cure. */
int input_fault(int rc) {
  return rc == CSC_EINVAL || rc == CSC_EFULL || rc == CSC_ETXNFULL || rc == CSC_ESTATE;
}

static const char *refusal_reason(int rc) {
  switch (rc) {
  case CSC_EFULL: return "not applied: a bounded buffer is full";
  case CSC_ETXNFULL: return "not applied: the event alone is too large for one transaction";
  case CSC_ESTATE: return "not applied: the state store refused it";
  default: return "not applied: invalid input";
  }
}

static int apply_batch(struct engine *e, const struct engine_input *in, size_t n) {
  struct batch_arg ba = {in, n};
  int rc = in_transaction(e, apply_body, &ba);
  if (rc == CSC_OK || !input_fault(rc))
    return rc;
  /* Nothing of the failed attempt was kept. Apply the batch as two, and
   * so on down to the one input that fails alone. */
  if (n > 1) {
    log_json(LOG_INFO, "batch_split", "\"events\":%zu,\"reason\":\"%s\"", n, csc_strerror(rc));
    rc = apply_batch(e, in, n / 2);
    return rc == CSC_OK ? apply_batch(e, in + n / 2, n - n / 2) : rc;
  }
  struct refused_arg ra = {in, refusal_reason(rc)};
  return in_transaction(e, refuse_body, &ra);
}

int engine_apply_batch(struct engine *e, const struct engine_input *in, size_t n) {
  const double started = now_seconds();
  const int rc = apply_batch(e, in, n);
  if (rc == CSC_OK) {
    /* Its own record could not hold its time: the next one will. */
    store_status_observe(&e->status, now_seconds() - started);
    e->status_dirty = 1;
  }
  return rc;
}

/* Loads every stored LA whose clock is behind today into the batch, then
 * moves each one's clock (not while the cursor is open: the moves write). */
static int tick_body(struct engine *e, MDB_txn *txn, struct output *out, void *arg) {
  (void)arg;
  MDB_cursor *cur;
  MDB_val k, v;
  int rc = mdb_cursor_open(txn, e->st->las, &cur);
  if (rc != 0)
    return store_error(rc, "cursor las");
  int err = CSC_OK;
  size_t skipped = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    struct la_state ls;
    char la[LA_CODE_SIZE];
    const char *key = k.mv_data; /* la\0 */
    if (v.mv_size != sizeof ls || k.mv_size < 2 || k.mv_size > sizeof la ||
        key[k.mv_size - 1] != '\0') {
      skipped++; /* an LA stored under a code the LA code rule no longer admits */
      continue;
    }
    memcpy(&ls, v.mv_data, sizeof ls);
    memcpy(la, key, k.mv_size);
    struct batch_la *b;
    if (ls.as_of < e->today)
      err = batch_la(e, txn, la, &b);
  }
  mdb_cursor_close(cur);
  if (skipped > 0)
    log_json(LOG_WARN, "tick_skipped_las",
             "\"las\":%zu,\"reason\":\"stored under a code that is not an LA code: replay into an "
             "empty state\"",
             skipped);
  for (size_t i = 0; err == CSC_OK && i < e->n_las; i++)
    err = advance_la(e, txn, e->las[i], e->today, out);
  return err;
}

int engine_tick(struct engine *e, csc_date today) {
  if (today <= e->today && e->stats.batches > 0)
    return CSC_OK;
  e->today = today;
  return in_transaction(e, tick_body, NULL);
}
