/*
 * cscflow-bench-kafka: the Kafka half of the performance bench. The real
 * processor (`cscflow run`, a child process) runs against librdkafka's mock
 * cluster, which this program hosts on loopback.
 *
 *   cscflow-bench-kafka throughput --cscflow PATH --input EVENTS.bin --work DIR
 *                                  [--events N] [--partitions P] [options]
 *   cscflow-bench-kafka latency --cscflow PATH --input EVENTS.bin --work DIR
 *                               [--rate R] [--seconds S] [options]
 *
 * throughput: the first N events of the file are produced to csc.events.v1,
 *   key = LA code, and the produce is timed to the end of the flush. Then
 *   `cscflow run` starts (replay clock, so that the run is reproducible).
 *   Its startup runs until its log shows every partition assigned (process
 *   start and group join: the mock holds a new group's first join ~3 s);
 *   consume + process + commit runs from there until the positions stored
 *   in its LMDB state cover every produced message (a position commits with
 *   the batch that consumed it). kafka_e2e_events_per_s is N over produce +
 *   consume + process + commit; the same with the startup is printed too.
 *   Each LA goes to a partition of its own (LA i, in order of first
 *   appearance, to partition i mod P): the mock keeps only ~5 MiB a
 *   partition, and hashing 20 keys onto 20 partitions would pile several
 *   LAs onto one. The events are produced lz4-compressed (--compression),
 *   which the mock stores as it gets them: 1M events of 20 LAs fit, and the
 *   watermarks after the produce prove that nothing was dropped (an
 *   event dropped before `cscflow run` read it would also be an offset gap,
 *   which stops its partition: the bench never sets
 *   cscflow.on_offset_gap=skip).
 *   Afterwards events_applied summed over the LAs of the state must equal
 *   N less the duplicates the processor reported.
 *
 * latency: `cscflow run` starts first (live clock, as in production: an
 *   LA's as-of date is today, so the clock does not move with the events'
 *   recorded dates and every batch publishes a snapshot of each LA it
 *   touched). A warm-up burst is produced and waited for (the processor has
 *   no readiness signal); then events are produced one by one at a steady
 *   rate with linger.ms=0, each one's produce time noted. A thread reads
 *   csc.indicators.v1 and notes each snapshot's arrival time, LA (the key)
 *   and events_applied. Afterwards the k-th measured event of LA L counts as
 *   published by the first snapshot of L whose events_applied, less L's
 *   count after the warm-up, reaches k: the state is new and the file has no
 *   duplicates, so every event is applied. Latency = arrival - produce, both
 *   on this process's CLOCK_MONOTONIC. Commits are durable: `run` keeps
 *   LMDB's sync on every commit. The same thread reads csc.events.v1 too,
 *   with the fetch settings the processor gets: latency_input_hop_* is the
 *   mock's and librdkafka's share (produce to a consumer), the floor under
 *   the end-to-end figure.
 *
 * The processor's CPU time (user + system, from wait4) is printed as well:
 * the machine is often shared, and CPU per event moves less than wall time.
 *
 * Figures are `name: value` lines on stdout; errors go to stderr. Targets
 * are judged by bench/run.sh, never here: exit status 0 means that the
 * measurement ran and its accounting checked out. Each run gets a directory
 * of its own under the work directory (config, the processor's log, its
 * state), removed after a successful run unless --keep is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "indicators/indicators.h"
#include "ingest/ingest.h"
#include "state/state.h"

/* After rdkafka.h (ingest.h): rdkafka_mock.h needs its RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

extern char **environ;

#define MAX_LAS 128
#define MAX_PARTITIONS 256
#define MAX_SETTINGS 32
#define LA_CODE_MAX 16
/* What the mock keeps of a partition before it drops the oldest message
 * sets, and an upper estimate of a v2 record's bytes beyond key and value. */
#define MOCK_PARTITION_BYTES (5.0 * 1024 * 1024)
#define RECORD_OVERHEAD 24
#define POLL_S 0.01         /* between looks at the state or the snapshots */
#define STOP_TIMEOUT_S 60.0 /* SIGTERM to exit; then SIGKILL */
#define FLUSH_TIMEOUT_MS 60000
#define PUBLISH_TIMEOUT_S 60.0 /* latency: the last snapshot after the last produce */

/* Set by SIGINT and SIGTERM: every wait gives up and the child is stopped.
 * The one global: a signal handler can reach nothing else. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
  struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !interrupted)
    ;
}

static void sleep_s(double s) { sleep_until(now_s() + s); }

static int fail(const char *what) {
  fprintf(stderr, "cscflow-bench-kafka: %s\n", what);
  return CSC_EINVAL;
}

/* ---- options ------------------------------------------------------------------------ */

enum mode { MODE_THROUGHPUT, MODE_LATENCY };

struct options {
  enum mode mode;
  const char *cscflow, *input, *work, *population, *clock;
  long events; /* throughput: events produced */
  long warmup; /* latency: events produced before the measurement */
  int partitions;
  long batch_max, batch_ms;
  double rate, seconds;               /* latency */
  double timeout_s;                   /* longest wait for the processor to consume */
  int keep;                           /* keep the run directory after a successful run */
  const char *compression;            /* the bench producer's compression.codec */
  const char *settings[MAX_SETTINGS]; /* --set KEY=VALUE lines, last in the run config */
  size_t n_settings;
};

static int usage(void) {
  fputs("usage:\n"
        "  cscflow-bench-kafka throughput --cscflow PATH --input EVENTS.bin --work DIR\n"
        "      [--events N (1000000)] [--partitions P (20)] [--batch-max N (50000)]\n"
        "      [--batch-ms MS (200)] [--clock replay|live (replay)]\n"
        "  cscflow-bench-kafka latency --cscflow PATH --input EVENTS.bin --work DIR\n"
        "      [--rate EVENTS_PER_S (1000)] [--seconds S (30)] [--warmup N (1000)]\n"
        "      [--partitions P (20)] [--batch-max N (5000)] [--batch-ms MS (2)]\n"
        "      [--clock live|replay (live)]\n"
        "  both: [--population CSV] [--set KEY=VALUE]... (a line of the run config, last)\n"
        "        [--compression none|lz4|zstd|gzip|snappy (throughput lz4, latency none)]\n"
        "        [--timeout S (600)] [--keep]\n",
        stderr);
  return 64;
}

static void set_mode_defaults(struct options *o) {
  const int t = o->mode == MODE_THROUGHPUT;
  if (o->batch_max <= 0)
    o->batch_max = t ? 50000 : 5000;
  if (o->batch_ms <= 0)
    o->batch_ms = t ? 200 : 2;
  if (o->clock == NULL)
    o->clock = t ? "replay" : "live";
  /* The mock keeps ~5 MiB a partition, counted as stored, compressed: lz4
   * makes room for 1.5M events of 20 LAs. A request of one event (latency)
   * gains nothing from it. */
  if (o->compression == NULL)
    o->compression = t ? "lz4" : "none";
}

