//! Where a hart's blocks come from: an instruction fetch translated
//! through the TLB and PMP, the shared translation cache, and the decoding
//! of a basic block into its pre-decoded form, with the check of cached
//! blocks against memory that `fence.i` asks for.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};

use crate::cache::{Block, BlockKey};
use crate::cpu::Cpu;
use crate::decode::{self, Disassembly, Inst};
use crate::env::Env;
use crate::jit::analysis::loops_to_start;
use crate::memory::mmu::Physical;
use crate::memory::pmp::{Access, Pmp};
use crate::memory::{PAGE_SHIFT, PAGE_SIZE};
use crate::plugin::Plugins;
use crate::state::X0_SINK;
use crate::trap::{Exception, Trap};

/// Longest block, in instructions.
const MAX_BLOCK_INSTS: usize = 64;

/// A block [`Fetcher::find_block`] found.
#[derive(Debug)]
pub(crate) enum Found {
    /// One the jump cache may keep, fetched through page-table leaves of
    /// `span` bytes (see [`crate::cache::JumpCache::put`]).
    Cached { block: Arc<Block>, span: u64 },
    /// One to run this once and decode afresh next time.
    Once(Arc<Block>),
}

/// A hart's side of finding blocks: what it knows of its last `fence.i`,
/// and how many blocks it decoded.
#[derive(Debug)]
pub(crate) struct Fetcher {
    /// Blocks with a smaller serial read their code before this hart's last
    /// `fence.i` (see [`Fetcher::checked_since_fence_i`]).
    fence_i_serial: u64,
    /// Blocks compared with memory since that `fence.i`.
    checked: HashSet<BlockKey>,
    /// Blocks this hart decoded.
    pub(crate) translated: u64,
    /// The machine's plugins, which plan for every block translated.
    pub(crate) plugins: Option<Arc<Plugins>>,
}

impl Fetcher {
    /// No `fence.i` yet, nothing decoded.
    pub(crate) fn new() -> Fetcher {
        Fetcher { fence_i_serial: 0, checked: HashSet::new(), translated: 0, plugins: None }
    }

    /// After this hart's `fence.i`: the other harts' stores this hart must
    /// now see are visible, and every block read before this point is
    /// compared with memory before it runs again.
    pub(crate) fn fence_i(&mut self, env: &Env) {
        fence(Ordering::SeqCst);
        self.fence_i_serial = env.cache.next_serial();
        self.checked.clear();
    }

    /// Finds the block at `pc` in the shared cache or translates it, and
    /// says whether it may be cached: a block on a page that PMP entries
    /// split may not, since a cached block (perhaps decoded at another
    /// privilege) may run past what this fetch may execute, nor may a lone
    /// instruction whose second half lies on such a page. Those are decoded
    /// afresh each time they run.
    pub(crate) fn find_block(&mut self, cpu: &mut Cpu, env: &Env, pc: u64) -> Result<Found, Trap> {
        let fetch = translate_fetch(cpu, env, pc)?;
        let physical = fetch.addr;
        let second_half = if fetch.whole_page { straddle(cpu, env, pc, physical)? } else { None };
        let key = BlockKey {
            second_half: second_half.filter(|half| half.whole_page).map(|half| half.addr),
            ..BlockKey::at(physical)
        };
        if !fetch.whole_page || second_half.is_some_and(|half| !half.whole_page) {
            let (insts, code, _) = translate(cpu, env, pc, physical, None, true, self.plugins.is_some())?;
            self.translated += 1;
            return Ok(Found::Once(Arc::new(self.block(key, pc, insts, code))));
        }
        let span = fetch.span.max(second_half.map_or(0, |half| half.span));
        if let Some(block) = env.cache.lookup(&key)
            && self.checked_since_fence_i(env, &block)
        {
            return Ok(Found::Cached { block, span });
        }
        let ticket = env.cache.begin(&key);
        let (insts, code, cacheable) =
            translate(cpu, env, pc, physical, key.second_half, false, self.plugins.is_some())?;
        self.translated += 1;
        let block = self.block(key, pc, insts, code);
        Ok(if cacheable {
            Found::Cached { block: env.cache.insert(block, ticket), span }
        } else {
            Found::Once(Arc::new(block))
        })
    }

