/*
 * test_corruption.c — no input stops the stream (issue 13, item 4): a
 * generated history with random byte corruption goes through `cscflow
 * replay` and through `cscflow run` on librdkafka's mock cluster (both
 * children of this test; argv[1] is the built binary), and
 *
 *   - replay reads the file to its end and exits 0; run never exits on its
 *     own, and exits 0 on SIGTERM once every message is consumed;
 *   - every record is accounted for exactly once: in the state's status
 *     record (and in replay's `replay_summary` line) applied + duplicates +
 *     dead_lettered = consumed = the number of records (messages) produced;
 *   - there are dead letters, and the dead-letter output (the file sink's
 *     csc.events.dlq.v1.bin, or the topic) holds exactly dead_lettered
 *     messages, each with a non-empty `reason` header;
 *   - every event the corruption did not touch is applied: the history is
 *     generated with mess 0, so untouched event ids are unique, and applied
 *     is at least the number of untouched events (less any whose event_id a
 *     corrupted but still decodable event happens to carry, which may then
 *     count as its duplicate);
 *   - replay run again on the same state exits 0 and consumes nothing; the
 *     state stays readable (`cscflow snapshot --json` exits 0).
 *
 * The corruption (deterministic from CORRUPT_SEED; CSCFLOW_TEST_SEED=N
 * draws another one, and the seed is printed). Only the protobuf bytes of an
 * event are touched, never a length prefix, so the file stays a valid
 * sequence of length-delimited records (a corrupted prefix is a truncated
 * file, another case):
 *   - LA codes: LA_TARGETS events spread over the history get two digits
 *     of their la_code flipped to other digits, each to a different code
 *     that keeps the shape of an ONS code (a letter and eight digits), so
 *     that no validation of LA codes can refuse them, and one batch carries
 *     far more than 256 distinct, well-formed LA codes (the fixture checks
 *     it). On Kafka they are keyed by their corrupted code, as a producer
 *     keying by what it sends would (one in eight has no key at all): keyed
 *     by the original code, the key check dead-letters them before they
 *     reach the batch, and run would never meet the many-LA batch;
 *   - child ids: CHILD_TARGETS events get one digit of their child_id
 *     ("C" + 7 digits) made a byte that is not UTF-8 (^0x80), a control
 *     character (^0x30: NUL .. TAB, so that some ids hold a NUL inside) or
 *     DEL;
 *   - one record in the middle is empty (length 0);
 *   - of every other event, RANDOM_RATE get 1 to 3 random bytes anywhere in
 *     their protobuf bytes XORed with a random non-zero byte.
 * Every other message on Kafka is keyed by its (uncorrupted) LA code; the
 * producer uses the murmur2_random partitioner, as cscflow's producers do.
 *
 * Loopback only; every wait is bounded in time and every loop in count; no
 * timing is asserted. The scratch directory is removed when every test
 * passed, kept (with the children's logs) otherwise.
 */
#define _GNU_SOURCE /* nftw, memmem */

#include "tests/testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "gen/gen.h"
#include "state/state.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

extern char **environ;

#define CORRUPT_SEED 20261303ull
#define RANDOM_RATE 0.30
#define LA_TARGETS 400
#define CHILD_TARGETS 60
#define INPUT_PARTITIONS 4
#define CHILD_TIMEOUT_S 120.0 /* one child process, start to exit */
#define RUN_TIMEOUT_S 150.0   /* run: start to everything consumed */

/* One input record (file) or message (Kafka). */
struct record {
  uint8_t *pb; /* the (possibly corrupted) protobuf bytes; NULL when empty */
  size_t len;
  char la[16];       /* the generated, uncorrupted LA code */
  char event_id[64]; /* the generated event_id */
  uint8_t key[32];   /* Kafka key */
  size_t key_len;
  int has_key;
  enum { UNTOUCHED, RANDOM_FLIPS, LA_FLIP, CHILD_FLIP, EMPTY } kind;
};

struct fixture {
  const char *cscflow;
  char dir[256];
  char input[512];
  uint64_t seed;
  struct record *r;
  size_t n, cap;
  char las[8][16]; /* the generated LAs' codes */
  int n_las;
  /* what the corruption did */
  size_t by_kind[5], decodable_touched, distinct_las, untouched_safe;
};

