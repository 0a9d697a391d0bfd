/*
 * cscflow demo: the whole pipeline on librdkafka's mock cluster, a real
 * Kafka protocol server on loopback. A generated history is produced to
 * csc.events.v1 at a steady rate, the processor consumes it exactly as
 * `cscflow run` does, and the screen shows each LA's indicators and the
 * plan_duration alerts as downstream consumers read them from the output
 * topics. The read API and the dashboard page are served on loopback, with a
 * new random token per LA (and an operator token for /metrics), printed at
 * the start so that the page can be opened at once.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "gen/gen.h"
#include "serve/feed.h"
#include "serve/serve.h"

#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, which engine.h includes */

#define DEMO_MAX_LAS 16
#define DEMO_RECENT_ALERTS 4

/* The generated history, serialized, in recorded_at order. */
struct history {
  uint8_t *bytes;
  size_t len, cap;
  size_t *offsets; /* n + 1 entries */
  char (*las)[16];
  size_t n, cap_events;
};

struct producer_thread {
  pthread_t thread;
  const struct history *h;
  char bootstraps[256];
  double rate; /* events per second */
  atomic_int stop;
  atomic_size_t produced;
  atomic_size_t consumed; /* what the engine has read, as the main loop last saw it */
  int failed;
};

/*
 * The most input the producer lets the processor fall behind by, in bytes
 * of event values. The mock cluster keeps about 5 MiB a partition and
 * drops the oldest beyond it, as retention does on a real broker; an event
 * dropped before it is read is an offset gap, which stops its partition
 * (engine/gaps.c). Staying well within (record overheads on top, and one
 * partition may hold all of the lag) keeps every event of the demo in the
 * log until it is applied, so the demo needs no cscflow.on_offset_gap=skip.
 */
#define DEMO_MAX_UNREAD_BYTES (2u * 1024 * 1024)

/* Waits while the events before i that the engine has not read would
 * weigh more than DEMO_MAX_UNREAD_BYTES. The engine reads the partitions
 * in its own order, so the bytes are estimated from the first unread
 * events in produce order; the count is exact. */
static void wait_for_consumer(struct producer_thread *p, size_t i) {
  for (;;) {
    size_t consumed = atomic_load(&p->consumed);
    if (consumed > i)
      consumed = i;
    if (p->h->offsets[i] - p->h->offsets[consumed] <= DEMO_MAX_UNREAD_BYTES ||
        atomic_load(&p->stop))
      return;
    usleep(10000);
  }
}

struct la_view {
  char la[16];
  IndicatorSnapshot *snap;
  unsigned raised, withdrawn;
};

struct display {
  rd_kafka_t *consumer;
  struct la_view las[DEMO_MAX_LAS];
  size_t n_las;
  char recent[DEMO_RECENT_ALERTS][160];
  size_t n_recent;
  int tty;
  char banner[8192]; /* the dashboard's address and tokens, shown again on a terminal */
};

/* ---- the history ------------------------------------------------------------- */

static int history_add(void *ctx, const Cscflow__V1__CaseEvent *ev) {
  struct history *h = ctx;
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  if (h->len + n > h->cap) {
    const size_t cap = (h->cap ? h->cap * 2 : 1 << 20) + n;
    uint8_t *b = realloc(h->bytes, cap);
    if (b == NULL)
      return CSC_ENOMEM;
    h->bytes = b;
    h->cap = cap;
  }
  if (h->n + 2 > h->cap_events) {
    const size_t cap = h->cap_events ? h->cap_events * 2 : 65536;
    size_t *o = realloc(h->offsets, cap * sizeof *o);
    if (o == NULL)
      return CSC_ENOMEM;
    h->offsets = o;
    char(*l)[16] = realloc(h->las, cap * sizeof *l);
    if (l == NULL)
      return CSC_ENOMEM;
    h->las = l;
    h->cap_events = cap;
  }
  cscflow__v1__case_event__pack(ev, h->bytes + h->len);
  h->offsets[h->n] = h->len;
  snprintf(h->las[h->n], sizeof h->las[0], "%s", ev->la_code);
  h->len += n;
  h->n++;
  h->offsets[h->n] = h->len;
  return CSC_OK;
}

