/*
 * cin.c — the CIN census (children in need) XML as events, read with
 * libxml2's tree parser (no network, no external entities).
 *
 * <Message><Header><CollectionDetails><Year> names the collection: the
 * events are recorded on 31 March of that year (its ReferenceDate may be
 * another day). Each <Child>:
 *
 *   ChildIdentifiers, ChildCharacteristics
 *             ChildDetails: birth (or expected birth), sex (GenderCurrent 1
 *             male, 2 female), death, ethnicity, disabilities (NONE: none);
 *             dated on the birth, else (unborn) on the collection's 31 March.
 *   CINdetails  one CIN episode, named "R" + its referral date:
 *             ReferralOpened (source, primary need, ReferralNFA) on
 *             CINreferralDate; ReferralClosed (reason, NFA) on CINclosureDate.
 *     Assessments       AssessmentStarted on AssessmentActualStartDate and
 *                       AssessmentCompleted (factors) on
 *                       AssessmentAuthorisationDate; "A" + start.
 *     CINPlanDates      CinPlanStarted / CinPlanEnded; "CIN" + start.
 *     Section47         Section47Started (InitialCPCtarget) on
 *                       S47ActualStartDate; IcpcHeld on its DateOfInitialCPC
 *                       (plan agreed when a CP plan of the episode starts
 *                       that day); ICPCnotRequired: Section47Completed with
 *                       icpc_not_required, dated on the enquiry's start (the
 *                       census records no end of an enquiry); "S" + start.
 *     DateOfInitialCPC  (of the episode) an IcpcHeld only when no Section47
 *                       of the episode records an ICPC: the census asks for
 *                       the enquiry's ICPC in the Section47 and keeps the
 *                       episode's for conferences with no enquiry in the
 *                       year; counting both would count one conference
 *                       twice. It names the latest enquiry of the episode
 *                       started on or before it ("" if none).
 *     ChildProtectionPlans  CpPlanStarted (initial category, the number of
 *                       previous plans) and CpPlanEnded (latest category);
 *                       each CPPreviewDate a ReviewHeld (CP); "CP" + start.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "feeds/internal.h"

static int named(const xmlNode *n, const char *name) {
  return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *child_named(const xmlNode *parent, const char *name) {
  for (xmlNode *n = parent ? parent->children : NULL; n != NULL; n = n->next)
    if (named(n, name))
      return n;
  return NULL;
}

/* The trimmed text of element n, copied into the import's arena ("" when
 * absent or empty). NULL only when memory runs out. */
static const char *text_in(struct import *im, const xmlNode *n) {
  if (n == NULL)
    return "";
  xmlChar *t = xmlNodeGetContent(n);
  if (t == NULL)
    return "";
  const char *s = (const char *)t;
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
    s++;
  size_t len = strlen(s);
  while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
                     s[len - 1] == '\r'))
    len--;
  char *copy = arena_alloc(&im->arena, len + 1);
  if (copy != NULL) {
    memcpy(copy, s, len);
    copy[len] = '\0';
  }
  xmlFree(t);
  return copy;
}

static const char *text_of(struct import *im, const xmlNode *parent, const char *name) {
  return text_in(im, child_named(parent, name));
}

static int truthy(const char *s) {
  return strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "Y") == 0;
}

/* What one child's events share. */
struct cin_child {
  struct import *im;
  const char *id;
  long line;
};

static int emit(struct cin_child *c, CaseEvent *ev, csc_date on, const xmlNode *at) {
  ev->child_id = (char *)c->id;
  ev->occurred_on = date_to_yyyymmdd(on);
  return import_emit(c->im, ev, "cin", at ? (long)xmlGetLineNo(at) : c->line);
}

/* The date in element `name` of parent into *d: *ok 0 when absent (and
 * nothing noted) or not a date (noted: invalid_date). */
static int date_of(struct cin_child *c, const xmlNode *parent, const char *name, csc_date *d,
                   int *ok) {
  *ok = 0;
  const xmlNode *n = child_named(parent, name);
  const char *s = text_in(c->im, n);
  if (s == NULL)
    return CSC_ENOMEM;
  if (s[0] == '\0')
    return CSC_OK;
  if (feeds_parse_date(s, d) != CSC_OK)
    return import_note(c->im, R_INVALID_DATE, "cin", (long)xmlGetLineNo(n), c->id);
  *ok = 1;
  return CSC_OK;
}

