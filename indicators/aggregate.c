/*
 * Aggregates, their calendar and their ledger. The LA's aggregate (measure,
 * bucket) holds the sum of the weights of the facts open on the LA's as-of
 * date T. A fact that opens or closes after T books its change in the
 * calendar under that date; moving the clock applies the changes that fall
 * due. A change dated on or before T goes into the ledger under its date,
 * so that the sum on any past day D is the sum on T less the ledger's
 * changes dated in (D, T]: the daily series, restated whenever a late event
 * or a correction moves a fact's past dates.
 */
#include <stdlib.h>
#include <string.h>

#include "indicators/indicators.h"

static void be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* A value of aggs, calendar or ledger: an int64 as a zigzag varint. Most
 * are small counts, so one or two bytes instead of eight: with keys of
 * 18 bytes and LMDB's 10 bytes a node, the ledger's entries took 36 bytes
 * (schema 8, issue 17 item 3). CSC_ESTATE for a value that is not one. */
static size_t sum_encode(int64_t sum, uint8_t out[10]) {
  return varint_encode(((uint64_t)sum << 1) ^ (uint64_t)(sum >> 63), out);
}

static int sum_decode(const MDB_val *v, int64_t *sum) {
  uint64_t u;
  const size_t used = varint_decode(v->mv_data, v->mv_size, &u);
  if (used == 0 || used != v->mv_size)
    return CSC_ESTATE;
  *sum = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
  return CSC_OK;
}

/* Adds delta to the sum under key in dbi; deletes the entry when it
 * reaches 0, so that empty aggregates and cancelled boundaries take no space. */
static int add_to(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, int64_t delta) {
  if (delta == 0)
    return CSC_OK;
  MDB_val v;
  int64_t sum = 0;
  int rc = mdb_get(txn, dbi, key, &v);
  if (rc == 0) {
    if (sum_decode(&v, &sum) != CSC_OK)
      return CSC_ESTATE;
  } else if (rc != MDB_NOTFOUND) {
    return store_error(rc, "get aggregate");
  }
  sum += delta;
  uint8_t buf[10];
  if (sum == 0) {
    rc = mdb_del(txn, dbi, key, NULL);
  } else {
    v.mv_size = sum_encode(sum, buf);
    v.mv_data = buf;
    rc = mdb_put(txn, dbi, key, &v, 0);
  }
  return rc ? store_error(rc, "put aggregate") : CSC_OK;
}

/* The aggregate key la\0 measure bucket; 0 when la is too long. */
static size_t aggregate_key(uint8_t key[STATE_MAX_KEY], const char *la, int measure, int bucket) {
  uint8_t rest[4];
  be16(rest, (uint16_t)measure);
  be16(rest + 2, (uint16_t)bucket);
  return store_key(key, la, rest, sizeof rest);
}

/* The calendar key la\0 date measure bucket; 0 when la is too long. */
static size_t boundary_key(uint8_t key[STATE_MAX_KEY], const char *la, csc_date date, int measure,
                           int bucket) {
  uint8_t rest[8];
  store_put_date(rest, date);
  be16(rest + 4, (uint16_t)measure);
  be16(rest + 6, (uint16_t)bucket);
  return store_key(key, la, rest, sizeof rest);
}

static int add_aggregate(struct store *st, MDB_txn *txn, const char *la, int measure, int bucket,
                         int64_t delta) {
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {aggregate_key(key, la, measure, bucket), key};
  return k.mv_size ? add_to(txn, st->aggs, &k, delta) : CSC_EINVAL;
}

/*
 * Where a fact's change goes: straight into the transaction's tables, or
 * into pending sums. The three changes of one fact (aggregate, the boundary
 * at its start, the boundary at its end) are the same either way.
 */
struct agg_target {
  struct store *st;
  MDB_txn *txn;
  struct agg_pending *pending;
  uint32_t la; /* with pending: the LA's index among its LAs (pending_la) */
};

enum { TABLE_AGGS, TABLE_CALENDAR, TABLE_LEDGER };
static int pending_add(struct agg_pending *p, int table, uint32_t la, csc_date date,
                       int measure, int bucket, int64_t delta);

static MDB_dbi table_dbi(const struct store *st, int table) {
  return table == TABLE_AGGS ? st->aggs : table == TABLE_CALENDAR ? st->calendar : st->ledger;
}

