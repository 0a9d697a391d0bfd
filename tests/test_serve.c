/*
 * test_serve.c — the HTTP read API on loopback: a state written by the
 * engine (one LA with a referral), then requests as a browser, another LA's
 * client and an attacker would send them:
 *   - /healthz answers without a token;
 *   - the LA's snapshot needs that LA's bearer token: none, a malformed
 *     header, an unknown token -> 401; another LA's or the operator's token
 *     -> 403; the LA's own -> 200 with the snapshot's JSON;
 *   - paths that try to leave the LA (.., an encoded .., a slash) -> 404;
 *     other methods -> 405;
 *   - an oversized header is refused, a silent client is dropped after the
 *     timeout, and the server answers normally after both;
 *   - a greedy client on 127.0.0.2 (Linux routes all of 127/8 to lo) that
 *     opens more connections than the old server had in all keeps only its
 *     per-client maximum, and trickles header lines on them: meanwhile 30
 *     health probes and the LA's snapshot requests from 127.0.0.1 all
 *     succeed, and the header deadline cuts every greedy connection although
 *     none is ever idle long enough for the idle timeout;
 *   - /metrics (metrics_write on a state of its own) labels at most
 *     METRICS_LA_LABELS_MAX valid LA codes and sums every other LA, past
 *     the cap or with a code that is not valid, into la="other"; every line
 *     is valid UTF-8.
 * Every socket wait is bounded by SO_RCVTIMEO.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "serve/serve.h"
#include "tests/harness.h"
#include "tests/testutil.h"

struct world {
  struct fixture f;
  struct api_tokens tokens;
  struct la_registry las;
  struct server *srv;
  int port;
};

static int http_get(const struct world *w, const char *path, const char *auth, char *buf,
                    size_t len) {
  return test_http_get(w->port, path, auth, buf, len);
}

static int exchange(int port, const char *raw, char *buf, size_t len) {
  return test_http_exchange(port, raw, buf, len);
}

static int setup(void **state) {
  struct world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  open_fixture(&w->f, "serve");
  static struct evs b;
  b.len = b.n = 0;
  Cscflow__V1__CaseEvent ev = envelope("R1", "C1", 19500, 19500);
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  r.referral_id = "REF1";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &r;
  add(&b, &ev);
  apply(&w->f, &b, 0, 1);
  close_fixture(&w->f); /* one LMDB environment per process: the writer goes first */

  struct config cfg;
  config_init(&cfg);
  char hex[2 * TOKEN_HASH_SIZE + 1], err[256];
  api_token_hash_hex("la1-secret", hex);
  assert_int_equal(config_set(&cfg, "cscflow.api.token." LA, hex), CSC_OK);
  api_token_hash_hex("la2-secret", hex);
  assert_int_equal(config_set(&cfg, "cscflow.api.token.E99000002", hex), CSC_OK);
  api_token_hash_hex("op-secret", hex);
  assert_int_equal(config_set(&cfg, "cscflow.api.operator_token", hex), CSC_OK);
  assert_int_equal(api_tokens_load(&w->tokens, &cfg, err, sizeof err), CSC_OK);
  /* 201 is LA's DfE number: its routes are LA's. */
  assert_int_equal(config_set(&cfg, "cscflow.la.alias.201", LA), CSC_OK);
  assert_int_equal(la_registry_load(&w->las, &cfg, err, sizeof err), CSC_OK);
  config_free(&cfg);
  assert_int_equal(w->tokens.n, 3);

  const struct serve_options so = {.state_dir = w->f.dir, .tokens = &w->tokens, .las = &w->las};
  assert_int_equal(serve_start(&so, &w->srv, err, sizeof err), CSC_OK);
  w->port = serve_port(w->srv);
  assert_true(w->port > 0);
  *state = w;
  return 0;
}

static int teardown(void **state) {
  struct world *w = *state;
  serve_stop(w->srv);
  api_tokens_free(&w->tokens);
  la_registry_free(&w->las);
  free(w);
  return 0;
}

static char body[1 << 17];

