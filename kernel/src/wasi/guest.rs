//! Checked access to the app's linear memory.
//!
//! Every guest pointer a WASI function receives goes through [`GuestMemory`]: a `(ptr, len)`
//! pair is valid when `ptr + len <= size` computed without overflow, so a bad pointer becomes
//! `EFAULT` and never a kernel fault. Integers are little endian and need no alignment.

use super::errno::Errno;
use super::types::IOVEC_SIZE;
use alloc::vec::Vec;
use core::ops::Range;
use mewz_abi::memory::MemoryDescriptor;

/// The app's accessible linear memory during one WASI call.
pub struct GuestMemory<'a> {
    bytes: &'a mut [u8],
}

/// One entry of an `iovec`/`ciovec` array, already checked against the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoVec {
    pub ptr: u32,
    pub len: u32,
}

impl<'a> GuestMemory<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        GuestMemory { bytes }
    }

    /// The accessible part (`current_bytes`) of a linear memory; empty when `desc` is null.
    ///
    /// # Safety
    /// `desc` is null or points to a live descriptor whose `base..base + current_bytes` is
    /// mapped, and no compiled code runs (so nothing else touches the memory) while the view
    /// lives: WASI calls are made by the app's single thread, which waits for them.
    pub unsafe fn from_descriptor(desc: *const MemoryDescriptor) -> GuestMemory<'a> {
        // SAFETY: the caller guarantees `desc` is null or valid.
        match unsafe { desc.as_ref() } {
            Some(d) if !d.base.is_null() => {
                let len = usize::try_from(d.current_bytes).unwrap_or(usize::MAX);
                // SAFETY: the caller guarantees the range is mapped and not aliased.
                GuestMemory::new(unsafe { core::slice::from_raw_parts_mut(d.base, len) })
            }
            _ => GuestMemory::new(&mut []),
        }
    }

    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The byte range `[ptr, ptr + len)` if it lies inside the memory.
    pub fn range(&self, ptr: u32, len: u32) -> Result<Range<usize>, Errno> {
        let end = u64::from(ptr) + u64::from(len);
        if end > self.bytes.len() as u64 {
            return Err(Errno::FAULT);
        }
        Ok(ptr as usize..end as usize)
    }

    /// Like [`GuestMemory::range`] for `count` elements of `elem_size` bytes.
    pub fn array_range(&self, ptr: u32, count: u32, elem_size: u32) -> Result<Range<usize>, Errno> {
        let len = u64::from(count) * u64::from(elem_size);
        let len = u32::try_from(len).map_err(|_| Errno::FAULT)?;
        self.range(ptr, len)
    }

    pub fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&self.bytes[r])
    }

    pub fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.bytes[r])
    }

    fn read_array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
        let mut out = [0; N];
        out.copy_from_slice(self.slice(ptr, N as u32)?);
        Ok(out)
    }

    pub fn read_u8(&self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.read_array::<1>(ptr)?[0])
    }

    pub fn read_u16(&self, ptr: u32) -> Result<u16, Errno> {
        self.read_array(ptr).map(u16::from_le_bytes)
    }

    pub fn read_u32(&self, ptr: u32) -> Result<u32, Errno> {
        self.read_array(ptr).map(u32::from_le_bytes)
    }

    pub fn read_u64(&self, ptr: u32) -> Result<u64, Errno> {
        self.read_array(ptr).map(u64::from_le_bytes)
    }

    pub fn write_bytes(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::FAULT)?;
        self.slice_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    pub fn write_u8(&mut self, ptr: u32, v: u8) -> Result<(), Errno> {
        self.write_bytes(ptr, &[v])
    }

    pub fn write_u16(&mut self, ptr: u32, v: u16) -> Result<(), Errno> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    pub fn write_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    pub fn write_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.write_bytes(ptr, &v.to_le_bytes())
    }

    /// Fails with `EFAULT` unless `[ptr, ptr + len)` is writable; lets a function check its
    /// result pointers before it does anything with side effects.
    pub fn check(&self, ptr: u32, len: u32) -> Result<(), Errno> {
        self.range(ptr, len).map(|_| ())
    }

    /// Reads an `iovec` array and checks every buffer it names. The total length must fit in
    /// a `u32` (the size a wasm32 read or write can report), otherwise `EINVAL`.
    pub fn iovecs(&self, ptr: u32, count: u32) -> Result<Vec<IoVec>, Errno> {
        let table = self.array_range(ptr, count, IOVEC_SIZE)?;
        let mut out = Vec::with_capacity(count as usize);
        let mut total: u32 = 0;
        for entry in self.bytes[table].chunks_exact(IOVEC_SIZE as usize) {
            let word =
                |i: usize| u32::from_le_bytes([entry[i], entry[i + 1], entry[i + 2], entry[i + 3]]);
            let v = IoVec {
                ptr: word(0),
                len: word(4),
            };
            self.range(v.ptr, v.len)?;
            total = total.checked_add(v.len).ok_or(Errno::INVAL)?;
            out.push(v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_at_the_edges() {
        let mut buf = [0u8; 16];
        let m = GuestMemory::new(&mut buf);
        assert_eq!(m.range(0, 16), Ok(0..16));
        assert_eq!(
            m.range(16, 0),
            Ok(16..16),
            "empty range at the end is valid"
        );
        assert_eq!(
            m.range(17, 0),
            Err(Errno::FAULT),
            "empty range past the end is not"
        );
        assert_eq!(m.range(15, 2), Err(Errno::FAULT));
        assert_eq!(m.range(u32::MAX, 1), Err(Errno::FAULT), "no wrap-around");
        assert_eq!(m.range(1, u32::MAX), Err(Errno::FAULT), "no wrap-around");
        assert_eq!(m.range(u32::MAX, u32::MAX), Err(Errno::FAULT));
        assert_eq!(m.array_range(0, u32::MAX, 8), Err(Errno::FAULT));
        assert_eq!(m.array_range(8, 1, 8), Ok(8..16));
        assert_eq!(m.array_range(8, 0, 8), Ok(8..8));
    }

    #[test]
    fn empty_memory_rejects_everything_but_empty_at_zero() {
        let m = GuestMemory::new(&mut []);
        assert_eq!(m.range(0, 0), Ok(0..0));
        assert_eq!(m.read_u8(0), Err(Errno::FAULT));
        // SAFETY: a null descriptor is allowed and gives an empty view.
        let m = unsafe { GuestMemory::from_descriptor(core::ptr::null()) };
        assert_eq!(m.size(), 0);
    }

    #[test]
    fn integers_are_little_endian_and_unaligned() {
        let mut buf = [0u8; 16];
        let mut m = GuestMemory::new(&mut buf);
        m.write_u64(1, 0x0102_0304_0506_0708).unwrap();
        m.write_u16(13, 0xbeef).unwrap();
        assert_eq!(m.read_u32(1), Ok(0x0506_0708));
        assert_eq!(m.read_u64(1), Ok(0x0102_0304_0506_0708));
        assert_eq!(m.read_u16(13), Ok(0xbeef));
        assert_eq!(m.write_u32(13, 1), Err(Errno::FAULT));
        assert_eq!(m.read_u16(13), Ok(0xbeef), "a failed write changes nothing");
        assert_eq!(buf[1..9], [8, 7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn descriptor_view_covers_current_bytes() {
        let mut backing = vec![0u8; 128];
        let desc = MemoryDescriptor {
            base: backing.as_mut_ptr(),
            current_bytes: 64,
            minimum_pages: 0,
            maximum_pages: 0,
        };
        // SAFETY: `backing` outlives the view and has at least `current_bytes` bytes.
        let m = unsafe { GuestMemory::from_descriptor(&desc) };
        assert_eq!(m.size(), 64);
        assert_eq!(m.range(60, 4), Ok(60..64));
        assert_eq!(m.range(60, 5), Err(Errno::FAULT));
    }

    fn put_iovecs(m: &mut GuestMemory<'_>, at: u32, iovs: &[(u32, u32)]) {
        for (i, &(p, l)) in iovs.iter().enumerate() {
            m.write_u32(at + 8 * i as u32, p).unwrap();
            m.write_u32(at + 8 * i as u32 + 4, l).unwrap();
        }
    }

    #[test]
    fn iovec_arrays_are_checked_entry_by_entry() {
        let mut buf = [0u8; 64];
        let mut m = GuestMemory::new(&mut buf);
        put_iovecs(&mut m, 0, &[(32, 4), (64, 0), (40, 24)]);
        assert_eq!(
            m.iovecs(0, 3),
            Ok(vec![
                IoVec { ptr: 32, len: 4 },
                IoVec { ptr: 64, len: 0 },
                IoVec { ptr: 40, len: 24 }
            ])
        );
        assert_eq!(m.iovecs(0, 0), Ok(vec![]));
        assert_eq!(
            m.iovecs(60, 1),
            Err(Errno::FAULT),
            "the array itself is out of bounds"
        );
        assert_eq!(m.iovecs(0, u32::MAX), Err(Errno::FAULT));
        put_iovecs(&mut m, 0, &[(32, 4), (40, 25)]);
        assert_eq!(
            m.iovecs(0, 2),
            Err(Errno::FAULT),
            "second buffer runs past the end"
        );
        put_iovecs(&mut m, 0, &[(u32::MAX, 2)]);
        assert_eq!(m.iovecs(0, 1), Err(Errno::FAULT));
    }
}
