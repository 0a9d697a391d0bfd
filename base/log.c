/*
 * log.c — error names and the JSON-line log.
 *
 * log_json formats its fields itself rather than through vsnprintf, so that
 * no caller can break a line whatever bytes it passes: every %s and %c is
 * JSON-escaped (and made valid UTF-8), a conversion outside a JSON string in
 * the format becomes a JSON value of its own, and a line too long for the
 * buffer is cut where it still closes as one JSON object. The line is built
 * on the stack: librdkafka logs from its own threads.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <jansson.h>

#include "base/base.h"

const char *csc_strerror(int err) {
  switch (err) {
  case CSC_OK: return "ok";
  case CSC_ENOMEM: return "out of memory";
  case CSC_EINVAL: return "invalid input";
  case CSC_EIO: return "I/O error";
  case CSC_ENOTFOUND: return "not found";
  case CSC_ESTATE: return "state store error";
  case CSC_EKAFKA: return "Kafka error";
  case CSC_EFULL: return "full";
  case CSC_EMAPFULL: return "state map full";
  case CSC_ETXNFULL: return "state transaction too large";
  case CSC_ENOSPC: return "the state could not be written (no space left?)";
  case CSC_EDAMAGED: return "the state is damaged or of another version";
  case CSC_ELOCKED: return "the state directory has another writer";
  default: return "unknown error";
  }
}

/* ---- UTF-8 and JSON string escaping ------------------------------------------------ */

size_t utf8_sequence_len(const unsigned char *s, size_t n) {
  const unsigned char c = s[0];
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp, min;
  if ((c & 0xE0) == 0xC0)
    len = 2, cp = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0)
    len = 3, cp = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

/* Receives one indivisible piece of escaped output; nonzero stops. */
typedef int (*emit_fn)(void *ctx, const char *piece, size_t len);

/* The contents (no quotes) of a JSON string for s[0..len): quote, backslash
 * and control characters escaped, each byte that is not part of well-formed
 * UTF-8 replaced by U+FFFD. Each escape or character is one piece, so that a
 * cut output never ends inside one. Returns nonzero when emit stopped. */
static int json_escape(const unsigned char *s, size_t len, emit_fn emit, void *ctx) {
  char esc[8];
  for (size_t i = 0; i < len;) {
    const unsigned char c = s[i];
    size_t take = 1;
    int rc;
    if (c == '"' || c == '\\') {
      esc[0] = '\\', esc[1] = (char)c;
      rc = emit(ctx, esc, 2);
    } else if (c < 0x20 || c == 0x7F) {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      rc = emit(ctx, esc, 6);
    } else if ((take = utf8_sequence_len(s + i, len - i)) == 0) {
      take = 1;
      rc = emit(ctx, "\\ufffd", 6);
    } else {
      rc = emit(ctx, (const char *)s + i, take);
    }
    if (rc != 0)
      return rc;
    i += take;
  }
  return 0;
}

