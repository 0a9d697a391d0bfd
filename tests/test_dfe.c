/*
 * test_dfe: the DfE CSC API child documents read into ChildRecords
 * (feeds/dfe.c). The documents are written here from the sender's document
 * as ../shared/research/dfe-sender.md (section 3) describes it, the staging
 * SQL's reference record included ("spec-maximal / reference payload": one
 * id, ABC123456, for six kinds of item).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "feeds/feeds.h"
#include "tests/dfe_reference.h"
#include "tests/testutil.h"

/* Whether needle's bytes occur in buf[0..len). */
static int contains(const uint8_t *buf, size_t len, const char *needle) {
  const size_t n = strlen(needle);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(buf + i, needle, n) == 0)
      return 1;
  return 0;
}

static void test_reference_record(void **state) {
  (void)state;
  struct arena a;
  arena_init(&a, 1 << 16);
  struct dfe_document *d;
  size_t n;
  struct dfe_problem p;
  assert_int_equal(dfe_parse(dfe_reference, sizeof dfe_reference - 1,
                             CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL, &a, &d, &n, &p),
                   CSC_OK);
  assert_int_equal(n, 1);
  assert_string_equal(d[0].la_child_id, "Child1234");
  assert_false(d[0].test_child);
  const Cscflow__V1__ChildRecord *c = d[0].record;
  assert_int_equal(c->mode, CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL);
  assert_string_equal(c->mis_child_id, "Supplier-Child-1234");
  assert_int_equal(c->details->date_of_birth, 20220614);
  assert_int_equal(c->details->sex, CSCFLOW__V1__SEX__SEX_MALE);
  assert_string_equal(c->details->ethnicity, "WBRI");
  assert_int_equal(c->details->n_disabilities, 2);
  assert_true(c->details->uasc);
  assert_int_equal(c->n_sdqs, 1);
  assert_int_equal(c->sdqs[0]->score, 20);
  assert_true(c->sdqs[0]->score_present);
  assert_int_equal(c->n_episodes, 1);
  const Cscflow__V1__RecordEpisode *e = c->episodes[0];
  assert_string_equal(e->id, "ABC123456");
  assert_int_equal(e->referral_nfa, CSCFLOW__V1__FLAG__FLAG_NO);
  assert_int_equal(e->closure_date, 20220614);
  assert_string_equal(e->closure_reason, "RC7");
  assert_int_equal(e->n_care_workers, 1);
  assert_string_equal(e->care_workers[0]->worker_id, "ABC123");
  assert_int_equal(e->n_assessments, 1);
  assert_int_equal(e->assessments[0]->n_factors, 2);
  assert_true(e->assessments[0]->factors_present);
  assert_int_equal(e->n_cin_plans, 1);
  assert_int_equal(e->n_cp_plans, 1);
  assert_int_equal(e->n_section47s, 1);
  assert_int_equal(e->section47s[0]->icpc_required, CSCFLOW__V1__FLAG__FLAG_YES);
  assert_int_equal(e->n_placements, 1);
  assert_string_equal(e->placements[0]->postcode_district, "AB12"); /* never the postcode */
  assert_string_equal(e->placements[0]->placement_type, "K1");
  assert_string_equal(e->placements[0]->change_reason, "CHILD");
  assert_int_equal(e->adoption->placed_date, 20220614);
  assert_string_equal(e->care_leaver->activity, "F");

  /* What reaches the topic: no name, pupil number or full postcode. */
  CaseEvent ev;
  assert_int_equal(dfe_event("201", &d[0], 1733227200000LL, &a, &ev), CSC_OK);
  const size_t len = cscflow__v1__case_event__get_packed_size(&ev);
  uint8_t *buf = malloc(len);
  assert_non_null(buf);
  cscflow__v1__case_event__pack(&ev, buf);
  static const char *const never[] = {"John", "Doe", "ABC0123456789", "DEF0123456789",
                                      "AB12 3DE", "3DE"};
  for (size_t i = 0; i < sizeof never / sizeof *never; i++)
    assert_false(contains(buf, len, never[i]));
  const char *reason;
  assert_int_equal(ingest_validate(&ev, &reason), CSC_OK);
  free(buf);
  arena_free(&a);
}

/* A partial document (the whole child_details and one changed plan, its
 * id kept), a purge (mis_child_id null, no child_details), a child with no
 * legacy id (mis_child_id absent), and the sender's test child. */