static void history_free(struct history *h) {
  free(h->bytes);
  free(h->offsets);
  free(h->las);
}

/* ---- the producer: the case-management systems ---------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *produce_history(void *arg) {
  struct producer_thread *p = arg;
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, kafka_log_json); /* librdkafka's lines as JSON lines */
  rd_kafka_conf_set(conf, "bootstrap.servers", p->bootstraps, err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
  /* Every producer of the input topic keys by the LA's canonical code and
   * partitions as Java clients do, so that an LA lives on one partition. */
  rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof err);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == NULL) {
    rd_kafka_conf_destroy(conf);
    p->failed = 1;
    return NULL;
  }
  const double start = now_s();
  for (size_t i = 0; i < p->h->n && !atomic_load(&p->stop);) {
    /* Keep to the rate: produce what is due, then sleep a little. */
    const size_t due = (size_t)((now_s() - start) * p->rate) + 1;
    for (; i < p->h->n && i < due; i++) {
      wait_for_consumer(p, i);
      const uint8_t *v = p->h->bytes + p->h->offsets[i];
      const size_t vlen = p->h->offsets[i + 1] - p->h->offsets[i];
      rd_kafka_resp_err_t e;
      while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC_EVENTS),
                                    RD_KAFKA_V_KEY(p->h->las[i], strlen(p->h->las[i])),
                                    RD_KAFKA_V_VALUE((void *)v, vlen),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
                 RD_KAFKA_RESP_ERR__QUEUE_FULL &&
             !atomic_load(&p->stop))
        rd_kafka_poll(rk, 50);
      if (e)
        break;
      atomic_store(&p->produced, i + 1);
    }
    rd_kafka_poll(rk, 0);
    usleep(10000);
  }
  rd_kafka_flush(rk, 5000);
  rd_kafka_destroy(rk);
  return NULL;
}

/* ---- the display: what downstream consumers see ------------------------------------ */

