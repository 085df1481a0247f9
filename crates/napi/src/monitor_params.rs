//! The connection-parameters callback shared by the topology, blue/green and Limitless router monitors: each
//! monitor is given its own callback, asked before each connection it opens.

use std::sync::Arc;

use monitor_core::topology::TopologyParams;
use monitor_core::{BoxFuture, ErrorClass, ProbeError, ProbeTarget};
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Error, Status};
use napi_derive::napi;

use crate::{merge_params, NativeParams, ProbeKind};

/// What a monitor's parameters callback is asked before each connection.
#[napi(object)]
pub struct NativeMonitorParamsRequest {
    pub kind: ProbeKind,
    pub host: String,
    pub port: u32,
    /// The last login to this host was refused: fetch new credentials rather than cached ones.
    pub refresh: bool,
}

/// Answers a monitor's requests for connection parameters. Weak, as the other providers: a callback never
/// keeps the process alive.
#[napi]
pub type MonitorParamsCallback =
    ThreadsafeFunction<NativeMonitorParamsRequest, Promise<NativeParams>, NativeMonitorParamsRequest, Status, false, true>;

/// Asks JS for a monitor's connection parameters; the monitor's connect timeout bounds the wait.
pub(crate) struct JsMonitorParams {
    callback: Arc<MonitorParamsCallback>,
}

impl JsMonitorParams {
    pub(crate) fn new(callback: MonitorParamsCallback) -> Self {
        Self { callback: Arc::new(callback) }
    }
}

impl TopologyParams for JsMonitorParams {
    fn resolve(&self, base: &ProbeTarget, refresh: bool) -> BoxFuture<std::result::Result<ProbeTarget, ProbeError>> {
        let request = NativeMonitorParamsRequest {
            kind: base.kind.into(),
            host: base.params.host.clone(),
            port: u32::from(base.params.port),
            refresh,
        };
        let callback = Arc::clone(&self.callback);
        let base = base.clone();
        Box::pin(async move {
            let failed = |e: Error| ProbeError::new(ErrorClass::Other, format!("connection parameters provider failed: {}", e.reason));
            let promise = callback.call_async_catch(request).await.map_err(failed)?;
            let answer = promise.await.map_err(failed)?;
            merge_params(base, answer)
        })
    }
}
