//! The blob's name and the URIs that name it.
//!
//! One name, three spellings: the https URL the upload uses, and the `wasbs://` or `abfs://` URI
//! the platform reads the jar from. All three are built from the same percent-encoded path, so
//! they name the same blob: every character outside RFC 3986's unreserved set (letters, digits,
//! `-._~`) is written as `%XX` of its UTF-8 bytes. The Blob service decodes the path of a request
//! URL; `java.net.URI` (which Ververica Platform parses `jarUri` with) decodes it in `getPath()`;
//! Hadoop's and Flink's `Path(String)` keep escaped octets when they build their URI, so they
//! decode to the same name too. A literal `%` in a name is therefore `%25`, a space `%20`, `#`
//! `%23`, `?` `%3F`.
//!
//! What no spelling can carry is refused, naming the input and the fix, before anything is sent:
//! - control characters (the Blob service rejects them even encoded);
//! - `\` (some clients turn it into `/`, so `a\..\b` would name another blob than it seems);
//! - empty segments and segments that end with `.` (`.` and `..` would be resolved away by URL
//!   and Hadoop path normalisation, and Azure does not support names ending with a dot);
//! - in a folder prefix, `?` and `#` (they read as the start of a query or fragment);
//! - for `wasbs://` and `abfs://`, `:` (Hadoop's `Path` takes a name with a colon for a URI with
//!   a scheme when it resolves the jar against a folder);
//! - for `abfs://`, anything that needs encoding at all: HDInsight on AKS gets the folder and the
//!   file name as separate strings and documents no decoding, so only names that read the same
//!   encoded and decoded are safe there.

use azure_core::http::Url;

use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

/// How the target reads the jar: Ververica Platform's Universal Blob Storage speaks `wasbs://`,
/// HDInsight on AKS reads ADLS Gen2 through `abfs://`, others fetch the https URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JarUriScheme {
    Wasbs,
    Abfs,
    Https,
}

impl JarUriScheme {
    fn as_str(self) -> &'static str {
        match self {
            JarUriScheme::Wasbs => "wasbs://",
            JarUriScheme::Abfs => "abfs://",
            JarUriScheme::Https => "https",
        }
    }

    fn hadoop(self) -> bool {
        matches!(self, JarUriScheme::Wasbs | JarUriScheme::Abfs)
    }
}

