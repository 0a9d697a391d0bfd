/*
 * The lookup of the dashboard's built-in files; the table itself is
 * generated into the build tree by serve/embed_assets.cmake.
 */
#include <string.h>

#include "serve/assets.h"

/* Defined by the generated source. */
extern const struct asset asset_table[];
extern const size_t asset_count;

const struct asset *asset_find(const char *url) {
  if (url == NULL)
    return NULL;
  /* A handful of files: a linear scan is as fast as anything else. */
  for (size_t i = 0; i < asset_count; i++)
    if (strcmp(asset_table[i].path, url) == 0)
      return &asset_table[i];
  return NULL;
}
