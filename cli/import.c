/*
 * cscflow import: an LA's statutory return as a file of length-delimited
 * CaseEvents for `cscflow replay`, and an import report.
 *
 *   cscflow import 903 --la CODE --year YYYY --out FILE [--report FILE]
 *                      [--until YYYY-MM-DD] TABLE.csv...
 *   cscflow import cin --la CODE --out FILE [--report FILE]
 *                      [--until YYYY-MM-DD] CENSUS.xml...
 *
 * With --config FILE (instead of --out) the events go straight to the input
 * topic (csc.events.v1) with the producer options `run` uses (the config's
 * bootstrap.servers and producer.* keys), keyed by the LA's canonical code
 * (cscflow.la.alias.*) and partitioned with murmur2 as every cscflow
 * producer is, so that an LA's events share a partition.
 *
 * Exit status: 0 when the import ran (rows left out are in the report, not
 * failures), 64 for usage, 78 for a bad config, 1 when a file could not be
 * read or written or an event was not delivered.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "feeds/feeds.h"

/* Where the events go: a file, or the input topic. */
struct destination {
  FILE *file;
  struct sink *sink;
  char key[LA_CODE_SIZE]; /* the LA's canonical code: the message key */
  char topic[256];        /* cscflow.topic.events, as run consumes it */
  uint64_t sent, failed;
  uint8_t *buf;
  size_t cap;
};

