/*
 * fold_internal.h — what the two halves of the fold share (private to
 * state/): fold.c, the state machine (what one event does to the state, and
 * the checks on the final state), and fold_history.c, how a whole history
 * is folded (corrections, restatements, the days and their passes, resuming
 * from the last fold's last day).
 */
#ifndef CSCFLOW_STATE_FOLD_INTERNAL_H
#define CSCFLOW_STATE_FOLD_INTERNAL_H

#include "state/state.h"

/* 1900-01-01: an occurred_on before it is implausible_date. */
#define PLAUSIBLE_FROM ((csc_date)-25567)

/* What each event is to its day's passes (fold_history.c, ORDER). */
enum role { ROLE_START, ROLE_JOIN, ROLE_MIDDLE, ROLE_END };
enum { PASS_EARLIER_ENDS, PASS_STARTS, PASS_JOINS, PASS_MIDDLE, PASS_ENDS };

/* A fold in progress: the state it builds, the event being folded and its
 * day, and the history it is in. */
struct fold {
  struct child_state *st;
  struct arena *a;
  size_t cap;    /* every list holds at most this many (see child_fold) */
  size_t findings_cap;
  const CaseEvent *ev;
  csc_date date;
  int only_earlier; /* pass 1: apply an end only to what started before date */
  int oom;
  CaseEvent **events; /* the whole history, sorted, and which events take part */
  const uint8_t *live;
  size_t n;
  const struct code_lists *codes; /* what unknown_code judges by; NULL: nothing */
};

/* The history's order: occurred_on, then recorded_at, then event_id (qsort's
 * comparison of two CaseEvent pointers). */
int fold_compare(const void *pa, const void *pb);
/* The event's role in its day's passes; the role a pass folds. */
enum role fold_role(const CaseEvent *ev);
enum role fold_pass_role(int pass);
/* Folds f->ev on f->date into f->st: 1 when it was folded (done for its
 * day), 0 when a later pass of the day should try it again. */
int fold_event(struct fold *f);
/* The checks of f->ev on its own (dates, codes, after death): findings. */
void fold_check(struct fold *f);
/* Whether ev, dated date, is after the child's death (it takes no part). */
int fold_after_death(const struct child_state *st, const CaseEvent *ev, csc_date date);
/* A ChildDetails merged into d, field by field. */
void fold_merge_details(struct child_details *d, const Cscflow__V1__ChildDetails *c);
/* What is checked and derived on the final state, after the last day:
 * CSC_OK, or CSC_ENOMEM when a list could not hold what the fold made. */
int fold_after_last(struct fold *f);

#endif
