//! A remote's cookie jar, as ostree keeps it: `<repo>/<remote>.cookies.txt`
//! in the Netscape format curl reads (`DOMAIN\tSUBDOMAINS\tPATH\tSECURE\t
//! EXPIRES\tNAME\tVALUE`, one cookie a line, mode 0600). `remote
//! add-cookie`/`delete-cookie` edit it; a pull sends the cookies whose
//! domain and path match each request.
//!
//! Parsing and matching are pure; [`load`] and [`save`] are the file I/O.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::object::validate_remote_name;
use crate::repo::Repo;

/// ostree gives added cookies libsoup's 25 years (a year of 365.2422 days).
pub const ADDED_COOKIE_LIFETIME: u64 = 25 * 31_556_926;

/// Jars are a few lines; anything larger is not one.
const MAX_JAR_SIZE: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub domain: String,
    pub include_subdomains: bool,
    pub path: String,
    pub secure: bool,
    /// Seconds since the epoch; 0 = a session cookie.
    pub expires: u64,
    pub name: String,
    pub value: String,
}

impl Cookie {
    /// Whether a request to `https`?`://host/path` carries this cookie.
    pub fn matches(&self, https: bool, host: &str, path: &str, now: u64) -> bool {
        let domain = self.domain.strip_prefix('.').unwrap_or(&self.domain);
        let host_ok = host.eq_ignore_ascii_case(domain)
            || ((self.include_subdomains || self.domain.starts_with('.')) && host.to_ascii_lowercase().ends_with(&format!(".{}", domain.to_ascii_lowercase())));
        let path_ok = path.starts_with(&self.path) && (self.path.ends_with('/') || path.len() == self.path.len() || path.as_bytes()[self.path.len()] == b'/');
        host_ok && path_ok && (https || !self.secure) && (self.expires == 0 || self.expires > now)
    }
}

fn flag(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// The cookies of a jar file's text. Comment lines are skipped, and so are
/// lines that are not seven tab-separated fields (curl skips them too);
/// curl's `#HttpOnly_` prefix is read as part of the domain's line.
pub fn parse(text: &str) -> Vec<Cookie> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.strip_prefix("#HttpOnly_").unwrap_or(line);
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 7 {
            continue;
        }
        let Ok(expires) = f[4].parse::<u64>() else { continue };
        out.push(Cookie {
            domain: f[0].to_string(),
            include_subdomains: f[1] == "TRUE",
            path: f[2].to_string(),
            secure: f[3] == "TRUE",
            expires,
            name: f[5].to_string(),
            value: f[6].to_string(),
        });
    }
    out
}

pub fn to_text(jar: &[Cookie]) -> String {
    jar.iter()
        .map(|c| format!("{}\t{}\t{}\t{}\t{}\t{}\t{}\n", c.domain, flag(c.include_subdomains), c.path, flag(c.secure), c.expires, c.name, c.value))
        .collect()
}

/// The `Cookie:` header value for a request, if any cookie applies.
pub fn header(jar: &[Cookie], https: bool, host: &str, path: &str, now: u64) -> Option<String> {
    let v: Vec<String> = jar.iter().filter(|c| c.matches(https, host, path, now)).map(|c| format!("{}={}", c.name, c.value)).collect();
    (!v.is_empty()).then(|| v.join("; "))
}

pub fn jar_path(repo: &Repo, remote: &str) -> Result<PathBuf> {
    validate_remote_name(remote)?;
    Ok(repo.path().join(format!("{remote}.cookies.txt")))
}

/// The remote's cookies; none if it has no jar.
pub fn load(repo: &Repo, remote: &str) -> Result<Vec<Cookie>> {
    let p = jar_path(repo, remote)?;
    match fsutil::read_regular(&p, MAX_JAR_SIZE) {
        Ok(b) => Ok(parse(&String::from_utf8_lossy(&b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(&p, e)),
    }
}

fn save(path: &Path, jar: &[Cookie], durable: bool) -> Result<()> {
    fsutil::atomic_write(path, to_text(jar).as_bytes(), 0o600, durable)
}

fn check_field(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.contains(['\t', '\n', '\r']) {
        return Err(Error::Invalid(format!("cookie {what} {v:?}: empty, or contains a tab or line break")));
    }
    Ok(())
}

/// `remote add-cookie`: replaces a cookie of the same domain, path and name.
pub fn add(repo: &Repo, remote: &str, cookie: Cookie) -> Result<()> {
    crate::remote::get(repo, remote)?;
    for (what, v) in [("domain", &cookie.domain), ("path", &cookie.path), ("name", &cookie.name), ("value", &cookie.value)] {
        check_field(what, v)?;
    }
    let mut jar = load(repo, remote)?;
    jar.retain(|c| !(c.domain == cookie.domain && c.path == cookie.path && c.name == cookie.name));
    jar.push(cookie);
    save(&jar_path(repo, remote)?, &jar, repo.fsync_enabled())
}

/// `remote delete-cookie`: "Cookie not found in jar" if none matched.
pub fn delete(repo: &Repo, remote: &str, domain: &str, path: &str, name: &str) -> Result<()> {
    crate::remote::get(repo, remote)?;
    let mut jar = load(repo, remote)?;
    let before = jar.len();
    jar.retain(|c| !(c.domain == domain && c.path == path && c.name == name));
    if jar.len() == before {
        return Err(Error::Invalid("Cookie not found in jar".into()));
    }
    save(&jar_path(repo, remote)?, &jar, repo.fsync_enabled())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(domain: &str, path: &str, name: &str) -> Cookie {
        Cookie {
            domain: domain.into(),
            include_subdomains: false,
            path: path.into(),
            secure: false,
            expires: 2_585_078_835,
            name: name.into(),
            value: "v".into(),
        }
    }

    #[test]
    fn jar_text_round_trips_in_ostrees_layout() {
        let jar = vec![cookie("127.0.0.1", "/", "foo"), Cookie { secure: true, include_subdomains: true, ..cookie(".example.com", "/repo", "baz") }];
        let text = to_text(&jar);
        assert_eq!(text.lines().next(), Some("127.0.0.1\tFALSE\t/\tFALSE\t2585078835\tfoo\tv"));
        assert_eq!(parse(&format!("# Netscape HTTP Cookie File\n\nnot a cookie\n{text}")), jar);
    }

    #[test]
    fn cookies_go_only_where_they_belong() {
        let now = 1_800_000_000;
        let jar = vec![
            cookie("127.0.0.1", "/", "a"),
            cookie("127.0.0.1", "/repo", "b"),
            Cookie { secure: true, ..cookie("127.0.0.1", "/", "c") },
            Cookie { expires: now - 1, ..cookie("127.0.0.1", "/", "d") },
            cookie(".example.com", "/", "e"),
        ];
        assert_eq!(header(&jar, false, "127.0.0.1", "/repo/config", now).as_deref(), Some("a=v; b=v"));
        assert_eq!(header(&jar, true, "127.0.0.1", "/repository", now).as_deref(), Some("a=v; c=v"));
        assert_eq!(header(&jar, false, "cdn.example.com", "/x", now).as_deref(), Some("e=v"));
        assert_eq!(header(&jar, false, "badexample.com", "/x", now), None);
        assert_eq!(header(&jar, false, "10.0.0.1", "/", now), None);
    }
}
