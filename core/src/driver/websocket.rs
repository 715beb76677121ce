//! MQTT over WebSocket (`ws://`, `wss://`): the client handshake, and an adapter that turns a
//! stream of WebSocket messages back into the byte stream the codec reads and writes.
//!
//! MQTT does not align its packets with WebSocket messages (MQTT 5.0 section 6): a packet may
//! span several binary messages and a message may hold several packets, so the adapter is a
//! plain byte stream in both directions. Each write becomes one binary message; pings are
//! answered by tungstenite; a close frame ends the stream as end of file.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::Error;

/// The subprotocol MQTT over WebSocket asks for and the server must confirm.
pub(crate) const SUBPROTOCOL: &str = "mqtt";

/// Any byte stream a WebSocket runs over: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A WebSocket connection as a byte stream.
pub(crate) struct WsStream<S> {
    ws: WebSocketStream<S>,
    /// What is left of the last binary message read.
    pending: Bytes,
    /// A close frame or the end of the stream was read: every later read is end of file.
    eof: bool,
}

impl<S> WsStream<S> {
    pub(crate) fn new(ws: WebSocketStream<S>) -> Self {
        WsStream { ws, pending: Bytes::new(), eof: false }
    }
}

/// A tungstenite error as an I/O error; an I/O error underneath is passed on as it is (so
/// that a TLS alert behind it can still be recognised, see `transport::read_failure`).
fn io_error(e: tungstenite::Error) -> io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "the WebSocket is closed")
        }
        e => io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {e}")),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "WebSocket: a text message (MQTT travels in binary messages)",
                    )))
                }
                // Pings are answered by tungstenite; pongs and raw frames carry nothing for us.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
                    this.eof = true
                }
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let ws = &mut self.get_mut().ws;
        ready!(Pin::new(&mut *ws).poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut *ws).start_send(Message::binary(buf.to_vec())).map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws).poll_flush(cx).map_err(io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.get_mut().ws).poll_close(cx)) {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(io_error(e))),
        }
    }
}

/// Run the client handshake for `url` (`ws://host:port/path`; the scheme only names the
/// URI: TLS, if any, is already in `stream`) over `stream`, asking for the `mqtt`
/// subprotocol and sending `headers`. `what` names the server in errors.
///
/// A refused upgrade (any answer but 101) and a reply without the `mqtt` subprotocol are
/// [`Error::WebSocket`]; a failure of the stream underneath is handed to `io` (TLS alerts
/// arrive this way under TLS 1.3).
pub(crate) async fn handshake<S: Io>(
    what: &str,
    url: &str,
    headers: &[(String, String)],
    stream: S,
    io: impl FnOnce(io::Error) -> Error,
) -> Result<WsStream<S>, Error> {
    let mut request = url
        .into_client_request()
        .map_err(|e| Error::InvalidArgument(format!("{what}: not a WebSocket URL: {e}")))?;
    let h = request.headers_mut();
    for (name, value) in headers {
        let (name, value) = header(name, value)?;
        h.append(name, value);
    }
    h.insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
    let config = WebSocketConfig::default();
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((ws, _response)) => Ok(WsStream::new(ws)),
        Err(e) => Err(handshake_error(what, e, io)),
    }
}

/// A gateway answering 5xx (502, 503, 504: the broker behind it restarting) may answer 101
/// later, so that refusal is retried; any other refusal (404, 401, no `mqtt` subprotocol)
/// will not get better and stops reconnecting.
pub(crate) fn upgrade_refusal_is_transient(e: &Error) -> bool {
    matches!(e, Error::WebSocket(m) if m.contains(": upgrade refused: 5"))
}

fn handshake_error(what: &str, e: tungstenite::Error, io: impl FnOnce(io::Error) -> Error) -> Error {
    use tungstenite::error::{ProtocolError, SubProtocolError};
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            Error::WebSocket(format!(
                "{what}: upgrade refused: {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ))
        }
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(e)) => match e {
            SubProtocolError::NoSubProtocol => Error::WebSocket(format!(
                "{what}: the server did not accept the \"{SUBPROTOCOL}\" subprotocol (no Sec-WebSocket-Protocol in its reply)"
            )),
            e => Error::WebSocket(format!("{what}: subprotocol: {e}")),
        },
        tungstenite::Error::Io(e) => io(e),
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(ProtocolError::HandshakeIncomplete) => {
            Error::Io(format!("{what}: the connection closed during the WebSocket handshake"))
        }
        // Anything else (a malformed reply, a wrong accept key): possibly a passing fault of
        // something in between, so an I/O error that reconnecting may get past; only a
        // refusal by status or subprotocol is final.
        e => Error::Io(format!("{what}: WebSocket handshake: {e}")),
    }
}

