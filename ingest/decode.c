#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

/* Confluent's message indexes are zigzag-encoded varints. */
static size_t read_zigzag(const uint8_t *buf, size_t len, int64_t *out) {
  uint64_t v;
  size_t used = varint_decode(buf, len, &v);
  if (used)
    *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
  return used;
}

int ingest_unframe(const uint8_t *buf, size_t len, const uint8_t **pb, size_t *pb_len,
                   uint32_t *schema_id, const char **reason) {
  if (len == 0) {
    *reason = "empty message";
    return CSC_EINVAL;
  }
  if (buf[0] != 0) {
    *pb = buf;
    *pb_len = len;
    *schema_id = 0;
    return CSC_OK;
  }
  if (len < 6) {
    *reason = "truncated Confluent header";
    return CSC_EINVAL;
  }
  *schema_id = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
  size_t pos = 5;
  int64_t count;
  size_t used = read_zigzag(buf + pos, len - pos, &count);
  if (used == 0 || count < 0) {
    *reason = "malformed Confluent message indexes";
    return CSC_EINVAL;
  }
  pos += used;
  /* count 0 is the short form of [0]; otherwise the path must be exactly [0]. */
  for (int64_t i = 0; i < count; i++) {
    int64_t index;
    used = read_zigzag(buf + pos, len - pos, &index);
    if (used == 0) {
      *reason = "malformed Confluent message indexes";
      return CSC_EINVAL;
    }
    if (index != 0 || count != 1) {
      *reason = "Confluent message index is not CaseEvent";
      return CSC_EINVAL;
    }
    pos += used;
  }
  *pb = buf + pos;
  *pb_len = len - pos;
  return CSC_OK;
}

static int is_workforce(const CaseEvent *ev) {
  return ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
}

#define RECORDED_AT_LIMIT_MS 7258118400000LL /* 2200-01-01T00:00:00Z */

int ingest_is_post_change(const Cscflow__V1__WorkforceEvent *w) {
  return w->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED ||
         w->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT ||
         w->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED;
}

/* One required identifier: "<field>: <problem>", from a fixed table so that
 * the reason stays a static string. */
static int check_required(const char *value, const char *const reasons[4], const char **reason) {
  const char *problem;
  if (ingest_check_id(value, &problem) == CSC_OK)
    return CSC_OK;
  *reason = problem[0] == 'm' ? reasons[0]   /* missing */
            : problem[0] == 'l' ? reasons[1] /* longer than the maximum */
            : problem[0] == 'c' ? reasons[2] /* control character */
                                : reasons[3]; /* not valid UTF-8 */
  return CSC_EINVAL;
}

/* An optional identifier: empty, or valid. */
static int check_optional(const char *value, const char *const reasons[4], const char **reason) {
  return value[0] == '\0' ? CSC_OK : check_required(value, reasons, reason);
}

#define ID_REASONS(field)                                                                   \
  (const char *const[4]) {                                                                  \
    field ": missing", field ": longer than " INGEST_ID_MAX_TEXT " bytes",                  \
        field ": control character", field ": not valid UTF-8"                              \
  }

/* The subject's identifier: the child, or for a workforce event the
 * worker, or the post for a change to a post. */
static int check_subject(const CaseEvent *ev, const char **reason) {
  if (!is_workforce(ev))
    return check_required(ev->child_id, ID_REASONS("child_id"), reason);
  if (check_optional(ev->child_id, ID_REASONS("child_id"), reason) != CSC_OK)
    return CSC_EINVAL;
  if (ingest_is_post_change(ev->workforce))
    return check_required(ev->workforce->post_id, ID_REASONS("workforce.post_id"), reason);
  return check_required(ev->workforce->worker_id, ID_REASONS("workforce.worker_id"), reason);
}

int ingest_validate(const CaseEvent *ev, const char **reason) {
  csc_date d;
  if (check_required(ev->event_id, ID_REASONS("event_id"), reason) != CSC_OK ||
      check_required(ev->la_code, ID_REASONS("la_code"), reason) != CSC_OK)
    return CSC_EINVAL;
  if (!ingest_la_code_valid(ev->la_code)) {
    *reason = "la_code: not a DfE LA number or ONS code";
    return CSC_EINVAL;
  }
  if (check_subject(ev, reason) != CSC_OK ||
      check_optional(ev->supersedes_event_id, ID_REASONS("supersedes_event_id"), reason) != CSC_OK ||
      check_optional(ev->retracts_event_id, ID_REASONS("retracts_event_id"), reason) != CSC_OK)
    return CSC_EINVAL;
  /* From year 1000: a date before 1900 is a worker's typo, which the fold
   * reports as implausible_date, not a message to turn away. */
  if (date_from_yyyymmdd_early(ev->occurred_on, &d) != CSC_OK)
    *reason = "occurred_on: not a date";
  /* recorded_at sets the replay clock: a time before 1970 or from 2200 on
   * is a broken value, not a date to move an LA's as-of date to. */
  else if (ev->recorded_at_ms < 0 || ev->recorded_at_ms >= RECORDED_AT_LIMIT_MS)
    *reason = "recorded_at_ms: out of range";
  else if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET &&
           ev->retracts_event_id[0] == '\0')
    *reason = "no payload";
  else
    return CSC_OK;
  return CSC_EINVAL;
}

int ingest_decode(const uint8_t *buf, size_t len, struct arena *a, CaseEvent **out,
                  const uint8_t **pb, size_t *pb_len, const char **reason) {
  uint32_t schema_id;
  if (ingest_unframe(buf, len, pb, pb_len, &schema_id, reason) != CSC_OK)
    return CSC_EINVAL;
  ProtobufCAllocator al = arena_protobuf_allocator(a);
  CaseEvent *ev = cscflow__v1__case_event__unpack(&al, *pb_len, *pb);
  if (ev == NULL) {
    *reason = "protobuf decode failed";
    return CSC_EINVAL;
  }
  if (ingest_validate(ev, reason) != CSC_OK || ingest_check_strings(*pb, *pb_len, a, reason) != CSC_OK)
    return CSC_EINVAL;
  *out = ev;
  return CSC_OK;
}

int ingest_decode_admitted(const uint8_t *buf, size_t len, struct arena *a, CaseEvent **out,
                           const uint8_t **pb, size_t *pb_len) {
  uint32_t schema_id;
  const char *reason;
  if (ingest_unframe(buf, len, pb, pb_len, &schema_id, &reason) != CSC_OK)
    return CSC_EINVAL;
  ProtobufCAllocator al = arena_protobuf_allocator(a);
  *out = cscflow__v1__case_event__unpack(&al, *pb_len, *pb);
  return *out ? CSC_OK : CSC_ENOMEM; /* it unpacked before: only memory can fail */
}

int ingest_write_delimited(FILE *f, const CaseEvent *ev) {
  uint8_t stackbuf[1024];
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
  if (buf == NULL)
    return CSC_ENOMEM;
  cscflow__v1__case_event__pack(ev, buf);
  uint8_t v[10];
  const size_t vn = varint_encode(n, v);
  const int ok = fwrite(v, 1, vn, f) == vn && fwrite(buf, 1, n, f) == n;
  if (buf != stackbuf)
    free(buf);
  return ok ? CSC_OK : CSC_EIO;
}
