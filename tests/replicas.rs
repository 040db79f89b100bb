//! Several servers on one PostgreSQL database: posts through one replica and patches through
//! another, at the same time, still end in one correct run each.

mod common;

use common::{Backend, Multipart, TestServer, iso, segment};
use serde_json::json;
use uuid::Uuid;

#[test]
fn replicas_merge_concurrent_posts_and_patches() {
    let Some(first) = TestServer::start(Backend::Postgres) else {
        eprintln!("skipped: LOOPSMITH_TEST_POSTGRES_URL is not set");
        return;
    };
    let second = first.replica();
    let ids: Vec<Uuid> = (0..400).map(|_| Uuid::now_v7()).collect();
    let posts: Vec<Multipart> = ids
        .chunks(50)
        .map(|chunk| {
            chunk.iter().fold(Multipart::new(), |body, id| {
                body.json(
                    &format!("post.{id}"),
                    &json!({"id": id, "trace_id": id, "dotted_order": segment(0, id), "name": "replicated",
                            "run_type": "chain", "start_time": iso(0), "session_name": "replicas",
                            "inputs": {"from": "post"}}),
                )
            })
        })
        .collect();
    let patches: Vec<Multipart> = ids
        .chunks(50)
        .map(|chunk| {
            chunk.iter().fold(Multipart::new(), |body, id| {
                body.json(
                    &format!("patch.{id}"),
                    &json!({"id": id, "trace_id": id, "dotted_order": segment(0, id),
                            "end_time": iso(5), "outputs": {"from": "patch"}}),
                )
            })
        })
        .collect();
    std::thread::scope(|scope| {
        for (post, patch) in posts.iter().zip(&patches) {
            scope.spawn(|| assert_eq!(first.post_multipart(post).0, 202));
            scope.spawn(|| assert_eq!(second.post_multipart(patch).0, 202));
        }
    });
    let (_, projects) = first.get("/sessions?name=replicas&include_stats=true");
    assert_eq!(
        projects.as_array().unwrap().len(),
        1,
        "one project, created once"
    );
    assert_eq!(projects[0]["run_count"], 400);
    for id in &ids {
        let (status, run) = second.get(&format!("/runs/{id}"));
        assert_eq!(status, 200);
        assert_eq!(run["inputs"], json!({"from": "post"}), "{id}");
        assert_eq!(run["outputs"], json!({"from": "patch"}), "{id}");
        assert_eq!(run["status"], "success");
    }
}
