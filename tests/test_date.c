/*
 * test_date.c — calendar dates, London local dates, varints and the flat
 * configuration file (base/).
 *
 * Every expected value is worked out by hand in the comment beside it, never
 * copied from the program's output. Anchors used throughout (day numbers are
 * days since Thursday 1970-01-01):
 *   2000-01-01 = 30*365 + 7 leap days (1972,76,80,84,88,92,96)        = 10957
 *   2022-01-01 = 10957 + 22*365 + 6 leap days (2000,04,08,12,16,20)   = 18993
 *   2024-01-01 = 10957 + 24*365 + 6 leap days (2000,04,08,12,16,20)   = 19723
 * Days before the 1st of each month in a leap year:
 *   Jan 0, Feb 31, Mar 60, Apr 91, May 121, Jun 152, Jul 182, Aug 213,
 *   Sep 244, Oct 274, Nov 305, Dec 335 (one fewer from Mar on in other years).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"

#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL
#define MIN_MS 60000LL

static void assert_ymd(csc_date date, int y, int m, int d) {
  int gy, gm, gd;
  date_to_ymd(date, &gy, &gm, &gd);
  assert_int_equal(gy, y);
  assert_int_equal(gm, m);
  assert_int_equal(gd, d);
}

/* ---- day numbers ------------------------------------------------------------ */

static void test_day_numbers(void **state) {
  (void)state;
  assert_int_equal(D(1970, 1, 1), 0);
  assert_int_equal(D(1969, 12, 31), -1);
  assert_int_equal(D(2000, 1, 1), 10957);
  assert_int_equal(D(2022, 1, 1), 18993);
  assert_int_equal(D(2024, 1, 1), 19723);
  /* 19723 + 31 (Jan) + 28 = 19782 */
  assert_int_equal(D(2024, 2, 29), 19782);
  /* 19723 + 60 = 19783 */
  assert_int_equal(D(2024, 3, 1), 19783);
  /* 19723 + 182 = 19905 */
  assert_int_equal(D(2024, 7, 1), 19905);
  /* 2024 has 366 days: 19723 + 366 = 20089 */
  assert_int_equal(D(2025, 1, 1), 20089);
  /* Unix seconds of 2024-01-01 00:00 UTC are the well-known 1704067200. */
  assert_int_equal((int64_t)D(2024, 1, 1) * DAY_MS, 1704067200000LL);

  assert_ymd(0, 1970, 1, 1);
  assert_ymd(-1, 1969, 12, 31);
  assert_ymd(19782, 2024, 2, 29);
  assert_ymd(19783, 2024, 3, 1);
  assert_ymd(20088, 2024, 12, 31);
  /* Round trip through every day of 1999..2101 (covers 2000 and 2100). */
  for (csc_date d = D(1999, 1, 1); d < D(2101, 1, 1); d++) {
    int y, m, dd;
    date_to_ymd(d, &y, &m, &dd);
    assert_int_equal(D(y, m, dd), d);
  }
}

static void test_leap_years(void **state) {
  (void)state;
  /* Gregorian rule: divisible by 4, except centuries not divisible by 400. */
  assert_int_equal(date_days_in_month(2024, 2), 29);
  assert_int_equal(date_days_in_month(2023, 2), 28);
  assert_int_equal(date_days_in_month(2100, 2), 28); /* century, not /400 */
  assert_int_equal(date_days_in_month(1900, 2), 28);
  assert_int_equal(date_days_in_month(2000, 2), 29); /* divisible by 400 */
  assert_int_equal(date_days_in_month(2024, 1), 31);
  assert_int_equal(date_days_in_month(2024, 4), 30);
  assert_int_equal(date_days_in_month(2024, 12), 31);
  /* 28 Feb 2100 is followed by 1 Mar 2100; 28 Feb 2000 by 29 Feb 2000. */
  assert_int_equal(D(2100, 3, 1) - D(2100, 2, 28), 1);
  assert_int_equal(D(2000, 3, 1) - D(2000, 2, 28), 2);
  /* Years: 2100 has 365 days, 2000 has 366. */
  assert_int_equal(D(2101, 1, 1) - D(2100, 1, 1), 365);
  assert_int_equal(D(2001, 1, 1) - D(2000, 1, 1), 366);
}