static int emit_file(void *ctx, const char *piece, size_t len) {
  return fwrite(piece, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

void json_write_string(FILE *f, const char *s) {
  fputc('"', f);
  json_escape((const unsigned char *)s, strlen(s), emit_file, f);
  fputc('"', f);
}

/* ---- a line that always closes -------------------------------------------------------- */

/* A line is at most PIPE_BUF bytes, so that one write(2) of it to a pipe is
 * atomic and concurrent writers never interleave within a line. */
#define LINE_MAX_BYTES 4096
/* Kept free for closing a cut line: "\",\"truncated\":true}\n". */
#define LINE_RESERVE 24

struct line {
  char *buf;
  size_t n, limit; /* limit: what pieces may fill; the reserve lies past it */
  int full;        /* a piece did not fit: everything after it is dropped */
  /* The JSON structure written so far, read back from the bytes. */
  int in_str, esc, hex; /* in a string; after a backslash; \u digits to come */
  int depth;            /* open objects and arrays; the line's own is 1 */
  int str_is_value;     /* the open string is the value of a top-level member */
  char last;            /* the last structural character outside strings */
  size_t safe;          /* a length at which the line is whole members */
};

/* Follows one output byte through the JSON grammar, as far as closing needs. */
static void track(struct line *l, char c) {
  if (l->in_str) {
    if (l->hex > 0)
      l->hex--;
    else if (l->esc)
      l->esc = 0, l->hex = c == 'u' ? 4 : 0;
    else if (c == '\\')
      l->esc = 1;
    else if (c == '"')
      l->in_str = 0, l->last = '"';
    return;
  }
  switch (c) {
  case '"':
    l->in_str = 1;
    l->str_is_value = l->depth == 1 && l->last == ':';
    break;
  case '{':
  case '[':
    l->depth++;
    break;
  case '}':
  case ']':
    l->depth--;
    break;
  case ',':
    if (l->depth == 1)
      l->safe = l->n; /* before this comma every member is whole */
    break;
  }
  if (c != ' ' && c != '\t')
    l->last = c;
}

/* Appends one indivisible piece, or marks the line full. */
static int put(void *ctx, const char *piece, size_t len) {
  struct line *l = ctx;
  if (l->full || len > l->limit - l->n) {
    l->full = 1;
    return -1;
  }
  for (size_t i = 0; i < len; i++) {
    track(l, piece[i]);
    l->buf[l->n++] = piece[i];
  }
  return 0;
}

/* Text that is JSON syntax already (the format's literal text, a trusted
 * fragment): copied, but inside strings made valid UTF-8 with control
 * characters escaped, and outside strings control and non-ASCII bytes
 * become spaces, so that even a wrong fragment keeps the line one line. */
static void put_syntax(struct line *l, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len && !l->full;) {
    size_t take = 1;
    if (l->in_str && (u[i] < 0x20 || u[i] >= 0x7F)) {
      const size_t seq = u[i] >= 0x80 ? utf8_sequence_len(u + i, len - i) : 0;
      take = seq ? seq : 1;
      if (seq)
        put(l, s + i, seq);
      else
        json_escape(u + i, 1, put, l);
    } else if (!l->in_str && (u[i] < 0x20 || u[i] >= 0x7F)) {
      put(l, " ", 1);
    } else {
      put(l, s + i, 1);
    }
    i += take;
  }
}

/* Whether s[0..len) (spaces around it allowed) is a JSON number or literal. */
static int json_bare_value(const char *s, size_t len) {
  while (len > 0 && s[len - 1] == ' ')
    len--;
  while (len > 0 && *s == ' ')
    s++, len--;
  if ((len == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)) ||
      (len == 5 && memcmp(s, "false", 5) == 0))
    return 1;
  size_t i = 0;
  if (i < len && s[i] == '-')
    i++;
  if (i < len && s[i] == '0')
    i++;
  else if (i < len && s[i] >= '1' && s[i] <= '9')
    while (i < len && s[i] >= '0' && s[i] <= '9')
      i++;
  else
    return 0;
  if (i < len && s[i] == '.') {
    const size_t start = ++i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == start)
      return 0;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-'))
      i++;
    const size_t start = i;
    while (i < len && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == start)
      return 0;
  }
  return i == len;
}

/* A conversion where the format leaves a member's name to come (the old
 * "%s" with pre-rendered members) becomes the value of a member "text", so
 * that its bytes are kept and the line stays an object. */
static void put_member_name(struct line *l) {
  if (!l->in_str && l->depth == 1 && (l->last == ',' || l->last == '{'))
    put(l, "\"text\":", 7);
}

/* The text of one conversion. Inside a JSON string it is escaped into it;
 * outside, it is a value of its own: bare when it is a JSON number or
 * literal, a JSON string otherwise (so "%s" can never inject members). */
