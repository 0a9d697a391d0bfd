/*
 * The child state machine.
 *
 * A child's history is folded in occurred_on order (then recorded_at, then
 * event_id, so that arrival order never matters). Corrections are resolved
 * first: an event retracted by another, or superseded by another, takes no
 * part; the superseding event stands in its place.
 *
 * States, per kind of involvement, and the events that move them:
 *
 *   CIN episode   none --ReferralOpened--> open --ReferralClosed--> closed
 *                 A referral while an episode is open is finding
 *                 referral_while_open and opens nothing. A closure with no
 *                 open episode is end_without_start; one dated before the
 *                 episode's start is end_before_start and is ignored.
 *
 *   Plan (EH, CIN, CP)
 *                 none --*Started--> open --*Ended--> ended
 *                 An end names its plan by id; with no id it ends the latest
 *                 open plan of the kind. A start while a plan of the kind is
 *                 open is overlapping_plan (both are kept: the child is
 *                 counted once, each plan once).
 *
 *   Period of care (the LAC plan)
 *                 none --PeriodOfCareStarted--> looked after
 *                      --PeriodOfCareEnded--> ceased
 *                 Legal status V3/V4 at the start marks the period as short
 *                 breaks: kept, but excluded from looked-after counts.
 *
 *   Placement     within an open period of care:
 *                 --PeriodOfCareStarted(placement) or PlacementStarted--> placed
 *                 A PlacementStarted ends the open placement of the period on
 *                 the same date; the end of the period ends its placement. A
 *                 placement with no open period is placement_outside_care and
 *                 is not counted.
 *
 *   ChildDetails sets the date of birth; the latest recorded value stands.
 */
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

static int event_compare(const void *pa, const void *pb) {
  const CaseEvent *a = *(CaseEvent *const *)pa, *b = *(CaseEvent *const *)pb;
  if (a->occurred_on != b->occurred_on)
    return a->occurred_on < b->occurred_on ? -1 : 1;
  if (a->recorded_at_ms != b->recorded_at_ms)
    return a->recorded_at_ms < b->recorded_at_ms ? -1 : 1;
  return strcmp(a->event_id, b->event_id);
}

/* True when another event in the history retracts or supersedes ev. */
static int is_corrected(CaseEvent *const *events, size_t n, const CaseEvent *ev) {
  for (size_t i = 0; i < n; i++) {
    const CaseEvent *c = events[i];
    if (c != ev && (strcmp(c->retracts_event_id, ev->event_id) == 0 ||
                    strcmp(c->supersedes_event_id, ev->event_id) == 0))
      return 1;
  }
  return 0;
}

struct fold {
  struct child_state *st;
  const CaseEvent *ev;
  csc_date date;
};

static void finding(struct fold *f, enum quality_rule rule) {
  struct finding *x = &f->st->findings[f->st->n_findings++];
  memset(x, 0, sizeof *x);
  x->rule = (uint16_t)rule;
  snprintf(x->event_id, sizeof x->event_id, "%s", f->ev->event_id);
}

static struct episode *open_episode(struct episode *eps, size_t n, const char *id) {
  struct episode *latest = NULL;
  for (size_t i = n; i-- > 0;) {
    if (eps[i].end != DATE_NEVER)
      continue;
    if (id[0] != '\0' && strcmp(eps[i].id, id) == 0)
      return &eps[i];
    if (latest == NULL)
      latest = &eps[i];
  }
  /* An id that matches no open episode still ends the latest open one only
   * when the source gave no id at all. */
  return id[0] == '\0' ? latest : NULL;
}

static struct episode *start_episode(struct fold *f, struct episode *eps, size_t *n,
                                     const char *id, const char *code) {
  struct episode *e = &eps[(*n)++];
  e->start = f->date;
  e->end = DATE_NEVER;
  e->id = id;
  e->code = code;
  e->flags = 0;
  return e;
}

static void end_episode(struct fold *f, struct episode *e) {
  if (e == NULL)
    finding(f, Q_END_WITHOUT_START);
  else if (f->date < e->start)
    finding(f, Q_END_BEFORE_START);
  else
    e->end = f->date;
}

static void on_referral_opened(struct fold *f, const Cscflow__V1__ReferralOpened *r) {
  struct child_state *st = f->st;
  if (open_episode(st->referrals, st->n_referrals, "") != NULL) {
    finding(f, Q_REFERRAL_WHILE_OPEN);
    return;
  }
  const csc_date window = date_add_months(f->date, -12);
  int rereferral = st->n_referrals > 0 && st->referrals[st->n_referrals - 1].start >= window;
  struct episode *e = start_episode(f, st->referrals, &st->n_referrals, r->referral_id, r->source);
  if (rereferral)
    e->flags |= EP_REREFERRAL;
}

