//! The exceptions the package raises: one base class, `PolyhartError`, and
//! a subclass per kind of failure, so that a caller catches what it can
//! handle.

use pyo3::create_exception;
use pyo3::exceptions::PyException;

create_exception!(polyhart, PolyhartError, PyException, "The base class of every error polyhart raises.");
create_exception!(
    polyhart,
    BuildError,
    PolyhartError,
    "The machine could not be built: a bad configuration, an image that cannot be read or loaded, \
     a disk image that cannot be opened."
);
create_exception!(
    polyhart,
    GuestMemoryError,
    PolyhartError,
    "A physical memory access from the host falls (partly) outside guest RAM."
);
create_exception!(
    polyhart,
    InvalidArgumentError,
    PolyhartError,
    "An argument names something the machine does not have: a hart, a register, a CSR, an \
     interrupt line."
);
create_exception!(
    polyhart,
    MachineBusyError,
    PolyhartError,
    "The machine is running (another thread is inside `run`, or the call comes from a callback \
     of the run): only calls that say so work meanwhile."
);
create_exception!(
    polyhart,
    BusError,
    PolyhartError,
    "Raised by an external region's callback to answer the access with an error: the hart \
     takes an access fault and the run goes on."
);
create_exception!(
    polyhart,
    MachinePanicError,
    PolyhartError,
    "polyhart failed inside (a bug): the machine cannot be used any more."
);
create_exception!(
    polyhart,
    SnapshotError,
    PolyhartError,
    "A snapshot cannot be saved, read or restored: a file that cannot be read or written, one that \
     is not a snapshot or is damaged, or a snapshot of a machine built otherwise than the one it is \
     restored into (which is then left as it was)."
);