    /// The block of `insts` decoded from `code` at `pc`, with what the
    /// installed plugins planned for it.
    fn block(&self, key: BlockKey, pc: u64, insts: Vec<Inst>, code: Vec<u8>) -> Block {
        let hooks = self.plugins.as_ref().map(|plugins| plugins.instrument(pc, key.pc, &insts, &code));
        Block::new(key, insts.into_boxed_slice(), code.into_boxed_slice()).with_hooks(hooks)
    }

    /// Whether `block` may run after this hart's last `fence.i`: blocks
    /// whose code was read before it are compared once with memory; one that
    /// differs has its page invalidated and is translated again.
    ///
    /// Stores invalidate code as they happen, but a store that looked at the
    /// code marks just before another hart marked the line, and landed just
    /// after that hart read it, leaves a stale block behind. RISC-V only
    /// promises a hart the new code after it executes `fence.i` (once the
    /// store is visible to it), and at that point this check catches the
    /// stale block: every block read before the `fence.i` is compared with
    /// what memory holds now, once per `fence.i`.
    fn checked_since_fence_i(&mut self, env: &Env, block: &Block) -> bool {
        if block.serial >= self.fence_i_serial || self.checked.contains(&block.key) {
            return true;
        }
        // A straddling block's code is in two pieces: the first page's last
        // two bytes, and the start of the second page.
        let first_len = if block.key.second_half.is_some() { 2 } else { block.code.len() };
        let (first, second) = block.code.split_at(first_len);
        let same = matches_memory(env, block.key.pc, first)
            && block.key.second_half.is_none_or(|addr| matches_memory(env, addr, second));
        if same {
            self.checked.insert(block.key);
        } else {
            env.cache.invalidate_page(block.key.pc >> PAGE_SHIFT);
        }
        same
    }
}

/// The physical address of an instruction fetch of the parcel at
/// `vaddr`, checked against the page table and PMP unless fetches are
/// plain M-mode ones.
fn translate_fetch(cpu: &mut Cpu, env: &Env, vaddr: u64) -> Result<Physical, Trap> {
    if !cpu.fetch_checked {
        return Ok(Physical { addr: vaddr, whole_page: true, span: 0 });
    }
    let ctx = cpu.arch.fetch_context();
    cpu.tlb.translate(&env.ram, Pmp::new(&cpu.arch.csr), vaddr, 2, Access::Fetch, &ctx)
}

/// Whether RAM at physical address `addr` holds `code`. Code outside RAM
/// is ROM, which does not change.
fn matches_memory(env: &Env, addr: u64, code: &[u8]) -> bool {
    let mut now = vec![0; code.len()];
    match env.ram.offset(addr, now.len() as u64) {
        Some(offset) => env.ram.read_bytes(offset, &mut now) && now[..] == code[..],
        None => true,
    }
}

/// Where the second half of the instruction at `pc` (physical `physical`)
/// is fetched from, when that instruction straddles two pages: only a
/// 32-bit instruction in a page's last two bytes does.
fn straddle(cpu: &mut Cpu, env: &Env, pc: u64, physical: u64) -> Result<Option<Physical>, Trap> {
    if pc & (PAGE_SIZE - 1) != PAGE_SIZE - 2 || decode::instruction_length(fetch_parcel(cpu, env, physical, pc)?) != 4 {
        return Ok(None);
    }
    translate_fetch(cpu, env, pc.wrapping_add(2)).map(Some)
}

