//! `tether.TlsOptions`: how a client secures `mqtts://` connections.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::errors;

/// TLS settings for `mqtts://` servers, passed as `tls=` to `Client` / `AsyncClient`.
///
/// `ca_file`: PEM CA certificates to trust (default: the system's root certificates).
/// `cert_file` and `key_file`: a client certificate and its key (PEM; PKCS#1, PKCS#8 or
/// SEC1) for mutual TLS. `alpn`: ALPN protocols to offer. `verify=False` accepts any server
/// certificate: **dangerous** (anyone on the path can read and change the traffic), for tests
/// and development only. The files are read here: `TlsError` naming a file that cannot be
/// read or holds no certificate or key.
///
///     tls = tether.TlsOptions(ca_file="ca.pem", cert_file="client.pem", key_file="client.key")
///     client = tether.Client("sensor-1", tls=tls)
///     client.connect("mqtts://broker.example:8883")
#[pyclass(module = "tether", frozen)]
#[derive(Clone)]
pub struct TlsOptions {
    /// The CA file, or None for the system's root certificates.
    #[pyo3(get)]
    ca_file: Option<PathBuf>,
    /// The client certificate file, or None.
    #[pyo3(get)]
    cert_file: Option<PathBuf>,
    /// The client key file, or None.
    #[pyo3(get)]
    key_file: Option<PathBuf>,
    /// The ALPN protocols offered, in order (None: none).
    #[pyo3(get)]
    alpn: Option<Vec<String>>,
    /// Whether the server's certificate is verified.
    #[pyo3(get)]
    verify: bool,
}

/// The longest ALPN protocol name (RFC 7301 section 3.1: a one-byte length).
const MAX_ALPN: usize = 255;

#[pymethods]
impl TlsOptions {
    #[new]
    #[pyo3(signature = (ca_file=None, cert_file=None, key_file=None, alpn=None, verify=true))]
    fn py_new(
        py: Python<'_>,
        ca_file: Option<PathBuf>,
        cert_file: Option<PathBuf>,
        key_file: Option<PathBuf>,
        alpn: Option<Vec<String>>,
        verify: bool,
    ) -> PyResult<Self> {
        if let Some(protocols) = &alpn {
            for p in protocols {
                if p.is_empty() || p.len() > MAX_ALPN {
                    return Err(errors::invalid_argument(
                        py,
                        format!("ALPN protocol {p:?} is {} bytes; 1 to {MAX_ALPN} allowed", p.len()),
                    ));
                }
            }
        }
        let options = TlsOptions { ca_file, cert_file, key_file, alpn, verify };
        // The files now, not at connect(); verify off only so that the check reads no
        // system root certificates.
        let files = tether_core::TlsOptions { verify: false, ..options.to_core() };
        let check = if options.ca_file.is_some() {
            tether_core::TlsOptions { verify: true, system_roots: false, ..files }
        } else {
            files
        };
        py.detach(|| check.build()).map_err(|e| errors::to_py(py, &e))?;
        Ok(options)
    }

    fn __repr__(&self) -> String {
        let path = |p: &Option<PathBuf>| {
            p.as_ref().map_or("None".to_string(), |p| format!("{:?}", p.display().to_string()))
        };
        format!(
            "TlsOptions(ca_file={}, cert_file={}, key_file={}, alpn={:?}, verify={})",
            path(&self.ca_file),
            path(&self.cert_file),
            path(&self.key_file),
            self.alpn,
            if self.verify { "True" } else { "False" }
        )
    }
}

impl TlsOptions {
    pub(crate) fn to_core(&self) -> tether_core::TlsOptions {
        tether_core::TlsOptions {
            ca_file: self.ca_file.clone(),
            client_cert_file: self.cert_file.clone(),
            client_key_file: self.key_file.clone(),
            alpn: self.alpn.iter().flatten().map(|p| p.as_bytes().to_vec()).collect(),
            verify: self.verify,
            ..tether_core::TlsOptions::default()
        }
    }
}
