//! The wire, driven by AWS's own service models: the models themselves ([`model`]) and the
//! matching of REST requests to their operations ([`rest`]). Knows nothing of storage.

pub mod codec;
pub mod model;
pub mod rest;
pub mod validate;
