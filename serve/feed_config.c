/*
 * feed_config.c — the feed's configuration: the cscflow.feed.* keys read
 * into a struct feed_config (serve/feed.h lists them).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "serve/feed.h"

#define FEED_MAX_BODY_MIN (1L << 20)
#define FEED_MAX_BODY_MAX (256L << 20)

static int hex_hash(const char *hex, uint8_t out[32]) {
  if (hex == NULL || strlen(hex) != 64)
    return CSC_EINVAL;
  for (size_t i = 0; i < 32; i++) {
    unsigned v;
    if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
        sscanf(hex + 2 * i, "%2x", &v) != 1)
      return CSC_EINVAL;
    out[i] = (uint8_t)v;
  }
  return CSC_OK;
}

static int client_id_valid(const char *s, size_t n) {
  if (n == 0 || n > FEED_CLIENT_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
      return 0;
  return 1;
}

static struct feed_client *client_named(struct feed_config *fc, const char *id, size_t n) {
  for (size_t i = 0; i < fc->n; i++)
    if (strlen(fc->clients[i].id) == n && memcmp(fc->clients[i].id, id, n) == 0)
      return &fc->clients[i];
  return NULL;
}

static int long_in(const char *v, long lo, long hi, long *out) {
  char *end;
  if (v == NULL || *v == '\0')
    return CSC_EINVAL;
  const long x = strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    return CSC_EINVAL;
  *out = x;
  return CSC_OK;
}

#define CLIENT_PREFIX "cscflow.feed.client."

/* The fields of one client's key, or CSC_EINVAL with err. */
static int client_field(struct feed_client *c, const char *key, const char *field,
                        const char *v, char *err, size_t errlen) {
  if (strcmp(field, "la") == 0) {
    if (strlen(v) >= sizeof c->la || !ingest_la_code_valid(v))
      goto bad;
    memcpy(c->la, v, strlen(v) + 1);
  } else if (strcmp(field, "secret") == 0) {
    if (hex_hash(v, c->secret) != CSC_OK)
      goto hex;
  } else if (strcmp(field, "supplier_key") == 0) {
    if (hex_hash(v, c->supplier_key) != CSC_OK)
      goto hex;
  } else if (strcmp(field, "mode") == 0) {
    if (strcmp(v, "full") != 0 && strcmp(v, "partial") != 0) {
      snprintf(err, errlen, "%s: expected full or partial", key);
      return CSC_EINVAL;
    }
    c->partial = strcmp(v, "partial") == 0;
  } else if (strcmp(field, "test") == 0) {
    if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
      snprintf(err, errlen, "%s: expected true or false", key);
      return CSC_EINVAL;
    }
    c->test = strcmp(v, "true") == 0;
  } else if (strcmp(field, "token_lifetime_s") == 0) {
    if (long_in(v, 60, 7 * 86400, &c->token_lifetime_s) != CSC_OK) {
      snprintf(err, errlen, "%s: must be between 60 and 604800", key);
      return CSC_EINVAL;
    }
  } else {
    snprintf(err, errlen, "%s: unknown key (a client has la, secret, supplier_key, mode, test, "
                          "token_lifetime_s)", key);
    return CSC_EINVAL;
  }
  return CSC_OK;
bad:
  snprintf(err, errlen, "%s: expected an LA code (the DfE number the sender's path names)", key);
  return CSC_EINVAL;
hex:
  snprintf(err, errlen, "%s: expected 64 hex digits (a SHA-256)", key);
  return CSC_EINVAL;
}

