//! What the app's stdio streams are on the host, so the app sees what it would under wasmtime.
//!
//! The runner knows (`mewz run` looks at its own stdin, stdout and stderr) and tells the
//! kernel with `mewz.stdio=IN,OUT,ERR`, each one of `tty`, `pipe`, `file`, `null`, `dir` or
//! `unreadable`. wasmtime reports a terminal as a character device and anything else as of
//! unknown type (wasi-libc and Rust's std line-buffer a terminal only); a directory as stdin
//! reads `EISDIR`, a stdin opened for writing only `EBADF`. Without the option the streams are
//! taken for terminals: a serial line is one.

use super::errno::Errno;
use super::fd::FdKind;
use super::types::filetype;
use crate::platform::Stream;
use alloc::string::String;

/// The command-line option (`mewz.stdio=...`).
pub const OPTION: &str = "stdio";

/// One host stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostStream {
    Terminal,
    Pipe,
    File,
    /// `/dev/null` or another character device that is not a terminal.
    Null,
    /// A directory (as stdin: reads fail with `EISDIR`).
    Directory,
    /// Open, but not for reading (as stdin: reads fail with `EBADF`).
    Unreadable,
}

impl HostStream {
    pub const fn word(self) -> &'static str {
        match self {
            HostStream::Terminal => "tty",
            HostStream::Pipe => "pipe",
            HostStream::File => "file",
            HostStream::Null => "null",
            HostStream::Directory => "dir",
            HostStream::Unreadable => "unreadable",
        }
    }

    fn parse(word: &str) -> Option<HostStream> {
        [
            HostStream::Terminal,
            HostStream::Pipe,
            HostStream::File,
            HostStream::Null,
            HostStream::Directory,
            HostStream::Unreadable,
        ]
        .into_iter()
        .find(|s| s.word() == word)
    }
}

/// The host's stdin, stdout and stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostStdio(pub [HostStream; 3]);

impl Default for HostStdio {
    fn default() -> HostStdio {
        HostStdio([HostStream::Terminal; 3])
    }
}

impl HostStdio {
    /// Reads the option's value; unknown words count as terminals, a missing value as all.
    pub fn parse(value: Option<&str>) -> HostStdio {
        let mut out = HostStdio::default();
        for (slot, word) in out.0.iter_mut().zip(value.unwrap_or("").split(',')) {
            *slot = HostStream::parse(word).unwrap_or(HostStream::Terminal);
        }
        out
    }

    /// The kernel command-line word that describes these streams.
    pub fn word(&self) -> String {
        let [i, o, e] = self.0.map(HostStream::word);
        format!("mewz.{OPTION}={i},{o},{e}")
    }

    fn stream(&self, kind: FdKind) -> Option<HostStream> {
        match kind {
            FdKind::Stdin => Some(self.0[0]),
            FdKind::Console(Stream::Out) => Some(self.0[1]),
            FdKind::Console(Stream::Err) => Some(self.0[2]),
            FdKind::Socket { .. } | FdKind::Directory { .. } | FdKind::File { .. } => None,
        }
    }

    /// The file type `fd_fdstat_get` and `fd_filestat_get` report for a descriptor.
    pub fn filetype(&self, kind: FdKind) -> u8 {
        match self.stream(kind) {
            Some(HostStream::Terminal) | None => kind.filetype(),
            Some(_) => filetype::UNKNOWN,
        }
    }

    /// Why reading stdin fails at once, if it does.
    pub fn read_error(&self) -> Option<Errno> {
        match self.0[0] {
            HostStream::Directory => Some(Errno::ISDIR),
            HostStream::Unreadable => Some(Errno::BADF),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_round_trips() {
        let s = HostStdio([
            HostStream::Directory,
            HostStream::Pipe,
            HostStream::Terminal,
        ]);
        assert_eq!(s.word(), "mewz.stdio=dir,pipe,tty");
        let value = s.word().split_once('=').unwrap().1.to_string();
        assert_eq!(HostStdio::parse(Some(&value)), s);
    }

    #[test]
    fn missing_or_unknown_words_are_terminals() {
        assert_eq!(HostStdio::parse(None), HostStdio::default());
        assert_eq!(
            HostStdio::parse(Some("file,weird")),
            HostStdio([HostStream::File, HostStream::Terminal, HostStream::Terminal])
        );
    }

    #[test]
    fn only_terminals_are_character_devices_as_under_wasmtime() {
        let s = HostStdio([HostStream::Null, HostStream::Terminal, HostStream::File]);
        assert_eq!(s.filetype(FdKind::Stdin), filetype::UNKNOWN);
        assert_eq!(
            s.filetype(FdKind::Console(Stream::Out)),
            filetype::CHARACTER_DEVICE
        );
        assert_eq!(s.filetype(FdKind::Console(Stream::Err)), filetype::UNKNOWN);
    }

    #[test]
    fn a_directory_or_write_only_stdin_fails_to_read() {
        let dir = HostStdio([HostStream::Directory, HostStream::Pipe, HostStream::Pipe]);
        assert_eq!(dir.read_error(), Some(Errno::ISDIR));
        let wo = HostStdio([HostStream::Unreadable, HostStream::Pipe, HostStream::Pipe]);
        assert_eq!(wo.read_error(), Some(Errno::BADF));
        assert_eq!(HostStdio::default().read_error(), None);
    }
}
