#!/bin/bash
# The bench's batch-engine comparison: the time SQLite (Debian's sqlite3)
# and DuckDB (from npm, bench/duckdb/) take to load a whole history as CSV
# (every event, one row each) and compute rereferrals (12m),
# open_plans_over (CP, 24m) and placements_3plus (FYTD), and whether the
# three engines' answers (SQLite's, DuckDB's, cscflow's) agree.
#
#   bench/engines_compare.sh EVENTS.bin STATE_DIR WORKDIR [REPLAY_SECONDS]
#
# EVENTS.bin   the delimited event file (cscflow-gen --out)
# STATE_DIR    the state of `cscflow replay --input EVENTS.bin`; its snapshot
#              gives the as-of date and the answers to compare. "-" times
#              SQLite and DuckDB alone, as of the date of the file's latest recorded_at
#              (the replay clock), and compares nothing.
# WORKDIR      scratch: the CSV file, the SQLite database file, the answers
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
# (not timed). SQLite runs SQLITE_RUNS times (default 1: a long step), each
# on a fresh database file: sqlite_load_seconds, sqlite_query_seconds and
# sqlite_total_seconds are the median, with _min and _max beside them;
# sqlite_other_cpu_percent is the CPU other processes took while it was
# timed (the worst run; bench/noise.sh).
#
# DuckDB: bench/duckdb/run.mjs loads the same CSV into an in-memory
# database and runs bench/duckdb/indicators.sql (SQLite's SQL in DuckDB's
# dialect, the same assumptions), DUCKDB_RUNS times (default 3) on one
# thread and as many on two: duckdb1_* and duckdb2_* figures (median, min,
# max). It needs node and bench/duckdb/node_modules (bench/run.sh runs npm
# ci there); without them the DuckDB figures are skipped and the line
# duckdb_skipped says what is missing. Its answers are compared with
# cscflow's too: duckdb_answers_match: N of M, and engines_answers_agree:
# N of M when all three engines give the same answer.
#
# Figures are `name: value` lines on stdout. Exit status: 0 when every
# answer matches (or nothing is compared), 1 on a mismatch, 2 on an error.
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
duckdb_dir=$here/duckdb
csv_tool=$build/bench/cscflow-bench-csv
# shellcheck source=bench/noise.sh
. "$here/noise.sh"

