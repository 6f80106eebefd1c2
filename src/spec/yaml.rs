//! YAML (and JSON, YAML's flow style) to a tree that keeps each scalar's text, style and
//! position, built from saphyr-parser's events.
//!
//! Decisions, each refused with the line where the file does not meet it:
//! - one document per file (a spec file holds one Deployment);
//! - keys are scalars, and a key appears once per mapping (YAML says keys are unique; a value
//!   parser silently keeps the last one);
//! - anchors and aliases are expanded; what aliases add is budgeted ([`super::Limits`]), so a
//!   billion-laughs file is refused after a few reads instead of filling memory;
//! - YAML 1.1 merge keys (a plain `<<` key whose value is a mapping or a list of mappings) are
//!   applied as YAML 1.1 and most tools do: keys written in the mapping win, then the merged
//!   mappings in order. A quoted `'<<'` is an ordinary key;
//! - tags: the core ones (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map`, `!!seq`)
//!   and the non-specific `!`; any other tag means something only its application knows, so it
//!   is refused rather than dropped;
//! - nesting deeper than [`super::Limits::max_depth`] is refused (the readers recurse).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use super::scalar::{self, Core};
use super::{Limits, Mark, Origin};
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>`.
    Block,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// The value as YAML reads it: a plain scalar as written (folded over lines), a quoted one
    /// with its escapes applied, a block one with its indentation and chomping applied.
    pub text: String,
    pub style: Style,
    /// What the text means where no schema says otherwise: the core schema's reading of a
    /// plain scalar, `Str` for quoted and block scalars, or what a core tag says.
    pub core: Core,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_mark: Mark,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub mark: Mark,
    pub kind: NodeKind,
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The value at `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.kind {
            NodeKind::Map(entries) => entries
                .iter_mut()
                .find(|e| e.key == key)
                .map(|e| &mut e.value),
            _ => None,
        }
    }

    /// The node at a path of mapping keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, k| n.get(k))
    }

    /// A mapping's entry removed, if there.
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        match &mut self.kind {
            NodeKind::Map(entries) => {
                let i = entries.iter().position(|e| e.key == key)?;
                Some(entries.remove(i).value)
            }
            _ => None,
        }
    }

    /// Nodes in this subtree (for the alias budget).
    fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar(_) => 0,
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(entries) => entries.iter().map(|e| 1 + e.value.size()).sum(),
        }
    }

    /// An empty mapping at the start of the file (an empty file is an empty spec).
    pub fn empty_map() -> Node {
        Node {
            mark: Mark { line: 1, col: 1 },
            kind: NodeKind::Map(vec![]),
        }
    }
}

/// A tag as it is written (`!!binary`, `!Ref`, `!<tag:example.com,2000:x>`).
fn tag_text(t: &Tag) -> String {
    match (core_tag(t), t.handle.as_str()) {
        (Some(c), _) => format!("!!{c}"),
        (None, "") => format!("!<{}>", t.suffix),
        (_, "!") => format!("!{}", t.suffix),
        (_, h) => format!("{h}{}", t.suffix),
    }
}

/// `!` alone: the value is text (YAML's non-specific tag).
fn non_specific(t: &Tag) -> bool {
    (t.handle.is_empty() && t.suffix == "!") || (t.handle == "!" && t.suffix.is_empty())
}

/// `str` for `!!str` or `!<tag:yaml.org,2002:str>`.
fn core_tag(t: &Tag) -> Option<&str> {
    const CORE: &str = "tag:yaml.org,2002:";
    if t.is_yaml_core_schema() {
        Some(&t.suffix)
    } else if t.handle.is_empty() {
        t.suffix.strip_prefix(CORE)
    } else {
        None
    }
}

fn mark(span: &Span) -> Mark {
    Mark {
        line: span.start.line() as u32,
        col: span.start.col() as u32 + 1,
    }
}

