/*
 * The code lists as data (issue 15, item 3): loading reference/code-lists.csv,
 * validity by the collection year of occurred_on, both spellings of the
 * categories of abuse, breakdowns keyed by the code, and the state's record
 * of the lists' version. Every expected value is worked out by hand in the
 * comment above its assertion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "indicators/indicators.h"
#include "state/state.h"
#include "tests/harness.h"
#include "tests/testutil.h"

#define SHIPPED CSCFLOW_SOURCE_DIR "/reference/" REFDATA_CODES_FILE

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* ---- loading --------------------------------------------------------------------- */

static void test_load_shipped(void **state) {
  (void)state;
  struct code_lists c;
  char err[256];
  assert_int_equal(code_lists_load(&c, SHIPPED, err, sizeof err), CSC_OK);
  assert_true(c.n > 200);
  assert_int_equal(strlen(c.version), 16);
  /* The catalogue's rows of cp_plan_starts: NEG PHY EMO SAB MUL then
   * N P E S M in the file, spelt N P E S M, each once. */
  const char *names[16];
  assert_int_equal(code_list_codes(&c, CODE_ABUSE_CATEGORY, names, 16), 5);
  assert_string_equal(names[0], "N");
  assert_string_equal(names[4], "M");
  code_lists_free(&c);
}

/* A malformed line is an error naming the file and the line; a missing
 * file names the file. */
static void test_load_malformed(void **state) {
  (void)state;
  char dir[256], path[300], err[512];
  struct code_lists c;
  test_tmpdir(dir, sizeof dir, "codes_malformed");
  snprintf(path, sizeof path, "%s/codes.csv", dir);
  write_file(path, "# a comment\nlist,code,first,last,note\nreferral_source,1A,,,\n"
                   "referral_source,1b,,,lower case\n");
  assert_int_equal(code_lists_load(&c, path, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "codes.csv:4: code must be of [0-9A-Z]"));
  write_file(path, "list,code,first,last,note\nleaver_activity,F4,2022,2021,\n");
  assert_int_equal(code_lists_load(&c, path, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "codes.csv:2: last year before first year"));
  write_file(path, "list,code,first,last,note\nplacement,U1,,,\n");
  assert_int_equal(code_lists_load(&c, path, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "codes.csv:2: unknown list name"));
  write_file(path, "code,list\n");
  assert_int_equal(code_lists_load(&c, path, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "codes.csv:1: expected the header"));
  snprintf(path, sizeof path, "%s/absent.csv", dir);
  assert_int_equal(code_lists_load(&c, path, err, sizeof err), CSC_EIO);
  assert_non_null(strstr(err, "absent.csv"));
}

/* ---- validity by collection year --------------------------------------------------- */

/* "A collection year is named by the year of its 31 March end": 31 March
 * 2024 is year 2024, 1 April 2024 year 2025. */
static void test_collection_year(void **state) {
  (void)state;
  assert_int_equal(code_collection_year(D(2024, 3, 31)), 2024);
  assert_int_equal(code_collection_year(D(2024, 4, 1)), 2025);
  assert_int_equal(code_collection_year(D(2025, 1, 1)), 2025);
}

/* The shipped file: F4 (SSDA903 2024, not in 2021) is valid from 2022, F3
 * (2017 and 2021) up to 2023; P1 ("part time in higher education") always. */
static void test_validity_by_year(void **state) {
  (void)state;
  const struct code_lists *c = test_code_lists();
  assert_false(code_is_known(c, CODE_LEAVER_ACTIVITY, "F4", D(2021, 3, 31)));
  assert_true(code_is_known(c, CODE_LEAVER_ACTIVITY, "F4", D(2021, 4, 1)));
  assert_true(code_is_known(c, CODE_LEAVER_ACTIVITY, "F3", D(2023, 3, 31)));
  assert_false(code_is_known(c, CODE_LEAVER_ACTIVITY, "F3", D(2023, 4, 1)));
  assert_true(code_is_known(c, CODE_LEAVER_ACTIVITY, "P1", D(2010, 6, 1)));
  assert_true(code_is_known(c, CODE_LEAVER_ACTIVITY, "P5", D(2025, 6, 1)));
  assert_true(code_is_known(c, CODE_LEAVER_ACCOMMODATION, "B1", D(2025, 6, 1)));
  assert_true(code_is_known(c, CODE_ABUSE_CATEGORY, "NEG", D(2025, 6, 1)));
  assert_false(code_is_known(c, CODE_ABUSE_CATEGORY, "NEGLECT", D(2025, 6, 1)));
  assert_true(code_is_known(c, CODE_ABUSE_CATEGORY, "", D(2025, 6, 1)));
  assert_true(code_is_known(NULL, CODE_ABUSE_CATEGORY, "NEGLECT", D(2025, 6, 1)));
}

