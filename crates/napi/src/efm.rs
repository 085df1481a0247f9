//! N-API binding of enhanced failure monitoring (monitor_core::efm). The TypeScript layer is
//! ts/plugins/host-monitoring-efm.ts.
//!
//! A watch is handed to JavaScript as an external ArrayBuffer over the watch's shared cells (armed-at, aborted,
//! id): JavaScript arms and disarms a call by writing to it, with no native call per query. The buffer holds a
//! reference to the watch, dropped when the buffer is garbage collected.

use std::sync::Arc;
use std::time::Duration;

use monitor_core::efm::{self, EfmEvent, EfmSink, EfmSpec, EfmVersion, WATCH_CELLS};
use monitor_core::ParamsSource;
use napi::bindgen_prelude::ArrayBuffer;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use crate::{existing_state, invalid, millis, state, to_target, JsParams, NativeTarget, ParamsCallback, ProbeErrorClass};

#[napi(object)]
pub struct NativeEfmSpec {
    pub target: NativeTarget,
    /// 1 (host_monitoring) or 2 (host_monitoring_v2).
    pub version: u32,
    /// failure_detection_time; 0 monitors a call from its start.
    pub grace_ms: f64,
    pub interval_ms: f64,
    pub count: u32,
    pub connect_timeout_ms: f64,
    pub query_timeout_ms: f64,
}

/// An EFM monitor's verdict.
#[napi(string_enum = "kebab-case")]
pub enum EfmEventKind {
    /// The host stopped answering: declared dead now.
    Dead,
    /// More calls aborted while the host is dead (or, version 1, per call).
    Aborted,
    /// The host answers again.
    Alive,
}

impl From<efm::EfmEventKind> for EfmEventKind {
    fn from(k: efm::EfmEventKind) -> Self {
        match k {
            efm::EfmEventKind::Dead => Self::Dead,
            efm::EfmEventKind::Aborted => Self::Aborted,
            efm::EfmEventKind::Alive => Self::Alive,
        }
    }
}

#[napi(object)]
pub struct NativeEfmEvent {
    pub monitor_id: u32,
    pub kind: EfmEventKind,
    pub host: String,
    pub port: u32,
    /// Ids of the watches whose calls were aborted.
    pub aborted: Vec<u32>,
    pub error_class: Option<ProbeErrorClass>,
    pub message: Option<String>,
    /// How long the host had not answered (dead / aborted) or had been dead (alive).
    pub silent_for_ms: f64,
    /// Time of the verdict, ms since the Unix epoch.
    pub at: f64,
}

#[napi(object)]
pub struct NativeEfmStats {
    pub watches: u32,
    pub armed: u32,
    pub probes: f64,
    pub connects: f64,
    pub aborted: f64,
    pub dead_declarations: f64,
    pub dead: bool,
}

/// Receives an EFM monitor's verdicts. Weak (never keeps the process alive) and unbounded: events are rare (state
/// changes) and must not be dropped.
#[napi]
pub type EfmEventCallback = ThreadsafeFunction<NativeEfmEvent, (), NativeEfmEvent, Status, false, true, 0>;

struct JsEfmSink {
    callback: EfmEventCallback,
}

impl EfmSink for JsEfmSink {
    fn report(&self, ev: EfmEvent) -> bool {
        let event = NativeEfmEvent {
            monitor_id: u32::try_from(ev.monitor_id).unwrap_or(u32::MAX),
            kind: ev.kind.into(),
            host: ev.target.host,
            port: u32::from(ev.target.port),
            aborted: ev.aborted.into_iter().map(|id| u32::try_from(id).unwrap_or(u32::MAX)).collect(),
            error_class: ev.error.as_ref().map(|e| e.class.into()),
            message: ev.error.map(|e| e.message),
            silent_for_ms: ev.silent_for.as_secs_f64() * 1000.0,
            at: ev.at_ms,
        };
        self.callback.call(event, ThreadsafeFunctionCallMode::NonBlocking) != Status::Closing
    }
}

fn grace(ms: f64) -> Result<Duration> {
    if ms == 0.0 {
        Ok(Duration::ZERO)
    } else {
        millis(ms, "graceMs")
    }
}

