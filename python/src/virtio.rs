//! The virtio devices a machine can be built with: descriptions, opened
//! when the machine is built.

use std::path::PathBuf;

use polyhart_machine::devices::virtio::{Block as BlockDevice, Entropy, Rng as RngDevice, VirtioDevice};
use pyo3::prelude::*;

use crate::errors::{BuildError, InvalidArgumentError};

/// The virtio-rng seed under `deterministic=True` when the device names
/// none: the one `polyhart run --deterministic` uses.
const DETERMINISTIC_SEED: u64 = 0x706f_6c79_6861_7274;

/// A virtio-blk disk backed by a raw image file (`vda`, `vdb`, ... in
/// Linux), for `Machine(virtio=[...])`. The image is opened and locked
/// when the machine is built; the guest's writes reach the file.
#[pyclass(module = "polyhart", frozen)]
#[derive(Debug)]
pub(crate) struct Block {
    /// The raw image.
    #[pyo3(get)]
    path: PathBuf,
    /// The guest's writes fail instead.
    #[pyo3(get)]
    read_only: bool,
}

#[pymethods]
impl Block {
    #[new]
    #[pyo3(signature = (path, read_only = false))]
    fn new(path: PathBuf, read_only: bool) -> Block {
        Block { path, read_only }
    }

    fn __repr__(&self) -> String {
        format!("Block({:?}, read_only={})", self.path, if self.read_only { "True" } else { "False" })
    }
}

/// A virtio-rng entropy device, for `Machine(virtio=[...])`: the host's
/// entropy, or with `seed` a fixed sequence for runs that repeat exactly
/// (the default under `deterministic=True`).
#[pyclass(module = "polyhart", frozen)]
#[derive(Debug)]
pub(crate) struct Rng {
    /// The seed, if any.
    #[pyo3(get)]
    seed: Option<u64>,
}

#[pymethods]
impl Rng {
    #[new]
    #[pyo3(signature = (seed = None))]
    fn new(seed: Option<u64>) -> Rng {
        Rng { seed }
    }

    fn __repr__(&self) -> String {
        match self.seed {
            Some(seed) => format!("Rng(seed={seed:#x})"),
            None => "Rng()".to_owned(),
        }
    }
}

/// Opens the device `spec` describes (a `Block` or an `Rng`).
pub(crate) fn open(spec: &Bound<'_, PyAny>, deterministic: bool) -> PyResult<Box<dyn VirtioDevice>> {
    if let Ok(block) = spec.cast::<Block>() {
        let block = block.get();
        let device = BlockDevice::open(&block.path, block.read_only)
            .map_err(|e| BuildError::new_err(format!("virtio-blk: {}", crate::machine::message(&e))))?;
        return Ok(Box::new(device));
    }
    if let Ok(rng) = spec.cast::<Rng>() {
        let entropy = match rng.get().seed {
            Some(seed) => Entropy::Seeded(seed),
            None if deterministic => Entropy::Seeded(DETERMINISTIC_SEED),
            None => Entropy::host()
                .map_err(|e| BuildError::new_err(format!("virtio-rng: cannot open /dev/urandom: {e}")))?,
        };
        return Ok(Box::new(RngDevice::new(entropy)));
    }
    Err(InvalidArgumentError::new_err(format!(
        "virtio devices are polyhart.Block or polyhart.Rng, not {}",
        spec.get_type().name()?
    )))
}
