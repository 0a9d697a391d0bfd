#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "indicators/indicators.h"
#include "tests/testutil.h"

void test_tmpdir(char *path, size_t len, const char *name) {
  const char *base = getenv("CSCFLOW_TEST_TMP");
  if (base == NULL)
    base = "/tmp";
  mkdir(base, 0750);
  snprintf(path, len, "%s/%s-%d-XXXXXX", base, name, (int)getpid());
  assert_non_null(mkdtemp(path));
}

int64_t test_ms(csc_date d) { return date_london_midnight_ms(d) + 14 * 3600 * 1000LL; }

/* ---- files and child processes ------------------------------------------------------ */

char *test_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 1 << 16, n = 0, got;
  char *buf = malloc(cap);
  assert_non_null(buf);
  while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (n + 1 == cap) {
      buf = realloc(buf, cap *= 2);
      assert_non_null(buf);
    }
  }
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

char *test_slurp_text(const char *path) {
  char *text = test_slurp(path, NULL);
  if (text == NULL) {
    text = calloc(1, 1);
    assert_non_null(text);
  }
  return text;
}

void test_write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_true(fputs(text, f) >= 0);
  assert_int_equal(fclose(f), 0);
}

size_t test_count(const char *text, const char *needle) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

pid_t test_spawn_with(const char *bin, char *const args[], const char *out, const char *errf,
                      int (*prepare)(const void *arg), const void *arg) {
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    const int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0640);
    const int e = open(errf ? errf : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
      _exit(126);
    if (prepare != NULL && prepare(arg) != 0)
      _exit(125);
    execv(bin, args);
    _exit(127);
  }
  return pid;
}

pid_t test_spawn(const char *bin, char *const args[], const char *out, const char *errf) {
  return test_spawn_with(bin, args, out, errf, NULL, NULL);
}

int test_wait_pid(pid_t pid, double bound_s, double *took) {
  const double t0 = test_now_s();
  int status = 0;
  for (int i = 0; i < 1000000; i++) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (took)
        *took = test_now_s() - t0;
      return status;
    }
    assert_true(r == 0 || errno == EINTR);
    if (test_now_s() - t0 > bound_s)
      break;
    test_sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  if (took)
    *took = test_now_s() - t0;
  return -1;
}

int test_wait_serving(pid_t pid, const char *errf, double bound_s) {
  int port = -1;
  const double t0 = test_now_s();
  for (int i = 0; i < 1000000 && port < 0 && test_now_s() - t0 < bound_s; i++) {
    char *log = test_slurp_text(errf);
    const char *p = strstr(log, "\"event\":\"serving\"");
    if (p != NULL && (p = strstr(p, "\"port\":")) != NULL)
      port = atoi(p + 7);
    int status;
    if (port < 0 && waitpid(pid, &status, WNOHANG) == pid)
      fail_msg("cscflow exited before serving (status %d): %s", status, log);
    free(log);
    if (port < 0)
      test_sleep_ms(20);
  }
  if (port <= 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char *log = test_slurp_text(errf);
    fail_msg("no serving line within %.0f s: %s", bound_s, log);
  }
  return port;
}

/* ---- HTTP on loopback -------------------------------------------------------------- */

/* A connection to 127.0.0.1:port whose reads wait at most timeout_s; -1
 * when nothing listens there, -2 when there is no socket. No cmocka call:
 * safe on a thread of the test's own. */
static int loopback_connect(int port, int timeout_s) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -2;
  struct timeval tv = {timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int test_http_connect(int port, int timeout_s) {
  const int fd = loopback_connect(port, timeout_s);
  assert_true(fd != -2);
  return fd;
}

int test_http_try_exchange(int port, const char *raw, char *buf, size_t len) {
  const int fd = loopback_connect(port, 5);
  if (fd < 0)
    return -1;
  size_t sent = 0, n = strlen(raw);
  while (sent < n) {
    const ssize_t w = send(fd, raw + sent, n - sent, MSG_NOSIGNAL);
    if (w <= 0)
      break;
    sent += (size_t)w;
  }
  size_t got = 0;
  for (ssize_t r; got + 1 < len && (r = recv(fd, buf + got, len - 1 - got, 0)) > 0;)
    got += (size_t)r;
  buf[got] = '\0';
  close(fd);
  int status = 0;
  return sscanf(buf, "HTTP/1.%*d %d", &status) == 1 ? status : 0;
}

int test_http_exchange(int port, const char *raw, char *buf, size_t len) {
  const int status = test_http_try_exchange(port, raw, buf, len);
  assert_true(status >= 0);
  return status;
}

int test_http_get(int port, const char *path, const char *auth, char *buf, size_t len) {
  char raw[2048];
  snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: localhost\r\n%s%s%sConnection: close\r\n\r\n",
           path, auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
  return test_http_exchange(port, raw, buf, len);
}

const char *test_http_body(const char *response) {
  const char *p = strstr(response, "\r\n\r\n");
  return p ? p + 4 : "";
}

double test_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void test_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- the mock cluster's topics -------------------------------------------------------- */

rd_kafka_t *test_mock_owner(rd_kafka_conf_t *conf, rd_kafka_mock_cluster_t **mock) {
  char err[512];
  if (conf == NULL)
    conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(owner);
  *mock = rd_kafka_handle_mock_cluster(owner);
  assert_non_null(*mock);
  return owner;
}

void test_mock_topics(rd_kafka_mock_cluster_t *mock, int events_partitions) {
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_EVENTS, events_partitions, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_INDICATORS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_ALERTS, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_QUALITY, 1, 1), 0);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_DLQ, 1, 1), 0);
}

static rd_kafka_t *topic_reader(const char *bootstraps) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "group.id", "test-topic-reader", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  assert_non_null(rk);
  rd_kafka_poll_set_consumer(rk);
  return rk;
}

static size_t watermarks_total(rd_kafka_t *rk, const char *topic, int partitions) {
  size_t total = 0;
  for (int32_t p = 0; p < partitions; p++) {
    int64_t lo, hi;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000), 0);
    total += (size_t)(hi - lo);
  }
  return total;
}

size_t test_topic_total(const char *bootstraps, const char *topic, int partitions) {
  rd_kafka_t *rk = topic_reader(bootstraps);
  const size_t total = watermarks_total(rk, topic, partitions);
  rd_kafka_destroy(rk);
  return total;
}

size_t test_read_topic(const char *bootstraps, const char *topic, int partitions,
                       struct test_msg *out, size_t cap) {
  rd_kafka_t *rk = topic_reader(bootstraps);
  const size_t total = watermarks_total(rk, topic, partitions);
  assert_true(total <= cap);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
  for (int32_t p = 0; p < partitions; p++)
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  assert_int_equal(rd_kafka_assign(rk, l), 0);
  rd_kafka_topic_partition_list_destroy(l);
  size_t n = 0;
  const double deadline = test_now_s() + 20.0;
  for (int i = 0; i < 2000 && n < total && test_now_s() < deadline; i++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
    if (m == NULL)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      struct test_msg *g = &out[n++];
      memset(g, 0, sizeof *g);
      g->partition = m->partition;
      assert_true(m->key_len < sizeof g->key && m->len <= sizeof g->value);
      if (m->key != NULL)
        memcpy(g->key, m->key, m->key_len);
      memcpy(g->value, m->payload, m->len);
      g->len = m->len;
    }
    rd_kafka_message_destroy(m);
  }
  assert_int_equal(n, total);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return n;
}
