//! Periodic probe monitors and the hooks they use: a source of connection parameters (asked each time a
//! connection is opened, so rotating credentials and address maps apply) and a sink for results.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::probe::{ProbeError, ProbeOutcome, ProbeSession, Step, StepTracker};
use crate::runtime::NativeRuntime;
use crate::target::{ProbeTarget, TargetAddress};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Why parameters are being asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamsPurpose {
    Probe,
    Monitor(u64),
}

/// Resolves the connection parameters of a target (credentials, the real address, TLS settings).
pub trait ParamsSource: Send + Sync + 'static {
    /// `base` holds what the caller gave (at least kind, host, port); the answer replaces it.
    fn resolve(&self, base: &ProbeTarget, purpose: ParamsPurpose) -> BoxFuture<Result<ProbeTarget, ProbeError>>;
}

/// Uses the target as given.
pub struct GivenParams;

impl ParamsSource for GivenParams {
    fn resolve(&self, base: &ProbeTarget, _purpose: ParamsPurpose) -> BoxFuture<Result<ProbeTarget, ProbeError>> {
        let t = base.clone();
        Box::pin(async move { Ok(t) })
    }
}

/// One tick of a monitor.
#[derive(Clone, Debug)]
pub struct MonitorEvent {
    pub monitor_id: u64,
    /// 1 for the first tick.
    pub seq: u64,
    pub target: TargetAddress,
    pub outcome: ProbeOutcome,
    /// Wall-clock time of the end of the tick, in ms since the Unix epoch.
    pub at_ms: f64,
    /// Registered sockets this tick shut down (see [`MonitorRegistry::set_abort_sockets`]).
    pub aborted_sockets: u32,
}

/// Receives monitor events. Runs on a runtime thread: must not block.
pub trait MonitorSink: Send + Sync + 'static {
    /// Returns false when the receiver is gone for good; the monitor then stops.
    fn report(&self, event: MonitorEvent) -> bool;
}

/// How a monitor probes.
#[derive(Clone, Debug)]
pub struct MonitorSpec {
    pub target: ProbeTarget,
    /// Time between the starts of two ticks.
    pub interval: Duration,
    /// Deadline of one tick (parameters + connect + `SELECT 1`).
    pub timeout: Duration,
    /// Keep the probe connection open between ticks (reconnect after a failure) instead of reconnecting each tick.
    pub keep_connection: bool,
}

/// Sockets to shut down natively once a monitor has seen `after_failures` failures in a row.
#[derive(Default)]
struct AbortPlan {
    fds: Vec<i64>,
    after_failures: u32,
}

struct Running {
    stop: CancellationToken,
    abort: Arc<Mutex<AbortPlan>>,
}

/// Running monitors of one runtime, by id.
#[derive(Default)]
pub struct MonitorRegistry {
    next_id: AtomicU64,
    running: Mutex<HashMap<u64, Running>>,
}

