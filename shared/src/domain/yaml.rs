//! Reading YAML: the one way rollgate reads plan, evidence and scenario files.
//!
//! Every file is capped before its content is trusted: at most [`MAX_BYTES`] long and nested at
//! most [`MAX_DEPTH`] levels deep (counted on the parser's event stream, so a hostile file stops
//! at the level past the limit instead of keeping the parser busy). Every number must be finite:
//! `.nan` and `.inf` are refused with their path, never read as a missing value. Errors are in
//! plain words, with the path and the line and column.
//!
//! The parser is serde-saphyr: pure Rust without `unsafe`, fuzzed to be panic-free on malformed
//! input, YAML 1.2 scalars (`no`, `on` and `off` stay text), duplicate keys refused, and a budget
//! for depth, nodes and aliases.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::MessageFormatter;

/// The largest YAML file rollgate reads (1 MiB); real plans are a few kilobytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// The deepest nesting rollgate reads; real plans nest about six levels.
pub const MAX_DEPTH: usize = 64;
/// The most values (scalars, lists and mappings) a file may hold; a large plan holds a few
/// thousand.
pub const MAX_VALUES: usize = 50_000;

/// One problem in a YAML file: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlProblem {
    /// Dotted path of the value (`analysis.metrics[0].must.below`); empty when unknown.
    pub path: String,
    /// 1-based line and column, when the parser knows them.
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub problem: String,
    pub fix: String,
}

impl YamlProblem {
    fn new(path: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { path: path.into(), line: None, column: None, problem: problem.into(), fix: fix.into() }
    }

    fn at(mut self, location: Option<serde_saphyr::Location>) -> Self {
        if let Some(l) = location.filter(|l| l.line() > 0) {
            self.line = Some(l.line());
            self.column = Some(l.column());
        }
        self
    }

    /// `line 3 column 5`, when known.
    pub fn line_column(&self) -> Option<String> {
        Some(format!("line {} column {}", self.line?, self.column.unwrap_or(1)))
    }

    /// Where the problem is: the path, the line and column, or both.
    pub fn place(&self) -> String {
        match (self.path.is_empty(), self.line_column()) {
            (false, Some(lc)) => format!("{} ({lc})", self.path),
            (false, None) => self.path.clone(),
            (true, Some(lc)) => lc,
            (true, None) => String::new(),
        }
    }
}

impl fmt::Display for YamlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = self.place();
        if !place.is_empty() {
            write!(f, "{place}: ")?;
        }
        write!(f, "{}", self.problem)?;
        if !self.fix.is_empty() {
            write!(f, "; {}", self.fix)?;
        }
        Ok(())
    }
}

/// Why a YAML file was refused; holds every problem found (at least one).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct YamlError {
    pub problems: Vec<YamlProblem>,
}

impl YamlError {
    fn one(problem: YamlProblem) -> Self {
        Self { problems: vec![problem] }
    }
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Parses YAML into `T`: size and depth capped, non-finite numbers refused with their path,
/// errors in plain words with the path, line and column.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    // The untyped pass applies the caps and finds every non-finite number, which a typed
    // `f64` (or a `serde_json::Value`, which turns them into null) would let through.
    to_value(text)?;
    let mut path = String::new();
    serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
            path = path_or_root(&e.path().to_string());
            e.into_inner()
        })
    })
    .map_err(|err| YamlError::one(problem_from(&err, path)))
}

/// For `#[serde(deserialize_with = "yaml::finite")]` on numbers that [`from_str`] reads
/// straight from the text: a quoted `'.nan'` is text to the untyped pass and NaN to an `f64`.
pub fn finite<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let value = <f64 as serde::Deserialize>::deserialize(deserializer)?;
    if value.is_finite() {
        Ok(value)
    } else {
        let spelled = if value.is_nan() {
            ".nan"
        } else if value > 0.0 {
            ".inf"
        } else {
            "-.inf"
        };
        Err(serde::de::Error::custom(format!("{spelled} is not a finite number; give a finite number")))
    }
}

/// [`finite`] for an optional number.
pub fn finite_opt<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    finite(deserializer).map(Some)
}

