//! The job artifact on the agent: `artifactPath` resolved to exactly one file.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::pipeline::inputs as i;

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Resolve a file path or glob (relative to `base`) to exactly one regular file.
pub fn resolve(pattern: &str, base: &Path) -> Result<PathBuf> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    if !has_glob(pattern) {
        return match std::fs::metadata(&full) {
            Ok(m) if m.is_file() => Ok(full),
            Ok(_) => Err(Error::input(i::ARTIFACT_PATH, format!("`{}` is not a file", full.display()))),
            Err(e) => Err(Error::input(i::ARTIFACT_PATH, format!("`{}` cannot be read: {e}", full.display()))
                .with_hint("build the jar before this step, or check the path (relative paths start at System.DefaultWorkingDirectory)")),
        };
    }
    let mut matches = matching_files(&full.to_string_lossy(), true).map_err(|e| {
        Error::input(
            i::ARTIFACT_PATH,
            format!("`{pattern}` is not a valid pattern: {e}"),
        )
    })?;
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(Error::input(
            i::ARTIFACT_PATH,
            format!("`{pattern}` matches no file under {}", base.display()),
        )
        .with_hint("build the jar before this step, or fix the pattern")),
        n => Err(Error::input(
            i::ARTIFACT_PATH,
            format!("`{pattern}` matches {n} files; it must match exactly one"),
        )
        .with_details(
            matches
                .iter()
                .take(20)
                .map(|p| format!("match: {}", p.display())),
        )
        .with_hint("make the pattern more specific, e.g. target/*-all.jar")),
    }
}

/// The regular files a glob matches, sorted; `*` and `?` do not cross a `/`, and match a
/// leading dot only when `dotfiles`.
pub fn matching_files(
    pattern: &str,
    dotfiles: bool,
) -> std::result::Result<Vec<PathBuf>, glob::PatternError> {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: !dotfiles,
    };
    let mut found: Vec<PathBuf> = glob::glob_with(pattern, opts)?
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    Ok(found)
}

/// The file name used for uploads; never contains a path.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "job.jar".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_must_match_exactly_one_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("target/job-1.0.jar"), b"x").unwrap();
        let p = resolve("target/*.jar", dir.path()).unwrap();
        assert!(p.ends_with("target/job-1.0.jar"));
        assert!(resolve("target/*.war", dir.path())
            .unwrap_err()
            .message
            .contains("matches no file"));
        std::fs::write(dir.path().join("target/job-1.0-sources.jar"), b"x").unwrap();
        let e = resolve("target/*.jar", dir.path()).unwrap_err();
        assert!(e.message.contains("matches 2 files"), "{e}");
        assert_eq!(e.details.len(), 2);
        assert!(resolve("target", dir.path())
            .unwrap_err()
            .message
            .contains("not a file"));
        assert!(resolve("missing.jar", dir.path())
            .unwrap_err()
            .message
            .contains("`artifactPath`"));
    }
}
