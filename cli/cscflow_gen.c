/*
 * cscflow-gen — writes a deterministic synthetic history of children's social
 * care events (see gen/gen.h) to a length-delimited file and/or a Kafka topic,
 * and the population table it assumed; or shuffles each child's events of a
 * delimited file (gen_shuffle_children).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "base/base.h"
#include "gen/gen.h"
#include "ingest/ingest.h" /* the delimited format is ingest's */

#define EXIT_USAGE 64
#define MAX_PROPS 64

static const char USAGE[] =
    "usage: cscflow-gen [options] (--out FILE | --brokers HOST:PORT --topic TOPIC) [--population-out FILE]\n"
    "       cscflow-gen --shuffle-children SEED --input FILE --out FILE\n"
    "\n"
    "Generates a deterministic synthetic history of children's social care events for\n"
    "N local authorities (codes E99000001, E99000002, ...; never real LAs) over Y years:\n"
    "about 540 referrals per 10,000 children a year, 22% of them re-referrals, about 42\n"
    "per 10,000 children on a CP plan and 70 per 10,000 looked after on any day, ~8% of\n"
    "events recorded late. Cases already open on the first day come with their history.\n"
    "Events are written in recorded_at order (but see --mess). The same options give the\n"
    "same bytes.\n"
    "\n"
    "History:\n"
    "  --seed N               random seed (default 1)\n"
    "  --las N                number of LAs, 1..99 (default 3)\n"
    "  --years N              years of history, 1..50 (default 5)\n"
    "  --start YYYY-MM-DD     first day of the history (default 2021-04-01)\n"
    "  --scale X              multiplies every LA's child population, 40k-120k (default 1.0)\n"
    "  --mess RATE            0..0.5 (default 0): the share of events made messy as case\n"
    "                         records are: back-dated (30%), duplicated (20%), superseded\n"
    "                         (20%), entered in error and retracted (15%), overlapping\n"
    "                         plans (5%), unknown codes (5%), impossible dates (5%).\n"
    "                         Duplicates arrive up to 10 days after their recorded_at, so\n"
    "                         with mess the stream is not strictly in recorded_at order\n"
    "\n"
    "Output (at least one):\n"
    "  --out FILE             CaseEvents as varint(length) + protobuf bytes, the protobuf\n"
    "                         delimited format; \"-\" for standard output\n"
    "  --brokers LIST         produce to Kafka (bootstrap servers host:port[,host:port])\n"
    "  --topic TOPIC          the topic to produce to (e.g. csc.events.v1); key = la_code\n"
    "  --confluent            Confluent wire format: byte 0, 4-byte big-endian schema id,\n"
    "                         message index [0] (byte 0), then the protobuf bytes\n"
    "  --schema-id N          schema id for --confluent (default 1)\n"
    "  -X, --property K=V     a librdkafka producer property (repeatable), e.g.\n"
    "                         -X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN\n"
    "  --population-out FILE  the population table assumed, CSV la_code,year,population\n"
    "                         (the processor's population config)\n"
    "\n"
    "Shuffle:\n"
    "  --shuffle-children SEED\n"
    "                         reads the delimited file --input and writes to --out the\n"
    "                         same records, each child's (la_code, child_id) permuted at\n"
    "                         random among the positions the child's records occupy\n"
    "  --input FILE           the file to shuffle\n"
    "\n"
    "  -h, --help             this help\n"
    "\n"
    "Exit status: 0 on success, 64 on a usage error, 1 when reading, writing or delivery\n"
    "failed. A one-line JSON summary (events, children, referrals per LA, mess applied\n"
    "per kind) goes to stderr.\n";

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "cscflow-gen: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'cscflow-gen --help'.\n");
  return EXIT_USAGE;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* ---- the event sink: file and/or Kafka -------------------------------------- */

struct la_count {
  uint64_t events, children, referrals;
};

struct out_ctx {
  FILE *file;
  rd_kafka_t *rk;
  const char *topic;
  int confluent;
  uint32_t schema_id;
  uint8_t *buf;
  size_t cap;
  long delivery_failures; /* from delivery reports */
  rd_kafka_resp_err_t first_error;
  uint64_t events;
  struct la_count la[99];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct out_ctx *c = opaque;
  if (m->err) {
    if (c->delivery_failures++ == 0) c->first_error = m->err;
  }
}

