//! Matching a REST request (`rest-xml`, `rest-json`) to exactly one operation of its model.
//!
//! Each operation's `requestUri` is a path template (`/{Bucket}/{Key+}`) and, after `?`, literal
//! query keys that select a sub-resource (`?acl`, `?list-type=2`). Among the operations whose
//! method, path and literal query keys match, the one the request says most about wins: the most
//! literal path segments, then the most literal query keys, then the most of its required query
//! and header members present, then the fewest missing; deprecated twins and S3 Express control
//! operations lose a remaining tie. A request that names a sub-resource (a literal query key of
//! any operation of the model) that the winner does not take is refused: it must never fall
//! through to the plain bucket or object operation.

use std::collections::BTreeSet;

use super::model::ServiceModel;

/// The most path segments a request may have before matching gives up (a greedy label takes the
/// rest without splitting it further).
const MAX_SEGMENTS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Label(String),
    Greedy(String),
}

/// How well a route fits a request: literal path segments, literal query keys, required members
/// present, required members missing (negated), demotion (negated). Higher is better.
type Score = (usize, usize, usize, isize, i8);
/// A route's path labels, raw.
type Labels<'r> = Vec<(&'r str, String)>;

/// One operation's route.
#[derive(Clone, Debug)]
struct Route {
    operation: String,
    method: String,
    path: Vec<Segment>,
    /// Literal query keys, with the value when the template fixes it (`list-type=2`).
    literal_query: Vec<(String, Option<String>)>,
    /// Query keys the operation's input takes (literal ones and querystring members).
    known_query: BTreeSet<String>,
    required_query: Vec<String>,
    /// Lower-case header names.
    required_headers: Vec<String>,
    /// How many path segments are literal (more is more specific).
    literal_segments: usize,
    /// How far a tie demotes this route: 2 for a deprecated twin, plus 1 for an S3 Express
    /// control operation.
    demoted: u8,
}

/// What a request tells the router: method, raw path, decoded query keys, header presence.
pub struct RestRequest<'a> {
    pub method: &'a str,
    /// The path as sent (still percent-encoded), starting with `/`.
    pub path: &'a str,
    /// The query's parameters, decoded.
    pub query: &'a [(String, String)],
    pub has_header: &'a dyn Fn(&str) -> bool,
}

/// The operation a request was matched to, with its path labels (raw, still percent-encoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch<'r> {
    pub operation: &'r str,
    pub labels: Vec<(&'r str, String)>,
}

impl RouteMatch<'_> {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request matched no operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No operation has this path and these sub-resources; `other_methods` lists the methods
    /// that do (empty when the path itself is unknown).
    NoOperation { other_methods: Vec<String> },
    /// The request names a sub-resource (`key`) that the operation it matched does not take.
    UnexpectedSubresource { operation: String, key: String },
    /// The best match lacks a member the model requires (`uploadId` present, `partNumber` not).
    MissingMember { operation: String, member: String },
    /// Two operations match equally well (a model this router cannot tell apart).
    Ambiguous(Vec<String>),
}

/// All routes of one REST service.
#[derive(Clone, Debug)]
pub struct RestRouter {
    routes: Vec<Route>,
    /// Every literal query key of the model: the sub-resource selectors.
    selectors: BTreeSet<String>,
    /// The routes of each method (upper case), in `routes`' order: a request is matched
    /// against its method's routes only.
    by_method: Vec<(String, Vec<usize>)>,
}

fn parse_template(uri: &str) -> (Vec<Segment>, Vec<(String, Option<String>)>) {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let path = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy.to_string()),
                    None => Segment::Label(name.to_string()),
                },
                None => Segment::Literal(s.to_string()),
            },
        )
        .collect();
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (p.to_string(), None),
        })
        .collect();
    (path, query)
}

