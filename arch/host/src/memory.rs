//! Virtual memory for linear memories: reservations are `PROT_NONE` mappings, "mapping" a
//! page makes it read-write (anonymous pages are already zero), "unmapping" drops the contents
//! and makes it inaccessible again.
//!
//! Every reservation is recorded in a fixed table that the fault handler reads without locks:
//! a fault inside any of them is an out-of-bounds access of some linear memory.

use core::sync::atomic::{AtomicUsize, Ordering};
use mewz_kernel::MapError;

/// Most reservations one process makes (each is 8 GiB of address space; 8192 of them use half
/// of the 47-bit user address space).
const MAX_RESERVATIONS: usize = 8192;

static RESERVATIONS: [(AtomicUsize, AtomicUsize); MAX_RESERVATIONS] =
    [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; MAX_RESERVATIONS];
static RESERVATION_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Reserves `len` bytes of address space that faults on every access.
pub fn reserve(len: usize) -> Result<usize, MapError> {
    let slot = RESERVATION_COUNT.fetch_add(1, Ordering::AcqRel);
    if slot >= MAX_RESERVATIONS {
        RESERVATION_COUNT.fetch_sub(1, Ordering::AcqRel);
        return Err(MapError::OutOfMemory);
    }
    // SAFETY: a fresh anonymous mapping at an address the kernel picks touches no existing memory.
    let addr = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        // The slot stays empty (0..0), which matches no address.
        return Err(MapError::OutOfMemory);
    }
    let start = addr as usize;
    RESERVATIONS[slot].1.store(start + len, Ordering::Release);
    RESERVATIONS[slot].0.store(start, Ordering::Release);
    Ok(start)
}

/// The end of the reservation made by [`reserve`] that holds `addr`. Async-signal-safe.
fn reservation_end(addr: usize) -> Option<usize> {
    let count = RESERVATION_COUNT
        .load(Ordering::Acquire)
        .min(MAX_RESERVATIONS);
    RESERVATIONS[..count].iter().find_map(|(s, e)| {
        let (start, end) = (s.load(Ordering::Acquire), e.load(Ordering::Acquire));
        (start != 0 && (start..end).contains(&addr)).then_some(end)
    })
}

/// Whether `addr` lies inside a reservation made by [`reserve`]. Async-signal-safe.
pub fn is_reserved(addr: usize) -> bool {
    reservation_end(addr).is_some()
}

/// Whether `[virt, virt + len)` lies inside one reservation (two that happen to be adjacent
/// do not make one range).
fn in_one_reservation(virt: usize, len: usize) -> bool {
    reservation_end(virt).is_some_and(|end| virt.checked_add(len).is_some_and(|e| e <= end))
}

fn page_aligned(virt: usize, len: usize) -> bool {
    let page = page_size();
    virt.is_multiple_of(page) && len.is_multiple_of(page)
}

/// The system page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as usize } else { 4096 }
}

/// Makes `[virt, virt + len)` of a reservation readable and writable. Pages that were never
/// written, or were released by [`unmap`], read as zero.
pub fn map_zeroed(virt: usize, len: usize) -> Result<(), MapError> {
    if !page_aligned(virt, len) || !in_one_reservation(virt, len) {
        return Err(MapError::InvalidRange);
    }
    // SAFETY: the range lies inside one of our own PROT_NONE reservations.
    let rc = unsafe { libc::mprotect(virt as *mut _, len, libc::PROT_READ | libc::PROT_WRITE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(MapError::OutOfMemory)
    }
}

/// Drops the contents of `[virt, virt + len)` and makes it inaccessible again.
pub fn unmap(virt: usize, len: usize) {
    if !page_aligned(virt, len) || !in_one_reservation(virt, len) {
        return;
    }
    // SAFETY: the range lies inside one of our own reservations; nothing else lives there.
    unsafe {
        libc::madvise(virt as *mut _, len, libc::MADV_DONTNEED);
        libc::mprotect(virt as *mut _, len, libc::PROT_NONE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_map_write_unmap_reads_zero_again() {
        let page = page_size();
        let base = reserve(16 * page).unwrap();
        assert!(is_reserved(base) && is_reserved(base + 16 * page - 1));
        map_zeroed(base + page, 2 * page).unwrap();
        let p = (base + page) as *mut u8;
        // SAFETY: the two pages at base + page were just mapped read-write.
        unsafe {
            assert_eq!(p.read(), 0);
            p.write(7);
            assert_eq!(p.read(), 7);
        }
        unmap(base + page, 2 * page);
        map_zeroed(base + page, 2 * page).unwrap();
        // SAFETY: mapped again just above.
        assert_eq!(unsafe { p.read() }, 0);
    }

    #[test]
    fn rejects_ranges_outside_reservations() {
        let page = page_size();
        assert_eq!(map_zeroed(page, page), Err(MapError::InvalidRange));
        let base = reserve(4 * page).unwrap();
        assert_eq!(map_zeroed(base + 1, page), Err(MapError::InvalidRange));
        assert_eq!(map_zeroed(base, 8 * page), Err(MapError::InvalidRange));
    }
}
