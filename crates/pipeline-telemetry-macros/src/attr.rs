//! Parsing of `#[instrument_stage(...)]` arguments.

use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct StageArgs {
    /// `stage = "..."`, if given.
    pub(crate) stage: Option<LitStr>,
}

impl Parse for StageArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = StageArgs::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key != "stage" {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown argument `{key}`; expected `stage = \"...\"`"),
                ));
            }
            if args.stage.is_some() {
                return Err(syn::Error::new(
                    key.span(),
                    "`stage` is given more than once",
                ));
            }
            input.parse::<Token![=]>()?;
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
            args.stage = Some(lit);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
