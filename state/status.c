/*
 * status.c — the writer's status record (state.h, "the writer's status").
 */
#include <math.h> /* INFINITY */
#include <string.h>

#include "state/state.h"

/* The record is stored as its bytes: a hole of padding would be stored as
 * whatever the stack held, and a field moved by the compiler misread. */
_Static_assert(sizeof(struct store_status) ==
                   4 * sizeof(uint32_t) + 5 * sizeof(int64_t) +
                       (10 + STATUS_LATENCY_BUCKETS + 2 + 2) * sizeof(uint64_t) +
                       sizeof(uint32_t) + sizeof(int32_t) + 3 * sizeof(int64_t) +
                       STATUS_TOPIC_SIZE,
               "struct store_status must have no padding");

const double store_status_bounds[STATUS_LATENCY_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, INFINITY};

static const MDB_val status_key = {6, "status"};

int store_get_status(struct store *st, MDB_txn *txn, struct store_status *out) {
  MDB_val k = status_key, v;
  int rc = mdb_get(txn, st->meta, &k, &v);
  if (rc != 0)
    return store_error(rc, "get status");
  uint32_t version = 0;
  if (v.mv_size >= sizeof version)
    memcpy(&version, v.mv_data, sizeof version);
  if (version != STORE_STATUS_VERSION || v.mv_size != sizeof *out)
    return CSC_ENOTFOUND; /* another build's layout: absent rather than misread */
  memcpy(out, v.mv_data, sizeof *out);
  return CSC_OK;
}

int store_put_status(struct store *st, MDB_txn *txn, const struct store_status *s) {
  struct store_status copy = *s;
  copy.version = STORE_STATUS_VERSION;
  MDB_val k = status_key, v = {sizeof copy, &copy};
  int rc = mdb_put(txn, st->meta, &k, &v, 0);
  return rc ? store_error(rc, "put status") : CSC_OK;
}

void store_status_observe(struct store_status *s, double seconds) {
  if (!(seconds >= 0)) /* a clock that went back, or NaN */
    seconds = 0;
  for (int i = 0; i < STATUS_LATENCY_BUCKETS; i++)
    if (seconds <= store_status_bounds[i])
      s->latency[i]++;
  s->latency_count++;
  s->latency_sum_us += (uint64_t)(seconds * 1e6 + 0.5);
}
