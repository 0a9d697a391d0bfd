/*
 * test_feed_roundtrip.c — issue 19, item 5: a generated history sent as the
 * DfE CSC API sender would send it gives the values the same history gives
 * as events, for every indicator the feed supports.
 *
 * One generated LA (gen/, 2 years from 1 April 2021, with the cases open on
 * the first day and the care histories of care leavers before it) goes two
 * ways:
 *
 *   events   every event, straight into an engine (engine A);
 *   feed     into the sender's model (feed_writer.c, written from
 *            dfe-sender.md, not from the mapping code), which each night
 *            posts the changed children's documents, 100 a request, through
 *            the endpoint (serve/feed.c, on loopback, a token per night, the
 *            receipt clock at 02:00 London on the run date) to the input
 *            topic of librdkafka's mock cluster; the night's events are read
 *            back from the topic and applied to engine B as one batch.
 *
 * Then, for every value of the catalogue the feed supports (coverage_needs
 * within what dfe_csc_api carries), the daily series of the two engines
 * (series_build: every day, as the state now knows it) must be equal on
 * each of the last 365 days of the history: numerator, denominator, value.
 *
 * Full mode: every child is compared. Partial mode (the Python sender's
 * default, after the LA's first full run a year in): the sender never sends
 * a child that is new since then, nor a change only to what its hash
 * ignores; the writer reproduces both gaps, the test asserts that they
 * happen, and engine A is given only the children every change of which was
 * sent (writer_child_faithful), so that the comparison is of what arrived.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gen/gen.h"
#include "indicators/indicators.h"
#include "serve/feed.h"
#include "serve/serve.h"
#include "tests/feed_writer.h"
#include "tests/harness.h"
#include "tests/testutil_serve.h"

#include <librdkafka/rdkafka_mock.h>

#define DFE_NUMBER "990"
#define CLIENT "la990"
#define SIGNING_KEY "an-example-signing-key-of-40-bytes-long!"
#define BATCH_DOCS 100 /* the senders' default batch */
#define COMPARE_DAYS 365

/* ---- the history ---------------------------------------------------------------- */

struct event {
  uint8_t *bytes;
  size_t len;
  Cscflow__V1__CaseEvent *ev; /* decoded */
};

struct history {
  struct event *events;
  size_t n, cap;
};

static int keep(void *ctx, const Cscflow__V1__CaseEvent *ev) {
  struct history *h = ctx;
  if (h->n == h->cap) {
    h->cap = h->cap ? 2 * h->cap : 4096;
    h->events = realloc(h->events, h->cap * sizeof *h->events);
    assert_non_null(h->events);
  }
  struct event *e = &h->events[h->n++];
  e->len = cscflow__v1__case_event__get_packed_size(ev);
  e->bytes = malloc(e->len);
  assert_non_null(e->bytes);
  cscflow__v1__case_event__pack(ev, e->bytes);
  e->ev = cscflow__v1__case_event__unpack(NULL, e->len, e->bytes);
  assert_non_null(e->ev);
  return CSC_OK;
}

static void make_history(struct history *h) {
  struct gen_options o;
  gen_options_default(&o);
  o.seed = 19;
  o.n_las = 1;
  o.years = 2;
  o.scale = 0.1;
  memset(h, 0, sizeof *h);
  assert_int_equal(gen_run(&o, keep, h), CSC_OK);
  char code[16];
  gen_la(&o, 0, code, NULL);
  assert_string_equal(code, LA);
}

static void free_history(struct history *h) {
  for (size_t i = 0; i < h->n; i++) {
    cscflow__v1__case_event__free_unpacked(h->events[i].ev, NULL);
    free(h->events[i].bytes);
  }
  free(h->events);
}

/* The London date an event was recorded on. */
static csc_date recorded_day(const struct event *e) {
  return date_london_from_unix_ms(e->ev->recorded_at_ms);
}

/* ---- applying ---------------------------------------------------------------------- */