static int display_open(struct display *d, const char *bootstraps) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, kafka_log_json); /* librdkafka's lines as JSON lines */
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err) ||
      rd_kafka_conf_set(conf, "group.id", "cscflow-demo-display", err, sizeof err) ||
      rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err)) {
    rd_kafka_conf_destroy(conf);
    return CSC_EKAFKA;
  }
  d->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (d->consumer == NULL) {
    rd_kafka_conf_destroy(conf);
    return CSC_EKAFKA;
  }
  rd_kafka_poll_set_consumer(d->consumer);
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
  rd_kafka_topic_partition_list_add(parts, TOPIC_INDICATORS, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_topic_partition_list_add(parts, TOPIC_ALERTS, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(d->consumer, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  d->tty = isatty(STDOUT_FILENO);
  return CSC_OK;
}

static struct la_view *display_la(struct display *d, const char *la) {
  for (size_t i = 0; i < d->n_las; i++)
    if (strcmp(d->las[i].la, la) == 0)
      return &d->las[i];
  if (d->n_las == DEMO_MAX_LAS)
    return NULL;
  struct la_view *v = &d->las[d->n_las++];
  memset(v, 0, sizeof *v);
  snprintf(v->la, sizeof v->la, "%s", la);
  return v;
}

static void display_take(struct display *d, const rd_kafka_message_t *m) {
  if (strcmp(rd_kafka_topic_name(m->rkt), TOPIC_INDICATORS) == 0) {
    IndicatorSnapshot *s = cscflow__v1__indicator_snapshot__unpack(NULL, m->len, m->payload);
    struct la_view *v = s ? display_la(d, s->la_code) : NULL;
    if (v == NULL) {
      if (s)
        cscflow__v1__indicator_snapshot__free_unpacked(s, NULL);
      return;
    }
    if (v->snap)
      cscflow__v1__indicator_snapshot__free_unpacked(v->snap, NULL);
    v->snap = s;
    return;
  }
  Alert *a = cscflow__v1__alert__unpack(NULL, m->len, m->payload);
  struct la_view *v = a ? display_la(d, a->la_code) : NULL;
  if (v != NULL) {
    const int raised = a->status == CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED;
    raised ? v->raised++ : v->withdrawn++;
    char crossed[11];
    csc_date c = 0;
    date_from_yyyymmdd(a->date_crossed, &c);
    memmove(d->recent[1], d->recent[0], sizeof d->recent[0] * (DEMO_RECENT_ALERTS - 1));
    snprintf(d->recent[0], sizeof d->recent[0], "%s %s plan %s passed %um on %s (child %s)%s",
             a->la_code, a->plan_kind, a->plan_id, a->threshold_months, date_format(c, crossed),
             a->child_id, raised ? "" : " WITHDRAWN");
    if (d->n_recent < DEMO_RECENT_ALERTS)
      d->n_recent++;
  }
  if (a)
    cscflow__v1__alert__free_unpacked(a, NULL);
}

/* The core data set's groups, as the Signs of Safety QA system groups them:
 * one line per group per LA, the headline figure of each indicator. */
struct tile {
  const char *label, *id, *window, *breakdown;
  int per_10k; /* show per 10,000 children rather than the value */
};

static const struct tile ACTIVITY[] = {
    {"referrals/10k", "referrals", "12m", "", 1},
    {"assessments/10k", "assessments", "12m", "", 1},
    {"S47/10k", "s47_enquiries", "12m", "", 1},
    {"ICPCs/10k", "icpcs", "12m", "", 1},
    {"r-to-a<=45wd%", "referral_to_assessment_wd", "12m", "within_45", 0}};
static const struct tile PLANS[] = {
    {"CIN/10k", "children_in_need", "T", "", 1},
    {"CP/10k", "children_on_plan", "T", "CP", 1},
    {"LAC/10k", "children_on_plan", "T", "LAC", 1},
    {"CP>2y%", "open_plans_over", "T", "CP,24m", 0},
    {"CP seen%", "seen_per_plan", "T", "CP", 0}};
static const struct tile OUTCOMES[] = {
    {"reref%", "rereferrals", "12m", "", 0},
    {"3+plc%", "placements_3plus", "FYTD", "", 0},
    {"stable%", "placement_stability_long", "T", "", 0},
    {"leavers EET%", "care_leavers", "12m", "eet", 0},
    {"SDQ mean", "sdq_mean", "T", "mean", 0}};
static const struct tile WORKFORCE[] = {
    {"vacancy%", "sw_vacancy_rate", "T", "", 0},
    {"turnover%", "sw_turnover_rate", "12m", "", 0},
    {"agency%", "sw_agency_rate", "T", "", 0},
    {"sick days/FTE", "sw_sickness", "12m", "", 0},
    {"caseload", "sw_caseload", "T", "", 0}};

static void show_group(const IndicatorSnapshot *s, const char *name, const struct tile *t,
                       size_t n) {
  printf("  %-10s", name);
  for (size_t i = 0; i < n; i++) {
    const Cscflow__V1__IndicatorValue *v = snapshot_find(s, t[i].id, t[i].window, t[i].breakdown);
    const int has = v && (t[i].per_10k ? v->has_per_10k : v->has_value);
    if (has)
      printf("  %s %.1f", t[i].label, t[i].per_10k ? v->per_10k : v->value);
    else
      printf("  %s null", t[i].label);
  }
  printf("\n");
}

static void display_refresh(struct display *d, const struct engine_stats *st, size_t produced,
                            size_t total, const char *bootstraps) {
  rd_kafka_message_t *m;
  for (int i = 0; i < 100000 && (m = rd_kafka_consumer_poll(d->consumer, 0)) != NULL; i++) {
    if (!m->err)
      display_take(d, m);
    rd_kafka_message_destroy(m);
  }
  if (d->tty)
    fputs("\033[H\033[2J", stdout);
  printf("cscflow demo  bootstrap %s  produced %zu/%zu  applied %llu  dead-lettered %llu\n",
         bootstraps, produced, total, (unsigned long long)st->applied,
         (unsigned long long)st->dead_lettered);
  if (d->tty) /* the screen was just cleared of the lines printed at the start */
    fputs(d->banner, stdout);
  for (size_t i = 0; i < d->n_las; i++) {
    const struct la_view *v = &d->las[i];
    if (v->snap == NULL)
      continue;
    char date[11];
    csc_date as_of = 0;
    date_from_yyyymmdd(v->snap->as_of, &as_of);
    printf("%s as of %s  alerts raised %u, withdrawn %u\n", v->la, date_format(as_of, date),
           v->raised, v->withdrawn);
    show_group(v->snap, "Activity", ACTIVITY, sizeof ACTIVITY / sizeof ACTIVITY[0]);
    show_group(v->snap, "Plans", PLANS, sizeof PLANS / sizeof PLANS[0]);
    show_group(v->snap, "Outcomes", OUTCOMES, sizeof OUTCOMES / sizeof OUTCOMES[0]);
    show_group(v->snap, "Workforce", WORKFORCE, sizeof WORKFORCE / sizeof WORKFORCE[0]);
  }
  printf("data quality (open findings by rule):\n");
  for (size_t i = 0; i < d->n_las; i++) {
    const IndicatorSnapshot *s = d->las[i].snap;
    if (s == NULL)
      continue;
    printf("  %-10s", d->las[i].la);
    for (size_t q = 0; q < s->n_quality; q++)
      printf(" %s=%llu", s->quality[q]->rule, (unsigned long long)s->quality[q]->count);
    printf("\n");
  }
  if (d->n_recent)
    printf("latest alerts:\n");
  for (size_t i = 0; i < d->n_recent; i++)
    printf("  %s\n", d->recent[i]);
  fflush(stdout);
}

static void display_close(struct display *d) {
  if (d->consumer) {
    rd_kafka_consumer_close(d->consumer);
    rd_kafka_destroy(d->consumer);
  }
  for (size_t i = 0; i < d->n_las; i++)
    if (d->las[i].snap)
      cscflow__v1__indicator_snapshot__free_unpacked(d->las[i].snap, NULL);
}

/* ---- the demo ------------------------------------------------------------------ */

struct demo_options {
  struct gen_options gen;
  double duration, rate;
  const char *state;
  int port; /* of the API and page; 0: any free one */
};

static int parse_options(int argc, char **argv, struct demo_options *o) {
  static const struct option opts[] = {
      {"duration", required_argument, 0, 'd'}, {"las", required_argument, 0, 'l'},
      {"years", required_argument, 0, 'y'},    {"seed", required_argument, 0, 's'},
      {"scale", required_argument, 0, 'x'},    {"rate", required_argument, 0, 'r'},
      {"state", required_argument, 0, 't'},    {"mess", required_argument, 0, 'm'},
      {"port", required_argument, 0, 'p'},     {0, 0, 0, 0}};
  gen_options_default(&o->gen);
  o->gen.years = 3;
  o->gen.scale = 0.05;
  /* Real case records are messy: show the corrections and findings at work. */
  o->gen.mess = 0.02;
  o->duration = 0;
  o->rate = 0;
  o->state = NULL;
  o->port = 0;
  long port = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': o->duration = atof(optarg); break;
    case 'l': o->gen.n_las = atoi(optarg); break;
    case 'y': o->gen.years = atoi(optarg); break;
    case 's': o->gen.seed = strtoull(optarg, NULL, 10); break;
    case 'x': o->gen.scale = atof(optarg); break;
    case 'r': o->rate = atof(optarg); break;
    case 't': o->state = optarg; break;
    case 'm': o->gen.mess = atof(optarg); break;
    case 'p': port = atol(optarg); break;
    default: return EXIT_USAGE;
    }
  }
  o->port = (int)port;
  if (gen_options_check(&o->gen) != CSC_OK || o->gen.n_las > DEMO_MAX_LAS || o->duration < 0 ||
      o->rate < 0 || port < 0 || port > 65535) {
    fprintf(stderr, "cscflow demo: bad options\n");
    return EXIT_USAGE;
  }
  return 0;
}