static int parse_options(int argc, char **argv, struct options *o) {
  static const struct option opts[] = {{"cscflow", required_argument, 0, 'c'},
                                       {"input", required_argument, 0, 'i'},
                                       {"work", required_argument, 0, 'w'},
                                       {"events", required_argument, 0, 'n'},
                                       {"partitions", required_argument, 0, 'p'},
                                       {"batch-max", required_argument, 0, 'b'},
                                       {"batch-ms", required_argument, 0, 'm'},
                                       {"clock", required_argument, 0, 'k'},
                                       {"rate", required_argument, 0, 'r'},
                                       {"seconds", required_argument, 0, 's'},
                                       {"warmup", required_argument, 0, 'u'},
                                       {"population", required_argument, 0, 'P'},
                                       {"set", required_argument, 0, 'S'},
                                       {"timeout", required_argument, 0, 't'},
                                       {"keep", no_argument, 0, 'K'},
                                       {"compression", required_argument, 0, 'z'},
                                       {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->events = 1000000;
  o->warmup = 1000;
  o->partitions = 20;
  o->rate = 1000;
  o->seconds = 30;
  o->timeout_s = 600;
  if (argc < 2)
    return usage();
  if (strcmp(argv[1], "throughput") == 0)
    o->mode = MODE_THROUGHPUT;
  else if (strcmp(argv[1], "latency") == 0)
    o->mode = MODE_LATENCY;
  else
    return usage();
  int c;
  optind = 2;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'c': o->cscflow = optarg; break;
    case 'i': o->input = optarg; break;
    case 'w': o->work = optarg; break;
    case 'n': o->events = atol(optarg); break;
    case 'p': o->partitions = atoi(optarg); break;
    case 'b': o->batch_max = atol(optarg); break;
    case 'm': o->batch_ms = atol(optarg); break;
    case 'k': o->clock = optarg; break;
    case 'r': o->rate = atof(optarg); break;
    case 's': o->seconds = atof(optarg); break;
    case 'u': o->warmup = atol(optarg); break;
    case 'P': o->population = optarg; break;
    case 't': o->timeout_s = atof(optarg); break;
    case 'K': o->keep = 1; break;
    case 'z': o->compression = optarg; break;
    case 'S':
      if (o->n_settings == MAX_SETTINGS || strchr(optarg, '=') == NULL)
        return usage();
      o->settings[o->n_settings++] = optarg;
      break;
    default: return usage();
    }
  }
  set_mode_defaults(o);
  if (optind != argc || o->cscflow == NULL || o->input == NULL || o->work == NULL ||
      o->events <= 0 || o->warmup < 1 || o->partitions < 1 || o->partitions > MAX_PARTITIONS ||
      o->rate <= 0 || o->rate > 1e6 || o->seconds <= 0 || o->timeout_s <= 0 ||
      (strcmp(o->clock, "live") != 0 && strcmp(o->clock, "replay") != 0))
    return usage();
  return 0;
}

/* ---- the events ------------------------------------------------------------------------ */

/* The first events of the file, borrowed from its mapping, with their LAs. */
struct events {
  struct file_source *fs;
  const uint8_t **value;
  size_t *len;
  uint8_t *la; /* index into las */
  size_t n;
  char las[MAX_LAS][LA_CODE_MAX];
  size_t n_las;
};

static int la_index(struct events *ev, const char *code, uint8_t *out) {
  for (size_t i = 0; i < ev->n_las; i++)
    if (strcmp(ev->las[i], code) == 0) {
      *out = (uint8_t)i;
      return CSC_OK;
    }
  if (ev->n_las == MAX_LAS || strlen(code) >= LA_CODE_MAX)
    return CSC_EFULL;
  snprintf(ev->las[ev->n_las], LA_CODE_MAX, "%s", code);
  *out = (uint8_t)ev->n_las++;
  return CSC_OK;
}

/* Reads up to max events. Every one must decode: the processor would
 * dead-letter a bad one and the accounting would not add up. */
static int events_load(struct events *ev, const char *path, size_t max) {
  memset(ev, 0, sizeof *ev);
  if (file_source_open(path, &ev->fs) != CSC_OK)
    return fail("cannot open the input file");
  ev->value = malloc(max * sizeof *ev->value);
  ev->len = malloc(max * sizeof *ev->len);
  ev->la = malloc(max);
  if (ev->value == NULL || ev->len == NULL || ev->la == NULL)
    return fail("out of memory");
  struct arena a;
  arena_init(&a, 1 << 16);
  int rc = CSC_OK;
  while (rc == CSC_OK && ev->n < max) {
    const uint8_t *buf, *pb;
    size_t len, pb_len;
    CaseEvent *e;
    const char *reason;
    if (file_source_next(ev->fs, &buf, &len) != CSC_OK)
      break; /* the end (a truncated last record ends it too) */
    arena_reset(&a);
    if (ingest_decode(buf, len, &a, &e, &pb, &pb_len, &reason) != CSC_OK)
      rc = fail("the input holds an event that does not decode");
    else if ((rc = la_index(ev, e->la_code, &ev->la[ev->n])) != CSC_OK)
      fail("too many LAs, or an LA code too long");
    ev->value[ev->n] = buf;
    ev->len[ev->n] = len;
    ev->n++;
  }
  arena_free(&a);
  return rc;
}

static void events_free(struct events *ev) {
  free(ev->value);
  free(ev->len);
  free(ev->la);
  if (ev->fs)
    file_source_close(ev->fs);
  memset(ev, 0, sizeof *ev);
}

static int32_t partition_of(const struct events *ev, size_t i, int partitions) {
  return (int32_t)(ev->la[i] % partitions);
}

/* Refuses a run whose busiest partition the mock would truncate, unless
 * compressed, when only the watermarks after the produce can tell. */
static int check_partition_bytes(const char *prefix, const struct events *ev, size_t n,
                                 int partitions, const char *compression) {
  double bytes[MAX_PARTITIONS] = {0}, most = 0;
  for (size_t i = 0; i < n; i++) {
    const int32_t p = partition_of(ev, i, partitions);
    bytes[p] += (double)(ev->len[i] + strlen(ev->las[ev->la[i]]) + RECORD_OVERHEAD);
    if (bytes[p] > most)
      most = bytes[p];
  }
  printf("%s_busiest_partition_bytes: %.0f\n", prefix, most);
  if (most > 0.9 * MOCK_PARTITION_BYTES && strcmp(compression, "none") == 0)
    return fail("the busiest partition would pass the mock's ~5 MiB: fewer --events or more "
                "--partitions (up to one LA a partition)");
  return CSC_OK;
}

/* ---- the mock cluster -------------------------------------------------------------------- */

struct cluster {
  rd_kafka_t *holder; /* the handle whose threads run the mock brokers */
  rd_kafka_mock_cluster_t *mock;
  char bootstraps[256];
};

static int cluster_start(struct cluster *k, int partitions) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The holder never connects: quiet its "no bootstrap.servers" warning. */
  if (conf == NULL || rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err)) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    return fail("cannot configure the mock cluster's handle");
  }
  rd_kafka_conf_set_log_cb(conf, kafka_log_json); /* librdkafka's lines as JSON lines */
  k->holder = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (k->holder == NULL) {
    rd_kafka_conf_destroy(conf);
    return fail("cannot create the mock cluster's handle");
  }
  k->mock = rd_kafka_mock_cluster_new(k->holder, 1);
  if (k->mock == NULL)
    return fail("cannot start the mock cluster");
  snprintf(k->bootstraps, sizeof k->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(k->mock));
  static const char *const outputs[] = {TOPIC_INDICATORS, TOPIC_ALERTS, TOPIC_QUALITY, TOPIC_DLQ};
  if (rd_kafka_mock_topic_create(k->mock, TOPIC_EVENTS, partitions, 1))
    return fail("cannot create the input topic");
  for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
    if (rd_kafka_mock_topic_create(k->mock, outputs[i], 1, 1))
      return fail("cannot create an output topic");
  return CSC_OK;
}

