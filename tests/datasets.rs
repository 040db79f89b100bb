//! Datasets, examples and versions over HTTP, including bad input and workspace scoping.

mod common;

use common::TestServer;
use serde_json::{Value, json};
use uuid::Uuid;

backend_tests!(
    datasets_crud_and_conflicts,
    example_versions_tags_and_history,
    example_bad_input_changes_nothing,
    datasets_are_workspace_scoped,
    experiment_runs_join_examples_and_runs,
    examples_must_match_dataset_schemas,
    exports,
    csv_upload_bad_input,
    multipart_examples_and_files,
    comparative_experiments,
    sharing_opens_read_only_public_reads,
);

fn create_dataset(server: &TestServer, name: &str) -> String {
    let (status, ds) = server.post_json(
        "/datasets",
        &json!({"name": name, "extra": {"metadata": {"k": "v"}}}),
    );
    assert_eq!(status, 200, "{ds}");
    ds["id"].as_str().unwrap().to_string()
}

fn examples(server: &TestServer, query: &str) -> Vec<Value> {
    let (status, list) = server.get(&format!("/examples?{query}"));
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

fn datasets_crud_and_conflicts(server: &TestServer) {
    let id = create_dataset(server, "crud");
    let (_, ds) = server.get(&format!("/datasets/{id}?limit=1"));
    assert_eq!(ds["metadata"], json!({"k": "v"}));
    assert_eq!(ds["data_type"], "kv");
    assert_eq!(ds["example_count"], 0);
    assert!(ds["tenant_id"].is_string());
    assert_eq!(
        server.post_json("/datasets", &json!({"name": "crud"})).0,
        409
    );
    assert_eq!(
        server
            .post_json("/datasets", &json!({"name": "bad", "data_type": "table"}))
            .0,
        422
    );
    assert_eq!(
        server
            .post_json("/datasets", &json!({"description": "no name"}))
            .0,
        422
    );
    create_dataset(server, "other");
    let (status, renamed) = server.patch_json(
        &format!("/datasets/{id}"),
        &json!({"name": "crud2", "description": "d"}),
    );
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["name"], "crud2");
    assert_eq!(
        server
            .patch_json(&format!("/datasets/{id}"), &json!({"name": "other"}))
            .0,
        409
    );
    assert_eq!(
        server
            .get("/datasets?name=crud2")
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        server
            .get("/datasets?name_contains=crud")
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(server.get("/datasets?data_type=chat").1, json!([]));
    // Both datasets made by create_dataset carry {"k": "v"}.
    assert_eq!(
        server
            .get("/datasets?metadata=%7B%22k%22%3A%22v%22%7D")
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        server.get("/datasets?metadata=%7B%22k%22%3A%22w%22%7D").1,
        json!([])
    );
    assert_eq!(server.get("/datasets?metadata=%5B1%5D").0, 422);
    assert_eq!(server.delete(&format!("/datasets/{id}")).0, 200);
    assert_eq!(server.get(&format!("/datasets/{id}")).0, 404);
    assert_eq!(server.delete(&format!("/datasets/{id}")).0, 404);
}

fn example_versions_tags_and_history(server: &TestServer) {
    let ds = create_dataset(server, "versions");
    let a = Uuid::now_v7();
    let b = Uuid::now_v7();
    let (status, created) = server.post_json(
        "/examples",
        &json!({"id": a, "dataset_id": ds, "inputs": {"q": 1}, "outputs": {"a": 1}}),
    );
    assert_eq!(status, 200, "{created}");
    let v1 = created["modified_at"].as_str().unwrap().to_string();
    let (status, bulk) = server.post_json(
        "/examples/bulk",
        &json!([{"id": b, "dataset_id": ds, "inputs": {"q": 2}, "split": ["test"]}]),
    );
    assert_eq!(status, 200, "{bulk}");
    let (status, _) = server.patch_json(&format!("/examples/{a}"), &json!({"metadata": {"m": 1}}));
    assert_eq!(status, 200);
    let (_, versions) = server.get(&format!("/datasets/{ds}/versions"));
    assert_eq!(versions.as_array().unwrap().len(), 3);
    let first = versions[2]["as_of"].as_str().unwrap().to_string();
    assert_eq!(first, v1);
    let encoded = |t: &str| t.replace('+', "%2B");
    let at_v1 = examples(server, &format!("dataset={ds}&as_of={}", encoded(&v1)));
    assert_eq!(at_v1.len(), 1);
    assert_eq!(at_v1[0]["metadata"], Value::Null);
    let now = examples(server, &format!("dataset={ds}"));
    assert_eq!(now.len(), 2);
    assert_eq!(now[0]["metadata"]["m"], 1);
    assert_eq!(
        now[0]["outputs"],
        json!({"a": 1}),
        "unchanged fields survive an update"
    );
    // Python sends str(datetime): a space instead of the T.
    let (status, version) = server.get(&format!(
        "/datasets/{ds}/version?as_of={}",
        encoded(&v1.replace('T', " "))
    ));
    assert_eq!(status, 200, "{version}");
    assert_eq!(version["as_of"], v1);
    let (status, _) = server
        .client()
        .put(format!("{}/datasets/{ds}/tags", server.url))
        .header("content-type", "application/json")
        .body(json!({"as_of": v1, "tag": "v1"}).to_string())
        .send()
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(examples(server, &format!("dataset={ds}&as_of=v1")).len(), 1);
    assert_eq!(
        server.get(&format!("/datasets/{ds}/version?tag=v1")).1["tags"],
        json!(["v1"])
    );
    assert_eq!(
        server.get(&format!("/datasets/{ds}/version?tag=nope")).0,
        404
    );
    assert_eq!(server.get(&format!("/datasets/{ds}/version")).0, 422);
    assert_eq!(
        server.get(&format!("/datasets/{ds}/splits")).1,
        json!(["base", "test"])
    );
    assert_eq!(
        examples(server, &format!("dataset={ds}&splits=test")).len(),
        1
    );
    assert_eq!(
        examples(server, &format!("dataset={ds}&splits=test&splits=base")).len(),
        2
    );
    let response = server
        .client()
        .delete(format!(
            "{}/examples?example_ids={a}&example_ids={b}",
            server.url
        ))
        .header("content-type", "application/json")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(examples(server, &format!("dataset={ds}")).len(), 0);
    assert_eq!(
        examples(server, &format!("dataset={ds}&as_of=v1")).len(),
        1,
        "history keeps deleted examples"
    );
    assert_eq!(server.get(&format!("/examples/{a}")).0, 404);
    assert_eq!(
        server
            .get(&format!("/examples/{a}?as_of={}", encoded(&v1)))
            .1["inputs"],
        json!({"q": 1})
    );
}

fn example_bad_input_changes_nothing(server: &TestServer) {
    let ds = create_dataset(server, "bad-examples");
    let a = Uuid::now_v7();
    assert_eq!(
        server
            .post_json(
                "/examples",
                &json!({"id": a, "dataset_id": ds, "inputs": {}})
            )
            .0,
        200
    );
    let cases = [
        (
            "/examples",
            json!({"dataset_id": Uuid::now_v7(), "inputs": {}}),
            404,
        ),
        (
            "/examples",
            json!({"id": a, "dataset_id": ds, "inputs": {}}),
            409,
        ),
        ("/examples", json!({"dataset_id": ds, "inputs": [1]}), 422),
        (
            "/examples",
            json!({"dataset_id": ds, "inputs": {}, "split": 5}),
            422,
        ),
        (
            "/examples",
            json!({"dataset_id": "nope", "inputs": {}}),
            422,
        ),
        (
            "/examples/bulk",
            json!([{"id": Uuid::nil(), "dataset_id": ds, "inputs": {}}, {"id": Uuid::nil(), "dataset_id": ds, "inputs": {}}]),
            422,
        ),
        (
            "/examples/bulk",
            json!([{"dataset_id": ds, "inputs": {"new": 1}}, {"id": a, "dataset_id": ds, "inputs": {}}]),
            409,
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = server.post_json(path, &body);
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["detail"].is_string(), "{answer}");
    }
    assert_eq!(
        examples(server, &format!("dataset={ds}")).len(),
        1,
        "refused writes wrote nothing"
    );
    assert_eq!(
        server
            .get(&format!("/datasets/{ds}/versions"))
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, _) = server.patch_json(
        &format!("/examples/{}", Uuid::now_v7()),
        &json!({"inputs": {}}),
    );
    assert_eq!(status, 404);
    let (status, _) = server.patch_json(
        "/examples/bulk",
        &json!([{"id": a, "inputs": {"x": 1}}, {"id": Uuid::now_v7(), "inputs": {}}]),
    );
    assert_eq!(status, 404);
    assert_eq!(
        server.get(&format!("/examples/{a}")).1["inputs"],
        json!({}),
        "bulk update is all or nothing"
    );
    assert_eq!(
        server
            .get(&format!(
                "/examples?dataset={ds}&filter=exists(metadata,%22k%22)"
            ))
            .1,
        json!([])
    );
    let (status, answer) = server.get(&format!(
        "/examples?dataset={ds}&filter=gt(metadata.x,%201)"
    ));
    assert_eq!(status, 400);
    assert!(
        answer["detail"].as_str().unwrap().contains("gt"),
        "{answer}"
    );
    assert_eq!(
        server.get(&format!("/examples?dataset={ds}&filter=and(")).0,
        400
    );
    assert_eq!(server.get("/examples?as_of=latest").0, 422);
    assert_eq!(server.delete("/examples").0, 422);
}

fn datasets_are_workspace_scoped(server: &TestServer) {
    let other = server.create_workspace();
    let ds = create_dataset(server, "mine");
    let (_, example) = server.post_json(
        "/examples",
        &json!({"dataset_id": ds, "inputs": {"secret": 1}}),
    );
    let id = example["id"].as_str().unwrap();
    assert_eq!(server.get_in(&other, &format!("/datasets/{ds}")).0, 404);
    assert_eq!(server.get_in(&other, "/datasets?name=mine").1, json!([]));
    assert_eq!(server.get_in(&other, &format!("/examples/{id}")).0, 404);
    assert_eq!(
        server.get_in(&other, &format!("/examples?dataset={ds}")).1,
        json!([])
    );
    let (status, _) = server.post_json_in(
        &other,
        "/examples",
        &json!({"dataset_id": ds, "inputs": {}}),
    );
    assert_eq!(status, 404);
    let (status, _) = server.post_json_in(&other, "/datasets", &json!({"name": "mine"}));
    assert_eq!(status, 200, "names are per workspace");
}

fn experiment_runs_join_examples_and_runs(server: &TestServer) {
    let ds = create_dataset(server, "experiments");
    let example = Uuid::now_v7();
    assert_eq!(
        server
            .post_json(
                "/examples",
                &json!({"id": example, "dataset_id": ds, "inputs": {"q": 1}})
            )
            .0,
        200
    );
    let (status, experiment) = server.post_json(
        "/sessions",
        &json!({"name": "exp-1", "reference_dataset_id": ds}),
    );
    assert_eq!(status, 200);
    let run = Uuid::now_v7();
    let (status, _) = server.post_json(
        "/runs",
        &json!({"id": run, "name": "target", "run_type": "chain", "session_id": experiment["id"],
                "reference_example_id": example, "inputs": {"q": 1}, "outputs": {"a": 2}}),
    );
    assert_eq!(status, 202);
    let body = json!({"session_ids": [experiment["id"]], "offset": 0, "limit": 100, "preview": false,
                      "comparative_experiment_id": null, "filters": null});
    let (status, page) = server.post_json(&format!("/datasets/{ds}/runs"), &body);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page[0]["id"], example.to_string());
    assert_eq!(page[0]["runs"][0]["id"], run.to_string());
    assert_eq!(page[0]["runs"][0]["outputs"], json!({"a": 2}));
    assert_eq!(server.get(&format!("/datasets/{ds}")).1["session_count"], 1);
    let (status, _) = server.post_json(&format!("/datasets/{}/runs", Uuid::now_v7()), &body);
    assert_eq!(status, 404);
    let (status, _) = server.post_json(
        &format!("/datasets/{ds}/runs"),
        &json!({"session_ids": [], "limit": 0}),
    );
    assert_eq!(status, 422);
    let (status, _) = server.post_json(
        &format!("/datasets/{ds}/runs"),
        &json!({"session_ids": [], "filters": {"x": ["eq(a, 1)"]}}),
    );
    assert_eq!(status, 400);
}

