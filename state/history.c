/*
 * A child's history is a run of LMDB values, its chunks, under the keys
 * la\0subject\0 + a 4-byte big-endian chunk number: each chunk holds the
 * events one batch appended, each as varint length + the protobuf bytes
 * received (unknown fields included). Appending writes only the new chunk,
 * next to the subject's others in the B-tree, instead of rewriting the
 * whole history: what a batch writes grows with its events, not with the
 * length of the histories it touches. Histories are short (tens of
 * events), so every change re-folds the whole history: late events and
 * corrections then need no special path.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "state/state.h"

#ifdef INGEST_ID_MAX
/* A fact keeps a plan or event id whole only if ingest admits none longer. */
_Static_assert(INGEST_ID_MAX <= STATE_ID_MAX, "STATE_ID_MAX below INGEST_ID_MAX");
#endif

size_t history_child_subject(const char *child, char *buf, size_t len) {
  size_t n = 0;
  if (len == 0 || key_append(buf, len, &n, ':', child) != CSC_OK)
    return 0;
  return n;
}

size_t history_subject(const CaseEvent *ev, char *buf, size_t len) {
  if (ev->child_id[0] != '\0')
    return history_child_subject(ev->child_id, buf, len);
  if (ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE || len == 0)
    return 0;
  /* "worker"/"post", then the escaped id: the ':' after the prefix is one an
   * escaped child id never holds. */
  const int post = ingest_is_post_change(ev->workforce);
  size_t n = 0;
  buf[0] = '\0';
  if (key_append(buf, len, &n, ':', post ? "post" : "worker") != CSC_OK ||
      key_append(buf, len, &n, ':', post ? ev->workforce->post_id : ev->workforce->worker_id) !=
          CSC_OK)
    return 0;
  return n;
}

/* The history key: la\0subject\0. */
static size_t history_key(uint8_t *key, const CaseEvent *ev) {
  char subject[HISTORY_SUBJECT_MAX];
  const size_t n = history_subject(ev, subject, sizeof subject);
  return n ? store_key(key, ev->la_code, subject, n + 1) : 0;
}

/* One chunk of a history, as read: it points into the map, valid until
 * the transaction writes. */
struct chunk {
  const uint8_t *data;
  size_t len;
};

/* The events in a chunk; CSC_EINVAL when it is malformed. */
static int chunk_count(const struct chunk *c, size_t *count) {
  for (size_t pos = 0; pos < c->len;) {
    uint64_t m;
    const size_t used = varint_decode(c->data + pos, c->len - pos, &m);
    if (used == 0 || m > c->len - pos - used)
      return CSC_EINVAL;
    pos += used + m;
    ++*count;
  }
  return CSC_OK;
}

/* Reads the chunks of the history under key (la\0subject\0, key_len
 * bytes) into an arena array; *next is the number the next chunk takes. */
static int history_read(struct store *st, MDB_txn *txn, const uint8_t *key, size_t key_len,
                        struct arena *a, struct chunk **out, size_t *n, uint32_t *next) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->history, &cur);
  if (rc != 0)
    return store_error(rc, "cursor history");
  uint8_t first[STATE_MAX_KEY + 4];
  memcpy(first, key, key_len);
  memset(first + key_len, 0, 4);
  size_t cap = 0;
  struct chunk *v = NULL;
  *n = 0;
  *next = 0;
  MDB_val k = {key_len + 4, first}, d;
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size != key_len + 4 || memcmp(kb, key, key_len) != 0)
      break;
    if (*n == cap) { /* doubling in the arena: chunks are few */
      cap = cap ? 2 * cap : 8;
      struct chunk *w = arena_alloc(a, cap * sizeof *w);
      if (w == NULL) {
        err = CSC_ENOMEM;
        break;
      }
      if (*n)
        memcpy(w, v, *n * sizeof *w);
      v = w;
    }
    v[(*n)++] = (struct chunk){d.mv_data, d.mv_size};
    *next = ((uint32_t)kb[key_len] << 24 | (uint32_t)kb[key_len + 1] << 16 |
             (uint32_t)kb[key_len + 2] << 8 | kb[key_len + 3]) + 1;
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  if (rc != 0 && rc != MDB_NOTFOUND)
    return store_error(rc, "read history");
  *out = v;
  return CSC_OK;
}

/* Decodes every event of the chunks into an arena array with `spare`
 * slots more. CSC_EINVAL when a chunk is malformed. */
