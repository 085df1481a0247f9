//! Enhanced failure monitoring (EFM): one monitor per (host, detection parameters), shared by every connection to
//! that host. The detection decision and the abort both happen on the runtime's threads, so they are on time even
//! while the JavaScript event loop is blocked.
//!
//! A connection is registered once as a [`Watch`]: its socket fd plus two cells of memory shared with JavaScript.
//! JavaScript *arms* a watch by writing the start time of a call into cell 0 (its own monotonic clock,
//! `performance.now()`) and disarms it by writing 0 — no native call per query. Native code marks an aborted watch
//! in cell 1. The monitor polls the armed times (and wakes at every deadline it can compute).
//!
//! Detection (the seed's "monitoring context"): an armed call becomes *active* `grace` after it started. While any
//! call is active (or the host is considered dead) the monitor probes the host every `interval` over its own
//! connection (kept open between probes; connect, TLS, auth and `SELECT 1` each deadline-bounded). The host is
//! declared dead once it has not answered for `interval × count`, counted from the later of its last answer and the
//! start of monitoring — so the bound holds whatever the phase of the outage against the probe schedule, and a host
//! that is already dead when monitoring starts is declared dead `interval × count` after that.
//! - v2 (`host_monitoring_v2`): the verdict is per host: when the host is declared dead every active call is
//!   aborted, and a call that becomes active while the host is still dead is aborted at once.
//! - v1 (`host_monitoring`): the verdict is per call: a call is aborted once the host has not answered for
//!   `interval × count` counted from the later of its last answer and the moment that call became active.
//!
//! Aborting shuts the call's socket down (both directions) from the monitor's thread: the driver sees the
//! connection end as soon as its event loop runs. The monitor keeps running: it probes a dead host until it answers
//! again (reported as [`EfmEventKind::Alive`]) and detects the next outage the same way. A probe the host answers
//! with an authentication or TLS refusal counts as an answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::monitor::{BoxFuture, ParamsPurpose, ParamsSource};
use crate::probe::{ErrorClass, ProbeError, ProbeSession};
use crate::runtime::NativeRuntime;
use crate::target::{ProbeTarget, TargetAddress};

/// Which detection rule a monitor applies (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EfmVersion {
    V1,
    V2,
}

/// Detection parameters of one monitor.
#[derive(Clone, Debug)]
pub struct EfmSpec {
    pub target: ProbeTarget,
    pub version: EfmVersion,
    /// `failure_detection_time`: a call is monitored only once it has run this long.
    pub grace: Duration,
    /// `failure_detection_interval`: time between the starts of two probes.
    pub interval: Duration,
    /// `failure_detection_count`: the host is dead after `interval × count` without an answer (at least 1).
    pub count: u32,
    /// Deadline of opening the probe connection (parameters, TCP, TLS, authentication).
    pub connect_timeout: Duration,
    /// Deadline of one `SELECT 1` on the open probe connection.
    pub query_timeout: Duration,
}

impl EfmSpec {
    /// How long the host may go without answering before it is declared dead.
    pub fn window(&self) -> Duration {
        self.interval.saturating_mul(self.count.max(1))
    }

    /// Time between the starts of two probes: the interval, or half of it when a single interval decides (so a
    /// healthy host always has half an interval to answer before the verdict).
    pub fn probe_period(&self) -> Duration {
        if self.count >= 2 {
            self.interval
        } else {
            self.interval / 2
        }
    }

    /// How often the monitor looks at the armed times of its watches: a call armed after one look is seen before it
    /// becomes active as long as the grace time is longer than this.
    fn poll_period(&self) -> Duration {
        (self.grace / 2).clamp(Duration::from_millis(5), Duration::from_millis(100))
    }
}

/// The 4-tuple of a TCP connection, to make sure an fd still names the registered connection before shutting it
/// down (fd numbers are reused as soon as a socket closes; a new connection always has another 4-tuple).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketIdentity {
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

/// The identity of the connected socket `fd` (None when it is not a connected IP socket).
#[cfg(unix)]
pub fn socket_identity(fd: i64) -> Option<SocketIdentity> {
    use std::os::fd::BorrowedFd;
    let raw = i32::try_from(fd).ok().filter(|v| *v >= 0)?;
    // SAFETY: only borrowed for two getsockname/getpeername calls; never closed or kept.
    let fd = unsafe { BorrowedFd::borrow_raw(raw) };
    let sock = socket2::SockRef::from(&fd);
    let local = sock.local_addr().ok()?.as_socket()?;
    let peer = sock.peer_addr().ok()?.as_socket()?;
    Some(SocketIdentity { local, peer })
}

