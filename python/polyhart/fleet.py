"""Fleets: many guest jobs run over a Dask cluster's workers.

A job is a machine (the keyword arguments of :class:`polyhart.Machine`),
optionally a snapshot to start from, console input, a disk image each job
gets its own copy of, and a check of the result. :func:`run` hands the jobs
to a ``dask.distributed`` client and gathers one :class:`Result` per job,
whatever happens to it: a guest that fails, a check that says no, an
exception on the worker. Without a client the jobs run here, one after
another::

    import polyhart
    from polyhart import fleet

    booted = fleet.boot(config, until=b"polyhart-shell-ready")
    snapshot = fleet.pack(booted.snapshot())
    jobs = [
        fleet.Job(f"job-{i}", config, snapshot=snapshot, console_input=f"echo {i}\\n".encode())
        for i in range(200)
    ]
    from distributed import Client, LocalCluster
    with Client(LocalCluster(n_workers=2, threads_per_worker=1)) as client:
        results = fleet.run(jobs, client)

On a real cluster the same code runs against the cluster's scheduler
(``Client("tcp://scheduler:8786")``, with ``dask scheduler`` and ``dask
worker`` started on the hosts, or dask-jobqueue, dask-kubernetes...). The
workers need the ``polyhart`` wheel and, for jobs that name images by path,
the same files at the same paths (or pass images as bytes). A snapshot is
packed once (:func:`pack`: its hart and device state and the pages of RAM
that are not zeros), shipped to each worker once (``client.scatter(...,
broadcast=True)``), and unpacked there into a sparse file that every job on
that worker restores from, copy-on-write.

Why Dask and not Ray: ``distributed`` is pure Python and installs with pip
anywhere the wheel does, its ``LocalCluster`` runs the same code on one
host (as the tests do), and its scheduler is a single small process; Ray
brings a large native runtime that a 2-core CI host feels, for features
(actors, a object store across hosts) that a fleet of independent guest
jobs does not need.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time
import traceback
from typing import Any, Callable, Optional, Sequence

import polyhart

__all__ = ["Job", "Packed", "Result", "boot", "pack", "run", "run_job"]


def boot(machine: dict[str, Any], until: bytes, max_insns: Optional[int] = None) -> polyhart.Machine:
    """Builds a machine from `machine` (keyword arguments of
    :class:`polyhart.Machine`) and runs it until its console prints
    `until` (a line its init prints once booted, say): the machine to
    snapshot, stopped soon after the text (the console is watched between
    slices of the run). Raises `RuntimeError` with the console output if the
    guest stops by itself first."""
    seen = bytearray()
    booted: list[polyhart.Machine] = []

    def console(data: bytes) -> None:
        seen.extend(data)
        if until in seen and booted:
            booted[0].stop()

    booted.append(polyhart.Machine(**{**machine, "console": console}))
    reason = booted[0].run(max_insns=max_insns)
    if until not in seen or reason.kind != polyhart.StopKind.STOPPED:
        raise RuntimeError(f"the guest stopped ({reason}) before printing {until!r}: {bytes(seen)!r}")
    return booted[0]


@dataclasses.dataclass(frozen=True)
class Packed:
    """A snapshot made portable: its file's bytes that are not holes, as
    (offset, bytes) extents, and the file's length. Pickles to about the
    size of the state and the RAM pages that are not zeros."""

    length: int
    extents: tuple[tuple[int, bytes], ...]
    digest: str


def pack(snapshot: polyhart.Snapshot) -> Packed:
    """Packs `snapshot` for shipping to workers."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "snapshot"
        snapshot.save(path)
        extents = []
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            fd = file.fileno()
            length = os.fstat(fd).st_size
            offset = 0
            while offset < length:
                try:
                    start = os.lseek(fd, offset, os.SEEK_DATA)
                except OSError:
                    break
                end = os.lseek(fd, start, os.SEEK_HOLE)
                file.seek(start)
                data = file.read(end - start)
                extents.append((start, data))
                digest.update(start.to_bytes(8, "little"))
                digest.update(data)
                offset = end
    return Packed(length, tuple(extents), digest.hexdigest())


_unpacked: dict[str, polyhart.Snapshot] = {}
_unpacked_lock = threading.Lock()


def _unpack(packed: Packed) -> polyhart.Snapshot:
    """The snapshot `packed` holds, written once per process into a sparse
    file (kept open by the snapshot; the name is removed at once)."""
    with _unpacked_lock:
        snapshot = _unpacked.get(packed.digest)
        if snapshot is None:
            with tempfile.TemporaryDirectory() as tmp:
                path = pathlib.Path(tmp) / "snapshot"
                with open(path, "wb") as file:
                    for offset, data in packed.extents:
                        file.seek(offset)
                        file.write(data)
                    file.truncate(packed.length)
                snapshot = polyhart.Snapshot.open(path)
            _unpacked[packed.digest] = snapshot
        return snapshot


_IMAGES = ("kernel", "firmware", "initrd", "device_tree")
_image_cache: dict[tuple[str, int, int], bytes] = {}


