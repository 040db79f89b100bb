//! Ingest through every path the SDKs use, read back over HTTP.

mod common;

use common::{Multipart, TestServer, iso, segment};
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    multipart_tree_round_trips,
    patch_before_post_and_retries_end_in_one_run,
    compressed_bodies_are_accepted,
    batch_endpoint_ingests_posts_and_patches,
    plain_post_and_patch_derive_lineage,
    attachments_and_feedback_parts_are_stored,
    bad_multipart_input_is_refused_and_writes_nothing,
    bad_json_input_is_refused,
    routes_are_served_under_api_v1,
);

fn project_id(server: &TestServer, name: &str) -> String {
    let (status, projects) = server.get(&format!("/sessions?name={name}"));
    assert_eq!(status, 200, "{projects}");
    projects[0]["id"]
        .as_str()
        .expect("project exists")
        .to_string()
}

fn query(server: &TestServer, body: Value) -> Vec<Value> {
    let (status, page) = server.post_json("/runs/query", &body);
    assert_eq!(status, 200, "{page}");
    page["runs"].as_array().unwrap().clone()
}

fn multipart_tree_round_trips(server: &TestServer) {
    let root = Uuid::now_v7();
    let child = Uuid::now_v7();
    let root_order = segment(0, &root);
    let child_order = format!("{root_order}.{}", segment(5, &child));
    let body = Multipart::new()
        .json(
            &format!("post.{root}"),
            &json!({"id": root, "trace_id": root, "dotted_order": root_order, "name": "agent",
                    "run_type": "chain", "start_time": iso(0), "session_name": "mp-tree",
                    "tags": ["t1"], "replicas": []}),
        )
        .json(&format!("post.{root}.inputs"), &json!({"question": "hi"}))
        .json(
            &format!("post.{root}.extra"),
            &json!({"metadata": {"assistant_id": "a1"}, "runtime": {"sdk": "langsmith-py"}}),
        )
        .json(
            &format!("post.{child}"),
            &json!({"id": child, "trace_id": root, "dotted_order": child_order, "parent_run_id": root,
                    "name": "llm", "run_type": "llm", "start_time": iso(5), "session_name": "mp-tree"}),
        )
        .json(&format!("post.{child}.inputs"), &json!({"prompt": "p"}))
        .json(
            &format!("patch.{child}"),
            &json!({"id": child, "trace_id": root, "dotted_order": child_order, "parent_run_id": root,
                    "end_time": iso(9), "session_name": "mp-tree"}),
        )
        .json(
            &format!("patch.{child}.outputs"),
            &json!({"usage_metadata": {"input_tokens": 3, "output_tokens": 4}, "text": "yo"}),
        )
        .json(
            &format!("patch.{root}"),
            &json!({"id": root, "trace_id": root, "dotted_order": root_order, "end_time": iso(10)}),
        )
        .json(&format!("patch.{root}.outputs"), &json!({"answer": 42}))
        .json(&format!("patch.{root}.extra"), &json!({}));
    let (status, answer) = server.post_multipart(&body);
    assert_eq!(status, 202, "{answer}");

    let run = server.get_eventually(&format!("/runs/{root}"));
    assert_eq!(run["name"], "agent");
    assert_eq!(run["run_type"], "chain");
    assert_eq!(run["status"], "success");
    assert_eq!(run["inputs"], json!({"question": "hi"}));
    assert_eq!(run["outputs"], json!({"answer": 42}));
    assert_eq!(run["tags"], json!(["t1"]));
    assert_eq!(run["extra"]["metadata"]["assistant_id"], "a1");
    assert_eq!(
        run["extra"]["runtime"]["sdk"], "langsmith-py",
        "an empty patch extra must not wipe it"
    );
    assert_eq!(run["trace_id"], root.to_string());
    assert_eq!(run["dotted_order"], root_order);
    assert_eq!(run["start_time"], iso(0).replace('Z', "+00:00"));

    let child_run = server.get_eventually(&format!("/runs/{child}"));
    assert_eq!(child_run["parent_run_id"], root.to_string());
    assert_eq!(child_run["parent_run_ids"], json!([root.to_string()]));
    assert_eq!(child_run["prompt_tokens"], 3);
    assert_eq!(child_run["completion_tokens"], 4);
    assert_eq!(child_run["total_tokens"], 7);
    assert_eq!(child_run["inputs"], json!({"prompt": "p"}));

    let project = project_id(server, "mp-tree");
    assert_eq!(run["session_id"], project);
    let trace = query(server, json!({"trace": root, "order": "asc"}));
    assert_eq!(trace.len(), 2);
    assert_eq!(trace[0]["id"], root.to_string());
    let roots = query(server, json!({"session": [project], "is_root": true}));
    assert_eq!(roots.len(), 1);
    let children = query(server, json!({"parent_run": root}));
    assert_eq!(children.len(), 1);
    assert_eq!(children[0]["id"], child.to_string());
    let llm_only = query(server, json!({"session": [project], "run_type": "llm"}));
    assert_eq!(llm_only.len(), 1);
}

