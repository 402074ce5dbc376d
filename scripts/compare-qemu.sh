#!/bin/sh
# Runs each guest test program on QEMU and on polyhart and compares them.
#
#   scripts/compare-qemu.sh POLYHART_BINARY [NAME...]
#
# For every program in tests/guest/manifest.txt marked QEMU=yes (or only the
# NAMEs given), runs
#   qemu-system-riscv64 -M virt -bios none -nographic -smp HARTS -m 128M -kernel ELF
#   POLYHART_BINARY run --kernel ELF --harts HARTS
# with stdin from /dev/null and a 120 s limit each, and compares stdout and
# the exit status.  Prints "ok NAME" or "DIFF NAME ..." with a diff, and
# exits non-zero if anything differed.  Without QEMU it prints a message and
# exits 0.  Build the ELFs first (make -C tests/guest).
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 POLYHART_BINARY [NAME...]" >&2
    exit 2
fi
polyhart=$1
shift

qemu=${QEMU:-qemu-system-riscv64}
if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "qemu-system-riscv64 not installed, skipped"
    exit 0
fi
case $polyhart in
    */*) [ -x "$polyhart" ] || { echo "$polyhart: not an executable" >&2; exit 2; } ;;
    *) command -v "$polyhart" >/dev/null 2>&1 || { echo "$polyhart: not found" >&2; exit 2; } ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
guest=$root/tests/guest
manifest=$guest/manifest.txt
. "$root/scripts/manifest.sh"
limit=120

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

check_names "$@"


differences=0
compared=0
while read -r name status harts onqemu rest; do
    case $name in ''|'#'*) continue ;; esac
    selected "$name" "$@" || continue
    [ "$onqemu" = yes ] || continue
    elf=$guest/$name.elf
    if [ ! -f "$elf" ]; then
        echo "DIFF $name: $elf missing (run make -C tests/guest)"
        differences=$((differences + 1))
        continue
    fi

    timeout "$limit" "$qemu" -M virt -bios none -nographic -smp "$harts" \
        -m 128M -kernel "$elf" </dev/null >"$tmp/qemu.out" 2>"$tmp/qemu.err"
    qrc=$?
    timeout "$limit" "$polyhart" run --kernel "$elf" --harts "$harts" \
        </dev/null >"$tmp/polyhart.out" 2>"$tmp/polyhart.err"
    prc=$?
    compared=$((compared + 1))

    why=""
    if [ "$qrc" != "$prc" ]; then
        why="exit status: qemu $qrc, polyhart $prc"
        [ "$prc" = 124 ] && why="$why (polyhart timed out after ${limit}s)"
        [ "$qrc" = 124 ] && why="$why (qemu timed out after ${limit}s)"
    fi
    if ! cmp -s "$tmp/qemu.out" "$tmp/polyhart.out"; then
        why="${why:+$why; }stdout differs"
    fi
    if [ -z "$why" ]; then
        echo "ok $name"
        continue
    fi
    differences=$((differences + 1))
    echo "DIFF $name: $why"
    diff -u --label "qemu $name" --label "polyhart $name" \
        "$tmp/qemu.out" "$tmp/polyhart.out" | head -60 | sed 's/^/  /'
    if [ -s "$tmp/polyhart.err" ]; then
        echo "  polyhart stderr (last lines):"
        tail -n 10 "$tmp/polyhart.err" | sed 's/^/    /'
    fi
done <"$manifest"

if [ "$differences" -ne 0 ]; then
    echo "$differences of $compared program(s) differ from QEMU"
    exit 1
fi
echo "all $compared program(s) match QEMU"
