/*
 * cscflow — the stream processor's command line: replay, snapshot, run, demo.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "ingest/redrive.h"
#include "serve/feed.h"
#include "serve/serve.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int cli_exit_status(int rc) {
  switch (rc) {
  case CSC_EDAMAGED: return EXIT_STATE_DAMAGED;
  case CSC_ENOSPC: return EXIT_STATE_NOSPACE;
  case CSC_ELOCKED: return EXIT_STATE_LOCKED;
  default: return 1;
  }
}

void cli_state_fault(const char *cmd, const char *dir, int rc) {
  if (rc == CSC_ENOSPC)
    fprintf(stderr,
            "cscflow %s: state %s: could not be written (no space left, a quota or an I/O "
            "error; %lld bytes free on its filesystem). Every batch committed before is kept: "
            "free space and run the same command again, it resumes after the last commit\n",
            cmd, dir, (long long)store_free_bytes(dir));
  else if (rc == CSC_EDAMAGED)
    fprintf(stderr,
            "cscflow %s: state %s: LMDB reports damage (lmdb_error above); restore it from a "
            "copy, or rebuild it: replay the input topic into an empty state directory, or the "
            "files it came from\n",
            cmd, dir);
}

static void usage(FILE *f) {
  fputs("usage:\n"
        "  cscflow replay --input FILE --state DIR [--config FILE] [--population FILE]\n"
        "                 [--out-dir DIR] [--batch N] [--durable] [--now TIME]\n"
        "  cscflow snapshot --state DIR [--la CODE] [--json]\n"
        "  cscflow run --config FILE\n"
        "  cscflow serve --state DIR [--config FILE] [--address IP] [--port N]\n"
        "  cscflow redrive --config FILE [--reason R] [--from TIME] [--until TIME] [--rekey]\n"
        "  cscflow import 903 --la CODE --year YYYY --out FILE [--report FILE]\n"
        "                     [--until YYYY-MM-DD] TABLE.csv...\n"
        "  cscflow import cin --la CODE --out FILE [--report FILE] [--until YYYY-MM-DD]\n"
        "                     CENSUS.xml...\n"
        "  cscflow demo [--duration SECONDS] [--las N] [--years N] [--seed N] [--scale X]\n"
        "               [--rate EVENTS_PER_S] [--mess RATE] [--state DIR] [--port N]\n",
        f);
}

int cli_load_population(struct population *pop, const struct config *cfg, const char *csv) {
  char err[512];
  if (population_load_config(pop, cfg, err, sizeof err) != CSC_OK ||
      (csv != NULL && population_load_csv(pop, csv, err, sizeof err) != CSC_OK)) {
    fprintf(stderr, "cscflow: population: %s\n", err);
    return EXIT_CONFIG;
  }
  return 0;
}

#ifndef CSCFLOW_REFERENCE_DIR
#define CSCFLOW_REFERENCE_DIR "reference"
#endif

int cli_load_coverage(struct coverage *c, const struct config *cfg,
                      const struct la_registry *las) {
  char err[512];
  if (coverage_load(c, cfg, las, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s\n", err);
    return EXIT_CONFIG;
  }
  return 0;
}

int cli_load_refdata(struct refdata *ref, const struct config *cfg) {
  char err[512];
  if (refdata_load(ref, cfg, CSCFLOW_REFERENCE_DIR "/bank-holidays-england-and-wales.txt", err,
                   sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow: reference data: %s\n", err);
    return EXIT_CONFIG;
  }
  return 0;
}

/* cscflow's own keys. Any other key under "cscflow." is refused: a typo
 * (cscflow.batch.mx) would otherwise leave the default silently in force. An
 * entry ending in '.' stands for every key under it; those keys are checked
 * by their own loaders (population table, visit intervals). */
static const char *const known_keys[] = {
    "cscflow.state.dir",          "cscflow.state.map_size",         "cscflow.topic.events",
    "cscflow.clock",              "cscflow.batch.max",              "cscflow.batch.ms",
    "cscflow.population.",        "cscflow.calendar.bank_holidays", "cscflow.calendar.inclusive",
    "cscflow.visits.",            "cscflow.batch.by_child",         "cscflow.state.durable",
    "cscflow.api.token.",         "cscflow.api.operator_token",     "cscflow.api.port",
    "cscflow.api.address",        "cscflow.ready.max_lag",          "cscflow.api.max_connections",
    "cscflow.api.max_connections_per_client",                       "cscflow.api.header_timeout_s",
    "cscflow.las",                "cscflow.la.alias.",              "cscflow.clock.tolerance_s",
    "cscflow.redrive.group",      "cscflow.on_offset_gap",          "cscflow.codes.file",
    "cscflow.feeds.",
    "cscflow.feed.client.",       "cscflow.feed.signing_key",       "cscflow.feed.max_body_bytes",
    "cscflow.feed.ack_timeout_ms"};