/* Adds delta under key (key_len bytes, 0 for a key that did not fit) of
 * table in the transaction. */
static int target_put(const struct agg_target *t, int table, uint8_t *key, size_t key_len,
                      int64_t delta) {
  if (key_len == 0)
    return CSC_EINVAL;
  MDB_val k = {key_len, key};
  return add_to(t->txn, table_dbi(t->st, table), &k, delta);
}

static int target_aggregate(const struct agg_target *t, const char *la, int measure, int bucket,
                            int64_t w) {
  if (t->pending != NULL)
    return pending_add(t->pending, TABLE_AGGS, t->la, 0, measure, bucket, w);
  uint8_t key[STATE_MAX_KEY];
  return target_put(t, TABLE_AGGS, key, aggregate_key(key, la, measure, bucket), w);
}

/* A change of w on date: booked in the calendar when it lies after as_of,
 * else recorded in the ledger (the aggregate itself moves in apply_fact). */
static int target_boundary(const struct agg_target *t, const char *la, csc_date as_of,
                           csc_date date, int measure, int bucket, int64_t w) {
  const int table = date > as_of ? TABLE_CALENDAR : TABLE_LEDGER;
  if (t->pending != NULL)
    return pending_add(t->pending, table, t->la, date, measure, bucket, w);
  uint8_t key[STATE_MAX_KEY];
  return target_put(t, table, key, boundary_key(key, la, date, measure, bucket), w);
}

/* Adds sign * f to the LA's aggregates as seen on as_of. */
static int apply_fact(const struct agg_target *t, const char *la, csc_date as_of,
                      const struct fact *f, int sign) {
  const int64_t w = (int64_t)sign * f->weight;
  int rc = CSC_OK;
  if (f->from <= as_of && as_of < f->to)
    rc = target_aggregate(t, la, f->measure, f->bucket, w);
  if (rc == CSC_OK)
    rc = target_boundary(t, la, as_of, f->from, f->measure, f->bucket, w);
  if (rc == CSC_OK && f->to != DATE_NEVER)
    rc = target_boundary(t, la, as_of, f->to, f->measure, f->bucket, -w);
  return rc;
}

static int apply_diff(const struct agg_target *t, const char *la, csc_date as_of,
                      const struct fact *before, size_t n_before, const struct fact *after,
                      size_t n_after) {
  size_t i = 0, j = 0;
  int rc = CSC_OK;
  while (rc == CSC_OK && (i < n_before || j < n_after)) {
    const int c = i == n_before ? 1 : j == n_after ? -1 : fact_compare(&before[i], &after[j]);
    if (c < 0)
      rc = apply_fact(t, la, as_of, &before[i++], -1);
    else if (c > 0)
      rc = apply_fact(t, la, as_of, &after[j++], +1);
    else
      i++, j++;
  }
  return rc;
}

int agg_apply_diff(struct store *st, MDB_txn *txn, const char *la, csc_date as_of,
                   const struct fact *before, size_t n_before, const struct fact *after,
                   size_t n_after) {
  const struct agg_target t = {st, txn, NULL, 0};
  return apply_diff(&t, la, as_of, before, n_before, after, n_after);
}

/* ---- pending sums ------------------------------------------------------------ */

/*
 * The pending sums: one entry per key, in a dense array, found through an
 * open-addressing hash table of entry indexes (sized a power of 2, kept at
 * most half full). The key is held as numbers, not as the bytes of the
 * stored key: the LA as an index into the sums' LAs, the date, the measure
 * and the bucket. An entry is 24 bytes and a slot 4 (the stored key would
 * take 40 and a byte-wise hash): a backfill step sums millions of keys, and
 * the table's size is what its lookups cost in cache misses. The flush
 * walks the entries, not the table.
 */
struct pending_entry {
  int64_t delta;
  csc_date date; /* 0 for an aggregate */
  uint32_t la;   /* index into agg_pending.las */
  uint16_t measure, bucket;
  uint8_t table;
};

struct agg_pending {
  uint32_t *slots; /* entry index + 1, or 0 */
  size_t cap;      /* slots */
  struct pending_entry *entries;
  size_t n, cap_entries;
  char **las; /* the LAs met, in order of first meeting (indexes never move) */
  size_t n_las, cap_las, last_la;
};

/* The longest stored key a pending sum may have: la\0 date measure bucket. */
#define PENDING_KEY_MAX 40

