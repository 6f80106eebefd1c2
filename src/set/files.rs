//! Which spec files `specFile` names: one file (as before), or several — a folder, a glob, or a
//! list (one per line, or comma-separated) of any of these. Each file is one deployment.
//!
//! Lines serve YAML pipelines (`specFile: |`), commas the classic editor's one-line field. A
//! value that names an existing file as a whole is that file, so a file name with a comma
//! still works; within a list, `?` in a glob matches a comma.

use std::path::{Path, PathBuf};

use crate::config::checks;
use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

/// More files than this is a mistake (a glob over the whole repository), not a release.
pub const MAX_FILES: usize = 500;

/// The extensions a folder's spec files have.
const EXTENSIONS: &[&str] = &["yml", "yaml", "json"];

/// The entries of a `specFile` value, as written: split on line breaks and commas, trimmed,
/// empty ones dropped.
pub fn entries(value: &str) -> Vec<&str> {
    value
        .split(['\n', '\r', ','])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// The value could name several files; without this, it is one path, read as before.
pub fn is_many(value: &str) -> bool {
    value.contains(['\n', '\r', ',']) || has_glob(value)
}

/// Each entry is a usable path (no control characters, sane lengths).
pub fn check(value: &str) -> Result<()> {
    for e in entries(value) {
        checks::file_path(i::SPEC_FILE, e)?;
    }
    Ok(())
}

/// The files `value` names, relative paths under `base`, in the order written (a glob's and a
/// folder's files sorted by name), each once. Reads folder listings; changes nothing.
pub fn resolve(value: &str, base: &Path) -> Result<Vec<PathBuf>> {
    let full = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            base.join(p)
        }
    };
    let whole = full(value.trim());
    if whole.is_file() {
        return Ok(vec![whole]);
    }
    let mut out: Vec<PathBuf> = vec![];
    for e in entries(value) {
        let found = if has_glob(e) {
            glob_files(e, &full(e), base)?
        } else {
            let p = full(e);
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => folder_files(e, &p)?,
                Ok(m) if m.is_file() => vec![p],
                Ok(_) => {
                    return Err(Error::input(
                        i::SPEC_FILE,
                        format!("`{e}` is not a file or a folder"),
                    ))
                }
                Err(err) => return Err(Error::input(
                    i::SPEC_FILE,
                    format!("`{e}` cannot be read: {err}"),
                )
                .with_hint(
                    "check the path; relative paths start at System.DefaultWorkingDirectory",
                )),
            }
        };
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        if out.len() > MAX_FILES {
            return Err(
                Error::input(i::SPEC_FILE, format!("names more than {MAX_FILES} files")).with_hint(
                    "name the folder or the pattern that holds this release's spec files",
                ),
            );
        }
    }
    if out.is_empty() {
        return Err(Error::input(i::SPEC_FILE, "names no file")
            .with_hint("give a file, a folder, a glob or a list"));
    }
    Ok(out)
}

fn glob_files(entry: &str, pattern: &Path, base: &Path) -> Result<Vec<PathBuf>> {
    let found =
        crate::artifact::matching_files(&pattern.to_string_lossy(), false).map_err(|e| {
            Error::input(
                i::SPEC_FILE,
                format!("`{entry}` is not a valid pattern: {e}"),
            )
        })?;
    some(found, || {
        Error::input(
            i::SPEC_FILE,
            format!("`{entry}` matches no file under {}", base.display()),
        )
        .with_hint("check the pattern; relative paths start at System.DefaultWorkingDirectory")
    })
}

fn folder_files(entry: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let list = std::fs::read_dir(dir).map_err(|e| {
        Error::input(
            i::SPEC_FILE,
            format!("the folder `{entry}` cannot be read: {e}"),
        )
    })?;
    let spec = |p: &Path| {
        p.is_file()
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            && p.extension()
                .is_some_and(|x| EXTENSIONS.iter().any(|e| x.eq_ignore_ascii_case(e)))
    };
    let found = list
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| spec(p));
    some(found.collect(), || {
        Error::input(
            i::SPEC_FILE,
            format!("the folder `{entry}` holds no .yml, .yaml or .json file"),
        )
    })
}

/// The files found, sorted by name; none is an error.
fn some(mut found: Vec<PathBuf>, none: impl FnOnce() -> Error) -> Result<Vec<PathBuf>> {
    found.sort();
    if found.is_empty() {
        return Err(none());
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("deploy")).unwrap();
        for f in [
            "deploy/b.yml",
            "deploy/a.yaml",
            "deploy/c.json",
            "deploy/notes.txt",
            "deploy/.hidden.yml",
            "one.yml",
            "x,y.yml",
        ] {
            std::fs::write(d.path().join(f), "kind: Deployment\n").unwrap();
        }
        d
    }

    fn names(files: &[PathBuf], base: &Path) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(base).unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_list_is_split_on_lines_and_commas() {
        assert_eq!(
            entries(" a.yml,b.yml\n\n c.yml \r\n"),
            ["a.yml", "b.yml", "c.yml"]
        );
        assert!(is_many("a.yml\nb.yml"));
        assert!(is_many("deploy/*.yml"));
        assert!(!is_many("deploy/one.yml"));
    }

    #[test]
    fn a_folder_gives_its_spec_files_sorted_and_a_glob_its_matches() {
        let d = tree();
        let b = d.path();
        assert_eq!(
            names(&resolve("deploy", b).unwrap(), b),
            ["deploy/a.yaml", "deploy/b.yml", "deploy/c.json"]
        );
        assert_eq!(
            names(&resolve("deploy/*.yml", b).unwrap(), b),
            ["deploy/b.yml"]
        );
        assert_eq!(names(&resolve("one.yml", b).unwrap(), b), ["one.yml"]);
    }

    #[test]
    fn a_list_keeps_its_order_and_names_each_file_once() {
        let d = tree();
        let b = d.path();
        let got = resolve("one.yml\ndeploy/b.yml, deploy/*.y*ml", b).unwrap();
        assert_eq!(names(&got, b), ["one.yml", "deploy/b.yml", "deploy/a.yaml"]);
    }

    #[test]
    fn a_file_name_with_a_comma_is_still_one_file() {
        let d = tree();
        assert_eq!(
            names(&resolve("x,y.yml", d.path()).unwrap(), d.path()),
            ["x,y.yml"]
        );
    }

    #[test]
    fn what_names_nothing_is_refused_naming_the_entry() {
        let d = tree();
        let b = d.path();
        let e = resolve("one.yml, missing.yml", b).unwrap_err();
        assert!(
            e.message.contains("`specFile`") && e.message.contains("`missing.yml` cannot be read"),
            "{e}"
        );
        let e = resolve("deploy/*.toml", b).unwrap_err();
        assert!(e.message.contains("`deploy/*.toml` matches no file"), "{e}");
        std::fs::create_dir(b.join("empty")).unwrap();
        let e = resolve("empty", b).unwrap_err();
        assert!(e.message.contains("holds no .yml"), "{e}");
    }
}
