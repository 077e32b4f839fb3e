//! The client side of a real node: newline-delimited JSON over TCP, turned into the
//! protocol's own client messages by a per-protocol `Gateway`, outside the state machine.
//!
//! Each connection is a client node of its own (ids from `CLIENT_BASE` up), so the node
//! answers it with `Context::send`, as it answers a simulated client. A connection carries one
//! request at a time: a line in, the answer line out. A line longer than `LINE_BYTES_MAX`
//! gets an error and the connection is closed; a request the node does not answer within
//! `ANSWER_TIMEOUT` gets the gateway's timeout line. At most `CONNECTIONS_MAX` connections
//! are open at once, so the node's queue of client requests holds at most that many. Nothing a
//! client sends can crash the server: a bad line is the gateway's to answer.

use crate::run::Input;
use faultline_api::NodeId;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Duration, timeout};

/// The longest request line accepted, in bytes.
pub const LINE_BYTES_MAX: usize = 64 << 10;
/// How long a connection waits for the node's answer to one request.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The first client node id; servers are numbered below it.
pub const CLIENT_BASE: u32 = 1 << 30;
/// Client connections open at once, at most; one more is answered with an error and closed.
pub const CONNECTIONS_MAX: usize = 1024;

/// A protocol's client gateway: JSON lines to messages, and reply messages to JSON lines.
pub trait Gateway: Send + Sync + 'static {
    type Message: Send + 'static;

    /// The message for one request line, carrying `request` as its request id; `Err` holds
    /// the line to answer instead (a JSON error naming what is wrong).
    fn request(&self, line: &str, request: u64) -> Result<Self::Message, String>;

    /// For a message the node sent a client: the request it answers, and the answer line;
    /// `None` for messages that answer no request.
    fn reply(&self, message: &Self::Message) -> Option<(u64, String)>;

    /// The answer to a request the node did not answer in time (the outcome is unknown).
    fn timeout_line(&self) -> String {
        r#"{"ok":false,"error":"timeout: no answer from the node; the request may or may not take effect"}"#
            .to_string()
    }
}

/// Accepts client connections on `listener`, each a client node.
pub(crate) async fn serve<G: Gateway>(
    listener: TcpListener,
    gateway: Arc<G>,
    inputs: mpsc::UnboundedSender<Input<G::Message>>,
) {
    let mut next = CLIENT_BASE;
    let open = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX));
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else {
            continue;
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            let refusal = format!(
                r#"{{"ok":false,"error":"too many connections: the limit is {CONNECTIONS_MAX}"}}"#
            );
            let _ = stream.write_all(format!("{refusal}\n").as_bytes()).await;
            continue;
        };
        let conn = NodeId(next);
        next = next.checked_add(1).unwrap_or(CLIENT_BASE);
        let (gateway, inputs) = (gateway.clone(), inputs.clone());
        tokio::spawn(async move {
            tracing::debug!(event = "client-connected", client = %conn, %peer);
            let (answers, replies) = mpsc::channel(64);
            if inputs.send(Input::ClientJoined { conn, answers }).is_err() {
                return;
            }
            let result = converse(stream, conn, &*gateway, &inputs, replies).await;
            let _ = inputs.send(Input::ClientLeft { conn });
            drop(permit);
            tracing::debug!(event = "client-closed", client = %conn, ?result);
        });
    }
}

/// One connection: request lines in order, each answered before the next is read.
async fn converse<G: Gateway>(
    stream: TcpStream,
    conn: NodeId,
    gateway: &G,
    inputs: &mpsc::UnboundedSender<Input<G::Message>>,
    mut replies: mpsc::Receiver<G::Message>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut request = 0u64;
    loop {
        let mut line = Vec::new();
        let limit = LINE_BYTES_MAX as u64 + 1;
        let read = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') && line.len() > LINE_BYTES_MAX {
            let error = format!(
                r#"{{"ok":false,"error":"line too long: the limit is {LINE_BYTES_MAX} bytes"}}"#
            );
            write.write_all(format!("{error}\n").as_bytes()).await?;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        request += 1;
        let answer = match gateway.request(text, request) {
            Err(error) => error,
            Ok(message) => {
                if inputs.send(Input::Client { conn, message }).is_err() {
                    return Ok(());
                }
                await_answer(gateway, &mut replies, request).await
            }
        };
        write.write_all(format!("{answer}\n").as_bytes()).await?;
    }
}

/// The answer line to `request`, skipping replies to earlier ones that came too late.
async fn await_answer<G: Gateway>(
    gateway: &G,
    replies: &mut mpsc::Receiver<G::Message>,
    request: u64,
) -> String {
    let wait = async {
        while let Some(message) = replies.recv().await {
            if let Some((answered, line)) = gateway.reply(&message)
                && answered == request
            {
                return Some(line);
            }
        }
        None
    };
    match timeout(ANSWER_TIMEOUT, wait).await {
        Ok(Some(line)) => line,
        _ => gateway.timeout_line(),
    }
}
