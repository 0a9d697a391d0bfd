#!/bin/bash
# The bench's SQLite comparison: the time SQLite (Debian's sqlite3) takes to
# load a whole history as CSV (every event, one row each) and compute
# rereferrals (12m), open_plans_over (CP, 24m) and placements_3plus (FYTD),
# and whether its answers equal cscflow's.
#
#   bench/sqlite_compare.sh EVENTS.bin STATE_DIR WORKDIR [REPLAY_SECONDS]
#
# EVENTS.bin   the delimited event file (cscflow-gen --out)
# STATE_DIR    the state of `cscflow replay --input EVENTS.bin`; its snapshot
#              gives the as-of date and the answers to compare. "-" times
#              SQLite alone, as of the date of the file's latest recorded_at
#              (the replay clock), and compares nothing.
# WORKDIR      scratch: the CSV file and the SQLite database file
# REPLAY_SECONDS  optional: cscflow's replay time of the same file, for the ratio
#
# Steps: cscflow-bench-csv writes events.csv, every event of the file but
# those cscflow dead-letters (cscflow-side preparation: printed, not
# counted); sqlite3 loads it into one table of a fresh database file in
# WORKDIR (bench/sqlite/load.sql: sqlite_load_seconds; sqlite_rows_loaded is
# counted after, untimed, and must equal csv_rows), then computes the
# indicators, deriving what they need from that table (bench/sqlite/clean.sql
# when the history has corrections, then bench/sqlite/indicators.sql:
# sqlite_query_seconds). The answers are compared
# with `cscflow snapshot --state STATE_DIR --json`, in SQLite's JSON functions
# (not timed). Figures are `name: value` lines on stdout. Exit status: 0 when
# every answer matches (or nothing is compared), 1 on a mismatch, 2 on an error.
#
# CSCFLOW_BUILD (default: build/ at the top of the repository) is where
# cscflow and bench/cscflow-bench-csv are; SQLITE3 (default sqlite3) the shell.
set -euo pipefail

