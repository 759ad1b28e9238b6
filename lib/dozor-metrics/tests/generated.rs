//! Generated files must be fresh: `docs/metrics.md` is rendered from the catalogue.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p dozor-metrics --test generated`.

use std::path::Path;

#[test]
fn metric_reference_is_fresh() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
    let want = dozor_metrics::catalogue::reference::markdown();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &want).expect("writing docs/metrics.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/metrics.md is stale: run `UPDATE_GOLDEN=1 cargo test -p dozor-metrics --test generated` and commit it"
    );
}
