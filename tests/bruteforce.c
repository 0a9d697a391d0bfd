/*
 * bruteforce.c — the brute-force twin (see bruteforce.h).
 *
 * Written from docs/indicators.md, docs/quality-rules.md and the state
 * machine documented at the top of state/fold.c, without calling any of
 * state/ or indicators/. Three steps, each as plain as it can be:
 *
 *   1. subjects: the LA's events grouped by child (workers and posts for
 *      workforce events), duplicates dropped (first arrival wins);
 *   2. the fold: corrections resolved, then each child's events by date,
 *      one day in five passes (ends of what was open before the day,
 *      starts, continuing starts of periods of care, everything else, the
 *      remaining ends), into episodes, marks, care spans and findings;
 *   3. the indicators: for the one as-of date T, loops over every child and
 *      every episode, counting what each definition says.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/bruteforce.h"

typedef Cscflow__V1__CaseEvent Ev;

#define NEVER DATE_NEVER

/* ---- names ---------------------------------------------------------------------- */

enum kind { EH, CIN, CP, LAC, KINDS };
static const char *const KIND_NAMES[KINDS] = {"EH", "CIN", "CP", "LAC"};
static const int THRESHOLDS[3] = {6, 12, 24};

enum rule {
  R_END_BEFORE_START,
  R_END_WITHOUT_START,
  R_REFERRAL_WHILE_OPEN,
  R_PLACEMENT_OUTSIDE_CARE,
  R_OVERLAPPING_PLAN,
  R_DATE_BEFORE_BIRTH,
  R_DATE_AFTER_RECORDED,
  R_UNKNOWN_CODE,
  R_IMPLAUSIBLE_DATE,
  R_AFTER_DEATH,
  R_REPEATED_COMPLETION
};
const char *const bf_rule_ids[BF_RULE_COUNT] = {
    "end_before_start", "end_without_start", "referral_while_open", "placement_outside_care",
    "overlapping_plan", "date_before_birth", "date_after_recorded", "unknown_code",
    "implausible_date", "after_death", "repeated_completion"};

static const char *const IDS_CORE[] = {"referrals",       "rereferrals",      "children_on_plan",
                                       "open_plans_over", "placements_3plus", NULL};
static const char *const IDS_ACTIVITY[] = {"referrals_by_source",
                                           "referral_outcome",
                                           "assessments",
                                           "s47_enquiries",
                                           "icpcs",
                                           "cp_plan_starts",
                                           "assessment_factors",
                                           "nfa_reassessed",
                                           NULL};
static const char *const IDS_TIMELINESS[] = {"referral_to_assessment_wd", "s47_to_icpc_wd",
                                             "cin_episode_duration", NULL};
static const char *const IDS_PLANS[] = {
    "children_in_need", "ended_plans_over",           "repeat_plan",
    "seen_per_plan",    "cin_closed_after_step_down", "cp_reviews_timely",
    "lac_reviews_timely", NULL};
static const char *const IDS_OUTCOMES[] = {"placement_stability_long",
                                           "placement_changes_avg",
                                           "placement_type_mix",
                                           "placement_distance",
                                           "care_entries",
                                           "care_exits_permanence",
                                           "reunification_sustained",
                                           "adoption_timeliness",
                                           "early_permanence",
                                           "care_leavers",
                                           "sdq_mean",
                                           "court_applications",
                                           "missing_from_care",
                                           NULL};
static const char *const IDS_WORKFORCE[] = {"sw_vacancy_rate", "sw_turnover_rate", "sw_sickness",
                                            "sw_agency_rate",  "sw_caseload",      "sw_diversity",
                                            NULL};

const char *const *bf_group_ids(enum bf_group g) {
  switch (g) {
  case BF_CORE: return IDS_CORE;
  case BF_ACTIVITY: return IDS_ACTIVITY;
  case BF_TIMELINESS: return IDS_TIMELINESS;
  case BF_PLANS: return IDS_PLANS;
  case BF_OUTCOMES: return IDS_OUTCOMES;
  case BF_WORKFORCE: return IDS_WORKFORCE;
  default: return NULL;
  }
}

const char *bf_group_name(enum bf_group g) {
  switch (g) {
  case BF_CORE: return "core";
  case BF_ACTIVITY: return "activity";
  case BF_TIMELINESS: return "timeliness";
  case BF_PLANS: return "plans";
  case BF_OUTCOMES: return "outcomes";
  case BF_WORKFORCE: return "workforce";
  default: return "?";
  }
}

void bf_options_default(struct bf_options *o) {
  memset(o, 0, sizeof *o);
  o->visit_cin = 20;
  o->visit_cp = 10;
  o->visit_lac = 42;
  o->population = -1;
  o->groups = BF_ALL;
}

/* ---- the code lists of the CIN census and SSDA903 guides ---------------------------- */

static const char *const REFERRAL_SOURCES[] = {"1A", "1B", "1C", "1D", "2A", "2B", "3A", "3B",
                                               "3C", "3D", "3E", "3F", "4",  "5A", "5B", "5C",
                                               "5D", "6",  "7",  "8",  "9",  "10", NULL};
static const char *const CLOSURE_REASONS[] = {"RC1", "RC2", "RC3", "RC4", "RC5",
                                              "RC6", "RC7", "RC8", "RC9", NULL};
/* Categories of abuse as published; the CIN census spells them NEG PHY EMO
 * SAB MUL (INDICATORS.md "Codes in output"), read as these (spelt()). */
static const char *const ABUSE_CATEGORIES[] = {"N", "P", "E", "S", "M", NULL};
static const char *const CIN_CATEGORIES[] = {"NEG", "PHY", "EMO", "SAB", "MUL", NULL};
static const char *const LEGAL_STATUSES[] = {"C1", "C2", "D1", "E1", "J1", "J2", "J3",
                                             "L1", "L2", "L3", "V2", "V3", "V4", NULL};
static const char *const NEEDS[] = {"N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", NULL};
static const char *const PLACEMENT_TYPES[] = {
    "A3", "A4", "A5", "A6", "H5", "K1", "K2", "P1", "P2", "P3", "R1", "R2", "R3", "R5",
    "S1", "T0", "T1", "T2", "T3", "T4", "U1", "U2", "U3", "U4", "U5", "U6", "Z1", NULL};
static const char *const PROVIDERS[] = {"PR0", "PR1", "PR2", "PR3", "PR4", "PR5", NULL};
static const char *const REASONS_CEASED[] = {"E11", "E12", "E13", "E14", "E15", "E16", "E17", "E2",
                                             "E3",  "E41", "E43", "E44", "E45", "E46", "E47", "E48",
                                             "E4A", "E4B", "E5",  "E6",  "E7",  "E8",  "E9",  "X1",
                                             NULL};
static const char *const PLACEMENT_CHANGES[] = {"ALLEG", "APPRR", "CARPL",  "CHILD", "CLOSE",
                                                "CREQB", "CREQO", "CUSTOD", "LAREQ", "OTHER",
                                                "PLACE", "STAND", NULL};
static const char *const ASSESSMENT_FACTORS[] = {
    "1A",  "1B",  "1C",  "2A",  "2B",  "2C",  "3A",  "3B",  "3C",  "4A",  "4B",  "4C",
    "5A",  "5B",  "5C",  "6A",  "6B",  "6C",  "7A",  "8B",  "8C",  "8D",  "8E",  "8F",
    "9A",  "10A", "11A", "12A", "13A", "14A", "15A", "16A", "17A", "18A", "18B", "18C",
    "19A", "19B", "19C", "20",  "21",  "22A", "23A", "24A", NULL};
/* SSDA903 care leaver activity: valid in every collection year, and the
 * codes of some years only (reference/code-lists.csv): F3 P3 up to the year
 * ending 31 March 2023, F4 P4 F5 P5 from the year ending 31 March 2022. */
static const char *const LEAVER_ACTIVITIES[] = {"F1", "P1", "F2", "P2", "G4", "G5", "G6", "0",
                                                "F6", "G1", "G2", "G3", NULL};
static const char *const LEAVER_ACTIVITIES_TO_2023[] = {"F3", "P3", NULL};
static const char *const LEAVER_ACTIVITIES_FROM_2022[] = {"F4", "P4", "F5", "P5", NULL};
static const char *const LEAVER_ACCOMMODATIONS[] = {
    "B",  "C",  "D",  "E",  "G",  "H",  "K",  "R",  "S",  "T",  "U",  "V",  "W",  "X",  "Y",
    "Z",  "B1", "B2", "C1", "C2", "D1", "D2", "E1", "E2", "G1", "G2", "H1", "H2", "K1", "K2",
    "R1", "R2", "S1", "S2", "T1", "T2", "U1", "U2", "V1", "V2", "W1", "W2", "X1", "X2", "Y1",
    "Y2", "Z1", "Z2", "0",  NULL};
static const char *const ETHNICITIES[] = {"WBRI", "WIRI", "WOTH", "WIRT", "WROM", "MWBC", "MWBA",
                                          "MWAS", "MOTH", "AIND", "APKN", "ABAN", "AOTH", "BCRB",
                                          "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT", NULL};
static const char *const DISABILITIES[] = {"MOB", "HAND", "PC",  "INC", "COMM", "LD",   "HEAR",
                                           "VIS", "BEH",  "CON", "AUT", "DDA",  "NONE", NULL};

/* The lists of the fields issue 16 added (SSDA903 RNE, IN_TOUCH,
 * REVIEW_CODE, PREV_PERM, SW_REASON; CIN census PrimaryNeedCode). */
static const char *const RNES[] = {"S", "L", "P", "T", "B", "U", NULL};
static const char *const IN_TOUCH_CODES[] = {"YES", "NO", "DIED", "REFU", "NREQ", "RHOM", NULL};
static const char *const PRIMARY_NEEDS[] = {"N0", "N1", "N2", "N3", "N4",
                                            "N5", "N6", "N7", "N8", "N9", NULL};
static const char *const PARTICIPATIONS[] = {"PN0", "PN1", "PN2", "PN3",
                                             "PN4", "PN5", "PN6", "PN7", NULL};
static const char *const PREVIOUS_PERMANENCES[] = {"P1", "P2", "P3", "P4", "Z1", NULL};
static const char *const SW_REASONS[] = {"MANAGE", "FCONTA", "LEFTRL", "ORGRST", "TSPROC",
                                         "ABSENC", "CHCHAN", "PCCHAN", "SWDIED", "OTHERS", NULL};

static int in_list(const char *const *list, const char *code) {
  for (; *list != NULL; list++)
    if (strcmp(*list, code) == 0)
      return 1;
  return 0;
}

/* "" is "not recorded", never unknown. */
static int unknown(const char *const *list, const char *code) {
  return code != NULL && code[0] != '\0' && !in_list(list, code);
}

/* The published spelling of a category of abuse: NEG is N, ... */
static const char *spelt(const char *category) {
  for (size_t i = 0; CIN_CATEGORIES[i] != NULL; i++)
    if (strcmp(CIN_CATEGORIES[i], category) == 0)
      return ABUSE_CATEGORIES[i];
  return category;
}

static int unknown_category(const char *code) {
  return unknown(ABUSE_CATEGORIES, code) && unknown(CIN_CATEGORIES, code);
}

/* Collection years end on 31 March: yyyymmdd 20240401..20250331 is 2025. */
static int unknown_activity(const char *code, int32_t yyyymmdd) {
  const int year = yyyymmdd / 10000 + (yyyymmdd / 100 % 100 >= 4);
  return unknown(LEAVER_ACTIVITIES, code) &&
         (year > 2023 || unknown(LEAVER_ACTIVITIES_TO_2023, code)) &&
         (year < 2022 || unknown(LEAVER_ACTIVITIES_FROM_2022, code));
}

static int any_unknown(const char *const *list, char **codes, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (unknown(list, codes[i]))
      return 1;
  return 0;
}

static size_t list_len(const char *const *list) {
  size_t n = 0;
  while (list[n] != NULL)
    n++;
  return n;
}

/* ---- the folded child ---------------------------------------------------------------- */

/* An interval of a child's (or worker's) history. */
struct ep {
  csc_date start, end;     /* end NEVER while open */
  const char *id;          /* the source's id; "" if none */
  const char *ref;         /* the referral an assessment, enquiry or plan names;
                              a placement's period id */
  const char *code;        /* referral source, initial category, placement type */
  const char *end_code;    /* reason episode ceased */
  const char *start_event; /* the event_id that opened it */
  int no_start;            /* a completion with no start */
  int before_start;        /* a completion dated before its start: no timeliness */
  int rereferral, uasc, short_breaks;
  int start_unknown; /* a period of care opened by a continuing start */
  const char *provider; /* a placement's provider */
  int period;  /* a care span's period of care (index) */
  int outcome; /* assessment outcome */
  int has_distance;
  unsigned distance_x10;
  int fte, agency, left, case_holding; /* employment; its code: the ethnicity */
  int seniority;                       /* employment: Cscflow__V1__Seniority */
  char **factors;
  size_t n_factors;
};

/* A dated record. */
struct mark {
  csc_date date;
  const char *id, *code;
  int value, period;
  int in_touch, suitable, case_holding;
  const char *touch; /* care leaver: the 903 IN_TOUCH value (YES, NO, ...) */
};

struct journey {
  csc_date decision, order, matched, placed, adopted, reversed;
  int early_permanence, foster_carer;
};

struct finding {
  int rule;
  const char *event_id;
};

struct eps {
  struct ep *v;
  size_t n;
};
struct marks {
  struct mark *v;
  size_t n;
};

struct child {
  const char *key; /* subject_key: 'c' + child id, 'w' + worker id or 'p' + post id */
  const Ev **events;
  size_t n_events, cap_events;
  /* folded */
  size_t cap; /* capacity of every list */
  csc_date dob;
  csc_date death; /* NEVER when not recorded */
  int uasc;
  struct eps referrals, assessments, enquiries, plans[KINDS], placements, spans, allocations,
      employments;
  struct marks legal, strategies, icpcs, visits, court, leaver, sdq, absences, caseloads, posts;
  struct marks reviews; /* id: the plan named ("" none), value: the ReviewKind */
  struct marks aliases; /* id: a joined continuing start's period_id, period: the
                           period of care it joined (index) */
  struct marks missing; /* value: the MissingKind of an incident that starts */
  struct journey *journeys;
  size_t n_journeys;
  struct finding *findings;
  size_t n_findings;
};

struct bf {
  struct arena a;
  int oom;
  const struct bf_options *o;
  csc_date T;
  struct child *children;
  size_t n_children;
  struct bf_result *out;
};

static void *alloc(struct bf *b, size_t n) {
  void *p = arena_alloc(&b->a, n ? n : 1);
  if (p == NULL)
    b->oom = 1;
  else
    memset(p, 0, n ? n : 1);
  return p;
}

