"""The Machine API: building, running, registers, CSRs, memory, console,
errors. Expected values come from the RISC-V specs, QEMU's virt boot
protocol (tests/guest/README.md) and the guest programs' sources."""

from __future__ import annotations

import io
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

import polyhart
from conftest import GUEST_DIR

HELLO = GUEST_DIR / "hello.elf"
RAM_BASE = 0x8000_0000
RESET_ROM = 0x1000


def words(*instructions: int) -> bytes:
    return b"".join(struct.pack("<I", word) for word in instructions)


# li a0, 42; slli a0, a0, 16; lui t0, 0x3; addi t0, t0, 0x333; or a0, a0, t0;
# lui t0, 0x100; sw a0, 0(t0); j .  -- the SiFive test finisher fails with 42.
EXIT_42 = words(0x02A00513, 0x01051513, 0x000032B7, 0x33328293, 0x00556533, 0x001002B7, 0x00A2A023, 0x0000006F)


def elf_entry(path) -> int:
    """e_entry of a 64-bit ELF, read from its header."""
    header = path.read_bytes()[:32]
    assert header[:4] == b"\x7fELF" and header[4] == 2
    return struct.unpack_from("<Q", header, 24)[0]


def test_the_readme_example() -> None:
    machine = polyhart.Machine(kernel=str(HELLO), harts=1, engine="jit")
    reason = machine.run()
    assert reason.exit_code == 0 and reason.exited
    assert machine.read_console() == b"hello\n"


def test_kernel_as_bytes_or_path_object_and_raw_binary() -> None:
    assert polyhart.Machine(kernel=HELLO.read_bytes()).run().exit_code == 0
    assert polyhart.Machine(kernel=HELLO).run().exit_code == 0
    # A raw binary is loaded at the start of RAM.
    assert polyhart.Machine(kernel=bytearray(EXIT_42)).run().exit_code == 42


def test_harts_start_in_the_reset_rom_and_jump_to_the_kernel_with_qemus_boot_registers() -> None:
    machine = polyhart.Machine(kernel=HELLO, harts=2, deterministic=True)
    assert machine.read_pc() == RESET_ROM
    assert machine.read_pc(hart=1) == RESET_ROM
    # The reset ROM is six instructions: a0 = mhartid, a1 = device tree, then
    # a jump; at one instruction per cycle, each hart is through at cycle 6.
    reason = machine.run_until(6)
    assert reason.kind == polyhart.StopKind.HORIZON and reason.resumable
    assert machine.instructions == 12
    for hart in range(2):
        assert machine.read_pc(hart) == elf_entry(HELLO)
        assert machine.read_x("a0", hart) == hart
        assert machine.read_csr("mhartid", hart) == hart
        device_tree = machine.read_memory(machine.read_x(11, hart), 4)
        assert device_tree == bytes.fromhex("d00dfeed")  # the FDT magic, big-endian
    assert machine.device_tree()[:4] == bytes.fromhex("d00dfeed")
    assert machine.run().exit_code == 0


def test_registers_read_and_write() -> None:
    machine = polyhart.Machine(kernel=HELLO)
    machine.write_x("t0", 0x1234)
    assert machine.read_x(5) == 0x1234 and machine.read_x("x5") == 0x1234
    machine.write_x(0, 99)
    assert machine.read_x("zero") == 0, "x0 stays zero"
    machine.write_x("fp", 7)
    assert machine.read_x("s0") == 7
    xs = machine.read_xs()
    assert len(xs) == 32 and xs[5] == 0x1234
    machine.write_f("fa0", 0x4000_0000_0000_0000)  # 2.0 as a double
    assert machine.read_f(10) == 0x4000_0000_0000_0000
    machine.write_pc(RAM_BASE)
    assert machine.read_pc() == RAM_BASE


def test_csrs_follow_the_privileged_spec() -> None:
    machine = polyhart.Machine(kernel=HELLO)
    misa = machine.read_csr("misa")
    assert misa >> 62 == 2, "MXL = 64 bits"
    for letter in "IMAFDCSU":
        assert misa >> (ord(letter) - ord("A")) & 1, letter
    machine.write_csr("mscratch", 0xDEAD_BEEF)
    assert machine.read_csr(0x340) == 0xDEAD_BEEF
    # mtvec modes 2 and 3 are reserved: such a write leaves it as it was.
    machine.write_csr("mtvec", RAM_BASE | 1)
    machine.write_csr("mtvec", RAM_BASE | 2)
    assert machine.read_csr("mtvec") == RAM_BASE | 1
    machine.write_csr("fcsr", 0b010_00001)  # frm = RDN, fflags = NX
    assert (machine.read_csr("frm"), machine.read_csr("fflags")) == (0b010, 0b00001)
    with pytest.raises(polyhart.InvalidArgumentError, match="no CSR named 'mfoo'"):
        machine.read_csr("mfoo")
    with pytest.raises(polyhart.InvalidArgumentError, match="minstret cannot be written"):
        machine.write_csr("minstret", 0)


