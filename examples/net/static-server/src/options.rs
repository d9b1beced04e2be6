//! The command line shared by the server binaries.

use crate::server::Config;
use std::path::PathBuf;
use std::time::Duration;

/// Flags every server binary takes (after its own, e.g. `--port`).
pub const USAGE: &str = "\
  --root DIR            directory to serve (default /; give the runtime a --dir for it)
  --max-head BYTES      longest request head accepted, else 431 (default 8192)
  --max-body BYTES      longest request body accepted, else 413 (default 1048576)
  --header-timeout S    seconds a client has to send a request head, else 408 (default 10)
  --idle-timeout S      seconds a keep-alive connection may stay quiet (default 60)
  --max-connections N   connections served at once (default 4096)
  --max-requests N      exit 0 after N responses (default: serve forever)
  --echo-path PATH      POST here answers with the request body (default /echo)
  --log                 one line per request on stderr";

/// Parses the shared flags from `args`, handing each flag it does not know, with the rest of
/// the arguments, to `own` (which returns whether it took it). Errors are one line.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    mut own: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> Result<bool, String>,
) -> Result<Config, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| format!("{flag} needs {what}"));
        match flag.as_str() {
            "--root" => config.root = PathBuf::from(value("a directory")?),
            "--max-head" => config.max_head = number(&flag, &value("a size")?)?,
            "--max-body" => config.max_body = number(&flag, &value("a size")?)?,
            "--header-timeout" => config.header_timeout = seconds(&flag, &value("seconds")?)?,
            "--idle-timeout" => config.idle_timeout = seconds(&flag, &value("seconds")?)?,
            "--max-connections" => {
                config.max_connections = number(&flag, &value("a count")?)?.max(1);
            }
            "--max-requests" => {
                config.max_requests = Some(number(&flag, &value("a count")?)? as u64)
            }
            "--echo-path" => config.echo_path = value("a path")?,
            "--log" => config.log = true,
            _ => {
                if !own(&flag, &mut args)? {
                    return Err(format!("unknown argument '{flag}'"));
                }
            }
        }
    }
    Ok(config)
}

pub fn number(flag: &str, value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: '{value}' is not a number"))
}

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{flag}: '{value}' is not a positive number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_set_the_config() {
        let mut port = None;
        let c = parse(
            args("--root /srv --max-body 10 --port 81 --header-timeout 0.5"),
            |f, rest| {
                if f == "--port" {
                    port = rest.next();
                    return Ok(true);
                }
                Ok(false)
            },
        )
        .unwrap();
        assert_eq!(c.root, PathBuf::from("/srv"));
        assert_eq!(c.max_body, 10);
        assert_eq!(c.header_timeout, Duration::from_millis(500));
        assert_eq!(port.as_deref(), Some("81"));
    }

    #[test]
    fn bad_flags_are_one_line_errors() {
        let none = |_: &str, _: &mut dyn Iterator<Item = String>| Ok(false);
        assert_eq!(
            parse(args("--bogus"), none).unwrap_err(),
            "unknown argument '--bogus'"
        );
        assert_eq!(
            parse(args("--root"), none).unwrap_err(),
            "--root needs a directory"
        );
        assert!(parse(args("--max-body x"), none).is_err());
        assert!(parse(args("--idle-timeout -1"), none).is_err());
    }
}
