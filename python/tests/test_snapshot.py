"""Snapshots from Python: a machine saved mid-run and restored into another
built the same way goes on exactly as the original (the same console
output and instruction count); snapshots go to files and back; a snapshot
of another machine, or a file that is not one, raises SnapshotError and
changes nothing."""

from __future__ import annotations

import pytest

import polyhart
from conftest import GUEST_DIR

ATOMICS = GUEST_DIR / "atomics.elf"


def machine(harts: int = 4) -> polyhart.Machine:
    return polyhart.Machine(kernel=ATOMICS, harts=harts, deterministic=True)


@pytest.mark.parametrize("via_file", [False, True])
def test_a_restored_machine_goes_on_as_the_original(tmp_path, via_file: bool) -> None:
    whole = machine()
    assert whole.run().exit_code == 0
    expected = whole.read_console()
    total = whole.instructions

    original = machine()
    assert original.run(max_insns=total // 2).kind == polyhart.StopKind.INSTRUCTION_LIMIT
    before = original.read_console()
    snapshot = original.snapshot()
    if via_file:
        path = tmp_path / "atomics.snap"
        snapshot.save(path)
        snapshot = polyhart.Snapshot.open(path)
    assert snapshot.ram_size == original.ram_size
    assert 0 < snapshot.state_size < 1 << 20

    clone = machine()
    clone.restore(snapshot)
    assert clone.instructions == original.instructions
    assert clone.run().exit_code == 0
    assert before + clone.read_console() == expected
    assert clone.instructions == total
    assert original.run().exit_code == 0
    assert before + original.read_console() == expected


def test_save_snapshot_writes_a_file_restore_takes(tmp_path) -> None:
    original = machine()
    original.run(max_insns=100_000)
    path = tmp_path / "m.snap"
    original.save_snapshot(path)
    clone = machine()
    clone.restore(str(path))
    assert clone.read_pc(3) == original.read_pc(3)
    assert clone.read_xs(2) == original.read_xs(2)


def test_a_snapshot_of_another_machine_is_refused(tmp_path) -> None:
    snapshot = machine().snapshot()
    other = machine(harts=2)
    other.run(max_insns=10_000)
    pc = other.read_pc(1)
    with pytest.raises(polyhart.SnapshotError, match="harts"):
        other.restore(snapshot)
    assert other.read_pc(1) == pc
    bad = tmp_path / "bad.snap"
    bad.write_bytes(b"not a snapshot")
    with pytest.raises(polyhart.SnapshotError, match="not a polyhart snapshot"):
        polyhart.Snapshot.open(bad)
    with pytest.raises(polyhart.SnapshotError):
        other.restore(tmp_path / "missing.snap")
    assert issubclass(polyhart.SnapshotError, polyhart.PolyhartError)


def test_clone_is_a_new_machine_as_this_one_is_now() -> None:
    whole = machine()
    assert whole.run().exit_code == 0
    expected = whole.read_console()
    original = machine()
    original.run(max_insns=whole.instructions // 3)
    before = original.read_console()
    clones = [original.clone(), original.clone(engine="interp")]
    for clone in clones:
        assert clone.instructions == original.instructions
        assert clone.run().exit_code == 0
        assert before + clone.read_console() == expected
    with pytest.raises(polyhart.SnapshotError, match="harts"):
        original.clone(harts=2)
