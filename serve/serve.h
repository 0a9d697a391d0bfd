/*
 * serve.h — the HTTP read API (libmicrohttpd), served by `cscflow serve` as a
 * separate process that reads the state store read-only while `run` or
 * `replay` writes it.
 *
 * Isolation: every /v1/las/{la}/... call needs "Authorization: Bearer
 * <token>" with a token of that LA. Tokens are never stored: the config
 * holds their SHA-256 in hex,
 *   cscflow.api.token.<LA>       = <64 hex digits>   (one line per LA)
 *   cscflow.api.operator_token   = <64 hex digits>   (/metrics)
 * so that a leaked config file does not leak a token. A missing, malformed
 * or unknown token gets 401; a token of another LA gets 403 on every path
 * of that LA, whether the LA exists or not (no probing of which LAs exist).
 *
 * Routes (GET or HEAD; any other method is 405). JSON bodies are one
 * compact object; absent numbers are null, never 0; dates are YYYY-MM-DD.
 *   GET /healthz                 200 "ok" while the server's threads run
 *   GET /readyz                  200 "ready", or 503 with the reason (ready_check)
 *   GET /readyz?format=json      the same status, with the writer's state as JSON
 *                                (ready_json); no token: what the dashboard reads to
 *                                say whether it is live
 *   GET /metrics                 Prometheus text (metrics_write); the operator token
 *   GET /                        the dashboard page; /assets/... its scripts and styles
 *                                (serve/assets.h), public: the data it shows needs a token
 *   GET /v1/las/{la}/snapshot    the LA's latest snapshot (snapshot_write_json's format)
 *   GET /v1/las/{la}/series?indicator=ID&window=W[&breakdown=B][&from=D][&to=D]
 *       {"la","as_of","indicator","window","breakdown","from","to",
 *        "points":[{"date","numerator","denominator","value"}]}: one point a day from
 *       from to to inclusive, as the state now knows each day (a late event or a
 *       correction restates the days it changes: series_build); to defaults to, and
 *       is capped at, the LA's as-of date; from defaults to a year of days before it.
 *       400 for a bad date or more than 3660 days; 404 for an unknown value.
 *   GET /v1/las/{la}/alerts[?status=open]
 *       {"la","as_of","alerts":[{"id","child_id","plan_kind","plan_id","plan_start",
 *        "months","due","state","days"}]}: "past": raised and the plan still open
 *       (days since due); "due_soon": the plan passes the threshold within 30 days
 *       if it stays open (days until due). 400 for another status.
 *   GET /v1/las/{la}/quality     {"la","as_of","rules":[{"rule","count"}],"total"}: open
 *                                data-quality findings by rule (docs/quality-rules.md)
 * A /v1/las/{la}/ route is 404 before the LA's first event; anything else is
 * 404. With serve_options.feed, the feed's POST routes under /feeds/dfe/
 * (serve/feed.h) are served too.
 *
 * Under abuse (one client must not lock the others out):
 *   - 16 KiB of headers per connection (larger: the connection is refused);
 *   - 10 s of inactivity per connection (API_IDLE_TIMEOUT_S; libmicrohttpd's
 *     timeout, restarted by every byte received);
 *   - the headers of each request within header_timeout_s (default 15 s) of
 *     the connection's start, or of the end of the previous request on it:
 *     a client that trickles header lines is cut there (serve/guard.h says
 *     how it is built on libmicrohttpd 0.9.7x, which has no such timeout).
 *     A body is not under this deadline, only the idle timeout, so that a
 *     large upload is not cut;
 *   - at most max_connections_per_client connections from one IP address
 *     (default 8, above a browser's 6 per host): libmicrohttpd accepts and
 *     closes at once the ones past it;
 *   - at most max_connections in all (default 256: it takes 32 addresses
 *     at their limit to fill it); past it, new connections wait in the
 *     kernel's listen queue;
 *   - API_THREADS threads, each polling its share of the connections with
 *     epoll (poll where there is none): a slow client holds a connection,
 *     never a thread; only the handler's own work (a read transaction) does.
 * Behind a reverse proxy every client has the proxy's address: set
 * max_connections_per_client to max_connections there, and let the proxy
 * limit each client (docs/operations.md).
 */
#ifndef CSCFLOW_SERVE_H
#define CSCFLOW_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/base.h"
#include "ingest/ingest.h"
#include "state/state.h"

#define TOKEN_HASH_SIZE 32 /* SHA-256 */

struct api_token {
  char la[24]; /* "" for the operator token */
  uint8_t hash[TOKEN_HASH_SIZE];
};

struct api_tokens {
  struct api_token *v;
  size_t n;
};

/* Loads the cscflow.api.* keys of cfg. CSC_EINVAL with err naming the key
 * when a value is not 64 hex digits or an LA code is too long. */
int api_tokens_load(struct api_tokens *t, const struct config *cfg, char *err, size_t errlen);
void api_tokens_free(struct api_tokens *t);

/* The hex SHA-256 of token (65 bytes with the terminating 0): what goes in
 * the config for it. */
void api_token_hash_hex(const char *token, char hex[2 * TOKEN_HASH_SIZE + 1]);

