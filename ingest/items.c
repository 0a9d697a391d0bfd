/*
 * items.c — what a statutory return's event restates (ingest.h,
 * ingest_item_key).
 *
 * A return is a snapshot: each year's restates what is still open and
 * corrects what it got wrong, without naming what it corrects. Two events
 * of one return source with the same item key say the same thing twice, and
 * the later-recorded one holds (state/fold.c); the importers list, from an
 * earlier import's events, what a new one contradicts (feeds/).
 *
 * The key is the kind of the event and the item it names (a period of care,
 * a plan, an enquiry, a referral, an assessment, a missing episode: ids the
 * importers build from the item's kind and start date, so one item has one
 * id in every year's return), and, for what happens within an item
 * (placements, legal statuses, reviews, conferences), the day: a changed end
 * date replaces the old end; a placement move of another day is another
 * move. Events with no such item (a child's details, merged field by field;
 * SDQ scores, care leaver contacts, worker allocations, which recur) have no
 * key.
 */
#include <stdio.h>
#include <string.h>

#include "ingest/ingest.h"

/* The item an event names, and whether its day is part of the key. */
static const char *item_of(const CaseEvent *ev, int *dated) {
  *dated = 0;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED: return ev->referral_opened->referral_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED: return ev->referral_closed->referral_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
    return ev->assessment_started->assessment_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
    return ev->assessment_completed->assessment_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED: return ev->section47_started->enquiry_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    return ev->section47_completed->enquiry_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED: return ev->cin_plan_started->plan_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED: return ev->cin_plan_ended->plan_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: return ev->cp_plan_started->plan_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED: return ev->cp_plan_ended->plan_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    return ev->period_of_care_started->period_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    return ev->period_of_care_ended->period_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED: return ev->missing_started->episode_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_ENDED: return ev->missing_ended->episode_id;
  default: break;
  }
  *dated = 1;
  switch (ev->payload_case) {
  /* A conference by its day alone: a census names the enquiry it followed
   * only while the enquiry is in the return, so next year's restatement
   * may name none (one conference a day for a child). */
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD: return "icpc";
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED: return ev->placement_started->period_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    return ev->legal_status_changed->period_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CATEGORY_OF_NEED_CHANGED:
    return ev->category_of_need_changed->period_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD: return ev->review_held->plan_id;
  default: return NULL;
  }
}

int ingest_is_return_source(const char *source_system) {
  return source_system != NULL &&
         (strcmp(source_system, INGEST_SOURCE_903) == 0 ||
          strcmp(source_system, INGEST_SOURCE_CIN) == 0 ||
          strcmp(source_system, INGEST_SOURCE_DFE) == 0);
}

size_t ingest_item_key(const CaseEvent *ev, char *buf, size_t len) {
  int dated;
  const char *item = ingest_is_return_source(ev->source_system) ? item_of(ev, &dated) : NULL;
  if (item == NULL || item[0] == '\0' || len == 0)
    return 0;
  const int n = dated ? snprintf(buf, len, "%d\x1f%s\x1f%u", (int)ev->payload_case, item,
                                 (unsigned)ev->occurred_on)
                      : snprintf(buf, len, "%d\x1f%s", (int)ev->payload_case, item);
  return n > 0 && (size_t)n < len ? (size_t)n : 0;
}
