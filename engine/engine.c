#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"

#define MAX_BATCH_LAS 256
#define MAX_BATCH_POSITIONS 256

struct batch_la {
  char la[24];
  struct la_state ls;
  int is_new;
};

struct batch_position {
  const char *source;
  int32_t partition;
  int64_t next;
};

/*
 * The subjects of a grouped batch: a hash table from history key to group,
 * each group listing its inputs in arrival order (through next_input).
 * Grouping by hash and sorting only the groups costs far less than sorting
 * every input by key: a batch has several inputs per subject.
 */
struct subject_group {
  const uint8_t *key; /* la\0subject\0 (the history key), in the batch arena */
  size_t key_len;
  uint64_t hash;
  struct batch_la *la;
  size_t first, last, count; /* inputs, linked by next_input */
};

struct subject_table {
  struct subject_group *groups;
  size_t n_groups;
  size_t *slots;      /* group index + 1, or 0; a power of 2, at least twice the inputs */
  size_t n_slots;
  size_t *next_input; /* per input: the next input of its group, or SIZE_MAX */
  size_t cap_inputs;
};

static void subject_table_free(struct subject_table *t) {
  free(t->groups);
  free(t->slots);
  free(t->next_input);
}

/* The output of one transaction: messages go to the outbox table. */
struct outbox {
  struct output base;
  struct engine *e;
  MDB_txn *txn;
};

struct engine {
  struct engine_options opt;
  struct store *st;
  struct engine_stats stats;
  struct arena arena;   /* per event: the decoded event, the child's history and facts */
  struct arena batch_arena; /* per batch: the history keys of a grouped batch */
  struct subject_table subjects;  /* a grouped batch's inputs by subject */
  struct agg_pending *pending;    /* a grouped batch's aggregate changes */
  uint64_t next_seq;    /* next outbox key */
  uint64_t unpublished; /* first outbox key not yet handed to the sink */
  uint64_t *acked;      /* outbox entries the sink has acknowledged, to delete */
  size_t n_acked, cap_acked;
  int ack_overflow;     /* acks lost to allocation failure: entries are re-published later */
  csc_date today;       /* live clock */
  double memory_checked; /* when release_mapped_memory last looked */
  struct batch_la las[MAX_BATCH_LAS];
  size_t n_las;
  struct batch_position positions[MAX_BATCH_POSITIONS];
  size_t n_positions;
  struct {
    char la[24];
    int year;
  } no_population[MAX_BATCH_LAS]; /* (LA, year)s already logged as missing */
  size_t n_no_population;
  /* The status record (state.h): what the next one says, except for the
   * counters, which are those carried over at open plus this engine's. */
  struct store_status status;
  struct engine_stats carried;
  int status_dirty;      /* something changed since the last record was written */
  double status_written; /* when it was (monotonic seconds) */
  double lag_checked;    /* when the consumer's assignment and lag were last read */
};

static double now_seconds(void);

/* ---- the outbox -------------------------------------------------------------- */

static void be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t read_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

static size_t put_field(uint8_t *p, const void *data, size_t n) {
  size_t used = varint_encode(n, p);
  if (n)
    memcpy(p + used, data, n);
  return used + n;
}

/* Bytes put_field writes for n bytes of data. */
static size_t field_size(size_t n) {
  uint8_t v[10];
  return varint_encode(n, v) + n;
}

/* Outbox value: topic, key, value, then header name/value pairs, each as
 * varint length + bytes. */
static int outbox_put(struct engine *e, MDB_txn *txn, const char *topic, const void *key,
                      size_t key_len, const void *value, size_t value_len,
                      const struct sink_header *h, size_t nh) {
  size_t n = field_size(strlen(topic)) + field_size(key_len) + field_size(value_len) +
             field_size(0) /* the header count, nh < 128 */;
  for (size_t i = 0; i < nh; i++)
    n += field_size(strlen(h[i].name)) + field_size(strlen(h[i].value));
  uint8_t kb[8];
  be64(kb, e->next_seq);
  MDB_val k = {8, kb}, v = {n, NULL};
  int rc = mdb_put(txn, e->st->outbox, &k, &v, MDB_RESERVE);
  if (rc != 0)
    return store_error(rc, "put outbox");
  uint8_t *p = v.mv_data;
  size_t used = put_field(p, topic, strlen(topic));
  used += put_field(p + used, key, key_len);
  used += put_field(p + used, value, value_len);
  used += varint_encode(nh, p + used);
  for (size_t i = 0; i < nh; i++) {
    used += put_field(p + used, h[i].name, strlen(h[i].name));
    used += put_field(p + used, h[i].value, strlen(h[i].value));
  }
  e->next_seq++;
  return CSC_OK;
}

