//! GVariant text format, read side (`g_variant_parse` with no type given),
//! for values given on the command line: `summary --add-metadata=KEY=VALUE`
//! takes `'text'`, `true`, `@t 123`, `@a{sv} {}`, `<uint32 5>`, … as ostree
//! does.
//!
//! Covered: booleans, numbers (an unannotated integer is an `int32`, one
//! with a `.` or exponent a `double`), strings in either quote with C
//! escapes, byte strings (`b'…'`, NUL-terminated as GLib makes them),
//! `<variants>`, `[arrays]`, `{dicts: …}`, `{dict, entries}`, `(tuples)`,
//! `just`/`nothing`, `@TYPE` annotations and the type keywords (`uint64 7`).
//! An array takes its element type from its annotation or its first
//! element; GLib's wider unification (`[1, 2.5]`) is not done.

use crate::gvariant::{Type, Value, MAX_DEPTH};

/// Why a text value did not parse; `at` is a byte offset into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {what}")]
pub struct ParseError {
    pub at: usize,
    pub what: String,
}

/// Parse one complete value.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let mut p = Parser { s: text.as_bytes(), pos: 0, depth: 0 };
    let v = p.value(None)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.err("expected end of input"));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

const KEYWORDS: &[(&str, &str)] = &[
    ("boolean", "b"),
    ("byte", "y"),
    ("int16", "n"),
    ("uint16", "q"),
    ("int32", "i"),
    ("uint32", "u"),
    ("int64", "x"),
    ("uint64", "t"),
    ("handle", "h"),
    ("double", "d"),
    ("string", "s"),
    ("objectpath", "o"),
    ("signature", "g"),
];

