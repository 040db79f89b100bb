//! Drives `POST /runs/multipart` the way the Python SDK does (100-run multipart batches) and
//! prints runs/s and request latencies; then checks that every acknowledged run was stored.
//! A benchmark, not a test: it asserts nothing about timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use uuid::Uuid;

use loopsmith_bench::{close, multipart_content_type, part};

struct Options {
    url: String,
    concurrency: usize,
    batches: usize,
    runs_per_batch: usize,
    zstd: bool,
    project: String,
}

fn parse_args() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:1984".into(),
        concurrency: 8,
        batches: 200,
        runs_per_batch: 100,
        zstd: false,
        project: format!("bench-{}", &Uuid::now_v7().simple().to_string()[20..]),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--url" => options.url = value(),
            "--concurrency" => options.concurrency = number(&value()),
            "--batches" => options.batches = number(&value()),
            "--runs-per-batch" => options.runs_per_batch = number(&value()),
            "--project" => options.project = value(),
            "--zstd" => options.zstd = true,
            other => usage(&format!("unknown option {other}")),
        }
    }
    options
}

fn number(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("{text:?} is not a number")))
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: loopsmith-bench [--url URL] [--concurrency N] [--batches N] \
         [--runs-per-batch N] [--zstd] [--project NAME]"
    );
    std::process::exit(2)
}

/// One batch: traces of a root chain and four children (llm, tool, llm, tool), like an agent turn.
fn batch(runs: usize, project: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(runs * 1500);
    let mut made = 0;
    while made < runs {
        let start = chrono::Utc::now();
        let root = Uuid::now_v7();
        let segment = |id: &Uuid, offset_us: i64| {
            let t = start + chrono::Duration::microseconds(offset_us);
            format!("{}{}", t.format("%Y%m%dT%H%M%S%6fZ"), id)
        };
        let root_order = segment(&root, 0);
        let trace_len = (runs - made).min(5);
        for i in 0..trace_len {
            let (id, order, parent, run_type) = if i == 0 {
                (root, root_order.clone(), None, "chain")
            } else {
                let id = Uuid::now_v7();
                let order = format!("{root_order}.{}", segment(&id, i as i64 * 10));
                (
                    id,
                    order,
                    Some(root),
                    if i % 2 == 1 { "llm" } else { "tool" },
                )
            };
            let t = |us: i64| (start + chrono::Duration::microseconds(us)).to_rfc3339();
            let post = json!({
                "id": id, "trace_id": root, "dotted_order": order, "parent_run_id": parent,
                "name": format!("{run_type}-{i}"), "run_type": run_type,
                "start_time": t(i as i64 * 10), "end_time": t(i as i64 * 10 + 500),
                "session_name": project, "tags": ["bench"], "replicas": [],
            });
            part(&mut out, &format!("post.{id}"), &post.to_string());
            let inputs = json!({"messages": [{"role": "user", "content": "What is the capital of France? Please answer briefly and explain your reasoning in one sentence."}], "step": i});
            part(&mut out, &format!("post.{id}.inputs"), &inputs.to_string());
            let outputs = json!({"content": "Paris is the capital of France; it has been the seat of government for centuries.", "usage_metadata": {"input_tokens": 24, "output_tokens": 18, "total_tokens": 42}});
            part(
                &mut out,
                &format!("post.{id}.outputs"),
                &outputs.to_string(),
            );
            let extra = json!({"metadata": {"assistant_id": "a1", "ls_run_depth": if i == 0 {0} else {1}},
                               "runtime": {"sdk": "langsmith-py", "sdk_version": "0.10.5", "platform": "linux"}});
            part(&mut out, &format!("post.{id}.extra"), &extra.to_string());
        }
        made += trace_len;
    }
    close(&mut out);
    out
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let options = parse_args();
    let bodies: Vec<Bytes> = (0..options.batches)
        .map(|_| {
            let raw = batch(options.runs_per_batch, &options.project);
            if options.zstd {
                Bytes::from(zstd::encode_all(&raw[..], 1).expect("zstd"))
            } else {
                Bytes::from(raw)
            }
        })
        .collect();
    let total_bytes: usize = bodies.iter().map(Bytes::len).sum();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..options.concurrency {
        let (client, bodies, next, refused) = (
            client.clone(),
            bodies.clone(),
            next.clone(),
            refused.clone(),
        );
        let url = format!("{}/runs/multipart", options.url);
        let zstd = options.zstd;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(index) else { break };
                loop {
                    let mut request = client
                        .post(&url)
                        .header("content-type", multipart_content_type())
                        .body(body.clone());
                    if zstd {
                        request = request.header("content-encoding", "zstd");
                    }
                    let sent = Instant::now();
                    let response = request.send().await.expect("request");
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let _ = response.bytes().await;
                    latencies.push(sent.elapsed());
                    match status {
                        200..=299 => break,
                        429 | 503 => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1))).await;
                        }
                        other => panic!("unexpected status {other}"),
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let runs = options.batches * options.runs_per_batch;
    println!(
        "runs={runs} batches={} concurrency={} zstd={} body_mb={:.1}",
        options.batches,
        options.concurrency,
        options.zstd,
        total_bytes as f64 / 1e6
    );
    println!(
        "seconds={elapsed:.2} runs_per_s={:.0} requests_per_s={:.0} p50_ms={:.1} p90_ms={:.1} p99_ms={:.1} max_ms={:.1} refused_429_503={}",
        runs as f64 / elapsed,
        options.batches as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        refused.load(Ordering::Relaxed)
    );
    // Durability: everything acknowledged is stored.
    let stats_url = format!(
        "{}/sessions?name={}&include_stats=true",
        options.url, options.project
    );
    let stored = client
        .get(&stats_url)
        .send()
        .await
        .expect("stats request")
        .text()
        .await
        .expect("stats body");
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("stats JSON");
    let count = stored[0]["run_count"].as_u64().unwrap_or(0) as usize;
    if count == runs {
        println!("durability PASS: {count} of {runs} runs stored");
    } else {
        println!("durability FAIL: {count} of {runs} runs stored");
        std::process::exit(1);
    }
}
