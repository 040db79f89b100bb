//! Projects (`/sessions`) and workspace scoping.

mod common;

use common::{Multipart, TestServer, iso, segment};
use serde_json::json;
use uuid::Uuid;

backend_tests!(
    project_lifecycle,
    project_listing_filters_and_pages,
    project_bad_input,
    workspaces_see_only_their_own_data,
);

fn project_lifecycle(server: &TestServer) {
    let id = Uuid::now_v7();
    let (status, created) = server.post_json(
        "/sessions",
        &json!({"id": id, "name": "life", "description": "d", "extra": {"metadata": {"team": "x"}}}),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["id"], id.to_string());
    assert!(created["tenant_id"].is_string());
    assert!(created.get("reference_dataset_id").is_some());
    let (status, dup) = server.post_json("/sessions", &json!({"name": "life"}));
    assert_eq!(status, 409, "{dup}");
    let (status, upserted) = server.post_json(
        "/sessions?upsert=True",
        &json!({"name": "life", "description": "d2"}),
    );
    assert_eq!(status, 200);
    assert_eq!(upserted["id"], id.to_string());
    assert_eq!(upserted["description"], "d2");

    let (status, read) = server.get(&format!("/sessions/{id}?limit=1&include_stats=False"));
    assert_eq!(status, 200);
    assert_eq!(read["name"], "life");
    assert_eq!(read["extra"]["metadata"]["team"], "x");

    // Python sends every field, nulls meaning "leave it".
    let (status, updated) = server.patch_json(
        &format!("/sessions/{id}"),
        &json!({"name": null, "description": "new", "extra": null, "end_time": null}),
    );
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["name"], "life");
    assert_eq!(updated["description"], "new");
    assert_eq!(updated["extra"]["metadata"]["team"], "x");
    let (status, renamed) =
        server.patch_json(&format!("/sessions/{id}"), &json!({"name": "life2"}));
    assert_eq!(status, 200);
    assert_eq!(renamed["name"], "life2");

    // Runs and their stats.
    let run = Uuid::now_v7();
    let body = Multipart::new().json(
        &format!("post.{run}"),
        &json!({"id": run, "trace_id": run, "dotted_order": segment(0, &run), "name": "r",
                "run_type": "chain", "start_time": iso(0), "end_time": iso(1500), "session_id": id,
                "error": "boom"}),
    );
    assert_eq!(server.post_multipart(&body).0, 202);
    let (_, stats) = server.get(&format!("/sessions/{id}?include_stats=true"));
    assert_eq!(stats["run_count"], 1);
    assert_eq!(stats["error_rate"], 1.0);
    assert_eq!(stats["latency_p50"], 1.5);
    assert!(stats["last_run_start_time"].is_string());

    let (status, _) = server.delete(&format!("/sessions/{id}"));
    assert_eq!(status, 200);
    assert_eq!(server.get(&format!("/sessions/{id}")).0, 404);
    assert_eq!(
        server.get(&format!("/runs/{run}")).0,
        404,
        "runs go with their project"
    );
    assert_eq!(server.delete(&format!("/sessions/{id}")).0, 404);
}

fn project_listing_filters_and_pages(server: &TestServer) {
    let dataset = Uuid::now_v7();
    for i in 0..5 {
        let mut body = json!({"name": format!("list-{i}")});
        if i == 0 {
            body["reference_dataset_id"] = json!(dataset);
        }
        assert_eq!(server.post_json("/sessions", &body).0, 200);
    }
    let (_, all) = server.get("/sessions?name_contains=list-");
    assert_eq!(all.as_array().unwrap().len(), 5);
    // Newest first by default.
    assert_eq!(all[0]["name"], "list-4");
    let (_, page) = server.get("/sessions?name_contains=list-&limit=2&offset=2");
    let names: Vec<_> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("list-2"), json!("list-1")]);
    let (_, exact) = server.get("/sessions?name=list-3");
    assert_eq!(exact.as_array().unwrap().len(), 1);
    let (_, experiments) = server.get(&format!("/sessions?reference_dataset={dataset}"));
    assert_eq!(experiments[0]["name"], "list-0");
    assert_eq!(experiments.as_array().unwrap().len(), 1);
    let id3 = exact[0]["id"].as_str().unwrap().to_string();
    let id1 = server.get("/sessions?name=list-1").1[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, by_ids) = server.get(&format!(
        "/sessions?id={id3}&id={id1}&sort_by=name&sort_by_desc=false"
    ));
    let names: Vec<_> = by_ids
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("list-1"), json!("list-3")]);
    // LIKE wildcards in the text match literally.
    let (_, none) = server.get("/sessions?name_contains=%25");
    assert_eq!(none.as_array().unwrap().len(), 0);
    // The SDK discovers the tenant from the first project.
    let (_, first) = server.get("/sessions?limit=1");
    assert!(first[0]["tenant_id"].is_string());
}

fn project_bad_input(server: &TestServer) {
    for (path, expected) in [
        ("/sessions?limit=0", 422),
        ("/sessions?limit=101", 422),
        ("/sessions?offset=-1", 422),
        ("/sessions?id=nope", 422),
        ("/sessions?include_stats=maybe", 422),
        ("/sessions/not-a-uuid", 422),
    ] {
        let (status, body) = server.get(path);
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    let (status, body) = server.post_json("/sessions", &json!({"description": "no name"}));
    assert_eq!(status, 422, "{body}");
    let (status, body) = server.post_json("/sessions", &json!({"name": 5}));
    assert_eq!(status, 422, "{body}");
    let (status, body) = server.patch_json(&format!("/sessions/{}", Uuid::now_v7()), &json!({}));
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get("/sessions?x-unknown-param=1&limit=1");
    assert_eq!(status, 200, "unknown parameters are ignored: {body}");
}

fn workspaces_see_only_their_own_data(server: &TestServer) {
    let other = server.create_workspace();
    let run = Uuid::now_v7();
    let body = Multipart::new().json(
        &format!("post.{run}"),
        &json!({"id": run, "trace_id": run, "dotted_order": segment(0, &run), "name": "mine",
                "run_type": "chain", "start_time": iso(0), "session_name": "private"}),
    );
    assert_eq!(server.post_multipart(&body).0, 202);
    let (_, mine) = server.get("/sessions?name=private");
    let project = mine[0]["id"].as_str().unwrap().to_string();

    assert_eq!(server.get_in(&other, "/sessions?name=private").1, json!([]));
    assert_eq!(
        server.get_in(&other, &format!("/sessions/{project}")).0,
        404
    );
    assert_eq!(server.get_in(&other, &format!("/runs/{run}")).0, 404);
    let (_, page) = server.post_json_in(&other, "/runs/query", &json!({"session": [project]}));
    assert_eq!(page["runs"], json!([]));
    let (_, page) = server.post_json_in(&other, "/runs/query", &json!({"trace": run}));
    assert_eq!(page["runs"], json!([]));
    // The same project name is free in the other workspace.
    let (status, created) = server.post_json_in(&other, "/sessions", &json!({"name": "private"}));
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["tenant_id"], other.to_string());
    assert_eq!(
        server
            .get_in(&other, "/sessions?name=private")
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Unknown or malformed workspaces are refused.
    assert_eq!(server.get_in(&Uuid::now_v7(), "/sessions").0, 403);
    let (status, _) = common::send(
        server
            .client()
            .get(format!("{}/sessions", server.url))
            .header("x-tenant-id", "garbage"),
    );
    assert_eq!(status, 400);
}
