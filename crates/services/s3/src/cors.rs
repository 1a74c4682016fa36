//! CORS: a bucket's `CORSConfiguration` checked as S3 checks it when it is put, the answer to a
//! browser's preflight `OPTIONS` request, and the CORS headers of an actual request from an
//! allowed origin.
//!
//! The configuration is stored as the document sent (GetBucketCors gives it back as it came) and
//! read into rules when a request carries an `Origin`. As S3 answers:
//! - a preflight without `Origin` is 400 `BadRequest`; for a bucket that does not exist, or has no
//!   configuration, or whose rules allow neither the origin, the requested method nor every
//!   requested header, it is 403 `AccessForbidden` naming the method and resource type;
//! - an actual request is never refused for CORS: from an allowed origin it carries the CORS
//!   headers (on errors too), from another it carries none. Its headers are not checked, and
//!   `Access-Control-Request-Method`, when sent, stands for its method.

use snapstack_protocol::http::request::Parts;
use snapstack_protocol::http::{HeaderMap, Method, StatusCode};
use snapstack_protocol::response::Response;

use super::headers::{header, set};
use super::model::{S3Record, keys};
use super::xml::{self, Node};
use super::{S3, S3Error, S3Result, empty, routing};
use snapstack_service::RequestContext;

/// The methods a rule may allow.
const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];
const MAX_RULES: usize = 100;
const VARY: &str = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

/// One `CORSRule`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Rule {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub max_age: Option<i64>,
}

fn malformed() -> S3Error {
    S3Error::bad(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// Read and check a `CORSConfiguration` document as PutBucketCors does.
pub(super) fn parse(doc: &[u8]) -> S3Result<Vec<Rule>> {
    let n = xml::parse(doc).map_err(|e| S3Error::bad("MalformedXML", e))?;
    if n.name != "CORSConfiguration" {
        return Err(malformed());
    }
    let rules: Vec<&Node> = n.all("CORSRule").collect();
    if rules.is_empty() || rules.len() > MAX_RULES {
        return Err(malformed());
    }
    rules.into_iter().map(rule).collect()
}

fn rule(n: &Node) -> S3Result<Rule> {
    let texts =
        |name: &str| -> Vec<String> { n.all(name).map(|c| c.text.trim().to_string()).collect() };
    let r = Rule {
        origins: texts("AllowedOrigin"),
        methods: texts("AllowedMethod"),
        headers: texts("AllowedHeader"),
        expose: texts("ExposeHeader"),
        max_age: match n.text_of("MaxAgeSeconds") {
            Some(s) => Some(s.parse().map_err(|_| malformed())?),
            None => None,
        },
    };
    if r.origins.is_empty() || r.methods.is_empty() {
        return Err(malformed());
    }
    if let Some(m) = r.methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
        return Err(S3Error::bad(
            "InvalidRequest",
            format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}"),
        ));
    }
    if let Some(o) = r.origins.iter().find(|o| o.matches('*').count() > 1) {
        return Err(S3Error::bad(
            "InvalidRequest",
            format!("AllowedOrigin \"{o}\" can not have more than one wildcard."),
        ));
    }
    Ok(r)
}

/// `pattern` with `*` standing for any run of characters (none included) matches `s`.
fn glob(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = parts.collect();
    let Some(last) = pieces.pop() else {
        return rest.is_empty(); // no `*`: an exact match
    };
    for p in pieces {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Rule {
    fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| glob(o, origin))
    }

    /// A requested header (lowercase) is allowed by one `AllowedHeader`, without regard to case.
    fn allows_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|h| glob(&h.to_ascii_lowercase(), name))
    }

    /// The CORS headers this rule answers `origin` with (`Access-Control-Allow-Headers` aside).
    fn apply(&self, origin: &str, h: &mut HeaderMap) {
        if self.origins.iter().any(|o| o == "*") {
            set(h, "access-control-allow-origin", "*");
        } else {
            set(h, "access-control-allow-origin", origin);
            set(h, "access-control-allow-credentials", "true");
        }
        set(h, "access-control-allow-methods", &self.methods.join(", "));
        if !self.expose.is_empty() {
            set(h, "access-control-expose-headers", &self.expose.join(", "));
        }
        if let Some(age) = self.max_age {
            set(h, "access-control-max-age", &age.to_string());
        }
        set(h, "vary", VARY);
    }
}

