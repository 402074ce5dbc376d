#!/bin/sh
# Host instructions the JIT's code executes, counted exactly: a measure of
# compiled-code quality that does not move with the host's load, unlike wall
# time (on a shared VM, timings of the same binary vary by 20-30%).
#
#   scripts/jit-host-insns.sh POLYHART_BINARY ELF [POLYHART_OPTIONS...]
#
# With COMPARE_QEMU=1 it counts QEMU's generated code on the same ELF too
# (qemu-system-riscv64 -M virt -bios none, QEMU=... names another binary).
#
# Runs the guest under callgrind (valgrind's instruction counter; Debian
# package `valgrind`) with the JIT compiling on the hart itself
# (`--jit-sync`: valgrind serialises threads, so background compilation
# would leave most of a run to the interpreter), and prints host
# instructions executed in compiled code (code outside any mapped file),
# in Cranelift and regalloc2 (compiling), and elsewhere (interpreter, run
# loop, devices), with the guest's instruction count and compiled-code host
# instructions per guest instruction. Runs are ~50x slower than native:
# use a guest of around 100M instructions (e.g. bench_int built with
# -DBENCH_ROUNDS=20).
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 POLYHART_BINARY ELF [POLYHART_OPTIONS...]" >&2
    exit 2
fi
polyhart=$1
elf=$2
shift 2
command -v valgrind >/dev/null 2>&1 || { echo "$0: needs valgrind" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
    "$polyhart" run --engine jit --jit-sync --stats --kernel "$elf" "$@" \
    >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
guest=$(awk '/^hart [0-9]+:/ { n += $3 } END { printf "%.0f", n }' "$tmp/err")

# callgrind_annotate's per-function table: "IR (PERCENT)  FILE:FUNCTION
# [OBJECT]"; generated code lies in no mapped file: object "[???]".
count() {
    callgrind_annotate --threshold=100 "$1" | awk '
        /^Ir .*file:function/ { table = 1; getline; next }
        table && NF == 0 { exit }
        table {
            n = $1; gsub(",", "", n)
            if ($NF == "[???]") jit += n
            else if ($0 ~ /cranelift|regalloc/) compile += n
            else other += n
        }
        END { printf "%.0f %.0f %.0f\n", jit, compile, other }'
}
set -- $(count "$tmp/out")
printf "guest instructions:             %15.0f\n" "$guest"
printf "host, in compiled code:         %15.0f\n" "$1"
printf "host, compiling (Cranelift):    %15.0f\n" "$2"
printf "host, elsewhere:                %15.0f\n" "$3"
awk -v j="$1" -v g="$guest" 'BEGIN { if (g > 0) printf "compiled code, host per guest:  %15.2f\n", j / g }'
jit=$1

if [ "${COMPARE_QEMU:-0}" = 1 ]; then
    qemu=${QEMU:-qemu-system-riscv64}
    valgrind --tool=callgrind --callgrind-out-file="$tmp/qemu" \
        "$qemu" -M virt -bios none -nographic -kernel "$elf" >/dev/null 2>&1 </dev/null
    set -- $(count "$tmp/qemu")
    printf "QEMU, in generated code:        %15.0f\n" "$1"
    awk -v j="$jit" -v q="$1" -v g="$guest" 'BEGIN {
        if (g > 0) printf "QEMU generated code, per guest: %15.2f\n", q / g
        if (j > 0) printf "QEMU / polyhart (compiled code): %14.2f\n", q / j }'
fi
