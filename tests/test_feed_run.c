/*
 * test_feed_run.c — `cscflow run --config FILE` serving the DfE CSC API feed
 * as an operator configures it (README's cscflow.feed.* keys,
 * docs/feeds.md), through the cscflow binary itself (its path is argv[1]),
 * against librdkafka's mock cluster hosted in this process. test_feed and
 * the demo cover the library; this is the daemon's own path:
 *
 *   1. a config with the mock's bootstrap.servers, a state directory, a free
 *      API port, an operator token and an LA token (SHA-256 hex), the alias
 *      990 -> E99000001, a signing key, one full-mode client for 990, and
 *      cscflow.feeds.E99000001=dfe_csc_api;
 *   2. the sender's requests: a form-encoded token request (200
 *      application/json with an access_token), then a batch of 2 child
 *      documents with Bearer, SupplierKey and Content-Type: application/json
 *      (200 with 2 ids of the form the senders parse);
 *   3. the daemon consumes what its own feed produced and folds it: the LA's
 *      snapshot (its LA token) lists dfe_csc_api among its sources with 2
 *      events, counts the referral and the completed assessment, and flags
 *      a value the feed cannot support (seen_per_plan) unavailable; /metrics
 *      (operator token) counts 2 accepted documents;
 *   4. a 403 for another LA's path (991, aliased to another LA, no client)
 *      and a 401 for a wrong SupplierKey, neither producing anything;
 *   5. SIGTERM: exit 0 within 15 s, everything consumed and nothing
 *      dead-lettered; no child id, name or postcode in its log;
 *   6. configurations `run` refuses, each a short run of its own: exit 78
 *      (README, "Exit statuses") naming the key, before the state directory
 *      is created: feed clients without cscflow.api.port, a signing key
 *      shorter than 32 bytes or absent, a client whose la is not an LA
 *      code, and a client whose la is not an LA this deployment serves
 *      (with cscflow.las; without it, an un-aliased DfE number is an LA of
 *      its own, as for events, and is accepted), and cscflow.feeds set for
 *      one LA twice, by its alias and by its code.
 *
 * Every wait is bounded in count and time; a daemon still running at its
 * bound is killed and the test fails. About 10 s (the mock holds a group's
 * first join 3 s).
 */
#include "tests/testutil.h"

#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "indicators/indicators.h"
#include "serve/serve.h"

#define LA "E99000001"
#define LA2 "E99000002"
#define PARTITIONS 3
#define OP_TOKEN "feedrun-operator"
#define LA_TOKEN "feedrun-la-token"
#define SIGNING_KEY "a-signing-key-of-39-bytes-for-this-test" /* at least 32 */
#define CLIENT "c990"
#define SECRET "secret-of-c990"
#define SUPPLIER "supplier-of-c990"
#define EXIT_CONFIG 78
#define WAIT_BOUND_S 30
#define DATA_990 "/feeds/dfe/children_social_care_data/990/children"
#define DATA_991 "/feeds/dfe/children_social_care_data/991/children"
/* The reply id the senders parse (../shared/research/dfe-sender.md). */
#define ID_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{2}_.+\\.json$"

struct world {
  const char *cscflow; /* the binary under test */
  char dir[256];
  rd_kafka_t *owner; /* a producer that owns the mock cluster */
  char bootstraps[256];
};

static struct world W;
static char resp[1 << 18];

/* ---- the daemon ----------------------------------------------------------------------- */

struct daemon {
  pid_t pid;
  char state[400], conf[400], errf[400];
  int port;
};

/* `cscflow run --config d->conf`, stderr to d->errf. */
static void spawn(struct daemon *d) {
  char *args[] = {"cscflow", "run", "--config", d->conf, NULL};
  d->pid = test_spawn(W.cscflow, args, NULL, d->errf);
}

/* ---- the sender's requests --------------------------------------------------------------- */

