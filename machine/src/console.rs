//! The host side of the guest's console: where UART and HTIF output goes.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

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

/// An in-memory console sink: every byte the guest prints, in order, readable
/// while the machine still holds the writer. Clones share one buffer, so keep
/// a clone and hand the other to the machine.
#[derive(Clone, Debug, Default)]
pub struct CapturedOutput(Arc<Mutex<Vec<u8>>>);

impl CapturedOutput {
    /// A fresh, empty capture.
    pub fn new() -> CapturedOutput {
        CapturedOutput::default()
    }

    /// A console writing into a fresh capture, and the capture.
    pub fn console() -> (Arc<Console>, CapturedOutput) {
        let captured = CapturedOutput::new();
        (Arc::new(Console::new(Box::new(captured.clone()))), captured)
    }

    /// What was written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Write for CapturedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts flushes, to see when the console pushes bytes to the host.
    #[derive(Clone, Default)]
    struct FlushCounter(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for FlushCounter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().0.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.0.lock().unwrap().1 += 1;
            Ok(())
        }
    }

    #[test]
    fn bytes_arrive_in_order_and_a_newline_flushes() {
        let sink = FlushCounter::default();
        let console = Console::new(Box::new(sink.clone()));
        console.write(b"ab");
        console.write(b"c");
        assert_eq!(*sink.0.lock().unwrap(), (b"abc".to_vec(), 0), "no newline yet, so no flush");
        console.write(b"d\ne");
        assert_eq!(*sink.0.lock().unwrap(), (b"abcd\ne".to_vec(), 1));
        console.flush();
        assert_eq!(sink.0.lock().unwrap().1, 2);
    }

    /// A host that refuses output must not stop the guest.
    #[test]
    fn host_write_errors_are_dropped() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("broken pipe"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::other("broken pipe"))
            }
        }
        let console = Console::new(Box::new(Broken));
        console.write(b"lost\n");
        console.flush();
    }
}
