/*
 * dfe.c — the DfE CSC API child documents (research: ../shared/research/
 * dfe-sender.md, section 3) read into ChildRecords (events.proto).
 *
 * What a document may hold, and what is kept:
 *
 *   la_child_id            the child id (required; an id by the input rules)
 *   mis_child_id           kept; absent or null: ""
 *   purge                  kept (true: no child_details needed)
 *   child_details          required unless purge: birth, expected birth, sex
 *                          ("M", "F", "U"), ethnicity, disabilities (["NONE"]
 *                          is none), uasc_flag, uasc_end_date. Names, pupil
 *                          numbers and the postcode are read past, never kept.
 *   health_and_wellbeing   sdq_assessments [{date, score}]
 *   social_care_episodes   each with its referral, closure, NFA flag, care
 *                          workers, assessments, CIN and CP plans, Section 47
 *                          enquiries, placements (the postcode's district
 *                          only), adoption and care_leavers.
 *
 * null is absent everywhere. Unknown keys are read past (a later spec may
 * add some). A value of the wrong JSON type, a date that is not YYYY-MM-DD,
 * or a string that breaks the input rules (an id over 128 bytes, a control
 * character) refuses the document, naming it [n] and the field by a dotted
 * path with no brackets (episodes.0.start_date), the only bracketed number
 * in the answer being the document's. Codes are kept as sent (the fold
 * judges them: unknown_code).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/sha2.h>

#include "feeds/internal.h"

/* ---- the body's encoding ----------------------------------------------------------- */

/* Windows-1252's 0x80-0x9F (0: undefined, read as U+FFFD). */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

static int valid_utf8(const uint8_t *s, size_t len) {
  const char *problem;
  for (size_t i = 0; i < len;) {
    /* One code point at a time; ingest's check forbids control characters,
     * which JSON may hold (whitespace), so look at the bytes here. */
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t n = 0;
    while (n < 4 && i + n < len && (n == 0 || (s[i + n] & 0xC0) == 0x80))
      n++;
    if (ingest_check_string(s + i, n, &problem) != CSC_OK)
      return 0;
    i += n;
  }
  return 1;
}

/* body read as Windows-1252, as UTF-8, in a's memory. */
static char *from_cp1252(const uint8_t *body, size_t len, struct arena *a, size_t *out_len) {
  char *out = arena_alloc(a, len * 3 + 1), *p = out;
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    uint32_t c = body[i];
    if (c >= 0x80 && c < 0xA0)
      c = cp1252_high[c - 0x80] ? cp1252_high[c - 0x80] : 0xFFFD;
    if (c < 0x80) {
      *p++ = (char)c;
    } else if (c < 0x800) {
      *p++ = (char)(0xC0 | c >> 6);
      *p++ = (char)(0x80 | (c & 0x3F));
    } else {
      *p++ = (char)(0xE0 | c >> 12);
      *p++ = (char)(0x80 | ((c >> 6) & 0x3F));
      *p++ = (char)(0x80 | (c & 0x3F));
    }
  }
  *out_len = (size_t)(p - out);
  *p = '\0';
  return out;
}

/* ---- reading one document ---------------------------------------------------------- */

/* What reading a document needs: its arena, and where a problem is noted. */
struct reader {
  struct arena *a;
  struct dfe_problem *problem;
  char path[96]; /* the dotted path of the object being read */
  int failed;
};

static int fail(struct reader *r, const char *key, const char *reason) {
  if (!r->failed) {
    snprintf(r->problem->field, sizeof r->problem->field, "%s%s%s", r->path,
             r->path[0] && key[0] ? "." : "", key);
    snprintf(r->problem->reason, sizeof r->problem->reason, "%s", reason);
  }
  r->failed = 1;
  return CSC_EINVAL;
}

/* The value under key, NULL when absent or null. */
static json_t *get(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return v == NULL || json_is_null(v) ? NULL : v;
}

/* A string under key copied into *out ("" when absent); the input rules apply. */
static int string_at(struct reader *r, json_t *obj, const char *key, char **out) {
  json_t *v = get(obj, key);
  *out = "";
  if (v == NULL)
    return CSC_OK;
  if (!json_is_string(v))
    return fail(r, key, "expected a string");
  const char *problem;
  const char *s = json_string_value(v);
  if (ingest_check_string((const uint8_t *)s, json_string_length(v), &problem) != CSC_OK)
    return fail(r, key, problem);
  if ((*out = arena_strdup(r->a, s)) == NULL)
    return CSC_ENOMEM;
  return CSC_OK;
}

