//! Boards: how a machine's parts are put together and where they sit.
//!
//! A board owns its devices, maps them on the machine's bus and builds the
//! [`Machine`](crate::Machine). The runners reach it only through
//! [`Board`]: the little they need of it besides the bus.

pub mod virt;

use polyhart_iss::Ram;
use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};

/// What a machine's runners need from its board: the timer behind `mtime`,
/// which drives each hart's timer interrupt, and the host side of the
/// console. Everything else on the board the harts reach through the bus.
pub trait Board: Send + Sync {
    /// Where every hart starts at power on and after a reset.
    fn reset_pc(&self) -> u64;

    /// A system reset of the board's side: its devices back to their reset
    /// state, and its boot images loaded into `ram` again (see
    /// [`crate::Machine::reboot`]).
    fn reset(&self, ram: &Ram);

    /// Raises or lowers hart `hart`'s machine timer interrupt (MTIP) for its
    /// local time `cycle`, and returns how many cycles may pass before the
    /// timer fires (`None`: it is not armed, or already firing).
    fn sync_timer(&self, hart: usize, cycle: u64) -> Option<u64>;

    /// How many cycles after local cycle `cycle` `mtime` reaches `time`
    /// (`None`: it already has): when a hart's own timer, Sstc's `stimecmp`,
    /// fires.
    fn cycles_until(&self, cycle: u64, time: u64) -> Option<u64>;

    /// Writes the state of the board's devices into a snapshot (see
    /// [`crate::snapshot`]), with what identifies how it was built.
    fn save(&self, out: &mut Writer);

    /// Restores what [`Board::save`] wrote; a board built otherwise is a
    /// [`SnapshotError::Mismatch`].
    fn restore(&self, input: &mut Reader<'_>) -> Result<(), SnapshotError>;

    /// Pushes console output buffered on the host out to it.
    fn flush_console(&self);

    /// Whether the host may still send input that raises an interrupt:
    /// while it may, harts that all wait with nothing pending are not
    /// deadlocked.
    fn input_open(&self) -> bool;

    /// Hands the devices the host input due at simulated time `now`, for
    /// input recorded or replayed ([`crate::replay`]); the deterministic
    /// runner calls it where runs cannot differ. Nothing by default: input
    /// reaches devices as it arrives.
    fn deliver_input(&self, _now: u64) {}
}
