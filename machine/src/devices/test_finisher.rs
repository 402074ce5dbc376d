//! The SiFive test finisher (`sifive,test0`): a register that ends the run.
//!
//! A write of `0x5555` at offset 0 passes, `(code << 16) | 0x3333` fails with
//! `code`, and `0x7777` asks for a reset, as on QEMU's virt machine. As
//! QEMU's `sifive_test`, the device takes 16- and 32-bit accesses anywhere
//! in its page (OpenSBI's reset and power-off write 16 bits): reads give 0,
//! writes elsewhere than offset 0 are ignored, and other sizes fault.

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
        if matches!(size, 2 | 4) { Ok(0) } else { Err(DeviceError::NoRegister { offset, size }) }
    }

    fn write(&self, _ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
        if !matches!(size, 2 | 4) {
            return Err(DeviceError::NoRegister { offset, size });
        }
        if offset != 0 {
            return Ok(());
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

#[cfg(test)]
mod tests {
    use polyhart_iss::HartControl;

    use super::*;

    const CTX: AccessContext = AccessContext { hart_id: 0, cycle: 0 };

    fn finisher() -> (TestFinisher, Arc<StopSignal>, Arc<HartControl>) {
        let hart = Arc::new(HartControl::new());
        let stop = Arc::new(StopSignal::new(vec![hart.clone()]));
        (TestFinisher::new(stop.clone()), stop, hart)
    }

    fn stop_for(value: u64) -> Option<StopReason> {
        let (finisher, stop, _) = finisher();
        finisher.write(&CTX, 0, 4, value).expect("a 32-bit write at offset 0 is accepted");
        stop.reason()
    }

    #[test]
    fn pass_fail_and_reset() {
        assert_eq!(stop_for(0x5555), Some(StopReason::Exit(0)));
        assert_eq!(stop_for(42 << 16 | 0x3333), Some(StopReason::Exit(42)));
        assert_eq!(stop_for(0xffff << 16 | 0x3333), Some(StopReason::Exit(0xffff)));
        assert_eq!(stop_for(0x3333), Some(StopReason::Exit(0)), "fail with code 0");
        assert_eq!(stop_for(0x7777), Some(StopReason::Reset));
    }

    #[test]
    fn the_code_is_bits_31_to_16() {
        // A 32-bit register: bits above 31 never reach it.
        assert_eq!(stop_for(0x1_0005_3333), Some(StopReason::Exit(5)));
    }

    #[test]
    fn a_stop_request_asks_the_harts_to_leave_their_blocks() {
        let (finisher, _, hart) = finisher();
        assert!(!hart.exit_requested());
        finisher.write(&CTX, 0, 4, 0x5555).unwrap();
        assert!(hart.exit_requested());
    }

    #[test]
    fn other_values_are_ignored() {
        for value in [0, 1, 0x4444, 0x5556, 0x3334, 0x7778, 0x5555_0000, 0xffff_ffff] {
            let (finisher, stop, hart) = finisher();
            assert_eq!(finisher.write(&CTX, 0, 4, value), Ok(()), "{value:#x}");
            assert_eq!(stop.reason(), None, "{value:#x}");
            assert!(!hart.exit_requested());
        }
    }

    #[test]
    fn the_first_request_wins() {
        let (finisher, stop, _) = finisher();
        finisher.write(&CTX, 0, 4, 3 << 16 | 0x3333).unwrap();
        finisher.write(&CTX, 0, 4, 0x5555).unwrap();
        finisher.write(&CTX, 0, 4, 0x7777).unwrap();
        assert_eq!(stop.reason(), Some(StopReason::Exit(3)));
        stop.request(StopReason::Stopped);
        assert_eq!(stop.reason(), Some(StopReason::Exit(3)));
    }

    #[test]
    fn reads_give_zero() {
        let (finisher, stop, _) = finisher();
        for (offset, size) in [(0, 4), (0, 2), (2, 2), (0xffc, 4)] {
            assert_eq!(finisher.read(&CTX, offset, size), Ok(0), "{offset:#x}/{size}");
        }
        assert_eq!(stop.reason(), None);
    }

    /// OpenSBI's system reset and power-off write the finisher with 16-bit
    /// stores (`sbi_trap_error ... mcause=0x7` when they faulted).
    #[test]
    fn sixteen_bit_writes_pass_and_reset() {
        for (value, reason) in
            [(0x5555, StopReason::Exit(0)), (0x7777, StopReason::Reset), (0x3333, StopReason::Exit(0))]
        {
            let (finisher, stop, _) = finisher();
            assert_eq!(finisher.write(&CTX, 0, 2, value), Ok(()), "{value:#x}");
            assert_eq!(stop.reason(), Some(reason), "{value:#x}");
        }
    }

    #[test]
    fn writes_elsewhere_in_the_page_are_ignored() {
        let (finisher, stop, _) = finisher();
        for (offset, size) in [(4, 4), (2, 4), (2, 2), (0xffc, 4)] {
            assert_eq!(finisher.write(&CTX, offset, size, 0x5555), Ok(()), "write {offset:#x}/{size}");
        }
        assert_eq!(stop.reason(), None, "only offset 0 stops the machine");
    }

    #[test]
    fn byte_and_doubleword_accesses_are_refused() {
        let (finisher, stop, _) = finisher();
        for (offset, size) in [(0, 1), (0, 8), (4, 1), (8, 8)] {
            let refused = Err(DeviceError::NoRegister { offset, size });
            assert_eq!(finisher.write(&CTX, offset, size, 0x5555), refused, "write {offset:#x}/{size}");
            assert_eq!(finisher.read(&CTX, offset, size), refused.map(|()| 0), "read {offset:#x}/{size}");
        }
        assert_eq!(stop.reason(), None, "no refused write stopped the machine");
    }
}
