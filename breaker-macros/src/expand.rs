//! Code generation: the annotated function, its body run through the runtime.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    parse_quote, Block, Expr, ExprAsync, FnArg, GenericArgument, Item, ItemFn, Pat, PathArguments,
    ReturnType, Stmt, Type, TypeParamBound,
};

use crate::attr::Args;

/// The entry point: parse, check, and write the function; on any error, write the original
/// item plus the error, so that the rest of the crate (and an IDE) still sees the function.
pub(crate) fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => return with_error(item.clone(), not_a_function(item)),
    };
    let mut parsed = Args::default();
    let parser = syn::meta::parser(|meta| parsed.parse_meta(meta));
    if let Err(e) = syn::parse::Parser::parse2(parser, args).and_then(|()| parsed.check()) {
        return with_error(item, e);
    }
    match expand(&parsed, func) {
        Ok(tokens) => tokens,
        Err(e) => with_error(item, e),
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    quote!(#item #error)
}

/// The error for an attribute on something other than a function with a body, pointing at
/// the item's keyword.
fn not_a_function(item: TokenStream) -> syn::Error {
    const MSG: &str = "`#[circuit_breaker]` applies to functions with a body \
                       (free functions and methods), not to this item";
    let span = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(i)) => i.struct_token.span(),
        Ok(Item::Enum(i)) => i.enum_token.span(),
        Ok(Item::Impl(i)) => i.impl_token.span(),
        Ok(Item::Trait(i)) => i.trait_token.span(),
        Ok(Item::Mod(i)) => i.mod_token.span(),
        Ok(Item::Const(i)) => i.const_token.span(),
        Ok(Item::Static(i)) => i.static_token.span(),
        Ok(Item::Type(i)) => i.type_token.span(),
        Ok(Item::Use(i)) => i.use_token.span(),
        Ok(other) => other.span(),
        Err(_) => item
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span()),
    };
    syn::Error::new(span, MSG)
}

/// How the function's body becomes a call through the breaker.
enum Shape {
    /// `async fn`: the body becomes a future.
    Async,
    /// A method already rewritten by `#[async_trait]`: `fn ... -> Pin<Box<dyn Future<Output =
    /// R> + ...>> { Box::pin(async move { ... }) }`. The inner async block is wrapped.
    AsyncTrait,
    /// A plain `fn`: the body becomes a closure.
    Sync,
}

