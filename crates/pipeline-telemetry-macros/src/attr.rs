//! Parsing of `#[instrument_stage(...)]` arguments.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitBool, LitInt, LitStr, Token};

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct StageArgs {
    /// `stage = "..."`, if given.
    pub(crate) stage: Option<LitStr>,
    /// `retry(...)` or `retry = <expression>`, if given.
    pub(crate) retry: Option<Retry>,
}

/// How a stage is retried.
pub(crate) enum Retry {
    /// `retry(attempts = 3, ...)`.
    Inline(InlineRetry),
    /// `retry = <expression>`: a `RetryPolicy<E>` (or something that
    /// dereferences to one, such as a `LazyLock` static).
    Policy(Box<Expr>),
}

/// The backoff kind of an inline policy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackoffKind {
    Fixed,
    Exponential,
    None,
}

/// The jitter of an inline policy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum JitterKind {
    None,
    Full,
    Equal,
}

/// `retry(attempts = N, backoff = "...", base_ms = .., max_ms = ..,
/// jitter = .., timeout_ms = ..)`.
pub(crate) struct InlineRetry {
    /// The span of the `retry` keyword.
    pub(crate) span: Span,
    pub(crate) attempts: u32,
    pub(crate) backoff: BackoffKind,
    pub(crate) base_ms: u64,
    pub(crate) max_ms: Option<u64>,
    pub(crate) jitter: JitterKind,
    /// The per-attempt timeout and the span of its key.
    pub(crate) timeout_ms: Option<(u64, Span)>,
}

const RETRY_KEYS: &str = "`attempts`, `backoff`, `base_ms`, `max_ms`, `jitter` or `timeout_ms`";

impl Parse for StageArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = StageArgs::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key == "stage" {
                if args.stage.is_some() {
                    return Err(syn::Error::new(
                        key.span(),
                        "`stage` is given more than once",
                    ));
                }
                input.parse::<Token![=]>()?;
                args.stage = Some(parse_stage(input)?);
            } else if key == "retry" {
                if args.retry.is_some() {
                    return Err(syn::Error::new(
                        key.span(),
                        "`retry` is given more than once",
                    ));
                }
                args.retry = Some(parse_retry(&key, input)?);
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown argument `{key}`; expected `stage = \"...\"`, `retry(...)` or `retry = <policy>`"
                    ),
                ));
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

fn parse_stage(input: ParseStream<'_>) -> syn::Result<LitStr> {
    if !input.peek(LitStr) {
        let bad: proc_macro2::TokenTree = input.parse()?;
        return Err(syn::Error::new_spanned(
            bad,
            "expected a string literal: `stage = \"name\"`",
        ));
    }
    let lit: LitStr = input.parse()?;
    if lit.value().trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "the stage name must not be empty",
        ));
    }
    Ok(lit)
}

fn parse_retry(key: &Ident, input: ParseStream<'_>) -> syn::Result<Retry> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        return Ok(Retry::Policy(Box::new(input.parse()?)));
    }
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            key.span(),
            "expected `retry(attempts = 3, ...)` or `retry = <policy expression>`",
        ));
    }
    let content;
    syn::parenthesized!(content in input);
    let mut r = InlineRetry {
        span: key.span(),
        attempts: 0,
        backoff: BackoffKind::Exponential,
        base_ms: 100,
        max_ms: None,
        jitter: JitterKind::Full,
        timeout_ms: None,
    };
    let mut seen: Vec<String> = Vec::new();
    let mut max_lit: Option<LitInt> = None;
    while !content.is_empty() {
        let k: Ident = content.parse()?;
        let name = k.to_string();
        if !matches!(
            name.as_str(),
            "attempts" | "backoff" | "base_ms" | "max_ms" | "jitter" | "timeout_ms"
        ) {
            return Err(syn::Error::new(
                k.span(),
                format!("unknown retry argument `{k}`; expected {RETRY_KEYS}"),
            ));
        }
        if seen.contains(&name) {
            return Err(syn::Error::new(
                k.span(),
                format!("`{k}` is given more than once"),
            ));
        }
        content.parse::<Token![=]>()?;
        match name.as_str() {
            "attempts" => {
                let lit = parse_int(&content, "attempts = 3")?;
                let n: u32 = lit.base10_parse()?;
                if n == 0 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`attempts` counts the first attempt too: it must be at least 1",
                    ));
                }
                r.attempts = n;
            }
            "backoff" => {
                let lit = parse_str(&content, "backoff = \"exponential\"")?;
                r.backoff = match lit.value().as_str() {
                    "exponential" => BackoffKind::Exponential,
                    "fixed" => BackoffKind::Fixed,
                    "none" => BackoffKind::None,
                    other => {
                        return Err(syn::Error::new(
                            lit.span(),
                            format!("unknown backoff \"{other}\"; expected \"exponential\", \"fixed\" or \"none\""),
                        ))
                    }
                };
            }
            "base_ms" => r.base_ms = parse_int(&content, "base_ms = 100")?.base10_parse()?,
            "max_ms" => {
                let lit = parse_int(&content, "max_ms = 2000")?;
                r.max_ms = Some(lit.base10_parse()?);
                max_lit = Some(lit);
            }
            "jitter" => r.jitter = parse_jitter(&content)?,
            _ => {
                let lit = parse_int(&content, "timeout_ms = 5000")?;
                let ms: u64 = lit.base10_parse()?;
                if ms == 0 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`timeout_ms` must be at least 1",
                    ));
                }
                r.timeout_ms = Some((ms, k.span()));
            }
        }
        seen.push(name);
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    if r.attempts == 0 {
        return Err(syn::Error::new(
            key.span(),
            "`retry(...)` needs `attempts = N` (the number of attempts, the first included)",
        ));
    }
    if let (Some(max), Some(lit)) = (r.max_ms, max_lit) {
        if max < r.base_ms {
            return Err(syn::Error::new(
                lit.span(),
                format!("`max_ms` ({max}) is below `base_ms` ({})", r.base_ms),
            ));
        }
    }
    Ok(Retry::Inline(r))
}

fn parse_int(input: ParseStream<'_>, example: &str) -> syn::Result<LitInt> {
    if !input.peek(LitInt) {
        let bad: proc_macro2::TokenTree = input.parse()?;
        return Err(syn::Error::new_spanned(
            bad,
            format!("expected an integer literal: `{example}`"),
        ));
    }
    input.parse()
}

fn parse_str(input: ParseStream<'_>, example: &str) -> syn::Result<LitStr> {
    if !input.peek(LitStr) {
        let bad: proc_macro2::TokenTree = input.parse()?;
        return Err(syn::Error::new_spanned(
            bad,
            format!("expected a string literal: `{example}`"),
        ));
    }
    input.parse()
}

fn parse_jitter(input: ParseStream<'_>) -> syn::Result<JitterKind> {
    if input.peek(LitBool) {
        let b: LitBool = input.parse()?;
        return Ok(if b.value {
            JitterKind::Full
        } else {
            JitterKind::None
        });
    }
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        return match lit.value().as_str() {
            "full" => Ok(JitterKind::Full),
            "equal" => Ok(JitterKind::Equal),
            "none" => Ok(JitterKind::None),
            other => Err(syn::Error::new(
                lit.span(),
                format!("unknown jitter \"{other}\"; expected true, false, \"full\", \"equal\" or \"none\""),
            )),
        };
    }
    let bad: proc_macro2::TokenTree = input.parse()?;
    Err(syn::Error::new_spanned(
        bad,
        "expected `jitter = true`, `false`, \"full\", \"equal\" or \"none\"",
    ))
}
