/*
 * feed_writer.c — see feed_writer.h. The SSD is modelled as one record per
 * child; each night renders every changed child's document with jansson.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/sha2.h>

#include "tests/feed_writer.h"

typedef Cscflow__V1__CaseEvent CaseEvent;

#define GROW(arr, n, cap)                                                                    \
  do {                                                                                       \
    if ((n) == (cap)) {                                                                      \
      (cap) = (cap) ? 2 * (cap) : 4;                                                         \
      void *grown_ = realloc((arr), (cap) * sizeof *(arr));                                  \
      if (grown_ == NULL)                                                                    \
        abort(); /* a test's allocation */                                                   \
      (arr) = grown_;                                                                        \
    }                                                                                        \
  } while (0)

struct assessment {
  char id[40];
  csc_date start, authorised;
  char factors[16][8];
  size_t n_factors;
};

struct plan {
  char id[40];
  csc_date start, end;
};

struct enquiry {
  char id[40];
  csc_date start, icpc, end;
  int icpc_required; /* -1: not known yet */
};

struct worker {
  char id[16];
  csc_date start, end;
};

struct episode {
  char id[40];
  csc_date referral, closed;
  char source[4], closure[4];
  int nfa; /* -1: not recorded */
  struct assessment *as;
  size_t n_as, cap_as;
  struct plan *cin, *cp;
  size_t n_cin, cap_cin, n_cp, cap_cp;
  struct enquiry *s47;
  size_t n_s47, cap_s47;
  struct worker *workers;
  size_t n_workers, cap_workers;
};

struct placement {
  char id[48], period[40];
  csc_date start, end;
  char start_reason[4], end_reason[4], type[4], district[8], change[8];
};

struct sdq {
  csc_date day;
  int score;
};

struct child {
  char id[64];
  int has_details;
  csc_date born;
  int sex;
  char ethnicity[8];
  char disabilities[12][8];
  size_t n_disabilities;
  int uasc;
  csc_date uasc_end;
  struct episode *eps;
  size_t n_eps, cap_eps;
  struct placement *pls;
  size_t n_pls, cap_pls;
  struct sdq *sdqs;
  size_t n_sdqs, cap_sdqs;
  csc_date adopt_decision, adopt_matched, adopt_placed;
  csc_date leaver_contact;
  char leaver_activity[4], leaver_accommodation[4];
  int changed;              /* an event changed its record since the last run */
  char *sent;               /* the last full payload sent (partial mode's previous) */
  uint8_t sent_hash[32];    /* the semantic payload's hash at the last send */
  int ever_sent, unfaithful;
  csc_date rendered_from; /* the window start of its last rendering */
};

struct writer {
  csc_date partial_from;
  struct child *children;
  size_t n, cap;
  struct writer_stats stats;
};

/* ---- the records -------------------------------------------------------------------- */

static struct child *child_of(struct writer *w, const char *id) {
  for (size_t i = w->n; i-- > 0;) /* recent children are the likeliest */
    if (strcmp(w->children[i].id, id) == 0)
      return &w->children[i];
  GROW(w->children, w->n, w->cap);
  struct child *c = &w->children[w->n++];
  memset(c, 0, sizeof *c);
  snprintf(c->id, sizeof c->id, "%s", id);
  w->stats.children++;
  return c;
}

static csc_date day_of(uint32_t yyyymmdd) {
  csc_date d = 0;
  return date_from_yyyymmdd(yyyymmdd, &d) == CSC_OK ? d : 0;
}

static void copy(char *dst, size_t len, const char *src) { snprintf(dst, len, "%s", src ? src : ""); }

static struct episode *episode_named(struct child *c, const char *referral) {
  for (size_t i = 0; i < c->n_eps; i++)
    if (strcmp(c->eps[i].id, referral) == 0)
      return &c->eps[i];
  return NULL;
}

/* The episode open at the end of the child's record (the latest unclosed). */
static struct episode *episode_open(struct child *c) {
  for (size_t i = c->n_eps; i-- > 0;)
    if (c->eps[i].closed == 0)
      return &c->eps[i];
  return NULL;
}

