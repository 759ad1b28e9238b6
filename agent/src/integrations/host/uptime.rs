//! Seconds since boot, from the first field of `/proc/uptime` (`system.uptime`).

use super::{IntegrationError, ParseError, Paths, parse_error, read_optional};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;

/// Parses `/proc/uptime`, e.g. `512.45 878.87` (the second field, idle time summed over CPUs,
/// is not used).
pub fn parse(text: &str) -> Result<f64, ParseError> {
    let field = text
        .split_ascii_whitespace()
        .next()
        .ok_or_else(|| ParseError::new(1, "empty"))?;
    field
        .parse()
        .map_err(|_| ParseError::new(1, format!("uptime: not a number: {field:?}")))
}

/// Reads `/proc/uptime`.
pub fn collect(recorder: &mut Recorder, paths: &Paths) -> Result<(), IntegrationError> {
    let path = paths.procfs.join("uptime");
    let Some(text) = read_optional(&path)? else {
        return Ok(());
    };
    let seconds = parse(&text).map_err(|e| parse_error(&path, e))?;
    recorder.record(&host::UPTIME, seconds, &[]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases: &[(&str, Result<f64, ParseError>)] = &[
            ("512.45 878.87\n", Ok(512.45)),
            ("3\n", Ok(3.0)),
            ("\n", Err(ParseError::new(1, "empty"))),
            (
                "up 1\n",
                Err(ParseError::new(1, "uptime: not a number: \"up\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text), want, "{text:?}");
        }
    }
}
