//! Thin N-API binding over `monitor-core`: JavaScript-facing types (`#[napi(object)]`, `#[napi(string_enum)]`)
//! and their conversions to the core's. `npm run build:native` generates their TypeScript declarations into
//! native/binding.d.ts; ts/native/binding.d.ts is the committed copy the TypeScript layer is typed from.
//!
//! Per-env state (runtime, monitors, parameters provider) lives in the env's instance data, so a worker
//! thread's env has its own and tears it down in its own cleanup hook. Nothing here keeps the event loop
//! alive except an in-flight `probe` (its one-shot callback), which is bounded by its deadline.

// `#[napi]` registers an export only under `not(test)`: the test build (`clippy --all-targets`) sees them unused.
#![cfg_attr(test, allow(dead_code))]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use monitor_core::{
    probe_with_params, BoxFuture, ConnectParams, ErrorClass, MonitorEvent, MonitorRegistry, MonitorSink, MonitorSpec, NativeRuntime,
    ParamsSource, ProbeError, ProbeOutcome, ProbeTarget,
};
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

mod blue_green;
mod efm;
mod limitless;
mod monitor_params;
mod topology;

/// Bound of the shutdown run by the env cleanup hook (natural exit, worker exit).
const CLEANUP_SHUTDOWN: Duration = Duration::from_secs(2);

/// The protocol a probe speaks: a TCP connect, or connect + authenticate + `SELECT 1`.
#[napi(string_enum = "kebab-case")]
pub enum ProbeKind {
    Tcp,
    Postgres,
    Mysql,
}

impl From<ProbeKind> for monitor_core::ProbeKind {
    fn from(k: ProbeKind) -> Self {
        match k {
            ProbeKind::Tcp => Self::Tcp,
            ProbeKind::Postgres => Self::Postgres,
            ProbeKind::Mysql => Self::Mysql,
        }
    }
}

impl From<monitor_core::ProbeKind> for ProbeKind {
    fn from(k: monitor_core::ProbeKind) -> Self {
        match k {
            monitor_core::ProbeKind::Tcp => Self::Tcp,
            monitor_core::ProbeKind::Postgres => Self::Postgres,
            monitor_core::ProbeKind::Mysql => Self::Mysql,
        }
    }
}

/// TLS policy, named like libpq's `sslmode`: `prefer` / `require` encrypt without checking the certificate,
/// `verify-full` checks chain and name.
#[napi(string_enum = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}

impl From<SslMode> for monitor_core::SslMode {
    fn from(m: SslMode) -> Self {
        match m {
            SslMode::Disable => Self::Disable,
            SslMode::Prefer => Self::Prefer,
            SslMode::Require => Self::Require,
            SslMode::VerifyFull => Self::VerifyFull,
        }
    }
}

/// Why a probe failed.
#[napi(string_enum = "kebab-case")]
pub enum ProbeErrorClass {
    /// Nothing listens on the port.
    Refused,
    /// A step (or the parameters provider) did not finish within the deadline.
    Timeout,
    /// The server rejected the credentials.
    Auth,
    /// TLS handshake or certificate check failed, or the server offers no TLS.
    Tls,
    /// Anything else (DNS, reset, protocol errors, provider errors).
    Other,
}

impl From<ErrorClass> for ProbeErrorClass {
    fn from(c: ErrorClass) -> Self {
        match c {
            ErrorClass::Refused => Self::Refused,
            ErrorClass::Timeout => Self::Timeout,
            ErrorClass::Auth => Self::Auth,
            ErrorClass::Tls => Self::Tls,
            ErrorClass::Other => Self::Other,
        }
    }
}

/// Why the parameters provider is asked: a one-shot probe, or a monitor opening its connection.
#[napi(string_enum = "kebab-case")]
pub enum ParamsPurpose {
    Probe,
    Monitor,
}

/// A host to probe, with optional inline connection parameters (a parameters provider may replace them).
#[napi(object)]
pub struct NativeTarget {
    pub kind: ProbeKind,
    pub host: String,
    pub port: u32,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    /// Default `disable`.
    pub ssl: Option<SslMode>,
    /// Extra trusted CA certificates (PEM) for verify-full.
    pub ca: Option<String>,
    /// TLS server name when it differs from `host`.
    pub server_name: Option<String>,
}

/// What the parameters provider is asked.
#[napi(object)]
pub struct NativeParamsRequest {
    pub kind: ProbeKind,
    pub host: String,
    pub port: u32,
    pub purpose: ParamsPurpose,
    /// The asking monitor (purpose `monitor`).
    pub monitor_id: Option<u32>,
}

/// What the parameters provider answers; absent fields keep the target's values.
#[napi(object)]
pub struct NativeParams {
    pub host: Option<String>,
    pub port: Option<u32>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    pub ssl: Option<SslMode>,
    pub ca: Option<String>,
    pub server_name: Option<String>,
}

