//! Loads and stores in compiled code: RAM reached inline at its host
//! address (with RAM groups sharing their checks), the fast-TLB probe in
//! blocks compiled for checked accesses, and the exit before any access
//! compiled code does not make itself (see [`BlockExit::Slow`]).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{BlockArg, InstBuilder, MemFlagsData, Value, types};

use super::abi::*;
use super::analysis::{Covered, RamGroup};
use super::frame::SLOW_STORE;
use super::lockstep::{load_helper, store_helper};
use super::translator::{AccessMode, ExitTarget, Loaded, Translator};
use crate::memory::mmu::FAST_TLB_ENTRIES;
use crate::memory::{LINE_SHIFT, MARK_ANY, PAGE_SHIFT};

/// What an access must stay inside for compiled code to make it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Fit {
    /// A page: a load (its page is the one the fast TLB looked up).
    Page,
    /// A 64-byte line: a store, whose marks are those of its first byte's
    /// line.
    Line,
    /// Its own size, aligned: an AMO (misaligned ones trap).
    Aligned,
}

impl Fit {
    /// Whether the access writes (a store or an AMO).
    fn writes(self) -> bool {
        self != Fit::Page
    }

    /// The bytes a `size`-byte access must not cross a boundary of.
    fn bytes(self, size: i64) -> i64 {
        match self {
            Fit::Page => 1 << PAGE_SHIFT,
            Fit::Line => 1 << LINE_SHIFT,
            Fit::Aligned => size,
        }
    }
}

