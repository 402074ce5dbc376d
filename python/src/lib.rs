//! `polyhart-python`: the native module of the `polyhart` Python package
//! (`polyhart._polyhart`), built with pyo3 and maturin.
//!
//! It mirrors the Rust API of `polyhart-machine` and `polyhart-cosim`:
//! a virt machine built from keyword arguments (images, harts, RAM, engine,
//! scheduling, quantum, virtio devices, external regions served by Python
//! callbacks), runs that release the GIL and return why they stopped as a
//! value, hart registers, CSRs and guest memory, and the console as a
//! callback, a stream or a buffer. Errors are Python exceptions under
//! `polyhart.PolyhartError`. The Python side of the package
//! (`python/polyhart/`) re-exports this module and carries its type stubs.
//!
//! ```python
//! import polyhart
//!
//! machine = polyhart.Machine(kernel="tests/guest/hello.elf")
//! reason = machine.run()
//! assert reason.exit_code == 0
//! assert machine.read_console() == b"hello\n"
//! ```
//!
//! Build the wheel with `maturin build --release -m python/Cargo.toml`;
//! `scripts/python-tests.sh` builds it, installs it in a fresh virtual
//! environment and runs the pytest suite in `python/tests`.

#![warn(missing_docs, missing_debug_implementations)]

mod console;
mod errors;
mod failure;
mod machine;
mod region;
mod snapshot;
mod stop;
mod virtio;

use pyo3::prelude::*;

/// The module `polyhart._polyhart`.
#[pymodule]
#[pyo3(name = "_polyhart")]
fn polyhart_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<machine::Machine>()?;
    m.add_class::<stop::StopReason>()?;
    m.add_class::<stop::StopKind>()?;
    m.add_class::<region::Region>()?;
    m.add_class::<region::Transaction>()?;
    m.add_class::<virtio::Block>()?;
    m.add_class::<virtio::Rng>()?;
    m.add_class::<snapshot::Snapshot>()?;
    m.add("PolyhartError", py.get_type::<errors::PolyhartError>())?;
    m.add("BuildError", py.get_type::<errors::BuildError>())?;
    m.add("GuestMemoryError", py.get_type::<errors::GuestMemoryError>())?;
    m.add("InvalidArgumentError", py.get_type::<errors::InvalidArgumentError>())?;
    m.add("MachineBusyError", py.get_type::<errors::MachineBusyError>())?;
    m.add("BusError", py.get_type::<errors::BusError>())?;
    m.add("MachinePanicError", py.get_type::<errors::MachinePanicError>())?;
    m.add("SnapshotError", py.get_type::<errors::SnapshotError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