/* ---- small things ------------------------------------------------------------------- */

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* splitmix64 */
static uint64_t next_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(next_rand(s) >> 11) / 9007199254740992.0; }

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  *len = 0;
  if (f == NULL)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap + 1);
  assert_non_null(buf);
  for (int i = 0; i < 1 << 20; i++) {
    const size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      assert_non_null(buf);
    }
  }
  fclose(f);
  buf[n] = 0;
  *len = n;
  return buf;
}

static int file_has(const char *path, const char *text) {
  size_t n;
  uint8_t *b = slurp(path, &n);
  const int found = b != NULL && memmem(b, n, text, strlen(text)) != NULL;
  free(b);
  return found;
}

static void print_tail(const char *log) {
  size_t n;
  uint8_t *b = slurp(log, &n);
  if (b == NULL)
    return;
  const size_t from = n > 3000 ? n - 3000 : 0;
  fprintf(stderr, "---- last lines of %s ----\n%.*s\n----\n", log, (int)(n - from),
          (const char *)b + from);
  free(b);
}

/* ---- child processes ------------------------------------------------------------------ */

/* posix_spawn, not fork: this process runs librdkafka's threads. stdout to
 * out, stderr to err (both truncated first). */
static pid_t spawn(const char *bin, char *const argv[], const char *out, const char *err) {
  posix_spawn_file_actions_t fa;
  assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
  assert_int_equal(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0), 0);
  assert_int_equal(
      posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0640), 0);
  assert_int_equal(
      posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0640), 0);
  pid_t pid;
  const int rc = posix_spawn(&pid, bin, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    fail_msg("posix_spawn %s: %s", bin, strerror(rc));
  return pid;
}

/* 1 with *status when pid ended within timeout_s, else 0. */
static int wait_child(pid_t pid, double timeout_s, int *status) {
  const double deadline = test_now_s() + timeout_s;
  for (int i = 0; i < 10000000; i++) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      return 1;
    assert_int_equal(r, 0);
    if (test_now_s() >= deadline)
      break;
    sleep_s(0.005);
  }
  return 0;
}

static void describe_status(int status, char *buf, size_t len) {
  if (WIFEXITED(status))
    snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, len, "died of signal %d", WTERMSIG(status));
  else
    snprintf(buf, len, "ended with wait status 0x%x", status);
}

/* Runs argv to its end (at most CHILD_TIMEOUT_S); fails the test unless it
 * exits 0. out and err are its stdout and stderr. */
static void run_to_end(const char *bin, char *const argv[], const char *out, const char *err,
                       const char *what) {
  int status = 0;
  const pid_t pid = spawn(bin, argv, out, err);
  if (!wait_child(pid, CHILD_TIMEOUT_S, &status)) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    print_tail(err);
    fail_msg("%s did not end within %.0f s", what, CHILD_TIMEOUT_S);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char how[64];
    describe_status(status, how, sizeof how);
    print_tail(err);
    fail_msg("%s %s (stderr: %s)", what, how, err);
  }
}

/* ---- the state --------------------------------------------------------------------------- */

static void read_status(const char *dir, struct store_status *s) {
  struct store *st;
  char err[512];
  if (store_open(dir, 1, &st, err, sizeof err) != CSC_OK)
    fail_msg("open %s: %s", dir, err);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  const int rc = store_get_status(st, txn, s);
  mdb_txn_abort(txn);
  store_close(st);
  if (rc != CSC_OK)
    fail_msg("%s: no status record (%s)", dir, csc_strerror(rc));
}

/* The stored next position of (source, partition); 0 when none, or when
 * the store cannot be opened yet. Opened and closed each time: the writer
 * may grow its map in between. */
static int64_t stored_position(const char *dir, const char *source, int32_t partition) {
  struct store *st;
  char err[512];
  int64_t next = 0;
  if (store_open(dir, 1, &st, err, sizeof err) != CSC_OK)
    return 0;
  MDB_txn *txn;
  if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) == 0) {
    if (store_get_position(st, txn, source, partition, &next) != CSC_OK)
      next = 0;
    mdb_txn_abort(txn);
  }
  store_close(st);
  return next;
}

