/*
 * feed_http.c — the DfE CSC API feed's routes (serve/feed.h is the
 * contract): the paths, the token route, the data route, and the handler
 * serve/http.c calls for them. The batches they produce are serve/feed.c's.
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
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "feeds/feeds.h"
#include "serve/feed_internal.h"

#define TOKEN_BODY_MAX 65536 /* a token request's form */

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
    q->documents = problem.documents; /* for the request's log line */
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
    /* Under f->mu: why that cannot deadlock is told in feed_internal.h. */
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
