/*
 * Calendar arithmetic on days since 1970-01-01, after Howard Hinnant's
 * days_from_civil / civil_from_days: exact for the proleptic Gregorian
 * calendar, no tables, no time zone database.
 */
#include "base/base.h"

csc_date date_from_ymd(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (csc_date)(era * 146097 + (int)doe - 719468);
}

void date_to_ymd(csc_date date, int *y, int *m, int *d) {
  const int z = date + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int date_days_in_month(int y, int m) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* The upper bound 2199 keeps every date within what recorded_at may say
 * (before 2200, see ingest_validate). */
static int yyyymmdd_from(uint32_t v, int first_year, csc_date *out) {
  const int y = (int)(v / 10000), m = (int)(v / 100 % 100), d = (int)(v % 100);
  if (y < first_year || y > 2199 || m < 1 || m > 12 || d < 1 || d > date_days_in_month(y, m))
    return CSC_EINVAL;
  *out = date_from_ymd(y, m, d);
  return CSC_OK;
}

int date_from_yyyymmdd(uint32_t v, csc_date *out) { return yyyymmdd_from(v, 1900, out); }

int date_from_yyyymmdd_early(uint32_t v, csc_date *out) { return yyyymmdd_from(v, 1000, out); }

uint32_t date_to_yyyymmdd(csc_date date) {
  int y, m, d;
  date_to_ymd(date, &y, &m, &d);
  return (uint32_t)(y * 10000 + m * 100 + d);
}

char *date_format(csc_date date, char *buf) {
  int y, m, d;
  date_to_ymd(date, &y, &m, &d);
  /* Years outside 0..9999 never reach here: dates come from validated input. */
  const unsigned yy = (unsigned)y % 10000u, mm = (unsigned)m % 100u, dd = (unsigned)d % 100u;
  buf[0] = (char)('0' + yy / 1000);
  buf[1] = (char)('0' + yy / 100 % 10);
  buf[2] = (char)('0' + yy / 10 % 10);
  buf[3] = (char)('0' + yy % 10);
  buf[4] = '-';
  buf[5] = (char)('0' + mm / 10);
  buf[6] = (char)('0' + mm % 10);
  buf[7] = '-';
  buf[8] = (char)('0' + dd / 10);
  buf[9] = (char)('0' + dd % 10);
  buf[10] = '\0';
  return buf;
}

int date_parse(const char *s, csc_date *out) {
  for (int i = 0; i < 10; i++) {
    const int want_dash = i == 4 || i == 7;
    if (s[i] == '\0' || (want_dash ? s[i] != '-' : (s[i] < '0' || s[i] > '9')))
      return CSC_EINVAL;
  }
  if (s[10] != '\0')
    return CSC_EINVAL;
  const uint32_t v = (uint32_t)((s[0] - '0') * 10000000 + (s[1] - '0') * 1000000 +
                                (s[2] - '0') * 100000 + (s[3] - '0') * 10000 +
                                (s[5] - '0') * 1000 + (s[6] - '0') * 100 + (s[8] - '0') * 10 +
                                (s[9] - '0'));
  return date_from_yyyymmdd(v, out);
}

int date_weekday(csc_date date) {
  /* 1970-01-01 was a Thursday (3 when Monday is 0). */
  const int w = (date + 3) % 7;
  return w < 0 ? w + 7 : w;
}

csc_date date_add_months(csc_date date, int n) {
  int y, m, d;
  date_to_ymd(date, &y, &m, &d);
  int months = y * 12 + (m - 1) + n;
  /* floor division so that negative n crosses year boundaries correctly */
  y = months >= 0 ? months / 12 : (months - 11) / 12;
  m = months - y * 12 + 1;
  const int last = date_days_in_month(y, m);
  return date_from_ymd(y, m, d > last ? last : d);
}

csc_date date_fy_start(csc_date date) {
  int y, m, d;
  date_to_ymd(date, &y, &m, &d);
  return date_from_ymd(m >= 4 ? y : y - 1, 4, 1);
}

csc_date date_fy_end(csc_date date) { return date_add_months(date_fy_start(date), 12); }

/* The last Sunday of month m of year y. */
static csc_date last_sunday(int y, int m) {
  const csc_date last = date_from_ymd(y, m, date_days_in_month(y, m));
  return last - (date_weekday(last) + 1) % 7;
}

/* Offset of Europe/London from UTC, in ms, at the UTC instant unix_ms. */
static int64_t london_offset_ms(int64_t unix_ms) {
  const int64_t day_ms = 86400000;
  const csc_date utc_day = (csc_date)(unix_ms >= 0 ? unix_ms / day_ms : (unix_ms - day_ms + 1) / day_ms);
  int y, m, d;
  date_to_ymd(utc_day, &y, &m, &d);
  const int64_t bst_from = (int64_t)last_sunday(y, 3) * day_ms + 3600000;
  const int64_t bst_to = (int64_t)last_sunday(y, 10) * day_ms + 3600000;
  return unix_ms >= bst_from && unix_ms < bst_to ? 3600000 : 0;
}

csc_date date_london_from_unix_ms(int64_t unix_ms) {
  const int64_t day_ms = 86400000;
  const int64_t local = unix_ms + london_offset_ms(unix_ms);
  return (csc_date)(local >= 0 ? local / day_ms : (local - day_ms + 1) / day_ms);
}

int64_t date_london_midnight_ms(csc_date date) {
  const int64_t utc_midnight = (int64_t)date * 86400000;
  /* Midnight is never inside a changeover hour (01:00-02:00 UTC), so the
   * offset an hour before UTC midnight is the offset in force at local midnight. */
  return utc_midnight - london_offset_ms(utc_midnight - 3600000);
}
