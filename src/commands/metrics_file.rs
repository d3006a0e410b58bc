//! The file `cleartokens --metrics-file` writes, replaced atomically: node_exporter's textfile
//! collector may read it at any moment and must see the old file or the new one, never half of
//! one. The text is written to a temporary file in the same folder (a rename is atomic only
//! within one file system), flushed to disk, renamed over the target, and the folder is synced
//! so that the rename itself survives a crash.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The current file's text, if there is a readable one (a missing file is the first run).
pub fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// Replaces the file at `path` with `text`, atomically.
pub fn replace(path: &Path, text: &str) -> Result<()> {
    let temp = temp_path(path)?;
    let written = write_synced(&temp, text).and_then(|()| {
        fs::rename(&temp, path)
            .with_context(|| format!("renaming {} to {}", temp.display(), path.display()))
    });
    if written.is_err() {
        // Leave no stray temporary file behind; the error that matters is the first one.
        let _ = fs::remove_file(&temp);
    }
    written?;
    sync_folder(path);
    Ok(())
}

/// A name beside `path` that the textfile collector ignores (it reads `*.prom` only) and that
/// no other process writing the same file at the same time picks too.
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}.tmp", std::process::id()));
    Ok(path.with_file_name(temp))
}

fn write_synced(temp: &Path, text: &str) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temp.display()))
}

/// Makes the rename durable. Best effort: the file is in place either way, and some file
/// systems refuse to sync a folder.
fn sync_folder(path: &Path) {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(folder) = File::open(folder) {
        let _ = folder.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauthctl.prom");
        replace(&path, "a 1\n").unwrap();
        replace(&path, "a 2\n").unwrap();
        assert_eq!(read(&path).as_deref(), Some("a 2\n"));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("oauthctl.prom")]);
    }

    #[test]
    fn a_missing_folder_is_an_error_that_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-folder").join("oauthctl.prom");
        let error = replace(&path, "a 1\n").unwrap_err();
        assert!(format!("{error:#}").contains("no-such-folder"), "{error:#}");
        assert_eq!(read(&path), None);
    }

    #[test]
    fn the_temporary_file_is_hidden_beside_the_target() {
        let temp = temp_path(Path::new("/var/lib/node/oauthctl.prom")).unwrap();
        assert_eq!(temp.parent(), Some(Path::new("/var/lib/node")));
        let name = temp.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".oauthctl.prom.") && name.ends_with(".tmp"),
            "{name}"
        );
    }
}
