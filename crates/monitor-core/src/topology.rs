//! Cluster topology monitor: one per cluster, shared by every client of that cluster.
//!
//! - **Regular mode**: a connection verified to be on the writer (writer-id query with the dialect's meaning, own-id
//!   query, is-reader query, and the topology naming that node as writer) is polled every `refresh` (every
//!   `high_rate` inside the window after a change or while someone waits for a refresh). A change is a change of
//!   membership or roles (see [`same_membership`]): metrics in the rows (CPU, replica lag, update time) move on
//!   every poll and must not keep the monitor polling at the high rate. Between polls, the connection is pinged
//!   (`SELECT 1`) once per `liveness`, bounded by `query_timeout`, so a writer that stops answering sends the
//!   monitor into panic mode within `liveness + query_timeout` without re-reading the topology.
//! - **Panic mode** (no verified connection: at start, after a failed poll, when the polled node stopped being the
//!   writer, or on a verify request): every known host is probed in parallel on its own connection; the first host
//!   confirmed as writer becomes the monitoring connection and its topology is published at once. Readers keep
//!   re-reading their topology every `panic_poll`; a reader that names a writer other than the last confirmed one is
//!   published as an unconfirmed "reader view"; hosts a reader lists get their own probe.
//! - [`TopologyMonitor::force_refresh`] waits for a topology published after the call (confirmed when
//!   `verify_writer`), bounded by its timeout.
//!
//! Every connect and query is bounded (`connect_timeout`, `query_timeout`), every pause is interrupted by stop,
//! and stop (or the runtime's shutdown) ends every task of the monitor.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use crate::monitor::{BoxFuture, GivenParams, ParamsPurpose, ParamsSource};
use crate::probe::{ErrorClass, ProbeError, ProbeSession};
use crate::registry::{Registry, Stoppable};
use crate::runtime::NativeRuntime;
use crate::target::{ConnectParams, ProbeKind, ProbeTarget};

/// Rows as text cells (NULL = `None`).
pub type TextRows = Vec<Vec<Option<String>>>;

/// How the writer-id query answers "is this node the writer" (true semantics for every dialect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterIdMeaning {
    /// Aurora: a row (the node's own id) only on the writer.
    RowMeansWriter,
    /// Multi-AZ MySQL (`SHOW REPLICA STATUS`): a row only on replicas, naming the writer in one of `columns`
    /// (or at `index` when no name matches); no row = this node is the writer, its id from the own-id query.
    NoRowMeansWriter { columns: Vec<String>, index: Option<usize> },
    /// Multi-AZ PostgreSQL: the writer's id on every node, compared with the own-id query.
    ReturnsWriterId,
}

/// The shape of topology rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopologyShape {
    /// (id, is_writer, cpu, lag, last_update)
    Aurora,
    /// (id, is_writer, visibility_lag, region)
    GlobalAurora,
    /// (id, endpoint, port); the writer comes from the writer-id query.
    MultiAz,
}

/// The dialect's SQL.
#[derive(Clone, Debug)]
pub struct TopologySql {
    pub topology: String,
    pub writer_id: String,
    pub writer_id_meaning: WriterIdMeaning,
    pub own_id: Option<String>,
    pub is_reader: String,
}

/// A host to probe; `id` is its instance id in the topology when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyHost {
    pub host: String,
    pub port: u16,
    pub id: Option<String>,
}

impl TopologyHost {
    fn key(&self) -> (String, u16) {
        (self.host.to_ascii_lowercase(), self.port)
    }
}

/// Instance host names: `?` in `host` replaced by the instance name; `port` for every instance when explicit (or
/// when rows carry none).
#[derive(Clone, Debug)]
pub struct HostTemplate {
    pub host: String,
    pub port: u16,
    pub port_explicit: bool,
}

#[derive(Clone, Debug)]
pub struct TopologyConfig {
    /// Postgres or Mysql.
    pub kind: ProbeKind,
    pub shape: TopologyShape,
    pub sql: TopologySql,
    /// Derives hosts from topology rows so hosts a reader lists are probed without a round trip to JS.
    pub template: Option<HostTemplate>,
    /// Hosts known at start (the cluster endpoint, cached instances); see [`TopologyMonitor::set_hosts`].
    pub hosts: Vec<TopologyHost>,
    pub refresh: Duration,
    pub high_rate: Duration,
    /// Re-check period of a reader's connection in panic mode (a reader promoted in place is seen within it).
    pub panic_poll: Duration,
    /// High-rate polling lasts this long after a writer is confirmed in panic mode (not after the first
    /// confirmation: nothing changed then) or after a membership or role change.
    pub high_rate_window: Duration,
    /// Between polls further apart than this, the monitoring connection is pinged at this period.
    pub liveness: Duration,
    /// After a writer is confirmed in panic mode, a verify request within this window re-checks the monitoring
    /// connection (one round trip) instead of dropping it and probing every host again.
    pub verify_grace: Duration,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
}

/// Resolves connection parameters (credentials, real address, TLS) each time a connection is opened.
pub trait TopologyParams: Send + Sync + 'static {
    /// `base` holds kind, host and port. `refresh`: the last login to this host was refused.
    fn resolve(&self, base: &ProbeTarget, refresh: bool) -> BoxFuture<Result<ProbeTarget, ProbeError>>;
}

impl TopologyParams for GivenParams {
    fn resolve(&self, base: &ProbeTarget, _refresh: bool) -> BoxFuture<Result<ProbeTarget, ProbeError>> {
        ParamsSource::resolve(self, base, ParamsPurpose::Probe)
    }
}

/// A topology the monitor publishes.
#[derive(Clone, Debug)]
pub struct Publication {
    /// 1 for the first publication of the monitor; increases by one each time.
    pub seq: u64,
    pub rows: TextRows,
    /// The writer's instance id as the writer check read it (Multi-AZ rows need it to mark the writer).
    pub writer_id: Option<String>,
    /// The host the writer was confirmed on (None for a reader view).
    pub writer: Option<TopologyHost>,
    /// Read on a connection verified to be on the writer.
    pub confirmed: bool,
    /// A reader's view naming a writer other than the last confirmed one (failover can go there and verify it).
    pub new_writer: bool,
    pub reason: PublicationReason,
    /// ms since the Unix epoch.
    pub at_ms: f64,
}

