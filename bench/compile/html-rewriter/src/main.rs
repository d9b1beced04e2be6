//! Rewrites HTML from stdin to stdout with lol_html (Cloudflare's streaming rewriter): links
//! become absolute https, images lazy, scripts go. A compile-time benchmark input.

use lol_html::{HtmlRewriter, Settings, element};
use std::io::{Read, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    let mut rewriter = HtmlRewriter::new(
        Settings {
            element_content_handlers: vec![
                element!("a[href]", |el| {
                    let href = el.get_attribute("href").unwrap_or_default();
                    if let Some(rest) = href.strip_prefix("http://") {
                        el.set_attribute("href", &format!("https://{rest}"))?;
                    }
                    Ok(())
                }),
                element!("img", |el| {
                    el.set_attribute("loading", "lazy")?;
                    Ok(())
                }),
                element!("script", |el| {
                    el.remove();
                    Ok(())
                }),
            ],
            ..Settings::new()
        },
        |chunk: &[u8]| out.extend_from_slice(chunk),
    );
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    rewriter.write(&input)?;
    rewriter.end()?;
    std::io::stdout().write_all(&out)?;
    Ok(())
}
