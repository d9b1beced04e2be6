//! `mewz-spec-exec`: the spec harness's executor, serving the driver's commands on
//! stdin/stdout (see `mewz_spec::protocol`).

use std::os::fd::FromRawFd;

fn main() {
    // The protocol gets its own copy of stdout; fd 1 itself then points at stderr, so nothing
    // the modules or the runtime print can corrupt the response stream.
    // SAFETY: dup/dup2 on the process's own standard descriptors.
    let protocol_fd = unsafe {
        let fd = libc::dup(1);
        if fd < 0 || libc::dup2(2, 1) < 0 {
            eprintln!("mewz-spec-exec: cannot set up the protocol stream");
            std::process::exit(2);
        }
        fd
    };
    // SAFETY: `protocol_fd` is a fresh descriptor this File now owns.
    let output = std::io::BufWriter::new(unsafe { std::fs::File::from_raw_fd(protocol_fd) });
    let stdin = std::io::BufReader::new(std::io::stdin());
    if let Err(e) = mewz_spec::exec::serve(stdin, output) {
        eprintln!("mewz-spec-exec: {e}");
        std::process::exit(2);
    }
}
