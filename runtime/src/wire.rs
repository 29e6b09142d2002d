//! The wire protocol: postcard frames inside length-delimited TCP frames (a 4-byte big-endian
//! length, then the bytes).
//!
//! Every connection — a worker's control connection to the controller, a data connection
//! between two workers, an admin client's — opens with a [`Hello`] carrying [`PROTOCOL`] and the
//! run's secret token, in a frame of at most [`HELLO_MAX_BYTES`], within
//! [`GREETING_TIMEOUT_MS`]. Only after the receiver accepts it does the limit rise to
//! [`FRAME_MAX_BYTES`]. postcard encodes enum variants by index: variants may only be added at
//! the end of an enum, and the golden-bytes tests below fail when an encoding changes.

use bytes::Bytes;
use quiesce_core::worker::{Channel, Item};
use quiesce_core::{
    Epoch, FromWorker, Generation, Job, State, StopMode, ToWorker, WorkerConfig, WorkerId,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;
use tokio_util::codec::LengthDelimitedCodec;

/// The protocol version, the first field of every greeting.
pub const PROTOCOL: u16 = 1;
/// The largest frame accepted before the peer has authenticated.
pub const HELLO_MAX_BYTES: usize = 4 * 1024;
/// The largest frame accepted after.
pub const FRAME_MAX_BYTES: usize = 1024 * 1024;
/// How long a new connection may take to greet.
pub const GREETING_TIMEOUT_MS: u64 = 2_000;
/// The length of the run's secret token.
pub const TOKEN_BYTES: usize = 32;

/// The run's secret: handed to the workers the scheduler starts and to `quiesce stop` (through
/// a file only the owner can read), never printed.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token(pub [u8; TOKEN_BYTES]);

impl Token {
    /// A fresh random token.
    pub fn random() -> std::io::Result<Token> {
        let mut bytes = [0; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Token(bytes))
    }

    /// Compares in constant time: how much of a guess matches must not show in the timing.
    pub fn matches(&self, other: &Token) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// Lower-case hex, for the environment and the control file.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`Token::to_hex`]'s form.
    pub fn from_hex(hex: &str) -> Result<Token, String> {
        let hex = hex.trim();
        if hex.len() != TOKEN_BYTES * 2 || !hex.is_ascii() {
            return Err(format!("a token is {} hex digits", TOKEN_BYTES * 2));
        }
        let mut bytes = [0; TOKEN_BYTES];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| "a token is hex digits only".to_string())?;
        }
        Ok(Token(bytes))
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

/// Who opens a connection, as its greeting claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Peer {
    /// A worker's control connection to the controller; `data` is where it takes data
    /// connections from its peers.
    Worker {
        /// Its slot.
        worker: WorkerId,
        /// Its generation.
        generation: Generation,
        /// Its data listener.
        data: SocketAddr,
    },
    /// A data connection from worker `from` of `generation` to another worker of it.
    Data {
        /// The sending worker.
        from: WorkerId,
        /// Its generation.
        generation: Generation,
    },
    /// `quiesce stop`, asking the controller to stop the job.
    Admin,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Worker {
                worker, generation, ..
            } => write!(f, "worker {worker} of {generation}"),
            Peer::Data { from, generation } => write!(f, "data from {from} of {generation}"),
            Peer::Admin => write!(f, "admin"),
        }
    }
}

/// The first frame on every connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL`].
    pub protocol: u16,
    /// The run's token.
    pub token: Token,
    /// Who is calling.
    pub peer: Peer,
}

/// How a worker's sources produce records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceConfig {
    /// Records per second each source partition yields.
    pub records_per_sec: u32,
    /// How often a source reads, in milliseconds.
    pub read_every_ms: u64,
}

/// What the controller tells a worker once every worker of its generation has greeted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assign {
    /// The job.
    pub job: Job,
    /// The worker machine's configuration.
    pub config: WorkerConfig,
    /// The checkpoint to restore from.
    pub restore: Option<Epoch>,
    /// Every worker of the generation and its data listener.
    pub peers: Vec<(WorkerId, SocketAddr)>,
    /// How the sources produce.
    pub sources: SourceConfig,
}

/// One item on a data connection; its generation is the connection's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataItem {
    /// The channel it travels on.
    pub channel: Channel,
    /// Its number on the channel.
    pub seq: u64,
    /// What it carries.
    pub item: Item,
}

/// Everything sent on any connection. Append new variants at the end only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The greeting.
    Hello(Hello),
    /// The greeting is accepted.
    Welcome,
    /// Refused; the sender closes the connection.
    Refused {
        /// Why, for people.
        reason: String,
    },
    /// Controller → worker: the job, peers and restore point.
    Assign(Assign),
    /// Controller → worker: a command of the core.
    ToWorker(ToWorker),
    /// Worker → controller: a report of the core.
    FromWorker(FromWorker),
    /// Worker → worker: items on channels.
    Data(Vec<DataItem>),
    /// Worker → controller: it cannot start (its restore state is missing or unreadable).
    StartFailed {
        /// Why, for people.
        reason: String,
    },
    /// Admin → controller: stop the job.
    Stop(StopMode),
    /// Controller → admin: the stop request was taken (or refused) by the core.
    StopAnswer {
        /// Whether the core took it.
        accepted: bool,
        /// What the core said.
        detail: String,
    },
    /// Controller → admin: the job ended.
    Ended {
        /// Its terminal state.
        state: State,
    },
    /// Controller → worker: exit now, the generation is over.
    Shutdown,
}

