/*
 * The child state machine: a history (any order) in, the child's episodes out.
 *
 * How a history is folded (corrections, restatements, the order of days and
 * passes, resuming from the last fold) is state/fold_history.c; this file is
 * what one event does to the state, and the checks on the final state.
 *
 * STATES, per kind of involvement, and the events that move them:
 *
 *   CIN episode    none --ReferralOpened--> open --ReferralClosed--> closed
 *                  A referral while an episode is open opens nothing
 *                  (referral_while_open). A referral within 12 months of
 *                  the child's previous one is a re-referral.
 *
 *   Assessment,    none --AssessmentStarted--> open --AssessmentCompleted--> done
 *   S47 enquiry    none --Section47Started--> open --Section47Completed--> done
 *                  A completion with no start is kept (it still happened)
 *                  and reported end_without_start; one dated before its
 *                  start is kept too (end_before_start) and its start joins
 *                  it. A second completion of an id is repeated_completion
 *                  and changes nothing: the first counts.
 *   Strategy discussions, ICPCs and visits are dated marks on the child.
 *
 *   Plan (EH, CIN, CP)
 *                  none --*Started--> open --*Ended--> ended
 *                  An end names its plan by id; with no id it ends the
 *                  latest open plan of the kind. A plan that starts while
 *                  another of its kind is open is overlapping_plan: both are
 *                  kept, the child counts once, each plan once.
 *
 *   Period of care (the LAC plan)
 *                  none --PeriodOfCareStarted--> looked after
 *                       --LegalStatusChanged--> looked after (new status)
 *                       --PeriodOfCareEnded--> ceased
 *                  none --PeriodOfCareStarted(continuing)--> looked after,
 *                       start unknown (EP_START_UNKNOWN; period_start_unknown)
 *                  looked after --PeriodOfCareStarted(continuing)--> looked
 *                       after (joined: its legal status, need and placement
 *                       are changes within the period where they differ; the
 *                       period also answers to its period_id, an alias)
 *                  A continuing start is a source's first record of a period
 *                  begun before it, on a day it does not know (an SSDA903
 *                  import whose first episode of the child is not an RNE S
 *                  row): joined to the period open on its day, it raises
 *                  nothing; with none open its period is looked after from
 *                  occurred_on but is no entry to care.
 *                  Days under legal status V3/V4 (short breaks) are not
 *                  looked-after days (the care spans hold the others); a
 *                  period under V3/V4 throughout is marked short breaks and
 *                  is not a plan for counts or alerts. The facts decide the
 *                  rest by the status on the day (state/facts_internal.h,
 *                  is_lac_entry, is_lac_exit).
 *
 *   Placement      within an open period of care:
 *                  --PeriodOfCareStarted(placement) or PlacementStarted--> placed
 *                  A PlacementStarted ends the period's open placement on the
 *                  same date; the end of the period ends its placement. With
 *                  no open period it is placement_outside_care, not counted.
 *
 *   Adoption       none --DECISION--> decided --PLACEMENT_ORDER--> ordered
 *                       --MATCHED--> matched --PLACED--> placed --ADOPTED--> adopted
 *                  DECISION_REVERSED closes the journey; a new DECISION after
 *                  a closed or completed journey starts another.
 *
 *   Allocation     none --WorkerAllocated--> allocated --(deallocated)--> ended
 *
 *   Workforce (a worker's history)
 *                  none --STARTED--> employed --LEFT--> left; a STARTED while
 *                  employed is a change of FTE or agency status. ABSENCE and
 *                  CASELOAD are dated marks; a STARTED is also a caseload
 *                  mark (its case_holding, caseload 0).
 *   Workforce (a post's history) ESTABLISHED, VACANT and FILLED are dated
 *                  marks: the post's status from that date.
 *
 *   Category of need  like the legal status: a PeriodOfCareStarted sets it,
 *                  a CategoryOfNeedChanged changes it from its date; one
 *                  with no open period is end_without_start and is ignored.
 *
 *   Missing episode none --MissingStarted--> missing (or away)
 *                       --MissingEnded--> returned
 *                  Kept whether or not the child is in care (going missing
 *                  happened); one that starts with no period of care open
 *                  is missing_outside_care. A return before the start is
 *                  end_before_start, a return from nothing end_without_start.
 *
 *   Reviews        dated marks (ReviewHeld): a CP review names its plan, a
 *                  LAC review its period; one held on no day of a plan of
 *                  its kind (start to end, the end date included: the review
 *                  that ends a plan is its review) is review_outside_plan.
 *
 *   Court applications, permanence orders, previous permanence, care leaver
 *   contacts and SDQ scores are dated marks. ChildDetails are merged field
 *   by field: a later one replaces what it records.
 *
 *   What the returns record rides on the episodes and marks (state.h): the
 *   referral's primary need and ReferralNFA, the enquiry's ICPC target date
 *   and "not required", the CP plan's previous CP plans, each placement's
 *   and legal status's reason for new episode (903 RNE), the care leaver's
 *   in-touch code, the allocation's team and end reason, the worker's
 *   ethnicity, seniority and team.
 *
 * Anything that breaks a case rule is kept and reported (docs/quality-rules.md):
 * an end dated before its start is ignored (the episode stays open until a
 * valid end arrives); an end of nothing is ignored. An event dated before
 * 1900 (implausible_date) is a mistyped date, not a date of anything: it is
 * reported and takes no part in the fold, so it counts nowhere until a
 * correction gives it a real date. Its corrections still apply.
 *
 * AFTER DEATH (INDICATORS.md, Conventions): "An event dated after d is a
 * data-quality finding (after_death) and counts in no window." An event
 * dated after the child's date of death (ChildDetails.date_of_death, from
 * the merged details, whichever event recorded it and whenever it arrived)
 * is reported after_death and, like implausible_date, takes no part in the
 * fold: it opens, ends and counts nothing. An event on the day of death is
 * not after it. ChildDetails are exempt (they record the death, often days
 * later). The other date rules still apply to it. Once the date of death is
 * corrected away, the events fold as dated and the findings resolve. The
 * days after d are cut from the point-in-time measures in state/facts.c.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "state/fold_internal.h"

/* Pre-birth work on the path to a child protection plan is legitimate for an
 * unborn child, up to about 40 weeks before birth. */
