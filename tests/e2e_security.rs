//! End to end: connections that must not get in — a wrong token, garbage, an oversized or
//! missing greeting, a worker that is already connected, a stale generation, an admin speaking
//! for a worker, a stranger on a worker's data port — and the job going on unharmed.

mod support;

use quiesce_core::{FromWorker, Generation, WorkerEvent, WorkerId};
use quiesce_runtime::wire::{Frame, Hello, Peer, Token, HELLO_MAX_BYTES, PROTOCOL};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::{is, serial, transition_to, Fixture, SLACK};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn token() -> Token {
    Token::from_hex(TOKEN).unwrap()
}

fn wrong_token() -> Token {
    Token([0xa5; 32])
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, SLACK).expect("connecting");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    s
}

fn send_raw(s: &mut TcpStream, payload: &[u8]) {
    s.write_all(&(payload.len() as u32).to_be_bytes()).unwrap();
    s.write_all(payload).unwrap();
}

fn send(s: &mut TcpStream, frame: &Frame) {
    send_raw(s, &frame.encode());
}

fn hello(token: Token, peer: Peer) -> Frame {
    Frame::Hello(Hello {
        protocol: PROTOCOL,
        token,
        peer,
    })
}

/// What the peer sent until it closed the connection, and when it closed (from `since`).
/// Fails the test if it is still open after `within`.
fn until_closed(s: &mut TcpStream, since: Instant, within: Duration) -> (Vec<Frame>, Duration) {
    let deadline = since + within;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                assert!(
                    Instant::now() < deadline,
                    "the connection is still open after {within:?}; received {bytes:?}"
                );
            }
            // A reset closes it too.
            Err(_) => break,
        }
    }
    let closed = since.elapsed();
    let mut frames = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 4 {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let Some(body) = rest.get(4..4 + len) else {
            break;
        };
        frames.push(Frame::decode(body).expect("the peer sends well-formed frames"));
        rest = &rest[4 + len..];
    }
    (frames, closed)
}

/// Reads one frame, within `within`.
fn read_frame(s: &mut TcpStream, within: Duration) -> Frame {
    let deadline = Instant::now() + within;
    let mut read_exact = |buf: &mut [u8]| {
        let mut got = 0;
        while got < buf.len() {
            match s.read(&mut buf[got..]) {
                Ok(0) => panic!("closed before a whole frame"),
                Ok(n) => got += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    assert!(Instant::now() < deadline, "no frame within {within:?}");
                }
                Err(e) => panic!("reading a frame: {e}"),
            }
        }
    };
    let mut len = [0u8; 4];
    read_exact(&mut len);
    let mut body = vec![0; u32::from_be_bytes(len) as usize];
    read_exact(&mut body);
    Frame::decode(&body).unwrap()
}

fn refused_with(frames: &[Frame], needle: &str) -> bool {
    frames
        .iter()
        .any(|f| matches!(f, Frame::Refused { reason } if reason.contains(needle)))
}

/// A Refused event whose reason holds `reason` (and whose `from` holds `from`, if given).
fn refused_event(reason: &'static str, from: Option<String>) -> impl Fn(&Value) -> bool {
    move |e| {
        is(e, "Refused")
            && e["reason"].as_str().is_some_and(|r| r.contains(reason))
            && from
                .as_deref()
                .is_none_or(|f| e["from"].as_str().is_some_and(|x| x.contains(f)))
    }
}

