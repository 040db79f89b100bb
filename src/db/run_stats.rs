//! Aggregates over a selection of runs: `POST /runs/stats`, project stats and the monitoring
//! time series all read their numbers here.

use std::collections::BTreeMap;

use diesel::dsl::{count_star, max, min, sql};
use diesel::expression::SqlLiteral;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable};

use super::DbConnection;
use super::run_filter::{Dialect, SqlCondition, feedback_of_selection, unordered_selection};
use super::runs::RunQuery;
use super::schema::{feedback, runs};

/// The runs a query selects, to aggregate over.
fn selected(
    workspace_id: &str,
    q: &RunQuery,
    dialect: Dialect,
) -> diesel::dsl::Filter<runs::table, SqlCondition> {
    runs::table.filter(unordered_selection(workspace_id, q, dialect))
}

/// Aggregates over the runs a query selects.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RunStats {
    pub run_count: i64,
    pub error_count: i64,
    /// Runs that recorded a first token (streamed).
    pub streaming_count: i64,
    pub latency_p50: Option<f64>,
    pub latency_p99: Option<f64>,
    pub first_token_p50: Option<f64>,
    pub first_token_p99: Option<f64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub prompt_cost: Option<f64>,
    pub completion_cost: Option<f64>,
    pub total_cost: Option<f64>,
    pub first_run_start_time: Option<i64>,
    pub last_run_start_time: Option<i64>,
    /// Feedback on the selected runs, per key, in key order.
    pub feedback: Vec<FeedbackKeyStats>,
}

impl RunStats {
    pub fn error_rate(&self) -> Option<f64> {
        (self.run_count > 0).then(|| self.error_count as f64 / self.run_count as f64)
    }

    pub fn streaming_rate(&self) -> Option<f64> {
        (self.run_count > 0).then(|| self.streaming_count as f64 / self.run_count as f64)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackKeyStats {
    pub key: String,
    pub n: i64,
    pub avg: Option<f64>,
    pub stdev: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Which runs latency percentiles describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatencyOf {
    /// Every selected run.
    Selected,
    /// The selected root runs: whole traces, as a project's stats report them.
    Roots,
}

/// `SUM` of an integer expression as BIGINT: PostgreSQL would otherwise answer NUMERIC.
fn sum_bigint(expr: &str) -> diesel::expression::SqlLiteral<Nullable<BigInt>> {
    sql(&format!("CAST(SUM({expr}) AS BIGINT)"))
}

type Totals = (
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<i64>,
);

type Int = SqlLiteral<Nullable<BigInt>>;
type Float = SqlLiteral<Nullable<Double>>;
type TotalsColumns = (
    SqlLiteral<BigInt>,
    Int,
    Int,
    Int,
    Int,
    Int,
    Float,
    Float,
    Float,
    Int,
    Int,
);

/// Count, error and streaming counts, token and cost sums, first and last start time.
fn totals_columns() -> TotalsColumns {
    (
        sql("COUNT(*)"),
        sum_bigint("CASE WHEN runs.error IS NOT NULL THEN 1 ELSE 0 END"),
        sum_bigint("CASE WHEN runs.first_token_time IS NOT NULL THEN 1 ELSE 0 END"),
        sum_bigint("runs.prompt_tokens"),
        sum_bigint("runs.completion_tokens"),
        sum_bigint("runs.total_tokens"),
        sql("SUM(runs.prompt_cost)"),
        sql("SUM(runs.completion_cost)"),
        sql("SUM(runs.total_cost)"),
        sql("MIN(runs.start_time)"),
        sql("MAX(runs.start_time)"),
    )
}

fn apply_totals(stats: &mut RunStats, totals: Totals) {
    let (run_count, errors, streaming, prompt, completion, total, pc, cc, tc, first, last) = totals;
    stats.run_count = run_count;
    stats.error_count = errors.unwrap_or(0);
    stats.streaming_count = streaming.unwrap_or(0);
    stats.prompt_tokens = prompt.unwrap_or(0);
    stats.completion_tokens = completion.unwrap_or(0);
    stats.total_tokens = total.unwrap_or(0);
    stats.prompt_cost = pc;
    stats.completion_cost = cc;
    stats.total_cost = tc;
    stats.first_run_start_time = first;
    stats.last_run_start_time = last;
}

pub fn stats(
    conn: &mut DbConnection,
    workspace_id: &str,
    q: &RunQuery,
    latency_of: LatencyOf,
) -> QueryResult<RunStats> {
    let dialect = conn.dialect();
    let totals: Totals = selected(workspace_id, q, dialect)
        .select(totals_columns())
        .first(conn)?;
    let mut stats = RunStats::default();
    apply_totals(&mut stats, totals);
    let latency_query = RunQuery {
        is_root: match latency_of {
            LatencyOf::Selected => q.is_root,
            LatencyOf::Roots => Some(true),
        },
        ..q.clone()
    };
    (stats.latency_p50, stats.latency_p99) =
        percentiles(conn, workspace_id, &latency_query, Duration::Latency)?;
    (stats.first_token_p50, stats.first_token_p99) =
        percentiles(conn, workspace_id, q, Duration::FirstToken)?;
    stats.feedback = feedback_stats(conn, workspace_id, q)?;
    Ok(stats)
}

#[derive(Clone, Copy)]
enum Duration {
    Latency,
    FirstToken,
}

impl Duration {
    /// Which runs have one, and its SQL (microseconds).
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Duration::Latency => (
                "runs.end_time IS NOT NULL",
                "runs.end_time - runs.start_time",
            ),
            Duration::FirstToken => (
                "runs.first_token_time IS NOT NULL",
                "runs.first_token_time - runs.start_time",
            ),
        }
    }
}

/// p50 and p99 in seconds, read off the sorted durations (nearest rank).
fn percentiles(
    conn: &mut DbConnection,
    workspace_id: &str,
    q: &RunQuery,
    duration: Duration,
) -> QueryResult<(Option<f64>, Option<f64>)> {
    let (present, value) = duration.sql();
    let dialect = conn.dialect();
    let count: i64 = selected(workspace_id, q, dialect)
        .filter(sql::<Bool>(present))
        .select(count_star())
        .first(conn)?;
    if count == 0 {
        return Ok((None, None));
    }
    let mut at = |quantile: f64| -> QueryResult<Option<f64>> {
        let rank = ((count - 1) as f64 * quantile).round() as i64;
        let micros: Option<i64> = selected(workspace_id, q, dialect)
            .filter(sql::<Bool>(present))
            .select(sql::<Nullable<BigInt>>(value))
            .order(sql::<BigInt>(value).asc())
            .offset(rank)
            .first(conn)?;
        Ok(micros.map(|m| m as f64 / 1e6))
    };
    Ok((at(0.5)?, at(0.99)?))
}

type KeyRow = (
    String,
    i64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

/// Per feedback key over the selected runs: count, mean, standard deviation, min, max.
pub fn feedback_stats(
    conn: &mut DbConnection,
    workspace_id: &str,
    q: &RunQuery,
) -> QueryResult<Vec<FeedbackKeyStats>> {
    let rows: Vec<KeyRow> = feedback::table
        .filter(feedback::workspace_id.eq(workspace_id))
        .filter(feedback_of_selection(workspace_id, q, conn.dialect()))
        .group_by(feedback::key)
        .select((
            feedback::key,
            count_star(),
            diesel::dsl::avg(feedback::score),
            sql::<Nullable<Double>>("AVG(feedback.score * feedback.score)"),
            min(feedback::score),
            max(feedback::score),
        ))
        .order(feedback::key.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(key, n, avg, mean_square, min, max)| FeedbackKeyStats {
            key,
            n,
            avg,
            stdev: avg
                .zip(mean_square)
                .map(|(mean, square)| (square - mean * mean).max(0.0).sqrt()),
            min,
            max,
        })
        .collect())
}

/// One bucket of a time series: the stats of the runs that started in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub start: i64,
    pub stats: RunStats,
}

