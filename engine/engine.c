#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/internal.h"


/* Frees what engine_open made, whichever part it reached. */
static void engine_discard(struct engine *e) {
  store_close(e->st);
  arena_free(&e->arena);
  arena_free(&e->batch_arena);
  agg_pending_free(e->pending);
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
  if ((rc = adopt_code_lists(e, err, errlen)) != CSC_OK) {
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

/* ---- applying a batch ----------------------------------------------------------- */

int note_position(struct engine *e, const struct engine_input *in);

/* Grows *v (of *cap elements of size bytes) to hold at least need. */
static int grow(void **v, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return CSC_OK;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need)
    n *= 2;
  void *p = realloc(*v, n * size);
  if (p == NULL)
    return CSC_ENOMEM;
  *v = p;
  *cap = n;
  return CSC_OK;
}

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
  if (grow((void **)&e->dl_notes, &e->cap_dl_notes, e->n_dl_notes + 1, sizeof *e->dl_notes) ==
      CSC_OK) {
    struct dead_letter_note *n = &e->dl_notes[e->n_dl_notes++];
    snprintf(n->reason, sizeof n->reason, "%s", reason);
    n->partition = in->partition;
    n->offset = in->position;
  } else { /* no memory to defer it: say it now, at the risk of a rollback */
    log_json(LOG_WARN, "dead_letter", "\"reason\":\"%s\",\"partition\":%d,\"offset\":%lld",
             reason, (int)in->partition, (long long)in->position);
  }
  return outbox_put(e, txn, TOPIC_DLQ, in->key, in->key ? in->key_len : 0, in->value,
                    in->value_len, h, sizeof h / sizeof h[0]);
}

