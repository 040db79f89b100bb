//! Parsing and validating what the SDKs send into run operations, feedback and attachments.
//! Pure: no HTTP, no database.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::time::{Micros, parse_json_time};

pub const RUN_TYPES: [&str; 7] = [
    "tool",
    "chain",
    "llm",
    "retriever",
    "embedding",
    "prompt",
    "parser",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Post,
    Patch,
}

/// One create (`post`) or update (`patch`) of a run. `None` means "not provided": it never
/// erases a stored value. JSON documents are kept as the text the client sent.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOp {
    pub kind: OpKind,
    pub id: Uuid,
    pub session_id: Option<Uuid>,
    pub session_name: Option<String>,
    pub trace_id: Option<Uuid>,
    pub parent_run_id: Option<Uuid>,
    pub dotted_order: Option<String>,
    pub name: Option<String>,
    pub run_type: Option<String>,
    pub start_time: Option<Micros>,
    pub end_time: Option<Micros>,
    pub inputs: Option<String>,
    pub outputs: Option<String>,
    pub error: Option<String>,
    pub extra: Option<String>,
    pub serialized: Option<String>,
    pub events: Option<String>,
    pub tags: Option<String>,
    pub reference_example_id: Option<Uuid>,
}

impl RunOp {
    pub fn empty(kind: OpKind, id: Uuid) -> Self {
        RunOp {
            kind,
            id,
            session_id: None,
            session_name: None,
            trace_id: None,
            parent_run_id: None,
            dotted_order: None,
            name: None,
            run_type: None,
            start_time: None,
            end_time: None,
            inputs: None,
            outputs: None,
            error: None,
            extra: None,
            serialized: None,
            events: None,
            tags: None,
            reference_example_id: None,
        }
    }

    /// Sets a field sent as its own multipart part (`post.{id}.inputs` ...). Unknown fields are
    /// ignored, as the SDKs may add new ones.
    pub fn set_out_of_band(&mut self, field: &str, body: &[u8], label: &str) -> Result<(), String> {
        let raw: &RawValue = serde_json::from_slice(body)
            .map_err(|e| format!("part {label}: body is not valid JSON ({e})"))?;
        let raw = Some(raw).filter(|r| r.get() != "null");
        match field {
            "inputs" => self.inputs = json_object(raw, label)?,
            "outputs" => self.outputs = json_object(raw, label)?,
            "extra" => self.extra = json_object(raw, label)?,
            "serialized" => self.serialized = json_object(raw, label)?,
            "events" => self.events = json_array(raw, label)?,
            "error" => self.error = error_text(raw),
            _ => {}
        }
        Ok(())
    }
}

/// The known keys of a run object; values stay unparsed until each is checked on its own, so
/// an error names the field and large documents are never re-serialised.
#[derive(Deserialize)]
struct RawRun<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    session_id: Option<&'a RawValue>,
    #[serde(borrow)]
    session_name: Option<&'a RawValue>,
    #[serde(borrow)]
    trace_id: Option<&'a RawValue>,
    #[serde(borrow)]
    parent_run_id: Option<&'a RawValue>,
    #[serde(borrow)]
    dotted_order: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    run_type: Option<&'a RawValue>,
    #[serde(borrow)]
    start_time: Option<&'a RawValue>,
    #[serde(borrow)]
    end_time: Option<&'a RawValue>,
    #[serde(borrow)]
    inputs: Option<&'a RawValue>,
    #[serde(borrow)]
    outputs: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
    #[serde(borrow)]
    extra: Option<&'a RawValue>,
    #[serde(borrow)]
    serialized: Option<&'a RawValue>,
    #[serde(borrow)]
    events: Option<&'a RawValue>,
    #[serde(borrow)]
    tags: Option<&'a RawValue>,
    #[serde(borrow)]
    reference_example_id: Option<&'a RawValue>,
    #[serde(borrow)]
    revision_id: Option<&'a RawValue>,
}

fn present(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

fn parse_uuid(raw: Option<&RawValue>, field: &str, label: &str) -> Result<Option<Uuid>, String> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let text: &str = serde_json::from_str(raw.get())
        .map_err(|_| format!("{label}: {field} must be a UUID string, got {}", short(raw)))?;
    Uuid::parse_str(text)
        .map(Some)
        .map_err(|_| format!("{label}: {field} is not a valid UUID: {:?}", shorten(text)))
}

fn parse_string(
    raw: Option<&RawValue>,
    field: &str,
    label: &str,
) -> Result<Option<String>, String> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    serde_json::from_str::<String>(raw.get())
        .map(Some)
        .map_err(|_| format!("{label}: {field} must be a string, got {}", short(raw)))
}

