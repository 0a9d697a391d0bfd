#!/bin/sh
# Runs one libFuzzer target for a bounded time from a fresh copy of its seed
# corpus, so that what the run adds never lands in the repository and every
# run starts from the same committed seeds.
#
#   run_fuzz.sh FUZZER SEED_DIR WORK_DIR SECONDS [extra libFuzzer flags...]
#
# Exit status: the fuzzer's (0 when it found nothing). Any finding (crash,
# sanitizer report, leak, timeout, out-of-memory, invariant failure) is
# non-zero, with the reproducer saved under WORK_DIR/artifacts/ and the
# report printed. The last line is a summary: executions, corpus sizes.
set -u
fuzzer=$1 seeds=$2 work=$3 seconds=$4
shift 4
name=$(basename "$fuzzer")

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
n_seeds=$(ls "$work/corpus" | wc -l)

# Leaks fail the run too (libFuzzer checks after each input that allocates).
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" >"$work/fuzz.log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
n_corpus=$(ls "$work/corpus" | wc -l)
n_artifacts=$(ls "$work/artifacts" | wc -l)
if [ "$rc" -ne 0 ] || [ "$n_artifacts" -ne 0 ]; then
  # The report: from the first line of the sanitizer's, libFuzzer's or the
  # invariant's message on (not the progress lines before it).
  awk '/invariant failed|runtime error|==ERROR|ERROR: libFuzzer|ALARM|out-of-memory|LeakSanitizer/ {p = 1}
       p && n++ < 80' "$work/fuzz.log"
  ls -l "$work/artifacts"
  [ "$rc" -ne 0 ] || rc=1
fi
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -n 1)
summary="$name: ${execs:-?} executions (${rate:-?}/s, max_total_time ${seconds} s), corpus $n_seeds seeds -> $n_corpus inputs, exit $rc"
echo "$summary" | tee "$work/summary.txt"
exit "$rc"