static void test_partial_purge_and_test_child(void **state) {
  (void)state;
  static const char body[] =
      "[{\"la_child_id\":\"C1\",\"mis_child_id\":\"M1\",\"child_details\":{\"sex\":\"F\","
      "\"disabilities\":[\"NONE\"],\"uasc_flag\":false},"
      "\"social_care_episodes\":[{\"social_care_episode_id\":\"E1\",\"child_protection_plans\":"
      "[{\"child_protection_plan_id\":\"P9\",\"end_date\":\"2024-05-01\",\"purge\":false}],"
      "\"purge\":false}]},"
      "{\"la_child_id\":\"C2\",\"mis_child_id\":null,\"purge\":true},"
      "{\"la_child_id\":\"C3\",\"purge\":false,\"child_details\":{\"sex\":\"U\",\"uasc_flag\":false}},"
      "{\"la_child_id\":\"Fake1234201\",\"child_details\":{\"sex\":\"M\",\"uasc_flag\":false}}]";
  struct arena a;
  arena_init(&a, 1 << 16);
  struct dfe_document *d;
  size_t n;
  struct dfe_problem p;
  assert_int_equal(dfe_parse(body, sizeof body - 1, CSCFLOW__V1__RECORD_MODE__RECORD_MODE_PARTIAL,
                             &a, &d, &n, &p),
                   CSC_OK);
  assert_int_equal(n, 4);
  assert_int_equal(d[0].record->details->n_disabilities, 0); /* ["NONE"]: none */
  assert_int_equal(d[0].record->details->sex, CSCFLOW__V1__SEX__SEX_FEMALE);
  const Cscflow__V1__RecordPlan *plan = d[0].record->episodes[0]->cp_plans[0];
  assert_string_equal(plan->id, "P9");
  assert_int_equal(plan->start_date, 0); /* not sent: unchanged */
  assert_int_equal(plan->end_date, 20240501);
  assert_true(d[1].record->purge);
  assert_null(d[1].record->details);
  assert_string_equal(d[1].record->mis_child_id, ""); /* null is absent */
  assert_string_equal(d[2].record->mis_child_id, "");
  assert_int_equal(d[2].record->details->sex, CSCFLOW__V1__SEX__SEX_UNKNOWN);
  assert_true(d[3].test_child);
  assert_false(d[0].test_child);
  arena_free(&a);
}

/* What is refused, naming the document [n] and the field by a dotted path
 * with no brackets; nothing of the body is returned. */