/* ---- calendar months ---------------------------------------------------------- */

static void test_add_months(void **state) {
  (void)state;
  /* 31 Jan + 1 month: February has no 31st, clamp to its last day. */
  assert_int_equal(date_add_months(D(2024, 1, 31), 1), D(2024, 2, 29)); /* 2024 leap */
  assert_int_equal(date_add_months(D(2023, 1, 31), 1), D(2023, 2, 28)); /* 2023 not */
  /* 29 Feb 2024 + 12 months: Feb 2025 has 28 days. */
  assert_int_equal(date_add_months(D(2024, 2, 29), 12), D(2025, 2, 28));
  /* + 48 months = four years later, 2028 is leap (divisible by 4). */
  assert_int_equal(date_add_months(D(2024, 2, 29), 48), D(2028, 2, 29));
  /* 31 Mar - 1 month: February 2024 has 29 days. */
  assert_int_equal(date_add_months(D(2024, 3, 31), -1), D(2024, 2, 29));
  /* 31 Aug + 6 months = February of the next year, clamped. */
  assert_int_equal(date_add_months(D(2023, 8, 31), 6), D(2024, 2, 29));
  assert_int_equal(date_add_months(D(2024, 8, 31), 6), D(2025, 2, 28));
  /* 2100 is not leap, 2000 is. */
  assert_int_equal(date_add_months(D(2099, 8, 31), 6), D(2100, 2, 28));
  assert_int_equal(date_add_months(D(1999, 8, 31), 6), D(2000, 2, 29));
  /* 15 Jan 2024 - 13 months: -12 is 15 Jan 2023, one more back is 15 Dec 2022. */
  assert_int_equal(date_add_months(D(2024, 1, 15), -13), D(2022, 12, 15));
  /* 30 Nov 2022 + 3 months = Feb 2023 (not leap): 30 -> 28. */
  assert_int_equal(date_add_months(D(2022, 11, 30), 3), D(2023, 2, 28));
  /* Other year crossings and the identity. */
  assert_int_equal(date_add_months(D(2023, 12, 31), 1), D(2024, 1, 31));
  assert_int_equal(date_add_months(D(2024, 1, 31), -1), D(2023, 12, 31));
  assert_int_equal(date_add_months(D(2024, 1, 1), -1), D(2023, 12, 1));
  assert_int_equal(date_add_months(D(2024, 12, 1), -12), D(2023, 12, 1));
  assert_int_equal(date_add_months(D(2024, 12, 1), -24), D(2022, 12, 1));
  assert_int_equal(date_add_months(D(2024, 5, 17), 0), D(2024, 5, 17));
  /* 31 May + 1 month: June has 30 days. */
  assert_int_equal(date_add_months(D(2024, 5, 31), 1), D(2024, 6, 30));
  /* 18 years after a 29 Feb 2008 birth: Feb 2026 is not leap, so 28 Feb. */
  assert_int_equal(date_add_months(D(2008, 2, 29), 18 * 12), D(2026, 2, 28));
}

/* ---- YYYYMMDD and text ---------------------------------------------------------- */

