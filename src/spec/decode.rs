//! Bytes to text. YAML 1.2 (5.2) allows UTF-8, UTF-16 and UTF-32, told apart by a byte order
//! mark or by the zero bytes around the first character (a YAML or JSON file starts with ASCII).
//! Editors on Windows write UTF-8 with a BOM, and Windows PowerShell 5.1's `>` writes UTF-16LE:
//! both are read. Anything else that is not UTF-8 (Latin-1, Windows-1252) is refused, naming the
//! first byte that is not, because guessing a legacy code page could change a value silently.

use super::{Mark, Origin};
use crate::error::Result;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

/// The encoding and the length of its byte order mark.
fn detect(b: &[u8]) -> (Encoding, usize) {
    match b {
        [0, 0, 0xFE, 0xFF, ..] => (Encoding::Utf32Be, 4),
        [0xFF, 0xFE, 0, 0, ..] => (Encoding::Utf32Le, 4),
        [0xFE, 0xFF, ..] => (Encoding::Utf16Be, 2),
        [0xFF, 0xFE, ..] => (Encoding::Utf16Le, 2),
        [0xEF, 0xBB, 0xBF, ..] => (Encoding::Utf8, 3),
        [0, 0, 0, x, ..] if *x != 0 => (Encoding::Utf32Be, 0),
        [x, 0, 0, 0, ..] if *x != 0 => (Encoding::Utf32Le, 0),
        [0, x, ..] if *x != 0 => (Encoding::Utf16Be, 0),
        [x, 0, ..] if *x != 0 => (Encoding::Utf16Le, 0),
        _ => (Encoding::Utf8, 0),
    }
}

/// The text of a spec file.
pub fn decode(bytes: &[u8], origin: &Origin) -> Result<String> {
    let (enc, bom) = detect(bytes);
    let body = &bytes[bom..];
    let text = match enc {
        Encoding::Utf8 => match std::str::from_utf8(body) {
            Ok(s) => s.to_owned(),
            Err(e) => return Err(not_utf8(body, e.valid_up_to(), origin)),
        },
        Encoding::Utf16Le | Encoding::Utf16Be => utf16(body, enc == Encoding::Utf16Le, origin)?,
        Encoding::Utf32Le | Encoding::Utf32Be => utf32(body, enc == Encoding::Utf32Le, origin)?,
    };
    // A second BOM after an encoding's own (or a stray one in UTF-16 text) is not content.
    Ok(match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

/// Line and column (in characters) of byte `at` in valid UTF-8 `text`.
fn position(text: &str, at: usize) -> Mark {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Mark {
        line: line as u32,
        col: col as u32,
    }
}

fn not_utf8(body: &[u8], valid: usize, origin: &Origin) -> crate::error::Error {
    let good = std::str::from_utf8(&body[..valid]).unwrap_or("");
    let mark = position(good, good.len());
    origin
        .error(
            Some(mark),
            format!(
                "is not UTF-8 text (byte 0x{:02X} at offset {valid})",
                body[valid]
            ),
        )
        .with_hint("save the file as UTF-8 (most editors: \"Save with encoding\"); a YAML or JSON spec file is UTF-8 or UTF-16")
}

fn units_error(origin: &Origin, what: &str, offset: usize) -> crate::error::Error {
    origin
        .error(
            None,
            format!("is not valid {what} text (at byte offset {offset})"),
        )
        .with_hint("save the file as UTF-8")
}

fn utf16(body: &[u8], le: bool, origin: &Origin) -> Result<String> {
    if !body.len().is_multiple_of(2) {
        return Err(units_error(origin, "UTF-16", body.len() - 1));
    }
    let units = body.chunks_exact(2).map(|c| {
        if le {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    let mut out = String::with_capacity(body.len() / 2);
    for (n, c) in char::decode_utf16(units).enumerate() {
        match c {
            Ok(c) => out.push(c),
            Err(_) => return Err(units_error(origin, "UTF-16", n * 2)),
        }
    }
    Ok(out)
}

fn utf32(body: &[u8], le: bool, origin: &Origin) -> Result<String> {
    if !body.len().is_multiple_of(4) {
        return Err(units_error(origin, "UTF-32", body.len() - body.len() % 4));
    }
    let mut out = String::with_capacity(body.len() / 4);
    for (n, c) in body.chunks_exact(4).enumerate() {
        let v = if le {
            u32::from_le_bytes([c[0], c[1], c[2], c[3]])
        } else {
            u32::from_be_bytes([c[0], c[1], c[2], c[3]])
        };
        match char::from_u32(v) {
            Some(c) => out.push(c),
            None => return Err(units_error(origin, "UTF-32", n * 4)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: Origin = Origin {
        input: "specFile",
        file: "d.yml",
    };

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        let mut b = if bom { vec![0xFF, 0xFE] } else { vec![] };
        for u in s.encode_utf16() {
            b.extend(u.to_le_bytes());
        }
        b
    }

    #[test]
    fn a_utf8_bom_is_dropped() {
        assert_eq!(
            decode(b"\xEF\xBB\xBFkind: Deployment\n", &O).unwrap(),
            "kind: Deployment\n"
        );
        assert_eq!(decode(b"\xEF\xBB\xBF{}", &O).unwrap(), "{}");
    }

    #[test]
    fn utf16_and_utf32_are_read_with_or_without_a_bom() {
        let s = "kind: Deployment\nmetadata:\n  name: caf\u{e9}\n";
        assert_eq!(decode(&utf16le(s, true), &O).unwrap(), s);
        assert_eq!(decode(&utf16le(s, false), &O).unwrap(), s);
        let mut be = vec![0xFE, 0xFF];
        for u in s.encode_utf16() {
            be.extend(u.to_be_bytes());
        }
        assert_eq!(decode(&be, &O).unwrap(), s);
        let mut le32 = vec![0xFF, 0xFE, 0, 0];
        for c in s.chars() {
            le32.extend((c as u32).to_le_bytes());
        }
        assert_eq!(decode(&le32, &O).unwrap(), s);
    }

    #[test]
    fn latin1_is_refused_at_its_first_bad_byte() {
        let e = decode(b"kind: Deployment\nmetadata:\n  displayName: Caf\xE9\n", &O).unwrap_err();
        assert!(
            e.message.starts_with(
                "input `specFile`: d.yml, line 3, column 19: is not UTF-8 text (byte 0xE9"
            ),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("UTF-8"));
    }

    #[test]
    fn broken_utf16_is_refused() {
        let mut b = utf16le("a: b", true);
        b.extend([0x00, 0xD8, b'a', 0]); // a lone high surrogate
        assert!(decode(&b, &O)
            .unwrap_err()
            .message
            .contains("not valid UTF-16"));
        assert!(decode(&[0xFF, 0xFE, b'a'], &O).is_err());
    }
}
