//! `integrations.access_log` as the agent loads it: defaults, every format's spelling, and
//! errors that name the file, line and key.

use crate::integrations::access_log::config::FormatConfig;
use crate::integrations::access_log::json::TimeUnit;
use crate::integrations::access_log::tail::ReadFrom;
use crate::integrations::access_log::{Config, Parser};

fn load(text: &str) -> Result<Config, String> {
    crate::integrations::testing::load(text)
}

#[test]
fn every_format_and_the_defaults() {
    let c = load(
        r#"
integrations:
  access_log:
    enabled: true
    instances:
      - name: shop
        path: /var/log/nginx/access.log
        service: shop
        server_address: shop.example
        server_port: 443
      - name: crm
        path: /var/log/apache2/access.log
        service: crm
        format: apache_combined
        server_address: crm.example
        server_port: 80
        read_from: beginning
      - name: mes
        path: /var/log/nginx/mes.log
        service: mes-api
        format:
          custom: '$host:$server_port "$request" $status $request_time $upstream_response_time'
        routes:
          patterns: ["/orders/{id}"]
      - name: caddy
        path: /var/log/caddy/access.json
        service: web
        server_address: web.example
        server_port: 443
        format:
          json: {request: request.line, request_time: duration_ms, request_time_unit: ms}
"#,
    )
    .unwrap();
    let [shop, crm, mes, caddy] = &c.instances[..] else {
        panic!("four instances")
    };
    assert_eq!(shop.format, FormatConfig::NginxCombined);
    assert_eq!(
        (shop.read_from, shop.max_line_bytes, shop.max_series),
        (ReadFrom::End, 65536, 500)
    );
    assert_eq!(shop.max_bytes_per_collect, 64 << 20);
    assert_eq!(
        (crm.format.clone(), crm.read_from),
        (FormatConfig::ApacheCombined, ReadFrom::Beginning)
    );
    assert!(matches!(mes.format.parser(), Ok(Parser::Text(t)) if t.has_host && t.has_port));
    let FormatConfig::Json(j) = &caddy.format else {
        panic!("json")
    };
    assert_eq!(
        (j.request.as_deref(), j.request_time_unit),
        (Some("request.line"), TimeUnit::Ms)
    );
    assert_eq!(j.status, "status");
}

#[test]
fn errors_name_the_line_and_the_key() {
    let text = r#"integrations:
  access_log:
    enabled: true
    instances:
      - name: a
        path: /a.log
        service: a
        format: {custom: '"$request" $request_time'}
      - name: b
        path: b.log
        service: ''
        format: {custom: '$status $request_time'}
        max_line_bytes: 10
      - name: 'c/d'
        path: /c.log
        service: c
        format: {custom: '"$request" $status $request_time $whatever'}
        routes: {patterns: ["orders/{id"]}
      - name: e
        path: /e.log
        service: e
        format: {json: {stauts: code}}
        server_address: e
        server_port: 1
"#;
    let e = load(text).unwrap_err();
    for want in [
        "agent.yaml:8:9: integrations.access_log.instances[0].format: unusable format: it has no $status",
        "agent.yaml:10:9: integrations.access_log.instances[1].path: must be an absolute path",
        "agent.yaml:11:9: integrations.access_log.instances[1].service: must be set",
        "agent.yaml:12:9: integrations.access_log.instances[1].format: unusable format: it has no $request",
        "agent.yaml:13:9: integrations.access_log.instances[1].max_line_bytes: must be from 256",
        "agent.yaml:14:9: integrations.access_log.instances[2].name: must be letters, digits",
        "integrations.access_log.instances[2].server_address: must be set: the format logs no $host",
        "integrations.access_log.instances[2].server_port: must be set: the format logs no $server_port",
        "agent.yaml:18:9: integrations.access_log.instances[2].routes: pattern",
        // The loader's key path leaves out the variant (`json`); the line is the item's.
        "integrations.access_log.instances[3].format.stauts: unknown key",
    ] {
        assert!(e.lines().any(|l| l.contains(want)), "{want} not in:\n{e}");
    }
}

#[test]
fn an_unknown_format_is_named_with_its_line() {
    let e = load(
        "integrations:\n  access_log:\n    enabled: true\n    instances:\n      - name: f\n        path: /f.log\n        service: f\n        format: nginx_plain\n",
    )
    .unwrap_err();
    assert!(
        e.contains("agent.yaml:8:17") && e.contains("nginx_plain"),
        "{e}"
    );
}