impl MonitorRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a monitor on `runtime` (starting the runtime if needed) and returns its id.
    pub fn start(
        self: &Arc<Self>,
        runtime: &NativeRuntime,
        spec: MonitorSpec,
        params: Arc<dyn ParamsSource>,
        sink: Arc<dyn MonitorSink>,
    ) -> std::io::Result<u64> {
        let ctx = runtime.context()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let token = ctx.cancel.child_token();
        let abort = Arc::new(Mutex::new(AbortPlan::default()));
        self.lock().insert(id, Running { stop: token.clone(), abort: Arc::clone(&abort) });
        let registry = Arc::clone(self);
        ctx.handle.spawn(async move {
            // Also runs when the runtime drops the task on shutdown.
            let _unregister = Unregister { registry, id };
            run_monitor(id, spec, params, sink, token, abort).await;
        });
        Ok(id)
    }

    /// Stops a monitor; false when no such monitor runs.
    pub fn stop(&self, id: u64) -> bool {
        match self.lock().remove(&id) {
            Some(running) => {
                running.stop.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops every monitor (the runtime's shutdown does this too).
    pub fn stop_all(&self) {
        for (_, running) in self.lock().drain() {
            running.stop.cancel();
        }
    }

    /// Registers the sockets (fds) that monitor `id` shuts down from its own thread once it has seen
    /// `after_failures` (at least 1) failed probes in a row: the abort lands even while the JS event loop is
    /// blocked. Replaces any earlier list; the sockets are shut down once, then forgotten. An empty list clears
    /// it. The caller must re-register when one of the sockets closes (its fd number gets reused). False when
    /// the monitor is not running.
    pub fn set_abort_sockets(&self, id: u64, fds: Vec<i64>, after_failures: u32) -> bool {
        match self.lock().get(&id) {
            Some(running) => {
                let mut plan = running.abort.lock().unwrap_or_else(|e| e.into_inner());
                plan.fds = fds;
                plan.after_failures = after_failures.max(1);
                true
            }
            None => false,
        }
    }

    /// Number of monitors still running.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Unregister {
    registry: Arc<MonitorRegistry>,
    id: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// One tick: reuse the open session or open one (asking for parameters first), then `SELECT 1`.
async fn tick(
    id: u64,
    spec: &MonitorSpec,
    params: &dyn ParamsSource,
    session: &mut Option<(ProbeSession, ProbeTarget)>,
) -> Result<(), ProbeError> {
    let steps = StepTracker::default();
    let work = async {
        if session.is_none() {
            steps.set(Step::Params);
            let target = params.resolve(&spec.target, ParamsPurpose::Monitor(id)).await?;
            steps.set(Step::Connect);
            let s = ProbeSession::connect(&target).await?;
            *session = Some((s, target));
        }
        steps.set(Step::Query);
        let (s, target) = session.as_mut().expect("session opened above");
        s.ping(&target.params).await
    };
    let res = match tokio::time::timeout(spec.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(steps.timeout_error(spec.timeout)),
    };
    if res.is_err() || !spec.keep_connection {
        if let Some((s, _)) = session.take() {
            s.close();
        }
    }
    res
}

async fn run_monitor(
    id: u64,
    spec: MonitorSpec,
    params: Arc<dyn ParamsSource>,
    sink: Arc<dyn MonitorSink>,
    stop: CancellationToken,
    abort: Arc<Mutex<AbortPlan>>,
) {
    let mut session: Option<(ProbeSession, ProbeTarget)> = None;
    let address = spec.target.address();
    let mut seq = 0u64;
    let mut failures_in_row = 0u32;
    loop {
        let started = Instant::now();
        let res = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            r = tick(id, &spec, params.as_ref(), &mut session) => r,
        };
        seq += 1;
        failures_in_row = if res.is_err() { failures_in_row.saturating_add(1) } else { 0 };
        let aborted_sockets = if failures_in_row > 0 { abort_sockets(&abort, failures_in_row) } else { 0 };
        let event = MonitorEvent {
            monitor_id: id,
            seq,
            target: address.clone(),
            outcome: ProbeOutcome { error: res.err(), elapsed: started.elapsed() },
            at_ms: now_ms(),
            aborted_sockets,
        };
        if !sink.report(event) {
            break;
        }
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until((started + spec.interval).into()) => {}
        }
    }
    if let Some((s, _)) = session.take() {
        s.close();
    }
}

/// Shuts down the registered sockets once the failure threshold is reached; returns how many were shut down.
fn abort_sockets(abort: &Mutex<AbortPlan>, failures_in_row: u32) -> u32 {
    let fds = {
        let mut plan = abort.lock().unwrap_or_else(|e| e.into_inner());
        if plan.fds.is_empty() || failures_in_row < plan.after_failures {
            return 0;
        }
        std::mem::take(&mut plan.fds)
    };
    // A socket that closed meanwhile (not a socket any more, or gone) is simply skipped.
    fds.into_iter().filter(|fd| crate::sockets::shutdown_socket(*fd).is_ok()).count() as u32
}

/// One probe with parameters resolved through `params`, all within `deadline`.
pub async fn probe_with_params(base: &ProbeTarget, params: &dyn ParamsSource, deadline: Duration) -> ProbeOutcome {
    let started = Instant::now();
    let steps = StepTracker::default();
    let work = async {
        steps.set(Step::Params);
        let target = params.resolve(base, ParamsPurpose::Probe).await?;
        steps.set(Step::Connect);
        let mut s = ProbeSession::connect(&target).await?;
        steps.set(Step::Query);
        let res = s.ping(&target.params).await;
        s.close();
        res
    };
    let error = match tokio::time::timeout(deadline, work).await {
        Ok(r) => r.err(),
        Err(_) => Some(steps.timeout_error(deadline)),
    };
    ProbeOutcome { error, elapsed: started.elapsed() }
}