static int post(const struct daemon *d, const char *path, const char *headers, const char *body) {
  static char raw[1 << 16];
  const size_t len = strlen(body);
  const int n = snprintf(raw, sizeof raw,
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: python-requests/2.32\r\n"
                         "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         path, headers, len, body);
  assert_true(n > 0 && (size_t)n < sizeof raw);
  return test_http_exchange(d->port, raw, resp, sizeof resp);
}

/* The token route, as the sender's requests.post(data=...) sends it. */
static int post_token(const struct daemon *d, const char *id, const char *secret) {
  char form[512];
  snprintf(form, sizeof form,
           "client_id=%s&client_secret=%s&scope=api%%3A%%2F%%2Fcsc%%2F.default"
           "&grant_type=client_credentials",
           id, secret);
  return post(d, "/feeds/dfe/token", "Content-Type: application/x-www-form-urlencoded\r\n", form);
}

static int post_docs(const struct daemon *d, const char *path, const char *token,
                     const char *supplier, const char *body) {
  char headers[1400];
  snprintf(headers, sizeof headers,
           "Authorization: Bearer %s\r\nSupplierKey: %s\r\nContent-Type: application/json\r\n",
           token, supplier);
  return post(d, path, headers, body);
}

static int get(const struct daemon *d, const char *path, const char *token) {
  char auth[128];
  snprintf(auth, sizeof auth, "Bearer %s", token);
  return test_http_get(d->port, path, auth, resp, sizeof resp);
}

static void expect_json_reply(void) {
  if (strstr(resp, "Content-Type: application/json") == NULL)
    fail_msg("not application/json: %s", resp);
}

/* A date `back` days before today (London) as YYYY-MM-DD. */
static const char *days_ago(int back, char buf[11]) {
  const csc_date today = date_london_from_unix_ms((int64_t)time(NULL) * 1000);
  return date_format(today - back, buf);
}

/* Child FR-1: a referral 40 days ago, its assessment started 38 days ago
 * and authorised 20 days ago (sender's document shape, full mode, with the
 * personal fields the endpoint must read past). Child FR-2: details only. */
static void two_documents(char *out, size_t len) {
  char referral[11], started[11], authorised[11];
  days_ago(40, referral);
  days_ago(38, started);
  days_ago(20, authorised);
  snprintf(out, len,
           "[{\"la_child_id\":\"FR-1\",\"mis_child_id\":\"MIS-FR-1\",\"purge\":false,"
           "\"child_details\":{\"unique_pupil_number\":\"A123456789012\",\"first_name\":\"Annabel\","
           "\"surname\":\"Quill\",\"date_of_birth\":\"2015-03-01\",\"sex\":\"F\","
           "\"ethnicity\":\"WBRI\",\"disabilities\":[\"NONE\"],\"postcode\":\"LS6 2AB\","
           "\"uasc_flag\":false,\"purge\":false},"
           "\"social_care_episodes\":[{\"social_care_episode_id\":\"EP-1\","
           "\"referral_date\":\"%s\",\"referral_source\":\"1A\","
           "\"referral_no_further_action_flag\":false,"
           "\"child_and_family_assessments\":[{\"child_and_family_assessment_id\":\"AS-1\","
           "\"start_date\":\"%s\",\"authorisation_date\":\"%s\",\"factors\":[\"2A\"],"
           "\"purge\":false}],\"purge\":false}]},"
           "{\"la_child_id\":\"FR-2\",\"purge\":false,"
           "\"child_details\":{\"first_name\":\"Bartholomew\",\"surname\":\"Vane\","
           "\"date_of_birth\":\"2012-09-14\",\"sex\":\"M\",\"ethnicity\":\"WBRI\","
           "\"disabilities\":[\"NONE\"],\"postcode\":\"LS7 3CD\",\"uasc_flag\":false,"
           "\"purge\":false}}]",
           referral, started, authorised);
}

/* Asserts the last reply is a JSON array of n distinct ids the senders parse. */
static void expect_ids(size_t n) {
  expect_json_reply();
  json_error_t jerr;
  json_t *arr = json_loads(test_http_body(resp), 0, &jerr);
  if (arr == NULL || !json_is_array(arr) || json_array_size(arr) != n)
    fail_msg("expected an array of %zu ids: %s", n, test_http_body(resp));
  regex_t re;
  assert_int_equal(regcomp(&re, ID_RE, REG_EXTENDED | REG_NOSUB), 0);
  for (size_t i = 0; i < n; i++) {
    const char *id = json_string_value(json_array_get(arr, i));
    if (id == NULL || regexec(&re, id, 0, NULL, 0) != 0)
      fail_msg("id %zu is not of the sender's form: %s", i, test_http_body(resp));
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(id, json_string_value(json_array_get(arr, j)));
  }
  regfree(&re);
  json_decref(arr);
}

/* ---- the snapshot -------------------------------------------------------------------------- */

/* The value (id, window, breakdown) of snap's indicators; NULL when absent. */
static json_t *indicator(json_t *snap, const char *id, const char *window, const char *bd) {
  json_t *all = json_object_get(snap, "indicators"), *v;
  size_t i;
  json_array_foreach(all, i, v) {
    if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0 &&
        strcmp(json_string_value(json_object_get(v, "window")), window) == 0 &&
        (bd == NULL || strcmp(json_string_value(json_object_get(v, "breakdown")), bd) == 0))
      return v;
  }
  return NULL;
}