/// A request header as given to [`crate::MqttOptions::set_ws_header`], checked.
pub(crate) fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let bad = |why: String| Error::InvalidArgument(format!("WebSocket header {name:?}: {why}"));
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
    // The handshake's own headers are tungstenite's (or ours) to set.
    let reserved = [
        "host",
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    ];
    if reserved.contains(&parsed.as_str()) {
        return Err(bad("set by the WebSocket handshake itself".into()));
    }
    let value = HeaderValue::from_str(value).map_err(|e| bad(format!("invalid value: {e}")))?;
    Ok((parsed, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::SinkExt;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    type Seen = Arc<Mutex<Vec<(String, String)>>>;

    /// A client adapter and a tungstenite server over an in-memory pipe; the server records
    /// the request headers it saw and answers with `subprotocol` (or none).
    // tungstenite's callback type returns a whole HTTP response as its error.
    #[allow(clippy::result_large_err)]
    async fn pair(
        headers: &[(String, String)],
        subprotocol: Option<&'static str>,
    ) -> (
        Result<WsStream<tokio::io::DuplexStream>, Error>,
        Option<WebSocketStream<tokio::io::DuplexStream>>,
        Seen,
    ) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let server = tokio::spawn(async move {
            tokio_tungstenite::accept_hdr_async(server, move |req: &Request, mut resp: Response| {
                let mut s = record.lock().unwrap();
                s.push(("path".into(), req.uri().path().into()));
                for (k, v) in req.headers() {
                    s.push((k.as_str().into(), v.to_str().unwrap().into()));
                }
                if let Some(p) = subprotocol {
                    resp.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static(p));
                }
                Ok(resp)
            })
            .await
            .ok()
        });
        let client =
            handshake("test", "ws://localhost/mqtt", headers, client, |e| Error::Io(e.to_string())).await;
        (client, server.await.unwrap(), seen)
    }

    #[tokio::test]
    async fn packets_across_and_within_frames() {
        let headers = vec![("Authorization".to_string(), "Bearer t0ken".to_string())];
        let (client, server, seen) = pair(&headers, Some("mqtt")).await;
        let mut client = client.unwrap();
        let mut server = server.unwrap();
        {
            let seen = seen.lock().unwrap();
            let get = |k: &str| seen.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            assert_eq!(get("path").as_deref(), Some("/mqtt"));
            assert_eq!(get("authorization").as_deref(), Some("Bearer t0ken"));
            assert_eq!(get("sec-websocket-protocol").as_deref(), Some("mqtt"));
        }
        // A PINGREQ split over two frames, then two PINGRESPs in one frame, then a ping
        // between them (answered by tungstenite, unseen by the reader).
        server.send(Message::binary(vec![0xC0])).await.unwrap();
        server.send(Message::Ping(Bytes::from_static(b"hi"))).await.unwrap();
        server.send(Message::binary(vec![0x00])).await.unwrap();
        server.send(Message::binary(vec![0xD0, 0x00, 0xD0, 0x00])).await.unwrap();
        let mut got = [0u8; 6];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [0xC0, 0x00, 0xD0, 0x00, 0xD0, 0x00]);

        // Each write is one binary message.
        client.write_all(&[0x10, 0x02, 0x00]).await.unwrap();
        client.write_all(&[0x00]).await.unwrap();
        client.flush().await.unwrap();
        let mut messages = Vec::new();
        while messages.len() < 3 {
            match futures_util::StreamExt::next(&mut server).await.unwrap().unwrap() {
                Message::Binary(b) => messages.push(b.to_vec()),
                Message::Pong(p) => messages.push(p.to_vec()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(messages, vec![b"hi".to_vec(), vec![0x10, 0x02, 0x00], vec![0x00]]);

        // A close frame is the end of the stream.
        server.close(None).await.unwrap();
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn reply_without_the_subprotocol_is_refused() {
        let (client, _server, _) = pair(&[], None).await;
        let e = client.err().expect("the handshake must fail");
        assert_eq!(e.kind(), crate::ErrorKind::WebSocket, "{e}");
        assert!(e.to_string().contains("subprotocol"), "{e}");
    }

    #[tokio::test]
    async fn refused_upgrade_names_the_status() {
        let (client, mut server) = tokio::io::duplex(4096);
        let answer = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = server.read(&mut buf).await;
            server.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await.unwrap();
            server
        });
        let e = handshake("ws://h/mqtt", "ws://h/mqtt", &[], client, |e| Error::Io(e.to_string()))
            .await
            .err()
            .unwrap();
        drop(answer.await);
        assert_eq!(e.kind(), crate::ErrorKind::WebSocket);
        assert_eq!(e.to_string(), "WebSocket: ws://h/mqtt: upgrade refused: 404 Not Found");
        assert!(!upgrade_refusal_is_transient(&e), "a 404 stops reconnecting");
        let gateway = Error::WebSocket("ws://h/mqtt: upgrade refused: 503 Service Unavailable".into());
        assert!(upgrade_refusal_is_transient(&gateway), "a gateway's 503 is retried");
    }

    #[test]
    fn headers_are_checked() {
        assert!(header("Authorization", "Bearer x").is_ok());
        for (n, v) in [("bad name", "x"), ("x", "a\nb"), ("Sec-WebSocket-Protocol", "other"), ("Host", "h")] {
            assert_eq!(header(n, v).unwrap_err().kind(), crate::ErrorKind::InvalidArgument, "{n}");
        }
    }
}
