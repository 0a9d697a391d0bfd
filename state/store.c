#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "state/state.h"

const char *const plan_kind_names[PLAN_KIND_COUNT] = {"EH", "CIN", "CP", "LAC"};
const int plan_thresholds[N_THRESHOLDS] = {6, 12, 24};


/* The CSC_E* code of an LMDB failure that is not an expected one. Faults
 * of the disk and of the file must not be CSC_ESTATE: the engine takes that
 * for an input the store refused and dead-letters the input, which on a full
 * disk would throw events away. */
static int failure_code(int mdb_rc) {
  switch (mdb_rc) {
  case ENOMEM: return CSC_ENOMEM;
  /* A short write is EIO to LMDB, so a full disk may come as either. */
  case ENOSPC: case EDQUOT: case EFBIG: case EIO:
  case MDB_PANIC: /* a meta page write failed: the previous meta stands */
    return CSC_ENOSPC;
  case MDB_INVALID: case MDB_VERSION_MISMATCH: case MDB_CORRUPTED: case MDB_PAGE_NOTFOUND:
    return CSC_EDAMAGED;
  default: return CSC_ESTATE;
  }
}

int store_error(int mdb_rc, const char *what) {
  if (mdb_rc == MDB_NOTFOUND)
    return CSC_ENOTFOUND;
  if (mdb_rc == MDB_MAP_FULL)
    return CSC_EMAPFULL; /* expected now and then: the caller grows the map */
  if (mdb_rc == MDB_TXN_FULL)
    return CSC_ETXNFULL; /* a huge batch: the caller splits it */
  log_json(LOG_ERROR, "lmdb_error", "\"op\":\"%s\",\"code\":%d,\"reason\":\"%s\"", what, mdb_rc,
           mdb_strerror(mdb_rc));
  return failure_code(mdb_rc);
}

size_t store_key(uint8_t *key, const char *la, const void *rest, size_t rest_len) {
  const size_t la_len = strlen(la);
  if (la_len + 1 + rest_len > STATE_MAX_KEY)
    return 0;
  memcpy(key, la, la_len);
  key[la_len] = 0;
  if (rest_len)
    memcpy(key + la_len + 1, rest, rest_len);
  return la_len + 1 + rest_len;
}

void store_put_date(uint8_t *p, csc_date date) {
  const uint32_t u = (uint32_t)date ^ 0x80000000u;
  p[0] = (uint8_t)(u >> 24);
  p[1] = (uint8_t)(u >> 16);
  p[2] = (uint8_t)(u >> 8);
  p[3] = (uint8_t)u;
}

csc_date store_get_date(const uint8_t *p) {
  const uint32_t u = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  return (csc_date)(u ^ 0x80000000u);
}

/* What to do with a state that cannot be used, for every message that
 * refuses one. */
#define REBUILD                                                                                   \
  "rebuild it: replay the input topic into an empty state directory, or the files it came from " \
  "(cscflow replay --input FILE --state NEW_DIR)"

static int check_schema(struct store *st, MDB_txn *txn, const char *dir, int read_only, char *err,
                        size_t errlen) {
  MDB_val k = {14, "schema_version"}, v;
  int rc = mdb_get(txn, st->meta, &k, &v);
  if (rc == MDB_NOTFOUND) {
    if (read_only) {
      snprintf(err, errlen, "%s: state store is empty", dir);
      return CSC_ESTATE;
    }
    uint32_t ver = STATE_SCHEMA_VERSION;
    v.mv_size = sizeof ver;
    v.mv_data = &ver;
    rc = mdb_put(txn, st->meta, &k, &v, 0);
  } else if (rc == 0) {
    uint32_t ver;
    if (v.mv_size != sizeof ver) {
      snprintf(err, errlen, "%s: state store schema version record is malformed: " REBUILD, dir);
      return CSC_EDAMAGED;
    }
    memcpy(&ver, v.mv_data, sizeof ver);
    /* Derived records are stored in the layout of their version: an older
     * store cannot be read either, and a newer one must not be written by a
     * binary that does not know its layout. It is rebuilt by a replay. */
    if (ver != STATE_SCHEMA_VERSION) {
      snprintf(err, errlen,
               "%s: state store has schema version %u, this cscflow reads and writes version "
               "%u only; it was not changed. Run the cscflow that wrote it, or " REBUILD,
               dir, ver, STATE_SCHEMA_VERSION);
      return CSC_EDAMAGED;
    }
  }
  if (rc != 0) {
    snprintf(err, errlen, "%s: schema version: %s", dir, mdb_strerror(rc));
    return CSC_ESTATE;
  }
  return CSC_OK;
}

