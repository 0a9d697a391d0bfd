/*
 * test_state_faults.c — the state directory's faults, through the cscflow
 * binary (argv[1]) as an operator meets them (README, *Exit statuses*;
 * docs/operations.md):
 *
 *   1. one writer: while `cscflow run` (against librdkafka's mock cluster,
 *      hosted here) holds a state directory, a second `run` and a `replay`
 *      exit 75 naming the holder's pid and command, and `snapshot` still
 *      reads it; a writer killed with SIGKILL leaves writer.lock behind,
 *      and the next writer is not blocked by it;
 *   2. a full disk: `replay` on a filesystem that fills up midway exits 74
 *      with a message (no signal), keeps the batches it committed, and once
 *      space is freed the same replay resumes and ends with the snapshots
 *      of an uninterrupted replay. The filesystem is a tmpfs of a few MiB in
 *      a mount namespace of this process (root and unshare(2) needed); where
 *      that cannot be had, the data file cannot grow past RLIMIT_FSIZE
 *      (SIGXFSZ ignored, so writes fail with EFBIG), which the test says
 *      (CSCFLOW_TEST_NO_TMPFS=1 takes that way even as root). The same for
 *      `cscflow run` against the mock cluster, which exits 74 and resumes
 *      from its stored position (on a tmpfs only; skipped, and said so,
 *      without one);
 *   3. a data.mdb truncated under a running `serve`: the next request that
 *      touches a page past the new end faults (SIGBUS), and the server exits
 *      65 with a state_fault log line, not by the signal. (Truncation before
 *      a program starts is test_lifecycle's test_refused_state.)
 *
 * Every wait is bounded; a child still running at its bound is killed and
 * the test fails.
 */
#define _GNU_SOURCE
#include "tests/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "gen/gen.h"

#include <librdkafka/rdkafka_mock.h>

struct world {
  const char *cscflow;
  char dir[256], events[320], population[320];
  FILE *out; /* the history being written by setup */
};

/* ---- utilities ------------------------------------------------------------------ */

/* How a child is started: output files and, for the full disk without a
 * tmpfs, a file size limit. */
struct child_opts {
  const char *out, *errf;
  rlim_t fsize; /* 0: none */
};

/* In the child: writes past fsize (*arg) fail with EFBIG. SIGXFSZ ignored
 * stays ignored across exec, instead of killing the process. */
static int limit_file_size(const void *arg) {
  const rlim_t fsize = *(const rlim_t *)arg;
  signal(SIGXFSZ, SIG_IGN);
  const struct rlimit rl = {fsize, fsize};
  return setrlimit(RLIMIT_FSIZE, &rl) != 0;
}

static pid_t spawn(const char *bin, char *const args[], const struct child_opts *o) {
  return test_spawn_with(bin, args, o->out, o->errf, o->fsize > 0 ? limit_file_size : NULL,
                         &o->fsize);
}

/* Runs bin (at most 120 s): its exit status, or -1 when it was killed by a
 * signal (the message says which) or by the bound. */
static int run(const char *bin, char *const args[], const struct child_opts *o) {
  const int status = test_wait_pid(spawn(bin, args, o), 120.0, NULL);
  if (status >= 0 && WIFSIGNALED(status))
    printf("%s %s: killed by signal %d\n", args[0], args[1], WTERMSIG(status));
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- the history ----------------------------------------------------------------- */

static int keep_event(void *ctx, const Cscflow__V1__CaseEvent *ev) {
  struct world *w = ctx;
  uint8_t buf[1 << 16], v[10];
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  if (n > sizeof buf)
    return CSC_EFULL;
  cscflow__v1__case_event__pack(ev, buf);
  const size_t vl = varint_encode(n, v);
  return fwrite(v, 1, vl, w->out) == vl && fwrite(buf, 1, n, w->out) == n ? 0 : CSC_EIO;
}

/* Two LAs, two years at a tenth of the usual size: ~30k events. */
static int setup(void **state) {
  struct world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  w->cscflow = getenv("CSCFLOW_TEST_BIN");
  assert_non_null(w->cscflow);
  test_tmpdir(w->dir, sizeof w->dir, "state-faults");
  snprintf(w->events, sizeof w->events, "%s/events.bin", w->dir);
  snprintf(w->population, sizeof w->population, "%s/population.csv", w->dir);
  struct gen_options o;
  gen_options_default(&o);
  o.seed = 14;
  o.n_las = 2;
  o.years = 2;
  o.scale = 0.1;
  w->out = fopen(w->events, "wb");
  assert_non_null(w->out);
  assert_int_equal(gen_run(&o, keep_event, w), 0);
  assert_int_equal(fclose(w->out), 0);
  FILE *f = fopen(w->population, "w");
  assert_non_null(f);
  assert_int_equal(gen_write_population(&o, f), 0);
  assert_int_equal(fclose(f), 0);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  struct world *w = *state;
  if (getenv("CSCFLOW_TEST_KEEP") == NULL) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
    if (system(cmd) != 0)
      printf("could not remove %s\n", w->dir);
  }
  free(w);
  return 0;
}