#[cfg(not(unix))]
pub fn socket_identity(_fd: i64) -> Option<SocketIdentity> {
    None
}

/// Index of the cells shared with JavaScript (f64 values stored as their bits).
pub const CELL_ARMED_AT: usize = 0;
pub const CELL_ABORTED: usize = 1;
/// The watch's id (written once at registration).
pub const CELL_ID: usize = 2;
pub const WATCH_CELLS: usize = 3;

/// One monitored connection. The cells are shared with JavaScript (see the module documentation).
pub struct Watch {
    pub id: u64,
    fd: Option<i64>,
    identity: Option<SocketIdentity>,
    cells: [AtomicU64; WATCH_CELLS],
    /// The same instant on both clocks: converts the armed time written by JavaScript to an `Instant`.
    base: Instant,
    base_js_ms: f64,
    aborted: AtomicBool,
}

impl Watch {
    /// A watch whose JavaScript clock reads `now_js_ms` now. `fd` is shut down on abort when it is still the
    /// connection it is now (checked by its 4-tuple); without a usable fd only the event reports the abort.
    pub fn new(id: u64, fd: Option<i64>, now_js_ms: f64) -> Self {
        let identity = fd.and_then(socket_identity);
        Watch {
            id,
            fd: if identity.is_some() { fd } else { None },
            identity,
            cells: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new((id as f64).to_bits())],
            base: Instant::now(),
            base_js_ms: now_js_ms,
            aborted: AtomicBool::new(false),
        }
    }

    /// Whether native code can shut this connection's socket down itself.
    pub fn has_socket(&self) -> bool {
        self.fd.is_some()
    }

    /// Start of the shared cells (for an external ArrayBuffer of `WATCH_CELLS * 8` bytes).
    pub fn cells_ptr(&self) -> *mut u8 {
        self.cells.as_ptr() as *mut u8
    }

    /// Arms the watch as if JavaScript had written the time of `at` (for Rust callers and tests).
    pub fn arm_at(&self, at: Instant) {
        let js = self.base_js_ms + at.saturating_duration_since(self.base).as_secs_f64() * 1000.0;
        self.cells[CELL_ARMED_AT].store(js.max(f64::MIN_POSITIVE).to_bits(), Ordering::Release);
    }

    pub fn disarm(&self) {
        self.cells[CELL_ARMED_AT].store(0, Ordering::Release);
    }

    /// When the call in progress started, or None when no call is in progress.
    fn armed_at(&self) -> Option<Instant> {
        let bits = self.cells[CELL_ARMED_AT].load(Ordering::Acquire);
        if bits == 0 {
            return None;
        }
        let js = f64::from_bits(bits);
        if !js.is_finite() || js <= 0.0 {
            return None;
        }
        let offset = (js - self.base_js_ms).max(0.0);
        Some(self.base + Duration::from_secs_f64(offset / 1000.0))
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Marks the watch aborted and shuts its socket down; false when it was already aborted or is no longer in a
    /// call (the call ended between the decision and now: nothing to abort).
    fn abort(&self) -> bool {
        if self.armed_at().is_none() || self.aborted.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.cells[CELL_ABORTED].store(1f64.to_bits(), Ordering::Release);
        if let (Some(fd), Some(identity)) = (self.fd, self.identity) {
            // The fd may have been closed and reused by another connection since registration: leave that one alone.
            if socket_identity(fd) == Some(identity) {
                let _ = crate::sockets::shutdown_socket(fd);
            }
        }
        true
    }
}

/// What a monitor reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EfmEventKind {
    /// The host has not answered for `interval × count`: it is considered dead from now on.
    Dead,
    /// Calls were aborted (at the declaration, or later: calls that became active while the host was dead).
    Aborted,
    /// A dead host answered again.
    Alive,
}

#[derive(Clone, Debug)]
pub struct EfmEvent {
    pub monitor_id: u64,
    pub kind: EfmEventKind,
    pub target: TargetAddress,
    /// Watches whose calls this event aborted.
    pub aborted: Vec<u64>,
    /// Why the last probe failed (Dead / Aborted), if a probe failed.
    pub error: Option<ProbeError>,
    /// How long the host had not answered (Dead / Aborted), or had been dead (Alive).
    pub silent_for: Duration,
    /// Wall-clock time of the verdict, in ms since the Unix epoch.
    pub at_ms: f64,
}