int agg_pending_new(struct agg_pending **out) {
  struct agg_pending *p = calloc(1, sizeof *p);
  if (p == NULL)
    return CSC_ENOMEM;
  p->cap = 1 << 12;
  p->slots = calloc(p->cap, sizeof *p->slots);
  if (p->slots == NULL) {
    free(p);
    return CSC_ENOMEM;
  }
  *out = p;
  return CSC_OK;
}

void agg_pending_free(struct agg_pending *p) {
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->n_las; i++)
    free(p->las[i]);
  free(p->las);
  free(p->slots);
  free(p->entries);
  free(p);
}

void agg_pending_clear(struct agg_pending *p) {
  memset(p->slots, 0, p->cap * sizeof *p->slots);
  p->n = 0;
}

/* The index of la among the LAs met (added if new); CSC_EINVAL when its
 * keys would not fit, CSC_ENOMEM. The last one found is tried first: the
 * children of one LA come together. */
static int pending_la(struct agg_pending *p, const char *la, uint32_t *index) {
  if (p->last_la < p->n_las && strcmp(p->las[p->last_la], la) == 0) {
    *index = (uint32_t)p->last_la;
    return CSC_OK;
  }
  const size_t len = strlen(la);
  if (len + 1 + 8 > PENDING_KEY_MAX)
    return CSC_EINVAL;
  for (size_t i = 0; i < p->n_las; i++)
    if (strcmp(p->las[i], la) == 0) {
      *index = (uint32_t)(p->last_la = i);
      return CSC_OK;
    }
  if (p->n_las == p->cap_las) {
    const size_t cap = p->cap_las ? 2 * p->cap_las : 16;
    char **las = realloc(p->las, cap * sizeof *las);
    if (las == NULL)
      return CSC_ENOMEM;
    p->las = las;
    p->cap_las = cap;
  }
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return CSC_ENOMEM;
  memcpy(copy, la, len + 1);
  p->las[p->n_las] = copy;
  *index = (uint32_t)(p->last_la = p->n_las++);
  return CSC_OK;
}

static size_t pending_hash(int table, uint32_t la, csc_date date, uint16_t measure,
                           uint16_t bucket) {
  uint64_t h = (uint64_t)la << 34 ^ (uint64_t)table << 32 ^ (uint32_t)date;
  h = (h ^ ((uint64_t)measure << 16 | bucket) << 40) * 0x9E3779B97F4A7C15ull;
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  return (size_t)(h ^ h >> 29);
}

/* The slot of the key's entry, or the empty slot where it would go. */
static uint32_t *pending_slot(const struct agg_pending *p, uint32_t *slots, size_t cap, int table,
                              uint32_t la, csc_date date, uint16_t measure, uint16_t bucket) {
  for (size_t i = pending_hash(table, la, date, measure, bucket) & (cap - 1);;
       i = (i + 1) & (cap - 1)) {
    if (slots[i] == 0)
      return &slots[i];
    const struct pending_entry *e = &p->entries[slots[i] - 1];
    if (e->table == table && e->la == la && e->date == date && e->measure == measure &&
        e->bucket == bucket)
      return &slots[i];
  }
}

static int pending_grow(struct agg_pending *p) {
  const size_t cap = p->cap * 2;
  uint32_t *slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return CSC_ENOMEM;
  for (size_t i = 0; i < p->n; i++) {
    const struct pending_entry *e = &p->entries[i];
    *pending_slot(p, slots, cap, e->table, e->la, e->date, e->measure, e->bucket) =
        (uint32_t)i + 1;
  }
  free(p->slots);
  p->slots = slots;
  p->cap = cap;
  return CSC_OK;
}

static int pending_add(struct agg_pending *p, int table, uint32_t index, csc_date date,
                       int measure, int bucket, int64_t delta) {
  if (2 * (p->n + 1) > p->cap && pending_grow(p) != CSC_OK)
    return CSC_ENOMEM;
  if (p->n == p->cap_entries) {
    const size_t cap = p->cap_entries ? 2 * p->cap_entries : 4096;
    struct pending_entry *entries = realloc(p->entries, cap * sizeof *entries);
    if (entries == NULL || cap > UINT32_MAX) {
      if (entries != NULL)
        p->entries = entries;
      return CSC_ENOMEM;
    }
    p->entries = entries;
    p->cap_entries = cap;
  }
  /* Stored keys hold the measure and bucket as 16 bits (be16). */
  const uint16_t m = (uint16_t)measure, b = (uint16_t)bucket;
  uint32_t *slot = pending_slot(p, p->slots, p->cap, table, index, date, m, b);
  if (*slot == 0) {
    p->entries[p->n] = (struct pending_entry){0, date, index, m, b, (uint8_t)table};
    *slot = (uint32_t)++p->n;
  }
  p->entries[*slot - 1].delta += delta;
  return CSC_OK;
}

