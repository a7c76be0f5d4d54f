//! `#[derive(Module)]` for tapegrad's `nn`: generates the `nn::Module` impl of a struct from its
//! fields, so a user's model never hand-lists its parameters and children.
//!
//! Use it through `nn` (`use nn::Module;` brings both the trait and the derive). What each field
//! becomes is read from its type's last path segment:
//!
//! | field type | becomes |
//! |---|---|
//! | `Parameter<T>` | an own parameter named after the field |
//! | `Option<Parameter<T>>` | an own parameter when `Some` |
//! | `Parameter<T>` with `#[module(buffer)]` | an own buffer (saved, not trained) |
//! | `TrainingFlag` | the module's mode flag |
//! | `Vec<M>` | children `name.0`, `name.1`, … |
//! | `Option<M>` | a child when `Some` |
//! | anything else | a child module named after the field |
//! | any field with `#[module(skip)]` | nothing (plain data: sizes, settings) |
//!
//! The element type is the struct's first type parameter, or the one given with
//! `#[module(element = f64)]` on the struct. The generated `forward` calls the struct's own
//! inherent `fn forward(&self, x: &Tensor<T>) -> nn::Result<Tensor<T>>`, which the user writes.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, GenericArgument, PathArguments, Type, parse_macro_input};

/// Derives `nn::Module` from a struct's fields; see the [crate docs](crate) for the rules.
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// What one field contributes to the impl.
enum Role {
    Skip,
    Param,
    OptionParam,
    Buffer,
    Flag,
    Vec,
    OptionChild,
    Child,
}

/// The last path segment of a type and its first generic argument, if it is a path type.
fn last_segment(ty: &Type) -> Option<(String, Option<&Type>)> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    let inner = match &seg.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    };
    Some((seg.ident.to_string(), inner))
}

/// Reads `#[module(skip)]`, `#[module(buffer)]` on a field.
fn field_flags(attrs: &[syn::Attribute]) -> syn::Result<(bool, bool)> {
    let (mut skip, mut buffer) = (false, false);
    for attr in attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else if meta.path.is_ident("buffer") {
                buffer = true;
                Ok(())
            } else {
                Err(meta.error("expected `skip` or `buffer`"))
            }
        })?;
    }
    Ok((skip, buffer))
}

fn role(ty: &Type, skip: bool, buffer: bool) -> Role {
    if skip {
        return Role::Skip;
    }
    let Some((name, inner)) = last_segment(ty) else { return Role::Child };
    match name.as_str() {
        "Parameter" if buffer => Role::Buffer,
        "Parameter" => Role::Param,
        "TrainingFlag" => Role::Flag,
        "Vec" => Role::Vec,
        "Option" => match inner.and_then(last_segment) {
            Some((n, _)) if n == "Parameter" => Role::OptionParam,
            _ => Role::OptionChild,
        },
        _ => Role::Child,
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(name, "#[derive(Module)] works on structs only"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(name, "#[derive(Module)] needs a struct with named fields"));
    };

    // The element type: `#[module(element = f64)]`, else the first type parameter.
    let mut element: Option<Type> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("element") {
                element = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error("expected `element = <type>`"))
            }
        })?;
    }
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut bounds = TokenStream2::new();
    let elem: Type = match element {
        Some(t) => t,
        None => {
            let Some(tp) = input.generics.type_params().next() else {
                return Err(syn::Error::new_spanned(
                    name,
                    "#[derive(Module)] needs a type parameter for the element type, or #[module(element = f64)]",
                ));
            };
            let ident = &tp.ident;
            bounds = quote! { #ident: ::nn::__tensor_core::Element, };
            syn::parse_quote!(#ident)
        }
    };

    let mut params = Vec::new();
    let mut buffers = Vec::new();
    let mut children = Vec::new();
    let mut flag = None;
    for field in &fields.named {
        let Some(ident) = &field.ident else { continue };
        let key = ident.to_string();
        let (skip, buffer) = field_flags(&field.attrs)?;
        match role(&field.ty, skip, buffer) {
            Role::Skip => {}
            Role::Param => params.push(quote! { out.push((#key.to_string(), self.#ident.clone())); }),
            Role::OptionParam => params.push(quote! {
                if let Some(p) = &self.#ident { out.push((#key.to_string(), p.clone())); }
            }),
            Role::Buffer => buffers.push(quote! { out.push((#key.to_string(), self.#ident.clone())); }),
            Role::Flag => {
                if flag.is_some() {
                    return Err(syn::Error::new_spanned(ident, "only one TrainingFlag field is allowed"));
                }
                flag = Some(quote! { Some(&self.#ident) });
            }
            Role::Vec => children.push(quote! {
                for (i, m) in self.#ident.iter().enumerate() {
                    out.push((format!("{}.{}", #key, i), m as &dyn ::nn::Module<#elem>));
                }
            }),
            Role::OptionChild => children.push(quote! {
                if let Some(m) = &self.#ident { out.push((#key.to_string(), m as &dyn ::nn::Module<#elem>)); }
            }),
            Role::Child => children.push(quote! {
                out.push((#key.to_string(), &self.#ident as &dyn ::nn::Module<#elem>));
            }),
        }
    }
    let flag = flag.unwrap_or_else(|| quote! { None });
    let where_tokens = match where_clause {
        Some(w) => {
            let preds = &w.predicates;
            quote! { where #bounds #preds }
        }
        None => quote! { where #bounds },
    };
    let out_ident = format_ident!("out");
    Ok(quote! {
        impl #impl_generics ::nn::Module<#elem> for #name #ty_generics #where_tokens {
            fn forward(
                &self,
                x: &::nn::__tensor_core::Tensor<#elem>,
            ) -> ::nn::Result<::nn::__tensor_core::Tensor<#elem>> {
                #name::forward(self, x)
            }
            #[allow(clippy::vec_init_then_push)]
            fn own_parameters(&self) -> Vec<(String, ::nn::__tensor_core::Parameter<#elem>)> {
                let mut #out_ident = Vec::new();
                #(#params)*
                #out_ident
            }
            #[allow(clippy::vec_init_then_push)]
            fn own_buffers(&self) -> Vec<(String, ::nn::__tensor_core::Parameter<#elem>)> {
                let mut #out_ident = Vec::new();
                #(#buffers)*
                #out_ident
            }
            #[allow(clippy::vec_init_then_push)]
            fn children(&self) -> Vec<(String, &dyn ::nn::Module<#elem>)> {
                let mut #out_ident: Vec<(String, &dyn ::nn::Module<#elem>)> = Vec::new();
                #(#children)*
                #out_ident
            }
            fn training_flag(&self) -> Option<&::nn::TrainingFlag> {
                #flag
            }
        }
    })
}
