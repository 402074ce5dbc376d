//! What the cosim tests share: the guest that talks to an outside
//! simulator's devices, where they are, and what it prints.

/// `tests/guest/cosim.c`.
pub(crate) const GUEST: &[u8] = include_bytes!("../../../tests/guest/cosim.elf");
/// The external region the guest's devices are in.
pub(crate) const EXT_BASE: u64 = 0x2000_0000;
/// The PLIC source of the guest's timer.
pub(crate) const ALARM_IRQ: u32 = 32;
/// The guest's console output when every check passes.
pub(crate) const EXPECTED: &str = "cosim: hello from the guest\n\
scratch sum 6112\n\
amo old 40 then 42, now 7\n\
time advances: yes\n\
load fault: cause 5 tval 0x20003000\n\
store fault: cause 7 tval 0x20003004\n\
alarm: source 32, not early: yes\n\
cosim: done\n";