/* The counters every check below is about, and the property. */
static void expect_accounted(const struct fixture *fx, const char *what,
                             const struct store_status *s) {
  printf("%s: consumed %llu = applied %llu + duplicates %llu + dead_lettered %llu (%zu records, "
         "%zu untouched of which %zu must be applied)\n",
         what, (unsigned long long)s->consumed, (unsigned long long)s->applied,
         (unsigned long long)s->duplicates, (unsigned long long)s->dead_lettered, fx->n,
         fx->by_kind[UNTOUCHED], fx->untouched_safe);
  if (s->consumed != fx->n)
    fail_msg("%s: consumed %llu of %zu records", what, (unsigned long long)s->consumed, fx->n);
  if (s->applied + s->duplicates + s->dead_lettered != s->consumed)
    fail_msg("%s: applied %llu + duplicates %llu + dead_lettered %llu != consumed %llu", what,
             (unsigned long long)s->applied, (unsigned long long)s->duplicates,
             (unsigned long long)s->dead_lettered, (unsigned long long)s->consumed);
  if (s->dead_lettered == 0)
    fail_msg("%s: nothing was dead-lettered", what);
  if (s->applied < fx->untouched_safe)
    fail_msg("%s: applied %llu < %zu untouched events", what, (unsigned long long)s->applied,
             fx->untouched_safe);
}

/* ---- the protobuf bytes ------------------------------------------------------------------ */

/* The value of the first length-delimited top-level field `field` of
 * pb[0..len): its offset and length. 0 when absent or malformed. */
static int field_span(const uint8_t *pb, size_t len, uint32_t field, size_t *off, size_t *n) {
  size_t pos = 0;
  for (int guard = 0; guard < 1000 && pos < len; guard++) {
    uint64_t tag, v;
    size_t used = varint_decode(pb + pos, len - pos, &tag);
    if (used == 0)
      return 0;
    pos += used;
    switch (tag & 7) {
    case 0:
      used = varint_decode(pb + pos, len - pos, &v);
      if (used == 0)
        return 0;
      pos += used;
      break;
    case 1: pos += 8; break;
    case 5: pos += 4; break;
    case 2:
      used = varint_decode(pb + pos, len - pos, &v);
      if (used == 0 || v > len - pos - used)
        return 0;
      pos += used;
      if ((tag >> 3) == field) {
        *off = pos;
        *n = (size_t)v;
        return 1;
      }
      pos += (size_t)v;
      break;
    default: return 0;
    }
  }
  return 0;
}

/* ---- the generated history and its corruption ----------------------------------------- */

static int collect(void *ctx, const CaseEvent *ev) {
  struct fixture *fx = ctx;
  if (fx->n == fx->cap) {
    fx->cap = fx->cap ? fx->cap * 2 : 4096;
    fx->r = realloc(fx->r, fx->cap * sizeof *fx->r);
    if (fx->r == NULL)
      return CSC_ENOMEM;
  }
  struct record *r = &fx->r[fx->n++];
  memset(r, 0, sizeof *r);
  r->len = cscflow__v1__case_event__get_packed_size(ev);
  r->pb = malloc(r->len);
  if (r->pb == NULL)
    return CSC_ENOMEM;
  cscflow__v1__case_event__pack(ev, r->pb);
  snprintf(r->la, sizeof r->la, "%s", ev->la_code);
  snprintf(r->event_id, sizeof r->event_id, "%s", ev->event_id);
  r->key_len = strlen(r->la);
  memcpy(r->key, r->la, r->key_len);
  r->has_key = 1;
  r->kind = UNTOUCHED;
  return CSC_OK;
}

static int is_real_la(const struct fixture *fx, const uint8_t *code, size_t n) {
  for (int i = 0; i < fx->n_las; i++)
    if (strlen(fx->las[i]) == n && memcmp(fx->las[i], code, n) == 0)
      return 1;
  return 0;
}

/* Two digits of la_code flipped, each to another digit, so that the code
 * keeps its shape (a letter and eight digits) and passes any validation of
 * LA codes: a corruption no check at the door can tell from a real LA. The
 * t-th target's own flip: a pair of the eight digit positions (t mod 28),
 * and for each an offset of 1..9 (mod 10) from the mixed-radix digits of
 * t / 28, so distinct t < 2268 give distinct codes of one LA; no code two
 * digits away from one real LA is another real LA's (those differ in one). */
