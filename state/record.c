/*
 * record.c — a child's ChildRecords (the DfE CSC API feed, events.proto) as
 * the events they mean, for the fold (issue 19).
 *
 * The feed sends a child's whole record (full mode) or what changed in it
 * (partial mode), never events. Since the fold takes a child's whole
 * history every time, the records need not be diffed one against the next:
 * they are merged, in receipt order (recorded_at, then event id), into the
 * record the feed holds now, and that record is expanded into the events it
 * means, which the fold then folds with every other event of the child.
 *
 * MERGING, one document after another:
 *   partial  child_details replace the held ones (the sender sends them
 *            whole); every item listed is added, or merged into the held
 *            item of its kind and id (a value the document carries replaces
 *            the held one; an absent one keeps it). Nothing is removed.
 *   full     the held items become the document's; an item it no longer
 *            lists is retracted, unless it ended before the cohort window's
 *            start (1 April of the financial year 24 months before the
 *            receipt): an item that ages out of the window is not retracted.
 *   purge    the child stops being updated: later documents are ignored;
 *            nothing is retracted.
 * Items are matched by kind and the source's id (the sender's ids are
 * unique only within a kind); SDQs by date, care workers by worker and
 * start date, adoption and the care leaver's record once per child, from
 * whichever episode repeats them.
 *
 * EXPANSION. Items are named by DESIGN's rule, kind and start date ("R" +
 * the referral date, "A", "S", "CIN", "CP" + the start, "P" + a period's
 * start), as the returns' importers name them, so that an item imported
 * from a return and the same item in the feed are one (state/fold.c,
 * RESTATEMENTS: the later-recorded holds). Placements are the SSDA903's
 * episodes: start_reason is the RNE ("S" starts a period of care; a run of
 * placements with no "S" before it is a continuing period) and end_reason
 * the reason ceased (other than X1, it ends the period; E11 and E12 also
 * date the adoption order, as feeds/ssda903.c reads them).
 *
 * IDS. An expanded event carries the id of the document that said what its
 * item says now, so that a finding names the document it came from, with
 * "#" and a number of its own: 1 for the child's details, else 2 + 3 x the
 * item's place in the order the items were first sent + the event's role
 * in the item (start, end; an enquiry's ICPC; an adoption's three stages).
 * A document that restates an item unchanged (the sender's resend, or a
 * full record in which something else changed) leaves its events' ids as
 * they were, and their findings open as they were, instead of resolving
 * each and opening it again under a new id. Their recorded_at is the
 * latest document's that lists the item, so that the feed's restatement
 * still holds over an earlier-recorded return's (state/fold.c,
 * RESTATEMENTS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "state/state.h"

enum item_kind { K_EPISODE, K_ASSESSMENT, K_CIN, K_CP, K_ENQUIRY, K_PLACEMENT, K_WORKER, K_SDQ,
                 K_ADOPTION, K_LEAVER, K_KINDS };

/* One held item: its kind and key, its value (a protobuf-c message, merged
 * copies in the arena), the documents that last listed it and that said its
 * value, its episode and its place in the order items were first sent. */
struct held {
  int kind;
  const char *key;       /* the source's id, or the key the kind is matched by */
  const char *episode;   /* the episode id it belongs to ("" for per-child items) */
  void *value;
  const CaseEvent *from; /* the latest document that listed it */
  const CaseEvent *said; /* the first document since which its value is the same */
  unsigned place;
};

struct merge {
  struct arena *a;
  struct held *items;
  size_t n, cap;
  const Cscflow__V1__RecordDetails *details;
  const CaseEvent *details_from, *details_said;
  unsigned places; /* items ever added */
  int purged;
};

/* ---- merging ------------------------------------------------------------------------ */

static struct held *find(struct merge *m, int kind, const char *key, const char *episode) {
  for (size_t i = 0; i < m->n; i++)
    if (m->items[i].kind == kind && strcmp(m->items[i].key, key) == 0 &&
        strcmp(m->items[i].episode, episode) == 0)
      return &m->items[i];
  return NULL;
}

static int add(struct merge *m, int kind, const char *key, const char *episode, void *value,
               const CaseEvent *from) {
  if (m->n == m->cap) {
    const size_t cap = m->cap ? m->cap * 2 : 32;
    struct held *v = arena_alloc(m->a, cap * sizeof *v);
    if (v == NULL)
      return CSC_ENOMEM;
    if (m->n)
      memcpy(v, m->items, m->n * sizeof *v);
    m->items = v;
    m->cap = cap;
  }
  m->items[m->n++] = (struct held){kind, key, episode, value, from, from, m->places++};
  return CSC_OK;
}

static void take_u32(uint32_t *held, uint32_t sent) {
  if (sent)
    *held = sent;
}