static void cluster_stop(struct cluster *k) {
  if (k->mock)
    rd_kafka_mock_cluster_destroy(k->mock);
  if (k->holder)
    rd_kafka_destroy(k->holder);
  memset(k, 0, sizeof *k);
}

/* A librdkafka property; lists of them end with {NULL, NULL}. */
struct prop {
  const char *key, *value;
};

static int conf_set_all(rd_kafka_conf_t *conf, const struct prop *props) {
  char err[512];
  for (size_t i = 0; props[i].key != NULL && i < 64; i++)
    if (rd_kafka_conf_set(conf, props[i].key, props[i].value, err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      fprintf(stderr, "cscflow-bench-kafka: librdkafka property %s: %s\n", props[i].key, err);
      return CSC_EINVAL;
    }
  return CSC_OK;
}

/* ---- the producer: the case-management systems ---------------------------------------- */

struct producer {
  rd_kafka_t *rk;
  size_t delivered, failed;
  int partitions;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct producer *p = opaque;
  if (m->err)
    p->failed++;
  else
    p->delivered++;
}

static int producer_open(struct producer *p, const char *bootstraps, int partitions,
                         const struct prop *props) {
  char err[512];
  memset(p, 0, sizeof *p);
  p->partitions = partitions;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (conf == NULL)
    return fail("out of memory");
  rd_kafka_conf_set_log_cb(conf, kafka_log_json); /* librdkafka's lines as JSON lines */
  const struct prop base[] = {{"bootstrap.servers", bootstraps}, {NULL, NULL}};
  if (conf_set_all(conf, base) != CSC_OK || conf_set_all(conf, props) != CSC_OK) {
    rd_kafka_conf_destroy(conf);
    return CSC_EINVAL;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, p);
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (p->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    return fail("cannot create the producer");
  }
  return CSC_OK;
}

/* Hands event i to librdkafka, key = its LA, waiting (up to 60 s) while
 * the producer queue is full. */
static int produce_event(struct producer *p, const struct events *ev, size_t i) {
  const char *la = ev->las[ev->la[i]];
  for (int tries = 0; tries < 6000 && !interrupted; tries++) {
    const rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(TOPIC_EVENTS),
        RD_KAFKA_V_PARTITION(partition_of(ev, i, p->partitions)), RD_KAFKA_V_KEY(la, strlen(la)),
        RD_KAFKA_V_VALUE((void *)ev->value[i], ev->len[i]),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
      return CSC_OK;
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      fprintf(stderr, "cscflow-bench-kafka: produce: %s\n", rd_kafka_err2name(e));
      return CSC_EKAFKA;
    }
    rd_kafka_poll(p->rk, 10);
  }
  return fail(interrupted ? "interrupted" : "the producer queue stayed full");
}

static int produce_range(struct producer *p, const struct events *ev, size_t from, size_t to) {
  int rc = CSC_OK;
  for (size_t i = from; rc == CSC_OK && i < to; i++) {
    rc = produce_event(p, ev, i);
    if ((i & 1023) == 0)
      rd_kafka_poll(p->rk, 0);
  }
  return rc;
}

