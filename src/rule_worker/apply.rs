//! One step of the rule worker, inside one database transaction: evaluate rules on the runs
//! of some traces and act on the new matches. Whatever a step does commits together with the
//! record of having done it, so a crash or a second replica never acts twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::QueryResult;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::db::annotation_queues::{self, AddError};
use crate::db::datasets::{self, ExampleWrite};
use crate::db::models::{DatasetRow, RuleApplicationRow, RunRow, RunRuleRow, WebhookDeliveryRow};
use crate::db::rule_work::{self as store, PendingTrace, RunFeedback};
use crate::db::{DbConnection, write_transaction};
use crate::filter::runs::{Candidate, TraceFilters, compile, thread_id};
use crate::rules::{DatasetKind, RunContent, example_from_run, sampled};

/// What a step did: for the log, and to wake the webhook sender.
#[derive(Debug, Default, Clone, Copy)]
pub struct StepReport {
    /// Traces or runs looked at.
    pub evaluated: usize,
    /// New (rule, run) applications.
    pub applied: usize,
    pub webhooks_queued: usize,
}

/// What the evaluations of one transaction share. Examples are created at its end, all of a
/// dataset's at once: one new dataset version per step, not one per example.
struct Step {
    now: i64,
    backfill: bool,
    report: StepReport,
    /// Per (workspace, dataset).
    examples: BTreeMap<(String, String), Vec<PlannedExample>>,
    /// Datasets looked up so far, per (workspace, dataset) (`None`: not there any more).
    datasets: HashMap<(String, String), Option<DatasetRow>>,
}

/// An example a match makes, with the outcomes of its application's other actions.
struct PlannedExample {
    rule_id: String,
    run_id: String,
    write: ExampleWrite,
    outcomes: Map<String, Value>,
}

impl Step {
    fn new(now: i64, backfill: bool) -> Step {
        Step {
            now,
            backfill,
            report: StepReport::default(),
            examples: BTreeMap::new(),
            datasets: HashMap::new(),
        }
    }

    /// Creates the planned examples and records every application's outcomes.
    fn finish(self, conn: &mut DbConnection) -> QueryResult<StepReport> {
        for ((workspace_id, dataset_id), planned) in self.examples {
            let create = |conn: &mut DbConnection, writes: Vec<ExampleWrite>| {
                let by_dataset = BTreeMap::from([(dataset_id.clone(), writes)]);
                datasets::create_examples_in(conn, &workspace_id, by_dataset)
            };
            let writes = planned.iter().map(|p| p.write.clone()).collect();
            let together = create(conn, writes)?.is_ok();
            for mut example in planned {
                // One that does not fit the dataset's schema refuses them all: then one by one.
                let created = if together {
                    Ok(())
                } else {
                    create(conn, vec![example.write.clone()])?.map(|_| ())
                };
                let result = match created {
                    Ok(()) => outcome(
                        "success",
                        json!({"dataset_id": dataset_id, "example_id": example.write.id}),
                    ),
                    Err(refused) => outcome("error", json!({"error": refused.to_string()})),
                };
                example.outcomes.insert("add_to_dataset".into(), result);
                let outcomes = Value::Object(example.outcomes).to_string();
                store::set_outcomes(conn, &example.rule_id, &example.run_id, &outcomes)?;
            }
        }
        Ok(self.report)
    }
}

/// A stored rule with its filters compiled.
struct Rule {
    row: RunRuleRow,
    id: Uuid,
    filters: TraceFilters,
}

impl Rule {
    /// `None` when a stored filter no longer compiles (they are checked when saved, so only a
    /// change of the language could do this): the rule is disabled with the reason.
    fn compile(conn: &mut DbConnection, row: RunRuleRow) -> QueryResult<Option<Rule>> {
        let parse = |text: &Option<String>| text.as_deref().map(compile).transpose();
        let filters = (|| {
            Ok::<_, crate::filter::FilterError>(TraceFilters {
                filter: parse(&row.filter)?,
                trace_filter: parse(&row.trace_filter)?,
                tree_filter: parse(&row.tree_filter)?,
            })
        })();
        let id = Uuid::parse_str(&row.id).unwrap_or_default();
        match filters {
            Ok(filters) => Ok(Some(Rule { row, id, filters })),
            Err(err) => {
                let reason = format!("its filter no longer parses: {}", err.message);
                store::disable_rule(conn, &row.id, &reason)?;
                Ok(None)
            }
        }
    }
}