/// Why a topology was published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicationReason {
    /// The monitor's first writer connection (or its first after panic mode left none confirmed).
    Initial,
    /// Panic mode found the writer again (after a failover, or a lost monitoring connection).
    WriterConfirmed,
    /// A periodic read on the writer connection (topology changed, or the refresh period passed).
    Poll,
    /// A read on the writer connection that a forced refresh waits for.
    Refresh,
    /// A reader's view, unconfirmed: one naming a new writer, or the latest one when a forced refresh asks while
    /// panic mode has no writer connection.
    ReaderView,
}

#[derive(Clone, Debug)]
pub enum TopologyEvent {
    Published(Arc<Publication>),
    /// Panic mode entered (also at start); `reason` says why.
    Panic {
        reason: String,
        at_ms: f64,
    },
}

/// Receives events on a runtime thread: must not block. False = receiver gone for good; the monitor stops.
pub trait TopologySink: Send + Sync + 'static {
    fn report(&self, monitor_id: u64, event: TopologyEvent) -> bool;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopologyError {
    Timeout(Duration),
    Stopped,
    /// A zero-timeout refresh before anything was published.
    NoTopology,
}

impl std::fmt::Display for TopologyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopologyError::Timeout(d) => write!(f, "no new topology within {} ms", d.as_millis()),
            TopologyError::Stopped => write!(f, "the topology monitor was stopped"),
            TopologyError::NoTopology => write!(f, "no topology has been published yet"),
        }
    }
}

struct Shared {
    id: u64,
    cluster: String,
    config: TopologyConfig,
    hosts: Mutex<Vec<TopologyHost>>,
    verify_requested: AtomicBool,
    refresh_requested: AtomicBool,
    waiters: AtomicUsize,
    wake: Notify,
    latest: watch::Sender<Option<Arc<Publication>>>,
    stop: CancellationToken,
    panicking: AtomicBool,
}

impl Shared {
    fn hosts(&self) -> MutexGuard<'_, Vec<TopologyHost>> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Handle to a running (or stopped) monitor.
#[derive(Clone)]
pub struct TopologyMonitor {
    shared: Arc<Shared>,
}

struct WaiterGuard<'a>(&'a AtomicUsize);

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl TopologyMonitor {
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    pub fn cluster(&self) -> &str {
        &self.shared.cluster
    }

    /// The last publication.
    pub fn latest(&self) -> Option<Arc<Publication>> {
        self.shared.latest.borrow().clone()
    }

    /// True while no writer connection is verified (probing every host).
    pub fn is_panicking(&self) -> bool {
        self.shared.panicking.load(Ordering::SeqCst)
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.stop.is_cancelled()
    }

    /// Replaces the hosts probed in panic mode (besides those derived from topology rows); a running panic probes
    /// new ones at once.
    pub fn set_hosts(&self, hosts: Vec<TopologyHost>) {
        *self.shared.hosts() = hosts;
        self.shared.wake.notify_one();
    }

    /// Waits for a topology published after this call; with `verify_writer`, one read on a connection confirmed
    /// to be on the writer (the monitoring connection is re-verified: dropped and every host probed, or within
    /// `verify_grace` after a confirmation, re-checked), or a reader's view naming a new writer (as the seed: the
    /// caller verifies the role of the writer it connects to). A zero timeout returns the last publication at once.
    /// Must run on the monitor's runtime.
    pub async fn force_refresh(&self, verify_writer: bool, timeout: Duration) -> Result<Arc<Publication>, TopologyError> {
        let s = &self.shared;
        let mut rx = s.latest.subscribe();
        let current = rx.borrow_and_update().clone();
        if timeout.is_zero() {
            return current.ok_or(TopologyError::NoTopology);
        }
        if s.stop.is_cancelled() {
            return Err(TopologyError::Stopped);
        }
        let start_seq = current.map_or(0, |p| p.seq);
        s.waiters.fetch_add(1, Ordering::SeqCst);
        let _guard = WaiterGuard(&s.waiters);
        if verify_writer {
            s.verify_requested.store(true, Ordering::SeqCst);
        } else {
            s.refresh_requested.store(true, Ordering::SeqCst);
        }
        s.wake.notify_one();
        let wait = async {
            loop {
                if rx.changed().await.is_err() {
                    return Err(TopologyError::Stopped);
                }
                let p = rx.borrow_and_update().clone();
                if let Some(p) = p {
                    if p.seq > start_seq && (!verify_writer || p.confirmed || p.new_writer) {
                        return Ok(p);
                    }
                }
            }
        };
        tokio::select! {
            biased;
            _ = s.stop.cancelled() => Err(TopologyError::Stopped),
            r = tokio::time::timeout(timeout, wait) => r.unwrap_or(Err(TopologyError::Timeout(timeout))),
        }
    }

    /// Stops the monitor (its tasks end at their next await); idempotent.
    pub fn stop(&self) {
        self.shared.stop.cancel();
    }
}

/// Running topology monitors of one runtime, by id.
pub type TopologyRegistry = Registry<TopologyMonitor>;

impl Stoppable for TopologyMonitor {
    fn stop(&self) {
        TopologyMonitor::stop(self);
    }
}

impl Registry<TopologyMonitor> {
    /// Validates `config` and starts a monitor of `cluster` on `runtime` (starting the runtime if needed).
    pub fn start(
        self: &Arc<Self>,
        runtime: &NativeRuntime,
        cluster: String,
        config: TopologyConfig,
        params: Arc<dyn TopologyParams>,
        sink: Arc<dyn TopologySink>,
    ) -> Result<TopologyMonitor, String> {
        validate(&config)?;
        let ctx = runtime.context().map_err(|e| format!("cannot start the native runtime: {e}"))?;
        let id = self.next_id();
        let (latest, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            id,
            cluster,
            hosts: Mutex::new(Vec::new()),
            config,
            verify_requested: AtomicBool::new(false),
            refresh_requested: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            wake: Notify::new(),
            latest,
            stop: ctx.cancel.child_token(),
            panicking: AtomicBool::new(true),
        });
        let monitor = TopologyMonitor { shared: Arc::clone(&shared) };
        Ok(self.spawn(&ctx.handle, id, monitor, Runner::new(shared, params, sink).run()))
    }
}

