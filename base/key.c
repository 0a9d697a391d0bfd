/*
 * key.c — composite keys built from input ids (base.h, "composite keys").
 *
 * Ids come from case-management systems and may hold any printable
 * character, the separator included: "E99000009:Y" + "Z" and "E99000009" +
 * "Y:Z" must not give the same key. Percent-encoding '%' and the separator
 * inside each component makes the split on the separator unambiguous, and
 * leaves a component holding neither byte unchanged, so that the keys of
 * such ids (all of them, before) stay what they were.
 */
#include <string.h>

#include "base/base.h"

static const char hex[] = "0123456789ABCDEF";

/* The bytes component takes once escaped. */
static size_t escaped_len(const char *component, char sep) {
  size_t n = 0;
  for (const char *p = component; *p; p++)
    n += *p == '%' || *p == sep ? 3 : 1;
  return n;
}

int key_append(char *key, size_t size, size_t *len, char sep, const char *component) {
  if (sep == '%' || sep == '\0' || *len >= size)
    return CSC_EINVAL;
  const size_t lead = *len > 0;
  if (size - *len <= lead + escaped_len(component, sep))
    return CSC_EFULL; /* key and *len untouched */
  char *p = key + *len;
  if (lead)
    *p++ = sep;
  for (const char *c = component; *c; c++) {
    if (*c == '%' || *c == sep) {
      *p++ = '%';
      *p++ = hex[(unsigned char)*c >> 4];
      *p++ = hex[(unsigned char)*c & 15];
    } else {
      *p++ = *c;
    }
  }
  *p = '\0';
  *len = (size_t)(p - key);
  return CSC_OK;
}

int key_append_key(char *key, size_t size, size_t *len, char sep, const char *escaped) {
  if (sep == '\0' || *len >= size)
    return CSC_EINVAL;
  const size_t lead = *len > 0, n = strlen(escaped);
  if (size - *len <= lead + n)
    return CSC_EFULL;
  if (lead)
    key[(*len)++] = sep;
  memcpy(key + *len, escaped, n + 1);
  *len += n;
  return CSC_OK;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1; /* key_append writes upper case only: anything else was not written by it */
}

int key_unescape(const char *in, char *out, size_t size) {
  size_t n = 0;
  for (const char *p = in; *p; n++) {
    if (n + 1 >= size)
      return CSC_EFULL;
    if (*p != '%') {
      out[n] = *p++;
      continue;
    }
    const int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
    if (lo < 0 || (hi == 0 && lo == 0))
      return CSC_EINVAL;
    out[n] = (char)(hi << 4 | lo);
    p += 3;
  }
  if (n >= size)
    return CSC_EFULL;
  out[n] = '\0';
  return CSC_OK;
}

int key_fields(const char *key, char sep) {
  if (sep == '%' || sep == '\0')
    return -1;
  const char esc[2] = {hex[(unsigned char)sep >> 4], hex[(unsigned char)sep & 15]};
  int n = 1;
  for (const char *p = key; *p; p++)
    if (*p == sep)
      n++;
    else if (*p == '%' && !(p[1] == '2' && p[2] == '5') && !(p[1] == esc[0] && p[2] == esc[1]))
      return -1;
  return n;
}