static void health_needs_no_token(void **state) {
  assert_int_equal(http_get(*state, "/healthz", NULL, body, sizeof body), 200);
  assert_non_null(strstr(body, "\r\n\r\nok"));
}

static void snapshot_needs_the_las_token(void **state) {
  const struct world *w = *state;
  const char *path = "/v1/las/" LA "/snapshot";
  assert_int_equal(http_get(w, path, NULL, body, sizeof body), 401);
  assert_non_null(strstr(body, "WWW-Authenticate: Bearer"));
  assert_int_equal(http_get(w, path, "Basic bGExOmxhMQ==", body, sizeof body), 401);
  assert_int_equal(http_get(w, path, "Bearer", body, sizeof body), 401);
  assert_int_equal(http_get(w, path, "Bearer ", body, sizeof body), 401);
  assert_int_equal(http_get(w, path, "bearer la1-secret", body, sizeof body), 401);
  assert_int_equal(http_get(w, path, "Bearer la1-secreT", body, sizeof body), 401);
  assert_int_equal(http_get(w, path, "Bearer la2-secret", body, sizeof body), 403);
  assert_int_equal(http_get(w, path, "Bearer op-secret", body, sizeof body), 403);
  assert_null(strstr(body, LA "\",\"as_of")); /* nothing of the LA's snapshot leaked */

  assert_int_equal(http_get(w, path, "Bearer la1-secret", body, sizeof body), 200);
  assert_non_null(strstr(body, "{\"la\":\"" LA "\""));
  assert_non_null(strstr(body, "\"id\":\"referrals\""));

  /* The other LA's token reads its own LA, which has no snapshot yet. */
  assert_int_equal(http_get(w, "/v1/las/E99000002/snapshot", "Bearer la2-secret", body, sizeof body),
                   404);
  /* ... and is refused on an LA that does not exist, as on one that does. */
  assert_int_equal(http_get(w, "/v1/las/E99000003/snapshot", "Bearer la2-secret", body, sizeof body),
                   403);
}

/* An LA's other code reads the LA it names, with that LA's token only;
 * a code that is not an LA code is no route at all. */
static void alias_reads_the_canonical_la(void **state) {
  const struct world *w = *state;
  assert_int_equal(http_get(w, "/v1/las/201/snapshot", "Bearer la1-secret", body, sizeof body),
                   200);
  assert_non_null(strstr(body, "{\"la\":\"" LA "\""));
  assert_int_equal(http_get(w, "/v1/las/201/snapshot", "Bearer la2-secret", body, sizeof body),
                   403);
  assert_int_equal(http_get(w, "/v1/las/202/snapshot", "Bearer la1-secret", body, sizeof body),
                   403); /* a code of no LA served here: the token is another LA's */
  assert_int_equal(http_get(w, "/v1/las/LA1/snapshot", "Bearer la1-secret", body, sizeof body),
                   404);
  assert_int_equal(
      http_get(w, "/v1/las/e99000001/snapshot", "Bearer la1-secret", body, sizeof body), 404);
}

/* A token under a key that is not an LA code is refused at load. */
static void token_keys_are_la_codes(void **state) {
  (void)state;
  struct config cfg;
  struct api_tokens t = {0};
  char hex[2 * TOKEN_HASH_SIZE + 1], err[256];
  config_init(&cfg);
  api_token_hash_hex("x", hex);
  assert_int_equal(config_set(&cfg, "cscflow.api.token.E99000009:Y", hex), CSC_OK);
  assert_int_equal(api_tokens_load(&t, &cfg, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "not an LA code"));
  config_free(&cfg);
}