#define FIND_IN_EPISODES(c, field, count, key, out)                                          \
  do {                                                                                       \
    (out) = NULL;                                                                            \
    for (size_t e_ = 0; (out) == NULL && e_ < (c)->n_eps; e_++)                              \
      for (size_t i_ = 0; i_ < (c)->eps[e_].count; i_++)                                     \
        if (strcmp((c)->eps[e_].field[i_].id, (key)) == 0) {                                 \
          (out) = &(c)->eps[e_].field[i_];                                                   \
          break;                                                                             \
        }                                                                                    \
  } while (0)

static struct placement *placement_last(struct child *c, const char *period) {
  for (size_t i = c->n_pls; i-- > 0;)
    if (strcmp(c->pls[i].period, period) == 0)
      return &c->pls[i];
  return NULL;
}

static void place(struct child *c, const char *period, csc_date day,
                  const Cscflow__V1__Placement *where, const char *rne, const char *change) {
  struct placement *prev = placement_last(c, period);
  size_t nth = 0;
  for (size_t i = 0; i < c->n_pls; i++)
    nth += strcmp(c->pls[i].period, period) == 0;
  if (prev != NULL && prev->end == 0) { /* the placement before ends as an SSDA903 episode does */
    prev->end = day;
    copy(prev->end_reason, sizeof prev->end_reason, "X1");
  }
  GROW(c->pls, c->n_pls, c->cap_pls);
  struct placement *p = &c->pls[c->n_pls++];
  memset(p, 0, sizeof *p);
  snprintf(p->id, sizeof p->id, "%.38s-%zu", period, nth + 1);
  copy(p->period, sizeof p->period, period);
  p->start = day;
  copy(p->start_reason, sizeof p->start_reason, rne);
  copy(p->change, sizeof p->change, change);
  if (where != NULL) {
    copy(p->type, sizeof p->type, where->placement_type);
    copy(p->district, sizeof p->district, where->postcode_district);
  }
}

static void take_details(struct child *c, const Cscflow__V1__ChildDetails *d) {
  c->has_details = 1;
  c->born = day_of(d->date_of_birth);
  c->sex = d->sex;
  copy(c->ethnicity, sizeof c->ethnicity, d->ethnicity);
  c->n_disabilities = 0;
  for (size_t i = 0; i < d->n_disabilities && i < 12; i++)
    copy(c->disabilities[c->n_disabilities++], 8, d->disabilities[i]);
  c->uasc = d->uasc;
  c->uasc_end = day_of(d->uasc_ceased_on);
}

static int take_referral(struct child *c, const CaseEvent *ev, csc_date day) {
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED) {
    const Cscflow__V1__ReferralOpened *r = ev->referral_opened;
    GROW(c->eps, c->n_eps, c->cap_eps);
    struct episode *e = &c->eps[c->n_eps++];
    memset(e, 0, sizeof *e);
    copy(e->id, sizeof e->id, r->referral_id);
    e->referral = day;
    copy(e->source, sizeof e->source, r->source);
    e->nfa = r->no_further_action;
    return 1;
  }
  const Cscflow__V1__ReferralClosed *r = ev->referral_closed;
  struct episode *e = episode_named(c, r->referral_id);
  if (e == NULL)
    return 0;
  e->closed = day;
  copy(e->closure, sizeof e->closure, r->closure_reason);
  e->nfa = r->no_further_action || e->nfa == 1;
  return 1;
}

static int take_assessment(struct child *c, const CaseEvent *ev, csc_date day) {
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED) {
    struct episode *e = episode_named(c, ev->assessment_started->referral_id);
    if (e == NULL)
      return 0;
    GROW(e->as, e->n_as, e->cap_as);
    struct assessment *a = &e->as[e->n_as++];
    memset(a, 0, sizeof *a);
    copy(a->id, sizeof a->id, ev->assessment_started->assessment_id);
    a->start = day;
    return 1;
  }
  const Cscflow__V1__AssessmentCompleted *done = ev->assessment_completed;
  struct assessment *a;
  FIND_IN_EPISODES(c, as, n_as, done->assessment_id, a);
  if (a == NULL)
    return 0;
  a->authorised = day;
  a->n_factors = 0;
  for (size_t i = 0; i < done->n_factors && i < 16; i++)
    copy(a->factors[a->n_factors++], 8, done->factors[i]);
  return 1;
}