usage() {
  echo "usage: $0 EVENTS.bin STATE_DIR|- WORKDIR [REPLAY_SECONDS]" >&2
  exit 2
}
if [ $# -lt 3 ] || [ $# -gt 4 ]; then usage; fi
events=$1
state=$2
work=$3
replay_seconds=${4:-}

here=$(cd "$(dirname "$0")" && pwd)
build=${CSCFLOW_BUILD:-$here/../build}
sqlite=${SQLITE3:-sqlite3}
sql=$here/sqlite
csv_tool=$build/bench/cscflow-bench-csv

fail() {
  echo "sqlite_compare: $*" >&2
  exit 2
}
[ -f "$events" ] || fail "no event file $events"
[ -x "$csv_tool" ] || fail "no $csv_tool (build the cscflow-bench-csv target)"
command -v "$sqlite" >/dev/null || fail "no $sqlite (apt-get install sqlite3)"
if [ "$state" != "-" ]; then
  [ -x "$build/cscflow" ] || fail "no $build/cscflow"
  [ -d "$state" ] || fail "no state directory $state"
fi

mkdir -p "$work"
work=$(cd "$work" && pwd)
db=$work/sqlite-bench.db
csv_dir=$work/csv

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
value_of() { sed -n "s/^$1: //p" "$2"; }

# ---- the CSV file (not counted) -----------------------------------------------------
"$csv_tool" --input "$events" --out-dir "$csv_dir" >"$work/export.out" ||
  fail "cscflow-bench-csv failed"
grep -v "^as_of:" "$work/export.out"
corrections=$(value_of csv_corrections "$work/export.out")
csv_rows=$(value_of csv_rows "$work/export.out")
echo "csv_export_counted: no"

# ---- the as-of dates ------------------------------------------------------------------
# One query per distinct as-of date of the LAs (the replay clock is per LA;
# a generated history gives every LA the same one).
if [ "$state" != "-" ]; then
  "$build/cscflow" snapshot --state "$state" --json >"$work/snapshot.json" ||
    fail "cscflow snapshot failed"
  # JSON lines -> one JSON array, for json_each
  sed '1s/^/[/; $!s/$/,/; $s/$/]/' "$work/snapshot.json" >"$work/snapshot-array.json"
  (cd "$work" && "$sqlite" :memory: \
    "SELECT DISTINCT replace(json_extract(value, '$.as_of'), '-', '')
     FROM json_each(readfile('snapshot-array.json'));") >"$work/as_of.txt"
else
  value_of as_of "$work/export.out" | tr -d '-' >"$work/as_of.txt"
fi
as_of_dates=$(cat "$work/as_of.txt")
if [ -z "$as_of_dates" ] || [ "$as_of_dates" = "none" ]; then fail "no as-of date"; fi
echo "sqlite_as_of: $(tr '\n' ' ' <"$work/as_of.txt" | sed 's/ $//')"
echo "sqlite_version: $("$sqlite" --version | cut -d' ' -f1)"

# ---- load (timed) ---------------------------------------------------------------------
rm -f "$db" "$db-journal"
t0=$(now)
(cd "$csv_dir" && "$sqlite" "$db" <"$sql/load.sql" >/dev/null) || fail "sqlite3 load failed"
t1=$(now)

# Every exported event is a row (not timed).
rows_loaded=$("$sqlite" "$db" 'SELECT count(*) FROM event;') || fail "sqlite3 count failed"
[ "$rows_loaded" = "$csv_rows" ] || fail "loaded $rows_loaded rows of $csv_rows"

# ---- query (timed) --------------------------------------------------------------------
t_query=$(now)
: >"$work/sqlite.out"
cleaned=no
if [ "${corrections:-0}" != "0" ]; then
  "$sqlite" "$db" <"$sql/clean.sql" || fail "sqlite3 clean.sql failed"
  cleaned=yes
fi
for d in $as_of_dates; do
  "$sqlite" "$db" -cmd 'PRAGMA temp_store = MEMORY' -cmd ".parameter set @as_of $d" \
    <"$sql/indicators.sql" | sed "s/^/$d|/" >>"$work/sqlite.out" ||
    fail "sqlite3 indicators.sql failed"
done
t2=$(now)

load_s=$(elapsed "$t0" "$t1")
query_s=$(elapsed "$t_query" "$t2")
total_s=$(awk -v l="$load_s" -v q="$query_s" 'BEGIN { printf "%.3f", l + q }')
echo "sqlite_cleaning: $cleaned"
echo "sqlite_rows_loaded: $rows_loaded"
echo "sqlite_db_bytes: $(stat -c %s "$db")"
echo "sqlite_load_seconds: $load_s"
echo "sqlite_query_seconds: $query_s"
echo "sqlite_total_seconds: $total_s"
if [ -n "$replay_seconds" ]; then
  echo "replay_seconds: $replay_seconds"
  echo "sqlite_to_replay_ratio: $(awk -v s="$total_s" -v r="$replay_seconds" \
    'BEGIN { if (r > 0) printf "%.3f", s / r; else print "null" }')"
fi

# What indicators.sql takes for granted of the history (not timed).
"$sqlite" "$db" <"$sql/assumptions.sql" || fail "sqlite3 assumptions.sql failed"

if [ "$state" = "-" ]; then
  while IFS='|' read -r d la id win bd num den; do
    echo "sqlite_answer: $la $id $win ${bd:-\"\"} $num/$den"
  done <"$work/sqlite.out"
  exit 0
fi

# ---- compare (not timed) --------------------------------------------------------------
# Each SQLite line against the snapshot row of the same LA, id, window and
# breakdown, computed for that LA's own as-of date; an LA or row on one side
# only is a mismatch.
(cd "$work" && "$sqlite" :memory: <<'EOF') >"$work/compare.out" || fail "comparison failed"
.mode list
.separator |
CREATE TABLE s (as_of TEXT, la TEXT, id TEXT, win TEXT, breakdown TEXT, num INTEGER,
                den INTEGER);
.import sqlite.out s
CREATE TABLE c AS
SELECT replace(json_extract(l.value, '$.as_of'), '-', '') AS as_of,
       json_extract(l.value, '$.la') AS la, json_extract(i.value, '$.id') AS id,
       json_extract(i.value, '$.window') AS win, json_extract(i.value, '$.breakdown') AS breakdown,
       json_extract(i.value, '$.numerator') AS num, json_extract(i.value, '$.denominator') AS den
FROM json_each(readfile('snapshot-array.json')) l, json_each(l.value, '$.indicators') i
WHERE (json_extract(i.value, '$.id'), json_extract(i.value, '$.window'),
       json_extract(i.value, '$.breakdown'))
      IN (VALUES ('rereferrals', '12m', ''), ('open_plans_over', 'T', 'CP,24m'),
                 ('placements_3plus', 'FYTD', ''));
SELECT coalesce(s.la, c.la), coalesce(s.id, c.id), coalesce(s.win, c.win),
       coalesce(s.breakdown, c.breakdown), s.num, s.den, c.num, c.den,
       CASE WHEN s.num = c.num AND s.den = c.den THEN 'yes' ELSE 'no' END
FROM s FULL JOIN c ON c.la = s.la AND c.id = s.id AND c.win = s.win
                  AND c.breakdown = s.breakdown AND c.as_of = s.as_of
ORDER BY 1, 2;
EOF
all=yes
n=0
while IFS='|' read -r la id win bd snum sden cnum cden ok; do
  printf 'sqlite_answer: %s %s %s %s sqlite=%s/%s cscflow=%s/%s match=%s\n' \
    "$la" "$id" "$win" "${bd:-\"\"}" "${snum:-none}" "${sden:-none}" "${cnum:-none}" \
    "${cden:-none}" "$ok"
  [ "$ok" = yes ] || all=no
  n=$((n + 1))
done <"$work/compare.out"
[ "$n" -gt 0 ] || all=no
echo "sqlite_answers_compared: $n"
echo "sqlite_answers_match: $all"
[ "$all" = yes ]