static void take_str(char **held, char *sent) {
  if (sent != NULL && sent[0] != '\0')
    *held = sent;
}

static void take_flag(Cscflow__V1__Flag *held, Cscflow__V1__Flag sent) {
  if (sent != CSCFLOW__V1__FLAG__FLAG_ABSENT)
    *held = sent;
}

/* A partial item merged over the held one: what it carries replaces. */
static void merge_value(int kind, void *held, const void *sent) {
  switch (kind) {
  case K_EPISODE: {
    Cscflow__V1__RecordEpisode *h = held;
    const Cscflow__V1__RecordEpisode *s = sent;
    take_u32(&h->referral_date, s->referral_date);
    take_str(&h->referral_source, s->referral_source);
    take_u32(&h->closure_date, s->closure_date);
    take_str(&h->closure_reason, s->closure_reason);
    take_flag(&h->referral_nfa, s->referral_nfa);
    break;
  }
  case K_ASSESSMENT: {
    Cscflow__V1__RecordAssessment *h = held;
    const Cscflow__V1__RecordAssessment *s = sent;
    take_u32(&h->start_date, s->start_date);
    take_u32(&h->authorisation_date, s->authorisation_date);
    if (s->factors_present) {
      h->factors = s->factors;
      h->n_factors = s->n_factors;
      h->factors_present = 1;
    }
    break;
  }
  case K_CIN:
  case K_CP: {
    Cscflow__V1__RecordPlan *h = held;
    const Cscflow__V1__RecordPlan *s = sent;
    take_u32(&h->start_date, s->start_date);
    take_u32(&h->end_date, s->end_date);
    break;
  }
  case K_ENQUIRY: {
    Cscflow__V1__RecordEnquiry *h = held;
    const Cscflow__V1__RecordEnquiry *s = sent;
    take_u32(&h->start_date, s->start_date);
    take_flag(&h->icpc_required, s->icpc_required);
    take_u32(&h->icpc_date, s->icpc_date);
    take_u32(&h->end_date, s->end_date);
    break;
  }
  case K_PLACEMENT: {
    Cscflow__V1__RecordPlacement *h = held;
    const Cscflow__V1__RecordPlacement *s = sent;
    take_u32(&h->start_date, s->start_date);
    take_str(&h->start_reason, s->start_reason);
    take_str(&h->postcode_district, s->postcode_district);
    take_str(&h->placement_type, s->placement_type);
    take_u32(&h->end_date, s->end_date);
    take_str(&h->end_reason, s->end_reason);
    take_str(&h->change_reason, s->change_reason);
    break;
  }
  case K_WORKER: {
    Cscflow__V1__RecordWorker *h = held;
    take_u32(&h->end_date, ((const Cscflow__V1__RecordWorker *)sent)->end_date);
    break;
  }
  case K_SDQ: {
    Cscflow__V1__RecordSdq *h = held;
    const Cscflow__V1__RecordSdq *s = sent;
    if (s->score_present) {
      h->score = s->score;
      h->score_present = 1;
    }
    break;
  }
  case K_ADOPTION: {
    Cscflow__V1__RecordAdoption *h = held;
    const Cscflow__V1__RecordAdoption *s = sent;
    take_u32(&h->initial_decision_date, s->initial_decision_date);
    take_u32(&h->matched_date, s->matched_date);
    take_u32(&h->placed_date, s->placed_date);
    break;
  }
  case K_LEAVER: {
    Cscflow__V1__RecordLeaver *h = held;
    const Cscflow__V1__RecordLeaver *s = sent;
    take_u32(&h->contact_date, s->contact_date);
    take_str(&h->activity, s->activity);
    take_str(&h->accommodation, s->accommodation);
    break;
  }
  default:
    break;
  }
}

static size_t value_size(int kind) {
  static const size_t sizes[K_KINDS] = {
      [K_EPISODE] = sizeof(Cscflow__V1__RecordEpisode),
      [K_ASSESSMENT] = sizeof(Cscflow__V1__RecordAssessment),
      [K_CIN] = sizeof(Cscflow__V1__RecordPlan), [K_CP] = sizeof(Cscflow__V1__RecordPlan),
      [K_ENQUIRY] = sizeof(Cscflow__V1__RecordEnquiry),
      [K_PLACEMENT] = sizeof(Cscflow__V1__RecordPlacement),
      [K_WORKER] = sizeof(Cscflow__V1__RecordWorker), [K_SDQ] = sizeof(Cscflow__V1__RecordSdq),
      [K_ADOPTION] = sizeof(Cscflow__V1__RecordAdoption),
      [K_LEAVER] = sizeof(Cscflow__V1__RecordLeaver)};
  return sizes[kind];
}

static int same_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

