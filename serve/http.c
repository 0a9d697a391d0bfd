/*
 * The HTTP server: libmicrohttpd's own threads call handle() for each
 * request; each request reads the store in a read transaction of its own.
 *
 * The store is written by another process (cscflow serve) or by this
 * process's engine (cscflow run); store_read_begin copes with a map that
 * either of them grows.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <microhttpd.h>

#include "indicators/indicators.h"
#include "serve/api.h"
#include "serve/assets.h"
#include "serve/feed.h"
#include "serve/guard.h"
#include "serve/serve.h"

struct server {
  struct MHD_Daemon *daemon;
  struct guard *guard; /* the header deadline */
  struct store *st;
  int own_store; /* opened here, read-only (cscflow serve), rather than borrowed */
  const struct api_tokens *tokens;
  const struct la_registry *las; /* borrowed; NULL: no aliases */
  int64_t ready_max_lag;
  struct feed *feed; /* borrowed; NULL: no feed routes */
  int port;
};

static int64_t now_unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- responses ------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, "Cache-Control", "no-store");
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
  const enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *what) {
  char body[160];
  const int n = snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", what);
  return reply(c, status, "application/json", body, (size_t)n);
}

/* A file of the page, from static storage (no copy). The page's own policy:
 * scripts and styles from this server only, never framed by another site. */
static enum MHD_Result reply_asset(struct MHD_Connection *c, const struct asset *a) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
  MHD_add_response_header(r, "Cache-Control", "no-cache");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "Content-Security-Policy",
                          "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
  const enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ok;
}

/* Sends doc (consuming the reference) as compact JSON. */
static enum MHD_Result reply_json(struct MHD_Connection *c, json_t *doc) {
  char *body = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  if (body == NULL)
    return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
  const size_t n = strlen(body);
  struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
  if (r == NULL) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  const enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ok;
}

/* The reply for an api_* failure. */
static enum MHD_Result reply_failure(struct MHD_Connection *c, int rc, const char *why) {
  switch (rc) {
  case CSC_ENOTFOUND: return reply_error(c, MHD_HTTP_NOT_FOUND, why ? why : "no state for this LA yet");
  case CSC_EINVAL: return reply_error(c, MHD_HTTP_BAD_REQUEST, why ? why : "bad request");
  default: return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the state");
  }
}

static const char *query(struct MHD_Connection *c, const char *name) {
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- the store --------------------------------------------------------------------- */

/* ---- routes ----------------------------------------------------------------------- */

/*
 * 1 when the request's bearer token may read la's routes (the operator's
 * routes when la is NULL); else 0, with the 401 or 403 queued in *refusal.
 */
static int allowed(struct server *s, struct MHD_Connection *c, const char *la,
                   enum MHD_Result *refusal) {
  const char *auth =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  switch (api_tokens_check(s->tokens, auth, la)) {
  case ACCESS_OK: return 1;
  case ACCESS_FORBIDDEN:
    *refusal = reply_error(c, MHD_HTTP_FORBIDDEN,
                           la ? "not this LA's token" : "the operator token is required");
    return 0;
  default: *refusal = reply_error(c, MHD_HTTP_UNAUTHORIZED, "a bearer token is required"); return 0;
  }
}

/* A text body written by a function of the state, in one read transaction:
 * the snapshot (CSC_ENOTFOUND: 404 with missing) and the metrics. */
typedef int (*body_writer)(FILE *f, struct server *s, MDB_txn *txn, const char *la);

static enum MHD_Result reply_written(struct server *s, struct MHD_Connection *c,
                                     const char *type, body_writer write, const char *la,
                                     const char *missing) {
  MDB_txn *txn;
  if (store_read_begin(s->st, &txn) != CSC_OK)
    return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "state unavailable");
  char *body = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&body, &len);
  int rc = f ? write(f, s, txn, la) : CSC_ENOMEM;
  if (f)
    fclose(f);
  store_read_end(s->st, txn);
  enum MHD_Result ok;
  if (rc == CSC_OK)
    ok = reply(c, MHD_HTTP_OK, type, body, len);
  else if (rc == CSC_ENOTFOUND)
    ok = reply_error(c, MHD_HTTP_NOT_FOUND, missing);
  else
    ok = reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the state");
  free(body);
  return ok;
}