/// The requested header names (`Access-Control-Request-Headers`), lowercase, in order.
fn requested_headers(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The first rule allowing `origin`, `method` and every one of `headers`.
pub(super) fn find<'r>(
    rules: &'r [Rule],
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'r Rule> {
    rules.iter().find(|r| {
        r.allows_origin(origin)
            && r.methods.iter().any(|m| m == method)
            && headers.iter().all(|h| r.allows_header(h))
    })
}

fn forbidden(message: &str, method: &str, resource: &str) -> S3Error {
    S3Error::new(StatusCode::FORBIDDEN, "AccessForbidden", message)
        .with("Method", method)
        .with("ResourceType", resource)
}

impl S3 {
    /// A bucket's CORS rules (`None` when the bucket does not exist, empty without a
    /// configuration).
    fn cors_rules(&self, account: &str, bucket: &str) -> Option<Vec<Rule>> {
        match self.store.snapshot().get(&keys::bucket(account, bucket)) {
            Some(S3Record::Bucket(b)) => Some(
                b.cors
                    .as_deref()
                    .and_then(|doc| parse(doc.as_bytes()).ok())
                    .unwrap_or_default(),
            ),
            _ => None,
        }
    }

    /// Answer an `OPTIONS` request (a CORS preflight) to a bucket or object path.
    pub(super) fn preflight(&self, ctx: &RequestContext, parts: &Parts) -> Response {
        let mut response = match self.preflight_result(ctx, parts) {
            Ok(r) => r,
            Err(e) => e.into_response(&ctx.request_id, false),
        };
        set(response.headers_mut(), "x-amz-request-id", &ctx.request_id);
        response
    }

    fn preflight_result(&self, ctx: &RequestContext, parts: &Parts) -> S3Result<Response> {
        let h = &parts.headers;
        let Some(origin) = header(h, "origin") else {
            return Err(S3Error::bad(
                "BadRequest",
                "Insufficient information. Origin request header needed.",
            ));
        };
        let requested = header(h, "access-control-request-method");
        let method = requested.unwrap_or("OPTIONS");
        let raw = parts.uri.path();
        let path = match routing::virtual_host_bucket(h) {
            Some(b) => format!("{b}/{}", raw.trim_start_matches('/')),
            None => raw.trim_start_matches('/').to_string(),
        };
        let (bucket, key) = path.split_once('/').unwrap_or((&path, ""));
        let bucket = routing::decode_strict(bucket)?;
        let rules = (!bucket.is_empty())
            .then(|| self.cors_rules(&ctx.partition.account, &bucket))
            .flatten();
        let Some(rules) = rules else {
            return Err(forbidden(
                "CORSResponse: Bucket not found",
                method,
                "BUCKET",
            ));
        };
        if rules.is_empty() {
            return Err(forbidden(
                "CORSResponse: CORS is not enabled for this bucket.",
                method,
                "BUCKET",
            ));
        }
        let resource = if key.is_empty() { "BUCKET" } else { "OBJECT" };
        let headers = requested_headers(header(h, "access-control-request-headers"));
        let rule = requested.and_then(|m| find(&rules, origin, m, &headers));
        let Some(rule) = rule else {
            return Err(forbidden(NOT_ALLOWED, method, resource));
        };
        let mut resp = empty(StatusCode::OK);
        rule.apply(origin, resp.headers_mut());
        if !headers.is_empty() {
            set(
                resp.headers_mut(),
                "access-control-allow-headers",
                &headers.join(", "),
            );
        }
        Ok(resp)
    }

