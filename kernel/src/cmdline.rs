//! The kernel command line: `mewz.*` options for the kernel, the rest for the app.
//!
//! Syntax: whitespace-separated words; `"..."` groups a word with spaces, `\` escapes the next
//! character. Words before `--` starting with `mewz.` are kernel options; every word after `--`
//! is an app argument.
//!
//! Network words:
//! - `ip=ADDR/PREFIX gateway=ADDR dns=ADDR` (unprefixed, urunc's syntax; `dns=` repeatable):
//!   a static IPv4 configuration for the NIC instead of DHCP (see `crate::net::config`).
//! - `mewz.tcplisten=ADDR:PORT` (repeatable): a listening TCP socket the app finds open at
//!   start, non-blocking, at descriptors 3, 4, ... in the order given, before any preopened
//!   directory, as wasmtime 36 numbers its `-S tcplisten` sockets (see `crate::app::env`).
//!
//! Other words before `--` are plain settings (`KEY=VALUE`: the kernel's network words `ip=`,
//! `gateway=`, `dns=`; others are ignored, as a boot loader's `console=...`) until the first
//! word that is not one: there the command starts, and it runs to the end of the line, word
//! for word (`--` and `mewz.` words included). A container runtime appends the container's
//! command this way (urunc boots with `ip=A/N gateway=G <command>`); it becomes the app's
//! `argv` (see `crate::app::env`).

use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// `mewz.key=value` options (key without the `mewz.` prefix; value empty for flags).
    pub options: Vec<(String, String)>,
    /// Words after `--`.
    pub args: Vec<String>,
    /// Words before `--` that are not kernel options (`ip=...` and the like).
    pub plain: Vec<String>,
    /// The command: from the first word before `--` that is neither an option nor a
    /// `KEY=VALUE` setting, to the end of the line.
    pub command: Vec<String>,
}

impl CommandLine {
    pub fn parse(line: &str) -> CommandLine {
        let mut out = CommandLine::default();
        let mut after_dashes = false;
        for word in split_words(line) {
            if !out.command.is_empty() {
                out.command.push(word);
            } else if after_dashes {
                out.args.push(word);
            } else if word == "--" {
                after_dashes = true;
            } else if let Some(opt) = word.strip_prefix("mewz.") {
                let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
                out.options.push((k.into(), v.into()));
            } else if is_setting(&word) {
                out.plain.push(word);
            } else {
                out.command.push(word);
            }
        }
        out
    }

    /// Last value given for option `key`.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.option(key), Some("" | "1" | "on" | "true"))
    }
}

