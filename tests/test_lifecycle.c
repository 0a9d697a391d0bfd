/*
 * test_lifecycle.c — starting and stopping the cscflow program as an
 * operator does, through the binary itself (its path is argv[1]):
 *
 *   1. bad configuration: each bad key exits 78 naming the key and the
 *      reason, from `run` and from `replay`, and creates no state;
 *   2. map growth: a replay into a store whose LMDB map starts at 1 MiB
 *      (cscflow.state.map_size) hits MDB_MAP_FULL, grows the map several
 *      times (state_map_grown log lines) and ends with the same snapshots
 *      and output streams, byte for byte, as with the default 1 GiB map;
 *   3. refused state: a state directory written by a newer or an older
 *      schema, one whose data.mdb is not an LMDB file, is truncated or is
 *      empty (exit 65, EXIT_STATE_DAMAGED, the message saying how to rebuild
 *      it), a state path that is a regular file and an unreadable directory
 *      (exit 1) are refused by replay, run, snapshot and serve with a
 *      message naming the problem, never a signal, and left untouched
 *      (every file's bytes, size and mode the same before and after, but
 *      writer.lock, which a refused writer may leave);
 *   4. signals: SIGTERM, then SIGINT, sent to `cscflow run` (against
 *      librdkafka's mock cluster, hosted in this process) while it consumes
 *      a generated history: it exits 0 within 15 s, with its outbox empty
 *      (everything published and acknowledged) and part of the input
 *      consumed; a restart on the same state resumes from the stored
 *      positions and ends with the same snapshots as an uninterrupted run.
 *
 * Every wait is bounded in count and time; a child still running at its
 * bound is killed and the test fails.
 */
#include "tests/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "gen/gen.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

#define STOP_BOUND_S 15.0   /* a signalled run must be gone within this */
#define CONSUME_BOUND_S 120 /* a run must have read the whole input within this */

struct world {
  const char *cscflow; /* the binary under test */
  char dir[256];       /* this program's scratch directory */
  char events[320], population[320];
  /* The history, for producing to Kafka: record i is bytes[off[i], off[i+1]). */
  uint8_t *bytes;
  size_t len, cap, *off, n, cap_off;
  char (*la)[16];
  int runs; /* daemons started: each gets a consumer group of its own */
};

/* ---- small utilities ------------------------------------------------------------- */

static int path_exists(const char *path) {
  struct stat sb;
  return lstat(path, &sb) == 0;
}

static void sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  if (system(cmd) != 0)
    fail_msg("command failed: %s", cmd);
}

/* ---- running the binary -------------------------------------------------------------- */

/* In the child: the uid *arg, and the gid of the same number. */
static int become(const void *arg) {
  const int uid = *(const int *)arg;
  return setgid((gid_t)uid) != 0 || setuid((uid_t)uid) != 0;
}

/* test_spawn as uid (-1: as this process). */
static pid_t spawn_as(const char *bin, char *const args[], const char *out, const char *errf,
                      int uid) {
  return test_spawn_with(bin, args, out, errf, uid >= 0 ? become : NULL, &uid);
}

/* Runs bin to completion (at most 120 s) as uid (-1: as this process): its
 * exit code, or -1. */
