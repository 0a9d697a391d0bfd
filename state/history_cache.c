/*
 * history_cache.c — see history_cache.h. A small array of entries, found by
 * the hash of their key: the cache holds the few long histories the live
 * path keeps touching, not every child.
 */
#include <stdlib.h>
#include <string.h>

#include "state/fold_resume.h"
#include "state/history_cache.h"

#define CACHE_ENTRIES_MAX 256

struct history_cache {
  struct cached_history *entries[CACHE_ENTRIES_MAX];
  size_t n;
  size_t budget; /* bytes of entries kept past a transaction */
  uint64_t clock;
  uint64_t hits, stale; /* entries used; entries found but out of date */
  uint64_t folds, resumed; /* folds of cached histories; of them, from a checkpoint */
};

static uint64_t key_hash(const uint8_t *key, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ key[i]) * 1099511628211ULL;
  return h;
}

static size_t entry_bytes(const struct cached_history *c) {
  return sizeof *c + arena_size(&c->arena) + c->cap * sizeof *c->events + c->tail_cap +
         (c->ids ? (c->ids_mask + 1) * sizeof *c->ids : 0) + fold_resume_bytes(c->resume);
}

static void entry_free(struct cached_history *c) {
  arena_free(&c->arena);
  free(c->events);
  free(c->tail);
  free(c->ids);
  fold_resume_free(c->resume);
  free(c);
}

int store_history_cache(struct store *st, size_t max_bytes) {
  if (st->cache != NULL || max_bytes == 0)
    return CSC_OK;
  if ((st->cache = calloc(1, sizeof *st->cache)) == NULL)
    return CSC_ENOMEM;
  st->cache->budget = max_bytes;
  return CSC_OK;
}

void store_history_cache_clear(struct store *st) {
  struct history_cache *hc = st->cache;
  for (size_t i = 0; hc != NULL && i < hc->n; i++)
    cached_drop(st, hc->entries[i]); /* freed at the next trim, between transactions */
}

void store_history_cache_free(struct store *st) {
  struct history_cache *hc = st->cache;
  for (size_t i = 0; hc != NULL && i < hc->n; i++)
    entry_free(hc->entries[i]);
  free(hc);
  st->cache = NULL;
}

static size_t cache_bytes(const struct history_cache *hc) {
  size_t n = 0;
  for (size_t i = 0; i < hc->n; i++)
    n += entry_bytes(hc->entries[i]);
  return n;
}

void store_history_cache_trim(struct store *st) {
  struct history_cache *hc = st->cache;
  if (hc == NULL)
    return;
  for (size_t i = 0; i < hc->n;) /* the dropped first */
    if (hc->entries[i]->key_len == 0) {
      entry_free(hc->entries[i]);
      hc->entries[i] = hc->entries[--hc->n];
    } else {
      i++;
    }
  size_t bytes = cache_bytes(hc);
  while (hc->n > 0 && bytes > hc->budget) {
    size_t lru = 0;
    for (size_t i = 1; i < hc->n; i++)
      if (hc->entries[i]->used < hc->entries[lru]->used)
        lru = i;
    bytes -= entry_bytes(hc->entries[lru]);
    entry_free(hc->entries[lru]);
    hc->entries[lru] = hc->entries[--hc->n];
  }
}

static struct cached_history *lookup(struct history_cache *hc, const uint8_t *key,
                                     size_t key_len, size_t *index) {
  const uint64_t h = key_hash(key, key_len);
  for (size_t i = 0; i < hc->n; i++) {
    struct cached_history *c = hc->entries[i];
    if (c->hash == h && c->key_len == key_len && memcmp(c->key, key, key_len) == 0) {
      *index = i;
      return c;
    }
  }
  return NULL;
}

static uint32_t chunk_number(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether the store's history under the entry's key is the entry's: see
 * VALIDITY in history_cache.h. */
static int still_valid(struct store *st, MDB_txn *txn, const struct cached_history *c,
                       size_t full, int *err) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->history, &cur);
  if (rc != 0) {
    *err = store_error(rc, "cursor history");
    return 0;
  }
  uint8_t at[STATE_MAX_KEY + 4];
  memcpy(at, c->key, c->key_len);
  const uint32_t start = c->first_tail > 0 ? c->first_tail - 1 : 0;
  at[c->key_len] = (uint8_t)(start >> 24);
  at[c->key_len + 1] = (uint8_t)(start >> 16);
  at[c->key_len + 2] = (uint8_t)(start >> 8);
  at[c->key_len + 3] = (uint8_t)start;
  MDB_val k = {c->key_len + 4, at}, d;
  int valid = 1;
  uint32_t expect = start;
  size_t pos = 0;
  for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
    if (k.mv_size != c->key_len + 4 || memcmp(k.mv_data, c->key, c->key_len) != 0)
      break; /* past the history */
    const uint32_t number = chunk_number((const uint8_t *)k.mv_data + c->key_len);
    if (number != expect || number >= c->next) {
      valid = 0; /* a chunk missing, or one past the cached end */
      break;
    }
    if (number < c->first_tail) { /* the last sealed chunk */
      valid = d.mv_size == full;
    } else {
      valid = d.mv_size <= c->tail_len - pos && memcmp(d.mv_data, c->tail + pos, d.mv_size) == 0;
      pos += d.mv_size;
    }
    if (!valid)
      break;
    expect++;
  }
  if (rc != 0 && rc != MDB_NOTFOUND) {
    *err = store_error(rc, "read history");
    valid = 0;
  }
  mdb_cursor_close(cur);
  return valid && expect == c->next && pos == c->tail_len;
}

