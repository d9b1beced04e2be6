//! What a process 1 does before it can run anything: file systems, kernel modules, power-off.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Mounts /dev (devtmpfs: /dev/urandom for the runtime), /proc (meminfo) and /sys (to see
/// the NIC appear).
pub fn mount_basics() -> Result<(), String> {
    for (fstype, target) in [("devtmpfs", "/dev"), ("proc", "/proc"), ("sysfs", "/sys")] {
        std::fs::create_dir_all(target).map_err(|e| format!("mkdir {target}: {e}"))?;
        mount(fstype, target).map_err(|e| format!("mount {fstype} on {target}: {e}"))?;
    }
    Ok(())
}

fn mount(fstype: &str, target: &str) -> io::Result<()> {
    let fstype = CString::new(fstype)?;
    let target = CString::new(target)?;
    // SAFETY: both strings are NUL-terminated and outlive the call; no data argument.
    let r = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    match r {
        0 => Ok(()),
        _ => match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
            e => Err(e),
        },
    }
}

/// Loads each module named in `list` (one path per line, dependencies first). No list, no
/// modules: a kernel with the drivers built in needs none.
pub fn load_modules(list: &Path) -> Result<usize, String> {
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("{}: {e}", list.display())),
    };
    let mut loaded = 0;
    for path in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: finit_module reads the module from an open descriptor; the parameter string
        // is an empty NUL-terminated string.
        let r = unsafe {
            libc::syscall(
                libc::SYS_finit_module,
                file.as_raw_fd(),
                c"".as_ptr(),
                0 as libc::c_int,
            )
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(format!("loading {path}: {e}"));
            }
        }
        loaded += 1;
    }
    Ok(loaded)
}

/// Bytes of memory in use by everything in the machine: MemTotal - MemAvailable (the kernel,
/// the processes and the initramfs's files, which live in RAM).
pub fn memory_in_use() -> Result<u64, String> {
    let text =
        std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    parse_meminfo(&text).ok_or_else(|| "/proc/meminfo: no MemTotal or MemAvailable".into())
}

fn parse_meminfo(text: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    };
    Some(field("MemTotal:")?.saturating_sub(field("MemAvailable:")?))
}

/// Seconds since the kernel started (the first field of /proc/uptime), for the boot log.
pub fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Turns the machine off (QEMU exits); process 1 must never return.
pub fn power_off() -> ! {
    // SAFETY: reboot with RB_POWER_OFF takes no pointers; it returns only on failure.
    unsafe { libc::reboot(libc::RB_POWER_OFF) };
    eprintln!("init: power-off failed: {}", io::Error::last_os_error());
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_gives_total_minus_available() {
        let text = "MemTotal:         500000 kB\nMemFree:          400000 kB\nMemAvailable:     420000 kB\n";
        assert_eq!(parse_meminfo(text), Some(80_000 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: x kB\nMemAvailable: 1 kB\n"), None);
    }
}
