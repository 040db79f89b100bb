//! How operations on one run combine into its stored state, whatever order they arrive in.
//! Pure: no HTTP, no database.

use serde_json::{Map, Value};

use super::ops::{OpKind, RunOp};
use crate::db::models::RunRow;
use crate::time::{Micros, dotted_order_segment};

/// Applies one operation. A value that is not provided never erases a stored one. A patch
/// overwrites; a post fills what is missing but never undoes what a patch already finished
/// (`end_time`, `outputs`, `error`, `events`), since a patch may arrive first or a post be
/// retried after it.
pub fn apply(row: &mut RunRow, op: &RunOp) {
    let post = op.kind == OpKind::Post;
    let id_text = |id: &Option<uuid::Uuid>| id.map(|u| u.to_string());
    // Structural fields: a post is authoritative; a patch only fills what is unknown.
    let structural = |slot: &mut Option<String>, value: Option<String>| {
        if value.is_some() && (post || slot.is_none()) {
            *slot = value;
        }
    };
    structural(&mut row.trace_id, id_text(&op.trace_id));
    structural(&mut row.parent_run_id, id_text(&op.parent_run_id));
    structural(&mut row.dotted_order, op.dotted_order.clone());
    structural(
        &mut row.reference_example_id,
        id_text(&op.reference_example_id),
    );
    if op.start_time.is_some() && (post || row.start_time.is_none()) {
        row.start_time = op.start_time;
    }
    // Descriptive fields: the latest provided value wins.
    overwrite(&mut row.name, &op.name);
    overwrite(&mut row.run_type, &op.run_type);
    overwrite(&mut row.inputs, &op.inputs);
    overwrite(&mut row.serialized, &op.serialized);
    overwrite(&mut row.tags, &op.tags);
    // Completion fields: a patch wins over a post.
    if post {
        fill(&mut row.outputs, &op.outputs);
        fill(&mut row.error, &op.error);
        fill(&mut row.events, &op.events);
        if row.end_time.is_none() {
            row.end_time = op.end_time;
        }
    } else {
        overwrite(&mut row.outputs, &op.outputs);
        overwrite(&mut row.error, &op.error);
        overwrite(&mut row.events, &op.events);
        if op.end_time.is_some() {
            row.end_time = op.end_time;
        }
    }
    if let Some(extra) = &op.extra {
        row.extra = Some(match row.extra.as_deref() {
            None => extra.clone(),
            // Later documents win key by key; a post never overrides what a patch set.
            Some(stored) if post => merge_json_text(extra, stored),
            Some(stored) => merge_json_text(stored, extra),
        });
    }
}

fn overwrite(slot: &mut Option<String>, value: &Option<String>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}

fn fill(slot: &mut Option<String>, value: &Option<String>) {
    if slot.is_none() {
        slot.clone_from(value);
    }
}

/// Deep-merges two JSON object texts, `top` winning on conflicts.
fn merge_json_text(base: &str, top: &str) -> String {
    match (
        serde_json::from_str::<Value>(base),
        serde_json::from_str::<Value>(top),
    ) {
        (Ok(mut base), Ok(top)) => {
            deep_merge(&mut base, top);
            base.to_string()
        }
        (_, Ok(_)) | (Err(_), Err(_)) => top.to_string(),
        (Ok(_), Err(_)) => base.to_string(),
    }
}

fn deep_merge(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(base), Value::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(&key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        deep_merge(existing, value)
                    }
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, top) => *base = top,
    }
}

/// Whether the run has what a read needs (a post, or a patch that carried the same fields).
pub fn is_complete(row: &RunRow) -> bool {
    row.name.is_some() && row.run_type.is_some() && row.start_time.is_some()
}

/// Fills `trace_id` and `dotted_order` when the client did not send them (plain `POST /runs`).
/// `parent` is the parent's stored state, when known. Returns false when the run still needs
/// its parent to be completed.
pub fn derive_lineage(row: &mut RunRow, parent: Option<&RunRow>) -> bool {
    let Some(start) = row.start_time else {
        return false;
    };
    let Ok(id) = uuid::Uuid::parse_str(&row.id) else {
        return false;
    };
    match row.parent_run_id.as_deref() {
        None => {
            if row.trace_id.is_none() {
                row.trace_id = Some(row.id.clone());
            }
            if row.dotted_order.is_none() {
                row.dotted_order = Some(dotted_order_segment(start, &id));
            }
            true
        }
        Some(_) if row.dotted_order.is_some() && row.trace_id.is_some() => true,
        Some(_) => {
            let Some(parent) = parent else { return false };
            let (Some(parent_order), Some(parent_trace)) = (&parent.dotted_order, &parent.trace_id)
            else {
                return false;
            };
            // The SDK clamps a child's start to its parent's so the order sorts as executed.
            let parent_start = parent.start_time.unwrap_or(start);
            let segment = dotted_order_segment(start.max(parent_start), &id);
            if row.trace_id.is_none() {
                row.trace_id = Some(parent_trace.clone());
            }
            if row.dotted_order.is_none() {
                row.dotted_order = Some(format!("{parent_order}.{segment}"));
            }
            true
        }
    }
}

