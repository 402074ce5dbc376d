//! The translation cache: decoded blocks shared by all harts of a machine.
//!
//! Blocks are keyed by guest physical address. Each hart keeps a small
//! direct-mapped [`JumpCache`] in front of the shared cache, so the common
//! lookup takes no lock and touches no shared cache line. Behind it, a
//! shared direct-mapped index of `arc-swap` slots answers most other
//! lookups without a lock too. The blocks themselves live in shards by page,
//! each behind its own lock, so harts translating different pages do not
//! contend; the index is only a published view of them.
//!
//! Invalidation works per physical page: a store to a page that holds
//! translated code marks every block of that page invalid and removes it from
//! its shard. Harts notice through the block's `valid` flag on their next
//! lookup; a block a hart is executing stays alive through its `Arc` until the
//! hart lets go of it, so no hart ever runs freed code. The JIT invalidates
//! the blocks it compiled when it retires their code (see
//! [`crate::jit::JitConfig::code_limit`]); those stay in their shard until a
//! new translation of the same address replaces them.

use std::collections::HashMap;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arc_swap::ArcSwapOption;

use crate::decode::Inst;
use crate::memory::PAGE_SHIFT;
use crate::plugin::hooks::Hooks;

/// A compiled block: the address of a function of the hart's
/// [`crate::cpu::Cpu`] (with its frame filled in), which returns a
/// [`crate::jit`] exit status. It is in Cranelift's `tail` calling
/// convention, so that one block can jump to the next, and Rust enters it
/// only through `Jit::enter`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockCode(pub(crate) NonNull<u8>);

// SAFETY: the address of finalized code, never changed; threads share it
// as a number. The code is freed only once no hart can run it (see
// `jit::HartEpoch`).
unsafe impl Send for BlockCode {}
// SAFETY: as for `Send`.
unsafe impl Sync for BlockCode {}

/// What a translation depends on besides the code bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockKey {
    /// Guest physical address of the first instruction.
    pub pc: u64,
    /// Translation-affecting hart state (reserved: no mode changes how
    /// polyhart decodes yet, so it is 0).
    pub mode: u32,
    /// For a block whose one instruction straddles two pages: the guest
    /// physical address of its second half (the start of another page,
    /// which the virtual next page maps to in the address space it was
    /// fetched in). Such a block is filed under both pages, so a store to
    /// either invalidates it.
    pub second_half: Option<u64>,
}

impl BlockKey {
    /// The key of a block at physical address `pc` that lies in one page.
    pub fn at(pc: u64) -> BlockKey {
        BlockKey { pc, mode: 0, second_half: None }
    }

    fn page(&self) -> u64 {
        self.pc >> PAGE_SHIFT
    }

    /// The other page a straddling block is filed under.
    fn second_page(&self) -> Option<u64> {
        self.second_half.map(|addr| addr >> PAGE_SHIFT)
    }
}

/// A basic block: straight-line instructions decoded once, ending at the
/// first control transfer or system instruction, a page boundary, or the
/// length limit.
pub struct Block {
    /// Where the block was found.
    pub key: BlockKey,
    /// The instructions, in the form the interpreter executes: a destination
    /// register of `x0` is redirected to a scratch slot so that no write needs a
    /// check.
    pub insts: Box<[Inst]>,
    /// The code bytes the instructions were decoded from, when they are in
    /// RAM (empty otherwise): what `fence.i` checks a block against.
    pub code: Box<[u8]>,
    /// Taken from the cache before the code was read ([`Ticket`]): orders
    /// the block's reading against a hart's `fence.i`.
    pub serial: u64,
    valid: AtomicBool,
    /// Interpreted runs so far (the JIT compiles a block once it is hot).
    pub(crate) heat: AtomicU32,
    /// The JIT's verdict once it looked: compiled code, or `None` when it
    /// cannot compile the block.
    pub(crate) compiled: OnceLock<Option<BlockCode>>,
    /// The compiled code's address while the block is valid, else 0: what
    /// compiled code reads to chain to this block.
    pub(crate) host_code: AtomicUsize,
    /// What the installed plugins planned for the block (none without
    /// plugins).
    hooks: Option<Box<Hooks>>,
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("pc", &format_args!("{:#x}", self.key.pc))
            .field("insts", &self.insts.len())
            .field("valid", &self.is_valid())
            .finish()
    }
}

impl Block {
    /// A block of decoded instructions, with the RAM bytes they came from
    /// (empty if not from RAM).
    pub fn new(key: BlockKey, insts: Box<[Inst]>, code: Box<[u8]>) -> Block {
        Block {
            key,
            insts,
            code,
            serial: 0,
            valid: AtomicBool::new(true),
            heat: AtomicU32::new(0),
            compiled: OnceLock::new(),
            host_code: AtomicUsize::new(0),
            hooks: None,
        }
    }