/* Waits until every message produced is delivered, and checks that none failed. */
static int producer_flush(struct producer *p, size_t expected) {
  if (rd_kafka_flush(p->rk, FLUSH_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return fail("the producer did not flush in time");
  if (p->failed > 0 || p->delivered != expected)
    return fail("some events were not delivered");
  return CSC_OK;
}

/* The mock drops a partition's oldest message sets past ~5 MiB: check
 * that every partition still starts at offset 0. */
static int check_nothing_dropped(struct producer *p) {
  for (int32_t part = 0; part < p->partitions; part++) {
    int64_t lo = -1, hi = -1;
    if (rd_kafka_query_watermark_offsets(p->rk, TOPIC_EVENTS, part, &lo, &hi, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
      return fail("cannot read the input topic's watermarks");
    if (lo != 0)
      return fail("the mock dropped input events (over ~5 MiB a partition): fewer --events");
  }
  return CSC_OK;
}

static void producer_close(struct producer *p) {
  if (p->rk) {
    rd_kafka_flush(p->rk, 5000);
    rd_kafka_destroy(p->rk);
  }
  p->rk = NULL;
}

/* ---- the processor: `cscflow run` as a child process ---------------------------------- */

struct processor {
  pid_t pid; /* 0 when not running */
  int exit_ok;
  double cpu_s;      /* user + system CPU time, once it has exited: others share the machine */
  long major_faults; /* page faults that read the disk: the state's pages evicted */
  char dir[512], conf[600], log[600], state[600];
};

/* Makes a new run directory under work: the run config, log and state go there. */
static int processor_prepare(struct processor *pr, const char *work, const char *name) {
  memset(pr, 0, sizeof *pr);
  if (mkdir(work, 0750) != 0 && errno != EEXIST)
    return fail("cannot create the work directory");
  if ((size_t)snprintf(pr->dir, sizeof pr->dir, "%s/%s-XXXXXX", work, name) >= sizeof pr->dir ||
      mkdtemp(pr->dir) == NULL)
    return fail("cannot create the run directory");
  snprintf(pr->conf, sizeof pr->conf, "%s/run.conf", pr->dir);
  snprintf(pr->log, sizeof pr->log, "%s/run.log", pr->dir);
  snprintf(pr->state, sizeof pr->state, "%s/state", pr->dir);
  return CSC_OK;
}

/* Writes the run config: the bench's settings, then extra (NULL-terminated
 * key=value lines of the mode), then the user's --set lines, which win. */
static int processor_configure(const struct processor *pr, const struct options *o,
                               const char *bootstraps, const char *const *extra) {
  FILE *f = fopen(pr->conf, "w");
  if (f == NULL)
    return fail("cannot write the run config");
  fprintf(f,
          "bootstrap.servers=%s\n"
          "consumer.group.id=cscflow-bench-%ld\n"
          "cscflow.state.dir=%s\n"
          "cscflow.clock=%s\n"
          "cscflow.batch.max=%ld\n"
          "cscflow.batch.ms=%ld\n",
          bootstraps, (long)getpid(), pr->state, o->clock, o->batch_max, o->batch_ms);
  char population[PATH_MAX];
  if (o->population && realpath(o->population, population) == NULL) {
    fclose(f);
    return fail("cannot find the population file");
  }
  if (o->population) /* absolute: the child may not share our directory for long */
    fprintf(f, "cscflow.population.file=%s\n", population);
  for (size_t i = 0; extra[i] != NULL; i++)
    fprintf(f, "%s\n", extra[i]);
  for (size_t i = 0; i < o->n_settings; i++)
    fprintf(f, "%s\n", o->settings[i]);
  if (fclose(f) != 0)
    return fail("cannot write the run config");
  return CSC_OK;
}

/* posix_spawn, not fork: this process runs librdkafka's threads. */
static int processor_start(struct processor *pr, const char *cscflow) {
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0)
    return fail("out of memory");
  int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0)
    rc = posix_spawn_file_actions_addopen(&fa, 1, pr->log, O_WRONLY | O_CREAT | O_APPEND, 0640);
  if (rc == 0)
    rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
  char *const argv[] = {(char *)cscflow, "run", "--config", pr->conf, NULL};
  if (rc == 0)
    rc = posix_spawn(&pr->pid, cscflow, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    pr->pid = 0;
    fprintf(stderr, "cscflow-bench-kafka: cannot start %s: %s\n", cscflow, strerror(rc));
    return CSC_EIO;
  }
  return CSC_OK;
}

static double seconds_of(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

/* Reaps the child if it has exited (noting its CPU time); 1 while it runs. */
static int processor_running(struct processor *pr) {
  if (pr->pid == 0)
    return 0;
  int status;
  struct rusage ru;
  const pid_t r = wait4(pr->pid, &status, WNOHANG, &ru);
  if (r == 0)
    return 1;
  pr->exit_ok = r == pr->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (r == pr->pid) {
    pr->cpu_s = seconds_of(ru.ru_utime) + seconds_of(ru.ru_stime);
    pr->major_faults = ru.ru_majflt;
  }
  pr->pid = 0;
  return 0;
}

/* SIGTERM (the processor finishes its batch, commits, flushes and exits),
 * then SIGKILL after STOP_TIMEOUT_S. CSC_OK when it exited with status 0. */
static int processor_stop(struct processor *pr) {
  if (pr->pid == 0)
    return pr->exit_ok ? CSC_OK : CSC_EIO;
  kill(pr->pid, SIGTERM);
  const double deadline = now_s() + STOP_TIMEOUT_S;
  for (int i = 0; i < 100000 && processor_running(pr) && now_s() < deadline; i++)
    sleep_s(POLL_S);
  if (pr->pid != 0) {
    kill(pr->pid, SIGKILL);
    waitpid(pr->pid, NULL, 0);
    pr->pid = 0;
    pr->exit_ok = 0;
    return fail("the processor did not stop on SIGTERM: killed");
  }
  return pr->exit_ok ? CSC_OK : fail("the processor exited with an error (see its run.log)");
}

/* Removes what processor_prepare made and the processor wrote: the named
 * files only, so that nothing else can go. */
static void processor_remove(const struct processor *pr) {
  char path[700];
  static const char *const state_files[] = {"data.mdb", "lock.mdb"};
  for (size_t i = 0; i < sizeof state_files / sizeof state_files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", pr->state, state_files[i]);
    unlink(path);
  }
  rmdir(pr->state);
  unlink(pr->conf);
  unlink(pr->log);
  rmdir(pr->dir);
}

/* The number in "field":N of the last line of the log whose event is
 * event; -1 when there is none. */
static long long log_field(const char *path, const char *event, const char *field) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  char line[4096], tag[128], name[128];
  snprintf(tag, sizeof tag, "\"event\":\"%s\"", event);
  snprintf(name, sizeof name, "\"%s\":", field);
  long long v = -1;
  for (long i = 0; i < 10000000 && fgets(line, sizeof line, f) != NULL; i++) {
    const char *at = strstr(line, tag) ? strstr(line, name) : NULL;
    if (at != NULL)
      v = strtoll(at + strlen(name), NULL, 10);
  }
  fclose(f);
  return v;
}

/* Lines of the log whose event is event. */
static long log_count(const char *path, const char *event) {
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  char line[4096], tag[128];
  snprintf(tag, sizeof tag, "\"event\":\"%s\"", event);
  long n = 0;
  for (long i = 0; i < 10000000 && fgets(line, sizeof line, f) != NULL; i++)
    n += strstr(line, tag) != NULL;
  fclose(f);
  return n;
}

/* ---- other work on the machine ---------------------------------------------------------- */

/* CPU time spent by the whole machine, by this process and by the child,
 * at one moment: over a measurement, what neither spent is other work on a
 * shared machine, which the figures should be read against. */
struct cpu_sample {
  double t, machine, self, child; /* seconds */
};

/* Busy time of all CPUs from /proc/stat's first line (idle and iowait aside). */
static double machine_busy_s(void) {
  FILE *f = fopen("/proc/stat", "r");
  unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, soft = 0,
                     steal = 0;
  if (f == NULL)
    return 0;
  const int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys,
                         &idle, &iowait, &irq, &soft, &steal);
  fclose(f);
  if (got < 8)
    return 0;
  return (double)(user + nice + sys + irq + soft + steal) / (double)sysconf(_SC_CLK_TCK);
}

/* utime + stime of process pid from /proc/PID/stat (fields 14 and 15, after
 * the parenthesised command name, which may hold spaces). */
static double process_cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')');
  unsigned long long utime = 0, stime = 0;
  if (p == NULL ||
      sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return 0;
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void cpu_sample_take(struct cpu_sample *s, pid_t child) {
  struct rusage ru;
  s->t = now_s();
  s->machine = machine_busy_s();
  s->self =
      getrusage(RUSAGE_SELF, &ru) == 0 ? seconds_of(ru.ru_utime) + seconds_of(ru.ru_stime) : 0;
  s->child = child > 0 ? process_cpu_s(child) : 0;
}

/* The share of the machine's CPU capacity that other work took between a
 * and b: 0 on a quiet machine, 0.5 when one of two cores was busy elsewhere. */
static double others_cpu_share(const struct cpu_sample *a, const struct cpu_sample *b) {
  const double capacity = (b->t - a->t) * (double)sysconf(_SC_NPROCESSORS_ONLN);
  const double others = (b->machine - a->machine) - (b->self - a->self) - (b->child - a->child);
  if (capacity <= 0 || others <= 0)
    return 0;
  return others > capacity ? 1 : others / capacity;
}

/* ---- the processor's state -------------------------------------------------------------- */

/* Messages of csc.events.v1 the processor has committed: the next positions
 * stored in its state, summed over partitions (offsets start at 0). Opened
 * afresh each time: the processor may grow the map in between. Fails (err
 * says why) before the processor has created the store, and when this
 * program cannot read it (a processor built with another schema version). */
static int state_committed(const char *dir, int partitions, int64_t *sum, char *err,
                           size_t errlen) {
  struct store *st;
  *sum = 0;
  int rc = store_open(dir, 1, &st, err, errlen);
  if (rc != CSC_OK)
    return rc;
  MDB_txn *txn;
  if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) == 0) {
    for (int32_t p = 0; p < partitions; p++) {
      int64_t next;
      if (store_get_position(st, txn, TOPIC_EVENTS, p, &next) == CSC_OK)
        *sum += next;
    }
    mdb_txn_abort(txn);
  } else {
    snprintf(err, errlen, "cannot begin a read transaction on the state");
    rc = CSC_ESTATE;
  }
  store_close(st);
  return rc;
}

