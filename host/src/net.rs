//! Peer links: length-delimited frames over TCP.
//!
//! A connection carries one direction: the dialer sends a hello frame (its node id, four
//! bytes little-endian), then messages, each a frame: a 4-byte little-endian length and that
//! many bytes of the message's wire encoding. A node dials each peer it sends to and keeps the
//! connection; when it breaks, the messages queued for it wait while it redials with
//! exponential backoff (50 ms doubling to 2 s), and messages beyond the queue's bound are
//! dropped, as a lossy network would drop them.

use faultline_api::NodeId;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Duration, sleep};

/// The largest frame accepted: a bigger length prefix closes the connection.
pub const FRAME_BYTES_MAX: usize = 16 << 20;
/// Messages queued for one peer, at most; more are dropped.
pub const QUEUE_MAX: usize = 4096;
/// Frames received and not yet handled, at most: beyond it the readers wait, and TCP's flow
/// control slows the senders, so a fast peer cannot fill the memory.
pub const RECEIVED_MAX: usize = 4096;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Sends the frames queued on `frames` to the peer at `address`, dialing and redialing.
pub async fn dial(me: NodeId, address: SocketAddr, mut frames: mpsc::Receiver<Vec<u8>>) {
    let mut backoff = BACKOFF_MIN;
    let mut pending: Option<Vec<u8>> = None;
    loop {
        let mut stream = match TcpStream::connect(address).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(event = "dial", peer = %address, %error, "retrying in {backoff:?}");
                sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        backoff = BACKOFF_MIN;
        if stream.write_all(&me.0.to_le_bytes()).await.is_err() {
            continue;
        }
        loop {
            let frame = match pending.take() {
                Some(frame) => frame,
                None => match frames.recv().await {
                    Some(frame) => frame,
                    None => return,
                },
            };
            let length = (frame.len() as u32).to_le_bytes();
            if stream.write_all(&length).await.is_err() || stream.write_all(&frame).await.is_err() {
                // Sent or not, the peer decides; resend it on the next connection.
                pending = Some(frame);
                break;
            }
        }
    }
}

/// Accepts peer connections on `listener` and hands each frame, with its sender, to
/// `deliver`; a malformed stream is closed.
pub async fn accept(listener: TcpListener, deliver: mpsc::Sender<(NodeId, Vec<u8>)>) {
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        let deliver = deliver.clone();
        tokio::spawn(async move {
            if let Err(error) = read_frames(stream, deliver).await {
                tracing::debug!(event = "peer-closed", peer = %from, %error);
            }
        });
    }
}

async fn read_frames(
    mut stream: TcpStream,
    deliver: mpsc::Sender<(NodeId, Vec<u8>)>,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut word = [0u8; 4];
    stream.read_exact(&mut word).await?;
    let from = NodeId(u32::from_le_bytes(word));
    loop {
        stream.read_exact(&mut word).await?;
        let length = u32::from_le_bytes(word) as usize;
        if length > FRAME_BYTES_MAX {
            return Err(std::io::Error::other(format!(
                "a frame of {length} bytes; the limit is {FRAME_BYTES_MAX}"
            )));
        }
        let mut frame = vec![0u8; length];
        stream.read_exact(&mut frame).await?;
        if deliver.send((from, frame)).await.is_err() {
            return Ok(());
        }
    }
}
