use proptest::prelude::*;

use super::*;

#[test]
fn parses_what_the_sdks_and_docs_send() {
    for text in [
        r#"and(eq(metadata_key,'test_run'),eq(metadata_value,'x'))"#,
        r#"and(eq(is_root, true), and(eq(feedback_key, "user_score"), eq(feedback_score, 1)))"#,
        r#"neq(error, null)"#,
        r#"in(metadata_key, ["session_id","conversation_id","thread_id"])"#,
        r#"gt(start_time, "2023-07-15T12:34:56Z")"#,
        r#"has("metadata", '{"foo": "bar"}')"#,
        r#"eq(thread_id, "a \"quoted\" id")"#,
        r#"and(neq(metadata.my.nested.key, "value"), gte(latency, -1.5e0))"#,
        "  search( 'x' )  ",
        "in(name, [])",
        "f()",
    ] {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn builds_the_tree() {
    assert_eq!(
        parse(r#"eq(thread_id, "a \"q\" \u00e9\ud83d\ude00")"#).unwrap(),
        Expr::Call {
            name: "eq".into(),
            args: vec![
                Expr::Attr {
                    path: "thread_id".into(),
                    offset: 3
                },
                Expr::Str("a \"q\" é😀".into())
            ],
            offset: 0
        }
    );
    assert_eq!(
        parse("IN(x, [1, -2.5e1, true, false, null, 'y'])").unwrap(),
        Expr::Call {
            name: "in".into(),
            args: vec![
                Expr::Attr {
                    path: "x".into(),
                    offset: 3
                },
                Expr::List(vec![
                    Expr::Num(1.0),
                    Expr::Num(-25.0),
                    Expr::Bool(true),
                    Expr::Bool(false),
                    Expr::Null,
                    Expr::Str("y".into())
                ])
            ],
            offset: 0
        }
    );
}

#[test]
fn errors_say_what_was_expected_and_where() {
    for (text, offset, needle) in [
        ("eq(name, 'x'", 12, "expected ',' or ')', found the end"),
        ("eq(name 'x')", 8, "expected ',' or ')', found '\\''"),
        (
            "and(eq(a, 1)) extra",
            14,
            "unexpected text after the expression",
        ),
        ("", 0, "expected"),
        ("eq(a, \"unterminated)", 20, "closing quote"),
        ("eq(a, [1, 2)", 11, "expected ',' or ']'"),
        ("eq(a, )", 6, "expected a value"),
        ("eq(a, 1e999)", 6, "finite number"),
        ("eq(a, \"\\u12\")", 9, "four hex digits"),
        (")", 0, "expected"),
        ("eq(a, \"x\\u0000\")", 7, "without NUL"),
    ] {
        let err = parse(text).unwrap_err();
        assert_eq!(err.offset, offset, "{text}: {err}");
        assert!(err.message.contains(needle), "{text}: {err}");
    }
}

/// Filters assembled from the grammar's pieces, some broken on purpose.
fn filter_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-z_]{1,8}",
        "-?[0-9]{1,4}(\\.[0-9]{1,3})?",
        "\"[^\"\\\\]{0,6}\"",
        "'[a-z ]{0,6}'",
        Just("true".to_string()),
        Just("null".to_string()),
        "[(),\\[\\]\"'\\\\ ]",
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        (
            "[a-z]{1,6}",
            prop::collection::vec(inner.clone(), 0..4),
            proptest::bool::ANY,
        )
            .prop_map(|(name, args, list)| {
                if list {
                    format!("[{}]", args.join(", "))
                } else {
                    format!("{name}({})", args.join(","))
                }
            })
    })
}

/// 3,000 cases per `cargo test`; `PROPTEST_CASES=1000000` for a longer fuzzing session.
fn fuzz_config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(3000);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(fuzz_config())]

    /// Whatever the text, the parser answers without panicking, and a failure points inside it.
    #[test]
    fn never_panics_on_any_text(text in "\\PC{0,40}") {
        if let Err(e) = parse(&text) {
            prop_assert!(e.offset <= text.len());
            prop_assert!(text.is_char_boundary(e.offset));
        }
    }

    #[test]
    fn never_panics_on_near_grammatical_text(text in filter_text(), cut in 0usize..64) {
        for candidate in [text.clone(), text.chars().take(cut).collect::<String>()] {
            if let Err(e) = parse(&candidate) {
                prop_assert!(e.offset <= candidate.len());
            }
            let _ = runs::compile(&candidate);
        }
    }
}
