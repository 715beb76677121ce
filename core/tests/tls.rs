#![allow(clippy::disallowed_methods)]
//! TLS against a real mosquitto TLS listener, with certificates made for the test
//! (tether_testkit::tls): trust by CA file and PEM, mutual TLS with each key format, connect
//! by IP, ALPN, the certificate failures (each a readable `Error::Tls`, none retried), and
//! the persistent-session story across a cut TLS connection.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{expect_event, messages_until};
use tether_core::{
    AsyncClient, Error, ErrorKind, Event, MqttOptions, QoS, ReconnectPolicy, ServerAddr, TlsOptions,
    SESSION_NEVER_EXPIRES,
};
use tether_testkit::tls::{CertFiles, TestPki, TlsListener};
use tether_testkit::{Broker, FaultProxy};

const T: Duration = Duration::from_secs(10);

struct Setup {
    _dir: tempfile::TempDir,
    pki: TestPki,
}

fn pki() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(&dir.path().join("pki")).unwrap();
    Setup { _dir: dir, pki }
}

fn tls_broker(server: &CertFiles, ca: &Path, require_certificate: bool) -> Broker {
    Broker::builder().tls_listener(TlsListener::new(server, ca, require_certificate)).start().unwrap()
}

fn trusting(ca: &Path) -> TlsOptions {
    TlsOptions { ca_file: Some(ca.to_path_buf()), ..TlsOptions::default() }
}

fn options(id: &str, url: &str, tls: TlsOptions) -> MqttOptions {
    let mut o = MqttOptions::from_url(id, url).unwrap();
    o.set_tls(tls).unwrap();
    o.set_reconnect(ReconnectPolicy {
        enabled: true,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        stable_after: Duration::from_secs(2),
    });
    o
}

/// Connects, subscribes, publishes one QoS 1 message to itself and reads it back.
async fn round_trip(o: MqttOptions) {
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap_or_else(|e| panic!("connect: {e}"));
    client.subscribe("tls/echo", QoS::AtLeastOnce).await.unwrap();
    let d = client.publish("tls/echo", QoS::AtLeastOnce, false, "over TLS").await.unwrap();
    tokio::time::timeout(T, d).await.unwrap().unwrap();
    let got = messages_until(&client, T, |m| m.topic == "tls/echo").await;
    assert_eq!(&got.last().unwrap().payload[..], b"over TLS");
    client.disconnect().await.unwrap();
}

async fn connect_error(o: MqttOptions) -> Error {
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.expect("connect must not hang").unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_file_by_host_name() {
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, false);
    let url = format!("mqtts://localhost:{}", broker.tls_port().unwrap());
    round_trip(options("tls-name", &url, trusting(&s.pki.ca_file))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ca_pem_by_ip_address() {
    // The certificate has IP 127.0.0.1 among its SANs; no SNI is sent for an IP.
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, false);
    let url = format!("mqtts://127.0.0.1:{}", broker.tls_port().unwrap());
    let pem = std::fs::read(&s.pki.ca_file).unwrap();
    round_trip(options("tls-ip", &url, TlsOptions { ca_pem: Some(pem), ..TlsOptions::default() })).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_is_offered_and_a_server_without_alpn_still_connects() {
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, false);
    let url = format!("mqtts://127.0.0.1:{}", broker.tls_port().unwrap());
    let tls = TlsOptions { alpn: vec![b"mqtt".to_vec(), b"x-other".to_vec()], ..trusting(&s.pki.ca_file) };
    assert_eq!(tls.build().unwrap().alpn_protocols, vec![b"mqtt".to_vec(), b"x-other".to_vec()]);
    round_trip(options("tls-alpn", &url, tls)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_client_config_can_be_given() {
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, false);
    let config = trusting(&s.pki.ca_file).build().unwrap();
    let mut o = MqttOptions::new("tls-config", "unused", 1);
    o.set_servers(vec![ServerAddr::tls("localhost", broker.tls_port().unwrap())]);
    o.set_tls_config(config.clone());
    round_trip(o).await;
    let both = TlsOptions { config: Some(config), alpn: vec![b"mqtt".to_vec()], ..TlsOptions::default() };
    assert_eq!(both.build().unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, true);
    let url = format!("mqtts://localhost:{}", broker.tls_port().unwrap());
    let with_cert = TlsOptions {
        client_cert_file: Some(s.pki.client.cert.clone()),
        client_key_file: Some(s.pki.client.key.clone()),
        ..trusting(&s.pki.ca_file)
    };
    round_trip(options("mtls", &url, with_cert)).await;

    let err = connect_error(options("mtls-none", &url, trusting(&s.pki.ca_file))).await;
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("client certificate"), "{err}");
}

/// Mutual TLS from PEM bytes alone: the CA, the client certificate and its key given as
/// bytes, no file named. Bytes that hold no certificate or key are refused when set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_from_pem_bytes_only() {
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, true);
    let url = format!("mqtts://localhost:{}", broker.tls_port().unwrap());
    let read = |p: &Path| std::fs::read(p).unwrap();
    let pem = TlsOptions {
        ca_pem: Some(read(&s.pki.ca_file)),
        client_cert_pem: Some(read(&s.pki.client.cert)),
        client_key_pem: Some(read(&s.pki.client.key)),
        ..TlsOptions::default()
    };
    round_trip(options("mtls-pem", &url, pem.clone())).await;

    let no_key = TlsOptions { client_key_pem: Some(b"not a key".to_vec()), ..pem.clone() };
    let err = no_key.build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("client_key_pem"), "{err}");
    let no_cert = TlsOptions { client_cert_pem: Some(read(&s.pki.client.key)), ..pem.clone() };
    assert!(no_cert.build().unwrap_err().to_string().contains("client_cert_pem holds no PEM certificate"));
    let half = TlsOptions { client_key_pem: None, ..pem.clone() };
    assert_eq!(half.build().unwrap_err().kind(), ErrorKind::InvalidArgument);
    let both = TlsOptions { client_cert_file: Some(s.pki.client.cert.clone()), ..pem };
    assert_eq!(both.build().unwrap_err().kind(), ErrorKind::InvalidArgument);
}

