//! A real mosquitto 2.x broker, started for one test on a free `127.0.0.1` port.
//!
//! The broker runs from its own temporary folder (config, log, persistence database), is
//! addressed by PID only, and is stopped when the [`Broker`] value is dropped. It never uses the
//! system service or port 1883.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where mosquitto lives when `TETHER_MOSQUITTO` is not set.
const DEFAULT_MOSQUITTO: &str = "/usr/sbin/mosquitto";
/// Overall time allowed for the broker to accept TCP connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the broker to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times a start on a freshly picked port is tried (another process may take the port
/// between the pick and mosquitto's bind).
const PORT_ATTEMPTS: usize = 5;

/// Path of the mosquitto binary: `$TETHER_MOSQUITTO`, else `/usr/sbin/mosquitto`, else
/// `mosquitto` looked up on `PATH`.
///
/// ```no_run
/// let bin = tether_testkit::broker::mosquitto_binary();
/// println!("using {}", bin.display());
/// ```
pub fn mosquitto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TETHER_MOSQUITTO") {
        return PathBuf::from(p);
    }
    let default = Path::new(DEFAULT_MOSQUITTO);
    if default.exists() {
        return default.to_path_buf();
    }
    PathBuf::from("mosquitto")
}

/// True when the mosquitto binary can be found (useful to skip tests with a clear message).
///
/// ```no_run
/// assert!(tether_testkit::broker::mosquitto_available(), "apt-get install -y mosquitto");
/// ```
pub fn mosquitto_available() -> bool {
    let bin = mosquitto_binary();
    if bin.is_absolute() {
        return bin.exists();
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(&bin).exists()))
        .unwrap_or(false)
}

/// Picks a free TCP port on 127.0.0.1 (bind port 0, read it, release it).
///
/// ```no_run
/// let port = tether_testkit::broker::free_port().unwrap();
/// assert_ne!(port, 0);
/// ```
pub fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Options for a [`Broker`]; obtained from [`Broker::builder`].
///
/// ```no_run
/// use tether_testkit::Broker;
/// let broker = Broker::builder()
///     .persistence(true)
///     .config_line("max_inflight_messages 20")
///     .start()
///     .expect("mosquitto");
/// println!("broker on {}", broker.addr());
/// ```
#[derive(Debug, Clone)]
pub struct BrokerBuilder {
    persistence: bool,
    autosave_interval: u32,
    lines: Vec<String>,
    port: Option<u16>,
    tls: Option<crate::tls::TlsListener>,
    ws: bool,
    wss: Option<crate::tls::TlsListener>,
}

impl Default for BrokerBuilder {
    fn default() -> Self {
        BrokerBuilder {
            persistence: false,
            autosave_interval: 1,
            lines: Vec::new(),
            port: None,
            tls: None,
            ws: false,
            wss: None,
        }
    }
}

impl BrokerBuilder {
    /// Turns mosquitto's persistence on (`persistence true`, a database in the broker's own
    /// temporary folder). With it on, sessions and queued messages survive [`Broker::restart`].
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::builder().persistence(true).start().unwrap();
    /// # drop(b);
    /// ```
    pub fn persistence(mut self, on: bool) -> Self {
        self.persistence = on;
        self
    }

    /// Seconds between automatic saves of the persistence database (default 1, so that even a
    /// [`Broker::kill`] loses at most about a second). Only used with persistence on.
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::builder().persistence(true).autosave_interval(60).start();
    /// # drop(b);
    /// ```
    pub fn autosave_interval(mut self, seconds: u32) -> Self {
        self.autosave_interval = seconds;
        self
    }

    /// Appends one raw line to `mosquitto.conf`, e.g. `"max_inflight_messages 20"` or
    /// `"max_packet_size 1024"`.
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::builder().config_line("max_queued_messages 5").start();
    /// # drop(b);
    /// ```
    pub fn config_line(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }

    /// Adds a TLS listener on another free port ([`Broker::tls_port`]), beside the plain one.
    ///
    /// ```no_run
    /// use tether_testkit::tls::{TestPki, TlsListener};
    /// let dir = tempfile::tempdir().unwrap();
    /// let pki = TestPki::generate(dir.path()).unwrap();
    /// let b = tether_testkit::Broker::builder()
    ///     .tls_listener(TlsListener::new(&pki.server, &pki.ca_file, false))
    ///     .start()
    ///     .unwrap();
    /// println!("mqtts://127.0.0.1:{}", b.tls_port().unwrap());
    /// ```
    pub fn tls_listener(mut self, listener: crate::tls::TlsListener) -> Self {
        self.tls = Some(listener);
        self
    }