/// A collection being read.
enum Open {
    Seq {
        mark: Mark,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        mark: Mark,
        anchor: usize,
        entries: Vec<Entry>,
        seen: HashMap<String, Mark>,
        key: Option<(String, Mark, bool)>,
        /// Merge sources (`<<`) and where in the mapping they were written.
        merges: Vec<(usize, Node)>,
    },
}

struct Builder<'o> {
    origin: &'o Origin<'o>,
    limits: Limits,
    stack: Vec<Open>,
    anchors: HashMap<usize, (Node, usize)>,
    written: usize,
    aliased: usize,
    root: Option<Node>,
    documents: usize,
}

/// Parse one spec file into a tree. An empty file (or one holding only `null`/`~`) is an empty
/// mapping; anything but a mapping at the top is left to the caller to judge.
pub fn parse(text: &str, origin: &Origin, limits: Limits) -> Result<Node> {
    let mut b = Builder {
        origin,
        limits,
        stack: vec![],
        anchors: HashMap::new(),
        written: 0,
        aliased: 0,
        root: None,
        documents: 0,
    };
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| {
            let m = e.marker();
            Error::input(
                origin.input,
                format!(
                    "{} is not valid YAML or JSON, at line {}, column {}: {}",
                    origin.file,
                    m.line(),
                    m.col() + 1,
                    e.info()
                ),
            )
            .with_hint(syntax_hint(text))
        })?;
        b.event(ev, &span)?;
    }
    Ok(b.root.unwrap_or_else(Node::empty_map))
}

fn syntax_hint(text: &str) -> &'static str {
    if text.trim_start().starts_with(['{', '[']) {
        "JSON is read as YAML's flow style: check brackets, commas and quotes near that place"
    } else {
        "check the indentation (spaces, not tabs) and quoting near that place"
    }
}