fn parse_time(raw: Option<&RawValue>, field: &str, label: &str) -> Result<Option<Micros>, String> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    parse_json_time(&value).map(Some).ok_or_else(|| {
        format!(
            "{label}: {field} must be an ISO-8601 date-time or epoch milliseconds, got {}",
            short(raw)
        )
    })
}

fn json_object(raw: Option<&RawValue>, label: &str) -> Result<Option<String>, String> {
    json_of_kind(raw, label, b'{', "a JSON object")
}

fn json_array(raw: Option<&RawValue>, label: &str) -> Result<Option<String>, String> {
    json_of_kind(raw, label, b'[', "a JSON array")
}

fn json_of_kind(
    raw: Option<&RawValue>,
    label: &str,
    opener: u8,
    what: &str,
) -> Result<Option<String>, String> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    // RawValue text starts at the value's first byte: the opener tells its kind.
    if raw.get().as_bytes().first() == Some(&opener) {
        Ok(Some(raw.get().to_string()))
    } else {
        Err(format!("{label} must be {what}, got {}", short(raw)))
    }
}

/// `error` is a string; anything else is kept as its JSON text rather than refused.
fn error_text(raw: Option<&RawValue>) -> Option<String> {
    present(raw).map(|raw| {
        serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_string())
    })
}

fn short(raw: &RawValue) -> String {
    shorten(raw.get())
}

fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Parses one run object. `path_id` is the id named by the URL or part name, when there is one;
/// `label` names the object in error messages (`post.<id>`, `patch[3]`, ...).
pub fn parse_run(
    kind: OpKind,
    body: &[u8],
    path_id: Option<Uuid>,
    label: &str,
) -> Result<RunOp, String> {
    let raw: RawRun = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            format!("{label} must be a JSON object ({e})")
        } else {
            format!("{label} is not valid JSON ({e})")
        }
    })?;
    let body_id = parse_uuid(raw.id, "id", label)?;
    let id = match (path_id, body_id) {
        (Some(p), Some(b)) if p != b => {
            return Err(format!(
                "{label}: id {b} in the body does not match the id {p} it was sent under"
            ));
        }
        (Some(p), _) => p,
        (None, Some(b)) => b,
        (None, None) => return Err(format!("{label}: id is required")),
    };
    let mut extra = json_object(raw.extra, &format!("{label}: extra"))?;
    if let Some(revision) = parse_string(raw.revision_id, "revision_id", label)? {
        extra = Some(with_revision_id(extra.as_deref(), &revision));
    }
    let op = RunOp {
        kind,
        id,
        session_id: parse_uuid(raw.session_id, "session_id", label)?,
        session_name: parse_string(raw.session_name, "session_name", label)?,
        trace_id: parse_uuid(raw.trace_id, "trace_id", label)?,
        parent_run_id: parse_uuid(raw.parent_run_id, "parent_run_id", label)?,
        dotted_order: parse_string(raw.dotted_order, "dotted_order", label)?,
        name: parse_string(raw.name, "name", label)?,
        run_type: parse_string(raw.run_type, "run_type", label)?,
        start_time: parse_time(raw.start_time, "start_time", label)?,
        end_time: parse_time(raw.end_time, "end_time", label)?,
        inputs: json_object(raw.inputs, &format!("{label}: inputs"))?,
        outputs: json_object(raw.outputs, &format!("{label}: outputs"))?,
        error: error_text(raw.error),
        extra,
        serialized: json_object(raw.serialized, &format!("{label}: serialized"))?,
        events: json_array(raw.events, &format!("{label}: events"))?,
        tags: parse_tags(raw.tags, label)?,
        reference_example_id: parse_uuid(raw.reference_example_id, "reference_example_id", label)?,
    };
    Ok(op)
}

fn parse_tags(raw: Option<&RawValue>, label: &str) -> Result<Option<String>, String> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    let tags: Vec<String> = serde_json::from_str(raw.get()).map_err(|_| {
        format!(
            "{label}: tags must be an array of strings, got {}",
            short(raw)
        )
    })?;
    Ok(Some(serde_json::to_string(&tags).unwrap_or_default()))
}

/// JS sends `revision_id` at the top level; Python keeps it in `extra.metadata.revision_id`.
fn with_revision_id(extra: Option<&str>, revision: &str) -> String {
    let mut extra: Value = extra
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or_else(|| Value::Object(Default::default()));
    if let Value::Object(map) = &mut extra {
        let metadata = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(metadata) = metadata {
            metadata
                .entry("revision_id")
                .or_insert_with(|| Value::String(revision.to_string()));
        }
    }
    extra.to_string()
}

