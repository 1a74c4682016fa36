//! Who sent a request and where its state lives: the request context every operation gets.

use http::HeaderMap;
use snapstack_engine::Partition;
use snapstack_protocol::request::{
    CredentialScope, account_for_access_key, new_request_id, region_or_default, scope_of_request,
};

/// Who sent a request and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext {
    pub access_key: String,
    pub partition: Partition,
    /// The service named by the signature's scope, if any.
    pub scope_service: Option<String>,
    pub request_id: String,
}

impl RequestContext {
    /// Read the context from the headers (or, for presigned URLs, the query's `X-Amz-Credential`).
    /// SigV2 forms (`Authorization: AWS AKID:signature`, presigned `AWSAccessKeyId=`, as boto3
    /// presigns S3 URLs by default) name the access key but no region or service.
    pub fn from_request(headers: &HeaderMap, query: Option<&str>) -> Self {
        Self::from_scope(scope_of_request(headers, query))
    }

    pub fn from_scope(scope: Option<CredentialScope>) -> Self {
        let (access_key, region, service) = match scope {
            Some(s) => (s.access_key, s.region, Some(s.service)),
            None => (String::new(), String::new(), None),
        };
        let region = region_or_default(region);
        RequestContext {
            partition: Partition::new(account_for_access_key(&access_key), region),
            access_key,
            scope_service: service.filter(|s| !s.is_empty()),
            request_id: new_request_id(),
        }
    }

    pub fn account(&self) -> &str {
        &self.partition.account
    }

    pub fn region(&self) -> &str {
        &self.partition.region
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use snapstack_protocol::request::{
        DEFAULT_ACCOUNT, DEFAULT_REGION, parse_authorization, parse_authorization_v2,
    };

    #[test]
    fn context_defaults_and_presigned_query() {
        let ctx = RequestContext::from_request(&HeaderMap::new(), None);
        assert_eq!(ctx.account(), DEFAULT_ACCOUNT);
        assert_eq!(ctx.region(), DEFAULT_REGION);
        assert_eq!(ctx.scope_service, None);
        let q = "Action=GetCallerIdentity&X-Amz-Credential=222233334444%2F20240101%2Fap-south-1%2Fsts%2Faws4_request";
        let ctx = RequestContext::from_request(&HeaderMap::new(), Some(q));
        assert_eq!(ctx.account(), "222233334444");
        assert_eq!(ctx.region(), "ap-south-1");
        assert_eq!(ctx.scope_service.as_deref(), Some("sts"));
    }

    #[test]
    fn sigv2_header_and_presigned_query_name_the_account() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS 111122223333:c2lnbmF0dXJl".parse().unwrap(),
        );
        let ctx = RequestContext::from_request(&h, None);
        assert_eq!(ctx.account(), "111122223333");
        assert_eq!(ctx.region(), DEFAULT_REGION);
        assert_eq!(ctx.scope_service, None);
        let q = "AWSAccessKeyId=222233334444&Signature=abc%3D&Expires=1700000000";
        let ctx = RequestContext::from_request(&HeaderMap::new(), Some(q));
        assert_eq!(ctx.account(), "222233334444");
        assert_eq!(parse_authorization_v2("AWS :sig"), None);
        assert_eq!(parse_authorization_v2("AWS nocolon"), None);
    }

    #[test]
    fn a_bad_region_falls_back_to_the_default() {
        let h = "AWS4-HMAC-SHA256 Credential=k/d/../ssm/aws4_request";
        let ctx = RequestContext::from_scope(parse_authorization(h));
        assert_eq!(ctx.region(), DEFAULT_REGION);
    }
}