static void test_yyyymmdd(void **state) {
  (void)state;
  csc_date d = 12345;
  assert_int_equal(date_from_yyyymmdd(20240229, &d), CSC_OK);
  assert_int_equal(d, 19782);
  assert_int_equal(date_to_yyyymmdd(19782), 20240229u);
  assert_int_equal(date_to_yyyymmdd(0), 19700101u);
  assert_int_equal(date_to_yyyymmdd(D(2023, 12, 31)), 20231231u);

  /* Round trip for every day 1999..2101. */
  for (csc_date x = D(1999, 1, 1); x < D(2101, 1, 1); x++) {
    csc_date back;
    assert_int_equal(date_from_yyyymmdd(date_to_yyyymmdd(x), &back), CSC_OK);
    assert_int_equal(back, x);
  }

  /* Rejections: the output is untouched. */
  d = 12345;
  assert_int_equal(date_from_yyyymmdd(20230229, &d), CSC_EINVAL); /* 2023 not leap */
  assert_int_equal(date_from_yyyymmdd(20241301, &d), CSC_EINVAL); /* month 13 */
  assert_int_equal(date_from_yyyymmdd(20240001, &d), CSC_EINVAL); /* month 0 */
  assert_int_equal(date_from_yyyymmdd(20240100, &d), CSC_EINVAL); /* day 0 */
  assert_int_equal(date_from_yyyymmdd(20240132, &d), CSC_EINVAL); /* 32 Jan */
  assert_int_equal(date_from_yyyymmdd(20240431, &d), CSC_EINVAL); /* 31 Apr */
  assert_int_equal(date_from_yyyymmdd(21000229, &d), CSC_EINVAL); /* 2100 not leap */
  assert_int_equal(date_from_yyyymmdd(0, &d), CSC_EINVAL);
  assert_int_equal(date_from_yyyymmdd(18991231, &d), CSC_EINVAL); /* before 1900 */
  assert_int_equal(date_from_yyyymmdd(22000101, &d), CSC_EINVAL); /* after 2199 */
  assert_int_equal(date_from_yyyymmdd(240229, &d), CSC_EINVAL);   /* two-digit year */
  assert_int_equal(date_from_yyyymmdd(UINT32_MAX, &d), CSC_EINVAL);
  assert_int_equal(d, 12345);

  /* The range ends are valid: 1900..2199. */
  assert_int_equal(date_from_yyyymmdd(19000101, &d), CSC_OK);
  assert_int_equal(d, D(1900, 1, 1));
  assert_int_equal(date_from_yyyymmdd(21991231, &d), CSC_OK);
  assert_int_equal(d, D(2199, 12, 31));
  assert_int_equal(date_from_yyyymmdd(20000229, &d), CSC_OK); /* 2000 is leap */
  assert_int_equal(d, D(2000, 2, 29));

  /* The early variant (occurred_on) takes any eight-digit date up to 2199;
   * fewer digits are still not a date. */
  assert_int_equal(date_from_yyyymmdd_early(18991231, &d), CSC_OK);
  assert_int_equal(d, D(1899, 12, 31));
  assert_int_equal(date_from_yyyymmdd_early(10000101, &d), CSC_OK);
  assert_int_equal(d, D(1000, 1, 1));
  assert_int_equal(date_from_yyyymmdd_early(19000229, &d), CSC_EINVAL); /* 1900 not leap */
  assert_int_equal(date_from_yyyymmdd_early(9991231, &d), CSC_EINVAL);  /* seven digits */
  assert_int_equal(date_from_yyyymmdd_early(240229, &d), CSC_EINVAL);
  assert_int_equal(date_from_yyyymmdd_early(0, &d), CSC_EINVAL);
  assert_int_equal(date_from_yyyymmdd_early(22000101, &d), CSC_EINVAL);
  assert_int_equal(d, D(1000, 1, 1));
}

static void test_format_parse(void **state) {
  (void)state;
  char buf[11];
  assert_string_equal(date_format(19782, buf), "2024-02-29");
  assert_string_equal(date_format(0, buf), "1970-01-01");
  assert_string_equal(date_format(D(1900, 1, 1), buf), "1900-01-01");
  assert_string_equal(date_format(D(2199, 12, 31), buf), "2199-12-31");

  csc_date d = 12345;
  assert_int_equal(date_parse("2024-02-29", &d), CSC_OK);
  assert_int_equal(d, 19782);
  assert_int_equal(date_parse("1970-01-01", &d), CSC_OK);
  assert_int_equal(d, 0);

  d = 12345;
  assert_int_equal(date_parse("2023-02-29", &d), CSC_EINVAL); /* not leap */
  assert_int_equal(date_parse("2024-2-01", &d), CSC_EINVAL);  /* one-digit month */
  assert_int_equal(date_parse("2024-02-01x", &d), CSC_EINVAL); /* trailing text */
  assert_int_equal(date_parse("2024-02-01 ", &d), CSC_EINVAL);
  assert_int_equal(date_parse(" 2024-02-01", &d), CSC_EINVAL);
  assert_int_equal(date_parse("2024/02/01", &d), CSC_EINVAL); /* wrong separator */
  assert_int_equal(date_parse("20240201", &d), CSC_EINVAL);
  assert_int_equal(date_parse("2024-02-0", &d), CSC_EINVAL); /* short */
  assert_int_equal(date_parse("", &d), CSC_EINVAL);
  assert_int_equal(date_parse("2024-13-01", &d), CSC_EINVAL);
  assert_int_equal(date_parse("2024-00-10", &d), CSC_EINVAL);
  assert_int_equal(date_parse("+024-02-01", &d), CSC_EINVAL);
  assert_int_equal(date_parse("2024-0a-01", &d), CSC_EINVAL);
  assert_int_equal(d, 12345);

  /* Format then parse round trip. */
  for (csc_date x = D(2023, 1, 1); x < D(2026, 1, 1); x++) {
    csc_date back;
    assert_int_equal(date_parse(date_format(x, buf), &back), CSC_OK);
    assert_int_equal(back, x);
  }
}