fail() {
  echo "engines_compare: $*" >&2
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

# ---- load and query (timed), SQLITE_RUNS times ----------------------------------------
# Each run a fresh database file; the answers are the last run's.
sqlite_runs=${SQLITE_RUNS:-1}
loads=() queries=() totals=() noises=()
for _ in $(seq "$sqlite_runs"); do
  rm -f "$db" "$db-journal"
  noise_begin
  t0=$(now)
  (cd "$csv_dir" && "$sqlite" "$db" <"$sql/load.sql" >/dev/null) || fail "sqlite3 load failed"
  t1=$(now)

  # Every exported event is a row (not timed).
  rows_loaded=$("$sqlite" "$db" 'SELECT count(*) FROM event;') || fail "sqlite3 count failed"
  [ "$rows_loaded" = "$csv_rows" ] || fail "loaded $rows_loaded rows of $csv_rows"

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
  noise_end
  loads+=("$(elapsed "$t0" "$t1")")
  queries+=("$(elapsed "$t_query" "$t2")")
  totals+=("$(awk -v l="${loads[-1]}" -v q="${queries[-1]}" 'BEGIN { printf "%.3f", l + q }')")
  noises+=("$noise_percent")
done

# NAME (median), NAME_min, NAME_max of the values that follow.
spread() {
  local name=$1 sorted
  shift
  sorted=$(printf '%s\n' "$@" | sort -g)
  echo "$name: $(awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}' <<<"$sorted")"
  echo "${name}_min: $(head -1 <<<"$sorted")"
  echo "${name}_max: $(tail -1 <<<"$sorted")"
}
total_s=$(printf '%s\n' "${totals[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
echo "sqlite_cleaning: $cleaned"
echo "sqlite_rows_loaded: $rows_loaded"
echo "sqlite_db_bytes: $(stat -c %s "$db")"
spread sqlite_load_seconds "${loads[@]}"
spread sqlite_query_seconds "${queries[@]}"
spread sqlite_total_seconds "${totals[@]}"
echo "sqlite_runs: $sqlite_runs"
echo "sqlite_other_cpu_percent: $(printf '%s\n' "${noises[@]}" | sort -g | tail -1)"
if [ -n "$replay_seconds" ]; then
  echo "replay_seconds: $replay_seconds"
  echo "sqlite_to_replay_ratio: $(awk -v s="$total_s" -v r="$replay_seconds" \
    'BEGIN { if (r > 0) printf "%.3f", s / r; else print "null" }')"
fi

# What indicators.sql takes for granted of the history (not timed).
"$sqlite" "$db" <"$sql/assumptions.sql" || fail "sqlite3 assumptions.sql failed"

# ---- DuckDB (timed by run.mjs) ------------------------------------------------------
# The DuckDB figure is the only one that needs Node.js: without it, or
# without bench/duckdb/node_modules, say what is missing and go on.
duckdb_ran=no
: >"$work/duckdb.out"
if ! command -v node >/dev/null; then
  echo "duckdb_skipped: node is missing (bash deploy/install-deps.sh installs nodejs and npm)"
elif [ ! -d "$duckdb_dir/node_modules/@duckdb/node-api" ]; then
  echo "duckdb_skipped: bench/duckdb/node_modules is missing (npm ci --prefix bench/duckdb)"
else
  clean_flag=()
  [ "$cleaned" = yes ] && clean_flag=(--clean)
  node "$duckdb_dir/run.mjs" --csv-dir "$csv_dir" --as-of "$(paste -sd, "$work/as_of.txt")" \
    --out "$work/duckdb.out" --runs "${DUCKDB_RUNS:-3}" "${clean_flag[@]}" ||
    fail "DuckDB (bench/duckdb/run.mjs) failed"
  duckdb_ran=yes
fi

if [ "$state" = "-" ]; then
  while IFS='|' read -r d la id win bd num den; do
    echo "sqlite_answer: $la $id $win ${bd:-\"\"} $num/$den"
  done <"$work/sqlite.out"
  while IFS='|' read -r d la id win bd num den; do
    echo "duckdb_answer: $la $id $win ${bd:-\"\"} $num/$den"
  done <"$work/duckdb.out"
  exit 0
fi

# ---- compare (not timed) --------------------------------------------------------------
# Each SQLite and DuckDB line against the snapshot row of the same LA, id,
# window and breakdown, computed for that LA's own as-of date; an LA or row
# on one side only is a mismatch.
(cd "$work" && "$sqlite" :memory: <<'EOF') >"$work/compare.out" || fail "comparison failed"
.mode list
.separator |
CREATE TABLE s (as_of TEXT, la TEXT, id TEXT, win TEXT, breakdown TEXT, num INTEGER,
                den INTEGER);
.import sqlite.out s
CREATE TABLE d (as_of TEXT, la TEXT, id TEXT, win TEXT, breakdown TEXT, num INTEGER,
                den INTEGER);
.import duckdb.out d
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
-- every row any engine gave
CREATE TABLE k AS
SELECT as_of, la, id, win, breakdown FROM s UNION SELECT as_of, la, id, win, breakdown FROM d
UNION SELECT as_of, la, id, win, breakdown FROM c;
SELECT k.la, k.id, k.win, k.breakdown, s.num, s.den, d.num, d.den, c.num, c.den,
       CASE WHEN s.num = c.num AND s.den = c.den THEN 'yes' ELSE 'no' END,
       CASE WHEN d.num = c.num AND d.den = c.den THEN 'yes' ELSE 'no' END
FROM k
LEFT JOIN s ON s.as_of = k.as_of AND s.la = k.la AND s.id = k.id AND s.win = k.win
           AND s.breakdown = k.breakdown
LEFT JOIN d ON d.as_of = k.as_of AND d.la = k.la AND d.id = k.id AND d.win = k.win
           AND d.breakdown = k.breakdown
LEFT JOIN c ON c.as_of = k.as_of AND c.la = k.la AND c.id = k.id AND c.win = k.win
           AND c.breakdown = k.breakdown
ORDER BY 1, 2;
EOF
n=0 sqlite_ok=0 duckdb_ok=0 all_ok=0
while IFS='|' read -r la id win bd snum sden dnum dden cnum cden s_ok d_ok; do
  printf 'engines_answer: %s %s %s %s sqlite=%s/%s duckdb=%s/%s cscflow=%s/%s sqlite_match=%s duckdb_match=%s\n' \
    "$la" "$id" "$win" "${bd:-\"\"}" "${snum:-none}" "${sden:-none}" "${dnum:-none}" \
    "${dden:-none}" "${cnum:-none}" "${cden:-none}" "$s_ok" "$d_ok"
  n=$((n + 1))
  [ "$s_ok" = yes ] && sqlite_ok=$((sqlite_ok + 1))
  [ "$d_ok" = yes ] && duckdb_ok=$((duckdb_ok + 1))
  [ "$s_ok" = yes ] && [ "$d_ok" = yes ] && all_ok=$((all_ok + 1))
done <"$work/compare.out"
all=no
[ "$n" -gt 0 ] && [ "$sqlite_ok" = "$n" ] && all=yes
echo "sqlite_answers_compared: $n"
echo "sqlite_answers_match: $all"
echo "sqlite_answers_matching: $sqlite_ok of $n"
if [ "$duckdb_ran" = yes ]; then
  echo "duckdb_answers_match: $duckdb_ok of $n"
  echo "engines_answers_agree: $all_ok of $n"
  [ "$duckdb_ok" = "$n" ] || all=no
fi
[ "$all" = yes ]
