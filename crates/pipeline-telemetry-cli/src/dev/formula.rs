//! Dashboard formulas over query results: `query1`, `100 * query1 / query2`,
//! `per_minute(query1)`; numbers, `+ - * /`, parentheses, and the
//! functions `per_second`, `per_minute`, `per_hour`, `abs`.
//!
//! Two grouped operands are matched group by group (an ungrouped operand
//! applies to every group) and timestamp by timestamp; a division by zero
//! gives no point, as in Datadog.

use std::collections::BTreeMap;

/// Group (`key:value` list) → timestamp → value.
pub(crate) type Groups = BTreeMap<Vec<String>, BTreeMap<u64, f64>>;

/// A parsed formula.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Number(f64),
    Query(String),
    Call(String, Box<Expr>),
    Binary(char, Box<Expr>, Box<Expr>),
    Negate(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Ident(String),
    Symbol(char),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_digit() || *c == '.')
            {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            let n = s.parse().map_err(|_| format!("bad number {s:?}"))?;
            tokens.push(Token::Number(n));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if "+-*/()".contains(c) {
            tokens.push(Token::Symbol(c));
            i += 1;
        } else {
            return Err(format!("unexpected {c:?}"));
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn symbol(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Symbol(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn binary(
        &mut self,
        ops: &str,
        next: fn(&mut Self) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut left = next(self)?;
        loop {
            let Some(op) = ops
                .chars()
                .find(|op| self.peek() == Some(&Token::Symbol(*op)))
            else {
                return Ok(left);
            };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(next(self)?));
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.binary("+-", Self::term)
    }

    fn term(&mut self) -> Result<Expr, String> {
        self.binary("*/", Self::factor)
    }

    fn factor(&mut self) -> Result<Expr, String> {
        let token = self.peek().cloned();
        self.at += 1;
        match token {
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Symbol('-')) => Ok(Expr::Negate(Box::new(self.factor()?))),
            Some(Token::Symbol('(')) => {
                let e = self.expr()?;
                if self.symbol(')') {
                    Ok(e)
                } else {
                    Err("missing ')'".into())
                }
            }
            Some(Token::Ident(name)) if self.symbol('(') => {
                let arg = self.expr()?;
                if !self.symbol(')') {
                    return Err(format!("missing ')' after {name}("));
                }
                Ok(Expr::Call(name, Box::new(arg)))
            }
            Some(Token::Ident(name)) => Ok(Expr::Query(name)),
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

/// Parses a formula.
pub(crate) fn parse(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        at: 0,
    };
    let e = p.expr()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?} in {text:?}")),
    }
}

enum Value {
    Number(f64),
    Groups(Groups),
}

fn map(v: Value, f: impl Fn(f64) -> Option<f64> + Copy) -> Value {
    match v {
        Value::Number(n) => Value::Number(f(n).unwrap_or(f64::NAN)),
        Value::Groups(g) => Value::Groups(
            g.into_iter()
                .map(|(k, pts)| {
                    (
                        k,
                        pts.into_iter()
                            .filter_map(|(t, v)| f(v).map(|v| (t, v)))
                            .collect(),
                    )
                })
                .collect(),
        ),
    }
}

fn apply(op: char, a: f64, b: f64) -> Option<f64> {
    let r = match op {
        '+' => a + b,
        '-' => a - b,
        '*' => a * b,
        _ if b == 0.0 => return None,
        _ => a / b,
    };
    r.is_finite().then_some(r)
}

fn combine(op: char, left: Value, right: Value) -> Value {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => Value::Number(apply(op, a, b).unwrap_or(f64::NAN)),
        (Value::Groups(g), Value::Number(b)) => map(Value::Groups(g), |a| apply(op, a, b)),
        (Value::Number(a), Value::Groups(g)) => map(Value::Groups(g), |b| apply(op, a, b)),
        (Value::Groups(l), Value::Groups(r)) => {
            let lone = |g: &Groups| {
                (g.len() == 1)
                    .then(|| g.iter().next().map(|(_, v)| v.clone()))
                    .flatten()
            };
            let (l_lone, r_lone) = (lone(&l), lone(&r));
            let keys: Vec<Vec<String>> = if l.len() >= r.len() {
                l.keys().cloned().collect()
            } else {
                r.keys().cloned().collect()
            };
            let mut out = Groups::new();
            for key in keys {
                let (Some(a), Some(b)) = (
                    l.get(&key).or(l_lone.as_ref()),
                    r.get(&key).or(r_lone.as_ref()),
                ) else {
                    continue;
                };
                let pts: BTreeMap<u64, f64> = a
                    .iter()
                    .filter_map(|(t, x)| b.get(t).and_then(|y| apply(op, *x, *y)).map(|v| (*t, v)))
                    .collect();
                out.insert(key, pts);
            }
            Value::Groups(out)
        }
    }
}

fn eval_value(e: &Expr, queries: &BTreeMap<String, Groups>) -> Result<Value, String> {
    Ok(match e {
        Expr::Number(n) => Value::Number(*n),
        Expr::Query(name) => Value::Groups(
            queries
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no query named {name}"))?,
        ),
        Expr::Negate(inner) => map(eval_value(inner, queries)?, |v| Some(-v)),
        Expr::Binary(op, l, r) => combine(*op, eval_value(l, queries)?, eval_value(r, queries)?),
        Expr::Call(name, arg) => {
            let factor = match name.as_str() {
                "per_second" => 1.0,
                "per_minute" => 60.0,
                "per_hour" => 3_600.0,
                "abs" => return Ok(map(eval_value(arg, queries)?, |v| Some(v.abs()))),
                other => return Err(format!("function {other} is not supported by dev")),
            };
            map(eval_value(arg, queries)?, |v| Some(v * factor))
        }
    })
}

/// Evaluates `e` with `queries` (name → groups); a formula without any
/// query gives no series.
pub(crate) fn eval(e: &Expr, queries: &BTreeMap<String, Groups>) -> Result<Groups, String> {
    match eval_value(e, queries)? {
        Value::Groups(g) => Ok(g.into_iter().filter(|(_, pts)| !pts.is_empty()).collect()),
        Value::Number(_) => Ok(Groups::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(entries: &[(&str, &[(u64, f64)])]) -> Groups {
        entries
            .iter()
            .map(|(g, pts)| {
                let key = if g.is_empty() {
                    vec![]
                } else {
                    vec![(*g).to_owned()]
                };
                (key, pts.iter().copied().collect())
            })
            .collect()
    }

    #[test]
    fn evaluates_the_dashboard_s_formulas() {
        let mut q = BTreeMap::new();
        q.insert(
            "query1".to_owned(),
            groups(&[("", &[(10, 1.0), (20, 0.0)])]),
        );
        q.insert(
            "query2".to_owned(),
            groups(&[("", &[(10, 4.0), (20, 0.0)])]),
        );
        let failed = eval(&parse("100 * query1 / query2").expect("parses"), &q).expect("evaluates");
        // 20 divides by zero: no point.
        assert_eq!(failed, groups(&[("", &[(10, 25.0)])]));
        q.insert(
            "query3".to_owned(),
            groups(&[("stage:a", &[(10, 0.5)]), ("stage:b", &[(10, 2.0)])]),
        );
        let per_min = eval(&parse("per_minute(query3)").expect("parses"), &q).expect("evaluates");
        assert_eq!(
            per_min,
            groups(&[("stage:a", &[(10, 30.0)]), ("stage:b", &[(10, 120.0)])])
        );
        let mixed = eval(&parse("-(query3 - query1) * 2").expect("parses"), &q).expect("evaluates");
        assert_eq!(
            mixed,
            groups(&[("stage:a", &[(10, 1.0)]), ("stage:b", &[(10, -2.0)])])
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for bad in [
            "",
            "query1 +",
            "(query1",
            "f(query1",
            "query1 ^ 2",
            "1..2",
            "query1 query2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let e = parse("timeshift(query1)").expect("parses");
        assert!(eval(&e, &BTreeMap::new()).is_err());
    }
}
