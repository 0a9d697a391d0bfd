/*
 * test_record_reference: issue 19, item 5: "A document built like the
 * staging SQL's reference record (every field; one id for six kinds of
 * item) is accepted and folds to what it describes."
 *
 * The document (tests/dfe_reference.h, which test_dfe parses) is the DfE
 * CSC API sender's reference payload: child Child1234, born 2022-06-14, and
 * on that same day one CIN episode (referral from source 1C, closed RC7),
 * one assessment (factors 1C and 4A), one CIN plan, one Section 47 enquiry
 * with its ICPC, one CP plan, one placement (K1, RNE P, ended E3), an
 * allocation of worker ABC123, an adoption journey (decision, match,
 * placement), an SDQ of 20 and a care leaver's contact (F, B). The episode,
 * the assessment, the CIN plan, the enquiry, the CP plan and the placement
 * all have the id ABC123456.
 *
 * Every expected value below is worked out by hand from the document and
 * the rules of docs/feeds.md ("What a document becomes"), state/record.c,
 * state/fold.c (the five passes of one day) and docs/indicators.md, whose
 * wording is quoted where a rule decides the value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "feeds/feeds.h"
#include "state/state.h"
#include "tests/dfe_reference.h"
#include "tests/harness.h"
#include "tests/testutil.h"

#define DAY 20220614u /* every date of the document */
#define EVENTS 21     /* the events the document expands into (listed below) */

/* The reference document, read as the endpoint reads it (full mode). */
static struct dfe_document *parse_reference(struct arena *a) {
  struct dfe_document *d;
  size_t n;
  struct dfe_problem p;
  if (dfe_parse(dfe_reference, sizeof dfe_reference - 1,
                CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL, a, &d, &n, &p) != CSC_OK)
    fail_msg("[%ld] %s: %s", p.index, p.field, p.reason);
  assert_int_equal(n, 1);
  return d;
}

/* The ChildRecord event of the document received at 14:00 London on day. */
static CaseEvent *reference_event(struct arena *a, const struct dfe_document *d, csc_date day) {
  CaseEvent *ev = arena_alloc(a, sizeof *ev);
  assert_non_null(ev);
  assert_int_equal(dfe_event(LA, d, test_ms(day), a, ev), CSC_OK);
  return ev;
}

/* The record of the document received on 2023-03-01, expanded (record_expand)
 * into *ev, *n; the record itself. */
static CaseEvent *expand_reference(struct arena *a, CaseEvent ***ev, size_t *n) {
  const struct dfe_document *d = parse_reference(a);
  CaseEvent *record = reference_event(a, d, D(2023, 3, 1));
  CaseEvent **in = arena_alloc(a, sizeof *in);
  assert_non_null(in);
  in[0] = record;
  assert_int_equal(record_expand(in, 1, a, ev, n), CSC_OK);
  return record;
}

/* The record of the document received on 2023-03-01 (*first) and of the
 * same document sent again on 2023-03-02 (*again): not a duplicate. */
static void reference_twice(struct arena *a, CaseEvent **first, CaseEvent **again) {
  const struct dfe_document *d = parse_reference(a);
  *first = reference_event(a, d, D(2023, 3, 1));
  *again = reference_event(a, d, D(2023, 3, 2));
  assert_string_not_equal((*first)->event_id, (*again)->event_id);
}

/* The only expanded event of payload case c. */
static const CaseEvent *only(CaseEvent **ev, size_t n, int c) {
  const CaseEvent *found = NULL;
  for (size_t i = 1; i < n; i++)
    if ((int)ev[i]->payload_case == c) {
      if (found != NULL)
        fail_msg("two events of payload case %d", c);
      found = ev[i];
    }
  if (found == NULL)
    fail_msg("no event of payload case %d", c);
  return found;
}

/* The expanded events of payload case c, in expansion order, into out. */
static size_t all_of(CaseEvent **ev, size_t n, int c, const CaseEvent **out, size_t cap) {
  size_t k = 0;
  for (size_t i = 1; i < n; i++)
    if ((int)ev[i]->payload_case == c) {
      assert_true(k < cap);
      out[k++] = ev[i];
    }
  return k;
}

#define PAYLOAD(x) CSCFLOW__V1__CASE_EVENT__PAYLOAD_##x
#define STAGE(x) CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_##x

/*
 * 1. The events the document becomes (record_expand). By docs/feeds.md,
 * items are "Named by kind and start date (a referral R + its date, an
 * assessment A, an enquiry S, a plan CIN or CP, a period of care P + its
 * start)", so the six items of id ABC123456 are six items, R20220614,
 * A20220614, CIN20220614, S20220614, CP20220614 and P20220614, and no event
 * names ABC123456. The placement's start_reason is P, not S: "placements
 * with no S before them are a period begun earlier, imported as
 * continuing", so it is a continuing PeriodOfCareStarted, and its
 * end_reason E3 (not X1) "ends the period". Worked out item by item:
 *
 *   child_details        ChildDetails: born and expected 2022-06-14, M,
 *                        WBRI, disabled (HAND, HEAR), UASC, UASC ended on
 *                        2022-06-14; dated on the date of birth      1
 *   sdq_assessments      SdqScore 20                                  1
 *   the episode          ReferralOpened R20220614 (1C, not NFA) and
 *                        ReferralClosed R20220614 (RC7, not NFA)      2
 *   the assessment       AssessmentStarted and AssessmentCompleted
 *                        A20220614 of R20220614, factors 1C 4A        2
 *   the CIN plan         CinPlanStarted and CinPlanEnded CIN20220614  2
 *   the CP plan          CpPlanStarted and CpPlanEnded CP20220614     2
 *   the S47 enquiry      Section47Started S20220614 of R20220614,
 *                        IcpcHeld for S20220614 (icpc_date),
 *                        Section47Completed S20220614 (the ICPC was
 *                        required: icpc_required_flag true)           3
 *   care_worker_details  WorkerAllocated ABC123, and its deallocation  2
 *   adoption             AdoptionMilestone DECISION, MATCHED, PLACED  3
 *   care_leavers         CareLeaverContact F, B                       1
 *   the placement        PeriodOfCareStarted P20220614 (continuing,
 *                        K1, district AB12) and PeriodOfCareEnded
 *                        P20220614 (E3)                               2
 *                                                             total  21
 *
 * All on 2022-06-14, after the record event itself, each with the record's
 * LA, child, receipt time and source, and the record's id with "#n" (each
 * its own n).
 */
