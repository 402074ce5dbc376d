#!/usr/bin/env python3
"""Fleet throughput: JOBS Linux jobs from one snapshot (each types a
command at the shell of a booted Debian and powers off), run one after
another here, then on a local Dask cluster of 1 and of 2 worker processes;
jobs per second for each, the median of ROUNDS rounds run interleaved.

    target/python-venv/bin/python scripts/fleet-bench.py [JOBS] [ROUNDS]

Needs the Python package with Dask's distributed in that environment
(scripts/python-tests.sh makes it), the Linux guest
(scripts/fetch-linux-guest.sh target/linux-guest) and Debian's OpenSBI.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import statistics
import sys
import time

import distributed

import polyhart
from polyhart import fleet

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from initramfs import busybox_initramfs  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
GUEST = pathlib.Path(os.environ.get("LINUX_GUEST", ROOT / "target" / "linux-guest"))
FW_JUMP = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    config = dict(
        firmware=FW_JUMP,
        kernel=str(GUEST / "Image"),
        initrd=busybox_initramfs(GUEST, "exec sh"),
        bootargs="console=ttyS0 quiet",
        ram_size=256 << 20,
        deterministic=True,
    )
    booted = fleet.boot(config, until=b"polyhart-shell-ready")
    packed = fleet.pack(booted.snapshot())
    jobs = [
        fleet.Job(
            f"job-{i}",
            config,
            snapshot=packed,
            console_input=f"echo job-{i} $((6*7)); poweroff -f\n".encode(),
            check=lambda result, i=i: f"job-{i} 42".encode() in result.console,
        )
        for i in range(count)
    ]
    stack = contextlib.ExitStack()
    clusters = {}
    for workers in (1, 2):
        cluster = stack.enter_context(
            distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        )
        clusters[workers] = stack.enter_context(distributed.Client(cluster))
    # A warm-up round on each cluster, so that each worker has the snapshot.
    for client in clusters.values():
        fleet.run(jobs[:4], client, progress=False)
    rates: dict[str, list[float]] = {"one after another": [], "1 worker": [], "2 workers": []}
    for _ in range(rounds):
        for name, client in [("one after another", None), ("1 worker", clusters[1]), ("2 workers", clusters[2])]:
            started = time.perf_counter()
            results = fleet.run(jobs, client, progress=False)
            elapsed = time.perf_counter() - started
            assert all(result.passed for result in results), [r for r in results if not r.passed][0]
            rates[name].append(count / elapsed)
    stack.close()
    base = statistics.median(rates["one after another"])
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name}: {rate:.2f} jobs/s ({rate / base:.2f}x one after another), {count} jobs, median of {rounds}")


if __name__ == "__main__":
    main()
