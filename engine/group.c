/*
 * group.c — a batch applied one subject at a time: the inputs are grouped
 * by history key with a hash table, the groups sorted into key order, and
 * each subject's events folded once (history_apply_events).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/internal.h"

void subject_table_free(struct subject_table *t) {
  free(t->groups);
  free(t->slots);
  free(t->next_input);
}

/* ---- applying a batch one subject at a time ------------------------------------ */

/* Room for n inputs; emptied. */
static int subject_table_reset(struct subject_table *t, size_t n) {
  if (n > t->cap_inputs) {
    size_t slots = 1024;
    while (slots < 2 * n)
      slots *= 2;
    struct subject_group *g = realloc(t->groups, n * sizeof *g);
    if (g != NULL)
      t->groups = g;
    size_t *s = realloc(t->slots, slots * sizeof *s);
    if (s != NULL)
      t->slots = s;
    size_t *x = realloc(t->next_input, n * sizeof *x);
    if (x != NULL)
      t->next_input = x;
    if (g == NULL || s == NULL || x == NULL)
      return CSC_ENOMEM;
    t->n_slots = slots;
    t->cap_inputs = n;
  }
  memset(t->slots, 0, t->n_slots * sizeof *t->slots);
  t->n_groups = 0;
  return CSC_OK;
}

/* Adds input i, whose history key is key, to its group (a new one if the
 * key is new: key must then stay valid for the batch). */
static void subject_table_add(struct subject_table *t, const uint8_t *key, size_t len,
                              struct batch_la *la, size_t i, int *is_new) {
  const uint64_t h = history_key_hash(key, len);
  size_t at = (size_t)h & (t->n_slots - 1);
  for (; t->slots[at] != 0; at = (at + 1) & (t->n_slots - 1)) {
    struct subject_group *g = &t->groups[t->slots[at] - 1];
    if (g->hash == h && g->key_len == len && memcmp(g->key, key, len) == 0) {
      t->next_input[g->last] = i;
      t->next_input[i] = SIZE_MAX;
      g->last = i;
      g->count++;
      *is_new = 0;
      return;
    }
  }
  t->groups[t->n_groups] = (struct subject_group){key, len, h, la, i, i, 1};
  t->next_input[i] = SIZE_MAX;
  t->slots[at] = ++t->n_groups;
  *is_new = 1;
}

/* Key order, so that the writes of one LA cluster in the B-tree. */
static int subject_group_compare(const void *pa, const void *pb) {
  const struct subject_group *a = pa, *b = pb;
  const size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  const int c = memcmp(a->key, b->key, n);
  return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* Applies the k inputs of one subject (values[0..k), its la and subject)
 * in arrival order: decoded again, folded once, the change applied. The
 * caller reset the per-event arena (values may live in it). */
int apply_subject_values(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
                         const void *const *values, const size_t *value_lens, size_t k,
                         struct output *out) {
  CaseEvent **evs = arena_alloc(&e->arena, k * sizeof *evs);
  const uint8_t **pbs = arena_alloc(&e->arena, k * sizeof *pbs);
  size_t *lens = arena_alloc(&e->arena, k * sizeof *lens);
  uint8_t *dup = arena_alloc(&e->arena, k);
  if (evs == NULL || pbs == NULL || lens == NULL || dup == NULL)
    return CSC_ENOMEM;
  for (size_t j = 0; j < k; j++) {
    /* It decoded and passed every check when admitted: only memory can fail now. */
    int rc = ingest_decode_admitted(values[j], value_lens[j], &e->arena, &evs[j], &pbs[j],
                                    &lens[j]);
    if (rc != CSC_OK)
      return rc == CSC_ENOMEM ? rc : CSC_ESTATE;
    evs[j]->la_code = b->la; /* filed under the canonical code, as admitted */
  }
  struct child_change ch;
  int rc = history_apply_events(e->st, txn, evs, pbs, lens, k, refdata_for(e->opt.ref, b->la),
                                &e->arena, dup, &ch);
  if (rc == CSC_OK)
    rc = apply_change(e, txn, b, subject, &ch, k, out);
  return rc == CSC_OK ? apply_dependents(e, txn, b, subject, &ch, out) : rc;
}

/* Applies the inputs of one subject (the per-event arena holds one subject
 * at a time, so memory does not grow with the batch). */
static int apply_subject(struct engine *e, MDB_txn *txn, const struct engine_input *in,
                         const struct subject_group *g, struct output *out) {
  const size_t k = g->count;
  arena_reset(&e->arena);
  const void **values = arena_alloc(&e->arena, k * sizeof *values);
  size_t *lens = arena_alloc(&e->arena, k * sizeof *lens);
  if (values == NULL || lens == NULL)
    return CSC_ENOMEM;
  size_t i = g->first;
  for (size_t j = 0; j < k; j++, i = e->subjects.next_input[i]) {
    values[j] = in[i].value;
    lens[j] = in[i].value_len;
  }
  const char *subject = (const char *)g->key + strlen(g->la->la) + 1;
  return apply_subject_values(e, txn, g->la, subject, values, lens, k, out);
}

/* Admits every input (dead letters and clocks in arrival order), then
 * applies the admitted ones subject by subject. */
int apply_grouped(struct engine *e, MDB_txn *txn, const struct engine_input *in, size_t n,
                         struct output *out) {
  struct subject_table *t = &e->subjects;
  int rc = subject_table_reset(t, n);
  arena_reset(&e->batch_arena);
  agg_pending_clear(e->pending); /* what an aborted attempt left */
  for (size_t i = 0; rc == CSC_OK && i < n; i++) {
    struct admitted a;
    arena_reset(&e->arena);
    rc = admit_input(e, txn, &in[i], out, &a);
    if (rc == CSC_OK)
      rc = note_position(e, &in[i]);
    if (rc != CSC_OK || a.ev == NULL)
      continue;
    uint8_t key[STATE_MAX_KEY];
    const size_t len = store_key(key, a.la->la, a.subject, strlen(a.subject) + 1);
    if (len == 0) {
      rc = CSC_EINVAL;
      break;
    }
    int is_new;
    subject_table_add(t, key, len, a.la, i, &is_new);
    if (is_new) { /* the group keeps the key: copy it out of the stack */
      uint8_t *copy = arena_alloc(&e->batch_arena, len);
      if (copy == NULL) {
        rc = CSC_ENOMEM;
        break;
      }
      memcpy(copy, key, len);
      t->groups[t->n_groups - 1].key = copy;
    }
  }
  if (rc != CSC_OK)
    return rc;
  qsort(t->groups, t->n_groups, sizeof *t->groups, subject_group_compare);
  for (size_t g = 0; rc == CSC_OK && g < t->n_groups; g++)
    rc = apply_subject(e, txn, in, &t->groups[g], out);
  /* The clocks moved before any change was summed, and nothing reads the
   * aggregates until the snapshots: one write per key now. */
  return rc == CSC_OK ? agg_pending_flush(e->pending, e->st, txn) : rc;
}