def test_memory_reads_and_writes_ram_only() -> None:
    machine = polyhart.Machine(kernel=HELLO, ram_size=16 << 20)
    machine.write_memory(RAM_BASE + 0x10_0000, b"polyhart")
    assert machine.read_memory(RAM_BASE + 0x10_0000, 8) == b"polyhart"
    with pytest.raises(polyhart.GuestMemoryError):
        machine.read_memory(RAM_BASE + (16 << 20) - 4, 8)
    with pytest.raises(polyhart.GuestMemoryError):
        machine.write_memory(0x1000_0000, b"x")


def test_a_program_written_into_memory_runs() -> None:
    machine = polyhart.Machine(kernel=HELLO)
    machine.run(max_insns=6)  # through the reset ROM
    machine.write_memory(RAM_BASE + 0x4000, EXIT_42)
    machine.write_pc(RAM_BASE + 0x4000)
    assert machine.run().exit_code == 42


def test_console_goes_to_a_stream_or_a_callback() -> None:
    stream = io.BytesIO()
    assert polyhart.Machine(kernel=HELLO, console=stream).run().exit_code == 0
    assert stream.getvalue() == b"hello\n"
    chunks: list[bytes] = []
    machine = polyhart.Machine(kernel=GUEST_DIR / "exit_code.elf", console=chunks.append)
    assert machine.run().exit_code == 42
    assert b"".join(chunks) == b"exit_code: exiting with status 42\n"
    assert machine.read_console() == b"", "delivered to the callback, not kept"


def test_an_exception_in_the_console_callback_is_raised_from_run() -> None:
    def broken(_: bytes) -> None:
        raise RuntimeError("console is broken")

    machine = polyhart.Machine(kernel=HELLO, console=broken)
    with pytest.raises(RuntimeError, match="console is broken"):
        machine.run()


def test_console_input_wakes_the_guest_and_is_its_exit_status() -> None:
    machine = polyhart.Machine(kernel=GUEST_DIR / "console_input.elf")
    machine.send_console(b"A")
    assert machine.run().exit_code == ord("A")
    assert machine.read_console() == b"console_input: waiting for a byte\n"


def test_waiting_for_input_that_never_comes_is_a_deadlock() -> None:
    machine = polyhart.Machine(kernel=GUEST_DIR / "console_input.elf")
    assert machine.console_input_open is False
    assert machine.run().kind == polyhart.StopKind.DEADLOCK


def test_runs_release_the_gil_and_stop_from_another_thread() -> None:
    machine = polyhart.Machine(kernel=GUEST_DIR / "console_input.elf")
    machine.console_input_open = True  # now it waits for input for ever
    seen: dict[str, object] = {}

    def meanwhile() -> None:
        time.sleep(0.2)
        try:
            machine.read_pc()
        except polyhart.MachineBusyError as error:
            seen["busy"] = error
        seen["ram"] = machine.read_memory(RAM_BASE, 4)
        machine.stop()

    thread = threading.Thread(target=meanwhile)
    thread.start()
    reason = machine.run()
    thread.join()
    assert reason.kind == polyhart.StopKind.STOPPED
    assert isinstance(seen["busy"], polyhart.MachineBusyError)
    assert len(seen["ram"]) == 4, "memory is reachable while it runs"
    # Input that comes later wakes it.
    machine.reboot()
    machine.send_console(b"B")
    assert machine.run().exit_code == ord("B")


def test_ctrl_c_stops_the_run_with_keyboard_interrupt() -> None:
    import _thread
    import signal

    machine = polyhart.Machine(kernel=GUEST_DIR / "console_input.elf")
    machine.console_input_open = True
    # A process started in the background of a non-interactive shell ignores
    # SIGINT, and interrupt_main then does nothing: Python's own handler,
    # for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            machine.run()
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    # The run paused: it goes on where it was, and input wakes the guest.
    machine.send_console(b"C")
    assert machine.run().exit_code == ord("C")
    assert machine.read_console() == b"console_input: waiting for a byte\n", "printed once"


