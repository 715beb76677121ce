//! What every Rust benchmark program shares: arguments, payloads with a sequence number and a
//! timestamp, the receiver's sequence check, latency percentiles, RSS and the JSON result line.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// The sequence number the end marker carries (one past any real message).
pub const MARKER: u64 = u64::MAX;

#[derive(Debug, Clone)]
pub struct Args {
    pub client: String,
    pub workload: String,
    pub host: String,
    pub port: u16,
    pub n: u64,
    pub qos: u8,
    pub size: usize,
    pub rate: u64,
    pub secs: f64,
    pub clients: usize,
    pub timeout: Duration,
    pub topic: String,
    pub window: usize,
    /// MQTT protocol level: 5 (MQTT 5.0, the default) or 4 (MQTT 3.1.1).
    pub protocol: u8,
    /// TLS (`mqtts://`) to `host:port`, trusting the CA certificates of this PEM file.
    pub tls_ca: Option<String>,
    /// tether only: a session store at this durability ("none", "batched", "always") in a
    /// fresh temporary directory; empty for the in-memory session.
    pub store: String,
}

impl Args {
    pub fn parse() -> Result<Args, String> {
        let mut a = Args {
            client: String::new(),
            workload: String::new(),
            host: "127.0.0.1".into(),
            port: 0,
            n: 10_000,
            qos: 1,
            size: 64,
            rate: 1000,
            secs: 5.0,
            clients: 10_000,
            timeout: Duration::from_secs(60),
            topic: format!("bench/{}", std::process::id()),
            window: 4096,
            protocol: 5,
            tls_ca: None,
            store: String::new(),
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < argv.len() {
            let key = argv[i].as_str();
            let val = argv.get(i + 1).cloned().ok_or_else(|| format!("{key} needs a value"))?;
            let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{key} {v}: {e}"));
            match key {
                "--client" => a.client = val,
                "--workload" => a.workload = val,
                "--host" => a.host = val,
                "--port" => a.port = num(&val)? as u16,
                "--n" => a.n = num(&val)? as u64,
                "--qos" => a.qos = num(&val)? as u8,
                "--size" => a.size = num(&val)? as usize,
                "--rate" => a.rate = num(&val)? as u64,
                "--secs" => a.secs = num(&val)?,
                "--clients" => a.clients = num(&val)? as usize,
                "--timeout" => a.timeout = Duration::from_secs_f64(num(&val)?),
                "--topic" => a.topic = val,
                "--window" => a.window = num(&val)? as usize,
                "--protocol" => a.protocol = num(&val)? as u8,
                "--tls-ca" => a.tls_ca = Some(val),
                "--store" => a.store = val,
                _ => return Err(format!("unknown argument {key}")),
            }
            i += 2;
        }
        if a.port == 0 {
            return Err("--port is required".into());
        }
        if a.qos > 2 {
            return Err("--qos must be 0, 1 or 2".into());
        }
        if a.protocol != 4 && a.protocol != 5 {
            return Err("--protocol must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0)".into());
        }
        a.size = a.size.max(16);
        a.n = a.n.max(1);
        Ok(a)
    }
}

/// A payload of `size` bytes: sequence number (u64 LE) at 0..8, timestamp (ns, u64 LE) at
/// 8..16, filler after.
pub fn payload(size: usize, seq: u64, stamp_ns: u64) -> Vec<u8> {
    let mut p = vec![0x5a_u8; size];
    p[0..8].copy_from_slice(&seq.to_le_bytes());
    p[8..16].copy_from_slice(&stamp_ns.to_le_bytes());
    p
}

pub fn read_seq(p: &[u8]) -> Option<(u64, u64)> {
    if p.len() < 16 {
        return None;
    }
    let seq = u64::from_le_bytes(p[0..8].try_into().ok()?);
    let stamp = u64::from_le_bytes(p[8..16].try_into().ok()?);
    Some((seq, stamp))
}

/// The receiver's check that every sequence number 0..n arrived once.
#[derive(Debug)]
pub struct Tracker {
    seen: Vec<bool>,
    pub unique: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub foreign: u64,
    pub marker: bool,
    next: u64,
}

impl Tracker {
    pub fn new(n: u64) -> Self {
        Tracker {
            seen: vec![false; n as usize],
            unique: 0,
            duplicates: 0,
            out_of_order: 0,
            foreign: 0,
            marker: false,
            next: 0,
        }
    }

    /// Records one payload; true when everything expected is in (all n, or the marker).
    pub fn record(&mut self, payload: &[u8]) -> bool {
        match read_seq(payload) {
            Some((MARKER, _)) => self.marker = true,
            Some((seq, _)) if (seq as usize) < self.seen.len() => {
                let slot = &mut self.seen[seq as usize];
                if *slot {
                    self.duplicates += 1;
                } else {
                    *slot = true;
                    self.unique += 1;
                }
                if seq != self.next {
                    self.out_of_order += 1;
                }
                self.next = seq + 1;
            }
            _ => self.foreign += 1,
        }
        self.done()
    }

