/*
 * A child's history is one LMDB value: its events, each as varint length +
 * the protobuf bytes received (unknown fields included). Histories are short
 * (tens of events), so every change re-folds the whole history: late events
 * and corrections then need no special path.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "state/state.h"

size_t history_subject(const CaseEvent *ev, char *buf, size_t len) {
  int n = 0;
  if (ev->child_id[0] != '\0')
    n = snprintf(buf, len, "%s", ev->child_id);
  else if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE)
    n = ingest_is_post_change(ev->workforce) ? snprintf(buf, len, "post:%s", ev->workforce->post_id)
                                      : snprintf(buf, len, "worker:%s", ev->workforce->worker_id);
  return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/* The history key: la\0subject\0. */
static size_t history_key(uint8_t *key, const CaseEvent *ev) {
  char subject[160];
  const size_t n = history_subject(ev, subject, sizeof subject);
  return n ? store_key(key, ev->la_code, subject, n + 1) : 0;
}

/* Decodes every event of a stored history into an arena array with
 * `spare` slots more. CSC_EINVAL when the stored value is malformed. */
static int history_decode(const uint8_t *buf, size_t len, size_t spare, struct arena *a,
                          CaseEvent ***events, size_t *n) {
  size_t count = 0;
  for (size_t pos = 0; pos < len;) {
    uint64_t m;
    const size_t used = varint_decode(buf + pos, len - pos, &m);
    if (used == 0 || m > len - pos - used)
      return CSC_EINVAL;
    pos += used + m;
    count++;
  }
  CaseEvent **v = arena_alloc(a, (count + spare) * sizeof *v);
  if (v == NULL)
    return CSC_ENOMEM;
  ProtobufCAllocator al = arena_protobuf_allocator(a);
  size_t i = 0;
  for (size_t pos = 0; pos < len; i++) {
    uint64_t m;
    pos += varint_decode(buf + pos, len - pos, &m);
    v[i] = cscflow__v1__case_event__unpack(&al, m, buf + pos);
    if (v[i] == NULL)
      return CSC_EINVAL;
    pos += m;
  }
  *events = v;
  *n = count;
  return CSC_OK;
}

static int load_derived(struct store *st, MDB_txn *txn, MDB_val *key, struct arena *a,
                        struct derived *out) {
  MDB_val v;
  int rc = mdb_get(txn, st->derived, key, &v);
  if (rc == MDB_NOTFOUND) {
    memset(out, 0, sizeof *out);
    return CSC_OK;
  }
  if (rc != 0)
    return store_error(rc, "get derived");
  return derived_decode(v.mv_data, v.mv_size, a, out);
}

/* Whether the event_id of ev is in events[0..n). */
static int has_event_id(CaseEvent *const *events, size_t n, const char *event_id) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(events[i]->event_id, event_id) == 0)
      return 1;
  return 0;
}

/* Writes the new history value: the old one, then each event of the batch
 * that is not a duplicate. old may point into the map, which the put can
 * move: it is copied first. */
static int history_store(struct store *st, MDB_txn *txn, MDB_val *k, MDB_val old,
                         const uint8_t *const *pbs, const size_t *pb_lens, const uint8_t *dup,
                         size_t n, struct arena *a) {
  size_t len = old.mv_size;
  uint8_t prefix[10];
  for (size_t i = 0; i < n; i++)
    if (!dup[i])
      len += varint_encode(pb_lens[i], prefix) + pb_lens[i];
  uint8_t *copy = NULL;
  if (old.mv_size) {
    copy = arena_alloc(a, old.mv_size);
    if (copy == NULL)
      return CSC_ENOMEM;
    memcpy(copy, old.mv_data, old.mv_size);
  }
  MDB_val nv = {len, NULL};
  int rc = mdb_put(txn, st->history, k, &nv, MDB_RESERVE);
  if (rc != 0)
    return store_error(rc, "put history");
  uint8_t *p = nv.mv_data;
  if (copy)
    memcpy(p, copy, old.mv_size);
  p += old.mv_size;
  for (size_t i = 0; i < n; i++)
    if (!dup[i]) {
      p += varint_encode(pb_lens[i], p);
      memcpy(p, pbs[i], pb_lens[i]);
      p += pb_lens[i];
    }
  return CSC_OK;
}

int history_apply_events(struct store *st, MDB_txn *txn, CaseEvent *const *evs,
                         const uint8_t *const *pbs, const size_t *pb_lens, size_t n,
                         const struct derive_ref *ref, struct arena *a, uint8_t *dup,
                         struct child_change *out) {
  memset(out, 0, sizeof *out);
  if (n == 0)
    return CSC_EINVAL;
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {history_key(key, evs[0]), key}, old = {0, NULL};
  if (k.mv_size == 0)
    return CSC_EINVAL;
  int rc = mdb_get(txn, st->history, &k, &old);
  if (rc != 0 && rc != MDB_NOTFOUND)
    return store_error(rc, "get history");

  CaseEvent **events;
  size_t n_old;
  rc = history_decode(old.mv_data, old.mv_size, n, a, &events, &n_old);
  if (rc != CSC_OK)
    return rc == CSC_EINVAL ? CSC_ESTATE : rc;
  rc = load_derived(st, txn, &k, a, &out->before);
  if (rc != CSC_OK)
    return rc;
  size_t total = n_old;
  for (size_t i = 0; i < n; i++) {
    dup[i] = (uint8_t)has_event_id(events, total, evs[i]->event_id);
    if (!dup[i])
      events[total++] = evs[i];
  }
  out->appended = total - n_old;
  if (out->appended == 0) {
    out->after = out->before;
    out->duplicate = 1;
    return CSC_OK;
  }
  rc = history_store(st, txn, &k, old, pbs, pb_lens, dup, n, a);
  if (rc != CSC_OK)
    return rc;

  struct child_state cs;
  rc = child_fold(events, total, a, &cs);
  if (rc == CSC_OK)
    rc = child_derive(&cs, ref, a, &out->after);
  if (rc != CSC_OK)
    return rc;

  MDB_val dv = {derived_size(&out->after), NULL};
  rc = mdb_put(txn, st->derived, &k, &dv, MDB_RESERVE);
  if (rc != 0)
    return store_error(rc, "put derived");
  derived_write(&out->after, dv.mv_data);
  return CSC_OK;
}

int history_apply(struct store *st, MDB_txn *txn, const CaseEvent *ev, const uint8_t *pb,
                  size_t pb_len, const struct derive_ref *ref, struct arena *a,
                  struct child_change *out) {
  CaseEvent *evs[1] = {(CaseEvent *)ev};
  uint8_t dup;
  return history_apply_events(st, txn, evs, &pb, &pb_len, 1, ref, a, &dup, out);
}
