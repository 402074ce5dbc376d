//! HTIF, the host-target interface of riscv-tests and Spike: the guest writes
//! commands to its `tohost` word and the host answers in `fromhost`.
//!
//! Supported: exit (device 0, command 0, bit 0 set: code in bits 63:1), the
//! proxied `write` system call that riscv-tests' `printf` uses (device 0,
//! command 0, bit 0 clear: the payload points to `magic_mem`), and console
//! output (device 1, command 1).

use std::sync::Arc;

use polyhart_iss::Ram;
use polyhart_iss::memory::AccessContext;

use crate::bus::StoreWatcher;
use crate::console::Console;
use crate::runner::{StopReason, StopSignal};

const SYS_WRITE: u64 = 64;

/// The HTIF host side for one machine.
#[derive(Debug)]
pub struct Htif {
    tohost: u64,
    fromhost: Option<u64>,
    ram: Arc<Ram>,
    console: Arc<Console>,
    stop: Arc<StopSignal>,
}

impl Htif {
    /// HTIF with the guest's `tohost` (and, if it has one, `fromhost`) at
    /// these RAM addresses.
    pub fn new(
        tohost: u64,
        fromhost: Option<u64>,
        ram: Arc<Ram>,
        console: Arc<Console>,
        stop: Arc<StopSignal>,
    ) -> Htif {
        Htif { tohost, fromhost, ram, console, stop }
    }

    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.ram.offset(addr, 8).map(|offset| self.ram.read(offset, 8))
    }

    fn write_u64(&self, addr: u64, value: u64) {
        if let Some(offset) = self.ram.offset(addr, 8) {
            self.ram.write(offset, 8, value);
        }
    }

    fn acknowledge(&self, reply: u64) {
        self.write_u64(self.tohost, 0);
        if let Some(fromhost) = self.fromhost {
            self.write_u64(fromhost, reply);
        }
    }

    fn syscall(&self, magic: u64) -> Option<u64> {
        let number = self.read_u64(magic)?;
        let args: Vec<u64> = (1..4).map(|i| self.read_u64(magic + 8 * i)).collect::<Option<_>>()?;
        if number != SYS_WRITE || !(args[0] == 1 || args[0] == 2) {
            return None;
        }
        let len = usize::try_from(args[2]).ok()?;
        let offset = self.ram.offset(args[1], args[2])?;
        let mut bytes = vec![0; len];
        self.ram.read_bytes(offset, &mut bytes);
        self.console.write(&bytes);
        Some(args[2])
    }
}