/// Reads the 16-bit parcel of code at physical address `addr` (fetched
/// from `vaddr`), marking its RAM line as code first so that a store
/// racing with the read invalidates what is decoded from it.
fn fetch_parcel(cpu: &Cpu, env: &Env, addr: u64, vaddr: u64) -> Result<u16, Trap> {
    let ram = &env.ram;
    match ram.offset(addr, 2) {
        Some(offset) => {
            ram.mark_code(offset);
            Ok(ram.read(offset, 2) as u16)
        }
        None => env
            .bus
            .fetch(&cpu.arch.access_context_at(cpu.arch.retired), addr)
            .map_err(|_| Trap::new(Exception::InstructionAccessFault, vaddr)),
    }
}

/// Decodes the block at virtual address `pc`, physical `physical`,
/// checking each parcel against PMP if `check_parcels` (PMP entries split
/// the page). Returns its instructions, the code bytes they were decoded
/// from, and whether the block may be cached. A 32-bit instruction that
/// straddles two pages is a block of its own; its second half is read at
/// `second_half` when the caller translated the next page already (the
/// block's key then names that page), else through a fetch translation,
/// and then the block may not be cached: it would not be filed under the
/// second page (the code changed after the caller looked at it). With
/// plugins (`instrumented`), a branch back to the block's start ends it.
fn translate(
    cpu: &mut Cpu,
    env: &Env,
    pc: u64,
    physical: u64,
    second_half: Option<u64>,
    check_parcels: bool,
    instrumented: bool,
) -> Result<(Vec<Inst>, Vec<u8>, bool), Trap> {
    let page_end = (pc | (PAGE_SIZE - 1)).wrapping_add(1);
    let mut insts = Vec::new();
    // The bytes decoded, as read (a second read could see newer ones).
    let mut code = Vec::new();
    let mut addr = pc;
    let mut cacheable = true;
    let privilege = cpu.arch.privilege;
    let fetch_on_page = |cpu: &Cpu, addr: u64| {
        let at = physical + (addr - pc);
        if check_parcels && !Pmp::new(&cpu.arch.csr).allows(at, 2, Access::Fetch, privilege) {
            return Err(Access::Fetch.access_fault(addr));
        }
        fetch_parcel(cpu, env, at, addr)
    };
    while insts.len() < MAX_BLOCK_INSTS {
        let low = match fetch_on_page(cpu, addr) {
            Ok(low) => low,
            Err(trap) if insts.is_empty() => return Err(trap),
            Err(_) => break,
        };
        let mut raw = u32::from(low);
        let mut straddles = false;
        if decode::instruction_length(low) == 4 {
            let high_addr = addr.wrapping_add(2);
            straddles = high_addr == page_end;
            if straddles && !insts.is_empty() {
                break;
            }
            let high = match second_half {
                Some(at) if straddles => fetch_parcel(cpu, env, at, high_addr),
                _ if straddles => {
                    cacheable = false;
                    translate_fetch(cpu, env, high_addr).and_then(|p| fetch_parcel(cpu, env, p.addr, high_addr))
                }
                _ => fetch_on_page(cpu, high_addr),
            };
            match high {
                Ok(high) => raw |= u32::from(high) << 16,
                Err(trap) if insts.is_empty() => return Err(trap),
                Err(_) => break,
            }
        }
        let mut inst = decode::decode(raw);
        code.extend(&raw.to_le_bytes()[..usize::from(inst.len)]);
        tracing::trace!(target: "in_asm", "{addr:#018x}: {raw:08x}  {}", Disassembly::new(inst, addr));
        if inst.rd == 0 && !inst.op.format().fp_destination() {
            inst.rd = X0_SINK;
        }
        inst.offset = (addr - pc) as u16;
        addr = addr.wrapping_add(u64::from(inst.len));
        // With plugins, a branch back to the block's start ends it, as it
        // ends a compiled function: the instructions after it are a block
        // of their own in both tiers.
        let ends = inst.op.ends_block() || (instrumented && loops_to_start(&inst));
        insts.push(inst);
        if ends || addr == page_end || straddles || env.breakpoints.contains(addr) {
            break;
        }
    }
    Ok((insts, code, cacheable))
}
