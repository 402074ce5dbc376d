//! External regions served by Python callbacks: the guest's loads, stores
//! and AMOs in a region become [`Transaction`] objects handed to the
//! region's callback, through `polyhart_cosim`'s regions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use polyhart_cosim::{Command, SimTime, Status, Target, Transaction as CosimTransaction};
use pyo3::prelude::*;

use crate::errors::{BusError, InvalidArgumentError};
use crate::failure::CallbackFailure;

/// An address range whose accesses a Python callback serves, for
/// `Machine(regions=[...])`.
///
/// `callback(tx: Transaction) -> int | None` is called for each access, on
/// the thread that called `run` or `advance`, one at a time (an AMO is a
/// read and a write, back to back). For a read it returns the value (or
/// sets `tx.value`); it may add latency to `tx.delay_ps` and set `tx.sync`.
/// Raising `BusError` answers with an error, which the hart takes as an
/// access fault; any other exception also answers with an error, ends the
/// run, and is raised from it.
#[pyclass(module = "polyhart", frozen)]
#[derive(Debug)]
pub(crate) struct Region {
    /// A name for error messages and the device tree.
    #[pyo3(get)]
    pub(crate) name: String,
    /// The first address.
    #[pyo3(get)]
    pub(crate) base: u64,
    /// The size in bytes.
    #[pyo3(get)]
    pub(crate) size: u64,
    pub(crate) callback: Py<PyAny>,
}

#[pymethods]
impl Region {
    #[new]
    fn new(py: Python<'_>, name: String, base: u64, size: u64, callback: Py<PyAny>) -> PyResult<Region> {
        if size == 0 || base.checked_add(size).is_none() {
            return Err(InvalidArgumentError::new_err(format!(
                "region '{name}': [{base:#x}, +{size:#x}) is empty or wraps around the address space"
            )));
        }
        if !callback.bind(py).is_callable() {
            return Err(InvalidArgumentError::new_err(format!(
                "region '{name}': the callback must be callable (it is given a Transaction)"
            )));
        }
        Ok(Region { name, base, size, callback })
    }

    fn __repr__(&self) -> String {
        format!("Region('{}', {:#x}, {:#x})", self.name, self.base, self.size)
    }
}

/// One access to an external region, as its callback sees it.
#[pyclass(module = "polyhart")]
#[derive(Debug)]
pub(crate) struct Transaction {
    /// True for a write, false for a read.
    #[pyo3(get)]
    is_write: bool,
    /// The guest physical address.
    #[pyo3(get)]
    address: u64,
    /// The address less the region's base.
    #[pyo3(get)]
    offset: u64,
    /// Bytes accessed: 1, 2, 4 or 8.
    #[pyo3(get)]
    size: u8,
    /// The `mhartid` of the hart making the access.
    #[pyo3(get)]
    hart: usize,
    /// The data: what a write stores, what a read returns (set it, or
    /// return it from the callback). Only the low `size` bytes count.
    #[pyo3(get, set)]
    value: u64,
    /// How far the hart's local time is ahead of the outside's time, in
    /// picoseconds; add the access's latency to it (it cannot shrink).
    #[pyo3(get, set)]
    delay_ps: u64,
    /// Set to make the hart synchronise: the run or advance in progress
    /// returns (`StopKind.SYNC`) at the hart's local time.
    #[pyo3(get, set)]
    sync: bool,
    /// The simulated time of the access in picoseconds: the outside's time
    /// (where the last advance ended) plus the delay it had on arrival.
    #[pyo3(get)]
    time_ps: u64,
}

#[pymethods]
impl Transaction {
    /// The data as `size` little-endian bytes.
    #[getter]
    fn data(&self) -> Vec<u8> {
        self.value.to_le_bytes()[..usize::from(self.size.min(8))].to_vec()
    }

    fn __repr__(&self) -> String {
        let what = if self.is_write { "write" } else { "read" };
        format!(
            "Transaction({what}, address={:#x}, size={}, value={:#x}, hart={}, delay_ps={})",
            self.address, self.size, self.value, self.hart, self.delay_ps
        )
    }
}

/// A region's target on the Rust side: calls the Python callback.
#[derive(Debug)]
pub(crate) struct PythonTarget {
    pub(crate) base: u64,
    pub(crate) callback: Py<PyAny>,
    pub(crate) failure: Arc<CallbackFailure>,
    /// The outside's time in ps when the run in progress started.
    pub(crate) now: Arc<AtomicU64>,
}

impl PythonTarget {
    fn serve(&self, py: Python<'_>, tx: &mut CosimTransaction) -> PyResult<Status> {
        let size_mask = if tx.size >= 8 { u64::MAX } else { (1u64 << (8 * tx.size)) - 1 };
        let is_write = tx.command == Command::Write;
        let view = Py::new(
            py,
            Transaction {
                is_write,
                address: tx.address,
                offset: tx.address - self.base,
                size: tx.size,
                hart: tx.hart,
                value: if is_write { tx.value() } else { 0 },
                delay_ps: tx.delay.0,
                sync: false,
                time_ps: self.now.load(Ordering::Relaxed).saturating_add(tx.delay.0),
            },
        )?;
        let answer = match self.callback.call1(py, (view.clone_ref(py),)) {
            Ok(answer) => answer,
            Err(error) if error.is_instance_of::<BusError>(py) => return Ok(Status::AddressError),
            Err(error) => return Err(error),
        };
        let view = view.borrow(py);
        if !is_write {
            let value = if answer.is_none(py) { view.value } else { answer.extract::<u64>(py)? };
            tx.set_value(value & size_mask);
        }
        tx.delay = SimTime(view.delay_ps.max(tx.delay.0));
        tx.sync = view.sync;
        Ok(Status::Ok)
    }
}

impl Target for PythonTarget {
    fn transport(&self, tx: &mut CosimTransaction) -> Status {
        Python::attach(|py| match self.serve(py, tx) {
            Ok(status) => status,
            Err(error) => {
                self.failure.record(error);
                Status::GenericError
            }
        })
    }
}
