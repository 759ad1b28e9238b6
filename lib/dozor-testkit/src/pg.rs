//! Throwaway databases on the shared PostgreSQL server: 127.0.0.1:5432, trust authentication,
//! superuser `postgres`. Each [`Database`] has a name unique to the process, and is dropped with
//! `DROP DATABASE .. WITH (FORCE)` when the value is, even when the test fails.
//!
//! Creating and dropping run on a thread of their own, so they work from `#[tokio::test]` too
//! (the blocking `postgres` client starts a runtime of its own, which is refused inside
//! another). Connections the caller opens with [`admin`] or [`Database::admin`] are blocking
//! clients: use them from async code inside `tokio::task::block_in_place`.

/// The shared server as its superuser, in key/value form without a database: append
/// ` dbname=..` (and other parameters) to it.
pub const SERVER: &str = "host=127.0.0.1 port=5432 user=postgres";

/// The command that starts the shared server when it is not running.
pub const START: &str = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/// A superuser connection to database `db` on the shared server; an unreachable server is a
/// panic that names [`START`].
pub fn admin(db: &str) -> postgres::Client {
    try_admin(db).unwrap_or_else(|e| {
        panic!("PostgreSQL on 127.0.0.1:5432 is not reachable ({e}); start it: {START}")
    })
}

fn try_admin(db: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(&format!("{SERVER} dbname={db}"), postgres::NoTls)
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
        let db = Database { name };
        let name = db.name.as_str();
        off_runtime(|| {
            let mut admin = admin("postgres");
            // Separate statements: a multi-statement string runs as one transaction, which
            // CREATE and DROP DATABASE refuse.
            for sql in [
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                format!("CREATE DATABASE {name}"),
            ] {
                admin
                    .batch_execute(&sql)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        });
        db
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key/value DSN as the superuser: `host=127.0.0.1 port=5432 user=postgres dbname=<name>`.
    pub fn dsn(&self) -> String {
        format!("{SERVER} dbname={}", self.name)
    }

    /// URL DSN as the superuser: `postgres://postgres@127.0.0.1:5432/<name>`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    /// A new superuser connection to it.
    pub fn admin(&self) -> postgres::Client {
        admin(&self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Never a panic here: this may run while unwinding from a failed assertion.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let result = std::thread::scope(|s| {
            s.spawn(|| try_admin("postgres").and_then(|mut c| c.batch_execute(&sql)))
                .join()
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("dozor-testkit: {sql} failed, the database is left behind: {e}")
            }
            Err(_) => eprintln!("dozor-testkit: {sql} panicked, the database is left behind"),
        }
    }
}

/// Runs `f` on a thread of its own and returns its result (re-raising its panic).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(name: &str) -> bool {
        admin("postgres")
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .expect("reading pg_database")
            .get::<_, i64>(0)
            == 1
    }

    #[test]
    fn two_at_once_are_distinct_reachable_and_dropped() {
        let (a, b) = (Database::create("dozor_kit"), Database::create("dozor_kit"));
        assert_ne!(a.name(), b.name());
        for dsn in [a.dsn(), a.url()] {
            let mut c = postgres::Client::connect(&dsn, postgres::NoTls).expect("connecting");
            let db: String = c
                .query_one("SELECT current_database()", &[])
                .unwrap()
                .get(0);
            assert_eq!(db, a.name());
        }
        // An open session does not keep it from being dropped.
        let mut open = b.admin();
        open.batch_execute("CREATE TABLE t (x int)").unwrap();
        let names = [a.name().to_string(), b.name().to_string()];
        drop((a, b));
        for name in &names {
            assert!(!exists(name), "{name} left behind");
        }
    }

    /// Creating and dropping from an async test, where the blocking client cannot start its
    /// own runtime on the test's thread.
    #[tokio::test]
    async fn create_and_drop_inside_a_runtime() {
        let db = Database::create("dozor_kit_async");
        let name = db.name().to_string();
        drop(db);
        assert!(!std::thread::scope(|s| s
            .spawn(|| exists(&name))
            .join()
            .unwrap()));
    }
}
