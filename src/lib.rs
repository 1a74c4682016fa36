//! snapstack: a local AWS emulator whose state survives restarts.
//!
//! The workspace's crates, as one facade for the binary, the tests and the benchmarks:
//!
//! - [`snapstack_engine`] (re-exported at the root): the persistence engine, which knows nothing
//!   of HTTP or AWS.
//! - [`protocol`]: AWS's service models and the model-driven wire codecs.
//! - [`server`]: the gateway, the service registry, the persistence runtime; its `services`
//!   module names the service crates.
//!
//! How a request travels through them: `docs/ARCHITECTURE.md`.

pub use snapstack_engine::*;
pub use snapstack_protocol as protocol;
pub use snapstack_server as server;
pub use snapstack_server::fuzzing;
