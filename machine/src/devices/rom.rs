//! Read-only memory: the reset vector and boot data, executable.

use polyhart_iss::memory::AccessContext;

use crate::bus::{Device, DeviceError};

/// A ROM holding fixed bytes; writes are refused.
#[derive(Debug)]
pub struct Rom {
    bytes: Vec<u8>,
}

impl Rom {
    /// A ROM of `size` bytes starting with `contents` (the rest zero).
    /// `contents` longer than `size` is cut.
    pub fn new(contents: &[u8], size: usize) -> Rom {
        let mut bytes = vec![0; size];
        let n = contents.len().min(size);
        bytes[..n].copy_from_slice(&contents[..n]);
        Rom { bytes }
    }
}

impl Device for Rom {
    fn read(&self, _ctx: &AccessContext, offset: u64, size: u8) -> Result<u64, DeviceError> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let bytes = start
            .checked_add(usize::from(size))
            .and_then(|end| self.bytes.get(start..end))
            .ok_or(DeviceError::NoRegister { offset, size })?;
        Ok(bytes.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b)))
    }

    fn write(&self, _ctx: &AccessContext, offset: u64, size: u8, _value: u64) -> Result<(), DeviceError> {
        Err(DeviceError::NoRegister { offset, size })
    }

    fn executable(&self) -> bool {
        true
    }
}