static int write_json(void *f, const IndicatorSnapshot *snap) {
  return snapshot_write_json(f, snap);
}

static int write_snapshot(FILE *f, struct server *s, MDB_txn *txn, const char *la) {
  return snapshot_each(s->st, txn, la, write_json, f);
}

static int write_metrics(FILE *f, struct server *s, MDB_txn *txn, const char *la) {
  (void)la;
  const int rc = metrics_write(f, s->st, txn, now_unix_ms());
  if (rc == CSC_OK && s->feed != NULL)
    feed_metrics_write(f, s->feed);
  return rc;
}

/* The LA's JSON documents (serve/api.c), each in a read transaction of its own. */
static enum MHD_Result get_document(struct server *s, struct MHD_Connection *c, const char *la,
                                   const char *what) {
  MDB_txn *txn;
  if (store_read_begin(s->st, &txn) != CSC_OK)
    return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "state unavailable");
  json_t *doc = NULL;
  const char *why = NULL;
  int rc;
  if (strcmp(what, "series") == 0) {
    const struct series_query q = {query(c, "indicator"), query(c, "window"),
                                   query(c, "breakdown"), query(c, "from"), query(c, "to")};
    rc = api_series(s->st, txn, la, &q, &doc, &why);
  } else if (strcmp(what, "alerts") == 0) {
    rc = api_alerts(s->st, txn, la, query(c, "status"), &doc, &why);
  } else {
    rc = api_quality(s->st, txn, la, &doc);
  }
  store_read_end(s->st, txn);
  return rc == CSC_OK ? reply_json(c, doc) : reply_failure(c, rc, why);
}

static enum MHD_Result get_ready(struct server *s, struct MHD_Connection *c) {
  MDB_txn *txn;
  if (store_read_begin(s->st, &txn) != CSC_OK)
    return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "state unavailable\n", 18);
  char why[512]; /* room for a stopped partition's topic name (up to 249 bytes) */
  const int ready = ready_check(s->st, txn, now_unix_ms(), s->ready_max_lag, why, sizeof why);
  store_read_end(s->st, txn);
  if (ready)
    return reply(c, MHD_HTTP_OK, "text/plain", "ready\n", 6);
  const size_t n = strlen(why);
  if (n + 1 < sizeof why) {
    why[n] = '\n';
    why[n + 1] = '\0';
  }
  return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", why, strlen(why));
}

/* /readyz?format=json (ready_json): 200 when ready, else 503, as /readyz. */
static enum MHD_Result get_ready_json(struct server *s, struct MHD_Connection *c) {
  MDB_txn *txn;
  if (store_read_begin(s->st, &txn) != CSC_OK)
    return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "state unavailable");
  json_t *doc = NULL;
  const int rc = ready_json(s->st, txn, now_unix_ms(), s->ready_max_lag, &doc);
  store_read_end(s->st, txn);
  if (rc != CSC_OK)
    return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
  const unsigned status = json_is_true(json_object_get(doc, "ready"))
                              ? MHD_HTTP_OK
                              : MHD_HTTP_SERVICE_UNAVAILABLE;
  char *body = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  if (body == NULL)
    return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
  const enum MHD_Result ok = reply(c, status, "application/json", body, strlen(body));
  free(body);
  return ok;
}

/* /v1/las/{la}/{rest}: copies la, points *rest after its slash; 0 if the
 * path is not of that form. {la} meets the LA code rule (ingest.h), so no
 * path ("..", "%2e", a slash) escapes the LA's routes. */
static int split_la_path(const char *url, char la[LA_CODE_SIZE], const char **rest) {
  static const char prefix[] = "/v1/las/";
  if (strncmp(url, prefix, sizeof prefix - 1) != 0)
    return 0;
  const char *p = url + sizeof prefix - 1, *slash = strchr(p, '/');
  if (slash == NULL || slash - p >= LA_CODE_SIZE)
    return 0;
  memcpy(la, p, (size_t)(slash - p));
  la[slash - p] = '\0';
  *rest = slash + 1;
  return ingest_la_code_valid(la);
}

