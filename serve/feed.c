/*
 * feed.c — the DfE CSC API feed's routes (serve/feed.h is the contract).
 *
 * A data request's life: its headers are checked at once (token, supplier
 * key, LA, size), and a refused request's body is read and dropped, so the
 * sender reads the answer rather than a reset; an accepted one's body is
 * kept (up to max_body_bytes), read by dfe_parse, and each document's event
 * produced. The connection is then suspended (libmicrohttpd's suspend and
 * resume: a request waiting for Kafka holds no thread of the server) until
 * every delivery report has come, one has failed, or the deadline passes;
 * the feed's own thread serves the delivery reports and the deadlines and
 * resumes the connection, whose handler then answers 200 or 429.
 *
 * A batch (the produced events of one request) lives until both the request
 * and every one of its delivery reports are done with it: a report may come
 * after a 429 was answered, or after the connection closed.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "feeds/feeds.h"
#include "serve/feed.h"

#define TOKEN_BODY_MAX 65536 /* a token request's form */
#define FEED_MAX_BODY_MIN (1L << 20)
#define FEED_MAX_BODY_MAX (256L << 20)

/* ---- configuration --------------------------------------------------------------- */

static int hex_hash(const char *hex, uint8_t out[32]) {
  if (hex == NULL || strlen(hex) != 64)
    return CSC_EINVAL;
  for (size_t i = 0; i < 32; i++) {
    unsigned v;
    if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
        sscanf(hex + 2 * i, "%2x", &v) != 1)
      return CSC_EINVAL;
    out[i] = (uint8_t)v;
  }
  return CSC_OK;
}

static int client_id_valid(const char *s, size_t n) {
  if (n == 0 || n > FEED_CLIENT_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
      return 0;
  return 1;
}

static struct feed_client *client_named(struct feed_config *fc, const char *id, size_t n) {
  for (size_t i = 0; i < fc->n; i++)
    if (strlen(fc->clients[i].id) == n && memcmp(fc->clients[i].id, id, n) == 0)
      return &fc->clients[i];
  return NULL;
}

static int long_in(const char *v, long lo, long hi, long *out) {
  char *end;
  if (v == NULL || *v == '\0')
    return CSC_EINVAL;
  const long x = strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    return CSC_EINVAL;
  *out = x;
  return CSC_OK;
}

#define CLIENT_PREFIX "cscflow.feed.client."

/* The fields of one client's key, or CSC_EINVAL with err. */
static int client_field(struct feed_client *c, const char *key, const char *field,
                        const char *v, char *err, size_t errlen) {
  if (strcmp(field, "la") == 0) {
    if (strlen(v) >= sizeof c->la || !ingest_la_code_valid(v))
      goto bad;
    memcpy(c->la, v, strlen(v) + 1);
  } else if (strcmp(field, "secret") == 0) {
    if (hex_hash(v, c->secret) != CSC_OK)
      goto hex;
  } else if (strcmp(field, "supplier_key") == 0) {
    if (hex_hash(v, c->supplier_key) != CSC_OK)
      goto hex;
  } else if (strcmp(field, "mode") == 0) {
    if (strcmp(v, "full") != 0 && strcmp(v, "partial") != 0) {
      snprintf(err, errlen, "%s: expected full or partial", key);
      return CSC_EINVAL;
    }
    c->partial = strcmp(v, "partial") == 0;
  } else if (strcmp(field, "test") == 0) {
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
      snprintf(err, errlen, "%s: expected true or false", key);
      return CSC_EINVAL;
    }
    c->test = strcmp(v, "true") == 0;
  } else if (strcmp(field, "token_lifetime_s") == 0) {
    if (long_in(v, 60, 7 * 86400, &c->token_lifetime_s) != CSC_OK) {
      snprintf(err, errlen, "%s: must be between 60 and 604800", key);
      return CSC_EINVAL;
    }
  } else {
    snprintf(err, errlen, "%s: unknown key (a client has la, secret, supplier_key, mode, test, "
                          "token_lifetime_s)", key);
    return CSC_EINVAL;
  }
  return CSC_OK;
bad:
  snprintf(err, errlen, "%s: expected an LA code (the DfE number the sender's path names)", key);
  return CSC_EINVAL;
hex:
  snprintf(err, errlen, "%s: expected 64 hex digits (a SHA-256)", key);
  return CSC_EINVAL;
}

