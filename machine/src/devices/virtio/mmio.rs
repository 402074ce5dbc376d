//! The virtio-mmio transport, version 2 (virtio 1.2, section 4.2.2): a
//! 4 KiB window of registers through which the driver finds a device,
//! negotiates features, places its queues and notifies them, and one
//! interrupt line. A transport with no device behind it answers with
//! device ID 0, as QEMU's empty slots do, and the driver passes it by.

use std::sync::{Arc, Mutex, MutexGuard};

use polyhart_iss::AccessContext;
use polyhart_iss::snapshot::{Reader, SnapshotError, Writer};
use virtio_queue::{Queue, QueueState, QueueT};
use vm_memory::GuestMemoryMmap;

use super::{DeviceEvents, F_INDIRECT_DESC, F_VERSION_1, Queues, VirtioDevice};
use crate::bus::{Device, DeviceError};
use crate::devices::InterruptLine;
use crate::memory::Dma;

/// Size of the transport's window.
pub const SIZE: u64 = 0x1000;

/// "virt", little-endian.
const MAGIC: u32 = 0x7472_6976;
/// The transport's version: 2, the non-legacy interface.
const VERSION: u32 = 2;
/// The vendor ID it reports: "PHRT".
const VENDOR: u32 = 0x5452_4850;

// Register offsets.
const MAGIC_VALUE: u64 = 0x000;
const VERSION_REG: u64 = 0x004;
const DEVICE_ID: u64 = 0x008;
const VENDOR_ID: u64 = 0x00c;
const DEVICE_FEATURES: u64 = 0x010;
const DEVICE_FEATURES_SEL: u64 = 0x014;
const DRIVER_FEATURES: u64 = 0x020;
const DRIVER_FEATURES_SEL: u64 = 0x024;
const QUEUE_SEL: u64 = 0x030;
const QUEUE_NUM_MAX: u64 = 0x034;
const QUEUE_NUM: u64 = 0x038;
const QUEUE_READY: u64 = 0x044;
const QUEUE_NOTIFY: u64 = 0x050;
const INTERRUPT_STATUS: u64 = 0x060;
const INTERRUPT_ACK: u64 = 0x064;
const STATUS: u64 = 0x070;
const QUEUE_DESC_LOW: u64 = 0x080;
const QUEUE_DESC_HIGH: u64 = 0x084;
const QUEUE_DRIVER_LOW: u64 = 0x090;
const QUEUE_DRIVER_HIGH: u64 = 0x094;
const QUEUE_DEVICE_LOW: u64 = 0x0a0;
const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
const SHM_SEL: u64 = 0x0ac;
const SHM_LEN_LOW: u64 = 0x0b0;
const SHM_LEN_HIGH: u64 = 0x0b4;
const SHM_BASE_LOW: u64 = 0x0b8;
const SHM_BASE_HIGH: u64 = 0x0bc;
const CONFIG_GENERATION: u64 = 0x0fc;
const CONFIG: u64 = 0x100;

// Device status bits (virtio 1.2, section 2.1).
const STATUS_FEATURES_OK: u32 = 8;
const STATUS_DRIVER_OK: u32 = 4;
const STATUS_NEEDS_RESET: u32 = 0x40;

/// Interrupt status: a queue has used buffers.
const INTERRUPT_USED_BUFFER: u32 = 1;

/// A virtio-mmio transport and the device behind it, if any.
pub struct VirtioMmio {
    state: Mutex<Transport>,
    irq: Box<dyn InterruptLine>,
    mapping: Arc<GuestMemoryMmap>,
    dma: Dma,
    /// Itself, for the device's [`DeviceEvents`].
    this: std::sync::Weak<VirtioMmio>,
}

impl std::fmt::Debug for VirtioMmio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("VirtioMmio")
            .field("device_id", &state.device.as_ref().map_or(0, |d| d.device_id()))
            .field("status", &state.status)
            .finish()
    }
}

