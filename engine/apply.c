/*
 * apply.c — one admitted input applied: its history folded, and the change
 * moved into the LA's aggregates, alerts and findings, then into those of
 * the subjects that depend on it (a worker's children).
 */
#include <string.h>

#include "engine/internal.h"

/* Moves the LA's aggregates, alerts and findings by a subject's change of
 * its n events, on the LA's as-of date. */
int apply_change(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
                        const struct child_change *ch, size_t n, struct output *out) {
  e->stats.duplicates += n - ch->appended;
  if (ch->duplicate)
    return CSC_OK;
  const csc_date T = b->ls.as_of;
  int rc = e->opt.group_by_subject
               ? agg_pending_diff(e->pending, b->la, T, ch->before.facts, ch->before.n_facts,
                                  ch->after.facts, ch->after.n_facts)
               : agg_apply_diff(e->st, txn, b->la, T, ch->before.facts, ch->before.n_facts,
                                ch->after.facts, ch->after.n_facts);
  if (rc == CSC_OK)
    rc = alerts_apply_diff(e->st, txn, b->la, subject, T, ch->before.alerts, ch->before.n_alerts,
                           ch->after.alerts, ch->after.n_alerts, out);
  if (rc == CSC_OK)
    rc = quality_emit_changes(b->la, subject, T, ch->before.findings, ch->before.n_findings,
                              ch->after.findings, ch->after.n_findings, out);
  b->ls.events_applied += ch->appended;
  e->stats.applied += ch->appended;
  return rc;
}

/*
 * A worker whose leaver days changed ends (or no longer ends) the
 * allocations of the children allocated to them: each is re-derived and its
 * change applied like any other (state/join.c). Nothing for a child or a post.
 */
int apply_dependents(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
                     const struct child_change *ch, struct output *out) {
  static const char prefix[] = "worker:";
  if (ch->duplicate || strncmp(subject, prefix, sizeof prefix - 1) != 0 ||
      !worker_leavings_changed(&ch->before, &ch->after))
    return CSC_OK;
  char **children;
  size_t n;
  int rc = allocations_dependents(e->st, txn, b->la, subject, &e->arena, &children, &n);
  for (size_t i = 0; rc == CSC_OK && i < n; i++) {
    struct child_change dep;
    rc = history_rederive(e->st, txn, b->la, children[i], refdata_for(e->opt.ref, b->la),
                          &e->arena, &dep);
    if (rc == CSC_OK)
      rc = apply_change(e, txn, b, children[i], &dep, 0, out);
  }
  return rc;
}

int apply_one(struct engine *e, MDB_txn *txn, const struct engine_input *in,
              struct output *out) {
  struct admitted a;
  arena_reset(&e->arena);
  int rc = admit_input(e, txn, in, out, &a);
  if (rc != CSC_OK || a.ev == NULL)
    return rc;
  struct child_change ch;
  rc = history_apply(e->st, txn, a.ev, a.pb, a.pb_len, refdata_for(e->opt.ref, a.la->la),
                     &e->arena, &ch);
  if (rc == CSC_OK)
    rc = apply_change(e, txn, a.la, a.subject, &ch, 1, out);
  return rc == CSC_OK ? apply_dependents(e, txn, a.la, a.subject, &ch, out) : rc;
}
