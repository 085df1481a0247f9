//! Aurora Limitless transaction router monitor: one per shard group, shared by every client of it. It keeps one
//! connection to the shard group endpoint and runs the router query (`aurora_limitless_router_endpoints()`) every
//! `interval`, publishing the rows (router endpoint, load) or the reason the poll failed. A `wake` polls at once
//! (a client is waiting for routers). Connection parameters are asked before each connection (credentials may
//! rotate); a refused login asks again with `refresh`.
//!
//! Every connect and query is bounded (`connect_timeout`, `query_timeout`), every pause is interrupted by stop, and
//! stop (or the runtime's shutdown) ends the monitor's task.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::probe::{ErrorClass, ProbeError, ProbeSession};
use crate::registry::{Registry, Stoppable};
use crate::runtime::NativeRuntime;
use crate::target::{ConnectParams, ProbeKind, ProbeTarget};
use crate::topology::{TextRows, TopologyParams};

/// What a router monitor polls and how often.
#[derive(Clone, Debug)]
pub struct RouterMonitorConfig {
    pub kind: ProbeKind,
    /// The shard group endpoint the monitor connects to.
    pub host: String,
    pub port: u16,
    /// Returns (router endpoint, load) rows.
    pub query: String,
    pub interval: Duration,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
}

#[derive(Clone, Debug)]
pub enum RouterEvent {
    /// A poll answered; `seq` is 1 for the first answer of the monitor and grows by one.
    Routers { seq: u64, rows: TextRows, at_ms: f64 },
    /// A poll failed (the next one opens a new connection).
    Failed { error: ProbeError, at_ms: f64 },
}

/// Receives events on a runtime thread: must not block. False = receiver gone for good; the monitor stops.
pub trait RouterSink: Send + Sync + 'static {
    fn report(&self, monitor_id: u64, event: RouterEvent) -> bool;
}

struct Shared {
    id: u64,
    config: RouterMonitorConfig,
    wake: Notify,
    stop: CancellationToken,
}

/// Handle to a running (or stopped) router monitor.
#[derive(Clone)]
pub struct RouterMonitor {
    shared: Arc<Shared>,
}

impl RouterMonitor {
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Polls at once instead of at the end of the current interval.
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    pub fn is_stopped(&self) -> bool {
        self.shared.stop.is_cancelled()
    }

    /// Stops the monitor (its task ends at its next await); idempotent.
    pub fn stop(&self) {
        self.shared.stop.cancel();
    }
}

/// Running router monitors of one runtime, by id.
pub type RouterMonitorRegistry = Registry<RouterMonitor>;

impl Stoppable for RouterMonitor {
    fn stop(&self) {
        RouterMonitor::stop(self);
    }
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn validate(c: &RouterMonitorConfig) -> Result<(), String> {
    if c.kind != ProbeKind::Postgres {
        return Err(format!("router monitor: kind must be postgres (Limitless is Aurora PostgreSQL only), got {}", c.kind.as_str()));
    }
    if c.host.is_empty() || c.port == 0 {
        return Err("router monitor: host and a non-zero port are required".into());
    }
    if c.query.trim().is_empty() {
        return Err("router monitor: the router query is empty".into());
    }
    for (name, d) in [("interval", c.interval), ("connect timeout", c.connect_timeout), ("query timeout", c.query_timeout)] {
        if d.is_zero() {
            return Err(format!("router monitor: the {name} must be positive"));
        }
    }
    Ok(())
}

impl Registry<RouterMonitor> {
    /// Validates `config` and starts a monitor on `runtime` (starting the runtime if needed).
    pub fn start(
        self: &Arc<Self>,
        runtime: &NativeRuntime,
        config: RouterMonitorConfig,
        params: Arc<dyn TopologyParams>,
        sink: Arc<dyn RouterSink>,
    ) -> Result<RouterMonitor, String> {
        validate(&config)?;
        let ctx = runtime.context().map_err(|e| format!("cannot start the native runtime: {e}"))?;
        let id = self.next_id();
        let shared = Arc::new(Shared { id, config, wake: Notify::new(), stop: ctx.cancel.child_token() });
        let monitor = RouterMonitor { shared: Arc::clone(&shared) };
        Ok(self.spawn(&ctx.handle, id, monitor, run(shared, params, sink)))
    }
}

/// The open monitoring connection and the parameters it was opened with (to scrub messages).
struct Session {
    session: ProbeSession,
    params: ConnectParams,
}

async fn open(c: &RouterMonitorConfig, params: &dyn TopologyParams, refresh: bool) -> Result<Session, ProbeError> {
    let base = ProbeTarget { kind: c.kind, params: ConnectParams { host: c.host.clone(), port: c.port, ..ConnectParams::default() } };
    let work = async {
        let target = params.resolve(&base, refresh).await?;
        let session = ProbeSession::connect(&target).await?;
        Ok(Session { session, params: target.params })
    };
    match tokio::time::timeout(c.connect_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::new(
            ErrorClass::Timeout,
            format!("connecting to {}:{} took longer than {} ms", c.host, c.port, c.connect_timeout.as_millis()),
        )),
    }
}

