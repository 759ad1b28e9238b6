//! Test helpers of every integration: one `integrations.<name>` section loaded from YAML text
//! as the agent loads it (positions, unknown keys, every problem at once), without the rest of
//! the agent config.

use crate::integrations::Section;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(bound = "C: DeserializeOwned")]
struct Root<C> {
    integrations: BTreeMap<String, C>,
}

impl<C: Section> dozor_config::Validate for Root<C> {
    fn validate(&self, v: &mut dozor_config::Validator) {
        for (name, section) in &self.integrations {
            section.validate(&mut v.at(format!("integrations.{name}")));
        }
    }
}

/// Loads `text` (`integrations:` with one section) as `agent.yaml`; the error is every problem,
/// one per line.
pub fn load<C: Section + DeserializeOwned>(text: &str) -> Result<C, String> {
    dozor_config::load_str::<Root<C>>("agent.yaml", text, &|_| None)
        .map(|r| r.integrations.into_values().next().expect("one section"))
        .map_err(|e| e.to_string())
}
