/*
 * The one join between histories: a child's allocations and the leavings of
 * the workers they name (INDICATORS.md, sw_caseload: "a worker's
 * allocations end when they leave, and children still allocated to a
 * leaver count as unallocated").
 *
 * A child's history holds its allocations; a worker's history its
 * employments. Each is folded alone, so neither sees the other's events.
 * The join keeps the state right whatever order the events arrive in:
 *   - a worker's facts include M_WORKER_LEFT over the days they are a
 *     leaver (state/facts_workforce.c: from a leaving until they start again);
 *   - when a child is derived, each allocation ends on the first day, on or
 *     after its start, that its worker is a leaver, read from the worker's
 *     derived record (so an allocation made to a worker who has already
 *     left counts no day); and the child is written into the index
 *     `allocidx` (la\0worker subject\0 -> child subject, sorted duplicates);
 *   - when a worker's M_WORKER_LEFT facts change, the engine re-derives
 *     every child the index names for that worker (history_rederive), in
 *     the same transaction.
 * An allocation event and a LEFT can therefore arrive in either order, in
 * one batch or in two: the later of the two derivations reads the other.
 * Entries are never removed: a child no longer allocated to the worker is
 * re-derived to the same facts, which changes nothing.
 */
#include <string.h>

#include "state/facts_internal.h"

size_t history_worker_subject(const char *worker, char *buf, size_t len) {
  size_t n = 0;
  if (len == 0)
    return 0;
  buf[0] = '\0';
  if (key_append(buf, len, &n, ':', "worker") != CSC_OK ||
      key_append(buf, len, &n, ':', worker) != CSC_OK)
    return 0;
  return n;
}

/* The key of the worker's history, derived record and index entries:
 * la\0subject\0; 0 when it does not fit. */
static size_t worker_key(uint8_t *key, const char *la, const char *worker) {
  char subject[HISTORY_SUBJECT_MAX];
  const size_t n = history_worker_subject(worker, subject, sizeof subject);
  return n ? store_key(key, la, subject, n + 1) : 0;
}

/* The first day on or after `from` on which the worker whose derived record
 * is rec[0..len) is a leaver; DATE_NEVER when none. Read in place
 * (derived_facts_next): a worker's record holds a fact per caseload report,
 * and a child is derived on each of its events. CSC_ESTATE for a malformed
 * record. */
static int first_leaver_day(const uint8_t *rec, size_t len, csc_date from, csc_date *first) {
  *first = DATE_NEVER;
  struct derived_facts it;
  struct fact f;
  int rc = derived_facts_begin(&it, rec, len);
  while (rc == CSC_OK && (rc = derived_facts_next(&it, &f)) == 1) {
    rc = CSC_OK;
    if (f.measure != M_WORKER_LEFT || f.to <= from)
      continue;
    const csc_date day = f.from > from ? f.from : from;
    if (day < *first)
      *first = day;
  }
  return rc == 0 ? CSC_OK : CSC_ESTATE;
}

static int index_child(struct store *st, MDB_txn *txn, const uint8_t *wkey, size_t wlen,
                       const char *child_subject) {
  MDB_val k = {wlen, (void *)wkey}, v = {strlen(child_subject), (void *)child_subject};
  const int rc = mdb_put(txn, st->allocidx, &k, &v, MDB_NODUPDATA);
  return rc == 0 || rc == MDB_KEYEXIST ? CSC_OK : store_error(rc, "put allocidx");
}

int allocations_join(struct store *st, MDB_txn *txn, const char *la, const char *child_subject,
                     struct child_state *cs) {
  for (size_t i = 0; i < cs->n_allocations; i++) {
    struct episode *al = &cs->allocations[i];
    uint8_t key[STATE_MAX_KEY];
    const size_t len = al->id[0] != '\0' ? worker_key(key, la, al->id) : 0;
    if (len == 0)
      continue; /* no worker named (or an id too long to be one): never a leaver */
    int rc = index_child(st, txn, key, len, child_subject);
    MDB_val k = {len, key}, v;
    const int got = rc == CSC_OK ? mdb_get(txn, st->derived, &k, &v) : 0;
    if (rc != CSC_OK)
      return rc;
    if (got == MDB_NOTFOUND)
      continue; /* a worker never seen has not left */
    if (got != 0)
      return store_error(got, "get worker derived");
    csc_date left;
    if ((rc = first_leaver_day(v.mv_data, v.mv_size, al->start, &left)) != CSC_OK)
      return rc;
    if (left < al->end)
      al->end = left;
  }
  return CSC_OK;
}

int allocations_dependents(struct store *st, MDB_txn *txn, const char *la,
                           const char *worker_subject, struct arena *a, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  uint8_t key[STATE_MAX_KEY];
  const size_t len = store_key(key, la, worker_subject, strlen(worker_subject) + 1);
  if (len == 0)
    return CSC_EINVAL;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->allocidx, &cur);
  if (rc != 0)
    return store_error(rc, "cursor allocidx");
  MDB_val k = {len, key}, v;
  size_t count = 0;
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
  if (rc == 0)
    rc = mdb_cursor_count(cur, &count) == 0 ? 0 : MDB_CORRUPTED;
  char **list = rc == 0 ? arena_alloc(a, (count ? count : 1) * sizeof *list) : NULL;
  int err = rc == 0 && list == NULL ? CSC_ENOMEM : CSC_OK;
  for (; rc == 0 && err == CSC_OK && *n < count; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
    char *s = arena_alloc(a, v.mv_size + 1);
    if (s == NULL) {
      err = CSC_ENOMEM;
      break;
    }
    memcpy(s, v.mv_data, v.mv_size);
    s[v.mv_size] = '\0';
    list[(*n)++] = s;
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  if (rc != 0 && rc != MDB_NOTFOUND)
    return store_error(rc, "read allocidx");
  *out = list;
  return CSC_OK;
}

/* Whether the worker's leaver days differ between two derived records
 * (facts sorted by fact_compare: M_WORKER_LEFT's are one run in each). */
int worker_leavings_changed(const struct derived *before, const struct derived *after) {
  size_t i = 0, j = 0;
  for (;;) {
    while (i < before->n_facts && before->facts[i].measure != M_WORKER_LEFT)
      i++;
    while (j < after->n_facts && after->facts[j].measure != M_WORKER_LEFT)
      j++;
    if (i == before->n_facts || j == after->n_facts)
      return i != before->n_facts || j != after->n_facts;
    if (fact_compare(&before->facts[i], &after->facts[j]) != 0)
      return 1;
    i++;
    j++;
  }
}