struct cached_history *history_cache_find(struct store *st, MDB_txn *txn, const uint8_t *key,
                                          size_t key_len, size_t full, int *err) {
  *err = CSC_OK;
  struct history_cache *hc = st->cache;
  size_t i;
  struct cached_history *c = hc != NULL ? lookup(hc, key, key_len, &i) : NULL;
  if (c == NULL)
    return NULL;
  if (!still_valid(st, txn, c, full, err)) {
    hc->stale++;
    return NULL;
  }
  hc->hits++;
  c->used = ++hc->clock;
  return c;
}

struct cached_history *history_cache_make(struct store *st, const uint8_t *key, size_t key_len) {
  struct history_cache *hc = st->cache;
  if (hc == NULL || key_len > STATE_MAX_KEY || cache_bytes(hc) > hc->budget)
    return NULL;
  size_t i;
  struct cached_history *old = lookup(hc, key, key_len, &i);
  if (old == NULL && hc->n == CACHE_ENTRIES_MAX)
    return NULL; /* full until the next trim frees some */
  struct cached_history *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->hash = key_hash(key, key_len);
  memcpy(c->key, key, key_len);
  c->key_len = key_len;
  arena_init(&c->arena, 1 << 16);
  c->used = ++hc->clock;
  if (old != NULL)
    cached_drop(st, old); /* its events may be pointed to until the transaction ends */
  if (hc->n == CACHE_ENTRIES_MAX) {
    entry_free(c);
    return NULL;
  }
  hc->entries[hc->n++] = c;
  return c;
}

void cached_drop(struct store *st, struct cached_history *c) {
  (void)st;
  c->key_len = 0; /* unreachable (no key is empty); freed at the next trim */
}

/* ---- the ids ------------------------------------------------------------------ */

static size_t id_slot(const char *event_id, size_t mask) {
  return (size_t)key_hash((const uint8_t *)event_id, strlen(event_id)) & mask;
}

void id_table_insert(uint32_t *slots, size_t mask, CaseEvent *const *events, size_t i) {
  size_t j = id_slot(events[i]->event_id, mask);
  while (slots[j] != 0)
    j = (j + 1) & mask;
  slots[j] = (uint32_t)(i + 1);
}

int id_table_has(const uint32_t *slots, size_t mask, CaseEvent *const *events,
                 const char *event_id) {
  for (size_t j = id_slot(event_id, mask); slots[j] != 0; j = (j + 1) & mask)
    if (strcmp(events[slots[j] - 1]->event_id, event_id) == 0)
      return 1;
  return 0;
}

/* A table for the entry's events with room to double; 0 when there was no
 * memory (the entry is then without one). */
static int ids_make(struct cached_history *c) {
  free(c->ids);
  c->ids = NULL;
  size_t size = 64;
  while (size < 4 * (c->n + 1))
    size *= 2;
  if (c->n >= UINT32_MAX / 4 || (c->ids = calloc(size, sizeof *c->ids)) == NULL)
    return 0;
  c->ids_mask = size - 1;
  for (size_t i = 0; i < c->n; i++)
    id_table_insert(c->ids, c->ids_mask, c->events, i);
  return 1;
}

int cached_find_id(struct cached_history *c, const char *event_id) {
  if (c->ids == NULL && !ids_make(c))
    return -1;
  return id_table_has(c->ids, c->ids_mask, c->events, event_id);
}

int cached_add_event(struct cached_history *c, CaseEvent *ev) {
  if (c->n == c->cap && array_grow((void **)&c->events, &c->cap, c->n + 1, sizeof *c->events) != CSC_OK)
    return CSC_ENOMEM;
  c->events[c->n++] = ev;
  if (c->ids != NULL) { /* kept at most half full; made again, twice the size, past that */
    if (2 * c->n > c->ids_mask + 1)
      ids_make(c); /* none when out of memory: cached_find_id tries again */
    else
      id_table_insert(c->ids, c->ids_mask, c->events, c->n - 1);
  }
  return CSC_OK;
}

int cached_set_tail(struct cached_history *c, const uint8_t *bytes, size_t len,
                    uint32_t first_tail, uint32_t next) {
  if (len > c->tail_cap) {
    uint8_t *t = realloc(c->tail, len);
    if (t == NULL)
      return CSC_ENOMEM;
    c->tail = t;
    c->tail_cap = len;
  }
  if (len)
    memcpy(c->tail, bytes, len);
  c->tail_len = len;
  c->first_tail = first_tail;
  c->next = next;
  return CSC_OK;
}

void cached_count_fold(struct store *st, int resumed) {
  if (st->cache != NULL) {
    st->cache->folds++;
    st->cache->resumed += resumed != 0;
  }
}

void store_history_cache_stats(const struct store *st, uint64_t *hits, uint64_t *stale) {
  *hits = st->cache ? st->cache->hits : 0;
  *stale = st->cache ? st->cache->stale : 0;
}

void store_history_cache_folds(const struct store *st, uint64_t *folds, uint64_t *resumed) {
  *folds = st->cache ? st->cache->folds : 0;
  *resumed = st->cache ? st->cache->resumed : 0;
}