static rd_kafka_mock_cluster_t *start_cluster(rd_kafka_t **holder, char *bootstraps, size_t len) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, kafka_log_json); /* librdkafka's lines as JSON lines */
  *holder = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (*holder == NULL) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(*holder, 1);
  if (mc == NULL)
    return NULL;
  snprintf(bootstraps, len, "%s", rd_kafka_mock_cluster_bootstraps(mc));
  rd_kafka_mock_topic_create(mc, TOPIC_EVENTS, 3, 1);
  rd_kafka_mock_topic_create(mc, TOPIC_INDICATORS, 1, 1);
  rd_kafka_mock_topic_create(mc, TOPIC_ALERTS, 1, 1);
  rd_kafka_mock_topic_create(mc, TOPIC_QUALITY, 1, 1);
  rd_kafka_mock_topic_create(mc, TOPIC_DLQ, 1, 1);
  return mc;
}

static int demo_config(struct config *cfg, const char *bootstraps) {
  int rc = config_set(cfg, "bootstrap.servers", bootstraps);
  if (rc == CSC_OK)
    rc = config_set(cfg, "consumer.group.id", "cscflow-demo");
  if (rc == CSC_OK)
    rc = config_set(cfg, "consumer.fetch.wait.max.ms", "10");
  if (rc == CSC_OK)
    rc = config_set(cfg, "producer.linger.ms", "5");
  return rc;
}

