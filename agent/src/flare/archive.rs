//! The flare's archive: one `.tar.gz` (mode 0600: it describes the infrastructure) whose files
//! sit under one directory named like the archive.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Writes `files` (name, contents) under `dir/` into a new archive at `path`.
pub fn write(path: &Path, dir: &str, files: &[(String, Vec<u8>)]) -> std::io::Result<u64> {
    let file = create_private(path)?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(now);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{dir}/{name}"), data.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    let file = gz.finish()?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.tar.gz");
        let files = vec![
            ("a.txt".to_string(), b"alpha".to_vec()),
            ("MANIFEST".to_string(), b"m".to_vec()),
        ];
        let size = super::write(&path, "flare", &files).unwrap();
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(
            std::fs::File::open(&path).unwrap(),
        ));
        let mut names = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            names.push(e.path().unwrap().display().to_string());
        }
        assert_eq!(names, ["flare/a.txt", "flare/MANIFEST"]);
    }
}
