/*
 * Rows of the plans group of docs/indicators.md.
 */
#include "indicators/catalogue_internal.h"

size_t catalogue_rows_plans(struct row *rows, size_t n) {
  (void)rows;
  return n;
}
