/*
 * backfill.c — a bounded input applied like a batch engine (DESIGN: Two
 * paths, one state). When replay starts on an empty state, the file is
 * read twice:
 *
 *   scan    in file order, in one transaction: each record admitted (dead
 *           letters, the LAs' clocks moved to the latest recorded date, the
 *           position noted) and its offset filed under its subject: 12
 *           bytes a record, nothing decoded kept;
 *   gather  the records copied into bucket files by key range (subjects
 *           in key order), so that the fold reads one bucket at a time
 *           instead of all over the input;
 *   fold    subject by subject in key order: each subject's records read
 *           again, its whole history folded and derived once and written
 *           once; a transaction commits every BACKFILL_STEP_EVENTS events,
 *           so that what one transaction dirties (and keeps mapped) stays
 *           bounded, and the aggregates' sums are written at each commit;
 *   finish  the position, the LAs and each LA's final snapshot, then the
 *           outbox is published.
 *
 * The end state is that of the grouped batch path given the whole file as
 * one batch, which is that of any batching (engine.h, group_by_subject):
 * tests/test_backfill.c compares them table by table. What differs is what
 * is published: no intermediate snapshot, and no alert raised and
 * withdrawn within the history.
 *
 *      empty state ──scan──▶ marked ──fold steps──▶ marked ──finish──▶ done
 *                              │  crash, stop: the mark stays  │
 *                              └──▶ next replay: emptied, started again
 *
 * The mark (meta "backfill", state.h) goes in with the scan's commit and
 * out with the finish's: in between, the state is not one the streaming
 * path could have left, and nothing of the backfill is published. A replay
 * that opens a marked state empties it (engine_open); run refuses it.
 *
 * Input with more records than the index budget (backfill_segment) is
 * taken in segments, each scanned and folded in turn: a later segment
 * folds into what the earlier ones left, as a later grouped batch does.
 *
 * Faults: a transaction that fails leaves the in-memory LAs, counters and
 * outbox numbering as they were before it (saved and restored); a full map
 * is grown and the transaction run again; a step too large for one
 * transaction is halved; any other fault input can cause while folding
 * (one the streaming path cures by splitting its batch down to the input
 * and refusing it) empties the state, and the file is replayed in batches
 * (BACKFILL_FALLBACK).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/internal.h"

/* Events folded per transaction: about the pages a batch of the streaming
 * replay dirties, which LMDB holds until the commit. */
#define BACKFILL_STEP_EVENTS 500000
/* Bytes of the input scanned between two releases of its mapped pages. */
#define BACKFILL_RELEASE_BYTES ((uint64_t)64 << 20)
#define NO_RECORD UINT32_MAX
/* The gather's write buffer per file, a bucket's bytes (what the fold keeps
 * mapped at a time), and the most buckets (then larger). */
#define GATHER_BUFFER ((size_t)1 << 20)
#define GATHER_BUCKET_BYTES ((uint64_t)64 << 20)
#define GATHER_MAX_BUCKETS 64

/* A subject (child, worker, post) of the segment and its records. */
struct bf_subject {
  uint64_t hash;
  uint64_t key_at; /* the history key la\0subject\0, in backfill.keys */
  uint32_t key_len;
  uint32_t count;
  uint32_t first, last; /* records, linked by backfill.next */
  struct batch_la *la;
  uint32_t bucket; /* once gathered: the bucket file holding its records */
  uint64_t bytes; /* its records' bytes in the input, length prefixes included */
};

struct bf_order;

struct backfill {
  struct engine *e;
  struct file_source *fs;
  const char *source;
  int64_t now_ms;
  volatile sig_atomic_t *stop;
  /* The segment's index: per record its offset and the next record of its
   * subject; the subjects in a hash table (slots: index + 1, or 0). */
  uint64_t *offset;
  uint32_t *next;
  size_t n_records, cap_records, max_records;
  struct bf_subject *subjects;
  size_t n_subjects, cap_subjects;
  uint32_t *slots;
  size_t n_slots;
  uint8_t *keys;
  size_t keys_len, keys_cap;
  struct bf_order *order; /* subjects in key order */
  uint64_t first_seq; /* the backfill's first outbox key */
  size_t step_events;
  uint64_t scanned, folded; /* records, for progress */
  double started, reported;
  int truncated; /* the file ends inside a record */
  /* The segment's records in bucket files by key range (gather): bucket
   * b holds the subjects bucket_first[b] .. bucket_first[b + 1] - 1 of
   * the key order, and record r is at bucket_at[r] in its bucket. No
   * buckets (n_buckets 0): the fold reads the input where the records are. */
  struct file_source *bucket[GATHER_MAX_BUCKETS];
  size_t n_buckets;
  size_t *bucket_first;
  uint32_t *bucket_at;
};

