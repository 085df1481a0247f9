//! Runtime lifecycle, probe deadlines and monitor shutdown, against real loopback sockets.
//! (PostgreSQL / MySQL success paths are tested from JS against the test servers.)

use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monitor_core::{
    probe, probe_with_params, BoxFuture, ConnectParams, ErrorClass, GivenParams, MonitorEvent, MonitorRegistry, MonitorSink, MonitorSpec,
    NativeRuntime, ParamsPurpose, ParamsSource, ProbeError, ProbeKind, ProbeTarget,
};

/// A listener that completes TCP handshakes (kernel backlog) but never accepts or answers: a hung host.
fn black_hole() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

/// A loopback port with nothing listening.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn target(kind: ProbeKind, port: u16) -> ProbeTarget {
    ProbeTarget {
        kind,
        params: ConnectParams {
            host: "127.0.0.1".into(),
            port,
            user: Some("probe_user".into()),
            password: Some("s3cret-Pa55".into()),
            database: Some("postgres".into()),
            ..Default::default()
        },
    }
}

#[test]
fn runtime_starts_lazily_and_shutdown_joins_every_thread() {
    let rt = NativeRuntime::new("core-test");
    assert_eq!(rt.thread_count(), 0);
    assert!(!rt.is_running());
    assert!(rt.shutdown(Duration::from_millis(100)), "shutdown before any start is a no-op");

    let ctx = rt.context().unwrap();
    ctx.handle.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
    assert!(rt.is_running());
    assert!(rt.thread_count() >= 2, "two named workers, got {}", rt.thread_count());
    let names = ctx.handle.block_on(async { tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await.unwrap() });
    assert!(names.unwrap().starts_with("core-test-"));

    let started = Instant::now();
    assert!(rt.shutdown(Duration::from_secs(2)));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(rt.thread_count(), 0);
    assert!(!rt.is_running());
    assert!(rt.shutdown(Duration::from_millis(100)), "idempotent");

    // A later use starts a fresh runtime.
    rt.context().unwrap();
    assert!(rt.is_running());
    assert!(rt.shutdown(Duration::from_secs(2)));
    assert_eq!(rt.thread_count(), 0);
}

#[test]
fn shutdown_cancels_tasks_that_would_never_end() {
    let rt = NativeRuntime::new("core-cancel");
    let (tx, rx) = mpsc::channel::<()>();
    rt.spawn(async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(tx);
    })
    .unwrap();
    // A task blocked on a hung socket read, not watching any token.
    let hole = black_hole();
    let port = hole.local_addr().unwrap().port();
    rt.context().unwrap().handle.spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut buf = [0u8; 1];
        let _ = s.read(&mut buf).await;
    });
    std::thread::sleep(Duration::from_millis(20));
    let started = Instant::now();
    assert!(rt.shutdown(Duration::from_secs(2)));
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    assert_eq!(rt.thread_count(), 0);
    // The sleeping task was dropped (its sender with it), not left running.
    assert_eq!(rx.recv_timeout(Duration::from_millis(100)), Err(mpsc::RecvTimeoutError::Disconnected));
}

#[test]
fn probe_reports_refused_for_a_closed_port() {
    let rt = NativeRuntime::new("core-refused");
    let handle = rt.context().unwrap().handle;
    for kind in [ProbeKind::Tcp, ProbeKind::Postgres, ProbeKind::Mysql] {
        let out = handle.block_on(probe(&target(kind, closed_port()), Duration::from_secs(2)));
        let err = out.error.expect("a closed port cannot answer");
        assert_eq!(err.class, ErrorClass::Refused, "{kind:?}: {err}");
        assert!(out.elapsed < Duration::from_secs(1));
        assert!(!err.message.contains("s3cret-Pa55"));
    }
    assert!(rt.shutdown(Duration::from_secs(2)));
}

