#!/bin/sh
# Runs the guest test programs on QEMU and checks them against the manifest.
#
#   scripts/guest-qemu.sh check  [NAME...]   compare QEMU's output with
#                                            tests/guest/NAME.expected
#   scripts/guest-qemu.sh update [NAME...]   (re)write NAME.expected from QEMU
#
# Both modes also check QEMU's exit status against the manifest.  Only
# programs marked QEMU=yes are run.  Build the ELFs first (make -C tests/guest).
set -u

usage() {
    echo "usage: $0 check|update [NAME...]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
mode=$1
shift
case $mode in check|update) ;; *) usage ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
guest=$root/tests/guest
manifest=$guest/manifest.txt
. "$root/scripts/manifest.sh"
qemu=${QEMU:-qemu-system-riscv64}

if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "$qemu not installed, skipped"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM


failures=0
while read -r name status harts onqemu rest; do
    case $name in ''|'#'*) continue ;; esac
    selected "$name" "$@" || continue
    if [ "$onqemu" != yes ]; then
        echo "skip $name (not run on QEMU)"
        continue
    fi
    elf=$guest/$name.elf
    if [ ! -f "$elf" ]; then
        echo "FAIL $name: $elf missing (run make -C tests/guest)"
        failures=$((failures + 1))
        continue
    fi
    timeout 60 "$qemu" -M virt -bios none -nographic -smp "$harts" -m 128M \
        -kernel "$elf" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" != "$status" ]; then
        echo "FAIL $name: QEMU exit status $rc, manifest says $status"
        sed 's/^/  stderr: /' "$tmp/err"
        failures=$((failures + 1))
        continue
    fi
    if [ "$mode" = update ]; then
        cp "$tmp/out" "$guest/$name.expected"
        echo "wrote $name.expected ($(wc -l <"$tmp/out") lines, status $rc)"
    elif cmp -s "$tmp/out" "$guest/$name.expected"; then
        echo "ok $name"
    else
        echo "FAIL $name: output differs from $name.expected"
        diff "$guest/$name.expected" "$tmp/out" | head -40
        failures=$((failures + 1))
    fi
done <"$manifest"

if [ "$failures" -ne 0 ]; then
    echo "$failures program(s) failed"
    exit 1
fi