fn now_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

/// Receives EFM events on a runtime thread: must not block.
pub trait EfmSink: Send + Sync + 'static {
    /// Returns false when the receiver is gone for good; the monitor then stops.
    fn report(&self, event: EfmEvent) -> bool;
}

/// Counters of one monitor.
#[derive(Default)]
struct Counters {
    probes: AtomicU64,
    connects: AtomicU64,
    aborted: AtomicU64,
    dead: AtomicU64,
}

/// Snapshot of a monitor's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EfmStats {
    pub watches: u64,
    pub armed: u64,
    pub probes: u64,
    pub connects: u64,
    pub aborted: u64,
    pub dead_declarations: u64,
    pub dead: bool,
}

/// The last connection parameters the provider gave, and when the first ones arrived.
struct ParamsCache {
    target: ProbeTarget,
    first_at: Instant,
}

/// How long a reconnect waits for fresh parameters before using the cached ones: the provider may run on a
/// JavaScript event loop that is blocked right now, which must not delay a verdict.
const FRESH_PARAMS_WAIT: Duration = Duration::from_millis(50);

struct Shared {
    spec: EfmSpec,
    params: Mutex<Option<ParamsCache>>,
    watches: Mutex<Vec<Arc<Watch>>>,
    wake: Notify,
    stop: CancellationToken,
    counters: Counters,
    dead: AtomicBool,
}

impl Shared {
    fn watches(&self) -> MutexGuard<'_, Vec<Arc<Watch>>> {
        self.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn params(&self) -> MutexGuard<'_, Option<ParamsCache>> {
        self.params.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store_params(&self, target: &ProbeTarget) {
        let mut cache = self.params();
        let first_at = cache.as_ref().map_or_else(Instant::now, |c| c.first_at);
        *cache = Some(ParamsCache { target: target.clone(), first_at });
    }

    /// When the first parameters arrived (None: not yet).
    fn params_ready_at(&self) -> Option<Instant> {
        self.params().as_ref().map(|c| c.first_at)
    }
}

/// The parameters for a new probe connection: fresh from the provider when it answers at once, else the cached ones;
/// the provider's answer (within `deadline`) when nothing is cached yet.
async fn connect_params(id: u64, base: &ProbeTarget, params: &dyn ParamsSource, shared: &Shared) -> Result<ProbeTarget, ProbeError> {
    let cached = shared.params().as_ref().map(|c| c.target.clone());
    let fresh = params.resolve(base, ParamsPurpose::Monitor(id));
    let target = match cached {
        None => fresh.await?,
        Some(cached) => match tokio::time::timeout(FRESH_PARAMS_WAIT, fresh).await {
            Ok(Ok(t)) => t,
            _ => return Ok(cached),
        },
    };
    shared.store_params(&target);
    Ok(target)
}

/// Running EFM monitors of one runtime, by id.
#[derive(Default)]
pub struct EfmRegistry {
    next_id: AtomicU64,
    next_watch: AtomicU64,
    running: Mutex<HashMap<u64, Arc<Shared>>>,
}