fn patch_before_post_and_retries_end_in_one_run(server: &TestServer) {
    let id = Uuid::now_v7();
    let order = segment(0, &id);
    let patch = Multipart::new()
        .json(
            &format!("patch.{id}"),
            &json!({"id": id, "trace_id": id, "dotted_order": order, "end_time": iso(3)}),
        )
        .json(&format!("patch.{id}.outputs"), &json!({"out": 1}));
    assert_eq!(server.post_multipart(&patch).0, 202);
    // Not readable until its post arrives.
    assert_eq!(server.get(&format!("/runs/{id}")).0, 404);
    let post = Multipart::new()
        .json(
            &format!("post.{id}"),
            &json!({"id": id, "trace_id": id, "dotted_order": order, "name": "late",
                    "run_type": "tool", "start_time": iso(0), "session_name": "ooo",
                    "outputs": {}}),
        )
        .json(&format!("post.{id}.inputs"), &json!({"in": 1}));
    assert_eq!(server.post_multipart(&post).0, 202);
    // An SDK retry sends the same post again.
    assert_eq!(server.post_multipart(&post).0, 202);
    let run = server.get_eventually(&format!("/runs/{id}"));
    assert_eq!(run["outputs"], json!({"out": 1}));
    assert_eq!(run["inputs"], json!({"in": 1}));
    assert_eq!(run["end_time"], iso(3).replace('Z', "+00:00"));
    let project = project_id(server, "ooo");
    assert_eq!(query(server, json!({"session": [project]})).len(), 1);
}

fn compressed_bodies_are_accepted(server: &TestServer) {
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for (i, encoding) in ["zstd", "gzip", "identity"].iter().enumerate() {
        let id = ids[i];
        let body = Multipart::new().json(
            &format!("post.{id}"),
            &json!({"id": id, "trace_id": id, "dotted_order": segment(0, &id), "name": encoding,
                    "run_type": "chain", "start_time": iso(0), "session_name": "compressed"}),
        );
        let raw = body.bytes();
        let encoded = match *encoding {
            "zstd" => zstd::encode_all(&raw[..], 1).unwrap(),
            "gzip" => {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(&raw).unwrap();
                enc.finish().unwrap()
            }
            _ => raw,
        };
        let (status, answer) = server.post_raw(
            "/runs/multipart",
            &[
                ("content-type", &body.content_type()),
                ("content-encoding", encoding),
            ],
            encoded,
        );
        assert_eq!(status, 202, "{encoding}: {answer}");
        assert_eq!(
            server.get_eventually(&format!("/runs/{id}"))["name"],
            *encoding
        );
    }
}

fn batch_endpoint_ingests_posts_and_patches(server: &TestServer) {
    let root = Uuid::now_v7();
    let child = Uuid::now_v7();
    let root_order = segment(0, &root);
    let child_order = format!("{root_order}.{}", segment(1, &child));
    let (status, answer) = server.post_json(
        "/runs/batch",
        &json!({
            "post": [
                {"id": root, "trace_id": root, "dotted_order": root_order, "name": "r", "run_type": "chain",
                 "start_time": iso(0), "inputs": {"a": 1}, "session_name": "batch"},
                {"id": child, "trace_id": root, "dotted_order": child_order, "parent_run_id": root,
                 "name": "c", "run_type": "retriever", "start_time": iso(1), "inputs": {"b": 2},
                 "session_name": "batch"}
            ],
            "patch": [
                {"id": child, "trace_id": root, "dotted_order": child_order, "parent_run_id": root,
                 "end_time": iso(2), "error": "ValueError('boom')"}
            ]
        }),
    );
    assert_eq!(status, 202, "{answer}");
    let run = server.get_eventually(&format!("/runs/{child}"));
    assert_eq!(run["status"], "error");
    assert_eq!(run["error"], "ValueError('boom')");
    let root_run = server.get_eventually(&format!("/runs/{root}"));
    assert_eq!(root_run["status"], "pending");
    // Only patches: still fine.
    let (status, _) = server.post_json("/runs/batch", &json!({"patch": [
        {"id": root, "trace_id": root, "dotted_order": root_order, "end_time": iso(3), "outputs": {"o": 1}}]}));
    assert_eq!(status, 202);
    assert_eq!(server.get(&format!("/runs/{root}")).1["status"], "success");
}

