//! A terminal program driven in a real pseudo-terminal: a tmux server of the test's own (its
//! own socket), one session named `top`, killed when dropped. For `top`'s tests.

use crate::proc::tool;
use std::process::Command;

/// A tmux server with one session running a shell command.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `shell` (run by `sh -c`) in a detached session of `width` × `height` cells;
    /// `name` keeps the sockets of concurrent tests apart.
    pub fn start(name: &str, width: u16, height: u16, shell: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("dozor-{name}-{}", std::process::id()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            shell,
        ]);
        tmux
    }

    /// Runs a tmux command against this server; its standard output.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new(tool("tmux", "tmux"))
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the session's screen shows now.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    /// Types `keys` (tmux key names, e.g. `"q"`, `"Enter"`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.run(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