/// Azure's limits on a blob name.
const MAX_NAME_CHARS: usize = 1024;
const MAX_SEGMENTS: usize = 254;

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// One path segment, percent-encoded (UTF-8) outside RFC 3986's unreserved set.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if unreserved(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `/`-separated name, each segment encoded.
pub fn encode_path(name: &str) -> String {
    name.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn describe(c: char) -> String {
    if c.is_control() {
        format!("the control character U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}

/// Why `segment` (of `what`) cannot be part of a blob name for `scheme`, if it cannot.
fn segment_problem(segment: &str, what: &str, scheme: JarUriScheme) -> Option<String> {
    if segment.is_empty() {
        return Some(format!("{what} has an empty segment (`//`)"));
    }
    if segment == "." || segment == ".." {
        return Some(format!(
            "{what} has a `{segment}` segment, which URL and Hadoop path normalisation would resolve away"
        ));
    }
    if segment.ends_with('.') {
        return Some(format!(
            "{what} has a segment that ends with `.` (`{segment}`), which Blob Storage does not support"
        ));
    }
    if let Some(c) = segment.chars().find(|c| c.is_control()) {
        return Some(format!("{what} contains {}", describe(c)));
    }
    if segment.contains('\\') {
        return Some(format!(
            "{what} contains `\\`, which some clients read as `/`"
        ));
    }
    if scheme.hadoop() && segment.contains(':') {
        return Some(format!(
            "{what} contains `:`, which Hadoop's paths behind {} take for a URI scheme",
            scheme.as_str()
        ));
    }
    if scheme == JarUriScheme::Abfs {
        if let Some(c) = segment.chars().find(|c| {
            let mut b = [0; 4];
            !c.encode_utf8(&mut b).bytes().all(unreserved)
        }) {
            return Some(format!(
                "{what} contains {}; HDInsight on AKS gets the jar's folder and name unencoded, so only letters, digits and `-._~` are safe there",
                describe(c)
            ));
        }
    }
    None
}

/// Check `blobPrefix` (already without leading and trailing `/`; empty means the container's
/// root).
pub fn check_prefix(prefix: &str, scheme: JarUriScheme) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    let fix =
        "write the folder as plain segments separated by `/`, e.g. artifacts/namespaces/default";
    for c in ['?', '#'] {
        if prefix.contains(c) {
            return Err(Error::input(
                i::BLOB_PREFIX,
                format!(
                    "`{}` contains `{c}`, which would start the query or fragment of the jar URI",
                    shown(prefix)
                ),
            )
            .with_hint(fix));
        }
    }
    for seg in prefix.split('/') {
        if let Some(why) = segment_problem(seg, &format!("`{}`", shown(prefix)), scheme) {
            return Err(Error::input(i::BLOB_PREFIX, why).with_hint(fix));
        }
    }
    Ok(())
}

/// Check the jar's file name, which becomes the last segment of the blob name.
pub fn check_file_name(name: &str, scheme: JarUriScheme) -> Result<()> {
    if let Some(why) = segment_problem(name, &format!("the file name `{}`", shown(name)), scheme) {
        return Err(Error::input(i::ARTIFACT_PATH, why).with_hint(
            "rename the jar (letters, digits and `-._~` are safe everywhere), or upload it yourself and give jarUri",
        ));
    }
    Ok(())
}

/// A name for messages: control characters escaped, so a message cannot be cut or forged.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Where the jar goes, spelled three ways that name the same blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The blob's name in its container, as the service stores it (not encoded).
    pub blob_name: String,
    /// The https URL of the blob under the configured endpoint, without a query: safe to print.
    pub url: Url,
    /// The URI the target reads the jar from.
    pub jar_uri: String,
}

pub struct Names<'a> {
    pub endpoint: &'a str,
    pub account: &'a str,
    pub container: &'a str,
    /// `blobPrefix`, without leading and trailing `/`.
    pub prefix: &'a str,
    pub file_name: &'a str,
    /// The cloud's storage suffix, e.g. `core.windows.net`.
    pub suffix: &'a str,
    pub scheme: JarUriScheme,
}

/// Check the names and spell the blob's URL and jar URI. The layout is Ververica Platform's
/// Universal Blob Storage one: `<prefix>/<file name>`.
pub fn locate(n: &Names<'_>) -> Result<Location> {
    check_prefix(n.prefix, n.scheme)?;
    check_file_name(n.file_name, n.scheme)?;
    let blob_name = if n.prefix.is_empty() {
        n.file_name.to_owned()
    } else {
        format!("{}/{}", n.prefix, n.file_name)
    };
    if blob_name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::input(
            i::BLOB_PREFIX,
            format!(
                "with the file name, the blob name has {} characters; Blob Storage allows {MAX_NAME_CHARS}",
                blob_name.chars().count()
            ),
        )
        .with_hint("shorten blobPrefix or the jar's file name"));
    }
    if blob_name.split('/').count() > MAX_SEGMENTS {
        return Err(Error::input(
            i::BLOB_PREFIX,
            format!(
                "has more than {} segments; Blob Storage allows {MAX_SEGMENTS} in a name",
                MAX_SEGMENTS - 1
            ),
        )
        .with_hint("use fewer folders"));
    }
    let path = encode_path(&blob_name);
    let mut url = Url::parse(n.endpoint).map_err(|e| {
        Error::input(
            i::BLOB_ENDPOINT,
            format!("`{}` is not a URL ({e})", n.endpoint),
        )
    })?;
    if url.cannot_be_a_base() {
        return Err(Error::input(
            i::BLOB_ENDPOINT,
            format!("`{}` cannot hold a path", n.endpoint),
        ));
    }
    let base = url.path().trim_end_matches('/').to_owned();
    // The path is ASCII made of unreserved characters, `%XX` and `/`: the URL keeps it as is.
    url.set_path(&format!("{base}/{}/{path}", encode_segment(n.container)));
    url.set_query(None);
    url.set_fragment(None);
    let jar_uri = match n.scheme {
        JarUriScheme::Wasbs => format!(
            "wasbs://{}@{}.blob.{}/{path}",
            n.container, n.account, n.suffix
        ),
        JarUriScheme::Abfs => format!(
            "abfs://{}@{}.dfs.{}/{path}",
            n.container, n.account, n.suffix
        ),
        JarUriScheme::Https => url.to_string(),
    };
    Ok(Location {
        blob_name,
        url,
        jar_uri,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(prefix: &'a str, file: &'a str, scheme: JarUriScheme) -> Names<'a> {
        Names {
            endpoint: "https://acct.blob.core.windows.net",
            account: "acct",
            container: "jars",
            prefix,
            file_name: file,
            suffix: "core.windows.net",
            scheme,
        }
    }

    /// Decode a URI path as java.net.URI's getPath() does.
    fn decode(path: &str) -> String {
        let b = path.as_bytes();
        let mut out = vec![];
        let mut k = 0;
        while k < b.len() {
            if b[k] == b'%' {
                out.push(u8::from_str_radix(&path[k + 1..k + 3], 16).unwrap());
                k += 3;
            } else {
                out.push(b[k]);
                k += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// What RFC 3986 allows in a path, so java.net.URI parses the jar URI.
    fn rfc3986_path(p: &str) -> bool {
        let b = p.as_bytes();
        let mut k = 0;
        while k < b.len() {
            match b[k] {
                b'%' => {
                    if k + 2 >= b.len()
                        || !b[k + 1].is_ascii_hexdigit()
                        || !b[k + 2].is_ascii_hexdigit()
                    {
                        return false;
                    }
                    k += 3;
                    continue;
                }
                c if unreserved(c) || b"!$&'()*+,;=:@/".contains(&c) => {}
                _ => return false,
            }
            k += 1;
        }
        true
    }

    #[test]
    fn the_url_and_every_jar_uri_name_the_same_blob() {
        let hostile = [
            "my app 1.0.jar",
            "app#1.jar",
            "app%20x.jar",
            "app?x.jar",
            "a+b.jar",
            "job;v=1.jar",
            "ünïcødé-日本.jar",
            "app%2Fx.jar",
            "~!$&'()*,=@.jar",
        ];
        for file in hostile {
            for prefix in ["", "artifacts/namespaces/default", "a b/100%/ü"] {
                for scheme in [JarUriScheme::Wasbs, JarUriScheme::Https] {
                    let l = locate(&names(prefix, file, scheme)).unwrap();
                    let want = if prefix.is_empty() {
                        file.to_owned()
                    } else {
                        format!("{prefix}/{file}")
                    };
                    assert_eq!(l.blob_name, want);
                    let url_path = l.url.path().strip_prefix("/jars/").unwrap();
                    assert!(rfc3986_path(url_path), "{url_path}");
                    assert_eq!(decode(url_path), want, "{}", l.url);
                    assert!(l.url.query().is_none() && l.url.fragment().is_none());
                    let rest = match scheme {
                        JarUriScheme::Wasbs => l
                            .jar_uri
                            .strip_prefix("wasbs://jars@acct.blob.core.windows.net/")
                            .unwrap(),
                        _ => l
                            .jar_uri
                            .strip_prefix("https://acct.blob.core.windows.net/jars/")
                            .unwrap(),
                    };
                    assert!(rfc3986_path(rest), "{}", l.jar_uri);
                    assert_eq!(decode(rest), want, "{}", l.jar_uri);
                }
            }
        }
        let l = locate(&names("a", "my app 1.0.jar", JarUriScheme::Wasbs)).unwrap();
        assert_eq!(
            l.jar_uri,
            "wasbs://jars@acct.blob.core.windows.net/a/my%20app%201.0.jar"
        );
        assert_eq!(
            l.url.as_str(),
            "https://acct.blob.core.windows.net/jars/a/my%20app%201.0.jar"
        );
        let l = locate(&names("", "app%20x.jar", JarUriScheme::Https)).unwrap();
        assert_eq!(
            l.jar_uri,
            "https://acct.blob.core.windows.net/jars/app%2520x.jar"
        );
    }

    #[test]
    fn endpoints_with_a_path_keep_it() {
        let mut n = names("x", "j.jar", JarUriScheme::Https);
        n.endpoint = "http://127.0.0.1:10000/devstoreaccount1";
        let l = locate(&n).unwrap();
        assert_eq!(
            l.url.as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/jars/x/j.jar"
        );
        n.endpoint = "http://127.0.0.1:10000/devstoreaccount1/";
        assert_eq!(locate(&n).unwrap().url, l.url);
    }

    #[test]
    fn abfs_takes_only_names_that_need_no_encoding() {
        let l = locate(&names(
            "artifacts/namespaces/default",
            "job-1.0_b~2.jar",
            JarUriScheme::Abfs,
        ))
        .unwrap();
        assert_eq!(
            l.jar_uri,
            "abfs://jars@acct.dfs.core.windows.net/artifacts/namespaces/default/job-1.0_b~2.jar"
        );
        let e = locate(&names("a", "my app.jar", JarUriScheme::Abfs)).unwrap_err();
        assert!(
            e.message.starts_with(
                "input `artifactPath`: the file name `my app.jar` contains ` `; HDInsight"
            ),
            "{e}"
        );
        let e = locate(&names("a b", "job.jar", JarUriScheme::Abfs)).unwrap_err();
        assert!(e.message.starts_with("input `blobPrefix`"), "{e}");
    }

    #[test]
    fn prefixes_that_cannot_name_a_folder_are_refused_naming_the_input() {
        for (prefix, why) in [
            ("a/../b", "`..` segment"),
            ("..", "`..` segment"),
            ("./a", "`.` segment"),
            ("a/./b", "`.` segment"),
            ("a\\..\\b", "contains `\\`"),
            ("a\\b", "contains `\\`"),
            ("a?b", "contains `?`"),
            ("a#b", "contains `#`"),
            ("a//b", "empty segment"),
            ("a\tb", "control character U+0009"),
            ("a\u{85}b", "control character U+0085"),
            ("a./b", "ends with `.`"),
            ("a:b", "contains `:`"),
        ] {
            let e = locate(&names(prefix, "job.jar", JarUriScheme::Wasbs)).unwrap_err();
            assert!(
                e.message.starts_with("input `blobPrefix`: "),
                "{prefix}: {e}"
            );
            assert!(e.message.contains(why), "{prefix}: {e}");
            assert!(
                e.hint
                    .as_deref()
                    .unwrap()
                    .contains("e.g. artifacts/namespaces/default"),
                "{e:?}"
            );
            assert!(!e.message.contains('\t'), "{e}");
        }
        // A colon is fine where no Hadoop path reads the name.
        assert!(locate(&names("a:b", "job.jar", JarUriScheme::Https)).is_ok());
    }

    #[test]
    fn file_names_that_no_uri_can_carry_are_refused_naming_artifact_path() {
        for (file, scheme, why) in [
            ("job\\1.jar", JarUriScheme::Https, "contains `\\`"),
            ("job.jar.", JarUriScheme::Wasbs, "ends with `.`"),
            ("job\n.jar", JarUriScheme::Wasbs, "U+000A"),
            ("job:1.jar", JarUriScheme::Wasbs, "contains `:`"),
            ("job:1.jar", JarUriScheme::Abfs, "contains `:`"),
        ] {
            let e = locate(&names("a", file, scheme)).unwrap_err();
            assert!(
                e.message.starts_with("input `artifactPath`: the file name"),
                "{file}: {e}"
            );
            assert!(e.message.contains(why), "{file}: {e}");
            assert!(
                e.hint.as_deref().unwrap().contains("rename the jar"),
                "{e:?}"
            );
        }
        assert!(locate(&names("a", "job:1.jar", JarUriScheme::Https)).is_ok());
    }

    #[test]
    fn names_over_azure_limits_are_refused() {
        let long = "a".repeat(1020);
        assert!(locate(&names(&long, "job.jar", JarUriScheme::Https))
            .unwrap_err()
            .message
            .contains("Blob Storage allows 1024"));
        let deep = vec!["a"; 254].join("/");
        assert!(locate(&names(&deep, "job.jar", JarUriScheme::Https))
            .unwrap_err()
            .message
            .contains("segments"));
    }
}