fn validate(c: &TopologyConfig) -> Result<(), String> {
    if !matches!(c.kind, ProbeKind::Postgres | ProbeKind::Mysql) {
        return Err(format!("topology monitor: kind must be postgres or mysql, got {}", c.kind.as_str()));
    }
    for (name, sql) in [("topology query", &c.sql.topology), ("writer-id query", &c.sql.writer_id), ("is-reader query", &c.sql.is_reader)] {
        if sql.trim().is_empty() {
            return Err(format!("topology monitor: the {name} is empty"));
        }
    }
    if c.sql.writer_id_meaning != WriterIdMeaning::RowMeansWriter && c.sql.own_id.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return Err("topology monitor: this writer-id meaning needs an own-id query".into());
    }
    for (name, d) in [
        ("refresh", c.refresh),
        ("high rate", c.high_rate),
        ("panic poll", c.panic_poll),
        ("liveness", c.liveness),
        ("connect timeout", c.connect_timeout),
        ("query timeout", c.query_timeout),
    ] {
        if d.is_zero() {
            return Err(format!("topology monitor: the {name} must be positive"));
        }
    }
    if let Some(t) = &c.template {
        if !t.host.contains('?') {
            return Err(format!("topology monitor: the instance template {:?} has no '?'", t.host));
        }
    }
    Ok(())
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

// ---- queries -------------------------------------------------------------------------------------------------

struct QueryResult {
    columns: Vec<String>,
    rows: TextRows,
}

fn mysql_text(v: mysql_async::Value) -> Option<String> {
    use mysql_async::Value;
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// Runs `sql` (text protocol) and returns column names and rows as text. Unbounded: callers add the deadline.
async fn query(session: &mut ProbeSession, sql: &str) -> Result<QueryResult, ProbeError> {
    match session {
        ProbeSession::Tcp => Err(ProbeError::new(ErrorClass::Other, "a tcp session cannot run queries")),
        ProbeSession::Postgres { client, .. } => {
            let msgs = client.simple_query(sql).await.map_err(|e| ProbeError::new(ErrorClass::Other, e.to_string()))?;
            let mut out = QueryResult { columns: Vec::new(), rows: Vec::new() };
            for m in msgs {
                match m {
                    tokio_postgres::SimpleQueryMessage::RowDescription(cols) if out.columns.is_empty() => {
                        out.columns = cols.iter().map(|c| c.name().to_string()).collect();
                    }
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        if out.columns.is_empty() {
                            out.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                        }
                        out.rows.push((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect());
                    }
                    _ => {}
                }
            }
            Ok(out)
        }
        ProbeSession::Mysql { conn } => {
            use mysql_async::prelude::Queryable;
            let rows: Vec<mysql_async::Row> = conn.query(sql).await.map_err(|e| ProbeError::new(ErrorClass::Other, e.to_string()))?;
            let columns = rows.first().map(|r| r.columns_ref().iter().map(|c| c.name_str().into_owned()).collect()).unwrap_or_default();
            Ok(QueryResult { columns, rows: rows.into_iter().map(|r| r.unwrap().into_iter().map(mysql_text).collect()).collect() })
        }
    }
}

async fn bounded_query(
    session: &mut ProbeSession,
    sql: &str,
    timeout: Duration,
    params: &ConnectParams,
) -> Result<QueryResult, ProbeError> {
    match tokio::time::timeout(timeout, query(session, sql)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(ProbeError::new(e.class, params.scrub(e.message))),
        Err(_) => Err(ProbeError::new(ErrorClass::Timeout, format!("no answer within {} ms to a monitoring query", timeout.as_millis()))),
    }
}

fn first_text(r: &QueryResult) -> Option<String> {
    r.rows.first().and_then(|row| row.first().cloned().flatten()).filter(|s| !s.is_empty())
}

fn truthy(v: Option<&str>) -> Option<bool> {
    match v?.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "yes" | "y" => Some(true),
        "0" | "f" | "false" | "off" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// What the writer-id query (and, where its meaning needs it, the own-id query) says about the connected node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriterCheck {
    pub is_writer: bool,
    /// The writer's topology id, when this node can tell.
    pub writer_id: Option<String>,
    /// The node's own topology id, when it was read.
    pub own_id: Option<String>,
}

/// Whether the answer `writer_rows` of the writer-id query needs the own-id query to be understood.
pub fn needs_own_id(meaning: &WriterIdMeaning, writer_rows: &TextRows) -> bool {
    match meaning {
        WriterIdMeaning::RowMeansWriter => false,
        WriterIdMeaning::NoRowMeansWriter { .. } => writer_rows.is_empty(),
        WriterIdMeaning::ReturnsWriterId => true,
    }
}

fn non_empty(v: Option<&Option<String>>) -> Option<String> {
    v.cloned().flatten().filter(|s| !s.is_empty())
}

/// Reads the writer-id query's answer (`columns` as the server named them, empty when it named none) with its
/// meaning; `own_id` is the own-id query's first value when [`needs_own_id`] asked for it. The TypeScript twin is
/// `checkWriter` (ts/dialects/database/writer.ts); both are checked against test/fixtures/writer-detection.json.
pub fn writer_check(meaning: &WriterIdMeaning, columns: &[String], writer_rows: &TextRows, own_id: Option<String>) -> WriterCheck {
    let own_id = own_id.filter(|s| !s.is_empty());
    match meaning {
        WriterIdMeaning::RowMeansWriter => {
            let id = writer_rows.first().and_then(|r| non_empty(r.first()));
            WriterCheck { is_writer: !writer_rows.is_empty(), writer_id: id.clone(), own_id: id }
        }
        WriterIdMeaning::NoRowMeansWriter { columns: names, index } => match writer_rows.first() {
            None => WriterCheck { is_writer: true, writer_id: own_id.clone(), own_id },
            Some(row) => {
                // By name when the server named its columns; the position only when it did not.
                let at = if columns.is_empty() {
                    *index
                } else {
                    names.iter().find_map(|n| columns.iter().position(|c| c.eq_ignore_ascii_case(n)))
                };
                WriterCheck { is_writer: false, writer_id: at.and_then(|i| non_empty(row.get(i))), own_id: None }
            }
        },
        WriterIdMeaning::ReturnsWriterId => {
            let writer_id = writer_rows.first().and_then(|r| non_empty(r.first()));
            WriterCheck { is_writer: writer_id.is_some() && writer_id == own_id, writer_id, own_id }
        }
    }
}

/// What one look at a node in panic mode tells (the same table as the TypeScript panic probe's `probeVerdict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The node is the writer by every measure it was asked: writer-id query, is-reader query, topology.
    Writer,
    /// A node that is not the writer names a writer other than the last confirmed one (it may be promoted now).
    NewWriter,
    /// Nothing to act on.
    Nothing,
}

