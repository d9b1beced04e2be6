//! The app's environment: arguments, environment variables, memory limit.
//!
//! Two command lines describe it: the one `mewz build` baked into the image (section
//! `mewz_config`) and the one the machine was booted with. The boot line wins: its `--`
//! (even with nothing after it) replaces the baked arguments, its `mewz.env=K=V` replace baked
//! variables of the same name, its `mewz.name` and `mewz.memory` replace the baked ones, and
//! its `mewz.tcplisten=ADDR:PORT` words (if any) replace the baked listeners.
//!
//! A command on the boot line (see `crate::cmdline`: what a container runtime appends, urunc's
//! `ip=A/N gateway=G <command>`) is the whole `argv`, program name first, as in a container:
//! it takes precedence over the boot line's `--` arguments, the baked ones and `mewz.name`.
//! The environment, the memory limit and the listeners are unaffected by it.

use crate::cmdline::{CommandLine, has_app_args};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// `argv[0]` when no `mewz.name` is given.
pub const DEFAULT_NAME: &str = "app";

/// What an app runs with, independent of the machine (the unikernel and the hosted platform
/// both build one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppEnv {
    /// `argv`, program name first.
    pub args: Vec<String>,
    /// Environment variables, each name once, in first-seen order.
    pub env: Vec<(String, String)>,
    /// Largest linear memory the app may grow to (`mewz.memory`), if limited.
    pub memory_limit_bytes: Option<u64>,
    /// Listening TCP sockets the app finds open at start (`mewz.tcplisten=ADDR:PORT`, in the
    /// order given), as wasmtime's `-S tcplisten` hands them out: descriptors 3, 4, ...
    pub tcp_listeners: Vec<core::net::SocketAddr>,
}

