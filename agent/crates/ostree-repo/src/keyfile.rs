//! GLib "key file" (INI) text as ostree reads and writes it: repo `config`,
//! `.origin` files, `remotes.d/*.conf`.
//!
//! Comments, blank lines and order are kept, so editing a file written by
//! ostree (or a human) changes only the edited line. `Display` produces the
//! same bytes as `g_key_file_to_data`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// Comment or blank line, verbatim.
    Other(String),
    Entry {
        key: String,
        value: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    name: String,
    lines: Vec<Line>,
}

/// A parsed key file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFile {
    /// Lines before the first group.
    head: Vec<String>,
    groups: Vec<Group>,
}

/// Parse error with line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct ParseError {
    pub line: usize,
    pub what: &'static str,
}

impl KeyFile {
    pub fn new() -> KeyFile {
        KeyFile::default()
    }

    pub fn parse(text: &str) -> Result<KeyFile, ParseError> {
        let mut kf = KeyFile::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches(is_glib_space);
            if line.is_empty() || line.starts_with('#') {
                match kf.groups.last_mut() {
                    Some(g) => g.lines.push(Line::Other(raw.to_string())),
                    None => kf.head.push(raw.to_string()),
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest.trim_end_matches(is_glib_space).strip_suffix(']').ok_or(ParseError { line: i + 1, what: "unterminated group header" })?;
                if name.is_empty() || name.contains(['[', ']']) {
                    return Err(ParseError { line: i + 1, what: "invalid group name" });
                }
                kf.groups.push(Group { name: name.to_string(), lines: Vec::new() });
                continue;
            }
            let (k, v) = line.split_once('=').ok_or(ParseError { line: i + 1, what: "expected key=value" })?;
            let key = k.trim_end_matches(is_glib_space).to_string();
            if key.is_empty() {
                return Err(ParseError { line: i + 1, what: "empty key" });
            }
            let group = kf.groups.last_mut().ok_or(ParseError { line: i + 1, what: "key outside of any group" })?;
            group.lines.push(Line::Entry { key, value: v.trim_start_matches(is_glib_space).to_string() });
        }
        Ok(kf)
    }

    fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn has_group(&self, name: &str) -> bool {
        self.group(name).is_some()
    }

    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|g| g.name.as_str())
    }

    /// Keys of a group in file order (last one wins for duplicates on read).
    pub fn keys(&self, group: &str) -> Vec<&str> {
        self.group(group)
            .map(|g| g.lines.iter().filter_map(|l| if let Line::Entry { key, .. } = l { Some(key.as_str()) } else { None }).collect())
            .unwrap_or_default()
    }

    /// Raw (escaped) value.
    pub fn get_raw(&self, group: &str, key: &str) -> Option<&str> {
        self.group(group)?.lines.iter().rev().find_map(|l| match l {
            Line::Entry { key: k, value } if k == key => Some(value.as_str()),
            _ => None,
        })
    }

    /// Unescaped string value.
    pub fn get(&self, group: &str, key: &str) -> Option<String> {
        self.get_raw(group, key).map(unescape)
    }

    /// Boolean as GLib reads it (`true`/`false`, also `1`/`0`).
    pub fn get_bool(&self, group: &str, key: &str) -> Result<Option<bool>, String> {
        match self.get(group, key).as_deref().map(str::trim) {
            None => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(other) => Err(format!("key {key:?} in group [{group}]: {other:?} is not a boolean")),
        }
    }

    /// `;`-separated list (escaped `\;` kept in items).
    pub fn get_list(&self, group: &str, key: &str) -> Option<Vec<String>> {
        let raw = self.get_raw(group, key)?;
        let mut items = Vec::new();
        let mut cur = String::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        if n == ';' {
                            cur.push(';');
                        } else {
                            cur.push('\\');
                            cur.push(n);
                        }
                    }
                }
                ';' => items.push(unescape(&std::mem::take(&mut cur))),
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            items.push(unescape(&cur));
        }
        Some(items)
    }

    /// Set a string value (escaped), creating the group at the end if needed.
    pub fn set(&mut self, group: &str, key: &str, value: &str) {
        self.set_raw(group, key, escape(value));
    }

    pub fn set_bool(&mut self, group: &str, key: &str, value: bool) {
        self.set_raw(group, key, if value { "true" } else { "false" }.to_string());
    }

    pub fn set_list(&mut self, group: &str, key: &str, items: &[&str]) {
        let mut s = String::new();
        for it in items {
            s.push_str(&escape(it).replace(';', "\\;"));
            s.push(';');
        }
        self.set_raw(group, key, s);
    }

    fn set_raw(&mut self, group: &str, key: &str, value: String) {
        if !self.has_group(group) {
            self.add_group(group);
        }
        let Some(g) = self.groups.iter_mut().find(|g| g.name == group) else { unreachable!("group was just added") };
        if let Some(Line::Entry { value: v, .. }) = g.lines.iter_mut().rev().find(|l| matches!(l, Line::Entry { key: k, .. } if k == key)) {
            *v = value;
            return;
        }
        // New keys go after the last entry, before trailing blank lines.
        let pos = g.lines.iter().rposition(|l| matches!(l, Line::Entry { .. })).map_or(0, |p| p + 1);
        g.lines.insert(pos, Line::Entry { key: key.to_string(), value });
    }

    fn add_group(&mut self, group: &str) {
        // GLib separates a new group from the previous one with a blank line.
        if let Some(prev) = self.groups.last_mut() {
            if !matches!(prev.lines.last(), Some(Line::Other(l)) if l.trim().is_empty()) {
                prev.lines.push(Line::Other(String::new()));
            }
        }
        self.groups.push(Group { name: group.to_string(), lines: Vec::new() });
    }

    /// Remove a key; returns whether it existed.
    pub fn remove_key(&mut self, group: &str, key: &str) -> bool {
        let Some(g) = self.groups.iter_mut().find(|g| g.name == group) else { return false };
        let before = g.lines.len();
        g.lines.retain(|l| !matches!(l, Line::Entry { key: k, .. } if k == key));
        before != g.lines.len()
    }

    /// Remove a whole group as `g_key_file_remove_group` does: the blank
    /// line that separated it stays with the previous group (ostree's
    /// upgrade writes origins this way). Returns whether it existed.
    pub fn remove_group_keep_separator(&mut self, group: &str) -> bool {
        let before = self.groups.len();
        self.groups.retain(|g| g.name != group);
        before != self.groups.len()
    }

    /// Remove a whole group and the blank line that separated it (what
    /// `ostree remote delete` leaves); returns whether it existed.
    pub fn remove_group(&mut self, group: &str) -> bool {
        let before = self.groups.len();
        self.groups.retain(|g| g.name != group);
        // Drop the separator blank line the removed group left behind.
        if let Some(last) = self.groups.last_mut() {
            while matches!(last.lines.last(), Some(Line::Other(l)) if l.trim().is_empty()) {
                last.lines.pop();
            }
        }
        before != self.groups.len()
    }
}