/* events_applied summed over the LAs of the state. */
static int state_events_applied(const char *dir, uint64_t *sum) {
  struct store *st;
  char err[512];
  *sum = 0;
  if (store_open(dir, 1, &st, err, sizeof err) != CSC_OK)
    return fail("cannot open the processor's state");
  MDB_txn *txn = NULL;
  MDB_cursor *cur;
  int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
  if (rc == 0 && (rc = mdb_cursor_open(txn, st->las, &cur)) == 0) {
    MDB_val k, v;
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      struct la_state ls;
      if (v.mv_size == sizeof ls) {
        memcpy(&ls, v.mv_data, sizeof ls);
        *sum += ls.events_applied;
      }
    }
    mdb_cursor_close(cur);
  }
  if (txn != NULL)
    mdb_txn_abort(txn);
  store_close(st);
  return rc == 0 ? CSC_OK : fail("cannot read the processor's las table");
}

/* ---- throughput ------------------------------------------------------------------------- */

struct consume_timing {
  double assigned;      /* seconds from the start until every partition is assigned */
  double all_committed; /* seconds from the start until every message is committed */
};

/* Waits (up to timeout_s) until the state has committed target messages,
 * noting when the processor's log shows every partition assigned: the
 * processor has no readiness signal, and the time to start and join the
 * group (the mock holds a new group's first join ~3 s, as a broker's
 * initial rebalance delay does) is no part of its throughput. */
static int wait_committed(struct processor *pr, int partitions, int64_t target, double timeout_s,
                          double start, struct consume_timing *t) {
  memset(t, 0, sizeof *t);
  t->assigned = -1;
  const double deadline = start + timeout_s;
  for (long i = 0; i < (long)(timeout_s / POLL_S) + 10 && now_s() < deadline; i++) {
    if (interrupted)
      return fail("interrupted");
    if (!processor_running(pr))
      return fail("the processor exited before consuming everything (see its run.log)");
    int64_t done;
    char err[512];
    const int src = state_committed(pr->state, partitions, &done, err, sizeof err);
    /* The processor opens its state before it joins the group: by the
     * assignment the store must be readable. */
    if (src != CSC_OK && t->assigned >= 0) {
      fprintf(stderr, "cscflow-bench-kafka: %s\n", err);
      return fail("cannot read the processor's state (is it the same build as this program?)");
    }
    const double at = now_s() - start;
    if (t->assigned < 0 && log_count(pr->log, "partition_assigned") >= partitions)
      t->assigned = at;
    if (done >= target) {
      t->all_committed = at;
      if (t->assigned < 0)
        return fail("the processor's log shows no partition_assigned lines");
      return CSC_OK;
    }
    sleep_s(POLL_S);
  }
  return fail("the processor did not consume everything within --timeout");
}

/* events_applied over the LAs must be the events less the duplicates the
 * processor reported when it stopped. */
static int check_applied(const struct processor *pr, size_t events) {
  uint64_t applied;
  if (state_events_applied(pr->state, &applied) != CSC_OK)
    return CSC_ESTATE;
  const long long duplicates = log_field(pr->log, "run_stopping", "duplicates");
  printf("kafka_events_applied: %llu\n", (unsigned long long)applied);
  printf("kafka_duplicates: %lld\n", duplicates);
  if (duplicates < 0)
    return fail("the processor's log has no run_stopping line");
  if (applied + (uint64_t)duplicates != events)
    return fail("events_applied + duplicates is not the number of events produced");
  printf("kafka_applied_check: ok\n");
  return CSC_OK;
}

static void print_throughput(const struct options *o, size_t n, double produce_s,
                             const struct consume_timing *t, const struct processor *pr,
                             double others) {
  const double cpu_s = pr->cpu_s;
  const double consume = t->all_committed - t->assigned;
  printf("kafka_events: %zu\n", n);
  printf("kafka_partitions: %d\n", o->partitions);
  printf("kafka_batch_max: %ld\n", o->batch_max);
  printf("kafka_batch_ms: %ld\n", o->batch_ms);
  printf("kafka_clock: %s\n", o->clock);
  printf("kafka_compression: %s\n", o->compression);
  printf("kafka_produce_seconds: %.3f\n", produce_s);
  printf("kafka_produce_events_per_s: %.0f\n", (double)n / produce_s);
  printf("kafka_startup_seconds: %.3f\n", t->assigned);
  printf("kafka_consume_process_seconds: %.3f\n", consume);
  printf("kafka_consume_events_per_s: %.0f\n", consume > 0 ? (double)n / consume : 0.0);
  printf("kafka_e2e_events_per_s: %.0f\n", (double)n / (produce_s + consume));
  printf("kafka_e2e_with_startup_events_per_s: %.0f\n", (double)n / (produce_s + t->all_committed));
  /* The whole life of the process, stop included: a figure that other
   * work on the machine does not move much. */
  printf("kafka_processor_cpu_seconds: %.3f\n", cpu_s);
  if (cpu_s > 0)
    printf("kafka_events_per_cpu_s: %.0f\n", (double)n / cpu_s);
  printf("kafka_processor_major_faults: %ld\n", pr->major_faults);
  printf("kafka_others_cpu_share: %.3f\n", others);
}

static int run_throughput(const struct options *o) {
  /* Big batches: fewer, larger message sets, which the mock serves faster. */
  const struct prop produce_props[] = {{"linger.ms", "50"},
                                       {"batch.num.messages", "10000"},
                                       {"queue.buffering.max.messages", "1000000"},
                                       {"compression.codec", o->compression},
                                       {NULL, NULL}};
  static const char *const run_extra[] = {NULL};
  struct events ev;
  struct cluster k;
  struct producer p;
  struct processor pr;
  memset(&k, 0, sizeof k);
  memset(&p, 0, sizeof p);
  memset(&pr, 0, sizeof pr);
  struct consume_timing t;
  double produce_s = 0;

  int rc = events_load(&ev, o->input, (size_t)o->events);
  if (rc == CSC_OK && ev.n < (size_t)o->events)
    rc = fail("the input holds fewer events than --events");
  if (rc == CSC_OK)
    rc = check_partition_bytes("kafka", &ev, ev.n, o->partitions, o->compression);
  if (rc == CSC_OK)
    rc = cluster_start(&k, o->partitions);
  if (rc == CSC_OK)
    rc = producer_open(&p, k.bootstraps, o->partitions, produce_props);
  if (rc == CSC_OK) {
    const double t0 = now_s();
    rc = produce_range(&p, &ev, 0, ev.n);
    if (rc == CSC_OK)
      rc = producer_flush(&p, ev.n);
    produce_s = now_s() - t0;
  }
  if (rc == CSC_OK)
    rc = check_nothing_dropped(&p);
  if (rc == CSC_OK)
    rc = processor_prepare(&pr, o->work, "throughput");
  if (rc == CSC_OK)
    rc = processor_configure(&pr, o, k.bootstraps, run_extra);
  struct cpu_sample before, after;
  if (rc == CSC_OK) {
    cpu_sample_take(&before, 0);
    rc = processor_start(&pr, o->cscflow);
    if (rc == CSC_OK)
      rc = wait_committed(&pr, o->partitions, (int64_t)ev.n, o->timeout_s, before.t, &t);
    cpu_sample_take(&after, pr.pid);
  }
  const int stop_rc = processor_stop(&pr);
  if (rc == CSC_OK)
    rc = stop_rc;
  if (rc == CSC_OK) {
    print_throughput(o, ev.n, produce_s, &t, &pr, others_cpu_share(&before, &after));
    rc = check_applied(&pr, ev.n);
  }
  if (pr.dir[0] != '\0' && (rc != CSC_OK || o->keep))
    fprintf(stderr, "cscflow-bench-kafka: run directory kept: %s\n", pr.dir);
  else if (pr.dir[0] != '\0')
    processor_remove(&pr);
  producer_close(&p);
  cluster_stop(&k);
  events_free(&ev);
  return rc;
}

