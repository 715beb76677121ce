//! A real rmqtt broker (crate `rmqttd`), the second, independent MQTT 5 server the interop
//! suite runs against: one node, or a cluster of nodes on loopback, each with its own ports
//! and folder, addressed by PID only and stopped on drop.
//!
//! The binary is `$TETHER_RMQTTD`, else `build/rmqtt/bin/rmqttd` under the workspace (where
//! `make test-interop` installs the pinned version), else `rmqttd` on `PATH`.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::broker::free_port;

/// The rmqttd version `make test-interop` installs (and the suite was written against).
pub const RMQTTD_VERSION: &str = "0.24.0";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Path of the rmqttd binary (see the module documentation).
///
/// ```no_run
/// println!("{}", tether_testkit::rmqtt::rmqttd_binary().display());
/// ```
pub fn rmqttd_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TETHER_RMQTTD") {
        return PathBuf::from(p);
    }
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../build/rmqtt/bin/rmqttd");
    if installed.exists() {
        return installed;
    }
    PathBuf::from("rmqttd")
}

/// How the nodes of a cluster share state (rmqtt's two cluster plugins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterMode {
    /// `rmqtt-cluster-broadcast`: every node forwards messages to the others; sessions stay
    /// on the node that holds them.
    Broadcast,
    /// `rmqtt-cluster-raft`: routes and session ownership agreed through raft.
    Raft,
}

impl ClusterMode {
    fn plugin(self) -> &'static str {
        match self {
            ClusterMode::Broadcast => "rmqtt-cluster-broadcast",
            ClusterMode::Raft => "rmqtt-cluster-raft",
        }
    }
}

/// Settings of an rmqtt node or cluster; from [`Rmqtt::builder`].
///
/// ```no_run
/// let broker = tether_testkit::Rmqtt::builder().max_inflight(20).start().unwrap();
/// println!("rmqtt on {}", broker.addr());
/// ```
#[derive(Debug, Clone)]
pub struct RmqttBuilder {
    max_inflight: u16,
    max_topic_aliases: u16,
    lines: Vec<String>,
    plugins: Vec<String>,
    node_timeout: Duration,
}

impl RmqttBuilder {
    /// How long a node waits for another node's answer (the cluster plugins'
    /// `node_grpc_client_timeout`; rmqtt's default is 60 s, the kit's 5 s). While a dead node
    /// has not timed out, the survivors hold back what they would forward to it, including
    /// the acknowledgements of messages they must broadcast.
    pub fn node_timeout(mut self, timeout: Duration) -> Self {
        self.node_timeout = timeout;
        self
    }

    /// The Receive Maximum the broker announces and keeps towards subscribers
    /// (`max_inflight`; rmqtt's default is 16).
    pub fn max_inflight(mut self, n: u16) -> Self {
        self.max_inflight = n;
        self
    }

    /// The Topic Alias Maximum the broker announces (0: none, rmqtt's default).
    pub fn max_topic_aliases(mut self, n: u16) -> Self {
        self.max_topic_aliases = n;
        self
    }

    /// An extra line for the TCP listener's section (`key = value`).
    pub fn listener_line(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }

    /// Start a plugin besides the defaults (e.g. `rmqtt-retainer`).
    pub fn plugin(mut self, name: impl Into<String>) -> Self {
        self.plugins.push(name.into());
        self
    }

    /// One node.
    pub fn start(self) -> io::Result<Rmqtt> {
        let mut nodes = self.start_nodes(1, None)?;
        Ok(nodes.remove(0))
    }

    /// `n` nodes forming a cluster in `mode`, all started and accepting connections.
    pub fn start_cluster(self, n: usize, mode: ClusterMode) -> io::Result<Vec<Rmqtt>> {
        self.start_nodes(n, Some(mode))
    }

