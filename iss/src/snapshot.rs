//! The byte format a machine's saved state is written in, and a hart's
//! part of it.
//!
//! State is a sequence of named sections, each a name, a length and its
//! fields: little-endian integers and length-prefixed byte strings. A
//! reader asks for the sections in the order they were written and for the
//! fields in theirs, so a snapshot of another layout, or a damaged one,
//! fails with an error that names the section rather than restoring
//! nonsense. A hart's part is `HartState::save` and `Hart::save`; the
//! machine crate adds its devices and frames it all in a file.

/// Why saved state cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes end before a field does.
    #[error("the snapshot is truncated: it ends inside {0}")]
    Truncated(String),
    /// The next section is not the one expected: another layout, or damage.
    #[error("the snapshot holds section {found:?} where {expected:?} belongs")]
    Section {
        /// The section the reader asked for.
        expected: String,
        /// The one found (lossily decoded).
        found: String,
    },
    /// A field holds a value no machine could have saved.
    #[error("the snapshot's {0}")]
    Invalid(String),
    /// The snapshot is of another machine than the one it is restored into.
    #[error("the snapshot does not fit this machine: {0}")]
    Mismatch(String),
    /// Not a polyhart snapshot, or of a format version this build cannot read.
    #[error("{0}")]
    Format(String),
    /// Reading or writing the snapshot's file failed.
    #[error("snapshot file: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds saved state: fields appended in order, grouped in sections.
#[derive(Debug, Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    /// Nothing written yet.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Appends a byte.
    pub fn u8(&mut self, value: u8) {
        self.bytes.push(value);
    }

    /// Appends a `u32`.
    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends a `u64`.
    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// Appends a flag.
    pub fn bool(&mut self, value: bool) {
        self.u8(u8::from(value));
    }

    /// Appends a byte string, its length first.
    pub fn bytes(&mut self, value: &[u8]) {
        self.u64(value.len() as u64);
        self.bytes.extend_from_slice(value);
    }

    /// Appends a section named `name` holding what `fields` writes.
    pub fn section(&mut self, name: &str, fields: impl FnOnce(&mut Writer)) {
        self.bytes(name.as_bytes());
        let at = self.bytes.len();
        self.u64(0);
        fields(self);
        let len = (self.bytes.len() - at - 8) as u64;
        self.bytes[at..at + 8].copy_from_slice(&len.to_le_bytes());
    }

    /// What was written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads saved state back, field by field, in the order it was written.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    /// What is being read, for errors.
    what: String,
}

impl<'a> Reader<'a> {
    /// Reads `bytes`, described as `what` in errors.
    pub fn new(bytes: &'a [u8], what: impl Into<String>) -> Reader<'a> {
        Reader { bytes, what: what.into() }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], SnapshotError> {
        if self.bytes.len() < len {
            return Err(SnapshotError::Truncated(self.what.clone()));
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }

    /// Reads a byte.
    pub fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    /// Reads a `u32`.
    pub fn u32(&mut self) -> Result<u32, SnapshotError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Reads a `u64`.
    pub fn u64(&mut self) -> Result<u64, SnapshotError> {
        let mut word = [0; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }

    /// Reads a flag; anything but 0 or 1 is an error.
    pub fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.invalid(format_args!("flag {other}"))),
        }
    }

    /// Reads a byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let len = self.u64()?;
        let len = usize::try_from(len).map_err(|_| SnapshotError::Truncated(self.what.clone()))?;
        self.take(len)
    }

    /// Reads a `u64` that counts something of at most `limit` items.
    pub fn count(&mut self, limit: usize) -> Result<usize, SnapshotError> {
        let count = self.u64()?;
        usize::try_from(count)
            .ok()
            .filter(|&count| count <= limit)
            .ok_or_else(|| self.invalid(format_args!("count {count} (at most {limit})")))
    }

    /// Reads the section named `name`: a reader of its fields alone.
    pub fn section(&mut self, name: &str) -> Result<Reader<'a>, SnapshotError> {
        let found = self.bytes()?;
        if found != name.as_bytes() {
            return Err(SnapshotError::Section {
                expected: name.to_string(),
                found: String::from_utf8_lossy(found).into_owned(),
            });
        }
        let what = format!("section {name:?}");
        let len = self.u64()?;
        let len = usize::try_from(len).map_err(|_| SnapshotError::Truncated(what.clone()))?;
        let bytes = self.take(len).map_err(|_| SnapshotError::Truncated(what.clone()))?;
        Ok(Reader { bytes, what })
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Checks that every byte was read: a section longer than its reader
    /// expects is of another layout.
    pub fn finish(self) -> Result<(), SnapshotError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(SnapshotError::Invalid(format!("{} has {} bytes more than expected", self.what, self.bytes.len())))
        }
    }

    /// An error about a bad value in what this reads.
    pub fn invalid(&self, value: std::fmt::Arguments<'_>) -> SnapshotError {
        SnapshotError::Invalid(format!("{} holds an impossible {value}", self.what))
    }
}