static int add_clients(struct feed_config *fc, const struct config *cfg, char *err,
                       size_t errlen) {
  const size_t plen = sizeof CLIENT_PREFIX - 1;
  for (size_t i = 0; i < cfg->n; i++) {
    const char *key = cfg->entries[i].key;
    if (strncmp(key, CLIENT_PREFIX, plen) != 0)
      continue;
    const char *id = key + plen, *dot = strrchr(id, '.');
    if (dot == NULL || !client_id_valid(id, (size_t)(dot - id))) {
      snprintf(err, errlen, "%s: expected " CLIENT_PREFIX "<ID>.<field>, ID of 1 to %d of "
                            "A-Z a-z 0-9 _ -", key, FEED_CLIENT_ID_MAX);
      return CSC_EINVAL;
    }
    struct feed_client *c = client_named(fc, id, (size_t)(dot - id));
    if (c == NULL) {
      struct feed_client *v = realloc(fc->clients, (fc->n + 1) * sizeof *v);
      if (v == NULL)
        return CSC_ENOMEM;
      fc->clients = v;
      c = &v[fc->n++];
      memset(c, 0, sizeof *c);
      memcpy(c->id, id, (size_t)(dot - id));
      c->partial = 1; /* the Python sender's default */
      c->token_lifetime_s = FEED_TOKEN_LIFETIME_S_DEFAULT;
    }
    const int rc = client_field(c, key, dot + 1, cfg->entries[i].value, err, errlen);
    if (rc != CSC_OK)
      return rc;
  }
  return CSC_OK;
}

static int all_zero(const uint8_t *b, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= b[i];
  return acc == 0;
}

int feed_config_load(struct feed_config *fc, const struct config *cfg,
                     const struct la_registry *las, char *err, size_t errlen) {
  memset(fc, 0, sizeof *fc);
  fc->max_body_bytes = FEED_MAX_BODY_BYTES_DEFAULT;
  fc->ack_timeout_ms = FEED_ACK_TIMEOUT_MS_DEFAULT;
  const char *topic = config_get(cfg, "cscflow.topic.events");
  snprintf(fc->topic, sizeof fc->topic, "%s", topic ? topic : "csc.events.v1");
  int rc = add_clients(fc, cfg, err, errlen);
  const char *v;
  if (rc == CSC_OK && (v = config_get(cfg, "cscflow.feed.max_body_bytes")) != NULL &&
      long_in(v, FEED_MAX_BODY_MIN, FEED_MAX_BODY_MAX, &fc->max_body_bytes) != CSC_OK) {
    snprintf(err, errlen, "cscflow.feed.max_body_bytes: must be between %ld and %ld",
             FEED_MAX_BODY_MIN, FEED_MAX_BODY_MAX);
    rc = CSC_EINVAL;
  }
  if (rc == CSC_OK && (v = config_get(cfg, "cscflow.feed.ack_timeout_ms")) != NULL &&
      long_in(v, 100, 15000, &fc->ack_timeout_ms) != CSC_OK) {
    snprintf(err, errlen, "cscflow.feed.ack_timeout_ms: must be between 100 and 15000");
    rc = CSC_EINVAL;
  }
  for (size_t i = 0; rc == CSC_OK && i < fc->n; i++) {
    struct feed_client *c = &fc->clients[i];
    const char *why = NULL, *canonical;
    if (c->la[0] == '\0' || all_zero(c->secret, 32) || all_zero(c->supplier_key, 32)) {
      snprintf(err, errlen, CLIENT_PREFIX "%s: needs la, secret and supplier_key", c->id);
      rc = CSC_EINVAL;
    } else if ((canonical = la_registry_resolve(las, c->la, &why)) == NULL) {
      snprintf(err, errlen, CLIENT_PREFIX "%s.la: %s: %s", c->id, c->la,
               why ? why : "not an LA this deployment serves");
      rc = CSC_EINVAL;
    } else {
      snprintf(c->canonical, sizeof c->canonical, "%s", canonical);
    }
  }
  v = config_get(cfg, "cscflow.feed.signing_key");
  if (rc == CSC_OK && fc->n > 0 && (v == NULL || strlen(v) < FEED_SIGNING_KEY_MIN)) {
    snprintf(err, errlen, "cscflow.feed.signing_key: required with feed clients, at least %d "
                          "bytes", FEED_SIGNING_KEY_MIN);
    rc = CSC_EINVAL;
  }
  if (rc == CSC_OK && v != NULL && (fc->signing_key = strdup(v)) == NULL)
    rc = CSC_ENOMEM;
  if (rc != CSC_OK)
    feed_config_free(fc);
  return rc;
}

void feed_config_free(struct feed_config *fc) {
  free(fc->clients);
  if (fc->signing_key)
    memset(fc->signing_key, 0, strlen(fc->signing_key));
  free(fc->signing_key);
  memset(fc, 0, sizeof *fc);
}

/* ---- tokens: HS256 JSON Web Tokens ------------------------------------------------ */

static const char JWT_HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static size_t b64url(const uint8_t *in, size_t n, char *out) {
  struct base64_encode_ctx ctx;
  base64url_encode_init(&ctx);
  size_t len = base64_encode_update(&ctx, out, n, in);
  len += base64_encode_final(&ctx, out + len);
  while (len > 0 && out[len - 1] == '=')
    len--;
  out[len] = '\0';
  return len;
}

static int unb64url(const char *in, size_t n, uint8_t *out, size_t cap, size_t *len) {
  char padded[1024];
  if (n + 4 >= sizeof padded || BASE64_DECODE_LENGTH(n + 3) > cap)
    return CSC_EINVAL;
  memcpy(padded, in, n);
  while (n % 4)
    padded[n++] = '=';
  struct base64_decode_ctx ctx;
  base64url_decode_init(&ctx);
  size_t got = cap;
  if (!base64_decode_update(&ctx, &got, out, n, padded) || !base64_decode_final(&ctx))
    return CSC_EINVAL;
  *len = got;
  return CSC_OK;
}

