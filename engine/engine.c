/*
 * engine.c — open and close: the state, the code lists it was built with,
 * the outbox left by an earlier run; and what programs read of an engine.
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine/internal.h"

/* Frees what engine_open made, whichever part it reached. */
static void engine_discard(struct engine *e) {
  store_close(e->st);
  arena_free(&e->arena);
  arena_free(&e->batch_arena);
  agg_pending_free(e->pending);
  snapshot_memo_free(e->memo);
  subject_table_free(&e->subjects);
  free(e->acked);
  for (size_t i = 0; i < e->cap_las; i++)
    free(e->las[i]);
  free(e->las);
  free(e->positions);
  free(e->no_population);
  free(e->dl_notes);
  gaps_free(e);
  free(e);
}

/*
 * The state never mixes two versions of the code lists: a new state records
 * the writer's (store_code_lists_check); a state built with other lists is
 * refused, with one log line saying so, since applying new events under the
 * new lists onto facts and findings made under the old would mix them. A
 * replay into an empty state directory applies the new lists to history.
 * No lists (opt.ref NULL, tests) record nothing.
 */
static int adopt_code_lists(struct engine *e, char *err, size_t errlen) {
  if (e->opt.ref == NULL || e->opt.ref->codes.n == 0)
    return CSC_OK;
  const struct code_lists *c = &e->opt.ref->codes;
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
  if (rc != 0) {
    snprintf(err, errlen, "state: %s", mdb_strerror(rc));
    return CSC_ESTATE;
  }
  char recorded[17];
  rc = store_code_lists_check(e->st, txn, c, recorded);
  if (rc != CSC_OK) {
    mdb_txn_abort(txn);
    if (rc != CSC_EINVAL) {
      snprintf(err, errlen, "state: cannot record the code lists");
      return rc;
    }
    log_json(LOG_ERROR, "code_lists_changed",
             "\"state\":\"%s\",\"files\":\"%s\",\"note\":\"the code lists changed since the state "
             "was built; replay into an empty state directory to apply them to history, or set "
             "cscflow.codes.file to the lists the state was built with\"",
             recorded, c->version);
    snprintf(err, errlen,
             "code lists changed: the state was built with version %s, the files are version "
             "%s; replay into an empty state directory to apply them to history (cscflow "
             "replay --input FILE --state NEW_DIR), or point cscflow.codes.file at the old lists",
             recorded, c->version);
    return CSC_EINVAL;
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0) {
    snprintf(err, errlen, "state: record the code lists: %s", mdb_strerror(rc));
    return store_error(rc, "commit code lists");
  }
  return CSC_OK;
}

int engine_open(const struct engine_options *opt, struct engine **out, char *err, size_t errlen) {
  struct engine *e = calloc(1, sizeof *e);
  if (e == NULL) {
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  e->opt = *opt;
  if (e->opt.backfill)
    e->opt.group_by_subject = 1; /* a backfill sums the changes of many children */
  if (e->opt.batch_max == 0)
    e->opt.batch_max = 5000;
  if (e->opt.batch_ms <= 0)
    e->opt.batch_ms = 5;
  e->today = london_today();
  arena_init(&e->arena, 64 * 1024);
  arena_init(&e->batch_arena, 1024 * 1024);
  int rc = CSC_OK;
  if (e->opt.group_by_subject && (rc = agg_pending_new(&e->pending)) != CSC_OK)
    snprintf(err, errlen, "out of memory");
  /* A stream's batches rebuild only the snapshot values that changed; a
   * backfill builds each LA's snapshot once, at its end, and needs no memo. */
  if (rc == CSC_OK && !e->opt.backfill && (rc = snapshot_memo_new(&e->memo)) != CSC_OK)
    snprintf(err, errlen, "out of memory");
  if (rc == CSC_OK)
    rc = store_open_sized(opt->state_dir, 0, opt->map_size, &e->st, err, errlen);
  if (rc == CSC_OK && e->opt.no_sync && (rc = store_set_durable(e->st, 0)) != CSC_OK)
    snprintf(err, errlen, "state: cannot turn off sync");
  /* Long histories stay decoded between batches (state/history_cache.h):
   * the live path appends to them without decoding them again. */
  if (rc == CSC_OK && (rc = store_history_cache(e->st, ENGINE_HISTORY_CACHE_BYTES)) != CSC_OK)
    snprintf(err, errlen, "out of memory");
  if (rc != CSC_OK) {
    engine_discard(e);
    return rc;
  }
  if ((rc = adopt_code_lists(e, err, errlen)) != CSC_OK) {
    engine_discard(e);
    return rc;
  }
  if ((rc = backfill_unfinished(e, err, errlen)) != CSC_OK) {
    engine_discard(e);
    return rc;
  }
  e->opt.sink->on_ack = on_ack;
  e->opt.sink->ack_ctx = e;
  status_open(e);

  /* Continue the outbox numbering, and publish what an earlier run left. */
  MDB_txn *txn;
  MDB_cursor *cur;
  MDB_val k, v;
  uint64_t first = 0;
  rc = mdb_txn_begin(e->st->env, NULL, MDB_RDONLY, &txn);
  if (rc == 0 && (rc = mdb_cursor_open(txn, e->st->outbox, &cur)) == 0) {
    if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0)
      first = read_be64(k.mv_data);
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0) {
      e->next_seq = read_be64(k.mv_data) + 1;
      log_json(LOG_INFO, "outbox_republish", "\"messages\":%llu",
               (unsigned long long)(e->next_seq - first));
    }
    mdb_cursor_close(cur);
  }
  if (txn)
    mdb_txn_abort(txn);
  e->unpublished = first;
  if (rc == 0 && e->next_seq > 0)
    publish_pending(e); /* what the sink refuses now is retried after each commit */
  if (rc != 0) {
    rc = store_error(rc, "open outbox");
    snprintf(err, errlen, "outbox: %s", csc_strerror(rc));
    engine_discard(e);
    return CSC_ESTATE;
  }
  e->status.restored = 1; /* the next record says so: a batch's, or the run loop's */
  e->status_dirty = 1;
  *out = e;
  return CSC_OK;
}


void engine_close(struct engine *e) {
  if (e == NULL)
    return;
  if (e->opt.sink->flush(e->opt.sink, 10000) != CSC_OK)
    log_json(LOG_WARN, "sink_flush_incomplete", "\"note\":\"unacknowledged messages stay in the outbox\"");
  commit_acks(e);
  e->opt.sink->on_ack = NULL;
  /* The last word: the final counts, nothing consumed any more, and that
   * the writer is gone (the dashboard says so at once, rather than when the
   * record grows old). */
  e->status.partitions_assigned = 0;
  e->status.consumer_lag = -1;
  e->status.stopped_ms = wall_ms();
  status_write(e);
  if (e->opt.no_sync && store_sync(e->st) != CSC_OK)
    log_json(LOG_WARN, "state_sync_failed", "\"note\":\"the last commits may not be on disk\"");
  engine_discard(e);
}

const struct engine_stats *engine_stats(const struct engine *e) { return &e->stats; }
struct store *engine_store(struct engine *e) { return e->st; }

int engine_position(struct engine *e, const char *source, int32_t partition, int64_t *next) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->st->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0)
    return store_error(rc, "begin read");
  rc = store_get_position(e->st, txn, source, partition, next);
  mdb_txn_abort(txn);
  return rc;
}
