//! The filter language on runs: the typed tree, the checks that build it, and its evaluation
//! against one run held in memory (the rule worker's evaluator). `db::run_filter` compiles the
//! same tree to SQL; `tests/filter_agreement.rs` checks that both always pick the same runs.
//!
//! Semantics shared by both evaluators:
//! - a comparison with a missing value is false, except `neq`, which is true (`neq(error, "x")`
//!   keeps runs without an error); `eq(x, null)` / `neq(x, null)` test presence;
//! - key/value attributes (`metadata_key`/`metadata_value`, `input_*`, `output_*`,
//!   `feedback_key`/`feedback_score`/`feedback_value`/`feedback_source`) bind to one entry: inside
//!   one `and`, each positive key condition opens a group that the value conditions after it
//!   join, and the run matches when a single entry satisfies the whole group. A negative key
//!   (`neq(metadata_key, "k")`) means no such key; a negative value with no key open
//!   (`neq(metadata_value, "v")`) means no entry holds that value (LangSmith's documented cases);
//! - metadata, input and output values keep their JSON types: `eq(metadata_value, true)` matches
//!   the boolean, not the string "true";
//! - `like` takes `%` (any run of characters) and `_` (one character), is case-sensitive, and
//!   has no escape character; `search` is a substring match that ignores ASCII case over the
//!   run's name, inputs, outputs and error as stored (JSON text).

use std::cell::OnceCell;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Expr, FilterError, error};
use crate::db::models::RunRow;
use crate::time::parse_time_str;

/// A checked filter over runs.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFilter(pub Cond);

#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Field(Field, Test),
    HasTag(String),
    /// Some entry (metadata key, input key, feedback record...) passes every test; or, with
    /// `exists: false`, none does.
    Entry {
        family: Family,
        tests: Vec<(EntryAttr, Test)>,
        exists: bool,
    },
    /// ASCII-case-insensitive substring of one text field, or of any of name, inputs,
    /// outputs and error. The needle is already lower-cased.
    Search {
        field: Option<Field>,
        needle: String,
    },
}

/// A run attribute with one value per run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Id,
    Name,
    RunType,
    Status,
    Error,
    TraceId,
    ParentRunId,
    SessionId,
    ReferenceExampleId,
    ThreadId,
    Inputs,
    Outputs,
    StartTime,
    EndTime,
    FirstTokenTime,
    /// End minus start, in microseconds (literals are seconds, converted when checked).
    Latency,
    PromptTokens,
    CompletionTokens,
    TotalTokens,
    PromptCost,
    CompletionCost,
    TotalCost,
    IsRoot,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Uuid,
    Time,
    Duration,
    Number,
    Bool,
}

impl Field {
    fn kind(self) -> Kind {
        use Field::*;
        match self {
            Name | RunType | Status | Error | ThreadId | Inputs | Outputs => Kind::Text,
            Id | TraceId | ParentRunId | SessionId | ReferenceExampleId => Kind::Uuid,
            StartTime | EndTime | FirstTokenTime => Kind::Time,
            Latency => Kind::Duration,
            PromptTokens | CompletionTokens | TotalTokens | PromptCost | CompletionCost
            | TotalCost => Kind::Number,
            IsRoot => Kind::Bool,
        }
    }
}

