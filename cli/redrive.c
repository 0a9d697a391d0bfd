/*
 * cscflow redrive --config FILE [--reason R] [--from TIME] [--until TIME] [--rekey]
 *
 * Sends the dead letters of csc.events.dlq.v1 that match the filter back to
 * the input topic (ingest/redrive.h has the contract), then prints one
 * redrive_summary JSON line on stderr: dead letters read, redriven
 * (delivered), left (not selected), failed (selected, not delivered), after
 * one redrive_reason line per reason (sent, left). Exit 0 when everything selected was delivered and the
 * group's positions committed; 1 otherwise (nothing committed: a later run
 * sends again); 64 for bad arguments; 78 for a bad configuration.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ingest/redrive.h"

static void redrive_usage(void) {
  fputs("usage: cscflow redrive --config FILE [--reason R] [--from TIME] [--until TIME] "
        "[--rekey]\n"
        "  R: a prefix of the dead letters' reason header (the whole reason matches exactly)\n"
        "  TIME: YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM[:SS[.fff]]Z; [from, until)\n"
        "  --rekey: key by the canonical code of the event's la_code (after a new mapping)\n",
        stderr);
}

/* One redrive_reason line per reason, then the redrive_summary line.
 * log_json escapes every %s inside a JSON string of the format, so the
 * group (which holds the --reason argument) cannot break the line; reasons
 * are printable and free of quotes and backslashes already (redrive.c names
 * the rest "other"). */
static void summary(const char *group, const struct redrive_stats *st) {
  for (size_t i = 0; i < st->n_reasons; i++)
    log_json(LOG_INFO, "redrive_reason", "\"reason\":\"%s\",\"sent\":%llu,\"left\":%llu",
             st->reasons[i].reason, (unsigned long long)st->reasons[i].redriven,
             (unsigned long long)st->reasons[i].left);
  log_json(LOG_INFO, "redrive_summary",
           "\"group\":\"%s\",\"partitions\":%d,\"read\":%llu,\"redriven\":%llu,\"left\":%llu,"
           "\"failed\":%llu,\"rekeyed\":%llu,\"committed\":%s,\"stopped\":%s",
           group, (int)st->partitions, (unsigned long long)st->read,
           (unsigned long long)st->redriven, (unsigned long long)st->left,
           (unsigned long long)st->failed, (unsigned long long)st->rekeyed,
           st->committed ? "true" : "false",
           st->stopped ? "true" : "false");
}

struct redrive_args {
  const char *config;
  int rekey;
  struct redrive_filter filter;
};

static int parse_args(int argc, char **argv, struct redrive_args *a) {
  static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                       {"reason", required_argument, 0, 'r'},
                                       {"from", required_argument, 0, 'f'},
                                       {"until", required_argument, 0, 'u'},
                                       {"rekey", no_argument, 0, 'k'},
                                       {0, 0, 0, 0}};
  a->filter = (struct redrive_filter){NULL, INT64_MIN, INT64_MAX};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'c': a->config = optarg; break;
    case 'r': a->filter.reason = optarg; break;
    case 'k': a->rekey = 1; break;
    case 'f':
    case 'u':
      if (redrive_parse_time(optarg, c == 'f' ? &a->filter.from_ms : &a->filter.until_ms) !=
          CSC_OK) {
        fprintf(stderr, "cscflow redrive: --%s: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n",
                c == 'f' ? "from" : "until");
        return EXIT_USAGE;
      }
      break;
    default: redrive_usage(); return EXIT_USAGE;
    }
  }
  if (a->config == NULL || optind != argc || (a->filter.reason && !*a->filter.reason)) {
    redrive_usage();
    return EXIT_USAGE;
  }
  if (a->filter.from_ms >= a->filter.until_ms) {
    fprintf(stderr, "cscflow redrive: --from must be before --until\n");
    return EXIT_USAGE;
  }
  return 0;
}

int cmd_redrive(int argc, char **argv, volatile sig_atomic_t *stop) {
  struct redrive_args a = {0};
  int rc = parse_args(argc, argv, &a);
  if (rc != 0)
    return rc;
  struct config cfg;
  config_init(&cfg);
  rc = cli_load_config(&cfg, a.config);
  const char *prefix = config_get(&cfg, "cscflow.redrive.group");
  char group[512];
  if (rc == 0 && config_get(&cfg, "bootstrap.servers") == NULL) {
    fprintf(stderr, "cscflow: config: bootstrap.servers: required by redrive\n");
    rc = EXIT_CONFIG;
  }
  if (rc == 0 && redrive_group_name(prefix ? prefix : REDRIVE_GROUP_DEFAULT, &a.filter, group,
                                    sizeof group) != CSC_OK) {
    fprintf(stderr, "cscflow redrive: the group name of this filter is too long\n");
    rc = EXIT_USAGE;
  }
  struct la_registry las = {0};
  char err[512] = "";
  if (rc == 0 && a.rekey && la_registry_load(&las, &cfg, err, sizeof err) != CSC_OK) {
    fprintf(stderr, "cscflow: config: %s\n", err);
    rc = EXIT_CONFIG;
  }
  if (rc != 0) {
    la_registry_free(&las);
    config_free(&cfg);
    return rc;
  }
  const char *input = config_get(&cfg, "cscflow.topic.events");
  const struct redrive_options o = {.cfg = &cfg,
                                    .dlq_topic = TOPIC_DLQ,
                                    .input_topic = input ? input : TOPIC_EVENTS,
                                    .group = group,
                                    .filter = a.filter,
                                    .rekey = a.rekey ? &las : NULL,
                                    .stop = stop};
  struct redrive_stats st;
  rc = redrive_run(&o, &st, err, sizeof err);
  summary(group, &st);
  if (rc != CSC_OK)
    fprintf(stderr, "cscflow redrive: %s\n", err[0] ? err : csc_strerror(rc));
  else if (st.stopped)
    fprintf(stderr, "cscflow redrive: stopped before the end; nothing committed\n");
  la_registry_free(&las);
  config_free(&cfg);
  return rc == CSC_OK && !st.stopped ? 0 : rc == CSC_EINVAL ? EXIT_CONFIG : 1;
}
