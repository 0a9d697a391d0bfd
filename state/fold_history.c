/*
 * fold_history.c — a child's history folded, day by day (the state machine
 * each event moves is state/fold.c).
 *
 * CORRECTIONS are resolved before anything is folded. An event retracted by
 * another, or superseded by another, takes no part; the superseding event
 * stands in its place, on its own date. The retraction of an amendment
 * removes the record the amendment stood for, so a chain A <- B <- retract B
 * leaves neither. A correction that names an event not yet received is kept
 * in the history and takes effect when the event arrives; so is the order
 * of arrival of everything else, because the whole history is re-folded.
 *
 * A statutory return's event that restates an item an earlier return gave
 * (the same ingest_item_key, recorded later) replaces it: RESTATEMENTS, at
 * resolve_restatements.
 *
 * ORDER. Events fold by occurred_on. The events of one day fold in five
 * passes, so that the order in which a worker saved them never matters:
 *   1. ends of what was open before that day (a plan ending the day its
 *      successor starts ends first);
 *   2. starts;
 *   3. continuing starts of periods of care (joined to a period the day's
 *      starts may have opened);
 *   4. everything else (placements, legal statuses, visits, ...);
 *   5. the remaining ends (a referral opened and closed the same day).
 * Within a pass, ties go by recorded_at, then event_id. ChildDetails are
 * folded before everything else, so that every event can be checked against
 * the date of birth.
 *
 * RESUMING (child_fold_from, state/fold_resume.h). Every fold is of the
 * whole history, but one need not start at its first day: the state when a
 * fold reaches its last day is kept (with a cached history), and the next
 * fold of the same history with events appended starts there, folding that
 * day again with what it gained, then the days after it. The result is the
 * whole fold's, byte for byte: resumable refuses the events that would
 * change what was folded before that day (back-dated, corrections,
 * restatements, DfE records, ChildDetails, a start an earlier end waited
 * for), and those fold the whole history as before.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "state/fold_internal.h"
#include "state/fold_resume.h"

/*
 * What one pass over a history finds, so that the steps with nothing to do
 * skip their own pass: on a long history each pass is a cache miss an
 * event. A history is stored in arrival order, which is nearly always
 * occurred order already, so the sort is nearly always spared (it was a
 * fifth of the cost of a long history's re-fold); corrections, DfE records
 * and returns' events are rare in a live feed.
 */
struct survey {
  int unsorted;     /* an event before the one it follows (fold_compare) */
  int records;      /* a DfE ChildRecord (record_expand) */
  int corrections;  /* a supersedes or a retraction (resolve_corrections) */
  size_t returned;  /* events of a return's source (resolve_restatements) */
};

static void survey_history(CaseEvent *const *events, size_t n, struct survey *sv) {
  memset(sv, 0, sizeof *sv);
  /* Events of one source share its string (history.c sets a record's
   * source to the previous one's), so its answer is kept while it repeats. */
  const char *source = NULL;
  int returned = 0;
  for (size_t i = 0; i < n; i++) {
    const CaseEvent *ev = events[i];
    sv->unsorted |= i > 0 && fold_compare(&events[i - 1], &events[i]) > 0;
    sv->records |= ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_RECORD;
    sv->corrections |= ev->supersedes_event_id[0] != '\0' || ev->retracts_event_id[0] != '\0';
    if (ev->source_system != source) {
      source = ev->source_system;
      returned = ingest_is_return_source(source);
    }
    sv->returned += (size_t)returned;
  }
}

/* ---- the fold ----------------------------------------------------------------- */

/* live[i] = 0 for events that take no part: retracted, superseded, or with
 * no payload (a retraction itself). any: whether some event corrects
 * another (survey_history). */
static void resolve_corrections(CaseEvent **events, size_t n, uint8_t *live, int any) {
  for (size_t i = 0; i < n; i++)
    live[i] = events[i]->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET;
  if (!any)
    return;
  for (size_t i = 0; i < n; i++) {
    const CaseEvent *c = events[i];
    const char *target[2] = {c->supersedes_event_id, c->retracts_event_id};
    for (int t = 0; t < 2; t++)
      if (target[t][0] != '\0')
        for (size_t j = 0; j < n; j++)
          if (j != i && strcmp(events[j]->event_id, target[t]) == 0)
            live[j] = 0;
  }
}

