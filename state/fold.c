/*
 * The child state machine: a history (any order) in, the child's episodes out.
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
#include "state/fold_resume.h"
#include "state/state.h"

/* Pre-birth work on the path to a child protection plan is legitimate for an
 * unborn child, up to about 40 weeks before birth. */
#define PRE_BIRTH_DAYS 280

/* 1900-01-01: an occurred_on before it is implausible_date. */
#define PLAUSIBLE_FROM ((csc_date)-25567)

enum role { ROLE_START, ROLE_JOIN, ROLE_MIDDLE, ROLE_END };
enum { PASS_EARLIER_ENDS, PASS_STARTS, PASS_JOINS, PASS_MIDDLE, PASS_ENDS };

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

static int event_compare(const void *pa, const void *pb) {
  const CaseEvent *a = *(CaseEvent *const *)pa, *b = *(CaseEvent *const *)pb;
  if (a->occurred_on != b->occurred_on)
    return a->occurred_on < b->occurred_on ? -1 : 1;
  if (a->recorded_at_ms != b->recorded_at_ms)
    return a->recorded_at_ms < b->recorded_at_ms ? -1 : 1;
  return strcmp(a->event_id, b->event_id);
}

/*
 * What one pass over a history finds, so that the steps with nothing to do
 * skip their own pass: on a long history each pass is a cache miss an
 * event. A history is stored in arrival order, which is nearly always
 * occurred order already, so the sort is nearly always spared (it was a
 * fifth of the cost of a long history's re-fold); corrections, DfE records
 * and returns' events are rare in a live feed.
 */
struct survey {
  int unsorted;     /* an event before the one it follows (event_compare) */
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
    sv->unsorted |= i > 0 && event_compare(&events[i - 1], &events[i]) > 0;
    sv->records |= ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_RECORD;
    sv->corrections |= ev->supersedes_event_id[0] != '\0' || ev->retracts_event_id[0] != '\0';
    if (ev->source_system != source) {
      source = ev->source_system;
      returned = ingest_is_return_source(source);
    }
    sv->returned += (size_t)returned;
  }
}

/* The role a pass folds: the earlier ends and the remaining ends are both
 * ROLE_END (fold_event folds in the first only what was open before). */
static enum role pass_role(int pass) {
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

static enum role event_role(const CaseEvent *ev) {
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
static int fold_event(struct fold *f) {
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
static int after_death(const struct child_state *st, const CaseEvent *ev, csc_date date) {
  return date > st->details.death && date >= PLAUSIBLE_FROM &&
         ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS &&
         ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
}

static void check_event(struct fold *f) {
  /* A mistyped date is one thing to fix: it is not also before the birth. */
  if (f->date < PLAUSIBLE_FROM)
    finding(f, Q_IMPLAUSIBLE_DATE);
  else
    check_date(f);
  if (after_death(f->st, f->ev, f->date))
    finding(f, Q_AFTER_DEATH);
  if (has_unknown_code(f))
    finding(f, Q_UNKNOWN_CODE);
}

static void merge_details(struct child_details *d, const Cscflow__V1__ChildDetails *c) {
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
      check_event(f);
      w->live[i] = w->dates[i] >= PLAUSIBLE_FROM && !after_death(f->st, f->ev, w->dates[i]);
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
        w->roles[j] = (uint8_t)event_role(events[j]);
        present |= 1u << w->roles[j];
      }
    if (take != NULL && j == n)
      take_checkpoint(f, w, n_checked, i, recycle, take);
    for (int pass = PASS_EARLIER_ENDS; pass <= PASS_ENDS; pass++) {
      const enum role wanted = pass_role(pass);
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

/* What is checked on the final state, after the last day. */
static int fold_finish(struct fold *f) {
  check_overlaps(f);
  resolve_review_aliases(f);
  check_reviews(f);
  check_missing(f);
  derive_care_spans(f);
  return f->oom ? CSC_ENOMEM : CSC_OK;
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
    qsort(events, n, sizeof *events, event_compare);
  resolve_corrections(events, n, w.live, sv.corrections);
  if (sv.returned >= 2) /* fewer restate nothing */
    resolve_restatements(events, n, w.live, a);
  convert_dates(events, 0, n, &w);
  for (size_t i = 0; i < n; i++)
    if (w.live[i] && w.dates[i] >= PLAUSIBLE_FROM &&
        events[i]->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS)
      merge_details(&st->details, events[i]->child_details);
  check_events(&f, 0, &w);
  /* A checkpoint points into the events, not into records expanded into
   * a; a correction may name an event still to come. */
  const int keep = take != NULL && n > 0 && !records && !sv.corrections;
  fold_days(&f, 0, &w, st->n_findings, recycle, keep ? take : NULL);
  if (keep && *take != NULL &&
      name_checkpoint(*take, stored_first, stored_last, events, sv.unsorted) != CSC_OK)
    drop_checkpoint(take, recycle);
  return fold_finish(&f);
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
    if (event_compare(before, &events[i]) > 0 ||
        ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_RECORD ||
        ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS ||
        ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET ||
        ev->supersedes_event_id[0] != '\0' || ev->retracts_event_id[0] != '\0' ||
        ingest_is_return_source(ev->source_system))
      return 0;
    if (r->orphan_end && event_role(ev) != ROLE_MIDDLE && event_role(ev) != ROLE_END)
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
    (*take)->orphan_end = has_orphan_end(&(*take)->st);
    if (name_checkpoint(*take, stored_first, stored_last, events, sorted) != CSC_OK)
      drop_checkpoint(take, r);
  }
  return fold_finish(&f);
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