    /// Adds a WebSocket listener (`ws://127.0.0.1:PORT/mqtt`) on another free port
    /// ([`Broker::ws_port`]), beside the plain one (mosquitto does not start with a WebSocket
    /// listener alone).
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::builder().ws_listener().start().unwrap();
    /// println!("ws://127.0.0.1:{}/mqtt", b.ws_port().unwrap());
    /// ```
    pub fn ws_listener(mut self) -> Self {
        self.ws = true;
        self
    }

    /// Adds a WebSocket-over-TLS listener (`wss://`) on another free port
    /// ([`Broker::wss_port`]), showing the listener's certificate.
    ///
    /// ```no_run
    /// use tether_testkit::tls::{TestPki, TlsListener};
    /// let dir = tempfile::tempdir().unwrap();
    /// let pki = TestPki::generate(dir.path()).unwrap();
    /// let b = tether_testkit::Broker::builder()
    ///     .wss_listener(TlsListener::new(&pki.server, &pki.ca_file, false))
    ///     .start()
    ///     .unwrap();
    /// println!("wss://127.0.0.1:{}/mqtt", b.wss_port().unwrap());
    /// ```
    pub fn wss_listener(mut self, listener: crate::tls::TlsListener) -> Self {
        self.wss = Some(listener);
        self
    }

    /// Listens on this port instead of a freshly picked free one (no retry on another port).
    ///
    /// ```no_run
    /// let port = tether_testkit::broker::free_port().unwrap();
    /// let b = tether_testkit::Broker::builder().port(port).start().unwrap();
    /// assert_eq!(b.port(), port);
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Writes the config and starts mosquitto; returns once it accepts TCP connections.
    /// On failure the error message carries mosquitto's log.
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::builder().start().unwrap();
    /// # drop(b);
    /// ```
    pub fn start(self) -> io::Result<Broker> {
        let dir = tempfile::Builder::new().prefix("tether-broker-").tempdir()?;
        let mut last_err = None;
        let attempts = if self.port.is_some() { 1 } else { PORT_ATTEMPTS };
        for _ in 0..attempts {
            let port = match self.port {
                Some(p) => p,
                None => free_port()?,
            };
            let tls_port = match self.tls {
                Some(_) => Some(free_port()?),
                None => None,
            };
            let ws_port = if self.ws { Some(free_port()?) } else { None };
            let wss_port = match self.wss {
                Some(_) => Some(free_port()?),
                None => None,
            };
            let mut broker = Broker {
                child: None,
                port,
                tls_port,
                ws_port,
                wss_port,
                dir: None,
                dir_path: dir.path().to_path_buf(),
            };
            broker.write_config(&self)?;
            match broker.spawn_and_wait() {
                Ok(()) => {
                    broker.dir = Some(dir);
                    return Ok(broker);
                }
                Err(e) => {
                    let retry = is_port_race(&e);
                    last_err = Some(e);
                    if !retry {
                        break;
                    }
                    // Keep the failed attempt's output apart from the next try's.
                    let _ = fs::rename(broker.log_path(), dir.path().join("failed-attempt.log"));
                    let _ = fs::rename(broker.stderr_path(), dir.path().join("failed-attempt.stderr"));
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("mosquitto did not start")))
    }
}

/// A running mosquitto broker on `127.0.0.1`, owned by one test. Dropping it stops the process.
///
/// ```no_run
/// use tether_testkit::Broker;
/// let mut broker = Broker::start();
/// let addr = broker.addr();
/// std::net::TcpStream::connect(addr).unwrap();
/// broker.restart(); // same port, same config, same persistence folder
/// broker.stop();
/// ```
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    port: u16,
    tls_port: Option<u16>,
    ws_port: Option<u16>,
    wss_port: Option<u16>,
    /// Owns the temporary folder; `None` only while the first start is in progress.
    dir: Option<tempfile::TempDir>,
    dir_path: PathBuf,
}

impl Broker {
    /// Starts a broker with default options on a free port; panics with mosquitto's log on
    /// failure.
    ///
    /// ```no_run
    /// let broker = tether_testkit::Broker::start();
    /// println!("{}", broker.port());
    /// ```
    pub fn start() -> Broker {
        Broker::builder()
            .start()
            .unwrap_or_else(|e| panic!("failed to start mosquitto ({}): {e}", mosquitto_binary().display()))
    }

    /// Returns a builder for a broker with options.
    ///
    /// ```no_run
    /// let broker = tether_testkit::Broker::builder().persistence(true).start().unwrap();
    /// # drop(broker);
    /// ```
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// The TCP port the broker listens on (on 127.0.0.1).
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// assert_ne!(b.port(), 1883);
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the TLS listener, when the builder asked for one
    /// ([`BrokerBuilder::tls_listener`]).
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// assert_eq!(b.tls_port(), None);
    /// ```
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// The port of the WebSocket listener, when the builder asked for one
    /// ([`BrokerBuilder::ws_listener`]).
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// assert_eq!(b.ws_port(), None);
    /// ```
    pub fn ws_port(&self) -> Option<u16> {
        self.ws_port
    }