/// Evaluates the oldest waiting traces. `None`: none waits (or every waiting trace is being
/// evaluated by another replica).
pub fn pending_step(conn: &mut DbConnection, now: i64) -> QueryResult<Option<StepReport>> {
    write_transaction(conn, |conn| {
        let claimed = store::claim_pending(conn, store::TRACES_PER_CLAIM, now)?;
        if claimed.is_empty() {
            return Ok(None);
        }
        let mut step = Step::new(now, false);
        step.report.evaluated = claimed.len();
        let mut by_workspace: BTreeMap<&str, Vec<&PendingTrace>> = BTreeMap::new();
        for trace in &claimed {
            by_workspace
                .entry(&trace.workspace_id)
                .or_default()
                .push(trace);
        }
        for (workspace_id, traces) in by_workspace {
            let ids: Vec<String> = traces.iter().map(|t| t.trace_id.clone()).collect();
            let runs = store::trace_runs(conn, workspace_id, &ids)?;
            let feedback = run_feedback_of(conn, workspace_id, &runs)?;
            let mut rules_of: HashMap<String, Vec<Rule>> = HashMap::new();
            for (session, trace_runs) in group_by_trace(runs) {
                if !rules_of.contains_key(&session) {
                    let mut rules = Vec::new();
                    for row in store::rules_watching(conn, workspace_id, &session)? {
                        rules.extend(Rule::compile(conn, row)?);
                    }
                    rules_of.insert(session.clone(), rules);
                }
                let rules = &rules_of[&session];
                if !rules.is_empty() {
                    evaluate(conn, &mut step, rules, &trace_runs, &feedback, None)?;
                }
            }
        }
        store::release_pending(conn, &claimed)?;
        step.finish(conn).map(Some)
    })
}

/// The runs of several traces, per trace, with the project of each trace.
fn group_by_trace(runs: Vec<RunRow>) -> Vec<(String, Vec<RunRow>)> {
    let mut traces: BTreeMap<String, Vec<RunRow>> = BTreeMap::new();
    for run in runs {
        let trace = run.trace_id.clone().unwrap_or_else(|| run.id.clone());
        traces.entry(trace).or_default().push(run);
    }
    traces
        .into_values()
        .filter_map(|runs| {
            let session = runs.iter().find_map(|r| r.session_id.clone())?;
            Some((session, runs))
        })
        .collect()
}

/// The feedback of these runs, in one read for a whole step.
fn run_feedback_of(
    conn: &mut DbConnection,
    workspace_id: &str,
    runs: &[RunRow],
) -> QueryResult<RunFeedback> {
    let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    store::run_feedback(conn, workspace_id, &ids)
}

/// Applies `rules` to the finished runs of one trace (only to those in `only`, when given).
fn evaluate(
    conn: &mut DbConnection,
    step: &mut Step,
    rules: &[Rule],
    trace: &[RunRow],
    feedback: &RunFeedback,
    only: Option<&HashSet<&str>>,
) -> QueryResult<()> {
    let no_feedback = Vec::new();
    let candidates: Vec<Candidate> = trace
        .iter()
        .map(|run| Candidate::new(run, feedback.facts.get(&run.id).unwrap_or(&no_feedback)))
        .collect();
    for rule in rules {
        for candidate in &candidates {
            let run = candidate.run;
            // Placeholders (a patch that arrived before its post) and runs still going are
            // not evaluated; their end queues the trace again.
            if run.end_time.is_none() || run.name.is_none() {
                continue;
            }
            if only.is_some_and(|only| !only.contains(run.id.as_str())) {
                continue;
            }
            if rule.filters.matches(candidate, &candidates) {
                apply(conn, step, rule, run, feedback)?;
            }
        }
    }
    Ok(())
}

fn outcome(outcome: &str, payload: Value) -> Value {
    json!({"outcome": outcome, "payload": payload})
}

