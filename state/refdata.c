/*
 * Reference data loaded at run time: the bank-holiday calendar and the
 * per-LA visit intervals of seen_per_plan. Configuration (flat keys):
 *   cscflow.calendar.bank_holidays   path of the bank-holiday file
 *                                    (default: the file shipped in reference/)
 *   cscflow.calendar.inclusive       true: a working-day span counts its first day
 *   cscflow.codes.file               path of the code lists (default: code-lists.csv
 *                                    beside the default bank-holiday file)
 *   cscflow.visits.default.<KIND>    visit interval of CIN, CP (working days), LAC (days)
 *   cscflow.visits.<LA>.<KIND>       the same for one LA
 */
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

static int kind_of(const char *name) {
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    if (strcmp(plan_kind_names[k], name) == 0)
      return k;
  return -1;
}

static struct refdata_la *la_entry(struct refdata *r, const char *la) {
  for (size_t i = 0; i < r->n_las; i++)
    if (strcmp(r->las[i].la, la) == 0)
      return &r->las[i];
  struct refdata_la *v = realloc(r->las, (r->n_las + 1) * sizeof *v);
  if (v == NULL)
    return NULL;
  r->las = v;
  struct refdata_la *e = &v[r->n_las++];
  snprintf(e->la, sizeof e->la, "%s", la);
  e->ref = r->defaults;
  return e;
}

/* Takes one "cscflow.visits.<who>.<KIND>" key. */
static int visit_key(struct refdata *r, const char *key, const char *value, char *err,
                     size_t errlen) {
  const char *who = key + strlen("cscflow.visits.");
  const char *dot = strrchr(who, '.');
  char *end;
  const long days = strtol(value, &end, 10);
  const int kind = dot ? kind_of(dot + 1) : -1;
  if (dot == NULL || dot == who || (size_t)(dot - who) >= sizeof r->las[0].la || kind < 0 ||
      kind == PLAN_EH || *end != '\0' || end == value || days < 1 || days > 366) {
    snprintf(err, errlen, "%s: expected cscflow.visits.<LA or default>.<CIN|CP|LAC> = 1..366",
             key);
    return CSC_EINVAL;
  }
  char la[24];
  snprintf(la, sizeof la, "%.*s", (int)(dot - who), who);
  if (strcmp(la, "default") == 0) {
    r->defaults.visit_interval[kind] = (int)days;
    return CSC_OK;
  }
  struct refdata_la *e = la_entry(r, la);
  if (e == NULL)
    return CSC_ENOMEM;
  e->ref.visit_interval[kind] = (int)days;
  e->set[kind] = 1;
  return CSC_OK;
}

/* The code lists: cscflow.codes.file, or code-lists.csv in the directory of
 * the shipped bank-holiday file (the shipped reference data travel together). */
static int load_codes(struct refdata *r, const struct config *cfg, const char *default_holidays,
                      char *err, size_t errlen) {
  const char *path = config_get(cfg, "cscflow.codes.file");
  char buf[4096];
  if (path == NULL) {
    const char *slash = strrchr(default_holidays, '/');
    const int dir = slash != NULL ? (int)(slash - default_holidays) + 1 : 0;
    if (snprintf(buf, sizeof buf, "%.*s%s", dir, default_holidays, REFDATA_CODES_FILE) >=
        (int)sizeof buf) {
      snprintf(err, errlen, "%s: path too long", default_holidays);
      return CSC_EINVAL;
    }
    path = buf;
  }
  return code_lists_load(&r->codes, path, err, errlen);
}

int refdata_load(struct refdata *r, const struct config *cfg, const char *default_holidays,
                 char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  derive_ref_default(&r->defaults);
  const char *path = config_get(cfg, "cscflow.calendar.bank_holidays");
  if (path == NULL)
    path = default_holidays;
  int rc = workdays_load(&r->wd, path, err, errlen);
  if (rc != CSC_OK)
    return rc;
  if ((rc = load_codes(r, cfg, default_holidays, err, errlen)) != CSC_OK) {
    workdays_free(&r->wd);
    return rc;
  }
  const char *inclusive = config_get(cfg, "cscflow.calendar.inclusive");
  r->wd.inclusive = inclusive != NULL && strcmp(inclusive, "true") == 0;
  for (size_t i = 0; rc == CSC_OK && i < cfg->n; i++)
    if (strncmp(cfg->entries[i].key, "cscflow.visits.", 15) == 0)
      rc = visit_key(r, cfg->entries[i].key, cfg->entries[i].value, err, errlen);
  /* An LA's own keys override the defaults, whatever the order of the file. */
  for (size_t i = 0; rc == CSC_OK && i < r->n_las; i++)
    for (int k = 0; k < PLAN_KIND_COUNT; k++)
      if (!r->las[i].set[k])
        r->las[i].ref.visit_interval[k] = r->defaults.visit_interval[k];
  r->defaults.wd = &r->wd;
  r->defaults.codes = &r->codes;
  for (size_t i = 0; i < r->n_las; i++) {
    r->las[i].ref.wd = &r->wd;
    r->las[i].ref.codes = &r->codes;
  }
  if (rc != CSC_OK)
    refdata_free(r);
  return rc;
}

void refdata_free(struct refdata *r) {
  workdays_free(&r->wd);
  code_lists_free(&r->codes);
  free(r->las);
  memset(r, 0, sizeof *r);
}

const struct derive_ref *refdata_for(const struct refdata *r, const char *la) {
  if (r == NULL)
    return NULL;
  for (size_t i = 0; i < r->n_las; i++)
    if (strcmp(r->las[i].la, la) == 0)
      return &r->las[i].ref;
  return &r->defaults;
}
