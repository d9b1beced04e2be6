//! Prints what WASI gives it: arguments, `GREETING`, the time, a random number. Exits with
//! the first argument that is a number (0 if none).

use std::time::{SystemTime, UNIX_EPOCH};

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    /// WASI `random_get(buf, buf_len) -> errno`.
    #[link_name = "random_get"]
    fn wasi_random_get(buf: *mut u8, len: usize) -> u16;
}

fn random_u64() -> Result<u64, u16> {
    let mut bytes = [0u8; 8];
    // SAFETY: the buffer is valid for 8 bytes.
    match unsafe { wasi_random_get(bytes.as_mut_ptr(), bytes.len()) } {
        0 => Ok(u64::from_le_bytes(bytes)),
        errno => Err(errno),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("hello from rust");
    println!("argc={}", args.len());
    for (i, a) in args.iter().enumerate() {
        println!("argv[{i}]={a}");
    }
    match std::env::var("GREETING") {
        Ok(g) => println!("GREETING={g}"),
        Err(_) => println!("GREETING is not set"),
    }
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => println!("time: {} s since the epoch", d.as_secs()),
        Err(_) => println!("time: before the epoch"),
    }
    match random_u64() {
        Ok(r) => println!("random: {r:#018x}"),
        Err(errno) => println!("random: unavailable (errno {errno})"),
    }
    let status = args.iter().skip(1).find_map(|a| a.parse::<i32>().ok()).unwrap_or(0);
    println!("exit: {status}");
    std::process::exit(status);
}
