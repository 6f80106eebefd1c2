//! What type the platform gives each field: a compact type map.
//!
//! A map is read from a small text format (so a target can embed one derived from its vendor's
//! API description, with a test that derives it again and compares), or built from a Swagger 2.0
//! description ([`Schema::from_swagger`]) or a JSON Schema / OpenAPI v3 schema such as a CRD's
//! `openAPIV3Schema` ([`Schema::from_json_schema`]).
//!
//! The text format: a definition starts at the first column; an object lists its properties on
//! the lines below, indented, as `name type` (`*` for any other key); anything else is
//! `Name = type`. Types: `string`, `int32`, `int64`, `integer`, `number`, `boolean`, `any` (the
//! schema says nothing: values pass through as YAML reads them), `[T]` (a list), `{T}` (a map
//! from any key to T) and a definition's name. The first definition is the root.

use std::collections::HashMap;

use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Def {
    Str,
    /// Bits: 32, 64.
    Int(u8),
    Num,
    Bool,
    Any,
    Arr(usize),
    Map(usize),
    Obj {
        props: Vec<(String, usize)>,
        rest: Option<usize>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Schema {
    defs: Vec<Def>,
    /// Named definitions in order; the first is the root.
    names: Vec<(String, usize)>,
}

/// What a field holds, as far as the schema says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Nothing is said (an unknown field, or a free-form object).
    Silent,
    Str,
    Int(u8),
    Num,
    Bool,
    Obj,
    Arr,
}

/// A place in one or more schemas. With several, the first that says something about a field
/// decides its type, and the fields of an object are looked up in all (a CRD's schema over the
/// platform's, for what the CRD leaves free-form).
#[derive(Clone, Debug, Default)]
pub struct Ty<'s> {
    layers: Vec<(&'s Schema, usize)>,
}

impl<'s> Ty<'s> {
    /// Nothing is known.
    pub fn silent() -> Self {
        Ty { layers: vec![] }
    }

    /// This schema's root, in front of what `self` already knows.
    pub fn over(schema: &'s Schema, under: Ty<'s>) -> Self {
        let mut layers = vec![(schema, schema.root())];
        layers.extend(under.layers);
        Ty { layers }
    }

    /// `self`, then `under` where `self` says nothing.
    pub fn and(mut self, under: Ty<'s>) -> Self {
        self.layers.extend(under.layers);
        self
    }

    fn def(&self, i: usize) -> &Def {
        let (s, id) = self.layers[i];
        &s.defs[id]
    }

    pub fn kind(&self) -> Kind {
        for i in 0..self.layers.len() {
            return match self.def(i) {
                Def::Any => continue,
                Def::Str => Kind::Str,
                Def::Int(b) => Kind::Int(*b),
                Def::Num => Kind::Num,
                Def::Bool => Kind::Bool,
                Def::Arr(_) => Kind::Arr,
                Def::Map(_) | Def::Obj { .. } => Kind::Obj,
            };
        }
        Kind::Silent
    }

    /// The type of an object's field.
    pub fn field(&self, key: &str) -> Ty<'s> {
        let mut layers = vec![];
        for &(s, id) in &self.layers {
            match &s.defs[id] {
                Def::Map(v) => layers.push((s, *v)),
                Def::Obj { props, rest } => {
                    if let Some((_, t)) = props.iter().find(|(k, _)| k == key) {
                        layers.push((s, *t));
                    } else if let Some(r) = rest {
                        layers.push((s, *r));
                    }
                }
                _ => {}
            }
        }
        Ty { layers }
    }

    /// The type of a list's items.
    pub fn item(&self) -> Ty<'s> {
        let layers = self
            .layers
            .iter()
            .filter_map(|&(s, id)| match s.defs[id] {
                Def::Arr(t) => Some((s, t)),
                _ => None,
            })
            .collect();
        Ty { layers }
    }

    /// The type at a path of keys.
    pub fn at(&self, path: &[&str]) -> Ty<'s> {
        path.iter().fold(self.clone(), |t, k| t.field(k))
    }
}

/// A type expression of the text format.
enum Expr {
    Prim(Def),
    Arr(Box<Expr>),
    Map(Box<Expr>),
    Name(String),
}

fn parse_expr(t: &str) -> Result<Expr, String> {
    let t = t.trim();
    if let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return Ok(Expr::Arr(Box::new(parse_expr(inner)?)));
    }
    if let Some(inner) = t.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        return Ok(Expr::Map(Box::new(parse_expr(inner)?)));
    }
    Ok(match t {
        "string" => Expr::Prim(Def::Str),
        "int32" => Expr::Prim(Def::Int(32)),
        "int64" | "integer" => Expr::Prim(Def::Int(64)),
        "number" => Expr::Prim(Def::Num),
        "boolean" => Expr::Prim(Def::Bool),
        "any" => Expr::Prim(Def::Any),
        n if !n.is_empty() && !n.contains(char::is_whitespace) => Expr::Name(n.to_owned()),
        _ => return Err(format!("`{t}` is not a type")),
    })
}