impl RestRouter {
    /// Build the routes of every operation of a REST model that has an HTTP binding.
    pub fn from_model(model: &ServiceModel) -> Self {
        let mut routes = Vec::with_capacity(model.operations.len());
        let mut selectors = BTreeSet::new();
        for op in model.operations.values() {
            let Some(http) = &op.http else { continue };
            let (path, literal_query) = parse_template(&http.request_uri);
            let mut known_query: BTreeSet<String> =
                literal_query.iter().map(|(k, _)| k.clone()).collect();
            let mut required_query = Vec::new();
            let mut required_headers = Vec::new();
            if let Some(input) = model.input_of(op) {
                for (name, member) in &input.members {
                    let location_name = member.location_name.clone().unwrap_or(name.clone());
                    let required = input.required.iter().any(|r| r == name);
                    match member.location.as_deref() {
                        Some("querystring") => {
                            known_query.insert(location_name.clone());
                            if required {
                                required_query.push(location_name);
                            }
                        }
                        Some("header") if required => {
                            required_headers.push(location_name.to_ascii_lowercase())
                        }
                        _ => {}
                    }
                }
            }
            selectors.extend(literal_query.iter().map(|(k, _)| k.clone()));
            let literal_segments = path
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            routes.push(Route {
                literal_segments,
                operation: op.name.clone(),
                method: http.method.clone(),
                path,
                literal_query,
                known_query,
                required_query,
                required_headers,
                demoted: 2 * u8::from(op.deprecated) + u8::from(op.uses_express_control_endpoint()),
            });
        }
        let mut by_method: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            let m = r.method.to_ascii_uppercase();
            match by_method.iter_mut().find(|(k, _)| *k == m) {
                Some((_, v)) => v.push(i),
                None => by_method.push((m, vec![i])),
            }
        }
        RestRouter {
            routes,
            selectors,
            by_method,
        }
    }

    /// The number of routes (operations with an HTTP binding).
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Match a request to exactly one operation.
    pub fn route<'r>(&'r self, req: &RestRequest<'_>) -> Result<RouteMatch<'r>, RouteError> {
        // (literal segments, literal query keys, required present, -required missing, -demoted)
        let mut best: Option<(Score, &'r Route)> = None;
        let mut tied: Vec<&'r Route> = Vec::new();
        let of_method: &[usize] = self
            .by_method
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(req.method))
            .map_or(&[], |(_, v)| v.as_slice());
        for route in of_method.iter().map(|&i| &self.routes[i]) {
            // Cheapest tests first; labels are taken for the winner only.
            if !sub_resource_matches(route, req)
                || match_path(&route.path, req.path, None).is_none()
            {
                continue;
            }
            let present = route
                .required_query
                .iter()
                .filter(|k| has_query(req, k))
                .count()
                + route
                    .required_headers
                    .iter()
                    .filter(|h| (req.has_header)(h))
                    .count();
            let missing = route.required_query.len() + route.required_headers.len() - present;
            let score = (
                route.literal_segments,
                route.literal_query.len(),
                present,
                -(missing as isize),
                -(route.demoted as i8),
            );
            match &best {
                Some((s, _)) if *s > score => {}
                Some((s, _)) if *s == score => tied.push(route),
                _ => {
                    tied.clear();
                    best = Some((score, route));
                }
            }
        }
        let Some((_, route)) = best else {
            // Which methods this resource does have (for a 405).
            let mut other_methods: Vec<String> = Vec::new();
            for r in &self.routes {
                if sub_resource_matches(r, req)
                    && match_path(&r.path, req.path, None).is_some()
                    && !other_methods.contains(&r.method)
                {
                    other_methods.push(r.method.clone());
                }
            }
            other_methods.sort();
            return Err(RouteError::NoOperation { other_methods });
        };
        if !tied.is_empty() {
            let mut names: Vec<String> = tied.iter().map(|r| r.operation.clone()).collect();
            names.push(route.operation.clone());
            names.sort();
            return Err(RouteError::Ambiguous(names));
        }
        self.finish(route, req)
    }

    /// The chosen route's labels, once the request is checked for a sub-resource the
    /// operation does not take and for members it requires.
    fn finish<'r>(
        &'r self,
        route: &'r Route,
        req: &RestRequest<'_>,
    ) -> Result<RouteMatch<'r>, RouteError> {
        let mut labels = Vec::new();
        match_path(&route.path, req.path, Some(&mut labels));
        if let Some((key, _)) = req
            .query
            .iter()
            .find(|(k, _)| self.selectors.contains(k) && !route.known_query.contains(k))
        {
            return Err(RouteError::UnexpectedSubresource {
                operation: route.operation.clone(),
                key: key.clone(),
            });
        }
        if let Some(member) = route
            .required_query
            .iter()
            .find(|k| !has_query(req, k))
            .or_else(|| route.required_headers.iter().find(|h| !(req.has_header)(h)))
        {
            return Err(RouteError::MissingMember {
                operation: route.operation.clone(),
                member: member.clone(),
            });
        }
        Ok(RouteMatch {
            operation: &route.operation,
            labels,
        })
    }
}

fn has_query(req: &RestRequest<'_>, k: &str) -> bool {
    req.query.iter().any(|(q, _)| q == k)
}

fn query_value<'q>(req: &RestRequest<'q>, k: &str) -> Option<&'q str> {
    req.query
        .iter()
        .find(|(q, _)| q == k)
        .map(|(_, v)| v.as_str())
}

/// Whether the request carries the route's sub-resource selectors (`?acl`, `?x-id=...`).
fn sub_resource_matches(route: &Route, req: &RestRequest<'_>) -> bool {
    route.literal_query.iter().all(|(k, v)| match v {
        Some(v) => query_value(req, k) == Some(v.as_str()),
        None => has_query(req, k),
    })
}

/// Match a raw path against a template; with `labels`, collect the labels' raw (still
/// percent-encoded) text. A trailing `/` after the last segment is allowed (`/bucket/` is the
/// bucket), except where a greedy label takes it (`/bucket/dir/` is the key `dir/`).
fn match_path<'r>(
    template: &'r [Segment],
    path: &str,
    mut labels: Option<&mut Labels<'r>>,
) -> Option<()> {
    let mut rest = path.strip_prefix('/')?;
    for (i, seg) in template.iter().enumerate() {
        if i >= MAX_SEGMENTS {
            return None;
        }
        if let Segment::Greedy(name) = seg {
            if rest.is_empty() {
                return None;
            }
            if let Some(l) = labels.as_deref_mut() {
                l.push((name.as_str(), rest.to_string()));
            }
            rest = "";
            continue;
        }
        let (head, tail) = match rest.split_once('/') {
            Some((h, t)) => (h, Some(t)),
            None => (rest, None),
        };
        if head.is_empty() {
            return None;
        }
        match seg {
            Segment::Literal(l) if l == head => {}
            Segment::Literal(_) => return None,
            Segment::Label(name) => {
                if let Some(l) = labels.as_deref_mut() {
                    l.push((name.as_str(), head.to_string()));
                }
            }
            Segment::Greedy(_) => unreachable!("handled above"),
        }
        rest = tail.unwrap_or("");
    }
    // Only nothing, or one trailing slash, may be left.
    rest.is_empty().then_some(())
}

#[cfg(test)]
mod tests;