def _images_read_once(kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with images given by path replaced by their bytes, read once
    per worker process (and again if the file changes); one that cannot
    be read is left for the machine to refuse."""
    for key in _IMAGES:
        value = kwargs.get(key)
        if isinstance(value, (str, os.PathLike)):
            path = os.fspath(value)
            try:
                info = os.stat(path)
            except OSError:
                continue  # the machine says what is wrong with it
            cache_key = (path, info.st_mtime_ns, info.st_size)
            with _unpacked_lock:
                data = _image_cache.get(cache_key)
                if data is None:
                    data = _image_cache[cache_key] = pathlib.Path(path).read_bytes()
            kwargs[key] = data
    return kwargs


@dataclasses.dataclass
class Job:
    """One guest run.

    - `machine`: keyword arguments of :class:`polyhart.Machine` (images as
      paths the workers can read, or bytes).
    - `snapshot`: a :class:`Packed` snapshot (or the path of a snapshot file
      the workers can read) to restore before the run; the machine must be
      built as the saved one was.
    - `console_input`: bytes typed at the guest's console before the run.
    - `disk`: a raw disk image; the job gets a copy of its own as the
      machine's first virtio disk (before any in `machine["virtio"]`), and
      the result carries the copy's bytes when `keep_disk` is set.
    - `max_insns`: a budget; `check`: a function of the :class:`Result` that
      says whether the job passed (default: the guest exited with 0).
    """

    name: str
    machine: dict[str, Any]
    snapshot: Optional[Packed | str | os.PathLike[str]] = None
    console_input: bytes = b""
    disk: Optional[str | os.PathLike[str]] = None
    keep_disk: bool = False
    max_insns: Optional[int] = None
    check: Optional[Callable[[Result], bool]] = None


@dataclasses.dataclass
class Result:
    """What became of one job: `passed` says whether its check held, `error`
    holds the traceback of an exception (the job then did not pass)."""

    name: str
    passed: bool
    stop: Optional[str] = None
    exit_code: Optional[int] = None
    instructions: int = 0
    console: bytes = b""
    disk: Optional[bytes] = None
    seconds: float = 0.0
    worker: str = ""
    error: Optional[str] = None


def run_job(job: Job) -> Result:
    """Runs `job` here; never raises (an exception becomes the result's
    `error`)."""
    started = time.perf_counter()
    result = Result(job.name, passed=False, worker=f"{os.uname().nodename}:{os.getpid()}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            kwargs = _images_read_once(dict(job.machine))
            if job.disk is not None:
                copy = pathlib.Path(tmp) / "disk.img"
                shutil.copyfile(job.disk, copy)
                kwargs["virtio"] = [polyhart.Block(copy)] + list(kwargs.get("virtio", ()))
            if job.snapshot is not None:
                kwargs["snapshot"] = _unpack(job.snapshot) if isinstance(job.snapshot, Packed) else job.snapshot
            machine = polyhart.Machine(**kwargs)
            if job.console_input:
                machine.send_console(job.console_input)
            reason = machine.run(max_insns=job.max_insns)
            result.stop = str(reason.kind).rsplit(".", 1)[-1]
            result.exit_code = reason.exit_code
            result.instructions = machine.instructions
            result.console = machine.read_console()
            del machine
            if job.disk is not None and job.keep_disk:
                result.disk = (pathlib.Path(tmp) / "disk.img").read_bytes()
        result.passed = bool(job.check(result)) if job.check is not None else result.exit_code == 0
    except Exception:  # noqa: BLE001 - every failure is the job's result
        result.error = traceback.format_exc()
        result.passed = False
    result.seconds = time.perf_counter() - started
    return result


def _run_shipped(job: Job, packed: Optional[Packed]) -> Result:
    """A worker's side: `job` with its snapshot as shipped."""
    if packed is not None:
        job = dataclasses.replace(job, snapshot=packed)
    return run_job(job)


def _progress(done: int, failed: int, total: int, stream) -> None:
    width = 30
    filled = width * done // max(total, 1)
    stream.write(f"\rpolyhart fleet [{'#' * filled}{'.' * (width - filled)}] {done}/{total} done, {failed} failed")
    if done == total:
        stream.write("\n")
    stream.flush()


def run(jobs: Sequence[Job], client: Any = None, progress: bool = True) -> list[Result]:
    """Runs `jobs` on `client`'s workers (a ``distributed.Client``), or here
    one after another without one, showing a progress bar of jobs done and
    failed on standard error; returns their results in the jobs' order,
    one for every job."""
    stream = sys.stderr
    total = len(jobs)
    results: list[Optional[Result]] = [None] * total
    failed = 0
    if client is None:
        for index, job in enumerate(jobs):
            results[index] = run_job(job)
            failed += not results[index].passed
            if progress:
                _progress(index + 1, failed, total, stream)
        return [result for result in results if result is not None]

    from distributed import as_completed

    # Each distinct snapshot goes to every worker once, not with every job.
    shipped: dict[str, Any] = {}
    futures = {}
    for index, job in enumerate(jobs):
        packed = job.snapshot if isinstance(job.snapshot, Packed) else None
        handle = None
        if packed is not None:
            if packed.digest not in shipped:
                shipped[packed.digest] = client.scatter(packed, broadcast=True)
            handle = shipped[packed.digest]
            job = dataclasses.replace(job, snapshot=None)
        future = client.submit(_run_shipped, job, handle, key=f"polyhart-{index}-{job.name}", pure=False)
        futures[future] = index
    done = 0
    for future in as_completed(futures):
        index = futures[future]
        try:
            result = future.result()
        except Exception:  # noqa: BLE001 - a lost worker is the job's result
            result = Result(jobs[index].name, passed=False, error=traceback.format_exc())
        results[index] = result
        done += 1
        failed += not result.passed
        if progress:
            _progress(done, failed, total, stream)
    return [result for result in results if result is not None]