    pub fn done(&self) -> bool {
        self.marker || self.unique == self.seen.len() as u64
    }

    pub fn missing(&self) -> u64 {
        self.seen.len() as u64 - self.unique
    }
}

/// Nanoseconds since a process-wide base instant (the same clock for publisher and receiver,
/// which live in the same process).
pub fn now_ns(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

pub struct LatencyStats {
    pub count: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

pub fn latency_stats(mut ns: Vec<u64>) -> LatencyStats {
    if ns.is_empty() {
        return LatencyStats { count: 0, p50_us: 0.0, p99_us: 0.0, max_us: 0.0, mean_us: 0.0 };
    }
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    let mean = ns.iter().map(|&v| v as f64).sum::<f64>() / ns.len() as f64 / 1000.0;
    LatencyStats {
        count: ns.len(),
        p50_us: at(0.50),
        p99_us: at(0.99),
        max_us: *ns.last().unwrap() as f64 / 1000.0,
        mean_us: mean,
    }
}

/// Current resident set size of this process in KiB (VmRSS of /proc/self/status).
pub fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// One JSON object, built field by field (no serde needed for a flat record).
#[derive(Default)]
pub struct Json {
    fields: Vec<(String, String)>,
}

impl Json {
    pub fn new(args: &Args) -> Self {
        let mut j = Json::default();
        j.str("client", &args.client).str("workload", &args.workload);
        j
    }

    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        let mut s = String::from("\"");
        for c in v.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(s, "\\u{:04x}", c as u32);
                }
                c => s.push(c),
            }
        }
        s.push('"');
        self.fields.push((k.into(), s));
        self
    }

    pub fn num(&mut self, k: &str, v: impl Into<f64>) -> &mut Self {
        let v: f64 = v.into();
        let s = if v.is_finite() { format!("{v}") } else { "null".into() };
        self.fields.push((k.into(), s));
        self
    }

    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.fields.push((k.into(), v.to_string()));
        self
    }

    pub fn print(&self) {
        let body: Vec<String> = self.fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        println!("{{{}}}", body.join(","));
    }
}

/// What a workload produced, before it is turned into the JSON line.
#[derive(Default)]
pub struct Outcome {
    pub ok: bool,
    pub error: Option<String>,
    pub n: u64,
    pub elapsed_s: f64,
    pub acked: Option<u64>,
    pub tracker: Option<Tracker>,
    pub latencies_ns: Option<Vec<u64>>,
    pub idle: Option<IdleOutcome>,
}

pub struct IdleOutcome {
    pub clients: usize,
    pub connected: usize,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    pub connect_s: f64,
}

impl Outcome {
    pub fn failed(e: impl std::fmt::Display) -> Self {
        Outcome { ok: false, error: Some(e.to_string()), ..Default::default() }
    }

    pub fn print(self, args: &Args) {
        let mut j = Json::new(args);
        j.num("qos", args.qos)
            .num("protocol", args.protocol)
            .bool("tls", args.tls_ca.is_some())
            .num("size", args.size as f64)
            .num("n", self.n as f64);
        let mut ok = self.ok;
        let mut error = self.error;
        if self.elapsed_s > 0.0 {
            j.num("elapsed_s", self.elapsed_s);
            if args.workload != "lat" && args.workload != "idle" {
                j.num("msgs_per_s", self.n as f64 / self.elapsed_s);
            }
        }
        if let Some(a) = self.acked {
            j.num("acked", a as f64);
        }
        if let Some(t) = &self.tracker {
            j.num("received", t.unique as f64)
                .num("missing", t.missing() as f64)
                .num("duplicates", t.duplicates as f64)
                .num("out_of_order", t.out_of_order as f64);
            // QoS 0 may lose messages by design; QoS 1/2 must not.
            if args.qos > 0 && t.missing() > 0 && error.is_none() {
                ok = false;
                error = Some(format!("{} of {} messages missing", t.missing(), self.n));
            }
        }
        if let Some(l) = self.latencies_ns {
            let s = latency_stats(l);
            j.num("samples", s.count as f64)
                .num("p50_us", s.p50_us)
                .num("p99_us", s.p99_us)
                .num("max_us", s.max_us)
                .num("mean_us", s.mean_us);
        }
        if let Some(i) = &self.idle {
            let per = if i.connected > 0 {
                i.rss_after_kb.saturating_sub(i.rss_before_kb) as f64 / i.connected as f64
            } else {
                0.0
            };
            j.num("clients", i.clients as f64)
                .num("connected", i.connected as f64)
                .num("rss_before_kb", i.rss_before_kb as f64)
                .num("rss_after_kb", i.rss_after_kb as f64)
                .num("kb_per_client", per)
                .num("connect_s", i.connect_s);
            if i.connected < i.clients && error.is_none() {
                ok = false;
                error = Some(format!("only {} of {} clients connected", i.connected, i.clients));
            }
        }
        j.bool("ok", ok);
        if let Some(e) = error {
            j.str("error", &e);
        }
        j.print();
    }
}