impl Parser<'_> {
    fn err(&self, what: impl Into<String>) -> ParseError {
        ParseError { at: self.pos, what: what.into() }
    }

    fn ws(&mut self) {
        while self.s.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        if self.peek() != Some(c) {
            return Err(self.err(format!("expected '{}'", c as char)));
        }
        self.pos += 1;
        Ok(())
    }

    fn word(&mut self) -> &str {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            self.pos += 1;
        }
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default()
    }

    /// A value of type `want` (any when `None`).
    fn value(&mut self, want: Option<&Type>) -> Result<Value, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let v = self.value_inner(want);
        self.depth -= 1;
        let v = v?;
        match want {
            Some(t) if v.type_of() != *t => Err(self.err(format!("value of type {} where {t} is expected", v.type_of()))),
            _ => Ok(v),
        }
    }

    fn value_inner(&mut self, want: Option<&Type>) -> Result<Value, ParseError> {
        let Some(c) = self.peek() else { return Err(self.err("expected a value")) };
        match c {
            b'@' => {
                self.pos += 1;
                self.ws();
                let (t, end) = Type::parse_at(self.s, self.pos, MAX_DEPTH).ok_or_else(|| self.err("invalid type after '@'"))?;
                self.pos = end;
                if want.is_some_and(|w| *w != t) {
                    return Err(self.err(format!("type {t} where {} is expected", want.map(Type::to_string).unwrap_or_default())));
                }
                self.value(Some(&t))
            }
            b'<' => {
                self.pos += 1;
                let inner = self.value(None)?;
                self.expect(b'>')?;
                Ok(Value::Variant(Box::new(inner)))
            }
            b'[' => self.array(want),
            b'{' => self.dict(want),
            b'(' => self.tuple(want),
            b'\'' | b'"' => {
                let s = self.string()?;
                Ok(match want {
                    Some(Type::ObjectPath) => Value::ObjectPath(s),
                    Some(Type::Signature) => Value::Signature(s),
                    _ => Value::Str(s),
                })
            }
            b'b' if matches!(self.s.get(self.pos + 1), Some(b'\'' | b'"')) => {
                self.pos += 1;
                let mut bytes = self.string()?.into_bytes();
                bytes.push(0);
                Ok(Value::Bytes(bytes))
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => self.number(want),
            _ => {
                let start = self.pos;
                let w = self.word().to_string();
                match w.as_str() {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "nothing" => match want {
                        Some(Type::Maybe(t)) => Ok(Value::Maybe((**t).clone(), None)),
                        _ => Err(ParseError { at: start, what: "unable to infer the type of 'nothing'".into() }),
                    },
                    "just" => {
                        let inner_want = match want {
                            Some(Type::Maybe(t)) => Some(&**t),
                            _ => None,
                        };
                        let v = self.value(inner_want)?;
                        Ok(Value::Maybe(v.type_of(), Some(Box::new(v))))
                    }
                    _ => match KEYWORDS.iter().find(|(k, _)| *k == w) {
                        Some((_, ts)) => {
                            let t = Type::parse(ts).map_err(|e| self.err(e.to_string()))?;
                            self.value(Some(&t))
                        }
                        None => Err(ParseError { at: start, what: format!("unknown keyword {w:?}") }),
                    },
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let quote = self.s[self.pos];
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else { return Err(self.err("unterminated string")) };
            self.pos += 1;
            if c == quote {
                break;
            }
            if c != b'\\' {
                out.push(c);
                continue;
            }
            let Some(&e) = self.s.get(self.pos) else { return Err(self.err("unterminated string")) };
            self.pos += 1;
            let simple = match e {
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'r' => Some(b'\r'),
                b'a' => Some(7),
                b'b' => Some(8),
                b'f' => Some(12),
                b'v' => Some(11),
                b'u' | b'U' => None,
                other => Some(other),
            };
            match simple {
                Some(b) => out.push(b),
                None => {
                    let n = if e == b'u' { 4 } else { 8 };
                    let hex = self.s.get(self.pos..self.pos + n).and_then(|h| std::str::from_utf8(h).ok()).ok_or_else(|| self.err("short \\u escape"))?;
                    let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).ok_or_else(|| self.err("invalid \\u escape"))?;
                    self.pos += n;
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }

    fn number(&mut self, want: Option<&Type>) -> Result<Value, ParseError> {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.')) {
            self.pos += 1;
        }
        let tok = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default();
        let bad = || ParseError { at: start, what: format!("invalid number {tok:?}") };
        let is_float = !tok.starts_with("0x") && !tok.starts_with("-0x") && tok.contains(['.', 'e', 'E']);
        let want = match want {
            Some(t) => t.clone(),
            None if is_float => Type::Double,
            None => Type::I32,
        };
        if want == Type::Double {
            return tok.parse::<f64>().map(Value::Double).map_err(|_| bad());
        }
        let (neg, digits) = match tok.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, tok.strip_prefix('+').unwrap_or(tok)),
        };
        let (radix, digits) = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
            Some(h) => (16, h),
            None if digits.len() > 1 && digits.starts_with('0') => (8, &digits[1..]),
            None => (10, digits),
        };
        let mag = i128::from(u64::from_str_radix(digits, radix).map_err(|_| bad())?);
        let n = if neg { -mag } else { mag };
        let range = || ParseError { at: start, what: format!("number {tok} out of range for {want}") };
        Ok(match want {
            Type::Byte => Value::Byte(u8::try_from(n).map_err(|_| range())?),
            Type::I16 => Value::I16(i16::try_from(n).map_err(|_| range())?),
            Type::U16 => Value::U16(u16::try_from(n).map_err(|_| range())?),
            Type::I32 => Value::I32(i32::try_from(n).map_err(|_| range())?),
            Type::U32 => Value::U32(u32::try_from(n).map_err(|_| range())?),
            Type::I64 => Value::I64(i64::try_from(n).map_err(|_| range())?),
            Type::U64 => Value::U64(u64::try_from(n).map_err(|_| range())?),
            Type::Handle => Value::Handle(i32::try_from(n).map_err(|_| range())?),
            other => return Err(ParseError { at: start, what: format!("a number where {other} is expected") }),
        })
    }

    /// Elements up to `close`, separated by commas; the first fixes the
    /// type of the rest when `elem` is not given.
    fn list(&mut self, close: u8, elem: Option<&Type>) -> Result<Vec<Value>, ParseError> {
        let mut out: Vec<Value> = Vec::new();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            let first = out.first().map(Value::type_of);
            out.push(self.value(elem.or(first.as_ref()))?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => return Err(self.err(format!("expected ',' or '{}'", close as char))),
            }
        }
    }

    fn array(&mut self, want: Option<&Type>) -> Result<Value, ParseError> {
        self.pos += 1;
        let elem = match want {
            Some(Type::Array(e)) => Some(&**e),
            Some(t) => return Err(self.err(format!("an array where {t} is expected"))),
            None => None,
        };
        let items = self.list(b']', elem)?;
        let ty = match (elem, items.first()) {
            (Some(e), _) => e.clone(),
            (None, Some(v)) => v.type_of(),
            (None, None) => return Err(self.err("unable to infer the type of an empty array")),
        };
        Ok(array_value(ty, items))
    }

    fn tuple(&mut self, want: Option<&Type>) -> Result<Value, ParseError> {
        self.pos += 1;
        let members = match want {
            Some(Type::Tuple(m)) => Some(m.clone()),
            Some(t) => return Err(self.err(format!("a tuple where {t} is expected"))),
            None => None,
        };
        let mut out = Vec::new();
        if self.peek() == Some(b')') {
            self.pos += 1;
        } else {
            loop {
                let m = members.as_ref().map(|m| m.get(out.len()).cloned().ok_or_else(|| self.err("too many tuple members"))).transpose()?;
                out.push(self.value(m.as_ref())?);
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or ')'")),
                }
            }
        }
        Ok(Value::Tuple(out))
    }

    /// `{k: v, …}` (a dictionary: an array of entries) or `{k, v}` (one entry).
    fn dict(&mut self, want: Option<&Type>) -> Result<Value, ParseError> {
        self.pos += 1;
        let (kt, vt, is_dict) = match want {
            Some(Type::Array(e)) => match &**e {
                Type::DictEntry(k, v) => (Some((**k).clone()), Some((**v).clone()), Some(true)),
                t => return Err(self.err(format!("a dictionary where an array of {t} is expected"))),
            },
            Some(Type::DictEntry(k, v)) => (Some((**k).clone()), Some((**v).clone()), Some(false)),
            Some(t) => return Err(self.err(format!("a dictionary where {t} is expected"))),
            None => (None, None, None),
        };
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return match (kt, vt, is_dict) {
                (Some(k), Some(v), Some(true)) => Ok(Value::Array(Type::DictEntry(Box::new(k), Box::new(v)), Vec::new())),
                _ => Err(self.err("unable to infer the type of an empty dictionary")),
            };
        }
        let key = self.value(kt.as_ref())?;
        match self.peek() {
            Some(b',') if is_dict != Some(true) => {
                self.pos += 1;
                let val = self.value(vt.as_ref())?;
                self.expect(b'}')?;
                Ok(Value::DictEntry(Box::new(key), Box::new(val)))
            }
            Some(b':') if is_dict != Some(false) => {
                let (kt, mut vt) = (key.type_of(), vt);
                let mut entries = Vec::new();
                let mut key = key;
                loop {
                    self.expect(b':')?;
                    let val = self.value(vt.as_ref())?;
                    vt = Some(val.type_of());
                    entries.push(Value::DictEntry(Box::new(key), Box::new(val)));
                    match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            key = self.value(Some(&kt))?;
                        }
                        Some(b'}') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
                let vt = vt.unwrap_or(Type::Variant);
                Ok(Value::Array(Type::DictEntry(Box::new(kt), Box::new(vt)), entries))
            }
            _ => Err(self.err("expected ':' or ','")),
        }
    }
}