impl EfmRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Shared>>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: u64) -> Option<Arc<Shared>> {
        self.lock().get(&id).cloned()
    }

    /// Starts a monitor on `runtime` (starting the runtime if needed) and returns its id.
    pub fn start(
        self: &Arc<Self>,
        runtime: &NativeRuntime,
        spec: EfmSpec,
        params: Arc<dyn ParamsSource>,
        sink: Arc<dyn EfmSink>,
    ) -> std::io::Result<u64> {
        let ctx = runtime.context()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let shared = Arc::new(Shared {
            spec,
            params: Mutex::new(None),
            watches: Mutex::new(Vec::new()),
            wake: Notify::new(),
            stop: ctx.cancel.child_token(),
            counters: Counters::default(),
            dead: AtomicBool::new(false),
        });
        self.lock().insert(id, Arc::clone(&shared));
        let registry = Arc::clone(self);
        ctx.handle.spawn(async move {
            // Also runs when the runtime drops the task on shutdown.
            let _unregister = Unregister { registry, id };
            run(id, shared, params, sink).await;
        });
        Ok(id)
    }

    /// Stops a monitor (its probe connection is closed); false when no such monitor runs.
    pub fn stop(&self, id: u64) -> bool {
        match self.lock().remove(&id) {
            Some(s) => {
                s.stop.cancel();
                true
            }
            None => false,
        }
    }

    pub fn stop_all(&self) {
        for (_, s) in self.lock().drain() {
            s.stop.cancel();
        }
    }

    /// Registers a connection with monitor `id`; None when the monitor is not running.
    pub fn watch(&self, id: u64, fd: Option<i64>, now_js_ms: f64) -> Option<Arc<Watch>> {
        let shared = self.get(id)?;
        let watch = Arc::new(Watch::new(self.next_watch.fetch_add(1, Ordering::Relaxed) + 1, fd, now_js_ms));
        shared.watches().push(Arc::clone(&watch));
        shared.wake.notify_one();
        Some(watch)
    }

    /// Forgets a connection; false when it was not registered with monitor `id`.
    pub fn unwatch(&self, id: u64, watch_id: u64) -> bool {
        let Some(shared) = self.get(id) else { return false };
        let mut watches = shared.watches();
        let before = watches.len();
        watches.retain(|w| w.id != watch_id);
        before != watches.len()
    }

    /// Wakes monitor `id` now (e.g. a call was armed with a grace time shorter than the poll period).
    pub fn nudge(&self, id: u64) -> bool {
        match self.get(id) {
            Some(s) => {
                s.wake.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn stats(&self, id: u64) -> Option<EfmStats> {
        let s = self.get(id)?;
        let (watches, armed) = {
            let w = s.watches();
            (w.len() as u64, w.iter().filter(|w| w.armed_at().is_some()).count() as u64)
        };
        Some(EfmStats {
            watches,
            armed,
            probes: s.counters.probes.load(Ordering::Relaxed),
            connects: s.counters.connects.load(Ordering::Relaxed),
            aborted: s.counters.aborted.load(Ordering::Relaxed),
            dead_declarations: s.counters.dead.load(Ordering::Relaxed),
            dead: s.dead.load(Ordering::Relaxed),
        })
    }

    /// Number of monitors running.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Unregister {
    registry: Arc<EfmRegistry>,
    id: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// The result of one probe, with the connection to keep (None after a failure).
struct ProbeDone {
    session: Option<(ProbeSession, ProbeTarget)>,
    /// The probe reused an open connection (so a quick failure may just mean that connection went stale).
    reused: bool,
    result: Result<(), ProbeError>,
}

/// One probe: open the connection if needed (within `connect_timeout`), then `SELECT 1` (within `query_timeout`).
fn probe(
    id: u64,
    spec: &EfmSpec,
    params: Arc<dyn ParamsSource>,
    session: Option<(ProbeSession, ProbeTarget)>,
    shared: Arc<Shared>,
) -> BoxFuture<ProbeDone> {
    let base = spec.target.clone();
    let (connect_timeout, query_timeout) = (spec.connect_timeout, spec.query_timeout);
    Box::pin(async move {
        let reused = session.is_some();
        let mut session = session;
        if session.is_none() {
            shared.counters.connects.fetch_add(1, Ordering::Relaxed);
            let open = async {
                let target = connect_params(id, &base, params.as_ref(), &shared).await?;
                let s = ProbeSession::connect(&target).await?;
                Ok::<_, ProbeError>((s, target))
            };
            match tokio::time::timeout(connect_timeout, open).await {
                Ok(Ok(s)) => session = Some(s),
                Ok(Err(e)) => return ProbeDone { session: None, reused, result: Err(e) },
                Err(_) => {
                    let e = ProbeError::new(
                        ErrorClass::Timeout,
                        format!("no connection within {} ms (connect, TLS, authentication)", connect_timeout.as_millis()),
                    );
                    return ProbeDone { session: None, reused, result: Err(e) };
                }
            }
        }
        shared.counters.probes.fetch_add(1, Ordering::Relaxed);
        let (mut s, target) = session.take().expect("opened above");
        let result = match tokio::time::timeout(query_timeout, s.ping(&target.params)).await {
            Ok(r) => r,
            Err(_) => Err(ProbeError::new(ErrorClass::Timeout, format!("no answer to SELECT 1 within {} ms", query_timeout.as_millis()))),
        };
        if result.is_ok() && !matches!(s, ProbeSession::Tcp) {
            ProbeDone { session: Some((s, target)), reused, result }
        } else if result.is_ok() {
            // A TCP probe holds no connection: the next one connects again.
            ProbeDone { session: None, reused, result }
        } else {
            s.close();
            ProbeDone { session: None, reused, result }
        }
    })
}

enum Wake {
    Stop,
    Probe(Box<ProbeDone>),
    Timer,
}

/// The monitor's state between wakes.
struct Detector {
    /// Answer time of the last successful probe.
    last_ok: Option<Instant>,
    /// Since when the monitor has been probing without a pause (None: not probing).
    probing_since: Option<Instant>,
    /// When the host was declared dead (None: not dead).
    dead_since: Option<Instant>,
    last_error: Option<ProbeError>,
    /// When connection parameters were first available: before that the monitor cannot probe, and the wait for
    /// them (an event loop that does not answer) is not the host's silence.
    params_ready: Option<Instant>,
}

impl Detector {
    /// The instant from which the host's silence is counted, for a call active since `active_from` (None: the host).
    fn silence_start(&self, active_from: Option<Instant>) -> Option<Instant> {
        let since = self.probing_since?;
        let mut start = since.max(self.params_ready?);
        if let Some(ok) = self.last_ok {
            start = start.max(ok);
        }
        if let Some(a) = active_from {
            start = start.max(a);
        }
        Some(start)
    }
}

/// The registered calls at one instant: those active (armed for at least the grace time, with the instant they
/// became active), and when the next armed one becomes active.
struct Calls {
    active: Vec<(Arc<Watch>, Instant)>,
    next_activation: Option<Instant>,
    /// Whether any connection is registered (armed or not): the monitor then polls for new arms.
    registered: bool,
}

fn scan_calls(shared: &Shared, grace: Duration, now: Instant) -> Calls {
    let mut active: Vec<(Arc<Watch>, Instant)> = Vec::new();
    let mut next_activation: Option<Instant> = None;
    let watches = shared.watches();
    for w in watches.iter() {
        if w.is_aborted() {
            continue;
        }
        if let Some(armed) = w.armed_at() {
            let active_from = armed + grace;
            if active_from <= now {
                active.push((Arc::clone(w), active_from));
            } else {
                next_activation = Some(next_activation.map_or(active_from, |n: Instant| n.min(active_from)));
            }
        }
    }
    Calls { active, next_activation, registered: !watches.is_empty() }
}

/// Asks for the connection parameters now, while the JS event loop is free, so the first probe does not wait.
fn prefetch_params(id: u64, spec: &EfmSpec, params: &Arc<dyn ParamsSource>, shared: &Arc<Shared>) {
    let (params, shared, base) = (Arc::clone(params), Arc::clone(shared), spec.target.clone());
    let deadline = spec.connect_timeout.max(Duration::from_secs(10));
    tokio::spawn(async move {
        if let Ok(Ok(t)) = tokio::time::timeout(deadline, params.resolve(&base, ParamsPurpose::Monitor(id))).await {
            if shared.params_ready_at().is_none() {
                shared.store_params(&t);
                shared.wake.notify_one();
            }
        }
    });
}

impl Detector {
    /// Declares the host dead once it has been silent for the window, and aborts the calls that are due (v2: all
    /// active ones once the host is dead; v1: each once the host has been silent for the window of that call).
    /// Returns whether the host was declared dead now, and the ids of the watches aborted.
    fn verdicts(&mut self, shared: &Shared, spec: &EfmSpec, active: &[(Arc<Watch>, Instant)], now: Instant) -> (bool, Vec<u64>) {
        let window = spec.window();
        let mut aborted: Vec<u64> = Vec::new();
        let mut declared = false;
        if let Some(start) = self.silence_start(None) {
            if self.dead_since.is_none() && now >= start + window {
                self.dead_since = Some(now);
                shared.dead.store(true, Ordering::Relaxed);
                shared.counters.dead.fetch_add(1, Ordering::Relaxed);
                declared = true;
            }
            for (w, active_from) in active {
                let due = match spec.version {
                    EfmVersion::V2 => self.dead_since.is_some(),
                    EfmVersion::V1 => self.silence_start(Some(*active_from)).is_some_and(|s| now >= s + window),
                };
                if due && w.abort() {
                    aborted.push(w.id);
                }
            }
        }
        if !aborted.is_empty() {
            shared.counters.aborted.fetch_add(aborted.len() as u64, Ordering::Relaxed);
        }
        (declared, aborted)
    }

    /// When to look again: the next deadline this state implies, else the poll period (None: only a wake-up).
    fn wake_at(&self, spec: &EfmSpec, calls: &Calls, probe_inflight: bool, next_probe_at: Instant, now: Instant) -> Option<Instant> {
        let window = spec.window();
        let mut wake_at: Option<Instant> = calls.next_activation;
        let mut earliest = |t: Instant| wake_at = Some(wake_at.map_or(t, |w: Instant| w.min(t)));
        if calls.registered {
            earliest(now + spec.poll_period());
        }
        if self.probing_since.is_some() {
            if !probe_inflight {
                earliest(next_probe_at);
            }
            if let Some(start) = self.silence_start(None) {
                if self.dead_since.is_none() {
                    earliest(start + window);
                }
                if spec.version == EfmVersion::V1 {
                    for (_, active_from) in &calls.active {
                        if let Some(s) = self.silence_start(Some(*active_from)) {
                            earliest((s + window).max(now + Duration::from_millis(1)));
                        }
                    }
                }
            }
        }
        wake_at
    }

    /// Takes a finished probe's outcome; keeps its session when it succeeded. Returns how long the host had been
    /// dead when this answer brought it back (None: it was not dead, or still does not answer).
    fn probe_done(
        &mut self,
        done: ProbeDone,
        session: &mut Option<(ProbeSession, ProbeTarget)>,
        next_probe_at: &mut Instant,
        shared: &Shared,
    ) -> Option<Duration> {
        let ended = Instant::now();
        // The host answered unless the probe failed for want of an answer: an authentication or TLS refusal is an
        // answer (the host is up; only the monitor's own settings are wrong, which must not abort the
        // application's calls).
        let answered = match &done.result {
            Ok(()) => true,
            Err(e) => matches!(e.class, ErrorClass::Auth | ErrorClass::Tls),
        };
        match done.result {
            Ok(()) => {
                self.last_error = None;
                *session = done.session;
            }
            Err(e) => {
                // A quick failure on a connection that sat idle is most likely that connection gone stale (server
                // idle timeout): try a fresh one at once.
                if !answered && done.reused && e.class != ErrorClass::Timeout {
                    *next_probe_at = ended;
                }
                self.last_error = Some(e);
            }
        }
        if !answered {
            return None;
        }
        self.last_ok = Some(ended);
        let since = self.dead_since.take()?;
        shared.dead.store(false, Ordering::Relaxed);
        Some(ended.saturating_duration_since(since))
    }
}

async fn run(id: u64, shared: Arc<Shared>, params: Arc<dyn ParamsSource>, sink: Arc<dyn EfmSink>) {
    let spec = shared.spec.clone();
    let address = spec.target.address();
    let event = |kind: EfmEventKind, aborted: Vec<u64>, error: Option<ProbeError>, silent_for: Duration| EfmEvent {
        monitor_id: id,
        kind,
        target: address.clone(),
        aborted,
        error,
        silent_for,
        at_ms: now_ms(),
    };
    let mut d = Detector { last_ok: None, probing_since: None, dead_since: None, last_error: None, params_ready: None };
    prefetch_params(id, &spec, &params, &shared);
    let mut session: Option<(ProbeSession, ProbeTarget)> = None;
    let mut inflight: Option<BoxFuture<ProbeDone>> = None;
    let mut next_probe_at = Instant::now();

    loop {
        let now = Instant::now();
        if d.params_ready.is_none() {
            d.params_ready = shared.params_ready_at();
        }
        let calls = scan_calls(&shared, spec.grace, now);

        // Probe while a call is active, and while the host is dead (to see it come back).
        if !calls.active.is_empty() || d.dead_since.is_some() {
            if d.probing_since.is_none() {
                d.probing_since = Some(now);
                next_probe_at = now;
            }
        } else {
            d.probing_since = None;
        }

        let (declared, aborted) = d.verdicts(&shared, &spec, &calls.active, now);
        if declared || !aborted.is_empty() {
            let silent_for = d.silence_start(None).map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
            let kind = if declared { EfmEventKind::Dead } else { EfmEventKind::Aborted };
            if !sink.report(event(kind, aborted, d.last_error.clone(), silent_for)) {
                break;
            }
        }

        // Next probe.
        if d.probing_since.is_some() && inflight.is_none() && now >= next_probe_at {
            next_probe_at = now + spec.probe_period();
            inflight = Some(probe(id, &spec, Arc::clone(&params), session.take(), Arc::clone(&shared)));
        }

        let wake_at = d.wake_at(&spec, &calls, inflight.is_some(), next_probe_at, now);
        let wake = {
            let probe_done = async {
                match inflight.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            };
            let timer = async {
                match wake_at {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = shared.stop.cancelled() => Wake::Stop,
                done = probe_done => Wake::Probe(Box::new(done)),
                _ = shared.wake.notified() => Wake::Timer,
                _ = timer => Wake::Timer,
            }
        };
        match wake {
            Wake::Stop => break,
            Wake::Timer => {}
            Wake::Probe(done) => {
                inflight = None;
                if let Some(dead_for) = d.probe_done(*done, &mut session, &mut next_probe_at, &shared) {
                    if !sink.report(event(EfmEventKind::Alive, Vec::new(), None, dead_for)) {
                        break;
                    }
                }
            }
        }
    }
    drop(inflight);
    if let Some((s, _)) = session.take() {
        s.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::GivenParams;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;

    struct ChannelSink(Mutex<mpsc::Sender<(Instant, EfmEvent)>>);

    impl EfmSink for ChannelSink {
        fn report(&self, event: EfmEvent) -> bool {
            self.0.lock().unwrap().send((Instant::now(), event)).is_ok()
        }
    }

    fn spec(port: u16, version: EfmVersion, grace_ms: u64, interval_ms: u64, count: u32) -> EfmSpec {
        EfmSpec {
            target: ProbeTarget::tcp("127.0.0.1", port),
            version,
            grace: Duration::from_millis(grace_ms),
            interval: Duration::from_millis(interval_ms),
            count,
            connect_timeout: Duration::from_millis(500),
            query_timeout: Duration::from_millis(500),
        }
    }

    fn start(spec: EfmSpec) -> (NativeRuntime, Arc<EfmRegistry>, u64, mpsc::Receiver<(Instant, EfmEvent)>) {
        let rt = NativeRuntime::new("efm-test");
        let reg = Arc::new(EfmRegistry::new());
        let (tx, rx) = mpsc::channel();
        let id = reg.start(&rt, spec, Arc::new(GivenParams), Arc::new(ChannelSink(Mutex::new(tx)))).unwrap();
        (rt, reg, id, rx)
    }

    /// A connected pair: (the "user" side whose fd gets registered, the server side).
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (c, s)
    }

    #[cfg(unix)]
    fn fd_of(s: &TcpStream) -> i64 {
        use std::os::fd::AsRawFd;
        i64::from(s.as_raw_fd())
    }

    #[test]
    #[cfg(unix)]
    fn dead_host_is_declared_within_the_window_and_armed_sockets_are_shut_down() {
        // A host that refuses: every probe fails at once; the verdict comes interval × count after monitoring starts.
        let dead_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (rt, reg, id, rx) = start(spec(dead_port, EfmVersion::V2, 100, 100, 3));
        let (mut user, _server) = pair();
        let (idle_user, _idle_server) = pair();
        let w = reg.watch(id, Some(fd_of(&user)), 0.0).unwrap();
        let idle = reg.watch(id, Some(fd_of(&idle_user)), 0.0).unwrap();
        assert!(w.has_socket());
        let armed = Instant::now();
        w.arm_at(armed);
        let (at, ev) = rx.recv_timeout(Duration::from_secs(5)).expect("a verdict");
        assert_eq!(ev.kind, EfmEventKind::Dead);
        assert_eq!(ev.aborted, vec![w.id]);
        assert!(!ev.aborted.contains(&idle.id), "a connection not in a call is left alone");
        let elapsed = at.duration_since(armed);
        // grace 100 + window 300, plus the poll delay of noticing the call; never before grace + window.
        assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
        assert!(w.is_aborted());
        assert_eq!(f64::from_bits(w.cells[CELL_ABORTED].load(Ordering::Acquire)), 1.0);
        let mut buf = [0u8; 1];
        assert_eq!(user.read(&mut buf).unwrap(), 0, "the user's socket was shut down");
        assert!(ev.error.is_some_and(|e| e.class == ErrorClass::Refused));
        let stats = reg.stats(id).unwrap();
        assert!(stats.dead && stats.dead_declarations == 1 && stats.aborted == 1, "{stats:?}");
        reg.stop(id);
        rt.shutdown(Duration::from_secs(2));
    }

    #[test]
    #[cfg(unix)]
    fn monitor_survives_its_aborts_and_detects_repeated_outages() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (rt, reg, id, rx) = start(spec(port, EfmVersion::V2, 50, 50, 2));
        let mut listener = Some(listener);
        for round in 0..3 {
            // Host down: refuse connections.
            drop(listener.take());
            let (user, _server) = pair();
            let w = reg.watch(id, Some(fd_of(&user)), 0.0).unwrap();
            w.arm_at(Instant::now());
            let (_, ev) = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| panic!("round {round}: no verdict"));
            assert_eq!(ev.kind, EfmEventKind::Dead, "round {round}");
            assert_eq!(ev.aborted, vec![w.id]);
            w.disarm();
            reg.unwatch(id, w.id);
            // Host back: the monitor sees it answer again.
            listener = Some(TcpListener::bind(("127.0.0.1", port)).unwrap());
            let (_, ev) = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| panic!("round {round}: not alive"));
            assert_eq!(ev.kind, EfmEventKind::Alive, "round {round}");
        }
        assert_eq!(reg.stats(id).unwrap().dead_declarations, 3);
        reg.stop(id);
        rt.shutdown(Duration::from_secs(2));
    }

    #[test]
    #[cfg(unix)]
    fn v1_counts_from_each_call_and_v2_aborts_late_calls_at_once() {
        let dead_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        for version in [EfmVersion::V1, EfmVersion::V2] {
            let (rt, reg, id, rx) = start(spec(dead_port, version, 50, 100, 2));
            let (first, _s1) = pair();
            let w1 = reg.watch(id, Some(fd_of(&first)), 0.0).unwrap();
            w1.arm_at(Instant::now());
            let (_, ev) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!((ev.kind.clone(), ev.aborted.clone()), (EfmEventKind::Dead, vec![w1.id]), "{version:?}");
            // A second call on the dead host.
            let (second, _s2) = pair();
            let w2 = reg.watch(id, Some(fd_of(&second)), 0.0).unwrap();
            let armed = Instant::now();
            w2.arm_at(armed);
            let (at, ev) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!((ev.kind, ev.aborted), (EfmEventKind::Aborted, vec![w2.id]), "{version:?}");
            let waited = at.duration_since(armed);
            match version {
                // grace 50 + its own window of 200
                EfmVersion::V1 => assert!(waited >= Duration::from_millis(250) && waited < Duration::from_millis(450), "{waited:?}"),
                // at the end of its grace time
                EfmVersion::V2 => assert!(waited >= Duration::from_millis(50) && waited < Duration::from_millis(200), "{waited:?}"),
            }
            reg.stop(id);
            rt.shutdown(Duration::from_secs(2));
        }
    }

    #[test]
    #[cfg(unix)]
    fn healthy_host_is_never_declared_dead_and_short_calls_are_not_probed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (rt, reg, id, rx) = start(spec(port, EfmVersion::V2, 200, 100, 1));
        let (user, _server) = pair();
        let w = reg.watch(id, Some(fd_of(&user)), 0.0).unwrap();
        // Short calls (shorter than the grace time): no probe at all.
        for _ in 0..5 {
            w.arm_at(Instant::now());
            std::thread::sleep(Duration::from_millis(50));
            w.disarm();
        }
        assert_eq!(reg.stats(id).unwrap().connects, 0);
        // A long call on a healthy host: probed, never aborted.
        w.arm_at(Instant::now());
        assert!(rx.recv_timeout(Duration::from_millis(800)).is_err(), "no verdict for a healthy host");
        let stats = reg.stats(id).unwrap();
        assert!(stats.connects > 0 && !stats.dead && stats.aborted == 0, "{stats:?}");
        assert!(!w.is_aborted());
        drop(listener);
        reg.stop(id);
        rt.shutdown(Duration::from_secs(2));
    }

    #[test]
    #[cfg(unix)]
    fn reused_fd_of_another_connection_is_not_shut_down() {
        let dead_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (rt, reg, id, rx) = start(spec(dead_port, EfmVersion::V2, 10, 50, 1));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let user = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_server, _) = l.accept().unwrap();
        let fd = fd_of(&user);
        let w = reg.watch(id, Some(fd), 0.0).unwrap();
        drop(user);
        // Another connection takes the same fd number.
        let mut other = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_other_server, _) = l.accept().unwrap();
        assert_eq!(fd_of(&other), fd, "the fd number is reused");
        w.arm_at(Instant::now());
        let (_, ev) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ev.aborted, vec![w.id]);
        other.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut buf = [0u8; 1];
        let err = other.read(&mut buf).expect_err("still open: the read times out");
        assert!(matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{err:?}");
        reg.stop(id);
        rt.shutdown(Duration::from_secs(2));
    }
}
