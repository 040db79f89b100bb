//! Filter benchmark: seeds a project with many runs (traces of a root and four children, with
//! assistant metadata, tags, errors and user feedback on a share of the roots) through the
//! multipart ingest endpoint, then times `POST /runs/query` (first page of 100) and
//! `POST /runs/stats` for a fixed set of filters and prints p50/p99 per filter.
//!
//! `loopsmith-filter-bench --url http://127.0.0.1:1984 --runs 1000000 [--iterations 30]
//! [--skip-seed]`

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use loopsmith_bench::{close, part, percentile, post_json, send_multipart};

const PROJECT: &str = "filter-bench";
const ASSISTANTS: u64 = 20;
const RUNS_PER_REQUEST: usize = 1000;

struct Options {
    url: String,
    runs: usize,
    iterations: usize,
    seed: bool,
}

fn parse_args() -> Options {
    let mut options = Options {
        url: "http://127.0.0.1:1984".into(),
        runs: 1_000_000,
        iterations: 30,
        seed: true,
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
            "--iterations" => {
                options.iterations = value().parse().expect("--iterations takes a number")
            }
            "--skip-seed" => options.seed = false,
            other => panic!("unknown flag {other}"),
        }
    }
    options
}

/// Small deterministic generator: the same data every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One request's worth of traces. Start times spread over the last 30 days.
fn batch(rng: &mut Rng, runs: usize, now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let mut out = Vec::with_capacity(runs * 900);
    let mut made = 0;
    while made < runs {
        let start = now - chrono::Duration::seconds(rng.below(30 * 86_400) as i64);
        let root = Uuid::now_v7();
        let assistant = format!("A{}", rng.below(ASSISTANTS));
        let segment = |id: &Uuid, offset_ms: i64| {
            let t = start + chrono::Duration::milliseconds(offset_ms);
            format!("{}{}", t.format("%Y%m%dT%H%M%S%6fZ"), id)
        };
        let root_order = segment(&root, 0);
        let trace_len = (runs - made).min(5);
        let latency_ms = 100 + rng.below(10_000) as i64;
        for i in 0..trace_len {
            let (id, order, parent, run_type) = if i == 0 {
                (root, root_order.clone(), None, "chain")
            } else {
                let id = Uuid::now_v7();
                let order = format!("{root_order}.{}", segment(&id, i as i64));
                let run_type = if i % 2 == 1 { "llm" } else { "tool" };
                (id, order, Some(root), run_type)
            };
            let t = |ms: i64| (start + chrono::Duration::milliseconds(ms)).to_rfc3339();
            let mut tags = vec!["prod"];
            if rng.below(10) == 0 {
                tags.push("beta");
            }
            let mut post = json!({
                "id": id, "trace_id": root, "dotted_order": order, "parent_run_id": parent,
                "name": format!("{run_type}-{i}"), "run_type": run_type,
                "start_time": t(i as i64), "end_time": t(i as i64 + latency_ms / (i as i64 + 1)),
                "session_name": PROJECT, "tags": tags,
                "inputs": {"messages": [{"role": "user", "content": format!("question {} about city {}", rng.below(1000), rng.below(500))}]},
                "outputs": {"content": "an answer of moderate length for the benchmark"},
                "extra": {"metadata": {"assistant_id": assistant, "ls_run_depth": i.min(1)}},
            });
            if rng.below(50) == 0 {
                post["error"] = json!("TimeoutError('upstream')");
            }
            if run_type == "llm" {
                post["prompt_tokens"] = json!(20 + rng.below(400));
                post["completion_tokens"] = json!(10 + rng.below(200));
            }
            part(&mut out, &format!("post.{id}"), &post.to_string());
        }
        // Three roots in ten get a thumbs up or down from their user.
        if rng.below(10) < 3 {
            let score = if rng.below(10) < 6 { 1 } else { 0 };
            let id = Uuid::new_v4();
            part(
                &mut out,
                &format!("feedback.{id}"),
                &json!({"id": id, "run_id": root, "trace_id": root, "key": "user_score", "score": score})
                    .to_string(),
            );
        }
        made += trace_len;
    }
    close(&mut out);
    out
}

