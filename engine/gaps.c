/*
 * gaps.c — no event is skipped without a decision (issue 14).
 *
 * The state is rebuilt from the input topic, so an event that the log no
 * longer holds can never be applied. librdkafka meets such a position as
 * OFFSET_OUT_OF_RANGE and, by auto.offset.reset, used to move to the log
 * start without a word: the events in between were lost, with /readyz 200
 * and lag 0. Now the consumer runs with auto.offset.reset=error
 * (ingest/kafka.c) and every position goes through one decision:
 *
 *   - before a partition is consumed, on each assignment
 *     (engine_kafka_position), the position the state needs is compared
 *     with the partition's watermarks (a ListOffsets, at most 5 s);
 *   - while it is consumed, a position that became unservable (retention
 *     moved the log start past it while the engine lagged) comes back as
 *     RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET and librdkafka stops fetching
 *     the partition. A seek cannot restart a partition in that state, so
 *     gaps_on_reset has the whole assignment made again after the batch
 *     (gaps_reassign), at the stored positions, through the same check.
 *
 * The decision, for the position P the state needs (the stored next offset,
 * or 0 for a state that holds nothing of the partition: a fresh state on a
 * trimmed partition is a gap too) and the log's [start, end]:
 *
 *   start <= P <= end  consume from P;
 *   P < start          an offset gap, events P..start-1 are gone. stop (the
 *                      default): the partition is not consumed, `offset_gap`
 *                      is logged and counted, /readyz is 503 naming it.
 *                      cscflow.on_offset_gap=skip: consumed from start,
 *                      `offset_gap_skipped` logged and counted, and start
 *                      stored as the partition's position (the decision
 *                      is kept: a restart does not meet the gap again);
 *   P > end            the log lost events the state has (an unclean leader
 *                      election, a topic deleted and made again):
 *                      `offset_out_of_range`, stopped whatever the key says:
 *                      neither way to go on would be right;
 *   unknown            (the query failed) consume from P: a fetch the broker
 *                      cannot serve comes back as the error above.
 *
 * A stopped partition stays assigned at P, where librdkafka's fetch fails
 * and stops (so no other member of the group takes it while this one holds
 * it); it leaves the list when a rebalance takes it away and is checked
 * again when one gives it back. A partition counts once per stop.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

#define GAP_QUERY_TIMEOUT_MS 5000
/* A partition whose fetch keeps failing must not make the assignment again
 * on every poll: each time costs a ListOffsets per partition. */
#define REASSIGN_MIN_INTERVAL_S 1.0

static struct partition_stop *stop_find(struct engine *e, const char *topic, int32_t partition) {
  for (size_t i = 0; i < e->n_stops; i++)
    if (e->stops[i].partition == partition && strcmp(e->stops[i].topic, topic) == 0)
      return &e->stops[i];
  return NULL;
}

int gaps_stopped(struct engine *e, const char *topic, int32_t partition) {
  return stop_find(e, topic, partition) != NULL;
}

/* The status record names the first stopped partition and counts them. */
static void stops_publish(struct engine *e) {
  struct store_status *s = &e->status;
  s->partitions_stopped = (uint32_t)e->n_stops;
  s->stopped_partition = -1;
  s->stopped_position = s->stopped_log_start = s->stopped_log_end = -1;
  s->stopped_topic[0] = '\0';
  if (e->n_stops > 0) {
    const struct partition_stop *p = &e->stops[0];
    s->stopped_partition = p->partition;
    s->stopped_position = p->position;
    s->stopped_log_start = p->log_start;
    s->stopped_log_end = p->log_end;
    memcpy(s->stopped_topic, p->topic, sizeof s->stopped_topic);
  }
  e->status_dirty = 1;
}

/* Records that (topic, partition) is stopped at position. 1 when that is
 * news (it was not stopped at this position): the caller logs and counts. */
static int stop_add(struct engine *e, const char *topic, int32_t partition, int64_t position,
                    int64_t lo, int64_t hi) {
  struct partition_stop *p = stop_find(e, topic, partition);
  const int news = p == NULL || p->position != position;
  if (p == NULL && e->n_stops == e->cap_stops) {
    const size_t cap = e->cap_stops ? 2 * e->cap_stops : 4;
    struct partition_stop *grown = realloc(e->stops, cap * sizeof *grown);
    if (grown != NULL) {
      e->stops = grown;
      e->cap_stops = cap;
    }
  }
  if (p == NULL && e->n_stops < e->cap_stops)
    p = &e->stops[e->n_stops++];
  /* Out of memory: the partition is stopped all the same (librdkafka's
   * fetch stopped), only the status does not name it. */
  if (p != NULL) {
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->partition = partition;
    p->position = position;
    p->log_start = lo;
    p->log_end = hi;
    stops_publish(e);
  }
  return news;
}

static void stop_remove(struct engine *e, size_t i) {
  e->stops[i] = e->stops[--e->n_stops];
  stops_publish(e);
}

void gaps_prune(struct engine *e, const rd_kafka_topic_partition_list_t *assigned) {
  for (size_t i = e->n_stops; i-- > 0;) {
    int held = 0;
    for (int j = 0; assigned != NULL && j < assigned->cnt && !held; j++)
      held = assigned->elems[j].partition == e->stops[i].partition &&
             strcmp(assigned->elems[j].topic, e->stops[i].topic) == 0;
    if (!held)
      stop_remove(e, i);
  }
}

