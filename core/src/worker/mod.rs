//! The worker side of the protocol.
