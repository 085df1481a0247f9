//! Blue/Green deployment status monitors: one per role (SOURCE = blue, TARGET = green) of a deployment. Each
//! polls the dialect's status source (a function or table listing every endpoint of the deployment with its role
//! and switchover status), resolves the endpoints' addresses, and reports a snapshot whenever rows or addresses
//! change. Merging the two views into a phase and routings is the caller's job (TypeScript).
//!
//! A read that follows connection errors is always reported: the caller takes it as "this side accepts
//! connections again".
//!
//! The poll rate follows the phase: baseline before a deployment exists, increased once it does, high from the
//! start of a switchover until it completes, and high while the monitor has no connection. The caller may raise
//! it with [`BlueGreenMonitor::set_phase_hint`] (the merged phase of both monitors).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::probe::{ErrorClass, ProbeError, ProbeSession};
use crate::registry::{Registry, Stoppable};
use crate::runtime::NativeRuntime;
use crate::target::{ConnectParams, ProbeKind, ProbeTarget};
use crate::topology::{TopologyHost, TopologyParams};

/// Which side of the deployment a monitor watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlueGreenRole {
    /// The blue (current) environment: `BLUE_GREEN_DEPLOYMENT_SOURCE`.
    Source,
    /// The green (new) environment: `BLUE_GREEN_DEPLOYMENT_TARGET`.
    Target,
}

impl BlueGreenRole {
    pub fn row_role(self) -> &'static str {
        match self {
            BlueGreenRole::Source => "BLUE_GREEN_DEPLOYMENT_SOURCE",
            BlueGreenRole::Target => "BLUE_GREEN_DEPLOYMENT_TARGET",
        }
    }
}

/// Switchover phases in order (ordinals 0..5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlueGreenPhase {
    NotCreated = 0,
    Created = 1,
    Preparation = 2,
    InProgress = 3,
    Post = 4,
    Completed = 5,
}

impl BlueGreenPhase {
    /// The phase a status value means; unknown values are treated as "no deployment".
    pub fn from_status(status: &str) -> BlueGreenPhase {
        match status.trim().to_ascii_uppercase().as_str() {
            "AVAILABLE" => BlueGreenPhase::Created,
            "SWITCHOVER_INITIATED" => BlueGreenPhase::Preparation,
            "SWITCHOVER_IN_PROGRESS" => BlueGreenPhase::InProgress,
            "SWITCHOVER_IN_POST_PROCESSING" => BlueGreenPhase::Post,
            "SWITCHOVER_COMPLETED" => BlueGreenPhase::Completed,
            _ => BlueGreenPhase::NotCreated,
        }
    }

    pub fn from_ordinal(n: u8) -> BlueGreenPhase {
        match n {
            1 => BlueGreenPhase::Created,
            2 => BlueGreenPhase::Preparation,
            3 => BlueGreenPhase::InProgress,
            4 => BlueGreenPhase::Post,
            5 => BlueGreenPhase::Completed,
            _ => BlueGreenPhase::NotCreated,
        }
    }
}

#[derive(Clone, Debug)]
pub struct BlueGreenConfig {
    pub kind: ProbeKind,
    pub role: BlueGreenRole,
    /// Returns `version, endpoint, port, role, status` rows.
    pub status_query: String,
    /// Where the monitor connects first (the client's host); it moves to its role's endpoint once seen.
    pub host: TopologyHost,
    pub baseline: Duration,
    pub increased: Duration,
    pub high: Duration,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
}

/// One row of the status source.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StatusRow {
    pub version: String,
    pub endpoint: String,
    pub port: u16,
    pub role: String,
    pub status: String,
}