    /// The block with the plugins' plans for it.
    pub(crate) fn with_hooks(self, hooks: Option<Box<Hooks>>) -> Block {
        Block { hooks, ..self }
    }

    /// What the installed plugins planned for the block.
    #[inline(always)]
    pub(crate) fn hooks(&self) -> Option<&Hooks> {
        self.hooks.as_deref()
    }

    /// Marks the block as no longer matching its code: lookups skip it and
    /// compiled code no longer chains to it.
    pub(crate) fn invalidate(&self) {
        self.valid.store(false, Ordering::SeqCst);
        self.host_code.store(0, Ordering::SeqCst);
    }

    /// Makes compiled code at `address` reachable for chaining, unless the
    /// block is invalid. Racing an invalidation, whichever of the two stores
    /// to `host_code` comes last leaves 0: each side stores, then the other side's
    /// flag is looked at, and SeqCst keeps the store before the load.
    pub(crate) fn set_code(&self, address: usize) {
        self.host_code.store(address, Ordering::SeqCst);
        if !self.valid.load(Ordering::SeqCst) {
            self.host_code.store(0, Ordering::SeqCst);
        }
    }

    /// False once the code it was decoded from may have changed.
    #[inline(always)]
    pub fn is_valid(&self) -> bool {
        self.valid.load(Ordering::Acquire)
    }

    /// As [`Block::is_valid`], ordered with the other sequentially
    /// consistent accesses (see [`crate::jit::Jit::pin`]).
    pub(crate) fn is_valid_now(&self) -> bool {
        self.valid.load(Ordering::SeqCst)
    }

    /// Size of the block's code in bytes.
    pub fn code_size(&self) -> u64 {
        self.insts.iter().map(|i| u64::from(i.len)).sum()
    }
}

const SHARDS: usize = 16;

/// log2 of the number of slots in the lock-free index.
const INDEX_BITS: u32 = 14;
const INDEX_SLOTS: usize = 1 << INDEX_BITS;

#[derive(Default)]
struct Shard {
    pages: HashMap<u64, HashMap<BlockKey, Arc<Block>>>,
    /// Bumped by every invalidation in this shard, so a translation that read
    /// code before an invalidation cannot be published after it.
    generation: u64,
}

/// Counters of one cache, summed over all harts.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Blocks inserted.
    pub blocks_inserted: u64,
    /// Blocks invalidated by stores to code pages or flushes.
    pub blocks_invalidated: u64,
}

/// The translation cache shared by all harts of one machine.
pub struct TranslationCache {
    shards: Box<[Mutex<Shard>]>,
    /// Lock-free view for lookups: each slot holds the block last published
    /// for a key that hashes there (or one since invalidated, which lookups
    /// skip).
    index: Box<[ArcSwapOption<Block>]>,
    /// The next translation's serial number.
    serial: AtomicU64,
    inserted: AtomicU64,
    invalidated: AtomicU64,
}

impl fmt::Debug for TranslationCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TranslationCache").field("stats", &self.stats()).finish()
    }
}

impl Default for TranslationCache {
    fn default() -> Self {
        TranslationCache::new()
    }
}

/// A ticket from [`TranslationCache::begin`]: proof of the shard's generation
/// before the code was read.
#[derive(Copy, Clone, Debug)]
pub struct Ticket {
    generation: u64,
    /// The generation of the second page's shard, for a straddling block.
    second_generation: u64,
    serial: u64,
}

