/*
 * harness.h — hand-worked histories through the whole engine: build events,
 * apply them in batches to an engine with a file sink (replay clock), read
 * the LA's stored snapshot. One LA, LA, with a population of 10,000 children
 * in 2023 (so per_10k = count); the shipped bank holidays.
 */
#ifndef CSCFLOW_TESTS_HARNESS_H
#define CSCFLOW_TESTS_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/engine.h"

#define LA "E99000001"

/* Up to 511 packed events. */
struct evs {
  uint8_t data[1 << 16];
  size_t len, off[512], n;
};

/* An envelope for LA, recorded at test_ms(recorded). */
Cscflow__V1__CaseEvent envelope(const char *id, const char *child, csc_date occurred,
                                csc_date recorded);
/* Packs ev (with its payload set) and appends it to b. */
void add(struct evs *b, const Cscflow__V1__CaseEvent *ev);
/* Appends b's events to out in the reverse order (the same packed bytes). */
void add_reversed(struct evs *out, const struct evs *b);

struct fixture {
  char dir[256], out[300];
  struct sink *sink;
  struct engine *e;
  struct population pop;
  struct refdata ref; /* the shipped bank holidays, default visit intervals */
};

/* An engine on a new state directory test_tmpdir(name); close_fixture frees all. */
void open_fixture(struct fixture *f, const char *name);
void close_fixture(struct fixture *f);
/* Applies events [from, to) of b in one batch (asserts success). */
void apply(struct fixture *f, const struct evs *b, size_t from, size_t to);

/* One value of the LA's stored snapshot, and the snapshot's quality counts. */
struct value {
  const char *id, *window, *breakdown;
  int found, has_den, has_value, has_per_10k;
  double num, den, value, per_10k;
  uint32_t as_of;
  uint64_t quality[16];
  uint64_t events_applied;
};

/* The value (id, window, breakdown) of the LA's snapshot; asserts it exists. */
struct value get(struct fixture *f, const char *id, const char *window, const char *bd);
int capture(void *ctx, const IndicatorSnapshot *snap);
/* Asserts numerator, denominator and value = pct (null when den is 0). */
void expect_ratio(struct fixture *f, const char *id, const char *window, const char *bd, double num,
                  double den, double pct);
/* Asserts a count and its per_10k. */
void expect_count(struct fixture *f, const char *id, const char *window, const char *bd,
                  double count, double per_10k);

#endif