/// `parse_run` followed by `validate`.
pub fn parse_valid_run(
    kind: OpKind,
    body: &[u8],
    path_id: Option<Uuid>,
    label: &str,
) -> Result<RunOp, String> {
    let op = parse_run(kind, body, path_id, label)?;
    validate(&op, label)?;
    Ok(op)
}

/// Checks what can be checked on one operation alone.
pub fn validate(op: &RunOp, label: &str) -> Result<(), String> {
    if let Some(run_type) = &op.run_type
        && !RUN_TYPES.contains(&run_type.as_str())
    {
        return Err(format!(
            "{label}: run_type {run_type:?} is not one of {}",
            RUN_TYPES.join(", ")
        ));
    }
    if op.kind == OpKind::Post && op.name.as_deref().is_none_or(str::is_empty) {
        return Err(format!("{label}: name is required"));
    }
    if op.kind == OpKind::Post && op.run_type.is_none() {
        return Err(format!("{label}: run_type is required"));
    }
    if let Some(dotted) = &op.dotted_order {
        let ids = dotted_order_ids(dotted)
            .ok_or_else(|| format!("{label}: dotted_order {:?} is malformed", shorten(dotted)))?;
        if ids.last() != Some(&op.id) {
            return Err(format!(
                "{label}: dotted_order must end with the run's own id {}",
                op.id
            ));
        }
        if let Some(trace_id) = op.trace_id
            && ids.first() != Some(&trace_id)
        {
            return Err(format!(
                "{label}: dotted_order must start with the trace_id {trace_id}"
            ));
        }
        if let Some(parent) = op.parent_run_id
            && (ids.len() < 2 || ids[ids.len() - 2] != parent)
        {
            return Err(format!(
                "{label}: dotted_order must name the parent_run_id {parent} just before the run's id"
            ));
        }
    }
    Ok(())
}

/// The run ids in a `dotted_order`, root first; `None` if it is not of the SDK's form
/// (`YYYYMMDDTHHMMSSffffffZ<uuid>` segments joined by `.`).
pub fn dotted_order_ids(dotted: &str) -> Option<Vec<Uuid>> {
    dotted
        .split('.')
        .map(|segment| {
            let (stamp, id) = segment.split_at_checked(22)?;
            let stamp = stamp.as_bytes();
            let well_formed = stamp[8] == b'T'
                && stamp[21] == b'Z'
                && stamp[..8].iter().all(u8::is_ascii_digit)
                && stamp[9..21].iter().all(u8::is_ascii_digit);
            if !well_formed || id.len() != 36 {
                return None;
            }
            Uuid::parse_str(id).ok()
        })
        .collect()
}

/// A feedback object, as `POST /feedback` or a `feedback.{id}` multipart part carries it.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedbackOp {
    pub id: Uuid,
    pub run_id: Option<Uuid>,
    pub trace_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub key: String,
    pub score: Option<f64>,
    pub value: Option<String>,
    pub comment: Option<String>,
    pub correction: Option<String>,
    pub feedback_source: Option<String>,
    /// `feedback_source.type`: `api` unless the client says otherwise.
    pub source_type: String,
    pub feedback_config: Option<String>,
    pub feedback_group_id: Option<Uuid>,
    pub comparative_experiment_id: Option<Uuid>,
    pub created_at: Option<Micros>,
    pub modified_at: Option<Micros>,
    /// The feedback's own `extra` object (e.g. `{"error": true}` from an evaluator).
    pub extra: Option<String>,
}

#[derive(Deserialize)]
struct RawFeedback<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    run_id: Option<&'a RawValue>,
    #[serde(borrow)]
    trace_id: Option<&'a RawValue>,
    #[serde(borrow)]
    session_id: Option<&'a RawValue>,
    #[serde(borrow)]
    key: Option<&'a RawValue>,
    #[serde(borrow)]
    score: Option<&'a RawValue>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
    #[serde(borrow)]
    comment: Option<&'a RawValue>,
    #[serde(borrow)]
    correction: Option<&'a RawValue>,
    #[serde(borrow)]
    feedback_source: Option<&'a RawValue>,
    #[serde(borrow, alias = "feedbackConfig")]
    feedback_config: Option<&'a RawValue>,
    #[serde(borrow)]
    feedback_group_id: Option<&'a RawValue>,
    #[serde(borrow)]
    comparative_experiment_id: Option<&'a RawValue>,
    #[serde(borrow)]
    created_at: Option<&'a RawValue>,
    #[serde(borrow)]
    modified_at: Option<&'a RawValue>,
    #[serde(borrow)]
    extra: Option<&'a RawValue>,
}