static void test_expansion(void **state) {
  (void)state;
  struct arena a;
  arena_init(&a, 1 << 16);
  CaseEvent **ev;
  size_t n;
  const CaseEvent *record = expand_reference(&a, &ev, &n);
  assert_int_equal(n, 1 + EVENTS);
  assert_ptr_equal(ev[0], record);

  /* Every expanded event: the record's envelope, 2022-06-14, and an id of
   * its own, the record's with "#" and a number. */
  const size_t len = strlen(record->event_id);
  for (size_t i = 1; i < n; i++) {
    assert_string_equal(ev[i]->la_code, LA);
    assert_string_equal(ev[i]->child_id, "Child1234");
    assert_string_equal(ev[i]->source_system, DFE_SOURCE);
    assert_int_equal(ev[i]->recorded_at_ms, record->recorded_at_ms);
    assert_int_equal(ev[i]->occurred_on, DAY);
    assert_memory_equal(ev[i]->event_id, record->event_id, len);
    assert_int_equal(ev[i]->event_id[len], '#');
    const char *serial = ev[i]->event_id + len + 1;
    assert_true(serial[0] >= '1' && serial[0] <= '9');
    assert_int_equal(strspn(serial, "0123456789"), strlen(serial));
    for (size_t j = 1; j < i; j++)
      assert_string_not_equal(ev[i]->event_id, ev[j]->event_id);
  }

  /* The child's details. */
  const Cscflow__V1__ChildDetails *cd = only(ev, n, PAYLOAD(CHILD_DETAILS))->child_details;
  assert_int_equal(cd->date_of_birth, DAY);
  assert_int_equal(cd->expected_date_of_birth, DAY);
  assert_int_equal(cd->sex, CSCFLOW__V1__SEX__SEX_MALE);
  assert_string_equal(cd->ethnicity, "WBRI");
  assert_true(cd->disabled);
  assert_int_equal(cd->n_disabilities, 2);
  assert_string_equal(cd->disabilities[0], "HAND");
  assert_string_equal(cd->disabilities[1], "HEAR");
  assert_true(cd->uasc);
  assert_int_equal(cd->uasc_ceased_on, DAY);
  assert_int_equal(cd->date_of_death, 0);

  assert_int_equal(only(ev, n, PAYLOAD(SDQ_SCORE))->sdq_score->score, 20);

  /* The episode: the referral and its closure. */
  const Cscflow__V1__ReferralOpened *ro = only(ev, n, PAYLOAD(REFERRAL_OPENED))->referral_opened;
  assert_string_equal(ro->referral_id, "R20220614");
  assert_string_equal(ro->source, "1C");
  assert_false(ro->no_further_action);
  const Cscflow__V1__ReferralClosed *rc = only(ev, n, PAYLOAD(REFERRAL_CLOSED))->referral_closed;
  assert_string_equal(rc->referral_id, "R20220614");
  assert_string_equal(rc->closure_reason, "RC7");
  assert_false(rc->no_further_action);

  /* The assessment, of the referral, completed with its two factors. */
  const Cscflow__V1__AssessmentStarted *as =
      only(ev, n, PAYLOAD(ASSESSMENT_STARTED))->assessment_started;
  assert_string_equal(as->assessment_id, "A20220614");
  assert_string_equal(as->referral_id, "R20220614");
  const Cscflow__V1__AssessmentCompleted *ac =
      only(ev, n, PAYLOAD(ASSESSMENT_COMPLETED))->assessment_completed;
  assert_string_equal(ac->assessment_id, "A20220614");
  assert_string_equal(ac->referral_id, "R20220614");
  assert_int_equal(ac->n_factors, 2);
  assert_string_equal(ac->factors[0], "1C");
  assert_string_equal(ac->factors[1], "4A");
  assert_int_equal(ac->outcome, CSCFLOW__V1__ASSESSMENT_OUTCOME__ASSESSMENT_OUTCOME_UNSPECIFIED);

  /* The plans, each of the referral. */
  const Cscflow__V1__CinPlanStarted *cin = only(ev, n, PAYLOAD(CIN_PLAN_STARTED))->cin_plan_started;
  assert_string_equal(cin->plan_id, "CIN20220614");
  assert_string_equal(cin->referral_id, "R20220614");
  assert_string_equal(only(ev, n, PAYLOAD(CIN_PLAN_ENDED))->cin_plan_ended->plan_id, "CIN20220614");
  const Cscflow__V1__CpPlanStarted *cp = only(ev, n, PAYLOAD(CP_PLAN_STARTED))->cp_plan_started;
  assert_string_equal(cp->plan_id, "CP20220614");
  assert_string_equal(cp->referral_id, "R20220614");
  assert_string_equal(cp->initial_category, ""); /* the document has no categories */
  assert_false(cp->previous_cp_plans_recorded);
  assert_string_equal(only(ev, n, PAYLOAD(CP_PLAN_ENDED))->cp_plan_ended->plan_id, "CP20220614");

  /* The enquiry, its ICPC, and its end with the ICPC required. */
  const Cscflow__V1__Section47Started *ss =
      only(ev, n, PAYLOAD(SECTION47_STARTED))->section47_started;
  assert_string_equal(ss->enquiry_id, "S20220614");
  assert_string_equal(ss->referral_id, "R20220614");
  assert_string_equal(only(ev, n, PAYLOAD(ICPC_HELD))->icpc_held->enquiry_id, "S20220614");
  const Cscflow__V1__Section47Completed *sc =
      only(ev, n, PAYLOAD(SECTION47_COMPLETED))->section47_completed;
  assert_string_equal(sc->enquiry_id, "S20220614");
  assert_false(sc->icpc_not_required);

  /* The worker: allocated, then deallocated, the same day. */
  const CaseEvent *w[2];
  assert_int_equal(all_of(ev, n, PAYLOAD(WORKER_ALLOCATED), w, 2), 2);
  assert_string_equal(w[0]->worker_allocated->worker_id, "ABC123");
  assert_string_equal(w[1]->worker_allocated->worker_id, "ABC123");
  assert_int_equal(w[0]->worker_allocated->deallocated + w[1]->worker_allocated->deallocated, 1);

  /* The adoption journey: decision, match, placement; no placement order
   * and no adoption order (the document has neither). */
  const CaseEvent *ad[3];
  assert_int_equal(all_of(ev, n, PAYLOAD(ADOPTION_MILESTONE), ad, 3), 3);
  int stages = 0;
  for (int i = 0; i < 3; i++) {
    const int s = ad[i]->adoption_milestone->stage;
    assert_true(s == STAGE(DECISION) || s == STAGE(MATCHED) || s == STAGE(PLACED));
    stages |= 1 << s;
    assert_false(ad[i]->adoption_milestone->early_permanence);
    assert_false(ad[i]->adoption_milestone->placed_with_foster_carer);
  }
  assert_int_equal(stages, (1 << STAGE(DECISION)) | (1 << STAGE(MATCHED)) | (1 << STAGE(PLACED)));

  /* The care leaver's contact: the codes as sent (no IN_TOUCH in the
   * document; "B" has no suitability digit). */
  const Cscflow__V1__CareLeaverContact *cl =
      only(ev, n, PAYLOAD(CARE_LEAVER_CONTACT))->care_leaver_contact;
  assert_string_equal(cl->activity_code, "F");
  assert_string_equal(cl->accommodation_code, "B");
  assert_string_equal(cl->in_touch_code, "");
  assert_false(cl->accommodation_suitable);

  /* The placement: RNE P, so a continuing period named by its start, K1 in
   * AB12 (the district, never the postcode), ended E3. */
  const Cscflow__V1__PeriodOfCareStarted *ps =
      only(ev, n, PAYLOAD(PERIOD_OF_CARE_STARTED))->period_of_care_started;
  assert_string_equal(ps->period_id, "P20220614");
  assert_true(ps->continuing);
  assert_non_null(ps->placement);
  assert_string_equal(ps->placement->placement_type, "K1");
  assert_string_equal(ps->placement->postcode_district, "AB12");
  const Cscflow__V1__PeriodOfCareEnded *pe =
      only(ev, n, PAYLOAD(PERIOD_OF_CARE_ENDED))->period_of_care_ended;
  assert_string_equal(pe->period_id, "P20220614");
  assert_string_equal(pe->reason_ceased, "E3");
  /* No placement move: the one placement opens the period. */
  const CaseEvent *none[1];
  assert_int_equal(all_of(ev, n, PAYLOAD(PLACEMENT_STARTED), none, 1), 0);

  /* Six items, six ids, none of them the source's shared id. */
  const char *six[6] = {ro->referral_id, as->assessment_id, cin->plan_id,
                        ss->enquiry_id,  cp->plan_id,       ps->period_id};
  for (int i = 0; i < 6; i++) {
    assert_string_not_equal(six[i], "ABC123456");
    for (int j = 0; j < i; j++)
      assert_string_not_equal(six[i], six[j]);
  }
  arena_free(&a);
}

