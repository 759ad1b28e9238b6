//! The `postgresql` integration's metrics, read with SQL from the statistics views of each
//! configured instance (one connection per instance, see `agent/src/integrations/postgresql`).
//!
//! Names follow the OpenTelemetry Collector contrib `postgresqlreceiver` where it has the same
//! measurement (`postgresql.commits`, `postgresql.tup_*`, `postgresql.blks_*`, `postgresql.wal.lag`,
//! `postgresql.replication.data_delay`, ...), otherwise `dozor.postgresql.*`. Every series carries
//! `postgresql.instance`, the name the instance has in the agent's configuration.
//! `postgresql.replication.data_delay` adds `operation` (write, flush, replay) to the contrib
//! definition, which has replay only: select `operation="replay"` for the contrib meaning.
//!
//! Database QPS (transactions per second) is one rate over two counters:
//! `sum by (postgresql_instance) (rate({__name__=~"postgresql_(commits|rollbacks)_total"}[5m]))`.

metrics! {
    section: "PostgreSQL (`postgresql` integration)",
    emitter: "postgresql",
    metrics: {
        UP {
            name: "dozor.postgresql.up",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["postgresql.instance"],
            source: "1 when the last collection connected and ran its queries, 0 when the server was unreachable or refused the agent",
            description: "Whether the agent could connect to the instance and query it (1) or not (0).",
        },
        IN_RECOVERY {
            name: "dozor.postgresql.in_recovery",
            instrument: Gauge,
            unit: "{state}",
            attributes: ["postgresql.instance"],
            source: "pg_is_in_recovery()",
            description: "1 on a replica (in recovery), 0 on a primary.",
        },
        BACKENDS {
            name: "postgresql.backends",
            instrument: UpDownCounter,
            unit: "{connection}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.numbackends",
            description: "Backends connected to each database.",
        },
        COMMITS {
            name: "postgresql.commits",
            instrument: Counter,
            unit: "{transaction}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.xact_commit",
            description: "Transactions committed in each database.",
        },
        ROLLBACKS {
            name: "postgresql.rollbacks",
            instrument: Counter,
            unit: "{transaction}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.xact_rollback",
            description: "Transactions rolled back in each database.",
        },
        TUP_RETURNED {
            name: "postgresql.tup_returned",
            instrument: Counter,
            unit: "{tuple}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.tup_returned",
            description: "Rows returned by queries (live rows scanned) in each database.",
        },
        TUP_FETCHED {
            name: "postgresql.tup_fetched",
            instrument: Counter,
            unit: "{tuple}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.tup_fetched",
            description: "Rows fetched by queries (through index scans) in each database.",
        },
        TUP_INSERTED {
            name: "postgresql.tup_inserted",
            instrument: Counter,
            unit: "{tuple}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.tup_inserted",
            description: "Rows inserted by queries in each database.",
        },
        TUP_UPDATED {
            name: "postgresql.tup_updated",
            instrument: Counter,
            unit: "{tuple}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.tup_updated",
            description: "Rows updated by queries in each database.",
        },
        TUP_DELETED {
            name: "postgresql.tup_deleted",
            instrument: Counter,
            unit: "{tuple}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.tup_deleted",
            description: "Rows deleted by queries in each database.",
        },
        BLKS_READ {
            name: "postgresql.blks_read",
            instrument: Counter,
            unit: "{block}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.blks_read",
            description: "Disk blocks read into shared buffers (not found in the buffer cache) in each database.",
        },
        BLKS_HIT {
            name: "postgresql.blks_hit",
            instrument: Counter,
            unit: "{block}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.blks_hit",
            description: "Disk blocks found already in the buffer cache in each database.",
        },
        DEADLOCKS {
            name: "postgresql.deadlocks",
            instrument: Counter,
            unit: "{deadlock}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.deadlocks",
            description: "Deadlocks detected in each database.",
        },
        TEMP_FILES {
            name: "postgresql.temp_files",
            instrument: Counter,
            unit: "{temp_file}",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.temp_files",
            description: "Temporary files created by queries in each database.",
        },
        TEMP_IO {
            name: "postgresql.temp.io",
            instrument: Counter,
            unit: "By",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_stat_database.temp_bytes",
            description: "Bytes written to temporary files by queries in each database.",
        },
        CONFLICTS {
            name: "postgresql.query.conflicts",
            instrument: Counter,
            unit: "{query}",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.conflict.type"
            ],
            source: "pg_stat_database_conflicts.confl_{tablespace,lock,snapshot,bufferpin,deadlock} (non-zero on replicas only)",
            description: "Queries cancelled on a replica because of conflicts with recovery, by conflict type.",
        },
        DB_SIZE {
            name: "postgresql.db_size",
            instrument: UpDownCounter,
            unit: "By",
            attributes: ["postgresql.instance", "postgresql.database.name"],
            source: "pg_database_size(oid), for databases the role may connect to or with pg_read_all_stats; read at most once a minute",
            description: "Disk space used by each database.",
        },
        DATABASES {
            name: "dozor.postgresql.databases",
            instrument: UpDownCounter,
            unit: "{database}",
            attributes: ["postgresql.instance"],
            source: "count of pg_stat_database rows with a database, including those folded into postgresql.database.name=\"other\" beyond max_databases",
            description: "Databases on the instance.",
        },
        CONNECTIONS {
            name: "dozor.postgresql.connections",
            instrument: UpDownCounter,
            unit: "{connection}",
            attributes: [
                "postgresql.instance",
                "postgresql.connection.state",
                "postgresql.wait_event.type"
            ],
            source: "pg_stat_activity client backends grouped by state and wait_event_type (\"none\" when not waiting)",
            description: "Client connections by state and by the type of event they wait on.",
        },
        CONNECTION_MAX {
            name: "postgresql.connection.max",
            instrument: Gauge,
            unit: "{connection}",
            attributes: ["postgresql.instance"],
            source: "current_setting('max_connections')",
            description: "Configured maximum number of connections.",
        },
        OLDEST_TRANSACTION_AGE {
            name: "dozor.postgresql.oldest_transaction.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["postgresql.instance"],
            source: "pg_stat_activity: now() - min(xact_start) over client backends other than the agent's own; 0 when none is open",
            description: "Age of the oldest open transaction.",
        },
        OLDEST_QUERY_AGE {
            name: "dozor.postgresql.oldest_query.age",
            instrument: Gauge,
            unit: "s",
            attributes: ["postgresql.instance"],
            source: "pg_stat_activity: now() - min(query_start) over active client backends other than the agent's own; 0 when none runs",
            description: "Age of the oldest running query.",
        },
        LOCK_WAITING_SESSIONS {
            name: "dozor.postgresql.lock.waiting_sessions",
            instrument: Gauge,
            unit: "{session}",
            attributes: ["postgresql.instance"],
            source: "pg_stat_activity rows with wait_event_type = 'Lock'",
            description: "Sessions waiting to acquire a lock.",
        },
        LOCKS {
            name: "dozor.postgresql.locks",
            instrument: Gauge,
            unit: "{lock}",
            attributes: [
                "postgresql.instance",
                "postgresql.lock.mode",
                "postgresql.lock.granted"
            ],
            source: "pg_locks grouped by mode and granted",
            description: "Locks held (granted true) and awaited (granted false), by mode.",
        },
        REPLICAS {
            name: "dozor.postgresql.replication.replicas",
            instrument: Gauge,
            unit: "{replica}",
            attributes: ["postgresql.instance"],
            source: "count of pg_stat_replication rows (WAL senders); a replica that stops is no longer counted",
            description: "Replicas streaming from this instance.",
        },
        WAL_LAG {
            name: "postgresql.wal.lag",
            instrument: Gauge,
            unit: "s",
            attributes: [
                "postgresql.instance",
                "postgresql.replica.name",
                "operation"
            ],
            source: "pg_stat_replication.{write,flush,replay}_lag; 0 when PostgreSQL reports NULL because the replica has caught up",
            description: "Time between flushing WAL locally and a replica having written, flushed or replayed it.",
        },
        DATA_DELAY {
            name: "postgresql.replication.data_delay",
            instrument: Gauge,
            unit: "By",
            attributes: [
                "postgresql.instance",
                "postgresql.replica.name",
                "operation"
            ],
            source: "pg_current_wal_lsn() - pg_stat_replication.{write,flush,replay}_lsn",
            description: "Bytes of WAL a replica has not yet written, flushed or replayed.",
        },
        WAL_POSITION {
            name: "dozor.postgresql.wal.position",
            instrument: Gauge,
            unit: "By",
            attributes: ["postgresql.instance", "operation"],
            source: "primary: pg_current_wal_lsn() as operation=insert; replica: pg_last_wal_receive_lsn() (receive) and pg_last_wal_replay_lsn() (replay)",
            description: "WAL position in bytes since the start of the WAL stream.",
        },
        REPLAY_AGE {
            name: "dozor.postgresql.replica.last_replay_age",
            instrument: Gauge,
            unit: "s",
            attributes: ["postgresql.instance"],
            source: "replica: now() - pg_last_xact_replay_timestamp(); it also grows while the primary is idle, so alert on the heartbeat delay instead",
            description: "Seconds since the commit time of the last transaction a replica replayed.",
        },
        REPLAY_PAUSED {
            name: "dozor.postgresql.replica.replay_paused",
            instrument: Gauge,
            unit: "{state}",
            attributes: ["postgresql.instance"],
            source: "replica: pg_get_wal_replay_pause_state() <> 'not paused'",
            description: "1 when WAL replay on a replica is paused.",
        },
        WAL_RECEIVER_UP {
            name: "dozor.postgresql.replica.wal_receiver.up",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["postgresql.instance"],
            source: "replica: 1 when pg_stat_wal_receiver.status = 'streaming'",
            description: "1 when a replica's WAL receiver streams from its primary, 0 when it does not.",
        },
        HEARTBEAT_DELAY {
            name: "dozor.postgresql.replica.heartbeat.delay",
            instrument: Gauge,
            unit: "s",
            attributes: ["postgresql.instance"],
            source: "replica: age, on the agent's clock, of the oldest heartbeat the agent wrote on the primary that the replica has not replayed (0 when all are replayed; kept in the agent's state directory across restarts); without heartbeat.primary_dsn, now() - the newest heartbeat timestamp in the table",
            description: "Replication delay measured with heartbeat rows the agent writes on the primary; stays true when the primary is idle.",
        },
        STATEMENT_CALLS {
            name: "dozor.postgresql.statement.calls",
            instrument: Counter,
            unit: "{call}",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.queryid"
            ],
            source: "pg_stat_statements.calls, the top statements by total time plus postgresql.queryid=\"other\" for the rest",
            description: "Times each statement was executed.",
        },
        STATEMENT_TIME {
            name: "dozor.postgresql.statement.time",
            instrument: Counter,
            unit: "s",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.queryid"
            ],
            source: "pg_stat_statements.total_exec_time (ms converted to seconds), the top statements plus \"other\"",
            description: "Time spent executing each statement.",
        },
        STATEMENT_ROWS {
            name: "dozor.postgresql.statement.rows",
            instrument: Counter,
            unit: "{row}",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.queryid"
            ],
            source: "pg_stat_statements.rows, the top statements plus \"other\"",
            description: "Rows retrieved or affected by each statement.",
        },
        TABLE_SIZE {
            name: "postgresql.table.size",
            instrument: UpDownCounter,
            unit: "By",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.table.name"
            ],
            source: "pg_total_relation_size(relid) of pg_stat_user_tables in the DSN's database, the largest max_tables tables, with table_stats on",
            description: "Disk space of each table, with its indexes and TOAST data.",
        },
        TABLE_ROWS {
            name: "postgresql.rows",
            instrument: UpDownCounter,
            unit: "{row}",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.table.name",
                "state"
            ],
            source: "pg_stat_user_tables.n_live_tup (live) and n_dead_tup (dead), with table_stats on",
            description: "Estimated live and dead rows in each table.",
        },
        TABLE_OPERATIONS {
            name: "postgresql.operations",
            instrument: Counter,
            unit: "{operation}",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.table.name",
                "operation"
            ],
            source: "pg_stat_user_tables.n_tup_ins (ins), n_tup_upd (upd), n_tup_del (del), n_tup_hot_upd (hot_upd), with table_stats on",
            description: "Rows inserted, updated, deleted and HOT-updated in each table.",
        },
        TABLE_SEQ_SCANS {
            name: "postgresql.sequential_scans",
            instrument: Counter,
            unit: "{sequential_scan}",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.table.name"
            ],
            source: "pg_stat_user_tables.seq_scan, with table_stats on",
            description: "Sequential scans started on each table.",
        },
        TABLE_INDEX_SCANS {
            name: "dozor.postgresql.table.index_scans",
            instrument: Counter,
            unit: "{scan}",
            attributes: [
                "postgresql.instance",
                "postgresql.database.name",
                "postgresql.table.name"
            ],
            source: "pg_stat_user_tables.idx_scan (all indexes of the table), with table_stats on",
            description: "Index scans started on each table, over all its indexes.",
        },
    }
}
