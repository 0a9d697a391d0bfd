/*
 * A child's history is one byte stream of event records, stored as a run of
 * LMDB values, its chunks, under the keys la\0subject\0 + a 4-byte
 * big-endian chunk number. Histories are short (tens of events), so every
 * change re-folds the whole history: late events and corrections then need
 * no special path.
 *
 * A record is varint (length << 3 | flags) + the event's protobuf bytes as
 * received (unknown fields included) less the fields the flags say are
 * left out, because the history already says them:
 *   H_LA      la_code (field 2): the LA of the key;
 *   H_CHILD   child_id (field 3): the previous record's;
 *   H_SOURCE  source_system (field 6): the previous record's.
 * Those three were a third of the raw bytes (issue 17 item 3); decoding
 * sets the fields back, so a decoded event is the event received.
 *
 * Chunks are cut to suit LMDB's pages, not batches: LMDB keeps a value
 * longer than about half a page on overflow pages of its own, and the tail
 * of the last one is wasted (a 2.1 KB chunk took a whole 4 KB page, a 4.2
 * KB one two). So the stream is cut into sealed chunks that fill one
 * overflow page exactly (chunk_full) and a tail of chunks small enough to
 * stay in leaf pages and pack them well (chunk_piece_max), beside other
 * keys. Appending rewrites only the tail (less than a page's worth) with
 * the new records after it: what a batch writes still grows with its
 * events, not with the length of the histories it touches. Readers
 * concatenate the chunks and need not know where they were cut.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "state/fold_resume.h"
#include "state/history_cache.h"
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

/* LMDB's page header (MDB_page before its first node: a pgno_t, two
 * uint16_t and two indx_t), which lmdb.h does not export. Were it other on
 * some build, chunks would waste a few bytes, never break: readers do not
 * depend on where chunks are cut. */
#define LMDB_PAGE_HEADER (sizeof(size_t) + 8)

/* A chunk of this many bytes fills one overflow page exactly. */
static size_t chunk_full(const struct store *st) { return st->page_size - LMDB_PAGE_HEADER; }

/* The longest value under a key of key_len bytes that LMDB keeps in a leaf
 * page: its largest node (half a page, even, less an index slot) less the
 * node header (8 bytes) and the key. */
static size_t chunk_leaf_max(const struct store *st, size_t key_len) {
  const size_t nodemax = (((st->page_size - LMDB_PAGE_HEADER) / 2) & ~(size_t)1) - 2;
  return nodemax - 8 - key_len;
}

/* The longest chunk of a tail: an eighth of a page. LMDB packs leaf pages
 * well only with small nodes: writing in key order, each split moves the
 * full page's last node to the new page, so a page of k-byte nodes ends
 * about k bytes short (tails cut at the leaf maximum, about 2 KB, left
 * history's leaf pages 59% full on the quick bench history; an eighth of
 * a page, 83%, for one more key of about 40 bytes per 512). */
static size_t chunk_piece_max(const struct store *st, size_t key_len) {
  const size_t leaf = chunk_leaf_max(st, key_len), piece = st->page_size / 8;
  return piece < leaf ? piece : leaf;
}

#define H_LA 1u
#define H_CHILD 2u
#define H_SOURCE 4u

/* A history as read: its stream (an arena copy: nothing points into the
 * map, which the transaction's writes may move), its events decoded, and
 * where its tail starts. */
struct history {
  uint8_t *bytes;
  size_t len;
  size_t tail_len;     /* the last tail_len bytes are the tail chunks' */
  uint32_t first_tail; /* the tail's first chunk number (next when none) */
  uint32_t next;       /* the number past the last chunk */
  CaseEvent **events;
  size_t n;
};

/* Reads the chunks of the history under key (la\0subject\0, key_len
 * bytes) into h->bytes, h->len, tail_len, first_tail and next. */