impl fmt::Display for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.head {
            writeln!(f, "{l}")?;
        }
        for g in &self.groups {
            writeln!(f, "[{}]", g.name)?;
            for l in &g.lines {
                match l {
                    Line::Other(s) => writeln!(f, "{s}")?,
                    Line::Entry { key, value } => writeln!(f, "{key}={value}")?,
                }
            }
        }
        Ok(())
    }
}

/// The blanks GLib skips around keys, values and group headers: ASCII
/// space, tab, newline, form feed and carriage return (`g_ascii_isspace`),
/// not vertical tab nor any non-ASCII space, which belong to the value.
fn is_glib_space(c: char) -> bool {
    c.is_ascii_whitespace()
}

/// GLib's value escaping: leading space as `\s`, control characters and backslash.
pub fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        match c {
            ' ' if i == 0 => out.push_str("\\s"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out
}

pub fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_config_bytes() {
        let mut kf = KeyFile::new();
        kf.set("core", "repo_version", "1");
        kf.set("core", "mode", "archive-z2");
        assert_eq!(kf.to_string(), "[core]\nrepo_version=1\nmode=archive-z2\n");
    }

    #[test]
    fn edit_preserves_comments_and_adds_groups_with_blank_line() {
        let text = "# hand-written\n[core]\nrepo_version=1\n# keep me\nmode=bare\n";
        let mut kf = KeyFile::parse(text).expect("parse");
        assert_eq!(kf.to_string(), text);
        kf.set("remote \"origin\"", "url", "https://example.com/repo");
        kf.set_bool("remote \"origin\"", "gpg-verify", false);
        assert_eq!(kf.to_string(), format!("{text}\n[remote \"origin\"]\nurl=https://example.com/repo\ngpg-verify=false\n"));
        assert_eq!(kf.get_bool("remote \"origin\"", "gpg-verify"), Ok(Some(false)));
        assert!(kf.remove_group("remote \"origin\""));
        assert_eq!(kf.to_string(), text);
    }

    #[test]
    fn escapes_and_lists() {
        let mut kf = KeyFile::new();
        kf.set("g", "k", " lead\ttab\\");
        assert_eq!(kf.get_raw("g", "k"), Some("\\slead\\ttab\\\\"));
        assert_eq!(kf.get("g", "k").as_deref(), Some(" lead\ttab\\"));
        kf.set_list("g", "l", &["a", "b;c"]);
        assert_eq!(kf.get_list("g", "l"), Some(vec!["a".to_string(), "b;c".to_string()]));
    }

    #[test]
    fn fuzz_leading_vertical_tab_and_unicode_spaces_are_value_bytes() {
        // Found by the keyfile fuzz target: a value set to "\x0b\t" read
        // back as "\t" (str::trim_start also skips vertical tab and Unicode
        // spaces). The file below, read by ostree 2022.7 (`ostree config
        // get core.K`), gives the values asserted here.
        let text = "[core]\nu=\u{3000}x\nnb=\u{a0}y\nv=\x0bx\nf=\x0cx\nt=\t z\nk4\x0b=c\n";
        let kf = KeyFile::parse(text).expect("parse");
        assert_eq!(kf.get("core", "u").as_deref(), Some("\u{3000}x"));
        assert_eq!(kf.get("core", "nb").as_deref(), Some("\u{a0}y"));
        assert_eq!(kf.get("core", "v").as_deref(), Some("\x0bx"));
        assert_eq!(kf.get("core", "f").as_deref(), Some("x"));
        assert_eq!(kf.get("core", "t").as_deref(), Some("z"));
        assert_eq!(kf.get("core", "k4\x0b").as_deref(), Some("c"));
        let mut kf = KeyFile::new();
        kf.set("x", "x", "\x0b\t");
        let back = KeyFile::parse(&kf.to_string()).expect("parse");
        assert_eq!(back.get("x", "x").as_deref(), Some("\x0b\t"));
    }

    #[test]
    fn malformed() {
        assert!(KeyFile::parse("key=outside\n").is_err());
        assert!(KeyFile::parse("[core\n").is_err());
        assert!(KeyFile::parse("[core]\nnovalue\n").is_err());
    }
}
