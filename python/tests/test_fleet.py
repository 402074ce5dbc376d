"""Fleets: jobs run over a local Dask cluster (two worker processes) give
one result per job, failures included, in the jobs' order; a Linux booted
once and saved at its shell runs 200 jobs from the one snapshot, each
writing a line of its own to its own copy of a virtio disk."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

import polyhart
from polyhart import fleet
from conftest import GUEST_DIR

distributed = pytest.importorskip("distributed") if not os.environ.get("CI") else __import__("distributed")

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from initramfs import busybox_initramfs  # noqa: E402  (the benchmarks' initramfs)

LINUX = pathlib.Path(os.environ.get("POLYHART_LINUX_GUEST", ROOT / "target" / "linux-guest"))
FW_JUMP = pathlib.Path("/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin")
READY = b"polyhart-shell-ready"


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def test_every_job_has_a_result_failures_included(client) -> None:
    jobs = [fleet.Job(f"hello-{i}", {"kernel": str(GUEST_DIR / "hello.elf")}) for i in range(6)]
    jobs.append(fleet.Job("exit-42", {"kernel": str(GUEST_DIR / "exit_code.elf")}))
    jobs.append(fleet.Job("missing", {"kernel": "/nonexistent/guest.elf"}))
    jobs.append(
        fleet.Job("wrong", {"kernel": str(GUEST_DIR / "hello.elf")}, check=lambda result: b"goodbye" in result.console)
    )
    results = fleet.run(jobs, client, progress=False)
    assert [result.name for result in results] == [job.name for job in jobs]
    by_name = {result.name: result for result in results}
    expected = (GUEST_DIR / "hello.expected").read_bytes()
    for i in range(6):
        assert by_name[f"hello-{i}"].passed and by_name[f"hello-{i}"].console == expected
    assert not by_name["exit-42"].passed and by_name["exit-42"].exit_code == 42
    assert not by_name["missing"].passed and "BuildError" in by_name["missing"].error
    assert not by_name["wrong"].passed and by_name["wrong"].error is None
    assert len({result.worker for result in results}) == 2, "both workers took jobs"


def test_a_linux_snapshot_runs_200_jobs_each_on_its_own_disk_copy(client, tmp_path) -> None:
    files = [LINUX / "Image", LINUX / "busybox", LINUX / "modules" / "order", FW_JUMP]
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        message = f"the Linux fleet test needs {missing} (scripts/fetch-linux-guest.sh target/linux-guest)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    initrd = busybox_initramfs(LINUX, "exec sh", modules=True)
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"polyhart fleet disk\n".ljust(1 << 20, b"\0"))
    config = dict(
        firmware=str(FW_JUMP),
        kernel=str(LINUX / "Image"),
        initrd=initrd,
        bootargs="console=ttyS0 quiet",
        ram_size=256 << 20,
        deterministic=True,
    )
    # Booted once, stopped once init says the shell is starting.
    booted = fleet.boot({**config, "virtio": [polyhart.Block(disk)]}, until=READY, max_insns=2_000_000_000)
    packed = fleet.pack(booted.snapshot())
    assert sum(len(data) for _, data in packed.extents) < packed.length // 2, "only pages that are not zeros"

    def check(i: int):
        line = f"fleet-job-{i:03}\n".encode()
        return lambda result: result.disk is not None and result.disk[512 : 512 + len(line)] == line

    jobs = [
        fleet.Job(
            f"job-{i:03}",
            config,
            snapshot=packed,
            disk=disk,
            keep_disk=True,
            console_input=(
                f"echo fleet-job-{i:03} | dd of=/dev/vda bs=512 seek=1 conv=notrunc,fsync 2>/dev/null; poweroff -f\n"
            ).encode(),
            check=check(i),
            max_insns=2_000_000_000,
        )
        for i in range(200)
    ]
    results = fleet.run(jobs, client, progress=True)
    failures = [result for result in results if not result.passed]
    assert len(results) == 200
    assert not failures, failures[0]
    assert disk.read_bytes()[512:520] == b"\0" * 8, "the template disk is untouched"
