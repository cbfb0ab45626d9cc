//! Reading typed values out of the YAML tree while collecting every error.
//!
//! [`Ctx`] holds the errors found so far and where each key was written;
//! [`Fields`] reads one mapping key by key and reports the keys nobody asked
//! for. Readers never stop at an error: they report it, give back a
//! placeholder and let decoding go on, so one pass finds every problem (the
//! placeholders are never seen, since any error fails the whole load).

use crate::config::QueryCheck;
use std::collections::HashMap;

use super::env::Reference;
use super::error::ConfigError;
use super::suggest::closest;
use super::yaml::{Mark, Node, Value};

/// Looks up an environment variable.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A place in the document, spelled twice: as written in the file (for
/// messages) and with every key in snake_case (for lookups).
#[derive(Clone, Debug, Default)]
pub(crate) struct Path {
    pub written: String,
    pub canonical: String,
}

impl Path {
    /// The path of `key` (written as `written`) inside this mapping.
    pub fn key(&self, written: &str, canonical: &str) -> Path {
        let join = |parent: &str, key: &str| {
            if parent.is_empty() {
                key.to_owned()
            } else {
                format!("{parent}.{key}")
            }
        };
        Path { written: join(&self.written, written), canonical: join(&self.canonical, canonical) }
    }

    /// The path of item `index` of this sequence.
    pub fn index(&self, index: usize) -> Path {
        Path {
            written: format!("{}[{index}]", self.written),
            canonical: format!("{}[{index}]", self.canonical),
        }
    }
}

/// Where a canonical path was written.
struct Located {
    written: String,
    mark: Mark,
}

/// A scalar after `${VAR}` substitution.
struct Scalar {
    text: String,
    /// Quoted scalars are strings; plain ones may be null, bool or number.
    quoted: bool,
    /// The variable the text came from.
    var: Option<String>,
}

impl Scalar {
    fn is_null(&self) -> bool {
        !self.quoted && is_null(&self.text)
    }

    /// How the value reads in a "found ..." message; long text is cut short.
    fn describe(&self) -> String {
        const SHOWN: usize = 40;
        let text = &match self.text.char_indices().nth(SHOWN) {
            Some((end, _)) => format!("{}...", &self.text[..end]),
            None => self.text.clone(),
        };
        let kind = if self.quoted {
            format!("string {text:?}")
        } else if is_null(text) {
            "null".to_owned()
        } else if ["true", "True", "TRUE", "false", "False", "FALSE"].contains(&text.as_str()) {
            format!("boolean {text}")
        } else if text.parse::<i128>().is_ok() {
            format!("integer {text}")
        } else if text.parse::<f64>().is_ok() && text.contains(|c: char| c.is_ascii_digit()) {
            format!("float {text}")
        } else {
            format!("string {text:?}")
        };
        match &self.var {
            Some(var) => format!("{kind} (from ${{{var}}})"),
            None => kind,
        }
    }
}

fn is_null(text: &str) -> bool {
    ["", "~", "null", "Null", "NULL"].contains(&text)
}

/// A node's shape, with `${VAR}` references resolved.
enum Shape<'n> {
    Scalar(Scalar),
    Sequence(&'n [Node]),
    Mapping(&'n [(Node, Node)]),
    /// A reference that could not be resolved; already reported.
    Unresolved,
}

impl Shape<'_> {
    fn describe(&self) -> String {
        match self {
            Shape::Scalar(scalar) => scalar.describe(),
            Shape::Sequence(_) => "a sequence".to_owned(),
            Shape::Mapping(_) => "a mapping".to_owned(),
            Shape::Unresolved => "an unresolved variable".to_owned(),
        }
    }
}

