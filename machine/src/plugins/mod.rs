//! The bundled instrumentation plugins, and the spelling that names one:
//! `NAME[,key=value...]`, as `--plugin` takes it.
//!
//! | name | what it reports | runs compiled |
//! | --- | --- | --- |
//! | `insn` | instructions retired, per hart and by class ([`Insn`]) | yes: inline counters |
//! | `hotblocks` | the blocks run most often ([`HotBlocks`]) | yes: inline counters |
//! | `mem` | every load, store and AMO in an address range, to a file ([`MemTrace`]) | no: memory callbacks |
//! | `cache` | miss rates of set-associative L1 I/D and L2 caches ([`Cache`]) | no: callbacks |
//!
//! `--timing MODEL` installs one more, [`Timing`]: an in-order core's
//! estimated cycles drive the hart's time.
//!
//! Plugins written in C against `machine/include/polyhart-plugin.h` load
//! from shared libraries ([`load`], [`from_spec`]).
//!
//! Each writes its report when its machine finishes its plugins
//! (`Machine::finish_plugins`, or dropping the machine): to standard error,
//! or to the file its `out=PATH` names. The plugin API itself is
//! [`polyhart_iss::plugin`].

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polyhart_iss::plugin::Plugin;

mod cache;
mod hotblocks;
mod insn;
mod marker;
mod mem;
mod native;
mod timing;

pub use cache::Cache;
pub use hotblocks::HotBlocks;
pub use insn::Insn;
pub use marker::{MARKER, Marker};
pub use mem::MemTrace;
pub use native::{Native, load};
pub use timing::{HartTiming, Timing, TimingConfig, TimingReport};

/// The names of the bundled plugins.
pub const BUNDLED: [&str; 4] = ["insn", "hotblocks", "mem", "cache"];

