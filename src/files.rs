//! Writing files so that a reader never sees half of one: the content goes to a temporary
//! file in the same directory with its final mode, is synced, then renamed into place
//! (optionally with a rename that refuses to replace an existing file).

use std::fs::Permissions;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Context as _;

/// Write `contents` to `path` atomically (temp file + rename), overwriting.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = prepare(path, contents, mode)?;
    persist(tmp, path, true)
}

pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

pub(crate) fn prepare(
    path: &Path,
    contents: &[u8],
    mode: u32,
) -> anyhow::Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path);
    let failed = || format!("cannot write {}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".pinsign-")
        .suffix(".tmp")
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)
        .with_context(failed)?;
    // The umask may have cleared bits we want (0644 for a .pub); set the mode exactly.
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode))
        .with_context(failed)?;
    tmp.write_all(contents).with_context(failed)?;
    tmp.as_file().sync_all().with_context(failed)?;
    Ok(tmp)
}

pub(crate) fn persist(
    tmp: tempfile::NamedTempFile,
    path: &Path,
    overwrite: bool,
) -> anyhow::Result<()> {
    let result = if overwrite {
        tmp.persist(path).map(|_| ())
    } else {
        tmp.persist_noclobber(path).map(|_| ())
    };
    result.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            )
        } else {
            anyhow::Error::new(e.error).context(format!("cannot write {}", path.display()))
        }
    })
}

/// Read a small input file (a signature, certificate, bundle) of at most `max` bytes; a
/// missing or larger file is a usage error naming it (a `/dev/zero` never fills memory).
pub fn read_bounded(path: &Path, max: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| {
        crate::error::UsageError::new(format!("cannot read {}: {e}", path.display()))
    })?;
    let mut out = Vec::new();
    file.take(max + 1).read_to_end(&mut out).map_err(|e| {
        crate::error::UsageError::new(format!("cannot read {}: {e}", path.display()))
    })?;
    if out.len() as u64 > max {
        return Err(crate::error::UsageError::new(format!(
            "{} is larger than {max} bytes; it is not {what}",
            path.display()
        ))
        .into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_the_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.key");
        write_atomic(&file, b"one", 0o600).unwrap();
        write_atomic(&file, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }
}
