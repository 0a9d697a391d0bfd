#!/bin/sh
# A replay of a small generated history under valgrind memcheck: no leak, no
# invalid access in the core path (decode, history, fold, facts, aggregates,
# alerts, snapshots, outbox, file sink).
set -eu
gen=$1 cscflow=$2 dir=$3
rm -rf "$dir" && mkdir -p "$dir"
"$gen" --seed 2 --las 2 --years 1 --scale 0.05 --out "$dir/events.bin" --population-out "$dir/pop.csv" 2>/dev/null
valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9 \
  "$cscflow" replay --input "$dir/events.bin" --state "$dir/state" --population "$dir/pop.csv" 2>"$dir/stderr" \
  || { cat "$dir/stderr"; exit 1; }
grep -q '"event":"replay_summary"' "$dir/stderr"
# The replay produced snapshots for both LAs.
"$cscflow" snapshot --state "$dir/state" --json | grep -c '"la":"E9900000[12]"' | grep -qx 2
echo "valgrind: no errors, no leaks"