/// A plugin that cannot be made as asked.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// No bundled plugin has the name.
    #[error("no bundled plugin is named `{0}` (there are: insn, hotblocks, mem, cache)")]
    Unknown(String),
    /// An argument is unknown to the plugin, or its value is wrong.
    #[error("plugin `{plugin}`: {message}")]
    Argument {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        message: String,
    },
    /// A file the plugin needs cannot be made.
    #[error("plugin `{plugin}`: {path}: {source}")]
    File {
        /// The plugin.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Makes the plugin `spec` names: `NAME[,key=value...]` for a bundled one,
/// `PATH[,key=value...]` for one in a shared library (a path with a `/`, or
/// ending in `.so`; see [`load`]).
pub fn from_spec(spec: &str) -> Result<Arc<dyn Plugin>, PluginError> {
    let args = Args::parse(spec)?;
    if args.plugin.contains('/') || args.plugin.ends_with(".so") {
        let pairs: Vec<String> = args.pairs.iter().map(|(key, value)| format!("{key}={value}")).collect();
        return Ok(Arc::new(load(Path::new(&args.plugin), &pairs)?));
    }
    bundled(spec)
}

/// Makes the bundled plugin `spec` names: `NAME[,key=value...]`.
pub fn bundled(spec: &str) -> Result<Arc<dyn Plugin>, PluginError> {
    let mut args = Args::parse(spec)?;
    let plugin: Arc<dyn Plugin> = match args.plugin.as_str() {
        "insn" => {
            let inline = args.switch("inline")?.unwrap_or(true);
            let output = args.output()?;
            Arc::new(if inline { Insn::new(output) } else { Insn::with_callbacks(output) })
        }
        "hotblocks" => {
            let limit = args.number("limit")?.unwrap_or(20) as usize;
            Arc::new(HotBlocks::new(limit, args.output()?))
        }
        "mem" => Arc::new(MemTrace::from_args(&mut args)?),
        "cache" => Arc::new(Cache::from_args(&mut args)?),
        other => return Err(PluginError::Unknown(other.to_string())),
    };
    args.finish()?;
    Ok(plugin)
}

/// A plugin's `key=value` arguments, each to be taken once.
#[derive(Debug)]
pub(crate) struct Args {
    plugin: String,
    pairs: Vec<(String, String)>,
}

impl Args {
    fn parse(spec: &str) -> Result<Args, PluginError> {
        let mut parts = spec.split(',');
        let plugin = parts.next().unwrap_or_default().trim().to_string();
        let mut pairs = Vec::new();
        for part in parts {
            let Some((key, value)) = part.split_once('=') else {
                return Err(Args::error(&plugin, format!("`{part}` is not key=value")));
            };
            pairs.push((key.trim().to_string(), value.trim().to_string()));
        }
        Ok(Args { plugin, pairs })
    }

    fn error(plugin: &str, message: String) -> PluginError {
        PluginError::Argument { plugin: plugin.to_string(), message }
    }

    /// An error about this plugin's arguments.
    pub(crate) fn invalid(&self, message: String) -> PluginError {
        Args::error(&self.plugin, message)
    }

    /// Takes the value of `key`, if given.
    pub(crate) fn take(&mut self, key: &str) -> Option<String> {
        let at = self.pairs.iter().position(|(name, _)| name == key)?;
        Some(self.pairs.remove(at).1)
    }

    /// Takes `key` as a number (decimal, `0x` hexadecimal, or with a `K`,
    /// `M` or `G` suffix for powers of 1024).
    pub(crate) fn number(&mut self, key: &str) -> Result<Option<u64>, PluginError> {
        let Some(text) = self.take(key) else { return Ok(None) };
        parse_number(&text).map(Some).ok_or_else(|| self.invalid(format!("{key}={text} is not a number")))
    }

    /// Takes `key` as `on` or `off`.
    pub(crate) fn switch(&mut self, key: &str) -> Result<Option<bool>, PluginError> {
        match self.take(key).as_deref() {
            None => Ok(None),
            Some("on" | "true" | "yes") => Ok(Some(true)),
            Some("off" | "false" | "no") => Ok(Some(false)),
            Some(other) => Err(self.invalid(format!("{key}={other}: expected on or off"))),
        }
    }

    /// Takes `out`: where the report goes.
    pub(crate) fn output(&mut self) -> Result<Output, PluginError> {
        Ok(match self.take("out") {
            None => Output::Stderr,
            Some(path) => Output::File(PathBuf::from(path)),
        })
    }

    /// Fails on any argument no one took.
    fn finish(self) -> Result<(), PluginError> {
        match self.pairs.first() {
            None => Ok(()),
            Some((key, _)) => Err(self.invalid(format!("unknown argument `{key}`"))),
        }
    }
}

/// A number as [`Args::number`] reads it.
pub(crate) fn parse_number(text: &str) -> Option<u64> {
    let (digits, scale) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1 << 10),
        b'M' | b'm' => (&text[..text.len() - 1], 1 << 20),
        b'G' | b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    let value = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    value.checked_mul(scale)
}

/// Where a plugin's report goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Standard error.
    Stderr,
    /// A file, created (or truncated) when the report is written.
    File(PathBuf),
}

impl Output {
    /// Writes `report`; a file that cannot be written is reported on
    /// standard error instead (a report is never lost silently).
    pub(crate) fn write(&self, report: &dyn fmt::Display) {
        if let Output::File(path) = self {
            match std::fs::File::create(path).and_then(|mut file| write!(file, "{report}")) {
                Ok(()) => return,
                Err(error) => eprintln!("polyhart: {}: {error}; the report follows", path.display()),
            }
        }
        let _ = write!(std::io::stderr().lock(), "{report}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_refuse_what_they_should() {
        assert!(bundled("insn").is_ok());
        assert!(bundled("hotblocks,limit=5,out=/tmp/x").is_ok());
        assert!(matches!(bundled("nope"), Err(PluginError::Unknown(name)) if name == "nope"));
        assert!(matches!(bundled("insn,bogus=1"), Err(PluginError::Argument { .. })));
        assert!(matches!(bundled("insn,novalue"), Err(PluginError::Argument { .. })));
        assert!(matches!(bundled("hotblocks,limit=ten"), Err(PluginError::Argument { .. })));
        assert!(matches!(bundled("cache,dassoc=3,dcachesize=1000"), Err(PluginError::Argument { .. })));
        assert_eq!(parse_number("32K"), Some(32 * 1024));
        assert_eq!(parse_number("0x80"), Some(128));
        assert_eq!(parse_number("2M"), Some(2 << 20));
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("99999999999999999999G"), None);
    }
}
