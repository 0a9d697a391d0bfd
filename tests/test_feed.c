/*
 * test_feed.c — the DfE CSC API feed's endpoint (serve/feed.h) as the
 * published sender uses it (../shared/research/dfe-sender.md), on loopback,
 * against librdkafka's mock cluster hosted in this process:
 *   - the sender's sequence: a form-encoded token request, then batches of
 *     documents; answers 200 application/json, one id per document in the
 *     form the senders parse; the events on csc.events.v1 keyed by the LA's
 *     canonical code, on the partition murmur2 gives it, with the bytes
 *     dfe_event makes of the same document at the same receipt time, and no
 *     name or full postcode in them;
 *   - a doubled slash in either path; a Windows-1252 body;
 *   - 401 (no token, a forged one, an expired one, a wrong supplier key, a
 *     wrong secret), 403 (another LA's path), 400 naming [n] and no other
 *     bracketed number, the smoke test's {} (400), 413, 415; nothing of a
 *     refused request produced;
 *   - the sender's test child and a test client: answered, nothing produced;
 *   - the broker down: 429 with Retry-After within the deadline; once it is
 *     back, the same batch resent is 200 and every copy of an event on the
 *     topic has the same bytes (a duplicate the engine applies once);
 *   - /metrics counts documents per LA and outcome, requests per status;
 *   - many requests waiting for Kafka at once beside /metrics, then the
 *     server stopped with requests waiting: none deadlocks (feed_internal.h),
 *     each is answered or closed, within alarm()'s bound.
 * Every wait is bounded in count and time.
 */
#define _GNU_SOURCE /* memmem */
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "feeds/feeds.h"
#include "serve/feed.h"
#include "serve/serve.h"
#include "tests/harness.h"
#include "tests/testutil_serve.h"

#include <librdkafka/rdkafka_mock.h>

#define PARTITIONS 3
#define LA2 "E99000002"
#define SIGNING_KEY "an-example-signing-key-of-40-bytes-long!"
#define OP_TOKEN "op-secret"
#define ID_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{2}_.+\\.json$"

static int64_t clock_ms;
static int64_t test_clock(void *ctx) {
  (void)ctx;
  return clock_ms;
}

struct world {
  rd_kafka_t *owner;
  rd_kafka_mock_cluster_t *mock;
  const char *bootstraps;
  struct fixture f;
  struct test_feed_conf conf;
  struct feed *feed;
  struct server *srv;
  int port;
  char token[1024]; /* client la990's, from the token route */
};

static struct world W;
static char resp[1 << 18];

static void set(const char *key, const char *value) {
  assert_int_equal(config_set(&W.conf.cfg, key, value), CSC_OK);
}

static void set_hash(const char *key, const char *secret) {
  test_config_set_hash(&W.conf.cfg, key, secret);
}

static void client(const char *id, const char *la, const char *mode, const char *test) {
  char key[128], secret[64], supplier[64];
  snprintf(secret, sizeof secret, "secret-%s", id);
  snprintf(supplier, sizeof supplier, "supplier-%s", id);
  snprintf(key, sizeof key, "cscflow.feed.client.%s.la", id);
  set(key, la);
  snprintf(key, sizeof key, "cscflow.feed.client.%s.secret", id);
  set_hash(key, secret);
  snprintf(key, sizeof key, "cscflow.feed.client.%s.supplier_key", id);
  set_hash(key, supplier);
  if (mode) {
    snprintf(key, sizeof key, "cscflow.feed.client.%s.mode", id);
    set(key, mode);
  }
  if (test) {
    snprintf(key, sizeof key, "cscflow.feed.client.%s.test", id);
    set(key, test);
  }
}

/* A feed of W's configuration producing to the mock cluster, and a server
 * with its routes (per_client: max_connections_per_client, 0 the default). */