/* ---- latency: reading the snapshots --------------------------------------------------- */

struct arrival {
  double t;         /* when the snapshot was read */
  uint64_t applied; /* its events_applied */
  uint8_t la;
};

/* An input event as a consumer with the processor's fetch settings sees it:
 * the mock's share of the latency (produce, fetch), without the processor. */
struct hop {
  double t;
  int64_t offset;
  int32_t partition;
};

struct reader {
  pthread_t thread;
  int started;
  rd_kafka_t *rk;
  const struct events *ev;
  double deadline;
  int partitions;           /* of csc.events.v1 */
  struct arrival *arrivals; /* written by the thread; read after it is joined */
  size_t n, cap, overflow, unreadable;
  struct hop *hops; /* likewise */
  size_t n_hops, cap_hops;
  atomic_size_t read; /* snapshots read so far, for the main thread */
  atomic_int stop;
  _Atomic uint64_t latest[MAX_LAS]; /* events_applied of each LA's newest snapshot */
};

/* events_applied (field 4) of an IndicatorSnapshot, read off the wire
 * without unpacking its hundreds of values: this process shares two cores
 * with the processor it measures. */
static int snapshot_events_applied(const uint8_t *p, size_t len, uint64_t *out) {
  size_t at = 0;
  for (int fields = 0; at < len && fields < 100000; fields++) {
    uint64_t key, v;
    size_t used = varint_decode(p + at, len - at, &key);
    if (used == 0)
      return CSC_EINVAL;
    at += used;
    switch (key & 7) {
    case 0:
      if ((used = varint_decode(p + at, len - at, &v)) == 0)
        return CSC_EINVAL;
      at += used;
      if ((key >> 3) == 4) {
        *out = v;
        return CSC_OK;
      }
      break;
    case 1: at += 8; break;
    case 2:
      if ((used = varint_decode(p + at, len - at, &v)) == 0 || v > len - at - used)
        return CSC_EINVAL;
      at += used + v;
      break;
    case 5: at += 4; break;
    default: return CSC_EINVAL;
    }
  }
  return CSC_ENOTFOUND;
}

static int la_of_key(const struct events *ev, const void *key, size_t len, uint8_t *out) {
  for (size_t i = 0; i < ev->n_las; i++)
    if (strlen(ev->las[i]) == len && memcmp(ev->las[i], key, len) == 0) {
      *out = (uint8_t)i;
      return CSC_OK;
    }
  return CSC_ENOTFOUND;
}

static void reader_take_event(struct reader *r, const rd_kafka_message_t *m, double t) {
  if (r->n_hops == r->cap_hops) {
    r->overflow++;
    return;
  }
  r->hops[r->n_hops++] = (struct hop){t, m->offset, m->partition};
}

static void reader_take(struct reader *r, const rd_kafka_message_t *m, double t) {
  uint8_t la;
  uint64_t applied;
  if (strcmp(rd_kafka_topic_name(m->rkt), TOPIC_EVENTS) == 0) {
    reader_take_event(r, m, t);
    return;
  }
  if (m->key == NULL || la_of_key(r->ev, m->key, m->key_len, &la) != CSC_OK ||
      snapshot_events_applied(m->payload, m->len, &applied) != CSC_OK) {
    r->unreadable++;
    return;
  }
  if (applied > atomic_load(&r->latest[la]))
    atomic_store(&r->latest[la], applied);
  atomic_fetch_add(&r->read, 1);
  if (r->n == r->cap) {
    r->overflow++;
    return;
  }
  r->arrivals[r->n++] = (struct arrival){t, applied, la};
}

static void *reader_main(void *arg) {
  struct reader *r = arg;
  while (!atomic_load(&r->stop) && now_s() < r->deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 5);
    const double t = now_s();
    if (m == NULL)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
      reader_take(r, m, t);
    rd_kafka_message_destroy(m);
  }
  return NULL;
}

/* A consumer of csc.indicators.v1 and csc.events.v1 from their start, on a
 * thread of its own so that arrival times are not held up by the paced
 * producer. cap bounds the snapshots and the events recorded. */
