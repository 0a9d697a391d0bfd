/*
 * Rows of the workforce group of docs/indicators.md, over the measures of
 * state/facts_workforce.c. FTE is counted in hundredths on both sides of the
 * percentages, so they need no conversion; sickness is days per whole FTE,
 * hence its scale of 100.
 */
#include "indicators/catalogue_internal.h"

size_t catalogue_rows_workforce(struct row *rows, size_t n) {
  rows[n++] = row_ratio("sw_vacancy_rate", "T", "", M_POSTS_FTE, 1, M_POSTS_FTE, 0, 100);
  rows[n++] =
      row_ratio("sw_turnover_rate", "12m", "", M_LEAVERS_FTE_12M, 0, M_WORKERS_FTE, 0, 100);
  rows[n++] = row_ratio("sw_sickness", "12m", "", M_ABSENCE_DAYS_12M, 0, M_WORKERS_FTE, 0, 100);
  rows[n++] = row_ratio("sw_agency_rate", "T", "", M_WORKERS_FTE, 1, M_WORKERS_FTE, 0, 100);
  rows[n++] =
      row_ratio("sw_caseload", "T", "", M_CHILDREN_ALLOCATED, 0, M_CASE_HOLDING_WORKERS, 0, 1);
  return n;
}
