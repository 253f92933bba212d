//! The one piece of file IO the library owns: writing a file atomically
//! with mode 0600 (temporary file in the same directory, fsync, rename,
//! fsync of the directory). Every other step is a pure function over bytes.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

fn io(file: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        file: file.display().to_string(),
        source,
    }
}

/// Writes `bytes` to `path` atomically, readable and writable by the owner only.
/// Refuses to replace an existing file unless `overwrite`.
pub fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    if !overwrite && path.exists() {
        return Err(Error::Io {
            file: path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists; refusing to overwrite it",
            ),
        });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Argument(format!("{} names no file", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io(path))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            // Persist the rename; some file systems refuse fsync on a directory.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0600_atomically_and_refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!("fedhe-keys-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("k.sealed");
        let _ = std::fs::remove_file(&p);
        write_private(&p, b"abc", false).expect("write");
        assert_eq!(read(&p).expect("read"), b"abc");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_private(&p, b"xyz", false).is_err());
        write_private(&p, b"xyz", true).expect("overwrite");
        assert_eq!(read(&p).expect("read"), b"xyz");
        assert_eq!(
            std::fs::read_dir(&dir).expect("ls").count(),
            1,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
