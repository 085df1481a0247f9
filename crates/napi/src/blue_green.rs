//! N-API binding of the Blue/Green status monitors (monitor_core::blue_green). The TypeScript side
//! (ts/plugins/blue-green-status.ts) merges both monitors' snapshots into the deployment's phase and routings.
//!
//! Like the topology monitor, each monitor has its own weak connection-parameters callback (credentials renewed
//! through the auth plugins, hostAddressMap, TLS) and a weak event callback: a monitor never keeps the process alive.

use std::sync::Arc;

use monitor_core::blue_green::{BlueGreenConfig, BlueGreenEvent, BlueGreenPhase as CorePhase, BlueGreenRole as CoreRole, BlueGreenSink};
use monitor_core::topology::TopologyHost;
use monitor_core::ProbeKind;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use crate::monitor_params::{JsMonitorParams, MonitorParamsCallback};
use crate::{existing_state, invalid, millis, port, state};

#[napi(string_enum = "UPPER_SNAKE")]
pub enum BlueGreenRole {
    Source,
    Target,
}

#[napi(string_enum = "UPPER_SNAKE")]
pub enum BlueGreenPhase {
    NotCreated,
    Created,
    Preparation,
    InProgress,
    Post,
    Completed,
}

#[napi(string_enum = "lowercase")]
pub enum BlueGreenEventKind {
    Status,
    Error,
}

#[napi(object)]
pub struct NativeBlueGreenConfig {
    /// "postgres" | "mysql"
    pub kind: crate::ProbeKind,
    pub role: BlueGreenRole,
    pub status_query: String,
    pub host: String,
    pub port: u32,
    pub baseline_ms: f64,
    pub increased_ms: f64,
    pub high_ms: f64,
    pub connect_timeout_ms: f64,
    pub query_timeout_ms: f64,
}

#[napi(object)]
pub struct NativeBlueGreenStatusRow {
    pub version: String,
    pub endpoint: String,
    pub port: u32,
    pub role: String,
    pub status: String,
}

#[napi(object)]
pub struct NativeBlueGreenAddresses {
    pub host: String,
    pub ips: Vec<String>,
}

#[napi(object)]
pub struct NativeBlueGreenEvent {
    pub monitor_id: u32,
    pub kind: BlueGreenEventKind,
    pub seq: f64,
    pub rows: Vec<NativeBlueGreenStatusRow>,
    pub addresses: Vec<NativeBlueGreenAddresses>,
    /// The phase of this monitor's role (status events).
    pub phase: BlueGreenPhase,
    /// Where the rows were read, or the host that failed.
    pub host: String,
    pub port: u32,
    /// Error events: "refused" | "timeout" | "auth" | "tls" | "other".
    pub error_class: Option<crate::ProbeErrorClass>,
    pub message: Option<String>,
    /// ms since the Unix epoch.
    pub at: f64,
}

/// Weak, bounded queue; snapshots are whole, so a dropped one is replaced by the next change.
#[napi]
pub type BlueGreenEventCallback = ThreadsafeFunction<NativeBlueGreenEvent, (), NativeBlueGreenEvent, Status, false, true, 256>;

fn phase_out(p: CorePhase) -> BlueGreenPhase {
    match p {
        CorePhase::NotCreated => BlueGreenPhase::NotCreated,
        CorePhase::Created => BlueGreenPhase::Created,
        CorePhase::Preparation => BlueGreenPhase::Preparation,
        CorePhase::InProgress => BlueGreenPhase::InProgress,
        CorePhase::Post => BlueGreenPhase::Post,
        CorePhase::Completed => BlueGreenPhase::Completed,
    }
}

fn phase_in(p: BlueGreenPhase) -> CorePhase {
    match p {
        BlueGreenPhase::NotCreated => CorePhase::NotCreated,
        BlueGreenPhase::Created => CorePhase::Created,
        BlueGreenPhase::Preparation => CorePhase::Preparation,
        BlueGreenPhase::InProgress => CorePhase::InProgress,
        BlueGreenPhase::Post => CorePhase::Post,
        BlueGreenPhase::Completed => CorePhase::Completed,
    }
}

struct JsSink {
    callback: BlueGreenEventCallback,
}

