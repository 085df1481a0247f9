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

/// Running monitors of one runtime, by id.
#[derive(Default)]
pub struct MonitorRegistry {
    next_id: AtomicU64,
    running: Mutex<HashMap<u64, CancellationToken>>,
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
        self.lock().insert(id, token.clone());
        let registry = Arc::clone(self);
        ctx.handle.spawn(async move {
            // Also runs when the runtime drops the task on shutdown.
            let _unregister = Unregister { registry, id };
            run_monitor(id, spec, params, sink, token).await;
        });
        Ok(id)
    }

    /// Stops a monitor; false when no such monitor runs.
    pub fn stop(&self, id: u64) -> bool {
        match self.lock().remove(&id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Stops every monitor (the runtime's shutdown does this too).
    pub fn stop_all(&self) {
        for (_, token) in self.lock().drain() {
            token.cancel();
        }
    }

    /// Number of monitors still running.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, CancellationToken>> {
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
) {
    let mut session: Option<(ProbeSession, ProbeTarget)> = None;
    let address = spec.target.address();
    let mut seq = 0u64;
    loop {
        let started = Instant::now();
        let res = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            r = tick(id, &spec, params.as_ref(), &mut session) => r,
        };
        seq += 1;
        let event = MonitorEvent {
            monitor_id: id,
            seq,
            target: address.clone(),
            outcome: ProbeOutcome { error: res.err(), elapsed: started.elapsed() },
            at_ms: now_ms(),
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

/// One probe with parameters resolved through `params`, all within `deadline`.
pub async fn probe_with_params(
    base: &ProbeTarget,
    params: &dyn ParamsSource,
    deadline: Duration,
) -> ProbeOutcome {
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