    /// Add the CORS headers to the response of an actual request from an allowed origin.
    pub(super) fn cors_actual(
        &self,
        ctx: &RequestContext,
        method: &Method,
        headers: &HeaderMap,
        bucket: Option<&str>,
        response: &mut Response,
    ) {
        let (Some(origin), Some(bucket)) = (header(headers, "origin"), bucket) else {
            return;
        };
        let Some(rules) = self.cors_rules(&ctx.partition.account, bucket) else {
            return;
        };
        let method = header(headers, "access-control-request-method").unwrap_or(method.as_str());
        if let Some(rule) = find(&rules, origin, method, &[]) {
            rule.apply(origin, response.headers_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> Rule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        Rule {
            origins: v(origins),
            methods: v(methods),
            headers: v(headers),
            ..Rule::default()
        }
    }

    #[test]
    fn origins_match_exactly_or_around_one_wildcard() {
        assert!(glob("https://a.com", "https://a.com"));
        assert!(!glob("https://a.com", "https://a.com/"));
        assert!(!glob("https://a.com", "http://a.com"));
        assert!(glob("*", "anything"));
        assert!(glob("*", ""));
        assert!(glob("http://*.origin.com", "http://test.origin.com"));
        assert!(glob("http://*.origin.com", "http://a.b.origin.com"));
        assert!(!glob("http://*.origin.com", "http://test.origin.com/"));
        assert!(!glob("http://*.origin.com", "https://test.origin.com"));
        // The prefix and the suffix must not overlap.
        assert!(!glob("ab*ba", "aba"));
        assert!(glob("ab*ba", "abba"));
        assert!(glob("x-amz-*", "x-amz-date"));
        assert!(glob("*-a-*", "x-a-y"));
    }

    #[test]
    fn the_first_rule_allowing_origin_method_and_headers_wins() {
        let rules = vec![
            rule(
                &["https://app.example"],
                &["GET", "PUT"],
                &["x-amz-*", "Content-Type"],
            ),
            rule(&["*"], &["GET"], &[]),
        ];
        let h = |s: &str| requested_headers(Some(s));
        let first = find(
            &rules,
            "https://app.example",
            "PUT",
            &h("X-AMZ-Date, content-type"),
        );
        assert_eq!(first, Some(&rules[0]));
        // A header the first rule does not allow; the second allows none.
        assert_eq!(
            find(&rules, "https://app.example", "PUT", &h("authorization")),
            None
        );
        assert_eq!(find(&rules, "https://other", "GET", &[]), Some(&rules[1]));
        assert_eq!(find(&rules, "https://other", "GET", &h("x-amz-date")), None);
        assert_eq!(find(&rules, "https://other", "DELETE", &[]), None);
        // Method names are case-sensitive, as HTTP's are.
        assert_eq!(find(&rules, "https://other", "get", &[]), None);
        assert_eq!(h(" A ,b,, C"), vec!["a", "b", "c"]);
    }

    #[test]
    fn a_configuration_is_checked_as_s3_checks_it() {
        let doc = |rules: &str| format!("<CORSConfiguration>{rules}</CORSConfiguration>");
        let ok = parse(
            doc(
                "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>\
                 <AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>\
                 <MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>",
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(ok[0].max_age, Some(3000));
        assert_eq!(ok[0].expose, vec!["ETag"]);
        let code = |d: String| parse(d.as_bytes()).unwrap_err();
        assert_eq!(code(doc("")).code, "MalformedXML");
        assert_eq!(code(doc("<CORSRule/>")).code, "MalformedXML");
        let no_origin = code(doc(
            "<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>",
        ));
        assert_eq!(no_origin.code, "MalformedXML");
        let bad = code(doc(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>OPTIONS</AllowedMethod></CORSRule>",
        ));
        assert_eq!(bad.code, "InvalidRequest");
        assert_eq!(
            bad.message,
            "Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS"
        );
        let two = code(doc(
            "<CORSRule><AllowedOrigin>*a*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>",
        ));
        assert_eq!(
            two.message,
            "AllowedOrigin \"*a*.com\" can not have more than one wildcard."
        );
        let one = "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>";
        assert_eq!(parse(doc(&one.repeat(100)).as_bytes()).unwrap().len(), 100);
        assert_eq!(code(doc(&one.repeat(101))).code, "MalformedXML");
        assert_eq!(code("<Other/>".to_string()).code, "MalformedXML");
    }
}