/// What a monitor saw: every status row, the addresses of every endpoint named in them.
#[derive(Clone, Debug)]
pub struct BlueGreenSnapshot {
    pub seq: u64,
    pub rows: Vec<StatusRow>,
    /// Endpoint host name → resolved IP addresses (empty when the name does not resolve).
    pub addresses: BTreeMap<String, Vec<String>>,
    /// The phase of this monitor's role.
    pub phase: BlueGreenPhase,
    /// The host the monitor read the rows from.
    pub host: TopologyHost,
    /// ms since the Unix epoch.
    pub at_ms: f64,
}

pub enum BlueGreenEvent {
    Status(BlueGreenSnapshot),
    /// The monitor cannot connect or read the status source (reported once per distinct message).
    Error {
        class: ErrorClass,
        message: String,
        host: TopologyHost,
        at_ms: f64,
    },
}

pub trait BlueGreenSink: Send + Sync + 'static {
    /// False when the receiver is gone: the monitor stops.
    fn report(&self, monitor_id: u64, event: BlueGreenEvent) -> bool;
}

struct Shared {
    id: u64,
    config: BlueGreenConfig,
    hint: AtomicU8,
    wake: Notify,
    stop: CancellationToken,
}

#[derive(Clone)]
pub struct BlueGreenMonitor {
    shared: Arc<Shared>,
}

impl BlueGreenMonitor {
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The merged phase of the deployment as the caller knows it: the monitor polls at least at that phase's rate.
    /// Wakes the monitor when the rate goes up.
    pub fn set_phase_hint(&self, phase: BlueGreenPhase) {
        let before = self.shared.hint.swap(phase as u8, Ordering::Relaxed);
        if interval(&self.shared.config, phase) < interval(&self.shared.config, BlueGreenPhase::from_ordinal(before)) {
            self.shared.wake.notify_one();
        }
    }

    pub fn stop(&self) {
        self.shared.stop.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.stop.is_cancelled()
    }
}

/// Running Blue/Green monitors of one runtime, by id.
pub type BlueGreenRegistry = Registry<BlueGreenMonitor>;

impl Stoppable for BlueGreenMonitor {
    fn stop(&self) {
        BlueGreenMonitor::stop(self);
    }
}

impl Registry<BlueGreenMonitor> {
    pub fn start(
        self: &Arc<Self>,
        runtime: &NativeRuntime,
        config: BlueGreenConfig,
        params: Arc<dyn TopologyParams>,
        sink: Arc<dyn BlueGreenSink>,
    ) -> Result<BlueGreenMonitor, String> {
        if !matches!(config.kind, ProbeKind::Postgres | ProbeKind::Mysql) {
            return Err(format!("blue/green monitor: kind must be postgres or mysql, got {}", config.kind.as_str()));
        }
        if config.status_query.trim().is_empty() {
            return Err("blue/green monitor: the status query is empty".into());
        }
        if config.host.host.is_empty() || config.host.port == 0 {
            return Err("blue/green monitor: a host and a non-zero port are required".into());
        }
        let ctx = runtime.context().map_err(|e| format!("cannot start the native runtime: {e}"))?;
        let id = self.next_id();
        let shared = Arc::new(Shared { id, config, hint: AtomicU8::new(0), wake: Notify::new(), stop: ctx.cancel.child_token() });
        let monitor = BlueGreenMonitor { shared: Arc::clone(&shared) };
        Ok(self.spawn(&ctx.handle, id, monitor, run(shared, params, sink)))
    }
}

