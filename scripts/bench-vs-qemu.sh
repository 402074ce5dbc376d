#!/bin/sh
# Compares polyhart's speed with QEMU's on guest programs.
#
#   scripts/bench-vs-qemu.sh POLYHART_BINARY [NAME...]    (default: bench_int demo)
#
# NAME is a program of tests/guest/manifest.txt, or another ELF there that
# runs on one hart and exits with 0 (coremark_long: EEMBC CoreMark, 3000
# iterations).
# POLYHART_ARGS adds options to polyhart's command line, e.g.
# POLYHART_ARGS="--engine interp" to time the interpreter (the JIT is the
# default).
#
# Runs tests/guest/NAME.elf three times on each emulator and keeps the best
# wall-clock time.  The instruction count comes from polyhart's --stats
# output on stderr, one line per hart:
#   hart 0: 123456 instructions, 789 blocks translated, 345.6 MIPS
# summed over the harts; QEMU's MIPS uses the same count.  Prints a table:
# program, instructions, polyhart s, polyhart MIPS, QEMU s, QEMU MIPS and
# the speed ratio polyhart / QEMU (> 1: polyhart is faster).
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 POLYHART_BINARY [NAME...]" >&2
    exit 2
fi
polyhart=$1
shift
[ $# -eq 0 ] && set -- bench_int demo

root=$(cd "$(dirname "$0")/.." && pwd)
guest=$root/tests/guest
manifest=$guest/manifest.txt
qemu=${QEMU:-qemu-system-riscv64}
runs=3
limit=600

have_qemu=yes
command -v "$qemu" >/dev/null 2>&1 || have_qemu=no

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

now() { date +%s.%N; }

# elapsed START END -> seconds, as a decimal
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# min A B
fmin() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

printf '%-12s %14s %11s %10s %9s %10s %8s\n' \
    program instructions polyhart_s poly_MIPS qemu_s qemu_MIPS ratio
status=0
for name in "$@"; do
    line=$(awk -v n="$name" '$1 == n { print; exit }' "$manifest")
    # Benchmarks that are not test programs (coremark_long, dhrystone):
    # one hart, exit status 0.
    [ -z "$line" ] && [ -f "$guest/$name.elf" ] && line="$name 0 1"
    if [ -z "$line" ]; then
        echo "$name: not in $manifest, and no $guest/$name.elf" >&2
        status=1
        continue
    fi
    want=$(echo "$line" | awk '{ print $2 }')
    harts=$(echo "$line" | awk '{ print $3 }')
    elf=$guest/$name.elf
    if [ ! -f "$elf" ]; then
        echo "$elf missing (run make -C tests/guest)" >&2
        status=1
        continue
    fi

    best_p=""
    insns=""
    i=0
    while [ $i -lt $runs ]; do
        t0=$(now)
        # shellcheck disable=SC2086 # POLYHART_ARGS is a list of options
        timeout "$limit" "$polyhart" run --kernel "$elf" --harts "$harts" --stats ${POLYHART_ARGS:-} \
            </dev/null >/dev/null 2>"$tmp/stats"
        rc=$?
        t1=$(now)
        if [ "$rc" != "$want" ]; then
            echo "$name: polyhart exit status $rc, expected $want" >&2
            status=1
        fi
        best_p=$(fmin "$best_p" "$(elapsed "$t0" "$t1")")
        # sum "hart N: COUNT instructions" over the harts
        insns=$(awk '$1 == "hart" && $4 ~ /^instructions/ { s += $3 } END { if (s) printf "%d", s }' \
            "$tmp/stats")
        i=$((i + 1))
    done
    if [ -z "$insns" ]; then
        echo "$name: no 'hart N: COUNT instructions' lines in polyhart's --stats output" >&2
        status=1
        insns=0
    fi

    best_q=""
    if [ "$have_qemu" = yes ]; then
        i=0
        while [ $i -lt $runs ]; do
            t0=$(now)
            timeout "$limit" "$qemu" -M virt -bios none -nographic -smp "$harts" \
                -m 128M -kernel "$elf" </dev/null >/dev/null 2>&1
            rc=$?
            t1=$(now)
            if [ "$rc" != "$want" ]; then
                echo "$name: QEMU exit status $rc, expected $want" >&2
                status=1
            fi
            best_q=$(fmin "$best_q" "$(elapsed "$t0" "$t1")")
            i=$((i + 1))
        done
    fi

    awk -v n="$name" -v c="$insns" -v p="$best_p" -v q="$best_q" 'BEGIN {
        pm = p > 0 ? c / p / 1e6 : 0
        if (q == "") {
            printf "%-12s %14d %11.3f %10.1f %9s %10s %8s\n", n, c, p, pm, "-", "-", "-"
        } else {
            qm = q > 0 ? c / q / 1e6 : 0
            printf "%-12s %14d %11.3f %10.1f %9.3f %10.1f %8.2f\n", n, c, p, pm, q, qm, (p > 0 ? q / p : 0)
        }
    }'
done
[ "$have_qemu" = yes ] || echo "($qemu not installed: QEMU columns left empty)"
exit $status
