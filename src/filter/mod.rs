//! The LangSmith filter language: prefix calls such as `and(eq(name, "x"), gt(latency, 5))`.
//! One parser producing a syntax tree; each place that filters (runs, examples, rules)
//! checks it into a typed tree of its own. Pure: no HTTP, no database.
//!
//! The parser is built with winnow: combinators close to the grammar, byte offsets for free
//! (`LocatingSlice`), `cut_err` to report the innermost failure instead of a backtracked one,
//! and no procedural macros or grammar files to keep in step.

pub mod examples;
pub mod runs;

use std::fmt;

use winnow::LocatingSlice;
use winnow::ascii::{digit0, digit1, multispace0};
use winnow::combinator::{alt, cut_err, fail, opt, preceded, repeat, terminated};
use winnow::error::{AddContext, ContextError, ErrMode, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::stream::Location;
use winnow::token::{any, one_of, take_while};

/// A parsed expression. `offset` is where it starts in the filter text, for error messages.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Call {
        name: String,
        args: Vec<Expr>,
        offset: usize,
    },
    /// A bare attribute name; dots address nested keys (`metadata.customer.tier`).
    Attr {
        path: String,
        offset: usize,
    },
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    List(Vec<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FilterError {
    pub message: String,
    pub offset: usize,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "filter: {} at offset {}", self.message, self.offset)
    }
}

pub fn error(message: impl Into<String>, offset: usize) -> FilterError {
    FilterError {
        message: message.into(),
        offset,
    }
}

/// Refuses a call with the wrong number of arguments.
pub fn arity(name: &str, args: &[Expr], wanted: usize, offset: usize) -> Result<(), FilterError> {
    if args.len() == wanted {
        Ok(())
    } else {
        Err(error(
            format!("{name}() takes {wanted} arguments, got {}", args.len()),
            offset,
        ))
    }
}

type Input<'a> = LocatingSlice<&'a str>;

/// Parses a whole filter expression.
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    terminated(expr, multispace0)
        .parse(LocatingSlice::new(text))
        .map_err(|e| {
            let offset = e.offset();
            let found = text[offset..]
                .chars()
                .next()
                .map_or("the end".to_string(), |c| format!("{c:?}"));
            error(
                format!("{}, found {found}", describe(e.inner(), offset == 0)),
                offset,
            )
        })
}

/// "expected ')' or ','" from the contexts the failing parser left.
fn describe(inner: &ContextError, at_start: bool) -> String {
    let mut expected: Vec<String> = Vec::new();
    for context in inner.context() {
        let text = match context {
            StrContext::Expected(StrContextValue::CharLiteral(c)) => format!("{c:?}"),
            StrContext::Expected(StrContextValue::StringLiteral(s)) => format!("{s:?}"),
            StrContext::Expected(StrContextValue::Description(d)) => d.to_string(),
            _ => continue,
        };
        if !expected.contains(&text) {
            expected.push(text);
        }
    }
    match expected.as_slice() {
        [] if at_start => "expected an expression such as eq(name, \"x\")".into(),
        [] => "unexpected text after the expression".into(),
        [one] => format!("expected {one}"),
        [init @ .., last] => format!("expected {} or {last}", init.join(", ")),
    }
}

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn expected_char(c: char) -> StrContext {
    StrContext::Expected(StrContextValue::CharLiteral(c))
}

fn expr(input: &mut Input<'_>) -> ModalResult<Expr> {
    preceded(
        multispace0,
        alt((
            string.map(Expr::Str),
            list,
            number,
            word_or_call,
            fail.context(expected("a value")),
        )),
    )
    .parse_next(input)
}

fn word_or_call(input: &mut Input<'_>) -> ModalResult<Expr> {
    let offset = input.current_token_start();
    let word = identifier.parse_next(input)?;
    let call = opt(preceded(multispace0, '(')).parse_next(input)?;
    if call.is_none() {
        return Ok(match word {
            "true" => Expr::Bool(true),
            "false" => Expr::Bool(false),
            "null" => Expr::Null,
            _ => Expr::Attr {
                path: word.to_string(),
                offset,
            },
        });
    }
    let args = cut_err(terminated(
        alt((
            preceded(multispace0, ')').map(|_| Vec::new()),
            terminated(
                items,
                preceded(multispace0, ')')
                    .context(expected_char(','))
                    .context(expected_char(')')),
            ),
        )),
        multispace0,
    ))
    .parse_next(input)?;
    Ok(Expr::Call {
        name: word.to_ascii_lowercase(),
        args,
        offset,
    })
}

