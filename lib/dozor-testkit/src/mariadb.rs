//! Throwaway databases on the shared MariaDB server: 127.0.0.1:3306 over TCP (never the local
//! socket, which would skip the network path the agent takes), `root` without a password. Each
//! [`Database`] has a name unique to the process and is dropped when the value is, even when
//! the test fails.

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

/// The command that starts the shared server when it is not running.
pub const START: &str = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd";

/// The connection options of root on the shared server, over TCP.
fn opts() -> OptsBuilder {
    OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(3306)
        .user(Some("root"))
        .prefer_socket(false)
}

/// A root connection to the shared server, without a default database; an unreachable server
/// is a panic that names [`START`].
pub fn root() -> Conn {
    connect(opts())
}

fn connect(opts: OptsBuilder) -> Conn {
    Conn::new(opts).unwrap_or_else(|e| {
        panic!("MariaDB on 127.0.0.1:3306 (root, no password) is not reachable ({e}); start it: {START}")
    })
}

/// An empty database of the caller's on the shared server, dropped on drop.
#[derive(Debug)]
pub struct Database {
    name: String,
}

impl Database {
    /// Creates `<prefix>_<pid>_<n>` (see [`crate::unique`]), dropping a leftover of that name
    /// first (a crashed run whose process id came round again).
    pub fn create(prefix: &str) -> Database {
        let name = crate::database_name(prefix);
        let sql = format!("DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}");
        root()
            .query_drop(&sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        Database { name }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `mysql://root@127.0.0.1:3306/<name>`.
    pub fn url(&self) -> String {
        self.url_with("mysql")
    }

    /// [`Database::url`] with another scheme, such as `mariadb`.
    pub fn url_with(&self, scheme: &str) -> String {
        format!("{scheme}://root@127.0.0.1:3306/{}", self.name)
    }

    /// A new root connection with this database as its default.
    pub fn conn(&self) -> Conn {
        connect(opts().db_name(Some(&self.name)))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Never a panic here: this may run while unwinding from a failed assertion.
        let sql = format!("DROP DATABASE IF EXISTS {}", self.name);
        let result = Conn::new(opts()).and_then(|mut c| c.query_drop(&sql));
        if let Err(e) = result {
            eprintln!("dozor-testkit: {sql} failed, the database is left behind: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_at_once_are_distinct_reachable_and_dropped() {
        let (a, b) = (Database::create("dozor_kit"), Database::create("dozor_kit"));
        assert_ne!(a.name(), b.name());
        let current: Option<String> = a.conn().query_first("SELECT DATABASE()").unwrap();
        assert_eq!(current.as_deref(), Some(a.name()));
        let current: Option<String> = Conn::new(mysql::Opts::from_url(&a.url()).unwrap())
            .expect("connecting by URL")
            .query_first("SELECT DATABASE()")
            .unwrap();
        assert_eq!(current.as_deref(), Some(a.name()));
        b.conn().query_drop("CREATE TABLE t (x INT)").unwrap();
        let names = [a.name().to_string(), b.name().to_string()];
        drop((a, b));
        for name in &names {
            let left: Option<String> = root()
                .exec_first(
                    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                    (name,),
                )
                .unwrap();
            assert_eq!(left, None, "{name} left behind");
        }
    }
}
