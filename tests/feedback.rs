//! Feedback, presigned tokens and feedback configs.

mod common;

use common::{Multipart, TestServer, iso, segment};
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    feedback_lifecycle_and_listing,
    feedback_before_its_run_and_retries,
    feedback_bad_input,
    presigned_tokens,
    feedback_configs,
    feedback_is_workspace_scoped,
);

fn ingest_run(server: &TestServer, project: &str) -> Uuid {
    let id = Uuid::now_v7();
    let body = Multipart::new().json(
        &format!("post.{id}"),
        &json!({"id": id, "trace_id": id, "dotted_order": segment(0, &id), "name": "rated",
                "run_type": "chain", "start_time": iso(0), "end_time": iso(1), "session_name": project}),
    );
    assert_eq!(server.post_multipart(&body).0, 202);
    id
}

fn feedback_lifecycle_and_listing(server: &TestServer) {
    let run = ingest_run(server, "fb");
    let other = ingest_run(server, "fb");
    let id = Uuid::now_v7();
    let (status, created) = server.post_json(
        "/feedback",
        &json!({"id": id, "run_id": run, "trace_id": run, "key": "thumbs", "score": true,
                "comment": "great", "value": "up", "correction": {"answer": "x"},
                "feedback_source": {"type": "app", "metadata": {"user": "u1"}}, "extra": {"k": 1}}),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["id"], id.to_string());
    assert_eq!(created["score"], 1.0);
    assert_eq!(created["value"], "up");
    assert_eq!(created["correction"]["answer"], "x");
    assert_eq!(created["feedback_source"]["metadata"]["user"], "u1");
    assert!(created["created_at"].is_string() && created["modified_at"].is_string());
    for (key, score, source) in [("thumbs", 0.0, "api"), ("accuracy", 0.5, "model")] {
        let (status, _) = server.post_json(
            "/feedback",
            &json!({"run_id": other, "key": key, "score": score, "feedback_source": {"type": source}}),
        );
        assert_eq!(status, 200);
    }
    let (_, read) = server.get(&format!("/feedback/{id}"));
    assert_eq!(read["comment"], "great");

    let count = |query: &str| {
        server
            .get(&format!("/feedback?{query}"))
            .1
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(&format!("run={run}")), 1);
    assert_eq!(count(&format!("run={run}&run={other}")), 3);
    assert_eq!(count("key=thumbs"), 2);
    assert_eq!(count("source=model"), 1);
    assert_eq!(count("source=app&source=api"), 2);
    assert_eq!(count("has_comment=true"), 1);
    assert_eq!(count("key=accuracy&has_score=true"), 1);
    assert_eq!(count("limit=2"), 2);
    assert_eq!(count("limit=2&offset=2"), 1);
    let project = server.get("/sessions?name=fb").1[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(count(&format!("session={project}")), 3);

    // Aggregates on the run and the project.
    let (_, run_read) = server.get(&format!("/runs/{other}"));
    assert_eq!(run_read["feedback_stats"]["accuracy"]["avg"], 0.5);
    let (_, stats) = server.get(&format!("/sessions/{project}?include_stats=true"));
    assert_eq!(stats["feedback_stats"]["thumbs"]["n"], 2);
    assert_eq!(stats["feedback_stats"]["thumbs"]["avg"], 0.5);
    // Project-level feedback.
    let (status, _) = server.post_json(
        "/feedback",
        &json!({"session_id": project, "key": "overall", "score": 0.9}),
    );
    assert_eq!(status, 200);
    let (_, stats) = server.get(&format!("/sessions/{project}?include_stats=true"));
    assert_eq!(stats["session_feedback_stats"]["overall"]["n"], 1);
    assert_eq!(count("level=session"), 1);

    let (status, updated) = server.patch_json(
        &format!("/feedback/{id}"),
        &json!({"score": 0.25, "comment": null}),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["score"], 0.25);
    assert_eq!(updated["comment"], "great");
    assert_eq!(server.delete(&format!("/feedback/{id}")).0, 200);
    assert_eq!(server.get(&format!("/feedback/{id}")).0, 404);
    assert_eq!(server.delete(&format!("/feedback/{id}")).0, 404);
}

fn feedback_before_its_run_and_retries(server: &TestServer) {
    // The SDK may rate a trace before the trace itself has been ingested.
    let run = Uuid::now_v7();
    let id = Uuid::now_v7();
    let body = json!({"id": id, "trace_id": run, "key": "thumbs", "score": 1});
    let (status, created) = server.post_json("/feedback", &body);
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        created["run_id"],
        run.to_string(),
        "trace feedback is on the root run"
    );
    // A retry with the same id changes nothing.
    let (status, again) = server.post_json("/feedback", &body);
    assert_eq!(status, 200);
    assert_eq!(again["id"], id.to_string());
    let body = Multipart::new().json(
        &format!("post.{run}"),
        &json!({"id": run, "trace_id": run, "dotted_order": segment(0, &run), "name": "late",
                "run_type": "chain", "start_time": iso(0), "session_name": "fb-late"}),
    );
    assert_eq!(server.post_multipart(&body).0, 202);
    let (_, read) = server.get(&format!("/runs/{run}"));
    assert_eq!(read["feedback_stats"]["thumbs"]["n"], 1);
    assert_eq!(
        server
            .get(&format!("/feedback?run={run}"))
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn feedback_bad_input(server: &TestServer) {
    let run = Uuid::now_v7();
    for (body, field) in [
        (json!({"run_id": run, "key": "k", "score": "high"}), "score"),
        (json!({"run_id": run, "score": 1}), "key"),
        (json!({"run_id": "nope", "key": "k"}), "run_id"),
        (json!({"key": "k", "score": 1}), "run_id"),
        (
            json!({"run_id": run, "key": "k", "feedback_source": "api"}),
            "feedback_source",
        ),
        (json!([1, 2]), "JSON object"),
    ] {
        let (status, answer) = server.post_json("/feedback", &body);
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    let (status, _) = server.get("/feedback?run=zz");
    assert_eq!(status, 422);
    let (status, _) = server.get("/feedback?level=trace");
    assert_eq!(status, 422);
    let (status, _) = server.get("/feedback/not-a-uuid");
    assert_eq!(status, 422);
    let (status, _) = server.patch_json(
        &format!("/feedback/{}", Uuid::now_v7()),
        &json!({"score": 1}),
    );
    assert_eq!(status, 404);
    let (status, answer) =
        server.post_json("/feedback", &json!({"run_id": run, "key": "k", "score": 1}));
    assert_eq!(status, 200);
    let id = answer["id"].as_str().unwrap();
    let (status, _) = server.patch_json(&format!("/feedback/{id}"), &json!({"score": "bad"}));
    assert_eq!(status, 422);
    assert_eq!(
        server.get(&format!("/feedback/{id}")).1["score"],
        1.0,
        "a refused update changes nothing"
    );
}

fn presigned_tokens(server: &TestServer) {
    let run = ingest_run(server, "tokens");
    let (status, token) = server.post_json(
        "/feedback/tokens",
        &json!({"run_id": run, "feedback_key": "helpful", "expires_in": {"hours": 1},
                "feedback_config": {"type": "continuous", "min": 0, "max": 1}}),
    );
    assert_eq!(status, 200, "{token}");
    let url = token["url"].as_str().unwrap().to_string();
    assert!(url.ends_with(&format!(
        "/feedback/tokens/{}",
        token["id"].as_str().unwrap()
    )));
    // Multi-use until it expires, with no API key: POST twice, then a browser GET.
    for score in [0.8, 0.9] {
        let (status, answer) = common::send(
            server.client().post(&url).header("content-type", "application/json").body(
                json!({"score": score, "value": null, "correction": null, "comment": "c", "metadata": {"from": "web"}}).to_string(),
            ),
        );
        assert_eq!(status, 200, "{answer}");
    }
    let (status, _) = common::send(
        server
            .client()
            .get(format!("{url}?score=1&comment=via%20link")),
    );
    assert_eq!(status, 200);
    let (_, listed) = server.get(&format!("/feedback?run={run}&key=helpful"));
    let mut scores: Vec<f64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["score"].as_f64().unwrap())
        .collect();
    scores.sort_by(f64::total_cmp);
    assert_eq!(scores, vec![0.8, 0.9, 1.0]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["feedback_config"]["type"] == "continuous")
    );
    let via_link = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["score"] == 1.0)
        .unwrap();
    assert_eq!(via_link["comment"], "via link");

    // Batch form: an array in, an array out.
    let (status, many) = server.post_json(
        "/feedback/tokens",
        &json!([{"run_id": run, "feedback_key": "a", "expires_in": null, "expires_at": iso_future()},
                {"run_id": run, "feedback_key": "b", "expires_in": {"days": 1}, "expires_at": null}]),
    );
    assert_eq!(status, 200, "{many}");
    assert_eq!(many.as_array().unwrap().len(), 2);
    let (_, tokens) = server.get(&format!("/feedback/tokens?run_id={run}"));
    assert_eq!(tokens.as_array().unwrap().len(), 3);

    // Expired, unknown and malformed tokens.
    let (status, answer) = server.post_json(
        "/feedback/tokens",
        &json!({"run_id": run, "feedback_key": "old", "expires_at": "2001-01-01T00:00:00Z"}),
    );
    assert_eq!(status, 422, "{answer}");
    // A token that has run out is refused (410) and adds nothing.
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(300)).to_rfc3339();
    let (status, short) = server.post_json(
        "/feedback/tokens",
        &json!({"run_id": run, "feedback_key": "short-lived", "expires_at": soon}),
    );
    assert_eq!(status, 200, "{short}");
    std::thread::sleep(std::time::Duration::from_millis(600));
    let (status, answer) = common::send(
        server
            .client()
            .get(format!("{}?score=1", short["url"].as_str().unwrap())),
    );
    assert_eq!(status, 410, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("expired"));
    assert_eq!(
        server
            .get(&format!("/feedback?run={run}&key=short-lived"))
            .1,
        json!([])
    );
    let (status, _) = server.post_json(
        &format!("/feedback/tokens/{}", Uuid::new_v4()),
        &json!({"score": 1}),
    );
    assert_eq!(status, 404);
    let (status, answer) = server.post_json(
        "/feedback/tokens",
        &json!({"run_id": run, "feedback_key": "forever", "expires_in": {"days": i64::MAX}}),
    );
    assert_eq!(
        status, 422,
        "an overflowing expiry is refused, not a crash: {answer}"
    );
    let (status, _) = server.post_json("/feedback/tokens", &json!({"feedback_key": "no run"}));
    assert_eq!(status, 422);
    let token_id = token["id"].as_str().unwrap();
    let (status, _) = server.post_json(
        &format!("/feedback/tokens/{token_id}"),
        &json!({"score": "x"}),
    );
    assert_eq!(status, 422);
}