/* Lists are allocated on first use with room for every event of the child
 * (each event adds at most one entry to a list). */
static struct ep *push_ep(struct bf *b, struct child *c, struct eps *l) {
  if (l->v == NULL && (l->v = alloc(b, c->cap * sizeof *l->v)) == NULL)
    return NULL;
  if (l->n == c->cap) {
    b->oom = 1;
    return NULL;
  }
  struct ep *e = &l->v[l->n++];
  e->id = e->ref = e->code = e->end_code = e->start_event = e->provider = "";
  e->end = NEVER;
  e->before_start = 0;
  e->period = -1;
  return e;
}

static struct mark *push_mark(struct bf *b, struct child *c, struct marks *l, csc_date date) {
  if (l->v == NULL && (l->v = alloc(b, c->cap * sizeof *l->v)) == NULL)
    return NULL;
  if (l->n == c->cap) {
    b->oom = 1;
    return NULL;
  }
  struct mark *m = &l->v[l->n++];
  m->date = date;
  m->id = m->code = "";
  m->period = -1;
  return m;
}

/* ---- step 1: subjects ---------------------------------------------------------------- */

static int is_workforce(const Ev *ev) {
  return ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
}

static int is_post_change(const Ev *ev) {
  const int c = ev->workforce->change;
  return c == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED ||
         c == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT ||
         c == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED;
}

/* An LA code as ingest admits it: three digits, or a capital letter and
 * eight digits. */
static int la_code_ok(const char *s) {
  const size_t n = strlen(s);
  const size_t from = n == 9 ? 1 : 0;
  if (n != 3 && !(n == 9 && s[0] >= 'A' && s[0] <= 'Z'))
    return 0;
  for (size_t i = from; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

/* What ingest dead-letters never reaches a history: no event_id, LA or
 * child (a workforce event needs its worker or post), an LA code that is
 * neither form, a date that is not a date, no payload and nothing
 * retracted, identifiers over 128 bytes. (The generator's ids are ASCII
 * without control characters, so the UTF-8 rule never differs here.)
 * Ingest takes any eight-digit occurred_on from year 1000: one before
 * 1900 reaches the fold, which raises implausible_date (below). */
static int accepted(const Ev *ev) {
  csc_date d;
  if (ev->event_id[0] == '\0' || !la_code_ok(ev->la_code))
    return 0;
  if (ev->child_id[0] == '\0' && !is_workforce(ev))
    return 0;
  if (is_workforce(ev) &&
      ((is_post_change(ev) ? ev->workforce->post_id : ev->workforce->worker_id)[0] == '\0' ||
       strlen(ev->workforce->worker_id) > 128 || strlen(ev->workforce->post_id) > 128))
    return 0;
  if (strlen(ev->event_id) > 128 || strlen(ev->child_id) > 128 ||
      strlen(ev->supersedes_event_id) > 128 || strlen(ev->retracts_event_id) > 128)
    return 0;
  if (date_from_yyyymmdd_early(ev->occurred_on, &d) != CSC_OK)
    return 0;
  return ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET ||
         ev->retracts_event_id[0] != '\0';
}

/* The model's own subject key: a first byte naming the kind, then the id
 * as it is, so that a child named "worker:W1" is never worker W1 (ids have
 * no NUL: the key is injective without escaping). */
static void subject_key(const Ev *ev, char *buf, size_t len) {
  if (ev->child_id[0] != '\0')
    snprintf(buf, len, "c%s", ev->child_id);
  else if (is_post_change(ev))
    snprintf(buf, len, "p%s", ev->workforce->post_id);
  else
    snprintf(buf, len, "w%s", ev->workforce->worker_id);
}

struct keyed {
  char key[160];
  size_t arrival;
};

static int keyed_compare(const void *pa, const void *pb) {
  const struct keyed *a = pa, *b = pb;
  const int c = strcmp(a->key, b->key);
  if (c != 0)
    return c;
  return a->arrival < b->arrival ? -1 : a->arrival > b->arrival;
}

static int seen_before(const struct child *c, const Ev *ev) {
  for (size_t i = 0; i < c->n_events; i++)
    if (strcmp(c->events[i]->event_id, ev->event_id) == 0)
      return 1;
  return 0;
}

/* Groups the LA's accepted events by subject, in arrival order, dropping
 * repeated event_ids. */
static int make_subjects(struct bf *b, const Ev *const *events, size_t n, const char *la) {
  struct keyed *k = malloc((n ? n : 1) * sizeof *k);
  if (k == NULL)
    return CSC_ENOMEM;
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(events[i]->la_code, la) == 0 && accepted(events[i])) {
      subject_key(events[i], k[m].key, sizeof k[m].key);
      k[m++].arrival = i;
    }
  qsort(k, m, sizeof *k, keyed_compare);
  b->children = alloc(b, (m ? m : 1) * sizeof *b->children);
  for (size_t i = 0; i < m && !b->oom;) {
    size_t j = i;
    while (j < m && strcmp(k[j].key, k[i].key) == 0)
      j++;
    struct child *c = &b->children[b->n_children++];
    c->key = arena_strdup(&b->a, k[i].key);
    c->events = alloc(b, (j - i) * sizeof *c->events);
    if (c->key == NULL || c->events == NULL)
      b->oom = 1;
    for (size_t x = i; x < j && !b->oom; x++)
      if (!seen_before(c, events[k[x].arrival]))
        c->events[c->n_events++] = events[k[x].arrival];
    i = j;
  }
  free(k);
  return b->oom ? CSC_ENOMEM : CSC_OK;
}

/* ---- step 2: the fold ---------------------------------------------------------------- */

struct fold {
  struct bf *b;
  struct child *c;
  const Ev **events; /* the live events, sorted */
  csc_date *dates;
  size_t n;
  const Ev *ev; /* the event being folded */
  csc_date date;
};

static void report(struct fold *f, enum rule rule, const char *event_id) {
  struct child *c = f->c;
  for (size_t i = 0; i < c->n_findings; i++)
    if (c->findings[i].rule == (int)rule && strcmp(c->findings[i].event_id, event_id) == 0)
      return; /* one finding per rule and event */
  c->findings[c->n_findings++] = (struct finding){rule, event_id};
}

static void report_here(struct fold *f, enum rule rule) { report(f, rule, f->ev->event_id); }

/* The open episode named id; with no id, the latest open one. */
static struct ep *open_named(struct eps *l, const char *id) {
  for (size_t i = l->n; i-- > 0;)
    if (l->v[i].end == NEVER && (id[0] == '\0' || strcmp(l->v[i].id, id) == 0))
      return &l->v[i];
  return NULL;
}

static struct ep *open_any(struct eps *l) { return open_named(l, ""); }

/* The open period of care named id: by its own id, or by the period_id of a
 * continuing start that joined it. */
static struct ep *open_period(struct child *c, const char *id) {
  struct ep *e = open_named(&c->plans[LAC], id);
  for (size_t i = 0; e == NULL && id[0] != '\0' && i < c->aliases.n; i++) {
    struct ep *p = &c->plans[LAC].v[c->aliases.v[i].period];
    if (p->end == NEVER && strcmp(c->aliases.v[i].id, id) == 0)
      e = p;
  }
  return e;
}

static struct ep *start_ep(struct fold *f, struct eps *l, const char *id) {
  struct ep *e = push_ep(f->b, f->c, l);
  if (e != NULL) {
    e->start = f->date;
    e->id = id;
    e->start_event = f->ev->event_id;
  }
  return e;
}

/* An assessment or enquiry start: the start of a completion dated before it
 * when there is one waiting, else a new one. */
static struct ep *start_or_join(struct fold *f, struct eps *l, const char *id) {
  for (size_t i = 0; id[0] != '\0' && i < l->n; i++) {
    struct ep *e = &l->v[i];
    if (e->before_start && e->no_start && strcmp(e->id, id) == 0) {
      e->no_start = 0;
      e->start = f->date;
      e->start_event = f->ev->event_id;
      return e;
    }
  }
  return start_ep(f, l, id);
}

/* Roles: what opens, what closes, and everything else. */
static int is_start(const Ev *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    return !ev->period_of_care_started->continuing;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED: return !ev->worker_allocated->deallocated;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    return ev->adoption_milestone->stage == CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE:
    return ev->workforce->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED;
  default: return 0;
  }
}

/* A continuing start of a period of care: folded after the day's starts. */
static int is_continuing(const Ev *ev) {
  return ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED &&
         ev->period_of_care_started->continuing;
}

static int is_end(const Ev *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED: return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED: return ev->worker_allocated->deallocated;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    return ev->adoption_milestone->stage ==
           CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION_REVERSED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE:
    return ev->workforce->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_LEFT;
  default: return 0;
  }
}

/* For an end that names what it ends: the payload of the start it needs and
 * the id it names. 0 for other ends. */
static int start_kind_of(const Ev *ev, const char **id) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    *id = ev->referral_closed->referral_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
    *id = ev->early_help_ended->episode_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
    *id = ev->assessment_completed->assessment_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    *id = ev->section47_completed->enquiry_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
    *id = ev->cin_plan_ended->plan_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    *id = ev->cp_plan_ended->plan_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    *id = ev->period_of_care_ended->period_id;
    return CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED;
  default: return 0;
  }
}

static const char *id_started(const Ev *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED: return ev->referral_opened->referral_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
    return ev->early_help_started->episode_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
    return ev->assessment_started->assessment_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED: return ev->section47_started->enquiry_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED: return ev->cin_plan_started->plan_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: return ev->cp_plan_started->plan_id;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    return ev->period_of_care_started->period_id;
  default: return "";
  }
}

/* end_before_start: the start of what this end names comes later in the
 * (live) history; otherwise it is an end without a start. */
static enum rule missing_start_rule(const struct fold *f) {
  const char *id = "";
  const int kind = start_kind_of(f->ev, &id);
  for (size_t i = 0; kind != 0 && i < f->n; i++)
    if ((int)f->events[i]->payload_case == kind && f->dates[i] > f->date &&
        (id[0] == '\0' || strcmp(id_started(f->events[i]), id) == 0))
      return R_END_BEFORE_START;
  return R_END_WITHOUT_START;
}

/*
 * An end applied to e. In the first pass (final 0) only to something that
 * started before the day; otherwise it waits for the last pass, where an end
 * of nothing is reported. Returns e when it ended it; *done says whether the
 * event has been dealt with.
 */
static struct ep *apply_end(struct fold *f, struct ep *e, int final, int *done) {
  if (!final) {
    *done = e != NULL && e->start < f->date;
    if (*done)
      e->end = f->date;
    return *done ? e : NULL;
  }
  *done = 1;
  if (e == NULL || f->date < e->start) {
    report_here(f, e == NULL ? missing_start_rule(f) : R_END_BEFORE_START);
    return NULL;
  }
  e->end = f->date;
  return e;
}

/* Assessment and Section 47 completions: one with no start is kept as a
 * completion on its date (it happened). */
static struct ep *complete(struct fold *f, struct eps *l, const char *id, const char *ref,
                           int outcome, int final, int *done) {
  struct ep *e = open_named(l, id);
  if (final && e == NULL) {
    *done = 1;
    /* INDICATORS.md, Completions: "A second completion of the same id is a
     * data-quality finding and counts nothing more." */
    for (size_t i = 0; id[0] != '\0' && i < l->n; i++)
      if (l->v[i].end != NEVER && strcmp(l->v[i].id, id) == 0) {
        report_here(f, R_REPEATED_COMPLETION);
        return NULL;
      }
    /* "a completion dated before its start counts as completed but is left
     * out of timeliness": kept; the later start fills in its start. */
    const enum rule r = missing_start_rule(f);
    report_here(f, r);
    if ((e = start_ep(f, l, id)) == NULL)
      return NULL;
    e->no_start = 1;
    e->before_start = r == R_END_BEFORE_START;
    e->ref = ref;
    e->end = f->date;
  } else if ((e = apply_end(f, e, final, done)) == NULL) {
    return NULL;
  }
  e->outcome = outcome;
  return e;
}

/* Ends every open placement of a period of care on the fold's date. A
 * placement belongs to the period its id names (ref), as every end names
 * its start by id. */
static void end_placements_of(struct fold *f, const char *period_id) {
  for (size_t i = 0; i < f->c->placements.n; i++) {
    struct ep *p = &f->c->placements.v[i];
    if (strcmp(p->ref, period_id) == 0 && p->end == NEVER)
      p->end = f->date;
  }
}

static int period_index(struct child *c, const struct ep *period) {
  return (int)(period - c->plans[LAC].v);
}

static int end_adoption(struct fold *f, int final) {
  struct child *c = f->c;
  struct journey *j = c->n_journeys ? &c->journeys[c->n_journeys - 1] : NULL;
  const int open = j != NULL && j->adopted == NEVER && j->reversed == NEVER;
  if (!final) {
    if (open && j->decision < f->date) {
      j->reversed = f->date;
      return 1;
    }
    return 0;
  }
  if (!open)
    report_here(f, R_END_WITHOUT_START);
  else
    j->reversed = f->date;
  return 1;
}

/* Folds an end; returns whether it is dealt with. */
static int fold_end(struct fold *f, int final) {
  const Ev *ev = f->ev;
  struct child *c = f->c;
  int done = 0;
  struct ep *e;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    apply_end(f, open_named(&c->referrals, ev->referral_closed->referral_id), final, &done);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
    apply_end(f, open_named(&c->plans[EH], ev->early_help_ended->episode_id), final, &done);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
    apply_end(f, open_named(&c->plans[CIN], ev->cin_plan_ended->plan_id), final, &done);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    apply_end(f, open_named(&c->plans[CP], ev->cp_plan_ended->plan_id), final, &done);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED: {
    const Cscflow__V1__AssessmentCompleted *a = ev->assessment_completed;
    e = complete(f, &c->assessments, a->assessment_id, a->referral_id, (int)a->outcome, final,
                 &done);
    if (e != NULL) {
      e->factors = a->factors;
      e->n_factors = a->n_factors;
    }
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    complete(f, &c->enquiries, ev->section47_completed->enquiry_id, "",
             (int)ev->section47_completed->outcome, final, &done);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    e = apply_end(f, open_period(c, ev->period_of_care_ended->period_id), final, &done);
    if (e != NULL) {
      e->end_code = ev->period_of_care_ended->reason_ceased;
      end_placements_of(f, e->id);
    }
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    apply_end(f, open_named(&c->allocations, ev->worker_allocated->worker_id), final, &done);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE: done = end_adoption(f, final); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE:
    e = apply_end(f, open_any(&c->employments), final, &done);
    if (e != NULL)
      e->left = 1;
    break;
  default: done = 1;
  }
  return done;
}