#define PRE_BIRTH_DAYS 280

int fold_compare(const void *pa, const void *pb) {
  const CaseEvent *a = *(CaseEvent *const *)pa, *b = *(CaseEvent *const *)pb;
  if (a->occurred_on != b->occurred_on)
    return a->occurred_on < b->occurred_on ? -1 : 1;
  if (a->recorded_at_ms != b->recorded_at_ms)
    return a->recorded_at_ms < b->recorded_at_ms ? -1 : 1;
  return strcmp(a->event_id, b->event_id);
}

/* The role a pass folds: the earlier ends and the remaining ends are both
 * ROLE_END (fold_event folds in the first only what was open before). */
enum role fold_pass_role(int pass) {
  switch (pass) {
  case PASS_STARTS:
    return ROLE_START;
  case PASS_JOINS:
    return ROLE_JOIN;
  case PASS_MIDDLE:
    return ROLE_MIDDLE;
  default:
    return ROLE_END;
  }
}

enum role fold_role(const CaseEvent *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED:
    return ROLE_START;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    return ev->period_of_care_started->continuing ? ROLE_JOIN : ROLE_START;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_ENDED:
    return ROLE_END;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    return ev->worker_allocated->deallocated ? ROLE_END : ROLE_START;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    if (ev->adoption_milestone->stage == CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION)
      return ROLE_START;
    if (ev->adoption_milestone->stage ==
        CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION_REVERSED)
      return ROLE_END;
    return ROLE_MIDDLE;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE:
    if (ev->workforce->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED)
      return ROLE_START;
    if (ev->workforce->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_LEFT)
      return ROLE_END;
    return ROLE_MIDDLE;
  default:
    return ROLE_MIDDLE;
  }
}

/* ---- lists ------------------------------------------------------------------- */

/* The next free slot of a list, zeroed; the list's array is allocated (with
 * the fold's capacity) on first use, so that a child with no visits costs no
 * visit array. NULL (and f->oom) on allocation failure or a full list. */
static void *push(struct fold *f, void *list, size_t *n, size_t size) {
  void **arr = list;
  if (*arr == NULL && (*arr = arena_alloc(f->a, f->cap * size)) == NULL) {
    f->oom = 1;
    return NULL;
  }
  if (*n >= f->cap) {
    f->oom = 1;
    return NULL;
  }
  void *slot = (char *)*arr + (*n)++ * size;
  memset(slot, 0, size);
  return slot;
}

static void finding_for(struct fold *f, const char *event_id, enum quality_rule rule) {
  struct child_state *st = f->st;
  for (size_t i = 0; i < st->n_findings; i++)
    if (st->findings[i].rule == rule && strcmp(st->findings[i].event_id, event_id) == 0)
      return; /* one finding per (rule, event) */
  if (st->n_findings == f->findings_cap) {
    f->oom = 1;
    return;
  }
  struct finding *x = &st->findings[st->n_findings++];
  memset(x, 0, sizeof *x);
  x->rule = (uint16_t)rule;
  snprintf(x->event_id, sizeof x->event_id, "%s", event_id);
}

static void finding(struct fold *f, enum quality_rule rule) {
  finding_for(f, f->ev->event_id, rule);
}

static struct mark *add_mark(struct fold *f, struct mark **list, size_t *n, const char *id,
                             uint32_t value, uint32_t flags) {
  struct mark *m = push(f, list, n, sizeof *m);
  if (m != NULL) {
    m->date = f->date;
    m->id = id ? id : "";
    m->code = m->code2 = m->code3 = "";
    m->value = value;
    m->flags = flags;
  }
  return m;
}

/* ---- episodes ---------------------------------------------------------------- */

/* The open episode named id, or with no id the latest open one. */
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
  return id[0] == '\0' ? latest : NULL;
}

/* The completed episode named id (none for no id). */
static struct episode *completed_episode(struct episode *eps, size_t n, const char *id) {
  for (size_t i = 0; id[0] != '\0' && i < n; i++)
    if (eps[i].end != DATE_NEVER && strcmp(eps[i].id, id) == 0)
      return &eps[i];
  return NULL;
}

/* The episode named id completed before its start, still waiting for it. */
static struct episode *misdated_episode(struct episode *eps, size_t n, const char *id) {
  for (size_t i = 0; id != NULL && id[0] != '\0' && i < n; i++)
    if ((eps[i].flags & (EP_END_BEFORE_START | EP_NO_START)) ==
            (EP_END_BEFORE_START | EP_NO_START) &&
        strcmp(eps[i].id, id) == 0)
      return &eps[i];
  return NULL;
}

static struct episode *start_episode(struct fold *f, struct episode **list, size_t *n,
                                     const char *id) {
  struct episode *e = push(f, list, n, sizeof *e);
  if (e == NULL)
    return NULL;
  e->start = f->date;
  e->end = DATE_NEVER;
  e->id = id ? id : "";
  e->ref = e->code = e->end_code = e->extra = e->reason = e->rne = "";
  e->due = DATE_NEVER;
  e->start_event = f->ev->event_id;
  return e;
}

/* The start event's payload and id that an end names, or 0 for an event
 * that is not the end of an episode. */
