//! The sources of one run of an integration that reads several (node_exporter's
//! `node_scrape_collector_success{collector}`): each one's result becomes
//! `dozor.agent.scrape.source.success{integration, source}`, and the run's result is its first
//! error, so that one failing source never stops the others.

use super::IntegrationError;
use dozor_metrics::catalogue::agent;
use dozor_metrics::sample::Recorder;

/// The results of the sources read so far in one run.
#[derive(Debug)]
pub struct Sources {
    integration: String,
    first: Option<IntegrationError>,
    read: Vec<(String, bool)>,
}

impl Sources {
    /// The sources of one run of `integration`.
    pub fn new(integration: &str) -> Sources {
        Sources {
            integration: integration.to_string(),
            first: None,
            read: Vec::new(),
        }
    }

    /// Notes that `source` was read (`Ok`) or failed. The run's error is the first one; later
    /// ones are logged at debug level (the scheduler logs the run's).
    pub fn note(&mut self, source: &str, result: Result<(), IntegrationError>) {
        self.keep(source, result);
    }

    /// [`Sources::note`] for a result that carries a value: the value, or `None` after noting
    /// the error.
    pub fn keep<T>(&mut self, source: &str, result: Result<T, IntegrationError>) -> Option<T> {
        let ok = result.is_ok();
        match self.read.iter_mut().find(|(s, _)| s == source) {
            // A source read in several steps failed if any step did.
            Some((_, read)) => *read &= ok,
            None => self.read.push((source.to_string(), ok)),
        }
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    /// An error that belongs to no one source (the connection, a missing grant).
    pub fn fail(&mut self, error: IntegrationError) {
        if self.first.is_none() {
            self.first = Some(error);
        } else {
            tracing::debug!(integration = %self.integration, error = %error, kind = error.kind, "Further source failed.");
        }
    }

    /// Records the success of every source noted, and returns the run's result.
    pub fn finish(self, rec: &mut Recorder) -> Result<(), IntegrationError> {
        for (source, ok) in &self.read {
            let value = if *ok { 1.0 } else { 0.0 };
            rec.record(
                &agent::SCRAPE_SOURCE_SUCCESS,
                value,
                &[&self.integration, source],
            );
        }
        self.first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_is_reported_and_the_first_error_wins() {
        let mut sources = Sources::new("postgresql/shop");
        sources.note("pg_locks", Ok(()));
        assert_eq!(
            sources.keep(
                "pg_stat_database",
                Err::<u8, _>(IntegrationError::new("query", "a"))
            ),
            None
        );
        sources.note("pg_stat_database", Ok(()));
        assert_eq!(sources.keep("recovery", Ok(7)), Some(7));
        sources.fail(IntegrationError::new("permission", "b"));
        let mut rec = Recorder::new();
        let error = sources.finish(&mut rec).unwrap_err();
        assert_eq!((error.kind, error.message.as_str()), ("query", "a"));
        let got: Vec<(String, f64)> = rec
            .take()
            .into_iter()
            .map(|s| (s.attributes[1].1.clone(), s.value))
            .collect();
        let want = [
            ("pg_locks", 1.0),
            ("pg_stat_database", 0.0),
            ("recovery", 1.0),
        ];
        assert_eq!(
            got,
            want.map(|(s, v)| (s.to_string(), v)),
            "a source that failed in one of its steps failed"
        );
    }
}
