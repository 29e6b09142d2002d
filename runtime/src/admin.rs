//! `quiesce stop`: asks the controller running on a state directory to stop, over an
//! authenticated connection, and waits until the job has ended.

use crate::net;
use crate::store::{ControlFile, StateDir};
use crate::wire::{Frame, Hello, Peer, Token, PROTOCOL};
use futures_util::{SinkExt, StreamExt};
use quiesce_core::{State, StopMode};
use std::path::Path;
use std::time::{Duration, Instant};

/// Slack on top of the job's own stop bound.
const SLACK: Duration = Duration::from_secs(5);

/// Asks the stop and waits for the end; the exit code: 0 the job ended Stopped or Finished,
/// 1 it Failed or refused the stop, 2 no job runs there or the wait timed out.
pub async fn stop(mode: StopMode, dir: &Path, timeout: Option<Duration>) -> u8 {
    match ask(mode, dir, timeout).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

async fn ask(mode: StopMode, dir: &Path, timeout: Option<Duration>) -> Result<u8, String> {
    let state = StateDir::new(dir);
    let control: ControlFile = crate::store::read_json(&state.control_file())
        .map_err(|e| format!("no job is running on {}: {e}", dir.display()))?;
    let token = Token::from_hex(&control.token)?;
    let bound = timeout.unwrap_or_else(|| {
        let job_bound = state.read_run().map_or(Duration::from_secs(600), |r| {
            Duration::from_millis(r.config.stop_bound_ms())
        });
        job_bound + SLACK
    });
    let asked = Instant::now();
    let hello = Hello {
        protocol: PROTOCOL,
        token,
        peer: Peer::Admin,
    };
    let mut conn = net::connect(control.addr, hello).await?;
    conn.send(Frame::Stop(mode).encode())
        .await
        .map_err(|e| format!("asking the stop: {e}"))?;
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let next = tokio::time::timeout_at(deadline, conn.next()).await;
        let frame = match next {
            Err(_) => {
                return Err(format!(
                    "the job did not end within {} ms",
                    bound.as_millis()
                ))
            }
            Ok(None) => {
                return Err("the controller closed the connection before the job ended".into())
            }
            Ok(Some(Err(e))) => return Err(format!("reading the controller: {e}")),
            Ok(Some(Ok(bytes))) => Frame::decode(&bytes)?,
        };
        match frame {
            Frame::StopAnswer {
                accepted: true,
                detail,
            } => {
                println!("{detail} ({} ms after asking)", asked.elapsed().as_millis());
            }
            Frame::StopAnswer {
                accepted: false,
                detail,
            } => {
                println!("the controller refused the stop: {detail}");
            }
            Frame::Ended { state } => {
                let ms = asked.elapsed().as_secs_f64() * 1000.0;
                println!(
                    "the job ended {state} {ms:.1} ms after the stop was asked (client-observed)"
                );
                return Ok(if state == State::Failed { 1 } else { 0 });
            }
            other => {
                return Err(format!(
                    "an unexpected {} frame from the controller",
                    other.kind()
                ))
            }
        }
    }
}
