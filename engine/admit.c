/*
 * admit.c — one input admitted into a batch: decoded, its LA resolved, its
 * key and clock checked, its subject named, and its LA's clock moved to it;
 * or dead-lettered. The batch's LAs and positions are collected here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"

int dead_letter(struct engine *e, MDB_txn *txn, const struct engine_input *in,
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
int batch_la(struct engine *e, MDB_txn *txn, const char *la, struct batch_la **out) {
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
int advance_la(struct engine *e, MDB_txn *txn, struct batch_la *b, csc_date date,
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
  if (rc == CSC_OK && !a->la->sources_loaded &&
      (rc = store_get_sources(e->st, txn, a->la->la, &a->la->sources)) == CSC_OK)
    a->la->sources_loaded = 1;
  if (rc == CSC_OK) {
    la_sources_note(&a->la->sources, dec->source_system, dec->recorded_at_ms);
    rc = advance_la(e, txn, a->la, event_clock(e, dec), out);
  }
  if (rc == CSC_OK)
    a->ev = dec;
  return rc;
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