/* A data.mdb that exists but is empty is damage (a truncation to 0, a copy
 * that failed), not a new store: LMDB would silently start a new one over
 * it. LMDB writes its two meta pages the moment it creates the file. */
static int check_not_empty(const char *dir, char *err, size_t errlen) {
  char path[4096];
  struct stat sb;
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  if (stat(path, &sb) != 0 || sb.st_size > 0)
    return CSC_OK; /* absent: a new store; unreadable: LMDB says why */
  snprintf(err, errlen,
           "%s: data.mdb is empty (truncated?): the state is damaged; restore it from a copy, or "
           REBUILD "; if this directory never held a state, remove data.mdb",
           dir);
  return CSC_EDAMAGED;
}

/* Every page LMDB's newest meta page counts must be in the file: a page of
 * the map past the end of the file raises SIGBUS when touched. Checked
 * before any page but the meta pages (read with pread) is. */
static int check_file_size(struct store *st, const char *dir, char *err, size_t errlen) {
  MDB_envinfo info;
  MDB_stat ms;
  mdb_filehandle_t fd;
  struct stat sb;
  if (mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &ms) != 0 ||
      mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0) {
    snprintf(err, errlen, "%s: cannot inspect data.mdb", dir);
    return CSC_ESTATE;
  }
  const uint64_t need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
  if ((uint64_t)sb.st_size >= need)
    return CSC_OK;
  snprintf(err, errlen,
           "%s: data.mdb is %lld bytes but its pages end at byte %llu: the file is truncated "
           "(damaged); restore it from a copy, or " REBUILD,
           dir, (long long)sb.st_size, (unsigned long long)need);
  return CSC_EDAMAGED;
}

/* err for an LMDB failure while opening, and its CSC_E* code. */
static int open_failure(int mdb_rc, const char *dir, char *err, size_t errlen) {
  const int code = failure_code(mdb_rc);
  snprintf(err, errlen, "%s: %s%s", dir, mdb_strerror(mdb_rc),
           code == CSC_EDAMAGED ? ": data.mdb is damaged; restore it from a copy, or " REBUILD
           : code == CSC_ENOSPC ? ": the state could not be written (no space left?)"
                                : "");
  return code == CSC_ENOMEM ? CSC_ENOMEM : code;
}

/* Creates dir (a writer) and takes the writer's lock; *lock_fd -1 for a
 * reader. */
static int prepare_dir(const char *dir, int read_only, int *lock_fd, char *err, size_t errlen) {
  *lock_fd = -1;
  if (read_only)
    return CSC_OK;
  if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
    return errno == ENOSPC || errno == EDQUOT ? CSC_ENOSPC : CSC_EIO;
  }
  return store_lock_writer(dir, lock_fd, err, errlen);
}

int store_open(const char *dir, int read_only, struct store **out, char *err, size_t errlen) {
  return store_open_sized(dir, read_only, 0, out, err, errlen);
}

/* map_size is only the first size: it doubles whenever a transaction fills
 * it (store_grow), and LMDB raises it to an existing data file's size. */