/// The verdict on a look at a node: its writer check, its is-reader answer (None when not asked), the writer its
/// topology names ([`rows_writer`]) and the last confirmed writer.
pub fn verdict(check: &WriterCheck, is_reader: Option<bool>, rows_writer: Option<&str>, last_writer: Option<&str>) -> Verdict {
    let Some(w) = rows_writer else { return Verdict::Nothing };
    if check.is_writer {
        let own_matches = check.own_id.as_deref().is_none_or(|own| own == w);
        return if is_reader != Some(true) && own_matches { Verdict::Writer } else { Verdict::Nothing };
    }
    if Some(w) != last_writer && check.writer_id.as_deref().is_none_or(|id| id == w) {
        return Verdict::NewWriter;
    }
    Verdict::Nothing
}

/// What one look at a node tells: its writer check, its own is-reader answer (writers only) and its topology.
struct Observation {
    check: WriterCheck,
    is_reader: Option<bool>,
    rows: TextRows,
    /// The writer as the topology (or, for Multi-AZ, the writer check) names it.
    rows_writer: Option<String>,
}

impl Observation {
    /// The node is the writer by every measure: the writer-id query, the is-reader query and the topology.
    fn confirmed(&self) -> bool {
        self.verdict(None) == Verdict::Writer
    }

    fn verdict(&self, last_writer: Option<&str>) -> Verdict {
        verdict(&self.check, self.is_reader, self.rows_writer.as_deref(), last_writer)
    }
}

/// The writer's id in topology rows: the (most recently updated) row flagged writer; Multi-AZ rows carry no role,
/// so the writer check's id, when the rows list it.
pub fn rows_writer(shape: TopologyShape, rows: &TextRows, check: &WriterCheck) -> Option<String> {
    let cell = |row: &Vec<Option<String>>, i: usize| row.get(i).cloned().flatten();
    match shape {
        TopologyShape::MultiAz => {
            let w = check.writer_id.clone()?;
            rows.iter().any(|r| cell(r, 0).as_deref() == Some(w.as_str())).then_some(w)
        }
        TopologyShape::Aurora | TopologyShape::GlobalAurora => {
            let mut best: Option<(Option<String>, String)> = None;
            for r in rows {
                if truthy(cell(r, 1).as_deref()) != Some(true) {
                    continue;
                }
                let Some(id) = cell(r, 0) else { continue };
                let updated = if shape == TopologyShape::Aurora { cell(r, 4) } else { None };
                // Same-format timestamps compare as text; after a failover the most recent writer row is current.
                if best.as_ref().is_none_or(|(u, _)| updated > *u) {
                    best = Some((updated, id));
                }
            }
            best.map(|(_, id)| id)
        }
    }
}

/// What identifies a topology row apart from its metrics: Aurora (id, is_writer); Global Aurora (id, is_writer,
/// region); Multi-AZ rows (id, endpoint, port) carry no metrics.
fn membership_cells(shape: TopologyShape) -> &'static [usize] {
    match shape {
        TopologyShape::Aurora => &[0, 1],
        TopologyShape::GlobalAurora => &[0, 1, 3],
        TopologyShape::MultiAz => &[0, 1, 2],
    }
}

/// True when `a` and `b` list the same instances in the same roles, whatever their metrics (CPU, replica lag, last
/// update time) say and in whatever order the rows come. Booleans compare by meaning (`t` = `true` = `1`).
pub fn same_membership(shape: TopologyShape, a: &TextRows, b: &TextRows) -> bool {
    let role_cell = shape != TopologyShape::MultiAz;
    let key = |rows: &TextRows| {
        let mut out: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|r| {
                let cells = membership_cells(shape).iter().map(|&i| (i, r.get(i).cloned().flatten().map(|v| v.trim().to_string())));
                cells.map(|(i, c)| if role_cell && i == 1 { truthy(c.as_deref()).map(|w| w.to_string()).or(c) } else { c }).collect()
            })
            .collect();
        out.sort();
        out
    };
    key(a) == key(b)
}

async fn observe(session: &mut ProbeSession, params: &ConnectParams, config: &TopologyConfig) -> Result<Observation, ProbeError> {
    let t = config.query_timeout;
    let sql = &config.sql;
    let w = bounded_query(session, &sql.writer_id, t, params).await?;
    let own = match &sql.own_id {
        Some(q) if needs_own_id(&sql.writer_id_meaning, &w.rows) => first_text(&bounded_query(session, q, t, params).await?),
        _ => None,
    };
    let check = writer_check(&sql.writer_id_meaning, &w.columns, &w.rows, own);
    let is_reader = if check.is_writer {
        Some(
            truthy(first_text(&bounded_query(session, &sql.is_reader, t, params).await?).as_deref())
                .ok_or_else(|| ProbeError::new(ErrorClass::Other, "the is-reader query did not return a boolean"))?,
        )
    } else {
        None
    };
    let rows = bounded_query(session, &sql.topology, t, params).await?.rows;
    if rows.is_empty() {
        return Err(ProbeError::new(ErrorClass::Other, "the topology query returned no rows"));
    }
    let rows_writer = rows_writer(config.shape, &rows, &check);
    Ok(Observation { check, is_reader, rows, rows_writer })
}

/// Hosts named by topology rows, through the instance template.
fn hosts_from_rows(config: &TopologyConfig, rows: &TextRows) -> Vec<TopologyHost> {
    let Some(t) = &config.template else { return Vec::new() };
    let cell = |row: &Vec<Option<String>>, i: usize| row.get(i).cloned().flatten().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    rows.iter()
        .filter_map(|r| {
            let id = cell(r, 0)?;
            match config.shape {
                TopologyShape::Aurora => Some(TopologyHost { host: t.host.replacen('?', &id, 1), port: t.port, id: Some(id) }),
                TopologyShape::MultiAz => {
                    let endpoint = cell(r, 1)?;
                    let name = endpoint.split('.').next()?.to_string();
                    let row_port = cell(r, 2).and_then(|p| p.parse::<u16>().ok()).filter(|p| *p != 0);
                    let port = if t.port_explicit { t.port } else { row_port.unwrap_or(t.port) };
                    Some(TopologyHost { host: t.host.replacen('?', &name, 1), port, id: Some(id) })
                }
                // Region-specific templates live in TypeScript, which sends the hosts (set_hosts).
                TopologyShape::GlobalAurora => None,
            }
        })
        .filter(|h| h.port != 0)
        .collect()
}