static int reader_start(struct reader *r, const struct events *ev, int partitions,
                        const char *bootstraps, size_t cap, double budget_s) {
  char err[512];
  r->ev = ev;
  r->partitions = partitions;
  r->deadline = now_s() + budget_s;
  r->cap = r->cap_hops = cap;
  r->arrivals = malloc(cap * sizeof *r->arrivals);
  r->hops = malloc(cap * sizeof *r->hops);
  if (r->arrivals == NULL || r->hops == NULL)
    return fail("out of memory");
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const struct prop props[] = {{"bootstrap.servers", bootstraps},
                               {"group.id", "cscflow-bench-reader"},
                               {"enable.auto.commit", "false"},
                               {"fetch.wait.max.ms", "1"},
                               {NULL, NULL}};
  if (conf == NULL || conf_set_all(conf, props) != CSC_OK) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    return CSC_EINVAL;
  }
  rd_kafka_conf_set_log_cb(conf, kafka_log_json); /* librdkafka's lines as JSON lines */
  r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (r->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    return fail("cannot create the snapshot reader");
  }
  rd_kafka_poll_set_consumer(r->rk);
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions + 1);
  rd_kafka_topic_partition_list_add(parts, TOPIC_INDICATORS, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  for (int32_t p = 0; p < partitions; p++)
    rd_kafka_topic_partition_list_add(parts, TOPIC_EVENTS, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  const rd_kafka_resp_err_t e = rd_kafka_assign(r->rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return fail("cannot assign the topics to the reader");
  if (pthread_create(&r->thread, NULL, reader_main, r) != 0)
    return fail("cannot start the reader thread");
  r->started = 1;
  return CSC_OK;
}

static void reader_stop(struct reader *r) {
  atomic_store(&r->stop, 1);
  if (r->started)
    pthread_join(r->thread, NULL);
  r->started = 0;
  if (r->rk) {
    rd_kafka_assign(r->rk, NULL);
    rd_kafka_consumer_close(r->rk);
    rd_kafka_destroy(r->rk);
    r->rk = NULL;
  }
}

/* Waits until each LA's newest snapshot has applied expected[la] events. */
static int wait_published(struct reader *r, struct processor *pr, const uint64_t *expected,
                          double timeout_s) {
  const double deadline = now_s() + timeout_s;
  for (long i = 0; i < (long)(timeout_s / POLL_S) + 10 && now_s() < deadline; i++) {
    if (interrupted)
      return fail("interrupted");
    if (!processor_running(pr))
      return fail("the processor exited (see its run.log)");
    size_t behind = 0;
    for (size_t la = 0; la < r->ev->n_las; la++)
      behind += atomic_load(&r->latest[la]) < expected[la];
    if (behind == 0)
      return CSC_OK;
    sleep_s(POLL_S);
  }
  return fail("the snapshots did not catch up with the events produced in time");
}

/* ---- latency: producing and measuring ------------------------------------------------ */

/* Produces events [from, from + n) one at a time, event j due at
 * start + j / rate; notes when each was handed over and how late the
 * loop ran at worst. */
static int produce_paced(struct producer *p, const struct events *ev, size_t from, size_t n,
                         double rate, double *t_produce, double *worst_late) {
  const double start = now_s() + 0.01;
  *worst_late = 0;
  for (size_t j = 0; j < n; j++) {
    if (interrupted)
      return fail("interrupted");
    const double due = start + (double)j / rate;
    sleep_until(due);
    const double t = now_s();
    if (t - due > *worst_late)
      *worst_late = t - due;
    t_produce[j] = t;
    if (produce_event(p, ev, from + j) != CSC_OK)
      return CSC_EKAFKA;
    rd_kafka_poll(p->rk, 0);
  }
  return CSC_OK;
}

/* Per LA, the events of [0, upto) (a new state applies every one). */
static void count_per_la(const struct events *ev, size_t upto, uint64_t *counts) {
  memset(counts, 0, MAX_LAS * sizeof *counts);
  for (size_t i = 0; i < upto; i++)
    counts[ev->la[i]]++;
}

/* latency[j] (ms) of measured event from + j: the first snapshot of its LA
 * whose events_applied less base[la] reaches the event's rank among its
 * LA's measured events; NAN when none does. Snapshots are in arrival order. */
static int match_snapshots(const struct events *ev, size_t from, size_t n, const double *t_produce,
                           const struct reader *r, const uint64_t *base, double *latency) {
  size_t *next = malloc(n * sizeof *next); /* next measured event of the same LA */
  uint64_t *rank = malloc(n * sizeof *rank);
  if (next == NULL || rank == NULL) {
    free(next);
    free(rank);
    return fail("out of memory");
  }
  size_t head[MAX_LAS], tail[MAX_LAS];
  uint64_t seen[MAX_LAS] = {0};
  for (size_t la = 0; la < MAX_LAS; la++)
    head[la] = tail[la] = SIZE_MAX;
  for (size_t j = 0; j < n; j++) {
    const uint8_t la = ev->la[from + j];
    latency[j] = NAN;
    next[j] = SIZE_MAX;
    rank[j] = ++seen[la];
    if (tail[la] == SIZE_MAX)
      head[la] = j;
    else
      next[tail[la]] = j;
    tail[la] = j;
  }
  for (size_t s = 0; s < r->n; s++) {
    const struct arrival *a = &r->arrivals[s];
    if (a->applied <= base[a->la])
      continue;
    const uint64_t upto = a->applied - base[a->la];
    for (size_t j = head[a->la]; j != SIZE_MAX && rank[j] <= upto; j = next[j]) {
      latency[j] = (a->t - t_produce[j]) * 1000.0;
      head[a->la] = next[j];
    }
  }
  free(next);
  free(rank);
  return CSC_OK;
}

/* hop[j] (ms) of measured event from + j: when the reader saw it on
 * csc.events.v1. On a new topic an event's offset is its rank among the
 * events produced to its partition. NAN when it was not seen. */
static int match_hops(const struct events *ev, size_t from, size_t n, const double *t_produce,
                      const struct reader *r, double *hop) {
  const size_t total = from + n;
  size_t start[MAX_PARTITIONS + 1] = {0}, fill[MAX_PARTITIONS] = {0};
  size_t *by_offset = malloc((total ? total : 1) * sizeof *by_offset);
  if (by_offset == NULL)
    return fail("out of memory");
  for (size_t i = 0; i < total; i++)
    start[partition_of(ev, i, r->partitions) + 1]++;
  for (int p = 0; p < r->partitions; p++)
    start[p + 1] += start[p];
  for (size_t i = 0; i < total; i++) {
    const int32_t p = partition_of(ev, i, r->partitions);
    by_offset[start[p] + fill[p]++] = i;
  }
  for (size_t j = 0; j < n; j++)
    hop[j] = NAN;
  for (size_t h = 0; h < r->n_hops; h++) {
    const struct hop *x = &r->hops[h];
    if (x->partition < 0 || x->partition >= r->partitions || x->offset < 0 ||
        (size_t)x->offset >= start[x->partition + 1] - start[x->partition])
      continue;
    const size_t i = by_offset[start[x->partition] + (size_t)x->offset];
    if (i >= from && isnan(hop[i - from]))
      hop[i - from] = (x->t - t_produce[i - from]) * 1000.0;
  }
  free(by_offset);
  return CSC_OK;
}

static int compare_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least q of them at or below it. */
static double percentile(const double *sorted, size_t n, double q) {
  size_t i = (size_t)ceil(q * (double)n);
  return sorted[i > 0 ? i - 1 : 0];
}

/* A latency distribution in ms; NAN entries (never seen) are counted apart. */
struct dist {
  size_t n, missing, negative;
  double mean, p50, p90, p99, p999, max;
};

static int summarize(const double *v, size_t n, struct dist *d) {
  memset(d, 0, sizeof *d);
  double *ok = malloc((n ? n : 1) * sizeof *ok), sum = 0;
  if (ok == NULL)
    return fail("out of memory");
  for (size_t j = 0; j < n; j++) {
    if (isnan(v[j])) {
      d->missing++;
      continue;
    }
    d->negative += v[j] < 0;
    sum += v[j];
    ok[d->n++] = v[j];
  }
  qsort(ok, d->n, sizeof *ok, compare_double);
  if (d->n > 0) {
    d->mean = sum / (double)d->n;
    d->p50 = percentile(ok, d->n, 0.50);
    d->p90 = percentile(ok, d->n, 0.90);
    d->p99 = percentile(ok, d->n, 0.99);
    d->p999 = percentile(ok, d->n, 0.999);
    d->max = ok[d->n - 1];
  }
  free(ok);
  return CSC_OK;
}

static void print_dist(const char *prefix, const struct dist *d) {
  if (d->n == 0)
    return;
  printf("%s_mean_ms: %.3f\n", prefix, d->mean);
  printf("%s_p50_ms: %.3f\n", prefix, d->p50);
  printf("%s_p90_ms: %.3f\n", prefix, d->p90);
  printf("%s_p99_ms: %.3f\n", prefix, d->p99);
  printf("%s_p999_ms: %.3f\n", prefix, d->p999);
  printf("%s_max_ms: %.3f\n", prefix, d->max);
}

struct latency_figures {
  double worst_late;       /* the paced producer's worst lateness, s */
  size_t snapshots_before; /* snapshots read before the measurement */
  double cpu_s;            /* the processor's CPU time, warm-up and stop included */
  long major_faults;       /* the processor's, likewise */
  double others;           /* others_cpu_share over the measurement */
};

/* The figures, then the accounting checks: every measured event published,
 * none before it was produced, every snapshot read. */
static int print_latency(const struct options *o, size_t n, const double *t_produce,
                         const double *latency, const double *hop, const struct reader *r,
                         const struct latency_figures *f) {
  struct dist total, input;
  if (summarize(latency, n, &total) != CSC_OK || summarize(hop, n, &input) != CSC_OK)
    return CSC_ENOMEM;
  const double span = n > 1 ? t_produce[n - 1] - t_produce[0] : 0;
  printf("latency_events: %zu\n", total.n);
  printf("latency_unpublished: %zu\n", total.missing);
  printf("latency_rate: %.0f\n", span > 0 ? (double)(n - 1) / span : 0.0);
  printf("latency_batch_max: %ld\n", o->batch_max);
  printf("latency_batch_ms: %ld\n", o->batch_ms);
  printf("latency_clock: %s\n", o->clock);
  printf("latency_producer_late_max_ms: %.3f\n", f->worst_late * 1000.0);
  printf("latency_snapshots: %zu\n", atomic_load(&r->read) - f->snapshots_before);
  printf("latency_processor_cpu_seconds: %.3f\n", f->cpu_s);
  printf("latency_processor_major_faults: %ld\n", f->major_faults);
  printf("latency_others_cpu_share: %.3f\n", f->others);
  print_dist("latency", &total);
  /* Produce to a plain consumer of the input topic: the mock's share. */
  print_dist("latency_input_hop", &input);
  if (r->overflow > 0 || r->unreadable > 0)
    return fail("some snapshots could not be read or recorded");
  if (total.negative > 0)
    return fail("a snapshot counted an event before it was produced: the accounting is off");
  if (total.missing > 0)
    return fail("some measured events never showed in a snapshot");
  return CSC_OK;
}

struct latency_run {
  struct events ev;
  struct cluster k;
  struct producer p;
  struct processor pr;
  struct reader r;
  double *t_produce, *latency, *hop; /* per measured event */
};

static void latency_run_close(struct latency_run *L, const struct options *o, int rc) {
  reader_stop(&L->r);
  processor_stop(&L->pr);
  if (L->pr.dir[0] != '\0' && (rc != CSC_OK || o->keep))
    fprintf(stderr, "cscflow-bench-kafka: run directory kept: %s\n", L->pr.dir);
  else if (L->pr.dir[0] != '\0')
    processor_remove(&L->pr);
  producer_close(&L->p);
  cluster_stop(&L->k);
  free(L->r.arrivals);
  free(L->r.hops);
  free(L->t_produce);
  free(L->latency);
  free(L->hop);
  events_free(&L->ev);
}

/* The warm-up: the processor has joined its group, opened its state and
 * published a snapshot of each LA of the burst. */
static int warm_up(struct latency_run *L, const struct options *o, uint64_t *base) {
  const size_t w = (size_t)o->warmup;
  count_per_la(&L->ev, w, base);
  int rc = produce_range(&L->p, &L->ev, 0, w);
  if (rc == CSC_OK)
    rc = producer_flush(&L->p, w);
  if (rc == CSC_OK)
    rc = wait_published(&L->r, &L->pr, base, o->timeout_s);
  if (rc == CSC_OK)
    sleep_s(0.5); /* let the burst's last batches settle */
  return rc;
}

static int run_latency(const struct options *o) {
  /* One request per event, sent at once. */
  const struct prop produce_props[] = {
      {"linger.ms", "0"}, {"compression.codec", o->compression}, {NULL, NULL}};
  /* The processor's side of low latency: fetch without waiting, publish at once. */
  static const char *const run_extra[] = {"consumer.fetch.wait.max.ms=1", "producer.linger.ms=0",
                                          NULL};
  const size_t w = (size_t)o->warmup, n = (size_t)llround(o->rate * o->seconds);
  struct latency_run L;
  memset(&L, 0, sizeof L);
  uint64_t base[MAX_LAS], all[MAX_LAS];
  struct latency_figures f = {0, 0, 0, 0, 0};
  struct cpu_sample before, after;

  int rc = n >= 2 ? events_load(&L.ev, o->input, w + n) : fail("--rate x --seconds is under 2");
  if (rc == CSC_OK && L.ev.n < w + n)
    rc = fail("the input holds fewer events than --warmup + --rate x --seconds");
  if (rc == CSC_OK && ((L.t_produce = malloc(n * sizeof *L.t_produce)) == NULL ||
                       (L.latency = malloc(n * sizeof *L.latency)) == NULL ||
                       (L.hop = malloc(n * sizeof *L.hop)) == NULL))
    rc = fail("out of memory");
  if (rc == CSC_OK)
    rc = check_partition_bytes("latency", &L.ev, w + n, o->partitions, o->compression);
  if (rc == CSC_OK)
    rc = cluster_start(&L.k, o->partitions);
  /* A snapshot per LA a batch touched: never more than the events, bar the
   * live clock's midnight tick (one per LA). */
  if (rc == CSC_OK)
    rc = reader_start(&L.r, &L.ev, o->partitions, L.k.bootstraps, w + n + 4 * MAX_LAS,
                      2 * o->timeout_s + o->seconds + PUBLISH_TIMEOUT_S);
  if (rc == CSC_OK)
    rc = producer_open(&L.p, L.k.bootstraps, o->partitions, produce_props);
  if (rc == CSC_OK)
    rc = processor_prepare(&L.pr, o->work, "latency");
  if (rc == CSC_OK)
    rc = processor_configure(&L.pr, o, L.k.bootstraps, run_extra);
  if (rc == CSC_OK)
    rc = processor_start(&L.pr, o->cscflow);
  if (rc == CSC_OK)
    rc = warm_up(&L, o, base);
  if (rc == CSC_OK) {
    f.snapshots_before = atomic_load(&L.r.read);
    cpu_sample_take(&before, L.pr.pid);
    rc = produce_paced(&L.p, &L.ev, w, n, o->rate, L.t_produce, &f.worst_late);
  }
  if (rc == CSC_OK)
    rc = producer_flush(&L.p, w + n);
  if (rc == CSC_OK)
    rc = check_nothing_dropped(&L.p);
  if (rc == CSC_OK) {
    count_per_la(&L.ev, w + n, all);
    rc = wait_published(&L.r, &L.pr, all, PUBLISH_TIMEOUT_S);
    cpu_sample_take(&after, L.pr.pid);
    f.others = others_cpu_share(&before, &after);
  }
  reader_stop(&L.r);
  const int stop_rc = processor_stop(&L.pr);
  if (rc == CSC_OK)
    rc = stop_rc;
  f.cpu_s = L.pr.cpu_s;
  f.major_faults = L.pr.major_faults;
  if (rc == CSC_OK)
    rc = match_snapshots(&L.ev, w, n, L.t_produce, &L.r, base, L.latency);
  if (rc == CSC_OK)
    rc = match_hops(&L.ev, w, n, L.t_produce, &L.r, L.hop);
  if (rc == CSC_OK)
    rc = print_latency(o, n, L.t_produce, L.latency, L.hop, &L.r, &f);
  latency_run_close(&L, o, rc);
  return rc;
}

int main(int argc, char **argv) {
  struct options o;
  const int urc = parse_options(argc, argv, &o);
  if (urc != 0)
    return urc;
  setvbuf(stdout, NULL, _IOLBF, 0);
  install_signals();
  const int rc = o.mode == MODE_THROUGHPUT ? run_throughput(&o) : run_latency(&o);
  return rc == CSC_OK ? 0 : 1;
}