static int same_strs(char *const *a, size_t na, char *const *b, size_t nb) {
  if (na != nb)
    return 0;
  for (size_t i = 0; i < na; i++)
    if (!same_str(a[i], b[i]))
      return 0;
  return 1;
}

/* Whether two values of an item say the same: every field its events are
 * made of (expand, below). */
static int same_value(int kind, const void *va, const void *vb) {
  switch (kind) {
  case K_EPISODE: {
    const Cscflow__V1__RecordEpisode *a = va, *b = vb;
    return a->referral_date == b->referral_date &&
           same_str(a->referral_source, b->referral_source) &&
           a->closure_date == b->closure_date && same_str(a->closure_reason, b->closure_reason) &&
           a->referral_nfa == b->referral_nfa;
  }
  case K_ASSESSMENT: {
    const Cscflow__V1__RecordAssessment *a = va, *b = vb;
    return a->start_date == b->start_date && a->authorisation_date == b->authorisation_date &&
           same_strs(a->factors, a->n_factors, b->factors, b->n_factors);
  }
  case K_CIN:
  case K_CP: {
    const Cscflow__V1__RecordPlan *a = va, *b = vb;
    return a->start_date == b->start_date && a->end_date == b->end_date;
  }
  case K_ENQUIRY: {
    const Cscflow__V1__RecordEnquiry *a = va, *b = vb;
    return a->start_date == b->start_date && a->icpc_required == b->icpc_required &&
           a->icpc_date == b->icpc_date && a->end_date == b->end_date;
  }
  case K_PLACEMENT: {
    const Cscflow__V1__RecordPlacement *a = va, *b = vb;
    return a->start_date == b->start_date && same_str(a->start_reason, b->start_reason) &&
           same_str(a->postcode_district, b->postcode_district) &&
           same_str(a->placement_type, b->placement_type) && a->end_date == b->end_date &&
           same_str(a->end_reason, b->end_reason) && same_str(a->change_reason, b->change_reason);
  }
  case K_WORKER: {
    const Cscflow__V1__RecordWorker *a = va, *b = vb;
    return same_str(a->worker_id, b->worker_id) && a->start_date == b->start_date &&
           a->end_date == b->end_date;
  }
  case K_SDQ: {
    const Cscflow__V1__RecordSdq *a = va, *b = vb;
    return a->date == b->date && a->score_present == b->score_present && a->score == b->score;
  }
  case K_ADOPTION: {
    const Cscflow__V1__RecordAdoption *a = va, *b = vb;
    return a->initial_decision_date == b->initial_decision_date &&
           a->matched_date == b->matched_date && a->placed_date == b->placed_date;
  }
  case K_LEAVER: {
    const Cscflow__V1__RecordLeaver *a = va, *b = vb;
    return a->contact_date == b->contact_date && same_str(a->activity, b->activity) &&
           same_str(a->accommodation, b->accommodation);
  }
  default:
    return 0;
  }
}

static int same_details(const Cscflow__V1__RecordDetails *a, const Cscflow__V1__RecordDetails *b) {
  return a->date_of_birth == b->date_of_birth &&
         a->expected_date_of_birth == b->expected_date_of_birth && a->sex == b->sex &&
         same_str(a->ethnicity, b->ethnicity) &&
         same_strs(a->disabilities, a->n_disabilities, b->disabilities, b->n_disabilities) &&
         a->uasc == b->uasc && a->uasc_end_date == b->uasc_end_date;
}

/* One item of a document: added, merged (partial) or replaced (full). */
static int take(struct merge *m, int kind, const char *key, const char *episode, void *sent,
                const CaseEvent *from, int partial) {
  if (key == NULL || key[0] == '\0')
    return CSC_OK; /* an item with no id cannot be matched: the fold never sees it */
  struct held *h = find(m, kind, key, episode);
  if (h == NULL)
    return add(m, kind, key, episode, sent, from);
  void *value = sent;
  if (partial) {
    if ((value = arena_alloc(m->a, value_size(kind))) == NULL)
      return CSC_ENOMEM;
    memcpy(value, h->value, value_size(kind));
    merge_value(kind, value, sent);
  }
  if (!same_value(kind, h->value, value))
    h->said = from;
  h->value = value;
  h->from = from;
  return CSC_OK;
}

/* The day an item ended (or, for a dated mark, happened); 0 while open. */
static uint32_t ended_on(const struct held *h) {
  switch (h->kind) {
  case K_EPISODE: return ((const Cscflow__V1__RecordEpisode *)h->value)->closure_date;
  case K_ASSESSMENT: return ((const Cscflow__V1__RecordAssessment *)h->value)->authorisation_date;
  case K_CIN:
  case K_CP: return ((const Cscflow__V1__RecordPlan *)h->value)->end_date;
  case K_ENQUIRY: return ((const Cscflow__V1__RecordEnquiry *)h->value)->end_date;
  case K_PLACEMENT: return ((const Cscflow__V1__RecordPlacement *)h->value)->end_date;
  case K_WORKER: return ((const Cscflow__V1__RecordWorker *)h->value)->end_date;
  case K_SDQ: return ((const Cscflow__V1__RecordSdq *)h->value)->date;
  default: return 0;
  }
}

