//! Server redirection (MQTT 5.0 section 4.11): a CONNACK or DISCONNECT with reason code
//! 0x9C "Use another server" or 0x9D "Server moved" and a Server Reference names where the
//! client should go instead.
//!
//! The specification leaves the reference's format open; what servers send in practice, and
//! what its non-normative examples show, is a space-separated list of `host[:port]` entries
//! (`[v6addr]:port` for IPv6). We also take full URLs (`mqtts://host:8883`) so a server can
//! change the transport. An entry without a scheme keeps the transport of the server the
//! client was on (TLS stays TLS, a WebSocket path stays), and without a port keeps its port.

use crate::codec::{ConnectReasonCode, DisconnectReasonCode};
use crate::session::DisconnectCause;

use super::transport::ServerAddr;

/// At most this many redirects in a row without a connection that lasted: a pair of servers
/// pointing at each other cannot keep the client bouncing forever.
pub(crate) const MAX_HOPS: u32 = 5;

/// Where a server sent the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// 0x9D "Server moved": use the new server from now on, in place of the old one.
    pub permanent: bool,
    /// The servers named, in the server's order of preference.
    pub targets: Vec<ServerAddr>,
    /// The reference as the server sent it (for messages).
    pub reference: String,
}

/// The redirect `cause` asks for, if any, relative to the server `current` it came from.
/// A 0x9C/0x9D without a Server Reference, or with one we cannot read, is not a redirect: the
/// client treats it as the refusal or disconnect it also is.
pub(crate) fn redirect_of(cause: &DisconnectCause, current: &ServerAddr) -> Option<Redirect> {
    let (permanent, reference) = match cause {
        DisconnectCause::Refused { reason_code, server_reference: Some(r), .. } => match reason_code {
            ConnectReasonCode::UseAnotherServer => (false, r),
            ConnectReasonCode::ServerMoved => (true, r),
            _ => return None,
        },
        DisconnectCause::Server { reason_code, server_reference: Some(r), .. } => match reason_code {
            DisconnectReasonCode::UseAnotherServer => (false, r),
            DisconnectReasonCode::ServerMoved => (true, r),
            _ => return None,
        },
        _ => return None,
    };
    let targets = targets(reference, current);
    if targets.is_empty() {
        tracing::warn!(reference = %reference, "ignoring a Server Reference that names no usable server");
        return None;
    }
    Some(Redirect { permanent, targets, reference: reference.clone() })
}

/// The servers a Server Reference names; entries that cannot be read are skipped.
pub(crate) fn targets(reference: &str, current: &ServerAddr) -> Vec<ServerAddr> {
    reference.split_ascii_whitespace().filter_map(|entry| target(entry, current)).take(16).collect()
}

fn target(entry: &str, current: &ServerAddr) -> Option<ServerAddr> {
    if entry.contains("://") {
        return ServerAddr::from_url(entry).ok();
    }
    let (host, port) = split_host_port(entry)?;
    let same_port = match current {
        ServerAddr::Tcp { port, .. }
        | ServerAddr::Tls { port, .. }
        | ServerAddr::Ws { port, .. }
        | ServerAddr::Wss { port, .. } => Some(*port),
        #[cfg(unix)]
        ServerAddr::Unix { .. } => None,
    };
    let port = match port {
        Some(p) => p,
        // From a Unix socket there is no port to keep: the MQTT default.
        None => same_port.unwrap_or(1883),
    };
    Some(match current {
        ServerAddr::Tcp { .. } => ServerAddr::tcp(host, port),
        ServerAddr::Tls { .. } => ServerAddr::tls(host, port),
        ServerAddr::Ws { path, .. } => ServerAddr::ws(host, port, path.clone()),
        ServerAddr::Wss { path, .. } => ServerAddr::wss(host, port, path.clone()),
        #[cfg(unix)]
        ServerAddr::Unix { .. } => ServerAddr::tcp(host, port),
    })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`; `None` for anything else (an empty host, a port
/// that is not a number, a bare IPv6 address whose port could not be told apart).
fn split_host_port(entry: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        if host.is_empty() {
            return None;
        }
        return match after {
            "" => Some((host.to_string(), None)),
            p => Some((host.to_string(), Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match entry.split_once(':') {
        None if !entry.is_empty() => Some((entry.to_string(), None)),
        Some((host, port)) if !host.is_empty() && !port.contains(':') => {
            Some((host.to_string(), Some(port.parse().ok()?)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: ConnectReasonCode, reference: Option<&str>) -> DisconnectCause {
        DisconnectCause::Refused {
            reason_code: code,
            reason_string: None,
            server_reference: reference.map(str::to_string),
        }
    }

    #[test]
    fn an_entry_keeps_the_transport_and_port_it_does_not_name() {
        let tls = ServerAddr::tls("old", 8883);
        assert_eq!(targets("new", &tls), vec![ServerAddr::tls("new", 8883)]);
        assert_eq!(targets("new:9000", &tls), vec![ServerAddr::tls("new", 9000)]);
        let ws = ServerAddr::ws("old", 8080, "/mqtt/ws");
        assert_eq!(targets("[::1]:81", &ws), vec![ServerAddr::ws("::1", 81, "/mqtt/ws")]);
        assert_eq!(targets("mqtt://plain:1884", &ws), vec![ServerAddr::tcp("plain", 1884)]);
    }

    #[test]
    fn a_list_is_read_in_order_and_unreadable_entries_are_skipped() {
        let tcp = ServerAddr::tcp("old", 1883);
        assert_eq!(
            targets("a:1 :2 b:x [] [::1 c  10.10.151.22:8883 [fe80::1]:1883 gopher://z", &tcp),
            vec![
                ServerAddr::tcp("a", 1),
                ServerAddr::tcp("c", 1883),
                ServerAddr::tcp("10.10.151.22", 8883),
                ServerAddr::tcp("fe80::1", 1883),
            ]
        );
        assert!(targets("", &tcp).is_empty());
        assert!(targets("fe80::1", &tcp).is_empty(), "a bare IPv6 address is ambiguous");
    }

    #[test]
    fn only_0x9c_and_0x9d_with_a_usable_reference_redirect() {
        let here = ServerAddr::tcp("old", 1883);
        let temporary =
            redirect_of(&refused(ConnectReasonCode::UseAnotherServer, Some("b:2")), &here).unwrap();
        assert_eq!((temporary.permanent, temporary.targets), (false, vec![ServerAddr::tcp("b", 2)]));
        let moved = redirect_of(&refused(ConnectReasonCode::ServerMoved, Some("b")), &here).unwrap();
        assert!(moved.permanent);
        assert_eq!(redirect_of(&refused(ConnectReasonCode::ServerMoved, None), &here), None);
        assert_eq!(redirect_of(&refused(ConnectReasonCode::ServerMoved, Some("::")), &here), None);
        assert_eq!(redirect_of(&refused(ConnectReasonCode::ServerBusy, Some("b")), &here), None);
        let server = DisconnectCause::Server {
            reason_code: DisconnectReasonCode::UseAnotherServer,
            reason_string: None,
            server_reference: Some("b".into()),
        };
        assert_eq!(redirect_of(&server, &here).unwrap().targets, vec![ServerAddr::tcp("b", 1883)]);
        assert_eq!(redirect_of(&DisconnectCause::ConnectionLost, &here), None);
    }
}
