/*
 * The code lists of the DfE CIN census and SSDA903 guides that events carry.
 * A code outside its list is data-quality finding unknown_code: the event
 * still folds (the code is kept as sent), so a code a new guide adds costs a
 * finding until this table learns it, never a lost event.
 */
#include <string.h>

#include "state/state.h"

static const char *const REFERRAL_SOURCE[] = {"1A", "1B", "1C", "1D", "2A", "2B", "3A", "3B",
                                              "3C", "3D", "3E", "3F", "4",  "5A", "5B", "5C",
                                              "5D", "6",  "7",  "8",  "9",  "10", NULL};
static const char *const CLOSURE_REASON[] = {"RC1", "RC2", "RC3", "RC4", "RC5",
                                             "RC6", "RC7", "RC8", "RC9", NULL};
static const char *const ABUSE_CATEGORY[] = {"N", "P", "E", "S", "M", NULL};
static const char *const LEGAL_STATUS[] = {"C1", "C2", "D1", "E1", "J1", "J2", "J3",
                                           "L1", "L2", "L3", "V2", "V3", "V4", NULL};
static const char *const NEED[] = {"N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", NULL};
static const char *const PLACEMENT_TYPE[] = {"A3", "A4", "A5", "A6", "H5", "K1", "K2", "P1", "P2",
                                             "P3", "R1", "R2", "R3", "R5", "S1", "T0", "T1", "T2",
                                             "T3", "T4", "U1", "U2", "U3", "U4", "U5", "U6", "Z1",
                                             NULL};
static const char *const PROVIDER[] = {"PR0", "PR1", "PR2", "PR3", "PR4", "PR5", NULL};
static const char *const REASON_CEASED[] = {"E11", "E12", "E13", "E14", "E15", "E16", "E17", "E2",
                                            "E3",  "E41", "E43", "E44", "E45", "E46", "E47", "E48",
                                            "E4A", "E4B", "E5",  "E6",  "E7",  "E8",  "E9",  NULL};
static const char *const PLACEMENT_CHANGE[] = {"ALLEG", "APPRR", "CARPL", "CHILD",
                                               "CLOSE", "CREQB", "CREQO", "CUSTOD",
                                               "LAREQ", "OTHER", "PLACE", "STAND", NULL};
static const char *const ASSESSMENT_FACTOR[] = {
    "1A",  "1B",  "1C",  "2A",  "2B",  "2C",  "3A",  "3B",  "3C",  "4A",  "4B",  "4C",
    "5A",  "5B",  "5C",  "6A",  "6B",  "6C",  "7A",  "8B",  "8C",  "8D",  "8E",  "8F",
    "9A",  "10A", "11A", "12A", "13A", "14A", "15A", "16A", "17A", "18A", "18B", "18C",
    "19A", "19B", "19C", "20",  "21",  "22A", "23A", "24A", NULL};
static const char *const LEAVER_ACTIVITY[] = {"F1", "F2", "F3", "F4", "F5", "F6", "G1",
                                              "G2", "G3", "G4", "G5", "G6", NULL};
static const char *const LEAVER_ACCOMMODATION[] = {"B", "C", "D", "E", "G", "H", "K", "R", "S",
                                                   "T", "U", "V", "W", "X", "Y", "Z", NULL};
static const char *const ETHNICITY[] = {"WBRI", "WIRI", "WOTH", "WIRT", "WROM", "MWBC", "MWBA",
                                        "MWAS", "MOTH", "AIND", "APKN", "ABAN", "AOTH", "BCRB",
                                        "BAFR", "BOTH", "CHNE", "OOTH", "REFU", "NOBT", NULL};
static const char *const DISABILITY[] = {"MOB", "HAND", "PC",  "INC", "COMM", "LD",   "HEAR",
                                         "VIS", "BEH",  "CON", "AUT", "DDA",  "NONE", NULL};

static const char *const *const LISTS[CODE_LIST_COUNT] = {
    [CODE_REFERRAL_SOURCE] = REFERRAL_SOURCE,
    [CODE_CLOSURE_REASON] = CLOSURE_REASON,
    [CODE_ABUSE_CATEGORY] = ABUSE_CATEGORY,
    [CODE_LEGAL_STATUS] = LEGAL_STATUS,
    [CODE_NEED] = NEED,
    [CODE_PLACEMENT_TYPE] = PLACEMENT_TYPE,
    [CODE_PROVIDER] = PROVIDER,
    [CODE_REASON_CEASED] = REASON_CEASED,
    [CODE_PLACEMENT_CHANGE] = PLACEMENT_CHANGE,
    [CODE_ASSESSMENT_FACTOR] = ASSESSMENT_FACTOR,
    [CODE_LEAVER_ACTIVITY] = LEAVER_ACTIVITY,
    [CODE_LEAVER_ACCOMMODATION] = LEAVER_ACCOMMODATION,
    [CODE_ETHNICITY] = ETHNICITY,
    [CODE_DISABILITY] = DISABILITY,
};

int code_is_known(enum code_list list, const char *code) {
  if (code == NULL || code[0] == '\0')
    return 1;
  if ((unsigned)list >= CODE_LIST_COUNT)
    return 0;
  for (const char *const *c = LISTS[list]; *c != NULL; c++)
    if (strcmp(*c, code) == 0)
      return 1;
  return 0;
}

size_t code_count(enum code_list list) {
  size_t n = 0;
  if ((unsigned)list < CODE_LIST_COUNT)
    while (LISTS[list][n] != NULL)
      n++;
  return n;
}

const char *code_name(enum code_list list, size_t i) {
  return i < code_count(list) ? LISTS[list][i] : "other";
}

size_t code_index(enum code_list list, const char *code) {
  const size_t n = code_count(list);
  for (size_t i = 0; i < n && code != NULL; i++)
    if (strcmp(LISTS[list][i], code) == 0)
      return i;
  return n;
}
