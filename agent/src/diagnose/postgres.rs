//! `postgresql <name>`: for each configured PostgreSQL instance, the agent's role may read
//! what the integration reads: membership of `pg_monitor` (other sessions' activity, replication,
//! `pg_stat_statements` of every user), and, with `statements` on, `pg_stat_statements` in
//! `shared_preload_libraries` and the extension created. Each problem comes with the exact SQL.

use super::collector::file;
use super::report::Outcome;
use super::{Check, Ctx, PEER_TIMEOUT};
use crate::integrations::db::pg;
use std::sync::Arc;

/// One check per enabled instance.
pub fn checks(ctx: &Arc<Ctx>) -> Vec<Check> {
    let section = &ctx.config.integrations.postgresql;
    if !section.enabled {
        return Vec::new();
    }
    (0..section.instances.len())
        .map(|i| {
            let ctx = ctx.clone();
            let name = section.instances[i].name.clone();
            Check::blocking(format!("postgresql {name}"), PEER_TIMEOUT, move |w| {
                let instance = &ctx.config.integrations.postgresql.instances[i];
                w.on(format!("PostgreSQL at {}", instance.dsn.redacted()));
                examine(&ctx, instance)
            })
        })
        .collect()
}

fn examine(
    ctx: &Ctx,
    instance: &crate::integrations::postgresql::config::InstanceConfig,
) -> Outcome {
    let shown = instance.dsn.redacted();
    let dsn = match instance.dsn.postgres() {
        Ok(d) => d,
        Err(e) => {
            return Outcome::fail(
                format!("{shown}: {e}"),
                format!("correct the dsn of {} in {}", instance.name, file(ctx)),
            );
        }
    };
    let mut config = dsn.config.clone();
    config.connect_timeout(PEER_TIMEOUT);
    let mut client = match pg::connect(&config, &dsn.tls) {
        Ok(c) => c,
        Err(e) => {
            let fix = pg::tls_problem(&e, &dsn.tls).unwrap_or_else(|| {
                "check the dsn's host, port, user and password, and pg_hba.conf for this host and user".into()
            });
            return Outcome::fail(format!("cannot connect to {shown}: {e}"), fix);
        }
    };
    let query = |client: &mut postgres::Client, sql: &str| -> Result<String, String> {
        client
            .query_one(sql, &[])
            .map(|r| r.get::<_, String>(0))
            .map_err(|e| {
                e.as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string())
            })
    };
    let facts = (|| -> Result<_, String> {
        let user = query(&mut client, "SELECT current_user::text")?;
        let db = query(&mut client, "SELECT current_database()::text")?;
        let monitor = query(
            &mut client,
            "SELECT pg_has_role(current_user, 'pg_monitor', 'member')::text",
        )? == "true";
        // Readable by superusers and pg_read_all_settings (part of pg_monitor) only.
        let statements = if monitor && instance.statements.enabled {
            let preload = query(
                &mut client,
                "SELECT current_setting('shared_preload_libraries')",
            )?;
            let created = query(
                &mut client,
                "SELECT (count(*) > 0)::text FROM pg_extension WHERE extname = 'pg_stat_statements'",
            )? == "true";
            Some((preload, created))
        } else {
            None
        };
        Ok((user, db, monitor, statements))
    })();
    pg::close(client);
    let (user, db, monitor, statements) = match facts {
        Ok(f) => f,
        Err(e) => {
            return Outcome::fail(
                format!("{shown}: {e}"),
                "check that the role may connect to this database and run SELECT",
            );
        }
    };
    if !monitor {
        return Outcome::fail(
            format!(
                "role {user} is not a member of pg_monitor: other sessions' activity, replication and statistics stay hidden"
            ),
            format!("as a superuser: GRANT pg_monitor TO \"{user}\";"),
        );
    }
    if let Some((preload, created)) = statements {
        let loaded = preload
            .split(',')
            .any(|l| l.trim().trim_matches('"') == "pg_stat_statements");
        if !loaded {
            let list = if preload.trim().is_empty() {
                "pg_stat_statements".to_string()
            } else {
                format!("{}, pg_stat_statements", preload.trim())
            };
            return Outcome::warn(
                format!(
                    "role {user} is in pg_monitor; pg_stat_statements is not in shared_preload_libraries (\"{preload}\"): no per-statement metrics"
                ),
                format!(
                    "as a superuser: ALTER SYSTEM SET shared_preload_libraries = '{list}'; then restart PostgreSQL and, in database {db}: CREATE EXTENSION IF NOT EXISTS pg_stat_statements; (or set statements.enabled: false for {})",
                    instance.name
                ),
            );
        }
        if !created {
            return Outcome::warn(
                format!(
                    "role {user} is in pg_monitor; pg_stat_statements is loaded but not created in database {db}"
                ),
                format!(
                    "as a superuser, in database {db}: CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
                ),
            );
        }
    }
    Outcome::pass(format!(
        "role {user} is in pg_monitor{}",
        if instance.statements.enabled {
            "; pg_stat_statements is loaded and created"
        } else {
            ""
        }
    ))
}
