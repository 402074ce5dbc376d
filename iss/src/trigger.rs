//! Sdtrig: the debug triggers a guest programs through `tselect`,
//! `tdata1`-`tdata3` and `tinfo` (RISC-V Debug Specification 1.0, chapter
//! 5), as hardware breakpoints and watchpoints of its own.
//!
//! Four triggers, each a match (`mcontrol`, type 2, or `mcontrol6`, type 6)
//! on execution, loads or stores, in the modes its `m`, `s` and `u` bits
//! name, that raises a breakpoint exception (`action` 0). An `mcontrol6`
//! trigger with `select` set matches the data of a load or store instead
//! of its address: the value, zero-extended from the access's size. The
//! exception comes at the times the specification suggests (its table
//! "Suggested Trigger Timings"): before the instruction for execution,
//! before the access for addresses and store data, and after the
//! instruction retires for load data (`mepc` then names the next one; an
//! AMO's loaded data counts as a load's, its stored data is not matched).
//! What is fixed (WARL): no chaining, no `select` on `mcontrol` or on an
//! execute trigger, `timing` 0, any access size, no `hit` bits, no debug
//! mode; `match` is equal, NAPOT, at least or below (execution addresses:
//! equal only). There is no `tcontrol`: as the specification then asks, a
//! trigger does not fire in M-mode while `mstatus.MIE` is clear, so a
//! handler entered through one cannot fire it again. Types other than 2
//! and 6 are not implemented: writing one disables the trigger (type 15).
//!
//! While any trigger is armed the hart runs in the interpreter alone (see
//! the dispatcher), which checks every instruction and access against
//! them; while a load data trigger is armed, one instruction at a time.

use crate::privilege::Privilege;
use crate::snapshot::{Reader, SnapshotError, Writer};

/// How many triggers each hart has.
pub const TRIGGERS: usize = 4;

/// `tdata1.type`'s position (RV64).
const TYPE_SHIFT: u32 = 60;
/// An address match trigger (legacy `mcontrol`).
const TYPE_MCONTROL: u64 = 2;
/// An address or data match trigger (`mcontrol6`).
const TYPE_MCONTROL6: u64 = 6;
/// A trigger that exists but is disabled.
const TYPE_DISABLED: u64 = 15;

/// The bits of `mcontrol` and `mcontrol6` this implementation keeps.
const LOAD: u64 = 1 << 0;
const STORE: u64 = 1 << 1;
const EXECUTE: u64 = 1 << 2;
const U: u64 = 1 << 3;
const S: u64 = 1 << 4;
const M: u64 = 1 << 6;
const MATCH_SHIFT: u32 = 7;
const MATCH_MASK: u64 = 0xf << MATCH_SHIFT;
/// `mcontrol6.select`: match the data rather than the address.
const SELECT6: u64 = 1 << 21;

/// `match` values.
const MATCH_EQUAL: u64 = 0;
const MATCH_NAPOT: u64 = 1;
const MATCH_AT_LEAST: u64 = 2;
const MATCH_BELOW: u64 = 3;

/// `tinfo`: version 1 (Sdtrig 1.0) and the types implemented.
const TINFO: u64 = 1 << 24 | 1 << TYPE_MCONTROL | 1 << TYPE_MCONTROL6 | 1 << TYPE_DISABLED;

/// What an instruction does that a trigger may match.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Execute,
    Load,
    Store,
    /// An AMO: a load and a store.
    Both,
}

/// A hart's triggers: `tselect` and each trigger's `tdata1` and `tdata2`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Triggers {
    select: usize,
    tdata1: [u64; TRIGGERS],
    tdata2: [u64; TRIGGERS],
}

impl Default for Triggers {
    /// Every trigger disabled.
    fn default() -> Triggers {
        Triggers { select: 0, tdata1: [TYPE_DISABLED << TYPE_SHIFT; TRIGGERS], tdata2: [0; TRIGGERS] }
    }
}