#[napi(object)]
pub struct NativeProbeResult {
    pub ok: bool,
    pub error_class: Option<ProbeErrorClass>,
    pub message: Option<String>,
    pub elapsed_ms: f64,
    /// The probe was dropped by a shutdown before it finished.
    pub cancelled: bool,
}

#[napi(object)]
pub struct NativeMonitorEvent {
    pub monitor_id: u32,
    /// 1 for the first tick.
    pub seq: f64,
    pub kind: ProbeKind,
    pub host: String,
    pub port: u32,
    pub ok: bool,
    pub error_class: Option<ProbeErrorClass>,
    pub message: Option<String>,
    pub elapsed_ms: f64,
    /// End of the tick, ms since the Unix epoch.
    pub at: f64,
    /// Registered sockets this tick shut down.
    pub aborted_sockets: u32,
}

/// Receives a probe's result once.
#[napi]
pub type ProbeCallback = ThreadsafeFunction<NativeProbeResult, (), NativeProbeResult, Status, false>;
/// Receives a probe monitor's events. Weak: monitor events never keep the process alive. Bounded queue: a stalled
/// loop drops events, not memory.
#[napi]
pub type EventCallback = ThreadsafeFunction<NativeMonitorEvent, (), NativeMonitorEvent, Status, false, true, 256>;
/// Answers requests for connection parameters. Weak as well: a provider that is never answered (loop gone) only
/// makes the probe time out.
#[napi]
pub type ParamsCallback = ThreadsafeFunction<NativeParamsRequest, Promise<NativeParams>, NativeParamsRequest, Status, false, true>;

/// Everything the addon owns in one env.
struct EnvState {
    runtime: NativeRuntime,
    monitors: Arc<MonitorRegistry>,
    provider: Mutex<Option<Arc<JsParams>>>,
    topology: Arc<monitor_core::topology::TopologyRegistry>,
    /// Enhanced failure monitoring monitors (efm.rs).
    efm: Arc<monitor_core::efm::EfmRegistry>,
    /// Aurora Limitless router monitors (limitless.rs).
    limitless: Arc<monitor_core::limitless::RouterMonitorRegistry>,
    /// Blue/Green status monitors (blue_green.rs).
    blue_green: Arc<monitor_core::blue_green::BlueGreenRegistry>,
}

impl EnvState {
    /// Stops every monitor and task and joins the threads. The provider stays registered: it holds no loop
    /// reference, and a later probe restarts the runtime and still needs it.
    fn shutdown(&self, timeout: Duration) -> bool {
        self.monitors.stop_all();
        self.topology.stop_all();
        self.efm.stop_all();
        self.limitless.stop_all();
        self.blue_green.stop_all();
        self.runtime.shutdown(timeout)
    }

    fn params_source(&self) -> Arc<dyn ParamsSource> {
        match self.provider.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(p) => p.clone(),
            None => Arc::new(monitor_core::GivenParams),
        }
    }
}

/// This env's state, created on first use together with its cleanup hook.
fn state(env: &Env) -> Result<Arc<EnvState>> {
    if let Some(s) = env.get_instance_data::<Arc<EnvState>>()? {
        return Ok(s.clone());
    }
    let s = Arc::new(EnvState {
        runtime: NativeRuntime::new("awsw-native"),
        monitors: Arc::new(MonitorRegistry::new()),
        provider: Mutex::new(None),
        topology: Default::default(),
        efm: Default::default(),
        limitless: Default::default(),
        blue_green: Default::default(),
    });
    env.set_instance_data(s.clone(), (), |_| {})?;
    // Runs on natural exit and worker exit (not on process.exit(): the TS layer handles that with an 'exit' hook).
    env.add_env_cleanup_hook(s.clone(), |s| {
        s.shutdown(CLEANUP_SHUTDOWN);
        // The env is going away: release the provider's TSFN after the tasks that could use it are gone.
        s.provider.lock().unwrap_or_else(|e| e.into_inner()).take();
    })?;
    Ok(s)
}

/// This env's state if it exists; never creates it.
fn existing_state(env: &Env) -> Result<Option<Arc<EnvState>>> {
    Ok(env.get_instance_data::<Arc<EnvState>>()?.map(|s| s.clone()))
}

fn invalid(msg: String) -> Error {
    Error::new(Status::InvalidArg, msg)
}

fn port(p: u32, what: &str) -> Result<u16> {
    match u16::try_from(p) {
        Ok(v) if v != 0 => Ok(v),
        _ => Err(invalid(format!("{what}: port must be 1..65535, got {p}"))),
    }
}

