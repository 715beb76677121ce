//! TLS settings (`mqtts://`): what to trust, which client certificate to show, ALPN.
//!
//! The crypto provider is ring, chosen here for every configuration this crate builds rather
//! than taken from rustls' process-wide default: an application (or another library in it)
//! that installs a different default must not change, or break, how tether connects.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

use crate::Error;

/// How to secure connections to `mqtts://` and `wss://` servers ([`crate::ServerAddr::Tls`],
/// [`crate::ServerAddr::Wss`]: every setting, ALPN included, applies to both); given to
/// [`crate::MqttOptions::set_tls`], which reads and checks every file and PEM at once.
/// The client certificate and key may be files or PEM bytes (`client_cert_pem`,
/// `client_key_pem`), the CAs both.
///
/// Trust: the CAs of `ca_file` and `ca_pem`; without either, the system's root certificates
/// (`rustls-native-certs`). With `system_roots` the system's roots are trusted as well as the
/// given CAs. The server's name is checked against its certificate: the host name of the
/// address (also sent as SNI), or its IP address when the address is one (the certificate
/// then needs that IP in its subject alternative names).
///
/// ```no_run
/// use tether_core::{MqttOptions, TlsOptions};
/// let mut options = MqttOptions::from_url("sensor-1", "mqtts://broker.example:8883")?;
/// options.set_tls(TlsOptions {
///     ca_file: Some("ca.pem".into()),
///     client_cert_file: Some("client.pem".into()),
///     client_key_file: Some("client.key".into()),
///     alpn: vec![b"mqtt".to_vec()],
///     ..TlsOptions::default()
/// })?;
/// # Ok::<(), tether_core::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsOptions {
    /// A PEM file of CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// CA certificates to trust, as PEM bytes (with or beside `ca_file`).
    pub ca_pem: Option<Vec<u8>>,
    /// Also trust the system's root certificates when `ca_file` or `ca_pem` is given
    /// (without them the system's roots are what is trusted anyway).
    pub system_roots: bool,
    /// The client certificate (PEM, leaf first, then intermediates) for mutual TLS; needs
    /// `client_key_file` (or `client_key_pem`).
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key: PEM, PKCS#1 (`RSA PRIVATE KEY`), PKCS#8
    /// (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    pub client_key_file: Option<PathBuf>,
    /// The client certificate as PEM bytes (instead of `client_cert_file`).
    pub client_cert_pem: Option<Vec<u8>>,
    /// The client certificate's private key as PEM bytes (instead of `client_key_file`).
    pub client_key_pem: Option<Vec<u8>>,
    /// ALPN protocols offered, in order of preference (none by default). Offered in the TLS
    /// handshake of `mqtts://` and `wss://` servers alike.
    pub alpn: Vec<Vec<u8>>,
    /// Verify the server's certificate (default true). **False is dangerous**: any
    /// certificate is accepted, so anyone on the path can read and change the traffic
    /// (the handshake still proves the server holds the key of the certificate it shows,
    /// but nothing says whose certificate it is). For tests and development only.
    pub verify: bool,
    /// A whole rustls configuration, used as it is; it replaces every other field (giving
    /// both is refused).
    pub config: Option<Arc<ClientConfig>>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            ca_file: None,
            ca_pem: None,
            system_roots: false,
            client_cert_file: None,
            client_key_file: None,
            client_cert_pem: None,
            client_key_pem: None,
            alpn: Vec::new(),
            verify: true,
            config: None,
        }
    }
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_file", &self.ca_file)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| format!("{} bytes", p.len())))
            .field("system_roots", &self.system_roots)
            .field("client_cert_file", &self.client_cert_file)
            .field("client_key_file", &self.client_key_file)
            .field("client_cert_pem", &self.client_cert_pem.as_ref().map(|p| format!("{} bytes", p.len())))
            .field("client_key_pem", &self.client_key_pem.as_ref().map(|_| "<hidden>"))
            .field("alpn", &self.alpn)
            .field("verify", &self.verify)
            .field("config", &self.config.is_some())
            .finish()
    }
}

