//! STS (query protocol, XML answers): GetCallerIdentity.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use snapstack_engine::{Record, Store};
use snapstack_protocol::errors::{AwsError, xml_escape};
use snapstack_service::Handled;
use snapstack_service::RequestContext;

mod service;

pub const NAME: &str = "sts";
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// STS keeps no state of its own yet; the store is registered so the state endpoints know it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StsRecord {
    pub data: String,
}
impl Record for StsRecord {}

pub struct Sts {
    pub store: Arc<Store<StsRecord>>,
}

impl Default for Sts {
    fn default() -> Self {
        Self::new()
    }
}

impl Sts {
    pub fn new() -> Self {
        Sts {
            store: Store::new(NAME),
        }
    }

    /// Handle a query-protocol action with its decoded parameters.
    pub fn handle(
        &self,
        ctx: &RequestContext,
        action: &str,
        _params: &[(String, String)],
    ) -> Result<Handled, AwsError> {
        match action {
            "GetCallerIdentity" => Ok(Handled {
                body: get_caller_identity(ctx),
                content_type: "text/xml",
                write_version: None,
            }),
            other if snapstack_protocol::model::has_operation("sts", other) => Err(AwsError::new(
                "NotImplemented",
                snapstack_protocol::model::not_implemented_message("STS", other),
            )
            .with_status(snapstack_protocol::http::StatusCode::NOT_IMPLEMENTED)),
            other => Err(AwsError::new(
                "InvalidAction",
                format!("Could not find operation {other} for version 2011-06-15"),
            )),
        }
    }
}

fn get_caller_identity(ctx: &RequestContext) -> String {
    let account = ctx.account();
    let arn = format!("arn:aws:iam::{account}:root");
    format!(
        "<GetCallerIdentityResponse xmlns=\"{XMLNS}\"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        xml_escape(&arn),
        xml_escape(account),
        xml_escape(account),
        xml_escape(&ctx.request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_protocol::request::parse_authorization;

    #[test]
    fn caller_identity_names_the_account() {
        let ctx = RequestContext::from_scope(parse_authorization(
            "AWS4-HMAC-SHA256 Credential=111122223333/20240101/us-west-2/sts/aws4_request",
        ));
        let h = Sts::new().handle(&ctx, "GetCallerIdentity", &[]).unwrap();
        assert!(h.body.contains("<Account>111122223333</Account>"));
        assert!(h.body.contains("<Arn>arn:aws:iam::111122223333:root</Arn>"));
        assert_eq!(h.write_version, None);
    }

    #[test]
    fn unknown_actions_are_invalid() {
        let ctx = RequestContext::from_scope(None);
        let e = Sts::new().handle(&ctx, "Nope", &[]).unwrap_err();
        assert_eq!(e.code, "InvalidAction");
    }
}