static int take_enquiry(struct child *c, const CaseEvent *ev, csc_date day) {
  struct enquiry *q;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED: {
    struct episode *e = episode_named(c, ev->section47_started->referral_id);
    if (e == NULL)
      return 0;
    GROW(e->s47, e->n_s47, e->cap_s47);
    q = &e->s47[e->n_s47++];
    memset(q, 0, sizeof *q);
    copy(q->id, sizeof q->id, ev->section47_started->enquiry_id);
    q->start = day;
    q->icpc_required = -1;
    return 1;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD:
    FIND_IN_EPISODES(c, s47, n_s47, ev->icpc_held->enquiry_id, q);
    if (q == NULL)
      return 0;
    q->icpc = day;
    return 1;
  default:
    FIND_IN_EPISODES(c, s47, n_s47, ev->section47_completed->enquiry_id, q);
    if (q == NULL)
      return 0;
    q->end = day;
    q->icpc_required = !ev->section47_completed->icpc_not_required;
    return 1;
  }
}

static int take_plan(struct child *c, const CaseEvent *ev, csc_date day) {
  struct plan *p;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: {
    const int cp = ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
    struct episode *e = episode_named(c, cp ? ev->cp_plan_started->referral_id
                                             : ev->cin_plan_started->referral_id);
    if (e == NULL)
      return 0;
    if (cp) {
      GROW(e->cp, e->n_cp, e->cap_cp);
      p = &e->cp[e->n_cp++];
    } else {
      GROW(e->cin, e->n_cin, e->cap_cin);
      p = &e->cin[e->n_cin++];
    }
    memset(p, 0, sizeof *p);
    copy(p->id, sizeof p->id, cp ? ev->cp_plan_started->plan_id : ev->cin_plan_started->plan_id);
    p->start = day;
    return 1;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
    FIND_IN_EPISODES(c, cin, n_cin, ev->cin_plan_ended->plan_id, p);
    break;
  default:
    FIND_IN_EPISODES(c, cp, n_cp, ev->cp_plan_ended->plan_id, p);
    break;
  }
  if (p == NULL)
    return 0;
  p->end = day;
  return 1;
}

static int take_care(struct child *c, const CaseEvent *ev, csc_date day) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    place(c, ev->period_of_care_started->period_id, day, ev->period_of_care_started->placement,
          "S", "");
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED: {
    const Cscflow__V1__PlacementStarted *p = ev->placement_started;
    place(c, p->period_id, day, p->placement, p->reason_for_new_episode, p->reason_for_change);
    return 1;
  }
  default: {
    struct placement *p = placement_last(c, ev->period_of_care_ended->period_id);
    if (p == NULL)
      return 0;
    p->end = day;
    copy(p->end_reason, sizeof p->end_reason, ev->period_of_care_ended->reason_ceased);
    return 1;
  }
  }
}

static int take_worker(struct child *c, const Cscflow__V1__WorkerAllocated *a, csc_date day) {
  struct episode *e = episode_open(c);
  if (e == NULL)
    return 0;
  if (a->deallocated) {
    for (size_t i = e->n_workers; i-- > 0;)
      if (strcmp(e->workers[i].id, a->worker_id) == 0 && e->workers[i].end == 0) {
        e->workers[i].end = day;
        return 1;
      }
    return 0;
  }
  GROW(e->workers, e->n_workers, e->cap_workers);
  struct worker *k = &e->workers[e->n_workers++];
  memset(k, 0, sizeof *k);
  copy(k->id, sizeof k->id, a->worker_id);
  k->start = day;
  return 1;
}

