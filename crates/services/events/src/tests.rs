//! Unit tests of the operations and the outbox.
