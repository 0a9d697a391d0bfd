/*
 * test_fold_oom: a resumable fold (child_fold_from, state/fold_resume.h)
 * that runs out of memory at any of its allocations returns CSC_ENOMEM or
 * succeeds, never frees a checkpoint twice or leaves one half made, and the
 * next fold, with memory, is the whole fold's, byte for byte (the ASan build
 * catches a double free or a leak). Allocations are failed through the
 * linker's --wrap of malloc and calloc (tests/CMakeLists.txt), the k-th
 * after the fold starts, for every k until a fold makes no more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/ingest.h"
#include "state/fold_resume.h"
#include "state/state.h"
#include "tests/harness.h"
#include "tests/testutil.h"

/* The test's allocator: fails the fail_at-th call from now (0: the next).
 * A test program's own state, one thread. */
static long fail_at = -1;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);

static int failing(void) { return fail_at >= 0 && fail_at-- == 0; }
void *__wrap_malloc(size_t n) { return failing() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return failing() ? NULL : __real_calloc(n, size); }

#define EVENTS 130

/* Visits to a CP plan, three a day from day 19000, with an assessment
 * begun and completed, then (at 60) an event dated 30 days back, so that
 * the history is out of stored order and a checkpoint keeps the folding
 * order. Events 100.. are what the failing folds append: 100 on the last
 * day (the checkpoint adopted), 101 the next day (a new one, in the old
 * one's memory), 102 dated back with 17 more after it (the whole history
 * folded, the old one's memory reused and outgrown). */
static void history(struct evs *b) {
  static char ids[EVENTS][16];
  for (size_t i = 0; i < EVENTS; i++) {
    snprintf(ids[i], sizeof ids[i], "E%04zu", i);
    /* 0..99 three a day (99 on day 33), 100 on day 33 too, 101 on day 34,
     * 102 dated back to day 4, then a day each from day 35. */
    csc_date day = i < 100 ? (csc_date)(i / 3) : i == 100 ? 33 : i == 101 ? 34 : (csc_date)(i - 68);
    const csc_date recorded = day;
    if (i == 60 || i == 102)
      day -= 30;
    Cscflow__V1__CaseEvent ev = envelope(ids[i], "C", 19000 + day, 19000 + recorded);
    Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
    Cscflow__V1__CpPlanStarted p = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
    Cscflow__V1__ChildSeen v = CSCFLOW__V1__CHILD_SEEN__INIT;
    Cscflow__V1__AssessmentStarted as = CSCFLOW__V1__ASSESSMENT_STARTED__INIT;
    Cscflow__V1__AssessmentCompleted ac = CSCFLOW__V1__ASSESSMENT_COMPLETED__INIT;
    as.assessment_id = ac.assessment_id = "A1";
    as.referral_id = ac.referral_id = r.referral_id = p.referral_id = "REF1";
    p.plan_id = v.plan_id = "CP1";
    p.initial_category = "NEG";
    if (i == 0) {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
      ev.referral_opened = &r;
    } else if (i == 1) {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
      ev.cp_plan_started = &p;
    } else if (i == 10) {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED;
      ev.assessment_started = &as;
    } else if (i == 20) {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED;
      ev.assessment_completed = &ac;
    } else {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN;
      ev.child_seen = &v;
    }
    add(b, &ev);
  }
}

/* The derived record of st, into out (malloc'd, *len bytes). */
static uint8_t *derived_of(const struct child_state *st, struct arena *a, size_t *len) {
  struct derived d;
  assert_int_equal(child_derive(st, NULL, a, &d), CSC_OK);
  *len = derived_size(&d);
  uint8_t *out = malloc(*len + 1);
  assert_non_null(out);
  derived_write(&d, out);
  return out;
}

/* events[0..n) folded from *resume (a copy of the array: folds may sort
 * it); the result's derived record compared with a whole fold's. */
static void fold_and_compare(CaseEvent **events, size_t n, struct fold_resume **resume) {
  CaseEvent *copy[EVENTS], *whole[EVENTS];
  memcpy(copy, events, n * sizeof *copy);
  memcpy(whole, events, n * sizeof *whole);
  struct arena a;
  arena_init(&a, 1 << 16);
  struct child_state st, ref;
  assert_int_equal(child_fold_from(copy, n, NULL, &a, &st, resume), CSC_OK);
  assert_int_equal(child_fold(whole, n, NULL, &a, &ref), CSC_OK);
  size_t l1, l2;
  uint8_t *d1 = derived_of(&st, &a, &l1), *d2 = derived_of(&ref, &a, &l2);
  assert_int_equal(l1, l2);
  assert_memory_equal(d1, d2, l1);
  free(d1);
  free(d2);
  arena_free(&a);
}

static void every_allocation_fails_once(void **state) {
  (void)state;
  struct evs *b = calloc(1, sizeof *b);
  assert_non_null(b);
  history(b);
  struct arena events_arena; /* the decoded events outlive every checkpoint */
  arena_init(&events_arena, 1 << 16);
  CaseEvent *events[EVENTS];
  for (size_t i = 0; i < EVENTS; i++) {
    const uint8_t *pb;
    size_t len;
    const char *reason;
    assert_int_equal(ingest_decode(b->data + b->off[i], b->off[i + 1] - b->off[i],
                                   &events_arena, &events[i], &pb, &len, &reason),
                     CSC_OK);
  }
  static const size_t folds[][2] = {{100, 101}, {101, 102}, {102, 120}}; /* from, to */
  long failed = 0, folded = 0;
  for (size_t f = 0; f < 3; f++) {
    const size_t from = folds[f][0], to = folds[f][1];
    for (long k = 0;; k++) {
      struct fold_resume *r = NULL;
      fold_and_compare(events, from, &r); /* the checkpoint to start from */
      CaseEvent *copy[EVENTS];
      memcpy(copy, events, to * sizeof *copy);
      struct arena a;
      arena_init(&a, 1 << 16);
      struct child_state st;
      fail_at = k;
      const int rc = child_fold_from(copy, to, NULL, &a, &st, &r);
      const int exhausted = fail_at >= 0; /* the fold made fewer than k + 1 calls */
      fail_at = -1;
      arena_free(&a);
      assert_true(rc == CSC_OK || rc == CSC_ENOMEM);
      failed += rc == CSC_ENOMEM;
      folded++;
      /* With memory again: the next fold (from what is left, if anything)
       * is the whole fold's. */
      fold_and_compare(events, to + 1, &r);
      fold_resume_free(r);
      if (exhausted)
        break;
      assert_true(k < 10000);
    }
  }
  assert_true(failed > 0); /* some allocation failures did fail the fold */
  assert_true(folded >= 3 * 3); /* each of the three folds allocates */
  arena_free(&events_arena);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_allocation_fails_once),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