static int history_read(struct store *st, MDB_txn *txn, const uint8_t *key, size_t key_len,
                        struct arena *a, struct history *h) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->history, &cur);
  if (rc != 0)
    return store_error(rc, "cursor history");
  uint8_t first[STATE_MAX_KEY + 4];
  memcpy(first, key, key_len);
  memset(first + key_len, 0, 4);
  const size_t full = chunk_full(st);
  size_t cap = 0;
  MDB_val k = {key_len + 4, first}, d;
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size != key_len + 4 || memcmp(kb, key, key_len) != 0)
      break;
    const uint32_t number = (uint32_t)kb[key_len] << 24 | (uint32_t)kb[key_len + 1] << 16 |
                            (uint32_t)kb[key_len + 2] << 8 | kb[key_len + 3];
    if (h->len + d.mv_size > cap) { /* doubling in the arena: histories are short */
      cap = 2 * (h->len + d.mv_size) + 1024;
      uint8_t *w = arena_alloc(a, cap);
      if (w == NULL) {
        err = CSC_ENOMEM;
        break;
      }
      if (h->len)
        memcpy(w, h->bytes, h->len);
      h->bytes = w;
    }
    memcpy(h->bytes + h->len, d.mv_data, d.mv_size);
    h->len += d.mv_size;
    /* the tail: the chunks after the last sealed (full) one */
    if (d.mv_size == full) {
      h->tail_len = 0;
      h->first_tail = number + 1;
    } else {
      h->tail_len += d.mv_size;
    }
    h->next = number + 1;
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  if (rc != 0 && rc != MDB_NOTFOUND)
    return store_error(rc, "read history");
  return CSC_OK;
}

/* The number of records of bytes[0..len), or SIZE_MAX when it is malformed. */
static size_t records_count(const uint8_t *bytes, size_t len) {
  size_t count = 0;
  for (size_t pos = 0; pos < len; count++) {
    uint64_t head;
    const size_t used = varint_decode(bytes + pos, len - pos, &head);
    if (used == 0 || (head >> 3) > len - pos - used)
      return SIZE_MAX;
    pos += used + (head >> 3);
  }
  return count;
}

/* Decodes the records of bytes[0..len) (records_count checked them) into
 * v[0..), with a's memory; la is the key's LA (H_LA), prev the event before
 * the first (NULL: none). CSC_EINVAL when a record does not decode. */
static int records_decode(const uint8_t *bytes, size_t len, const char *la, const CaseEvent *prev,
                          struct arena *a, CaseEvent **v) {
  ProtobufCAllocator al = arena_protobuf_allocator(a);
  for (size_t pos = 0, i = 0; pos < len; i++) {
    uint64_t head;
    pos += varint_decode(bytes + pos, len - pos, &head);
    const size_t m = head >> 3;
    const unsigned flags = head & 7u;
    CaseEvent *ev = cscflow__v1__case_event__unpack(&al, m, bytes + pos);
    if (ev == NULL || (prev == NULL && (flags & (H_CHILD | H_SOURCE))))
      return CSC_EINVAL;
    if (flags & H_LA)
      ev->la_code = (char *)la;
    if (flags & H_CHILD)
      ev->child_id = prev->child_id;
    if (flags & H_SOURCE)
      ev->source_system = prev->source_system;
    v[i] = ev;
    prev = ev;
    pos += m;
  }
  return CSC_OK;
}

/* Decodes every record of h's stream: the events (and the LA they point
 * to) in ea's memory, the array of them, with `spare` slots more, in a's.
 * CSC_EINVAL when the stream is malformed. */
static int history_decode(struct history *h, const char *la, size_t spare, struct arena *a,
                          struct arena *ea) {
  const size_t count = records_count(h->bytes, h->len);
  if (count == SIZE_MAX)
    return CSC_EINVAL;
  CaseEvent **v = arena_alloc(a, (count + spare) * sizeof *v);
  char *la_copy = arena_strdup(ea, la);
  if (v == NULL || la_copy == NULL)
    return CSC_ENOMEM;
  const int rc = records_decode(h->bytes, h->len, la_copy, NULL, ea, v);
  if (rc != CSC_OK)
    return rc;
  h->events = v;
  h->n = count;
  return CSC_OK;
}

/* Copies the fields of the protobuf message pb[0..len) to out (NULL: only
 * counts) except the length-delimited fields whose numbers are bits of
 * drop; returns the bytes. SIZE_MAX when pb holds a group or ends inside a
 * field, or a field to drop is not length-delimited: then the caller keeps
 * the bytes whole (an admitted event never does this). */