/* ---- the index ------------------------------------------------------------------ */

static void index_clear(struct backfill *bf) {
  bf->n_records = 0;
  bf->n_subjects = 0;
  bf->keys_len = 0;
  if (bf->slots)
    memset(bf->slots, 0, bf->n_slots * sizeof *bf->slots);
}

static void index_free(struct backfill *bf) {
  free(bf->offset);
  free(bf->next);
  free(bf->subjects);
  free(bf->slots);
  free(bf->keys);
  free(bf->order);
}

static const uint8_t *subject_key(const struct backfill *bf, const struct bf_subject *s) {
  return bf->keys + s->key_at;
}

/* Keeps the table at most half full. */
static int slots_reserve(struct backfill *bf) {
  if (2 * (bf->n_subjects + 1) <= bf->n_slots)
    return CSC_OK;
  const size_t n = bf->n_slots ? 2 * bf->n_slots : 4096;
  uint32_t *slots = calloc(n, sizeof *slots);
  if (slots == NULL)
    return CSC_ENOMEM;
  for (size_t i = 0; i < bf->n_subjects; i++) {
    size_t at = (size_t)bf->subjects[i].hash & (n - 1);
    while (slots[at] != 0)
      at = (at + 1) & (n - 1);
    slots[at] = (uint32_t)i + 1;
  }
  free(bf->slots);
  bf->slots = slots;
  bf->n_slots = n;
  return CSC_OK;
}

/* The subject of key, added (with a copy of key) if new. */
static int subject_find(struct backfill *bf, const uint8_t *key, size_t len, struct batch_la *la,
                        struct bf_subject **out) {
  int rc = slots_reserve(bf);
  if (rc != CSC_OK)
    return rc;
  const uint64_t h = history_key_hash(key, len);
  size_t at = (size_t)h & (bf->n_slots - 1);
  for (; bf->slots[at] != 0; at = (at + 1) & (bf->n_slots - 1)) {
    struct bf_subject *s = &bf->subjects[bf->slots[at] - 1];
    if (s->hash == h && s->key_len == len && memcmp(subject_key(bf, s), key, len) == 0) {
      *out = s;
      return CSC_OK;
    }
  }
  if (grow((void **)&bf->subjects, &bf->cap_subjects, bf->n_subjects + 1, sizeof *bf->subjects) !=
          CSC_OK ||
      grow((void **)&bf->keys, &bf->keys_cap, bf->keys_len + len, 1) != CSC_OK)
    return CSC_ENOMEM;
  memcpy(bf->keys + bf->keys_len, key, len);
  struct bf_subject *s = &bf->subjects[bf->n_subjects];
  *s = (struct bf_subject){h, bf->keys_len, (uint32_t)len, 0, NO_RECORD, NO_RECORD, la, 0, 0};
  bf->keys_len += len;
  bf->slots[at] = (uint32_t)++bf->n_subjects;
  *out = s;
  return CSC_OK;
}

/* Files the record at offset (bytes long) under the subject of key. */
static int index_add(struct backfill *bf, const uint8_t *key, size_t len, struct batch_la *la,
                     uint64_t offset, uint64_t bytes) {
  struct bf_subject *s;
  int rc = subject_find(bf, key, len, la, &s);
  if (rc != CSC_OK)
    return rc;
  size_t cap = bf->cap_records;
  if (grow((void **)&bf->offset, &cap, bf->n_records + 1, sizeof *bf->offset) != CSC_OK)
    return CSC_ENOMEM;
  cap = bf->cap_records;
  if (grow((void **)&bf->next, &cap, bf->n_records + 1, sizeof *bf->next) != CSC_OK)
    return CSC_ENOMEM;
  bf->cap_records = cap;
  const uint32_t r = (uint32_t)bf->n_records++;
  bf->offset[r] = offset;
  bf->next[r] = NO_RECORD;
  s->bytes += bytes;
  if (s->count++ == 0)
    s->first = r;
  else
    bf->next[s->last] = r;
  s->last = r;
  return CSC_OK;
}

/* A subject's place in the key order: its key beside it, so that the
 * comparison needs no context. */
struct bf_order {
  const uint8_t *key;
  uint32_t key_len;
  uint32_t subject;
};