/* Applies msgs to f's engine in one batch. */
static void apply_all(struct fixture *f, const char *source, struct event *msgs, size_t n,
                      int keyed) {
  if (n == 0)
    return;
  struct engine_input *in = calloc(n, sizeof *in);
  assert_non_null(in);
  for (size_t i = 0; i < n; i++)
    in[i] = (struct engine_input){.source = source,
                                  .position = (int64_t)i,
                                  .next_position = (int64_t)i + 1,
                                  .key = keyed ? LA : NULL,
                                  .key_len = keyed ? strlen(LA) : 0,
                                  .value = msgs[i].bytes,
                                  .value_len = msgs[i].len,
                                  .keyed = keyed};
  assert_int_equal(engine_apply_batch(f->e, in, n), CSC_OK);
  free(in);
}

/* Engine A: the history's events (of faithful children only, in partial
 * mode), in batches of 1,000 in arrival order. */
static void apply_events(struct fixture *f, const struct history *h, const struct writer *w,
                         int only_faithful) {
  struct event *sel = calloc(h->n, sizeof *sel);
  assert_non_null(sel);
  size_t n = 0;
  for (size_t i = 0; i < h->n; i++) {
    const char *child = h->events[i].ev->child_id;
    if (!only_faithful || child[0] == '\0' || writer_child_faithful(w, child))
      sel[n++] = h->events[i];
  }
  for (size_t i = 0; i < n; i += 1000)
    apply_all(f, "events", sel + i, n - i < 1000 ? n - i : 1000, 0);
  free(sel);
}

/* ---- the endpoint ------------------------------------------------------------------ */

static int64_t clock_ms;
static int64_t receipt_clock(void *ctx) {
  (void)ctx;
  return clock_ms;
}

struct feed_side {
  rd_kafka_t *owner, *reader;
  rd_kafka_mock_cluster_t *mock;
  struct test_feed_conf conf;
  struct feed *feed;
  struct server *srv;
  int port;
  int64_t read_upto; /* the next offset to read on the topic's partition */
  char token[1024];
  size_t posts, documents;
};

static char resp[1 << 16];

static void set(struct feed_side *s, const char *key, const char *value) {
  assert_int_equal(config_set(&s->conf.cfg, key, value), CSC_OK);
}