static void paths_stay_inside_the_la(void **state) {
  const struct world *w = *state;
  static const char *const paths[] = {"/v1/las/../" LA "/snapshot",
                                      "/v1/las/%2e%2e/snapshot",
                                      "/v1/las/" LA "/../E99000002/snapshot",
                                      "/v1/las/" LA "%2f..%2fE99000002/snapshot",
                                      "/v1/las//snapshot",
                                      "/v1/las/" LA,
                                      "/v1/las/" LA "/snapshot/",
                                      "/v1/las/E99000001E99000001E99000001/snapshot",
                                      "/etc/passwd",
                                      "/assets/../v1/las/" LA "/snapshot",
                                      "/assets/app.js/"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    const int status = http_get(w, paths[i], "Bearer la1-secret", body, sizeof body);
    if (status != 404)
      fail_msg("%s: status %d, expected 404", paths[i], status);
  }
  char raw[256];
  snprintf(raw, sizeof raw,
           "POST /v1/las/" LA "/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
           "la1-secret\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
  assert_int_equal(exchange(w->port, raw, body, sizeof body), 405);
}

static void abuse_is_refused_and_survived(void **state) {
  const struct world *w = *state;
  /* A 64 KiB header: refused (431 or the connection closed), never served. */
  static char raw[70000];
  int n = snprintf(raw, sizeof raw, "GET /v1/las/" LA "/snapshot HTTP/1.1\r\nHost: x\r\nX-Big: ");
  memset(raw + n, 'a', 65536);
  n += 65536;
  snprintf(raw + n, sizeof raw - (size_t)n,
           "\r\nAuthorization: Bearer la1-secret\r\nConnection: close\r\n\r\n");
  const int status = exchange(w->port, raw, body, sizeof body);
  assert_true(status != 200);

  /* A client that connects and says nothing is dropped after the 10 s
   * timeout; meanwhile others are served. */
  const int silent = test_http_connect(w->port, 20);
  assert_true(silent >= 0);
  assert_int_equal(http_get(w, "/healthz", NULL, body, sizeof body), 200);
  const time_t started = time(NULL);
  char c;
  const ssize_t r = recv(silent, &c, 1, 0);
  const double waited = difftime(time(NULL), started);
  close(silent);
  assert_true(r <= 0);                 /* closed, not answered */
  assert_true(waited >= 5 && waited <= 15);
  assert_int_equal(http_get(w, "/v1/las/" LA "/snapshot", "Bearer la1-secret", body, sizeof body), 200);
}

/* ---- one client against everyone ---------------------------------------------------- */

#define GREEDY_FROM "127.0.0.2"
#define GREEDY_TRIES 72     /* more than the 64 connections the old server had in all */
#define PROBES 30           /* from 127.0.0.1, one every PROBE_GAP_MS */
#define PROBE_GAP_MS 500
#define TRICKLE_GAP_MS 4000 /* well under the idle timeout: only the deadline can cut */

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connection from the address from to 127.0.0.1:port; connect, reads and
 * writes wait at most 5 s. -1 when it is not established. */
static int connect_from(const char *from, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  assert_int_equal(inet_pton(AF_INET, from, &a.sin_addr), 1);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* The greedy client's connections; -1 once the server has closed one. */
struct greedy {
  int fd[GREEDY_TRIES];
  int open;
};

static void greedy_send(struct greedy *g, int i, const char *text) {
  if (g->fd[i] >= 0 && send(g->fd[i], text, strlen(text), MSG_NOSIGNAL) < 0) {
    close(g->fd[i]); /* reset by the server */
    g->fd[i] = -1;
    g->open--;
  }
}

/* Opens every connection it may try, each with a request line whose
 * headers never end. */
static void greedy_connect(struct greedy *g, int port) {
  g->open = 0;
  for (int i = 0; i < GREEDY_TRIES; i++) {
    g->fd[i] = connect_from(GREEDY_FROM, port);
    g->open += g->fd[i] >= 0;
    greedy_send(g, i, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
  }
}

static void greedy_trickle(struct greedy *g, int line) {
  char text[40];
  snprintf(text, sizeof text, "X-Trickle-%d: a\r\n", line);
  for (int i = 0; i < GREEDY_TRIES; i++)
    greedy_send(g, i, text);
}

/* Waits up to wait_ms for the server to close greedy connections, and
 * forgets those it closed. The server must never answer one: its
 * request's headers never end. */
static void greedy_sweep(struct greedy *g, int wait_ms) {
  struct pollfd p[GREEDY_TRIES];
  int n = 0;
  for (int i = 0; i < GREEDY_TRIES; i++)
    if (g->fd[i] >= 0)
      p[n++] = (struct pollfd){.fd = g->fd[i], .events = POLLIN};
  if (poll(p, (nfds_t)n, wait_ms) <= 0)
    return;
  for (int i = 0, k = 0; i < GREEDY_TRIES; i++) {
    if (g->fd[i] < 0 || p[k++].revents == 0)
      continue;
    char c;
    const ssize_t r = recv(g->fd[i], &c, 1, MSG_DONTWAIT);
    if (r > 0)
      fail_msg("the server answered a request whose headers never ended");
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      close(g->fd[i]);
      g->fd[i] = -1;
      g->open--;
    }
  }
}

/* One probe of each kind a monitor and an LA send; all must succeed. */
static void probe(const struct world *w, int i) {
  const int health = http_get(w, "/healthz", NULL, body, sizeof body);
  if (health != 200)
    fail_msg("health probe %d of %d: status %d while one client is greedy", i + 1, PROBES,
             health);
  if (i % 3 != 0)
    return;
  const int snap = http_get(w, "/v1/las/" LA "/snapshot", "Bearer la1-secret", body, sizeof body);
  if (snap != 200 || strstr(body, "{\"la\":\"" LA "\"") == NULL)
    fail_msg("snapshot request with probe %d: status %d while one client is greedy", i + 1,
             snap);
}

/* Keeps trickling until the server has closed every greedy connection, or
 * until the bound: twice the header deadline after they connected. */
static void greedy_until_cut(struct greedy *g, int64_t connected, int64_t *next_trickle,
                             int *line) {
  const int64_t bound = connected + 2000 * API_HEADER_TIMEOUT_S_DEFAULT;
  while (g->open > 0 && mono_ms() < bound) {
    if (mono_ms() >= *next_trickle) {
      greedy_trickle(g, (*line)++);
      *next_trickle += TRICKLE_GAP_MS;
    }
    greedy_sweep(g, PROBE_GAP_MS);
  }
}

static void greedy_client_starves_no_one(void **state) {
  const struct world *w = *state;
  static struct greedy g;
  const int64_t connected = mono_ms();
  greedy_connect(&g, w->port);
  /* The connections past its maximum are closed at once; wait for that. */
  for (int i = 0; i < 50 && g.open > API_MAX_CONNECTIONS_PER_CLIENT_DEFAULT; i++)
    greedy_sweep(&g, 100);
  assert_int_equal(g.open, API_MAX_CONNECTIONS_PER_CLIENT_DEFAULT);

  int64_t next_trickle = connected + TRICKLE_GAP_MS;
  int line = 0;
  for (int i = 0; i < PROBES; i++) {
    probe(w, i);
    if (mono_ms() >= next_trickle) {
      greedy_trickle(&g, line++);
      next_trickle += TRICKLE_GAP_MS;
    }
    greedy_sweep(&g, PROBE_GAP_MS); /* the pause between probes */
  }
  /* A client never idle for the idle timeout, whose headers never end, is
   * cut by the header deadline. */
  greedy_until_cut(&g, connected, &next_trickle, &line);
  assert_int_equal(g.open, 0);
  assert_int_equal(http_get(w, "/healthz", NULL, body, sizeof body), 200);
}

/* ---- the deadline is the headers' ------------------------------------------------------ */

#define SHORT_DEADLINE_S 2

/* Reads until the response so far contains want, at most 5 s a read. */
static int read_until(int fd, const char *want, char *buf, size_t len) {
  size_t got = 0;
  buf[0] = '\0';
  for (ssize_t r; strstr(buf, want) == NULL && got + 1 < len &&
                  (r = recv(fd, buf + got, len - 1 - got, 0)) > 0;) {
    got += (size_t)r;
    buf[got] = '\0';
  }
  return strstr(buf, want) != NULL;
}

/* Sends text one line (or one byte) a second, up to n pieces, while the
 * connection stays open; returns how many pieces went before it closed. */
static int trickle(int fd, const char *const *pieces, int n) {
  for (int i = 0; i < n; i++) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1000) > 0) {
      char c;
      if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
        return i; /* closed by the server */
      return -1;  /* answered */
    }
    if (send(fd, pieces[i], strlen(pieces[i]), MSG_NOSIGNAL) < 0)
      return i;
  }
  return n;
}

