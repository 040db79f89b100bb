//! The example dialect (`GET /examples?filter=`): only metadata. `has(metadata, '<json>')`
//! (containment), `exists(metadata, "key")`, `eq`/`neq(metadata.path, value)`, `and`, `or`, `not`.

use serde_json::Value;

use super::{Expr, FilterError, error};
use crate::json_match::contains;

/// A validated example filter.
#[derive(Debug, Clone)]
pub struct ExampleFilter(Expr);

pub fn compile(text: &str) -> Result<ExampleFilter, FilterError> {
    let expr = super::parse(text)?;
    check(&expr)?;
    Ok(ExampleFilter(expr))
}

/// The metadata path an argument names: `metadata`, `"metadata"` or `metadata.a.b`.
fn metadata_path(arg: &Expr) -> Option<Vec<String>> {
    let path = match arg {
        Expr::Attr { path, .. } => path.as_str(),
        Expr::Str(s) => s.as_str(),
        _ => return None,
    };
    let mut parts = path.split('.');
    (parts.next() == Some("metadata")).then(|| parts.map(str::to_string).collect())
}

fn check(expr: &Expr) -> Result<(), FilterError> {
    let Expr::Call { name, args, offset } = expr else {
        return Err(error("expected a call such as has(metadata, ...)", 0));
    };
    let offset = *offset;
    let arity = |n: usize| super::arity(name, args, n, offset);
    match name.as_str() {
        "and" | "or" if !args.is_empty() => args.iter().try_for_each(check),
        "not" => {
            arity(1)?;
            check(&args[0])
        }
        "has" => {
            arity(2)?;
            match (metadata_path(&args[0]), &args[1]) {
                (Some(path), Expr::Str(json)) if path.is_empty() => {
                    serde_json::from_str::<Value>(json)
                        .map(|_| ())
                        .map_err(|_| error("has(metadata, ...) takes a JSON object string", offset))
                }
                _ => Err(error(
                    "has takes metadata and a JSON string, as has(metadata, '{\"k\": \"v\"}')",
                    offset,
                )),
            }
        }
        "exists" => {
            arity(2)?;
            match (metadata_path(&args[0]), &args[1]) {
                (Some(path), Expr::Str(_)) if path.is_empty() => Ok(()),
                _ => Err(error(
                    "exists takes metadata and a key, as exists(metadata, \"k\")",
                    offset,
                )),
            }
        }
        "eq" | "neq" => {
            arity(2)?;
            let literal = matches!(
                args[1],
                Expr::Str(_) | Expr::Num(_) | Expr::Bool(_) | Expr::Null
            );
            match metadata_path(&args[0]) {
                Some(path) if !path.is_empty() && literal => Ok(()),
                _ => Err(error(
                    format!("comparator {name} takes metadata.<key> and a value on examples"),
                    offset,
                )),
            }
        }
        other => Err(error(
            format!(
                "comparator {other:?} is not accepted on examples (use has, exists, eq, neq, and, or, not)"
            ),
            offset,
        )),
    }
}

fn literal(expr: &Expr) -> Value {
    match expr {
        Expr::Str(s) => Value::String(s.clone()),
        Expr::Num(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Expr::Bool(b) => Value::Bool(*b),
        _ => Value::Null,
    }
}

fn lookup<'a>(metadata: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(metadata, |value, key| value.get(key))
}

fn equal(found: Option<&Value>, wanted: &Value) -> bool {
    match (found, wanted) {
        (None, Value::Null) => true,
        (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Some(found), wanted) => found == wanted,
        (None, _) => false,
    }
}

impl ExampleFilter {
    /// Whether an example with this metadata (`Null` when it has none) passes.
    pub fn matches(&self, metadata: &Value) -> bool {
        eval(&self.0, metadata)
    }
}

fn eval(expr: &Expr, metadata: &Value) -> bool {
    let Expr::Call { name, args, .. } = expr else {
        return false;
    };
    match name.as_str() {
        "and" => args.iter().all(|a| eval(a, metadata)),
        "or" => args.iter().any(|a| eval(a, metadata)),
        "not" => !eval(&args[0], metadata),
        "has" => match &args[1] {
            Expr::Str(json) => {
                serde_json::from_str::<Value>(json).is_ok_and(|wanted| contains(metadata, &wanted))
            }
            _ => false,
        },
        "exists" => match &args[1] {
            Expr::Str(key) => metadata.get(key).is_some(),
            _ => false,
        },
        "eq" | "neq" => {
            let path = metadata_path(&args[0]).unwrap_or_default();
            let same = equal(lookup(metadata, &path), &literal(&args[1]));
            if name == "eq" { same } else { !same }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_table_of_cases() {
        let meta = json!({"foo": "bar", "tier": {"level": 2}, "tags": ["a"]});
        for (filter, expected) in [
            (r#"has(metadata, '{"foo": "bar"}')"#, true),
            (r#"has("metadata", '{"foo": "baz"}')"#, false),
            (r#"exists(metadata, "foo")"#, true),
            (r#"not(exists(metadata, "missing"))"#, true),
            (r#"eq(metadata.tier.level, 2)"#, true),
            (r#"neq(metadata.foo, "bar")"#, false),
            (
                r#"and(exists(metadata, "foo"), or(eq(metadata.foo, "x"), eq(metadata.tier.level, 2)))"#,
                true,
            ),
            (r#"eq(metadata.nothing, null)"#, true),
        ] {
            assert_eq!(
                compile(filter).unwrap().matches(&meta),
                expected,
                "{filter}"
            );
        }
        assert!(
            !compile(r#"exists(metadata, "foo")"#)
                .unwrap()
                .matches(&Value::Null)
        );
    }

    #[test]
    fn refusals_name_the_comparator() {
        for (filter, needle) in [
            (r#"gt(metadata.x, 1)"#, "\"gt\""),
            (r#"eq(name, "x")"#, "eq"),
            (r#"has(metadata, 'not json')"#, "JSON"),
            (r#"not(a, b)"#, "not() takes 1"),
            (r#"metadata"#, "call"),
        ] {
            let err = compile(filter).unwrap_err().to_string();
            assert!(err.contains(needle), "{filter}: {err}");
        }
    }
}
