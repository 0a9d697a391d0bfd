/*
 * status.c — the status record (state.h) that /readyz and /metrics read:
 * counters, mode, assignment and consumer lag, written with each batch and,
 * when idle, on a timer so that a reader can tell a live writer from a
 * dead one.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/internal.h"

/* ---- the status record ------------------------------------------------------------ */

/* The record as of now: e->status with the counters carried over at open
 * plus this engine's. */
void status_record(const struct engine *e, struct store_status *r) {
  const struct engine_stats *c = &e->carried, *s = &e->stats;
  *r = e->status;
  r->updated_ms = wall_ms();
  r->consumed = c->consumed + s->consumed;
  r->applied = c->applied + s->applied;
  r->duplicates = c->duplicates + s->duplicates;
  r->dead_lettered = c->dead_lettered + s->dead_lettered;
  r->alerts_raised = c->alerts_raised + s->alerts_raised;
  r->alerts_withdrawn = c->alerts_withdrawn + s->alerts_withdrawn;
  r->findings_opened = c->findings + s->findings;
  r->findings_resolved = c->findings_resolved + s->findings_resolved;
  r->snapshots = c->snapshots + s->snapshots;
  r->batches = c->batches + s->batches;
}

/* Writes the record in a transaction of its own. */
static int status_commit(struct engine *e) {
  for (int attempt = 0; attempt < 4; attempt++) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
    if (rc != 0)
      return store_error(rc, "begin");
    struct store_status r;
    status_record(e, &r);
    int err = store_put_status(e->st, txn, &r);
    if (err == CSC_OK && (rc = mdb_txn_commit(txn)) != 0)
      err = store_error(rc, "commit");
    else if (err != CSC_OK)
      mdb_txn_abort(txn);
    if (err == CSC_OK) {
      e->status_dirty = 0;
      return CSC_OK;
    }
    if (err != CSC_EMAPFULL || store_grow(e->st) != CSC_OK)
      return err;
  }
  return CSC_EMAPFULL;
}

/* Status is for operators: a record that cannot be written is logged, and
 * the processing it describes goes on. */
void status_write(struct engine *e) {
  e->status_written = now_seconds(); /* a failure is retried at the next turn, not at once */
  const int rc = status_commit(e);
  if (rc != CSC_OK)
    log_json(LOG_WARN, "status_write_failed", "\"reason\":\"%s\"", csc_strerror(rc));
}

/* Carries the counters and histogram of the record an earlier engine left
 * over, and says that the state is being restored. */
void status_open(struct engine *e) {
  MDB_txn *txn;
  struct store_status prev;
  int rc = mdb_txn_begin(e->st->env, NULL, MDB_RDONLY, &txn);
  if (rc == 0) {
    rc = store_get_status(e->st, txn, &prev);
    mdb_txn_abort(txn);
  }
  if (rc == CSC_OK) {
    e->status = prev;
    e->carried = (struct engine_stats){.consumed = prev.consumed,
                                       .applied = prev.applied,
                                       .duplicates = prev.duplicates,
                                       .dead_lettered = prev.dead_lettered,
                                       .alerts_raised = prev.alerts_raised,
                                       .alerts_withdrawn = prev.alerts_withdrawn,
                                       .findings = prev.findings_opened,
                                       .findings_resolved = prev.findings_resolved,
                                       .snapshots = prev.snapshots,
                                       .batches = prev.batches};
  } else {
    memset(&e->status, 0, sizeof e->status);
    e->status.mode = STATUS_MODE_REPLAY;
  }
  e->status.restored = 0;
  e->status.stopped_ms = 0; /* a writer again (last_applied_ms carries over) */
  e->status.partitions_assigned = 0;
  e->status.consumer_lag = -1;
  /* Stopped partitions are this process's to find (gaps.c); the gap
   * counters carry over as the others do. */
  e->status.partitions_stopped = 0;
  e->status.stopped_partition = -1;
  e->status.stopped_position = e->status.stopped_log_start = e->status.stopped_log_end = -1;
  e->status.stopped_topic[0] = '\0';
  status_write(e);
}

void status_set_mode(struct engine *e, uint32_t mode) {
  if (e->status.mode != mode) {
    e->status.mode = mode;
    e->status_dirty = 1;
  }
}

/*
 * The partitions rk is assigned and their lag: the sum of each one's high
 * watermark less the position to read next (the stored one, else the low
 * watermark: nothing of it was applied yet), over those not stopped by an
 * offset gap (gaps.c); -1 when a watermark is not known yet. Only
 * librdkafka's cached watermarks (from its fetches) are read: no request
 * goes to the brokers.
 */
static void consumer_lag(struct engine *e, rd_kafka_t *rk, uint32_t *n_parts, int64_t *lag) {
  rd_kafka_topic_partition_list_t *parts = NULL;
  *n_parts = 0;
  *lag = -1;
  if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return;
  MDB_txn *txn = NULL;
  int known = mdb_txn_begin(e->st->env, NULL, MDB_RDONLY, &txn) == 0;
  int64_t sum = 0;
  for (int i = 0; known && i < parts->cnt; i++) {
    const rd_kafka_topic_partition_t *p = &parts->elems[i];
    int64_t lo, hi, next;
    if (gaps_stopped(e, p->topic, p->partition))
      continue; /* not consumed: partitions_stopped says so, not the lag */
    if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0) {
      known = 0;
      continue;
    }
    if (store_get_position(e->st, txn, p->topic, p->partition, &next) != CSC_OK)
      next = lo;
    if (next < 0)
      known = 0;
    else if (hi > next)
      sum += hi - next;
  }
  if (txn != NULL)
    mdb_txn_abort(txn);
  gaps_prune(e, parts); /* a partition a rebalance took away is not ours to stop */
  *n_parts = (uint32_t)parts->cnt;
  *lag = known ? sum : -1;
  rd_kafka_topic_partition_list_destroy(parts);
}

/* Reads the assignment and lag at most once a second; when idle, writes the
 * record if something changed (at most once a second) or else every 5 s, so
 * that /readyz can tell a live writer from a dead one. */
void status_poll(struct engine *e, rd_kafka_t *rk, int idle) {
  const double now = now_seconds();
  if (now - e->lag_checked >= 1.0) {
    uint32_t parts;
    int64_t lag;
    e->lag_checked = now;
    consumer_lag(e, rk, &parts, &lag);
    if (parts != e->status.partitions_assigned || lag != e->status.consumer_lag) {
      e->status.partitions_assigned = parts;
      e->status.consumer_lag = lag;
      e->status_dirty = 1;
    }
  }
  const double since = now - e->status_written;
  if (idle && ((e->status_dirty && since >= 1.0) || since >= 5.0))
    status_write(e);
}