/* A server of its own with a 2 s header deadline on an empty state: the
 * next request on a kept-alive connection has the deadline again, and a
 * slow body does not (a large upload must not be cut). */
static void deadline_is_for_headers_only(void **state) {
  (void)state;
  char dir[256], err[512];
  test_tmpdir(dir, sizeof dir, "serve_deadline");
  struct store *st;
  assert_int_equal(store_open(dir, 0, &st, err, sizeof err), CSC_OK);
  const struct api_tokens none = {0};
  struct server *srv;
  const struct serve_options bad = {.store = st, .tokens = &none, .max_connections = 16,
                                    .max_connections_per_client = 17};
  assert_int_equal(serve_start(&bad, &srv, err, sizeof err), CSC_EINVAL);
  const struct serve_options so = {.store = st, .tokens = &none,
                                   .header_timeout_s = SHORT_DEADLINE_S};
  assert_int_equal(serve_start(&so, &srv, err, sizeof err), CSC_OK);
  const int port = serve_port(srv);

  /* A second request trickled on a kept-alive connection is cut. */
  int fd = test_http_connect(port, 5);
  assert_true(fd >= 0);
  static const char first[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(send(fd, first, sizeof first - 1, MSG_NOSIGNAL), (ssize_t)(sizeof first - 1));
  assert_true(read_until(fd, "\r\n\r\nok\n", body, sizeof body));
  static const char *const lines[] = {"GET /healthz HTTP/1.1\r\n", "Host: x\r\n", "X-A: a\r\n",
                                      "X-B: b\r\n", "X-C: c\r\n", "X-D: d\r\n", "X-E: e\r\n",
                                      "X-F: f\r\n"};
  const int sent = trickle(fd, lines, 8);
  close(fd);
  assert_true(sent >= 1 && sent < 8); /* cut, before the 8 s the lines take */

  /* A body sent a byte a second, past the deadline, is read whole: the
   * request is answered (405: the API reads only). */
  fd = test_http_connect(port, 5);
  assert_true(fd >= 0);
  static const char head[] = "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                             "Connection: close\r\n\r\n";
  assert_int_equal(send(fd, head, sizeof head - 1, MSG_NOSIGNAL), (ssize_t)(sizeof head - 1));
  static const char *const bytes[] = {"{", "}", " ", "\n"};
  assert_int_equal(trickle(fd, bytes, 4), 4);
  assert_true(read_until(fd, "read only", body, sizeof body));
  assert_non_null(strstr(body, "HTTP/1.1 405"));
  close(fd);
  serve_stop(srv);
  store_close(st);
}

static void tokens_config_is_checked(void **state) {
  (void)state;
  struct config cfg;
  struct api_tokens t;
  char err[256];
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.api.token." LA, "la1-secret"), CSC_OK);
  assert_int_equal(api_tokens_load(&t, &cfg, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "cscflow.api.token." LA));
  config_free(&cfg);
}

/* ---- /metrics labels ------------------------------------------------------------------- */

#define METRIC_LAS 300 /* more than METRICS_LA_LABELS_MAX */

/* Open findings of LA number i for rule r in the metrics state. */
static int64_t findings_of(int i, int r) {
  return 1 + i % 5 + r;
}

/* Gives la an as-of date and open findings under every rule. */
static void put_findings(struct store *st, MDB_txn *txn, const char *la, int i) {
  const csc_date as_of = 19500;
  const struct la_state ls = {.as_of = as_of};
  assert_int_equal(store_put_la(st, txn, la, &ls), CSC_OK);
  struct fact facts[Q_RULE_COUNT];
  for (int r = 0; r < Q_RULE_COUNT; r++)
    facts[r] = (struct fact){.measure = M_QUALITY, .bucket = (uint16_t)r,
                             .weight = (int32_t)findings_of(i, r), .from = as_of - 10,
                             .to = as_of + 1000};
  assert_int_equal(agg_apply_diff(st, txn, la, as_of, NULL, 0, facts, Q_RULE_COUNT), CSC_OK);
}

static int valid_utf8(const char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    const size_t n = utf8_sequence_len((const unsigned char *)s + i, len - i);
    if (n == 0)
      return 0;
    i += n;
  }
  return 1;
}

