/*
 * One LA's aggregate sums on one day, held in memory: what the catalogue
 * reads. Loading them is one cursor pass over the LA's key range, cheaper
 * than a B-tree lookup per catalogue row; walking the ledger backwards
 * turns them into the sums of earlier days (indicators/series.c).
 *
 * An open-addressing hash table on (measure, bucket), sized a power of 2 and
 * kept at most half full.
 */
#include <stdlib.h>
#include <string.h>

#include "indicators/indicators.h"

struct sum_slot {
  uint32_t key; /* measure << 16 | bucket, + 1 so that 0 marks a free slot */
  int64_t sum;
};

struct agg_sums {
  struct sum_slot *slots;
  size_t cap, n;
};

static uint32_t sum_key(int measure, int bucket) {
  return ((uint32_t)measure << 16 | (uint32_t)(uint16_t)bucket) + 1;
}

static struct sum_slot *sum_slot(struct sum_slot *slots, size_t cap, uint32_t key) {
  for (size_t i = (key * 2654435761u) & (cap - 1);; i = (i + 1) & (cap - 1))
    if (slots[i].key == 0 || slots[i].key == key)
      return &slots[i];
}

int agg_sums_new(struct agg_sums **out) {
  struct agg_sums *s = calloc(1, sizeof *s);
  if (s == NULL)
    return CSC_ENOMEM;
  s->cap = 1024;
  s->slots = calloc(s->cap, sizeof *s->slots);
  if (s->slots == NULL) {
    free(s);
    return CSC_ENOMEM;
  }
  *out = s;
  return CSC_OK;
}

void agg_sums_free(struct agg_sums *s) {
  if (s == NULL)
    return;
  free(s->slots);
  free(s);
}

static int sums_grow(struct agg_sums *s) {
  const size_t cap = s->cap * 2;
  struct sum_slot *slots = calloc(cap, sizeof *slots);
  if (slots == NULL)
    return CSC_ENOMEM;
  for (size_t i = 0; i < s->cap; i++)
    if (s->slots[i].key != 0)
      *sum_slot(slots, cap, s->slots[i].key) = s->slots[i];
  free(s->slots);
  s->slots = slots;
  s->cap = cap;
  return CSC_OK;
}

int agg_sums_add(struct agg_sums *s, int measure, int bucket, int64_t delta) {
  const uint32_t key = sum_key(measure, bucket);
  struct sum_slot *e = sum_slot(s->slots, s->cap, key);
  if (e->key == 0) {
    if (2 * (s->n + 1) > s->cap) {
      if (sums_grow(s) != CSC_OK)
        return CSC_ENOMEM;
      e = sum_slot(s->slots, s->cap, key);
    }
    e->key = key;
    e->sum = 0;
    s->n++;
  }
  e->sum += delta;
  return CSC_OK;
}

int64_t agg_sums_get(const struct agg_sums *s, int measure, int bucket) {
  const struct sum_slot *e = sum_slot(s->slots, s->cap, sum_key(measure, bucket));
  return e->key ? e->sum : 0;
}

int64_t agg_sums_measure_total(const struct agg_sums *s, int measure, int except) {
  int64_t total = 0;
  for (size_t i = 0; i < s->cap; i++) {
    const uint32_t key = s->slots[i].key;
    if (key != 0 && (int)((key - 1) >> 16) == measure &&
        (except < 0 || (key - 1) != sum_key(measure, except) - 1))
      total += s->slots[i].sum;
  }
  return total;
}

void agg_sums_clear(struct agg_sums *s) {
  memset(s->slots, 0, s->cap * sizeof *s->slots);
  s->n = 0;
}

/* Marks in changed[] each measure of a whose sums b does not hold alike. */
static void mark_differing(const struct agg_sums *a, const struct agg_sums *b, uint8_t *changed,
                           size_t n_measures) {
  for (size_t i = 0; i < a->cap; i++) {
    const uint32_t key = a->slots[i].key;
    if (key == 0)
      continue;
    const size_t measure = (key - 1) >> 16;
    if (measure >= n_measures || changed[measure])
      continue;
    const struct sum_slot *e = sum_slot(b->slots, b->cap, key);
    if ((e->key ? e->sum : 0) != a->slots[i].sum)
      changed[measure] = 1;
  }
}

void agg_sums_changed(const struct agg_sums *a, const struct agg_sums *b, uint8_t *changed,
                      size_t n_measures) {
  memset(changed, 0, n_measures);
  mark_differing(a, b, changed, n_measures);
  mark_differing(b, a, changed, n_measures);
}

size_t agg_sums_bytes(const struct agg_sums *s) {
  return sizeof *s + s->cap * sizeof *s->slots;
}

void agg_sums_swap(struct agg_sums *a, struct agg_sums *b) {
  const struct agg_sums t = *a;
  *a = *b;
  *b = t;
}