impl TranslationCache {
    /// An empty cache.
    pub fn new() -> TranslationCache {
        TranslationCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            index: (0..INDEX_SLOTS).map(|_| ArcSwapOption::empty()).collect(),
            serial: AtomicU64::new(1),
            inserted: AtomicU64::new(0),
            invalidated: AtomicU64::new(0),
        }
    }

    fn shard(&self, page: u64) -> MutexGuard<'_, Shard> {
        let index = (page.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60) as usize % SHARDS;
        // A poisoned shard only means another hart panicked mid-update of a
        // map whose every state is consistent; keep using it.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn index_slot(&self, key: &BlockKey) -> &ArcSwapOption<Block> {
        let hash = (key.pc >> 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(key.mode);
        &self.index[(hash >> (64 - INDEX_BITS)) as usize]
    }

    /// Finds a valid block: in the lock-free index if it is there, else in
    /// its shard (and then publishes it in the index).
    pub fn lookup(&self, key: &BlockKey) -> Option<Arc<Block>> {
        let slot = self.index_slot(key);
        if let Some(block) = slot.load_full()
            && block.key == *key
            && block.is_valid()
        {
            return Some(block);
        }
        let block = self.shard(key.page()).pages.get(&key.page())?.get(key).filter(|b| b.is_valid()).cloned()?;
        slot.store(Some(block.clone()));
        Some(block)
    }

    /// Call before reading the code of a block at `key`; pass the ticket to
    /// [`TranslationCache::insert`].
    pub fn begin(&self, key: &BlockKey) -> Ticket {
        let generation = self.shard(key.page()).generation;
        let second_generation = key.second_page().map_or(0, |page| self.shard(page).generation);
        Ticket { generation, second_generation, serial: self.serial.fetch_add(1, Ordering::AcqRel) }
    }

    /// The serial number the next translation will get: every block with a
    /// smaller one read its code before this call.
    pub fn next_serial(&self) -> u64 {
        self.serial.load(Ordering::Acquire)
    }

    /// Publishes a block, unless its page (or either of its pages) was
    /// invalidated since `ticket` was taken, or another hart published a
    /// valid one for the same key first; returns the block to execute either
    /// way.
    pub fn insert(&self, mut block: Block, ticket: Ticket) -> Arc<Block> {
        block.serial = ticket.serial;
        let key = block.key;
        let block = Arc::new(block);
        // A straddling block is filed under its second page first, then
        // under its first, one shard locked at a time. An invalidation of
        // the second page after the first step finds it there; one of the
        // first page before the second step shows in the generation; either
        // way the block ends invalid.
        if let Some(page) = key.second_page() {
            let mut shard = self.shard(page);
            if shard.generation != ticket.second_generation {
                block.invalidate();
                return block;
            }
            shard.pages.entry(page).or_default().insert(key, block.clone());
        }
        let mut shard = self.shard(key.page());
        if shard.generation != ticket.generation {
            block.invalidate();
            return block;
        }
        let blocks = shard.pages.entry(key.page()).or_default();
        if let Some(existing) = blocks.get(&key)
            && existing.is_valid()
        {
            return existing.clone();
        }
        blocks.insert(key, block.clone());
        self.index_slot(&key).store(Some(block.clone()));
        self.inserted.fetch_add(1, Ordering::Relaxed);
        block
    }

    /// Invalidates every block with code in guest physical page `page`
    /// (address >> 12). Returns how many were dropped.
    pub fn invalidate_page(&self, page: u64) -> usize {
        let mut shard = self.shard(page);
        shard.generation += 1;
        let Some(blocks) = shard.pages.remove(&page) else {
            return 0;
        };
        for block in blocks.values() {
            block.invalidate();
        }
        self.invalidated.fetch_add(blocks.len() as u64, Ordering::Relaxed);
        blocks.len()
    }

    /// Invalidates everything.
    pub fn flush(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.generation += 1;
            for (_, blocks) in shard.pages.drain() {
                for block in blocks.values() {
                    block.invalidate();
                }
                self.invalidated.fetch_add(blocks.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            blocks_inserted: self.inserted.load(Ordering::Relaxed),
            blocks_invalidated: self.invalidated.load(Ordering::Relaxed),
        }
    }
}

const JUMP_CACHE_ENTRIES: usize = 16384;

/// A hart's private, direct-mapped cache of recently executed blocks, keyed by
/// the address the hart fetched from.
///
/// Harts clear it at every change of address space, and forget the slots of
/// one page-table leaf at an `sfence.vma` for an address in it
/// ([`JumpCache::forget`]). Clearing empties the slots filled since the last
/// clear, which the cache lists as it fills them: a cost paid once per fill,
/// and a lookup (compiled code's above all) compares only the tag.
///
/// Compiled code probes it too, to chain to the next block without going
/// back to the run loop; the fields it reads are at the offsets
/// `JumpCache::layout` gives.
pub struct JumpCache {
    slots: Box<[Slot]>,
    /// The address of `slots[0]`, for compiled code.
    base: usize,
    /// The slots filled since the last clear.
    filled: Vec<u16>,
}

/// One entry of a [`JumpCache`] (32 bytes: compiled code finds it by a
/// shift).
#[repr(align(32))]
struct Slot {
    /// The pc the block was entered at; [`EMPTY_TAG`] (odd, so no pc) when
    /// the slot is empty.
    tag: u64,
    /// `block`'s address, for compiled code.
    block_address: usize,
    /// The block; empty slots hold an invalid placeholder, so that every
    /// slot holds one.
    block: Arc<Block>,
    /// The size of the page-table leaf the fetch went through (the larger
    /// of two for a straddling instruction), 0 for a fetch no page table
    /// translated: what [`JumpCache::forget`] looks at.
    span: u64,
}