impl BlueGreenSink for JsSink {
    fn report(&self, monitor_id: u64, event: BlueGreenEvent) -> bool {
        let monitor_id = u32::try_from(monitor_id).unwrap_or(u32::MAX);
        let ev = match event {
            BlueGreenEvent::Status(s) => NativeBlueGreenEvent {
                monitor_id,
                kind: BlueGreenEventKind::Status,
                seq: s.seq as f64,
                rows: s
                    .rows
                    .into_iter()
                    .map(|r| NativeBlueGreenStatusRow {
                        version: r.version,
                        endpoint: r.endpoint,
                        port: u32::from(r.port),
                        role: r.role,
                        status: r.status,
                    })
                    .collect(),
                addresses: s.addresses.into_iter().map(|(host, ips)| NativeBlueGreenAddresses { host, ips }).collect(),
                phase: phase_out(s.phase),
                host: s.host.host,
                port: u32::from(s.host.port),
                error_class: None,
                message: None,
                at: s.at_ms,
            },
            BlueGreenEvent::Error { class, message, host, at_ms } => NativeBlueGreenEvent {
                monitor_id,
                kind: BlueGreenEventKind::Error,
                seq: 0.0,
                rows: Vec::new(),
                addresses: Vec::new(),
                phase: BlueGreenPhase::NotCreated,
                host: host.host,
                port: u32::from(host.port),
                error_class: Some(class.into()),
                message: Some(message),
                at: at_ms,
            },
        };
        self.callback.call(ev, ThreadsafeFunctionCallMode::NonBlocking) != Status::Closing
    }
}

/// Starts a Blue/Green status monitor; `params` is asked for connection parameters before each connection and
/// `onEvent` receives status snapshots (when rows or addresses change) and connection errors. Returns its id.
#[napi(catch_unwind)]
pub fn start_blue_green_monitor(
    env: Env,
    config: NativeBlueGreenConfig,
    params: MonitorParamsCallback,
    on_event: BlueGreenEventCallback,
) -> Result<u32> {
    let kind: ProbeKind = config.kind.into();
    if config.host.is_empty() {
        return Err(invalid("blue/green monitor: host must be a non-empty string".into()));
    }
    let core = BlueGreenConfig {
        kind,
        role: match config.role {
            BlueGreenRole::Source => CoreRole::Source,
            BlueGreenRole::Target => CoreRole::Target,
        },
        status_query: config.status_query,
        host: TopologyHost { host: config.host, port: port(config.port, "blue/green monitor")?, id: None },
        baseline: millis(config.baseline_ms, "baselineMs")?,
        increased: millis(config.increased_ms, "increasedMs")?,
        high: millis(config.high_ms, "highMs")?,
        connect_timeout: millis(config.connect_timeout_ms, "connectTimeoutMs")?,
        query_timeout: millis(config.query_timeout_ms, "queryTimeoutMs")?,
    };
    let state = state(&env)?;
    let monitor = state
        .blue_green
        .start(&state.runtime, core, Arc::new(JsMonitorParams::new(params)), Arc::new(JsSink { callback: on_event }))
        .map_err(invalid)?;
    u32::try_from(monitor.id()).map_err(|_| Error::from_reason("blue/green monitor ids exhausted"))
}

/// Tells monitor `id` the deployment's merged phase (it polls at least at that phase's rate). False when it is
/// not running.
#[napi(catch_unwind)]
pub fn set_blue_green_phase(env: Env, id: u32, phase: BlueGreenPhase) -> Result<bool> {
    Ok(match existing_state(&env)?.and_then(|s| s.blue_green.get(u64::from(id))) {
        Some(m) => {
            m.set_phase_hint(phase_in(phase));
            true
        }
        None => false,
    })
}

/// Stops Blue/Green monitor `id`; false when it is not running.
#[napi(catch_unwind)]
pub fn stop_blue_green_monitor(env: Env, id: u32) -> Result<bool> {
    Ok(existing_state(&env)?.is_some_and(|s| s.blue_green.stop(u64::from(id))))
}

/// Blue/Green monitors running in this env.
#[napi]
pub fn blue_green_monitor_count(env: Env) -> Result<u32> {
    Ok(existing_state(&env)?.map_or(0, |s| s.blue_green.len() as u32))
}
