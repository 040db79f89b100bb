//! Exactly once under failure: a server killed with SIGKILL in the middle of a backfill and
//! restarted, and two replicas on one PostgreSQL working on the same rules, still put every
//! matching run in the dataset exactly once.

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use common::{Backend, Multipart, TestServer, iso, segment, send};

/// Past turns seeded before the rule exists: every other one liked.
const SEEDED: usize = 3_000;

#[test]
fn sqlite_backfill_survives_kill_9() {
    backfill_survives_kill_9(Backend::Sqlite);
}

#[test]
fn postgres_backfill_survives_kill_9() {
    backfill_survives_kill_9(Backend::Postgres);
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Posts `count` finished root runs (every other one with a thumbs-up) in batches of 100;
/// returns the ids of the liked ones.
fn seed(server: &TestServer, project: &str, count: usize, offset: i64) -> Vec<String> {
    let mut liked = Vec::new();
    for chunk in 0..count.div_ceil(100) {
        let mut body = Multipart::new();
        for i in 0..100.min(count - chunk * 100) {
            let n = (chunk * 100 + i) as i64;
            let id = Uuid::now_v7();
            let at = offset + n;
            body = body.json(
                &format!("post.{id}"),
                &json!({"id": id, "trace_id": id, "dotted_order": segment(at, &id),
                        "name": "turn", "run_type": "chain", "start_time": iso(at),
                        "end_time": iso(at + 1), "session_name": project,
                        "inputs": {"n": n}, "outputs": {"ok": true}}),
            );
            if n % 2 == 0 {
                let feedback = Uuid::now_v7();
                body = body.json(
                    &format!("feedback.{feedback}"),
                    &json!({"id": feedback, "run_id": id, "key": "thumbs", "score": 1}),
                );
                liked.push(id.to_string());
            }
        }
        let (status, answer) = server.post_multipart(&body);
        assert_eq!(status, 202, "{answer}");
    }
    liked
}

/// The source runs of every example in the dataset, read page by page.
fn example_sources(base: &str, dataset: &str) -> Vec<String> {
    let client = reqwest::blocking::Client::new();
    let mut sources = Vec::new();
    loop {
        let (status, page) = send(client.get(format!(
            "{base}/examples?dataset={dataset}&limit=100&offset={}",
            sources.len()
        )));
        assert_eq!(status, 200, "{page}");
        let page = page.as_array().unwrap().clone();
        if page.is_empty() {
            return sources;
        }
        sources.extend(
            page.iter()
                .map(|e| e["source_run_id"].as_str().unwrap().to_string()),
        );
    }
}

fn assert_exactly_once(sources: &[String], liked: &[String]) {
    let distinct: HashSet<&String> = sources.iter().collect();
    assert_eq!(distinct.len(), sources.len(), "an example appears twice");
    let expected: HashSet<&String> = liked.iter().collect();
    assert_eq!(
        distinct, expected,
        "the dataset holds exactly the liked runs"
    );
}

/// The server binary as a child process on `database_url`, answering on a free port.
struct Process {
    child: Child,
    url: String,
}

impl Process {
    fn start(database_url: &str) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_loopsmith"))
            .env("LOOPSMITH_BIND", format!("127.0.0.1:{port}"))
            .env("LOOPSMITH_DATABASE_URL", database_url)
            // Small pages: many commits, so the kill lands between two of them.
            .env("LOOPSMITH_RULE_BACKFILL_PAGE", "20")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server binary starts");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::blocking::Client::new();
        wait_for("the server to answer", Duration::from_secs(20), || {
            client
                .get(format!("{url}/healthz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
        });
        Process { child, url }
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) =
            send(reqwest::blocking::Client::new().get(format!("{}{path}", self.url)));
        assert_eq!(status, 200, "{body}");
        body
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn backfill_survives_kill_9(backend: Backend) {
    let Some(mut seeder) = TestServer::start(backend) else {
        eprintln!("skipped: LOOPSMITH_TEST_POSTGRES_URL is not set");
        return;
    };
    let (_, project) = seeder.post_json("/sessions", &json!({"name": "crash"}));
    let (_, dataset) = seeder.post_json("/datasets", &json!({"name": "crash shots"}));
    let liked = seed(&seeder, "crash", SEEDED, 0);
    // The seeding server stops; the database (and its files) stay for the processes below.
    seeder.stop();
    let database_url = seeder.database_url.clone();

    let first = Process::start(&database_url);
    let (status, rule) = send(
        reqwest::blocking::Client::new()
            .post(format!("{}/runs/rules", first.url))
            .json(
                &json!({"display_name": "liked", "session_id": project["id"],
                          "sampling_rate": 1.0, "add_to_dataset_id": dataset["id"],
                          "filter": r#"and(eq(feedback_key, "thumbs"), eq(feedback_score, 1))"#,
                          "backfill_from": iso(0)}),
            ),
    );
    assert_eq!(status, 200, "{rule}");
    let rule_path = format!("/runs/rules?id={}", rule["id"].as_str().unwrap());
    let progress = |process: &Process| process.get(&rule_path)[0]["backfill_progress"].as_f64();
    wait_for("the backfill to start", Duration::from_secs(30), || {
        progress(&first).is_some_and(|p| p > 0.0)
    });
    let mut first = first;
    first.child.kill().expect("SIGKILL");
    first.child.wait().unwrap();
    let killed_at = progress_after_kill(&database_url);
    eprintln!("killed at backfill progress {killed_at:.3}");
    assert!(
        killed_at < 1.0,
        "killed before the backfill ended ({killed_at})"
    );

    let second = Process::start(&database_url);
    wait_for("the backfill to finish", Duration::from_secs(120), || {
        second.get(&rule_path)[0]["backfill_status"] == "done"
    });
    let sources = example_sources(&second.url, dataset["id"].as_str().unwrap());
    assert_exactly_once(&sources, &liked);
    let logs = second.get(&format!(
        "/runs/rules/{}/logs?limit=1440",
        rule["id"].as_str().unwrap()
    ));
    assert_eq!(logs.as_array().unwrap().len(), liked.len().min(1440));
}

/// The backfill's progress as the killed server left it, read straight from the database
/// (what the restart resumes from).
fn progress_after_kill(database_url: &str) -> f64 {
    use diesel::prelude::*;
    use loopsmith::db::schema::run_rules;
    let config = loopsmith::config::Config::from_lookup(|k| {
        (k == "LOOPSMITH_DATABASE_URL").then(|| database_url.to_string())
    })
    .unwrap();
    let mut conn =
        diesel::r2d2::ManageConnection::connect(&loopsmith::db::Manager::new(&config).unwrap())
            .unwrap();
    let (evaluated, total): (i64, Option<i64>) = run_rules::table
        .select((run_rules::backfill_evaluated, run_rules::backfill_total))
        .first(&mut conn)
        .unwrap();
    evaluated as f64 / total.unwrap_or(1).max(1) as f64
}

#[test]
fn replicas_on_postgres_apply_each_match_once() {
    let Some(first) = TestServer::start(Backend::Postgres) else {
        eprintln!("skipped: LOOPSMITH_TEST_POSTGRES_URL is not set");
        return;
    };
    let second = first.replica();
    let (_, project) = first.post_json("/sessions", &json!({"name": "shared"}));
    let (_, dataset) = first.post_json("/datasets", &json!({"name": "shared shots"}));
    let mut liked = seed(&first, "shared", 1_000, 0);
    let (status, rule) = second.post_json(
        "/runs/rules",
        &json!({"display_name": "liked", "session_id": project["id"], "sampling_rate": 1.0,
                "add_to_dataset_id": dataset["id"],
                "filter": r#"and(eq(feedback_key, "thumbs"), eq(feedback_score, 1))"#,
                "backfill_from": iso(0)}),
    );
    assert_eq!(status, 200, "{rule}");
    // While both backfill, live turns and their thumbs-ups arrive through both replicas, some
    // of them inside the backfill's window.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| seed(&first, "shared", 300, 2_000));
        let b = scope.spawn(|| seed(&second, "shared", 300, 5_000));
        (a.join().unwrap(), b.join().unwrap())
    });
    liked.extend(a);
    liked.extend(b);
    let rule_path = format!("/runs/rules?id={}", rule["id"].as_str().unwrap());
    wait_for("the backfill to finish", Duration::from_secs(120), || {
        first.get(&rule_path).1[0]["backfill_status"] == "done"
    });
    let dataset_id = dataset["id"].as_str().unwrap();
    wait_for("every liked run", Duration::from_secs(60), || {
        first.get(&format!("/datasets/{dataset_id}")).1["example_count"]
            .as_u64()
            .is_some_and(|n| n as usize >= liked.len())
    });
    // Give a duplicate the time to appear if one were coming.
    std::thread::sleep(Duration::from_millis(500));
    assert_exactly_once(&example_sources(&first.url, dataset_id), &liked);
}
