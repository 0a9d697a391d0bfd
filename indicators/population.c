#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "indicators/indicators.h"

void population_init(struct population *p) {
  p->rows = NULL;
  p->n = p->cap = 0;
}

void population_free(struct population *p) {
  free(p->rows);
  population_init(p);
}

int population_set(struct population *p, const char *la, int year, int64_t children) {
  if (la[0] == '\0' || strlen(la) >= sizeof p->rows[0].la || children <= 0)
    return CSC_EINVAL;
  for (size_t i = 0; i < p->n; i++)
    if (p->rows[i].year == year && strcmp(p->rows[i].la, la) == 0) {
      p->rows[i].children = children;
      return CSC_OK;
    }
  if (p->n == p->cap) {
    const size_t cap = p->cap ? p->cap * 2 : 64;
    struct population_row *rows = realloc(p->rows, cap * sizeof *rows);
    if (rows == NULL)
      return CSC_ENOMEM;
    p->rows = rows;
    p->cap = cap;
  }
  struct population_row *r = &p->rows[p->n++];
  snprintf(r->la, sizeof r->la, "%s", la);
  r->year = year;
  r->children = children;
  return CSC_OK;
}

static int parse_row(struct population *p, char *line) {
  char *la = strtok(line, ",\r\n");
  char *year = strtok(NULL, ",\r\n");
  char *count = strtok(NULL, ",\r\n");
  if (la == NULL || year == NULL || count == NULL || strtok(NULL, ",\r\n") != NULL)
    return CSC_EINVAL;
  char *end1, *end2;
  errno = 0;
  const long y = strtol(year, &end1, 10);
  const long long c = strtoll(count, &end2, 10);
  if (errno || *end1 || *end2 || y < 1900 || y > 2199)
    return CSC_EINVAL;
  return population_set(p, la, (int)y, c);
}

int population_load_csv(struct population *p, const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return CSC_EIO;
  }
  char line[256];
  int lineno = 0, rc = CSC_OK;
  while (rc == CSC_OK && fgets(line, sizeof line, f) != NULL) {
    lineno++;
    if (line[0] == '#' || line[0] == '\n' || (lineno == 1 && strncmp(line, "la_code,", 8) == 0))
      continue;
    rc = parse_row(p, line);
    if (rc != CSC_OK)
      snprintf(err, errlen, "%s:%d: expected la_code,year,population", path, lineno);
  }
  fclose(f);
  return rc;
}

int population_load_config(struct population *p, const struct config *cfg, char *err,
                           size_t errlen) {
  static const char prefix[] = "cscflow.population.";
  for (size_t i = 0; i < cfg->n; i++) {
    const char *key = cfg->entries[i].key;
    if (strncmp(key, prefix, sizeof prefix - 1) != 0 || strcmp(key, "cscflow.population.file") == 0)
      continue;
    /* cscflow.population.<LA>.<YEAR> = children */
    char line[256];
    const char *rest = key + sizeof prefix - 1;
    const char *dot = strrchr(rest, '.');
    int n = dot ? snprintf(line, sizeof line, "%.*s,%s,%s", (int)(dot - rest), rest, dot + 1,
                           cfg->entries[i].value)
                : -1;
    if (n < 0 || (size_t)n >= sizeof line || parse_row(p, line) != CSC_OK) {
      snprintf(err, errlen, "%s: expected cscflow.population.<LA>.<YEAR>=<children>", key);
      return CSC_EINVAL;
    }
  }
  return CSC_OK;
}

int64_t population_lookup(const struct population *p, const char *la, csc_date as_of) {
  int y, m, d;
  date_to_ymd(as_of, &y, &m, &d);
  int best_year = 0;
  int64_t best = -1;
  for (size_t i = 0; i < p->n; i++) {
    const struct population_row *r = &p->rows[i];
    if (r->year <= y && r->year > best_year && strcmp(r->la, la) == 0) {
      best_year = r->year;
      best = r->children;
    }
  }
  return best;
}
