//! Finds the protobuf descriptor set that `envoy-types` ships (its `src/generated/types.bin`)
//! so that config dumps can print any Envoy proto as JSON. The crate does not export it, so it
//! is looked up in Cargo's registry sources; when it cannot be found, dumps fall back to
//! printing the type URL and size of each resource.

use std::path::{Path, PathBuf};

fn registry_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        roots.push(PathBuf::from(home).join("registry/src"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(home).join(".cargo/registry/src"));
    }
    roots
}

fn find(version: &str) -> Option<PathBuf> {
    for root in registry_roots() {
        let Ok(indexes) = std::fs::read_dir(&root) else {
            continue;
        };
        for idx in indexes.flatten() {
            let p = idx
                .path()
                .join(format!("envoy-types-{version}/src/generated/types.bin"));
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn locked_version(lock: &Path) -> Option<String> {
    let text = std::fs::read_to_string(lock).ok()?;
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "name = \"envoy-types\"" {
            let v = lines.next()?;
            return v
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_string);
        }
    }
    None
}

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let lock = manifest.join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let found = locked_version(&lock).and_then(|v| find(&v));
    match found {
        Some(p) => {
            println!("cargo:rustc-env=MAST_ENVOY_DESCRIPTORS={}", p.display());
            println!("cargo:rustc-cfg=envoy_descriptors");
        }
        None => println!(
            "cargo:warning=envoy-types descriptor set not found; config dumps will not decode protos"
        ),
    }
    println!("cargo::rustc-check-cfg=cfg(envoy_descriptors)");
}