static int take_mark(struct child *c, const CaseEvent *ev, csc_date day) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE:
    GROW(c->sdqs, c->n_sdqs, c->cap_sdqs);
    c->sdqs[c->n_sdqs++] = (struct sdq){day, (int)ev->sdq_score->score};
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    switch (ev->adoption_milestone->stage) {
    case CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION: c->adopt_decision = day; return 1;
    case CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_MATCHED: c->adopt_matched = day; return 1;
    case CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_PLACED: c->adopt_placed = day; return 1;
    default: return 0; /* the document has no other stage */
    }
  default: /* the SSD keeps a care leaver's latest contact */
    c->leaver_contact = day;
    copy(c->leaver_activity, sizeof c->leaver_activity, ev->care_leaver_contact->activity_code);
    copy(c->leaver_accommodation, sizeof c->leaver_accommodation,
         ev->care_leaver_contact->accommodation_code);
    return 1;
  }
}

void writer_take(struct writer *w, const CaseEvent *ev) {
  if (ev->child_id == NULL || ev->child_id[0] == '\0') {
    w->stats.ignored_events++; /* the workforce */
    return;
  }
  struct child *c = child_of(w, ev->child_id);
  const csc_date day = day_of(ev->occurred_on);
  int used = 0;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS:
    take_details(c, ev->child_details);
    used = 1;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED: used = take_referral(c, ev, day); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED: used = take_assessment(c, ev, day); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED: used = take_enquiry(c, ev, day); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED: used = take_plan(c, ev, day); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED: used = take_care(c, ev, day); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    used = take_worker(c, ev->worker_allocated, day);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT: used = take_mark(c, ev, day); break;
  default: break;
  }
  if (used)
    c->changed = 1;
  else
    w->stats.ignored_events++;
}

/* ---- the documents ------------------------------------------------------------------ */

/* The cohort window of a run (adopters.md 1.2): from 1 April of the
 * financial year holding the run date less 24 months. */
static csc_date window_start(csc_date run) { return date_fy_start(date_add_months(run, -24)); }

static void set_date(json_t *o, const char *key, csc_date d) {
  if (d != 0) {
    char buf[16];
    json_object_set_new(o, key, json_string(date_format(d, buf)));
  }
}

static void set_str(json_t *o, const char *key, const char *s) {
  if (s[0] != '\0')
    json_object_set_new(o, key, json_string(s));
}

/* semantic: the hash's document, without ids, pupil numbers, placement
 * reasons, factors and the ICPC flag (dfe-sender.md section 3). */
static json_t *details_json(const struct child *c, int semantic) {
  static const char *const sexes[] = {"U", "M", "F", "U"};
  json_t *d = json_object();
  if (!semantic)
    json_object_set_new(d, "unique_pupil_number", json_string("A123456789012"));
  json_object_set_new(d, "first_name", json_string("Zo\xc3\xab")); /* the receiver drops names */
  json_object_set_new(d, "surname", json_string("Example"));
  set_date(d, "date_of_birth", c->born);
  json_object_set_new(d, "sex", json_string(sexes[c->sex & 3]));
  set_str(d, "ethnicity", c->ethnicity);
  json_t *dis = json_array();
  for (size_t i = 0; i < c->n_disabilities; i++)
    json_array_append_new(dis, json_string(c->disabilities[i]));
  if (c->n_disabilities == 0)
    json_array_append_new(dis, json_string("NONE"));
  json_object_set_new(d, "disabilities", dis);
  json_object_set_new(d, "postcode", json_string("ZZ99 3WZ"));
  json_object_set_new(d, "uasc_flag", json_boolean(c->uasc));
  set_date(d, "uasc_end_date", c->uasc_end);
  json_object_set_new(d, "purge", json_false());
  return d;
}

static void set_id(json_t *o, const char *key, const char *id, int semantic) {
  if (!semantic)
    json_object_set_new(o, key, json_string(id));
}

/* Whether an item that ended on end (0: open) is cut from a run whose
 * window starts on from. */