static int order_compare(const void *pa, const void *pb) {
  const struct bf_order *a = pa, *b = pb;
  const size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
  const int c = memcmp(a->key, b->key, n);
  return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* bf->order: the subjects in key order, so that each table is written in
 * key order (pages written once, not dirtied again by every batch). */
static int index_sort(struct backfill *bf) {
  struct bf_order *order =
      realloc(bf->order, (bf->n_subjects ? bf->n_subjects : 1) * sizeof *order);
  if (order == NULL)
    return CSC_ENOMEM;
  bf->order = order;
  for (size_t i = 0; i < bf->n_subjects; i++)
    order[i] = (struct bf_order){subject_key(bf, &bf->subjects[i]), bf->subjects[i].key_len,
                                 (uint32_t)i};
  qsort(order, bf->n_subjects, sizeof *order, order_compare);
  return CSC_OK;
}

/* ---- transactions ---------------------------------------------------------------- */

/* What a transaction may change in memory, to put back when it fails. */
struct bf_saved {
  struct engine_stats stats;
  uint64_t next_seq;
  size_t n_las, n_positions;
  struct batch_la *las;             /* copies of e->las[0..n_las) */
  struct batch_position *positions; /* copies of e->positions[0..n_positions) */
};

static int bf_save(const struct engine *e, struct bf_saved *s) {
  s->stats = e->stats;
  s->next_seq = e->next_seq;
  s->n_las = e->n_las;
  s->n_positions = e->n_positions;
  s->las = malloc((e->n_las ? e->n_las : 1) * sizeof *s->las);
  s->positions = malloc((e->n_positions ? e->n_positions : 1) * sizeof *s->positions);
  if (s->las == NULL || s->positions == NULL) {
    free(s->las);
    free(s->positions);
    return CSC_ENOMEM;
  }
  for (size_t i = 0; i < e->n_las; i++)
    s->las[i] = *e->las[i];
  if (e->n_positions > 0) /* e->positions may be NULL before the first */
    memcpy(s->positions, e->positions, e->n_positions * sizeof *s->positions);
  return CSC_OK;
}

static void bf_restore(struct engine *e, const struct bf_saved *s) {
  e->stats = s->stats;
  e->next_seq = s->next_seq;
  e->n_las = s->n_las;
  for (size_t i = 0; i < s->n_las; i++)
    *e->las[i] = s->las[i];
  e->n_positions = s->n_positions;
  if (s->n_positions > 0)
    memcpy(e->positions, s->positions, s->n_positions * sizeof *s->positions);
  agg_pending_clear(e->pending);
}

static void bf_saved_free(struct bf_saved *s) {
  free(s->las);
  free(s->positions);
}

typedef int (*bf_body)(struct backfill *bf, MDB_txn *txn, struct output *out, void *arg);

static int bf_transaction_once(struct backfill *bf, bf_body body, void *arg) {
  struct engine *e = bf->e;
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
  if (rc != 0)
    return store_error(rc, "begin");
  struct outbox ob = {{outbox_emit, 0, 0, 0, 0}, e, txn};
  e->n_dl_notes = 0;
  int err = outbox_delete_acked_in(e, txn);
  if (err == CSC_OK)
    err = body(bf, txn, &ob.base, arg);
  count_outputs(e, &ob.base);
  struct store_status status;
  if (err == CSC_OK) {
    status_record(e, &status);
    err = store_put_status(e->st, txn, &status);
  }
  err = commit_or_abort(e, txn, err);
  if (err != CSC_OK) {
    e->n_dl_notes = 0;
    return err;
  }
  e->n_acked = 0;
  log_dead_letters(e);
  const double now = now_seconds();
  e->status_dirty = 0;
  e->status_written = now;
  file_source_release(bf->fs, file_source_size(bf->fs));
  release_mapped_memory(e, now);
  if (store_grow_early(e->st) != CSC_OK)
    log_json(LOG_WARN, "state_grow_failed", "\"note\":\"the next step may grow the map\"");
  if (e->opt.fault)
    e->opt.fault(e->opt.fault_ctx, ENGINE_FAULT_COMMITTED);
  return CSC_OK;
}

/* Runs body in one committed write transaction. On failure nothing of it
 * stays, in the store or in memory; a full map is grown and body run again
 * (body starts from what arg says each time). */
static int bf_transaction(struct backfill *bf, bf_body body, void *arg) {
  struct bf_saved saved;
  if (bf_save(bf->e, &saved) != CSC_OK)
    return CSC_ENOMEM;
  int rc;
  for (int attempt = 0;; attempt++) {
    rc = bf_transaction_once(bf, body, arg);
    if (rc != CSC_OK)
      bf_restore(bf->e, &saved);
    if (rc != CSC_EMAPFULL || attempt == 16)
      break;
    if ((rc = store_grow(bf->e->st)) != CSC_OK)
      break;
  }
  bf_saved_free(&saved);
  return rc;
}

static void progress(struct backfill *bf, const char *phase, uint64_t done, uint64_t of) {
  const double t = now_seconds();
  if (t - bf->reported < 1.0)
    return;
  bf->reported = t;
  log_json(LOG_INFO, "backfill_progress",
           "\"phase\":\"%s\",\"records\":%llu,\"of\":%llu,\"elapsed_s\":%.3f,"
           "\"dead_lettered\":%llu",
           phase, (unsigned long long)done, (unsigned long long)of, t - bf->started,
           (unsigned long long)bf->e->stats.dead_lettered);
}

/* ---- scan ------------------------------------------------------------------------ */

struct scan_arg {
  uint64_t from, end; /* file offsets: where the segment starts, and ends */
  int more;           /* records follow the segment */
};

/* Admits one record and files it under its subject; a dead letter is not
 * filed. */
static int scan_record(struct backfill *bf, MDB_txn *txn, const struct engine_input *in,
                       struct output *out) {
  struct engine *e = bf->e;
  struct admitted a;
  arena_reset(&e->arena);
  int rc = admit_input(e, txn, in, out, &a);
  if (rc == CSC_OK)
    rc = note_position(e, in);
  if (rc != CSC_OK || a.ev == NULL)
    return rc;
  uint8_t key[STATE_MAX_KEY];
  const size_t len = store_key(key, a.la->la, a.subject, strlen(a.subject) + 1);
  if (len == 0 || len + 4 > STATE_MAX_KEY) /* as the streaming path refuses it */
    return dead_letter(e, txn, in, "not applied: invalid input");
  return index_add(bf, key, len, a.la, (uint64_t)in->position,
                   (uint64_t)(in->next_position - in->position));
}

static int scan_body(struct backfill *bf, MDB_txn *txn, struct output *out, void *arg) {
  struct scan_arg *sa = arg;
  struct engine *e = bf->e;
  index_clear(bf);
  if (file_source_seek(bf->fs, sa->from) != CSC_OK)
    return CSC_EINVAL;
  int rc = store_put_backfill(e->st, txn, bf->first_seq);
  uint64_t released = sa->from;
  sa->more = 1;
  while (rc == CSC_OK && bf->n_records < bf->max_records) {
    const uint64_t at = file_source_position(bf->fs);
    const uint8_t *buf;
    size_t len;
    const int r = file_source_next(bf->fs, &buf, &len);
    if (r != CSC_OK) {
      if (r != CSC_ENOTFOUND) {
        log_json(LOG_ERROR, "replay_truncated_record", "\"position\":%llu",
                 (unsigned long long)at);
        bf->truncated = 1;
      }
      sa->more = 0;
      break;
    }
    const struct engine_input in = {bf->source, 0, (int64_t)at,
                                    (int64_t)file_source_position(bf->fs), NULL, 0, buf, len,
                                    bf->now_ms, 0};
    rc = scan_record(bf, txn, &in, out);
    if (at - released >= BACKFILL_RELEASE_BYTES) {
      file_source_release(bf->fs, at);
      released = at;
    }
    progress(bf, "scan", bf->scanned + bf->n_records, 0);
  }
  sa->end = file_source_position(bf->fs);
  return rc;
}

/* ---- gather ---------------------------------------------------------------------- */

/*
 * Copies the segment's records into bucket files by key range, so that the
 * fold reads one bucket at a time instead of the input all over: a step's
 * children have their records everywhere in the input, and a step of
 * 500,000 events mapped most of it (916 MB of the bench's 10M events).
 * Reading the input at random in key order would touch nearly every page
 * of it for any stretch of subjects (a page holds dozens of records of
 * unrelated children): the whole input mapped at once.
 *
 * So the input is read front to back (released behind), and each record
 * appended to the bucket file of its subject's key range: the subjects in
 * key order are cut into buckets of about GATHER_BUCKET_BYTES. The fold
 * then takes the subjects in key order, which is bucket by bucket, and
 * reads each subject's records where its bucket holds them: at random
 * within the bucket, whose pages are released once the fold has passed
 * it. The buckets were once copied again into one scratch file in key
 * order, for the fold to read front to back; that second copy was a tenth
 * of a backfill and bought nothing the bucket's map does not give.
 *
 * Memory: a bucket mapped and 4 bytes a record. The files live in the
 * state directory (the state needs more room than its input anyway) and
 * are unlinked as soon as they are open, so a crash leaves none. When they
 * cannot be made (no space, a directory in the way), the fold reads the
 * input where the records are, as it did before.
 */

struct gather_out { /* a file written through a buffer */
  int fd;
  uint8_t *buf;
  size_t used;
  uint64_t written;
};

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return CSC_EIO;
    p += w;
    n -= (size_t)w;
  }
  return CSC_OK;
}