fn examples_must_match_dataset_schemas(server: &TestServer) {
    let schema = json!({"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]});
    let (status, ds) = server.post_json(
        "/datasets",
        &json!({"name": "typed", "inputs_schema_definition": schema, "outputs_schema_definition": {"type": "object", "required": ["answer"]}}),
    );
    assert_eq!(status, 200, "{ds}");
    let ds = ds["id"].as_str().unwrap().to_string();
    assert_eq!(ds.len(), 36);
    let ok = json!({"dataset_id": ds, "inputs": {"question": "q"}, "outputs": {"answer": "a"}});
    let (status, good) = server.post_json("/examples", &ok);
    assert_eq!(status, 200, "{good}");
    for (body, field) in [
        (
            json!({"dataset_id": ds, "inputs": {"question": 5}, "outputs": {"answer": "a"}}),
            "inputs/question",
        ),
        (
            json!({"dataset_id": ds, "inputs": {}, "outputs": {"answer": "a"}}),
            "question",
        ),
        (
            json!({"dataset_id": ds, "inputs": {"question": "q"}, "outputs": {}}),
            "outputs",
        ),
    ] {
        let (status, answer) = server.post_json("/examples", &body);
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    let id = good["id"].as_str().unwrap();
    let (status, answer) = server.patch_json(
        &format!("/examples/{id}"),
        &json!({"inputs": {"question": []}}),
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        server.get(&format!("/examples/{id}")).1["inputs"],
        json!({"question": "q"})
    );
    assert_eq!(
        server
            .get(&format!("/datasets/{ds}/versions"))
            .1
            .as_array()
            .unwrap()
            .len(),
        1,
        "refused writes make no version"
    );
    let (status, answer) = server.post_json(
        "/datasets",
        &json!({"name": "broken", "inputs_schema_definition": {"type": "nonsense"}}),
    );
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["detail"]
            .as_str()
            .unwrap()
            .contains("inputs_schema_definition")
    );
}

fn exports(server: &TestServer) {
    let ds = create_dataset(server, "exported");
    let (status, _) = server.post_json(
        "/examples",
        &json!({"dataset_id": ds, "inputs": {"question": "2+2?"}, "outputs": {"answer": "4"}}),
    );
    assert_eq!(status, 200);
    let text = |query: &str| {
        let response = server
            .client()
            .get(format!("{}/datasets/{ds}/{query}", server.url))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{query}");
        response.text().unwrap()
    };
    let openai: Value = serde_json::from_str(text("openai_ft").trim()).unwrap();
    assert_eq!(
        openai["messages"],
        json!([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}])
    );
    assert_eq!(text("export?format=openai"), text("openai_ft"));
    let jsonl: Value = serde_json::from_str(text("export?format=jsonl").trim()).unwrap();
    assert_eq!(jsonl["outputs"], json!({"answer": "4"}));
    let csv = text("export?format=csv");
    assert!(
        csv.starts_with("id,inputs.question,outputs.answer\n"),
        "{csv}"
    );
    assert!(csv.contains(",2+2?,4"), "{csv}");
    assert_eq!(
        server.get(&format!("/datasets/{ds}/export?format=xml")).0,
        422
    );
    assert_eq!(
        server
            .get(&format!("/datasets/{}/openai_ft", Uuid::now_v7()))
            .0,
        404
    );
}

fn csv_upload_bad_input(server: &TestServer) {
    use common::Multipart;
    let upload = |form: Multipart| {
        server.post_raw(
            "/datasets/upload",
            &[("content-type", &form.content_type())],
            form.bytes(),
        )
    };
    let good = || {
        Multipart::new()
            .raw("input_keys", "text/plain", b"q")
            .raw("output_keys", "text/plain", b"a")
            .raw("name", "text/plain", b"uploaded")
    };
    let (status, answer) = upload(good().raw("file", "text/csv", b"q,a\nhi,there\nragged\n"));
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["detail"].as_str().unwrap().contains("row 2"),
        "{answer}"
    );
    let (status, answer) = upload(good());
    assert_eq!(status, 422, "{answer}");
    let (status, _) = upload(good().raw("file", "text/csv", b"x,y\n1,2\n"));
    assert_eq!(status, 422);
    assert_eq!(
        server.get("/datasets?name=uploaded").1,
        json!([]),
        "refused uploads create nothing"
    );
    let (status, created) = upload(good().raw("file", "text/csv", b"q,a\nhi,there\n"));
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["example_count"], 1);
    let (status, _) = upload(good().raw("file", "text/csv", b"q,a\nhi,there\n"));
    assert_eq!(status, 409);
    let (status, _) = server.post_json("/datasets/upload", &json!({}));
    assert_eq!(status, 415);
}

