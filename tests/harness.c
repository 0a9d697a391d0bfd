/*
 * harness.c — see harness.h.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/harness.h"
#include "tests/testutil.h"

/* ---- building events ------------------------------------------------------------ */



Cscflow__V1__CaseEvent envelope(const char *id, const char *child, csc_date occurred,
                                       csc_date recorded) {
  Cscflow__V1__CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  ev.event_id = (char *)id;
  ev.la_code = LA;
  ev.child_id = (char *)child;
  ev.occurred_on = date_to_yyyymmdd(occurred);
  ev.recorded_at_ms = test_ms(recorded);
  return ev;
}

void add(struct evs *b, const Cscflow__V1__CaseEvent *ev) {
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  assert_true(b->len + n <= sizeof b->data && b->n < 511);
  cscflow__v1__case_event__pack(ev, b->data + b->len);
  b->off[b->n++] = b->len;
  b->len += n;
  b->off[b->n] = b->len;
}

void add_reversed(struct evs *out, const struct evs *b) {
  for (size_t i = b->n; i-- > 0;) {
    const size_t n = b->off[i + 1] - b->off[i];
    assert_true(out->len + n <= sizeof out->data && out->n < 511);
    memcpy(out->data + out->len, b->data + b->off[i], n);
    out->off[out->n++] = out->len;
    out->len += n;
    out->off[out->n] = out->len;
  }
}

const struct code_lists *test_code_lists(void) {
  static struct code_lists codes; /* a test program's fixture, read-only once loaded */
  char err[512];
  if (codes.n == 0 && code_lists_load(&codes, CSCFLOW_SOURCE_DIR "/reference/" REFDATA_CODES_FILE,
                                      err, sizeof err) != CSC_OK)
    fail_msg("code lists: %s", err);
  return &codes;
}

/* ---- running the engine ------------------------------------------------------------ */



void open_fixture(struct fixture *f, const char *name) {
  char err[512];
  test_tmpdir(f->dir, sizeof f->dir, name);
  snprintf(f->out, sizeof f->out, "%s/out", f->dir);
  assert_int_equal(mkdir(f->out, 0750), 0);
  assert_int_equal(sink_file_open(f->out, &f->sink), CSC_OK);
  population_init(&f->pop);
  assert_int_equal(population_set(&f->pop, LA, 2023, 10000), CSC_OK);
  struct config cfg;
  config_init(&cfg);
  assert_int_equal(refdata_load(&f->ref, &cfg, CSCFLOW_SOURCE_DIR "/reference/bank-holidays-england-and-wales.txt",
                                err, sizeof err), CSC_OK);
  config_free(&cfg);
  struct engine_options eo = {f->dir, CLOCK_REPLAY, &f->pop, f->sink, 100, 0, &f->ref};
  assert_int_equal(engine_open(&eo, &f->e, err, sizeof err), CSC_OK);
}

void close_fixture(struct fixture *f) {
  engine_close(f->e);
  f->sink->destroy(f->sink);
  population_free(&f->pop);
  refdata_free(&f->ref);
}

/* Applies events [from, to) of b, one batch. */
void apply(struct fixture *f, const struct evs *b, size_t from, size_t to) {
  struct engine_input in[512];
  for (size_t i = from; i < to; i++)
    in[i - from] = (struct engine_input){"test", 0, (int64_t)i, (int64_t)i + 1, NULL, 0,
                                         b->data + b->off[i], b->off[i + 1] - b->off[i]};
  assert_int_equal(engine_apply_batch(f->e, in, to - from), CSC_OK);
}



int capture(void *ctx, const IndicatorSnapshot *snap) {
  struct value *v = ctx;
  v->as_of = snap->as_of;
  v->events_applied = snap->events_applied;
  for (size_t i = 0; i < snap->n_quality && i < 16; i++)
    v->quality[i] = snap->quality[i]->count;
  const Cscflow__V1__IndicatorValue *x = snapshot_find(snap, v->id, v->window, v->breakdown);
  if (x != NULL) {
    v->found = 1;
    v->num = x->numerator;
    v->has_den = x->has_denominator;
    v->den = x->denominator;
    v->has_value = x->has_value;
    v->value = x->value;
    v->has_per_10k = x->has_per_10k;
    v->per_10k = x->per_10k;
  }
  return CSC_OK;
}

struct value get(struct fixture *f, const char *id, const char *window, const char *bd) {
  struct value v = {id, window, bd, 0, 0, 0, 0, 0, 0, 0, 0, 0, {0}, 0};
  struct store *st = engine_store(f->e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, LA, capture, &v), CSC_OK);
  mdb_txn_abort(txn);
  assert_true(v.found);
  return v;
}

void expect_ratio(struct fixture *f, const char *id, const char *window, const char *bd,
                         double num, double den, double pct) {
  struct value v = get(f, id, window, bd);
  assert_float_equal(v.num, num, 1e-9);
  assert_true(v.has_den);
  assert_float_equal(v.den, den, 1e-9);
  if (den == 0) {
    assert_false(v.has_value); /* null, never 0 */
  } else {
    assert_true(v.has_value);
    assert_float_equal(v.value, pct, 1e-6);
  }
}

void expect_count(struct fixture *f, const char *id, const char *window, const char *bd,
                         double count, double per_10k) {
  struct value v = get(f, id, window, bd);
  assert_float_equal(v.num, count, 1e-9);
  assert_true(v.has_value);
  assert_float_equal(v.value, count, 1e-9);
  assert_true(v.has_per_10k);
  assert_float_equal(v.per_10k, per_10k, 1e-9);
}