static int run_as(const char *bin, char *const args[], const char *out, const char *errf,
                  int uid) {
  const int status = test_wait_pid(spawn_as(bin, args, out, errf, uid), 120.0, NULL);
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run(const char *bin, char *const args[], const char *out, const char *errf) {
  return run_as(bin, args, out, errf, -1);
}

/* ---- the generated history --------------------------------------------------------- */

static int keep_event(void *ctx, const Cscflow__V1__CaseEvent *ev) {
  struct world *w = ctx;
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  if (w->len + n + 10 > w->cap) {
    w->cap = (w->cap ? w->cap * 2 : 1 << 20) + n + 10;
    w->bytes = realloc(w->bytes, w->cap);
    if (w->bytes == NULL)
      return CSC_ENOMEM;
  }
  if (w->n + 2 > w->cap_off) {
    w->cap_off = w->cap_off ? w->cap_off * 2 : 1 << 16;
    w->off = realloc(w->off, w->cap_off * sizeof *w->off);
    w->la = realloc(w->la, w->cap_off * sizeof *w->la);
    if (w->off == NULL || w->la == NULL)
      return CSC_ENOMEM;
  }
  w->off[w->n] = w->len;
  cscflow__v1__case_event__pack(ev, w->bytes + w->len);
  w->len += n;
  snprintf(w->la[w->n], sizeof w->la[0], "%s", ev->la_code);
  w->n++;
  w->off[w->n] = w->len;
  return 0;
}

/* Two LAs, two years at a tenth of the usual size, 2% mess: ~33k events,
 * ~3 MB (within the mock's ~5 MiB a partition). */
static int setup(void **state) {
  struct world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  w->cscflow = getenv("CSCFLOW_TEST_BIN");
  assert_non_null(w->cscflow);
  test_tmpdir(w->dir, sizeof w->dir, "lifecycle");
  struct gen_options o;
  gen_options_default(&o);
  o.seed = 11;
  o.n_las = 2;
  o.years = 2;
  o.scale = 0.1;
  o.mess = 0.02;
  assert_int_equal(gen_run(&o, keep_event, w), 0);
  snprintf(w->events, sizeof w->events, "%s/events.bin", w->dir);
  snprintf(w->population, sizeof w->population, "%s/population.csv", w->dir);
  FILE *f = fopen(w->events, "wb");
  assert_non_null(f);
  for (size_t i = 0; i < w->n; i++) {
    uint8_t v[10];
    const size_t n = w->off[i + 1] - w->off[i];
    assert_int_equal(fwrite(v, 1, varint_encode(n, v), f), varint_encode(n, v));
    assert_int_equal(fwrite(w->bytes + w->off[i], 1, n, f), n);
  }
  assert_int_equal(fclose(f), 0);
  f = fopen(w->population, "w");
  assert_non_null(f);
  assert_int_equal(gen_write_population(&o, f), 0);
  assert_int_equal(fclose(f), 0);
  printf("history: %zu events, %zu bytes\n", w->n, w->len);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  struct world *w = *state;
  /* Its state stores take ~150 MB; CSCFLOW_TEST_KEEP=1 keeps them. */
  if (getenv("CSCFLOW_TEST_KEEP") == NULL)
    sh("rm -rf '%s'", w->dir);
  free(w->bytes);
  free(w->off);
  free(w->la);
  free(w);
  return 0;
}

/* `cscflow replay` of the history into state (a config file or NULL, batch
 * size), stderr to errf: asserts exit 0. */
static void replay(const struct world *w, const char *state, const char *config, const char *batch,
                   const char *errf) {
  char *args[16] = {"cscflow", "replay", "--input", (char *)w->events, "--state", (char *)state,
                    "--population", (char *)w->population, "--batch", (char *)batch};
  size_t n = 10;
  if (config) {
    args[n++] = "--config";
    args[n++] = (char *)config;
  }
  args[n] = NULL;
  const int rc = run(w->cscflow, args, NULL, errf);
  if (rc != 0) {
    char *e = test_slurp(errf, NULL);
    fail_msg("replay into %s exited %d: %s", state, rc, e ? e : "");
  }
}

/* `cscflow snapshot --state dir --json`: its stdout (caller frees). */
static char *snapshot_json(const struct world *w, const char *dir) {
  char out[400], errf[400];
  snprintf(out, sizeof out, "%s/snapshot.out", w->dir);
  snprintf(errf, sizeof errf, "%s/snapshot.err", w->dir);
  char *args[] = {"cscflow", "snapshot", "--state", (char *)dir, "--json", NULL};
  const int rc = run(w->cscflow, args, out, errf);
  if (rc != 0) {
    char *e = test_slurp(errf, NULL);
    fail_msg("snapshot of %s exited %d: %s", dir, rc, e ? e : "");
  }
  char *s = test_slurp(out, NULL);
  assert_non_null(s);
  assert_true(strlen(s) > 0);
  return s;
}

/* ---- reading a state store from outside ------------------------------------------------ */

/* The outbox's entry count and the sum of the stored next positions of
 * every source; -1 each when the store cannot be opened yet. */
static void store_counts(const char *dir, long *outbox, long *positions) {
  struct store *st;
  char err[512];
  *outbox = *positions = -1;
  if (store_open(dir, 1, &st, err, sizeof err) != CSC_OK)
    return;
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  MDB_stat ms;
  assert_int_equal(mdb_stat(txn, st->outbox, &ms), 0);
  *outbox = (long)ms.ms_entries;
  MDB_cursor *cur;
  assert_int_equal(mdb_cursor_open(txn, st->meta, &cur), 0);
  MDB_val k = {4, "pos"}, v;
  long sum = 0;
  for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
       rc == 0 && k.mv_size > 4 && memcmp(k.mv_data, "pos", 4) == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    int64_t next;
    assert_int_equal(v.mv_size, sizeof next);
    memcpy(&next, v.mv_data, sizeof next);
    sum += (long)next;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  store_close(st);
  *positions = sum;
}

/* ---- 1. bad configuration ----------------------------------------------------------------- */

static void test_bad_config(void **state) {
  struct world *w = *state;
  static const struct {
    const char *line, *expect1, *expect2;
  } cases[] = {
      {"cscflow.batch.max=abc", "cscflow.batch.max", "expected an integer"},
      {"cscflow.batch.max=0", "cscflow.batch.max", "must be between"},
      {"cscflow.clock=sometimes", "cscflow.clock", "expected live or replay"},
      {"cscflow.batch.max 100", "cscflow.batch.max", "expected key=value"},
      {"cscflow.batch.mx=100", "cscflow.batch.mx", "unknown key"},
      {"cscflow.state.map_size=4096", "cscflow.state.map_size", "must be between"},
      {"cscflow.calendar.inclusive=yes", "cscflow.calendar.inclusive", "expected true or false"},
      {"cscflow.api.max_connections_per_client=300", "cscflow.api.max_connections_per_client",
       "is more than cscflow.api.max_connections (256)"},
      {"cscflow.api.header_timeout_s=0", "cscflow.api.header_timeout_s", "must be between"},
      {"cscflow.on_offset_gap=ignore", "cscflow.on_offset_gap", "expected stop or skip"},
      {"cscflow.population.E99000001.2021=many", "cscflow.population.E99000001.2021",
       "expected cscflow.population.<LA>.<YEAR>=<children>"},
      {"cscflow.feeds.E99000001=dfe_csc_api,mosaic", "cscflow.feeds.E99000001",
       "mosaic is not a feed"},
  };
  char conf[400], errf[400], st[400];
  snprintf(conf, sizeof conf, "%s/bad.conf", w->dir);
  snprintf(errf, sizeof errf, "%s/bad.err", w->dir);
  size_t checked = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(st, sizeof st, "%s/bad-state-%zu", w->dir, i);
    char text[1024];
    snprintf(text, sizeof text,
             "# a bad line among good ones\ncscflow.state.dir=%s\nbootstrap.servers=127.0.0.1:9\n"
             "%s\ncscflow.batch.ms=5\n",
             st, cases[i].line);
    test_write_text(conf, text);
    char *run_args[] = {"cscflow", "run", "--config", conf, NULL};
    char *replay_args[] = {"cscflow", "replay",  "--config", conf, "--input",
                           w->events, "--state", st,         NULL};
    char *const *argvs[] = {run_args, replay_args};
    for (size_t j = 0; j < 2; j++) {
      const int rc = run(w->cscflow, argvs[j], NULL, errf);
      char *e = test_slurp(errf, NULL);
      assert_non_null(e);
      if (rc != EXIT_CONFIG || strstr(e, cases[i].expect1) == NULL ||
          strstr(e, cases[i].expect2) == NULL)
        fail_msg("%s with \"%s\": exit %d, stderr \"%s\" (expected 78 naming %s: %s)", argvs[j][1],
                 cases[i].line, rc, e, cases[i].expect1, cases[i].expect2);
      free(e);
      /* Refused before anything was created. */
      assert_false(path_exists(st));
      checked++;
    }
  }
  printf("bad configuration: %zu refusals checked (exit 78, key and reason named)\n", checked);
}

