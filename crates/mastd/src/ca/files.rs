//! PEM text and the files the CA keeps: keys are written mode 0600 in directories of mode
//! 0700, certificates 0644; a file is written whole (temporary file, then rename or link) so a
//! reader never sees half of one.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Splits PEM text into its certificates, each as its own PEM block ending in a newline.
/// Anything between blocks (comments, other kinds of block) is dropped.
pub fn split_certs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(b) = rest.find(BEGIN) {
        let Some(e) = rest[b..].find(END) else { break };
        let end = b + e + END.len();
        out.push(format!("{}\n", &rest[b..end]));
        rest = &rest[end..];
    }
    out
}

/// The DER of the first certificate in `pem`.
pub fn cert_der(pem: &str) -> Result<CertificateDer<'static>, String> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn temp_path(path: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn write_temp(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<PathBuf> {
    let tmp = temp_path(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    // the umask may have taken bits off; set exactly
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(tmp)
}

/// Writes `contents` to `path` with `mode`, replacing it whole.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = write_temp(path, contents, mode)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes `contents` to `path` with `mode` unless `path` exists: `Ok(false)` then (another
/// process created it first; read theirs).
pub fn create_file(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<bool> {
    let tmp = write_temp(path, contents, mode)?;
    let r = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Keys: 0600.
pub const KEY_MODE: u32 = 0o600;
/// Certificates: 0644.
pub const CERT_MODE: u32 = 0o644;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pem_blocks() {
        let a = format!("{BEGIN}\nAAAA\n{END}");
        let b = format!("{BEGIN}\nBBBB\n{END}");
        let text = format!("# comment\n{a}\n\n{b}\n");
        assert_eq!(split_certs(&text), vec![format!("{a}\n"), format!("{b}\n")]);
        assert!(split_certs("").is_empty());
    }

    #[test]
    fn files_get_their_modes_and_create_does_not_replace() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let p = dir.join("key.pem");
        assert!(create_file(&p, b"one", KEY_MODE).unwrap());
        assert!(!create_file(&p, b"two", KEY_MODE).unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        write_file(&p, b"three", KEY_MODE).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporaries left"
        );
    }
}