/* 32 hex digits of the kernel's randomness. */
static int random_token(char out[33]) {
  uint8_t b[16];
  size_t got = 0;
  const ssize_t n = getrandom(b, sizeof b, 0);
  if (n == (ssize_t)sizeof b) {
    got = sizeof b;
  } else { /* a kernel without getrandom */
    FILE *f = fopen("/dev/urandom", "rb");
    got = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
      fclose(f);
  }
  if (got != sizeof b)
    return CSC_EIO;
  for (size_t i = 0; i < sizeof b; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
  return CSC_OK;
}

/* The DfE number the demo gives its i-th fictional LA: 980 and up, numbers
 * no real LA has (England's run from 201 to 938). */
#define DEMO_DFE_NUMBER_BASE 980

/* What the demo serves beside the engine: the read API and page, and the
 * feed's routes. */
struct demo_serving {
  struct api_tokens tokens;
  struct la_registry las;
  struct feed_config feed_cfg;
  struct feed *feed;
  struct server *srv;
};

/*
 * One feed client per LA (full mode, as docs/feeds.md recommends), its
 * secret and supplier key new and random, only their SHA-256 in cfg; the
 * LA's DfE number an alias of its code. The lines to print into feed_lines.
 */
static int demo_feed_clients(const struct demo_options *o, struct config *cfg,
                             char codes[][16], char *feed_lines, size_t len) {
  char secret[33], supplier[33], key[96], value[16], id[32], sign[65];
  char hex[2 * TOKEN_HASH_SIZE + 1];
  int rc = random_token(sign);
  if (rc == CSC_OK && (rc = random_token(sign + 32)) == CSC_OK)
    rc = config_set(cfg, "cscflow.feed.signing_key", sign);
  size_t used = 0;
  for (int i = 0; rc == CSC_OK && i < o->gen.n_las; i++) {
    snprintf(value, sizeof value, "%d", DEMO_DFE_NUMBER_BASE + i);
    snprintf(key, sizeof key, "cscflow.la.alias.%s", value);
    snprintf(id, sizeof id, "demo-%s", value);
    rc = config_set(cfg, key, codes[i]);
    if (rc == CSC_OK && (rc = random_token(secret)) == CSC_OK &&
        (rc = random_token(supplier)) == CSC_OK) {
      snprintf(key, sizeof key, "cscflow.feed.client.%s.la", id);
      rc = config_set(cfg, key, value);
      api_token_hash_hex(secret, hex);
      snprintf(key, sizeof key, "cscflow.feed.client.%s.secret", id);
      rc = rc == CSC_OK ? config_set(cfg, key, hex) : rc;
      api_token_hash_hex(supplier, hex);
      snprintf(key, sizeof key, "cscflow.feed.client.%s.supplier_key", id);
      rc = rc == CSC_OK ? config_set(cfg, key, hex) : rc;
      snprintf(key, sizeof key, "cscflow.feed.client.%s.mode", id);
      rc = rc == CSC_OK ? config_set(cfg, key, "full") : rc;
    }
    if (rc == CSC_OK && used < len)
      used += (size_t)snprintf(feed_lines + used, len - used, "feed client %s %s %s %s %s\n",
                               value, id, secret, supplier, codes[i]);
  }
  return rc;
}

/*
 * Serves the API and page on 127.0.0.1 from the engine's store, with a new
 * token per LA and an operator token (their SHA-256 in cfg, as a config file
 * would hold them), and the feed's routes with a client per LA; prints the
 * address, the tokens and the feed's URLs and clients, each on its own
 * line, into d's banner too.
 */
static int demo_serve(const struct demo_options *o, struct engine *e, struct config *cfg,
                      struct demo_serving *sv, struct display *d, char *err, size_t errlen) {
  char la_tokens[DEMO_MAX_LAS][33], codes[DEMO_MAX_LAS][16], op[33], key[64];
  char hex[2 * TOKEN_HASH_SIZE + 1], feed_lines[4096] = "";
  int rc = CSC_OK;
  for (int i = 0; rc == CSC_OK && i < o->gen.n_las; i++) {
    int64_t children;
    gen_la(&o->gen, i, codes[i], &children);
    if ((rc = random_token(la_tokens[i])) == CSC_OK) {
      api_token_hash_hex(la_tokens[i], hex);
      snprintf(key, sizeof key, "cscflow.api.token.%s", codes[i]);
      rc = config_set(cfg, key, hex);
    }
  }
  if (rc == CSC_OK && (rc = random_token(op)) == CSC_OK) {
    api_token_hash_hex(op, hex);
    rc = config_set(cfg, "cscflow.api.operator_token", hex);
  }
  if (rc == CSC_OK)
    rc = demo_feed_clients(o, cfg, codes, feed_lines, sizeof feed_lines);
  if (rc != CSC_OK) {
    snprintf(err, errlen, "cannot make the API tokens");
    return rc;
  }
  if ((rc = api_tokens_load(&sv->tokens, cfg, err, errlen)) != CSC_OK ||
      (rc = la_registry_load(&sv->las, cfg, err, errlen)) != CSC_OK ||
      (rc = feed_config_load(&sv->feed_cfg, cfg, &sv->las, err, errlen)) != CSC_OK)
    return rc;
  rd_kafka_conf_t *fconf = kafka_conf_from_config(cfg, "producer", err, errlen);
  if (fconf == NULL)
    return CSC_EINVAL;
  const struct feed_options fo = {.config = &sv->feed_cfg, .producer_conf = fconf};
  if ((rc = feed_new(&fo, &sv->feed, err, errlen)) != CSC_OK)
    return rc;
  const struct serve_options so = {.store = engine_store(e),
                                   .address = "127.0.0.1",
                                   .port = o->port,
                                   .tokens = &sv->tokens,
                                   .las = &sv->las,
                                   .feed = sv->feed};
  if ((rc = serve_start(&so, &sv->srv, err, errlen)) != CSC_OK)
    return rc;
  const int port = serve_port(sv->srv);
  size_t used = (size_t)snprintf(d->banner, sizeof d->banner, "dashboard: http://127.0.0.1:%d/\n",
                                 port);
  for (int i = 0; i < o->gen.n_las && used < sizeof d->banner; i++)
    used += (size_t)snprintf(d->banner + used, sizeof d->banner - used, "token %s %s\n", codes[i],
                             la_tokens[i]);
  if (used < sizeof d->banner)
    used += (size_t)snprintf(d->banner + used, sizeof d->banner - used, "operator token %s\n", op);
  if (used < sizeof d->banner)
    snprintf(d->banner + used, sizeof d->banner - used,
             "feed endpoint URL http://127.0.0.1:%d" FEED_PREFIX "\n"
             "feed token URL http://127.0.0.1:%d" FEED_PREFIX "/token\n%s",
             port, port, feed_lines);
  fputs(d->banner, stdout);
  fflush(stdout);
  return CSC_OK;
}

/* After the engine's last batch: the server first (it reads the engine's
 * store and hands requests to the feed), then the feed. */
static void demo_serving_stop(struct demo_serving *sv) {
  serve_stop(sv->srv);
  feed_free(sv->feed);
  feed_config_free(&sv->feed_cfg);
  la_registry_free(&sv->las);
  api_tokens_free(&sv->tokens);
}

int cmd_demo(int argc, char **argv, volatile sig_atomic_t *stop) {
  struct demo_options o;
  int rc = parse_options(argc, argv, &o);
  if (rc != 0)
    return rc;
  char state[256];
  if (o.state && access(o.state, F_OK) == 0) {
    /* The mock cluster is new on every run: positions stored by an earlier
     * demo would point into topics that no longer exist. */
    fprintf(stderr, "cscflow demo: %s exists; give a new directory\n", o.state);
    return EXIT_USAGE;
  }
  if (o.state)
    snprintf(state, sizeof state, "%s", o.state);
  else if (snprintf(state, sizeof state, "/tmp/cscflow-demo-XXXXXX") && mkdtemp(state) == NULL) {
    perror("cscflow demo: mkdtemp");
    return 1;
  }

  /* The history ends today. Not later: an event recorded after its
   * message's timestamp (now, for the demo's producer) is dead-lettered, so
   * a history running into the future would be turned away at the door.
   * Not earlier: the feed's documents are received today, and an LA whose
   * history ended years ago would jump to today at the first document, its
   * plans all overdue at once. */
  const csc_date today = date_london_from_unix_ms((int64_t)time(NULL) * 1000);
  o.gen.start = date_add_months(today, -12 * o.gen.years);
  struct history h = {0};
  struct population pop;
  population_init(&pop);
  int y0, m0, d0;
  date_to_ymd(o.gen.start, &y0, &m0, &d0);
  for (int i = 0; i < o.gen.n_las; i++) {
    char code[16];
    int64_t children;
    gen_la(&o.gen, i, code, &children);
    for (int y = y0; y <= y0 + o.gen.years; y++)
      population_set(&pop, code, y, gen_la_population(&o.gen, i, y));
  }
  if (gen_run(&o.gen, history_add, &h) != CSC_OK) {
    fprintf(stderr, "cscflow demo: cannot generate the history\n");
    history_free(&h);
    population_free(&pop);
    return 1;
  }
  if (o.rate <= 0)
    o.rate = (double)h.n / (o.duration > 0 ? o.duration * 0.8 : 60.0);

  rd_kafka_t *holder = NULL;
  char bootstraps[256] = "", err[512];
  rd_kafka_mock_cluster_t *mc = start_cluster(&holder, bootstraps, sizeof bootstraps);
  if (mc == NULL) {
    fprintf(stderr, "cscflow demo: cannot start the mock cluster\n");
    if (holder)
      rd_kafka_destroy(holder);
    history_free(&h);
    population_free(&pop);
    return 1;
  }
  printf("mock Kafka cluster on %s (read the output with: kcat -b %s -t %s -C)\n"
         "state in %s; %zu events for %d LAs over %d years at %.0f events/s\n",
         bootstraps, bootstraps, TOPIC_ALERTS, state, h.n, o.gen.n_las, o.gen.years, o.rate);
  fflush(stdout);

  struct config cfg;
  config_init(&cfg);
  struct sink *sink = NULL;
  struct engine *e = NULL;
  rd_kafka_t *consumer = NULL;
  rd_kafka_conf_t *pconf = NULL, *cconf = NULL;
  struct refdata ref;
  memset(&ref, 0, sizeof ref);
  rc = demo_config(&cfg, bootstraps);
  if (rc == CSC_OK && cli_load_refdata(&ref, &cfg) != 0)
    rc = CSC_EINVAL;
  if (rc == CSC_OK && (pconf = kafka_conf_from_config(&cfg, "producer", err, sizeof err)) != NULL &&
      (cconf = kafka_conf_from_config(&cfg, "consumer", err, sizeof err)) != NULL)
    rc = kafka_sink_new(pconf, &sink, err, sizeof err);
  else
    rc = CSC_EINVAL;
  if (rc == CSC_OK) {
    struct engine_options eo = {state, CLOCK_REPLAY, &pop, sink, 2000, 20, &ref};
    rc = engine_open(&eo, &e, err, sizeof err);
  }
  if (rc == CSC_OK) {
    rc = kafka_consumer_new(cconf, TOPIC_EVENTS, engine_kafka_position, e, &consumer, err, sizeof err);
    cconf = NULL;
  }

  struct producer_thread p = {.h = &h, .rate = o.rate};
  snprintf(p.bootstraps, sizeof p.bootstraps, "%s", bootstraps);
  atomic_init(&p.stop, 0);
  atomic_init(&p.produced, 0);
  atomic_init(&p.consumed, 0);
  struct display d;
  memset(&d, 0, sizeof d);
  struct demo_serving sv;
  memset(&sv, 0, sizeof sv);
  if (rc == CSC_OK)
    rc = demo_serve(&o, e, &cfg, &sv, &d, err, sizeof err);
  int started = 0;
  if (rc == CSC_OK && display_open(&d, bootstraps) == CSC_OK &&
      pthread_create(&p.thread, NULL, produce_history, &p) == 0)
    started = 1;
  else if (rc == CSC_OK)
    rc = CSC_EKAFKA;
  if (rc != CSC_OK)
    fprintf(stderr, "cscflow demo: %s\n", err);

  const double start = now_s();
  double shown = start;
  while (started && !*stop && (o.duration <= 0 || now_s() - start < o.duration)) {
    /* A short run: the producer waits on what the engine has read. */
    rc = engine_run_kafka(e, consumer, stop, 100, 0);
    if (rc != CSC_OK) {
      fprintf(stderr, "cscflow demo: processing failed: %s\n", csc_strerror(rc));
      break;
    }
    atomic_store(&p.consumed, (size_t)engine_stats(e)->consumed);
    if (now_s() - shown >= 1.0) {
      shown = now_s();
      display_refresh(&d, engine_stats(e), atomic_load(&p.produced), h.n, bootstraps);
    }
  }
  if (started) {
    atomic_store(&p.stop, 1);
    pthread_join(p.thread, NULL);
  }
  printf("demo stopped: %llu events applied; state kept in %s\n",
         e ? (unsigned long long)engine_stats(e)->applied : 0ULL, state);
  display_close(&d);
  kafka_consumer_destroy(consumer);
  if (cconf)
    rd_kafka_conf_destroy(cconf);
  demo_serving_stop(&sv); /* before the engine: it reads the engine's store */
  engine_close(e);
  if (sink)
    sink->destroy(sink);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(holder);
  config_free(&cfg);
  refdata_free(&ref);
  population_free(&pop);
  history_free(&h);
  return rc == CSC_OK ? 0 : 1;
}