/// The decoding context: errors so far and where each key was written.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    env: Env<'a>,
    /// Checks each query's text (compiles it), if the caller asked for that.
    pub query_check: Option<&'a QueryCheck<'a>>,
    errors: Vec<ConfigError>,
    located: HashMap<String, Located>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a str, env: Env<'a>, query_check: Option<&'a QueryCheck<'a>>) -> Self {
        Ctx { file, env, query_check, errors: Vec::new(), located: HashMap::new() }
    }

    /// The errors reported so far.
    pub fn into_errors(self) -> Vec<ConfigError> {
        self.errors
    }

    /// Reports an error at `path` (as written), positioned at `mark`.
    pub fn error(
        &mut self,
        path: &str,
        mark: Option<Mark>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            path: path.to_owned(),
            line: mark.map(|mark| mark.line),
            column: mark.map(|mark| mark.column),
            message: message.into(),
            help,
        });
    }

    /// Reports an error about the value at a canonical path that decoding
    /// went through. A key left out (so defaulted) is placed at the nearest
    /// enclosing key or item.
    pub fn error_at(&mut self, canonical: &str, message: impl Into<String>, help: Option<String>) {
        let (written, mark) = self.locate(canonical);
        self.error(&written, mark, message, help);
    }

    /// The written path and position of a canonical path.
    pub fn locate(&self, canonical: &str) -> (String, Option<Mark>) {
        let mut prefix = canonical;
        loop {
            if let Some(located) = self.located.get(prefix) {
                let written = format!("{}{}", located.written, &canonical[prefix.len()..]);
                return (written, Some(located.mark));
            }
            match prefix.rfind(['.', '[']) {
                Some(end) => prefix = &prefix[..end],
                None => return (canonical.to_owned(), None),
            }
        }
    }

    /// Remembers where `path` was written.
    pub fn visit(&mut self, path: &Path, mark: Mark) {
        let located = Located { written: path.written.clone(), mark };
        self.located.insert(path.canonical.clone(), located);
    }

    fn shape<'n>(&mut self, node: &'n Node, path: &Path) -> Shape<'n> {
        let (text, quoted) = match &node.value {
            Value::Scalar { text, quoted } => (text, *quoted),
            Value::Sequence(items) => return Shape::Sequence(items),
            Value::Mapping(pairs) => return Shape::Mapping(pairs),
        };
        let verbatim = || Shape::Scalar(Scalar { text: text.clone(), quoted, var: None });
        match Reference::parse(text) {
            None => verbatim(),
            Some(Ok(reference)) => match reference.resolve(self.env) {
                // The value is typed as if written plainly in its place.
                Some(value) => Shape::Scalar(Scalar {
                    text: value,
                    quoted: false,
                    var: Some(reference.name.to_owned()),
                }),
                None => {
                    let name = reference.name;
                    self.error(
                        &path.written,
                        Some(node.mark),
                        format!("environment variable '{name}' is not set"),
                        Some(format!(
                            "set it, add it to the .env file beside the config file, or give a default: ${{{name}:-value}}"
                        )),
                    );
                    Shape::Unresolved
                }
            },
            Some(Err(())) => {
                self.error(
                    &path.written,
                    Some(node.mark),
                    format!("{text:?} is not a valid variable reference"),
                    Some(
                        "write ${NAME} or ${NAME:-default}; NAME is letters, digits and _"
                            .to_owned(),
                    ),
                );
                Shape::Unresolved
            }
        }
    }

    fn mismatch(&mut self, node: &Node, path: &Path, expected: &str, found: &Shape) {
        if !matches!(found, Shape::Unresolved) {
            let found = found.describe();
            self.error(
                &path.written,
                Some(node.mark),
                format!("expected {expected}, found {found}"),
                None,
            );
        }
    }

    /// A string: any scalar but null.
    pub fn string(&mut self, node: &Node, path: &Path) -> Option<String> {
        match self.shape(node, path) {
            Shape::Scalar(scalar) if !scalar.is_null() => Some(scalar.text),
            other => {
                self.mismatch(node, path, "a string", &other);
                None
            }
        }
    }

    /// An integer in the range of `T`, described by `expected`
    /// (e.g. "an integer 0..=65535"). Quoted digits are accepted too.
    pub fn integer<T: TryFrom<i128>>(
        &mut self,
        node: &Node,
        path: &Path,
        expected: &str,
    ) -> Option<T> {
        let shape = self.shape(node, path);
        let parsed = match &shape {
            Shape::Scalar(scalar) => {
                scalar.text.parse::<i128>().ok().and_then(|n| T::try_from(n).ok())
            }
            _ => None,
        };
        if parsed.is_none() {
            self.mismatch(node, path, expected, &shape);
        }
        parsed
    }

    /// `true` or `false` (also `True`, `TRUE`, `False`, `FALSE`).
    pub fn boolean(&mut self, node: &Node, path: &Path) -> Option<bool> {
        let shape = self.shape(node, path);
        let parsed = match &shape {
            Shape::Scalar(scalar) => match scalar.text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.mismatch(node, path, "a boolean (true or false)", &shape);
        }
        parsed
    }

    /// The items of a sequence, each with its path.
    pub fn sequence<'n>(&mut self, node: &'n Node, path: &Path) -> Vec<(&'n Node, Path)> {
        match self.shape(node, path) {
            Shape::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let path = path.index(index);
                    self.visit(&path, item.mark);
                    (item, path)
                })
                .collect(),
            other => {
                self.mismatch(node, path, "a list", &other);
                Vec::new()
            }
        }
    }

    /// A list of strings.
    pub fn strings(&mut self, node: &Node, path: &Path) -> Vec<String> {
        self.sequence(node, path)
            .into_iter()
            .filter_map(|(item, path)| self.string(item, &path))
            .collect()
    }

    /// The entries of a mapping whose keys are names chosen by the user
    /// (such as query ids), each with its path. Duplicate keys are reported.
    pub fn entries<'n>(&mut self, node: &'n Node, path: &Path) -> Vec<(String, &'n Node, Path)> {
        let pairs = match self.shape(node, path) {
            Shape::Mapping(pairs) => pairs,
            other => {
                self.mismatch(node, path, "a mapping", &other);
                return Vec::new();
            }
        };
        let mut entries: Vec<(String, &'n Node, Path)> = Vec::new();
        for (key, value) in pairs {
            let Some(name) = self.string(key, path) else {
                continue;
            };
            let key_path = path.key(&name, &name);
            if entries.iter().any(|(seen, ..)| *seen == name) {
                let help = Some("keep one of them".to_owned());
                self.error(
                    &key_path.written,
                    Some(key.mark),
                    format!("duplicate key '{name}'"),
                    help,
                );
                continue;
            }
            self.visit(&key_path, key.mark);
            entries.push((name, value, key_path));
        }
        entries
    }

    /// A mapping, to be read key by key.
    pub fn mapping<'n>(&mut self, node: &'n Node, path: &Path) -> Option<Fields<'n>> {
        match self.shape(node, path) {
            Shape::Mapping(pairs) => Some(Fields::new(path.clone(), node.mark, pairs)),
            other => {
                self.mismatch(node, path, "a mapping", &other);
                None
            }
        }
    }
}

