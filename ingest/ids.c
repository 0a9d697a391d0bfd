/*
 * ids.c — the rules every identifier and LA code meets before an event is
 * applied (ingest.h, "identifiers"). An event that breaks one is
 * dead-lettered with a reason naming the field; nothing of it reaches the
 * state, an output key, a log line or a metric label.
 *
 * Why at the wire: protobuf-c hands strings back NUL-terminated, so "X\0a"
 * and "X\0b" would both read as "X" after unpacking. Only the encoded bytes
 * show the NUL, so every string field of the event, nested payloads
 * included, is checked there, by the field descriptors protoc-c generates.
 */
#include <stdio.h>
#include <string.h>

#include "ingest/ingest.h"

/* ---- one string ------------------------------------------------------------------ */

int ingest_check_string(const uint8_t *s, size_t len, const char **problem) {
  if (len > INGEST_ID_MAX) {
    *problem = "longer than " INGEST_ID_MAX_TEXT " bytes";
    return CSC_EINVAL;
  }
  for (size_t i = 0; i < len;) {
    if (s[i] < 0x20 || s[i] == 0x7F) {
      *problem = "control character";
      return CSC_EINVAL;
    }
    const size_t n = utf8_sequence_len(s + i, len - i); /* 0: malformed */
    if (n == 0) {
      *problem = "not valid UTF-8";
      return CSC_EINVAL;
    }
    i += n;
  }
  return CSC_OK;
}

int ingest_check_id(const char *s, const char **problem) {
  const size_t len = strlen(s);
  if (len == 0) {
    *problem = "missing";
    return CSC_EINVAL;
  }
  return ingest_check_string((const uint8_t *)s, len, problem);
}

/* ---- LA codes ------------------------------------------------------------------------ */

static int all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return 0;
  return 1;
}

int ingest_la_code_valid(const char *s) {
  const size_t n = strlen(s);
  if (n == 3)
    return all_digits(s, 3);
  return n == 9 && s[0] >= 'A' && s[0] <= 'Z' && all_digits(s + 1, 8);
}

/* ---- every string field of an encoded message ---------------------------------------- */

/* Reads a varint at p[*pos..len); 0 when malformed. */
static int wire_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v) {
  if (*pos < len && p[*pos] < 0x80) { /* one byte: nearly every tag and length */
    *v = p[(*pos)++];
    return 1;
  }
  const size_t used = varint_decode(p + *pos, len - *pos, v);
  *pos += used;
  return used != 0;
}

struct wire_fault {
  const char *outer, *field, *problem; /* outer: the enclosing field, or NULL */
};

#define WIRE_MAX_DEPTH 4 /* CaseEvent > payload > Placement is the deepest */

static int check_fields(const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *d,
                        int depth, const char *outer, struct wire_fault *f) {
  for (size_t pos = 0; pos < len;) {
    uint64_t tag, n;
    if (!wire_varint(p, len, &pos, &tag))
      goto malformed;
    switch (tag & 7) {
    case 0:
      if (!wire_varint(p, len, &pos, &n))
        goto malformed;
      continue;
    case 1:
    case 5: {
      const size_t w = (tag & 7) == 1 ? 8 : 4;
      if (len - pos < w)
        goto malformed;
      pos += w;
      continue;
    }
    case 2:
      break;
    default:
      goto malformed; /* groups: unpack refuses them too */
    }
    if (!wire_varint(p, len, &pos, &n) || n > len - pos)
      goto malformed;
    const uint8_t *data = p + pos;
    pos += (size_t)n;
    const ProtobufCFieldDescriptor *fd =
        tag >> 3 <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
                               : NULL;
    if (fd == NULL)
      continue; /* an unknown field: kept as bytes, never read */
    if (fd->type == PROTOBUF_C_TYPE_STRING &&
        ingest_check_string(data, (size_t)n, &f->problem) != CSC_OK) {
      f->outer = outer;
      f->field = fd->name;
      return CSC_EINVAL;
    }
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE && depth < WIRE_MAX_DEPTH &&
        check_fields(data, (size_t)n, fd->descriptor, depth + 1, fd->name, f) != CSC_OK)
      return CSC_EINVAL;
  }
  return CSC_OK;
malformed:
  f->outer = NULL;
  f->field = NULL;
  f->problem = "protobuf decode failed";
  return CSC_EINVAL;
}

int ingest_check_strings(const uint8_t *pb, size_t len, struct arena *a, const char **reason) {
  struct wire_fault f;
  if (check_fields(pb, len, &cscflow__v1__case_event__descriptor, 0, NULL, &f) == CSC_OK)
    return CSC_OK;
  char buf[160];
  if (f.field == NULL)
    snprintf(buf, sizeof buf, "%s", f.problem);
  else if (f.outer == NULL)
    snprintf(buf, sizeof buf, "%s: %s", f.field, f.problem);
  else
    snprintf(buf, sizeof buf, "%s.%s: %s", f.outer, f.field, f.problem);
  char *copy = arena_alloc(a, strlen(buf) + 1);
  *reason = copy ? strcpy(copy, buf) : "invalid string field";
  return CSC_EINVAL;
}