fn plain_post_and_patch_derive_lineage(server: &TestServer) {
    let root = Uuid::now_v7();
    let child = Uuid::now_v7();
    let grandchild = Uuid::now_v7();
    // The child arrives before its parent: lineage is filled in once the parent is known.
    let (status, answer) = server.post_json(
        "/runs",
        &json!({"id": child, "name": "child", "run_type": "llm", "parent_run_id": root,
                "start_time": iso(1), "inputs": {"x": 1}, "session_name": "plain"}),
    );
    assert_eq!(status, 202, "{answer}");
    let (status, _) = server.post_json(
        "/runs",
        &json!({"id": root, "name": "root", "run_type": "chain", "start_time": iso(0),
                "inputs": {}, "session_name": "plain"}),
    );
    assert_eq!(status, 202);
    // JS style: epoch milliseconds.
    let (status, _) = server.post_json(
        "/runs",
        &json!({"id": grandchild, "name": "gc", "run_type": "tool", "parent_run_id": child,
                "start_time": 1_764_000_000_002i64, "session_name": "plain"}),
    );
    assert_eq!(status, 202);
    let (status, answer) = server.patch_json(
        &format!("/runs/{root}"),
        &json!({"id": root, "name": null, "run_type": null, "trace_id": null, "end_time": iso(5),
                "outputs": {"done": true}, "extra": {"metadata": {"k": "v"}}}),
    );
    assert_eq!(status, 202, "{answer}");

    let root_run = server.get_eventually(&format!("/runs/{root}"));
    assert_eq!(root_run["name"], "root", "null in a patch leaves the name");
    assert_eq!(root_run["trace_id"], root.to_string());
    assert_eq!(root_run["outputs"], json!({"done": true}));
    let child_run = server.get_eventually(&format!("/runs/{child}"));
    assert_eq!(child_run["trace_id"], root.to_string());
    let child_order = child_run["dotted_order"].as_str().unwrap();
    assert!(child_order.starts_with(root_run["dotted_order"].as_str().unwrap()));
    assert!(child_order.ends_with(&child.to_string()));
    let gc = server.get_eventually(&format!("/runs/{grandchild}"));
    assert_eq!(gc["trace_id"], root.to_string());
    assert_eq!(
        gc["parent_run_ids"],
        json!([root.to_string(), child.to_string()])
    );
    assert_eq!(gc["start_time"], "2025-11-24T16:00:00.002000+00:00");

    // A post without an id gets one; a run without a project lands in "default".
    let (status, _) = server.post_json("/runs", &json!({"name": "anon", "run_type": "chain"}));
    assert_eq!(status, 202);
    let default = project_id(server, "default");
    let runs = query(server, json!({"session": [default]}));
    assert!(runs.iter().any(|r| r["name"] == "anon"));
}

fn attachments_and_feedback_parts_are_stored(server: &TestServer) {
    let id = Uuid::now_v7();
    let feedback_id = Uuid::now_v7();
    let body = Multipart::new()
        .json(
            &format!("post.{id}"),
            &json!({"id": id, "trace_id": id, "dotted_order": segment(0, &id), "name": "with-file",
                    "run_type": "chain", "start_time": iso(0), "session_name": "files"}),
        )
        .raw(
            &format!("attachment.{id}.picture"),
            "image/png; length=4",
            b"\x89PNG",
        )
        .json(
            &format!("feedback.{feedback_id}"),
            &json!({"id": feedback_id, "run_id": id, "trace_id": id, "key": "thumbs", "score": 1}),
        );
    let (status, answer) = server.post_multipart(&body);
    assert_eq!(status, 202, "{answer}");
    let run = server.get_eventually(&format!("/runs/{id}"));
    let attachment = &run["s3_urls"]["attachment.picture"];
    assert_eq!(attachment["mime_type"], "image/png");
    let url = attachment["presigned_url"].as_str().unwrap();
    let bytes = server.client().get(url).send().unwrap().bytes().unwrap();
    assert_eq!(&bytes[..], b"\x89PNG");
    assert_eq!(run["feedback_stats"]["thumbs"]["n"], 1);
    assert_eq!(run["feedback_stats"]["thumbs"]["avg"], 1.0);
    // Re-sent (SDK retry): still one feedback.
    assert_eq!(server.post_multipart(&body).0, 202);
    let run = server.get(&format!("/runs/{id}")).1;
    assert_eq!(run["feedback_stats"]["thumbs"]["n"], 1);
    let project = project_id(server, "files");
    let (_, stats) = server.get(&format!("/sessions/{project}?include_stats=true"));
    assert_eq!(stats["feedback_stats"]["thumbs"]["n"], 1);
    assert_eq!(stats["run_count"], 1);
}

