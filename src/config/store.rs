//! Reading and writing `config.json` safely: every write is atomic (temp file
//! in the same directory, fsync, rename, fsync the directory) and every
//! read-modify-write holds an exclusive lock on a sidecar `<file>.lock`, so
//! racing CLI invocations never lose a change and a reader (the server's hot
//! reload) never sees a half-written file.
//!
//! A file that does not parse or validate is never written over: [`update`]
//! refuses before calling the edit, so a hand-edited mistake is not "fixed" by
//! being replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{parse_raw, ConfigError, LoadBalance, RawConfig};

/// Mode of a config file the CLI creates: it holds API keys.
#[cfg(unix)]
const NEW_FILE_MODE: u32 = 0o600;

/// The sidecar lock file for `path` (`config.json` → `config.json.lock`).
/// It is left in place: deleting a lock file lets two processes hold "the"
/// lock on different inodes.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "config.json".into());
    name.push(".lock");
    path.with_file_name(name)
}

/// The file's text, or `None` when it does not exist.
pub(crate) fn read_text(path: &Path) -> Result<Option<String>, ConfigError> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Parses the file as it is (no validation); a missing file is empty.
pub(crate) fn load_raw(path: &Path) -> Result<RawConfig, ConfigError> {
    match read_text(path)? {
        Some(text) => parse_raw(&path.display().to_string(), &text),
        None => Ok(RawConfig::default()),
    }
}

/// The file format: pretty JSON, 2-space indentation, trailing newline.
pub(crate) fn to_json(raw: &RawConfig) -> Result<String, ConfigError> {
    let mut text =
        serde_json::to_string_pretty(raw).map_err(|e| ConfigError::Rejected(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

/// Writes `raw` to `path` atomically. Callers that read the file first should
/// use [`update`], which also holds the lock.
pub fn save(path: &Path, raw: &RawConfig) -> Result<(), ConfigError> {
    let text = to_json(raw)?;
    write_atomic(path, text.as_bytes()).map_err(|source| write_error(path, source))
}

/// Read-modify-write under the lock: loads and validates the file (missing =
/// empty), applies `edit`, validates the result and writes it atomically.
///
/// A file that does not parse or validate is left untouched and its problems
/// returned (`Syntax` with line/column, `Invalid` with field paths). An
/// `Err(message)` from `edit` becomes [`ConfigError::Rejected`] and nothing is
/// written. When the edit changes nothing, nothing is written either.
pub fn update<T, F>(path: &Path, edit: F) -> Result<T, ConfigError>
where
    F: FnOnce(&mut RawConfig) -> Result<T, String>,
{
    let _lock = lock(path)?;
    let original = read_text(path)?;
    let mut raw = match &original {
        Some(text) => parse_raw(&path.display().to_string(), text)?,
        None => RawConfig::default(),
    };
    // The default strategy only matters to the server; any value validates.
    raw.validate(LoadBalance::default())?;
    // Compared in normal form, so a no-op edit neither creates the file nor
    // reformats a hand-written one.
    let before = to_json(&raw)?;
    let out = edit(&mut raw).map_err(ConfigError::Rejected)?;
    if let Err(e) = raw.validate(LoadBalance::default()) {
        return Err(ConfigError::Rejected(format!(
            "the change would make the configuration invalid, nothing written: {e}"
        )));
    }
    let text = to_json(&raw)?;
    if text != before {
        write_atomic(path, text.as_bytes()).map_err(|source| write_error(path, source))?;
    }
    Ok(out)
}

/// Holds the exclusive advisory lock until dropped (closing the file releases
/// it, also when the process dies).
struct LockGuard(#[allow(dead_code)] File);

fn lock(path: &Path) -> Result<LockGuard, ConfigError> {
    let lock_file = lock_path(path);
    // First write to e.g. ~/.config/claude-proxy/config.json: make the folder.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|source| write_error(dir, source))?;
    }
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(NEW_FILE_MODE);
    }
    let file = options
        .open(&lock_file)
        .map_err(|source| write_error(&lock_file, source))?;
    // Called through the trait: newer std has an inherent `File::lock` with the
    // same meaning, older toolchains (rust-version) do not.
    fs4::FileExt::lock(&file).map_err(|source| write_error(&lock_file, source))?;
    Ok(LockGuard(file))
}

fn write_error(path: &Path, source: io::Error) -> ConfigError {
    ConfigError::Write {
        path: path.display().to_string(),
        source,
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // Write through a symlink to its target instead of replacing the link.
    let target = if path.is_symlink() {
        fs::canonicalize(path)?
    } else {
        path.to_path_buf()
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let existing = fs::metadata(&target).ok();
    // tempfile creates the file 0600, so keys are never briefly world-readable.
    let mut tmp = tempfile::Builder::new()
        .prefix(".config-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(bytes)?;
    if let Some(meta) = &existing {
        keep_metadata(tmp.as_file(), meta)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    sync_dir(&dir)
}

#[cfg(unix)]
fn keep_metadata(file: &File, meta: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    file.set_permissions(meta.permissions())?;
    // Keep the owner when root edits someone else's file; a normal user cannot
    // chown and does not need to (the new file is already theirs).
    let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
    Ok(())
}

#[cfg(not(unix))]
fn keep_metadata(file: &File, meta: &fs::Metadata) -> io::Result<()> {
    file.set_permissions(meta.permissions())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    // Makes the rename itself durable.
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_creates_saves_and_refuses_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        update(&path, |raw| {
            raw.load_balance = Some("failover".into());
            Ok(())
        })
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("}\n") && text.contains("\n  \"loadBalance\": \"failover\""),
            "{text}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            update(&path, |raw| {
                raw.load_balance = Some("random".into());
                Ok(())
            })
            .unwrap();
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o640
            );
        }

        fs::write(&path, "{\"upstream\": [}").unwrap();
        let err = update(&path, |_| Ok(())).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { line: 1, .. }), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"upstream\": [}");

        fs::write(&path, "{\"currentUpstream\": 4}").unwrap();
        assert!(matches!(
            update(&path, |_| Ok(())),
            Err(ConfigError::Invalid(_))
        ));
    }

    #[test]
    fn rejected_edits_and_invalid_results_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("c.json");
        let err = update(&path, |_| Err::<(), _>("no".into())).unwrap_err();
        assert_eq!(err.to_string(), "no");
        let err = update(&path, |raw| {
            raw.current_upstream = Some(7);
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("currentUpstream"), "{err}");
        assert!(!path.exists());
        update(&path, |_| Ok(())).unwrap();
        assert!(
            !path.exists(),
            "an edit that changes nothing writes nothing"
        );
        update(&path, |raw| {
            raw.current_upstream = Some(0);
            Ok(())
        })
        .unwrap();
        assert!(path.exists(), "the parent folder is created");
    }

    #[test]
    fn lock_path_is_a_sidecar() {
        assert_eq!(
            lock_path(Path::new("/a/config.json")),
            Path::new("/a/config.json.lock")
        );
        assert_eq!(lock_path(Path::new("c.json")), Path::new("c.json.lock"));
    }
}