/* A YYYY-MM-DD date under key into *out as YYYYMMDD (0 when absent). */
static int date_at(struct reader *r, json_t *obj, const char *key, uint32_t *out) {
  json_t *v = get(obj, key);
  csc_date d;
  *out = 0;
  if (v == NULL)
    return CSC_OK;
  if (!json_is_string(v) || date_parse(json_string_value(v), &d) != CSC_OK)
    return fail(r, key, "expected a date YYYY-MM-DD");
  *out = date_to_yyyymmdd(d);
  return CSC_OK;
}

static int flag_at(struct reader *r, json_t *obj, const char *key, Cscflow__V1__Flag *out) {
  json_t *v = get(obj, key);
  *out = CSCFLOW__V1__FLAG__FLAG_ABSENT;
  if (v == NULL)
    return CSC_OK;
  if (!json_is_boolean(v))
    return fail(r, key, "expected true or false");
  *out = json_is_true(v) ? CSCFLOW__V1__FLAG__FLAG_YES : CSCFLOW__V1__FLAG__FLAG_NO;
  return CSC_OK;
}

static int bool_at(struct reader *r, json_t *obj, const char *key, protobuf_c_boolean *out) {
  Cscflow__V1__Flag f;
  const int rc = flag_at(r, obj, key, &f);
  *out = f == CSCFLOW__V1__FLAG__FLAG_YES;
  return rc;
}

/* The array under key (NULL, *n 0, when absent). */
static int array_at(struct reader *r, json_t *obj, const char *key, json_t **out, size_t *n) {
  json_t *v = get(obj, key);
  *out = NULL;
  *n = 0;
  if (v == NULL)
    return CSC_OK;
  if (!json_is_array(v))
    return fail(r, key, "expected an array");
  *out = v;
  *n = json_array_size(v);
  return CSC_OK;
}