static void add_legal(struct fold *f, int period, const char *status) {
  struct mark *m = push_mark(f->b, f->c, &f->c->legal, f->date);
  if (m != NULL) {
    m->period = period;
    m->code = status;
  }
}

/* A placement of a period: the period's open placement ends the same day. */
static void place(struct fold *f, const struct ep *period, const Cscflow__V1__Placement *p) {
  end_placements_of(f, period->id);
  struct ep *e = start_ep(f, &f->c->placements, "");
  if (e == NULL)
    return;
  e->ref = period->id;
  if (p != NULL) {
    e->code = p->placement_type;
    e->provider = p->provider;
    e->has_distance = p->distance_known;
    e->distance_x10 = p->distance_miles_x10;
  }
}

static void open_referral(struct fold *f, const Cscflow__V1__ReferralOpened *r) {
  struct child *c = f->c;
  if (open_any(&c->referrals) != NULL) {
    report_here(f, R_REFERRAL_WHILE_OPEN);
    return;
  }
  const int rereferral = c->referrals.n > 0 &&
                         c->referrals.v[c->referrals.n - 1].start >= date_add_months(f->date, -12);
  struct ep *e = start_ep(f, &c->referrals, r->referral_id);
  if (e != NULL) {
    e->code = r->source;
    e->rereferral = rereferral;
  }
}

static void start_plan(struct fold *f, enum kind k, const char *id, const char *ref,
                       const char *code) {
  struct ep *e = start_ep(f, &f->c->plans[k], id);
  if (e != NULL) {
    e->ref = ref;
    e->code = code;
  }
}

/* A continuing start on a day a period of care is open joins it: a change
 * of legal status where it differs, a new placement where type or provider
 * differ, and its period_id names the period from then on. */
static void join_care(struct fold *f, struct ep *period,
                      const Cscflow__V1__PeriodOfCareStarted *p) {
  struct child *c = f->c;
  const int index = period_index(c, period);
  struct mark *m;
  if (p->period_id[0] != '\0' && strcmp(p->period_id, period->id) != 0 &&
      (m = push_mark(f->b, c, &c->aliases, f->date)) != NULL) {
    m->id = p->period_id;
    m->period = index;
  }
  const char *status = "";
  for (size_t i = 0; i < c->legal.n; i++)
    if (c->legal.v[i].period == index)
      status = c->legal.v[i].code;
  if (p->legal_status[0] != '\0' && strcmp(status, p->legal_status) != 0)
    add_legal(f, index, p->legal_status);
  const struct ep *now = NULL;
  for (size_t i = 0; i < c->placements.n; i++)
    if (c->placements.v[i].end == NEVER && strcmp(c->placements.v[i].ref, period->id) == 0)
      now = &c->placements.v[i];
  const Cscflow__V1__Placement *pl = p->placement;
  if (pl != NULL && (now == NULL || strcmp(now->code, pl->placement_type) != 0 ||
                     strcmp(now->provider, pl->provider) != 0))
    place(f, period, pl);
}

/* A continuing start with no period open opens one whose start is unknown
 * (the finding period_start_unknown is not among the rules the twin
 * counts). */
static void start_care(struct fold *f, const Cscflow__V1__PeriodOfCareStarted *p) {
  struct ep *open = p->continuing ? open_any(&f->c->plans[LAC]) : NULL;
  if (open != NULL) {
    join_care(f, open, p);
    return;
  }
  struct ep *e = start_ep(f, &f->c->plans[LAC], p->period_id);
  if (e == NULL)
    return;
  e->start_unknown = p->continuing;
  e->code = p->legal_status;
  e->uasc = p->uasc;
  add_legal(f, period_index(f->c, e), p->legal_status);
  if (p->placement != NULL)
    place(f, e, p->placement);
}

static void adoption_step(struct fold *f, const Cscflow__V1__AdoptionMilestone *m) {
  struct child *c = f->c;
  if (m->stage < CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION ||
      m->stage > CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_ADOPTED)
    return; /* a stage this version does not know (reversals are ends) */
  struct journey *j = c->n_journeys ? &c->journeys[c->n_journeys - 1] : NULL;
  if (j == NULL || j->adopted != NEVER || j->reversed != NEVER) {
    j = &c->journeys[c->n_journeys++];
    j->decision = j->order = j->matched = j->placed = j->adopted = j->reversed = NEVER;
  }
  csc_date *when[] = {NULL, &j->decision, &j->order, &j->matched, &j->placed, &j->adopted};
  if (*when[m->stage] == NEVER)
    *when[m->stage] = f->date;
  j->early_permanence |= m->early_permanence;
  j->foster_carer |= m->placed_with_foster_carer;
}

static void workforce_start(struct fold *f, const Cscflow__V1__WorkforceEvent *w) {
  struct ep *job = open_any(&f->c->employments);
  if (job != NULL)
    job->end = f->date; /* a change of hours or agency status, not a leaver */
  if ((job = start_ep(f, &f->c->employments, w->worker_id)) != NULL) {
    job->fte = (int)w->fte_x100;
    job->agency = w->agency;
    job->case_holding = w->case_holding;
    job->code = w->ethnicity;
    job->seniority = (int)w->seniority;
  }
}