/// The registers' state.
struct Transport {
    device: Option<Box<dyn VirtioDevice>>,
    queues: Vec<Queue>,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    status: u32,
    interrupt_status: u32,
    config_generation: u32,
}

impl Transport {
    fn device_features(&self) -> u64 {
        self.device.as_ref().map_or(0, |d| d.features() | F_VERSION_1 | F_INDIRECT_DESC)
    }

    fn queue(&mut self) -> Option<&mut Queue> {
        self.queues.get_mut(self.queue_sel as usize)
    }

    /// Back to the state at power on: no features, no queues, no
    /// interrupt.
    fn reset(&mut self) {
        if let Some(device) = &mut self.device {
            device.reset();
        }
        self.queues.iter_mut().for_each(QueueT::reset);
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.status = 0;
        self.interrupt_status = 0;
    }

    /// Sets the low or high half of a 64-bit value selected by `high`.
    fn half(value: u32, high: bool) -> (Option<u32>, Option<u32>) {
        if high { (None, Some(value)) } else { (Some(value), None) }
    }
}

impl VirtioMmio {
    /// A transport for `device` (`None`: an empty slot) interrupting on
    /// `irq`, its device reaching guest RAM through `mapping` (the rings)
    /// and `dma` (the data).
    pub fn new(
        device: Option<Box<dyn VirtioDevice>>,
        irq: impl InterruptLine + 'static,
        mapping: Arc<GuestMemoryMmap>,
        dma: Dma,
    ) -> Arc<VirtioMmio> {
        let queues = device
            .as_ref()
            .map(|d| d.queue_sizes().iter().filter_map(|&size| Queue::new(size).ok()).collect())
            .unwrap_or_default();
        let state = Transport {
            device,
            queues,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            status: 0,
            interrupt_status: 0,
            config_generation: 0,
        };
        Arc::new_cyclic(|this| VirtioMmio {
            state: Mutex::new(state),
            irq: Box::new(irq),
            mapping,
            dma,
            this: this.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Transport> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resets the transport and its device, as a system reset does.
    pub fn reset(&self) {
        let mut state = self.lock();
        state.reset();
        self.irq.set(false);
    }

    /// Whether a device is behind this transport.
    pub fn has_device(&self) -> bool {
        self.lock().device.is_some()
    }

    /// Lets the device serve what its own thread signalled.
    pub(crate) fn poll(&self) {
        let mut state = self.lock();
        if state.status & STATUS_DRIVER_OK == 0 {
            return;
        }
        self.serve(&mut state, |device, queues| device.poll(queues));
    }

    /// Runs `work` on the device and its queues, and interrupts the guest
    /// if buffers were used.
    fn serve(&self, state: &mut Transport, work: impl FnOnce(&mut dyn VirtioDevice, &mut Queues<'_>)) {
        let Transport { device, queues, .. } = state;
        let Some(device) = device else { return };
        let mut queues = Queues::new(queues, &self.mapping, &self.dma);
        work(device.as_mut(), &mut queues);
        if queues.interrupt() {
            state.interrupt_status |= INTERRUPT_USED_BUFFER;
            self.irq.set(true);
        }
    }

    fn write_status(&self, state: &mut Transport, value: u32) {
        if value == 0 {
            state.reset();
            self.irq.set(false);
            return;
        }
        let mut value = value;
        let newly = value & !state.status;
        if newly & STATUS_FEATURES_OK != 0 {
            // The driver may accept only what was offered, and must accept
            // version 1: this transport has no legacy interface.
            let offered = state.device_features();
            if state.driver_features & !offered != 0 || state.driver_features & F_VERSION_1 == 0 {
                value &= !STATUS_FEATURES_OK;
            }
        }
        state.status = value;
        if newly & STATUS_DRIVER_OK != 0 {
            self.activate(state);
        }
    }

    /// Hands the device to the driver, as DRIVER_OK does: checks that its
    /// ready queues lie in RAM, and activates it with the features the
    /// driver accepted.
    fn activate(&self, state: &mut Transport) {
        let features = state.driver_features;
        let events = DeviceEvents { transport: self.this.clone() };
        let mapping = &self.mapping;
        let mut invalid = false;
        for queue in state.queues.iter().filter(|q| q.ready()) {
            invalid |= !queue.is_valid(mapping.as_ref());
        }
        if invalid {
            tracing::warn!("virtio: a queue lies outside RAM; the device needs a reset");
            state.status |= STATUS_NEEDS_RESET;
        }
        if let Some(device) = &mut state.device {
            device.activate(features, events);
        }
    }

    /// Writes the transport's registers, the ID of the device behind it (0
    /// for an empty slot), each queue's size, ring addresses and positions
    /// in its rings, and then the device's own state
    /// ([`VirtioDevice::save`]). The rings themselves are in guest RAM,
    /// which the machine saves.
    pub(crate) fn save(&self, out: &mut Writer) {
        let state = self.lock();
        // Named one by one, so that a new field cannot be forgotten here.
        let Transport {
            device,
            queues,
            device_features_sel,
            driver_features_sel,
            driver_features,
            queue_sel,
            status,
            interrupt_status,
            config_generation,
        } = &*state;
        out.section("virtio-mmio", |out| {
            out.u32(device.as_ref().map_or(0, |d| d.device_id()));
            out.u32(*device_features_sel);
            out.u32(*driver_features_sel);
            out.u64(*driver_features);
            for value in [*queue_sel, *status, *interrupt_status, *config_generation] {
                out.u32(value);
            }
            out.u64(queues.len() as u64);
            for queue in queues {
                // `Queue`'s count of chains used since the last
                // notification check is not in its state: `Queues::push_used`
                // checks after every chain, so it is 0 between requests.
                let QueueState {
                    max_size,
                    next_avail,
                    next_used,
                    event_idx_enabled,
                    size,
                    ready,
                    desc_table,
                    avail_ring,
                    used_ring,
                } = queue.state();
                for value in [max_size, size, next_avail, next_used] {
                    out.u32(u32::from(value));
                }
                out.bool(ready);
                out.bool(event_idx_enabled);
                for address in [desc_table, avail_ring, used_ring] {
                    out.u64(address);
                }
            }
            out.section("virtio-device", |out| {
                if let Some(device) = device {
                    device.save(out);
                }
            });
        });
    }

    /// Reads what [`VirtioMmio::save`] wrote into this transport, whose
    /// device must be of the same kind and configuration
    /// ([`SnapshotError::Mismatch`] if not). The device is reset, restored
    /// ([`VirtioDevice::restore`]) and, if the driver had set it up
    /// (DRIVER_OK), activated again as the driver's write did; the
    /// interrupt line is driven to the restored interrupt status.
    ///
    /// A bad transport part leaves the transport as it was; a bad device
    /// part leaves it reset, as at power on.
    pub(crate) fn restore(&self, input: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let mut input = input.section("virtio-mmio")?;
        let mut state = self.lock();
        let device_id = input.u32()?;
        let ours = state.device.as_ref().map_or(0, |d| d.device_id());
        if device_id != ours {
            return Err(SnapshotError::Mismatch(format!(
                "a virtio-mmio slot held device ID {device_id} when saved, and holds device ID {ours} here"
            )));
        }
        let device_features_sel = input.u32()?;
        let driver_features_sel = input.u32()?;
        let driver_features = input.u64()?;
        let queue_sel = input.u32()?;
        let status = input.u32()?;
        let interrupt_status = input.u32()?;
        let config_generation = input.u32()?;
        if status & STATUS_FEATURES_OK != 0 {
            // What `write_status` lets through: the device may now offer
            // less (another configuration), but version 1 is always needed.
            if driver_features & F_VERSION_1 == 0 {
                return Err(input.invalid(format_args!("features {driver_features:#x} (without VERSION_1)")));
            }
            let offered = state.device_features();
            if driver_features & !offered != 0 {
                return Err(SnapshotError::Mismatch(format!(
                    "the driver of virtio device ID {ours} accepted features {driver_features:#x}, \
                     of which this device does not offer {:#x}",
                    driver_features & !offered
                )));
            }
        }
        let count = input.u64()?;
        if count != state.queues.len() as u64 {
            return Err(SnapshotError::Mismatch(format!(
                "virtio device ID {ours} had {count} queues when saved, and has {} here",
                state.queues.len()
            )));
        }
        let mut queues = Vec::with_capacity(state.queues.len());
        for (index, current) in state.queues.iter().enumerate() {
            let max_size = input.u32()?;
            if max_size != u32::from(current.max_size()) {
                return Err(SnapshotError::Mismatch(format!(
                    "queue {index} of virtio device ID {ours} held at most {max_size} buffers when saved, and holds {} here",
                    current.max_size()
                )));
            }
            let size = ring_index(&mut input, "queue size")?;
            let next_avail = ring_index(&mut input, "available ring position")?;
            let next_used = ring_index(&mut input, "used ring position")?;
            let ready = input.bool()?;
            let event_idx_enabled = input.bool()?;
            let desc_table = input.u64()?;
            let avail_ring = input.u64()?;
            let used_ring = input.u64()?;
            let saved = QueueState {
                max_size: current.max_size(),
                next_avail,
                next_used,
                event_idx_enabled,
                size,
                ready,
                desc_table,
                avail_ring,
                used_ring,
            };
            // Checks what the driver's register writes could never set: a
            // size that is not a power of two or above the maximum, rings
            // out of alignment.
            let queue = Queue::try_from(saved)
                .map_err(|error| input.invalid(format_args!("queue {index} ({error}): {saved:?}")))?;
            queues.push(queue);
        }
        let mut device_input = input.section("virtio-device")?;
        input.finish()?;

        state.reset();
        let device_restored = match &mut state.device {
            Some(device) => device.restore(&mut device_input),
            None => Ok(()),
        };
        if let Err(error) = device_restored.and_then(|()| device_input.finish()) {
            state.reset();
            self.irq.set(false);
            return Err(error);
        }
        let device = state.device.take();
        *state = Transport {
            device,
            queues,
            device_features_sel,
            driver_features_sel,
            driver_features,
            queue_sel,
            status,
            interrupt_status,
            config_generation,
        };
        if status & STATUS_DRIVER_OK != 0 {
            self.activate(&mut state);
        }
        self.irq.set(interrupt_status != 0);
        Ok(())
    }
}

/// Reads a queue's size or ring position, saved as a `u32`.
fn ring_index(input: &mut Reader<'_>, what: &str) -> Result<u16, SnapshotError> {
    let value = input.u32()?;
    u16::try_from(value).map_err(|_| input.invalid(format_args!("{what} {value}")))
}

impl Device for VirtioMmio {
    fn read(&self, _ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
        let state = self.lock();
        if offset >= CONFIG {
            let mut data = [0; 8];
            let Some(bytes) = data.get_mut(..usize::from(size)) else {
                return Err(DeviceError::NoRegister { offset, size });
            };
            if let Some(device) = &state.device {
                device.read_config(offset - CONFIG, bytes);
            }
            return Ok(u64::from_le_bytes(data));
        }
        if size != 4 {
            return Err(DeviceError::NoRegister { offset, size });
        }
        let value = match offset {
            MAGIC_VALUE => MAGIC,
            VERSION_REG => VERSION,
            DEVICE_ID => state.device.as_ref().map_or(0, |d| d.device_id()),
            VENDOR_ID => VENDOR,
            DEVICE_FEATURES => match state.device_features_sel {
                0 => state.device_features() as u32,
                1 => (state.device_features() >> 32) as u32,
                _ => 0,
            },
            QUEUE_NUM_MAX => state.queues.get(state.queue_sel as usize).map_or(0, |q| u32::from(q.max_size())),
            QUEUE_READY => state.queues.get(state.queue_sel as usize).is_some_and(|q| q.ready()).into(),
            INTERRUPT_STATUS => state.interrupt_status,
            STATUS => state.status,
            // No shared memory regions: a length of all ones says so.
            SHM_LEN_LOW | SHM_LEN_HIGH | SHM_BASE_LOW | SHM_BASE_HIGH => u32::MAX,
            CONFIG_GENERATION => state.config_generation,
            // Write-only registers, and the gaps between registers.
            _ => 0,
        };
        Ok(u64::from(value))
    }

    fn write(&self, _ctx: &AccessContext, offset: u64, size: u8, value: u64) -> Result<(), DeviceError> {
        let mut state = self.lock();
        if offset >= CONFIG {
            if size > 8 {
                return Err(DeviceError::NoRegister { offset, size });
            }
            if let Some(device) = &mut state.device {
                device.write_config(offset - CONFIG, &value.to_le_bytes()[..usize::from(size)]);
            }
            return Ok(());
        }
        if size != 4 {
            return Err(DeviceError::NoRegister { offset, size });
        }
        let value = value as u32;
        // Queue registers may change only while the driver sets the device
        // up, before DRIVER_OK (virtio 1.2, section 4.2.2.2).
        let setting_up = state.status & STATUS_DRIVER_OK == 0;
        match offset {
            DEVICE_FEATURES_SEL => state.device_features_sel = value,
            DRIVER_FEATURES_SEL => state.driver_features_sel = value,
            DRIVER_FEATURES if state.status & STATUS_FEATURES_OK == 0 => match state.driver_features_sel {
                0 => state.driver_features = state.driver_features & !0xffff_ffff | u64::from(value),
                1 => state.driver_features = state.driver_features & 0xffff_ffff | u64::from(value) << 32,
                _ => {}
            },
            QUEUE_SEL => state.queue_sel = value,
            QUEUE_NUM if setting_up => {
                if let Some(queue) = state.queue() {
                    queue.set_size(value as u16);
                }
            }
            QUEUE_READY if setting_up || value == 0 => {
                if let Some(queue) = state.queue() {
                    queue.set_ready(value == 1);
                }
            }
            QUEUE_DESC_LOW | QUEUE_DESC_HIGH | QUEUE_DRIVER_LOW | QUEUE_DRIVER_HIGH | QUEUE_DEVICE_LOW
            | QUEUE_DEVICE_HIGH
                if setting_up =>
            {
                let (low, high) = Transport::half(value, offset & 4 != 0);
                if let Some(queue) = state.queue() {
                    match offset & !4 {
                        QUEUE_DESC_LOW => queue.set_desc_table_address(low, high),
                        QUEUE_DRIVER_LOW => queue.set_avail_ring_address(low, high),
                        _ => queue.set_used_ring_address(low, high),
                    }
                }
            }
            QUEUE_NOTIFY => {
                let ready = state.status & (STATUS_DRIVER_OK | STATUS_NEEDS_RESET) == STATUS_DRIVER_OK;
                if ready && (value as usize) < state.queues.len() {
                    self.serve(&mut state, |device, queues| device.notify(value as usize, queues));
                }
            }
            INTERRUPT_ACK => {
                state.interrupt_status &= !value;
                if state.interrupt_status == 0 {
                    self.irq.set(false);
                }
            }
            STATUS => self.write_status(&mut state, value),
            SHM_SEL => {}
            // Read-only registers, registers written at the wrong time,
            // and the gaps between registers: ignored, as QEMU does.
            _ => {}
        }
        Ok(())
    }
}
