//! Device models, one per file, each behind the [`crate::bus::Device`] trait.

pub mod aclint;
pub mod goldfish_rtc;
pub mod htif;
pub mod plic;
pub mod rom;
pub mod test_finisher;
pub mod uart;
pub mod virtio;

pub use aclint::Aclint;
pub use goldfish_rtc::{GoldfishRtc, RtcClock};
pub use htif::Htif;
pub use plic::{Plic, PlicLine};
pub use rom::Rom;
pub use test_finisher::TestFinisher;
pub use uart::Uart;

/// An interrupt output of a device, wired by the board to an interrupt
/// controller (or to nothing).
pub trait InterruptLine: Send + Sync {
    /// Drives the line to `level`.
    fn set(&self, level: bool);
}

/// A line connected to nothing.
#[derive(Copy, Clone, Debug, Default)]
pub struct Unconnected;

impl InterruptLine for Unconnected {
    fn set(&self, _level: bool) {}
}