static void fold_start(struct fold *f) {
  const Ev *ev = f->ev;
  struct child *c = f->c;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    open_referral(f, ev->referral_opened);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
    start_plan(f, EH, ev->early_help_started->episode_id, "", "");
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
    start_plan(f, CIN, ev->cin_plan_started->plan_id, ev->cin_plan_started->referral_id, "");
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
    start_plan(f, CP, ev->cp_plan_started->plan_id, ev->cp_plan_started->referral_id,
               ev->cp_plan_started->initial_category);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED: {
    struct ep *e = start_or_join(f, &c->assessments, ev->assessment_started->assessment_id);
    if (e != NULL && (e->ref == NULL || ev->assessment_started->referral_id[0] != '\0'))
      e->ref = ev->assessment_started->referral_id;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED: {
    struct ep *e = start_or_join(f, &c->enquiries, ev->section47_started->enquiry_id);
    if (e != NULL && (e->ref == NULL || ev->section47_started->referral_id[0] != '\0'))
      e->ref = ev->section47_started->referral_id;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    start_care(f, ev->period_of_care_started);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED: {
    const char *worker = ev->worker_allocated->worker_id;
    if (worker[0] == '\0' || open_named(&c->allocations, worker) == NULL)
      start_ep(f, &c->allocations, worker); /* allocating the allocated worker changes nothing */
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    adoption_step(f, ev->adoption_milestone);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE: workforce_start(f, ev->workforce); break;
  default: break;
  }
}

static void fold_workforce_mark(struct fold *f, const Cscflow__V1__WorkforceEvent *w) {
  struct child *c = f->c;
  struct mark *m = NULL;
  switch (w->change) {
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_ABSENCE:
    if ((m = push_mark(f->b, c, &c->absences, f->date)) != NULL)
      m->value = (int)w->sickness_days;
    break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_CASELOAD:
    if ((m = push_mark(f->b, c, &c->caseloads, f->date)) != NULL) {
      m->value = (int)w->caseload;
      m->case_holding = w->case_holding;
    }
    break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED:
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT:
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED:
    if ((m = push_mark(f->b, c, &c->posts, f->date)) != NULL) {
      m->value = (int)w->fte_x100;
      m->period = (int)w->change; /* the post's status from this date */
    }
    break;
  default: break;
  }
}

static void fold_middle(struct fold *f) {
  const Ev *ev = f->ev;
  struct child *c = f->c;
  struct mark *m;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_STRATEGY_DISCUSSION:
    if ((m = push_mark(f->b, c, &c->strategies, f->date)) != NULL)
      m->id = ev->strategy_discussion->referral_id;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD:
    if ((m = push_mark(f->b, c, &c->icpcs, f->date)) != NULL)
      m->id = ev->icpc_held->enquiry_id;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN:
    if ((m = push_mark(f->b, c, &c->visits, f->date)) != NULL)
      m->id = ev->child_seen->plan_id;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED: {
    struct ep *period = open_period(c, ev->placement_started->period_id);
    if (period == NULL)
      report_here(f, R_PLACEMENT_OUTSIDE_CARE);
    else
      place(f, period, ev->placement_started->placement);
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED: {
    struct ep *period = open_period(c, ev->legal_status_changed->period_id);
    if (period == NULL)
      report_here(f, R_END_WITHOUT_START);
    else
      add_legal(f, period_index(c, period), ev->legal_status_changed->legal_status);
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    adoption_step(f, ev->adoption_milestone);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT: {
    const Cscflow__V1__CareLeaverContact *l = ev->care_leaver_contact;
    if ((m = push_mark(f->b, c, &c->leaver, f->date)) != NULL) {
      m->value = (int)l->activity;
      m->code = l->activity_code;
      /* The 903 IN_TOUCH code, when recorded, says it: only YES is in
       * touch (DIED, REFU, NREQ, RHOM are not); else the flag, as YES or NO. */
      m->touch = l->in_touch_code[0] ? l->in_touch_code : l->in_touch ? "YES" : "NO";
      m->in_touch = strcmp(m->touch, "YES") == 0;
      m->suitable = l->accommodation_suitable;
    }
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE:
    if ((m = push_mark(f->b, c, &c->sdq, f->date)) != NULL)
      m->value = (int)ev->sdq_score->score;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_COURT_APPLICATION:
    if ((m = push_mark(f->b, c, &c->court, f->date)) != NULL)
      m->value = (int)ev->court_application->kind;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE: fold_workforce_mark(f, ev->workforce); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD:
    if ((m = push_mark(f->b, c, &c->reviews, f->date)) != NULL) {
      m->id = ev->review_held->plan_id;
      m->value = (int)ev->review_held->kind;
    }
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED:
    if ((m = push_mark(f->b, c, &c->missing, f->date)) != NULL)
      m->value = (int)ev->missing_started->kind;
    break;
  default: break; /* ChildDetails are merged before the fold; permanence orders feed nothing */
  }
}

/* ---- checks that need no episodes ------------------------------------------------------ */

static int placement_has_unknown(const Cscflow__V1__Placement *p) {
  return p != NULL &&
         (unknown(PLACEMENT_TYPES, p->placement_type) || unknown(PROVIDERS, p->provider));
}

static int has_unknown_code(const Ev *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS:
    return unknown(ETHNICITIES, ev->child_details->ethnicity) ||
           any_unknown(DISABILITIES, ev->child_details->disabilities,
                       ev->child_details->n_disabilities);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    return unknown(REFERRAL_SOURCES, ev->referral_opened->source) ||
           unknown(PRIMARY_NEEDS, ev->referral_opened->primary_need);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    return unknown(CLOSURE_REASONS, ev->referral_closed->closure_reason);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
    return any_unknown(ASSESSMENT_FACTORS, ev->assessment_completed->factors,
                       ev->assessment_completed->n_factors);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
    return unknown_category(ev->cp_plan_started->initial_category);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    return unknown_category(ev->cp_plan_ended->latest_category);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    return unknown(LEGAL_STATUSES, ev->period_of_care_started->legal_status) ||
           unknown(NEEDS, ev->period_of_care_started->category_of_need) ||
           placement_has_unknown(ev->period_of_care_started->placement);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    return unknown(REASONS_CEASED, ev->period_of_care_ended->reason_ceased);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    return placement_has_unknown(ev->placement_started->placement) ||
           unknown(PLACEMENT_CHANGES, ev->placement_started->reason_for_change) ||
           unknown(RNES, ev->placement_started->reason_for_new_episode);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    return unknown(LEGAL_STATUSES, ev->legal_status_changed->legal_status) ||
           unknown(RNES, ev->legal_status_changed->reason_for_new_episode);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT:
    return unknown_activity(ev->care_leaver_contact->activity_code, ev->occurred_on) ||
           unknown(LEAVER_ACCOMMODATIONS, ev->care_leaver_contact->accommodation_code) ||
           unknown(IN_TOUCH_CODES, ev->care_leaver_contact->in_touch_code);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CATEGORY_OF_NEED_CHANGED:
    return unknown(NEEDS, ev->category_of_need_changed->category_of_need);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD:
    return unknown(PARTICIPATIONS, ev->review_held->participation_code);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PREVIOUS_PERMANENCE:
    return unknown(PREVIOUS_PERMANENCES, ev->previous_permanence->kind_code);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    return unknown(SW_REASONS, ev->worker_allocated->end_reason);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE:
    return unknown(ETHNICITIES, ev->workforce->ethnicity);
  default: return 0;
  }
}

/* Work on the path to a CP plan may come up to 280 days before birth
 * (docs/quality-rules.md, "Unborn children"). */
static int may_precede_birth(const Ev *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_STRATEGY_DISCUSSION:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED: return 1;
  default: return 0;
  }
}

static void check_event(struct fold *f) {
  const Ev *ev = f->ev;
  const csc_date dob = f->c->dob;
  if (ev->recorded_at_ms > 0 && f->date > date_london_from_unix_ms(ev->recorded_at_ms))
    report_here(f, R_DATE_AFTER_RECORDED);
  if (dob != NEVER && f->date < dob &&
      ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS && !is_workforce(ev) &&
      (!may_precede_birth(ev) || f->date < dob - 280))
    report_here(f, R_DATE_BEFORE_BIRTH);
  if (has_unknown_code(ev))
    report_here(f, R_UNKNOWN_CODE);
}

/* ---- after the last event ------------------------------------------------------------- */

/* A plan that starts on a day another plan of its kind is open. */
static void check_overlaps(struct fold *f) {
  for (int k = 0; k < KINDS; k++) {
    const struct eps *l = &f->c->plans[k];
    for (size_t i = 0; i < l->n; i++)
      for (size_t j = 0; j < l->n; j++)
        if (j != i && l->v[j].start <= l->v[i].start && l->v[i].start < l->v[j].end) {
          report(f, R_OVERLAPPING_PLAN, l->v[i].start_event);
          break;
        }
  }
}

static int is_short_breaks_status(const char *s) {
  return strcmp(s, "V3") == 0 || strcmp(s, "V4") == 0;
}

/* The days each period of care was looked after: from each legal status
 * that is not V3/V4 to the period's next status or its end. Days of one
 * period run together into one span. A period with none is short breaks. */
static void make_care_spans(struct fold *f) {
  struct child *c = f->c;
  for (size_t p = 0; p < c->plans[LAC].n; p++) {
    struct ep *period = &c->plans[LAC].v[p];
    struct ep *last = NULL; /* this period's latest span */
    for (size_t i = 0; i < c->legal.n; i++) {
      const struct mark *m = &c->legal.v[i];
      if (m->period != (int)p || is_short_breaks_status(m->code))
        continue;
      csc_date to = period->end;
      for (size_t j = i + 1; j < c->legal.n; j++)
        if (c->legal.v[j].period == (int)p) {
          to = c->legal.v[j].date;
          break;
        }
      if (m->date >= to)
        continue;
      if (last != NULL && last->end == m->date) {
        last->end = to;
      } else if ((last = push_ep(f->b, c, &c->spans)) != NULL) {
        last->start = m->date;
        last->end = to;
        last->period = (int)p;
        last->id = period->id;
      }
    }
    period->short_breaks = last == NULL;
  }
}

/* ---- the fold of one child ------------------------------------------------------------ */

static int event_order(const void *pa, const void *pb) {
  const Ev *a = *(const Ev *const *)pa, *b = *(const Ev *const *)pb;
  if (a->occurred_on != b->occurred_on)
    return a->occurred_on < b->occurred_on ? -1 : 1;
  if (a->recorded_at_ms != b->recorded_at_ms)
    return a->recorded_at_ms < b->recorded_at_ms ? -1 : 1;
  return strcmp(a->event_id, b->event_id);
}

/* An event named by another's supersedes or retracts takes no part. */
static int corrected_away(const struct child *c, const Ev *ev) {
  for (size_t i = 0; i < c->n_events; i++) {
    const Ev *x = c->events[i];
    if (x != ev && (strcmp(x->supersedes_event_id, ev->event_id) == 0 ||
                    strcmp(x->retracts_event_id, ev->event_id) == 0))
      return 1;
  }
  return 0;
}

static void merge_details(struct child *c, const Cscflow__V1__ChildDetails *d) {
  csc_date x;
  if (date_from_yyyymmdd(d->date_of_birth, &x) == CSC_OK)
    c->dob = x;
  if (date_from_yyyymmdd(d->date_of_death, &x) == CSC_OK)
    c->death = x;
  if (d->uasc)
    c->uasc = 1;
}

/* docs/quality-rules.md: an occurred_on before 1900 is implausible_date and
 * counts nowhere; its codes are still checked. */
static int implausible(struct fold *f, const Ev *ev) {
  if (ev->occurred_on >= 19000101)
    return 0;
  report(f, R_IMPLAUSIBLE_DATE, ev->event_id);
  if (has_unknown_code(ev))
    report(f, R_UNKNOWN_CODE, ev->event_id);
  return 1;
}

/* A LAC review naming a joined continuing start's period_id reviews the
 * period it joined. */
static void name_reviews_by_period(struct child *c) {
  for (size_t i = 0; i < c->reviews.n; i++)
    for (size_t a = 0; a < c->aliases.n; a++)
      if (c->reviews.v[i].value == CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC &&
          c->reviews.v[i].id[0] != '\0' && strcmp(c->reviews.v[i].id, c->aliases.v[a].id) == 0) {
        c->reviews.v[i].id = c->plans[LAC].v[c->aliases.v[a].period].id;
        break;
      }
}

static void fold_child(struct bf *b, struct child *c) {
  c->cap = c->n_events + 1;
  c->dob = NEVER;
  c->death = NEVER;
  c->journeys = alloc(b, c->cap * sizeof *c->journeys);
  c->findings = alloc(b, BF_RULE_COUNT * c->cap * sizeof *c->findings);
  struct fold f = {b,    c, alloc(b, c->cap * sizeof(Ev *)), alloc(b, c->cap * sizeof(csc_date)), 0,
                   NULL, 0};
  int *done = alloc(b, c->cap * sizeof *done);
  if (b->oom)
    return;
  for (size_t i = 0; i < c->n_events; i++) {
    const Ev *ev = c->events[i];
    if (ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET && !corrected_away(c, ev) &&
        !implausible(&f, ev))
      f.events[f.n++] = ev;
  }
  qsort(f.events, f.n, sizeof *f.events, event_order);
  for (size_t i = 0; i < f.n; i++) {
    date_from_yyyymmdd(f.events[i]->occurred_on, &f.dates[i]);
    if (f.events[i]->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS)
      merge_details(c, f.events[i]->child_details);
  }
  size_t kept = 0;
  for (size_t i = 0; i < f.n; i++) {
    f.ev = f.events[i];
    f.date = f.dates[i];
    check_event(&f);
    /* INDICATORS.md, "After death": "An event dated after d is a data-quality
     * finding (after_death) and counts in no window." The details that record
     * the death are not events of the child's care. */
    if (f.date > c->death && f.ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS &&
        !is_workforce(f.ev)) {
      report_here(&f, R_AFTER_DEATH);
      continue;
    }
    f.events[kept] = f.events[i];
    f.dates[kept++] = f.dates[i];
  }
  f.n = kept;
  for (size_t i = 0; i < f.n;) {
    size_t j = i;
    while (j < f.n && f.dates[j] == f.dates[i])
      j++;
    f.date = f.dates[i];
    for (size_t k = i; k < j; k++) /* 1: ends of what was open before the day */
      if (is_end(f.ev = f.events[k]))
        done[k] = fold_end(&f, 0);
    for (size_t k = i; k < j; k++) /* 2: starts */
      if (is_start(f.ev = f.events[k]))
        fold_start(&f);
    for (size_t k = i; k < j; k++) /* 2b: continuing starts of periods of care */
      if (is_continuing(f.ev = f.events[k]))
        fold_start(&f);
    for (size_t k = i; k < j; k++) /* 3: everything else */
      if (!is_start(f.ev = f.events[k]) && !is_end(f.ev) && !is_continuing(f.ev))
        fold_middle(&f);
    for (size_t k = i; k < j; k++) /* 4: the remaining ends */
      if (is_end(f.ev = f.events[k]) && !done[k])
        fold_end(&f, 1);
    i = j;
  }
  check_overlaps(&f);
  name_reviews_by_period(c);
  make_care_spans(&f);
}

/* ---- step 3: the indicators ------------------------------------------------------------ */

enum win { W_12M, W_FYTD, W_6M };
static const char *const WIN_NAMES[] = {"12m", "FYTD", "6m"};

/* The window's first day: 12m on T covers add_months(T, -12) < d <= T. */
static csc_date window_first(csc_date T, enum win w) {
  switch (w) {
  case W_12M: return date_add_months(T, -12) + 1;
  case W_6M: return date_add_months(T, -6) + 1;
  default: return date_fy_start(T);
  }
}

static int in_window(csc_date d, csc_date T, enum win w) {
  return d != NEVER && d >= window_first(T, w) && d <= T;
}

static int open_on(const struct ep *e, csc_date T) { return e->start <= T && T < e->end; }

/* Whole years from the date of birth (years as 12 months, clamped like
 * every month); -1 with no date of birth or before it. */
static int age_on(csc_date dob, csc_date T) {
  if (dob == NEVER || T < dob)
    return -1;
  int years = 0;
  while (date_add_months(dob, 12 * (years + 1)) <= T)
    years++;
  return years;
}

/* Working days d with a < d <= b (and a itself when the calendar is
 * inclusive), counted one day at a time. */
static int wd(const struct bf *b, csc_date from, csc_date to) {
  int n = 0;
  for (csc_date d = from + 1; d <= to; d++)
    n += workdays_is_working(b->o->wd, d);
  if (b->o->wd != NULL && b->o->wd->inclusive && to >= from && workdays_is_working(b->o->wd, from))
    n++;
  return n;
}

static const struct ep *care_span_on(const struct child *c, csc_date T) {
  for (size_t i = 0; i < c->spans.n; i++)
    if (open_on(&c->spans.v[i], T))
      return &c->spans.v[i];
  return NULL;
}

/* The legal status of period p on day d: the latest recorded for it on or
 * before d (the marks are in the fold's order: by date, then as folded);
 * NULL when none is. */
static const char *status_on(const struct child *c, int p, csc_date d) {
  const char *status = NULL;
  for (size_t i = 0; i < c->legal.n; i++)
    if (c->legal.v[i].period == p && c->legal.v[i].date <= d)
      status = c->legal.v[i].code;
  return status;
}

/* INDICATORS.md, Conventions, "Exclusions": "a day is looked after when its
 * status is not V3/V4; an entry counts when the status at entry is not
 * V3/V4; an exit when the status on the last day is not V3/V4." Day d of
 * period p, asked one day at a time. */
static int period_looked_after_on(const struct child *c, int p, csc_date d) {
  const char *status = status_on(c, p, d);
  return open_on(&c->plans[LAC].v[p], d) && status != NULL && !is_short_breaks_status(status);
}

/* A period whose start is unknown (a continuing start) is no entry. */
static int entry_counts(const struct child *c, int p) {
  return !c->plans[LAC].v[p].start_unknown &&
         period_looked_after_on(c, p, c->plans[LAC].v[p].start);
}

static int exit_counts(const struct child *c, int p) {
  const csc_date e = c->plans[LAC].v[p].end;
  return e != NEVER && period_looked_after_on(c, p, e - 1);
}

static int looked_after_on(const struct child *c, csc_date T) {
  for (size_t p = 0; p < c->plans[LAC].n; p++)
    if (period_looked_after_on(c, (int)p, T))
      return 1;
  return 0;
}

/* Whether plan p of kind k counts as open on T: a LAC plan on its
 * looked-after days only. */
static int plan_open_on(const struct child *c, enum kind k, size_t p, csc_date T) {
  if (k == LAC)
    return period_looked_after_on(c, (int)p, T);
  return open_on(&c->plans[k].v[p], T);
}

/* Whether plan p's start (end) counts as a plan started (ended). */
static int start_counts(const struct child *c, enum kind k, size_t p) {
  return k != LAC || entry_counts(c, (int)p);
}

static int end_counts(const struct child *c, enum kind k, size_t p) {
  return k != LAC || exit_counts(c, (int)p);
}

/* INDICATORS.md, "After death": "a child with a date of death d is not
 * counted in any point-in-time measure on T > d (open plans, looked after,
 * allocations), nor as a member of any denominator for days after d." Every
 * value counted on T for what the child is on T asks this first. */
static int alive_on(const struct child *c, csc_date T) { return c->death == NEVER || T <= c->death; }

/* Plans of a kind as the plan indicators count them: periods of care under
 * V3/V4 throughout are not plans. */
static int is_plan(enum kind k, const struct ep *p) { return !(k == LAC && p->short_breaks); }

/* ---- values ---- */

static struct bf_value *new_value(struct bf *b, const char *id, const char *window,
                                  const char *breakdown) {
  struct bf_result *r = b->out;
  if (r->n == r->cap) {
    const size_t cap = r->cap ? 2 * r->cap : 256;
    struct bf_value *v = realloc(r->values, cap * sizeof *v);
    if (v == NULL) {
      b->oom = 1;
      return NULL;
    }
    r->values = v;
    r->cap = cap;
  }
  struct bf_value *v = &r->values[r->n++];
  memset(v, 0, sizeof *v);
  snprintf(v->id, sizeof v->id, "%s", id);
  snprintf(v->window, sizeof v->window, "%s", window);
  snprintf(v->breakdown, sizeof v->breakdown, "%s", breakdown);
  return v;
}

static void set_per_10k(const struct bf *b, struct bf_value *v) {
  if (b->o->population > 0) {
    v->has_per_10k = 1;
    v->per_10k = v->num * 10000.0 / (double)b->o->population;
  }
}

static void put_count(struct bf *b, const char *id, const char *window, const char *bd,
                      double count, int per_10k) {
  struct bf_value *v = new_value(b, id, window, bd);
  if (v == NULL)
    return;
  v->has_num = v->has_value = 1;
  v->num = v->value = count;
  if (per_10k)
    set_per_10k(b, v);
}

/* num / den x scale (100 for a %, 1 for a mean); null when den is 0. */
static struct bf_value *put_ratio(struct bf *b, const char *id, const char *window, const char *bd,
                                  double num, double den, double scale) {
  struct bf_value *v = new_value(b, id, window, bd);
  if (v == NULL)
    return NULL;
  v->has_num = v->has_den = 1;
  v->num = num;
  v->den = den;
  if (den > 0) {
    v->has_value = 1;
    v->value = scale * num / den;
  }
  return v;
}

static void put_pct(struct bf *b, const char *id, const char *window, const char *bd, double num,
                    double den) {
  put_ratio(b, id, window, bd, num, den, 100.0);
}

static void put_provisional_pct(struct bf *b, const char *id, const char *window, const char *bd,
                                double num, double den) {
  struct bf_value *v = put_ratio(b, id, window, bd, num, den, 100.0);
  if (v != NULL)
    v->provisional = 1;
}

struct band {
  const char *label;
  int lo, hi; /* inclusive */
};

static int int_compare(const void *pa, const void *pb) {
  const int a = *(const int *)pa, b = *(const int *)pb;
  return a < b ? -1 : a > b;
}

/*
 * A distribution of items x[0..n): per band the % of items in it; with
 * percentiles p25/p50/p75 the smallest x with at least that share of items
 * at or below it; with within >= 0 the % of items <= within.
 */
static void put_distribution(struct bf *b, const char *id, const char *window,
                             const struct band *bands, int n_bands, int *x, size_t n,
                             int percentiles, int within) {
  qsort(x, n, sizeof *x, int_compare);
  for (int k = 0; k < n_bands; k++) {
    size_t in = 0;
    for (size_t i = 0; i < n; i++)
      in += x[i] >= bands[k].lo && x[i] <= bands[k].hi;
    put_pct(b, id, window, bands[k].label, (double)in, (double)n);
  }
  static const char *const names[3] = {"p25", "p50", "p75"};
  for (int q = 1; percentiles && q <= 3; q++) {
    struct bf_value *v = new_value(b, id, window, names[q - 1]);
    if (v == NULL || n == 0)
      continue;
    /* at least q/4 of the n items at or below x: 4 * count >= q * n */
    for (size_t i = 0; i < n; i++)
      if (4 * (i + 1) >= (size_t)q * n && (i + 1 == n || x[i + 1] != x[i])) {
        v->has_value = 1;
        v->value = x[i];
        break;
      }
  }
  if (within >= 0) {
    char label[32];
    snprintf(label, sizeof label, "within_%d", within);
    size_t in = 0;
    for (size_t i = 0; i < n; i++)
      in += x[i] <= within;
    put_pct(b, id, window, label, (double)in, (double)n);
  }
}

/* ---- core ---- */

static void core_referrals(struct bf *b) {
  const enum win wins[] = {W_12M, W_FYTD};
  for (int w = 0; w < 2; w++) {
    double referrals = 0, rereferrals = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct child *c = &b->children[i];
      for (size_t r = 0; r < c->referrals.n; r++)
        if (in_window(c->referrals.v[r].start, b->T, wins[w])) {
          referrals++;
          rereferrals += c->referrals.v[r].rereferral;
        }
    }
    put_count(b, "referrals", WIN_NAMES[wins[w]], "", referrals, 1);
    struct bf_value *v =
        put_ratio(b, "rereferrals", WIN_NAMES[wins[w]], "", rereferrals, referrals, 100.0);
    if (v != NULL)
      set_per_10k(b, v);
  }
}

static int on_plan(const struct child *c, enum kind k, csc_date T) {
  if (k == LAC)
    return looked_after_on(c, T);
  for (size_t i = 0; i < c->plans[k].n; i++)
    if (open_on(&c->plans[k].v[i], T))
      return 1;
  return 0;
}

static void core_plans(struct bf *b) {
  for (int k = 0; k < KINDS; k++) {
    double children = 0;
    for (size_t i = 0; i < b->n_children; i++)
      children += alive_on(&b->children[i], b->T) && on_plan(&b->children[i], (enum kind)k, b->T);
    put_count(b, "children_on_plan", "T", KIND_NAMES[k], children, 1);
  }
  for (int k = 0; k < KINDS; k++)
    for (int t = 0; t < 3; t++) {
      double open = 0, over = 0;
      for (size_t i = 0; i < b->n_children; i++) {
        const struct eps *l = &b->children[i].plans[k];
        if (!alive_on(&b->children[i], b->T))
          continue;
        for (size_t p = 0; p < l->n; p++)
          if (is_plan((enum kind)k, &l->v[p]) &&
              plan_open_on(&b->children[i], (enum kind)k, p, b->T)) {
            open++;
            over += b->T >= date_add_months(l->v[p].start, THRESHOLDS[t]);
          }
      }
      char bd[32];
      snprintf(bd, sizeof bd, "%s,%dm", KIND_NAMES[k], THRESHOLDS[t]);
      put_pct(b, "open_plans_over", "T", bd, over, open);
    }
}

/* A placement counts "during" a window when it is open on some day of it. */
static int open_during(const struct ep *e, csc_date first, csc_date last) {
  const csc_date from = e->start > first ? e->start : first;
  const csc_date to = e->end == NEVER ? last : (e->end - 1 < last ? e->end - 1 : last);
  return from <= to;
}

/*
 * INDICATORS.md, "Same carer": "a child placed for adoption with their
 * existing foster carer has not changed placement". That placement: an
 * adoption placement (A3-A6) starting on the placed date of a journey placed
 * with the foster carer, on the day a foster placement (U1-U6, open on some
 * day) ended. Returns that foster placement (of two, the later started), or
 * NULL for any other placement.
 */
static const struct ep *with_foster_carer(const struct child *c, const struct ep *p) {
  static const char *const adoption[] = {"A3", "A4", "A5", "A6", NULL};
  static const char *const foster[] = {"U1", "U2", "U3", "U4", "U5", "U6", NULL};
  int placed_with_carer = 0;
  for (size_t j = 0; j < c->n_journeys; j++)
    placed_with_carer |= c->journeys[j].foster_carer && c->journeys[j].placed == p->start;
  if (!placed_with_carer || !in_list(adoption, p->code))
    return NULL;
  const struct ep *carer = NULL;
  for (size_t i = 0; i < c->placements.n; i++) {
    const struct ep *q = &c->placements.v[i];
    if (q != p && q->end == p->start && q->start < q->end && in_list(foster, q->code) &&
        (carer == NULL || q->start >= carer->start))
      carer = q;
  }
  return carer;
}

static void core_placements_3plus(struct bf *b) {
  const enum win wins[] = {W_FYTD, W_12M};
  for (int w = 0; w < 2; w++) {
    double looked_after = 0, three_plus = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct child *c = &b->children[i];
      if (!alive_on(c, b->T) || !looked_after_on(c, b->T))
        continue;
      looked_after++;
      int placements = 0;
      for (size_t p = 0; p < c->placements.n; p++) {
        /* The carer's stay: the foster placement and the placement for
         * adoption with that carer are one placement. */
        struct ep stay = c->placements.v[p];
        if (with_foster_carer(c, &c->placements.v[p]) != NULL)
          continue;
        for (size_t q = 0; q < c->placements.n; q++)
          if (with_foster_carer(c, &c->placements.v[q]) == &c->placements.v[p])
            stay.end = c->placements.v[q].end;
        placements += open_during(&stay, window_first(b->T, wins[w]), b->T);
      }
      three_plus += placements >= 3;
    }
    put_pct(b, "placements_3plus", WIN_NAMES[wins[w]], "", three_plus, looked_after);
  }
}

