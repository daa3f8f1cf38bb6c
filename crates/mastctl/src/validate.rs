//! `mastctl validate -f`: istioctl validate over files.

use anyhow::Result;
use mast_config::{Family, Loaded, Severity, validate};

use crate::cli::{Exit, ValidateArgs};

/// Runs `mastctl validate`: prints every finding as `file:line: Kind ns/name: field: message`,
/// exits 1 when any object is invalid (as istioctl does) and 0 with `"FILE" is valid` lines
/// otherwise.
pub fn run(args: &ValidateArgs) -> Result<Exit> {
    let loaded = Loaded::from_paths(&args.filenames);
    let mut errors = 0usize;
    for e in &loaded.errors {
        match e {
            mast_config::LoadError::UnknownKind { api_version, .. }
                if !api_version.contains(".istio.io/") =>
            {
                eprintln!("Warning: {e}: not validated");
            }
            _ => {
                eprintln!("Error: {e}");
                errors += 1;
            }
        }
    }
    for r in &loaded.resources {
        if r.kind_info().is_none() {
            continue;
        }
        if r.kind_info().is_some_and(|k| k.family == Family::Mixer) {
            eprintln!(
                "Warning: {}: {} {}: Mixer kinds are not validated (Mast has no Mixer)",
                r.origin,
                r.gvk.kind,
                r.namespaced_name()
            );
            continue;
        }
        for f in validate(r) {
            match f.finding.severity {
                Severity::Error => {
                    eprintln!("Error: {f}");
                    errors += 1;
                }
                Severity::Warning => eprintln!("Warning: {f}"),
            }
        }
    }
    if errors > 0 {
        eprintln!("Error: {errors} error(s) found");
        return Ok(Exit::Failure);
    }
    for f in &args.filenames {
        if f.as_os_str() == "-" {
            println!("validation succeed");
        } else {
            println!("{:?} is valid", f.display().to_string());
        }
    }
    Ok(Exit::Ok)
}