static char *key_of(struct arena *a, const char *first, uint32_t date) {
  char buf[STATE_ID_MAX + 16];
  snprintf(buf, sizeof buf, "%s\x1f%u", first ? first : "", (unsigned)date);
  return arena_strdup(a, buf);
}

static int take_episode(struct merge *m, Cscflow__V1__RecordEpisode *e, const CaseEvent *from,
                        int partial) {
  const char *ep = e->id;
  int rc = take(m, K_EPISODE, ep, "", e, from, partial);
  for (size_t i = 0; rc == CSC_OK && i < e->n_assessments; i++)
    rc = take(m, K_ASSESSMENT, e->assessments[i]->id, ep, e->assessments[i], from, partial);
  for (size_t i = 0; rc == CSC_OK && i < e->n_cin_plans; i++)
    rc = take(m, K_CIN, e->cin_plans[i]->id, ep, e->cin_plans[i], from, partial);
  for (size_t i = 0; rc == CSC_OK && i < e->n_cp_plans; i++)
    rc = take(m, K_CP, e->cp_plans[i]->id, ep, e->cp_plans[i], from, partial);
  for (size_t i = 0; rc == CSC_OK && i < e->n_section47s; i++)
    rc = take(m, K_ENQUIRY, e->section47s[i]->id, ep, e->section47s[i], from, partial);
  for (size_t i = 0; rc == CSC_OK && i < e->n_placements; i++)
    rc = take(m, K_PLACEMENT, e->placements[i]->id, ep, e->placements[i], from, partial);
  for (size_t i = 0; rc == CSC_OK && i < e->n_care_workers; i++) {
    Cscflow__V1__RecordWorker *w = e->care_workers[i];
    const char *key = key_of(m->a, w->worker_id, w->start_date);
    rc = key ? take(m, K_WORKER, key, "", w, from, partial) : CSC_ENOMEM;
  }
  if (rc == CSC_OK && e->adoption != NULL)
    rc = take(m, K_ADOPTION, "adoption", "", e->adoption, from, partial);
  if (rc == CSC_OK && e->care_leaver != NULL)
    rc = take(m, K_LEAVER, "care_leaver", "", e->care_leaver, from, partial);
  return rc;
}

/* Whether the document (its items just taken) lists held item h. */
static int listed(const struct held *h, const CaseEvent *doc) { return h->from == doc; }

/* Full mode: the held items the document does not list are retracted,
 * unless they ended before the cohort window's start (aged out). */
static void retract_unlisted(struct merge *m, const CaseEvent *doc, csc_date received) {
  const uint32_t window = date_to_yyyymmdd(date_fy_start(date_add_months(received, -24)));
  size_t kept = 0;
  for (size_t i = 0; i < m->n; i++) {
    const uint32_t end = ended_on(&m->items[i]);
    if (listed(&m->items[i], doc) || (end != 0 && end < window))
      m->items[kept++] = m->items[i];
  }
  m->n = kept;
}

static int take_document(struct merge *m, const CaseEvent *ev) {
  Cscflow__V1__ChildRecord *r = ev->child_record;
  if (m->purged)
    return CSC_OK;
  if (r->purge) {
    m->purged = 1;
    return CSC_OK;
  }
  const int partial = r->mode != CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL;
  if (r->details != NULL) {
    if (m->details == NULL || !same_details(m->details, r->details))
      m->details_said = ev;
    m->details = r->details;
    m->details_from = ev;
  }
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < r->n_sdqs; i++) {
    const char *key = key_of(m->a, "", r->sdqs[i]->date);
    rc = key ? take(m, K_SDQ, key, "", r->sdqs[i], ev, partial) : CSC_ENOMEM;
  }
  for (size_t i = 0; rc == CSC_OK && i < r->n_episodes; i++)
    rc = take_episode(m, r->episodes[i], ev, partial);
  if (rc == CSC_OK && !partial) {
    csc_date received;
    if (date_from_yyyymmdd(ev->occurred_on, &received) == CSC_OK)
      retract_unlisted(m, ev, received);
  }
  return rc;
}

/* ---- expansion ---------------------------------------------------------------------- */

struct expand {
  struct arena *a;
  CaseEvent **out;
  size_t n, cap;
};

/* A new event of the child's on day: id said's with "#" serial (IDS,
 * above), recorded when from was. */
