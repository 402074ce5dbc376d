"""The guest programs of tests/guest run through the Python package: each
prints exactly its NAME.expected (QEMU's output) and exits with the status
tests/guest/manifest.txt gives."""

from __future__ import annotations

import pytest

import polyhart
from conftest import manifest

PROGRAMS = manifest()
# The benchmarks and the demo take seconds each; tests/guest_programs.rs runs them.
SLOW = {"bench_int", "bench_fp", "bench_par", "demo"}
QUICK = sorted(name for name in PROGRAMS if name not in SLOW)


@pytest.mark.parametrize("name", QUICK)
def test_program_prints_its_expected_output_and_exits_with_its_status(name: str) -> None:
    program = PROGRAMS[name]
    machine = polyhart.Machine(kernel=str(program.elf), harts=program.harts)
    reason = machine.run()
    assert reason.kind == polyhart.StopKind.EXIT, reason
    assert reason.exit_code == program.exit_status
    assert machine.read_console() == program.expected


@pytest.mark.parametrize("name", ["hello", "rv64i", "rv64a", "compressed", "fp_arith", "multihart"])
def test_program_runs_the_same_compiled_by_the_jit(name: str) -> None:
    program = PROGRAMS[name]
    machine = polyhart.Machine(kernel=program.elf, harts=program.harts, engine="jit", jit_threshold=0)
    reason = machine.run()
    assert (reason.kind, reason.exit_code) == (polyhart.StopKind.EXIT, program.exit_status)
    assert machine.read_console() == program.expected


@pytest.mark.parametrize("name", ["multihart", "atomics"])
def test_deterministic_runs_repeat_exactly(name: str) -> None:
    program = PROGRAMS[name]
    runs = []
    for _ in range(2):
        machine = polyhart.Machine(kernel=program.elf, harts=program.harts, deterministic=True, quantum=1000)
        reason = machine.run()
        assert reason.exit_code == program.exit_status
        assert machine.read_console() == program.expected
        runs.append((machine.instructions, [machine.read_xs(hart) for hart in range(program.harts)]))
    assert runs[0] == runs[1]
