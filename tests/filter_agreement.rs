//! The two evaluators of the filter language always agree: for random filters over random runs
//! and feedback, `POST /runs/query` (SQL, on this backend) returns exactly the runs the
//! in-memory evaluator (the rule worker's) accepts.

mod common;

use std::collections::{BTreeSet, HashMap};

use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use uuid::Uuid;

use common::{TestServer, iso, segment};
use loopsmith::config::Config;
use loopsmith::db::models::RunRow;
use loopsmith::db::schema::runs;
use loopsmith::filter::runs::{Candidate, FeedbackFacts, TraceFilters, compile};

backend_tests!(sql_and_memory_agree_on_random_filters);

/// A small deterministic generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const NAMES: [&str; 4] = ["ChatOpenAI", "Retriever", "agent", "format_docs"];
const TAGS: [&str; 3] = ["a", "b", "c"];

fn metadata(rng: &mut Rng) -> Value {
    let mut m = serde_json::Map::new();
    if rng.chance(70) {
        m.insert("assistant_id".into(), json!(rng.pick(&["A1", "A2"])));
    }
    if rng.chance(50) {
        let score = [json!(0.5), json!(1), json!("1"), json!(2.25)];
        m.insert("score".into(), rng.pick(&score).clone());
    }
    if rng.chance(40) {
        m.insert("flag".into(), json!(rng.chance(50)));
    }
    if rng.chance(40) {
        m.insert("conversation_id".into(), json!(rng.pick(&["t1", "t2"])));
    }
    if rng.chance(10) {
        m.insert("nested".into(), json!({"a": 1}));
    }
    Value::Object(m)
}

fn run_body(rng: &mut Rng, id: Uuid, trace: Uuid, parent: Option<(Uuid, &str)>, at: i64) -> Value {
    let order = match parent {
        Some((_, parent_order)) => format!("{parent_order}.{}", segment(at, &id)),
        None => segment(at, &id),
    };
    let mut body = json!({
        "id": id, "trace_id": trace, "dotted_order": order,
        "name": rng.pick(&NAMES), "run_type": rng.pick(&["llm", "chain", "tool"]),
        "start_time": iso(at), "session_name": "agreement",
        "inputs": {"q": rng.pick(&["hello world", "Bonjour", "what is 2+2?"]), "n": rng.below(4)},
        "tags": TAGS.iter().filter(|_| rng.chance(40)).collect::<Vec<_>>(),
    });
    if let Some((parent_id, _)) = parent {
        body["parent_run_id"] = json!(parent_id);
    }
    if rng.chance(85) {
        body["extra"] = json!({"metadata": metadata(rng)});
    }
    if rng.chance(80) {
        body["end_time"] = json!(iso(at + rng.below(3000) as i64));
        body["outputs"] = json!({"answer": rng.pick(&["4", "Hello there", "n/a"])});
    }
    if rng.chance(20) {
        body["error"] = json!(rng.pick(&["ValueError('boom')", "Timeout"]));
    }
    if rng.chance(50) {
        let prompt = rng.below(400) as i64;
        let completion = rng.below(400) as i64;
        body["prompt_tokens"] = json!(prompt);
        body["completion_tokens"] = json!(completion);
        body["total_tokens"] = json!(prompt + completion);
        body["total_cost"] = json!((prompt + completion) as f64 / 20000.0);
    }
    body
}

/// Seeds a project: traces of one to four runs, some feedback. Returns the run ids.
fn seed(server: &TestServer, rng: &mut Rng) -> Vec<Uuid> {
    let mut posts = Vec::new();
    let mut ids = Vec::new();
    for t in 0..12 {
        let root = Uuid::now_v7();
        let root_body = run_body(rng, root, root, None, t * 10_000);
        let root_order = root_body["dotted_order"].as_str().unwrap().to_string();
        posts.push(root_body);
        ids.push(root);
        for c in 0..rng.below(4) {
            let child = Uuid::now_v7();
            let at = t * 10_000 + 1 + c as i64;
            posts.push(run_body(rng, child, root, Some((root, &root_order)), at));
            ids.push(child);
        }
    }
    // A quarter of the runs arrive with stale metadata that a later patch replaces (the
    // metadata index must follow).
    let mut patches = Vec::new();
    for post in posts.iter_mut() {
        if post.get("extra").is_some() && rng.chance(25) {
            let extra = post["extra"].take();
            post["extra"] = json!({"metadata": {"assistant_id": "A9", "stale": true}});
            patches.push(json!({"id": post["id"], "trace_id": post["trace_id"],
                                "dotted_order": post["dotted_order"], "extra": extra}));
        }
    }
    let (status, answer) = server.post_json("/runs/batch", &json!({ "post": posts }));
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = server.post_json("/runs/batch", &json!({ "patch": patches }));
    assert_eq!(status, 202, "{answer}");
    for id in &ids {
        for _ in 0..rng.below(3) {
            let mut fb = json!({
                "run_id": id, "key": rng.pick(&["user_score", "correctness"]),
                "feedback_source": {"type": rng.pick(&["api", "model"])},
            });
            if rng.chance(80) {
                fb["score"] = rng.pick(&[json!(0), json!(1), json!(0.5)]).clone();
            }
            if rng.chance(40) {
                fb["value"] = rng.pick(&[json!("good"), json!(3), json!(true)]).clone();
            }
            let (status, answer) = server.post_json("/feedback", &fb);
            assert_eq!(status, 200, "{answer}");
        }
    }
    ids
}

