#include <stdlib.h>
#include <string.h>

#include "base/base.h"

struct arena_block {
  struct arena_block *next;
  size_t size, used;
  max_align_t data[];
};

void arena_init(struct arena *a, size_t block_size) {
  a->head = NULL;
  a->block_size = block_size < 1024 ? 1024 : block_size;
}

void *arena_alloc(struct arena *a, size_t n) {
  const size_t align = sizeof(max_align_t);
  n = (n + align - 1) / align * align;
  struct arena_block *b = a->head;
  if (b == NULL || b->size - b->used < n) {
    const size_t size = n > a->block_size ? n : a->block_size;
    b = malloc(sizeof *b + size);
    if (b == NULL)
      return NULL;
    b->size = size;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = (char *)b->data + b->used;
  b->used += n;
  return p;
}

char *arena_strdup(struct arena *a, const char *s) {
  const size_t n = strlen(s) + 1;
  char *p = arena_alloc(a, n);
  if (p != NULL)
    memcpy(p, s, n);
  return p;
}

void arena_reset(struct arena *a) {
  struct arena_block *b = a->head;
  if (b == NULL)
    return;
  /* Keep the oldest block (the last in the list): a steady-state fold then
   * never calls malloc. */
  while (b->next != NULL) {
    struct arena_block *next = b->next;
    free(b);
    b = next;
  }
  b->used = 0;
  a->head = b;
}

size_t arena_size(const struct arena *a) {
  size_t n = 0;
  for (const struct arena_block *b = a->head; b != NULL; b = b->next)
    n += sizeof *b + b->size;
  return n;
}

void arena_free(struct arena *a) {
  while (a->head != NULL) {
    struct arena_block *next = a->head->next;
    free(a->head);
    a->head = next;
  }
}

static void *arena_pb_alloc(void *data, size_t size) { return arena_alloc(data, size); }
static void arena_pb_free(void *data, void *ptr) {
  (void)data;
  (void)ptr;
}

ProtobufCAllocator arena_protobuf_allocator(struct arena *a) {
  ProtobufCAllocator al = {arena_pb_alloc, arena_pb_free, a};
  return al;
}

size_t varint_encode(uint64_t v, uint8_t *out) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

size_t varint_decode(const uint8_t *buf, size_t len, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < len && i < 10; i++) {
    v |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
    if ((buf[i] & 0x80) == 0) {
      *out = v;
      return i + 1;
    }
  }
  return 0;
}

int array_grow(void **v, size_t *cap, size_t need, size_t size) {
  if (need <= *cap)
    return CSC_OK;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need)
    n *= 2;
  void *p = realloc(*v, n * size);
  if (p == NULL)
    return CSC_ENOMEM;
  *v = p;
  *cap = n;
  return CSC_OK;
}
