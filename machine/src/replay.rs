//! Record and replay of the console's input, the one input from the host
//! that makes a deterministic run differ from the next: the same bytes
//! typed a little later reach the guest in another round.
//!
//! With a [`ConsoleInput`] the host's bytes no longer reach the UART when
//! they arrive. The deterministic runner hands them over at points that
//! depend on simulated time alone ([`crate::Board::deliver_input`]): at the
//! start of each round, and while every hart waits for input. Recording
//! writes each delivery with the simulated time it happened at; replaying
//! reads the file and makes the same deliveries at the same times, so a
//! run repeats bit for bit (output, instruction counts, final state)
//! without the host typing anything. The rest of a `--deterministic` run is
//! deterministic already: the RTC reads simulated time and virtio-rng is
//! seeded.
//!
//! The file is text, one delivery a line, times in cycles of simulated
//! time (the machine's [`crate::Machine::time`] when it happened):
//!
//! ```text
//! polyhart console input 1
//! 1230000 bytes 6c730a
//! 2570000 closed
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

/// The first line of a console-input file.
const HEADER: &str = "polyhart console input 1";

/// One delivery to the UART.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Delivery {
    /// Bytes received.
    Bytes(Vec<u8>),
    /// The host's input ended.
    Closed,
}

/// Recording or replaying.
#[derive(Debug)]
enum Mode {
    Record {
        /// Bytes from the host not delivered yet, and whether it closed.
        pending: Vec<u8>,
        closed: bool,
        /// Whether the close was delivered.
        delivered_close: bool,
        log: BufWriter<File>,
        /// The first write error, reported at the end.
        failed: Option<String>,
    },
    Replay {
        deliveries: VecDeque<(u64, Delivery)>,
    },
}

/// A console-input file that cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// It cannot be read.
    #[error("cannot read the console input '{path}': {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// It is not one.
    #[error("'{path}' line {line}: {what}")]
    Format {
        /// The file.
        path: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        what: String,
    },
}

/// The console's input under record or replay (see the module's
/// documentation).
pub struct ConsoleInput {
    mode: Mutex<Mode>,
}

impl fmt::Debug for ConsoleInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleInput").finish_non_exhaustive()
    }
}

/// What [`ConsoleInput::deliver`] hands to the UART.
pub(crate) trait InputSink {
    /// Bytes received from the host.
    fn receive(&self, bytes: &[u8]);
    /// The host's input ended.
    fn close(&self);
}

impl ConsoleInput {
    /// Records to `path` (created or truncated).
    pub fn record(path: &Path) -> std::io::Result<ConsoleInput> {
        let mut log = BufWriter::new(File::create(path)?);
        writeln!(log, "{HEADER}")?;
        Ok(ConsoleInput {
            mode: Mutex::new(Mode::Record {
                pending: Vec::new(),
                closed: false,
                delivered_close: false,
                log,
                failed: None,
            }),
        })
    }