static enum MHD_Result route(struct server *s, struct MHD_Connection *c, const char *url) {
  if (strcmp(url, "/healthz") == 0)
    return reply(c, MHD_HTTP_OK, "text/plain", "ok\n", 3);
  if (strcmp(url, "/readyz") == 0) {
    const char *format = query(c, "format");
    return format && strcmp(format, "json") == 0 ? get_ready_json(s, c) : get_ready(s, c);
  }
  enum MHD_Result refusal;
  if (strcmp(url, "/metrics") == 0)
    return allowed(s, c, NULL, &refusal)
               ? reply_written(s, c, "text/plain; version=0.0.4", write_metrics, NULL, "")
               : refusal;
  const struct asset *a = asset_find(url);
  if (a != NULL)
    return reply_asset(c, a);
  char code[LA_CODE_SIZE];
  const char *rest, *why;
  if (!split_la_path(url, code, &rest))
    return reply_error(c, MHD_HTTP_NOT_FOUND, "not found");
  /* An LA's other code (cscflow.la.alias.*) reads the LA it names: its
   * data, and its token, are the canonical code's. */
  const char *la = la_registry_resolve(s->las, code, &why);
  if (la == NULL)
    return reply_error(c, MHD_HTTP_NOT_FOUND, "not found");
  if (!allowed(s, c, la, &refusal))
    return refusal;
  if (strcmp(rest, "snapshot") == 0)
    return reply_written(s, c, "application/json", write_snapshot, la, "no snapshot yet");
  if (strcmp(rest, "series") == 0 || strcmp(rest, "alerts") == 0 || strcmp(rest, "quality") == 0)
    return get_document(s, c, la, rest);
  return reply_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

/* *req of a request of the read API (a feed request's is the feed's). */
static const char started_marker[] = "";

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req) {
  (void)version;
  static const char *const started = started_marker;
  struct server *s = cls;
  if (*req == NULL)
    guard_headers_complete(s->guard, c);
  /* The feed's routes take a body (serve/feed.h); the request is its own. */
  if (s->feed != NULL && (*req == NULL ? feed_path(url) : *req != (void *)started))
    return (enum MHD_Result)feed_handle(s->feed, c, url, method, upload, upload_size, req);
  if (*req == NULL) { /* headers only so far: answer once any body is read */
    *req = (void *)started;
    return MHD_YES;
  }
  if (*upload_size != 0) {
    *upload_size = 0; /* a read API: a body is read and ignored */
    return MHD_YES;
  }
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "read only");
  return route(s, c, url);
}

/* The end of a request: a feed request's memory, and the header deadline
 * again for the next request on the connection. */
static void request_completed(void *cls, struct MHD_Connection *c, void **req,
                              enum MHD_RequestTerminationCode toe) {
  struct server *s = cls;
  if (s->feed != NULL && *req != NULL && *req != (void *)started_marker)
    feed_request_done(s->feed, *req);
  *req = NULL;
  guard_request_completed(s->guard, c, req, toe);
}

/* ---- start and stop --------------------------------------------------------------- */

/* Descriptors the process needs beside the API's connections: the store,
 * the Kafka clients' sockets and pipes, each thread's epoll descriptor,
 * the listening socket, stdio. */
#define FD_HEADROOM 64

struct limits {
  unsigned connections, per_client, header_timeout_s;
};

static unsigned or_default(unsigned v, unsigned def) { return v != 0 ? v : def; }

static int limits_of(const struct serve_options *o, struct limits *l, char *err, size_t errlen) {
  l->connections = or_default(o->max_connections, API_MAX_CONNECTIONS_DEFAULT);
  l->per_client = or_default(o->max_connections_per_client, API_MAX_CONNECTIONS_PER_CLIENT_DEFAULT);
  l->header_timeout_s = or_default(o->header_timeout_s, API_HEADER_TIMEOUT_S_DEFAULT);
  if (l->per_client > l->connections) {
    snprintf(err, errlen, "%u connections per client is more than %u in all", l->per_client,
             l->connections);
    return CSC_EINVAL;
  }
  return CSC_OK;
}

