//! Parsing of `#[instrument_run(...)]` arguments.

use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Token};

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct RunArgs {
    /// `pipeline = "..."`, if given (else the function's name).
    pub(crate) pipeline: Option<LitStr>,
    /// `pipeline_id = <expr>`, if given (else a fresh id per call).
    pub(crate) pipeline_id: Option<Expr>,
}

impl Parse for RunArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = RunArgs::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            if key == "pipeline" {
                if args.pipeline.is_some() {
                    return Err(syn::Error::new(
                        key.span(),
                        "`pipeline` is given more than once",
                    ));
                }
                if !input.peek(LitStr) {
                    let bad: proc_macro2::TokenTree = input.parse()?;
                    return Err(syn::Error::new_spanned(
                        bad,
                        "expected a string literal: `pipeline = \"name\"`",
                    ));
                }
                let lit: LitStr = input.parse()?;
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the pipeline name must not be empty",
                    ));
                }
                args.pipeline = Some(lit);
            } else if key == "pipeline_id" {
                if args.pipeline_id.is_some() {
                    return Err(syn::Error::new(
                        key.span(),
                        "`pipeline_id` is given more than once",
                    ));
                }
                args.pipeline_id = Some(input.parse()?);
            } else {
                return Err(syn::Error::new(
                    key.span(),
                    format!(
                        "unknown argument `{key}`; expected `pipeline = \"...\"` or `pipeline_id = <expression>`"
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
