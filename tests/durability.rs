//! What a 2xx promises: the data is committed. Overload is answered 429, never accepted and
//! dropped; a graceful stop finishes in-flight commits; limits are enforced with JSON errors.

mod common;

use std::collections::HashMap;

use common::{Backend, Multipart, TestServer, iso, segment};
use serde_json::json;
use uuid::Uuid;

/// Both backends when available; these tests start servers with their own settings.
fn servers_with(settings: &[(&str, &str)]) -> Vec<TestServer> {
    [Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .filter_map(|backend| TestServer::start_with(backend, settings))
        .collect()
}

fn batch(runs: usize, project: &str) -> (Multipart, Vec<Uuid>) {
    let mut body = Multipart::new();
    let mut ids = Vec::new();
    for _ in 0..runs {
        let id = Uuid::now_v7();
        body = body
            .json(
                &format!("post.{id}"),
                &json!({"id": id, "trace_id": id, "dotted_order": segment(0, &id), "name": "load",
                        "run_type": "chain", "start_time": iso(0), "end_time": iso(1),
                        "session_name": project}),
            )
            .json(
                &format!("post.{id}.inputs"),
                &json!({"text": "x".repeat(200)}),
            );
        ids.push(id);
    }
    (body, ids)
}

/// Sends `threads` batches at once; returns (status, retry-after, ids) per request.
fn burst(
    server: &TestServer,
    threads: usize,
    runs: usize,
    project: &str,
) -> Vec<(u16, Option<String>, Vec<Uuid>)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let (body, ids) = batch(runs, project);
                    let response = server
                        .client()
                        .post(format!("{}/runs/multipart", server.url))
                        .header("content-type", body.content_type())
                        .body(body.bytes())
                        .send()
                        .unwrap();
                    let retry = response
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    (response.status().as_u16(), retry, ids)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn overload_is_refused_with_retry_after_and_nothing_acknowledged_is_lost() {
    // A queue of one run: a batch that arrives while another waits is refused.
    for server in servers_with(&[("LOOPSMITH_INGEST_QUEUE_RUNS", "1")]) {
        let mut acknowledged = Vec::new();
        let mut refused = 0;
        for _ in 0..20 {
            for (status, retry_after, ids) in burst(&server, 8, 300, "overload") {
                match status {
                    202 => acknowledged.extend(ids),
                    429 => {
                        refused += 1;
                        assert_eq!(retry_after.as_deref(), Some("1"));
                    }
                    other => panic!("unexpected status {other}"),
                }
            }
            if refused > 0 {
                break;
            }
        }
        assert!(refused > 0, "a full queue must answer 429");
        assert!(!acknowledged.is_empty());
        for id in &acknowledged {
            assert_eq!(
                server.get(&format!("/runs/{id}")).0,
                200,
                "acknowledged run {id} is missing"
            );
        }
    }
}

#[test]
fn oversized_bodies_are_refused() {
    for server in servers_with(&[("LOOPSMITH_MAX_BODY_BYTES", "2000")]) {
        let (body, ids) = batch(10, "big");
        let (status, answer) = server.post_multipart(&body);
        assert_eq!(status, 413, "{answer}");
        assert!(answer["detail"].as_str().unwrap().contains("2000"));
        let (status, answer) = server.post_json(
            "/runs",
            &json!({"name": "x".repeat(5000), "run_type": "chain"}),
        );
        assert_eq!(status, 413, "{answer}");
        let (status, answer) = server.post_json("/sessions", &json!({"name": "x".repeat(5000)}));
        assert_eq!(status, 413, "{answer}");
        assert!(answer["detail"].is_string());
        assert_eq!(server.get(&format!("/runs/{}", ids[0])).0, 404);
    }
}

#[test]
fn graceful_stop_commits_in_flight_batches_and_data_survives_restart() {
    let mut server = TestServer::start(Backend::Sqlite).unwrap();
    let database_url = server.database_url.clone();
    let results = burst(&server, 6, 200, "restart");
    server.stop();
    let acknowledged: Vec<Uuid> = results
        .into_iter()
        .filter(|(status, _, _)| *status == 202)
        .flat_map(|(_, _, ids)| ids)
        .collect();
    assert_eq!(acknowledged.len(), 1200);
    // Same database file, new process state.
    let restarted = TestServer::reopen(Backend::Sqlite, &database_url, server);
    let (_, projects) = restarted.get("/sessions?name=restart&include_stats=true");
    assert_eq!(projects[0]["run_count"], 1200);
    let mut seen = HashMap::new();
    for id in acknowledged.iter().take(50) {
        seen.insert(*id, restarted.get(&format!("/runs/{id}")).0);
    }
    assert!(seen.values().all(|s| *s == 200), "{seen:?}");
}

#[test]
fn startup_errors_are_clear() {
    use loopsmith::config::Config;
    let config = |url: &str| {
        let url = url.to_string();
        Config::from_lookup(move |k| (k == "LOOPSMITH_DATABASE_URL").then(|| url.clone()))
    };
    let err = config("mysql://localhost/x").unwrap_err().to_string();
    assert!(err.contains("mysql"), "{err}");
    let err = loopsmith::app::prepare(config("postgres://nobody@127.0.0.1:1/none").unwrap())
        .err()
        .expect("unreachable database fails")
        .to_string();
    assert!(err.contains("cannot connect"), "{err}");
    let err = loopsmith::app::prepare(config("sqlite:///nonexistent-dir/x/y.db").unwrap())
        .err()
        .expect("unwritable path fails")
        .to_string();
    assert!(err.contains("cannot connect"), "{err}");
}
