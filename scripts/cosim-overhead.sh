#!/usr/bin/env bash
# The cost of the SystemC bridge: the same guest driven by polyhart alone
# (polyhart_advance in a loop, no SystemC) and as the initiator of the
# SystemC example at several quanta, in one run, as ratios.
#
#   scripts/cosim-overhead.sh [GUEST.elf] [QUANTUM_US...]
#
# Defaults: tests/guest/bench_int.elf, quanta 1 10 100 us, the JIT
# (POLYHART_JIT=50; set POLYHART_JIT= to interpret), best of REPS=3 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
guest=${1:-tests/guest/bench_int.elf}
shift || true
quanta=${*:-1 10 100}
reps=${REPS:-3}
export POLYHART_JIT=${POLYHART_JIT-50}
[ -z "$POLYHART_JIT" ] && unset POLYHART_JIT
make -s -C cosim/examples/systemc all >/dev/null
exe=target/release/systemc_example

best() { # best wall time of $reps runs of "$@"
    local best=""
    for _ in $(seq "$reps"); do
        local t
        t=$("$@" 2>/dev/null | sed -n 's/.*wall \([0-9.]*\) s.*/\1/p')
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    done
    echo "$best"
}

alone=$(best "$exe" --standalone "$guest")
printf '%-22s %8s s\n' "standalone" "$alone"
for q in $quanta; do
    t=$(best "$exe" --bench "$guest" "$q")
    awk -v q="$q" -v t="$t" -v a="$alone" \
        'BEGIN { printf "%-22s %8s s   %.3fx standalone (%+.1f%%)\n", "SystemC, quantum " q " us", t, t / a, (t / a - 1) * 100 }'
done