int store_open_sized(const char *dir, int read_only, size_t map_size, struct store **out,
                     char *err, size_t errlen) {
  int lock_fd;
  int rc = prepare_dir(dir, read_only, &lock_fd, err, errlen);
  if (rc == CSC_OK)
    rc = check_not_empty(dir, err, errlen);
  struct store *st = rc == CSC_OK ? calloc(1, sizeof *st) : NULL;
  if (rc == CSC_OK && st == NULL) {
    snprintf(err, errlen, "out of memory");
    rc = CSC_ENOMEM;
  }
  if (rc != CSC_OK) {
    if (lock_fd >= 0)
      close(lock_fd);
    return rc;
  }
  st->lock_fd = lock_fd;
  static const char *const names[] = {"meta",     "history",  "derived", "las",
                                      "aggs",     "calendar", "ledger",  "alertcal",
                                      "alerts",   "snapshots", "outbox", "allocidx"};
  MDB_dbi *dbis[] = {&st->meta,     &st->history,  &st->derived,  &st->las,
                     &st->aggs,     &st->calendar, &st->ledger,   &st->alertcal,
                     &st->alerts,   &st->snapshots, &st->outbox, &st->allocidx};
  /* allocidx: one worker key, many children (state/join.c) */
  static const unsigned dup_flags[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, MDB_DUPSORT};
  MDB_txn *txn = NULL;
  int crc = CSC_OK;
  rc = mdb_env_create(&st->env);
  if (rc == 0)
    rc = mdb_env_set_maxdbs(st->env, 16);
  if (rc == 0)
    rc = mdb_env_set_mapsize(st->env, map_size ? map_size : STORE_MAP_SIZE_DEFAULT);
  if (rc == 0)
    /* NOTLS: read transactions may be used by any thread (the HTTP server).
     * A writer reads without readahead (pages are touched at random).
     * Commits are synced unless store_set_durable turns that off.
     * No MDB_WRITEMAP: with it the writer writes through a map of a sparse
     * file, and a full disk is a SIGBUS at whichever page is touched first;
     * without it, dirty pages are written with write(2) at commit, and a
     * full disk is an error that aborts the transaction and keeps every
     * earlier commit, on any filesystem. It costs no replay throughput
     * (docs/performance.md); the dirty pages of a batch are heap memory. */
    rc = mdb_env_open(st->env, dir, MDB_NOTLS | (read_only ? MDB_RDONLY : MDB_NORDAHEAD), 0640);
  if (rc != 0) {
    crc = open_failure(rc, dir, err, errlen);
  } else if ((crc = check_file_size(st, dir, err, errlen)) == CSC_OK) {
    rc = mdb_txn_begin(st->env, NULL, read_only ? MDB_RDONLY : 0, &txn);
    for (size_t i = 0; rc == 0 && i < sizeof names / sizeof names[0]; i++)
      rc = mdb_dbi_open(txn, names[i], dup_flags[i] | (read_only ? 0 : MDB_CREATE), dbis[i]);
    if (rc != 0)
      crc = open_failure(rc, dir, err, errlen);
  }
  if (crc != CSC_OK) {
    if (txn)
      mdb_txn_abort(txn);
    if (st->env)
      mdb_env_close(st->env);
    if (st->lock_fd >= 0)
      close(st->lock_fd);
    free(st);
    return crc;
  }
  crc = check_schema(st, txn, dir, read_only, err, errlen);
  /* Committing, even a read-only transaction, keeps the database handles
   * open for the life of the environment; aborting would close them. */
  if (crc == CSC_OK && (rc = mdb_txn_commit(txn)) != 0) {
    crc = open_failure(rc, dir, err, errlen);
  } else if (crc != CSC_OK) {
    mdb_txn_abort(txn);
  }
  if (crc != CSC_OK) {
    mdb_env_close(st->env);
    if (st->lock_fd >= 0)
      close(st->lock_fd);
    free(st);
    return crc;
  }
  MDB_stat es;
  st->page_size = mdb_env_stat(st->env, &es) == 0 ? es.ms_psize : 4096;
  pthread_rwlock_init(&st->map_lock, NULL);
  *out = st;
  return CSC_OK;
}