static int usage_import(void) {
  fputs("usage: cscflow import 903 --la CODE --year YYYY (--out FILE | --config FILE)\n"
        "                          [--report FILE]\n"
        "                          [--until YYYY-MM-DD] [--child-map FILE] [--previous FILE]\n"
        "                          TABLE.csv...\n"
        "       cscflow import cin --la CODE (--out FILE | --config FILE) [--report FILE]\n"
        "                          [--until YYYY-MM-DD] [--child-map FILE] CENSUS.xml...\n"
        "  --year YYYY   the 903's collection year, ending 31 March YYYY (a census names its own)\n"
        "  --until DATE  leave out what is dated after DATE (the live feed holds it)\n"
        "  --child-map FILE  CSV return_id,la_child_id: the ids the LA's systems use\n"
        "  --config FILE     produce to csc.events.v1 with the producer options of run\n"
        "  --previous FILE   an earlier import's events: the report lists what this contradicts\n",
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

static void on_ack(void *ctx, uint64_t seq, int err) {
  (void)seq;
  struct destination *d = ctx;
  if (err != CSC_OK)
    d->failed++;
}

static int send_event(struct destination *d, const CaseEvent *ev) {
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  if (n > d->cap) {
    uint8_t *b = realloc(d->buf, n);
    if (b == NULL)
      return CSC_ENOMEM;
    d->buf = b;
    d->cap = n;
  }
  cscflow__v1__case_event__pack(ev, d->buf);
  const struct sink_message m = {d->topic, d->key, strlen(d->key), d->buf, n, NULL, 0,
                                 d->sent++};
  const int rc = d->sink->publish(d->sink, &m); /* copies the bytes */
  d->sink->poll(d->sink, 0);
  return rc;
}

static int write_event(void *ctx, const CaseEvent *ev) {
  struct destination *d = ctx;
  if (d->sink != NULL)
    return send_event(d, ev);
  return ingest_write_delimited(d->file, ev) == CSC_OK ? CSC_OK : CSC_EIO;
}

/* The producer of `run`'s config, and the LA's canonical code as the key.
 * 0, or the exit status. */
static int open_producer(struct destination *d, const struct config *cfg, const char *la) {
  struct la_registry las;
  char err[512];
  int status = 0;
  if (la_registry_load(&las, cfg, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow import: config: %s\n", err);
    return EXIT_CONFIG;
  }
  const char *topic = config_get(cfg, "cscflow.topic.events");
  snprintf(d->topic, sizeof d->topic, "%s", topic ? topic : TOPIC_EVENTS);
  const char *why = NULL;
  const char *canonical = la_registry_resolve(&las, la, &why);
  if (canonical == NULL || strlen(canonical) >= sizeof d->key) {
    fprintf(stderr, "cscflow import: --la %s: %s\n", la, why ? why : "not an LA this config serves");
    status = EXIT_USAGE;
  } else {
    memcpy(d->key, canonical, strlen(canonical) + 1);
  }
  rd_kafka_conf_t *conf =
      status == 0 ? kafka_conf_from_config(cfg, "producer", err, sizeof err) : NULL;
  if (status == 0 && (conf == NULL || rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err,
                                                         sizeof err) != RD_KAFKA_CONF_OK)) {
    fprintf(stderr, "cscflow import: config: %s\n", err);
    status = EXIT_CONFIG;
  }
  if (status == 0 && kafka_sink_new(conf, &d->sink, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow import: kafka: %s\n", err);
    status = 1;
    conf = NULL; /* the sink took it */
  } else if (status != 0 && conf != NULL) {
    rd_kafka_conf_destroy(conf);
  }
  if (d->sink != NULL) {
    d->sink->on_ack = on_ack;
    d->sink->ack_ctx = d;
  }
  la_registry_free(&las);
  return status;
}

/* Every event delivered, or the count that was not. */
static int close_destination(struct destination *d, int rc) {
  if (d->file != NULL && fclose(d->file) != 0 && rc == CSC_OK)
    rc = CSC_EIO;
  if (d->sink != NULL) {
    if (d->sink->flush(d->sink, 60000) != CSC_OK || d->failed > 0) {
      fprintf(stderr, "cscflow import: %llu of %llu events not delivered\n",
              (unsigned long long)(d->failed ? d->failed : d->sent), (unsigned long long)d->sent);
      if (rc == CSC_OK)
        rc = CSC_EKAFKA;
    }
    d->sink->destroy(d->sink);
  }
  free(d->buf);
  return rc;
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
                                       {"config", required_argument, 0, 'c'},
                                       {"previous", required_argument, 0, 'p'},
                                       {0, 0, 0, 0}};
  struct import_options o = {.kind = kind, .until = DATE_NEVER};
  const char *out = NULL, *report = NULL, *map = NULL, *config = NULL, *previous = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'l': o.la = optarg; break;
    case 'y': o.year = atoi(optarg); break;
    case 'o': out = optarg; break;
    case 'r': report = optarg; break;
    case 'm': map = optarg; break;
    case 'c': config = optarg; break;
    case 'p': previous = optarg; break;
    case 'u':
      if (date_parse(optarg, &o.until) != CSC_OK) {
        fprintf(stderr, "cscflow import: --until %s: expected YYYY-MM-DD\n", optarg);
        return EXIT_USAGE;
      }
      break;
    default: return usage_import();
    }
  }
  if (o.la == NULL || (out == NULL) == (config == NULL) || optind >= argc ||
      (kind == IMPORT_903) != (o.year != 0))
    return usage_import();
  struct destination d = {0};
  struct config cfg;
  struct refdata ref;
  config_init(&cfg);
  int status = cli_load_config(&cfg, config);
  if (status != 0) {
    config_free(&cfg);
    return status;
  }
  if ((status = cli_load_refdata(&ref, &cfg)) != 0) {
    config_free(&cfg);
    return status;
  }
  o.codes = &ref.codes;
  if (config != NULL)
    status = open_producer(&d, &cfg, o.la);
  else if ((d.file = fopen(out, "wb")) == NULL) {
    fprintf(stderr, "cscflow import: %s: %s\n", out, strerror(errno));
    status = 1;
  }
  config_free(&cfg);
  if (status != 0) {
    close_destination(&d, CSC_OK);
    refdata_free(&ref);
    return status;
  }
  o.emit = write_event;
  o.emit_ctx = &d;
  struct import *im;
  int rc = import_new(&o, &im);
  if (rc != CSC_OK) {
    close_destination(&d, rc);
    refdata_free(&ref);
    fprintf(stderr, "cscflow import: --la must be an LA code (and the 903's --year 1990..2199)\n");
    return rc == CSC_EINVAL ? EXIT_USAGE : 1;
  }
  rc = map ? load_map(im, map) : CSC_OK;
  if (rc == CSC_OK && previous != NULL && (rc = import_load_previous(im, previous)) != CSC_OK)
    fprintf(stderr, "cscflow import: --previous %s: %s\n", previous,
            rc == CSC_EIO ? "cannot be read" : "not a file of events");
  if (rc == CSC_OK)
    rc = read_files(im, kind, argv + optind, argc - optind);
  if (rc == CSC_OK && kind == IMPORT_903)
    rc = import_903_finish(im);
  rc = close_destination(&d, rc);
  if (rc == CSC_OK)
    rc = write_report(im, report);
  import_report_summary(im, stderr);
  import_free(im);
  refdata_free(&ref);
  if (rc != CSC_OK)
    fprintf(stderr, "cscflow import: stopped: %s; %s is incomplete\n", csc_strerror(rc),
            out ? out : "what the topic received");
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
