/*
 * Facts of the workforce group of docs/indicators.md.
 */
#include "state/facts_internal.h"

int derive_workforce(const struct child_state *st, const struct derive_ref *ref, struct fact_list *l) {
  (void)st;
  (void)ref;
  (void)l;
  return CSC_OK;
}