int store_grow(struct store *st) {
  MDB_envinfo info;
  pthread_rwlock_wrlock(&st->map_lock); /* waits for readers on other threads */
  int rc = mdb_env_info(st->env, &info);
  if (rc == 0)
    rc = mdb_env_set_mapsize(st->env, info.me_mapsize * 2);
  pthread_rwlock_unlock(&st->map_lock);
  if (rc != 0)
    return store_error(rc, "grow map");
  log_json(LOG_INFO, "state_map_grown", "\"map_size\":%zu", info.me_mapsize * 2);
  return CSC_OK;
}

/* Where LMDB mapped the data file: LMDB does not say (mdb_env_info gives
 * the address only for MDB_FIXEDMAP), so find the mapping of the file's
 * device and inode in /proc/self/maps. */
static int find_map(struct store *st, void **addr, size_t *len) {
  mdb_filehandle_t fd;
  struct stat sb;
  if (mdb_env_get_fd(st->env, &fd) != 0 || fstat(fd, &sb) != 0)
    return CSC_ESTATE;
  FILE *f = fopen("/proc/self/maps", "r");
  if (f == NULL)
    return CSC_EIO;
  char line[512];
  int rc = CSC_ENOTFOUND;
  while (rc == CSC_ENOTFOUND && fgets(line, sizeof line, f) != NULL) {
    unsigned long long from, to, offset, inode;
    unsigned major, minor;
    if (sscanf(line, "%llx-%llx %*s %llx %x:%x %llu", &from, &to, &offset, &major, &minor,
               &inode) == 6 &&
        inode == (unsigned long long)sb.st_ino && offset == 0 &&
        major == (unsigned)major(sb.st_dev) && minor == (unsigned)minor(sb.st_dev)) {
      *addr = (void *)(uintptr_t)from;
      *len = (size_t)(to - from);
      rc = CSC_OK;
    }
  }
  fclose(f);
  return rc;
}

int store_release_memory(struct store *st) {
  void *addr;
  size_t len;
  int rc = find_map(st, &addr, &len);
  if (rc != CSC_OK)
    return rc;
  /* A shared file mapping: the pages stay in the page cache (written ones
   * are still written back); only this process's mapping of them goes. */
  return madvise(addr, len, MADV_DONTNEED) == 0 ? CSC_OK : CSC_EIO;
}

/* The bytes of the data file up to its last page in use, and the map size. */
static int used_bytes(struct store *st, uint64_t *used, uint64_t *map_size) {
  MDB_envinfo info;
  MDB_stat ms;
  int rc = mdb_env_info(st->env, &info);
  if (rc == 0)
    rc = mdb_env_stat(st->env, &ms);
  if (rc != 0)
    return store_error(rc, "usage");
  *used = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
  *map_size = info.me_mapsize;
  return CSC_OK;
}

int store_usage(struct store *st, uint64_t *bytes, uint64_t *histories) {
  uint64_t map_size;
  MDB_txn *txn;
  MDB_stat ms;
  int rc = used_bytes(st, bytes, &map_size);
  if (rc != CSC_OK)
    return rc;
  if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
    return store_error(rc, "usage");
  rc = mdb_stat(txn, st->derived, &ms); /* one derived record per history */
  *histories = rc == 0 ? ms.ms_entries : 0;
  mdb_txn_abort(txn);
  return rc ? store_error(rc, "usage") : CSC_OK;
}

int store_set_durable(struct store *st, int durable) {
  int rc = mdb_env_set_flags(st->env, MDB_NOSYNC, durable ? 0 : 1);
  if (rc == 0 && durable)
    rc = mdb_env_sync(st->env, 1); /* what earlier commits left unsynced */
  return rc ? store_error(rc, "set sync") : CSC_OK;
}