static void test_refusals(void **state) {
  (void)state;
  static const struct {
    const char *body;
    long index;
    const char *field;
  } cases[] = {
      {"{}", -1, ""},                /* the Python smoke test's body */
      {"not json", -1, ""},
      {"[{}]", 0, "la_child_id"},
      {"[{\"la_child_id\":\"C1\",\"child_details\":{}},{\"la_child_id\":\"C2\"}]", 1,
       "child_details"},
      {"[{\"la_child_id\":7,\"child_details\":{}}]", 0, "la_child_id"},
      {"[{\"la_child_id\":\"C1\",\"child_details\":{\"date_of_birth\":\"14/06/2022\"}}]", 0,
       "child_details.date_of_birth"},
      {"[{\"la_child_id\":\"C1\",\"child_details\":{},\"social_care_episodes\":[{},"
       "{\"child_protection_plans\":[{\"start_date\":\"2024-01-01\"},"
       "{\"start_date\":\"2024-02-30\"}]}]}]",
       0, "social_care_episodes.1.child_protection_plans.1.start_date"},
      {"[{\"la_child_id\":\"C1\",\"child_details\":{\"uasc_flag\":\"yes\"}}]", 0,
       "child_details.uasc_flag"},
      {"[{\"la_child_id\":\"C1\",\"child_details\":{},\"health_and_wellbeing\":"
       "{\"sdq_assessments\":[{\"date\":\"2024-01-01\",\"score\":41}]}}]",
       0, "health_and_wellbeing.sdq_assessments.0.score"},
      {"[{\"la_child_id\":\"C1\",\"child_details\":{},\"social_care_episodes\":{}}]", 0,
       "social_care_episodes"},
      {"[{\"la_child_id\":\"C1\\u0001\",\"child_details\":{}}]", 0, "la_child_id"},
      {"[\"C1\"]", 0, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    struct arena a;
    arena_init(&a, 4096);
    struct dfe_document *d = (void *)1;
    size_t n = 99;
    struct dfe_problem p;
    const int rc = dfe_parse(cases[i].body, strlen(cases[i].body),
                             CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL, &a, &d, &n, &p);
    if (rc != CSC_EINVAL || p.index != cases[i].index || strcmp(p.field, cases[i].field) != 0)
      fail_msg("case %zu: rc %d, [%ld] \"%s\" (%s); want [%ld] \"%s\"", i, rc, p.index, p.field,
               p.reason, cases[i].index, cases[i].field);
    assert_null(d);
    assert_int_equal(n, 0);
    assert_null(strchr(p.field, '['));
    /* The request's log line counts the documents of a body that is an
     * array, refused or not. */
    assert_int_equal(p.documents, cases[i].body[0] == '[' ? (i == 3 ? 2 : 1) : 0);
    arena_free(&a);
  }
}

/* PowerShell 5.1 may send Windows-1252: read as such, not refused. */
static void test_windows_1252(void **state) {
  (void)state;
  static const char body[] = "[{\"la_child_id\":\"C1\",\"child_details\":{\"first_name\":\"Zo\xEB\","
                             "\"surname\":\"O\x92Neil\",\"uasc_flag\":false}}]";
  struct arena a;
  arena_init(&a, 4096);
  struct dfe_document *d;
  size_t n;
  struct dfe_problem p;
  assert_int_equal(dfe_parse(body, sizeof body - 1, CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL,
                             &a, &d, &n, &p),
                   CSC_OK);
  assert_int_equal(n, 1);
  assert_string_equal(d[0].la_child_id, "C1");
  arena_free(&a);
}

/* Ids: the same document the same day is one event (a resend); the next
 * day, or changed, another. The answer's id has the senders' form. */
static void test_ids(void **state) {
  (void)state;
  static const char one[] = "[{\"la_child_id\":\"C1\",\"child_details\":{\"sex\":\"M\"}}]";
  static const char two[] = "[{\"la_child_id\":\"C1\",\"child_details\":{\"sex\":\"F\"}}]";
  const int64_t noon = 1733227200000LL, evening = noon + 6 * 3600000LL, next = noon + 86400000LL;
  struct arena a;
  arena_init(&a, 1 << 14);
  struct dfe_document *d1, *d2;
  size_t n;
  struct dfe_problem p;
  const Cscflow__V1__RecordMode full = CSCFLOW__V1__RECORD_MODE__RECORD_MODE_FULL;
  assert_int_equal(dfe_parse(one, sizeof one - 1, full, &a, &d1, &n, &p), CSC_OK);
  assert_int_equal(dfe_parse(two, sizeof two - 1, full, &a, &d2, &n, &p), CSC_OK);
  CaseEvent e1, e2, e3, e4;
  assert_int_equal(dfe_event("201", &d1[0], noon, &a, &e1), CSC_OK);
  assert_int_equal(dfe_event("201", &d1[0], evening, &a, &e2), CSC_OK);
  assert_int_equal(dfe_event("201", &d1[0], next, &a, &e3), CSC_OK);
  assert_int_equal(dfe_event("201", &d2[0], noon, &a, &e4), CSC_OK);
  assert_string_equal(e1.event_id, e2.event_id);
  assert_string_not_equal(e1.event_id, e3.event_id);
  assert_string_not_equal(e1.event_id, e4.event_id);
  assert_int_equal(e2.recorded_at_ms, evening);
  assert_int_equal(e1.occurred_on, 20241203);
  assert_string_equal(e1.source_system, DFE_SOURCE);
  char id[96];
  dfe_reply_id(evening + 1234, e1.event_id, id, sizeof id);
  /* 2024-12-03 18:00:01.23 UTC */
  assert_int_equal(strlen(id), strlen("2024-12-03_18:00:01.23_") + 36 + strlen(".json"));
  assert_memory_equal(id, "2024-12-03_18:00:01.23_", 23);
  assert_memory_equal(id + 23, e1.event_id + 4, 8);
  assert_int_equal(id[23 + 8], '-');
  assert_string_equal(id + strlen(id) - 5, ".json");
  arena_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_record),
      cmocka_unit_test(test_partial_purge_and_test_child),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_windows_1252),
      cmocka_unit_test(test_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
