//! How much of a device-tree blob is in use. Loaders hand the blob more room than it fills
//! (QEMU `virt`: 1 MiB, for a few KiB of tree); the kernel keeps the used part and gives the
//! rest to its heap, which is an eighth of an 8 MiB machine.

/// Header fields (big-endian u32s) the extent depends on.
mod header {
    pub const MAGIC: usize = 0;
    pub const TOTAL_SIZE: usize = 4;
    pub const OFF_DT_STRUCT: usize = 8;
    pub const OFF_DT_STRINGS: usize = 12;
    pub const OFF_MEM_RSVMAP: usize = 16;
    pub const SIZE_DT_STRINGS: usize = 32;
    pub const SIZE_DT_STRUCT: usize = 36;
    pub const SIZE: usize = 40;
}

pub const MAGIC: u32 = 0xd00d_feed;
/// Bytes of one memory reservation entry (address and size, u64 each).
const RESERVATION_ENTRY: usize = 16;

/// Offset of the header's `totalsize` field.
pub const TOTAL_SIZE_OFFSET: usize = header::TOTAL_SIZE;

fn be32(blob: &[u8], at: usize) -> Option<usize> {
    let bytes = blob.get(at..at + 4)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?) as usize)
}

/// The blob's `totalsize`, if `head` starts a device tree.
pub fn total_size(head: &[u8]) -> Option<usize> {
    (be32(head, header::MAGIC)? == MAGIC as usize).then(|| be32(head, header::TOTAL_SIZE))?
}

/// The bytes from the blob's start to the end of its last block (memory reservations,
/// structure, strings), if they all lie within `blob` (the `totalsize` bytes of the tree).
pub fn used_size(blob: &[u8]) -> Option<usize> {
    if total_size(blob)? != blob.len() || blob.len() < header::SIZE {
        return None;
    }
    let block_end = |offset: usize, size: usize| be32(blob, offset)?.checked_add(be32(blob, size)?);
    let structure = block_end(header::OFF_DT_STRUCT, header::SIZE_DT_STRUCT)?;
    let strings = block_end(header::OFF_DT_STRINGS, header::SIZE_DT_STRINGS)?;
    // Reservation entries run up to an all-zero one.
    let mut entry = be32(blob, header::OFF_MEM_RSVMAP)?;
    let reservations = loop {
        let bytes = blob.get(entry..entry.checked_add(RESERVATION_ENTRY)?)?;
        entry += RESERVATION_ENTRY;
        if bytes.iter().all(|&b| b == 0) {
            break entry;
        }
    };
    let used = structure.max(strings).max(reservations);
    (used <= blob.len()).then_some(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(
        total: usize,
        rsvmap: usize,
        structure: (usize, usize),
        strings: (usize, usize),
    ) -> Vec<u8> {
        let mut b = vec![0u8; total];
        for (at, v) in [
            (header::MAGIC, MAGIC as usize),
            (header::TOTAL_SIZE, total),
            (header::OFF_DT_STRUCT, structure.0),
            (header::SIZE_DT_STRUCT, structure.1),
            (header::OFF_DT_STRINGS, strings.0),
            (header::SIZE_DT_STRINGS, strings.1),
            (header::OFF_MEM_RSVMAP, rsvmap),
        ] {
            b[at..at + 4].copy_from_slice(&(v as u32).to_be_bytes());
        }
        b
    }

    fn used(b: &[u8]) -> Option<usize> {
        assert_eq!(total_size(b), Some(b.len()));
        used_size(b)
    }

    #[test]
    fn qemu_layout_uses_the_start_of_a_large_blob() {
        // Reservations right after the header (empty), structure, then strings.
        let b = blob(1 << 20, 0x28, (0x38, 0x2000), (0x2038, 0x300));
        assert_eq!(used(&b), Some(0x2338));
    }

    #[test]
    fn reservation_entries_count_until_the_terminator() {
        let mut b = blob(0x1000, 0x800, (0x40, 0x100), (0x140, 0x10));
        b[0x800..0x810].fill(1);
        b[0x810..0x820].fill(2);
        assert_eq!(used(&b), Some(0x830), "two entries and the terminator");
    }

    #[test]
    fn unsound_headers_are_left_alone() {
        let mut b = blob(0x1000, 0x28, (0x38, 0x2000), (0x40, 0x10));
        assert_eq!(used(&b), None, "structure past totalsize");
        assert_eq!(
            used(&blob(0x1000, 0x28, (0x38, 0x10), (0x48, 0x10))),
            Some(0x58)
        );
        b[0] = 0;
        assert_eq!(used_size(&b), None, "bad magic");
        assert_eq!(used_size(&b[..0x800]), None, "shorter than totalsize");
        let unterminated = {
            let mut b = blob(0x100, 0xe0, (0x28, 0x10), (0x38, 0x10));
            b[0xe0..].fill(7);
            b
        };
        assert_eq!(used(&unterminated), None);
    }
}