fn bad_multipart_input_is_refused_and_writes_nothing(server: &TestServer) {
    let id = Uuid::now_v7();
    let good = Multipart::new().json(
        &format!("post.{id}"),
        &json!({"id": id, "trace_id": id, "dotted_order": segment(0, &id), "name": "x",
                "run_type": "chain", "start_time": iso(0), "session_name": "bad-input"}),
    );
    let ct = good.content_type();
    let mut truncated = good.bytes();
    truncated.truncate(truncated.len() - 20);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("truncated", vec![("content-type", &ct)], truncated, 400),
        (
            "zstd garbage",
            vec![("content-type", &ct), ("content-encoding", "zstd")],
            b"not zstd at all".to_vec(),
            400,
        ),
        (
            "unknown encoding",
            vec![("content-type", &ct), ("content-encoding", "br")],
            good.bytes(),
            415,
        ),
        (
            "not multipart",
            vec![("content-type", "application/json")],
            b"{}".to_vec(),
            415,
        ),
    ];
    for (what, headers, body, expected) in cases {
        let (status, answer) = server.post_raw("/runs/multipart", &headers, body);
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(
            answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {answer}"
        );
    }
    // One bad run spoils the whole request: the good run beside it is not written either.
    let other = Uuid::now_v7();
    let mixed = Multipart::new()
        .json(
            &format!("post.{id}"),
            &json!({"id": id, "trace_id": id, "dotted_order": segment(0, &id), "name": "x",
                    "run_type": "chain", "start_time": iso(0), "session_name": "bad-input"}),
        )
        .json(
            &format!("post.{other}"),
            &json!({"id": other, "trace_id": other, "dotted_order": segment(0, &other), "name": "y",
                    "run_type": "agent", "start_time": iso(0)}),
        );
    let (status, answer) = server.post_multipart(&mixed);
    assert_eq!(status, 422);
    assert!(
        answer["detail"].as_str().unwrap().contains("run_type"),
        "{answer}"
    );
    let wrong_types = Multipart::new().json(
        &format!("post.{id}"),
        &json!({"id": id, "name": 7, "run_type": "chain"}),
    );
    let (status, answer) = server.post_multipart(&wrong_types);
    assert_eq!(status, 422);
    assert!(
        answer["detail"].as_str().unwrap().contains("name"),
        "{answer}"
    );
    let bad_id = Multipart::new().json(
        "post.not-a-uuid",
        &json!({"name": "x", "run_type": "chain"}),
    );
    let (status, answer) = server.post_multipart(&bad_id);
    assert_eq!(status, 422);
    assert!(
        answer["detail"].as_str().unwrap().contains("not-a-uuid"),
        "{answer}"
    );
    assert_eq!(server.get(&format!("/runs/{id}")).0, 404);
    assert_eq!(server.get("/sessions?name=bad-input").1, json!([]));
}

fn bad_json_input_is_refused(server: &TestServer) {
    let (status, answer) = server.post_raw(
        "/runs",
        &[("content-type", "application/json")],
        b"{oops".to_vec(),
    );
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = server.post_json(
        "/runs",
        &json!({"name": "x", "run_type": "chain", "id": "123"}),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("id"));
    let (status, answer) = server.post_json(
        "/runs/batch",
        &json!({"post": [{"name": "no id", "run_type": "chain"}]}),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("post[0]"));
    let (status, answer) = server.post_json("/runs/batch", &json!({"post": "nope"}));
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = server.get("/runs/not-a-uuid");
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = server.get(&format!("/runs/{}", Uuid::now_v7()));
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = server.post_json("/runs/query", &json!({"filter": "eq(name, \"x\""}));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        answer["detail"],
        "filter: expected ',' or ')', found the end at offset 12"
    );
    let (status, answer) =
        server.post_json("/runs/query", &json!({"tree_filter": "neq(tags, \"x\")"}));
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .starts_with("tree_filter: comparator neq is not accepted for attribute tags"),
        "{answer}"
    );
    let (status, answer) = server.post_json("/runs/query", &json!({"cursor": "garbage"}));
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = server.post_json("/runs/query", &json!({"session": "not-a-list"}));
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = server.get("/no/such/route");
    assert_eq!(status, 404, "{answer}");
    assert!(answer["detail"].is_string());
}

