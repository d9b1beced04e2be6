//! Path resolution that cannot leave the directory it starts from.
//!
//! A path is resolved relative to a directory descriptor the way wasmtime (cap-std over Linux)
//! does it: components separated by `/` (repeated slashes count as one), `.` stays, `..` goes
//! back along the directories walked through — never above the starting one (`EPERM`) —
//! and every symlink met on the way is followed, its target read relative to the directory
//! holding it. An absolute path or an absolute symlink target is `EPERM`; more than
//! [`MAX_SYMLINKS`] symlinks is `ELOOP`; an empty path `ENOENT`; a NUL byte `EINVAL`; a path of
//! [`MAX_PATH`] bytes or more, or a component over 255 bytes, `ENAMETOOLONG`. A trailing slash,
//! on the path or on a symlink's target, asks for a directory: the last symlink is followed and
//! a non-directory is `ENOTDIR`.

use super::{FileSystem, Ino, Kind, MAX_NAME};
use crate::wasi::Errno;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

/// Paths of this many bytes or more are refused (Linux's `PATH_MAX`, which counts the NUL).
pub const MAX_PATH: usize = 4096;
/// Symlinks followed in one resolution before it gives up with `ELOOP` (Linux's limit).
pub const MAX_SYMLINKS: u32 = 40;

/// The last component of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Last {
    Name(String),
    /// `.`: the directory itself.
    Dot,
    /// `..`: the directory above.
    DotDot,
}

/// A path resolved up to its last component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    /// The directory holding the last component.
    pub dir: Ino,
    /// The directory above it on the walk, `None` when `dir` is where the walk started.
    pub up: Option<Ino>,
    pub last: Last,
    /// The path ended with `/`.
    pub trailing_slash: bool,
}

impl Parent {
    /// The name of the last component, or what `.` and `..` mean for an operation that needs a
    /// name: `..` at the starting directory escapes it (`EPERM`), anything else is `dot`.
    pub fn name_or(&self, dot: Errno) -> Result<&str, Errno> {
        match &self.last {
            Last::Name(n) => Ok(n),
            Last::DotDot if self.up.is_none() => Err(Errno::PERM),
            Last::Dot | Last::DotDot => Err(dot),
        }
    }
}

/// Fails as Linux would for a path it will not look at.
fn check(path: &str) -> Result<(), Errno> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    if path.len() >= MAX_PATH {
        return Err(Errno::NAMETOOLONG);
    }
    if path.contains('\0') {
        return Err(Errno::INVAL);
    }
    if path.starts_with('/') {
        return Err(Errno::PERM);
    }
    Ok(())
}

fn components(path: &str) -> VecDeque<String> {
    path.split('/')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

struct Walk<'f> {
    fs: &'f mut FileSystem,
    /// The directories walked through, the starting one first.
    stack: Vec<Ino>,
    pending: VecDeque<String>,
    symlinks: u32,
}

impl Walk<'_> {
    fn top(&self) -> Ino {
        *self.stack.last().unwrap_or(&0)
    }

    /// Splices the target of symlink `ino` in front of the components still to walk.
    fn follow(&mut self, ino: Ino) -> Result<(), Errno> {
        self.symlinks += 1;
        if self.symlinks > MAX_SYMLINKS {
            return Err(Errno::LOOP);
        }
        let target = self.fs.readlink(ino)?;
        if target.starts_with('/') {
            return Err(Errno::PERM);
        }
        // A target ending in `/` names a directory, as a path ending in `/` does: a `.` after
        // it makes the walk require one.
        if target.ends_with('/') {
            self.pending.push_front(".".into());
        }
        for c in components(&target).into_iter().rev() {
            self.pending.push_front(c);
        }
        Ok(())
    }

    /// Walks every pending component but the last, which it returns.
    fn walk_to_last(&mut self) -> Result<Last, Errno> {
        loop {
            let c = self.pending.pop_front().unwrap_or_else(|| ".".into());
            if self.pending.is_empty() {
                return Ok(match c.as_str() {
                    "." => Last::Dot,
                    ".." => Last::DotDot,
                    _ => Last::Name(c),
                });
            }
            match c.as_str() {
                "." => {}
                ".." => {
                    if self.stack.len() == 1 {
                        return Err(Errno::PERM);
                    }
                    self.stack.pop();
                }
                name => {
                    let child = self.child(name)?;
                    match self.fs.kind(child) {
                        Some(Kind::Directory) => self.stack.push(child),
                        Some(Kind::Symlink) => self.follow(child)?,
                        _ => return Err(Errno::NOTDIR),
                    }
                }
            }
        }
    }

    fn child(&mut self, name: &str) -> Result<Ino, Errno> {
        if name.len() > MAX_NAME {
            return Err(Errno::NAMETOOLONG);
        }
        self.fs.lookup(self.top(), name)?.ok_or(Errno::NOENT)
    }

    fn parent(&self, last: Last, trailing_slash: bool) -> Parent {
        Parent {
            dir: self.top(),
            up: self.stack.len().checked_sub(2).map(|i| self.stack[i]),
            last,
            trailing_slash,
        }
    }
}

impl FileSystem {
    fn walk(&mut self, start: Ino, path: &str) -> Result<Walk<'_>, Errno> {
        check(path)?;
        if self.kind(start) != Some(Kind::Directory) {
            return Err(Errno::NOTDIR);
        }
        Ok(Walk {
            pending: components(path),
            fs: self,
            stack: vec![start],
            symlinks: 0,
        })
    }

    /// Resolves `path` from directory `start` up to its last component, which is not looked up.
    pub fn resolve_parent(&mut self, start: Ino, path: &str) -> Result<Parent, Errno> {
        let mut w = self.walk(start, path)?;
        let last = w.walk_to_last()?;
        Ok(w.parent(last, path.ends_with('/')))
    }

    /// Resolves `path` from directory `start` to a node. A symlink in the last place is
    /// followed when `follow` is set (or the path ends with `/`).
    pub fn resolve(&mut self, start: Ino, path: &str, follow: bool) -> Result<Ino, Errno> {
        let trailing_slash = path.ends_with('/');
        let mut w = self.walk(start, path)?;
        loop {
            let ino = match w.walk_to_last()? {
                Last::Dot => w.top(),
                Last::DotDot => {
                    if w.stack.len() == 1 {
                        return Err(Errno::PERM);
                    }
                    w.stack[w.stack.len() - 2]
                }
                Last::Name(name) => w.child(&name)?,
            };
            match w.fs.kind(ino) {
                Some(Kind::Symlink) if follow || trailing_slash => w.follow(ino)?,
                None => return Err(Errno::NOENT),
                Some(Kind::Directory) => return Ok(ino),
                Some(_) if trailing_slash => return Err(Errno::NOTDIR),
                Some(_) => return Ok(ino),
            }
            if w.pending.is_empty() {
                // A symlink to "." or ".." only: what it names is where the walk stands now.
                w.pending.push_back(".".into());
            }
        }
    }
}