def test_a_trap_loop_is_reported_with_where_and_why() -> None:
    machine = polyhart.Machine(kernel=GUEST_DIR / "jump_unmapped.elf")
    reason = machine.run()
    assert reason.kind == polyhart.StopKind.TRAP_LOOP
    # The fetch at 0x200 faults, and so does the handler at mtvec = 0.
    assert (reason.hart, reason.pc, reason.cause, reason.mcause) == (0, 0, "InstructionAccessFault", 1)
    assert machine.read_console() == b"jump_unmapped: jumping to 0x200 with mtvec = 0\n"


def test_run_until_and_advance_stop_at_a_cycle_horizon() -> None:
    # One instruction per cycle: three cycles retire three instructions.
    machine = polyhart.Machine(kernel=HELLO, deterministic=True)
    reason = machine.run_until(3)
    assert reason.kind == polyhart.StopKind.HORIZON
    assert (machine.instructions, machine.time, machine.read_pc()) == (3, 3, RESET_ROM + 12)
    # 1 GHz: 20 cycles are 20 ns of simulated time.
    machine = polyhart.Machine(kernel=HELLO, deterministic=True)
    assert machine.advance(20).kind == polyhart.StopKind.HORIZON
    assert (machine.now_ps, machine.instructions) == (20_000, 20)
    reason = machine.advance(10**9)
    assert reason.exit_code == 0


def test_bad_configurations_raise_clear_errors(tmp_path) -> None:
    missing = tmp_path / "missing.elf"
    with pytest.raises(polyhart.BuildError, match="cannot read the kernel .*missing.elf"):
        polyhart.Machine(kernel=str(missing))
    with pytest.raises(polyhart.BuildError, match="0 harts requested"):
        polyhart.Machine(kernel=HELLO, harts=0)
    with pytest.raises(polyhart.BuildError, match="nothing to run"):
        polyhart.Machine()
    with pytest.raises(polyhart.InvalidArgumentError, match="engine 'qemu' does not exist"):
        polyhart.Machine(kernel=HELLO, engine="qemu")
    with pytest.raises(polyhart.InvalidArgumentError, match="jit_threshold needs engine='jit'"):
        polyhart.Machine(kernel=HELLO, engine="interp", jit_threshold=3)
    with pytest.raises(polyhart.BuildError, match="unbounded quantum"):
        polyhart.Machine(kernel=HELLO, deterministic=True, quantum=None)
    with pytest.raises(polyhart.InvalidArgumentError, match="console"):
        polyhart.Machine(kernel=HELLO, console=42)
    with pytest.raises(polyhart.InvalidArgumentError, match="virtio devices"):
        polyhart.Machine(kernel=HELLO, virtio=["disk.img"])
    machine = polyhart.Machine(kernel=HELLO)
    with pytest.raises(polyhart.InvalidArgumentError, match="there is no hart 1"):
        machine.read_pc(hart=1)
    with pytest.raises(polyhart.InvalidArgumentError, match="no integer register 32"):
        machine.read_x(32)
    with pytest.raises(polyhart.InvalidArgumentError, match="no floating-point register named 'a0'"):
        machine.read_f("a0")
    with pytest.raises(polyhart.InvalidArgumentError, match="PLIC source 10 is driven by a device"):
        machine.set_irq(10, True)
    assert issubclass(polyhart.BuildError, polyhart.PolyhartError)