static void mac(const char *key, const char *msg, size_t n, uint8_t out[SHA256_DIGEST_SIZE]) {
  struct hmac_sha256_ctx ctx;
  hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
  hmac_sha256_update(&ctx, n, (const uint8_t *)msg);
  hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

int feed_token_make(const char *key, const struct feed_client *c, int64_t exp, char *out,
                    size_t len) {
  char claims[256], part[400], sig[64];
  const int n = snprintf(claims, sizeof claims,
                         "{\"sub\":\"%s\",\"la\":\"%s\",\"mode\":\"%s\",\"test\":%s,\"exp\":%lld}",
                         c->id, c->la, c->partial ? "partial" : "full", c->test ? "true" : "false",
                         (long long)exp);
  if (n < 0 || (size_t)n >= sizeof claims)
    return CSC_EINVAL;
  size_t used = b64url((const uint8_t *)JWT_HEADER, sizeof JWT_HEADER - 1, part);
  part[used++] = '.';
  used += b64url((const uint8_t *)claims, (size_t)n, part + used);
  uint8_t d[SHA256_DIGEST_SIZE];
  mac(key, part, used, d);
  b64url(d, sizeof d, sig);
  const int w = snprintf(out, len, "%s.%s", part, sig);
  return w > 0 && (size_t)w < len ? CSC_OK : CSC_EINVAL;
}

const struct feed_client *feed_token_check(const struct feed_config *fc, const char *token,
                                           int64_t now_s) {
  if (fc->signing_key == NULL || token == NULL)
    return NULL;
  const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL || strlen(token) > 900)
    return NULL;
  uint8_t want[SHA256_DIGEST_SIZE], got[64], buf[700];
  size_t got_len, n;
  mac(fc->signing_key, token, (size_t)(dot2 - token), want);
  if (unb64url(dot2 + 1, strlen(dot2 + 1), got, sizeof got, &got_len) != CSC_OK ||
      got_len != sizeof want || !memeql_sec(want, got, sizeof want))
    return NULL;
  /* Signed by this key: the header is ours, the claims are read. */
  if (unb64url(token, (size_t)(dot1 - token), buf, sizeof buf - 1, &n) != CSC_OK ||
      n != sizeof JWT_HEADER - 1 || memcmp(buf, JWT_HEADER, n) != 0 ||
      unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf, sizeof buf - 1, &n) != CSC_OK)
    return NULL;
  json_error_t jerr;
  json_t *claims = json_loadb((const char *)buf, n, 0, &jerr);
  const char *sub = json_string_value(json_object_get(claims, "sub"));
  const char *la = json_string_value(json_object_get(claims, "la"));
  const char *mode = json_string_value(json_object_get(claims, "mode"));
  json_t *test = json_object_get(claims, "test"), *exp = json_object_get(claims, "exp");
  const struct feed_client *found = NULL;
  for (size_t i = 0; sub && la && mode && json_is_boolean(test) && json_is_integer(exp) &&
                     json_integer_value(exp) > now_s && i < fc->n;
       i++) {
    const struct feed_client *c = &fc->clients[i];
    if (strcmp(c->id, sub) == 0 && strcmp(c->la, la) == 0 &&
        strcmp(c->partial ? "partial" : "full", mode) == 0 && c->test == json_is_true(test))
      found = c;
  }
  json_decref(claims);
  return found;
}

/* ---- the feed ---------------------------------------------------------------------- */

enum batch_state { BATCH_WAITING, BATCH_DONE, BATCH_FAILED, BATCH_LATE };

struct batch {
  struct batch *next;             /* in the feed's waiting list */
  int refs;                       /* the request's, and one per message not reported */
  size_t pending;                 /* messages not yet reported */
  enum batch_state state;
  int64_t deadline;               /* monotonic ms */
  struct MHD_Connection *conn;    /* suspended while waiting */
  int suspended;
  char error[96];                 /* the first delivery error */
};

enum outcome { OUT_ACCEPTED, OUT_REFUSED, OUT_TEST, OUT_DEFERRED, OUT_N };
static const char *const OUTCOMES[OUT_N] = {"accepted", "refused", "test", "deferred"};

struct la_count {
  char la[LA_CODE_SIZE];
  uint64_t n[OUT_N];
};

enum route { ROUTE_TOKEN, ROUTE_DATA, ROUTE_N };
static const char *const ROUTES[ROUTE_N] = {"token", "data"};

