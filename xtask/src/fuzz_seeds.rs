//! `cargo xtask fuzz-seeds`: seed corpora for the fuzz targets in `fuzz/`, made from the real
//! data in `../shared` at run time (they are never committed):
//!
//! - `envelope_scan`, `frame_parse`: every frame of the recorded traffic (enigma-go's JSON
//!   rows, corectl's `-->`/`<--` lines), and every corpus layout as a response's `result`;
//! - `typed_layout`, `typed_hypercube`, `typed_properties`: every object of the corpus
//!   layouts up to three levels deep (whole layouts, `qHyperCube`s, property sets, …);
//! - `codegen_spec`: the golden and diff fixture specs and the smallest real spec.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::codegen::root;

const TARGETS: &[&str] = &[
    "envelope_scan",
    "frame_parse",
    "typed_layout",
    "typed_hypercube",
    "typed_properties",
    "codegen_spec",
    "delta_patch",
];

pub fn run() -> Result<ExitCode, String> {
    let root = root();
    let shared = root.join("../shared");
    let out = root.join("fuzz/corpus");
    let mut frames = Vec::new();
    for f in files(&shared.join("corpus/traffic"))? {
        let text = read(&f)?;
        if let Ok(Value::Array(rows)) = serde_json::from_str::<Value>(&text) {
            for row in rows {
                for v in row.as_object().into_iter().flat_map(|o| o.values()) {
                    frames.push(v.to_string());
                }
            }
        } else {
            for line in text.lines() {
                if let Some(frame) = line.strip_prefix("--> ").or(line.strip_prefix("<-- ")) {
                    frames.push(frame.to_string());
                }
            }
        }
    }
    let mut objects = Vec::new();
    for dir in files(&shared.join("corpus/layouts"))? {
        for f in files(&dir)? {
            let v: Value =
                serde_json::from_str(&read(&f)?).map_err(|e| format!("{}: {e}", f.display()))?;
            frames.push(format!(r#"{{"jsonrpc":"2.0","id":1,"result":{v}}}"#));
            collect(&v, 0, &mut objects);
        }
    }
    let mut specs = Vec::new();
    for dir in [
        "qix-codegen/tests/golden",
        "qix-codegen/tests/fixtures/diff",
    ] {
        for f in files(&root.join(dir))? {
            if f.extension().is_some_and(|e| e == "openrpc") {
                specs.push(read(&f)?);
            }
        }
    }
    let smallest = files(&shared.join("schemas/openrpc"))?
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
        .min_by_key(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(u64::MAX));
    if let Some(f) = smallest {
        specs.push(read(&f)?);
    }
    // The delta applier: pairs of a real value and a changed copy (its diff is a patch
    // the engine could send), and a value with a hand-made patch list.
    let mut deltas = Vec::new();
    for pair in objects.windows(2).take(200) {
        deltas.push(format!("[{},{}]", pair[0], pair[1]));
    }
    for o in objects.iter().take(50) {
        deltas.push(format!(
            r#"[{o},[{{"op":"add","path":"/qExtra~1x","value":[1]}},{{"op":"replace","path":"/","value":{o}}},{{"op":"remove","path":"/qInfo"}}]]"#
        ));
    }
    let seeds: [(&str, &[String]); 7] = [
        (TARGETS[0], &frames),
        (TARGETS[1], &frames),
        (TARGETS[2], &objects),
        (TARGETS[3], &objects),
        (TARGETS[4], &objects),
        (TARGETS[5], &specs),
        (TARGETS[6], &deltas),
    ];
    for (target, items) in seeds {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for item in items {
            // Named by content, as libFuzzer names its own finds.
            let name = format!("{:x}", Sha256::digest(item.as_bytes()));
            let path = dir.join(&name[..40]);
            std::fs::write(&path, item).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        println!("{target}: {} seeds in {}", items.len(), dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn collect(v: &Value, depth: usize, out: &mut Vec<String>) {
    if depth > 3 {
        return;
    }
    match v {
        Value::Object(m) => {
            out.push(v.to_string());
            for child in m.values() {
                collect(child, depth + 1, out);
            }
        }
        Value::Array(a) => {
            for child in a.iter().take(4) {
                collect(child, depth + 1, out);
            }
        }
        _ => {}
    }
}

fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}
