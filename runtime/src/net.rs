//! Connections: the greeting on both ends, and the reader and writer tasks that keep every
//! socket read and write out of the run loops.

use crate::wire::{check_hello, codec, Frame, Hello, Token, FRAME_MAX_BYTES, GREETING_TIMEOUT_MS};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// A framed connection.
pub type Conn = Framed<TcpStream, LengthDelimitedCodec>;

/// How many frames a writer queue holds before its peer counts as stuck.
pub const WRITER_QUEUE_FRAMES: usize = 4096;

/// Most connections greeting at once; more wait in the listen backlog, so strangers that
/// never greet cannot use up the process's file descriptors.
pub const GREETINGS_AT_ONCE: usize = 64;
/// The pause after a failed `accept` (out of file descriptors, say), instead of spinning.
const ACCEPT_RETRY_MS: u64 = 50;

/// Accepts connections for ever, at most [`GREETINGS_AT_ONCE`] greeting at once: `greet`
/// runs on a task of its own for each and returns once the greeting is settled.
pub async fn accept_loop<F, Fut>(listener: tokio::net::TcpListener, greet: F)
where
    F: Fn(TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let greeting = std::sync::Arc::new(tokio::sync::Semaphore::new(GREETINGS_AT_ONCE));
    loop {
        let Ok(permit) = greeting.clone().acquire_owned().await else {
            return;
        };
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        let greet = greet(stream, from);
        tokio::task::spawn_local(async move {
            greet.await;
            drop(permit);
        });
    }
}

/// Reads one frame, within the greeting timeout.
async fn read_one(conn: &mut Conn, what: &str) -> Result<Frame, String> {
    let next = tokio::time::timeout(Duration::from_millis(GREETING_TIMEOUT_MS), conn.next());
    match next.await {
        Err(_) => Err(format!("no {what} within {GREETING_TIMEOUT_MS} ms")),
        Ok(None) => Err(format!("closed before its {what}")),
        Ok(Some(Err(e))) => Err(format!("unreadable {what}: {e}")),
        Ok(Some(Ok(bytes))) => Frame::decode(&bytes),
    }
}

/// The accepting side: reads the greeting under the pre-authentication limits and checks the
/// protocol and token. Who the peer claims to be is the caller's to check.
pub async fn accept_hello(stream: TcpStream, token: &Token) -> Result<(Hello, Conn), String> {
    let _ = stream.set_nodelay(true);
    let mut conn = Framed::new(stream, codec());
    let hello = match read_one(&mut conn, "greeting").await? {
        Frame::Hello(hello) => hello,
        other => return Err(format!("a {} frame before the greeting", other.kind())),
    };
    if let Err(reason) = check_hello(&hello, token) {
        refuse(&mut conn, &reason).await;
        return Err(reason);
    }
    Ok((hello, conn))
}

/// Tells the peer why it is refused, best effort, and closes.
pub async fn refuse(conn: &mut Conn, reason: &str) {
    let frame = Frame::Refused {
        reason: reason.to_string(),
    };
    let send = conn.send(frame.encode());
    let _ = tokio::time::timeout(Duration::from_millis(200), send).await;
}

/// Welcomes an accepted peer and raises the frame limit.
pub async fn welcome(conn: &mut Conn) -> Result<(), String> {
    conn.send(Frame::Welcome.encode())
        .await
        .map_err(|e| format!("welcome: {e}"))?;
    conn.codec_mut().set_max_frame_length(FRAME_MAX_BYTES);
    Ok(())
}

/// The calling side: connects, greets, and waits to be welcomed.
pub async fn connect(addr: std::net::SocketAddr, hello: Hello) -> Result<Conn, String> {
    let stream = tokio::time::timeout(
        Duration::from_millis(GREETING_TIMEOUT_MS),
        TcpStream::connect(addr),
    )
    .await
    .map_err(|_| format!("connecting to {addr} timed out"))?
    .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut conn = Framed::new(stream, codec());
    conn.send(Frame::Hello(hello).encode())
        .await
        .map_err(|e| format!("greeting {addr}: {e}"))?;
    match read_one(&mut conn, "welcome").await? {
        Frame::Welcome => {
            conn.codec_mut().set_max_frame_length(FRAME_MAX_BYTES);
            Ok(conn)
        }
        Frame::Refused { reason } => Err(format!("{addr} refused us: {reason}")),
        other => Err(format!("{addr} answered with a {} frame", other.kind())),
    }
}

/// Splits a connection: a writer task draining a bounded queue, and a reader task handing each
/// frame (or its failure) to `on_frame`; `on_close` runs once the reader is done.
pub fn split<F, C>(
    conn: Conn,
    on_frame: F,
    on_close: C,
) -> (mpsc::Sender<Bytes>, tokio::task::AbortHandle)
where
    F: FnMut(Result<Frame, String>) -> bool + 'static,
    C: FnOnce(String) + 'static,
{
    let (mut sink, stream) = conn.split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(WRITER_QUEUE_FRAMES);
    tokio::task::spawn_local(async move {
        while let Some(first) = rx.recv().await {
            // Everything already queued goes out with one flush.
            let mut batch = vec![first];
            while let Ok(more) = rx.try_recv() {
                batch.push(more);
            }
            for bytes in batch {
                if sink.feed(bytes).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let reader = tokio::task::spawn_local(read_loop(stream, on_frame, on_close));
    (tx, reader.abort_handle())
}

async fn read_loop<S, F, C>(mut stream: S, mut on_frame: F, on_close: C)
where
    S: futures_util::Stream<Item = std::io::Result<bytes::BytesMut>> + Unpin,
    F: FnMut(Result<Frame, String>) -> bool,
    C: FnOnce(String),
{
    let why = loop {
        match stream.next().await {
            None => break "closed".to_string(),
            Some(Err(e)) => break format!("unreadable frame: {e}"),
            Some(Ok(bytes)) => {
                if !on_frame(Frame::decode(&bytes)) {
                    break "refused".to_string();
                }
            }
        }
    };
    on_close(why);
}