static int produce(struct out_ctx *c, const Cscflow__V1__CaseEvent *ev) {
  size_t len = cscflow__v1__case_event__get_packed_size(ev);
  size_t head = c->confluent ? 6 : 0;
  if (head + len > c->cap) {
    size_t cap = (head + len) * 2;
    uint8_t *nb = realloc(c->buf, cap);
    if (!nb) return CSC_ENOMEM;
    c->buf = nb;
    c->cap = cap;
  }
  if (c->confluent) {
    c->buf[0] = 0;
    c->buf[1] = (uint8_t)(c->schema_id >> 24);
    c->buf[2] = (uint8_t)(c->schema_id >> 16);
    c->buf[3] = (uint8_t)(c->schema_id >> 8);
    c->buf[4] = (uint8_t)c->schema_id;
    c->buf[5] = 0; /* message index [0]: CaseEvent, the first message of events.proto */
  }
  cscflow__v1__case_event__pack(ev, c->buf + head);
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        c->rk, RD_KAFKA_V_TOPIC(c->topic), RD_KAFKA_V_KEY(ev->la_code, strlen(ev->la_code)),
        RD_KAFKA_V_VALUE(c->buf, head + len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(c->rk, 100); /* serve delivery reports to make room; never drop */
      continue;
    }
    log_json(LOG_ERROR, "gen_produce_failed", "\"event_id\":\"%s\",\"error\":\"%s\"", ev->event_id,
             rd_kafka_err2name(err));
    return CSC_EKAFKA;
  }
  rd_kafka_poll(c->rk, 0);
  return 0;
}

static int emit(void *vctx, const Cscflow__V1__CaseEvent *ev) {
  struct out_ctx *c = vctx;
  int rc;
  if (c->file && (rc = ingest_write_delimited(c->file, ev)) != 0) return rc;
  if (c->rk && (rc = produce(c, ev)) != 0) return rc;
  c->events++;
  unsigned la = 0;
  if (sscanf(ev->la_code, "E99%6u", &la) == 1 && la >= 1 && la <= 99) {
    struct la_count *n = &c->la[la - 1];
    n->events++;
    if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS) n->children++;
    if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED) n->referrals++;
  }
  return 0;
}

static rd_kafka_t *make_producer(const char *brokers, char props[][2][256], int n_props, struct out_ctx *c) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *defaults[][2] = {
      {"bootstrap.servers", brokers},
      {"enable.idempotence", "true"},   /* retries neither duplicate nor reorder */
      {"linger.ms", "20"},
      {"partitioner", "murmur2_random"}, /* same partition per key as Java clients */
      {"client.id", "cscflow-gen"},
  };
  for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
      fprintf(stderr, "cscflow-gen: %s\n", err);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
  for (int i = 0; i < n_props; i++)
    if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
      fprintf(stderr, "cscflow-gen: -X %s: %s\n", props[i][0], err);
      rd_kafka_conf_destroy(conf);
      return NULL;
    }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_log_cb(conf, kafka_log_json); /* librdkafka's lines as JSON lines */
  rd_kafka_conf_set_opaque(conf, c);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "cscflow-gen: %s\n", err);
    rd_kafka_conf_destroy(conf);
  }
  return rk;
}

/* Waits for every message to be delivered or to fail: at most 5 minutes
 * without progress. Returns the number still undelivered. */
static int flush_all(rd_kafka_t *rk) {
  int last = rd_kafka_outq_len(rk), idle_ms = 0;
  while (rd_kafka_outq_len(rk) > 0 && idle_ms < 300000) {
    rd_kafka_flush(rk, 1000);
    int now = rd_kafka_outq_len(rk);
    idle_ms = now < last ? 0 : idle_ms + 1000;
    last = now;
  }
  return rd_kafka_outq_len(rk);
}

