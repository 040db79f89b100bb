//! Dataset files: CSV, JSONL and OpenAI fine-tuning exports, and CSV imports. Pure: no HTTP, no DB.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// One example as exported.
pub struct ExampleData {
    pub id: String,
    pub inputs: Value,
    pub outputs: Option<Value>,
    pub metadata: Option<Value>,
}

/// One JSON object per line: `{"id", "inputs", "outputs", "metadata"}`.
pub fn to_jsonl(examples: &[ExampleData]) -> String {
    examples
        .iter()
        .map(|e| {
            json!({"id": e.id, "inputs": e.inputs, "outputs": e.outputs, "metadata": e.metadata})
                .to_string()
                + "\n"
        })
        .collect()
}

/// A CSV with an `id` column and one column per input key (`inputs.<key>`) and output key
/// (`outputs.<key>`); strings as they are, other values as JSON.
pub fn to_csv(examples: &[ExampleData]) -> Result<String, String> {
    let keys = |pick: &dyn Fn(&ExampleData) -> Option<&Value>| -> BTreeSet<String> {
        examples
            .iter()
            .filter_map(|e| {
                pick(e)?
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
            })
            .flatten()
            .collect()
    };
    let input_keys = keys(&|e| Some(&e.inputs));
    let output_keys = keys(&|e| e.outputs.as_ref());
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<String> = std::iter::once("id".to_string())
        .chain(input_keys.iter().map(|k| format!("inputs.{k}")))
        .chain(output_keys.iter().map(|k| format!("outputs.{k}")))
        .collect();
    writer.write_record(&header).map_err(|e| e.to_string())?;
    let cell = |object: Option<&Value>, key: &str| match object.and_then(|o| o.get(key)) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    for e in examples {
        let record: Vec<String> = std::iter::once(e.id.clone())
            .chain(input_keys.iter().map(|k| cell(Some(&e.inputs), k)))
            .chain(output_keys.iter().map(|k| cell(e.outputs.as_ref(), k)))
            .collect();
        writer.write_record(&record).map_err(|e| e.to_string())?;
    }
    let bytes = writer.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

/// OpenAI's fine-tuning format, one `{"messages": [...]}` per line: the conversation from the
/// inputs followed by the assistant's answer from the outputs. Examples where neither side
/// holds a message are left out.
pub fn to_openai_finetuning(examples: &[ExampleData]) -> String {
    examples
        .iter()
        .filter_map(|e| {
            let mut messages = conversation(&e.inputs);
            let answer = e.outputs.as_ref().and_then(answer_message)?;
            if messages.is_empty() {
                return None;
            }
            messages.push(answer);
            Some(json!({"messages": messages}).to_string() + "\n")
        })
        .collect()
}

/// The role OpenAI uses for a LangChain or OpenAI message type.
fn openai_role(kind: &str) -> Option<&'static str> {
    match kind {
        "human" | "user" | "HumanMessage" | "HumanMessageChunk" => Some("user"),
        "ai" | "assistant" | "AIMessage" | "AIMessageChunk" => Some("assistant"),
        "system" | "SystemMessage" | "developer" => Some("system"),
        "tool" | "ToolMessage" => Some("tool"),
        _ => None,
    }
}

/// One message from the shapes the SDKs store: `{"role", "content"}`, LangChain's
/// `{"type", "data": {"content"}}` or its serialised `{"lc", "id": [..., "HumanMessage"], "kwargs"}`.
fn message(value: &Value) -> Option<Value> {
    let object = value.as_object()?;
    let (role, body): (&str, &Map<String, Value>) =
        if let Some(role) = object.get("role").and_then(Value::as_str) {
            (openai_role(role)?, object)
        } else if let Some(kind) = object.get("type").and_then(Value::as_str) {
            (
                openai_role(kind)?,
                object
                    .get("data")
                    .and_then(Value::as_object)
                    .unwrap_or(object),
            )
        } else if let Some(class) = object
            .get("id")
            .and_then(Value::as_array)
            .and_then(|id| id.last())
            .and_then(Value::as_str)
        {
            (
                openai_role(class)?,
                object.get("kwargs").and_then(Value::as_object)?,
            )
        } else {
            return None;
        };
    let mut out = json!({"role": role, "content": body.get("content").cloned().unwrap_or(Value::String(String::new()))});
    for key in ["tool_calls", "tool_call_id", "name"] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            out[key] = v.clone();
        }
    }
    Some(out)
}

/// The messages of an input: a message list under `messages` or `input` (possibly nested one
/// level, as LangChain batches), or a single prompt string.
fn conversation(inputs: &Value) -> Vec<Value> {
    for key in ["messages", "input", "inputs", "prompt", "question"] {
        match inputs.get(key) {
            Some(Value::Array(items)) => {
                let flat: Vec<&Value> = match items.first() {
                    Some(Value::Array(inner)) => inner.iter().collect(),
                    _ => items.iter().collect(),
                };
                let messages: Vec<Value> = flat.into_iter().filter_map(message).collect();
                if !messages.is_empty() {
                    return messages;
                }
            }
            Some(Value::String(text)) => return vec![json!({"role": "user", "content": text})],
            _ => {}
        }
    }
    Vec::new()
}

