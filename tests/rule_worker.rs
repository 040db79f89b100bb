//! The rule worker end to end, over HTTP: traces and feedback go in, examples, queue entries,
//! webhook calls and log entries come out, each exactly once.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use common::{Multipart, TestServer, iso, segment};

backend_tests!(
    feedback_becomes_examples_of_that_assistant_only,
    trace_filters_queues_corrections_and_sampling,
    webhooks_are_retried_and_logged,
    backfill_applies_a_new_rule_to_past_runs,
    deleted_targets_disable_their_rules,
    dataset_rules_watch_the_datasets_experiments,
    a_schema_refusal_fails_only_its_own_example,
);

fn create(server: &TestServer, path: &str, body: &Value) -> Value {
    let (status, answer) = server.post_json(path, body);
    assert_eq!(status, 200, "POST {path}: {answer}");
    answer
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_string()
}

/// Polls until `check` holds; the worker is woken at once, so this is fast unless broken.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn example_count(server: &TestServer, dataset: &str) -> i64 {
    let (status, body) = server.get(&format!("/datasets/{dataset}"));
    assert_eq!(status, 200, "{body}");
    body["example_count"].as_i64().unwrap()
}

fn examples(server: &TestServer, dataset: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/examples?dataset={dataset}&limit=100"));
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

fn logs(server: &TestServer, rule: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/runs/rules/{rule}/logs"));
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// A finished turn: a root chain run with the assistant id in its metadata and an llm child.
/// Returns the root's id.
fn post_turn(server: &TestServer, project: &str, assistant: &str, question: &str) -> Uuid {
    let (root, child) = (Uuid::now_v7(), Uuid::now_v7());
    let root_order = segment(0, &root);
    let body = json!({"post": [
        {"id": root, "trace_id": root, "dotted_order": root_order, "name": "turn",
         "run_type": "chain", "start_time": iso(0), "end_time": iso(20), "session_name": project,
         "inputs": {"question": question}, "outputs": {"answer": format!("re: {question}")},
         "extra": {"metadata": {"assistant_id": assistant}}},
        {"id": child, "trace_id": root, "parent_run_id": root,
         "dotted_order": format!("{root_order}.{}", segment(1, &child)), "name": "model",
         "run_type": "llm", "start_time": iso(1), "end_time": iso(19), "session_name": project,
         "inputs": {"prompts": [question]},
         "outputs": {"generations": [{"text": format!("re: {question}")}]}},
    ]});
    let (status, answer) = server.post_json("/runs/batch", &body);
    assert_eq!(status, 202, "{answer}");
    root
}

fn thumbs(server: &TestServer, run: &Uuid, score: i64) -> Value {
    create(
        server,
        "/feedback",
        &json!({"run_id": run, "key": "thumbs", "score": score}),
    )
}

fn liked_by_users_of(assistant: &str) -> String {
    format!(
        r#"and(eq(is_root, true), eq(feedback_key, "thumbs"), eq(feedback_score, 1), eq(metadata_key, "assistant_id"), eq(metadata_value, "{assistant}"))"#
    )
}

fn dataset_rule(server: &TestServer, project: &Value, assistant: &str, dataset: &str) -> Value {
    create(
        server,
        "/runs/rules",
        &json!({"display_name": format!("{assistant} liked"), "session_id": project["id"],
                "sampling_rate": 1.0, "filter": liked_by_users_of(assistant),
                "add_to_dataset_id": dataset}),
    )
}

fn feedback_becomes_examples_of_that_assistant_only(server: &TestServer) {
    let project = create(server, "/sessions", &json!({"name": "assistants"}));
    let (a1, a2) = (
        id_of(&create(server, "/datasets", &json!({"name": "A1 shots"}))),
        id_of(&create(server, "/datasets", &json!({"name": "A2 shots"}))),
    );
    let rule_a1 = id_of(&dataset_rule(server, &project, "A1", &a1));
    let rule_a2 = id_of(&dataset_rule(server, &project, "A2", &a2));
    let turns: Vec<(Uuid, &str)> = ["A1", "A2", "A1", "A2", "A1", "A2"]
        .iter()
        .enumerate()
        .map(|(i, a)| (post_turn(server, "assistants", a, &format!("q{i}")), *a))
        .collect();
    // Thumbs up: turns 0 (A1), 1 and 3 (A2); down: 2 and 4 (A1); turn 5 not rated yet.
    let first_like = thumbs(server, &turns[0].0, 1);
    for (turn, score) in [(1, 1), (2, 0), (3, 1), (4, 0)] {
        thumbs(server, &turns[turn].0, score);
    }
    wait_for("A1's and A2's examples", || {
        example_count(server, &a1) == 1 && example_count(server, &a2) == 2
    });
    let a1_examples = examples(server, &a1);
    assert_eq!(a1_examples[0]["inputs"], json!({"question": "q0"}));
    assert_eq!(a1_examples[0]["outputs"], json!({"answer": "re: q0"}));
    assert_eq!(a1_examples[0]["source_run_id"], turns[0].0.to_string());
    assert_eq!(a1_examples[0]["metadata"]["run_rule_id"], rule_a1);
    assert_eq!(a1_examples[0]["metadata"]["run_rule_name"], "A1 liked");
    let mut a2_sources: Vec<String> = examples(server, &a2)
        .iter()
        .map(|e| e["source_run_id"].as_str().unwrap().to_string())
        .collect();
    a2_sources.sort();
    let mut expected = vec![turns[1].0.to_string(), turns[3].0.to_string()];
    expected.sort();
    assert_eq!(a2_sources, expected);

    // The same feedback re-sent, and a second thumbs-up on the same turn: still one example.
    let (status, _) = server.post_json(
        "/feedback",
        &json!({"id": first_like["id"], "run_id": turns[0].0, "key": "thumbs", "score": 1}),
    );
    assert_eq!(status, 200);
    thumbs(server, &turns[0].0, 1);
    // Late feedback: turn 5 ended long ago and is liked now. Its example appearing also shows
    // that the re-sent feedback (queued before it) was already evaluated.
    thumbs(server, &turns[5].0, 1);
    wait_for("the late-liked turn", || example_count(server, &a2) == 3);
    assert_eq!(example_count(server, &a1), 1, "no second example of turn 0");

    // The log: one entry per matched run, newest first, with the example made.
    let a1_logs = logs(server, &rule_a1);
    assert_eq!(a1_logs.len(), 1);
    assert_eq!(a1_logs[0]["run_id"], turns[0].0.to_string());
    assert_eq!(a1_logs[0]["run_name"], "turn");
    assert_eq!(a1_logs[0]["run_session_id"], project["id"]);
    assert_eq!(a1_logs[0]["add_to_dataset"]["outcome"], "success");
    assert_eq!(
        a1_logs[0]["add_to_dataset"]["payload"]["example_id"],
        a1_examples[0]["id"]
    );
    let (_, page) = server.get(&format!("/runs/rules/{rule_a2}/logs/v2?limit=2"));
    assert_eq!(page["logs"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["has_more"], true);
    let cursor = page["cursor"].as_str().unwrap();
    let (_, rest) = server.get(&format!(
        "/runs/rules/{rule_a2}/logs/v2?limit=2&cursor={cursor}"
    ));
    assert_eq!(rest["logs"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["has_more"], false);
    let (_, offset_page) = server.get(&format!("/runs/rules/{rule_a2}/logs?limit=1&offset=2"));
    assert_eq!(offset_page[0]["run_id"], rest["logs"][0]["run_id"]);
    let (status, last) = server.get(&format!("/runs/rules/{rule_a2}/last_applied"));
    assert_eq!(status, 200);
    assert_eq!(last["run_id"], turns[5].0.to_string());
    let (status, none) = server.get(&format!("/runs/rules/{rule_a2}/last_applied?backfill=true"));
    assert_eq!(status, 404, "{none}");
    let (status, bad) = server.get(&format!("/runs/rules/{rule_a2}/logs/v2?cursor=nonsense"));
    assert_eq!(status, 422, "{bad}");
    let (status, bad) = server.get(&format!("/runs/rules/{rule_a2}/logs?limit=0"));
    assert_eq!(status, 422, "{bad}");
    assert_eq!(
        server
            .get(&format!("/runs/rules/{}/logs", Uuid::now_v7()))
            .0,
        404
    );

    // A disabled rule does nothing; the run is evaluated, and nothing is recorded for it.
    let (status, _) = server.patch_json(
        &format!("/runs/rules/{rule_a1}"),
        &json!({"display_name": "A1 liked", "session_id": project["id"], "sampling_rate": 1.0,
                "filter": liked_by_users_of("A1"), "add_to_dataset_id": a1, "is_enabled": false}),
    );
    assert_eq!(status, 200);
    thumbs(server, &turns[4].0, 1);
    let (status, triggered) =
        server.post_json(&format!("/runs/rules/{rule_a1}/trigger"), &json!({}));
    assert_eq!(status, 200, "{triggered}");
    assert_eq!(triggered["id"], rule_a1);
    // A barrier: a later event for the enabled rule is evaluated after the one above.
    let barrier = post_turn(server, "assistants", "A2", "barrier");
    thumbs(server, &barrier, 1);
    wait_for("the barrier turn", || example_count(server, &a2) == 4);
    assert_eq!(
        example_count(server, &a1),
        1,
        "the disabled rule added nothing"
    );
    assert_eq!(logs(server, &rule_a1).len(), 1);
    let (status, answer) = server.post_json(
        "/runs/rules/trigger",
        &json!({"rule_ids": [rule_a1, rule_a2]}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rule_ids"].as_array().unwrap().len(), 2);
    assert_eq!(server.post_json("/runs/rules/trigger", &json!({})).0, 422);
    let (status, _) = server.post_json(
        "/runs/rules/trigger",
        &json!({"rule_ids": [Uuid::now_v7()]}),
    );
    assert_eq!(status, 404);
}

fn trace_filters_queues_corrections_and_sampling(server: &TestServer) {
    let project = create(server, "/sessions", &json!({"name": "review"}));
    let queue = id_of(&create(
        server,
        "/annotation-queues",
        &json!({"name": "disliked"}),
    ));
    let corrected = id_of(&create(server, "/datasets", &json!({"name": "corrected"})));
    let prompts = id_of(&create(
        server,
        "/datasets",
        &json!({"name": "prompts", "data_type": "llm"}),
    ));
    let never = id_of(&create(server, "/datasets", &json!({"name": "never"})));
    let rule = |body: Value| id_of(&create(server, "/runs/rules", &body));
    let to_queue = rule(
        json!({"display_name": "disliked to review", "session_id": project["id"],
        "sampling_rate": 1.0, "filter": r#"and(eq(feedback_key, "thumbs"), eq(feedback_score, 0))"#,
        "add_to_annotation_queue_id": queue}),
    );
    let corrections = rule(
        json!({"display_name": "corrections", "session_id": project["id"],
        "sampling_rate": 1.0, "filter": r#"eq(feedback_key, "thumbs")"#,
        "add_to_dataset_id": corrected, "add_to_dataset_prefer_correction": true}),
    );
    // The llm child runs of liked traces: the feedback is on the root, the match on the child.
    let llm_of_liked = rule(
        json!({"display_name": "liked prompts", "session_id": project["id"],
        "sampling_rate": 1.0, "filter": r#"eq(run_type, "llm")"#,
        "trace_filter": r#"and(eq(feedback_key, "thumbs"), eq(feedback_score, 1))"#,
        "add_to_dataset_id": prompts}),
    );
    let unsampled = rule(
        json!({"display_name": "sampled out", "session_id": project["id"],
        "sampling_rate": 0.0, "filter": r#"eq(feedback_key, "thumbs")"#,
        "add_to_dataset_id": never}),
    );

    let disliked = post_turn(server, "review", "A1", "bad");
    let liked = post_turn(server, "review", "A1", "good");
    create(
        server,
        "/feedback",
        &json!({"run_id": disliked, "key": "thumbs", "score": 0,
                "correction": {"answer": "what it should have said"}}),
    );
    thumbs(server, &liked, 1);
    wait_for("the queue entry and the examples", || {
        example_count(server, &corrected) == 2 && example_count(server, &prompts) == 1
    });
    let (_, queued) = server.get(&format!("/annotation-queues/{queue}/runs"));
    let queued = queued.as_array().unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["id"], disliked.to_string());
    let entry = &logs(server, &to_queue)[0];
    assert_eq!(entry["add_to_annotation_queue"]["outcome"], "success");
    assert_eq!(
        entry["add_to_annotation_queue"]["payload"]["queue_id"],
        queue
    );

    let by_source = |dataset: &str, run: &Uuid| -> Value {
        examples(server, dataset)
            .into_iter()
            .find(|e| e["source_run_id"] == run.to_string())
            .unwrap_or_else(|| panic!("no example of run {run}"))
    };
    // The correction replaces the outputs; without one the run's outputs stay.
    assert_eq!(
        by_source(&corrected, &disliked)["outputs"],
        json!({"answer": "what it should have said"})
    );
    assert_eq!(
        by_source(&corrected, &liked)["outputs"],
        json!({"answer": "re: good"})
    );
    assert_eq!(logs(server, &corrections).len(), 2);
    // An llm dataset takes the prompt and the generation, as the SDK converts runs.
    let prompt = &examples(server, &prompts)[0];
    assert_eq!(prompt["inputs"], json!({"input": "good"}));
    assert_eq!(prompt["outputs"], json!({"output": "re: good"}));
    assert_eq!(logs(server, &llm_of_liked)[0]["run_type"], "llm");

    // Sampled out: logged as skipped, nothing added.
    wait_for("the sampled-out log entries", || {
        logs(server, &unsampled).len() == 2
    });
    for entry in logs(server, &unsampled) {
        assert_eq!(entry["add_to_dataset"]["outcome"], "skipped", "{entry}");
    }
    assert_eq!(example_count(server, &never), 0);
}

/// A local receiver that answers 500 to the first call and 200 after; keeps what it got.
struct Receiver {
    url: String,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook?secret=s3", listener.local_addr().unwrap());
        let calls: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let seen = calls.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (head, body) = read_request(&mut stream);
                let first = {
                    let mut seen = seen.lock().unwrap();
                    seen.push((head, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                    seen.len() == 1
                };
                let status = if first {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = stream.write_all(
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        });
        Receiver { url, calls }
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return (head, data[end + 4..].to_vec());
        }
    }
    (String::new(), Vec::new())
}

fn webhooks_are_retried_and_logged(server: &TestServer) {
    let receiver = Receiver::start();
    let project = create(server, "/sessions", &json!({"name": "hooked"}));
    let rule = id_of(&create(
        server,
        "/runs/rules",
        &json!({"display_name": "notify", "session_id": project["id"], "sampling_rate": 1.0,
                "filter": r#"and(eq(is_root, true), eq(feedback_key, "thumbs"))"#,
                "webhooks": [{"url": receiver.url, "headers": {"x-hook-key": "k1"}}]}),
    ));
    let turn = post_turn(server, "hooked", "A1", "ping");
    thumbs(server, &turn, 1);
    wait_for("the webhook to succeed", || {
        logs(server, &rule)
            .first()
            .is_some_and(|entry| entry["webhooks"]["outcome"] == "success")
    });
    let calls = receiver.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one failure, one success");
    let (head, body) = &calls[1];
    assert!(head.starts_with("post /hook?secret=s3 "), "{head}");
    assert!(head.contains("x-hook-key: k1"), "{head}");
    assert_eq!(body["rule_id"], rule);
    assert_eq!(body["runs"][0]["id"], turn.to_string());
    assert_eq!(body["runs"][0]["inputs"], json!({"question": "ping"}));
    assert_eq!(body["feedback_stats"]["thumbs"]["n"], 1, "{body}");
    let entry = &logs(server, &rule)[0];
    let delivery = &entry["webhooks"]["payload"]["deliveries"][0];
    assert_eq!(delivery["attempts"], 2, "{entry}");
    assert_eq!(delivery["response_status"], 200);
}

fn backfill_applies_a_new_rule_to_past_runs(server: &TestServer) {
    let project = create(server, "/sessions", &json!({"name": "history"}));
    let dataset = id_of(&create(
        server,
        "/datasets",
        &json!({"name": "history shots"}),
    ));
    // 1,200 past turns (every third liked) plus 5 liked turns before the backfill window.
    let mut liked = 0;
    for chunk in 0..12 {
        let mut body = Multipart::new();
        for i in 0..100 {
            let n = chunk * 100 + i;
            let id = Uuid::now_v7();
            let offset = if n < 5 { -86_400_000 } else { n as i64 * 10 };
            body = body.json(
                &format!("post.{id}"),
                &json!({"id": id, "trace_id": id, "dotted_order": segment(offset, &id),
                        "name": "old turn", "run_type": "chain", "start_time": iso(offset),
                        "end_time": iso(offset + 5), "session_name": "history",
                        "inputs": {"n": n}, "outputs": {"ok": true}}),
            );
            if n % 3 == 0 {
                let feedback_id = Uuid::now_v7();
                body = body.json(
                    &format!("feedback.{feedback_id}"),
                    &json!({"id": feedback_id, "run_id": id, "key": "thumbs", "score": 1}),
                );
                if n >= 5 {
                    liked += 1;
                }
            }
        }
        assert_eq!(server.post_multipart(&body).0, 202);
    }
    let rule = create(
        server,
        "/runs/rules",
        &json!({"display_name": "history", "session_id": project["id"], "sampling_rate": 1.0,
                "filter": r#"and(eq(feedback_key, "thumbs"), eq(feedback_score, 1))"#,
                "add_to_dataset_id": dataset, "backfill_from": iso(0)}),
    );
    assert_eq!(rule["backfill_status"], "running");
    let rule_id = id_of(&rule);
    let read_rule = || server.get(&format!("/runs/rules?id={rule_id}")).1[0].clone();
    wait_for("the backfill to finish", || {
        read_rule()["backfill_status"] == "done"
    });
    let done = read_rule();
    assert_eq!(done["backfill_progress"], 1.0);
    assert!(done["backfill_completed_at"].is_string());
    assert_eq!(example_count(server, &dataset), liked);
    // One dataset version per backfill page (three of up to 500 runs), not one per example.
    let (_, versions) = server.get(&format!("/datasets/{dataset}/versions?limit=100"));
    let versions = versions.as_array().unwrap().len();
    assert!((1..=3).contains(&versions), "{versions} versions");
    let (_, page) = server.get(&format!(
        "/runs/rules/{rule_id}/logs/v2?backfill=true&limit=1000"
    ));
    assert_eq!(page["logs"].as_array().unwrap().len() as i64, liked);
    assert_eq!(page["logs"][0]["backfill"], true);
    let (status, _) = server.get(&format!("/runs/rules/{rule_id}/last_applied?backfill=true"));
    assert_eq!(status, 200);
    // PATCH does not restart it (backfill_from counts at creation only).
    let (status, patched) = server.patch_json(
        &format!("/runs/rules/{rule_id}"),
        &json!({"display_name": "history", "session_id": project["id"], "sampling_rate": 1.0,
                "filter": r#"and(eq(feedback_key, "thumbs"), eq(feedback_score, 1))"#,
                "add_to_dataset_id": dataset, "backfill_from": iso(-100_000_000)}),
    );
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["backfill_status"], "done");
    assert_eq!(patched["backfill_from"], done["backfill_from"]);
}

fn deleted_targets_disable_their_rules(server: &TestServer) {
    let project = create(server, "/sessions", &json!({"name": "deletions"}));
    let dataset = id_of(&create(server, "/datasets", &json!({"name": "doomed"})));
    let queue = id_of(&create(
        server,
        "/annotation-queues",
        &json!({"name": "doomed queue"}),
    ));
    let to_dataset = id_of(&dataset_rule(server, &project, "A1", &dataset));
    let to_queue = id_of(&create(
        server,
        "/runs/rules",
        &json!({"display_name": "to queue", "session_id": project["id"], "sampling_rate": 1.0,
                "add_to_annotation_queue_id": queue}),
    ));
    assert_eq!(server.delete(&format!("/datasets/{dataset}")).0, 200);
    assert_eq!(server.delete(&format!("/annotation-queues/{queue}")).0, 200);
    for (rule, what) in [(&to_dataset, "dataset"), (&to_queue, "annotation queue")] {
        let (_, listed) = server.get(&format!("/runs/rules?id={rule}"));
        assert_eq!(listed[0]["is_enabled"], false, "{listed}");
        let reason = listed[0]["disabled_reason"].as_str().unwrap();
        assert!(reason.contains(what), "{reason}");
    }
    // Turned on again by a client, it says nothing more about why it was off.
    let other = id_of(&create(
        server,
        "/datasets",
        &json!({"name": "replacement"}),
    ));
    let (_, revived) = server.patch_json(
        &format!("/runs/rules/{to_dataset}"),
        &json!({"display_name": "A1 liked", "session_id": project["id"], "sampling_rate": 1.0,
                "add_to_dataset_id": other, "is_enabled": true}),
    );
    assert_eq!(revived["is_enabled"], true);
    assert_eq!(revived["disabled_reason"], Value::Null);
}

fn dataset_rules_watch_the_datasets_experiments(server: &TestServer) {
    let dataset = id_of(&create(server, "/datasets", &json!({"name": "benchmark"})));
    let experiment = create(
        server,
        "/sessions",
        &json!({"name": "experiment-1", "reference_dataset_id": dataset}),
    );
    create(server, "/sessions", &json!({"name": "production"}));
    let queue = id_of(&create(
        server,
        "/annotation-queues",
        &json!({"name": "failures"}),
    ));
    let rule = id_of(&create(
        server,
        "/runs/rules",
        &json!({"display_name": "failed experiment turns", "dataset_id": dataset,
                "sampling_rate": 1.0, "filter": r#"and(eq(feedback_key, "correct"), eq(feedback_score, 0))"#,
                "add_to_annotation_queue_id": queue}),
    ));
    let in_experiment = post_turn(server, "experiment-1", "A1", "2+2");
    let in_production = post_turn(server, "production", "A1", "2+2");
    // The production run first: once the experiment's is logged, both were evaluated (FIFO).
    for run in [&in_production, &in_experiment] {
        create(
            server,
            "/feedback",
            &json!({"run_id": run, "key": "correct", "score": 0}),
        );
    }
    wait_for("the experiment's run in the queue", || {
        !logs(server, &rule).is_empty()
    });
    let entries = logs(server, &rule);
    assert_eq!(entries.len(), 1, "only the experiment's run: {entries:?}");
    assert_eq!(entries[0]["run_id"], in_experiment.to_string());
    assert_eq!(entries[0]["run_session_id"], experiment["id"]);
}

fn a_schema_refusal_fails_only_its_own_example(server: &TestServer) {
    let project = create(server, "/sessions", &json!({"name": "strict"}));
    let dataset = id_of(&create(
        server,
        "/datasets",
        &json!({"name": "strict shots", "outputs_schema_definition": {
            "type": "object", "required": ["answer"]}}),
    ));
    let rule = id_of(&create(
        server,
        "/runs/rules",
        &json!({"display_name": "corrected", "session_id": project["id"], "sampling_rate": 1.0,
                "filter": r#"eq(feedback_key, "thumbs")"#, "add_to_dataset_id": dataset,
                "add_to_dataset_prefer_correction": true}),
    ));
    let (fits, breaks) = (
        post_turn(server, "strict", "A1", "fits"),
        post_turn(server, "strict", "A1", "breaks"),
    );
    // Both in one commit, so the worker evaluates them in one step.
    let feedback = |run: &Uuid, correction: Value| {
        let id = Uuid::now_v7();
        (
            format!("feedback.{id}"),
            json!({"id": id, "run_id": run, "key": "thumbs", "score": 0, "correction": correction}),
        )
    };
    let mut body = Multipart::new();
    for (name, part) in [
        feedback(&fits, json!({"answer": "better"})),
        feedback(&breaks, json!({"wrong": "shape"})),
    ] {
        body = body.json(&name, &part);
    }
    assert_eq!(server.post_multipart(&body).0, 202);
    wait_for("both log entries", || logs(server, &rule).len() == 2);
    let entries = logs(server, &rule);
    let outcome_of = |run: &Uuid| {
        entries
            .iter()
            .find(|e| e["run_id"] == run.to_string())
            .map(|e| e["add_to_dataset"].clone())
            .unwrap()
    };
    assert_eq!(outcome_of(&fits)["outcome"], "success");
    assert_eq!(outcome_of(&breaks)["outcome"], "error");
    let error = outcome_of(&breaks)["payload"]["error"].to_string();
    assert!(error.contains("answer"), "{error}");
    let stored = examples(server, &dataset);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["outputs"], json!({"answer": "better"}));
}

/// Traces set aside after a failing evaluation are not due, so the worker does not spin on
/// them, and come back when their time is up.
#[test]
fn set_aside_traces_wait_until_due() {
    use loopsmith::db::rule_work::{any_pending, claim_pending, enqueue_traces, postpone_oldest};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let config = loopsmith::config::Config::from_lookup(|k| {
        (k == "LOOPSMITH_DATABASE_URL").then(|| url.clone())
    })
    .unwrap();
    let db = loopsmith::db::Db::open(&config).unwrap();
    let mut conn = db.dedicated_connection().unwrap();
    let workspace = Uuid::now_v7().to_string();
    let now = 1_000_000;
    let traces = ["t1".to_string(), "t2".to_string()];
    enqueue_traces(&mut conn, &workspace, &traces, now).unwrap();
    assert!(any_pending(&mut conn, now).unwrap());
    assert_eq!(
        postpone_oldest(&mut conn, now, now + 60_000_000).unwrap(),
        2
    );
    assert!(!any_pending(&mut conn, now + 1).unwrap());
    assert!(claim_pending(&mut conn, 100, now + 1).unwrap().is_empty());
    assert_eq!(
        claim_pending(&mut conn, 100, now + 60_000_000)
            .unwrap()
            .len(),
        2
    );
}