/* ---- 2. map growth ---------------------------------------------------------------------- */

static void test_map_growth(void **state) {
  struct world *w = *state;
  char small[400], dflt[400], conf[400], err_small[400], err_dflt[400];
  snprintf(small, sizeof small, "%s/map-small", w->dir);
  snprintf(dflt, sizeof dflt, "%s/map-default", w->dir);
  snprintf(conf, sizeof conf, "%s/map.conf", w->dir);
  snprintf(err_small, sizeof err_small, "%s/map-small.err", w->dir);
  snprintf(err_dflt, sizeof err_dflt, "%s/map-default.err", w->dir);
  test_write_text(conf, "cscflow.state.map_size=1048576\n");
  replay(w, small, conf, "1000", err_small);
  replay(w, dflt, NULL, "1000", err_dflt);

  char *log_small = test_slurp(err_small, NULL), *log_dflt = test_slurp(err_dflt, NULL);
  const size_t grown = test_count(log_small, "\"event\":\"state_map_grown\"");
  printf("map growth: %zu state_map_grown lines from a 1 MiB map, %zu from 1 GiB\n", grown,
         test_count(log_dflt, "\"event\":\"state_map_grown\""));
  assert_true(grown >= 3);
  assert_int_equal(test_count(log_dflt, "state_map_grown"), 0);
  free(log_small);
  free(log_dflt);

  /* The same snapshots, and the same output streams byte for byte (same
   * batches, so the same messages in the same order). */
  char *a = snapshot_json(w, small), *b = snapshot_json(w, dflt);
  assert_string_equal(a, b);
  printf("map growth: snapshots equal (%zu bytes of JSON)\n", strlen(a));
  free(a);
  free(b);
  static const char *const topics[] = {TOPIC_INDICATORS, TOPIC_ALERTS, TOPIC_QUALITY};
  for (size_t i = 0; i < 3; i++) {
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/out/%s.bin", small, topics[i]);
    snprintf(pb, sizeof pb, "%s/out/%s.bin", dflt, topics[i]);
    size_t la, lb;
    char *x = test_slurp(pa, &la), *y = test_slurp(pb, &lb);
    assert_non_null(x);
    assert_non_null(y);
    assert_true(la > 0);
    if (la != lb || memcmp(x, y, la) != 0)
      fail_msg("%s differs after map growth (%zu vs %zu bytes)", topics[i], la, lb);
    free(x);
    free(y);
  }
  long outbox, positions;
  store_counts(small, &outbox, &positions);
  /* Everything published; the file's stored position is its end. */
  assert_int_equal(outbox, 0);
  struct stat sb;
  assert_int_equal(stat(w->events, &sb), 0);
  assert_int_equal(positions, (long)sb.st_size);
}

