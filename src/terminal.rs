//! The host terminal as the guest's console, as QEMU's `-nographic` makes
//! it: while a guest runs, a terminal on standard input is in raw mode (keys
//! reach the guest at once, nothing echoes twice, Ctrl-C goes to the guest),
//! with QEMU's escapes: Ctrl-A x quits, Ctrl-A h lists the keys, Ctrl-A
//! Ctrl-A sends Ctrl-A. The terminal is restored however `polyhart` ends,
//! a panic included.

use rustix::termios::{self, OptionalActions, OutputModes, Termios};

/// The escape key: Ctrl-A.
const ESCAPE: u8 = 0x01;

/// What the escape keys list.
pub(crate) const HELP: &str = "C-a h    print this help\r\nC-a x    exit polyhart\r\nC-a C-a  send C-a\r\n";

/// Standard input's terminal in raw mode while this lives.
#[derive(Debug)]
pub(crate) struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Puts the terminal on standard input into raw mode, keeping output
    /// processing (a newline still returns the carriage, as QEMU keeps
    /// it); `None` when standard input is no terminal (a pipe, a file).
    pub(crate) fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        if !termios::isatty(&stdin) {
            return None;
        }
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        raw.output_modes.insert(OutputModes::OPOST);
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        // A panic restores the terminal before its message is printed.
        let restore = saved.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &restore);
            previous(info);
        }));
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// What a key sequence asks of `polyhart` besides input for the guest.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyCommand {
    /// Ctrl-A x: stop the guest and exit.
    Quit,
    /// Ctrl-A h: list the escape keys.
    Help,
}

/// Separates QEMU's Ctrl-A escapes from the guest's input.
#[derive(Debug, Default)]
pub(crate) struct Escapes {
    /// The last byte seen was an unanswered Ctrl-A.
    after_escape: bool,
}

impl Escapes {
    /// Takes the host's `input`: the bytes for the guest go to `guest`, and
    /// the commands the escapes give are returned in order. Bytes after a
    /// quit are dropped.
    pub(crate) fn feed(&mut self, input: &[u8], guest: &mut Vec<u8>) -> Vec<KeyCommand> {
        let mut commands = Vec::new();
        for &byte in input {
            if !self.after_escape {
                if byte == ESCAPE {
                    self.after_escape = true;
                } else {
                    guest.push(byte);
                }
                continue;
            }
            self.after_escape = false;
            match byte {
                ESCAPE => guest.push(ESCAPE),
                b'x' | b'X' => {
                    commands.push(KeyCommand::Quit);
                    break;
                }
                b'h' | b'H' | b'?' => commands.push(KeyCommand::Help),
                // Other escapes (QEMU's monitor, its logs) do nothing here.
                _ => {}
            }
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(escapes: &mut Escapes, input: &[u8]) -> (Vec<u8>, Vec<KeyCommand>) {
        let mut guest = Vec::new();
        let commands = escapes.feed(input, &mut guest);
        (guest, commands)
    }

    #[test]
    fn plain_input_and_ctrl_c_go_to_the_guest() {
        let mut escapes = Escapes::default();
        assert_eq!(feed(&mut escapes, b"ls\r\x03"), (b"ls\r\x03".to_vec(), vec![]));
    }

    #[test]
    fn ctrl_a_x_quits_and_drops_what_follows() {
        let mut escapes = Escapes::default();
        assert_eq!(feed(&mut escapes, b"ab\x01xcd"), (b"ab".to_vec(), vec![KeyCommand::Quit]));
    }

    #[test]
    fn an_escape_split_across_reads_still_counts() {
        let mut escapes = Escapes::default();
        assert_eq!(feed(&mut escapes, b"a\x01"), (b"a".to_vec(), vec![]));
        assert_eq!(feed(&mut escapes, b"h"), (vec![], vec![KeyCommand::Help]));
        assert_eq!(feed(&mut escapes, b"\x01"), (vec![], vec![]));
        assert_eq!(feed(&mut escapes, b"x"), (vec![], vec![KeyCommand::Quit]));
    }

    #[test]
    fn ctrl_a_twice_sends_one_and_unknown_escapes_do_nothing() {
        let mut escapes = Escapes::default();
        assert_eq!(feed(&mut escapes, b"\x01\x01\x01cz"), (b"\x01z".to_vec(), vec![]));
    }
}