static int out_put(struct gather_out *o, const uint8_t *p, size_t n) {
  if (o->used + n > GATHER_BUFFER) {
    if (write_all(o->fd, o->buf, o->used) != CSC_OK)
      return CSC_EIO;
    o->used = 0;
  }
  if (n > GATHER_BUFFER) {
    if (write_all(o->fd, p, n) != CSC_OK)
      return CSC_EIO;
  } else {
    memcpy(o->buf + o->used, p, n);
    o->used += n;
  }
  o->written += n;
  return CSC_OK;
}

static int out_flush(struct gather_out *o) {
  const int rc = write_all(o->fd, o->buf, o->used);
  o->used = 0;
  return rc;
}

/* An empty file in the state directory, unlinked at once. */
static int scratch_file(const struct backfill *bf, const char *name, int *fd) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", bf->e->opt.state_dir, name);
  *fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (*fd < 0)
    return CSC_EIO;
  unlink(path);
  return CSC_OK;
}

/* The framed bytes of record r in the input. */
static int input_record(const struct backfill *bf, uint32_t r, const uint8_t **p, size_t *n) {
  const uint8_t *rec;
  size_t len;
  if (file_source_record_at(bf->fs, bf->offset[r], &rec, &len) != CSC_OK)
    return CSC_ESTATE; /* it was whole when scanned */
  *n = (size_t)(file_source_offset_of(bf->fs, rec) + len - bf->offset[r]);
  *p = rec - (*n - len);
  return CSC_OK;
}

