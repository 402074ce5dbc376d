#!/bin/sh
# Debian's Linux on polyhart against QEMU, on the same kernel, initramfs
# and flags: seconds from start to the busybox shell, and to power-off
# after a 200,000-iteration shell loop. Median of RUNS (default 3), runs
# interleaved.
#
#   scripts/linux-boot-time.sh POLYHART_BINARY [HARTS...]   (default: 1 4)
#
# The guest comes from scripts/fetch-linux-guest.sh (target/linux-guest, or
# LINUX_GUEST=DIR); the initramfs is built here with python3. POLYHART_ARGS
# adds options to polyhart's command line (e.g. "--engine interp").
set -u
[ $# -ge 1 ] || { echo "usage: $0 POLYHART_BINARY [HARTS...]" >&2; exit 2; }
polyhart=$1
shift
[ $# -ge 1 ] || set -- 1 4
guest=${LINUX_GUEST:-target/linux-guest}
runs=${RUNS:-3}
bios=/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin
scripts/fetch-linux-guest.sh "$guest" >/dev/null || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# The initramfs: busybox, and an init that says when the shell is up, runs
# the loop and powers off.
mkdir -p "$tmp/root/bin" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev"
cp "$guest/busybox" "$tmp/root/bin/busybox"
cat > "$tmp/root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
echo polyhart-shell-ready
i=0
while [ $i -lt 200000 ]; do i=$((i+1)); done
echo polyhart-loop-done $i
poweroff -f
EOF
chmod +x "$tmp/root/init"
python3 - "$tmp/root" "$tmp/initramfs.cpio" <<'EOF'
import os, stat, sys
root, path = sys.argv[1], sys.argv[2]
out, inode = open(path, "wb"), 0
def entry(name, mode, data=b""):
    global inode
    inode += 1
    name = name.encode() + b"\0"
    fields = (inode, mode, 0, 0, 2 if mode & 0o040000 else 1, 0, len(data), 0, 0, 0, 0, len(name), 0)
    blob = b"070701" + b"".join(b"%08X" % f for f in fields) + name
    blob += b"\0" * (-len(blob) % 4) + data + b"\0" * (-len(data) % 4)
    out.write(blob)
for directory, _, files in os.walk(root):
    rel = os.path.relpath(directory, root)
    if rel != ".":
        entry(rel, 0o040755)
    for name in files:
        full = os.path.join(directory, name)
        entry(os.path.normpath(os.path.join(rel, name)), 0o100000 | stat.S_IMODE(os.stat(full).st_mode), open(full, "rb").read())
entry("TRAILER!!!", 0)
EOF

# measure NAME COMMAND...: "SHELL POWEROFF" seconds, or "- -" on failure
measure() {
    name=$1
    shift
    start=$(date +%s.%N)
    "$@" < /dev/null > "$tmp/$name.out" 2>&1 &
    pid=$!
    shell=-
    while kill -0 $pid 2>/dev/null; do
        if [ "$shell" = - ] && grep -q polyhart-shell-ready "$tmp/$name.out"; then
            shell=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }')
        fi
        sleep 0.01
    done
    wait $pid
    end=$(date +%s.%N)
    grep -q polyhart-loop-done "$tmp/$name.out" || { echo "- -"; return; }
    echo "$shell $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')"
}

# The median of the numbers on standard input (a failed run, "-", counts
# as the slowest).
median() { sed 's/^-$/99999/' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

flags="-m 512M -bios $bios -kernel $guest/Image -initrd $tmp/initramfs.cpio"
for harts in "$@"; do
    : > "$tmp/p"; : > "$tmp/q"
    for _ in $(seq "$runs"); do
        # shellcheck disable=SC2086 # option lists
        measure polyhart "$polyhart" run -M virt -nographic -smp "$harts" $flags -append "console=ttyS0 quiet" \
            ${POLYHART_ARGS:-} >> "$tmp/p"
        # shellcheck disable=SC2086
        measure qemu qemu-system-riscv64 -M virt -nographic -smp "$harts" $flags -append "console=ttyS0 quiet" >> "$tmp/q"
    done
    ps=$(cut -d' ' -f1 "$tmp/p" | median); pp=$(cut -d' ' -f2 "$tmp/p" | median)
    qs=$(cut -d' ' -f1 "$tmp/q" | median); qp=$(cut -d' ' -f2 "$tmp/q" | median)
    echo "harts=$harts shell: polyhart ${ps}s qemu ${qs}s; power-off: polyhart ${pp}s qemu ${qp}s"
done
