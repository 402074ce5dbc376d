//! The bus: how a hart reaches everything that is not RAM (devices,
//! regions an outside simulator serves), through a trait the machine
//! implements.

use crate::decode::AmoOp;

/// Who makes an access: passed to devices so they can answer per hart
/// (CLINT registers, time) without global state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AccessContext {
    /// The hart's `mhartid`.
    pub hart_id: usize,
    /// The hart's local time in cycles when it made the access.
    pub cycle: u64,
}

/// Why the bus refused an access; the hart turns it into an access fault.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// Nothing is mapped at the address.
    #[error("nothing is mapped at {0:#x}")]
    Unmapped(u64),
    /// A device is mapped there but does not accept this access.
    #[error("the device at {0:#x} does not accept this access")]
    Denied(u64),
}

/// The physical address space beyond RAM, as the machine presents it to a hart.
///
/// Called only on the slow path (device registers, ROM, watched RAM pages), so
/// it may be a trait object.
pub trait Bus: Send + Sync {
    /// Reads `size` bytes (1, 2, 4 or 8) at physical address `addr`,
    /// little-endian, zero-extended.
    fn read(&self, ctx: &AccessContext, addr: u64, size: u8) -> Result<u64, BusError>;

    /// Writes the low `size` bytes of `value` at physical address `addr`.
    fn write(&self, ctx: &AccessContext, addr: u64, size: u8, value: u64) -> Result<(), BusError>;

    /// Reads a 16-bit instruction parcel outside RAM; only memory that can
    /// hold code (ROM) answers, device registers are not executable.
    fn fetch(&self, ctx: &AccessContext, addr: u64) -> Result<u16, BusError>;

    /// The value of `mtime` as the hart making the access sees it.
    fn time(&self, ctx: &AccessContext) -> u64;

    /// An AMO outside RAM: reads `amo.size` bytes at `addr`, writes
    /// [`Amo::apply`] of them back as one indivisible step, and returns the
    /// old value. By default nothing outside RAM supports atomics (device
    /// registers do not), which the hart reports as a store/AMO access fault.
    fn atomic(&self, _ctx: &AccessContext, addr: u64, _amo: Amo) -> Result<u64, BusError> {
        Err(BusError::Denied(addr))
    }
}

/// An AMO as the bus sees it: the operation, its width and its operand.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Amo {
    /// The operation.
    pub op: AmoOp,
    /// 4 or 8 bytes.
    pub size: u8,
    /// The source register's value (its low 32 bits for a word AMO).
    pub operand: u64,
}

impl Amo {
    /// The value written back, given the old value (zero-extended from
    /// `size` bytes); a word AMO's result is zero-extended too.
    pub fn apply(&self, old: u64) -> u64 {
        let word = self.size == 4;
        let b = self.operand;
        let (sa, sb) = if word { (old as u32 as i32 as i64, b as u32 as i32 as i64) } else { (old as i64, b as i64) };
        let (ua, ub) = if word { (old & 0xffff_ffff, b & 0xffff_ffff) } else { (old, b) };
        let new = match self.op {
            AmoOp::Swap => ub,
            AmoOp::Add => ua.wrapping_add(ub),
            AmoOp::Xor => ua ^ ub,
            AmoOp::And => ua & ub,
            AmoOp::Or => ua | ub,
            AmoOp::Min => sa.min(sb) as u64,
            AmoOp::Max => sa.max(sb) as u64,
            AmoOp::MinU => ua.min(ub),
            AmoOp::MaxU => ua.max(ub),
        };
        if word { new & 0xffff_ffff } else { new }
    }
}