def test_virtio_devices(tmp_path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(bytes(4096))
    machine = polyhart.Machine(kernel=HELLO, virtio=[polyhart.Block(image), polyhart.Rng(seed=1)])
    assert machine.run().exit_code == 0
    with pytest.raises(polyhart.BuildError, match="in use"):
        polyhart.Machine(kernel=HELLO, virtio=[polyhart.Block(image)])
    del machine
    with pytest.raises(polyhart.BuildError, match="cannot open the disk image"):
        polyhart.Machine(kernel=HELLO, virtio=[polyhart.Block(tmp_path / "none.img")])
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    with pytest.raises(polyhart.BuildError, match="at least one 512-byte sector"):
        polyhart.Machine(kernel=HELLO, virtio=[polyhart.Block(empty, read_only=True)])


def test_breakpoints_stop_a_hart_before_the_instruction_and_a_step_moves_past() -> None:
    entry = elf_entry(HELLO)
    machine = polyhart.Machine(kernel=HELLO, harts=2)
    machine.set_breakpoints([entry])
    assert machine.breakpoints == [entry]
    reason = machine.run()
    assert reason.kind == polyhart.StopKind.BREAKPOINT and reason.resumable
    assert reason.pc == entry and machine.read_pc(reason.hart) == entry
    # crt0's first instruction is 4 bytes (csrr s0, mhartid): one step.
    assert machine.step(reason.hart) is None
    assert machine.read_pc(reason.hart) == entry + 4
    machine.set_breakpoints([])
    # The other hart may still sit on the entry; it goes on with the rest.
    assert machine.run().exit_code == 0
    assert machine.read_console() == b"hello\n"


def test_a_watchpoint_stops_a_hart_before_the_access() -> None:
    machine = polyhart.Machine(kernel=HELLO)
    uart = 0x1000_0000
    machine.set_watchpoints([(uart, 1, "write")])
    reason = machine.run()
    # hello's first output byte: the store to the UART has not happened.
    assert reason.kind == polyhart.StopKind.WATCHPOINT and reason.address == uart
    assert machine.read_console() == b""
    with pytest.raises(polyhart.InvalidArgumentError):
        machine.set_watchpoints([(uart, 1, "sideways")])
    machine.set_watchpoints([])
    assert machine.run().exit_code == 0 and machine.read_console() == b"hello\n"


def test_gdb_debugs_a_machine_that_python_runs() -> None:
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        # CI installs it: a missing debugger there is a failure.
        if os.environ.get("CI"):
            pytest.fail("gdb-multiarch is not installed (Debian package gdb-multiarch)")
        pytest.skip("gdb-multiarch is not installed (Debian package gdb-multiarch)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    guest = GUEST_DIR / "debug.elf"
    commands = ["break *mix", "continue", "print/x $pc", "info threads", "delete", "continue"]
    args = [gdb, "-batch", "-nx", "-ex", f"file {guest}", "-ex", f"target remote 127.0.0.1:{port}"]
    for command in commands:
        args += ["-ex", command]
    # GDB retries a refused connection for a while (its tcp auto-retry).
    session = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    machine = polyhart.Machine(kernel=guest, harts=2)
    machine.debug(f"127.0.0.1:{port}")
    assert machine.instructions == 0, "held until GDB continues"
    reason = machine.run()
    output = session.communicate(timeout=60)[0]
    assert reason.exited and reason.exit_code == 0, output
    assert output.count("Breakpoint 1, ") == 1 and "in mix ()" in output, output
    assert "Thread 1.2" in output, output
    assert "exited normally" in output, output


def test_plugins_count_and_report(tmp_path):
    """The bundled insn plugin through Python: its total is the hart's own
    instruction count (hello raises no exception), in both engines."""
    for engine in ("jit", "interp"):
        machine = polyhart.Machine(kernel=HELLO.read_bytes(), engine=engine, deterministic=True)
        out = tmp_path / f"insn-{engine}.txt"
        machine.set_plugins([f"insn,out={out}", "hotblocks,limit=3,out=" + str(tmp_path / "hot.txt")])
        stop = machine.run(max_insns=10_000_000)
        assert stop.kind == polyhart.StopKind.EXIT
        machine.finish_plugins()
        report = out.read_text()
        assert report.startswith(f"insn: {machine.instructions} instructions\n"), report
        assert (tmp_path / "hot.txt").read_text().startswith("hotblocks: ")
    machine = polyhart.Machine(kernel=HELLO.read_bytes())
    with pytest.raises(ValueError, match="no bundled plugin is named `nope`"):
        machine.set_plugins(["nope"])
    with pytest.raises(ValueError, match="unknown argument"):
        machine.set_plugins(["insn,colour=red"])


def test_a_timing_model_drives_mcycle(tmp_path):
    # CoreMark reads mcycle: under the U54 model it takes more cycles than
    # instructions, and the model reports them.
    kernel = (GUEST_DIR / "coremark.elf").read_bytes()
    plain = polyhart.Machine(kernel=kernel, deterministic=True)
    assert plain.run(max_insns=100_000_000).kind == polyhart.StopKind.EXIT
    timed = polyhart.Machine(kernel=kernel, deterministic=True)
    out = tmp_path / "timing.txt"
    timed.set_plugins([], timing=f"u54,out={out}")
    assert timed.run(max_insns=100_000_000).kind == polyhart.StopKind.EXIT
    timed.finish_plugins()

    def ticks(machine):
        text = machine.read_console().decode()
        return int(next(line for line in text.splitlines() if line.startswith("Total ticks")).split(":")[1])

    assert ticks(timed) > 1.1 * ticks(plain)
    assert out.read_text().startswith("timing: model u54")
    with pytest.raises(ValueError, match="no timing model is named"):
        timed.set_plugins([], timing="pentium")
