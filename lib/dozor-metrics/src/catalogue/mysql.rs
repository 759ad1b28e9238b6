//! The `mysql` integration's metrics, read from MySQL and MariaDB servers with `SHOW GLOBAL
//! STATUS`, `SHOW GLOBAL VARIABLES` and `SHOW REPLICA STATUS`, plus a heartbeat table the agent
//! writes on the primary (one connection per instance, see `agent/src/integrations/mysql`).
//!
//! Names follow the OpenTelemetry Collector contrib `mysqlreceiver` where it has the same
//! measurement (`mysql.commands`, `mysql.threads`, `mysql.buffer_pool.*`, `mysql.connection.*`,
//! `mysql.query.*`, `mysql.replica.*`), otherwise `dozor.mysql.*`. Every series carries
//! `mysql.instance`, the name the instance has in the agent's configuration. Cumulative status
//! variables are counters, so queries per second is one rate:
//! `rate(mysql_query_client_count_total[5m])` (statements sent by clients, `Questions`).
//! The buffer pool hit ratio is
//! `1 - rate(...{operation="reads"}[5m]) / rate(...{operation="read_requests"}[5m])`.

metrics! {
    section: "MySQL and MariaDB (`mysql` integration)",
    emitter: "mysql",
    metrics: {
        UP {
            name: "dozor.mysql.up",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["mysql.instance"],
            source: "1 when the last collection connected and read SHOW GLOBAL STATUS, 0 when the server was unreachable or refused the agent",
            description: "Whether the agent could connect to the instance and query it (1) or not (0).",
        },
        UPTIME {
            name: "mysql.uptime",
            instrument: Counter,
            unit: "s",
            attributes: ["mysql.instance"],
            source: "SHOW GLOBAL STATUS Uptime",
            description: "Seconds since the server started.",
        },
        QUERY_CLIENT_COUNT {
            name: "mysql.query.client.count",
            instrument: Counter,
            unit: "{query}",
            attributes: ["mysql.instance"],
            source: "SHOW GLOBAL STATUS Questions",
            description: "Statements sent to the server by clients (not those run inside stored programs).",
        },
        QUERY_COUNT {
            name: "mysql.query.count",
            instrument: Counter,
            unit: "{query}",
            attributes: ["mysql.instance"],
            source: "SHOW GLOBAL STATUS Queries",
            description: "Statements executed by the server, including those run inside stored programs.",
        },
        QUERY_SLOW_COUNT {
            name: "mysql.query.slow.count",
            instrument: Counter,
            unit: "{query}",
            attributes: ["mysql.instance"],
            source: "SHOW GLOBAL STATUS Slow_queries (statements that took longer than long_query_time)",
            description: "Statements that took longer than long_query_time.",
        },
        COMMANDS {
            name: "mysql.commands",
            instrument: Counter,
            unit: "{command}",
            attributes: ["mysql.instance", "command"],
            source: "SHOW GLOBAL STATUS Com_<command>: select, insert, insert_select, update, update_multi, delete, delete_multi, replace, replace_select, load, begin, commit, rollback, call_procedure, stmt_execute, plus the instance's configured commands",
            description: "Times each type of statement was executed.",
        },
        THREADS {
            name: "mysql.threads",
            instrument: UpDownCounter,
            unit: "{thread}",
            attributes: ["mysql.instance", "kind"],
            source: "SHOW GLOBAL STATUS Threads_connected, Threads_running, Threads_cached as kind connected, running, cached",
            description: "Client threads connected, running a statement, and cached for reuse.",
        },
        CONNECTION_COUNT {
            name: "mysql.connection.count",
            instrument: Counter,
            unit: "{connection}",
            attributes: ["mysql.instance"],
            source: "SHOW GLOBAL STATUS Connections",
            description: "Connection attempts to the server, successful or not.",
        },
        CONNECTION_ERRORS {
            name: "mysql.connection.errors",
            instrument: Counter,
            unit: "{error}",
            attributes: ["mysql.instance", "error"],
            source: "SHOW GLOBAL STATUS Aborted_connects (error=aborted), Aborted_clients (aborted_clients), Connection_errors_accept, _internal, _max_connections, _peer_address, _select, _tcpwrap",
            description: "Failed connection attempts and connections aborted without being closed properly, by cause.",
        },
        CONNECTION_MAX {
            name: "dozor.mysql.connection.max",
            instrument: Gauge,
            unit: "{connection}",
            attributes: ["mysql.instance"],
            source: "SHOW GLOBAL VARIABLES max_connections, re-read every 5 minutes and on reconnect",
            description: "Configured maximum number of client connections.",
        },
        CONNECTION_MAX_USED {
            name: "dozor.mysql.connection.max_used",
            instrument: Gauge,
            unit: "{connection}",
            attributes: ["mysql.instance"],
            source: "SHOW GLOBAL STATUS Max_used_connections",
            description: "Most client connections open at once since the server started.",
        },
        BUFFER_POOL_OPERATIONS {
            name: "mysql.buffer_pool.operations",
            instrument: Counter,
            unit: "{operation}",
            attributes: ["mysql.instance", "operation"],
            source: "SHOW GLOBAL STATUS Innodb_buffer_pool_<operation>: read_requests (logical reads), reads (reads the pool could not satisfy, from disk), read_ahead, read_ahead_rnd, read_ahead_evicted, wait_free, write_requests",
            description: "Operations on the InnoDB buffer pool.",
        },
        BUFFER_POOL_PAGES {
            name: "mysql.buffer_pool.pages",
            instrument: UpDownCounter,
            unit: "{page}",
            attributes: ["mysql.instance", "kind"],
            source: "SHOW GLOBAL STATUS Innodb_buffer_pool_pages_data, _free, _misc as kind data, free, misc",
            description: "Pages in the InnoDB buffer pool holding data, free, and used for other purposes.",
        },
        REPLICA_TIME_BEHIND_SOURCE {
            name: "mysql.replica.time_behind_source",
            instrument: Gauge,
            unit: "s",
            attributes: ["mysql.instance"],
            source: "SHOW REPLICA STATUS Seconds_Behind_Master (Seconds_Behind_Source on MySQL); not recorded when NULL (a replication thread stopped)",
            description: "How late the replica's SQL thread is, as the server reports it.",
        },
        REPLICA_SQL_DELAY {
            name: "mysql.replica.sql_delay",
            instrument: Gauge,
            unit: "s",
            attributes: ["mysql.instance"],
            source: "SHOW REPLICA STATUS SQL_Delay (MASTER_DELAY of CHANGE MASTER TO)",
            description: "Delay the replica is configured to keep behind its source.",
        },
        REPLICA_RUNNING {
            name: "dozor.mysql.replica.running",
            instrument: Gauge,
            unit: "{status}",
            attributes: ["mysql.instance", "thread"],
            source: "SHOW REPLICA STATUS Slave_IO_Running (thread=io) and Slave_SQL_Running (thread=sql): 1 for Yes, 0 for No or Connecting; Replica_* on MySQL",
            description: "Whether each replication thread of a replica runs (1) or not (0).",
        },
        REPLICA_LAST_ERRNO {
            name: "dozor.mysql.replica.last_errno",
            instrument: Gauge,
            unit: "{errno}",
            attributes: ["mysql.instance", "thread"],
            source: "SHOW REPLICA STATUS Last_IO_Errno (thread=io) and Last_SQL_Errno (thread=sql); 0 when there is none",
            description: "Error number of the last error that stopped each replication thread.",
        },
        HEARTBEAT_DELAY {
            name: "dozor.mysql.replica.heartbeat.delay",
            instrument: Gauge,
            unit: "s",
            attributes: ["mysql.instance"],
            source: "replica: age, on the agent's clock, of the oldest heartbeat the agent wrote on the primary (heartbeat.primary_dsn) that the replica has not applied, 0 when all are applied (kept in the agent's state directory across restarts); without heartbeat.primary_dsn, NOW(6) - the newest timestamp in the heartbeat table",
            description: "Replication delay measured with heartbeat rows the agent writes on the primary; keeps growing while replication is broken and stays true when the primary is idle.",
        },
    }
}
