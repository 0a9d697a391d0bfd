/*
 * outbox.c — output messages are written to the outbox table in the
 * transaction that made them, handed to the sink after its commit, and
 * deleted once the sink acknowledges them: a crash loses none.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/internal.h"

/* ---- the outbox -------------------------------------------------------------- */

static void be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

uint64_t read_be64(const uint8_t *p) {
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

/* Outbox value: a flags byte (OUTBOX_NULL_KEY, OUTBOX_NULL_VALUE), then
 * topic, key, value, then header name/value pairs, each as varint length +
 * bytes. A null key (a Kafka message that had none, dead-lettered) and a
 * null value (a tombstone) are not the same as empty ones on Kafka, so
 * the flags keep them apart. */
#define OUTBOX_NULL_KEY 1u
#define OUTBOX_NULL_VALUE 2u

int outbox_put(struct engine *e, MDB_txn *txn, const char *topic, const void *key,
                      size_t key_len, const void *value, size_t value_len,
                      const struct sink_header *h, size_t nh) {
  size_t n = 1 /* flags */ + field_size(strlen(topic)) + field_size(key_len) +
             field_size(value_len) + field_size(0) /* the header count, nh < 128 */;
  for (size_t i = 0; i < nh; i++)
    n += field_size(strlen(h[i].name)) + field_size(strlen(h[i].value));
  uint8_t kb[8];
  be64(kb, e->next_seq);
  MDB_val k = {8, kb}, v = {n, NULL};
  int rc = mdb_put(txn, e->st->outbox, &k, &v, MDB_RESERVE);
  if (rc != 0)
    return store_error(rc, "put outbox");
  uint8_t *p = v.mv_data;
  p[0] = (uint8_t)((key == NULL ? OUTBOX_NULL_KEY : 0) | (value == NULL ? OUTBOX_NULL_VALUE : 0));
  size_t used = 1 + put_field(p + 1, topic, strlen(topic));
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

int outbox_emit(struct output *o, const char *topic, const char *key, const void *value,
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
  if (v->mv_size == 0)
    return CSC_ESTATE;
  const unsigned flags = p[0];
  size_t pos = 1;
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
  if (flags & OUTBOX_NULL_KEY)
    key = NULL;
  if (flags & OUTBOX_NULL_VALUE)
    value = NULL; /* a tombstone (indicators.h: the old ids of alerts and findings) */
  struct sink_message m = {topic_s, key, kl, value, vl, h, (size_t)nh, seq};
  return e->opt.sink->publish(e->opt.sink, &m);
}

/* Hands the sink every outbox entry from e->unpublished on. A message the
 * sink refuses stays in the outbox and is offered again after the next
 * commit (and on every start), so a publication failure loses nothing. */
int publish_pending(struct engine *e) {
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
    /* A long outbox (a backfill's alerts) is read page by page, and each
     * page read maps its neighbours too (the kernel's fault-around, which
     * ignores LMDB's MADV_RANDOM here): 4,452 pages of outbox mapped 285 MB.
     * Handing them back as it goes keeps that off the peak. */
    if ((seq & 4095) == 4095)
      release_mapped_memory_now(e);
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

void on_ack(void *ctx, uint64_t seq, int err) {
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

int outbox_delete_acked_in(struct engine *e, MDB_txn *txn) {
  for (size_t i = 0; i < e->n_acked; i++) {
    uint8_t kb[8];
    be64(kb, e->acked[i]);
    MDB_val k = {8, kb};
    int rc = mdb_del(txn, e->st->outbox, &k, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
      return store_error(rc, "delete outbox");
    if ((i & 4095) == 4095) /* as publish_pending: a backfill's outbox is long */
      release_mapped_memory_now(e);
  }
  return CSC_OK;
}

/* A transaction that only deletes what the sink acknowledged. */
int commit_acks(struct engine *e) {
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