static int add_clients(struct feed_config *fc, const struct config *cfg, char *err,
                       size_t errlen) {
  const size_t plen = sizeof CLIENT_PREFIX - 1;
  for (size_t i = 0; i < cfg->n; i++) {
    const char *key = cfg->entries[i].key;
    if (strncmp(key, CLIENT_PREFIX, plen) != 0)
      continue;
    const char *id = key + plen, *dot = strrchr(id, '.');
    if (dot == NULL || !client_id_valid(id, (size_t)(dot - id))) {
      snprintf(err, errlen, "%s: expected " CLIENT_PREFIX "<ID>.<field>, ID of 1 to %d of "
                            "A-Z a-z 0-9 _ -", key, FEED_CLIENT_ID_MAX);
      return CSC_EINVAL;
    }
    struct feed_client *c = client_named(fc, id, (size_t)(dot - id));
    if (c == NULL) {
      struct feed_client *v = realloc(fc->clients, (fc->n + 1) * sizeof *v);
      if (v == NULL)
        return CSC_ENOMEM;
      fc->clients = v;
      c = &v[fc->n++];
      memset(c, 0, sizeof *c);
      memcpy(c->id, id, (size_t)(dot - id));
      c->partial = 1; /* the Python sender's default */
      c->token_lifetime_s = FEED_TOKEN_LIFETIME_S_DEFAULT;
    }
    const int rc = client_field(c, key, dot + 1, cfg->entries[i].value, err, errlen);
    if (rc != CSC_OK)
      return rc;
  }
  return CSC_OK;
}

static int all_zero(const uint8_t *b, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= b[i];
  return acc == 0;
}

int feed_config_load(struct feed_config *fc, const struct config *cfg,
                     const struct la_registry *las, char *err, size_t errlen) {
  memset(fc, 0, sizeof *fc);
  fc->max_body_bytes = FEED_MAX_BODY_BYTES_DEFAULT;
  fc->ack_timeout_ms = FEED_ACK_TIMEOUT_MS_DEFAULT;
  const char *topic = config_get(cfg, "cscflow.topic.events");
  snprintf(fc->topic, sizeof fc->topic, "%s", topic ? topic : "csc.events.v1");
  int rc = add_clients(fc, cfg, err, errlen);
  const char *v;
  if (rc == CSC_OK && (v = config_get(cfg, "cscflow.feed.max_body_bytes")) != NULL &&
      long_in(v, FEED_MAX_BODY_MIN, FEED_MAX_BODY_MAX, &fc->max_body_bytes) != CSC_OK) {
    snprintf(err, errlen, "cscflow.feed.max_body_bytes: must be between %ld and %ld",
             FEED_MAX_BODY_MIN, FEED_MAX_BODY_MAX);
    rc = CSC_EINVAL;
  }
  if (rc == CSC_OK && (v = config_get(cfg, "cscflow.feed.ack_timeout_ms")) != NULL &&
      long_in(v, 100, 15000, &fc->ack_timeout_ms) != CSC_OK) {
    snprintf(err, errlen, "cscflow.feed.ack_timeout_ms: must be between 100 and 15000");
    rc = CSC_EINVAL;
  }
  for (size_t i = 0; rc == CSC_OK && i < fc->n; i++) {
    struct feed_client *c = &fc->clients[i];
    const char *why = NULL, *canonical;
    if (c->la[0] == '\0' || all_zero(c->secret, 32) || all_zero(c->supplier_key, 32)) {
      snprintf(err, errlen, CLIENT_PREFIX "%s: needs la, secret and supplier_key", c->id);
      rc = CSC_EINVAL;
    } else if ((canonical = la_registry_resolve(las, c->la, &why)) == NULL) {
      snprintf(err, errlen, CLIENT_PREFIX "%s.la: %s: %s", c->id, c->la,
               why ? why : "not an LA this deployment serves");
      rc = CSC_EINVAL;
    } else {
      snprintf(c->canonical, sizeof c->canonical, "%s", canonical);
    }
  }
  v = config_get(cfg, "cscflow.feed.signing_key");
  if (rc == CSC_OK && fc->n > 0 && (v == NULL || strlen(v) < FEED_SIGNING_KEY_MIN)) {
    snprintf(err, errlen, "cscflow.feed.signing_key: required with feed clients, at least %d "
                          "bytes", FEED_SIGNING_KEY_MIN);
    rc = CSC_EINVAL;
  }
  if (rc == CSC_OK && v != NULL && (fc->signing_key = strdup(v)) == NULL)
    rc = CSC_ENOMEM;
  if (rc != CSC_OK)
    feed_config_free(fc);
  return rc;
}

void feed_config_free(struct feed_config *fc) {
  free(fc->clients);
  if (fc->signing_key)
    memset(fc->signing_key, 0, strlen(fc->signing_key));
  free(fc->signing_key);
  memset(fc, 0, sizeof *fc);
}
