//! The cache of compiled objects: `$XDG_CACHE_HOME/mewz` (default `~/.cache/mewz`), so that
//! `mewz run app.wasm` compiles an unchanged app once. Hosted executables are cached whole,
//! linked, since linking one takes longer than running a short app.
//!
//! An entry is keyed by a hash of the wasm bytes and of everything else that decides the object
//! ([`mewz_compiler::code_identity`]: the compiler's build, LLVM, the target and every option
//! that changes code). It is written to a temporary file and renamed into place, so a reader
//! sees a whole entry or none, whatever other `mewz` processes do at the same time and wherever
//! one is killed. Each entry carries a checksum of its contents: a corrupt or truncated one is
//! found, removed and compiled again. Past the size limit (default 2 GiB, `MEWZ_CACHE_SIZE`)
//! the entries used longest ago go first.

use mewz_compiler::ExportKind;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The entry format; part of the key, so that another format is never read as this one.
const FORMAT: &[u8] = b"mewz object cache entry, format 1";
const MAGIC: &[u8; 8] = b"MEWZOBJ1";
const CHECKSUM_BYTES: usize = 32;
/// Temporary files start with this; ones older than [`STALE_TEMPORARY`] were left by a
/// process that was killed while writing, and go at the next eviction.
const TEMPORARY_PREFIX: &str = ".tmp-";
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);
pub const DEFAULT_LIMIT: u64 = 2 << 30;
/// The environment variable that sets the size limit (e.g. `500M`, `4G`).
pub const LIMIT_VARIABLE: &str = "MEWZ_CACHE_SIZE";

/// The directory of the cache, whether it exists or not: `$XDG_CACHE_HOME/mewz`, or
/// `~/.cache/mewz` where XDG_CACHE_HOME is unset or not an absolute path.
pub fn default_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("mewz"))
}

/// The size limit: `MEWZ_CACHE_SIZE` if set, else [`DEFAULT_LIMIT`].
pub fn limit_from_env() -> Result<u64, String> {
    match std::env::var(LIMIT_VARIABLE) {
        Ok(text) => crate::parse_size(&text).map_err(|e| format!("{LIMIT_VARIABLE}: {e}")),
        Err(_) => Ok(DEFAULT_LIMIT),
    }
}

/// What a compiled app needs from the cache: the object (for the hosted target, the linked
/// executable), and every import its module declares (the object names only those it calls;
/// the linker checks all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub object: Vec<u8>,
    pub imports: Vec<(ExportKind, String)>,
}

/// The key of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// The key of `wasm` compiled by the compiler and options `identity` describes.
    pub fn new(wasm: &[u8], identity: &str) -> Key {
        let mut hasher = blake3::Hasher::new();
        for part in [FORMAT, identity.as_bytes(), wasm] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        Key(hasher.finalize().to_hex().to_string())
    }
}

/// What [`Cache::load`] found.
#[derive(Debug)]
pub enum Lookup {
    Hit(Entry),
    Miss,
    /// An entry that is not whole (removed, so the next store replaces it).
    Corrupt(String),
}

/// How much the cache holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub entries: usize,
}

pub struct Cache {
    objects: PathBuf,
    limit: u64,
}

impl Cache {
    /// Opens the cache in `dir`, creating it if need be.
    pub fn open(dir: &Path, limit: u64) -> io::Result<Cache> {
        let objects = dir.join("objects");
        fs::create_dir_all(&objects)?;
        Ok(Cache { objects, limit })
    }

    /// The cache in `dir` if it exists, without creating anything.
    pub fn existing(dir: &Path, limit: u64) -> Option<Cache> {
        let objects = dir.join("objects");
        objects.is_dir().then_some(Cache { objects, limit })
    }

    pub fn path(&self, key: &Key) -> PathBuf {
        self.objects.join(&key.0)
    }

