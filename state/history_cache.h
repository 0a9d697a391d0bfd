/*
 * history_cache.h — long histories kept decoded between transactions
 * (private to state/: history.c and history_cache.c).
 *
 * On the live path an event is appended to a child's history and the whole
 * history is read, decoded and folded again; for a long history, decoding
 * was half the cost (issue 17, item 2). The cache keeps the decoded events
 * of histories of CACHE_MIN_EVENTS or more between transactions, with the
 * history's tail (its last chunks' bytes and numbers), in an arena of the
 * entry's own.
 *
 * VALIDITY. An entry is used only if the store still holds the history it
 * was made from: the chunk before its first tail chunk is sealed (full),
 * the tail chunks hold exactly the cached tail's bytes, and no chunk
 * follows them. Histories are only ever appended to (history_append
 * rewrites the tail and seals full chunks), so an append the entry did not
 * see, or one it saw in a transaction that was then aborted, leaves other
 * tail bytes, and the entry is read again from the store. store_empty
 * clears the cache (a history rebuilt from scratch could end as it did).
 *
 * LIFETIME. The fold's results point into the events, so an entry is
 * never freed during a transaction: store_history_cache_trim, before the
 * next one, evicts the least recently used entries past the budget. An
 * entry is not made while the cache is over its budget.
 */
#ifndef CSCFLOW_STATE_HISTORY_CACHE_H
#define CSCFLOW_STATE_HISTORY_CACHE_H

#include "state/state.h"

#define CACHE_MIN_EVENTS 64

struct cached_history {
  uint64_t hash; /* of the key */
  uint8_t key[STATE_MAX_KEY];
  size_t key_len;
  struct arena arena;  /* the events, and what they point to */
  CaseEvent **events;  /* malloc'd, in stored order */
  size_t n, cap;
  uint8_t *tail;       /* malloc'd copy of the tail chunks' bytes */
  size_t tail_len, tail_cap;
  uint32_t first_tail; /* the tail's first chunk number (next when none) */
  uint32_t next;       /* the number past the last chunk */
  uint64_t used;       /* the cache's clock when last used */
  /* The events' ids for the duplicate check: an open-addressing table of
   * event indexes + 1 (0: empty) by the id's hash, at most half full;
   * malloc'd by cached_find_id, NULL until then. */
  uint32_t *ids;
  size_t ids_mask;
  /* The last fold's state at the start of its last day (fold_resume.h):
   * the next fold of this history, with events appended, starts there.
   * Its pointers point into the events above, so it lives and dies with
   * the entry. NULL when that fold could leave none. */
  struct fold_resume *resume;
};

/* The valid entry of the history under key (key_len bytes), or NULL (none,
 * or the store's history is not the one cached: history_cache_make then
 * replaces it). full: a sealed chunk's size. *err: CSC_ESTATE when the
 * store could not be read. */
struct cached_history *history_cache_find(struct store *st, MDB_txn *txn, const uint8_t *key,
                                          size_t key_len, size_t full, int *err);

/* A new, empty entry for key (replacing the one the key had), or NULL when
 * there is no cache, it is over its budget, or memory ran out. */
struct cached_history *history_cache_make(struct store *st, const uint8_t *key, size_t key_len);

/* Appends ev (in the entry's arena already) to the entry's events. */
int cached_add_event(struct cached_history *c, CaseEvent *ev);
/* A table of event ids: open addressing over slots[0..mask] (a power of 2
 * less 1) of indexes + 1 into events (0: empty), by the FNV-1a hash of the
 * id; the caller keeps it at most half full. history.c's duplicate check
 * and the cache's table below are both this. */
void id_table_insert(uint32_t *slots, size_t mask, CaseEvent *const *events, size_t i);
int id_table_has(const uint32_t *slots, size_t mask, CaseEvent *const *events,
                 const char *event_id);

/* Whether one of the entry's events has event_id: 1 or 0; -1 when its
 * table of ids could not be made (out of memory: the caller scans). The
 * table is made at the first call and kept up by cached_add_event, so an
 * event appended to a long history is checked without reading every id. */
int cached_find_id(struct cached_history *c, const char *event_id);
/* Sets the entry's tail: the bytes of chunks first_tail .. next - 1. */
int cached_set_tail(struct cached_history *c, const uint8_t *bytes, size_t len,
                    uint32_t first_tail, uint32_t next);
/* Forgets the entry (its history changed in a way it did not follow). */
void cached_drop(struct store *st, struct cached_history *c);
/* Counts a fold of a cached history, and whether it started from the
 * entry's checkpoint (store_history_cache_stats). */
void cached_count_fold(struct store *st, int resumed);

#endif
