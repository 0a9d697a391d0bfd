/*
 * Rows of the workforce group of docs/indicators.md, over the measures of
 * state/facts_workforce.c. FTE is counted in hundredths on both sides of the
 * percentages, so they need no conversion; sickness is days per whole FTE,
 * hence its scale of 100.
 */
#include <stdio.h>

#include "indicators/catalogue_internal.h"

/* Seniority levels 1..3 of M_DIVERSITY_FTE (Cscflow__V1__Seniority). */
static const char *const level_names[4] = {"", "practitioner", "senior_practitioner_team_manager",
                                           "service_manager_and_above"};

/* sw_diversity: % of FTE by ethnic group, overall (breakdown the group,
 * over all FTE) and at each seniority level ("<level>,<group>", over the
 * level's FTE). */
static size_t rows_diversity(struct row *rows, size_t n) {
  for (int g = 0; g < EG_COUNT; g++)
    rows[n++] = row_ratio("sw_diversity", "T", ethnic_group_names[g], M_DIVERSITY_FTE,
                          DIVERSITY_BUCKET(0, g), M_WORKERS_FTE, 0, 100);
  for (int level = 1; level < 4; level++)
    for (int g = 0; g < EG_COUNT; g++) {
      char bd[64];
      snprintf(bd, sizeof bd, "%s,%s", level_names[level], ethnic_group_names[g]);
      rows[n++] = row_ratio("sw_diversity", "T", bd, M_DIVERSITY_FTE, DIVERSITY_BUCKET(level, g),
                            M_DIVERSITY_FTE, DIVERSITY_BUCKET(level, DIVERSITY_ALL_GROUPS), 100);
    }
  return n;
}

size_t catalogue_rows_workforce(struct row *rows, size_t n) {
  rows[n++] = row_ratio("sw_vacancy_rate", "T", "", M_POSTS_FTE, 1, M_POSTS_FTE, 0, 100);
  rows[n++] =
      row_ratio("sw_turnover_rate", "12m", "", M_LEAVERS_FTE_12M, 0, M_WORKERS_FTE, 0, 100);
  rows[n++] = row_ratio("sw_sickness", "12m", "", M_ABSENCE_DAYS_12M, 0, M_WORKERS_FTE, 0, 100);
  rows[n++] = row_ratio("sw_agency_rate", "T", "", M_WORKERS_FTE, 1, M_WORKERS_FTE, 0, 100);
  rows[n++] =
      row_ratio("sw_caseload", "T", "", M_CHILDREN_ALLOCATED, 0, M_CASE_HOLDING_WORKERS, 0, 1);
  return rows_diversity(rows, n);
}