impl Schema {
    pub fn root(&self) -> usize {
        self.names.first().map(|(_, i)| *i).unwrap_or(0)
    }

    /// The root as a [`Ty`].
    pub fn ty(&self) -> Ty<'_> {
        Ty::over(self, Ty::silent())
    }

    /// A named definition as a [`Ty`] (nothing known when there is none).
    pub fn named(&self, name: &str) -> Ty<'_> {
        let layers = self
            .names
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, id)| (self, *id))
            .collect();
        Ty { layers }
    }

    fn push(&mut self, d: Def) -> usize {
        self.defs.push(d);
        self.defs.len() - 1
    }

    fn intern(&mut self, e: &Expr, names: &HashMap<String, usize>) -> Result<usize, String> {
        Ok(match e {
            Expr::Prim(d) => self.push(d.clone()),
            Expr::Arr(i) => {
                let t = self.intern(i, names)?;
                self.push(Def::Arr(t))
            }
            Expr::Map(i) => {
                let t = self.intern(i, names)?;
                self.push(Def::Map(t))
            }
            Expr::Name(n) => *names
                .get(n)
                .ok_or_else(|| format!("`{n}` is not defined"))?,
        })
    }

    /// Read the text format.
    pub fn parse(text: &str) -> Result<Schema, String> {
        let mut s = Schema::default();
        let mut names = HashMap::new();
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .collect();
        // Names first: definitions refer to later ones.
        for (_, l) in lines.iter().filter(|(_, l)| !l.starts_with(' ')) {
            let name = l.split(" = ").next().unwrap_or(l).trim().to_owned();
            let id = s.push(Def::Any);
            if names.insert(name.clone(), id).is_some() {
                return Err(format!("`{name}` is defined twice"));
            }
            s.names.push((name, id));
        }
        let mut current: Option<usize> = None;
        for (n, l) in lines {
            let at = |e: String| format!("line {}: {e}", n + 1);
            if let Some(prop) = l.strip_prefix("  ") {
                let id = current.ok_or_else(|| at("a property outside a definition".into()))?;
                let (key, ty) = prop
                    .trim()
                    .split_once(' ')
                    .ok_or_else(|| at(format!("`{prop}` is not `name type`")))?;
                let t = s.intern(&parse_expr(ty).map_err(at)?, &names).map_err(at)?;
                if let Def::Obj { props, rest } = &mut s.defs[id] {
                    if key == "*" {
                        *rest = Some(t);
                    } else {
                        props.push((key.to_owned(), t));
                    }
                }
            } else if let Some((name, ty)) = l.split_once(" = ") {
                let id = names[name.trim()];
                let t = s.intern(&parse_expr(ty).map_err(at)?, &names).map_err(at)?;
                s.defs[id] = s.defs[t].clone();
                current = None;
            } else {
                let id = names[l.trim()];
                s.defs[id] = Def::Obj {
                    props: vec![],
                    rest: None,
                };
                current = Some(id);
            }
        }
        Ok(s)
    }

    fn type_text(&self, id: usize, named: &HashMap<usize, &str>) -> String {
        if let Some(n) = named.get(&id) {
            return (*n).to_owned();
        }
        match &self.defs[id] {
            Def::Str => "string".into(),
            Def::Int(32) => "int32".into(),
            Def::Int(_) => "int64".into(),
            Def::Num => "number".into(),
            Def::Bool => "boolean".into(),
            Def::Any | Def::Obj { .. } => "any".into(),
            Def::Arr(i) => format!("[{}]", self.type_text(*i, named)),
            Def::Map(i) => format!("{{{}}}", self.type_text(*i, named)),
        }
    }

    /// The text format of this map (what [`Schema::parse`] reads).
    pub fn to_text(&self) -> String {
        let named: HashMap<usize, &str> =
            self.names.iter().map(|(n, i)| (*i, n.as_str())).collect();
        let mut out = String::new();
        for (name, id) in &self.names {
            match &self.defs[*id] {
                Def::Obj { props, rest } => {
                    out.push_str(name);
                    out.push('\n');
                    for (k, t) in props {
                        out.push_str(&format!("  {k} {}\n", self.type_text(*t, &named)));
                    }
                    if let Some(r) = rest {
                        out.push_str(&format!("  * {}\n", self.type_text(*r, &named)));
                    }
                }
                _ => {
                    let mut unnamed = named.clone();
                    unnamed.remove(id);
                    out.push_str(&format!("{name} = {}\n", self.type_text(*id, &unnamed)));
                }
            }
        }
        out
    }

    /// The type map of definition `root` of a Swagger 2.0 description and all it refers to.
    /// `any` lists definitions whose described shape is not their wire format (and are passed
    /// through); `extras` adds properties the description leaves out, as `(definition,
    /// property, type)` in the text format's words.
    pub fn from_swagger(
        doc: &Value,
        root: &str,
        any: &[&str],
        extras: &[(&str, &str, &str)],
    ) -> Result<Schema, String> {
        let defs = doc
            .get("definitions")
            .and_then(Value::as_object)
            .ok_or("no `definitions`")?;
        let mut b = SwaggerBuilder {
            s: Schema::default(),
            ids: HashMap::new(),
            defs,
            any,
        };
        b.named(root)?;
        for (def, prop, ty) in extras {
            let id = *b
                .ids
                .get(*def)
                .ok_or_else(|| format!("`{def}` is not used"))?;
            let t = b.s.intern(&parse_expr(ty)?, &HashMap::new())?;
            if let Def::Obj { props, .. } = &mut b.s.defs[id] {
                props.push(((*prop).to_owned(), t));
            }
        }
        Ok(b.s)
    }

    /// The type map of a JSON Schema (OpenAPI v3, e.g. a CRD's `openAPIV3Schema`). Objects are
    /// named by their path from `name`.
    pub fn from_json_schema(name: &str, schema: &Value) -> Schema {
        let mut s = Schema::default();
        json_schema(&mut s, name, schema);
        s
    }
}

