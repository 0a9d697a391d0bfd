/*
 * The header deadline (guard.h): a list of the open connections, under one
 * mutex, and a thread that cuts those whose headers are late.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/base.h"
#include "serve/guard.h"

/* How often the thread looks: a connection is cut at most this late. */
#define GUARD_TICK_MS 500
/* At most one log line a period, however many connections are cut, so that
 * an attacker cannot flood the log. */
#define GUARD_LOG_PERIOD_MS 10000

struct guarded {
  struct guarded *prev, *next;
  int fd;
  int64_t since_ms;     /* monotonic: the connection's start, or its last request's end */
  int awaiting_headers; /* the deadline runs */
  int cut;              /* shut down already; libmicrohttpd has yet to close it */
  char client[INET6_ADDRSTRLEN];
};

struct guard {
  pthread_mutex_t lock;
  pthread_cond_t wake; /* signalled by guard_stop */
  pthread_t thread;
  int stopping;
  int64_t timeout_ms;
  struct guarded *head;
  /* Cut since the last log line, and the latest client cut. */
  uint64_t cut_unlogged;
  char cut_client[INET6_ADDRSTRLEN];
  int64_t logged_ms;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The peer's address as text, for the log line: which client to block. */
static void client_text(struct MHD_Connection *c, char out[INET6_ADDRSTRLEN]) {
  strcpy(out, "?");
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci == NULL || ci->client_addr == NULL)
    return;
  const struct sockaddr *sa = ci->client_addr;
  const void *a = sa->sa_family == AF_INET6
                      ? (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr
                      : (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
  if (inet_ntop(sa->sa_family, a, out, INET6_ADDRSTRLEN) == NULL)
    strcpy(out, "?");
}

static void track(struct guard *g, struct MHD_Connection *c, void **socket_context) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct guarded *k = calloc(1, sizeof *k);
  if (k == NULL || ci == NULL) {
    free(k); /* untracked: the idle timeout and the per-client limit still hold */
    return;
  }
  k->fd = ci->connect_fd;
  k->since_ms = mono_ms();
  k->awaiting_headers = 1;
  client_text(c, k->client);
  pthread_mutex_lock(&g->lock);
  k->next = g->head;
  if (g->head)
    g->head->prev = k;
  g->head = k;
  pthread_mutex_unlock(&g->lock);
  *socket_context = k;
}

/* Called before libmicrohttpd closes the socket: once k is unlinked the
 * thread can no longer shut down the descriptor number. */
static void forget(struct guard *g, struct guarded *k) {
  pthread_mutex_lock(&g->lock);
  if (k->prev)
    k->prev->next = k->next;
  else
    g->head = k->next;
  if (k->next)
    k->next->prev = k->prev;
  pthread_mutex_unlock(&g->lock);
  free(k);
}

void guard_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                             enum MHD_ConnectionNotificationCode code) {
  struct guard *g = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    track(g, c, socket_context);
  else if (*socket_context != NULL) {
    forget(g, *socket_context);
    *socket_context = NULL;
  }
}

/* The guard's record of c, or NULL when it has none. */
static struct guarded *record_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void set_awaiting(struct guard *g, struct MHD_Connection *c, int awaiting) {
  struct guarded *k = record_of(c);
  if (k == NULL)
    return;
  pthread_mutex_lock(&g->lock);
  k->awaiting_headers = awaiting;
  k->since_ms = mono_ms();
  pthread_mutex_unlock(&g->lock);
}

void guard_headers_complete(struct guard *g, struct MHD_Connection *c) { set_awaiting(g, c, 0); }

void guard_request_completed(void *cls, struct MHD_Connection *c, void **req,
                             enum MHD_RequestTerminationCode toe) {
  (void)req;
  (void)toe;
  set_awaiting(cls, c, 1);
}

/* Shuts down every connection whose headers are late; under the lock. */
static void cut_late(struct guard *g, int64_t now) {
  for (struct guarded *k = g->head; k; k = k->next) {
    if (!k->awaiting_headers || k->cut || now - k->since_ms < g->timeout_ms)
      continue;
    shutdown(k->fd, SHUT_RDWR);
    k->cut = 1;
    g->cut_unlogged++;
    memcpy(g->cut_client, k->client, sizeof g->cut_client);
  }
}

/* The summary line, at most once a period; called without the lock. */
static void log_cuts(uint64_t n, const char *client, int64_t timeout_ms) {
  log_json(LOG_WARN, "api_header_deadline",
           "\"closed\":%llu,\"client\":\"%s\",\"header_timeout_s\":%lld", (unsigned long long)n,
           client, (long long)(timeout_ms / 1000));
}

static void wait_tick(struct guard *g) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_nsec += GUARD_TICK_MS * 1000000L;
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  pthread_cond_timedwait(&g->wake, &g->lock, &until);
}

static void *watch(void *arg) {
  struct guard *g = arg;
  pthread_mutex_lock(&g->lock);
  while (!g->stopping) {
    const int64_t now = mono_ms();
    cut_late(g, now);
    if (g->cut_unlogged > 0 && now - g->logged_ms >= GUARD_LOG_PERIOD_MS) {
      const uint64_t n = g->cut_unlogged;
      char client[INET6_ADDRSTRLEN];
      memcpy(client, g->cut_client, sizeof client);
      g->cut_unlogged = 0;
      g->logged_ms = now;
      pthread_mutex_unlock(&g->lock);
      log_cuts(n, client, g->timeout_ms);
      pthread_mutex_lock(&g->lock);
    }
    wait_tick(g);
  }
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

int guard_start(unsigned header_timeout_s, struct guard **out) {
  struct guard *g = calloc(1, sizeof *g);
  if (g == NULL)
    return CSC_ENOMEM;
  g->timeout_ms = (int64_t)header_timeout_s * 1000;
  g->logged_ms = mono_ms() - GUARD_LOG_PERIOD_MS;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* wait_tick's clock */
  pthread_cond_init(&g->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&g->lock, NULL);
  if (pthread_create(&g->thread, NULL, watch, g) != 0) {
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
    return CSC_EIO;
  }
  *out = g;
  return CSC_OK;
}

void guard_stop(struct guard *g) {
  if (g == NULL)
    return;
  pthread_mutex_lock(&g->lock);
  g->stopping = 1;
  pthread_cond_signal(&g->wake);
  pthread_mutex_unlock(&g->lock);
  pthread_join(g->thread, NULL);
  while (g->head) { /* none after MHD_stop_daemon; a daemon that never started leaves none */
    struct guarded *k = g->head;
    g->head = k->next;
    free(k);
  }
  pthread_cond_destroy(&g->wake);
  pthread_mutex_destroy(&g->lock);
  free(g);
}