/* `cscflow replay` of the history into state, batches of 2,000, outputs
 * to out_dir: its exit status. */
static int replay(const struct world *w, const char *state, const char *out_dir,
                  const struct child_opts *o) {
  char *args[] = {"cscflow", "replay", "--input", (char *)w->events, "--state", (char *)state,
                  "--population", (char *)w->population, "--batch", "2000", "--out-dir",
                  (char *)out_dir, NULL};
  mkdir(out_dir, 0750);
  return run(w->cscflow, args, o);
}

static void replay_ok(const struct world *w, const char *state, const char *tag) {
  char errf[400], out_dir[400];
  snprintf(errf, sizeof errf, "%s/%s.err", w->dir, tag);
  snprintf(out_dir, sizeof out_dir, "%s/%s.out", w->dir, tag);
  const struct child_opts o = {NULL, errf, 0};
  const int rc = replay(w, state, out_dir, &o);
  if (rc != 0) {
    char *e = test_slurp(errf, NULL);
    fail_msg("replay into %s exited %d: %s", state, rc, e ? e : "");
  }
}

/* `cscflow snapshot --state dir --json`: its stdout (caller frees), and its
 * exit status in *rc. */
static char *snapshot(const struct world *w, const char *dir, int *rc) {
  char out[400], errf[400];
  snprintf(out, sizeof out, "%s/snapshot.out", w->dir);
  snprintf(errf, sizeof errf, "%s/snapshot.err", w->dir);
  char *args[] = {"cscflow", "snapshot", "--state", (char *)dir, "--json", NULL};
  const struct child_opts o = {out, errf, 0};
  *rc = run(w->cscflow, args, &o);
  char *s = test_slurp(out, NULL);
  assert_non_null(s);
  return s;
}

/* ---- 1. one writer --------------------------------------------------------------------- */

static void cluster_start(rd_kafka_t **owner, char *bootstraps, size_t len) {
  rd_kafka_mock_cluster_t *mock;
  *owner = test_mock_owner(NULL, &mock);
  const char *bs = rd_kafka_mock_cluster_bootstraps(mock);
  assert_true(bs != NULL && strlen(bs) < len);
  snprintf(bootstraps, len, "%s", bs);
  test_mock_topics(mock, 1);
}

/* A `cscflow run` config on state (a consumer group of its own per tag). */
static void run_config(const struct world *w, const char *path, const char *bootstraps,
                       const char *state, const char *tag) {
  char text[1024];
  snprintf(text, sizeof text,
           "bootstrap.servers=%s\ncscflow.state.dir=%s\ncscflow.clock=replay\n"
           "consumer.group.id=state-faults-%d-%s\nconsumer.fetch.wait.max.ms=10\n",
           bootstraps, state, (int)getpid(), tag);
  (void)w;
  test_write_text(path, text);
}

/* Waits (bounded) until writer.lock in state names pid. */
static void wait_lock_holder(const char *state, pid_t pid) {
  char path[400], want[32];
  snprintf(path, sizeof path, "%s/%s", state, STORE_WRITER_LOCK);
  snprintf(want, sizeof want, "%d ", (int)pid);
  const double t0 = test_now_s();
  while (test_now_s() - t0 < 30.0) {
    char *s = test_slurp(path, NULL);
    const int held = s != NULL && strncmp(s, want, strlen(want)) == 0;
    free(s);
    if (held)
      return;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid)
      fail_msg("cscflow run %d exited (status %d) before it held the lock", (int)pid, status);
    test_sleep_ms(20);
  }
  fail_msg("cscflow run %d did not write %s within 30 s", (int)pid, path);
}

