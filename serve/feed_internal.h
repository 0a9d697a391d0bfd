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

/*
 * The feed's mutex (mu) and libmicrohttpd's suspend and resume: why they
 * cannot deadlock.
 *
 * libmicrohttpd is called under mu twice: MHD_suspend_connection
 * (data_request, feed_http.c), so that a batch joins the waiting list and
 * its connection is suspended at once, before any report or deadline can
 * resume it; and MHD_resume_connection (batch_settle, feed.c: from the
 * feed's thread, a delivery report, feed_shutdown). In libmicrohttpd 0.9.75
 * each takes the connection's daemon's cleanup_connection_mutex for a few
 * list operations and calls nothing of ours; resume then writes to the
 * daemon's eventfd, non-blocking (EAGAIN, a wake-up already pending, counts
 * as done). libmicrohttpd calls us (the access handler, NOTIFY_COMPLETED,
 * NOTIFY_CONNECTION) without that mutex held. So mu is always taken first,
 * libmicrohttpd's mutex second, and nothing waits for mu while holding
 * libmicrohttpd's: no cycle. Nothing done under mu waits for another
 * thread either:
 *   - rd_kafka_producev (produce) has no RD_KAFKA_MSG_F_BLOCK: a full queue
 *     is an error at once, never a wait for delivery reports, which take mu
 *     (delivered); librdkafka calls delivered from rd_kafka_poll and
 *     rd_kafka_flush only, with no lock of its own held;
 *   - what takes mu (count_docs, log_request, answer_batch) is never called
 *     under it: a pthread mutex is not recursive;
 *   - MHD_stop_daemon, which joins the server's threads (they take mu in
 *     feed_request_done), is never called under it (serve_stop).
 * Nor does a suspended connection wait forever: each is on the waiting list
 * with a deadline the feed's thread checks after each rd_kafka_poll (50 ms);
 * MHD_ALLOW_SUSPEND_RESUME includes MHD_USE_ITC, so a resume wakes the
 * connection's thread at once; feed_shutdown resumes every one, and refuses
 * new ones, before MHD_stop_daemon (which must not meet a suspended
 * connection). tests/test_feed.c's waiting_requests_at_once suspends and
 * resumes many at once beside /metrics, and stops the server with some
 * suspended, bounded by alarm().
 */
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
