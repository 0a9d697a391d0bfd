/*
 * fuzz_fold — libFuzzer target for one child's history: child_fold, then
 * child_derive, then the stored form (derived_write / derived_decode).
 *
 * Input: byte 0 picks how the rest is read.
 *   even  (seeds use 'P' and 'R'): length-delimited CaseEvents, varint(length) +
 *         protobuf bytes, repeated: the file source's format, so a real
 *         child's history is a seed as it is. A truncated tail is ignored.
 *   odd   (seeds use 'Q' and 'S'): 8-byte records, each built into an event by
 *         build_event below: payload kind, a date in a ~10-year range,
 *         ids and refs from the alphabet {"", "a", "b", "c"} (so ends,
 *         completions and corrections name starts often), codes from the
 *         real code lists or unknown, flags, an enum value, recorded_at,
 *         and a supersession or retraction of an earlier record's event.
 *   bit 1 of byte 0 folds with a working-day calendar that has bank
 *   holidays (inclusive counting), else with weekends only.
 *
 * Every event is unpacked from protobuf bytes (a structured one after being
 * packed), as the history stores and reads it back; what ingest would
 * dead-letter (ingest_validate fails) is dropped, as is a second event
 * with an event_id already seen (history_apply drops duplicates). la_code
 * and child_id are forced to one child. The first MAX_EVENTS events that
 * remain are folded, the rest ignored: histories are tens of events, and
 * the fold's quadratic checks (corrections, findings, ends before starts)
 * would otherwise spend the time on a few long inputs.
 *
 * Invariants, for any input (a failure aborts, which libFuzzer reports as
 * a crash and saves the input):
 *   - child_fold and child_derive return CSC_OK: memory cannot run out for
 *     inputs this small, so CSC_ENOMEM would be a list overflowing the
 *     capacity the fold computed (an event lost);
 *   - the events in reverse order, and odd positions before even ones,
 *     give byte-identical derived records (arrival order never matters);
 *   - derived_decode(derived_write(d)) gives d back, byte for byte;
 *   - every fact has from < to, measure < M_COUNT and a non-zero weight,
 *     and facts are sorted (fact_compare); every alert has from < to and
 *     a plan kind < PLAN_KIND_COUNT; every finding's rule < Q_RULE_COUNT;
 *   - every episode of the folded state has start <= end.
 * The sanitizers (address, undefined, leaks) add theirs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "state/state.h"

#define MAX_EVENTS 160 /* events folded at most */

/* Aborts with a message naming the broken invariant. */
#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_fold: invariant failed: " __VA_ARGS__);                                \
      fprintf(stderr, "\n");                                                                       \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

#define NEW(a, Type, INIT) new_msg((a), sizeof(Type), &(Type)INIT)

/* An arena copy of a freshly initialised message. */
static void *new_msg(struct arena *a, size_t size, const void *init) {
  void *p = arena_alloc(a, size);
  CHECK(p != NULL, "arena_alloc");
  memcpy(p, init, size);
  return p;
}

/* ---- structured records --------------------------------------------------- */

static char *id_of(unsigned i) {
  static const char *const ids[4] = {"", "a", "b", "c"};
  return (char *)ids[i & 3];
}

/* nibble 0: not recorded; 1: a code no guide defines; else a code of some list. */
static char *code_of(enum code_list list, unsigned nibble) {
  nibble &= 15;
  if (nibble == 0)
    return "";
  if (nibble == 1)
    return "XX";
  /* Codes of every list, whatever list asks: the fold keeps any code as sent
   * (the lists are data, loaded at start; the fuzzer judges none). */
  static const char *const any[] = {"1A", "10", "N", "NEG", "MUL", "C1", "N1", "A3",
                                    "PR1", "E11", "CARPL", "21", "F1", "P1", "B1", "WBRI"};
  (void)list;
  return (char *)any[(nibble - 2) % (sizeof any / sizeof any[0])];
}

