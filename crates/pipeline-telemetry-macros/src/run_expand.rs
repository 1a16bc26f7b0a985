//! Code generation of `#[instrument_run]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{ItemFn, LitStr};

use crate::expand::{declared_return, parse_fn};
use crate::run_attr::RunArgs;

/// Expands the attribute on `item`.
pub(crate) fn expand(args: RunArgs, item: TokenStream) -> syn::Result<TokenStream> {
    let func = parse_fn(item, "instrument_run", "cannot run a `const fn`")?;
    let pipeline = args
        .pipeline
        .unwrap_or_else(|| LitStr::new(&func.sig.ident.to_string(), func.sig.ident.span()));
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ret_ty = declared_return(&sig);
    let private = quote!(::pipeline_telemetry::__private);
    let start = match &args.pipeline_id {
        Some(id) => quote! {
            let __pt_run = ::pipeline_telemetry::PipelineRun::start(#pipeline, &(#id));
        },
        None => quote! {
            let __pt_run = ::pipeline_telemetry::PipelineRun::start(#pipeline, #private::fresh_pipeline_id());
        },
    };
    let ascription = ret_ty.as_ref().map(|ty| quote!(: #ty));
    let end = quote! {
        {
            #[allow(unused_imports)]
            use #private::{ProbeAny as _, ProbeDebug as _, ProbeDisplay as _, ProbeError as _, ProbeOther as _, ProbeTyped as _};
            #private::end_run(__pt_run, (&&&&&#private::Probe(&__pt_ret)).__pt_outcome());
        }
    };
    let body = if sig.asyncness.is_some() {
        let fake_return = ret_ty.as_ref().map(|ty| {
            quote_spanned! {Span::call_site()=>
                #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return)]
                if false {
                    let __pt_fake_return: #ty = loop {};
                    return __pt_fake_return;
                }
            }
        });
        quote! {
            #start
            let __pt_ret #ascription = __pt_run.scope(async move { #fake_return #block }).await;
            #end
            __pt_ret
        }
    } else {
        quote! {
            #start
            #[allow(clippy::redundant_closure_call)]
            let __pt_ret #ascription = __pt_run.in_scope(move || #block);
            #end
            __pt_ret
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}