#[test]
fn probe_times_out_against_a_black_hole_within_the_deadline() {
    let rt = NativeRuntime::new("core-hole");
    let handle = rt.context().unwrap().handle;
    let hole = black_hole();
    let port = hole.local_addr().unwrap().port();
    // TCP alone succeeds: the kernel completes the handshake.
    assert!(handle.block_on(probe(&target(ProbeKind::Tcp, port), Duration::from_millis(500))).is_ok());
    for kind in [ProbeKind::Postgres, ProbeKind::Mysql] {
        let deadline = Duration::from_millis(300);
        let out = handle.block_on(probe(&target(kind, port), deadline));
        let err = out.error.expect("a black hole never answers");
        assert_eq!(err.class, ErrorClass::Timeout, "{kind:?}: {err}");
        assert!(out.elapsed >= deadline, "{kind:?} ended early: {:?}", out.elapsed);
        assert!(out.elapsed < deadline + Duration::from_millis(250), "{kind:?} overran: {:?}", out.elapsed);
        assert!(err.message.contains("connecting"), "{}", err.message);
    }
    assert!(rt.shutdown(Duration::from_secs(2)));
}

/// A parameters source that never answers (like a JS provider whose promise never settles).
struct SilentParams;

impl ParamsSource for SilentParams {
    fn resolve(&self, _base: &ProbeTarget, _purpose: ParamsPurpose) -> BoxFuture<Result<ProbeTarget, ProbeError>> {
        Box::pin(std::future::pending())
    }
}

#[test]
fn a_params_source_that_never_answers_times_the_probe_out() {
    let rt = NativeRuntime::new("core-params");
    let handle = rt.context().unwrap().handle;
    let deadline = Duration::from_millis(200);
    let out = handle.block_on(probe_with_params(&target(ProbeKind::Tcp, closed_port()), &SilentParams, deadline));
    let err = out.error.unwrap();
    assert_eq!(err.class, ErrorClass::Timeout);
    assert!(err.message.contains("waiting for connection parameters"), "{}", err.message);
    assert!(out.elapsed < deadline + Duration::from_millis(200));
    assert!(rt.shutdown(Duration::from_secs(2)));
}

struct ChannelSink(std::sync::Mutex<mpsc::Sender<MonitorEvent>>);

impl MonitorSink for ChannelSink {
    fn report(&self, event: MonitorEvent) -> bool {
        self.0.lock().unwrap().send(event).is_ok()
    }
}

fn spec(kind: ProbeKind, port: u16, interval_ms: u64, timeout_ms: u64) -> MonitorSpec {
    MonitorSpec {
        target: target(kind, port),
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        keep_connection: true,
    }
}

#[test]
fn monitors_report_each_tick_and_stop() {
    let rt = NativeRuntime::new("core-mon");
    let registry = Arc::new(MonitorRegistry::new());
    let (tx, rx) = mpsc::channel();
    let sink = Arc::new(ChannelSink(std::sync::Mutex::new(tx)));
    let listener = black_hole();
    let up = listener.local_addr().unwrap().port();
    let down = closed_port();
    let a = registry.start(&rt, spec(ProbeKind::Tcp, up, 20, 500), Arc::new(GivenParams), sink.clone()).unwrap();
    let b = registry.start(&rt, spec(ProbeKind::Tcp, down, 20, 500), Arc::new(GivenParams), sink).unwrap();
    assert_ne!(a, b);
    assert_eq!(registry.len(), 2);
    let (mut seen_a, mut seen_b) = (0, 0);
    while seen_a < 3 || seen_b < 3 {
        let ev = rx.recv_timeout(Duration::from_secs(2)).expect("monitor events keep coming");
        if ev.monitor_id == a {
            assert!(ev.outcome.is_ok(), "{:?}", ev.outcome);
            seen_a += 1;
            assert_eq!(ev.seq, seen_a);
        } else {
            assert_eq!(ev.outcome.error.as_ref().unwrap().class, ErrorClass::Refused);
            seen_b += 1;
        }
    }
    assert!(registry.stop(a));
    assert!(!registry.stop(a), "already stopped");
    // Drain what was queued, then only b keeps reporting.
    std::thread::sleep(Duration::from_millis(50));
    while rx.try_recv().is_ok() {}
    for _ in 0..3 {
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap().monitor_id, b);
    }
    assert!(rt.shutdown(Duration::from_secs(2)));
    assert_eq!(rt.thread_count(), 0);
    assert!(registry.is_empty(), "shutdown unregisters every monitor");
}