/// Starts an EFM monitor; `onEvent` receives its verdicts, `provider` (else the env's provider) its connection
/// parameters each time it opens its probe connection. Returns the monitor's id.
#[napi(catch_unwind)]
pub fn efm_start(env: Env, spec: NativeEfmSpec, on_event: EfmEventCallback, provider: Option<ParamsCallback>) -> Result<u32> {
    let version = match spec.version {
        1 => EfmVersion::V1,
        2 => EfmVersion::V2,
        v => return Err(invalid(format!("version: expected 1 or 2, got {v}"))),
    };
    if spec.count == 0 {
        return Err(invalid("count: expected an integer >= 1, got 0".into()));
    }
    let spec = EfmSpec {
        target: to_target(spec.target)?,
        version,
        grace: grace(spec.grace_ms)?,
        interval: millis(spec.interval_ms, "intervalMs")?,
        count: spec.count,
        connect_timeout: millis(spec.connect_timeout_ms, "connectTimeoutMs")?,
        query_timeout: millis(spec.query_timeout_ms, "queryTimeoutMs")?,
    };
    let state = state(&env)?;
    let params: Arc<dyn ParamsSource> = match provider {
        Some(callback) => Arc::new(JsParams { callback: Arc::new(callback) }),
        None => state.params_source(),
    };
    let id = state
        .efm
        .start(&state.runtime, spec, params, Arc::new(JsEfmSink { callback: on_event }))
        .map_err(|e| Error::from_reason(format!("cannot start the native runtime: {e}")))?;
    u32::try_from(id).map_err(|_| Error::from_reason("monitor ids exhausted"))
}

/// Stops an EFM monitor; false when it is not running.
#[napi(catch_unwind)]
pub fn efm_stop(env: Env, id: u32) -> Result<bool> {
    Ok(existing_state(&env)?.is_some_and(|s| s.efm.stop(u64::from(id))))
}

/// Registers a connection (socket `fd`, or -1 for none) with monitor `id`. `nowMs` is the caller's
/// `performance.now()`. Returns the watch's shared cells as an ArrayBuffer (Float64: armed-at, aborted, id), or
/// null when the monitor is not running.
#[napi(catch_unwind)]
pub fn efm_watch(env: Env, id: u32, fd: i64, now_ms: f64) -> Result<Option<ArrayBuffer<'static>>> {
    let Some(state) = existing_state(&env)? else { return Ok(None) };
    let fd = (fd >= 0).then_some(fd);
    let Some(watch) = state.efm.watch(u64::from(id), fd, now_ms) else { return Ok(None) };
    let ptr = watch.cells_ptr();
    let len = WATCH_CELLS * 8;
    // SAFETY: the cells live inside the Arc'd watch, which the buffer keeps alive until its finalizer runs.
    let buffer = unsafe { ArrayBuffer::from_external(&env, ptr, len, Arc::clone(&watch), |_, w| drop(w)) };
    let buffer = match buffer {
        Ok(b) if b.as_ptr() == ptr.cast_const() => b,
        other => {
            state.efm.unwatch(u64::from(id), watch.id);
            let why = match other {
                Ok(_) => "this JavaScript runtime copies external buffers".to_string(),
                Err(e) => e.reason,
            };
            return Err(Error::new(Status::GenericFailure, format!("efmWatch: cannot share memory with JavaScript: {why}")));
        }
    };
    // SAFETY: the buffer is a JS value of this env, valid for this call; napi-rs returns it to JS as is.
    Ok(Some(unsafe { std::mem::transmute::<ArrayBuffer<'_>, ArrayBuffer<'static>>(buffer) }))
}

/// Unregisters a connection; false when it was not registered with monitor `id`.
#[napi(catch_unwind)]
pub fn efm_unwatch(env: Env, id: u32, watch_id: u32) -> Result<bool> {
    Ok(existing_state(&env)?.is_some_and(|s| s.efm.unwatch(u64::from(id), u64::from(watch_id))))
}

/// Wakes monitor `id` to look at its armed calls now (used when the grace time is shorter than its poll period).
#[napi(catch_unwind)]
pub fn efm_nudge(env: Env, id: u32) -> Result<bool> {
    Ok(existing_state(&env)?.is_some_and(|s| s.efm.nudge(u64::from(id))))
}

/// Counters of monitor `id`, or null when it is not running.
#[napi(catch_unwind)]
pub fn efm_stats(env: Env, id: u32) -> Result<Option<NativeEfmStats>> {
    Ok(existing_state(&env)?.and_then(|s| s.efm.stats(u64::from(id))).map(|st| NativeEfmStats {
        watches: u32::try_from(st.watches).unwrap_or(u32::MAX),
        armed: u32::try_from(st.armed).unwrap_or(u32::MAX),
        probes: st.probes as f64,
        connects: st.connects as f64,
        aborted: st.aborted as f64,
        dead_declarations: st.dead_declarations as f64,
        dead: st.dead,
    }))
}

/// Number of EFM monitors running in this env.
#[napi]
pub fn efm_monitor_count(env: Env) -> Result<u32> {
    Ok(existing_state(&env)?.map_or(0, |s| s.efm.len() as u32))
}