void gaps_free(struct engine *e) {
  free(e->stops);
  e->stops = NULL;
  e->n_stops = e->cap_stops = 0;
}

/* Stores position next for (topic, partition) in a transaction of its
 * own: a skip is a decision, kept in the state like an applied batch's
 * position, so that a restart (with or without the key) does not meet the
 * same gap again while no event of the partition has been applied. */
static int position_commit(struct engine *e, const char *topic, int32_t partition,
                           int64_t next) {
  for (int attempt = 0; attempt < 4; attempt++) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
    if (rc != 0)
      return store_error(rc, "begin");
    int err = store_put_position(e->st, txn, topic, partition, next);
    if (err == CSC_OK && (rc = mdb_txn_commit(txn)) != 0)
      err = store_error(rc, "commit");
    else if (err != CSC_OK)
      mdb_txn_abort(txn);
    if (err != CSC_EMAPFULL || store_grow(e->st) != CSC_OK)
      return err;
  }
  return CSC_EMAPFULL;
}

static void log_position(enum log_level level, const char *event, const char *topic,
                         int32_t partition, int64_t position, int stored, int64_t lo, int64_t hi) {
  log_json(level, event,
           "\"topic\":\"%s\",\"partition\":%d,\"stored_position\":%lld,\"stored\":%s,"
           "\"log_start\":%lld,\"log_end\":%lld,\"missing\":%lld",
           topic, (int)partition, (long long)position, stored ? "true" : "false", (long long)lo,
           (long long)hi, (long long)(lo > position ? lo - position : 0));
}

/*
 * The decision above for position (stored: the state holds it; else 0) and
 * the log's [lo, hi]. Returns the offset to fetch from: position, lo for a
 * skipped gap, or position again for a stop (its fetch fails and stops).
 */
static int64_t decide(struct engine *e, const char *topic, int32_t partition, int64_t position,
                      int stored, int64_t lo, int64_t hi) {
  struct partition_stop *p = stop_find(e, topic, partition);
  if (position >= lo && position <= hi) {
    if (p != NULL)
      stop_remove(e, (size_t)(p - e->stops)); /* the operator restored the events */
    return position;
  }
  if (position < lo && e->opt.offset_gap_skip) {
    if (p != NULL)
      stop_remove(e, (size_t)(p - e->stops));
    e->status.offset_gaps++;
    e->status.offset_gaps_skipped++;
    e->status_dirty = 1;
    log_position(LOG_WARN, "offset_gap_skipped", topic, partition, position, stored, lo, hi);
    const int rc = position_commit(e, topic, partition, lo);
    if (rc != CSC_OK) /* the skip holds for this process; a restart decides again */
      log_json(LOG_WARN, "offset_gap_skip_not_stored", "\"partition\":%d,\"reason\":\"%s\"",
               (int)partition, csc_strerror(rc));
    return lo;
  }
  if (stop_add(e, topic, partition, position, lo, hi)) {
    if (position < lo)
      e->status.offset_gaps++;
    log_position(LOG_ERROR, position < lo ? "offset_gap" : "offset_out_of_range", topic,
                 partition, position, stored, lo, hi);
    status_write(e); /* a reader sees it now, not at the next batch */
  }
  return position;
}

int64_t engine_kafka_position(void *engine, rd_kafka_t *rk, const char *topic,
                              int32_t partition) {
  struct engine *e = engine;
  int64_t position = 0, lo = -1, hi = -1;
  const int stored = engine_position(e, topic, partition, &position) == CSC_OK;
  if (!stored)
    position = 0;
  const rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, GAP_QUERY_TIMEOUT_MS);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || lo < 0 || hi < lo) {
    log_json(LOG_WARN, "offset_check_failed",
             "\"topic\":\"%s\",\"partition\":%d,\"stored_position\":%lld,\"error\":\"%s\"", topic,
             (int)partition, (long long)position, rd_kafka_err2str(err));
    return position;
  }
  return decide(e, topic, partition, position, stored, lo, hi);
}

void gaps_on_reset(struct engine *e, const rd_kafka_message_t *m) {
  const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
  const struct partition_stop *p = stop_find(e, topic, m->partition);
  if (p != NULL && p->position == m->offset)
    return; /* the stop decided at assignment: its fetch failed, as expected */
  log_json(LOG_WARN, "offset_reset_refused",
           "\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld,\"error\":\"%s\"", topic,
           (int)m->partition, (long long)m->offset, rd_kafka_err2str(m->err));
  e->reassign = 1;
}

void gaps_reassign(struct engine *e, rd_kafka_t *rk) {
  const double now = now_seconds();
  if (!e->reassign || now - e->reassigned < REASSIGN_MIN_INTERVAL_S)
    return;
  e->reassign = 0;
  e->reassigned = now;
  rd_kafka_topic_partition_list_t *parts = NULL;
  rd_kafka_resp_err_t err = rd_kafka_assignment(rk, &parts);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && parts->cnt > 0) {
    for (int i = 0; i < parts->cnt; i++) {
      rd_kafka_topic_partition_t *tp = &parts->elems[i];
      tp->offset = engine_kafka_position(e, rk, tp->topic, tp->partition);
    }
    err = rd_kafka_assign(rk, parts);
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log_json(LOG_WARN, "reassign_failed", "\"error\":\"%s\"", rd_kafka_err2str(err));
    e->reassign = 1; /* tried again at the next turn */
  }
  if (parts != NULL)
    rd_kafka_topic_partition_list_destroy(parts);
}
