//! Events on stdout: the core's (every transition, checkpoint, stop) and the runtime's own
//! (listening, a worker started or connected, a refused connection, the end). One line each,
//! for people (`--events human`) or as JSON objects (`--events json`):
//! `{"t_ms":1234,"event":"Transition","from":"Running","to":"CheckpointStopping",…}`, where
//! `t_ms` is the controller's clock. Lines go out from a thread of their own, so a slow reader
//! of stdout never stalls the controller's loop.

use quiesce_core::{Event, Time};
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::mpsc;

/// How events are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// One line for people.
    Human,
    /// One JSON object per line.
    Json,
}

/// Prints events, in order, from its own thread.
pub struct Printer {
    format: EventFormat,
    /// Lines for people show times from here.
    origin: Time,
    tx: Option<mpsc::Sender<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Printer {
    /// A printer to stdout; lines for people count time from `origin`.
    pub fn new(format: EventFormat, origin: Time) -> Printer {
        let (tx, rx) = mpsc::channel::<String>();
        let thread = std::thread::spawn(move || {
            let stdout = std::io::stdout();
            for line in rx {
                let mut out = stdout.lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        });
        Printer {
            format,
            origin,
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    fn emit(&self, line: String) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(line);
        }
    }

    /// A core event at `at`.
    pub fn core(&self, at: Time, event: &Event) {
        match self.format {
            EventFormat::Human => self.emit(format!("{:>10}  {event}", self.since(at))),
            EventFormat::Json => {
                let value = serde_json::to_value(event).unwrap_or(Value::Null);
                self.emit(json_line(at, flatten(value)));
            }
        }
    }

    /// A runtime event named `name` with `fields`, and its line for people.
    pub fn runtime(&self, at: Time, name: &str, fields: Value, human: impl FnOnce() -> String) {
        match self.format {
            EventFormat::Human => self.emit(format!("{:>10}  {}", self.since(at), human())),
            EventFormat::Json => {
                let mut map = match fields {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                map.insert("event".into(), Value::String(name.into()));
                self.emit(json_line(at, map));
            }
        }
    }

    fn since(&self, at: Time) -> Time {
        Time(at.ms_since(self.origin))
    }

    /// Prints everything queued and stops the thread.
    pub fn close(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.close();
    }
}

/// `{"Name":{fields}}` → `{"event":"Name",fields}`; `"Name"` → `{"event":"Name"}`.
fn flatten(value: Value) -> Map<String, Value> {
    let mut out = Map::new();
    match value {
        Value::String(name) => {
            out.insert("event".into(), Value::String(name));
        }
        Value::Object(map) if map.len() == 1 => {
            let (name, inner) = map.into_iter().next().expect("one entry");
            out.insert("event".into(), Value::String(name));
            match inner {
                Value::Object(fields) => out.extend(fields),
                other => {
                    out.insert("value".into(), other);
                }
            }
        }
        other => {
            out.insert("event".into(), Value::String("Unknown".into()));
            out.insert("value".into(), other);
        }
    }
    out
}

fn json_line(at: Time, fields: Map<String, Value>) -> String {
    let mut map = Map::new();
    map.insert("t_ms".into(), Value::from(at.0));
    map.extend(fields);
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::{Epoch, Reason, State};

    #[test]
    fn core_events_flatten_to_one_object_with_their_name() {
        let e = Event::Transition {
            from: Some(State::Running),
            to: State::Stopped,
            reason: Reason::WorkersStopped,
        };
        let line = json_line(Time(7), flatten(serde_json::to_value(&e).unwrap()));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["t_ms"], 7);
        assert_eq!(v["event"], "Transition");
        assert_eq!(v["to"], "Stopped");
        let e = Event::CheckpointCompleted { epoch: Epoch(3) };
        let v = flatten(serde_json::to_value(&e).unwrap());
        assert_eq!(v["event"], "CheckpointCompleted");
        assert_eq!(v["epoch"], 3);
    }
}
