# shellcheck shell=bash
# bench/noise.sh — sourced by bench/run.sh and bench/engines_compare.sh: how
# much of the machine's CPU other processes took while a step was timed, so
# that a figure measured on a busy (shared) machine is recognised as such.
#
#   noise_begin; <the timed step, run by this shell>; noise_end
#   echo "replay_other_cpu_percent: $noise_percent"
#
# Other processes' CPU = the machine's busy time over the step (/proc/stat)
# less this shell's children's CPU over the step (bash's `times`: the step's
# whole process tree, once reaped), as a percent of the machine's capacity
# (wall time x CPUs). Both samples are taken with builtins only (`times`
# and `read` with redirections fork nothing), so that sampling adds no CPU
# of its own to either side.

noise_hz=$(getconf CLK_TCK)
noise_cpus=$(getconf _NPROCESSORS_ONLN)
noise_file="${TMPDIR:-/tmp}/cscflow-bench-noise.$$"
noise_percent=""

# Sets <prefix>_t (seconds), <prefix>_busy (jiffies), <prefix>_own ("XmY.Zs XmY.Zs").
noise_sample() {
  local cu cs u n s q sq st
  times >"$noise_file"
  { read -r _ _ && read -r cu cs; } <"$noise_file"
  # cpu user nice system idle iowait irq softirq steal: idle and iowait are not busy
  read -r _ u n s _ _ q sq st _ </proc/stat
  printf -v "$1_t" '%s' "$EPOCHREALTIME"
  printf -v "$1_busy" '%s' $((u + n + s + q + sq + st))
  printf -v "$1_own" '%s %s' "$cu" "$cs"
}

noise_begin() { noise_sample noise_a; }

# Sets noise_percent (one decimal) for the step since noise_begin.
noise_end() {
  noise_sample noise_b
  rm -f "$noise_file"
  # noise_a_* and noise_b_* are set by noise_sample (printf -v); noise_percent is the result
  # shellcheck disable=SC2154,SC2034
  noise_percent=$(awk -v t0="$noise_a_t" -v t1="$noise_b_t" -v b0="$noise_a_busy" \
    -v b1="$noise_b_busy" -v o0="$noise_a_own" -v o1="$noise_b_own" -v hz="$noise_hz" \
    -v cpus="$noise_cpus" '
    function secs(s,   m) { m = s; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", s); sub(/s$/, "", s)
                             return m * 60 + s }
    function own(x,   a) { split(x, a, " "); return secs(a[1]) + secs(a[2]) }
    BEGIN { cap = (t1 - t0) * cpus; other = (b1 - b0) / hz - (own(o1) - own(o0))
            p = cap > 0 ? 100 * other / cap : 0; if (p < 0) p = 0; if (p > 100) p = 100
            printf "%.1f", p }')
}
