//! What the bench binaries share: multipart bodies shaped like the SDKs', and HTTP helpers that
//! fail loudly (a benchmark that silently measures errors is worse than none).

use std::time::Duration;

use serde_json::Value;

pub const BOUNDARY: &str = "9a1e4c2b7d3f48e6a5b0c1d2e3f4a5b6";

/// The `Content-Type` of the multipart bodies built here.
pub fn multipart_content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// Appends one JSON part, with the per-part Content-Length the Python SDK sends.
pub fn part(out: &mut Vec<u8>, name: &str, body: &str) {
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Ends a multipart body.
pub fn close(out: &mut Vec<u8>) {
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
}

/// Sends bodies to `POST /runs/multipart`, `concurrency` at a time, retrying refusals
/// (429/503) until each is taken.
pub async fn send_multipart(
    client: &reqwest::Client,
    url: &str,
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
) {
    let url = format!("{url}/runs/multipart");
    let mut pending = bodies.into_iter();
    let mut workers = tokio::task::JoinSet::new();
    loop {
        while workers.len() < concurrency {
            let Some(body) = pending.next() else { break };
            let (client, url) = (client.clone(), url.clone());
            workers.spawn(async move {
                loop {
                    let response = client
                        .post(&url)
                        .header("content-type", multipart_content_type())
                        .body(body.clone())
                        .send()
                        .await
                        .expect("ingest request");
                    match response.status().as_u16() {
                        200..=299 => return,
                        429 | 503 => tokio::time::sleep(Duration::from_millis(500)).await,
                        other => panic!("ingest answered {other}"),
                    }
                }
            });
        }
        if workers.join_next().await.is_none() {
            break;
        }
    }
}

/// `POST url` with a JSON body; panics unless the answer is 2xx JSON.
pub async fn post_json(client: &reqwest::Client, url: &str, body: &Value) -> Value {
    checked(url, client.post(url).json(body)).await
}

/// `GET url`; panics unless the answer is 2xx JSON.
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    checked(url, client.get(url)).await
}

async fn checked(url: &str, request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON answer");
    assert!(status.is_success(), "{url} answered {status}: {body}");
    body
}

/// The value at quantile `q` of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
