//! The LangSmith filter language: prefix calls such as `and(eq(name, "x"), gt(latency, 5))`.
//! One parser producing an AST; each place that filters (examples now, runs and rules later)
//! validates the calls it supports and evaluates them. Pure: no HTTP, no database.

pub mod examples;

use std::fmt;

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

/// Parses a whole filter expression.
pub fn parse(text: &str) -> Result<Expr, FilterError> {
    let mut parser = Parser { text, pos: 0 };
    let expr = parser.expr()?;
    parser.skip_space();
    if parser.pos < text.len() {
        return Err(error("unexpected text after the expression", parser.pos));
    }
    Ok(expr)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), FilterError> {
        self.skip_space();
        match self.peek() {
            Some(c) if c == wanted => {
                self.pos += c.len_utf8();
                Ok(())
            }
            Some(c) => Err(error(format!("expected {wanted:?}, found {c:?}"), self.pos)),
            None => Err(error(
                format!("expected {wanted:?}, found the end"),
                self.pos,
            )),
        }
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        self.skip_space();
        let start = self.pos;
        match self.peek() {
            None => Err(error("expected an expression, found the end", start)),
            Some('"') | Some('\'') => self.string(),
            Some('[') => self.list(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let word = self.word();
                self.skip_space();
                if self.peek() == Some('(') {
                    self.pos += 1;
                    let mut args = Vec::new();
                    self.skip_space();
                    if self.peek() == Some(')') {
                        self.pos += 1;
                    } else {
                        loop {
                            args.push(self.expr()?);
                            self.skip_space();
                            match self.peek() {
                                Some(',') => self.pos += 1,
                                Some(')') => {
                                    self.pos += 1;
                                    break;
                                }
                                _ => {
                                    return Err(error(
                                        format!("expected ',' or ')' in {word}(...)"),
                                        self.pos,
                                    ));
                                }
                            }
                        }
                    }
                    Ok(Expr::Call {
                        name: word.to_ascii_lowercase(),
                        args,
                        offset: start,
                    })
                } else {
                    Ok(match word.as_str() {
                        "true" => Expr::Bool(true),
                        "false" => Expr::Bool(false),
                        "null" => Expr::Null,
                        _ => Expr::Attr {
                            path: word,
                            offset: start,
                        },
                    })
                }
            }
            Some(c) => Err(error(format!("unexpected {c:?}"), start)),
        }
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-') {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.text[start..self.pos].to_string()
    }

    fn number(&mut self) -> Result<Expr, FilterError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')) {
                break;
            }
            self.pos += 1;
        }
        self.text[start..self.pos]
            .parse()
            .map(Expr::Num)
            .map_err(|_| {
                error(
                    format!("{:?} is not a number", &self.text[start..self.pos]),
                    start,
                )
            })
    }

    /// A quoted string; double-quoted strings take JSON escapes (the SDKs build them with JSON).
    fn string(&mut self) -> Result<Expr, FilterError> {
        let start = self.pos;
        let quote = self.peek().expect("called on a quote");
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(error("the string is not closed", start));
            };
            self.pos += c.len_utf8();
            match c {
                c if c == quote => return Ok(Expr::Str(out)),
                '\\' => {
                    let Some(escaped) = self.peek() else {
                        return Err(error("the string ends in a backslash", start));
                    };
                    self.pos += escaped.len_utf8();
                    match escaped {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'u' => {
                            let hex = self
                                .rest()
                                .get(..4)
                                .ok_or_else(|| error("bad \\u escape", self.pos))?;
                            let code = u32::from_str_radix(hex, 16)
                                .map_err(|_| error("bad \\u escape", self.pos))?;
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            self.pos += 4;
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn list(&mut self) -> Result<Expr, FilterError> {
        self.expect('[')?;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(Expr::List(items));
        }
        loop {
            items.push(self.expr()?);
            self.skip_space();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(Expr::List(items));
                }
                _ => return Err(error("expected ',' or ']' in a list", self.pos)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_sdks_and_docs_send() {
        for text in [
            r#"and(eq(metadata_key,'test_run'),eq(metadata_value,'x'))"#,
            r#"and(eq(is_root, true), and(eq(feedback_key, "user_score"), eq(feedback_score, 1)))"#,
            r#"neq(error, null)"#,
            r#"in(metadata_key, ["session_id","conversation_id","thread_id"])"#,
            r#"gt(start_time, "2023-07-15T12:34:56Z")"#,
            r#"has("metadata", '{"foo": "bar"}')"#,
            r#"eq(thread_id, "a \"quoted\" id")"#,
            r#"and(neq(metadata.my.nested.key, "value"), gte(latency, -1.5e0))"#,
        ] {
            parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        assert_eq!(
            parse(r#"eq(thread_id, "a \"q\"")"#).unwrap(),
            Expr::Call {
                name: "eq".into(),
                args: vec![
                    Expr::Attr {
                        path: "thread_id".into(),
                        offset: 3
                    },
                    Expr::Str("a \"q\"".into())
                ],
                offset: 0
            }
        );
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(parse("eq(name, 'x'").unwrap_err().offset, 12);
        assert!(parse("eq(name 'x')").unwrap_err().message.contains("','"));
        assert!(
            parse("and(eq(a, 1)) extra")
                .unwrap_err()
                .message
                .contains("after")
        );
        assert!(parse("").is_err());
        assert!(
            parse("eq(a, \"unterminated)")
                .unwrap_err()
                .message
                .contains("not closed")
        );
        assert!(
            parse("eq(a, ü)").is_ok(),
            "non-ASCII identifiers parse (validation refuses them)"
        );
    }
}
