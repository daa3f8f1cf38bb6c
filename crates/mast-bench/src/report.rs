//! Replacing one benchmark's section of docs/benchmarks.md.

use std::path::Path;

use anyhow::{Context, Result};

/// Replaces the text between `<!-- bench:ID -->` and `<!-- /bench:ID -->` in `path` with
/// `section`, appending the marked section when it is not there yet.
pub fn replace_section(path: &Path, id: &str, section: &str) -> Result<()> {
    let start = format!("<!-- bench:{id} -->");
    let end = format!("<!-- /bench:{id} -->");
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_string());
    let block = format!("{start}\n{}\n{end}", section.trim_end());
    let new = match (old.find(&start), old.find(&end)) {
        (Some(s), Some(e)) if e > s => format!("{}{block}{}", &old[..s], &old[e + end.len()..]),
        _ => format!("{}\n{block}\n", old.trim_end()),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))
}
