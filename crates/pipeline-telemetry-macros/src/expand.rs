//! Code generation of `#[instrument_stage]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::visit::Visit;
use syn::{ItemFn, LitStr, ReturnType, Type};

use crate::attr::StageArgs;

/// Expands the attribute on `item`.
pub(crate) fn expand(args: StageArgs, item: TokenStream) -> syn::Result<TokenStream> {
    let func: ItemFn = syn::parse2(item.clone()).map_err(|_| {
        let span = item
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span());
        syn::Error::new(span, "#[instrument_stage] can only be applied to functions")
    })?;
    if let Some(c) = &func.sig.constness {
        return Err(syn::Error::new_spanned(
            c,
            "#[instrument_stage] cannot time a `const fn`",
        ));
    }
    let stage = args
        .stage
        .unwrap_or_else(|| LitStr::new(&func.sig.ident.to_string(), func.sig.ident.span()));
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !contains_impl_trait(ty) => Some(ty.clone()),
        _ => None,
    };
    let private = quote!(::pipeline_telemetry::__private);
    let callsite = quote! {
        static __PT_CALLSITE: #private::StageCallsite = #private::StageCallsite::new(#stage);
    };
    let probe_imports = quote! {
        #[allow(unused_imports)]
        use #private::{ProbeAny as _, ProbeDebug as _, ProbeDisplay as _, ProbeOther as _};
    };
    let body = if sig.asyncness.is_some() {
        // Pins the async block's output to the declared return type, so `?`
        // inside it infers as it would in the function itself.
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
            #callsite
            #private::StageFuture::new(
                &__PT_CALLSITE,
                async move { #fake_return #block },
                |__pt_ret| {
                    #probe_imports
                    (&&&#private::Probe(__pt_ret)).__pt_outcome()
                },
            )
            .await
        }
    } else {
        let ascription = ret_ty.as_ref().map(|ty| quote!(: #ty));
        quote! {
            #callsite
            let __pt_guard = #private::StageGuard::start(&__PT_CALLSITE);
            let __pt_ret #ascription = {
                let __pt_entered = __pt_guard.span().enter();
                #[allow(clippy::redundant_closure_call)]
                (move || #block)()
            };
            {
                #probe_imports
                __pt_guard.finish((&&&#private::Probe(&__pt_ret)).__pt_outcome());
            }
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

pub(crate) fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl Visit<'_> for Finder {
        fn visit_type_impl_trait(&mut self, _: &syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut f = Finder(false);
    f.visit_type(ty);
    f.0
}