async fn seed(client: &reqwest::Client, options: &Options) {
    let started = Instant::now();
    let now = chrono::Utc::now();
    let requests = options.runs.div_ceil(RUNS_PER_REQUEST);
    let mut rng = Rng(0x0b5e_55ed_f00d_0001);
    let bodies: Vec<Vec<u8>> = (0..requests)
        .map(|i| {
            batch(
                &mut rng,
                RUNS_PER_REQUEST.min(options.runs - i * RUNS_PER_REQUEST),
                now,
            )
        })
        .collect();
    send_multipart(client, &options.url, bodies, 4).await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "seeded {} runs in {seconds:.1} s ({:.0} runs/s)",
        options.runs,
        options.runs as f64 / seconds
    );
}

#[tokio::main]
async fn main() {
    let options = parse_args();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("http client");
    if options.seed {
        seed(&client, &options).await;
    }
    let projects = client
        .get(format!("{}/sessions?name={PROJECT}", options.url))
        .send()
        .await
        .expect("project lookup")
        .json::<Value>()
        .await
        .expect("project JSON");
    let project = projects[0]["id"]
        .as_str()
        .expect("the bench project exists")
        .to_string();
    let liked_by_assistant = r#"and(eq(is_root, true), eq(metadata_key, "assistant_id"), eq(metadata_value, "A7"), eq(feedback_key, "user_score"), eq(feedback_score, 1))"#;
    let cases: Vec<(&str, Value)> = vec![
        (
            "feedback + metadata + is_root (the rule filter)",
            json!({"filter": liked_by_assistant}),
        ),
        (
            "feedback pair",
            json!({"filter": r#"and(eq(feedback_key, "user_score"), eq(feedback_score, 0))"#}),
        ),
        (
            "metadata pair",
            json!({"filter": r#"and(eq(metadata_key, "assistant_id"), eq(metadata_value, "A3"))"#}),
        ),
        (
            "root runs with a tag",
            json!({"is_root": true, "filter": r#"has(tags, "beta")"#}),
        ),
        (
            "slow llm runs",
            json!({"filter": r#"and(eq(run_type, "llm"), gt(latency, "4s"))"#}),
        ),
        ("errors", json!({"filter": "neq(error, null)"})),
        (
            "llm runs of liked traces (trace_filter)",
            json!({"filter": r#"eq(name, "llm-1")"#, "trace_filter": r#"and(eq(feedback_key, "user_score"), eq(feedback_score, 1))"#}),
        ),
        (
            "full-text search, rare term",
            json!({"filter": r#"search("city 499")"#}),
        ),
    ];
    println!(
        "{:<48} {:>8} {:>9} {:>9}",
        "query (first page of 100, newest first)", "returned", "p50 ms", "p99 ms"
    );
    for (label, mut body) in cases {
        body["session"] = json!([project]);
        body["limit"] = json!(100);
        let url = format!("{}/runs/query", options.url);
        time(&client, label, &url, &body, options.iterations, |answer| {
            answer["runs"].as_array().map_or(0, Vec::len)
        })
        .await;
    }
    let stats_body = json!({"session": [project], "filter": liked_by_assistant});
    time(
        &client,
        "/runs/stats, the rule filter",
        &format!("{}/runs/stats", options.url),
        &stats_body,
        options.iterations.min(10),
        |answer| answer["run_count"].as_u64().unwrap_or(0) as usize,
    )
    .await;
}

async fn time(
    client: &reqwest::Client,
    label: &str,
    url: &str,
    body: &Value,
    iterations: usize,
    count: impl Fn(&Value) -> usize,
) {
    // One warm-up request, not timed.
    let answer = post_json(client, url, body).await;
    let mut timings = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let sent = Instant::now();
        post_json(client, url, body).await;
        timings.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    timings.sort_by(f64::total_cmp);
    println!(
        "{label:<48} {:>8} {:>9.1} {:>9.1}",
        count(&answer),
        percentile(&timings, 0.5),
        percentile(&timings, 0.99)
    );
}