/* A second writer on state exits 75 naming the holder. */
static void expect_locked(const struct world *w, char *const args[], pid_t holder) {
  char errf[400], want[64];
  snprintf(errf, sizeof errf, "%s/second.err", w->dir);
  const struct child_opts o = {NULL, errf, 0};
  const int rc = run(w->cscflow, args, &o);
  char *e = test_slurp(errf, NULL);
  snprintf(want, sizeof want, "pid %d (", (int)holder);
  if (rc != EXIT_STATE_LOCKED || e == NULL || strstr(e, want) == NULL ||
      strstr(e, "cscflow run --config") == NULL)
    fail_msg("a second %s: exit %d, stderr \"%s\" (expected exit %d and \"%s...cscflow run "
             "--config\")",
             args[1], rc, e ? e : "", EXIT_STATE_LOCKED, want);
  printf("second writer (%s) refused: exit %d, \"%s\"", args[1], rc, e);
  free(e);
}

static void test_one_writer(void **state) {
  struct world *w = *state;
  rd_kafka_t *owner;
  char bootstraps[256], st[400], conf[400], conf2[400], errf[400];
  cluster_start(&owner, bootstraps, sizeof bootstraps);
  snprintf(st, sizeof st, "%s/one-writer", w->dir);
  replay_ok(w, st, "one-writer"); /* snapshots for the reader to read */
  int rc;
  char *expected = snapshot(w, st, &rc);
  assert_int_equal(rc, 0);
  assert_true(strlen(expected) > 0);

  /* The holder: a daemon on an empty topic, consuming until told to stop. */
  snprintf(conf, sizeof conf, "%s/run1.conf", w->dir);
  snprintf(errf, sizeof errf, "%s/run1.err", w->dir);
  run_config(w, conf, bootstraps, st, "run1");
  char *run1[] = {"cscflow", "run", "--config", conf, NULL};
  const struct child_opts o1 = {NULL, errf, 0};
  const pid_t holder = spawn(w->cscflow, run1, &o1);
  wait_lock_holder(st, holder);

  snprintf(conf2, sizeof conf2, "%s/run2.conf", w->dir);
  run_config(w, conf2, bootstraps, st, "run2");
  char *run2[] = {"cscflow", "run", "--config", conf2, NULL};
  expect_locked(w, run2, holder);
  char out_dir[400];
  snprintf(out_dir, sizeof out_dir, "%s/second.out", w->dir);
  char *rep[] = {"cscflow", "replay", "--input", w->events, "--state", st, "--out-dir", out_dir,
                 NULL};
  expect_locked(w, rep, holder);

  /* A reader opens beside the writer, and reads what it committed. */
  char *got = snapshot(w, st, &rc);
  assert_int_equal(rc, 0);
  assert_string_equal(got, expected);
  printf("snapshot beside the writer: exit 0, %zu bytes as before\n", strlen(got));
  free(got);

  assert_int_equal(kill(holder, SIGTERM), 0);
  const int status = test_wait_pid(holder, 20.0, NULL);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char *e = test_slurp(errf, NULL);
    fail_msg("the holder did not stop cleanly (status %d): %s", status, e ? e : "");
  }

  /* A writer killed outright leaves writer.lock with its pid; it blocks no one. */
  const pid_t crashed = spawn(w->cscflow, run1, &o1);
  wait_lock_holder(st, crashed);
  assert_int_equal(kill(crashed, SIGKILL), 0);
  assert_int_equal(test_wait_pid(crashed, 20.0, NULL) >= 0, 1);
  char path[420];
  snprintf(path, sizeof path, "%s/%s", st, STORE_WRITER_LOCK);
  char *left = test_slurp(path, NULL);
  assert_non_null(left);
  assert_true(atoi(left) == (int)crashed);
  replay_ok(w, st, "after-crash"); /* resumes: nothing new to apply */
  got = snapshot(w, st, &rc);
  assert_int_equal(rc, 0);
  assert_string_equal(got, expected);
  printf("after a SIGKILLed writer (lock file left: %.*s): replay exit 0\n",
         (int)strcspn(left, " "), left);
  free(left);
  free(got);
  free(expected);
  rd_kafka_destroy(owner);
}

/* ---- 2. a full disk ------------------------------------------------------------------ */

static off_t file_size(const char *path) {
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return sb.st_size;
}

