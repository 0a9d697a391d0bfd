/*
 * feed_token.c — the feed's tokens: HS256 JSON Web Tokens made and checked
 * with the configured signing key (serve/feed.h says what they carry).
 */
#include <string.h>

#include <jansson.h>
#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "serve/feed.h"

static const char JWT_HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static size_t b64url(const uint8_t *in, size_t n, char *out) {
  struct base64_encode_ctx ctx;
  base64url_encode_init(&ctx);
  size_t len = base64_encode_update(&ctx, out, n, in);
  len += base64_encode_final(&ctx, out + len);
  while (len > 0 && out[len - 1] == '=')
    len--;
  out[len] = '\0';
  return len;
}

static int unb64url(const char *in, size_t n, uint8_t *out, size_t cap, size_t *len) {
  char padded[1024];
  if (n + 4 >= sizeof padded || BASE64_DECODE_LENGTH(n + 3) > cap)
    return CSC_EINVAL;
  memcpy(padded, in, n);
  while (n % 4)
    padded[n++] = '=';
  struct base64_decode_ctx ctx;
  base64url_decode_init(&ctx);
  size_t got = cap;
  if (!base64_decode_update(&ctx, &got, out, n, padded) || !base64_decode_final(&ctx))
    return CSC_EINVAL;
  *len = got;
  return CSC_OK;
}

static void mac(const char *key, const char *msg, size_t n, uint8_t out[SHA256_DIGEST_SIZE]) {
  struct hmac_sha256_ctx ctx;
  hmac_sha256_set_key(&ctx, strlen(key), (const uint8_t *)key);
  hmac_sha256_update(&ctx, n, (const uint8_t *)msg);
  hmac_sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

int feed_token_make(const char *key, const struct feed_client *c, int64_t exp, char *out,
                    size_t len) {
  char claims[256], part[400], sig[64];
  const int n = snprintf(claims, sizeof claims,
                         "{\"sub\":\"%s\",\"la\":\"%s\",\"mode\":\"%s\",\"test\":%s,\"exp\":%lld}",
                         c->id, c->la, c->partial ? "partial" : "full", c->test ? "true" : "false",
                         (long long)exp);
  if (n < 0 || (size_t)n >= sizeof claims)
    return CSC_EINVAL;
  size_t used = b64url((const uint8_t *)JWT_HEADER, sizeof JWT_HEADER - 1, part);
  part[used++] = '.';
  used += b64url((const uint8_t *)claims, (size_t)n, part + used);
  uint8_t d[SHA256_DIGEST_SIZE];
  mac(key, part, used, d);
  b64url(d, sizeof d, sig);
  const int w = snprintf(out, len, "%s.%s", part, sig);
  return w > 0 && (size_t)w < len ? CSC_OK : CSC_EINVAL;
}

const struct feed_client *feed_token_check(const struct feed_config *fc, const char *token,
                                           int64_t now_s) {
  if (fc->signing_key == NULL || token == NULL)
    return NULL;
  const char *dot1 = strchr(token, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL || strlen(token) > 900)
    return NULL;
  uint8_t want[SHA256_DIGEST_SIZE], got[64], buf[700];
  size_t got_len, n;
  mac(fc->signing_key, token, (size_t)(dot2 - token), want);
  if (unb64url(dot2 + 1, strlen(dot2 + 1), got, sizeof got, &got_len) != CSC_OK ||
      got_len != sizeof want || !memeql_sec(want, got, sizeof want))
    return NULL;
  /* Signed by this key: the header is ours, the claims are read. */
  if (unb64url(token, (size_t)(dot1 - token), buf, sizeof buf - 1, &n) != CSC_OK ||
      n != sizeof JWT_HEADER - 1 || memcmp(buf, JWT_HEADER, n) != 0 ||
      unb64url(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf, sizeof buf - 1, &n) != CSC_OK)
    return NULL;
  json_error_t jerr;
  json_t *claims = json_loadb((const char *)buf, n, 0, &jerr);
  const char *sub = json_string_value(json_object_get(claims, "sub"));
  const char *la = json_string_value(json_object_get(claims, "la"));
  const char *mode = json_string_value(json_object_get(claims, "mode"));
  json_t *test = json_object_get(claims, "test"), *exp = json_object_get(claims, "exp");
  const struct feed_client *found = NULL;
  for (size_t i = 0; sub && la && mode && json_is_boolean(test) && json_is_integer(exp) &&
                     json_integer_value(exp) > now_s && i < fc->n;
       i++) {
    const struct feed_client *c = &fc->clients[i];
    if (strcmp(c->id, sub) == 0 && strcmp(c->la, la) == 0 &&
        strcmp(c->partial ? "partial" : "full", mode) == 0 && c->test == json_is_true(test))
      found = c;
  }
  json_decref(claims);
  return found;
}