static CaseEvent *new_event(struct expand *x, const CaseEvent *said, const CaseEvent *from,
                            unsigned serial, uint32_t day) {
  if (x->n == x->cap)
    return NULL;
  CaseEvent *ev = arena_alloc(x->a, sizeof *ev);
  char *id = arena_alloc(x->a, strlen(said->event_id) + 12);
  if (ev == NULL || id == NULL)
    return NULL;
  const CaseEvent init = CSCFLOW__V1__CASE_EVENT__INIT;
  *ev = init;
  sprintf(id, "%s#%u", said->event_id, serial);
  ev->event_id = id;
  ev->la_code = from->la_code;
  ev->child_id = from->child_id;
  ev->occurred_on = day;
  ev->recorded_at_ms = from->recorded_at_ms;
  ev->source_system = INGEST_SOURCE_DFE;
  x->out[x->n++] = ev;
  return ev;
}

/* Item h's event of the given role (0 to 2) on day. */
static CaseEvent *event(struct expand *x, const struct held *h, unsigned role, uint32_t day) {
  return new_event(x, h->said, h->from, 2 + 3 * h->place + role, day);
}

static char *named(struct expand *x, const char *kind, uint32_t start) {
  char buf[24];
  snprintf(buf, sizeof buf, "%s%08u", kind, (unsigned)start);
  return arena_strdup(x->a, buf);
}

#define PAYLOAD(ev, CASE, field, Type, INIT)                                                       \
  Cscflow__V1__##Type *p = arena_alloc(x->a, sizeof *p);                                           \
  if ((ev) == NULL || p == NULL)                                                                   \
    return CSC_ENOMEM;                                                                             \
  do {                                                                                             \
    const Cscflow__V1__##Type init_ = CSCFLOW__V1__##INIT##__INIT;                                 \
    *p = init_;                                                                                    \
    (ev)->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_##CASE;                                  \
    (ev)->field = p;                                                                               \
  } while (0)

static int details_event(struct expand *x, const struct merge *m) {
  const Cscflow__V1__RecordDetails *d = m->details;
  CaseEvent *ev = new_event(x, m->details_said, m->details_from, 1,
                            d->date_of_birth ? d->date_of_birth : m->details_from->occurred_on);
  PAYLOAD(ev, CHILD_DETAILS, child_details, ChildDetails, CHILD_DETAILS);
  p->date_of_birth = d->date_of_birth;
  p->expected_date_of_birth = d->expected_date_of_birth;
  p->sex = d->sex;
  p->ethnicity = d->ethnicity;
  p->disabled = d->n_disabilities > 0;
  p->disabilities = d->disabilities;
  p->n_disabilities = d->n_disabilities;
  p->uasc = d->uasc;
  p->uasc_ceased_on = d->uasc_end_date;
  return CSC_OK;
}

/* The referral id of an episode ("R" + its referral date), "" if none. */
static char *referral_of(struct expand *x, const struct merge *m, const char *episode) {
  for (size_t i = 0; i < m->n; i++)
    if (m->items[i].kind == K_EPISODE && strcmp(m->items[i].key, episode) == 0) {
      const uint32_t d = ((const Cscflow__V1__RecordEpisode *)m->items[i].value)->referral_date;
      return d ? named(x, "R", d) : "";
    }
  return "";
}

static int episode_events(struct expand *x, const struct held *h) {
  const Cscflow__V1__RecordEpisode *e = h->value;
  if (e->referral_date == 0)
    return CSC_OK; /* never sent its referral date: nothing to start */
  char *id = named(x, "R", e->referral_date);
  CaseEvent *ev = event(x, h, 0, e->referral_date);
  PAYLOAD(ev, REFERRAL_OPENED, referral_opened, ReferralOpened, REFERRAL_OPENED);
  p->referral_id = id;
  p->source = e->referral_source;
  p->no_further_action = e->referral_nfa == CSCFLOW__V1__FLAG__FLAG_YES;
  if (e->closure_date == 0)
    return CSC_OK;
  CaseEvent *end = event(x, h, 1, e->closure_date);
  Cscflow__V1__ReferralClosed *c = arena_alloc(x->a, sizeof *c);
  if (end == NULL || c == NULL)
    return CSC_ENOMEM;
  cscflow__v1__referral_closed__init(c);
  c->referral_id = id;
  c->closure_reason = e->closure_reason;
  c->no_further_action = e->referral_nfa == CSCFLOW__V1__FLAG__FLAG_YES;
  end->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED;
  end->referral_closed = c;
  return CSC_OK;
}