/* A tmpfs of size bytes at dir, in a mount namespace of this process (and
 * so of its children); 0, or -1 when this process may not. */
static int private_tmpfs(const char *dir, off_t size) {
  if (unshare(CLONE_NEWNS) != 0)
    return -1;
  if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return -1;
  char opts[64];
  snprintf(opts, sizeof opts, "size=%lld", (long long)size);
  return mount("tmpfs", dir, "tmpfs", 0, opts) == 0 ? 0 : -1;
}

/* Fills dir's filesystem but for about `leave` bytes. */
static void fill(const char *path, off_t leave) {
  static char block[1 << 16];
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  setvbuf(f, NULL, _IONBF, 0);
  while (fwrite(block, 1, sizeof block, f) == sizeof block)
    ; /* until the disk is full */
  fclose(f);
  const off_t full = file_size(path);
  assert_int_equal(truncate(path, full > leave ? full - leave : 0), 0);
}

static void test_full_disk(void **state) {
  struct world *w = *state;
  char ref[400], mnt[300], st[400], filler[400], errf[400], out_dir[400];
  snprintf(ref, sizeof ref, "%s/full-reference", w->dir);
  replay_ok(w, ref, "full-reference");
  int rc;
  char *expected = snapshot(w, ref, &rc);
  assert_int_equal(rc, 0);
  snprintf(ref, sizeof ref, "%s/full-reference/data.mdb", w->dir);
  const off_t need = file_size(ref); /* the pages a whole replay writes */

  snprintf(mnt, sizeof mnt, "%s/full-mnt", w->dir);
  assert_int_equal(mkdir(mnt, 0750), 0);
  snprintf(st, sizeof st, "%s/state", mnt);
  snprintf(filler, sizeof filler, "%s/filler", mnt);
  snprintf(errf, sizeof errf, "%s/full.err", w->dir);
  snprintf(out_dir, sizeof out_dir, "%s/full.out", w->dir);
  /* CSCFLOW_TEST_NO_TMPFS=1 takes the fallback even as root. */
  const int tmpfs = getenv("CSCFLOW_TEST_NO_TMPFS") == NULL &&
                    private_tmpfs(mnt, need * 2 + (4 << 20)) == 0;
  struct child_opts o = {NULL, errf, 0};
  if (tmpfs) {
    fill(filler, need / 2);
    printf("full disk: a %lld-byte tmpfs, all but %lld bytes taken\n",
           (long long)(need * 2 + (4 << 20)), (long long)need / 2);
  } else {
    o.fsize = (rlim_t)need / 2;
    printf("full disk: no tmpfs (not root, or no mount namespace): RLIMIT_FSIZE of %lld bytes "
           "instead\n",
           (long long)o.fsize);
  }
  rc = replay(w, st, out_dir, &o);
  char *e = test_slurp(errf, NULL);
  if (rc != EXIT_STATE_NOSPACE || e == NULL || strstr(e, "could not be written") == NULL ||
      strstr(e, "\"event\":\"state_fault\"") != NULL)
    fail_msg("replay on a full disk: exit %d (expected %d), stderr tail \"%s\"", rc,
             EXIT_STATE_NOSPACE, e ? e + (strlen(e) > 600 ? strlen(e) - 600 : 0) : "");
  const char *msg = strstr(e, "cscflow replay: state");
  printf("full disk: replay exit %d, %.*s\n", rc, msg ? (int)strcspn(msg, "\n") : 0,
         msg ? msg : "");
  free(e);

  /* What was committed stays: the store opens and holds snapshots. */
  char *partial = snapshot(w, st, &rc);
  assert_int_equal(rc, 0);
  assert_true(strlen(partial) > 0);
  assert_true(strcmp(partial, expected) != 0); /* it did stop midway */
  free(partial);

  /* Space freed, the same replay resumes to the uninterrupted end state. */
  if (tmpfs)
    assert_int_equal(unlink(filler), 0);
  o.fsize = 0;
  rc = replay(w, st, out_dir, &o);
  if (rc != 0) {
    e = test_slurp(errf, NULL);
    fail_msg("replay after freeing space: exit %d: %s", rc, e ? e : "");
  }
  char *got = snapshot(w, st, &rc);
  assert_int_equal(rc, 0);
  assert_string_equal(got, expected);
  printf("full disk: after freeing space the replay resumed; snapshots equal an uninterrupted "
         "replay's (%zu bytes)\n",
         strlen(got));
  free(got);
  free(expected);
  if (tmpfs)
    assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

/* The history's events to csc.events.v1 of the mock owned by owner, keyed
 * by LA code: how many. */
static size_t produce_history(const struct world *w, rd_kafka_t *owner) {
  FILE *f = fopen(w->events, "rb");
  assert_non_null(f);
  static uint8_t buf[1 << 16];
  size_t n = 0;
  for (;;) {
    uint64_t len = 0;
    int c, shift = 0;
    while ((c = fgetc(f)) != EOF && (c & 0x80) && shift < 63) {
      len |= (uint64_t)(c & 0x7f) << shift;
      shift += 7;
    }
    if (c == EOF)
      break;
    len |= (uint64_t)c << shift;
    assert_true(len <= sizeof buf);
    assert_int_equal(fread(buf, 1, len, f), len);
    Cscflow__V1__CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, len, buf);
    assert_non_null(ev);
    rd_kafka_resp_err_t err;
    for (int tries = 0; tries < 10000; tries++) {
      err = rd_kafka_producev(owner, RD_KAFKA_V_TOPIC(TOPIC_EVENTS),
                              RD_KAFKA_V_KEY(ev->la_code, strlen(ev->la_code)),
                              RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_END);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        break;
      rd_kafka_poll(owner, 10);
    }
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    cscflow__v1__case_event__free_unpacked(ev, NULL);
    n++;
  }
  fclose(f);
  assert_int_equal(rd_kafka_flush(owner, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  return n;
}

/* The sum of the stored next positions of the Kafka source in dir; -1 when
 * the store cannot be opened (yet). */
static long stored_positions(const char *dir) {
  struct store *st;
  char err[1024];
  if (store_open(dir, 1, &st, err, sizeof err) != CSC_OK)
    return -1;
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  int64_t next = 0;
  const long got = store_get_position(st, txn, TOPIC_EVENTS, 0, &next) == CSC_OK ? (long)next : 0;
  mdb_txn_abort(txn);
  store_close(st);
  return got;
}

/* `cscflow run` on state until it exits (its status) or, when until > 0,
 * has stored position `until` (then stopped with SIGTERM: its status). */
static int run_daemon(const struct world *w, const char *bootstraps, const char *state,
                      const char *tag, long until) {
  char conf[400], errf[400];
  snprintf(conf, sizeof conf, "%s/%s.conf", w->dir, tag);
  snprintf(errf, sizeof errf, "%s/%s.err", w->dir, tag);
  run_config(w, conf, bootstraps, state, tag);
  char *args[] = {"cscflow", "run", "--config", conf, NULL};
  const struct child_opts o = {NULL, errf, 0};
  const pid_t pid = spawn(w->cscflow, args, &o);
  const double t0 = test_now_s();
  int status = -1;
  while (test_now_s() - t0 < 120.0) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (until > 0 && stored_positions(state) >= until)
      break;
    test_sleep_ms(50);
  }
  kill(pid, test_now_s() - t0 < 120.0 ? SIGTERM : SIGKILL);
  status = test_wait_pid(pid, 20.0, NULL);
  return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* `cscflow run` on a full disk: exit 74 with the message; after space is
 * freed a run resumes from the stored position to the end state of a run
 * that never failed. */
static void test_full_disk_run(void **state) {
  struct world *w = *state;
  char ref[400], mnt[300], st[400], filler[400], errf[400];
  snprintf(ref, sizeof ref, "%s/run-reference", w->dir);
  snprintf(mnt, sizeof mnt, "%s/run-mnt", w->dir);
  snprintf(st, sizeof st, "%s/state", mnt);
  snprintf(filler, sizeof filler, "%s/filler", mnt);
  assert_int_equal(mkdir(mnt, 0750), 0);
  /* The mount first: unshare(2) refuses a process with threads (Kafka's). */
  const off_t size = 40 << 20;
  if (getenv("CSCFLOW_TEST_NO_TMPFS") != NULL || private_tmpfs(mnt, size) != 0) {
    printf("full disk, run: no tmpfs (not root, or no mount namespace): skipped; the replay "
           "case stands for it\n");
    return;
  }
  rd_kafka_t *owner;
  char bootstraps[256];
  cluster_start(&owner, bootstraps, sizeof bootstraps);
  const long n = (long)produce_history(w, owner);
  assert_int_equal(run_daemon(w, bootstraps, ref, "run-ref", n), 0);
  int rc;
  char *expected = snapshot(w, ref, &rc);
  assert_int_equal(rc, 0);
  char refdata[420];
  snprintf(refdata, sizeof refdata, "%s/data.mdb", ref);
  fill(filler, file_size(refdata) / 2);

  rc = run_daemon(w, bootstraps, st, "run-full", 0);
  snprintf(errf, sizeof errf, "%s/run-full.err", w->dir);
  char *e = test_slurp(errf, NULL);
  if (rc != EXIT_STATE_NOSPACE || e == NULL || strstr(e, "could not be written") == NULL)
    fail_msg("run on a full disk: exit %d (expected %d), stderr tail \"%s\"", rc,
             EXIT_STATE_NOSPACE, e ? e + (strlen(e) > 600 ? strlen(e) - 600 : 0) : "");
  const long kept = stored_positions(st);
  printf("full disk, run: exit %d at position %ld of %ld\n", rc, kept, n);
  assert_true(kept > 0 && kept < n);
  free(e);

  assert_int_equal(unlink(filler), 0);
  assert_int_equal(run_daemon(w, bootstraps, st, "run-resumed", n), 0);
  char *got = snapshot(w, st, &rc);
  assert_int_equal(rc, 0);
  assert_string_equal(got, expected);
  printf("full disk, run: after freeing space it resumed; snapshots equal an uninterrupted "
         "run's\n");
  free(got);
  free(expected);
  rd_kafka_destroy(owner);
  assert_int_equal(umount2(mnt, MNT_DETACH), 0);
}

/* ---- 3. truncated under a running reader ---------------------------------------------- */

static int http_status(int port, const char *path) {
  char buf[4096];
  return test_http_get(port, path, NULL, buf, sizeof buf);
}

static void test_truncated_under_serve(void **state) {
  struct world *w = *state;
  char st[400], errf[400], path[420];
  snprintf(st, sizeof st, "%s/truncated", w->dir);
  replay_ok(w, st, "truncated");
  snprintf(errf, sizeof errf, "%s/serve.err", w->dir);
  char *args[] = {"cscflow", "serve", "--state", st, "--port", "0", NULL};
  const struct child_opts o = {NULL, errf, 0};
  const pid_t pid = spawn(w->cscflow, args, &o);
  int code = 0, port = 0;
  for (int i = 0; i < 500 && code != 200; i++) {
    test_sleep_ms(20);
    char *e = test_slurp(errf, NULL);
    const char *p = e ? strstr(e, "\"event\":\"serving\",\"port\":") : NULL;
    if (p != NULL)
      port = atoi(p + strlen("\"event\":\"serving\",\"port\":"));
    free(e);
    if (port > 0)
      code = http_status(port, "/readyz");
  }
  if (code != 200) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("serve did not answer /readyz 200 within 10 s (last %d)", code);
  }
  /* Keep the meta pages only: every other page is now past the end. */
  snprintf(path, sizeof path, "%s/data.mdb", st);
  assert_int_equal(truncate(path, 2 * 4096), 0);
  code = http_status(port, "/readyz");
  const int status = test_wait_pid(pid, 10.0, NULL);
  char *e = test_slurp(errf, NULL);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != EXIT_STATE_DAMAGED ||
      e == NULL || strstr(e, "\"event\":\"state_fault\"") == NULL)
    fail_msg("serve on a data.mdb truncated under it: status %d (%s %d), stderr \"%s\"", status,
             status >= 0 && WIFSIGNALED(status) ? "signal" : "exit",
             status >= 0 && WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
             e ? e : "");
  printf("serve with data.mdb truncated under it: request answered %d, exit %d, %s", code,
         WEXITSTATUS(status), strstr(e, "{\"ts\":") ? strrchr(e, '{') : e);
  free(e);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_state_faults CSCFLOW_BINARY\n");
    return 2;
  }
  setenv("CSCFLOW_TEST_BIN", argv[1], 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_writer),
      cmocka_unit_test(test_truncated_under_serve),
      cmocka_unit_test(test_full_disk), /* these last: they leave this process in a */
      cmocka_unit_test(test_full_disk_run), /* mount namespace of its own */
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