/* ---- weekdays and financial years ---------------------------------------------- */

static void test_weekday(void **state) {
  (void)state;
  /* 1970-01-01 was a Thursday (3). */
  assert_int_equal(date_weekday(0), 3);
  /* 1 Jan 2024: 19723 = 7*2817 + 4, Thursday + 4 = Monday (0). */
  assert_int_equal(date_weekday(D(2024, 1, 1)), 0);
  /* 25 Dec 2022: 18993 + 334 (Jan..Nov, not leap) + 24 = 19351 = 7*2764 + 3,
   * Thursday + 3 = Sunday (6). */
  assert_int_equal(D(2022, 12, 25), 19351);
  assert_int_equal(date_weekday(D(2022, 12, 25)), 6);
  /* 31 Dec 1969 (-1) was a Wednesday (2): negative days wrap correctly. */
  assert_int_equal(date_weekday(-1), 2);
  /* 29 Feb 2024: 59 days after Monday 1 Jan, 59 = 8*7 + 3 -> Thursday (3). */
  assert_int_equal(date_weekday(D(2024, 2, 29)), 3);
  /* 31 Mar 2024 and 27 Oct 2024, the 2024 clock changes, were Sundays. */
  assert_int_equal(date_weekday(D(2024, 3, 31)), 6);
  assert_int_equal(date_weekday(D(2024, 10, 27)), 6);
}

static void test_financial_year(void **state) {
  (void)state;
  /* The year runs 1 April .. 31 March; the end is the next 1 April, exclusive. */
  assert_int_equal(date_fy_start(D(2024, 3, 31)), D(2023, 4, 1));
  assert_int_equal(date_fy_end(D(2024, 3, 31)), D(2024, 4, 1));
  assert_int_equal(date_fy_start(D(2024, 4, 1)), D(2024, 4, 1));
  assert_int_equal(date_fy_end(D(2024, 4, 1)), D(2025, 4, 1));
  assert_int_equal(date_fy_start(D(2024, 1, 1)), D(2023, 4, 1));
  assert_int_equal(date_fy_start(D(2023, 12, 31)), D(2023, 4, 1));
  assert_int_equal(date_fy_end(D(2023, 12, 31)), D(2024, 4, 1));
  assert_int_equal(date_fy_start(D(2024, 2, 29)), D(2023, 4, 1));
}

/* ---- Europe/London ------------------------------------------------------------ */

/*
 * 2024 clock changes: last Sunday of March = 31 Mar (weekday above), BST from
 * 01:00 UTC; last Sunday of October = 27 Oct, back to GMT at 01:00 UTC.
 * 31 Mar 2024 = 19723 + 90 = 19813; 27 Oct 2024 = 19723 + 300 = 20023.
 */
