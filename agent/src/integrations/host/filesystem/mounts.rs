//! The mount table, `/proc/self/mounts`: parsing, octal escapes, and choosing which mounts to
//! report (`filesystem.exclude_mount_points`, `filesystem.exclude_fs_types`, each device and
//! mount point once).

use super::super::ParseError;
use regex::Regex;

/// One line of the mount table.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    /// Device or source, e.g. `/dev/vda`, `tmpfs`.
    pub device: String,
    /// Mount point with escapes decoded.
    pub mount_point: String,
    /// File system type.
    pub fs_type: String,
}

/// Which mounts to leave out.
#[derive(Debug, Default)]
pub struct Exclude {
    /// Matched against the mount point.
    pub mount_points: Option<Regex>,
    /// Matched against the file system type.
    pub fs_types: Option<Regex>,
}

/// Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash) in mount table fields.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) if bytes[i] == b'\\' => {
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(value as u8);
                i += 4;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a mount table (`device mountpoint type options dump pass`).
pub fn parse_mounts(text: &str) -> Result<Vec<Mount>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 3 {
            return Err(ParseError::new(i + 1, "fewer than 3 fields"));
        }
        out.push(Mount {
            device: unescape(f[0]),
            mount_point: unescape(f[1]),
            fs_type: f[2].to_string(),
        });
    }
    Ok(out)
}

/// The mounts to report: not excluded, each device and mount point once.
pub fn select(mounts: Vec<Mount>, exclude: &Exclude) -> Vec<Mount> {
    let mut out: Vec<Mount> = Vec::new();
    for m in mounts {
        let excluded = exclude
            .mount_points
            .as_ref()
            .is_some_and(|r| r.is_match(&m.mount_point))
            || exclude
                .fs_types
                .as_ref()
                .is_some_and(|r| r.is_match(&m.fs_type));
        let seen = out
            .iter()
            .any(|o| o.device == m.device && o.mount_point == m.mount_point);
        if !excluded && !seen {
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(device: &str, mount_point: &str, fs_type: &str) -> Mount {
        Mount {
            device: device.into(),
            mount_point: mount_point.into(),
            fs_type: fs_type.into(),
        }
    }

    #[test]
    fn unescapes_octal() {
        for (field, want) in [
            (r"/mnt/my\040disk", "/mnt/my disk"),
            (r"/a\011b\012c\134d", "/a\tb\nc\\d"),
            (r"/no\escape", r"/no\escape"),
            (r"/short\04", r"/short\04"),
            (r"/trailing\", r"/trailing\"),
            ("/plain", "/plain"),
        ] {
            assert_eq!(unescape(field), want, "{field}");
        }
    }

    #[test]
    fn parses() {
        let cases: &[(&str, Result<Vec<Mount>, ParseError>)] = &[
            (
                "/dev/vda / ext4 rw,relatime,discard 0 0\n\
                 /dev/sdb1 /mnt/backup\\040disk ext4 rw 0 0\n\n",
                Ok(vec![
                    mount("/dev/vda", "/", "ext4"),
                    mount("/dev/sdb1", "/mnt/backup disk", "ext4"),
                ]),
            ),
            ("", Ok(vec![])),
            (
                "/dev/vda /\n",
                Err(ParseError::new(1, "fewer than 3 fields")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_mounts(text), want, "{text:?}");
        }
    }

    #[test]
    fn selects_with_node_exporter_defaults() {
        use crate::integrations::host::{DEFAULT_EXCLUDE_FS_TYPES, DEFAULT_EXCLUDE_MOUNT_POINTS};
        let exclude = Exclude {
            mount_points: Some(Regex::new(DEFAULT_EXCLUDE_MOUNT_POINTS).unwrap()),
            fs_types: Some(Regex::new(DEFAULT_EXCLUDE_FS_TYPES).unwrap()),
        };
        let table = [
            (mount("proc", "/proc", "proc"), false),
            (mount("tmpfs", "/dev/shm", "tmpfs"), false),
            (mount("/dev/vda", "/", "ext4"), true),
            (mount("/dev/vda", "/", "ext4"), false), // the same mount twice
            (mount("/dev/vdb", "/", "xfs"), true),   // mounted over it: another device
            (mount("tmpfs", "/run", "tmpfs"), true),
            (mount("tmpfs", "/run/credentials/x.service", "tmpfs"), false),
            (mount("overlay", "/", "overlay"), true),
            (
                mount("overlay", "/var/lib/docker/overlay2/ab/merged", "overlay"),
                false,
            ),
            (mount("cgroup2", "/mnt/cgroup", "cgroup2"), false),
            (mount("/dev/loop0", "/snap/core/1", "squashfs"), false),
            (mount("/dev/vda", "/devices", "ext4"), true), // "/dev" is a prefix, not a parent
        ];
        let (mounts, kept): (Vec<Mount>, Vec<bool>) = table.iter().cloned().unzip();
        let want: Vec<Mount> = mounts
            .iter()
            .zip(kept)
            .filter(|(_, k)| *k)
            .map(|(m, _)| m.clone())
            .collect();
        assert_eq!(select(mounts, &exclude), want);
        let everything = select(vec![mount("proc", "/proc", "proc")], &Exclude::default());
        assert_eq!(everything.len(), 1);
    }
}
