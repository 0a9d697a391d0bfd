/*
 * coverage.c — which values an LA's feeds can support (issue 19, item 4).
 *
 * An LA that sends only the DfE CSC API feed (or imports only one return)
 * sends nothing about, say, CP categories or visits: a value computed from
 * nothing is 0, and 0 would read as "none". So each indicator names the
 * aspects of the data it needs, each feed the aspects it carries, and a
 * value whose needs an LA's feeds do not meet is flagged unavailable in the
 * snapshot (IndicatorValue.unavailable), the figures still computed from
 * what there is. docs/feeds.md has the table in words.
 *
 * The feeds an LA uses come from cscflow.feeds.<LA> (its canonical code, or
 * an alias of it, cscflow.la.alias.*, filed under the canonical code), a
 * comma-separated list of: events (a case-management feed of CaseEvents:
 * everything), ssda903, cin_census, dfe_csc_api. An LA with no such key is
 * taken to send everything (no value flagged).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indicators/indicators.h"
#include "ingest/ingest.h"

enum {
  REF = 1u << 0,      /* referrals: date, source, NFA, closure */
  ASMT = 1u << 1,     /* assessments and their factors */
  S47 = 1u << 2,      /* Section 47 enquiries and conferences */
  CINP = 1u << 3,     /* CIN plans */
  CPP = 1u << 4,      /* CP plans: start and end */
  CPCAT = 1u << 5,    /* CP plans' categories of abuse */
  CPREV = 1u << 6,    /* CP review conferences */
  EH = 1u << 7,       /* early help */
  VISIT = 1u << 8,    /* visits (child seen) */
  LAC = 1u << 9,      /* periods of care: start and end */
  PLACE = 1u << 10,   /* placements and moves */
  LEGAL = 1u << 11,   /* legal status (V3/V4 short breaks) */
  CEASED = 1u << 12,  /* reason a period of care ceased */
  DIST = 1u << 13,    /* placement distance from home */
  ADOPT = 1u << 14,   /* adoption decision, match, placement, order made */
  PORDER = 1u << 15,  /* placement order */
  EPERM = 1u << 16,   /* early permanence */
  LACREV = 1u << 17,  /* looked-after children's reviews */
  MISSING = 1u << 18, /* missing and away episodes */
  LEAVER = 1u << 19,  /* care leavers' contacts */
  SDQ = 1u << 20,     /* SDQ scores */
  COURT = 1u << 21,   /* court applications */
  WORK = 1u << 22,    /* the workforce */
  UASC = 1u << 23,    /* UASC status */
  OUTCOME = 1u << 24, /* assessments' outcomes (NFA) */
  CPPRIOR = 1u << 25, /* the CP plans a child had before the history (previous_cp_plans) */
  TOUCH = 1u << 26,   /* whether a care leaver is in touch */
};

static const struct {
  const char *name;
  uint32_t carries;
} feeds[] = {
    {"events", COVERAGE_ALL},
    {"ssda903",
     LAC | PLACE | LEGAL | CEASED | ADOPT | PORDER | LACREV | MISSING | LEAVER | TOUCH | SDQ | UASC},
    {"cin_census", REF | ASMT | S47 | CINP | CPP | CPCAT | CPREV | CPPRIOR},
    /* The document lacks CP categories, CP and LAC reviews, visits, early
     * help, legal status, placement distance, the placement order, early
     * permanence, missing episodes, court applications, the workforce,
     * assessments' outcomes, CP plans before the window and whether a care
     * leaver is in touch (its care_leavers item is the latest contact's
     * activity and accommodation only); periods of care come from its
     * placements' RNE and reason ceased. tests/test_feed_roundtrip.c checks
     * that what this claims gives the values the events give. */
    {"dfe_csc_api", REF | ASMT | S47 | CINP | CPP | LAC | PLACE | CEASED | ADOPT | LEAVER | SDQ | UASC},
};

