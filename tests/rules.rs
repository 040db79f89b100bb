//! Run rules API: create, list, replace, delete, validate; every bad input refused with the
//! field named and nothing stored.

mod common;

use serde_json::{Value, json};

use common::TestServer;

backend_tests!(rule_lifecycle, rule_bad_input);

fn create(server: &TestServer, path: &str, body: &Value) -> Value {
    let (status, answer) = server.post_json(path, body);
    assert_eq!(status, 200, "{answer}");
    answer
}

fn rule_lifecycle(server: &TestServer) {
    let project = create(server, "/sessions", &json!({"name": "rules-project"}));
    let dataset = create(server, "/datasets", &json!({"name": "A1 few-shot"}));
    let queue = create(server, "/annotation-queues", &json!({"name": "review"}));
    let liked = r#"and(eq(is_root, true), eq(metadata_key, "assistant_id"), eq(metadata_value, "A1"), eq(feedback_key, "user_score"), eq(feedback_score, 1))"#;
    let rule = create(
        server,
        "/runs/rules",
        &json!({
            "display_name": "A1 liked turns", "session_id": project["id"], "sampling_rate": 1.0,
            "filter": liked, "add_to_dataset_id": dataset["id"],
            "add_to_dataset_prefer_correction": true,
            "webhooks": [{"url": "http://127.0.0.1:9/hook", "headers": {"x-key": "k"}}],
            "evaluators": [{"structured": {"prompt": [["system", "grade"]]}}],
            "alerts": [], "spend_limit": {"limit_usd": 5, "window": "weekly"},
            "backfill_from": "2026-11-01T00:00:00Z", "unknown_field": 1,
        }),
    );
    assert_eq!(rule["session_name"], "rules-project");
    assert_eq!(rule["add_to_dataset_name"], "A1 few-shot");
    assert_eq!(rule["is_enabled"], true);
    assert_eq!(rule["filter"], liked);
    assert_eq!(rule["webhooks"][0]["headers"]["x-key"], "k");
    assert_eq!(rule["evaluators"][0]["structured"]["prompt"][0][1], "grade");
    assert_eq!(rule["spend_limit"]["limit_usd"], 5);
    assert!(rule.get("unknown_field").is_none());
    assert_eq!(rule["backfill_from"], "2026-11-01T00:00:00.000000+00:00");
    let id = rule["id"].as_str().unwrap();

    let second = create(
        server,
        "/runs/rules",
        &json!({"display_name": "to review", "dataset_id": dataset["id"], "sampling_rate": 0.25,
                "add_to_annotation_queue_id": queue["id"]}),
    );
    assert_eq!(second["add_to_annotation_queue_name"], "review");
    let list = |query: &str| -> Vec<String> {
        let (status, answer) = server.get(&format!("/runs/rules{query}"));
        assert_eq!(status, 200, "{answer}");
        answer
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["display_name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(list(""), ["A1 liked turns", "to review"]);
    assert_eq!(list(&format!("?id={id}")), ["A1 liked turns"]);
    assert_eq!(
        list(&format!("?session_id={}", project["id"].as_str().unwrap())),
        ["A1 liked turns"]
    );
    assert_eq!(
        list(&format!("?dataset_id={}", dataset["id"].as_str().unwrap())),
        ["to review"]
    );
    assert_eq!(list("?type=dataset"), ["to review"]);
    assert_eq!(list("?name_contains=liked"), ["A1 liked turns"]);
    // Through /api/v1 too (the SDK's base URL).
    assert_eq!(server.get("/api/v1/runs/rules").0, 200);

    let (status, updated) = server.patch_json(
        &format!("/runs/rules/{id}"),
        &json!({"display_name": "A1 liked", "session_id": project["id"], "sampling_rate": 0.5,
                "is_enabled": false, "filter": liked, "add_to_dataset_id": dataset["id"]}),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["is_enabled"], false);
    assert_eq!(updated["sampling_rate"], 0.5);
    assert_eq!(updated["created_at"], rule["created_at"]);
    assert_eq!(updated["webhooks"], Value::Null, "PATCH replaces the rule");

    let (status, answer) = server.post_json(
        "/runs/rules/validate",
        &json!({"display_name": "v", "session_id": project["id"], "sampling_rate": 1, "filter": liked}),
    );
    assert_eq!((status, answer), (200, json!([])));
    assert_eq!(list("").len(), 2, "validate stores nothing");

    assert_eq!(server.delete(&format!("/runs/rules/{id}")).0, 200);
    assert_eq!(server.delete(&format!("/runs/rules/{id}")).0, 404);
    assert_eq!(list(""), ["to review"]);
}

fn rule_bad_input(server: &TestServer) {
    let project = create(server, "/sessions", &json!({"name": "rules-bad"}));
    let dataset = create(server, "/datasets", &json!({"name": "rules-bad-ds"}));
    let other = server.create_workspace();
    let (status, foreign) = server.post_json_in(&other, "/datasets", &json!({"name": "not yours"}));
    assert_eq!(status, 200, "{foreign}");
    let base = json!({"display_name": "r", "session_id": project["id"], "sampling_rate": 1.0});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (body, status, needle) in [
        (
            with(json!({"filter": "and(eq(name, \"x\")"})),
            400,
            "filter: expected ',' or ')', found the end at offset 17",
        ),
        (
            with(json!({"trace_filter": "neq(tags, \"x\")"})),
            400,
            "trace_filter: comparator neq",
        ),
        (
            with(json!({"sampling_rate": 1.5})),
            422,
            "sampling_rate must be between 0 and 1, got 1.5",
        ),
        (with(json!({"sampling_rate": -0.1})), 422, "sampling_rate"),
        (
            with(json!({"dataset_id": dataset["id"]})),
            422,
            "exactly one of session_id and dataset_id",
        ),
        (
            json!({"display_name": "r", "sampling_rate": 1}),
            422,
            "exactly one of session_id and dataset_id",
        ),
        (
            json!({"session_id": project["id"], "sampling_rate": 1}),
            422,
            "display_name is required",
        ),
        (
            with(json!({"add_to_dataset_id": foreign["id"]})),
            404,
            "add_to_dataset_id: dataset",
        ),
        (
            with(json!({"add_to_annotation_queue_id": uuid::Uuid::now_v7()})),
            404,
            "annotation queue",
        ),
        (
            with(json!({"session_id": uuid::Uuid::now_v7()})),
            404,
            "session_id: project",
        ),
        (
            with(json!({"webhooks": [{"url": "ftp://x"}]})),
            422,
            "webhooks[0].url",
        ),
        (
            with(json!({"webhooks": [{"url": "http://x", "headers": {"a": 1}}]})),
            422,
            "webhooks[0].headers",
        ),
        (
            with(json!({"backfill_from": "last week"})),
            422,
            "backfill_from",
        ),
    ] {
        for path in ["/runs/rules", "/runs/rules/validate"] {
            let (got, answer) = server.post_json(path, &body);
            assert_eq!(got, status, "{path} {body}: {answer}");
            let detail = answer["detail"].as_str().unwrap();
            assert!(detail.contains(needle), "{path} {body}: {detail}");
        }
    }
    let (_, rules) = server.get("/runs/rules");
    assert_eq!(rules, json!([]), "nothing stored");
    assert_eq!(server.get("/runs/rules?type=project").0, 422);
    let (status, _) = server.patch_json(&format!("/runs/rules/{}", uuid::Uuid::now_v7()), &base);
    assert_eq!(status, 404);
}