/// A configuration value that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AppEnv {
    /// Merges the baked configuration with the boot command line (see the module docs).
    pub fn from_command_lines(baked: &str, boot: &str) -> Result<AppEnv, ConfigError> {
        let (b, r) = (CommandLine::parse(baked), CommandLine::parse(boot));
        let latest = |key: &str| r.option(key).or_else(|| b.option(key));
        let name = latest("name").unwrap_or(DEFAULT_NAME);
        let args = if r.command.is_empty() {
            let mut args = vec![name.to_string()];
            args.extend(
                if has_app_args(boot) { &r.args } else { &b.args }
                    .iter()
                    .cloned(),
            );
            args
        } else {
            r.command.clone()
        };
        let mut env: Vec<(String, String)> = Vec::new();
        for (key, value) in b.options.iter().chain(&r.options) {
            if key != "env" {
                continue;
            }
            let (k, v) = value.split_once('=').unwrap_or((value, ""));
            if k.is_empty() {
                return Err(ConfigError(format!(
                    "mewz.env={value}: empty variable name"
                )));
            }
            match env.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v.into(),
                None => env.push((k.into(), v.into())),
            }
        }
        let memory_limit_bytes = match latest("memory") {
            Some(text) => Some(
                parse_size(text)
                    .ok_or_else(|| ConfigError(format!("mewz.memory={text}: not a size")))?,
            ),
            None => None,
        };
        let listeners = |c: &CommandLine| -> Vec<String> {
            c.options
                .iter()
                .filter(|(k, _)| k == "tcplisten")
                .map(|(_, v)| v.clone())
                .collect()
        };
        let boot_listeners = listeners(&r);
        let tcp_listeners = if boot_listeners.is_empty() {
            listeners(&b)
        } else {
            boot_listeners
        }
        .iter()
        .map(|text| {
            text.parse().map_err(|_| {
                ConfigError(format!(
                    "mewz.tcplisten={text}: not an ADDRESS:PORT (like 0.0.0.0:8080)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
        Ok(AppEnv {
            args,
            env,
            memory_limit_bytes,
            tcp_listeners,
        })
    }
}

/// A byte count: digits, optionally followed by `K`, `M`, `G` or `T` (powers of 1024,
/// either case, optionally with `iB` or `B`). `None` when malformed or above `u64::MAX`.
pub fn parse_size(text: &str) -> Option<u64> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    let unit = unit.to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .filter(|u| !u.is_empty())
        .or_else(|| unit.strip_suffix('b').filter(|u| !u.is_empty()))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    value.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn listeners_come_in_order_and_the_boot_line_replaces_the_baked_ones() {
        let baked = "mewz.tcplisten=0.0.0.0:80 mewz.tcplisten=[::]:81";
        let e = AppEnv::from_command_lines(baked, "").unwrap();
        assert_eq!(
            e.tcp_listeners,
            ["0.0.0.0:80".parse().unwrap(), "[::]:81".parse().unwrap()]
        );
        let e = AppEnv::from_command_lines(baked, "mewz.tcplisten=127.0.0.1:8080").unwrap();
        assert_eq!(e.tcp_listeners, ["127.0.0.1:8080".parse().unwrap()]);
        let err = AppEnv::from_command_lines("", "mewz.tcplisten=8080").unwrap_err();
        assert!(err.0.contains("mewz.tcplisten=8080"), "{err}");
    }

    #[test]
    fn baked_configuration_alone() {
        let e = AppEnv::from_command_lines(
            r#"mewz.name=hello mewz.env=GREETING=hi mewz.env=A=1=2 -- x "y z""#,
            "",
        )
        .unwrap();
        assert_eq!(e.args, ["hello", "x", "y z"]);
        assert_eq!(e.env, env(&[("GREETING", "hi"), ("A", "1=2")]));
        assert_eq!(e.memory_limit_bytes, None);
    }

    #[test]
    fn boot_line_overrides_per_item() {
        let baked = "mewz.name=hello mewz.env=A=1 mewz.env=B=2 mewz.memory=64M -- x y";
        let e =
            AppEnv::from_command_lines(baked, "mewz.env=B=3 mewz.env=C= mewz.memory=1G").unwrap();
        assert_eq!(
            e.args,
            ["hello", "x", "y"],
            "no `--` at boot keeps the baked args"
        );
        assert_eq!(e.env, env(&[("A", "1"), ("B", "3"), ("C", "")]));
        assert_eq!(e.memory_limit_bytes, Some(1 << 30));
        let e = AppEnv::from_command_lines(baked, "mewz.name=other --").unwrap();
        assert_eq!(e.args, ["other"], "an empty `--` replaces the baked args");
        assert_eq!(e.memory_limit_bytes, Some(64 << 20));
        let e = AppEnv::from_command_lines(baked, "-- -- z").unwrap();
        assert_eq!(e.args, ["hello", "--", "z"]);
    }

    #[test]
    fn a_boot_command_is_the_whole_argv() {
        let baked = "mewz.name=hello mewz.env=A=1 mewz.memory=64M -- baked";
        // urunc's line: network words, then the container's command (program name first).
        let e = AppEnv::from_command_lines(
            baked,
            "mewz.stdio=tty,tty,tty ip=10.0.0.2/24 gateway=10.0.0.1 server --port 80",
        )
        .unwrap();
        assert_eq!(e.args, ["server", "--port", "80"]);
        assert_eq!(e.env, env(&[("A", "1")]), "the baked environment stays");
        assert_eq!(e.memory_limit_bytes, Some(64 << 20));
        // A `--` inside the command is the app's, and so is what follows it.
        let e =
            AppEnv::from_command_lines(baked, r#"ip=10.0.0.2/24 sh -c -- mewz.x "a b""#).unwrap();
        assert_eq!(e.args, ["sh", "-c", "--", "mewz.x", "a b"]);
        // Settings alone: the boot line's `--` arguments or the baked ones, as before.
        let e = AppEnv::from_command_lines(baked, "ip=10.0.0.2/24 gateway=10.0.0.1").unwrap();
        assert_eq!(e.args, ["hello", "baked"]);
        let e = AppEnv::from_command_lines(baked, "dns=1.1.1.1 -- run").unwrap();
        assert_eq!(e.args, ["hello", "run"]);
    }

    #[test]
    fn defaults_and_bad_values() {
        let e = AppEnv::from_command_lines("", "console=ttyS0 mewz.verbose").unwrap();
        assert_eq!(
            e,
            AppEnv {
                args: vec!["app".into()],
                ..AppEnv::default()
            }
        );
        assert_eq!(
            AppEnv::from_command_lines("", "mewz.memory=lots"),
            Err(ConfigError("mewz.memory=lots: not a size".into()))
        );
        assert!(AppEnv::from_command_lines("mewz.env==x", "").is_err());
        let e = AppEnv::from_command_lines("mewz.env=FLAG", "").unwrap();
        assert_eq!(e.env, env(&[("FLAG", "")]));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64k"), Some(65536));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("2mb"), Some(2 << 20));
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        assert_eq!(parse_size("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "M",
            "12X",
            "1.5G",
            "-1",
            " 1",
            "99999999999999999999",
            "16777216T",
            "1B",
            "1iB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }
}
