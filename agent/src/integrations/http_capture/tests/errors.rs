//! Opening a capture that cannot work names what is missing and the fix.

use crate::integrations::Integration;
use crate::integrations::http_capture::{Config, HttpCapture};
use crate::integrations::testing::load;
use dozor_metrics::sample::Recorder;
use std::process::Command;

fn on(interface: &str) -> Config {
    load(&format!(
        "integrations:\n  http_capture:\n    enabled: true\n    interfaces: [{interface}]\n    ports: [8080]\n"
    ))
    .unwrap()
}

#[test]
fn a_missing_interface_is_named_with_those_that_exist() {
    let mut cap = HttpCapture::start(&on("nosuch0")).unwrap();
    let e = cap.collect(&mut Recorder::new()).unwrap_err();
    assert_eq!(e.kind, "config");
    assert!(
        e.message.contains("interface \"nosuch0\" does not exist"),
        "{e}"
    );
    assert!(e.message.contains("lo"), "{e}");
}

const CHILD: &str = "DOZOR_HTTP_CAPTURE_NO_CAP_CHILD";

/// Runs itself again without CAP_NET_RAW and CAP_NET_ADMIN (setpriv drops them from the
/// bounding set, so even root lacks them), where opening `lo` must fail with the fix.
#[test]
fn without_cap_net_raw_the_error_names_the_capability_and_the_fix() {
    if std::env::var_os(CHILD).is_some() {
        let mut cap = HttpCapture::start(&on("lo")).unwrap();
        let e = cap.collect(&mut Recorder::new()).unwrap_err();
        println!("CHILD kind={} message={}", e.kind, e.message);
        return;
    }
    let out = Command::new("setpriv")
        .args(["--bounding-set", "-net_raw,-net_admin", "--inh-caps=-all"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "integrations::http_capture::tests::errors::without_cap_net_raw_the_error_names_the_capability_and_the_fix",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("setpriv (util-linux) to run the test without CAP_NET_RAW: apt-get install util-linux");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("CHILD kind=permission"), "{text}");
    for needle in [
        "CAP_NET_RAW",
        "setcap cap_net_raw,cap_net_admin+ep",
        "http-capture.conf",
    ] {
        assert!(text.contains(needle), "{needle} not in: {text}");
    }
}