static const char *item(struct cin_child *c, const char *kind, csc_date start) {
  char buf[24];
  snprintf(buf, sizeof buf, "%s%08u", kind, (unsigned)date_to_yyyymmdd(start));
  return arena_strdup(&c->im->arena, buf);
}

/* ---- the child's details -------------------------------------------------------- */

static int details(struct cin_child *c, const xmlNode *child) {
  struct import *im = c->im;
  const xmlNode *ids = child_named(child, "ChildIdentifiers");
  const xmlNode *chars = child_named(child, "ChildCharacteristics");
  csc_date dob = DATE_NEVER, expected = DATE_NEVER, death;
  int has_dob, has_expected, has_death;
  int rc = date_of(c, ids, "PersonBirthDate", &dob, &has_dob);
  if (rc == CSC_OK)
    rc = date_of(c, ids, "ExpectedPersonBirthDate", &expected, &has_expected);
  if (rc == CSC_OK)
    rc = date_of(c, ids, "PersonDeathDate", &death, &has_death);
  if (rc != CSC_OK)
    return rc;
  const char *sex = text_of(im, ids, "GenderCurrent");
  const char *ethnicity = text_of(im, chars, "Ethnicity");
  if (sex == NULL || ethnicity == NULL)
    return CSC_ENOMEM;
  char *codes[32];
  size_t n_codes = 0;
  for (xmlNode *d = child_named(chars, "Disabilities") ? child_named(chars, "Disabilities")->children
                                                       : NULL;
       d != NULL && n_codes < 32; d = d->next)
    if (named(d, "Disability")) {
      const char *code = text_in(im, d);
      if (code == NULL)
        return CSC_ENOMEM;
      if (code[0] != '\0' && strcasecmp(code, "NONE") != 0)
        codes[n_codes++] = (char *)code;
    }
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__ChildDetails cd = CSCFLOW__V1__CHILD_DETAILS__INIT;
  cd.date_of_birth = has_dob ? date_to_yyyymmdd(dob) : 0;
  cd.expected_date_of_birth = has_expected && !has_dob ? date_to_yyyymmdd(expected) : 0;
  cd.date_of_death = has_death ? date_to_yyyymmdd(death) : 0;
  cd.sex = strcmp(sex, "1") == 0   ? CSCFLOW__V1__SEX__SEX_MALE
           : strcmp(sex, "2") == 0 ? CSCFLOW__V1__SEX__SEX_FEMALE
           : strcmp(sex, "9") == 0 ? CSCFLOW__V1__SEX__SEX_UNKNOWN
                                   : CSCFLOW__V1__SEX__SEX_UNSPECIFIED;
  cd.ethnicity = (char *)ethnicity;
  cd.disabled = n_codes > 0;
  cd.disabilities = codes;
  cd.n_disabilities = n_codes;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
  ev.child_details = &cd;
  /* An unborn child's expected birth is in the future of the return. */
  const csc_date on = has_dob ? dob : im->collection_end;
  return emit(c, &ev, on, ids);
}

/* ---- one CIN episode ------------------------------------------------------------ */

struct cin_episode {
  const xmlNode *node;
  const char *referral;
  int any_s47_icpc; /* a Section47 of the episode records an ICPC */
};

static int referral(struct cin_child *c, struct cin_episode *e, csc_date start) {
  struct import *im = c->im;
  const char *source = text_of(im, e->node, "ReferralSource");
  const char *need = text_of(im, e->node, "PrimaryNeedCode");
  const char *nfa = text_of(im, e->node, "ReferralNFA");
  const char *reason = text_of(im, e->node, "ReasonForClosure");
  if (source == NULL || need == NULL || nfa == NULL || reason == NULL)
    return CSC_ENOMEM;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__ReferralOpened o = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  o.referral_id = (char *)e->referral;
  o.source = (char *)source;
  o.primary_need = (char *)need;
  o.no_further_action = truthy(nfa);
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  ev.referral_opened = &o;
  int rc = emit(c, &ev, start, child_named(e->node, "CINreferralDate"));
  csc_date closed;
  int ok;
  if (rc == CSC_OK)
    rc = date_of(c, e->node, "CINclosureDate", &closed, &ok);
  if (rc != CSC_OK || !ok)
    return rc;
  CaseEvent cl = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__ReferralClosed x = CSCFLOW__V1__REFERRAL_CLOSED__INIT;
  x.referral_id = (char *)e->referral;
  x.no_further_action = truthy(nfa);
  x.closure_reason = (char *)reason;
  cl.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED;
  cl.referral_closed = &x;
  return emit(c, &cl, closed, child_named(e->node, "CINclosureDate"));
}