/* ---- 3. refused state directories ------------------------------------------------------ */

/* One line per entry under dir (recursively, sorted): path, type, mode,
 * size and a FNV-1a hash of a regular file's bytes (but lock.mdb's). */
static void fingerprint_into(const char *dir, const char *rel, char **buf, size_t *len,
                             size_t *cap, int depth) {
  assert_true(depth < 8);
  struct dirent **names;
  const int n = scandir(dir, &names, NULL, alphasort);
  assert_true(n >= 0);
  for (int i = 0; i < n; i++) {
    const char *name = names[i]->d_name;
    if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
      char path[1024], r[512];
      snprintf(path, sizeof path, "%s/%s", dir, name);
      snprintf(r, sizeof r, "%s%s", rel, name);
      struct stat sb;
      assert_int_equal(lstat(path, &sb), 0);
      uint64_t h = 14695981039346656037ull;
      /* lock.mdb is LMDB's reader table, not data: every reader, even a
       * read-only one that is refused, takes a slot in it. */
      if (strcmp(name, STORE_WRITER_LOCK) == 0) {
        /* who writes the directory, not data: a refused writer takes the
         * lock (and so creates the file) before it reads the store */
        free(names[i]);
        continue;
      }
      if (S_ISREG(sb.st_mode) && strcmp(name, "lock.mdb") != 0) {
        size_t fl;
        char *content = test_slurp(path, &fl);
        assert_non_null(content);
        for (size_t j = 0; j < fl; j++)
          h = (h ^ (uint8_t)content[j]) * 1099511628211ull;
        free(content);
      }
      char line[800];
      const int ll = snprintf(line, sizeof line, "%s %o %lld %016llx\n", r, (unsigned)sb.st_mode,
                              (long long)sb.st_size, (unsigned long long)h);
      if (*len + (size_t)ll + 1 > *cap) {
        *cap = *cap * 2 + (size_t)ll + 1;
        *buf = realloc(*buf, *cap);
        assert_non_null(*buf);
      }
      memcpy(*buf + *len, line, (size_t)ll + 1);
      *len += (size_t)ll;
      if (S_ISDIR(sb.st_mode)) {
        char sub[520];
        snprintf(sub, sizeof sub, "%s/", r);
        fingerprint_into(path, sub, buf, len, cap, depth + 1);
      }
    }
    free(names[i]);
  }
  free(names);
}

/* The fingerprint of path: a directory's entries, or a regular file itself. */
static char *fingerprint(const char *path) {
  size_t len = 0, cap = 1024;
  char *buf = malloc(cap);
  assert_non_null(buf);
  buf[0] = '\0';
  struct stat sb;
  assert_int_equal(lstat(path, &sb), 0);
  if (S_ISDIR(sb.st_mode)) {
    fingerprint_into(path, "", &buf, &len, &cap, 0);
  } else {
    size_t fl;
    char *content = test_slurp(path, &fl);
    assert_non_null(content);
    uint64_t h = 14695981039346656037ull;
    for (size_t j = 0; j < fl; j++)
      h = (h ^ (uint8_t)content[j]) * 1099511628211ull;
    free(content);
    snprintf(buf, cap, "file %o %zu %016llx\n", (unsigned)sb.st_mode, fl, (unsigned long long)h);
  }
  return buf;
}

