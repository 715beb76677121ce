//! Throw-away certificates for TLS tests: a CA, a server certificate for `localhost` and
//! `127.0.0.1`, a client certificate, and a second CA that signed none of them (the "wrong
//! CA"). Written as PEM files 0644 in a 0755 folder so that a broker that dropped its
//! privileges can still read them.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A CA and certificates it signed, in one folder.
///
/// ```no_run
/// let dir = tempfile::tempdir().unwrap();
/// let pki = tether_testkit::tls::TestPki::generate(dir.path()).unwrap();
/// assert!(pki.ca_file.exists() && pki.server.cert.exists() && pki.client.key.exists());
/// ```
pub struct TestPki {
    pub dir: PathBuf,
    /// The CA that signed `server` and `client` (PEM).
    pub ca_file: PathBuf,
    /// For `localhost` and IP `127.0.0.1`.
    pub server: CertFiles,
    /// A client certificate for mutual TLS (common name `tether-test-client`).
    pub client: CertFiles,
    /// A CA that signed nothing here: trusting only it makes the server's certificate unknown.
    pub other_ca_file: PathBuf,
    ca: Certificate,
    ca_key: KeyPair,
}

impl std::fmt::Debug for TestPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPki").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn rc(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("rcgen: {e}"))
}

fn write(path: &Path, text: &str) -> io::Result<()> {
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

fn new_ca(name: &str) -> io::Result<(Certificate, KeyPair)> {
    let key = KeyPair::generate().map_err(rc)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).map_err(rc)?;
    Ok((cert, key))
}

impl TestPki {
    /// Makes the CA and certificates in `dir` (created if missing).
    ///
    /// ```no_run
    /// let pki = tether_testkit::tls::TestPki::generate(std::path::Path::new("/tmp/pki")).unwrap();
    /// println!("{}", pki.ca_file.display());
    /// ```
    pub fn generate(dir: &Path) -> io::Result<TestPki> {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
        let (ca, ca_key) = new_ca("tether test CA")?;
        let ca_file = dir.join("ca.pem");
        write(&ca_file, &ca.pem())?;
        let (other, _) = new_ca("tether other CA")?;
        let other_ca_file = dir.join("other-ca.pem");
        write(&other_ca_file, &other.pem())?;
        let mut pki = TestPki {
            dir: dir.to_path_buf(),
            ca_file,
            server: CertFiles { cert: PathBuf::new(), key: PathBuf::new() },
            client: CertFiles { cert: PathBuf::new(), key: PathBuf::new() },
            other_ca_file,
            ca,
            ca_key,
        };
        pki.server = pki.server_cert("server", &["localhost", "127.0.0.1"], false)?;
        pki.client = pki.client_cert("client", "tether-test-client", None)?;
        Ok(pki)
    }

    /// Another server certificate signed by the CA, for `names` (DNS names or IP
    /// addresses), written as `<stem>.pem` and `<stem>.key`; `expired` makes one whose
    /// validity ended in 2020.
    ///
    /// ```no_run
    /// # let pki = tether_testkit::tls::TestPki::generate(std::path::Path::new("/tmp/pki")).unwrap();
    /// let elsewhere = pki.server_cert("elsewhere", &["broker.invalid"], false).unwrap();
    /// # drop(elsewhere);
    /// ```
    pub fn server_cert(&self, stem: &str, names: &[&str], expired: bool) -> io::Result<CertFiles> {
        let key = KeyPair::generate().map_err(rc)?;
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).map_err(rc)?;
        params.distinguished_name.push(DnType::CommonName, "tether test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).map_err(rc)?;
        self.save(stem, &cert, &key.serialize_pem())
    }

    /// A client certificate signed by the CA, with common name `cn`; `key_pem` is the key to
    /// certify (PKCS#8 PEM; a new ECDSA P-256 key when None), and is what the key file holds.
    ///
    /// ```no_run
    /// # let pki = tether_testkit::tls::TestPki::generate(std::path::Path::new("/tmp/pki")).unwrap();
    /// let c = pki.client_cert("alice", "alice", None).unwrap();
    /// # drop(c);
    /// ```
    pub fn client_cert(&self, stem: &str, cn: &str, key_pem: Option<&str>) -> io::Result<CertFiles> {
        let key = match key_pem {
            Some(pem) => KeyPair::from_pem(pem).map_err(rc)?,
            None => KeyPair::generate().map_err(rc)?,
        };
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).map_err(rc)?;
        let key_text = key_pem.map(str::to_owned).unwrap_or_else(|| key.serialize_pem());
        self.save(stem, &cert, &key_text)
    }

    fn save(&self, stem: &str, cert: &Certificate, key: &str) -> io::Result<CertFiles> {
        let files = CertFiles {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}.key")),
        };
        write(&files.cert, &cert.pem())?;
        write(&files.key, key)?;
        Ok(files)
    }
}

/// A TLS listener of a test broker ([`crate::BrokerBuilder::tls_listener`]).
///
/// ```no_run
/// # let pki = tether_testkit::tls::TestPki::generate(std::path::Path::new("/tmp/pki")).unwrap();
/// let l = tether_testkit::tls::TlsListener::new(&pki.server, &pki.ca_file, true);
/// # drop(l);
/// ```
#[derive(Debug, Clone)]
pub struct TlsListener {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    /// Refuse clients without a certificate signed by `ca` (mutual TLS).
    pub require_certificate: bool,
}

impl TlsListener {
    /// A listener showing `server`, trusting client certificates from `ca`.
    ///
    /// ```no_run
    /// # let pki = tether_testkit::tls::TestPki::generate(std::path::Path::new("/tmp/pki")).unwrap();
    /// let l = tether_testkit::tls::TlsListener::new(&pki.server, &pki.ca_file, false);
    /// # drop(l);
    /// ```
    pub fn new(server: &CertFiles, ca: &Path, require_certificate: bool) -> TlsListener {
        TlsListener {
            cert: server.cert.clone(),
            key: server.key.clone(),
            ca: ca.to_path_buf(),
            require_certificate,
        }
    }
}