/// Acts on one match, once: the application row is written first and guards the actions.
fn apply(
    conn: &mut DbConnection,
    step: &mut Step,
    rule: &Rule,
    run: &RunRow,
    feedback: &RunFeedback,
) -> QueryResult<()> {
    let (row, now) = (&rule.row, step.now);
    let application = RuleApplicationRow {
        rule_id: row.id.clone(),
        run_id: run.id.clone(),
        session_id: run.session_id.clone(),
        run_name: run.name.clone(),
        run_type: run.run_type.clone(),
        run_start_time: run.start_time,
        run_end_time: run.end_time,
        thread_id: thread_id(run.extra.as_deref()),
        applied_at: now,
        backfill: step.backfill,
        outcomes: "{}".into(),
    };
    if !store::record_application(conn, &application)? {
        return Ok(());
    }
    step.report.applied += 1;
    let run_id = Uuid::parse_str(&run.id).unwrap_or_default();
    let mut outcomes = Map::new();
    if !sampled(&rule.id, &run_id, row.sampling_rate) {
        let skipped = outcome(
            "skipped",
            json!({"reason": format!("not sampled (sampling_rate {})", row.sampling_rate)}),
        );
        for (action, configured) in [
            (
                "add_to_annotation_queue",
                row.add_to_annotation_queue_id.is_some(),
            ),
            ("add_to_dataset", row.add_to_dataset_id.is_some()),
            ("webhooks", row.webhooks.is_some()),
        ] {
            if configured {
                outcomes.insert(action.into(), skipped.clone());
            }
        }
    } else {
        // LangSmith's order: annotation queue, dataset, webhooks.
        if let Some(queue) = &row.add_to_annotation_queue_id {
            let result = add_to_queue(conn, row, queue, run, now)?;
            outcomes.insert("add_to_annotation_queue".into(), result);
        }
        let mut planned = None;
        if let Some(dataset) = &row.add_to_dataset_id {
            let correction = row
                .add_to_dataset_prefer_correction
                .then(|| feedback.corrections.get(&run.id))
                .flatten();
            match plan_example(conn, step, row, dataset, run, correction)? {
                Ok(write) => planned = Some(write),
                Err(refused) => {
                    outcomes.insert("add_to_dataset".into(), refused);
                }
            }
        }
        step.report.webhooks_queued += queue_webhooks(conn, row, run, now)?;
        if let Some(write) = planned {
            // Created with the step's other examples of that dataset; outcomes saved then.
            step.examples
                .entry((
                    row.workspace_id.clone(),
                    write.dataset_id.clone().unwrap_or_default(),
                ))
                .or_default()
                .push(PlannedExample {
                    rule_id: row.id.clone(),
                    run_id: run.id.clone(),
                    write,
                    outcomes,
                });
            return Ok(());
        }
    }
    store::set_outcomes(conn, &row.id, &run.id, &Value::Object(outcomes).to_string())
}

fn add_to_queue(
    conn: &mut DbConnection,
    rule: &RunRuleRow,
    queue_id: &str,
    run: &RunRow,
    now: i64,
) -> QueryResult<Value> {
    if annotation_queues::find(conn, &rule.workspace_id, queue_id)?.is_none() {
        let reason = format!("its annotation queue {queue_id} was deleted");
        store::disable_rule(conn, &rule.id, &reason)?;
        return Ok(outcome("error", json!({"error": reason})));
    }
    match annotation_queues::add_runs(
        conn,
        &rule.workspace_id,
        queue_id,
        std::slice::from_ref(&run.id),
        now,
    ) {
        Ok(items) => Ok(outcome(
            "success",
            json!({
                "queue_id": queue_id,
                "queue_run_id": items.first().map(|item| item.id.clone()),
            }),
        )),
        Err(AddError::UnknownRuns(_)) => Ok(outcome(
            "error",
            json!({"error": "the run is not stored any more"}),
        )),
        Err(AddError::Db(err)) => Err(err),
    }
}