impl Triggers {
    /// Reads `tselect`, `tdata1`-`tdata3` or `tinfo`; `None` for another CSR.
    pub(crate) fn read(&self, number: u16) -> Option<u64> {
        Some(match number {
            crate::csr::TSELECT => self.select as u64,
            crate::csr::TDATA1 => self.tdata1[self.select],
            crate::csr::TDATA2 => self.tdata2[self.select],
            crate::csr::TDATA3 => 0,
            crate::csr::TINFO => TINFO,
            _ => return None,
        })
    }

    /// Writes one of them, keeping the WARL rules above; false for another
    /// CSR (or the read-only `tinfo`).
    pub(crate) fn write(&mut self, number: u16, value: u64) -> bool {
        match number {
            crate::csr::TSELECT => {
                if let Ok(select) = usize::try_from(value)
                    && select < TRIGGERS
                {
                    self.select = select;
                }
            }
            crate::csr::TDATA1 => self.tdata1[self.select] = legal_tdata1(value),
            crate::csr::TDATA2 => self.tdata2[self.select] = value,
            crate::csr::TDATA3 => {}
            _ => return false,
        }
        true
    }

    /// Whether any trigger can fire at all.
    pub(crate) fn armed(&self) -> bool {
        self.tdata1.iter().any(|&tdata1| enabled(tdata1) && tdata1 & (LOAD | STORE | EXECUTE) != 0)
    }

    /// Whether a trigger fires for `action` on the `size` bytes at `addr`
    /// (an instruction's address, or an access's) at `privilege`.
    pub(crate) fn fires(&self, privilege: Privilege, mie: bool, action: Action, addr: u64, size: u64) -> bool {
        self.candidates(privilege, mie, action, false)
            .any(|(tdata1, tdata2)| matches(tdata1 >> MATCH_SHIFT & 0xf, tdata2, addr, size))
    }

    /// Whether a data trigger fires for `action` (a load or a store) on
    /// `value`, the `size` bytes accessed, at `privilege`.
    pub(crate) fn fires_on_data(&self, privilege: Privilege, mie: bool, action: Action, value: u64, size: u8) -> bool {
        let value = if size >= 8 { value } else { value & ((1 << (8 * size)) - 1) };
        self.candidates(privilege, mie, action, true)
            .any(|(tdata1, tdata2)| matches(tdata1 >> MATCH_SHIFT & 0xf, tdata2, value, 1))
    }

    /// Whether a trigger matches the data loads bring: the hart then runs
    /// one instruction at a time, so that the exception can follow the load.
    pub(crate) fn watch_loaded_data(&self) -> bool {
        self.tdata1.iter().any(|&tdata1| enabled(tdata1) && tdata1 & SELECT6 != 0 && tdata1 & LOAD != 0)
    }

    /// `(tdata1, tdata2)` of each enabled trigger that watches `action` in
    /// `privilege`, matching data (`select`) or addresses.
    fn candidates(
        &self,
        privilege: Privilege,
        mie: bool,
        action: Action,
        data: bool,
    ) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mode = match privilege {
            Privilege::Machine if !mie => 0,
            Privilege::Machine => M,
            Privilege::Supervisor => S,
            Privilege::User => U,
        };
        let wanted = match action {
            Action::Execute => EXECUTE,
            Action::Load => LOAD,
            Action::Store => STORE,
            Action::Both => LOAD | STORE,
        };
        let select = if data { SELECT6 } else { 0 };
        self.tdata1.iter().zip(&self.tdata2).map(|(&tdata1, &tdata2)| (tdata1, tdata2)).filter(move |&(tdata1, _)| {
            enabled(tdata1) && tdata1 & mode != 0 && tdata1 & wanted != 0 && tdata1 & SELECT6 == select
        })
    }
}

impl Triggers {
    /// Writes `tselect` and each trigger's `tdata1` and `tdata2`.
    pub(crate) fn save(&self, out: &mut Writer) {
        out.u64(self.select as u64);
        self.tdata1.iter().chain(&self.tdata2).for_each(|&value| out.u64(value));
    }

    /// Reads what [`Triggers::save`] wrote, made legal as a guest's write
    /// would be.
    pub(crate) fn restore(input: &mut Reader<'_>) -> Result<Triggers, SnapshotError> {
        let mut triggers = Triggers { select: input.count(TRIGGERS - 1)?, ..Triggers::default() };
        for tdata1 in &mut triggers.tdata1 {
            *tdata1 = legal_tdata1(input.u64()?);
        }
        for tdata2 in &mut triggers.tdata2 {
            *tdata2 = input.u64()?;
        }
        Ok(triggers)
    }
}