/* Sets meta "schema_version" of the store in dir, with LMDB directly. */
static void set_schema_version(const char *dir, uint32_t version) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi meta;
  assert_int_equal(mdb_env_create(&env), 0);
  assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
  assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  MDB_val k = {14, "schema_version"}, v = {sizeof version, &version};
  assert_int_equal(mdb_put(txn, meta, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

/* Each command on state must exit with status (not a crash), say `expect`
 * on stderr and leave state exactly as it was. */
static size_t expect_refused(const struct world *w, const char *state, const char *bootstraps,
                             const char *what, const char *expect, int status) {
  char conf[400], errf[400];
  snprintf(conf, sizeof conf, "%s/refuse.conf", w->dir);
  snprintf(errf, sizeof errf, "%s/refuse.err", w->dir);
  char text[1024];
  snprintf(text, sizeof text,
           "bootstrap.servers=%s\ncscflow.state.dir=%s\ncscflow.clock=replay\n"
           "consumer.group.id=lifecycle-refuse-%d\nconsumer.fetch.wait.max.ms=10\n",
           bootstraps, state, (int)getpid());
  test_write_text(conf, text);
  char *replay_args[] = {"cscflow", "replay", "--input", (char *)w->events, "--state",
                         (char *)state, NULL};
  char *run_args[] = {"cscflow", "run", "--config", conf, NULL};
  char *snap_args[] = {"cscflow", "snapshot", "--state", (char *)state, "--json", NULL};
  char *serve_args[] = {"cscflow", "serve", "--state", (char *)state, "--port", "0", NULL};
  char *const *argvs[] = {replay_args, run_args, snap_args, serve_args};
  char *before = fingerprint(state);
  for (size_t i = 0; i < 4; i++) {
    const int rc = run(w->cscflow, argvs[i], NULL, errf);
    char *e = test_slurp(errf, NULL);
    assert_non_null(e);
    /* Exactly status: not a crash, nor a sanitizer's exit code. */
    if (rc != status || strstr(e, expect) == NULL)
      fail_msg("%s on %s: exit %d, stderr \"%s\" (expected exit %d and \"%s\")", argvs[i][1],
               what, rc, e, status, expect);
    char *after = fingerprint(state);
    if (strcmp(before, after) != 0)
      fail_msg("%s on %s changed the state directory:\nbefore:\n%safter:\n%s", argvs[i][1], what,
               before, after);
    free(after);
    free(e);
  }
  printf("refused %s: replay, run, snapshot, serve exit %d with \"%s\"; %zu entries "
         "unchanged\n",
         what, status, expect, test_count(before, "\n"));
  free(before);
  return 4;
}

static void cluster_start(rd_kafka_t **owner, char *bootstraps, size_t len) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err), RD_KAFKA_CONF_OK);
  rd_kafka_mock_cluster_t *mock;
  *owner = test_mock_owner(conf, &mock);
  const char *bs = rd_kafka_mock_cluster_bootstraps(mock);
  assert_non_null(bs);
  assert_true(strlen(bs) < len);
  snprintf(bootstraps, len, "%s", bs);
  test_mock_topics(mock, 3);
}

/* A state directory its user cannot read (chmod 000). root reads it
 * anyway, so as root the commands run as nobody (uid 65534), from a
 * directory of /tmp that nobody may traverse; when that cannot be done
 * (no such user, a binary nobody cannot run), the case is skipped and
 * said so. The refusals counted. */
static size_t unreadable_state(const struct world *w, const char *good, const char *bootstraps) {
  int uid = -1;
  char base[300], locked[400], conf[400], errf[400];
  if (geteuid() == 0) {
    uid = 65534;
    snprintf(base, sizeof base, "/tmp/lifecycle-nobody-%d-XXXXXX", (int)getpid());
    assert_non_null(mkdtemp(base));
    assert_int_equal(chmod(base, 0711), 0);
  } else {
    snprintf(base, sizeof base, "%s", w->dir);
  }
  snprintf(locked, sizeof locked, "%s/refuse-locked", base);
  snprintf(conf, sizeof conf, "%s/locked.conf", base);
  snprintf(errf, sizeof errf, "%s/locked.err", w->dir);
  sh("cp -a '%s' '%s'", good, locked);
  char text[1024];
  snprintf(text, sizeof text,
           "bootstrap.servers=%s\ncscflow.state.dir=%s\nconsumer.group.id=lifecycle-locked-%d\n",
           bootstraps, locked, (int)getpid());
  test_write_text(conf, text);
  assert_int_equal(chmod(conf, 0644), 0);
  char *help[] = {"cscflow", "--help", NULL};
  const int usable = run_as(w->cscflow, help, NULL, errf, uid) == 0;
  char *before = fingerprint(locked);
  assert_int_equal(chmod(locked, 0), 0);
  size_t refusals = 0;
  if (!usable) {
    printf("refused state: running as root and cannot run cscflow as nobody: the unreadable "
           "directory case is skipped (the not-LMDB and regular-file cases stand for it)\n");
  } else {
    char *replay_args[] = {"cscflow", "replay", "--input", (char *)w->events, "--state", locked,
                           NULL};
    char *run_args[] = {"cscflow", "run", "--config", conf, NULL};
    char *snap_args[] = {"cscflow", "snapshot", "--state", locked, NULL};
    char *const *argvs[] = {replay_args, run_args, snap_args};
    for (size_t i = 0; i < 3; i++) {
      const int rc = run_as(w->cscflow, argvs[i], NULL, errf, uid);
      char *e = test_slurp(errf, NULL);
      if (rc != 1 || e == NULL || strstr(e, "Permission denied") == NULL)
        fail_msg("%s on an unreadable directory: exit %d, stderr \"%s\"", argvs[i][1], rc,
                 e ? e : "");
      free(e);
      refusals++;
    }
  }
  assert_int_equal(chmod(locked, 0750), 0);
  char *after = fingerprint(locked);
  assert_string_equal(before, after);
  if (usable)
    printf("refused an unreadable directory%s: replay, run, snapshot exit 1 with \"Permission "
           "denied\"; %zu entries unchanged\n",
           uid >= 0 ? " (run as nobody)" : "", test_count(before, "\n"));
  free(before);
  free(after);
  if (uid >= 0)
    sh("rm -rf '%s'", base);
  return refusals;
}