static int assessment(struct cin_child *c, struct cin_episode *e, const xmlNode *a) {
  csc_date start, done;
  int ok, has_done;
  int rc = date_of(c, a, "AssessmentActualStartDate", &start, &ok);
  if (rc != CSC_OK)
    return rc;
  if (!ok)
    return import_note(c->im, R_MISSING_VALUE, "cin", (long)xmlGetLineNo(a), c->id);
  const char *id = item(c, "A", start);
  if (id == NULL)
    return CSC_ENOMEM;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__AssessmentStarted s = CSCFLOW__V1__ASSESSMENT_STARTED__INIT;
  s.assessment_id = (char *)id;
  s.referral_id = (char *)e->referral;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED;
  ev.assessment_started = &s;
  rc = emit(c, &ev, start, a);
  if (rc == CSC_OK)
    rc = date_of(c, a, "AssessmentAuthorisationDate", &done, &has_done);
  if (rc != CSC_OK || !has_done)
    return rc;
  char *factors[64];
  size_t n = 0;
  const xmlNode *fl = child_named(a, "FactorsIdentifiedAtAssessment");
  for (const xmlNode *f = fl ? fl->children : NULL; f != NULL && n < 64; f = f->next)
    if (named(f, "AssessmentFactors")) {
      const char *code = text_in(c->im, f);
      if (code == NULL)
        return CSC_ENOMEM;
      if (code[0] != '\0')
        factors[n++] = (char *)code;
    }
  CaseEvent ce = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__AssessmentCompleted d = CSCFLOW__V1__ASSESSMENT_COMPLETED__INIT;
  d.assessment_id = (char *)id;
  d.referral_id = (char *)e->referral;
  d.factors = factors;
  d.n_factors = n;
  ce.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED;
  ce.assessment_completed = &d;
  return emit(c, &ce, done, child_named(a, "AssessmentAuthorisationDate"));
}

static int cin_plan(struct cin_child *c, struct cin_episode *e, const xmlNode *p) {
  csc_date start, end;
  int ok, has_end;
  int rc = date_of(c, p, "CINPlanStartDate", &start, &ok);
  if (rc != CSC_OK)
    return rc;
  if (!ok)
    return import_note(c->im, R_MISSING_VALUE, "cin", (long)xmlGetLineNo(p), c->id);
  const char *id = item(c, "CIN", start);
  if (id == NULL)
    return CSC_ENOMEM;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__CinPlanStarted s = CSCFLOW__V1__CIN_PLAN_STARTED__INIT;
  s.plan_id = (char *)id;
  s.referral_id = (char *)e->referral;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED;
  ev.cin_plan_started = &s;
  rc = emit(c, &ev, start, p);
  if (rc == CSC_OK)
    rc = date_of(c, p, "CINPlanEndDate", &end, &has_end);
  if (rc != CSC_OK || !has_end)
    return rc;
  CaseEvent ee = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__CinPlanEnded x = CSCFLOW__V1__CIN_PLAN_ENDED__INIT;
  x.plan_id = (char *)id;
  ee.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED;
  ee.cin_plan_ended = &x;
  return emit(c, &ee, end, child_named(p, "CINPlanEndDate"));
}

/* Whether a CP plan of the episode starts on d (an ICPC that day agreed it). */
static int plan_starts_on(struct cin_child *c, const struct cin_episode *e, csc_date d) {
  for (const xmlNode *p = e->node->children; p != NULL; p = p->next) {
    csc_date start;
    const char *s = named(p, "ChildProtectionPlans") ? text_of(c->im, p, "CPPstartDate") : NULL;
    if (s != NULL && feeds_parse_date(s, &start) == CSC_OK && start == d)
      return 1;
  }
  return 0;
}

static int icpc(struct cin_child *c, const struct cin_episode *e, const char *enquiry,
                csc_date on, const xmlNode *at) {
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__IcpcHeld h = CSCFLOW__V1__ICPC_HELD__INIT;
  h.enquiry_id = (char *)enquiry;
  h.plan_agreed = plan_starts_on(c, e, on);
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD;
  ev.icpc_held = &h;
  return emit(c, &ev, on, at);
}