static void put_value(struct line *l, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  if (l->in_str) {
    json_escape(u, len, put, l);
  } else if (json_bare_value(s, len)) {
    put_member_name(l);
    put(l, s, len);
  } else {
    put_member_name(l);
    put(l, "\"", 1);
    json_escape(u, len, put, l);
    put(l, "\"", 1);
  }
}

/* Ends the line: a cut line loses its unfinished member (or has its open
 * string value closed) and says "truncated":true. */
static void finish(struct line *l) {
  if (l->in_str || l->depth != 1)
    l->full = 1; /* a fragment that did not close counts as cut */
  if (l->full) {
    if (l->in_str && l->depth == 1 && l->str_is_value && !l->esc && l->hex == 0)
      l->buf[l->n++] = '"';
    else
      l->n = l->safe;
    memcpy(l->buf + l->n, ",\"truncated\":true", 17);
    l->n += 17;
  }
  l->buf[l->n++] = '}';
  l->buf[l->n++] = '\n';
}

/* {"ts":"...","level":"...","event":"..." — every member whole. */
static void line_start(struct line *l, char *buf, size_t cap, enum log_level level,
                       const char *event) {
  static const char *const names[] = {"info", "warn", "error"};
  memset(l, 0, sizeof *l);
  l->buf = buf;
  l->limit = cap - LINE_RESERVE;
  struct timespec ts;
  struct tm tm;
  char head[96];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  const int n = snprintf(head, sizeof head,
                         "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\"",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec, ts.tv_nsec / 1000000,
                         names[(unsigned)level < 3 ? level : LOG_ERROR]);
  put(l, head, (size_t)n);
  l->safe = l->n;
  put(l, ",\"event\":\"", 10);
  json_escape((const unsigned char *)(event ? event : ""), event ? strlen(event) : 0, put, l);
  put(l, "\"", 1);
}

static void line_write(const struct line *l) {
  ssize_t w = write(STDERR_FILENO, l->buf, l->n);
  (void)w; /* nowhere left to report a failed log write */
}

/* ---- one conversion specification ------------------------------------------------------ */

struct spec {
  char flags[8];
  int width, prec;  /* -1: none */
  char length[3];   /* "", "hh", "h", "l", "ll", "j", "z", "t", "L" */
  char conv;
};

/* Parses the specification after '%', taking '*' arguments from ap. Returns
 * the characters read, 0 when it is not one printf knows. */
static size_t spec_parse(const char *p, va_list *ap, struct spec *s) {
  const char *const start = p;
  size_t nf = 0;
  memset(s, 0, sizeof *s);
  s->width = s->prec = -1;
  for (; *p && strchr("-+ #0'", *p); p++)
    if (nf + 1 < sizeof s->flags && !strchr(s->flags, *p))
      s->flags[nf++] = *p;
  if (*p == '*') {
    s->width = va_arg(*ap, int);
    if (s->width < 0 && nf + 1 < sizeof s->flags)
      s->flags[nf++] = '-', s->width = -s->width;
    p++;
  } else {
    for (s->width = *p >= '0' && *p <= '9' ? 0 : -1; *p >= '0' && *p <= '9'; p++)
      s->width = s->width < INT_MAX / 10 ? s->width * 10 + (*p - '0') : INT_MAX;
  }
  if (*p == '.') {
    p++;
    if (*p == '*') {
      s->prec = va_arg(*ap, int); /* negative: as if none */
      if (s->prec < 0)
        s->prec = -1;
      p++;
    } else {
      for (s->prec = 0; *p >= '0' && *p <= '9'; p++)
        s->prec = s->prec < INT_MAX / 10 ? s->prec * 10 + (*p - '0') : INT_MAX;
    }
  }
  size_t nl = 0;
  while (nl < 2 && *p && strchr("hljztL", *p) && (nl == 0 || *p == s->length[0]))
    s->length[nl++] = *p++;
  if (*p == 0 || !strchr("diouxXfFeEgGaAcspn", *p))
    return 0;
  s->conv = *p++;
  return (size_t)(p - start);
}