impl Translator<'_> {
    /// Goes on, with the host address of a `size`-byte access (a load, a
    /// store or an AMO, as `fit` says) at `address` and, for a store, its RAM
    /// offset (which its marks are found by; none when its [`RamGroup`]
    /// tested them already), when compiled code may make it directly, else
    /// jumps to `slow`.
    ///
    /// Two ways lead there. Inside RAM's direct span ([`super::frame::Frame::span`], 0
    /// while addresses are checked by paging or PMP) the address is
    /// physical; loads may be misaligned there (the span leaves room for
    /// their last byte), stores must stay in their line and AMOs be
    /// aligned (`fit`). Outside it, in a block compiled for a checked data context
    /// ([`AccessMode::Checked`]), the hart's fast TLB for the access
    /// ([`crate::memory::mmu::FastEntry`]) may hold the page in the current data
    /// context ([`super::frame::Frame::tlb_context`]); a load must then stay
    /// in the page, a store in its line, an AMO be aligned. (Linux measures
    /// misaligned accesses at boot, finds them fast, and copies memory
    /// with them: leaving them to the interpreter cost 7 million exits in
    /// a boot.) In a block compiled for plain physical
    /// accesses the probe would never hit, and its temporaries would take
    /// callee-saved registers, saved and restored at every chained jump:
    /// such a block leaves for the run loop instead. What this needs is read
    /// from the frame at each access rather than held in host registers for
    /// the whole block, where it would crowd out the guest's.
    pub(super) fn ram_access(
        &mut self,
        index: usize,
        base: Value,
        address: Value,
        size: i64,
        fit: Fit,
        slow: cranelift_codegen::ir::Block,
    ) -> (Value, Option<Value>) {
        let store = fit.writes();
        if let Some(covered) = self.in_checked_group(index, base, slow) {
            let ram_offset = self.ram_offset(address);
            if store && !covered.aligned {
                self.unless_crossing(address, size, fit.bytes(size), slow);
            }
            let ram_host = self.b.ins().load(self.pointer, self.flags, self.state, RAM_HOST_OFFSET);
            let host = self.b.ins().iadd(ram_host, ram_offset);
            return (host, (store && !covered.marked).then_some(ram_offset));
        }
        let (direct, probe, go) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        let host = self.b.append_block_param(go, self.pointer);
        // A load needs no offset: an unused block parameter would still cost
        // a register and a move on the way in.
        let offset = store.then(|| self.b.append_block_param(go, types::I64));
        let go_args = |host: Value, offset: Option<Value>| -> Vec<BlockArg> {
            [Some(host), offset].into_iter().flatten().map(BlockArg::Value).collect()
        };
        let ram_offset = self.ram_offset(address);
        if self.access == AccessMode::Checked {
            // Checked blocks run with paging or PMP on, where the span is
            // 0: the fast TLB first, RAM's span only when it misses.
            let direct_check = self.b.create_block();
            self.b.ins().jump(probe, &[]);
            self.b.switch_to_block(probe);
            self.unless_crossing(address, size, fit.bytes(size), direct_check);
            let (tlb_host, tlb_offset) = self.probe_fast_tlb(address, store, direct_check);
            self.b.ins().jump(go, &go_args(tlb_host, tlb_offset));
            self.b.set_cold_block(direct_check);
            self.b.switch_to_block(direct_check);
            let span = self.b.ins().load(types::I64, self.flags, self.state, SPAN_OFFSET);
            let in_ram = self.b.ins().icmp(IntCC::UnsignedLessThan, ram_offset, span);
            self.b.ins().brif(in_ram, direct, &[], slow, &[]);
            self.b.switch_to_block(direct);
            let (direct_host, direct_offset) = self.direct_host(address, ram_offset, size, fit, slow);
            self.b.ins().jump(go, &go_args(direct_host, direct_offset));
            self.b.switch_to_block(go);
            return (host, offset);
        }
        let span = self.b.ins().load(types::I64, self.flags, self.state, SPAN_OFFSET);
        let in_ram = self.b.ins().icmp(IntCC::UnsignedLessThan, ram_offset, span);
        self.b.ins().brif(in_ram, direct, &[], probe, &[]);

        self.b.switch_to_block(direct);
        let (direct_host, direct_offset) = self.direct_host(address, ram_offset, size, fit, slow);
        self.b.ins().jump(go, &go_args(direct_host, direct_offset));

        self.b.switch_to_block(probe);
        if self.access != AccessMode::Checked {
            self.b.ins().jump(slow, &[]);
            self.b.switch_to_block(go);
            return (host, offset);
        }
        self.unless_crossing(address, size, fit.bytes(size), slow);
        let (tlb_host, tlb_offset) = self.probe_fast_tlb(address, store, slow);
        self.b.ins().jump(go, &go_args(tlb_host, tlb_offset));

        self.b.switch_to_block(go);
        (host, offset)
    }

    /// The host address of an access at `address`, RAM offset `ram_offset`,
    /// inside RAM's direct span, and for a store that offset (its marks'
    /// index); a store crossing what `fit` allows jumps to `slow` (loads may
    /// cross: the span leaves room for their last byte).
    fn direct_host(
        &mut self,
        address: Value,
        ram_offset: Value,
        size: i64,
        fit: Fit,
        slow: cranelift_codegen::ir::Block,
    ) -> (Value, Option<Value>) {
        let store = fit.writes();
        if store {
            self.unless_crossing(address, size, fit.bytes(size), slow);
        }
        let ram_host = self.b.ins().load(self.pointer, self.flags, self.state, RAM_HOST_OFFSET);
        (self.b.ins().iadd(ram_host, ram_offset), store.then_some(ram_offset))
    }

    /// The host address of an access at `address` that the hart's fast TLB
    /// for loads (or for stores, `store`) holds in the current data context,
    /// and for a store its RAM offset; jumps to `miss` when it does not.
    fn probe_fast_tlb(
        &mut self,
        address: Value,
        store: bool,
        miss: cranelift_codegen::ir::Block,
    ) -> (Value, Option<Value>) {
        let vpn = self.b.ins().ushr_imm_u(address, i64::from(PAGE_SHIFT));
        let index = self.b.ins().band_imm_s(vpn, (FAST_TLB_ENTRIES - 1) as i64);
        let entry_offset = self.b.ins().imul_imm_s(index, FAST_ENTRY_SIZE);
        let table = self.b.ins().load(
            self.pointer,
            self.flags,
            self.state,
            if store { TLB_STORE_OFFSET } else { TLB_LOAD_OFFSET },
        );
        let entry = self.b.ins().iadd(table, entry_offset);
        let tag = self.b.ins().load(types::I64, self.flags, entry, FAST_TAG);
        let context = self.b.ins().load(types::I64, self.flags, self.state, TLB_CONTEXT_OFFSET);
        let key = self.b.ins().bor(vpn, context);
        let missed = self.b.ins().icmp(IntCC::NotEqual, tag, key);
        let hit = self.b.create_block();
        self.b.ins().brif(missed, miss, &[], hit, &[]);
        self.b.switch_to_block(hit);
        let addend = self.b.ins().load(types::I64, self.flags, entry, FAST_ADDEND);
        let tlb_host = self.b.ins().iadd(address, addend);
        let tlb_offset = store.then(|| {
            let ram_host = self.b.ins().load(self.pointer, self.flags, self.state, RAM_HOST_OFFSET);
            self.b.ins().isub(tlb_host, ram_host)
        });
        (tlb_host, tlb_offset)
    }

    /// The offset of guest physical `address` from RAM's base.
    pub(super) fn ram_offset(&mut self, address: Value) -> Value {
        match self.ram_base {
            Some(base) => self.b.ins().iadd_imm_s(address, base.wrapping_neg() as i64),
            None => {
                let base = self.b.ins().load(types::I64, self.flags, self.state, RAM_BASE_OFFSET);
                self.b.ins().isub(address, base)
            }
        }
    }

    /// Whether the access of instruction `index`, at `base` plus its
    /// immediate, is known to lie in RAM's direct span: it belongs to a
    /// [`RamGroup`], whose first access checks (here) that every access of
    /// the group does, and else jumps to `slow`. The group's accesses lie
    /// between its lowest and highest address, less than a page apart, so
    /// both in the span means all are. What else the group's first access
    /// checked comes back (see [`RamGroup`]).
    pub(super) fn in_checked_group(
        &mut self,
        index: usize,
        base: Value,
        slow: cranelift_codegen::ir::Block,
    ) -> Option<Covered> {
        match self.ram_groups.get(index).copied().flatten() {
            None => None,
            Some(RamGroup::Member(covered)) => Some(covered),
            Some(RamGroup::First { low, high, align, marks, covered }) => {
                self.unless_misaligned(base, align, slow);
                for imm in [low, high] {
                    let address = self.b.ins().iadd_imm_s(base, imm);
                    let ram_offset = self.ram_offset(address);
                    let span = self.b.ins().load(types::I64, self.flags, self.state, SPAN_OFFSET);
                    let in_ram = self.b.ins().icmp(IntCC::UnsignedLessThan, ram_offset, span);
                    let next = self.b.create_block();
                    self.b.ins().brif(in_ram, next, &[], slow, &[]);
                    self.b.switch_to_block(next);
                }
                if let Some((start, end)) = marks {
                    // Within 64 bytes: the lines of the first and last byte.
                    let mut touched = None;
                    for imm in [start, end - 1] {
                        let address = self.b.ins().iadd_imm_s(base, imm);
                        let ram_offset = self.ram_offset(address);
                        let marked = self.line_marked(ram_offset, MARK_ANY);
                        touched = Some(touched.map_or(marked, |other| self.b.ins().bor(other, marked)));
                    }
                    let next = self.b.create_block();
                    self.b.ins().brif(touched.expect("two lines"), slow, &[], next, &[]);
                    self.b.switch_to_block(next);
                }
                Some(covered)
            }
        }
    }

    /// Goes on when a `size`-byte access at `address` is aligned, else
    /// jumps to `slow`.
    pub(super) fn unless_misaligned(&mut self, address: Value, size: i64, slow: cranelift_codegen::ir::Block) {
        self.unless_crossing(address, size, size, slow);
    }

    /// Goes on when a `size`-byte access at `address` stays inside one
    /// naturally aligned range of `bytes` (a power of two, at least `size`),
    /// else jumps to `slow`. For `bytes == size` that is alignment.
    pub(super) fn unless_crossing(
        &mut self,
        address: Value,
        size: i64,
        bytes: i64,
        slow: cranelift_codegen::ir::Block,
    ) {
        if size > 1 {
            let within = self.b.ins().band_imm_s(address, bytes - 1);
            let crosses = if bytes == size {
                within
            } else {
                self.b.ins().icmp_imm_u(IntCC::UnsignedGreaterThan, within, bytes - size)
            };
            let inside = self.b.create_block();
            self.b.ins().brif(crosses, slow, &[], inside, &[]);
            self.b.switch_to_block(inside);
        }
    }

    /// A load: straight from host memory when [`Translator::ram_access`]
    /// allows (misaligned too: RAM answers those as the interpreter would),
    /// else the block leaves for the run loop to make it ([`BlockExit::Slow`]; in
    /// lockstep through [`load_helper`], which exits with the trap if it
    /// faults). The value comes back zero-extended.
    pub(super) fn load(&mut self, index: usize, at: i64, base: Value, imm: i64, size: i64) -> Value {
        self.load_as(index, at, base, imm, size, Loaded::Unsigned)
    }

    /// A load whose value comes back as `loaded` says (the extension is
    /// part of the host load).
    pub(super) fn load_as(&mut self, index: usize, at: i64, base: Value, imm: i64, size: i64, loaded: Loaded) -> Value {
        let address = self.b.ins().iadd_imm_s(base, imm);
        let (slow, merge) = (self.b.create_block(), self.b.create_block());
        let ty = if loaded == Loaded::Float { types::F64 } else { types::I64 };
        let result = self.b.append_block_param(merge, ty);
        let (host, _) = self.ram_access(index, base, address, size, Fit::Page, slow);
        let signed = loaded == Loaded::Signed;
        let value = match size {
            1 if signed => self.b.ins().sload8(types::I64, self.flags, host, 0),
            2 if signed => self.b.ins().sload16(types::I64, self.flags, host, 0),
            4 if signed => self.b.ins().sload32(self.flags, host, 0),
            1 => self.b.ins().uload8(types::I64, self.flags, host, 0),
            2 => self.b.ins().uload16(types::I64, self.flags, host, 0),
            4 => self.b.ins().uload32(self.flags, host, 0),
            _ => self.b.ins().load(ty, self.flags, host, 0),
        };
        self.b.ins().jump(merge, &[BlockArg::Value(value)]);

        self.b.set_cold_block(slow);
        self.b.switch_to_block(slow);
        if self.access != AccessMode::Lockstep {
            self.slow_exit(index, at, address, size, false);
            self.b.switch_to_block(merge);
            return result;
        }
        let bytes = self.b.ins().iconst(types::I64, size);
        let retired = self.retired_at(index);
        let helper = self.b.ins().iconst(self.pointer, load_helper as *const () as usize as i64);
        let signature = self.b.import_signature(self.load_sig.clone());
        let env = self.env();
        let call = self.b.ins().call_indirect(signature, helper, &[self.state, env, address, bytes, retired]);
        let status = self.b.inst_results(call)[0];
        self.exit_if(status, ExitTarget::Offset(at), index, BlockExit::Trapped);
        let value = self.b.ins().load(ty, self.flags, self.state, HELPER_OUT_OFFSET);
        let value = match size {
            1 if signed => self.sign_extend(value, types::I8),
            2 if signed => self.sign_extend(value, types::I16),
            4 if signed => self.sign_extend(value, types::I32),
            _ => value,
        };
        self.b.ins().jump(merge, &[BlockArg::Value(value)]);

        self.b.switch_to_block(merge);
        result
    }

    /// A store: straight to host memory when [`Translator::ram_access`]
    /// allows and the line holds no code, no watched bytes and no
    /// reservation, else the block leaves for the run loop to make it
    /// ([`BlockExit::Slow`]; in lockstep through [`store_helper`], which exits with the
    /// trap if it faults). `value` is an `i64`, or an `f64` for an 8-byte
    /// store.
    pub(super) fn store(&mut self, index: usize, at: i64, base: Value, imm: i64, size: i64, value: Value) {
        let address = self.b.ins().iadd_imm_s(base, imm);
        let (fast, slow, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        let (host, offset) = self.ram_access(index, base, address, size, Fit::Line, slow);
        match offset {
            Some(offset) => {
                let touched = self.line_marked(offset, MARK_ANY);
                self.b.ins().brif(touched, slow, &[], fast, &[]);
            }
            None => {
                self.b.ins().jump(fast, &[]);
            }
        }

        self.b.switch_to_block(fast);
        match size {
            1 => self.b.ins().istore8(self.flags, value, host, 0),
            2 => self.b.ins().istore16(self.flags, value, host, 0),
            4 => self.b.ins().istore32(self.flags, value, host, 0),
            _ => self.b.ins().store(self.flags, value, host, 0),
        };
        self.b.ins().jump(done, &[]);

        self.b.set_cold_block(slow);
        self.b.switch_to_block(slow);
        if self.access != AccessMode::Lockstep {
            self.slow_exit(index, at, address, size, true);
            self.b.switch_to_block(done);
            return;
        }
        let size = self.b.ins().iconst(types::I64, size);
        let retired = self.retired_at(index);
        let value = match self.b.func.dfg.value_type(value) {
            types::F64 => self.b.ins().bitcast(types::I64, MemFlagsData::new(), value),
            _ => value,
        };
        let env = self.env();
        let helper = self.b.ins().iconst(self.pointer, store_helper as *const () as usize as i64);
        let signature = self.b.import_signature(self.store_sig.clone());
        let call = self.b.ins().call_indirect(signature, helper, &[self.state, env, address, size, value, retired]);
        let status = self.b.inst_results(call)[0];
        self.exit_if(status, ExitTarget::Offset(at), index, BlockExit::Trapped);
        self.b.ins().jump(done, &[]);

        self.b.switch_to_block(done);
    }

    /// Leaves the block before instruction `index` (at `at`), a `size`-byte
    /// load or store at `address`, for the run loop to make (see [`BlockExit::Slow`]).
    pub(super) fn slow_exit(&mut self, index: usize, at: i64, address: Value, size: i64, store: bool) {
        let kind = self.b.ins().iconst(types::I64, size | if store { SLOW_STORE as i64 } else { 0 });
        self.b.ins().store(self.flags, address, self.state, SLOW_ADDRESS_OFFSET);
        self.b.ins().store(self.flags, kind, self.state, SLOW_KIND_OFFSET);
        // `pc` in the state holds the entry address until the exit stores.
        let entry = self.b.ins().load(types::I64, self.flags, self.state, PC_OFFSET);
        self.b.ins().store(self.flags, entry, self.state, SLOW_BLOCK_OFFSET);
        self.exit(ExitTarget::Offset(at), index, BlockExit::Slow);
    }

    /// Nonzero when the 64-byte line holding RAM offset `offset` carries one
    /// of `marks` (bits of its byte of marks, see [`crate::Ram`]'s
    /// `raw_parts`). An aligned access of up to 8 bytes lies inside one
    /// line: its byte says it all. A plain load: another thread may mark
    /// the line at any time, but each store that this check guards comes
    /// between it and the next, so Cranelift cannot reuse an earlier value.
    pub(super) fn line_marked(&mut self, offset: Value, marks: u8) -> Value {
        let line = self.b.ins().ushr_imm_u(offset, i64::from(LINE_SHIFT));
        let ram_marks = self.b.ins().load(self.pointer, self.flags, self.state, RAM_MARKS_OFFSET);
        let at = self.b.ins().iadd(ram_marks, line);
        let byte = self.b.ins().uload8(types::I32, self.flags, at, 0);
        if marks == MARK_ANY { byte } else { self.b.ins().band_imm_u(byte, i64::from(marks)) }
    }
}