/// How often the status is read in `phase`. While the switchover is in progress, five times the high rate (at
/// least every 10 ms): calls are held until its end is seen, so each poll saved is the application's pause.
fn interval(c: &BlueGreenConfig, phase: BlueGreenPhase) -> Duration {
    match phase {
        BlueGreenPhase::NotCreated | BlueGreenPhase::Completed => c.baseline,
        BlueGreenPhase::Created => c.increased,
        BlueGreenPhase::InProgress => (c.high / 5).max(Duration::from_millis(10)).min(c.high),
        _ => c.high,
    }
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// Status rows from text cells; rows without an endpoint are skipped.
pub fn parse_rows(rows: Vec<Vec<Option<String>>>, default_port: u16) -> Vec<StatusRow> {
    rows.into_iter()
        .filter_map(|r| {
            let cell = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            let endpoint = cell(1).trim().to_ascii_lowercase();
            if endpoint.is_empty() {
                return None;
            }
            let port = cell(2).trim().parse::<u16>().ok().filter(|p| *p != 0).unwrap_or(default_port);
            Some(StatusRow {
                version: cell(0),
                endpoint,
                port,
                role: cell(3).trim().to_ascii_uppercase(),
                status: cell(4).trim().to_ascii_uppercase(),
            })
        })
        .collect()
}

/// The row that stands for `role`: its writer cluster endpoint (not a renamed `-old1` one), else its first row.
pub fn role_row(rows: &[StatusRow], role: BlueGreenRole) -> Option<&StatusRow> {
    let mine: Vec<&StatusRow> = rows.iter().filter(|r| r.role == role.row_role()).collect();
    mine.iter()
        .find(|r| r.endpoint.contains(".cluster-") && !r.endpoint.contains(".cluster-ro-") && !r.endpoint.contains("-old1"))
        .or_else(|| mine.iter().find(|r| !r.endpoint.contains("-old1")))
        .or_else(|| mine.first())
        .copied()
}

async fn bounded<T>(d: Duration, what: &str, work: impl std::future::Future<Output = Result<T, ProbeError>>) -> Result<T, ProbeError> {
    match tokio::time::timeout(d, work).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::new(ErrorClass::Timeout, format!("{what}: no answer within {} ms", d.as_millis()))),
    }
}

async fn open(
    config: &BlueGreenConfig,
    params: &dyn TopologyParams,
    host: &TopologyHost,
    refresh: bool,
) -> Result<(ProbeSession, ConnectParams), ProbeError> {
    let base = ProbeTarget { kind: config.kind, params: ConnectParams { host: host.host.clone(), port: host.port, ..Default::default() } };
    bounded(config.connect_timeout, "connect", async {
        let target = params.resolve(&base, refresh).await?;
        let session = ProbeSession::connect(&target).await?;
        Ok((session, target.params))
    })
    .await
}

async fn resolve(host: &str, port: u16, timeout: Duration) -> Vec<String> {
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let mut ips: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
            ips.sort();
            ips.dedup();
            ips
        }
        _ => Vec::new(),
    }
}

/// Latest DNS answer per endpoint. Lookups run beside the poll loop (a slow resolver never delays a status
/// read), one at a time per name; a changed answer wakes the loop so it is reported at once.
#[derive(Default)]
struct Resolved {
    ips: Vec<String>,
    in_flight: bool,
    at: Option<Instant>,
}

type AddressBook = Arc<Mutex<HashMap<String, Resolved>>>;

fn addresses_of(book: &AddressBook, rows: &[StatusRow], every: Duration, shared: &Arc<Shared>) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut map = book.lock().unwrap_or_else(|e| e.into_inner());
    for r in rows {
        let entry = map.entry(r.endpoint.clone()).or_default();
        out.insert(r.endpoint.clone(), entry.ips.clone());
        if entry.in_flight || entry.at.is_some_and(|t| t.elapsed() < every) {
            continue;
        }
        entry.in_flight = true;
        let (book, shared, host, port) = (Arc::clone(book), Arc::clone(shared), r.endpoint.clone(), r.port);
        let timeout = shared.config.query_timeout.min(Duration::from_secs(5));
        tokio::spawn(async move {
            let ips = tokio::select! {
                _ = shared.stop.cancelled() => return,
                ips = resolve(&host, port, timeout) => ips,
            };
            let mut map = book.lock().unwrap_or_else(|e| e.into_inner());
            let entry = map.entry(host).or_default();
            let changed = entry.ips != ips;
            *entry = Resolved { ips, in_flight: false, at: Some(Instant::now()) };
            drop(map);
            if changed {
                shared.wake.notify_one();
            }
        });
    }
    out
}

