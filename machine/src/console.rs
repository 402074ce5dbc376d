//! The host side of the guest's console: where UART and HTIF output goes.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long guest output may wait in the buffer before it is pushed to the
/// host: a prompt without a newline (U-Boot's `=> `, a shell's `# `) shows
/// within this, through a pipe too, while bulk output still leaves in large
/// writes.
pub const FLUSH_DELAY: Duration = Duration::from_millis(5);

/// A shared, buffered output stream for guest console bytes: a newline
/// flushes, and bytes left without one are flushed [`FLUSH_DELAY`] after
/// they were written, by a thread of the console's own (started at the
/// first such write, stopped when the console goes).
pub struct Console {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

/// What the console and its flusher thread share.
struct Shared {
    out: Mutex<Output>,
    /// Signalled when bytes are left unflushed, and when the console goes.
    wake: Condvar,
}

struct Output {
    sink: Box<dyn Write + Send>,
    /// When the oldest byte not yet flushed was written.
    pending_since: Option<Instant>,
    /// The console is going: the flusher leaves.
    closing: bool,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Console")
    }
}

impl Console {
    /// A console writing to `out`.
    pub fn new(out: Box<dyn Write + Send>) -> Console {
        let output = Output { sink: out, pending_since: None, closing: false };
        Console {
            shared: Arc::new(Shared { out: Mutex::new(output), wake: Condvar::new() }),
            flusher: Mutex::new(None),
        }
    }

    /// A console writing to the host's standard output.
    pub fn stdout() -> Console {
        Console::new(Box::new(std::io::BufWriter::new(std::io::stdout())))
    }

    /// Writes guest bytes; a newline flushes, and bytes after the last
    /// newline are flushed within [`FLUSH_DELAY`]. A host write error is
    /// dropped: the guest cannot be told, and losing console output must
    /// not stop it.
    pub fn write(&self, bytes: &[u8]) {
        let mut out = self.shared.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.sink.write_all(bytes);
        match bytes.iter().rposition(|&byte| byte == b'\n') {
            Some(last) if last + 1 == bytes.len() => {
                let _ = out.sink.flush();
                out.pending_since = None;
            }
            newline => {
                if newline.is_some() {
                    let _ = out.sink.flush();
                    out.pending_since = None;
                }
                if out.pending_since.is_none() {
                    out.pending_since = Some(Instant::now());
                    drop(out);
                    self.start_flusher();
                    self.shared.wake.notify_one();
                }
            }
        }
    }

    /// Pushes buffered bytes to the host.
    pub fn flush(&self) {
        let mut out = self.shared.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.sink.flush();
        out.pending_since = None;
    }

    /// Starts the thread that flushes bytes left without a newline, once.
    fn start_flusher(&self) {
        let mut flusher = self.flusher.lock().unwrap_or_else(|e| e.into_inner());
        if flusher.is_some() {
            return;
        }
        let shared = self.shared.clone();
        // Without the thread (the host refuses one), bytes without a newline
        // wait for the next newline or an explicit flush, as before.
        *flusher =
            std::thread::Builder::new().name("polyhart-console".into()).spawn(move || shared.flush_when_due()).ok();
    }
}

impl Shared {
    /// The flusher thread: waits for bytes left unflushed, and flushes them
    /// once they are [`FLUSH_DELAY`] old, until the console goes.
    fn flush_when_due(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        while !out.closing {
            out = match out.pending_since {
                None => self.wake.wait(out).unwrap_or_else(|e| e.into_inner()),
                Some(since) => {
                    let waited = since.elapsed();
                    if waited >= FLUSH_DELAY {
                        let _ = out.sink.flush();
                        out.pending_since = None;
                        out
                    } else {
                        self.wake.wait_timeout(out, FLUSH_DELAY - waited).unwrap_or_else(|e| e.into_inner()).0
                    }
                }
            };
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        {
            let mut out = self.shared.out.lock().unwrap_or_else(|e| e.into_inner());
            out.closing = true;
            let _ = out.sink.flush();
        }
        self.shared.wake.notify_all();
        if let Some(flusher) = self.flusher.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = flusher.join();
        }
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
        console.write(b"ab\n");
        assert_eq!(*sink.0.lock().unwrap(), (b"ab\n".to_vec(), 1), "a newline flushes at once");
        console.write(b"c\nd");
        assert_eq!(*sink.0.lock().unwrap(), (b"ab\nc\nd".to_vec(), 2));
        console.flush();
        assert_eq!(sink.0.lock().unwrap().1, 3);
    }

    /// Waits up to two seconds for `sink` to have been flushed `count`
    /// times; the flushes so far.
    fn flushes_after(sink: &FlushCounter, count: usize) -> usize {
        let started = Instant::now();
        while sink.0.lock().unwrap().1 < count && started.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1));
        }
        sink.0.lock().unwrap().1
    }

    /// A prompt shows without a newline: through a pipe, a script waiting
    /// for U-Boot's `=> ` would otherwise wait forever.
    #[test]
    fn a_prompt_without_a_newline_is_flushed_soon() {
        let sink = FlushCounter::default();
        let console = Console::new(Box::new(sink.clone()));
        console.write(b"=> ");
        assert_eq!(flushes_after(&sink, 1), 1, "the prompt was flushed within two seconds");
        // And again for the next one.
        console.write(b"# ");
        assert_eq!(flushes_after(&sink, 2), 2);
        assert_eq!(sink.0.lock().unwrap().0, b"=> # ");
    }

    /// Output byte by byte, as a UART gives it, leaves in few flushes: one
    /// per line, and the deadline's.
    #[test]
    fn bulk_output_is_not_flushed_byte_by_byte() {
        let sink = FlushCounter::default();
        let console = Console::new(Box::new(sink.clone()));
        for _ in 0..10 {
            for &byte in b"a line of console output\n" {
                console.write(&[byte]);
            }
        }
        let text = b"a line of console output\n".repeat(10);
        let (bytes, flushes) = sink.0.lock().unwrap().clone();
        assert_eq!(bytes, text);
        assert!(flushes <= 10 + 10, "{flushes} flushes for 10 lines");
    }

    /// Dropping the console flushes what is left and stops its flusher.
    #[test]
    fn a_console_going_away_flushes() {
        let sink = FlushCounter::default();
        let console = Console::new(Box::new(sink.clone()));
        console.write(b"bye");
        drop(console);
        assert!(sink.0.lock().unwrap().1 >= 1);
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
