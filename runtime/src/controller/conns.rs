//! The controller's connections: who may connect, what each may send, and the queues its
//! frames go out through.

use super::{ConnId, ConnState, Driver, Ev, Who};
use crate::net;
use crate::wire::{Assign, Frame, Peer, Token};
use bytes::Bytes;
use quiesce_core::{FromWorker, Generation, Input, WorkerId};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

impl Driver {
    /// Queues a frame for a connection without waiting; a full queue means a stuck peer, whose
    /// connection is dropped (its heartbeats stop, and the core's timeouts take over).
    pub(super) fn send_to(&mut self, to: Who, bytes: Bytes) {
        let Some((&id, conn)) = self.conns.iter().find(|(_, c)| c.who == to) else {
            tracing::debug!(?to, "no connection to send to");
            return;
        };
        let Some(writer) = &conn.writer else { return };
        if let Err(e) = writer.try_send(bytes) {
            tracing::warn!(?to, error = %e, "a peer does not read: dropping its connection");
            self.close(id);
        }
    }

    pub(super) fn send_generation(&mut self, generation: Generation, frame: &Frame) {
        let bytes = frame.encode();
        let targets: Vec<Who> = self
            .conns
            .values()
            .map(|c| c.who)
            .filter(|w| matches!(w, Who::Worker(_, g) if *g == generation))
            .collect();
        for who in targets {
            self.send_to(who, bytes.clone());
        }
    }