/// Parses YAML into a JSON value (plans are checked part by part from it): size and depth
/// capped, and every non-finite number refused with its path (all of them at once).
pub fn to_value(text: &str) -> Result<Value, YamlError> {
    check_size(text.len())?;
    let node: Node = serde_saphyr::from_str_with_options(text, options()).map_err(|e| YamlError::one(problem_from(&e, String::new())))?;
    let mut problems = Vec::new();
    node.check_finite(&mut String::new(), &mut problems);
    if problems.is_empty() { Ok(node.into_json()) } else { Err(YamlError { problems }) }
}

/// Reads a YAML (or JSON) file, refusing it before reading past [`MAX_BYTES`], so a huge file
/// or a device answers at once. (The one read of a file here, beside `plan::parse_plan_file`.)
pub fn read_file(path: &Path) -> Result<String, YamlError> {
    let cannot = |e: std::io::Error| {
        YamlError::one(YamlProblem::new("", format!("cannot read {}: {e}", path.display()), "check the path and that the file is readable"))
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    if let Ok(meta) = file.metadata()
        && meta.is_file()
    {
        check_size(usize::try_from(meta.len()).unwrap_or(usize::MAX))?;
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(cannot)?;
    check_size(bytes.len())?;
    String::from_utf8(bytes).map_err(|e| {
        YamlError::one(YamlProblem::new(
            "",
            format!("{} is not UTF-8 text (invalid byte at offset {})", path.display(), e.utf8_error().valid_up_to()),
            "save the file as UTF-8",
        ))
    })
}

fn check_size(len: usize) -> Result<(), YamlError> {
    if len > MAX_BYTES {
        return Err(YamlError::one(YamlProblem::new(
            "",
            format!("the file is {} bytes, more than the 1 MiB ({MAX_BYTES} bytes) rollgate reads", len),
            "a plan, evidence or scenario file is a few kilobytes; check that this is the right file",
        )));
    }
    Ok(())
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH + 1,
            max_documents: 1,
            max_nodes: MAX_VALUES,
            max_aliases: 10_000,
            max_anchors: 10_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 200_000,
            max_replay_stack_depth: 16,
        },
        // YAML 1.2: only true/false are booleans; `yes`, `no`, `on` and `off` stay text.
        strict_booleans: true,
        // Tags such as `!Ref` mean nothing in rollgate's files; refuse them rather than drop them.
        reject_unsupported_tags: true,
        // Non-finite numbers reach `Node`, which reports each one with its path.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    }
}

fn path_or_root(path: &str) -> String {
    if path == "." { String::new() } else { path.to_string() }
}

/// A parser error in plain words, with its line and column.
fn problem_from(err: &serde_saphyr::Error, path: String) -> YamlProblem {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach;
    let err = err.without_snippet();
    let location = err.location();
    let (problem, fix): (String, String) = match err {
        E::Budget { breach: BudgetBreach::Depth { .. }, .. } => (
            format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
            format!("rollgate reads files nested at most {MAX_DEPTH} levels deep (a plan needs about six)"),
        ),
        E::Budget { breach: BudgetBreach::Nodes { .. }, .. } => (
            format!("the file holds more than {MAX_VALUES} values"),
            "a plan, evidence or scenario file holds a few thousand at most; check that this is the right file".into(),
        ),
        E::Budget { breach, .. } => (
            format!("the YAML is too large or repetitive to read ({breach:?})"),
            "a plan, evidence or scenario file has a few hundred values; remove repeated anchors and aliases".into(),
        ),
        E::SerdeUnknownField { field, expected, .. } => {
            let parent = path.strip_suffix(field.as_str()).map(|p| p.trim_end_matches('.')).unwrap_or(&path);
            words::unknown_name(field, expected, &words::noun_for_fields(parent), true)
        }
        E::SerdeUnknownVariant { variant, expected, .. } => words::unknown_name(variant, expected, &words::noun_for_values(&path), false),
        E::SerdeMissingField { field, .. } => (format!("`{field}` is missing"), format!("add `{field}`")),
        E::SerdeInvalidType { unexpected, expected, .. } | E::SerdeInvalidValue { unexpected, expected, .. } => {
            words::wrong_kind(&path, unexpected, expected)
        }
        E::InvalidScalar { ty, .. } => {
            let what = words::expected(ty, words::last_key(&path));
            (format!("the value is not {}", what.split(", like").next().unwrap_or(&what)), format!("write {what}"))
        }
        E::NullIntoString { .. } => ("is empty".into(), "give a value, or remove the line".into()),
        // rollgate's own messages (durations, percents) say what is wrong, then what to write.
        E::Message { msg, .. } => match msg.split_once("; ") {
            Some((problem, fix)) => (problem.to_string(), fix.to_string()),
            None => (msg.clone(), "see the examples under examples/ for the expected shape".into()),
        },
        E::DuplicateMappingKey { .. } => (
            sanitize(&serde_saphyr::UserMessageFormatter.format_message(err))
                .replace(", set DuplicateKeyPolicy in Options if acceptable", ""),
            "keep one of the two entries".into(),
        ),
        E::UnsupportedTag { tag, .. } => (format!("the tag `{tag}` means nothing here"), "remove the tag and write the plain value".into()),
        E::MultipleDocuments { .. } => ("the file holds more than one YAML document (`---`)".into(), "keep one document per file".into()),
        E::Eof { .. } => ("the YAML ends too early".into(), "close every bracket and quote".into()),
        other => {
            let message = sanitize(&serde_saphyr::UserMessageFormatter.format_message(other));
            if message.contains("recursion limit") {
                (
                    format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
                    format!("rollgate reads files nested at most {MAX_DEPTH} levels deep (a plan needs about six)"),
                )
            } else {
                (message, "fix the YAML syntax (indentation, a stray `:`, a quote or bracket)".into())
            }
        }
    };
    YamlProblem { path, line: None, column: None, problem, fix }.at(location)
}

/// Control characters from the input would garble a terminal.
fn sanitize(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

// ---------------------------------------------------------------------------------------------
// The untyped tree: like a JSON value, but it keeps non-finite numbers so they can be reported.

enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    fn check_finite(&self, path: &mut String, problems: &mut Vec<YamlProblem>) {
        match self {
            Node::Float(f) if !f.is_finite() => problems.push(non_finite(path, *f)),
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    item.check_finite(path, problems);
                    path.truncate(len);
                }
            }
            Node::Map(entries) => {
                for (key, value) in entries {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    value.check_finite(path, problems);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn into_json(self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(b),
            Node::Int(i) => Value::from(i),
            Node::UInt(u) => Value::from(u),
            // Checked finite before; `from_f64` only fails on non-finite numbers.
            Node::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s),
            Node::Seq(items) => Value::Array(items.into_iter().map(Node::into_json).collect()),
            Node::Map(entries) => Value::Object(entries.into_iter().map(|(k, v)| (k, v.into_json())).collect()),
        }
    }
}

fn non_finite(path: &str, f: f64) -> YamlProblem {
    let spelled = if f.is_nan() {
        ".nan"
    } else if f.is_sign_negative() {
        "-.inf"
    } else {
        ".inf"
    };
    let problem = if f.is_nan() { format!("{spelled} is not a number") } else { format!("{spelled} is not a finite number") };
    let bound = matches!(words::last_key(path), "at_least" | "at_most" | "above" | "below");
    YamlProblem::new(path, problem, if bound { "give a finite bound" } else { "give a finite number" })
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        i64::try_from(v).map(Node::Int).map_err(|_| E::custom(format!("{v} is too large a number")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v).map(Node::UInt).map_err(|_| E::custom(format!("{v} is too large a number")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(key) = map.next_key::<Node>()? {
            let key = match key {
                Node::Str(s) => s,
                Node::Int(i) => i.to_string(),
                Node::UInt(u) => u.to_string(),
                Node::Bool(b) => b.to_string(),
                Node::Float(f) if f.is_finite() => f.to_string(),
                Node::Null => "null".to_string(),
                _ => return Err(de::Error::custom("a mapping key must be a plain word, not a list, mapping or non-finite number")),
            };
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

// ---------------------------------------------------------------------------------------------
// Plain words for serde's messages, which name Rust types (`expected u32`).

/// Wording shared by the YAML reader and the plan loader.
pub(crate) mod words {
    /// The last key of a dotted path (`traffic.steps[1].weight` → `weight`).
    pub fn last_key(path: &str) -> &str {
        let last = path.rsplit('.').next().unwrap_or(path);
        last.split('[').next().unwrap_or(last)
    }

    /// Last key naming a section, skipping list indices (`traffic.steps[1]` → `steps`).
    fn section(path: &str) -> &str {
        last_key(path)
    }

    /// What the fields at `path` belong to, e.g. "step" for `traffic.steps[0]`.
    pub fn noun_for_fields(path: &str) -> String {
        let noun = match section(path) {
            "" => "plan",
            "steps" => "step",
            "traffic" => "traffic",
            "router" => "router",
            "analysis" if path.contains("steps[") => "step analysis",
            "analysis" => "analysis",
            "analysis_templates" => "analysis templates",
            name if path.strip_prefix("analysis_templates.") == Some(name) => "analysis template",
            "metrics" if path.contains(".query.") => "metric statistic",
            "metrics" => "metric gate",
            "metric" => "metric statistic",
            "query" => "query",
            "must" | "rollback_if" => "bound",
            "sustained" => "sustained condition",
            "baseline" if path.contains(".query") => "dimension",
            "baseline" => "baseline bound",
            "compare" => "comparison",
            "score" => "score",
            "hooks" => "hook",
            "lambda" if path.contains(".hooks[") => "Lambda hook",
            "http" if path.contains(".hooks[") => "HTTP hook",
            "approvals" => "approval",
            "checklist" => "checklist",
            "items" => "checklist item",
            "require" => "requirement",
            "overrides" => "override",
            "allow" => "window",
            "freeze" => "freeze period",
            "notifications" => "notifications",
            "rollback" => "rollback",
            "evidence" => "evidence",
            "approval" | "approvals_scenario" => "approval",
            other => return format!("`{other}`"),
        };
        noun.to_string()
    }

    /// What the value at `path` chooses, e.g. "router type" for `traffic.router`.
    pub fn noun_for_values(path: &str) -> String {
        let noun = match section(path) {
            "router" | "type" => "router type",
            "require" | "kind" => "requirement kind",
            "mode" => "enforcement mode",
            "on_inconclusive" => "inconclusive policy",
            "direction" => "direction",
            "effect_measure" => "effect measure",
            "nan_strategy" => "missing-data strategy",
            "events" => "notification event",
            "days" => "weekday",
            "decision" => "decision",
            "" => "value",
            other => return format!("`{other}` value"),
        };
        noun.to_string()
    }

    /// `a step`, `an approval`.
    pub fn a(noun: &str) -> String {
        let first = noun.chars().find(|c| c.is_alphabetic()).unwrap_or('x');
        let article = if "aeiouAEIOU".contains(first) { "an" } else { "a" };
        format!("{article} {noun}")
    }

    fn capitalized(noun: &str) -> String {
        let mut chars = noun.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }

    /// `colour` is not a step field, with the fix "did you mean `color`? Step fields are name, …".
    /// `fields` tells names of fields (`noun` owns them) from names of values (`noun` is one).
    pub fn unknown_name(name: &str, expected: &[&str], noun: &str, fields: bool) -> (String, String) {
        let problem = if fields { format!("`{name}` is not {} field", a(noun)) } else { format!("`{name}` is not {}", a(noun)) };
        let near = nearest(name, expected).map(|n| format!("did you mean `{n}`? ")).unwrap_or_default();
        let list = expected.join(", ");
        let plain = noun.split(' ').next().is_some_and(|w| w.chars().all(char::is_alphabetic));
        let fix = match (expected.is_empty(), fields) {
            (true, true) => format!("{} has no fields; remove `{name}`", a(noun)),
            (true, false) => format!("remove `{name}`"),
            (false, true) if plain => format!("{near}{} fields are {list}", capitalized(noun)),
            (false, true) if near.is_empty() => format!("the fields of {} are {list}", a(noun)),
            (false, true) => format!("{near}The fields of {} are {list}", a(noun)),
            (false, false) if near.is_empty() => format!("use one of {list}"),
            (false, false) => format!("{near}Use one of {list}"),
        };
        (problem, fix)
    }

    /// The candidate closest to `word`, if it is close enough to be a misspelling.
    pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
        let word = word.to_lowercase();
        candidates
            .iter()
            .map(|c| (edit_distance(&word, &c.to_lowercase()), *c))
            .filter(|(d, c)| *d <= (c.chars().count().max(word.chars().count()) / 3).max(1) + usize::from(word.len() > 4))
            .min_by_key(|(d, _)| *d)
            .map(|(_, c)| c)
    }

    /// Levenshtein distance with adjacent transpositions counted as one edit.
    fn edit_distance(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut prev2 = vec![0usize; b.len() + 1];
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for i in 1..=a.len() {
            let mut cur = vec![i; b.len() + 1];
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    cur[j] = cur[j].min(prev2[j - 2] + 1);
                }
            }
            prev2 = std::mem::replace(&mut prev, cur);
        }
        prev[b.len()]
    }

    /// What serde expected, in plain words; `field` picks a more precise phrase.
    pub fn expected(expected: &str, field: &str) -> String {
        kinds(expected, field).1
    }

    /// What serde expected: a short kind ("a whole number") and, for the field, the precise
    /// phrase with an example ("a whole number of percent, like 10").
    fn kinds(expected: &str, field: &str) -> (String, String) {
        let both = |short: &str, long: &str| (short.to_string(), long.to_string());
        let whole = matches!(expected, "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize");
        if whole {
            let long = match field {
                "weight" => "a whole number of percent, like 10",
                "quorum" => "a whole number of approvals, like 2",
                "min_samples" => "a whole number of datapoints, like 3",
                "consecutive_failures" | "max_inconclusive" => "a whole number of checks, like 2",
                _ => "a whole number, like 3",
            };
            return both("a whole number", long);
        }
        match expected {
            "f32" | "f64" => match field {
                "at_least" | "at_most" | "above" | "below" => both("a number", "a number (the bound), like 1.5"),
                "max_increase_pct" | "max_decrease_pct" => both("a number", "a number of percent, like 10"),
                "confidence" => both("a number", "a number between 0.5 and 1, like 0.98"),
                _ => both("a number", "a number, like 0.5"),
            },
            "a boolean" | "bool" => both("true or false", "true or false"),
            "a string" | "string" | "a borrowed string" => both("text", "text (quote it if it looks like a number or a date)"),
            "a sequence" | "sequence" => both("a list", "a list, like [a, b]"),
            "a map" | "map" => both("a mapping", "a mapping of names to values (name: value)"),
            e if e.starts_with("struct ") || e.starts_with("internally tagged enum") => {
                both("a mapping", "a mapping of fields (name: value)")
            }
            e if e.starts_with("a duration") => both("a duration", "a duration like 30s, 15m, 2h or 7d"),
            e if e.starts_with("a whole number of percent") => both("a whole number", "a whole number of percent, like 10"),
            e if e.contains("variant") || e.starts_with("enum ") => both("one of the allowed values", "one of the allowed values"),
            e if e.starts_with("a ") || e.starts_with("an ") => both(e, e),
            other => (format!("a {other}"), format!("a {other}")),
        }
    }

    /// serde's `Unexpected` in plain words: `string "10%"` → `"10%"`.
    pub fn found(unexpected: &str) -> String {
        for prefix in ["string ", "integer ", "floating point ", "boolean ", "character "] {
            if let Some(rest) = unexpected.strip_prefix(prefix) {
                return rest.trim_matches('`').to_string();
            }
        }
        match unexpected {
            "unit value" | "null" | "none" | "unit" => "an empty value (null)".into(),
            "sequence" => "a list".into(),
            "map" => "a mapping".into(),
            other => other.to_string(),
        }
    }

    /// `invalid type: string "10%", expected u32` at `traffic.steps[0].weight`, in plain words.
    pub fn wrong_kind(path: &str, unexpected: &str, expected_text: &str) -> (String, String) {
        let field = last_key(path);
        let found = found(unexpected);
        let (short, long) = kinds(expected_text, field);
        let percent = found.trim_matches('"').trim().strip_suffix('%').map(str::trim).filter(|n| n.parse::<f64>().is_ok());
        let fix = match percent {
            Some(number) => format!("write {number}, without `%`"),
            None if field.is_empty() => format!("write {long}"),
            None => format!("`{field}` is {long}"),
        };
        (format!("{found} is not {short}"), fix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn problems(text: &str) -> Vec<String> {
        to_value(text).err().map(|e| e.problems.iter().map(ToString::to_string).collect()).unwrap_or_default()
    }

    #[test]
    fn reads_plain_yaml_as_json() {
        let value = to_value("name: x\nsteps: [{ weight: 10, bake: 5m }]\nratio: 0.5\nok: true\nword: no\n").ok();
        let expected = serde_json::json!({"name": "x", "steps": [{"weight": 10, "bake": "5m"}], "ratio": 0.5, "ok": true, "word": "no"});
        assert_eq!(value, Some(expected));
    }

    #[test]
    fn non_finite_numbers_are_refused_with_their_paths() {
        let found = problems("analysis:\n  metrics:\n    - must: { below: .nan, at_least: 0 }\n      weights: [1, .inf, -.Inf, 1e999]\n");
        assert_eq!(
            found,
            vec![
                "analysis.metrics[0].must.below: .nan is not a number; give a finite bound",
                "analysis.metrics[0].weights[1]: .inf is not a finite number; give a finite number",
                "analysis.metrics[0].weights[2]: -.inf is not a finite number; give a finite number",
                "analysis.metrics[0].weights[3]: .inf is not a finite number; give a finite number",
            ]
        );
        // Quoted, it is text, not a number.
        assert!(problems("x: '.nan'").is_empty());
    }

    #[test]
    fn deep_nesting_is_refused_quickly_with_the_limit() {
        for text in ["{a: ".repeat(100_000), "[".repeat(100_000), "- ".repeat(100_000), {
            let mut block = String::new();
            for i in 0..300 {
                block.push_str(&" ".repeat(i));
                block.push_str("a:\n");
            }
            block
        }] {
            let started = Instant::now();
            let found = problems(&text);
            assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].contains("nested more than 64 levels") || found[0].contains("line 1"), "{found:?}");
        }
        let nested_64 = format!("{}1{}", "[".repeat(64), "]".repeat(64));
        assert!(to_value(&nested_64).is_ok());
        let nested_65 = format!("{}1{}", "[".repeat(65), "]".repeat(65));
        assert!(problems(&nested_65)[0].contains("nested more than 64 levels"));
    }

    #[test]
    fn huge_input_is_refused_by_size() {
        let text = format!("x: \"{}\"\n", "a".repeat(MAX_BYTES));
        let found = problems(&text);
        assert!(found[0].contains("more than the 1 MiB"), "{found:?}");
    }

    #[test]
    fn typed_errors_name_field_line_and_column_in_plain_words() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Step {
            name: Option<String>,
            weight: u32,
            bake: String,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Root {
            steps: Vec<Step>,
        }
        let err = |text: &str| from_str::<Root>(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err("steps:\n  - weight: 10\n    bake: 5m\n    colour: red\n"),
            "steps[0].colour (line 4 column 5): `colour` is not a step field; Step fields are name, weight, bake"
        );
        assert_eq!(
            err("steps:\n  - weight: lots\n    bake: 5m\n"),
            "steps[0].weight (line 2 column 13): the value is not a whole number of percent; write a whole number of percent, like 10"
        );
        assert_eq!(err("steps:\n  - weight: 10\n"), "steps[0] (line 2 column 5): `bake` is missing; add `bake`");
        let value: Option<Root> = from_str("steps: [{ weight: 10, bake: 5m }]").ok();
        assert_eq!(value.map(|r| r.steps.len()), Some(1));

        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Wait {
            after: crate::domain::duration::HumanDuration,
        }
        let wait = from_str::<Wait>("after: 15\n").err().map(|e| e.to_string());
        assert_eq!(wait.as_deref(), Some("after (line 1 column 8): `15` has no unit; write 15s, 15m, 15h or 15d"));
    }

    #[test]
    fn syntax_errors_and_duplicates_name_the_line() {
        let found = problems("a: [unclosed");
        assert!(found[0].starts_with("line 1 column"), "{found:?}");
        let found = problems("a: 1\na: 2\n");
        assert!(found[0].starts_with("line 2 column 1: duplicate"), "{found:?}");
        assert!(problems("a: !Ref x")[0].contains("`!Ref`"), "{:?}", problems("a: !Ref x"));
    }

    #[test]
    fn misspellings_find_the_nearest_name() {
        assert_eq!(words::nearest("colour", &["name", "color", "bake"]), Some("color"));
        assert_eq!(words::nearest("wieght", &["name", "weight", "bake"]), Some("weight"));
        assert_eq!(words::nearest("dryrun", &["lambda_alias", "alb", "webhook", "dry_run"]), Some("dry_run"));
        assert_eq!(words::nearest("zzz", &["name", "weight", "bake"]), None);
    }
}