struct SwaggerBuilder<'a> {
    s: Schema,
    ids: HashMap<String, usize>,
    defs: &'a serde_json::Map<String, Value>,
    any: &'a [&'a str],
}

impl SwaggerBuilder<'_> {
    fn named(&mut self, name: &str) -> Result<usize, String> {
        if let Some(id) = self.ids.get(name) {
            return Ok(*id);
        }
        let d = self
            .defs
            .get(name)
            .ok_or_else(|| format!("`{name}` is not defined"))?;
        let id = self.s.push(Def::Any);
        self.ids.insert(name.to_owned(), id);
        self.s.names.push((name.to_owned(), id));
        if self.any.contains(&name) {
            return Ok(id);
        }
        let def = match d.get("properties").and_then(Value::as_object) {
            Some(props) => {
                let mut out = vec![];
                for (k, p) in props {
                    out.push((k.clone(), self.prop(p)?));
                }
                let rest = match d.get("additionalProperties") {
                    Some(a) if a.is_object() => Some(self.prop(a)?),
                    _ => None,
                };
                Def::Obj { props: out, rest }
            }
            None => {
                let t = self.prop(&strip_title(d))?;
                self.s.defs[t].clone()
            }
        };
        self.s.defs[id] = def;
        Ok(id)
    }

    fn prop(&mut self, p: &Value) -> Result<usize, String> {
        if let Some(r) = p.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or(r);
            return self.named(name);
        }
        let d = match p.get("type").and_then(Value::as_str) {
            Some("array") => {
                let items = p.get("items").cloned().unwrap_or(Value::Null);
                Def::Arr(self.prop(&items)?)
            }
            Some("object") => match p.get("additionalProperties") {
                Some(a) if a.is_object() => Def::Map(self.prop(a)?),
                _ => Def::Any,
            },
            _ => scalar_def(p),
        };
        Ok(self.s.push(d))
    }
}

fn strip_title(d: &Value) -> Value {
    let mut d = d.clone();
    if let Some(m) = d.as_object_mut() {
        m.remove("title");
    }
    d
}

/// A scalar type (or `any` for what is not one).
fn scalar_def(p: &Value) -> Def {
    match p.get("type").and_then(Value::as_str) {
        Some("string") => Def::Str,
        Some("integer") => match p.get("format").and_then(Value::as_str) {
            Some("int32") => Def::Int(32),
            _ => Def::Int(64),
        },
        Some("number") => Def::Num,
        Some("boolean") => Def::Bool,
        _ => Def::Any,
    }
}

/// Properties of a JSON Schema object, with those of its `allOf`/`anyOf`/`oneOf` branches.
fn json_properties(schema: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = vec![];
    let mut add = |m: Option<&serde_json::Map<String, Value>>| {
        for (k, v) in m.into_iter().flatten() {
            if !out.iter().any(|(o, _)| o == k) {
                out.push((k.clone(), v.clone()));
            }
        }
    };
    add(schema.get("properties").and_then(Value::as_object));
    for comb in ["allOf", "anyOf", "oneOf"] {
        for b in schema
            .get(comb)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add(b.get("properties").and_then(Value::as_object));
        }
    }
    out
}