/* Cuts the subjects, in key order, into buckets of about
 * GATHER_BUCKET_BYTES: bf->n_buckets, bf->bucket_first and each
 * subject's bucket. */
static int gather_plan(struct backfill *bf) {
  const uint64_t bucket_bytes =
      bf->e->opt.backfill_bucket_bytes ? bf->e->opt.backfill_bucket_bytes : GATHER_BUCKET_BYTES;
  uint64_t total = 0;
  for (size_t i = 0; i < bf->n_subjects; i++)
    total += bf->subjects[i].bytes;
  size_t n = (size_t)(total / bucket_bytes) + 1;
  if (n > GATHER_MAX_BUCKETS)
    n = GATHER_MAX_BUCKETS;
  const uint64_t per = total / n + 1;
  bf->bucket_first = calloc(n + 1, sizeof *bf->bucket_first);
  bf->bucket_at = malloc((bf->n_records ? bf->n_records : 1) * sizeof *bf->bucket_at);
  if (bf->bucket_first == NULL || bf->bucket_at == NULL)
    return CSC_ENOMEM;
  size_t b = 0;
  uint64_t in_bucket = 0;
  for (size_t i = 0; i < bf->n_subjects; i++) {
    struct bf_subject *s = &bf->subjects[bf->order[i].subject];
    if (in_bucket >= per && b + 1 < n) {
      bf->bucket_first[++b] = i;
      in_bucket = 0;
    }
    if (s->bytes > UINT32_MAX - in_bucket)
      return CSC_EFULL; /* a bucket's places are 32 bits */
    in_bucket += s->bytes;
    s->bucket = (uint32_t)b;
  }
  for (size_t k = b + 1; k <= n; k++)
    bf->bucket_first[k] = bf->n_subjects;
  bf->n_buckets = b + 1;
  return CSC_OK;
}