int agg_pending_diff(struct agg_pending *p, const char *la, csc_date as_of,
                     const struct fact *before, size_t n_before, const struct fact *after,
                     size_t n_after) {
  struct agg_target t = {NULL, NULL, p, 0};
  int rc = pending_la(p, la, &t.la);
  return rc == CSC_OK ? apply_diff(&t, la, as_of, before, n_before, after, n_after) : rc;
}

/* An entry to write, with what orders it as its stored key orders. */
struct pending_write {
  uint64_t high; /* table, the LA's rank among the LAs by name, the date as stored */
  uint32_t low;  /* measure, bucket */
  uint32_t slot; /* the entry's index */
};

static int pending_write_compare(const void *pa, const void *pb) {
  const struct pending_write *a = pa, *b = pb;
  if (a->high != b->high)
    return a->high < b->high ? -1 : 1;
  return (a->low > b->low) - (a->low < b->low);
}

static int la_name_compare(const void *pa, const void *pb) {
  return strcmp(*(char *const *)pa, *(char *const *)pb);
}

/* rank[i]: the place of LA i in name order, which is its keys' order. */
static int pending_la_ranks(const struct agg_pending *p, uint32_t **rank) {
  char **sorted = malloc((p->n_las ? p->n_las : 1) * sizeof *sorted);
  *rank = malloc((p->n_las ? p->n_las : 1) * sizeof **rank);
  if (sorted == NULL || *rank == NULL) {
    free(sorted);
    free(*rank);
    return CSC_ENOMEM;
  }
  if (p->n_las > 0) /* p->las is NULL before the first */
    memcpy(sorted, p->las, p->n_las * sizeof *sorted);
  qsort(sorted, p->n_las, sizeof *sorted, la_name_compare);
  for (size_t i = 0; i < p->n_las; i++) {
    size_t lo = 0, hi = p->n_las; /* the names are distinct: find i's */
    while (lo + 1 < hi) {
      const size_t mid = (lo + hi) / 2;
      if (strcmp(sorted[mid], p->las[i]) <= 0)
        lo = mid;
      else
        hi = mid;
    }
    (*rank)[i] = (uint32_t)lo;
  }
  free(sorted);
  return CSC_OK;
}

int agg_pending_flush(struct agg_pending *p, struct store *st, MDB_txn *txn) {
  uint32_t *rank;
  if (pending_la_ranks(p, &rank) != CSC_OK)
    return CSC_ENOMEM;
  struct pending_write *order = malloc((p->n ? p->n : 1) * sizeof *order);
  if (order == NULL) {
    free(rank);
    return CSC_ENOMEM;
  }
  size_t m = 0;
  for (size_t i = 0; i < p->n; i++) {
    const struct pending_entry *e = &p->entries[i];
    if (e->delta != 0)
      order[m++] = (struct pending_write){
          (uint64_t)e->table << 56 | (uint64_t)rank[e->la] << 32 |
              ((uint32_t)e->date ^ 0x80000000u), /* store_put_date's order */
          (uint32_t)e->measure << 16 | e->bucket, (uint32_t)i};
  }
  free(rank);
  /* Key order: each write lands next to the one before it in the B-tree. */
  qsort(order, m, sizeof *order, pending_write_compare);
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < m; i++) {
    const struct pending_entry *e = &p->entries[order[i].slot];
    const char *la = p->las[e->la];
    uint8_t key[STATE_MAX_KEY];
    const size_t len = e->table == TABLE_AGGS
                           ? aggregate_key(key, la, e->measure, e->bucket)
                           : boundary_key(key, la, e->date, e->measure, e->bucket);
    MDB_val k = {len, key};
    rc = len ? add_to(txn, table_dbi(st, e->table), &k, e->delta) : CSC_EINVAL;
  }
  free(order);
  agg_pending_clear(p);
  return rc;
}

