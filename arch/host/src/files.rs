//! The packed directories of a hosted run: `mewz run --target host --dir ...` writes the
//! archive to a file and names it with the kernel option `mewz.files=PATH`; the runtime maps
//! it read-only (pages come in as the app reads them, nothing is copied) and hands it to the
//! kernel as the boot module. Like the unikernels, the app's writes stay in the RAM
//! filesystem: nothing is written through to the host.

use std::ffi::CString;

/// Kernel option naming the archive file.
pub const FILES_OPTION: &str = "files";

/// Maps the file at `path` read-only for the rest of the process.
pub fn map(path: &str) -> std::io::Result<&'static [u8]> {
    let c = CString::new(path).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a NUL-terminated path; the descriptor is closed below on every path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let result = map_fd(fd);
    // SAFETY: closing the descriptor opened above; the mapping stays valid without it.
    unsafe { libc::close(fd) };
    result
}

fn map_fd(fd: i32) -> std::io::Result<&'static [u8]> {
    // SAFETY: a zeroed stat is a valid out-buffer for fstat.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `fd` is open and `st` is writable.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let len = usize::try_from(st.st_size).map_err(|_| std::io::ErrorKind::InvalidData)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: a fresh private read-only mapping of an open file; nothing else maps there.
    let addr = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            fd,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the mapping covers `len` readable bytes and is never unmapped.
    Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_file_and_reports_a_missing_one() {
        let path = std::env::temp_dir().join(format!("mewz-host-files-{}", std::process::id()));
        std::fs::write(&path, b"MEWZPACK and more").unwrap();
        let bytes = map(path.to_str().unwrap()).unwrap();
        assert_eq!(bytes, b"MEWZPACK and more");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(bytes.len(), 17, "the mapping outlives the file's name");
        assert!(map("/nonexistent/mewz/archive").is_err());
        assert!(map("nul\0inside").is_err());
    }
}
