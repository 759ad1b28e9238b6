//! Whole loads: every problem at once, located at `file:line:column` with its key path.

mod common;

use std::time::Duration as Std;

use common::{Config, load, problems};

#[test]
fn reports_an_unknown_key_a_bad_duration_and_an_unset_variable_together() {
    let text = "\
integrations:
  host:
    interval: 15x
    intervall: 10s
exporters:
  otlp:
    endpoints: [http://a:4317]
    token: ${TOKEN:?set TOKEN to the collector's token}
    timeout: 5s
";
    let error = load::<Config>(text).unwrap_err();
    assert_eq!(error.problems.len(), 3);
    let got: Vec<_> = error
        .problems
        .iter()
        .map(|p| (p.line, p.column, p.path.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (3, 15, "integrations.host.interval"),
            (4, 5, "integrations.host.intervall"),
            (8, 12, "exporters.otlp.token"),
        ]
    );
    assert_eq!(
        error.to_string(),
        "\
agent.yaml:3:15: integrations.host.interval: invalid duration \"15x\": unknown unit \"x\" (use ms, s, m, h, d)
agent.yaml:4:5: integrations.host.intervall: unknown key \"intervall\"
agent.yaml:8:12: exporters.otlp.token: set TOKEN to the collector's token"
    );
}

#[test]
fn loads_a_valid_file() {
    let text = "\
integrations:
  host:
    interval: 30s
  postgres:
    instances:
      - dsn: postgres://db/app
        port: 5432
        interval: 1m
exporters:
  otlp:
    endpoints: [${COLLECTOR}]
    token: ${EMPTY}
    timeout: 5s
";
    let config = load::<Config>(text).unwrap();
    assert_eq!(config.integrations.host.interval.0, Std::from_secs(30));
    let instance = &config.integrations.postgres.unwrap().instances[0];
    assert_eq!(instance.dsn, "postgres://db/app");
    assert_eq!(instance.port, Some(5432));
    assert_eq!(instance.interval.map(|d| d.0), Some(Std::from_secs(60)));
    let otlp = config.exporters.otlp.unwrap();
    assert_eq!(otlp.endpoints, ["http://collector:4317"]);
    assert_eq!(otlp.token, None, "an empty value is null");
}

#[test]
fn substitutes_defaults_and_escapes_dollars() {
    let text = "\
exporters:
  otlp:
    endpoints:
      - ${COLLECTOR:-http://localhost:4317}
      - ${NOPE:-http://localhost:4317}
      - \"http://b/$$x\"
    timeout: ${EMPTY:-5s}
";
    let config = load::<Config>(text).unwrap();
    let otlp = config.exporters.otlp.unwrap();
    assert_eq!(
        otlp.endpoints,
        [
            "http://collector:4317",
            "http://localhost:4317",
            "http://b/$x"
        ]
    );
    assert_eq!(otlp.timeout.0, Std::from_secs(5));
}

#[test]
fn locates_keys_inside_sequences() {
    let text = "\
integrations:
  postgres:
    instances:
      - dsn: a
      - dsn: b
        dsnn: c
        interval: 1h2
";
    assert_eq!(
        problems::<Config>(text),
        [
            "agent.yaml:6:9: integrations.postgres.instances[1].dsnn: unknown key \"dsnn\"",
            "agent.yaml:7:19: integrations.postgres.instances[1].interval: invalid duration \"1h2\": missing unit (use ms, s, m, h, d)",
        ]
    );
}

#[test]
fn parses_durations_or_locates_the_bad_ones() {
    let ok = [
        ("15s", Std::from_secs(15)),
        ("1m30s", Std::from_secs(90)),
        ("500ms", Std::from_millis(500)),
        ("0s", Std::ZERO),
        ("2h", Std::from_secs(7_200)),
        ("1d", Std::from_secs(86_400)),
        ("\"1m30s\"", Std::from_secs(90)),
    ];
    for (text, want) in ok {
        let yaml = format!("integrations:\n  host:\n    interval: {text}\n");
        let config = load::<Config>(&yaml).unwrap();
        assert_eq!(config.integrations.host.interval.0, want, "{text}");
    }
    let bad = [
        (
            "15x",
            "invalid duration \"15x\": unknown unit \"x\" (use ms, s, m, h, d)",
        ),
        (
            "15",
            "invalid duration \"15\": missing unit (use ms, s, m, h, d)",
        ),
        (
            "1.5s",
            "invalid duration \"1.5s\": unknown unit \".\" (use ms, s, m, h, d)",
        ),
        (
            "-1s",
            "invalid duration \"-1s\": expected a number at \"-\" (write e.g. \"1m30s\")",
        ),
        (
            "30s1m",
            "invalid duration \"30s1m\": units must go from largest to smallest, each once (e.g. \"1h30m\")",
        ),
        ("\"\"", "invalid duration \"\": empty (write e.g. \"15s\")"),
    ];
    for (text, message) in bad {
        let yaml = format!("integrations:\n  host:\n    interval: {text}\n");
        assert_eq!(
            problems::<Config>(&yaml),
            [format!(
                "agent.yaml:3:15: integrations.host.interval: {message}"
            )],
            "{text}"
        );
    }
}

#[test]
fn locates_an_invalid_regex() {
    let text = "integrations:\n  host:\n    interfaces: \"eth(\"\n";
    assert_eq!(
        problems::<Config>(text),
        [
            "agent.yaml:3:17: integrations.host.interfaces: invalid regular expression \"eth(\": unclosed group"
        ]
    );
    let text = "integrations:\n  host:\n    interfaces: ^eth[0-9]+$\n";
    let config = load::<Config>(text).unwrap();
    assert!(
        config
            .integrations
            .host
            .interfaces
            .unwrap()
            .0
            .is_match("eth0")
    );
}

#[test]
fn locates_validator_problems_at_their_key_or_nearest_parent() {
    let text = "exporters:\n  otlp:\n    endpoints: [a, b, a]\n    timeout: 1s\n";
    assert_eq!(
        problems::<Config>(text),
        ["agent.yaml:3:23: exporters.otlp.endpoints[2]: duplicate endpoint"]
    );
    // `endpoints` is absent: its parent `otlp` is the nearest key in the file.
    let text = "exporters:\n  otlp:\n    timeout: 1s\n";
    assert_eq!(
        problems::<Config>(text),
        ["agent.yaml:2:3: exporters.otlp.endpoints: at least one endpoint is required"]
    );
    // A bad duration is not also reported as the zero placeholder the validator sees.
    let text = "exporters:\n  otlp:\n    endpoints: [a]\n    timeout: 5x\n";
    assert_eq!(
        problems::<Config>(text),
        [
            "agent.yaml:4:14: exporters.otlp.timeout: invalid duration \"5x\": unknown unit \"x\" (use ms, s, m, h, d)"
        ]
    );
}

#[test]
fn locates_yaml_syntax_errors_and_keeps_earlier_problems() {
    let text = "zz: ${NOPE}\nintegrations:\n  host:\n    interval: \"1s\n";
    assert_eq!(
        problems::<Config>(text),
        [
            "agent.yaml:1:1: zz: unknown key \"zz\"",
            "agent.yaml:1:5: zz: environment variable NOPE is not set",
            "agent.yaml:4:15: unclosed quote",
        ]
    );
}

#[test]
fn a_type_error_stops_the_load_but_keeps_what_came_before() {
    let text = "\
integrations:
  postgres:
    instances:
      - dsn: a
        zz: 1
        port: abc
      - dsn: b
        yy: 2
";
    assert_eq!(
        problems::<Config>(text),
        [
            "agent.yaml:5:9: integrations.postgres.instances[0].zz: unknown key \"zz\"",
            "agent.yaml:6:15: integrations.postgres.instances[0].port: invalid u16",
        ]
    );
    let text = "integrations:\n  postgres:\n    instances:\n      - port: 1\n";
    assert_eq!(
        problems::<Config>(text),
        ["agent.yaml:4:9: integrations.postgres.instances[0]: missing field `dsn`"]
    );
}

#[test]
fn a_failed_substitution_hides_its_consequences_only() {
    // The placeholder for a failed `${...}` is `""`: a string or leaf value carries on (its own
    // complaint about `""` is dropped), a number stops the load (its complaint is dropped too).
    let text = "\
zz: ${NOPE}
integrations:
  host:
    interval: ${NOPE}
  postgres:
    instances:
      - dsn: ${DSN:?set DSN}
        port: ${PORT}
      - dsn: x
        yy: 1
";
    assert_eq!(
        problems::<Config>(text),
        [
            "agent.yaml:1:1: zz: unknown key \"zz\"",
            "agent.yaml:1:5: zz: environment variable NOPE is not set",
            "agent.yaml:4:15: integrations.host.interval: environment variable NOPE is not set",
            "agent.yaml:7:14: integrations.postgres.instances[0].dsn: set DSN",
            "agent.yaml:8:15: integrations.postgres.instances[0].port: environment variable PORT is not set",
        ]
    );
}

#[test]
fn never_shows_substituted_values() {
    let text = "\
integrations:
  postgres:
    instances:
      - dsn: a
        interval: ${SECRET_PORT}
exporters:
  otlp:
    endpoints: [a]
    timeout: x${SECRET_PORT}
";
    let shown = problems::<Config>(text).join("\n");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("instances[0].interval: invalid duration \"***\""),
        "{shown}"
    );
    let text = "integrations:\n  postgres:\n    instances:\n      - dsn: a\n        port: ${SECRET_PORT}\n";
    let shown = problems::<Config>(text).join("\n");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[test]
fn an_empty_file_reads_as_an_empty_mapping() {
    for text in ["", "\n", "# only comments\n  # ${NOPE}\n"] {
        let config = load::<Config>(text).unwrap();
        assert!(config.exporters.otlp.is_none(), "{text:?}");
    }
    assert_eq!(
        problems::<Required>(""),
        ["agent.yaml: missing field `name`"]
    );
}

#[test]
fn refuses_oversize_input() {
    let limit = 1024 * 1024;
    let fits = format!("#{}\n", "x".repeat(limit - 2));
    assert!(load::<Config>(&fits).is_ok());
    let text = format!("#{}\n", "x".repeat(limit));
    assert_eq!(
        problems::<Config>(&text),
        ["agent.yaml: the file is 1048578 bytes, more than the limit of 1048576 bytes (1 MiB)"]
    );
}

#[test]
fn bounds_hostile_input() {
    let deep = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let last = load::<Config>(&deep).unwrap_err().problems.pop().unwrap();
    assert_eq!(
        (last.line, last.message.as_str()),
        (1, "recursion limit exceeded")
    );

    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let previous = if i == 1 {
            "a".to_owned()
        } else {
            format!("b{}", i - 1)
        };
        let items = vec![format!("*{previous}"); 10].join(", ");
        bomb.push_str(&format!("b{i}: &b{i} [{items}]\n"));
    }
    let last = load::<Config>(&bomb).unwrap_err().problems.pop().unwrap();
    assert!(
        last.message
            .starts_with("YAML document too large or too complex: limits breached"),
        "{last}"
    );
}

#[test]
fn deny_unknown_fields_still_gives_a_located_problem() {
    assert_eq!(
        problems::<Strict>("a: 1\nc: 2\nd: 3\n"),
        ["agent.yaml:2:1: c: unknown field `c`, expected one of a, b"]
    );
}

#[test]
fn locates_duplicate_keys_and_keys_reached_through_aliases() {
    assert_eq!(
        problems::<Required>("name: a\nname: b\n"),
        ["agent.yaml:2:1: name: duplicate mapping key `name` is not allowed here"]
    );
    let text = "integrations: &h\n  host: {interval: 1s}\nexporters: *h\n";
    assert_eq!(
        problems::<Config>(text),
        ["agent.yaml:3:1: exporters.host: unknown key \"host\""]
    );
}

#[test]
fn loads_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, "integrations:\n  host:\n    interval: 1m\n").unwrap();
    let config = dozor_config::load::<Config>(&path).unwrap();
    assert_eq!(config.integrations.host.interval.0, Std::from_secs(60));

    std::fs::write(&path, "zz: 1\n").unwrap();
    let error = dozor_config::load::<Config>(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{}:1:1: zz: unknown key \"zz\"", path.display())
    );

    std::fs::write(&path, vec![b'#'; 1024 * 1024 + 1]).unwrap();
    let error = dozor_config::load::<Config>(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the file is larger than the limit of 1048576 bytes (1 MiB)",
            path.display()
        )
    );

    let missing = dir.path().join("missing.yaml");
    let error = dozor_config::load::<Config>(&missing).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: cannot open: ", missing.display())),
        "{error}"
    );
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    #[allow(dead_code)]
    a: u16,
    #[allow(dead_code)]
    b: Option<String>,
}

impl dozor_config::Validate for Strict {}

#[derive(Debug, serde::Deserialize)]
struct Required {
    #[allow(dead_code)]
    name: String,
}

impl dozor_config::Validate for Required {}
