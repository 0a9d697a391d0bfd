/*
 * Facts of the plans group of docs/indicators.md.
 */
#include "state/facts_internal.h"

int derive_plan_outcomes(const struct child_state *st, const struct derive_ref *ref, struct fact_list *l) {
  (void)st;
  (void)ref;
  (void)l;
  return CSC_OK;
}
