//! Ingest benchmark for loopsmith: drives `POST {url}/runs/multipart` with multipart batches laid
//! out the way the Python LangSmith SDK sends them, prints throughput and request latencies, then
//! checks that every acknowledged run was stored (`GET /sessions?name=..&include_stats=true`).
//!
//! A benchmark, not a test: it asserts nothing about timing. It exits non-zero only when the
//! durability check fails (or on bad arguments / an unreachable server).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

/// 429/503 answers one batch may get before the bench gives up on it (each waits Retry-After).
const MAX_REFUSALS_PER_BATCH: u32 = 60;
/// Transport errors (reset, timeout) one batch may get before the bench gives up on it.
const MAX_TRANSPORT_ERRORS_PER_BATCH: u32 = 3;
/// Runs per trace: one root chain and its children.
const TRACE_LEN: usize = 5;

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
        project: format!("bench-{}", Uuid::new_v4().simple()),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (flag, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--url" => options.url = value().trim_end_matches('/').to_string(),
            "--concurrency" => options.concurrency = number(&value()),
            "--batches" => options.batches = number(&value()),
            "--runs-per-batch" => options.runs_per_batch = number(&value()),
            "--project" => options.project = value(),
            "--zstd" => options.zstd = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    if options.concurrency == 0 || options.batches == 0 || options.runs_per_batch == 0 {
        usage("--concurrency, --batches and --runs-per-batch must be at least 1");
    }
    options
}

const USAGE: &str = "usage: loopsmith-bench [--url URL] [--concurrency N] [--batches N] \
     [--runs-per-batch N] [--zstd] [--project NAME]\n\
     defaults: --url http://127.0.0.1:1984 --concurrency 8 --batches 200 --runs-per-batch 100, \
     no compression, a fresh project name";

fn number(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("{text:?} is not a number")))
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\n{USAGE}");
    std::process::exit(2)
}

// ---------------------------------------------------------------------------------------------
// Bodies

/// Appends one part the way requests_toolbelt's MultipartEncoder writes the SDK's
/// `(None, data, "application/json", {"Content-Length": n})` tuples.
fn part(out: &mut Vec<u8>, boundary: &str, name: &str, body: &[u8]) {
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

/// `2026-11-24T10:35:54.123456+00:00`, as the SDK's orjson writes an aware datetime.
fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// One dotted_order segment: start time then the run id.
fn segment(t: DateTime<Utc>, id: &Uuid) -> String {
    format!("{}{}", t.format("%Y%m%dT%H%M%S%6fZ"), id)
}

/// Tiny deterministic generator so payloads vary (zstd must not see one repeated string) while
/// runs stay reproducible in shape.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn sentence(&mut self, words: usize) -> String {
        const WORDS: &[&str] = &[
            "the",
            "agent",
            "retrieves",
            "documents",
            "about",
            "invoice",
            "customer",
            "refund",
            "policy",
            "shipping",
            "order",
            "status",
            "summary",
            "weather",
            "forecast",
            "Paris",
            "Berlin",
            "calendar",
            "meeting",
            "tomorrow",
            "latency",
            "database",
            "index",
            "query",
            "answer",
            "briefly",
            "explain",
            "reasoning",
            "tool",
            "result",
            "search",
            "account",
        ];
        let mut s = String::new();
        for i in 0..words {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.pick(WORDS));
        }
        s
    }
}

