#!/bin/sh
# Fetches a Linux guest for the end-to-end tests: Debian trixie's riscv64
# kernel (`linux-image-riscv64`) and `busybox-static`, through a private apt
# configuration (riscv64, state and sources of its own) that leaves the
# host's apt alone, then unpacks the kernel image, busybox, and the modules
# of the virtio drivers (decompressed, for busybox's insmod):
#
#   scripts/fetch-linux-guest.sh DIR     (DIR/Image, DIR/busybox, DIR/modules/*.ko)
#
# Does nothing when they are there already, so a machine fetches them once
# (`.ci/run` keeps them in target/linux-guest). Needs apt-get and dpkg-deb
# and Debian's archive.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
dir=$1
# The virtio drivers Debian builds as modules, in the order they load.
modules="virtio_mmio virtio_blk virtio-rng failover net_failover virtio_net"
if [ -s "$dir/Image" ] && [ -s "$dir/busybox" ] && [ -s "$dir/modules/virtio_net.ko" ]; then
    exit 0
fi
for tool in apt-get dpkg-deb xz; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$0: needs $tool" >&2; exit 1; }
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
apt="$dir/apt"
rm -rf "$apt" "$dir/unpacked"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$apt/preferences.d" \
    "$dir/unpacked" "$dir/debs"
touch "$apt/status"
echo "deb [trusted=yes] http://deb.debian.org/debian trixie main" > "$apt/sources.list"
cat > "$apt/apt.conf" <<EOF
APT::Architecture "riscv64";
APT::Architectures "riscv64";
Dir::State "$apt";
Dir::State::Lists "$apt/lists";
Dir::State::status "$apt/status";
Dir::Cache "$apt/cache";
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "$apt/sources.list.d";
Dir::Etc::Preferences "$apt/preferences";
Dir::Etc::PreferencesParts "$apt/preferences.d";
Acquire::Languages "none";
EOF
export APT_CONFIG="$apt/apt.conf"
apt-get update -qq
# linux-image-riscv64 is a metapackage: download the image it depends on.
image=$(apt-cache depends linux-image-riscv64 | awk '/Depends: linux-image-/ { print $2; exit }')
[ -n "$image" ] || { echo "$0: no kernel image behind linux-image-riscv64" >&2; exit 1; }
(cd "$dir/debs" && apt-get download -qq "$image" busybox-static 2>/dev/null)
for deb in "$dir"/debs/*.deb; do
    dpkg-deb -x "$deb" "$dir/unpacked"
done
cp "$dir"/unpacked/boot/vmlinux-* "$dir/Image"
cp "$dir/unpacked/usr/bin/busybox" "$dir/busybox"
mkdir -p "$dir/modules"
for module in $modules; do
    found=$(find "$dir/unpacked/usr/lib/modules" -name "$module.ko.xz" | head -n 1)
    [ -n "$found" ] || { echo "$0: the kernel package has no $module.ko.xz" >&2; exit 1; }
    xz -dc "$found" > "$dir/modules/$module.ko"
done
echo "$modules" > "$dir/modules/order"
rm -rf "$dir/unpacked" "$dir/debs" "$apt"
echo "$image and busybox-static in $dir"