    fn start_nodes(self, n: usize, mode: Option<ClusterMode>) -> io::Result<Vec<Rmqtt>> {
        let mut ports = Vec::with_capacity(n);
        for _ in 0..n {
            // MQTT, node gRPC, raft.
            ports.push((free_port()?, free_port()?, free_port()?));
        }
        let grpc_addrs: Vec<String> =
            ports.iter().enumerate().map(|(i, p)| format!("\"{}@127.0.0.1:{}\"", i + 1, p.1)).collect();
        let raft_addrs: Vec<String> =
            ports.iter().enumerate().map(|(i, p)| format!("\"{}@127.0.0.1:{}\"", i + 1, p.2)).collect();
        let mut nodes = Vec::with_capacity(n);
        for (i, &(port, grpc, _)) in ports.iter().enumerate() {
            let dir = tempfile::Builder::new().prefix("tether-rmqtt-").tempdir()?;
            let plugins_dir = dir.path().join("plugins");
            fs::create_dir_all(&plugins_dir)?;
            let mut startups: Vec<String> =
                vec!["rmqtt-acl".into(), "rmqtt-retainer".into(), "rmqtt-shared-subscription".into()];
            startups.extend(self.plugins.iter().cloned());
            if let Some(mode) = mode {
                startups.push(mode.plugin().into());
                let mut conf = String::new();
                let _ = writeln!(conf, "node_grpc_addrs = [{}]", grpc_addrs.join(", "));
                let _ = writeln!(conf, "node_grpc_client_timeout = \"{}ms\"", self.node_timeout.as_millis());
                if mode == ClusterMode::Raft {
                    let _ = writeln!(conf, "raft_peer_addrs = [{}]", raft_addrs.join(", "));
                    // Without a named leader, nodes started together each find no leader and
                    // each lead a cluster of one (seen: three leaders, no route crossing).
                    let _ = writeln!(conf, "leader_id = 1");
                }
                fs::write(plugins_dir.join(format!("{}.toml", mode.plugin())), conf)?;
            }
            // Anyone may do anything: the suite tests MQTT, not rmqtt's ACL.
            fs::write(plugins_dir.join("rmqtt-acl.toml"), "rules = [[\"allow\", \"all\"]]\n")?;
            fs::write(plugins_dir.join("rmqtt-retainer.toml"), "storage.type = \"ram\"\n")?;
            let quoted: Vec<String> = startups.iter().map(|s| format!("\"{s}\"")).collect();
            let mut conf = String::new();
            let _ = writeln!(conf, "[node]\nid = {}\n", i + 1);
            let _ = writeln!(conf, "[rpc]\nserver_addr = \"127.0.0.1:{grpc}\"\n");
            let _ = writeln!(
                conf,
                "[log]\nto = \"file\"\nlevel = \"info\"\ndir = \"{}\"\nfile = \"rmqtt.log\"\n",
                dir.path().display()
            );
            // The HTTP API and the counter would bind fixed ports (6060, ...) on every
            // address: two nodes on one machine would collide.
            let _ = writeln!(
                conf,
                "[plugins]\ndir = \"{}/\"\ndefault_startups = [{}]\n\
                 disabled_default_startups = [\"rmqtt-http-api\", \"rmqtt-counter\"]\n",
                plugins_dir.display(),
                quoted.join(", "),
            );
            let _ = writeln!(conf, "[listener.tcp.external]");
            let _ = writeln!(conf, "addr = \"127.0.0.1:{port}\"");
            let _ = writeln!(conf, "allow_anonymous = true");
            let _ = writeln!(conf, "max_inflight = {}", self.max_inflight);
            let _ = writeln!(conf, "max_topic_aliases = {}", self.max_topic_aliases);
            let _ = writeln!(conf, "max_session_expiry_interval = \"2h\"");
            for line in &self.lines {
                let _ = writeln!(conf, "{line}");
            }
            fs::write(dir.path().join("rmqtt.toml"), conf)?;
            nodes.push(Rmqtt { dir, port, node_id: i + 1, child: None });
        }
        for node in &mut nodes {
            node.spawn()?;
        }
        for node in &mut nodes {
            node.wait_ready()?;
        }
        if mode == Some(ClusterMode::Raft) {
            // A node opens its MQTT listener only once its raft node has started and a ping
            // went through consensus; that it joined node 1, and did not lead a cluster of
            // its own, its log says.
            for node in nodes.iter().skip(1) {
                let log = node.log();
                if !log.contains("running in follower mode") {
                    return Err(io::Error::other(format!(
                        "rmqtt node {} did not join node 1's raft cluster:\n{log}",
                        node.node_id
                    )));
                }
            }
        }
        Ok(nodes)
    }
}

/// A running rmqtt node.
pub struct Rmqtt {
    dir: tempfile::TempDir,
    port: u16,
    node_id: usize,
    child: Option<Child>,
}

impl Rmqtt {
    /// Settings to start from: the broker's defaults, with anonymous access, retained messages
    /// and the shared-subscription plugin (round robin) on.
    pub fn builder() -> RmqttBuilder {
        RmqttBuilder {
            max_inflight: 16,
            max_topic_aliases: 0,
            lines: Vec::new(),
            plugins: Vec::new(),
            node_timeout: Duration::from_secs(5),
        }
    }

    /// One node at rmqtt's defaults; panics with the reason when it cannot start.
    pub fn start() -> Rmqtt {
        Rmqtt::builder().start().unwrap_or_else(|e| panic!("rmqtt: {e}"))
    }

    /// The MQTT port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port))
    }

    /// The node's id in its cluster (1-based).
    pub fn node_id(&self) -> usize {
        self.node_id
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        let mut out = fs::read_to_string(self.dir.path().join("rmqtt.log")).unwrap_or_default();
        out.push_str(&fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default());
        out
    }

    /// Kill the node with SIGKILL (a crash: no goodbye to clients or peers).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop with SIGTERM, then SIGKILL after a bound.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: plain syscall on our own, not yet reaped, child.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let start = Instant::now();
            while start.elapsed() < STOP_TIMEOUT {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let err = fs::File::create(self.dir.path().join("stderr.log"))?;
        let child = Command::new(rmqttd_binary())
            .arg("-f")
            .arg(self.dir.path().join("rmqtt.toml"))
            // rmqtt also reads ./rmqtt.toml and /etc/rmqtt; its own folder keeps strays out.
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(err.try_clone()?)
            .stderr(err)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run {} ({e}); `make test-interop` installs rmqttd {RMQTTD_VERSION}",
                        rmqttd_binary().display()
                    ),
                )
            })?;
        self.child = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let start = Instant::now();
        let addr = self.addr();
        loop {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "rmqttd exited during start-up with {status}\n{}",
                    self.log()
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > READY_TIMEOUT {
                let log = self.log();
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("rmqttd did not accept connections on {addr} within {READY_TIMEOUT:?}\n{log}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rmqtt {
    fn drop(&mut self) {
        self.stop();
    }
}