/*
 * RESTATEMENTS. A statutory return restates each year what is still open
 * and corrects what it got wrong without naming what it corrects; the DfE
 * feed's records (record.c) restate a child's whole record. Of the events
 * of these sources with one item key (ingest_item_key: a period's end, a
 * placement move of a day, ...), only the later-recorded take part, as if
 * they superseded the others (issue 18: year N+1's end of a period, with
 * another date or reason, replaces year N's). They name items alike, by
 * kind and start date, so an item imported from a return and the same item
 * in the feed are one (DESIGN.md, Feeds). Events of one recording time are
 * one return's, or one record's, and all stay. Other sources correct
 * explicitly (supersedes, retracts).
 */
struct restated {
  const char *key;
  size_t index;
};

static int restated_compare(const void *pa, const void *pb) {
  const struct restated *x = pa, *y = pb;
  return strcmp(x->key, y->key);
}

static void resolve_restatements(CaseEvent **events, size_t n, uint8_t *live, struct arena *a) {
  size_t k = 0;
  const char *source = NULL; /* its answer kept while it repeats, as survey_history's */
  int returned = 0;
  for (size_t i = 0; i < n; i++) {
    if (events[i]->source_system != source) {
      source = events[i]->source_system;
      returned = ingest_is_return_source(source);
    }
    k += live[i] && returned;
  }
  if (k < 2)
    return;
  struct restated *r = arena_alloc(a, k * sizeof *r);
  if (r == NULL)
    return; /* no memory: every event stays, as with no restatement */
  size_t m = 0;
  for (size_t i = 0; i < n && m < k; i++) {
    char key[INGEST_ITEM_KEY_MAX];
    if (!live[i] || ingest_item_key(events[i], key, sizeof key) == 0)
      continue;
    char *copy = arena_strdup(a, key);
    if (copy == NULL)
      return;
    r[m++] = (struct restated){copy, i};
  }
  qsort(r, m, sizeof *r, restated_compare);
  for (size_t i = 0, j; i < m; i = j) {
    int64_t latest = events[r[i].index]->recorded_at_ms;
    for (j = i + 1; j < m && strcmp(r[j].key, r[i].key) == 0; j++)
      if (events[r[j].index]->recorded_at_ms > latest)
        latest = events[r[j].index]->recorded_at_ms;
    for (size_t x = i; x < j; x++)
      if (events[r[x].index]->recorded_at_ms < latest)
        live[r[x].index] = 0;
  }
}

/* The fold's arrays over the events: which take part, their dates, whether
 * a pass has folded them, their roles. */
struct fold_arrays {
  uint8_t *live, *done, *roles;
  csc_date *dates;
};

static int arrays_alloc(struct fold_arrays *w, size_t n, struct arena *a) {
  w->live = arena_alloc(a, n + 1);
  w->dates = arena_alloc(a, (n + 1) * sizeof *w->dates);
  w->done = arena_alloc(a, n + 1);
  w->roles = arena_alloc(a, n + 1); /* enum role, of live events */
  return w->live && w->dates && w->done && w->roles ? CSC_OK : CSC_ENOMEM;
}

/* dates[from..n) of the live events; an event whose date does not convert
 * takes no part. Sorted, the events of one day are neighbours: their day is
 * converted once. */
static void convert_dates(CaseEvent **events, size_t from, size_t n, struct fold_arrays *w) {
  for (size_t i = from; i < n; i++) {
    if (w->live[i] && i > from && w->live[i - 1] &&
        events[i]->occurred_on == events[i - 1]->occurred_on)
      w->dates[i] = w->dates[i - 1];
    else if (w->live[i] && date_from_yyyymmdd_early(events[i]->occurred_on, &w->dates[i]) != CSC_OK)
      w->live[i] = 0;
  }
}

/* Each event's own checks, for events[from..n); implausible_date and
 * after_death are reported, never folded. */
static void check_events(struct fold *f, size_t from, struct fold_arrays *w) {
  for (size_t i = from; i < f->n; i++)
    if (w->live[i]) {
      f->ev = f->events[i];
      f->date = w->dates[i];
      fold_check(f);
      w->live[i] = w->dates[i] >= PLAUSIBLE_FROM && !fold_after_death(f->st, f->ev, w->dates[i]);
    }
}