static int history_decode(const struct chunk *chunks, size_t n_chunks, size_t spare,
                          struct arena *a, CaseEvent ***events, size_t *n) {
  size_t count = 0;
  for (size_t c = 0; c < n_chunks; c++)
    if (chunk_count(&chunks[c], &count) != CSC_OK)
      return CSC_EINVAL;
  CaseEvent **v = arena_alloc(a, (count + spare) * sizeof *v);
  if (v == NULL)
    return CSC_ENOMEM;
  ProtobufCAllocator al = arena_protobuf_allocator(a);
  size_t i = 0;
  for (size_t c = 0; c < n_chunks; c++)
    for (size_t pos = 0; pos < chunks[c].len; i++) {
      uint64_t m;
      pos += varint_decode(chunks[c].data + pos, chunks[c].len - pos, &m);
      v[i] = cscflow__v1__case_event__unpack(&al, m, chunks[c].data + pos);
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

/* Writes the events of the batch that are not duplicates as chunk number
 * `number` of the history under key. */
static int history_append(struct store *st, MDB_txn *txn, const uint8_t *key, size_t key_len,
                          uint32_t number, const uint8_t *const *pbs, const size_t *pb_lens,
                          const uint8_t *dup, size_t n) {
  size_t len = 0;
  uint8_t prefix[10];
  for (size_t i = 0; i < n; i++)
    if (!dup[i])
      len += varint_encode(pb_lens[i], prefix) + pb_lens[i];
  uint8_t ck[STATE_MAX_KEY + 4];
  memcpy(ck, key, key_len);
  const uint8_t be[4] = {(uint8_t)(number >> 24), (uint8_t)(number >> 16), (uint8_t)(number >> 8),
                         (uint8_t)number};
  memcpy(ck + key_len, be, 4);
  MDB_val k = {key_len + 4, ck}, v = {len, NULL};
  int rc = mdb_put(txn, st->history, &k, &v, MDB_RESERVE);
  if (rc != 0)
    return store_error(rc, "put history");
  uint8_t *p = v.mv_data;
  for (size_t i = 0; i < n; i++)
    if (!dup[i]) {
      p += varint_encode(pb_lens[i], p);
      memcpy(p, pbs[i], pb_lens[i]);
      p += pb_lens[i];
    }
  return CSC_OK;
}

/* Folds the history (events[0..n) of key k, la's), joins its allocations
 * to their workers (state/join.c), derives it and stores the result. */
static int fold_and_store(struct store *st, MDB_txn *txn, MDB_val *k, const char *la,
                          CaseEvent **events, size_t n, const struct derive_ref *ref,
                          struct arena *a, struct derived *after) {
  struct child_state cs;
  int rc = child_fold(events, n, ref != NULL ? ref->codes : NULL, a, &cs);
  if (rc == CSC_OK && cs.n_allocations > 0) {
    /* the subject is what follows la\0 in the key, NUL-terminated */
    const char *subject = (const char *)k->mv_data + strlen(la) + 1;
    rc = allocations_join(st, txn, la, subject, &cs);
  }
  if (rc == CSC_OK)
    rc = child_derive(&cs, ref, a, after);
  if (rc != CSC_OK)
    return rc;
  MDB_val dv = {derived_size(after), NULL};
  rc = mdb_put(txn, st->derived, k, &dv, MDB_RESERVE);
  if (rc != 0)
    return store_error(rc, "put derived");
  derived_write(after, dv.mv_data);
  return CSC_OK;
}

/* The history of key k decoded into *events (*n of them, with room for
 * `room` more), the number of its next chunk, and its stored derived
 * record. CSC_ESTATE for a history that does not decode. */
static int load_history(struct store *st, MDB_txn *txn, MDB_val *k, size_t room,
                        struct arena *a, CaseEvent ***events, size_t *n, uint32_t *next,
                        struct derived *before) {
  struct chunk *chunks = NULL;
  size_t n_chunks = 0;
  *next = 0;
  int rc = history_read(st, txn, k->mv_data, k->mv_size, a, &chunks, &n_chunks, next);
  if (rc == CSC_OK)
    rc = history_decode(chunks, n_chunks, room, a, events, n);
  if (rc == CSC_EINVAL)
    rc = CSC_ESTATE;
  if (rc == CSC_OK)
    rc = load_derived(st, txn, k, a, before);
  return rc;
}

int history_apply_events(struct store *st, MDB_txn *txn, CaseEvent *const *evs,
                         const uint8_t *const *pbs, const size_t *pb_lens, size_t n,
                         const struct derive_ref *ref, struct arena *a, uint8_t *dup,
                         struct child_change *out) {
  memset(out, 0, sizeof *out);
  if (n == 0)
    return CSC_EINVAL;
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {history_key(key, evs[0]), key};
  if (k.mv_size == 0 || k.mv_size + 4 > STATE_MAX_KEY)
    return CSC_EINVAL;
  CaseEvent **events;
  size_t n_old;
  uint32_t next;
  int rc = load_history(st, txn, &k, n, a, &events, &n_old, &next, &out->before);
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
  rc = history_append(st, txn, key, k.mv_size, next, pbs, pb_lens, dup, n);
  if (rc != CSC_OK)
    return rc;
  return fold_and_store(st, txn, &k, evs[0]->la_code, events, total, ref, a, &out->after);
}

int history_rederive(struct store *st, MDB_txn *txn, const char *la, const char *subject,
                     const struct derive_ref *ref, struct arena *a, struct child_change *out) {
  memset(out, 0, sizeof *out);
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {store_key(key, la, subject, strlen(subject) + 1), key};
  if (k.mv_size == 0 || k.mv_size + 4 > STATE_MAX_KEY)
    return CSC_EINVAL;
  CaseEvent **events = NULL;
  size_t n = 0;
  uint32_t next;
  const int rc = load_history(st, txn, &k, 0, a, &events, &n, &next, &out->before);
  if (rc != CSC_OK || n == 0) { /* an index entry of a history never written: nothing */
    out->after = out->before;
    out->duplicate = 1;
    return rc;
  }
  return fold_and_store(st, txn, &k, la, events, n, ref, a, &out->after);
}

int history_apply(struct store *st, MDB_txn *txn, const CaseEvent *ev, const uint8_t *pb,
                  size_t pb_len, const struct derive_ref *ref, struct arena *a,
                  struct child_change *out) {
  CaseEvent *evs[1] = {(CaseEvent *)ev};
  uint8_t dup;
  return history_apply_events(st, txn, evs, &pb, &pb_len, 1, ref, a, &dup, out);
}