static size_t strip_fields(const uint8_t *pb, size_t len, uint32_t drop, uint8_t *out) {
  size_t n = 0;
  for (size_t pos = 0; pos < len;) {
    const size_t start = pos;
    uint64_t tag, v;
    size_t used = varint_decode(pb + pos, len - pos, &tag);
    if (used == 0)
      return SIZE_MAX;
    pos += used;
    const uint64_t field = tag >> 3;
    switch (tag & 7) {
    case 0:
      used = varint_decode(pb + pos, len - pos, &v);
      break;
    case 1:
      used = 8;
      break;
    case 2:
      used = varint_decode(pb + pos, len - pos, &v);
      if (used == 0 || v > len - pos - used)
        return SIZE_MAX;
      used += v;
      break;
    case 5:
      used = 4;
      break;
    default:
      return SIZE_MAX;
    }
    if (used == 0 || used > len - pos)
      return SIZE_MAX;
    pos += used;
    const int dropped = field < 32 && (drop >> field & 1u);
    if (dropped && (tag & 7) != 2)
      return SIZE_MAX;
    if (!dropped) {
      if (out != NULL)
        memcpy(out + n, pb + start, pos - start);
      n += pos - start;
    }
  }
  return n;
}

/* Appends the record of ev (protobuf bytes pb[0..len), prev the event
 * before it in the history or NULL) at out; returns its bytes (at most
 * 10 + len). */
