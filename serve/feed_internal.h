/*
 * feed_internal.h — what the files of the DfE CSC API feed share: the feed
 * itself, its batches and its counters, and the functions one of them calls
 * in another. Private to serve/: serve/feed.h is the contract.
 *
 *   feed_config.c  the configuration (feed_config_load, feed_config_free)
 *   feed_token.c   the tokens: HS256 JSON Web Tokens made and checked
 *   feed.c         the producer: the feed, its batches' lives, the delivery
 *                  reports, the feed's thread (reports, deadlines) and the
 *                  metrics
 *   feed_http.c    the routes: paths, the token route, the data route and
 *                  libmicrohttpd's suspend and resume; a request's life
 */
#ifndef CSCFLOW_SERVE_FEED_INTERNAL_H
#define CSCFLOW_SERVE_FEED_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include "serve/feed.h"

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

static inline int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t feed_now(struct feed *f) { return f->now_ms(f->now_ctx); }

/* ---- feed.c ---------------------------------------------------------------------- */

/* Under f->mu. */
void batch_unref(struct batch *b);

/* Under f->mu: the batch is answered now (state set), its connection resumed. */
void batch_settle(struct feed *f, struct batch *b, enum batch_state state);

/* Adds n to the counter of outcome o of la (a client's canonical LA code).
 * Takes f->mu: never called under it. */
void count_docs(struct feed *f, const char *la, enum outcome o, uint64_t n);

#endif