/// Token counts and costs the SDKs report, from `outputs.usage_metadata`,
/// `extra.metadata.usage_metadata`, LangChain generations or `llm_output.token_usage`.
#[derive(Debug, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub prompt_cost: Option<f64>,
    pub completion_cost: Option<f64>,
    pub total_cost: Option<f64>,
    pub prompt_token_details: Option<String>,
    pub completion_token_details: Option<String>,
}

pub fn refresh_derived(row: &mut RunRow) {
    let usage = extract_usage(row.outputs.as_deref(), row.extra.as_deref());
    row.prompt_tokens = usage.prompt_tokens;
    row.completion_tokens = usage.completion_tokens;
    row.total_tokens = usage.total_tokens;
    row.prompt_cost = usage.prompt_cost;
    row.completion_cost = usage.completion_cost;
    row.total_cost = usage.total_cost;
    row.prompt_token_details = usage.prompt_token_details;
    row.completion_token_details = usage.completion_token_details;
    row.first_token_time = first_token_time(row.events.as_deref());
}

pub fn extract_usage(outputs: Option<&str>, extra: Option<&str>) -> Usage {
    // Most runs carry no usage: look for the keys before parsing anything.
    let mentions = |text: Option<&str>| {
        text.is_some_and(|t| t.contains("usage_metadata") || t.contains("token_usage"))
    };
    let from_outputs = if mentions(outputs) {
        outputs
            .and_then(|o| serde_json::from_str::<Value>(o).ok())
            .and_then(|o| find_usage(&o))
    } else {
        None
    };
    let from_extra = || {
        if !mentions(extra) {
            return None;
        }
        let extra: Value = serde_json::from_str(extra?).ok()?;
        extra
            .pointer("/metadata/usage_metadata")
            .and_then(Value::as_object)
            .map(usage_from_metadata)
    };
    from_outputs.or_else(from_extra).unwrap_or_default()
}

fn find_usage(outputs: &Value) -> Option<Usage> {
    if let Some(usage) = outputs.get("usage_metadata").and_then(Value::as_object) {
        return Some(usage_from_metadata(usage));
    }
    // LangChain chat models: generations[][].message.kwargs.usage_metadata
    if let Some(generations) = outputs.get("generations").and_then(Value::as_array) {
        let found = generations
            .iter()
            .flat_map(|g| g.as_array().into_iter().flatten().chain(std::iter::once(g)))
            .find_map(|g| {
                g.pointer("/message/kwargs/usage_metadata")
                    .or_else(|| g.pointer("/message/usage_metadata"))
                    .and_then(Value::as_object)
            });
        if let Some(usage) = found {
            return Some(usage_from_metadata(usage));
        }
    }
    let token_usage = outputs.pointer("/llm_output/token_usage")?.as_object()?;
    let prompt = token_usage.get("prompt_tokens").and_then(Value::as_i64);
    let completion = token_usage.get("completion_tokens").and_then(Value::as_i64);
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: token_usage
            .get("total_tokens")
            .and_then(Value::as_i64)
            .or_else(|| Some(prompt? + completion?)),
        ..Usage::default()
    })
}

fn usage_from_metadata(usage: &Map<String, Value>) -> Usage {
    let int = |key: &str| usage.get(key).and_then(Value::as_i64);
    let float = |key: &str| usage.get(key).and_then(Value::as_f64);
    let details = |key: &str| {
        usage
            .get(key)
            .filter(|d| d.as_object().is_some_and(|m| !m.is_empty()))
            .map(Value::to_string)
    };
    let (prompt, completion) = (int("input_tokens"), int("output_tokens"));
    let (prompt_cost, completion_cost) = (float("input_cost"), float("output_cost"));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: int("total_tokens").or_else(|| Some(prompt? + completion?)),
        prompt_cost,
        completion_cost,
        total_cost: float("total_cost").or_else(|| Some(prompt_cost? + completion_cost?)),
        prompt_token_details: details("input_token_details"),
        completion_token_details: details("output_token_details"),
    }
}

