//! `/runs/query` beyond the filter language's agreement: `select`, validation, and documents
//! that one backend stores with difficulty.

mod common;

use serde_json::json;
use uuid::Uuid;

use common::{TestServer, iso, segment};

backend_tests!(
    select_keeps_identity_fields,
    nul_escapes_do_not_break_queries,
    project_stats_take_a_filter,
    nul_in_text_values_is_a_client_error
);

fn post_runs(server: &TestServer, runs: Vec<serde_json::Value>) {
    let (status, answer) = server.post_json("/runs/batch", &json!({ "post": runs }));
    assert_eq!(status, 202, "{answer}");
}

fn select_keeps_identity_fields(server: &TestServer) {
    let id = Uuid::now_v7();
    post_runs(
        server,
        vec![
            json!({"id": id, "trace_id": id, "dotted_order": segment(0, &id), "name": "s",
                    "run_type": "chain", "start_time": iso(0), "end_time": iso(5),
                    "inputs": {"q": 1}, "outputs": {"a": 2}, "session_name": "select"}),
        ],
    );
    server.get_eventually(&format!("/runs/{id}"));
    let (status, answer) = server.post_json(
        "/runs/query",
        &json!({"id": [id], "select": ["outputs", "inputs_or_signed_url"]}),
    );
    assert_eq!(status, 200, "{answer}");
    let run = &answer["runs"][0];
    assert_eq!(run["outputs"], json!({"a": 2}));
    assert_eq!(run["inputs"], json!({"q": 1}));
    assert_eq!(
        run["name"], "s",
        "identity fields come back whatever select says"
    );
    assert!(
        run.get("error").is_none() && run.get("extra").is_none(),
        "{run}"
    );
    let (status, answer) =
        server.post_json("/runs/query", &json!({"select": ["outputs", "colour"]}));
    assert_eq!(status, 422, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("colour"));
    let (status, answer) = server.post_json(
        "/runs/query/validate",
        &json!({"filter": "eq(name, 'x')", "trace_filter": "gt(tags, 1)"}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["errors"][0]["field"], "trace_filter");
    let (status, answer) =
        server.post_json("/runs/stats", &json!({"group_by": {"attribute": "name"}}));
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = server.post_json("/runs/monitor", &json!({"stride": {"minutes": 1}}));
    assert_eq!(
        status, 422,
        "a week of minutes is too many buckets: {answer}"
    );
}

/// `\u0000` is valid JSON that PostgreSQL's jsonb refuses: such a run must not turn every
/// filtered query into an error.
fn nul_escapes_do_not_break_queries(server: &TestServer) {
    let odd = Uuid::now_v7();
    let plain = Uuid::now_v7();
    post_runs(
        server,
        vec![
            json!({"id": odd, "trace_id": odd, "dotted_order": segment(0, &odd), "name": "odd",
                   "run_type": "chain", "start_time": iso(0), "session_name": "nul",
                   "inputs": {"q": "a\u{0}b"}, "tags": ["t"],
                   "extra": {"metadata": {"assistant_id": "A1", "raw": "x\u{0}y"}}}),
            json!({"id": plain, "trace_id": plain, "dotted_order": segment(1, &plain),
                   "name": "plain", "run_type": "chain", "start_time": iso(1),
                   "session_name": "nul", "inputs": {"q": "ab"}, "tags": ["t"],
                   "extra": {"metadata": {"assistant_id": "A1"}}}),
        ],
    );
    server.get_eventually(&format!("/runs/{odd}"));
    server.get_eventually(&format!("/runs/{plain}"));
    for filter in [
        r#"and(eq(metadata_key, "assistant_id"), eq(metadata_value, "A1"))"#,
        r#"and(eq(input_key, "q"), eq(input_value, "ab"))"#,
        r#"has(tags, "t")"#,
        r#"neq(thread_id, "x")"#,
    ] {
        let (status, answer) = server.post_json("/runs/query", &json!({"filter": filter}));
        assert_eq!(status, 200, "{filter}: {answer}");
        let ids: Vec<&str> = answer["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&plain.to_string().as_str()),
            "{filter}: {answer}"
        );
    }
}

fn project_stats_take_a_filter(server: &TestServer) {
    let runs: Vec<serde_json::Value> = (0..4)
        .map(|i| {
            let id = Uuid::now_v7();
            json!({"id": id, "trace_id": id, "dotted_order": segment(i, &id), "name": format!("r{i}"),
                   "run_type": "chain", "start_time": iso(i), "end_time": iso(i + 1000 * (i + 1)),
                   "session_name": "stats-filter",
                   "extra": {"metadata": {"assistant_id": if i % 2 == 0 { "A1" } else { "A2" }}}})
        })
        .collect();
    let ids: Vec<String> = runs
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    post_runs(server, runs);
    for id in &ids {
        server.get_eventually(&format!("/runs/{id}"));
    }
    let (status, project) = server.get("/sessions?name=stats-filter&include_stats=true");
    assert_eq!(status, 200, "{project}");
    assert_eq!(project[0]["run_count"], 4);
    let filter = r#"and(eq(metadata_key, "assistant_id"), eq(metadata_value, "A1"))"#;
    let encoded: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let id = project[0]["id"].as_str().unwrap();
    let (status, read) = server.get(&format!(
        "/sessions/{id}?include_stats=true&stats_filter={encoded}"
    ));
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["run_count"], 2, "{read}");
    // Runs 0 and 2 of A1 took 1 s and 3 s.
    assert_eq!(read["latency_p99"], 3.0, "{read}");
    let (status, answer) = server.get(&format!(
        "/sessions/{id}?include_stats=true&stats_filter=eq(name"
    ));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .starts_with("stats_filter:"),
        "{answer}"
    );
}

/// NUL in a value stored as text: PostgreSQL cannot hold it. The client is told (422), never a
/// 500, and the batches grouped with it are committed.
fn nul_in_text_values_is_a_client_error(server: &TestServer) {
    let bad = Uuid::now_v7();
    let good = Uuid::now_v7();
    let (status, answer) = server.post_json(
        "/runs/batch",
        &json!({"post": [{"id": bad, "trace_id": bad, "dotted_order": segment(0, &bad),
                          "name": "a\u{0}b", "run_type": "chain", "start_time": iso(0),
                          "session_name": "nul-text"}]}),
    );
    assert!(status == 202 || status == 422, "{status} {answer}");
    if status == 422 {
        assert!(
            answer["detail"].as_str().unwrap().contains("NUL"),
            "{answer}"
        );
    }
    post_runs(
        server,
        vec![
            json!({"id": good, "trace_id": good, "dotted_order": segment(1, &good), "name": "ok",
                    "run_type": "chain", "start_time": iso(1), "session_name": "nul-text"}),
        ],
    );
    server.get_eventually(&format!("/runs/{good}"));
    let (status, answer) = server.post_json("/feedback", &json!({"run_id": good, "key": "k\u{0}"}));
    assert!(status == 200 || status == 422, "{status} {answer}");
}
