//! The shapes of an integration's configuration section: [`Section`], which every section
//! implements, and the generic [`Instances`] section of the integrations that run once per
//! configured server or query (`{enabled, interval, timeout, instances}`), whose items
//! implement [`Instance`].

use super::{Context, Integration, Scheduled};
use dozor_config::{At, Duration};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// The configuration section of one integration (`integrations.<name>`).
pub trait Section {
    /// Reports every problem of the section, with keys relative to it.
    fn validate(&self, at: &mut At<'_>);

    /// What the section enables, ready to schedule; nothing when it is disabled.
    fn build(&self, ctx: &Context) -> Vec<Scheduled>;
}

/// One configured server or query of an [`Instances`] section: one integration each, on its own
/// connection and schedule, named `<section>/<name>`.
pub trait Instance: fmt::Debug + for<'de> Deserialize<'de> {
    /// The key of the list in the section: `instances`, or `queries`.
    const LIST: &'static str;
    /// What one item is called in messages: `instance`, `query`.
    const NOUN: &'static str;
    /// The attribute its name becomes: `postgresql.instance`.
    const LABEL: &'static str;

    /// Its name, unique in the section.
    fn name(&self) -> &str;

    /// Checks the form of a name; by default any that is not blank.
    fn check_name(name: &str) -> Result<(), String> {
        if name.trim().is_empty() {
            Err(format!("must be set (it becomes {})", Self::LABEL))
        } else {
            Ok(())
        }
    }

    /// Reports every problem of this item, with keys relative to it.
    fn validate(&self, at: &mut At<'_>);

    /// Checks across items (names declared twice); none by default.
    fn validate_all(items: &[Self], at: &mut At<'_>)
    where
        Self: Sized,
    {
        let _ = (items, at);
    }

    /// Its own interval and timeout, for an item that may set them.
    fn schedule(&self) -> (Option<Duration>, Option<Duration>) {
        (None, None)
    }

    /// The integration for this item, whose runs may take `timeout`; `None` (logged) when it
    /// cannot be made, which validation rules out.
    fn build(&self, timeout: std::time::Duration, ctx: &Context) -> Option<Box<dyn Integration>>;
}

/// A section with one integration per item: `enabled`, the section's `interval` and `timeout`,
/// and the items under [`Instance::LIST`].
#[derive(Debug)]
pub struct Instances<T> {
    /// Off by default.
    pub enabled: bool,
    /// Time between collections; `agent.interval` when unset.
    pub interval: Option<Duration>,
    /// Longest a collection may take; `agent.timeout` when unset.
    pub timeout: Option<Duration>,
    /// The items, each on its own connection and schedule.
    pub instances: Vec<T>,
}

impl<T> Default for Instances<T> {
    fn default() -> Self {
        Instances {
            enabled: false,
            interval: None,
            timeout: None,
            instances: Vec::new(),
        }
    }
}

impl<T: Instance> Section for Instances<T> {
    fn validate(&self, at: &mut At<'_>) {
        at.positive_if_set("interval", self.interval);
        at.positive_if_set("timeout", self.timeout);
        if self.enabled && self.instances.is_empty() {
            at.error(
                T::LIST,
                format!(
                    "at least one {} is needed when the integration is enabled",
                    T::NOUN
                ),
            );
        }
        for (i, item) in self.instances.iter().enumerate() {
            let mut at = at.item(T::LIST, i);
            let name = item.name();
            match T::check_name(name) {
                Err(why) => at.error("name", why),
                Ok(()) if self.instances[..i].iter().any(|o| o.name() == name) => at.error(
                    "name",
                    format!("\"{name}\" is used by an earlier {}", T::NOUN),
                ),
                Ok(()) => {}
            }
            item.validate(&mut at);
        }
        T::validate_all(&self.instances, at);
    }

    fn build(&self, ctx: &Context) -> Vec<Scheduled> {
        if !self.enabled {
            return Vec::new();
        }
        self.instances
            .iter()
            .filter_map(|item| {
                let (interval, timeout) = item.schedule();
                let (section_interval, section_timeout) = ctx.schedule(self.interval, self.timeout);
                let timeout = timeout.map_or(section_timeout, |d| d.0);
                Some(Scheduled {
                    integration: item.build(timeout, ctx)?,
                    interval: interval.map_or(section_interval, |d| d.0),
                    timeout,
                })
            })
            .collect()
    }
}

/// The schema of the section, for the configuration reference (test builds only): the keys
/// of [`Instances`] with the docs of its fields.
#[cfg(test)]
impl<T: Instance + schemars::JsonSchema + Default + serde::Serialize> schemars::JsonSchema
    for Instances<T>
{
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Instances_{}", T::schema_name()).into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut duration = |doc: &str| {
            let mut s = g.subschema_for::<Option<Duration>>();
            s.insert("description".into(), doc.into());
            s.insert("default".into(), serde_json::Value::Null);
            s
        };
        let interval = duration("Time between collections; `agent.interval` when unset.");
        let timeout = duration("Longest a collection may take; `agent.timeout` when unset.");
        let mut items = g.subschema_for::<Vec<T>>();
        items.insert(
            "description".into(),
            "One integration each, on its own connection and schedule.".into(),
        );
        items.insert("default".into(), serde_json::json!([]));
        schemars::json_schema!({
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean", "default": false, "description": "Off by default."},
                "interval": interval,
                "timeout": timeout,
                (T::LIST): items,
            }
        })
    }
}

