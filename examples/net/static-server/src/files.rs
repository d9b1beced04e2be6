//! From a request target to a file under the served directory, and its Content-Type.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// What a GET or HEAD of a target finds.
#[derive(Debug)]
pub enum Found {
    File {
        file: File,
        len: u64,
        content_type: &'static str,
    },
    /// A directory named without its trailing slash: the client should ask for `location`.
    Directory {
        location: String,
    },
    NotFound,
    Forbidden,
    /// The target is not a path this server can serve (`..`, a NUL, not origin form).
    BadTarget,
    Failed(io::Error),
}

/// The file a directory request serves.
const INDEX: &str = "index.html";

/// Looks `target` up under `root`; never leaves `root` (`..` segments are refused).
pub fn find(root: &Path, target: &str) -> Found {
    let Some(path) = origin_path(target) else {
        return Found::BadTarget;
    };
    let Some(decoded) = percent_decode(path) else {
        return Found::BadTarget;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return Found::BadTarget;
    };
    let mut local = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Found::BadTarget,
            s if s.contains('\0') || s.contains('\\') => return Found::BadTarget,
            s => local.push(s),
        }
    }
    match std::fs::metadata(&local) {
        Ok(m) if m.is_dir() => {
            if !decoded.ends_with('/') {
                return Found::Directory {
                    location: format!("{path}/"),
                };
            }
            open(local.join(INDEX))
        }
        Ok(_) => open(local),
        Err(e) => from_error(e),
    }
}

fn open(path: PathBuf) -> Found {
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => return from_error(e),
    };
    match file.metadata() {
        Ok(m) if m.is_file() => Found::File {
            file,
            len: m.len(),
            content_type: content_type(&path),
        },
        Ok(_) => Found::NotFound,
        Err(e) => Found::Failed(e),
    }
}

fn from_error(e: io::Error) -> Found {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename => {
            Found::NotFound
        }
        io::ErrorKind::PermissionDenied => Found::Forbidden,
        _ => Found::Failed(e),
    }
}

/// The path of an origin-form (`/p?q`) or absolute-form (`http://h/p?q`) target.
fn origin_path(target: &str) -> Option<&str> {
    let without_query = target.split(['?', '#']).next().unwrap_or("");
    if without_query.starts_with('/') {
        return Some(without_query);
    }
    let rest = without_query
        .strip_prefix("http://")
        .or_else(|| without_query.strip_prefix("https://"))?;
    Some(rest.find('/').map_or("/", |i| &rest[i..]))
}

/// `%XX` escapes to bytes; `None` for a broken escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The Content-Type for a file name's extension (text types in UTF-8).
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "md" => "text/plain; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_paths() {
        assert_eq!(origin_path("/a/b?x=1#f"), Some("/a/b"));
        assert_eq!(origin_path("http://host:80/a"), Some("/a"));
        assert_eq!(origin_path("http://host"), Some("/"));
        assert_eq!(origin_path("*"), None);
        assert_eq!(origin_path("a/b"), None);
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(percent_decode("/a%20b%2f").unwrap(), b"/a b/");
        assert!(percent_decode("/a%2").is_none());
        assert!(percent_decode("/a%zz").is_none());
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type(Path::new("x/INDEX.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }

    #[test]
    fn lookups_stay_under_the_root() {
        let dir = std::env::temp_dir().join(format!("static-server-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/index.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.join("a b.txt"), "text").unwrap();
        match find(&dir, "/a%20b.txt") {
            Found::File {
                len, content_type, ..
            } => {
                assert_eq!(len, 4);
                assert_eq!(content_type, "text/plain; charset=utf-8");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(find(&dir, "/sub/"), Found::File { len: 9, .. }));
        assert!(
            matches!(find(&dir, "/sub?q"), Found::Directory { location } if location == "/sub/")
        );
        assert!(matches!(find(&dir, "/missing"), Found::NotFound));
        assert!(matches!(find(&dir, "/"), Found::NotFound));
        assert!(matches!(find(&dir, "/sub/../a%20b.txt"), Found::BadTarget));
        assert!(matches!(find(&dir, "/%2e%2e/etc/passwd"), Found::BadTarget));
        assert!(matches!(find(&dir, "/a%00"), Found::BadTarget));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
