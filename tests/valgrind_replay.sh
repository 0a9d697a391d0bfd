#!/bin/sh
# A replay of a small generated history under valgrind memcheck: no leak, no
# invalid access in the core path (decode, history, fold, facts, aggregates,
# alerts, snapshots, outbox, file sink).
set -eu
gen=$1 cscflow=$2 dir=$3 one_child=${4:-}
rm -rf "$dir" && mkdir -p "$dir"
"$gen" --seed 2 --las 2 --years 1 --scale 0.05 --out "$dir/events.bin" --population-out "$dir/pop.csv" 2>/dev/null
valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9 \
  "$cscflow" replay --input "$dir/events.bin" --state "$dir/state" --population "$dir/pop.csv" 2>"$dir/stderr" \
  || { cat "$dir/stderr"; exit 1; }
grep -q '"event":"replay_summary"' "$dir/stderr"
# The replay produced snapshots for both LAs.
"$cscflow" snapshot --state "$dir/state" --json | grep -c '"la":"E9900000[12]"' | grep -qx 2
# The live path's cache of decoded long histories (state/history_cache.h):
# one child's 300 events one per transaction, cached from its 65th.
if [ -n "$one_child" ]; then
  "$one_child" --out "$dir/one.bin" --events 300 >/dev/null
  valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9 \
    "$cscflow" replay --input "$dir/one.bin" --state "$dir/state-one" --batch 1 2>"$dir/stderr-one" \
    || { cat "$dir/stderr-one"; exit 1; }
  grep -q '"event":"replay_summary","consumed":300,"applied":300' "$dir/stderr-one"
fi
echo "valgrind: no errors, no leaks"
