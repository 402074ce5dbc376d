#!/bin/sh
# What instrumentation costs: each plugin configuration against no plugin,
# on the same guest, under the default engine (the JIT).
#
#   scripts/plugin-overhead.sh POLYHART_BINARY [RUNS]    (default RUNS: 5)
#
# Guests: bench_int (1 hart) and bench_par (4 harts, parallel runner).
# Configurations, interleaved run by run so that a noisy host slows them
# alike; each row is the median of RUNS wall-clock times, and its ratio to
# the median without plugins of the same guest:
#   none         no plugin
#   insn         inline counters per instruction class (no call)
#   hotblocks    an inline counter per block
#   insn-calls   insn,inline=off: a callback before every instruction
#   mem-calls    mem with a range nothing falls in: a callback after every
#                load and store, which does nothing else
#   cache        the cache model (a callback per instruction and access)
#   timing       --timing u54 (a callback per instruction and access)
# The slow configurations (callbacks) run with RUNS=3 at most, on bench_int,
# and insn-calls and timing on bench_par too.
# Debian's QEMU 7.2 ships no contrib plugins, so there is no QEMU column.
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 POLYHART_BINARY [RUNS]" >&2
    exit 2
fi
polyhart=$1
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
guest=$root/tests/guest
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

now() { date +%s.%N; }

# time_one NAME CONFIG ARGS... -> appends the seconds to $tmp/NAME.CONFIG
time_one() {
    name=$1
    config=$2
    shift 2
    start=$(now)
    if ! "$@" >/dev/null 2>"$tmp/err"; then
        echo "$name $config failed:" >&2
        cat "$tmp/err" >&2
        exit 1
    fi
    end=$(now)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f\n", b - a }' >>"$tmp/$name.$config"
}

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

plugin_args() {
    case $1 in
        none) ;;
        insn) echo "--plugin insn,out=/dev/null" ;;
        hotblocks) echo "--plugin hotblocks,out=/dev/null" ;;
        insn-calls) echo "--plugin insn,inline=off,out=/dev/null" ;;
        mem-calls) echo "--plugin mem,file=/dev/null,range=0x0-0x1,out=/dev/null" ;;
        cache) echo "--plugin cache,out=/dev/null" ;;
        timing) echo "--timing u54,out=/dev/null" ;;
    esac
}

fast="none insn hotblocks"
slow="insn-calls mem-calls cache timing"
slow_runs=$((runs < 3 ? runs : 3))
i=0
while [ $i -lt "$runs" ]; do
    for config in $fast; do
        # shellcheck disable=SC2046
        time_one bench_int "$config" "$polyhart" run --kernel "$guest/bench_int.elf" $(plugin_args "$config")
        # shellcheck disable=SC2046
        time_one bench_par "$config" "$polyhart" run -smp 4 --kernel "$guest/bench_par.elf" $(plugin_args "$config")
    done
    if [ $i -lt "$slow_runs" ]; then
        for config in $slow; do
            # shellcheck disable=SC2046
            time_one bench_int "$config" "$polyhart" run --kernel "$guest/bench_int.elf" $(plugin_args "$config")
        done
        for config in insn-calls timing; do
            # shellcheck disable=SC2046
            time_one bench_par "$config" "$polyhart" run -smp 4 --kernel "$guest/bench_par.elf" $(plugin_args "$config")
        done
    fi
    i=$((i + 1))
done

printf '%-10s %-11s %10s %8s\n' guest plugins median_s ratio
for name in bench_int bench_par; do
    base=$(median "$tmp/$name.none")
    for config in $fast $slow; do
        [ -f "$tmp/$name.$config" ] || continue
        m=$(median "$tmp/$name.$config")
        awk -v n="$name" -v c="$config" -v m="$m" -v b="$base" \
            'BEGIN { printf "%-10s %-11s %10.3f %7.2fx\n", n, c, m, m / b }'
    done
done