static int cut(csc_date end, csc_date from) { return end != 0 && end < from; }

static json_t *plans_json(const struct plan *p, size_t n, const char *key, csc_date from,
                          int semantic) {
  json_t *arr = json_array();
  for (size_t i = 0; i < n; i++) {
    if (cut(p[i].end, from))
      continue;
    json_t *o = json_object();
    set_id(o, key, p[i].id, semantic);
    set_date(o, "start_date", p[i].start);
    set_date(o, "end_date", p[i].end);
    json_object_set_new(o, "purge", json_false());
    json_array_append_new(arr, o);
  }
  return arr;
}

static void set_list(json_t *o, const char *key, json_t *arr) {
  if (json_array_size(arr) > 0) /* an empty FOR JSON is NULL: the key is left out */
    json_object_set_new(o, key, arr);
  else
    json_decref(arr);
}

static json_t *placement_json(const struct placement *p, int semantic) {
  json_t *o = json_object();
  set_id(o, "child_looked_after_placement_id", p->id, semantic);
  set_date(o, "start_date", p->start);
  if (!semantic)
    set_str(o, "start_reason", p->start_reason);
  if (p->district[0] != '\0') {
    char postcode[16];
    snprintf(postcode, sizeof postcode, "%s 1AA", p->district); /* a full postcode */
    json_object_set_new(o, "postcode", json_string(postcode));
  }
  set_str(o, "placement_type", p->type);
  set_date(o, "end_date", p->end);
  if (!semantic) {
    set_str(o, "end_reason", p->end_reason);
    set_str(o, "change_reason", p->change);
  }
  json_object_set_new(o, "purge", json_false());
  return o;
}

static json_t *episode_json(const struct episode *e, csc_date from, int semantic) {
  json_t *o = json_object();
  set_id(o, "social_care_episode_id", e->id, semantic);
  set_date(o, "referral_date", e->referral);
  set_str(o, "referral_source", e->source);
  set_date(o, "closure_date", e->closed);
  set_str(o, "closure_reason", e->closure);
  if (e->nfa >= 0)
    json_object_set_new(o, "referral_no_further_action_flag", json_boolean(e->nfa));
  json_t *arr = json_array();
  for (size_t i = 0; i < e->n_workers; i++) {
    if (cut(e->workers[i].end, from))
      continue;
    json_t *k = json_object();
    json_object_set_new(k, "worker_id", json_string(e->workers[i].id));
    set_date(k, "start_date", e->workers[i].start);
    set_date(k, "end_date", e->workers[i].end);
    json_array_append_new(arr, k);
  }
  set_list(o, "care_worker_details", arr);
  arr = json_array();
  for (size_t i = 0; i < e->n_as; i++) {
    const struct assessment *a = &e->as[i];
    if (cut(a->authorised, from))
      continue;
    json_t *k = json_object();
    set_id(k, "child_and_family_assessment_id", a->id, semantic);
    set_date(k, "start_date", a->start);
    set_date(k, "authorisation_date", a->authorised);
    if (!semantic) {
      json_t *f = json_array();
      for (size_t j = 0; j < a->n_factors; j++)
        json_array_append_new(f, json_string(a->factors[j]));
      json_object_set_new(k, "factors", f); /* [] when none, never left out */
    }
    json_object_set_new(k, "purge", json_false());
    json_array_append_new(arr, k);
  }
  set_list(o, "child_and_family_assessments", arr);
  set_list(o, "child_in_need_plans", plans_json(e->cin, e->n_cin, "child_in_need_plan_id", from, semantic));
  arr = json_array();
  for (size_t i = 0; i < e->n_s47; i++) {
    const struct enquiry *q = &e->s47[i];
    if (cut(q->end, from))
      continue;
    json_t *k = json_object();
    set_id(k, "section_47_assessment_id", q->id, semantic);
    set_date(k, "start_date", q->start);
    if (!semantic && q->icpc_required >= 0)
      json_object_set_new(k, "icpc_required_flag", json_boolean(q->icpc_required));
    set_date(k, "icpc_date", q->icpc);
    set_date(k, "end_date", q->end);
    json_object_set_new(k, "purge", json_false());
    json_array_append_new(arr, k);
  }
  set_list(o, "section_47_assessments", arr);
  set_list(o, "child_protection_plans",
           plans_json(e->cp, e->n_cp, "child_protection_plan_id", from, semantic));
  return o;
}

