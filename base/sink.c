/*
 * The file sink: appends output messages to one file per topic, so that a
 * replay without Kafka still leaves its snapshot, alert, quality and
 * dead-letter streams behind, byte for byte what Kafka would have carried.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

#define FILE_SINK_MAX_TOPICS 8
#define FILE_SINK_MAX_PENDING 65536

struct file_sink {
  struct sink base;
  char *dir;
  struct {
    char *topic;
    FILE *f;
  } topics[FILE_SINK_MAX_TOPICS];
  size_t n_topics;
  uint64_t *pending; /* seqs written but not yet flushed */
  size_t n_pending;
};

/* A process killed while writing leaves the last record cut short (stdio
 * writes a large record partly before it is flushed). That record was never
 * acknowledged, so it is still in the outbox and will be written again:
 * cut the torn tail off before appending, or every record after it would be
 * unreadable. */
static int trim_torn_tail(const char *path) {
  const int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? CSC_OK : CSC_EIO;
  struct stat sb;
  int rc = fstat(fd, &sb) == 0 ? CSC_OK : CSC_EIO;
  const size_t len = rc == CSC_OK ? (size_t)sb.st_size : 0;
  const uint8_t *buf = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
  if (len && buf == MAP_FAILED)
    rc = CSC_EIO;
  if (rc == CSC_OK && len) {
    size_t pos = 0, good = 0;
    struct sink_record r;
    while (sink_file_read_record(buf, len, &pos, &r) == CSC_OK)
      good = pos;
    if (good < len && ftruncate(fd, (off_t)good) != 0)
      rc = CSC_EIO;
  }
  if (len && buf != MAP_FAILED)
    munmap((void *)buf, len);
  close(fd);
  return rc;
}

static FILE *file_sink_topic(struct file_sink *fs, const char *topic) {
  for (size_t i = 0; i < fs->n_topics; i++)
    if (strcmp(fs->topics[i].topic, topic) == 0)
      return fs->topics[i].f;
  if (fs->n_topics == FILE_SINK_MAX_TOPICS)
    return NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.bin", fs->dir, topic);
  if (trim_torn_tail(path) != CSC_OK)
    return NULL;
  FILE *f = fopen(path, "ab");
  char *name = strdup(topic);
  if (f == NULL || name == NULL) {
    if (f)
      fclose(f);
    free(name);
    return NULL;
  }
  fs->topics[fs->n_topics].topic = name;
  fs->topics[fs->n_topics].f = f;
  fs->n_topics++;
  return f;
}

static void put_bytes(FILE *f, const void *p, size_t n) {
  uint8_t v[10];
  fwrite(v, 1, varint_encode(n, v), f);
  if (n)
    fwrite(p, 1, n, f);
}

static int file_sink_flush(struct sink *s, int timeout_ms);

static int file_sink_publish(struct sink *s, const struct sink_message *m) {
  struct file_sink *fs = (struct file_sink *)s;
  if (fs->n_pending == FILE_SINK_MAX_PENDING && file_sink_flush(s, 0) != CSC_OK)
    return CSC_EIO;
  FILE *f = file_sink_topic(fs, m->topic);
  if (f == NULL)
    return CSC_EIO;
  put_bytes(f, m->key, m->key_len);
  put_bytes(f, m->value, m->value_len);
  uint8_t v[10];
  fwrite(v, 1, varint_encode(m->n_headers, v), f);
  for (size_t i = 0; i < m->n_headers; i++) {
    put_bytes(f, m->headers[i].name, strlen(m->headers[i].name));
    put_bytes(f, m->headers[i].value, strlen(m->headers[i].value));
  }
  if (ferror(f))
    return CSC_EIO;
  fs->pending[fs->n_pending++] = m->seq;
  return CSC_OK;
}

static int file_sink_flush(struct sink *s, int timeout_ms) {
  (void)timeout_ms;
  struct file_sink *fs = (struct file_sink *)s;
  int rc = CSC_OK;
  for (size_t i = 0; i < fs->n_topics; i++)
    if (fflush(fs->topics[i].f) != 0)
      rc = CSC_EIO;
  for (size_t i = 0; i < fs->n_pending; i++)
    if (s->on_ack)
      s->on_ack(s->ack_ctx, fs->pending[i], rc);
  fs->n_pending = 0;
  return rc;
}

static void file_sink_poll(struct sink *s, int timeout_ms) { file_sink_flush(s, timeout_ms); }

static void file_sink_destroy(struct sink *s) {
  struct file_sink *fs = (struct file_sink *)s;
  file_sink_flush(s, 0);
  for (size_t i = 0; i < fs->n_topics; i++) {
    fclose(fs->topics[i].f);
    free(fs->topics[i].topic);
  }
  free(fs->pending);
  free(fs->dir);
  free(fs);
}

int sink_file_open(const char *dir, struct sink **out) {
  struct file_sink *fs = calloc(1, sizeof *fs);
  if (fs == NULL)
    return CSC_ENOMEM;
  fs->dir = strdup(dir);
  fs->pending = malloc(FILE_SINK_MAX_PENDING * sizeof *fs->pending);
  if (fs->dir == NULL || fs->pending == NULL) {
    free(fs->dir);
    free(fs->pending);
    free(fs);
    return CSC_ENOMEM;
  }
  fs->base.publish = file_sink_publish;
  fs->base.poll = file_sink_poll;
  fs->base.flush = file_sink_flush;
  fs->base.destroy = file_sink_destroy;
  *out = &fs->base;
  return CSC_OK;
}

static int get_bytes(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **p, size_t *n) {
  uint64_t v;
  size_t used = varint_decode(buf + *pos, len - *pos, &v);
  if (used == 0 || v > len - *pos - used)
    return CSC_EINVAL;
  *p = buf + *pos + used;
  *n = (size_t)v;
  *pos += used + (size_t)v;
  return CSC_OK;
}

int sink_file_read_record(const uint8_t *buf, size_t len, size_t *pos, struct sink_record *rec) {
  if (*pos >= len)
    return CSC_ENOTFOUND;
  uint64_t nh;
  size_t used;
  if (get_bytes(buf, len, pos, &rec->key, &rec->key_len) != CSC_OK ||
      get_bytes(buf, len, pos, &rec->value, &rec->value_len) != CSC_OK ||
      (used = varint_decode(buf + *pos, len - *pos, &nh)) == 0)
    return CSC_EINVAL;
  *pos += used;
  rec->n_headers = (size_t)nh;
  for (uint64_t i = 0; i < 2 * nh; i++) {
    const uint8_t *p;
    size_t n;
    if (get_bytes(buf, len, pos, &p, &n) != CSC_OK)
      return CSC_EINVAL;
  }
  return CSC_OK;
}