/// The example a match makes, or the error outcome that says why there is none.
fn plan_example(
    conn: &mut DbConnection,
    step: &mut Step,
    rule: &RunRuleRow,
    dataset_id: &str,
    run: &RunRow,
    correction: Option<&String>,
) -> QueryResult<Result<ExampleWrite, Value>> {
    let key = (rule.workspace_id.clone(), dataset_id.to_string());
    if !step.datasets.contains_key(&key) {
        let found = datasets::find(conn, &rule.workspace_id, dataset_id)?;
        step.datasets.insert(key.clone(), found);
    }
    let Some(dataset) = &step.datasets[&key] else {
        let reason = format!("its dataset {dataset_id} was deleted");
        store::disable_rule(conn, &rule.id, &reason)?;
        return Ok(Err(outcome("error", json!({"error": reason}))));
    };
    let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let inputs = parse(run.inputs.as_deref()).unwrap_or_else(|| json!({}));
    let outputs = parse(run.outputs.as_deref());
    let correction = parse(correction.map(String::as_str));
    let content = RunContent {
        run_type: run.run_type.as_deref().unwrap_or("chain"),
        inputs: &inputs,
        outputs: outputs.as_ref(),
    };
    let kind = DatasetKind::from_data_type(&dataset.data_type);
    let (inputs, outputs) = match example_from_run(kind, &content, correction.as_ref()) {
        Ok(example) => example,
        Err(reason) => return Ok(Err(outcome("error", json!({"error": reason})))),
    };
    Ok(Ok(ExampleWrite {
        id: Uuid::now_v7().to_string(),
        dataset_id: Some(dataset_id.to_string()),
        inputs: Some(inputs.to_string()),
        outputs: outputs.map(|o| o.to_string()),
        metadata: Some(
            json!({"run_rule_id": rule.id, "run_rule_name": rule.display_name}).to_string(),
        ),
        source_run_id: Some(run.id.clone()),
        created_at: Some(step.now),
        ..ExampleWrite::default()
    }))
}

/// Queues one delivery per webhook of the rule; the sender posts them after the commit.
fn queue_webhooks(
    conn: &mut DbConnection,
    rule: &RunRuleRow,
    run: &RunRow,
    now: i64,
) -> QueryResult<usize> {
    let hooks: Vec<Value> = rule
        .webhooks
        .as_deref()
        .and_then(|w| serde_json::from_str(w).ok())
        .unwrap_or_default();
    for hook in &hooks {
        let headers = hook.get("headers").filter(|h| h.is_object());
        store::queue_webhook(
            conn,
            &WebhookDeliveryRow {
                id: Uuid::now_v7().to_string(),
                rule_id: rule.id.clone(),
                run_id: run.id.clone(),
                workspace_id: rule.workspace_id.clone(),
                url: hook
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                headers: headers.cloned().unwrap_or_else(|| json!({})).to_string(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                response_status: None,
                created_at: now,
                finished_at: None,
            },
        )?;
    }
    Ok(hooks.len())
}

/// Evaluates the next page of one rule's backfill. `None`: no backfill waits.
pub fn backfill_step(
    conn: &mut DbConnection,
    page: i64,
    now: i64,
) -> QueryResult<Option<StepReport>> {
    write_transaction(conn, |conn| {
        let Some((row, mut state)) = store::claim_backfill(conn)? else {
            return Ok(None);
        };
        let workspace_id = row.workspace_id.clone();
        let rule_id = row.id.clone();
        let from = row.backfill_from.unwrap_or(0);
        let sessions = store::rule_sessions(conn, &row)?;
        let Some(rule) = Rule::compile(conn, row)? else {
            // Disabled instead: nothing more to do for it.
            return Ok(Some(StepReport::default()));
        };
        if state.backfill_total.is_none() {
            state.backfill_total =
                Some(store::backfill_total(conn, &workspace_id, &sessions, from)?);
        }
        let after = state
            .backfill_cursor_time
            .zip(state.backfill_cursor_id.clone());
        let runs = store::backfill_page(conn, &workspace_id, &sessions, from, after, page)?;
        let mut step = Step::new(now, true);
        step.report.evaluated = runs.len();
        let traces: Vec<String> = runs
            .iter()
            .map(|r| r.trace_id.clone().unwrap_or_else(|| r.id.clone()))
            .collect();
        let only: HashSet<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        let rules = [rule];
        let trace_runs = store::trace_runs(conn, &workspace_id, &traces)?;
        let feedback = run_feedback_of(conn, &workspace_id, &trace_runs)?;
        for (_, trace) in group_by_trace(trace_runs) {
            evaluate(conn, &mut step, &rules, &trace, &feedback, Some(&only))?;
        }
        if let Some(last) = runs.last() {
            state.backfill_cursor_time = last.start_time;
            state.backfill_cursor_id = Some(last.id.clone());
        }
        state.backfill_evaluated += runs.len() as i64;
        if (runs.len() as i64) < page {
            state.backfill_status = Some("done".into());
            state.backfill_completed_at = Some(now);
        }
        store::save_backfill(conn, &rule_id, &state)?;
        step.finish(conn).map(Some)
    })
}
