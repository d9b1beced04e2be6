//! The executor: loads compiled modules (shared objects) into this process through the hosted
//! runtime, links and runs them as the driver's [`Command`]s say.
//!
//! No LLVM here, so it builds for aarch64 and runs under qemu-user. One executor serves a whole
//! `.wast` file; all wasm runs on one thread with a large stack.

mod instance;
mod spectest;

use crate::protocol::{Command, Response, decode, encode};
use instance::Store;
use std::io::{BufRead, Write};

/// Stack of the thread that runs wasm; deep recursion tests need room before the stack
/// limit traps them.
const WASM_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Serves commands from `input` until it ends, answering each on `output`. Runs on a thread of
/// its own with a [`WASM_STACK_BYTES`] stack.
pub fn serve<R, W>(input: R, output: W) -> std::io::Result<()>
where
    R: BufRead + Send + 'static,
    W: Write + Send + 'static,
{
    std::thread::Builder::new()
        .name("wasm".into())
        .stack_size(WASM_STACK_BYTES)
        .spawn(move || serve_here(input, output))?
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("executor thread panicked")))
}

fn serve_here<R: BufRead, W: Write>(input: R, mut output: W) -> std::io::Result<()> {
    // Keep the runtime entries that only dlopen'ed code references.
    std::hint::black_box(mewz_host::runtime::runtime_symbols());
    mewz_host::install();
    mewz_host::trap::prepare_wasm_thread();
    let mut store = Store::new();
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let response = match decode::<Command>(&line) {
            Ok(command) => store.execute(command),
            Err(e) => Response::Error(e),
        };
        output.write_all(encode(&response).as_bytes())?;
        output.flush()?;
    }
    Ok(())
}