enum api_access {
  ACCESS_OK,        /* a token of la (or the operator token when la is NULL) */
  ACCESS_MISSING,   /* no Authorization header, or not "Bearer <token>": 401 */
  ACCESS_UNKNOWN,   /* a token no LA has: 401 */
  ACCESS_FORBIDDEN  /* a valid token of another LA: 403 */
};

/* Checks the value of an Authorization header (NULL when absent) for la,
 * or for the operator when la is NULL. Compares in constant time. */
enum api_access api_tokens_check(const struct api_tokens *t, const char *authorization,
                                 const char *la);

struct server;

struct serve_options {
  const char *state_dir; /* opened read-only, unless store is given */
  struct store *store;   /* borrowed: the engine's own store (cscflow run); NULL: open state_dir */
  const char *address; /* IPv4 address to listen on; NULL: 127.0.0.1 */
  int port;            /* 0: a free port (serve_port tells which) */
  const struct api_tokens *tokens; /* borrowed */
  int64_t ready_max_lag; /* /readyz: the most consumer lag that is still ready (0: 1000) */
  /* Borrowed; NULL: none. A route's {la} is an LA code (ingest.h) or an
   * alias of one (cscflow.la.alias.*), which reads the canonical code's
   * data with the canonical code's token. */
  const struct la_registry *las;
  /* The limits above; 0: the default. max_connections_per_client is at
   * most max_connections (CSC_EINVAL). */
  unsigned max_connections;            /* cscflow.api.max_connections */
  unsigned max_connections_per_client; /* cscflow.api.max_connections_per_client */
  unsigned header_timeout_s;           /* cscflow.api.header_timeout_s */
  /* Borrowed; NULL: no feed. The DfE CSC API feed's routes (serve/feed.h),
   * POST only, beside the read API's; /metrics adds the feed's counters.
   * cscflow run and demo give one, cscflow serve never. */
  struct feed *feed;
};

#define API_MAX_CONNECTIONS_DEFAULT 256
#define API_MAX_CONNECTIONS_PER_CLIENT_DEFAULT 8
#define API_HEADER_TIMEOUT_S_DEFAULT 15
#define API_IDLE_TIMEOUT_S 10
#define API_THREADS 4

/* ---- metrics and readiness (serve/metrics.c) ------------------------------- */

/* Writes the Prometheus text exposition of the state as txn sees it: the
 * writer's status record (events consumed, applied, dead-lettered, batch
 * latency histogram, consumer lag, snapshot age against now_ms), and each
 * LA's open data-quality findings by rule. CSC_ENOMEM, CSC_ESTATE.
 *
 * The la label takes only valid LA codes (ingest_la_code_valid), and at
 * most METRICS_LA_LABELS_MAX of them, the first in code order: the findings
 * of every other LA (past the cap, or a code in the state that is not a
 * valid one, from before codes were checked) are summed into one series
 * per rule with la="other". So a producer cannot make a series per
 * corrupted code; England has about 153 LAs. Label values are escaped as
 * the text format requires and are valid UTF-8. */
#define METRICS_LA_LABELS_MAX 256
int metrics_write(FILE *f, struct store *st, MDB_txn *txn, int64_t now_ms);

/* 1 when the writer is ready (state restored; for cscflow run, no input
 * partition stopped by an offset gap, partitions assigned, consumer lag at
 * most max_lag and a status no older than 30 s), else 0 with why (a short
 * reason for the 503 body; a stopped partition's names the topic, the
 * partition, the stored position and the log start). */
int ready_check(struct store *st, MDB_txn *txn, int64_t now_ms, int64_t max_lag, char *why,
                size_t why_len);

/*
 * The writer's state as the dashboard needs it, one JSON object:
 *   {"ready":bool, "reason":"ready" or ready_check's why, "live":bool,
 *    "writer":"running"|"stopped"|"not_responding"|"none", "mode":"run"|"replay"|null,
 *    "now_ms", "updated_ms", "last_applied_ms", "last_snapshot_ms", "stopped_ms"}
 * Times are unix ms of the server's and the writer's wall clocks; null when
 * never (or no record). writer: "stopped" once the writer closed (engine_close
 * records it), "not_responding" when it ended without closing or hangs (a
 * record older than the 30 s ready_check allows), "none" before any writer
 * (or a record of another build's layout). live = ready and writer
 * "running": a state whose writer is gone is not live, even though /readyz
 * still says ready for a finished replay. last_applied_ms is global to the
 * writer, not an LA's: the route needs no token. CSC_ENOMEM.
 */
struct json_t;
int ready_json(struct store *st, MDB_txn *txn, int64_t now_ms, int64_t max_lag,
               struct json_t **out);

/* Opens the state read-only and starts serving on threads of its own.
 * CSC_EIO (cannot listen), CSC_ESTATE (state unreadable) or CSC_EINVAL (a
 * limit out of range, or more connections than the open-file limit allows
 * even once raised to its hard limit), with err. */
int serve_start(const struct serve_options *o, struct server **out, char *err, size_t errlen);
int serve_port(const struct server *s);
void serve_stop(struct server *s);

#endif
