/*
 * Aggregates and their calendar. The LA's aggregate (measure, bucket) holds
 * the sum of the weights of the facts open on the LA's as-of date T. A fact
 * that opens or closes after T books its change in the calendar under that
 * date; moving the clock applies the changes that fall due.
 */
#include <string.h>

#include "indicators/indicators.h"

static void be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* Adds delta to the int64 under key in dbi; deletes the entry when it
 * reaches 0, so that empty aggregates and cancelled boundaries take no space. */
static int add_to(MDB_txn *txn, MDB_dbi dbi, MDB_val *key, int64_t delta) {
  if (delta == 0)
    return CSC_OK;
  MDB_val v;
  int64_t sum = 0;
  int rc = mdb_get(txn, dbi, key, &v);
  if (rc == 0 && v.mv_size == sizeof sum)
    memcpy(&sum, v.mv_data, sizeof sum);
  else if (rc != MDB_NOTFOUND)
    return rc == 0 ? CSC_ESTATE : store_error(rc, "get aggregate");
  sum += delta;
  if (sum == 0) {
    rc = mdb_del(txn, dbi, key, NULL);
  } else {
    v.mv_size = sizeof sum;
    v.mv_data = &sum;
    rc = mdb_put(txn, dbi, key, &v, 0);
  }
  return rc ? store_error(rc, "put aggregate") : CSC_OK;
}

static int add_aggregate(struct store *st, MDB_txn *txn, const char *la, int measure, int bucket,
                         int64_t delta) {
  uint8_t rest[4], key[STATE_MAX_KEY];
  be16(rest, (uint16_t)measure);
  be16(rest + 2, (uint16_t)bucket);
  MDB_val k = {store_key(key, la, rest, sizeof rest), key};
  return k.mv_size ? add_to(txn, st->aggs, &k, delta) : CSC_EINVAL;
}

static int add_boundary(struct store *st, MDB_txn *txn, const char *la, csc_date date, int measure,
                        int bucket, int64_t delta) {
  uint8_t rest[8], key[STATE_MAX_KEY];
  store_put_date(rest, date);
  be16(rest + 4, (uint16_t)measure);
  be16(rest + 6, (uint16_t)bucket);
  MDB_val k = {store_key(key, la, rest, sizeof rest), key};
  return k.mv_size ? add_to(txn, st->calendar, &k, delta) : CSC_EINVAL;
}

/* Adds sign * f to the LA's aggregates as seen on as_of. */
static int apply_fact(struct store *st, MDB_txn *txn, const char *la, csc_date as_of,
                      const struct fact *f, int sign) {
  const int64_t w = (int64_t)sign * f->weight;
  int rc = CSC_OK;
  if (f->from <= as_of && as_of < f->to)
    rc = add_aggregate(st, txn, la, f->measure, f->bucket, w);
  if (rc == CSC_OK && f->from > as_of)
    rc = add_boundary(st, txn, la, f->from, f->measure, f->bucket, w);
  if (rc == CSC_OK && f->to > as_of && f->to != DATE_NEVER)
    rc = add_boundary(st, txn, la, f->to, f->measure, f->bucket, -w);
  return rc;
}

int agg_apply_diff(struct store *st, MDB_txn *txn, const char *la, csc_date as_of,
                   const struct fact *before, size_t n_before, const struct fact *after,
                   size_t n_after) {
  size_t i = 0, j = 0;
  int rc = CSC_OK;
  while (rc == CSC_OK && (i < n_before || j < n_after)) {
    const int c = i == n_before ? 1 : j == n_after ? -1 : fact_compare(&before[i], &after[j]);
    if (c < 0)
      rc = apply_fact(st, txn, la, as_of, &before[i++], -1);
    else if (c > 0)
      rc = apply_fact(st, txn, la, as_of, &after[j++], +1);
    else
      i++, j++;
  }
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
    memcpy(&delta, v.mv_data, sizeof delta);
    const int measure = kb[la_len + 4] << 8 | kb[la_len + 5];
    const int bucket = kb[la_len + 6] << 8 | kb[la_len + 7];
    /* Deleting moves the cursor to the next entry; re-seek from this key. */
    memcpy(here, kb, k.mv_size);
    k.mv_data = here;
    if ((rc = mdb_cursor_del(cur, 0)) != 0)
      break;
    if ((err = add_aggregate(st, txn, la, measure, bucket, delta)) != CSC_OK)
      break;
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "advance calendar");
}

int agg_get(struct store *st, MDB_txn *txn, const char *la, int measure, int bucket, int64_t *sum) {
  uint8_t rest[4], key[STATE_MAX_KEY];
  be16(rest, (uint16_t)measure);
  be16(rest + 2, (uint16_t)bucket);
  MDB_val k = {store_key(key, la, rest, sizeof rest), key}, v;
  int rc = mdb_get(txn, st->aggs, &k, &v);
  *sum = 0;
  if (rc == MDB_NOTFOUND)
    return CSC_OK;
  if (rc != 0)
    return store_error(rc, "get aggregate");
  if (v.mv_size != sizeof *sum)
    return CSC_ESTATE;
  memcpy(sum, v.mv_data, sizeof *sum);
  return CSC_OK;
}

int agg_get_buckets(struct store *st, MDB_txn *txn, const char *la, int measure, int64_t *sums,
                    size_t n) {
  memset(sums, 0, n * sizeof *sums);
  uint8_t rest[4], key[STATE_MAX_KEY];
  be16(rest, (uint16_t)measure);
  be16(rest + 2, 0);
  const size_t la_len = strlen(la) + 1;
  MDB_val k = {store_key(key, la, rest, sizeof rest), key}, v;
  if (k.mv_size == 0)
    return CSC_EINVAL;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->aggs, &cur);
  if (rc != 0)
    return store_error(rc, "cursor aggregates");
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size != la_len + 4 || memcmp(kb, key, la_len + 2) != 0)
      break;
    const size_t bucket = (size_t)(kb[la_len + 2] << 8 | kb[la_len + 3]);
    if (v.mv_size != sizeof *sums) {
      err = CSC_ESTATE;
      break;
    }
    if (bucket < n)
      memcpy(&sums[bucket], v.mv_data, sizeof *sums);
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "read aggregates");
}