/*
 * The record folded (child_fold), the day's events in fold.c's five passes:
 * (1) ends of what was open before the day: none; (2) starts: the referral,
 * the assessment, the enquiry, the CIN and CP plans, the allocation, the
 * adoption decision; (3) continuing starts: the period P20220614, which
 * joins no open period, so it opens one "whose start is unknown
 * (period_start_unknown)"; (4) the rest: the ICPC, the SDQ, the contact,
 * the match and the placement for adoption; (5) the remaining ends: the
 * closure, the completions, the plans' ends, the period's end, the
 * deallocation. So every item is one, opened and ended on 2022-06-14.
 * Findings, exactly two: period_start_unknown on the period's start, and
 * unknown_code on the contact (activity "F" is in no year's list of
 * reference/code-lists.csv: F1 .. F6 are; every other code of the document
 * is listed: 1C, RC7, 1C and 4A, K1, E3, WBRI, HAND, HEAR, B).
 */
static void test_folded(void **state) {
  (void)state;
  struct arena a;
  arena_init(&a, 1 << 16);
  CaseEvent **ev;
  size_t n;
  CaseEvent *record = expand_reference(&a, &ev, &n);
  const char *contact_id = only(ev, n, PAYLOAD(CARE_LEAVER_CONTACT))->event_id;
  const char *period_id = only(ev, n, PAYLOAD(PERIOD_OF_CARE_STARTED))->event_id;

  CaseEvent *history[1] = {record};
  struct child_state st;
  assert_int_equal(child_fold(history, 1, test_code_lists(), &a, &st), CSC_OK);
  const csc_date day = D(2022, 6, 14);

  assert_int_equal(st.details.dob, day);
  assert_int_equal(st.details.expected_dob, day);
  assert_int_equal(st.details.death, DATE_NEVER);
  assert_int_equal(st.details.sex, CSCFLOW__V1__SEX__SEX_MALE);
  assert_string_equal(st.details.ethnicity, "WBRI");
  assert_true(st.details.disabled);
  assert_true(st.details.uasc);
  assert_int_equal(st.details.uasc_ceased, day);

  assert_int_equal(st.n_referrals, 1);
  const struct episode *r = &st.referrals[0];
  assert_string_equal(r->id, "R20220614");
  assert_int_equal(r->start, day);
  assert_int_equal(r->end, day);
  assert_string_equal(r->code, "1C");
  assert_string_equal(r->end_code, "RC7");
  assert_int_equal(r->flags & (EP_NFA | EP_NFA_AT_REFERRAL | EP_REREFERRAL), 0);

  assert_int_equal(st.n_assessments, 1);
  const struct episode *as = &st.assessments[0];
  assert_string_equal(as->id, "A20220614");
  assert_string_equal(as->ref, "R20220614");
  assert_int_equal(as->start, day);
  assert_int_equal(as->end, day);
  assert_int_equal(as->n_factors, 2);
  assert_int_equal(as->flags & (EP_NO_START | EP_END_BEFORE_START), 0);

  assert_int_equal(st.n_enquiries, 1);
  const struct episode *s47 = &st.enquiries[0];
  assert_string_equal(s47->id, "S20220614");
  assert_string_equal(s47->ref, "R20220614");
  assert_int_equal(s47->start, day);
  assert_int_equal(s47->end, day);
  assert_int_equal(s47->flags & (EP_ICPC_NOT_REQUIRED | EP_NO_START), 0);
  assert_int_equal(st.n_icpcs, 1);
  assert_string_equal(st.icpcs[0].id, "S20220614");
  assert_int_equal(st.icpcs[0].date, day);

  static const struct {
    int kind;
    const char *id;
  } plans[2] = {{PLAN_CIN, "CIN20220614"}, {PLAN_CP, "CP20220614"}};
  for (int i = 0; i < 2; i++) {
    assert_int_equal(st.n_plans[plans[i].kind], 1);
    const struct episode *p = &st.plans[plans[i].kind][0];
    assert_string_equal(p->id, plans[i].id);
    assert_string_equal(p->ref, "R20220614");
    assert_int_equal(p->start, day);
    assert_int_equal(p->end, day);
  }
  assert_string_equal(st.plans[PLAN_CP][0].code, ""); /* no category */
  assert_int_equal(st.n_plans[PLAN_EH], 0);

  /* The period: start unknown, looked after from 2022-06-14 and ended that
   * day, E3: it lasts no day, so no day is looked after (no care span). */
  assert_int_equal(st.n_plans[PLAN_LAC], 1);
  const struct episode *period = &st.plans[PLAN_LAC][0];
  assert_string_equal(period->id, "P20220614");
  assert_int_equal(period->start, day);
  assert_int_equal(period->end, day);
  assert_string_equal(period->end_code, "E3");
  assert_true(period->flags & EP_START_UNKNOWN);
  assert_int_equal(st.n_care_spans, 0);
  assert_int_equal(st.n_placements, 1);
  assert_string_equal(st.placements[0].ref, "P20220614");
  assert_string_equal(st.placements[0].code, "K1");
  assert_int_equal(st.placements[0].start, day);
  assert_int_equal(st.placements[0].end, day);

  assert_int_equal(st.n_allocations, 1);
  assert_string_equal(st.allocations[0].id, "ABC123");
  assert_int_equal(st.allocations[0].start, day);
  assert_int_equal(st.allocations[0].end, day);

  assert_int_equal(st.n_adoptions, 1);
  const struct adoption *j = &st.adoptions[0];
  assert_int_equal(j->decision, day);
  assert_int_equal(j->matched, day);
  assert_int_equal(j->placed, day);
  assert_int_equal(j->placement_order, DATE_NEVER);
  assert_int_equal(j->adopted, DATE_NEVER);
  assert_int_equal(j->reversed, DATE_NEVER);

  assert_int_equal(st.n_sdq, 1);
  assert_int_equal(st.sdq[0].date, day);
  assert_int_equal(st.sdq[0].value, 20);
  assert_int_equal(st.n_leaver_contacts, 1);
  assert_int_equal(st.leaver_contacts[0].date, day);
  assert_string_equal(st.leaver_contacts[0].code, "F");
  assert_string_equal(st.leaver_contacts[0].code2, "B");

  assert_int_equal(st.n_findings, 2);
  int unknown = 0, start_unknown = 0;
  for (size_t i = 0; i < st.n_findings; i++) {
    if (st.findings[i].rule == Q_UNKNOWN_CODE && strcmp(st.findings[i].event_id, contact_id) == 0)
      unknown++;
    if (st.findings[i].rule == Q_PERIOD_START_UNKNOWN &&
        strcmp(st.findings[i].event_id, period_id) == 0)
      start_unknown++;
  }
  assert_int_equal(unknown, 1);
  assert_int_equal(start_unknown, 1);
  arena_free(&a);
}

