//! The remote_write 1.0 body: a `WriteRequest` in protobuf, compressed with snappy's block
//! format (not its framed format), as the protocol requires.

use super::proto::{TimeSeries, WriteRequest};
use prost::Message;

/// Why a body could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not snappy block format.
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
    /// Not a `WriteRequest`.
    #[error("protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// The snappy-compressed protobuf of `series`.
pub fn encode(series: &[TimeSeries]) -> Vec<u8> {
    // prost encodes a borrowed list only through its owner; building one costs a clone of
    // the labels, so the message is encoded field by field instead.
    let mut raw = Vec::with_capacity(series.iter().map(|s| s.encoded_len() + 3).sum());
    for s in series {
        prost::encoding::message::encode(1, s, &mut raw);
    }
    compress(&raw)
}

/// Snappy block format.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(raw)
        .unwrap_or_default()
}

/// The series of a body made by [`encode`] (or any remote_write 1.0 sender).
pub fn decode(body: &[u8]) -> Result<Vec<TimeSeries>, DecodeError> {
    let raw = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(WriteRequest::decode(raw.as_slice())?.timeseries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporters::remote_write::proto::{Label, Sample};

    #[test]
    fn round_trips_and_is_a_write_request() {
        let series = vec![TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: "up".into(),
            }],
            samples: vec![Sample {
                value: 1.5,
                timestamp: 1_700_000_000_000,
            }],
        }];
        let body = encode(&series);
        assert_eq!(decode(&body).unwrap(), series);
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let want = WriteRequest { timeseries: series };
        assert_eq!(raw, want.encode_to_vec());
        assert!(decode(b"not snappy").is_err());
    }
}