impl Builder<'_> {
    fn err(&self, m: Mark, what: impl std::fmt::Display) -> Error {
        self.origin.error(Some(m), what)
    }

    fn event(&mut self, ev: Event<'_>, span: &Span) -> Result<()> {
        let m = mark(span);
        match ev {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(self
                        .err(m, "holds more than one YAML document (a second `---`)")
                        .with_hint("a spec file holds one Deployment: remove the other documents or split them into files"));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node = self.scalar(text.into_owned(), style, tag.as_deref(), m)?;
                self.complete(node, anchor)?;
            }
            Event::SequenceStart(anchor, tag) => {
                let items = vec![];
                self.open(
                    tag.as_deref(),
                    Open::Seq {
                        mark: m,
                        anchor,
                        items,
                    },
                )?;
            }
            Event::MappingStart(anchor, tag) => {
                let (entries, seen, merges) = (vec![], HashMap::new(), vec![]);
                let c = Open::Map {
                    mark: m,
                    anchor,
                    entries,
                    seen,
                    key: None,
                    merges,
                };
                self.open(tag.as_deref(), c)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq {
                        mark,
                        anchor,
                        items,
                    }) => (
                        Node {
                            mark,
                            kind: NodeKind::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Open::Map {
                        mark,
                        anchor,
                        entries,
                        merges,
                        ..
                    }) => (
                        Node {
                            mark,
                            kind: NodeKind::Map(merge(entries, merges)),
                        },
                        anchor,
                    ),
                    None => return Ok(()),
                };
                self.complete(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id) else {
                    return Err(self.err(m, "an alias refers to a node that contains it"));
                };
                let budget = self.limits.alias_nodes.max(self.written);
                if self.aliased + size > budget {
                    return Err(self
                        .err(m, format!("aliases expand to more than {budget} nodes; the file refers to its anchors too often (an alias bomb)"))
                        .with_hint("write the repeated parts out, or use fewer nested aliases"));
                }
                self.aliased += size;
                let node = node.clone();
                self.attach(node)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn open(&mut self, tag: Option<&Tag>, c: Open) -> Result<()> {
        let (m, want) = match &c {
            Open::Seq { mark, .. } => (*mark, "seq"),
            Open::Map { mark, .. } => (*mark, "map"),
        };
        self.collection_tag(tag, want, m)?;
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.err(
                m,
                format!("nests deeper than {} levels", self.limits.max_depth),
            ));
        }
        self.written += 1;
        self.stack.push(c);
        Ok(())
    }

    fn collection_tag(&self, tag: Option<&Tag>, want: &str, m: Mark) -> Result<()> {
        match tag {
            None => Ok(()),
            Some(t) if non_specific(t) || core_tag(t) == Some(want) => Ok(()),
            Some(t) => Err(self.unknown_tag(t, m)),
        }
    }

    fn unknown_tag(&self, t: &Tag, m: Mark) -> Error {
        self.err(
            m,
            format!("has the tag `{}`, which the task does not know", tag_text(t)),
        )
            .with_hint("remove the tag; spec files use plain YAML values (`!!str` to keep a value as text is fine)")
    }

    fn scalar(
        &mut self,
        text: String,
        style: ScalarStyle,
        tag: Option<&Tag>,
        m: Mark,
    ) -> Result<Node> {
        let style = match style {
            ScalarStyle::Plain => Style::Plain,
            ScalarStyle::SingleQuoted => Style::SingleQuoted,
            ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
            ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
        };
        let core = match tag {
            None if style == Style::Plain => scalar::resolve(&text),
            None => Core::Str,
            Some(t) if non_specific(t) => Core::Str,
            Some(t) if core_tag(t).is_some() => {
                let suffix = core_tag(t).unwrap_or_default();
                let (core, ok) = match suffix {
                    "str" => (Core::Str, true),
                    "null" => (Core::Null, scalar::is_null(&text)),
                    "bool" => (Core::Bool, scalar::bool_value(&text).is_some()),
                    "int" => (Core::Int, scalar::is_int(&text)),
                    "float" => (
                        Core::Float,
                        scalar::is_float(&text) || scalar::is_int(&text),
                    ),
                    _ => return Err(self.unknown_tag(t, m)),
                };
                if !ok {
                    return Err(self.err(m, format!("`{text}` is not a valid `!!{suffix}`")));
                }
                core
            }
            Some(t) => return Err(self.unknown_tag(t, m)),
        };
        self.written += 1;
        Ok(Node {
            mark: m,
            kind: NodeKind::Scalar(Scalar { text, style, core }),
        })
    }

    /// A node is complete: remember it under its anchor, then put it in its parent.
    fn complete(&mut self, node: Node, anchor: usize) -> Result<()> {
        if anchor != 0 {
            let size = node.size();
            self.anchors.insert(anchor, (node.clone(), size));
        }
        self.attach(node)
    }

    fn attach(&mut self, node: Node) -> Result<()> {
        let origin = self.origin;
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Open::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Open::Map {
                entries,
                seen,
                key,
                merges,
                ..
            }) => match key.take() {
                None => {
                    let NodeKind::Scalar(s) = node.kind else {
                        return Err(origin
                            .error(Some(node.mark), "a mapping key is a list or a mapping")
                            .with_hint("keys in a spec file are plain names"));
                    };
                    let is_merge = s.style == Style::Plain && s.text == "<<";
                    *key = Some((s.text, node.mark, is_merge));
                    Ok(())
                }
                Some((k, km, is_merge)) => {
                    if let Some(first) = seen.get(&k) {
                        return Err(duplicate_key(origin, &k, km, *first));
                    }
                    seen.insert(k.clone(), km);
                    if is_merge {
                        merges.push((entries.len(), merge_sources(origin, node)?));
                    } else {
                        entries.push(Entry {
                            key: k,
                            key_mark: km,
                            value: node,
                        });
                    }
                    Ok(())
                }
            },
        }
    }
}

/// A key written twice in one mapping.
pub(super) fn duplicate_key(origin: &Origin, key: &str, at: Mark, first: Mark) -> Error {
    origin
        .error(
            Some(at),
            format!(
                "key `{key}` appears twice in this mapping (first on line {})",
                first.line
            ),
        )
        .with_hint("keys are unique: remove one of them (a YAML or JSON reader would silently keep only the last)")
}