/*
 * 3, in the fold. The document sent again the next day is another event
 * (its id hashes the day it came, feeds/dfe.c); merged after the first, it
 * restates every item unchanged (full mode: "the held items become the
 * document's", the same items). So it expands into the same 21 events,
 * with the same ids, the first document's (state/record.c, IDS: an item
 * restated unchanged keeps its events' ids), now recorded when the second
 * came; and the fold keeps the same two findings on the same events.
 */
static void test_resend_keeps_ids(void **state) {
  (void)state;
  struct arena a;
  arena_init(&a, 1 << 16);
  CaseEvent *first, *again;
  reference_twice(&a, &first, &again);
  CaseEvent *one[1] = {first}, *two[2] = {first, again}, **x, **y;
  size_t nx, ny;
  assert_int_equal(record_expand(one, 1, &a, &x, &nx), CSC_OK);
  assert_int_equal(record_expand(two, 2, &a, &y, &ny), CSC_OK);
  assert_int_equal(nx, 1 + EVENTS);
  assert_int_equal(ny, 2 + EVENTS);
  for (size_t i = 1; i < nx; i++) {
    const CaseEvent *e = x[i], *same = NULL;
    for (size_t j = 2; j < ny; j++)
      if (strcmp(y[j]->event_id, e->event_id) == 0) {
        assert_null(same);
        same = y[j];
      }
    assert_non_null(same);
    assert_int_equal(same->payload_case, e->payload_case);
    assert_int_equal(same->occurred_on, e->occurred_on);
    assert_int_equal(same->recorded_at_ms, again->recorded_at_ms);
  }

  struct child_state once, twice;
  CaseEvent *h1[1] = {first}, *h2[2] = {first, again};
  assert_int_equal(child_fold(h1, 1, test_code_lists(), &a, &once), CSC_OK);
  assert_int_equal(child_fold(h2, 2, test_code_lists(), &a, &twice), CSC_OK);
  assert_int_equal(once.n_findings, 2);
  assert_int_equal(twice.n_findings, 2);
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(twice.findings[i].rule, once.findings[i].rule);
    assert_string_equal(twice.findings[i].event_id, once.findings[i].event_id);
  }
  arena_free(&a);
}

