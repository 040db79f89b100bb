//! Undoing `Content-Encoding` with a cap on the decoded size (safe against compression bombs).

use std::io::Read;

use bytes::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("request body decodes to more than the {limit} bytes the server accepts")]
    TooLarge { limit: usize },
    #[error("Content-Encoding {0:?} is not supported (use zstd, gzip or none)")]
    Unsupported(String),
    #[error("request body is not valid {encoding} data")]
    Corrupt { encoding: &'static str },
}

pub fn decode_body(
    content_encoding: Option<&str>,
    body: Bytes,
    max_decoded: usize,
) -> Result<Bytes, DecodeError> {
    let encoding = content_encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match encoding.as_str() {
        "" | "identity" => {
            if body.len() > max_decoded {
                return Err(DecodeError::TooLarge { limit: max_decoded });
            }
            Ok(body)
        }
        "zstd" => {
            let decoder = zstd::stream::read::Decoder::new(&body[..])
                .map_err(|_| DecodeError::Corrupt { encoding: "zstd" })?;
            read_capped(decoder, max_decoded, "zstd", body.len())
        }
        "gzip" | "x-gzip" => read_capped(
            flate2::read::MultiGzDecoder::new(&body[..]),
            max_decoded,
            "gzip",
            body.len(),
        ),
        _ => Err(DecodeError::Unsupported(encoding)),
    }
}

fn read_capped(
    reader: impl Read,
    max_decoded: usize,
    encoding: &'static str,
    encoded_len: usize,
) -> Result<Bytes, DecodeError> {
    let mut out = Vec::with_capacity(encoded_len.saturating_mul(4).min(max_decoded));
    // Reading one byte past the cap tells "exactly at the cap" from "over it".
    let mut limited = reader.take(max_decoded as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Corrupt { encoding })?;
    if out.len() > max_decoded {
        return Err(DecodeError::TooLarge { limit: max_decoded });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn round_trips() {
        let data = b"hello multipart".repeat(100);
        let zstd = zstd::encode_all(&data[..], 1).unwrap();
        assert_eq!(
            decode_body(Some("zstd"), zstd.into(), 1 << 20).unwrap(),
            data
        );
        assert_eq!(
            decode_body(Some(" GZIP "), gzip(&data).into(), 1 << 20).unwrap(),
            data
        );
        assert_eq!(
            decode_body(None, Bytes::from(data.clone()), 1 << 20).unwrap(),
            data
        );
        assert_eq!(
            decode_body(Some("identity"), Bytes::from(data.clone()), 1 << 20).unwrap(),
            data
        );
    }

    #[test]
    fn caps_the_decoded_size() {
        let bomb = zstd::encode_all(&vec![0u8; 1 << 20][..], 3).unwrap();
        assert!(matches!(
            decode_body(Some("zstd"), bomb.into(), 1000),
            Err(DecodeError::TooLarge { limit: 1000 })
        ));
        let exact = vec![1u8; 1000];
        assert_eq!(
            decode_body(Some("gzip"), gzip(&exact).into(), 1000)
                .unwrap()
                .len(),
            1000
        );
        assert!(decode_body(None, Bytes::from(vec![0u8; 1001]), 1000).is_err());
    }

    #[test]
    fn garbage_and_unknown_encodings_are_errors() {
        assert!(matches!(
            decode_body(Some("zstd"), Bytes::from_static(b"not zstd"), 1000),
            Err(DecodeError::Corrupt { encoding: "zstd" })
        ));
        assert!(matches!(
            decode_body(Some("gzip"), Bytes::from_static(b"not gzip"), 1000),
            Err(DecodeError::Corrupt { encoding: "gzip" })
        ));
        assert!(matches!(
            decode_body(Some("br"), Bytes::from_static(b"x"), 1000),
            Err(DecodeError::Unsupported(_))
        ));
    }
}