/* The dfe_csc_api source's events in snap; -1 when it is not listed. */
static long feed_events(json_t *snap) {
  json_t *v;
  size_t i;
  json_array_foreach(json_object_get(snap, "sources"), i, v) {
    if (strcmp(json_string_value(json_object_get(v, "source")), "dfe_csc_api") == 0)
      return (long)json_integer_value(json_object_get(v, "events"));
  }
  return -1;
}

/* Polls the LA's snapshot (bounded) until the feed's source shows events
 * events; the snapshot. */
static json_t *wait_snapshot(struct daemon *d, long events) {
  const double t0 = test_now_s();
  int status = 0;
  for (int i = 0; i < 1000 && test_now_s() - t0 < WAIT_BOUND_S; i++) {
    status = get(d, "/v1/las/" LA "/snapshot", LA_TOKEN);
    if (status == 200) {
      json_error_t jerr;
      json_t *snap = json_loads(test_http_body(resp), 0, &jerr);
      if (snap != NULL && feed_events(snap) == events)
        return snap;
      json_decref(snap);
    }
    int ws;
    if (waitpid(d->pid, &ws, WNOHANG) == d->pid) {
      char *log = test_slurp_text(d->errf);
      fail_msg("cscflow run exited early (status %d): %s", ws, log);
    }
    test_sleep_ms(100);
  }
  kill(d->pid, SIGKILL);
  waitpid(d->pid, NULL, 0);
  char *log = test_slurp_text(d->errf);
  fail_msg("within %d s the snapshot did not list dfe_csc_api with %ld events (last: %d %.2000s);"
           " log:\n%s",
           WAIT_BOUND_S, events, status, test_http_body(resp), log);
  return NULL;
}

static void expect_count(json_t *snap, const char *id, const char *window, double want) {
  json_t *v = indicator(snap, id, window, "");
  if (v == NULL)
    fail_msg("no %s %s in the snapshot", id, window);
  const double got = json_number_value(json_object_get(v, "numerator"));
  if (got != want || json_is_true(json_object_get(v, "unavailable")))
    fail_msg("%s %s: numerator %g (want %g), unavailable %s", id, window, got, want,
             json_is_true(json_object_get(v, "unavailable")) ? "true" : "false");
}

