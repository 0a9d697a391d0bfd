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
};

enum { TABLE_AGGS, TABLE_CALENDAR, TABLE_LEDGER };
static int pending_add(struct agg_pending *p, int table, const uint8_t *key, size_t key_len,
                       int64_t delta);

static MDB_dbi table_dbi(const struct store *st, int table) {
  return table == TABLE_AGGS ? st->aggs : table == TABLE_CALENDAR ? st->calendar : st->ledger;
}

/* Adds delta under key (key_len bytes, 0 for a key that did not fit) of
 * table, now or in the pending sums. */
static int target_add(const struct agg_target *t, int table, uint8_t *key, size_t key_len,
                      int64_t delta) {
  if (key_len == 0)
    return CSC_EINVAL;
  if (t->pending != NULL)
    return pending_add(t->pending, table, key, key_len, delta);
  MDB_val k = {key_len, key};
  return add_to(t->txn, table_dbi(t->st, table), &k, delta);
}

static int target_aggregate(const struct agg_target *t, const char *la, int measure, int bucket,
                            int64_t w) {
  uint8_t key[STATE_MAX_KEY];
  return target_add(t, TABLE_AGGS, key, aggregate_key(key, la, measure, bucket), w);
}

/* A change of w on date: booked in the calendar when it lies after as_of,
 * else recorded in the ledger (the aggregate itself moves in apply_fact). */
static int target_boundary(const struct agg_target *t, const char *la, csc_date as_of,
                           csc_date date, int measure, int bucket, int64_t w) {
  uint8_t key[STATE_MAX_KEY];
  return target_add(t, date > as_of ? TABLE_CALENDAR : TABLE_LEDGER, key,
                    boundary_key(key, la, date, measure, bucket), w);
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
  const struct agg_target t = {st, txn, NULL};
  return apply_diff(&t, la, as_of, before, n_before, after, n_after);
}

/* ---- pending sums ------------------------------------------------------------ */

/* One key's sum: an open-addressing hash table of these, sized a power of 2
 * and kept at most half full. */
struct pending_entry {
  uint8_t used, table, key_len;
  uint8_t key[40]; /* la (at most 23 bytes), 0, date, measure, bucket */
  int64_t delta;
};

struct agg_pending {
  struct pending_entry *slots;
  size_t cap, n;
};

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
  free(p->slots);
  free(p);
}

void agg_pending_clear(struct agg_pending *p) {
  memset(p->slots, 0, p->cap * sizeof *p->slots);
  p->n = 0;
}

static size_t pending_hash(int table, const uint8_t *key, size_t len) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)table; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ key[i]) * 1099511628211ull;
  return (size_t)(h ^ h >> 29);
}

static struct pending_entry *pending_slot(struct pending_entry *slots, size_t cap, int table,
                                          const uint8_t *key, size_t len) {
  for (size_t i = pending_hash(table, key, len) & (cap - 1);; i = (i + 1) & (cap - 1)) {
    struct pending_entry *e = &slots[i];
    if (!e->used || (e->table == table && e->key_len == len && memcmp(e->key, key, len) == 0))
      return e;
  }
}

static int pending_grow(struct agg_pending *p) {
  const size_t cap = p->cap * 2;
  struct pending_entry *slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return CSC_ENOMEM;
  for (size_t i = 0; i < p->cap; i++)
    if (p->slots[i].used)
      *pending_slot(slots, cap, p->slots[i].table, p->slots[i].key, p->slots[i].key_len) =
          p->slots[i];
  free(p->slots);
  p->slots = slots;
  p->cap = cap;
  return CSC_OK;
}

static int pending_add(struct agg_pending *p, int table, const uint8_t *key, size_t key_len,
                       int64_t delta) {
  if (key_len > sizeof p->slots[0].key)
    return CSC_EINVAL;
  if (2 * (p->n + 1) > p->cap && pending_grow(p) != CSC_OK)
    return CSC_ENOMEM;
  struct pending_entry *e = pending_slot(p->slots, p->cap, table, key, key_len);
  if (!e->used) {
    e->used = 1;
    e->table = (uint8_t)table;
    e->key_len = (uint8_t)key_len;
    memcpy(e->key, key, key_len);
    e->delta = 0;
    p->n++;
  }
  e->delta += delta;
  return CSC_OK;
}

int agg_pending_diff(struct agg_pending *p, const char *la, csc_date as_of,
                     const struct fact *before, size_t n_before, const struct fact *after,
                     size_t n_after) {
  const struct agg_target t = {NULL, NULL, p};
  return apply_diff(&t, la, as_of, before, n_before, after, n_after);
}

static int pending_compare(const void *pa, const void *pb) {
  const struct pending_entry *a = *(struct pending_entry *const *)pa,
                             *b = *(struct pending_entry *const *)pb;
  if (a->table != b->table)
    return a->table < b->table ? -1 : 1;
  const size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  const int c = memcmp(a->key, b->key, n);
  return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

int agg_pending_flush(struct agg_pending *p, struct store *st, MDB_txn *txn) {
  struct pending_entry **order = malloc((p->n ? p->n : 1) * sizeof *order);
  if (order == NULL)
    return CSC_ENOMEM;
  size_t m = 0;
  for (size_t i = 0; i < p->cap; i++)
    if (p->slots[i].used && p->slots[i].delta != 0)
      order[m++] = &p->slots[i];
  /* Key order: each write lands next to the one before it in the B-tree. */
  qsort(order, m, sizeof *order, pending_compare);
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < m; i++) {
    MDB_val k = {order[i]->key_len, order[i]->key};
    rc = add_to(txn, table_dbi(st, order[i]->table), &k, order[i]->delta);
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
