//! Remote URLs that name other URLs, as ostree reads them:
//!
//! - `mirrorlist=URL`: a text file, one repository URL a line (blank lines
//!   and `#` comments skipped, only `http://` and `https://` kept); the
//!   first mirror that serves `config` and every one after it are used,
//!   in order, each taking over when the one before fails.
//! - `metalink=URL`: a Metalink 3 document naming the `summary` file, its
//!   size and SHA-256/SHA-512 digest, and the URLs that serve it. The first
//!   URL whose bytes match is the repository (its directory), and those
//!   verified bytes are the summary.
//!
//! Parsing is pure ([`parse_mirrorlist`], [`Metalink::parse`],
//! [`Metalink::check`]); the HTTP transport fetches.

use ring::digest;

/// Metalink documents and mirrorlists are small; anything larger is refused.
pub const MAX_LIST_SIZE: u64 = 1024 * 1024;

/// The repository URLs of a mirrorlist, in order. Lines that are not
/// http(s) URLs are skipped, as ostree skips them.
pub fn parse_mirrorlist(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

/// What a metalink says about the summary file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metalink {
    pub size: u64,
    /// Lowercase hex digests; SHA-512 is checked when present.
    pub sha256: Option<String>,
    pub sha512: Option<String>,
    /// Summary URLs, most preferred first.
    pub urls: Vec<String>,
}

/// One XML event of the small subset metalinks use.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Start { name: String, attrs: Vec<(String, String)>, empty: bool },
    End(String),
    Text(String),
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Split a document into elements and text. Processing instructions,
/// comments and doctypes are skipped. Errors in GMarkup's words where
/// ostree's tests read them.
fn events(doc: &str) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    let mut rest = doc;
    let mut depth = 0usize;
    let mut seen_root = false;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if !rest.trim().is_empty() {
                if !seen_root {
                    return Err("Document must begin with an element (e.g. <book>)".into());
                }
                out.push(Event::Text(unescape(rest)));
            }
            break;
        };
        let text = &rest[..lt];
        if !text.trim().is_empty() {
            if !seen_root {
                return Err("Document must begin with an element (e.g. <book>)".into());
            }
            out.push(Event::Text(unescape(text)));
        }
        rest = &rest[lt..];
        for (open, close) in [("<?", "?>"), ("<!--", "-->"), ("<!", ">")] {
            if rest.starts_with(open) {
                let end = rest.find(close).ok_or("unterminated markup")?;
                rest = &rest[end + close.len()..];
                break;
            }
        }
        if !rest.starts_with('<') || rest.starts_with("<!") || rest.starts_with("<?") {
            continue;
        }
        let gt = rest.find('>').ok_or("unterminated element")?;
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            depth = depth.checked_sub(1).ok_or("closing tag without an opening one")?;
            out.push(Event::End(name.trim().to_string()));
            continue;
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let mut parts = tag.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err("empty element name".into());
        }
        let mut attrs = Vec::new();
        let mut a = parts.next().unwrap_or_default().trim();
        while !a.is_empty() {
            let eq = a.find('=').ok_or("attribute without a value")?;
            let key = a[..eq].trim().to_string();
            let v = a[eq + 1..].trim_start();
            let quote = v.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or("unquoted attribute value")?;
            let end = v[1..].find(quote).ok_or("unterminated attribute value")?;
            attrs.push((key, unescape(&v[1..1 + end])));
            a = v[end + 2..].trim_start();
        }
        seen_root = true;
        if !empty {
            depth += 1;
        }
        out.push(Event::Start { name, attrs, empty });
    }
    if !seen_root {
        return Err("Document must begin with an element (e.g. <book>)".into());
    }
    if depth != 0 {
        return Err("Document ended unexpectedly".into());
    }
    Ok(out)
}

