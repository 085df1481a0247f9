//! Native monitoring core of aws-advanced-ts-wrapper, free of N-API types so it is tested with `cargo test`.
//!
//! - [`runtime::NativeRuntime`]: the addon's own tokio runtime (lazy start, bounded shutdown that joins threads).
//! - [`probe`]: deadline-bounded TCP / PostgreSQL / MySQL probes with classified, password-free errors.
//! - [`monitor`]: periodic probe monitors reporting through a [`monitor::MonitorSink`], with connection
//!   parameters asked from a [`monitor::ParamsSource`], which can abort registered sockets when their host fails.
//! - [`efm`]: enhanced failure monitoring — per-host monitors that abort the calls of registered connections when
//!   their host stops answering.
//! - [`limitless`]: Aurora Limitless router monitors — the shard group's transaction routers and their load.
//! - [`sockets::shutdown_socket`]: abort a connection by fd from native code.

pub mod blue_green;
pub mod efm;
pub mod limitless;
pub mod monitor;
pub mod probe;
pub mod registry;
pub mod runtime;
pub mod sockets;
pub mod target;
pub mod tls;
pub mod topology;

pub use monitor::{
    probe_with_params, BoxFuture, GivenParams, MonitorEvent, MonitorRegistry, MonitorSink, MonitorSpec, ParamsPurpose, ParamsSource,
};
pub use probe::{probe, ErrorClass, ProbeError, ProbeOutcome, ProbeSession};
pub use runtime::{NativeRuntime, RuntimeContext};
pub use target::{ConnectParams, ProbeKind, ProbeTarget, SslMode, TargetAddress};