static void test_london_date(void **state) {
  (void)state;
  assert_int_equal(D(2024, 3, 31), 19813);
  assert_int_equal(D(2024, 10, 27), 20023);

  /* 2024-03-31 00:30 UTC: still GMT, so 00:30 on 31 Mar. */
  assert_int_equal(date_london_from_unix_ms(19813 * DAY_MS + 30 * MIN_MS), D(2024, 3, 31));
  /* 2024-03-30 23:30 UTC: GMT, 30 Mar. */
  assert_int_equal(date_london_from_unix_ms(19812 * DAY_MS + 23 * HOUR_MS + 30 * MIN_MS),
                   D(2024, 3, 30));
  /* 2024-03-31 23:30 UTC: BST, 00:30 on 1 Apr. */
  assert_int_equal(date_london_from_unix_ms(19813 * DAY_MS + 23 * HOUR_MS + 30 * MIN_MS),
                   D(2024, 4, 1));
  /* 2024-06-30 23:30 UTC: BST, 00:30 on 1 Jul. (30 Jun = 19905 - 1 = 19904) */
  assert_int_equal(date_london_from_unix_ms(19904 * DAY_MS + 23 * HOUR_MS + 30 * MIN_MS),
                   D(2024, 7, 1));
  /* 2024-06-30 22:59:59.999 UTC: 23:59:59.999 BST on 30 Jun. */
  assert_int_equal(date_london_from_unix_ms(19904 * DAY_MS + 23 * HOUR_MS - 1), D(2024, 6, 30));
  /* 2024-10-26 23:30 UTC: BST, 00:30 on 27 Oct. */
  assert_int_equal(date_london_from_unix_ms(20022 * DAY_MS + 23 * HOUR_MS + 30 * MIN_MS),
                   D(2024, 10, 27));
  /* 2024-10-27 00:30 UTC = 01:30 BST on 27 Oct. */
  assert_int_equal(date_london_from_unix_ms(20023 * DAY_MS + 30 * MIN_MS), D(2024, 10, 27));
  /* 2024-10-27 23:30 UTC: GMT again, 23:30 on 27 Oct (not 28 Oct). */
  assert_int_equal(date_london_from_unix_ms(20023 * DAY_MS + 23 * HOUR_MS + 30 * MIN_MS),
                   D(2024, 10, 27));
  /* 2024-12-31 23:59 UTC: GMT, 31 Dec (31 Dec = 20089 - 1 = 20088). */
  assert_int_equal(date_london_from_unix_ms(20088 * DAY_MS + 23 * HOUR_MS + 59 * MIN_MS),
                   D(2024, 12, 31));
  /* 1970-01-01 00:00 UTC and one ms before it (winter: GMT by the computed rule). */
  assert_int_equal(date_london_from_unix_ms(0), 0);
  assert_int_equal(date_london_from_unix_ms(-1), -1);
}

static void test_london_midnight(void **state) {
  (void)state;
  /* Midnight BST on 1 Jul 2024 = 30 Jun 2024 23:00 UTC. */
  assert_int_equal(date_london_midnight_ms(D(2024, 7, 1)), 19904 * DAY_MS + 23 * HOUR_MS);
  /* Midnight starting 31 Mar 2024 is still GMT: 00:00 UTC. */
  assert_int_equal(date_london_midnight_ms(D(2024, 3, 31)), 19813 * DAY_MS);
  /* Midnight starting 1 Apr 2024 is BST: 31 Mar 23:00 UTC. */
  assert_int_equal(date_london_midnight_ms(D(2024, 4, 1)), 19813 * DAY_MS + 23 * HOUR_MS);
  /* Midnight starting 27 Oct 2024 is still BST: 26 Oct 23:00 UTC. */
  assert_int_equal(date_london_midnight_ms(D(2024, 10, 27)), 20022 * DAY_MS + 23 * HOUR_MS);
  /* Midnight starting 28 Oct 2024 is GMT: 00:00 UTC. */
  assert_int_equal(date_london_midnight_ms(D(2024, 10, 28)), 20024 * DAY_MS);
  /* Winter: 1 Jan 2024 00:00 UTC = 1704067200000. */
  assert_int_equal(date_london_midnight_ms(D(2024, 1, 1)), 1704067200000LL);

  /* Consistency across 2023..2025: local midnight is day d, and 1 ms before it
   * is day d-1; days are 24 h long except the two changeover days (23 h, 25 h). */
  for (csc_date d = D(2023, 1, 1); d < D(2026, 1, 1); d++) {
    const int64_t m = date_london_midnight_ms(d);
    assert_int_equal(date_london_from_unix_ms(m), d);
    assert_int_equal(date_london_from_unix_ms(m - 1), d - 1);
    const int64_t len = date_london_midnight_ms(d + 1) - m;
    int y, mo, dd;
    date_to_ymd(d, &y, &mo, &dd);
    /* Last Sundays: 2023: 26 Mar, 29 Oct; 2024: 31 Mar, 27 Oct; 2025: 30 Mar, 26 Oct. */
    const int spring = (y == 2023 && mo == 3 && dd == 26) || (y == 2024 && mo == 3 && dd == 31) ||
                       (y == 2025 && mo == 3 && dd == 30);
    const int autumn = (y == 2023 && mo == 10 && dd == 29) ||
                       (y == 2024 && mo == 10 && dd == 27) || (y == 2025 && mo == 10 && dd == 26);
    assert_int_equal(len, spring ? 23 * HOUR_MS : autumn ? 25 * HOUR_MS : 24 * HOUR_MS);
  }
  /* test_ms: 14:00 London on 1 Jul 2024 = 13:00 UTC. */
  assert_int_equal(test_ms(D(2024, 7, 1)), 19905 * DAY_MS + 13 * HOUR_MS);
}