/// One or more expressions separated by commas; after a comma, an expression must follow.
fn items(input: &mut Input<'_>) -> ModalResult<Vec<Expr>> {
    let first = expr.parse_next(input)?;
    repeat(0.., preceded((multispace0, ','), cut_err(expr)))
        .fold(
            move || vec![first.clone()],
            |mut all, next| {
                all.push(next);
                all
            },
        )
        .parse_next(input)
}

fn identifier<'a>(input: &mut Input<'a>) -> ModalResult<&'a str> {
    (
        one_of(|c: char| c.is_alphabetic() || c == '_'),
        take_while(0.., |c: char| {
            c.is_alphanumeric() || c == '_' || c == '.' || c == '-'
        }),
    )
        .take()
        .parse_next(input)
}

fn number(input: &mut Input<'_>) -> ModalResult<Expr> {
    let start = input.checkpoint();
    let text = (
        opt('-'),
        digit1,
        opt(('.', digit0)),
        opt((one_of(['e', 'E']), opt(one_of(['+', '-'])), digit1)),
    )
        .take()
        .parse_next(input)?;
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(Expr::Num(n)),
        _ => {
            input.reset(&start);
            Err(ErrMode::Cut(ContextError::new().add_context(
                input,
                &start,
                expected("a finite number"),
            )))
        }
    }
}

fn list(input: &mut Input<'_>) -> ModalResult<Expr> {
    preceded(
        '[',
        cut_err(terminated(
            alt((
                preceded(multispace0, ']').map(|_| Vec::new()),
                terminated(
                    items,
                    preceded(multispace0, ']')
                        .context(expected_char(','))
                        .context(expected_char(']')),
                ),
            )),
            multispace0,
        )),
    )
    .map(Expr::List)
    .parse_next(input)
}

/// A quoted string, in double or single quotes. Backslash escapes as in JSON (the SDKs build
/// filter strings with JSON encoding); any other escaped character stands for itself.
fn string(input: &mut Input<'_>) -> ModalResult<String> {
    let quote = one_of(['"', '\'']).parse_next(input)?;
    let start = input.checkpoint();
    let text: String = terminated(
        repeat(0.., string_char(quote)).fold(String::new, |mut out, c| {
            out.push(c);
            out
        }),
        cut_err(quote.context(expected("a closing quote"))),
    )
    .parse_next(input)?;
    if text.contains('\0') {
        // Databases cannot compare text holding NUL.
        input.reset(&start);
        return Err(ErrMode::Cut(ContextError::new().add_context(
            input,
            &start,
            expected("a string without NUL (\\u0000)"),
        )));
    }
    Ok(text)
}

fn string_char(quote: char) -> impl FnMut(&mut Input<'_>) -> ModalResult<char> {
    move |input: &mut Input<'_>| {
        let c = any.verify(|c: &char| *c != quote).parse_next(input)?;
        if c != '\\' {
            return Ok(c);
        }
        let escaped = cut_err(any)
            .context(expected("an escaped character"))
            .parse_next(input)?;
        Ok(match escaped {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'u' => cut_err(unicode_escape)
                .context(expected("four hex digits"))
                .parse_next(input)?,
            other => other,
        })
    }
}

/// The four hex digits after `\u`; a surrogate pair takes a second `\uXXXX`.
fn unicode_escape(input: &mut Input<'_>) -> ModalResult<char> {
    let hex4 = |input: &mut Input<'_>| {
        take_while(4, |c: char| c.is_ascii_hexdigit())
            .try_map(|h: &str| u32::from_str_radix(h, 16))
            .parse_next(input)
    };
    let high = hex4(input)?;
    if (0xD800..0xDC00).contains(&high) {
        let low = opt(preceded("\\u", hex4)).parse_next(input)?;
        if let Some(low) = low.filter(|l| (0xDC00..0xE000).contains(l)) {
            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            return Ok(char::from_u32(code).unwrap_or('\u{fffd}'));
        }
        return Ok('\u{fffd}');
    }
    Ok(char::from_u32(high).unwrap_or('\u{fffd}'))
}

#[cfg(test)]
mod tests;
