"""Shared fixtures: where the guest programs are, and their manifest."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import pytest

GUEST_DIR = pathlib.Path(__file__).resolve().parents[2] / "tests" / "guest"


@dataclass(frozen=True)
class Program:
    """One line of tests/guest/manifest.txt."""

    name: str
    exit_status: int
    harts: int

    @property
    def elf(self) -> pathlib.Path:
        return GUEST_DIR / f"{self.name}.elf"

    @property
    def expected(self) -> bytes:
        """The guest's console output, as QEMU printed it (tests/guest/README.md)."""
        return (GUEST_DIR / f"{self.name}.expected").read_bytes()


def manifest() -> dict[str, Program]:
    programs = {}
    for line in (GUEST_DIR / "manifest.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, status, harts, _qemu = line.split()
        programs[name] = Program(name, int(status), int(harts))
    return programs


@pytest.fixture
def guest() -> pathlib.Path:
    return GUEST_DIR