static int outbox_emit(struct output *o, const char *topic, const char *key, const void *value,
                       size_t value_len) {
  struct outbox *ob = (struct outbox *)o;
  return outbox_put(ob->e, ob->txn, topic, key, strlen(key), value, value_len, NULL, 0);
}

static size_t get_field(const uint8_t *p, size_t len, size_t *pos, const uint8_t **data) {
  uint64_t n;
  size_t used = varint_decode(p + *pos, len - *pos, &n);
  if (used == 0 || n > len - *pos - used)
    return SIZE_MAX;
  *data = p + *pos + used;
  *pos += used + n;
  return (size_t)n;
}

/* Hands one outbox entry to the sink. */
static int outbox_publish(struct engine *e, uint64_t seq, const MDB_val *v) {
  const uint8_t *p = v->mv_data, *topic, *key, *value;
  size_t pos = 0;
  const size_t tl = get_field(p, v->mv_size, &pos, &topic);
  const size_t kl = tl == SIZE_MAX ? SIZE_MAX : get_field(p, v->mv_size, &pos, &key);
  const size_t vl = kl == SIZE_MAX ? SIZE_MAX : get_field(p, v->mv_size, &pos, &value);
  uint64_t nh = 0;
  if (vl == SIZE_MAX || tl >= 128 || varint_decode(p + pos, v->mv_size - pos, &nh) == 0 || nh > 8)
    return CSC_ESTATE;
  pos += varint_decode(p + pos, v->mv_size - pos, &nh);
  char topic_s[128], names[8][64], values[8][256];
  struct sink_header h[8];
  memcpy(topic_s, topic, tl);
  topic_s[tl] = '\0';
  for (uint64_t i = 0; i < nh; i++) {
    const uint8_t *a, *b;
    const size_t al = get_field(p, v->mv_size, &pos, &a);
    const size_t bl = al == SIZE_MAX ? SIZE_MAX : get_field(p, v->mv_size, &pos, &b);
    if (bl == SIZE_MAX || al >= 64 || bl >= 256)
      return CSC_ESTATE;
    memcpy(names[i], a, al);
    names[i][al] = '\0';
    memcpy(values[i], b, bl);
    values[i][bl] = '\0';
    h[i].name = names[i];
    h[i].value = values[i];
  }
  /* No output message of cscflow is empty: an empty value on an output
   * topic is a tombstone (indicators.h: the old ids of alerts and findings),
   * published as a null value so that compaction deletes its key. */
  if (vl == 0 && strcmp(topic_s, TOPIC_DLQ) != 0)
    value = NULL;
  struct sink_message m = {topic_s, key, kl, value, vl, h, (size_t)nh, seq};
  return e->opt.sink->publish(e->opt.sink, &m);
}

/* Hands the sink every outbox entry from e->unpublished on. A message the
 * sink refuses stays in the outbox and is offered again after the next
 * commit (and on every start), so a publication failure loses nothing. */
static int publish_pending(struct engine *e) {
  if (e->unpublished >= e->next_seq)
    return CSC_OK;
  MDB_txn *txn;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(e->st->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0)
    return store_error(rc, "begin read");
  rc = mdb_cursor_open(txn, e->st->outbox, &cur);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return store_error(rc, "cursor outbox");
  }
  uint8_t kb[8];
  be64(kb, e->unpublished);
  MDB_val k = {8, kb}, v;
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const uint64_t seq = read_be64(k.mv_data);
    err = outbox_publish(e, seq, &v);
    if (err == CSC_OK)
      e->unpublished = seq + 1;
    if (err == CSC_OK && e->opt.fault)
      e->opt.fault(e->opt.fault_ctx, ENGINE_FAULT_PUBLISH);
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (err != CSC_OK)
    log_json(LOG_WARN, "publish_deferred", "\"outbox_seq\":%llu,\"reason\":\"%s\"",
             (unsigned long long)e->unpublished, csc_strerror(err));
  else
    e->unpublished = e->next_seq;
  return err;
}

static void on_ack(void *ctx, uint64_t seq, int err) {
  struct engine *e = ctx;
  if (err != CSC_OK)
    return; /* stays in the outbox; published again on the next start */
  if (e->n_acked == e->cap_acked) {
    const size_t cap = e->cap_acked ? e->cap_acked * 2 : 1024;
    uint64_t *v = realloc(e->acked, cap * sizeof *v);
    if (v == NULL) {
      e->ack_overflow = 1;
      return;
    }
    e->acked = v;
    e->cap_acked = cap;
  }
  e->acked[e->n_acked++] = seq;
}