/* Whether the episode is in the run's window: referred by the run date, and
 * open or closed in the window. */
static int episode_in(const struct episode *e, csc_date from, csc_date run) {
  return e->referral <= run && !cut(e->closed, from);
}

/* The episode a placement sits in: the latest in the window referred on or
 * before its start, else the first in the window; -1 when none is. */
static long episode_for(const struct child *c, const struct placement *p, csc_date from,
                        csc_date run) {
  long best = -1, first = -1;
  for (size_t i = 0; i < c->n_eps; i++) {
    if (!episode_in(&c->eps[i], from, run))
      continue;
    if (first < 0)
      first = (long)i;
    if (c->eps[i].referral <= p->start)
      best = (long)i;
  }
  return best >= 0 ? best : first;
}

/* The child's document on run date run (NULL: not in the cohort). *lost is
 * set when something of the record has no episode to sit in. */
static json_t *document(const struct child *c, csc_date run, int semantic, int *lost) {
  const csc_date from = window_start(run);
  json_t *eps = json_array();
  long *index = calloc(c->n_eps + 1, sizeof *index);
  if (index == NULL)
    abort();
  for (size_t i = 0; i < c->n_eps; i++) {
    index[i] = -1;
    if (episode_in(&c->eps[i], from, run)) {
      index[i] = (long)json_array_size(eps);
      json_array_append_new(eps, episode_json(&c->eps[i], from, semantic));
    }
  }
  for (size_t i = 0; i < c->n_pls; i++) {
    if (cut(c->pls[i].end, from))
      continue;
    const long e = episode_for(c, &c->pls[i], from, run);
    if (e < 0) {
      *lost = 1;
      continue;
    }
    json_t *ep = json_array_get(eps, (size_t)index[e]);
    json_t *arr = json_object_get(ep, "child_looked_after_placements");
    if (arr == NULL)
      json_object_set_new(ep, "child_looked_after_placements", arr = json_array());
    json_array_append_new(arr, placement_json(&c->pls[i], semantic));
  }
  free(index);
  const int adopted = c->adopt_decision || c->adopt_matched || c->adopt_placed;
  if (json_array_size(eps) == 0) {
    *lost |= adopted || c->leaver_contact;
    json_decref(eps);
    return NULL;
  }
  for (size_t i = 0; i < json_array_size(eps); i++) { /* repeated in each episode */
    json_t *ep = json_array_get(eps, i);
    if (adopted) {
      json_t *a = json_object();
      set_date(a, "initial_decision_date", c->adopt_decision);
      set_date(a, "matched_date", c->adopt_matched);
      set_date(a, "placed_date", c->adopt_placed);
      json_object_set_new(a, "purge", json_false());
      json_object_set_new(ep, "adoption", a);
    }
    if (c->leaver_contact) {
      json_t *l = json_object();
      set_date(l, "contact_date", c->leaver_contact);
      set_str(l, "activity", c->leaver_activity);
      set_str(l, "accommodation", c->leaver_accommodation);
      json_object_set_new(l, "purge", json_false());
      json_object_set_new(ep, "care_leavers", l);
    }
    json_object_set_new(ep, "purge", json_false());
  }
  json_t *doc = json_object();
  json_object_set_new(doc, "la_child_id", json_string(c->id));
  if (!semantic)
    json_object_set_new(doc, "mis_child_id", json_string(c->id)); /* the legacy id */
  json_object_set_new(doc, "purge", json_false());
  json_object_set_new(doc, "child_details", details_json(c, semantic));
  json_t *sdqs = json_array();
  for (size_t i = 0; i < c->n_sdqs; i++)
    if (c->sdqs[i].day >= from) {
      json_t *s = json_object();
      set_date(s, "date", c->sdqs[i].day);
      json_object_set_new(s, "score", json_integer(c->sdqs[i].score));
      json_array_append_new(sdqs, s);
    }
  if (json_array_size(sdqs) > 0) {
    json_t *h = json_object();
    json_object_set_new(h, "sdq_assessments", sdqs);
    json_object_set_new(h, "purge", json_false());
    json_object_set_new(doc, "health_and_wellbeing", h);
  } else {
    json_decref(sdqs);
  }
  json_object_set_new(doc, "social_care_episodes", eps);
  return doc;
}

