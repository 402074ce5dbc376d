//! A compiled block's listing for `-d out_asm`: its guest instructions, then
//! the host code Cranelift made of them, disassembled with `iced-x86` on
//! x86-64 hosts and as bytes elsewhere.

use std::fmt;

use crate::decode::{Disassembly, Inst};
use crate::state::X0_SINK;

/// What `-d out_asm` prints of one block.
pub(super) struct Listing<'a> {
    /// The guest address the block was entered at.
    pub(super) pc: u64,
    pub(super) insts: &'a [Inst],
    /// The host code, where it runs.
    pub(super) host: &'a [u8],
}

impl fmt::Display for Listing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host_address = self.host.as_ptr() as u64;
        writeln!(
            f,
            "block at {:#x}: {} guest instructions, {} bytes of host code at {host_address:#x}",
            self.pc,
            self.insts.len(),
            self.host.len()
        )?;
        for inst in self.insts {
            // Writes to x0 go to a scratch register inside blocks.
            let mut shown = *inst;
            if shown.rd == X0_SINK {
                shown.rd = 0;
            }
            let pc = self.pc.wrapping_add(u64::from(inst.offset));
            writeln!(f, "  {pc:#018x}: {}", Disassembly::new(shown, pc))?;
        }
        writeln!(f, "  --")?;
        host_code(f, self.host, host_address)
    }
}

/// Writes `code`, placed at `address`, one host instruction a line.
#[cfg(target_arch = "x86_64")]
fn host_code(f: &mut fmt::Formatter<'_>, code: &[u8], address: u64) -> fmt::Result {
    use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};

    let mut decoder = Decoder::with_ip(64, code, address, DecoderOptions::NONE);
    let mut formatter = IntelFormatter::new();
    // As the guest disassembly writes numbers and operands.
    let options = formatter.options_mut();
    options.set_hex_prefix("0x");
    options.set_hex_suffix("");
    options.set_uppercase_hex(false);
    options.set_space_after_operand_separator(true);
    let mut instruction = Instruction::default();
    let mut text = String::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut instruction);
        text.clear();
        formatter.format(&instruction, &mut text);
        let start = (instruction.ip() - address) as usize;
        let bytes: String = code[start..start + instruction.len()].iter().map(|b| format!("{b:02x}")).collect();
        writeln!(f, "  {:#018x}: {bytes:<24} {text}", instruction.ip())?;
    }
    Ok(())
}

/// Writes `code`, placed at `address`, as bytes: no disassembler for this
/// host.
#[cfg(not(target_arch = "x86_64"))]
fn host_code(f: &mut fmt::Formatter<'_>, code: &[u8], address: u64) -> fmt::Result {
    for (n, chunk) in code.chunks(16).enumerate() {
        let bytes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(f, "  {:#018x}: {}", address + 16 * n as u64, bytes.join(" "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Op, decode};

    #[test]
    fn a_listing_shows_guest_then_host_code() {
        let mut add = decode(0x00a5_0533); // add a0, a0, a0
        let mut ret = Inst { rs1: 1, ..Inst::new(Op::Jalr, 4) };
        ret.rd = X0_SINK;
        ret.offset = 4;
        add.offset = 0;
        // x86-64: mov rax, rdi; ret.
        let host = [0x48, 0x89, 0xf8, 0xc3];
        let text = Listing { pc: 0x8000_0000, insts: &[add, ret], host: &host }.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("block at 0x80000000: 2 guest instructions, 4 bytes of host code at 0x"),
            "{text}"
        );
        assert_eq!(lines[1], "  0x0000000080000000: add a0, a0, a0");
        assert_eq!(lines[2], "  0x0000000080000004: jalr zero, 0(ra)");
        assert_eq!(lines[3], "  --");
        if cfg!(target_arch = "x86_64") {
            assert!(lines[4].ends_with("4889f8                   mov rax, rdi"), "{text}");
            assert!(lines[5].ends_with("c3                       ret"), "{text}");
        } else {
            assert!(lines[4].ends_with(": 48 89 f8 c3"), "{text}");
        }
    }
}
