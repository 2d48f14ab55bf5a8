//! The library's layers, read from its `use` lines: no module uses one of a layer above it, and
//! no two modules use each other, directly or around a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lowest first. A module may use modules of its own layer or of layers below it.
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("release", 1),
    ("ports", 2),
    ("flow", 3),
    ("adapters", 3),
    ("review", 4),
    ("simulate", 5),
    ("boundary", 5),
    ("runtime", 6),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            out.push(path);
        }
    }
}

/// `domain::gate` for `src/domain/gate.rs`, `ports` for `src/ports.rs`.
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(src()).unwrap_or(path).with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().to_string()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "tests") {
        parts.pop();
    }
    parts.join("::")
}

/// The modules a file names through `crate::a::b` paths (two levels: the layer and its module).
/// Test code (`tests.rs` files, what follows `#[cfg(test)]`) may use anything and is not read.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines().take_while(|l| l.trim() != "#[cfg(test)]") {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let module = match segments.as_slice() {
                [first, second, ..] if second.chars().next().is_some_and(char::is_lowercase) => format!("{first}::{second}"),
                [first, ..] => (*first).to_string(),
                [] => continue,
            };
            used.insert(module);
        }
    }
    used
}

fn layer(module: &str) -> Option<u8> {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS.iter().find(|(name, _)| *name == top).map(|(_, rank)| *rank)
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&file);
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let entry = graph.entry(module.clone()).or_default();
        for used in used_modules(&text) {
            // `domain::gate` using `domain::gate` (its own tests, its submodules) is no edge.
            if used != module && !module.starts_with(&format!("{used}::")) && !used.starts_with(&format!("{module}::")) {
                entry.insert(used);
            }
        }
    }
    graph
}

#[test]
fn every_module_belongs_to_a_layer() {
    for module in graph().keys() {
        assert!(layer(module).is_some(), "{module} is in no layer; add it to LAYERS and to docs/architecture.md");
    }
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let mut wrong = Vec::new();
    for (module, uses) in graph() {
        let Some(own) = layer(&module) else { continue };
        for used in uses {
            if layer(&used).is_some_and(|l| l > own) {
                wrong.push(format!("{module} uses {used}"));
            }
        }
    }
    assert!(wrong.is_empty(), "uses of a higher layer:\n{}", wrong.join("\n"));
}

#[test]
fn flow_and_adapters_do_not_use_each_other() {
    for (module, uses) in graph() {
        let top = module.split("::").next().unwrap_or_default();
        for used in uses {
            let other = used.split("::").next().unwrap_or_default();
            assert!(
                !((top == "flow" && other == "adapters") || (top == "adapters" && other == "flow")),
                "{module} uses {used}: the flow reaches adapters only through the ports"
            );
        }
    }
}

#[test]
fn there_is_no_import_circle() {
    let graph = graph();
    // Depth-first search for a back edge; the circle is printed when found.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            // Edges name a module (`domain::gate`) or a whole layer's file (`ports`).
            let target = if graph.contains_key(next) { next.clone() } else { continue };
            match state.get(&target) {
                Some(1) => {
                    let from = stack.iter().position(|n| *n == target).unwrap_or(0);
                    let mut circle = stack[from..].to_vec();
                    circle.push(target);
                    return Some(circle);
                }
                Some(_) => {}
                None => {
                    if let Some(circle) = visit(&target, graph, state, stack) {
                        return Some(circle);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node)
            && let Some(circle) = visit(node, &graph, &mut state, &mut Vec::new())
        {
            panic!("import circle: {}", circle.join(" → "));
        }
    }
}

#[test]
fn the_reader_sees_a_use_of_a_higher_layer() {
    // The check itself: a line that reaches up is found.
    let uses = used_modules("use crate::flow::traffic::switch; // not crate::simulate\nlet x = crate::review::ReviewWeek::before(now);");
    assert_eq!(uses, BTreeSet::from(["flow::traffic".to_string(), "review".to_string()]));
}