static void count_findings(struct bf *b) {
  for (size_t i = 0; i < b->n_children; i++)
    for (size_t f = 0; f < b->children[i].n_findings; f++)
      b->out->quality[b->children[i].findings[f].rule]++;
}

/* ---- activity ---- */

static void referrals_by_source(struct bf *b) {
  const size_t n_codes = list_len(REFERRAL_SOURCES);
  for (size_t s = 0; s <= n_codes; s++) {
    double with = 0, all = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct child *c = &b->children[i];
      for (size_t r = 0; r < c->referrals.n; r++) {
        const struct ep *e = &c->referrals.v[r];
        if (!in_window(e->start, b->T, W_12M))
          continue;
        all++;
        with += s < n_codes ? strcmp(e->code, REFERRAL_SOURCES[s]) == 0
                            : !in_list(REFERRAL_SOURCES, e->code);
      }
    }
    put_pct(b, "referrals_by_source", "12m", s < n_codes ? REFERRAL_SOURCES[s] : "other", with,
            all);
  }
}

enum outcome { O_NFA, O_EH, O_CIN, O_CP, O_LAC, O_PENDING, OUTCOMES };
static const char *const OUTCOME_NAMES[OUTCOMES] = {"NFA", "EH", "CIN", "CP", "LAC", "pending"};

/* Whether plan p of kind k became a stage on a day of [from, last]: a plan
 * on its start; a period of care on its first day not under V3/V4 (a day
 * under V3/V4 is not looked after), found here from the period's legal
 * statuses: the first status date (the start included) whose status is
 * not V3/V4. */
static int stage_within(const struct child *c, enum kind k, size_t p, csc_date from,
                        csc_date last) {
  const struct ep *plan = &c->plans[k].v[p];
  if (k != LAC)
    return plan->start >= from && plan->start <= last;
  csc_date first = NEVER;
  for (size_t i = 0; i < c->legal.n; i++) {
    const struct mark *m = &c->legal.v[i];
    if (m->period == (int)p && m->date < plan->end && !is_short_breaks_status(m->code) &&
        m->date < first)
      first = m->date < plan->start ? plan->start : m->date;
  }
  /* a first looked-after day that is the period's unknown start is no stage */
  if (plan->start_unknown && first == plan->start)
    return 0;
  return first != NEVER && first >= from && first <= last;
}

/* The furthest stage a referral [s, e) reached by T: a plan of a kind
 * becoming a stage in [s, min(e, T)]. */
static enum outcome referral_outcome_on(const struct child *c, const struct ep *r, csc_date T) {
  const csc_date last = r->end <= T ? r->end : T;
  for (int k = LAC; k >= EH; k--)
    for (size_t p = 0; p < c->plans[k].n; p++)
      if (stage_within(c, (enum kind)k, p, r->start, last))
        return (enum outcome)(O_EH + k);
  return r->end <= T ? O_NFA : O_PENDING;
}

static void referral_outcome(struct bf *b) {
  double by[OUTCOMES] = {0}, all = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    for (size_t r = 0; r < c->referrals.n; r++)
      if (in_window(c->referrals.v[r].start, b->T, W_12M)) {
        all++;
        by[referral_outcome_on(c, &c->referrals.v[r], b->T)]++;
      }
  }
  for (int o = 0; o < OUTCOMES; o++)
    put_pct(b, "referral_outcome", "12m", OUTCOME_NAMES[o], by[o], all);
}

static int completed_in(const struct ep *a, csc_date T, enum win w) {
  return a->end != NEVER && in_window(a->end, T, w);
}

static void activity_counts(struct bf *b) {
  double assessments = 0, enquiries = 0, icpcs = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    for (size_t a = 0; a < c->assessments.n; a++)
      assessments += completed_in(&c->assessments.v[a], b->T, W_12M);
    for (size_t s = 0; s < c->enquiries.n; s++) {
      const struct ep *e = &c->enquiries.v[s];
      enquiries += in_window(e->no_start ? e->end : e->start, b->T, W_12M);
    }
    for (size_t m = 0; m < c->icpcs.n; m++)
      icpcs += in_window(c->icpcs.v[m].date, b->T, W_12M);
  }
  put_count(b, "assessments", "12m", "", assessments, 1);
  put_count(b, "s47_enquiries", "12m", "", enquiries, 1);
  put_count(b, "icpcs", "12m", "", icpcs, 1);
}

/* By initial category ("other" for a code outside the list), and the total
 * (breakdown ""). */
static void cp_plan_starts(struct bf *b) {
  const size_t n_codes = list_len(ABUSE_CATEGORIES);
  double all = 0;
  for (size_t i = 0; i < b->n_children; i++)
    for (size_t p = 0; p < b->children[i].plans[CP].n; p++)
      all += in_window(b->children[i].plans[CP].v[p].start, b->T, W_12M);
  put_count(b, "cp_plan_starts", "12m", "", all, 1);
  for (size_t k = 0; k <= n_codes; k++) {
    double starts = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct eps *l = &b->children[i].plans[CP];
      for (size_t p = 0; p < l->n; p++)
        if (in_window(l->v[p].start, b->T, W_12M))
          starts += k < n_codes ? strcmp(spelt(l->v[p].code), ABUSE_CATEGORIES[k]) == 0
                                : !in_list(ABUSE_CATEGORIES, spelt(l->v[p].code));
    }
    put_count(b, "cp_plan_starts", "12m", k < n_codes ? ABUSE_CATEGORIES[k] : "other", starts, 1);
  }
}

/* A code that fits a bucket of its own: 1 to 3 of [0-9A-Z]. */
static int keyable(const char *code) {
  const size_t n = strlen(code);
  if (n == 0 || n > 3)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((code[i] >= '0' && code[i] <= '9') || (code[i] >= 'A' && code[i] <= 'Z')))
      return 0;
  return 1;
}

/* Whether factors f and g of an assessment count as one: the same code, or
 * both unfit for a bucket of their own (they share one). */
static int same_factor(const char *f, const char *g) {
  return strcmp(f, g) == 0 || (!keyable(f) && !keyable(g));
}

/* How often assessment a counts for factor code k (k < n: 0 or 1, once per
 * assessment), or for "other" (k == n): once per distinct code outside the
 * list, as the catalogue sums the codes it does not name. An empty string
 * is no factor (docs/indicators.md). */
static int records_factor(const struct ep *a, size_t k, size_t n_codes) {
  int count = 0;
  for (size_t f = 0; f < a->n_factors; f++) {
    const char *code = a->factors[f];
    if (code[0] == '\0')
      continue;
    if (k < n_codes) {
      if (strcmp(code, ASSESSMENT_FACTORS[k]) == 0)
        return 1;
      continue;
    }
    int seen = in_list(ASSESSMENT_FACTORS, code);
    for (size_t g = 0; g < f && !seen; g++)
      seen = a->factors[g][0] != '\0' && same_factor(a->factors[g], code);
    count += !seen;
  }
  return count;
}

static void assessment_factors(struct bf *b) {
  const size_t n_codes = list_len(ASSESSMENT_FACTORS);
  for (size_t k = 0; k <= n_codes; k++) {
    double with = 0, all = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct child *c = &b->children[i];
      for (size_t a = 0; a < c->assessments.n; a++)
        if (completed_in(&c->assessments.v[a], b->T, W_12M)) {
          all++;
          with += records_factor(&c->assessments.v[a], k, n_codes);
        }
    }
    put_pct(b, "assessment_factors", "12m", k < n_codes ? ASSESSMENT_FACTORS[k] : "other", with,
            all);
  }
}

static void nfa_reassessed(struct bf *b) {
  const int months[2] = {6, 12};
  for (int m = 0; m < 2; m++) {
    double nfa = 0, again = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct child *c = &b->children[i];
      for (size_t a = 0; a < c->assessments.n; a++) {
        const struct ep *x = &c->assessments.v[a];
        if (!completed_in(x, b->T, W_12M) ||
            x->outcome != CSCFLOW__V1__ASSESSMENT_OUTCOME__ASSESSMENT_OUTCOME_NFA)
          continue;
        nfa++;
        csc_date until = date_add_months(x->end, months[m]);
        if (until > b->T)
          until = b->T;
        for (size_t y = 0; y < c->assessments.n; y++) {
          const csc_date s = c->assessments.v[y].start; /* started, completed or not */
          if (y != a && s > x->end && s <= until) {
            again++;
            break;
          }
        }
      }
    }
    put_provisional_pct(b, "nfa_reassessed", "12m", months[m] == 6 ? "6m" : "12m", again, nfa);
  }
}

/* ---- timeliness ---- */

/*
 * The episode an assessment or ICPC belongs to (docs/indicators.md,
 * Timeliness): the one it names by id, else the latest with a recorded
 * start on or before the date. A named episode is used whatever its start
 * (a start after the date gives 0 working days, as wd does for b <= a); of
 * several with the id, the latest started on or before the date, else the
 * first. A named enquiry known only by its completion has no start: the
 * ICPC is then left out (NULL).
 */
static const struct ep *belongs_to(const struct eps *l, const char *id, csc_date date) {
  const struct ep *named = NULL, *latest = NULL;
  for (size_t i = 0; i < l->n; i++) {
    const struct ep *e = &l->v[i];
    if (id[0] != '\0' && strcmp(e->id, id) == 0 && (named == NULL || e->start <= date))
      named = e;
    if (e->start <= date && !e->no_start && (latest == NULL || e->start >= latest->start))
      latest = e;
  }
  if (named != NULL)
    return named->no_start ? NULL : named;
  return latest;
}

static void referral_to_assessment(struct bf *b, int *x) {
  static const struct band bands[] = {{"0-10", 0, 10},
                                      {"11-20", 11, 20},
                                      {"21-30", 21, 30},
                                      {"31-45", 31, 45},
                                      {"46+", 46, 1 << 30}};
  size_t n = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    for (size_t a = 0; a < c->assessments.n; a++) {
      const struct ep *as = &c->assessments.v[a];
      const struct ep *r =
          completed_in(as, b->T, W_12M) && !as->before_start
              ? belongs_to(&c->referrals, as->ref, as->end)
              : NULL;
      if (r != NULL)
        x[n++] = wd(b, r->start, as->end);
    }
  }
  put_distribution(b, "referral_to_assessment_wd", "12m", bands, 5, x, n, 1, 45);
}

