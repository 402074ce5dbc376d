#!/bin/sh
# Multicore scaling: the same per-hart work on 1, 2, 4, ... harts, each hart
# on its own host thread, in one run of this script.
#
#   scripts/scaling.sh POLYHART_BINARY [HARTS...]     (default: 1 2 4)
#
# Runs tests/guest/bench_par.elf (every hart does the same fixed work, so the
# total grows with N) and prints, per hart count: wall-clock seconds (best of
# three), instructions retired by all harts, throughput in MIPS, and the
# speedup of N harts over one (throughput ratio; ideal = N). QEMU (MTTCG)
# is measured beside it when installed, for comparison.
#
# POLYHART_ARGS adds options to polyhart's command line, e.g.
# POLYHART_ARGS="--engine interp" to measure the interpreter's (the JIT is
# the default). ELF names
# another build of bench_par, e.g. one with -DBENCH_PAR_ROUNDS=3000 for
# runs long enough that start-up and compilation weigh little.
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 POLYHART_BINARY [HARTS...]" >&2
    exit 2
fi
polyhart=$1
shift
[ $# -eq 0 ] && set -- 1 2 4

root=$(cd "$(dirname "$0")/.." && pwd)
elf=${ELF:-$root/tests/guest/bench_par.elf}
qemu=${QEMU:-qemu-system-riscv64}
runs=3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
fmin() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

echo "host: $(nproc) cores"
printf '%6s %10s %14s %10s %8s %10s %8s\n' harts poly_s instructions poly_MIPS speedup qemu_s q_speedup
base=""
qbase=""
for n in "$@"; do
    best=""
    for _ in $(seq $runs); do
        start=$(now)
        # shellcheck disable=SC2086 # POLYHART_ARGS is a list of options
        "$polyhart" run ${POLYHART_ARGS:-} --harts "$n" --stats --kernel "$elf" >"$tmp/out" 2>"$tmp/err" || {
            echo "polyhart failed on $n harts:" >&2
            cat "$tmp/out" "$tmp/err" >&2
            exit 1
        }
        best=$(fmin "$best" "$(elapsed "$start" "$(now)")")
    done
    insns=$(awk '/^hart [0-9]+:/ { sum += $3 } END { print sum }' "$tmp/err")
    mips=$(awk -v i="$insns" -v t="$best" 'BEGIN { printf "%.1f", i / t / 1e6 }')
    [ -z "$base" ] && base=$mips
    speedup=$(awk -v m="$mips" -v b="$base" 'BEGIN { printf "%.2f", m / b }')
    qbest="-"
    qspeed="-"
    if command -v "$qemu" >/dev/null 2>&1; then
        qbest=""
        for _ in $(seq $runs); do
            start=$(now)
            timeout 300 "$qemu" -M virt -bios none -nographic -smp "$n" -m 128M -kernel "$elf" >/dev/null 2>&1
            qbest=$(fmin "$qbest" "$(elapsed "$start" "$(now)")")
        done
        # Same work per hart on both: QEMU's throughput ratio is time-based.
        qmips=$(awk -v i="$insns" -v t="$qbest" 'BEGIN { printf "%.1f", i / t / 1e6 }')
        [ -z "$qbase" ] && qbase=$qmips
        qspeed=$(awk -v m="$qmips" -v b="$qbase" 'BEGIN { printf "%.2f", m / b }')
    fi
    printf '%6s %10s %14s %10s %8s %10s %8s\n' "$n" "$best" "$insns" "$mips" "$speedup" "$qbest" "$qspeed"
done