/* The aspects of a plan kind ("EH", "CIN", "CP", "LAC": a breakdown's first part). */
static uint32_t kind_needs(const char *breakdown) {
  if (strncmp(breakdown, "EH", 2) == 0)
    return EH;
  if (strncmp(breakdown, "CIN", 3) == 0)
    return CINP;
  if (strncmp(breakdown, "CP", 2) == 0)
    return CPP;
  if (strncmp(breakdown, "LAC", 3) == 0)
    return LAC | LEGAL;
  return 0;
}

static const struct {
  const char *id;
  uint32_t needs;
  int by_kind; /* the breakdown's first part is a plan kind, which adds its needs */
} rules[] = {
    {"referrals", REF, 0},
    {"referrals_by_source", REF, 0},
    {"rereferrals", REF, 0},
    {"referral_outcome", REF | ASMT | EH | CINP | CPP | LAC | LEGAL, 0},
    {"assessments", ASMT, 0},
    {"assessment_factors", ASMT, 0},
    {"nfa_reassessed", REF | ASMT | OUTCOME, 0},
    {"s47_enquiries", S47, 0},
    {"icpcs", S47, 0},
    {"cp_plan_starts", CPP, 0}, /* by category: CPCAT, below */
    {"referral_to_assessment_wd", REF | ASMT, 0},
    {"s47_to_icpc_wd", S47, 0},
    {"cin_episode_duration", REF, 0},
    {"children_in_need", REF | CPP | LAC, 0},
    {"children_on_plan", 0, 1},
    {"open_plans_over", 0, 1},
    {"ended_plans_over", 0, 1},
    {"repeat_plan", 0, 1},
    {"seen_per_plan", VISIT, 1},
    {"cin_closed_after_step_down", REF, 0}, /* and by breakdown, below */
    {"cp_reviews_timely", CPP | CPREV, 0},
    {"lac_reviews_timely", LAC | LEGAL | LACREV, 0},
    {"placements_3plus", LAC | PLACE | LEGAL, 0},
    {"placement_stability_long", LAC | PLACE | LEGAL | ADOPT, 0},
    {"placement_changes_avg", LAC | PLACE | LEGAL, 0},
    {"placement_type_mix", LAC | PLACE | LEGAL, 0},
    {"placement_distance", LAC | PLACE | DIST, 0},
    {"care_entries", LAC | LEGAL, 0},
    {"care_exits_permanence", LAC | LEGAL | CEASED, 0},
    {"reunification_sustained", LAC | CEASED, 0},
    {"adoption_timeliness", LAC | ADOPT, 0}, /* A2: PORDER, below */
    {"early_permanence", EPERM, 0},
    {"missing_from_care", LAC | LEGAL | MISSING, 0},
    {"care_leavers", LEAVER | TOUCH, 0},
    {"sdq_mean", LAC | LEGAL | SDQ, 0},
    {"court_applications", COURT, 0},
};

uint32_t coverage_needs(const char *id, const char *breakdown) {
  if (strncmp(id, "sw_", 3) == 0)
    return WORK;
  for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
    if (strcmp(rules[i].id, id) != 0)
      continue;
    uint32_t needs = rules[i].needs | (rules[i].by_kind ? kind_needs(breakdown) : 0);
    if (strcmp(id, "cp_plan_starts") == 0 && breakdown[0] != '\0')
      needs |= CPCAT;
    if (strcmp(id, "adoption_timeliness") == 0 && strcmp(breakdown, "A2") == 0)
      needs = ADOPT | PORDER;
    if (strcmp(id, "care_entries") == 0 && breakdown[0] != '\0')
      needs |= UASC;
    if (strcmp(id, "cin_closed_after_step_down") == 0) /* a period's last day not V3/V4 */
      needs |= strcmp(breakdown, "after_LAC") == 0 ? LAC | LEGAL : CPP;
    if (strcmp(id, "repeat_plan") == 0 && strcmp(breakdown, "CP,ever") == 0)
      needs |= CPPRIOR; /* "a CP plan also when its start records previous_cp_plans >= 1" */
    return needs;
  }
  return 0;
}