struct feed {
  const struct feed_config *fc;
  rd_kafka_t *rk;
  int64_t (*now_ms)(void *ctx);
  void *now_ctx;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;             /* batches, counters, closing */
  int stop, closing;
  struct batch *waiting;
  struct la_count *las;
  size_t n_las;
  uint64_t requests[ROUTE_N][600];
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t feed_now(struct feed *f) { return f->now_ms(f->now_ctx); }

/* Under f->mu. */
static void batch_unref(struct batch *b) {
  if (--b->refs == 0)
    free(b);
}

/* Under f->mu: the batch is answered now (state set), its connection resumed. */
static void batch_settle(struct feed *f, struct batch *b, enum batch_state state) {
  b->state = state;
  for (struct batch **p = &f->waiting; *p; p = &(*p)->next)
    if (*p == b) {
      *p = b->next;
      break;
    }
  b->next = NULL;
  if (b->suspended) {
    b->suspended = 0;
    MHD_resume_connection(b->conn);
  }
}

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct feed *f = opaque;
  struct batch *b = m->_private;
  if (b == NULL)
    return;
  pthread_mutex_lock(&f->mu);
  b->pending--;
  if (m->err && b->error[0] == '\0')
    snprintf(b->error, sizeof b->error, "%s", rd_kafka_err2str(m->err));
  if (b->state == BATCH_WAITING && (m->err || b->pending == 0))
    batch_settle(f, b, m->err ? BATCH_FAILED : BATCH_DONE);
  batch_unref(b);
  pthread_mutex_unlock(&f->mu);
}

/* Serves delivery reports and answers the requests past their deadline. */
static void *feed_thread(void *arg) {
  struct feed *f = arg;
  for (;;) {
    rd_kafka_poll(f->rk, 50);
    pthread_mutex_lock(&f->mu);
    const int stop = f->stop;
    const int64_t now = mono_ms();
    for (struct batch *b = f->waiting, *next; b; b = next) {
      next = b->next;
      if (now >= b->deadline)
        batch_settle(f, b, BATCH_LATE);
    }
    pthread_mutex_unlock(&f->mu);
    if (stop)
      return NULL;
  }
}

int feed_new(const struct feed_options *o, struct feed **out, char *err, size_t errlen) {
  struct feed *f = calloc(1, sizeof *f);
  rd_kafka_conf_t *conf = o->producer_conf;
  if (f == NULL) {
    rd_kafka_conf_destroy(conf);
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  f->fc = o->config;
  f->now_ms = o->now_ms ? o->now_ms : wall_ms;
  f->now_ctx = o->now_ctx;
  pthread_mutex_init(&f->mu, NULL);
  /* One counter row per LA a client writes: no input makes another. */
  f->las = calloc(f->fc->n ? f->fc->n : 1, sizeof *f->las);
  for (size_t i = 0; f->las && i < f->fc->n; i++) {
    size_t j = 0;
    while (j < f->n_las && strcmp(f->las[j].la, f->fc->clients[i].canonical) != 0)
      j++;
    if (j == f->n_las)
      memcpy(f->las[f->n_las++].la, f->fc->clients[i].canonical, LA_CODE_SIZE);
  }
  /* The input topic's producer: idempotent, one request in flight (as
   * kafka_sink_new), keyed by the canonical code and partitioned as every
   * producer of the input topic is. */
  int rc = f->las ? CSC_OK : CSC_ENOMEM;
  static const char *const props[][2] = {{"enable.idempotence", "true"},
                                         {"max.in.flight.requests.per.connection", "1"},
                                         {"partitioner", "murmur2_random"}};
  for (size_t i = 0; rc == CSC_OK && i < sizeof props / sizeof props[0]; i++)
    if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, errlen) != RD_KAFKA_CONF_OK)
      rc = CSC_EINVAL;
  if (rc == CSC_OK) {
    rd_kafka_conf_set_log_cb(conf, kafka_log_json); /* librdkafka's lines as JSON lines */
    rd_kafka_conf_set_dr_msg_cb(conf, delivered);
    rd_kafka_conf_set_opaque(conf, f);
    if ((f->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen)) == NULL)
      rc = CSC_EKAFKA;
  }
  if (rc != CSC_OK)
    rd_kafka_conf_destroy(conf);
  if (rc == CSC_OK && pthread_create(&f->thread, NULL, feed_thread, f) != 0) {
    snprintf(err, errlen, "cannot start the feed's thread");
    rc = CSC_EIO;
  }
  f->thread_started = rc == CSC_OK;
  if (rc != CSC_OK) {
    feed_free(f);
    return rc;
  }
  *out = f;
  return CSC_OK;
}

rd_kafka_t *feed_producer(struct feed *f) { return f->rk; }

