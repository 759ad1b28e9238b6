//! Errors: nothing listening, a broker that accepts and never answers. Each is a clear error
//! naming the instance and the fix, and the next collection retries.

use super::{collect, instance, integration, value};
use dozor_testkit::free_port;
use std::net::TcpListener;
use std::time::{Duration, Instant};

#[test]
fn nothing_listening_is_a_connect_error_and_the_next_run_retries() {
    let port = free_port();
    let mut k = integration(&instance("gone", &format!("127.0.0.1:{port}")));
    let (s, result) = collect(&mut k);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "connect");
    assert!(e.message.contains("kafka instance gone"), "{}", e.message);
    assert!(e.message.contains("bootstrap_servers"), "{}", e.message);
    assert_eq!(value(&s, "dozor.kafka.up", &["gone"]), Some(0.0));
    // A broker appears on the port: the same integration's next collection connects.
    let broker = dozor_testkit::kafka::Broker::start_on(port);
    let (s, first) = collect(&mut k);
    first.unwrap();
    assert_eq!(value(&s, "dozor.kafka.up", &["gone"]), Some(1.0));
    // It stops: the run after fails again, and says so.
    drop(broker);
    let (s, again) = collect(&mut k);
    assert!(again.is_err(), "a stopped broker fails the run");
    assert_eq!(value(&s, "dozor.kafka.up", &["gone"]), Some(0.0));
}

#[test]
fn a_hanging_broker_times_out_within_the_budget_and_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never answers; keeps the sockets open.
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(2) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    let config = instance("stuck", &addr.to_string());
    let mut k = super::super::Kafka::new(&config, Duration::from_secs(1));
    for run in 0..2 {
        let start = Instant::now();
        let (s, result) = collect(&mut k);
        let took = start.elapsed();
        let e = result.unwrap_err();
        assert_eq!(e.kind, "timeout", "run {run}: {}", e.message);
        assert!(e.message.contains("kafka instance stuck"), "{}", e.message);
        assert!(
            e.message.contains("did not answer ApiVersions"),
            "{}",
            e.message
        );
        // The deadline is 80% of the integration's timeout, so the scheduler never has to
        // abandon the run.
        assert!(took < Duration::from_secs(1), "run {run} took {took:?}");
        assert_eq!(value(&s, "dozor.kafka.up", &["stuck"]), Some(0.0));
    }
    // Each run opened a new connection and asked again.
    assert_eq!(k.requests().get("ApiVersions"), Some(&2));
    drop(held);
}

/// A broker that answers ApiVersions and Metadata (one topic, itself as leader) and then
/// never answers: the run fails on the step that hung, with what was read before it kept.
#[test]
fn a_broker_hanging_after_metadata_fails_that_step_and_keeps_the_rest() {
    use bytes::{Buf, BytesMut};
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::{
        ApiKey, ApiVersionsResponse, BrokerId, MetadataResponse, ResponseHeader, TopicName,
    };
    use kafka_protocol::protocol::{
        Encodable, HeaderVersion, StrBytes, decode_request_header_from_buffer,
    };
    use std::io::{Read, Write};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut conns = Vec::new();
        for stream in listener.incoming().take(2) {
            let mut s = stream.unwrap();
            loop {
                let mut size = [0u8; 4];
                if s.read_exact(&mut size).is_err() {
                    break;
                }
                let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
                s.read_exact(&mut body).unwrap();
                let mut body = bytes::Bytes::from(body);
                let header = decode_request_header_from_buffer(&mut body).unwrap();
                let (key, version) = (header.request_api_key, header.request_api_version);
                let mut out = BytesMut::new();
                let rh = ResponseHeader::default().with_correlation_id(header.correlation_id);
                if key == ApiKey::ApiVersions as i16 {
                    rh.encode(&mut out, 0).unwrap();
                    let keys = [
                        (3, 1, 8),
                        (16, 0, 4),
                        (15, 0, 4),
                        (10, 0, 3),
                        (9, 2, 7),
                        (2, 1, 5),
                        (1, 4, 12),
                        (18, 0, 3),
                    ];
                    ApiVersionsResponse::default()
                        .with_api_keys(
                            keys.iter()
                                .map(|&(k, lo, hi)| {
                                    ApiVersion::default()
                                        .with_api_key(k)
                                        .with_min_version(lo)
                                        .with_max_version(hi)
                                })
                                .collect(),
                        )
                        .encode(&mut out, 0)
                        .unwrap();
                } else if key == ApiKey::Metadata as i16 {
                    rh.encode(&mut out, MetadataResponse::header_version(version))
                        .unwrap();
                    MetadataResponse::default()
                        .with_brokers(vec![
                            MetadataResponseBroker::default()
                                .with_node_id(BrokerId(0))
                                .with_host(StrBytes::from_static_str("127.0.0.1"))
                                .with_port(port as i32),
                        ])
                        .with_topics(vec![
                            MetadataResponseTopic::default()
                                .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
                                .with_partitions(vec![
                                    MetadataResponsePartition::default()
                                        .with_leader_id(BrokerId(0))
                                        .with_replica_nodes(vec![BrokerId(0), BrokerId(1)])
                                        .with_isr_nodes(vec![BrokerId(0)]),
                                ]),
                        ])
                        .encode(&mut out, version)
                        .unwrap();
                } else {
                    // Every later request: accepted, never answered.
                    conns.push(s);
                    break;
                }
                let mut frame = (out.len() as i32).to_be_bytes().to_vec();
                frame.extend_from_slice(out.chunk());
                s.write_all(&frame).unwrap();
            }
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    let config = instance("half", &format!("127.0.0.1:{port}"));
    let mut k = super::super::Kafka::new(&config, Duration::from_secs(1));
    let (s, result) = collect(&mut k);
    let e = result.unwrap_err();
    assert_eq!(e.kind, "timeout", "{}", e.message);
    assert!(
        e.message.contains("did not answer ListGroups"),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("listing the groups of 127.0.0.1:"),
        "{}",
        e.message
    );
    // What Metadata said is recorded all the same.
    assert_eq!(value(&s, "dozor.kafka.up", &["half"]), Some(1.0));
    assert_eq!(
        value(&s, "kafka.topic.partitions", &["half", "t"]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "dozor.kafka.topic.under_replicated_partitions",
            &["half", "t"]
        ),
        Some(1.0)
    );
    let source = |name: &str| {
        value(
            &s,
            "dozor.agent.scrape.source.success",
            &["kafka/half", name],
        )
    };
    assert_eq!(source("Metadata"), Some(1.0));
    assert_eq!(source("ListGroups"), Some(0.0));
}