fn expand(args: &Args, mut func: ItemFn) -> syn::Result<TokenStream> {
    let krate: syn::Path = args
        .krate
        .clone()
        .unwrap_or_else(|| parse_quote!(::plexspaces_circuit_breaker));
    let shape = if func.sig.asyncness.is_some() {
        Shape::Async
    } else if async_trait_block(&mut func.block).is_some() {
        Shape::AsyncTrait
    } else {
        Shape::Sync
    };

    // What the body evaluates to: the declared return type, or the `Output` of the boxed
    // future that `#[async_trait]` declares.
    let unit: Type = parse_quote!(());
    let declared = match &func.sig.output {
        ReturnType::Default => &unit,
        ReturnType::Type(_, ty) => &**ty,
    };
    let output = match shape {
        Shape::AsyncTrait => future_output(declared).unwrap_or(declared).clone(),
        Shape::Async | Shape::Sync => declared.clone(),
    };
    let output_span = match &func.sig.output {
        ReturnType::Default => func.sig.ident.span(),
        ReturnType::Type(_, ty) => match shape {
            Shape::AsyncTrait => future_output(ty).map_or_else(|| ty.span(), Spanned::span),
            Shape::Async | Shape::Sync => ty.span(),
        },
    };
    let fallible = is_result(&output);
    if !fallible && args.fallback.is_none() {
        return Err(syn::Error::new(
            output_span,
            format!(
                "`#[circuit_breaker]` returns a rejected call as an `Err`, but this function \
                 returns `{}`: return a `Result` (a type spelled `Result<..>` or \
                 `some::path::Result<..>`), or add `fallback = path` to call instead",
                output.to_token_stream()
            ),
        ));
    }
    if let (Some(classifier), false) = (&args.is_failure, fallible) {
        return Err(syn::Error::new_spanned(
            classifier,
            "`is_failure` classifies the errors of a `Result`, but this function does not \
             return one",
        ));
    }
    let fallback_args = match &args.fallback {
        Some(_) => Some(forwarded_args(&func)?),
        None => None,
    };

    let callsite = callsite(args, &krate, &func);
    let classifier = match &args.is_failure {
        Some(path) => quote!(#path),
        None => quote!(#krate::__private::every_error),
    };
    let awaits = !matches!(shape, Shape::Sync);
    let refused = match (&args.fallback, &fallback_args) {
        (Some(fallback), Some(forwarded)) => {
            let call = quote_spanned!(fallback.span()=> #fallback(#(#forwarded),*));
            let call = if awaits { quote!(#call.await) } else { call };
            quote!({
                let _ = __cb_refused;
                #call
            })
        }
        // Spanned at the return type, so that a missing `From<CircuitBreakerError>` is
        // reported there.
        _ => respan(
            quote!(#krate::__private::refused(__cb_refused)),
            output_span,
        ),
    };
    let run = |body: TokenStream| -> TokenStream {
        if fallible {
            // The runtime's `execute_with` (its steps written out: see `execute_inline`) or
            // `call_with` (taking the body's closure), with the body's `Err` handed back
            // unchanged and a refusal turned into the function's error or its fallback.
            let result = if awaits {
                execute_inline(&krate, &body, &classifier)
            } else {
                quote!(__cb_breaker.call_with(#classifier, #body))
            };
            quote!({
                let __cb_breaker = #callsite;
                match #result {
                    ::core::result::Result::Ok(__cb_value) => ::core::result::Result::Ok(__cb_value),
                    ::core::result::Result::Err(#krate::CircuitBreakerError::Inner(__cb_error)) => {
                        ::core::result::Result::Err(__cb_error)
                    }
                    ::core::result::Result::Err(__cb_refused) => {
                        let __cb_refused = #krate::__private::refusal(__cb_refused);
                        #refused
                    }
                }
            })
        } else {
            let helper = if awaits {
                let wrapped = quote!(async {
                    ::core::result::Result::Ok::<_, ::core::convert::Infallible>(#body.await)
                });
                let every_error = quote!(#krate::__private::every_error);
                let result = execute_inline(&krate, &wrapped, &every_error);
                quote!(#krate::__private::run_result(#result))
            } else {
                quote!(#krate::__private::call_infallible(__cb_breaker, #body))
            };
            quote!({
                let __cb_breaker = #callsite;
                match #helper {
                    #krate::__private::Run::Done(__cb_ret) => __cb_ret,
                    #krate::__private::Run::Refused(__cb_refused) => #refused,
                }
            })
        }
    };

    match shape {
        // before: async fn f(args) -> R { body }
        // after:  async fn f(args) -> R { run(breaker, async { body }).await, or the refusal }
        Shape::Async => {
            let stmts = &func.block.stmts;
            let fake_return = fake_return(&output);
            let body = quote!(async { #fake_return #(#stmts)* });
            let block = run(body);
            func.block = Box::new(parse_quote!({ #block }));
        }
        // before: fn f(args) -> Pin<Box<dyn Future<Output = R>>> { Box::pin(async move { body }) }
        // after:  fn f(args) -> ... { Box::pin(async move { run(breaker, async { body }).await, ... }) }
        Shape::AsyncTrait => {
            let inner = async_trait_block(&mut func.block).expect("checked above");
            let stmts = &inner.block.stmts;
            let body = quote!(async { #(#stmts)* });
            let block = run(body);
            inner.block = parse_quote!({ #block });
        }
        // before: fn f(args) -> R { body }
        // after:  fn f(args) -> R { call(breaker, || -> R { body }), or the refusal }
        Shape::Sync => {
            let stmts = &func.block.stmts;
            let annotation = (!contains_impl_trait(&output)).then(|| quote!(-> #output));
            let body = quote!(|| #annotation { #(#stmts)* });
            let block = run(body);
            func.block = Box::new(parse_quote!({ #block }));
        }
    }
    Ok(func.into_token_stream())
}

/// `__cb_breaker.execute_with(classifier, || body).await`, written out so that its steps run
/// in the annotated function's own state machine (one state machine less per call; the
/// runtime's `execute_with` makes the same steps with the same `__private` pieces).
/// Evaluates to the same `Result<T, CircuitBreakerError<E>>`.
fn execute_inline(krate: &syn::Path, body: &TokenStream, classifier: &TokenStream) -> TokenStream {
    quote!(match __cb_breaker.try_acquire() {
        ::core::result::Result::Err(__cb_rejected) => {
            ::core::result::Result::Err(__cb_rejected.widen())
        }
        ::core::result::Result::Ok(mut __cb_permit) => {
            let mut __cb_future = ::core::pin::pin!(#body);
            match #krate::__private::deadline(&__cb_permit) {
                ::core::option::Option::None => {
                    let __cb_outcome = #krate::__private::Guarded::new(
                        &mut __cb_permit,
                        __cb_future.as_mut(),
                    )
                    .await;
                    #krate::__private::settle(__cb_permit, __cb_outcome, #classifier)
                }
                ::core::option::Option::Some(__cb_deadline) => match #krate::__private::within(
                    __cb_deadline,
                    #krate::__private::Guarded::new(&mut __cb_permit, __cb_future.as_mut()),
                )
                .await
                {
                    ::core::result::Result::Ok(__cb_outcome) => {
                        #krate::__private::settle(__cb_permit, __cb_outcome, #classifier)
                    }
                    ::core::result::Result::Err(_) => ::core::result::Result::Err(
                        #krate::__private::timed_out(__cb_permit),
                    ),
                },
            }
        }
    })
}

/// The lazily initialised static that holds the function's breaker, and the config it is
/// created with on the first call.
fn callsite(args: &Args, krate: &syn::Path, func: &ItemFn) -> TokenStream {
    let base = match &args.config {
        Some(path) => quote!(::core::option::Option::Some(#path())),
        None => quote!(::core::option::Option::None),
    };
    let fn_name = func.sig.ident.to_string();
    let mut sets = Vec::new();
    if let Some(name) = &args.name {
        sets.push(quote!(__cb_config.name = ::std::string::String::from(#name);));
    }
    for (field, _, lit) in &args.numbers {
        let ident = format_ident!("{}", field.field);
        let suffix = if field.wide { "u64" } else { "u32" };
        let lit = syn::LitInt::new(&format!("{}{suffix}", lit.base10_digits()), lit.span());
        sets.push(quote!(__cb_config.#ident = #lit;));
    }
    if let Some((_, multiplier)) = &args.backoff_multiplier {
        let lit = proc_macro2::Literal::f64_suffixed(*multiplier);
        sets.push(quote!(__cb_config.backoff_multiplier = #lit;));
    }
    if let Some((_, variant, _)) = &args.failure_strategy {
        let variant = format_ident!("{}", variant);
        sets.push(quote!(__cb_config.failure_strategy = #krate::FailureStrategy::#variant as i32;));
    }
    if sets.is_empty() {
        sets.push(quote!(let _ = __cb_config;));
    }
    quote!({
        static __CB_CALLSITE: #krate::__private::Callsite = #krate::__private::Callsite::new();
        __CB_CALLSITE.get(|| {
            #krate::__private::config(
                #base,
                ::core::concat!(::core::module_path!(), "::", #fn_name),
                |__cb_config: &mut #krate::CircuitBreakerConfig| { #(#sets)* },
            )
        })
    })
}

/// A statement that pins the async block's output type to `output`, so that `?` and
/// `return` in the body infer as they would in the function itself (tracing-attributes'
/// "fake return edge"). Left out where `output` holds an `impl Trait`, which no `let` may name.
fn fake_return(output: &Type) -> TokenStream {
    if contains_impl_trait(output) {
        return TokenStream::new();
    }
    quote_spanned! {output.span()=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::needless_return,
            clippy::unreachable,
        )]
        if false {
            let __cb_fake_return: #output = loop {};
            return __cb_fake_return;
        }
    }
}

/// The arguments, as expressions that pass them on to the fallback.
fn forwarded_args(func: &ItemFn) -> syn::Result<Vec<TokenStream>> {
    func.sig
        .inputs
        .iter()
        .map(|arg| match arg {
            FnArg::Receiver(r) => Ok(r.self_token.to_token_stream()),
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                    Ok(p.ident.to_token_stream())
                }
                other => Err(syn::Error::new_spanned(
                    other,
                    "with `fallback`, every argument needs a plain name, so that it can be \
                     passed on to the fallback",
                )),
            },
        })
        .collect()
}

/// The `async move { ... }` block of an `#[async_trait]` method: the last expression of the
/// body must be `Box::pin(async move { ... })` (any path ending in `Box::pin`).
fn async_trait_block(block: &mut Block) -> Option<&mut ExprAsync> {
    let Some(Stmt::Expr(Expr::Call(call), None)) = block.stmts.last_mut() else {
        return None;
    };
    let Expr::Path(callee) = &*call.func else {
        return None;
    };
    let segments: Vec<String> = callee
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    if !segments.ends_with(&["Box".to_string(), "pin".to_string()]) || call.args.len() != 1 {
        return None;
    }
    match call.args.first_mut() {
        Some(Expr::Async(inner)) if inner.capture.is_some() => Some(inner),
        _ => None,
    }
}

/// `R` of `Pin<Box<dyn Future<Output = R> + ...>>`.
fn future_output(ty: &Type) -> Option<&Type> {
    match ty {
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            let PathArguments::AngleBracketed(args) = &last.arguments else {
                return None;
            };
            args.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(inner) => future_output(inner),
                _ => None,
            })
        }
        Type::TraitObject(obj) => obj.bounds.iter().find_map(|bound| match bound {
            TypeParamBound::Trait(t) => {
                let last = t.path.segments.last()?;
                if last.ident != "Future" {
                    return None;
                }
                let PathArguments::AngleBracketed(args) = &last.arguments else {
                    return None;
                };
                args.args.iter().find_map(|arg| match arg {
                    GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
                    _ => None,
                })
            }
            _ => None,
        }),
        _ => None,
    }
}

/// `true` if the type is spelled as a `Result`: a path whose last segment is `Result`.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        Type::Path(p) => {
            p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Result")
        }
        _ => false,
    }
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = proc_macro2::TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

fn contains_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_type(&mut finder, ty);
    finder.0
}
