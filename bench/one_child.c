/*
 * cscflow-bench-one-child: writes the history of one child with N events
 * (default 8,000), in recorded order, as a delimited event file (varint
 * length + a CaseEvent, as cscflow-gen writes it). bench/run.sh replays it
 * one event per transaction (`cscflow replay --batch 1`) to see whether the
 * cost of an event grows with the length of its child's history (issue 17,
 * item 2: it must not).
 *
 *   cscflow-bench-one-child --out FILE [--events N] [--la CODE]
 *
 * The child: details, a referral, a CP plan that stays open, and then, four
 * events a day from 2019-01-07, visits (child_seen) with a CP review
 * conference every 90 days. Every event is valid and in order (no
 * corrections, nothing late), so every one is applied.
 *
 * Prints one_child_events and one_child_bytes as `name: value` lines.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "cscflow/v1/events.pb-c.h"

#define EVENTS_PER_DAY 4
#define REVIEW_EVERY_DAYS 90
#define HOUR_MS 3600000LL

static int usage(void) {
  fputs("usage: cscflow-bench-one-child --out FILE [--events N] [--la CODE]\n", stderr);
  return 64;
}

/* Writes one event as the file holds it: varint length, then the bytes. */
static int put_event(FILE *f, const Cscflow__V1__CaseEvent *ev, long long *bytes) {
  static uint8_t buf[4096];
  const size_t len = cscflow__v1__case_event__get_packed_size(ev);
  if (len > sizeof buf)
    return CSC_EINVAL;
  cscflow__v1__case_event__pack(ev, buf);
  uint8_t prefix[10];
  const size_t n = varint_encode(len, prefix);
  if (fwrite(prefix, 1, n, f) != n || fwrite(buf, 1, len, f) != len)
    return CSC_EIO;
  *bytes += (long long)(n + len);
  return CSC_OK;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                       {"events", required_argument, 0, 'n'},
                                       {"la", required_argument, 0, 'l'},
                                       {0, 0, 0, 0}};
  const char *out = NULL, *la = "201";
  long n = 8000;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'n': n = atol(optarg); break;
    case 'l': la = optarg; break;
    default: return usage();
    }
  }
  if (optind != argc || out == NULL || n < 3)
    return usage();
  FILE *f = fopen(out, "wb");
  if (f == NULL) {
    perror(out);
    return 1;
  }

  const csc_date start = date_from_ymd(2019, 1, 7);
  char event_id[32];
  Cscflow__V1__CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  ev.la_code = (char *)la;
  ev.child_id = "C0000001";
  ev.source_system = "bench";
  ev.event_id = event_id;

  Cscflow__V1__ChildDetails details = CSCFLOW__V1__CHILD_DETAILS__INIT;
  details.date_of_birth = 20120315;
  details.sex = CSCFLOW__V1__SEX__SEX_FEMALE;
  details.ethnicity = "WBRI";
  Cscflow__V1__ReferralOpened referral = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  referral.referral_id = "R1";
  referral.source = "1A";
  referral.primary_need = "N1";
  Cscflow__V1__CpPlanStarted plan = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  plan.plan_id = "P1";
  plan.referral_id = "R1";
  plan.initial_category = "NEG";
  Cscflow__V1__ChildSeen seen = CSCFLOW__V1__CHILD_SEEN__INIT;
  seen.plan_id = "P1";
  seen.seen_by = CSCFLOW__V1__SEEN_BY__SEEN_BY_SOCIAL_WORKER;
  Cscflow__V1__ReviewHeld review = CSCFLOW__V1__REVIEW_HELD__INIT;
  review.plan_id = "P1";
  review.kind = CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_CP;

  long long bytes = 0;
  int rc = CSC_OK;
  for (long i = 0; i < n && rc == CSC_OK; i++) {
    const long day = i / EVENTS_PER_DAY, slot = i % EVENTS_PER_DAY;
    const csc_date d = start + (csc_date)day;
    snprintf(event_id, sizeof event_id, "%s-ONE%08ld", la, i);
    ev.occurred_on = date_to_yyyymmdd(d);
    ev.recorded_at_ms = date_london_midnight_ms(d) + (9 + 2 * slot) * HOUR_MS;
    if (i == 0) {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
      ev.child_details = &details;
    } else if (i == 1) {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
      ev.referral_opened = &referral;
    } else if (i == 2) {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
      ev.cp_plan_started = &plan;
    } else if (slot == 0 && day % REVIEW_EVERY_DAYS == 0) {
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD;
      ev.review_held = &review;
    } else {
      seen.seen_alone = (i % 3) == 0;
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN;
      ev.child_seen = &seen;
    }
    rc = put_event(f, &ev, &bytes);
  }
  if (fclose(f) != 0 || rc != CSC_OK) {
    fprintf(stderr, "cscflow-bench-one-child: cannot write %s\n", out);
    return 1;
  }
  printf("one_child_events: %ld\n", n);
  printf("one_child_bytes: %lld\n", bytes);
  return 0;
}