fn valid_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Metalink {
    /// The entry for `file` (ostree asks for "summary").
    pub fn parse(doc: &str, file: &str) -> Result<Metalink, String> {
        let mut path: Vec<String> = Vec::new();
        let (mut found_file, mut found_ours, mut in_ours) = (false, false, false);
        let mut size: Option<u64> = None;
        let (mut sha256, mut sha512) = (None, None);
        let mut urls: Vec<(i64, String)> = Vec::new();
        let mut hash_type: Option<String> = None;
        let mut url_pref: Option<i64> = None;
        let mut text = String::new();
        for ev in events(doc)? {
            match ev {
                Event::Start { name, attrs, empty } => {
                    let attr = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                    if name == "file" && path.last().is_some_and(|p| p == "files") {
                        found_file = true;
                        in_ours = attr("name").as_deref() == Some(file);
                        found_ours |= in_ours;
                    }
                    if in_ours {
                        match name.as_str() {
                            "hash" => hash_type = attr("type"),
                            "url" => url_pref = Some(attr("preference").and_then(|p| p.parse().ok()).unwrap_or(0)),
                            _ => {}
                        }
                    }
                    text.clear();
                    if !empty {
                        path.push(name);
                    }
                }
                Event::Text(t) => text.push_str(&t),
                Event::End(name) => {
                    path.pop();
                    let t = text.trim().to_string();
                    text.clear();
                    if !in_ours {
                        continue;
                    }
                    match name.as_str() {
                        "size" => size = t.parse().ok(),
                        "hash" => match hash_type.take().as_deref() {
                            Some("sha256") => {
                                if !valid_hex(&t, 64) {
                                    return Err("Invalid hash digest for sha256".into());
                                }
                                sha256 = Some(t.to_ascii_lowercase());
                            }
                            Some("sha512") => {
                                if !valid_hex(&t, 128) {
                                    return Err("Invalid hash digest for sha512".into());
                                }
                                sha512 = Some(t.to_ascii_lowercase());
                            }
                            _ => {}
                        },
                        "url" => {
                            if let Some(p) = url_pref.take() {
                                if t.starts_with("http://") || t.starts_with("https://") {
                                    urls.push((p, t));
                                }
                            }
                        }
                        "file" => in_ours = false,
                        _ => {}
                    }
                }
            }
        }
        if !found_file {
            return Err("No <file> element found".into());
        }
        if !found_ours {
            return Err(format!("No <file name='{file}'> found"));
        }
        let size = size.filter(|n| *n > 0).ok_or("No <size> element found or it is zero")?;
        if sha256.is_none() && sha512.is_none() {
            return Err("No <verification> element with known <hash type=> found".into());
        }
        if urls.is_empty() {
            return Err("No <url method='http'> elements found".into());
        }
        // Most preferred first; equal preferences keep document order.
        urls.sort_by_key(|(p, _)| std::cmp::Reverse(*p));
        Ok(Metalink { size, sha256, sha512, urls: urls.into_iter().map(|(_, u)| u).collect() })
    }

    /// Check fetched bytes against the size and digest (SHA-512 when given).
    pub fn check(&self, data: &[u8]) -> Result<(), String> {
        if data.len() as u64 != self.size {
            return Err(format!("Expected size is {} bytes but content is {} bytes", self.size, data.len()));
        }
        let (alg, expected) = match (&self.sha512, &self.sha256) {
            (Some(h), _) => (&digest::SHA512, h),
            (None, Some(h)) => (&digest::SHA256, h),
            (None, None) => return Err("No <verification> hash for sha256 or sha512 found".into()),
        };
        let actual: String = digest::digest(alg, data).as_ref().iter().map(|b| format!("{b:02x}")).collect();
        if actual != *expected {
            return Err(format!("Expected checksum is {expected} but actual is {actual}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(file_body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\">\n\
             <deeply><nested>hello &amp; world</nested></deeply>\n<files>\n<file name=\"summary\">{file_body}</file>\n</files>\n</metalink>\n"
        )
    }

    fn hex(alg: &'static digest::Algorithm, data: &[u8]) -> String {
        digest::digest(alg, data).as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn mirrorlist_lines() {
        let l = parse_mirrorlist("\n\n# comment\nhttp://a/x/\n  https://b/y  \nftp://c/z\nnot a url\n\nhttp://d\n");
        assert_eq!(l, ["http://a/x", "https://b/y", "http://d"]);
    }

    #[test]
    fn metalink_parses_checks_and_orders_urls() {
        let data = b"summary bytes";
        let body = format!(
            "<size>{}</size><verification><hash type=\"md5\">00</hash><hash type=\"sha256\">{}</hash><hash type=\"sha512\">{}</hash></verification>\
             <resources maxconnections=\"1\"><url protocol=\"http\" preference=\"98\">http://h/repo/summary</url>\
             <url protocol=\"http\" preference=\"100\">http://h/bad/summary</url><url protocol=\"ftp\" preference=\"99\">ftp://h/summary</url></resources>",
            data.len(),
            hex(&digest::SHA256, data),
            hex(&digest::SHA512, data)
        );
        let m = Metalink::parse(&doc(&body), "summary").expect("valid");
        assert_eq!(m.urls, ["http://h/bad/summary", "http://h/repo/summary"]);
        m.check(data).expect("matches");
        assert_eq!(m.check(b"moo").expect_err("size"), format!("Expected size is {} bytes but content is 3 bytes", data.len()));
        let other = b"summary bytez";
        assert!(m.check(other).expect_err("digest").starts_with("Expected checksum is "), "sha512 is checked");
    }

    #[test]
    fn metalink_errors_in_ostrees_words() {
        let ok_hash = hex(&digest::SHA256, b"x");
        let url = "<resources><url protocol=\"http\">http://h/summary</url></resources>";
        let cases = [
            (format!("<size>1</size><verification><hash type=\"sha512\">bacon</hash></verification>{url}"), "Invalid hash digest for sha512"),
            (
                format!("<size>1</size><verification><hash type=\"md5\">00</hash></verification>{url}"),
                "No <verification> element with known <hash type=> found",
            ),
            (format!("<size>1</size><verification><hash type=\"sha256\">{ok_hash}</hash></verification>"), "No <url method='http'> elements found"),
            (format!("<verification><hash type=\"sha256\">{ok_hash}</hash></verification>{url}"), "No <size> element found or it is zero"),
        ];
        for (body, want) in cases {
            assert_eq!(Metalink::parse(&doc(&body), "summary").expect_err(want), want);
        }
        assert_eq!(Metalink::parse("bacon\n", "summary").expect_err("not xml"), "Document must begin with an element (e.g. <book>)");
        assert_eq!(Metalink::parse("<metalink><files></files></metalink>", "summary").expect_err("no file"), "No <file> element found");
        assert_eq!(
            Metalink::parse("<metalink><files><file name=\"x\"/></files></metalink>", "summary").expect_err("other file"),
            "No <file name='summary'> found"
        );
        assert!(Metalink::parse("<metalink><files>", "summary").is_err(), "truncated documents are refused");
    }
}
