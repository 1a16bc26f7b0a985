//! Code generation of `#[instrument_stage]`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{FnArg, ItemFn, LitStr, Pat, ReturnType, Signature, Type};

use crate::attr::{BackoffKind, JitterKind, Retry, StageArgs};

/// Expands the attribute on `item`.
pub(crate) fn expand(args: StageArgs, item: TokenStream) -> syn::Result<TokenStream> {
    let func = parse_fn(item, "instrument_stage", "cannot time a `const fn`")?;
    let stage = args
        .stage
        .unwrap_or_else(|| LitStr::new(&func.sig.ident.to_string(), func.sig.ident.span()));
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = func;
    let ret_ty = declared_return(&sig);
    let private = quote!(::pipeline_telemetry::__private);
    let callsite = quote! {
        static __PT_CALLSITE: #private::StageCallsite = #private::StageCallsite::new(#stage);
    };
    let probe_imports = quote! {
        #[allow(unused_imports)]
        use #private::{ProbeAny as _, ProbeDebug as _, ProbeDisplay as _, ProbeError as _, ProbeOther as _, ProbeTyped as _};
    };
    let retry = match &args.retry {
        Some(r) => Some(prepare_retry(r, &mut sig)?),
        None => None,
    };
    let body = if let Some(retry) = retry {
        retry_body(&retry, &sig, &block, &callsite, &probe_imports)
    } else if sig.asyncness.is_some() {
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
                    (&&&&&#private::Probe(__pt_ret)).__pt_outcome()
                },
            )
            .await
        }
    } else {
        let ascription = ret_ty.as_ref().map(|ty| quote!(: #ty));
        quote! {
            #callsite
            let mut __pt_guard = #private::StageGuard::start(&__PT_CALLSITE);
            let __pt_ret #ascription = {
                let __pt_entered = __pt_guard.enter();
                #[allow(clippy::redundant_closure_call)]
                (move || #block)()
            };
            {
                #probe_imports
                __pt_guard.finish((&&&&&#private::Probe(&__pt_ret)).__pt_outcome());
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

/// The function an attribute is applied to; `attr` names the attribute in
/// the errors, spanned at the offending token, and `const_msg` says why a
/// `const fn` cannot take it.
pub(crate) fn parse_fn(item: TokenStream, attr: &str, const_msg: &str) -> syn::Result<ItemFn> {
    let func: ItemFn = syn::parse2(item.clone()).map_err(|_| {
        let span = item
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span());
        syn::Error::new(span, format!("#[{attr}] can only be applied to functions"))
    })?;
    if let Some(c) = &func.sig.constness {
        return Err(syn::Error::new_spanned(c, format!("#[{attr}] {const_msg}")));
    }
    Ok(func)
}

/// The declared return type, unless it hides an `impl Trait` (which cannot
/// be written again in the expansion).
pub(crate) fn declared_return(sig: &Signature) -> Option<Box<Type>> {
    match &sig.output {
        ReturnType::Type(_, ty) if !contains_impl_trait(ty) => Some(ty.clone()),
        _ => None,
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
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

/// What a retried stage's expansion needs, checked against the signature.
struct RetryParts {
    /// An expression of type `&RetryPolicy<E>`.
    policy: TokenStream,
    /// `let x = copy(&x);` per argument: each attempt's own copies.
    copies: Vec<TokenStream>,
    /// The declared return type.
    ret_ty: Box<Type>,
}

/// Checks that `sig` can be retried and builds the policy; strips `mut`
/// from the arguments (each attempt rebinds them).
fn prepare_retry(retry: &Retry, sig: &mut Signature) -> syn::Result<RetryParts> {
    let private = quote!(::pipeline_telemetry::__private);
    let is_async = sig.asyncness.is_some();
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !contains_impl_trait(ty) => ty.clone(),
        ReturnType::Type(_, ty) => {
            return Err(syn::Error::new_spanned(
                ty,
                "a retried stage must return a `Result` named in full, not an `impl Trait`",
            ))
        }
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.ident.span(),
                "a retried stage must return a `Result`: only an `Err` is retried",
            ))
        }
    };
    let mut copies = Vec::new();
    for arg in sig.inputs.iter_mut() {
        match arg {
            FnArg::Receiver(r) => {
                let by_value = r.reference.is_none();
                let mutable = r.mutability.is_some();
                if by_value || (is_async && mutable) {
                    return Err(syn::Error::new_spanned(
                        &*r,
                        "a retried stage runs its body once per attempt: take `&self` here (each attempt cannot consume or exclusively borrow `self`)",
                    ));
                }
            }
            FnArg::Typed(t) => {
                let Pat::Ident(p) = &mut *t.pat else {
                    return Err(syn::Error::new_spanned(
                        &t.pat,
                        "a retried stage needs plain argument names (each attempt gets its own copy of each argument); destructure inside the body",
                    ));
                };
                if p.by_ref.is_some() || p.subpat.is_some() {
                    return Err(syn::Error::new_spanned(
                        &*p,
                        "a retried stage needs plain argument names (each attempt gets its own copy of each argument)",
                    ));
                }
                let mutability = p.mutability.take();
                let ident = &p.ident;
                copies.push(quote_spanned! {t.ty.span()=>
                    let #mutability #ident = #private::RetryArgument::__pt_attempt_copy(&#ident);
                });
            }
        }
    }
    let policy = match retry {
        Retry::Policy(expr) => quote! { &(#expr) },
        Retry::Inline(r) => {
            if let (Some((_, span)), false) = (r.timeout_ms, is_async) {
                return Err(syn::Error::new(
                    span,
                    "`timeout_ms` needs an `async fn`: a blocking body cannot be interrupted",
                ));
            }
            let attempts = r.attempts;
            let base = r.base_ms;
            let dur = quote!(::core::time::Duration::from_millis);
            let jitter = match r.jitter {
                JitterKind::None => quote!(#private::Jitter::None),
                JitterKind::Full => quote!(#private::Jitter::Full),
                JitterKind::Equal => quote!(#private::Jitter::Equal),
            };
            let max = r.max_ms.map(|m| quote!(.with_max(#dur(#m))));
            let backoff = match r.backoff {
                BackoffKind::None => quote!(#private::Backoff::none()),
                BackoffKind::Fixed => {
                    quote!(#private::Backoff::fixed(#dur(#base)).with_jitter(#jitter))
                }
                BackoffKind::Exponential => {
                    quote!(#private::Backoff::exponential(#dur(#base)) #max .with_jitter(#jitter))
                }
            };
            let timeout = r
                .timeout_ms
                .map(|(ms, span)| quote_spanned!(span=> .with_attempt_timeout(#dur(#ms))));
            let new = quote_spanned!(r.span=> #private::RetryPolicy::new(#attempts));
            quote! { &(#new.with_backoff(#backoff) #timeout) }
        }
    };
    Ok(RetryParts {
        policy,
        copies,
        ret_ty,
    })
}

/// The body of a retried stage: the attempts inside the stage's span, each
/// one a fresh call of the original body (a closure for a `fn`, a fresh
/// future for an `async fn`).
fn retry_body(
    retry: &RetryParts,
    sig: &Signature,
    block: &syn::Block,
    callsite: &TokenStream,
    probe_imports: &TokenStream,
) -> TokenStream {
    let private = quote!(::pipeline_telemetry::__private);
    let RetryParts {
        policy,
        copies,
        ret_ty,
    } = retry;
    if sig.asyncness.is_some() {
        let fake_return = quote_spanned! {Span::call_site()=>
            #[allow(unreachable_code, clippy::diverging_sub_expression, clippy::needless_return)]
            if false {
                let __pt_fake_return: #ret_ty = loop {};
                return __pt_fake_return;
            }
        };
        quote! {
            #callsite
            #private::StageFuture::new(
                &__PT_CALLSITE,
                async move {
                    let __pt_policy: &#private::RetryPolicy<_> = #policy;
                    #private::attempts_async(
                        __pt_policy,
                        __PT_CALLSITE.stage(),
                        move |_: #private::Attempt| {
                            #(#copies)*
                            async move { #fake_return #block }
                        },
                    )
                    .await
                },
                |__pt_ret| {
                    #probe_imports
                    (&&&&&#private::Probe(__pt_ret)).__pt_outcome()
                },
            )
            .await
        }
    } else {
        quote! {
            #callsite
            let mut __pt_guard = #private::StageGuard::start(&__PT_CALLSITE);
            let __pt_ret: #ret_ty = {
                let __pt_entered = __pt_guard.enter();
                let __pt_policy: &#private::RetryPolicy<_> = #policy;
                #private::attempts_sync(
                    __pt_policy,
                    __PT_CALLSITE.stage(),
                    |_: #private::Attempt| -> #ret_ty {
                        #(#copies)*
                        #block
                    },
                )
            };
            {
                #probe_imports
                __pt_guard.finish((&&&&&#private::Probe(&__pt_ret)).__pt_outcome());
            }
            __pt_ret
        }
    }
}