static int start_of(const CaseEvent *ev, const char **id) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    *id = ev->referral_closed->referral_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
    *id = ev->early_help_ended->episode_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
    *id = ev->assessment_completed->assessment_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    *id = ev->section47_completed->enquiry_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
    *id = ev->cin_plan_ended->plan_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    *id = ev->cp_plan_ended->plan_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    *id = ev->period_of_care_ended->period_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_ENDED:
    *id = ev->missing_ended->episode_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED;
  default:
    return 0;
  }
}

static const char *started_id(const CaseEvent *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED: return ev->referral_opened->referral_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED: return ev->early_help_started->episode_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED: return ev->assessment_started->assessment_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED: return ev->section47_started->enquiry_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED: return ev->cin_plan_started->plan_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: return ev->cp_plan_started->plan_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED: return ev->period_of_care_started->period_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED: return ev->missing_started->episode_id;
  default: return "";
  }
}

/* True when the end being folded has its start later in the history: the
 * end is dated before its start (end_before_start), not an end of nothing.
 * An end with no id matches any later start of its kind. */
static int starts_later(const struct fold *f) {
  const char *id = "";
  const int kind = start_of(f->ev, &id);
  if (kind == 0)
    return 0;
  for (size_t i = 0; i < f->n; i++) {
    const CaseEvent *ev = f->events[i];
    if (f->live[i] && (int)ev->payload_case == kind && ev->occurred_on > f->ev->occurred_on &&
        (id[0] == '\0' || strcmp(started_id(ev), id) == 0))
      return 1;
  }
  return 0;
}

/*
 * Ends e (found by the caller) on the fold's date. Returns the episode ended,
 * or NULL when nothing was: with no episode (end_without_start), with an end
 * dated before the start (end_before_start), or in pass 1 when e started on
 * this day (the end is then tried again in pass 4).
 */
static struct episode *end_episode(struct fold *f, struct episode *e) {
  if (f->only_earlier)
    return e != NULL && e->start < f->date ? (e->end = f->date, e) : NULL;
  if (e == NULL)
    finding(f, starts_later(f) ? Q_END_BEFORE_START : Q_END_WITHOUT_START);
  else if (f->date < e->start)
    finding(f, Q_END_BEFORE_START);
  else {
    e->end = f->date;
    return e;
  }
  return NULL;
}

/* ---- the CIN pathway --------------------------------------------------------- */

static void on_referral_opened(struct fold *f, const Cscflow__V1__ReferralOpened *r) {
  struct child_state *st = f->st;
  if (open_episode(st->referrals, st->n_referrals, "") != NULL) {
    finding(f, Q_REFERRAL_WHILE_OPEN);
    return;
  }
  const int rereferral = st->n_referrals > 0 &&
                         st->referrals[st->n_referrals - 1].start >= date_add_months(f->date, -12);
  struct episode *e = start_episode(f, &st->referrals, &st->n_referrals, r->referral_id);
  if (e == NULL)
    return;
  e->code = r->source;
  e->extra = r->primary_need;
  if (rereferral)
    e->flags |= EP_REREFERRAL;
  if (r->no_further_action)
    e->flags |= EP_NFA_AT_REFERRAL;
}

static int on_referral_closed(struct fold *f, const Cscflow__V1__ReferralClosed *r) {
  struct child_state *st = f->st;
  struct episode *e = end_episode(f, open_episode(st->referrals, st->n_referrals, r->referral_id));
  if (e == NULL)
    return 0;
  e->end_code = r->closure_reason;
  if (r->no_further_action)
    e->flags |= EP_NFA;
  return 1;
}

/* Completion of an assessment or enquiry; one never started is kept. */
static int on_completed(struct fold *f, struct episode **list, size_t *n, const char *id,
                        const char *ref, uint32_t outcome, struct episode **done) {
  struct episode *e = open_episode(*list, *n, id);
  if (f->only_earlier) {
    if ((*done = end_episode(f, e)) == NULL)
      return 0;
  } else if (e == NULL) {
    /* INDICATORS.md, Completions: "A second completion of the same id is a
     * data-quality finding and counts nothing more." The first counts. */
    if (completed_episode(*list, *n, id) != NULL) {
      finding(f, Q_REPEATED_COMPLETION);
      return 1;
    }
    /* "a completion dated before its start counts as completed but is left
     * out of timeliness": kept, and its start (folded later) joins it. */
    const int misdated = starts_later(f);
    finding(f, misdated ? Q_END_BEFORE_START : Q_END_WITHOUT_START);
    if ((e = start_episode(f, list, n, id)) == NULL)
      return 1;
    e->flags |= EP_NO_START | (misdated ? EP_END_BEFORE_START : 0u);
    e->ref = ref;
    e->end = f->date;
    *done = e;
  } else if ((*done = end_episode(f, e)) == NULL) {
    return 1;
  }
  (*done)->value = outcome;
  return 1;
}

static int on_assessment_completed(struct fold *f, const Cscflow__V1__AssessmentCompleted *a) {
  struct child_state *st = f->st;
  struct episode *e = NULL;
  if (!on_completed(f, &st->assessments, &st->n_assessments, a->assessment_id, a->referral_id,
                    (uint32_t)a->outcome, &e))
    return 0;
  if (e != NULL) {
    e->factors = a->factors;
    e->n_factors = a->n_factors;
  }
  return 1;
}

static int on_enquiry_completed(struct fold *f, const Cscflow__V1__Section47Completed *s) {
  struct child_state *st = f->st;
  struct episode *e = NULL;
  const int folded = on_completed(f, &st->enquiries, &st->n_enquiries, s->enquiry_id, "",
                                  (uint32_t)s->outcome, &e);
  if (e != NULL && s->icpc_not_required)
    e->flags |= EP_ICPC_NOT_REQUIRED;
  return folded;
}