static int assessment_events(struct expand *x, const struct merge *m, const struct held *h) {
  const Cscflow__V1__RecordAssessment *s = h->value;
  if (s->start_date == 0)
    return CSC_OK;
  char *id = named(x, "A", s->start_date), *ref = referral_of(x, m, h->episode);
  CaseEvent *ev = event(x, h, 0, s->start_date);
  PAYLOAD(ev, ASSESSMENT_STARTED, assessment_started, AssessmentStarted, ASSESSMENT_STARTED);
  p->assessment_id = id;
  p->referral_id = ref;
  if (s->authorisation_date == 0)
    return CSC_OK;
  CaseEvent *done = event(x, h, 1, s->authorisation_date);
  Cscflow__V1__AssessmentCompleted *c = arena_alloc(x->a, sizeof *c);
  if (done == NULL || c == NULL)
    return CSC_ENOMEM;
  cscflow__v1__assessment_completed__init(c);
  c->assessment_id = id;
  c->referral_id = ref;
  c->factors = s->factors;
  c->n_factors = s->n_factors;
  done->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED;
  done->assessment_completed = c;
  return CSC_OK;
}

static int plan_events(struct expand *x, const struct merge *m, const struct held *h) {
  const Cscflow__V1__RecordPlan *s = h->value;
  if (s->start_date == 0)
    return CSC_OK;
  const int cp = h->kind == K_CP;
  char *id = named(x, cp ? "CP" : "CIN", s->start_date), *ref = referral_of(x, m, h->episode);
  CaseEvent *ev = event(x, h, 0, s->start_date), *end = NULL;
  if (ev == NULL || (s->end_date && (end = event(x, h, 1, s->end_date)) == NULL))
    return CSC_ENOMEM;
  if (cp) {
    Cscflow__V1__CpPlanStarted *a = arena_alloc(x->a, sizeof *a);
    Cscflow__V1__CpPlanEnded *b = arena_alloc(x->a, sizeof *b);
    if (a == NULL || b == NULL)
      return CSC_ENOMEM;
    cscflow__v1__cp_plan_started__init(a);
    cscflow__v1__cp_plan_ended__init(b);
    a->plan_id = b->plan_id = id;
    a->referral_id = ref;
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
    ev->cp_plan_started = a;
    if (end != NULL) {
      end->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED;
      end->cp_plan_ended = b;
    }
    return CSC_OK;
  }
  Cscflow__V1__CinPlanStarted *a = arena_alloc(x->a, sizeof *a);
  Cscflow__V1__CinPlanEnded *b = arena_alloc(x->a, sizeof *b);
  if (a == NULL || b == NULL)
    return CSC_ENOMEM;
  cscflow__v1__cin_plan_started__init(a);
  cscflow__v1__cin_plan_ended__init(b);
  a->plan_id = b->plan_id = id;
  a->referral_id = ref;
  ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED;
  ev->cin_plan_started = a;
  if (end != NULL) {
    end->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED;
    end->cin_plan_ended = b;
  }
  return CSC_OK;
}

static int enquiry_events(struct expand *x, const struct merge *m, const struct held *h) {
  const Cscflow__V1__RecordEnquiry *s = h->value;
  if (s->start_date == 0)
    return CSC_OK;
  char *id = named(x, "S", s->start_date);
  CaseEvent *ev = event(x, h, 0, s->start_date);
  PAYLOAD(ev, SECTION47_STARTED, section47_started, Section47Started, SECTION47_STARTED);
  p->enquiry_id = id;
  p->referral_id = referral_of(x, m, h->episode);
  if (s->icpc_date) {
    CaseEvent *held = event(x, h, 1, s->icpc_date);
    Cscflow__V1__IcpcHeld *c = arena_alloc(x->a, sizeof *c);
    if (held == NULL || c == NULL)
      return CSC_ENOMEM;
    cscflow__v1__icpc_held__init(c);
    c->enquiry_id = id;
    held->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD;
    held->icpc_held = c;
  }
  if (s->end_date == 0)
    return CSC_OK;
  CaseEvent *done = event(x, h, 2, s->end_date);
  Cscflow__V1__Section47Completed *c = arena_alloc(x->a, sizeof *c);
  if (done == NULL || c == NULL)
    return CSC_ENOMEM;
  cscflow__v1__section47_completed__init(c);
  c->enquiry_id = id;
  c->icpc_not_required = s->icpc_required == CSCFLOW__V1__FLAG__FLAG_NO;
  done->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED;
  done->section47_completed = c;
  return CSC_OK;
}