/* ---- through the engine ----------------------------------------------------------- */

/* A clock tick: another child's details, which count in nothing. */
static void add_tick(struct evs *b, const char *id, csc_date day) {
  Cscflow__V1__CaseEvent ev = envelope(id, "CLOCK", day, day);
  Cscflow__V1__ChildDetails c = CSCFLOW__V1__CHILD_DETAILS__INIT;
  c.date_of_birth = 20100101;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
  ev.child_details = &c;
  add(b, &ev);
}

static void expect_percentile(struct fixture *f, const char *id, const char *bd, double x) {
  const struct value v = get(f, id, "12m", bd);
  assert_true(v.has_value);
  assert_float_equal(v.value, x, 1e-9);
}

/* One item of 0 working days in 12m: in 0-10 and within the target (within),
 * in neither later bucket (b2, b3); every percentile 0. */
static void expect_zero_days(struct fixture *f, const char *id, const char *b2, const char *b3,
                             const char *within) {
  expect_ratio(f, id, "12m", "0-10", 1, 1, 100.0);
  expect_ratio(f, id, "12m", b2, 0, 1, 0.0);
  expect_ratio(f, id, "12m", b3, 0, 1, 0.0);
  expect_ratio(f, id, "12m", within, 1, 1, 100.0);
  expect_percentile(f, id, "p25", 0);
  expect_percentile(f, id, "p50", 0);
  expect_percentile(f, id, "p75", 0);
}

/* 0 of 1 for id in window at "CIN,<t>", then at "CP,<t>", for each t of
 * thresholds. */
static void expect_cin_cp_none_of_one(struct fixture *f, const char *id, const char *window,
                                      const char *const thresholds[3]) {
  static const char *const kinds[2] = {"CIN", "CP"};
  for (int k = 0; k < 2; k++)
    for (int t = 0; t < 3; t++) {
      char bd[32];
      snprintf(bd, sizeof bd, "%s,%s", kinds[k], thresholds[t]);
      expect_ratio(f, id, window, bd, 0, 1, 0.0);
    }
}

static void expect_findings(struct fixture *f) {
  const struct value v = get(f, "referrals", "12m", "");
  for (int r = 0; r < Q_RULE_COUNT; r++)
    assert_int_equal(v.quality[r], r == Q_UNKNOWN_CODE || r == Q_PERIOD_START_UNKNOWN);
}

/*
 * What a user reads for this child, the only child of the LA, on T =
 * 2023-03-01 or 2023-03-02 (the same on both: no window starts or ends
 * between them). The population is 10,000 (2023, T's year), so per_10k =
 * count. Windows (docs/indicators.md, Common rules): "12m on T covers dates
 * d with add_months(T, -12) < d <= T" ((2022-03-01, 2023-03-01] at the
 * latest), "FYTD covers fy_start(T) <= d <= T" ([2022-04-01, T]): 2022-06-14
 * is in both. "Open: ... open on the days s <= T < e (not on its end date)":
 * nothing the document describes is open on any day, so every count on T
 * is 0.
 */
