use super::*;

const TRACE: &str = "0f000000-0000-4000-8000-000000000001";
const CHILD: &str = "0f000000-0000-4000-8000-000000000002";

fn run(id: &str, parent: Option<&str>) -> RunRow {
    RunRow {
        workspace_id: "w".into(),
        id: id.into(),
        trace_id: Some(TRACE.into()),
        parent_run_id: parent.map(str::to_string),
        name: Some("ChatOpenAI".into()),
        run_type: Some("llm".into()),
        start_time: Some(1_700_000_000_000_000),
        end_time: Some(1_700_000_006_500_000),
        inputs: Some(r#"{"question": "What is Loopsmith?", "n": 3}"#.into()),
        outputs: Some(r#"{"answer": "A server"}"#.into()),
        extra: Some(
            r#"{"metadata": {"assistant_id": "A1", "score": 0.75, "beta": true, "conversation_id": "c-9"}}"#
                .into(),
        ),
        tags: Some(r#"["prod", "v2"]"#.into()),
        total_tokens: Some(5200),
        total_cost: Some(0.012),
        ..RunRow::default()
    }
}

fn feedback() -> Vec<FeedbackFacts> {
    vec![
        FeedbackFacts {
            key: "user_score".into(),
            score: Some(1.0),
            value: None,
            source: "api".into(),
        },
        FeedbackFacts {
            key: "correctness".into(),
            score: Some(0.0),
            value: Some(r#""halted""#.into()),
            source: "model".into(),
        },
    ]
}

fn check(text: &str) -> bool {
    let row = run(TRACE, None);
    let fb = feedback();
    compile(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .matches(&Candidate::new(&row, &fb))
}

#[test]
fn one_table_of_cases() {
    for (text, expected) in [
        (r#"eq(name, "ChatOpenAI")"#, true),
        (r#"neq(name, "ChatOpenAI")"#, false),
        (r#"in(name, ["a", "ChatOpenAI"])"#, true),
        (r#"eq(run_type, "llm")"#, true),
        (r#"eq(status, "success")"#, true),
        (r#"eq(error, null)"#, true),
        (r#"neq(error, null)"#, false),
        (r#"neq(error, "boom")"#, true),
        (r#"eq(is_root, true)"#, true),
        (r#"eq(execution_order, 1)"#, true),
        (r#"gt(latency, 5)"#, true),
        (r#"gt(latency, "7s")"#, false),
        (r#"lt(latency, "6501ms")"#, true),
        (r#"gt(total_tokens, 5000)"#, true),
        (r#"lte(total_cost, 0.01)"#, false),
        (r#"eq(prompt_tokens, null)"#, true),
        (r#"gt(start_time, "2023-11-14T22:13:19Z")"#, true),
        (r#"lt(end_time, "2023-11-14T22:13:19Z")"#, false),
        (r#"has(tags, "prod")"#, true),
        (r#"has(tags, "dev")"#, false),
        (r#"eq(thread_id, "c-9")"#, true),
        (r#"eq(id, "0F000000-0000-4000-8000-000000000001")"#, true),
        (r#"eq(metadata_key, "assistant_id")"#, true),
        (
            r#"and(eq(metadata_key, "assistant_id"), eq(metadata_value, "A1"))"#,
            true,
        ),
        (
            r#"and(eq(metadata_key, "assistant_id"), eq(metadata_value, "A2"))"#,
            false,
        ),
        // The value must sit under the same key.
        (
            r#"and(eq(metadata_key, "conversation_id"), eq(metadata_value, "A1"))"#,
            false,
        ),
        (
            r#"and(eq(metadata_key, "beta"), eq(metadata_value, true))"#,
            true,
        ),
        (
            r#"and(eq(metadata_key, "beta"), eq(metadata_value, "true"))"#,
            false,
        ),
        (
            r#"and(eq(metadata_key, "score"), gte(metadata_value, 0.5))"#,
            true,
        ),
        (r#"and(neq(metadata_key, "missing"))"#, true),
        (r#"and(neq(metadata_key, "assistant_id"))"#, false),
        (
            r#"and(eq(metadata_key, "assistant_id"), neq(metadata_value, "A1"))"#,
            false,
        ),
        (
            r#"and(eq(metadata_key, "assistant_id"), neq(metadata_value, "A2"))"#,
            true,
        ),
        (
            r#"and(neq(metadata_key, "x"), neq(metadata_value, "A1"))"#,
            false,
        ),
        (
            r#"and(neq(metadata_key, "x"), eq(metadata_value, "A1"))"#,
            true,
        ),
        (
            r#"in(metadata_key, ["session_id", "conversation_id"])"#,
            true,
        ),
        (
            r#"and(eq(feedback_key, "user_score"), eq(feedback_score, 1))"#,
            true,
        ),
        // Key and score bind to one feedback record.
        (
            r#"and(eq(feedback_key, "correctness"), eq(feedback_score, 1))"#,
            false,
        ),
        (
            r#"and(eq(feedback_key, "correctness"), eq(feedback_value, "halted"))"#,
            true,
        ),
        (
            r#"and(eq(feedback_key, "user_score"), eq(feedback_source, "api"))"#,
            true,
        ),
        (r#"has(feedback_key, "user_score")"#, true),
        (r#"and(neq(feedback_key, "user_score"))"#, false),
        (r#"eq(feedback_score, 0)"#, true),
        (
            r#"and(eq(input_key, "question"), like(input_value, "%Loopsmith%"))"#,
            true,
        ),
        (
            r#"and(eq(output_key, "answer"), eq(output_value, "A server"))"#,
            true,
        ),
        (r#"and(eq(input_key, "n"), gt(input_value, 2))"#, true),
        (r#"like(name, "Chat%")"#, true),
        (r#"like(name, "chat%")"#, false),
        (r#"notlike(name, "%AI")"#, false),
        (r#"like(inputs, "%Loopsmith%")"#, true),
        (r#"search("loopsmith")"#, true),
        (r#"search("A SERVER")"#, true),
        (r#"search(name, "openai")"#, true),
        (r#"search("absent")"#, false),
        (r#"not(has(tags, "dev"))"#, true),
        (
            r#"and(gt(start_time, "2023-07-15T12:34:56Z"), or(neq(error, null), and(eq(feedback_key, "correctness"), eq(feedback_score, 0.0))))"#,
            true,
        ),
        (
            r#"and(eq(is_root, true), eq(metadata_key, "assistant_id"), eq(metadata_value, "A1"), eq(feedback_key, "user_score"), eq(feedback_score, 1))"#,
            true,
        ),
    ] {
        assert_eq!(check(text), expected, "{text}");
    }
}

#[test]
fn trace_and_tree_filters_look_at_the_other_runs() {
    let root = run(TRACE, None);
    let mut child = run(CHILD, Some(TRACE));
    child.name = Some("Retriever".into());
    let no_feedback: Vec<FeedbackFacts> = Vec::new();
    let fb = feedback();
    let trace = [
        Candidate::new(&root, &fb),
        Candidate::new(&child, &no_feedback),
    ];
    let filters = |filter: &str, trace_filter: &str, tree_filter: &str| TraceFilters {
        filter: Some(compile(filter).unwrap()),
        trace_filter: (!trace_filter.is_empty()).then(|| compile(trace_filter).unwrap()),
        tree_filter: (!tree_filter.is_empty()).then(|| compile(tree_filter).unwrap()),
    };
    let child_candidate = &trace[1];
    let user_liked = r#"and(eq(feedback_key, "user_score"), eq(feedback_score, 1))"#;
    assert!(filters(r#"eq(name, "Retriever")"#, user_liked, "").matches(child_candidate, &trace));
    assert!(
        !filters(
            r#"eq(name, "Retriever")"#,
            "",
            user_liked.replace("user_score", "x").as_str()
        )
        .matches(child_candidate, &trace)
    );
    assert!(
        filters(r#"eq(is_root, true)"#, "", r#"eq(name, "Retriever")"#).matches(&trace[0], &trace)
    );
    assert!(
        !filters(r#"eq(is_root, true)"#, "", r#"eq(name, "Other")"#).matches(&trace[0], &trace)
    );
}

#[test]
fn refusals_name_the_comparator_attribute_and_position() {
    for (text, needle, offset) in [
        (
            r#"neq(tags, "x")"#,
            "comparator neq is not accepted for attribute tags",
            0,
        ),
        (r#"and(eq(name, "x"), gt(id, "x"))"#, "gt", 19),
        (r#"eq(colour, "red")"#, "unknown attribute \"colour\"", 0),
        (r#"frobnicate(name, "x")"#, "unknown function", 0),
        (r#"gt(latency, "fast")"#, "duration", 0),
        (r#"gt(start_time, "yesterday")"#, "ISO-8601", 0),
        (r#"eq(id, "not-a-uuid")"#, "UUID", 0),
        (r#"eq(total_tokens, "many")"#, "number", 0),
        (r#"eq(is_root, 1)"#, "true or false", 0),
        (
            r#"in(is_root, [true])"#,
            "comparator in is not accepted for attribute is_root",
            0,
        ),
        (r#"like(is_root, "t%")"#, "like works on text", 0),
        (
            r#"gt(metadata_value, true)"#,
            "orders strings and numbers",
            0,
        ),
        (r#"eq(metadata_key, null)"#, "never null", 0),
        (r#"and()"#, "at least one", 0),
        (
            r#"not(eq(name, "a"), eq(name, "b"))"#,
            "takes 1 arguments",
            0,
        ),
        (r#"eq(name)"#, "takes 2 arguments", 0),
        (r#"name"#, "expected a condition", 0),
        (r#"eq(name, "x""#, "expected ',' or ')'", 12),
    ] {
        let err = compile(text).unwrap_err();
        assert!(err.message.contains(needle), "{text}: {err}");
        assert_eq!(err.offset, offset, "{text}: {err}");
    }
}

#[test]
fn like_matches_as_sql_does() {
    for (text, pattern, expected) in [
        ("abc", "abc", true),
        ("abc", "a%", true),
        ("abc", "%c", true),
        ("abc", "a_c", true),
        ("abc", "a_", false),
        ("abc", "%", true),
        ("", "%", true),
        ("", "_", false),
        ("aXbXc", "%b%c", true),
        ("mississippi", "%iss%pi", true),
        ("héllo", "h_llo", true),
        ("50% off", "50%", true),
    ] {
        assert_eq!(like(text, pattern), expected, "{text} like {pattern}");
    }
}

#[test]
fn durations_take_units() {
    assert_eq!(duration_micros("5s"), Some(5e6));
    assert_eq!(duration_micros("250ms"), Some(250e3));
    assert_eq!(duration_micros("2m"), Some(120e6));
    assert_eq!(duration_micros("1.5"), Some(1.5e6));
    assert_eq!(duration_micros("soon"), None);
}
