#!/usr/bin/env bash
# bench/run.sh — cscflow's performance bench, every figure in one run.
#
#   bash bench/run.sh [--quick]
#
# Builds (Release), generates a history once (reused on the next run; kept in
# $CSCFLOW_BENCH_DIR, default /tmp/cscflow-bench) and prints, as `name: value`
# lines, then a summary against the targets of issue 6:
#   - replay throughput of the full catalogue, median of 3 (fresh state each);
#   - the same with durable commits (every commit synced);
#   - per-event cost at 1M, 5M and 10M events (from the replay's progress lines);
#   - peak RSS, state bytes per child;
#   - Kafka end-to-end throughput through librdkafka's mock cluster;
#   - produce-to-snapshot latency p50/p99 at a steady 1,000 events/s, durable;
#   - SQLite loading the same history as CSV and computing three indicators,
#     its answers checked against cscflow's, and the ratio of the two times.
# --quick: a 20-LA, 1-year history (2.2M events) instead of ~10M, for a
# smoke run (about 3 minutes). Timings are reported, never asserted.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build-bench"
dir=${CSCFLOW_BENCH_DIR:-/tmp/cscflow-bench}
years=5 scale=1.5 las=20 seed=1
if [[ "${1:-}" == "--quick" ]]; then years=1 scale=1.0; fi
mkdir -p "$dir"

