//! A throwaway nginx (the Debian package's binary) on a free loopback port, with a
//! configuration of its own in a temporary directory: its access log in a known `log_format`
//! (nginx's `combined` with ` $request_time`), fixed routes, and a slow route proxied to an
//! upstream in this process, so tests drive real HTTP traffic and read what nginx itself logged.
//!
//! Routes: `/health` 200, `/orders/<anything>` 200, `/missing/<anything>` 404, `/error` 503,
//! `/slow/<ms>` 200 after `<ms>` milliseconds (the upstream sleeps; nginx logs the wait in
//! `$request_time`).

use crate::proc::{Proc, free_port, tool, wait_for};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// The `log_format` of the access log: nginx's `combined` followed by ` $request_time`.
pub const LOG_FORMAT: &str = "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time";

/// A running nginx, stopped (SIGTERM, workers included) when dropped.
pub struct Nginx {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Its port.
    pub port: u16,
    /// The access log.
    pub log: PathBuf,
    /// Its directory (configuration, pid file, error log, temporary files).
    pub dir: tempfile::TempDir,
    proc: Proc,
}

/// Answers `GET /slow/<ms>` after `<ms>` milliseconds, one thread per connection.
fn slow_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding the slow upstream");
    let port = listener.local_addr().expect("upstream address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || answer_slowly(conn));
        }
    });
    port
}

fn answer_slowly(mut conn: TcpStream) {
    let mut head = Vec::new();
    let mut b = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut b) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let ms: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.strip_prefix("/slow/"))
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(ms));
    let _ =
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nslow\n");
}

impl Nginx {
    /// Starts nginx; a missing binary or a start failure is a loud failure with the fix.
    pub fn start() -> Nginx {
        let sbin = PathBuf::from("/usr/sbin/nginx");
        let nginx = if sbin.is_file() {
            sbin
        } else {
            tool("nginx", "nginx")
        };
        let dir = tempfile::tempdir().expect("nginx directory");
        let port = free_port();
        let upstream = slow_upstream();
        let d = dir.path().display();
        let log = dir.path().join("access.log");
        #[allow(unsafe_code)]
        // SAFETY: geteuid has no preconditions and no memory effects.
        let root = unsafe { libc::geteuid() } == 0;
        let user = if root { "user root;" } else { "" };
        let conf = format!(
            r#"{user}
daemon off;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    default_type text/plain;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format timed '{LOG_FORMAT}';
    access_log {log} timed;
    server {{
        listen 127.0.0.1:{port};
        location = /health {{ return 200 "ok\n"; }}
        location /orders/ {{ return 200 "order\n"; }}
        location /missing/ {{ return 404; }}
        location = /error {{ return 503; }}
        location /slow/ {{ proxy_pass http://127.0.0.1:{upstream}; }}
    }}
}}
"#,
            log = log.display(),
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("writing nginx.conf");
        let proc = Proc::spawn(
            "nginx",
            dir.path(),
            std::process::Command::new(nginx)
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&conf_path),
        );
        let addr = format!("127.0.0.1:{port}");
        let mut n = Nginx {
            addr: addr.clone(),
            port,
            log,
            dir,
            proc,
        };
        let up = wait_for(Duration::from_secs(10), || {
            if let Ok(Some(status)) = n.proc.child.try_wait() {
                panic!("nginx exited ({status}): {}{}", n.proc.output(), n.errors());
            }
            TcpStream::connect(&addr).ok()
        });
        assert!(
            up.is_some(),
            "nginx did not listen on {addr}: {}",
            n.errors()
        );
        n
    }

    /// nginx's error log so far.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// One request, HTTP/1.0 (nginx logs it when it answers); returns the status.
    pub fn get(&self, path: &str) -> u16 {
        crate::http::http_get(&self.addr, path)
            .unwrap_or_else(|e| panic!("GET {path} from nginx: {e}"))
            .0
    }

    /// Makes nginx reopen its log files (SIGUSR1, as logrotate's postrotate does) and waits
    /// until the access log exists again.
    pub fn reopen(&self) {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) with our child's pid and a valid signal number.
        unsafe {
            libc::kill(self.proc.child.id() as libc::pid_t, libc::SIGUSR1);
        }
        let back = wait_for(Duration::from_secs(10), || self.log.exists().then_some(()));
        assert!(
            back.is_some(),
            "nginx did not reopen {}: {}",
            self.log.display(),
            self.errors()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers before it exits (SIGKILL would orphan them).
        self.proc.terminate(Duration::from_secs(10));
    }
}
