/*
 * las.c — which LAs a deployment serves, and the one code each is known by
 * (ingest.h, "LA codes"). Feeds name an LA by its DfE number ("201") or its
 * ONS code ("E09000001"); an LA keyed two ways would be two LAs, on two
 * partitions, with two snapshots. The mapping makes the two one: every
 * event is filed, keyed, published and served under the canonical code.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

#define ALIAS_PREFIX "cscflow.la.alias."

static int list_has(char (*v)[LA_CODE_SIZE], size_t n, const char *code) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], code) == 0)
      return 1;
  return 0;
}

/* Appends the comma- or space-separated codes of s to the allow-list. */
static int load_allow_list(struct la_registry *r, const char *s, char *err, size_t errlen) {
  size_t cap = 1;
  for (const char *p = s; *p; p++)
    cap += *p == ',' || *p == ' ';
  r->allowed = calloc(cap, sizeof *r->allowed);
  if (r->allowed == NULL) {
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  r->has_allow_list = 1;
  for (const char *p = s; *p;) {
    const size_t n = strcspn(p, ", ");
    if (n > 0) {
      char code[16];
      snprintf(code, sizeof code, "%.*s", (int)(n < 15 ? n : 15), p);
      if (n >= LA_CODE_SIZE || !ingest_la_code_valid(code)) {
        snprintf(err, errlen, "cscflow.las: %.*s: not a DfE LA number or ONS code",
                 (int)(n < 40 ? n : 40), p);
        return CSC_EINVAL;
      }
      if (!list_has(r->allowed, r->n_allowed, code))
        memcpy(r->allowed[r->n_allowed++], code, n + 1);
    }
    p += n;
    p += *p != '\0';
  }
  return CSC_OK;
}

static int load_alias(struct la_registry *r, const char *key, const char *value, char *err,
                      size_t errlen) {
  const char *code = key + strlen(ALIAS_PREFIX);
  if (strlen(code) >= LA_CODE_SIZE || !ingest_la_code_valid(code)) {
    snprintf(err, errlen, "%s: not a DfE LA number or ONS code", key);
    return CSC_EINVAL;
  }
  if (strlen(value) >= LA_CODE_SIZE || !ingest_la_code_valid(value) || strcmp(code, value) == 0) {
    snprintf(err, errlen, "%s: expected another LA's code (DfE number or ONS code)", key);
    return CSC_EINVAL;
  }
  struct la_alias *a = &r->aliases[r->n_aliases++];
  snprintf(a->code, sizeof a->code, "%s", code);
  snprintf(a->canonical, sizeof a->canonical, "%s", value);
  return CSC_OK;
}

/* A canonical code is never itself an alias (one step names the LA), and
 * with an allow-list it is on it. */
static int check_aliases(const struct la_registry *r, char *err, size_t errlen) {
  for (size_t i = 0; i < r->n_aliases; i++) {
    const struct la_alias *a = &r->aliases[i];
    for (size_t j = 0; j < r->n_aliases; j++)
      if (strcmp(r->aliases[j].code, a->canonical) == 0) {
        snprintf(err, errlen, ALIAS_PREFIX "%s: %s is an alias itself; name its canonical code",
                 a->code, a->canonical);
        return CSC_EINVAL;
      }
    if (r->has_allow_list && !list_has(r->allowed, r->n_allowed, a->canonical)) {
      snprintf(err, errlen, ALIAS_PREFIX "%s: %s is not in cscflow.las", a->code, a->canonical);
      return CSC_EINVAL;
    }
  }
  return CSC_OK;
}

int la_registry_load(struct la_registry *r, const struct config *cfg, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  const char *list = config_get(cfg, "cscflow.las");
  int rc = list != NULL ? load_allow_list(r, list, err, errlen) : CSC_OK;
  if (rc == CSC_OK && (r->aliases = calloc(cfg->n ? cfg->n : 1, sizeof *r->aliases)) == NULL) {
    snprintf(err, errlen, "out of memory");
    rc = CSC_ENOMEM;
  }
  for (size_t i = 0; rc == CSC_OK && i < cfg->n; i++)
    if (strncmp(cfg->entries[i].key, ALIAS_PREFIX, strlen(ALIAS_PREFIX)) == 0)
      rc = load_alias(r, cfg->entries[i].key, cfg->entries[i].value, err, errlen);
  if (rc == CSC_OK)
    rc = check_aliases(r, err, errlen);
  if (rc != CSC_OK)
    la_registry_free(r);
  return rc;
}

void la_registry_free(struct la_registry *r) {
  free(r->allowed);
  free(r->aliases);
  memset(r, 0, sizeof *r);
}

const char *la_registry_resolve(const struct la_registry *r, const char *code,
                                const char **reason) {
  if (!ingest_la_code_valid(code)) {
    *reason = "la_code: not a DfE LA number or ONS code";
    return NULL;
  }
  const char *canonical = code;
  for (size_t i = 0; r != NULL && i < r->n_aliases; i++)
    if (strcmp(r->aliases[i].code, code) == 0)
      canonical = r->aliases[i].canonical;
  if (r != NULL && r->has_allow_list && !list_has(r->allowed, r->n_allowed, canonical)) {
    *reason = "la_code: not in cscflow.las";
    return NULL;
  }
  return canonical;
}
