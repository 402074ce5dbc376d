//! What the translator works out about a block before it emits code: the
//! registers each instruction reads and writes, its plain memory access,
//! the branches that stay inside the function, the groups of RAM accesses
//! that share their checks, and loops back to the start.

use crate::decode::{Class, Inst, MemoryKind};
use crate::memory::LINE_SHIFT;
use crate::state::X0_SINK;

/// Integer register `r` is a real register the block keeps in a variable.
pub(super) fn is_reg(r: u8) -> bool {
    r != 0 && r < X0_SINK
}

/// The size of the load or store `inst` makes at `x[rs1] + imm` (LR, SC
/// and AMOs aside).
pub(super) fn plain_access(inst: &Inst) -> Option<i64> {
    inst.op
        .memory()
        .filter(|memory| matches!(memory.kind, MemoryKind::Load | MemoryKind::Store))
        .map(|memory| i64::from(memory.size))
}

/// Loads and stores of a block compiled for plain physical accesses that
/// share one value of their base register: the first checks that all of
/// them lie in RAM's direct span (else the block leaves before it, see
/// [`super::BlockExit::Slow`]), and the others then reach RAM with no check of their own.
/// The first checks the base's alignment too for the group's stores whose
/// immediate is a multiple of their size (most: fields of an aligned
/// struct, slots of a stack frame), which then need no check of their own;
/// and, where the group's stores lie within 64 bytes (two lines at most),
/// the marks of their lines, which the stores then do not test.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum RamGroup {
    /// The group's first access, the lowest and highest immediates of its
    /// accesses, the alignment (a power of two) it checks the base for, the
    /// stores' bytes (from the base) whose lines' marks it tests, and what
    /// it covers of its own checks.
    First { low: i64, high: i64, align: i64, marks: Option<(i64, i64)>, covered: Covered },
    /// Another access of the group, and what the first covers of its checks.
    Member(Covered),
}

/// The checks of a store that the first access of its [`RamGroup`] made.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Covered {
    /// Its alignment.
    pub(super) aligned: bool,
    /// Its line's marks.
    pub(super) marked: bool,
}

/// Whether `inst` is a store ([`plain_access`] covers its size).
pub(super) fn is_store(inst: &Inst) -> bool {
    inst.op.memory().is_some_and(|memory| memory.kind == MemoryKind::Store)
}

/// Per instruction of `insts` (a function's), the index its taken branch
/// goes to when that is a later instruction of the function (see
/// [`super::translator::Translator::skips`]; with plugins the interpreter
/// takes the same branches inside the block, `Hooks::skips`).
pub(crate) fn forward_skips(insts: &[Inst]) -> Vec<Option<usize>> {
    let mut skips = vec![None; insts.len()];
    for (index, inst) in insts.iter().enumerate() {
        if inst.op.format() != crate::decode::Format::Branch || inst.imm <= 0 {
            continue;
        }
        let target = i64::from(inst.offset) + i64::from(inst.imm);
        skips[index] = insts[index + 1..]
            .iter()
            .position(|later| i64::from(later.offset) == target)
            .map(|after| index + 1 + after);
    }
    skips
}

/// The [`RamGroup`] of each instruction of `insts` that has one (two
/// accesses at least). A group does not reach past a place where forward
/// branches land (a block in `joins`): its first access might not have
/// run there.
pub(super) fn ram_groups(insts: &[Inst], joins: &[Option<cranelift_codegen::ir::Block>]) -> Vec<Option<RamGroup>> {
    // (base register, its value's number, first access, low, high, members)
    let mut found: Vec<(u8, u32, usize, i64, i64, Vec<usize>)> = Vec::new();
    let mut versions = [0u32; 32];
    let mut groups = vec![None; insts.len()];
    for (index, inst) in insts.iter().enumerate() {
        if joins[index].is_some() {
            for version in &mut versions {
                *version += 1;
            }
        }
        if plain_access(inst).is_some() {
            let (base, version, imm) = (inst.rs1, versions[usize::from(inst.rs1)], i64::from(inst.imm));
            match found.iter_mut().find(|group| (group.0, group.1) == (base, version)) {
                Some(group) => {
                    (group.3, group.4) = (group.3.min(imm), group.4.max(imm));
                    group.5.push(index);
                }
                None => found.push((base, version, index, imm, imm, Vec::new())),
            }
        }
        let written = inst.registers().x_written;
        if is_reg(written) {
            versions[usize::from(written)] += 1;
        }
    }
    // A store whose immediate is a multiple of its size is aligned when the
    // base is aligned to that size.
    let alignable = |index: usize| {
        let inst = &insts[index];
        let size = plain_access(inst).unwrap_or(1);
        (is_store(inst) && i64::from(inst.imm) % size == 0).then_some(size)
    };
    // A store between the first access and a member could not change marks
    // the first tested, but an LR could (its reservation): no marks tested
    // together in blocks with atomics.
    let marks_hold = !insts.iter().any(|inst| inst.op.class() == Class::Atomic);
    for (_, _, first, low, high, members) in found {
        if members.is_empty() {
            continue;
        }
        let accesses = || std::iter::once(first).chain(members.iter().copied());
        let align = accesses().filter_map(alignable).max().unwrap_or(1);
        let aligned = |index: usize| alignable(index).is_some_and(|size| size <= align && size > 1);
        // The bytes the stores write, from the base.
        let stores = accesses().filter(|&index| is_store(&insts[index])).map(|index| {
            let inst = &insts[index];
            let start = i64::from(inst.imm);
            (start, start + plain_access(inst).unwrap_or(1))
        });
        let (count, start, end) =
            stores.fold((0, i64::MAX, i64::MIN), |(count, start, end), (s, e)| (count + 1, start.min(s), end.max(e)));
        let marks = (marks_hold && count > 1 && end - start <= 1 << LINE_SHIFT).then_some((start, end));
        let covered = |index: usize| Covered { aligned: aligned(index), marked: marks.is_some() };
        groups[first] = Some(RamGroup::First { low, high, align, marks, covered: covered(first) });
        for member in members {
            groups[member] = Some(RamGroup::Member(covered(member)));
        }
    }
    groups
}

/// `inst` is a jump or branch back to its block's start: a loop the
/// compiled function runs in place (see [`super::translator::Translator::loop_back`]).
pub(crate) fn loops_to_start(inst: &Inst) -> bool {
    use crate::decode::Format;
    matches!(inst.op.format(), Format::Branch | Format::Jump) && i64::from(inst.offset) + i64::from(inst.imm) == 0
}
