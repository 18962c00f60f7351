//! [`Env`]: the variables, and the `name=value` text that mkenvimage reads
//! and fw_printenv prints. Pure: no I/O.

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// A U-Boot environment: variable name → value, ordered by name.
///
/// Names and values are bytes (U-Boot stores C strings, not UTF-8):
/// a name is non-empty and holds neither `=` nor NUL, a value holds no
/// NUL and may be empty. The order is byte order of the names, which is
/// the order U-Boot's `saveenv` and libubootenv's `fw_setenv` write
/// (both sort with `strcmp`), so [`Env::to_block`] output is
/// deterministic and matches theirs.
///
/// Two things U-Boot itself does differently from fw_printenv when it
/// imports a block (neither changes what this crate reads or writes):
/// an entry with an empty value (`name=`) deletes the variable instead of
/// defining it empty, and a backslash in a value escapes the next byte
/// (`saveenv` writes `\` as `\\`; libubootenv neither escapes nor
/// unescapes). Avoid backslashes in values U-Boot must read.
///
/// `.flags` (U-Boot's variable-attribute list) is an ordinary variable
/// here, as in U-Boot. fw_printenv hides it, and fw_setenv rewrites it
/// after all other variables, keeping only the attributes it understands.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Env {
    vars: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.vars.iter().map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), String::from_utf8_lossy(v).into_owned()))).finish()
    }
}

/// Checks that `name` can be a U-Boot variable name: non-empty, no `=`,
/// no NUL.
pub fn check_name(name: &[u8]) -> Result<()> {
    let why = if name.is_empty() {
        "empty"
    } else if name.contains(&b'=') {
        "contains '='"
    } else if name.contains(&0) {
        "contains NUL"
    } else {
        return Ok(());
    };
    Err(Error::BadName { name: lossy(name), why })
}

/// Checks that `value` can be stored for `name`: no NUL.
pub fn check_value(name: &[u8], value: &[u8]) -> Result<()> {
    if value.contains(&0) {
        return Err(Error::BadValue { name: lossy(name), why: "contains NUL" });
    }
    Ok(())
}

pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Env {
    /// An empty environment.
    pub fn new() -> Env {
        Env::default()
    }

    /// The value of `name`, as bytes.
    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&[u8]> {
        self.vars.get(name.as_ref()).map(Vec::as_slice)
    }

    /// The value of `name` as text; [`Error::NotUtf8`] if it is not UTF-8.
    pub fn get_str(&self, name: impl AsRef<[u8]>) -> Result<Option<&str>> {
        let name = name.as_ref();
        match self.get(name) {
            None => Ok(None),
            Some(v) => std::str::from_utf8(v).map(Some).map_err(|_| Error::NotUtf8 { name: lossy(name) }),
        }
    }

    /// Whether `name` is set.
    pub fn contains(&self, name: impl AsRef<[u8]>) -> bool {
        self.vars.contains_key(name.as_ref())
    }

    /// Sets `name` to `value`, returning the old value. Fails on a name
    /// with `=` or NUL, an empty name, or a value with NUL.
    pub fn set(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let (name, value) = (name.as_ref(), value.as_ref());
        check_name(name)?;
        check_value(name, value)?;
        Ok(self.vars.insert(name.to_vec(), value.to_vec()))
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        self.vars.remove(name.as_ref())
    }

    /// The variables in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.vars.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// The number of variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there are no variables.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Bytes the variables take in a block's data area, including the
    /// terminating extra NUL: `Σ (name + 1 + value + 1) + 1`. A block of
    /// size S holds the environment iff `header + data_len() <= S`
    /// (header: 4 bytes, 5 when redundant).
    pub fn data_len(&self) -> usize {
        self.vars.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>() + 1
    }

    /// Parses the `name=value` text that mkenvimage turns into a block, with
    /// mkenvimage's rules exactly: one entry per line; empty lines are
    /// skipped; a line whose first byte is `#` is a comment; a backslash
    /// right before a newline puts a newline into the entry (the backslash
    /// is dropped); every other byte is kept (no trimming, `\r` stays).
    /// The line after an escaped newline is still a new line for the
    /// empty-line and comment rules, as in mkenvimage.
    ///
    /// Unlike mkenvimage, which copies such lines into the block (where
    /// U-Boot and fw_printenv ignore them), an entry without `=` or with an
    /// empty name is an [`Error::Text`]. A name given twice keeps the last
    /// value, as fw_printenv shows the block mkenvimage makes of it.
    ///
    /// fw_printenv's output is this format too, as long as no value holds
    /// a newline (fw_printenv prints them raw, without a backslash).
    pub fn from_text(text: &[u8]) -> Result<Env> {
        let mut env = Env::new();
        for (line, entry) in text_entries(text) {
            let Some(eq) = entry.iter().position(|&b| b == b'=') else {
                return Err(Error::Text { line, what: format!("{:?} has no '='", lossy(&entry)) });
            };
            let (name, value) = (&entry[..eq], &entry[eq + 1..]);
            if name.is_empty() {
                return Err(Error::Text { line, what: "empty variable name".into() });
            }
            env.set(name, value).map_err(|e| Error::Text { line, what: e.to_string() })?;
        }
        Ok(env)
    }

    /// Writes the variables as mkenvimage input, one `name=value` line each
    /// in name order, a newline inside a name or value written as
    /// backslash + newline, so that `Env::from_text(&env.to_text()?)` and
    /// `mkenvimage` both read back exactly `env`. For an environment
    /// without newlines in it this is also byte for byte what
    /// `fw_printenv` prints (it hides a `.flags` variable).
    ///
    /// mkenvimage's grammar cannot carry a name starting with `#`, a value
    /// ending in a backslash or a newline, or a `#` right after an embedded
    /// newline: those give [`Error::Unrepresentable`].
    pub fn to_text(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.data_len());
        for (name, value) in self.iter() {
            let why = if name.first() == Some(&b'#') {
                Some("name starts with '#' (a comment line)")
            } else if value.last() == Some(&b'\\') {
                Some("ends with a backslash (would escape the line end)")
            } else if value.last() == Some(&b'\n') {
                Some("ends with a newline (an empty line is skipped)")
            } else if name.iter().chain(b"=").chain(value).zip(name.iter().chain(b"=").chain(value).skip(1)).any(|(&a, &b)| a == b'\n' && b == b'#') {
                Some("'#' after a newline (a comment line)")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(Error::Unrepresentable { name: lossy(name), why });
            }
            for &b in name.iter().chain(b"=").chain(value) {
                if b == b'\n' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'\n');
        }
        Ok(out)
    }
}

