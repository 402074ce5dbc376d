"""External regions served by Python callbacks: tests/guest/cosim.c against
a model of its devices written in Python, as cosim/tests/cosim.rs models
them in Rust. The expected output follows from cosim.c's own checks (it
prints "cosim: done" only when every one passes)."""

from __future__ import annotations

import struct

import pytest

import polyhart
from conftest import GUEST_DIR

EXT_BASE = 0x2000_0000
ALARM_IRQ = 32
EXPECTED = (
    b"cosim: hello from the guest\n"
    b"scratch sum 6112\n"
    b"amo old 40 then 42, now 7\n"
    b"time advances: yes\n"
    b"load fault: cause 5 tval 0x20003000\n"
    b"store fault: cause 7 tval 0x20003004\n"
    b"alarm: source 32, not early: yes\n"
    b"cosim: done\n"
)


class Devices:
    """cosim.c's console, timer, scratch memory and hole."""

    def __init__(self, latency_ps: int) -> None:
        self.latency_ps = latency_ps
        self.console = bytearray()
        self.scratch = bytearray(4096)
        self.machine: polyhart.Machine | None = None
        self.transactions = 0

    def serve(self, tx: polyhart.Transaction) -> int | None:
        assert self.machine is not None
        self.transactions += 1
        at = tx.time_ps
        tx.delay_ps += self.latency_ps
        if tx.offset == 0x0000 and tx.is_write:
            self.console.append(tx.value & 0xFF)
        elif tx.offset == 0x1000 and not tx.is_write:
            return at // 1000  # NOW, in ns
        elif tx.offset == 0x1008 and tx.is_write:
            self.machine.set_irq(ALARM_IRQ, True, at_ps=at + tx.value * 1000)
        elif tx.offset == 0x1010 and tx.is_write:
            self.machine.set_irq(ALARM_IRQ, False)
        elif 0x2000 <= tx.offset < 0x3000:
            start = tx.offset - 0x2000
            if tx.is_write:
                self.scratch[start : start + tx.size] = tx.data
            else:
                return int.from_bytes(self.scratch[start : start + tx.size], "little")
        else:
            raise polyhart.BusError()
        return None


@pytest.mark.parametrize("deterministic", [True, False])
def test_the_cosim_guest_runs_against_devices_modelled_in_python(deterministic: bool) -> None:
    devices = Devices(latency_ps=10_000)
    region = polyhart.Region("ext", EXT_BASE, 0x4000, devices.serve)
    machine = polyhart.Machine(
        kernel=GUEST_DIR / "cosim.elf", regions=[region], deterministic=deterministic, console=lambda _: None
    )
    devices.machine = machine
    for _ in range(100_000):
        before = machine.now_ps
        reason = machine.advance(10_000)  # 10 us
        assert machine.now_ps >= before, "time never runs backwards"
        if not reason.resumable:
            break
    assert reason.exit_code == 0, devices.console.decode()
    assert bytes(devices.console) == EXPECTED
    assert devices.transactions > 64


def test_a_read_gets_what_the_callback_returns() -> None:
    # lui t0, 0x20000; lw a0, 0(t0); slli a0, a0, 16; lui t0, 0x3; addi t0, t0, 0x333;
    # or a0, a0, t0; lui t0, 0x100; sw a0, 0(t0); j .   -- exits with the word read.
    program = [0x200002B7, 0x0002A503, 0x01051513, 0x000032B7, 0x33328293, 0x00556533, 0x001002B7, 0x00A2A023, 0x6F]
    seen: list[polyhart.Transaction] = []

    def serve(tx: polyhart.Transaction) -> int:
        seen.append(tx)
        return 42

    machine = polyhart.Machine(
        kernel=struct.pack("<9I", *program), regions=[polyhart.Region("ext", EXT_BASE, 0x1000, serve)]
    )
    assert machine.run().exit_code == 42
    [tx] = seen
    assert (tx.is_write, tx.address, tx.offset, tx.size, tx.hart) == (False, EXT_BASE, 0, 4, 0)


def test_an_exception_in_a_region_callback_is_raised_from_run() -> None:
    program = [0x200002B7, 0x0002A503, 0x6F]  # lui t0, 0x20000; lw a0, 0(t0); j .

    def serve(tx: polyhart.Transaction) -> None:
        raise ValueError("the model failed")

    machine = polyhart.Machine(
        kernel=struct.pack("<3I", *program), regions=[polyhart.Region("ext", EXT_BASE, 0x1000, serve)]
    )
    with pytest.raises(ValueError, match="the model failed"):
        machine.run()


def test_bad_regions_are_refused() -> None:
    with pytest.raises(polyhart.InvalidArgumentError, match="callable"):
        polyhart.Region("ext", EXT_BASE, 0x1000, 42)
    with pytest.raises(polyhart.InvalidArgumentError, match="empty"):
        polyhart.Region("ext", EXT_BASE, 0, lambda tx: None)
    overlapping = polyhart.Region("ram", 0x8000_0000, 0x1000, lambda tx: None)
    with pytest.raises(polyhart.BuildError, match="overlap"):
        polyhart.Machine(kernel=GUEST_DIR / "hello.elf", regions=[overlapping])