/* ---- the fold: unknown_code only for codes in no list ------------------------------ */

struct folded {
  struct arena a;
  struct child_state st;
};

static CaseEvent *leaver(struct arena *a, const char *id, csc_date d, const char *activity,
                         const char *accommodation) {
  CaseEvent *ev = arena_alloc(a, sizeof *ev);
  Cscflow__V1__CareLeaverContact *c = arena_alloc(a, sizeof *c);
  *ev = envelope(id, "C1", d, d);
  cscflow__v1__care_leaver_contact__init(c);
  c->in_touch = 1;
  c->activity_code = (char *)activity;
  c->accommodation_code = (char *)accommodation;
  ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT;
  ev->care_leaver_contact = c;
  return ev;
}

static CaseEvent *cp_started(struct arena *a, const char *id, csc_date d, const char *category) {
  CaseEvent *ev = arena_alloc(a, sizeof *ev);
  Cscflow__V1__CpPlanStarted *p = arena_alloc(a, sizeof *p);
  *ev = envelope(id, "C1", d, d);
  cscflow__v1__cp_plan_started__init(p);
  p->plan_id = (char *)id;
  p->initial_category = (char *)category;
  ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  ev->cp_plan_started = p;
  return ev;
}

static int unknown_findings_of(const struct child_state *st, const char *event_id) {
  int n = 0;
  for (size_t i = 0; i < st->n_findings; i++)
    n += st->findings[i].rule == Q_UNKNOWN_CODE &&
         (event_id == NULL || strcmp(st->findings[i].event_id, event_id) == 0);
  return n;
}

/*
 * Care leaver contacts: l1 2025-06-01 P1/B1 (current guide: known); l2
 * 2020-06-01 F4 (year 2021, before F4 came in: unknown); l3 2022-06-01 F4
 * (year 2023: known); l4 2024-06-01 F6/"B" (today's earlier codes, kept for
 * all years: known). CP plans: p1 2024-06-01 NEG, p2 2024-07-01 N (both
 * spellings: known), p3 2024-08-01 NEGLECT (in no list: unknown). The
 * fold keeps p1's and p2's category as "N".
 */
static void test_fold_unknown_only_outside_lists(void **state) {
  (void)state;
  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *evs[] = {leaver(&a, "l1", D(2025, 6, 1), "P1", "B1"),
                      leaver(&a, "l2", D(2020, 6, 1), "F4", "B1"),
                      leaver(&a, "l3", D(2022, 6, 1), "F4", "B2"),
                      leaver(&a, "l4", D(2024, 6, 1), "F6", "B"),
                      cp_started(&a, "p1", D(2024, 6, 1), "NEG"),
                      cp_started(&a, "p2", D(2024, 7, 1), "N"),
                      cp_started(&a, "p3", D(2024, 8, 1), "NEGLECT")};
  struct child_state st;
  assert_int_equal(child_fold(evs, 7, test_code_lists(), &a, &st), CSC_OK);
  assert_int_equal(unknown_findings_of(&st, NULL), 2);
  assert_int_equal(unknown_findings_of(&st, "l2"), 1);
  assert_int_equal(unknown_findings_of(&st, "p3"), 1);
  assert_int_equal(st.n_plans[PLAN_CP], 3);
  assert_string_equal(st.plans[PLAN_CP][0].code, "N");
  assert_string_equal(st.plans[PLAN_CP][1].code, "N");
  assert_string_equal(st.plans[PLAN_CP][2].code, "NEGLECT");
  arena_free(&a);
}

/* ---- buckets keyed by the code ------------------------------------------------------ */

static const Cscflow__V1__IndicatorValue *value_of(Cscflow__V1__IndicatorValue **v, size_t n,
                                                   const char *id, const char *bd) {
  IndicatorSnapshot snap = CSCFLOW__V1__INDICATOR_SNAPSHOT__INIT;
  snap.values = v;
  snap.n_values = n;
  return snapshot_find(&snap, id, "12m", bd);
}

/*
 * Two versions of the lists: A has referral sources 1A and 2B, B has 2B
 * only (1A removed). A child's referrals 2024-05-01 "1A" (closed
 * 2024-05-15 RC1, a code of neither list: unknown_code under both) and
 * 2024-06-01 "2B":
 * its facts are the same under either (keyed by the code: 1A's bucket is
 * 2*37^2 + 11*37 = 3145), but for B's unknown_code finding. On 2024-06-01 the catalogue says, under A:
 * 1A 1 of 2 (50%), 2B 1 (50%), other 0; under B: no 1A row, 2B 1, other 1
 * (the 1A referral, moved to "other" with nothing stored changed).
 */