void feed_free(struct feed *f) {
  if (f == NULL)
    return;
  if (f->rk) {
    rd_kafka_flush(f->rk, 10000);
    rd_kafka_purge(f->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  }
  if (f->thread_started) {
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
  }
  if (f->rk) {
    rd_kafka_poll(f->rk, 0); /* the purged messages' reports free their batches */
    rd_kafka_destroy(f->rk);
  }
  pthread_mutex_destroy(&f->mu);
  free(f->las);
  free(f);
}

void feed_shutdown(struct feed *f) {
  if (f == NULL)
    return;
  pthread_mutex_lock(&f->mu);
  f->closing = 1;
  while (f->waiting)
    batch_settle(f, f->waiting, BATCH_LATE);
  pthread_mutex_unlock(&f->mu);
}

static void count_docs(struct feed *f, const char *la, enum outcome o, uint64_t n) {
  if (n == 0)
    return;
  pthread_mutex_lock(&f->mu);
  for (size_t i = 0; i < f->n_las; i++)
    if (strcmp(f->las[i].la, la) == 0)
      f->las[i].n[o] += n;
  pthread_mutex_unlock(&f->mu);
}

void feed_metrics_write(FILE *out, struct feed *f) {
  pthread_mutex_lock(&f->mu);
  fputs("# HELP cscflow_feed_documents_total Documents the DfE CSC API feed received, by LA and "
        "outcome (accepted: on the input topic; refused: named in a 400; test: a test client's "
        "or the test child, never produced; deferred: answered 429).\n"
        "# TYPE cscflow_feed_documents_total counter\n",
        out);
  for (size_t i = 0; i < f->n_las; i++)
    for (int o = 0; o < OUT_N; o++)
      fprintf(out, "cscflow_feed_documents_total{la=\"%s\",outcome=\"%s\"} %llu\n", f->las[i].la,
              OUTCOMES[o], (unsigned long long)f->las[i].n[o]);
  fputs("# HELP cscflow_feed_requests_total Requests to the feed's routes, by answer status.\n"
        "# TYPE cscflow_feed_requests_total counter\n",
        out);
  for (int r = 0; r < ROUTE_N; r++)
    for (int s = 100; s < 600; s++)
      if (f->requests[r][s])
        fprintf(out, "cscflow_feed_requests_total{route=\"%s\",status=\"%d\"} %llu\n", ROUTES[r],
                s, (unsigned long long)f->requests[r][s]);
  pthread_mutex_unlock(&f->mu);
}

/* ---- requests ---------------------------------------------------------------------- */

struct request {
  enum route route;
  unsigned refusal;               /* an answer decided from the headers: the body is dropped */
  const char *refusal_error;
  char la_path[LA_CODE_SIZE];
  const struct feed_client *client;
  char *body;
  size_t len, cap;
  long limit;
  int too_large;
  struct batch *batch;            /* once produced */
  char *answer;                   /* the 200's body, kept while waiting */
  size_t documents, produced, test;
  int64_t started;                /* monotonic ms, for the log */
};

/* The path with each run of slashes made one. 0 when too long. */
static int squeeze(const char *url, char *out, size_t len) {
  size_t n = 0;
  for (const char *p = url; *p; p++) {
    if (*p == '/' && n > 0 && out[n - 1] == '/')
      continue;
    if (n + 1 >= len)
      return 0;
    out[n++] = *p;
  }
  if (n > 1 && out[n - 1] == '/')
    n--; /* a trailing slash */
  out[n] = '\0';
  return 1;
}

/* The route of url, with the data route's LA segment into la. -1: none. */
static int route_of(const char *url, char la[LA_CODE_SIZE], int *la_ok) {
  char path[512];
  static const char data[] = FEED_PREFIX "/children_social_care_data/";
  *la_ok = 0;
  if (!squeeze(url, path, sizeof path))
    return -1;
  if (strcmp(path, FEED_PREFIX "/token") == 0)
    return ROUTE_TOKEN;
  if (strncmp(path, data, sizeof data - 1) != 0)
    return -1;
  const char *seg = path + sizeof data - 1, *slash = strchr(seg, '/');
  if (slash == NULL || strcmp(slash, "/children") != 0)
    return -1;
  const size_t n = (size_t)(slash - seg);
  if (n > 0 && n < LA_CODE_SIZE) {
    memcpy(la, seg, n);
    la[n] = '\0';
    *la_ok = ingest_la_code_valid(la);
  }
  return ROUTE_DATA;
}

int feed_path(const char *url) {
  char la[LA_CODE_SIZE];
  int ok;
  return route_of(url, la, &ok) >= 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, unsigned status, const char *body,
                                  int retry_after) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  if (retry_after) {
    char v[16];
    snprintf(v, sizeof v, "%d", FEED_RETRY_AFTER_S);
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
  }
  const enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* One log line per request: LA, client, counts and status; never a child
 * id or anything of a document. */
static void log_request(struct feed *f, const struct request *q, unsigned status) {
  pthread_mutex_lock(&f->mu);
  if (status >= 100 && status < 600)
    f->requests[q->route][status]++;
  pthread_mutex_unlock(&f->mu);
  const struct feed_client *c = q->client;
  log_json(status == 200 ? LOG_INFO : LOG_WARN, "feed_request",
           "\"route\":\"%s\",\"la\":%s,\"client\":%s,\"documents\":%zu,\"produced\":%zu,"
           "\"test\":%zu,\"bytes\":%zu,\"status\":%u,\"ms\":%lld",
           ROUTES[q->route], c ? c->canonical : "null", c ? c->id : "null", q->documents,
           q->produced, q->test, q->len, status, (long long)(mono_ms() - q->started));
}

static enum MHD_Result answer(struct feed *f, struct MHD_Connection *c, struct request *q,
                              unsigned status, const char *body) {
  log_request(f, q, status);
  return send_reply(c, status, body, status == MHD_HTTP_TOO_MANY_REQUESTS);
}

static enum MHD_Result answer_error(struct feed *f, struct MHD_Connection *c, struct request *q,
                                    unsigned status, const char *error) {
  char body[160];
  snprintf(body, sizeof body, "{\"error\":\"%s\"}", error);
  return answer(f, c, q, status, body);
}

/* ---- the token route ---------------------------------------------------------------- */

static int unhex(int ch) {
  return ch >= '0' && ch <= '9' ? ch - '0'
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                  : -1;
}

/* The value of name in a form-encoded body, decoded into out; 0 when absent
 * or too long. */
static int form_value(const char *body, size_t len, const char *name, char *out, size_t cap) {
  const size_t nlen = strlen(name);
  for (size_t i = 0; i < len;) {
    size_t end = i;
    while (end < len && body[end] != '&')
      end++;
    if (end - i > nlen && memcmp(body + i, name, nlen) == 0 && body[i + nlen] == '=') {
      size_t n = 0;
      for (size_t k = i + nlen + 1; k < end; k++) {
        int ch = (unsigned char)body[k];
        if (ch == '+')
          ch = ' ';
        else if (ch == '%' && k + 2 < end + 1 && unhex(body[k + 1]) >= 0 &&
                 unhex(body[k + 2]) >= 0) {
          ch = unhex(body[k + 1]) * 16 + unhex(body[k + 2]);
          k += 2;
        }
        if (n + 1 >= cap || ch == 0)
          return 0;
        out[n++] = (char)ch;
      }
      out[n] = '\0';
      return 1;
    }
    i = end + 1;
  }
  return 0;
}

static void sha256_of(const char *s, uint8_t out[32]) {
  struct sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, strlen(s), (const uint8_t *)s);
  sha256_digest(&ctx, 32, out);
}

