//! The environment, pure and sans-IO: links, stores, the sources' connectors and the seeded
//! outcomes of effects. The world (the simulation build) wires these to the machines; nothing
//! here knows about the executor.

pub mod effects;
pub mod link;
pub mod stores;
pub mod workload;

pub use effects::{Control, Effects, Kill, Outcome};
pub use link::{Arrival, End, Inbox, LinkId, Links, Stamp};
pub use stores::{CheckpointStore, DataViolation, MetadataStore, MissingSnapshot, SinkLedger};
pub use workload::{Partitions, Read};