/* The specification back as a format for one argument, widths as numbers. */
static void spec_format(const struct spec *s, char *out, size_t cap) {
  char w[16] = "", pr[16] = "";
  if (s->width >= 0)
    snprintf(w, sizeof w, "%d", s->width > LINE_MAX_BYTES ? LINE_MAX_BYTES : s->width);
  if (s->prec >= 0)
    snprintf(pr, sizeof pr, ".%d", s->prec > LINE_MAX_BYTES ? LINE_MAX_BYTES : s->prec);
  snprintf(out, cap, "%%%s%s%s%s%c", s->flags, w, pr, s->length, s->conv);
}

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#endif
/* Formats one non-string argument as printf would. Returns its length. */
static int format_number(const struct spec *s, va_list *ap, char *out, size_t cap) {
  char f[48];
  spec_format(s, f, sizeof f);
  const char *len = s->length;
  switch (s->conv) {
  case 'd':
  case 'i':
    if (strcmp(len, "l") == 0) return snprintf(out, cap, f, va_arg(*ap, long));
    if (strcmp(len, "ll") == 0) return snprintf(out, cap, f, va_arg(*ap, long long));
    if (strcmp(len, "j") == 0) return snprintf(out, cap, f, va_arg(*ap, intmax_t));
    if (strcmp(len, "z") == 0) return snprintf(out, cap, f, va_arg(*ap, ssize_t));
    if (strcmp(len, "t") == 0) return snprintf(out, cap, f, va_arg(*ap, ptrdiff_t));
    return snprintf(out, cap, f, va_arg(*ap, int));
  case 'o':
  case 'u':
  case 'x':
  case 'X':
    if (strcmp(len, "l") == 0) return snprintf(out, cap, f, va_arg(*ap, unsigned long));
    if (strcmp(len, "ll") == 0) return snprintf(out, cap, f, va_arg(*ap, unsigned long long));
    if (strcmp(len, "j") == 0) return snprintf(out, cap, f, va_arg(*ap, uintmax_t));
    if (strcmp(len, "z") == 0) return snprintf(out, cap, f, va_arg(*ap, size_t));
    if (strcmp(len, "t") == 0) return snprintf(out, cap, f, va_arg(*ap, ptrdiff_t));
    return snprintf(out, cap, f, va_arg(*ap, unsigned));
  case 'p':
    return snprintf(out, cap, f, va_arg(*ap, void *));
  case 'c':
    if (strcmp(len, "l") == 0) return snprintf(out, cap, f, va_arg(*ap, wint_t));
    return snprintf(out, cap, f, va_arg(*ap, int));
  case 's': /* only the wide form comes here */
    return snprintf(out, cap, f, va_arg(*ap, const wchar_t *));
  case 'n':
    (void)va_arg(*ap, void *); /* nothing is written through it */
    return 0;
  default: /* the floating conversions */
    if (strcmp(len, "L") == 0) return snprintf(out, cap, f, va_arg(*ap, long double));
    return snprintf(out, cap, f, va_arg(*ap, double));
  }
}
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

static void put_spaces(struct line *l, size_t n) {
  for (size_t i = 0; i < n && put(l, " ", 1) == 0; i++)
    ;
}

/* A narrow %s: at most its precision's bytes, padded to its width, escaped
 * (as put_value, without copying the argument first). */
static void put_string_arg(struct line *l, const struct spec *s, const char *str) {
  if (str == NULL)
    str = "(null)";
  const size_t len = s->prec >= 0 ? strnlen(str, (size_t)s->prec) : strlen(str);
  const size_t pad = s->width > 0 && (size_t)s->width > len ? (size_t)s->width - len : 0;
  const int left = strchr(s->flags, '-') != NULL;
  if (!l->in_str && json_bare_value(str, len)) {
    put_member_name(l);
    put(l, str, len); /* true, false, null or a number, as the caller meant */
    return;
  }
  const int own = !l->in_str;
  if (own)
    put_member_name(l);
  if (own)
    put(l, "\"", 1);
  if (!left)
    put_spaces(l, pad);
  json_escape((const unsigned char *)str, len, put, l);
  if (left)
    put_spaces(l, pad);
  if (own)
    put(l, "\"", 1);
}

