//! The agent's own cgroups, from `/proc/self/cgroup`: one `0::/path` line on cgroup v2, one
//! `id:controllers:path` line per hierarchy on v1 (`4:memory:/path`, `2:cpu,cpuacct:/path`),
//! where the memory and cpu paths may differ.

use super::ParseError;

/// The lines of `/proc/self/cgroup`.
#[derive(Debug, Default, PartialEq)]
pub struct SelfCgroup {
    /// The v2 path (`0::/path`).
    pub unified: Option<String>,
    /// v1 lines: controllers and path (`4:memory:/path`, `2:cpu,cpuacct:/path`).
    pub v1: Vec<(Vec<String>, String)>,
}

impl SelfCgroup {
    /// The path of a v1 controller.
    pub fn v1_path(&self, controller: &str) -> Option<&str> {
        self.v1
            .iter()
            .find(|(controllers, _)| controllers.iter().any(|c| c == controller))
            .map(|(_, path)| path.as_str())
    }
}

/// Parses `/proc/self/cgroup` (`hierarchy-id:controllers:path` per line).
pub fn parse_self(text: &str) -> Result<SelfCgroup, ParseError> {
    let mut out = SelfCgroup::default();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ParseError::new(i + 1, "not id:controllers:path"));
        };
        if id == "0" && controllers.is_empty() {
            out.unified = Some(path.to_string());
        } else {
            let list = controllers.split(',').map(str::to_string).collect();
            out.v1.push((list, path.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(controllers: &[&str], path: &str) -> (Vec<String>, String) {
        (
            controllers.iter().map(|c| c.to_string()).collect(),
            path.into(),
        )
    }

    #[test]
    fn parses() {
        let cases: &[(&str, Result<SelfCgroup, ParseError>)] = &[
            (
                "0::/system.slice/dozor-agent.service\n",
                Ok(SelfCgroup {
                    unified: Some("/system.slice/dozor-agent.service".into()),
                    v1: vec![],
                }),
            ),
            (
                // This machine: hybrid, with separate cpu and cpuacct hierarchies.
                "9:name=systemd:/\n4:memory:/process_api/f3e6\n2:cpuacct:/\n1:cpu:/\n0::/\n",
                Ok(SelfCgroup {
                    unified: Some("/".into()),
                    v1: vec![
                        v1(&["name=systemd"], "/"),
                        v1(&["memory"], "/process_api/f3e6"),
                        v1(&["cpuacct"], "/"),
                        v1(&["cpu"], "/"),
                    ],
                }),
            ),
            // A colon in the path stays in the path.
            (
                "2:cpu,cpuacct:/docker/a:b\n",
                Ok(SelfCgroup {
                    unified: None,
                    v1: vec![v1(&["cpu", "cpuacct"], "/docker/a:b")],
                }),
            ),
            (
                "garbage\n",
                Err(ParseError::new(1, "not id:controllers:path")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_self(text), want, "{text:?}");
        }
    }

    #[test]
    fn finds_combined_controllers() {
        let own = parse_self("4:memory:/m\n2:cpu,cpuacct:/c\n").unwrap();
        assert_eq!(own.v1_path("memory"), Some("/m"));
        assert_eq!(own.v1_path("cpu"), Some("/c"));
        assert_eq!(own.v1_path("cpuacct"), Some("/c"));
        assert_eq!(own.v1_path("blkio"), None);
    }
}