static void flip_la(const struct fixture *fx, struct record *r, size_t t) {
  size_t off, n;
  assert_true(field_span(r->pb, r->len, 2, &off, &n));
  assert_int_equal(n, 9);
  size_t pair = t % 28, p1 = 1, p2 = 2;
  for (size_t k = 0; k < pair; k++) /* the pair-th (p1 < p2) of positions 1..8 */
    if (++p2 > 8) {
      p1++;
      p2 = p1 + 1;
    }
  const unsigned a = 1 + (unsigned)(t / 28) % 9, b = 1 + (unsigned)(t / 252) % 9;
  const size_t at[2] = {off + p1, off + p2};
  const unsigned by[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    const uint8_t d = r->pb[at[i]];
    assert_true(d >= '0' && d <= '9');
    r->pb[at[i]] = (uint8_t)('0' + (d - '0' + by[i]) % 10); /* flips d ^ new */
  }
  assert_false(is_real_la(fx, r->pb + off, n));
  r->kind = LA_FLIP;
  /* Keyed by what it carries, its own code; one in eight has no key. */
  r->has_key = t % 8 != 7;
  r->key_len = n;
  memcpy(r->key, r->pb + off, n);
}

/* One byte of child_id made not UTF-8, a control character or DEL. */
static void flip_child(struct record *r, size_t t) {
  size_t off, n;
  assert_true(field_span(r->pb, r->len, 3, &off, &n));
  assert_true(n >= 2);
  const size_t at = off + 1 + t % (n - 1); /* a digit of "C" + 7 digits */
  switch (t % 3) {
  case 0: r->pb[at] ^= 0x80; break; /* a lone byte >= 0x80: not UTF-8 */
  case 1:                           /* a digit ^ 0x30: NUL .. TAB */
    assert_true(r->pb[at] >= '0' && r->pb[at] <= '9');
    r->pb[at] ^= 0x30;
    break;
  default: r->pb[at] = 0x7F; break; /* DEL */
  }
  r->kind = CHILD_FLIP;
}

static void flip_random(struct record *r, uint64_t *rng) {
  const int flips = 1 + (int)(next_rand(rng) % 3);
  for (int i = 0; i < flips; i++)
    r->pb[next_rand(rng) % r->len] ^= (uint8_t)(1 + next_rand(rng) % 255);
  r->kind = RANDOM_FLIPS;
}

/* A letter and eight digits: the shape of an ONS code, which any check of
 * LA codes must let through. */
static int ons_shaped(const char *code) {
  if (strlen(code) != 9 || code[0] < 'A' || code[0] > 'Z')
    return 0;
  for (int i = 1; i < 9; i++)
    if (code[i] < '0' || code[i] > '9')
      return 0;
  return 1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Counts what the corruption made: decodable touched events; the distinct,
 * well-formed LA codes of the keyed LA-flip events (what reaches one batch
 * both in replay, where nothing is keyed, and in run, where an unkeyed
 * message may be dead-lettered first); and the untouched events whose
 * event_id no decodable touched event carries (those must all be applied). */
static void count_fixture(struct fixture *fx) {
  char **ids = calloc(fx->n + 1, sizeof *ids), **codes = calloc(fx->n + 1, sizeof *codes);
  assert_non_null(ids);
  assert_non_null(codes);
  size_t n_ids = 0, n_codes = 0;
  for (size_t i = 0; i < fx->n; i++) {
    const struct record *r = &fx->r[i];
    CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, r->len, r->pb);
    if (ev == NULL)
      continue;
    if (r->kind != UNTOUCHED) {
      fx->decodable_touched++;
      if (ev->event_id != NULL && *ev->event_id)
        assert_non_null(ids[n_ids++] = strdup(ev->event_id));
    }
    if (r->kind == LA_FLIP && r->has_key) {
      assert_true(ev->la_code != NULL && ons_shaped(ev->la_code));
      assert_non_null(codes[n_codes++] = strdup(ev->la_code));
    }
    cscflow__v1__case_event__free_unpacked(ev, NULL);
  }
  qsort(ids, n_ids, sizeof *ids, cmp_str);
  qsort(codes, n_codes, sizeof *codes, cmp_str);
  for (size_t i = 0; i < n_codes; i++)
    if (i == 0 || strcmp(codes[i], codes[i - 1]) != 0)
      fx->distinct_las++;
  for (size_t i = 0; i < fx->n; i++) {
    if (fx->r[i].kind != UNTOUCHED)
      continue;
    const char *key = fx->r[i].event_id;
    if (bsearch(&key, ids, n_ids, sizeof *ids, cmp_str) == NULL)
      fx->untouched_safe++;
  }
  for (size_t i = 0; i < n_ids; i++)
    free(ids[i]);
  for (size_t i = 0; i < n_codes; i++)
    free(codes[i]);
  free(ids);
  free(codes);
}