static void expect_reference_values(struct fixture *f) {
  /* Activity. "referrals ... (CIN episodes opened; referral_while_open
   * excluded) with start in window": R20220614, 1. */
  expect_count(f, "referrals", "12m", "", 1, 1);
  expect_count(f, "referrals", "FYTD", "", 1, 1);
  /* "referrals in window within 12 months of the previous one": there is
   * no previous one: 0 of 1. */
  expect_ratio(f, "rereferrals", "12m", "", 0, 1, 0.0);
  expect_ratio(f, "rereferrals", "FYTD", "", 0, 1, 0.0);
  /* Its source, 1C: 1 of 1; no other source. */
  expect_ratio(f, "referrals_by_source", "12m", "1C", 1, 1, 100.0);
  expect_ratio(f, "referrals_by_source", "12m", "1A", 0, 1, 0.0);
  expect_ratio(f, "referrals_by_source", "12m", "other", 0, 1, 0.0);
  /* referral_outcome: "the furthest stage reached by T"; "Stages of an
   * episode [s, e): an early help episode, CIN plan or CP plan starting, or
   * a period of care becoming looked after (its first day not under
   * V3/V4), in [s, e]", and "a stage that starts on the closure date
   * belongs to the episode":
   * the CIN and CP plans start on s = e = 2022-06-14. The period is no
   * stage: its start is unknown ("left out of ... the LAC stage of
   * referral_outcome") and it has no looked-after day. Precedence
   * LAC > CP > CIN: CP, 1 of 1. */
  expect_ratio(f, "referral_outcome", "12m", "CP", 1, 1, 100.0);
  expect_ratio(f, "referral_outcome", "12m", "CIN", 0, 1, 0.0);
  expect_ratio(f, "referral_outcome", "12m", "LAC", 0, 1, 0.0);
  expect_ratio(f, "referral_outcome", "12m", "EH", 0, 1, 0.0);
  expect_ratio(f, "referral_outcome", "12m", "NFA", 0, 1, 0.0);
  expect_ratio(f, "referral_outcome", "12m", "pending", 0, 1, 0.0);
  /* "assessments completed in window, once per id on the first
   * completion": A20220614 on its authorisation date, 1. */
  expect_count(f, "assessments", "12m", "", 1, 1);
  /* "Section 47 enquiries started in window, once per id": 1. */
  expect_count(f, "s47_enquiries", "12m", "", 1, 1);
  /* "ICPCs held in window": the one on icpc_date, 1. */
  expect_count(f, "icpcs", "12m", "", 1, 1);
  /* "CP plans started in window": 1, in `other` ("unknown or unrecorded
   * category": the document has no category). */
  expect_count(f, "cp_plan_starts", "12m", "", 1, 1);
  expect_count(f, "cp_plan_starts", "12m", "other", 1, 1);
  expect_count(f, "cp_plan_starts", "12m", "N", 0, 0);
  expect_count(f, "cp_plan_starts", "12m", "P", 0, 0);
  expect_count(f, "cp_plan_starts", "12m", "E", 0, 0);
  expect_count(f, "cp_plan_starts", "12m", "S", 0, 0);
  expect_count(f, "cp_plan_starts", "12m", "M", 0, 0);
  /* "completed assessments in 12m recording the factor / assessments
   * completed in 12m": 1C and 4A, 1 of 1 each. */
  expect_ratio(f, "assessment_factors", "12m", "1C", 1, 1, 100.0);
  expect_ratio(f, "assessment_factors", "12m", "4A", 1, 1, 100.0);
  expect_ratio(f, "assessment_factors", "12m", "1A", 0, 1, 0.0);
  expect_ratio(f, "assessment_factors", "12m", "other", 0, 1, 0.0);
  /* "assessments completed in 12m with outcome NFA (denominator)": the
   * document records no outcome, so none: 0 of 0, null. */
  expect_ratio(f, "nfa_reassessed", "12m", "6m", 0, 0, 0);
  expect_ratio(f, "nfa_reassessed", "12m", "12m", 0, 0, 0);

  /* Timeliness. "wd(a, b) counts working days d with a < d <= b": the
   * referral and the completion are both on 2022-06-14, 0 working days;
   * the enquiry's start and the ICPC too. One item each, in 0-10. */
  expect_zero_days(f, "referral_to_assessment_wd", "11-20", "46+", "within_45");
  expect_zero_days(f, "s47_to_icpc_wd", "11-15", "21+", "within_15");
  /* "An episode opened and closed on the same day is never open, and is a
   * <3m closure": none open on T; closed in the window, <3m, 1 of 1. */
  expect_ratio(f, "cin_episode_duration", "T", "<3m", 0, 0, 0);
  expect_ratio(f, "cin_episode_duration", "12m", "<3m", 1, 1, 100.0);
  expect_ratio(f, "cin_episode_duration", "12m", "3-6m", 0, 1, 0.0);
  expect_ratio(f, "cin_episode_duration", "12m", "2y+", 0, 1, 0.0);

  /* Plans. "A plan started and ended on the same day counts as started
   * (repeat_plan's denominator ...) and as ended (ended_plans_over's
   * denominator, over no threshold), but is open on no day: never in
   * open_plans_over, children_on_plan or seen_per_plan." */
  expect_count(f, "children_in_need", "T", "", 0, 0);
  expect_count(f, "children_on_plan", "T", "EH", 0, 0);
  expect_count(f, "children_on_plan", "T", "CIN", 0, 0);
  expect_count(f, "children_on_plan", "T", "CP", 0, 0);
  expect_count(f, "children_on_plan", "T", "LAC", 0, 0);
  expect_ratio(f, "open_plans_over", "T", "CIN,6m", 0, 0, 0);
  expect_ratio(f, "open_plans_over", "T", "CP,6m", 0, 0, 0);
  expect_ratio(f, "open_plans_over", "T", "LAC,6m", 0, 0, 0);
  static const char *const windows[2] = {"12m", "FYTD"};
  static const char *const over[3] = {"6m", "12m", "24m"};
  static const char *const since[3] = {"12m", "24m", "ever"};
  for (int w = 0; w < 2; w++) {
    /* CIN and CP: 1 ended, over no threshold: 0 of 1. */
    expect_cin_cp_none_of_one(f, "ended_plans_over", windows[w], over);
    /* LAC: "A period that lasts no day is neither" started nor ended. */
    expect_ratio(f, "ended_plans_over", windows[w], "LAC,6m", 0, 0, 0);
    expect_ratio(f, "ended_plans_over", windows[w], "EH,6m", 0, 0, 0);
    /* CIN and CP: 1 started, with no earlier plan: no repeat, not even
     * `ever` (no previous CP plans recorded): 0 of 1. LAC: the period's
     * start is unknown, "left out of every count of starts: ...
     * repeat_plan's LAC starts (its denominator ...)": 0 of 0. */
    expect_cin_cp_none_of_one(f, "repeat_plan", windows[w], since);
    expect_ratio(f, "repeat_plan", windows[w], "LAC,ever", 0, 0, 0);
    expect_ratio(f, "repeat_plan", windows[w], "EH,ever", 0, 0, 0);
  }
  expect_ratio(f, "seen_per_plan", "T", "CIN", 0, 0, 0);
  expect_ratio(f, "seen_per_plan", "T", "CP", 0, 0, 0);
  expect_ratio(f, "seen_per_plan", "T", "LAC", 0, 0, 0);
  /* "CP plans ended ... in window (denominator); numerator: the child's CIN
   * episode closed on the end date e ... closed on or before
   * min(add_months(e, 6), T); e itself included": the CP plan and the
   * episode both end on 2022-06-14: 1 of 1. after_LAC: "periods of care
   * ended, the last day not under V3/V4": the period has no last day:
   * 0 of 0. */
  expect_ratio(f, "cin_closed_after_step_down", "12m", "after_CP", 1, 1, 100.0);
  expect_ratio(f, "cin_closed_after_step_down", "12m", "after_LAC", 0, 0, 0);
  expect_ratio(f, "cp_reviews_timely", "T", "", 0, 0, 0);
  expect_ratio(f, "lac_reviews_timely", "T", "", 0, 0, 0);

  /* Outcomes. Looked after on no day (the period lasts none): every
   * looked-after denominator is 0. */
  expect_ratio(f, "placements_3plus", "FYTD", "", 0, 0, 0);
  expect_ratio(f, "placements_3plus", "12m", "", 0, 0, 0);
  expect_ratio(f, "placement_stability_long", "T", "", 0, 0, 0);
  expect_ratio(f, "placement_changes_avg", "12m", "", 0, 0, 0);
  expect_ratio(f, "placement_type_mix", "T", "secure", 0, 0, 0);
  expect_ratio(f, "placement_distance", "T", "unknown", 0, 0, 0);
  for (int w = 0; w < 2; w++) {
    /* A period of unknown start is "no entry to care"; an exit counts
     * "when its last day (end - 1) is" looked after: neither. */
    expect_count(f, "care_entries", windows[w], "", 0, 0);
    expect_count(f, "care_entries", windows[w], "UASC", 0, 0);
    expect_count(f, "care_entries", windows[w], "not_UASC", 0, 0);
    expect_ratio(f, "care_exits_permanence", windows[w], "adoption", 0, 0, 0);
    expect_ratio(f, "missing_from_care", windows[w], "missing", 0, 0, 0);
  }
  expect_ratio(f, "reunification_sustained", "12m", "", 0, 0, 0);
  /* adoption_timeliness: "children adopted (adoption order) in window": the
   * document gives no adoption order: 0 of 0 for A1, A2, A10. */
  expect_ratio(f, "adoption_timeliness", "12m", "A1", 0, 0, 0);
  expect_ratio(f, "adoption_timeliness", "12m", "A2", 0, 0, 0);
  expect_ratio(f, "adoption_timeliness", "12m", "A10", 0, 0, 0);
  /* early_permanence: "journeys placed for adoption in window with early
   * permanence / journeys placed for adoption in window": placed on
   * 2022-06-14, 1; the document cannot say early permanence
   * (docs/feeds.md: the feed alone does not support it): 0 of 1. */
  expect_ratio(f, "early_permanence", "12m", "", 0, 1, 0.0);
  /* care_leavers: "children aged 17-21 on T": the child is 0. sdq_mean:
   * "looked after on T ... aged 4-16": neither. */
  expect_ratio(f, "care_leavers", "12m", "in_touch", 0, 0, 0);
  expect_ratio(f, "care_leavers", "12m", "eet", 0, 0, 0);
  expect_ratio(f, "care_leavers", "12m", "suitable_accommodation", 0, 0, 0);
  expect_ratio(f, "care_leavers", "12m", "in_touch,NO", 0, 0, 0);
  expect_ratio(f, "sdq_mean", "T", "mean", 0, 0, 0);
  expect_count(f, "court_applications", "6m", "", 0, 0);

  /* Workforce. sw_caseload: "children with an open allocation on T /
   * case-holding workers employed on T": the allocation is open on no
   * day, and the document has no worker's employment: 0 of 0. */
  expect_ratio(f, "sw_caseload", "T", "", 0, 0, 0);

  /* Data quality: the two findings of the fold, open. */
  expect_findings(f);
}