/// Serialized as the section's keys, for the defaults of the configuration reference.
#[cfg(test)]
impl<T: Instance + serde::Serialize> serde::Serialize for Instances<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("enabled", &self.enabled)?;
        map.serialize_entry("interval", &self.interval)?;
        map.serialize_entry("timeout", &self.timeout)?;
        map.serialize_entry(T::LIST, &self.instances)?;
        map.end()
    }
}

/// By hand rather than derived, for the list's key that depends on `T` ([`Instance::LIST`]).
/// Unknown keys are handed to serde as ignored, so the loader reports them like any other.
impl<'de, T: Instance> Deserialize<'de> for Instances<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys<T>(PhantomData<T>);

        impl<'de, T: Instance> Visitor<'de> for Keys<T> {
            type Value = Instances<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a mapping of enabled, interval, timeout and {}", T::LIST)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Instances<T>, A::Error> {
                let mut out = Instances::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "enabled" => out.enabled = map.next_value()?,
                        "interval" => out.interval = map.next_value()?,
                        "timeout" => out.timeout = map.next_value()?,
                        list if list == T::LIST => out.instances = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }

        d.deserialize_map(Keys(PhantomData))
    }
}

/// The section of an integration this build of the agent left out (a workstation build,
/// `--no-default-features`): accepted while not enabled, so one configuration can serve every
/// build, and refused with the fix when enabled.
#[derive(Debug, Default)]
#[allow(dead_code, reason = "only made in a build without some integration")]
pub struct NotBuilt(Option<serde_json::Value>);

impl<'de> Deserialize<'de> for NotBuilt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(|v| NotBuilt(Some(v)))
    }
}

impl Section for NotBuilt {
    fn validate(&self, at: &mut At<'_>) {
        let enabled = self
            .0
            .as_ref()
            .and_then(|v| v.get("enabled"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        if enabled {
            let name = at.path().rsplit('.').next().unwrap_or_default().to_string();
            at.error(
                "enabled",
                format!(
                    "this dozor-agent was built without the {name} integration (cargo feature \"{name}\"): use the full build, or set enabled: false"
                ),
            );
        }
    }

    fn build(&self, _: &Context) -> Vec<Scheduled> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Root {
        integrations: Sections,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Sections {
        postgresql: NotBuilt,
    }

    impl dozor_config::Validate for Root {
        fn validate(&self, v: &mut dozor_config::Validator) {
            let mut at = v.at("integrations.postgresql");
            self.integrations.postgresql.validate(&mut at);
        }
    }

    fn load(text: &str) -> Result<Root, String> {
        dozor_config::load_str::<Root>("agent.yaml", text, &|_| None).map_err(|e| e.to_string())
    }

    /// A build without an integration accepts its section while it is off, whatever it holds,
    /// and names the fix when it is on.
    #[test]
    fn a_section_left_out_of_the_build_is_refused_only_when_enabled() {
        let off = "integrations:\n  postgresql:\n    enabled: false\n    instances: [{name: a, dsn: x}]\n";
        let root = load(off).unwrap();
        assert!(
            root.integrations
                .postgresql
                .build(&Context::for_tests(
                    std::time::Duration::from_secs(1),
                    std::time::Duration::from_secs(1)
                ))
                .is_empty()
        );
        let on = "integrations:\n  postgresql:\n    enabled: true\n    instances: []\n";
        let e = load(on).unwrap_err();
        assert!(
            e.contains("agent.yaml:3:5: integrations.postgresql.enabled: this dozor-agent was built without the postgresql integration"),
            "{e}"
        );
    }
}
