//! `openapi/openapi.json` is generated from the handlers; this fails when it is stale.

mod common;

use common::{Backend, TestServer};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[test]
fn committed_openapi_document_is_current() {
    let generated = loopsmith::api::docs::openapi_json_text();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::create_dir_all(std::path::Path::new(COMMITTED).parent().unwrap()).unwrap();
        std::fs::write(COMMITTED, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: regenerate it with `UPDATE_OPENAPI=1 cargo test --test openapi`"
    );
}

#[test]
fn served_document_and_swagger_ui() {
    let server = TestServer::start(Backend::Sqlite).unwrap();
    for prefix in ["", "/api/v1"] {
        let (status, doc) = server.get(&format!("{prefix}/openapi.json"));
        assert_eq!(status, 200);
        assert!(doc["paths"]["/runs/multipart"]["post"].is_object());
        assert!(doc["paths"]["/sessions"]["get"].is_object());
        let response = server
            .client()
            .get(format!("{}{prefix}/docs", server.url))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let html = response.text().unwrap();
        assert!(html.contains("swagger-ui"), "{html}");
        let bundle = server
            .client()
            .get(format!("{}{prefix}/docs/swagger-ui-bundle.js", server.url))
            .send()
            .unwrap();
        assert_eq!(bundle.status().as_u16(), 200);
        assert!(bundle.bytes().unwrap().len() > 100_000);
    }
    assert_eq!(server.get("/docs/missing.js").0, 404);
}
