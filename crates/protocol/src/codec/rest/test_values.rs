//! Test helper: random neutral values of a model's shapes, fit for where each member travels
//! (header text is visible ASCII, labels are not empty, lists and maps that would vanish on the
//! wire when empty are not).

use base64::Engine;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::model::ServiceModel;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ctx {
    Body,
    Header,
    HeaderList,
    Query,
    Label,
}

fn arb_string(ctx: Ctx) -> BoxedStrategy<Value> {
    let re = match ctx {
        Ctx::Body => "[a-zA-Z0-9 &<>\"'./\u{e9}\u{1F600}\n\t-]{0,10}",
        Ctx::Header => "([!-\\[\\]-~]([ !-\\[\\]-~]{0,8}[!-\\[\\]-~])?)?",
        Ctx::HeaderList => "[!-\\[\\]-~]([ !-\\[\\]-~]{0,8}[!-\\[\\]-~])?",
        Ctx::Query => "[a-zA-Z0-9 &=+/%\u{e9}?#]{0,10}",
        Ctx::Label => "[a-zA-Z0-9 &=+/%\u{e9}?#._~-]{1,10}",
    };
    re.prop_map(Value::String).boxed()
}

pub fn arb(model: &'static ServiceModel, name: &str, ctx: Ctx, depth: u32) -> BoxedStrategy<Value> {
    let s = model.shape(name).unwrap();
    match s.kind.as_str() {
        "structure" => {
            let mut members: Vec<(String, BoxedStrategy<Option<Value>>)> = Vec::new();
            for (n, m) in &s.members {
                let ms = model.shape(&m.shape).unwrap();
                if ms.streaming || m.streaming || depth > 5 {
                    continue;
                }
                let (ctx, required) = match m.location.as_deref() {
                    Some("uri") => (Ctx::Label, true),
                    Some("header") if ms.kind == "list" => (Ctx::HeaderList, false),
                    Some("header" | "headers") => (Ctx::Header, false),
                    Some("querystring") => (Ctx::Query, false),
                    _ => (ctx, false),
                };
                let strat = if m.location.as_deref() == Some("headers") {
                    prop::collection::btree_map("[a-z0-9]{1,6}", arb_string(Ctx::Header), 1..3)
                        .prop_map(|m| Value::Object(m.into_iter().collect()))
                        .boxed()
                } else if m.location.as_deref() == Some("querystring") && ms.kind == "map" {
                    prop::collection::btree_map("qk[a-z]{1,4}", arb_string(Ctx::Query), 1..3)
                        .prop_map(|m| Value::Object(m.into_iter().collect()))
                        .boxed()
                } else {
                    let flattened = m.flattened || ms.flattened;
                    arb_member(
                        model,
                        &m.shape,
                        ctx,
                        depth + 1,
                        flattened || ctx != Ctx::Body,
                    )
                };
                // Payloads always: they are what the body tests are about.
                let payload_struct = s.payload.as_deref() == Some(n.as_str());
                members.push((
                    n.clone(),
                    if required || payload_struct {
                        strat.prop_map(Some).boxed()
                    } else {
                        prop::option::of(strat).boxed()
                    },
                ));
            }
            let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
            let strats: Vec<_> = members.into_iter().map(|(_, s)| s).collect();
            strats
                .prop_map(move |vals| {
                    let mut out = Map::new();
                    for (n, v) in names.iter().zip(vals) {
                        if let Some(v) = v {
                            out.insert(n.clone(), v);
                        }
                    }
                    Value::Object(out)
                })
                .boxed()
        }
        _ => arb_member(model, name, ctx, depth, ctx != Ctx::Body),
    }
}

/// A value of a shape; `non_empty` lists and maps (flattened ones, and any outside a body,
/// vanish when empty).
fn arb_member(
    model: &'static ServiceModel,
    name: &str,
    ctx: Ctx,
    depth: u32,
    non_empty: bool,
) -> BoxedStrategy<Value> {
    let s = model.shape(name).unwrap();
    let min = usize::from(non_empty);
    match s.kind.as_str() {
        "structure" => arb(model, name, ctx, depth),
        "list" => {
            let item = arb(model, &s.member.as_ref().unwrap().shape, ctx, depth + 1);
            prop::collection::vec(item, min..3)
                .prop_map(Value::Array)
                .boxed()
        }
        "map" => {
            let value = arb(model, &s.value.as_ref().unwrap().shape, ctx, depth + 1);
            prop::collection::btree_map("[a-zA-Z0-9]{1,6}", value, min..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
                .boxed()
        }
        "string" => arb_string(ctx),
        "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
        "byte" => any::<i8>().prop_map(Value::from).boxed(),
        "short" => any::<i16>().prop_map(Value::from).boxed(),
        "integer" => any::<i32>().prop_map(Value::from).boxed(),
        "long" => any::<i64>().prop_map(Value::from).boxed(),
        // Short decimals: serde_json (without its float_roundtrip feature) may read the last
        // digit of a 17-digit float one ULP off.
        "float" | "double" => any::<i32>()
            .prop_map(|n| Value::from(f64::from(n) / 8.0))
            .boxed(),
        "timestamp" => (0i64..4_102_444_800).prop_map(Value::from).boxed(),
        // Not empty: an empty blob payload is no body, which is absence.
        "blob" => prop::collection::vec(any::<u8>(), 1..8)
            .prop_map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b)))
            .boxed(),
        _ => Just(json!({"d": 1})).boxed(),
    }
}