static struct episode *on_started(struct fold *f, struct episode **list, size_t *n,
                                  const char *id, const char *ref) {
  struct episode *e = misdated_episode(*list, *n, id);
  if (e != NULL) { /* the start of a completion dated before it */
    e->start = f->date;
    e->flags &= ~EP_NO_START;
    e->start_event = f->ev->event_id;
    if (ref != NULL && ref[0] != '\0')
      e->ref = ref;
    return e;
  }
  e = start_episode(f, list, n, id);
  if (e != NULL)
    e->ref = ref;
  return e;
}

static void on_enquiry_started(struct fold *f, const Cscflow__V1__Section47Started *s) {
  struct child_state *st = f->st;
  struct episode *e = on_started(f, &st->enquiries, &st->n_enquiries, s->enquiry_id,
                                 s->referral_id);
  csc_date due;
  if (e != NULL && date_from_yyyymmdd(s->icpc_target_date, &due) == CSC_OK)
    e->due = due;
}

/* ---- plans ------------------------------------------------------------------- */

static struct episode *on_plan_started(struct fold *f, enum plan_kind kind, const char *id,
                                       const char *ref) {
  struct child_state *st = f->st;
  struct episode *e = start_episode(f, &st->plans[kind], &st->n_plans[kind], id);
  if (e != NULL)
    e->ref = ref;
  return e;
}

static struct episode *on_plan_ended(struct fold *f, enum plan_kind kind, const char *id) {
  return end_episode(f, open_episode(f->st->plans[kind], f->st->n_plans[kind], id));
}

/* ---- care -------------------------------------------------------------------- */

static int is_short_breaks(const char *legal_status) {
  return strcmp(legal_status, "V3") == 0 || strcmp(legal_status, "V4") == 0;
}

/* The open period of care named id (any open period when id is ""): by its
 * own id, or by the id of a continuing start joined to it (an alias). */
static struct episode *open_period(struct fold *f, const char *id) {
  struct child_state *st = f->st;
  struct episode *e = open_episode(st->plans[PLAN_LAC], st->n_plans[PLAN_LAC], id);
  for (size_t i = st->n_period_aliases; e == NULL && id[0] != '\0' && i-- > 0;) {
    struct episode *p = &st->plans[PLAN_LAC][st->period_aliases[i].value];
    if (p->end == DATE_NEVER && strcmp(st->period_aliases[i].id, id) == 0)
      e = p;
  }
  return e;
}

static void add_legal_status(struct fold *f, const struct episode *period, const char *status,
                             const char *rne) {
  struct child_state *st = f->st;
  struct mark *m = add_mark(f, &st->legal, &st->n_legal, period->id,
                            (uint32_t)(period - st->plans[PLAN_LAC]), 0);
  if (m != NULL) {
    m->code = status;
    m->code2 = rne;
  }
}

/* The period's category of need from the fold's date (SSDA903 CIN). */
static void add_need(struct fold *f, const struct episode *period, const char *need) {
  struct child_state *st = f->st;
  struct mark *m = add_mark(f, &st->needs, &st->n_needs, period->id,
                            (uint32_t)(period - st->plans[PLAN_LAC]), 0);
  if (m != NULL)
    m->code = need;
}

static void start_placement(struct fold *f, const struct episode *period,
                            const Cscflow__V1__Placement *p, const char *reason,
                            const char *rne) {
  struct child_state *st = f->st;
  for (size_t i = 0; i < st->n_placements; i++)
    if (st->placements[i].end == DATE_NEVER && strcmp(st->placements[i].ref, period->id) == 0)
      st->placements[i].end = f->date;
  struct episode *e = start_episode(f, &st->placements, &st->n_placements, "");
  if (e == NULL)
    return;
  e->ref = period->id;
  e->reason = reason ? reason : "";
  e->rne = rne;
  if (p != NULL) {
    e->code = p->placement_type;
    e->extra = p->provider;
    if (p->distance_known) {
      e->flags |= EP_DISTANCE;
      e->value = p->distance_miles_x10;
    }
  }
}

/* The code of the latest mark of period (legal status or need) folded so
 * far; "" when none. Marks are folded in date order. */
static const char *code_in_force(const struct fold *f, const struct mark *marks, size_t n,
                                 const struct episode *period) {
  const uint32_t index = (uint32_t)(period - f->st->plans[PLAN_LAC]);
  for (size_t i = n; i-- > 0;)
    if (marks[i].value == index)
      return marks[i].code;
  return "";
}

/* Whether p is another placement than the period's open one (by type and
 * provider); true when none is open. */
static int placement_differs(const struct fold *f, const struct episode *period,
                             const Cscflow__V1__Placement *p) {
  const struct child_state *st = f->st;
  for (size_t i = st->n_placements; i-- > 0;) {
    const struct episode *pl = &st->placements[i];
    if (pl->end == DATE_NEVER && strcmp(pl->ref, period->id) == 0)
      return strcmp(pl->code, p->placement_type) != 0 || strcmp(pl->extra, p->provider) != 0;
  }
  return 1;
}

/*
 * A continuing start on a day period is open: the source's first record of
 * a period another source (an earlier import, the feed) already has. It
 * opens nothing and raises nothing; what it says that differs from the
 * period's state is a change within the period, from its date (a change of
 * legal status, of need, a new placement). Its period_id becomes an alias,
 * because the same source names the period by that id from now on. The
 * reason for new episode of those changes is not known ("").
 */
static void join_period(struct fold *f, struct episode *period,
                        const Cscflow__V1__PeriodOfCareStarted *p) {
  struct child_state *st = f->st;
  if (p->period_id[0] != '\0' && strcmp(p->period_id, period->id) != 0)
    add_mark(f, &st->period_aliases, &st->n_period_aliases, p->period_id,
             (uint32_t)(period - st->plans[PLAN_LAC]), 0);
  if (p->legal_status[0] != '\0' &&
      strcmp(code_in_force(f, st->legal, st->n_legal, period), p->legal_status) != 0)
    add_legal_status(f, period, p->legal_status, "");
  if (p->category_of_need[0] != '\0' &&
      strcmp(code_in_force(f, st->needs, st->n_needs, period), p->category_of_need) != 0)
    add_need(f, period, p->category_of_need);
  if (p->placement != NULL && placement_differs(f, period, p->placement))
    start_placement(f, period, p->placement, "", "");
}

