//! Rule benchmark, two measurements against a running server:
//!
//! 1. Feedback → example latency: a rule that adds thumbs-up root runs to a dataset; finished
//!    root runs are ingested first, then one thumbs-up per run arrives through `POST /feedback`
//!    at a steady rate while a poller lists the dataset's new examples every ~5 ms. Latency is
//!    measured from the moment the feedback's 200 arrived (it is committed then) to the
//!    example's `created_at` (on the same machine clock; the server sets it when the worker's
//!    step begins, before the example commits) and to the poll that first saw the example (an
//!    upper bound on when it became visible).
//! 2. Backfill throughput: runs (half thumbs-up) are ingested into a fresh project, then the same
//!    rule is created with `backfill_from` before all of them; the bench waits for
//!    `backfill_status == "done"` and checks one example per liked run.
//!
//! `loopsmith-rules-bench --url http://127.0.0.1:1984 [--runs 1000] [--rate 20]
//! [--backfill-runs 100000]`

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use loopsmith_bench::{close, get_json, part, post_json, send_multipart};

const THUMBS_UP: &str =
    r#"and(eq(is_root, true), eq(feedback_key, "thumbs"), eq(feedback_score, 1))"#;
const POLL_EVERY: Duration = Duration::from_millis(5);

struct Options {
    url: String,
    runs: usize,
    rate: f64,
    backfill_runs: usize,
}

fn parse_args() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:1984".into(),
        runs: 1000,
        rate: 20.0,
        backfill_runs: 100_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--url" => options.url = value(),
            "--runs" => options.runs = value().parse().expect("--runs takes a number"),
            "--rate" => options.rate = value().parse().expect("--rate takes a number"),
            "--backfill-runs" => {
                options.backfill_runs = value().parse().expect("--backfill-runs takes a number")
            }
            other => panic!("unknown flag {other}"),
        }
    }
    options
}

/// A finished root run (a trace of one) and, when given, a thumbs feedback part with that score.
struct Run {
    id: Uuid,
    start: DateTime<Utc>,
    thumbs: Option<u8>,
}

fn multipart_body(runs: &[Run], project: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(runs.len() * 700);
    for run in runs {
        let id = run.id;
        let t = |ms: i64| (run.start + chrono::Duration::milliseconds(ms)).to_rfc3339();
        let post = json!({
            "id": id, "trace_id": id, "name": "answer", "run_type": "chain",
            "dotted_order": format!("{}{id}", run.start.format("%Y%m%dT%H%M%S%6fZ")),
            "start_time": t(0), "end_time": t(250), "session_name": project,
            "inputs": {"question": "What is the capital of France?"},
            "outputs": {"answer": "Paris"},
        });
        part(&mut out, &format!("post.{id}"), &post.to_string());
        if let Some(score) = run.thumbs {
            let feedback = Uuid::now_v7();
            part(
                &mut out,
                &format!("feedback.{feedback}"),
                &json!({"id": feedback, "run_id": id, "key": "thumbs", "score": score}).to_string(),
            );
        }
    }
    close(&mut out);
    out
}

/// A fresh project and dataset: `[project id, dataset id, project name]`.
async fn project_and_dataset(client: &reqwest::Client, url: &str, name: &str) -> [String; 3] {
    let name = format!("{name}-{}", &Uuid::now_v7().simple().to_string()[20..]);
    let session = post_json(client, &format!("{url}/sessions"), &json!({"name": name})).await;
    let dataset = post_json(client, &format!("{url}/datasets"), &json!({"name": name})).await;
    let id = |v: &Value| v["id"].as_str().expect("id").to_string();
    [id(&session), id(&dataset), name]
}

/// A rule adding the project's thumbs-up root runs to the dataset.
async fn create_rule(
    client: &reqwest::Client,
    url: &str,
    [session, dataset, name]: &[String; 3],
    backfill_from: Option<String>,
) -> Value {
    let rule = json!({
        "display_name": name, "session_id": session, "sampling_rate": 1.0,
        "filter": THUMBS_UP, "add_to_dataset_id": dataset, "backfill_from": backfill_from,
    });
    post_json(client, &format!("{url}/runs/rules"), &rule).await
}

/// Ingests the runs in requests of `per_request` runs and prints the rate.
async fn ingest_runs(
    client: &reqwest::Client,
    url: &str,
    project: &str,
    runs: &[Run],
    per_request: usize,
) {
    let started = Instant::now();
    let bodies = runs
        .chunks(per_request)
        .map(|chunk| multipart_body(chunk, project))
        .collect();
    send_multipart(client, url, bodies, 4).await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ingested {} runs in {seconds:.1} s ({:.0} runs/s)",
        runs.len(),
        runs.len() as f64 / seconds
    );
}

/// When the poller first saw an example of a run, and the example's `created_at`.
struct Seen {
    observed: DateTime<Utc>,
    created: DateTime<Utc>,
}