    /// Drops a connection: its reader stops, its writer ends, and it is forgotten as if it
    /// had closed.
    pub(super) fn close(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.writer = None;
            if let Some(reader) = conn.reader.take() {
                reader.abort();
            }
        }
        self.on_closed(id, "closed by the controller".into());
    }

    pub(super) fn refuse(&mut self, from: String, reason: String) {
        tracing::warn!(%from, %reason, "refused");
        let now = self.clock.now();
        self.printer.runtime(
            now,
            "Refused",
            json!({ "from": from, "reason": reason }),
            || format!("refused {from}: {reason}"),
        );
    }

    /// Whether a peer that knows the token may be who it says.
    pub(super) fn admit(&mut self, peer: &Peer) -> Result<ConnId, String> {
        let (who, data) = match *peer {
            Peer::Admin => (Who::Admin, None),
            Peer::Data { .. } => return Err("data connections go to workers".into()),
            Peer::Worker {
                worker,
                generation,
                data,
            } => {
                match self.generation {
                    Some((g, _)) if g == generation => {}
                    Some((g, _)) => {
                        return Err(format!(
                            "generation {generation} is not the current one ({g})"
                        ))
                    }
                    None => return Err("no generation is starting".into()),
                }
                if worker.0 >= self.job.workers {
                    return Err(format!("the job has no worker {worker}"));
                }
                if self.greeted.contains_key(&worker) {
                    return Err(format!(
                        "worker {worker} of {generation} has already connected"
                    ));
                }
                (Who::Worker(worker, generation), Some(data))
            }
        };
        let id = self.next_conn;
        self.next_conn += 1;
        if let Who::Worker(w, _) = who {
            self.greeted.insert(w, id);
        }
        self.conns.insert(
            id,
            ConnState {
                who,
                writer: None,
                reader: None,
                data,
            },
        );
        Ok(id)
    }

    /// Once every worker of the generation is connected: each gets the job and its peers.
    pub(super) fn maybe_assign(&mut self) {
        let Some((generation, restore)) = self.generation else {
            return;
        };
        if self.assigned || self.greeted.len() != self.job.workers as usize {
            return;
        }
        let mut peers = Vec::new();
        for (&w, id) in &self.greeted {
            match self.conns.get(id) {
                Some(ConnState {
                    writer: Some(_),
                    data: Some(data),
                    ..
                }) => peers.push((w, *data)),
                _ => return,
            }
        }
        self.assigned = true;
        let now = self.clock.now();
        for &(worker, data) in &peers {
            self.printer.runtime(
                now,
                "WorkerConnected",
                json!({ "worker": worker.0, "generation": generation.0, "data_addr": data.to_string() }),
                || format!("worker {worker} of {generation} connected (data {data})"),
            );
        }
        let assign = Frame::Assign(Assign {
            job: self.job.clone(),
            config: self.worker_config,
            restore,
            peers,
            sources: self.sources,
        });
        self.send_generation(generation, &assign);
    }

    pub(super) fn on_frame(&mut self, id: ConnId, frame: Result<Frame, String>) {
        let Some(who) = self.conns.get(&id).map(|c| c.who) else {
            return;
        };
        let verdict = match (who, frame) {
            (_, Err(e)) => Err(e),
            (Who::Worker(w, g), Ok(Frame::FromWorker(msg))) => {
                match check_from_worker(w, g, &msg) {
                    Ok(()) => {
                        self.handle(Input::Worker(msg));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            (Who::Worker(_, generation), Ok(Frame::StartFailed { reason })) => {
                self.handle(Input::SchedulerFailed { generation, reason });
                Ok(())
            }
            (Who::Admin, Ok(Frame::Stop(mode))) => {
                let now = self.clock.now();
                let (accepted, detail) = match self.ctl.handle(now, Input::Stop(mode)) {
                    Ok(()) => (true, format!("{mode} stop requested")),
                    Err(r) => (false, r.to_string()),
                };
                self.send_to_id(id, Frame::StopAnswer { accepted, detail });
                if self.ended.is_some() {
                    self.send_to_id(
                        id,
                        Frame::Ended {
                            state: self.ctl.machine().state(),
                        },
                    );
                }
                Ok(())
            }
            (_, Ok(other)) => Err(format!("a {} frame is not expected here", other.kind())),
        };
        if let Err(reason) = verdict {
            self.refuse(format!("{who:?} (connection {id})"), reason);
            self.close(id);
        }
    }

    pub(super) fn send_to_id(&mut self, id: ConnId, frame: Frame) {
        if let Some(writer) = self.conns.get(&id).and_then(|c| c.writer.as_ref()) {
            let _ = writer.try_send(frame.encode());
        }
    }

    pub(super) fn on_closed(&mut self, id: ConnId, why: String) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        tracing::debug!(who = ?conn.who, %why, "connection closed");
        if let Who::Worker(w, g) = conn.who {
            if let Some(i) = self.pending_exits.iter().position(|p| p.0 == w && p.1 == g) {
                self.pending_exits.remove(i);
                self.handle(Input::WorkerExited {
                    worker: w,
                    generation: g,
                });
            }
        }
    }
}

/// A frame from worker `w` of `g`'s connection must speak for that worker and generation.
pub fn check_from_worker(w: WorkerId, g: Generation, msg: &FromWorker) -> Result<(), String> {
    if msg.worker != w {
        return Err(format!(
            "a message naming {} on the connection of {w}",
            msg.worker
        ));
    }
    if msg.generation != g {
        return Err(format!(
            "a message of {} on a connection of {g}",
            msg.generation
        ));
    }
    Ok(())
}

/// Accepts connections; each greets on a task of its own, so a slow or silent one holds up
/// nobody.
pub(super) async fn accept_loop(
    listener: tokio::net::TcpListener,
    token: Token,
    tx: mpsc::UnboundedSender<Ev>,
) {
    net::accept_loop(listener, move |stream, from| {
        let tx = tx.clone();
        async move {
            let (hello, mut conn) = match net::accept_hello(stream, &token).await {
                Ok(ok) => ok,
                Err(reason) => {
                    let _ = tx.send(Ev::Refused { from, reason });
                    return;
                }
            };
            let (reply, answer) = oneshot::channel();
            let _ = tx.send(Ev::Greeted {
                from,
                peer: hello.peer,
                reply,
            });
            let id = match answer.await {
                Ok(Ok(id)) => id,
                Ok(Err(reason)) => return net::refuse(&mut conn, &reason).await,
                Err(_) => return,
            };
            if net::welcome(&mut conn).await.is_err() {
                let _ = tx.send(Ev::Closed(id, "the welcome failed".into()));
                return;
            }
            let (on_frame, on_close) = (tx.clone(), tx.clone());
            let (writer, reader) = net::split(
                conn,
                move |frame| on_frame.send(Ev::Frame(id, frame)).is_ok(),
                move |why| {
                    let _ = on_close.send(Ev::Closed(id, why));
                },
            );
            let _ = tx.send(Ev::Connected { id, writer, reader });
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiesce_core::WorkerEvent;

    #[test]
    pub(super) fn a_frame_must_name_its_connections_worker_and_generation() {
        let msg = |w, g| FromWorker {
            worker: WorkerId(w),
            generation: Generation(g),
            event: WorkerEvent::Heartbeat,
        };
        assert!(check_from_worker(WorkerId(1), Generation(2), &msg(1, 2)).is_ok());
        let other = check_from_worker(WorkerId(1), Generation(2), &msg(0, 2)).unwrap_err();
        assert!(other.contains("naming w0"), "{other}");
        let stale = check_from_worker(WorkerId(1), Generation(2), &msg(1, 1)).unwrap_err();
        assert!(stale.contains("g1"), "{stale}");
    }
}
