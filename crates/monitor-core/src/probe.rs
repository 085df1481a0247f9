//! Deadline-bounded probes: TCP connect, or connect + TLS + authenticate + `SELECT 1` on PostgreSQL / MySQL.
//!
//! Every step runs under one deadline (driver connect timeouts only cover the socket connect, not TLS, auth or
//! the query), and error messages never contain the password.

use std::error::Error as StdError;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::target::{ConnectParams, ProbeKind, ProbeTarget, SslMode};
use crate::tls;

/// Why a probe failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The host actively refused the connection (nothing listens on the port).
    Refused,
    /// A step did not finish within the deadline (includes a connection parameters provider that did not answer).
    Timeout,
    /// The server rejected the credentials.
    Auth,
    /// The TLS handshake or certificate check failed, or the server does not offer the required TLS.
    Tls,
    /// Anything else (DNS, reset, protocol errors, provider errors, ...).
    Other,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Refused => "refused",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Auth => "auth",
            ErrorClass::Tls => "tls",
            ErrorClass::Other => "other",
        }
    }
}

/// A classified failure with a message that is safe to show (no password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeError {
    pub class: ErrorClass,
    pub message: String,
}

impl ProbeError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        ProbeError { class, message: message.into() }
    }
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class.as_str(), self.message)
    }
}

/// The result of one probe.
#[derive(Clone, Debug)]
pub struct ProbeOutcome {
    /// `None` when the host answered.
    pub error: Option<ProbeError>,
    /// Time from the start of the probe (including waiting for connection parameters) to its end.
    pub elapsed: Duration,
}

impl ProbeOutcome {
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// The step a probe is in, for timeout messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    Params = 0,
    Connect = 1,
    Query = 2,
}

impl Step {
    fn describe(v: u8) -> &'static str {
        match v {
            0 => "waiting for connection parameters",
            1 => "connecting (TCP, TLS, authentication)",
            _ => "running SELECT 1",
        }
    }
}

/// Tracks the current step of a probe so a timeout can say where it was stuck.
#[derive(Default)]
pub struct StepTracker(AtomicU8);

impl StepTracker {
    pub fn set(&self, step: Step) {
        self.0.store(step as u8, Ordering::Relaxed);
    }
    pub fn timeout_error(&self, deadline: Duration) -> ProbeError {
        ProbeError::new(
            ErrorClass::Timeout,
            format!("no answer within {} ms while {}", deadline.as_millis(), Step::describe(self.0.load(Ordering::Relaxed))),
        )
    }
}

/// An open probe connection that can be pinged again (monitors keep one per host).
pub enum ProbeSession {
    Tcp,
    Postgres { client: tokio_postgres::Client, driver: JoinHandle<()> },
    Mysql { conn: mysql_async::Conn },
}

impl ProbeSession {
    /// Opens a connection (TCP, TLS, authentication). Not bounded by itself: run it under a deadline.
    pub async fn connect(target: &ProbeTarget) -> Result<ProbeSession, ProbeError> {
        let p = &target.params;
        if p.host.is_empty() || p.port == 0 {
            return Err(ProbeError::new(ErrorClass::Other, "target: host and a non-zero port are required"));
        }
        let res = match target.kind {
            ProbeKind::Tcp => connect_tcp(p).await,
            ProbeKind::Postgres => connect_pg(p).await,
            ProbeKind::Mysql => connect_mysql(p).await,
        };
        res.map_err(|e| ProbeError { class: e.class, message: p.scrub(e.message) })
    }

    /// Runs `SELECT 1` on the open connection (a TCP session has nothing to run). Run it under a deadline.
    pub async fn ping(&mut self, params: &ConnectParams) -> Result<(), ProbeError> {
        let res = match self {
            ProbeSession::Tcp => Ok(()),
            ProbeSession::Postgres { client, .. } => client.simple_query("SELECT 1").await.map(|_| ()).map_err(|e| classify_pg(&e)),
            ProbeSession::Mysql { conn } => {
                use mysql_async::prelude::Queryable;
                conn.query_drop("SELECT 1").await.map_err(|e| classify_mysql(&e))
            }
        };
        res.map_err(|e| ProbeError { class: e.class, message: params.scrub(e.message) })
    }