static enum MHD_Result token_request(struct feed *f, struct MHD_Connection *c,
                                     struct request *q) {
  char id[128], secret[512], grant[64];
  if (!form_value(q->body, q->len, "grant_type", grant, sizeof grant) ||
      !form_value(q->body, q->len, "client_id", id, sizeof id) ||
      !form_value(q->body, q->len, "client_secret", secret, sizeof secret))
    return answer_error(f, c, q, MHD_HTTP_BAD_REQUEST, "invalid_request");
  if (strcmp(grant, "client_credentials") != 0)
    return answer_error(f, c, q, MHD_HTTP_BAD_REQUEST, "unsupported_grant_type");
  uint8_t h[32];
  sha256_of(secret, h);
  memset(secret, 0, sizeof secret);
  const struct feed_client *found = NULL;
  for (size_t i = 0; i < f->fc->n; i++)
    if (strcmp(f->fc->clients[i].id, id) == 0 && memeql_sec(f->fc->clients[i].secret, h, 32))
      found = &f->fc->clients[i];
  if (found == NULL)
    return answer_error(f, c, q, MHD_HTTP_UNAUTHORIZED, "invalid_client");
  q->client = found;
  char token[1024], body[1200];
  const int64_t exp = feed_now(f) / 1000 + found->token_lifetime_s;
  if (feed_token_make(f->fc->signing_key, found, exp, token, sizeof token) != CSC_OK)
    return answer_error(f, c, q, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error");
  snprintf(body, sizeof body,
           "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":%ld}", token,
           found->token_lifetime_s);
  return answer(f, c, q, MHD_HTTP_OK, body);
}

/* ---- the data route ------------------------------------------------------------------ */

/* The headers' verdict on a data request: 0, or the status to refuse it with. */
static unsigned check_headers(struct feed *f, struct MHD_Connection *c, struct request *q,
                              int la_ok, const char **error) {
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "SupplierKey");
  const struct feed_client *client = NULL;
  if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
    client = feed_token_check(f->fc, auth + 7, feed_now(f) / 1000);
  *error = "invalid_token";
  if (client == NULL)
    return MHD_HTTP_UNAUTHORIZED;
  q->client = client;
  uint8_t h[32];
  if (key == NULL)
    return *error = "invalid_supplier_key", MHD_HTTP_UNAUTHORIZED;
  sha256_of(key, h);
  if (!memeql_sec(h, client->supplier_key, 32))
    return *error = "invalid_supplier_key", MHD_HTTP_UNAUTHORIZED;
  /* The path's LA is the client's when both are one LA (an alias, or the
   * same code); any other, valid or not, is another LA's path. */
  *error = "forbidden_la";
  if (!la_ok || (strcmp(q->la_path, client->la) != 0 && strcmp(q->la_path, client->canonical) != 0))
    return MHD_HTTP_FORBIDDEN;
  const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  const size_t tl = strlen("application/json");
  *error = "unsupported_media_type";
  if (type == NULL || strncasecmp(type, "application/json", tl) != 0 ||
      (type[tl] != '\0' && type[tl] != ';' && type[tl] != ' '))
    return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
  return 0;
}

