//! Pure parts of run rules: whether a rule samples a run, and how a run becomes a dataset
//! example (as the SDK's `create_example_from_run` converts it), how far a backfill got. No
//! HTTP, no database: the rule worker (`crate::rule_worker`) calls these.

use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Whether a rule with this sampling rate acts on this run. Deterministic per (rule, run), so
/// a retry or a second replica decides the same: a stable hash of both ids mapped to [0, 1).
pub fn sampled(rule_id: &Uuid, run_id: &Uuid, rate: f64) -> bool {
    draw(rule_id, run_id) < rate
}

/// The (rule, run) pair's fixed draw in [0, 1).
fn draw(rule_id: &Uuid, run_id: &Uuid) -> f64 {
    // FNV-1a over the 32 id bytes, then a splitmix finaliser to spread the bits.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in rule_id.as_bytes().iter().chain(run_id.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// `backfill_progress` as LangSmith reports it: the share of the runs to evaluate that were,
/// in [0, 1]; `None` when the rule has no backfill.
pub fn backfill_progress(status: Option<&str>, evaluated: i64, total: Option<i64>) -> Option<f64> {
    match (status?, total) {
        ("done", _) => Some(1.0),
        (_, Some(total)) if total > 0 => Some((evaluated as f64 / total as f64).min(1.0)),
        _ => Some(0.0),
    }
}

/// A dataset's `data_type`, which decides the examples' shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    /// Inputs and outputs as the run has them.
    Kv,
    /// `{"input": prompt}` → `{"output": generated text}`; llm runs only.
    Llm,
    /// `{"input": [messages]}` → `{"output": message}`; llm runs only.
    Chat,
}

impl DatasetKind {
    pub fn from_data_type(data_type: &str) -> Self {
        match data_type {
            "llm" => DatasetKind::Llm,
            "chat" => DatasetKind::Chat,
            _ => DatasetKind::Kv,
        }
    }
}

/// What a run contributes to an example.
pub struct RunContent<'a> {
    pub run_type: &'a str,
    pub inputs: &'a Value,
    pub outputs: Option<&'a Value>,
}

