//! Checks shared by every part of the configuration: names, ids, URLs, paths, tokens, and the
//! small input languages (`mainArgs`, `flinkConfiguration`). Pure; no I/O.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

/// `Ok` when `ok`; else [`not_a`] with `rule` as the hint.
pub fn require(ok: bool, input: &'static str, value: &str, what: &str, rule: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(not_a(input, value, what).with_hint(rule))
    }
}

/// "`value` is not <what>" for `input`, the value shortened after masking.
pub fn not_a(input: &'static str, value: &str, what: &str) -> Error {
    Error::input(input, format!("`{}` is not {what}", shorten(value)))
}

/// Keep error messages readable when an input is huge.
pub fn shorten(v: &str) -> String {
    const MAX: usize = 80;
    if v.chars().count() <= MAX {
        v.to_owned()
    } else {
        format!(
            "{}… ({} characters)",
            v.chars().take(MAX).collect::<String>(),
            v.chars().count()
        )
    }
}

/// Like [`no_control_chars`] but for values where tabs and line breaks are separators.
pub fn no_control_chars_but_whitespace(name: &'static str, v: &str) -> Result<()> {
    if v.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(Error::input(name, "contains control characters")
            .with_hint("remove the non-printing characters"));
    }
    Ok(())
}

/// A credential that travels in an HTTP header must be printable ASCII. The value itself is
/// never part of the message.
pub fn header_safe(name: &'static str, v: &str) -> Result<()> {
    match token_problem(v) {
        Some(why) => Err(Error::input(name, why).with_hint(
            "check that the variable holds the token itself, without quotes or line breaks",
        )),
        None => Ok(()),
    }
}

/// The agent's `Agent.ProxyBypassList` (a JSON array of regular expressions), and a note for
/// each part that cannot be used: requests it meant to keep off the proxy would go through it.
pub fn proxy_bypass_list(v: Option<&str>) -> (Vec<String>, Vec<String>) {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return (vec![], vec![]);
    };
    let Ok(list) = serde_json::from_str::<Vec<String>>(v) else {
        return (vec![], vec![format!(
            "Agent.ProxyBypassList is not a JSON array of patterns; every request goes through the proxy (the value begins `{}`)",
            shorten(v)
        )]);
    };
    let mut notes = vec![];
    let kept = list
        .into_iter()
        .filter(|p| match regex::Regex::new(&format!("(?i){p}")) {
            Ok(_) => true,
            Err(e) => {
                notes.push(format!(
                    "Agent.ProxyBypassList entry `{p}` is not a regular expression and is ignored ({})",
                    e.to_string().lines().last().unwrap_or("invalid").trim()
                ));
                false
            }
        })
        .collect();
    (kept, notes)
}

/// Why a value cannot be sent as a bearer token in an HTTP header, if it cannot.
pub fn token_problem(v: &str) -> Option<String> {
    const MAX: usize = 16 * 1024;
    if v.len() > MAX {
        return Some(format!(
            "is {} bytes long; a token is at most {MAX}",
            v.len()
        ));
    }
    if !v.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Some(
            "contains spaces, control or non-ASCII characters, which cannot be sent in an HTTP header"
                .into(),
        );
    }
    None
}

/// A path the file system can take: no control characters, names of at most 255 bytes.
/// (`..` is not refused: the agent resolves file path inputs to full paths before the task
/// starts, and where a file is written is the pipeline's choice.)
pub fn file_path(name: &'static str, p: &str) -> Result<()> {
    no_control_chars(name, p)?;
    if p.len() > 4096 || Path::new(p).components().any(|c| c.as_os_str().len() > 255) {
        return Err(
            crate::config::checks::not_a(name, p, "a usable path (too long)")
                .with_hint("file names are at most 255 bytes, paths at most 4096"),
        );
    }
    Ok(())
}

/// A file the run writes (`name` at `out`) must not be one it reads (`reads`: input and path):
/// writing the rendered resource over the spec file, or the test results over the jar, would
/// destroy the input. Compared as written, after resolving; [`crate::fsread::same_file`] checks
/// links before the write.
pub fn distinct_output<P: AsRef<Path>>(
    name: &'static str,
    out: &Path,
    reads: &[(&'static str, P)],
) -> Result<()> {
    let out_n = crate::fsread::normalise(out);
    for (input, path) in reads {
        if crate::fsread::normalise(path.as_ref()) == out_n {
            return Err(Error::input(
                name,
                format!(
                    "`{}` is also the file of `{input}`; the run would write over it",
                    out.display()
                ),
            )
            .with_hint(format!("give `{name}` a file of its own")));
        }
    }
    Ok(())
}

pub fn no_control_chars(name: &'static str, v: &str) -> Result<()> {
    if v.chars().any(|c| c.is_control()) {
        return Err(
            Error::input(name, "contains control characters or line breaks")
                .with_hint("put the value on one line"),
        );
    }
    Ok(())
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters (VVP resource names).
pub fn valid_resource_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub fn valid_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Split program arguments the way a POSIX shell would for simple quoting: spaces separate,
/// single quotes are literal, double quotes allow `\"` and `\\`.
pub fn split_args(input: &str) -> std::result::Result<Vec<String>, String> {
    let mut args = vec![];
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unclosed double quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        args.push(cur);
    }
    Ok(args)
}

/// A value in one pair of matching quotes, without them; anything else as written. Only whole
/// quoting is taken off: `"a" and "b"` keeps its quotes, and nothing inside is unescaped.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            if !inner.contains(q) {
                return inner;
            }
        }
    }
    value
}

