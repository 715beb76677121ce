//! `tether.TlsOptions`: how a client secures `mqtts://` connections.

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::errors;

/// TLS settings for `mqtts://` and `wss://` servers (every setting, ALPN included, applies
/// to both), passed as `tls=` to `Client` / `AsyncClient`.
///
/// `ca_file`: PEM CA certificates to trust (default: the system's root certificates).
/// `cert_file` and `key_file`: a client certificate and its key (PEM; PKCS#1, PKCS#8 or
/// SEC1) for mutual TLS. `ca_pem`, `cert_pem`, `key_pem`: the same as PEM bytes instead of
/// files (`ca_pem` may go with `ca_file`: both are trusted; a certificate or key given both
/// ways is an error). `alpn`: ALPN protocols to offer. `verify=False` accepts any server
/// certificate: **dangerous** (anyone on the path can read and change the traffic), for tests
/// and development only. The files and PEM are read here: `TlsError` naming a file (or the
/// PEM argument) that cannot be read or holds no certificate or key.
///
///     tls = tether.TlsOptions(ca_file="ca.pem", cert_file="client.pem", key_file="client.key")
///     client = tether.Client("sensor-1", tls=tls)
///     client.connect("mqtts://broker.example:8883")
///     # or from memory:
///     tls = tether.TlsOptions(ca_pem=ca_bytes, cert_pem=cert_bytes, key_pem=key_bytes)
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
    /// CA certificates as PEM bytes, or None.
    ca_pem: Option<Vec<u8>>,
    /// The client certificate as PEM bytes, or None.
    cert_pem: Option<Vec<u8>>,
    /// The client key as PEM bytes, or None (never shown by repr).
    key_pem: Option<Vec<u8>>,
}

/// The longest ALPN protocol name (RFC 7301 section 3.1: a one-byte length).
const MAX_ALPN: usize = 255;

#[pymethods]
impl TlsOptions {
    #[new]
    #[pyo3(signature = (ca_file=None, cert_file=None, key_file=None, alpn=None, verify=true,
        ca_pem=None, cert_pem=None, key_pem=None))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
        ca_file: Option<PathBuf>,
        cert_file: Option<PathBuf>,
        key_file: Option<PathBuf>,
        alpn: Option<Vec<String>>,
        verify: bool,
        ca_pem: Option<&Bound<'_, PyAny>>,
        cert_pem: Option<&Bound<'_, PyAny>>,
        key_pem: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let ca_pem = pem(ca_pem, "ca_pem")?;
        let cert_pem = pem(cert_pem, "cert_pem")?;
        let key_pem = pem(key_pem, "key_pem")?;
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
        let options = TlsOptions { ca_file, cert_file, key_file, alpn, verify, ca_pem, cert_pem, key_pem };
        // The files now, not at connect(); verify off only so that the check reads no
        // system root certificates.
        let files = tether_core::TlsOptions { verify: false, ..options.to_core() };
        let check = if options.ca_file.is_some() || options.ca_pem.is_some() {
            tether_core::TlsOptions { verify: true, system_roots: false, ..files }
        } else {
            files
        };
        py.detach(|| check.build()).map_err(|e| errors::to_py(py, &e))?;
        Ok(options)
    }

    /// The CA certificates given as PEM bytes, or None.
    #[getter]
    fn ca_pem<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyBytes>> {
        self.ca_pem.as_deref().map(|b| pyo3::types::PyBytes::new(py, b))
    }

    /// The client certificate given as PEM bytes, or None.
    #[getter]
    fn cert_pem<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyBytes>> {
        self.cert_pem.as_deref().map(|b| pyo3::types::PyBytes::new(py, b))
    }

    /// The client key given as PEM bytes, or None.
    #[getter]
    fn key_pem<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyBytes>> {
        self.key_pem.as_deref().map(|b| pyo3::types::PyBytes::new(py, b))
    }

    fn __repr__(&self) -> String {
        let path = |p: &Option<PathBuf>| {
            p.as_ref().map_or("None".to_string(), |p| format!("{:?}", p.display().to_string()))
        };
        // PEM shown by size only: a key has no place in logs.
        let pem =
            |p: &Option<Vec<u8>>| p.as_ref().map_or("None".to_string(), |p| format!("<{} bytes>", p.len()));
        format!(
            "TlsOptions(ca_file={}, cert_file={}, key_file={}, alpn={:?}, verify={}, ca_pem={}, cert_pem={}, key_pem={})",
            path(&self.ca_file),
            path(&self.cert_file),
            path(&self.key_file),
            self.alpn,
            if self.verify { "True" } else { "False" },
            pem(&self.ca_pem),
            pem(&self.cert_pem),
            pem(&self.key_pem)
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
            ca_pem: self.ca_pem.clone(),
            client_cert_pem: self.cert_pem.clone(),
            client_key_pem: self.key_pem.clone(),
            ..tether_core::TlsOptions::default()
        }
    }
}

/// A PEM argument: bytes, bytearray, memoryview or str (PEM is ASCII text), or None.
fn pem(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<Vec<u8>>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => crate::convert::payload(Some(v), name).map(|b| Some(b.to_vec())),
    }
}
