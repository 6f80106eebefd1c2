//! JSON to the same tree as YAML, for files that are JSON. YAML 1.2 reads most JSON, but not
//! all: a tab after `:` and `\ud83d\ude00` (a surrogate pair, as Python's `json.dump` writes any
//! character beyond the BMP) are errors to a YAML parser. A JSON file is therefore read as JSON:
//! numbers keep their digits (a plain scalar, typed like YAML's), strings are double-quoted
//! scalars, and a key written twice is refused as in YAML. The caller has checked that the text
//! is JSON, so what is left to refuse here is only what JSON allows and a spec does not.

use std::collections::HashMap;

use super::scalar::{self, Core};
use super::yaml::{duplicate_key, Entry, Node, NodeKind, Scalar, Style};
use super::{Limits, Mark, Origin};
use crate::error::{Error, Result};

struct Reader<'a> {
    text: &'a str,
    at: usize,
    line: u32,
    col: u32,
    origin: &'a Origin<'a>,
    limits: Limits,
}

/// Whether the text is JSON (serde_json's strict reading decides).
pub fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Read JSON text (checked with [`is_json`]) into a tree.
pub fn parse(text: &str, origin: &Origin, limits: Limits) -> Result<Node> {
    let mut r = Reader {
        text,
        at: 0,
        line: 1,
        col: 1,
        origin,
        limits,
    };
    r.value(0)
}

/// The error for JSON that is not valid, in serde_json's words and place.
pub fn syntax_error(text: &str, origin: &Origin) -> Option<Error> {
    let e = serde_json::from_str::<serde::de::IgnoredAny>(text).err()?;
    let what = e.to_string();
    let what = what.split(" at line ").next().unwrap_or(&what).to_owned();
    Some(
        Error::input(
            origin.input,
            format!(
                "{} is not valid JSON, at line {}, column {}: {what}",
                origin.file,
                e.line(),
                e.column()
            ),
        )
        .with_hint("check brackets, commas and quotes near that place"),
    )
}

impl Reader<'_> {
    fn mark(&self) -> Mark {
        Mark {
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn ws(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
        {
            self.bump();
        }
    }

    fn broken(&self) -> Error {
        self.origin
            .error(Some(self.mark()), "is not valid JSON here")
    }

    fn value(&mut self, depth: usize) -> Result<Node> {
        self.ws();
        let mark = self.mark();
        let kind = match self.peek().ok_or_else(|| self.broken())? {
            '{' | '[' if depth >= self.limits.max_depth => {
                return Err(self.origin.error(
                    Some(mark),
                    format!("nests deeper than {} levels", self.limits.max_depth),
                ))
            }
            '{' => NodeKind::Map(self.object(depth)?),
            '[' => NodeKind::Seq(self.array(depth)?),
            '"' => NodeKind::Scalar(Scalar {
                text: self.string()?,
                style: Style::DoubleQuoted,
                core: Core::Str,
            }),
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.'))
                {
                    self.bump();
                }
                let text = self.text[start..self.at].to_owned();
                let core = scalar::resolve(&text);
                if text.is_empty() || core == Core::Str {
                    return Err(self.broken());
                }
                NodeKind::Scalar(Scalar {
                    text,
                    style: Style::Plain,
                    core,
                })
            }
        };
        Ok(Node { mark, kind })
    }

    fn expect(&mut self, c: char) -> Result<()> {
        self.ws();
        if self.bump() == Some(c) {
            Ok(())
        } else {
            Err(self.broken())
        }
    }

    /// After an item: `true` when another follows.
    fn more(&mut self, close: char) -> Result<bool> {
        self.ws();
        match self.bump() {
            Some(',') => Ok(true),
            Some(c) if c == close => Ok(false),
            _ => Err(self.broken()),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Vec<Entry>> {
        self.expect('{')?;
        let mut entries = vec![];
        let mut seen: HashMap<String, Mark> = HashMap::new();
        self.ws();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(entries);
        }
        loop {
            self.ws();
            let key_mark = self.mark();
            let key = self.string()?;
            if let Some(first) = seen.insert(key.clone(), key_mark) {
                return Err(duplicate_key(self.origin, &key, key_mark, first));
            }
            self.expect(':')?;
            let value = self.value(depth + 1)?;
            entries.push(Entry {
                key,
                key_mark,
                value,
            });
            if !self.more('}')? {
                return Ok(entries);
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Node>> {
        self.expect('[')?;
        let mut items = vec![];
        self.ws();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.value(depth + 1)?);
            if !self.more(']')? {
                return Ok(items);
            }
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let start = self.at;
        for _ in 0..4 {
            self.bump();
        }
        self.text
            .get(start..self.at)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.broken())
    }

    fn string(&mut self) -> Result<String> {
        if self.bump() != Some('"') {
            return Err(self.broken());
        }
        let mut out = String::new();
        loop {
            match self.bump().ok_or_else(|| self.broken())? {
                '"' => return Ok(out),
                '\\' => {
                    let c = match self.bump().ok_or_else(|| self.broken())? {
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'u' => self.unicode_escape()?,
                        c => c,
                    };
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }

    /// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`; a lone surrogate is U+FFFD, as JSON
    /// readers take it.
    fn unicode_escape(&mut self) -> Result<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.text[self.at..].starts_with("\\u") {
            let save = (self.at, self.line, self.col);
            self.bump();
            self.bump();
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            (self.at, self.line, self.col) = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{typed, Ty};
    use serde_json::json;

    const O: Origin = Origin {
        input: "specFile",
        file: "d.json",
    };

    fn read(t: &str) -> Result<serde_json::Value> {
        assert!(is_json(t), "{t}");
        typed::to_json(&parse(t, &O, Limits::default())?, &Ty::silent(), &O)
    }

    #[test]
    fn what_yaml_cannot_read_of_json() {
        let v = read("{\n\t\"a\":\t1.20,\r\n\t\"b\": [1,\t-0, 1E+2, true, null],\n\t\"e\": \"\\ud83d\\ude00 \\u00e9\\/\\\"\\\\\\t\\ud800x\"\n}").unwrap();
        assert_eq!(
            v,
            json!({"a": 1.2, "b": [1, 0, 100.0, true, null], "e": "\u{1F600} \u{e9}/\"\\\t\u{FFFD}x"})
        );
        let n = parse("{\"a\": 1.20, \"b\": \"1.20\"}", &O, Limits::default()).unwrap();
        let a = n.get("a").unwrap().scalar().unwrap();
        assert_eq!((a.text.as_str(), a.style), ("1.20", Style::Plain));
        assert_eq!(n.get("b").unwrap().mark, Mark { line: 1, col: 18 });
    }

    #[test]
    fn duplicates_depth_and_syntax() {
        let e = read("{\n  \"a\": 1,\n  \"a\": 2\n}").unwrap_err();
        assert!(
            e.message.contains(
                "d.json, line 3, column 3: key `a` appears twice in this mapping (first on line 2)"
            ),
            "{e}"
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = read(&deep).unwrap_err();
        assert!(e.message.contains("nests deeper than 128 levels"), "{e}");
        let e = syntax_error("{\"a\": }", &O).unwrap();
        assert_eq!(
            e.message,
            "input `specFile`: d.json is not valid JSON, at line 1, column 7: expected value"
        );
        assert!(syntax_error("{}", &O).is_none());
    }
}