static void s47_to_icpc(struct bf *b, int *x) {
  static const struct band bands[] = {
      {"0-10", 0, 10}, {"11-15", 11, 15}, {"16-20", 16, 20}, {"21+", 21, 1 << 30}};
  size_t n = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    for (size_t m = 0; m < c->icpcs.n; m++) {
      const struct mark *icpc = &c->icpcs.v[m];
      const struct ep *s = in_window(icpc->date, b->T, W_12M)
                               ? belongs_to(&c->enquiries, icpc->id, icpc->date)
                               : NULL;
      if (s != NULL)
        x[n++] = wd(b, s->start, icpc->date);
    }
  }
  put_distribution(b, "s47_to_icpc_wd", "12m", bands, 4, x, n, 1, 15);
}

static const struct band DURATION_BANDS[] = {
    {"<3m", 0, 0}, {"3-6m", 1, 1}, {"6-12m", 2, 2}, {"1-2y", 3, 3}, {"2y+", 4, 4}};

/* The band of a duration from s to d: <3m while d < add_months(s, 3), ... */
static int duration_band(csc_date s, csc_date d) {
  static const int months[4] = {3, 6, 12, 24};
  for (int k = 0; k < 4; k++)
    if (d < date_add_months(s, months[k]))
      return k;
  return 4;
}

static void cin_episode_duration(struct bf *b, int *x) {
  size_t n = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct eps *l = &b->children[i].referrals;
    for (size_t r = 0; r < l->n && alive_on(&b->children[i], b->T); r++)
      if (open_on(&l->v[r], b->T))
        x[n++] = duration_band(l->v[r].start, b->T);
  }
  put_distribution(b, "cin_episode_duration", "T", DURATION_BANDS, 5, x, n, 0, -1);
  n = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct eps *l = &b->children[i].referrals;
    for (size_t r = 0; r < l->n; r++)
      if (in_window(l->v[r].end, b->T, W_12M))
        x[n++] = duration_band(l->v[r].start, l->v[r].end);
  }
  put_distribution(b, "cin_episode_duration", "12m", DURATION_BANDS, 5, x, n, 0, -1);
}

/* ---- plans ---- */

static void children_in_need(struct bf *b) {
  double children = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct eps *l = &b->children[i].referrals;
    for (size_t r = 0; r < l->n && alive_on(&b->children[i], b->T); r++)
      if (open_on(&l->v[r], b->T)) {
        children++;
        break;
      }
  }
  put_count(b, "children_in_need", "T", "", children, 1);
}

static void ended_plans_over(struct bf *b) {
  const enum win wins[] = {W_12M, W_FYTD};
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < KINDS; k++)
      for (int t = 0; t < 3; t++) {
        double ended = 0, over = 0;
        for (size_t i = 0; i < b->n_children; i++) {
          const struct eps *l = &b->children[i].plans[k];
          for (size_t p = 0; p < l->n; p++)
            if (is_plan((enum kind)k, &l->v[p]) && in_window(l->v[p].end, b->T, wins[w]) &&
                end_counts(&b->children[i], (enum kind)k, p)) {
              ended++;
              over += l->v[p].end > date_add_months(l->v[p].start, THRESHOLDS[t]);
            }
        }
        char bd[32];
        snprintf(bd, sizeof bd, "%s,%dm", KIND_NAMES[k], THRESHOLDS[t]);
        put_pct(b, "ended_plans_over", WIN_NAMES[wins[w]], bd, over, ended);
      }
}

/* The child's event with event_id id (event_ids are unique in c->events),
 * such as the one that opened an episode (start_event); NULL when none. */
static const Ev *event_with_id(const struct child *c, const char *id) {
  for (size_t i = 0; i < c->n_events; i++)
    if (strcmp(c->events[i]->event_id, id) == 0)
      return c->events[i];
  return NULL;
}

/* Whether the CP plan p's start recorded (CIN census NumberOfPreviousCPP)
 * that the child had had a CP plan before it. */
static int record_counts_previous_cp(const struct child *c, enum kind k, const struct ep *p) {
  const Ev *ev = k == CP ? event_with_id(c, p->start_event) : NULL;
  return ev != NULL && ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED &&
         ev->cp_plan_started->previous_cp_plans_recorded &&
         ev->cp_plan_started->previous_cp_plans >= 1;
}

/* Whether p is a repeat within months (0: `ever`), as INDICATORS.md words
 * it: "the child's previous plan of the same kind ended within 12 / 24
 * months before the start (a plan that starts while another of its kind is
 * still open is a data-quality finding, not a repeat within 12 / 24
 * months); and `ever` (second or subsequent time: any earlier plan of the
 * kind)". The previous plan is the earlier one that ended last. `ever`
 * also when the plan's record counts a previous CP plan the history need
 * not hold (a first import of a census year); the count carries no dates,
 * so it makes no repeat within 12 / 24 months. */
static int is_repeat(const struct child *c, const struct eps *l, enum kind k, const struct ep *p,
                     int months) {
  int earlier = 0, overlap = 0;
  csc_date last = 0;
  for (size_t i = 0; i < l->n; i++) {
    const struct ep *q = &l->v[i];
    if (q == p || !is_plan(k, q))
      continue;
    if (q->start <= p->start && p->start < q->end)
      overlap = 1; /* another of its kind still open on p's start */
    if (q->start < p->start) {
      if (!earlier || q->end > last)
        last = q->end;
      earlier = 1;
    }
  }
  if (months == 0)
    return earlier || record_counts_previous_cp(c, k, p);
  return earlier && !overlap && last <= p->start && last >= date_add_months(p->start, -months);
}

static void repeat_plan(struct bf *b) {
  const enum win wins[] = {W_12M, W_FYTD};
  static const char *const labels[3] = {"12m", "24m", "ever"};
  for (int w = 0; w < 2; w++)
    for (int k = 0; k < KINDS; k++)
      for (int t = 0; t < 3; t++) {
        double started = 0, repeat = 0;
        for (size_t i = 0; i < b->n_children; i++) {
          const struct eps *l = &b->children[i].plans[k];
          for (size_t p = 0; p < l->n; p++) {
            const struct ep *plan = &l->v[p];
            if (!is_plan((enum kind)k, plan) || !in_window(plan->start, b->T, wins[w]) ||
                !start_counts(&b->children[i], (enum kind)k, p))
              continue;
            started++;
            repeat += is_repeat(&b->children[i], l, (enum kind)k, plan, t == 2 ? 0 : 12 * (t + 1));
          }
        }
        char bd[32];
        snprintf(bd, sizeof bd, "%s,%s", KIND_NAMES[k], labels[t]);
        put_pct(b, "repeat_plan", WIN_NAMES[wins[w]], bd, repeat, started);
      }
}

/* Whether the gap from a to b is longer than the kind's visit interval. */
static int gap_too_long(const struct bf *b, enum kind k, csc_date from, csc_date to) {
  if (k == LAC)
    return to - from > b->o->visit_lac;
  return wd(b, from, to) > (k == CP ? b->o->visit_cp : b->o->visit_cin);
}

/* Every gap between the plan start, the visits dated in [s, T] and T is
 * within the interval. */
static int seen_on_time(const struct bf *b, const struct child *c, enum kind k,
                        const struct ep *plan) {
  csc_date last = plan->start;
  for (;;) {
    csc_date next = b->T; /* the next visit after last, or T */
    for (size_t v = 0; v < c->visits.n; v++) {
      const csc_date d = c->visits.v[v].date;
      if (d > last && d <= b->T && d < next)
        next = d;
    }
    if (gap_too_long(b, k, last, next))
      return 0;
    if (next == b->T)
      return 1;
    last = next;
  }
}

static void seen_per_plan(struct bf *b) {
  const enum kind kinds[3] = {CIN, CP, LAC};
  for (int x = 0; x < 3; x++) {
    const enum kind k = kinds[x];
    double open = 0, on_time = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct child *c = &b->children[i];
      for (size_t p = 0; p < c->plans[k].n && alive_on(c, b->T); p++) {
        struct ep plan = c->plans[k].v[p];
        if (!is_plan(k, &plan) || !plan_open_on(c, k, p, b->T))
          continue;
        /* LAC: the clock starts on the first day of the run of looked-after
         * days that holds T (docs/indicators.md, seen_per_plan). */
        if (k == LAC) {
          csc_date run = b->T;
          while (run > plan.start && period_looked_after_on(c, (int)p, run - 1))
            run--;
          plan.start = run;
        }
        open++;
        on_time += seen_on_time(b, c, k, &plan);
      }
    }
    put_pct(b, "seen_per_plan", "T", KIND_NAMES[k], on_time, open);
  }
}

/* The CIN episode open on d (an episode opened on d is open on d). */
static const struct ep *episode_open_on(const struct child *c, csc_date d) {
  for (size_t r = 0; r < c->referrals.n; r++)
    if (open_on(&c->referrals.v[r], d))
      return &c->referrals.v[r];
  return NULL;
}

/* The CIN episode closed on d, if any. */
static const struct ep *episode_closed_on(const struct child *c, csc_date d) {
  for (size_t r = 0; r < c->referrals.n; r++)
    if (c->referrals.v[r].start <= d && c->referrals.v[r].end == d)
      return &c->referrals.v[r];
  return NULL;
}

static void cin_closed_after_step_down(struct bf *b) {
  const enum kind kinds[2] = {CP, LAC};
  for (int x = 0; x < 2; x++) {
    double ends = 0, closed = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct child *c = &b->children[i];
      const struct eps *l = &c->plans[kinds[x]];
      for (size_t p = 0; p < l->n; p++) {
        const struct ep *plan = &l->v[p];
        if (!is_plan(kinds[x], plan) || !in_window(plan->end, b->T, W_12M) ||
            !end_counts(c, kinds[x], p))
          continue;
        ends++;
        /* "on the end date itself included": an episode closed on the end
         * date closed within 6 months; else the one open on it. */
        const struct ep *cin = episode_closed_on(c, plan->end);
        if (cin == NULL)
          cin = episode_open_on(c, plan->end);
        csc_date until = date_add_months(plan->end, 6);
        if (until > b->T)
          until = b->T;
        closed += cin != NULL && cin->end <= until;
      }
    }
    put_provisional_pct(b, "cin_closed_after_step_down", "12m", x == 0 ? "after_CP" : "after_LAC",
                        closed, ends);
  }
}

/* ---- outcomes ---- */

/* The placement open on T (the latest started, should two be). */
static const struct ep *placement_on(const struct child *c, csc_date T) {
  const struct ep *found = NULL;
  for (size_t p = 0; p < c->placements.n; p++)
    if (open_on(&c->placements.v[p], T))
      found = &c->placements.v[p];
  return found;
}

static int is_adoption_placement(const char *type) {
  return strcmp(type, "A3") == 0 || strcmp(type, "A4") == 0 || strcmp(type, "A5") == 0 ||
         strcmp(type, "A6") == 0;
}

/* The placement before p: the latest that started before it. */
static const struct ep *placement_before(const struct child *c, const struct ep *p) {
  const struct ep *prev = NULL;
  for (size_t i = 0; i < c->placements.n; i++) {
    const struct ep *q = &c->placements.v[i];
    if (q != p && q->start < p->start && (prev == NULL || q->start >= prev->start))
      prev = q;
  }
  return prev;
}

/* In a period of care open on T that started on or before since: the
 * period, not the care span, as "'continuously' follows the period's chain
 * of episodes, so a change of legal status inside a period (to or from
 * V3/V4 included) does not break it" (INDICATORS.md). */
static int in_period_since(const struct child *c, csc_date T, csc_date since) {
  for (size_t p = 0; p < c->plans[LAC].n; p++)
    if (open_on(&c->plans[LAC].v[p], T) && c->plans[LAC].v[p].start <= since)
      return 1;
  return 0;
}

static void placement_stability_long(struct bf *b) {
  const csc_date T = b->T, span_by = date_add_months(T, -30), placed_by = date_add_months(T, -24);
  double den = 0, num = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    const int age = age_on(c->dob, T);
    if (!alive_on(c, T) || !looked_after_on(c, T) || age < 0 || age >= 16 ||
        !in_period_since(c, T, span_by))
      continue;
    den++;
    const struct ep *p = placement_on(c, T);
    if (p == NULL)
      continue;
    const struct ep *prev = placement_before(c, p);
    num += p->start <= placed_by ||
           (is_adoption_placement(p->code) && prev != NULL && prev->start <= placed_by);
  }
  put_pct(b, "placement_stability_long", "T", "", num, den);
}

/* A placement that ends the day it starts is open on no day: it is no
 * placement (as "during a window" counts placements open on some day). */
static int lasts_a_day(const struct ep *p) { return p->start < p->end; }

/* Whether p is the first placement of its period (the period its id names). */
static int first_of_period(const struct child *c, const struct ep *p) {
  for (size_t i = 0; i < c->placements.n; i++) {
    const struct ep *q = &c->placements.v[i];
    if (q == p)
      return 1;
    if (strcmp(q->ref, p->ref) == 0 && lasts_a_day(q))
      return 0;
  }
  return 1;
}

static void placement_changes_avg(struct bf *b) {
  const csc_date first = window_first(b->T, W_12M);
  double children = 0, changes = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    int looked_after = 0;
    /* After death: looked after on a day of the window up to d, not after. */
    const csc_date last = alive_on(c, b->T) ? b->T : c->death;
    for (size_t s = 0; s < c->spans.n; s++)
      looked_after |= open_during(&c->spans.v[s], first, last);
    if (!looked_after)
      continue;
    children++;
    for (size_t p = 0; p < c->placements.n; p++)
      changes += lasts_a_day(&c->placements.v[p]) && !first_of_period(c, &c->placements.v[p]) &&
                 with_foster_carer(c, &c->placements.v[p]) == NULL &&
                 in_window(c->placements.v[p].start, b->T, W_12M);
  }
  put_ratio(b, "placement_changes_avg", "12m", "", changes, children, 1.0);
}

enum group {
  G_FOSTER,
  G_ADOPTION,
  G_RESIDENTIAL,
  G_SECURE,
  G_PARENTS,
  G_INDEPENDENT,
  G_OTHER,
  GROUPS
};
static const char *const GROUP_NAMES[GROUPS] = {"foster",  "adoption",    "residential", "secure",
                                                "parents", "independent", "other"};

static enum group placement_group(const char *type) {
  static const struct {
    const char *type;
    enum group g;
  } table[] = {{"U1", G_FOSTER},      {"U2", G_FOSTER},      {"U3", G_FOSTER},
               {"U4", G_FOSTER},      {"U5", G_FOSTER},      {"U6", G_FOSTER},
               {"A3", G_ADOPTION},    {"A4", G_ADOPTION},    {"A5", G_ADOPTION},
               {"A6", G_ADOPTION},    {"K2", G_RESIDENTIAL}, {"R1", G_RESIDENTIAL},
               {"S1", G_RESIDENTIAL}, {"K1", G_SECURE},      {"P1", G_PARENTS},
               {"P2", G_INDEPENDENT}, {"H5", G_INDEPENDENT}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].type, type) == 0)
      return table[i].g;
  return G_OTHER;
}

