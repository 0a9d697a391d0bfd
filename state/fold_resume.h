/*
 * fold_resume.h — a fold's state kept at the start of its last day, so that
 * events appended after it fold without folding the history again (issue
 * 17, item 2). Private to state/: fold.c takes and uses it, the history
 * cache (history_cache.h) keeps one per cached history.
 *
 * A fold is a function of its events in sorted order, day after day: what
 * it holds when it reaches day D depends only on the events before D, on
 * the child's details and on the corrections and restatements, which are
 * resolved before any day is folded. So the state at the start of the last
 * day D, with the findings of each event's own checks kept apart, is where
 * a fold of the same history plus later events can start again: day D is
 * folded again with what it gained, then the new days. fold.c says when
 * that holds (resumable); anything else folds the whole history.
 *
 * Every pointer in the kept state points into the history's decoded events
 * (the cache's, which outlive it) or into the checkpoint's own arena.
 */
#ifndef CSCFLOW_STATE_FOLD_RESUME_H
#define CSCFLOW_STATE_FOLD_RESUME_H

#include "state/state.h"

struct fold_resume {
  struct arena a;        /* the state's lists and live below */
  const CaseEvent *first, *last; /* events[0] and events[n - 1] of the fold, as
                                    stored (the order it was given them in) */
  CaseEvent **order;     /* the n events in folding order when that was not
                            the stored order; NULL when it was */
  size_t n;              /* that fold's events */
  size_t day_start;      /* the first event of its last day */
  const struct code_lists *codes;
  struct child_state st; /* when the fold reached day_start; no care spans yet */
  size_t n_checked;      /* st.findings[0..n_checked): the checks of each event */
  int orphan_end;        /* a finding end_without_start: a later start could
                            make it end_before_start (fold.c, starts_later) */
  uint8_t *live;         /* live[0..n) of that fold */
  int resumed;           /* whether that fold started from a checkpoint itself */
  size_t taken_bytes;    /* the arena's size when the state was copied into it */
};

/*
 * A checkpoint holding a copy of st's lists and details (each list at its
 * own length) and of live[0..n); its other fields are the caller's to set.
 * With reuse, that one is emptied and filled again in the memory it holds
 * (an earlier checkpoint nothing needs any more: a fresh one's pages would
 * be first touched at every take); else a new one, in one block. NULL when
 * memory runs out (reuse is then still the caller's, emptied): the caller
 * then has none, which is never an error (the next fold folds the whole
 * history).
 */
struct fold_resume *fold_resume_take(const struct child_state *st, const uint8_t *live, size_t n,
                                     struct fold_resume *reuse);
void fold_resume_free(struct fold_resume *r);
/* The bytes r holds (0 for NULL), for the history cache's budget. */
size_t fold_resume_bytes(const struct fold_resume *r);

/*
 * st (zeroed by the caller) gets a copy of r's details and lists, each list
 * with room for cap entries (the fold's bound: child_fold), allocated from
 * a; the findings are not copied. CSC_ENOMEM.
 */
int fold_resume_restore(const struct fold_resume *r, struct child_state *st, struct arena *a,
                        size_t cap);

#endif
