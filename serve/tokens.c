/*
 * API tokens: only their SHA-256 is kept, and a presented token is hashed
 * and compared with every stored hash in constant time, so that neither the
 * config nor response timing gives a token away.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "serve/serve.h"

#define TOKEN_KEY_PREFIX "cscflow.api.token."
#define OPERATOR_KEY "cscflow.api.operator_token"

static void sha256(const char *s, uint8_t out[TOKEN_HASH_SIZE]) {
  struct sha256_ctx ctx;
  sha256_init(&ctx);
  sha256_update(&ctx, strlen(s), (const uint8_t *)s);
  sha256_digest(&ctx, TOKEN_HASH_SIZE, out);
}

void api_token_hash_hex(const char *token, char hex[2 * TOKEN_HASH_SIZE + 1]) {
  uint8_t h[TOKEN_HASH_SIZE];
  sha256(token, h);
  for (int i = 0; i < TOKEN_HASH_SIZE; i++)
    snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int parse_hash(const char *hex, uint8_t out[TOKEN_HASH_SIZE]) {
  if (strlen(hex) != 2 * TOKEN_HASH_SIZE)
    return CSC_EINVAL;
  for (int i = 0; i < TOKEN_HASH_SIZE; i++) {
    const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return CSC_EINVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return CSC_OK;
}

int api_tokens_load(struct api_tokens *t, const struct config *cfg, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  t->v = calloc(cfg->n ? cfg->n : 1, sizeof *t->v);
  if (t->v == NULL) {
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  const size_t prefix = strlen(TOKEN_KEY_PREFIX);
  for (size_t i = 0; i < cfg->n; i++) {
    const char *key = cfg->entries[i].key, *value = cfg->entries[i].value;
    const int is_la = strncmp(key, TOKEN_KEY_PREFIX, prefix) == 0;
    if (!is_la && strcmp(key, OPERATOR_KEY) != 0)
      continue;
    struct api_token *tok = &t->v[t->n];
    const char *la = is_la ? key + prefix : "";
    if (is_la && (strlen(la) >= sizeof tok->la || !ingest_la_code_valid(la))) {
      snprintf(err, errlen, "%s: not an LA code (the DfE number or a letter and eight digits)",
               key);
      api_tokens_free(t);
      return CSC_EINVAL;
    }
    if (parse_hash(value, tok->hash) != CSC_OK) {
      snprintf(err, errlen, "%s: expected the token's SHA-256 as 64 hex digits", key);
      api_tokens_free(t);
      return CSC_EINVAL;
    }
    snprintf(tok->la, sizeof tok->la, "%s", la);
    t->n++;
  }
  return CSC_OK;
}

void api_tokens_free(struct api_tokens *t) {
  free(t->v);
  memset(t, 0, sizeof *t);
}

/* 1 when a and b are equal, looking at every byte whatever they hold. */
static int same_hash(const uint8_t *a, const uint8_t *b) {
  uint8_t diff = 0;
  for (int i = 0; i < TOKEN_HASH_SIZE; i++)
    diff |= (uint8_t)(a[i] ^ b[i]);
  return diff == 0;
}

enum api_access api_tokens_check(const struct api_tokens *t, const char *authorization,
                                 const char *la) {
  static const char bearer[] = "Bearer ";
  if (authorization == NULL || strncmp(authorization, bearer, sizeof bearer - 1) != 0)
    return ACCESS_MISSING;
  const char *token = authorization + sizeof bearer - 1;
  if (token[0] == '\0' || strlen(token) > 256)
    return ACCESS_MISSING;
  uint8_t h[TOKEN_HASH_SIZE];
  sha256(token, h);
  int allowed = 0, known = 0;
  for (size_t i = 0; i < t->n; i++) {
    const int match = same_hash(h, t->v[i].hash);
    known |= match;
    allowed |= match && strcmp(t->v[i].la, la ? la : "") == 0;
  }
  return allowed ? ACCESS_OK : known ? ACCESS_FORBIDDEN : ACCESS_UNKNOWN;
}