impl StoreWatcher for Htif {
    fn stored(&self, _ctx: &AccessContext, _addr: u64, _size: u8, _value: u64) {
        let Some(command) = self.read_u64(self.tohost) else { return };
        if command == 0 {
            return;
        }
        let device = command >> 56;
        let code = command >> 48 & 0xff;
        let payload = command & 0xffff_ffff_ffff;
        match (device, code) {
            (0, 0) if payload & 1 == 1 => {
                self.stop.request(StopReason::Exit((payload >> 1) as i32));
            }
            (0, 0) => {
                let result = self.syscall(payload).unwrap_or(u64::MAX);
                self.write_u64(payload, result);
                self.acknowledge(1);
            }
            (1, 1) => {
                self.console.write(&[payload as u8]);
                self.acknowledge(1 << 56 | 1 << 48);
            }
            _ => self.acknowledge(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::CapturedOutput;
    use crate::memory::allocate_ram;

    const RAM_BASE: u64 = 0x8000_0000;
    const TOHOST: u64 = RAM_BASE + 0x1000;
    const FROMHOST: u64 = TOHOST + 0x40;
    const MAGIC: u64 = RAM_BASE + 0x2000;
    const CTX: AccessContext = AccessContext { hart_id: 0, cycle: 0 };

    struct Setup {
        htif: Htif,
        ram: Arc<Ram>,
        captured: CapturedOutput,
        stop: Arc<StopSignal>,
    }

    fn setup(fromhost: Option<u64>) -> Setup {
        let ram = allocate_ram(RAM_BASE, 0x4000).unwrap().ram;
        let (console, captured) = CapturedOutput::console();
        let stop = Arc::new(StopSignal::new(Vec::new()));
        let htif = Htif::new(TOHOST, fromhost, ram.clone(), console, stop.clone());
        Setup { htif, ram, captured, stop }
    }

    impl Setup {
        fn peek(&self, addr: u64) -> u64 {
            self.ram.read(addr - RAM_BASE, 8)
        }

        fn poke(&self, addr: u64, value: u64) {
            self.ram.write(addr - RAM_BASE, 8, value);
        }

        /// What the bus does for a guest store to `tohost`.
        fn send(&self, command: u64) {
            self.poke(TOHOST, command);
            self.htif.stored(&CTX, TOHOST, 8, command);
        }
    }

    #[test]
    fn exit_command_stops_with_the_code() {
        let s = setup(Some(FROMHOST));
        s.send(13 << 1 | 1);
        assert_eq!(s.stop.reason(), Some(StopReason::Exit(13)));
        let s = setup(None);
        s.send(1);
        assert_eq!(s.stop.reason(), Some(StopReason::Exit(0)));
    }

    #[test]
    fn console_putchar_prints_and_is_acknowledged() {
        let s = setup(Some(FROMHOST));
        for &b in b"ok\n" {
            s.send(1 << 56 | 1 << 48 | u64::from(b));
            assert_eq!(s.peek(TOHOST), 0, "tohost cleared for the next command");
            assert_eq!(s.peek(FROMHOST), 1 << 56 | 1 << 48, "fromhost says: device 1, command 1 done");
            s.poke(FROMHOST, 0);
        }
        assert_eq!(s.captured.bytes(), b"ok\n");
        assert_eq!(s.stop.reason(), None);
    }

    #[test]
    fn without_fromhost_commands_are_still_taken() {
        let s = setup(None);
        s.send(1 << 56 | 1 << 48 | u64::from(b'x'));
        assert_eq!(s.peek(TOHOST), 0);
        assert_eq!(s.peek(FROMHOST), 0);
        assert_eq!(s.captured.bytes(), b"x");
    }

    #[test]
    fn syscall_write_prints_the_buffer_and_returns_its_length() {
        let s = setup(Some(FROMHOST));
        let text = b"hello from magic_mem\n";
        let buffer = RAM_BASE + 0x3000;
        assert!(s.ram.write_bytes(buffer - RAM_BASE, text));
        for (i, word) in [SYS_WRITE, 1, buffer, text.len() as u64].into_iter().enumerate() {
            s.poke(MAGIC + 8 * i as u64, word);
        }
        s.send(MAGIC);
        assert_eq!(s.captured.bytes(), text);
        assert_eq!(s.peek(MAGIC), text.len() as u64, "the result replaces the syscall number");
        assert_eq!(s.peek(TOHOST), 0);
        assert_eq!(s.peek(FROMHOST), 1);
        assert_eq!(s.stop.reason(), None);
    }

    #[test]
    fn syscall_write_to_stderr_prints_too() {
        let s = setup(None);
        let buffer = RAM_BASE + 0x3000;
        s.ram.write_bytes(buffer - RAM_BASE, b"err");
        for (i, word) in [SYS_WRITE, 2, buffer, 3].into_iter().enumerate() {
            s.poke(MAGIC + 8 * i as u64, word);
        }
        s.send(MAGIC);
        assert_eq!(s.captured.bytes(), b"err");
    }

    #[test]
    fn unsupported_or_bad_syscalls_fail_without_printing() {
        let buffer = RAM_BASE + 0x3000;
        for args in [
            [93, 1, buffer, 3],             // exit as a syscall: not supported
            [SYS_WRITE, 3, buffer, 3],      // not stdout or stderr
            [SYS_WRITE, 1, 0x1000, 3],      // buffer outside RAM
            [SYS_WRITE, 1, buffer, 0x2000], // buffer runs past the end of RAM
        ] {
            let s = setup(Some(FROMHOST));
            for (i, word) in args.into_iter().enumerate() {
                s.poke(MAGIC + 8 * i as u64, word);
            }
            s.send(MAGIC);
            assert_eq!(s.peek(MAGIC), u64::MAX, "{args:x?}: -1 returned");
            assert_eq!(s.peek(FROMHOST), 1, "{args:x?}: still acknowledged");
            assert!(s.captured.bytes().is_empty(), "{args:x?}");
        }
    }

    #[test]
    fn unknown_devices_are_acknowledged_with_zero() {
        let s = setup(Some(FROMHOST));
        s.poke(FROMHOST, 0xdead);
        s.send(7 << 56 | 3 << 48 | 0x41);
        assert_eq!(s.peek(TOHOST), 0);
        assert_eq!(s.peek(FROMHOST), 0);
        assert!(s.captured.bytes().is_empty());
        assert_eq!(s.stop.reason(), None);
    }

    #[test]
    fn a_store_that_leaves_tohost_zero_is_no_command() {
        let s = setup(Some(FROMHOST));
        s.send(0);
        assert_eq!(s.peek(FROMHOST), 0);
        assert_eq!(s.stop.reason(), None);
    }
}
