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