/// The crypto provider of every configuration built here.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsOptions {
    /// The rustls configuration these options describe, reading every file now: a missing
    /// or malformed CA, certificate or key file is an [`Error::Tls`] naming the file.
    ///
    /// ```
    /// use tether_core::{ErrorKind, TlsOptions};
    /// let bad = TlsOptions { ca_file: Some("/nonexistent/ca.pem".into()), ..TlsOptions::default() };
    /// let err = bad.build().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::Tls);
    /// assert!(err.to_string().contains("/nonexistent/ca.pem"));
    /// ```
    pub fn build(&self) -> Result<Arc<ClientConfig>, Error> {
        if let Some(config) = &self.config {
            let other = self.ca_file.is_some()
                || self.ca_pem.is_some()
                || self.system_roots
                || self.client_cert_file.is_some()
                || self.client_key_file.is_some()
                || self.client_cert_pem.is_some()
                || self.client_key_pem.is_some()
                || !self.alpn.is_empty()
                || !self.verify;
            if other {
                return Err(Error::InvalidArgument(
                    "TlsOptions::config replaces the other TLS settings; give either config or them".into(),
                ));
            }
            return Ok(config.clone());
        }
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(format!("the crypto provider: {e}")))?;
        let builder = if self.verify {
            builder.with_root_certificates(self.roots()?)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        };
        if self.client_cert_file.is_some() && self.client_cert_pem.is_some()
            || self.client_key_file.is_some() && self.client_key_pem.is_some()
        {
            return Err(Error::InvalidArgument(
                "give the client certificate and key as files or as PEM bytes, not both".into(),
            ));
        }
        let cert = match (&self.client_cert_file, &self.client_cert_pem) {
            (Some(file), _) => {
                Some((certificates(file, "client certificate file")?, file.display().to_string()))
            }
            (None, Some(pem)) => {
                Some((certificates_pem(pem, "client_cert_pem")?, "client_cert_pem".to_string()))
            }
            (None, None) => None,
        };
        let key = match (&self.client_key_file, &self.client_key_pem) {
            (Some(file), _) => Some((private_key(file)?, file.display().to_string())),
            (None, Some(pem)) => Some((private_key_pem(pem)?, "client_key_pem".to_string())),
            (None, None) => None,
        };
        let mut config = match (cert, key) {
            (Some((chain, cert_name)), Some((key, key_name))) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Tls(format!("client certificate {cert_name} and key {key_name}: {e}")))?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(Error::InvalidArgument(
                    "the client certificate and its key go together: give both or neither".into(),
                ))
            }
        };
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }

    fn roots(&self) -> Result<RootCertStore, Error> {
        let mut roots = RootCertStore::empty();
        if let Some(path) = &self.ca_file {
            for cert in certificates(path, "CA file")? {
                roots.add(cert).map_err(|e| {
                    Error::Tls(format!("CA file {}: a certificate is unusable: {e}", path.display()))
                })?;
            }
        }
        if let Some(pem) = &self.ca_pem {
            for cert in certificates_pem(pem, "ca_pem")? {
                roots.add(cert).map_err(|e| Error::Tls(format!("ca_pem: a certificate is unusable: {e}")))?;
            }
        }
        if (self.ca_file.is_none() && self.ca_pem.is_none()) || self.system_roots {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 && roots.is_empty() {
                let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
                return Err(Error::Tls(format!(
                    "no CA to trust: the system has no root certificates{why}; give ca_file"
                )));
            }
        }
        Ok(roots)
    }
}

/// Every certificate of a PEM file; none at all is an error too.
fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let named = |e: &dyn std::fmt::Display| Error::Tls(format!("{what} {}: {e}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| named(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| named(&e))?;
    if certs.is_empty() {
        return Err(named(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// Every certificate of PEM bytes (`what` names them); none at all is an error too.
fn certificates_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!("{what} holds no PEM certificate")));
    }
    Ok(certs)
}

fn private_key_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| Error::Tls(format!("client_key_pem: {}", key_error(e))))
}

fn key_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no private key in it (PEM PKCS#1, PKCS#8 or SEC1 expected)".to_string()
        }
        other => other.to_string(),
    }
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| Error::Tls(format!("client key file {}: {}", path.display(), key_error(e))))
}

/// The verifier behind `verify: false`: accepts whatever certificate the server shows.
/// Signatures are still checked, so the handshake proves possession of the certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls error inside an IO error from a TLS stream, when there is one.
pub(crate) fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// What a failed handshake (or a TLS alert right after it) means for the user, when it is a
/// failure that trying again will not fix: a certificate refused by either side, or a
/// handshake the server refused. `None` for the rest (a corrupt record, a reset), which is
/// reported as an IO error and retried.
pub(crate) fn final_failure(server: &str, host: &str, e: &rustls::Error) -> Option<Error> {
    use CertificateError as C;
    let text = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "the server's certificate is not signed by a trusted CA (unknown issuer); \
                                 give the CA that signed it (ca_file)"
                .to_string(),
            C::Expired | C::ExpiredContext { .. } => format!("the server's certificate has expired ({c:?})"),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("the server's certificate is not valid yet ({c:?})")
            }
            C::NotValidForName => format!("the server's certificate is not valid for {host:?}"),
            C::NotValidForNameContext { presented, .. } => format!(
                "the server's certificate is not valid for {host:?} (it names {})",
                presented.join(", ")
            ),
            C::Revoked => "the server's certificate is revoked".to_string(),
            C::BadSignature => "the server's certificate has a bad signature (not signed by the trusted CA \
                                 of that name)"
                .to_string(),
            other => format!("the server's certificate was refused: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired => {
                "the server requires a client certificate (alert certificate_required)".to_string()
            }
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied => {
                format!("the server refused our client certificate (alert {alert:?})")
            }
            AlertDescription::HandshakeFailure
            | AlertDescription::ProtocolVersion
            | AlertDescription::InsufficientSecurity
            | AlertDescription::IllegalParameter
            | AlertDescription::NoApplicationProtocol
            | AlertDescription::UnrecognisedName => {
                format!("the server refused the TLS handshake (alert {alert:?})")
            }
            _ => return None,
        },
        rustls::Error::NoApplicationProtocol => "no ALPN protocol in common with the server".to_string(),
        rustls::Error::NoCertificatesPresented => {
            format!("the TLS handshake failed: {e}")
        }
        rustls::Error::PeerIncompatible(p) => format!("the server's TLS is incompatible: {p:?}"),
        rustls::Error::General(m) => format!("TLS: {m}"),
        _ => return None,
    };
    Some(Error::Tls(format!("{server}: {text}")))
}