/* The input front to back into the buckets. */
static int gather_buckets(struct backfill *bf, struct gather_out *out) {
  uint64_t released = 0;
  for (uint32_t i = 0; i < bf->n_subjects; i++) /* record -> bucket, in bucket_at for now */
    for (uint32_t j = 0, r = bf->subjects[i].first; j < bf->subjects[i].count;
         j++, r = bf->next[r])
      bf->bucket_at[r] = bf->subjects[i].bucket;
  for (size_t r = 0; r < bf->n_records; r++) {
    const uint8_t *p;
    size_t n;
    int rc = input_record(bf, (uint32_t)r, &p, &n);
    struct gather_out *o = &out[bf->bucket_at[r]];
    bf->bucket_at[r] = (uint32_t)o->written;
    if (rc == CSC_OK)
      rc = out_put(o, p, n);
    if (rc != CSC_OK)
      return rc;
    if (bf->offset[r] - released >= BACKFILL_RELEASE_BYTES) {
      file_source_release(bf->fs, bf->offset[r]);
      released = bf->offset[r];
    }
  }
  for (size_t b = 0; b < bf->n_buckets; b++)
    if (out_flush(&out[b]) != CSC_OK)
      return CSC_EIO;
  return CSC_OK;
}

static int gather_run(struct backfill *bf, struct gather_out *out, uint8_t *bufs) {
  int rc = gather_plan(bf);
  for (size_t b = 0; rc == CSC_OK && b < bf->n_buckets; b++) {
    char name[48]; /* room for any size_t */
    snprintf(name, sizeof name, "backfill.bucket.%zu", b);
    out[b].buf = bufs + b * GATHER_BUFFER;
    rc = scratch_file(bf, name, &out[b].fd);
  }
  if (rc == CSC_OK)
    rc = gather_buckets(bf, out);
  for (size_t b = 0; rc == CSC_OK && b < bf->n_buckets; b++) {
    rc = file_source_open_fd(out[b].fd, &bf->bucket[b]); /* takes the fd */
    out[b].fd = -1;
  }
  return rc;
}

/* Closes the buckets: the fold reads the input in place from then on. */
static void gather_close(struct backfill *bf) {
  for (size_t b = 0; b < GATHER_MAX_BUCKETS; b++) {
    if (bf->bucket[b] != NULL)
      file_source_close(bf->bucket[b]);
    bf->bucket[b] = NULL;
  }
  bf->n_buckets = 0;
  free(bf->bucket_first);
  free(bf->bucket_at);
  bf->bucket_first = NULL;
  bf->bucket_at = NULL;
}

static void gather(struct backfill *bf) {
  const double t0 = now_seconds();
  struct gather_out out[GATHER_MAX_BUCKETS];
  for (size_t b = 0; b < GATHER_MAX_BUCKETS; b++)
    out[b] = (struct gather_out){-1, NULL, 0, 0};
  uint8_t *bufs = malloc(GATHER_MAX_BUCKETS * GATHER_BUFFER);
  const int rc = bufs == NULL ? CSC_ENOMEM : gather_run(bf, out, bufs);
  uint64_t bytes = 0;
  for (size_t b = 0; b < GATHER_MAX_BUCKETS; b++) {
    if (out[b].fd >= 0)
      close(out[b].fd);
    bytes += out[b].written;
  }
  free(bufs);
  file_source_release(bf->fs, file_source_size(bf->fs));
  if (rc != CSC_OK) {
    const size_t buckets = bf->n_buckets;
    gather_close(bf);
    log_json(LOG_WARN, "backfill_gather_failed",
             "\"reason\":\"%s\",\"buckets\":%zu,\"note\":\"the fold reads the input in place: "
             "slower, more memory\"",
             csc_strerror(rc), buckets);
    return;
  }
  log_json(LOG_INFO, "backfill_gathered", "\"bytes\":%llu,\"buckets\":%zu,\"elapsed_s\":%.3f",
           (unsigned long long)bytes, bf->n_buckets, now_seconds() - t0);
}

/* ---- fold ------------------------------------------------------------------------ */

struct fold_arg {
  size_t from, end; /* positions in bf->order */
};

/* Folds one subject: its records read again, in file order, from its
 * bucket or the input. */
static int fold_subject(struct backfill *bf, MDB_txn *txn, const struct bf_subject *s,
                        struct output *out) {
  struct engine *e = bf->e;
  arena_reset(&e->arena);
  const void **values = arena_alloc(&e->arena, s->count * sizeof *values);
  size_t *lens = arena_alloc(&e->arena, s->count * sizeof *lens);
  if (values == NULL || lens == NULL)
    return CSC_ENOMEM;
  const struct file_source *from = bf->n_buckets ? bf->bucket[s->bucket] : bf->fs;
  uint32_t r = s->first;
  for (uint32_t j = 0; j < s->count; j++, r = bf->next[r]) {
    const uint8_t *buf;
    const uint64_t at = bf->n_buckets ? bf->bucket_at[r] : bf->offset[r];
    if (file_source_record_at(from, at, &buf, &lens[j]) != CSC_OK)
      return CSC_ESTATE; /* it was whole when scanned */
    values[j] = buf;
  }
  const char *subject = (const char *)subject_key(bf, s) + strlen(s->la->la) + 1;
  return apply_subject_values(e, txn, s->la, subject, values, lens, s->count, out);
}