static void feed_start(struct feed_side *s, struct fixture *f, const char *mode) {
  char err[512];
  memset(s, 0, sizeof *s);
  s->owner = test_mock_owner(NULL, &s->mock);
  assert_int_equal(rd_kafka_mock_topic_create(s->mock, TOPIC_EVENTS, 1, 1), 0);
  const char *bootstraps = rd_kafka_mock_cluster_bootstraps(s->mock);

  config_init(&s->conf.cfg);
  set(s, "cscflow.la.alias." DFE_NUMBER, LA);
  set(s, "cscflow.feed.signing_key", SIGNING_KEY);
  set(s, "cscflow.feed.client." CLIENT ".la", DFE_NUMBER);
  test_config_set_hash(&s->conf.cfg, "cscflow.feed.client." CLIENT ".secret",
                       "secret-" CLIENT);
  test_config_set_hash(&s->conf.cfg, "cscflow.feed.client." CLIENT ".supplier_key",
                       "supplier-" CLIENT);
  set(s, "cscflow.feed.client." CLIENT ".mode", mode);
  test_feed_conf_load(&s->conf);

  rd_kafka_conf_t *pc = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(pc, "bootstrap.servers", bootstraps, err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(pc, "linger.ms", "1", err, sizeof err), RD_KAFKA_CONF_OK);
  const struct feed_options fo = {&s->conf.fc, pc, receipt_clock, NULL};
  assert_int_equal(feed_new(&fo, &s->feed, err, sizeof err), CSC_OK);
  const struct serve_options so = {.store = engine_store(f->e),
                                   .tokens = &s->conf.tokens,
                                   .las = &s->conf.las,
                                   .feed = s->feed};
  assert_int_equal(serve_start(&so, &s->srv, err, sizeof err), CSC_OK);
  s->port = serve_port(s->srv);

  rd_kafka_conf_t *rc = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(rc, "bootstrap.servers", bootstraps, err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(rc, "group.id", "roundtrip", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(rc, "enable.auto.commit", "false", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  assert_int_equal(rd_kafka_conf_set(rc, "fetch.wait.max.ms", "10", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  s->reader = rd_kafka_new(RD_KAFKA_CONSUMER, rc, err, sizeof err);
  assert_non_null(s->reader);
  rd_kafka_poll_set_consumer(s->reader);
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, TOPIC_EVENTS, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  assert_int_equal(rd_kafka_assign(s->reader, l), 0);
  rd_kafka_topic_partition_list_destroy(l);
}

static void feed_stop(struct feed_side *s) {
  rd_kafka_consumer_close(s->reader);
  rd_kafka_destroy(s->reader);
  serve_stop(s->srv);
  feed_free(s->feed);
  test_feed_conf_free(&s->conf);
  rd_kafka_destroy(s->owner);
}

/* POSTs as the Python sender does; the status. */
static int post(struct feed_side *s, const char *path, const char *headers, const char *body,
                size_t len) {
  char *raw = malloc(len + 2048);
  assert_non_null(raw);
  const int n = snprintf(raw, 2048,
                         "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Microsoft PowerShell/6.0.0\r\n"
                         "Accept: */*\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         path, headers, len);
  assert_true(n > 0 && n < 2048);
  memcpy(raw + n, body, len);
  raw[n + len] = '\0';
  const int status = test_http_exchange(s->port, raw, resp, sizeof resp);
  free(raw);
  return status;
}

/* The run's token, as the sender takes it before its first batch. */
static void take_token(struct feed_side *s) {
  const char form[] = "client_id=" CLIENT "&client_secret=secret-" CLIENT
                      "&scope=api%3A%2F%2Fcsc%2F.default&grant_type=client_credentials";
  assert_int_equal(post(s, "/feeds/dfe/token", "Content-Type: application/x-www-form-urlencoded\r\n",
                        form, strlen(form)),
                   200);
  json_error_t jerr;
  json_t *j = json_loads(test_http_body(resp), 0, &jerr);
  assert_non_null(j);
  const char *t = json_string_value(json_object_get(j, "access_token"));
  assert_non_null(t);
  assert_true(strlen(t) < sizeof s->token);
  strcpy(s->token, t);
  json_decref(j);
}

/* One batch: the body is the JSON array of docs [from, to). */
static void post_batch(struct feed_side *s, const struct writer_doc *docs, size_t from, size_t to) {
  size_t len = 2;
  for (size_t i = from; i < to; i++)
    len += strlen(docs[i].json) + 1;
  char *body = malloc(len + 1), *p = body;
  assert_non_null(body);
  *p++ = '[';
  for (size_t i = from; i < to; i++) {
    if (i > from)
      *p++ = ',';
    const size_t n = strlen(docs[i].json);
    memcpy(p, docs[i].json, n);
    p += n;
  }
  *p++ = ']';
  *p = '\0';
  char headers[1400];
  snprintf(headers, sizeof headers,
           "Authorization: Bearer %s\r\nSupplierKey: supplier-" CLIENT
           "\r\nContent-Type: application/json\r\n",
           s->token);
  const int status = post(s, "/feeds/dfe/children_social_care_data/" DFE_NUMBER "/children",
                          headers, body, (size_t)(p - body));
  if (status != 200)
    fail_msg("batch of %zu documents: HTTP %d: %.300s", to - from, status, test_http_body(resp));
  json_error_t jerr;
  json_t *ids = json_loads(test_http_body(resp), 0, &jerr);
  assert_non_null(ids);
  assert_int_equal(json_array_size(ids), to - from); /* one id per document, or it is resent */
  json_decref(ids);
  free(body);
  s->posts++;
  s->documents += to - from;
}

/* The events on the topic since the last read, produced == read. */
static struct event *read_new(struct feed_side *s, size_t *n) {
  int64_t lo, hi;
  assert_int_equal(rd_kafka_query_watermark_offsets(s->owner, TOPIC_EVENTS, 0, &lo, &hi, 10000), 0);
  const size_t want = (size_t)(hi - s->read_upto);
  struct event *out = calloc(want + 1, sizeof *out);
  assert_non_null(out);
  *n = 0;
  const double deadline = test_now_s() + 20.0;
  while (*n < want && test_now_s() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(s->reader, 50);
    if (m == NULL)
      continue;
    assert_int_equal(m->err, RD_KAFKA_RESP_ERR_NO_ERROR); /* a gap would lose documents */
    assert_int_equal(m->offset, s->read_upto);
    assert_int_equal(m->key_len, strlen(LA));
    assert_memory_equal(m->key, LA, m->key_len);
    out[*n].len = m->len;
    out[*n].bytes = malloc(m->len);
    assert_non_null(out[*n].bytes);
    memcpy(out[*n].bytes, m->payload, m->len);
    (*n)++;
    s->read_upto = m->offset + 1;
    rd_kafka_message_destroy(m);
  }
  assert_int_equal(*n, want);
  return out;
}

/* One night: the writer's documents for run date day through the endpoint,
 * and the events they made into engine B. */
static void night(struct feed_side *s, struct writer *w, struct fixture *fb, csc_date day) {
  size_t n;
  struct writer_doc *docs = writer_run(w, day, &n);
  if (n > 0) {
    clock_ms = date_london_midnight_ms(day) + 2 * 3600 * 1000; /* the 02:00 job */
    take_token(s);
    for (size_t i = 0; i < n; i += BATCH_DOCS)
      post_batch(s, docs, i, i + BATCH_DOCS < n ? i + BATCH_DOCS : n);
    size_t got;
    struct event *evs = read_new(s, &got);
    assert_int_equal(got, n); /* one ChildRecord a document */
    apply_all(fb, TOPIC_EVENTS, evs, got, 1);
    for (size_t i = 0; i < got; i++)
      free(evs[i].bytes);
    free(evs);
  }
  writer_docs_free(docs, n);
}

/* Feeds the history to the writer in recorded order, running a night on
 * the morning after each day that recorded something. */
static void send_history(struct feed_side *s, struct writer *w, struct fixture *fb,
                         const struct history *h) {
  csc_date day = h->n ? recorded_day(&h->events[0]) : 0;
  for (size_t i = 0; i < h->n; i++) {
    const csc_date d = recorded_day(&h->events[i]);
    assert_true(d >= day); /* gen's events arrive in recorded order */
    if (d != day) {
      night(s, w, fb, day + 1);
      day = d;
    }
    writer_take(w, h->events[i].ev);
  }
  night(s, w, fb, day + 1);
}

/* ---- comparing ----------------------------------------------------------------------- */

struct compare {
  struct fixture *a, *b;
  uint32_t carries;
  csc_date to;
  size_t values, supported, nonzero, days, mismatched;
};

static int same(const struct series_point *x, const struct series_point *y) {
  return x->date == y->date && x->has_numerator == y->has_numerator &&
         x->has_denominator == y->has_denominator && x->has_value == y->has_value &&
         (!x->has_numerator || fabs(x->numerator - y->numerator) < 1e-9) &&
         (!x->has_denominator || fabs(x->denominator - y->denominator) < 1e-9) &&
         (!x->has_value || fabs(x->value - y->value) < 1e-9);
}

static void series_of(struct fixture *f, const Cscflow__V1__IndicatorValue *v, csc_date from,
                      csc_date to, struct series_point **pts, size_t *n) {
  struct store *st = engine_store(f->e);
  MDB_txn *txn;
  csc_date as_of;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(series_build(st, txn, LA, v->id, v->window, v->breakdown, from, to, &f->pop,
                                pts, n, &as_of),
                   CSC_OK);
  mdb_txn_abort(txn);
}

static int compare_value(void *ctx, const IndicatorSnapshot *snap) {
  struct compare *c = ctx;
  for (size_t i = 0; i < snap->n_values; i++) {
    const Cscflow__V1__IndicatorValue *v = snap->values[i];
    c->values++;
    if ((coverage_needs(v->id, v->breakdown) & ~c->carries) != 0)
      continue;
    c->supported++;
    struct series_point *pa, *pb;
    size_t na, nb;
    const csc_date from = c->to - (COMPARE_DAYS - 1);
    series_of(c->a, v, from, c->to, &pa, &na);
    series_of(c->b, v, from, c->to, &pb, &nb);
    assert_int_equal(na, COMPARE_DAYS);
    assert_int_equal(nb, COMPARE_DAYS);
    size_t differ = 0, first = 0, any = 0;
    for (size_t d = 0; d < na; d++) {
      if (!same(&pa[d], &pb[d]) && differ++ == 0)
        first = d;
      any |= pa[d].has_numerator && pa[d].numerator != 0;
    }
    c->nonzero += any;
    c->days += na;
    if (differ > 0) {
      char day[16];
      print_message("differs: %s %s %s on %zu of %zu days, first %s: events %g/%g=%g, feed "
                    "%g/%g=%g\n",
                    v->id, v->window, v->breakdown[0] ? v->breakdown : "-", differ, na,
                    date_format(pa[first].date, day), pa[first].numerator,
                    pa[first].denominator, pa[first].value, pb[first].numerator,
                    pb[first].denominator, pb[first].value);
      c->mismatched++;
    }
    free(pa);
    free(pb);
  }
  return CSC_OK;
}

/* Compares every supported value's last COMPARE_DAYS days. */
static void compare(struct fixture *a, struct fixture *b, const struct history *h) {
  struct compare c = {a, b, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(coverage_feed("dfe_csc_api", &c.carries), CSC_OK);
  csc_date last = 0;
  for (size_t i = 0; i < h->n; i++) {
    csc_date d;
    if (date_from_yyyymmdd(h->events[i].ev->occurred_on, &d) == CSC_OK && d > last)
      last = d;
  }
  c.to = last;
  struct store *st = engine_store(a->e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, LA, compare_value, &c), CSC_OK);
  mdb_txn_abort(txn);
  print_message("compared %zu supported values of %zu (%zu not 0 on some day) on %d days each: "
                "%zu differ\n",
                c.supported, c.values, c.nonzero, COMPARE_DAYS, c.mismatched);
  assert_true(c.supported >= 100); /* every value the feed supports, */
  assert_true(c.nonzero >= 60);    /* most of them not 0 */
  assert_int_equal(c.mismatched, 0);
}

/* ---- the tests ----------------------------------------------------------------------- */

static struct history H;

static int setup(void **state) {
  (void)state;
  make_history(&H);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free_history(&H);
  return 0;
}

/* The harness's population (10,000 children in 2023) for every year of
 * the history, so that rates per 10,000 are compared too. */
static void population_years(struct fixture *f) {
  for (int y = 2000; y <= 2024; y++)
    assert_int_equal(population_set(&f->pop, LA, y, 10000), CSC_OK);
}

static void roundtrip(const char *name, const char *mode, csc_date partial_from,
                      struct writer_stats *stats) {
  char dir[64];
  struct fixture a, b;
  struct feed_side s;
  struct writer *w = writer_new(partial_from);
  snprintf(dir, sizeof dir, "rt-%s-feed", name);
  open_fixture(&b, dir);
  population_years(&b);
  feed_start(&s, &b, mode);
  send_history(&s, w, &b, &H);
  feed_stop(&s);
  snprintf(dir, sizeof dir, "rt-%s-events", name);
  open_fixture(&a, dir);
  population_years(&a);
  apply_events(&a, &H, w, partial_from != 0);
  *stats = *writer_stats(w);
  print_message("%s: %zu events, %zu children, %zu nights, %zu documents (%zu partial) in %zu "
                "requests; new never sent %zu, changes never sent %zu, with no episode %zu\n",
                name, H.n, stats->children, stats->runs, s.documents, stats->partials, s.posts,
                stats->new_never_sent, stats->changes_never_sent, stats->items_without_episode);
  assert_true(s.documents > 1000);
  compare(&a, &b, &H);
  close_fixture(&a);
  close_fixture(&b);
  writer_free(w);
}

static void full_mode(void **state) {
  (void)state;
  struct writer_stats st;
  roundtrip("full", "full", 0, &st);
  assert_int_equal(st.new_never_sent, 0);
  assert_int_equal(st.partials, 0);
}

static void partial_mode(void **state) {
  (void)state;
  struct writer_stats st;
  roundtrip("partial", "partial", D(2022, 4, 1), &st);
  assert_true(st.partials > 300);     /* diffs, not whole documents */
  assert_true(st.new_never_sent > 0); /* the Python sender's gap, reproduced */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(full_mode),
      cmocka_unit_test(partial_mode),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