static int has_orphan_end(const struct child_state *st) {
  for (size_t i = 0; i < st->n_findings; i++)
    if (st->findings[i].rule == Q_END_WITHOUT_START)
      return 1;
  return 0;
}

/* *take: the state at the start of the last day (from), in recycle's
 * memory when given, or NULL when memory ran out. */
static void take_checkpoint(const struct fold *f, const struct fold_arrays *w, size_t n_checked,
                            size_t from, struct fold_resume *recycle, struct fold_resume **take) {
  struct fold_resume *r = fold_resume_take(f->st, w->live, f->n, recycle);
  if (r != NULL) {
    r->n = f->n;
    r->day_start = from;
    r->codes = f->codes;
    r->n_checked = n_checked;
    r->orphan_end = has_orphan_end(f->st);
    r->taken_bytes = arena_size(&r->a);
  }
  *take = r;
}

/* Names the history r was taken from: its stored order's first and last
 * events and, when that was not the folding order (sorted), the folding
 * order itself, which a resumed fold starts from. CSC_ENOMEM. */
static int name_checkpoint(struct fold_resume *r, const CaseEvent *first, const CaseEvent *last,
                           CaseEvent **order, int sorted) {
  r->first = first;
  r->last = last;
  r->order = NULL;
  if (!sorted)
    return CSC_OK;
  if ((r->order = arena_alloc(&r->a, r->n * sizeof *r->order)) == NULL)
    return CSC_ENOMEM;
  memcpy(r->order, order, r->n * sizeof *r->order);
  return CSC_OK;
}

/* *take set to NULL, the checkpoint it held freed unless it is the one the
 * fold started from or recycled, which child_fold_from frees (once). */
static void drop_checkpoint(struct fold_resume **take, const struct fold_resume *from) {
  if (*take != from)
    fold_resume_free(*take);
  *take = NULL;
}

/* The days of events[from..n), day by day, each in its five passes; with
 * take, the state at the start of the last day is kept in *take (in
 * recycle's memory, when given: a checkpoint the fold no longer reads). */
static void fold_days(struct fold *f, size_t from, struct fold_arrays *w, size_t n_checked,
                      struct fold_resume *recycle, struct fold_resume **take) {
  CaseEvent **events = f->events;
  const size_t n = f->n;
  memset(w->done + from, 0, n - from + 1);
  for (size_t i = from; i < n;) {
    /* The day's events [i, j): each one's role found once, and only the
     * passes of the roles the day has run (most days have only middles). */
    size_t j = i;
    unsigned present = 0;
    for (; j < n && events[j]->occurred_on == events[i]->occurred_on; j++)
      if (w->live[j]) {
        w->roles[j] = (uint8_t)fold_role(events[j]);
        present |= 1u << w->roles[j];
      }
    if (take != NULL && j == n)
      take_checkpoint(f, w, n_checked, i, recycle, take);
    for (int pass = PASS_EARLIER_ENDS; pass <= PASS_ENDS; pass++) {
      const enum role wanted = fold_pass_role(pass);
      if ((present & 1u << wanted) == 0)
        continue;
      for (size_t k = i; k < j; k++) {
        if (!w->live[k] || w->roles[k] != wanted || w->done[k])
          continue;
        f->ev = events[k];
        f->date = w->dates[k];
        f->only_earlier = pass == PASS_EARLIER_ENDS;
        w->done[k] = (uint8_t)fold_event(f);
      }
    }
    i = j;
  }
  f->only_earlier = 0;
}

/* A fold whose lists hold at most 2n + 1 entries each: each event adds at
 * most one entry to each list, and the period of care a legal status and a
 * span. Findings: at most one per rule and event. */
static int fold_begin(struct fold *f, CaseEvent **events, size_t n,
                      const struct code_lists *codes, struct arena *a, struct child_state *st,
                      struct fold_arrays *w) {
  *f = (struct fold){st, a, 2 * n + 1, Q_RULE_COUNT * n + 1, NULL, 0, 0, 0, events, NULL, n, codes};
  st->findings = arena_alloc(a, f->findings_cap * sizeof *st->findings);
  if (arrays_alloc(w, n, a) != CSC_OK || st->findings == NULL)
    return CSC_ENOMEM;
  f->live = w->live;
  return CSC_OK;
}

/* The whole history folded; with take, the state at the start of its last
 * day is kept in *take when a later fold can start from it (resumable). */