/// Splits mkenvimage input into entries (with the 1-based line each starts
/// on), following `tools/mkenvimage.c` byte by byte: it looks at the raw
/// previous byte, so a newline right after an escaped one is an "empty
/// line" and a `#` there starts a comment.
pub(crate) fn text_entries(text: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut entries = Vec::new();
    let mut cur = Vec::new();
    let mut line = 1;
    let mut start_line = 1;
    let mut fp = 0;
    while fp < text.len() {
        let b = text[fp];
        let at_line_start = fp == 0 || text[fp - 1] == b'\n';
        if b == b'\n' {
            if at_line_start {
                // Empty line.
            } else if text[fp - 1] == b'\\' {
                cur.pop();
                cur.push(b'\n');
            } else {
                entries.push((start_line, std::mem::take(&mut cur)));
            }
            line += 1;
        } else if at_line_start && b == b'#' {
            while fp + 1 < text.len() && text[fp + 1] != b'\n' {
                fp += 1;
            }
            // mkenvimage's loop increment then steps over the newline
            // without looking at it.
            fp += 1;
            line += 1;
        } else {
            if cur.is_empty() {
                start_line = line;
            }
            cur.push(b);
        }
        fp += 1;
    }
    if !cur.is_empty() {
        entries.push((start_line, cur));
    }
    entries
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn env(pairs: &[(&str, &str)]) -> Env {
        let mut e = Env::new();
        for (k, v) in pairs {
            e.set(k, v).expect("valid");
        }
        e
    }

    #[test]
    fn names_are_checked() {
        let mut e = Env::new();
        for bad in [&b""[..], b"a=b", b"=", b"a\0b"] {
            let err = e.set(bad, "v").expect_err("bad name accepted");
            assert!(matches!(err, Error::BadName { .. }), "{err}");
        }
        assert!(matches!(e.set("a", b"x\0y"), Err(Error::BadValue { .. })));
        assert!(e.is_empty());
        // Anything else goes, including spaces, newlines and high bytes.
        e.set(b" we\n\xffird", "").expect("odd but valid name");
        assert_eq!(e.get(b" we\n\xffird"), Some(&b""[..]));
    }

    #[test]
    fn accessors() {
        let mut e = env(&[("b", "2"), ("a", "1")]);
        assert_eq!(e.get("a"), Some(&b"1"[..]));
        assert_eq!(e.get_str("b").expect("utf8"), Some("2"));
        assert_eq!(e.get_str("zz").expect("absent"), None);
        e.set("bin", b"\xff").expect("valid");
        assert!(matches!(e.get_str("bin"), Err(Error::NotUtf8 { .. })));
        assert_eq!(e.set("a", "one").expect("valid"), Some(b"1".to_vec()));
        assert_eq!(e.remove("a"), Some(b"one".to_vec()));
        assert!(!e.contains("a"));
        let names: Vec<_> = e.iter().map(|(k, _)| k).collect();
        assert_eq!(names, [&b"b"[..], b"bin"]);
        assert_eq!(e.data_len(), "b=2\0bin=\u{0}".len() + 1 + 1);
    }

    #[test]
    fn text_follows_mkenvimage() {
        let text = b"zeta=1\n\n# comment=no\nalpha=two words\nbeta=a=b\r\n\
            multi=x\\\ny\\\n\\\nz\nlast=no newline";
        let e = Env::from_text(text).expect("parses");
        assert_eq!(e.get("zeta"), Some(&b"1"[..]));
        assert_eq!(e.get("alpha"), Some(&b"two words"[..]));
        assert_eq!(e.get("beta"), Some(&b"a=b\r"[..]));
        assert_eq!(e.get("multi"), Some(&b"x\ny\n\nz"[..]));
        assert_eq!(e.get("last"), Some(&b"no newline"[..]));
        assert!(!e.contains("# comment"));
        assert_eq!(e.len(), 5);
    }

    #[test]
    fn text_quirks_of_mkenvimage() {
        // A '#' right after an escaped newline starts a comment, and an
        // empty line right after one is skipped (the raw previous byte is
        // a newline either way), but neither ends the entry: `printf
        // 'a=1\\\n#x\nb=2\\\n\nc\n' | mkenvimage` stores one entry
        // "a=1\nb=2\nc".
        let e = Env::from_text(b"a=1\\\n#x\nb=2\\\n\nc\n").expect("parses");
        assert_eq!(e.get("a"), Some(&b"1\nb=2\nc"[..]));
        assert_eq!(e.len(), 1);
        // Leading blanks are part of the name, as mkenvimage copies them.
        let e = Env::from_text(b"  sp=1\n").expect("parses");
        assert_eq!(e.get("  sp"), Some(&b"1"[..]));
        // The last of two definitions wins.
        let e = Env::from_text(b"a=1\na=2\n").expect("parses");
        assert_eq!(e.get("a"), Some(&b"2"[..]));
    }

    #[test]
    fn text_errors_name_the_line() {
        match Env::from_text(b"a=1\n\nnoequals\n") {
            Err(Error::Text { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected a text error, got {other:?}"),
        }
        match Env::from_text(b"# c\n=v\n") {
            Err(Error::Text { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected a text error, got {other:?}"),
        }
        assert!(matches!(Env::from_text(b"a=b\0c\n"), Err(Error::Text { line: 1, .. })));
    }

    #[test]
    fn text_round_trip_and_limits() {
        let mut e = env(&[("a", "1"), ("b", "x\ny"), ("c", ""), ("d", "p\\\nq")]);
        e.set("e\nf", "g").expect("valid");
        let text = e.to_text().expect("representable");
        assert_eq!(Env::from_text(&text).expect("parses"), e);
        assert!(text.starts_with(b"a=1\nb=x\\\ny\nc=\n"));

        for (k, v) in [("#x", "1"), ("a", "ends\\"), ("a", "ends\n"), ("a", "x\n#y")] {
            let e = env(&[(k, v)]);
            assert!(matches!(e.to_text(), Err(Error::Unrepresentable { .. })), "{k:?}={v:?}");
        }
    }
}
