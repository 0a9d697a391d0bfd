/*
 * feed.h — the receiving end of the DfE CSC API feed (issue 19): the routes
 * an early-adopter LA's sender (data-to-insight/dfe-csc-api-data-flows, read
 * line by line in ../shared/research/dfe-sender.md) posts to, served by
 * `cscflow run` and `cscflow demo` on the API's libmicrohttpd server
 * (serve.h: serve_options.feed). `cscflow serve` is read-only and serves
 * none of them.
 *
 * Routes (a run of slashes counts as one, since the sender joins
 * API_ENDPOINT and the path with a "/" of its own):
 *
 *   POST /feeds/dfe/token            TOKEN_ENDPOINT
 *     form-encoded client_id, client_secret, scope (any), grant_type=
 *     client_credentials. 200 application/json {"access_token":"...",
 *     "token_type":"Bearer","expires_in":N}; 401 {"error":"invalid_client"}
 *     for an unknown client or a wrong secret; 400 {"error":"invalid_request"}
 *     or {"error":"unsupported_grant_type"}.
 *
 *   POST /feeds/dfe/children_social_care_data/{LA_CODE}/children
 *     ({API_ENDPOINT} is http(s)://host:port/feeds/dfe). Headers
 *     Authorization: Bearer <token>, SupplierKey: <key>, Content-Type:
 *     application/json; body a JSON array of child documents (dfe_parse).
 *     200 application/json ["<id>", ...]: one dfe_reply_id per document, in
 *       order, answered only once Kafka has acknowledged the event of every
 *       document of the request;
 *     400 {"error":"invalid_documents","errors":["[n] field.path: reason"]}
 *       (a body that is no JSON array: the reason without [n]); the only
 *       bracketed numbers in the body are the documents' indexes; nothing
 *       of the request is produced;
 *     401 a missing, malformed, forged or expired token, a token of a client
 *       the configuration no longer has as it was, or a wrong SupplierKey;
 *     403 a client's token on another LA's path;
 *     413 a body over max_body_bytes (Content-Length, or counted);
 *     415 a Content-Type other than application/json;
 *     429 Retry-After: FEED_RETRY_AFTER_S when Kafka has not acknowledged
 *       every event within ack_timeout_ms (or refused one): both senders
 *       retry a 429, and a resend the same day makes the same event ids,
 *       which the engine applies once;
 *     503 while the server stops.
 *   Any other method on these paths is 405.
 *
 * Tokens are JSON Web Tokens signed with HMAC-SHA256 (nettle) by the
 * configured signing key, carrying the client id, its LA, mode, test flag
 * and expiry: any instance holding the configuration verifies them, with no
 * session store. A token is accepted only while its client is configured
 * with the same LA, mode and test flag (a changed client's tokens lapse).
 *
 * Each accepted document of a client that is not a test client, other than
 * the sender's test child (Fake1234<LA>), becomes one event (dfe_event,
 * received at the feed's clock) on the input topic, keyed by the LA's
 * canonical code, from an idempotent producer partitioning with
 * murmur2_random, as every producer of the input topic does.
 *
 * Configuration (flat keys; secrets only as SHA-256 hex, as the API's):
 *   cscflow.feed.signing_key                  the one secret kept in clear (32+ bytes)
 *   cscflow.feed.client.<ID>.la               the LA it writes, as the path names it
 *   cscflow.feed.client.<ID>.secret           SHA-256 hex of its client_secret
 *   cscflow.feed.client.<ID>.supplier_key     SHA-256 hex of its SupplierKey
 *   cscflow.feed.client.<ID>.mode             full | partial (default partial)
 *   cscflow.feed.client.<ID>.test             true | false (default false)
 *   cscflow.feed.client.<ID>.token_lifetime_s 60..604800 (default 43200)
 *   cscflow.feed.max_body_bytes               1 MiB..256 MiB (default 16 MiB)
 *   cscflow.feed.ack_timeout_ms               100..15000 (default 10000)
 * <ID>: 1 to 64 of A-Z a-z 0-9 _ -.
 *
 * The files: serve/feed_config.c the configuration, serve/feed_token.c the
 * tokens, serve/feed.c the producer (batches, delivery reports, the feed's
 * thread, the counters), serve/feed_http.c the routes; what they share is
 * serve/feed_internal.h.
 */
#ifndef CSCFLOW_SERVE_FEED_H
#define CSCFLOW_SERVE_FEED_H

