//! N-API binding of the Aurora Limitless router monitor (monitor_core::limitless). The TypeScript adapter
//! (ts/limitless-routers.ts) owns the public API.
//!
//! Each monitor has its own connection-parameters callback (credentials, hostAddressMap, TLS, IAM) and its own
//! event callback; both are weak, so a monitor never keeps the process alive.

use std::sync::Arc;

use monitor_core::limitless::{RouterEvent, RouterMonitorConfig, RouterSink};
use monitor_core::ProbeKind;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use crate::monitor_params::{JsMonitorParams, MonitorParamsCallback};
use crate::{existing_state, invalid, millis, port, state};

#[napi(object)]
pub struct NativeRouterMonitorConfig {
    /// "postgres" (Limitless is Aurora PostgreSQL only)
    pub kind: crate::ProbeKind,
    /// The shard group endpoint.
    pub host: String,
    pub port: u32,
    pub router_query: String,
    pub interval_ms: f64,
    pub connect_timeout_ms: f64,
    pub query_timeout_ms: f64,
}

#[napi(object)]
pub struct NativeRouterEvent {
    pub monitor_id: u32,
    /// Poll answered: rows (router endpoint, load) as text; failed: the class and message.
    pub ok: bool,
    pub seq: f64,
    pub rows: Option<Vec<Vec<Option<String>>>>,
    /// "refused" | "timeout" | "auth" | "tls" | "other"
    pub error_class: Option<crate::ProbeErrorClass>,
    pub message: Option<String>,
    /// ms since the Unix epoch.
    pub at: f64,
}

/// Weak, bounded queue: a stalled loop drops events (the next poll catches up).
#[napi]
pub type RouterEventCallback = ThreadsafeFunction<NativeRouterEvent, (), NativeRouterEvent, Status, false, true, 64>;

fn to_config(c: NativeRouterMonitorConfig) -> Result<RouterMonitorConfig> {
    let kind: ProbeKind = c.kind.into();
    if c.host.is_empty() {
        return Err(invalid("router monitor: host must be a non-empty string".into()));
    }
    Ok(RouterMonitorConfig {
        kind,
        port: port(c.port, "router monitor")?,
        host: c.host,
        query: c.router_query,
        interval: millis(c.interval_ms, "intervalMs")?,
        connect_timeout: millis(c.connect_timeout_ms, "connectTimeoutMs")?,
        query_timeout: millis(c.query_timeout_ms, "queryTimeoutMs")?,
    })
}

struct JsRouterSink {
    callback: RouterEventCallback,
}

impl RouterSink for JsRouterSink {
    fn report(&self, monitor_id: u64, event: RouterEvent) -> bool {
        let monitor_id = u32::try_from(monitor_id).unwrap_or(u32::MAX);
        let ev = match event {
            RouterEvent::Routers { seq, rows, at_ms } => {
                NativeRouterEvent { monitor_id, ok: true, seq: seq as f64, rows: Some(rows), error_class: None, message: None, at: at_ms }
            }
            RouterEvent::Failed { error, at_ms } => NativeRouterEvent {
                monitor_id,
                ok: false,
                seq: 0.0,
                rows: None,
                error_class: Some(error.class.into()),
                message: Some(error.message),
                at: at_ms,
            },
        };
        // QueueFull drops this event; Closing means the env is going away: stop the monitor.
        self.callback.call(ev, ThreadsafeFunctionCallMode::NonBlocking) != Status::Closing
    }
}

/// Starts a router monitor; `params` is asked for connection parameters before each connection, `onEvent`
/// receives every poll's rows or failure. Returns the monitor's id.
#[napi(catch_unwind)]
pub fn start_router_monitor(
    env: Env,
    config: NativeRouterMonitorConfig,
    params: MonitorParamsCallback,
    on_event: RouterEventCallback,
) -> Result<u32> {
    let config = to_config(config)?;
    let state = state(&env)?;
    let monitor = state
        .limitless
        .start(&state.runtime, config, Arc::new(JsMonitorParams::new(params)), Arc::new(JsRouterSink { callback: on_event }))
        .map_err(invalid)?;
    u32::try_from(monitor.id()).map_err(|_| Error::from_reason("router monitor ids exhausted"))
}

/// Makes monitor `id` poll at once; false when it is not running.
#[napi(catch_unwind)]
pub fn wake_router_monitor(env: Env, id: u32) -> Result<bool> {
    Ok(match existing_state(&env)?.and_then(|s| s.limitless.get(u64::from(id))) {
        Some(m) => {
            m.wake();
            true
        }
        None => false,
    })
}

/// Stops router monitor `id`; false when it is not running.
#[napi(catch_unwind)]
pub fn stop_router_monitor(env: Env, id: u32) -> Result<bool> {
    Ok(existing_state(&env)?.is_some_and(|s| s.limitless.stop(u64::from(id))))
}

/// Router monitors running in this env.
#[napi]
pub fn router_monitor_count(env: Env) -> Result<u32> {
    Ok(existing_state(&env)?.map_or(0, |s| s.limitless.len() as u32))
}
