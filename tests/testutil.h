/*
 * testutil.h — helpers shared by the tests: building events, temporary
 * directories, reading sink files.
 */
#ifndef CSCFLOW_TESTUTIL_H
#define CSCFLOW_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "base/base.h"
#include "cscflow/v1/events.pb-c.h"

#include <librdkafka/rdkafka.h>
/* After rdkafka.h: rdkafka_mock.h needs its RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

/* A fresh empty directory under $CSCFLOW_TEST_TMP (or /tmp); path is static
 * per call site's buffer of at least 256 bytes. Fails the test on error. */
void test_tmpdir(char *path, size_t len, const char *name);

/* The shipped code lists (reference/code-lists.csv), loaded on first use
 * and kept for the test program's life (tests/harness.c). */
struct code_lists;
const struct code_lists *test_code_lists(void);

/* Monotonic seconds, for bounding a wait (never for a pass/fail timing). */
double test_now_s(void);
/* Sleeps ms milliseconds. */
void test_sleep_ms(int ms);

/* ---- files and child processes ------------------------------------------------------ */

/* The whole file at path, NUL-terminated (*len, when len is not NULL, its
 * length without the NUL); NULL when it cannot be opened. The caller frees
 * it. */
char *test_slurp(const char *path, size_t *len);
/* test_slurp, but an empty string when the file cannot be opened (never
 * NULL). The caller frees it. */
char *test_slurp_text(const char *path);
/* Writes text to path (created or truncated); fails the test on error. */
void test_write_text(const char *path, const char *text);
/* How many times needle stands in text (not overlapping). */
size_t test_count(const char *text, const char *needle);

/* Forks and execs bin with args (NULL-terminated, args[0] the program's
 * name), stdout to out and stderr to errf (NULL: /dev/null; created or
 * truncated). In the child, after the redirections and before exec,
 * prepare(arg) runs when prepare is not NULL; the child exits 125 when it
 * returns nonzero, 126 when a redirection fails, 127 when exec does.
 * Returns the child's pid. */
pid_t test_spawn_with(const char *bin, char *const args[], const char *out, const char *errf,
                      int (*prepare)(const void *arg), const void *arg);
/* test_spawn_with with no prepare. */
pid_t test_spawn(const char *bin, char *const args[], const char *out, const char *errf);
/* Waits at most bound_s for child pid to exit: its wait status, or -1 after
 * killing (SIGKILL) and reaping it. *took (took not NULL): seconds waited. */
int test_wait_pid(pid_t pid, double bound_s, double *took);
/* Waits at most bound_s for the `serving` line that child pid logs to errf:
 * its port. Fails the test when the child exits first, or (after killing
 * it) when no such line comes. */
int test_wait_serving(pid_t pid, const char *errf, double bound_s);

/* Date literal: D(2024, 2, 29). */
#define D(y, m, d) date_from_ymd((y), (m), (d))

/* Unix ms of 14:00 London time on date d (the usual recording time). */
int64_t test_ms(csc_date d);

/* A connection to 127.0.0.1:port whose reads wait at most timeout_s, or -1
 * when nothing listens there. */
int test_http_connect(int port, int timeout_s);
/* Sends raw (a whole HTTP request) to 127.0.0.1:port and reads the whole
 * response into buf (NUL-terminated, cut at len - 1). Returns the status
 * code, or 0 when the server closed without one. Waits at most 5 s. */
int test_http_exchange(int port, const char *raw, char *buf, size_t len);
/* test_http_exchange without cmocka calls (safe on a thread of the test's
 * own): -1 when it cannot connect. */
int test_http_try_exchange(int port, const char *raw, char *buf, size_t len);
/* GET path with "Authorization: <auth>" (auth NULL: no header). */
int test_http_get(int port, const char *path, const char *auth, char *buf, size_t len);
/* The body of a response read by the two above (after the blank line). */
const char *test_http_body(const char *response);

/* The helpers that need the serve library are in testutil_serve.h. */

/* ---- the mock cluster's topics ---------------------------------------------------- */

/* A producer that owns a mock cluster of one broker, made with conf (NULL: a
 * new one; test.mock.num.brokers is set here; conf is consumed), and *mock
 * its cluster. The caller destroys the producer, and the cluster with it. */
rd_kafka_t *test_mock_owner(rd_kafka_conf_t *conf, rd_kafka_mock_cluster_t **mock);
/* Creates on mock the input topic (TOPIC_EVENTS) of events_partitions
 * partitions and the four output topics (indicators, alerts, quality, DLQ)
 * of one partition each. */
void test_mock_topics(rd_kafka_mock_cluster_t *mock, int events_partitions);

/* One message read back from a topic. */
struct test_msg {
  int32_t partition;
  char key[64];
  uint8_t value[4096];
  size_t len;
};

/* Messages on partitions [0, partitions) of topic at bootstraps. */
size_t test_topic_total(const char *bootstraps, const char *topic, int partitions);

/* Every message of partitions [0, partitions) of topic, partition by
 * partition, into out (asserts at most cap, each within the sizes above,
 * and every one read within 20 s); their count. */
size_t test_read_topic(const char *bootstraps, const char *topic, int partitions,
                       struct test_msg *out, size_t cap);

#endif