/// A trigger of a type that matches addresses.
fn enabled(tdata1: u64) -> bool {
    matches!(tdata1 >> TYPE_SHIFT, TYPE_MCONTROL | TYPE_MCONTROL6)
}

/// `tdata1` as written to a trigger, made legal: the type kept when it is
/// 2 or 6 (else disabled), the fields above kept, the rest zero.
fn legal_tdata1(value: u64) -> u64 {
    let kind = value >> TYPE_SHIFT;
    if !matches!(kind, TYPE_MCONTROL | TYPE_MCONTROL6) {
        return TYPE_DISABLED << TYPE_SHIFT;
    }
    let mut kept = value & (LOAD | STORE | EXECUTE | U | S | M | MATCH_MASK);
    if kind == TYPE_MCONTROL6 && value & SELECT6 != 0 && value & EXECUTE == 0 {
        kept |= SELECT6;
    }
    let matching = kept >> MATCH_SHIFT & 0xf;
    let legal = match matching {
        MATCH_EQUAL => true,
        MATCH_NAPOT | MATCH_AT_LEAST | MATCH_BELOW => kept & EXECUTE == 0,
        _ => false,
    };
    if !legal {
        kept &= !MATCH_MASK;
    }
    kind << TYPE_SHIFT | kept
}

/// Whether the `size` bytes at `addr` match `tdata2` by `matching`.
fn matches(matching: u64, tdata2: u64, addr: u64, size: u64) -> bool {
    let last = addr.wrapping_add(size.max(1) - 1);
    match matching {
        MATCH_EQUAL => addr <= tdata2 && tdata2 <= last,
        MATCH_NAPOT => {
            // The trailing ones of tdata2 give the range's size: 2^(n+1).
            let ones = tdata2.trailing_ones();
            let mask = if ones >= 63 { 0 } else { !((1u64 << (ones + 1)) - 1) };
            (addr & mask) == (tdata2 & mask) || (last & mask) == (tdata2 & mask)
        }
        MATCH_AT_LEAST => last >= tdata2,
        MATCH_BELOW => addr < tdata2,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::{TDATA1, TDATA2, TINFO, TSELECT};

    fn with(tdata1: u64, tdata2: u64) -> Triggers {
        let mut triggers = Triggers::default();
        assert!(triggers.write(TDATA1, tdata1) && triggers.write(TDATA2, tdata2));
        triggers
    }

    #[test]
    fn writes_keep_what_is_implemented_and_read_back() {
        let mut triggers = Triggers::default();
        assert!(!triggers.armed());
        let execute = TYPE_MCONTROL << TYPE_SHIFT | M | EXECUTE;
        triggers.write(TDATA1, execute);
        assert_eq!(triggers.read(TDATA1), Some(execute), "the ISA test reads back what it wrote");
        assert!(triggers.armed());
        // Chain, timing and action are fixed at zero; select is kept by
        // mcontrol6 alone, and not for execution; another type disables.
        triggers.write(TDATA1, TYPE_MCONTROL6 << TYPE_SHIFT | 1 << 11 | 1 << 12 | SELECT6 | M | LOAD);
        assert_eq!(triggers.read(TDATA1), Some(TYPE_MCONTROL6 << TYPE_SHIFT | SELECT6 | M | LOAD));
        triggers.write(TDATA1, TYPE_MCONTROL6 << TYPE_SHIFT | SELECT6 | M | EXECUTE);
        assert_eq!(triggers.read(TDATA1), Some(TYPE_MCONTROL6 << TYPE_SHIFT | M | EXECUTE));
        triggers.write(TDATA1, TYPE_MCONTROL << TYPE_SHIFT | 1 << 19 | 1 << 18 | M | LOAD);
        assert_eq!(triggers.read(TDATA1), Some(TYPE_MCONTROL << TYPE_SHIFT | M | LOAD), "mcontrol: no select, timing");
        triggers.write(TDATA1, 3 << TYPE_SHIFT | M | LOAD);
        assert_eq!(triggers.read(TDATA1), Some(TYPE_DISABLED << TYPE_SHIFT));
        // An execute trigger matches by equality only.
        triggers.write(TDATA1, TYPE_MCONTROL << TYPE_SHIFT | MATCH_AT_LEAST << MATCH_SHIFT | M | EXECUTE);
        assert_eq!(triggers.read(TDATA1), Some(TYPE_MCONTROL << TYPE_SHIFT | M | EXECUTE));
        triggers.write(TSELECT, 3);
        assert_eq!(triggers.read(TSELECT), Some(3));
        triggers.write(TSELECT, 4);
        assert_eq!(triggers.read(TSELECT), Some(3), "out of range: unchanged");
        assert_eq!(triggers.read(TINFO).map(|t| t >> 24), Some(1));
    }

    #[test]
    fn triggers_fire_in_their_modes_on_their_addresses() {
        let load = with(TYPE_MCONTROL << TYPE_SHIFT | S | U | LOAD, 0x1004);
        assert!(load.fires(Privilege::Supervisor, false, Action::Load, 0x1000, 8), "a byte of the access");
        assert!(!load.fires(Privilege::Supervisor, false, Action::Load, 0x1000, 4));
        assert!(!load.fires(Privilege::Supervisor, false, Action::Store, 0x1004, 4));
        assert!(load.fires(Privilege::User, false, Action::Both, 0x1004, 4), "an AMO loads");
        assert!(!load.fires(Privilege::Machine, true, Action::Load, 0x1004, 4), "not in M-mode");
        let machine = with(TYPE_MCONTROL6 << TYPE_SHIFT | M | EXECUTE, 0x80);
        assert!(machine.fires(Privilege::Machine, true, Action::Execute, 0x80, 4));
        assert!(!machine.fires(Privilege::Machine, false, Action::Execute, 0x80, 4), "MIE clear: no tcontrol");
        let napot = with(TYPE_MCONTROL << TYPE_SHIFT | MATCH_NAPOT << MATCH_SHIFT | U | STORE, 0x2000 | 0x7);
        assert!(
            napot.fires(Privilege::User, false, Action::Store, 0x200f, 1)
                && !napot.fires(Privilege::User, false, Action::Store, 0x2010, 1)
        );
        let below = with(TYPE_MCONTROL << TYPE_SHIFT | MATCH_BELOW << MATCH_SHIFT | U | STORE, 0x100);
        assert!(
            below.fires(Privilege::User, false, Action::Store, 0xff, 1)
                && !below.fires(Privilege::User, false, Action::Store, 0x100, 1)
        );
    }

    #[test]
    fn data_triggers_match_the_value_of_their_size_and_not_the_address() {
        let data = with(TYPE_MCONTROL6 << TYPE_SHIFT | SELECT6 | S | LOAD | STORE, 0xff);
        assert!(data.watch_loaded_data());
        assert!(data.fires_on_data(Privilege::Supervisor, false, Action::Load, 0xff, 1));
        assert!(data.fires_on_data(Privilege::Supervisor, false, Action::Store, 0x12ff, 1), "a byte of 0x12ff");
        assert!(!data.fires_on_data(Privilege::Supervisor, false, Action::Store, 0x12ff, 2));
        assert!(!data.fires(Privilege::Supervisor, false, Action::Load, 0xff, 1), "not an address match");
        assert!(!data.fires_on_data(Privilege::User, false, Action::Load, 0xff, 1), "not in U-mode");
        let address = with(TYPE_MCONTROL6 << TYPE_SHIFT | S | LOAD, 0xff);
        assert!(
            !address.watch_loaded_data() && !address.fires_on_data(Privilege::Supervisor, false, Action::Load, 0xff, 1)
        );
        let below = with(TYPE_MCONTROL6 << TYPE_SHIFT | SELECT6 | MATCH_BELOW << MATCH_SHIFT | U | STORE, 10);
        assert!(below.fires_on_data(Privilege::User, false, Action::Store, 9, 8));
        assert!(!below.fires_on_data(Privilege::User, false, Action::Store, 10, 8));
        assert!(!below.watch_loaded_data(), "stores only");
    }
}
