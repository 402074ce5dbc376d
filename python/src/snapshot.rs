//! `Snapshot`: a saved machine, kept in memory or opened from a file.

use pyo3::prelude::*;

use crate::errors::SnapshotError;

/// A whole machine saved by `Machine.snapshot()` or `Machine.save_snapshot()`:
/// its harts, devices, simulated time and RAM. `Machine.restore()` makes a
/// machine built the same way (the same harts, RAM, images and devices)
/// this one; RAM is shared copy-on-write, so many machines restore from
/// one snapshot cheaply.
#[pyclass(module = "polyhart", frozen)]
pub(crate) struct Snapshot {
    pub(crate) inner: polyhart_machine::Snapshot,
}

/// The Python exception for a snapshot error.
pub(crate) fn snapshot_error(error: polyhart_machine::SnapshotError) -> PyErr {
    SnapshotError::new_err(error.to_string())
}

/// A `Snapshot`, or the path of a snapshot file, as an argument.
pub(crate) fn snapshot_argument(py: Python<'_>, snapshot: &Bound<'_, PyAny>) -> PyResult<polyhart_machine::Snapshot> {
    match snapshot.cast::<Snapshot>() {
        Ok(snapshot) => Ok(snapshot.get().inner.clone()),
        Err(_) => {
            let path: std::path::PathBuf = snapshot.extract()?;
            py.detach(|| polyhart_machine::Snapshot::open(&path)).map_err(snapshot_error)
        }
    }
}

#[pymethods]
impl Snapshot {
    /// Opens the snapshot saved in the file at `path`, checking its header
    /// and state; raises `SnapshotError` for a file that is not one, is
    /// damaged or cannot be read.
    #[staticmethod]
    fn open(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Snapshot> {
        let inner = py.detach(|| polyhart_machine::Snapshot::open(&path)).map_err(snapshot_error)?;
        Ok(Snapshot { inner })
    }

    /// Writes the snapshot to a file at `path` (pages of zeros as holes),
    /// to open again later or ship to another host.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        py.detach(|| self.inner.write_to(&path)).map_err(snapshot_error)
    }

    /// The guest RAM it holds, in bytes.
    #[getter]
    fn ram_size(&self) -> u64 {
        self.inner.ram_size()
    }

    /// The bytes of everything but RAM (harts and devices).
    #[getter]
    fn state_size(&self) -> usize {
        self.inner.state_size()
    }

    fn __repr__(&self) -> String {
        format!("Snapshot(ram_size={}, state_size={})", self.inner.ram_size(), self.inner.state_size())
    }
}
