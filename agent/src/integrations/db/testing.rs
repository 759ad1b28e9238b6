//! Test helper: loads one `integrations.<name>` section from YAML text as the agent's `load`
//! does (positions, unknown keys, every problem at once), without the rest of the agent config.

use dozor_config::Validator;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// A section of `integrations` and its validation.
pub trait Section: DeserializeOwned {
    /// Reports every problem of the section, as the agent's validation does.
    fn validate(&self, v: &mut Validator);
}

#[derive(Deserialize)]
#[serde(bound = "C: Section")]
struct Root<C> {
    integrations: BTreeMap<String, C>,
}

impl<C: Section> dozor_config::Validate for Root<C> {
    fn validate(&self, v: &mut Validator) {
        for section in self.integrations.values() {
            section.validate(v);
        }
    }
}

/// Loads `text` (`integrations:` with one section) as `agent.yaml`; the error is every problem,
/// one per line.
pub fn load<C: Section>(text: &str) -> Result<C, String> {
    dozor_config::load_str::<Root<C>>("agent.yaml", text, &|_| None)
        .map(|r| r.integrations.into_values().next().expect("one section"))
        .map_err(|e| e.to_string())
}