static int mark_events(struct expand *x, const struct held *h) {
  switch (h->kind) {
  case K_SDQ: {
    const Cscflow__V1__RecordSdq *s = h->value;
    if (!s->score_present || s->date == 0)
      return CSC_OK;
    CaseEvent *ev = event(x, h, 0, s->date);
    PAYLOAD(ev, SDQ_SCORE, sdq_score, SdqScore, SDQ_SCORE);
    p->score = s->score;
    return CSC_OK;
  }
  case K_LEAVER: {
    const Cscflow__V1__RecordLeaver *s = h->value;
    if (s->contact_date == 0)
      return CSC_OK;
    CaseEvent *ev = event(x, h, 0, s->contact_date);
    PAYLOAD(ev, CARE_LEAVER_CONTACT, care_leaver_contact, CareLeaverContact, CARE_LEAVER_CONTACT);
    p->activity_code = s->activity;
    p->accommodation_code = s->accommodation;
    return CSC_OK;
  }
  case K_WORKER: {
    const Cscflow__V1__RecordWorker *s = h->value;
    for (int end = 0; end < 2; end++) {
      const uint32_t day = end ? s->end_date : s->start_date;
      if (day == 0)
        continue;
      CaseEvent *ev = event(x, h, (unsigned)end, day);
      PAYLOAD(ev, WORKER_ALLOCATED, worker_allocated, WorkerAllocated, WORKER_ALLOCATED);
      p->worker_id = s->worker_id;
      p->deallocated = end;
    }
    return CSC_OK;
  }
  case K_ADOPTION: {
    const Cscflow__V1__RecordAdoption *s = h->value;
    const uint32_t days[] = {s->initial_decision_date, s->matched_date, s->placed_date};
    const int stages[] = {CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION,
                          CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_MATCHED,
                          CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_PLACED};
    for (int i = 0; i < 3; i++) {
      if (days[i] == 0)
        continue;
      CaseEvent *ev = event(x, h, (unsigned)i, days[i]);
      PAYLOAD(ev, ADOPTION_MILESTONE, adoption_milestone, AdoptionMilestone, ADOPTION_MILESTONE);
      p->stage = (Cscflow__V1__AdoptionStage)stages[i];
    }
    return CSC_OK;
  }
  default:
    return CSC_OK;
  }
}

static int placement_compare(const void *pa, const void *pb) {
  const struct held *a = *(const struct held *const *)pa, *b = *(const struct held *const *)pb;
  const uint32_t x = ((const Cscflow__V1__RecordPlacement *)a->value)->start_date;
  const uint32_t y = ((const Cscflow__V1__RecordPlacement *)b->value)->start_date;
  return (x > y) - (x < y);
}

/* E11, E12: "adopted" (the SSDA903's reasons ceased), the day of the
 * adoption order, as the 903 importer reads them (feeds/ssda903.c). */
static int adopted(const char *reason) {
  return strcmp(reason, "E11") == 0 || strcmp(reason, "E12") == 0;
}

/* The placement's third event (role 2, after its start and its period's end). */
static int adoption_order(struct expand *x, const struct held *h, uint32_t day) {
  CaseEvent *ev = event(x, h, 2, day);
  PAYLOAD(ev, ADOPTION_MILESTONE, adoption_milestone, AdoptionMilestone, ADOPTION_MILESTONE);
  p->stage = CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_ADOPTED;
  return CSC_OK;
}

/* The child's placements, in start order, as the SSDA903's episodes: a
 * placement makes at most three events (its start, its period's end and,
 * for an adoption, the order). */
static int placement_events(struct expand *x, const struct merge *m) {
  const struct held **pl = arena_alloc(x->a, (m->n + 1) * sizeof *pl);
  if (pl == NULL)
    return CSC_ENOMEM;
  size_t n = 0;
  for (size_t i = 0; i < m->n; i++)
    if (m->items[i].kind == K_PLACEMENT &&
        ((const Cscflow__V1__RecordPlacement *)m->items[i].value)->start_date != 0)
      pl[n++] = &m->items[i];
  qsort(pl, n, sizeof *pl, placement_compare);
  char *period = NULL;
  for (size_t i = 0; i < n; i++) {
    const Cscflow__V1__RecordPlacement *s = pl[i]->value;
    Cscflow__V1__Placement *where = arena_alloc(x->a, sizeof *where);
    CaseEvent *ev = event(x, pl[i], 0, s->start_date);
    if (where == NULL || ev == NULL)
      return CSC_ENOMEM;
    cscflow__v1__placement__init(where);
    where->placement_type = s->placement_type;
    where->postcode_district = s->postcode_district;
    const int starts = strcmp(s->start_reason, "S") == 0;
    if (starts || period == NULL) {
      period = named(x, "P", s->start_date);
      PAYLOAD(ev, PERIOD_OF_CARE_STARTED, period_of_care_started, PeriodOfCareStarted,
              PERIOD_OF_CARE_STARTED);
      p->period_id = period;
      p->placement = where;
      p->continuing = !starts;
    } else {
      PAYLOAD(ev, PLACEMENT_STARTED, placement_started, PlacementStarted, PLACEMENT_STARTED);
      p->period_id = period;
      p->placement = where;
      p->reason_for_change = s->change_reason;
      p->reason_for_new_episode = s->start_reason;
    }
    if (s->end_date && s->end_reason[0] != '\0' && strcmp(s->end_reason, "X1") != 0) {
      CaseEvent *end = event(x, pl[i], 1, s->end_date);
      Cscflow__V1__PeriodOfCareEnded *e = arena_alloc(x->a, sizeof *e);
      if (end == NULL || e == NULL)
        return CSC_ENOMEM;
      cscflow__v1__period_of_care_ended__init(e);
      e->period_id = period;
      e->reason_ceased = s->end_reason;
      end->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED;
      end->period_of_care_ended = e;
      period = NULL;
      if (adopted(s->end_reason) && adoption_order(x, pl[i], s->end_date) != CSC_OK)
        return CSC_ENOMEM;
    }
  }
  return CSC_OK;
}