static int fold_whole(CaseEvent **events, size_t n, const struct code_lists *codes,
                      struct arena *a, struct child_state *st, struct fold_resume *recycle,
                      struct fold_resume **take) {
  memset(st, 0, sizeof *st);
  struct survey sv;
  survey_history(events, n, &sv);
  const int records = sv.records;
  if (records) { /* the DfE feed's records, as the events they mean (record.c) */
    const int expanded = record_expand(events, n, a, &events, &n);
    if (expanded != CSC_OK)
      return expanded;
    survey_history(events, n, &sv);
  }
  st->details = (struct child_details){.dob = DATE_NEVER, .expected_dob = DATE_NEVER,
                                       .death = DATE_NEVER, .uasc_ceased = DATE_NEVER,
                                       .ethnicity = ""};
  struct fold f;
  struct fold_arrays w;
  if (fold_begin(&f, events, n, codes, a, st, &w) != CSC_OK)
    return CSC_ENOMEM;
  /* The stored order's ends name the history to a later fold (resumable). */
  const CaseEvent *stored_first = n ? events[0] : NULL, *stored_last = n ? events[n - 1] : NULL;
  if (sv.unsorted)
    qsort(events, n, sizeof *events, fold_compare);
  resolve_corrections(events, n, w.live, sv.corrections);
  if (sv.returned >= 2) /* fewer restate nothing */
    resolve_restatements(events, n, w.live, a);
  convert_dates(events, 0, n, &w);
  for (size_t i = 0; i < n; i++)
    if (w.live[i] && w.dates[i] >= PLAUSIBLE_FROM &&
        events[i]->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS)
      fold_merge_details(&st->details, events[i]->child_details);
  check_events(&f, 0, &w);
  /* A checkpoint points into the events, not into records expanded into
   * a; a correction may name an event still to come. */
  const int keep = take != NULL && n > 0 && !records && !sv.corrections;
  fold_days(&f, 0, &w, st->n_findings, recycle, keep ? take : NULL);
  if (keep && *take != NULL &&
      name_checkpoint(*take, stored_first, stored_last, events, sv.unsorted) != CSC_OK)
    drop_checkpoint(take, recycle);
  return fold_after_last(&f);
}

/*
 * Whether events[0..n) are r's history with later events appended that a
 * fold can take from r: events it cannot are any that would change what was
 * folded before r's last day, or how:
 *   - one sorted before r's last event (back-dated, or recorded earlier);
 *   - a correction (it may name an earlier event), a return's event (a
 *     restatement), a DfE record (expanded into other events), ChildDetails
 *     (every event's checks read the details);
 *   - a start, when r holds an end without start: the start would make it
 *     an end before its start.
 */
static int resumable(const struct fold_resume *r, CaseEvent **events, size_t n,
                     const struct code_lists *codes) {
  if (r->codes != codes || n < r->n || r->n == 0 || events[0] != r->first ||
      events[r->n - 1] != r->last)
    return 0;
  for (size_t i = r->n; i < n; i++) {
    CaseEvent *const *before = i > r->n ? &events[i - 1] : r->order ? &r->order[r->n - 1]
                                                                    : &events[i - 1];
    const CaseEvent *ev = events[i];
    if (fold_compare(before, &events[i]) > 0 ||
        ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_RECORD ||
        ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS ||
        ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET ||
        ev->supersedes_event_id[0] != '\0' || ev->retracts_event_id[0] != '\0' ||
        ingest_is_return_source(ev->source_system))
      return 0;
    if (r->orphan_end && fold_role(ev) != ROLE_MIDDLE && fold_role(ev) != ROLE_END)
      return 0;
  }
  return 1;
}

/*
 * r made the checkpoint of a fold whose last day is r's own (the events
 * appended all fall on it): the state at the start of that day is r's
 * already, so only what names the history changes, which is cheaper than a
 * copy of the state. findings[0..n_findings) are the fold's before the
 * day: each event's checks, then the earlier days'. Refused (0) when r's
 * arena has grown to twice what a copy took, so that many appends to one
 * day do not grow it without bound. CSC_ENOMEM leaves r as it was.
 */
