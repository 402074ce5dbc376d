//! Exceptions raised by Python callbacks while the machine runs.
//!
//! A callback runs deep inside a run, where an exception cannot unwind to
//! the caller. The first one is kept here, the harts are asked to pause,
//! and `run` raises it once they have; later ones are dropped (they most
//! likely follow from the first). A pause, unlike a stop, does not outlive
//! the run: after the exception (Ctrl-C's `KeyboardInterrupt` too) the
//! next run goes on from where the harts paused. `Cosim::advance` carries
//! on through pauses, so there the exception is raised when the advance
//! ends.

use std::sync::{Arc, Mutex, OnceLock};

use polyhart_machine::StopSignal;
use pyo3::PyErr;

/// The first exception a callback raised during the run in progress, and
/// how to stop that run.
#[derive(Debug, Default)]
pub(crate) struct CallbackFailure {
    first: Mutex<Option<PyErr>>,
    /// Set once the machine is built (regions exist before it).
    stop: OnceLock<Arc<StopSignal>>,
}

impl CallbackFailure {
    /// Connects the failure to the built machine's stop signal.
    pub(crate) fn connect(&self, stop: Arc<StopSignal>) {
        let _ = self.stop.set(stop);
    }

    /// Keeps `error` unless an earlier one is kept, and pauses the harts.
    pub(crate) fn record(&self, error: PyErr) {
        self.first.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(error);
        if let Some(stop) = self.stop.get() {
            stop.request_pause();
        }
    }

    /// Takes the kept exception, if any.
    pub(crate) fn take(&self) -> Option<PyErr> {
        self.first.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