/// An array value in this crate's representation (`ay` as bytes).
fn array_value(elem: Type, items: Vec<Value>) -> Value {
    if elem == Type::Byte {
        return Value::Bytes(items.into_iter().filter_map(|v| if let Value::Byte(b) = v { Some(b) } else { None }).collect());
    }
    Value::Array(elem, items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gvariant::print_annotated;

    #[test]
    fn the_values_ostree_tests_pass() {
        assert_eq!(parse("'value'").expect("s"), Value::Str("value".into()));
        assert_eq!(parse("true").expect("b"), Value::Bool(true));
        assert_eq!(parse("@t 123").expect("t"), Value::U64(123));
        assert_eq!(parse("@a{sv} {}").expect("a{sv}"), Value::Array(Type::parse("{sv}").expect("type"), Vec::new()));
        assert_eq!(parse("42").expect("i"), Value::I32(42));
        assert_eq!(parse("uint32 7").expect("u"), Value::U32(7));
        assert_eq!(parse("-1.5").expect("d"), Value::Double(-1.5));
    }

    #[test]
    fn containers() {
        let v = parse("{'a': <1>, 'b': <'x'>}").expect("dict");
        assert_eq!(print_annotated(&v), "{'a': <1>, 'b': <'x'>}");
        assert_eq!(v.type_of(), Type::parse("a{sv}").expect("type"));
        assert_eq!(parse("['a', 'b']").expect("as").type_of(), Type::parse("as").expect("type"));
        assert_eq!(parse("(1, 'x', [byte 0x01])").expect("tuple").type_of(), Type::parse("(isay)").expect("type"));
        assert_eq!(parse("b'ab'").expect("bytestring"), Value::Bytes(b"ab\0".to_vec()));
        assert_eq!(parse("@ms nothing").expect("maybe"), Value::Maybe(Type::Str, None));
        assert_eq!(parse("'it\\'s \\u00e9'").expect("escapes"), Value::Str("it's é".into()));
    }

    #[test]
    fn bad_text_is_an_error_not_a_panic() {
        for t in ["", "value", "[]", "{}", "'open", "@zz 1", "[1, 'a']", "byte 256", "int32 99999999999", "(1", "{1: 2, 'a': 3}", "<1", "1 2", "@u -1"] {
            assert!(parse(t).is_err(), "{t:?} parsed");
        }
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }
}