/// Stats per time bucket of `stride` microseconds, from `from` up to `to` (run start times).
/// Every bucket is listed, empty ones too, so a chart has every point.
pub fn time_series(
    conn: &mut DbConnection,
    workspace_id: &str,
    q: &RunQuery,
    from: i64,
    to: i64,
    stride: i64,
) -> QueryResult<Vec<Bucket>> {
    let dialect = conn.dialect();
    let in_range = RunQuery {
        start_time: Some(q.start_time.map_or(from, |s| s.max(from))),
        end_time: Some(q.end_time.map_or(to - 1, |e| e.min(to - 1))),
        ..q.clone()
    };
    // Server-computed integers, not client text: safe to write into the SQL.
    let bucket = format!("((runs.start_time - {from}) / {stride})");
    let mut buckets: BTreeMap<i64, RunStats> = (0..(to - from + stride - 1) / stride)
        .map(|i| (i, RunStats::default()))
        .collect();
    let totals: Vec<(i64, Totals)> = selected(workspace_id, &in_range, dialect)
        .group_by(sql::<BigInt>(&bucket))
        .select((sql::<BigInt>(&bucket), totals_columns()))
        .load(conn)?;
    for (index, totals) in totals {
        if let Some(stats) = buckets.get_mut(&index) {
            apply_totals(stats, totals);
        }
    }
    for duration in [Duration::Latency, Duration::FirstToken] {
        let (present, value) = duration.sql();
        let rows: Vec<(i64, i64)> = selected(workspace_id, &in_range, dialect)
            .filter(sql::<Bool>(present))
            .select((sql::<BigInt>(&bucket), sql::<BigInt>(value)))
            .load(conn)?;
        let mut by_bucket: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (index, micros) in rows {
            by_bucket.entry(index).or_default().push(micros);
        }
        for (index, mut values) in by_bucket {
            values.sort_unstable();
            let (p50, p99) = (nearest_rank(&values, 0.5), nearest_rank(&values, 0.99));
            if let Some(stats) = buckets.get_mut(&index) {
                match duration {
                    Duration::Latency => (stats.latency_p50, stats.latency_p99) = (p50, p99),
                    Duration::FirstToken => {
                        (stats.first_token_p50, stats.first_token_p99) = (p50, p99)
                    }
                }
            }
        }
    }
    let mut series = Vec::with_capacity(buckets.len());
    for (index, mut stats) in buckets {
        let start = from + index * stride;
        if stats.run_count > 0 {
            let bucket_query = RunQuery {
                start_time: Some(start.max(from)),
                end_time: Some((start + stride).min(to) - 1),
                ..in_range.clone()
            };
            stats.feedback = feedback_stats(conn, workspace_id, &bucket_query)?;
        }
        series.push(Bucket { start, stats });
    }
    Ok(series)
}

/// Seconds at the nearest rank of a sorted list of microseconds.
fn nearest_rank(sorted: &[i64], quantile: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (last as f64 * quantile).round() as usize;
    Some(sorted[rank] as f64 / 1e6)
}
