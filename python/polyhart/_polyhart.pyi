"""Type stubs of the native module ``polyhart._polyhart`` (python/src/)."""

import os
from typing import Any, BinaryIO, Callable, ClassVar, Final, Optional, Protocol, Sequence, Union

from typing_extensions import Self, final

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
__version__: Final[str]

_Image = Union[str, "os.PathLike[str]", bytes, bytearray]
"""A boot image: the path of a file, or its contents."""

class _Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...

_Console = Union[Callable[[bytes], object], _Writable, BinaryIO]
"""Where console output goes: a callable given each chunk, or a binary stream."""

class PolyhartError(Exception):
    """The base class of every error polyhart raises."""

class BuildError(PolyhartError):
    """The machine could not be built (configuration, images, disk images)."""

class GuestMemoryError(PolyhartError):
    """A host access to guest physical memory falls outside RAM."""

class InvalidArgumentError(PolyhartError):
    """No such hart, register, CSR or interrupt line, or a bad option."""

class MachineBusyError(PolyhartError):
    """The machine is running; the call needs it stopped."""

class BusError(PolyhartError):
    """Raised by a region callback: the hart takes an access fault."""

class MachinePanicError(PolyhartError):
    """polyhart failed inside (a bug); the machine is unusable."""

class SnapshotError(PolyhartError):
    """A snapshot cannot be saved, read or restored (the machine is left as it was)."""

@final
class Snapshot:
    """A whole machine saved by Machine.snapshot() or Machine.save_snapshot()."""

    @staticmethod
    def open(path: Union[str, "os.PathLike[str]"]) -> Snapshot:
        """Opens a snapshot file, checking its header and state."""
    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the snapshot to a file (pages of zeros as holes)."""
    @property
    def ram_size(self) -> int: ...
    @property
    def state_size(self) -> int: ...

@final
class StopKind:
    """What kind of stop a StopReason is."""

    EXIT: ClassVar[StopKind]
    RESET: ClassVar[StopKind]
    INSTRUCTION_LIMIT: ClassVar[StopKind]
    TRAP_LOOP: ClassVar[StopKind]
    JIT_DIVERGENCE: ClassVar[StopKind]
    DEADLOCK: ClassVar[StopKind]
    STOPPED: ClassVar[StopKind]
    HORIZON: ClassVar[StopKind]
    SYNC: ClassVar[StopKind]
    PAUSED: ClassVar[StopKind]
    SCHEDULED: ClassVar[StopKind]
    BREAKPOINT: ClassVar[StopKind]
    WATCHPOINT: ClassVar[StopKind]
    def __int__(self) -> int: ...

@final
class StopReason:
    """Why a run stopped."""

    @property
    def kind(self) -> StopKind: ...
    @property
    def exit_code(self) -> Optional[int]:
        """With EXIT: the guest's exit status."""
    @property
    def hart(self) -> Optional[int]:
        """With TRAP_LOOP, JIT_DIVERGENCE and SYNC: the hart."""
    @property
    def pc(self) -> Optional[int]:
        """With TRAP_LOOP and JIT_DIVERGENCE: where."""
    @property
    def cause(self) -> Optional[str]:
        """With TRAP_LOOP: the repeating exception ("InstructionAccessFault")."""
    @property
    def mcause(self) -> Optional[int]:
        """With TRAP_LOOP: the repeating exception's mcause value."""
    @property
    def address(self) -> Optional[int]:
        """With WATCHPOINT: the address of the access that reached it."""
    @property
    def exited(self) -> bool:
        """The guest exited (with any status)."""
    @property
    def resumable(self) -> bool:
        """A budget, horizon, sync or pause cut the run: it can go on."""

@final
class Transaction:
    """One access to an external region, handed to its callback."""

    @property
    def is_write(self) -> bool: ...
    @property
    def address(self) -> int:
        """The guest physical address."""
    @property
    def offset(self) -> int:
        """The address less the region's base."""
    @property
    def size(self) -> int:
        """1, 2, 4 or 8 bytes."""
    @property
    def hart(self) -> int:
        """The mhartid of the hart making the access."""
    value: int
    """What a write stores; what a read returns (or return it)."""
    delay_ps: int
    """The hart's local time ahead of the outside's, in ps; add latency to it."""
    sync: bool
    """Set to end the run or advance in progress at the hart's local time."""
    @property
    def time_ps(self) -> int:
        """The simulated time of the access, in ps."""
    @property
    def data(self) -> bytes:
        """The value as `size` little-endian bytes."""

@final
class Region:
    """An address range served by `callback(tx) -> int | None`."""

    def __new__(
        cls, name: str, base: int, size: int, callback: Callable[[Transaction], Optional[int]]
    ) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def base(self) -> int: ...
    @property
    def size(self) -> int: ...

@final
class Block:
    """A virtio-blk disk on a raw image file."""

    def __new__(cls, path: Union[str, "os.PathLike[str]"], read_only: bool = False) -> Self: ...
    @property
    def path(self) -> "os.PathLike[str]": ...
    @property
    def read_only(self) -> bool: ...

