//! An NS16550A UART, as on QEMU's virt machine at 0x1000_0000.
//!
//! Transmission is instantaneous: THR bytes go straight to the [`Console`],
//! so the transmitter is always empty (LSR.THRE and LSR.TEMT set). Received
//! bytes come from the host through [`Uart::receive`] and wait in a FIFO.
//! Whoever feeds it says whether more may come ([`Uart::set_input_open`]),
//! so that the runner knows whether a guest waiting for input can still be
//! woken.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use polyhart_iss::memory::AccessContext;
use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};

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
    input_open: AtomicBool,
}

impl<L: InterruptLine> std::fmt::Debug for Uart<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uart").field("regs", &self.regs).finish()
    }
}

impl<L: InterruptLine> Uart<L> {
    /// A UART that transmits to `console` and signals on `irq`.
    pub fn new(console: Arc<Console>, irq: L) -> Uart<L> {
        Uart { regs: Mutex::new(Registers::default()), console, irq, input_open: AtomicBool::new(false) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registers> {
        self.regs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Back to the reset values of the registers, as a system reset leaves
    /// them: interrupts disabled, FIFOs empty, the line low. Whether the
    /// host's input is open stays as it is.
    pub fn reset(&self) {
        let mut regs = self.lock();
        *regs = Registers::default();
        self.update_irq(&regs);
    }

    /// Writes the registers and the bytes received but not yet read.
    pub(crate) fn save(&self, out: &mut Writer) {
        let regs = self.lock();
        let Registers { ier, lcr, mcr, scr, fcr, divisor, thr_empty_pending, rx } = &*regs;
        out.section("uart", |out| {
            [*ier, *lcr, *mcr, *scr, *fcr].into_iter().for_each(|byte| out.u8(byte));
            out.u32(u32::from(*divisor));
            out.bool(*thr_empty_pending);
            out.bytes(&rx.iter().copied().collect::<Vec<u8>>());
        });
    }

    /// Reads what [`Uart::save`] wrote and drives the interrupt line as the
    /// registers say.
    pub(crate) fn restore(&self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut input = input.section("uart")?;
        let (ier, lcr, mcr, scr, fcr) = (input.u8()?, input.u8()?, input.u8()?, input.u8()?, input.u8()?);
        let divisor = input.u32()?;
        let divisor = u16::try_from(divisor).map_err(|_| input.invalid(format_args!("divisor {divisor}")))?;
        let thr_empty_pending = input.bool()?;
        let rx = input.bytes()?.iter().copied().collect();
        input.finish()?;
        let mut regs = self.lock();
        *regs = Registers { ier, lcr, mcr, scr, fcr, divisor, thr_empty_pending, rx };
        self.update_irq(&regs);
        Ok(())
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

    /// Says whether the host may still send bytes (closed by default). While
    /// input is open, a machine whose harts all wait for an interrupt waits
    /// on the host for input instead of stopping with
    /// [`StopReason::Deadlock`](crate::runner::StopReason::Deadlock). Close it
    /// after the last [`Uart::receive`].
    pub fn set_input_open(&self, open: bool) {
        self.input_open.store(open, Ordering::Release);
    }

    /// Whether the host may still send bytes.
    pub fn input_open(&self) -> bool {
        self.input_open.load(Ordering::Acquire)
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

impl<L: InterruptLine> crate::replay::InputSink for Uart<L> {
    fn receive(&self, bytes: &[u8]) {
        Uart::receive(self, bytes);
    }

    fn close(&self) {
        self.set_input_open(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::CapturedOutput;

    const CTX: AccessContext = AccessContext { hart_id: 0, cycle: 0 };

    /// An interrupt line that remembers every level it was driven to.
    #[derive(Clone, Default)]
    struct RecordingLine(Arc<Mutex<Vec<bool>>>);

    impl RecordingLine {
        fn level(&self) -> bool {
            self.0.lock().unwrap().last().copied().unwrap_or(false)
        }
    }

    impl InterruptLine for RecordingLine {
        fn set(&self, level: bool) {
            self.0.lock().unwrap().push(level);
        }
    }

    fn uart() -> (Uart<RecordingLine>, CapturedOutput, RecordingLine) {
        let (console, captured) = CapturedOutput::console();
        let line = RecordingLine::default();
        (Uart::new(console, line.clone()), captured, line)
    }

    fn read(uart: &Uart<RecordingLine>, offset: u64) -> u8 {
        let value = uart.read(&CTX, offset, 1).expect("register exists");
        u8::try_from(value).expect("UART registers are 8 bits wide")
    }

    fn write(uart: &Uart<RecordingLine>, offset: u64, value: u8) {
        uart.write(&CTX, offset, 1, u64::from(value)).expect("register exists");
    }

    #[test]
    fn thr_bytes_reach_the_console() {
        let (uart, captured, _) = uart();
        for &b in b"hi\n" {
            write(&uart, RBR_THR_DLL, b);
        }
        // Only the low byte of a wider value is transmitted.
        uart.write(&CTX, RBR_THR_DLL, 4, 0x1234_5621).unwrap();
        assert_eq!(captured.bytes(), b"hi\n!");
    }

    #[test]
    fn lsr_shows_an_idle_transmitter_and_received_data() {
        let (uart, _, _) = uart();
        assert_eq!(read(&uart, LSR), 0x60, "THRE | TEMT, no data");
        uart.receive(b"xy");
        assert!(uart.has_input());
        assert_eq!(read(&uart, LSR), 0x61, "data ready");
        assert_eq!(read(&uart, RBR_THR_DLL), b'x');
        assert_eq!(read(&uart, LSR), 0x61, "one byte still waits");
        assert_eq!(read(&uart, RBR_THR_DLL), b'y');
        assert_eq!(read(&uart, LSR), 0x60);
        assert!(!uart.has_input());
    }

    #[test]
    fn rbr_returns_received_bytes_in_order_then_zero() {
        let (uart, _, _) = uart();
        uart.receive(b"ab");
        uart.receive(b"c");
        let got: Vec<u8> = (0..3).map(|_| read(&uart, RBR_THR_DLL)).collect();
        assert_eq!(got, b"abc");
        assert_eq!(read(&uart, RBR_THR_DLL), 0, "empty FIFO reads 0");
    }

    #[test]
    fn input_is_closed_until_opened() {
        let (uart, _, _) = uart();
        assert!(!uart.input_open());
        uart.set_input_open(true);
        assert!(uart.input_open());
        uart.set_input_open(false);
        assert!(!uart.input_open());
    }

    #[test]
    fn fifo_reset_drops_received_bytes() {
        let (uart, _, _) = uart();
        uart.receive(b"stale");
        write(&uart, IIR_FCR, 0x01);
        assert!(uart.has_input(), "enabling the FIFO alone keeps the bytes");
        write(&uart, IIR_FCR, 0x03);
        assert!(!uart.has_input());
        assert_eq!(read(&uart, LSR) & LSR_DATA_READY, 0);
    }

    #[test]
    fn divisor_latch_reads_back_and_hides_thr_and_ier() {
        let (uart, captured, _) = uart();
        write(&uart, IER_DLM, 0x05);
        write(&uart, LCR, 0x83);
        write(&uart, RBR_THR_DLL, 0x0c);
        write(&uart, IER_DLM, 0x01);
        assert_eq!(read(&uart, RBR_THR_DLL), 0x0c);
        assert_eq!(read(&uart, IER_DLM), 0x01);
        assert_eq!(read(&uart, LCR), 0x83);
        write(&uart, LCR, 0x03);
        assert_eq!(read(&uart, IER_DLM), 0x05, "IER kept its value under the latch");
        assert!(captured.bytes().is_empty(), "a divisor write is not a transmitted byte");
        uart.receive(b"z");
        assert_eq!(read(&uart, RBR_THR_DLL), b'z');
        write(&uart, LCR, 0x83);
        assert_eq!(read(&uart, RBR_THR_DLL), 0x0c, "the latch survives DLAB going off and on");
    }

    #[test]
    fn iir_with_no_interrupt_and_with_the_fifo() {
        let (uart, _, line) = uart();
        assert_eq!(read(&uart, IIR_FCR), 0x01);
        write(&uart, IIR_FCR, 0x07);
        assert_eq!(read(&uart, IIR_FCR), 0xc1);
        // Data waits but its interrupt is disabled.
        uart.receive(b"q");
        assert_eq!(read(&uart, IIR_FCR), 0xc1);
        assert!(!line.level());
    }

    #[test]
    fn thr_empty_interrupt_is_raised_by_enabling_it_and_cleared_by_reading_iir() {
        let (uart, _, line) = uart();
        write(&uart, IER_DLM, IER_THR_EMPTY);
        assert!(line.level(), "line raised when the interrupt is enabled");
        assert_eq!(read(&uart, IIR_FCR), 0x02);
        assert!(!line.level(), "reading IIR acknowledged it");
        assert_eq!(read(&uart, IIR_FCR), 0x01);
        // Each transmitted byte empties the transmitter again.
        write(&uart, RBR_THR_DLL, b'.');
        assert!(line.level());
        assert_eq!(read(&uart, IIR_FCR), 0x02);
        assert_eq!(read(&uart, IIR_FCR), 0x01);
        // Disabling it lowers the line even with an interrupt owed.
        write(&uart, RBR_THR_DLL, b'.');
        assert!(line.level());
        write(&uart, IER_DLM, 0);
        assert!(!line.level());
        assert_eq!(read(&uart, IIR_FCR), 0x01);
    }

    #[test]
    fn received_data_interrupt_lasts_until_the_fifo_is_empty() {
        let (uart, _, line) = uart();
        write(&uart, IER_DLM, IER_RECEIVED);
        assert!(!line.level());
        assert_eq!(read(&uart, IIR_FCR), 0x01);
        uart.receive(b"ok");
        assert!(line.level());
        assert_eq!(read(&uart, IIR_FCR), 0x04);
        assert_eq!(read(&uart, IIR_FCR), 0x04, "reading IIR does not acknowledge received data");
        read(&uart, RBR_THR_DLL);
        assert!(line.level());
        read(&uart, RBR_THR_DLL);
        assert!(!line.level());
        assert_eq!(read(&uart, IIR_FCR), 0x01);
    }

    #[test]
    fn received_data_outranks_thr_empty() {
        let (uart, _, line) = uart();
        write(&uart, IER_DLM, IER_RECEIVED | IER_THR_EMPTY);
        uart.receive(b"!");
        assert_eq!(read(&uart, IIR_FCR), 0x04);
        read(&uart, RBR_THR_DLL);
        assert_eq!(read(&uart, IIR_FCR), 0x02, "the THR-empty interrupt was still owed");
        assert!(!line.level());
    }

    #[test]
    fn ier_mcr_msr_scr() {
        let (uart, _, _) = uart();
        write(&uart, IER_DLM, 0xff);
        assert_eq!(read(&uart, IER_DLM), 0x0f, "only the four defined enables");
        write(&uart, MCR, 0xff);
        assert_eq!(read(&uart, MCR), 0x1f);
        assert_eq!(read(&uart, MSR), 0xb0);
        write(&uart, MSR, 0);
        write(&uart, LSR, 0);
        assert_eq!(read(&uart, MSR), 0xb0, "MSR is read-only");
        assert_eq!(read(&uart, LSR), 0x60, "LSR is read-only");
        for value in [0x00, 0x5a, 0xa5, 0xff] {
            write(&uart, SCR, value);
            assert_eq!(read(&uart, SCR), value);
        }
    }

    #[test]
    fn offsets_beyond_the_registers_are_refused() {
        let (uart, captured, _) = uart();
        for offset in [8, 9, 0x10, 0xff, u64::MAX] {
            assert_eq!(uart.read(&CTX, offset, 1), Err(DeviceError::NoRegister { offset, size: 1 }));
            assert_eq!(uart.write(&CTX, offset, 1, 0x41), Err(DeviceError::NoRegister { offset, size: 1 }));
        }
        assert!(captured.bytes().is_empty());
    }

    #[test]
    fn a_reset_empties_the_fifo_and_lowers_the_line() {
        let (uart, _, line) = uart();
        write(&uart, IER_DLM, IER_RECEIVED);
        uart.receive(b"typed before the reset");
        assert!(line.level());
        uart.reset();
        assert!(!line.level());
        assert!(!uart.has_input());
        assert_eq!(read(&uart, IER_DLM), 0);
        assert_eq!(read(&uart, LSR), 0x60);
    }
}