    /// Runs `sql` and returns every row as text cells (NULL as `None`). For topology queries.
    pub async fn query_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, ProbeError> {
        match self {
            ProbeSession::Tcp => Err(ProbeError::new(ErrorClass::Other, "a tcp probe session cannot run queries")),
            ProbeSession::Postgres { client, .. } => {
                let msgs = client.simple_query(sql).await.map_err(|e| classify_pg(&e))?;
                Ok(msgs
                    .into_iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            Some((0..row.len()).map(|i| row.get(i).map(str::to_owned)).collect())
                        }
                        _ => None,
                    })
                    .collect())
            }
            ProbeSession::Mysql { conn } => {
                use mysql_async::prelude::Queryable;
                let rows: Vec<mysql_async::Row> = conn.query(sql).await.map_err(|e| classify_mysql(&e))?;
                Ok(rows.into_iter().map(|row| row.unwrap().into_iter().map(mysql_value_text).collect()).collect())
            }
        }
    }

    /// Closes the connection without waiting on the peer (it may be the host that hangs).
    pub fn close(self) {
        match self {
            ProbeSession::Tcp => {}
            ProbeSession::Postgres { client, driver } => {
                drop(client);
                driver.abort();
            }
            // Dropping a Conn schedules a polite disconnect on the runtime; shutdown cancels it if it hangs.
            ProbeSession::Mysql { conn } => drop(conn),
        }
    }
}

fn mysql_value_text(v: mysql_async::Value) -> Option<String> {
    use mysql_async::Value;
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// One probe: open a connection, `SELECT 1`, close; everything within `deadline`.
pub async fn probe(target: &ProbeTarget, deadline: Duration) -> ProbeOutcome {
    let started = Instant::now();
    let steps = StepTracker::default();
    let work = async {
        steps.set(Step::Connect);
        let mut session = ProbeSession::connect(target).await?;
        steps.set(Step::Query);
        let res = session.ping(&target.params).await;
        session.close();
        res
    };
    let error = match tokio::time::timeout(deadline, work).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(steps.timeout_error(deadline)),
    };
    ProbeOutcome { error, elapsed: started.elapsed() }
}

async fn connect_tcp(p: &ConnectParams) -> Result<ProbeSession, ProbeError> {
    let stream = TcpStream::connect((p.host.as_str(), p.port)).await.map_err(|e| classify_io(&e, "connect"))?;
    drop(stream);
    Ok(ProbeSession::Tcp)
}

fn classify_io(e: &io::Error, what: &str) -> ProbeError {
    let class = match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorClass::Refused,
        io::ErrorKind::TimedOut => ErrorClass::Timeout,
        _ => ErrorClass::Other,
    };
    ProbeError::new(class, format!("{what}: {e}"))
}

/// Walks an error's source chain for an I/O or TLS cause.
fn class_from_sources(e: &(dyn StdError + 'static)) -> Option<ErrorClass> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return Some(ErrorClass::Tls);
        }
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                if inner.downcast_ref::<rustls::Error>().is_some() {
                    return Some(ErrorClass::Tls);
                }
            }
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return Some(ErrorClass::Refused),
                io::ErrorKind::TimedOut => return Some(ErrorClass::Timeout),
                _ => {}
            }
        }
        cur = err.source();
    }
    None
}

/// An error's message followed by its causes ("error performing TLS handshake: invalid peer certificate: ...").
fn with_causes(e: &(dyn StdError + 'static)) -> String {
    let mut message = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let text = err.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cur = err.source();
    }
    message
}

fn classify_pg(e: &tokio_postgres::Error) -> ProbeError {
    use tokio_postgres::error::SqlState;
    let message = with_causes(e);
    let class = if let Some(code) = e.code() {
        if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            ErrorClass::Auth
        } else {
            ErrorClass::Other
        }
    } else if let Some(c) = class_from_sources(e) {
        c
    } else if message.contains("TLS") {
        // "error performing TLS handshake: server does not support TLS"; tokio-postgres has no public kind.
        ErrorClass::Tls
    } else {
        ErrorClass::Other
    };
    ProbeError::new(class, message)
}