@final
class Rng:
    """A virtio-rng device: host entropy, or a fixed sequence from `seed`."""

    def __new__(cls, seed: Optional[int] = None) -> Self: ...
    @property
    def seed(self) -> Optional[int]: ...

_Register = Union[int, str]
"""A register by number (0-31) or name ("x10", "a0", "f10", "fa0")."""

_Csr = Union[int, str]
"""A CSR by number (0x300) or name ("mstatus")."""

@final
class Machine:
    """A RISC-V virt machine."""

    def __new__(
        cls,
        *,
        kernel: Optional[_Image] = None,
        firmware: Optional[_Image] = None,
        initrd: Optional[_Image] = None,
        device_tree: Optional[_Image] = None,
        bootargs: Optional[str] = None,
        harts: int = 1,
        ram_size: int = 128 << 20,
        engine: str = "jit",
        jit_threshold: Optional[int] = None,
        deterministic: bool = False,
        quantum: Optional[int] = 10000,
        cpu_frequency: int = 1_000_000_000,
        idle: str = "skip",
        virtio: Sequence[Union[Block, Rng]] = (),
        regions: Sequence[Region] = (),
        console: Optional[_Console] = None,
        snapshot: Union[Snapshot, str, "os.PathLike[str]", None] = None,
    ) -> Self: ...
    def run(self, max_insns: Optional[int] = None) -> StopReason:
        """Runs until the guest stops the machine or `max_insns` retire."""
    def run_until(self, horizon: int, max_insns: Optional[int] = None) -> StopReason:
        """Runs until every hart's local time reaches `horizon` cycles."""
    def advance(self, cycles: int) -> StopReason:
        """Advances simulated time by `cycles`, as an outside simulator does."""
    def stop(self) -> None:
        """Stops the run in progress, from any thread or callback."""
    def reboot(self) -> None: ...
    def snapshot(self) -> Snapshot:
        """Saves the whole machine to a snapshot in memory, between runs."""
    def save_snapshot(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Saves the whole machine to a snapshot file, between runs."""
    def set_plugins(self, specs: Sequence[str], timing: Optional[str] = None) -> None:
        """Installs instrumentation plugins, named as `--plugin` names them ("insn", "cache,out=c.txt", "./lib.so,k=v"), and a timing model as `--timing` names it ("u54")."""
    def finish_plugins(self) -> None:
        """Removes the installed plugins, which report now."""
    def restore(self, snapshot: Union[Snapshot, str, "os.PathLike[str]"]) -> None:
        """Makes this machine, built as the saved one was, the saved one."""
    def clone(self, **overrides: Any) -> Machine:
        """A new machine built with this one's arguments (or `overrides`), restored to this one's state."""
    def debug(self, address: str = "127.0.0.1:1234") -> None:
        """Waits for GDB on `address` and holds the machine until GDB continues it."""
    def set_breakpoints(self, addresses: list[int]) -> None:
        """Sets where every hart stops before running an instruction (StopKind.BREAKPOINT)."""
    @property
    def breakpoints(self) -> list[int]: ...
    def set_watchpoints(self, watchpoints: list[tuple[int, int, str]]) -> None:
        """Sets where every hart stops before an access: (address, length, "read"|"write"|"access")."""
    def step(self, hart: int = 0) -> Optional[StopReason]:
        """Runs one instruction of `hart` while the others hold."""
    def reset_hart(self, hart: int) -> None: ...
    @property
    def harts(self) -> int: ...
    @property
    def ram_size(self) -> int: ...
    @property
    def cpu_frequency(self) -> int: ...
    @property
    def instructions(self) -> int: ...
    @property
    def time(self) -> int:
        """The earliest local time of the harts, in cycles."""
    @property
    def now_ps(self) -> int:
        """The outside's time in ps: where the last advance ended."""
    def device_tree(self) -> bytes: ...
    def read_x(self, register: _Register, hart: int = 0) -> int: ...
    def write_x(self, register: _Register, value: int, hart: int = 0) -> None: ...
    def read_xs(self, hart: int = 0) -> list[int]: ...
    def read_f(self, register: _Register, hart: int = 0) -> int: ...
    def write_f(self, register: _Register, value: int, hart: int = 0) -> None: ...
    def read_pc(self, hart: int = 0) -> int: ...
    def write_pc(self, value: int, hart: int = 0) -> None: ...
    def read_csr(self, csr: _Csr, hart: int = 0) -> int: ...
    def write_csr(self, csr: _Csr, value: int, hart: int = 0) -> None: ...
    def read_memory(self, address: int, size: int) -> bytes: ...
    def write_memory(self, address: int, data: bytes) -> None: ...
    def read_console(self) -> bytes:
        """Console output not yet read (without a `console` callback)."""
    def send_console(self, data: bytes) -> None: ...
    console_input_open: bool
    def set_irq(self, source: int, level: bool, at_ps: Optional[int] = None) -> None: ...
    def stop_at(self, at_ps: int) -> None: ...
