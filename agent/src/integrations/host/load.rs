//! Load averages over 1, 5 and 15 minutes, from the first three fields of `/proc/loadavg`
//! (`system.cpu.load_average.{1m,5m,15m}`).

use super::{IntegrationError, ParseError, Paths, parse_error, read_optional};
use dozor_metrics::catalogue::host;
use dozor_metrics::sample::Recorder;

/// Parses `/proc/loadavg`, e.g. `0.24 0.27 0.14 1/140 9713`.
pub fn parse(text: &str) -> Result<[f64; 3], ParseError> {
    let mut fields = text.split_ascii_whitespace();
    let mut out = [0.0; 3];
    for (slot, what) in out.iter_mut().zip(["1m", "5m", "15m"]) {
        let field = fields
            .next()
            .ok_or_else(|| ParseError::new(1, format!("missing {what} load")))?;
        *slot = field
            .parse()
            .map_err(|_| ParseError::new(1, format!("{what} load: not a number: {field:?}")))?;
    }
    Ok(out)
}

/// Reads `/proc/loadavg`.
pub fn collect(recorder: &mut Recorder, paths: &Paths) -> Result<(), IntegrationError> {
    let path = paths.procfs.join("loadavg");
    let Some(text) = read_optional(&path)? else {
        return Ok(());
    };
    let [m1, m5, m15] = parse(&text).map_err(|e| parse_error(&path, e))?;
    recorder.record(&host::LOAD_1M, m1, &[]);
    recorder.record(&host::LOAD_5M, m5, &[]);
    recorder.record(&host::LOAD_15M, m15, &[]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases: &[(&str, Result<[f64; 3], ParseError>)] = &[
            ("0.24 0.27 0.14 1/140 9713\n", Ok([0.24, 0.27, 0.14])),
            ("12.00 3.5 0.00 7/2000 1\n", Ok([12.0, 3.5, 0.0])),
            ("0.24 0.27\n", Err(ParseError::new(1, "missing 15m load"))),
            ("", Err(ParseError::new(1, "missing 1m load"))),
            (
                "0.24 x 0.14 1/140 9713\n",
                Err(ParseError::new(1, "5m load: not a number: \"x\"")),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&parse(text), want, "{text:?}");
        }
    }
}