/// The example's inputs and outputs for a run. With `correction` (the run's feedback
/// correction, when the rule prefers corrections), the outputs are the correction as given: a
/// correction is already what the output should have been.
pub fn example_from_run(
    kind: DatasetKind,
    run: &RunContent<'_>,
    correction: Option<&Value>,
) -> Result<(Value, Option<Value>), String> {
    let corrected = correction.map(|c| match c {
        Value::Object(_) => c.clone(),
        other => json!({ "output": other }),
    });
    if kind != DatasetKind::Kv && run.run_type != "llm" {
        return Err(format!(
            "a {} dataset takes llm runs only, this run is a {}",
            if kind == DatasetKind::Llm {
                "llm"
            } else {
                "chat"
            },
            run.run_type
        ));
    }
    let inputs = match kind {
        DatasetKind::Kv => run.inputs.clone(),
        DatasetKind::Llm => json!({ "input": prompt_from_inputs(run.inputs)? }),
        DatasetKind::Chat => json!({ "input": messages_from_inputs(run.inputs)? }),
    };
    let outputs = match (corrected, run.outputs.filter(|o| !is_empty(o))) {
        (Some(corrected), _) => Some(corrected),
        (None, None) => None,
        (None, Some(outputs)) => Some(match kind {
            DatasetKind::Kv => outputs.clone(),
            DatasetKind::Llm => json!({ "output": llm_generation(outputs)? }),
            DatasetKind::Chat => json!({ "output": chat_generation(outputs)? }),
        }),
    };
    Ok((inputs, outputs))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn prompt_from_inputs(inputs: &Value) -> Result<Value, String> {
    if let Some(prompt) = inputs.get("prompt") {
        return Ok(prompt.clone());
    }
    match inputs
        .get("prompts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([one]) => Ok(one.clone()),
        Some(_) => Err("the run has several prompts: create its example by hand".into()),
        None => Err("no prompt in the run's inputs".into()),
    }
}

fn single_generation(outputs: &Value) -> Result<&Value, String> {
    match outputs
        .get("generations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        // LangChain nests generations per prompt: [[generation]]; the SDK's own conversion
        // takes only the flat form.
        Some([Value::Array(inner)]) if inner.len() == 1 => Ok(&inner[0]),
        Some([one]) => Ok(one),
        Some(_) => Err("the run has several generations".into()),
        None => Err("no generations in the run's outputs".into()),
    }
}

fn llm_generation(outputs: &Value) -> Result<Value, String> {
    single_generation(outputs)?
        .get("text")
        .cloned()
        .ok_or_else(|| "the generation has no text".into())
}

fn chat_generation(outputs: &Value) -> Result<Value, String> {
    let message = single_generation(outputs)?
        .get("message")
        .ok_or("the generation has no message")?;
    convert_message(message)
}

fn messages_from_inputs(inputs: &Value) -> Result<Value, String> {
    if let Some(messages) = inputs.get("messages").and_then(Value::as_array) {
        // LangChain chat models take a batch: [[messages]].
        let messages = match messages.as_slice() {
            [Value::Array(inner)] => inner,
            _ => messages,
        };
        return messages
            .iter()
            .map(convert_message)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(message) = inputs.get("message") {
        return Ok(Value::Array(vec![convert_message(message)?]));
    }
    Err("no messages in the run's inputs".into())
}

/// `{"type", "data"}` from a stored message, or from a serialized LangChain one
/// (`{"lc": 1, "id": [..., "HumanMessage"], "kwargs": {...}}`).
fn convert_message(message: &Value) -> Result<Value, String> {
    let Some(fields) = message.as_object().filter(|m| !m.is_empty()) else {
        return Err("a message is empty or not an object".into());
    };
    let (kind, data) = if fields.contains_key("lc") {
        let kind = fields
            .get("id")
            .and_then(Value::as_array)
            .and_then(|id| id.last())
            .and_then(Value::as_str)
            .ok_or("a serialized message has no id")?
            .replace("Message", "")
            .to_lowercase();
        (
            kind,
            fields
                .get("kwargs")
                .ok_or("a serialized message has no kwargs")?,
        )
    } else {
        let kind = fields
            .get("type")
            .and_then(Value::as_str)
            .ok_or("a message has no type")?
            .to_string();
        (kind, fields.get("data").ok_or("a message has no data")?)
    };
    let mut out = Map::new();
    out.insert("type".into(), Value::String(kind));
    out.insert("data".into(), data.clone());
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN: &str = "0.718779169193";

    #[test]
    fn sampling_is_deterministic_and_close_to_the_rate() {
        let rule = Uuid::now_v7();
        let runs: Vec<Uuid> = (0..20_000).map(|_| Uuid::new_v4()).collect();
        for rate in [0.0, 0.1, 0.5, 0.9, 1.0] {
            let taken = runs.iter().filter(|r| sampled(&rule, r, rate)).count();
            let share = taken as f64 / runs.len() as f64;
            assert!((share - rate).abs() < 0.015, "rate {rate}: took {share}");
        }
        assert_eq!(runs.iter().filter(|r| sampled(&rule, r, 0.0)).count(), 0);
        assert_eq!(
            runs.iter().filter(|r| sampled(&rule, r, 1.0)).count(),
            runs.len()
        );
        // Another rule samples other runs.
        let other = Uuid::now_v7();
        let differ = runs
            .iter()
            .filter(|r| sampled(&rule, r, 0.5) != sampled(&other, r, 0.5))
            .count();
        assert!(differ > 8_000, "{differ}");
        // Fixed ids, fixed draw: the hash must not change between builds, machines or
        // versions, or replicas of different versions would decide differently.
        let fixed = Uuid::parse_str("0190b6a0-0000-7000-8000-000000000001").unwrap();
        let run = Uuid::parse_str("0190b6a0-0000-7000-8000-0000000000ff").unwrap();
        assert_eq!(format!("{:.12}", draw(&fixed, &run)), GOLDEN);
    }

    #[test]
    fn backfill_progress_is_a_share_capped_at_one() {
        assert_eq!(backfill_progress(None, 0, None), None);
        assert_eq!(backfill_progress(Some("running"), 0, None), Some(0.0));
        assert_eq!(
            backfill_progress(Some("running"), 25, Some(100)),
            Some(0.25)
        );
        // Runs ingested during the backfill can make it evaluate more than it counted.
        assert_eq!(
            backfill_progress(Some("running"), 120, Some(100)),
            Some(1.0)
        );
        assert_eq!(backfill_progress(Some("running"), 0, Some(0)), Some(0.0));
        assert_eq!(backfill_progress(Some("done"), 3, Some(100)), Some(1.0));
    }

    #[test]
    fn kv_examples_keep_the_run_and_take_corrections() {
        let inputs = json!({"question": "capital of France?"});
        let outputs = json!({"answer": "Lyon"});
        let run = RunContent {
            run_type: "chain",
            inputs: &inputs,
            outputs: Some(&outputs),
        };
        let (i, o) = example_from_run(DatasetKind::Kv, &run, None).unwrap();
        assert_eq!((i, o), (inputs.clone(), Some(outputs.clone())));
        let correction = json!({"answer": "Paris"});
        let (_, o) = example_from_run(DatasetKind::Kv, &run, Some(&correction)).unwrap();
        assert_eq!(o, Some(correction));
        let (_, o) = example_from_run(DatasetKind::Kv, &run, Some(&json!("Paris"))).unwrap();
        assert_eq!(o, Some(json!({"output": "Paris"})));
        let empty = json!({});
        let unfinished = RunContent {
            run_type: "chain",
            inputs: &inputs,
            outputs: Some(&empty),
        };
        assert_eq!(
            example_from_run(DatasetKind::Kv, &unfinished, None)
                .unwrap()
                .1,
            None
        );
    }

    #[test]
    fn llm_and_chat_examples_convert_as_the_sdk_does() {
        let inputs = json!({"prompts": ["Say hi"]});
        let outputs = json!({"generations": [[{"text": "hi"}]]});
        let run = RunContent {
            run_type: "llm",
            inputs: &inputs,
            outputs: Some(&outputs),
        };
        assert_eq!(
            example_from_run(DatasetKind::Llm, &run, None).unwrap(),
            (json!({"input": "Say hi"}), Some(json!({"output": "hi"})))
        );
        let inputs = json!({"messages": [[
            {"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "HumanMessage"],
             "kwargs": {"content": "hi"}}
        ]]});
        let outputs =
            json!({"generations": [{"message": {"type": "ai", "data": {"content": "hello"}}}]});
        let run = RunContent {
            run_type: "llm",
            inputs: &inputs,
            outputs: Some(&outputs),
        };
        assert_eq!(
            example_from_run(DatasetKind::Chat, &run, None).unwrap(),
            (
                json!({"input": [{"type": "human", "data": {"content": "hi"}}]}),
                Some(json!({"output": {"type": "ai", "data": {"content": "hello"}}}))
            )
        );
        let chain = RunContent {
            run_type: "chain",
            inputs: &inputs,
            outputs: None,
        };
        assert!(
            example_from_run(DatasetKind::Chat, &chain, None)
                .unwrap_err()
                .contains("llm runs only")
        );
        let no_prompt = json!({"q": 1});
        let bad = RunContent {
            run_type: "llm",
            inputs: &no_prompt,
            outputs: None,
        };
        assert!(
            example_from_run(DatasetKind::Llm, &bad, None)
                .unwrap_err()
                .contains("no prompt")
        );
        let two = json!({"generations": [{"text": "a"}, {"text": "b"}]});
        let prompt = json!({"prompt": "x"});
        let several = RunContent {
            run_type: "llm",
            inputs: &prompt,
            outputs: Some(&two),
        };
        assert!(
            example_from_run(DatasetKind::Llm, &several, None)
                .unwrap_err()
                .contains("several")
        );
        assert_eq!(DatasetKind::from_data_type("chat"), DatasetKind::Chat);
        assert_eq!(DatasetKind::from_data_type("kv"), DatasetKind::Kv);
    }
}