static void placement_type_mix(struct bf *b) {
  double by[GROUPS] = {0}, all = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    if (!alive_on(c, b->T) || !looked_after_on(c, b->T))
      continue;
    all++;
    const struct ep *p = placement_on(c, b->T);
    by[p != NULL ? placement_group(p->code) : G_OTHER]++;
  }
  for (int g = 0; g < GROUPS; g++)
    put_pct(b, "placement_type_mix", "T", GROUP_NAMES[g], by[g], all);
}

/* "% of children looked after on T placed more than 20 miles from home, of
 * all children looked after on T (distance not known stays in the
 * denominator, and its share is its own value ...); mean distance over those
 * with a known distance". No placement on T: distance not known. */
static void placement_distance(struct bf *b) {
  double looked_after = 0, unknown = 0, known = 0, over = 0, miles = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    if (!alive_on(c, b->T) || !looked_after_on(c, b->T))
      continue;
    looked_after++;
    const struct ep *p = placement_on(c, b->T);
    if (p == NULL || !p->has_distance) {
      unknown++;
      continue;
    }
    known++;
    over += p->distance_x10 > 200;
    miles += p->distance_x10 / 10.0;
  }
  put_pct(b, "placement_distance", "T", "over_20_miles", over, looked_after);
  put_pct(b, "placement_distance", "T", "unknown", unknown, looked_after);
  put_ratio(b, "placement_distance", "T", "mean_miles", miles, known, 1.0);
}

/* INDICATORS.md, "Children, not periods": "counts each child once in the
 * window: on the first start (the last exit)". The child's first counted
 * entry dated in the window (the first of the periods on a tie); -1 when
 * none. */
static int first_entry_in(const struct child *c, csc_date T, enum win w) {
  int first = -1;
  for (size_t p = 0; p < c->plans[LAC].n; p++) {
    const struct ep *period = &c->plans[LAC].v[p];
    if (is_plan(LAC, period) && in_window(period->start, T, w) && entry_counts(c, (int)p) &&
        (first < 0 || period->start < c->plans[LAC].v[first].start))
      first = (int)p;
  }
  return first;
}

/* The child's last counted exit dated in the window (the last of the
 * periods on a tie), of a reason in `only` (NULL: any); -1 when none. */
static int last_exit_in(const struct child *c, csc_date T, enum win w, const char *const *only) {
  int last = -1;
  for (size_t p = 0; p < c->plans[LAC].n; p++) {
    const struct ep *period = &c->plans[LAC].v[p];
    if (is_plan(LAC, period) && in_window(period->end, T, w) && exit_counts(c, (int)p) &&
        (only == NULL || in_list(only, period->end_code)) &&
        (last < 0 || period->end >= c->plans[LAC].v[last].end))
      last = (int)p;
  }
  return last;
}

static void care_entries(struct bf *b) {
  const enum win wins[] = {W_12M, W_FYTD};
  for (int w = 0; w < 2; w++) {
    double uasc = 0, not_uasc = 0;
    for (size_t i = 0; i < b->n_children; i++) {
      const struct child *c = &b->children[i];
      const int p = first_entry_in(c, b->T, wins[w]);
      if (p < 0)
        continue;
      if (c->plans[LAC].v[p].uasc || c->uasc)
        uasc++;
      else
        not_uasc++;
    }
    put_count(b, "care_entries", WIN_NAMES[wins[w]], "", uasc + not_uasc, 1);
    put_count(b, "care_entries", WIN_NAMES[wins[w]], "UASC", uasc, 1);
    put_count(b, "care_entries", WIN_NAMES[wins[w]], "not_UASC", not_uasc, 1);
  }
}

static int code_in(const char *code, const char *const *codes) { return in_list(codes, code); }

static void care_exits_permanence(struct bf *b) {
  static const char *const adoption[] = {"E11", "E12", NULL};
  static const char *const sgo[] = {"E43", "E44", "E45", "E46", "E47", "E48", NULL};
  static const char *const cao[] = {"E41", NULL};
  static const char *const *const reasons[3] = {adoption, sgo, cao};
  static const char *const names[3] = {"adoption", "special_guardianship", "child_arrangements"};
  const enum win wins[] = {W_12M, W_FYTD};
  for (int w = 0; w < 2; w++)
    for (int r = 0; r < 3; r++) {
      double exits = 0, with = 0;
      for (size_t i = 0; i < b->n_children; i++) {
        const struct child *c = &b->children[i];
        const int p = last_exit_in(c, b->T, wins[w], NULL);
        if (p < 0)
          continue;
        exits++;
        with += code_in(c->plans[LAC].v[p].end_code, reasons[r]);
      }
      put_pct(b, "care_exits_permanence", WIN_NAMES[wins[w]], names[r], with, exits);
    }
}

/* Looked after on some day of [from, to], asked day by day. */
static int looked_after_during(const struct child *c, csc_date from, csc_date to) {
  for (csc_date d = from; d <= to; d++)
    if (looked_after_on(c, d))
      return 1;
  return 0;
}

static void reunification_sustained(struct bf *b) {
  static const char *const home[] = {"E4A", "E4B", "E13", NULL};
  double exits = 0, sustained = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    const int p = last_exit_in(c, b->T, W_12M, home);
    if (p < 0)
      continue;
    const struct ep *period = &c->plans[LAC].v[p];
    exits++;
    csc_date until = date_add_months(period->end, 12);
    if (until > b->T)
      until = b->T;
    sustained += !looked_after_during(c, period->end, until);
  }
  put_provisional_pct(b, "reunification_sustained", "12m", "", sustained, exits);
}

/* Whether the move into placement p kept the carer: the event that began it
 * is a PlacementStarted with 903 RNE T or U (a period's first placement,
 * begun by PeriodOfCareStarted, never did). */
static int move_kept_carer(const struct child *c, const struct ep *p) {
  const Ev *ev = event_with_id(c, p->start_event);
  if (ev == NULL || ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED)
    return 0;
  const char *rne = ev->placement_started->reason_for_new_episode;
  return strcmp(rne, "T") == 0 || strcmp(rne, "U") == 0;
}

/* The placement a move that kept the carer left: the placement that ended
 * the day p began; NULL when p's move did not keep the carer or none did. */
static const struct ep *same_carer_before(const struct child *c, const struct ep *p) {
  if (!move_kept_carer(c, p))
    return NULL;
  const struct ep *found = NULL;
  for (size_t i = 0; i < c->placements.n; i++) {
    const struct ep *q = &c->placements.v[i];
    if (q->end == p->start && q->start < p->start)
      found = q;
  }
  return found;
}

static void adoption_timeliness(struct bf *b) {
  double sum[3] = {0}, count[3] = {0}; /* A1, A2, A10 */
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    for (size_t j = 0; j < c->n_journeys; j++) {
      const struct journey *x = &c->journeys[j];
      if (!in_window(x->adopted, b->T, W_12M))
        continue;
      const struct ep *span = x->placed != NEVER ? care_span_on(c, x->placed) : NULL;
      /* A1 and A10 count from entering care: unknown for a span that
       * begins on its period's unknown start. */
      const struct ep *period = span != NULL ? &c->plans[LAC].v[span->period] : NULL;
      if (span != NULL && !(period->start_unknown && span->start == period->start)) {
        sum[0] += x->placed - span->start;
        count[0]++;
        /* A10: a child adopted by their foster carer moved in when the
         * carer's placement began. When the placement open on the placed
         * date is an adoption placement that began that day (the carer's
         * placement re-recorded), it is the placement that ended that day.
         * "A10 dates from the day the child moved in with the carer who
         * adopts them (the start of the run of T/U moves)": back along the
         * moves that kept the carer. Never before the span began. */
        const struct ep *from = x->foster_carer ? placement_on(c, x->placed) : NULL;
        if (from != NULL && is_adoption_placement(from->code) && from->start == x->placed)
          for (size_t p = 0; p < c->placements.n; p++)
            if (c->placements.v[p].end == x->placed && c->placements.v[p].start < x->placed)
              from = &c->placements.v[p];
        for (const struct ep *q; from != NULL && (q = same_carer_before(c, from)) != NULL;)
          from = q;
        if (!x->foster_carer || from != NULL) {
          const csc_date moved_in = x->foster_carer ? from->start : x->placed;
          sum[2] += (moved_in > span->start ? moved_in : span->start) - span->start;
          count[2]++;
        }
      }
      if (x->order != NEVER && x->matched != NEVER) {
        sum[1] += x->matched - x->order;
        count[1]++;
      }
    }
  }
  static const char *const names[3] = {"A1", "A2", "A10"};
  for (int k = 0; k < 3; k++)
    put_ratio(b, "adoption_timeliness", "12m", names[k], sum[k], count[k], 1.0);
}

static void early_permanence(struct bf *b) {
  double placed = 0, early = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    for (size_t j = 0; j < c->n_journeys; j++)
      if (in_window(c->journeys[j].placed, b->T, W_12M)) {
        placed++;
        early += c->journeys[j].early_permanence != 0;
      }
  }
  put_pct(b, "early_permanence", "12m", "", early, placed);
}

/* Education, training or employment: the activity, or when none is
 * recorded the SSDA903 activity codes of education, training or employment. */
static int in_education_or_work(const struct mark *contact) {
  /* SSDA903: F full time, P part time in education, training or employment. */
  static const char *const eet_codes[] = {"F1", "P1", "F2", "P2", "F3", "P3", "F4",
                                          "P4", "F5", "P5", "F6", NULL};
  if (contact->value == CSCFLOW__V1__CARE_LEAVER_ACTIVITY__CARE_LEAVER_ACTIVITY_UNSPECIFIED)
    return in_list(eet_codes, contact->code);
  return contact->value == CSCFLOW__V1__CARE_LEAVER_ACTIVITY__CARE_LEAVER_ACTIVITY_EDUCATION ||
         contact->value ==
             CSCFLOW__V1__CARE_LEAVER_ACTIVITY__CARE_LEAVER_ACTIVITY_TRAINING_EMPLOYMENT;
}

static void care_leavers(struct bf *b) {
  static const char *const TOUCH[] = {"YES", "NO", "REFU", "NREQ", "RHOM", "DIED"};
  double contacted = 0, in_touch = 0, eet = 0, suitable = 0, touch[6] = {0};
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    const int age = age_on(c->dob, b->T);
    if (!alive_on(c, b->T) || age < 17 || age > 21)
      continue;
    const struct mark *latest = NULL; /* ties: the later in fold order */
    for (size_t m = 0; m < c->leaver.n; m++)
      if (c->leaver.v[m].date <= b->T && (latest == NULL || c->leaver.v[m].date >= latest->date))
        latest = &c->leaver.v[m];
    if (latest == NULL || !in_window(latest->date, b->T, W_12M))
      continue;
    contacted++;
    in_touch += latest->in_touch != 0;
    eet += in_education_or_work(latest);
    suitable += latest->suitable != 0;
    for (int v = 0; v < 6; v++)
      touch[v] += strcmp(latest->touch, TOUCH[v]) == 0;
  }
  put_pct(b, "care_leavers", "12m", "in_touch", in_touch, contacted);
  put_pct(b, "care_leavers", "12m", "eet", eet, contacted);
  put_pct(b, "care_leavers", "12m", "suitable_accommodation", suitable, contacted);
  for (int v = 0; v < 6; v++) {
    char bd[32];
    snprintf(bd, sizeof bd, "in_touch,%s", TOUCH[v]);
    put_pct(b, "care_leavers", "12m", bd, touch[v], contacted);
  }
}

static void sdq_mean(struct bf *b) {
  const csc_date span_by = date_add_months(b->T, -12);
  double count = 0, sum = 0, bands[3] = {0};
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    const struct ep *span = care_span_on(c, b->T);
    const int age = age_on(c->dob, b->T);
    if (!alive_on(c, b->T) || span == NULL || span->start > span_by || age < 4 || age > 16)
      continue;
    const struct mark *latest = NULL;
    for (size_t m = 0; m < c->sdq.n; m++)
      if (c->sdq.v[m].date <= b->T && (latest == NULL || c->sdq.v[m].date >= latest->date))
        latest = &c->sdq.v[m];
    if (latest == NULL)
      continue;
    count++;
    sum += latest->value;
    bands[latest->value <= 13 ? 0 : latest->value <= 16 ? 1 : 2]++;
  }
  put_ratio(b, "sdq_mean", "T", "mean", sum, count, 1.0);
  static const char *const names[3] = {"0-13", "14-16", "17+"};
  for (int k = 0; k < 3; k++)
    put_pct(b, "sdq_mean", "T", names[k], bands[k], count);
}

static void court_applications(struct bf *b) {
  double children = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    for (size_t m = 0; m < c->court.n; m++) {
      const int kind = c->court.v[m].value;
      if ((kind == CSCFLOW__V1__COURT_ORDER_KIND__COURT_ORDER_KIND_CARE ||
           kind == CSCFLOW__V1__COURT_ORDER_KIND__COURT_ORDER_KIND_SUPERVISION) &&
          in_window(c->court.v[m].date, b->T, W_6M)) {
        children++;
        break;
      }
    }
  }
  put_count(b, "court_applications", "6m", "", children, 1);
}

/* ---- workforce ---- */

/* The first day of the worker's spell of employment that includes T (their
 * employments run together where one starts as another ends); NEVER when
 * not employed on T. */
static csc_date spell_start(const struct child *c, csc_date T) {
  csc_date from = NEVER;
  for (size_t e = 0; e < c->employments.n; e++)
    if (open_on(&c->employments.v[e], T))
      from = c->employments.v[e].start;
  for (int moved = from != NEVER; moved;) {
    moved = 0;
    for (size_t e = 0; e < c->employments.n; e++) {
      const struct ep *job = &c->employments.v[e];
      if (job->start < from && job->end >= from) {
        from = job->start;
        moved = 1;
      }
    }
  }
  return from;
}

/* A leaving: an employment ended by LEFT, unless the worker starts again
 * the same day (docs/indicators.md: continuous employment). */
static int is_leaving(const struct child *c, const struct ep *job) {
  if (!job->left)
    return 0;
  for (size_t e = 0; e < c->employments.n; e++)
    if (c->employments.v[e].start == job->end)
      return 0;
  return 1;
}

/* The history of worker id in b (subject key 'w' + id); NULL for a worker
 * never seen. */