/// The camelCase spelling of a snake_case key.
fn camel_case(snake: &str) -> String {
    let mut words = snake.split('_');
    let mut camel = words.next().unwrap_or_default().to_owned();
    for word in words {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            camel.extend(first.to_uppercase());
            camel.push_str(chars.as_str());
        }
    }
    camel
}

struct Entry<'n> {
    key: &'n Node,
    value: &'n Node,
    used: bool,
}

impl Entry<'_> {
    fn key_text(&self) -> &str {
        match &self.key.value {
            Value::Scalar { text, .. } => text,
            _ => "<complex key>",
        }
    }
}

/// One mapping being read. Keys are matched in snake_case or camelCase;
/// [`Fields::finish`] reports every key that was not asked for.
pub(crate) struct Fields<'n> {
    path: Path,
    mark: Mark,
    entries: Vec<Entry<'n>>,
    /// The snake_case names asked for, in order: the valid keys.
    known: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    fn new(path: Path, mark: Mark, pairs: &'n [(Node, Node)]) -> Self {
        let entries = pairs.iter().map(|(key, value)| Entry { key, value, used: false }).collect();
        Fields { path, mark, entries, known: Vec::new() }
    }

    /// The value of a key spelled as any of `names` (each in snake_case or
    /// camelCase), with its path; `None` when absent. A null value is
    /// returned, so the reader reports it; see [`Fields::optional`].
    fn lookup(&mut self, ctx: &mut Ctx, names: &[&'static str]) -> Option<(&'n Node, Path)> {
        self.known.extend(names);
        let spellings: Vec<String> =
            names.iter().flat_map(|name| [name.to_string(), camel_case(name)]).collect();
        let mut found: Option<(&'n Node, Path)> = None;
        let mut first_key = String::new();
        for entry in &mut self.entries {
            if !spellings.iter().any(|spelling| spelling == entry.key_text()) {
                continue;
            }
            entry.used = true;
            let written = entry.key_text().to_owned();
            let path = self.path.key(&written, names[0]);
            if found.is_some() {
                let message = if written == first_key {
                    format!("duplicate key '{written}'")
                } else {
                    format!("'{written}' and '{first_key}' are the same key")
                };
                ctx.error(
                    &path.written,
                    Some(entry.key.mark),
                    message,
                    Some("keep one of them".to_owned()),
                );
                continue;
            }
            ctx.visit(&path, entry.key.mark);
            first_key = written;
            found = Some((entry.value, path));
        }
        found
    }

    /// An optional key: `None` when absent or null.
    pub fn optional(&mut self, ctx: &mut Ctx, name: &'static str) -> Option<(&'n Node, Path)> {
        self.lookup(ctx, &[name])
            .filter(|(node, _)| !matches!(&node.value, Value::Scalar { text, quoted: false } if is_null(text)))
    }

    /// A required key: reports it missing when absent.
    pub fn required(&mut self, ctx: &mut Ctx, name: &'static str) -> Option<(&'n Node, Path)> {
        self.required_any(ctx, &[name])
    }

    /// A required key with several names.
    pub fn required_any(
        &mut self,
        ctx: &mut Ctx,
        names: &[&'static str],
    ) -> Option<(&'n Node, Path)> {
        let found = self.lookup(ctx, names);
        if found.is_none() {
            let message = format!("missing required key '{}'", names[0]);
            ctx.error(&self.path.written, Some(self.mark), message, None);
        }
        found
    }

    /// A required string; empty when missing or invalid.
    pub fn required_string(&mut self, ctx: &mut Ctx, name: &'static str) -> String {
        self.required(ctx, name)
            .and_then(|(node, path)| ctx.string(node, &path))
            .unwrap_or_default()
    }

    /// An optional string, or `default`.
    pub fn string_or(&mut self, ctx: &mut Ctx, name: &'static str, default: &str) -> String {
        self.optional(ctx, name)
            .and_then(|(node, path)| ctx.string(node, &path))
            .unwrap_or_else(|| default.to_owned())
    }

    /// An optional boolean, or `default`.
    pub fn bool_or(&mut self, ctx: &mut Ctx, name: &'static str, default: bool) -> bool {
        self.optional(ctx, name)
            .and_then(|(node, path)| ctx.boolean(node, &path))
            .unwrap_or(default)
    }

    /// An optional port number, or `default`.
    pub fn port_or(&mut self, ctx: &mut Ctx, name: &'static str, default: u16) -> u16 {
        self.optional(ctx, name)
            .and_then(|(node, path)| ctx.integer(node, &path, "an integer 0..=65535"))
            .unwrap_or(default)
    }

    /// An optional list of strings; empty when absent.
    pub fn strings(&mut self, ctx: &mut Ctx, name: &'static str) -> Vec<String> {
        self.optional(ctx, name).map(|(node, path)| ctx.strings(node, &path)).unwrap_or_default()
    }

    /// Reports every key not asked for, suggesting the nearest valid one.
    pub fn finish(self, ctx: &mut Ctx) {
        let spellings: Vec<String> =
            self.known.iter().flat_map(|name| [name.to_string(), camel_case(name)]).collect();
        for entry in self.entries.iter().filter(|entry| !entry.used) {
            let key = entry.key_text();
            let help = match closest(key, spellings.iter().map(String::as_str)) {
                Some(near) => format!("did you mean '{near}'?"),
                None => format!("expected one of: {}", self.known.join(", ")),
            };
            let path = self.path.key(key, key);
            ctx.error(
                &path.written,
                Some(entry.key.mark),
                format!("unknown key '{key}'"),
                Some(help),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Reads the top-level mapping of `text` with `read`, then renders the errors.
    fn errors_of(text: &str, read: impl FnOnce(&mut Ctx, &mut Fields)) -> Vec<String> {
        let node = yaml::parse(text).unwrap().unwrap();
        let mut ctx = Ctx::new("f.yaml", &no_env, None);
        let mut fields = ctx.mapping(&node, &Path::default()).unwrap();
        read(&mut ctx, &mut fields);
        fields.finish(&mut ctx);
        ctx.into_errors().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn camel_case_spelling() {
        assert_eq!(camel_case("heartbeat_interval_ms"), "heartbeatIntervalMs");
        assert_eq!(camel_case("id"), "id");
    }

    #[test]
    fn both_spellings_and_duplicates() {
        let errors = errors_of("slotName: a\nslot_name: b\nid: 1\nid: 2\n", |ctx, fields| {
            assert_eq!(fields.string_or(ctx, "slot_name", "x"), "a");
            assert_eq!(fields.required_string(ctx, "id"), "1");
        });
        assert_eq!(
            errors,
            [
                "f.yaml:2:1: slot_name: 'slot_name' and 'slotName' are the same key (keep one of them)",
                "f.yaml:4:1: id: duplicate key 'id' (keep one of them)",
            ]
        );
    }

    #[test]
    fn unknown_keys_suggest_or_list() {
        let errors = errors_of("prot: 1\ncolour: red\n", |ctx, fields| {
            fields.port_or(ctx, "port", 1);
            fields.string_or(ctx, "host", "h");
        });
        assert_eq!(
            errors,
            [
                "f.yaml:1:1: prot: unknown key 'prot' (did you mean 'port'?)",
                "f.yaml:2:1: colour: unknown key 'colour' (expected one of: port, host)",
            ]
        );
    }

    #[test]
    fn type_errors_name_what_was_found() {
        let text = "a: abc\nb: 70000\nc: [1]\nd: yes\ne: \"7\"\nf: 1.5\ng:\n";
        let errors = errors_of(text, |ctx, fields| {
            assert_eq!(fields.port_or(ctx, "a", 1), 1);
            assert_eq!(fields.port_or(ctx, "b", 1), 1);
            assert_eq!(fields.string_or(ctx, "c", "x"), "x");
            assert!(fields.bool_or(ctx, "d", true));
            assert_eq!(fields.port_or(ctx, "e", 1), 7);
            assert_eq!(fields.port_or(ctx, "f", 1), 1);
            assert_eq!(fields.required_string(ctx, "g"), "");
        });
        assert_eq!(
            errors,
            [
                "f.yaml:1:4: a: expected an integer 0..=65535, found string \"abc\"",
                "f.yaml:2:4: b: expected an integer 0..=65535, found integer 70000",
                "f.yaml:3:4: c: expected a string, found a sequence",
                "f.yaml:4:4: d: expected a boolean (true or false), found string \"yes\"",
                "f.yaml:6:4: f: expected an integer 0..=65535, found float 1.5",
                "f.yaml:7:1: g: expected a string, found null",
            ]
        );
    }

    #[test]
    fn long_values_are_cut_short() {
        let text = format!("a: {}\n", "x".repeat(50));
        let errors = errors_of(&text, |ctx, fields| {
            fields.port_or(ctx, "a", 1);
        });
        let shown = format!("found string \"{}...\"", "x".repeat(40));
        assert!(errors[0].ends_with(&shown), "{}", errors[0]);
    }

    #[test]
    fn missing_keys_point_at_their_mapping() {
        let errors = errors_of("x: 1\n", |ctx, fields| {
            fields.required_string(ctx, "id");
            fields.required_string(ctx, "x");
        });
        assert_eq!(errors, ["f.yaml:1:1: missing required key 'id'"]);
    }

    #[test]
    fn locate_falls_back_to_the_enclosing_key() {
        let node = yaml::parse("list:\n  - a: 1\n").unwrap().unwrap();
        let mut ctx = Ctx::new("f.yaml", &no_env, None);
        let mut top = ctx.mapping(&node, &Path::default()).unwrap();
        let (list, path) = top.required(&mut ctx, "list").unwrap();
        ctx.sequence(list, &path);
        let (written, mark) = ctx.locate("list[0].port");
        assert_eq!(written, "list[0].port");
        assert_eq!(mark, Some(Mark { line: 2, column: 5 }));
    }
}