/// Whether `word` is a `KEY=VALUE` setting: a key that starts with a letter and holds only
/// letters, digits, `_`, `.` and `-` (so `--port=80` is a command word, `console=ttyS0` not).
fn is_setting(word: &str) -> bool {
    let Some((key, _)) = word.split_once('=') else {
        return false;
    };
    key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Quotes `word` so that [`CommandLine::parse`] reads it back as exactly one word.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\');
    if plain {
        return word.into();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('"');
    for c in word.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Whether `line` has the `--` that starts the app's arguments: an empty list after it is
/// still a list (it replaces arguments given elsewhere), which [`CommandLine::args`] alone
/// cannot tell from no list at all.
pub fn has_app_args(line: &str) -> bool {
    split_words(line).iter().any(|w| w == "--")
}

/// Kernel option `mewz.files-at=ADDR,LEN`: the packed directories lie in RAM at physical
/// address ADDR, LEN bytes (`mewz run` maps the archive file there as guest memory of its own,
/// so that nothing copies it). Read by the platforms before the heap exists, so it is found
/// without allocating: plain words (no quotes), numbers in hex (`0x`) or decimal.
pub const FILES_AT: &str = "files-at";

/// The range `mewz.files-at=ADDR,LEN` names, if the line has a well-formed one (the last wins).
pub fn files_at(line: &str) -> Option<(u64, u64)> {
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    };
    line.split_whitespace()
        .take_while(|w| *w != "--")
        .filter_map(|w| {
            w.strip_prefix("mewz.")?
                .strip_prefix(FILES_AT)?
                .strip_prefix('=')
        })
        .filter_map(|v| {
            let (addr, len) = v.split_once(',')?;
            Some((number(addr)?, number(len)?))
        })
        .last()
}

fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(core::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_options_and_app_args() {
        let c = CommandLine::parse(
            r#"console=ttyS0 mewz.verbose mewz.selftest=fault -- app "a b" c\"d """#,
        );
        assert_eq!(c.option("verbose"), Some(""));
        assert!(c.flag("verbose"));
        assert_eq!(c.option("selftest"), Some("fault"));
        assert_eq!(c.args, ["app", "a b", "c\"d", ""]);
        assert_eq!(c.plain, ["console=ttyS0"]);
        assert!(c.command.is_empty());
    }

    #[test]
    fn the_command_starts_at_the_first_word_that_is_no_setting() {
        let c = CommandLine::parse(
            r#"mewz.stdio=tty,tty,tty ip=10.0.0.2/24 gateway=10.0.0.1 server --port=80 -- mewz.x ip=1 "a b""#,
        );
        assert_eq!(c.option("stdio"), Some("tty,tty,tty"));
        assert_eq!(
            c.options.len(),
            1,
            "mewz. words in the command are the command's"
        );
        assert_eq!(c.plain, ["ip=10.0.0.2/24", "gateway=10.0.0.1"]);
        assert_eq!(
            c.command,
            ["server", "--port=80", "--", "mewz.x", "ip=1", "a b"]
        );
        assert!(c.args.is_empty());
        for word in ["FOO=bar", "ip=x", "a.b-c_d=1", "k="] {
            assert!(is_setting(word), "{word}");
        }
        for word in ["app", "--port=80", "=x", "1a=b", "a/b=c", ""] {
            assert!(!is_setting(word), "{word}");
        }
        // After `--`, everything is an argument, never a command.
        let c = CommandLine::parse("ip=10.0.0.2/24 -- app x");
        assert!(c.command.is_empty());
        assert_eq!(c.args, ["app", "x"]);
    }

    #[test]
    fn quote_round_trips_any_word() {
        let words = [
            "plain",
            "",
            "two words",
            "q\"uote",
            "back\\slash",
            "tab\there",
            "-- ",
            "ünï",
        ];
        let line: Vec<String> = words.iter().map(|w| quote(w)).collect();
        let c = CommandLine::parse(&format!("-- {}", line.join(" ")));
        assert_eq!(c.args, words);
        assert_eq!(quote("plain"), "plain");
    }

    #[test]
    fn app_argument_separator_is_detected_even_with_nothing_after_it() {
        assert!(has_app_args("mewz.verbose --"));
        assert!(has_app_args(r#"-- a"#));
        assert!(has_app_args(r#""--""#));
        assert!(!has_app_args("mewz.x=-- ---"));
        assert!(!has_app_args(r#""-- " mewz.a"#));
        assert!(!has_app_args(""));
    }

    #[test]
    fn files_at_is_found_without_allocating() {
        assert_eq!(
            files_at("mewz.verbose mewz.files-at=0x20000000,0xc800000 -- mewz.files-at=1,2"),
            Some((0x2000_0000, 0xc80_0000))
        );
        assert_eq!(
            files_at("mewz.files-at=4096,10 mewz.files-at=8192,20"),
            Some((8192, 20))
        );
        for bad in [
            "",
            "-- mewz.files-at=1,2",
            "mewz.files-at=1",
            "mewz.files-at=x,1",
            "mewz.files-atx=1,2",
        ] {
            assert_eq!(files_at(bad), None, "{bad}");
        }
    }

    #[test]
    fn later_options_win_and_empty_line_is_empty() {
        let c = CommandLine::parse("mewz.x=1 mewz.x=2");
        assert_eq!(c.option("x"), Some("2"));
        assert_eq!(CommandLine::parse("   "), CommandLine::default());
        assert!(!CommandLine::parse("mewz.verbose=off").flag("verbose"));
    }
}