/// A score is a number or a boolean (stored as 1 or 0), never text.
pub fn parse_score(raw: Option<&RawValue>, label: &str) -> Result<Option<f64>, String> {
    let Some(raw) = present(raw) else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Number(n)) => Ok(n.as_f64()),
        Ok(Value::Bool(b)) => Ok(Some(if b { 1.0 } else { 0.0 })),
        _ => Err(format!(
            "{label}: score must be a number or a boolean, got {}",
            short(raw)
        )),
    }
}

/// Any JSON value, kept as its text (`value`, `correction`).
pub fn any_json(raw: Option<&RawValue>) -> Option<String> {
    present(raw).map(|r| r.get().to_string())
}

pub fn parse_feedback(body: &[u8], label: &str) -> Result<FeedbackOp, String> {
    let raw: RawFeedback =
        serde_json::from_slice(body).map_err(|e| format!("{label} must be a JSON object ({e})"))?;
    let key = parse_string(raw.key, "key", label)?
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| format!("{label}: key is required"))?;
    let feedback_source = json_object(raw.feedback_source, &format!("{label}: feedback_source"))?;
    let source_type = feedback_source
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|s| s.get("type").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "api".to_string());
    let trace_id = parse_uuid(raw.trace_id, "trace_id", label)?;
    Ok(FeedbackOp {
        id: parse_uuid(raw.id, "id", label)?.unwrap_or_else(Uuid::now_v7),
        // Feedback on a trace is feedback on its root run, whose id is the trace id.
        run_id: parse_uuid(raw.run_id, "run_id", label)?.or(trace_id),
        trace_id,
        session_id: parse_uuid(raw.session_id, "session_id", label)?,
        key,
        score: parse_score(raw.score, label)?,
        value: any_json(raw.value),
        comment: parse_string(raw.comment, "comment", label)?,
        correction: any_json(raw.correction),
        feedback_source,
        source_type,
        feedback_config: json_object(raw.feedback_config, &format!("{label}: feedback_config"))?,
        feedback_group_id: parse_uuid(raw.feedback_group_id, "feedback_group_id", label)?,
        comparative_experiment_id: parse_uuid(
            raw.comparative_experiment_id,
            "comparative_experiment_id",
            label,
        )?,
        created_at: parse_time(raw.created_at, "created_at", label)?,
        modified_at: parse_time(raw.modified_at, "modified_at", label)?,
        extra: json_object(raw.extra, &format!("{label}: extra"))?,
    })
}

/// A file attached to a run (`attachment.{run_id}.{name}`).
#[derive(Clone, Debug, PartialEq)]
pub struct AttachmentOp {
    pub run_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub data: bytes::Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01a20a83-f12f-777e-87f2-2b92e3170d69";
    const PARENT: &str = "01a20a83-f12f-777e-87f2-2b92e3170d68";

    fn id() -> Uuid {
        Uuid::parse_str(ID).unwrap()
    }