/* An array of strings (codes) under key. */
static int strings_at(struct reader *r, json_t *obj, const char *key, char ***out, size_t *n,
                      int *present) {
  json_t *arr;
  int rc = array_at(r, obj, key, &arr, n);
  *out = NULL;
  *present = arr != NULL;
  if (rc != CSC_OK || *n == 0)
    return rc;
  if ((*out = arena_alloc(r->a, *n * sizeof **out)) == NULL)
    return CSC_ENOMEM;
  for (size_t i = 0; i < *n; i++) {
    json_t *v = json_array_get(arr, i);
    const char *problem;
    if (!json_is_string(v))
      return fail(r, key, "expected an array of strings");
    if (ingest_check_string((const uint8_t *)json_string_value(v), json_string_length(v),
                            &problem) != CSC_OK)
      return fail(r, key, problem);
    if (((*out)[i] = arena_strdup(r->a, json_string_value(v))) == NULL)
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* Enters the object at index i of the array under key (path grows). */
static int enter(struct reader *r, json_t *item, const char *key, size_t i, size_t *saved) {
  *saved = strlen(r->path);
  snprintf(r->path + *saved, sizeof r->path - *saved, "%s%s.%zu", *saved ? "." : "", key, i);
  if (!json_is_object(item)) {
    r->path[*saved] = '\0';
    char where[48];
    snprintf(where, sizeof where, "%s.%zu", key, i);
    return fail(r, where, "expected an object");
  }
  return CSC_OK;
}

static void leave(struct reader *r, size_t saved) { r->path[saved] = '\0'; }

static void *alloc(struct reader *r, size_t size) { return arena_alloc(r->a, size); }

/* Reads the array of objects under key into *out (n items), each by fn. */
#define READ_LIST(r, obj, key, Type, init, out, n, fn)                                             \
  do {                                                                                             \
    json_t *arr_;                                                                                  \
    int rc_ = array_at(r, obj, key, &arr_, n);                                                     \
    if (rc_ != CSC_OK)                                                                             \
      return rc_;                                                                                  \
    if (*(n) > 0 && (*(out) = alloc(r, *(n) * sizeof **(out))) == NULL)                           \
      return CSC_ENOMEM;                                                                           \
    for (size_t i_ = 0; i_ < *(n); i_++) {                                                         \
      size_t saved_;                                                                               \
      json_t *item_ = json_array_get(arr_, i_);                                                    \
      Type *x_ = alloc(r, sizeof *x_);                                                             \
      if (x_ == NULL)                                                                              \
        return CSC_ENOMEM;                                                                         \
      init(x_);                                                                                    \
      if ((rc_ = enter(r, item_, key, i_, &saved_)) != CSC_OK)                                     \
        return rc_;                                                                                \
      if ((rc_ = fn(r, item_, x_)) != CSC_OK)                                                      \
        return rc_;                                                                                \
      leave(r, saved_);                                                                            \
      (*(out))[i_] = x_;                                                                           \
    }                                                                                              \
  } while (0)

static int read_details(struct reader *r, json_t *o, Cscflow__V1__RecordDetails *d) {
  char *sex = "";
  int present = 0;
  int rc = date_at(r, o, "date_of_birth", &d->date_of_birth);
  if (rc == CSC_OK)
    rc = date_at(r, o, "expected_date_of_birth", &d->expected_date_of_birth);
  if (rc == CSC_OK)
    rc = string_at(r, o, "sex", &sex);
  if (rc == CSC_OK)
    rc = string_at(r, o, "ethnicity", &d->ethnicity);
  if (rc == CSC_OK)
    rc = strings_at(r, o, "disabilities", &d->disabilities, &d->n_disabilities, &present);
  if (rc == CSC_OK)
    rc = bool_at(r, o, "uasc_flag", &d->uasc);
  if (rc == CSC_OK)
    rc = date_at(r, o, "uasc_end_date", &d->uasc_end_date);
  if (rc != CSC_OK)
    return rc;
  d->sex = strcmp(sex, "M") == 0   ? CSCFLOW__V1__SEX__SEX_MALE
           : strcmp(sex, "F") == 0 ? CSCFLOW__V1__SEX__SEX_FEMALE
           : strcmp(sex, "U") == 0 ? CSCFLOW__V1__SEX__SEX_UNKNOWN
                                   : CSCFLOW__V1__SEX__SEX_UNSPECIFIED;
  if (d->n_disabilities == 1 && strcmp(d->disabilities[0], "NONE") == 0)
    d->n_disabilities = 0; /* the sender's "none" */
  return CSC_OK;
}

static int read_sdq(struct reader *r, json_t *o, Cscflow__V1__RecordSdq *s) {
  int rc = date_at(r, o, "date", &s->date);
  json_t *v = get(o, "score");
  if (rc != CSC_OK || v == NULL)
    return rc;
  if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 40)
    return fail(r, "score", "expected an integer 0 to 40");
  s->score = (uint32_t)json_integer_value(v);
  s->score_present = 1;
  return CSC_OK;
}

static int read_worker(struct reader *r, json_t *o, Cscflow__V1__RecordWorker *w) {
  int rc = string_at(r, o, "worker_id", &w->worker_id);
  if (rc == CSC_OK)
    rc = date_at(r, o, "start_date", &w->start_date);
  return rc == CSC_OK ? date_at(r, o, "end_date", &w->end_date) : rc;
}

static int read_assessment(struct reader *r, json_t *o, Cscflow__V1__RecordAssessment *x) {
  int present = 0;
  int rc = string_at(r, o, "child_and_family_assessment_id", &x->id);
  if (rc == CSC_OK)
    rc = date_at(r, o, "start_date", &x->start_date);
  if (rc == CSC_OK)
    rc = date_at(r, o, "authorisation_date", &x->authorisation_date);
  if (rc == CSC_OK)
    rc = strings_at(r, o, "factors", &x->factors, &x->n_factors, &present);
  x->factors_present = present;
  return rc == CSC_OK ? bool_at(r, o, "purge", &x->purge) : rc;
}

static int read_plan(struct reader *r, json_t *o, Cscflow__V1__RecordPlan *p, const char *id) {
  int rc = string_at(r, o, id, &p->id);
  if (rc == CSC_OK)
    rc = date_at(r, o, "start_date", &p->start_date);
  if (rc == CSC_OK)
    rc = date_at(r, o, "end_date", &p->end_date);
  return rc == CSC_OK ? bool_at(r, o, "purge", &p->purge) : rc;
}

static int read_cin_plan(struct reader *r, json_t *o, Cscflow__V1__RecordPlan *p) {
  return read_plan(r, o, p, "child_in_need_plan_id");
}

static int read_cp_plan(struct reader *r, json_t *o, Cscflow__V1__RecordPlan *p) {
  return read_plan(r, o, p, "child_protection_plan_id");
}

static int read_enquiry(struct reader *r, json_t *o, Cscflow__V1__RecordEnquiry *e) {
  int rc = string_at(r, o, "section_47_assessment_id", &e->id);
  if (rc == CSC_OK)
    rc = date_at(r, o, "start_date", &e->start_date);
  if (rc == CSC_OK)
    rc = flag_at(r, o, "icpc_required_flag", &e->icpc_required);
  if (rc == CSC_OK)
    rc = date_at(r, o, "icpc_date", &e->icpc_date);
  if (rc == CSC_OK)
    rc = date_at(r, o, "end_date", &e->end_date);
  return rc == CSC_OK ? bool_at(r, o, "purge", &e->purge) : rc;
}

static int read_placement(struct reader *r, json_t *o, Cscflow__V1__RecordPlacement *p) {
  char *postcode, district[16];
  int rc = string_at(r, o, "child_looked_after_placement_id", &p->id);
  if (rc == CSC_OK)
    rc = date_at(r, o, "start_date", &p->start_date);
  if (rc == CSC_OK)
    rc = string_at(r, o, "start_reason", &p->start_reason);
  if (rc == CSC_OK)
    rc = string_at(r, o, "postcode", &postcode);
  if (rc == CSC_OK)
    rc = string_at(r, o, "placement_type", &p->placement_type);
  if (rc == CSC_OK)
    rc = date_at(r, o, "end_date", &p->end_date);
  if (rc == CSC_OK)
    rc = string_at(r, o, "end_reason", &p->end_reason);
  if (rc == CSC_OK)
    rc = string_at(r, o, "change_reason", &p->change_reason);
  if (rc == CSC_OK)
    rc = bool_at(r, o, "purge", &p->purge);
  if (rc != CSC_OK)
    return rc;
  feeds_postcode_district(postcode, district, sizeof district);
  return (p->postcode_district = arena_strdup(r->a, district)) == NULL ? CSC_ENOMEM : CSC_OK;
}

static int read_adoption(struct reader *r, json_t *o, Cscflow__V1__RecordAdoption *x) {
  int rc = date_at(r, o, "initial_decision_date", &x->initial_decision_date);
  if (rc == CSC_OK)
    rc = date_at(r, o, "matched_date", &x->matched_date);
  return rc == CSC_OK ? date_at(r, o, "placed_date", &x->placed_date) : rc;
}

static int read_leaver(struct reader *r, json_t *o, Cscflow__V1__RecordLeaver *x) {
  int rc = date_at(r, o, "contact_date", &x->contact_date);
  if (rc == CSC_OK)
    rc = string_at(r, o, "activity", &x->activity);
  return rc == CSC_OK ? string_at(r, o, "accommodation", &x->accommodation) : rc;
}

/* An object under key read by fn into *out (NULL when absent). */
#define READ_OBJECT(r, obj, key, Type, init, out, fn)                                              \
  do {                                                                                             \
    json_t *v_ = get(obj, key);                                                                    \
    *(out) = NULL;                                                                                 \
    if (v_ != NULL) {                                                                              \
      if (!json_is_object(v_))                                                                     \
        return fail(r, key, "expected an object");                                                 \
      const size_t saved_ = strlen(r->path);                                                       \
      snprintf(r->path + saved_, sizeof r->path - saved_, "%s%s", saved_ ? "." : "", key);         \
      Type *x_ = alloc(r, sizeof *x_);                                                             \
      if (x_ == NULL)                                                                              \
        return CSC_ENOMEM;                                                                         \
      init(x_);                                                                                    \
      int rc_ = fn(r, v_, x_);                                                                     \
      if (rc_ != CSC_OK)                                                                           \
        return rc_;                                                                                \
      leave(r, saved_);                                                                            \
      *(out) = x_;                                                                                 \
    }                                                                                              \
  } while (0)

static int read_episode(struct reader *r, json_t *o, Cscflow__V1__RecordEpisode *e) {
  int rc = string_at(r, o, "social_care_episode_id", &e->id);
  if (rc == CSC_OK)
    rc = date_at(r, o, "referral_date", &e->referral_date);
  if (rc == CSC_OK)
    rc = string_at(r, o, "referral_source", &e->referral_source);
  if (rc == CSC_OK)
    rc = date_at(r, o, "closure_date", &e->closure_date);
  if (rc == CSC_OK)
    rc = string_at(r, o, "closure_reason", &e->closure_reason);
  if (rc == CSC_OK)
    rc = flag_at(r, o, "referral_no_further_action_flag", &e->referral_nfa);
  if (rc == CSC_OK)
    rc = bool_at(r, o, "purge", &e->purge);
  if (rc != CSC_OK)
    return rc;
  READ_LIST(r, o, "care_worker_details", Cscflow__V1__RecordWorker,
            cscflow__v1__record_worker__init, &e->care_workers, &e->n_care_workers, read_worker);
  READ_LIST(r, o, "child_and_family_assessments", Cscflow__V1__RecordAssessment,
            cscflow__v1__record_assessment__init, &e->assessments, &e->n_assessments,
            read_assessment);
  READ_LIST(r, o, "child_in_need_plans", Cscflow__V1__RecordPlan, cscflow__v1__record_plan__init,
            &e->cin_plans, &e->n_cin_plans, read_cin_plan);
  READ_LIST(r, o, "child_protection_plans", Cscflow__V1__RecordPlan,
            cscflow__v1__record_plan__init, &e->cp_plans, &e->n_cp_plans, read_cp_plan);
  READ_LIST(r, o, "section_47_assessments", Cscflow__V1__RecordEnquiry,
            cscflow__v1__record_enquiry__init, &e->section47s, &e->n_section47s, read_enquiry);
  READ_LIST(r, o, "child_looked_after_placements", Cscflow__V1__RecordPlacement,
            cscflow__v1__record_placement__init, &e->placements, &e->n_placements,
            read_placement);
  READ_OBJECT(r, o, "adoption", Cscflow__V1__RecordAdoption, cscflow__v1__record_adoption__init,
              &e->adoption, read_adoption);
  READ_OBJECT(r, o, "care_leavers", Cscflow__V1__RecordLeaver, cscflow__v1__record_leaver__init,
              &e->care_leaver, read_leaver);
  return CSC_OK;
}

static int read_wellbeing(struct reader *r, json_t *o, Cscflow__V1__ChildRecord *c) {
  READ_LIST(r, o, "sdq_assessments", Cscflow__V1__RecordSdq, cscflow__v1__record_sdq__init,
            &c->sdqs, &c->n_sdqs, read_sdq);
  return CSC_OK;
}

static int read_document(struct reader *r, json_t *o, Cscflow__V1__RecordMode mode,
                         struct dfe_document *d) {
  Cscflow__V1__ChildRecord *c = alloc(r, sizeof *c);
  if (c == NULL)
    return CSC_ENOMEM;
  cscflow__v1__child_record__init(c);
  c->mode = mode;
  char *child;
  const char *problem;
  int rc = string_at(r, o, "la_child_id", &child);
  if (rc == CSC_OK && (child[0] == '\0' || ingest_check_id(child, &problem) != CSC_OK))
    rc = fail(r, "la_child_id", child[0] ? problem : "missing");
  if (rc == CSC_OK)
    rc = string_at(r, o, "mis_child_id", &c->mis_child_id);
  if (rc == CSC_OK)
    rc = bool_at(r, o, "purge", &c->purge);
  if (rc != CSC_OK)
    return rc;
  json_t *details = get(o, "child_details");
  if (details == NULL && !c->purge)
    return fail(r, "child_details", "missing");
  READ_OBJECT(r, o, "child_details", Cscflow__V1__RecordDetails,
              cscflow__v1__record_details__init, &c->details, read_details);
  json_t *hw = get(o, "health_and_wellbeing");
  if (hw != NULL && !json_is_object(hw))
    return fail(r, "health_and_wellbeing", "expected an object");
  if (hw != NULL) {
    snprintf(r->path, sizeof r->path, "health_and_wellbeing");
    if ((rc = read_wellbeing(r, hw, c)) != CSC_OK)
      return rc;
    r->path[0] = '\0';
  }
  READ_LIST(r, o, "social_care_episodes", Cscflow__V1__RecordEpisode,
            cscflow__v1__record_episode__init, &c->episodes, &c->n_episodes, read_episode);
  d->la_child_id = child;
  d->record = c;
  d->test_child = strncmp(child, DFE_TEST_CHILD_PREFIX, sizeof DFE_TEST_CHILD_PREFIX - 1) == 0;
  return CSC_OK;
}

int dfe_parse(const char *body, size_t len, Cscflow__V1__RecordMode mode, struct arena *a,
              struct dfe_document **docs, size_t *n, struct dfe_problem *problem) {
  memset(problem, 0, sizeof *problem);
  problem->index = -1;
  *docs = NULL;
  *n = 0;
  if (!valid_utf8((const uint8_t *)body, len) &&
      (body = from_cp1252((const uint8_t *)body, len, a, &len)) == NULL)
    return CSC_ENOMEM;
  json_error_t jerr;
  json_t *root = json_loadb(body, len, 0, &jerr);
  if (root == NULL || !json_is_array(root)) {
    snprintf(problem->reason, sizeof problem->reason, "%s",
             root == NULL ? "the body is not JSON" : "the body is not a JSON array of documents");
    json_decref(root);
    return CSC_EINVAL;
  }
  const size_t count = json_array_size(root);
  problem->documents = count;
  struct dfe_document *out = arena_alloc(a, (count ? count : 1) * sizeof *out);
  int rc = out ? CSC_OK : CSC_ENOMEM;
  for (size_t i = 0; rc == CSC_OK && i < count; i++) {
    struct reader r = {a, problem, "", 0};
    json_t *doc = json_array_get(root, i);
    problem->index = (long)i;
    rc = json_is_object(doc) ? read_document(&r, doc, mode, &out[i])
                             : fail(&r, "", "expected a document (a JSON object)");
  }
  json_decref(root);
  if (rc != CSC_OK)
    return rc;
  problem->index = -1;
  *docs = out;
  *n = count;
  return CSC_OK;
}

/* ---- the event, and the answer's id ------------------------------------------------- */

int dfe_event(const char *la, const struct dfe_document *d, int64_t received_ms,
              struct arena *a, CaseEvent *ev) {
  CaseEvent init = CSCFLOW__V1__CASE_EVENT__INIT;
  *ev = init;
  ev->la_code = (char *)la;
  ev->child_id = (char *)d->la_child_id;
  ev->occurred_on = date_to_yyyymmdd(date_london_from_unix_ms(received_ms));
  ev->source_system = DFE_SOURCE;
  ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_RECORD;
  ev->child_record = d->record;
  /* The id: what the document says and the day it came, so that a resend
   * is a duplicate and a reversal on another day (A, B, A) is applied. */
  const size_t len = cscflow__v1__case_event__get_packed_size(ev);
  uint8_t *buf = arena_alloc(a, len ? len : 1);
  char *id = arena_alloc(a, 4 + 32 + 1);
  if (buf == NULL || id == NULL)
    return CSC_ENOMEM;
  cscflow__v1__case_event__pack(ev, buf);
  struct sha256_ctx ctx;
  uint8_t digest[16];
  sha256_init(&ctx);
  sha256_update(&ctx, len, buf);
  sha256_digest(&ctx, sizeof digest, digest);
  memcpy(id, "dfe-", 4);
  for (size_t i = 0; i < sizeof digest; i++)
    snprintf(id + 4 + 2 * i, 3, "%02x", digest[i]);
  ev->event_id = id;
  ev->recorded_at_ms = received_ms;
  return CSC_OK;
}

void dfe_reply_id(int64_t received_ms, const char *event_id, char *out, size_t len) {
  const int64_t day_ms = 86400000;
  const csc_date day = (csc_date)(received_ms / day_ms);
  const int64_t in_day = received_ms % day_ms;
  char date[11];
  const char *h = strncmp(event_id, "dfe-", 4) == 0 ? event_id + 4 : event_id;
  char hex[33];
  snprintf(hex, sizeof hex, "%-32.32s", h);
  for (size_t i = 0; i < 32; i++)
    if (hex[i] == ' ')
      hex[i] = '0';
  snprintf(out, len, "%s_%02d:%02d:%02d.%02d_%.8s-%.4s-%.4s-%.4s-%.12s.json",
           date_format(day, date), (int)(in_day / 3600000), (int)(in_day / 60000 % 60),
           (int)(in_day / 1000 % 60), (int)(in_day % 1000 / 10), hex, hex + 8, hex + 12,
           hex + 16, hex + 20);
}
