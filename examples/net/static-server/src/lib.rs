//! A static-file HTTP/1.1 server: GET and HEAD of the files under a directory (keep-alive,
//! pipelining, Content-Type by extension, 404, directory index), POST to an echo path, limits
//! on request size (413, 431) and time (408), many connections at once on one thread.
//!
//! The listener comes from the binary: `http-server` opens its own through the WasmEdge socket
//! API (or std natively), `http-server-preopened` takes the one the runtime opened.

pub mod conn;
pub mod files;
pub mod http;
pub mod options;
pub mod poll;
pub mod server;

#[cfg(target_os = "wasi")]
pub mod preopens;
#[cfg(target_os = "wasi")]
pub mod wasmedge;

pub use server::{Config, Listener, Stream, serve};

/// The outcome of a command line: a config, or `--help` (usage printed, exit 0), or a usage
/// error (one line, exit 2).
pub fn config_or_exit(
    program: &str,
    own_usage: &str,
    own: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> Result<bool, String>,
) -> Config {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: {program} {own_usage} [FLAGS]\n{}", options::USAGE);
        std::process::exit(0)
    }
    match options::parse(args, own) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{program}: {message} (see {program} --help)");
            std::process::exit(2)
        }
    }
}

/// Serves until done (see [`serve`]), then exits: 0 when `--max-requests` ended the run, 1 with
/// a one-line error when the listener failed.
pub fn serve_and_exit<L: Listener>(program: &str, listener: &L, config: &Config) -> ! {
    match serve(listener, config) {
        Ok(summary) => {
            println!(
                "{program}: done after {} responses on {} connections",
                summary.responses, summary.connections
            );
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{program}: {e}");
            std::process::exit(1)
        }
    }
}
