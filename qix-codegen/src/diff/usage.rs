//! Which types travel in requests and which in responses: a change to a type the client only
//! sends is judged differently from one to a type it decodes.

use std::collections::HashMap;

use crate::ir::{Api, TypeDef, TypeRef};

use super::model::Context;

#[derive(Debug, Clone, Copy, Default)]
struct Use {
    request: bool,
    response: bool,
}

/// Request/response reachability of every named type of an API.
#[derive(Debug, Default)]
pub struct Usage {
    by_type: HashMap<String, Use>,
}

impl Usage {
    /// Walks from every method's params (request side) and out-properties (response side)
    /// through struct fields, arrays and aliases.
    pub fn of(api: &Api) -> Usage {
        let mut u = Usage::default();
        for m in api.classes.iter().flat_map(|c| &c.methods) {
            for p in &m.params {
                u.mark(api, &p.ty, true);
            }
            for o in &m.results {
                u.mark(api, &o.ty, false);
            }
        }
        u
    }

    fn mark(&mut self, api: &Api, ty: &TypeRef, request: bool) {
        let mut stack = vec![ty];
        while let Some(t) = stack.pop() {
            match t {
                TypeRef::Array(inner) => stack.push(inner),
                TypeRef::Named(name) => {
                    let entry = self.by_type.entry(name.clone()).or_default();
                    let flag = if request {
                        &mut entry.request
                    } else {
                        &mut entry.response
                    };
                    if *flag {
                        continue;
                    }
                    *flag = true;
                    match api.types.get(name) {
                        Some(TypeDef::Struct(s)) => {
                            stack.extend(s.fields.iter().chain(&s.dynamic).map(|f| &f.ty))
                        }
                        Some(TypeDef::Alias(a)) => stack.push(&a.target),
                        Some(TypeDef::Enum(_)) | None => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// The policy context of a type: `Request`, `Response`, `Both` or `Unused`.
    pub fn context(&self, type_name: &str) -> Context {
        match self.by_type.get(type_name).copied().unwrap_or_default() {
            Use {
                request: true,
                response: true,
            } => Context::Both,
            Use {
                request: true,
                response: false,
            } => Context::Request,
            Use {
                request: false,
                response: true,
            } => Context::Response,
            Use {
                request: false,
                response: false,
            } => Context::Unused,
        }
    }
}
