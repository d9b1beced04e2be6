//! A regular file's bytes: read in place from the archive until written, then copied chunk by
//! chunk (copy-on-write), so writing one byte of a 64 MiB packed file copies one chunk, and a
//! file with holes (seek past the end, `fd_filestat_set_size`) costs memory only where written.
//!
//! Invariants: `base.len() <= size`; every byte of a chunk at or past `size` is zero; a byte
//! with no chunk reads from `base` when inside it and as zero otherwise.

use super::space::Space;
use crate::wasi::Errno;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;

/// Bytes per copied chunk: one page.
pub const CHUNK: usize = 4096;

/// Largest file size (bytes): what a signed 64-bit offset reaches, as on Linux.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

#[derive(Debug, Default)]
pub struct FileData {
    /// The packed contents still in effect (a prefix of them after a shrinking truncate).
    base: &'static [u8],
    size: u64,
    chunks: BTreeMap<u64, Box<[u8]>>,
}

impl FileData {
    /// A file whose contents are `base` (borrowed from the archive, never copied here).
    pub fn packed(base: &'static [u8]) -> FileData {
        FileData {
            base,
            size: base.len() as u64,
            chunks: BTreeMap::new(),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Chunks copied or written so far.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Copies bytes at `offset` into `out`; returns how many (short at the end of the file).
    pub fn read(&self, offset: u64, out: &mut [u8]) -> usize {
        if offset >= self.size {
            return 0;
        }
        let n = out.len().min((self.size - offset) as usize);
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let index = pos / CHUNK as u64;
            let within = (pos % CHUNK as u64) as usize;
            let take = (CHUNK - within).min(n - done);
            let dst = &mut out[done..done + take];
            match self.chunks.get(&index) {
                Some(chunk) => dst.copy_from_slice(&chunk[within..within + take]),
                None => fill_from_base(self.base, pos, dst),
            }
            done += take;
        }
        n
    }

    /// Writes `data` at `offset`, growing the file; all or nothing (`ENOSPC`, `EFBIG`).
    pub fn write(&mut self, offset: u64, data: &[u8], space: &mut Space) -> Result<(), Errno> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(Errno::FBIG)?;
        if data.is_empty() {
            return Ok(());
        }
        let touched = offset / CHUNK as u64..=(end - 1) / CHUNK as u64;
        let missing = touched
            .clone()
            .filter(|i| !self.chunks.contains_key(i))
            .count();
        space.check(missing * CHUNK)?;
        // Copy every chunk first, so that a failure leaves the contents as they were.
        for index in touched {
            if !self.chunks.contains_key(&index) {
                let mut chunk = space.allocate(CHUNK)?;
                fill_from_base(self.base, index * CHUNK as u64, &mut chunk);
                self.chunks.insert(index, chunk);
            }
        }
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let within = (pos % CHUNK as u64) as usize;
            let take = (CHUNK - within).min(data.len() - done);
            if let Some(chunk) = self.chunks.get_mut(&(pos / CHUNK as u64)) {
                chunk[within..within + take].copy_from_slice(&data[done..done + take]);
            }
            done += take;
        }
        self.size = self.size.max(end);
        Ok(())
    }

    /// Sets the size: shrinking drops the bytes past it for good, growing reads as zeros.
    pub fn set_size(&mut self, size: u64, space: &mut Space) -> Result<(), Errno> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::FBIG);
        }
        if size < self.size {
            let keep_chunks = size.div_ceil(CHUNK as u64);
            let dropped = self.chunks.split_off(&keep_chunks);
            space.release(dropped.len() * CHUNK);
            if let Some(chunk) = self.chunks.get_mut(&(size / CHUNK as u64)) {
                chunk[(size % CHUNK as u64) as usize..].fill(0);
            }
            if (self.base.len() as u64) > size {
                self.base = &self.base[..size as usize];
            }
        }
        self.size = size;
        Ok(())
    }

    /// Gives back every chunk (the file is gone).
    pub fn release(&mut self, space: &mut Space) {
        space.release(self.chunks.len() * CHUNK);
        self.chunks.clear();
    }
}