log() { printf '# %s\n' "$*" >&2; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" | tail -1; }
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

log "building (Release) in $build"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target cscflow cscflow-gen cscflow-bench-csv cscflow-bench-kafka \
  >/dev/null

events="$dir/events-s$seed-l$las-y$years-x$scale.bin"
pop="$dir/population-s$seed-l$las-y$years-x$scale.csv"
if [[ ! -s "$events" ]]; then
  log "generating $events"
  "$build/cscflow-gen" --seed "$seed" --las "$las" --years "$years" --scale "$scale" \
    --out "$events.tmp" --population-out "$pop" 2>"$events.log"
  mv "$events.tmp" "$events"
fi
gen_line=$(grep gen_done "$events.log")
n_events=$(sed -n 's/^[^[]*"events":\([0-9]*\).*/\1/p' <<<"$gen_line")
n_children=$(sed -n 's/^[^[]*"children":\([0-9]*\).*/\1/p' <<<"$gen_line")
echo "history: $events"
echo "history_events: $n_events"
echo "history_children: $n_children"
echo "history_las: $las"
echo "history_bytes: $(stat -c %s "$events")"

# One replay into a fresh state; its log is kept for the figures.
replay() { # name extra-args...
  local name=$1
  shift
  rm -rf "$dir/state-$name"
  "$build/cscflow" replay --input "$events" --state "$dir/state-$name" --population "$pop" \
    "$@" 2>"$dir/replay-$name.log" >/dev/null
}

rates=() seconds=()
for i in 1 2 3; do
  log "replay $i of 3"
  replay "run$i"
  rates+=("$(grep replay_done "$dir/replay-run$i.log" | field events_per_s)")
  seconds+=("$(grep replay_done "$dir/replay-run$i.log" | field elapsed_s)")
  echo "replay_run${i}_events_per_s: ${rates[-1]}"
done
replay_rate=$(printf '%s\n' "${rates[@]}" | median)
replay_seconds=$(printf '%s\n' "${seconds[@]}" | median)
echo "replay_events_per_s_median: $replay_rate"
echo "replay_seconds_median: $replay_seconds"

# The run whose rate is the median gives the other replay figures.
for i in 1 2 3; do
  if [[ "${rates[$((i - 1))]}" == "$replay_rate" ]]; then med=$i; fi
done
summary=$(grep replay_summary "$dir/replay-run$med.log")
peak_kb=$(field peak_rss_kb <<<"$summary")
anon_kb=$(field peak_anon_kb <<<"$summary")
state_bytes=$(field state_bytes <<<"$summary")
histories=$(field histories <<<"$summary")
echo "replay_peak_rss_mb: $((peak_kb / 1024))"
echo "replay_peak_anon_mb: $((anon_kb / 1024))"
echo "state_bytes: $state_bytes"
echo "state_histories: $histories"
echo "state_bytes_per_child: $((state_bytes / n_children))"

# Per-event cost near 1M, 5M and 10M events: the progress line at or after
# each mark gives the rate since the line before it.
cost_at() { # events
  grep -E 'replay_(progress|done)' "$dir/replay-run$med.log" |
    awk -v n="$1" -F'"events":' '{split($2, a, ","); if (a[1] + 0 >= n) {print; exit}}' |
    field window_events_per_s | awk '{ if ($1 > 0) printf "%.3f", 1e6 / $1 }'
}
# The last mark is the end of the history (9.96M events in the full run).
marks=(1000000 5000000 "$n_events")
[[ $n_events -lt 6000000 ]] && marks=(1000000 $((n_events / 2)) "$n_events")
costs=()
for m in "${marks[@]}"; do
  c=$(cost_at "$m")
  costs+=("$c")
  echo "replay_us_per_event_at_${m}: $c"
done
cost_rise=$(awk -v a="${costs[0]}" -v b="${costs[-1]}" 'BEGIN { printf "%.2f", b / a }')
echo "replay_cost_last_over_first: $cost_rise"

log "replay with durable commits"
replay durable --durable
durable_rate=$(grep replay_done "$dir/replay-durable.log" | field events_per_s)
echo "replay_durable_events_per_s: $durable_rate"

log "SQLite"
sqlite_out=$(CSCFLOW_BUILD="$build" bash "$here/bench/engines_compare.sh" "$events" \
  "$dir/state-run$med" "$dir/sqlite" "$replay_seconds" || true)
grep -E '^(sqlite_|csv_)' <<<"$sqlite_out" | grep -v '^sqlite_answer:' || true
sqlite_total=$(sed -n 's/^sqlite_total_seconds: *//p' <<<"$sqlite_out")
sqlite_match=$(sed -n 's/^sqlite_answers_match: *//p' <<<"$sqlite_out")
ratio=$(awk -v s="$sqlite_total" -v r="$replay_seconds" 'BEGIN { if (r > 0) printf "%.2f", s / r }')
echo "sqlite_over_replay: $ratio"

log "Kafka end to end (mock cluster)"
# 1M events: the mock keeps ~5 MiB a partition. cscflow run applies them
# child by child in batches of up to 1,000,000 (cscflow.batch.by_child).
kafka_out=$("$build/bench/cscflow-bench-kafka" throughput --cscflow "$build/cscflow" --input "$events" \
  --population "$pop" --events 1000000 --batch-max 1000000 --batch-ms 1000 \
  --set cscflow.batch.by_child=true --work "$dir/kafka" 2>"$dir/kafka.log" || true)
echo "$kafka_out"
kafka_rate=$(sed -n 's/^kafka_e2e_events_per_s: *//p' <<<"$kafka_out")

log "latency at 1,000 events/s (durable)"
lat_out=$("$build/bench/cscflow-bench-kafka" latency --cscflow "$build/cscflow" --input "$events" \
  --population "$pop" --rate 1000 --seconds 20 --work "$dir/latency" 2>"$dir/latency.log" || true)
echo "$lat_out"
p50=$(sed -n 's/^latency_p50_ms: *//p' <<<"$lat_out")
p99=$(sed -n 's/^latency_p99_ms: *//p' <<<"$lat_out")

verdict() { awk -v v="$1" -v t="$2" -v dir="$3" 'BEGIN {
  if (v == "") { print "not measured"; exit }
  ok = dir == ">=" ? v + 0 >= t + 0 : v + 0 <= t + 0; print ok ? "met" : "missed" }'; }
echo
echo "summary (target; result):"
printf '  replay, full catalogue      >= 500000 ev/s   %10s ev/s  %s\n' "$replay_rate" \
  "$(verdict "$replay_rate" 500000 '>=')"
printf '  replay, durable commits     (reported)       %10s ev/s\n' "$durable_rate"
printf '  Kafka end to end            >= 250000 ev/s   %10s ev/s  %s\n' "$kafka_rate" \
  "$(verdict "$kafka_rate" 250000 '>=')"
printf '  live latency p99 (durable)  <= 20 ms         %10s ms    %s (p50 %s ms)\n' "$p99" \
  "$(verdict "$p99" 20 '<=')" "$p50"
printf '  peak RSS                    <= 1024 MB       %10s MB    %s (heap alone %s MB)\n' \
  "$((peak_kb / 1024))" "$(verdict "$((peak_kb / 1024))" 1024 '<=')" "$((anon_kb / 1024))"
printf '  SQLite / replay time        >= 2             %10s       %s (answers equal: %s)\n' \
  "$ratio" "$(verdict "$ratio" 2 '>=')" "$sqlite_match"
printf '  cost per event, last/first  <= 1.20          %10s       %s\n' "$cost_rise" \
  "$(verdict "$cost_rise" 1.2 '<=')"