    #[test]
    fn parses_a_python_post() {
        let body = format!(
            r#"{{"id":"{ID}","start_time":"2026-11-23T22:25:48.847821+00:00","parent_run_id":"{PARENT}",
            "tags":["a"],"dotted_order":"20261123T222548847428Z{PARENT}.20261123T222548847821Z{ID}",
            "trace_id":"{PARENT}","replicas":[],"session_name":"proj","name":"child","run_type":"llm",
            "inputs":{{"q":1}},"extra":{{"metadata":{{"k":"v"}}}}}}"#
        );
        let op = parse_run(OpKind::Post, body.as_bytes(), Some(id()), "post.x").unwrap();
        assert_eq!(op.name.as_deref(), Some("child"));
        assert_eq!(op.inputs.as_deref(), Some(r#"{"q":1}"#));
        assert_eq!(op.tags.as_deref(), Some(r#"["a"]"#));
        assert_eq!(op.session_name.as_deref(), Some("proj"));
        validate(&op, "post.x").unwrap();
    }

    #[test]
    fn nulls_mean_not_provided_and_epoch_ms_is_accepted() {
        let body =
            format!(r#"{{"id":"{ID}","name":null,"outputs":{{"a":1}},"end_time":1763936748847}}"#);
        let op = parse_run(OpKind::Patch, body.as_bytes(), None, "patch").unwrap();
        assert_eq!(op.name, None);
        assert_eq!(op.end_time, Some(1_763_936_748_847_000));
        validate(&op, "patch").unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                format!(r#"{{"id":"{ID}","name":"x","run_type":"agent"}}"#),
                "run_type",
            ),
            (
                r#"{"id":"nope","name":"x","run_type":"llm"}"#.to_string(),
                "id",
            ),
            (
                format!(r#"{{"id":"{ID}","name":"x","run_type":"llm","inputs":[1]}}"#),
                "inputs",
            ),
            (
                format!(r#"{{"id":"{ID}","name":"x","run_type":"llm","start_time":"soon"}}"#),
                "start_time",
            ),
            (
                format!(r#"{{"id":"{ID}","name":5,"run_type":"llm"}}"#),
                "name",
            ),
            (format!(r#"{{"id":"{ID}","run_type":"llm"}}"#), "name"),
            (
                format!(r#"{{"id":"{ID}","name":"x","run_type":"llm","dotted_order":"bad"}}"#),
                "dotted_order",
            ),
            (
                format!(r#"{{"id":"{ID}","name":"x","run_type":"llm","tags":"t"}}"#),
                "tags",
            ),
        ];
        for (body, field) in cases {
            let err = parse_run(OpKind::Post, body.as_bytes(), None, "post")
                .and_then(|op| validate(&op, "post"))
                .unwrap_err();
            assert!(err.contains(field), "{err} should name {field}");
        }
    }

    #[test]
    fn path_id_must_match_body_id() {
        let body = format!(r#"{{"id":"{PARENT}"}}"#);
        assert!(parse_run(OpKind::Patch, body.as_bytes(), Some(id()), "patch").is_err());
    }

    #[test]
    fn dotted_order_must_agree_with_ids() {
        let mut op = RunOp::empty(OpKind::Patch, id());
        op.dotted_order = Some(format!(
            "20261123T222548847428Z{PARENT}.20261123T222548847821Z{ID}"
        ));
        op.parent_run_id = Some(Uuid::parse_str(PARENT).unwrap());
        op.trace_id = Some(Uuid::parse_str(PARENT).unwrap());
        validate(&op, "p").unwrap();
        op.trace_id = Some(id());
        assert!(validate(&op, "p").unwrap_err().contains("trace_id"));
        op.trace_id = None;
        op.parent_run_id = Some(id());
        assert!(validate(&op, "p").unwrap_err().contains("parent_run_id"));
    }

    #[test]
    fn out_of_band_parts_check_kinds() {
        let mut op = RunOp::empty(OpKind::Post, id());
        op.set_out_of_band("inputs", br#"{"a":1}"#, "post.x.inputs")
            .unwrap();
        op.set_out_of_band("error", br#""boom""#, "post.x.error")
            .unwrap();
        op.set_out_of_band("unknown_field", br#"5"#, "post.x.unknown_field")
            .unwrap();
        assert_eq!(op.error.as_deref(), Some("boom"));
        assert!(
            op.set_out_of_band("events", br#"{}"#, "post.x.events")
                .is_err()
        );
        assert!(
            op.set_out_of_band("inputs", b"{oops", "post.x.inputs")
                .is_err()
        );
    }

    #[test]
    fn js_revision_id_moves_into_metadata() {
        let body = format!(r#"{{"id":"{ID}","name":"x","run_type":"chain","revision_id":"r1"}}"#);
        let op = parse_run(OpKind::Post, body.as_bytes(), None, "post").unwrap();
        let extra: Value = serde_json::from_str(op.extra.as_deref().unwrap()).unwrap();
        assert_eq!(extra["metadata"]["revision_id"], "r1");
    }

    #[test]
    fn feedback_score_must_be_numeric() {
        let ok = parse_feedback(br#"{"key":"correct","score":true,"run_id":null}"#, "f").unwrap();
        assert_eq!(ok.score, Some(1.0));
        assert_eq!(ok.source_type, "api");
        let trace = format!(
            r#"{{"key":"k","trace_id":"{ID}","feedbackConfig":{{"type":"continuous"}},"feedback_source":{{"type":"model"}}}}"#
        );
        let on_trace = parse_feedback(trace.as_bytes(), "f").unwrap();
        assert_eq!(
            on_trace.run_id,
            Some(id()),
            "trace feedback lands on the root run"
        );
        assert_eq!(on_trace.source_type, "model");
        assert!(on_trace.feedback_config.is_some());
        assert!(
            parse_feedback(br#"{"key":"k","score":"high"}"#, "f")
                .unwrap_err()
                .contains("score")
        );
        assert!(
            parse_feedback(br#"{"score":1}"#, "f")
                .unwrap_err()
                .contains("key")
        );
    }
}
