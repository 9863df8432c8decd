//! What a registry holds on disk, to prove a command wrote nothing: every file under its
//! storage directory with the sha256 of its content.

use std::collections::BTreeMap;
use std::path::Path;

/// `relative path -> sha256` of every file under `dir` (empty when `dir` does not exist).
pub fn files(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            out.insert(rel, super::sha256_digest(&bytes));
        }
    }
}