static size_t record_write(const CaseEvent *ev, const uint8_t *pb, size_t len, const char *la,
                           const CaseEvent *prev, uint8_t *out) {
  unsigned flags = 0;
  uint32_t drop = 0;
  if (strcmp(ev->la_code, la) == 0) {
    flags |= H_LA;
    drop |= 1u << 2;
  }
  if (prev != NULL && strcmp(ev->child_id, prev->child_id) == 0) {
    flags |= H_CHILD;
    drop |= 1u << 3;
  }
  if (prev != NULL && strcmp(ev->source_system, prev->source_system) == 0) {
    flags |= H_SOURCE;
    drop |= 1u << 6;
  }
  size_t m = strip_fields(pb, len, drop, NULL);
  if (m == SIZE_MAX) {
    flags = 0;
    m = len;
  }
  const size_t head = varint_encode((uint64_t)m << 3 | flags, out);
  if (flags)
    strip_fields(pb, len, drop, out + head);
  else
    memcpy(out + head, pb, len);
  return head + m;
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

/*
 * The event ids of a history and its batch, for the duplicate check. A few
 * new events are checked by scanning (a failed strcmp costs less than
 * hashing every id of the history); many (a backfill bringing a child's
 * whole history in one batch, where the scan made the check quadratic) get an
 * open-addressing table of indices into the events, keyed by the id's
 * FNV-1a hash (id_table_insert, history_cache.h), in the batch's arena.
 */
#define ID_SET_SCAN_MAX 32 /* histories this long are always scanned */
#define ID_SET_FEW 8       /* fewer new events than this are always scanned */

struct id_set {
  uint32_t *slots; /* index + 1; 0: empty */
  size_t mask;     /* slots - 1; no table when slots is NULL */
};

static void id_set_add(struct id_set *s, CaseEvent *const *events, size_t i) {
  if (s->slots != NULL)
    id_table_insert(s->slots, s->mask, events, i);
}

/* A set of events[0..n) with room for n + more. */
static int id_set_init(struct id_set *s, CaseEvent *const *events, size_t n, size_t more,
                       struct arena *a) {
  s->slots = NULL;
  s->mask = 0;
  if (n + more <= ID_SET_SCAN_MAX || more < ID_SET_FEW)
    return CSC_OK;
  if (n + more > UINT32_MAX / 4)
    return CSC_EINVAL;
  size_t size = 64;
  while (size < 2 * (n + more))
    size *= 2;
  if ((s->slots = arena_alloc(a, size * sizeof *s->slots)) == NULL)
    return CSC_ENOMEM;
  memset(s->slots, 0, size * sizeof *s->slots);
  s->mask = size - 1;
  for (size_t i = 0; i < n; i++)
    id_set_add(s, events, i);
  return CSC_OK;
}

/* Whether event_id is that of one of events[0..n) (the set's). */
static int id_set_has(const struct id_set *s, CaseEvent *const *events, size_t n,
                      const char *event_id) {
  if (s->slots != NULL)
    return id_table_has(s->slots, s->mask, events, event_id);
  for (size_t i = 0; i < n; i++)
    if (strcmp(events[i]->event_id, event_id) == 0)
      return 1;
  return 0;
}

/* Puts bytes[0..len) as chunk `number` of the history under key. */
static int chunk_put(struct store *st, MDB_txn *txn, uint8_t *ck, size_t key_len, uint32_t number,
                     const uint8_t *bytes, size_t len) {
  ck[key_len] = (uint8_t)(number >> 24);
  ck[key_len + 1] = (uint8_t)(number >> 16);
  ck[key_len + 2] = (uint8_t)(number >> 8);
  ck[key_len + 3] = (uint8_t)number;
  MDB_val k = {key_len + 4, ck}, v = {len, (void *)bytes};
  const int rc = mdb_put(txn, st->history, &k, &v, 0);
  return rc == 0 ? CSC_OK : store_error(rc, "put history");
}

/* What history_append wrote: the old tail and the new records (bytes
 * [0..len), a's memory; the new records from `added`), of which the new
 * tail is bytes [tail..len), chunks first_tail .. next - 1. */
struct appended {
  const uint8_t *bytes;
  size_t len, added, tail;
  uint32_t first_tail, next;
};

/* Appends the events of the batch that are not duplicates (h->events
 * [0..n_old) are the history's before them) to the history under key
 * (la\0subject\0, key_len bytes): the tail and the new records, cut again
 * into sealed chunks and a tail, replace the old tail. */
static int history_append(struct store *st, MDB_txn *txn, const uint8_t *key, size_t key_len,
                          const char *la, const struct history *h, size_t n_old,
                          CaseEvent *const *evs, const uint8_t *const *pbs,
                          const size_t *pb_lens, const uint8_t *dup, size_t n, struct arena *a,
                          struct appended *out) {
  size_t cap = h->tail_len;
  for (size_t i = 0; i < n; i++)
    if (!dup[i])
      cap += 10 + pb_lens[i];
  uint8_t *buf = arena_alloc(a, cap ? cap : 1);
  if (buf == NULL)
    return CSC_ENOMEM;
  if (h->tail_len)
    memcpy(buf, h->bytes + h->len - h->tail_len, h->tail_len);
  size_t len = h->tail_len;
  const CaseEvent *prev = n_old ? h->events[n_old - 1] : NULL;
  for (size_t i = 0; i < n; i++)
    if (!dup[i]) {
      len += record_write(evs[i], pbs[i], pb_lens[i], la, prev, buf + len);
      prev = evs[i];
    }
  uint8_t ck[STATE_MAX_KEY + 4];
  memcpy(ck, key, key_len);
  const size_t full = chunk_full(st), leaf = chunk_piece_max(st, key_len + 4);
  uint32_t number = h->first_tail;
  size_t pos = 0;
  int rc = CSC_OK;
  for (; rc == CSC_OK && len - pos >= full; pos += full)
    rc = chunk_put(st, txn, ck, key_len, number++, buf + pos, full);
  *out = (struct appended){buf, len, h->tail_len, pos, number, 0};
  /* The rest in as few tail chunks as it takes, of equal sizes. */
  const size_t rest = len - pos, pieces = (rest + leaf - 1) / leaf;
  for (size_t i = 0; rc == CSC_OK && i < pieces; i++) {
    const size_t size = rest / pieces + (i < rest % pieces);
    rc = chunk_put(st, txn, ck, key_len, number++, buf + pos, size);
    pos += size;
  }
  out->next = number;
  /* The old tail's chunks past the new ones. */
  for (; rc == CSC_OK && number < h->next; number++) {
    ck[key_len] = (uint8_t)(number >> 24);
    ck[key_len + 1] = (uint8_t)(number >> 16);
    ck[key_len + 2] = (uint8_t)(number >> 8);
    ck[key_len + 3] = (uint8_t)number;
    MDB_val k = {key_len + 4, ck};
    const int del = mdb_del(txn, st->history, &k, NULL);
    if (del != 0 && del != MDB_NOTFOUND)
      rc = store_error(del, "delete history");
  }
  return rc;
}

/* Folds the history (events[0..n) of key k, la's), joins its allocations
 * to their workers (state/join.c), derives it and stores the result. */
static int fold_and_store(struct store *st, MDB_txn *txn, MDB_val *k, const char *la,
                          CaseEvent **events, size_t n, const struct derive_ref *ref,
                          struct arena *a, struct cached_history *cached,
                          struct derived *after) {
  struct child_state cs;
  int rc;
  if (cached != NULL) { /* from where the last fold of the history left off */
    rc = child_fold_from(events, n, ref != NULL ? ref->codes : NULL, a, &cs, &cached->resume);
    if (rc == CSC_OK)
      cached_count_fold(st, cached->resume != NULL && cached->resume->resumed);
  } else {
    rc = child_fold(events, n, ref != NULL ? ref->codes : NULL, a, &cs);
  }
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

/* The history of key k (la's) read and decoded into *h (with room for
 * `room` more events), and its stored derived record. With a cache, a long
 * history's events come from it, or are decoded into it (*cached: its
 * entry, or NULL). CSC_ESTATE for a history that does not decode. */
static int load_history(struct store *st, MDB_txn *txn, MDB_val *k, const char *la, size_t room,
                        struct arena *a, struct history *h, struct derived *before,
                        struct cached_history **cached) {
  memset(h, 0, sizeof *h);
  *cached = NULL;
  int rc = CSC_OK;
  struct cached_history *c =
      st->cache ? history_cache_find(st, txn, k->mv_data, k->mv_size, chunk_full(st), &rc) : NULL;
  if (rc != CSC_OK)
    return rc;
  if (c != NULL) { /* the cached events, and the tail history_append needs */
    h->bytes = c->tail;
    h->len = h->tail_len = c->tail_len;
    h->first_tail = c->first_tail;
    h->next = c->next;
    if ((h->events = arena_alloc(a, (c->n + room + 1) * sizeof *h->events)) == NULL)
      return CSC_ENOMEM;
    if (c->n)
      memcpy(h->events, c->events, c->n * sizeof *h->events);
    h->n = c->n;
    *cached = c;
    return load_derived(st, txn, k, a, before);
  }
  rc = history_read(st, txn, k->mv_data, k->mv_size, a, h);
  if (rc == CSC_OK) {
    const size_t count = st->cache ? records_count(h->bytes, h->len) : 0;
    c = count != SIZE_MAX && count >= CACHE_MIN_EVENTS
            ? history_cache_make(st, k->mv_data, k->mv_size)
            : NULL;
    rc = history_decode(h, la, room, a, c ? &c->arena : a);
    if (c != NULL && rc == CSC_OK) {
      for (size_t i = 0; rc == CSC_OK && i < h->n; i++)
        rc = cached_add_event(c, h->events[i]);
      if (rc == CSC_OK)
        rc = cached_set_tail(c, h->bytes + h->len - h->tail_len, h->tail_len, h->first_tail,
                             h->next);
    }
    if (c != NULL && rc != CSC_OK)
      cached_drop(st, c); /* the events stay until the next trim: h points to them */
    else
      *cached = c;
  }
  if (rc == CSC_EINVAL)
    rc = CSC_ESTATE;
  if (rc == CSC_OK)
    rc = load_derived(st, txn, k, a, before);
  return rc;
}

/* The cached entry after history_append: the new records decoded into it
 * (after its last event) and the new tail. On failure the entry is
 * dropped, never left half updated: CSC_OK when it is kept. */
static int cache_appended(struct store *st, struct cached_history *c, const char *la,
                          const struct appended *w) {
  const uint8_t *rec = w->bytes + w->added;
  const size_t len = w->len - w->added, count = records_count(rec, len);
  CaseEvent **v = count != SIZE_MAX ? arena_alloc(&c->arena, (count + 1) * sizeof *v) : NULL;
  const char *la_copy = arena_strdup(&c->arena, la);
  int rc = v != NULL && la_copy != NULL && c->n > 0 ? CSC_OK : CSC_EINVAL;
  if (rc == CSC_OK)
    rc = records_decode(rec, len, la_copy, c->events[c->n - 1], &c->arena, v);
  for (size_t i = 0; rc == CSC_OK && i < count; i++)
    rc = cached_add_event(c, v[i]);
  if (rc == CSC_OK)
    rc = cached_set_tail(c, w->bytes + w->tail, w->len - w->tail, w->first_tail, w->next);
  if (rc != CSC_OK)
    cached_drop(st, c);
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
  const char *la = evs[0]->la_code;
  struct history h;
  struct cached_history *cached;
  int rc = load_history(st, txn, &k, la, n, a, &h, &out->before, &cached);
  if (rc != CSC_OK)
    return rc;
  const size_t n_old = h.n;
  size_t total = n_old;
  /* A few events appended to a cached history are checked against the
   * cache's table of ids and the batch's own events, not by reading every
   * id of the history (a linear cost on the live path). */
  const int by_cache = cached != NULL && n < ID_SET_FEW;
  struct id_set ids;
  if ((rc = id_set_init(&ids, h.events, by_cache ? 0 : n_old, n, a)) != CSC_OK)
    return rc;
  for (size_t i = 0; i < n; i++) {
    int seen = by_cache ? cached_find_id(cached, evs[i]->event_id) : -1;
    if (seen == 0) /* not in the history: one of the batch's own before it? */
      seen = id_set_has(&ids, h.events + n_old, total - n_old, evs[i]->event_id);
    else if (seen == -1) /* no table (none asked for, or no memory): every event */
      seen = id_set_has(&ids, h.events, total, evs[i]->event_id);
    dup[i] = (uint8_t)seen;
    if (!dup[i]) {
      h.events[total] = evs[i];
      id_set_add(&ids, h.events, total++);
    }
  }
  out->appended = total - n_old;
  if (out->appended == 0) {
    out->after = out->before;
    out->duplicate = 1;
    return CSC_OK;
  }
  struct appended w;
  rc = history_append(st, txn, key, k.mv_size, la, &h, n_old, evs, pbs, pb_lens, dup, n, a, &w);
  if (rc != CSC_OK) {
    if (cached != NULL)
      cached_drop(st, cached);
    return rc;
  }
  /* A cached history folds the cache's events, the new ones decoded into it
   * as stored: its checkpoint and the next fold point into them, not into
   * this batch's (child_fold_from sorts the copy, never the cache's). */
  if (cached != NULL && cache_appended(st, cached, la, &w) != CSC_OK)
    cached = NULL; /* dropped */
  if (cached != NULL && cached->n != total) { /* not the history just stored */
    cached_drop(st, cached);
    cached = NULL;
  }
  if (cached != NULL)
    memcpy(h.events, cached->events, total * sizeof *h.events);
  return fold_and_store(st, txn, &k, la, h.events, total, ref, a, cached, &out->after);
}

int history_rederive(struct store *st, MDB_txn *txn, const char *la, const char *subject,
                     const struct derive_ref *ref, struct arena *a, struct child_change *out) {
  memset(out, 0, sizeof *out);
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {store_key(key, la, subject, strlen(subject) + 1), key};
  if (k.mv_size == 0 || k.mv_size + 4 > STATE_MAX_KEY)
    return CSC_EINVAL;
  struct history h;
  struct cached_history *cached;
  const int rc = load_history(st, txn, &k, la, 0, a, &h, &out->before, &cached);
  if (rc != CSC_OK || h.n == 0) { /* an index entry of a history never written: nothing */
    out->after = out->before;
    out->duplicate = 1;
    return rc;
  }
  return fold_and_store(st, txn, &k, la, h.events, h.n, ref, a, cached, &out->after);
}

int history_apply(struct store *st, MDB_txn *txn, const CaseEvent *ev, const uint8_t *pb,
                  size_t pb_len, const struct derive_ref *ref, struct arena *a,
                  struct child_change *out) {
  CaseEvent *evs[1] = {(CaseEvent *)ev};
  uint8_t dup;
  return history_apply_events(st, txn, evs, &pb, &pb_len, 1, ref, a, &dup, out);
}

int history_read_events(struct store *st, MDB_txn *txn, const char *la, const char *subject,
                        struct arena *a, CaseEvent ***events, size_t *n) {
  *events = NULL;
  *n = 0;
  uint8_t key[STATE_MAX_KEY];
  const size_t len = store_key(key, la, subject, strlen(subject) + 1);
  if (len == 0 || len + 4 > STATE_MAX_KEY)
    return CSC_EINVAL;
  struct history h;
  memset(&h, 0, sizeof h);
  int rc = history_read(st, txn, key, len, a, &h);
  if (rc == CSC_OK)
    rc = history_decode(&h, la, 0, a, a);
  if (rc == CSC_EINVAL)
    return CSC_ESTATE;
  *events = h.events;
  *n = h.n;
  return rc;
}