static char *summary(const struct gen_options *o, const struct out_ctx *c, const struct gen_stats *st) {
  size_t cap = 512 + (size_t)o->n_las * 160, len = 0;
  char *s = malloc(cap);
  if (!s) return NULL;
  uint64_t children = 0, referrals = 0;
  for (int i = 0; i < o->n_las; i++) {
    children += c->la[i].children;
    referrals += c->la[i].referrals;
  }
  len += (size_t)snprintf(s + len, cap - len,
                          "\"seed\":%llu,\"las\":%d,\"years\":%d,\"events\":%llu,\"children\":%llu,"
                          "\"referrals\":%llu,\"per_la\":[",
                          (unsigned long long)o->seed, o->n_las, o->years, (unsigned long long)c->events,
                          (unsigned long long)children, (unsigned long long)referrals);
  for (int i = 0; i < o->n_las; i++) {
    char code[16];
    int64_t pop;
    gen_la(o, i, code, &pop);
    len += (size_t)snprintf(s + len, cap - len,
                            "%s{\"la_code\":\"%s\",\"population\":%lld,\"events\":%llu,\"children\":%llu,"
                            "\"referrals\":%llu}",
                            i ? "," : "", code, (long long)pop, (unsigned long long)c->la[i].events,
                            (unsigned long long)c->la[i].children, (unsigned long long)c->la[i].referrals);
  }
  len += (size_t)snprintf(s + len, cap - len, "]");
  if (o->mess > 0) {
    len += (size_t)snprintf(s + len, cap - len, ",\"mess_rate\":%g,\"mess\":{", o->mess);
    for (int k = 0; k < GEN_MESS_KINDS; k++)
      len += (size_t)snprintf(s + len, cap - len, "%s\"%s\":%llu", k ? "," : "", gen_mess_name(k),
                              (unsigned long long)st->mess[k]);
    snprintf(s + len, cap - len, "}");
  }
  return s;
}

/* Reads all of path ("-": standard input) into *buf (malloc'd). */
static int read_all(const char *path, uint8_t **buf, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) return CSC_EIO;
  size_t cap = 1 << 20, n = 0;
  uint8_t *b = malloc(cap);
  int rc = b ? 0 : CSC_ENOMEM;
  while (!rc) {
    if (n == cap) {
      uint8_t *nb = realloc(b, cap * 2);
      if (!nb) {
        rc = CSC_ENOMEM;
        break;
      }
      b = nb;
      cap *= 2;
    }
    size_t k = fread(b + n, 1, cap - n, f);
    n += k;
    if (k == 0) {
      if (ferror(f)) rc = CSC_EIO;
      break;
    }
  }
  if (f != stdin) fclose(f);
  if (rc) {
    free(b);
    return rc;
  }
  *buf = b;
  *len = n;
  return 0;
}

/* --shuffle-children: reads input, writes the shuffled records to out. */
static int shuffle_file(uint64_t seed, const char *input, const char *out) {
  uint8_t *in = NULL, *res = NULL;
  size_t len = 0, res_len = 0;
  int rc = read_all(input, &in, &len);
  if (rc) {
    log_json(LOG_ERROR, "gen_read_failed", "\"what\":\"input\",\"error\":\"%s\",\"errno\":%d", csc_strerror(rc),
             errno);
    return 1;
  }
  rc = gen_shuffle_children(in, len, seed, &res, &res_len);
  free(in);
  if (rc) {
    log_json(LOG_ERROR, "gen_shuffle_failed", "\"error\":\"%s\"", csc_strerror(rc));
    return 1;
  }
  FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "wb");
  int bad = !f;
  if (f) {
    bad = fwrite(res, 1, res_len, f) != res_len;
    if (fflush(f) != 0 || ferror(f)) bad = 1;
    if (f != stdout && fclose(f) != 0) bad = 1;
  }
  free(res);
  if (bad) {
    log_json(LOG_ERROR, "gen_write_failed", "\"what\":\"out\",\"errno\":%d", errno);
    return 1;
  }
  log_json(LOG_INFO, "gen_shuffled", "\"seed\":%llu,\"bytes\":%zu", (unsigned long long)seed, res_len);
  return 0;
}