/*
 * A continuing start (events.proto: the period began before occurred_on, on
 * a day the source does not know) joins the period open that day, if any
 * (join_period). Otherwise it opens a period whose start is unknown
 * (EP_START_UNKNOWN, period_start_unknown): looked after from occurred_on,
 * but not an entry to care (state/facts_internal.h, is_lac_entry), and its
 * first legal status and placement have no RNE "S" (the return had none).
 * Continuing starts fold after the day's other starts (PASS_JOINS), so that
 * a normal start of the same day is joined whatever the order of the two.
 */
static void on_care_started(struct fold *f, const Cscflow__V1__PeriodOfCareStarted *p) {
  struct episode *open = p->continuing ? open_period(f, "") : NULL;
  if (open != NULL) {
    join_period(f, open, p);
    return;
  }
  struct episode *period = on_plan_started(f, PLAN_LAC, p->period_id, "");
  if (period == NULL)
    return;
  const char *rne = p->continuing ? "" : "S";
  period->code = p->legal_status;
  period->extra = p->category_of_need;
  if (p->uasc)
    period->flags |= EP_UASC;
  if (p->continuing) {
    period->flags |= EP_START_UNKNOWN;
    finding(f, Q_PERIOD_START_UNKNOWN);
  }
  add_legal_status(f, period, p->legal_status, rne);
  add_need(f, period, p->category_of_need);
  if (p->placement != NULL)
    start_placement(f, period, p->placement, "", rne);
}

static int on_care_ended(struct fold *f, const Cscflow__V1__PeriodOfCareEnded *p) {
  struct child_state *st = f->st;
  struct episode *period = end_episode(f, open_period(f, p->period_id));
  if (period == NULL)
    return 0;
  period->end_code = p->reason_ceased;
  for (size_t i = 0; i < st->n_placements; i++) {
    struct episode *pl = &st->placements[i];
    if (pl->end == DATE_NEVER && strcmp(pl->ref, period->id) == 0)
      pl->end = f->date;
  }
  return 1;
}

static void on_placement(struct fold *f, const Cscflow__V1__PlacementStarted *p) {
  const struct episode *period = open_period(f, p->period_id);
  if (period == NULL)
    finding(f, Q_PLACEMENT_OUTSIDE_CARE);
  else
    start_placement(f, period, p->placement, p->reason_for_change, p->reason_for_new_episode);
}

static void on_legal_status(struct fold *f, const Cscflow__V1__LegalStatusChanged *l) {
  const struct episode *period = open_period(f, l->period_id);
  if (period == NULL)
    finding(f, Q_END_WITHOUT_START);
  else
    add_legal_status(f, period, l->legal_status, l->reason_for_new_episode);
}

static void on_need_changed(struct fold *f, const Cscflow__V1__CategoryOfNeedChanged *c) {
  const struct episode *period = open_period(f, c->period_id);
  if (period == NULL)
    finding(f, Q_END_WITHOUT_START); /* a change of a period that is not open */
  else
    add_need(f, period, c->category_of_need);
}

/* A missing episode starts whether or not care is open: going missing
 * happened. check_missing reports one that no period of care holds. */
static void on_missing_started(struct fold *f, const Cscflow__V1__MissingStarted *m) {
  struct child_state *st = f->st;
  struct episode *e = start_episode(f, &st->missing, &st->n_missing, m->episode_id);
  if (e != NULL)
    e->value = (uint32_t)m->kind;
}

static int on_missing_ended(struct fold *f, const Cscflow__V1__MissingEnded *m) {
  struct child_state *st = f->st;
  return end_episode(f, open_episode(st->missing, st->n_missing, m->episode_id)) != NULL;
}

static void on_previous_permanence(struct fold *f, const Cscflow__V1__PreviousPermanence *p) {
  struct child_state *st = f->st;
  struct mark *m =
      add_mark(f, &st->prev_permanence, &st->n_prev_permanence, "", p->order_date, 0);
  if (m != NULL) {
    m->code = p->kind_code;
    m->code2 = p->la_code;
  }
}

static int on_adoption(struct fold *f, const Cscflow__V1__AdoptionMilestone *m) {
  struct child_state *st = f->st;
  if (m->stage <= CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_UNSPECIFIED ||
      m->stage > CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION_REVERSED)
    return 1; /* a stage this version does not know: kept, not folded */
  const int reversal = m->stage == CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION_REVERSED;
  struct adoption *j = st->n_adoptions ? &st->adoptions[st->n_adoptions - 1] : NULL;
  const int closed = j == NULL || j->adopted != DATE_NEVER || j->reversed != DATE_NEVER;
  if (reversal && f->only_earlier) /* pass 1: only a journey decided before the day */
    return !closed && j->decision < f->date ? (j->reversed = f->date, 1) : 0;
  if (closed && !reversal) {
    if ((j = push(f, &st->adoptions, &st->n_adoptions, sizeof *j)) == NULL)
      return 1;
    j->decision = j->placement_order = j->matched = j->placed = j->adopted = j->reversed =
        DATE_NEVER;
  }
  if (reversal && closed) {
    finding(f, Q_END_WITHOUT_START); /* a reversal of no decision */
    return 1;
  }
  csc_date *stage[] = {NULL, &j->decision, &j->placement_order, &j->matched, &j->placed,
                       &j->adopted, &j->reversed};
  if (*stage[m->stage] == DATE_NEVER)
    *stage[m->stage] = f->date;
  if (m->early_permanence)
    j->flags |= MK_EARLY_PERMANENCE;
  if (m->placed_with_foster_carer)
    j->flags |= MK_FOSTER_CARER;
  return 1;
}

