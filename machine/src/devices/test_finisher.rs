//! The SiFive test finisher (`sifive,test0`): a register that ends the run.
//!
//! A 32-bit write of `0x5555` passes, `(code << 16) | 0x3333` fails with
//! `code`, and `0x7777` asks for a reset, as on QEMU's virt machine.

use std::sync::Arc;

use polyhart_iss::memory::AccessContext;

use crate::bus::{Device, DeviceError};
use crate::runner::{StopReason, StopSignal};

const FAIL: u64 = 0x3333;
const PASS: u64 = 0x5555;
const RESET: u64 = 0x7777;

/// The test finisher.
#[derive(Debug)]
pub struct TestFinisher {
    stop: Arc<StopSignal>,
}

impl TestFinisher {
    /// A finisher that reports through `stop`.
    pub fn new(stop: Arc<StopSignal>) -> TestFinisher {
        TestFinisher { stop }
    }
}

impl Device for TestFinisher {
    fn read(&self, _ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
        if offset == 0 && size == 4 { Ok(0) } else { Err(DeviceError::NoRegister { offset, size }) }
    }

    fn write(&self, _ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
        if offset != 0 || size != 4 {
            return Err(DeviceError::NoRegister { offset, size });
        }
        match value & 0xffff {
            PASS => self.stop.request(StopReason::Exit(0)),
            FAIL => self.stop.request(StopReason::Exit((value >> 16 & 0xffff) as i32)),
            RESET => self.stop.request(StopReason::Reset),
            // Other values are ignored, as by the real device.
            _ => {}
        }
        Ok(())
    }
}
