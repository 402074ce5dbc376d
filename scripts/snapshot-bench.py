#!/usr/bin/env python3
"""Snapshots of a booted Linux, measured: how long a boot to the shell
takes, how big its snapshot is (in the file and on disk), how long saving
and restoring take, and what a clone costs (build + restore, and the
memory each keeps) against booting it.

    target/python-venv/bin/python scripts/snapshot-bench.py [CLONES]

Needs the Python package installed in that environment
(scripts/python-tests.sh makes it), the Linux guest
(scripts/fetch-linux-guest.sh target/linux-guest) and Debian's OpenSBI.
Prints medians; the clones run one after another, each to the guest's
power-off.
"""

from __future__ import annotations

import os
import pathlib
import statistics
import sys
import tempfile
import time

import polyhart
from polyhart import fleet

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from initramfs import busybox_initramfs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUEST = pathlib.Path(os.environ.get("LINUX_GUEST", ROOT / "target" / "linux-guest"))
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"
READY = b"polyhart-shell-ready"


def rss_kib() -> int:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    clones = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    initrd = busybox_initramfs(GUEST, "echo polyhart-job-done $((6*7))\npoweroff -f")
    # Images as bytes, read once, as a fleet's worker keeps them.
    config = dict(
        firmware=pathlib.Path(FW_JUMP).read_bytes(),
        kernel=(GUEST / "Image").read_bytes(),
        initrd=initrd,
        bootargs="console=ttyS0 quiet",
        ram_size=512 << 20,
        deterministic=True,
    )

    started = time.perf_counter()
    booted = fleet.boot(config, until=READY)
    boot = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "linux.snap"
        started = time.perf_counter()
        booted.save_snapshot(path)
        save_file = time.perf_counter() - started
        started = time.perf_counter()
        snapshot = booted.snapshot()
        save_memory = time.perf_counter() - started
        info = path.stat()
        on_disk = info.st_blocks * 512
        print(f"boot to the shell: {boot:.2f} s (1 hart, 512 MiB, --deterministic)")
        print(
            f"snapshot: {info.st_size / 2**20:.0f} MiB file, {on_disk / 2**20:.1f} MiB on disk "
            f"({snapshot.state_size} bytes of hart and device state); "
            f"saved in {save_file * 1000:.0f} ms to a file, {save_memory * 1000:.0f} ms to memory"
        )
        del booted

        builds, restores, runs, wholes = [], [], [], []
        kept = []
        rss_before = rss_kib()
        for _ in range(clones):
            started = time.perf_counter()
            clone = polyhart.Machine(**config)
            built = time.perf_counter()
            clone.restore(snapshot)
            restored = time.perf_counter()
            # The clone as users make it: built restored, images not loaded.
            started_whole = time.perf_counter()
            polyhart.Machine(snapshot=snapshot, **config)
            wholes.append(time.perf_counter() - started_whole)
            reason = clone.run()
            ran = time.perf_counter()
            output = clone.read_console()
            assert reason.exit_code == 0 and b"polyhart-job-done 42" in output, (reason, output)
            builds.append(built - started)
            restores.append(restored - built)
            runs.append(ran - restored)
            kept.append(clone)
        rss_after = rss_kib()
        median = statistics.median
        print(
            f"clone ({clones}, medians): build {median(builds) * 1000:.1f} ms + restore "
            f"{median(restores) * 1000:.2f} ms; then to power-off {median(runs):.2f} s "
            f"against {boot:.2f} s to boot"
        )
        print(f"clone as Machine(snapshot=..., ...): {median(wholes) * 1000:.1f} ms median (built restored)")
        print(f"memory: {(rss_after - rss_before) / clones / 1024:.1f} MiB more resident per clone kept (after its run)")


if __name__ == "__main__":
    main()
