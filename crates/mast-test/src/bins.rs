//! The project's binaries, built once and shared by every end-to-end test.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

static BUILD: Mutex<()> = Mutex::new(());

/// The directory of the running test's profile (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/debug/deps/<test> → target/debug
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .expect("tests run from target/<profile>/deps")
}

/// The path of binary `name` of package `package` in this build, building it with cargo the
/// first time it is missing (`cargo test --workspace` has usually built it already).
pub fn bin(package: &str, name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    if path.exists() {
        return path;
    }
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", package, "--bin", name])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {package}/{name} failed");
    }
    assert!(
        path.exists(),
        "{} still missing after the build",
        path.display()
    );
    path
}
