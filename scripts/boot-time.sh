#!/bin/sh
# Time from start to U-Boot's prompt, polyhart against QEMU, with Debian's
# OpenSBI (fw_jump) and U-Boot (qemu-riscv64_smode). A newline is typed
# every 50 ms (U-Boot drops what arrives before its console is up) so that
# autoboot stops at its first check.
#
#   scripts/boot-time.sh POLYHART_BINARY [HARTS]
#
# POLYHART_ARGS adds options to polyhart's command line (e.g.
# POLYHART_ARGS=--deterministic).
set -u
[ $# -ge 1 ] || { echo "usage: $0 POLYHART_BINARY [HARTS]" >&2; exit 2; }
polyhart=$1
harts=${2:-4}
bios=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
kernel=/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# prompt_time NAME COMMAND...: seconds until "=> " appears in the output
prompt_time() {
    name=$1
    shift
    start=$(date +%s.%N)
    (for _ in $(seq 1200); do printf '\n'; sleep 0.05; done) | "$@" > "$tmp/$name.out" 2>&1 &
    pid=$!
    while ! grep -q '=> ' "$tmp/$name.out" 2>/dev/null; do
        sleep 0.01
        kill -0 $pid 2>/dev/null || { echo "$name exited before the prompt" >&2; return 1; }
    done
    end=$(date +%s.%N)
    pkill -P $pid 2>/dev/null; kill $pid 2>/dev/null; wait $pid 2>/dev/null
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }'
}

# shellcheck disable=SC2086 # POLYHART_ARGS is a list of options
p=$(prompt_time polyhart "$polyhart" run --harts "$harts" --ram 256M --bios "$bios" --kernel "$kernel" ${POLYHART_ARGS:-})
q=$(prompt_time qemu qemu-system-riscv64 -M virt -smp "$harts" -m 256M -nographic -bios "$bios" -kernel "$kernel")
echo "harts=$harts polyhart ${p}s qemu ${q}s"
