//! Model-driven wire codecs: each translates between its protocol's wire form and one
//! protocol-neutral value, so a service is written once and spoken in every protocol its model
//! lists.
//!
//! # The neutral value: "JSON shape"
//!
//! A [`serde_json::Value`] laid out as the `json` protocols put it on the wire, keyed by the
//! model's *member names* (never `locationName`, `queryName` or `jsonName`):
//!
//! | model type                     | value                                                 |
//! |--------------------------------|-------------------------------------------------------|
//! | structure, map                 | object (a structure only holds members that are set)  |
//! | list                           | array                                                 |
//! | string, enum                   | string                                                |
//! | boolean                        | bool                                                  |
//! | byte, short, integer, long     | integer number                                        |
//! | float, double                  | number                                                |
//! | timestamp                      | number: seconds since the epoch (fractions allowed)   |
//! | blob (not streaming)           | string: standard base64 with padding                  |
//! | document                       | any JSON value                                        |
//!
//! A streaming blob payload (an S3 object body) is never part of the value: codecs leave it to
//! the caller, streamed.
//!
//! Parsing produces this value from a request and the operation's input shape; serializing
//! writes an output value (or an error) in the protocol the client spoke, with names, locations,
//! namespaces, flattening and timestamp formats from the model.

pub mod cbor;
pub mod eventstream;
pub mod json;
pub mod query;
pub mod rest;
pub mod time;

/// Why a request could not be decoded. `code` and `status` are the error the protocol answers
/// with (for instance `SerializationException` 400 for JSON, `MalformedXML` for rest-xml,
/// `InvalidParameterValue`/`MalformedQueryString` for query).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl CodecError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        CodecError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for CodecError {}

/// Nesting deeper than this in anything a client sends is refused (bounded recursion).
pub const MAX_DEPTH: usize = 64;