/* ---- partial documents -------------------------------------------------------------- */

static const char *const item_ids[] = {
    "social_care_episode_id",   "child_and_family_assessment_id", "child_in_need_plan_id",
    "child_protection_plan_id", "section_47_assessment_id",       "child_looked_after_placement_id"};

/* The id key of a list's items, or NULL for a list without ids. */
static const char *id_key(const json_t *item) {
  for (size_t i = 0; i < sizeof item_ids / sizeof *item_ids; i++)
    if (json_object_get(item, item_ids[i]) != NULL)
      return item_ids[i];
  return NULL;
}

static json_t *diff_object(const json_t *prev, const json_t *cur);

/* A changed list: items matched by id carry it and what changed (a new
 * item whole); a list without ids goes whole. */
static json_t *diff_list(const json_t *prev, const json_t *cur) {
  const char *key = json_array_size(cur) ? id_key(json_array_get(cur, 0)) : NULL;
  if (key == NULL)
    return json_deep_copy(cur);
  json_t *out = json_array();
  for (size_t i = 0; i < json_array_size(cur); i++) {
    const json_t *item = json_array_get(cur, i), *old = NULL;
    const char *id = json_string_value(json_object_get(item, key));
    for (size_t j = 0; old == NULL && j < json_array_size(prev); j++) {
      const char *pid = json_string_value(json_object_get(json_array_get(prev, j), key));
      if (pid != NULL && id != NULL && strcmp(pid, id) == 0)
        old = json_array_get(prev, j);
    }
    if (old == NULL) {
      json_array_append_new(out, json_deep_copy(item));
      continue;
    }
    if (json_equal((json_t *)old, (json_t *)item))
      continue;
    json_t *d = diff_object(old, item);
    json_object_set_new(d, key, json_string(id));
    if (strcmp(key, "social_care_episode_id") == 0 || strcmp(key, "child_in_need_plan_id") == 0 ||
        strcmp(key, "child_protection_plan_id") == 0)
      json_object_set_new(d, "purge", json_false());
    json_array_append_new(out, d);
  }
  return out;
}

static json_t *diff_object(const json_t *prev, const json_t *cur) {
  json_t *out = json_object();
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)cur, key, value) {
    const json_t *old = json_object_get(prev, key);
    if (old != NULL && json_equal((json_t *)old, value))
      continue;
    if (old != NULL && json_is_object(value) && json_is_object(old))
      json_object_set_new(out, key, diff_object(old, value));
    else if (old != NULL && json_is_array(value) && json_is_array(old))
      json_object_set_new(out, key, diff_list(old, value));
    else
      json_object_set_new(out, key, json_deep_copy(value));
  }
  return out;
}

/* Python's partial: the ids, the whole child_details, and what changed. */
static json_t *partial(const json_t *prev, const json_t *cur) {
  json_t *d = diff_object(prev, cur);
  json_object_del(d, "purge"); /* a partial has no top-level purge */
  json_object_set(d, "la_child_id", json_object_get(cur, "la_child_id"));
  json_t *mis = json_object_get(cur, "mis_child_id");
  if (mis != NULL)
    json_object_set(d, "mis_child_id", mis);
  json_object_set(d, "child_details", json_object_get(cur, "child_details"));
  return d;
}

/* ---- the nightly run ---------------------------------------------------------------- */