static void test_list_change_moves_count_to_other(void **state) {
  (void)state;
  static const char A[] = "list,code,first,last,note\nreferral_source,1A,,,\n"
                          "referral_source,2B,,,\nabuse_category,N,,,\n";
  static const char B[] = "list,code,first,last,note\nreferral_source,2B,,,\n"
                          "abuse_category,N,,,\n";
  struct code_lists la, lb;
  char err[256];
  assert_int_equal(code_lists_parse(&la, A, strlen(A), "A", err, sizeof err), CSC_OK);
  assert_int_equal(code_lists_parse(&lb, B, strlen(B), "B", err, sizeof err), CSC_OK);
  assert_string_not_equal(la.version, lb.version);

  struct arena a;
  arena_init(&a, 8192);
  struct derived d[2];
  const struct code_lists *lists[2] = {&la, &lb};
  for (int v = 0; v < 2; v++) {
    CaseEvent *evs[3];
    for (int i = 0; i < 2; i++) {
      evs[i] = arena_alloc(&a, sizeof *evs[i]);
      Cscflow__V1__ReferralOpened *r = arena_alloc(&a, sizeof *r);
      *evs[i] = envelope(i ? "r2" : "r1", "C1", i ? D(2024, 6, 1) : D(2024, 5, 1), D(2024, 6, 1));
      cscflow__v1__referral_opened__init(r);
      r->referral_id = i ? "R2" : "R1";
      r->source = i ? "2B" : "1A";
      evs[i]->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
      evs[i]->referral_opened = r;
    }
    Cscflow__V1__ReferralClosed *rc = arena_alloc(&a, sizeof *rc);
    evs[2] = arena_alloc(&a, sizeof *evs[2]);
    *evs[2] = envelope("r1c", "C1", D(2024, 5, 15), D(2024, 6, 1));
    cscflow__v1__referral_closed__init(rc);
    rc->referral_id = "R1";
    rc->closure_reason = "RC1";
    evs[2]->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED;
    evs[2]->referral_closed = rc;
    struct child_state st;
    struct derive_ref ref;
    derive_ref_default(&ref);
    ref.codes = lists[v];
    assert_int_equal(child_fold(evs, 3, lists[v], &a, &st), CSC_OK);
    assert_int_equal(child_derive(&st, &ref, &a, &d[v]), CSC_OK);
  }
  /* The stored facts do not depend on the lists, but for the finding:
   * under B the 1A referral is unknown_code, one open M_QUALITY fact more. */
  assert_int_equal(d[0].n_facts + 1, d[1].n_facts);
  size_t j = 0, extra = 0;
  for (size_t i = 0; i < d[1].n_facts; i++) {
    const struct fact *x = &d[1].facts[i];
    if (j < d[0].n_facts && memcmp(&d[0].facts[j], x, sizeof *x) == 0) {
      j++;
      continue;
    }
    assert_int_equal(x->measure, M_QUALITY);
    assert_int_equal(x->bucket, Q_UNKNOWN_CODE);
    extra++;
  }
  assert_int_equal(extra, 1);
  assert_int_equal(j, d[0].n_facts);
  assert_int_equal(code_bucket("1A"), 3145);

  struct agg_sums *sums;
  assert_int_equal(agg_sums_new(&sums), CSC_OK);
  const csc_date t = D(2024, 6, 1);
  for (size_t i = 0; i < d[0].n_facts; i++)
    if (d[0].facts[i].from <= t && t < d[0].facts[i].to)
      assert_int_equal(agg_sums_add(sums, d[0].facts[i].measure, d[0].facts[i].bucket,
                                    d[0].facts[i].weight),
                       CSC_OK);
  struct population pop;
  population_init(&pop);
  Cscflow__V1__IndicatorValue **v;
  size_t n;
  assert_int_equal(catalogue_build(sums, &la, LA, t, &pop, &a, &v, &n), CSC_OK);
  assert_float_equal(value_of(v, n, "referrals_by_source", "1A")->value, 50.0, 1e-9);
  assert_float_equal(value_of(v, n, "referrals_by_source", "2B")->value, 50.0, 1e-9);
  assert_float_equal(value_of(v, n, "referrals_by_source", "other")->numerator, 0, 1e-9);
  assert_int_equal(catalogue_build(sums, &lb, LA, t, &pop, &a, &v, &n), CSC_OK);
  assert_null(value_of(v, n, "referrals_by_source", "1A"));
  assert_float_equal(value_of(v, n, "referrals_by_source", "2B")->numerator, 1, 1e-9);
  assert_float_equal(value_of(v, n, "referrals_by_source", "other")->numerator, 1, 1e-9);
  assert_float_equal(value_of(v, n, "referrals_by_source", "other")->value, 50.0, 1e-9);
  population_free(&pop);
  agg_sums_free(sums);
  arena_free(&a);
  code_lists_free(&la);
  code_lists_free(&lb);
}

