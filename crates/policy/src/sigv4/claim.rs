//! What a signed request claims: the `Authorization` header's or the presigned query's
//! credential, signed headers, signature and date, and the headers verification reads by name.

use super::*;

/// All values of a header (lower-case name), joined with commas, each trimmed with inner runs
/// of spaces collapsed; `None` if absent.
pub(super) fn header<'a>(req: &SignedRequest<'a>, name: &str) -> Option<Cow<'a, str>> {
    value_of(req, name, req.headers.find(name))
}

/// [`header`]'s value of a header found already: borrowed when sent once and already
/// canonical (the common case: no copy).
pub(super) fn value_of<'a>(
    req: &SignedRequest<'a>,
    name: &str,
    found: Found<'a>,
) -> Option<Cow<'a, str>> {
    match found {
        Found::Absent => None,
        Found::One(value) if canonical_already(value) => Some(Cow::Borrowed(value)),
        Found::One(_) | Found::Many => {
            let mut bytes = Vec::new();
            write_header_bytes(req, name, &mut bytes);
            // Only text was written: canonical values are ASCII, the others were read as UTF-8.
            Some(Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()))
        }
    }
}

/// The `Authorization` header: as sent when it is the only one (its parts are trimmed as they
/// are read, so its white space needs no rewriting), else [`header`]'s joined value.
pub(super) fn authorization_header<'a>(
    req: &SignedRequest<'a>,
    found: Found<'a>,
) -> Option<Cow<'a, str>> {
    match found {
        Found::Absent => None,
        Found::One(value) => Some(Cow::Borrowed(value)),
        Found::Many => header(req, "authorization"),
    }
}

/// The headers verification reads by name, found in one pass over the request's headers
/// rather than in one pass per name.
pub(super) struct Specials<'a> {
    pub(super) authorization: Found<'a>,
    pub(super) x_amz_date: Found<'a>,
    pub(super) date: Found<'a>,
    pub(super) content_sha256: Found<'a>,
    pub(super) security_token: Found<'a>,
}

impl<'a> Specials<'a> {
    pub(super) fn of(req: &SignedRequest<'a>) -> Specials<'a> {
        match req.headers {
            Headers::Pairs(pairs) => Specials::in_pairs(pairs, Some),
            Headers::Bytes(pairs) => Specials::in_pairs(pairs, |v| std::str::from_utf8(v).ok()),
        }
    }

    fn in_pairs<V: Copy>(
        pairs: &'a [(&'a str, V)],
        text: impl Fn(V) -> Option<&'a str>,
    ) -> Specials<'a> {
        let mut s = Specials {
            authorization: Found::Absent,
            x_amz_date: Found::Absent,
            date: Found::Absent,
            content_sha256: Found::Absent,
            security_token: Found::Absent,
        };
        for &(name, value) in pairs {
            // By length first: most names are none of these.
            let slot = match name.len() {
                4 if name.eq_ignore_ascii_case("date") => &mut s.date,
                10 if name.eq_ignore_ascii_case("x-amz-date") => &mut s.x_amz_date,
                13 if name.eq_ignore_ascii_case("authorization") => &mut s.authorization,
                20 if name.eq_ignore_ascii_case("x-amz-content-sha256") => &mut s.content_sha256,
                20 if name.eq_ignore_ascii_case("x-amz-security-token") => &mut s.security_token,
                _ => continue,
            };
            *slot = match *slot {
                Found::Absent => text(value).map_or(Found::Absent, Found::One),
                Found::One(_) | Found::Many => Found::Many,
            };
        }
        s
    }
}

/// Whether a header value is already canonical: no leading, trailing or repeated white space,
/// no white space but the space, ASCII only. One pass: this runs on every signed header.
pub(super) fn canonical_already(v: &str) -> bool {
    canonical_bytes(v.as_bytes())
}

/// [`canonical_already`] of a value as bytes (a value it accepts is ASCII, so text).
pub(super) fn canonical_bytes(b: &[u8]) -> bool {
    // Most values (dates, hashes, tokens, hosts) hold no space at all: one branch-free pass
    // (vectorized) answers for them.
    if b.iter().fold(true, |ok, &c| ok & (c > b' ') & (c < 0x80)) {
        return true;
    }
    if b.first() == Some(&b' ') || b.last() == Some(&b' ') {
        return false;
    }
    let mut after_space = false;
    for &c in b {
        match c {
            b' ' if after_space => return false,
            b' ' => after_space = true,
            b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | 0x80.. => return false,
            _ => after_space = false,
        }
    }
    true
}

