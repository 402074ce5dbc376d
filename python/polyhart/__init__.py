"""polyhart: an embeddable, multi-threaded RISC-V system emulator.

Build a ``virt`` machine (QEMU's ``-M virt`` memory map), run a guest and
look at it::

    import polyhart

    machine = polyhart.Machine(kernel="tests/guest/hello.elf")
    reason = machine.run()
    assert reason.exit_code == 0
    print(machine.read_console())      # b"hello\\n"

Boot once, then start many machines from a snapshot::

    booted = polyhart.Machine(kernel="tests/guest/atomics.elf", harts=4)
    booted.run(max_insns=1_000_000)
    snapshot = booted.snapshot()          # or booted.save_snapshot(path)
    clone = polyhart.Machine(kernel="tests/guest/atomics.elf", harts=4)
    clone.restore(snapshot)               # RAM shared copy-on-write

Runs release the GIL. Guest exits, deadlocks and budgets are values
(:class:`StopReason`); host failures are exceptions under
:class:`PolyhartError`.
"""

from ._polyhart import (
    Block,
    BuildError,
    BusError,
    GuestMemoryError,
    InvalidArgumentError,
    Machine,
    MachineBusyError,
    MachinePanicError,
    PolyhartError,
    Region,
    Rng,
    Snapshot,
    SnapshotError,
    StopKind,
    StopReason,
    Transaction,
    __version__,
)

__all__ = [
    "Block",
    "BuildError",
    "BusError",
    "GuestMemoryError",
    "InvalidArgumentError",
    "Machine",
    "MachineBusyError",
    "MachinePanicError",
    "PolyhartError",
    "Region",
    "Rng",
    "Snapshot",
    "SnapshotError",
    "StopKind",
    "StopReason",
    "Transaction",
    "__version__",
]