// ---- connections -----------------------------------------------------------------------------------------------

struct Conn {
    session: ProbeSession,
    target: ProbeTarget,
    host: TopologyHost,
}

impl Conn {
    fn close(self) {
        self.session.close();
    }
}

async fn open(config: &TopologyConfig, params: &dyn TopologyParams, host: &TopologyHost, refresh: bool) -> Result<Conn, ProbeError> {
    let base = ProbeTarget { kind: config.kind, params: ConnectParams { host: host.host.clone(), port: host.port, ..Default::default() } };
    let work = async {
        let target = params.resolve(&base, refresh).await?;
        let session = ProbeSession::connect(&target).await?;
        Ok(Conn { session, target, host: host.clone() })
    };
    match tokio::time::timeout(config.connect_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::new(ErrorClass::Timeout, format!("no connection within {} ms", config.connect_timeout.as_millis()))),
    }
}

/// Sleeps `d`, or less when `token` is cancelled or `recheck` is notified.
async fn pause(d: Duration, token: &CancellationToken, recheck: &Notify) {
    tokio::select! {
        _ = token.cancelled() => {}
        _ = recheck.notified() => {}
        _ = tokio::time::sleep(d) => {}
    }
}

enum Found {
    /// A node confirmed as writer; its connection becomes the monitoring connection.
    Writer(Box<Conn>, Observation),
    /// A reader's view.
    Seen(Observation),
}

/// Probes one host until the panic ends: connect (bounded), look (bounded queries), report; readers are re-read
/// every `high_rate`. Connections are closed when the panic ends, except a writer's, which is handed over.
async fn probe_host(
    config: Arc<TopologyConfig>,
    params: Arc<dyn TopologyParams>,
    host: TopologyHost,
    tx: mpsc::UnboundedSender<Found>,
    token: CancellationToken,
    recheck: Arc<Notify>,
) {
    let mut slot: Option<Conn> = None;
    tokio::select! {
        _ = token.cancelled() => {}
        _ = probe_loop(&config, params.as_ref(), &host, &tx, &token, &recheck, &mut slot) => {}
    }
    if let Some(c) = slot.take() {
        c.close();
    }
}

async fn probe_loop(
    config: &TopologyConfig,
    params: &dyn TopologyParams,
    host: &TopologyHost,
    tx: &mpsc::UnboundedSender<Found>,
    token: &CancellationToken,
    recheck: &Notify,
    slot: &mut Option<Conn>,
) {
    let mut failures: u32 = 0;
    let mut refresh_credentials = false;
    loop {
        if slot.is_none() {
            match open(config, params, host, refresh_credentials).await {
                Ok(c) => {
                    *slot = Some(c);
                    failures = 0;
                    refresh_credentials = false;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    refresh_credentials = e.class == ErrorClass::Auth;
                    let wait = match e.class {
                        // Down or restarting: try again soon (a timeout has waited already).
                        ErrorClass::Refused => config.high_rate,
                        ErrorClass::Timeout => Duration::ZERO,
                        _ => Duration::from_millis(100u64 << failures.min(7)).min(Duration::from_secs(10)),
                    };
                    pause(wait, token, recheck).await;
                    continue;
                }
            }
        }
        let conn = slot.as_mut().expect("opened above");
        match observe(&mut conn.session, &conn.target.params, config).await {
            Ok(obs) if obs.confirmed() => {
                let conn = slot.take().expect("opened above");
                if let Err(mpsc::error::SendError(Found::Writer(c, _))) = tx.send(Found::Writer(Box::new(conn), obs)) {
                    c.close();
                }
                return;
            }
            Ok(obs) => {
                if tx.send(Found::Seen(obs)).is_err() {
                    return;
                }
                pause(config.panic_poll, token, recheck).await;
            }
            Err(_) => {
                if let Some(c) = slot.take() {
                    c.close();
                }
                pause(config.high_rate, token, recheck).await;
            }
        }
    }
}

// ---- the monitor's main task ------------------------------------------------------------------------------------

struct Runner {
    shared: Arc<Shared>,
    config: Arc<TopologyConfig>,
    params: Arc<dyn TopologyParams>,
    sink: Arc<dyn TopologySink>,
    seq: u64,
    last_writer: Option<String>,
    last_rows: Option<TextRows>,
    /// Hosts from the last rows seen (through the template).
    derived: Vec<TopologyHost>,
    confirmed_at: Option<Instant>,
    high_rate_until: Option<Instant>,
}

/// Shortest bound of the re-check of a just-confirmed writer on a verify request.
const GRACE_CHECK_MIN: Duration = Duration::from_millis(500);

enum PollOutcome<T> {
    Stop,
    Abandon,
    Done(Result<T, ProbeError>),
}

impl Runner {
    fn new(shared: Arc<Shared>, params: Arc<dyn TopologyParams>, sink: Arc<dyn TopologySink>) -> Self {
        let config = Arc::new(shared.config.clone());
        Runner {
            shared,
            config,
            params,
            sink,
            seq: 0,
            last_writer: None,
            last_rows: None,
            derived: Vec::new(),
            confirmed_at: None,
            high_rate_until: None,
        }
    }

    fn stopped(&self) -> bool {
        self.shared.stop.is_cancelled()
    }

    fn report(&self, event: TopologyEvent) {
        if !self.sink.report(self.shared.id, event) {
            self.shared.stop.cancel();
        }
    }