/* The batch's view of an LA: loaded once, written back at commit. */
static int batch_la(struct engine *e, MDB_txn *txn, const char *la, struct batch_la **out) {
  for (size_t i = 0; i < e->n_las; i++)
    if (strcmp(e->las[i]->la, la) == 0) {
      *out = e->las[i];
      return CSC_OK;
    }
  const size_t had = e->cap_las;
  if (grow((void **)&e->las, &e->cap_las, e->n_las + 1, sizeof *e->las) != CSC_OK)
    return CSC_ENOMEM;
  if (e->cap_las > had)
    memset(e->las + had, 0, (e->cap_las - had) * sizeof *e->las);
  if (e->las[e->n_las] == NULL && (e->las[e->n_las] = malloc(sizeof **e->las)) == NULL)
    return CSC_ENOMEM;
  struct batch_la *b = e->las[e->n_las];
  memset(b, 0, sizeof *b);
  if (strlen(la) >= sizeof b->la)
    return CSC_EINVAL; /* admitted codes fit: a stored one from an older rule may not */
  memcpy(b->la, la, strlen(la) + 1);
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

/* Whether a Kafka message's key names the LA its event belongs to: an LA
 * keyed two ways would live on two partitions, with two owners. */
static const char *key_problem(const struct engine_input *in, const char *canonical) {
  if (!in->keyed)
    return NULL;
  if (in->key == NULL || in->key_len == 0)
    return "key: missing";
  if (strlen(canonical) != in->key_len || memcmp(canonical, in->key, in->key_len) != 0)
    return "key: not the canonical code of la_code";
  return NULL;
}

/* An event recorded well after the input was written is a broken clock,
 * not a date to move the LA's as-of date to. The input's timestamp comes
 * from the log (or --now), so a restore by replay decides the same. */
static int recorded_in_future(const struct engine *e, const struct engine_input *in,
                              const CaseEvent *ev) {
  const int64_t tolerance = e->opt.clock_tolerance_ms > 0 ? e->opt.clock_tolerance_ms
                                                          : ENGINE_CLOCK_TOLERANCE_DEFAULT_MS;
  return in->timestamp_ms > 0 && ev->recorded_at_ms > in->timestamp_ms + tolerance;
}

/*
 * Decodes and checks one input and moves its LA's clock to it. A bad input
 * is dead-lettered and a->ev left NULL.
 */
int admit_input(struct engine *e, MDB_txn *txn, const struct engine_input *in, struct output *out,
                struct admitted *a) {
  const char *reason;
  a->ev = NULL;
  e->stats.consumed++;
  CaseEvent *dec;
  if (ingest_decode(in->value, in->value_len, &e->arena, &dec, &a->pb, &a->pb_len, &reason) !=
      CSC_OK)
    return dead_letter(e, txn, in, reason);
  const char *la = la_registry_resolve(e->opt.las, dec->la_code, &reason);
  if (la == NULL)
    return dead_letter(e, txn, in, reason);
  if ((reason = key_problem(in, la)) != NULL)
    return dead_letter(e, txn, in, reason);
  if (recorded_in_future(e, in, dec))
    return dead_letter(e, txn, in, "recorded_at_ms: later than the message's timestamp by more "
                                   "than the clock tolerance");
  dec->la_code = (char *)la;
  if (history_subject(dec, a->subject, sizeof a->subject) == 0)
    return dead_letter(e, txn, in, "subject: too long for a state key once escaped");
  int rc = batch_la(e, txn, dec->la_code, &a->la);
  if (rc == CSC_OK)
    rc = advance_la(e, txn, a->la, event_clock(e, dec), out);
  if (rc == CSC_OK)
    a->ev = dec;
  return rc;
}

/* Moves the LA's aggregates, alerts and findings by a subject's change of
 * its n events, on the LA's as-of date. */
int apply_change(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
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

/*
 * A worker whose leaver days changed ends (or no longer ends) the
 * allocations of the children allocated to them: each is re-derived and its
 * change applied like any other (state/join.c). Nothing for a child or a post.
 */
int apply_dependents(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
                     const struct child_change *ch, struct output *out) {
  static const char prefix[] = "worker:";
  if (ch->duplicate || strncmp(subject, prefix, sizeof prefix - 1) != 0 ||
      !worker_leavings_changed(&ch->before, &ch->after))
    return CSC_OK;
  char **children;
  size_t n;
  int rc = allocations_dependents(e->st, txn, b->la, subject, &e->arena, &children, &n);
  for (size_t i = 0; rc == CSC_OK && i < n; i++) {
    struct child_change dep;
    rc = history_rederive(e->st, txn, b->la, children[i], refdata_for(e->opt.ref, b->la),
                          &e->arena, &dep);
    if (rc == CSC_OK)
      rc = apply_change(e, txn, b, children[i], &dep, 0, out);
  }
  return rc;
}

static int apply_one(struct engine *e, MDB_txn *txn, const struct engine_input *in,
                     struct output *out) {
  struct admitted a;
  arena_reset(&e->arena);
  int rc = admit_input(e, txn, in, out, &a);
  if (rc != CSC_OK || a.ev == NULL)
    return rc;
  struct child_change ch;
  rc = history_apply(e->st, txn, a.ev, a.pb, a.pb_len, refdata_for(e->opt.ref, a.la->la),
                     &e->arena, &ch);
  if (rc == CSC_OK)
    rc = apply_change(e, txn, a.la, a.subject, &ch, 1, out);
  return rc == CSC_OK ? apply_dependents(e, txn, a.la, a.subject, &ch, out) : rc;
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


int note_position(struct engine *e, const struct engine_input *in) {
  for (size_t i = 0; i < e->n_positions; i++) {
    struct batch_position *p = &e->positions[i];
    if (p->partition == in->partition && strcmp(p->source, in->source) == 0) {
      if (in->next_position > p->next)
        p->next = in->next_position;
      return CSC_OK;
    }
  }
  if (grow((void **)&e->positions, &e->cap_positions, e->n_positions + 1, sizeof *e->positions) !=
      CSC_OK)
    return CSC_ENOMEM;
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
  if (grow((void **)&e->no_population, &e->cap_no_population, e->n_no_population + 1,
           sizeof *e->no_population) == CSC_OK) {
    struct no_population *np = &e->no_population[e->n_no_population++];
    memcpy(np->la, b->la, sizeof np->la);
    np->year = y;
  } /* else: logged again next time, which is harmless */
}

/* Writes back the LAs the batch touched, with a new snapshot of each. */
static int finish_batch(struct engine *e, MDB_txn *txn, struct output *out) {
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < e->n_positions; i++)
    rc = store_put_position(e->st, txn, e->positions[i].source, e->positions[i].partition,
                            e->positions[i].next);
  for (size_t i = 0; rc == CSC_OK && i < e->n_las; i++) {
    struct batch_la *b = e->las[i];
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

/* Logs the dead letters a transaction committed. */
static void log_dead_letters(struct engine *e) {
  for (size_t i = 0; i < e->n_dl_notes; i++)
    log_json(LOG_WARN, "dead_letter", "\"reason\":\"%s\",\"partition\":%d,\"offset\":%lld",
             e->dl_notes[i].reason, (int)e->dl_notes[i].partition,
             (long long)e->dl_notes[i].offset);
  e->n_dl_notes = 0;
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
  e->stats.alerts_raised += ob.base.alerts_raised;
  e->stats.alerts_withdrawn += ob.base.alerts_withdrawn;
  e->stats.findings += ob.base.findings_opened;
  e->stats.findings_resolved += ob.base.findings_resolved;
  e->stats.batches++;
  if (err == CSC_OK) {
    status_record(e, &status);
    if (e->stats.snapshots != snapshots)
      status.last_snapshot_ms = status.updated_ms;
    if (e->stats.applied != applied)
      status.last_applied_ms = status.updated_ms;
    err = store_put_status(e->st, txn, &status);
  }
  if (err == CSC_OK && e->opt.fault)
    e->opt.fault(e->opt.fault_ctx, ENGINE_FAULT_COMMIT);
  if (err == CSC_OK && (rc = mdb_txn_commit(txn)) != 0)
    err = store_error(rc, "commit");
  else if (err != CSC_OK)
    mdb_txn_abort(txn);
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
static int input_fault(int rc) {
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

