//! N-API binding of the cluster topology monitor (monitor_core::topology). The TypeScript adapter
//! (ts/host-list-providers/topology-monitor.ts) owns the public API.
//!
//! Each monitor has its own connection-parameters callback (per cluster: credentials, hostAddressMap, TLS, IAM)
//! and its own event callback; both are weak, so a monitor never keeps the process alive. A forced refresh holds
//! a one-shot callback until it settles, which its timeout bounds.

use std::sync::Arc;
use std::time::Duration;

use monitor_core::topology::{
    self, HostTemplate, Publication, TopologyConfig, TopologyError, TopologyEvent, TopologyHost, TopologySink, TopologySql,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use crate::monitor_params::{JsMonitorParams, MonitorParamsCallback};
use crate::{existing_state, invalid, port, state, ProbeKind};

/// The shape of topology rows.
#[napi(string_enum = "kebab-case")]
pub enum TopologyShape {
    /// (id, is_writer, cpu, lag, last_update)
    Aurora,
    /// (id, is_writer, visibility_lag, region)
    GlobalAurora,
    /// (id, endpoint, port); the writer comes from the writer-id query.
    MultiAz,
}

impl From<TopologyShape> for topology::TopologyShape {
    fn from(s: TopologyShape) -> Self {
        match s {
            TopologyShape::Aurora => Self::Aurora,
            TopologyShape::GlobalAurora => Self::GlobalAurora,
            TopologyShape::MultiAz => Self::MultiAz,
        }
    }
}

/// How the writer-id query answers "is this node the writer".
#[napi(string_enum = "kebab-case")]
pub enum WriterIdMeaning {
    /// A row (the node's own id) only on the writer.
    RowMeansWriter,
    /// A row only on replicas, naming the writer (writerIdColumns / writerIdColumnIndex); no row = the writer.
    NoRowMeansWriter,
    /// The writer's id on every node, compared with the own-id query.
    ReturnsWriterId,
}

/// Why a topology was published.
#[napi(string_enum = "kebab-case")]
pub enum PublicationReason {
    /// The monitor's first writer connection (or its first after panic mode left none confirmed).
    Initial,
    /// Panic mode found the writer again.
    WriterConfirmed,
    /// A periodic read on the writer connection.
    Poll,
    /// A read on the writer connection that a forced refresh waits for.
    Refresh,
    /// A reader's view, unconfirmed.
    ReaderView,
}

impl From<topology::PublicationReason> for PublicationReason {
    fn from(r: topology::PublicationReason) -> Self {
        match r {
            topology::PublicationReason::Initial => Self::Initial,
            topology::PublicationReason::WriterConfirmed => Self::WriterConfirmed,
            topology::PublicationReason::Poll => Self::Poll,
            topology::PublicationReason::Refresh => Self::Refresh,
            topology::PublicationReason::ReaderView => Self::ReaderView,
        }
    }
}

/// Why a forced refresh returned no new topology.
#[napi(string_enum = "kebab-case")]
pub enum TopologyRefreshError {
    /// Nothing was published within the timeout.
    Timeout,
    /// The monitor is not running.
    Stopped,
    /// A zero-timeout refresh before anything was published.
    #[napi(value = "none")]
    NoTopology,
    /// releaseResources() dropped the refresh.
    Cancelled,
}

#[napi(object)]
pub struct NativeTopologyHost {
    pub host: String,
    pub port: u32,
    /// Instance id in the topology, when known.
    pub id: Option<String>,
}

#[napi(object)]
pub struct NativeTopologyConfig {
    /// `postgres` or `mysql`.
    pub kind: ProbeKind,
    pub shape: TopologyShape,
    pub topology_query: String,
    pub writer_id_query: String,
    pub writer_id_meaning: WriterIdMeaning,
    /// `no-row-means-writer`: the columns that may name the writer.
    pub writer_id_columns: Option<Vec<String>>,
    /// `no-row-means-writer`: the writer's column when none of writerIdColumns is there.
    pub writer_id_column_index: Option<u32>,
    pub own_id_query: Option<String>,
    pub is_reader_query: String,
    /// Instance host template (`?` = instance name) to probe hosts listed by readers without asking JS.
    pub template_host: Option<String>,
    pub template_port: Option<u32>,
    pub template_port_explicit: Option<bool>,
    pub hosts: Vec<NativeTopologyHost>,
    pub refresh_ms: f64,
    pub high_rate_ms: f64,
    /// Re-check period of readers in panic mode; default highRateMs.
    pub panic_poll_ms: Option<f64>,
    pub high_rate_window_ms: f64,
    /// Ping period of the monitoring connection between polls further apart; default 1000.
    pub liveness_ms: Option<f64>,
    pub verify_grace_ms: f64,
    pub connect_timeout_ms: f64,
    pub query_timeout_ms: f64,
}

/// A topology the monitor published.
#[napi(object)]
pub struct NativeTopologyPublication {
    pub monitor_id: u32,
    /// 1 for the monitor's first publication; increases by one each time.
    pub seq: f64,
    /// Topology rows as text (NULL = null).
    pub rows: Vec<Vec<Option<String>>>,
    pub writer_id: Option<String>,
    /// The host the writer was confirmed on (absent for a reader's view).
    pub writer_host: Option<String>,
    pub writer_port: Option<u32>,
    /// Read on a connection verified to be on the writer.
    pub confirmed: bool,
    /// A reader's view naming a new writer (unconfirmed).
    pub new_writer: bool,
    pub reason: PublicationReason,
    /// ms since the Unix epoch.
    pub at: f64,
}

/// What a topology monitor reports, in order: a publication, or the start of panic mode (also at start: native code
/// probes every host) with why and when (ms since the Unix epoch).
#[napi(discriminant = "kind", discriminant_case = "lowercase")]
pub enum NativeTopologyEvent {
    Topology { publication: NativeTopologyPublication },
    Panic { monitor_id: u32, reason: String, at: f64 },
}

#[napi(object)]
pub struct NativeTopologyRefresh {
    pub ok: bool,
    pub publication: Option<NativeTopologyPublication>,
    pub error: Option<TopologyRefreshError>,
    pub message: Option<String>,
}

/// Receives a topology monitor's events. Weak, bounded queue: a stalled loop drops events (the next publication or a
/// forced refresh catches up).
#[napi]
pub type TopologyEventCallback = ThreadsafeFunction<NativeTopologyEvent, (), NativeTopologyEvent, Status, false, true, 1024>;
/// Receives a forced refresh's result once.
#[napi]
pub type RefreshCallback = ThreadsafeFunction<NativeTopologyRefresh, (), NativeTopologyRefresh, Status, false>;

fn duration(ms: f64, what: &str, allow_zero: bool) -> Result<Duration> {
    if ms.is_finite() && (ms > 0.0 || (allow_zero && ms == 0.0)) && ms <= 86_400_000.0 {
        Ok(Duration::from_secs_f64(ms / 1000.0))
    } else {
        let range = if allow_zero { "[0, 86400000]" } else { "(0, 86400000]" };
        Err(invalid(format!("{what}: expected a number of milliseconds in {range}, got {ms}")))
    }
}

fn to_host(h: NativeTopologyHost) -> Result<TopologyHost> {
    if h.host.is_empty() {
        return Err(invalid("topology host: host must be a non-empty string".into()));
    }
    Ok(TopologyHost { port: port(h.port, "topology host")?, host: h.host, id: h.id })
}

fn to_config(c: NativeTopologyConfig) -> Result<TopologyConfig> {
    let writer_id_meaning = match c.writer_id_meaning {
        WriterIdMeaning::RowMeansWriter => topology::WriterIdMeaning::RowMeansWriter,
        WriterIdMeaning::NoRowMeansWriter => topology::WriterIdMeaning::NoRowMeansWriter {
            columns: c.writer_id_columns.unwrap_or_default(),
            index: c.writer_id_column_index.map(|i| i as usize),
        },
        WriterIdMeaning::ReturnsWriterId => topology::WriterIdMeaning::ReturnsWriterId,
    };
    let template = match c.template_host {
        Some(host) => Some(HostTemplate {
            host,
            port: port(c.template_port.unwrap_or(0), "templatePort")?,
            port_explicit: c.template_port_explicit.unwrap_or(false),
        }),
        None => None,
    };
    Ok(TopologyConfig {
        kind: c.kind.into(),
        shape: c.shape.into(),
        sql: TopologySql {
            topology: c.topology_query,
            writer_id: c.writer_id_query,
            writer_id_meaning,
            own_id: c.own_id_query,
            is_reader: c.is_reader_query,
        },
        template,
        hosts: c.hosts.into_iter().map(to_host).collect::<Result<_>>()?,
        refresh: duration(c.refresh_ms, "refreshMs", false)?,
        high_rate: duration(c.high_rate_ms, "highRateMs", false)?,
        panic_poll: duration(c.panic_poll_ms.unwrap_or(c.high_rate_ms), "panicPollMs", false)?,
        high_rate_window: duration(c.high_rate_window_ms, "highRateWindowMs", true)?,
        liveness: duration(c.liveness_ms.unwrap_or(1000.0), "livenessMs", false)?,
        verify_grace: duration(c.verify_grace_ms, "verifyGraceMs", true)?,
        connect_timeout: duration(c.connect_timeout_ms, "connectTimeoutMs", false)?,
        query_timeout: duration(c.query_timeout_ms, "queryTimeoutMs", false)?,
    })
}

fn publication(monitor_id: u64, p: &Publication) -> NativeTopologyPublication {
    NativeTopologyPublication {
        monitor_id: u32::try_from(monitor_id).unwrap_or(u32::MAX),
        seq: p.seq as f64,
        rows: p.rows.clone(),
        writer_id: p.writer_id.clone(),
        writer_host: p.writer.as_ref().map(|w| w.host.clone()),
        writer_port: p.writer.as_ref().map(|w| u32::from(w.port)),
        confirmed: p.confirmed,
        new_writer: p.new_writer,
        reason: p.reason.into(),
        at: p.at_ms,
    }
}

struct JsTopologySink {
    callback: TopologyEventCallback,
}

impl TopologySink for JsTopologySink {
    fn report(&self, monitor_id: u64, event: TopologyEvent) -> bool {
        let ev = match event {
            TopologyEvent::Published(p) => NativeTopologyEvent::Topology { publication: publication(monitor_id, &p) },
            TopologyEvent::Panic { reason, at_ms } => {
                NativeTopologyEvent::Panic { monitor_id: u32::try_from(monitor_id).unwrap_or(u32::MAX), reason, at: at_ms }
            }
        };
        // QueueFull drops this event; Closing means the env is going away: stop the monitor.
        self.callback.call(ev, ThreadsafeFunctionCallMode::NonBlocking) != Status::Closing
    }
}

/// Starts a topology monitor of `cluster`; `params` is asked for connection parameters before each connection,
/// `onEvent` receives publications and panic-mode starts. Returns the monitor's id.
#[napi(catch_unwind)]
pub fn start_topology_monitor(
    env: Env,
    cluster: String,
    config: NativeTopologyConfig,
    params: MonitorParamsCallback,
    on_event: TopologyEventCallback,
) -> Result<u32> {
    let config = to_config(config)?;
    let state = state(&env)?;
    let monitor = state
        .topology
        .start(&state.runtime, cluster, config, Arc::new(JsMonitorParams::new(params)), Arc::new(JsTopologySink { callback: on_event }))
        .map_err(invalid)?;
    u32::try_from(monitor.id()).map_err(|_| Error::from_reason("topology monitor ids exhausted"))
}

/// Replaces the hosts monitor `id` probes in panic mode. False when it is not running.
#[napi(catch_unwind)]
pub fn set_topology_hosts(env: Env, id: u32, hosts: Vec<NativeTopologyHost>) -> Result<bool> {
    let hosts = hosts.into_iter().map(to_host).collect::<Result<Vec<_>>>()?;
    Ok(match existing_state(&env)?.and_then(|s| s.topology.get(u64::from(id))) {
        Some(m) => {
            m.set_hosts(hosts);
            true
        }
        None => false,
    })
}

/// Delivers a forced refresh's result exactly once, also when a shutdown drops the task.
struct RefreshReply(Option<RefreshCallback>);

impl RefreshReply {
    fn send(mut self, r: NativeTopologyRefresh) {
        if let Some(cb) = self.0.take() {
            cb.call(r, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

impl Drop for RefreshReply {
    fn drop(&mut self) {
        if let Some(cb) = self.0.take() {
            let r = NativeTopologyRefresh {
                ok: false,
                publication: None,
                error: Some(TopologyRefreshError::Cancelled),
                message: Some("topology refresh cancelled: the addon's native resources were released".into()),
            };
            cb.call(r, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

fn refresh_failure(error: TopologyRefreshError, message: String) -> NativeTopologyRefresh {
    NativeTopologyRefresh { ok: false, publication: None, error: Some(error), message: Some(message) }
}

/// Waits (at most `timeoutMs`; 0 = the last publication at once) for a topology of monitor `id` published after
/// this call, confirmed on the writer when `verifyWriter`; calls `done` once with it or the reason it failed.
#[napi(catch_unwind)]
pub fn topology_force_refresh(env: Env, id: u32, verify_writer: bool, timeout_ms: f64, done: RefreshCallback) -> Result<()> {
    let timeout = duration(timeout_ms, "timeoutMs", true)?;
    let reply = RefreshReply(Some(done));
    let Some((state, monitor)) = existing_state(&env)?.and_then(|s| s.topology.get(u64::from(id)).map(|m| (s, m))) else {
        reply.send(refresh_failure(TopologyRefreshError::Stopped, format!("topology monitor {id} is not running")));
        return Ok(());
    };
    state
        .runtime
        .spawn(async move {
            let r = match monitor.force_refresh(verify_writer, timeout).await {
                Ok(p) => NativeTopologyRefresh { ok: true, publication: Some(publication(monitor.id(), &p)), error: None, message: None },
                Err(e) => {
                    let error = match e {
                        TopologyError::Timeout(_) => TopologyRefreshError::Timeout,
                        TopologyError::Stopped => TopologyRefreshError::Stopped,
                        TopologyError::NoTopology => TopologyRefreshError::NoTopology,
                    };
                    refresh_failure(error, format!("cluster {}: {e}", monitor.cluster()))
                }
            };
            reply.send(r);
        })
        .map_err(|e| Error::from_reason(format!("cannot start the native runtime: {e}")))?;
    Ok(())
}

/// Stops topology monitor `id`; false when it is not running.
#[napi(catch_unwind)]
pub fn stop_topology_monitor(env: Env, id: u32) -> Result<bool> {
    Ok(existing_state(&env)?.is_some_and(|s| s.topology.stop(u64::from(id))))
}

/// Topology monitors running in this env.
#[napi]
pub fn topology_monitor_count(env: Env) -> Result<u32> {
    Ok(existing_state(&env)?.map_or(0, |s| s.topology.len() as u32))
}

/// Whether monitor `id` is in panic mode (null when it is not running).
#[napi]
pub fn topology_monitor_panicking(env: Env, id: u32) -> Result<Option<bool>> {
    Ok(existing_state(&env)?.and_then(|s| s.topology.get(u64::from(id))).map(|m| m.is_panicking()))
}
