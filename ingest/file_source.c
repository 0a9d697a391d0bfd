#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/ingest.h"

struct file_source {
  const uint8_t *data;
  uint64_t size, pos;
};

int file_source_open(const char *path, struct file_source **out) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return CSC_EIO;
  return file_source_open_fd(fd, out);
}

int file_source_open_fd(int fd, struct file_source **out) {
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    close(fd);
    return CSC_EIO;
  }
  struct file_source *fs = calloc(1, sizeof *fs);
  if (fs == NULL) {
    close(fd);
    return CSC_ENOMEM;
  }
  fs->size = (uint64_t)sb.st_size;
  if (fs->size > 0) {
    void *p = mmap(NULL, fs->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int saved = errno;
      close(fd);
      free(fs);
      errno = saved;
      return CSC_EIO;
    }
    madvise(p, fs->size, MADV_SEQUENTIAL);
    fs->data = p;
  }
  close(fd);
  *out = fs;
  return CSC_OK;
}

void file_source_close(struct file_source *fs) {
  if (fs == NULL)
    return;
  if (fs->data)
    munmap((void *)fs->data, fs->size);
  free(fs);
}

uint64_t file_source_size(const struct file_source *fs) { return fs->size; }
uint64_t file_source_position(const struct file_source *fs) { return fs->pos; }

void file_source_release(struct file_source *fs, uint64_t pos) {
  const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  const uint64_t end = (pos < fs->size ? pos : fs->size) / page * page;
  if (fs->data && end > 0)
    madvise((void *)fs->data, end, MADV_DONTNEED); /* a hint: failure costs only memory */
}

int file_source_seek(struct file_source *fs, uint64_t pos) {
  if (pos > fs->size)
    return CSC_EINVAL;
  fs->pos = pos;
  return CSC_OK;
}

uint64_t file_source_offset_of(const struct file_source *fs, const uint8_t *p) {
  return (uint64_t)(p - fs->data);
}

int file_source_record_at(const struct file_source *fs, uint64_t pos, const uint8_t **buf,
                          size_t *len) {
  if (pos >= fs->size)
    return CSC_EINVAL;
  uint64_t n;
  const size_t used = varint_decode(fs->data + pos, fs->size - pos, &n);
  if (used == 0 || n > fs->size - pos - used)
    return CSC_EINVAL;
  *buf = fs->data + pos + used;
  *len = (size_t)n;
  return CSC_OK;
}

int file_source_next(struct file_source *fs, const uint8_t **buf, size_t *len) {
  if (fs->pos >= fs->size)
    return CSC_ENOTFOUND;
  int rc = file_source_record_at(fs, fs->pos, buf, len);
  if (rc == CSC_OK)
    fs->pos = (uint64_t)(*buf - fs->data) + *len;
  return rc;
}