static int expand(struct expand *x, const struct merge *m) {
  int rc = m->details != NULL ? details_event(x, m) : CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < m->n; i++) {
    const struct held *h = &m->items[i];
    switch (h->kind) {
    case K_EPISODE: rc = episode_events(x, h); break;
    case K_ASSESSMENT: rc = assessment_events(x, m, h); break;
    case K_CIN:
    case K_CP: rc = plan_events(x, m, h); break;
    case K_ENQUIRY: rc = enquiry_events(x, m, h); break;
    case K_PLACEMENT: break; /* below, as a run */
    default: rc = mark_events(x, h); break;
    }
  }
  return rc == CSC_OK ? placement_events(x, m) : rc;
}

/* ---- the child's records ------------------------------------------------------------ */

static int receipt_compare(const void *pa, const void *pb) {
  const CaseEvent *a = *(const CaseEvent *const *)pa, *b = *(const CaseEvent *const *)pb;
  if (a->recorded_at_ms != b->recorded_at_ms)
    return a->recorded_at_ms < b->recorded_at_ms ? -1 : 1;
  return strcmp(a->event_id, b->event_id);
}

/* Whether another event retracts or supersedes ev (a record sent in error
 * is corrected like any event, and so are the events it expands into). */
static int corrected(CaseEvent *const *events, size_t n, const CaseEvent *ev) {
  for (size_t i = 0; i < n; i++)
    if (events[i] != ev && (strcmp(events[i]->retracts_event_id, ev->event_id) == 0 ||
                            strcmp(events[i]->supersedes_event_id, ev->event_id) == 0))
      return 1;
  return 0;
}

static int is_record(CaseEvent *const *events, size_t n, size_t i) {
  return events[i]->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_RECORD &&
         !corrected(events, n, events[i]);
}

int record_expand(CaseEvent **events, size_t n, struct arena *a, CaseEvent ***out,
                  size_t *out_n) {
  *out = events;
  *out_n = n;
  size_t k = 0;
  int any = 0;
  for (size_t i = 0; i < n; i++)
    any |= events[i]->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_RECORD;
  if (!any)
    return CSC_OK;
  for (size_t i = 0; i < n; i++)
    k += is_record(events, n, i);
  if (k == 0)
    return CSC_OK;
  const CaseEvent **docs = arena_alloc(a, k * sizeof *docs);
  if (docs == NULL)
    return CSC_ENOMEM;
  size_t items = 0;
  k = 0;
  for (size_t i = 0; i < n; i++)
    if (is_record(events, n, i)) {
      docs[k++] = events[i];
      items += 1 + events[i]->child_record->n_sdqs;
      for (size_t e = 0; e < events[i]->child_record->n_episodes; e++) {
        const Cscflow__V1__RecordEpisode *ep = events[i]->child_record->episodes[e];
        items += 4 + ep->n_assessments + ep->n_cin_plans + ep->n_cp_plans + ep->n_section47s +
                 ep->n_placements + ep->n_care_workers;
      }
    }
  qsort(docs, k, sizeof *docs, receipt_compare);
  struct merge m = {a, NULL, 0, 0, NULL, NULL, NULL, 0, 0};
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < k; i++)
    rc = take_document(&m, docs[i]);
  if (rc != CSC_OK)
    return rc;
  /* An item makes at most three events (start, end, and a conference or a
   * stage), the details one. */
  const size_t cap = n + 3 * items + 1;
  struct expand x = {a, arena_alloc(a, cap * sizeof *x.out), 0, cap};
  if (x.out == NULL)
    return CSC_ENOMEM;
  memcpy(x.out, events, n * sizeof *events);
  x.n = n;
  if ((rc = expand(&x, &m)) != CSC_OK)
    return rc;
  *out = x.out;
  *out_n = x.n;
  return CSC_OK;
}