/// The assistant's answer in an output: a message, or a string under a usual key.
fn answer_message(outputs: &Value) -> Option<Value> {
    for key in ["output", "message", "answer", "content", "generation"] {
        match outputs.get(key) {
            Some(Value::String(text)) => {
                return Some(json!({"role": "assistant", "content": text}));
            }
            Some(other @ Value::Object(_)) => {
                if let Some(m) = message(other) {
                    return Some(m);
                }
            }
            _ => {}
        }
    }
    message(outputs)
}

/// An imported row: its inputs and its outputs.
pub type ImportedRow = (Map<String, Value>, Map<String, Value>);

/// Rows of a CSV file as examples: `inputs` from the `input_keys` columns, `outputs` from the
/// `output_keys` columns (cells stay text). Errors name the missing column or the bad line.
pub fn import_csv(
    data: &[u8],
    input_keys: &[String],
    output_keys: &[String],
) -> Result<Vec<ImportedRow>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(data);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the CSV header cannot be read: {e}"))?
        .iter()
        .map(str::to_string)
        .collect();
    let column = |key: &String| {
        header.iter().position(|h| h == key).ok_or_else(|| {
            format!(
                "the CSV has no column {key:?} (columns: {})",
                header.join(", ")
            )
        })
    };
    let inputs: Vec<(String, usize)> = input_keys
        .iter()
        .map(|k| Ok((k.clone(), column(k)?)))
        .collect::<Result<_, String>>()?;
    let outputs: Vec<(String, usize)> = output_keys
        .iter()
        .map(|k| Ok((k.clone(), column(k)?)))
        .collect::<Result<_, String>>()?;
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("CSV row {}: {e}", index + 1))?;
        let pick = |columns: &[(String, usize)]| -> Map<String, Value> {
            columns
                .iter()
                .map(|(key, at)| {
                    (
                        key.clone(),
                        Value::String(record.get(*at).unwrap_or_default().to_string()),
                    )
                })
                .collect()
        };
        rows.push((pick(&inputs), pick(&outputs)));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(inputs: Value, outputs: Value) -> ExampleData {
        ExampleData {
            id: "e1".into(),
            inputs,
            outputs: Some(outputs),
            metadata: None,
        }
    }

    #[test]
    fn chat_examples_become_openai_records() {
        let chat = example(
            json!({"input": [{"type": "system", "data": {"content": "be brief"}}, {"role": "user", "content": "hi"}]}),
            json!({"output": {"lc": 1, "id": ["langchain", "schema", "messages", "AIMessage"], "kwargs": {"content": "hello"}}}),
        );
        let kv = example(json!({"question": "2+2?"}), json!({"answer": "4"}));
        let unusable = example(json!({"x": 1}), json!({"y": 2}));
        let text = to_openai_finetuning(&[chat, kv, unusable]);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0]["messages"],
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}
            ])
        );
        assert_eq!(
            lines[1]["messages"][1],
            json!({"role": "assistant", "content": "4"})
        );
    }

    #[test]
    fn csv_has_a_column_per_key_and_quotes_properly() {
        let rows = [
            example(json!({"q": "a, \"quoted\"\nline"}), json!({"a": 1})),
            ExampleData {
                id: "e2".into(),
                inputs: json!({"q": "b", "extra": [1]}),
                outputs: None,
                metadata: None,
            },
        ];
        let text = to_csv(&rows).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        assert_eq!(header, ["id", "inputs.extra", "inputs.q", "outputs.a"]);
        let records: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(records[0], ["e1", "", "a, \"quoted\"\nline", "1"]);
        assert_eq!(records[1], ["e2", "[1]", "b", ""]);
    }

    #[test]
    fn csv_import_picks_columns_and_names_problems() {
        let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let rows = import_csv(
            b"q,a,extra\nhi,there,x\n\"a,b\",c,y\n",
            &keys(&["q"]),
            &keys(&["a"]),
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].0["q"], "a,b");
        assert_eq!(rows[1].1["a"], "c");
        assert!(
            import_csv(b"q,a\nhi,there\n", &keys(&["question"]), &[])
                .unwrap_err()
                .contains("question")
        );
        assert!(
            import_csv(b"q,a\nhi\n", &keys(&["q"]), &[])
                .unwrap_err()
                .contains("row 1")
        );
    }

    #[test]
    fn jsonl_is_one_object_per_line() {
        let text = to_jsonl(&[example(json!({"q": 1}), json!({"a": 2}))]);
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["inputs"]["q"], 1);
        assert_eq!(line["outputs"]["a"], 2);
    }
}
