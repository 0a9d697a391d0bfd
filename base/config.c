#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

void config_init(struct config *cfg) {
  cfg->entries = NULL;
  cfg->n = cfg->cap = 0;
}

void config_free(struct config *cfg) {
  for (size_t i = 0; i < cfg->n; i++) {
    free(cfg->entries[i].key);
    free(cfg->entries[i].value);
  }
  free(cfg->entries);
  config_init(cfg);
}

static struct config_entry *config_find(const struct config *cfg, const char *key) {
  for (size_t i = 0; i < cfg->n; i++)
    if (strcmp(cfg->entries[i].key, key) == 0)
      return &cfg->entries[i];
  return NULL;
}

int config_set(struct config *cfg, const char *key, const char *value) {
  char *v = strdup(value);
  if (v == NULL)
    return CSC_ENOMEM;
  struct config_entry *e = config_find(cfg, key);
  if (e != NULL) {
    free(e->value);
    e->value = v;
    return CSC_OK;
  }
  if (cfg->n == cfg->cap) {
    const size_t cap = cfg->cap ? cfg->cap * 2 : 16;
    struct config_entry *grown = realloc(cfg->entries, cap * sizeof *grown);
    if (grown == NULL) {
      free(v);
      return CSC_ENOMEM;
    }
    cfg->entries = grown;
    cfg->cap = cap;
  }
  char *k = strdup(key);
  if (k == NULL) {
    free(v);
    return CSC_ENOMEM;
  }
  cfg->entries[cfg->n].key = k;
  cfg->entries[cfg->n].value = v;
  cfg->n++;
  return CSC_OK;
}

const char *config_get(const struct config *cfg, const char *key) {
  const struct config_entry *e = config_find(cfg, key);
  return e ? e->value : NULL;
}

int config_get_long(const struct config *cfg, const char *key, long def, long *out) {
  const char *v = config_get(cfg, key);
  if (v == NULL) {
    *out = def;
    return CSC_OK;
  }
  char *end;
  errno = 0;
  const long x = strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0')
    return CSC_EINVAL;
  *out = x;
  return CSC_OK;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return CSC_EIO;
  }
  char line[4096];
  int lineno = 0, rc = CSC_OK;
  while (rc == CSC_OK && fgets(line, sizeof line, f) != NULL) {
    lineno++;
    if (strchr(line, '\n') == NULL && !feof(f)) {
      snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno, sizeof line - 1);
      rc = CSC_EINVAL;
      break;
    }
    char *s = trim(line);
    if (*s == '\0' || *s == '#')
      continue;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
      /* Name the key when the line starts with a dotted one
       * ("cscflow.batch.max 100"); nothing else of the line is echoed: a
       * lone word may be a secret pasted on a line of its own. */
      size_t n = 0;
      int dotted = 0;
      while (n < 64 && (isalnum((unsigned char)s[n]) || s[n] == '.' || s[n] == '_' || s[n] == '-'))
        dotted |= s[n++] == '.';
      if (dotted && n < 64 && (s[n] == '\0' || isspace((unsigned char)s[n])))
        snprintf(err, errlen, "%s:%d: %.*s: expected key=value", path, lineno, (int)n, s);
      else
        snprintf(err, errlen, "%s:%d: expected key=value", path, lineno);
      rc = CSC_EINVAL;
      break;
    }
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    if (*key == '\0') {
      snprintf(err, errlen, "%s:%d: empty key", path, lineno);
      rc = CSC_EINVAL;
      break;
    }
    rc = config_set(cfg, key, value);
    if (rc != CSC_OK)
      snprintf(err, errlen, "%s:%d: %s", path, lineno, csc_strerror(rc));
  }
  if (rc == CSC_OK && ferror(f)) {
    snprintf(err, errlen, "%s: read error", path);
    rc = CSC_EIO;
  }
  fclose(f);
  return rc;
}