/// The time of the first streamed token (`new_token` event), when the run streamed.
fn first_token_time(events: Option<&str>) -> Option<Micros> {
    let events = events.filter(|e| e.contains("new_token"))?;
    let events: Vec<Value> = serde_json::from_str(events).ok()?;
    events
        .iter()
        .filter(|e| e.get("name").and_then(Value::as_str) == Some("new_token"))
        .filter_map(|e| e.get("time").and_then(crate::time::parse_json_time))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn op(kind: OpKind) -> RunOp {
        RunOp::empty(kind, Uuid::nil())
    }

    fn row() -> RunRow {
        RunRow {
            id: Uuid::nil().to_string(),
            ..RunRow::default()
        }
    }

    #[test]
    fn patch_before_post_keeps_the_patch_results() {
        let mut post = op(OpKind::Post);
        post.name = Some("n".into());
        post.outputs = Some("{}".into());
        post.inputs = Some(r#"{"q":1}"#.into());
        post.extra = Some(r#"{"runtime":{"sdk":"py"},"metadata":{"a":1}}"#.into());
        let mut patch = op(OpKind::Patch);
        patch.outputs = Some(r#"{"answer":2}"#.into());
        patch.end_time = Some(10);
        patch.extra = Some(r#"{"metadata":{"b":2}}"#.into());

        let mut in_order = row();
        apply(&mut in_order, &post);
        apply(&mut in_order, &patch);
        let mut reversed = row();
        apply(&mut reversed, &patch);
        apply(&mut reversed, &post);
        // and a retried post changes nothing
        apply(&mut reversed, &post);

        for r in [&in_order, &reversed] {
            assert_eq!(r.outputs.as_deref(), Some(r#"{"answer":2}"#));
            assert_eq!(r.inputs.as_deref(), Some(r#"{"q":1}"#));
            assert_eq!(r.end_time, Some(10));
            let extra: Value = serde_json::from_str(r.extra.as_deref().unwrap()).unwrap();
            assert_eq!(extra["runtime"]["sdk"], "py");
            assert_eq!(extra["metadata"]["a"], 1);
            assert_eq!(extra["metadata"]["b"], 2);
        }
    }

    #[test]
    fn nulls_do_not_erase() {
        let mut r = row();
        let mut post = op(OpKind::Post);
        post.name = Some("n".into());
        post.tags = Some(r#"["t"]"#.into());
        apply(&mut r, &post);
        apply(&mut r, &op(OpKind::Patch));
        assert_eq!(r.name.as_deref(), Some("n"));
        assert_eq!(r.tags.as_deref(), Some(r#"["t"]"#));
    }

    #[test]
    fn lineage_is_derived_for_roots_and_children() {
        let parent_id = Uuid::now_v7();
        let child_id = Uuid::now_v7();
        let mut parent = RunRow {
            id: parent_id.to_string(),
            start_time: Some(1_000_000),
            ..RunRow::default()
        };
        assert!(derive_lineage(&mut parent, None));
        assert_eq!(parent.trace_id, Some(parent_id.to_string()));
        let mut child = RunRow {
            id: child_id.to_string(),
            parent_run_id: Some(parent_id.to_string()),
            start_time: Some(2_000_000),
            ..RunRow::default()
        };
        assert!(!derive_lineage(&mut child, None));
        assert!(derive_lineage(&mut child, Some(&parent)));
        assert_eq!(child.trace_id, Some(parent_id.to_string()));
        let order = child.dotted_order.unwrap();
        assert!(order.starts_with(parent.dotted_order.as_deref().unwrap()));
        assert!(order.ends_with(&child_id.to_string()));
    }

    #[test]
    fn usage_from_each_place_the_sdks_put_it() {
        let u = extract_usage(
            Some(
                r#"{"usage_metadata":{"input_tokens":3,"output_tokens":4,"input_cost":0.5,"output_cost":0.25}}"#,
            ),
            None,
        );
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (Some(3), Some(4), Some(7))
        );
        assert_eq!(u.total_cost, Some(0.75));
        let u = extract_usage(
            None,
            Some(
                r#"{"metadata":{"usage_metadata":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}}"#,
            ),
        );
        assert_eq!(u.total_tokens, Some(2));
        let u = extract_usage(
            Some(
                r#"{"generations":[[{"message":{"kwargs":{"usage_metadata":{"input_tokens":5,"output_tokens":6,"total_tokens":11}}}}]]}"#,
            ),
            None,
        );
        assert_eq!(u.total_tokens, Some(11));
        let u = extract_usage(
            Some(r#"{"llm_output":{"token_usage":{"prompt_tokens":2,"completion_tokens":3}}}"#),
            None,
        );
        assert_eq!(u.total_tokens, Some(5));
        assert_eq!(extract_usage(Some(r#"{"a":1}"#), None), Usage::default());
    }

    #[test]
    fn first_token_time_comes_from_new_token_events() {
        let events = r#"[{"name":"start","time":"2026-01-01T00:00:00Z"},{"name":"new_token","time":"2026-01-01T00:00:01Z"}]"#;
        assert_eq!(
            first_token_time(Some(events)),
            crate::time::parse_time_str("2026-01-01T00:00:01Z")
        );
    }
}
