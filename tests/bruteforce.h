/*
 * bruteforce.h — the brute-force twin of the indicator engine.
 *
 * A deliberately simple second implementation of docs/indicators.md, for
 * tests only: given the decoded CaseEvents of an LA (in the order they
 * arrived) and one as-of date T, it resolves duplicates and corrections,
 * folds each child's history into episodes by the semantics documented at
 * the top of state/fold.c, and computes every indicator value directly from
 * the definitions, by loops over all children and their episodes ("referrals
 * in 12m" = the referrals with add_months(T, -12) < d <= T).
 *
 * It shares nothing with state/ or indicators/ (no fold, no facts, no
 * catalogue): only the event structs, base/ (dates, working days) and the
 * bank-holiday file. Speed does not matter; readability does.
 */
#ifndef CSCFLOW_TESTS_BRUTEFORCE_H
#define CSCFLOW_TESTS_BRUTEFORCE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "cscflow/v1/events.pb-c.h"

/* Groups of docs/indicators.md, as the engine lands them (core = what
 * state/facts.c had before the groups: referrals, rereferrals,
 * children_on_plan, open_plans_over, placements_3plus, quality counts). */
enum bf_group {
  BF_CORE = 1u << 0,
  BF_ACTIVITY = 1u << 1,
  BF_TIMELINESS = 1u << 2,
  BF_PLANS = 1u << 3,
  BF_OUTCOMES = 1u << 4,
  BF_WORKFORCE = 1u << 5,
  BF_ALL = (1u << 6) - 1
};

/* The indicator ids the twin implements in a group (NULL-terminated). */
const char *const *bf_group_ids(enum bf_group g);
const char *bf_group_name(enum bf_group g);

/* The quality rules, in the order the snapshot lists them. */
#define BF_RULE_COUNT 11
extern const char *const bf_rule_ids[BF_RULE_COUNT];

struct bf_options {
  const struct workdays *wd; /* the bank holidays (NULL: weekends only) */
  int visit_cin, visit_cp;   /* seen_per_plan intervals in working days */
  int visit_lac;             /* in days */
  int64_t population;        /* children aged 0-17 for T's year; <= 0: per_10k null */
  unsigned groups;           /* enum bf_group bits to compute */
};

/* bf_options with the default visit intervals (CIN 20, CP 10, LAC 42),
 * no calendar, no population, every group. */
void bf_options_default(struct bf_options *o);

/* One published value, as the snapshot carries it. */
struct bf_value {
  char id[40], window[8], breakdown[64];
  int has_num, has_den, has_value, has_per_10k, provisional;
  double num, den, value, per_10k;
};

struct bf_result {
  struct bf_value *values;
  size_t n, cap;
  uint64_t quality[BF_RULE_COUNT]; /* findings per rule */
  size_t subjects;                 /* children, workers and posts folded */
};

/*
 * Computes every value of the chosen groups for LA la on T from events[0..n)
 * (any LAs; in arrival order: the first of two events with one event_id in
 * one child's history wins). Events that ingest would dead-letter are left
 * out. Returns CSC_OK or CSC_ENOMEM; free the result with bf_result_free.
 */
int bf_compute(const Cscflow__V1__CaseEvent *const *events, size_t n, const char *la, csc_date T,
               const struct bf_options *o, struct bf_result *out);
void bf_result_free(struct bf_result *r);

/* The value (id, window, breakdown) of r, or NULL. */
const struct bf_value *bf_find(const struct bf_result *r, const char *id, const char *window,
                               const char *breakdown);

#endif
