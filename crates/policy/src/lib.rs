//! snapstack-policy: the IAM policy language, its evaluation, and SigV4 verification.
//!
//! - [`Policy::parse`] reads a policy document and validates it as IAM does for its
//!   [`PolicyKind`], answering IAM's `MalformedPolicyDocument` messages ([`PolicyError`]).
//! - [`evaluate`] decides a [`Request`] against a [`PolicySet`] the way AWS documents its
//!   evaluation logic, and names the statements that decided.
//! - [`sigv4`] verifies Signature Version 4 requests (header and presigned forms, S3's chunked
//!   payload signatures).
//!
//! The crate is pure: no I/O, no clock (callers pass the time), no panics on client input.

pub mod condition;
pub mod context;
pub mod document;
pub mod evaluate;
pub mod parse;
pub mod positions;
pub mod sigv4;
pub mod sigv4a;
pub mod wildcard;

pub use context::{Context, ContextValue};
pub use document::{Effect, Policy, PrincipalSpec, PrincipalType, Statement, Version};
pub use evaluate::{
    Caller, Decision, Evaluation, MatchedStatement, NamedPolicy, PolicySet, Request, Source,
    evaluate, principal_context,
};
pub use parse::{PolicyError, PolicyKind, policy_size};
pub use positions::{Position, statement_positions};