/* The line of the /metrics body in resp that starts with sample, or fails. */
static void expect_sample(const char *sample) {
  const char *body = test_http_body(resp);
  const size_t n = strlen(sample);
  for (const char *p = body; (p = strstr(p, sample)) != NULL; p += n)
    if ((p == body || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
      return;
  fail_msg("no line \"%s\" in /metrics:\n%s", sample, body);
}

/* ---- 1 to 5: the feed through `cscflow run` ---------------------------------------------- */

static void feed_through_run(void **state) {
  (void)state;
  struct daemon d;
  char op[65], la[65], secret[65], supplier[65], text[4096];
  api_token_hash_hex(OP_TOKEN, op);
  api_token_hash_hex(LA_TOKEN, la);
  api_token_hash_hex(SECRET, secret);
  api_token_hash_hex(SUPPLIER, supplier);
  snprintf(d.state, sizeof d.state, "%s/state", W.dir);
  snprintf(d.conf, sizeof d.conf, "%s/run.conf", W.dir);
  snprintf(d.errf, sizeof d.errf, "%s/run.err", W.dir);
  snprintf(text, sizeof text,
           "# an early-adopter LA's sender, pointed at cscflow (docs/feeds.md)\n"
           "bootstrap.servers=%s\n"
           "cscflow.state.dir=%s\n"
           "cscflow.api.port=0\n"
           "cscflow.api.operator_token=%s\n"
           "cscflow.api.token." LA "=%s\n"
           "cscflow.la.alias.990=" LA "\n"
           "cscflow.la.alias.991=" LA2 "\n"
           "cscflow.feeds." LA "=dfe_csc_api\n"
           "cscflow.feed.signing_key=" SIGNING_KEY "\n"
           "cscflow.feed.client." CLIENT ".la=990\n"
           "cscflow.feed.client." CLIENT ".secret=%s\n"
           "cscflow.feed.client." CLIENT ".supplier_key=%s\n"
           "cscflow.feed.client." CLIENT ".mode=full\n"
           "consumer.group.id=feedrun-%d\n"
           "consumer.fetch.wait.max.ms=10\n"
           "producer.linger.ms=5\n",
           W.bootstraps, d.state, op, la, secret, supplier, (int)getpid());
  test_write_text(d.conf, text);
  const double t0 = test_now_s();
  spawn(&d);
  d.port = test_wait_serving(d.pid, d.errf, 10);
  char *log = test_slurp_text(d.errf);
  assert_non_null(strstr(log, "\"feed_clients\":1"));
  free(log);

  /* 2. The token, then a batch of two documents. */
  assert_int_equal(post_token(&d, CLIENT, SECRET), 200);
  expect_json_reply();
  json_error_t jerr;
  json_t *tok = json_loads(test_http_body(resp), 0, &jerr);
  assert_non_null(tok);
  const char *access = json_string_value(json_object_get(tok, "access_token"));
  assert_non_null(access);
  assert_string_equal(json_string_value(json_object_get(tok, "token_type")), "Bearer");
  char token[1024];
  assert_true(strlen(access) < sizeof token);
  snprintf(token, sizeof token, "%s", access);
  json_decref(tok);

  char docs[8192];
  two_documents(docs, sizeof docs);
  assert_int_equal(post_docs(&d, DATA_990, token, SUPPLIER, docs), 200);
  expect_ids(2);

  /* 4. Another LA's path (aliased, no client of its own), a wrong SupplierKey. */
  assert_int_equal(post_docs(&d, DATA_991, token, SUPPLIER, docs), 403);
  assert_int_equal(post_docs(&d, DATA_990, token, "supplier-of-someone-else", docs), 401);
  assert_int_equal(post_token(&d, CLIENT, "not-the-secret"), 401);

  /* 3. The daemon consumed what its feed produced, and folded it. */
  json_t *snap = wait_snapshot(&d, 2);
  expect_count(snap, "referrals", "12m", 1);
  expect_count(snap, "assessments", "12m", 1);
  json_t *seen = indicator(snap, "seen_per_plan", "T", NULL);
  assert_non_null(seen);
  if (!json_is_true(json_object_get(seen, "unavailable")))
    fail_msg("seen_per_plan is not flagged unavailable for a dfe_csc_api LA: %s",
             json_dumps(seen, JSON_COMPACT));
  json_decref(snap);

  assert_int_equal(get(&d, "/metrics", OP_TOKEN), 200);
  expect_sample("cscflow_feed_documents_total{la=\"" LA "\",outcome=\"accepted\"} 2");
  expect_sample("cscflow_feed_requests_total{route=\"token\",status=\"200\"} 1");
  expect_sample("cscflow_feed_requests_total{route=\"token\",status=\"401\"} 1");
  expect_sample("cscflow_feed_requests_total{route=\"data\",status=\"200\"} 1");
  expect_sample("cscflow_feed_requests_total{route=\"data\",status=\"401\"} 1");
  expect_sample("cscflow_feed_requests_total{route=\"data\",status=\"403\"} 1");
  /* Nothing of the refused requests reached the topic. */
  assert_int_equal(test_topic_total(W.bootstraps, TOPIC_EVENTS, PARTITIONS), 2);
  const double served = test_now_s() - t0;

  /* 5. SIGTERM: exit 0 within 15 s, everything consumed, nothing dead-lettered. */
  assert_int_equal(kill(d.pid, SIGTERM), 0);
  const int status = test_wait_pid(d.pid, 15, NULL);
  log = test_slurp_text(d.errf);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("after SIGTERM: status %d (-1: still running after 15 s): %s", status, log);
  const char *stopping = strstr(log, "\"event\":\"run_stopping\"");
  if (stopping == NULL || strstr(stopping, "\"consumed\":2,") == NULL ||
      strstr(stopping, "\"dead_lettered\":0") == NULL)
    fail_msg("run_stopping without consumed 2 and dead_lettered 0: %s", log);
  assert_non_null(strstr(log, "\"event\":\"feed_request\""));
  /* Nothing of a document in the log (docs/feeds.md, "Metrics and logs"). */
  static const char *const personal[] = {"FR-1",  "FR-2",    "Annabel", "Quill",
                                         "LS6 2AB", "LS7 3CD", "A123456789012", "EP-1"};
  for (size_t i = 0; i < sizeof personal / sizeof personal[0]; i++)
    if (strstr(log, personal[i]) != NULL)
      fail_msg("the log holds %s:\n%s", personal[i], log);
  free(log);
  printf("feed through cscflow run: served and folded in %.1f s, stopped 0\n", served);
}

/* ---- 6. configurations refused ----------------------------------------------------------- */

static void config_refusals(void **state) {
  (void)state;
  char secret[65], supplier[65], client[512];
  api_token_hash_hex(SECRET, secret);
  api_token_hash_hex(SUPPLIER, supplier);
  snprintf(client, sizeof client,
           "cscflow.feed.client." CLIENT ".secret=%s\n"
           "cscflow.feed.client." CLIENT ".supplier_key=%s\n"
           "cscflow.feed.client." CLIENT ".mode=full\n",
           secret, supplier);
  static const struct {
    const char *what, *lines, *key, *reason;
  } cases[] = {
      {"feed clients without cscflow.api.port",
       "cscflow.feed.signing_key=" SIGNING_KEY "\ncscflow.feed.client." CLIENT ".la=990\n",
       "cscflow.feed.client.*", "set cscflow.api.port"},
      {"a signing key of 31 bytes",
       "cscflow.api.port=0\ncscflow.feed.signing_key=0123456789012345678901234567890\n"
       "cscflow.feed.client." CLIENT ".la=990\n",
       "cscflow.feed.signing_key", "at least 32 bytes"},
      {"no signing key", "cscflow.api.port=0\ncscflow.feed.client." CLIENT ".la=990\n",
       "cscflow.feed.signing_key", "required with feed clients"},
      {"a client whose la is not an LA code",
       "cscflow.api.port=0\ncscflow.feed.signing_key=" SIGNING_KEY "\n"
       "cscflow.feed.client." CLIENT ".la=99\n",
       "cscflow.feed.client." CLIENT ".la", "expected an LA code"},
      {"a client whose la is no LA this deployment serves",
       "cscflow.api.port=0\ncscflow.las=" LA "\ncscflow.feed.signing_key=" SIGNING_KEY "\n"
       "cscflow.feed.client." CLIENT ".la=992\n",
       "cscflow.feed.client." CLIENT ".la: 992", "not in cscflow.las"},
      {"the feeds of one LA set by its alias and by its code",
       "cscflow.api.port=0\ncscflow.feed.signing_key=" SIGNING_KEY "\n"
       "cscflow.feed.client." CLIENT ".la=990\ncscflow.feeds.990=dfe_csc_api\n"
       "cscflow.feeds." LA "=events\n",
       "cscflow.feeds.", "the feeds of " LA " are set twice"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct daemon d;
    char text[2048];
    snprintf(d.state, sizeof d.state, "%s/refused-state-%zu", W.dir, i);
    snprintf(d.conf, sizeof d.conf, "%s/refused-%zu.conf", W.dir, i);
    snprintf(d.errf, sizeof d.errf, "%s/refused-%zu.err", W.dir, i);
    snprintf(text, sizeof text,
             "bootstrap.servers=127.0.0.1:9\ncscflow.state.dir=%s\n"
             "cscflow.la.alias.990=" LA "\n%s%s",
             d.state, client, cases[i].lines);
    test_write_text(d.conf, text);
    spawn(&d);
    const int status = test_wait_pid(d.pid, 10, NULL);
    char *e = test_slurp_text(d.errf);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != EXIT_CONFIG ||
        strstr(e, cases[i].key) == NULL || strstr(e, cases[i].reason) == NULL)
      fail_msg("%s: status %d (-1: still running after 10 s), stderr \"%s\" (expected exit %d "
               "naming %s: %s)",
               cases[i].what, status, e, EXIT_CONFIG, cases[i].key, cases[i].reason);
    free(e);
    /* Refused before anything was created. */
    struct stat sb;
    assert_int_not_equal(stat(d.state, &sb), 0);
  }
  printf("configuration refusals: %zu, each exit %d naming the key\n",
         sizeof cases / sizeof cases[0], EXIT_CONFIG);
}

static int setup(void **state) {
  (void)state;
  test_tmpdir(W.dir, sizeof W.dir, "feed_run");
  rd_kafka_mock_cluster_t *mock;
  W.owner = test_mock_owner(NULL, &mock);
  snprintf(W.bootstraps, sizeof W.bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(mock));
  test_mock_topics(mock, PARTITIONS);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  rd_kafka_destroy(W.owner);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PATH_TO_CSCFLOW\n", argv[0]);
    return 2;
  }
  W.cscflow = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(config_refusals),
      cmocka_unit_test(feed_through_run),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