static void hash_of(const json_t *doc, uint8_t out[32]) {
  char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  struct sha256_ctx h;
  sha256_init(&h);
  sha256_update(&h, strlen(s), (const uint8_t *)s);
  sha256_digest(&h, 32, out);
  free(s);
}

struct writer_doc *writer_run(struct writer *w, csc_date day, size_t *n) {
  const int partial_run = w->partial_from != 0 && day >= w->partial_from;
  const csc_date from = window_start(day);
  struct writer_doc *docs = NULL;
  size_t cap = 0;
  *n = 0;
  w->stats.runs++;
  for (size_t i = 0; i < w->n; i++) {
    struct child *c = &w->children[i];
    if (!c->has_details || (!c->changed && c->rendered_from == from))
      continue; /* its document is the one last rendered */
    c->changed = 0;
    c->rendered_from = from;
    int lost = 0;
    json_t *full = document(c, day, 0, &lost);
    if (lost && !c->unfaithful)
      w->stats.items_without_episode++;
    c->unfaithful |= lost;
    if (full == NULL)
      continue; /* not in the cohort: nothing sent, no purge (full mode never purges) */
    json_t *semantic = document(c, day, 1, &lost);
    uint8_t h[32];
    hash_of(semantic, h);
    json_decref(semantic);
    char *text = json_dumps(full, JSON_COMPACT | JSON_ENSURE_ASCII);
    const int hash_changed = !c->ever_sent || memcmp(h, c->sent_hash, 32) != 0;
    if (!hash_changed) {
      if (c->sent != NULL && strcmp(text, c->sent) != 0 && !c->unfaithful) {
        c->unfaithful = 1; /* changed only in what the hash ignores: never sent */
        w->stats.changes_never_sent++;
      }
      free(text);
      json_decref(full);
      continue;
    }
    if (partial_run && !c->ever_sent) { /* no previous payload: Python never sends it */
      if (!c->unfaithful)
        w->stats.new_never_sent++;
      c->unfaithful = 1;
      free(text);
      json_decref(full);
      continue;
    }
    char *body = text;
    if (partial_run) {
      json_error_t err;
      json_t *prev = json_loads(c->sent, 0, &err);
      json_t *d = partial(prev, full);
      body = json_dumps(d, JSON_COMPACT | JSON_ENSURE_ASCII);
      json_decref(d);
      w->stats.partials++;
      json_decref(prev);
    }
    GROW(docs, *n, cap);
    snprintf(docs[*n].child, sizeof docs[*n].child, "%s", c->id);
    docs[(*n)++].json = body;
    free(c->sent);
    c->sent = body == text ? strdup(text) : text;
    memcpy(c->sent_hash, h, 32);
    c->ever_sent = 1;
    w->stats.documents++;
    json_decref(full);
  }
  return docs;
}

void writer_docs_free(struct writer_doc *docs, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(docs[i].json);
  free(docs);
}

const struct writer_stats *writer_stats(const struct writer *w) { return &w->stats; }

int writer_child_faithful(const struct writer *w, const char *child) {
  for (size_t i = 0; i < w->n; i++)
    if (strcmp(w->children[i].id, child) == 0)
      return !w->children[i].unfaithful;
  return 1; /* never seen: nothing of it was lost */
}

struct writer *writer_new(csc_date partial_from) {
  struct writer *w = calloc(1, sizeof *w);
  if (w == NULL)
    abort();
  w->partial_from = partial_from;
  return w;
}

static void episode_free(struct episode *e) {
  free(e->as);
  free(e->cin);
  free(e->cp);
  free(e->s47);
  free(e->workers);
}

void writer_free(struct writer *w) {
  if (w == NULL)
    return;
  for (size_t i = 0; i < w->n; i++) {
    struct child *c = &w->children[i];
    for (size_t j = 0; j < c->n_eps; j++)
      episode_free(&c->eps[j]);
    free(c->eps);
    free(c->pls);
    free(c->sdqs);
    free(c->sent);
  }
  free(w->children);
  free(w);
}