/// Filter texts built from every kind of condition, nested.
fn filter_strategy(ids: Vec<Uuid>) -> impl Strategy<Value = String> {
    let times: Vec<String> = [-1, 25_000, 60_000, 200_000]
        .iter()
        .map(|t| iso(*t))
        .collect();
    let id_texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let leaf = prop_oneof![
        (
            prop::sample::select(vec!["eq", "neq"]),
            prop::sample::select(NAMES.to_vec())
        )
            .prop_map(|(op, n)| format!("{op}(name, {n:?})")),
        (
            prop::sample::select(vec!["eq", "neq"]),
            prop::sample::select(vec!["llm", "chain", "tool"])
        )
            .prop_map(|(op, t)| format!("{op}(run_type, {t:?})")),
        prop::sample::select(vec!["success", "error", "pending"])
            .prop_map(|s| format!("eq(status, {s:?})")),
        prop::sample::select(vec![
            "eq(error, null)",
            "neq(error, null)",
            "neq(error, \"Timeout\")",
            "eq(is_root, true)",
            "eq(is_root, false)",
            "eq(end_time, null)",
            "search(\"hello\")",
            "search(\"BONJOUR\")",
            "search(name, \"chat\")",
            "like(name, \"Chat%\")",
            "notlike(name, \"%er\")",
            "like(inputs, \"%2+2%\")",
            "in(name, [\"agent\", \"Retriever\"])",
            "eq(thread_id, \"t1\")",
            "neq(thread_id, \"t1\")",
            "has(tags, \"a\")",
            "has(tags, \"c\")",
            "eq(prompt_tokens, null)",
        ])
        .prop_map(str::to_string),
        (
            prop::sample::select(vec!["gt", "gte", "lt", "lte"]),
            prop::sample::select(vec!["0.5", "1", "2", "\"1500ms\""])
        )
            .prop_map(|(op, v)| format!("{op}(latency, {v})")),
        (
            prop::sample::select(vec!["gt", "lt", "eq", "neq"]),
            prop::sample::select(vec!["0", "100", "400"])
        )
            .prop_map(|(op, v)| format!("{op}(total_tokens, {v})")),
        (
            prop::sample::select(vec!["gt", "lte"]),
            prop::sample::select(vec!["0.001", "0.02"])
        )
            .prop_map(|(op, v)| format!("{op}(total_cost, {v})")),
        (
            prop::sample::select(vec!["gt", "lt", "gte"]),
            prop::sample::select(times)
        )
            .prop_map(|(op, t)| format!("{op}(start_time, {t:?})")),
        (
            prop::sample::select(vec!["eq", "neq"]),
            prop::sample::select(id_texts)
        )
            .prop_map(|(op, id)| format!("{op}(trace_id, {id:?})")),
        metadata_condition(),
        feedback_condition(),
        prop::sample::select(vec![
            "and(eq(input_key, \"q\"), like(input_value, \"%world\"))",
            "and(eq(input_key, \"n\"), gte(input_value, 2))",
            "and(eq(output_key, \"answer\"), eq(output_value, \"4\"))",
            "eq(output_key, \"answer\")",
            "and(neq(output_key, \"answer\"))",
        ])
        .prop_map(str::to_string),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|c| format!("and({})", c.join(", "))),
            prop::collection::vec(inner.clone(), 1..4)
                .prop_map(|c| format!("or({})", c.join(", "))),
            inner.prop_map(|c| format!("not({c})")),
        ]
    })
}

fn metadata_condition() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "assistant_id",
        "score",
        "flag",
        "conversation_id",
        "nested",
        "stale",
        "absent",
    ]);
    let values = prop::sample::select(vec![
        "\"A1\"", "\"A2\"", "\"A9\"", "1", "\"1\"", "0.5", "true", "false", "null", "\"t1\"",
    ]);
    let key_op = prop::sample::select(vec!["eq", "neq"]);
    let value_op = prop::sample::select(vec!["eq", "neq", "gt", "lte"]);
    (key_op, keys, value_op, values, 0..4u8).prop_map(|(kop, k, vop, v, shape)| {
        // Ordered comparisons take strings and numbers only.
        let v = if matches!(vop, "gt" | "lte") && matches!(v, "true" | "false" | "null") {
            "1"
        } else {
            v
        };
        match shape {
            0 => format!("{kop}(metadata_key, {k:?})"),
            1 => format!("and({kop}(metadata_key, {k:?}), {vop}(metadata_value, {v}))"),
            2 => format!("{vop}(metadata_value, {v})"),
            _ => format!("and(eq(metadata_key, {k:?}), in(metadata_value, [{v}, \"A2\"]))"),
        }
    })
}

