//! What the database integrations (`postgresql`, `mysql`, `sql`, `flow`) share: one DSN type
//! ([`Dsn`]) with parsing and redaction, TLS ([`tls`]), opening connections ([`pg`], [`my`]),
//! result sets as text, and the replication heartbeats waiting to be applied ([`pending`]).

// Without a database client (the `kafka` integration alone), only `tls` is needed.
#[cfg(any(feature = "pg", feature = "my"))]
mod dsn;
#[cfg(feature = "my")]
pub mod my;
#[cfg(any(feature = "pg", feature = "my"))]
pub mod pending;
#[cfg(feature = "pg")]
pub mod pg;
#[cfg(test)]
pub mod testing;
pub mod tls;

#[cfg(any(feature = "pg", feature = "my"))]
pub use dsn::{Dsn, Target, check};

/// A result set as text: column names and rows of values (`None` for NULL).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The value of `column` (any of the names given, first match) in row `row`.
    pub fn get(&self, row: usize, names: &[&str]) -> Option<&str> {
        let i = self
            .columns
            .iter()
            .position(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)))?;
        self.rows.get(row)?.get(i)?.as_deref()
    }
}