fn classify_mysql(e: &mysql_async::Error) -> ProbeError {
    use mysql_async::{DriverError, Error, IoError};
    let class = match e {
        // ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR
        Error::Server(s) if matches!(s.code, 1044 | 1045 | 1698) => ErrorClass::Auth,
        Error::Io(IoError::Tls(_)) => ErrorClass::Tls,
        Error::Driver(DriverError::NoClientSslFlagFromServer) => ErrorClass::Tls,
        other => class_from_sources(other).unwrap_or(ErrorClass::Other),
    };
    ProbeError::new(class, with_causes(e))
}

/// How monitor connections name themselves to the server (PostgreSQL application_name, MySQL program_name).
const MONITOR_PROGRAM_NAME: &str = "aws-advanced-ts-wrapper-monitor";

async fn connect_pg(p: &ConnectParams) -> Result<ProbeSession, ProbeError> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.port(p.port).user(p.user.as_deref().unwrap_or("postgres")).application_name(MONITOR_PROGRAM_NAME);
    // With a separate TLS name, connect to the address and verify the certificate against the name.
    match (p.server_name.as_deref(), p.host.parse::<IpAddr>()) {
        (Some(name), Ok(ip)) if name != p.host => {
            cfg.host(name).hostaddr(ip);
        }
        _ => {
            cfg.host(&p.host);
        }
    }
    if let Some(pw) = p.password.as_deref() {
        cfg.password(pw);
    }
    if let Some(db) = p.database.as_deref() {
        cfg.dbname(db);
    }
    let tls = tls::client_config(p).map_err(|m| ProbeError::new(ErrorClass::Tls, m))?;
    let (client, driver) = match tls {
        None => {
            cfg.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.map_err(|e| classify_pg(&e))?;
            (
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        }
        Some(config) => {
            cfg.ssl_mode(if p.ssl == SslMode::Prefer {
                tokio_postgres::config::SslMode::Prefer
            } else {
                tokio_postgres::config::SslMode::Require
            });
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new(config);
            let (client, conn) = cfg.connect(connector).await.map_err(|e| classify_pg(&e))?;
            (
                client,
                tokio::spawn(async move {
                    let _ = conn.await;
                }),
            )
        }
    };
    Ok(ProbeSession::Postgres { client, driver })
}

fn mysql_opts(p: &ConnectParams, tls: bool) -> Result<mysql_async::Opts, ProbeError> {
    let mut b = mysql_async::OptsBuilder::default()
        // Shown in performance_schema.session_connect_attrs, as application_name is in pg_stat_activity.
        .connect_attribute("program_name", MONITOR_PROGRAM_NAME)
        .ip_or_hostname(p.host.clone())
        .tcp_port(p.port)
        .user(p.user.clone())
        .pass(p.password.clone())
        .db_name(p.database.clone())
        // The default would switch a loopback connection to the Unix socket after connecting.
        .prefer_socket(false)
        .stmt_cache_size(0);
    if tls {
        let mut ssl = mysql_async::SslOpts::default();
        match p.ssl {
            SslMode::Disable => unreachable!("tls requested with ssl=disable"),
            SslMode::Prefer | SslMode::Require => ssl = ssl.with_danger_accept_invalid_certs(true),
            SslMode::VerifyFull => {
                if let Some(pem) = p.ca_pem.as_deref() {
                    tls::parse_pem_certs(pem).map_err(|m| ProbeError::new(ErrorClass::Tls, m))?;
                    ssl = ssl.with_root_certs(vec![pem.as_bytes().to_vec().into()]);
                }
                if let Some(name) = p.server_name.as_deref() {
                    ssl = ssl.with_danger_tls_hostname_override(Some(name.to_string()));
                }
            }
        }
        // IAM tokens travel as cleartext passwords, which is only acceptable inside TLS.
        b = b.ssl_opts(ssl).enable_cleartext_plugin(true);
    }
    Ok(b.into())
}

async fn connect_mysql(p: &ConnectParams) -> Result<ProbeSession, ProbeError> {
    let tls = p.ssl != SslMode::Disable;
    match mysql_async::Conn::new(mysql_opts(p, tls)?).await {
        Ok(conn) => Ok(ProbeSession::Mysql { conn }),
        // `prefer`: the server has no TLS, so use a plain connection.
        Err(mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)) if p.ssl == SslMode::Prefer => {
            let conn = mysql_async::Conn::new(mysql_opts(p, false)?).await.map_err(|e| classify_mysql(&e))?;
            Ok(ProbeSession::Mysql { conn })
        }
        Err(e) => Err(classify_mysql(&e)),
    }
}
