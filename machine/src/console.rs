//! The host side of the guest's console: where UART and HTIF output goes.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;

/// A shared, line-buffered output stream for guest console bytes.
pub struct Console {
    out: Mutex<Box<dyn Write + Send>>,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Console")
    }
}

impl Console {
    /// A console writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Console {
        Console { out: Mutex::new(out) }
    }

    /// A console writing to the host's standard output.
    pub fn stdout() -> Console {
        Console::new(Box::new(std::io::BufWriter::new(std::io::stdout())))
    }

    /// Writes guest bytes; a newline flushes. A host write error is dropped:
    /// the guest cannot be told, and losing console output must not stop it.
    pub fn write(&self, bytes: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(bytes);
        if bytes.contains(&b'\n') {
            let _ = out.flush();
        }
    }

    /// Pushes buffered bytes to the host.
    pub fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}
