/*
 * feed.c — the feed's producer side (serve/feed.h is the contract): the
 * input topic's producer, the batches of produced events, their delivery
 * reports, the feed's thread and the feed's counters. The routes that make
 * the batches are serve/feed_http.c's.
 *
 * A batch (the produced events of one request) lives until both the request
 * and every one of its delivery reports are done with it: a report may come
 * after a 429 was answered, or after the connection closed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "serve/feed_internal.h"

static const char *const OUTCOMES[OUT_N] = {"accepted", "refused", "test", "deferred"};

static int64_t wall_ms(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under f->mu. */
void batch_unref(struct batch *b) {
  if (--b->refs == 0)
    free(b);
}

/* Under f->mu: the batch is answered now (state set), its connection resumed. */
void batch_settle(struct feed *f, struct batch *b, enum batch_state state) {
  b->state = state;
  for (struct batch **p = &f->waiting; *p; p = &(*p)->next)
    if (*p == b) {
      *p = b->next;
      break;
    }
  b->next = NULL;
  if (b->suspended) {
    b->suspended = 0;
    MHD_resume_connection(b->conn); /* under f->mu: feed_internal.h says why no deadlock */
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

void count_docs(struct feed *f, const char *la, enum outcome o, uint64_t n) {
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