static void build_fixture(struct fixture *fx) {
  struct gen_options o;
  gen_options_default(&o);
  o.seed = 13;
  o.n_las = 2;
  o.years = 1; /* April 2021 to March 2022: before today, whatever --now defaults to */
  o.scale = 0.03;
  o.mess = 0; /* untouched event ids are unique: each must be applied */
  fx->n_las = o.n_las;
  for (int i = 0; i < o.n_las; i++) {
    int64_t pop;
    gen_la(&o, i, fx->las[i], &pop);
  }
  assert_int_equal(gen_run(&o, collect, fx), CSC_OK);
  assert_true(fx->n > 2 * LA_TARGETS);

  /* LA codes, spread evenly over the history. */
  const size_t step = fx->n / LA_TARGETS;
  for (size_t t = 0; t < LA_TARGETS; t++)
    flip_la(fx, &fx->r[step / 2 + t * step], t);
  /* Child ids, spread over the events that have one and are untouched. */
  size_t eligible = 0;
  for (size_t i = 0; i < fx->n; i++) {
    size_t off, n;
    eligible += fx->r[i].kind == UNTOUCHED && field_span(fx->r[i].pb, fx->r[i].len, 3, &off, &n);
  }
  assert_true(eligible > 2 * CHILD_TARGETS);
  const size_t cstep = eligible / CHILD_TARGETS;
  size_t seen = 0, t = 0;
  for (size_t i = 0; i < fx->n && t < CHILD_TARGETS; i++) {
    size_t off, n;
    if (fx->r[i].kind != UNTOUCHED || !field_span(fx->r[i].pb, fx->r[i].len, 3, &off, &n))
      continue;
    if (seen++ % cstep == cstep / 2)
      flip_child(&fx->r[i], t++);
  }
  assert_int_equal(t, CHILD_TARGETS);
  /* One record in the middle emptied. */
  for (size_t i = fx->n / 2; i < fx->n; i++)
    if (fx->r[i].kind == UNTOUCHED) {
      free(fx->r[i].pb);
      fx->r[i].pb = NULL;
      fx->r[i].len = 0;
      fx->r[i].kind = EMPTY;
      break;
    }
  /* Random flips in RANDOM_RATE of the rest. */
  uint64_t rng = fx->seed;
  for (size_t i = 0; i < fx->n; i++)
    if (fx->r[i].kind == UNTOUCHED && uniform(&rng) < RANDOM_RATE)
      flip_random(&fx->r[i], &rng);

  for (size_t i = 0; i < fx->n; i++)
    fx->by_kind[fx->r[i].kind]++;
  count_fixture(fx);
  printf("history: %zu records (2 LAs, 1 year, mess 0), seed %llu: %zu untouched, %zu with 1-3 "
         "random bytes flipped, %zu with two la_code digits flipped, %zu with a bad child_id byte, "
         "%zu empty; %zu touched still decode; %zu distinct well-formed LA codes on keyed "
         "la_code flips\n",
         fx->n, (unsigned long long)fx->seed, fx->by_kind[UNTOUCHED], fx->by_kind[RANDOM_FLIPS],
         fx->by_kind[LA_FLIP], fx->by_kind[CHILD_FLIP], fx->by_kind[EMPTY],
         fx->decodable_touched, fx->distinct_las);
  /* The point of the fixture: one batch with far more than 256 LAs. */
  assert_true(fx->distinct_las > 256 + 20);

  FILE *f = fopen(fx->input, "wb");
  assert_non_null(f);
  for (size_t i = 0; i < fx->n; i++) {
    uint8_t v[10];
    const size_t vn = varint_encode(fx->r[i].len, v);
    assert_int_equal(fwrite(v, 1, vn, f), vn);
    if (fx->r[i].len > 0)
      assert_int_equal(fwrite(fx->r[i].pb, 1, fx->r[i].len, f), fx->r[i].len);
  }
  assert_int_equal(fclose(f), 0);
}

/* ---- replay ------------------------------------------------------------------------------ */

/* The value of "name": in the replay_summary line of the log at path. */
static uint64_t summary_field(const char *path, const char *name) {
  size_t n;
  uint8_t *b = slurp(path, &n);
  assert_non_null(b);
  const char *line = strstr((const char *)b, "\"event\":\"replay_summary\"");
  if (line == NULL) {
    free(b);
    print_tail(path);
    fail_msg("%s: no replay_summary line", path);
  }
  const char *eol = strchr(line, '\n');
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", name);
  const char *at = strstr(line, pat);
  if (at == NULL || (eol != NULL && at > eol)) {
    free(b);
    fail_msg("%s: replay_summary has no %s", path, name);
  }
  const uint64_t v = strtoull(at + strlen(pat), NULL, 10);
  free(b);
  return v;
}