/* In touch: the 903's IN_TOUCH code when recorded ("YES" only: DIED, REFU,
 * NREQ and RHOM are not in touch), else the in_touch flag. */
static int leaver_in_touch(const Cscflow__V1__CareLeaverContact *c) {
  return c->in_touch_code[0] != '\0' ? strcmp(c->in_touch_code, "YES") == 0 : c->in_touch;
}

static void on_leaver_contact(struct fold *f, const Cscflow__V1__CareLeaverContact *c) {
  struct child_state *st = f->st;
  const uint32_t flags =
      (leaver_in_touch(c) ? MK_IN_TOUCH : 0) | (c->accommodation_suitable ? MK_SUITABLE : 0);
  struct mark *m =
      add_mark(f, &st->leaver_contacts, &st->n_leaver_contacts, "", (uint32_t)c->activity, flags);
  if (m != NULL) {
    m->code = c->activity_code;
    m->code2 = c->accommodation_code;
    m->code3 = c->in_touch_code;
  }
}

/* ---- allocations and the workforce ------------------------------------------- */

static int on_allocation(struct fold *f, const Cscflow__V1__WorkerAllocated *w) {
  struct child_state *st = f->st;
  struct episode *open = open_episode(st->allocations, st->n_allocations, w->worker_id);
  if (w->deallocated) {
    struct episode *e = end_episode(f, open);
    if (e != NULL)
      e->reason = w->end_reason;
    return e != NULL;
  }
  if (open == NULL || w->worker_id[0] == '\0') {
    struct episode *e = start_episode(f, &st->allocations, &st->n_allocations, w->worker_id);
    if (e != NULL)
      e->ref = w->team_id;
  }
  return 1; /* allocating the allocated worker again changes nothing */
}

static int on_workforce(struct fold *f, const Cscflow__V1__WorkforceEvent *w) {
  struct child_state *st = f->st;
  struct episode *job = open_episode(st->employments, st->n_employments, "");
  switch (w->change) {
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED:
    if (job != NULL)
      job->end = f->date; /* a change of hours or of agency status */
    if ((job = start_episode(f, &st->employments, &st->n_employments, w->worker_id)) != NULL) {
      job->value = w->fte_x100;
      job->code = w->ethnicity;
      job->extra = w->team_id;
      if (w->agency)
        job->flags |= EP_AGENCY;
      job->flags |= ((uint32_t)w->seniority & 3u) << EP_SENIORITY_SHIFT;
    }
    /* INDICATORS.md, sw_caseload: "a worker is case-holding when their latest
     * start or caseload report says so": a start is a case-holding statement
     * too (caseload 0: starts report no count). Starts fold before the day's
     * other events, so a report of the same day is the later and holds. */
    add_mark(f, &st->caseloads, &st->n_caseloads, w->worker_id, 0,
             w->case_holding ? MK_CASE_HOLDING : 0);
    return 1;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_LEFT:
    return end_episode(f, job) != NULL;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_ABSENCE:
    add_mark(f, &st->absences, &st->n_absences, w->worker_id, w->sickness_days, 0);
    return 1;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_CASELOAD:
    add_mark(f, &st->caseloads, &st->n_caseloads, w->worker_id, w->caseload,
             w->case_holding ? MK_CASE_HOLDING : 0);
    return 1;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED:
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT:
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED:
    add_mark(f, &st->post_status, &st->n_post_status, w->post_id, w->fte_x100,
             (uint32_t)w->change);
    return 1;
  default:
    return 1;
  }
}

/* ---- one event ---------------------------------------------------------------- */

/*
 * Folds f->ev. Returns 0 only in pass 1 for an end that does not apply to
 * something open before the day (it is folded again in pass 4).
 */