impl Frame {
    /// The frame as bytes.
    pub fn encode(&self) -> Bytes {
        // Serialising these types into a Vec cannot fail: no maps with non-string keys, no
        // sequences of unknown length.
        Bytes::from(postcard::to_stdvec(self).expect("a frame serialises"))
    }

    /// A frame from bytes.
    pub fn decode(bytes: &[u8]) -> Result<Frame, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("malformed frame: {e}"))
    }

    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "Hello",
            Frame::Welcome => "Welcome",
            Frame::Refused { .. } => "Refused",
            Frame::Assign(_) => "Assign",
            Frame::ToWorker(_) => "ToWorker",
            Frame::FromWorker(_) => "FromWorker",
            Frame::Data(_) => "Data",
            Frame::StartFailed { .. } => "StartFailed",
            Frame::Stop(_) => "Stop",
            Frame::StopAnswer { .. } => "StopAnswer",
            Frame::Ended { .. } => "Ended",
            Frame::Shutdown => "Shutdown",
        }
    }
}

/// The framing codec, limited to the pre-authentication size.
pub fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(HELLO_MAX_BYTES)
        .new_codec()
}

/// Why a greeting is refused before anyone looks at who it claims to be.
pub fn check_hello(hello: &Hello, token: &Token) -> Result<(), String> {
    if hello.protocol != PROTOCOL {
        return Err(format!(
            "protocol {} is not spoken here (this is protocol {PROTOCOL})",
            hello.protocol
        ));
    }
    if !hello.token.matches(token) {
        return Err("wrong token".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::worker::{Partition, Record};
    use quiesce_core::{Command, OperatorId, TaskId, WorkerEvent};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn task(operator: u32, subtask: u32) -> TaskId {
        TaskId {
            operator: OperatorId(operator),
            subtask,
        }
    }

    /// Sample frames and their bytes. A change here is a protocol change: bump [`PROTOCOL`].
    fn golden() -> Vec<(Frame, &'static str)> {
        let addr: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        vec![
            (
                Frame::Hello(Hello {
                    protocol: PROTOCOL,
                    token: Token([7; TOKEN_BYTES]),
                    peer: Peer::Worker {
                        worker: WorkerId(2),
                        generation: Generation(3),
                        data: addr,
                    },
                }),
                "00010707070707070707070707070707070707070707070707070707070707070707000203007f000001a01f",
            ),
            (
                Frame::Hello(Hello {
                    protocol: PROTOCOL,
                    token: Token([1; TOKEN_BYTES]),
                    peer: Peer::Data {
                        from: WorkerId(1),
                        generation: Generation(4),
                    },
                }),
                "00010101010101010101010101010101010101010101010101010101010101010101010104",
            ),
            (
                Frame::ToWorker(ToWorker {
                    generation: Generation(3),
                    command: Command::Checkpoint {
                        epoch: Epoch(9),
                        then_stop: true,
                    },
                }),
                "0403000901",
            ),
            (
                Frame::FromWorker(FromWorker {
                    worker: WorkerId(1),
                    generation: Generation(3),
                    event: WorkerEvent::CheckpointAcked {
                        task: task(2, 1),
                        epoch: Epoch(9),
                    },
                }),
                "05010302020109",
            ),
            (
                Frame::Data(vec![DataItem {
                    channel: Channel {
                        from: task(0, 1),
                        to: task(1, 0),
                    },
                    seq: 300,
                    item: Item::Record(Record {
                        partition: Partition {
                            source: OperatorId(0),
                            index: 1,
                        },
                        offset: 70_000,
                    }),
                }]),
                "060100010100ac02000001f0a204",
            ),
            (Frame::Stop(StopMode::Graceful), "0801"),
            (Frame::Shutdown, "0b"),
        ]
    }

    #[test]
    fn frames_encode_to_their_golden_bytes() {
        for (frame, bytes) in golden() {
            assert_eq!(hex(&frame.encode()), bytes, "{frame:?}");
            assert_eq!(Frame::decode(&frame.encode()).unwrap(), frame);
        }
    }

    #[test]
    fn a_greeting_fits_the_pre_authentication_limit() {
        let (frame, _) = golden().remove(0);
        assert!(frame.encode().len() < HELLO_MAX_BYTES / 8);
    }

    #[test]
    fn tokens_compare_and_round_trip_through_hex() {
        let a = Token::random().unwrap();
        let b = Token::random().unwrap();
        assert!(a.matches(&a) && !a.matches(&b));
        assert_eq!(Token::from_hex(&a.to_hex()).unwrap(), a);
        assert!(Token::from_hex("abc").is_err());
        assert!(Token::from_hex(&"zz".repeat(TOKEN_BYTES)).is_err());
        assert_eq!(format!("{a:?}"), "Token(…)");
    }

    #[test]
    fn a_greeting_with_another_protocol_or_token_is_refused() {
        let token = Token([5; TOKEN_BYTES]);
        let mut hello = Hello {
            protocol: PROTOCOL,
            token,
            peer: Peer::Admin,
        };
        assert_eq!(check_hello(&hello, &token), Ok(()));
        hello.token = Token([6; TOKEN_BYTES]);
        assert_eq!(check_hello(&hello, &token), Err("wrong token".into()));
        hello.protocol = 9;
        assert!(check_hello(&hello, &token)
            .unwrap_err()
            .contains("protocol 9"));
    }

    #[test]
    fn garbage_is_a_malformed_frame() {
        assert!(Frame::decode(&[0xff, 0xff, 0xff]).is_err());
        assert!(Frame::decode(&[]).is_err());
    }
}