int coverage_feed(const char *name, uint32_t *carries) {
  for (size_t i = 0; i < sizeof feeds / sizeof *feeds; i++)
    if (strcmp(feeds[i].name, name) == 0) {
      *carries = feeds[i].carries;
      return CSC_OK;
    }
  return CSC_EINVAL;
}

void coverage_mark(uint32_t carries, Cscflow__V1__IndicatorValue **values, size_t n) {
  /* Feeds that carry everything flag nothing: most LAs, and the lookup of
   * every value's needs by name was a quarter of a one-event batch's
   * snapshot. */
  if (carries == COVERAGE_ALL)
    return;
  for (size_t i = 0; i < n; i++) {
    const uint32_t needs = coverage_needs(values[i]->id, values[i]->breakdown);
    if ((needs & ~carries) != 0) {
      values[i]->has_unavailable = 1;
      values[i]->unavailable = 1;
    }
  }
}

/* ---- the LAs' feeds from configuration ----------------------------------------------- */

static int listed(const struct coverage *c, const char *la) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->las[i].la, la) == 0)
      return 1;
  return 0;
}

int coverage_load(struct coverage *c, const struct config *cfg, const struct la_registry *las,
                  char *err, size_t errlen) {
  static const char prefix[] = "cscflow.feeds.";
  memset(c, 0, sizeof *c);
  for (size_t i = 0; i < cfg->n; i++) {
    const char *key = cfg->entries[i].key, *value = cfg->entries[i].value;
    if (strncmp(key, prefix, sizeof prefix - 1) != 0)
      continue;
    const char *la = key + sizeof prefix - 1, *why = NULL;
    if (!ingest_la_code_valid(la)) {
      snprintf(err, errlen, "%s: not an LA code", key);
      return CSC_EINVAL;
    }
    /* The LA's canonical code, the one its snapshots are made under: an
     * alias (the DfE number a feed client's la names) would otherwise be a
     * key no LA ever looks up, and every value would stay unflagged. */
    const char *canonical = las != NULL ? la_registry_resolve(las, la, &why) : la;
    if (canonical == NULL) {
      snprintf(err, errlen, "%s: %s", key, why ? why : "not an LA this deployment serves");
      return CSC_EINVAL;
    }
    if (listed(c, canonical)) {
      snprintf(err, errlen, "%s: the feeds of %s are set twice (cscflow.la.alias.* makes %s and %s "
                            "one LA)", key, canonical, la, canonical);
      return CSC_EINVAL;
    }
    uint32_t carries = 0;
    char name[32];
    for (const char *p = value; *p != '\0';) {
      const size_t n = strcspn(p, ",");
      size_t a = 0, b = n;
      while (a < b && p[a] == ' ')
        a++;
      while (b > a && p[b - 1] == ' ')
        b--;
      uint32_t one;
      if (b - a >= sizeof name) {
        snprintf(err, errlen, "%s: a feed name too long", key);
        return CSC_EINVAL;
      }
      memcpy(name, p + a, b - a);
      name[b - a] = '\0';
      if (coverage_feed(name, &one) != CSC_OK) {
        snprintf(err, errlen, "%s: %s is not a feed (events, ssda903, cin_census, dfe_csc_api)",
                 key, name);
        return CSC_EINVAL;
      }
      carries |= one;
      p += n + (p[n] == ',');
    }
    if (c->n == COVERAGE_MAX_LAS) {
      snprintf(err, errlen, "cscflow.feeds: more than %d LAs", COVERAGE_MAX_LAS);
      return CSC_EINVAL;
    }
    snprintf(c->las[c->n].la, sizeof c->las[c->n].la, "%s", canonical);
    c->las[c->n++].carries = carries;
  }
  return CSC_OK;
}

uint32_t coverage_for(const struct coverage *c, const char *la) {
  for (size_t i = 0; c != NULL && i < c->n; i++)
    if (strcmp(c->las[i].la, la) == 0)
      return c->las[i].carries;
  return COVERAGE_ALL;
}