/* The 400's body: the problem, [n] first when a document is named. The
 * field is a dotted path and the reasons have no brackets, so [n] is the
 * only bracketed number. */
static enum MHD_Result refuse_documents(struct feed *f, struct MHD_Connection *c,
                                        struct request *q, const struct dfe_problem *p) {
  char line[400];
  if (p->index >= 0)
    snprintf(line, sizeof line, "[%ld] %s%s%s", p->index, p->field, p->field[0] ? ": " : "",
             p->reason);
  else
    snprintf(line, sizeof line, "%s", p->reason);
  json_t *doc = json_pack("{s:s,s:[s]}", "error", "invalid_documents", "errors", line);
  char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (p->index >= 0)
    count_docs(f, q->client->canonical, OUT_REFUSED, 1);
  const enum MHD_Result ok =
      answer(f, c, q, MHD_HTTP_BAD_REQUEST, body ? body : "{\"error\":\"invalid_documents\"}");
  free(body);
  return ok;
}

/* The answer once the batch is settled (or had nothing to wait for). */
static enum MHD_Result answer_batch(struct feed *f, struct MHD_Connection *c, struct request *q) {
  pthread_mutex_lock(&f->mu);
  const enum batch_state state = q->batch ? q->batch->state : BATCH_DONE;
  char error[96] = "";
  if (q->batch)
    snprintf(error, sizeof error, "%s", q->batch->error);
  pthread_mutex_unlock(&f->mu);
  if (state == BATCH_DONE) {
    count_docs(f, q->client->canonical, OUT_ACCEPTED, q->produced);
    count_docs(f, q->client->canonical, OUT_TEST, q->test);
    return answer(f, c, q, MHD_HTTP_OK, q->answer);
  }
  count_docs(f, q->client->canonical, OUT_DEFERRED, q->documents);
  log_json(LOG_WARN, "feed_not_acknowledged", "\"la\":\"%s\",\"client\":\"%s\",\"events\":%zu,"
           "\"why\":\"%s\"", q->client->canonical, q->client->id, q->produced,
           state == BATCH_LATE ? "no acknowledgement within the deadline" : error);
  return answer_error(f, c, q, MHD_HTTP_TOO_MANY_REQUESTS, "not_acknowledged_retry_later");
}

/* Produces each event of docs (under f->mu: no report is counted before
 * every message is). CSC_EKAFKA when one could not be queued. */