/* A seed: a decimal number 0..2^64-1. */
static int parse_seed(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  struct gen_options o;
  gen_options_default(&o);
  const char *out = NULL, *brokers = NULL, *topic = NULL, *pop_out = NULL, *input = NULL;
  int confluent = 0, shuffle = 0, history_opts = 0;
  uint64_t shuffle_seed = 0;
  long schema_id = 1;
  static char props[MAX_PROPS][2][256];
  int n_props = 0;

  enum {
    O_SEED = 256, O_LAS, O_YEARS, O_START, O_SCALE, O_OUT, O_BROKERS, O_TOPIC, O_CONFLUENT, O_SCHEMA, O_POP,
    O_MESS, O_SHUFFLE, O_INPUT
  };
  static const struct option longopts[] = {
      {"seed", required_argument, NULL, O_SEED},
      {"las", required_argument, NULL, O_LAS},
      {"years", required_argument, NULL, O_YEARS},
      {"start", required_argument, NULL, O_START},
      {"scale", required_argument, NULL, O_SCALE},
      {"out", required_argument, NULL, O_OUT},
      {"brokers", required_argument, NULL, O_BROKERS},
      {"topic", required_argument, NULL, O_TOPIC},
      {"confluent", no_argument, NULL, O_CONFLUENT},
      {"schema-id", required_argument, NULL, O_SCHEMA},
      {"property", required_argument, NULL, 'X'},
      {"population-out", required_argument, NULL, O_POP},
      {"mess", required_argument, NULL, O_MESS},
      {"shuffle-children", required_argument, NULL, O_SHUFFLE},
      {"input", required_argument, NULL, O_INPUT},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  opterr = 0;
  int opt;
  long v;
  while ((opt = getopt_long(argc, argv, ":hX:", longopts, NULL)) != -1) {
    switch (opt) {
    case 'h': fputs(USAGE, stdout); return 0;
    case O_SEED:
      if (parse_seed(optarg, &o.seed)) return usage_error("--seed: not a number: %s", optarg);
      history_opts = 1;
      break;
    case O_LAS:
      if (parse_long(optarg, 1, 99, &v)) return usage_error("--las: expected 1..99, got %s", optarg);
      o.n_las = (int)v;
      history_opts = 1;
      break;
    case O_YEARS:
      if (parse_long(optarg, 1, 50, &v)) return usage_error("--years: expected 1..50, got %s", optarg);
      o.years = (int)v;
      history_opts = 1;
      break;
    case O_START:
      if (date_parse(optarg, &o.start) != 0) return usage_error("--start: expected YYYY-MM-DD, got %s", optarg);
      history_opts = 1;
      break;
    case O_SCALE: {
      char *end;
      errno = 0;
      double s = strtod(optarg, &end);
      if (errno || end == optarg || *end || !(s > 0 && s <= 100))
        return usage_error("--scale: expected a number in (0, 100], got %s", optarg);
      o.scale = s;
      history_opts = 1;
      break;
    }
    case O_MESS: {
      char *end;
      errno = 0;
      double m = strtod(optarg, &end);
      if (errno || end == optarg || *end || !(m >= 0 && m <= 0.5))
        return usage_error("--mess: expected a number in [0, 0.5], got %s", optarg);
      o.mess = m;
      history_opts = 1;
      break;
    }
    case O_SHUFFLE:
      if (parse_seed(optarg, &shuffle_seed)) return usage_error("--shuffle-children: not a seed: %s", optarg);
      shuffle = 1;
      break;
    case O_INPUT: input = optarg; break;
    case O_OUT: out = optarg; break;
    case O_BROKERS: brokers = optarg; break;
    case O_TOPIC: topic = optarg; break;
    case O_CONFLUENT: confluent = 1; break;
    case O_SCHEMA:
      if (parse_long(optarg, 0, 2147483647L, &v)) return usage_error("--schema-id: expected 0..2^31-1, got %s", optarg);
      schema_id = v;
      break;
    case 'X': {
      const char *eq = strchr(optarg, '=');
      if (!eq || eq == optarg) return usage_error("-X: expected key=value, got %s", optarg);
      if (n_props == MAX_PROPS) return usage_error("-X: too many properties (%s)", optarg);
      size_t kl = (size_t)(eq - optarg);
      if (kl >= sizeof props[0][0] || strlen(eq + 1) >= sizeof props[0][1])
        return usage_error("-X: property too long: %s", optarg);
      memcpy(props[n_props][0], optarg, kl);
      props[n_props][0][kl] = 0;
      snprintf(props[n_props][1], sizeof props[0][1], "%s", eq + 1);
      n_props++;
      break;
    }
    case O_POP: pop_out = optarg; break;
    case ':': return usage_error("option needs a value: %s", argv[optind - 1]);
    default: return usage_error("unknown option: %s", argv[optind - 1]);
    }
  }
  if (optind < argc) return usage_error("unexpected argument: %s", argv[optind]);
  if (input && !shuffle) return usage_error("%s", "--input needs --shuffle-children");
  if (shuffle) {
    if (!input || !out) return usage_error("%s", "--shuffle-children needs --input and --out");
    if (brokers || topic || pop_out || confluent || n_props || history_opts)
      return usage_error("%s", "--shuffle-children takes only --input and --out");
    return shuffle_file(shuffle_seed, input, out);
  }
  if (!out && !brokers && !pop_out) return usage_error("%s", "nothing to do: give --out, --brokers or --population-out");
  if (brokers && !topic) return usage_error("%s", "--brokers needs --topic");
  if (topic && !brokers) return usage_error("%s", "--topic needs --brokers");
  if ((confluent || n_props) && !brokers) return usage_error("%s", "--confluent and -X need --brokers");
  if (gen_options_check(&o) != 0) return usage_error("%s", "--start: expected a date from 1950-01-01 to 2100-01-01");

  if (pop_out) {
    FILE *pf = fopen(pop_out, "w");
    if (!pf) {
      log_json(LOG_ERROR, "gen_open_failed", "\"what\":\"population\",\"errno\":%d", errno);
      return 1;
    }
    int rc = gen_write_population(&o, pf);
    if (fclose(pf) != 0 && rc == 0) rc = CSC_EIO;
    if (rc) {
      log_json(LOG_ERROR, "gen_write_failed", "\"what\":\"population\",\"error\":\"%s\"", csc_strerror(rc));
      return 1;
    }
  }
  if (!out && !brokers) return 0;

  struct out_ctx *c = calloc(1, sizeof *c);
  if (!c) return 1;
  c->topic = topic;
  c->confluent = confluent;
  c->schema_id = (uint32_t)schema_id;
  if (out) {
    c->file = strcmp(out, "-") == 0 ? stdout : fopen(out, "wb");
    if (!c->file) {
      log_json(LOG_ERROR, "gen_open_failed", "\"what\":\"out\",\"errno\":%d", errno);
      free(c);
      return 1;
    }
    setvbuf(c->file, NULL, _IOFBF, 1 << 20);
  }
  if (brokers) {
    c->rk = make_producer(brokers, props, n_props, c);
    if (!c->rk) {
      if (c->file && c->file != stdout) fclose(c->file);
      free(c);
      return EXIT_USAGE;
    }
  }

  struct gen_stats stats;
  int rc = gen_run_stats(&o, emit, c, &stats);
  int status = 0;
  if (rc) {
    log_json(LOG_ERROR, "gen_failed", "\"error\":\"%s\",\"events\":%llu", csc_strerror(rc),
             (unsigned long long)c->events);
    status = 1;
  }
  if (c->file) {
    int bad = fflush(c->file) != 0 || ferror(c->file);
    if (c->file != stdout && fclose(c->file) != 0) bad = 1;
    if (bad) {
      log_json(LOG_ERROR, "gen_write_failed", "\"what\":\"out\",\"errno\":%d", errno);
      status = 1;
    }
  }
  if (c->rk) {
    int left = flush_all(c->rk);
    if (left > 0 || c->delivery_failures > 0) {
      log_json(LOG_ERROR, "gen_delivery_failed", "\"undelivered\":%d,\"failed\":%ld,\"first_error\":\"%s\"", left,
               c->delivery_failures, c->delivery_failures ? rd_kafka_err2name(c->first_error) : "");
      status = 1;
    }
    rd_kafka_destroy(c->rk);
  }
  char *s = summary(&o, c, &stats);
  if (s) {
    log_json_fields(status ? LOG_ERROR : LOG_INFO, "gen_done", s); /* s is JSON members */
    free(s);
  }
  free(c->buf);
  free(c);
  return status;
}