/// PKCS#1 (RSA), PKCS#8 (what rcgen writes) and SEC1 (EC) key files all work; openssl
/// converts between them (scripts/ensure-deps.sh installs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keys_in_pkcs1_pkcs8_and_sec1() {
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, true);
    let url = format!("mqtts://localhost:{}", broker.tls_port().unwrap());
    let dir = &s.pki.dir;
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl (install it)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    // SEC1: the PKCS#8 EC key of the default client, rewritten.
    openssl(&["ec", "-in", "client.key", "-out", "client-sec1.key"]);
    // PKCS#1: a new RSA key, certified from its PKCS#8 form.
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa-pkcs8.key"]);
    let rsa = std::fs::read_to_string(dir.join("rsa-pkcs8.key")).unwrap();
    let rsa_client = s.pki.client_cert("rsa-client", "rsa-client", Some(&rsa)).unwrap();
    openssl(&["rsa", "-in", "rsa-pkcs8.key", "-traditional", "-out", "rsa-pkcs1.key"]);

    let cases = [
        (s.pki.client.cert.clone(), dir.join("client.key"), "PRIVATE KEY"),
        (s.pki.client.cert.clone(), dir.join("client-sec1.key"), "EC PRIVATE KEY"),
        (rsa_client.cert.clone(), dir.join("rsa-pkcs1.key"), "RSA PRIVATE KEY"),
    ];
    for (cert, key, label) in cases {
        let text = std::fs::read_to_string(&key).unwrap();
        assert!(text.starts_with(&format!("-----BEGIN {label}-----")), "{label}: {text}");
        let tls = TlsOptions {
            client_cert_file: Some(cert),
            client_key_file: Some(key),
            ..trusting(&s.pki.ca_file)
        };
        round_trip(options(&format!("mtls-{}", label.len()), &url, tls)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ca_is_a_tls_error_and_is_not_retried() {
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, false);
    // The proxy is TCP: it counts connection attempts under TLS as well.
    let proxy = FaultProxy::start(([127, 0, 0, 1], broker.tls_port().unwrap()).into());
    let url = format!("mqtts://localhost:{}", proxy.port());
    let err = connect_error(options("tls-unknown", &url, trusting(&s.pki.other_ca_file))).await;
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("unknown issuer"), "{err}");
    assert!(err.to_string().contains(&format!("mqtts://localhost:{}", proxy.port())), "{err}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(proxy.stats().connections, 1, "a certificate failure was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_host_name_is_a_tls_error() {
    let s = pki();
    let elsewhere = s.pki.server_cert("elsewhere", &["broker.invalid"], false).unwrap();
    let broker = tls_broker(&elsewhere, &s.pki.ca_file, false);
    let url = format!("mqtts://127.0.0.1:{}", broker.tls_port().unwrap());
    let err = connect_error(options("tls-host", &url, trusting(&s.pki.ca_file))).await;
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("not valid for \"127.0.0.1\""), "{err}");
    assert!(err.to_string().contains("broker.invalid"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate_is_a_tls_error() {
    let s = pki();
    let expired = s.pki.server_cert("expired", &["localhost", "127.0.0.1"], true).unwrap();
    let broker = tls_broker(&expired, &s.pki.ca_file, false);
    let url = format!("mqtts://localhost:{}", broker.tls_port().unwrap());
    let err = connect_error(options("tls-expired", &url, trusting(&s.pki.ca_file))).await;
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_false_accepts_any_certificate() {
    let s = pki();
    let broker = tls_broker(&s.pki.server, &s.pki.ca_file, false);
    let url = format!("mqtts://127.0.0.1:{}", broker.tls_port().unwrap());
    round_trip(options("tls-insecure", &url, TlsOptions { verify: false, ..TlsOptions::default() })).await;
}

#[test]
fn bad_files_are_refused_when_set_naming_the_file() {
    let s = pki();
    let junk = s.pki.dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let mut o = MqttOptions::new("files", "127.0.0.1", 8883);
    let cases = [
        (trusting(Path::new("/nonexistent/ca.pem")), "/nonexistent/ca.pem"),
        (trusting(&junk), "junk.pem"),
        (
            TlsOptions {
                client_cert_file: Some(s.pki.client.cert.clone()),
                client_key_file: Some(junk.clone()),
                ..TlsOptions::default()
            },
            "junk.pem",
        ),
        (
            TlsOptions {
                client_cert_file: Some(junk.clone()),
                client_key_file: Some(s.pki.client.key.clone()),
                ..TlsOptions::default()
            },
            "junk.pem",
        ),
        (
            // A key that is not the certificate's.
            TlsOptions {
                client_cert_file: Some(s.pki.client.cert.clone()),
                client_key_file: Some(s.pki.server.key.clone()),
                ..TlsOptions::default()
            },
            "client.pem",
        ),
    ];
    for (tls, named) in cases {
        let err = o.set_tls(tls).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(err.to_string().contains(named), "{named}: {err}");
    }
    let half = TlsOptions { client_cert_file: Some(s.pki.client.cert.clone()), ..TlsOptions::default() };
    assert_eq!(o.set_tls(half).map(|_| ()).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

/// During automatic reconnects, a server whose certificate is not trusted stops them: one
/// attempt, then `Event::ReconnectStopped`, no storm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_failure_during_reconnects_stops_them() {
    let s = pki();
    let good = tls_broker(&s.pki.server, &s.pki.ca_file, false);
    let good_proxy = FaultProxy::start(([127, 0, 0, 1], good.tls_port().unwrap()).into());
    // A second broker whose certificate comes from a CA the client does not trust.
    let other_dir = tempfile::tempdir().unwrap();
    let other = TestPki::generate(other_dir.path()).unwrap();
    let bad = tls_broker(&other.server, &other.ca_file, false);
    let bad_proxy = FaultProxy::start(([127, 0, 0, 1], bad.tls_port().unwrap()).into());

    let mut o = options(
        "tls-failover",
        &format!("mqtts://localhost:{}", good_proxy.port()),
        trusting(&s.pki.ca_file),
    );
    o.add_server(ServerAddr::tls("localhost", bad_proxy.port()));
    let client = AsyncClient::new(o);
    tokio::time::timeout(T, client.connect()).await.unwrap().unwrap();
    // The good server goes away: the next attempts go to the next server in the list.
    good_proxy.set_refuse(true);
    good_proxy.cut_all();
    let error = expect_event(&client, T, |e| match e {
        Event::ReconnectStopped { error } => Some(error.clone()),
        _ => None,
    })
    .await;
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    // Both test CAs carry the same name, so the chain is judged by its signature.
    assert!(error.to_string().contains(&format!("localhost:{}", bad_proxy.port())), "{error}");
    assert!(error.to_string().contains("signature"), "{error}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(bad_proxy.stats().connections, 1, "the untrusted server was tried again");
    assert!(!client.stats().connected);
}

/// The seed scenario over TLS: a persistent session, the link cut while QoS 1 messages are
/// in flight, the session resumed and the unacknowledged ones sent again with DUP; the
/// subscriber gets every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_session_survives_a_cut_tls_connection() {
    const N: usize = 300;
    let s = pki();
    let broker = Broker::builder()
        .config_line("max_queued_messages 0")
        .tls_listener(TlsListener::new(&s.pki.server, &s.pki.ca_file, false))
        .start()
        .unwrap();
    let tls_port = broker.tls_port().unwrap();
    let sub_url = format!("mqtts://localhost:{tls_port}");
    let mut so = options("tls-seed-sub", &sub_url, trusting(&s.pki.ca_file));
    so.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    let sub = AsyncClient::new(so);
    sub.connect().await.unwrap();
    sub.subscribe("seed/#", QoS::AtLeastOnce).await.unwrap();

    let proxy = FaultProxy::start(([127, 0, 0, 1], tls_port).into());
    let mut po =
        options("tls-seed-pub", &format!("mqtts://localhost:{}", proxy.port()), trusting(&s.pki.ca_file));
    po.set_session_expiry_interval(SESSION_NEVER_EXPIRES);
    let publisher = AsyncClient::new(po);
    publisher.connect().await.unwrap();
    common::cut_while_in_flight_and_resume(&sub, &publisher, &proxy, N, "TLS").await;
    publisher.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
}