/* Reads a sink file's records: their count, and each must carry a
 * non-empty "reason" header. */
static size_t count_dead_letters_file(const char *path) {
  size_t len;
  uint8_t *buf = slurp(path, &len);
  if (buf == NULL)
    return 0;
  size_t pos = 0, count = 0;
  for (size_t i = 0; i < 10000000; i++) {
    struct sink_record r;
    const size_t at = pos;
    const int rc = sink_file_read_record(buf, len, &pos, &r);
    if (rc == CSC_ENOTFOUND)
      break;
    if (rc != CSC_OK)
      fail_msg("%s: record %zu at byte %zu is malformed", path, i, at);
    /* The headers follow the value: varint count, then name and value
     * each as varint length + bytes. */
    size_t h = (size_t)(r.value + r.value_len - buf);
    uint64_t nh, l;
    size_t used = varint_decode(buf + h, pos - h, &nh);
    assert_true(used > 0);
    h += used;
    size_t reason_len = 0;
    int has_reason = 0;
    for (uint64_t k = 0; k < nh && k < 64; k++) {
      used = varint_decode(buf + h, pos - h, &l);
      assert_true(used > 0 && l <= pos - h - used);
      const uint8_t *name = buf + h + used;
      const size_t name_len = (size_t)l;
      h += used + l;
      used = varint_decode(buf + h, pos - h, &l);
      assert_true(used > 0 && l <= pos - h - used);
      if (name_len == 6 && memcmp(name, "reason", 6) == 0) {
        has_reason = 1;
        reason_len = (size_t)l;
      }
      h += used + l;
    }
    if (!has_reason || reason_len == 0)
      fail_msg("%s: dead letter %zu has no reason", path, i);
    count++;
  }
  free(buf);
  return count;
}

static void test_replay(void **state) {
  struct fixture *fx = *state;
  char st[512], out[512], so[600], se[600], se2[600], js[600], jse[600], dlq[700];
  snprintf(st, sizeof st, "%s/replay-state", fx->dir);
  snprintf(out, sizeof out, "%s/replay-out", fx->dir);
  snprintf(so, sizeof so, "%s/replay.out", fx->dir);
  snprintf(se, sizeof se, "%s/replay.log", fx->dir);
  snprintf(se2, sizeof se2, "%s/replay-again.log", fx->dir);
  snprintf(js, sizeof js, "%s/snapshot.json", fx->dir);
  snprintf(jse, sizeof jse, "%s/snapshot.log", fx->dir);
  snprintf(dlq, sizeof dlq, "%s/%s.bin", out, TOPIC_DLQ);
  assert_int_equal(mkdir(st, 0750), 0);

  /* One batch holds the whole history, so its LAs are all in it. */
  char *const argv[] = {(char *)fx->cscflow, "replay", "--input", fx->input, "--state", st,
                        "--out-dir", out, "--batch", "100000", NULL};
  run_to_end(fx->cscflow, argv, so, se, "cscflow replay");

  struct store_status s;
  read_status(st, &s);
  expect_accounted(fx, "replay", &s);
  /* The summary line says the same (a fresh state: nothing carried over). */
  assert_int_equal(summary_field(se, "consumed"), s.consumed);
  assert_int_equal(summary_field(se, "applied"), s.applied);
  assert_int_equal(summary_field(se, "duplicates"), s.duplicates);
  assert_int_equal(summary_field(se, "dead_lettered"), s.dead_lettered);
  /* The whole file is consumed: the stored position is its end. */
  char real[4096], source[4200];
  assert_non_null(realpath(fx->input, real));
  snprintf(source, sizeof source, "file:%s", real);
  struct stat sb;
  assert_int_equal(stat(fx->input, &sb), 0);
  assert_int_equal(stored_position(st, source, 0), sb.st_size);
  /* Every dead letter is in the file, with its reason. */
  const size_t letters = count_dead_letters_file(dlq);
  printf("replay: %zu dead letters in %s, each with a reason\n", letters, dlq);
  assert_int_equal(letters, s.dead_lettered);

  /* Again on the same state: nothing left to consume, and no failure. */
  run_to_end(fx->cscflow, argv, so, se2, "cscflow replay (again, same state)");
  assert_int_equal(summary_field(se2, "consumed"), 0);
  struct store_status again;
  read_status(st, &again);
  assert_int_equal(again.consumed, s.consumed);
  assert_int_equal(again.applied, s.applied);
  assert_int_equal(again.dead_lettered, s.dead_lettered);
  assert_int_equal(count_dead_letters_file(dlq), letters);

  /* The state stays readable. */
  char *const snap[] = {(char *)fx->cscflow, "snapshot", "--state", st, "--json", NULL};
  run_to_end(fx->cscflow, snap, js, jse, "cscflow snapshot --json");
  struct stat jb;
  assert_int_equal(stat(js, &jb), 0);
  assert_true(jb.st_size > 0);
}