static int outbox_delete_acked_in(struct engine *e, MDB_txn *txn) {
  for (size_t i = 0; i < e->n_acked; i++) {
    uint8_t kb[8];
    be64(kb, e->acked[i]);
    MDB_val k = {8, kb};
    int rc = mdb_del(txn, e->st->outbox, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return store_error(rc, "delete outbox");
  }
  return CSC_OK;
}

/* ---- open and close ------------------------------------------------------------ */

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static csc_date london_today(void) { return date_london_from_unix_ms(wall_ms()); }

/* ---- the status record ------------------------------------------------------------ */

/* The record as of now: e->status with the counters carried over at open
 * plus this engine's. */
static void status_record(const struct engine *e, struct store_status *r) {
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
static void status_write(struct engine *e) {
  e->status_written = now_seconds(); /* a failure is retried at the next turn, not at once */
  const int rc = status_commit(e);
  if (rc != CSC_OK)
    log_json(LOG_WARN, "status_write_failed", "\"reason\":\"%s\"", csc_strerror(rc));
}

/* Carries the counters and histogram of the record an earlier engine left
 * over, and says that the state is being restored. */
static void status_open(struct engine *e) {
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
  e->status.partitions_assigned = 0;
  e->status.consumer_lag = -1;
  status_write(e);
}

static void status_set_mode(struct engine *e, uint32_t mode) {
  if (e->status.mode != mode) {
    e->status.mode = mode;
    e->status_dirty = 1;
  }
}

/*
 * The partitions rk is assigned and their lag: the sum of each one's high
 * watermark less the position to read next (the stored one, else the low
 * watermark: nothing of it was applied yet); -1 when a watermark is not
 * known yet. Only librdkafka's cached watermarks (from its fetches) are
 * read: no request goes to the brokers.
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
  *n_parts = (uint32_t)parts->cnt;
  *lag = known ? sum : -1;
  rd_kafka_topic_partition_list_destroy(parts);
}

/* Frees what engine_open made, whichever part it reached. */
static void engine_discard(struct engine *e) {
  store_close(e->st);
  arena_free(&e->arena);
  arena_free(&e->batch_arena);
  agg_pending_free(e->pending);
  subject_table_free(&e->subjects);
  free(e->acked);
  free(e);
}

int engine_open(const struct engine_options *opt, struct engine **out, char *err, size_t errlen) {
  struct engine *e = calloc(1, sizeof *e);
  if (e == NULL) {
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  e->opt = *opt;
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
  if (rc == CSC_OK)
    rc = store_open_sized(opt->state_dir, 0, opt->map_size, &e->st, err, errlen);
  if (rc == CSC_OK && e->opt.no_sync && (rc = store_set_durable(e->st, 0)) != CSC_OK)
    snprintf(err, errlen, "state: cannot turn off sync");
  if (rc != CSC_OK) {
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

/* A transaction that only deletes what the sink acknowledged. */
static int commit_acks(struct engine *e) {
  if (e->n_acked == 0)
    return CSC_OK;
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
  if (rc != 0)
    return store_error(rc, "begin");
  int err = outbox_delete_acked_in(e, txn);
  if (err != CSC_OK) {
    mdb_txn_abort(txn);
    return err;
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0)
    return store_error(rc, "commit");
  e->n_acked = 0;
  return CSC_OK;
}

void engine_close(struct engine *e) {
  if (e == NULL)
    return;
  if (e->opt.sink->flush(e->opt.sink, 10000) != CSC_OK)
    log_json(LOG_WARN, "sink_flush_incomplete", "\"note\":\"unacknowledged messages stay in the outbox\"");
  commit_acks(e);
  e->opt.sink->on_ack = NULL;
  /* The last word: the final counts, and nothing consumed any more. */
  e->status.partitions_assigned = 0;
  e->status.consumer_lag = -1;
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

/* ---- applying a batch ----------------------------------------------------------- */

static int note_position(struct engine *e, const struct engine_input *in);

static int dead_letter(struct engine *e, MDB_txn *txn, const struct engine_input *in,
                       const char *reason) {
  char partition[16], offset[24];
  snprintf(partition, sizeof partition, "%d", (int)in->partition);
  snprintf(offset, sizeof offset, "%lld", (long long)in->position);
  const struct sink_header h[] = {{"reason", reason},
                                  {"source.topic", in->source},
                                  {"source.partition", partition},
                                  {"source.offset", offset}};
  e->stats.dead_lettered++;
  log_json(LOG_WARN, "dead_letter", "\"reason\":\"%s\",\"partition\":%d,\"offset\":%lld", reason,
           (int)in->partition, (long long)in->position);
  return outbox_put(e, txn, TOPIC_DLQ, in->key, in->key ? in->key_len : 0, in->value,
                    in->value_len, h, sizeof h / sizeof h[0]);
}

/* The batch's view of an LA: loaded once, written back at commit. */
static int batch_la(struct engine *e, MDB_txn *txn, const char *la, struct batch_la **out) {
  for (size_t i = 0; i < e->n_las; i++)
    if (strcmp(e->las[i].la, la) == 0) {
      *out = &e->las[i];
      return CSC_OK;
    }
  if (e->n_las == MAX_BATCH_LAS)
    return CSC_EFULL;
  struct batch_la *b = &e->las[e->n_las];
  memset(b, 0, sizeof *b);
  snprintf(b->la, sizeof b->la, "%s", la);
  int rc = store_get_la(e->st, txn, la, &b->ls);
  if (rc == CSC_ENOTFOUND)
    b->is_new = 1;
  else if (rc != CSC_OK)
    return rc;
  e->n_las++;
  *out = b;
  return CSC_OK;
}

/* Moves an LA's clock forward to date, applying what falls due. */
static int advance_la(struct engine *e, MDB_txn *txn, struct batch_la *b, csc_date date,
                      struct output *out) {
  if (b->is_new) {
    b->ls.as_of = date; /* nothing is booked yet */
    b->is_new = 0;
    return CSC_OK;
  }
  if (date <= b->ls.as_of)
    return CSC_OK;
  int rc = agg_advance(e->st, txn, b->la, b->ls.as_of, date);
  if (rc == CSC_OK)
    rc = alerts_advance(e->st, txn, b->la, b->ls.as_of, date, out);
  if (rc == CSC_OK)
    b->ls.as_of = date;
  return rc;
}

static csc_date event_clock(const struct engine *e, const CaseEvent *ev) {
  if (e->opt.clock == CLOCK_LIVE)
    return e->today;
  csc_date d;
  if (ev->recorded_at_ms > 0)
    return date_london_from_unix_ms(ev->recorded_at_ms);
  return date_from_yyyymmdd(ev->occurred_on, &d) == CSC_OK ? d : 0;
}

/*
 * Decodes and checks one input and moves its LA's clock to it. A bad input
 * is dead-lettered and *ev left NULL; otherwise *ev (allocated from the
 * engine's per-event arena), its protobuf bytes, its subject and its LA.
 */
static int admit_input(struct engine *e, MDB_txn *txn, const struct engine_input *in,
                       struct output *out, CaseEvent **ev, const uint8_t **pb, size_t *pb_len,
                       char *subject, size_t subject_len, struct batch_la **b) {
  const char *reason;
  *ev = NULL;
  e->stats.consumed++;
  CaseEvent *dec;
  if (ingest_decode(in->value, in->value_len, &e->arena, &dec, pb, pb_len, &reason) != CSC_OK)
    return dead_letter(e, txn, in, reason);
  if (in->key != NULL && in->key_len > 0 &&
      (strlen(dec->la_code) != in->key_len || memcmp(dec->la_code, in->key, in->key_len) != 0))
    return dead_letter(e, txn, in, "key does not match la_code");
  if (history_subject(dec, subject, subject_len) == 0)
    return dead_letter(e, txn, in, "identifier too long");
  int rc = batch_la(e, txn, dec->la_code, b);
  if (rc == CSC_OK)
    rc = advance_la(e, txn, *b, event_clock(e, dec), out);
  if (rc == CSC_OK)
    *ev = dec;
  return rc;
}

/* Moves the LA's aggregates, alerts and findings by a subject's change of
 * its n events, on the LA's as-of date. */
static int apply_change(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
                        const struct child_change *ch, size_t n, struct output *out) {
  e->stats.duplicates += n - ch->appended;
  if (ch->duplicate)
    return CSC_OK;
  const csc_date T = b->ls.as_of;
  int rc = e->opt.group_by_subject
               ? agg_pending_diff(e->pending, b->la, T, ch->before.facts, ch->before.n_facts,
                                  ch->after.facts, ch->after.n_facts)
               : agg_apply_diff(e->st, txn, b->la, T, ch->before.facts, ch->before.n_facts,
                                ch->after.facts, ch->after.n_facts);
  if (rc == CSC_OK)
    rc = alerts_apply_diff(e->st, txn, b->la, subject, T, ch->before.alerts, ch->before.n_alerts,
                           ch->after.alerts, ch->after.n_alerts, out);
  if (rc == CSC_OK)
    rc = quality_emit_changes(b->la, subject, T, ch->before.findings, ch->before.n_findings,
                              ch->after.findings, ch->after.n_findings, out);
  b->ls.events_applied += ch->appended;
  e->stats.applied += ch->appended;
  return rc;
}

static int apply_one(struct engine *e, MDB_txn *txn, const struct engine_input *in,
                     struct output *out) {
  CaseEvent *ev;
  const uint8_t *pb;
  size_t pb_len;
  char subject[HISTORY_SUBJECT_MAX];
  struct batch_la *b;
  arena_reset(&e->arena);
  int rc = admit_input(e, txn, in, out, &ev, &pb, &pb_len, subject, sizeof subject, &b);
  if (rc != CSC_OK || ev == NULL)
    return rc;
  struct child_change ch;
  rc = history_apply(e->st, txn, ev, pb, pb_len, refdata_for(e->opt.ref, b->la), &e->arena, &ch);
  return rc == CSC_OK ? apply_change(e, txn, b, subject, &ch, 1, out) : rc;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* Keeps the resident size from growing with the state: after a commit, at
 * most ten times a second, when the mapped pages exceed the budget, unmaps
 * them (they stay in the page cache; see store_release_memory). Not inside
 * a transaction: LMDB touches every page it wrote again at commit, so the
 * pages would only come back. What one transaction writes is therefore the
 * floor of the resident size: batch size bounds memory. */
static void release_mapped_memory(struct engine *e, double now) {
  if (now - e->memory_checked < 0.1)
    return;
  e->memory_checked = now;
  uint64_t anon;
  const uint64_t mapped = mapped_resident_bytes(&anon);
  if (anon > e->stats.peak_anon_bytes)
    e->stats.peak_anon_bytes = anon;
  if (mapped > MAPPED_BUDGET && store_release_memory(e->st) != CSC_OK)
    log_json(LOG_WARN, "state_release_failed", "\"note\":\"resident memory may grow\"");
}

/* ---- applying a batch one subject at a time ------------------------------------ */

/* Room for n inputs; emptied. */
static int subject_table_reset(struct subject_table *t, size_t n) {
  if (n > t->cap_inputs) {
    size_t slots = 1024;
    while (slots < 2 * n)
      slots *= 2;
    struct subject_group *g = realloc(t->groups, n * sizeof *g);
    if (g != NULL)
      t->groups = g;
    size_t *s = realloc(t->slots, slots * sizeof *s);
    if (s != NULL)
      t->slots = s;
    size_t *x = realloc(t->next_input, n * sizeof *x);
    if (x != NULL)
      t->next_input = x;
    if (g == NULL || s == NULL || x == NULL)
      return CSC_ENOMEM;
    t->n_slots = slots;
    t->cap_inputs = n;
  }
  memset(t->slots, 0, t->n_slots * sizeof *t->slots);
  t->n_groups = 0;
  return CSC_OK;
}

static uint64_t key_hash(const uint8_t *key, size_t len) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ key[i]) * 1099511628211ull;
  return h ^ h >> 31;
}

/* Adds input i, whose history key is key, to its group (a new one if the
 * key is new: key must then stay valid for the batch). */
static void subject_table_add(struct subject_table *t, const uint8_t *key, size_t len,
                              struct batch_la *la, size_t i, int *is_new) {
  const uint64_t h = key_hash(key, len);
  size_t at = (size_t)h & (t->n_slots - 1);
  for (; t->slots[at] != 0; at = (at + 1) & (t->n_slots - 1)) {
    struct subject_group *g = &t->groups[t->slots[at] - 1];
    if (g->hash == h && g->key_len == len && memcmp(g->key, key, len) == 0) {
      t->next_input[g->last] = i;
      t->next_input[i] = SIZE_MAX;
      g->last = i;
      g->count++;
      *is_new = 0;
      return;
    }
  }
  t->groups[t->n_groups] = (struct subject_group){key, len, h, la, i, i, 1};
  t->next_input[i] = SIZE_MAX;
  t->slots[at] = ++t->n_groups;
  *is_new = 1;
}

/* Key order, so that the writes of one LA cluster in the B-tree. */
static int subject_group_compare(const void *pa, const void *pb) {
  const struct subject_group *a = pa, *b = pb;
  const size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  const int c = memcmp(a->key, b->key, n);
  return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* Applies the inputs of one subject (decoded again: the per-event arena
 * holds one subject at a time, so memory does not grow with the batch). */
static int apply_subject(struct engine *e, MDB_txn *txn, const struct engine_input *in,
                         const struct subject_group *g, struct output *out) {
  const size_t k = g->count;
  arena_reset(&e->arena);
  CaseEvent **evs = arena_alloc(&e->arena, k * sizeof *evs);
  const uint8_t **pbs = arena_alloc(&e->arena, k * sizeof *pbs);
  size_t *lens = arena_alloc(&e->arena, k * sizeof *lens);
  uint8_t *dup = arena_alloc(&e->arena, k);
  if (evs == NULL || pbs == NULL || lens == NULL || dup == NULL)
    return CSC_ENOMEM;
  size_t i = g->first;
  for (size_t j = 0; j < k; j++, i = e->subjects.next_input[i]) {
    const char *reason;
    /* It decoded when admitted: only memory can fail now. */
    int rc = ingest_decode(in[i].value, in[i].value_len, &e->arena, &evs[j], &pbs[j], &lens[j],
                           &reason);
    if (rc != CSC_OK)
      return rc == CSC_ENOMEM ? rc : CSC_ESTATE;
  }
  struct batch_la *b = g->la;
  struct child_change ch;
  int rc = history_apply_events(e->st, txn, evs, pbs, lens, k, refdata_for(e->opt.ref, b->la),
                                &e->arena, dup, &ch);
  const char *subject = (const char *)g->key + strlen(b->la) + 1;
  return rc == CSC_OK ? apply_change(e, txn, b, subject, &ch, k, out) : rc;
}

/* Admits every input (dead letters and clocks in arrival order), then
 * applies the admitted ones subject by subject. */
static int apply_grouped(struct engine *e, MDB_txn *txn, const struct engine_input *in, size_t n,
                         struct output *out) {
  struct subject_table *t = &e->subjects;
  int rc = subject_table_reset(t, n);
  arena_reset(&e->batch_arena);
  agg_pending_clear(e->pending); /* what an aborted attempt left */
  for (size_t i = 0; rc == CSC_OK && i < n; i++) {
    CaseEvent *ev;
    const uint8_t *pb;
    size_t pb_len;
    char subject[HISTORY_SUBJECT_MAX];
    struct batch_la *b;
    arena_reset(&e->arena);
    rc = admit_input(e, txn, &in[i], out, &ev, &pb, &pb_len, subject, sizeof subject, &b);
    if (rc == CSC_OK)
      rc = note_position(e, &in[i]);
    if (rc != CSC_OK || ev == NULL)
      continue;
    uint8_t key[STATE_MAX_KEY];
    const size_t len = store_key(key, b->la, subject, strlen(subject) + 1);
    if (len == 0) {
      rc = CSC_EINVAL;
      break;
    }
    int is_new;
    subject_table_add(t, key, len, b, i, &is_new);
    if (is_new) { /* the group keeps the key: copy it out of the stack */
      uint8_t *copy = arena_alloc(&e->batch_arena, len);
      if (copy == NULL) {
        rc = CSC_ENOMEM;
        break;
      }
      memcpy(copy, key, len);
      t->groups[t->n_groups - 1].key = copy;
    }
  }
  if (rc != CSC_OK)
    return rc;
  qsort(t->groups, t->n_groups, sizeof *t->groups, subject_group_compare);
  for (size_t g = 0; rc == CSC_OK && g < t->n_groups; g++)
    rc = apply_subject(e, txn, in, &t->groups[g], out);
  /* The clocks moved before any change was summed, and nothing reads the
   * aggregates until the snapshots: one write per key now. */
  return rc == CSC_OK ? agg_pending_flush(e->pending, e->st, txn) : rc;
}

static int note_position(struct engine *e, const struct engine_input *in) {
  for (size_t i = 0; i < e->n_positions; i++) {
    struct batch_position *p = &e->positions[i];
    if (p->partition == in->partition && strcmp(p->source, in->source) == 0) {
      if (in->next_position > p->next)
        p->next = in->next_position;
      return CSC_OK;
    }
  }
  if (e->n_positions == MAX_BATCH_POSITIONS)
    return CSC_EFULL;
  e->positions[e->n_positions++] =
      (struct batch_position){in->source, in->partition, in->next_position};
  return CSC_OK;
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
  if (e->n_no_population < MAX_BATCH_LAS) {
    snprintf(e->no_population[e->n_no_population].la, sizeof e->no_population[0].la, "%s", b->la);
    e->no_population[e->n_no_population++].year = y;
  }
}

/* Writes back the LAs the batch touched, with a new snapshot of each. */
static int finish_batch(struct engine *e, MDB_txn *txn, struct output *out) {
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < e->n_positions; i++)
    rc = store_put_position(e->st, txn, e->positions[i].source, e->positions[i].partition,
                            e->positions[i].next);
  for (size_t i = 0; rc == CSC_OK && i < e->n_las; i++) {
    struct batch_la *b = &e->las[i];
    uint8_t *buf;
    size_t len;
    rc = store_put_la(e->st, txn, b->la, &b->ls);
    note_population(e, b);
    if (rc == CSC_OK)
      rc = snapshot_build(e->st, txn, b->la, &b->ls, e->opt.population, &buf, &len);
    if (rc == CSC_OK) {
      rc = out->emit(out, TOPIC_INDICATORS, b->la, buf, len);
      free(buf);
      e->stats.snapshots++;
    }
  }
  return rc;
}

/* Runs body inside one write transaction and publishes what it emitted. */
static int in_transaction_once(struct engine *e,
                               int (*body)(struct engine *, MDB_txn *, struct output *, void *),
                               void *arg) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
  if (rc != 0)
    return store_error(rc, "begin");
  struct outbox ob = {{outbox_emit, 0, 0, 0, 0}, e, txn};
  const uint64_t first_seq = e->next_seq, snapshots = e->stats.snapshots;
  struct store_status status;
  e->n_las = 0;
  e->n_positions = 0;
  int err = outbox_delete_acked_in(e, txn);
  if (err == CSC_OK)
    err = body(e, txn, &ob.base, arg);
  if (err == CSC_OK)
    err = finish_batch(e, txn, &ob.base);
  /* Counted before the commit, so that the status record in it says so
   * (in_transaction undoes the counts of a transaction that failed). */
  e->stats.alerts_raised += ob.base.alerts_raised;
  e->stats.alerts_withdrawn += ob.base.alerts_withdrawn;
  e->stats.findings += ob.base.findings_opened;
  e->stats.findings_resolved += ob.base.findings_resolved;
  e->stats.batches++;
  if (err == CSC_OK) {
    status_record(e, &status);
    if (e->stats.snapshots != snapshots)
      status.last_snapshot_ms = status.updated_ms;
    err = store_put_status(e->st, txn, &status);
  }
  if (err == CSC_OK && e->opt.fault)
    e->opt.fault(e->opt.fault_ctx, ENGINE_FAULT_COMMIT);
  if (err == CSC_OK && (rc = mdb_txn_commit(txn)) != 0)
    err = store_error(rc, "commit");
  else if (err != CSC_OK)
    mdb_txn_abort(txn);
  if (err != CSC_OK) {
    e->next_seq = first_seq;
    return err;
  }
  e->n_acked = 0; /* deleted for good with the commit */
  const double now = now_seconds();
  e->status.last_snapshot_ms = status.last_snapshot_ms;
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

static int apply_batch(struct engine *e, const struct engine_input *in, size_t n) {
  struct batch_arg ba = {in, n};
  int rc = in_transaction(e, apply_body, &ba);
  /* LMDB caps the pages one transaction may write (MDB_TXN_FULL). Nothing
   * of the failed attempt was kept: apply the batch as two. */
  if (rc == CSC_ETXNFULL && n > 1) {
    log_json(LOG_INFO, "batch_split", "\"events\":%zu", n);
    rc = apply_batch(e, in, n / 2);
    if (rc == CSC_OK)
      rc = apply_batch(e, in + n / 2, n - n / 2);
  }
  return rc;
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

static int tick_body(struct engine *e, MDB_txn *txn, struct output *out, void *arg) {
  (void)arg;
  MDB_cursor *cur;
  MDB_val k, v;
  int rc = mdb_cursor_open(txn, e->st->las, &cur);
  if (rc != 0)
    return store_error(rc, "cursor las");
  char las[MAX_BATCH_LAS][24];
  size_t n = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < MAX_BATCH_LAS;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    struct la_state ls;
    if (v.mv_size != sizeof ls || k.mv_size > sizeof las[0])
      continue;
    memcpy(&ls, v.mv_data, sizeof ls);
    if (ls.as_of < e->today)
      memcpy(las[n++], k.mv_data, k.mv_size); /* key is la\0 */
  }
  mdb_cursor_close(cur);
  int err = CSC_OK;
  for (size_t i = 0; err == CSC_OK && i < n; i++) {
    struct batch_la *b;
    err = batch_la(e, txn, las[i], &b);
    if (err == CSC_OK)
      err = advance_la(e, txn, b, e->today, out);
  }
  return err;
}

int engine_tick(struct engine *e, csc_date today) {
  if (today <= e->today && e->stats.batches > 0)
    return CSC_OK;
  e->today = today;
  return in_transaction(e, tick_body, NULL);
}

/* ---- sources -------------------------------------------------------------------- */

int engine_replay_file(struct engine *e, const char *path, volatile sig_atomic_t *stop) {
  char real[PATH_MAX], source[PATH_MAX + 8];
  struct file_source *fs;
  if (realpath(path, real) == NULL || file_source_open(real, &fs) != CSC_OK) {
    log_json(LOG_ERROR, "replay_open_failed", "\"reason\":\"cannot open input\"");
    return CSC_EIO;
  }
  snprintf(source, sizeof source, "file:%s", real);
  status_set_mode(e, STATUS_MODE_REPLAY);
  int64_t pos = 0;
  int rc = engine_position(e, source, 0, &pos);
  if (rc == CSC_OK && file_source_seek(fs, (uint64_t)pos) != CSC_OK)
    rc = CSC_EINVAL;
  else if (rc == CSC_ENOTFOUND)
    rc = CSC_OK;
  if (rc != CSC_OK) {
    file_source_close(fs);
    return rc;
  }
  if (pos > 0)
    log_json(LOG_INFO, "replay_resume", "\"position\":%lld", (long long)pos);

  struct engine_input *batch = malloc(e->opt.batch_max * sizeof *batch);
  if (batch == NULL) {
    file_source_close(fs);
    return CSC_ENOMEM;
  }
  const double start = now_seconds();
  double last_report = start;
  uint64_t done = 0, reported = 0;
  const uint64_t size = file_source_size(fs);
  int more = 1;
  while (rc == CSC_OK && more && !*stop) {
    size_t n = 0;
    while (n < e->opt.batch_max) {
      const uint8_t *buf;
      size_t len;
      const uint64_t at = file_source_position(fs);
      int r = file_source_next(fs, &buf, &len);
      if (r == CSC_ENOTFOUND) {
        more = 0;
        break;
      }
      if (r != CSC_OK) {
        log_json(LOG_ERROR, "replay_truncated_record", "\"position\":%llu", (unsigned long long)at);
        rc = CSC_EINVAL;
        more = 0;
        break;
      }
      batch[n++] = (struct engine_input){source, 0, (int64_t)at, (int64_t)file_source_position(fs),
                                         NULL, 0, buf, len};
    }
    if (n > 0) {
      int r = engine_apply_batch(e, batch, n);
      if (r != CSC_OK)
        rc = r;
      done += n;
      file_source_release(fs, file_source_position(fs));
    }
    const double t = now_seconds();
    if (t - last_report >= 1.0 || !more) {
      /* The rate since the last line shows whether the cost per event
       * rises as histories grow; the rate since the start hides it. */
      const uint64_t at = file_source_position(fs);
      const double window = t - last_report > 1e-9 ? t - last_report : 1e-9;
      log_json(LOG_INFO, more ? "replay_progress" : "replay_done",
               "\"events\":%llu,\"events_per_s\":%.0f,\"window_events_per_s\":%.0f,"
               "\"elapsed_s\":%.3f,\"position\":%llu,\"size\":%llu,\"percent\":%.1f,"
               "\"dead_lettered\":%llu",
               (unsigned long long)done, done / (t - start > 1e-9 ? t - start : 1e-9),
               (double)(done - reported) / window, t - start, (unsigned long long)at,
               (unsigned long long)size, size ? 100.0 * (double)at / (double)size : 100.0,
               (unsigned long long)e->stats.dead_lettered);
      last_report = t;
      reported = done;
    }
    e->opt.sink->poll(e->opt.sink, 0);
  }
  free(batch);
  file_source_close(fs);
  return rc;
}

int64_t engine_kafka_position(void *engine, const char *topic, int32_t partition) {
  int64_t next;
  if (engine_position(engine, topic, partition, &next) == CSC_OK)
    return next;
  return RD_KAFKA_OFFSET_BEGINNING;
}

/* Reads the assignment and lag at most once a second; when idle, writes the
 * record if something changed (at most once a second) or else every 5 s, so
 * that /readyz can tell a live writer from a dead one. */
static void status_poll(struct engine *e, rd_kafka_t *rk, int idle) {
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

int engine_run_kafka(struct engine *e, rd_kafka_t *rk, volatile sig_atomic_t *stop, int run_ms,
                     int idle_exit_ms) {
  rd_kafka_message_t **msgs = malloc(e->opt.batch_max * sizeof *msgs);
  struct engine_input *batch = malloc(e->opt.batch_max * sizeof *batch);
  if (msgs == NULL || batch == NULL) {
    free(msgs);
    free(batch);
    return CSC_ENOMEM;
  }
  int rc = CSC_OK;
  const double started = now_seconds();
  double idle_since = started;
  status_set_mode(e, STATUS_MODE_RUN);
  while (rc == CSC_OK && !*stop && (run_ms <= 0 || (now_seconds() - started) * 1000 < run_ms)) {
    size_t n = 0;
    double deadline = 0;
    while (n < e->opt.batch_max) {
      /* Wait up to 100 ms for the first message, then at most batch_ms for
       * the rest of the batch: latency stays bounded at low rates. */
      int wait_ms = 100;
      if (n > 0) {
        const double left = deadline - now_seconds();
        wait_ms = left > 0 ? (int)(left * 1000) : 0;
      }
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, wait_ms);
      if (m == NULL)
        break;
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          log_json(LOG_WARN, "kafka_consume_error", "\"error\":\"%s\"", rd_kafka_err2str(m->err));
        rd_kafka_message_destroy(m);
        continue;
      }
      if (n == 0)
        deadline = now_seconds() + e->opt.batch_ms / 1000.0;
      msgs[n] = m;
      batch[n] = (struct engine_input){rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                                       m->offset + 1, m->key, m->key_len, m->payload, m->len};
      n++;
    }
    if (e->opt.clock == CLOCK_LIVE)
      rc = engine_tick(e, london_today());
    if (rc == CSC_OK && n > 0)
      rc = engine_apply_batch(e, batch, n);
    for (size_t i = 0; i < n; i++)
      rd_kafka_message_destroy(msgs[i]);
    e->opt.sink->poll(e->opt.sink, 0);
    if (rc == CSC_OK)
      status_poll(e, rk, n == 0);
    if (n > 0)
      idle_since = now_seconds();
    else if (idle_exit_ms > 0 && (now_seconds() - idle_since) * 1000 >= idle_exit_ms)
      break;
  }
  free(msgs);
  free(batch);
  return rc;
}