#[test]
fn monitors_stuck_on_a_black_hole_stop_on_shutdown() {
    let rt = NativeRuntime::new("core-monhole");
    let registry = Arc::new(MonitorRegistry::new());
    let (tx, rx) = mpsc::channel();
    let sink = Arc::new(ChannelSink(std::sync::Mutex::new(tx)));
    let hole = black_hole();
    let port = hole.local_addr().unwrap().port();
    for kind in [ProbeKind::Postgres, ProbeKind::Mysql] {
        registry.start(&rt, spec(kind, port, 50, 150), Arc::new(GivenParams), sink.clone()).unwrap();
    }
    // Each tick times out against the black hole and says so.
    for _ in 0..4 {
        let ev = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(ev.outcome.error.as_ref().unwrap().class, ErrorClass::Timeout);
    }
    // Shut down while ticks hang in connect: bounded, nothing left running.
    let started = Instant::now();
    assert!(rt.shutdown(Duration::from_secs(2)));
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(rt.thread_count(), 0);
    assert!(registry.is_empty());
    std::thread::sleep(Duration::from_millis(100));
    while rx.try_recv().is_ok() {}
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "no event after shutdown");
}

#[test]
fn a_sink_that_is_gone_stops_its_monitor() {
    struct Closed;
    impl MonitorSink for Closed {
        fn report(&self, _event: MonitorEvent) -> bool {
            false
        }
    }
    let rt = NativeRuntime::new("core-closed");
    let registry = Arc::new(MonitorRegistry::new());
    registry.start(&rt, spec(ProbeKind::Tcp, closed_port(), 10, 100), Arc::new(GivenParams), Arc::new(Closed)).unwrap();
    let until = Instant::now() + Duration::from_secs(2);
    while !registry.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(registry.is_empty());
    assert!(rt.shutdown(Duration::from_secs(2)));
}

#[test]
fn passwords_never_show_in_debug_output_or_scrubbed_messages() {
    let t = target(ProbeKind::Postgres, 5432);
    assert!(!format!("{:?}", t).contains("s3cret-Pa55"));
    let msg = t.params.scrub("auth failed for s3cret-Pa55 at host".to_string());
    assert_eq!(msg, "auth failed for *** at host");
}

#[test]
fn verify_full_rejects_an_invalid_ca_without_echoing_it() {
    let mut t = target(ProbeKind::Postgres, closed_port());
    t.params.ssl = monitor_core::SslMode::VerifyFull;
    t.params.ca_pem = Some("not a certificate".into());
    let rt = NativeRuntime::new("core-ca");
    let out = rt.context().unwrap().handle.block_on(probe(&t, Duration::from_secs(1)));
    let err = out.error.unwrap();
    assert_eq!(err.class, ErrorClass::Tls);
    assert!(!err.message.contains("not a certificate"));
    assert!(rt.shutdown(Duration::from_secs(2)));
}

#[cfg(unix)]
#[test]
fn a_failing_monitor_shuts_down_registered_sockets_after_the_threshold() {
    use std::io::Read;
    use std::os::fd::AsRawFd;

    // A "user connection" to a server that never answers: its read would block forever.
    let server = black_hole();
    let mut user_conn = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (_server_side, _) = server.accept().unwrap();

    let rt = NativeRuntime::new("core-abort");
    let registry = Arc::new(MonitorRegistry::new());
    let (tx, rx) = mpsc::channel();
    let sink = Arc::new(ChannelSink(std::sync::Mutex::new(tx)));
    let id = registry.start(&rt, spec(ProbeKind::Tcp, closed_port(), 10, 200), Arc::new(GivenParams), sink).unwrap();
    assert!(registry.set_abort_sockets(id, vec![user_conn.as_raw_fd() as i64, 1_000_000], 3));
    assert!(!registry.set_abort_sockets(id + 100, vec![], 1), "no such monitor");

    let mut aborted_at = None;
    for _ in 0..10 {
        let ev = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        if ev.aborted_sockets > 0 {
            aborted_at = Some((ev.seq, ev.aborted_sockets));
            break;
        }
    }
    // The third failure in a row shut down the one real socket (the bogus fd is skipped).
    assert_eq!(aborted_at, Some((3, 1)));
    user_conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(user_conn.read(&mut buf).unwrap(), 0, "the blocked read ends with EOF at once");
    // One-shot: later failures abort nothing more.
    for _ in 0..3 {
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap().aborted_sockets, 0);
    }
    assert!(rt.shutdown(Duration::from_secs(2)));
}

#[cfg(unix)]
#[test]
fn shutdown_socket_refuses_what_is_not_a_socket() {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open("Cargo.toml").unwrap();
    assert!(monitor_core::sockets::shutdown_socket(file.as_raw_fd() as i64).is_err());
    assert!(monitor_core::sockets::shutdown_socket(-1).is_err());
}