/// One batch of `runs` runs: traces of a root chain and four children (llm, tool, llm, tool),
/// like an agent turn; the last trace is cut short when `runs` is not a multiple of 5.
fn batch(runs: usize, project: &str, boundary: &str, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(runs * 1600);
    let mut made = 0;
    let mut trace_index = 0u64;
    while made < runs {
        let start = Utc::now() - chrono::Duration::seconds(5);
        let root = Uuid::now_v7();
        let root_order = segment(start, &root);
        let trace_len = (runs - made).min(TRACE_LEN);
        let question = rng.sentence(12);
        for i in 0..trace_len {
            let (id, run_start, run_end, order, parent, run_type, name) = if i == 0 {
                let end = start + chrono::Duration::milliseconds(1200);
                (
                    root,
                    start,
                    end,
                    root_order.clone(),
                    None,
                    "chain",
                    "AgentExecutor".to_string(),
                )
            } else {
                let id = Uuid::now_v7();
                let child_start = start + chrono::Duration::microseconds(i as i64 * 230_017);
                let child_end = child_start + chrono::Duration::microseconds(180_000);
                let (run_type, name) = if i % 2 == 1 {
                    ("llm", "ChatOpenAI")
                } else {
                    (
                        "tool",
                        rng.pick(&["search", "calculator", "lookup_order", "get_weather"]),
                    )
                };
                (
                    id,
                    child_start,
                    child_end,
                    format!("{root_order}.{}", segment(child_start, &id)),
                    Some(root),
                    run_type,
                    name.to_string(),
                )
            };
            let post = json!({
                "id": id,
                "trace_id": root,
                "dotted_order": order,
                "parent_run_id": parent,
                "name": name,
                "run_type": run_type,
                "start_time": iso(run_start),
                "end_time": iso(run_end),
                "session_name": project,
            });
            let (inputs, outputs) = match run_type {
                "llm" => (
                    json!({"messages": [[
                        {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "SystemMessage"],
                         "kwargs": {"content": "You are a helpful assistant. Use tools when needed.", "type": "system"}},
                        {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "HumanMessage"],
                         "kwargs": {"content": question, "type": "human"}}
                    ]]}),
                    json!({"generations": [[{"text": rng.sentence(20), "type": "ChatGeneration"}]],
                           "llm_output": {"token_usage": {"prompt_tokens": 40 + rng.next() % 200,
                                          "completion_tokens": 10 + rng.next() % 90},
                                          "model_name": "gpt-4o-mini"}}),
                ),
                "tool" => (
                    json!({"input": rng.sentence(8), "trace": trace_index}),
                    json!({"output": rng.sentence(30)}),
                ),
                _ => (
                    json!({"input": question, "chat_history": [], "trace": trace_index}),
                    json!({"output": rng.sentence(25)}),
                ),
            };
            let extra = json!({
                "metadata": {"assistant_id": "a1", "ls_run_depth": if i == 0 { 0 } else { 1 },
                             "thread_id": format!("thread-{}", rng.next() % 50)},
                "runtime": {"sdk": "langsmith-py", "sdk_version": "0.10.5", "library": "langsmith",
                            "platform": "Linux-6.1.0-x86_64-with-glibc2.36", "runtime": "python",
                            "py_implementation": "CPython", "runtime_version": "3.11.7"},
            });
            part(
                &mut out,
                boundary,
                &format!("post.{id}"),
                post.to_string().as_bytes(),
            );
            part(
                &mut out,
                boundary,
                &format!("post.{id}.inputs"),
                inputs.to_string().as_bytes(),
            );
            part(
                &mut out,
                boundary,
                &format!("post.{id}.outputs"),
                outputs.to_string().as_bytes(),
            );
            part(
                &mut out,
                boundary,
                &format!("post.{id}.extra"),
                extra.to_string().as_bytes(),
            );
        }
        made += trace_len;
        trace_index += 1;
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

// ---------------------------------------------------------------------------------------------
// Sending

#[derive(Default)]
struct WorkerReport {
    /// Every HTTP exchange that got an answer, retries included.
    latencies: Vec<Duration>,
    /// Status code -> count, for every non-2xx answer.
    non_2xx: BTreeMap<u16, usize>,
    transport_errors: usize,
    /// Batches that never got a 2xx.
    lost_batches: usize,
    /// First few error answers, to print.
    samples: Vec<String>,
}

async fn worker(
    client: reqwest::Client,
    url: String,
    content_type: String,
    zstd: bool,
    bodies: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = bodies.get(index) else { break };
        let (mut refusals, mut transport_errors) = (0u32, 0u32);
        loop {
            let mut request = client
                .post(&url)
                .header("content-type", &content_type)
                .header("accept", "application/json")
                .body(body.clone());
            if zstd {
                request = request.header("content-encoding", "zstd");
            }
            let sent = Instant::now();
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    report.transport_errors += 1;
                    transport_errors += 1;
                    if report.samples.len() < 5 {
                        report
                            .samples
                            .push(format!("batch {index}: transport error: {e}"));
                    }
                    if transport_errors >= MAX_TRANSPORT_ERRORS_PER_BATCH {
                        report.lost_batches += 1;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0);
            let text = response.bytes().await;
            report.latencies.push(sent.elapsed());
            if (200..300).contains(&status) {
                break;
            }
            *report.non_2xx.entry(status).or_default() += 1;
            if report.samples.len() < 5 {
                let body = text
                    .map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
                    .unwrap_or_default();
                report.samples.push(format!(
                    "batch {index}: HTTP {status} retry-after={retry_after:?}: {body}"
                ));
            }
            if status == 429 || status == 503 {
                refusals += 1;
                if refusals >= MAX_REFUSALS_PER_BATCH {
                    report.lost_batches += 1;
                    break;
                }
                let wait = retry_after.unwrap_or(1.0).min(30.0);
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                continue;
            }
            // Any other status is final for this batch (the SDK would drop it too).
            report.lost_batches += 1;
            break;
        }
    }
    report
}