static int section47(struct cin_child *c, struct cin_episode *e, const xmlNode *s47) {
  csc_date start, target, held;
  int ok, has_target, has_held;
  int rc = date_of(c, s47, "S47ActualStartDate", &start, &ok);
  if (rc != CSC_OK)
    return rc;
  if (!ok)
    return import_note(c->im, R_MISSING_VALUE, "cin", (long)xmlGetLineNo(s47), c->id);
  const char *id = item(c, "S", start);
  const char *not_required = text_of(c->im, s47, "ICPCnotRequired");
  if (id == NULL || not_required == NULL)
    return CSC_ENOMEM;
  if ((rc = date_of(c, s47, "InitialCPCtarget", &target, &has_target)) != CSC_OK)
    return rc;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__Section47Started s = CSCFLOW__V1__SECTION47_STARTED__INIT;
  s.enquiry_id = (char *)id;
  s.referral_id = (char *)e->referral;
  s.icpc_target_date = has_target ? date_to_yyyymmdd(target) : 0;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED;
  ev.section47_started = &s;
  rc = emit(c, &ev, start, s47);
  if (rc == CSC_OK)
    rc = date_of(c, s47, "DateOfInitialCPC", &held, &has_held);
  if (rc == CSC_OK && has_held) {
    e->any_s47_icpc = 1;
    rc = icpc(c, e, id, held, child_named(s47, "DateOfInitialCPC"));
  }
  if (rc != CSC_OK || !truthy(not_required))
    return rc;
  CaseEvent ce = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__Section47Completed d = CSCFLOW__V1__SECTION47_COMPLETED__INIT;
  d.enquiry_id = (char *)id;
  d.icpc_not_required = 1;
  ce.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED;
  ce.section47_completed = &d;
  return emit(c, &ce, start, child_named(s47, "ICPCnotRequired"));
}

/* The episode's own DateOfInitialCPC, when no enquiry records one. */
static int episode_icpc(struct cin_child *c, const struct cin_episode *e) {
  csc_date held;
  int ok;
  int rc = date_of(c, e->node, "DateOfInitialCPC", &held, &ok);
  if (rc != CSC_OK || !ok || e->any_s47_icpc)
    return rc;
  const char *enquiry = "";
  csc_date latest = 0;
  for (const xmlNode *s = e->node->children; s != NULL; s = s->next) {
    csc_date start;
    const char *t = named(s, "Section47") ? text_of(c->im, s, "S47ActualStartDate") : NULL;
    if (t != NULL && feeds_parse_date(t, &start) == CSC_OK && start <= held &&
        (enquiry[0] == '\0' || start >= latest)) {
      latest = start;
      if ((enquiry = item(c, "S", start)) == NULL)
        return CSC_ENOMEM;
    }
  }
  return icpc(c, e, enquiry, held, child_named(e->node, "DateOfInitialCPC"));
}

static int cp_plan(struct cin_child *c, struct cin_episode *e, const xmlNode *p) {
  struct import *im = c->im;
  csc_date start, end, review;
  int ok, has_end;
  int rc = date_of(c, p, "CPPstartDate", &start, &ok);
  if (rc != CSC_OK)
    return rc;
  if (!ok)
    return import_note(im, R_MISSING_VALUE, "cin", (long)xmlGetLineNo(p), c->id);
  const char *id = item(c, "CP", start);
  const char *initial = text_of(im, p, "InitialCategoryOfAbuse");
  const char *latest = text_of(im, p, "LatestCategoryOfAbuse");
  const char *previous = text_of(im, p, "NumberOfPreviousCPP");
  if (id == NULL || initial == NULL || latest == NULL || previous == NULL)
    return CSC_ENOMEM;
  char *end_num;
  const long prev = strtol(previous, &end_num, 10);
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__CpPlanStarted s = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  s.plan_id = (char *)id;
  s.referral_id = (char *)e->referral;
  s.initial_category = (char *)initial;
  s.previous_cp_plans_recorded = previous[0] != '\0' && *end_num == '\0' && prev >= 0;
  s.previous_cp_plans = s.previous_cp_plans_recorded ? (uint32_t)prev : 0;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  ev.cp_plan_started = &s;
  rc = emit(c, &ev, start, p);
  const xmlNode *reviews = child_named(p, "Reviews");
  for (const xmlNode *r = reviews ? reviews->children : NULL; rc == CSC_OK && r != NULL;
       r = r->next) {
    if (!named(r, "CPPreviewDate"))
      continue;
    const char *t = text_in(im, r);
    if (t == NULL)
      return CSC_ENOMEM;
    if (feeds_parse_date(t, &review) != CSC_OK) {
      rc = import_note(im, R_INVALID_DATE, "cin", (long)xmlGetLineNo(r), c->id);
      continue;
    }
    CaseEvent re = CSCFLOW__V1__CASE_EVENT__INIT;
    Cscflow__V1__ReviewHeld h = CSCFLOW__V1__REVIEW_HELD__INIT;
    h.plan_id = (char *)id;
    h.kind = CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_CP;
    re.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD;
    re.review_held = &h;
    rc = emit(c, &re, review, r);
  }
  if (rc == CSC_OK)
    rc = date_of(c, p, "CPPendDate", &end, &has_end);
  if (rc != CSC_OK || !has_end)
    return rc;
  CaseEvent ee = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__CpPlanEnded x = CSCFLOW__V1__CP_PLAN_ENDED__INIT;
  x.plan_id = (char *)id;
  x.latest_category = (char *)latest;
  ee.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED;
  ee.cp_plan_ended = &x;
  return emit(c, &ee, end, child_named(p, "CPPendDate"));
}