async fn pause(d: Duration, shared: &Shared) {
    tokio::select! {
        _ = shared.stop.cancelled() => {}
        _ = shared.wake.notified() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

async fn run(shared: Arc<Shared>, params: Arc<dyn TopologyParams>, sink: Arc<dyn BlueGreenSink>) {
    let c = &shared.config;
    let mut session: Option<(ProbeSession, ConnectParams, TopologyHost)> = None;
    let mut preferred = c.host.clone();
    let mut refused = false;
    let mut last_error: Option<String> = None;
    let mut last_hash: Option<u64> = None;
    let mut seq = 0u64;
    // The phase of the last read: a monitor that lost its connection retries at the high rate, faster in progress.
    let mut last_phase = BlueGreenPhase::NotCreated;
    let book = AddressBook::default();
    while !shared.stop.is_cancelled() {
        let hint = BlueGreenPhase::from_ordinal(shared.hint.load(Ordering::Relaxed));
        let retry = interval(c, last_phase).min(interval(c, hint)).min(c.high);
        if session.is_none() {
            // The role's endpoint first; the first host as a fallback (the role's name may be gone after a switchover).
            let mut tried = vec![preferred.clone()];
            if preferred != c.host {
                tried.push(c.host.clone());
            }
            let mut failure = None;
            for host in tried {
                match open(c, params.as_ref(), &host, refused).await {
                    Ok((s, p)) => {
                        session = Some((s, p, host));
                        refused = false;
                        break;
                    }
                    Err(e) => {
                        refused = e.class == ErrorClass::Auth;
                        failure = Some((e, host));
                    }
                }
            }
            if session.is_none() {
                if let Some((e, host)) = failure {
                    if last_error.as_deref() != Some(e.message.as_str()) {
                        last_error = Some(e.message.clone());
                        if !sink.report(shared.id, BlueGreenEvent::Error { class: e.class, message: e.message, host, at_ms: now_ms() }) {
                            return;
                        }
                    }
                }
                pause(retry, &shared).await;
                continue;
            }
        }
        let (s, p, host) = session.as_mut().expect("session opened above");
        let read = bounded(c.query_timeout, "status query", s.query_text(&c.status_query)).await;
        let rows = match read {
            Ok(rows) => parse_rows(rows, c.host.port),
            Err(e) => {
                let message = p.scrub(e.message);
                let host = host.clone();
                if let Some((s, _, _)) = session.take() {
                    s.close();
                }
                if last_error.as_deref() != Some(message.as_str()) {
                    last_error = Some(message.clone());
                    if !sink.report(shared.id, BlueGreenEvent::Error { class: e.class, message, host, at_ms: now_ms() }) {
                        return;
                    }
                }
                pause(retry, &shared).await;
                continue;
            }
        };
        // A read after errors is reported even when nothing changed: it says this side accepts connections
        // again (the bg plugin's held clients wait for it instead of each retrying on its own).
        let recovered = last_error.take().is_some();
        let current_host = host.clone();
        let mut phase = BlueGreenPhase::NotCreated;
        if let Some(row) = role_row(&rows, c.role) {
            phase = BlueGreenPhase::from_status(&row.status);
            let target = TopologyHost { host: row.endpoint.clone(), port: row.port, id: None };
            // Move to this role's own endpoint (the green monitor starts on blue); stay once its name is gone.
            if target != preferred && target.host != current_host.host {
                preferred = target;
                if let Some((s, _, _)) = session.take() {
                    s.close();
                }
            }
        }
        // Addresses are collected once a deployment exists.
        // Names are looked up at most at the high rate, also while the status is read faster.
        let every = interval(c, phase).min(interval(c, hint)).max(c.high.min(c.increased));
        let addresses = addresses_of(&book, &rows, every, &shared);
        let mut h = DefaultHasher::new();
        rows.hash(&mut h);
        addresses.hash(&mut h);
        current_host.host.hash(&mut h);
        let hash = h.finish();
        if recovered || last_hash != Some(hash) {
            last_hash = Some(hash);
            seq += 1;
            let snapshot = BlueGreenSnapshot { seq, rows, addresses, phase, host: current_host, at_ms: now_ms() };
            if !sink.report(shared.id, BlueGreenEvent::Status(snapshot)) {
                return;
            }
        }
        last_phase = phase;
        let wait = if session.is_none() { Duration::ZERO } else { interval(c, phase).min(interval(c, hint)) };
        pause(wait, &shared).await;
    }
    if let Some((s, _, _)) = session.take() {
        s.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(endpoint: &str, role: &str, status: &str) -> Vec<Option<String>> {
        vec![Some("1.0".into()), Some(endpoint.into()), Some("5432".into()), Some(role.into()), Some(status.into())]
    }

    #[test]
    fn in_progress_is_read_faster_than_the_high_rate() {
        let c = BlueGreenConfig {
            kind: ProbeKind::Postgres,
            role: BlueGreenRole::Source,
            status_query: "SELECT 1".into(),
            host: TopologyHost { host: "h".into(), port: 5432, id: None },
            baseline: Duration::from_secs(60),
            increased: Duration::from_secs(1),
            high: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(1),
            query_timeout: Duration::from_secs(1),
        };
        assert_eq!(interval(&c, BlueGreenPhase::Created), Duration::from_secs(1));
        assert_eq!(interval(&c, BlueGreenPhase::Preparation), Duration::from_millis(100));
        assert_eq!(interval(&c, BlueGreenPhase::InProgress), Duration::from_millis(20));
        assert_eq!(interval(&c, BlueGreenPhase::Post), Duration::from_millis(100));
        let slow = BlueGreenConfig { high: Duration::from_millis(30), ..c.clone() };
        assert_eq!(interval(&slow, BlueGreenPhase::InProgress), Duration::from_millis(10));
        let fast = BlueGreenConfig { high: Duration::from_millis(5), ..c };
        assert_eq!(interval(&fast, BlueGreenPhase::InProgress), Duration::from_millis(5));
    }

    #[test]
    fn phases_from_status() {
        assert_eq!(BlueGreenPhase::from_status("available"), BlueGreenPhase::Created);
        assert_eq!(BlueGreenPhase::from_status("SWITCHOVER_IN_PROGRESS"), BlueGreenPhase::InProgress);
        assert_eq!(BlueGreenPhase::from_status(""), BlueGreenPhase::NotCreated);
        assert!(BlueGreenPhase::Post > BlueGreenPhase::InProgress);
    }

    #[test]
    fn role_row_prefers_the_writer_cluster_endpoint() {
        let rows = parse_rows(
            vec![
                row("i-1.abc.us-east-1.rds.amazonaws.com", "BLUE_GREEN_DEPLOYMENT_SOURCE", "AVAILABLE"),
                row("db.cluster-ro-abc.us-east-1.rds.amazonaws.com", "BLUE_GREEN_DEPLOYMENT_SOURCE", "AVAILABLE"),
                row("db.cluster-abc.us-east-1.rds.amazonaws.com", "BLUE_GREEN_DEPLOYMENT_SOURCE", "AVAILABLE"),
                row("db-green-x.cluster-abc.us-east-1.rds.amazonaws.com", "BLUE_GREEN_DEPLOYMENT_TARGET", "AVAILABLE"),
                vec![None, None, None, None, None],
            ],
            5432,
        );
        assert_eq!(rows.len(), 4);
        assert_eq!(role_row(&rows, BlueGreenRole::Source).unwrap().endpoint, "db.cluster-abc.us-east-1.rds.amazonaws.com");
        assert_eq!(role_row(&rows, BlueGreenRole::Target).unwrap().endpoint, "db-green-x.cluster-abc.us-east-1.rds.amazonaws.com");
    }
}
