#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "state/state.h"

const char *const plan_kind_names[PLAN_KIND_COUNT] = {"EH", "CIN", "CP", "LAC"};
const int plan_thresholds[N_THRESHOLDS] = {6, 12, 24};


int store_error(int mdb_rc, const char *what) {
  if (mdb_rc == MDB_NOTFOUND)
    return CSC_ENOTFOUND;
  if (mdb_rc == MDB_MAP_FULL)
    return CSC_EMAPFULL; /* expected now and then: the caller grows the map */
  if (mdb_rc == MDB_TXN_FULL)
    return CSC_ETXNFULL; /* a huge batch: the caller splits it */
  log_json(LOG_ERROR, "lmdb_error", "\"op\":\"%s\",\"code\":%d,\"reason\":\"%s\"", what, mdb_rc,
           mdb_strerror(mdb_rc));
  return mdb_rc == ENOMEM ? CSC_ENOMEM : CSC_ESTATE;
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
      snprintf(err, errlen, "%s: state store schema version record is malformed", dir);
      return CSC_ESTATE;
    }
    memcpy(&ver, v.mv_data, sizeof ver);
    /* Derived records are stored in the layout of their version: an older
     * store cannot be read either. It is rebuilt by replaying the input. */
    if (ver != STATE_SCHEMA_VERSION) {
      snprintf(err, errlen,
               "%s: state store has schema version %u, this cscflow reads version %u only: "
               "replay the input into an empty state directory",
               dir, ver, STATE_SCHEMA_VERSION);
      return CSC_ESTATE;
    }
  }
  if (rc != 0) {
    snprintf(err, errlen, "%s: schema version: %s", dir, mdb_strerror(rc));
    return CSC_ESTATE;
  }
  return CSC_OK;
}

int store_open(const char *dir, int read_only, struct store **out, char *err, size_t errlen) {
  return store_open_sized(dir, read_only, 0, out, err, errlen);
}

/* map_size is only the first size: it doubles whenever a transaction fills
 * it (store_grow), and LMDB raises it to an existing data file's size. */
int store_open_sized(const char *dir, int read_only, size_t map_size, struct store **out,
                     char *err, size_t errlen) {
  if (!read_only && mkdir(dir, 0750) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
    return CSC_EIO;
  }
  struct store *st = calloc(1, sizeof *st);
  if (st == NULL) {
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  static const char *const names[] = {"meta",     "history",  "derived", "las",
                                      "aggs",     "calendar", "ledger",  "alertcal",
                                      "alerts",   "snapshots", "outbox"};
  MDB_dbi *dbis[] = {&st->meta,     &st->history,  &st->derived,  &st->las,
                     &st->aggs,     &st->calendar, &st->ledger,   &st->alertcal,
                     &st->alerts,   &st->snapshots, &st->outbox};
  MDB_txn *txn = NULL;
  int rc = mdb_env_create(&st->env);
  if (rc == 0)
    rc = mdb_env_set_maxdbs(st->env, 16);
  if (rc == 0)
    rc = mdb_env_set_mapsize(st->env, map_size ? map_size : STORE_MAP_SIZE_DEFAULT);
  if (rc == 0)
    /* NOTLS: read transactions may be used by any thread (the HTTP server).
     * A writer writes into the map (WRITEMAP: no copy of each dirty page)
     * and reads without readahead (pages are touched at random). Commits
     * are synced unless store_set_durable turns that off. */
    rc = mdb_env_open(st->env, dir,
                      MDB_NOTLS | (read_only ? MDB_RDONLY : MDB_WRITEMAP | MDB_NORDAHEAD), 0640);
  if (rc == 0)
    rc = mdb_txn_begin(st->env, NULL, read_only ? MDB_RDONLY : 0, &txn);
  for (size_t i = 0; rc == 0 && i < sizeof names / sizeof names[0]; i++)
    rc = mdb_dbi_open(txn, names[i], read_only ? 0 : MDB_CREATE, dbis[i]);
  if (rc != 0) {
    snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
    if (txn)
      mdb_txn_abort(txn);
    if (st->env)
      mdb_env_close(st->env);
    free(st);
    return CSC_ESTATE;
  }
  int crc = check_schema(st, txn, dir, read_only, err, errlen);
  /* Committing, even a read-only transaction, keeps the database handles
   * open for the life of the environment; aborting would close them. */
  if (crc == CSC_OK && (rc = mdb_txn_commit(txn)) != 0) {
    snprintf(err, errlen, "%s: %s", dir, mdb_strerror(rc));
    crc = CSC_ESTATE;
  } else if (crc != CSC_OK) {
    mdb_txn_abort(txn);
  }
  if (crc != CSC_OK) {
    mdb_env_close(st->env);
    free(st);
    return crc;
  }
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
  mdb_env_close(st->env);
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