/// Multi-line `key: value` (or `key=value`) pairs; blank lines and `#` comments are skipped.
/// Values are text, sent as written (Flink's configuration values are strings): `1.20` stays
/// `1.20`. A key given twice is refused, naming both lines.
pub fn parse_flink_configuration(
    text: &str,
) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut lines_of: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let split = match (line.find(": "), line.find('=')) {
            (Some(c), Some(e)) => Some(c.min(e)),
            (Some(c), None) => Some(c),
            (None, Some(e)) => Some(e),
            (None, None) => line.strip_suffix(':').map(|s| s.len()),
        };
        let Some(at) = split else {
            return Err(format!(
                "line {}: `{}` is not `key: value`",
                n + 1,
                shorten(line)
            ));
        };
        let key = line[..at].trim();
        let value = unquote(line[at..].trim_start_matches([':', '=']).trim());
        if key.is_empty() {
            return Err(format!("line {}: empty key", n + 1));
        }
        if let Some(first) = lines_of.insert(key.to_owned(), n + 1) {
            return Err(format!(
                "line {}: `{}` is already set on line {first}; give each key once",
                n + 1,
                shorten(key)
            ));
        }
        out.insert(key.to_owned(), value.to_owned());
    }
    Ok(out)
}

/// Check an http(s) URL and strip the trailing slash.
pub fn parse_url(name: &'static str, v: &str) -> Result<url::Url> {
    let u = url::Url::parse(v).map_err(|e| {
        Error::input(name, format!("`{}` is not a URL ({e})", shorten(v)))
            .with_hint("use a full URL such as https://vvp.example.com")
    })?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(crate::config::checks::not_a(name, v, "an http(s) URL"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Error::input(name, "must not contain credentials")
            .with_hint("put credentials in a service connection or secret input"));
    }
    // A base URL: the task appends API paths to it, after which a query or fragment would
    // silently change (or drop) every request's meaning.
    if u.query().is_some() || u.fragment().is_some() {
        let mut base = u.clone();
        base.set_query(None);
        base.set_fragment(None);
        return Err(Error::input(
            name,
            format!(
                "`{}` has a {}; the task appends API paths to this URL",
                crate::http::display_url(v),
                if u.query().is_some() {
                    "query (`?…`)"
                } else {
                    "fragment (`#…`)"
                }
            ),
        )
        .with_hint(format!("give the base URL alone, e.g. {}", base_url(&base))));
    }
    Ok(u)
}

pub fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    }
}

pub fn base_url(u: &url::Url) -> String {
    u.as_str().trim_end_matches('/').to_owned()
}

/// Refuse to send a credential over plain http to another machine unless explicitly allowed.
pub fn check_transport(
    name: &'static str,
    u: &url::Url,
    has_credential: bool,
    allow: bool,
) -> Result<()> {
    if has_credential && u.scheme() == "http" && !is_loopback(u) && !allow {
        return Err(Error::input(
            name,
            format!(
                "`{}` uses plain http; the credential would be sent unencrypted",
                base_url(u)
            ),
        )
        .with_hint(format!(
            "use https, or set `{}: true` if the network is trusted",
            i::ALLOW_INSECURE_HTTP
        )));
    }
    Ok(())
}

#[cfg(test)]
mod flink_configuration_tests {
    use super::parse_flink_configuration as parse;

    #[test]
    fn values_are_sent_as_written() {
        let c = parse("flink.version: 1.20\na: 0x1F\nb: yes\nc=1e3\nd: \"quoted: x\"\ne: 'single'\nf: \"a\" and \"b\"\ng: '\nh: \"\"\ni: it's\n").unwrap();
        assert_eq!(c["flink.version"], "1.20");
        assert_eq!(c["a"], "0x1F");
        assert_eq!(c["b"], "yes");
        assert_eq!(c["c"], "1e3");
        assert_eq!(c["d"], "quoted: x");
        assert_eq!(c["e"], "single");
        assert_eq!(c["f"], "\"a\" and \"b\"", "only whole quoting is taken off");
        assert_eq!(c["g"], "'");
        assert_eq!(c["h"], "");
        assert_eq!(c["i"], "it's");
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let e = parse("a: 1\n# c\na: 2\n").unwrap_err();
        assert_eq!(
            e,
            "line 3: `a` is already set on line 1; give each key once"
        );
    }
}