    /// Replays what `path` recorded.
    pub fn replay(path: &Path) -> Result<ConsoleInput, ReplayError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ReplayError::Read { path: name.clone(), error })?;
        let deliveries = parse(&text).map_err(|(line, what)| ReplayError::Format { path: name, line, what })?;
        Ok(ConsoleInput { mode: Mutex::new(Mode::Replay { deliveries }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mode> {
        self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes from the host: they wait for the next delivery. Ignored when
    /// replaying (the file says what the guest gets).
    pub fn push(&self, bytes: &[u8]) {
        if let Mode::Record { pending, .. } = &mut *self.lock() {
            pending.extend_from_slice(bytes);
        }
    }

    /// The host's input ended.
    pub fn close(&self) {
        if let Mode::Record { closed, .. } = &mut *self.lock() {
            *closed = true;
        }
    }

    /// Whether input may still come: until the close is delivered (a
    /// replay: until the file's close, or its end).
    pub fn open(&self) -> bool {
        match &*self.lock() {
            Mode::Record { delivered_close, .. } => !delivered_close,
            Mode::Replay { deliveries } => deliveries.iter().any(|(_, d)| *d != Delivery::Closed),
        }
    }

    /// Hands `sink` what is due at simulated time `now`: when recording,
    /// what the host sent since the last delivery (and writes it down);
    /// when replaying, what the file delivered at `now` or before.
    pub(crate) fn deliver(&self, now: u64, sink: &dyn InputSink) {
        match &mut *self.lock() {
            Mode::Record { pending, closed, delivered_close, log, failed } => {
                if !pending.is_empty() {
                    let hex = crate::hex::encode(pending);
                    if let Err(error) = writeln!(log, "{now} bytes {hex}") {
                        failed.get_or_insert(error.to_string());
                    }
                    sink.receive(pending);
                    pending.clear();
                }
                if *closed && !*delivered_close {
                    *delivered_close = true;
                    if let Err(error) = writeln!(log, "{now} closed").and_then(|()| log.flush()) {
                        failed.get_or_insert(error.to_string());
                    }
                    sink.close();
                }
            }
            Mode::Replay { deliveries } => {
                while deliveries.front().is_some_and(|(at, _)| *at <= now) {
                    match deliveries.pop_front().map(|(_, delivery)| delivery) {
                        Some(Delivery::Bytes(bytes)) => sink.receive(&bytes),
                        Some(Delivery::Closed) => sink.close(),
                        None => {}
                    }
                }
            }
        }
    }

    /// Writes out what was recorded; the first error recording met, if any.
    pub fn finish(&self) -> Result<(), String> {
        match &mut *self.lock() {
            Mode::Record { log, failed, .. } => match failed.take() {
                Some(error) => Err(error),
                None => log.flush().map_err(|e| e.to_string()),
            },
            Mode::Replay { .. } => Ok(()),
        }
    }
}

/// The deliveries of a console-input file, or the line (from 1) that is
/// wrong and how.
fn parse(text: &str) -> Result<VecDeque<(u64, Delivery)>, (usize, String)> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => return Err((1, format!("not a console input recorded by --record (it starts '{HEADER}')"))),
    }
    let mut deliveries = VecDeque::new();
    let mut last = 0;
    for (index, line) in lines {
        let number = index + 1;
        let mut words = line.split_whitespace();
        let (Some(time), Some(kind)) = (words.next(), words.next()) else {
            return Err((number, "want 'TIME bytes HEX' or 'TIME closed'".to_string()));
        };
        let time: u64 = time.parse().map_err(|_| (number, format!("'{time}' is not a time in cycles")))?;
        if time < last {
            return Err((number, format!("time {time} comes before the line above ({last})")));
        }
        last = time;
        let delivery = match (kind, words.next()) {
            ("closed", None) => Delivery::Closed,
            ("bytes", Some(hex)) => Delivery::Bytes(
                crate::hex::decode(hex).ok_or_else(|| (number, format!("'{hex}' is not hexadecimal bytes")))?,
            ),
            _ => return Err((number, "want 'TIME bytes HEX' or 'TIME closed'".to_string())),
        };
        if words.next().is_some() {
            return Err((number, "unexpected text after the delivery".to_string()));
        }
        deliveries.push_back((time, delivery));
    }
    Ok(deliveries)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[derive(Default)]
    struct Sink {
        got: RefCell<Vec<(Vec<u8>, bool)>>,
    }

    impl InputSink for Sink {
        fn receive(&self, bytes: &[u8]) {
            self.got.borrow_mut().push((bytes.to_vec(), false));
        }
        fn close(&self) {
            self.got.borrow_mut().push((Vec::new(), true));
        }
    }

    #[test]
    fn a_recording_replays_the_same_deliveries_at_the_same_times() {
        let dir = std::env::temp_dir().join(format!("polyhart-replay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("input.log");
        let recorder = ConsoleInput::record(&path).unwrap();
        let recorded = Sink::default();
        recorder.deliver(10, &recorded);
        recorder.push(b"ls\n");
        recorder.push(b"x");
        assert!(recorded.got.borrow().is_empty(), "nothing reaches the UART before a delivery");
        recorder.deliver(20, &recorded);
        recorder.close();
        assert!(recorder.open());
        recorder.deliver(30, &recorded);
        assert!(!recorder.open());
        recorder.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{HEADER}\n20 bytes 6c730a78\n30 closed\n"));

        let player = ConsoleInput::replay(&path).unwrap();
        let replayed = Sink::default();
        player.push(b"ignored");
        player.deliver(19, &replayed);
        assert!(replayed.got.borrow().is_empty() && player.open());
        player.deliver(20, &replayed);
        player.deliver(35, &replayed);
        assert_eq!(*replayed.got.borrow(), *recorded.got.borrow());
        assert!(!player.open());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_recording_is_refused_with_its_line() {
        assert_eq!(parse("hello\n").unwrap_err().0, 1);
        assert_eq!(parse(&format!("{HEADER}\n5 bytes 0g\n")).unwrap_err().0, 2);
        assert_eq!(parse(&format!("{HEADER}\n5 closed\n4 closed\n")).unwrap_err().0, 3);
        assert_eq!(parse(&format!("{HEADER}\nfive closed\n")).unwrap_err().0, 2);
        assert_eq!(parse(&format!("{HEADER}\n5 bytes\n")).unwrap_err().0, 2);
        assert_eq!(parse(&format!("{HEADER}\n5 closed now\n")).unwrap_err().0, 2);
        assert_eq!(parse(&format!("{HEADER}\n")).unwrap().len(), 0);
    }
}