static int produce(struct feed *f, struct request *q, CaseEvent *events, int *skip, size_t n,
                   struct arena *a) {
  const char *key = q->client->canonical;
  for (size_t i = 0; i < n; i++) {
    if (skip[i])
      continue;
    const size_t len = cscflow__v1__case_event__get_packed_size(&events[i]);
    uint8_t *buf = arena_alloc(a, len ? len : 1);
    if (buf == NULL)
      return CSC_ENOMEM;
    cscflow__v1__case_event__pack(&events[i], buf);
    q->batch->refs++;
    q->batch->pending++;
    const rd_kafka_resp_err_t e = rd_kafka_producev(
        f->rk, RD_KAFKA_V_TOPIC(f->fc->topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(q->batch), RD_KAFKA_V_END);
    if (e) {
      q->batch->refs--;
      q->batch->pending--;
      snprintf(q->batch->error, sizeof q->batch->error, "%s", rd_kafka_err2str(e));
      return CSC_EKAFKA;
    }
    q->produced++;
  }
  return CSC_OK;
}

static char *reply_ids(const CaseEvent *events, size_t n, int64_t received_ms) {
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    char id[96];
    dfe_reply_id(received_ms, events[i].event_id, id, sizeof id);
    if (json_array_append_new(arr, json_string(id)) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
  json_decref(arr);
  return s;
}

static enum MHD_Result data_request(struct feed *f, struct MHD_Connection *c, struct request *q) {
  struct arena a;
  arena_init(&a, 1 << 16);
  struct dfe_document *docs;
  size_t n;
  struct dfe_problem problem;
  const struct feed_client *cl = q->client;
  const int64_t received = feed_now(f);
  int rc = dfe_parse(q->body ? q->body : "", q->len,
                     cl->partial ? CSCFLOW__V1__RECORD_MODE__RECORD_MODE_PARTIAL
                                 : CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL,
                     &a, &docs, &n, &problem);
  if (rc == CSC_EINVAL) {
    arena_free(&a);
    return refuse_documents(f, c, q, &problem);
  }
  q->documents = n;
  CaseEvent *events = rc == CSC_OK ? arena_alloc(&a, (n ? n : 1) * sizeof *events) : NULL;
  int *skip = events ? arena_alloc(&a, (n ? n : 1) * sizeof *skip) : NULL;
  rc = skip ? CSC_OK : CSC_ENOMEM;
  for (size_t i = 0; rc == CSC_OK && i < n; i++) {
    rc = dfe_event(cl->canonical, &docs[i], received, &a, &events[i]);
    skip[i] = cl->test || docs[i].test_child;
    q->test += (size_t)skip[i];
  }
  if (rc == CSC_OK && (q->answer = reply_ids(events, n, received)) == NULL)
    rc = CSC_ENOMEM;
  if (rc != CSC_OK) {
    arena_free(&a);
    return answer_error(f, c, q, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error");
  }
  if (q->test == n) { /* nothing to produce: answered at once */
    arena_free(&a);
    return answer_batch(f, c, q);
  }
  pthread_mutex_lock(&f->mu);
  if (f->closing) {
    pthread_mutex_unlock(&f->mu);
    arena_free(&a);
    return answer_error(f, c, q, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping");
  }
  if ((q->batch = calloc(1, sizeof *q->batch)) == NULL) {
    pthread_mutex_unlock(&f->mu);
    arena_free(&a);
    return answer_error(f, c, q, MHD_HTTP_INTERNAL_SERVER_ERROR, "server_error");
  }
  q->batch->refs = 1; /* the request's */
  q->batch->state = BATCH_WAITING;
  rc = produce(f, q, events, skip, n, &a);
  if (rc != CSC_OK)
    q->batch->state = BATCH_FAILED; /* what was queued goes on; the sender resends */
  else if (q->batch->pending == 0)
    q->batch->state = BATCH_DONE;
  if (q->batch->state == BATCH_WAITING) {
    q->batch->deadline = mono_ms() + f->fc->ack_timeout_ms;
    q->batch->conn = c;
    q->batch->suspended = 1;
    q->batch->next = f->waiting;
    f->waiting = q->batch;
    MHD_suspend_connection(c); /* resumed by batch_settle, under this lock */
    pthread_mutex_unlock(&f->mu);
    arena_free(&a);
    return MHD_YES;
  }
  pthread_mutex_unlock(&f->mu);
  arena_free(&a);
  return answer_batch(f, c, q);
}

/* ---- the handler ------------------------------------------------------------------- */

static int body_append(struct request *q, const char *data, size_t n) {
  if (q->refusal || q->too_large)
    return CSC_OK; /* read and dropped */
  if ((long)(q->len + n) > q->limit) {
    q->too_large = 1;
    free(q->body);
    q->body = NULL;
    q->len = q->cap = 0;
    return CSC_OK;
  }
  if (q->len + n + 1 > q->cap) {
    size_t cap = q->cap ? q->cap : 65536;
    while (cap < q->len + n + 1)
      cap *= 2;
    char *b = realloc(q->body, cap);
    if (b == NULL)
      return CSC_ENOMEM;
    q->body = b;
    q->cap = cap;
  }
  memcpy(q->body + q->len, data, n);
  q->len += n;
  q->body[q->len] = '\0';
  return CSC_OK;
}

static enum MHD_Result first_call(struct feed *f, struct MHD_Connection *c, const char *url,
                                  const char *method, void **req) {
  struct request *q = calloc(1, sizeof *q);
  if (q == NULL)
    return MHD_NO;
  int la_ok;
  q->route = (enum route)route_of(url, q->la_path, &la_ok);
  q->started = mono_ms();
  *req = q;
  if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
    return answer_error(f, c, q, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed");
  q->limit = q->route == ROUTE_TOKEN ? TOKEN_BODY_MAX : f->fc->max_body_bytes;
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  if (cl != NULL && strtoull(cl, NULL, 10) > (unsigned long long)q->limit) {
    if (q->route == ROUTE_DATA) /* the LA, for the log, once the client is known */
      check_headers(f, c, q, la_ok, &q->refusal_error);
    return answer_error(f, c, q, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large");
  }
  if (q->route == ROUTE_DATA)
    q->refusal = check_headers(f, c, q, la_ok, &q->refusal_error);
  return MHD_YES;
}

int feed_handle(struct feed *f, struct MHD_Connection *c, const char *url, const char *method,
                const char *upload, size_t *upload_size, void **req) {
  if (*req == NULL)
    return first_call(f, c, url, method, req);
  struct request *q = *req;
  if (*upload_size != 0) {
    const int rc = body_append(q, upload, *upload_size);
    *upload_size = 0;
    return rc == CSC_OK ? MHD_YES : MHD_NO;
  }
  if (q->batch != NULL) /* resumed: settled */
    return answer_batch(f, c, q);
  if (q->refusal)
    return answer_error(f, c, q, q->refusal, q->refusal_error);
  if (q->too_large)
    return answer_error(f, c, q, MHD_HTTP_CONTENT_TOO_LARGE, "payload_too_large");
  if (q->route == ROUTE_TOKEN)
    return token_request(f, c, q);
  return data_request(f, c, q);
}

void feed_request_done(struct feed *f, void *req) {
  struct request *q = req;
  if (q == NULL)
    return;
  if (q->batch) {
    pthread_mutex_lock(&f->mu);
    if (q->batch->state == BATCH_WAITING) { /* closed while waiting: not expected */
      q->batch->suspended = 0;
      batch_settle(f, q->batch, BATCH_LATE);
    }
    batch_unref(q->batch);
    pthread_mutex_unlock(&f->mu);
  }
  free(q->body);
  free(q->answer);
  free(q);
}
