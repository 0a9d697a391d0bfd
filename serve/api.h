/*
 * api.h — the JSON documents of the /v1/las/{la}/ routes, built with
 * jansson from one read transaction. Private to serve/ (http.c routes to
 * them); the formats are documented in serve.h.
 *
 * Each returns CSC_OK with *out a new JSON reference the caller releases
 * (json_decref), or CSC_ENOTFOUND (the LA has no state yet, or no such
 * indicator), CSC_EINVAL (a bad query argument; *why names it),
 * CSC_ENOMEM, CSC_ESTATE.
 */
#ifndef CSCFLOW_SERVE_API_H
#define CSCFLOW_SERVE_API_H

#include <jansson.h>

#include "state/state.h"

/* The days from which an alert counts as due soon. */
#define API_DUE_SOON_DAYS 30
/* The default length of a series: a year of days ending on to. */
#define API_SERIES_DEFAULT_DAYS 365

struct series_query {
  const char *indicator, *window, *breakdown; /* breakdown NULL: "" */
  const char *from, *to;                      /* YYYY-MM-DD, or NULL */
};

int api_series(struct store *st, MDB_txn *txn, const char *la, const struct series_query *q,
               json_t **out, const char **why);
int api_alerts(struct store *st, MDB_txn *txn, const char *la, const char *status, json_t **out,
               const char **why);
int api_quality(struct store *st, MDB_txn *txn, const char *la, json_t **out);

#endif
