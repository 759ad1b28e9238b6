//! The agent's modules import each other without a loop, integrations never import the
//! exporter (nor the exporter an integration), and no integration imports another but the
//! shared `db`. Read from the source text: every `crate::` and `super::` path in production
//! code (test modules and files left out), resolved to the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path, `["integrations", "flow", "run"]`.
type Module = Vec<String>;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "tests" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "testing.rs" {
            out.push(path);
        }
    }
}

/// The module a file is, relative to `src`.
fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "main") {
        parts.pop();
    }
    parts
}

/// The production code of a file: up to its test module, without comments (`//` at the start
/// of a line or after a space, so that `"http://..."` stays).
fn production(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .map(|l| {
            let comment = l.trim_start().starts_with("//").then_some(0);
            let end = comment.or_else(|| l.find(" //")).unwrap_or(l.len());
            &l[..end]
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `code` (of module `at`) names by `crate::a::b` or `super::a`, as far as they
/// are modules of this crate (`known`).
fn imports(code: &str, at: &Module, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    for (start, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let path: String = code[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
        let mut base: Module = match parts.first() {
            Some(&"crate") => {
                parts.remove(0);
                Vec::new()
            }
            _ => at.clone(),
        };
        while parts.first() == Some(&"super") {
            parts.remove(0);
            base.pop();
        }
        // The longest prefix that is a module of the crate.
        let mut named = base.clone();
        for p in parts {
            let mut next = named.clone();
            next.push(p.to_string());
            if !known.contains(&next) {
                break;
            }
            named = next;
        }
        if !named.is_empty() && !at.starts_with(&named) {
            out.insert(named);
        }
    }
    out
}

/// Every production module and the modules it imports.
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let known: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    files
        .iter()
        .map(|f| {
            let at = module_of(&src, f);
            let text = std::fs::read_to_string(f).unwrap();
            let uses = imports(&production(&text), &at, &known);
            (at, uses)
        })
        .collect()
}

/// What a module belongs to for these rules: a top-level module, or `integrations/<name>`
/// for an integration's modules.
fn part(m: &Module) -> String {
    match m.as_slice() {
        [] => "main".into(),
        [i, name, ..] if i == "integrations" && !SEAM.contains(&name.as_str()) => {
            format!("integrations/{name}")
        }
        [top, ..] => top.clone(),
    }
}

/// The modules of `integrations` that are the seam, not an integration.
const SEAM: [&str; 3] = ["context", "section", "sources"];

fn edges() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (m, uses) in graph() {
        for u in uses {
            let (a, b) = (part(&m), part(&u));
            if a != b {
                out.insert((a, b));
            }
        }
    }
    out
}

#[test]
fn the_modules_import_each_other_without_a_loop() {
    let edges = edges();
    // main wires everything together; the rest must form no cycle.
    let graph: BTreeMap<&str, Vec<&str>> =
        edges
            .iter()
            .filter(|(a, _)| a != "main")
            .fold(BTreeMap::new(), |mut g, (a, b)| {
                g.entry(a.as_str()).or_default().push(b.as_str());
                g
            });
    fn visit<'a>(
        n: &'a str,
        g: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(i) = path.iter().position(|p| *p == n) {
            panic!("import loop: {} -> {n}", path[i..].join(" -> "));
        }
        if !done.insert(n) {
            return;
        }
        path.push(n);
        for next in g.get(n).into_iter().flatten() {
            visit(next, g, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        visit(n, &graph, &mut Vec::new(), &mut BTreeSet::new());
        done.insert(*n);
    }
    for (a, b) in [
        ("config", "export"),
        ("scheduler", "integrations"),
        ("export", "sink"),
    ] {
        assert!(
            edges.contains(&(a.into(), b.into())),
            "the reader missed {a} -> {b}: {edges:?}"
        );
    }
}

/// The modules under `integrations/` that are not integrations but what several share: the
/// database clients, the include/exclude filter, the series budget, the `sock_diag` dump and
/// the plain-or-TLS connection.
const SHARED: [&str; 5] = [
    "integrations/db",
    "integrations/filter",
    "integrations/budget",
    "integrations/sock_diag",
    "integrations/maybe_tls",
];

#[test]
fn integrations_and_the_exporter_do_not_know_each_other() {
    let mut wrong = Vec::new();
    for (a, b) in edges() {
        let integration = |p: &str| p.starts_with("integrations");
        let bad = (integration(&a)
            && ["export", "config", "scheduler", "once"].contains(&b.as_str()))
            || (a == "export" && integration(&b))
            || (a.starts_with("integrations/")
                && b.starts_with("integrations/")
                && !SHARED.contains(&b.as_str()));
        if bad {
            wrong.push(format!("{a} imports {b}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_reader_sees_a_loop_when_there_is_one() {
    let known: BTreeSet<Module> = [vec!["a".to_string()], vec!["b".to_string()]].into();
    let a = imports("use crate::b::thing;", &vec!["a".into()], &known);
    let b = imports(
        "fn f() { super::a::g() }",
        &vec!["b".into(), "c".into()],
        &known,
    );
    assert_eq!(a, [vec!["b".to_string()]].into());
    assert_eq!(
        b,
        BTreeSet::new(),
        "super:: of b::c is b, whose a is not a module"
    );
    let b = imports("fn f() { crate::a::g() }", &vec!["b".into()], &known);
    assert_eq!(b, [vec!["a".to_string()]].into());
}