fn multipart_examples_and_files(server: &TestServer) {
    use common::Multipart;
    let ds = create_dataset(server, "multipart-examples");
    let id = Uuid::now_v7();
    let send = |method: &str, path: &str, form: &Multipart| {
        let request = match method {
            "POST" => server.client().post(format!("{}{path}", server.url)),
            _ => server.client().patch(format!("{}{path}", server.url)),
        };
        common::send(
            request
                .header("content-type", form.content_type())
                .body(form.bytes()),
        )
    };
    let form = Multipart::new()
        .json(
            &id.to_string(),
            &json!({"split": "train", "metadata": {"m": 1}}),
        )
        .json(&format!("{id}.inputs"), &json!({"q": "x"}))
        .json(&format!("{id}.outputs"), &json!({"a": "y"}))
        .raw(
            &format!("{id}.attachment.pic"),
            "image/png; length=3",
            b"PNG",
        );
    for prefix in ["/v1/platform", "/api/v1/platform"] {
        let path = format!("{prefix}/datasets/{ds}/examples");
        let (status, answer) = send("POST", &path, &form);
        if prefix == "/v1/platform" {
            assert_eq!(status, 201, "{answer}");
            assert_eq!(answer["example_ids"], json!([id.to_string()]));
            assert_eq!(answer["count"], 1);
        } else {
            assert_eq!(status, 409, "the same example again: {answer}");
        }
    }
    let (_, example) = server.get(&format!("/examples/{id}"));
    assert_eq!(example["metadata"]["dataset_split"], json!(["train"]));
    let url = example["attachment_urls"]["attachment.pic"]["presigned_url"]
        .as_str()
        .unwrap()
        .to_string();
    let bytes = server.client().get(&url).send().unwrap().bytes().unwrap();
    assert_eq!(&bytes[..], b"PNG");

    // An update with only outputs keeps inputs and files.
    let update = Multipart::new()
        .json(&id.to_string(), &json!({}))
        .json(&format!("{id}.outputs"), &json!({"a": "z"}));
    let (status, answer) = send(
        "PATCH",
        &format!("/v1/platform/datasets/{ds}/examples"),
        &update,
    );
    assert_eq!(status, 201, "{answer}");
    let (_, example) = server.get(&format!("/examples/{id}"));
    assert_eq!(example["inputs"], json!({"q": "x"}));
    assert_eq!(example["outputs"], json!({"a": "z"}));
    assert!(example["attachment_urls"]["attachment.pic"].is_object());

    let bad_forms = [
        (
            Multipart::new().json(&format!("{id}.inputs"), &json!({})),
            422,
        ),
        (Multipart::new().json("not-an-id", &json!({})), 422),
        (
            Multipart::new().json(&Uuid::now_v7().to_string(), &json!({"split": 3})),
            422,
        ),
        (
            Multipart::new()
                .json(&Uuid::now_v7().to_string(), &json!({}))
                .json(&format!("{}.inputs", Uuid::nil()), &json!([1])),
            422,
        ),
    ];
    for (form, expected) in bad_forms {
        let (status, answer) = send(
            "POST",
            &format!("/v1/platform/datasets/{ds}/examples"),
            &form,
        );
        assert_eq!(status, expected, "{answer}");
    }
    let (status, _) = send(
        "POST",
        &format!("/v1/platform/datasets/{}/examples", Uuid::now_v7()),
        &form,
    );
    assert_eq!(status, 404);
    let (status, _) = server.post_json(&format!("/v1/platform/datasets/{ds}/examples"), &json!({}));
    assert_eq!(status, 415);
    assert_eq!(
        server
            .get(&format!("/examples?dataset={ds}"))
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (status, _) = server.post_json(
        "/v1/platform/datasets/examples/delete",
        &json!({"example_ids": [id], "hard_delete": false}),
    );
    assert_eq!(status, 422);
    let (status, answer) = server.post_json(
        "/v1/platform/datasets/examples/delete",
        &json!({"example_ids": [id], "hard_delete": true}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["count"], 1);
    assert_eq!(server.get(&format!("/examples?dataset={ds}")).1, json!([]));
    assert_eq!(
        server.client().get(&url).send().unwrap().status().as_u16(),
        404,
        "files go too"
    );
}

fn comparative_experiments(server: &TestServer) {
    let ds = create_dataset(server, "pairwise");
    let other = create_dataset(server, "elsewhere");
    let experiment = |name: &str, dataset: &str| {
        let (status, project) = server.post_json(
            "/sessions",
            &json!({"name": name, "reference_dataset_id": dataset}),
        );
        assert_eq!(status, 200);
        project["id"].as_str().unwrap().to_string()
    };
    let (a, b, c) = (
        experiment("exp-a", &ds),
        experiment("exp-b", &ds),
        experiment("exp-c", &other),
    );
    let (status, created) = server.post_json(
        "/datasets/comparative",
        &json!({"name": "a vs b", "experiment_ids": [a, b], "reference_dataset_id": ds, "extra": {"metadata": {"m": 1}}}),
    );
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["experiments_info"].as_array().unwrap().len(), 2);
    assert!(created["tenant_id"].is_string() && created["modified_at"].is_string());
    let id = created["id"].as_str().unwrap();
    let (status, _) = server.post_json(
        "/feedback",
        &json!({"run_id": Uuid::now_v7(), "key": "preference", "score": 1, "comparative_experiment_id": id}),
    );
    assert_eq!(status, 200);
    for (body, expected) in [
        (
            json!({"experiment_ids": [a], "reference_dataset_id": ds}),
            422,
        ),
        (
            json!({"experiment_ids": [a, c], "reference_dataset_id": ds}),
            422,
        ),
        (
            json!({"experiment_ids": [a, Uuid::now_v7()], "reference_dataset_id": ds}),
            404,
        ),
        (
            json!({"experiment_ids": [a, b], "reference_dataset_id": Uuid::now_v7()}),
            404,
        ),
        (
            json!({"id": id, "experiment_ids": [a, b], "reference_dataset_id": ds}),
            409,
        ),
    ] {
        let (status, answer) = server.post_json("/datasets/comparative", &body);
        assert_eq!(status, expected, "{body}: {answer}");
    }
}

fn sharing_opens_read_only_public_reads(server: &TestServer) {
    // A dataset in a second workspace, shared; its token alone opens it.
    let other = server.create_workspace();
    let (status, ds) = server.post_json_in(&other, "/datasets", &json!({"name": "shared"}));
    assert_eq!(status, 200);
    let ds = ds["id"].as_str().unwrap().to_string();
    let (status, _) = server.post_json_in(
        &other,
        "/examples",
        &json!({"dataset_id": ds, "inputs": {"q": 1}}),
    );
    assert_eq!(status, 200);
    let put = |workspace: Option<Uuid>| {
        let mut request = server
            .client()
            .put(format!("{}/datasets/{ds}/share", server.url));
        if let Some(w) = workspace {
            request = request.header("x-tenant-id", w.to_string());
        }
        common::send(
            request
                .header("content-type", "application/json")
                .body(json!({"dataset_id": ds}).to_string()),
        )
    };
    assert_eq!(put(None).0, 404, "another workspace cannot share it");
    let (status, share) = put(Some(other));
    assert_eq!(status, 200, "{share}");
    let token = share["share_token"].as_str().unwrap().to_string();
    assert_eq!(server.get(&format!("/public/{token}/datasets")).1["id"], ds);
    assert_eq!(
        server
            .get(&format!("/public/{token}/examples"))
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        server.get(&format!("/public/{token}/datasets/sessions")).1,
        json!([])
    );
    assert_eq!(
        server
            .get(&format!("/public/{}/datasets", Uuid::new_v4()))
            .0,
        404
    );
    assert_eq!(server.get("/public/not-a-token/datasets").0, 422);
    let unshare = |workspace: Uuid| {
        common::send(
            server
                .client()
                .delete(format!("{}/datasets/{ds}/share", server.url))
                .header("x-tenant-id", workspace.to_string()),
        )
    };
    assert_eq!(unshare(other).0, 200);
    assert_eq!(unshare(other).0, 404);
    assert_eq!(server.get(&format!("/public/{token}/datasets")).0, 404);
}