/// Append [`header`]'s value to `out` (nothing when absent), as bytes (the canonical request's
/// buffer): a value already canonical is copied as sent, with no further check; a value that
/// is not UTF-8 is absent.
pub(super) fn write_header_bytes(req: &SignedRequest<'_>, name: &str, out: &mut Vec<u8>) {
    let mut first_value = true;
    req.headers.each_bytes(name, |v| {
        let text = if canonical_bytes(v) {
            None
        } else {
            match std::str::from_utf8(v) {
                Ok(t) => Some(t),
                Err(_) => return,
            }
        };
        if !first_value {
            out.push(b',');
        }
        first_value = false;
        let Some(text) = text else {
            out.extend_from_slice(v);
            return;
        };
        let mut first_word = true;
        for word in text.split_whitespace() {
            if !first_word {
                out.push(b' ');
            }
            first_word = false;
            out.extend_from_slice(word.as_bytes());
        }
    });
}

/// `<access key>/<date>/<region>/<service>/aws4_request` (the access key may hold a `/`).
pub(super) fn parse_credential(credential: &str) -> Option<(&str, &str, &str, &str)> {
    // The last three slashes before `/aws4_request`, found from the end in one backward pass
    // over the short scope (the access key, the only long part, is never scanned).
    let rest = credential.strip_suffix("/aws4_request")?;
    let b = rest.as_bytes();
    let mut slashes = [0usize; 3];
    let mut found = 0;
    let mut i = b.len();
    while found < 3 && i > 0 {
        i -= 1;
        if b[i] == b'/' {
            slashes[found] = i;
            found += 1;
        }
    }
    if found < 3 {
        return None;
    }
    let [s_service, s_region, s_date] = slashes;
    let access_key = &rest[..s_date];
    let date = &rest[s_date + 1..s_region];
    if access_key.is_empty() || date.len() != 8 {
        return None;
    }
    Some((
        access_key,
        date,
        &rest[s_region + 1..s_service],
        &rest[s_service + 1..],
    ))
}

/// SigV4a's `<access key>/<date>/<service>/aws4_request` (no region), with the region `""`.
pub(super) fn parse_credential_v4a(credential: &str) -> Option<(&str, &str, &str, &str)> {
    let (rest, terminal) = credential.rsplit_once('/')?;
    let (rest, service) = rest.rsplit_once('/')?;
    let (access_key, date) = rest.rsplit_once('/')?;
    (terminal == "aws4_request" && !access_key.is_empty() && date.len() == 8)
        .then_some((access_key, date, "", service))
}

/// `s` in lower case, borrowed when it is already.
pub(super) fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

pub(super) fn header_claim<'a>(
    req: &SignedRequest<'a>,
    specials: &Specials<'a>,
    auth: Cow<'a, str>,
) -> Result<Claim<'a>, SigError> {
    // A header as sent (the common case) is borrowed, and so is everything read from it.
    let auth = match auth {
        Cow::Borrowed(a) => a,
        Cow::Owned(a) => return header_claim_owned(req, specials, &a),
    };
    let (rest, asymmetric) = match auth.strip_prefix(ALGORITHM) {
        Some(rest) => (rest, false),
        None => match auth.strip_prefix(sigv4a::ALGORITHM) {
            Some(rest) => (rest, true),
            None => ("", false),
        },
    };
    if rest.is_empty() {
        return Err(SigError::Incomplete(format!(
            "Authorization header requires 'Credential' parameter. Authorization header requires \
             'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. \
             Authorization=\"{auth}\""
        )));
    };
    let (credential, signed, signature) = match usual_parts(rest) {
        Some((c, h, s)) => (Some(c), Some(h), Some(s)),
        None => any_parts(rest),
    };
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if v.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(SigError::Incomplete(format!(
            "{missing}Authorization=\"{auth}\""
        )));
    };
    let scope = if asymmetric {
        parse_credential_v4a(credential)
    } else {
        parse_credential(credential)
    };
    let (access_key, date, region, service) = scope.ok_or_else(|| {
        SigError::Incomplete(if asymmetric {
            format!(
                "Credential should be scoped as <access key>/<date>/<service>/aws4_request. \
                 Authorization=\"{auth}\""
            )
        } else {
            format!("Credential should be scoped to a valid region. Authorization=\"{auth}\"")
        })
    })?;
    let amz_date = match value_of(req, "x-amz-date", specials.x_amz_date) {
        Some(d) => d,
        None => value_of(req, "date", specials.date)
            .and_then(|d| http_date_to_amz(&d))
            .map(Cow::Owned)
            .ok_or_else(|| incomplete_date(false))?,
    };
    Ok(Claim {
        access_key: Cow::Borrowed(access_key),
        date: Cow::Borrowed(date),
        region: Cow::Borrowed(region),
        service: Cow::Borrowed(service),
        signed_headers: lower(signed),
        signature: Cow::Borrowed(signature),
        amz_date,
        presigned: false,
        expires: None,
        security_token: value_of(req, "x-amz-security-token", specials.security_token),
        asymmetric,
    })
}