fn iso_future() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()
}

fn feedback_configs(server: &TestServer) {
    let config = json!({"type": "continuous", "min": 0, "max": 5});
    let (status, created) = server.post_json(
        "/feedback-configs",
        &json!({"feedback_key": "stars", "feedback_config": config, "is_lower_score_better": false}),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["feedback_config"], config);
    assert!(created["tenant_id"].is_string() && created["modified_at"].is_string());
    // Same key and config: the stored one, whatever is_lower_score_better says.
    let (status, again) = server.post_json(
        "/feedback-configs",
        &json!({"feedback_key": "stars", "feedback_config": config, "is_lower_score_better": true}),
    );
    assert_eq!(status, 200);
    assert_eq!(again["is_lower_score_better"], false);
    let (status, _) = server.post_json(
        "/feedback-configs",
        &json!({"feedback_key": "stars", "feedback_config": {"type": "freeform"}}),
    );
    assert_eq!(status, 400);
    let (status, updated) = server.patch_json(
        "/feedback-configs",
        &json!({"feedback_key": "stars", "is_lower_score_better": true}),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["is_lower_score_better"], true);
    let (_, listed) = server.get("/feedback-configs?key=stars");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        server
            .get("/feedback-configs?name_contains=tar")
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let response = server
        .client()
        .delete(format!(
            "{}/feedback-configs?feedback_key=stars",
            server.url
        ))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(server.get("/feedback-configs?key=stars").1, json!([]));
    // A deleted key can be configured again, differently.
    let (status, _) = server.post_json(
        "/feedback-configs",
        &json!({"feedback_key": "stars", "feedback_config": {"type": "categorical", "categories": [{"value": 1, "label": "bad"}, {"value": 2}]}}),
    );
    assert_eq!(status, 200);
    for bad in [
        json!({"feedback_key": "x", "feedback_config": {"type": "stars"}}),
        json!({"feedback_key": "x", "feedback_config": {"type": "categorical"}}),
        json!({"feedback_key": "x", "feedback_config": {"type": "continuous", "min": 3, "max": 1}}),
        json!({"feedback_key": "", "feedback_config": {"type": "freeform"}}),
    ] {
        let (status, answer) = server.post_json("/feedback-configs", &bad);
        assert_eq!(status, 422, "{bad}: {answer}");
    }
    let (status, _) = server.patch_json("/feedback-configs", &json!({"feedback_key": "missing"}));
    assert_eq!(status, 404);
}

fn feedback_is_workspace_scoped(server: &TestServer) {
    let other = server.create_workspace();
    let run = ingest_run(server, "private-fb");
    let (_, created) = server.post_json(
        "/feedback",
        &json!({"run_id": run, "key": "secret", "score": 1}),
    );
    let id = created["id"].as_str().unwrap();
    assert_eq!(server.get_in(&other, &format!("/feedback/{id}")).0, 404);
    assert_eq!(server.get_in(&other, "/feedback?key=secret").1, json!([]));
    let (status, _) = server.post_json_in(
        &other,
        "/feedback",
        &json!({"id": id, "run_id": run, "key": "steal"}),
    );
    assert_eq!(status, 409, "an id taken in another workspace is refused");
    let (_, configs) = server.get_in(&other, "/feedback-configs");
    assert_eq!(configs, Value::Array(vec![]));
}