/* Walks fmt: literal text as JSON syntax, each conversion through put_value. */
static void put_fields(struct line *l, const char *fmt, va_list *ap) {
  char num[LINE_MAX_BYTES];
  while (*fmt && !l->full) {
    const char *pct = strchr(fmt, '%');
    const size_t lit = pct ? (size_t)(pct - fmt) : strlen(fmt);
    put_syntax(l, fmt, lit);
    if (pct == NULL)
      return;
    if (pct[1] == '%') {
      put_syntax(l, "%", 1);
      fmt = pct + 2;
      continue;
    }
    struct spec s;
    const size_t used = spec_parse(pct + 1, ap, &s);
    if (used == 0) {
      l->full = 1; /* not a conversion printf knows: the arguments are lost */
      return;
    }
    fmt = pct + 1 + used;
    if (s.conv == 's' && s.length[0] == 0) {
      put_string_arg(l, &s, va_arg(*ap, const char *));
      continue;
    }
    const int n = format_number(&s, ap, num, sizeof num);
    if (s.conv == 'n')
      continue;
    if (n < 0)
      put_value(l, "\xff", 1); /* a wide string the locale cannot show */
    else
      put_value(l, num, (size_t)n < sizeof num ? (size_t)n : sizeof num - 1);
  }
}

void log_json(enum log_level level, const char *event, const char *fields_fmt, ...) {
  char buf[LINE_MAX_BYTES];
  struct line l;
  line_start(&l, buf, sizeof buf, level, event);
  if (fields_fmt != NULL && *fields_fmt) {
    va_list ap;
    va_start(ap, fields_fmt);
    put(&l, ",", 1);
    put_fields(&l, fields_fmt, &ap);
    va_end(ap);
  }
  finish(&l);
  line_write(&l);
}

/* ---- checking a trusted fragment ------------------------------------------------------------ */

/* Whether s (len bytes) is JSON members: "a":1,"b":[2], what goes between
 * braces. jansson parses it: a hand-written JSON checker would be a second
 * parser to keep right. */
static int fragment_valid(const char *s, size_t len) {
  char *obj = malloc(len + 3);
  if (obj == NULL)
    return 0;
  obj[0] = '{';
  memcpy(obj + 1, s, len);
  obj[len + 1] = '}';
  obj[len + 2] = '\0';
  json_error_t err;
  json_t *v = json_loadb(obj, len + 2, JSON_REJECT_DUPLICATES, &err);
  free(obj);
  const int ok = v != NULL;
  json_decref(v);
  return ok;
}

void log_json_fields(enum log_level level, const char *event, const char *fields_json) {
  char small[LINE_MAX_BYTES];
  const size_t len = fields_json ? strlen(fields_json) : 0;
  /* A long summary keeps its members: one write still, atomic on a pipe only
   * up to PIPE_BUF. */
  char *big = len + 512 > sizeof small ? malloc(len + 512) : NULL;
  struct line l;
  line_start(&l, big ? big : small, big ? len + 512 : sizeof small, level, event);
  if (len > 0 && fragment_valid(fields_json, len)) {
    put(&l, ",", 1);
    put_syntax(&l, fields_json, len);
  } else if (len > 0) {
    /* Not JSON members after all: kept, as one string. */
    put(&l, ",\"fields\":\"", 11);
    json_escape((const unsigned char *)fields_json, len, put, &l);
    put(&l, "\"", 1);
  }
  finish(&l);
  line_write(&l);
  free(big);
}