/*
 * A connection past the open-file limit fails in accept(2), for every
 * client alike: so the limit must cover max_connections. The soft limit is
 * raised as far as needed when the hard limit allows (the usual soft limit
 * is 1,024); otherwise serving is refused with what to change.
 */
static int open_files_enough(unsigned connections, char *err, size_t errlen) {
  struct rlimit rl;
  const rlim_t need = (rlim_t)connections + FD_HEADROOM;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
    return CSC_OK;
  if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
      return CSC_OK;
  }
  snprintf(err, errlen,
           "%u API connections need %llu open files; the hard limit is %llu (ulimit -Hn, "
           "LimitNOFILE=): lower cscflow.api.max_connections or raise it",
           connections, (unsigned long long)need, (unsigned long long)rl.rlim_max);
  return CSC_EINVAL;
}

/* libmicrohttpd's threads: MHD_USE_AUTO picks epoll on Linux, so no
 * connection is limited by select's FD_SETSIZE. */
static struct MHD_Daemon *start_daemon(struct server *s, const struct sockaddr_in *addr,
                                       const struct limits *l) {
  /* Suspend and resume: a feed request waiting for Kafka holds no thread. */
  return MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, addr,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)API_THREADS, MHD_OPTION_CONNECTION_LIMIT,
      l->connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, l->per_client,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_TIMEOUT_S,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_NOTIFY_CONNECTION,
      guard_notify_connection, s->guard, MHD_OPTION_NOTIFY_COMPLETED, request_completed, s,
      MHD_OPTION_END);
}

/* The state: the engine's store, or this process's read-only view of it. */
static int attach_store(struct server *s, const struct serve_options *o, char *err,
                        size_t errlen) {
  if (o->store != NULL) {
    s->st = o->store;
    return CSC_OK;
  }
  const int rc = store_open(o->state_dir, 1, &s->st, err, errlen);
  s->own_store = rc == CSC_OK;
  return rc;
}

static int listen_and_serve(struct server *s, const struct serve_options *o,
                            const struct limits *l, char *err, size_t errlen) {
  const char *address = o->address ? o->address : "127.0.0.1";
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)o->port);
  if (inet_pton(AF_INET, address, &addr.sin_addr) != 1) {
    snprintf(err, errlen, "%s: not an IPv4 address", address);
    return CSC_EINVAL;
  }
  if (guard_start(l->header_timeout_s, &s->guard) != CSC_OK) {
    snprintf(err, errlen, "cannot start the header deadline's thread");
    return CSC_EIO;
  }
  s->daemon = start_daemon(s, &addr, l);
  if (s->daemon == NULL) {
    snprintf(err, errlen, "cannot listen on %s:%d", address, o->port);
    return CSC_EIO;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : o->port;
  return CSC_OK;
}

int serve_start(const struct serve_options *o, struct server **out, char *err, size_t errlen) {
  struct limits l;
  int rc = limits_of(o, &l, err, errlen);
  if (rc == CSC_OK)
    rc = open_files_enough(l.connections, err, errlen);
  if (rc != CSC_OK)
    return rc;
  struct server *s = calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  s->tokens = o->tokens;
  s->las = o->las;
  s->feed = o->feed;
  s->ready_max_lag = o->ready_max_lag > 0 ? o->ready_max_lag : 1000;
  rc = attach_store(s, o, err, errlen);
  if (rc == CSC_OK)
    rc = listen_and_serve(s, o, &l, err, errlen);
  if (rc != CSC_OK) {
    serve_stop(s);
    return rc;
  }
  *out = s;
  return CSC_OK;
}

int serve_port(const struct server *s) { return s->port; }

void serve_stop(struct server *s) {
  if (s == NULL)
    return;
  feed_shutdown(s->feed); /* no connection may stay suspended */
  if (s->daemon)
    MHD_stop_daemon(s->daemon); /* closes every connection: the guard forgets them */
  guard_stop(s->guard);
  if (s->own_store)
    store_close(s->st);
  free(s);
}