static const struct child *worker_named(const struct bf *b, const char *id) {
  char key[160];
  snprintf(key, sizeof key, "w%s", id); /* as subject_key; subjects are sorted by key */
  size_t lo = 0, hi = b->n_children;
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    const int c = strcmp(b->children[mid].key, key);
    if (c == 0)
      return &b->children[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* "A worker's allocations end when they leave, and children still allocated
 * to a leaver count as unallocated": whether the worker was a leaver (left,
 * and not started again) on some day of [from, T]. */
static int left_between(const struct bf *b, const char *worker, csc_date from, csc_date T) {
  const struct child *w = worker[0] != '\0' ? worker_named(b, worker) : NULL;
  for (size_t e = 0; w != NULL && e < w->employments.n; e++) {
    const struct ep *job = &w->employments.v[e];
    if (!is_leaving(w, job) || job->start >= job->end || job->end > T)
      continue;
    csc_date back = NEVER; /* the day they start again */
    for (size_t k = 0; k < w->employments.n; k++)
      if (w->employments.v[k].start > job->end && w->employments.v[k].start < back)
        back = w->employments.v[k].start;
    if (back > from)
      return 1;
  }
  return 0;
}

/* FTE is in hundredths (docs/indicators.md, Workforce), on both sides of
 * every ratio: 1.0 FTE counts 100. */
static void workforce(struct bf *b) {
  double posts = 0, vacant = 0, employed = 0, agency = 0, leavers = 0, absence = 0;
  double holding = 0, allocated = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    /* The post's latest status on or before T, with the post's FTE: the
     * latest recorded on a status up to it (a status with FTE 0 records none). */
    const struct mark *status = NULL;
    int fte = 0;
    for (size_t m = 0; m < c->posts.n; m++)
      if (c->posts.v[m].date <= b->T) {
        status = &c->posts.v[m];
        fte = status->value ? status->value : fte;
      }
    if (status != NULL) {
      posts += fte;
      if (status->period != CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED)
        vacant += fte; /* established or vacant: vacant until filled */
    }
    for (size_t e = 0; e < c->employments.n; e++) {
      const struct ep *job = &c->employments.v[e];
      if (open_on(job, b->T)) {
        employed += job->fte;
        agency += job->agency ? job->fte : 0;
      }
      if (is_leaving(c, job) && in_window(job->end, b->T, W_12M))
        leavers += job->fte;
    }
    /* Case-holding on T: "when their latest start or caseload report says
     * so": the latest of them on or before T (a report over a start of the
     * same day), made in the spell of employment T is in. */
    const struct mark *load = NULL;
    for (size_t m = 0; m < c->caseloads.n; m++)
      if (c->caseloads.v[m].date <= b->T)
        load = &c->caseloads.v[m];
    const struct ep *start = NULL;
    for (size_t e = 0; e < c->employments.n; e++)
      if (c->employments.v[e].start <= b->T &&
          (start == NULL || c->employments.v[e].start >= start->start))
        start = &c->employments.v[e];
    const int by_start = start != NULL && (load == NULL || start->start > load->date);
    const csc_date said_on = by_start ? start->start : load != NULL ? load->date : NEVER;
    const int says = by_start ? start->case_holding : load != NULL && load->case_holding;
    const csc_date spell = spell_start(c, b->T);
    holding += spell != NEVER && said_on != NEVER && said_on >= spell && says;
    for (size_t m = 0; m < c->absences.n; m++)
      absence += in_window(c->absences.v[m].date, b->T, W_12M) ? c->absences.v[m].value : 0;
    for (size_t a = 0; a < c->allocations.n && alive_on(c, b->T); a++) {
      const struct ep *al = &c->allocations.v[a];
      if (open_on(al, b->T) && !left_between(b, al->id, al->start, b->T)) {
        allocated++;
        break;
      }
    }
  }
  put_pct(b, "sw_vacancy_rate", "T", "", vacant, posts);
  put_pct(b, "sw_turnover_rate", "12m", "", leavers, employed);
  put_ratio(b, "sw_sickness", "12m", "", absence, employed, 100.0); /* days per whole FTE */
  put_pct(b, "sw_agency_rate", "T", "", agency, employed);
  put_ratio(b, "sw_caseload", "T", "", allocated, holding, 1.0);
}

/* ---- issue 16: reviews, missing from care, diversity ---------------------------------- */

/* docs/indicators.md: "A review is a ReviewHeld of kind CP (LAC) naming the
 * plan, or naming none and held on a day of it (s to e, e included)". A
 * review naming the plan is read as held on a day of it too (state/fold.c
 * calls one on no day of a plan review_outside_plan). */
static int reviews_plan(const struct mark *r, int review_kind, const struct ep *p) {
  if (r->value != review_kind || r->date < p->start || (p->end != NEVER && r->date > p->end))
    return 0;
  return r->id[0] == '\0' || strcmp(r->id, p->id) == 0;
}

/* "Reviews all held in time so far" on T, the first due on first_due: walk
 * the plan's reviews in date order; each due date that has passed (before
 * T: a review on its due date is in time) must have had a review on or
 * before it; the next falls due `second` months after the first review,
 * then 6 months after each one. */
static int reviews_in_time(const struct child *c, int review_kind, const struct ep *p,
                           csc_date first_due, int second, csc_date T) {
  csc_date due = first_due;
  int held = 0;
  for (size_t i = 0; i < c->reviews.n && due < T; i++) {
    const struct mark *r = &c->reviews.v[i];
    if (!reviews_plan(r, review_kind, p))
      continue;
    if (r->date > due)
      return 0; /* the due date passed with no review */
    due = date_add_months(r->date, held++ == 0 ? second : 6);
  }
  return due >= T;
}

/* "the 20th working day after s": the first day by which 20 working days
 * have passed, counted as wd() counts them (the calendar convention). */
static csc_date twentieth_working_day(const struct bf *b, csc_date s) {
  csc_date d = s;
  while (wd(b, s, d) < 20)
    d++;
  return d;
}

static void reviews_timely(struct bf *b) {
  const csc_date T = b->T;
  double cp_due = 0, cp_timely = 0, lac_due = 0, lac_timely = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    if (!alive_on(c, T))
      continue;
    int due = 0, late = 0;
    for (size_t p = 0; p < c->plans[CP].n; p++) {
      const struct ep *plan = &c->plans[CP].v[p];
      const csc_date first = date_add_months(plan->start, 3);
      if (!open_on(plan, T) || T < first)
        continue;
      due = 1;
      late |= !reviews_in_time(c, CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_CP, plan, first, 6, T);
    }
    cp_due += due;
    cp_timely += due && !late;
    due = late = 0;
    for (size_t p = 0; p < c->plans[LAC].n; p++) {
      const struct ep *period = &c->plans[LAC].v[p];
      if (!period_looked_after_on(c, (int)p, T))
        continue;
      const csc_date first = twentieth_working_day(b, period->start);
      if (T < first)
        continue;
      due = 1;
      /* A period whose start is unknown: its first review seen is due
       * within 6 months of its first recorded day, each later one 6 months
       * after the previous (docs/indicators.md). */
      const int unknown = period->start_unknown;
      late |= !reviews_in_time(c, CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC, period,
                               unknown ? date_add_months(period->start, 6) : first,
                               unknown ? 6 : 3, T);
    }
    lac_due += due;
    lac_timely += due && !late;
  }
  put_pct(b, "cp_reviews_timely", "T", "", cp_timely, cp_due);
  put_pct(b, "lac_reviews_timely", "T", "", lac_timely, lac_due);
}

/* missing_from_care, one window and kind (0 missing, 1 away): "children with
 * a missing (away) incident starting in the window on a day they were
 * looked after (a care span) / children looked after on some day of the
 * window"; the incidents; incidents per child with one. "An incident of no
 * recorded kind is missing." */
static void missing_kind(struct bf *b, enum win w, int away) {
  static const char *const kinds[2] = {"missing", "away"};
  const csc_date first = window_first(b->T, w);
  double children = 0, with_one = 0, incidents = 0;
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    const csc_date last = alive_on(c, b->T) ? b->T : c->death;
    int looked_after = 0;
    for (size_t s = 0; s < c->spans.n; s++)
      looked_after |= open_during(&c->spans.v[s], first, last);
    children += looked_after;
    double mine = 0;
    for (size_t m = 0; m < c->missing.n; m++) {
      const struct mark *x = &c->missing.v[m];
      const int is_away = x->value == CSCFLOW__V1__MISSING_KIND__MISSING_KIND_AWAY;
      mine += is_away == away && in_window(x->date, b->T, w) && care_span_on(c, x->date) != NULL;
    }
    incidents += mine;
    with_one += mine > 0;
  }
  char bd[32];
  put_pct(b, "missing_from_care", WIN_NAMES[w], kinds[away], with_one, children);
  snprintf(bd, sizeof bd, "%s,incidents", kinds[away]);
  put_count(b, "missing_from_care", WIN_NAMES[w], bd, incidents, 0);
  snprintf(bd, sizeof bd, "%s,per_child", kinds[away]);
  put_ratio(b, "missing_from_care", WIN_NAMES[w], bd, incidents, with_one, 1.0);
}

static void missing_from_care(struct bf *b) {
  for (int away = 0; away < 2; away++) {
    missing_kind(b, W_12M, away);
    missing_kind(b, W_FYTD, away);
  }
}

/* sw_diversity's groups: "W* white, M* mixed, A* and CHNE asian, B* black,
 * OOTH other; REFU, NOBT, none or unknown: not known" (a code in no list,
 * ETHNICITIES, is unknown). */
enum { DG_WHITE, DG_MIXED, DG_ASIAN, DG_BLACK, DG_OTHER, DG_NOT_KNOWN, DG_N };
static const char *const DIVERSITY_GROUPS[DG_N] = {"white", "mixed", "asian",
                                                   "black", "other", "not_known"};
static const char *const LEVELS[4] = {"", "practitioner", "senior_practitioner_team_manager",
                                      "service_manager_and_above"};

static int diversity_group(const char *code) {
  if (code == NULL || !in_list(ETHNICITIES, code) || strcmp(code, "REFU") == 0 ||
      strcmp(code, "NOBT") == 0)
    return DG_NOT_KNOWN;
  if (strcmp(code, "CHNE") == 0)
    return DG_ASIAN;
  if (strcmp(code, "OOTH") == 0)
    return DG_OTHER;
  return code[0] == 'W' ? DG_WHITE
         : code[0] == 'M' ? DG_MIXED
         : code[0] == 'A' ? DG_ASIAN
         : code[0] == 'B' ? DG_BLACK
                          : DG_NOT_KNOWN;
}

/* "FTE employed on T whose ethnicity (the latest STARTED's CSWW code) is in
 * the DfE major group / all FTE employed on T; by level: the level's FTE in
 * the group / the level's FTE. A worker of no recorded seniority counts only
 * in the overall rows." The employment open on T is the latest STARTED's. */
static void sw_diversity(struct bf *b) {
  double fte[4][DG_N] = {{0}}, all[4] = {0};
  for (size_t i = 0; i < b->n_children; i++) {
    const struct child *c = &b->children[i];
    for (size_t e = 0; e < c->employments.n; e++) {
      const struct ep *job = &c->employments.v[e];
      if (!open_on(job, b->T))
        continue;
      const int g = diversity_group(job->code);
      const int level = job->seniority >= 1 && job->seniority <= 3 ? job->seniority : 0;
      fte[0][g] += job->fte;
      all[0] += job->fte;
      if (level > 0) {
        fte[level][g] += job->fte;
        all[level] += job->fte;
      }
    }
  }
  for (int g = 0; g < DG_N; g++)
    put_pct(b, "sw_diversity", "T", DIVERSITY_GROUPS[g], fte[0][g], all[0]);
  for (int level = 1; level < 4; level++)
    for (int g = 0; g < DG_N; g++) {
      char bd[64];
      snprintf(bd, sizeof bd, "%s,%s", LEVELS[level], DIVERSITY_GROUPS[g]);
      put_pct(b, "sw_diversity", "T", bd, fte[level][g], all[level]);
    }
}

/* ---- all of it ---- */

static void compute(struct bf *b) {
  size_t most = 1;
  for (size_t i = 0; i < b->n_children; i++)
    most += b->children[i].assessments.n + b->children[i].icpcs.n + b->children[i].referrals.n;
  int *scratch = malloc(most * sizeof *scratch);
  if (scratch == NULL) {
    b->oom = 1;
    return;
  }
  const unsigned g = b->o->groups;
  if (g & BF_CORE) {
    core_referrals(b);
    core_plans(b);
    core_placements_3plus(b);
  }
  if (g & BF_ACTIVITY) {
    referrals_by_source(b);
    referral_outcome(b);
    activity_counts(b);
    cp_plan_starts(b);
    assessment_factors(b);
    nfa_reassessed(b);
  }
  if (g & BF_TIMELINESS) {
    referral_to_assessment(b, scratch);
    s47_to_icpc(b, scratch);
    cin_episode_duration(b, scratch);
  }
  if (g & BF_PLANS) {
    children_in_need(b);
    ended_plans_over(b);
    repeat_plan(b);
    seen_per_plan(b);
    cin_closed_after_step_down(b);
    reviews_timely(b);
  }
  if (g & BF_OUTCOMES) {
    placement_stability_long(b);
    placement_changes_avg(b);
    placement_type_mix(b);
    placement_distance(b);
    care_entries(b);
    care_exits_permanence(b);
    reunification_sustained(b);
    adoption_timeliness(b);
    early_permanence(b);
    care_leavers(b);
    sdq_mean(b);
    court_applications(b);
    missing_from_care(b);
  }
  if (g & BF_WORKFORCE) {
    workforce(b);
    sw_diversity(b);
  }
  free(scratch);
}

int bf_compute(const Ev *const *events, size_t n, const char *la, csc_date T,
               const struct bf_options *o, struct bf_result *out) {
  memset(out, 0, sizeof *out);
  struct bf b = {.o = o, .T = T, .out = out};
  arena_init(&b.a, 1 << 16);
  int rc = make_subjects(&b, events, n, la);
  for (size_t i = 0; rc == CSC_OK && i < b.n_children && !b.oom; i++)
    fold_child(&b, &b.children[i]);
  if (rc == CSC_OK && !b.oom) {
    count_findings(&b);
    compute(&b);
  }
  out->subjects = b.n_children;
  arena_free(&b.a);
  if (rc == CSC_OK && b.oom)
    rc = CSC_ENOMEM;
  if (rc != CSC_OK)
    bf_result_free(out);
  return rc;
}

void bf_result_free(struct bf_result *r) {
  free(r->values);
  r->values = NULL;
  r->n = r->cap = 0;
}

const struct bf_value *bf_find(const struct bf_result *r, const char *id, const char *window,
                               const char *breakdown) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->values[i].id, id) == 0 && strcmp(r->values[i].window, window) == 0 &&
        strcmp(r->values[i].breakdown, breakdown) == 0)
      return &r->values[i];
  return NULL;
}
