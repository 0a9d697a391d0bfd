/*
 * Data-quality findings on csc.quality.v1. A finding is (child, rule,
 * event); the fold recomputes a child's findings on every event, so a later
 * event or a correction can resolve one as well as raise it: both are
 * published, keyed by the finding id, so that a compacted topic holds each
 * finding's latest status. The counts per rule are facts (M_QUALITY), in
 * the LA's snapshot.
 */
#include <string.h>

#include "indicators/indicators.h"

static int has_finding(const struct finding *v, size_t n, const struct finding *x) {
  for (size_t i = 0; i < n; i++)
    if (v[i].rule == x->rule && strcmp(v[i].event_id, x->event_id) == 0)
      return 1;
  return 0;
}

/* The finding id: la, the child's history subject (escaped already), the
 * rule and the event id, joined by ':' with '%' and ':' escaped inside ids.
 * CSC_EFULL when it does not fit in len. */
static int finding_id(char *buf, size_t len, const char *la, const char *subject, int rule,
                      const char *event_id) {
  size_t n = 0;
  buf[0] = '\0';
  int rc = key_append(buf, len, &n, ':', la);
  if (rc == CSC_OK)
    rc = key_append_key(buf, len, &n, ':', subject);
  if (rc == CSC_OK)
    rc = key_append(buf, len, &n, ':', quality_rule_ids[rule]);
  return rc == CSC_OK ? key_append(buf, len, &n, ':', event_id) : rc;
}

/* A tombstone for the id the finding had before ids were escaped
 * ("la:child:rule:event", ids as they are), when that differs and cannot be
 * any finding's id now: 4 components, or 5 with "worker" or "post" second.
 * raw_subject is the subject unescaped. */
static int delete_legacy(const char *id, const char *la, const char *raw_subject, int rule,
                         const char *event_id, struct output *out) {
  char old[FINDING_ID_MAX];
  const int n =
      snprintf(old, sizeof old, "%s:%s:%s:%s", la, raw_subject, quality_rule_ids[rule], event_id);
  if (n <= 0 || (size_t)n >= sizeof old || strcmp(old, id) == 0)
    return CSC_OK;
  const int fields = key_fields(old, ':');
  const char *second = strchr(old, ':') + 1;
  if (fields == 4 || (fields == 5 && (strncmp(second, "worker:", 7) == 0 ||
                                      strncmp(second, "post:", 5) == 0)))
    return CSC_OK; /* may be the live id of another finding: leave it */
  return out->emit(out, TOPIC_QUALITY, old, NULL, 0);
}

static int emit_finding(const char *la, const char *child, csc_date as_of, const struct finding *f,
                        int status, struct output *out) {
  char event_id[sizeof f->event_id], id[FINDING_ID_MAX], raw_child[HISTORY_SUBJECT_MAX];
  snprintf(event_id, sizeof event_id, "%s", f->event_id);
  int rc = finding_id(id, sizeof id, la, child, f->rule, event_id);
  if (rc == CSC_OK)
    rc = key_unescape(child, raw_child, sizeof raw_child); /* messages carry raw ids */
  if (rc == CSC_OK)
    rc = delete_legacy(id, la, raw_child, f->rule, event_id, out);
  if (rc != CSC_OK)
    return rc == CSC_EFULL ? CSC_EINVAL : rc;
  Cscflow__V1__QualityFinding q = CSCFLOW__V1__QUALITY_FINDING__INIT;
  q.la_code = (char *)la;
  q.child_id = raw_child;
  q.rule = (char *)quality_rule_ids[f->rule];
  q.event_id = event_id;
  q.finding_id = id;
  q.has_as_of = q.has_status = 1;
  q.as_of = date_to_yyyymmdd(as_of);
  q.status = (Cscflow__V1__FindingStatus)status;
  uint8_t buf[2 * FINDING_ID_MAX];
  const size_t len = cscflow__v1__quality_finding__get_packed_size(&q);
  if (len > sizeof buf)
    return CSC_EINVAL;
  cscflow__v1__quality_finding__pack(&q, buf);
  rc = out->emit(out, TOPIC_QUALITY, id, buf, len);
  if (rc == CSC_OK && status == CSCFLOW__V1__FINDING_STATUS__FINDING_STATUS_OPEN)
    out->findings_opened++;
  else if (rc == CSC_OK)
    out->findings_resolved++;
  return rc;
}

int quality_emit_changes(const char *la, const char *child, csc_date as_of,
                         const struct finding *before, size_t n_before,
                         const struct finding *after, size_t n_after, struct output *out) {
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < n_after; i++)
    if (!has_finding(before, n_before, &after[i]))
      rc = emit_finding(la, child, as_of, &after[i],
                        CSCFLOW__V1__FINDING_STATUS__FINDING_STATUS_OPEN, out);
  for (size_t i = 0; rc == CSC_OK && i < n_before; i++)
    if (!has_finding(after, n_after, &before[i]))
      rc = emit_finding(la, child, as_of, &before[i],
                        CSCFLOW__V1__FINDING_STATUS__FINDING_STATUS_RESOLVED, out);
  return rc;
}
