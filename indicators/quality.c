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

static int emit_finding(const char *la, const char *child, csc_date as_of, const struct finding *f,
                        int status, struct output *out) {
  char event_id[sizeof f->event_id], id[STATE_MAX_KEY];
  snprintf(event_id, sizeof event_id, "%s", f->event_id);
  const int n = snprintf(id, sizeof id, "%s:%s:%s:%s", la, child, quality_rule_ids[f->rule], event_id);
  if (n <= 0 || (size_t)n >= sizeof id)
    return CSC_EINVAL;
  Cscflow__V1__QualityFinding q = CSCFLOW__V1__QUALITY_FINDING__INIT;
  q.la_code = (char *)la;
  q.child_id = (char *)child;
  q.rule = (char *)quality_rule_ids[f->rule];
  q.event_id = event_id;
  q.finding_id = id;
  q.has_as_of = q.has_status = 1;
  q.as_of = date_to_yyyymmdd(as_of);
  q.status = (Cscflow__V1__FindingStatus)status;
  uint8_t buf[2048];
  const size_t len = cscflow__v1__quality_finding__get_packed_size(&q);
  if (len > sizeof buf)
    return CSC_EINVAL;
  cscflow__v1__quality_finding__pack(&q, buf);
  const int rc = out->emit(out, TOPIC_QUALITY, id, buf, len);
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