static int known_key(const char *key) {
  for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++) {
    const char *k = known_keys[i];
    const size_t n = strlen(k);
    if (k[n - 1] == '.' ? strncmp(key, k, n) == 0 && key[n] != '\0' : strcmp(key, k) == 0)
      return 1;
  }
  return 0;
}

/* An integer key within [lo, hi], when present. */
static int check_range(const struct config *cfg, const char *key, long lo, long hi) {
  long v;
  if (config_get_long(cfg, key, lo, &v) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s: expected an integer\n", key);
    return EXIT_CONFIG;
  }
  if (v < lo || v > hi) {
    fprintf(stderr, "cscflow: config: %s: must be between %ld and %ld\n", key, lo, hi);
    return EXIT_CONFIG;
  }
  return 0;
}

/* One of the words in alts (NULL-terminated), when present. */
static int check_word(const struct config *cfg, const char *key, const char *const *alts,
                      const char *expected) {
  const char *v = config_get(cfg, key);
  if (v == NULL)
    return 0;
  for (size_t i = 0; alts[i] != NULL; i++)
    if (strcmp(v, alts[i]) == 0)
      return 0;
  fprintf(stderr, "cscflow: config: %s: expected %s\n", key, expected);
  return EXIT_CONFIG;
}

/* The API's connection limits (serve.h): each in range, and no client
 * allowed more connections than there are in all. */
#define API_MAX_CONNECTIONS_LIMIT 4096

static int check_api_limits(const struct config *cfg) {
  int rc = check_range(cfg, "cscflow.api.max_connections", 16, API_MAX_CONNECTIONS_LIMIT);
  if (rc == 0)
    rc = check_range(cfg, "cscflow.api.max_connections_per_client", 1, API_MAX_CONNECTIONS_LIMIT);
  if (rc == 0)
    rc = check_range(cfg, "cscflow.api.header_timeout_s", 1, 300);
  long total = API_MAX_CONNECTIONS_DEFAULT, per_client = API_MAX_CONNECTIONS_PER_CLIENT_DEFAULT;
  config_get_long(cfg, "cscflow.api.max_connections", total, &total);
  config_get_long(cfg, "cscflow.api.max_connections_per_client", per_client, &per_client);
  if (rc == 0 && per_client > total) {
    fprintf(stderr,
            "cscflow: config: cscflow.api.max_connections_per_client: %ld is more than "
            "cscflow.api.max_connections (%ld)\n",
            per_client, total);
    rc = EXIT_CONFIG;
  }
  return rc;
}

/* Every cscflow key's value that has no loader of its own to check it, so
 * that replay and run refuse the same file with the same message (exit 78). */
static int validate_config(const struct config *cfg) {
  for (size_t i = 0; i < cfg->n; i++) {
    const char *key = cfg->entries[i].key;
    if (strncmp(key, "cscflow.", 8) == 0 && !known_key(key)) {
      fprintf(stderr, "cscflow: config: %s: unknown key (cscflow's keys are listed in README.md)\n",
              key);
      return EXIT_CONFIG;
    }
  }
  static const char *const non_empty[] = {"cscflow.state.dir", "cscflow.topic.events",
                                          "cscflow.redrive.group",
                                          "cscflow.population.file",
                                          "cscflow.calendar.bank_holidays"};
  for (size_t i = 0; i < sizeof non_empty / sizeof non_empty[0]; i++) {
    const char *v = config_get(cfg, non_empty[i]);
    if (v != NULL && *v == '\0') {
      fprintf(stderr, "cscflow: config: %s: must not be empty\n", non_empty[i]);
      return EXIT_CONFIG;
    }
  }
  static const char *const clocks[] = {"live", "replay", NULL}, *const bools[] = {"true", "false",
                                                                                 NULL};
  int rc = check_word(cfg, "cscflow.clock", clocks, "live or replay");
  if (rc == 0)
    rc = check_word(cfg, "cscflow.calendar.inclusive", bools, "true or false");
  if (rc == 0)
    rc = check_word(cfg, "cscflow.batch.by_child", bools, "true or false");
  if (rc == 0)
    rc = check_word(cfg, "cscflow.state.durable", bools, "true or false");
  static const char *const gap_actions[] = {"stop", "skip", NULL};
  if (rc == 0)
    rc = check_word(cfg, "cscflow.on_offset_gap", gap_actions, "stop or skip");
  /* The engine allocates batch.max messages up front. */
  if (rc == 0)
    rc = check_range(cfg, "cscflow.batch.max", 1, 1000000);
  if (rc == 0)
    rc = check_range(cfg, "cscflow.batch.ms", 1, 60000);
  /* LMDB needs a few pages for its own tables; the map doubles from there. */
  if (rc == 0)
    rc = check_range(cfg, "cscflow.state.map_size", 65536, (long)1 << 40);
  if (rc == 0)
    rc = check_range(cfg, "cscflow.api.port", 0, 65535);
  if (rc == 0)
    rc = check_range(cfg, "cscflow.ready.max_lag", 1, (long)1 << 40);
  if (rc == 0)
    rc = check_range(cfg, "cscflow.clock.tolerance_s", 1, 366L * 24 * 3600);
  if (rc == 0)
    rc = check_api_limits(cfg);
  const char *address = config_get(cfg, "cscflow.api.address");
  struct in_addr ip;
  if (rc == 0 && address != NULL && inet_pton(AF_INET, address, &ip) != 1) {
    fprintf(stderr, "cscflow: config: cscflow.api.address: expected an IPv4 address\n");
    rc = EXIT_CONFIG;
  }
  return rc;
}