int store_sync(struct store *st) {
  int rc = mdb_env_sync(st->env, 1);
  return rc ? store_error(rc, "sync") : CSC_OK;
}

int store_grow_early(struct store *st) {
  uint64_t used, map_size;
  int rc = used_bytes(st, &used, &map_size);
  return rc != CSC_OK ? rc : used > map_size / 4 * 3 ? store_grow(st) : CSC_OK;
}

void store_close(struct store *st) {
  if (st == NULL)
    return;
  store_history_cache_free(st);
  mdb_env_close(st->env);
  if (st->lock_fd >= 0)
    close(st->lock_fd); /* last: the lock outlives every write */
  pthread_rwlock_destroy(&st->map_lock);
  free(st);
}

/*
 * LMDB lets a process change its map size only with no transaction open in
 * it, and refuses a new transaction with MDB_MAP_RESIZED once another
 * process grew the map. Readers on other threads hold map_lock shared for
 * the life of their transaction; a change of size takes it exclusively.
 */
int store_read_begin(struct store *st, MDB_txn **txn) {
  for (int attempt = 0; attempt < 2; attempt++) {
    pthread_rwlock_rdlock(&st->map_lock);
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc == 0)
      return CSC_OK; /* unlocked by store_read_end */
    pthread_rwlock_unlock(&st->map_lock);
    if (rc != MDB_MAP_RESIZED)
      return store_error(rc, "begin read");
    pthread_rwlock_wrlock(&st->map_lock);
    rc = mdb_env_set_mapsize(st->env, 0); /* adopt the writer's size */
    pthread_rwlock_unlock(&st->map_lock);
    if (rc != 0)
      return store_error(rc, "adopt map size");
  }
  return CSC_ESTATE;
}

void store_read_end(struct store *st, MDB_txn *txn) {
  mdb_txn_abort(txn);
  pthread_rwlock_unlock(&st->map_lock);
}

static size_t position_key(uint8_t *key, const char *source, int32_t partition) {
  const size_t n = strlen(source);
  if (4 + n + 1 + 4 > STATE_MAX_KEY)
    return 0;
  memcpy(key, "pos", 4);
  memcpy(key + 4, source, n + 1);
  const uint32_t p = (uint32_t)partition;
  const uint8_t be[4] = {(uint8_t)(p >> 24), (uint8_t)(p >> 16), (uint8_t)(p >> 8), (uint8_t)p};
  memcpy(key + 5 + n, be, 4);
  return 9 + n;
}

int store_get_position(struct store *st, MDB_txn *txn, const char *source, int32_t partition,
                       int64_t *next) {
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {position_key(key, source, partition), key}, v;
  if (k.mv_size == 0)
    return CSC_EINVAL;
  int rc = mdb_get(txn, st->meta, &k, &v);
  if (rc != 0)
    return store_error(rc, "get position");
  if (v.mv_size != sizeof *next)
    return CSC_ESTATE;
  memcpy(next, v.mv_data, sizeof *next);
  return CSC_OK;
}

int store_put_position(struct store *st, MDB_txn *txn, const char *source, int32_t partition,
                       int64_t next) {
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {position_key(key, source, partition), key}, v = {sizeof next, &next};
  if (k.mv_size == 0)
    return CSC_EINVAL;
  int rc = mdb_put(txn, st->meta, &k, &v, 0);
  return rc ? store_error(rc, "put position") : CSC_OK;
}

int store_get_la(struct store *st, MDB_txn *txn, const char *la, struct la_state *out) {
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {store_key(key, la, NULL, 0), key}, v;
  int rc = mdb_get(txn, st->las, &k, &v);
  if (rc != 0)
    return store_error(rc, "get la");
  if (v.mv_size != sizeof *out)
    return CSC_ESTATE;
  memcpy(out, v.mv_data, sizeof *out);
  return CSC_OK;
}