/// The `Credential=`, `SignedHeaders=` and `Signature=` values of an `Authorization` header
/// (after its algorithm): each part trimmed, a later part of a name overriding an earlier one.
pub(super) fn any_parts(rest: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim_ascii();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    (credential, signed, signature)
}

/// [`any_parts`] of the header as the SDKs write it, ` Credential=<c>, SignedHeaders=<h>,
/// Signature=<64 characters>`, found by position (the signature is the fixed-length tail, one
/// comma separates the other two) rather than by splitting and matching every part; `None`
/// for any other shape, which [`any_parts`] reads. Where it answers, it answers as
/// [`any_parts`] does (a property test holds it to that).
pub(super) fn usual_parts(rest: &str) -> Option<(&str, &str, &str)> {
    let rest = rest.strip_prefix(" Credential=")?;
    let at = rest.len().checked_sub(64)?;
    let signature = rest.get(at..)?;
    // As the last part it is read whole and trimmed: it must hold no comma, and no white
    // space at its ends (the space check first: it is two comparisons).
    if signature.starts_with(|c: char| c.is_ascii_whitespace())
        || signature.ends_with(|c: char| c.is_ascii_whitespace())
        || signature.contains(',')
    {
        return None;
    }
    let head = rest[..at].strip_suffix("Signature=")?;
    let head = head.trim_ascii_end().strip_suffix(',')?;
    let (credential, signed) = head.split_once(',')?;
    let signed = signed.trim_ascii().strip_prefix("SignedHeaders=")?;
    if signed.contains(',') {
        return None;
    }
    Some((credential.trim_ascii_end(), signed, signature))
}

/// [`header_claim`] of a header value that had to be rebuilt (repeated or with extra white
/// space): the claim owns its parts.
pub(super) fn header_claim_owned<'a>(
    req: &SignedRequest<'a>,
    specials: &Specials<'a>,
    auth: &str,
) -> Result<Claim<'a>, SigError> {
    let c = header_claim(req, specials, Cow::Borrowed(auth))?;
    let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
    Ok(Claim {
        access_key: own(c.access_key),
        date: own(c.date),
        region: own(c.region),
        service: own(c.service),
        signed_headers: own(c.signed_headers),
        signature: own(c.signature),
        amz_date: own(c.amz_date),
        presigned: c.presigned,
        expires: c.expires,
        security_token: c.security_token.map(own),
        asymmetric: c.asymmetric,
    })
}

pub(super) fn query_claim(query: &[(String, String)]) -> Result<Claim<'static>, SigError> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut missing = Vec::new();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    ] {
        if get(name).is_none() {
            missing.push(name);
        }
    }
    if !missing.is_empty() {
        return Err(SigError::Incomplete(format!(
            "Query-string authentication version 4 requires the {} parameters.",
            missing.join(", ")
        )));
    }
    let algorithm = get("X-Amz-Algorithm").unwrap_or_default();
    let asymmetric = algorithm == sigv4a::ALGORITHM;
    if algorithm != ALGORITHM && !asymmetric {
        return Err(SigError::Incomplete(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\" and \"AWS4-ECDSA-P256-SHA256\""
                .into(),
        ));
    }
    let credential = get("X-Amz-Credential").unwrap_or_default();
    let scope = if asymmetric {
        parse_credential_v4a(&credential)
    } else {
        parse_credential(&credential)
    };
    let (access_key, date, region, service) = scope.ok_or_else(|| {
        SigError::Incomplete(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; \
             expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                .into(),
        )
    })?;
    let expires = get("X-Amz-Expires")
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or(SigError::BadExpires)?;
    let own = |s: &str| Cow::Owned(s.to_string());
    Ok(Claim {
        access_key: own(access_key),
        date: own(date),
        region: own(region),
        service: own(service),
        signed_headers: Cow::Owned(
            get("X-Amz-SignedHeaders")
                .unwrap_or_default()
                .to_ascii_lowercase(),
        ),
        signature: Cow::Owned(get("X-Amz-Signature").unwrap_or_default()),
        amz_date: Cow::Owned(get("X-Amz-Date").unwrap_or_default()),
        presigned: true,
        expires: Some(expires),
        security_token: get("X-Amz-Security-Token").map(Cow::Owned),
        asymmetric,
    })
}