/// Where compiled code finds what it reads of a [`JumpCache`] and its
/// blocks: byte offsets, and the slot size and index mask.
#[derive(Copy, Clone, Debug)]
pub(crate) struct JumpCacheLayout {
    pub(crate) slot_shift: u32,
    pub(crate) index_mask: u64,
    pub(crate) slot_tag: i32,
    pub(crate) slot_block: i32,
    pub(crate) block_code: i32,
}

const EMPTY_TAG: u64 = 1;

impl fmt::Debug for JumpCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JumpCache").field("occupied", &self.filled.len()).finish()
    }
}

impl Default for JumpCache {
    fn default() -> Self {
        JumpCache::new()
    }
}

impl JumpCache {
    /// An empty jump cache.
    pub fn new() -> JumpCache {
        let placeholder = Arc::new(Block::new(BlockKey::at(EMPTY_TAG), Box::new([]), Box::new([])));
        placeholder.invalidate();
        let slots: Box<[Slot]> = (0..JUMP_CACHE_ENTRIES)
            .map(|_| Slot {
                tag: EMPTY_TAG,
                block_address: Arc::as_ptr(&placeholder) as usize,
                block: placeholder.clone(),
                span: 0,
            })
            .collect();
        let base = slots.as_ptr() as usize;
        const { assert!(JUMP_CACHE_ENTRIES <= 1 << 16, "slot indices are listed as u16") };
        JumpCache { slots, base, filled: Vec::with_capacity(JUMP_CACHE_ENTRIES) }
    }

    /// The offsets compiled code reads at.
    pub(crate) fn layout() -> JumpCacheLayout {
        let slot_size = std::mem::size_of::<Slot>();
        assert!(slot_size.is_power_of_two(), "a slot is found by a shift");
        JumpCacheLayout {
            slot_shift: slot_size.trailing_zeros(),
            index_mask: (JUMP_CACHE_ENTRIES - 1) as u64,
            slot_tag: std::mem::offset_of!(Slot, tag) as i32,
            slot_block: std::mem::offset_of!(Slot, block_address) as i32,
            block_code: std::mem::offset_of!(Block, host_code) as i32,
        }
    }

    /// The address of the first slot, for compiled code.
    pub(crate) fn slots_address(&self) -> usize {
        self.base
    }

    /// The slot of `pc`: compiled code computes it as `(pc >> 1) & mask`.
    #[inline(always)]
    fn slot(pc: u64) -> usize {
        ((pc >> 1) as usize) & (JUMP_CACHE_ENTRIES - 1)
    }

    /// The valid block cached for `pc`, if any.
    #[inline(always)]
    pub fn contains(&self, pc: u64) -> bool {
        let slot = &self.slots[Self::slot(pc)];
        slot.tag == pc && slot.block.is_valid()
    }

    /// The block in `pc`'s slot, whatever its tag: after [`JumpCache::put`]
    /// for `pc`, or when [`JumpCache::contains`] said yes, it is `pc`'s block.
    #[inline(always)]
    pub fn slot_block(&self, pc: u64) -> &Arc<Block> {
        &self.slots[Self::slot(pc)].block
    }

    /// Caches `block` for `pc`, fetched through page-table leaves of
    /// `span` bytes (0 when no page table was involved).
    pub fn put(&mut self, pc: u64, block: Arc<Block>, span: u64) {
        let block_address = Arc::as_ptr(&block) as usize;
        let index = Self::slot(pc);
        let slot = &mut self.slots[index];
        if slot.tag == EMPTY_TAG {
            self.filled.push(index as u16);
        }
        slot.tag = pc;
        slot.block_address = block_address;
        slot.block = block;
        slot.span = span;
    }

    /// Forgets the blocks whose fetch went through the page-table leaf
    /// that maps `vaddr` (`sfence.vma` with an address): those entered in
    /// that leaf's range, and a straddling instruction whose second half
    /// is there.
    pub fn forget(&mut self, vaddr: u64) {
        let slots = &mut self.slots;
        self.filled.retain(|&index| {
            let slot = &mut slots[usize::from(index)];
            let covered = |pc: u64| (pc ^ vaddr) < slot.span;
            if covered(slot.tag) || covered(slot.tag.wrapping_add(2)) {
                slot.tag = EMPTY_TAG;
            }
            slot.tag != EMPTY_TAG
        });
    }

    /// Forgets everything (the address space changed). The blocks stay
    /// referenced until their slots are filled again.
    pub fn clear(&mut self) {
        for index in self.filled.drain(..) {
            self.slots[usize::from(index)].tag = EMPTY_TAG;
        }
    }
}
