//! Run ingestion: parsing what the SDKs send, merging it into runs, and committing it durably.

pub mod decode;
pub mod merge;
pub mod multipart;
pub mod ops;
pub mod writer;

use uuid::Uuid;

use ops::{AttachmentOp, FeedbackOp, RunOp};

/// Everything one request asks to store; committed all together or not at all.
#[derive(Debug, Default)]
pub struct IngestBatch {
    pub workspace_id: Uuid,
    pub runs: Vec<RunOp>,
    pub feedback: Vec<FeedbackOp>,
    pub attachments: Vec<AttachmentOp>,
}

impl IngestBatch {
    pub fn new(workspace_id: Uuid) -> Self {
        IngestBatch {
            workspace_id,
            ..Default::default()
        }
    }

    pub fn of_run(workspace_id: Uuid, op: RunOp) -> Self {
        IngestBatch {
            workspace_id,
            runs: vec![op],
            ..Default::default()
        }
    }

    /// How much this batch weighs in the write queue.
    pub fn weight(&self) -> usize {
        (self.runs.len() + self.feedback.len() + self.attachments.len()).max(1)
    }
}

/// Turns multipart parts into one batch. Parts of one run (`post.{id}`, `post.{id}.inputs`,
/// ...) are gathered into one operation; operations keep the order their first part came in.
/// Unknown part names are ignored, as newer SDKs may send more.
pub fn batch_from_parts(
    workspace_id: Uuid,
    parts: &[multipart::Part<'_>],
) -> Result<IngestBatch, String> {
    use ops::OpKind;
    use std::collections::HashMap;

    let mut batch = IngestBatch::new(workspace_id);
    let mut op_index: HashMap<(OpKind, Uuid), usize> = HashMap::new();
    for part in parts {
        let name = part.name;
        let (prefix, rest) = name.split_once('.').unwrap_or((name, ""));
        let kind = match prefix {
            "post" => OpKind::Post,
            "patch" => OpKind::Patch,
            "attachment" => {
                let (run, attachment_name) = rest
                    .split_once('.')
                    .filter(|(_, n)| !n.is_empty())
                    .ok_or_else(|| format!("part {name:?}: expected attachment.<run_id>.<name>"))?;
                let run_id = parse_part_id(run, name)?;
                batch.attachments.push(ops::AttachmentOp {
                    run_id,
                    name: attachment_name.to_string(),
                    content_type: part
                        .content_type
                        .and_then(|ct| ct.split(';').next())
                        .map(str::trim)
                        .filter(|ct| !ct.is_empty())
                        .unwrap_or("application/octet-stream")
                        .to_string(),
                    data: bytes::Bytes::copy_from_slice(part.body),
                });
                continue;
            }
            "feedback" => {
                batch
                    .feedback
                    .push(ops::parse_feedback(part.body, &format!("part {name:?}"))?);
                continue;
            }
            _ => continue,
        };
        let (id_text, field) = match rest.split_once('.') {
            Some((id, field)) => (id, Some(field)),
            None => (rest, None),
        };
        let id = parse_part_id(id_text, name)?;
        let label = format!("part {name:?}");
        let index = match op_index.get(&(kind, id)) {
            Some(&index) => index,
            None => {
                batch.runs.push(ops::RunOp::empty(kind, id));
                op_index.insert((kind, id), batch.runs.len() - 1);
                batch.runs.len() - 1
            }
        };
        let op = &mut batch.runs[index];
        match field {
            Some(field) => op.set_out_of_band(field, part.body, &label)?,
            None => {
                let parsed = ops::parse_run(kind, part.body, Some(id), &label)?;
                // Field parts may come before or after the main part; theirs win.
                *op = merge_main_part(parsed, op);
            }
        }
    }
    for op in &batch.runs {
        let kind = if op.kind == OpKind::Post {
            "post"
        } else {
            "patch"
        };
        ops::validate(op, &format!("part \"{kind}.{}\"", op.id))?;
    }
    Ok(batch)
}

fn parse_part_id(text: &str, part_name: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text).map_err(|_| format!("part {part_name:?}: {text:?} is not a valid run id"))
}

/// The main part's fields, with any out-of-band field parts already seen taking precedence.
fn merge_main_part(main: ops::RunOp, seen: &ops::RunOp) -> ops::RunOp {
    let keep = |from_parts: &Option<String>, inline: Option<String>| from_parts.clone().or(inline);
    ops::RunOp {
        inputs: keep(&seen.inputs, main.inputs.clone()),
        outputs: keep(&seen.outputs, main.outputs.clone()),
        extra: keep(&seen.extra, main.extra.clone()),
        serialized: keep(&seen.serialized, main.serialized.clone()),
        events: keep(&seen.events, main.events.clone()),
        error: keep(&seen.error, main.error.clone()),
        ..main
    }
}