fn feedback_condition() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec!["user_score", "correctness", "absent"]);
    let scores = prop::sample::select(vec!["0", "1", "0.5", "null"]);
    let op = prop::sample::select(vec!["eq", "neq", "gt", "lt"]);
    (
        prop::sample::select(vec!["eq", "neq"]),
        keys,
        op,
        scores,
        0..5u8,
    )
        .prop_map(|(kop, k, op, s, shape)| {
            let s = if matches!(op, "gt" | "lt") && s == "null" {
                "0"
            } else {
                s
            };
            match shape {
                0 => format!("{kop}(feedback_key, {k:?})"),
                1 => format!("and({kop}(feedback_key, {k:?}), {op}(feedback_score, {s}))"),
                2 => format!("and(eq(feedback_key, {k:?}), eq(feedback_value, \"good\"))"),
                3 => format!("and(eq(feedback_key, {k:?}), eq(feedback_source, \"model\"))"),
                _ => format!("{op}(feedback_score, {s})"),
            }
        })
}

/// Every stored run with its feedback, read straight from the database.
fn load(server: &TestServer) -> (Vec<RunRow>, HashMap<String, Vec<FeedbackFacts>>) {
    let config = Config::from_lookup(|k| {
        (k == "LOOPSMITH_DATABASE_URL").then(|| server.database_url.clone())
    })
    .unwrap();
    let manager = loopsmith::db::Manager::new(&config).unwrap();
    let mut conn = manager.connect().unwrap();
    let rows: Vec<RunRow> = runs::table
        .select(RunRow::as_select())
        .load(&mut conn)
        .unwrap();
    // Every run is in the default workspace.
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let facts = loopsmith::db::rule_work::run_feedback(&mut conn, &rows[0].workspace_id, &ids)
        .unwrap()
        .facts;
    (rows, facts)
}

fn sql_and_memory_agree_on_random_filters(server: &TestServer) {
    // A new data set each run; the seed is printed so that a failure can be replayed.
    let seed_value = std::env::var("FILTER_AGREEMENT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("filter agreement: FILTER_AGREEMENT_SEED={seed_value}");
    let mut rng = Rng(seed_value);
    let ids = seed(server, &mut rng);
    // Wait until every run is readable (ingest commits in the background).
    for id in &ids {
        server.get_eventually(&format!("/runs/{id}"));
    }
    let (rows, facts) = load(server);
    assert_eq!(rows.len(), ids.len());
    let none = Vec::new();
    let candidates: Vec<Candidate> = rows
        .iter()
        .map(|r| Candidate::new(r, facts.get(&r.id).unwrap_or(&none)))
        .collect();
    let mut traces: HashMap<&str, Vec<&Candidate>> = HashMap::new();
    for c in &candidates {
        traces
            .entry(c.run.trace_id.as_deref().unwrap())
            .or_default()
            .push(c);
    }

    let strategy = (
        filter_strategy(ids.clone()),
        prop::option::weighted(0.3, filter_strategy(ids.clone())),
        prop::option::weighted(0.3, filter_strategy(ids)),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let matched_some = std::cell::Cell::new(0);
    runner
        .run(&strategy, |(filter, trace_filter, tree_filter)| {
            let filters = TraceFilters {
                filter: Some(compile(&filter).map_err(|e| TestCaseError::fail(format!("{filter}: {e}")))?),
                trace_filter: trace_filter.as_deref().map(|f| compile(f).unwrap()),
                tree_filter: tree_filter.as_deref().map(|f| compile(f).unwrap()),
            };
            let expected: BTreeSet<String> = candidates
                .iter()
                .filter(|c| {
                    let trace: Vec<Candidate> = traces[c.run.trace_id.as_deref().unwrap()]
                        .iter()
                        .map(|t| Candidate::new(t.run, t.feedback))
                        .collect();
                    filters.matches(c, &trace)
                })
                .map(|c| c.run.id.clone())
                .collect();
            let (status, answer) = server.post_json(
                "/runs/query",
                &json!({"filter": filter, "trace_filter": trace_filter, "tree_filter": tree_filter, "limit": 1000}),
            );
            prop_assert_eq!(status, 200, "{}", answer);
            let got: BTreeSet<String> = answer["runs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            if !expected.is_empty() {
                matched_some.set(matched_some.get() + 1);
            }
            prop_assert_eq!(
                &got, &expected,
                "filter {} / trace_filter {:?} / tree_filter {:?}", filter, trace_filter, tree_filter
            );
            Ok(())
        })
        .unwrap();
    // The generator is not degenerate: many filters select something.
    let matched_some = matched_some.get();
    assert!(
        matched_some > 100,
        "only {matched_some} filters matched any run"
    );
}