    fn publish(&mut self, obs: &Observation, writer: Option<&TopologyHost>, confirmed: bool, reason: PublicationReason) {
        self.seq += 1;
        let new_writer = !confirmed
            && obs.rows_writer.is_some()
            && obs.rows_writer != self.last_writer
            && (obs.check.writer_id.is_none() || obs.check.writer_id == obs.rows_writer);
        let writer_id = if self.config.shape == TopologyShape::MultiAz { obs.check.writer_id.clone() } else { obs.rows_writer.clone() };
        let p = Arc::new(Publication {
            seq: self.seq,
            rows: obs.rows.clone(),
            writer_id: writer_id.or_else(|| obs.rows_writer.clone()),
            writer: writer.cloned(),
            confirmed,
            new_writer,
            reason,
            at_ms: now_ms(),
        });
        if confirmed {
            self.last_writer = obs.rows_writer.clone();
        }
        self.last_rows = Some(obs.rows.clone());
        self.derived = hosts_from_rows(&self.config, &obs.rows);
        self.shared.latest.send_replace(Some(Arc::clone(&p)));
        self.report(TopologyEvent::Published(p));
    }

    fn in_verify_grace(&self) -> bool {
        self.confirmed_at.is_some_and(|t| t.elapsed() < self.config.verify_grace)
    }

    fn in_high_rate(&self) -> bool {
        self.high_rate_until.is_some_and(|t| Instant::now() < t)
    }

    fn known_hosts(&self) -> Vec<TopologyHost> {
        let mut out = self.config.hosts.clone();
        out.extend(self.shared.hosts().iter().cloned());
        out.extend(self.derived.iter().cloned());
        out
    }

    async fn run(mut self) {
        let mut writer: Option<Conn> = None;
        let mut reason = String::from("starting: finding the writer");
        while !self.stopped() {
            match writer.take() {
                None => match self.panic(&reason).await {
                    Some(c) => writer = Some(c),
                    None => break,
                },
                Some(c) => match self.regular(c).await {
                    Ok(c) => writer = Some(c),
                    Err(why) => reason = why,
                },
            }
        }
        if let Some(c) = writer {
            c.close();
        }
        self.shared.panicking.store(false, Ordering::SeqCst);
    }