#[test]
fn intruders_are_refused_and_the_job_goes_on() {
    let _serial = serial();
    let mut f = Fixture::new();
    let mut run = f.run_with_env(&[], &[("QUIESCE_TOKEN", TOKEN)]);
    let addr = run.listening_addr(f.start_bound());
    run.wait_event("Running", transition_to("Running"), f.start_bound());
    let connected: Vec<Value> = run
        .events()
        .iter()
        .filter(|e| is(e, "WorkerConnected"))
        .cloned()
        .collect();
    let generation = connected[0]["generation"].as_u64().unwrap();
    let data_addr: SocketAddr = connected
        .iter()
        .find(|e| e["worker"] == 0)
        .expect("worker 0 connected")["data_addr"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let quick = Duration::from_secs(1);

    // (a) A wrong token: refused, by name.
    let mut s = connect(addr);
    let local = s.local_addr().unwrap().to_string();
    send(&mut s, &hello(wrong_token(), Peer::Admin));
    let (frames, _) = until_closed(&mut s, Instant::now(), quick);
    assert!(refused_with(&frames, "wrong token"), "{frames:?}");
    run.wait_event(
        "the wrong token refused",
        refused_event("wrong token", Some(local)),
        SLACK,
    );

    // (b) Garbage in a well-formed length prefix: not a frame, closed.
    let mut s = connect(addr);
    let local = s.local_addr().unwrap().to_string();
    send_raw(&mut s, &[0xff; 16]);
    until_closed(&mut s, Instant::now(), quick);
    run.wait_event(
        "the garbage refused",
        refused_event("malformed frame", Some(local)),
        SLACK,
    );

    // (c) A length prefix over the pre-authentication limit: closed at once, unread.
    let mut s = connect(addr);
    let local = s.local_addr().unwrap().to_string();
    s.write_all(&(HELLO_MAX_BYTES as u32 + 1).to_be_bytes())
        .unwrap();
    let (frames, closed) = until_closed(&mut s, Instant::now(), quick);
    assert!(frames.is_empty(), "{frames:?}");
    assert!(closed < quick, "closed after {closed:?}");
    run.wait_event(
        "the oversized greeting refused",
        refused_event("greeting", Some(local)),
        SLACK,
    );

    // (d) No greeting at all: closed after the greeting timeout.
    let mut s = connect(addr);
    let local = s.local_addr().unwrap().to_string();
    let opened = Instant::now();
    let greeting = Duration::from_millis(quiesce_runtime::wire::GREETING_TIMEOUT_MS);
    let (frames, closed) = until_closed(&mut s, opened, greeting + SLACK);
    assert!(frames.is_empty(), "{frames:?}");
    assert!(
        closed >= greeting - Duration::from_millis(100),
        "closed after {closed:?}, before the greeting timeout"
    );
    run.wait_event(
        "the silent connection refused",
        refused_event("no greeting", Some(local)),
        SLACK,
    );

    // (e) The right token, claiming to be a worker that is connected already.
    let worker = |w: u32, g: u64| Peer::Worker {
        worker: WorkerId(w),
        generation: Generation(g),
        data: "127.0.0.1:9".parse().unwrap(),
    };
    let mut s = connect(addr);
    let local = s.local_addr().unwrap().to_string();
    send(&mut s, &hello(token(), worker(0, generation)));
    let (frames, _) = until_closed(&mut s, Instant::now(), quick);
    assert!(refused_with(&frames, "already connected"), "{frames:?}");
    run.wait_event(
        "the second worker 0 refused",
        refused_event("already connected", Some(local)),
        SLACK,
    );

    // (f) The right token, a stale generation.
    let mut s = connect(addr);
    let local = s.local_addr().unwrap().to_string();
    send(&mut s, &hello(token(), worker(1, generation - 1)));
    let (frames, _) = until_closed(&mut s, Instant::now(), quick);
    assert!(refused_with(&frames, "not the current one"), "{frames:?}");
    run.wait_event(
        "the stale generation refused",
        refused_event("not the current one", Some(local)),
        SLACK,
    );

    // (g) An admin, authenticated, speaking for worker 1: refused and closed.
    let mut s = connect(addr);
    send(&mut s, &hello(token(), Peer::Admin));
    assert_eq!(read_frame(&mut s, quick), Frame::Welcome);
    send(
        &mut s,
        &Frame::FromWorker(FromWorker {
            worker: WorkerId(1),
            generation: Generation(generation),
            event: WorkerEvent::Heartbeat,
        }),
    );
    until_closed(&mut s, Instant::now(), quick);
    run.wait_event(
        "the admin's worker frame refused",
        refused_event("FromWorker frame is not expected", None),
        SLACK,
    );

    // The data plane: a wrong token on worker 0's data port, and the right one from a peer
    // that is no worker of the generation.
    let mut s = connect(data_addr);
    send(
        &mut s,
        &hello(
            wrong_token(),
            Peer::Data {
                from: WorkerId(1),
                generation: Generation(generation),
            },
        ),
    );
    let (frames, _) = until_closed(&mut s, Instant::now(), quick);
    assert!(refused_with(&frames, "wrong token"), "{frames:?}");
    let mut s = connect(data_addr);
    send(&mut s, &hello(token(), Peer::Admin));
    let (frames, _) = until_closed(&mut s, Instant::now(), quick);
    assert!(refused_with(&frames, "may not send data"), "{frames:?}");

    // The job went on: no recovery, and a checkpoint commits after all of the above.
    let checkpoint =
        Duration::from_millis(f.config.checkpoint_interval_ms + f.config.checkpoint_timeout_ms);
    run.wait_event(
        "a checkpoint committed after the intruders",
        |e| is(e, "CheckpointCommitted"),
        checkpoint + SLACK,
    );
    let stop = f.stop("checkpoint");
    assert_eq!(stop.status.code(), Some(0), "quiesce stop: {stop:?}");
    let status = run.wait_exit(f.stop_bound());
    assert!(
        status.success(),
        "the run exited {status:?}\n{}",
        run.summary()
    );
    run.assert_stopped_at_final_checkpoint();
    let recovered: Vec<Value> = run
        .events()
        .iter()
        .filter(|e| transition_to("Recovering")(e))
        .cloned()
        .collect();
    assert!(recovered.is_empty(), "{recovered:?}\n{}", run.summary());
    let log = std::fs::read_to_string(f.state.join(format!("logs/g{generation}-w0.log")))
        .unwrap_or_default();
    assert_eq!(
        log.matches("refused a data connection").count(),
        2,
        "worker 0's log:\n{log}"
    );
    drop(run);
    f.assert_verified();
}