/// Nearest-rank percentile in milliseconds.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64) * q).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Polls the project's stats until `run_count` reaches `expected` or 10 s pass; returns the
/// last count seen (None when the project was never found) and what the server said last.
async fn stored_runs(
    client: &reqwest::Client,
    options: &Options,
    expected: usize,
) -> (Option<u64>, String) {
    let url = format!(
        "{}/sessions?name={}&include_stats=true",
        options.url,
        percent_encode(&options.project)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = (None, String::new());
    loop {
        match client.get(&url).send().await {
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
                let count = parsed.as_ref().and_then(|v| {
                    v.as_array()?
                        .iter()
                        .find(|s| s["name"] == options.project.as_str())?["run_count"]
                        .as_u64()
                });
                last = (
                    count,
                    format!("HTTP {status}: {}", &text[..text.len().min(300)]),
                );
                if count == Some(expected as u64) {
                    return last;
                }
            }
            Err(e) => last.1 = format!("transport error: {e}"),
        }
        if Instant::now() >= deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// One thread drives every connection: the bodies are pre-built, so sending is cheap, and the
// server under test keeps the machine's other cores.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = parse_args();
    // The SDK draws one boundary per process: uuid4().hex.
    let boundary = Uuid::new_v4().simple().to_string();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let build_started = Instant::now();
    let mut raw_bytes = 0usize;
    let bodies: Vec<Bytes> = (0..options.batches)
        .map(|_| {
            let raw = batch(
                options.runs_per_batch,
                &options.project,
                &boundary,
                &mut rng,
            );
            raw_bytes += raw.len();
            if options.zstd {
                Bytes::from(zstd::encode_all(&raw[..], 1).expect("zstd"))
            } else {
                Bytes::from(raw)
            }
        })
        .collect();
    let sent_bytes: usize = bodies.iter().map(Bytes::len).sum();
    let runs = options.batches * options.runs_per_batch;
    println!(
        "loopsmith-bench: {} project={} runs={runs} batches={} runs_per_batch={} concurrency={} \
         zstd={} body_mb={:.1} sent_mb={:.1} (bodies built in {:.1} s)",
        options.url,
        options.project,
        options.batches,
        options.runs_per_batch,
        options.concurrency,
        options.zstd,
        raw_bytes as f64 / 1e6,
        sent_bytes as f64 / 1e6,
        build_started.elapsed().as_secs_f64()
    );

    // Keep-alive HTTP/1.1 (reqwest is built without http2): one pooled connection per worker.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(120))
        .build()
        .expect("http client");
    // Fail fast, before timing, if nothing listens there.
    if let Err(e) = client.get(format!("{}/readyz", options.url)).send().await {
        eprintln!("cannot reach {}: {e}", options.url);
        std::process::exit(2);
    }

    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/runs/multipart", options.url);
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency.min(options.batches))
        .map(|_| {
            tokio::spawn(worker(
                client.clone(),
                url.clone(),
                content_type.clone(),
                options.zstd,
                bodies.clone(),
                next.clone(),
            ))
        })
        .collect();
    let mut total = WorkerReport::default();
    for w in workers {
        let r = w.await.expect("worker");
        total.latencies.extend(r.latencies);
        for (status, n) in r.non_2xx {
            *total.non_2xx.entry(status).or_default() += n;
        }
        total.transport_errors += r.transport_errors;
        total.lost_batches += r.lost_batches;
        total.samples.extend(r.samples);
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.latencies.sort();
    let accepted_runs = (options.batches - total.lost_batches) * options.runs_per_batch;
    let lat = &total.latencies;
    let non_2xx = if total.non_2xx.is_empty() {
        "none".to_string()
    } else {
        total
            .non_2xx
            .iter()
            .map(|(s, n)| format!("{s}x{n}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "  runs={runs} seconds={elapsed:.2} runs/s={:.0} requests/s={:.1} MB/s={:.1}",
        accepted_runs as f64 / elapsed,
        options.batches as f64 / elapsed,
        sent_bytes as f64 / 1e6 / elapsed,
    );
    println!(
        "  latency_ms p50={:.1} p90={:.1} p99={:.1} max={:.1} (over {} HTTP exchanges)",
        percentile(lat, 0.50),
        percentile(lat, 0.90),
        percentile(lat, 0.99),
        percentile(lat, 1.0),
        lat.len()
    );
    println!(
        "  non_2xx={non_2xx} transport_errors={} lost_batches={}",
        total.transport_errors, total.lost_batches
    );
    for sample in &total.samples {
        println!("  sample: {sample}");
    }

    // Durability: every run sent must be counted in the project.
    let (count, said) = stored_runs(&client, &options, runs).await;
    let pass = count == Some(runs as u64);
    println!(
        "  durability {}: run_count={} expected={runs}{}",
        if pass { "PASS" } else { "FAIL" },
        count.map_or("none".to_string(), |c| c.to_string()),
        if pass {
            String::new()
        } else {
            format!(" (server said {said})")
        }
    );
    // One machine-readable line for run.sh's summary table.
    println!(
        "RESULT concurrency={} zstd={} runs={runs} seconds={elapsed:.2} runs_per_s={:.0} \
         requests_per_s={:.1} p50_ms={:.1} p90_ms={:.1} p99_ms={:.1} max_ms={:.1} non_2xx={non_2xx} \
         transport_errors={} durability={}",
        options.concurrency,
        options.zstd,
        accepted_runs as f64 / elapsed,
        options.batches as f64 / elapsed,
        percentile(lat, 0.50),
        percentile(lat, 0.90),
        percentile(lat, 0.99),
        percentile(lat, 1.0),
        total.transport_errors,
        if pass { "PASS" } else { "FAIL" }
    );
    if !pass {
        std::process::exit(1);
    }
}