/// Families of key/value entries a run has several of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Metadata,
    Inputs,
    Outputs,
    Feedback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryAttr {
    Key,
    /// The entry's JSON value (metadata, inputs, outputs, `feedback_value`).
    Value,
    Score,
    Source,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Text(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    Cmp(Op, Lit),
    In(Vec<Lit>),
    Like(String),
}

impl Test {
    /// `neq` with a value: "not this one" rather than a property the entry must have.
    fn is_negative(&self) -> bool {
        matches!(self, Test::Cmp(Op::Neq, lit) if *lit != Lit::Null)
    }
}

/// Parses and checks a run filter.
pub fn compile(text: &str) -> Result<RunFilter, FilterError> {
    let expr = super::parse(text)?;
    Ok(RunFilter(check(&expr)?))
}

/// The free-text `query` of `/runs/query`: a search over each run's text.
pub fn search(text: &str) -> RunFilter {
    RunFilter(Cond::Search {
        field: None,
        needle: text.to_ascii_lowercase(),
    })
}

/// One checked call: a whole condition, or one member of a key/value group.
enum Item {
    Plain(Cond),
    Pair(Family, EntryAttr, Test),
}

fn check(expr: &Expr) -> Result<Cond, FilterError> {
    match expr {
        Expr::Call { name, args, .. } if name == "and" || name == "or" => {
            let (name, args, offset) = call_parts(expr);
            if args.is_empty() {
                return Err(error(
                    format!("{name}() needs at least one condition"),
                    offset,
                ));
            }
            if name == "and" {
                Ok(Cond::All(group(args)?))
            } else {
                let branches = args.iter().map(check).collect::<Result<_, _>>()?;
                Ok(Cond::Any(branches))
            }
        }
        _ => {
            let mut conds = group(std::slice::from_ref(expr))?;
            Ok(if conds.len() == 1 {
                conds.remove(0)
            } else {
                Cond::All(conds)
            })
        }
    }
}

fn call_parts(expr: &Expr) -> (&str, &[Expr], usize) {
    match expr {
        Expr::Call { name, args, offset } => (name, args, *offset),
        _ => ("", &[], 0),
    }
}

/// The members of one `and`, with key/value conditions bound into entry groups.
fn group(args: &[Expr]) -> Result<Vec<Cond>, FilterError> {
    let mut out: Vec<Cond> = Vec::new();
    // Per family, the index in `out` of the group later value conditions join.
    let mut open: Vec<(Family, usize)> = Vec::new();
    for arg in args {
        match item(arg)? {
            Item::Plain(cond) => out.push(cond),
            Item::Pair(family, attr, test) => {
                open.retain(|(f, _)| *f != family || attr != EntryAttr::Key);
                let joins = open.iter().find(|(f, _)| *f == family).map(|(_, i)| *i);
                if let Some(index) = joins {
                    if let Cond::Entry { tests, .. } = &mut out[index] {
                        tests.push((attr, test));
                    }
                } else if test.is_negative() {
                    let Test::Cmp(_, lit) = test else {
                        unreachable!("only Cmp is negative")
                    };
                    out.push(Cond::Entry {
                        family,
                        tests: vec![(attr, Test::Cmp(Op::Eq, lit))],
                        exists: false,
                    });
                } else {
                    open.push((family, out.len()));
                    out.push(Cond::Entry {
                        family,
                        tests: vec![(attr, test)],
                        exists: true,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn item(expr: &Expr) -> Result<Item, FilterError> {
    let Expr::Call { name, args, offset } = expr else {
        return Err(error(
            "expected a condition such as eq(name, \"x\")",
            expr_offset(expr),
        ));
    };
    let offset = *offset;
    let arity = |n: usize| super::arity(name, args, n, offset);
    match name.as_str() {
        "and" | "or" => check(expr).map(Item::Plain),
        "not" => {
            arity(1)?;
            Ok(Item::Plain(Cond::Not(Box::new(check(&args[0])?))))
        }
        "search" => {
            let (field, needle) = match args.as_slice() {
                [Expr::Str(needle)] => (None, needle),
                [attr, Expr::Str(needle)] => match attribute(attr, name, offset)? {
                    Attribute::Field(field) if field.kind() == Kind::Text => (Some(field), needle),
                    _ => {
                        return Err(error(
                            format!(
                                "search() works on name, run_type, status, error, thread_id, inputs or outputs, not {}",
                                attr_name(attr)
                            ),
                            offset,
                        ));
                    }
                },
                _ => {
                    return Err(error(
                        "search() takes a string, or an attribute and a string",
                        offset,
                    ));
                }
            };
            Ok(Item::Plain(Cond::Search {
                field,
                needle: needle.to_ascii_lowercase(),
            }))
        }
        "eq" | "neq" | "gt" | "gte" | "lt" | "lte" | "in" | "like" | "notlike" | "has" => {
            arity(2)?;
            comparison(name, &args[0], &args[1], offset)
        }
        other => Err(error(
            format!(
                "unknown function {other:?} (use and, or, not, eq, neq, gt, gte, lt, lte, in, like, notlike, has, search)"
            ),
            offset,
        )),
    }
}

fn expr_offset(expr: &Expr) -> usize {
    match expr {
        Expr::Call { offset, .. } | Expr::Attr { offset, .. } => *offset,
        _ => 0,
    }
}

fn attr_name(expr: &Expr) -> String {
    match expr {
        Expr::Attr { path, .. } => path.clone(),
        Expr::Str(s) => s.clone(),
        _ => "a value".into(),
    }
}

enum Attribute {
    Field(Field),
    Tags,
    Pair(Family, EntryAttr),
    ExecutionOrder,
}

fn attribute(expr: &Expr, comparator: &str, offset: usize) -> Result<Attribute, FilterError> {
    let name = match expr {
        Expr::Attr { path, .. } => path.as_str(),
        // The SDK docs sometimes quote the attribute (`has("metadata", ...)` on examples).
        Expr::Str(s) => s.as_str(),
        _ => {
            return Err(error(
                format!("{comparator}() takes an attribute first, such as name or latency"),
                offset,
            ));
        }
    };
    use Attribute::{Pair, Tags};
    use Field::*;
    Ok(Attribute::Field(match name {
        "id" => Id,
        "name" => Name,
        "run_type" => RunType,
        "status" => Status,
        "error" => Error,
        "trace_id" => TraceId,
        "parent_run_id" => ParentRunId,
        "session_id" => SessionId,
        "reference_example_id" => ReferenceExampleId,
        "thread_id" => ThreadId,
        "inputs" => Inputs,
        "outputs" => Outputs,
        "start_time" => StartTime,
        "end_time" => EndTime,
        "first_token_time" => FirstTokenTime,
        "latency" => Latency,
        "prompt_tokens" => PromptTokens,
        "completion_tokens" => CompletionTokens,
        "total_tokens" => TotalTokens,
        "prompt_cost" => PromptCost,
        "completion_cost" => CompletionCost,
        "total_cost" => TotalCost,
        "is_root" => IsRoot,
        "tags" => return Ok(Tags),
        "execution_order" => return Ok(Attribute::ExecutionOrder),
        "metadata_key" => return Ok(Pair(Family::Metadata, EntryAttr::Key)),
        "metadata_value" => return Ok(Pair(Family::Metadata, EntryAttr::Value)),
        "input_key" => return Ok(Pair(Family::Inputs, EntryAttr::Key)),
        "input_value" => return Ok(Pair(Family::Inputs, EntryAttr::Value)),
        "output_key" => return Ok(Pair(Family::Outputs, EntryAttr::Key)),
        "output_value" => return Ok(Pair(Family::Outputs, EntryAttr::Value)),
        "feedback_key" => return Ok(Pair(Family::Feedback, EntryAttr::Key)),
        "feedback_score" => return Ok(Pair(Family::Feedback, EntryAttr::Score)),
        "feedback_value" => return Ok(Pair(Family::Feedback, EntryAttr::Value)),
        "feedback_source" => return Ok(Pair(Family::Feedback, EntryAttr::Source)),
        other => {
            return Err(error(
                format!("unknown attribute {other:?} in {comparator}()"),
                offset,
            ));
        }
    }))
}

fn comparison(name: &str, attr: &Expr, value: &Expr, offset: usize) -> Result<Item, FilterError> {
    let refuse = |why: &str| {
        Err(error(
            format!(
                "comparator {name} is not accepted for attribute {}: {why}",
                attr_name(attr)
            ),
            offset,
        ))
    };
    match attribute(attr, name, offset)? {
        Attribute::Tags => match (name, value) {
            ("has", Expr::Str(tag)) => Ok(Item::Plain(Cond::HasTag(tag.clone()))),
            ("has", _) => refuse("has(tags, ...) takes a string"),
            _ => refuse("use has(tags, \"x\")"),
        },
        Attribute::ExecutionOrder => match (name, value) {
            // The legacy "root runs" idiom; other orders are not kept.
            ("eq", Expr::Num(n)) if *n == 1.0 => Ok(Item::Plain(Cond::Field(
                Field::IsRoot,
                Test::Cmp(Op::Eq, Lit::Bool(true)),
            ))),
            _ => refuse("only eq(execution_order, 1) (root runs) is supported; use is_root"),
        },
        Attribute::Field(field) => {
            if name == "has" {
                return refuse("has() works on tags and feedback_key");
            }
            let test = test(name, value, field.kind(), offset, attr)?;
            let cond = Cond::Field(field, test);
            Ok(Item::Plain(if name == "notlike" {
                Cond::Not(Box::new(cond))
            } else {
                cond
            }))
        }
        Attribute::Pair(family, entry_attr) => {
            let kind = match entry_attr {
                EntryAttr::Key | EntryAttr::Source => Kind::Text,
                EntryAttr::Score => Kind::Number,
                // JSON values: any literal keeps its own type.
                EntryAttr::Value => return pair_value(name, family, value, offset, attr),
            };
            let test = match name {
                "has" if entry_attr == EntryAttr::Key && family == Family::Feedback => {
                    test("eq", value, kind, offset, attr)?
                }
                "has" => return refuse("has() works on tags and feedback_key"),
                "notlike" => return refuse("use neq, or not(like(...))"),
                _ => test(name, value, kind, offset, attr)?,
            };
            if entry_attr == EntryAttr::Key && matches!(test, Test::Cmp(_, Lit::Null)) {
                return refuse("a key is never null");
            }
            Ok(Item::Pair(family, entry_attr, test))
        }
    }
}

fn pair_value(
    name: &str,
    family: Family,
    value: &Expr,
    offset: usize,
    attr: &Expr,
) -> Result<Item, FilterError> {
    let lit = |v: &Expr| -> Result<Lit, FilterError> {
        match v {
            Expr::Str(s) => Ok(Lit::Text(s.clone())),
            Expr::Num(n) => Ok(Lit::Num(*n)),
            Expr::Bool(b) => Ok(Lit::Bool(*b)),
            Expr::Null => Ok(Lit::Null),
            _ => Err(error(
                format!(
                    "{name}({}, ...) takes a string, number, boolean or null",
                    attr_name(attr)
                ),
                offset,
            )),
        }
    };
    let test = match (name, value) {
        ("in", Expr::List(items)) => Test::In(items.iter().map(lit).collect::<Result<_, _>>()?),
        ("like", Expr::Str(p)) => Test::Like(p.clone()),
        ("in", _) | ("like", _) | ("notlike", _) | ("has", _) => {
            return Err(error(
                format!(
                    "comparator {name} is not accepted for attribute {} (use eq, neq, gt, gte, lt, lte, in, like)",
                    attr_name(attr)
                ),
                offset,
            ));
        }
        (op, v) => {
            let op = op_of(op);
            let lit = lit(v)?;
            if !matches!(op, Op::Eq | Op::Neq) && !matches!(lit, Lit::Text(_) | Lit::Num(_)) {
                return Err(error(
                    format!("{name}() orders strings and numbers only"),
                    offset,
                ));
            }
            Test::Cmp(op, lit)
        }
    };
    Ok(Item::Pair(family, EntryAttr::Value, test))
}

fn op_of(name: &str) -> Op {
    match name {
        "neq" => Op::Neq,
        "gt" => Op::Gt,
        "gte" => Op::Gte,
        "lt" => Op::Lt,
        "lte" => Op::Lte,
        _ => Op::Eq,
    }
}

/// The test a comparator makes on a value of this kind, with the literal converted.
fn test(
    name: &str,
    value: &Expr,
    kind: Kind,
    offset: usize,
    attr: &Expr,
) -> Result<Test, FilterError> {
    let attr = attr_name(attr);
    let bad = |what: &str| error(format!("{name}({attr}, ...) takes {what}"), offset);
    let convert = |v: &Expr| -> Result<Lit, FilterError> {
        match (kind, v) {
            (Kind::Text, Expr::Str(s)) => Ok(Lit::Text(s.clone())),
            (Kind::Text, _) => Err(bad("a string")),
            (Kind::Uuid, Expr::Str(s)) => Uuid::parse_str(s)
                .map(|u| Lit::Text(u.to_string()))
                .map_err(|_| bad("a UUID string")),
            (Kind::Uuid, _) => Err(bad("a UUID string")),
            (Kind::Time, Expr::Str(s)) => parse_time_str(s)
                .map(Lit::Int)
                .ok_or_else(|| bad("an ISO-8601 time such as \"2025-01-31T12:00:00Z\"")),
            (Kind::Time, _) => Err(bad("an ISO-8601 time string")),
            (Kind::Duration, Expr::Num(n)) => Ok(Lit::Num(n * 1e6)),
            (Kind::Duration, Expr::Str(s)) => duration_micros(s)
                .map(Lit::Num)
                .ok_or_else(|| bad("seconds, or a duration such as \"5s\", \"250ms\", \"2m\"")),
            (Kind::Duration, _) => Err(bad("seconds, or a duration such as \"5s\"")),
            (Kind::Number, Expr::Num(n)) => Ok(Lit::Num(*n)),
            (Kind::Number, _) => Err(bad("a number")),
            (Kind::Bool, Expr::Bool(b)) => Ok(Lit::Bool(*b)),
            (Kind::Bool, _) => Err(bad("true or false")),
        }
    };
    match name {
        // is_root is true or false: `in` would only be a roundabout eq.
        "in" if kind == Kind::Bool => Err(error(
            format!("comparator in is not accepted for attribute {attr}: use eq"),
            offset,
        )),
        "in" => match value {
            Expr::List(items) => Ok(Test::In(
                items.iter().map(convert).collect::<Result<_, _>>()?,
            )),
            _ => Err(bad("a list, as in(name, [\"a\", \"b\"])")),
        },
        "like" | "notlike" => match (kind, value) {
            (Kind::Text | Kind::Uuid, Expr::Str(p)) => Ok(Test::Like(p.clone())),
            _ => Err(error(
                format!(
                    "comparator {name} is not accepted for attribute {attr}: like works on text"
                ),
                offset,
            )),
        },
        _ => {
            let op = op_of(name);
            if *value == Expr::Null {
                return if matches!(op, Op::Eq | Op::Neq) && kind != Kind::Bool {
                    Ok(Test::Cmp(op, Lit::Null))
                } else {
                    Err(bad("a value; only eq and neq compare with null"))
                };
            }
            let ordered = !matches!(op, Op::Eq | Op::Neq);
            if ordered && matches!(kind, Kind::Uuid | Kind::Bool) {
                return Err(error(
                    format!(
                        "comparator {name} is not accepted for attribute {attr}: it has no order"
                    ),
                    offset,
                ));
            }
            Ok(Test::Cmp(op, convert(value)?))
        }
    }
}

/// "5s", "250ms", "2m", "1h", "1.5" (seconds) → microseconds.
fn duration_micros(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok().filter(|n: &f64| n.is_finite())?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" | "seconds" => 1e6,
        "ms" => 1e3,
        "us" | "µs" => 1.0,
        "m" | "min" | "mins" | "minutes" => 60e6,
        "h" | "hr" | "hours" => 3600e6,
        "d" | "days" => 86_400e6,
        _ => return None,
    };
    Some(number * scale)
}

// ---------------------------------------------------------------------------------------------
// Evaluation in memory.

/// One feedback record as filters see it.
#[derive(Clone, Debug, Default)]
pub struct FeedbackFacts {
    pub key: String,
    pub score: Option<f64>,
    /// The JSON text of `value`.
    pub value: Option<String>,
    pub source: String,
}

/// A run with its feedback, its JSON documents parsed once, on first use.
pub struct Candidate<'a> {
    pub run: &'a RunRow,
    pub feedback: &'a [FeedbackFacts],
    metadata: OnceCell<Option<Map<String, Value>>>,
    inputs: OnceCell<Option<Map<String, Value>>>,
    outputs: OnceCell<Option<Map<String, Value>>>,
    tags: OnceCell<Vec<String>>,
}

impl<'a> Candidate<'a> {
    pub fn new(run: &'a RunRow, feedback: &'a [FeedbackFacts]) -> Self {
        Candidate {
            run,
            feedback,
            metadata: OnceCell::new(),
            inputs: OnceCell::new(),
            outputs: OnceCell::new(),
            tags: OnceCell::new(),
        }
    }

    fn object(text: Option<&str>) -> Option<Map<String, Value>> {
        match serde_json::from_str(text?) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        }
    }

    fn entries(&self, family: Family) -> Option<&Map<String, Value>> {
        let (cell, text) = match family {
            Family::Metadata => {
                return self
                    .metadata
                    .get_or_init(|| {
                        let extra = Self::object(self.run.extra.as_deref())?;
                        match extra.get("metadata") {
                            Some(Value::Object(m)) => Some(m.clone()),
                            _ => None,
                        }
                    })
                    .as_ref();
            }
            Family::Inputs => (&self.inputs, self.run.inputs.as_deref()),
            Family::Outputs => (&self.outputs, self.run.outputs.as_deref()),
            Family::Feedback => return None,
        };
        cell.get_or_init(|| Self::object(text)).as_ref()
    }

    fn tags(&self) -> &[String] {
        self.tags.get_or_init(|| {
            self.run
                .tags
                .as_deref()
                .and_then(|t| serde_json::from_str::<Vec<Value>>(t).ok())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect()
        })
    }

    fn text(&self, field: Field) -> Option<String> {
        let run = self.run;
        match field {
            Field::Id => Some(run.id.clone()),
            Field::Name => run.name.clone(),
            Field::RunType => run.run_type.clone(),
            Field::Status => Some(status(run).to_string()),
            Field::Error => run.error.clone(),
            Field::TraceId => run.trace_id.clone(),
            Field::ParentRunId => run.parent_run_id.clone(),
            Field::SessionId => run.session_id.clone(),
            Field::ReferenceExampleId => run.reference_example_id.clone(),
            Field::ThreadId => thread_id(run.extra.as_deref()),
            Field::Inputs => run.inputs.clone(),
            Field::Outputs => run.outputs.clone(),
            _ => None,
        }
    }

    fn value(&self, field: Field) -> Lit {
        let run = self.run;
        let int = |v: Option<i64>| v.map_or(Lit::Null, Lit::Int);
        let num = |v: Option<f64>| v.map_or(Lit::Null, Lit::Num);
        match field.kind() {
            Kind::Text | Kind::Uuid => self.text(field).map_or(Lit::Null, Lit::Text),
            _ => match field {
                Field::StartTime => int(run.start_time),
                Field::EndTime => int(run.end_time),
                Field::FirstTokenTime => int(run.first_token_time),
                Field::Latency => match (run.start_time, run.end_time) {
                    (Some(start), Some(end)) => Lit::Num((end - start) as f64),
                    _ => Lit::Null,
                },
                Field::PromptTokens => num(run.prompt_tokens.map(|t| t as f64)),
                Field::CompletionTokens => num(run.completion_tokens.map(|t| t as f64)),
                Field::TotalTokens => num(run.total_tokens.map(|t| t as f64)),
                Field::PromptCost => num(run.prompt_cost),
                Field::CompletionCost => num(run.completion_cost),
                Field::TotalCost => num(run.total_cost),
                Field::IsRoot => Lit::Bool(run.parent_run_id.is_none()),
                _ => Lit::Null,
            },
        }
    }
}

/// `error` if the run failed, `success` once it ended, `pending` before.
pub fn status(run: &RunRow) -> &'static str {
    if run.error.is_some() {
        "error"
    } else if run.end_time.is_some() {
        "success"
    } else {
        "pending"
    }
}

/// The conversation a run belongs to: the first of `session_id`, `conversation_id`,
/// `thread_id` in its metadata that holds a string.
pub fn thread_id(extra: Option<&str>) -> Option<String> {
    let extra = extra.filter(|e| {
        e.contains("session_id") || e.contains("conversation_id") || e.contains("thread_id")
    })?;
    let extra: Value = serde_json::from_str(extra).ok()?;
    let metadata = extra.get("metadata")?;
    THREAD_KEYS
        .iter()
        .find_map(|key| match metadata.get(*key)? {
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
}

/// How a metadata value is written in the metadata index: exactly for strings, booleans and
/// null; numbers, objects and arrays only as "some value" (`o`), found by their key alone.
pub fn index_value(value: &Value) -> String {
    match value {
        // PostgreSQL text cannot hold NUL: such strings are found by key only.
        Value::String(s) if s.contains('\0') => "o".into(),
        Value::String(s) => format!("s:{s}"),
        Value::Bool(b) => format!("b:{b}"),
        Value::Null => "z".into(),
        _ => "o".into(),
    }
}

/// The index value `eq(metadata_value, lit)` looks for, when the index holds it exactly.
pub fn index_literal(lit: &Lit) -> Option<String> {
    match lit {
        Lit::Text(s) => Some(index_value(&Value::String(s.clone()))),
        Lit::Bool(b) => Some(index_value(&Value::Bool(*b))),
        Lit::Null => Some(index_value(&Value::Null)),
        Lit::Int(_) | Lit::Num(_) => None,
    }
}

/// The (key, index value) pairs of a run's metadata (`extra.metadata`).
pub fn metadata_index(extra: Option<&str>) -> Vec<(String, String)> {
    let Some(extra) = extra.filter(|e| e.contains("metadata")) else {
        return Vec::new();
    };
    match serde_json::from_str::<Value>(extra) {
        Ok(Value::Object(mut extra)) => match extra.remove("metadata") {
            Some(Value::Object(metadata)) => metadata
                .into_iter()
                // A key with NUL cannot be stored on PostgreSQL, nor named by a filter.
                .filter(|(key, _)| !key.contains('\0'))
                .map(|(key, value)| {
                    let indexed = index_value(&value);
                    (key, indexed)
                })
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Metadata keys naming a conversation, in order of preference.
pub const THREAD_KEYS: [&str; 3] = ["session_id", "conversation_id", "thread_id"];

impl RunFilter {
    pub fn matches(&self, candidate: &Candidate<'_>) -> bool {
        eval(&self.0, candidate)
    }
}

fn eval(cond: &Cond, c: &Candidate<'_>) -> bool {
    match cond {
        Cond::All(conds) => conds.iter().all(|x| eval(x, c)),
        Cond::Any(conds) => conds.iter().any(|x| eval(x, c)),
        Cond::Not(inner) => !eval(inner, c),
        Cond::Field(field, test) => scalar_test(&c.value(*field), test),
        Cond::HasTag(tag) => c.tags().iter().any(|t| t == tag),
        Cond::Search { field, needle } => {
            let fields = match field {
                Some(f) => vec![*f],
                None => vec![Field::Name, Field::Inputs, Field::Outputs, Field::Error],
            };
            fields.into_iter().any(|f| {
                c.text(f)
                    .is_some_and(|text| text.to_ascii_lowercase().contains(needle.as_str()))
            })
        }
        Cond::Entry {
            family,
            tests,
            exists,
        } => {
            let found = if *family == Family::Feedback {
                c.feedback.iter().any(|f| {
                    let value = f
                        .value
                        .as_deref()
                        .and_then(|v| serde_json::from_str(v).ok())
                        .unwrap_or(Value::Null);
                    tests.iter().all(|(attr, test)| match attr {
                        EntryAttr::Key => scalar_test(&Lit::Text(f.key.clone()), test),
                        EntryAttr::Score => scalar_test(&f.score.map_or(Lit::Null, Lit::Num), test),
                        EntryAttr::Source => scalar_test(&Lit::Text(f.source.clone()), test),
                        EntryAttr::Value => json_test(&value, test),
                    })
                })
            } else {
                c.entries(*family).is_some_and(|map| {
                    map.iter().any(|(key, value)| {
                        tests.iter().all(|(attr, test)| match attr {
                            EntryAttr::Key => scalar_test(&Lit::Text(key.clone()), test),
                            _ => json_test(value, test),
                        })
                    })
                })
            };
            found == *exists
        }
    }
}

/// A test on a value that may be missing (`Lit::Null`).
fn scalar_test(value: &Lit, test: &Test) -> bool {
    match test {
        Test::Cmp(Op::Eq, Lit::Null) => *value == Lit::Null,
        Test::Cmp(Op::Neq, Lit::Null) => *value != Lit::Null,
        Test::Cmp(Op::Neq, wanted) => {
            *value == Lit::Null || compare(value, wanted) != Some(std::cmp::Ordering::Equal)
        }
        Test::Cmp(op, wanted) => compare(value, wanted).is_some_and(|o| op_holds(*op, o)),
        Test::In(items) => items
            .iter()
            .any(|w| compare(value, w) == Some(std::cmp::Ordering::Equal)),
        Test::Like(pattern) => match value {
            Lit::Text(t) => like(t, pattern),
            _ => false,
        },
    }
}

/// A test on a JSON value, keeping its type: the string "1" is not the number 1.
fn json_test(value: &Value, test: &Test) -> bool {
    let as_lit = match value {
        Value::String(s) => Lit::Text(s.clone()),
        Value::Number(n) => n.as_f64().map_or(Lit::Null, Lit::Num),
        Value::Bool(b) => Lit::Bool(*b),
        Value::Null => Lit::Null,
        // Objects and arrays equal no literal.
        _ => return matches!(test, Test::Cmp(Op::Neq, _)),
    };
    let equal = |wanted: &Lit| match (&as_lit, wanted) {
        (Lit::Null, Lit::Null) => true,
        (Lit::Bool(a), Lit::Bool(b)) => a == b,
        _ => compare(&as_lit, wanted) == Some(std::cmp::Ordering::Equal),
    };
    match test {
        Test::Cmp(Op::Eq, wanted) => equal(wanted),
        Test::Cmp(Op::Neq, wanted) => !equal(wanted),
        Test::Cmp(op, wanted) => compare(&as_lit, wanted).is_some_and(|o| op_holds(*op, o)),
        Test::In(items) => items.iter().any(equal),
        Test::Like(pattern) => matches!(&as_lit, Lit::Text(t) if like(t, pattern)),
    }
}

fn op_holds(op: Op, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ordering == Equal,
        Op::Neq => ordering != Equal,
        Op::Gt => ordering == Greater,
        Op::Gte => ordering != Less,
        Op::Lt => ordering == Less,
        Op::Lte => ordering != Greater,
    }
}

/// Orders two values of the same type; `None` across types or with a missing value.
fn compare(a: &Lit, b: &Lit) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Lit::Text(a), Lit::Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Lit::Int(a), Lit::Int(b)) => Some(a.cmp(b)),
        (Lit::Num(a), Lit::Num(b)) => a.partial_cmp(b),
        (Lit::Int(a), Lit::Num(b)) => (*a as f64).partial_cmp(b),
        (Lit::Num(a), Lit::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Lit::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// SQL LIKE without an escape character: `%` any run of characters, `_` exactly one.
pub fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut t, mut p) = (0, 0);
    // Where the last `%` was, and the text position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || (pattern[p] != '%' && pattern[p] == text[t]))
        {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

/// `filter`, `trace_filter` and `tree_filter` of one query (or rule), ANDed.
#[derive(Clone, Debug, Default)]
pub struct TraceFilters {
    pub filter: Option<RunFilter>,
    /// On the root run of the candidate's trace.
    pub trace_filter: Option<RunFilter>,
    /// On any run of the candidate's trace.
    pub tree_filter: Option<RunFilter>,
}

impl TraceFilters {
    pub fn is_empty(&self) -> bool {
        self.filter.is_none() && self.trace_filter.is_none() && self.tree_filter.is_none()
    }

    /// Whether `run` passes, given every run of its trace (itself included).
    pub fn matches(&self, run: &Candidate<'_>, trace: &[Candidate<'_>]) -> bool {
        if let Some(filter) = &self.filter
            && !filter.matches(run)
        {
            return false;
        }
        if let Some(filter) = &self.trace_filter {
            let root = trace
                .iter()
                .find(|c| Some(&c.run.id) == run.run.trace_id.as_ref());
            if !root.is_some_and(|root| filter.matches(root)) {
                return false;
            }
        }
        if let Some(filter) = &self.tree_filter
            && !trace.iter().any(|c| filter.matches(c))
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
#[path = "runs_tests.rs"]
mod tests;