#include <stdint.h>
#include <stdio.h>

#include <librdkafka/rdkafka.h>

#include "base/base.h"
#include "ingest/ingest.h"

#define FEED_PREFIX "/feeds/dfe"
#define FEED_TOKEN_LIFETIME_S_DEFAULT 43200 /* 12 h: a night's run, never refreshed */
#define FEED_MAX_BODY_BYTES_DEFAULT (16L << 20)
#define FEED_ACK_TIMEOUT_MS_DEFAULT 10000   /* under the PowerShell sender's 20 s */
#define FEED_RETRY_AFTER_S 10
#define FEED_CLIENT_ID_MAX 64
#define FEED_SIGNING_KEY_MIN 32

struct feed_client {
  char id[FEED_CLIENT_ID_MAX + 1];
  char la[LA_CODE_SIZE];        /* as configured: the DfE number the path names */
  char canonical[LA_CODE_SIZE]; /* the LA's canonical code (cscflow.la.alias.*) */
  uint8_t secret[32], supplier_key[32]; /* SHA-256 */
  int partial;                  /* mode: 1 partial, 0 full */
  int test;                     /* validated and answered, never produced */
  long token_lifetime_s;
};

struct feed_config {
  struct feed_client *clients;
  size_t n;
  char *signing_key;
  long max_body_bytes;
  long ack_timeout_ms;
  char topic[256];
};

/* Loads the cscflow.feed.* keys of cfg, each client's LA resolved by las
 * (borrowed for the call). No client: fc->n is 0 and the feed is off.
 * CSC_EINVAL with err naming the key; CSC_ENOMEM. */
int feed_config_load(struct feed_config *fc, const struct config *cfg,
                     const struct la_registry *las, char *err, size_t errlen);
void feed_config_free(struct feed_config *fc);

struct feed;

struct feed_options {
  const struct feed_config *config; /* borrowed */
  /* The producer's librdkafka properties (kafka_conf_from_config(cfg,
   * "producer")); taken. */
  rd_kafka_conf_t *producer_conf;
  /* The receipt clock, Unix ms; NULL: the wall clock. Tests set it. */
  int64_t (*now_ms)(void *ctx);
  void *now_ctx;
};

/* Starts the feed's producer and the thread that serves its delivery
 * reports and the requests' deadlines. CSC_EKAFKA, CSC_EINVAL with err. */
int feed_new(const struct feed_options *o, struct feed **out, char *err, size_t errlen);
/* After serve_stop: waits up to 10 s for what is in flight, then stops. */
void feed_free(struct feed *f);

/* The feed's producer (tests). */
rd_kafka_t *feed_producer(struct feed *f);

/* The Prometheus text of the feed's counters:
 *   cscflow_feed_documents_total{la,outcome="accepted"|"refused"|"test"|"deferred"}
 *   cscflow_feed_requests_total{route="token"|"data",status="NNN"}
 * la is a configured client's canonical LA code (no input makes a series). */
void feed_metrics_write(FILE *out, struct feed *f);

/* ---- what serve/http.c calls (private to serve/) ------------------------------ */

struct MHD_Connection;
/* 1 when url is one of the feed's paths. */
int feed_path(const char *url);
/* Every call of the access handler for a feed path (libmicrohttpd's
 * arguments; *req is the feed's own after the first call). */
int feed_handle(struct feed *f, struct MHD_Connection *c, const char *url, const char *method,
                const char *upload, size_t *upload_size, void **req);
/* MHD_OPTION_NOTIFY_COMPLETED for a request feed_handle took. */
void feed_request_done(struct feed *f, void *req);
/* Before MHD_stop_daemon: new requests get 503, and every request waiting
 * for Kafka is resumed now (libmicrohttpd must not stop with a suspended
 * connection) to answer 429; MHD_stop_daemon may close its connection
 * before that answer is sent. Either way the sender retries the batch, and
 * nothing is lost: what was produced is a duplicate when it comes again. */
void feed_shutdown(struct feed *f);

/* ---- tokens (tests) ------------------------------------------------------------- */

/* A token for client c expiring at exp (Unix s), signed with key. */
int feed_token_make(const char *key, const struct feed_client *c, int64_t exp, char *out,
                    size_t len);
/* The client a token is of, when its signature, expiry (against now_s) and
 * claims hold; else NULL. */
const struct feed_client *feed_token_check(const struct feed_config *fc, const char *token,
                                           int64_t now_s);

#endif