async fn poll(s: &mut Session, c: &RouterMonitorConfig) -> Result<TextRows, ProbeError> {
    match tokio::time::timeout(c.query_timeout, s.session.query_text(&c.query)).await {
        Ok(r) => r.map_err(|e| ProbeError { class: e.class, message: s.params.scrub(e.message) }),
        Err(_) => {
            Err(ProbeError::new(ErrorClass::Timeout, format!("the router query took longer than {} ms", c.query_timeout.as_millis())))
        }
    }
}

async fn run(shared: Arc<Shared>, params: Arc<dyn TopologyParams>, sink: Arc<dyn RouterSink>) {
    let c = &shared.config;
    let mut session: Option<Session> = None;
    let mut refresh = false;
    let mut seq = 0u64;
    loop {
        let outcome = tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            r = async {
                if session.is_none() {
                    session = Some(open(c, params.as_ref(), refresh).await?);
                }
                poll(session.as_mut().expect("opened above"), c).await
            } => r,
        };
        let event = match outcome {
            Ok(rows) => {
                refresh = false;
                seq += 1;
                RouterEvent::Routers { seq, rows, at_ms: now_ms() }
            }
            Err(error) => {
                // A refused login asks for fresh credentials (IAM token, rotated secret) next time.
                refresh = error.class == ErrorClass::Auth;
                if let Some(s) = session.take() {
                    s.session.close();
                }
                RouterEvent::Failed { error, at_ms: now_ms() }
            }
        };
        if !sink.report(shared.id, event) {
            break;
        }
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(c.interval) => {}
        }
    }
    if let Some(s) = session.take() {
        s.session.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::GivenParams;
    use std::sync::Mutex;

    struct Collect(Mutex<Vec<RouterEvent>>, Notify);

    impl RouterSink for Collect {
        fn report(&self, _id: u64, event: RouterEvent) -> bool {
            self.0.lock().unwrap().push(event);
            self.1.notify_one();
            true
        }
    }

    fn config(port: u16) -> RouterMonitorConfig {
        RouterMonitorConfig {
            kind: ProbeKind::Postgres,
            host: "127.0.0.1".into(),
            port,
            query: "SELECT 1".into(),
            interval: Duration::from_secs(3600),
            connect_timeout: Duration::from_millis(500),
            query_timeout: Duration::from_millis(500),
        }
    }

    #[test]
    fn rejects_bad_config() {
        let mut c = config(5432);
        c.kind = ProbeKind::Mysql;
        assert!(validate(&c).unwrap_err().contains("postgres"));
        let mut c = config(5432);
        c.query = " ".into();
        assert!(validate(&c).unwrap_err().contains("empty"));
        let mut c = config(5432);
        c.interval = Duration::ZERO;
        assert!(validate(&c).unwrap_err().contains("interval"));
    }

    #[test]
    fn refused_connection_is_reported_and_stop_ends_the_task() {
        // A port nothing listens on: bind, take the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let runtime = NativeRuntime::new("awsw-test");
        let registry = Arc::new(RouterMonitorRegistry::new());
        let sink = Arc::new(Collect(Mutex::new(Vec::new()), Notify::new()));
        let m = registry.start(&runtime, config(port), Arc::new(GivenParams), sink.clone()).unwrap();
        let ctx = runtime.context().unwrap();
        ctx.handle.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), sink.1.notified()).await.unwrap();
        });
        assert!(matches!(sink.0.lock().unwrap()[0], RouterEvent::Failed { .. }));
        assert_eq!(registry.len(), 1);
        assert!(registry.stop(m.id()));
        assert!(m.is_stopped());
        assert!(runtime.shutdown(Duration::from_secs(2)));
    }
}
