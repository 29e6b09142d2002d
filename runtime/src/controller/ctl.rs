//! The core's controller as the loop drives it: bare, or recorded into a trace file.

use quiesce_core::trace::{Line, Recorder, TraceSink};
use quiesce_core::{Controller, Input, Output, Rejected, Time};
use std::io::Write;

/// The core's controller, recorded or not.
pub(super) enum Ctl {
    Plain(Box<Controller>),
    Recorded(Box<Recorder<Controller, JsonLines>>),
}

impl Ctl {
    pub(super) fn machine(&self) -> &Controller {
        match self {
            Ctl::Plain(c) => c,
            Ctl::Recorded(r) => r.machine(),
        }
    }
    pub(super) fn handle(&mut self, now: Time, input: Input) -> Result<(), Rejected> {
        match self {
            Ctl::Plain(c) => c.handle(now, input),
            Ctl::Recorded(r) => r.handle(now, input),
        }
    }
    pub(super) fn handle_timeout(&mut self, now: Time) {
        match self {
            Ctl::Plain(c) => c.handle_timeout(now),
            Ctl::Recorded(r) => r.handle_timeout(now),
        }
    }
    pub(super) fn poll_output(&mut self) -> Option<Output> {
        match self {
            Ctl::Plain(c) => c.poll_output(),
            Ctl::Recorded(r) => r.poll_output(),
        }
    }
    pub(super) fn poll_timeout(&self) -> Option<Time> {
        self.machine().poll_timeout()
    }
}

/// A trace written as JSON Lines, each line handed to the kernel as it ends (no fsync): a
/// controller killed mid-run leaves its trace up to its last step.
pub struct JsonLines {
    pub(super) out: std::io::LineWriter<std::fs::File>,
    pub(super) error: Option<String>,
}

impl TraceSink<Controller> for JsonLines {
    fn line(&mut self, line: &Line<Controller>) {
        if self.error.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut self.out, line)
            .map_err(|e| e.to_string())
            .and_then(|()| self.out.write_all(b"\n").map_err(|e| e.to_string()));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }
}