int agg_advance(struct store *st, MDB_txn *txn, const char *la, csc_date from, csc_date to) {
  if (to <= from)
    return CSC_OK;
  uint8_t rest[4], key[STATE_MAX_KEY];
  store_put_date(rest, from + 1);
  const size_t la_len = strlen(la) + 1;
  MDB_val k = {store_key(key, la, rest, sizeof rest), key}, v;
  if (k.mv_size == 0)
    return CSC_EINVAL;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->calendar, &cur);
  if (rc != 0)
    return store_error(rc, "cursor calendar");
  int err = CSC_OK;
  uint8_t here[STATE_MAX_KEY];
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size != la_len + 8 || memcmp(kb, key, la_len) != 0 ||
        store_get_date(kb + la_len) > to)
      break;
    int64_t delta;
    if ((err = sum_decode(&v, &delta)) != CSC_OK)
      break;
    const int measure = kb[la_len + 4] << 8 | kb[la_len + 5];
    const int bucket = kb[la_len + 6] << 8 | kb[la_len + 7];
    /* Deleting moves the cursor to the next entry; re-seek from this key. */
    memcpy(here, kb, k.mv_size);
    k.mv_data = here;
    if ((rc = mdb_cursor_del(cur, 0)) != 0)
      break;
    if ((err = add_aggregate(st, txn, la, measure, bucket, delta)) != CSC_OK)
      break;
    MDB_val lk = {k.mv_size, here};
    if ((err = add_to(txn, st->ledger, &lk, delta)) != CSC_OK)
      break;
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "advance calendar");
}

int agg_get(struct store *st, MDB_txn *txn, const char *la, int measure, int bucket, int64_t *sum) {
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {aggregate_key(key, la, measure, bucket), key}, v;
  int rc = mdb_get(txn, st->aggs, &k, &v);
  *sum = 0;
  if (rc == MDB_NOTFOUND)
    return CSC_OK;
  if (rc != 0)
    return store_error(rc, "get aggregate");
  return sum_decode(&v, sum);
}

int agg_sums_load(struct agg_sums *s, struct store *st, MDB_txn *txn, const char *la) {
  agg_sums_clear(s);
  uint8_t key[STATE_MAX_KEY];
  const size_t la_len = strlen(la) + 1;
  MDB_val k = {store_key(key, la, NULL, 0), key}, v;
  if (k.mv_size == 0)
    return CSC_EINVAL;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->aggs, &cur);
  if (rc != 0)
    return store_error(rc, "cursor aggregates");
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size != la_len + 4 || memcmp(kb, key, la_len) != 0)
      break;
    int64_t sum;
    if ((err = sum_decode(&v, &sum)) != CSC_OK)
      break;
    err = agg_sums_add(s, kb[la_len] << 8 | kb[la_len + 1], kb[la_len + 2] << 8 | kb[la_len + 3],
                       sum);
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "read aggregates");
}

int agg_ledger_walk_back(struct store *st, MDB_txn *txn, const char *la, csc_date after,
                         csc_date upto, ledger_fn fn, void *ctx) {
  if (upto <= after)
    return CSC_OK;
  uint8_t key[STATE_MAX_KEY];
  const size_t la_len = strlen(la) + 1;
  /* Start just past upto's last key: (upto + 1, measure 0, bucket 0). */
  MDB_val k = {boundary_key(key, la, upto + 1, 0, 0), key}, v;
  if (k.mv_size == 0)
    return CSC_EINVAL;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->ledger, &cur);
  if (rc != 0)
    return store_error(rc, "cursor ledger");
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  rc = rc == MDB_NOTFOUND ? mdb_cursor_get(cur, &k, &v, MDB_LAST)
                          : rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : rc;
  int err = CSC_OK;
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size != la_len + 8 || memcmp(kb, key, la_len) != 0)
      break;
    const csc_date date = store_get_date(kb + la_len);
    if (date <= after)
      break;
    int64_t delta;
    if ((err = sum_decode(&v, &delta)) != CSC_OK)
      break;
    if ((err = fn(ctx, date, kb[la_len + 4] << 8 | kb[la_len + 5],
                  kb[la_len + 6] << 8 | kb[la_len + 7], delta)) != 0)
      break;
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "walk ledger");
}