fn to_target(t: NativeTarget) -> Result<ProbeTarget> {
    if t.host.is_empty() {
        return Err(invalid("target: host must be a non-empty string".into()));
    }
    Ok(ProbeTarget {
        kind: t.kind.into(),
        params: ConnectParams {
            port: port(t.port, "target")?,
            host: t.host,
            user: t.user,
            password: t.password,
            database: t.database,
            ssl: t.ssl.map(Into::into).unwrap_or_default(),
            ca_pem: t.ca,
            server_name: t.server_name,
        },
    })
}

fn millis(ms: f64, what: &str) -> Result<Duration> {
    if ms.is_finite() && ms > 0.0 && ms <= 86_400_000.0 {
        Ok(Duration::from_secs_f64(ms / 1000.0))
    } else {
        Err(invalid(format!("{what}: expected a number of milliseconds in (0, 86400000], got {ms}")))
    }
}

fn outcome_fields(o: &ProbeOutcome) -> (bool, Option<ProbeErrorClass>, Option<String>, f64) {
    (o.is_ok(), o.error.as_ref().map(|e| e.class.into()), o.error.as_ref().map(|e| e.message.clone()), o.elapsed.as_secs_f64() * 1000.0)
}

/// Asks JS for connection parameters through a weak TSFN. The caller's deadline bounds the wait.
struct JsParams {
    callback: Arc<ParamsCallback>,
}

impl ParamsSource for JsParams {
    fn resolve(&self, base: &ProbeTarget, purpose: monitor_core::ParamsPurpose) -> BoxFuture<std::result::Result<ProbeTarget, ProbeError>> {
        let request = NativeParamsRequest {
            kind: base.kind.into(),
            host: base.params.host.clone(),
            port: u32::from(base.params.port),
            purpose: match purpose {
                monitor_core::ParamsPurpose::Probe => ParamsPurpose::Probe,
                monitor_core::ParamsPurpose::Monitor(_) => ParamsPurpose::Monitor,
            },
            monitor_id: match purpose {
                monitor_core::ParamsPurpose::Monitor(id) => u32::try_from(id).ok(),
                monitor_core::ParamsPurpose::Probe => None,
            },
        };
        let callback = self.callback.clone();
        let base = base.clone();
        Box::pin(async move {
            let provider_failed =
                |e: Error| ProbeError::new(ErrorClass::Other, format!("connection parameters provider failed: {}", e.reason));
            let promise = callback.call_async_catch(request).await.map_err(provider_failed)?;
            let answer = promise.await.map_err(provider_failed)?;
            merge_params(base, answer)
        })
    }
}

fn merge_params(mut t: ProbeTarget, a: NativeParams) -> std::result::Result<ProbeTarget, ProbeError> {
    let bad = |m: String| ProbeError::new(ErrorClass::Other, format!("connection parameters provider: {m}"));
    let p = &mut t.params;
    if let Some(h) = a.host.filter(|h| !h.is_empty()) {
        p.host = h;
    }
    if let Some(port) = a.port {
        p.port = u16::try_from(port).ok().filter(|v| *v != 0).ok_or_else(|| bad(format!("port must be 1..65535, got {port}")))?;
    }
    if a.user.is_some() {
        p.user = a.user;
    }
    if a.password.is_some() {
        p.password = a.password;
    }
    if a.database.is_some() {
        p.database = a.database;
    }
    if let Some(s) = a.ssl {
        p.ssl = s.into();
    }
    if a.ca.is_some() {
        p.ca_pem = a.ca;
    }
    if a.server_name.is_some() {
        p.server_name = a.server_name;
    }
    Ok(t)
}

/// Delivers a probe's result exactly once, also when the task is dropped by a shutdown (so the JS promise
/// always settles and the callback's loop reference is released).
struct ProbeReply(Option<ProbeCallback>);

