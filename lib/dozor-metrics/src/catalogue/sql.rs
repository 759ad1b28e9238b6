//! The `sql` integration's own metrics: how each user-defined query ran (see
//! `agent/src/integrations/sql`).
//!
//! The metrics a query produces are named in the agent's configuration, not here: they are the
//! one kind of metric the catalogue does not list one by one. Instead it reserves their
//! namespace, [`USER_PREFIX`], which no catalogue metric may use, and the agent declares each of
//! them once at start-up as a [`crate::sample::DynamicMetric`] after checking its name, type and
//! labels. Every series below carries `sql.query`, the query's name in the configuration.

/// Prefix every user-defined metric name must start with (Prometheus name `sql_...`).
pub const USER_PREFIX: &str = "sql_";

/// What the `emitter` of a user-defined metric is.
pub const USER_EMITTER: &str = "sql";

metrics! {
    section: "Business SQL (`sql` integration)",
    emitter: "sql",
    metrics: {
        QUERY_DURATION {
            name: "dozor.sql.query.duration",
            instrument: Gauge,
            unit: "s",
            attributes: ["sql.query"],
            source: "time from sending the query to reading its last row, measured by the agent on the last real execution",
            description: "How long the last real execution of the query took.",
        },
        QUERY_EXECUTIONS {
            name: "dozor.sql.query.executions",
            instrument: Counter,
            unit: "{execution}",
            attributes: ["sql.query"],
            source: "counted by the agent: every time the query was sent to the server (not answered from the cache)",
            description: "Real executions of the query, successful or not.",
        },
        QUERY_ERRORS {
            name: "dozor.sql.query.errors",
            instrument: Counter,
            unit: "{error}",
            attributes: ["sql.query", "error.type"],
            source: "counted by the agent: executions that failed, by class (connect, auth, config, permission, syntax, column, value, read_only, timeout, query)",
            description: "Real executions of the query that failed, by error class.",
        },
        CACHE_HITS {
            name: "dozor.sql.cache.hits",
            instrument: Counter,
            unit: "{run}",
            attributes: ["sql.query"],
            source: "counted by the agent: runs within min_interval of the last execution, which re-emit its result instead of querying",
            description: "Runs answered from the cached result of the query's last execution.",
        },
        RESULT_AGE {
            name: "dozor.sql.result.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["sql.query"],
            source: "time since the execution whose result the run emitted: 0 when fresh, up to min_interval when cached",
            description: "Age of the query result the last run emitted.",
        },
        POINTS_DROPPED {
            name: "dozor.sql.points.dropped",
            instrument: Counter,
            unit: "{point}",
            attributes: ["sql.query", "reason"],
            source: "counted by the agent per execution: values beyond max_series (reason max_series), a second row with the same labels (duplicate), a NULL value (null)",
            description: "Values of user-defined metrics the query returned but the agent did not record, by reason.",
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_catalogue_metric_uses_the_user_namespace() {
        for m in crate::catalogue::all() {
            assert!(
                !m.prometheus_name().starts_with(super::USER_PREFIX),
                "{} is in the namespace reserved for user metrics",
                m.name
            );
        }
    }
}
