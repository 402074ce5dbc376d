//! An NS16550A UART, as on QEMU's virt machine at 0x1000_0000.
//!
//! Transmission is instantaneous: THR bytes go straight to the [`Console`],
//! so the transmitter is always empty (LSR.THRE and LSR.TEMT set). Received
//! bytes come from the host through [`Uart::receive`] and wait in a FIFO.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use polyhart_iss::memory::AccessContext;

use crate::bus::{Device, DeviceError};
use crate::console::Console;
use crate::devices::InterruptLine;

const RBR_THR_DLL: u64 = 0;
const IER_DLM: u64 = 1;
const IIR_FCR: u64 = 2;
const LCR: u64 = 3;
const MCR: u64 = 4;
const LSR: u64 = 5;
const MSR: u64 = 6;
const SCR: u64 = 7;

const LCR_DLAB: u8 = 0x80;
const IER_RECEIVED: u8 = 0x01;
const IER_THR_EMPTY: u8 = 0x02;
const IIR_NONE: u8 = 0x01;
const IIR_THR_EMPTY: u8 = 0x02;
const IIR_RECEIVED: u8 = 0x04;
const IIR_FIFO_ENABLED: u8 = 0xc0;
const LSR_DATA_READY: u8 = 0x01;
const LSR_THR_EMPTY: u8 = 0x20;
const LSR_TRANSMITTER_EMPTY: u8 = 0x40;
/// Carrier detect, data set ready, clear to send: a cable is plugged in.
const MSR_IDLE: u8 = 0xb0;

#[derive(Debug, Default)]
struct Registers {
    ier: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    fcr: u8,
    divisor: u16,
    /// A THR-empty interrupt is owed: set when the transmitter empties while
    /// the interrupt is enabled, cleared by reading IIR or writing THR.
    thr_empty_pending: bool,
    rx: VecDeque<u8>,
}

impl Registers {
    fn iir(&self) -> u8 {
        let fifo = if self.fcr & 1 != 0 { IIR_FIFO_ENABLED } else { 0 };
        let cause = if self.ier & IER_RECEIVED != 0 && !self.rx.is_empty() {
            IIR_RECEIVED
        } else if self.ier & IER_THR_EMPTY != 0 && self.thr_empty_pending {
            IIR_THR_EMPTY
        } else {
            IIR_NONE
        };
        fifo | cause
    }
}

/// The UART.
pub struct Uart<L: InterruptLine> {
    regs: Mutex<Registers>,
    console: Arc<Console>,
    irq: L,
}

impl<L: InterruptLine> std::fmt::Debug for Uart<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uart").field("regs", &self.regs).finish()
    }
}

impl<L: InterruptLine> Uart<L> {
    /// A UART that transmits to `console` and signals on `irq`.
    pub fn new(console: Arc<Console>, irq: L) -> Uart<L> {
        Uart { regs: Mutex::new(Registers::default()), console, irq }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registers> {
        self.regs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues bytes the host sends to the guest.
    pub fn receive(&self, bytes: &[u8]) {
        let mut regs = self.lock();
        regs.rx.extend(bytes);
        self.update_irq(&regs);
    }

    /// Whether received bytes wait to be read.
    pub fn has_input(&self) -> bool {
        !self.lock().rx.is_empty()
    }

    fn update_irq(&self, regs: &Registers) {
        self.irq.set(regs.iir() & IIR_NONE == 0);
    }
}

impl<L: InterruptLine> Device for Uart<L> {
    fn read(&self, _ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
        let mut regs = self.lock();
        let dlab = regs.lcr & LCR_DLAB != 0;
        let value = match offset {
            RBR_THR_DLL if dlab => regs.divisor as u8,
            RBR_THR_DLL => regs.rx.pop_front().unwrap_or(0),
            IER_DLM if dlab => (regs.divisor >> 8) as u8,
            IER_DLM => regs.ier,
            IIR_FCR => {
                let iir = regs.iir();
                if iir & 0x0f == IIR_THR_EMPTY {
                    regs.thr_empty_pending = false;
                }
                iir
            }
            LCR => regs.lcr,
            MCR => regs.mcr,
            LSR => {
                let ready = if regs.rx.is_empty() { 0 } else { LSR_DATA_READY };
                ready | LSR_THR_EMPTY | LSR_TRANSMITTER_EMPTY
            }
            MSR => MSR_IDLE,
            SCR => regs.scr,
            _ => return Err(DeviceError::NoRegister { offset, size }),
        };
        self.update_irq(&regs);
        Ok(u64::from(value))
    }

    fn write(&self, _ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
        let mut regs = self.lock();
        let dlab = regs.lcr & LCR_DLAB != 0;
        let byte = value as u8;
        match offset {
            RBR_THR_DLL if dlab => regs.divisor = (regs.divisor & 0xff00) | u16::from(byte),
            RBR_THR_DLL => {
                self.console.write(&[byte]);
                // The byte left at once: the transmitter is empty again.
                regs.thr_empty_pending = true;
            }
            IER_DLM if dlab => regs.divisor = (regs.divisor & 0x00ff) | u16::from(byte) << 8,
            IER_DLM => {
                let enabling_thre = byte & IER_THR_EMPTY != 0 && regs.ier & IER_THR_EMPTY == 0;
                regs.ier = byte & 0x0f;
                if enabling_thre {
                    regs.thr_empty_pending = true;
                }
            }
            IIR_FCR => {
                regs.fcr = byte;
                if byte & 0x02 != 0 {
                    regs.rx.clear();
                }
            }
            LCR => regs.lcr = byte,
            MCR => regs.mcr = byte & 0x1f,
            LSR | MSR => {}
            SCR => regs.scr = byte,
            _ => return Err(DeviceError::NoRegister { offset, size }),
        }
        self.update_irq(&regs);
        Ok(())
    }
}