/* One value of a snapshot, for comparing two. */
struct row_value {
  char key[160];
  int has_num, has_den, has_value, has_per_10k, provisional;
  double num, den, value, per_10k;
};

struct all_values {
  struct row_value *v;
  size_t n, cap;
  uint32_t as_of;
  uint64_t quality[Q_RULE_COUNT];
};

static int collect(void *ctx, const IndicatorSnapshot *snap) {
  struct all_values *all = ctx;
  all->as_of = snap->as_of;
  for (size_t i = 0; i < snap->n_quality && i < Q_RULE_COUNT; i++)
    all->quality[i] = snap->quality[i]->count;
  for (size_t i = 0; i < snap->n_values; i++) {
    const Cscflow__V1__IndicatorValue *x = snap->values[i];
    if (all->n == all->cap) {
      all->cap = all->cap ? 2 * all->cap : 1024;
      all->v = realloc(all->v, all->cap * sizeof *all->v);
      assert_non_null(all->v);
    }
    struct row_value *r = &all->v[all->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s|%s|%s", x->id, x->window, x->breakdown);
    r->has_num = x->has_numerator;
    r->num = x->numerator;
    r->has_den = x->has_denominator;
    r->den = x->denominator;
    r->has_value = x->has_value;
    r->value = x->value;
    r->has_per_10k = x->has_per_10k;
    r->per_10k = x->per_10k;
    r->provisional = x->provisional;
  }
  return CSC_OK;
}

static void snapshot_values(struct fixture *f, struct all_values *all) {
  memset(all, 0, sizeof *all);
  struct store *st = engine_store(f->e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, LA, collect, all), CSC_OK);
  mdb_txn_abort(txn);
  assert_true(all->n > 0);
}