static int adopt_checkpoint(struct fold_resume *r, const struct fold *f,
                            const struct fold_arrays *w, size_t n_checked,
                            const struct finding *findings, size_t n_findings) {
  if (arena_size(&r->a) > 2 * r->taken_bytes)
    return 0;
  uint8_t *live = arena_alloc(&r->a, f->n + 1);
  struct finding *kept = arena_alloc(&r->a, (n_findings + 1) * sizeof *kept);
  if (live == NULL || kept == NULL)
    return 0;
  memcpy(live, w->live, f->n);
  memcpy(kept, findings, n_findings * sizeof *kept);
  r->live = live;
  r->st.findings = kept;
  r->st.n_findings = n_findings;
  r->n_checked = n_checked;
  r->orphan_end = has_orphan_end(&r->st);
  r->n = f->n;
  return 1;
}

/*
 * The fold of events[0..n) from r: r's state at the start of its last day,
 * the findings ordered as a whole fold orders them (each event's checks in
 * event order, then what the days found), then the last day folded again
 * with the events appended and the days after it. The new checkpoint may
 * be r itself (adopted, or recycled); child_fold_from frees r otherwise.
 */
static int fold_resumed(struct fold_resume *r, CaseEvent **events, size_t n,
                        const struct code_lists *codes, struct arena *a, struct child_state *st,
                        struct fold_resume **take) {
  memset(st, 0, sizeof *st);
  const CaseEvent *stored_first = events[0], *stored_last = events[n - 1];
  if (r->order != NULL) { /* the history in folding order, the new events after it */
    CaseEvent **order = arena_alloc(a, n * sizeof *order);
    if (order == NULL)
      return CSC_ENOMEM;
    memcpy(order, r->order, r->n * sizeof *order);
    memcpy(order + r->n, events + r->n, (n - r->n) * sizeof *order);
    events = order;
  }
  struct fold f;
  struct fold_arrays w;
  if (fold_begin(&f, events, n, codes, a, st, &w) != CSC_OK ||
      fold_resume_restore(r, st, a, f.cap) != CSC_OK)
    return CSC_ENOMEM;
  memcpy(w.live, r->live, r->n);
  for (size_t i = r->n; i < n; i++)
    w.live[i] = 1; /* no payload, no correction: resumable */
  convert_dates(events, r->day_start, n, &w);
  memcpy(st->findings, r->st.findings, r->n_checked * sizeof *st->findings);
  st->n_findings = r->n_checked;
  check_events(&f, r->n, &w);
  const size_t n_checked = st->n_findings, days = r->st.n_findings - r->n_checked;
  memcpy(st->findings + n_checked, r->st.findings + r->n_checked, days * sizeof *st->findings);
  st->n_findings += days;
  /* Events appended to r's last day leave its state at the start of that
   * day as it was: r is kept, not copied again. */
  const size_t before_day = st->n_findings;
  const int same_day = events[n - 1]->occurred_on == events[r->day_start]->occurred_on;
  const int adopt = take != NULL && same_day &&
                    adopt_checkpoint(r, &f, &w, n_checked, st->findings, before_day);
  const int sorted = r->order != NULL; /* r may be recycled below */
  fold_days(&f, r->day_start, &w, n_checked, r, adopt ? NULL : take);
  if (adopt)
    *take = r;
  if (take != NULL && *take != NULL) {
    (*take)->resumed = 1;
    if (name_checkpoint(*take, stored_first, stored_last, events, sorted) != CSC_OK)
      drop_checkpoint(take, r);
  }
  return fold_after_last(&f);
}

int child_fold_from(CaseEvent **events, size_t n, const struct code_lists *codes,
                    struct arena *a, struct child_state *st, struct fold_resume **resume) {
  struct fold_resume *from = resume != NULL ? *resume : NULL;
  if (resume != NULL)
    *resume = NULL;
  const int rc = from != NULL && resumable(from, events, n, codes)
                     ? fold_resumed(from, events, n, codes, a, st, resume)
                     : fold_whole(events, n, codes, a, st, from, resume);
  if (resume == NULL || *resume != from) /* else kept as the new one */
    fold_resume_free(from);
  if (rc != CSC_OK && resume != NULL) {
    fold_resume_free(*resume);
    *resume = NULL;
  }
  return rc;
}

int child_fold(CaseEvent **events, size_t n, const struct code_lists *codes, struct arena *a,
               struct child_state *st) {
  return child_fold_from(events, n, codes, a, st, NULL);
}