int store_put_la(struct store *st, MDB_txn *txn, const char *la, const struct la_state *ls) {
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {store_key(key, la, NULL, 0), key}, v = {sizeof *ls, (void *)ls};
  int rc = mdb_put(txn, st->las, &k, &v, 0);
  return rc ? store_error(rc, "put la") : CSC_OK;
}

/* ---- backfill ---------------------------------------------------------------- */

static const char backfill_key[] = "backfill";

int store_put_backfill(struct store *st, MDB_txn *txn, uint64_t first_seq) {
  MDB_val k = {sizeof backfill_key, (void *)backfill_key}, v = {sizeof first_seq, &first_seq};
  int rc = mdb_put(txn, st->meta, &k, &v, 0);
  return rc ? store_error(rc, "put backfill") : CSC_OK;
}

int store_get_backfill(struct store *st, MDB_txn *txn, uint64_t *first_seq) {
  MDB_val k = {sizeof backfill_key, (void *)backfill_key}, v;
  int rc = mdb_get(txn, st->meta, &k, &v);
  if (rc != 0)
    return store_error(rc, "get backfill");
  if (v.mv_size != sizeof *first_seq)
    return CSC_ESTATE;
  memcpy(first_seq, v.mv_data, sizeof *first_seq);
  return CSC_OK;
}

int store_del_backfill(struct store *st, MDB_txn *txn) {
  MDB_val k = {sizeof backfill_key, (void *)backfill_key};
  int rc = mdb_del(txn, st->meta, &k, NULL);
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "del backfill");
}

int store_is_empty(struct store *st, MDB_txn *txn, int *empty) {
  MDB_stat las, history;
  int rc = mdb_stat(txn, st->las, &las);
  if (rc == 0)
    rc = mdb_stat(txn, st->history, &history);
  if (rc != 0)
    return store_error(rc, "stat");
  *empty = las.ms_entries == 0 && history.ms_entries == 0;
  return CSC_OK;
}

/* Deletes the keys of dbi from key `from` on (every key when from is NULL)
 * while they start with prefix (any key when prefix_len is 0). */
static int delete_from(MDB_txn *txn, MDB_dbi dbi, const MDB_val *from, const void *prefix,
                       size_t prefix_len) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, dbi, &cur);
  if (rc != 0)
    return store_error(rc, "cursor");
  const MDB_val start = from ? *from : (MDB_val){prefix_len, (void *)prefix};
  /* Sought again after each delete: few keys, and no reliance on where a
   * cursor stands after mdb_cursor_del. */
  for (;;) {
    MDB_val k = start, v;
    if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0)
      break;
    if (k.mv_size < prefix_len || memcmp(k.mv_data, prefix, prefix_len) != 0)
      break;
    if ((rc = mdb_cursor_del(cur, 0)) != 0)
      break;
  }
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "delete");
}

int store_empty(struct store *st, MDB_txn *txn, uint64_t first_seq) {
  const MDB_dbi tables[] = {st->history,  st->derived, st->las,    st->aggs,
                            st->calendar, st->ledger,  st->alertcal, st->alerts,
                            st->snapshots, st->allocidx};
  int rc = 0;
  store_history_cache_clear(st);
  for (size_t i = 0; rc == 0 && i < sizeof tables / sizeof tables[0]; i++)
    rc = mdb_drop(txn, tables[i], 0);
  if (rc != 0)
    return store_error(rc, "drop");
  uint8_t kb[8];
  for (int i = 0; i < 8; i++)
    kb[i] = (uint8_t)(first_seq >> (56 - 8 * i));
  const MDB_val from = {8, kb};
  int err = delete_from(txn, st->outbox, &from, NULL, 0);
  if (err == CSC_OK)
    err = delete_from(txn, st->meta, NULL, "pos", 4);
  if (err == CSC_OK)
    err = delete_from(txn, st->meta, NULL, "src", 4); /* state/sources.c */
  return err == CSC_OK ? store_del_backfill(st, txn) : err;
}
