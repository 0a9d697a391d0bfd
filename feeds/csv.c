/*
 * csv.c — RFC 4180 records, as LAs' systems export the returns' tables
 * (Excel writes CRLF and a byte-order mark; quoted fields may hold commas).
 * A small state machine over bytes:
 *
 *   FIELD_START --'"'--> QUOTED --'"'--> QUOTE_SEEN --'"'--> QUOTED (a quote)
 *        |                  |                |
 *        +--other--> BARE   +--other-> QUOTED +--',' / EOL--> the field ends
 *
 * A quote inside a bare field is kept as a character; text after a closing
 * quote is appended to the field (lenient, as spreadsheet tools are).
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/feeds.h"

void csv_init(struct csv_reader *r, FILE *f) {
  memset(r, 0, sizeof *r);
  r->f = f;
  r->next_line = 1;
}

void csv_free(struct csv_reader *r) {
  free(r->buf);
  r->buf = NULL;
  r->cap = 0;
}

static int put(struct csv_reader *r, size_t *len, char c) {
  if (*len + 1 >= r->cap) {
    if (r->cap >= CSV_MAX_RECORD)
      return CSC_EINVAL;
    size_t cap = r->cap ? r->cap * 2 : 1024;
    char *b = realloc(r->buf, cap);
    if (b == NULL)
      return CSC_ENOMEM;
    r->buf = b;
    r->cap = cap;
  }
  r->buf[(*len)++] = c;
  return CSC_OK;
}

/* Trims spaces and tabs from the end of the bare part of a field:
 * buf[start..*len) minus what lies before keep (quoted text is kept). */
static void trim_end(const struct csv_reader *r, size_t keep, size_t *len) {
  while (*len > keep && (r->buf[*len - 1] == ' ' || r->buf[*len - 1] == '\t'))
    (*len)--;
}

enum csv_state { FIELD_START, BARE, QUOTED, QUOTE_SEEN };

/* Ends the field that began at buf[start]: NUL-terminates it and notes it. */
static int end_field(struct csv_reader *r, size_t *len, size_t start, size_t keep) {
  trim_end(r, keep, len);
  int rc = put(r, len, '\0');
  if (rc != CSC_OK)
    return rc;
  if (r->n == CSV_MAX_FIELDS)
    return CSC_EINVAL;
  r->offsets[r->n++] = start; /* buf may move until the record ends */
  return CSC_OK;
}

/* Reads one record's bytes, then points fields into buf. */
static int read_record(struct csv_reader *r, int *got) {
  enum csv_state s = FIELD_START;
  size_t len = 0, start = 0, keep = 0;
  int c, rc = CSC_OK, any = 0;
  *got = 0;
  r->n = 0;
  r->line = r->next_line;
  while (rc == CSC_OK && (c = fgetc(r->f)) != EOF) {
    any = 1;
    if (c == '\n')
      r->next_line++;
    if (s == QUOTED) {
      if (c == '"') {
        s = QUOTE_SEEN;
        keep = len; /* what was quoted is never trimmed */
      } else {
        rc = put(r, &len, (char)c);
      }
      continue;
    }
    if (s == QUOTE_SEEN && c == '"') {
      s = QUOTED;
      rc = put(r, &len, '"');
      continue;
    }
    if (c == '\r')
      continue; /* CRLF; a stray CR outside quotes is dropped too */
    if (c == ',' || c == '\n') {
      rc = end_field(r, &len, start, keep);
      start = keep = len;
      s = FIELD_START;
      if (c == '\n')
        break;
      continue;
    }
    if (s == FIELD_START && (c == ' ' || c == '\t'))
      continue;
    if (s == FIELD_START && c == '"') {
      s = QUOTED;
      continue;
    }
    s = BARE;
    rc = put(r, &len, (char)c);
  }
  if (rc != CSC_OK)
    return rc;
  if (s == QUOTED)
    return CSC_EINVAL; /* the file ended inside a quote */
  if (!any)
    return CSC_OK;
  if (c == EOF && (rc = end_field(r, &len, start, keep)) != CSC_OK)
    return rc;
  for (size_t i = 0; i < r->n; i++)
    r->fields[i] = r->buf + r->offsets[i];
  *got = 1;
  return CSC_OK;
}

static int blank(const struct csv_reader *r) { return r->n == 1 && r->fields[0][0] == '\0'; }

int csv_next(struct csv_reader *r) {
  for (;;) {
    int got;
    const int rc = read_record(r, &got);
    if (rc != CSC_OK)
      return rc;
    if (!got)
      return 0;
    if (r->line == 1 && r->n > 0 && strncmp(r->fields[0], "\xEF\xBB\xBF", 3) == 0)
      memmove(r->fields[0], r->fields[0] + 3, strlen(r->fields[0] + 3) + 1);
    if (!blank(r))
      return 1;
  }
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

int feeds_parse_date(const char *s, csc_date *out) {
  int y, m, d;
  const size_t n = strlen(s);
  if (n == 10 && s[2] == '/' && s[5] == '/') {
    if (!digits(s, 2, &d) || !digits(s + 3, 2, &m) || !digits(s + 6, 4, &y))
      return CSC_EINVAL;
  } else if (n == 10 && s[4] == '-' && s[7] == '-') {
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
      return CSC_EINVAL;
  } else {
    return CSC_EINVAL;
  }
  return date_from_yyyymmdd((uint32_t)(y * 10000 + m * 100 + d), out);
}

void feeds_postcode_district(const char *postcode, char *out, size_t len) {
  while (*postcode == ' ')
    postcode++;
  size_t n = strcspn(postcode, " ");
  if (postcode[n] == '\0' && n > 4)
    n -= 3; /* written without its space: the inward code is the last three */
  if (n >= len)
    n = len - 1;
  memcpy(out, postcode, n);
  out[n] = '\0';
}
