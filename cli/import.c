/*
 * cscflow import: an LA's statutory return as a file of length-delimited
 * CaseEvents for `cscflow replay`, and an import report.
 *
 *   cscflow import 903 --la CODE --year YYYY --out FILE [--report FILE]
 *                      [--until YYYY-MM-DD] TABLE.csv...
 *   cscflow import cin --la CODE --out FILE [--report FILE]
 *                      [--until YYYY-MM-DD] CENSUS.xml...
 *
 * Exit status: 0 when the import ran (rows left out are in the report, not
 * failures), 64 for usage, 1 when a file could not be read or written.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "feeds/feeds.h"

static int usage_import(void) {
  fputs("usage: cscflow import 903 --la CODE --year YYYY --out FILE [--report FILE]\n"
        "                          [--until YYYY-MM-DD] [--child-map FILE] TABLE.csv...\n"
        "       cscflow import cin --la CODE --out FILE [--report FILE]\n"
        "                          [--until YYYY-MM-DD] [--child-map FILE] CENSUS.xml...\n"
        "  --year YYYY   the 903's collection year, ending 31 March YYYY (a census names its own)\n"
        "  --until DATE  leave out what is dated after DATE (the live feed holds it)\n"
        "  --child-map FILE  CSV return_id,la_child_id: the ids the LA's systems use\n",
        stderr);
  return EXIT_USAGE;
}

/* The whole of file f into a malloc'd buffer. */
static int slurp(FILE *f, char **out, size_t *len) {
  size_t cap = 1 << 16, n = 0, got;
  char *buf = malloc(cap);
  if (buf == NULL)
    return CSC_ENOMEM;
  while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *b = realloc(buf, cap *= 2);
      if (b == NULL) {
        free(buf);
        return CSC_ENOMEM;
      }
      buf = b;
    }
  }
  if (ferror(f)) {
    free(buf);
    return CSC_EIO;
  }
  *out = buf;
  *len = n;
  return CSC_OK;
}

static int read_one(struct import *im, enum import_return kind, const char *name, FILE *f) {
  if (kind == IMPORT_903)
    return import_903_table(im, name, f);
  char *xml;
  size_t len;
  int rc = slurp(f, &xml, &len);
  if (rc == CSC_OK) {
    rc = import_cin_file(im, name, xml, len);
    free(xml);
  }
  return rc;
}

static int write_event(void *ctx, const CaseEvent *ev) {
  return ingest_write_delimited(ctx, ev) == CSC_OK ? CSC_OK : CSC_EIO;
}

static int read_files(struct import *im, enum import_return kind, char **paths, int n) {
  for (int i = 0; i < n; i++) {
    FILE *f = fopen(paths[i], "rb");
    if (f == NULL) {
      fprintf(stderr, "cscflow import: %s: %s\n", paths[i], strerror(errno));
      return CSC_EIO;
    }
    const char *slash = strrchr(paths[i], '/');
    const int rc = read_one(im, kind, slash ? slash + 1 : paths[i], f);
    fclose(f);
    if (rc != CSC_OK) {
      fprintf(stderr, "cscflow import: %s: %s\n", paths[i], csc_strerror(rc));
      return rc;
    }
  }
  return CSC_OK;
}

static int load_map(struct import *im, const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "cscflow import: --child-map %s: %s\n", path, strerror(errno));
    return CSC_EIO;
  }
  long line;
  const int rc = import_load_child_map(im, f, &line);
  fclose(f);
  if (rc == CSC_EINVAL && line > 0)
    fprintf(stderr, "cscflow import: --child-map %s:%ld: expected return_id,la_child_id\n", path,
            line);
  else if (rc == CSC_EINVAL)
    fprintf(stderr, "cscflow import: --child-map %s: a return id is listed twice\n", path);
  return rc;
}

static int write_report(const struct import *im, const char *path) {
  if (path == NULL)
    return CSC_OK;
  FILE *f = fopen(path, "w");
  int rc = f ? import_report_json(im, f) : CSC_EIO;
  if (f != NULL && fclose(f) != 0)
    rc = CSC_EIO;
  if (rc != CSC_OK)
    fprintf(stderr, "cscflow import: cannot write the report %s\n", path);
  return rc;
}

static int import_return(enum import_return kind, int argc, char **argv) {
  static const struct option opts[] = {{"la", required_argument, 0, 'l'},
                                       {"year", required_argument, 0, 'y'},
                                       {"out", required_argument, 0, 'o'},
                                       {"report", required_argument, 0, 'r'},
                                       {"until", required_argument, 0, 'u'},
                                       {"child-map", required_argument, 0, 'm'},
                                       {0, 0, 0, 0}};
  struct import_options o = {.kind = kind, .until = DATE_NEVER};
  const char *out = NULL, *report = NULL, *map = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'l': o.la = optarg; break;
    case 'y': o.year = atoi(optarg); break;
    case 'o': out = optarg; break;
    case 'r': report = optarg; break;
    case 'm': map = optarg; break;
    case 'u':
      if (date_parse(optarg, &o.until) != CSC_OK) {
        fprintf(stderr, "cscflow import: --until %s: expected YYYY-MM-DD\n", optarg);
        return EXIT_USAGE;
      }
      break;
    default: return usage_import();
    }
  }
  if (o.la == NULL || out == NULL || optind >= argc || (kind == IMPORT_903) != (o.year != 0))
    return usage_import();
  FILE *f = fopen(out, "wb");
  if (f == NULL) {
    fprintf(stderr, "cscflow import: %s: %s\n", out, strerror(errno));
    return 1;
  }
  o.emit = write_event;
  o.emit_ctx = f;
  struct import *im;
  int rc = import_new(&o, &im);
  if (rc != CSC_OK) {
    fclose(f);
    fprintf(stderr, "cscflow import: --la must be an LA code (and the 903's --year 1990..2199)\n");
    return rc == CSC_EINVAL ? EXIT_USAGE : 1;
  }
  rc = map ? load_map(im, map) : CSC_OK;
  if (rc == CSC_OK)
    rc = read_files(im, kind, argv + optind, argc - optind);
  if (rc == CSC_OK && kind == IMPORT_903)
    rc = import_903_finish(im);
  if (fclose(f) != 0 && rc == CSC_OK)
    rc = CSC_EIO;
  if (rc == CSC_OK)
    rc = write_report(im, report);
  import_report_summary(im, stderr);
  import_free(im);
  if (rc != CSC_OK)
    fprintf(stderr, "cscflow import: stopped: %s; %s is incomplete\n", csc_strerror(rc), out);
  return rc == CSC_OK ? 0 : 1;
}

int cmd_import(int argc, char **argv) {
  const int is_903 = argc >= 2 && strcmp(argv[1], "903") == 0;
  if (argc < 2 || (!is_903 && strcmp(argv[1], "cin") != 0)) {
    fputs("cscflow import: the return to import: 903 or cin\n", stderr);
    return usage_import();
  }
  argv[1] = argv[0];
  return import_return(is_903 ? IMPORT_903 : IMPORT_CIN, argc - 1, argv + 1);
}
