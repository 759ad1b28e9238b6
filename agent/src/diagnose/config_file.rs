//! `config`: the configuration file loads and validates. The loading is `check-config`'s own
//! (a file with problems ends `diagnose` with exit 2 and every problem listed before any check
//! runs), so this line says which file was checked and that the secrets it names can be read.

use super::report::Outcome;
use super::{Check, Ctx};
use crate::export::secrets;
use std::sync::Arc;
use std::time::Duration;

/// The check.
pub fn check(ctx: &Arc<Ctx>) -> Check {
    let ctx = ctx.clone();
    Check::new("config", Duration::from_secs(2), move |_| async move {
        let file = ctx
            .file
            .as_deref()
            .map_or("(built-in default)".into(), |p| p.display().to_string());
        let otlp = &ctx.config.exporters.otlp;
        if let Err(e) = secrets::token(&otlp.auth) {
            return Outcome::fail(
                format!("{file}: {e:#}"),
                format!("make exporters.otlp.auth in {file} name a readable, non-empty token"),
            );
        }
        if let Err(e) = secrets::tls(&otlp.tls) {
            return Outcome::fail(
                format!("{file}: {e:#}"),
                format!("make the files of exporters.otlp.tls in {file} readable PEM files"),
            );
        }
        Outcome::pass(format!("{file} is valid"))
    })
}