static void on_plan_started(struct fold *f, enum plan_kind kind, const char *id) {
  struct child_state *st = f->st;
  if (open_episode(st->plans[kind], st->n_plans[kind], "") != NULL)
    finding(f, Q_OVERLAPPING_PLAN);
  start_episode(f, st->plans[kind], &st->n_plans[kind], id, "");
}

static void on_plan_ended(struct fold *f, enum plan_kind kind, const char *id) {
  end_episode(f, open_episode(f->st->plans[kind], f->st->n_plans[kind], id));
}

static void start_placement(struct fold *f, const Cscflow__V1__Placement *p) {
  struct child_state *st = f->st;
  struct episode *cur = open_episode(st->placements, st->n_placements, "");
  if (cur != NULL)
    cur->end = f->date;
  start_episode(f, st->placements, &st->n_placements, "", p ? p->placement_type : "");
}

static int is_short_breaks(const char *legal_status) {
  return strcmp(legal_status, "V3") == 0 || strcmp(legal_status, "V4") == 0;
}

static void on_care_started(struct fold *f, const Cscflow__V1__PeriodOfCareStarted *p) {
  on_plan_started(f, PLAN_LAC, p->period_id);
  struct child_state *st = f->st;
  struct episode *period = &st->plans[PLAN_LAC][st->n_plans[PLAN_LAC] - 1];
  period->code = p->legal_status;
  if (is_short_breaks(p->legal_status))
    period->flags |= EP_SHORT_BREAKS;
  if (p->placement != NULL)
    start_placement(f, p->placement);
}

static void on_care_ended(struct fold *f, const Cscflow__V1__PeriodOfCareEnded *p) {
  struct child_state *st = f->st;
  struct episode *period = open_episode(st->plans[PLAN_LAC], st->n_plans[PLAN_LAC], p->period_id);
  end_episode(f, period);
  if (period != NULL && period->end == f->date) {
    struct episode *pl = open_episode(st->placements, st->n_placements, "");
    if (pl != NULL)
      pl->end = f->date < pl->start ? pl->start : f->date;
  }
}

static void on_placement(struct fold *f, const Cscflow__V1__PlacementStarted *p) {
  struct child_state *st = f->st;
  if (open_episode(st->plans[PLAN_LAC], st->n_plans[PLAN_LAC], p->period_id) == NULL) {
    finding(f, Q_PLACEMENT_OUTSIDE_CARE);
    return;
  }
  start_placement(f, p->placement);
}

static void fold_event(struct fold *f) {
  const CaseEvent *ev = f->ev;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS: {
    csc_date dob;
    if (date_from_yyyymmdd(ev->child_details->date_of_birth, &dob) == CSC_OK)
      f->st->dob = dob;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    on_referral_opened(f, ev->referral_opened);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    end_episode(f, open_episode(f->st->referrals, f->st->n_referrals,
                                ev->referral_closed->referral_id));
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
    on_plan_started(f, PLAN_EH, ev->early_help_started->episode_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
    on_plan_ended(f, PLAN_EH, ev->early_help_ended->episode_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
    on_plan_started(f, PLAN_CIN, ev->cin_plan_started->plan_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
    on_plan_ended(f, PLAN_CIN, ev->cin_plan_ended->plan_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
    on_plan_started(f, PLAN_CP, ev->cp_plan_started->plan_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    on_plan_ended(f, PLAN_CP, ev->cp_plan_ended->plan_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    on_care_started(f, ev->period_of_care_started);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    on_care_ended(f, ev->period_of_care_ended);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    on_placement(f, ev->placement_started);
    break;
  default:
    /* Kept in the history; folded by later stages of the state machine. */
    break;
  }
}

int child_fold(CaseEvent **events, size_t n, struct arena *a, struct child_state *st) {
  memset(st, 0, sizeof *st);
  st->dob = DATE_NEVER;
  /* Each event opens at most one episode of each array and raises at most
   * one finding, so n bounds every array. */
  const size_t cap = n ? n : 1;
  st->referrals = arena_alloc(a, cap * sizeof(struct episode));
  st->placements = arena_alloc(a, cap * sizeof(struct episode));
  st->findings = arena_alloc(a, cap * sizeof(struct finding));
  if (!st->referrals || !st->placements || !st->findings)
    return CSC_ENOMEM;
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    if ((st->plans[k] = arena_alloc(a, cap * sizeof(struct episode))) == NULL)
      return CSC_ENOMEM;

  qsort(events, n, sizeof *events, event_compare);
  struct fold f = {st, NULL, 0};
  for (size_t i = 0; i < n; i++) {
    f.ev = events[i];
    if (f.ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET ||
        is_corrected(events, n, f.ev))
      continue;
    if (date_from_yyyymmdd(f.ev->occurred_on, &f.date) != CSC_OK)
      continue; /* validated on ingest; kept out of the fold regardless */
    fold_event(&f);
  }
  return CSC_OK;
}