int fold_event(struct fold *f) {
  const CaseEvent *ev = f->ev;
  struct child_state *st = f->st;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    on_referral_opened(f, ev->referral_opened);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    return on_referral_closed(f, ev->referral_closed) || !f->only_earlier;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
    on_started(f, &st->assessments, &st->n_assessments, ev->assessment_started->assessment_id,
               ev->assessment_started->referral_id);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
    return on_assessment_completed(f, ev->assessment_completed);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_STRATEGY_DISCUSSION:
    add_mark(f, &st->strategies, &st->n_strategies, ev->strategy_discussion->referral_id, 0,
             ev->strategy_discussion->section47_agreed ? MK_AGREED : 0);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
    on_enquiry_started(f, ev->section47_started);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    return on_enquiry_completed(f, ev->section47_completed);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD:
    add_mark(f, &st->icpcs, &st->n_icpcs, ev->icpc_held->enquiry_id, 0,
             ev->icpc_held->plan_agreed ? MK_AGREED : 0);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
    on_plan_started(f, PLAN_EH, ev->early_help_started->episode_id, "");
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
    on_plan_started(f, PLAN_CIN, ev->cin_plan_started->plan_id, ev->cin_plan_started->referral_id);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: {
    struct episode *e =
        on_plan_started(f, PLAN_CP, ev->cp_plan_started->plan_id, ev->cp_plan_started->referral_id);
    if (e != NULL) {
      e->code = code_spelling(CODE_ABUSE_CATEGORY, ev->cp_plan_started->initial_category);
      if (ev->cp_plan_started->previous_cp_plans_recorded) {
        e->value = ev->cp_plan_started->previous_cp_plans;
        e->flags |= EP_PREVIOUS_RECORDED;
      }
    }
    return 1;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED: {
    struct episode *e = on_plan_ended(f, PLAN_EH, ev->early_help_ended->episode_id);
    if (e != NULL)
      e->reason = ev->early_help_ended->reason;
    return e != NULL || !f->only_earlier;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
    return on_plan_ended(f, PLAN_CIN, ev->cin_plan_ended->plan_id) != NULL || !f->only_earlier;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED: {
    struct episode *e = on_plan_ended(f, PLAN_CP, ev->cp_plan_ended->plan_id);
    if (e != NULL) {
      e->end_code = code_spelling(CODE_ABUSE_CATEGORY, ev->cp_plan_ended->latest_category);
      e->reason = ev->cp_plan_ended->reason;
    }
    return e != NULL || !f->only_earlier;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN: {
    const Cscflow__V1__ChildSeen *s = ev->child_seen;
    add_mark(f, &st->visits, &st->n_visits, s->plan_id, (uint32_t)s->seen_by,
             s->seen_alone ? MK_ALONE : 0);
    return 1;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    on_care_started(f, ev->period_of_care_started);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    return on_care_ended(f, ev->period_of_care_ended) || !f->only_earlier;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    on_placement(f, ev->placement_started);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    on_legal_status(f, ev->legal_status_changed);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    return on_adoption(f, ev->adoption_milestone);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT:
    on_leaver_contact(f, ev->care_leaver_contact);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE:
    add_mark(f, &st->sdq, &st->n_sdq, "", ev->sdq_score->score, 0);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_COURT_APPLICATION:
    add_mark(f, &st->court, &st->n_court, "", (uint32_t)ev->court_application->kind, 0);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERMANENCE_ORDER:
    add_mark(f, &st->permanence, &st->n_permanence, "", (uint32_t)ev->permanence_order->kind, 0);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    return on_allocation(f, ev->worker_allocated) || !f->only_earlier;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE:
    return on_workforce(f, ev->workforce) || !f->only_earlier;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CATEGORY_OF_NEED_CHANGED:
    on_need_changed(f, ev->category_of_need_changed);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD: {
    const Cscflow__V1__ReviewHeld *r = ev->review_held;
    struct mark *m = add_mark(f, &st->reviews, &st->n_reviews, r->plan_id, (uint32_t)r->kind, 0);
    if (m != NULL) {
      m->code = r->participation_code;
      m->code2 = ev->event_id; /* for review_outside_plan */
    }
    return 1;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED:
    on_missing_started(f, ev->missing_started);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_ENDED:
    return on_missing_ended(f, ev->missing_ended) || !f->only_earlier;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PREVIOUS_PERMANENCE:
    on_previous_permanence(f, ev->previous_permanence);
    return 1;
  default:
    return 1; /* ChildDetails: folded first; unknown payloads: kept, not folded */
  }
}

/* ---- checks that need no state -------------------------------------------------- */

/* unknown_code: a code in no list, or outside the collection years it is
 * valid in (judged by the event's occurred_on): code_event_unknown. */
static int has_unknown_code(const struct fold *f) {
  return code_event_unknown(f->codes, f->ev, f->date);
}

/* Events a child can have before birth: the path to a CP plan for an unborn
 * child. */
static int allowed_before_birth(const CaseEvent *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_STRATEGY_DISCUSSION:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    return 1;
  default:
    return 0;
  }
}

/* 2200-01-01T00:00Z. occurred_on ends with 2199 (date_from_yyyymmdd), so an
 * event recorded at or after this instant is never dated after its
 * recording; and recorded_at far beyond it (a garbled int64) would overflow
 * the date arithmetic of date_london_from_unix_ms. */
#define RECORDED_AT_BEYOND_MS INT64_C(7258118400000)

/* The rules that compare the event's date with others. */
static void check_date(struct fold *f) {
  const CaseEvent *ev = f->ev;
  /* London is never behind UTC, so an event dated no later than the UTC
   * day of its recording is not after it: the London day (a calendar
   * computation every event of every re-fold paid) is needed only for an
   * event dated later than that. */
  if (ev->recorded_at_ms > 0 && ev->recorded_at_ms < RECORDED_AT_BEYOND_MS &&
      f->date > (csc_date)(ev->recorded_at_ms / 86400000) &&
      f->date > date_london_from_unix_ms(ev->recorded_at_ms))
    finding(f, Q_DATE_AFTER_RECORDED);
  const csc_date dob = f->st->details.dob;
  if (dob != DATE_NEVER && f->date < dob &&
      ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS &&
      ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE &&
      (!allowed_before_birth(ev) || f->date < dob - PRE_BIRTH_DAYS))
    finding(f, Q_DATE_BEFORE_BIRTH);
}

/* after_death: dated after the child's date of death. ChildDetails record
 * the death (and may be saved after it); a worker's or a post's history has
 * no death. */
int fold_after_death(const struct child_state *st, const CaseEvent *ev, csc_date date) {
  return date > st->details.death && date >= PLAUSIBLE_FROM &&
         ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS &&
         ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
}

void fold_check(struct fold *f) {
  /* A mistyped date is one thing to fix: it is not also before the birth. */
  if (f->date < PLAUSIBLE_FROM)
    finding(f, Q_IMPLAUSIBLE_DATE);
  else
    check_date(f);
  if (fold_after_death(f->st, f->ev, f->date))
    finding(f, Q_AFTER_DEATH);
  if (has_unknown_code(f))
    finding(f, Q_UNKNOWN_CODE);
}

void fold_merge_details(struct child_details *d, const Cscflow__V1__ChildDetails *c) {
  csc_date x;
  if (date_from_yyyymmdd(c->date_of_birth, &x) == CSC_OK)
    d->dob = x;
  if (date_from_yyyymmdd(c->expected_date_of_birth, &x) == CSC_OK)
    d->expected_dob = x;
  if (date_from_yyyymmdd(c->date_of_death, &x) == CSC_OK)
    d->death = x;
  if (c->sex != CSCFLOW__V1__SEX__SEX_UNSPECIFIED)
    d->sex = c->sex;
  if (c->ethnicity[0] != '\0')
    d->ethnicity = c->ethnicity;
  if (c->disabled || c->n_disabilities > 0)
    d->disabled = 1;
  if (c->uasc)
    d->uasc = 1;
  if (date_from_yyyymmdd(c->uasc_ceased_on, &x) == CSC_OK)
    d->uasc_ceased = x;
}

/* ---- after the last event ---------------------------------------------------- */

/* overlapping_plan: a plan that starts on a day another plan of its kind is
 * open. Checked on the final episodes, so that a plan ending the day the
 * next one starts never overlaps whatever the order of the two events. */
static void check_overlaps(struct fold *f) {
  for (int k = 0; k < PLAN_KIND_COUNT; k++) {
    const struct episode *p = f->st->plans[k];
    for (size_t i = 0; i < f->st->n_plans[k]; i++)
      for (size_t j = 0; j < i; j++)
        if (p[j].start <= p[i].start && p[i].start < p[j].end) {
          finding_for(f, p[i].start_event, Q_OVERLAPPING_PLAN);
          break;
        }
  }
}

/* True when an episode of eps (named id, or any with no id) holds date,
 * its end date included: a review held the day a plan ends (the review
 * conference that ends it) reviews that plan. */
static int held_on(const struct episode *eps, size_t n, const char *id, csc_date date) {
  for (size_t i = 0; i < n; i++)
    if ((id[0] == '\0' || strcmp(eps[i].id, id) == 0) && eps[i].start <= date &&
        (eps[i].end == DATE_NEVER || date <= eps[i].end))
      return 1;
  return 0;
}

/* A LAC review naming a continuing start's period_id reviews the period it
 * joined: the review takes that period's id, whatever its date (an alias
 * names the period for good), so that review_outside_plan and the review
 * facts match it by id like any other. */
static void resolve_review_aliases(struct fold *f) {
  struct child_state *st = f->st;
  for (size_t i = 0; i < st->n_reviews; i++) {
    struct mark *r = &st->reviews[i];
    if (r->value != CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC || r->id[0] == '\0')
      continue;
    for (size_t j = 0; j < st->n_period_aliases; j++)
      if (strcmp(st->period_aliases[j].id, r->id) == 0) {
        r->id = st->plans[PLAN_LAC][st->period_aliases[j].value].id;
        break;
      }
  }
}

/* review_outside_plan: a CP review with no CP plan open on its date, or a
 * LAC review with no period of care. Checked on the final episodes, so that
 * the order of the events of one day never matters. A review of another
 * kind (one this version does not know) is kept and not checked. */
static void check_reviews(struct fold *f) {
  const struct child_state *st = f->st;
  for (size_t i = 0; i < st->n_reviews; i++) {
    const struct mark *r = &st->reviews[i];
    const int kind = r->value == CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_CP    ? PLAN_CP
                     : r->value == CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC ? PLAN_LAC
                                                                            : -1;
    if (kind >= 0 && !held_on(st->plans[kind], st->n_plans[kind], r->id, r->date))
      finding_for(f, r->code2, Q_REVIEW_OUTSIDE_PLAN);
  }
}

/* missing_outside_care: a missing or away episode that starts on a day no
 * period of care is open (s <= d < e). */
static void check_missing(struct fold *f) {
  const struct child_state *st = f->st;
  for (size_t i = 0; i < st->n_missing; i++) {
    const struct episode *m = &st->missing[i];
    int in_care = 0;
    for (size_t p = 0; p < st->n_plans[PLAN_LAC] && !in_care; p++) {
      const struct episode *period = &st->plans[PLAN_LAC][p];
      in_care = period->start <= m->start && m->start < period->end;
    }
    if (!in_care)
      finding_for(f, m->start_event, Q_MISSING_OUTSIDE_CARE);
  }
}

/*
 * The days each period of care was looked after: the period minus the days
 * under V3/V4. A period with none is short breaks. Legal statuses were
 * folded in date order, so each period's marks are sorted. A span's value
 * is its period's index in plans[PLAN_LAC], so that the facts can ask
 * whether a period was looked after on a given day (its entry, its last
 * day: INDICATORS.md, Conventions, "Exclusions").
 */
static void derive_care_spans(struct fold *f) {
  struct child_state *st = f->st;
  for (size_t p = 0; p < st->n_plans[PLAN_LAC]; p++) {
    struct episode *period = &st->plans[PLAN_LAC][p];
    int looked_after = 0;
    for (size_t i = 0; i < st->n_legal; i++) {
      const struct mark *m = &st->legal[i];
      if (m->value != p || is_short_breaks(m->code))
        continue;
      csc_date to = period->end;
      for (size_t j = i + 1; j < st->n_legal; j++)
        if (st->legal[j].value == p) {
          to = st->legal[j].date;
          break;
        }
      if (m->date >= to)
        continue;
      looked_after = 1;
      struct episode *last = st->n_care_spans ? &st->care_spans[st->n_care_spans - 1] : NULL;
      if (last != NULL && last->end == m->date && last->start_event == period->start_event)
        last->end = to; /* one span across a change between two looked-after statuses */
      else if ((last = push(f, &st->care_spans, &st->n_care_spans, sizeof *last)) != NULL)
        *last = (struct episode){.start = m->date, .end = to, .id = period->id, .ref = "",
                                 .code = m->code, .end_code = "", .extra = "", .reason = "",
                                 .start_event = period->start_event, .value = (uint32_t)p};
    }
    if (!looked_after)
      period->flags |= EP_SHORT_BREAKS;
  }
}

int fold_after_last(struct fold *f) {
  check_overlaps(f);
  resolve_review_aliases(f);
  check_reviews(f);
  check_missing(f);
  derive_care_spans(f);
  return f->oom ? CSC_ENOMEM : CSC_OK;
}