/* ---- through the engine -------------------------------------------------------------- */

/* A CP plan started 2024-06-01 with the CIN census's "NEG" counts in
 * cp_plan_starts N (and in the total), raises no unknown_code, and nothing
 * lands in "other": 1, 1, 0. */
static void test_neg_counts_as_n(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "codes_neg");
  struct evs *b = calloc(1, sizeof *b);
  assert_non_null(b);
  Cscflow__V1__CaseEvent ev = envelope("p1", "C1", D(2024, 6, 1), D(2024, 6, 1));
  Cscflow__V1__CpPlanStarted p = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  p.plan_id = "CP1";
  p.initial_category = "NEG";
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  ev.cp_plan_started = &p;
  add(b, &ev);
  apply(&f, b, 0, b->n);
  expect_count(&f, "cp_plan_starts", "12m", "N", 1, 1);
  expect_count(&f, "cp_plan_starts", "12m", "", 1, 1);
  expect_count(&f, "cp_plan_starts", "12m", "other", 0, 0);
  assert_int_equal(get(&f, "cp_plan_starts", "12m", "N").quality[Q_UNKNOWN_CODE], 0);
  close_fixture(&f);
  free(b);
}

/* Runs engine_open with stderr sent to a file; returns its rc and the
 * file's text in log. */
static int open_logged(const struct engine_options *eo, struct engine **e, char *err,
                       size_t errlen, const char *dir, char *log, size_t loglen) {
  char path[400];
  snprintf(path, sizeof path, "%s/stderr.log", dir);
  fflush(stderr);
  const int saved = dup(2);
  FILE *f = fopen(path, "w+");
  assert_non_null(f);
  dup2(fileno(f), 2);
  const int rc = engine_open(eo, e, err, errlen);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(f);
  const size_t n = fread(log, 1, loglen - 1, f);
  log[n] = '\0';
  fclose(f);
  return rc;
}

/*
 * A new state records the lists' version; a writer whose lists differ is
 * refused (ENGINE_ECODES) with one code_lists_changed line naming both
 * versions and saying a replay applies them; the same lists open again.
 */
static void test_state_records_version(void **state) {
  (void)state;
  struct fixture f;
  open_fixture(&f, "codes_version");
  char version[17] = "";
  struct store *st = engine_store(f.e);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn), 0);
  struct code_lists recorded;
  assert_int_equal(store_get_code_lists(st, txn, &recorded), CSC_OK);
  mdb_txn_abort(txn);
  assert_string_equal(recorded.version, f.ref.codes.version);
  snprintf(version, sizeof version, "%s", recorded.version);
  code_lists_free(&recorded);
  engine_close(f.e);

  /* Other lists: the shipped file and one code more. */
  struct refdata other = f.ref;
  const size_t len = f.ref.codes.text_len;
  char *text = malloc(len + 64);
  assert_non_null(text);
  memcpy(text, f.ref.codes.text, len);
  strcpy(text + len, "referral_source,99,2030,,a code of a future guide\n");
  char err[1024], log[4096];
  assert_int_equal(code_lists_parse(&other.codes, text, strlen(text), "other", err, sizeof err),
                   CSC_OK);
  struct engine_options eo = {f.dir, CLOCK_REPLAY, &f.pop, f.sink, 100, 0, &other};
  struct engine *e = NULL;
  assert_int_equal(open_logged(&eo, &e, err, sizeof err, f.dir, log, sizeof log), ENGINE_ECODES);
  assert_non_null(strstr(log, "\"event\":\"code_lists_changed\""));
  assert_non_null(strstr(log, version));
  assert_non_null(strstr(log, other.codes.version));
  assert_non_null(strstr(log, "replay"));
  assert_null(strchr(strchr(log, '\n') + 1, '\n')); /* one line */
  assert_non_null(strstr(err, "replay into an empty state directory"));
  code_lists_free(&other.codes);
  free(text);

  /* The lists it was built with: it opens. */
  eo.ref = &f.ref;
  assert_int_equal(engine_open(&eo, &f.e, err, sizeof err), CSC_OK);
  close_fixture(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_shipped),
      cmocka_unit_test(test_load_malformed),
      cmocka_unit_test(test_collection_year),
      cmocka_unit_test(test_validity_by_year),
      cmocka_unit_test(test_fold_unknown_only_outside_lists),
      cmocka_unit_test(test_list_change_moves_count_to_other),
      cmocka_unit_test(test_neg_counts_as_n),
      cmocka_unit_test(test_state_records_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