/* ---- varints ------------------------------------------------------------------ */

static void check_varint(uint64_t v, const uint8_t *want, size_t want_len) {
  uint8_t buf[10];
  assert_int_equal(varint_encode(v, buf), want_len);
  assert_memory_equal(buf, want, want_len);
  uint64_t back = 0;
  assert_int_equal(varint_decode(buf, want_len, &back), want_len);
  assert_true(back == v);
  /* Every proper prefix is truncated. */
  for (size_t n = 0; n < want_len; n++)
    assert_int_equal(varint_decode(buf, n, &back), 0);
}

static void test_varint(void **state) {
  (void)state;
  /* Base 128, least significant group first, high bit = more follows. */
  const uint8_t v0[] = {0x00};
  const uint8_t v127[] = {0x7f};
  const uint8_t v128[] = {0x80, 0x01};       /* 128 = 0 + 1*128 */
  const uint8_t v300[] = {0xac, 0x02};       /* 300 = 44 (0x2c) + 2*128 */
  const uint8_t v16384[] = {0x80, 0x80, 0x01}; /* 2^14 */
  /* 2^64-1: nine groups of seven 1-bits (63 bits), then the last bit. */
  const uint8_t vmax[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  check_varint(0, v0, sizeof v0);
  check_varint(127, v127, sizeof v127);
  check_varint(128, v128, sizeof v128);
  check_varint(300, v300, sizeof v300);
  check_varint(16384, v16384, sizeof v16384);
  check_varint(UINT64_MAX, vmax, sizeof vmax);

  uint64_t out = 0;
  /* Decoding stops at the end of the varint, ignoring what follows. */
  const uint8_t more[] = {0xac, 0x02, 0x7f};
  assert_int_equal(varint_decode(more, sizeof more, &out), 2);
  assert_true(out == 300);
  /* Truncated: a continuation bit on the last byte. */
  const uint8_t trunc[] = {0x80};
  assert_int_equal(varint_decode(trunc, sizeof trunc, &out), 0);
  const uint8_t trunc2[] = {0xff, 0xff, 0xff};
  assert_int_equal(varint_decode(trunc2, sizeof trunc2, &out), 0);
  assert_int_equal(varint_decode(trunc, 0, &out), 0);
  /* Longer than 10 bytes. */
  const uint8_t toolong[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  assert_int_equal(varint_decode(toolong, sizeof toolong, &out), 0);
}

/* ---- configuration ------------------------------------------------------------ */

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

static void test_config_load(void **state) {
  (void)state;
  char dir[256], path[512], err[512];
  test_tmpdir(dir, sizeof dir, "test_date_config");
  snprintf(path, sizeof path, "%s/cscflow.conf", dir);
  write_file(path,
             "# a comment\n"
             "\n"
             "   \n"
             "bootstrap.servers=localhost:9092\n"
             "  cscflow.batch = 500  \n"
             "\t# indented comment\n"
             "cscflow.name = a = b\n"
             "cscflow.empty =\n"
             "cscflow.batch=1000\n"
             "cscflow.not_int = 12abc\n"
             "cscflow.neg = -42\n"
             "consumer.group.id=g1"); /* no final newline */

  struct config cfg;
  config_init(&cfg);
  err[0] = '\0';
  assert_int_equal(config_load(&cfg, path, err, sizeof err), CSC_OK);
  assert_string_equal(config_get(&cfg, "bootstrap.servers"), "localhost:9092");
  /* Later key overrides the earlier one. */
  assert_string_equal(config_get(&cfg, "cscflow.batch"), "1000");
  /* Only the first '=' splits. */
  assert_string_equal(config_get(&cfg, "cscflow.name"), "a = b");
  assert_string_equal(config_get(&cfg, "cscflow.empty"), "");
  assert_string_equal(config_get(&cfg, "consumer.group.id"), "g1");
  assert_null(config_get(&cfg, "# a comment"));
  assert_null(config_get(&cfg, "cscflow.absent"));

  long v = 0;
  assert_int_equal(config_get_long(&cfg, "cscflow.batch", 7, &v), CSC_OK);
  assert_int_equal(v, 1000);
  assert_int_equal(config_get_long(&cfg, "cscflow.neg", 7, &v), CSC_OK);
  assert_int_equal(v, -42);
  assert_int_equal(config_get_long(&cfg, "cscflow.absent", 7, &v), CSC_OK);
  assert_int_equal(v, 7);
  v = 99;
  assert_int_equal(config_get_long(&cfg, "cscflow.not_int", 7, &v), CSC_EINVAL);
  assert_int_equal(config_get_long(&cfg, "cscflow.name", 7, &v), CSC_EINVAL);
  assert_int_equal(config_get_long(&cfg, "cscflow.empty", 7, &v), CSC_EINVAL);

  /* config_set copies and overrides. */
  char key[] = "cscflow.set", val[] = "x";
  assert_int_equal(config_set(&cfg, key, val), CSC_OK);
  key[0] = 'X';
  val[0] = 'Y';
  assert_string_equal(config_get(&cfg, "cscflow.set"), "x");
  assert_int_equal(config_set(&cfg, "cscflow.set", "z"), CSC_OK);
  assert_string_equal(config_get(&cfg, "cscflow.set"), "z");
  /* Many keys (forces growth). */
  for (int i = 0; i < 100; i++) {
    char k[32], s[32];
    snprintf(k, sizeof k, "k%d", i);
    snprintf(s, sizeof s, "%d", i * 3);
    assert_int_equal(config_set(&cfg, k, s), CSC_OK);
  }
  assert_int_equal(config_get_long(&cfg, "k77", 0, &v), CSC_OK);
  assert_int_equal(v, 231);
  assert_string_equal(config_get(&cfg, "cscflow.batch"), "1000");
  config_free(&cfg);
}

static void test_config_errors(void **state) {
  (void)state;
  char dir[256], path[512], err[512], want[600];
  test_tmpdir(dir, sizeof dir, "test_date_config_err");
  snprintf(path, sizeof path, "%s/bad.conf", dir);
  /* Line 4 has no '='. */
  write_file(path, "# header\n\na=1\nthis line has no equals\nb=2\n");
  struct config cfg;
  config_init(&cfg);
  err[0] = '\0';
  assert_int_equal(config_load(&cfg, path, err, sizeof err), CSC_EINVAL);
  snprintf(want, sizeof want, "%s:4", path);
  assert_non_null(strstr(err, want));
  config_free(&cfg);

  /* An empty key is refused too (line 2). */
  snprintf(path, sizeof path, "%s/emptykey.conf", dir);
  write_file(path, "a=1\n  = value\n");
  config_init(&cfg);
  err[0] = '\0';
  assert_int_equal(config_load(&cfg, path, err, sizeof err), CSC_EINVAL);
  snprintf(want, sizeof want, "%s:2", path);
  assert_non_null(strstr(err, want));
  config_free(&cfg);

  /* A missing file is CSC_EIO naming the path. */
  snprintf(path, sizeof path, "%s/absent.conf", dir);
  config_init(&cfg);
  err[0] = '\0';
  assert_int_equal(config_load(&cfg, path, err, sizeof err), CSC_EIO);
  assert_non_null(strstr(err, path));
  config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_day_numbers),     cmocka_unit_test(test_leap_years),
      cmocka_unit_test(test_add_months),      cmocka_unit_test(test_yyyymmdd),
      cmocka_unit_test(test_format_parse),    cmocka_unit_test(test_weekday),
      cmocka_unit_test(test_financial_year),  cmocka_unit_test(test_london_date),
      cmocka_unit_test(test_london_midnight), cmocka_unit_test(test_varint),
      cmocka_unit_test(test_config_load),     cmocka_unit_test(test_config_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