static int fold_body(struct backfill *bf, MDB_txn *txn, struct output *out, void *arg) {
  struct fold_arg *fa = arg;
  size_t i = fa->from, events = 0;
  int rc = CSC_OK;
  /* At least one subject, however many events it has. */
  while (rc == CSC_OK && i < bf->n_subjects && (i == fa->from || events < bf->step_events)) {
    const struct bf_subject *s = &bf->subjects[bf->order[i++].subject];
    rc = fold_subject(bf, txn, s, out);
    events += s->count;
    if (bf->n_buckets && (i == bf->n_subjects || i == bf->bucket_first[s->bucket + 1])) {
      struct file_source *done = bf->bucket[s->bucket]; /* read: behind the fold */
      file_source_release(done, file_source_size(done));
    }
    progress(bf, "fold", bf->folded + events, bf->scanned + bf->n_records);
  }
  fa->end = i;
  /* The sums of the step's changes, one write per key. */
  return rc == CSC_OK ? agg_pending_flush(bf->e->pending, bf->e->st, txn) : rc;
}

/* Folds the segment's subjects in steps of a transaction each. */
static int fold_segment(struct backfill *bf) {
  struct fold_arg fa = {0, 0};
  while (fa.from < bf->n_subjects) {
    if (*bf->stop)
      return CSC_OK;
    int rc = bf_transaction(bf, fold_body, &fa);
    if (rc == CSC_ETXNFULL && bf->step_events > 1) {
      bf->step_events /= 2; /* more pages than one transaction may dirty */
      log_json(LOG_INFO, "backfill_step_halved", "\"events\":%zu", bf->step_events);
      continue;
    }
    if (rc != CSC_OK)
      return rc;
    for (size_t i = fa.from; i < fa.end; i++)
      bf->folded += bf->subjects[bf->order[i].subject].count;
    fa.from = fa.end;
  }
  return CSC_OK;
}

/* ---- finish ----------------------------------------------------------------------- */

static int finish_body(struct backfill *bf, MDB_txn *txn, struct output *out, void *arg) {
  (void)arg;
  int rc = finish_batch(bf->e, txn, out);
  return rc == CSC_OK ? store_del_backfill(bf->e->st, txn) : rc;
}

/* Empties the state after a fault, for the streaming path to start again. */
static int fall_back(struct backfill *bf, int fault, const struct engine_stats *before) {
  struct engine *e = bf->e;
  log_json(LOG_WARN, "backfill_fallback",
           "\"reason\":\"%s\",\"note\":\"the state is emptied and the file replayed in batches; "
           "dead letters already logged are logged again\"",
           csc_strerror(fault));
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
  if (rc != 0)
    return store_error(rc, "begin");
  int err = store_empty(e->st, txn, bf->first_seq);
  if (err == CSC_OK && (rc = mdb_txn_commit(txn)) != 0)
    err = store_error(rc, "commit");
  else if (err != CSC_OK)
    mdb_txn_abort(txn);
  if (err != CSC_OK)
    return err;
  e->stats = *before;
  e->next_seq = bf->first_seq;
  e->n_las = 0;
  e->n_positions = 0;
  agg_pending_clear(e->pending);
  return BACKFILL_FALLBACK;
}

static int backfill_run(struct backfill *bf) {
  struct engine *e = bf->e;
  const struct engine_stats before = e->stats;
  struct scan_arg sa = {0, 0, 1};
  int rc = CSC_OK;
  e->n_las = 0; /* kept from the scan to the finish: the fold moves them */
  e->n_positions = 0;
  agg_pending_clear(e->pending);
  while (rc == CSC_OK && sa.more && !*bf->stop) {
    rc = bf_transaction(bf, scan_body, &sa);
    if (rc == CSC_OK)
      rc = index_sort(bf);
    if (rc == CSC_OK) {
      log_json(LOG_INFO, "backfill_segment",
               "\"records\":%zu,\"subjects\":%zu,\"index_bytes\":%zu,\"elapsed_s\":%.3f",
               bf->n_records, bf->n_subjects,
               bf->n_records * (sizeof *bf->offset + sizeof *bf->next) +
                   bf->n_subjects * (sizeof *bf->subjects + 2 * sizeof *bf->slots +
                                     sizeof *bf->order) +
                   bf->keys_len,
               now_seconds() - bf->started);
      gather(bf);
      rc = fold_segment(bf);
      gather_close(bf);
    }
    if (input_fault(rc))
      return fall_back(bf, rc, &before);
    bf->scanned += bf->n_records;
    sa.from = sa.end;
  }
  if (rc != CSC_OK)
    return rc;
  if (*bf->stop) {
    log_json(LOG_WARN, "backfill_stopped",
             "\"note\":\"the state is marked unfinished: the next replay empties it and starts "
             "again\"");
    return CSC_OK;
  }
  rc = bf_transaction(bf, finish_body, NULL);
  if (rc == CSC_OK)
    publish_pending(e);
  return rc == CSC_OK && bf->truncated ? CSC_EINVAL : rc;
}