static int load_config(struct config *cfg, const char *path) {
  char err[1024];
  if (path != NULL && config_load(cfg, path, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s\n", err);
    return EXIT_CONFIG;
  }
  return validate_config(cfg);
}

int cli_load_config(struct config *cfg, const char *path) { return load_config(cfg, path); }

/* cscflow.state.map_size, already checked by validate_config. */
static size_t config_map_size(const struct config *cfg) {
  long v = 0;
  return config_get_long(cfg, "cscflow.state.map_size", 0, &v) == CSC_OK ? (size_t)v : 0;
}

/* A true/false key already checked by validate_config; def when absent. */
static int config_flag(const struct config *cfg, const char *key, int def) {
  const char *v = config_get(cfg, key);
  return v == NULL ? def : strcmp(v, "true") == 0;
}

static int config_long(const struct config *cfg, const char *key, long def, long *out) {
  if (config_get_long(cfg, key, def, out) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s: expected an integer\n", key);
    return EXIT_CONFIG;
  }
  return 0;
}

/* The LAs served and their canonical codes (cscflow.las,
 * cscflow.la.alias.*); exit 78 with the key on a bad one. */
static int load_las(struct la_registry *las, const struct config *cfg) {
  char err[512];
  if (la_registry_load(las, cfg, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s\n", err);
    return EXIT_CONFIG;
  }
  return 0;
}

/* cscflow.clock.tolerance_s in ms (checked by validate_config); 0: the
 * engine's default, a day. */
static int64_t config_clock_tolerance_ms(const struct config *cfg) {
  long v = 0;
  config_get_long(cfg, "cscflow.clock.tolerance_s", 0, &v);
  return (int64_t)v * 1000;
}

/* cscflow.on_offset_gap (checked by validate_config): 1 for skip. Only an
 * explicit skip goes on past events the log no longer holds (engine.h). */
static int config_offset_gap_skip(const struct config *cfg) {
  const char *v = config_get(cfg, "cscflow.on_offset_gap");
  return v != NULL && strcmp(v, "skip") == 0;
}

/* The most consumer lag /readyz still calls ready (cscflow.ready.max_lag). */
#define READY_MAX_LAG_DEFAULT 1000

static int64_t config_max_lag(const struct config *cfg) {
  long v = READY_MAX_LAG_DEFAULT;
  config_get_long(cfg, "cscflow.ready.max_lag", READY_MAX_LAG_DEFAULT, &v); /* checked */
  return v;
}

/* The API's limits (checked by validate_config); absent keys stay 0, the
 * default. */
static void config_api_limits(const struct config *cfg, struct serve_options *so) {
  long v;
  if (config_get_long(cfg, "cscflow.api.max_connections", 0, &v) == CSC_OK)
    so->max_connections = (unsigned)v;
  if (config_get_long(cfg, "cscflow.api.max_connections_per_client", 0, &v) == CSC_OK)
    so->max_connections_per_client = (unsigned)v;
  if (config_get_long(cfg, "cscflow.api.header_timeout_s", 0, &v) == CSC_OK)
    so->header_timeout_s = (unsigned)v;
}

/* ---- test-only fault injection ------------------------------------------------ */

/* CSCFLOW_TEST_KILL_AT="commit:N", "committed:N" or "publish:N": the process
 * kills itself with SIGKILL at the Nth time the engine passes that point
 * (engine.h, enum engine_fault_point), so that tests/test_crash.c can crash it
 * inside a batch's transaction, between a commit and its publication, and in
 * the middle of a publication. Unset, the engine gets no hook at all. */
struct kill_at {
  enum engine_fault_point point;
  long n, seen;
};

static void kill_at_fault(void *ctx, enum engine_fault_point point) {
  struct kill_at *k = ctx;
  if (point == k->point && ++k->seen == k->n)
    raise(SIGKILL);
}

/* 0, or -1 when the variable is set but malformed (so a test cannot pass
 * without the fault it asked for). */
static int kill_at_parse(const char *spec, struct kill_at *k) {
  static const struct {
    const char *name;
    enum engine_fault_point point;
  } names[] = {{"commit:", ENGINE_FAULT_COMMIT},
               {"committed:", ENGINE_FAULT_COMMITTED},
               {"publish:", ENGINE_FAULT_PUBLISH}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const size_t len = strlen(names[i].name);
    if (strncmp(spec, names[i].name, len) == 0) {
      char *end;
      k->point = names[i].point;
      k->n = strtol(spec + len, &end, 10);
      k->seen = 0;
      return *end == '\0' && k->n > 0 ? 0 : -1;
    }
  }
  return -1;
}

static void kill_at_attach(struct engine_options *eo, struct kill_at *k) {
  if (k != NULL) {
    eo->fault = kill_at_fault;
    eo->fault_ctx = k;
  }
}

/* ---- replay ------------------------------------------------------------------ */

/* Events per transaction. Replay applies a batch one child at a time (each
 * child folded once per batch), so a large batch is what makes it fast: on
 * 10M events of 20 LAs, 75 s at 500,000, 61 s at 1,000,000, 54 s at
 * 2,000,000. The heap grows with the batch (about 170 MB at 1,000,000);
 * the pages of the state one batch touches are mapped until its commit
 * whatever the size (docs/performance.md). */
#define REPLAY_BATCH_DEFAULT 1000000

static int cmd_replay(int argc, char **argv, struct kill_at *kill_hook) {
  const char *input = NULL, *state = NULL, *config_path = NULL, *pop_path = NULL, *out_dir = NULL;
  long batch = REPLAY_BATCH_DEFAULT;
  int durable = 0, batched = 0;
  int64_t now_ms = 0;
  static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                       {"now", required_argument, 0, 'n'},
                                       {"state", required_argument, 0, 's'},
                                       {"config", required_argument, 0, 'c'},
                                       {"population", required_argument, 0, 'p'},
                                       {"out-dir", required_argument, 0, 'o'},
                                       {"batch", required_argument, 0, 'b'},
                                       {"durable", no_argument, 0, 'd'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'i': input = optarg; break;
    case 's': state = optarg; break;
    case 'c': config_path = optarg; break;
    case 'p': pop_path = optarg; break;
    case 'o': out_dir = optarg; break;
    case 'b': batch = atol(optarg); batched = 1; break;
    case 'd': durable = 1; break;
    case 'n':
      if (redrive_parse_time(optarg, &now_ms) != CSC_OK || now_ms <= 0) {
        fprintf(stderr, "cscflow replay: --now: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n");
        return EXIT_USAGE;
      }
      break;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (input == NULL || state == NULL || batch <= 0) {
    usage(stderr);
    return EXIT_USAGE;
  }
  struct config cfg;
  struct population pop;
  struct refdata ref;
  struct la_registry las;
  static struct coverage coverage; /* large: not on the stack */
  config_init(&cfg);
  population_init(&pop);
  memset(&ref, 0, sizeof ref);
  memset(&las, 0, sizeof las);
  int rc = load_config(&cfg, config_path);
  if (rc == 0)
    rc = cli_load_population(&pop, &cfg, pop_path);
  if (rc == 0)
    rc = cli_load_refdata(&ref, &cfg);
  if (rc == 0)
    rc = load_las(&las, &cfg);
  if (rc == 0)
    rc = cli_load_coverage(&coverage, &cfg, &las);
  if (rc != 0) {
    config_free(&cfg);
    population_free(&pop);
    refdata_free(&ref);
    la_registry_free(&las);
    return rc;
  }

  /* Output goes to Kafka when the config names brokers, else to files. */
  char dir[4096], err[512];
  struct sink *sink = NULL;
  if (config_get(&cfg, "bootstrap.servers") != NULL) {
    rd_kafka_conf_t *conf = kafka_conf_from_config(&cfg, "producer", err, sizeof err);
    rc = conf ? kafka_sink_new(conf, &sink, err, sizeof err) : CSC_EINVAL;
  } else {
    /* Check the store before making its out/ directory, so that a state
     * directory the engine refuses (a newer schema, not LMDB) stays as it was. */
    struct store *st = NULL;
    rc = store_open_sized(state, 0, config_map_size(&cfg), &st, err, sizeof err);
    store_close(st);
    snprintf(dir, sizeof dir, "%s/out", state);
    if (out_dir)
      snprintf(dir, sizeof dir, "%s", out_dir);
    if (rc != CSC_OK) {
      /* err says why */
    } else if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
      snprintf(err, sizeof err, "%.300s: %s", dir, strerror(errno));
      rc = CSC_EIO;
    } else {
      rc = sink_file_open(dir, &sink);
      if (rc != CSC_OK)
        snprintf(err, sizeof err, "%.300s: cannot open output files", dir);
    }
  }
  struct engine *e = NULL;
  if (rc == CSC_OK) {
    struct engine_options eo = {state, CLOCK_REPLAY, &pop, sink, (size_t)batch, 0, &ref};
    eo.map_size = config_map_size(&cfg);
    eo.group_by_subject = 1;
    /* Into an empty state, each child folded once (engine/backfill.c);
     * --batch asks for batches of N events instead (the streaming path). */
    eo.backfill = !batched;
    eo.reset_unfinished_backfill = 1;
    eo.las = &las;
    eo.coverage = &coverage;
    eo.clock_tolerance_ms = config_clock_tolerance_ms(&cfg);
    eo.file_now_ms = now_ms;
    eo.no_sync = !config_flag(&cfg, "cscflow.state.durable", durable);
    kill_at_attach(&eo, kill_hook);
    rc = engine_open(&eo, &e, err, sizeof err);
  }
  if (rc != CSC_OK) {
    fprintf(stderr, "cscflow replay: %s\n", err);
    if (sink)
      sink->destroy(sink);
    config_free(&cfg);
    population_free(&pop);
    refdata_free(&ref);
    la_registry_free(&las);
    return rc == ENGINE_ECODES ? EXIT_CONFIG : cli_exit_status(rc);
  }
  rc = engine_replay_file(e, input, &stop_requested);
  const struct engine_stats *s = engine_stats(e);
  uint64_t state_bytes = 0, histories = 0;
  store_usage(engine_store(e), &state_bytes, &histories);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  log_json(LOG_INFO, "replay_summary",
           "\"consumed\":%llu,\"applied\":%llu,\"duplicates\":%llu,\"dead_lettered\":%llu,"
           "\"snapshots\":%llu,\"state_bytes\":%llu,\"histories\":%llu,"
           "\"peak_rss_kb\":%ld,\"peak_anon_kb\":%llu,\"snapshot_values_computed\":%llu,"
           "\"snapshot_values_reused\":%llu,\"snapshot_memo_bytes\":%llu,"
           "\"folds_cached\":%llu,\"folds_resumed\":%llu,\"stopped\":%s",
           (unsigned long long)s->consumed, (unsigned long long)s->applied,
           (unsigned long long)s->duplicates, (unsigned long long)s->dead_lettered,
           (unsigned long long)s->snapshots, (unsigned long long)state_bytes,
           (unsigned long long)histories, ru.ru_maxrss,
           (unsigned long long)(s->peak_anon_bytes >> 10),
           (unsigned long long)s->snapshot_values_computed,
           (unsigned long long)s->snapshot_values_reused,
           (unsigned long long)s->snapshot_memo_bytes, (unsigned long long)s->folds_cached,
           (unsigned long long)s->folds_resumed, stop_requested ? "true" : "false");
  engine_close(e);
  sink->destroy(sink);
  config_free(&cfg);
  population_free(&pop);
  refdata_free(&ref);
  la_registry_free(&las);
  if (rc == CSC_ENOSPC || rc == CSC_EDAMAGED)
    cli_state_fault("replay", state, rc);
  else if (rc != CSC_OK)
    fprintf(stderr, "cscflow replay: %s\n", csc_strerror(rc));
  return rc == CSC_OK ? 0 : cli_exit_status(rc);
}

/* ---- snapshot ----------------------------------------------------------------- */

static int print_json(void *ctx, const IndicatorSnapshot *snap) {
  (void)ctx;
  return snapshot_write_json(stdout, snap);
}

static int print_text(void *ctx, const IndicatorSnapshot *snap) {
  (void)ctx;
  char date[11];
  csc_date d = 0;
  date_from_yyyymmdd(snap->as_of, &d);
  printf("%s as of %s (%llu events)\n", snap->la_code, date_format(d, date),
         (unsigned long long)snap->events_applied);
  for (size_t i = 0; i < snap->n_values; i++) {
    const Cscflow__V1__IndicatorValue *v = snap->values[i];
    char name[64];
    snprintf(name, sizeof name, "%s %s %s", v->id, v->window, v->breakdown);
    printf("  %-36s %12.2f", name, v->has_value ? v->value : 0.0);
    if (!v->has_value)
      printf(" (null)");
    if (v->has_denominator)
      printf("  = %.0f / %.0f", v->numerator, v->denominator);
    if (v->has_per_10k)
      printf("  per 10k %.1f", v->per_10k);
    putchar('\n');
  }
  return CSC_OK;
}

static int cmd_snapshot(int argc, char **argv) {
  const char *state = NULL, *la = NULL;
  int json = 0;
  static const struct option opts[] = {{"state", required_argument, 0, 's'},
                                       {"la", required_argument, 0, 'l'},
                                       {"json", no_argument, 0, 'j'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 's': state = optarg; break;
    case 'l': la = optarg; break;
    case 'j': json = 1; break;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (state == NULL) {
    usage(stderr);
    return EXIT_USAGE;
  }
  struct store *st;
  char err[1024];
  int rc = store_open(state, 1, &st, err, sizeof err);
  if (rc != CSC_OK) {
    fprintf(stderr, "cscflow snapshot: %s\n", err);
    return cli_exit_status(rc);
  }
  MDB_txn *txn;
  rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
  rc = rc == 0 ? CSC_OK : store_error(rc, "begin read");
  if (rc == CSC_OK) {
    rc = snapshot_each(st, txn, la, json ? print_json : print_text, NULL);
    mdb_txn_abort(txn);
  }
  store_close(st);
  if (rc == CSC_ENOTFOUND)
    fprintf(stderr, "cscflow snapshot: no snapshot for LA %s\n", la);
  else if (rc == CSC_EDAMAGED)
    cli_state_fault("snapshot", state, rc);
  else if (rc != CSC_OK)
    fprintf(stderr, "cscflow snapshot: %s\n", csc_strerror(rc));
  return rc == CSC_OK ? 0 : cli_exit_status(rc);
}

/* ---- run ----------------------------------------------------------------------- */

static int cmd_run(int argc, char **argv, struct kill_at *kill_hook) {
  const char *config_path = NULL;
  static const struct option opts[] = {{"config", required_argument, 0, 'c'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c != 'c') {
      usage(stderr);
      return EXIT_USAGE;
    }
    config_path = optarg;
  }
  if (config_path == NULL) {
    usage(stderr);
    return EXIT_USAGE;
  }
  struct config cfg;
  struct population pop;
  config_init(&cfg);
  population_init(&pop);
  long batch_max = 0, batch_ms = 0;
  int rc = load_config(&cfg, config_path);
  if (rc == 0)
    rc = cli_load_population(&pop, &cfg, config_get(&cfg, "cscflow.population.file"));
  struct refdata ref;
  memset(&ref, 0, sizeof ref);
  if (rc == 0)
    rc = cli_load_refdata(&ref, &cfg);
  struct la_registry las = {0};
  if (rc == 0)
    rc = load_las(&las, &cfg);
  static struct coverage coverage; /* large: not on the stack */
  if (rc == 0)
    rc = cli_load_coverage(&coverage, &cfg, &las);
  if (rc == 0)
    rc = config_long(&cfg, "cscflow.batch.max", 5000, &batch_max);
  if (rc == 0)
    rc = config_long(&cfg, "cscflow.batch.ms", 5, &batch_ms);
  /* The API is served only when cscflow.api.port says where. */
  long api_port = -1;
  struct api_tokens tokens = {0};
  char err[1024];
  if (rc == 0 && config_get(&cfg, "cscflow.api.port") != NULL)
    rc = config_long(&cfg, "cscflow.api.port", 0, &api_port);
  if (rc == 0 && api_port >= 0 && api_tokens_load(&tokens, &cfg, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s\n", err);
    rc = EXIT_CONFIG;
  }
  /* The DfE CSC API feed (serve/feed.h), on the API's port. */
  struct feed_config feed_cfg = {0};
  if (rc == 0 && feed_config_load(&feed_cfg, &cfg, &las, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s\n", err);
    rc = EXIT_CONFIG;
  }
  if (rc == 0 && feed_cfg.n > 0 && api_port < 0) {
    fprintf(stderr, "cscflow: config: cscflow.feed.client.*: the feed is served on the API's "
                    "port: set cscflow.api.port\n");
    rc = EXIT_CONFIG;
  }
  const char *state = config_get(&cfg, "cscflow.state.dir");
  const char *topic = config_get(&cfg, "cscflow.topic.events");
  const char *clock = config_get(&cfg, "cscflow.clock");
  if (rc == 0 && state == NULL) {
    fprintf(stderr, "cscflow: config: cscflow.state.dir: required\n");
    rc = EXIT_CONFIG;
  }
  if (rc == 0 && clock != NULL && strcmp(clock, "live") != 0 && strcmp(clock, "replay") != 0) {
    fprintf(stderr, "cscflow: config: cscflow.clock: expected live or replay\n");
    rc = EXIT_CONFIG;
  }
  if (rc == 0 && (batch_max <= 0 || batch_ms <= 0)) {
    fprintf(stderr, "cscflow: config: cscflow.batch.max, cscflow.batch.ms: must be positive\n");
    rc = EXIT_CONFIG;
  }
  struct sink *sink = NULL;
  rd_kafka_conf_t *pconf = NULL, *cconf = NULL;
  if (rc == 0) {
    pconf = kafka_conf_from_config(&cfg, "producer", err, sizeof err);
    cconf = pconf ? kafka_conf_from_config(&cfg, "consumer", err, sizeof err) : NULL;
    if (cconf == NULL) {
      fprintf(stderr, "cscflow: config: %s\n", err);
      if (pconf)
        rd_kafka_conf_destroy(pconf);
      rc = EXIT_CONFIG;
    }
  }
  if (rc != 0) {
    config_free(&cfg);
    population_free(&pop);
    refdata_free(&ref);
    la_registry_free(&las);
    api_tokens_free(&tokens);
    feed_config_free(&feed_cfg);
    return rc;
  }
  struct engine *e = NULL;
  struct server *srv = NULL;
  struct feed *feed = NULL;
  rd_kafka_t *consumer = NULL;
  int krc = kafka_sink_new(pconf, &sink, err, sizeof err);
  int open_refused_codes = 0; /* the state was built with other code lists: exit 78 */
  if (krc == CSC_OK) {
    struct engine_options eo = {state, clock && strcmp(clock, "replay") == 0 ? CLOCK_REPLAY : CLOCK_LIVE,
                                &pop, sink, (size_t)batch_max, (int)batch_ms, &ref};
    eo.map_size = config_map_size(&cfg);
    eo.group_by_subject = config_flag(&cfg, "cscflow.batch.by_child", 0);
    eo.no_sync = !config_flag(&cfg, "cscflow.state.durable", 1);
    eo.las = &las;
    eo.coverage = &coverage;
    eo.clock_tolerance_ms = config_clock_tolerance_ms(&cfg);
    eo.offset_gap_skip = config_offset_gap_skip(&cfg);
    kill_at_attach(&eo, kill_hook);
    krc = engine_open(&eo, &e, err, sizeof err);
    open_refused_codes = krc == ENGINE_ECODES;
  } else {
    cconf = (rd_kafka_conf_destroy(cconf), NULL);
  }
  if (krc == CSC_OK && api_port >= 0 && feed_cfg.n > 0) {
    rd_kafka_conf_t *fconf = kafka_conf_from_config(&cfg, "producer", err, sizeof err);
    krc = fconf ? feed_new(&(struct feed_options){.config = &feed_cfg, .producer_conf = fconf},
                           &feed, err, sizeof err)
                : CSC_EINVAL;
  }
  if (krc == CSC_OK && api_port >= 0) {
    /* In this process, on the engine's own store: no second environment. */
    struct serve_options so = {.store = engine_store(e),
                               .address = config_get(&cfg, "cscflow.api.address"),
                               .port = (int)api_port,
                               .tokens = &tokens,
                               .ready_max_lag = config_max_lag(&cfg),
                               .las = &las,
                               .feed = feed};
    config_api_limits(&cfg, &so);
    krc = serve_start(&so, &srv, err, sizeof err);
    if (krc == CSC_OK)
      log_json(LOG_INFO, "serving", "\"port\":%d,\"tokens\":%zu,\"feed_clients\":%zu",
               serve_port(srv), tokens.n, feed_cfg.n);
  }
  if (krc == CSC_OK)
    krc = kafka_consumer_new(cconf, topic ? topic : TOPIC_EVENTS, engine_kafka_position, e,
                             &consumer, err, sizeof err);
  else if (cconf)
    rd_kafka_conf_destroy(cconf);
  if (krc == CSC_OK) {
    log_json(LOG_INFO, "run_started", "\"topic\":\"%s\"", topic ? topic : TOPIC_EVENTS);
    krc = engine_run_kafka(e, consumer, &stop_requested, 0, 0);
    const struct engine_stats *s = engine_stats(e);
    /* Why it stops: a signal, or the error that stopped the loop (then
     * nothing of the failed batch was applied, and a restart re-reads it). */
    if (krc == CSC_ENOSPC || krc == CSC_EDAMAGED)
      cli_state_fault("run", state, krc);
    log_json(krc == CSC_OK ? LOG_INFO : LOG_ERROR, "run_stopping",
             "\"reason\":\"%s\",\"consumed\":%llu,\"applied\":%llu,\"duplicates\":%llu,"
             "\"dead_lettered\":%llu",
             krc == CSC_OK ? "stop requested" : csc_strerror(krc), (unsigned long long)s->consumed,
             (unsigned long long)s->applied, (unsigned long long)s->duplicates,
             (unsigned long long)s->dead_lettered);
  } else {
    fprintf(stderr, "cscflow run: %s\n", err);
  }
  kafka_consumer_destroy(consumer);
  serve_stop(srv); /* before the engine: it reads the engine's store */
  feed_free(feed);  /* after the server: what it produced is flushed */
  engine_close(e);
  if (sink)
    sink->destroy(sink);
  config_free(&cfg);
  population_free(&pop);
  refdata_free(&ref);
  la_registry_free(&las);
  api_tokens_free(&tokens);
  feed_config_free(&feed_cfg);
  return krc == CSC_OK ? 0 : open_refused_codes ? EXIT_CONFIG : cli_exit_status(krc);
}

/* ---- serve ------------------------------------------------------------------ */

static int cmd_serve(int argc, char **argv) {
  const char *state = NULL, *config_path = NULL, *address = NULL;
  long port = 8080;
  static const struct option opts[] = {{"state", required_argument, 0, 's'},
                                       {"config", required_argument, 0, 'c'},
                                       {"address", required_argument, 0, 'a'},
                                       {"port", required_argument, 0, 'p'},
                                       {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 's': state = optarg; break;
    case 'c': config_path = optarg; break;
    case 'a': address = optarg; break;
    case 'p': port = atol(optarg); break;
    default: usage(stderr); return EXIT_USAGE;
    }
  }
  if (state == NULL || port < 0 || port > 65535) {
    usage(stderr);
    return EXIT_USAGE;
  }
  struct config cfg;
  struct api_tokens tokens = {0};
  char err[1024];
  struct la_registry las = {0};
  config_init(&cfg);
  int rc = load_config(&cfg, config_path);
  if (rc == 0 && api_tokens_load(&tokens, &cfg, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s\n", err);
    rc = EXIT_CONFIG;
  }
  if (rc == 0)
    rc = load_las(&las, &cfg);
  struct serve_options so = {.state_dir = state,
                             .address = address,
                             .port = (int)port,
                             .tokens = &tokens,
                             .ready_max_lag = config_max_lag(&cfg),
                             .las = &las};
  config_api_limits(&cfg, &so);
  config_free(&cfg);
  if (rc != 0) {
    api_tokens_free(&tokens);
    return rc;
  }
  struct server *srv = NULL;
  const int src = serve_start(&so, &srv, err, sizeof err);
  if (src != CSC_OK) {
    fprintf(stderr, "cscflow serve: %s\n", err);
    api_tokens_free(&tokens);
    la_registry_free(&las);
    return cli_exit_status(src);
  }
  log_json(LOG_INFO, "serving", "\"port\":%d,\"tokens\":%zu", serve_port(srv), tokens.n);
  while (!stop_requested)
    sleep(1); /* the server's threads do the work; a signal cuts the sleep short */
  serve_stop(srv);
  api_tokens_free(&tokens);
  la_registry_free(&las);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : 0;
  }
  install_signals();
  /* A SIGBUS on the state's map ends in a message and a status of its own. */
  store_install_fault_handler(EXIT_STATE_DAMAGED, EXIT_STATE_NOSPACE);
  struct kill_at kill_at, *kill_hook = NULL;
  const char *kill_spec = getenv("CSCFLOW_TEST_KILL_AT");
  if (kill_spec != NULL) {
    if (kill_at_parse(kill_spec, &kill_at) != 0) {
      fprintf(stderr,
              "cscflow: CSCFLOW_TEST_KILL_AT: expected commit:N, committed:N or publish:N\n");
      return EXIT_USAGE;
    }
    kill_hook = &kill_at;
  }
  const char *cmd = argv[1];
  argv[1] = argv[0];
  if (strcmp(cmd, "replay") == 0)
    return cmd_replay(argc - 1, argv + 1, kill_hook);
  if (strcmp(cmd, "snapshot") == 0)
    return cmd_snapshot(argc - 1, argv + 1);
  if (strcmp(cmd, "run") == 0)
    return cmd_run(argc - 1, argv + 1, kill_hook);
  if (strcmp(cmd, "demo") == 0)
    return cmd_demo(argc - 1, argv + 1, &stop_requested);
  if (strcmp(cmd, "serve") == 0)
    return cmd_serve(argc - 1, argv + 1);
  if (strcmp(cmd, "redrive") == 0)
    return cmd_redrive(argc - 1, argv + 1, &stop_requested);
  if (strcmp(cmd, "import") == 0)
    return cmd_import(argc - 1, argv + 1);
  fprintf(stderr, "cscflow: unknown command %s\n", cmd);
  usage(stderr);
  return EXIT_USAGE;
}