static void start_feed(struct feed **f, struct server **srv, unsigned per_client) {
  char err[512];
  rd_kafka_conf_t *pc = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(pc, "bootstrap.servers", W.bootstraps, err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(pc, "linger.ms", "2", err, sizeof err), RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(pc, "reconnect.backoff.max.ms", "200", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(pc, "message.timeout.ms", "20000", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  const struct feed_options fo = {&W.conf.fc, pc, test_clock, NULL};
  assert_int_equal(feed_new(&fo, f, err, sizeof err), CSC_OK);
  const struct serve_options so = {.state_dir = W.f.dir,
                                   .tokens = &W.conf.tokens,
                                   .las = &W.conf.las,
                                   .feed = *f,
                                   .max_connections_per_client = per_client};
  assert_int_equal(serve_start(&so, srv, err, sizeof err), CSC_OK);
}

static int setup(void **state) {
  (void)state;
  W.owner = test_mock_owner(NULL, &W.mock);
  assert_int_equal(rd_kafka_mock_topic_create(W.mock, TOPIC_EVENTS, PARTITIONS, 1), 0);
  W.bootstraps = rd_kafka_mock_cluster_bootstraps(W.mock);

  open_fixture(&W.f, "feed"); /* an empty state for the read API beside the feed */
  close_fixture(&W.f);

  config_init(&W.conf.cfg);
  set("cscflow.la.alias.990", LA); /* the demo's fictional numbers */
  set("cscflow.la.alias.991", LA2);
  set("cscflow.feed.signing_key", SIGNING_KEY);
  set("cscflow.feed.ack_timeout_ms", "1500");
  set("cscflow.feed.max_body_bytes", "1048576");
  client("la990", "990", "full", NULL);
  client("la991", "991", NULL, NULL);
  client("test990", "990", NULL, "true");
  set_hash("cscflow.api.operator_token", OP_TOKEN);
  test_feed_conf_load(&W.conf);
  assert_int_equal(W.conf.fc.n, 3);

  clock_ms = test_ms(D(2025, 6, 2)) + 1234; /* 14:00:01.234 London: 13:00:01.23 UTC */
  start_feed(&W.feed, &W.srv, 0);
  W.port = serve_port(W.srv);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  serve_stop(W.srv);
  feed_free(W.feed);
  test_feed_conf_free(&W.conf);
  rd_kafka_destroy(W.owner);
  return 0;
}

/* ---- requests as the senders make them --------------------------------------------- */

static int post(const char *path, const char *headers, const char *body, size_t len) {
  static char raw[1 << 18];
  int n = snprintf(raw, sizeof raw,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Microsoft PowerShell/6.0.0\r\n"
                   "%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   path, headers, len);
  assert_true(n > 0 && (size_t)n + len < sizeof raw);
  memcpy(raw + n, body, len);
  raw[n + len] = '\0';
  return test_http_exchange(W.port, raw, resp, sizeof resp);
}

static int post_token(const char *path, const char *id, const char *secret, const char *grant) {
  char form[512];
  snprintf(form, sizeof form, "client_id=%s&client_secret=%s&scope=api%%3A%%2F%%2Fcsc%%2F.default"
                              "&grant_type=%s", id, secret, grant);
  return post(path, "Content-Type: application/x-www-form-urlencoded\r\n", form, strlen(form));
}

/* A token of client id from the token route. */
static void token_of(const char *id, char *out, size_t len) {
  char secret[64];
  snprintf(secret, sizeof secret, "secret-%s", id);
  assert_int_equal(post_token("/feeds/dfe/token", id, secret, "client_credentials"), 200);
  const char *at = strstr(test_http_body(resp), "\"access_token\":\"");
  assert_non_null(at);
  at += strlen("\"access_token\":\"");
  const char *end = strchr(at, '"');
  assert_non_null(end);
  assert_true((size_t)(end - at) < len);
  memcpy(out, at, (size_t)(end - at));
  out[end - at] = '\0';
}

static int post_docs_as(const char *path, const char *token, const char *supplier,
                        const char *type, const char *body, size_t len) {
  char headers[1400];
  snprintf(headers, sizeof headers, "%s%s%sSupplierKey: %s\r\nContent-Type: %s\r\n",
           token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "",
           supplier, type);
  return post(path, headers, body, len);
}

static int post_docs(const char *path, const char *body) {
  return post_docs_as(path, W.token, "supplier-la990", "application/json", body, strlen(body));
}

#define DATA_990 "/feeds/dfe/children_social_care_data/990/children"

static const char *doc(const char *child, char *buf, size_t len) {
  snprintf(buf, len,
           "{\"la_child_id\":\"%s\",\"mis_child_id\":\"M-%s\",\"purge\":false,"
           "\"child_details\":{\"unique_pupil_number\":\"A123456789012\",\"first_name\":\"Annabel\","
           "\"surname\":\"Quill\",\"date_of_birth\":\"2015-03-01\",\"sex\":\"F\","
           "\"ethnicity\":\"WBRI\",\"disabilities\":[\"NONE\"],\"postcode\":\"LS6 2AB\","
           "\"uasc_flag\":false,\"purge\":false},"
           "\"social_care_episodes\":[{\"social_care_episode_id\":\"E-%s\","
           "\"referral_date\":\"2025-05-01\",\"referral_source\":\"1A\","
           "\"child_and_family_assessments\":[{\"child_and_family_assessment_id\":\"A1\","
           "\"start_date\":\"2025-05-02\",\"factors\":[],\"purge\":false}],\"purge\":false}]}",
           child, child, child);
  return buf;
}

/* ---- the topic ----------------------------------------------------------------------- */

static size_t topic_total(rd_kafka_t *rk) {
  size_t total = 0;
  for (int32_t p = 0; p < PARTITIONS; p++) {
    int64_t lo, hi;
    assert_int_equal(rd_kafka_query_watermark_offsets(rk, TOPIC_EVENTS, p, &lo, &hi, 10000), 0);
    total += (size_t)(hi - lo);
  }
  return total;
}

static struct test_msg got[64];

/* Every message of the input topic into got; their count. */
static size_t read_topic(void) {
  return test_read_topic(W.bootstraps, TOPIC_EVENTS, PARTITIONS, got, sizeof got / sizeof got[0]);
}

static size_t produced_so_far(void) { return topic_total(feed_producer(W.feed)); }

static int32_t partition_of(const char *key) {
  return rd_kafka_msg_partitioner_murmur2_random(NULL, key, strlen(key), PARTITIONS, NULL, NULL);
}

/* Asserts the body of a 200 is a JSON array of n ids the senders parse. */
static void expect_ids(size_t n) {
  assert_non_null(strstr(resp, "Content-Type: application/json"));
  json_error_t jerr;
  json_t *arr = json_loads(test_http_body(resp), 0, &jerr);
  assert_non_null(arr);
  assert_true(json_is_array(arr));
  assert_int_equal(json_array_size(arr), n);
  regex_t re;
  assert_int_equal(regcomp(&re, ID_RE, REG_EXTENDED | REG_NOSUB), 0);
  for (size_t i = 0; i < n; i++) {
    const char *id = json_string_value(json_array_get(arr, i));
    assert_non_null(id);
    assert_int_equal(regexec(&re, id, 0, NULL, 0), 0);
    assert_int_equal(strncmp(id, "2025-06-02_13:00:01.23_", 23), 0);
  }
  regfree(&re);
  json_decref(arr);
}

/* ---- the tests -------------------------------------------------------------------------- */

static void sender_sequence(void **state) {
  (void)state;
  token_of("la990", W.token, sizeof W.token);
  assert_non_null(strstr(resp, "Content-Type: application/json"));
  assert_non_null(strstr(resp, "\"token_type\":\"Bearer\""));
  assert_non_null(strstr(resp, "\"expires_in\":43200"));

  char a[2048], b[2048], c[2048], body[8192];
  snprintf(body, sizeof body, "[%s,%s,%s]", doc("C1", a, sizeof a), doc("C2", b, sizeof b),
           doc("C3", c, sizeof c));
  assert_int_equal(post_docs(DATA_990, body), 200);
  expect_ids(3);
  assert_int_equal(read_topic(), 3);

  /* The events: dfe_event's bytes of the same documents at the same time. */
  struct arena ar;
  arena_init(&ar, 1 << 16);
  struct dfe_document *docs;
  size_t n;
  struct dfe_problem problem;
  assert_int_equal(dfe_parse(body, strlen(body), CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL, &ar,
                             &docs, &n, &problem),
                   CSC_OK);
  char reply[4096];
  snprintf(reply, sizeof reply, "%s", test_http_body(resp));
  for (size_t i = 0; i < n; i++) {
    CaseEvent ev;
    assert_int_equal(dfe_event(LA, &docs[i], clock_ms, &ar, &ev), CSC_OK);
    const size_t len = cscflow__v1__case_event__get_packed_size(&ev);
    uint8_t *want = arena_alloc(&ar, len);
    cscflow__v1__case_event__pack(&ev, want);
    assert_string_equal(got[i].key, LA);
    assert_int_equal(got[i].partition, partition_of(LA));
    assert_int_equal(got[i].len, len);
    assert_memory_equal(got[i].value, want, len);
    char id[96];
    dfe_reply_id(clock_ms, ev.event_id, id, sizeof id);
    assert_non_null(strstr(reply, id)); /* in order: checked by the position below */
    assert_true(strstr(reply, id) - reply > (ptrdiff_t)(i * 40));
    /* Nothing personal on the topic. */
    assert_null(memmem(got[i].value, got[i].len, "Annabel", 7));
    assert_null(memmem(got[i].value, got[i].len, "Quill", 5));
    assert_null(memmem(got[i].value, got[i].len, "LS6 2AB", 7));
    assert_null(memmem(got[i].value, got[i].len, "A123456789012", 13));
  }
  CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, got[0].len, got[0].value);
  assert_non_null(ev);
  assert_string_equal(ev->la_code, LA);
  assert_string_equal(ev->child_id, "C1");
  assert_int_equal(ev->recorded_at_ms, clock_ms);
  assert_int_equal(ev->payload_case, CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_RECORD);
  assert_int_equal(ev->child_record->mode, CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL);
  cscflow__v1__case_event__free_unpacked(ev, NULL);
  arena_free(&ar);

  /* The same batch again the same day: the same events (duplicates). */
  assert_int_equal(post_docs(DATA_990, body), 200);
  assert_int_equal(read_topic(), 6);
  for (size_t i = 0; i < 3; i++)
    assert_memory_equal(got[i].value, got[i + 3].value, got[i].len);

  /* An empty batch is answered with an empty array. */
  assert_int_equal(post_docs(DATA_990, "[]"), 200);
  expect_ids(0);
}

static void doubled_slash_and_partial_client(void **state) {
  (void)state;
  char token[1024];
  assert_int_equal(post_token("/feeds/dfe//token", "la991", "secret-la991", "client_credentials"),
                   200);
  token_of("la991", token, sizeof token);
  char a[2048], body[4096];
  snprintf(body, sizeof body, "[%s]", doc("P1", a, sizeof a));
  const size_t before = produced_so_far();
  assert_int_equal(post_docs_as("/feeds/dfe//children_social_care_data/991/children", token,
                                "supplier-la991", "application/json", body, strlen(body)),
                   200);
  expect_ids(1);
  const size_t n = read_topic();
  assert_int_equal(n, before + 1);
  assert_string_equal(got[n - 1].key, LA2);
  CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, got[n - 1].len, got[n - 1].value);
  assert_non_null(ev);
  assert_int_equal(ev->child_record->mode, CSCFLOW__V1__RECORD_MODE__RECORD_MODE_PARTIAL);
  cscflow__v1__case_event__free_unpacked(ev, NULL);
}

static void windows_1252_body(void **state) {
  (void)state;
  char a[2048], body[4096];
  doc("W1", a, sizeof a);
  char *name = strstr(a, "Annabel");
  name[0] = (char)0xC9; /* É in Windows-1252, not UTF-8 */
  snprintf(body, sizeof body, "[%s]", a);
  const size_t before = produced_so_far();
  assert_int_equal(post_docs(DATA_990, body), 200);
  expect_ids(1);
  assert_int_equal(produced_so_far(), before + 1);
}

/* Each [digits] of the body is the one expected. */
static void expect_only_index(const char *expected) {
  regex_t re;
  regmatch_t m;
  assert_int_equal(regcomp(&re, "\\[[0-9]+\\]", REG_EXTENDED), 0);
  int found = 0;
  for (const char *p = test_http_body(resp); regexec(&re, p, 1, &m, 0) == 0; p += m.rm_eo) {
    char seen[32];
    snprintf(seen, sizeof seen, "%.*s", (int)(m.rm_eo - m.rm_so), p + m.rm_so);
    if (expected == NULL)
      fail_msg("a bracketed number %s in %s", seen, test_http_body(resp));
    assert_string_equal(seen, expected);
    found++;
  }
  regfree(&re);
  assert_true(expected == NULL || found == 1);
}

static void refusals(void **state) {
  (void)state;
  const size_t before = produced_so_far();
  char a[2048], b[2048], body[8192], forged[1100];
  snprintf(body, sizeof body, "[%s]", doc("R1", a, sizeof a));

  /* 401: no token, a forged one, a wrong supplier key; then the token route. */
  assert_int_equal(post_docs_as(DATA_990, NULL, "supplier-la990", "application/json", body,
                                strlen(body)),
                   401);
  assert_non_null(strstr(resp, "Content-Type: application/json"));
  snprintf(forged, sizeof forged, "%s", W.token);
  forged[strlen(forged) - 3] ^= 1;
  assert_int_equal(post_docs_as(DATA_990, forged, "supplier-la990", "application/json", body,
                                strlen(body)),
                   401);
  char other[1024];
  assert_int_equal(feed_token_make("another-signing-key-of-forty-bytes-long!",
                                   &W.conf.fc.clients[0], clock_ms / 1000 + 600, other,
                                   sizeof other),
                   CSC_OK);
  assert_int_equal(post_docs_as(DATA_990, other, "supplier-la990", "application/json", body,
                                strlen(body)),
                   401);
  assert_int_equal(post_docs_as(DATA_990, W.token, "supplier-la991", "application/json", body,
                                strlen(body)),
                   401);
  assert_int_equal(post_token("/feeds/dfe/token", "la990", "wrong", "client_credentials"), 401);
  assert_non_null(strstr(test_http_body(resp), "invalid_client"));
  assert_int_equal(post_token("/feeds/dfe/token", "nobody", "secret-la990", "client_credentials"),
                   401);
  assert_int_equal(post_token("/feeds/dfe/token", "la990", "secret-la990", "password"), 400);

  /* Expired: 12 hours and a second later. */
  clock_ms += 43201000;
  assert_int_equal(post_docs(DATA_990, body), 401);
  clock_ms -= 43201000;

  /* 403: another LA's path, a path that names no LA. */
  assert_int_equal(post_docs("/feeds/dfe/children_social_care_data/991/children", body), 403);
  assert_int_equal(post_docs("/feeds/dfe/children_social_care_data/" LA2 "/children", body), 403);
  assert_int_equal(post_docs("/feeds/dfe/children_social_care_data/x..y/children", body), 403);
  /* ... while the LA's canonical code is its own. */

  /* 400: the second document has a bad date; [1] is the only bracketed number. */
  doc("R2", b, sizeof b);
  char *date = strstr(b, "2015-03-01");
  memcpy(date, "2015-13-01", 10);
  snprintf(body, sizeof body, "[%s,%s]", doc("R1", a, sizeof a), b);
  assert_int_equal(post_docs(DATA_990, body), 400);
  assert_non_null(strstr(resp, "Content-Type: application/json"));
  assert_non_null(strstr(test_http_body(resp), "child_details.date_of_birth"));
  expect_only_index("[1]");
  /* A date in an episode's list: the path has no brackets either. */
  doc("R3", b, sizeof b);
  date = strstr(b, "2025-05-02");
  memcpy(date, "02/05/2025", 10);
  snprintf(body, sizeof body, "[%s,%s,%s]", a, a, b);
  assert_int_equal(post_docs(DATA_990, body), 400);
  assert_non_null(
      strstr(test_http_body(resp), "social_care_episodes.0.child_and_family_assessments.0"));
  expect_only_index("[2]");
  /* No la_child_id. */
  assert_int_equal(post_docs(DATA_990, "[{\"child_details\":{\"sex\":\"M\"}}]"), 400);
  expect_only_index("[0]");
  /* The Python smoke test's {} and other bodies that are no array. */
  assert_int_equal(post_docs(DATA_990, "{}"), 400);
  expect_only_index(NULL);
  assert_int_equal(post_docs(DATA_990, "not json [7]"), 400);
  expect_only_index(NULL);

  /* 413: over cscflow.feed.max_body_bytes, by Content-Length or counted. */
  char headers[1400];
  snprintf(headers, sizeof headers,
           "Authorization: Bearer %s\r\nSupplierKey: supplier-la990\r\nContent-Type: "
           "application/json\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
           W.token);
  char raw[2048];
  snprintf(raw, sizeof raw, "POST " DATA_990 " HTTP/1.1\r\nHost: x\r\n%s[", headers);
  assert_int_equal(test_http_exchange(W.port, raw, resp, sizeof resp), 413);
  const size_t big = (1u << 20) + 10;
  char *huge = malloc(big + 1);
  assert_non_null(huge);
  memset(huge, ' ', big);
  huge[0] = '[';
  huge[big - 1] = ']';
  huge[big] = '\0';
  char *raw2 = malloc(big + 2048);
  assert_non_null(raw2);
  snprintf(raw2, big + 2048,
           "POST " DATA_990 " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nSupplierKey: "
           "supplier-la990\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
           W.token, big, huge);
  assert_int_equal(test_http_exchange(W.port, raw2, resp, sizeof resp), 413);
  free(raw2);
  free(huge);

  /* 415, 405. */
  snprintf(body, sizeof body, "[%s]", a);
  assert_int_equal(post_docs_as(DATA_990, W.token, "supplier-la990", "text/plain", body,
                                strlen(body)),
                   415);
  assert_int_equal(test_http_get(W.port, DATA_990, NULL, resp, sizeof resp), 405);

  assert_int_equal(produced_so_far(), before); /* nothing of a refused request */
}

static void test_traffic_is_not_produced(void **state) {
  (void)state;
  const size_t before = produced_so_far();
  char a[2048], b[2048], body[8192];
  /* The PowerShell sender's test child. */
  snprintf(body, sizeof body, "[%s]", doc(DFE_TEST_CHILD_PREFIX "990", a, sizeof a));
  assert_int_equal(post_docs(DATA_990, body), 200);
  expect_ids(1);
  /* A test client: validated and answered, nothing produced. */
  char token[1024];
  token_of("test990", token, sizeof token);
  snprintf(body, sizeof body, "[%s,%s]", doc("T1", a, sizeof a), doc("T2", b, sizeof b));
  assert_int_equal(post_docs_as(DATA_990, token, "supplier-test990", "application/json", body,
                                strlen(body)),
                   200);
  expect_ids(2);
  assert_int_equal(post_docs_as(DATA_990, token, "supplier-test990", "application/json", "{}", 2),
                   400);
  assert_int_equal(produced_so_far(), before);
}

static void kafka_down_is_429(void **state) {
  (void)state;
  char a[2048], body[4096];
  snprintf(body, sizeof body, "[%s]", doc("K1", a, sizeof a));
  assert_int_equal(rd_kafka_mock_broker_set_down(W.mock, 1), 0);
  const double t0 = test_now_s();
  assert_int_equal(post_docs(DATA_990, body), 429);
  assert_true(test_now_s() - t0 < 4.0); /* the deadline, 1.5 s, and no longer */
  assert_non_null(strstr(resp, "Retry-After: 10"));
  assert_non_null(strstr(resp, "Content-Type: application/json"));
  assert_int_equal(rd_kafka_mock_broker_set_up(W.mock, 1), 0);
  /* The sender retries: 200 once Kafka acknowledges. */
  int status = 0;
  for (int i = 0; i < 10 && status != 200; i++) {
    status = post_docs(DATA_990, body);
    if (status != 200)
      test_sleep_ms(300);
  }
  assert_int_equal(status, 200);
  /* Every copy of K1's event has the same bytes: a duplicate, applied once. */
  const size_t n = read_topic();
  size_t copies = 0;
  const struct test_msg *first = NULL;
  for (size_t i = 0; i < n; i++) {
    CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, got[i].len, got[i].value);
    assert_non_null(ev);
    if (strcmp(ev->child_id, "K1") == 0) {
      copies++;
      if (first == NULL)
        first = &got[i];
      assert_int_equal(got[i].len, first->len);
      assert_memory_equal(got[i].value, first->value, first->len);
    }
    cscflow__v1__case_event__free_unpacked(ev, NULL);
  }
  assert_true(copies >= 1);
}

static void metrics_count_the_feed(void **state) {
  (void)state;
  assert_int_equal(test_http_get(W.port, "/metrics", "Bearer " OP_TOKEN, resp, sizeof resp), 200);
  const char *m = test_http_body(resp);
  assert_non_null(strstr(m, "cscflow_feed_documents_total{la=\"" LA "\",outcome=\"accepted\"} "));
  assert_non_null(strstr(m, "cscflow_feed_documents_total{la=\"" LA "\",outcome=\"test\"} 3\n"));
  assert_non_null(strstr(m, "cscflow_feed_documents_total{la=\"" LA "\",outcome=\"refused\"} 3\n"));
  assert_non_null(strstr(m, "cscflow_feed_documents_total{la=\"" LA "\",outcome=\"deferred\"} 1\n"));
  assert_non_null(strstr(m, "cscflow_feed_documents_total{la=\"" LA2 "\",outcome=\"accepted\"} 1\n"));
  assert_non_null(strstr(m, "cscflow_feed_requests_total{route=\"data\",status=\"401\"} "));
  assert_non_null(strstr(m, "cscflow_feed_requests_total{route=\"data\",status=\"429\"} 1\n"));
  assert_non_null(strstr(m, "cscflow_feed_requests_total{route=\"token\",status=\"200\"} "));
}

/* ---- requests waiting at once ------------------------------------------------------------ */

#define CALLERS 12

/* A client of waiting_requests_at_once on a thread of its own. No cmocka
 * call there (a failed assertion jumps back on the test's thread): each
 * records what it got, and the test checks once they are joined. */
struct caller {
  pthread_t thread;
  int port;
  char raw[4096];
  atomic_int *stop; /* NULL: one request; else the request again until set */
  int status;       /* the last answer's; 0: closed without one; -1: no connection */
  int wrong;        /* answers other than 200 (repeated requests) */
  double took_s;    /* the last request's */
};

static void *call(void *arg) {
  struct caller *k = arg;
  char buf[4096];
  for (int i = 0; i < 1000; i++) {
    const double t0 = test_now_s();
    k->status = test_http_try_exchange(k->port, k->raw, buf, sizeof buf);
    k->took_s = test_now_s() - t0;
    k->wrong += k->status != 200;
    if (k->stop == NULL || atomic_load(k->stop))
      break;
    test_sleep_ms(5);
  }
  return NULL;
}

/* CALLERS data requests of one document each (child <tag><i>), at once. */
static void start_callers(struct caller *k, int port, const char *tag) {
  for (int i = 0; i < CALLERS; i++) {
    char child[32], a[2048], body[2100];
    snprintf(child, sizeof child, "%s%d", tag, i);
    snprintf(body, sizeof body, "[%s]", doc(child, a, sizeof a));
    memset(&k[i], 0, sizeof k[i]);
    k[i].port = port;
    snprintf(k[i].raw, sizeof k[i].raw,
             "POST " DATA_990 " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
             "SupplierKey: supplier-la990\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             W.token, strlen(body), body);
    assert_int_equal(pthread_create(&k[i].thread, NULL, call, &k[i]), 0);
  }
}

static void join_callers(struct caller *k, int n) {
  for (int i = 0; i < n; i++)
    assert_int_equal(pthread_join(k[i].thread, NULL), 0);
}

/*
 * Many requests suspended at once, resumed by the feed's thread (delivery
 * reports, then deadlines) while the server's threads take the feed's mutex
 * for other requests and for /metrics; then the server stopped with
 * requests still suspended (feed_internal.h says why none of it can
 * deadlock). A second feed and server on W's configuration, so that W's
 * counters stay as metrics_count_the_feed expects. alarm() bounds it all: a
 * deadlock ends the program (SIGALRM) within 60 s; it takes about 3.
 */
static void waiting_requests_at_once(void **state) {
  (void)state;
  alarm(60);
  struct feed *feed;
  struct server *srv;
  start_feed(&feed, &srv, 2 * CALLERS + 2);
  const int port = serve_port(srv);
  atomic_int stop = 0;
  struct caller scrapers[2], k[CALLERS];
  for (int i = 0; i < 2; i++) {
    memset(&scrapers[i], 0, sizeof scrapers[i]);
    scrapers[i].port = port;
    scrapers[i].stop = &stop;
    snprintf(scrapers[i].raw, sizeof scrapers[i].raw,
             "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " OP_TOKEN
             "\r\nConnection: close\r\n\r\n");
    assert_int_equal(pthread_create(&scrapers[i].thread, NULL, call, &scrapers[i]), 0);
  }

  /* Kafka up: every one acknowledged, 200 (the producer connected first, so
   * that no deadline runs out on its first connection). */
  topic_total(feed_producer(feed));
  start_callers(k, port, "U");
  join_callers(k, CALLERS);
  for (int i = 0; i < CALLERS; i++)
    assert_int_equal(k[i].status, 200);

  /* Kafka down: every one resumed at its deadline (1.5 s), 429. */
  assert_int_equal(rd_kafka_mock_broker_set_down(W.mock, 1), 0);
  start_callers(k, port, "D");
  join_callers(k, CALLERS);
  for (int i = 0; i < CALLERS; i++) {
    assert_int_equal(k[i].status, 429);
    assert_true(k[i].took_s < 4.0);
  }
  atomic_store(&stop, 1);
  join_callers(scrapers, 2);
  for (int i = 0; i < 2; i++)
    assert_int_equal(scrapers[i].wrong, 0);

  /* Stopped while the requests wait: each one's event is produced in the
   * hold of the feed's mutex that suspends it, so once all are produced,
   * feed_shutdown (under that mutex) finds each one suspended. */
  const int before = rd_kafka_outq_len(feed_producer(feed));
  start_callers(k, port, "S");
  for (int i = 0; i < 500 && rd_kafka_outq_len(feed_producer(feed)) < before + CALLERS; i++)
    test_sleep_ms(10);
  assert_true(rd_kafka_outq_len(feed_producer(feed)) >= before + CALLERS);
  const double t0 = test_now_s();
  serve_stop(srv);
  assert_true(test_now_s() - t0 < 5.0);
  join_callers(k, CALLERS);
  /* Answered 429, or closed by MHD_stop_daemon before its thread served the
   * resumed connection: never left waiting. */
  for (int i = 0; i < CALLERS; i++)
    assert_true(k[i].status == 429 || k[i].status == 0);

  assert_int_equal(rd_kafka_mock_broker_set_up(W.mock, 1), 0);
  feed_free(feed); /* the reports of the waiting batches, after their requests */
  alarm(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sender_sequence),
      cmocka_unit_test(doubled_slash_and_partial_client),
      cmocka_unit_test(windows_1252_body),
      cmocka_unit_test(refusals),
      cmocka_unit_test(test_traffic_is_not_produced),
      cmocka_unit_test(kafka_down_is_429),
      cmocka_unit_test(metrics_count_the_feed),
      cmocka_unit_test(waiting_requests_at_once),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