    /// Runs `work` (a poll or a ping on the monitoring connection) unless the monitor stops, or a verify request
    /// outside the grace (or, with `grace_check`, the grace re-check's short bound) abandons it: a verify request
    /// does not wait for work that may hang on a dead writer.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, ProbeError>>, grace_check: bool) -> PollOutcome<T> {
        let s = &self.shared;
        tokio::pin!(work);
        let grace_bound = tokio::time::sleep((self.config.high_rate * 5).max(GRACE_CHECK_MIN).min(self.config.query_timeout));
        tokio::pin!(grace_bound);
        loop {
            tokio::select! {
                biased;
                _ = s.stop.cancelled() => break PollOutcome::Stop,
                r = &mut work => break PollOutcome::Done(r),
                _ = &mut grace_bound, if grace_check => break PollOutcome::Abandon,
                _ = s.wake.notified() => {
                    if s.verify_requested.load(Ordering::SeqCst) && !self.in_verify_grace() {
                        break PollOutcome::Abandon;
                    }
                }
            }
        }
    }

    /// Polls on the writer connection until it fails, stops being the writer, stops answering pings or a verify
    /// request drops it; Err (with the reason for panic mode) then. Ok only when the monitor stops (connection
    /// still open).
    async fn regular(&mut self, mut conn: Conn) -> Result<Conn, String> {
        let s = Arc::clone(&self.shared);
        let config = Arc::clone(&self.config);
        loop {
            // Within the grace after a confirmation, a verify request re-checks this connection, briefly: a writer
            // confirmed moments ago answers at once, and one that does not is not waited for.
            let grace_check = s.verify_requested.swap(false, Ordering::SeqCst);
            if grace_check && !self.in_verify_grace() {
                conn.close();
                return Err("writer verification requested".into());
            }
            let requested = s.refresh_requested.swap(false, Ordering::SeqCst);
            let obs = match self.bounded(observe(&mut conn.session, &conn.target.params, &config), grace_check).await {
                PollOutcome::Stop => return Ok(conn),
                PollOutcome::Abandon => return Err(self.abandon(conn)),
                PollOutcome::Done(Err(e)) => {
                    let why = format!("topology poll on {}:{} failed: {e}", conn.host.host, conn.host.port);
                    conn.close();
                    return Err(why);
                }
                PollOutcome::Done(Ok(obs)) => obs,
            };
            let mut answered = Instant::now();
            if !obs.confirmed() {
                // The node was demoted (or its view disagrees): publish what it says and find the writer.
                if obs.rows_writer.is_some() && obs.rows_writer != self.last_writer {
                    self.publish(&obs, None, false, PublicationReason::ReaderView);
                }
                let why = format!("{}:{} is no longer the writer", conn.host.host, conn.host.port);
                conn.close();
                return Err(why);
            }
            // Metrics (CPU, lag, update time) differ on every poll: only membership, roles or the writer count.
            let changed =
                self.last_rows.as_ref().is_none_or(|r| !same_membership(config.shape, r, &obs.rows)) || self.last_writer != obs.rows_writer;
            let waiting = s.waiters.load(Ordering::SeqCst) > 0;
            if requested || waiting || changed || !self.in_high_rate() {
                if changed {
                    self.high_rate_until = Some(Instant::now() + config.high_rate_window);
                }
                let host = conn.host.clone();
                self.publish(
                    &obs,
                    Some(&host),
                    true,
                    if requested || waiting { PublicationReason::Refresh } else { PublicationReason::Poll },
                );
            }
            let interval = if self.in_high_rate() { config.high_rate } else { config.refresh };
            let until = Instant::now() + interval;
            loop {
                if s.verify_requested.load(Ordering::SeqCst) || s.refresh_requested.load(Ordering::SeqCst) {
                    break;
                }
                // Between polls further apart than the liveness period, a ping tells a writer that stopped
                // answering (black-holed, frozen) without re-reading the topology.
                let ping_at = answered + config.liveness;
                let ping_due = ping_at < until;
                tokio::select! {
                    biased;
                    _ = s.stop.cancelled() => return Ok(conn),
                    _ = s.wake.notified() => continue,
                    _ = tokio::time::sleep_until(until.into()), if !ping_due => break,
                    _ = tokio::time::sleep_until(ping_at.into()), if ping_due => {}
                }
                let ping = async {
                    match tokio::time::timeout(config.query_timeout, conn.session.ping(&conn.target.params)).await {
                        Ok(r) => r,
                        Err(_) => Err(ProbeError::new(
                            ErrorClass::Timeout,
                            format!("no answer to a ping within {} ms", config.query_timeout.as_millis()),
                        )),
                    }
                };
                match self.bounded(ping, false).await {
                    PollOutcome::Stop => return Ok(conn),
                    PollOutcome::Abandon => return Err(self.abandon(conn)),
                    PollOutcome::Done(Err(e)) => {
                        let why = format!("the monitoring connection to {}:{} stopped answering: {e}", conn.host.host, conn.host.port);
                        conn.close();
                        return Err(why);
                    }
                    PollOutcome::Done(Ok(())) => answered = Instant::now(),
                }
            }
        }
    }

    /// Drops the monitoring connection for a verify request; the reason for panic mode.
    fn abandon(&self, conn: Conn) -> String {
        self.shared.verify_requested.store(false, Ordering::SeqCst);
        conn.close();
        "writer verification requested".into()
    }

    /// Probes every known host in parallel until one is confirmed as writer (returned as the new monitoring
    /// connection, its topology published) or the monitor stops (None).
    async fn panic(&mut self, reason: &str) -> Option<Conn> {
        let s = Arc::clone(&self.shared);
        s.panicking.store(true, Ordering::SeqCst);
        self.report(TopologyEvent::Panic { reason: reason.to_string(), at_ms: now_ms() });
        let token = s.stop.child_token();
        let (tx, mut rx) = mpsc::unbounded_channel::<Found>();
        let mut probing: HashSet<(String, u16)> = HashSet::new();
        let mut latest_view: Option<Observation> = None;
        let (config, params) = (Arc::clone(&self.config), Arc::clone(&self.params));
        // Wakes the probes of readers at once when one of them names a new writer (it may be promoted in place).
        let recheck = Arc::new(Notify::new());
        let spawn_new = |hosts: Vec<TopologyHost>, probing: &mut HashSet<(String, u16)>| {
            for h in hosts {
                if probing.insert(h.key()) {
                    tokio::spawn(probe_host(Arc::clone(&config), Arc::clone(&params), h, tx.clone(), token.clone(), Arc::clone(&recheck)));
                }
            }
        };
        spawn_new(self.known_hosts(), &mut probing);
        let found = loop {
            tokio::select! {
                biased;
                _ = s.stop.cancelled() => break None,
                msg = rx.recv() => match msg {
                    Some(Found::Writer(conn, obs)) => break Some((*conn, obs)),
                    Some(Found::Seen(obs)) => {
                        spawn_new(hosts_from_rows(&config, &obs.rows), &mut probing);
                        let names_new_writer = obs.verdict(self.last_writer.as_deref()) == Verdict::NewWriter;
                        let already = self.last_rows.as_ref() == Some(&obs.rows);
                        if names_new_writer && !already {
                            self.publish(&obs, None, false, PublicationReason::ReaderView);
                            recheck.notify_waiters();
                        } else if s.refresh_requested.swap(false, Ordering::SeqCst) {
                            self.publish(&obs, None, false, PublicationReason::ReaderView);
                        }
                        latest_view = Some(obs);
                    }
                    None => break None,
                },
                _ = s.wake.notified() => {
                    let hosts = s.hosts().clone();
                    spawn_new(hosts, &mut probing);
                    if let Some(obs) = latest_view.take() {
                        if s.refresh_requested.swap(false, Ordering::SeqCst) {
                            self.publish(&obs, None, false, PublicationReason::ReaderView);
                        }
                    }
                }
            }
        };
        token.cancel();
        let (conn, obs) = found?;
        s.verify_requested.store(false, Ordering::SeqCst);
        s.refresh_requested.store(false, Ordering::SeqCst);
        let first = self.seq == 0 || self.confirmed_at.is_none();
        let now = Instant::now();
        self.confirmed_at = Some(now);
        if !first {
            // After a failover the new writer's topology is still settling.
            self.high_rate_until = Some(now + self.config.high_rate_window);
        }
        s.panicking.store(false, Ordering::SeqCst);
        let host = conn.host.clone();
        self.publish(&obs, Some(&host), true, if first { PublicationReason::Initial } else { PublicationReason::WriterConfirmed });
        Some(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    struct Collect(Mutex<Vec<TopologyEvent>>);
    impl TopologySink for Collect {
        fn report(&self, _id: u64, event: TopologyEvent) -> bool {
            self.0.lock().unwrap().push(event);
            true
        }
    }

    /// Counts parameter requests and answers with the target as given.
    struct CountingParams(AtomicU32);
    impl TopologyParams for CountingParams {
        fn resolve(&self, base: &ProbeTarget, _refresh: bool) -> BoxFuture<Result<ProbeTarget, ProbeError>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            let mut t = base.clone();
            t.params.user = Some("u".into());
            t.params.password = Some("secret-pw".into());
            Box::pin(async move { Ok(t) })
        }
    }

    fn config(hosts: Vec<TopologyHost>) -> TopologyConfig {
        TopologyConfig {
            kind: ProbeKind::Postgres,
            shape: TopologyShape::Aurora,
            sql: TopologySql {
                topology: "SELECT 1".into(),
                writer_id: "SELECT 1".into(),
                writer_id_meaning: WriterIdMeaning::RowMeansWriter,
                own_id: None,
                is_reader: "SELECT false".into(),
            },
            template: Some(HostTemplate { host: "?.example.com".into(), port: 5432, port_explicit: false }),
            hosts,
            refresh: Duration::from_millis(1000),
            high_rate: Duration::from_millis(50),
            panic_poll: Duration::from_millis(25),
            high_rate_window: Duration::from_secs(30),
            liveness: Duration::from_secs(1),
            verify_grace: Duration::from_secs(10),
            connect_timeout: Duration::from_millis(300),
            query_timeout: Duration::from_millis(300),
        }
    }

    /// A listener that accepts connections and never answers (a black-holed host).
    fn black_hole() -> (std::net::TcpListener, u16) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    fn host(port: u16) -> TopologyHost {
        TopologyHost { host: "127.0.0.1".into(), port, id: None }
    }

    #[test]
    fn black_holed_hosts_keep_panic_mode_bounded_and_stop_joins() {
        let rt = NativeRuntime::new("topo-test");
        let registry = Arc::new(TopologyRegistry::new());
        let (_l1, p1) = black_hole();
        let (_l2, p2) = black_hole();
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let params = Arc::new(CountingParams(AtomicU32::new(0)));
        let m = registry.start(&rt, "c1".into(), config(vec![host(p1), host(p2)]), params.clone(), sink.clone()).unwrap();
        let ctx = rt.context().unwrap();
        let started = Instant::now();
        let res = ctx.handle.block_on(m.force_refresh(true, Duration::from_millis(800)));
        let waited = started.elapsed();
        assert_eq!(res.unwrap_err(), TopologyError::Timeout(Duration::from_millis(800)));
        assert!(waited >= Duration::from_millis(790) && waited < Duration::from_millis(1500), "waited {waited:?}");
        assert!(m.is_panicking());
        // Each host was tried again after its connect timed out (bounded attempts, not one hanging forever).
        assert!(params.0.load(Ordering::SeqCst) >= 4, "params asked {} times", params.0.load(Ordering::SeqCst));
        let events = sink.0.lock().unwrap().clone();
        assert!(matches!(events.first(), Some(TopologyEvent::Panic { .. })));
        assert!(!events.iter().any(|e| matches!(e, TopologyEvent::Published(_))));
        // Zero timeout: nothing published yet.
        assert_eq!(ctx.handle.block_on(m.force_refresh(false, Duration::ZERO)).unwrap_err(), TopologyError::NoTopology);
        assert_eq!(registry.len(), 1);
        assert!(registry.stop(m.id()));
        assert!(!registry.stop(m.id()));
        assert_eq!(ctx.handle.block_on(m.force_refresh(false, Duration::from_millis(100))).unwrap_err(), TopologyError::Stopped);
        drop(ctx);
        assert!(rt.shutdown(Duration::from_secs(2)));
        assert_eq!(rt.thread_count(), 0);
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn shutdown_ends_a_waiting_force_refresh_and_the_monitor() {
        let rt = Arc::new(NativeRuntime::new("topo-test2"));
        let registry = Arc::new(TopologyRegistry::new());
        let (_l, p) = black_hole();
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let m = registry.start(&rt, "c2".into(), config(vec![host(p)]), Arc::new(GivenParams), sink).unwrap();
        let ctx = rt.context().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let m2 = m.clone();
        ctx.handle.spawn(async move {
            let r = m2.force_refresh(true, Duration::from_secs(60)).await;
            let _ = tx.send(r);
        });
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        assert!(rt.shutdown(Duration::from_secs(2)));
        assert!(started.elapsed() < Duration::from_secs(2));
        // The waiter was either told the monitor stopped or dropped with the runtime; it never hangs.
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(r) => assert_eq!(r.unwrap_err(), TopologyError::Stopped),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {}
            Err(e) => panic!("force_refresh still waiting: {e:?}"),
        }
        assert!(m.is_stopped());
        assert_eq!(registry.len(), 0);
        assert_eq!(rt.thread_count(), 0);
    }

    #[test]
    fn set_hosts_adds_probes_during_panic() {
        let rt = NativeRuntime::new("topo-test3");
        let registry = Arc::new(TopologyRegistry::new());
        let (_l, p) = black_hole();
        let params = Arc::new(CountingParams(AtomicU32::new(0)));
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let m = registry.start(&rt, "c3".into(), config(vec![]), params.clone(), sink).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(params.0.load(Ordering::SeqCst), 0, "no host known yet");
        m.set_hosts(vec![host(p)]);
        let deadline = Instant::now() + Duration::from_secs(2);
        while params.0.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(params.0.load(Ordering::SeqCst) >= 1);
        assert!(rt.shutdown(Duration::from_secs(2)));
    }

    #[test]
    fn config_is_validated() {
        let rt = NativeRuntime::new("topo-test4");
        let registry = Arc::new(TopologyRegistry::new());
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let mut c = config(vec![]);
        c.sql.writer_id_meaning = WriterIdMeaning::ReturnsWriterId;
        let err = registry.start(&rt, "c".into(), c, Arc::new(GivenParams), sink.clone()).err().unwrap();
        assert!(err.contains("own-id query"), "{err}");
        let mut c = config(vec![]);
        c.kind = ProbeKind::Tcp;
        assert!(registry.start(&rt, "c".into(), c, Arc::new(GivenParams), sink.clone()).is_err());
        let mut c = config(vec![]);
        c.template = Some(HostTemplate { host: "no-placeholder".into(), port: 1, port_explicit: false });
        assert!(registry.start(&rt, "c".into(), c, Arc::new(GivenParams), sink).is_err());
        assert!(!rt.is_running());
    }

    #[test]
    fn writer_in_rows() {
        let r = |cells: &[Option<&str>]| cells.iter().map(|c| c.map(str::to_string)).collect::<Vec<_>>();
        let rows = vec![
            r(&[Some("a"), Some("t"), None, None, Some("2025-01-01 10:00:00.1+00")]),
            r(&[Some("b"), Some("f"), None, None, Some("2025-01-01 10:00:05+00")]),
            r(&[Some("c"), Some("true"), None, None, Some("2025-01-01 10:00:02+00")]),
        ];
        let no = WriterCheck::default();
        assert_eq!(rows_writer(TopologyShape::Aurora, &rows, &no).as_deref(), Some("c"));
        let maz = vec![r(&[Some("1"), Some("x.example"), Some("5432")]), r(&[Some("2"), Some("y.example"), Some("5433")])];
        let check = WriterCheck { is_writer: false, writer_id: Some("2".into()), own_id: None };
        assert_eq!(rows_writer(TopologyShape::MultiAz, &maz, &check).as_deref(), Some("2"));
        let unknown = WriterCheck { is_writer: false, writer_id: Some("9".into()), own_id: None };
        assert_eq!(rows_writer(TopologyShape::MultiAz, &maz, &unknown), None);
        let mut c = config(vec![]);
        c.shape = TopologyShape::MultiAz;
        c.template = Some(HostTemplate { host: "?.cluster.example".into(), port: 5432, port_explicit: false });
        let hosts = hosts_from_rows(&c, &maz);
        assert_eq!(hosts[1], TopologyHost { host: "y.cluster.example".into(), port: 5433, id: Some("2".into()) });
        let obs = Observation {
            check: WriterCheck { is_writer: true, writer_id: Some("c".into()), own_id: Some("c".into()) },
            is_reader: Some(false),
            rows: rows.clone(),
            rows_writer: Some("c".into()),
        };
        assert!(obs.confirmed());
        let lagging = Observation { rows_writer: Some("a".into()), ..obs };
        assert!(!lagging.confirmed());
    }
}
