//! Guest console output on its way to Python, and the thread that runs
//! the machine telling the waiting Python thread that it is done.
//!
//! No Python code runs on the machine's threads for the console: the
//! board's console writes into an [`Outbox`], and the thread that called
//! `run` (holding the GIL only between waits) takes the bytes out and hands
//! them to Python. That keeps the console's own locks and flusher thread
//! free of the GIL, so that neither can deadlock with it.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What the machine's threads leave for the Python thread.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Signalled when the console flushes and when a run ends.
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Console bytes not yet handed to Python.
    output: Vec<u8>,
    /// The console flushed since the waiting thread last woke.
    flushed: bool,
    /// The run in progress has ended.
    run_done: bool,
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the console bytes written so far.
    pub(crate) fn take_output(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock().output)
    }

    /// Marks a run as started.
    pub(crate) fn begin_run(&self) {
        self.lock().run_done = false;
    }

    /// Marks the run as ended and wakes the waiting thread.
    pub(crate) fn end_run(&self) {
        self.lock().run_done = true;
        self.wake.notify_all();
    }

    /// Waits up to `timeout` for the console to flush or the run to end;
    /// true once the run has ended.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let mut state = self.lock();
        if !state.run_done && !state.flushed {
            state = self.wake.wait_timeout(state, timeout).unwrap_or_else(|e| e.into_inner()).0;
        }
        state.flushed = false;
        state.run_done
    }
}

/// The board console's sink: appends to the outbox; a flush (the console
/// flushes at a newline, or a few milliseconds after bytes without one)
/// wakes the Python thread to deliver them.
#[derive(Debug)]
pub(crate) struct OutboxWriter(pub(crate) Arc<Outbox>);

impl Write for OutboxWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().flushed = true;
        self.0.wake.notify_all();
        Ok(())
    }
}

/// Ends the run in the outbox when dropped, so that the waiting thread
/// wakes however the run ends (a panic included).
#[derive(Debug)]
pub(crate) struct RunEnd<'a>(pub(crate) &'a Outbox);

impl Drop for RunEnd<'_> {
    fn drop(&mut self) {
        self.0.end_run();
    }
}
