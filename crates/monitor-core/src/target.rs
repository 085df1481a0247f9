//! What a probe connects to: the host, the protocol, credentials and TLS settings.

use std::fmt;

/// The protocol a probe speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// A TCP connect only.
    Tcp,
    /// PostgreSQL: connect, authenticate, `SELECT 1`.
    Postgres,
    /// MySQL / MariaDB: connect, authenticate, `SELECT 1`.
    Mysql,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Tcp => "tcp",
            ProbeKind::Postgres => "postgres",
            ProbeKind::Mysql => "mysql",
        }
    }
}

/// TLS policy, named like libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP.
    #[default]
    Disable,
    /// TLS when the server offers it, without certificate checks; plain otherwise.
    Prefer,
    /// TLS required, certificate not checked (libpq's `require` without a root certificate).
    Require,
    /// TLS required, certificate chain and host name checked.
    VerifyFull,
}

/// Identifies a host to probe; the connection parameters are resolved from it (possibly by asking JS).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetAddress {
    pub kind: ProbeKind,
    pub host: String,
    pub port: u16,
}

impl fmt::Display for TargetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}:{}", self.kind.as_str(), self.host, self.port)
    }
}

/// Everything needed to open a probe connection. `Debug` never shows the password.
#[derive(Clone, Default)]
pub struct ConnectParams {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: Option<String>,
    pub ssl: SslMode,
    /// Extra trusted roots (PEM), e.g. the RDS CA bundle; used with `verify-full`.
    pub ca_pem: Option<String>,
    /// Name to verify the certificate against and send as SNI, when it differs from `host`.
    pub server_name: Option<String>,
}

impl fmt::Debug for ConnectParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("database", &self.database)
            .field("ssl", &self.ssl)
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl ConnectParams {
    /// Removes the password (and nothing else) from a message that may echo connection details.
    pub fn scrub(&self, message: String) -> String {
        match self.password.as_deref() {
            Some(pw) if !pw.is_empty() && message.contains(pw) => message.replace(pw, "***"),
            _ => message,
        }
    }
}

/// A probe target: its kind plus resolved connection parameters.
#[derive(Clone, Debug)]
pub struct ProbeTarget {
    pub kind: ProbeKind,
    pub params: ConnectParams,
}

impl ProbeTarget {
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        ProbeTarget { kind: ProbeKind::Tcp, params: ConnectParams { host: host.into(), port, ..Default::default() } }
    }

    pub fn address(&self) -> TargetAddress {
        TargetAddress { kind: self.kind, host: self.params.host.clone(), port: self.params.port }
    }
}
