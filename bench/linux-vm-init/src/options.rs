//! The init's command line: the words after `--` on the kernel command line.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub const USAGE: &str = "usage: bench-init [--modules FILE] [--interface NAME] [--ip ADDR/PREFIX] \
[--listen ADDR:PORT] PROGRAM [ARGS...]";

/// What the init does, in this order: load the modules, configure the interface, open the
/// listener (at descriptor 3, where a runtime's first preopen goes), run the program.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    /// A file naming one module (`.ko` path) per line, in load order; no file, no modules.
    pub modules: PathBuf,
    pub interface: String,
    pub ip: Option<(Ipv4Addr, u8)>,
    pub listen: Option<SocketAddr>,
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Parses the init's arguments (without argv[0]); errors are one line.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut modules = PathBuf::from("/etc/modules-load");
    let mut interface = String::from("eth0");
    let mut ip = None;
    let mut listen = None;
    let mut args = args.into_iter();
    let program = loop {
        let Some(word) = args.next() else {
            return Err("no program to run".into());
        };
        if !word.starts_with("--") {
            break PathBuf::from(word);
        }
        let value = args.next().ok_or_else(|| format!("{word} needs a value"))?;
        match word.as_str() {
            "--modules" => modules = PathBuf::from(value),
            "--interface" => interface = value,
            "--ip" => ip = Some(parse_cidr(&value)?),
            "--listen" => {
                listen = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--listen: '{value}' is not ADDR:PORT"))?,
                )
            }
            _ => return Err(format!("unknown option '{word}'")),
        }
    };
    Ok(Options {
        modules,
        interface,
        ip,
        listen,
        program,
        args: args.collect(),
    })
}

fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let bad = || format!("--ip: '{text}' is not ADDR/PREFIX (IPv4)");
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    let addr = addr.parse().map_err(|_| bad())?;
    let prefix = prefix.parse().ok().filter(|&p| p <= 32).ok_or_else(bad)?;
    Ok((addr, prefix))
}

/// The netmask of a prefix length (at most 32).
pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_then_the_program_and_its_own_flags() {
        let o = parse(words(
            "--ip 10.0.2.15/24 --listen 0.0.0.0:8080 /bin/server --root /srv --listen x",
        ))
        .unwrap();
        assert_eq!(o.ip, Some((Ipv4Addr::new(10, 0, 2, 15), 24)));
        assert_eq!(o.listen, Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(o.interface, "eth0");
        assert_eq!(o.program, PathBuf::from("/bin/server"));
        assert_eq!(o.args, words("--root /srv --listen x"));
    }

    #[test]
    fn bad_words_are_one_line_errors() {
        assert_eq!(parse(words("")).unwrap_err(), "no program to run");
        assert_eq!(parse(words("--ip")).unwrap_err(), "--ip needs a value");
        assert!(parse(words("--ip 10.0.2.15 /x")).is_err());
        assert!(parse(words("--ip 10.0.2.15/33 /x")).is_err());
        assert!(parse(words("--listen 8080 /x")).is_err());
        assert_eq!(
            parse(words("--bogus 1 /x")).unwrap_err(),
            "unknown option '--bogus'"
        );
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(32), Ipv4Addr::BROADCAST);
        assert_eq!(netmask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(netmask(9), Ipv4Addr::new(255, 128, 0, 0));
    }
}
