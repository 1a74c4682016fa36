//! SQS's query wire names. Botocore's SQS model became JSON-only in late 2023 and lost the
//! traits of its query protocol: the `locationName`s that make the form and XML names
//! (`Attribute.1.Name`, `AttributeName.1`, `<QueueUrl>`, `<Message>`), the `resultWrapper`s,
//! and the query error codes (`AWS.SimpleQueueService.NonExistentQueue`). Query clients still
//! in use (older SDKs, the AWS CLI v1, many tools) speak them, and SQS still answers them.
//!
//! `sqs_query.json` holds exactly those traits, taken from the last query-protocol SQS model
//! botocore shipped (1.31.60): every `locationName`, `flattened`, `resultWrapper` and
//! `error` trait that differs from the current model, for shapes both share. They are laid
//! over the embedded model once.

use std::sync::OnceLock;

use serde_json::Value;

use crate::model::{self, ErrorTrait, ServiceModel};

const OVERLAY: &str = include_str!("sqs_query.json");

/// The embedded SQS model with its query-protocol names, namespace and error codes put back.
/// Its `metadata.protocol` is `query`; `awsQueryCompatible` is kept.
pub fn sqs_query_model() -> &'static ServiceModel {
    static MODEL: OnceLock<ServiceModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut m = model::named("sqs")
            .expect("the SQS model is embedded")
            .clone();
        let overlay: Value = serde_json::from_str(OVERLAY).expect("the SQS overlay parses");
        apply(&mut m, &overlay);
        m
    })
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn apply(m: &mut ServiceModel, overlay: &Value) {
    let meta = &overlay["metadata"];
    if let Some(p) = text(meta, "protocol") {
        m.metadata.protocol = p;
    }
    m.metadata.xml_namespace = text(meta, "xmlNamespace");
    if let Some(wrappers) = overlay["resultWrappers"].as_object() {
        for (op, w) in wrappers {
            if let Some(out) = m.operations.get_mut(op).and_then(|o| o.output.as_mut()) {
                out.result_wrapper = w.as_str().map(str::to_owned);
            }
        }
    }
    let Some(shapes) = overlay["shapes"].as_object() else {
        return;
    };
    for (name, o) in shapes {
        let Some(shape) = m.shapes.get_mut(name) else {
            continue;
        };
        if let Some(n) = text(o, "locationName") {
            shape.location_name = Some(n);
        }
        if o["flattened"].as_bool() == Some(true) {
            shape.flattened = true;
        }
        for (part, r) in [
            ("member", &mut shape.member),
            ("key", &mut shape.key),
            ("value", &mut shape.value),
        ] {
            if let (Some(r), Some(n)) = (r.as_mut(), text(&o[part], "locationName")) {
                r.location_name = Some(n);
            }
        }
        if o["error"].is_object()
            && let Ok(e) = serde_json::from_value::<ErrorTrait>(o["error"].clone())
        {
            shape.error = Some(e);
        }
        if let Some(members) = o["members"].as_object() {
            for (mn, mo) in members {
                if let Some(member) = shape.members.get_mut(mn) {
                    if let Some(n) = text(mo, "locationName") {
                        member.location_name = Some(n);
                    }
                    if mo["flattened"].as_bool() == Some(true) {
                        member.flattened = true;
                    }
                }
            }
        }
    }
}