static void test_refused_state(void **state) {
  struct world *w = *state;
  rd_kafka_t *owner;
  char bootstraps[256];
  cluster_start(&owner, bootstraps, sizeof bootstraps);
  size_t refusals = 0;

  /* A good store to start from. */
  char good[400], errf[400], path[700];
  snprintf(good, sizeof good, "%s/refuse-good", w->dir);
  snprintf(errf, sizeof errf, "%s/refuse-good.err", w->dir);
  replay(w, good, NULL, "5000", errf);

  /* A newer schema, with out/ (as replay leaves it) and without (as run does). */
  char newer[400];
  snprintf(newer, sizeof newer, "%s/refuse-newer", w->dir);
  sh("cp -a '%s' '%s'", good, newer);
  set_schema_version(newer, STATE_SCHEMA_VERSION + 1);
  char expect[128];
  snprintf(expect, sizeof expect, "schema version %u", STATE_SCHEMA_VERSION + 1);
  refusals += expect_refused(w, newer, bootstraps, "a newer schema", expect, EXIT_STATE_DAMAGED);
  sh("rm -rf '%s/out'", newer);
  refusals += expect_refused(w, newer, bootstraps, "a newer schema without out/", expect,
                             EXIT_STATE_DAMAGED);
  /* An older one: refused as well, with how to rebuild it. */
  char older[400];
  snprintf(older, sizeof older, "%s/refuse-older", w->dir);
  sh("cp -a '%s' '%s'", good, older);
  set_schema_version(older, STATE_SCHEMA_VERSION - 1);
  snprintf(expect, sizeof expect, "schema version %u", STATE_SCHEMA_VERSION - 1);
  refusals += expect_refused(w, older, bootstraps, "an older schema", expect, EXIT_STATE_DAMAGED);
  refusals += expect_refused(w, older, bootstraps, "an older schema (how to rebuild)",
                             "replay the input topic into an empty state directory, or the "
                             "files it came from",
                             EXIT_STATE_DAMAGED);

  /* data.mdb cut to half its size, and to nothing: without the size check
   * the first page past the end is a SIGBUS, and an empty file a new store. */
  char cut[400];
  snprintf(cut, sizeof cut, "%s/refuse-truncated", w->dir);
  sh("cp -a '%s' '%s'", good, cut);
  snprintf(path, sizeof path, "%s/data.mdb", cut);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(truncate(path, sb.st_size / 2), 0);
  refusals += expect_refused(w, cut, bootstraps, "a truncated data.mdb", "the file is truncated",
                             EXIT_STATE_DAMAGED);
  assert_int_equal(truncate(path, 0), 0);
  refusals += expect_refused(w, cut, bootstraps, "an empty data.mdb", "data.mdb is empty",
                             EXIT_STATE_DAMAGED);

  /* data.mdb that is not an LMDB file (same size, text). */
  char garbage[400];
  snprintf(garbage, sizeof garbage, "%s/refuse-garbage", w->dir);
  sh("cp -a '%s' '%s'", good, garbage);
  snprintf(path, sizeof path, "%s/data.mdb", garbage);
  FILE *f = fopen(path, "r+b");
  assert_non_null(f);
  for (int i = 0; i < 4096; i++)
    fputs("this is not an LMDB file. ", f);
  assert_int_equal(fclose(f), 0);
  refusals += expect_refused(w, garbage, bootstraps, "a data.mdb that is not LMDB",
                             "not an LMDB file", EXIT_STATE_DAMAGED);

  /* The state path is a regular file. */
  char file[400];
  snprintf(file, sizeof file, "%s/refuse-file", w->dir);
  test_write_text(file, "not a directory\n");
  refusals += expect_refused(w, file, bootstraps, "a regular file", "Not a directory", 1);

  refusals += unreadable_state(w, good, bootstraps);
  printf("refused state: %zu refusals checked\n", refusals);
  rd_kafka_destroy(owner);
}

