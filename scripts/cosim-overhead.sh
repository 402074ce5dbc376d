#!/usr/bin/env bash
# The cost of the SystemC bridge: the same guest driven by polyhart alone
# (polyhart_advance in a loop, no SystemC) and as the initiator of the
# SystemC example at several quanta, in one run, as ratios.
#
#   scripts/cosim-overhead.sh [GUEST.elf] [QUANTUM_US...]
#
# Defaults: tests/guest/bench_int.elf, quanta 1 10 100 us, the
# interpreter (POLYHART_JIT=50 compiles hot blocks; its compile times make
# runs vary more), best of REPS=3 runs. Besides the ratio it prints what
# each advance cost on average: the difference over the number of advances,
# which the 1 us quantum measures best (the largest signal over the noise).
set -euo pipefail
cd "$(dirname "$0")/.."
guest=${1:-tests/guest/bench_int.elf}
shift || true
quanta=${*:-1 10 100}
reps=${REPS:-3}
[ -z "${POLYHART_JIT:-}" ] && unset POLYHART_JIT
make -s -C cosim/examples/systemc all >/dev/null
exe=target/release/systemc_example

best() { # best wall time of $reps runs of "$@", and its advance count
    local best="" advances=0
    for _ in $(seq "$reps"); do
        local out t
        out=$("$@" 2>/dev/null)
        t=$(sed -n 's/.*wall \([0-9.]*\) s.*/\1/p' <<<"$out")
        advances=$(sed -n 's/.* \([0-9]*\) advances.*/\1/p' <<<"$out")
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    done
    echo "$best ${advances:-0}"
}

read -r alone _ < <(best "$exe" --standalone "$guest")
printf '%-24s %8s s\n' "standalone" "$alone"
for q in $quanta; do
    read -r t n < <(best "$exe" --bench "$guest" "$q")
    awk -v q="$q" -v t="$t" -v a="$alone" -v n="$n" \
        'BEGIN { printf "%-24s %8s s   %.3fx standalone (%+.1f%%), %d advances, %.0f ns each\n",
                 "SystemC, quantum " q " us", t, t / a, (t / a - 1) * 100, n, (t - a) / n * 1e9 }'
done
