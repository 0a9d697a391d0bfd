/*
 * shuffle.c — gen_shuffle_children (see gen.h): a history in which every
 * child's events arrive in a random order, to test that the processor's
 * results do not depend on the order a child's events come in.
 *
 * Records are located (offset and length, varint included), decoded only to
 * find their child's key, grouped by key (a sort of the record indices), and
 * each group's records are dealt at random to the group's positions. The
 * bytes are copied as they are: nothing is re-encoded.
 */
#include "gen/gen.h"

#include <stdlib.h>
#include <string.h>

struct srec {
  size_t off, len;  /* the whole record: varint and message */
  size_t key;       /* offset of its key in the key buffer; SIZE_MAX: not decoded */
  size_t from;      /* position of the record placed here */
};

struct keybuf {
  char *s;
  size_t n, cap;
};

/* Appends the key (la_code, kind of id, id) as one NUL-terminated string;
 * returns its offset in *off. The 0x1f separators cannot occur in the codes
 * and ids cscflow accepts; 'C' and 'W' keep a child id apart from a worker id
 * that happens to be spelled the same. */
static int key_add(struct keybuf *kb, const char *la, char kind, const char *id, size_t *off) {
  size_t la_len = strlen(la), id_len = strlen(id), need = la_len + id_len + 4;
  if (kb->n + need > kb->cap) {
    size_t cap = kb->cap ? kb->cap * 2 : 1 << 16;
    while (cap < kb->n + need) cap *= 2;
    char *ns = realloc(kb->s, cap);
    if (!ns) return CSC_ENOMEM;
    kb->s = ns;
    kb->cap = cap;
  }
  char *p = kb->s + kb->n;
  memcpy(p, la, la_len);
  p[la_len] = 0x1f;
  p[la_len + 1] = kind;
  p[la_len + 2] = 0x1f;
  memcpy(p + la_len + 3, id, id_len);
  p[la_len + 3 + id_len] = 0;
  *off = kb->n;
  kb->n += need;
  return 0;
}

struct group_item {
  const char *key;
  size_t idx;
};

static int cmp_item(const void *pa, const void *pb) {
  const struct group_item *a = pa, *b = pb;
  int c = strcmp(a->key, b->key);
  if (c) return c;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Each group's random order depends on the seed and its key only, so adding
 * or removing one child does not reshuffle the others. */
static uint64_t group_state(uint64_t seed, const char *key) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
    h ^= *p;
    h *= 0x100000001B3ULL;
  }
  uint64_t x = seed;
  return splitmix64(&x) ^ h;
}

/* Uniform in [0, n) by rejection, so that every order is equally likely. */
static size_t below(uint64_t *state, size_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = splitmix64(state);
  while (v >= limit);
  return (size_t)(v % n);
}

/* Locates the records of in[0..len): CSC_EINVAL when a varint is bad or a
 * record runs past the end. */
static int locate(const uint8_t *in, size_t len, struct srec **recs, size_t *n) {
  size_t cap = 0, m = 0, pos = 0;
  struct srec *v = NULL;
  while (pos < len) {
    uint64_t body;
    size_t k = varint_decode(in + pos, len - pos, &body);
    if (k == 0 || body > len - pos - k) {
      free(v);
      return CSC_EINVAL;
    }
    if (m == cap) {
      cap = cap ? cap * 2 : 1024;
      struct srec *nv = realloc(v, cap * sizeof *nv);
      if (!nv) {
        free(v);
        return CSC_ENOMEM;
      }
      v = nv;
    }
    v[m].off = pos;
    v[m].len = k + (size_t)body;
    v[m].key = SIZE_MAX;
    v[m].from = m;
    m++;
    pos += k + (size_t)body;
  }
  *recs = v;
  *n = m;
  return 0;
}

int gen_shuffle_children(const uint8_t *in, size_t len, uint64_t seed, uint8_t **out, size_t *out_len) {
  if (!out || !out_len || (!in && len)) return CSC_EINVAL;
  *out = NULL;
  *out_len = 0;
  struct srec *recs = NULL;
  size_t n = 0;
  int rc = locate(in, len, &recs, &n);
  if (rc) return rc;

  struct keybuf kb = {0};
  struct group_item *items = NULL;
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) rc = CSC_ENOMEM;

  /* Keys of the records that decode. */
  size_t n_items = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    uint64_t body;
    size_t k = varint_decode(in + recs[i].off, recs[i].len, &body);
    Cscflow__V1__CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, (size_t)body, in + recs[i].off + k);
    if (!ev) continue; /* stays where it is */
    int worker = ev->child_id[0] == 0 && ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
    rc = key_add(&kb, ev->la_code, worker ? 'W' : 'C', worker ? ev->workforce->worker_id : ev->child_id,
                 &recs[i].key);
    cscflow__v1__case_event__free_unpacked(ev, NULL);
    if (!rc) n_items++;
  }

  /* Group by key, each group in stream order; then deal each group's
   * records to its positions in a random order (Fisher-Yates). */
  if (!rc && n_items > 0) {
    items = malloc(n_items * sizeof *items);
    if (!items) rc = CSC_ENOMEM;
  }
  if (!rc && n_items > 0) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (recs[i].key != SIZE_MAX) {
        items[m].key = kb.s + recs[i].key;
        items[m].idx = i;
        m++;
      }
    qsort(items, n_items, sizeof *items, cmp_item);
    for (size_t g = 0; g < n_items;) {
      size_t e = g + 1;
      while (e < n_items && strcmp(items[e].key, items[g].key) == 0) e++;
      uint64_t state = group_state(seed, items[g].key);
      /* order[j] for position items[g + j].idx: a permutation of the group. */
      for (size_t j = g; j < e; j++) recs[items[j].idx].from = items[j].idx;
      for (size_t j = e - 1; j > g; j--) {
        size_t r = g + below(&state, j - g + 1);
        size_t a = items[j].idx, b = items[r].idx, t = recs[a].from;
        recs[a].from = recs[b].from;
        recs[b].from = t;
      }
      g = e;
    }
  }

  if (!rc) {
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
      const struct srec *src = &recs[recs[i].from];
      memcpy(buf + pos, in + src->off, src->len);
      pos += src->len;
    }
    *out = buf;
    *out_len = pos;
    buf = NULL;
  }
  free(buf);
  free(items);
  free(kb.s);
  free(recs);
  return rc;
}