impl ProbeReply {
    fn send(mut self, result: NativeProbeResult) {
        if let Some(cb) = self.0.take() {
            cb.call(result, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

impl Drop for ProbeReply {
    fn drop(&mut self) {
        if let Some(cb) = self.0.take() {
            let cancelled = NativeProbeResult {
                ok: false,
                error_class: None,
                message: Some("probe cancelled: the addon's native resources were released".into()),
                elapsed_ms: 0.0,
                cancelled: true,
            };
            cb.call(cancelled, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// Probes `target` within `timeoutMs` (parameters provider wait included) and calls `done` once with the result.
#[napi(catch_unwind)]
pub fn probe(env: Env, target: NativeTarget, timeout_ms: f64, done: ProbeCallback) -> Result<()> {
    let target = to_target(target)?;
    let deadline = millis(timeout_ms, "timeoutMs")?;
    let state = state(&env)?;
    let params = state.params_source();
    let reply = ProbeReply(Some(done));
    state
        .runtime
        .spawn(async move {
            let outcome = probe_with_params(&target, params.as_ref(), deadline).await;
            let (ok, error_class, message, elapsed_ms) = outcome_fields(&outcome);
            reply.send(NativeProbeResult { ok, error_class, message, elapsed_ms, cancelled: false });
        })
        .map_err(|e| Error::from_reason(format!("cannot start the native runtime: {e}")))?;
    Ok(())
}

struct JsSink {
    callback: EventCallback,
}

impl MonitorSink for JsSink {
    fn report(&self, ev: MonitorEvent) -> bool {
        let (ok, error_class, message, elapsed_ms) = outcome_fields(&ev.outcome);
        let event = NativeMonitorEvent {
            monitor_id: u32::try_from(ev.monitor_id).unwrap_or(u32::MAX),
            seq: ev.seq as f64,
            kind: ev.target.kind.into(),
            host: ev.target.host,
            port: u32::from(ev.target.port),
            ok,
            error_class,
            message,
            elapsed_ms,
            at: ev.at_ms,
            aborted_sockets: ev.aborted_sockets,
        };
        // QueueFull (JS is behind) drops this tick; Closing means the env is going away: stop the monitor.
        self.callback.call(event, ThreadsafeFunctionCallMode::NonBlocking) != Status::Closing
    }
}

/// Starts a periodic probe monitor; events go to `onEvent` (never keeps the process alive). Returns its id.
#[napi(catch_unwind)]
pub fn start_monitor(
    env: Env,
    target: NativeTarget,
    interval_ms: f64,
    timeout_ms: f64,
    keep_connection: bool,
    on_event: EventCallback,
) -> Result<u32> {
    let spec = MonitorSpec {
        target: to_target(target)?,
        interval: millis(interval_ms, "intervalMs")?,
        timeout: millis(timeout_ms, "timeoutMs")?,
        keep_connection,
    };
    let state = state(&env)?;
    let id = state
        .monitors
        .start(&state.runtime, spec, state.params_source(), Arc::new(JsSink { callback: on_event }))
        .map_err(|e| Error::from_reason(format!("cannot start the native runtime: {e}")))?;
    u32::try_from(id).map_err(|_| Error::from_reason("monitor ids exhausted"))
}

/// Stops a monitor; false when it is not running.
#[napi(catch_unwind)]
pub fn stop_monitor(env: Env, id: u32) -> Result<bool> {
    Ok(existing_state(&env)?.is_some_and(|s| s.monitors.stop(u64::from(id))))
}

/// Registers sockets (fds) that monitor `id` shuts down from its own thread after `afterFailures` failed probes
/// in a row (see MonitorRegistry::set_abort_sockets). False when the monitor is not running.
#[napi(catch_unwind)]
pub fn set_monitor_abort_sockets(env: Env, id: u32, fds: Vec<i64>, after_failures: u32) -> Result<bool> {
    Ok(existing_state(&env)?.is_some_and(|s| s.monitors.set_abort_sockets(u64::from(id), fds, after_failures)))
}

/// Shuts down the socket `fd` now (both directions, not closed). Throws when `fd` is not an open socket.
#[napi(catch_unwind)]
pub fn shutdown_socket(fd: i64) -> Result<()> {
    monitor_core::sockets::shutdown_socket(fd).map_err(|e| Error::from_reason(format!("shutdownSocket({fd}): {e}")))
}

/// Number of monitors running in this env.
#[napi]
pub fn monitor_count(env: Env) -> Result<u32> {
    Ok(existing_state(&env)?.map_or(0, |s| s.monitors.len() as u32))
}

/// Sets (or with `null` clears) the function native code asks for connection parameters. It must return a
/// Promise; it is asked before every probe and whenever a monitor opens a connection.
#[napi(catch_unwind)]
pub fn set_params_provider(env: Env, provider: Option<ParamsCallback>) -> Result<()> {
    let state = state(&env)?;
    *state.provider.lock().unwrap_or_else(|e| e.into_inner()) =
        provider.map(|callback| Arc::new(JsParams { callback: Arc::new(callback) }));
    Ok(())
}

/// Threads the addon currently owns in this env (0 when nothing runs).
#[napi]
pub fn native_thread_count(env: Env) -> Result<u32> {
    Ok(existing_state(&env)?.map_or(0, |s| s.runtime.thread_count() as u32))
}

/// Stops all native work of this env and joins its threads within `timeoutMs`; true when all ended in time.
/// Synchronous, idempotent, safe when nothing ever started. A later call that needs the runtime restarts it.
#[napi(catch_unwind)]
pub fn shutdown(env: Env, timeout_ms: f64) -> Result<bool> {
    let timeout = millis(timeout_ms, "timeoutMs")?;
    Ok(existing_state(&env)?.is_none_or(|s| s.shutdown(timeout)))
}

/// Version of the native addon, to detect a stale binary.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