/// The mappings a `<<` value names: one mapping, or a list of them.
fn merge_sources(origin: &Origin, node: Node) -> Result<Node> {
    let bad = |m: Mark| {
        origin
            .error(
                Some(m),
                "the merge key `<<` takes a mapping or a list of mappings",
            )
            .with_hint(
                "write `<<: *anchor` or `<<: [*a, *b]`, or quote the key (`'<<'`) if it is a name",
            )
    };
    match &node.kind {
        NodeKind::Map(_) => Ok(node),
        NodeKind::Seq(items) => {
            if let Some(i) = items.iter().find(|i| !matches!(i.kind, NodeKind::Map(_))) {
                return Err(bad(i.mark));
            }
            Ok(node)
        }
        NodeKind::Scalar(_) => Err(bad(node.mark)),
    }
}

/// Apply merge keys: what the mapping writes wins, then the merged mappings in order; merged
/// keys take the place of their `<<`.
fn merge(entries: Vec<Entry>, merges: Vec<(usize, Node)>) -> Vec<Entry> {
    if merges.is_empty() {
        return entries;
    }
    let mut taken: std::collections::HashSet<String> =
        entries.iter().map(|e| e.key.clone()).collect();
    let mut out = Vec::with_capacity(entries.len());
    let mut rest = entries.into_iter().enumerate().peekable();
    for (at, source) in merges {
        while let Some((_, e)) = rest.next_if(|(i, _)| *i < at) {
            out.push(e);
        }
        let maps = match source.kind {
            NodeKind::Seq(items) => items,
            _ => vec![source],
        };
        for m in maps {
            if let NodeKind::Map(es) = m.kind {
                for e in es {
                    if taken.insert(e.key.clone()) {
                        out.push(e);
                    }
                }
            }
        }
    }
    out.extend(rest.map(|(_, e)| e));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: Origin = Origin {
        input: "specFile",
        file: "d.yml",
    };

    fn p(t: &str) -> Result<Node> {
        parse(t, &O, Limits::default())
    }

    /// The error for `text`, which must name `want` in its message or hint.
    fn refused(text: &str, want: &str) -> Error {
        let e = p(text).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
        e
    }

    fn text_at<'a>(n: &'a Node, path: &[&str]) -> &'a str {
        &n.at(path).unwrap().scalar().unwrap().text
    }

    #[test]
    fn scalars_keep_their_text_style_and_place() {
        let n = p("a:\n  v: 1.20\n  q: '0x1F'\n  d: \"x\\ty\"\n  b: |\n    l1\n    l2\n  e:\n")
            .unwrap();
        let v = n.at(&["a", "v"]).unwrap();
        assert_eq!(v.mark, Mark { line: 2, col: 6 });
        let s = v.scalar().unwrap();
        assert_eq!(
            (s.text.as_str(), s.style, s.core),
            ("1.20", Style::Plain, Core::Float)
        );
        let q = n.at(&["a", "q"]).unwrap().scalar().unwrap();
        assert_eq!(
            (q.text.as_str(), q.style, q.core),
            ("0x1F", Style::SingleQuoted, Core::Str)
        );
        assert_eq!(text_at(&n, &["a", "d"]), "x\ty");
        assert_eq!(text_at(&n, &["a", "b"]), "l1\nl2\n");
        let e = n.at(&["a", "e"]).unwrap().scalar().unwrap();
        assert_eq!((e.text.as_str(), e.core), ("", Core::Null));
    }

    #[test]
    fn json_and_flow_style_are_read_as_yaml() {
        let n =
            p("{\"kind\": \"Deployment\", \"spec\": {\"parallelism\": 2, \"v\": 1.20}}").unwrap();
        assert_eq!(text_at(&n, &["spec", "v"]), "1.20");
        let n = p("{kind: Deployment, metadata: {name: a}}").unwrap();
        assert_eq!(text_at(&n, &["metadata", "name"]), "a");
    }

    #[test]
    fn duplicate_keys_are_refused_naming_both_lines() {
        refused(
            "metadata:\n  name: a\n  labels: {}\n  name: b\n",
            "d.yml, line 4, column 3: key `name` appears twice in this mapping (first on line 2)",
        );
        // The same text in different mappings is fine; a quoted and a plain key are one key.
        p("a:\n  x: 1\nb:\n  x: 2\n").unwrap();
        assert!(p("a: 1\n'a': 2\n").is_err());
        assert!(p("{\"a\": 1, \"a\": 2}").is_err());
    }

    #[test]
    fn merge_keys_are_applied_the_mapping_winning() {
        let n = p(concat!(
            "base: &base\n  a: 1\n  b: 2\nmore: &more\n  b: 3\n  c: 4\n",
            "one:\n  <<: *base\n  a: 9\n",
            "two:\n  x: 0\n  <<: [*more, *base]\n  y: 5\n",
        ))
        .unwrap();
        let keys = |path: &[&str]| match &n.at(path).unwrap().kind {
            NodeKind::Map(es) => es
                .iter()
                .map(|e| format!("{}={}", e.key, e.value.scalar().unwrap().text))
                .collect::<Vec<_>>(),
            _ => panic!(),
        };
        assert_eq!(keys(&["one"]), ["b=2", "a=9"]);
        assert_eq!(keys(&["two"]), ["x=0", "b=3", "c=4", "a=1", "y=5"]);
        // A quoted `<<` is a key like any other.
        let n = p("m:\n  '<<': x\n").unwrap();
        assert_eq!(text_at(&n, &["m", "<<"]), "x");
        refused(
            "m:\n  <<: x\n",
            "line 2, column 7: the merge key `<<` takes a mapping",
        );
        refused("m:\n  <<: {a: 1}\n  <<: {b: 1}\n", "appears twice");
    }

    #[test]
    fn aliases_expand_and_bombs_are_refused() {
        let n = p("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(n.get("b"), n.get("a"));
        let mut bomb = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let refs = vec![format!("*l{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        let started = std::time::Instant::now();
        refused(&bomb, "alias bomb");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn tags_documents_depth_and_keys() {
        let n = p("a: !!str 1.20\nb: !!int \"12\"\nc: ! 12\nd: !<tag:yaml.org,2002:str> 1.0\n")
            .unwrap();
        assert_eq!(n.at(&["d"]).unwrap().scalar().unwrap().core, Core::Str);
        assert_eq!(n.at(&["a"]).unwrap().scalar().unwrap().core, Core::Str);
        assert_eq!(n.at(&["b"]).unwrap().scalar().unwrap().core, Core::Int);
        assert_eq!(n.at(&["c"]).unwrap().scalar().unwrap().core, Core::Str);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for (text, want) in [
            ("a: !!int x\n", "not a valid `!!int`"),
            ("a: !Ref x\n", "line 1, column 4: has the tag `!Ref`"),
            ("a: !!binary aGk=\n", "has the tag `!!binary`"),
            (
                "a: 1\n---\nb: 2\n",
                "line 2, column 1: holds more than one YAML document",
            ),
            (&deep, "nests deeper than 128 levels"),
            ("? [a]\n: b\n", "a mapping key is a list"),
        ] {
            refused(text, want);
        }
        assert_eq!(p("").unwrap(), Node::empty_map());
        assert_eq!(p("# only a comment\n").unwrap(), Node::empty_map());
    }

    #[test]
    fn syntax_errors_name_the_place() {
        let e = refused("a:\n  b: [c\n", "check the indentation");
        assert!(
            e.message
                .starts_with("input `specFile`: d.yml is not valid YAML or JSON, at line "),
            "{e}"
        );
        refused("{\"a\": }x", "flow style");
        refused("a:\n\tb: 1\n", "at line 2");
    }
}