/* 300 valid LAs and three codes a corrupted producer left in the state
 * before codes were checked: 256 labelled LAs, the rest summed in "other". */
static void metrics_labels_are_bounded(void **state) {
  (void)state;
  static const char *const bad[] = {"E99:X", "\xff\xfe\"la\nx", "postcode SW1A"};
  enum { N_BAD = sizeof bad / sizeof bad[0] };
  char dir[256], err[512];
  test_tmpdir(dir, sizeof dir, "serve_metrics_labels");
  struct store *st;
  assert_int_equal(store_open(dir, 0, &st, err, sizeof err), CSC_OK);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
  int64_t other[Q_RULE_COUNT] = {0};
  for (int i = 0; i < METRIC_LAS; i++) {
    char la[16];
    snprintf(la, sizeof la, "E99%06d", i + 1); /* code order is i's order */
    put_findings(st, txn, la, i);
    for (int r = 0; r < Q_RULE_COUNT && i >= METRICS_LA_LABELS_MAX; r++)
      other[r] += findings_of(i, r);
  }
  for (int b = 0; b < N_BAD; b++) {
    put_findings(st, txn, bad[b], METRIC_LAS + b);
    for (int r = 0; r < Q_RULE_COUNT; r++)
      other[r] += findings_of(METRIC_LAS + b, r);
  }
  assert_int_equal(mdb_txn_commit(txn), 0);

  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  assert_int_equal(store_read_begin(st, &txn), CSC_OK);
  assert_int_equal(metrics_write(f, st, txn, 1000), CSC_OK);
  store_read_end(st, txn);
  fclose(f);
  store_close(st);

  assert_true(valid_utf8(text, len));
  size_t samples = 0, others = 0;
  int last_la = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    static const char prefix[] = "cscflow_quality_findings{la=\"";
    if (strncmp(line, prefix, sizeof prefix - 1) != 0)
      continue;
    const char *la = line + sizeof prefix - 1;
    char rule[64];
    long long v;
    if (strncmp(la, "other\"", 6) == 0) {
      assert_int_equal(sscanf(la + 6, ",rule=\"%63[^\"]\"} %lld", rule, &v), 2);
      int r = 0;
      while (r < Q_RULE_COUNT && strcmp(quality_rule_ids[r], rule) != 0)
        r++;
      assert_true(r < Q_RULE_COUNT);
      assert_int_equal(v, other[r]);
      others++;
      continue;
    }
    int n;
    if (sscanf(la, "E99%6d\",rule=\"%63[^\"]\"} %lld", &n, rule, &v) != 3)
      fail_msg("a label that is not a valid LA code: %s", line);
    assert_true(n >= 1 && n <= METRICS_LA_LABELS_MAX);
    assert_true(n >= last_la);
    last_la = n;
    samples++;
  }
  assert_int_equal(samples, (size_t)METRICS_LA_LABELS_MAX * Q_RULE_COUNT);
  assert_int_equal(others, Q_RULE_COUNT);
  assert_int_equal(last_la, METRICS_LA_LABELS_MAX);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(health_needs_no_token),
      cmocka_unit_test(snapshot_needs_the_las_token),
      cmocka_unit_test(alias_reads_the_canonical_la),
      cmocka_unit_test(token_keys_are_la_codes),
      cmocka_unit_test(paths_stay_inside_the_la),
      cmocka_unit_test(abuse_is_refused_and_survived),
      cmocka_unit_test(greedy_client_starves_no_one),
      cmocka_unit_test(deadline_is_for_headers_only),
      cmocka_unit_test(tokens_config_is_checked),
      cmocka_unit_test(metrics_labels_are_bounded),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
