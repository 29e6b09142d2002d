//! Worker configuration, with validated defaults.

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};

/// Longest duration accepted (about 31 years), as for the controller.
const MAX_DURATION_MS: u64 = 1 << 40;

/// Largest batch a source may be told to read at once.
const MAX_POLL_RECORDS: u32 = 1 << 20;

/// The worker's settings. Units are last in the names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerConfig {
    /// Time between two heartbeats to the controller. Keep it well below the controller's
    /// `heartbeat_timeout_ms`. Default 3 s, a tenth of the controller's default timeout.
    pub heartbeat_interval_ms: u64,
    /// Most records one [`crate::worker::WorkerInput::SourceRecords`] may announce.
    /// Default 10 000.
    pub max_poll_records: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            heartbeat_interval_ms: 3_000,
            max_poll_records: 10_000,
        }
    }
}

impl WorkerConfig {
    /// Refuses zero or out-of-range settings, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.heartbeat_interval_ms == 0 {
            return Err(ConfigError::Zero {
                field: "heartbeat_interval_ms",
            });
        }
        if self.heartbeat_interval_ms > MAX_DURATION_MS {
            return Err(ConfigError::TooLarge {
                field: "heartbeat_interval_ms",
                max_ms: MAX_DURATION_MS,
            });
        }
        if self.max_poll_records == 0 {
            return Err(ConfigError::Zero {
                field: "max_poll_records",
            });
        }
        if self.max_poll_records > MAX_POLL_RECORDS {
            return Err(ConfigError::Inconsistent {
                field: "max_poll_records",
                reason: "must be at most 1048576",
            });
        }
        Ok(())
    }
}