    /// The port of the WebSocket-over-TLS listener, when the builder asked for one
    /// ([`BrokerBuilder::wss_listener`]).
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// assert_eq!(b.wss_port(), None);
    /// ```
    pub fn wss_port(&self) -> Option<u16> {
        self.wss_port
    }

    /// `127.0.0.1:<port>`.
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// std::net::TcpStream::connect(b.addr()).unwrap();
    /// ```
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port))
    }

    /// PID of the mosquitto process, or `None` while stopped.
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// println!("pid {:?}", b.pid());
    /// ```
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the mosquitto process is alive.
    ///
    /// ```no_run
    /// let mut b = tether_testkit::Broker::start();
    /// assert!(b.is_running());
    /// b.stop();
    /// assert!(!b.is_running());
    /// ```
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The broker's temporary folder (config, log, `data/` persistence folder).
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// assert!(b.dir().join("mosquitto.conf").exists());
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir_path
    }

    /// Path of the written `mosquitto.conf`.
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// println!("{}", std::fs::read_to_string(b.config_path()).unwrap());
    /// ```
    pub fn config_path(&self) -> PathBuf {
        self.dir_path.join("mosquitto.conf")
    }

    fn log_path(&self) -> PathBuf {
        self.dir_path.join("mosquitto.log")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir_path.join("mosquitto.stderr")
    }

    /// The broker's log so far (all restarts), plus anything it wrote to stdout/stderr.
    ///
    /// ```no_run
    /// let b = tether_testkit::Broker::start();
    /// assert!(b.log().contains("mosquitto version"));
    /// ```
    pub fn log(&self) -> String {
        let mut s = fs::read_to_string(self.log_path()).unwrap_or_default();
        if let Ok(err) = fs::read_to_string(self.stderr_path()) {
            if !err.trim().is_empty() {
                let _ = write!(s, "\n--- stdout/stderr ---\n{err}");
            }
        }
        s
    }

    /// Stops the broker: SIGTERM to its PID (mosquitto then saves its persistence database),
    /// waits for the exit (bounded), SIGKILL if it does not exit in time. Does nothing when
    /// already stopped.
    ///
    /// ```no_run
    /// let mut b = tether_testkit::Broker::start();
    /// b.stop();
    /// ```
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGTERM);
            if !wait_bounded(&mut child, STOP_TIMEOUT) {
                signal(&child, libc::SIGKILL);
                let _ = child.wait();
            }
        }
    }

    /// Kills the broker abruptly (SIGKILL): nothing is saved beyond the last autosave.
    ///
    /// ```no_run
    /// let mut b = tether_testkit::Broker::start();
    /// b.kill();
    /// ```
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Stops the broker if it runs, then starts it again on the same port with the same config
    /// and persistence folder. Panics with the log on failure.
    ///
    /// ```no_run
    /// let mut b = tether_testkit::Broker::builder().persistence(true).start().unwrap();
    /// let port = b.port();
    /// b.restart();
    /// assert_eq!(b.port(), port);
    /// ```
    pub fn restart(&mut self) {
        if let Err(e) = self.try_restart() {
            panic!("failed to restart mosquitto on port {}: {e}", self.port);
        }
    }

    /// Like [`Broker::restart`] but returns the error instead of panicking. A few attempts are
    /// made, since the old listening socket may take a moment to be released.
    ///
    /// ```no_run
    /// let mut b = tether_testkit::Broker::start();
    /// b.try_restart().unwrap();
    /// ```
    pub fn try_restart(&mut self) -> io::Result<()> {
        self.stop();
        let mut last = None;
        for attempt in 0..PORT_ATTEMPTS {
            if attempt > 0 {
                // The port could not be bound yet; back off briefly (bounded) before retrying.
                std::thread::sleep(Duration::from_millis(200));
            }
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let retry = is_port_race(&e);
                    last = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("restart failed")))
    }

    fn write_config(&self, opts: &BrokerBuilder) -> io::Result<()> {
        let mut conf = String::new();
        let _ = writeln!(conf, "# written by tether-testkit");
        let _ = writeln!(conf, "listener {} 127.0.0.1", self.port);
        let _ = writeln!(conf, "allow_anonymous true");
        if running_as_root() {
            let _ = writeln!(conf, "user root");
        }
        if opts.persistence {
            let data = self.dir_path.join("data");
            fs::create_dir_all(&data)?;
            let _ = writeln!(conf, "persistence true");
            let _ = writeln!(conf, "persistence_location {}/", data.display());
            let _ = writeln!(conf, "autosave_interval {}", opts.autosave_interval);
        } else {
            let _ = writeln!(conf, "persistence false");
        }
        let _ = writeln!(conf, "log_dest file {}", self.log_path().display());
        let _ = writeln!(conf, "log_type all");
        let _ = writeln!(conf, "log_timestamp true");
        for line in &opts.lines {
            let _ = writeln!(conf, "{line}");
        }
        if let (Some(tls), Some(port)) = (&opts.tls, self.tls_port) {
            // Last: the lines after `listener` belong to it.
            let _ = writeln!(conf, "listener {port} 127.0.0.1");
            let _ = writeln!(conf, "certfile {}", tls.cert.display());
            let _ = writeln!(conf, "keyfile {}", tls.key.display());
            let _ = writeln!(conf, "cafile {}", tls.ca.display());
            let _ = writeln!(conf, "require_certificate {}", tls.require_certificate);
        }
        // A WebSocket listener honours its bind address only with `socket_domain ipv4`.
        if let Some(port) = self.ws_port {
            let _ = writeln!(conf, "listener {port} 127.0.0.1");
            let _ = writeln!(conf, "protocol websockets");
            let _ = writeln!(conf, "socket_domain ipv4");
        }
        if let (Some(tls), Some(port)) = (&opts.wss, self.wss_port) {
            let _ = writeln!(conf, "listener {port} 127.0.0.1");
            let _ = writeln!(conf, "protocol websockets");
            let _ = writeln!(conf, "socket_domain ipv4");
            let _ = writeln!(conf, "certfile {}", tls.cert.display());
            let _ = writeln!(conf, "keyfile {}", tls.key.display());
            let _ = writeln!(conf, "cafile {}", tls.ca.display());
            let _ = writeln!(conf, "require_certificate {}", tls.require_certificate);
        }
        fs::write(self.config_path(), conf)
    }

    fn spawn_and_wait(&mut self) -> io::Result<()> {
        let err_file = fs::OpenOptions::new().create(true).append(true).open(self.stderr_path())?;
        let log_len_before = fs::metadata(self.log_path()).map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(mosquitto_binary());
        cmd.arg("-c")
            .arg(self.config_path())
            .current_dir(&self.dir_path)
            .stdin(Stdio::null())
            .stdout(err_file.try_clone()?)
            .stderr(err_file);
        // SAFETY: only async-signal-safe calls between fork and exec. A caller (e.g. the
        // tether-testkit binary) may block signals in its threads; the mask is inherited across
        // exec, so clear it, or mosquitto would ignore our SIGTERM.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot run {} ({e}); install it with `apt-get install -y mosquitto`",
                    mosquitto_binary().display()
                ),
            )
        })?;
        self.child = Some(child);
        match self.wait_ready(log_len_before) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.kill();
                Err(io::Error::new(e.kind(), format!("{e}\n--- mosquitto log ---\n{}", self.log())))
            }
        }
    }

    /// Ready = the process is alive, a TCP connect succeeds and (normally) the log says
    /// "running" since this start. Polls with short waits, bounded by READY_TIMEOUT.
    fn wait_ready(&mut self, log_len_before: u64) -> io::Result<()> {
        let start = Instant::now();
        let mut connected_since: Option<Instant> = None;
        let addr = self.addr();
        loop {
            let child = self.child.as_mut().expect("child present");
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "mosquitto exited during start-up with {status} (port {})",
                    self.port
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let since = *connected_since.get_or_insert_with(Instant::now);
                // Guard against another process owning the port: wait for mosquitto's own
                // "running" line, or give it a second while staying alive.
                if self.log_says_running(log_len_before) || since.elapsed() > Duration::from_secs(1) {
                    return Ok(());
                }
            }
            if start.elapsed() > READY_TIMEOUT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("mosquitto did not accept connections on {addr} within {READY_TIMEOUT:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_says_running(&self, from: u64) -> bool {
        match fs::read(self.log_path()) {
            Ok(bytes) => {
                let tail = bytes.get(from as usize..).unwrap_or(&[]);
                String::from_utf8_lossy(tail).contains(" running")
            }
            Err(_) => false,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True when a start failed because the port was taken (worth another try).
fn is_port_race(e: &io::Error) -> bool {
    e.to_string().contains("Address already in use")
}

fn signal(child: &Child, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain syscall; the child is not yet reaped, so the PID is still ours.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Waits for the child to exit, polling with short waits; true if it exited in time.
fn wait_bounded(child: &mut Child, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) => {}
            Err(_) => return false,
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
