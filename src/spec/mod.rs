//! Spec files (YAML or JSON) read so that what the user wrote reaches the platform as written.
//!
//! A value parser types every scalar by its looks before anything else sees it: `1.20` becomes
//! the number 1.2, `0x1F` becomes 31, `true` a boolean, and the text is gone. Here the file is
//! read in four steps that keep it:
//!
//! 1. [`decode`]: bytes to text (a UTF-8 BOM is dropped, UTF-16/32 with or without a BOM is
//!    read, anything else that is not UTF-8 is refused with the place of the first bad byte);
//! 2. [`read`]: text to a [`Node`] tree that keeps each scalar's text, style (plain, quoted,
//!    block) and position ([`yaml::parse`]; JSON through [`json::parse`], which reads what a
//!    YAML parser cannot of JSON: tabs, surrogate pairs). Anchors and aliases are
//!    expanded within a budget (an alias bomb is refused), YAML 1.1 merge keys (`<<: *base`)
//!    are applied, duplicate keys, unknown tags and a second document are refused, each naming
//!    the line;
//! 3. the caller works on the tree while it still knows where everything is (placeholders,
//!    checks that name a line);
//! 4. [`typed::to_json`]: the tree to JSON, guided by the platform's [`schema::Schema`]: where
//!    it says string, the text as written; where it says integer, number or boolean, the typed
//!    value (or an error naming the field and the line); where it is silent (fields passed
//!    through), YAML 1.2 core resolution, as before.
//!
//! [`emit::to_yaml`] prints JSON as YAML that YAML 1.1 and 1.2 readers (kubectl, PyYAML) read
//! back to the same values: a string that looks like a number, a date or `yes` is quoted.
//!
//! Nothing here is specific to one platform: a target brings its schema (a compact type map
//! derived from the vendor's API description, or a CRD's openAPIV3Schema through
//! [`schema::Schema::from_json_schema`]).

pub mod decode;
pub mod emit;
pub mod json;
pub mod scalar;
pub mod schema;
pub mod typed;
pub mod yaml;

pub use decode::decode;
pub use schema::{Schema, Ty};
pub use yaml::{Entry, Node, NodeKind, Scalar, Style};

use crate::error::Error;

/// A position in the file: line and column, both from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub line: u32,
    pub col: u32,
}

/// Where a spec comes from, for error messages: the input that named it and the file.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    pub input: &'static str,
    pub file: &'a str,
}

impl Origin<'_> {
    /// `file, line L, column C`.
    pub fn at(&self, mark: Option<Mark>) -> String {
        match mark {
            Some(m) if m.line > 0 => format!("{}, line {}, column {}", self.file, m.line, m.col),
            _ => self.file.to_owned(),
        }
    }

    /// What an error of this file's reader says without the input it names, for a caller that
    /// names the file its own way.
    pub fn reason(&self, e: &Error) -> String {
        let prefix = format!("input `{}`: ", self.input);
        e.message
            .strip_prefix(&prefix)
            .unwrap_or(&e.message)
            .to_owned()
    }

    /// An input error about this file, at a place in it when known.
    pub fn error(&self, mark: Option<Mark>, what: impl std::fmt::Display) -> Error {
        Error::input(self.input, format!("{}: {what}", self.at(mark)))
    }
}

/// The limits a spec file is read within.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Collections nested deeper than this are refused (the readers recurse).
    pub max_depth: usize,
    /// Nodes that aliases may add beyond those the file writes out itself, at the least.
    pub alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A Deployment nests about 15 levels deep; a billion-laughs file adds millions of nodes
        // through a few dozen aliases.
        Limits {
            max_depth: 128,
            alias_nodes: 100_000,
        }
    }
}

/// A spec file's text as a tree: JSON read as JSON, anything else as YAML (flow-style YAML such
/// as `{kind: Deployment}` included). A file named `.json` that is neither gets JSON's error.
pub fn read(text: &str, origin: &Origin, limits: Limits) -> crate::error::Result<Node> {
    if json::is_json(text) {
        return json::parse(text, origin, limits);
    }
    yaml::parse(text, origin, limits).map_err(|e| {
        let named_json = origin.file.to_ascii_lowercase().ends_with(".json");
        match json::syntax_error(text, origin) {
            Some(j) if named_json => j,
            _ => e,
        }
    })
}

/// YAML or JSON text that no platform schema types (a kubeconfig, a CRD), read with YAML 1.2 core
/// resolution and the same limits as a spec file; the error is the reader's message.
pub fn read_untyped(text: &str, what: &str) -> std::result::Result<serde_json::Value, String> {
    let origin = Origin {
        input: "",
        file: what,
    };
    read(text, &origin, Limits::default())
        .and_then(|n| typed::to_json(&n, &Ty::silent(), &origin))
        .map_err(|e| origin.reason(&e))
}

/// A dotted path for messages (`spec.template.spec.parallelism`, `args[2]`).
pub fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}