/* ---- run, on the mock cluster --------------------------------------------------------- */

struct cluster {
  rd_kafka_t *producer; /* owns the mock cluster */
  char bootstraps[256];
  int64_t end[INPUT_PARTITIONS];
  size_t delivered, failed;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct cluster *k = opaque;
  if (m->err || m->partition < 0 || m->partition >= INPUT_PARTITIONS) {
    k->failed++;
    return;
  }
  k->delivered++;
  if (m->offset + 1 > k->end[m->partition])
    k->end[m->partition] = m->offset + 1;
}

static void cluster_start(struct cluster *k) {
  char err[512];
  memset(k, 0, sizeof *k);
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *props[][2] = {{"test.mock.num.brokers", "1"},
                            {"linger.ms", "5"},
                            {"partitioner", "murmur2_random"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    assert_int_equal(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err),
                     RD_KAFKA_CONF_OK);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, k);
  k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(k->producer);
  rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(k->producer);
  assert_non_null(mock);
  snprintf(k->bootstraps, sizeof k->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock));
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_EVENTS, INPUT_PARTITIONS, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_INDICATORS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_ALERTS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_QUALITY, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_DLQ, 1, 1), 0);
}

static void produce_all(struct cluster *k, const struct fixture *fx) {
  for (size_t i = 0; i < fx->n; i++) {
    const struct record *r = &fx->r[i];
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    for (int tries = 0; tries < 1000 && err == RD_KAFKA_RESP_ERR__QUEUE_FULL; tries++) {
      err = rd_kafka_producev(k->producer, RD_KAFKA_V_TOPIC(TOPIC_EVENTS),
                              RD_KAFKA_V_KEY(r->has_key ? r->key : NULL,
                                             r->has_key ? r->key_len : 0),
                              RD_KAFKA_V_VALUE(r->pb, r->len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(k->producer, 10);
    }
    assert_int_equal(err, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  assert_int_equal(rd_kafka_flush(k->producer, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(k->failed, 0);
  assert_int_equal(k->delivered, fx->n);
}

/* Counts the messages of partition 0 of topic; each must carry a
 * non-empty "reason" header when reasons is set. */
static size_t count_topic(const struct cluster *k, const char *topic, int reasons) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *props[][2] = {{"bootstrap.servers", k->bootstraps},
                            {"group.id", "corruption-test-reader"},
                            {"enable.auto.commit", "false"},
                            {"fetch.wait.max.ms", "10"}};
  for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
    assert_int_equal(rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err),
                     RD_KAFKA_CONF_OK);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  assert_non_null(rk);
  rd_kafka_poll_set_consumer(rk);
  int64_t lo = -1, hi = -1;
  assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 5000),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(lo, 0);
  size_t n = 0;
  if (hi > lo) {
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = lo;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    const double deadline = test_now_s() + 30.0;
    int64_t next = lo;
    for (int i = 0; i < 100000 && next < hi && test_now_s() < deadline; i++) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
      if (m == NULL)
        continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (reasons) {
          rd_kafka_headers_t *h = NULL;
          const void *v = NULL;
          size_t size = 0;
          if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
              rd_kafka_header_get_last(h, "reason", &v, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
              v == NULL || size == 0)
            fail_msg("%s: message at offset %lld has no reason", topic, (long long)m->offset);
        }
        next = m->offset + 1;
        n++;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  assert_int_equal((int64_t)n, hi - lo);
  return n;
}

static int64_t run_progress(const struct cluster *k, const char *st) {
  int64_t n = 0;
  for (int32_t p = 0; p < INPUT_PARTITIONS; p++)
    if (k->end[p] > 0)
      n += stored_position(st, TOPIC_EVENTS, p);
  return n;
}

static void test_run(void **state) {
  struct fixture *fx = *state;
  char st[512], conf[600], so[600], log[600];
  snprintf(st, sizeof st, "%s/run-state", fx->dir);
  snprintf(conf, sizeof conf, "%s/run.conf", fx->dir);
  snprintf(so, sizeof so, "%s/run.out", fx->dir);
  snprintf(log, sizeof log, "%s/run.log", fx->dir);
  assert_int_equal(mkdir(st, 0750), 0);

  struct cluster k;
  cluster_start(&k);
  produce_all(&k, fx);
  int parts = 0;
  for (int p = 0; p < INPUT_PARTITIONS; p++)
    parts += k.end[p] > 0;
  printf("run: %zu messages on %d partitions of %s\n", fx->n, parts, TOPIC_EVENTS);

  /* Large batches that wait long enough to take in all that is there: one
   * batch then carries the many LA codes. */
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f,
          "bootstrap.servers=%s\n"
          "consumer.group.id=corruption-%d\n"
          "consumer.fetch.wait.max.ms=10\n"
          "producer.linger.ms=1\n"
          "cscflow.state.dir=%s\n"
          "cscflow.clock=replay\n"
          "cscflow.batch.max=100000\n"
          "cscflow.batch.ms=1000\n",
          k.bootstraps, (int)getpid(), st);
  assert_int_equal(fclose(f), 0);

  char *const argv[] = {(char *)fx->cscflow, "run", "--config", conf, NULL};
  const pid_t pid = spawn(fx->cscflow, argv, so, log);
  const double t0 = test_now_s();
  int status = 0, ended = 0, termed = 0;
  int64_t done = 0;
  for (int i = 0; i < 1000000; i++) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    assert_true(r == 0 || r == pid);
    if (r == pid) {
      ended = 1;
      break;
    }
    if (test_now_s() - t0 > RUN_TIMEOUT_S + (termed ? 60.0 : 0.0))
      break;
    done = run_progress(&k, st);
    /* SIGTERM once everything is consumed and the handler is set (it says
     * run_started after). */
    if (!termed && done == (int64_t)fx->n && file_has(log, "\"event\":\"run_started\"")) {
      assert_int_equal(kill(pid, SIGTERM), 0);
      termed = 1;
    }
    sleep_s(0.02);
  }
  if (!ended) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    print_tail(log);
    rd_kafka_destroy(k.producer);
    fail_msg("cscflow run consumed %lld of %zu messages in %.0f s%s", (long long)done, fx->n,
             RUN_TIMEOUT_S, termed ? " and did not stop on SIGTERM" : "");
  }
  char how[64];
  describe_status(status, how, sizeof how);
  if (!termed) {
    print_tail(log);
    rd_kafka_destroy(k.producer);
    fail_msg("cscflow run %s on its own, having consumed %lld of %zu messages (log: %s)", how,
             (long long)run_progress(&k, st), fx->n, log);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    print_tail(log);
    rd_kafka_destroy(k.producer);
    fail_msg("cscflow run %s after SIGTERM (log: %s)", how, log);
  }

  struct store_status s;
  read_status(st, &s);
  expect_accounted(fx, "run", &s);
  const size_t letters = count_topic(&k, TOPIC_DLQ, 1);
  printf("run: %zu dead letters on %s, each with a reason\n", letters, TOPIC_DLQ);
  assert_int_equal(letters, s.dead_lettered);
  rd_kafka_destroy(k.producer);
}

/* ---- main ----------------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static struct fixture fx;

/* The history and its corruption, made once for both tests. */
static int setup(void **state) {
  build_fixture(&fx);
  *state = &fx;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_corruption PATH-TO-cscflow\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  fx.cscflow = argv[1];
  const char *seed = getenv("CSCFLOW_TEST_SEED");
  fx.seed = seed ? strtoull(seed, NULL, 10) : CORRUPT_SEED;
  test_tmpdir(fx.dir, sizeof fx.dir, "corruption");
  snprintf(fx.input, sizeof fx.input, "%s/corrupted-history.bin", fx.dir);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replay),
      cmocka_unit_test(test_run),
  };
  const int failed = cmocka_run_group_tests(tests, setup, NULL);
  for (size_t i = 0; i < fx.n; i++)
    free(fx.r[i].pb);
  free(fx.r);
  if (failed == 0)
    nftw(fx.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  else
    printf("test_corruption: scratch directory kept: %s\n", fx.dir);
  return failed;
}