/* Values at the edges of what the wire allows. */
static int64_t extreme_ms(unsigned i) {
  static const int64_t v[8] = {INT64_MAX, INT64_MIN, (int64_t)(INT32_MAX - 100) * 86400000,
                               (int64_t)INT32_MIN * 86400000, INT64_C(7258118400000) - 1,
                               INT64_C(7258118400000), INT64_MAX - 3600000, -1};
  return v[i & 7];
}

static uint32_t extreme_u32(unsigned i) {
  static const uint32_t v[4] = {UINT32_MAX, (uint32_t)INT32_MAX, (uint32_t)INT32_MAX + 1u,
                                1000000000u};
  return v[i & 3];
}

static Cscflow__V1__Placement *placement_of(struct arena *a, const uint8_t *r) {
  Cscflow__V1__Placement *p = NEW(a, Cscflow__V1__Placement, CSCFLOW__V1__PLACEMENT__INIT);
  p->placement_type = code_of(CODE_PLACEMENT_TYPE, r[2] >> 4);
  p->provider = code_of(CODE_PROVIDER, r[7]);
  p->distance_miles_x10 = (r[7] & 0xc0) == 0xc0 ? extreme_u32(r[4]) : (uint32_t)r[4] * 3;
  p->distance_known = (r[3] & 4) != 0;
  return p;
}

/*
 * One 8-byte record r (the index-th) into an event:
 *   r[0] payload kind: 0 none (a retraction), else field 19 + 1..27
 *   r[1] date: 2022-01-01 + (r[1] & 127) days, times 29 when bit 7 is set;
 *        254 and 255: the first and last dates occurred_on may hold
 *   r[2] bits 0-1 the id (plan, period, referral, ...), bits 2-3 the ref
 *        (a plan's referral), bits 4-7 a code
 *   r[3] flags (booleans of the payload)
 *   r[4] a number: enum value, score, distance, FTE, days
 *   r[5] recorded_at: 0 none, 255 an extreme (int64 limits, the edges of
 *        int32 days, 2200), else (r[5] & 63) - 4 days after the date, plus
 *        (r[5] >> 6) * 6 hours
 *   r[6] bits 0-1: 1 supersedes, 2 retracts the event of record (r[6] >> 2)
 *   r[7] a second code (bits 0-3), a second id (bits 4-5); bits 6-7 both
 *        set: FTE, days, caseload, score and distance are extremes of uint32
 */