/// Lists the dataset's examples as they appear (oldest first) until `expected` are seen or the
/// deadline passes.
async fn poll_examples(
    client: reqwest::Client,
    url: String,
    expected: usize,
    deadline: Instant,
) -> HashMap<String, Seen> {
    let mut seen = HashMap::new();
    let mut offset = 0;
    while seen.len() < expected && Instant::now() < deadline {
        let page = get_json(&client, &format!("{url}&limit=100&offset={offset}")).await;
        let observed = Utc::now();
        let page = page.as_array().expect("example list");
        offset += page.len();
        for example in page {
            let run = example["source_run_id"].as_str().expect("source_run_id");
            let created = example["created_at"].as_str().expect("created_at");
            seen.entry(run.to_string()).or_insert(Seen {
                observed,
                created: created.parse().expect("created_at is a date-time"),
            });
        }
        if page.len() < 100 {
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
    seen
}

/// Milliseconds from `from` to `to` (negative when `to` is earlier).
fn ms(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().expect("a short interval") as f64 / 1000.0
}

fn print_latencies(label: &str, mut values: Vec<f64>) {
    if values.is_empty() {
        println!("{label:<44} (none)");
        return;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<44} {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
        values.len(),
        at(0.0),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

async fn latency(client: &reqwest::Client, options: &Options) {
    let url = &options.url;
    println!(
        "-- feedback → example: {} runs, one thumbs-up each at {}/s",
        options.runs, options.rate
    );
    let now = Utc::now();
    let runs: Vec<Run> = (0..options.runs)
        .map(|i| Run {
            id: Uuid::now_v7(),
            start: now + chrono::Duration::milliseconds(i as i64),
            thumbs: None,
        })
        .collect();
    let project = project_and_dataset(client, url, "rules-latency").await;
    create_rule(client, url, &project, None).await;
    ingest_runs(client, url, &project[2], &runs, 100).await;
    let dataset = &project[1];
    // Let the worker evaluate the ingested traces (no match without feedback) first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let examples_url = format!("{url}/examples?dataset={dataset}");
    let sending = Duration::from_secs_f64(options.runs as f64 / options.rate);
    let poller = tokio::spawn(poll_examples(
        client.clone(),
        examples_url.clone(),
        runs.len(),
        Instant::now() + sending + Duration::from_secs(60),
    ));
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate));
    let mut senders = tokio::task::JoinSet::new();
    for run in &runs {
        ticks.tick().await;
        let (client, url, run_id) = (client.clone(), format!("{url}/feedback"), run.id);
        senders.spawn(async move {
            let sent = Utc::now();
            let body = json!({"id": Uuid::now_v7(), "run_id": run_id, "key": "thumbs", "score": 1});
            post_json(&client, &url, &body).await;
            (run_id.to_string(), sent, Utc::now())
        });
    }
    let acks = senders.join_all().await;
    let seen = poller.await.expect("poller");
    let mut request = Vec::new();
    let mut created = Vec::new();
    let mut observed = Vec::new();
    for (run, sent, acked) in &acks {
        request.push(ms(*sent, *acked));
        if let Some(example) = seen.get(run) {
            created.push(ms(*acked, example.created));
            observed.push(ms(*acked, example.observed));
        }
    }
    println!(
        "{:<44} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "ms", "count", "min", "p50", "p90", "p99", "max"
    );
    print_latencies("POST /feedback (send → 200)", request);
    print_latencies("feedback 200 → example created_at", created);
    print_latencies("feedback 200 → example seen by the poller", observed);
    // Every example, listed again from the start: one per run, no more.
    let mut sources = Vec::new();
    loop {
        let page = get_json(
            client,
            &format!("{examples_url}&limit=100&offset={}", sources.len()),
        )
        .await;
        let page = page.as_array().expect("example list");
        sources.extend(
            page.iter()
                .map(|e| e["source_run_id"].as_str().map(str::to_string)),
        );
        if page.len() < 100 {
            break;
        }
    }
    let ours: HashSet<Option<String>> = runs.iter().map(|r| Some(r.id.to_string())).collect();
    let distinct: HashSet<Option<String>> = sources.iter().cloned().collect();
    let ok = sources.len() == runs.len() && distinct == ours;
    println!(
        "examples: {} listed, {} distinct source runs, of {} runs liked: {}",
        sources.len(),
        distinct.len(),
        runs.len(),
        verdict(ok)
    );
}

async fn backfill(client: &reqwest::Client, options: &Options) {
    let url = &options.url;
    let count = options.backfill_runs;
    println!("-- backfill: {count} runs, half with a thumbs-up, half with a thumbs-down");
    let base = Utc::now() - chrono::Duration::hours(1);
    let runs: Vec<Run> = (0..count)
        .map(|i| Run {
            id: Uuid::now_v7(),
            start: base + chrono::Duration::milliseconds(i as i64),
            thumbs: Some(if i % 2 == 0 { 1 } else { 0 }),
        })
        .collect();
    let liked = count.div_ceil(2);
    let from = (base - chrono::Duration::minutes(1)).to_rfc3339();
    let project = project_and_dataset(client, url, "rules-backfill").await;
    ingest_runs(client, url, &project[2], &runs, 1000).await;
    let started = Instant::now();
    let rule = create_rule(client, url, &project, Some(from)).await;
    let rule_url = format!(
        "{url}/runs/rules?id={}",
        rule["id"].as_str().expect("rule id")
    );
    while get_json(client, &rule_url).await[0]["backfill_status"] != "done" {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "backfill of {count} runs done in {seconds:.1} s: {:.0} runs evaluated/s",
        count as f64 / seconds
    );
    let examples =
        get_json(client, &format!("{url}/datasets/{}", project[1])).await["example_count"]
            .as_u64()
            .expect("example_count") as usize;
    println!(
        "examples: {examples} created, {liked} runs liked: {}",
        verdict(examples == liked)
    );
}

#[tokio::main]
async fn main() {
    let options = parse_args();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("http client");
    latency(&client, &options).await;
    backfill(&client, &options).await;
}