int backfill_file(struct engine *e, struct file_source *fs, const char *source, int64_t now_ms,
                  volatile sig_atomic_t *stop) {
  struct backfill bf = {0};
  bf.e = e;
  bf.fs = fs;
  bf.source = source;
  bf.now_ms = now_ms;
  bf.stop = stop;
  bf.max_records = e->opt.backfill_segment ? e->opt.backfill_segment : BACKFILL_SEGMENT_DEFAULT;
  if (bf.max_records >= NO_RECORD)
    bf.max_records = NO_RECORD - 1;
  bf.first_seq = e->next_seq;
  bf.step_events = BACKFILL_STEP_EVENTS;
  bf.started = bf.reported = now_seconds();
  log_json(LOG_INFO, "backfill_start", "\"size\":%llu,\"segment_records\":%zu",
           (unsigned long long)file_source_size(fs), bf.max_records);
  const int rc = backfill_run(&bf);
  const double t = now_seconds() - bf.started;
  const uint64_t records = bf.scanned;
  log_json(rc == CSC_OK ? LOG_INFO : LOG_WARN, "backfill_done",
           "\"records\":%llu,\"events_per_s\":%.0f,\"elapsed_s\":%.3f,\"dead_lettered\":%llu,"
           "\"result\":\"%s\"",
           (unsigned long long)records, records / (t > 1e-9 ? t : 1e-9), t,
           (unsigned long long)e->stats.dead_lettered,
           rc == CSC_OK ? (*stop ? "stopped" : "done")
                        : rc == BACKFILL_FALLBACK ? "fallback" : csc_strerror(rc));
  index_free(&bf);
  return rc;
}

int backfill_eligible(struct engine *e, int *eligible) {
  MDB_txn *txn;
  int rc = mdb_txn_begin(e->st->env, NULL, MDB_RDONLY, &txn);
  if (rc != 0)
    return store_error(rc, "begin read");
  rc = store_is_empty(e->st, txn, eligible);
  mdb_txn_abort(txn);
  return rc;
}

int backfill_unfinished(struct engine *e, char *err, size_t errlen) {
  MDB_txn *txn;
  uint64_t first_seq;
  int rc = mdb_txn_begin(e->st->env, NULL, 0, &txn);
  if (rc != 0) {
    snprintf(err, errlen, "state: %s", mdb_strerror(rc));
    return store_error(rc, "begin");
  }
  rc = store_get_backfill(e->st, txn, &first_seq);
  if (rc == CSC_ENOTFOUND) {
    mdb_txn_abort(txn);
    return CSC_OK;
  }
  if (rc == CSC_OK && !e->opt.reset_unfinished_backfill) {
    mdb_txn_abort(txn);
    log_json(LOG_ERROR, "backfill_unfinished",
             "\"note\":\"a replay into this state stopped before it finished\"");
    snprintf(err, errlen,
             "the state holds a replay that did not finish (it was stopped or crashed): run the "
             "same replay again to finish it, or start from an empty state directory");
    return CSC_ESTATE;
  }
  if (rc == CSC_OK)
    rc = store_empty(e->st, txn, first_seq);
  if (rc == CSC_OK && (rc = mdb_txn_commit(txn)) != 0)
    rc = store_error(rc, "commit");
  else if (rc != CSC_OK)
    mdb_txn_abort(txn);
  if (rc != CSC_OK) {
    snprintf(err, errlen, "state: cannot empty an unfinished replay: %s", csc_strerror(rc));
    return rc;
  }
  log_json(LOG_WARN, "backfill_unfinished_emptied",
           "\"note\":\"a replay into this state stopped before it finished: the state was "
           "emptied, and this replay starts again\"");
  return CSC_OK;
}