static CaseEvent *build_event(struct arena *a, const uint8_t *r, size_t index, size_t n_records) {
  CaseEvent *ev = NEW(a, CaseEvent, CSCFLOW__V1__CASE_EVENT__INIT);
  char *buf = arena_alloc(a, 16);
  CHECK(buf != NULL, "arena_alloc");
  snprintf(buf, 16, "e%zu", index);
  ev->event_id = buf;
  ev->la_code = "E99000001";
  ev->child_id = "C1";
  const csc_date day = r[1] == 254   ? date_from_ymd(1900, 1, 1)
                       : r[1] == 255 ? date_from_ymd(2199, 12, 31)
                                     : date_from_ymd(2022, 1, 1) +
                                           (r[1] & 127) * (r[1] & 128 ? 29 : 1);
  ev->occurred_on = date_to_yyyymmdd(day);
  if (r[5] == 255)
    ev->recorded_at_ms = extreme_ms(r[4]);
  else if (r[5])
    ev->recorded_at_ms = date_london_midnight_ms(day + (r[5] & 63) - 4) +
                         (int64_t)(r[5] >> 6) * 6 * 3600 * 1000;
  if ((r[6] & 3) == 1 || (r[6] & 3) == 2) {
    char *target = arena_alloc(a, 16);
    CHECK(target != NULL, "arena_alloc");
    snprintf(target, 16, "e%zu", (size_t)(r[6] >> 2) % n_records);
    if ((r[6] & 3) == 1)
      ev->supersedes_event_id = target;
    else
      ev->retracts_event_id = target;
  }
  char *id = id_of(r[2]), *ref = id_of(r[2] >> 2), *id2 = id_of(r[7] >> 4);
  const unsigned code = r[2] >> 4, code2 = r[7] & 15, fl = r[3], num = r[4];
  const int big = (r[7] & 0xc0) == 0xc0;
  const int kind = r[0] % 28;
  if (kind == 0)
    return ev;
  ev->payload_case = (Cscflow__V1__CaseEvent__PayloadCase)(19 + kind);
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS: {
    Cscflow__V1__ChildDetails *c =
        NEW(a, Cscflow__V1__ChildDetails, CSCFLOW__V1__CHILD_DETAILS__INIT);
    if (fl & 1)
      c->date_of_birth = date_to_yyyymmdd(day - (csc_date)num * 20);
    if (fl & 2)
      c->expected_date_of_birth = date_to_yyyymmdd(day + (csc_date)num);
    if (fl & 32)
      c->date_of_death = date_to_yyyymmdd(day + (csc_date)num * 7);
    static const Cscflow__V1__Sex sexes[4] = {0, 1, 2, 9};
    c->sex = sexes[num & 3];
    c->ethnicity = code_of(CODE_ETHNICITY, code);
    c->disabled = (fl & 4) != 0;
    if (fl & 8) {
      char **d = arena_alloc(a, sizeof *d);
      CHECK(d != NULL, "arena_alloc");
      d[0] = code_of(CODE_DISABILITY, code2);
      c->disabilities = d;
      c->n_disabilities = 1;
    }
    c->uasc = (fl & 16) != 0;
    ev->child_details = c;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED: {
    Cscflow__V1__ReferralOpened *p =
        NEW(a, Cscflow__V1__ReferralOpened, CSCFLOW__V1__REFERRAL_OPENED__INIT);
    p->referral_id = id;
    p->source = code_of(CODE_REFERRAL_SOURCE, code);
    ev->referral_opened = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED: {
    Cscflow__V1__ReferralClosed *p =
        NEW(a, Cscflow__V1__ReferralClosed, CSCFLOW__V1__REFERRAL_CLOSED__INIT);
    p->referral_id = id;
    p->no_further_action = (fl & 1) != 0;
    p->closure_reason = code_of(CODE_CLOSURE_REASON, code);
    ev->referral_closed = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED: {
    Cscflow__V1__EarlyHelpStarted *p =
        NEW(a, Cscflow__V1__EarlyHelpStarted, CSCFLOW__V1__EARLY_HELP_STARTED__INIT);
    p->episode_id = id;
    ev->early_help_started = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED: {
    Cscflow__V1__EarlyHelpEnded *p =
        NEW(a, Cscflow__V1__EarlyHelpEnded, CSCFLOW__V1__EARLY_HELP_ENDED__INIT);
    p->episode_id = id;
    p->reason = code_of(CODE_CLOSURE_REASON, code);
    ev->early_help_ended = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED: {
    Cscflow__V1__AssessmentStarted *p =
        NEW(a, Cscflow__V1__AssessmentStarted, CSCFLOW__V1__ASSESSMENT_STARTED__INIT);
    p->assessment_id = id;
    p->referral_id = ref;
    ev->assessment_started = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED: {
    Cscflow__V1__AssessmentCompleted *p =
        NEW(a, Cscflow__V1__AssessmentCompleted, CSCFLOW__V1__ASSESSMENT_COMPLETED__INIT);
    p->assessment_id = id;
    p->referral_id = ref;
    p->n_factors = fl & 3;
    if (p->n_factors) {
      p->factors = arena_alloc(a, 3 * sizeof *p->factors);
      CHECK(p->factors != NULL, "arena_alloc");
      p->factors[0] = code_of(CODE_ASSESSMENT_FACTOR, code);
      p->factors[1] = code_of(CODE_ASSESSMENT_FACTOR, code2);
      p->factors[2] = code_of(CODE_ASSESSMENT_FACTOR, code ^ code2);
    }
    p->outcome = (Cscflow__V1__AssessmentOutcome)(num % 7); /* 6: a value this version lacks */
    ev->assessment_completed = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_STRATEGY_DISCUSSION: {
    Cscflow__V1__StrategyDiscussion *p =
        NEW(a, Cscflow__V1__StrategyDiscussion, CSCFLOW__V1__STRATEGY_DISCUSSION__INIT);
    p->referral_id = id;
    p->section47_agreed = (fl & 1) != 0;
    ev->strategy_discussion = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED: {
    Cscflow__V1__Section47Started *p =
        NEW(a, Cscflow__V1__Section47Started, CSCFLOW__V1__SECTION47_STARTED__INIT);
    p->enquiry_id = id;
    p->referral_id = ref;
    ev->section47_started = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED: {
    Cscflow__V1__Section47Completed *p =
        NEW(a, Cscflow__V1__Section47Completed, CSCFLOW__V1__SECTION47_COMPLETED__INIT);
    p->enquiry_id = id;
    p->outcome = (Cscflow__V1__Section47Outcome)(num % 6);
    ev->section47_completed = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD: {
    Cscflow__V1__IcpcHeld *p = NEW(a, Cscflow__V1__IcpcHeld, CSCFLOW__V1__ICPC_HELD__INIT);
    p->enquiry_id = id;
    p->plan_agreed = (fl & 1) != 0;
    ev->icpc_held = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED: {
    Cscflow__V1__CinPlanStarted *p =
        NEW(a, Cscflow__V1__CinPlanStarted, CSCFLOW__V1__CIN_PLAN_STARTED__INIT);
    p->plan_id = id;
    p->referral_id = ref;
    ev->cin_plan_started = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED: {
    Cscflow__V1__CinPlanEnded *p =
        NEW(a, Cscflow__V1__CinPlanEnded, CSCFLOW__V1__CIN_PLAN_ENDED__INIT);
    p->plan_id = id;
    ev->cin_plan_ended = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: {
    Cscflow__V1__CpPlanStarted *p =
        NEW(a, Cscflow__V1__CpPlanStarted, CSCFLOW__V1__CP_PLAN_STARTED__INIT);
    p->plan_id = id;
    p->referral_id = ref;
    p->initial_category = code_of(CODE_ABUSE_CATEGORY, code);
    ev->cp_plan_started = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED: {
    Cscflow__V1__CpPlanEnded *p =
        NEW(a, Cscflow__V1__CpPlanEnded, CSCFLOW__V1__CP_PLAN_ENDED__INIT);
    p->plan_id = id;
    p->latest_category = code_of(CODE_ABUSE_CATEGORY, code);
    p->reason = code_of(CODE_CLOSURE_REASON, code2);
    ev->cp_plan_ended = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN: {
    Cscflow__V1__ChildSeen *p = NEW(a, Cscflow__V1__ChildSeen, CSCFLOW__V1__CHILD_SEEN__INIT);
    p->plan_id = id;
    p->seen_by = (Cscflow__V1__SeenBy)(num % 4);
    p->seen_alone = (fl & 1) != 0;
    ev->child_seen = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED: {
    Cscflow__V1__PeriodOfCareStarted *p =
        NEW(a, Cscflow__V1__PeriodOfCareStarted, CSCFLOW__V1__PERIOD_OF_CARE_STARTED__INIT);
    p->period_id = id;
    p->legal_status = code_of(CODE_LEGAL_STATUS, code);
    p->category_of_need = code_of(CODE_NEED, code2);
    p->uasc = (fl & 1) != 0;
    if (fl & 2)
      p->placement = placement_of(a, r);
    ev->period_of_care_started = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED: {
    Cscflow__V1__PeriodOfCareEnded *p =
        NEW(a, Cscflow__V1__PeriodOfCareEnded, CSCFLOW__V1__PERIOD_OF_CARE_ENDED__INIT);
    p->period_id = id;
    p->reason_ceased = code_of(CODE_REASON_CEASED, code);
    ev->period_of_care_ended = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED: {
    Cscflow__V1__PlacementStarted *p =
        NEW(a, Cscflow__V1__PlacementStarted, CSCFLOW__V1__PLACEMENT_STARTED__INIT);
    p->period_id = id;
    if (fl & 2)
      p->placement = placement_of(a, r);
    p->reason_for_change = code_of(CODE_PLACEMENT_CHANGE, code2);
    ev->placement_started = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED: {
    Cscflow__V1__LegalStatusChanged *p =
        NEW(a, Cscflow__V1__LegalStatusChanged, CSCFLOW__V1__LEGAL_STATUS_CHANGED__INIT);
    p->period_id = id;
    p->legal_status = code_of(CODE_LEGAL_STATUS, code);
    ev->legal_status_changed = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE: {
    Cscflow__V1__AdoptionMilestone *p =
        NEW(a, Cscflow__V1__AdoptionMilestone, CSCFLOW__V1__ADOPTION_MILESTONE__INIT);
    p->stage = (Cscflow__V1__AdoptionStage)(num % 8); /* 7: a stage this version lacks */
    p->early_permanence = (fl & 1) != 0;
    p->placed_with_foster_carer = (fl & 2) != 0;
    ev->adoption_milestone = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT: {
    Cscflow__V1__CareLeaverContact *p =
        NEW(a, Cscflow__V1__CareLeaverContact, CSCFLOW__V1__CARE_LEAVER_CONTACT__INIT);
    p->in_touch = (fl & 1) != 0;
    p->activity_code = code_of(CODE_LEAVER_ACTIVITY, code);
    p->activity = (Cscflow__V1__CareLeaverActivity)(num % 5);
    p->accommodation_code = code_of(CODE_LEAVER_ACCOMMODATION, code2);
    p->accommodation_suitable = (fl & 2) != 0;
    ev->care_leaver_contact = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE: {
    Cscflow__V1__WorkforceEvent *p =
        NEW(a, Cscflow__V1__WorkforceEvent, CSCFLOW__V1__WORKFORCE_EVENT__INIT);
    p->worker_id = id;
    p->post_id = id2;
    p->change = (Cscflow__V1__WorkforceChange)(num % 9); /* 8: a change this version lacks */
    p->fte_x100 = big ? extreme_u32(num >> 3) : (uint32_t)(num >> 3) * 10;
    p->agency = (fl & 1) != 0;
    p->sickness_days = big ? extreme_u32(num >> 5) : num >> 3;
    p->caseload = big ? extreme_u32(num >> 4) : num >> 3;
    p->case_holding = (fl & 2) != 0;
    ev->workforce = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE: {
    Cscflow__V1__SdqScore *p = NEW(a, Cscflow__V1__SdqScore, CSCFLOW__V1__SDQ_SCORE__INIT);
    p->score = big ? extreme_u32(num) : num; /* past the scale's 40 too */
    ev->sdq_score = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED: {
    Cscflow__V1__WorkerAllocated *p =
        NEW(a, Cscflow__V1__WorkerAllocated, CSCFLOW__V1__WORKER_ALLOCATED__INIT);
    p->worker_id = id;
    p->deallocated = (fl & 1) != 0;
    ev->worker_allocated = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_COURT_APPLICATION: {
    Cscflow__V1__CourtApplication *p =
        NEW(a, Cscflow__V1__CourtApplication, CSCFLOW__V1__COURT_APPLICATION__INIT);
    p->kind = (Cscflow__V1__CourtOrderKind)(num % 4);
    ev->court_application = p;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERMANENCE_ORDER: {
    Cscflow__V1__PermanenceOrder *p =
        NEW(a, Cscflow__V1__PermanenceOrder, CSCFLOW__V1__PERMANENCE_ORDER__INIT);
    p->kind = (Cscflow__V1__PermanenceKind)(num % 5);
    ev->permanence_order = p;
    break;
  }
  default:
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET;
    break;
  }
  return ev;
}

/* ---- the history ------------------------------------------------------------ */

struct history {
  CaseEvent *ev[MAX_EVENTS];
  size_t n;
};

/* Adds the event stored as pb[0..len) as history_apply would: unpacked from
 * the stored bytes, forced to the one child, dropped when ingest would
 * refuse it or its event_id is already in the history. */
static void add_stored(struct history *h, struct arena *a, const uint8_t *pb, size_t len) {
  if (h->n == MAX_EVENTS)
    return;
  ProtobufCAllocator al = arena_protobuf_allocator(a);
  CaseEvent *ev = cscflow__v1__case_event__unpack(&al, len, pb);
  const char *reason = NULL;
  if (ev == NULL || ingest_validate(ev, &reason) != CSC_OK)
    return;
  ev->la_code = "E99000001";
  ev->child_id = "C1";
  for (size_t i = 0; i < h->n; i++)
    if (strcmp(h->ev[i]->event_id, ev->event_id) == 0)
      return;
  h->ev[h->n++] = ev;
}

static void add_built(struct history *h, struct arena *a, const CaseEvent *ev) {
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  uint8_t *buf = arena_alloc(a, n ? n : 1);
  CHECK(buf != NULL, "arena_alloc");
  CHECK(cscflow__v1__case_event__pack(ev, buf) == n, "pack size");
  add_stored(h, a, buf, n);
}

/* ---- invariants ---------------------------------------------------------------- */

/* An episode ends on or after its start, unless the fold marked it as a
 * completion recorded before its start (EP_END_BEFORE_START: kept, and
 * reported as end_before_start, per the catalogue's Completions convention). */
static void check_episodes(const char *what, const struct episode *e, size_t n) {
  for (size_t i = 0; i < n; i++)
    CHECK(e[i].start <= e[i].end || (e[i].flags & EP_END_BEFORE_START),
          "%s %zu ends (%d) before it starts (%d)", what, i, e[i].end, e[i].start);
}

static void check_state(const struct child_state *st) {
  check_episodes("referral", st->referrals, st->n_referrals);
  check_episodes("assessment", st->assessments, st->n_assessments);
  check_episodes("enquiry", st->enquiries, st->n_enquiries);
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    check_episodes(plan_kind_names[k], st->plans[k], st->n_plans[k]);
  check_episodes("placement", st->placements, st->n_placements);
  check_episodes("care span", st->care_spans, st->n_care_spans);
  check_episodes("allocation", st->allocations, st->n_allocations);
  check_episodes("employment", st->employments, st->n_employments);
}

static void check_derived(const struct derived *d) {
  for (size_t i = 0; i < d->n_facts; i++) {
    const struct fact *f = &d->facts[i];
    CHECK(f->from < f->to, "fact %zu (measure %u bucket %u) has from %d >= to %d", i, f->measure,
          f->bucket, f->from, f->to);
    CHECK(f->measure < M_COUNT, "fact %zu has measure %u", i, f->measure);
    CHECK(f->weight != 0, "fact %zu (measure %u) has weight 0", i, f->measure);
    CHECK(i == 0 || fact_compare(&d->facts[i - 1], f) <= 0, "facts %zu and %zu out of order",
          i - 1, i);
  }
  for (size_t i = 0; i < d->n_alerts; i++) {
    const struct alert_fact *x = &d->alerts[i];
    CHECK(x->from < x->to, "alert %zu has from %d >= to %d", i, x->from, x->to);
    CHECK(x->plan_kind < PLAN_KIND_COUNT, "alert %zu has plan kind %u", i, x->plan_kind);
  }
  for (size_t i = 0; i < d->n_findings; i++)
    CHECK(d->findings[i].rule < Q_RULE_COUNT, "finding %zu has rule %u", i, d->findings[i].rule);
}

/* Folds the events in the given order and returns the stored record (arena
 * allocated), after checking the invariants of one fold. */
static uint8_t *fold_once(CaseEvent **order, size_t n, const struct derive_ref *ref,
                          struct arena *a, size_t *len) {
  CaseEvent **v = arena_alloc(a, (n + 1) * sizeof *v);
  CHECK(v != NULL, "arena_alloc");
  if (n)
    memcpy(v, order, n * sizeof *v);
  struct child_state st;
  int rc = child_fold(v, n, NULL, a, &st);
  CHECK(rc == CSC_OK, "child_fold of %zu events returned %d (%s)", n, rc, csc_strerror(rc));
  check_state(&st);
  struct derived d;
  rc = child_derive(&st, ref, a, &d);
  CHECK(rc == CSC_OK, "child_derive returned %d (%s)", rc, csc_strerror(rc));
  check_derived(&d);

  *len = derived_size(&d);
  uint8_t *buf = arena_alloc(a, *len);
  CHECK(buf != NULL, "arena_alloc");
  derived_write(&d, buf);
  struct derived back;
  rc = derived_decode(buf, *len, a, &back);
  CHECK(rc == CSC_OK, "derived_decode of derived_write returned %d", rc);
  CHECK(back.n_facts == d.n_facts && back.n_alerts == d.n_alerts &&
            back.n_findings == d.n_findings,
        "derived_decode counts %zu/%zu/%zu, written %zu/%zu/%zu", back.n_facts, back.n_alerts,
        back.n_findings, d.n_facts, d.n_alerts, d.n_findings);
  CHECK(derived_size(&back) == *len, "derived_size after decode");
  uint8_t *again = arena_alloc(a, *len);
  CHECK(again != NULL, "arena_alloc");
  derived_write(&back, again);
  CHECK(memcmp(buf, again, *len) == 0, "derived_write(derived_decode(x)) != x");
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  struct arena a;
  arena_init(&a, 1 << 16);
  struct history *h = malloc(sizeof *h);
  CHECK(h != NULL, "malloc");
  h->n = 0;

  const uint8_t *p = data + 1;
  const size_t len = size - 1;
  if ((data[0] & 1) == 0) {
    for (size_t pos = 0; pos < len;) {
      uint64_t m;
      const size_t used = varint_decode(p + pos, len - pos, &m);
      if (used == 0 || m > len - pos - used)
        break;
      add_stored(h, &a, p + pos + used, (size_t)m);
      pos += used + (size_t)m;
    }
  } else {
    const size_t records = len / 8;
    for (size_t i = 0; i < records && i < MAX_EVENTS; i++)
      add_built(h, &a, build_event(&a, p + 8 * i, i, records));
  }

  /* Bank holidays on the 1st and 2nd of some months of the date range, and
   * inclusive counting, when bit 1 asks for them. */
  csc_date holidays[24];
  for (int i = 0; i < 24; i++)
    holidays[i] = date_from_ymd(2022 + i / 8, 1 + (i / 2) % 4 * 3, 1 + i % 2);
  struct derive_ref ref;
  derive_ref_default(&ref);
  struct workdays wd = {holidays, 24, 1};
  if (data[0] & 2)
    ref.wd = &wd;

  const size_t n = h->n;
  CaseEvent **rev = arena_alloc(&a, (n + 1) * sizeof *rev);
  CaseEvent **odd_even = arena_alloc(&a, (n + 1) * sizeof *odd_even);
  CHECK(rev != NULL && odd_even != NULL, "arena_alloc");
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    rev[i] = h->ev[n - 1 - i];
  for (size_t i = 1; i < n; i += 2)
    odd_even[k++] = h->ev[i];
  for (size_t i = 0; i < n; i += 2)
    odd_even[k++] = h->ev[i];

  size_t l1, l2, l3;
  const uint8_t *r1 = fold_once(h->ev, n, &ref, &a, &l1);
  const uint8_t *r2 = fold_once(rev, n, &ref, &a, &l2);
  const uint8_t *r3 = fold_once(odd_even, n, &ref, &a, &l3);
  CHECK(l1 == l2 && memcmp(r1, r2, l1) == 0,
        "%zu events in reverse order give a different derived record (%zu vs %zu bytes)", n, l1,
        l2);
  CHECK(l1 == l3 && memcmp(r1, r3, l1) == 0,
        "%zu events, odd positions first, give a different derived record (%zu vs %zu bytes)", n,
        l1, l3);

  free(h);
  arena_free(&a);
  return 0;
}