/* ---- 4. signals ------------------------------------------------------------------------ */

struct produced {
  size_t ok, failed;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct produced *p = opaque;
  if (m->err)
    p->failed++;
  else
    p->ok++;
}

/* The whole history to csc.events.v1, keyed by LA code, through the
 * producer that owns the mock cluster. */
static void produce_history(const struct world *w, rd_kafka_t *owner, struct produced *p) {
  const double deadline = test_now_s() + 60.0;
  for (size_t i = 0; i < w->n; i++) {
    rd_kafka_resp_err_t err;
    for (int tries = 0; tries < 10000; tries++) {
      err = rd_kafka_producev(
          owner, RD_KAFKA_V_TOPIC(TOPIC_EVENTS), RD_KAFKA_V_KEY(w->la[i], strlen(w->la[i])),
          RD_KAFKA_V_VALUE(w->bytes + w->off[i], w->off[i + 1] - w->off[i]),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || test_now_s() > deadline)
        break;
      rd_kafka_poll(owner, 10);
    }
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  assert_int_equal(rd_kafka_flush(owner, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_poll(owner, 0);
  assert_int_equal(p->failed, 0);
  assert_int_equal(p->ok, w->n);
}

struct daemon {
  pid_t pid;
  char state[400], conf[400], errf[400];
};

/* Each run has a consumer group of its own: the mock holds a group ~44 s
 * after its member leaves. */
static void daemon_start(struct world *w, struct daemon *d, const char *bootstraps,
                         const char *state, const char *tag) {
  snprintf(d->state, sizeof d->state, "%s", state);
  snprintf(d->conf, sizeof d->conf, "%s/%s.conf", w->dir, tag);
  snprintf(d->errf, sizeof d->errf, "%s/%s.err", w->dir, tag);
  char text[2048];
  snprintf(text, sizeof text,
           "bootstrap.servers=%s\n"
           "cscflow.state.dir=%s\n"
           "cscflow.clock=replay\n"
           "cscflow.batch.max=100\n"
           "cscflow.population.file=%s\n"
           "consumer.group.id=lifecycle-%d-%d-%s\n"
           "consumer.fetch.wait.max.ms=10\n"
           "consumer.auto.offset.reset=earliest\n"
           "producer.linger.ms=5\n",
           bootstraps, state, w->population, (int)getpid(), ++w->runs, tag);
  test_write_text(d->conf, text);
  char *args[] = {"cscflow", "run", "--config", d->conf, NULL};
  d->pid = test_spawn(w->cscflow, args, NULL, d->errf);
}

/* Waits (bounded) until the stored positions sum to at least `at_least`:
 * the sum reached. */
static long wait_positions(const struct daemon *d, long at_least, double bound_s) {
  const double t0 = test_now_s();
  long outbox, positions = -1;
  for (int i = 0; i < 100000 && test_now_s() - t0 < bound_s; i++) {
    store_counts(d->state, &outbox, &positions);
    if (positions >= at_least)
      return positions;
    int status;
    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
      char *e = test_slurp(d->errf, NULL);
      fail_msg("cscflow run exited early (status %d): %s", status, e ? e : "");
    }
    test_sleep_ms(5);
  }
  return positions;
}

/* What a run's run_stopping log line counts. */
struct counts {
  long consumed, applied, duplicates;
};

static long field(const char *line, const char *name) {
  const char *p = strstr(line, name);
  if (p == NULL)
    fail_msg("no %s in %s", name, line);
  return atol(p + strlen(name));
}

/* Sends sig and requires exit 0 within STOP_BOUND_S: the time it took, and
 * the counts of its run_stopping line. */
static double daemon_stop(const struct daemon *d, int sig, struct counts *c) {
  assert_int_equal(kill(d->pid, sig), 0);
  double took;
  const int status = test_wait_pid(d->pid, STOP_BOUND_S, &took);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char *e = test_slurp(d->errf, NULL);
    fail_msg("cscflow run after signal %d: status %d after %.1f s (bound %.0f s): %s", sig, status,
             took, STOP_BOUND_S, e ? e : "");
  }
  char *e = test_slurp(d->errf, NULL);
  assert_non_null(e);
  const char *line = strstr(e, "\"event\":\"run_stopping\"");
  assert_non_null(line);
  c->consumed = field(line, "\"consumed\":");
  c->applied = field(line, "\"applied\":");
  c->duplicates = field(line, "\"duplicates\":");
  free(e);
  return took;
}

/* A run from wherever state stands to the end of the input, then SIGTERM. */
static void run_to_end(struct world *w, const char *bootstraps, const char *state,
                       const char *tag, struct counts *c) {
  struct daemon d;
  daemon_start(w, &d, bootstraps, state, tag);
  const long reached = wait_positions(&d, (long)w->n, CONSUME_BOUND_S);
  if (reached != (long)w->n) {
    kill(d.pid, SIGKILL);
    test_wait_pid(d.pid, 5, NULL);
    fail_msg("%s: consumed %ld of %zu messages in %d s", tag, reached, w->n, CONSUME_BOUND_S);
  }
  daemon_stop(&d, SIGTERM, c);
  long outbox, positions;
  store_counts(state, &outbox, &positions);
  assert_int_equal(outbox, 0);
  assert_int_equal(positions, (long)w->n);
}

static void test_signals(void **state) {
  struct world *w = *state;
  rd_kafka_t *owner;
  char bootstraps[256];
  struct produced p = {0, 0};
  {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err),
                     RD_KAFKA_CONF_OK);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &p);
    rd_kafka_mock_cluster_t *mock;
    owner = test_mock_owner(conf, &mock);
    snprintf(bootstraps, sizeof bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock));
    test_mock_topics(mock, 3);
  }
  produce_history(w, owner, &p);

  /* The uninterrupted run. */
  char whole[400];
  snprintf(whole, sizeof whole, "%s/run-whole", w->dir);
  struct counts all;
  run_to_end(w, bootstraps, whole, "whole", &all);
  assert_int_equal(all.consumed, (long)w->n);
  assert_int_equal(all.applied + all.duplicates, (long)w->n);
  char *want = snapshot_json(w, whole);

  static const int sigs[] = {SIGTERM, SIGINT};
  for (size_t i = 0; i < 2; i++) {
    char dir[400], tag[32];
    snprintf(dir, sizeof dir, "%s/run-%s", w->dir, sigs[i] == SIGTERM ? "term" : "int");
    snprintf(tag, sizeof tag, "%s-1", sigs[i] == SIGTERM ? "term" : "int");
    struct daemon d;
    daemon_start(w, &d, bootstraps, dir, tag);
    /* SIGTERM as soon as the first batch has committed, SIGINT once a
     * third of the input has: both mid-stream. */
    const long at_signal = wait_positions(&d, i == 0 ? 1 : (long)w->n / 3, CONSUME_BOUND_S);
    assert_true(at_signal >= (i == 0 ? 1 : (long)w->n / 3));
    struct counts first, second;
    const double took = daemon_stop(&d, sigs[i], &first);
    long outbox, stopped_at;
    store_counts(dir, &outbox, &stopped_at);
    printf("%s: signalled at %ld of %zu messages consumed, exited 0 after %.2f s, stored "
           "positions %ld, outbox %ld\n",
           sigs[i] == SIGTERM ? "SIGTERM" : "SIGINT", at_signal, w->n, took, stopped_at, outbox);
    assert_int_equal(outbox, 0);
    assert_true(stopped_at >= at_signal);
    /* The last batch was finished and committed: every message consumed
     * is covered by the stored positions. */
    assert_int_equal(first.consumed, stopped_at);
    if (stopped_at >= (long)w->n)
      fail_msg("the run had consumed everything before the signal took effect: not mid-stream");

    /* The restart resumes from the stored positions and ends where the
     * uninterrupted run ended. */
    snprintf(tag, sizeof tag, "%s-2", sigs[i] == SIGTERM ? "term" : "int");
    run_to_end(w, bootstraps, dir, tag, &second);
    /* It read exactly the rest, and between them the two runs applied and
     * skipped as duplicates exactly what the uninterrupted run did. */
    assert_int_equal(second.consumed, (long)w->n - stopped_at);
    assert_int_equal(first.applied + second.applied, all.applied);
    assert_int_equal(first.duplicates + second.duplicates, all.duplicates);
    char *got = snapshot_json(w, dir);
    if (strcmp(got, want) != 0)
      fail_msg("after %s and a restart, the snapshots differ from the uninterrupted run's",
               sigs[i] == SIGTERM ? "SIGTERM" : "SIGINT");
    printf("%s: restart resumed from %ld, consumed %ld more; applied %ld + %ld = %ld and "
           "duplicates %ld + %ld = %ld as uninterrupted; the same snapshots (%zu bytes of JSON)\n",
           sigs[i] == SIGTERM ? "SIGTERM" : "SIGINT", stopped_at, second.consumed, first.applied,
           second.applied, all.applied, first.duplicates, second.duplicates, all.duplicates,
           strlen(got));
    free(got);
  }
  free(want);
  rd_kafka_destroy(owner);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_lifecycle PATH-TO-CSCFLOW\n");
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_map_growth),
      cmocka_unit_test(test_refused_state),
      cmocka_unit_test(test_signals),
  };
  /* The group setup reads it (cmocka passes it no argument). */
  if (setenv("CSCFLOW_TEST_BIN", argv[1], 1) != 0)
    return 2;
  return cmocka_run_group_tests(tests, setup, teardown);
}
