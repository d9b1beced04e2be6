//! The C `main` of a hosted executable (`APP.o + libmewz_host.a`, see [`crate::link`]).
//!
//! The process arguments and environment become a kernel command line (`mewz.name=ARGV0`,
//! `mewz.env=K=V` words, then `--` and the other arguments), and the kernel's own boot flow
//! takes over: it finds the app's module descriptor, maps its memory, runs WASI and exits
//! through the platform.
//!
//! Kernel options for a hosted run (`mewz.verbose`, `mewz.memory=64M`, `mewz.selftest=...`)
//! come from the environment variable [`OPTIONS_VARIABLE`], which the app does not see. What
//! the process's stdio streams are (`mewz.stdio`) is looked up, unless the options say.

use core::ffi::{CStr, c_char, c_int};
use mewz_kernel::cmdline::quote;

/// Symbol the link recipe aliases to `main` (a Rust `main` in the rlib would clash with the
/// spec executor's own).
pub const ENTRY_SYMBOL: &str = "mewz_host_main";

/// Environment variable holding kernel options (`mewz.*` words) for a hosted run.
pub const OPTIONS_VARIABLE: &str = "MEWZ_OPTIONS";

/// Builds the kernel command line for process arguments `args` (`argv[0]` first) and
/// environment `env` (`K=V`).
pub fn command_line<'a>(
    args: impl IntoIterator<Item = &'a str>,
    env: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut args = args.into_iter();
    let mut options = String::new();
    let env: Vec<&str> = env
        .into_iter()
        .filter(|kv| match kv.split_once('=') {
            Some((OPTIONS_VARIABLE, value)) => {
                options = value.to_string();
                false
            }
            Some(_) => true,
            None => false,
        })
        .collect();
    let mut words: Vec<String> = args
        .next()
        .map(|name| quote(&format!("mewz.name={name}")))
        .into_iter()
        .collect();
    words.extend(env.into_iter().map(|kv| quote(&format!("mewz.env={kv}"))));
    // Only `mewz.` words: anything else (like `--`) must not reach the app's arguments. A word
    // that is not an option starts the kernel's "command" (the app's arguments on a bare
    // machine); `mewz.` words after it are still options here.
    let parsed = mewz_kernel::cmdline::CommandLine::parse(&options);
    words.extend(parsed.options.iter().map(|(k, v)| {
        quote(&if v.is_empty() {
            format!("mewz.{k}")
        } else {
            format!("mewz.{k}={v}")
        })
    }));
    words.extend(
        parsed
            .command
            .iter()
            .take_while(|w| *w != "--")
            .filter(|w| w.starts_with("mewz."))
            .map(|w| quote(w)),
    );
    words.push("--".into());
    words.extend(args.map(quote));
    words.join(" ")
}

/// # Safety
/// `argv` holds `argc` NUL-terminated strings and `envp` is a NULL-terminated array of them,
/// as the C runtime passes to `main`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mewz_host_main(
    argc: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> c_int {
    let text = |p: *const c_char| {
        // SAFETY: the C runtime's strings are NUL-terminated and live for the whole process.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    };
    let args: Vec<String> = (0..argc.max(0) as usize)
        // SAFETY: argv has argc entries.
        .map(|i| text(unsafe { *argv.add(i) }))
        .collect();
    let mut env = Vec::new();
    let mut i = 0;
    // SAFETY: envp is NULL-terminated.
    while !envp.is_null() && !unsafe { *envp.add(i) }.is_null() {
        // SAFETY: entry i is a live string (checked non-null above).
        env.push(text(unsafe { *envp.add(i) }));
        i += 1;
    }
    let line = command_line(
        args.iter().map(String::as_str),
        env.iter().map(String::as_str),
    );
    let files = mewz_kernel::cmdline::CommandLine::parse(&line)
        .option(crate::files::FILES_OPTION)
        .map(str::to_owned);
    // The last of a repeated option counts: one from the options variable wins.
    let stdio = crate::stdio::classify().word();
    crate::HOST.set_command_line(format!("{stdio} {line}"));
    if let Some(path) = files {
        match crate::files::map(&path) {
            Ok(bytes) => crate::HOST.set_boot_module(bytes),
            Err(e) => {
                eprintln!("mewz: cannot read the packed directories {path}: {e}");
                return mewz_abi::ExitCode::CORRUPT_ARCHIVE.0.into();
            }
        }
    }
    crate::trap::prepare_wasm_thread();
    mewz_kernel::boot::main(&crate::HOST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mewz_kernel::app::AppEnv;

    #[test]
    fn argv_and_environ_reach_the_app_unchanged() {
        let line = command_line(
            ["my app.wasm", "a b", "--", "", "mewz.x"],
            ["HOME=/root", "X=1 2", "junk"],
        );
        let env = AppEnv::from_command_lines("", &line).unwrap();
        assert_eq!(env.args, ["my app.wasm", "a b", "--", "", "mewz.x"]);
        assert_eq!(
            env.env,
            [("HOME".into(), "/root".into()), ("X".into(), "1 2".into())]
        );
    }

    #[test]
    fn kernel_options_come_from_their_variable_and_stay_out_of_the_app() {
        let line = command_line(
            ["app", "x"],
            [
                "A=1",
                "MEWZ_OPTIONS=mewz.memory=1M junk mewz.verbose -- extra",
            ],
        );
        let parsed = mewz_kernel::cmdline::CommandLine::parse(&line);
        assert_eq!(parsed.option("memory"), Some("1M"));
        assert!(parsed.flag("verbose"));
        assert_eq!(parsed.args, ["x"]);
        let env = AppEnv::from_command_lines("", &line).unwrap();
        assert_eq!(env.env, [("A".into(), "1".into())]);
        assert_eq!(env.memory_limit_bytes, Some(1 << 20));
    }
}