/// Fills `dst` with the packed bytes at `pos` and zeros past their end.
fn fill_from_base(base: &[u8], pos: u64, dst: &mut [u8]) {
    let from_base = (base.len() as u64)
        .saturating_sub(pos)
        .min(dst.len() as u64) as usize;
    if from_base > 0 {
        let start = pos as usize;
        dst[..from_base].copy_from_slice(&base[start..start + from_base]);
    }
    dst[from_base..].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn space() -> Space {
        Space::unlimited()
    }

    fn read_all(f: &FileData) -> Vec<u8> {
        let mut out = vec![0xaa; f.size() as usize];
        assert_eq!(f.read(0, &mut out), out.len());
        out
    }

    static PACKED: [u8; 10_000] = {
        let mut b = [0u8; 10_000];
        let mut i = 0;
        while i < b.len() {
            b[i] = (i % 251) as u8 + 1;
            i += 1;
        }
        b
    };

    #[test]
    fn packed_reads_need_no_copy() {
        let f = FileData::packed(&PACKED);
        assert_eq!(read_all(&f), PACKED);
        let mut buf = [0u8; 8];
        assert_eq!(f.read(9_996, &mut buf), 4);
        assert_eq!(&buf[..4], &PACKED[9_996..]);
        assert_eq!(f.read(10_000, &mut buf), 0);
        assert_eq!(f.read(u64::MAX, &mut buf), 0);
        assert_eq!(f.chunk_count(), 0);
    }

    #[test]
    fn a_write_copies_only_the_chunks_it_touches() {
        let mut s = space();
        let mut f = FileData::packed(&PACKED);
        f.write(5000, b"XYZ", &mut s).unwrap();
        assert_eq!(f.chunk_count(), 1);
        let mut want = PACKED.to_vec();
        want[5000..5003].copy_from_slice(b"XYZ");
        assert_eq!(read_all(&f), want);
        f.write(4094, b"abcd", &mut s).unwrap();
        assert_eq!(f.chunk_count(), 2, "crossing into chunk 0");
        want[4094..4098].copy_from_slice(b"abcd");
        assert_eq!(read_all(&f), want);
        assert_eq!(s.used(), 2 * CHUNK as u64);
    }

    #[test]
    fn writing_past_the_end_leaves_a_hole_of_zeros() {
        let mut s = space();
        let mut f = FileData::packed(&PACKED[..100]);
        f.write(20_000, b"end", &mut s).unwrap();
        assert_eq!(f.size(), 20_003);
        let all = read_all(&f);
        assert_eq!(&all[..100], &PACKED[..100]);
        assert!(all[100..20_000].iter().all(|&b| b == 0));
        assert_eq!(&all[20_000..], b"end");
        assert_eq!(f.chunk_count(), 1, "the hole costs nothing");
    }

    #[test]
    fn truncating_forgets_the_tail_even_when_it_grows_again() {
        let mut s = space();
        let mut f = FileData::packed(&PACKED);
        f.write(6000, b"written", &mut s).unwrap();
        f.set_size(5000, &mut s).unwrap();
        assert_eq!(read_all(&f), &PACKED[..5000]);
        f.set_size(9000, &mut s).unwrap();
        let all = read_all(&f);
        assert_eq!(&all[..5000], &PACKED[..5000]);
        assert!(
            all[5000..].iter().all(|&b| b == 0),
            "no packed or written byte returns"
        );
        f.set_size(0, &mut s).unwrap();
        assert_eq!(f.chunk_count(), 0);
        assert_eq!(s.used(), 0);
        f.set_size(3, &mut s).unwrap();
        assert_eq!(read_all(&f), [0, 0, 0]);
    }

    #[test]
    fn sizes_are_bounded() {
        let mut s = space();
        let mut f = FileData::default();
        assert_eq!(f.write(MAX_FILE_SIZE, b"x", &mut s), Err(Errno::FBIG));
        assert_eq!(f.write(u64::MAX, b"x", &mut s), Err(Errno::FBIG));
        assert_eq!(f.set_size(MAX_FILE_SIZE + 1, &mut s), Err(Errno::FBIG));
        f.set_size(MAX_FILE_SIZE, &mut s).unwrap();
        let mut b = [1u8; 4];
        assert_eq!(f.read(MAX_FILE_SIZE - 2, &mut b), 2);
        assert_eq!(b, [0, 0, 1, 1]);
        f.write(0, b"", &mut s).unwrap();
    }

    #[test]
    fn out_of_space_is_all_or_nothing() {
        let mut s = Space::limited(2 * CHUNK as u64);
        let mut f = FileData::default();
        f.write(0, &[1; CHUNK], &mut s).unwrap();
        assert_eq!(
            f.write(CHUNK as u64, &[2; 2 * CHUNK], &mut s),
            Err(Errno::NOSPC)
        );
        assert_eq!(f.size(), CHUNK as u64, "nothing of the failed write stays");
        assert_eq!(f.chunk_count(), 1);
        f.write(CHUNK as u64, &[2; CHUNK], &mut s).unwrap();
        f.release(&mut s);
        assert_eq!(s.used(), 0);
    }
}