static int episode(struct cin_child *c, const xmlNode *node) {
  csc_date start;
  int ok;
  int rc = date_of(c, node, "CINreferralDate", &start, &ok);
  if (rc != CSC_OK)
    return rc;
  if (!ok)
    return import_note(c->im, R_MISSING_VALUE, "cin", (long)xmlGetLineNo(node), c->id);
  struct cin_episode e = {node, item(c, "R", start), 0};
  if (e.referral == NULL)
    return CSC_ENOMEM;
  rc = referral(c, &e, start);
  for (const xmlNode *n = node->children; rc == CSC_OK && n != NULL; n = n->next) {
    if (named(n, "Assessments"))
      rc = assessment(c, &e, n);
    else if (named(n, "CINPlanDates"))
      rc = cin_plan(c, &e, n);
    else if (named(n, "Section47"))
      rc = section47(c, &e, n);
    else if (named(n, "ChildProtectionPlans"))
      rc = cp_plan(c, &e, n);
  }
  return rc == CSC_OK ? episode_icpc(c, &e) : rc;
}

static int one_child(struct import *im, const xmlNode *child) {
  const xmlNode *ids = child_named(child, "ChildIdentifiers");
  struct cin_child c = {im, text_of(im, ids, "LAchildID"), (long)xmlGetLineNo(child)};
  const char *problem;
  if (c.id == NULL)
    return CSC_ENOMEM;
  c.id = import_child_id(im, c.id);
  if (ingest_check_id(c.id, &problem) != CSC_OK)
    return import_note(im, c.id[0] ? R_INVALID_CHILD : R_MISSING_VALUE, "cin", c.line, "");
  int rc = details(&c, child);
  for (const xmlNode *n = child->children; rc == CSC_OK && n != NULL; n = n->next)
    if (named(n, "CINdetails"))
      rc = episode(&c, n);
  return rc;
}

/* The collection year from the header; 0 when it has none. */
static int collection_year(struct import *im, const xmlNode *root) {
  const char *year = text_of(im, child_named(child_named(root, "Header"), "CollectionDetails"),
                             "Year");
  const int y = year ? atoi(year) : 0;
  return y >= 1990 && y <= 2199 ? y : 0;
}

int import_cin_file(struct import *im, const char *name, const char *xml, size_t len) {
  xmlDoc *doc = xmlReadMemory(xml, (int)len, name, NULL,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
  if (root == NULL || !named(root, "Message")) {
    xmlFreeDoc(doc);
    return import_note(im, R_UNRECOGNISED_FILE, name, 1, "");
  }
  int rc = CSC_OK;
  const int year = collection_year(im, root);
  if (year == 0) {
    rc = import_note(im, R_MISSING_VALUE, name, 1, "");
    xmlFreeDoc(doc);
    return rc;
  }
  import_set_year(im, year);
  const xmlNode *children = child_named(root, "Children");
  for (const xmlNode *n = children ? children->children : NULL; rc == CSC_OK && n != NULL;
       n = n->next)
    if (named(n, "Child"))
      rc = one_child(im, n);
  xmlFreeDoc(doc);
  return rc;
}