    /// The entry for `key`, checked whole. A hit counts as a use (for eviction).
    pub fn load(&self, key: &Key) -> io::Result<Lookup> {
        let path = self.path(key);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Miss),
            Err(e) => return Err(e),
        };
        match decode(&bytes) {
            Ok(entry) => {
                // Most recently used goes last; a read-only cache still serves.
                let _ = File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_modified(SystemTime::now()));
                Ok(Lookup::Hit(entry))
            }
            Err(reason) => {
                let _ = fs::remove_file(&path);
                Ok(Lookup::Corrupt(reason))
            }
        }
    }

    /// Stores `entry` under `key`: written to a temporary file, then renamed into place.
    pub fn store(&self, key: &Key, entry: &Entry) -> io::Result<()> {
        let mut file = tempfile::Builder::new()
            .prefix(TEMPORARY_PREFIX)
            .tempfile_in(&self.objects)?;
        // No fsync: an entry that a crash of the machine leaves incomplete fails its checksum.
        file.write_all(&encode(entry))?;
        file.persist(self.path(key)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes the entries used longest ago until the cache is within its limit, and the
    /// temporary files of writers that were killed. Returns what was removed.
    pub fn evict(&self) -> io::Result<Usage> {
        let mut entries = self.entries()?;
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        entries.sort_by_key(|e| e.used);
        let mut removed = Usage::default();
        for entry in &entries {
            if total <= self.limit {
                break;
            }
            if remove(&entry.path)? {
                removed.bytes += entry.bytes;
                removed.entries += 1;
            }
            total -= entry.bytes;
        }
        for stale in self.temporaries()? {
            let age = stale
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if age.is_some_and(|age| age > STALE_TEMPORARY) {
                remove(&stale)?;
            }
        }
        Ok(removed)
    }

    pub fn usage(&self) -> io::Result<Usage> {
        let entries = self.entries()?;
        Ok(Usage {
            bytes: entries.iter().map(|e| e.bytes).sum(),
            entries: entries.len(),
        })
    }

    /// Removes every entry (and temporary file). Returns what was removed.
    pub fn clean(&self) -> io::Result<Usage> {
        let mut removed = Usage::default();
        for entry in self.entries()? {
            if remove(&entry.path)? {
                removed.bytes += entry.bytes;
                removed.entries += 1;
            }
        }
        for temporary in self.temporaries()? {
            remove(&temporary)?;
        }
        Ok(removed)
    }

    fn entries(&self) -> io::Result<Vec<StoredEntry>> {
        let mut found = Vec::new();
        for dir_entry in fs::read_dir(&self.objects)? {
            let dir_entry = dir_entry?;
            if dir_entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            // Gone since the listing (another process evicted it): not ours to count.
            let Ok(metadata) = dir_entry.metadata() else {
                continue;
            };
            if metadata.is_file() {
                found.push(StoredEntry {
                    path: dir_entry.path(),
                    bytes: metadata.len(),
                    used: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        Ok(found)
    }

    fn temporaries(&self) -> io::Result<Vec<PathBuf>> {
        let mut found = Vec::new();
        for dir_entry in fs::read_dir(&self.objects)? {
            let dir_entry = dir_entry?;
            if dir_entry
                .file_name()
                .to_string_lossy()
                .starts_with(TEMPORARY_PREFIX)
            {
                found.push(dir_entry.path());
            }
        }
        Ok(found)
    }
}

/// The cache `mewz` compiles with, or None (with a one-line warning, once) if there is no
/// usable one: a compile never fails because of the cache.
pub fn open_or_warn() -> Option<&'static Cache> {
    static CACHE: OnceLock<Option<Cache>> = OnceLock::new();
    CACHE.get_or_init(open_default).as_ref()
}

fn open_default() -> Option<Cache> {
    let limit = limit_from_env().unwrap_or_else(|e| {
        warn(&format!(
            "{e}; the cache keeps to {} GiB",
            DEFAULT_LIMIT >> 30
        ));
        DEFAULT_LIMIT
    });
    let Some(dir) = default_dir() else {
        warn("no cache directory (neither XDG_CACHE_HOME nor HOME is set); not caching");
        return None;
    };
    match Cache::open(&dir, limit) {
        Ok(cache) => Some(cache),
        Err(e) => {
            warn(&format!("cache {}: {e}; not caching", dir.display()));
            None
        }
    }
}

/// The entry for `key`, if the cache has a whole one.
pub fn load_or_warn(cache: &Cache, key: &Key) -> Option<Entry> {
    match cache.load(key) {
        Ok(Lookup::Hit(entry)) => Some(entry),
        Ok(Lookup::Miss) => None,
        Ok(Lookup::Corrupt(why)) => {
            warn(&format!(
                "cache entry {} was corrupt ({why}); compiling again",
                cache.path(key).display()
            ));
            None
        }
        Err(e) => {
            warn(&format!(
                "cache entry {}: {e}; compiling",
                cache.path(key).display()
            ));
            None
        }
    }
}

/// Stores `entry`, then keeps the cache within its limit; a failure is a warning.
pub fn store_or_warn(cache: &Cache, key: &Key, entry: &Entry) {
    let stored = cache.store(key, entry).and_then(|()| cache.evict());
    if let Err(e) = stored {
        warn(&format!(
            "cache {}: {e}; the object is not cached",
            cache.objects.display()
        ));
    }
}

/// `mewz cache ...`.
#[derive(Clone, Copy, Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// Print the cache's directory.
    Dir,
    /// Print how much the cache holds, and its limit.
    Size,
    /// Remove every cached object.
    Clean,
}

pub fn command(action: CacheCommand) -> anyhow::Result<u8> {
    let dir = default_dir().ok_or_else(|| {
        anyhow::anyhow!("no cache directory (neither XDG_CACHE_HOME nor HOME is set)")
    })?;
    let limit = limit_from_env().map_err(|e| anyhow::anyhow!(e))?;
    let cache = Cache::existing(&dir, limit);
    let context = || format!("cache {}", dir.display());
    match action {
        CacheCommand::Dir => println!("{}", dir.display()),
        CacheCommand::Size => {
            let usage = match &cache {
                Some(cache) => anyhow::Context::with_context(cache.usage(), context)?,
                None => Usage::default(),
            };
            println!(
                "{} in {} object{} (limit {}, {LIMIT_VARIABLE})",
                human(usage.bytes),
                usage.entries,
                if usage.entries == 1 { "" } else { "s" },
                human(limit)
            );
        }
        CacheCommand::Clean => {
            let removed = match &cache {
                Some(cache) => anyhow::Context::with_context(cache.clean(), context)?,
                None => Usage::default(),
            };
            println!(
                "removed {} object{} ({})",
                removed.entries,
                if removed.entries == 1 { "" } else { "s" },
                human(removed.bytes)
            );
        }
    }
    Ok(0)
}

/// `1.5 MiB`, `2 GiB`, `812 B`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn warn(message: &str) {
    eprintln!("mewz: warning: {message}");
}

struct StoredEntry {
    path: PathBuf,
    bytes: u64,
    used: SystemTime,
}

/// Removes a file another process may have removed first; whether this one did.
fn remove(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// `MAGIC`, the checksum of the rest, the import count and each import (kind, name length,
/// name), then the object.
fn encode(entry: &Entry) -> Vec<u8> {
    let mut body = Vec::with_capacity(entry.object.len() + 1024);
    body.extend_from_slice(&(entry.imports.len() as u32).to_le_bytes());
    for (kind, name) in &entry.imports {
        body.push(kind_byte(*kind));
        body.extend_from_slice(&(name.len() as u32).to_le_bytes());
        body.extend_from_slice(name.as_bytes());
    }
    body.extend_from_slice(&entry.object);
    let mut bytes = Vec::with_capacity(MAGIC.len() + CHECKSUM_BYTES + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(blake3::hash(&body).as_bytes());
    bytes.extend_from_slice(&body);
    bytes
}

fn decode(bytes: &[u8]) -> Result<Entry, String> {
    let header = MAGIC.len() + CHECKSUM_BYTES;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a cache entry".into());
    }
    let body = &bytes[header..];
    if blake3::hash(body).as_bytes() != &bytes[MAGIC.len()..header] {
        return Err("checksum mismatch".into());
    }
    let mut reader = Reader(body);
    let count = reader.u32()?;
    let mut imports = Vec::new();
    for _ in 0..count {
        let kind = kind_from_byte(reader.take(1)?[0])?;
        let len = reader.u32()? as usize;
        let name = String::from_utf8(reader.take(len)?.to_vec()).map_err(|e| e.to_string())?;
        imports.push((kind, name));
    }
    Ok(Entry {
        object: reader.0.to_vec(),
        imports,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("entry ends early".into());
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
}

fn kind_byte(kind: ExportKind) -> u8 {
    match kind {
        ExportKind::Function => 0,
        ExportKind::Table => 1,
        ExportKind::Memory => 2,
        ExportKind::Global => 3,
    }
}

fn kind_from_byte(byte: u8) -> Result<ExportKind, String> {
    Ok(match byte {
        0 => ExportKind::Function,
        1 => ExportKind::Table,
        2 => ExportKind::Memory,
        3 => ExportKind::Global,
        _ => return Err(format!("unknown import kind {byte}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(object: &[u8]) -> Entry {
        Entry {
            object: object.to_vec(),
            imports: vec![
                (
                    ExportKind::Function,
                    "wasi_snapshot_preview1.fd_write".into(),
                ),
                (ExportKind::Memory, "env.memory".into()),
            ],
        }
    }

    fn hit(lookup: io::Result<Lookup>) -> Entry {
        match lookup.unwrap() {
            Lookup::Hit(entry) => entry,
            other => panic!("expected a hit, got {other:?}"),
        }
    }

    #[test]
    fn entries_round_trip_and_keys_separate_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), DEFAULT_LIMIT).unwrap();
        let key = Key::new(b"\0asm one", "x86_64 O2");
        assert!(matches!(cache.load(&key).unwrap(), Lookup::Miss));
        cache.store(&key, &entry(b"object one")).unwrap();
        assert_eq!(hit(cache.load(&key)), entry(b"object one"));
        assert_ne!(key, Key::new(b"\0asm two", "x86_64 O2"));
        assert_ne!(key, Key::new(b"\0asm one", "x86_64 O1"));
        // The parts are length-prefixed: moving bytes from one to the other is another key.
        assert_ne!(Key::new(b"ab", "c"), Key::new(b"b", "ca"));
        assert_eq!(
            cache.usage().unwrap(),
            Usage {
                bytes: fs::metadata(cache.path(&key)).unwrap().len(),
                entries: 1
            }
        );
    }

    #[test]
    fn a_corrupt_or_truncated_entry_is_found_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), DEFAULT_LIMIT).unwrap();
        let key = Key::new(b"\0asm", "id");
        let whole = encode(&entry(&[7; 4096]));
        let mut flipped = whole.clone();
        flipped[3000] ^= 1;
        let damaged: [&[u8]; 5] = [
            &whole[..whole.len() - 1],
            &whole[..20],
            &flipped,
            b"",
            b"MEWZOBJ0 from another format, long enough to hold a checksum",
        ];
        for bytes in damaged {
            fs::write(cache.path(&key), bytes).unwrap();
            assert!(matches!(cache.load(&key).unwrap(), Lookup::Corrupt(_)));
            assert!(!cache.path(&key).exists(), "a corrupt entry stays");
        }
        // A checksum that matches, over contents that do not decode.
        let mut body = 5u32.to_le_bytes().to_vec();
        body.push(9);
        let mut forged = MAGIC.to_vec();
        forged.extend_from_slice(blake3::hash(&body).as_bytes());
        forged.extend_from_slice(&body);
        fs::write(cache.path(&key), forged).unwrap();
        assert!(matches!(cache.load(&key).unwrap(), Lookup::Corrupt(_)));
    }

    #[test]
    fn eviction_keeps_the_most_recently_used_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let sized = encode(&entry(&[0; 1000])).len() as u64;
        let cache = Cache::open(dir.path(), 3 * sized).unwrap();
        let keys: Vec<Key> = (0..5u8).map(|i| Key::new(&[i], "id")).collect();
        let now = SystemTime::now();
        for (i, key) in keys.iter().enumerate() {
            cache.store(key, &entry(&[0; 1000])).unwrap();
            let file = File::options().write(true).open(cache.path(key)).unwrap();
            file.set_modified(now - Duration::from_secs(100 * (i as u64 + 1)))
                .unwrap();
        }
        // Key 4 is the oldest; using it makes it the newest.
        hit(cache.load(&keys[4]));
        let removed = cache.evict().unwrap();
        assert_eq!(removed.entries, 2);
        assert_eq!(cache.usage().unwrap().entries, 3);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(cache.path(key).exists(), [0, 1, 4].contains(&i), "key {i}");
        }
    }

    #[test]
    fn a_killed_writer_leaves_a_temporary_file_that_is_never_read_and_later_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), DEFAULT_LIMIT).unwrap();
        let key = Key::new(b"\0asm", "id");
        // What a writer killed in the middle of `store` leaves: half an entry in a
        // temporary file (its destructor never ran).
        let mut half = tempfile::Builder::new()
            .prefix(TEMPORARY_PREFIX)
            .tempfile_in(&cache.objects)
            .unwrap();
        let bytes = encode(&entry(&[1; 4096]));
        half.write_all(&bytes[..bytes.len() / 2]).unwrap();
        let (_, left) = half.keep().unwrap();
        assert!(matches!(cache.load(&key).unwrap(), Lookup::Miss));
        assert_eq!(cache.usage().unwrap(), Usage::default());
        cache.evict().unwrap();
        assert!(
            left.exists(),
            "a young temporary file may be another writer's"
        );
        let old = SystemTime::now() - STALE_TEMPORARY - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&left)
            .unwrap()
            .set_modified(old)
            .unwrap();
        cache.evict().unwrap();
        assert!(!left.exists());
        cache.store(&key, &entry(b"whole")).unwrap();
        assert_eq!(hit(cache.load(&key)), entry(b"whole"));
    }

    #[test]
    fn concurrent_writers_and_readers_see_whole_entries_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::open(dir.path(), DEFAULT_LIMIT).unwrap());
        let key = Key::new(b"\0asm", "id");
        let big = entry(&(0..200_000u32).map(|i| i as u8).collect::<Vec<_>>());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        cache.store(&key, &big).unwrap();
                    }
                });
                scope.spawn(|| {
                    for _ in 0..200 {
                        match cache.load(&key).unwrap() {
                            Lookup::Hit(entry) => assert_eq!(entry, big),
                            Lookup::Miss => {}
                            Lookup::Corrupt(why) => panic!("a reader saw a corrupt entry: {why}"),
                        }
                    }
                });
            }
        });
        assert_eq!(hit(cache.load(&key)), big);
        assert_eq!(cache.temporaries().unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(812), "812 B");
        assert_eq!(human(1536 * 1024), "1.5 MiB");
        assert_eq!(human(DEFAULT_LIMIT), "2 GiB");
    }

    #[test]
    fn clean_removes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), DEFAULT_LIMIT).unwrap();
        for i in 0..3u8 {
            cache.store(&Key::new(&[i], "id"), &entry(&[i])).unwrap();
        }
        let removed = cache.clean().unwrap();
        assert_eq!(removed.entries, 3);
        assert_eq!(cache.usage().unwrap(), Usage::default());
    }

    #[test]
    fn a_cache_that_cannot_be_made_or_written_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        fs::write(&file, b"").unwrap();
        assert!(Cache::open(&file.join("mewz"), DEFAULT_LIMIT).is_err());
        let cache = Cache::open(&dir.path().join("mewz"), DEFAULT_LIMIT).unwrap();
        // The directory goes away under the cache (another user's `cache clean`, say).
        fs::remove_dir_all(dir.path().join("mewz")).unwrap();
        assert!(cache.store(&Key::new(b"", ""), &entry(b"")).is_err());
        assert!(matches!(
            cache.load(&Key::new(b"", "")).unwrap(),
            Lookup::Miss
        ));
    }
}