fn routes_are_served_under_api_v1(server: &TestServer) {
    for prefix in ["", "/api/v1", "/api"] {
        let (status, info) = server.get(&format!("{prefix}/info"));
        assert_eq!(status, 200, "{prefix}");
        for key in [
            "use_multipart_endpoint",
            "size_limit",
            "size_limit_bytes",
            "scale_up_qsize_trigger",
            "scale_up_nthreads_limit",
            "scale_down_nempty_trigger",
        ] {
            assert!(info["batch_ingest_config"].get(key).is_some(), "{key}");
        }
        assert_eq!(info["instance_flags"]["zstd_compression_enabled"], true);
        // Trailing slashes are accepted too.
        assert_eq!(server.get(&format!("{prefix}/sessions/")).0, 200);
    }
    let id = Uuid::now_v7();
    let body = Multipart::new().json(
        &format!("post.{id}"),
        &json!({"id": id, "trace_id": id, "dotted_order": segment(0, &id), "name": "v1",
                "run_type": "chain", "start_time": iso(0)}),
    );
    let (status, _) = server.post_raw(
        "/api/v1/runs/multipart",
        &[("content-type", &body.content_type())],
        body.bytes(),
    );
    assert_eq!(status, 202);
    assert_eq!(
        server.get_eventually(&format!("/api/v1/runs/{id}"))["name"],
        "v1"
    );
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200);
    let (status, _) = server.get("/readyz");
    assert_eq!(status, 200);
}

#[test]
fn run_query_pages_with_cursors_in_both_orders() {
    for backend in [common::Backend::Sqlite, common::Backend::Postgres] {
        let Some(server) = TestServer::start(backend) else {
            continue;
        };
        // 25 runs, some sharing a start time, so the cursor must break ties by id.
        let mut body = Multipart::new();
        let mut ids = Vec::new();
        for i in 0..25 {
            let id = Uuid::now_v7();
            let offset = (i / 2) as i64;
            body = body.json(
                &format!("post.{id}"),
                &json!({"id": id, "trace_id": id, "dotted_order": segment(offset, &id), "name": format!("r{i}"),
                        "run_type": "chain", "start_time": iso(offset), "session_name": "paging"}),
            );
            ids.push(id);
        }
        assert_eq!(server.post_multipart(&body).0, 202);
        let project = project_id(&server, "paging");
        for order in ["asc", "desc"] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut request = json!({"session": [project], "limit": 10, "order": order});
                if let Some(c) = &cursor {
                    request["cursor"] = json!(c);
                }
                let (status, page) = server.post_json("/runs/query", &request);
                assert_eq!(status, 200, "{page}");
                pages += 1;
                let runs = page["runs"].as_array().unwrap();
                assert!(runs.len() <= 10);
                seen.extend(runs.iter().map(|r| {
                    (
                        r["start_time"].as_str().unwrap().to_string(),
                        r["id"].as_str().unwrap().to_string(),
                    )
                }));
                match page["cursors"]["next"].as_str() {
                    Some(next) => cursor = Some(next.to_string()),
                    None => break,
                }
            }
            assert_eq!(pages, 3, "{order}");
            assert_eq!(seen.len(), 25, "{order}: every run exactly once");
            let mut sorted = seen.clone();
            sorted.sort();
            if order == "desc" {
                sorted.reverse();
            }
            assert_eq!(seen, sorted, "{order}: ordered by start_time then id");
        }
        let picked: Vec<String> = ids.iter().take(3).map(Uuid::to_string).collect();
        let runs = query(&server, json!({"id": picked}));
        assert_eq!(runs.len(), 3);
        let (status, _) = server.post_json("/runs/query", &json!({"limit": 0}));
        assert_eq!(status, 422);
        let (status, _) = server.post_json("/runs/query", &json!({"order": "sideways"}));
        assert_eq!(status, 422);
    }
}