static void expect_same_values(const struct all_values *x, const struct all_values *y) {
  assert_int_equal(x->as_of, y->as_of);
  assert_memory_equal(x->quality, y->quality, sizeof x->quality);
  assert_int_equal(x->n, y->n);
  for (size_t i = 0; i < x->n; i++) {
    const struct row_value *a = &x->v[i], *b = &y->v[i];
    if (strcmp(a->key, b->key) != 0 || a->has_num != b->has_num || a->num != b->num ||
        a->has_den != b->has_den || a->den != b->den || a->has_value != b->has_value ||
        (a->has_value && a->value != b->value) || a->has_per_10k != b->has_per_10k ||
        (a->has_per_10k && a->per_10k != b->per_10k) || a->provisional != b->provisional)
      fail_msg("%s: %g/%g = %g (%d) against %s: %g/%g = %g (%d)", a->key, a->num, a->den,
               a->value, a->has_value, b->key, b->num, b->den, b->value, b->has_value);
  }
}

/*
 * 2. The document received on 2023-03-01 and folded through the engine:
 * the values above on T = 2023-03-01.
 * 3. The same document sent again the next day (the sender's resend of an
 * unchanged row, e.g. after a re-baseline): another event (its id hashes
 * the day it came, feeds/dfe.c), applied, and what it says is what the
 * state holds already (full mode: the held items become the document's,
 * the same items). On T = 2023-03-02: the values above again, no count
 * doubled; and every value of the snapshot equals that of an LA that never
 * got the resend, only a tick of the clock to 2023-03-02.
 */
static void test_through_the_engine(void **state) {
  (void)state;
  struct arena a;
  arena_init(&a, 1 << 16);
  CaseEvent *first, *again;
  reference_twice(&a, &first, &again);

  static struct evs b, control;
  memset(&b, 0, sizeof b);
  memset(&control, 0, sizeof control);
  add(&b, first);
  add(&b, again);
  add(&control, first);
  add_tick(&control, "tick", D(2023, 3, 2));

  struct fixture f, g;
  open_fixture(&f, "record_reference");
  apply(&f, &b, 0, 1);
  struct value v = get(&f, "referrals", "12m", "");
  assert_int_equal(v.as_of, 20230301);
  assert_int_equal(v.events_applied, 1);
  expect_reference_values(&f);
  /* Published: the two findings, opened; no alert (no plan is open on the
   * day it passes 6 months). */
  const struct engine_stats *stats = engine_stats(f.e);
  assert_int_equal(stats->findings, 2);
  assert_int_equal(stats->findings_resolved, 0);
  assert_int_equal(stats->alerts_raised, 0);

  apply(&f, &b, 1, 2);
  v = get(&f, "referrals", "12m", "");
  assert_int_equal(v.as_of, 20230302);
  assert_int_equal(v.events_applied, 2); /* applied, not dropped as a duplicate */
  expect_reference_values(&f);
  /* Nothing published for the resend: no finding resolved and opened again
   * under another id, no alert. */
  assert_int_equal(stats->findings, 2);
  assert_int_equal(stats->findings_resolved, 0);
  assert_int_equal(stats->alerts_raised + stats->alerts_withdrawn, 0);

  open_fixture(&g, "record_reference_control");
  apply(&g, &control, 0, control.n);
  struct all_values resent, once;
  snapshot_values(&f, &resent);
  snapshot_values(&g, &once);
  expect_same_values(&resent, &once);
  free(resent.v);
  free(once.v);
  close_fixture(&g);
  close_fixture(&f);
  arena_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expansion),
      cmocka_unit_test(test_folded),
      cmocka_unit_test(test_resend_keeps_ids),
      cmocka_unit_test(test_through_the_engine),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
