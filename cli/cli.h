/*
 * cli.h — what the subcommands of the cscflow program share.
 */
#ifndef CSCFLOW_CLI_H
#define CSCFLOW_CLI_H

#include <signal.h>

#include "base/base.h"
#include "indicators/indicators.h"

/* sysexits.h values, so that service managers can tell usage from config. */
#define EXIT_USAGE 64
#define EXIT_CONFIG 78
/* The state directory's faults (README, *Exit statuses*; docs/operations.md). */
#define EXIT_STATE_DAMAGED 65 /* EX_DATAERR: damaged, or of another schema version */
#define EXIT_STATE_NOSPACE 74 /* EX_IOERR: could not be written; earlier commits kept */
#define EXIT_STATE_LOCKED 75  /* EX_TEMPFAIL: another writer holds the directory */

/* The exit status of a failure with CSC_E* code rc: one of the three above
 * for a state fault, 1 for anything else. */
int cli_exit_status(int rc);

/* Prints "cscflow CMD: state DIR: what to do" for a state fault that
 * stopped a command after it opened the store (nothing for other codes). */
void cli_state_fault(const char *cmd, const char *dir, int rc);

/* Loads the population table of cfg, then of the CSV file csv when given.
 * Prints the reason and returns EXIT_CONFIG on failure, 0 on success. */
int cli_load_population(struct population *pop, const struct config *cfg, const char *csv);

/* Loads the reference data of cfg (bank holidays, visit intervals; the
 * shipped bank-holiday file unless cscflow.calendar.bank_holidays names
 * another). Prints the reason and returns EXIT_CONFIG on failure. */
int cli_load_refdata(struct refdata *ref, const struct config *cfg);

/* Loads what each LA's feeds carry (cscflow.feeds.<LA>, an alias of las
 * filed under its canonical code). Prints the reason and returns
 * EXIT_CONFIG on failure, 0 on success. */
int cli_load_coverage(struct coverage *c, const struct config *cfg,
                      const struct la_registry *las);

/* cscflow demo: the whole pipeline on librdkafka's mock cluster. */
int cmd_demo(int argc, char **argv, volatile sig_atomic_t *stop);

/* Loads the config file path (NULL: none) into cfg and checks cscflow's
 * keys. Prints the reason and returns EXIT_CONFIG on failure, 0 on success. */
int cli_load_config(struct config *cfg, const char *path);

/* cscflow redrive: dead letters back to the input topic (cli/redrive.c). */
int cmd_redrive(int argc, char **argv, volatile sig_atomic_t *stop);

/* cscflow import: a statutory return as events (cli/import.c). */
int cmd_import(int argc, char **argv);

#endif
