/*
 * test_import: the importers of the statutory returns (feeds/). SSDA903
 * tables written here from the guide's column names; the events each row
 * must become worked out by hand from the guide's meaning of RNE, REC and
 * DEC:
 *
 *   "RNE: reason for new episode. S = started to be looked after;
 *    L = change of legal status only; P = change of placement only;
 *    T = change of placement, same carer; U = change of legal status and
 *    placement, same carer; B = change of both legal status and placement."
 *   "REC: reason episode ceased. X1 = episode ceases and new episode begins
 *    on the same day, for any reason" (the period goes on); any other code
 *    ends the period of care on DEC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "feeds/feeds.h"
#include "tests/harness.h"
#include "tests/testutil.h"

/* ---- collecting what an import emits ----------------------------------------- */

#define MAX_EVENTS 64

struct seen {
  char id[64];
  char line[160]; /* "child date kind details" */
};

struct collected {
  struct seen e[MAX_EVENTS];
  size_t n;
  const char *source; /* the source_system every event must carry */
};

static void describe(const CaseEvent *ev, char *out, size_t len) {
  int k = snprintf(out, len, "%s %u ", ev->child_id, (unsigned)ev->occurred_on);
  char *p = out + k;
  const size_t room = len - (size_t)k;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS: {
    const Cscflow__V1__ChildDetails *d = ev->child_details;
    int m = snprintf(p, room, "details dob=%u sex=%d eth=%s uasc=%d duc=%u",
                     (unsigned)d->date_of_birth, (int)d->sex, d->ethnicity, (int)d->uasc,
                     (unsigned)d->uasc_ceased_on);
    if (d->expected_date_of_birth || d->date_of_death || d->n_disabilities)
      snprintf(p + m, room - (size_t)m, " edob=%u death=%u dis=%zu", (unsigned)d->expected_date_of_birth,
               (unsigned)d->date_of_death, d->n_disabilities);
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED: {
    const Cscflow__V1__PeriodOfCareStarted *s = ev->period_of_care_started;
    snprintf(p, room, "start %s ls=%s cin=%s place=%s/%s/%s%s", s->period_id, s->legal_status,
             s->category_of_need, s->placement->placement_type, s->placement->provider,
             s->placement->postcode_district, s->continuing ? " continuing" : "");
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED: {
    const Cscflow__V1__PlacementStarted *s = ev->placement_started;
    snprintf(p, room, "placement %s place=%s/%s/%s reason=%s rne=%s", s->period_id,
             s->placement->placement_type, s->placement->provider,
             s->placement->postcode_district, s->reason_for_change, s->reason_for_new_episode);
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    snprintf(p, room, "legal %s ls=%s rne=%s", ev->legal_status_changed->period_id,
             ev->legal_status_changed->legal_status,
             ev->legal_status_changed->reason_for_new_episode);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CATEGORY_OF_NEED_CHANGED:
    snprintf(p, room, "need %s cin=%s", ev->category_of_need_changed->period_id,
             ev->category_of_need_changed->category_of_need);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    snprintf(p, room, "end %s rec=%s", ev->period_of_care_ended->period_id,
             ev->period_of_care_ended->reason_ceased);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD:
    snprintf(p, room, "review %s code=%s", ev->review_held->plan_id,
             ev->review_held->participation_code);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED:
    snprintf(p, room, "missing %s kind=%d", ev->missing_started->episode_id,
             (int)ev->missing_started->kind);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_ENDED:
    snprintf(p, room, "returned %s", ev->missing_ended->episode_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE:
    snprintf(p, room, "sdq %u", (unsigned)ev->sdq_score->score);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    snprintf(p, room, "adoption stage=%d foster=%d", (int)ev->adoption_milestone->stage,
             (int)ev->adoption_milestone->placed_with_foster_carer);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT: {
    const Cscflow__V1__CareLeaverContact *l = ev->care_leaver_contact;
    snprintf(p, room, "leaver touch=%s/%d activ=%s accom=%s/%d", l->in_touch_code, (int)l->in_touch,
             l->activity_code, l->accommodation_code, (int)l->accommodation_suitable);
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PREVIOUS_PERMANENCE:
    snprintf(p, room, "prevperm %s la=%s on=%u", ev->previous_permanence->kind_code,
             ev->previous_permanence->la_code, (unsigned)ev->previous_permanence->order_date);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    snprintf(p, room, "worker %s off=%d reason=%s", ev->worker_allocated->worker_id,
             (int)ev->worker_allocated->deallocated, ev->worker_allocated->end_reason);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    snprintf(p, room, "referral %s src=%s need=%s nfa=%d", ev->referral_opened->referral_id,
             ev->referral_opened->source, ev->referral_opened->primary_need,
             (int)ev->referral_opened->no_further_action);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    snprintf(p, room, "closed %s reason=%s nfa=%d", ev->referral_closed->referral_id,
             ev->referral_closed->closure_reason, (int)ev->referral_closed->no_further_action);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
    snprintf(p, room, "assessment %s of %s", ev->assessment_started->assessment_id,
             ev->assessment_started->referral_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED: {
    const Cscflow__V1__AssessmentCompleted *a = ev->assessment_completed;
    snprintf(p, room, "assessed %s factors=%zu:%s", a->assessment_id, a->n_factors,
             a->n_factors ? a->factors[a->n_factors - 1] : "");
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
    snprintf(p, room, "s47 %s of %s target=%u", ev->section47_started->enquiry_id,
             ev->section47_started->referral_id, (unsigned)ev->section47_started->icpc_target_date);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    snprintf(p, room, "s47done %s not_required=%d", ev->section47_completed->enquiry_id,
             (int)ev->section47_completed->icpc_not_required);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD:
    snprintf(p, room, "icpc %s agreed=%d", ev->icpc_held->enquiry_id,
             (int)ev->icpc_held->plan_agreed);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
    snprintf(p, room, "cinplan %s", ev->cin_plan_started->plan_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
    snprintf(p, room, "cinplanend %s", ev->cin_plan_ended->plan_id);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: {
    const Cscflow__V1__CpPlanStarted *c = ev->cp_plan_started;
    snprintf(p, room, "cp %s cat=%s prev=%u/%d", c->plan_id, c->initial_category,
             (unsigned)c->previous_cp_plans, (int)c->previous_cp_plans_recorded);
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    snprintf(p, room, "cpend %s cat=%s", ev->cp_plan_ended->plan_id,
             ev->cp_plan_ended->latest_category);
    break;
  default:
    snprintf(p, room, "payload %d", (int)ev->payload_case);
  }
}

static int collect(void *ctx, const CaseEvent *ev) {
  struct collected *c = ctx;
  assert_true(c->n < MAX_EVENTS);
  assert_string_equal(ev->la_code, "201");
  assert_string_equal(ev->source_system, c->source);
  /* Recorded at noon UTC on the collection's 31 March (2024-03-31). */
  assert_int_equal(ev->recorded_at_ms, 1711886400000LL);
  snprintf(c->e[c->n].id, sizeof c->e[c->n].id, "%s", ev->event_id);
  describe(ev, c->e[c->n].line, sizeof c->e[c->n].line);
  c->n++;
  return CSC_OK;
}

/* Imports the tables (name, text pairs, NULL-ended) for year 2024. */
static struct import *run_import(struct collected *c, csc_date until, const char *const *tables) {
  memset(c, 0, sizeof *c);
  c->source = "ssda903";
  struct import_options o = {.la = "201", .year = 2024, .until = until, .emit = collect,
                             .emit_ctx = c};
  struct import *im;
  assert_int_equal(import_new(&o, &im), CSC_OK);
  for (size_t i = 0; tables[i] != NULL; i += 2) {
    FILE *f = fmemopen((void *)tables[i + 1], strlen(tables[i + 1]), "r");
    assert_non_null(f);
    assert_int_equal(import_903_table(im, tables[i], f), CSC_OK);
    fclose(f);
  }
  assert_int_equal(import_903_finish(im), CSC_OK);
  return im;
}

static void assert_lines(const struct collected *c, const char *const *want) {
  size_t n = 0;
  while (want[n] != NULL)
    n++;
  for (size_t i = 0; i < c->n || i < n; i++) {
    if (i >= c->n || i >= n || strcmp(c->e[i].line, want[i]) != 0) {
      for (size_t j = 0; j < c->n; j++)
        print_message("got  %s\n", c->e[j].line);
      fail_msg("event %zu: want \"%s\"", i, i < n ? want[i] : "(none)");
    }
  }
}

/* The report's JSON, in a string the test frees. */
static char *report_of(const struct import *im) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(import_report_json(im, f), CSC_OK);
  fclose(f);
  return buf;
}

/* ---- CSV and dates ------------------------------------------------------------- */

static void test_csv_records(void **state) {
  (void)state;
  /* A BOM, CRLF, a quoted comma, a doubled quote, a line break in quotes,
   * spaces around bare fields, a blank line, and a last line with no end. */
  static const char text[] = "\xEF\xBB\xBF" "CHILD,PL_POST\r\n"
                             " A1 ,\"LS6, 2AB\"\r\n"
                             "\r\n"
                             "A2,\"say \"\"hi\"\"\"\n"
                             "A3,\"two\nlines \"\n"
                             "A4,last";
  FILE *f = fmemopen((void *)text, sizeof text - 1, "r");
  struct csv_reader r;
  csv_init(&r, f);
  assert_int_equal(csv_next(&r), 1);
  assert_int_equal(r.n, 2);
  assert_string_equal(r.fields[0], "CHILD");
  assert_int_equal(csv_next(&r), 1);
  assert_int_equal(r.line, 2);
  assert_string_equal(r.fields[0], "A1");
  assert_string_equal(r.fields[1], "LS6, 2AB");
  assert_int_equal(csv_next(&r), 1);
  assert_int_equal(r.line, 4); /* the blank line 3 is skipped */
  assert_string_equal(r.fields[1], "say \"hi\"");
  assert_int_equal(csv_next(&r), 1);
  assert_string_equal(r.fields[1], "two\nlines "); /* quoted: kept as written */
  assert_int_equal(csv_next(&r), 1);
  assert_int_equal(r.line, 7);
  assert_string_equal(r.fields[1], "last");
  assert_int_equal(csv_next(&r), 0);
  csv_free(&r);
  fclose(f);

  static const char broken[] = "CHILD,X\nA1,\"never closed\n";
  f = fmemopen((void *)broken, sizeof broken - 1, "r");
  csv_init(&r, f);
  assert_int_equal(csv_next(&r), 1);
  assert_int_equal(csv_next(&r), CSC_EINVAL);
  csv_free(&r);
  fclose(f);
}

static void test_dates(void **state) {
  (void)state;
  csc_date d;
  assert_int_equal(feeds_parse_date("31/03/2024", &d), CSC_OK);
  assert_int_equal(d, date_from_ymd(2024, 3, 31));
  assert_int_equal(feeds_parse_date("2024-03-31", &d), CSC_OK);
  assert_int_equal(d, date_from_ymd(2024, 3, 31));
  assert_int_equal(feeds_parse_date("29/02/2023", &d), CSC_EINVAL); /* no such day */
  assert_int_equal(feeds_parse_date("3/1/2024", &d), CSC_EINVAL);
  assert_int_equal(feeds_parse_date("2024/03/31", &d), CSC_EINVAL);
  assert_int_equal(feeds_parse_date("", &d), CSC_EINVAL);
}

/* ---- episodes ---------------------------------------------------------------- */

static const char header[] = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB\n"
                             "C1,1,01/02/2010,WBRI,A1,,\n";
/* C1: starts 10 May 2023 (S); moves 1 Sep (P, the same legal status and
 * need); the legal status changes alone 1 Nov (L); ceases 15 Jan 2024
 * (E11, adopted). C2: first row T on 1 Apr 2023: a period begun before the
 * return, continuing; still looked after; its need changes 1 Jun (U row,
 * same carer, with a new legal status). Columns in another order than the
 * guide's, and the postcode without its space. */
static const char episodes[] =
    "CHILD,RNE,DECOM,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN\n"
    "C1,S,10/05/2023,C2,N1,U1,PR1,01/09/2023,X1,,LS1 1AA,LS6 2AB,\n"
    "C1,P,01/09/2023,C2,N1,U3,PR1,01/11/2023,X1,CARPL,LS1 1AA,BD13XY,\n"
    "C1,L,2023-11-01,E1,N1,U3,PR1,15/01/2024,E11,,LS1 1AA,BD13XY,\n"
    "C2,T,01/04/2023,C2,N2,U4,PR2,01/06/2023,X1,CARPL,,LS7,\n"
    "C2,U,01/06/2023,C1,N3,U4,PR2,,,CARPL,,LS7,\n";

static void test_episodes_become_periods(void **state) {
  (void)state;
  struct collected c;
  const char *const tables[] = {"e.csv", episodes, "h.csv", header, NULL};
  struct import *im = run_import(&c, DATE_NEVER, tables);
  const char *const want[] = {
      "C1 20100201 details dob=20100201 sex=1 eth=WBRI uasc=0 duc=0",
      "C1 20230510 start P20230510 ls=C2 cin=N1 place=U1/PR1/LS6",
      "C1 20230901 placement P20230510 place=U3/PR1/BD1 reason=CARPL rne=P",
      "C1 20231101 legal P20230510 ls=E1 rne=L",
      "C1 20231101 adoption stage=2 foster=0", /* E1: placement order granted */
      "C1 20240115 adoption stage=5 foster=0", /* E11: adopted */
      "C1 20240115 end P20230510 rec=E11",
      "C2 20230401 start P20230401 ls=C2 cin=N2 place=U4/PR2/LS7 continuing",
      "C2 20230601 placement P20230401 place=U4/PR2/LS7 reason=CARPL rne=U",
      "C2 20230601 legal P20230401 ls=C1 rne=U",
      "C2 20230601 need P20230401 cin=N3",
      NULL};
  assert_lines(&c, want);
  assert_int_equal(import_events(im), 11);
  assert_int_equal(import_left_out(im), 0);
  char *json = report_of(im);
  /* C2's period began before the return: converted, and said so. */
  assert_non_null(strstr(json, "{\"rule\":\"period_began_before_return\",\"count\":1,"));
  assert_non_null(strstr(json, "{\"table\":\"episodes\",\"line\":5,\"child\":\"C2\"}"));
  free(json);
  import_free(im);
}

/* The same rows in another return (year N+1's repeats what is still open)
 * make the same events: the ids say what the event says, not where it came
 * from; a changed value makes another id. */
static void test_ids_stable_and_idempotent(void **state) {
  (void)state;
  struct collected a, b, d;
  const char *const tables[] = {"e.csv", episodes, NULL};
  import_free(run_import(&a, DATE_NEVER, tables));
  const char *const renamed[] = {"another-name.csv", episodes, NULL};
  import_free(run_import(&b, DATE_NEVER, renamed));
  assert_int_equal(a.n, b.n);
  for (size_t i = 0; i < a.n; i++) {
    assert_string_equal(a.e[i].id, b.e[i].id);
    assert_int_equal(strlen(a.e[i].id), 4 + 32);
    assert_memory_equal(a.e[i].id, "903-", 4);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(a.e[i].id, a.e[j].id);
  }
  /* C1's end recorded with another reason: that event only gets a new id. */
  static const char changed[] =
      "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
      "C1,10/05/2023,S,C2,N1,U1,PR1,15/01/2024,E13\n";
  static const char original[] =
      "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
      "C1,10/05/2023,S,C2,N1,U1,PR1,15/01/2024,E4A\n";
  const char *const t1[] = {"e.csv", original, NULL}, *const t2[] = {"e.csv", changed, NULL};
  import_free(run_import(&b, DATE_NEVER, t1));
  import_free(run_import(&d, DATE_NEVER, t2));
  assert_int_equal(b.n, 2);
  assert_int_equal(d.n, 2);
  assert_string_equal(b.e[0].id, d.e[0].id);     /* the same start */
  assert_string_not_equal(b.e[1].id, d.e[1].id); /* another end */
}

/* Rows that break the guide's rules: each counted with its row and child,
 * converted with the repair the report names or left out. */
static void test_broken_rows_reported(void **state) {
  (void)state;
  static const char bad[] =
      "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
      /* line 2-3: X1 but the next episode starts later: left open, then a
       * P row continues the period (x1_not_continued) */
      "D1,01/05/2023,S,C2,N1,U1,PR1,01/06/2023,X1\n"
      "D1,10/06/2023,P,C2,N1,U2,PR1,,E11\n"
      /* line 4: a reason with no date (reason_without_date: no end) */
      /* line 5: a start dated 31/13/2023 (invalid_date: left out) */
      "D2,01/05/2023,S,C2,N1,U1,PR1,,\n"
      "D2,31/13/2023,P,C2,N1,U2,PR1,,\n"
      /* line 6: a date with no reason (date_without_reason) */
      "D3,01/05/2023,S,C2,N1,U1,PR1,01/07/2023,\n"
      /* line 7: an episode starting after the collection (left out) */
      "D4,01/04/2024,S,C2,N1,U1,PR1,,\n"
      /* line 8: no RNE (missing_value); line 9: RNE Q (invalid_code) */
      "D5,01/05/2023,,C2,N1,U1,PR1,,\n"
      "D6,01/05/2023,Q,C2,N1,U1,PR1,,\n"
      /* line 10: a child id with a control character: every row left out */
      "D\x01" "7,01/05/2023,S,C2,N1,U1,PR1,,\n";
  /* oc2: D1 scored 12; D2 has no score, with the reason SDQ1 (no SDQ). */
  static const char sdq[] = "CHILD,DOB,SDQ_SCORE,SDQ_REASON\nD1,01/01/2010,12,\nD2,01/01/2010,,SDQ1\n";
  static const char junk[] = "name,value\nx,1\n";
  struct collected c;
  const char *const tables[] = {"bad.csv", bad, "oc2.csv", sdq, "notes.csv", junk, NULL};
  struct import *im = run_import(&c, DATE_NEVER, tables);
  const char *const want[] = {"D1 20230501 start P20230501 ls=C2 cin=N1 place=U1/PR1/",
                              "D1 20230610 placement P20230501 place=U2/PR1/ reason= rne=P",
                              "D1 20240331 sdq 12", /* OC2 has no date: the 31 March */
                              "D2 20230501 start P20230501 ls=C2 cin=N1 place=U1/PR1/",
                              "D3 20230501 start P20230501 ls=C2 cin=N1 place=U1/PR1/",
                              NULL};
  assert_lines(&c, want);
  char *json = report_of(im);
  static const char *const expect[] = {
      "{\"rule\":\"x1_not_continued\",\"count\":1,",
      "{\"table\":\"episodes\",\"line\":3,\"child\":\"D1\"}",
      "{\"rule\":\"reason_without_date\",\"count\":1,",
      "{\"rule\":\"invalid_date\",\"count\":1,",
      "{\"table\":\"episodes\",\"line\":5,\"child\":\"D2\"}",
      "{\"rule\":\"date_without_reason\",\"count\":1,",
      "{\"rule\":\"date_after_collection\",\"count\":1,",
      "{\"rule\":\"missing_value\",\"count\":1,",
      "{\"rule\":\"invalid_code\",\"count\":1,",
      "{\"rule\":\"invalid_child_id\",\"count\":1,",
      "{\"rule\":\"sdq_not_recorded\",\"count\":1,",
      "{\"table\":\"oc2\",\"line\":3,\"child\":\"D2\"}",
      "{\"rule\":\"unrecognised_file\",\"count\":1,",
      "\"tables\":{\"episodes\":{\"files\":\"bad.csv\",\"rows\":9,\"events\":4},"
      "\"oc2\":{\"files\":\"oc2.csv\",\"rows\":2,\"events\":1}}"};
  for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
    if (strstr(json, expect[i]) == NULL)
      fail_msg("report lacks %s in %s", expect[i], json);
  /* Left out: reason_without_date, invalid_date, date_without_reason,
   * date_after_collection, missing_value, invalid_code, invalid_child_id,
   * D2's missing SDQ score and the unrecognised file: 9. */
  assert_int_equal(import_left_out(im), 9);
  free(json);
  import_free(im);
}

/* --until: what is dated after it is left out (the live feed holds it). */
static void test_until(void **state) {
  (void)state;
  struct collected c;
  const char *const tables[] = {"e.csv", episodes, NULL};
  struct import *im = run_import(&c, date_from_ymd(2023, 10, 31), tables);
  const char *const want[] = {
      "C1 20230510 start P20230510 ls=C2 cin=N1 place=U1/PR1/LS6",
      "C1 20230901 placement P20230510 place=U3/PR1/BD1 reason=CARPL rne=P",
      "C2 20230401 start P20230401 ls=C2 cin=N2 place=U4/PR2/LS7 continuing",
      "C2 20230601 placement P20230401 place=U4/PR2/LS7 reason=CARPL rne=U",
      "C2 20230601 legal P20230401 ls=C1 rne=U",
      "C2 20230601 need P20230401 cin=N3",
      NULL};
  assert_lines(&c, want);
  char *json = report_of(im);
  /* C1's legal status change, placement order, adoption and end: after
   * 31 October. */
  assert_non_null(strstr(json, "{\"rule\":\"after_until\",\"count\":4,"));
  free(json);
  import_free(im);
}

/* UASC, reviews (naming the period that holds them) and missing episodes. */
static void test_other_tables(void **state) {
  (void)state;
  static const char uasc[] = "CHILD,SEX,DOB,DUC\nC1,1,01/02/2010,01/02/2028\n";
  static const char reviews[] = "CHILD,DOB,REVIEW,REVIEW_CODE\n"
                                "C1,01/02/2010,01/06/2023,PN1\n"
                                "C1,01/02/2010,15/01/2024,PN4\n"
                                "C1,01/02/2010,01/03/2024,PN0\n";
  static const char missing[] = "CHILD,DOB,MISSING,MIS_START,MIS_END\n"
                                "C1,01/02/2010,M,03/10/2023,05/10/2023\n"
                                "C1,01/02/2010,A,01/12/2023,\n";
  struct collected c;
  const char *const tables[] = {"e.csv", episodes, "u.csv", uasc, "r.csv", reviews,
                                "m.csv", missing, NULL};
  struct import *im = run_import(&c, DATE_NEVER, tables);
  const char *const want[] = {
      "C1 20100201 details dob=20100201 sex=0 eth= uasc=1 duc=20280201",
      "C1 20230510 start P20230510 ls=C2 cin=N1 place=U1/PR1/LS6",
      "C1 20230901 placement P20230510 place=U3/PR1/BD1 reason=CARPL rne=P",
      "C1 20231101 legal P20230510 ls=E1 rne=L",
      "C1 20231101 adoption stage=2 foster=0", /* E1: placement order granted */
      "C1 20240115 adoption stage=5 foster=0", /* E11: adopted */
      "C1 20240115 end P20230510 rec=E11",
      "C1 20230601 review P20230510 code=PN1",
      "C1 20240115 review P20230510 code=PN4", /* the day it ends is the period's */
      "C1 20240301 review  code=PN0",          /* no period: the fold reports it */
      "C1 20231003 missing M20231003 kind=1",
      "C1 20231005 returned M20231003",
      "C1 20231201 missing M20231201 kind=2",
      "C2 20230401 start P20230401 ls=C2 cin=N2 place=U4/PR2/LS7 continuing",
      "C2 20230601 placement P20230401 place=U4/PR2/LS7 reason=CARPL rne=U",
      "C2 20230601 legal P20230401 ls=C1 rne=U",
      "C2 20230601 need P20230401 cin=N3",
      NULL};
  assert_lines(&c, want);
  import_free(im);
}

/* The adoption journey (AD1, PlacedAdoption and the A3-A6 placements and
 * E11/E12 ends of the episodes), care leavers, previous permanence and
 * social worker episodes. */
static void test_adoption_and_the_rest(void **state) {
  (void)state;
  /* A1: S on 1 Apr 2023 in foster care U3; placed for adoption with the
   * foster carer (A5) on 1 Sep (T: same carer); adopted 1 Mar 2024 (E12). */
  static const char eps[] = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
                            "A1,01/04/2023,S,C2,N1,U3,PR1,01/09/2023,X1\n"
                            "A1,01/09/2023,T,E1,N1,A5,PR1,01/03/2024,E12\n";
  static const char ad1[] = "CHILD,DOB,DATE_INT,DATE_MATCH,FOSTER_CARE,NB_ADOPTR,SEX_ADOPTR,LS_ADOPTR\n"
                            "A1,01/01/2020,15/06/2023,01/08/2023,1,2,MF,L0\n";
  /* The decision recorded again by PlacedAdoption (the same event: the
   * same id, applied once); B1's decision reversed (RD3) on 1 Feb. */
  static const char placed[] = "CHILD,DOB,DATE_PLACED,DATE_PLACED_CEASED,REASON_PLACED_CEASED\n"
                               "A1,01/01/2020,15/06/2023,01/03/2024,RD1\n"
                               "B1,01/01/2021,01/10/2023,01/02/2024,RD3\n";
  /* L1 born 20 Jan 2005: the contact on the birthday in the year (20 Jan
   * 2024); B2 is suitable accommodation, F2 education. */
  static const char oc3[] = "CHILD,DOB,IN_TOUCH,ACTIV,ACCOM\nL1,20/01/2005,YES,F2,B1\n"
                            "L2,10/09/2004,NO,G5,S2\n";
  static const char prev[] = "CHILD,DOB,PREV_PERM,LA_PERM,DATE_PERM\nA1,01/01/2020,P1,E09000001,\n";
  static const char sw[] = "CHILD,DOB,SW_ID,SW_DECOM,SW_DEC,SW_REASON\n"
                           "A1,01/01/2020,W9,01/04/2023,30/11/2023,LEFTRL\n";
  struct collected c;
  const char *const tables[] = {"e.csv", eps, "ad1.csv", ad1, "pa.csv", placed, "oc3.csv", oc3,
                                "pp.csv", prev, "sw.csv", sw, NULL};
  struct import *im = run_import(&c, DATE_NEVER, tables);
  const char *const want[] = {
      "A1 20230401 start P20230401 ls=C2 cin=N1 place=U3/PR1/",
      "A1 20230901 placement P20230401 place=A5/PR1/ reason= rne=T",
      "A1 20230901 adoption stage=4 foster=1", /* placed, A5: with the foster carer */
      "A1 20230901 legal P20230401 ls=E1 rne=T",
      "A1 20230901 adoption stage=2 foster=0", /* E1: placement order */
      "A1 20240301 adoption stage=5 foster=0", /* adopted */
      "A1 20240301 end P20230401 rec=E12",
      "A1 20230615 adoption stage=1 foster=1", /* AD1: decision */
      "A1 20230801 adoption stage=3 foster=1", /* AD1: matched */
      "A1 20230615 adoption stage=1 foster=0", /* PlacedAdoption: decision */
      "A1 20230401 prevperm P1 la=E09000001 on=0",
      "A1 20230401 worker W9 off=0 reason=",
      "A1 20231130 worker W9 off=1 reason=LEFTRL",
      "B1 20231001 adoption stage=1 foster=0",
      "B1 20240201 adoption stage=6 foster=0", /* reversed */
      "L1 20240120 leaver touch=YES/1 activ=F2 accom=B1/1",
      "L2 20230910 leaver touch=NO/0 activ=G5 accom=S2/0",
      NULL};
  assert_lines(&c, want);
  assert_int_equal(import_left_out(im), 0);
  import_free(im);
}

/* ---- the CIN census ------------------------------------------------------------ */

/* K1: a referral (2 May 2023) assessed, an enquiry whose ICPC (30 May)
 * agreed a CP plan that day, one review, the plan ended and the episode
 * closed. The episode's own DateOfInitialCPC repeats the enquiry's: not
 * counted twice. K2: unborn; an enquiry whose ICPC was not required, and a
 * conference (5 Feb) recorded only on the episode, so used, naming the
 * enquiry before it. A child with no LAchildID is reported. The census's
 * ReferenceDate is another day; its <Year> (2024) sets the recording. */
static const char census[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Message><Header><CollectionDetails><Collection>CIN</Collection><Year>2024</Year>"
    "<ReferenceDate>2024-03-28</ReferenceDate></CollectionDetails>"
    "<Source><LEA>201</LEA></Source></Header>\n"
    "<Children>\n"
    "<Child><ChildIdentifiers><LAchildID> K1 </LAchildID><PersonBirthDate>2015-05-01</PersonBirthDate>"
    "<GenderCurrent>1</GenderCurrent></ChildIdentifiers>"
    "<ChildCharacteristics><Ethnicity>WBRI</Ethnicity><Disabilities><Disability>NONE</Disability>"
    "</Disabilities></ChildCharacteristics>\n"
    "<CINdetails><CINreferralDate>2023-05-02</CINreferralDate><ReferralSource>1A</ReferralSource>"
    "<PrimaryNeedCode>N1</PrimaryNeedCode><CINclosureDate>2024-02-01</CINclosureDate>"
    "<ReasonForClosure>RC8</ReasonForClosure><DateOfInitialCPC>2023-05-30</DateOfInitialCPC>"
    "<ReferralNFA>false</ReferralNFA>\n"
    "<Assessments><AssessmentActualStartDate>2023-05-03</AssessmentActualStartDate>"
    "<AssessmentAuthorisationDate>2023-06-20</AssessmentAuthorisationDate>"
    "<FactorsIdentifiedAtAssessment><AssessmentFactors>2A</AssessmentFactors>"
    "<AssessmentFactors>21</AssessmentFactors></FactorsIdentifiedAtAssessment></Assessments>\n"
    "<Section47><S47ActualStartDate>2023-05-10</S47ActualStartDate>"
    "<InitialCPCtarget>2023-06-01</InitialCPCtarget><DateOfInitialCPC>2023-05-30</DateOfInitialCPC>"
    "<ICPCnotRequired>false</ICPCnotRequired></Section47>\n"
    "<ChildProtectionPlans><CPPstartDate>2023-05-30</CPPstartDate><CPPendDate>2024-01-15</CPPendDate>"
    "<InitialCategoryOfAbuse>NEG</InitialCategoryOfAbuse><LatestCategoryOfAbuse>EMO</LatestCategoryOfAbuse>"
    "<NumberOfPreviousCPP>1</NumberOfPreviousCPP><Reviews><CPPreviewDate>2023-08-20</CPPreviewDate>"
    "</Reviews></ChildProtectionPlans></CINdetails></Child>\n"
    "<Child><ChildIdentifiers><LAchildID>K2</LAchildID>"
    "<ExpectedPersonBirthDate>2024-06-01</ExpectedPersonBirthDate></ChildIdentifiers>\n"
    "<CINdetails><CINreferralDate>2024-01-10</CINreferralDate><ReferralSource>5A</ReferralSource>"
    "<PrimaryNeedCode>N2</PrimaryNeedCode><ReferralNFA>1</ReferralNFA>"
    "<DateOfInitialCPC>2024-02-05</DateOfInitialCPC>"
    "<CINPlanDates><CINPlanStartDate>2024-02-06</CINPlanStartDate></CINPlanDates>"
    "<Section47><S47ActualStartDate>2024-01-12</S47ActualStartDate>"
    "<ICPCnotRequired>true</ICPCnotRequired></Section47></CINdetails></Child>\n"
    "<Child><ChildIdentifiers><PersonBirthDate>2010-01-01</PersonBirthDate></ChildIdentifiers></Child>\n"
    "</Children></Message>\n";

static void test_cin_census(void **state) {
  (void)state;
  struct collected c;
  memset(&c, 0, sizeof c);
  c.source = "cin_census";
  struct import_options o = {.kind = IMPORT_CIN, .la = "201", .until = DATE_NEVER,
                             .emit = collect, .emit_ctx = &c};
  struct import *im;
  assert_int_equal(import_new(&o, &im), CSC_OK);
  assert_int_equal(import_cin_file(im, "census.xml", census, sizeof census - 1), CSC_OK);
  const char *const want[] = {
      "K1 20150501 details dob=20150501 sex=1 eth=WBRI uasc=0 duc=0",
      "K1 20230502 referral R20230502 src=1A need=N1 nfa=0",
      "K1 20240201 closed R20230502 reason=RC8 nfa=0",
      "K1 20230503 assessment A20230503 of R20230502",
      "K1 20230620 assessed A20230503 factors=2:21",
      "K1 20230510 s47 S20230510 of R20230502 target=20230601",
      "K1 20230530 icpc S20230510 agreed=1",
      "K1 20230530 cp CP20230530 cat=NEG prev=1/1",
      "K1 20230820 review CP20230530 code=",
      "K1 20240115 cpend CP20230530 cat=EMO",
      /* unborn: dated on the collection's 31 March, not the expected birth */
      "K2 20240331 details dob=0 sex=0 eth= uasc=0 duc=0 edob=20240601 death=0 dis=0",
      "K2 20240110 referral R20240110 src=5A need=N2 nfa=1",
      "K2 20240206 cinplan CIN20240206",
      "K2 20240112 s47 S20240112 of R20240110 target=0",
      "K2 20240112 s47done S20240112 not_required=1",
      "K2 20240205 icpc S20240112 agreed=0",
      NULL};
  assert_lines(&c, want);
  for (size_t i = 0; i < c.n; i++)
    assert_memory_equal(c.e[i].id, "cin-", 4);
  char *json = report_of(im);
  assert_non_null(strstr(json, "\"return\":\"cin_census\""));
  assert_non_null(strstr(json, "\"year\":2024"));
  assert_null(strstr(json, "date_after_collection"));
  assert_non_null(strstr(json, "{\"rule\":\"missing_value\",\"count\":1,"));
  free(json);
  /* Not a census: reported, not an error. */
  static const char other[] = "<Root/>";
  assert_int_equal(import_cin_file(im, "other.xml", other, sizeof other - 1), CSC_OK);
  static const char broken[] = "<Message><Header>";
  assert_int_equal(import_cin_file(im, "broken.xml", broken, sizeof broken - 1), CSC_OK);
  json = report_of(im);
  assert_non_null(strstr(json, "{\"rule\":\"unrecognised_file\",\"count\":2,"));
  free(json);
  import_free(im);
}

/* --child-map: the return's ids replaced by the LA's person ids, before
 * anything is keyed by them; an id the map does not list is kept. */
static void test_child_map(void **state) {
  (void)state;
  static const char map[] = "return_id,la_child_id\nC1,P-0001\nC2,P-0002\n";
  struct collected c;
  memset(&c, 0, sizeof c);
  c.source = "ssda903";
  struct import_options o = {.la = "201", .year = 2024, .until = DATE_NEVER, .emit = collect,
                             .emit_ctx = &c};
  struct import *im;
  long line;
  assert_int_equal(import_new(&o, &im), CSC_OK);
  FILE *f = fmemopen((void *)map, sizeof map - 1, "r");
  assert_int_equal(import_load_child_map(im, f, &line), CSC_OK);
  fclose(f);
  static const char eps[] = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
                            "C2,01/05/2023,S,C2,N1,U1,PR1,,\n"
                            "C9,01/06/2023,S,C2,N1,U1,PR1,,\n";
  f = fmemopen((void *)eps, sizeof eps - 1, "r");
  assert_int_equal(import_903_table(im, "e.csv", f), CSC_OK);
  fclose(f);
  assert_int_equal(import_903_finish(im), CSC_OK);
  const char *const want[] = {"C9 20230601 start P20230601 ls=C2 cin=N1 place=U1/PR1/",
                              "P-0002 20230501 start P20230501 ls=C2 cin=N1 place=U1/PR1/", NULL};
  assert_lines(&c, want);
  char *json = report_of(im);
  assert_non_null(strstr(json, "\"child_ids_mapped\":1,"));
  free(json);
  import_free(im);

  /* A row without two ids, and an id listed twice, are refused. */
  static const char bad[] = "C1,P1\nC2\n", twice[] = "C1,P1\nC1,P2\n";
  assert_int_equal(import_new(&o, &im), CSC_OK);
  f = fmemopen((void *)bad, sizeof bad - 1, "r");
  assert_int_equal(import_load_child_map(im, f, &line), CSC_EINVAL);
  assert_int_equal(line, 2);
  fclose(f);
  import_free(im);
  assert_int_equal(import_new(&o, &im), CSC_OK);
  f = fmemopen((void *)twice, sizeof twice - 1, "r");
  assert_int_equal(import_load_child_map(im, f, &line), CSC_EINVAL);
  fclose(f);
  import_free(im);
}

/* Year N then N+1 (--previous): the period still open is restated (the
 * same events: nothing new), its end recorded in N with E4A is restated
 * in N+1 with E13 and another date (contradicts_earlier_return, listed);
 * C5's row of year N, gone from N+1 (aged out), is nothing. */
static int write_delimited(void *ctx, const CaseEvent *ev) {
  return ingest_write_delimited(ctx, ev);
}

static void test_previous_contradictions(void **state) {
  (void)state;
  char dir[256], path[320];
  test_tmpdir(dir, sizeof dir, "import_previous");
  snprintf(path, sizeof path, "%s/year-2023.bin", dir);
  static const char year_n[] = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
                               "C1,10/05/2022,S,C2,N1,U1,PR1,,\n"
                               "C4,01/06/2022,S,C2,N1,U1,PR1,01/02/2023,E4A\n"
                               "C5,01/07/2022,S,C2,N1,U1,PR1,,\n";
  FILE *out = fopen(path, "wb");
  assert_non_null(out);
  struct import_options o = {.la = "201", .year = 2023, .until = DATE_NEVER,
                             .emit = write_delimited, .emit_ctx = out};
  struct import *im;
  assert_int_equal(import_new(&o, &im), CSC_OK);
  FILE *f = fmemopen((void *)year_n, sizeof year_n - 1, "r");
  assert_int_equal(import_903_table(im, "e.csv", f), CSC_OK);
  fclose(f);
  assert_int_equal(import_903_finish(im), CSC_OK);
  assert_int_equal(import_events(im), 4);
  import_free(im);
  assert_int_equal(fclose(out), 0);

  static const char year_n1[] = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
                                "C1,10/05/2022,S,C2,N1,U1,PR1,,\n"
                                "C4,01/06/2022,S,C2,N1,U1,PR1,03/02/2023,E13\n";
  struct collected c;
  memset(&c, 0, sizeof c);
  c.source = "ssda903";
  struct import_options o2 = {.la = "201", .year = 2024, .until = DATE_NEVER, .emit = collect,
                              .emit_ctx = &c};
  assert_int_equal(import_new(&o2, &im), CSC_OK);
  assert_int_equal(import_load_previous(im, path), CSC_OK);
  f = fmemopen((void *)year_n1, sizeof year_n1 - 1, "r");
  assert_int_equal(import_903_table(im, "e.csv", f), CSC_OK);
  fclose(f);
  assert_int_equal(import_903_finish(im), CSC_OK);
  char *json = report_of(im);
  assert_non_null(strstr(json, "{\"rule\":\"contradicts_earlier_return\",\"count\":1,"));
  assert_non_null(strstr(json, "{\"table\":\"episodes\",\"line\":3,\"child\":\"C4\"}"));
  free(json);
  import_free(im);
  /* A file that is not events is refused. */
  assert_int_equal(import_new(&o2, &im), CSC_OK);
  snprintf(path, sizeof path, "%s/empty.bin", dir);
  out = fopen(path, "wb");
  assert_int_equal(fclose(out), 0);
  assert_int_equal(import_load_previous(im, path), CSC_EINVAL);
  import_free(im);
}

/* Codes the DfE lists do not hold (placement type ZZ, reason ceased E99):
 * the events are kept as recorded, and each row is counted (unknown_code),
 * as the fold will report them. */
static void test_unknown_codes(void **state) {
  (void)state;
  static const char eps[] = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
                            "U1,01/05/2023,S,C2,N1,ZZ,PR1,01/09/2023,E99\n"
                            "U2,01/05/2023,S,C2,N1,U1,PR1,,\n";
  struct collected c;
  memset(&c, 0, sizeof c);
  c.source = "ssda903";
  struct import_options o = {.la = "201", .year = 2024, .until = DATE_NEVER, .emit = collect,
                             .emit_ctx = &c, .codes = test_code_lists()};
  struct import *im;
  assert_int_equal(import_new(&o, &im), CSC_OK);
  FILE *f = fmemopen((void *)eps, sizeof eps - 1, "r");
  assert_int_equal(import_903_table(im, "e.csv", f), CSC_OK);
  fclose(f);
  assert_int_equal(import_903_finish(im), CSC_OK);
  assert_int_equal(c.n, 3); /* U1's start and end, U2's start: all kept */
  char *json = report_of(im);
  assert_non_null(strstr(json, "{\"rule\":\"unknown_code\",\"count\":2,"));
  assert_non_null(strstr(json, "{\"table\":\"episodes\",\"line\":2,\"child\":\"U1\"},"
                               "{\"table\":\"episodes\",\"line\":2,\"child\":\"U1\"}"));
  free(json);
  assert_int_equal(import_left_out(im), 0);
  import_free(im);
}

/* ---- imported, then replayed --------------------------------------------------- */

static int to_evs(void *ctx, const CaseEvent *ev) {
  add(ctx, ev);
  return CSC_OK;
}

static void import_year(struct evs *b, int year, const char *table) {
  struct import_options o = {.la = LA, .year = year, .until = DATE_NEVER, .emit = to_evs,
                             .emit_ctx = b};
  struct import *im;
  assert_int_equal(import_new(&o, &im), CSC_OK);
  FILE *f = fmemopen((void *)table, strlen(table), "r");
  assert_int_equal(import_903_table(im, "episodes.csv", f), CSC_OK);
  fclose(f);
  assert_int_equal(import_903_finish(im), CSC_OK);
  import_free(im);
}

/*
 * Two years of one LA's 903, imported and replayed through the engine.
 * Year to 31 March 2023: C1 starts on 1 June 2022 (S) and moves on 1 Feb
 * 2023 (P, still open); C2's first row is a move on 10 Jan 2023 (in care
 * since before the return: continuing, no earlier state, so its start is
 * unknown). Year to 31 March 2024 restates what was open on 1 April 2023:
 * C1's first row is now the 1 Feb move (continuing: joined to the period
 * begun on 1 June 2022, which the state holds), ceased 15 March 2024
 * (E4A); C2's row is the same as last year's (the same event, applied once).
 *
 * On 31 March 2024: looked after, C2 only (1); entries in the financial
 * year and the 12 months to it, none (C1 entered in 2022; C2's start is
 * unknown, "not counted as an entry"); period_start_unknown, C2's one.
 * The snapshot names both returns as sources, with their years.
 */
/* The snapshot's sources, as "name/year/events" lines. */
static int sources_of(void *ctx, const IndicatorSnapshot *snap) {
  char *out = ctx;
  out[0] = '\0';
  for (size_t i = 0; i < snap->n_sources; i++) {
    const size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s/%u/%llu;", snap->sources[i]->source_system,
             (unsigned)snap->sources[i]->year, (unsigned long long)snap->sources[i]->events);
  }
  return CSC_OK;
}

static void test_two_years_replayed(void **state) {
  (void)state;
  static const char year_2023[] = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
                                  "C1,01/06/2022,S,C2,N1,U1,PR1,01/02/2023,X1\n"
                                  "C1,01/02/2023,P,C2,N1,U3,PR1,,\n"
                                  "C2,10/01/2023,P,C2,N2,U4,PR2,,\n";
  static const char year_2024[] = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
                                  "C1,01/02/2023,P,C2,N1,U3,PR1,15/03/2024,E4A\n"
                                  "C2,10/01/2023,P,C2,N2,U4,PR2,,\n";
  static struct evs b;
  memset(&b, 0, sizeof b);
  import_year(&b, 2023, year_2023);
  const size_t first = b.n;
  import_year(&b, 2024, year_2024);
  struct fixture f;
  open_fixture(&f, "import_replay");
  apply(&f, &b, 0, first);
  apply(&f, &b, first, b.n);
  const struct value lac = get(&f, "children_on_plan", "T", "LAC");
  assert_int_equal(lac.as_of, 20240331);
  assert_true(lac.num == 1);
  assert_true(get(&f, "care_entries", "FYTD", "").num == 0);
  assert_true(get(&f, "care_entries", "12m", "").num == 0);
  assert_int_equal(lac.quality[Q_PERIOD_START_UNKNOWN], 1);
  assert_int_equal(lac.quality[Q_END_WITHOUT_START], 0);
  assert_int_equal(lac.quality[Q_OVERLAPPING_PLAN], 0);
  /* Year 2023: C1's start, move and C2's continuing start (3); year 2024:
   * C1's continuing start and end, C2's repeated start (admitted, then a
   * duplicate) (3). */
  char sources[256];
  struct store *st = engine_store(f.e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(snapshot_each(st, txn, LA, sources_of, sources), CSC_OK);
  mdb_txn_abort(txn);
  assert_string_equal(sources, "ssda903/2023/3;ssda903/2024/3;");
  close_fixture(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv_records),
      cmocka_unit_test(test_dates),
      cmocka_unit_test(test_episodes_become_periods),
      cmocka_unit_test(test_ids_stable_and_idempotent),
      cmocka_unit_test(test_broken_rows_reported),
      cmocka_unit_test(test_until),
      cmocka_unit_test(test_other_tables),
      cmocka_unit_test(test_adoption_and_the_rest),
      cmocka_unit_test(test_cin_census),
      cmocka_unit_test(test_child_map),
      cmocka_unit_test(test_previous_contradictions),
      cmocka_unit_test(test_two_years_replayed),
      cmocka_unit_test(test_unknown_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
