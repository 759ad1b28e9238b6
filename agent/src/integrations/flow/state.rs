//! The state file of one flow, `<state_dir>/<flow>.state.json`: per stage the high-water mark,
//! the time read completely, recently read keys, keys in flight or reported lost, and keys seen
//! early at the next stage. It is what makes each lost key reported once across restarts, and
//! each query incremental. Written after every run through a temporary file and a rename, so a
//! crash leaves the old or the new state, never a torn one.

use super::reconcile::{FlowState, StageState};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// Version of the file format; a file of another version is set aside and state starts anew.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    flow: String,
    #[serde(flatten)]
    state: FlowState,
}

/// The state file of `flow` in `dir`.
pub fn path(dir: &Path, flow: &str) -> PathBuf {
    dir.join(format!("{flow}.state.json"))
}

/// Loads the state of a flow with stages `names`. A missing file is a fresh state. Stages are
/// matched by name; a stage whose next stage changed keeps its high-water mark but forgets its
/// keys in flight, which were measured against another stage.
pub fn load(path: &Path, flow: &str, names: &[&str]) -> io::Result<FlowState> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FlowState::new(names)),
        Err(e) => return Err(e),
    };
    let file: File = serde_json::from_slice(&text).map_err(io::Error::other)?;
    if file.version != VERSION || file.flow != flow {
        return Err(io::Error::other(format!(
            "version {} of flow \"{}\", expected version {VERSION} of flow \"{flow}\"",
            file.version, file.flow
        )));
    }
    let saved = file.state.stages;
    let position = |name: &str| saved.iter().position(|s| s.name == name);
    let mut out = FlowState::new(names);
    out.counts = file.state.counts;
    out.created = file.state.created;
    for (i, name) in names.iter().enumerate() {
        let Some(j) = position(name) else { continue };
        let mut stage: StageState = saved[j].clone();
        let next_now = names.get(i + 1).copied();
        let next_then = saved.get(j + 1).map(|s| s.name.as_str());
        if next_now != next_then {
            stage.pending.clear();
            stage.early.clear();
        }
        out.stages[i] = stage;
    }
    Ok(out)
}

/// Writes the state atomically: a temporary file in the same directory, synced, then renamed.
pub fn save(path: &Path, flow: &str, state: &FlowState) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file = File {
        version: VERSION,
        flow: flow.to_owned(),
        state: state.clone(),
    };
    let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::flow::reconcile::Pending;

    fn sample() -> FlowState {
        let mut s = FlowState::new(&["shop", "mes", "crm"]);
        s.stages[0].high_water = Some(10);
        s.stages[0].pending.insert(
            "7".into(),
            Pending {
                seen_at: 5,
                lost: true,
            },
        );
        s.stages[1].early.insert("8".into(), 9);
        s
    }

    /// The state without its creation times, which a fresh state takes from the clock.
    fn timeless(mut s: FlowState) -> FlowState {
        s.created = None;
        for stage in &mut s.stages {
            stage.created = None;
        }
        s
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "orders");
        assert_eq!(
            timeless(load(&p, "orders", &["shop", "mes", "crm"]).unwrap()),
            timeless(FlowState::new(&["shop", "mes", "crm"]))
        );
        let saved = sample();
        save(&p, "orders", &saved).unwrap();
        assert_eq!(load(&p, "orders", &["shop", "mes", "crm"]).unwrap(), saved);
        assert!(!dir.path().join("orders.state.json.tmp").exists());
    }

    #[test]
    fn a_changed_next_stage_forgets_keys_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let p = path(dir.path(), "orders");
        save(&p, "orders", &sample()).unwrap();
        let s = load(&p, "orders", &["shop", "crm"]).unwrap();
        assert_eq!(s.stages[0].high_water, Some(10));
        assert!(s.stages[0].pending.is_empty());
        assert_eq!(s.stages[1].name, "crm");
        assert!(load(&p, "other", &["shop", "crm"]).is_err());
    }
}
