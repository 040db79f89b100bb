//! A zero-copy multipart/form-data parser over a buffered body, for the shapes the SDKs send:
//! per-part `Content-Length` (Python), `Content-Type: ...; length=N` (JS), neither (curl).

use memchr::memmem;

#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: &'a str,
    /// The whole header value, parameters included (`application/json; length=12`).
    pub content_type: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MultipartError {
    #[error("expected Content-Type: multipart/form-data with a boundary, got {0:?}")]
    NotMultipart(String),
    #[error("multipart body does not start with the boundary given in Content-Type")]
    NoFirstBoundary,
    #[error("multipart body ends before the closing boundary (after part #{0})")]
    Unterminated(usize),
    #[error("part #{0}: headers are not terminated by an empty line")]
    UnterminatedHeaders(usize),
    #[error("part #{0}: headers are not valid UTF-8")]
    HeadersNotUtf8(usize),
    #[error("part #{0}: malformed header line {1:?}")]
    BadHeader(usize, String),
    #[error("part #{0}: no Content-Disposition name")]
    NoName(usize),
    #[error("part {0:?}: Content-Length is not a number")]
    BadLength(String),
    #[error("part {0:?} is truncated: shorter than its declared length")]
    Truncated(String),
    #[error("part {0:?}: its declared length is not followed by a boundary")]
    LengthMismatch(String),
}

/// The boundary from a `multipart/form-data; boundary=...` Content-Type value.
pub fn boundary_from_content_type(content_type: &str) -> Result<String, MultipartError> {
    let not_multipart = || MultipartError::NotMultipart(content_type.chars().take(100).collect());
    let mut pieces = content_type.split(';');
    let media = pieces.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return Err(not_multipart());
    }
    pieces
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or_else(not_multipart)
}

struct Headers<'a> {
    name: Option<&'a str>,
    filename: Option<&'a str>,
    content_type: Option<&'a str>,
    length: Option<&'a str>,
    /// The length came from `Content-Type: ...; length=N` (JS), not a Content-Length header.
    /// Older JS SDKs put the UTF-16 length there, so it is only a hint.
    length_is_hint: bool,
}

fn parse_headers(block: &str, index: usize) -> Result<Headers<'_>, MultipartError> {
    let mut headers = Headers {
        name: None,
        filename: None,
        content_type: None,
        length: None,
        length_is_hint: false,
    };
    for line in block.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| MultipartError::BadHeader(index, line.chars().take(80).collect()))?;
        let value = value.trim();
        if key.eq_ignore_ascii_case("content-disposition") {
            headers.name = disposition_param(value, "name");
            headers.filename = disposition_param(value, "filename");
        } else if key.eq_ignore_ascii_case("content-type") {
            headers.content_type = Some(value);
            if headers.length.is_none() {
                headers.length_is_hint = true;
                headers.length = value
                    .split(';')
                    .skip(1)
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("length"))
                    .map(|(_, v)| v.trim());
            }
        } else if key.eq_ignore_ascii_case("content-length") {
            headers.length = Some(value);
            headers.length_is_hint = false;
        }
    }
    Ok(headers)
}

/// `name="x"` or `name=x` from a Content-Disposition value (not `filename` for `name`).
fn disposition_param<'a>(value: &'a str, wanted: &str) -> Option<&'a str> {
    value.split(';').skip(1).find_map(|param| {
        let (key, val) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case(wanted) {
            return None;
        }
        let val = val.trim();
        Some(
            val.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(val),
        )
    })
}

pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, MultipartError> {
    let dash_boundary = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let finder = memmem::Finder::new(delimiter.as_bytes());

    // The first boundary may open the body or follow a preamble.
    let mut pos = if body.starts_with(dash_boundary.as_bytes()) {
        dash_boundary.len()
    } else {
        finder.find(body).ok_or(MultipartError::NoFirstBoundary)? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        let index = parts.len() + 1;
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // After a boundary: optional whitespace, then CRLF.
        let line_end =
            memchr::memchr(b'\n', rest).ok_or(MultipartError::Unterminated(index - 1))?;
        let header_start = pos + line_end + 1;
        let header_rest = &body[header_start..];
        let (header_len, sep_len) = match memmem::find(header_rest, b"\r\n\r\n") {
            Some(0) => (0, 4),
            Some(n) => (n, 4),
            None => match memmem::find(header_rest, b"\n\n") {
                Some(n) => (n, 2),
                None if header_rest.starts_with(b"\r\n") => (0, 2),
                None => return Err(MultipartError::UnterminatedHeaders(index)),
            },
        };
        // A part with no headers at all starts its body right after one CRLF.
        let (header_len, sep_len) = if header_rest.starts_with(b"\r\n") {
            (0, 2)
        } else {
            (header_len, sep_len)
        };
        let block = std::str::from_utf8(&header_rest[..header_len])
            .map_err(|_| MultipartError::HeadersNotUtf8(index))?;
        let headers = parse_headers(block, index)?;
        let name = headers.name.ok_or(MultipartError::NoName(index))?;
        let body_start = header_start + header_len + sep_len;
        let search = |from: usize| {
            finder
                .find(&body[from..])
                .map(|at| from + at)
                .ok_or_else(|| MultipartError::Truncated(name.to_string()))
        };
        let hinted_end = headers
            .length
            .filter(|_| headers.length_is_hint)
            .and_then(|l| l.parse::<usize>().ok())
            .and_then(|l| body_start.checked_add(l))
            .filter(|end| {
                body.get(*end..)
                    .is_some_and(|rest| rest.starts_with(delimiter.as_bytes()))
            });
        let body_end = match headers.length {
            // A `length=` hint that lands on a boundary is trusted; otherwise the boundary is
            // searched for, as for a part without any length.
            Some(_) if headers.length_is_hint => match hinted_end {
                Some(end) => end,
                None => search(body_start)?,
            },
            Some(length) => {
                let length: usize = length
                    .parse()
                    .map_err(|_| MultipartError::BadLength(name.to_string()))?;
                let end = body_start
                    .checked_add(length)
                    .filter(|end| *end <= body.len())
                    .ok_or_else(|| MultipartError::Truncated(name.to_string()))?;
                if !body[end..].starts_with(delimiter.as_bytes()) {
                    return Err(if body.len() < end + delimiter.len() {
                        MultipartError::Truncated(name.to_string())
                    } else {
                        MultipartError::LengthMismatch(name.to_string())
                    });
                }
                end
            }
            None => search(body_start)?,
        };
        parts.push(Part {
            name,
            content_type: headers.content_type,
            filename: headers.filename,
            body: &body[body_start..body_end],
        });
        pos = body_end + delimiter.len();
        if pos >= body.len() {
            return Err(MultipartError::Unterminated(parts.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "0f9e8d7c6b5a49382716054f3e2d1c0b";

    fn python_body() -> Vec<u8> {
        let mut out = Vec::new();
        for (name, body) in [
            ("post.a", &br#"{"id":"a"}"#[..]),
            ("post.a.inputs", b"{\"x\":\"\r\n--notit\"}"),
        ] {
            out.extend_from_slice(
                format!(
                    "--{B}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{B}--\r\n").as_bytes());
        out
    }

    #[test]
    fn boundary_forms() {
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary=abc").unwrap(),
            "abc"
        );
        assert_eq!(
            boundary_from_content_type(
                "Multipart/Form-Data; charset=utf-8; BOUNDARY=\"----LangSmithFormBoundaryX\""
            )
            .unwrap(),
            "----LangSmithFormBoundaryX"
        );
        assert!(boundary_from_content_type("application/json").is_err());
        assert!(boundary_from_content_type("multipart/form-data").is_err());
    }

    #[test]
    fn python_shape_with_content_length() {
        let body = python_body();
        let parts = parse(&body, B).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "post.a");
        assert_eq!(parts[0].body, br#"{"id":"a"}"#);
        assert_eq!(parts[1].body, b"{\"x\":\"\r\n--notit\"}");
        assert_eq!(parts[1].content_type, Some("application/json"));
    }

    #[test]
    fn js_shape_with_length_parameter_and_curl_shape() {
        let js = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"patch.b\"\r\nContent-Type: application/json; length=2\r\n\r\n{{}}\r\n--{B}\r\nContent-Disposition: form-data; name=\"attachment.b.f\"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\n--{B}--"
        );
        let parts = parse(js.as_bytes(), B).unwrap();
        assert_eq!(parts[0].name, "patch.b");
        assert_eq!(parts[0].body, b"{}");
        assert_eq!(parts[1].filename, Some("f.bin"));
        assert_eq!(parts[1].body, b"\x00\x01");
        let with_preamble = format!(
            "preamble\r\n--{B}\r\nContent-Disposition: form-data; name=x\r\n\r\n\r\n--{B}--\r\n"
        );
        let parts = parse(with_preamble.as_bytes(), B).unwrap();
        assert_eq!(parts[0].name, "x");
        assert_eq!(parts[0].body, b"");
    }

    #[test]
    fn a_wrong_length_hint_falls_back_to_the_boundary() {
        // Older JS SDKs sent the UTF-16 length of non-ASCII text.
        let js = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"post.x\"\r\nContent-Type: application/json; length=9\r\n\r\n{{\"a\":\"é€\"}}\r\n--{B}--"
        );
        let parts = parse(js.as_bytes(), B).unwrap();
        assert_eq!(parts[0].body, "{\"a\":\"é€\"}".as_bytes());
    }

    #[test]
    fn errors_are_specific() {
        assert_eq!(parse(b"garbage", B), Err(MultipartError::NoFirstBoundary));
        let no_name = format!("--{B}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{B}--");
        assert_eq!(parse(no_name.as_bytes(), B), Err(MultipartError::NoName(1)));
        let bad_len = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"p\"\r\nContent-Length: x\r\n\r\nx\r\n--{B}--"
        );
        assert_eq!(
            parse(bad_len.as_bytes(), B),
            Err(MultipartError::BadLength("p".into()))
        );
        let wrong_len = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"p\"\r\nContent-Length: 1\r\n\r\nxyz\r\n--{B}--"
        );
        assert_eq!(
            parse(wrong_len.as_bytes(), B),
            Err(MultipartError::LengthMismatch("p".into()))
        );
        let no_close = format!("--{B}\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nxyz");
        assert_eq!(
            parse(no_close.as_bytes(), B),
            Err(MultipartError::Truncated("p".into()))
        );
    }

    #[test]
    fn every_truncation_is_an_error_never_a_panic() {
        let body = python_body();
        for cut in 0..body.len() - 4 {
            assert!(parse(&body[..cut], B).is_err(), "cut at {cut}");
        }
        for cut in 0..body.len() {
            let mut mangled = body.clone();
            mangled[cut] = b'-';
            let _ = parse(&mangled, B);
        }
    }
}