fn json_schema(s: &mut Schema, name: &str, schema: &Value) -> usize {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return s.push(Def::Any);
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let props = json_properties(schema);
    if ty == Some("array") {
        let items = schema.get("items").cloned().unwrap_or(Value::Null);
        let t = json_schema(s, &format!("{name}[]"), &items);
        return s.push(Def::Arr(t));
    }
    let rest_schema = match schema.get("additionalProperties") {
        Some(Value::Bool(true)) => Some(Value::Null),
        Some(a @ Value::Object(_)) => Some(a.clone()),
        _ if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) => {
            Some(Value::Null)
        }
        _ => None,
    };
    if props.is_empty() {
        return match rest_schema {
            Some(r) if ty == Some("object") || ty.is_none() => {
                let t = json_schema(s, &format!("{name}.*"), &r);
                s.push(Def::Map(t))
            }
            _ => s.push(scalar_def(schema)),
        };
    }
    let id = s.push(Def::Any);
    s.names.push((name.to_owned(), id));
    let mut out = vec![];
    for (k, v) in props {
        let t = json_schema(s, &format!("{name}.{k}"), &v);
        out.push((k, t));
    }
    let rest = rest_schema.map(|r| json_schema(s, &format!("{name}.*"), &r));
    s.defs[id] = Def::Obj { props: out, rest };
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEXT: &str = "Root\n  name string\n  n int32\n  tags {string}\n  items [Item]\n  free any\n  * number\nItem\n  on boolean\n  big int64\nFree = any\n";

    #[test]
    fn the_text_format_reads_and_writes_back() {
        let s = Schema::parse(TEXT).unwrap();
        assert_eq!(s.to_text(), TEXT);
        let t = s.ty();
        assert_eq!(t.kind(), Kind::Obj);
        assert_eq!(t.field("name").kind(), Kind::Str);
        assert_eq!(t.field("n").kind(), Kind::Int(32));
        assert_eq!(t.at(&["tags", "x"]).kind(), Kind::Str);
        assert_eq!(t.field("items").kind(), Kind::Arr);
        assert_eq!(t.field("items").item().field("on").kind(), Kind::Bool);
        assert_eq!(t.field("free").kind(), Kind::Silent);
        assert_eq!(t.at(&["free", "x"]).kind(), Kind::Silent);
        assert_eq!(t.field("other").kind(), Kind::Num);
        assert!(Schema::parse("A\n  x Nope\n")
            .unwrap_err()
            .contains("`Nope` is not defined"));
        assert!(Schema::parse("A\n  x\n").is_err());
    }

    #[test]
    fn layers_fill_in_what_the_first_leaves_free() {
        let top = Schema::parse("Top\n  spec any\n  extra int32\n  name number\n").unwrap();
        let base = Schema::parse("Base\n  spec Spec\n  name string\nSpec\n  v string\n").unwrap();
        let t = Ty::over(&top, base.ty());
        assert_eq!(t.at(&["spec", "v"]).kind(), Kind::Str);
        assert_eq!(t.field("extra").kind(), Kind::Int(32));
        assert_eq!(t.field("name").kind(), Kind::Num, "the first layer decides");
    }

    #[test]
    fn from_swagger_and_json_schema() {
        let doc = json!({"definitions": {
            "D": {"type": "object", "properties": {"m": {"$ref": "#/definitions/M"}, "l": {"type": "array", "items": {"type": "string"}}, "q": {"$ref": "#/definitions/Q"}}},
            "M": {"type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}, "v": {"type": "integer", "format": "int32"}, "node": {"$ref": "#/definitions/J"}}},
            "J": {"type": "object", "title": "J"},
            "Q": {"type": "object", "properties": {"number": {"type": "number"}}},
        }});
        let s = Schema::from_swagger(&doc, "D", &["Q"], &[("M", "flag", "boolean")]).unwrap();
        assert_eq!(s.to_text(), "D\n  m M\n  l [string]\n  q Q\nM\n  labels {string}\n  v int32\n  node J\n  flag boolean\nJ = any\nQ = any\n");
        let crd = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"image": {"type": "string"}, "port": {"x-kubernetes-int-or-string": true}, "conf": {"type": "object", "additionalProperties": {"type": "string"}}, "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                     "anyOf": [{"properties": {"jar": {"type": "string"}}}]},
            "list": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}}}});
        let s = Schema::from_json_schema("CR", &crd);
        assert_eq!(s.to_text(), "CR\n  spec CR.spec\n  list [CR.list[]]\nCR.spec\n  image string\n  port any\n  conf {string}\n  free {any}\n  jar string\nCR.list[]\n  n int64\n");
        assert_eq!(Schema::parse(&s.to_text()).unwrap().to_text(), s.to_text());
    }
}
